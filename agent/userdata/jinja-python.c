/* SPDX-License-Identifier: Apache-2.0 */
/* Python's str(), repr(), type names, equality and ordering of JSON values, as Jinja prints and
 * compares them. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Python's str() and repr() of values ---- */

/* Python prints these code points as escapes in repr(): controls, separators, format characters,
 * surrogates and private use.
 * NOTE: unassigned code points print as they are here; Python escapes them too. */
static bool python_printable(uint32_t c) {
        static const struct {
                uint32_t first, last;
        } escaped[] = {
                { 0x0000, 0x001f }, { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 },
                { 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x1680, 0x1680 },
                { 0x180e, 0x180e }, { 0x2000, 0x200f }, { 0x2028, 0x202f }, { 0x205f, 0x206f },
                { 0x3000, 0x3000 }, { 0xd800, 0xf8ff }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
                { 0xe0000, 0xe0fff }, { 0xf0000, 0x10ffff },
        };

        for (size_t i = 0; i < ELEMENTSOF(escaped); i++)
                if (c >= escaped[i].first && c <= escaped[i].last)
                        return false;
        return true;
}

static int python_repr_string(const char *s, size_t n, Buffer *b) {
        char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
        int r;

        r = jinja_buffer_append(b, &quote, 1);
        for (size_t i = 0; r >= 0 && i < n;) {
                uint32_t c = (unsigned char) s[i];
                size_t len = jinja_utf8_decode(s + i, n - i, &c) ?: 1;

                if (c == '\\' || c == (uint32_t) quote)
                        r = jinja_buffer_printf(b, "\\%c", (char) c);
                else if (c == '\t')
                        r = jinja_buffer_puts(b, "\\t");
                else if (c == '\n')
                        r = jinja_buffer_puts(b, "\\n");
                else if (c == '\r')
                        r = jinja_buffer_puts(b, "\\r");
                else if (python_printable(c))
                        r = jinja_buffer_append(b, s + i, len);
                else if (c < 0x100)
                        r = jinja_buffer_printf(b, "\\x%02" PRIx32, c);
                else if (c < 0x10000)
                        r = jinja_buffer_printf(b, "\\u%04" PRIx32, c);
                else
                        r = jinja_buffer_printf(b, "\\U%08" PRIx32, c);
                i += len;
        }
        if (r < 0)
                return r;
        return jinja_buffer_append(b, &quote, 1);
}

/* repr() of a float: the shortest digits that read back as the same double, in fixed notation
 * for decimal exponents from -4 to 15 and in scientific notation otherwise. */
static int python_repr_float(double d, Buffer *b) {
        char text[40], digits[24];
        size_t n = 0;
        int exponent, decimal_point, r;
        char *e;

        if (isnan(d))
                return jinja_buffer_puts(b, "nan");
        if (isinf(d))
                return jinja_buffer_puts(b, d < 0 ? "-inf" : "inf");
        for (int precision = 1; precision <= 17; precision++) {
                (void) snprintf(text, sizeof(text), "%.*e", precision - 1, d);
                if (strtod(text, NULL) == d)
                        break;
        }
        for (const char *p = text; *p && *p != 'e'; p++)
                if (isdigit((unsigned char) *p))
                        digits[n++] = *p;
        digits[n] = '\0';
        e = strchr(text, 'e');
        exponent = (int) strtol(e + 1, NULL, 10);
        decimal_point = exponent + 1;

        if (text[0] == '-' && (r = jinja_buffer_puts(b, "-")) < 0)
                return r;
        if (decimal_point <= -4 || decimal_point > 16) {
                r = jinja_buffer_append(b, digits, 1);
                if (r >= 0 && n > 1)
                        r = jinja_buffer_printf(b, ".%s", digits + 1);
                if (r >= 0)
                        r = jinja_buffer_printf(b, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
                return r;
        }
        if (decimal_point <= 0) {
                r = jinja_buffer_puts(b, "0.");
                for (int i = 0; r >= 0 && i < -decimal_point; i++)
                        r = jinja_buffer_puts(b, "0");
                return r < 0 ? r : jinja_buffer_puts(b, digits);
        }
        if ((size_t) decimal_point >= n) {
                r = jinja_buffer_puts(b, digits);
                for (size_t i = n; r >= 0 && i < (size_t) decimal_point; i++)
                        r = jinja_buffer_puts(b, "0");
                return r < 0 ? r : jinja_buffer_puts(b, ".0");
        }
        r = jinja_buffer_append(b, digits, decimal_point);
        return r < 0 ? r : jinja_buffer_printf(b, ".%s", digits + decimal_point);
}

static int python_repr_container(const json_t *v, Buffer *b, unsigned depth) {
        const char *key;
        json_t *item;
        size_t i;
        int r;

        if (json_is_array(v)) {
                r = jinja_buffer_puts(b, "[");
                json_array_foreach(v, i, item) {
                        if (r >= 0 && i > 0)
                                r = jinja_buffer_puts(b, ", ");
                        if (r >= 0)
                                r = jinja_python_repr(item, b, depth + 1);
                }
                return r < 0 ? r : jinja_buffer_puts(b, "]");
        }

        r = jinja_buffer_puts(b, "{");
        i = 0;
        json_object_foreach((json_t *) v, key, item) {
                if (r >= 0 && i++ > 0)
                        r = jinja_buffer_puts(b, ", ");
                if (r >= 0)
                        r = python_repr_string(key, strlen(key), b);
                if (r >= 0)
                        r = jinja_buffer_puts(b, ": ");
                if (r >= 0)
                        r = jinja_python_repr(item, b, depth + 1);
        }
        return r < 0 ? r : jinja_buffer_puts(b, "}");
}

int jinja_python_repr(const json_t *v, Buffer *b, unsigned depth) {
        if (depth > JINJA_VALUE_DEPTH_MAX)
                return -ELOOP;

        switch (json_typeof(v)) {
        case JSON_NULL:
                return jinja_buffer_puts(b, "None");
        case JSON_TRUE:
                return jinja_buffer_puts(b, "True");
        case JSON_FALSE:
                return jinja_buffer_puts(b, "False");
        case JSON_INTEGER:
                return jinja_buffer_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL:
                return python_repr_float(json_real_value(v), b);
        case JSON_STRING:
                return python_repr_string(json_string_value(v), json_string_length(v), b);
        case JSON_ARRAY:
        case JSON_OBJECT:
                return python_repr_container(v, b, depth);
        }
        return -EINVAL;
}

/* str(): a string as it is, anything else as repr() prints it. */
int jinja_python_str(const json_t *v, Buffer *b) {
        if (json_is_string(v))
                return jinja_buffer_append(b, json_string_value(v), json_string_length(v));
        return jinja_python_repr(v, b, 0);
}

const char *jinja_python_type(const Value *v) {
        if (!v->json)
                return "Undefined";
        switch (json_typeof(v->json)) {
        case JSON_NULL:
                return "NoneType";
        case JSON_TRUE:
        case JSON_FALSE:
                return "bool";
        case JSON_INTEGER:
                return "int";
        case JSON_REAL:
                return "float";
        case JSON_STRING:
                return "str";
        case JSON_ARRAY:
                return "list";
        case JSON_OBJECT:
                return "dict";
        }
        return "object";
}

/* Python treats bool as a number: True == 1. */
bool jinja_json_is_python_number(const json_t *j) {
        return json_is_number(j) || json_is_boolean(j);
}

static int python_number_compare(const json_t *a, const json_t *b) {
        if (!json_is_real(a) && !json_is_real(b)) {
                json_int_t x = json_is_boolean(a) ? json_is_true(a) : json_integer_value(a);
                json_int_t y = json_is_boolean(b) ? json_is_true(b) : json_integer_value(b);

                return (x > y) - (x < y);
        }
        {
                double x = json_is_boolean(a) ? json_is_true(a) : json_number_value(a);
                double y = json_is_boolean(b) ? json_is_true(b) : json_number_value(b);

                return (x > y) - (x < y);
        }
}

bool jinja_python_equal(const json_t *a, const json_t *b, unsigned depth) {
        const char *key;
        json_t *item;
        size_t i;

        if (jinja_json_is_python_number(a) && jinja_json_is_python_number(b))
                return python_number_compare(a, b) == 0;
        if (json_typeof(a) != json_typeof(b) || depth > JINJA_VALUE_DEPTH_MAX)
                return false;
        switch (json_typeof(a)) {
        case JSON_STRING:
                return json_string_length(a) == json_string_length(b) &&
                        memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
        case JSON_ARRAY:
                if (json_array_size(a) != json_array_size(b))
                        return false;
                json_array_foreach(a, i, item)
                        if (!jinja_python_equal(item, json_array_get(b, i), depth + 1))
                                return false;
                return true;
        case JSON_OBJECT:
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach((json_t *) a, key, item) {
                        json_t *other = json_object_get(b, key);
                        if (!other || !jinja_python_equal(item, other, depth + 1))
                                return false;
                }
                return true;
        case JSON_NULL:
                return true;
        case JSON_TRUE:
        case JSON_FALSE:
        case JSON_INTEGER:
        case JSON_REAL:
                break;
        }
        return false;
}

/* Jinja's Undefined equals only another Undefined. */
bool jinja_value_equal(const Value *a, const Value *b) {
        if (!a->json || !b->json)
                return !a->json && !b->json;
        return jinja_python_equal(a->json, b->json, 0);
}

/* Python's ordering of a and b into *ret (<0, 0, >0); -EINVAL where Python raises TypeError. */
int jinja_python_order(const json_t *a, const json_t *b, unsigned depth, int *ret) {
        if (jinja_json_is_python_number(a) && jinja_json_is_python_number(b)) {
                *ret = python_number_compare(a, b);
                return 0;
        }
        if (json_is_string(a) && json_is_string(b)) {
                size_t n = MIN(json_string_length(a), json_string_length(b));
                int c = memcmp(json_string_value(a), json_string_value(b), n);

                *ret = c != 0 ? c : (json_string_length(a) > n) - (json_string_length(b) > n);
                return 0;
        }
        if (json_is_array(a) && json_is_array(b) && depth <= JINJA_VALUE_DEPTH_MAX) {
                size_t n = MIN(json_array_size(a), json_array_size(b));

                for (size_t i = 0; i < n; i++)
                        if (!jinja_python_equal(json_array_get(a, i), json_array_get(b, i), depth + 1))
                                return jinja_python_order(json_array_get(a, i), json_array_get(b, i),
                                                          depth + 1, ret);
                *ret = (json_array_size(a) > n) - (json_array_size(b) > n);
                return 0;
        }
        return -EINVAL;
}
