/* SPDX-License-Identifier: Apache-2.0 */
/* The hostname module: sets the hostname from the cloud-config or the instance's metadata, as
 * cloud-init's set_hostname and update_hostname modules do, and leaves a later rename by an
 * administrator alone until the instance id changes. */

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "domains.h"
#include "hostname.h"
#include "log.h"
#include "module.h"
#include "report.h"

#define HOSTNAME_FILE "/etc/hostname"
/* The name kiln wrote last. ROOT/etc/hostname is only changed while it still contains this name,
 * or when the instance id differs from the one in PREVIOUS_INSTANCE_FILE. */
#define PREVIOUS_HOSTNAME_FILE "/" KILN_STATE_DIR "/previous-hostname"
/* The instance id of the run that wrote PREVIOUS_HOSTNAME_FILE. */
#define PREVIOUS_INSTANCE_FILE "/" KILN_STATE_DIR "/previous-hostname-instance"

/* Cap on reading /etc/hostname and the previous-hostname file, which contain one short line. */
#define HOSTNAME_FILE_MAX 4096U

/* The kernel's limit for the name given to sethostname() and kept in /etc/hostname. */
#define HOSTNAME_LENGTH_MAX ((size_t) HOST_NAME_MAX)
/* DNS limits in characters: a whole name, and one label between dots. */
#define FQDN_LENGTH_MAX 253U
#define LABEL_LENGTH_MAX 63U

typedef struct HostnameConfig {
        bool preserve;
        bool prefer_fqdn;
        bool create_file;
        const char *hostname;    /* borrowed from the config, NULL when unset */
        const char *fqdn;        /* borrowed from the config, NULL when unset */
        char *domain;            /* the primary public name, when hostname and fqdn are unset; owned */
} HostnameConfig;

static void hostname_config_done(HostnameConfig *c) {
        free(c->domain);
        c->domain = NULL;
}

void hostname_choice_done(HostnameChoice *c) {
        free(c->hostname);
        free(c->fqdn);
        *c = (HostnameChoice) {};
}

/* Read a boolean key as cloud-init's get_cfg_option_bool() does. A string such as "yes" is
 * accepted with a warning, anything else that is not a boolean or null is an error. */
static int config_bool(Context *ctx, const json_t *config, const char *key, bool default_value, bool *ret) {
        const json_t *v = json_object_get(config, key);
        _cleanup_free_ char *text = NULL;
        int b;

        if (!v || json_is_null(v)) {
                *ret = default_value;
                return 0;
        }
        if (json_is_boolean(v)) {
                *ret = json_is_true(v);
                return 0;
        }
        if (json_is_string(v)) {
                b = parse_boolean(json_string_value(v));
                if (b >= 0) {
                        report_warning(ctx, -1, "%s: expected a boolean, got the string '%s', which is read as %s. "
                                       "Write %s without quotes.",
                                       key, json_string_value(v), b ? "true" : "false", b ? "true" : "false");
                        *ret = b;
                        return 0;
                }
                return report_error(ctx, -1, 0, "%s: expected true or false, got '%s'.", key,
                                    json_string_value(v));
        }

        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return report_error(ctx, -1, 0, "%s: expected true or false, got %s.", key, text ?: "a non-boolean value");
}

/* Read a key whose value must be a name. YAML 1.1 reads unquoted on, off, yes and no as booleans
 * and digits as numbers, so such values are rejected with a hint instead of being converted. */
static int config_name(Context *ctx, const json_t *config, const char *key, const char **ret) {
        const json_t *v = json_object_get(config, key);
        _cleanup_free_ char *text = NULL;

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (json_is_string(v)) {
                *ret = json_string_value(v);
                return 0;
        }

        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (json_is_boolean(v))
                return report_error(ctx, -1, 0,
                                    "%s: expected a name, got the boolean %s. YAML reads unquoted yes, no, on "
                                    "and off as booleans, so quote the name.", key, text ?: "value");
        return report_error(ctx, -1, 0, "%s: expected a name as a string, got %s. Quote the name.",
                            key, text ?: "a non-string value");
}

/* Parse the keys that choose the names, the ones hostname_choose_from_config() reads. */
static int hostname_config_parse_names(Context *ctx, const json_t *config, HostnameConfig *ret) {
        int r;

        r = config_bool(ctx, config, "prefer_fqdn_over_hostname", false, &ret->prefer_fqdn);
        if (r < 0)
                return r;
        r = config_name(ctx, config, "hostname", &ret->hostname);
        if (r < 0)
                return r;
        r = config_name(ctx, config, "fqdn", &ret->fqdn);
        if (r < 0 || ret->hostname || ret->fqdn)
                return r;

        /* kiln's own rule, as cloud-init has no domains key: without hostname and fqdn, the
         * instance's primary public name is its fqdn, before any name from the metadata. */
        r = domains_primary(ctx, config, &ret->domain);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the domains: %m");
        return 0;
}

static int hostname_config_parse(Context *ctx, const json_t *config, HostnameConfig *ret) {
        int r;

        r = config_bool(ctx, config, "preserve_hostname", false, &ret->preserve);
        if (r < 0 || ret->preserve)
                return r;

        r = config_bool(ctx, config, "create_hostname_file", true, &ret->create_file);
        if (r < 0)
                return r;
        return hostname_config_parse_names(ctx, config, ret);
}

/* The two-character C escape of c, or NULL when it has none. */
static const char *short_escape_of(unsigned char c) {
        switch (c) {
        case '\n':
                return "\\n";
        case '\t':
                return "\\t";
        case '\r':
                return "\\r";
        case '\\':
                return "\\\\";
        default:
                return NULL;
        }
}

/* A copy of s for messages, with control characters and backslashes escaped as in C ("\n",
 * "\x07", "\\"), so that a name cannot break a log line. Caller owns the result. */
static char *escape_for_message(const char *s) {
        static const char hex[] = "0123456789abcdef";
        char *escaped, *p;

        /* "\xNN" is the longest escape. */
        escaped = malloc(strlen(s) * 4 + 1);
        if (!escaped)
                return NULL;

        p = escaped;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                const char *short_escape = short_escape_of(*c);

                if (short_escape) {
                        memcpy(p, short_escape, 2);
                        p += 2;
                } else if (*c < 0x20 || *c == 0x7f) {
                        *p++ = '\\';
                        *p++ = 'x';
                        *p++ = hex[*c >> 4];
                        *p++ = hex[*c & 0xf];
                } else
                        *p++ = (char) *c;
        }
        *p = '\0';
        return escaped;
}

static bool char_is_hostname(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Check one label of a hostname: 1 to 63 letters, digits and '-', neither first nor last a '-'
 * (RFC 1123). Returns 0 when it is valid, or -EINVAL with the reason in reason (size bytes). */
static int label_check(const char *label, size_t len, char *reason, size_t size) {
        _cleanup_free_ char *character = NULL, *shown = NULL;
        size_t bad = 0, char_len = 1;

        if (len == 0) {
                (void) snprintf(reason, size, "it has an empty label");
                return -EINVAL;
        }

        while (bad < len && char_is_hostname(label[bad]))
                bad++;
        if (bad < len) {
                /* A UTF-8 character is shown whole, not byte by byte. */
                while (((unsigned char) label[bad + char_len] & 0xc0) == 0x80)
                        char_len++;
                character = strndup(label + bad, char_len);
                shown = character ? escape_for_message(character) : NULL;
                (void) snprintf(reason, size, "it contains the character '%s'", shown ?: "?");
                return -EINVAL;
        }

        if (len > LABEL_LENGTH_MAX) {
                (void) snprintf(reason, size, "the label '%.*s' has %zu characters", (int) len, label, len);
                return -EINVAL;
        }
        if (label[0] == '-' || label[len - 1] == '-') {
                (void) snprintf(reason, size, "the label '%.*s' %s with '-'", (int) len, label,
                                label[0] == '-' ? "starts" : "ends");
                return -EINVAL;
        }
        return 0;
}

/* Check a name: labels as label_check() accepts them, separated by '.', and at most max
 * characters in all. Returns 0 when it is valid, or -EINVAL with the reason in reason (size bytes),
 * which shows user text escaped. */
static int hostname_check(const char *s, size_t max, char *reason, size_t size) {
        size_t n = strlen(s);

        if (n == 0) {
                (void) snprintf(reason, size, "it is empty");
                return -EINVAL;
        }
        if (n > max) {
                (void) snprintf(reason, size, "it has %zu characters", n);
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

static int check_name(Context *ctx, const char *source, const char *name, size_t max) {
        _cleanup_free_ char *shown = NULL;
        char reason[256] = "";

        if (hostname_check(name, max, reason, sizeof(reason)) >= 0)
                return 0;

        shown = escape_for_message(name);
        return report_error(ctx, -1, 0,
                            "%s: invalid hostname '%s': %s. Use letters, digits, '-' and '.', with labels of 1 to "
                            "%u characters that neither start nor end with '-', and at most %zu characters in all.",
                            source, shown ?: "?", reason, LABEL_LENGTH_MAX, max);
}

static char *name_first_label(const char *name) {
        return strndup(name, strcspn(name, "."));
}

/* The name the metadata offers: local_hostname, or "ip-10-0-0-1" when it is an IPv4 address, as
 * cloud-init makes up. Returns NULL when there is none. */
static char *metadata_hostname(const Context *ctx) {
        const json_t *v;
        struct in_addr a;
        char *s;

        if (!ctx->instance || !ctx->instance->metadata)
                return NULL;
        v = json_object_get(ctx->instance->metadata, "local_hostname");
        if (!json_is_string(v) || json_string_length(v) == 0)
                return NULL;

        if (inet_pton(AF_INET, json_string_value(v), &a) != 1)
                return strdup(json_string_value(v));

        if (asprintf(&s, "ip-%s", json_string_value(v)) < 0)
                return NULL;
        for (char *p = s; *p; p++)
                if (*p == '.')
                        *p = '-';
        return s;
}

/* Choose the names as cloud-init's util.get_hostname_fqdn() does: an fqdn in the config wins, a
 * hostname containing a dot counts as an fqdn, and the metadata fills in what the config lacks.
 * Returns 1 with a choice, 0 when no name is known, <0 after reporting an invalid name. */
static int hostname_choose(Context *ctx, const HostnameConfig *cfg, HostnameChoice *ret) {
        _cleanup_(hostname_choice_done) HostnameChoice c = {};
        _cleanup_free_ char *metadata = NULL;
        int r;

        if (cfg->hostname) {
                r = check_name(ctx, "hostname", cfg->hostname, FQDN_LENGTH_MAX);
                if (r < 0)
                        return r;
        }
        if (cfg->fqdn) {
                r = check_name(ctx, "fqdn", cfg->fqdn, FQDN_LENGTH_MAX);
                if (r < 0)
                        return r;
        }

        if (cfg->fqdn || cfg->domain) {
                const char *fqdn = cfg->fqdn ?: cfg->domain;

                c.fqdn = strdup(fqdn);
                c.hostname = cfg->hostname ? strdup(cfg->hostname) : name_first_label(fqdn);
                if (!c.fqdn || !c.hostname)
                        return report_error(ctx, -1, -ENOMEM, "Failed to choose the hostname: %m");
        } else if (cfg->hostname && strchr(cfg->hostname, '.')) {
                c.fqdn = strdup(cfg->hostname);
                c.hostname = name_first_label(cfg->hostname);
                if (!c.fqdn || !c.hostname)
                        return report_error(ctx, -1, -ENOMEM, "Failed to choose the hostname: %m");
        } else {
                metadata = metadata_hostname(ctx);
                if (metadata) {
                        r = check_name(ctx, "metadata local_hostname", metadata, FQDN_LENGTH_MAX);
                        if (r < 0)
                                return r;
                        c.fqdn = strdup(metadata);
                        if (!c.fqdn)
                                return report_error(ctx, -1, -ENOMEM, "Failed to choose the hostname: %m");
                }
                if (cfg->hostname)
                        c.hostname = strdup(cfg->hostname);
                else if (metadata)
                        c.hostname = name_first_label(metadata);
                if ((cfg->hostname || metadata) && !c.hostname)
                        return report_error(ctx, -1, -ENOMEM, "Failed to choose the hostname: %m");
        }

        if (!c.hostname && !c.fqdn)
                return 0;

        c.selected = cfg->prefer_fqdn && c.fqdn ? c.fqdn : (c.hostname ?: c.fqdn);
        r = check_name(ctx, c.selected == c.fqdn ? "fqdn" : "hostname", c.selected, HOSTNAME_LENGTH_MAX);
        if (r < 0)
                return r;

        *ret = c;
        c = (HostnameChoice) {};
        return 1;
}

int hostname_choose_from_config(Context *ctx, const json_t *config, HostnameChoice *ret) {
        _cleanup_(hostname_config_done) HostnameConfig cfg = {};
        int r;

        r = hostname_config_parse_names(ctx, config, &cfg);
        if (r < 0)
                return r;
        return hostname_choose(ctx, &cfg, ret);
}

/* Read the name in a hostname file: the first line that is not empty once comments ('#' to the
 * end of the line) and surrounding whitespace are removed. Returns 1 with the name, 0 when the
 * file is missing or contains no name, -errno on failure. */
static int hostname_file_read(int root_fd, const char *path, char **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        r = read_file_at(root_fd, path, HOSTNAME_FILE_MAX, &data, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        for (char *line = data; line && *line;) {
                char *next = strchr(line, '\n'), *end;

                if (next)
                        *next++ = '\0';
                line[strcspn(line, "#")] = '\0';
                line += strspn(line, " \t\r");
                end = line + strlen(line);
                while (end > line && strchr(" \t\r", end[-1]))
                        *--end = '\0';
                if (*line) {
                        *ret = strdup(line);
                        return *ret ? 1 : -ENOMEM;
                }
                line = next;
        }
        return 0;
}

static int hostname_file_write(Context *ctx, const char *path, const char *name) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (asprintf(&text, "%s\n", name) < 0) {
                text = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to write %s: %m", path);
        }

        r = write_file_atomic(ctx->root_fd, path, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write %s: %m", path);
        return 0;
}

/* Set the running kernel's hostname. Only when the root is the host, because for an image or a
 * scratch root the kernel's name belongs to another system. Returns 1 when it changed. */
static int hostname_apply_kernel(Context *ctx, const char *name) {
        char current[HOST_NAME_MAX + 1] = {};

        if (!ctx->root_is_host)
                return 0;

        if (gethostname(current, sizeof(current) - 1) >= 0 && streq(current, name))
                return 0;

        if (sethostname(name, strlen(name)) < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to set the hostname to '%s': %m", name);

        log_info("Set the running system's hostname to '%s'.", name);
        return 1;
}

static const char *instance_id(const Context *ctx) {
        return ctx->instance ? ctx->instance->instance_id : NULL;
}

int hostname_kept_by_administrator(Context *ctx, char **ret_current, char **ret_previous) {
        _cleanup_free_ char *current = NULL, *previous = NULL, *previous_instance = NULL;
        int r;

        r = hostname_file_read(ctx->root_fd, HOSTNAME_FILE, &current);
        if (r < 0)
                return r;
        r = hostname_file_read(ctx->root_fd, PREVIOUS_HOSTNAME_FILE, &previous);
        if (r < 0)
                return r;
        if (!current || !previous || streq(current, previous))
                return 0;

        /* A new instance gets kiln's names again, as cloud-init's per-instance set_hostname does. A
         * state without the instance file counts as the same instance. */
        r = hostname_file_read(ctx->root_fd, PREVIOUS_INSTANCE_FILE, &previous_instance);
        if (r < 0)
                return r;
        if (previous_instance && instance_id(ctx) && !streq(previous_instance, instance_id(ctx)))
                return 0;

        if (ret_current)
                *ret_current = TAKE_PTR(current);
        if (ret_previous)
                *ret_previous = TAKE_PTR(previous);
        return 1;
}

/* Record the instance that the name in PREVIOUS_HOSTNAME_FILE belongs to. */
static int previous_instance_write(Context *ctx) {
        _cleanup_free_ char *recorded = NULL;
        int r;

        if (!instance_id(ctx))
                return 0;
        r = hostname_file_read(ctx->root_fd, PREVIOUS_INSTANCE_FILE, &recorded);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read %s: %m", PREVIOUS_INSTANCE_FILE);
        if (recorded && streq(recorded, instance_id(ctx)))
                return 0;
        return hostname_file_write(ctx, PREVIOUS_INSTANCE_FILE, instance_id(ctx));
}

static int hostname_apply(Context *ctx, const HostnameConfig *cfg, const char *name) {
        _cleanup_free_ char *current = NULL, *previous = NULL;
        int r, changed = 0;

        /* Someone renamed the machine after kiln set its name on this instance: their choice wins,
         * as in cloud-init's update_hostname. */
        r = hostname_kept_by_administrator(ctx, &current, &previous);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read %s or %s: %m", HOSTNAME_FILE, PREVIOUS_HOSTNAME_FILE);
        if (r > 0) {
                _cleanup_free_ char *current_shown = escape_for_message(current),
                                    *previous_shown = escape_for_message(previous);

                log_info("%s contains '%s', not '%s' that kiln set earlier, so the administrator's hostname "
                         "is kept and '%s' is not applied.", HOSTNAME_FILE, current_shown ?: "?",
                         previous_shown ?: "?", name);
                return 0;
        }

        r = hostname_file_read(ctx->root_fd, HOSTNAME_FILE, &current);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read %s: %m", HOSTNAME_FILE);
        r = hostname_file_read(ctx->root_fd, PREVIOUS_HOSTNAME_FILE, &previous);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read %s: %m", PREVIOUS_HOSTNAME_FILE);

        if (current && streq(current, name))
                log_debug("%s already contains '%s'.", HOSTNAME_FILE, name);
        else if (!current && !cfg->create_file && root_exists(ctx->root_fd, HOSTNAME_FILE) == 0)
                log_info("create_hostname_file is false, so %s is not created.", HOSTNAME_FILE);
        else {
                r = hostname_file_write(ctx, HOSTNAME_FILE, name);
                if (r < 0)
                        return r;
                log_info("Wrote %s with the hostname '%s'.", HOSTNAME_FILE, name);
                changed = 1;
        }

        if (!previous || !streq(previous, name)) {
                r = hostname_file_write(ctx, PREVIOUS_HOSTNAME_FILE, name);
                if (r < 0)
                        return r;
        }
        r = previous_instance_write(ctx);
        if (r < 0)
                return r;

        r = hostname_apply_kernel(ctx, name);
        if (r < 0)
                return r;

        return changed || r > 0;
}

static int hostname_run(Context *ctx, const json_t *config) {
        _cleanup_(hostname_choice_done) HostnameChoice choice = {};
        _cleanup_(hostname_config_done) HostnameConfig cfg = {};
        int r;

        r = hostname_config_parse(ctx, config, &cfg);
        if (r < 0)
                return r;
        if (cfg.preserve) {
                log_debug("preserve_hostname is true, leaving the hostname unchanged.");
                return 0;
        }

        r = hostname_choose(ctx, &cfg, &choice);
        if (r < 0)
                return r;
        if (r == 0) {
                log_debug("Neither the config nor the metadata names a hostname, leaving it unchanged.");
                return 0;
        }

        return hostname_apply(ctx, &cfg, choice.selected);
}

static const char *const hostname_config_keys[] = {
        "hostname", "fqdn", "prefer_fqdn_over_hostname", "preserve_hostname", "create_hostname_file", NULL,
};

/* The rules of check_name() for a name in the config. */
static int name_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *shown = NULL;
        char reason[256] = "";

        if (!json_is_string(v))
                return 0;
        if (hostname_check(json_string_value(v), FQDN_LENGTH_MAX, reason, sizeof(reason)) >= 0)
                return 0;
        shown = escape_for_message(json_string_value(v));
        if (!shown)
                return -ENOMEM;
        (void) snprintf(message, size, "is an invalid hostname '%s': %s. Use letters, digits, '-' and '.', with "
                        "labels of 1 to %u characters that neither start nor end with '-', and at most %u "
                        "characters in all.", shown, reason, LABEL_LENGTH_MAX, FQDN_LENGTH_MAX);
        return -EINVAL;
}

static const KeyField hostname_fields[] = {
        { .name = "hostname", .shape = { .types = SHAPE_STRING | SHAPE_NULL, .check = name_check },
          .description = KEY_DESCRIPTION("The hostname to set. A name with a dot counts as the fully "
                                         "qualified name.") },
        { .name = "fqdn", .shape = { .types = SHAPE_STRING | SHAPE_NULL, .check = name_check },
          .description = KEY_DESCRIPTION("The fully qualified domain name. It wins over hostname when "
                                         "both are set. When neither is set, the first name of domains "
                                         "that is not a wildcard is the fqdn.") },
        { .name = "prefer_fqdn_over_hostname",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Set the fully qualified name instead of the short hostname. "
                                         "Default: false.") },
        { .name = "preserve_hostname",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Leave the hostname unchanged. Default: false.") },
        { .name = "create_hostname_file",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Create /etc/hostname when it does not exist. Default: true.") },
        {}
};

const AgentModule module_hostname = {
        .name = "hostname",
        .config_keys = hostname_config_keys,
        .config_fields = hostname_fields,
        .always_run = true,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = hostname_run,
};
