/* SPDX-License-Identifier: Apache-2.0 */
/* The phone_home module: once per instance, POST the instance id, hostname, fqdn and SSH host public
 * keys as a form to a URL, as cloud-init's phone_home module does. */

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/curl-dlopen.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/time-util.h"
#include "log.h"
#include "module.h"
#include "phone_home.h"
#include "report.h"

/* cloud-init's defaults: 10 attempts in all, 3 seconds apart. */
#define PHONE_HOME_TRIES_DEFAULT 10
#define PHONE_HOME_RETRY_PAUSE_USEC (3 * USEC_PER_SEC)
/* Maximum attempts. A larger phone_home.tries is capped with a warning. */
#define PHONE_HOME_TRIES_MAX 100
/* Time for one attempt, connection and redirects included. */
#define PHONE_HOME_ATTEMPT_TIMEOUT_MSEC 10000L
/* Maximum redirects that one attempt follows. python-requests, which cloud-init posts with,
 * follows up to 30. */
#define PHONE_HOME_REDIRECTS_MAX 10L
/* Cap on an SSH host public key file and on /etc/hostname. */
#define PHONE_HOME_FILE_MAX (64U * 1024U)
/* The value sent for a requested name that has none, as in cloud-init. */
#define PHONE_HOME_NO_VALUE "N/A"

#define INSTANCE_ID_VARIABLE "INSTANCE_ID"

/* The names that post: all sends, in cloud-init's order. */
static const char *const post_names[] = {
        "pub_key_rsa", "pub_key_ecdsa", "pub_key_ed25519", "instance_id", "hostname", "fqdn", NULL,
};

static const struct {
        const char *name;
        const char *path;
} host_keys[] = {
        { "pub_key_rsa", "/etc/ssh/ssh_host_rsa_key.pub" },
        { "pub_key_ecdsa", "/etc/ssh/ssh_host_ecdsa_key.pub" },
        { "pub_key_ed25519", "/etc/ssh/ssh_host_ed25519_key.pub" },
};

int phone_home_url_render(const char *url, const char *instance_id, char **ret, char **reterr_name) {
        _cleanup_free_ char *text = NULL, *escaped = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        int r;

        r = dlopen_curl();
        if (r < 0)
                return r;

        escaped = sym_curl_easy_escape(NULL, instance_id, 0);
        f = open_memstream(&text, &size);
        if (!escaped || !f)
                return -ENOMEM;

        for (const char *p = url; *p;) {
                bool braced = p[0] == '$' && p[1] == '{';
                const char *name = p + (braced ? 2 : 1);
                size_t len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");

                if (*p != '$' || len == 0 || (braced && name[len] != '}')) {
                        (void) fputc(*p++, f);
                        continue;
                }
                if (len != strlen(INSTANCE_ID_VARIABLE) || !strneq(name, INSTANCE_ID_VARIABLE, len)) {
                        *reterr_name = strndup(name, len);
                        return *reterr_name ? -EINVAL : -ENOMEM;
                }
                (void) fputs(escaped, f);
                p = name + len + (braced ? 1 : 0);
        }

        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(text);
        return 0;
}

int phone_home_form_encode(const json_t *fields, char **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        const char *key;
        const json_t *value;
        size_t size = 0;
        bool first = true;
        int r;

        r = dlopen_curl();
        if (r < 0)
                return r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        json_object_foreach((json_t *) fields, key, value) {
                char *k = sym_curl_easy_escape(NULL, key, 0);
                char *v = sym_curl_easy_escape(NULL, json_string_value(value) ?: "", 0);

                if (k && v)
                        (void) fprintf(f, "%s%s=%s", first ? "" : "&", k, v);
                sym_curl_free(k);
                sym_curl_free(v);
                if (!k || !v)
                        return -ENOMEM;
                first = false;
        }

        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(text);
        return 0;
}

char *phone_home_url_for_message(const char *url) {
        const char *authority = strstr(url, "://"), *at, *end;
        char *shown;

        authority = authority ? authority + 3 : url;
        end = authority + strcspn(authority, "/?#");
        at = memchr(authority, '@', (size_t) (end - authority));
        if (asprintf(&shown, "%.*s%.*s", (int) (authority - url), url,
                     (int) strcspn(at ? at + 1 : authority, "?#"), at ? at + 1 : authority) < 0)
                return NULL;
        return shown;
}

static bool url_scheme_allowed(const char *url) {
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* The names as cloud-init's util.get_hostname_fqdn() picks them: fqdn from the config, a hostname
 * with a dot, the metadata's local_hostname (an IPv4 address becomes ip-A-B-C-D), or the root's
 * /etc/hostname. *ret_hostname and *ret_fqdn stay NULL when nothing names the machine. */
static void machine_names(Context *ctx, const json_t *config, char **ret_hostname, char **ret_fqdn) {
        const char *hostname = json_string_value(json_object_get(config, "hostname"));
        const char *fqdn = json_string_value(json_object_get(config, "fqdn"));
        const json_t *local = ctx->instance ? json_object_get(ctx->instance->metadata, "local_hostname") : NULL;
        _cleanup_free_ char *from_file = NULL, *from_metadata = NULL;
        struct in_addr a;
        size_t size;

        if (!fqdn && hostname && strchr(hostname, '.'))
                fqdn = hostname;
        if (!fqdn && json_is_string(local) && json_string_length(local) > 0) {
                if (inet_pton(AF_INET, json_string_value(local), &a) == 1 &&
                    asprintf(&from_metadata, "ip-%s", json_string_value(local)) >= 0) {
                        for (char *p = from_metadata; *p; p++)
                                if (*p == '.')
                                        *p = '-';
                } else
                        from_metadata = strdup(json_string_value(local));
                fqdn = from_metadata;
        }
        if (!fqdn && !hostname && read_file_at(ctx->root_fd, "/etc/hostname", PHONE_HOME_FILE_MAX, &from_file,
                                               &size) >= 0) {
                from_file[strcspn(from_file, " \t\r\n")] = '\0';
                fqdn = *from_file ? from_file : NULL;
        }

        *ret_fqdn = fqdn ? strdup(fqdn) : hostname ? strdup(hostname) : NULL;
        if (hostname && !strchr(hostname, '.'))
                *ret_hostname = strdup(hostname);
        else if (*ret_fqdn)
                *ret_hostname = strndup(*ret_fqdn, strcspn(*ret_fqdn, "."));
}

/* All values that phone_home can send; a name without a value is absent. */
static int values_collect(Context *ctx, const json_t *config, json_t **ret) {
        _cleanup_free_ char *hostname = NULL, *fqdn = NULL;
        json_auto_t *values = json_object();

        if (!values)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(host_keys); i++) {
                _cleanup_free_ char *data = NULL;
                size_t size;
                int r;

                r = read_file_at(ctx->root_fd, host_keys[i].path, PHONE_HOME_FILE_MAX, &data, &size);
                if (r < 0)
                        log_debug_errno(r, "Failed to read %s, sending %s for %s: %m", host_keys[i].path,
                                        PHONE_HOME_NO_VALUE, host_keys[i].name);
                else if (json_object_set_new(values, host_keys[i].name, json_stringn(data, size)) < 0)
                        return -ENOMEM;
        }

        if (ctx->instance && json_object_set_new(values, "instance_id", json_string(ctx->instance->instance_id)) < 0)
                return -ENOMEM;
        machine_names(ctx, config, &hostname, &fqdn);
        if (hostname && json_object_set_new(values, "hostname", json_string(hostname)) < 0)
                return -ENOMEM;
        if (fqdn && json_object_set_new(values, "fqdn", json_string(fqdn)) < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(values);
        return 0;
}

/* The form fields for the names that post requests, each once, in the order given. */
static int fields_build(Context *ctx, const json_t *post, const json_t *values, json_t **ret) {
        json_auto_t *fields = json_object();
        const json_t *item;
        size_t i;

        if (!fields)
                return -ENOMEM;
        json_array_foreach(post, i, item) {
                const char *name = json_string_value(item);
                const json_t *value = json_object_get(values, name);

                if (!value) {
                        bool known = false;

                        for (const char *const *n = post_names; *n; n++)
                                known = known || streq(*n, name);
                        if (known)
                                log_warning("phone_home: %s has no value, sending '%s'.", name, PHONE_HOME_NO_VALUE);
                        else
                                report_warning(ctx, (int) i, "phone_home.post[%zu] '%s' names no value kiln sends, "
                                               "sending '%s' for it.", i, name, PHONE_HOME_NO_VALUE);
                }
                if (json_object_set_new(fields, name, json_string(value ? json_string_value(value) :
                                                                  PHONE_HOME_NO_VALUE)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(fields);
        return 0;
}

static size_t discard_body(char *data, size_t size, size_t n, void *userdata) {
        return size * n;
}

/* Describe a failed transfer in reason. A redirect that kiln does not follow names its target, without
 * user information and query. curl stores that target as the effective URL when its scheme is not
 * allowed, and as the redirect URL when the redirects exceed the maximum. */
static void transfer_failure_describe(CURL *curl, CURLcode code, const char *error_buffer, char *reason,
                                      size_t size) {
        _cleanup_free_ char *target = NULL;
        const char *redirect = NULL;
        long redirects = 0;

        (void) sym_curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects);
        if (code == CURLE_UNSUPPORTED_PROTOCOL && redirects > 0)
                (void) sym_curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &redirect);
        if (code == CURLE_TOO_MANY_REDIRECTS)
                (void) sym_curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &redirect);
        if (redirect)
                target = phone_home_url_for_message(redirect);

        if (code == CURLE_TOO_MANY_REDIRECTS)
                (void) snprintf(reason, size, "more than %ld redirects%s%s%s", PHONE_HOME_REDIRECTS_MAX,
                                target ? ", the next to '" : "", target ?: "", target ? "'" : "");
        else if (code == CURLE_UNSUPPORTED_PROTOCOL && target)
                (void) snprintf(reason, size, "redirected to '%s', which is not an http:// or https:// URL", target);
        else
                (void) snprintf(reason, size, "%s",
                                error_buffer[0] ? error_buffer : sym_curl_easy_strerror(code));
}

/* One POST, following up to PHONE_HOME_REDIRECTS_MAX redirects to http:// and https:// URLs. curl
 * turns the POST into a GET without body after 301, 302 and 303, and repeats it after 307 and 308,
 * as python-requests does for cloud-init. Only a final 2xx status counts as posted. cloud-init
 * also counts a 3xx that has no Location header to follow, but then the data reached no handler.
 * libcurl must be loaded already. Returns 0 with the number of redirects followed in
 * *ret_redirects, or -EIO with a description in reason, or -ENOMEM. */
static int post_once(const char *url, const char *body, long *ret_redirects, char *reason, size_t size) {
        char error_buffer[CURL_ERROR_SIZE] = "";
        CURL *curl = sym_curl_easy_init();
        long status = 0, redirects = 0;
        CURLcode code;

        if (!curl)
                return -ENOMEM;
        (void) sym_curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 deprecated the bitmask options */
        (void) sym_curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) sym_curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        (void) sym_curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
        (void) sym_curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS,
                                    (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        (void) sym_curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        (void) sym_curl_easy_setopt(curl, CURLOPT_MAXREDIRS, PHONE_HOME_REDIRECTS_MAX);
        (void) sym_curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        (void) sym_curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        (void) sym_curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        (void) sym_curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, PHONE_HOME_ATTEMPT_TIMEOUT_MSEC);
        (void) sym_curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
        (void) sym_curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
        code = sym_curl_easy_perform(curl);
        if (code == CURLE_OK) {
                (void) sym_curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
                (void) sym_curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &redirects);
        } else
                transfer_failure_describe(curl, code, error_buffer, reason, size);
        sym_curl_easy_cleanup(curl);

        if (code != CURLE_OK)
                return -EIO;
        if (status >= 300 && status < 400) {
                (void) snprintf(reason, size, "HTTP status %ld without a Location header to follow", status);
                return -EIO;
        }
        if (status < 200 || status >= 300) {
                (void) snprintf(reason, size, "HTTP status %ld", status);
                return -EIO;
        }
        *ret_redirects = redirects;
        return 0;
}

static int post_with_tries(Context *ctx, const char *url, const char *body, unsigned tries) {
        _cleanup_free_ char *shown = phone_home_url_for_message(url);
        char reason[CURL_ERROR_SIZE + 128] = "";
        long redirects = 0;
        int r = -EIO;

        for (unsigned attempt = 1; attempt <= tries; attempt++) {
                if (attempt > 1)
                        sleep_until_usec(clock_monotonic_usec() + PHONE_HOME_RETRY_PAUSE_USEC);
                r = post_once(url, body, &redirects, reason, sizeof(reason));
                if (r == 0) {
                        log_info("Posted the phone_home data to '%s' (attempt %u of %u, %ld redirects).",
                                 shown ?: "?", attempt, tries, redirects);
                        return 0;
                }
                if (r == -ENOMEM)
                        break;
                log_info("Attempt %u of %u to post the phone_home data to '%s' failed: %s.", attempt, tries,
                         shown ?: "?", reason);
        }
        return report_error(ctx, -1, r, "Failed to post the phone_home data to '%s' in %u tries: %s", shown ?: "?",
                            tries, r == -ENOMEM ? strerror(ENOMEM) : reason);
}

/* phone_home.tries: the number of attempts, default 10. cloud-init makes max(tries, 1) attempts,
 * reads a string of digits as a number and falls back to 10 for anything else. kiln does the same,
 * with a warning for each value it changes, and caps the number at PHONE_HOME_TRIES_MAX. */
static void tries_parse(Context *ctx, const json_t *v, unsigned *ret) {
        _cleanup_free_ char *shown = NULL;
        long long n;
        char *end;

        *ret = PHONE_HOME_TRIES_DEFAULT;
        if (!v || json_is_null(v))
                return;
        if (json_is_integer(v))
                n = json_integer_value(v);
        else if (json_is_string(v)) {
                errno = 0;
                n = strtoll(json_string_value(v), &end, 10);
                if (errno != 0 || end == json_string_value(v) || *end != '\0') {
                        report_warning(ctx, -1, "phone_home.tries must be an integer, not '%.80s', so kiln makes "
                                       "%d tries.", json_string_value(v), PHONE_HOME_TRIES_DEFAULT);
                        return;
                }
                report_warning(ctx, -1, "phone_home.tries is the string '%s', read as %lld. Write it without quotes.",
                               json_string_value(v), n);
        } else {
                shown = json_to_message(v, 80);
                report_warning(ctx, -1, "phone_home.tries must be an integer, not %s, so kiln makes %d tries.",
                               shown ?: "?", PHONE_HOME_TRIES_DEFAULT);
                return;
        }

        if (n < 1) {
                report_warning(ctx, -1, "phone_home.tries is %lld, so kiln makes 1 try.", n);
                n = 1;
        }
        if (n > PHONE_HOME_TRIES_MAX) {
                report_warning(ctx, -1, "phone_home.tries is %lld, more than the maximum %d, so kiln makes %d tries.",
                               n, PHONE_HOME_TRIES_MAX, PHONE_HOME_TRIES_MAX);
                n = PHONE_HOME_TRIES_MAX;
        }
        *ret = (unsigned) n;
}

/* phone_home.post: "all" or a list of names. */
static int post_parse(Context *ctx, const json_t *v, json_t **ret) {
        _cleanup_free_ char *shown = NULL;
        json_auto_t *list = NULL;
        const json_t *item;
        size_t i;

        if (!v || json_is_null(v) || (json_is_string(v) && streq(json_string_value(v), "all"))) {
                list = json_array();
                for (const char *const *n = post_names; list && *n; n++)
                        if (json_array_append_new(list, json_string(*n)) < 0)
                                return -ENOMEM;
                if (!list)
                        return -ENOMEM;
                *ret = TAKE_PTR(list);
                return 0;
        }
        if (!json_is_array(v)) {
                shown = json_to_message(v, 80);
                return report_error(ctx, -1, 0, "phone_home.post must be 'all' or a list of names, not %s.",
                                    shown ?: "?");
        }
        json_array_foreach(v, i, item)
                if (!json_is_string(item)) {
                        shown = json_to_message(item, 80);
                        return report_error(ctx, (int) i, 0, "phone_home.post[%zu] must be a name, not %s.", i,
                                            shown ?: "?");
                }
        *ret = json_incref((json_t *) v);
        return 0;
}

static int phone_home_run(Context *ctx, const json_t *config) {
        const json_t *ph = json_object_get(config, "phone_home"), *url;
        _cleanup_free_ char *rendered = NULL, *unknown = NULL, *body = NULL;
        json_auto_t *post = NULL, *values = NULL, *fields = NULL;
        unsigned tries;
        int r;

        if (!ph || json_is_null(ph))
                return 0;
        if (!json_is_object(ph))
                return report_error(ctx, -1, 0, "phone_home must be a mapping with url, post and tries.");
        url = json_object_get(ph, "url");
        if (!json_is_string(url))
                return report_error(ctx, -1, 0, "phone_home.url is %s: set it to the http:// or https:// URL to "
                                    "post to.", url ? "not a string" : "missing");

        tries_parse(ctx, json_object_get(ph, "tries"), &tries);
        r = post_parse(ctx, json_object_get(ph, "post"), &post);
        if (r < 0)
                return r;

        /* Loaded before the URL is built, because building it escapes the instance id with libcurl. */
        r = dlopen_curl();
        if (r < 0) {
                _cleanup_free_ char *shown = phone_home_url_for_message(json_string_value(url));

                return report_error(ctx, -1, r, "Failed to post the phone_home data to '%s': %s", shown ?: "?",
                                    dlopen_curl_error() ?: strerror(-r));
        }

        r = phone_home_url_render(json_string_value(url), ctx->instance ? ctx->instance->instance_id : "",
                                  &rendered, &unknown);
        if (r == -EINVAL)
                return report_error(ctx, -1, 0, "phone_home.url names the variable '%s', but only $INSTANCE_ID is "
                                    "replaced.", unknown);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to build the phone_home URL: %m");
        if (!url_scheme_allowed(rendered))
                return report_error(ctx, -1, 0, "phone_home.url must start with http:// or https://.");

        r = values_collect(ctx, config, &values);
        if (r >= 0)
                r = fields_build(ctx, post, values, &fields);
        if (r >= 0)
                r = phone_home_form_encode(fields, &body);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to build the phone_home data: %m");

        r = post_with_tries(ctx, rendered, body, tries);
        /* Posting changes nothing on this machine. */
        return MIN(r, 0);
}

static const char *const phone_home_config_keys[] = { "phone_home", NULL };

static int tries_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *text = json_string_value(v);
        long long n;
        char *end;

        if (json_is_null(v))
                return 0;
        if (json_is_integer(v))
                n = json_integer_value(v);
        else if (text) {
                errno = 0;
                n = strtoll(text, &end, 10);
                if (errno != 0 || end == text || *end != '\0') {
                        (void) snprintf(message, size, "must be an integer, so kiln makes %d tries.",
                                        PHONE_HOME_TRIES_DEFAULT);
                        return SHAPE_CHECK_WARNING;
                }
                (void) snprintf(message, size, "is a string, read as %lld. Write it without quotes.", n);
                return SHAPE_CHECK_WARNING;
        } else {
                (void) snprintf(message, size, "must be an integer, so kiln makes %d tries.",
                                PHONE_HOME_TRIES_DEFAULT);
                return SHAPE_CHECK_WARNING;
        }

        if (n < 1) {
                (void) snprintf(message, size, "is less than 1, so kiln makes 1 try.");
                return SHAPE_CHECK_WARNING;
        }
        if (n > PHONE_HOME_TRIES_MAX) {
                (void) snprintf(message, size, "is more than the maximum %d, so kiln makes %d tries.",
                                PHONE_HOME_TRIES_MAX, PHONE_HOME_TRIES_MAX);
                return SHAPE_CHECK_WARNING;
        }
        return 0;
}

static int post_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const json_t *item;
        size_t i;

        if (json_is_null(v) || (json_is_string(v) && streq(json_string_value(v), "all")))
                return 0;
        if (!json_is_array(v)) {
                (void) snprintf(message, size, "must be 'all' or a list of names.");
                return -EINVAL;
        }
        json_array_foreach(v, i, item) {
                bool known = false;

                for (const char *const *n = post_names; json_is_string(item) && *n; n++)
                        known = known || streq(*n, json_string_value(item));
                if (!known) {
                        (void) snprintf(message, size, "item %zu names no value kiln sends, so '%s' is sent for it.",
                                        i, PHONE_HOME_NO_VALUE);
                        return SHAPE_CHECK_WARNING;
                }
        }
        return 0;
}

/* kiln run rejects any other scheme, so validate does too. */
static int url_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_string(v) || url_scheme_allowed(json_string_value(v)))
                return 0;
        (void) snprintf(message, size, "is not an http:// or https:// URL.");
        return -EINVAL;
}

static const KeyShape post_item = { .types = SHAPE_STRING };

static const KeyField phone_home_subfields[] = {
        { .name = "url", .required = true,
          .shape = { .types = SHAPE_STRING, .pattern = "^[Hh][Tt][Tt][Pp][Ss]?://", .check = url_check },
          .description = KEY_DESCRIPTION("The http:// or https:// URL to post to. $INSTANCE_ID and "
                                         "${INSTANCE_ID} are replaced with the instance id.") },
        { .name = "post", .shape = { .types = SHAPE_STRING | SHAPE_LIST | SHAPE_NULL, .items = &post_item,
                                     .check = post_check },
          .description = KEY_DESCRIPTION("'all', or a list of pub_key_rsa, pub_key_ecdsa, "
                                         "pub_key_ed25519, instance_id, hostname and fqdn. Default: all.") },
        /* Every type is declared because kiln accepts any value here with a warning, as cloud-init
         * does, and the schema reports a check's warning for an undeclared type as an error too. */
        { .name = "tries", .shape = { .types = SHAPE_INTEGER | SHAPE_STRING | SHAPE_NUMBER | SHAPE_BOOLEAN |
                                               SHAPE_NULL | SHAPE_LIST | SHAPE_MAPPING,
                                      .check = tries_check },
          .description = KEY_DESCRIPTION("Attempts in all, 3 seconds apart, from 1 to 100. Each attempt "
                                         "may take up to 10 seconds, redirects included, so the module "
                                         "may take up to 13 seconds per try. Default: 10.") },
        {}
};

static const KeyField phone_home_fields[] = {
        { .name = "phone_home", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = phone_home_subfields },
          .description = KEY_DESCRIPTION("Post the instance id, hostname, fqdn and SSH host public keys "
                                         "as a form to a URL, once per instance.") },
        {}
};

const AgentModule module_phone_home = {
        .name = "phone_home",
        .config_keys = phone_home_config_keys,
        .config_fields = phone_home_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = phone_home_run,
};
