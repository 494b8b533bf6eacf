/* SPDX-License-Identifier: Apache-2.0 */
/* Scalars of YAML 1.1, typed by the rules of PyYAML's SafeLoader, the loader cloud-init uses.
 *
 * Implicit types of untagged plain scalars, from PyYAML 6.0's resolver.py; the first match wins:
 *   bool   yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
 *   float  [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?   \.[0-9][0-9_]*([eE][-+][0-9]+)?
 *          [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*     [-+]?\.(inf|Inf|INF)   \.(nan|NaN|NAN)
 *   int    [-+]?0b[01_]+   [-+]?0[0-7_]+   [-+]?(0|[1-9][0-9_]*)   [-+]?0x[0-9a-fA-F_]+
 *          [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
 *   merge  <<   (as a mapping key; elsewhere it is the string "<<")
 *   null   ~|null|Null|NULL and the empty scalar
 * Everything else, timestamps included, is a string. Values follow constructor.py: underscores
 * are dropped, a leading 0 means octal, 0b binary, 0x hex, and a:b:c is base 60. */

#include <assert.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/macro.h"
#include "lib/yaml-scalar.h"

/* The order is PyYAML's resolver order. Python's $ also matches before a final newline, which a
 * plain scalar never has, so POSIX $ is equivalent here. */
static const char *const implicit_patterns[_SCALAR_TYPE_MAX] = {
        [SCALAR_BOOL] = "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        [SCALAR_FLOAT] = "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?"
                         "|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
                         "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
                         "|[-+]?\\.(inf|Inf|INF)"
                         "|\\.(nan|NaN|NAN))$",
        [SCALAR_INT] = "^([-+]?0b[01_]+"
                       "|[-+]?0[0-7_]+"
                       "|[-+]?(0|[1-9][0-9_]*)"
                       "|[-+]?0x[0-9a-fA-F_]+"
                       "|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
        [SCALAR_MERGE] = "^<<$",
        [SCALAR_NULL] = "^(~|null|Null|NULL)$",
};

/* The characters that each pattern above accepts first. A scalar that starts with none of them
 * skips regexec(), which is what makes keys and plain words cheap. */
static const char *const implicit_first_characters[_SCALAR_TYPE_MAX] = {
        [SCALAR_BOOL] = "yYnNtTfFoO",
        [SCALAR_FLOAT] = "-+0123456789.",
        [SCALAR_INT] = "-+0123456789",
        [SCALAR_MERGE] = "<",
        [SCALAR_NULL] = "~nN",
};

/* Tables built on first use and kept for the life of the process, because compiling the patterns
 * takes longer than parsing a small document. */
typedef struct ScalarTables {
        regex_t patterns[_SCALAR_TYPE_MAX];
        locale_t c_locale;
        int error;              /* 0, or -ENOMEM when building them failed */
} ScalarTables;

static ScalarTables tables;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void tables_build(void) {
        tables.c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
        if (!tables.c_locale) {
                tables.error = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < _SCALAR_TYPE_MAX; i++)
                if (regcomp(&tables.patterns[i], implicit_patterns[i], REG_EXTENDED | REG_NOSUB) != 0) {
                        tables.error = -ENOMEM;
                        return;
                }
}

int yaml_scalar_init(void) {
        int r;

        r = pthread_once(&tables_once, tables_build);
        if (r != 0)
                return -r;
        return tables.error;
}

static bool pattern_matches(ScalarType type, const char *value) {
        assert(tables.c_locale);
        assert(tables.error == 0);
        if (value[0] == '\0' || !strchr(implicit_first_characters[type], value[0]))
                return false;
        return regexec(&tables.patterns[type], value, 0, NULL, 0) == 0;
}

ScalarType yaml_scalar_resolve(const char *value) {
        if (value[0] == '\0')
                return SCALAR_NULL;
        for (size_t i = 0; i < _SCALAR_TYPE_MAX; i++)
                if (pattern_matches((ScalarType) i, value))
                        return (ScalarType) i;
        return SCALAR_STR;
}

_printf_(4, 5)
static int scalar_fail(YamlError *reterr, int error, yaml_mark_t mark, const char *format, ...) {
        va_list ap;

        reterr->line = (unsigned) mark.line + 1;
        reterr->column = (unsigned) mark.column + 1;
        va_start(ap, format);
        (void) vsnprintf(reterr->message, sizeof(reterr->message), format, ap);
        va_end(ap);
        return error;
}

/* Append a warning in the form that yaml_parse_json() returns. */
static int scalar_warn(json_t *warnings, yaml_mark_t mark, const char *message) {
        if (json_array_append_new(warnings, json_pack("{s:I, s:I, s:s}", "line", (json_int_t) mark.line + 1,
                                                       "column", (json_int_t) mark.column + 1,
                                                       "message", message)) < 0)
                return -ENOMEM;
        return 0;
}

/* A copy of text without underscores, as PyYAML reads numbers. */
static char *strdup_without_underscores(const char *text) {
        char *copy = malloc(strlen(text) + 1), *q = copy;

        if (!copy)
                return NULL;
        for (const char *p = text; *p; p++)
                if (*p != '_')
                        *q++ = *p;
        *q = '\0';
        return copy;
}

static int digits_to_uint64(const char *digits, size_t n, unsigned base, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = digits[i];
                unsigned d;

                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        d = c - 'A' + 10;
                else
                        return -EINVAL;
                if (d >= base)
                        return -EINVAL;
                if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

/* The value of an int-shaped scalar, as constructor.py computes it. -ERANGE outside int64. */
static int scalar_to_int64(const char *text, int64_t *ret) {
        _cleanup_free_ char *copy = NULL;
        const char *p;
        bool negative;
        uint64_t magnitude = 0;
        int r;

        copy = strdup_without_underscores(text);
        if (!copy)
                return -ENOMEM;
        p = copy;
        negative = *p == '-';
        if (*p == '-' || *p == '+')
                p++;

        if (strneq(p, "0b", 2))
                r = digits_to_uint64(p + 2, strlen(p + 2), 2, &magnitude);
        else if (strneq(p, "0x", 2))
                r = digits_to_uint64(p + 2, strlen(p + 2), 16, &magnitude);
        else if (p[0] == '0')
                r = digits_to_uint64(p, strlen(p), 8, &magnitude);
        else if (strchr(p, ':')) {
                /* Base 60: each part is decimal, the last one counts units. */
                r = 0;
                while (r >= 0) {
                        size_t n = strcspn(p, ":");
                        uint64_t part;

                        r = digits_to_uint64(p, n, 10, &part);
                        if (r < 0)
                                break;
                        if (__builtin_mul_overflow(magnitude, 60, &magnitude) ||
                            __builtin_add_overflow(magnitude, part, &magnitude))
                                r = -ERANGE;
                        if (p[n] == '\0')
                                break;
                        p += n + 1;
                }
        } else
                r = digits_to_uint64(p, strlen(p), 10, &magnitude);
        if (r < 0)
                return r;

        if (negative) {
                if (magnitude > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = magnitude == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) magnitude;
        } else {
                if (magnitude > INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) magnitude;
        }
        return 0;
}

/* The value of a float scalar, as constructor.py computes it; also used for !!float, which
 * Python's float() reads more loosely (1e3, inf). Not locale dependent. */
static int scalar_to_double(const char *text, double *ret) {
        _cleanup_free_ char *copy = NULL;
        char *p, *end = NULL;
        double sign = 1.0, v = 0.0;

        copy = strdup_without_underscores(text);
        if (!copy)
                return -ENOMEM;
        for (char *c = copy; *c; c++)
                *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        p = copy;
        if (*p == '-')
                sign = -1.0;
        if (*p == '-' || *p == '+')
                p++;

        if (streq(p, ".inf")) {
                *ret = sign * INFINITY;
                return 0;
        }
        if (streq(p, ".nan")) {
                *ret = NAN;
                return 0;
        }
        /* strtod() would also take hexadecimal, which Python's float() does not; signs belong
         * only in front and after 'e'. */
        if (p[0] == '\0' || p[0] == '+' || p[0] == '-' || strpbrk(p, "xp ") || strpbrk(p, "\t\n"))
                return -EINVAL;

        if (strchr(p, ':')) {
                /* Base 60: each part is decimal, the last one counts units. */
                for (;;) {
                        size_t n = strcspn(p, ":");
                        bool last = p[n] == '\0';
                        double d;

                        p[n] = '\0';
                        d = strtod_l(p, &end, tables.c_locale);
                        if (end == p || *end)
                                return -EINVAL;
                        v = v * 60.0 + d;
                        if (last)
                                break;
                        p += n + 1;
                }
        } else {
                v = strtod_l(p, &end, tables.c_locale);
                if (end == p || *end)
                        return -EINVAL;
        }
        *ret = sign * v;
        return 0;
}

static bool base64_allowed(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Decode a !!binary scalar: base64, with whitespace and line breaks anywhere. */
static int binary_decode(const char *text, size_t length, json_t **ret) {
        _cleanup_free_ unsigned char *out = NULL;
        EVP_ENCODE_CTX *ctx = NULL;
        int n = 0, tail = 0, r;

        if (length > INT32_MAX)
                return -E2BIG;
        for (size_t i = 0; i < length; i++)
                if (!base64_allowed(text[i]))
                        return -EINVAL;

        out = malloc(length / 4 * 3 + 3);
        if (!out)
                return -ENOMEM;
        ctx = EVP_ENCODE_CTX_new();
        if (!ctx)
                return -ENOMEM;
        EVP_DecodeInit(ctx);
        r = EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *) text, (int) length);
        if (r >= 0)
                r = EVP_DecodeFinal(ctx, out + n, &tail);
        EVP_ENCODE_CTX_free(ctx);
        if (r < 0)
                return -EINVAL;

        *ret = json_stringn_nocheck((const char *) out, (size_t) n + (size_t) tail);
        return *ret ? 0 : -ENOMEM;
}

/* A float that JSON cannot hold (inf, nan, overflow) stays a string, with a warning. */
static int scalar_float(const yaml_event_t *event, double v, json_t *warnings, json_t **ret) {
        const char *text = (const char *) event->data.scalar.value;
        char message[sizeof(((YamlError *) NULL)->message)];
        int r;

        if (isfinite(v)) {
                *ret = json_real(v);
                return *ret ? 0 : -ENOMEM;
        }

        (void) snprintf(message, sizeof(message), "number '%s' has no JSON form, kept as a string", text);
        r = scalar_warn(warnings, event->start_mark, message);
        if (r < 0)
                return r;
        *ret = json_string(text);
        return *ret ? 0 : -ENOMEM;
}

static int scalar_int(const yaml_event_t *event, json_t **ret, YamlError *reterr) {
        const char *text = (const char *) event->data.scalar.value;
        int64_t v;
        int r;

        r = scalar_to_int64(text, &v);
        if (r == -ERANGE)
                return scalar_fail(reterr, -EINVAL, event->start_mark,
                                   "integer '%s' is out of range (-2^63 to 2^63-1)", text);
        if (r == -EINVAL)
                return scalar_fail(reterr, -EINVAL, event->start_mark, "invalid integer '%s'", text);
        if (r < 0)
                return r;
        *ret = json_integer((json_int_t) v);
        return *ret ? 0 : -ENOMEM;
}

/* The value of a scalar whose type is known. */
int yaml_scalar_typed(const yaml_event_t *event, ScalarType type, json_t *warnings, json_t **ret,
                      YamlError *reterr) {
        const char *text = (const char *) event->data.scalar.value;
        size_t length = event->data.scalar.length;
        double d;
        int r;

        /* No default case, so that the compiler flags a new type. */
        switch (type) {
        case SCALAR_BOOL:
                *ret = json_boolean(strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0 ||
                                    strcasecmp(text, "on") == 0);
                return 0;
        case SCALAR_NULL:
                *ret = json_null();
                return 0;
        case SCALAR_INT:
                return scalar_int(event, ret, reterr);
        case SCALAR_FLOAT:
                r = scalar_to_double(text, &d);
                if (r == -EINVAL)
                        return scalar_fail(reterr, -EINVAL, event->start_mark,
                                           "invalid floating-point number '%s'", text);
                if (r < 0)
                        return r;
                return scalar_float(event, d, warnings, ret);
        case SCALAR_MERGE:
        case SCALAR_STR:
                break;
        }

        *ret = json_stringn(text, length);
        if (!*ret)
                return scalar_fail(reterr, -EINVAL, event->start_mark, "invalid UTF-8 in scalar");
        return 0;
}

/* The value of a scalar with an explicit tag. */
int yaml_scalar_tagged(const yaml_event_t *event, const char *tag, json_t *warnings, json_t **ret,
                       YamlError *reterr) {
        const char *text = (const char *) event->data.scalar.value;
        int r;

        if (streq(tag, TAG_PREFIX "str") || streq(tag, TAG_PREFIX "timestamp"))
                return yaml_scalar_typed(event, SCALAR_STR, warnings, ret, reterr);
        if (streq(tag, TAG_PREFIX "null"))
                return yaml_scalar_typed(event, SCALAR_NULL, warnings, ret, reterr);
        if (streq(tag, TAG_PREFIX "bool")) {
                if (strcasecmp(text, "yes") != 0 && strcasecmp(text, "no") != 0 &&
                    strcasecmp(text, "true") != 0 && strcasecmp(text, "false") != 0 &&
                    strcasecmp(text, "on") != 0 && strcasecmp(text, "off") != 0)
                        return scalar_fail(reterr, -EINVAL, event->start_mark,
                                           "invalid !!bool value '%s'", text);
                return yaml_scalar_typed(event, SCALAR_BOOL, warnings, ret, reterr);
        }
        if (streq(tag, TAG_PREFIX "int")) {
                if (!pattern_matches(SCALAR_INT, text))
                        return scalar_fail(reterr, -EINVAL, event->start_mark,
                                           "invalid !!int value '%s'", text);
                return yaml_scalar_typed(event, SCALAR_INT, warnings, ret, reterr);
        }
        if (streq(tag, TAG_PREFIX "float"))
                return yaml_scalar_typed(event, SCALAR_FLOAT, warnings, ret, reterr);
        if (streq(tag, TAG_PREFIX "binary")) {
                r = binary_decode(text, event->data.scalar.length, ret);
                if (r == -EINVAL || r == -E2BIG)
                        return scalar_fail(reterr, -EINVAL, event->start_mark,
                                           "invalid base64 in !!binary scalar");
                return r;
        }
        return scalar_fail(reterr, -EINVAL, event->start_mark, "unsupported tag '%s' on a scalar", tag);
}