/* SPDX-License-Identifier: Apache-2.0 */
/* Checks of the values of the ntp key, shared by `kiln validate` and the run: host names,
 * allow entries, lists, paths, service names, and config.template. */

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "module.h"
#include "userdata/jinja.h"
#include "ntp-internal.h"

/* Copy of a string value for messages: JSON-escaped, so a newline shows as \n, without the quotes,
 * cut to NTP_SHOWN_VALUE_MAX bytes. Caller owns it. */
char *ntp_shown(const json_t *v) {
        _cleanup_free_ char *text = json_to_message(v, NTP_SHOWN_VALUE_MAX);
        size_t n;

        if (!text)
                return NULL;
        n = strlen(text);
        if (json_is_string(v) && n >= 2 && text[0] == '"') {
                /* A value cut short ends in "..." instead of the closing quote. */
                size_t closed = text[n - 1] == '"';

                memmove(text, text + 1, n - 1);
                text[n - 1 - closed] = '\0';
        }
        return TAKE_PTR(text);
}

/* What the character c is, for a message. */
static const char *ntp_character_name(char c) {
        if (c == ' ')
                return "a space";
        if (c == '\n' || c == '\r')
                return "a line break";
        if (c == '\t')
                return "a tab";
        if ((unsigned char) c < 0x20 || c == 0x7f)
                return "a control character";
        if (c == '#')
                return "'#', which starts a comment";
        return "a character that is not allowed";
}

static bool ntp_char_is_label(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* A host name (RFC 1123 labels separated by dots, a final dot allowed), an IPv4 address, or an
 * IPv6 address with an optional %zone. Returns 0, or -EINVAL with the reason in reason. */
static int ntp_host_check_text(const char *s, char *reason, size_t size) {
        char address[INET6_ADDRSTRLEN + 1];
        unsigned char buf[sizeof(struct in6_addr)];
        size_t n = strlen(s), zone = strcspn(s, "%");

        if (n == 0) {
                (void) snprintf(reason, size, "it is empty");
                return -EINVAL;
        }
        for (const char *p = s; *p; p++)
                if (!ntp_char_is_label(*p) && !strchr(".:%_", *p)) {
                        (void) snprintf(reason, size, "it contains %s", ntp_character_name(*p));
                        return -EINVAL;
                }
        if (inet_pton(AF_INET, s, buf) == 1)
                return 0;
        if (strchr(s, ':')) {
                if (zone < sizeof(address)) {
                        memcpy(address, s, zone);
                        address[zone] = '\0';
                        if (inet_pton(AF_INET6, address, buf) == 1 && (s[zone] == '\0' || s[zone + 1] != '\0'))
                                return 0;
                }
                (void) snprintf(reason, size, "it is not a valid IPv6 address");
                return -EINVAL;
        }

        if (n > NTP_HOST_LENGTH_MAX + (s[n - 1] == '.')) {
                (void) snprintf(reason, size, "it is longer than %u characters", NTP_HOST_LENGTH_MAX);
                return -EINVAL;
        }
        for (const char *label = s; *label; ) {
                size_t len = strcspn(label, ".");

                if (len == 0 || len > NTP_LABEL_LENGTH_MAX || label[0] == '-' || label[len - 1] == '-') {
                        (void) snprintf(reason, size, "its labels must have 1 to %u letters, digits or '-', "
                                        "neither first nor last a '-'", NTP_LABEL_LENGTH_MAX);
                        return -EINVAL;
                }
                for (size_t i = 0; i < len; i++)
                        if (!ntp_char_is_label(label[i])) {
                                (void) snprintf(reason, size, "it contains '%c'", label[i]);
                                return -EINVAL;
                        }
                label += len;
                if (*label == '.')
                        label++;
        }
        return 0;
}

/* An allow entry as chrony reads it: "all", or a host name or address, optionally followed by
 * "/BITS", where a partial IPv4 address such as "192.168" is a host name by these rules. */
static int ntp_allow_check_text(const char *s, char *reason, size_t size) {
        _cleanup_free_ char *host = NULL;
        const char *slash = strchr(s, '/');
        unsigned bits;
        int r;

        if (streq(s, "all"))
                return 0;
        host = strndup(s, slash ? (size_t) (slash - s) : strlen(s));
        if (!host)
                return -ENOMEM;
        r = ntp_host_check_text(host, reason, size);
        if (r < 0 || !slash)
                return r;
        if (safe_atou(slash + 1, &bits) < 0 || bits > (strchr(host, ':') ? 128U : 32U)) {
                (void) snprintf(reason, size, "its prefix length '%s' is not a number of bits", slash + 1);
                return -EINVAL;
        }
        return 0;
}

static int ntp_entry_check(const json_t *v, char *message, size_t size,
                           int (*check)(const char *s, char *reason, size_t size), const char *what) {
        _cleanup_free_ char *shown = NULL;
        char reason[256] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = strlen(json_string_value(v)) == json_string_length(v) ? check(json_string_value(v), reason, sizeof(reason))
                                                                   : -EINVAL;
        if (r >= 0 || r == -ENOMEM)
                return r;
        if (reason[0] == '\0')
                (void) snprintf(reason, sizeof(reason), "it contains a NUL byte");
        shown = ntp_shown(v);
        if (!shown)
                return -ENOMEM;
        (void) snprintf(message, size, "is '%s', which is not %s: %s. Write one entry per list item, without "
                        "options.", shown, what, reason);
        return -EINVAL;
}

int ntp_host_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return ntp_entry_check(v, message, size, ntp_host_check_text, "a host name or address");
}

int ntp_allow_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return ntp_entry_check(v, message, size, ntp_allow_check_text, "an address, network or 'all'");
}

/* A list of at most NTP_LIST_MAX entries; a repeated entry is dropped with a warning. */
int ntp_list_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_array(v))
                return 0;
        if (json_array_size(v) > NTP_LIST_MAX) {
                (void) snprintf(message, size, "has %zu entries, more than the %u that kiln accepts.",
                                json_array_size(v), NTP_LIST_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < json_array_size(v); i++)
                for (size_t j = 0; j < i; j++)
                        if (json_equal(json_array_get(v, i), json_array_get(v, j))) {
                                _cleanup_free_ char *shown = ntp_shown(json_array_get(v, i));

                                (void) snprintf(message, size, "lists '%s' more than once, the repeat at "
                                                "index %zu is ignored.", shown ?: "?", i);
                                return SHAPE_CHECK_WARNING;
                        }
        return 0;
}

int ntp_path_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *s = json_string_value(v);

        (void) source_text;
        if (!s)
                return 0;
        if (s[0] == '/' && strlen(s) == json_string_length(v) && s[json_string_length(v) - 1] != '/')
                return 0;
        (void) snprintf(message, size, "must be the absolute path of a file, such as /etc/chrony/chrony.conf.");
        return -EINVAL;
}

int ntp_service_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *s = json_string_value(v);

        (void) source_text;
        if (!s)
                return 0;
        if (s[0] != '\0' && s[0] != '-' && strlen(s) == json_string_length(v) &&
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-") == strlen(s))
                return 0;
        (void) snprintf(message, size, "must be a systemd unit name such as chronyd, made of letters, digits, "
                        "':', '_', '.', '@' and '-'.");
        return -EINVAL;
}

/* Render a config.template as cloud-init's templater does. A first line "## template: jinja"
 * selects Jinja, rendered with vars ({servers, pools, peers, allow}). cloud-init's basic renderer
 * (a "## template: basic" line, or none) replaces $name and ${name}; kiln does not have it, so such
 * a template is accepted only when it contains no '$' and is then copied as it is.
 * Returns 0 with *ret (caller owns), 1 likewise with the first warning about an undefined variable
 * in reason, -EINVAL with the reason in reason, or -ENOMEM. */
int ntp_template_render(const char *template, const json_t *vars, char **ret, char *reason, size_t size) {
        _cleanup_free_ char *type = NULL;
        json_auto_t *warnings = NULL;
        const char *body = template, *p = template;
        JinjaError error = {};
        size_t n;
        int r;

        if (strneq(p, "##", 2)) {
                p += 2 + strspn(p + 2, " \t");
                if (strncasecmp(p, "template:", 9) == 0) {
                        p += 9;
                        n = strcspn(p, "\n");
                        type = strndup(p, n);
                        if (!type)
                                return -ENOMEM;
                        body = p[n] == '\n' ? p + n + 1 : p + n;
                        /* The type is matched without surrounding blanks or letter case. */
                        p = type + strspn(type, " \t\r");
                        n = strlen(p);
                        while (n > 0 && strchr(" \t\r", p[n - 1]))
                                n--;
                        if (!((n == 5 && strncasecmp(p, "jinja", 5) == 0) ||
                              (n == 5 && strncasecmp(p, "basic", 5) == 0))) {
                                (void) snprintf(reason, size, "names the template type '%.*s'; use "
                                                "'## template: jinja'", (int) MIN(n, (size_t) 40), p);
                                return -EINVAL;
                        }
                        if (strncasecmp(p, "jinja", 5) != 0) {
                                free(type);
                                type = NULL;
                        }
                }
        }

        if (!type) {
                if (strchr(body, '$')) {
                        (void) snprintf(reason, size, "uses the variables of cloud-init's basic templates ('$'), "
                                        "which kiln does not render; start it with the line '## template: jinja' "
                                        "and write {{ servers }} and the like");
                        return -EINVAL;
                }
                *ret = strdup(body);
                return *ret ? 0 : -ENOMEM;
        }

        r = jinja_render(body, strlen(body), vars, ret, &n, &warnings, &error);
        if (r == -EINVAL) {
                (void) snprintf(reason, size, "cannot be rendered: line %u: %s", error.line + 1, error.message);
                return r;
        }
        if (r < 0)
                return r;
        if (json_array_size(warnings) > 0) {
                const json_t *w = json_array_get(warnings, 0);

                (void) snprintf(reason, size, "line %d: %s", (int) json_integer_value(json_object_get(w, "line")) + 1,
                                json_string_value(json_object_get(w, "message")) ?: "undefined variable");
                return 1;
        }
        return 0;
}

/* The keys that config must give for a client that kiln does not know, as in cloud-init. */
static const char *const ntp_custom_client_keys[] = { "check_exe", "confpath", "packages", "service_name",
                                                      "template" };

/* Checks of the ntp mapping that span its keys: a client that kiln does not know needs all of
 * config's keys, and a template must render. */
int ntp_mapping_check(const json_t *v, const char *source_text, char *message, size_t size) {
        json_auto_t *vars = NULL;
        _cleanup_free_ char *rendered = NULL;
        const char *client = json_string_value(json_object_get(v, "ntp_client"));
        const json_t *config = json_object_get(v, "config");
        const char *template = json_string_value(json_object_get(config, "template"));
        char reason[SHAPE_MESSAGE_MAX / 2] = "";
        int r;

        (void) source_text;
        if (!json_is_object(v))
                return 0;

        if (client && client[0] && !streq(client, "auto") && ntp_client_from_string(client) < 0)
                for (size_t i = 0; i < ELEMENTSOF(ntp_custom_client_keys); i++)
                        if (!json_object_get(config, ntp_custom_client_keys[i])) {
                                (void) snprintf(message, size, "names the NTP client '%.40s', which kiln does not "
                                                "know, without config.%s. Use chrony, ntp, ntpdate, openntpd or "
                                                "systemd-timesyncd, or give config.check_exe, confpath, "
                                                "packages, service_name and template.", client,
                                                ntp_custom_client_keys[i]);
                                return -EINVAL;
                        }

        if (!template)
                return 0;
        vars = json_object();
        if (!vars)
                return -ENOMEM;
        for (size_t i = 0; i < 4; i++) {
                static const char *const keys[] = { "servers", "pools", "peers", "allow" };
                const json_t *list = json_object_get(v, keys[i]);

                if (json_object_set_new(vars, keys[i], json_is_array(list) ? json_deep_copy(list) : json_array()) < 0)
                        return -ENOMEM;
        }
        r = ntp_template_render(template, vars, &rendered, reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                return 0;
        (void) snprintf(message, size, "has a config.template that %s%s", r > 0 ? "refers to an undefined "
                        "variable, " : "", reason);
        return r > 0 ? SHAPE_CHECK_WARNING : -EINVAL;
}
