/* SPDX-License-Identifier: Apache-2.0 */
/* The checks of the webserver module's user values and its key declarations, shared by
 * `kiln validate` and `kiln run`, and the report of what they find during a run. */

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "context.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "report.h"
#include "schema.h"
#include "tls.h"
#include "webserver.h"

/* ---- Validation of user values ---- */

_Static_assert(WEB_NAME_MAX == TLS_NAME_LENGTH_MAX, "site names and certificate names have one length limit");

int web_name_check(const char *name, char *reason, size_t size) {
        size_t n = strlen(name);

        if (n == 0 || n > WEB_NAME_MAX) {
                (void) snprintf(reason, size, "must have 1 to %u characters", WEB_NAME_MAX);
                return -EINVAL;
        }
        /* Site names and certificate names follow one rule, because both become file names and a site
         * often names its certificate after itself. */
        if (!tls_name_is_valid(name)) {
                (void) snprintf(reason, size, "'%s' is not a valid name: use lowercase letters, digits, '.', '_' and "
                                "'-', starting with a letter or digit", name);
                return -EINVAL;
        }
        return 0;
}

static bool domain_label_valid(const char *label, size_t n) {
        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", label[i]))
                        return false;
        return true;
}

/* A host name of letters, digits and '-' in dot-separated labels of up to 63 characters, at most
 * 253 in all, optionally starting with the wildcard label "*.". */
int web_domain_check(const char *domain, char *reason, size_t size) {
        const char *p = domain;

        if (strneq(p, "*.", 2))
                p += 2;
        for (const char *label = p;;) {
                const char *dot = strchr(label, '.');
                size_t n = dot ? (size_t) (dot - label) : strlen(label);

                if (strlen(domain) > 253 || !domain_label_valid(label, n)) {
                        (void) snprintf(reason, size, "'%.260s' is not a valid domain name: write labels of "
                                        "letters, digits and '-' separated by dots, internationalized names "
                                        "in their xn-- form", domain);
                        return -EINVAL;
                }
                if (!dot)
                        return 0;
                label = dot + 1;
        }
}

/* Characters that would end a value or start a variable, a block, a comment or a quoted string in
 * an nginx or apache configuration. Neither server has a way to escape '$' in these values, so a
 * value containing one is rejected instead of written where the server would expand it. */
#define WEB_CONFIG_SPECIAL "$;{}\"'\\#`"

static bool value_has_config_special(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p <= ' ' || *p == 0x7f || strchr(WEB_CONFIG_SPECIAL, *p))
                        return true;
        return false;
}

int web_root_check(const char *path, char *reason, size_t size) {
        if (path[0] != '/') {
                (void) snprintf(reason, size, "'%.200s' is not an absolute path", path);
                return -EINVAL;
        }
        if (strlen(path) > WEB_VALUE_MAX) {
                (void) snprintf(reason, size, "is longer than %u characters", WEB_VALUE_MAX);
                return -EINVAL;
        }
        if (value_has_config_special(path)) {
                (void) snprintf(reason, size, "'%.200s' contains a space, a control character or one of "
                                "%s, which the server would read as configuration syntax", path, WEB_CONFIG_SPECIAL);
                return -EINVAL;
        }
        return 0;
}

/* An http:// or https:// URL with a host, an optional port and an optional path, made of the
 * URL characters that neither server reads as syntax. User information (user@) is not accepted. */
int web_proxy_check(const char *url, char *reason, size_t size) {
        const char *host;
        size_t host_length;

        if (strneq(url, "http://", strlen("http://")))
                host = url + strlen("http://");
        else if (strneq(url, "https://", strlen("https://")))
                host = url + strlen("https://");
        else {
                (void) snprintf(reason, size, "'%.200s' is not an http:// or https:// URL", url);
                return -EINVAL;
        }
        if (strlen(url) > WEB_VALUE_MAX) {
                (void) snprintf(reason, size, "is longer than %u characters", WEB_VALUE_MAX);
                return -EINVAL;
        }

        host_length = strcspn(host, "/?");
        if (host_length == 0 || host[0] == ':') {
                (void) snprintf(reason, size, "'%.200s' has no host", url);
                return -EINVAL;
        }
        if (memchr(host, '@', host_length)) {
                (void) snprintf(reason, size, "'%.200s' contains user information, which a proxy URL cannot "
                                "carry", url);
                return -EINVAL;
        }
        if (strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/[]%&()*+,=?!") !=
            strlen(url)) {
                (void) snprintf(reason, size, "'%.200s' contains a character that is not allowed in a proxy URL: "
                                "use letters, digits and -._~:/[]%%&()*+,=?! only", url);
                return -EINVAL;
        }
        return 0;
}

char *web_proxy_normalize(const char *url) {
        const char *host = strstr(url, "://") + strlen("://");
        const char *path = strchr(host, '/');
        char *s;

        if (!path || url[strlen(url) - 1] == '/')
                return strdup(url);
        if (asprintf(&s, "%s/", url) < 0)
                return NULL;
        return s;
}

/* ---- Key declarations: the same checks for `kiln validate` and `kiln run` ---- */

typedef int (*StringCheck)(const char *value, char *reason, size_t size);

static int string_shape_check(const json_t *v, StringCheck check, char *message, size_t size) {
        char reason[SHAPE_MESSAGE_MAX];

        if (!json_is_string(v))
                return 0;
        if (check(json_string_value(v), reason, sizeof(reason)) < 0) {
                (void) snprintf(message, size, "%s.", reason);
                return -EINVAL;
        }
        return 0;
}

static int name_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        return string_shape_check(v, web_name_check, message, size);
}

static int site_domain_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        return string_shape_check(v, web_domain_check, message, size);
}

static int root_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        return string_shape_check(v, web_root_check, message, size);
}

static int proxy_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        return string_shape_check(v, web_proxy_check, message, size);
}

static int domains_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (json_is_string(v)) {
                int r = string_shape_check(v, web_domain_check, message, size);

                if (r < 0)
                        return r;
                (void) snprintf(message, size, "is a string, not a list, and is read as a list of one domain.");
                return SHAPE_CHECK_WARNING;
        }
        if (json_is_array(v) && json_array_size(v) == 0) {
                (void) snprintf(message, size, "is an empty list: a site needs at least one domain.");
                return -EINVAL;
        }
        if (json_is_array(v) && json_array_size(v) > WEB_DOMAINS_MAX) {
                (void) snprintf(message, size, "has %zu domains, more than the maximum of %u.", json_array_size(v),
                                WEB_DOMAINS_MAX);
                return -EINVAL;
        }
        return 0;
}

/* A boolean value, also from the strings that the declarations accept with a warning. */
bool web_boolean_value_or(const json_t *v, bool fallback) {
        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_string(v) && parse_boolean(json_string_value(v)) >= 0)
                return parse_boolean(json_string_value(v)) > 0;
        return fallback;
}

static int site_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const json_t *root = json_object_get(v, "root"), *proxy = json_object_get(v, "proxy");
        const json_t *tls = json_object_get(v, "tls");

        if (!json_is_object(v))
                return 0;
        if (!root == !proxy) {
                (void) snprintf(message, size, "%s: a site serves either static files (root) or a backend "
                                "(proxy).", root ? "has both root and proxy" : "has neither root nor proxy");
                return -EINVAL;
        }
        if (!tls && web_boolean_value_or(json_object_get(v, "redirect_http"), false)) {
                (void) snprintf(message, size, "has redirect_http: true but no tls certificate to redirect to.");
                return -EINVAL;
        }
        return 0;
}

static int sites_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *default_name = NULL;
        const json_t *site;
        size_t i;

        if (!json_is_array(v))
                return 0;
        if (json_array_size(v) > WEB_SITES_MAX) {
                (void) snprintf(message, size, "has %zu sites, more than the maximum of %u.", json_array_size(v),
                                WEB_SITES_MAX);
                return -EINVAL;
        }

        json_array_foreach(v, i, site) {
                const char *name = json_string_value(json_object_get(site, "name"));

                for (size_t j = 0; name && j < i; j++)
                        if (streq(name, json_string_value(json_object_get(json_array_get(v, j), "name")) ?: "")) {
                                (void) snprintf(message, size, "lists the site name '%s' twice: names must be "
                                                "unique because each names a file.", name);
                                return -EINVAL;
                        }
                if (!web_boolean_value_or(json_object_get(site, "default"), false))
                        continue;
                if (default_name) {
                        (void) snprintf(message, size, "has two default sites, '%s' and '%s': only one site can "
                                        "answer for unknown names.", default_name, name ?: "");
                        return -EINVAL;
                }
                default_name = name ?: "";
        }
        return 0;
}

static const char *const web_server_values[] = { "nginx", "apache", NULL };

static const KeyShape domain_shape = { .types = SHAPE_STRING, .check = site_domain_shape_check };

static const KeyField site_fields[] = {
        { .name = "name", .shape = { .types = SHAPE_STRING, .check = name_shape_check }, .required = true,
          .description = KEY_DESCRIPTION("The site's name, unique among the sites: 1 to 64 lowercase "
                                         "letters, digits, '.', '_' and '-', starting with a letter or "
                                         "digit, as for certificate names. Its file is kiln-NAME.conf.") },
        { .name = "domains",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING, .items = &domain_shape, .check = domains_shape_check },
          /* NOTE: a shape check receives only the site, not the top-level domains, so `kiln validate`
           * accepts a site without domains that `kiln run` rejects when the top-level list is empty. */
          .description = KEY_DESCRIPTION("Host names the site answers for; the first is the primary "
                                         "name. A leading '*.' matches any one label. Default: the "
                                         "top-level domains list. A site without either is an error.") },
        { .name = "root", .shape = { .types = SHAPE_STRING, .check = root_shape_check },
          .description = KEY_DESCRIPTION("Absolute path of the static files to serve. Set either root "
                                         "or proxy.") },
        { .name = "proxy", .shape = { .types = SHAPE_STRING, .check = proxy_shape_check },
          .description = KEY_DESCRIPTION("http:// or https:// URL of a backend to pass requests to, "
                                         "with the Host and X-Forwarded-* headers. Set either root or "
                                         "proxy.") },
        { .name = "tls", .shape = { .types = SHAPE_STRING, .check = name_shape_check },
          .description = KEY_DESCRIPTION("Name of a certificate that the tls key defines or that is "
                                         "installed in /etc/ssl/kiln/NAME/fullchain.pem and "
                                         "privkey.pem. The site then also serves HTTPS on port 443 with "
                                         "TLS 1.2 and 1.3 only.") },
        { .name = "redirect_http", .shape = { .types = SHAPE_BOOLEAN, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Answer plain HTTP requests with a permanent redirect to "
                                         "HTTPS. Needs tls. Default: true when tls is set.") },
        { .name = "default", .shape = { .types = SHAPE_BOOLEAN, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Answer requests for names that no site lists. At most one "
                                         "site. This disables the distribution's own default site. "
                                         "Default: false.") },
        {}
};

static const KeyShape site_shape = { .types = SHAPE_MAPPING, .fields = site_fields, .check = site_shape_check };

static const KeyField webserver_inner_fields[] = {
        { .name = "server", .shape = { .types = SHAPE_STRING, .values = web_server_values },
          .description = KEY_DESCRIPTION("The server to configure: nginx or apache. Default: the one "
                                         "installed, nginx when both are.") },
        { .name = "sites", .shape = { .types = SHAPE_LIST, .items = &site_shape, .check = sites_shape_check },
          .required = true,
          .description = KEY_DESCRIPTION("The sites to serve, one file each. kiln removes the files of "
                                         "sites it wrote before that are no longer listed, so an empty "
                                         "list removes them all.") },
        {}
};

const KeyField webserver_fields[] = {
        { .name = "webserver", .shape = { .types = SHAPE_MAPPING, .fields = webserver_inner_fields },
          .description = KEY_DESCRIPTION("Web sites for nginx or apache, checked with the server's "
                                         "configuration test before the server reloads. Applied once "
                                         "per instance.") },
        {}
};

int web_path_item(const char *path) {
        unsigned item;
        char buf[32];
        size_t n;

        if (!strneq(path, "sites.", strlen("sites.")))
                return -1;
        path += strlen("sites.");
        n = strcspn(path, ".");
        if (n == 0 || n >= sizeof(buf))
                return -1;
        memcpy(buf, path, n);
        buf[n] = '\0';
        if (safe_atou(buf, &item) < 0 || item > INT_MAX)
                return -1;
        return (int) item;
}

