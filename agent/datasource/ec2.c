/* SPDX-License-Identifier: Apache-2.0 */
/* The EC2 datasource. It recognises an EC2 instance from DMI, then reads the instance id, metadata,
 * SSH keys, tags and user data from the instance metadata service through the client in imds.c. */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datasource/datasource.h"
#include "datasource/ec2.h"
#include "lib/string-util.h"
#include "datasource/imds.h"
#include "lib/curl-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/parse-util.h"
#include "log.h"
#include "report.h"

/* DMI and hypervisor files hold one short line. */
#define EC2_DMI_FILE_SIZE_MAX 4096
#define EC2_SYS_VENDOR "Amazon EC2"
#define EC2_METADATA_URL_SIZE_MAX 2048
#define EC2_INSTANCE_ID_SIZE_MAX 255
#define EC2_TAG_KEY_SIZE_MAX 128
/* Significant digits that always read back as the same double. */
#define EC2_DOUBLE_DIGITS_MAX 17

#define IMDS_META_DATA "/latest/meta-data/"
#define IMDS_PUBLIC_KEYS IMDS_META_DATA "public-keys/"
#define IMDS_TAGS IMDS_META_DATA "tags/instance/"
#define IMDS_IDENTITY_DOCUMENT "/latest/dynamic/instance-identity/document"
#define IMDS_USER_DATA "/latest/user-data"

static const char *const ec2_default_metadata_urls[] = EC2_DEFAULT_METADATA_URLS;

/* ---- Small helpers ---- */

/* Append s to the NULL-terminated list *l, taking ownership of s in every case. */
static int strv_push_take(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **grown;

        if (!s)
                return -ENOMEM;
        grown = realloc(*l, (n + 2) * sizeof(char *));
        if (!grown) {
                free(s);
                return -ENOMEM;
        }
        grown[n] = s;
        grown[n + 1] = NULL;
        *l = grown;
        return 0;
}

static bool char_is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A copy of s[0..len) without surrounding blanks. */
static char *strndup_trimmed(const char *s, size_t len) {
        while (len > 0 && char_is_blank(*s)) {
                s++;
                len--;
        }
        while (len > 0 && char_is_blank(s[len - 1]))
                len--;
        return strndup(s, len);
}

/* ---- Settings ---- */

static bool ec2_metadata_url_is_valid(const char *url) {
        size_t len = strlen(url);

        if (len <= strlen("http://") || len > EC2_METADATA_URL_SIZE_MAX)
                return false;
        if (strncasecmp(url, "http://", strlen("http://")) != 0)
                return false;
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

/* A setting's value as a message shows it: a string as written, a real number with the fewest
 * digits that read back as the same number (0.0005, not 0.00050000000000000001), anything else as
 * compact JSON. Caller owns the result. */
static char *ec2_setting_value_text(const json_t *v) {
        char buf[64];

        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_real(v)) {
                for (int digits = 1; digits <= EC2_DOUBLE_DIGITS_MAX; digits++) {
                        (void) snprintf(buf, sizeof(buf), "%.*g", digits, json_real_value(v));
                        if (strtod(buf, NULL) == json_real_value(v))
                                break;
                }
                return strdup(buf);
        }
        return json_to_message(v, EC2_SETTING_SHOWN_VALUE_MAX);
}

/* Seconds for messages, to the microsecond without trailing zeros: "10", "0.5". */
static char *ec2_format_seconds(usec_t usec) {
        char buf[32];
        size_t len;

        (void) snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64, (uint64_t) (usec / USEC_PER_SEC),
                        (uint64_t) (usec % USEC_PER_SEC));
        len = strlen(buf);
        while (buf[len - 1] == '0')
                len--;
        if (buf[len - 1] == '.')
                len--;
        return strndup(buf, len);
}

static int ec2_setting_metadata_urls(Context *ctx, const json_t *v, Ec2Settings *s) {
        _cleanup_strv_free_ char **urls = NULL;
        const json_t *item;
        size_t i;
        int r;

        if (!json_is_array(v) || json_array_size(v) == 0)
                return -EINVAL;

        json_array_foreach(v, i, item) {
                const char *url = json_string_value(item);
                size_t len;

                if (!url || !ec2_metadata_url_is_valid(url)) {
                        _cleanup_free_ char *text = ec2_setting_value_text(item);

                        report_warning(ctx, -1,
                                       "Invalid URL '%s' in datasource.ec2.metadata_urls, expected http://HOST[:PORT], skipping.",
                                       text ?: "?");
                        continue;
                }
                if (strv_length(urls) >= EC2_METADATA_URLS_MAX) {
                        report_warning(ctx, -1, "datasource.ec2.metadata_urls has more than %d entries, skipping the rest.",
                                       EC2_METADATA_URLS_MAX);
                        break;
                }

                /* Paths are appended to the URL, so it must not end in '/'. */
                len = strlen(url);
                while (len > 0 && url[len - 1] == '/')
                        len--;
                r = strv_push_take(&urls, strndup(url, len));
                if (r < 0)
                        return r;
        }

        if (!urls)
                return -EINVAL;
        strv_free(s->metadata_urls);
        s->metadata_urls = TAKE_PTR(urls);
        return 0;
}

static char *ec2_format_metadata_urls(const Ec2Settings *s) {
        char *joined = NULL;

        for (char **url = s->metadata_urls; url && *url; url++) {
                char *next = NULL;

                if (asprintf(&next, "%s%s%s", joined ?: "", joined ? ", " : "", *url) < 0) {
                        free(joined);
                        return NULL;
                }
                free(joined);
                joined = next;
        }
        return joined;
}

/* http_request() rejects a timeout below 1 ms, and a deadline of less leaves no time for one. */
static int ec2_setting_duration(const json_t *v, usec_t *ret) {
        usec_t usec;

        if (json_seconds_to_usec(v, &usec) < 0 || usec < EC2_SETTING_DURATION_USEC_MIN ||
            usec > EC2_SETTING_DURATION_USEC_MAX)
                return -EINVAL;
        *ret = usec;
        return 0;
}

static int ec2_setting_timeout(Context *ctx _unused_, const json_t *v, Ec2Settings *s) {
        return ec2_setting_duration(v, &s->timeout_usec);
}

static char *ec2_format_timeout(const Ec2Settings *s) {
        return ec2_format_seconds(s->timeout_usec);
}

static int ec2_setting_max_wait(Context *ctx _unused_, const json_t *v, Ec2Settings *s) {
        return ec2_setting_duration(v, &s->max_wait_usec);
}

static char *ec2_format_max_wait(const Ec2Settings *s) {
        return ec2_format_seconds(s->max_wait_usec);
}

static int ec2_setting_imdsv1_fallback(Context *ctx _unused_, const json_t *v, Ec2Settings *s) {
        if (!json_is_boolean(v))
                return -EINVAL;
        s->imdsv1_fallback = json_is_true(v);
        return 0;
}

static char *ec2_format_imdsv1_fallback(const Ec2Settings *s) {
        return strdup(s->imdsv1_fallback ? "true" : "false");
}

static int ec2_setting_token_ttl(Context *ctx _unused_, const json_t *v, Ec2Settings *s) {
        json_int_t ttl;

        if (!json_is_integer(v))
                return -EINVAL;
        ttl = json_integer_value(v);
        if (ttl < EC2_TOKEN_TTL_SEC_MIN || ttl > EC2_TOKEN_TTL_SEC_MAX)
                return -EINVAL;
        s->token_ttl_sec = (unsigned) ttl;
        return 0;
}

static char *ec2_format_token_ttl(const Ec2Settings *s) {
        char *text = NULL;

        if (asprintf(&text, "%u", s->token_ttl_sec) < 0)
                return NULL;
        return text;
}

/* The keys of datasource.ec2. Each parser returns -EINVAL for a value it rejects and then leaves
 * the setting as it was. format shows the setting for messages (caller owns the text), and type
 * names the YAML type of a scalar setting. */
static const struct {
        const char *key;
        int (*parse)(Context *ctx, const json_t *v, Ec2Settings *s);
        char *(*format)(const Ec2Settings *s);
        const char *type;
        const char *expected;
} ec2_setting_table[] = {
        { "metadata_urls",   ec2_setting_metadata_urls,   ec2_format_metadata_urls,   NULL,
          "a list of http:// URLs" },
        { "timeout",         ec2_setting_timeout,         ec2_format_timeout,         "number",
          "seconds from 0.001 to 86400" },
        { "max_wait",        ec2_setting_max_wait,        ec2_format_max_wait,        "number",
          "seconds from 0.001 to 86400" },
        { "imdsv1_fallback", ec2_setting_imdsv1_fallback, ec2_format_imdsv1_fallback, "boolean",
          "true or false" },
        { "token_ttl",       ec2_setting_token_ttl,       ec2_format_token_ttl,       "number",
          "whole seconds from 1 to 21600" },
};

static int ec2_settings_set_defaults(Ec2Settings *s) {
        *s = (Ec2Settings) {
                .timeout_usec = EC2_DEFAULT_TIMEOUT_USEC,
                .max_wait_usec = EC2_DEFAULT_MAX_WAIT_USEC,
                .imdsv1_fallback = EC2_DEFAULT_IMDSV1_FALLBACK,
                .token_ttl_sec = EC2_DEFAULT_TOKEN_TTL_SEC,
        };

        for (size_t i = 0; i < ELEMENTSOF(ec2_default_metadata_urls); i++) {
                int r = strv_push_take(&s->metadata_urls, strdup(ec2_default_metadata_urls[i]));
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool ec2_setting_is_known(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(ec2_setting_table); i++)
                if (streq(ec2_setting_table[i].key, key))
                        return true;
        return false;
}

/* Whether v is a quoted boolean or number, such as "no" or "60", for a setting of type ("boolean"
 * or "number"). YAML reads a quoted value as a string, not as the type the setting expects. */
static bool ec2_setting_is_quoted(const json_t *v, const char *type) {
        const char *s = json_string_value(v);
        char *end;

        if (!s || !type)
                return false;
        if (streq(type, "boolean"))
                return parse_boolean(s) >= 0;

        /* strtod() skips leading blanks and reads "inf", so the first character must belong to a
         * plain number. */
        if (s[0] == '\0' || !strchr("0123456789+-.", s[0]))
                return false;
        errno = 0;
        (void) strtod(s, &end);
        return errno == 0 && *end == '\0';
}

static void ec2_setting_report_invalid(Context *ctx, size_t i, const json_t *v, const Ec2Settings *s) {
        _cleanup_free_ char *text = ec2_setting_value_text(v), *default_text = ec2_setting_table[i].format(s);

        if (ec2_setting_is_quoted(v, ec2_setting_table[i].type))
                report_warning(ctx, -1,
                               "Invalid datasource.ec2.%s '%s': a quoted value is a string, not a %s. Expected %s "
                               "without quotes; using the default %s.",
                               ec2_setting_table[i].key, text ?: "?", ec2_setting_table[i].type,
                               ec2_setting_table[i].expected, default_text ?: "?");
        else
                report_warning(ctx, -1, "Invalid datasource.ec2.%s '%s', expected %s; using the default %s.",
                               ec2_setting_table[i].key, text ?: "?", ec2_setting_table[i].expected,
                               default_text ?: "?");
}

/* The datasource.ec2 mapping of the system configuration, or NULL when there is none or it is not
 * a mapping, which is reported. */
static const json_t *ec2_settings_section(Context *ctx) {
        const json_t *datasource = json_object_get(ctx->system_config, "datasource"), *section;
        _cleanup_free_ char *text = NULL;

        if (!datasource || json_is_null(datasource))
                return NULL;
        if (!json_is_object(datasource)) {
                text = ec2_setting_value_text(datasource);
                report_warning(ctx, -1,
                               "Invalid datasource '%s' in the configuration, expected a mapping of datasource "
                               "names to their settings; using the default EC2 settings.", text ?: "?");
                return NULL;
        }

        section = json_object_get(datasource, "ec2");
        if (!section || json_is_null(section))
                return NULL;
        if (!json_is_object(section)) {
                text = ec2_setting_value_text(section);
                report_warning(ctx, -1,
                               "Invalid datasource.ec2 '%s', expected a mapping of settings; using the default "
                               "EC2 settings.", text ?: "?");
                return NULL;
        }
        return section;
}

int ec2_settings_parse(Context *ctx, Ec2Settings *ret) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        const json_t *section, *v;
        const char *key;
        int r;

        assert(ctx);
        assert(ret);

        r = ec2_settings_set_defaults(&s);
        if (r < 0)
                return r;

        section = ec2_settings_section(ctx);
        for (size_t i = 0; section && i < ELEMENTSOF(ec2_setting_table); i++) {
                v = json_object_get(section, ec2_setting_table[i].key);
                if (!v)
                        continue;
                r = ec2_setting_table[i].parse(ctx, v, &s);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        ec2_setting_report_invalid(ctx, i, v, &s);
        }

        json_object_foreach((json_t *) section, key, v)
                if (!ec2_setting_is_known(key)) {
                        _cleanup_free_ char *text = ec2_setting_value_text(v);

                        report_warning(ctx, -1, "Unknown setting datasource.ec2.%s with the value '%s', ignoring.",
                                       key, text ?: "?");
                }

        *ret = s;
        s = (Ec2Settings) {};
        return 0;
}

void ec2_settings_done(Ec2Settings *s) {
        if (!s)
                return;
        s->metadata_urls = strv_free(s->metadata_urls);
}

/* ---- Detection ---- */

bool ec2_uuid_is_ec2(const char *uuid) {
        char hex[32];
        size_t n = 0, len;

        if (!uuid)
                return false;
        len = strlen(uuid);
        while (len > 0 && char_is_blank(uuid[len - 1]))
                len--;

        if (len >= 3 && strncasecmp(uuid, "ec2", 3) == 0)
                return true;

        /* The other byte order needs the UUID's 32 hex digits. Hyphens and braces only separate them. */
        for (size_t i = 0; i < len; i++) {
                char c = uuid[i];

                if (c == '-' || c == '{' || c == '}')
                        continue;
                if (!isxdigit((unsigned char) c) || n >= sizeof(hex))
                        return false;
                hex[n++] = c;
        }
        if (n != sizeof(hex))
                return false;

        /* Little-endian, the first field's bytes run backwards: its text starts with the fourth
         * byte (digits 6-7), followed by the third (digits 4-5). */
        return strncasecmp((const char[]) { hex[6], hex[7], hex[4] }, "ec2", 3) == 0;
}

bool ec2_dmi_is_ec2(const char *hypervisor_uuid, const char *product_uuid, const char *sys_vendor) {
        if (ec2_uuid_is_ec2(hypervisor_uuid) || ec2_uuid_is_ec2(product_uuid))
                return true;

        if (sys_vendor) {
                size_t len = strlen(sys_vendor);

                while (len > 0 && char_is_blank(sys_vendor[len - 1]))
                        len--;
                if (len == strlen(EC2_SYS_VENDOR) && strneq(sys_vendor, EC2_SYS_VENDOR, len))
                        return true;
        }
        return false;
}

/* Read a DMI file under the root into *ret, which is NULL when the file is missing or unreadable. */
static int ec2_read_dmi(int root_fd, const char *path, char **ret) {
        int r;

        r = read_file_at(root_fd, path, EC2_DMI_FILE_SIZE_MAX, ret, /* ret_size= */ NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r != -ENOENT)
                        log_debug_errno(r, "Failed to read '%s', ignoring: %m", path);
                *ret = NULL;
        }
        return 0;
}

static int ec2_detect(Context *ctx) {
        _cleanup_free_ char *hypervisor_uuid = NULL, *product_uuid = NULL, *sys_vendor = NULL;
        int r;

        r = ec2_read_dmi(ctx->root_fd, "sys/hypervisor/uuid", &hypervisor_uuid);
        if (r < 0)
                return r;
        r = ec2_read_dmi(ctx->root_fd, "sys/class/dmi/id/product_uuid", &product_uuid);
        if (r < 0)
                return r;
        r = ec2_read_dmi(ctx->root_fd, "sys/class/dmi/id/sys_vendor", &sys_vendor);
        if (r < 0)
                return r;

        return ec2_dmi_is_ec2(hypervisor_uuid, product_uuid, sys_vendor);
}

/* ---- Parsers for metadata values ---- */

int ec2_region_from_availability_zone(const char *availability_zone, char **ret) {
        const char *field = availability_zone;

        assert(ret);

        if (!availability_zone)
                return -EINVAL;

        /* The search starts at the second field, because region names start with letters ("us"). */
        for (field = strchr(field, '-'); field; field = strchr(field, '-')) {
                field++;
                if (!isdigit((unsigned char) *field))
                        continue;

                field += strspn(field, "0123456789");
                if (*field != '\0' && *field != '-' && !isalpha((unsigned char) *field))
                        return -EINVAL;
                *ret = strndup(availability_zone, (size_t) (field - availability_zone));
                return *ret ? 0 : -ENOMEM;
        }
        return -EINVAL;
}

int ec2_split_listing(const char *text, char ***ret) {
        _cleanup_strv_free_ char **entries = NULL;
        bool truncated = false;
        size_t n = 0;

        assert(text);
        assert(ret);

        for (const char *line = text; *line; ) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *entry = strndup_trimmed(line, len);
                int r;

                if (!entry)
                        return -ENOMEM;
                line += len + (line[len] == '\n');
                if (entry[0] == '\0')
                        continue;
                if (n >= EC2_LISTING_ENTRIES_MAX) {
                        truncated = true;
                        break;
                }
                r = strv_push_take(&entries, TAKE_PTR(entry));
                if (r < 0)
                        return r;
                n++;
        }

        if (!entries) {
                entries = calloc(1, sizeof(char *));
                if (!entries)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(entries);
        return truncated;
}

Ec2PublicKeyEntry *ec2_public_key_entries_free(Ec2PublicKeyEntry *entries, size_t n) {
        for (size_t i = 0; entries && i < n; i++)
                free(entries[i].name);
        free(entries);
        return NULL;
}

/* One listing line "INDEX=NAME". Returns 1 when parsed, 0 when the line has another shape. */
static int ec2_parse_public_key_line(const char *line, Ec2PublicKeyEntry *ret) {
        const char *eq = strchr(line, '=');
        _cleanup_free_ char *index = NULL;
        unsigned i;

        if (!eq || eq == line || eq[1] == '\0')
                return 0;
        index = strndup(line, (size_t) (eq - line));
        if (!index)
                return -ENOMEM;
        if (safe_atou(index, &i) < 0)
                return 0;

        ret->name = strdup(eq + 1);
        if (!ret->name)
                return -ENOMEM;
        ret->index = i;
        return 1;
}

int ec2_parse_public_key_listing(const char *text, Ec2PublicKeyEntry **ret, size_t *ret_n, char ***ret_invalid) {
        _cleanup_strv_free_ char **lines = NULL, **invalid = NULL;
        Ec2PublicKeyEntry *entries;
        size_t n = 0;
        int truncated, r;

        assert(ret);
        assert(ret_n);
        assert(ret_invalid);

        truncated = ec2_split_listing(text, &lines);
        if (truncated < 0)
                return truncated;

        entries = calloc(strv_length(lines) + 1, sizeof(Ec2PublicKeyEntry));
        invalid = calloc(1, sizeof(char *));
        if (!entries || !invalid) {
                free(entries);
                return -ENOMEM;
        }

        for (char **line = lines; *line; line++) {
                r = ec2_parse_public_key_line(*line, &entries[n]);
                if (r == 0)
                        r = strv_push_take(&invalid, strdup(*line));
                else if (r > 0)
                        n++;
                if (r < 0) {
                        ec2_public_key_entries_free(entries, n);
                        return r;
                }
        }

        *ret = entries;
        *ret_n = n;
        *ret_invalid = TAKE_PTR(invalid);
        return truncated;
}

bool ec2_instance_id_is_valid(const char *id) {
        size_t len;

        if (!id)
                return false;
        len = strlen(id);
        if (len == 0 || len > EC2_INSTANCE_ID_SIZE_MAX || streq(id, ".") || streq(id, ".."))
                return false;
        for (const char *p = id; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._:-", *p))
                        return false;
        return true;
}

bool ec2_tag_key_is_valid(const char *key) {
        size_t len;

        if (!key)
                return false;
        len = strlen(key);
        if (len == 0 || len > EC2_TAG_KEY_SIZE_MAX || streq(key, ".") || streq(key, "..") || streq(key, "_index"))
                return false;
        for (const char *p = key; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("+-=.,_:@", *p))
                        return false;
        return true;
}

int ec2_append_ssh_keys(const char *body, json_t *keys) {
        assert(body);
        assert(keys);

        for (const char *line = body; *line; ) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *key = strndup_trimmed(line, len);
                json_t *v;

                if (!key)
                        return -ENOMEM;
                line += len + (line[len] == '\n');
                if (key[0] == '\0' || key[0] == '#')
                        continue;

                v = json_string(key);
                if (!v) {
                        log_warning("Public key line is not valid UTF-8, skipping.");
                        continue;
                }
                if (json_array_append_new(keys, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- Reading the instance ---- */

/* The state of one crawl: the values collected, which become the Instance, and where problems in
 * them are reported. */
typedef struct Ec2Crawl {
        Context *ctx;            /* borrowed; metadata problems are reported against it */
        Imds *imds;              /* borrowed */
        json_t *meta_data;       /* raw "meta-data" tree */
        json_t *document;        /* the instance identity document, or NULL */
        json_t *tags;            /* instance tags, or NULL when the service publishes none */
        json_t *ssh_keys;        /* normalized public_ssh_keys */
        char *user_data;
        size_t user_data_size;
        bool has_user_data;
} Ec2Crawl;

static void ec2_crawl_done(Ec2Crawl *c) {
        json_decref(c->meta_data);
        json_decref(c->document);
        json_decref(c->tags);
        json_decref(c->ssh_keys);
        free(c->user_data);
        *c = (Ec2Crawl) {};
}

/* GET a text value and store it in object under key, blanks around it removed. A 404 stores
 * nothing, and a value that is not UTF-8 is reported and skipped. Returns 1 when stored, 0 when
 * absent or skipped, -errno on failure. */
static int ec2_fetch_text(Ec2Crawl *c, const char *path, json_t *object, const char *key, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *text = NULL;
        json_t *v;
        int r;

        r = imds_get(c->imds, path, &response, reterr_message);
        if (r == -ENOENT) {
                log_debug("The metadata service has no '%s'.", path);
                return 0;
        }
        if (r < 0)
                return r;

        text = strndup_trimmed(response.body, response.body_size);
        if (!text)
                return -ENOMEM;
        v = json_string(text);
        if (!v) {
                report_warning(c->ctx, -1, "Metadata value '%s' is not valid UTF-8 text, ignoring.", path);
                return 0;
        }
        if (json_object_set_new(object, key, v) < 0)
                return -ENOMEM;
        return 1;
}

static int ec2_fetch_public_key(Ec2Crawl *c, const Ec2PublicKeyEntry *entry, json_t *raw_keys,
                                char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *v;
        int r;

        if (asprintf(&path, IMDS_PUBLIC_KEYS "%u/openssh-key", entry->index) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = imds_get(c->imds, path, &response, reterr_message);
        if (r == -ENOENT) {
                report_warning(c->ctx, -1, "Public key '%s' is listed but '%s' does not exist, skipping.",
                               entry->name, path);
                return 0;
        }
        if (r < 0)
                return r;

        text = strndup_trimmed(response.body, response.body_size);
        if (!text)
                return -ENOMEM;
        v = json_string(text);
        if (!v) {
                report_warning(c->ctx, -1, "Public key '%s' at '%s' is not valid UTF-8 text, skipping.",
                               entry->name, path);
                return 0;
        }
        if (json_object_set_new(raw_keys, entry->name, v) < 0)
                return -ENOMEM;
        return ec2_append_ssh_keys(text, c->ssh_keys);
}

static int ec2_fetch_public_keys(Ec2Crawl *c, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_strv_free_ char **invalid = NULL;
        json_auto_t *raw_keys = NULL;
        Ec2PublicKeyEntry *entries = NULL;
        size_t n = 0;
        int r;

        r = imds_get(c->imds, IMDS_PUBLIC_KEYS, &response, reterr_message);
        if (r == -ENOENT) {
                log_debug("The metadata service lists no public keys.");
                return 0;
        }
        if (r < 0)
                return r;

        r = ec2_parse_public_key_listing(response.body, &entries, &n, &invalid);
        if (r < 0)
                return r;
        if (r > 0)
                report_warning(c->ctx, -1, "The listing '%s' has more than %d entries, skipping the rest.",
                               IMDS_PUBLIC_KEYS, EC2_LISTING_ENTRIES_MAX);
        for (char **line = invalid; *line; line++)
                report_warning(c->ctx, -1, "Invalid entry '%s' in the listing '%s', expected INDEX=NAME, skipping.",
                               *line, IMDS_PUBLIC_KEYS);

        raw_keys = json_object();
        if (!raw_keys) {
                ec2_public_key_entries_free(entries, n);
                return -ENOMEM;
        }

        r = 0;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = ec2_fetch_public_key(c, &entries[i], raw_keys, reterr_message);
        ec2_public_key_entries_free(entries, n);
        if (r < 0)
                return r;

        return json_object_set_new(c->meta_data, "public-keys", TAKE_PTR(raw_keys)) < 0 ? -ENOMEM : 0;
}

static int ec2_fetch_identity_document(Ec2Crawl *c, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        json_error_t error;
        json_t *document;
        int r;

        r = imds_get(c->imds, IMDS_IDENTITY_DOCUMENT, &response, reterr_message);
        if (r == -ENOENT) {
                log_debug("The metadata service has no instance identity document.");
                return 0;
        }
        if (r < 0)
                return r;

        document = json_loadb(response.body, response.body_size, JSON_REJECT_DUPLICATES, &error);
        if (!document) {
                report_warning(c->ctx, -1, "The instance identity document '%s' is not valid JSON (line %d: %s), ignoring.",
                               IMDS_IDENTITY_DOCUMENT, error.line, error.text);
                return 0;
        }
        if (!json_is_object(document)) {
                report_warning(c->ctx, -1, "The instance identity document '%s' is not a JSON object, ignoring.",
                               IMDS_IDENTITY_DOCUMENT);
                json_decref(document);
                return 0;
        }
        c->document = document;
        return 0;
}

static int ec2_fetch_tag(Ec2Crawl *c, const char *key, json_t *tags, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *path = NULL;
        json_t *v;
        int r;

        if (asprintf(&path, IMDS_TAGS "%s", key) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = imds_get(c->imds, path, &response, reterr_message);
        if (r == -ENOENT) {
                report_warning(c->ctx, -1, "Instance tag '%s' is listed but '%s' does not exist, skipping.", key, path);
                return 0;
        }
        if (r < 0)
                return r;

        /* Tag values are kept exactly as served: blanks may be part of them. */
        v = json_stringn(response.body, response.body_size);
        if (!v) {
                report_warning(c->ctx, -1, "Instance tag '%s' at '%s' is not valid UTF-8 text, skipping.", key, path);
                return 0;
        }
        return json_object_set_new(tags, key, v) < 0 ? -ENOMEM : 0;
}

static int ec2_fetch_tags(Ec2Crawl *c, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        json_auto_t *tags = NULL;
        _cleanup_strv_free_ char **keys = NULL;
        int r;

        /* The listing exists only when the instance allows tags in metadata. */
        r = imds_get(c->imds, IMDS_TAGS, &response, reterr_message);
        if (r == -ENOENT) {
                log_debug("The metadata service publishes no instance tags.");
                return 0;
        }
        if (r < 0)
                return r;

        r = ec2_split_listing(response.body, &keys);
        if (r < 0)
                return r;
        if (r > 0)
                report_warning(c->ctx, -1, "The listing '%s' has more than %d entries, skipping the rest.",
                               IMDS_TAGS, EC2_LISTING_ENTRIES_MAX);
        tags = json_object();
        if (!tags)
                return -ENOMEM;

        for (char **key = keys; *key; key++) {
                if (!ec2_tag_key_is_valid(*key)) {
                        report_warning(c->ctx, -1,
                                       "Invalid instance tag key '%s' in the listing '%s', expected 1 to 128 letters, "
                                       "digits and + - = . , _ : @, skipping.", *key, IMDS_TAGS);
                        continue;
                }
                r = ec2_fetch_tag(c, *key, tags, reterr_message);
                if (r < 0)
                        return r;
        }

        c->tags = TAKE_PTR(tags);
        return 0;
}

static int ec2_fetch_user_data(Ec2Crawl *c, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        int r;

        /* A 404 means that the instance was launched without user data. Its HTML body is not data. */
        r = imds_get(c->imds, IMDS_USER_DATA, &response, reterr_message);
        if (r == -ENOENT) {
                log_info("The instance has no user data.");
                return 0;
        }
        if (r < 0)
                return r;

        c->user_data = TAKE_PTR(response.body);
        c->user_data_size = response.body_size;
        c->has_user_data = true;
        return 0;
}

/* A string member of an object, or NULL (borrowed). */
static const char *json_string_member(const json_t *object, const char *key) {
        return json_string_value(json_object_get(object, key));
}

static int ec2_crawl(Ec2Crawl *c, char **reterr_message) {
        /* The zone and region of the signed identity document win over meta-data, as in
         * cloud-init, so those paths are read only when the document lacks them: fewer requests
         * mean a faster boot and fewer uses of the token. */
        static const struct {
                const char *path;
                const char *key;
                const char *document_key;
        } leaves[] = {
                { IMDS_META_DATA "local-hostname",              "local-hostname",    NULL },
                { IMDS_META_DATA "placement/availability-zone", "availability-zone", "availabilityZone" },
                { IMDS_META_DATA "placement/region",            "region",            "region" },
        };
        json_t *placement;
        int r;

        c->meta_data = json_object();
        c->ssh_keys = json_array();
        placement = json_object();
        if (!c->meta_data || !c->ssh_keys || !placement ||
            json_object_set_new(c->meta_data, "placement", placement) < 0)
                return -ENOMEM;

        r = ec2_fetch_text(c, IMDS_META_DATA "instance-id", c->meta_data, "instance-id", reterr_message);
        if (r < 0)
                return r;
        r = ec2_fetch_identity_document(c, reterr_message);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(leaves); i++) {
                json_t *parent = strstr(leaves[i].path, "/placement/") ? placement : c->meta_data;

                if (leaves[i].document_key && json_string_member(c->document, leaves[i].document_key))
                        continue;
                r = ec2_fetch_text(c, leaves[i].path, parent, leaves[i].key, reterr_message);
                if (r < 0)
                        return r;
        }
        if (json_object_size(placement) == 0)
                (void) json_object_del(c->meta_data, "placement");

        r = ec2_fetch_public_keys(c, reterr_message);
        if (r < 0)
                return r;
        r = ec2_fetch_tags(c, reterr_message);
        if (r < 0)
                return r;
        return ec2_fetch_user_data(c, reterr_message);
}

/* The region: the identity document's, else placement/region, else derived from the zone. */
static int ec2_region(Context *ctx, const char *document_region, const char *placement_region, const char *zone,
                      char **ret) {
        int r;

        if (document_region || placement_region) {
                *ret = strdup(document_region ?: placement_region);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = NULL;
        if (!zone)
                return 0;

        r = ec2_region_from_availability_zone(zone, ret);
        if (r == -EINVAL) {
                report_warning(ctx, -1, "Cannot derive a region from the availability zone '%s', ignoring.", zone);
                return 0;
        }
        return r;
}

static json_t *json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static int ec2_build_metadata(const Ec2Crawl *c, const char *instance_id, json_t **ret) {
        const json_t *placement = json_object_get(c->meta_data, "placement");
        const char *zone = json_string_member(c->document, "availabilityZone") ?:
                json_string_member(placement, "availability-zone");
        _cleanup_free_ char *region = NULL;
        json_t *metadata;
        int r;

        r = ec2_region(c->ctx, json_string_member(c->document, "region"), json_string_member(placement, "region"),
                       zone, &region);
        if (r < 0)
                return r;

        metadata = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:O}",
                             "instance_id", instance_id,
                             "local_hostname", json_string_or_null(json_string_member(c->meta_data, "local-hostname")),
                             "region", json_string_or_null(region),
                             "availability_zone", json_string_or_null(zone),
                             "cloud_name", "aws",
                             "platform", "ec2",
                             "public_ssh_keys", c->ssh_keys);
        if (!metadata)
                return -ENOMEM;
        *ret = metadata;
        return 0;
}

static int ec2_build_raw(const Ec2Crawl *c, json_t **ret) {
        json_t *raw = json_pack("{s:O, s:{s:{s:O}}, s:O}",
                                "meta-data", c->meta_data,
                                "dynamic", "instance-identity", "document", c->document ?: json_null(),
                                "tags", c->tags ?: json_null());
        if (!raw)
                return -ENOMEM;
        if (!c->document)
                (void) json_object_del(raw, "dynamic");
        if (!c->tags)
                (void) json_object_del(raw, "tags");
        *ret = raw;
        return 0;
}

static int ec2_build_instance(Ec2Crawl *c, Instance **ret, char **reterr_message) {
        _cleanup_instance_free_ Instance *instance = NULL;
        json_auto_t *metadata = NULL, *raw = NULL;
        const char *id;
        int r;

        /* The identity document is signed by AWS, so its instanceId wins. */
        id = json_string_member(c->document, "instanceId") ?: json_string_member(c->meta_data, "instance-id");
        if (!id)
                return set_message(reterr_message, -EIO, "the metadata service returned no instance id");
        if (!ec2_instance_id_is_valid(id))
                return set_message(reterr_message, -EBADMSG,
                                   "the metadata service returned an invalid instance id, expected 1 to 255 letters, digits, '.', '_', ':' or '-'");

        instance = instance_new();
        if (!instance)
                return -ENOMEM;
        instance->datasource = strdup("ec2");
        instance->instance_id = strdup(id);
        if (!instance->datasource || !instance->instance_id)
                return -ENOMEM;

        r = ec2_build_metadata(c, id, &metadata);
        if (r < 0)
                return r;
        r = ec2_build_raw(c, &raw);
        if (r < 0)
                return r;
        json_decref(instance->metadata);
        instance->metadata = TAKE_PTR(metadata);
        json_decref(instance->raw);
        instance->raw = TAKE_PTR(raw);

        instance->user_data = TAKE_PTR(c->user_data);
        instance->user_data_size = c->user_data_size;
        instance->has_user_data = c->has_user_data;

        *ret = TAKE_PTR(instance);
        return 0;
}

static int ec2_fetch_with_settings(Context *ctx, const Ec2Settings *settings, Instance **ret,
                                   char **reterr_message) {
        _cleanup_(imds_done) Imds m = {};
        _cleanup_(ec2_crawl_done) Ec2Crawl crawl = { .ctx = ctx, .imds = &m };
        int r;

        r = imds_open(&m, settings, reterr_message);
        if (r < 0)
                return r;
        log_info("Reading instance data from '%s' with %s.", m.base_url, m.imdsv1 ? "IMDSv1" : "IMDSv2");

        r = ec2_crawl(&crawl, reterr_message);
        if (r < 0)
                return r;
        return ec2_build_instance(&crawl, ret, reterr_message);
}

static int ec2_fetch(Context *ctx, Instance **ret, char **reterr_message) {
        _cleanup_(ec2_settings_done) Ec2Settings settings = {};
        _cleanup_free_ char *message = NULL;
        int r;

        assert(ctx);
        assert(ret);
        assert(reterr_message);

        r = ec2_settings_parse(ctx, &settings);
        if (r >= 0)
                r = ec2_fetch_with_settings(ctx, &settings, ret, &message);
        if (r >= 0)
                return 0;

        /* Every failure comes with a reason, even one as plain as running out of memory. */
        *reterr_message = message ? TAKE_PTR(message) : strdup(strerror(-r));
        return r;
}

const Datasource datasource_ec2 = {
        .name = "ec2",
        .detect = ec2_detect,
        .fetch = ec2_fetch,
};
