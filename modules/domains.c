/* SPDX-License-Identifier: Apache-2.0 */
/* The domains module: checks the instance's public names in the top-level `domains` key and logs
 * the list that the hostname, etc_hosts, tls and webserver modules read through domains.h.
 * cloud-init has no such key, so the rules are kiln's own. */

#include <assert.h>
#include <idn2.h>
#include <string.h>

#include "domains.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "report.h"

#define WILDCARD_PREFIX "*."

bool domain_is_wildcard(const char *name) {
        return strneq(name, WILDCARD_PREFIX, strlen(WILDCARD_PREFIX));
}

char *domain_escape_for_message(const char *s) {
        static const char hex[] = "0123456789abcdef";
        char *escaped, *p;

        /* "\xNN" is the longest escape. */
        escaped = malloc(strlen(s) * 4 + 1);
        if (!escaped)
                return NULL;

        p = escaped;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c == '\\' || *c < 0x20 || *c == 0x7f) {
                        *p++ = '\\';
                        if (*c == '\\') {
                                *p++ = '\\';
                                continue;
                        }
                        *p++ = 'x';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 0xf];
                } else
                        *p++ = (char) *c;
        }
        *p = '\0';
        return escaped;
}

static bool char_is_label(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Check one lowercase ASCII label (RFC 1123). Returns 0, or -EINVAL with the reason. */
static int label_check(const char *label, size_t len, char *reason, size_t size) {
        size_t bad = 0;

        if (len == 0) {
                (void) snprintf(reason, size, "it has an empty label");
                return -EINVAL;
        }
        while (bad < len && char_is_label(label[bad]))
                bad++;
        if (bad < len) {
                char c[2] = { label[bad], '\0' };
                _cleanup_free_ char *shown = domain_escape_for_message(c);

                (void) snprintf(reason, size, "it contains the character '%s'", shown ?: "?");
                return -EINVAL;
        }
        if (len > DOMAIN_LABEL_LENGTH_MAX) {
                (void) snprintf(reason, size, "the label '%.*s' has %zu characters, more than %u", (int) len,
                                label, len, DOMAIN_LABEL_LENGTH_MAX);
                return -EINVAL;
        }
        if (label[0] == '-' || label[len - 1] == '-') {
                (void) snprintf(reason, size, "the label '%.*s' %s with '-'", (int) len, label,
                                label[0] == '-' ? "starts" : "ends");
                return -EINVAL;
        }
        return 0;
}

/* Check a lowercase ASCII name: labels separated by dots, at least two, and the total length. */
static int ascii_name_check(const char *s, char *reason, size_t size) {
        size_t n = strlen(s);

        if (n > DOMAIN_LENGTH_MAX) {
                (void) snprintf(reason, size, "it has %zu characters, more than %u", n, DOMAIN_LENGTH_MAX);
                return -EINVAL;
        }
        if (!strchr(s, '.')) {
                (void) snprintf(reason, size, "it has a single label, and a public name needs a dot");
                return -EINVAL;
        }
        for (const char *label = s;; label++) {
                size_t len = strcspn(label, ".");
                int r;

                r = label_check(label, len, reason, size);
                if (r < 0)
                        return r;
                label += len;
                if (*label == '\0')
                        return 0;
        }
}

static bool string_is_ascii(const char *s) {
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c >= 0x80)
                        return false;
        return true;
}

/* Convert one name without a wildcard label to lowercase ASCII. */
static int name_to_ascii(const char *name, char **ret, char *reason, size_t size) {
        char *ascii = NULL;
        int rc;

        if (string_is_ascii(name)) {
                ascii = strdup(name);
                if (!ascii)
                        return -ENOMEM;
                for (char *p = ascii; *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char) (*p - 'A' + 'a');
                *ret = ascii;
                return 0;
        }

        /* The non-transitional UTS #46 mapping folds case and keeps 'ß' and 'ς' as IDNA2008 does. */
        rc = idn2_to_ascii_8z(name, &ascii, IDN2_NONTRANSITIONAL);
        if (rc == IDN2_MALLOC)
                return -ENOMEM;
        if (rc != IDN2_OK) {
                (void) snprintf(reason, size, "it is not a valid internationalized name (%s)", idn2_strerror(rc));
                return -EINVAL;
        }
        *ret = ascii;
        return 0;
}

int domain_normalize(const char *name, bool allow_wildcard, char **ret, char *reason, size_t size) {
        _cleanup_free_ char *copy = NULL, *ascii = NULL, *result = NULL;
        const char *rest;
        bool wildcard;
        size_t n;
        int r;

        assert(name);
        assert(ret);

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        n = strlen(copy);
        if (n > 0 && copy[n - 1] == '.')
                copy[--n] = '\0';
        if (n == 0) {
                (void) snprintf(reason, size, "it is empty");
                return -EINVAL;
        }
        /* Refuse overlong input before any conversion works on it. */
        if (n > DOMAIN_LENGTH_MAX * 4) {
                (void) snprintf(reason, size, "it has %zu bytes", n);
                return -EINVAL;
        }

        wildcard = domain_is_wildcard(copy);
        if (wildcard && !allow_wildcard) {
                (void) snprintf(reason, size, "wildcards are not allowed here");
                return -EINVAL;
        }
        rest = wildcard ? copy + strlen(WILDCARD_PREFIX) : copy;
        if (strchr(rest, '*')) {
                (void) snprintf(reason, size, "a wildcard '*' may only be the whole first label");
                return -EINVAL;
        }

        r = name_to_ascii(rest, &ascii, reason, size);
        if (r < 0)
                return r;
        if (asprintf(&result, "%s%s", wildcard ? WILDCARD_PREFIX : "", ascii) < 0) {
                result = NULL;
                return -ENOMEM;
        }

        r = ascii_name_check(result + (wildcard ? strlen(WILDCARD_PREFIX) : 0), reason, size);
        if (r < 0)
                return r;
        if (strlen(result) > DOMAIN_LENGTH_MAX) {
                (void) snprintf(reason, size, "it has %zu characters, more than %u", strlen(result),
                                DOMAIN_LENGTH_MAX);
                return -EINVAL;
        }

        *ret = TAKE_PTR(result);
        return 0;
}

bool domain_matches(const char *pattern, const char *name) {
        const char *dot;

        if (streq(pattern, name))
                return true;
        if (!domain_is_wildcard(pattern) || domain_is_wildcard(name))
                return false;
        /* "*.example.com" covers exactly one label in front of "example.com". */
        dot = strchr(name, '.');
        return dot && dot > name && streq(dot + 1, pattern + strlen(WILDCARD_PREFIX));
}

static bool strv_contains(char *const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

/* Append a normalized name unless it is already there. Returns 1 when added, 0 for a duplicate. */
static int names_add(char ***names, size_t *n, char *name) {
        char **l;

        if (strv_contains(*names, name)) {
                free(name);
                return 0;
        }
        l = realloc(*names, (*n + 2) * sizeof(char *));
        if (!l) {
                free(name);
                return -ENOMEM;
        }
        l[(*n)++] = name;
        l[*n] = NULL;
        *names = l;
        return 1;
}

/* The names that stand in for an absent `domains` key: fqdn, or a hostname that contains a dot. */
static const char *domains_fallback(const json_t *config) {
        const json_t *v = json_object_get(config, "fqdn");

        if (json_is_string(v) && json_string_length(v) > 0)
                return json_string_value(v);
        v = json_object_get(config, "hostname");
        if (json_is_string(v) && strchr(json_string_value(v), '.'))
                return json_string_value(v);
        return NULL;
}

/* Walk the names of the config. report, when not NULL, is called for each entry that is left out
 * with its index and the reason, or a NULL reason for a duplicate. */
typedef void (*DomainsReportFn)(size_t index, const char *entry, const char *reason, void *userdata);

static int domains_collect(const json_t *config, DomainsReportFn report, void *userdata, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        const json_t *list = json_object_get(config, "domains");
        const char *fallback;
        size_t n = 0, index;
        const json_t *v;
        int r;

        if (!list || json_is_null(list)) {
                _cleanup_free_ char *name = NULL;
                char reason[DOMAIN_REASON_MAX];

                fallback = domains_fallback(config);
                if (!fallback || domain_normalize(fallback, false, &name, reason, sizeof(reason)) < 0) {
                        *ret = NULL;
                        return 0;
                }
                r = names_add(&names, &n, TAKE_PTR(name));
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(names);
                return (int) n;
        }

        json_array_foreach(list, index, v) {
                _cleanup_free_ char *name = NULL;
                char reason[DOMAIN_REASON_MAX] = "";

                if (index >= DOMAINS_MAX) {
                        if (report)
                                report(index, NULL, "the list has more entries than the limit", userdata);
                        break;
                }
                if (!json_is_string(v)) {
                        if (report)
                                report(index, NULL, "it is not a string", userdata);
                        continue;
                }
                r = domain_normalize(json_string_value(v), true, &name, reason, sizeof(reason));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (report)
                                report(index, json_string_value(v), reason, userdata);
                        continue;
                }
                r = names_add(&names, &n, TAKE_PTR(name));
                if (r < 0)
                        return r;
                if (r == 0 && report)
                        report(index, json_string_value(v), NULL, userdata);
        }

        *ret = TAKE_PTR(names);
        return (int) n;
}

int domains_get(Context *ctx, const json_t *config, char ***ret) {
        (void) ctx;
        return domains_collect(config, /* report= */ NULL, /* userdata= */ NULL, ret);
}

int domains_primary(Context *ctx, const json_t *config, char **ret) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = domains_get(ctx, config, &names);
        if (r < 0)
                return r;
        for (size_t i = 0; names && names[i]; i++)
                if (!domain_is_wildcard(names[i])) {
                        *ret = strdup(names[i]);
                        return *ret ? 1 : -ENOMEM;
                }
        return 0;
}

static void domains_report(size_t index, const char *entry, const char *reason, void *userdata) {
        Context *ctx = userdata;
        _cleanup_free_ char *shown = entry ? domain_escape_for_message(entry) : NULL;

        if (!reason)
                report_warning(ctx, (int) index, "domains[%zu]: '%s' repeats an earlier name, ignoring.", index,
                               shown ?: "?");
        else if (entry)
                report_error(ctx, (int) index, 0, "domains[%zu]: invalid name '%s': %s.", index, shown ?: "?",
                             reason);
        else
                report_error(ctx, (int) index, 0, "domains[%zu]: %s.", index, reason);
}

static int domains_run(Context *ctx, const json_t *config) {
        _cleanup_strv_free_ char **names = NULL;
        const json_t *list = json_object_get(config, "domains");
        int r, errors_before = (int) json_array_size(ctx->errors);

        if (list && !json_is_null(list) && !json_is_array(list))
                return report_error(ctx, -1, 0, "domains: expected a list of names, got a %s.",
                                    json_is_string(list) ? "string; write it as a list of one" : "non-list value");

        r = domains_collect(config, domains_report, ctx, &names);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the domains: %m");

        for (size_t i = 0; names && names[i]; i++)
                log_info("Public name %zu: '%s'.", i, names[i]);
        if (!names)
                log_info("No valid public name is set.");

        if ((int) json_array_size(ctx->errors) > errors_before)
                return -EINVAL;
        return 0;
}

static const char *const domains_config_keys[] = { "domains", NULL };

int domain_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *name = NULL, *shown = NULL;
        char reason[DOMAIN_REASON_MAX] = "";
        int r;

        (void) source_text;
        if (!json_is_string(v))
                return 0;
        r = domain_normalize(json_string_value(v), true, &name, reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r >= 0)
                return 0;
        shown = domain_escape_for_message(json_string_value(v));
        if (!shown)
                return -ENOMEM;
        (void) snprintf(message, size, "is an invalid name '%s': %s.", shown, reason);
        return -EINVAL;
}

static const KeyShape domain_item_shape = { .types = SHAPE_STRING, .check = domain_shape_check };

static const KeyField domains_fields[] = {
        { .name = "domains", .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &domain_item_shape },
          .description = KEY_DESCRIPTION("The instance's public names, the first being the primary "
                                         "name. Each needs a dot and RFC 1123 labels; internationalized "
                                         "names are converted to punycode, case is folded, a trailing "
                                         "dot is dropped, and '*' is allowed only as the whole first "
                                         "label. The names become the web sites' server names and the "
                                         "certificates' default names, and when hostname and fqdn are "
                                         "both unset the first name that is not a wildcard becomes the "
                                         "fqdn (kiln's own rule; cloud-init has no such key). When "
                                         "absent, fqdn (or a hostname with a dot) is the one name.") },
        {}
};

const AgentModule module_domains = {
        .name = "domains",
        .config_keys = domains_config_keys,
        .config_fields = domains_fields,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = domains_run,
};
