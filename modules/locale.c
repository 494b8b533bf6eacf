/* SPDX-License-Identifier: Apache-2.0 */
/* The locale module: sets the system's LANG from the cloud-config, as cloud-init's Debian and RHEL
 * distro code does. On Debian the locale is generated with locale-gen when the image has it. */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "report.h"

#define DEBIAN_LOCALE_FILE "/etc/default/locale"
#define RHEL_LOCALE_FILE "/etc/locale.conf"
#define LOCALE_GEN_FILE "/etc/locale.gen"
#define SUPPORTED_FILE "/usr/share/i18n/SUPPORTED"
#define LOCALE_DIR "/usr/lib/locale"

/* Maximum length of a locale name, such as "ca_ES.UTF-8@valencia". */
#define LOCALE_LENGTH_MAX 64U
/* Maximum size of the locale config file and /etc/locale.gen (Debian's lists ~500 lines in 12 KiB). */
#define LOCALE_FILE_MAX (256U * 1024U)
/* Maximum length of a shown value in error messages. */
#define LOCALE_SHOWN_VALUE_MAX 80U

/* Whether the image has the command, as exec_in_root() looks it up. */
static bool command_exists(int root_fd, const char *name) {
        return exec_find_in_root(root_fd, name, /* ret_path= */ NULL) > 0;
}

static bool char_is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Count the characters at s that are letters, digits or one of extra. */
static size_t span_of(const char *s, const char *extra) {
        size_t n = 0;

        while (s[n] && (char_is_alnum(s[n]) || strchr(extra, s[n])))
                n++;
        return n;
}

/* Check a locale name against the grammar language[_territory][.codeset][@modifier], where the
 * language is 1 to 8 letters ("C", "POSIX" and "en" alike), the territory 2 or 3 letters or digits,
 * and codeset and modifier letters, digits, '-' and '_'. Returns 0 or -EINVAL. */
static int locale_name_check(const char *name) {
        const char *p = name;
        size_t n;

        if (strlen(name) > LOCALE_LENGTH_MAX)
                return -EINVAL;

        for (n = 0; (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'); n++)
                ;
        if (n < 1 || n > 8)
                return -EINVAL;
        p += n;

        if (*p == '_') {
                n = span_of(p + 1, "");
                if (n < 2 || n > 3)
                        return -EINVAL;
                p += 1 + n;
        }
        if (*p == '.') {
                n = span_of(p + 1, "-_");
                if (n < 1)
                        return -EINVAL;
                p += 1 + n;
        }
        if (*p == '@') {
                n = span_of(p + 1, "-_");
                if (n < 1)
                        return -EINVAL;
                p += 1 + n;
        }
        return *p == '\0' ? 0 : -EINVAL;
}

/* C, C.UTF-8 and POSIX are built into glibc, so they need no generation. */
static bool locale_is_builtin(const char *name) {
        return strcasecmp(name, "C") == 0 || strcasecmp(name, "POSIX") == 0 || strcasecmp(name, "C.UTF-8") == 0 ||
               strcasecmp(name, "C.utf8") == 0;
}

/* The value of key in a file of KEY=value lines, with one pair of surrounding quotes removed, or
 * NULL when the key is not set. Caller owns the result. */
static char *env_text_get(const char *text, const char *key) {
        size_t key_len = strlen(key);
        char *value = NULL;

        for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                size_t len = strcspn(line, "\n");

                line += strspn(line, " \t");
                if (strneq(line, "export ", 7))
                        line += 7;
                if (!strneq(line, key, key_len) || line[key_len] != '=')
                        continue;
                line += key_len + 1;
                len = strcspn(line, "\n");
                if (len >= 2 && (line[0] == '"' || line[0] == '\'') && line[len - 1] == line[0]) {
                        line++;
                        len -= 2;
                }
                free(value);
                value = strndup(line, len);
        }
        return value;
}

/* The line of /etc/locale.gen for the locale: the line of Debian's list of supported locales whose
 * name is the locale, or "NAME CODESET" made from the name (UTF-8 when it has no codeset), as
 * cloud-init falls back to. Caller owns the result. */
static char *locale_gen_line(int root_fd, const char *name) {
        _cleanup_free_ char *supported = NULL;
        const char *dot = strchr(name, '.');
        size_t size = 0, name_len = strlen(name);
        char *line = NULL;

        if (read_file_at(root_fd, SUPPORTED_FILE, LOCALE_FILE_MAX, &supported, &size) >= 0)
                for (char *l = supported; l && *l;) {
                        char *next = strchr(l, '\n');

                        if (next)
                                *next++ = '\0';
                        if (strneq(l, name, name_len) && l[name_len] == ' ')
                                return strdup(l);
                        l = next;
                }

        if (dot && asprintf(&line, "%s %.*s", name, (int) strcspn(dot + 1, "@"), dot + 1) < 0)
                return NULL;
        if (!dot && asprintf(&line, "%s.UTF-8 UTF-8", name) < 0)
                return NULL;
        return line;
}

typedef struct LocaleGenEdit {
        const char *entry;
        bool found;
} LocaleGenEdit;

/* Keep each line of /etc/locale.gen, uncommenting the first copy of the entry, and append the
 * entry when no line had it. */
static int locale_gen_edit_line(char *line, FILE *out, void *userdata) {
        LocaleGenEdit *e = userdata;

        if (!line) {
                if (!e->found)
                        fprintf(out, "%s\n", e->entry);
                return 0;
        }
        if (!e->found && streq(line + strspn(line, "# \t"), e->entry)) {
                fprintf(out, "%s\n", e->entry);
                e->found = true;
        } else
                fprintf(out, "%s\n", line);
        return 0;
}

/* Enable line in /etc/locale.gen: a commented-out copy is uncommented, a missing one appended.
 * Returns 1 when the file changed, 0 when the line was already enabled, -errno on failure. */
static int locale_gen_enable(int root_fd, const char *entry) {
        LocaleGenEdit e = { .entry = entry };

        return root_file_edit_lines(root_fd, LOCALE_GEN_FILE, LOCALE_FILE_MAX, (mode_t) -1,
                                    WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED, locale_gen_edit_line, &e);
}

/* glibc's directory name of a compiled locale: the codeset in lower case without '-' or '_'
 * ("en_US.UTF-8" is /usr/lib/locale/en_US.utf8). */
static char *locale_dir_path(const char *name) {
        size_t base = strcspn(name, ".@");
        const char *modifier = strchr(name, '@');
        char *path, *w;

        path = malloc(strlen(LOCALE_DIR) + 1 + strlen(name) + 1);
        if (!path)
                return NULL;
        w = stpncpy(stpcpy(path, LOCALE_DIR "/"), name, base);
        if (name[base] == '.') {
                *w++ = '.';
                for (const char *c = name + base + 1; *c && *c != '@'; c++)
                        if (*c != '-' && *c != '_')
                                *w++ = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        }
        (void) stpcpy(w, modifier ?: "");
        return path;
}

/* Generate the locale with the image's locale-gen, as cloud-init does. cloud-init installs the
 * locales package when locale-gen is missing, but kiln installs no packages. A missing locale-gen
 * is then a warning, not an error, because LANG is still written and takes effect once the image
 * has the locale. Returns 0, or <0 after reporting. */
static int locale_generate(Context *ctx, const char *name) {
        _cleanup_free_ char *entry = NULL, *dir = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        int r;

        if (locale_is_builtin(name))
                return 0;

        if (!command_exists(ctx->root_fd, "locale-gen")) {
                dir = locale_dir_path(name);
                if (dir && root_exists(ctx->root_fd, dir) > 0)
                        return 0;
                report_warning(ctx, -1, "locale: locale-gen is not in the image, so the locale '%s' cannot be "
                               "generated. LANG is set to it, but programs use the C locale until the image "
                               "has it. Install the locales package in the image.", name);
                return 0;
        }

        entry = locale_gen_line(ctx->root_fd, name);
        if (!entry)
                return report_error(ctx, -1, -ENOMEM, "Failed to generate the locale '%s': %m", name);
        r = locale_gen_enable(ctx->root_fd, entry);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to enable '%s' in %s: %m", entry, LOCALE_GEN_FILE);
        if (r > 0)
                log_info("Enabled '%s' in %s.", entry, LOCALE_GEN_FILE);

        output_fd = command_output_open(ctx, "locale");
        return command_run(ctx, "locale-gen", -1, (char *[]) { "locale-gen", "--keep-existing", NULL }, output_fd);
}

/* Write LANG with the image's update-locale, which Debian's locales package ships, or edit the
 * file directly without it. Returns 1 when the file changed, <0 after reporting. */
static int locale_file_write(Context *ctx, const char *path, const char *name, bool use_update_locale) {
        _cleanup_free_ char *file_option = NULL, *assignment = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        int r;

        if (!use_update_locale) {
                r = env_file_set(ctx->root_fd, path, LOCALE_FILE_MAX, "LANG", name, (mode_t) -1,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to write LANG=%s to %s: %m", name, path);
                log_info("Wrote LANG=%s to %s.", name, path);
                return 1;
        }

        if (asprintf(&file_option, "--locale-file=%s", path) < 0 || asprintf(&assignment, "LANG=%s", name) < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to write LANG=%s to %s: %m", name, path);
        output_fd = command_output_open(ctx, "locale");
        r = command_run(ctx, "update-locale", -1, (char *[]) { "update-locale", file_option, assignment, NULL },
                        output_fd);
        return r < 0 ? r : 1;
}

/* Read the locale key: a name, or false (a boolean, or a string that cloud-init's is_false()
 * reads as false) to leave the locale alone. Returns 1 with the name, 0 to skip, <0 after
 * reporting. */
static int locale_parse(Context *ctx, const json_t *config, const char **ret) {
        const json_t *v = json_object_get(config, "locale");
        _cleanup_free_ char *shown = NULL;
        const char *name;

        if (!v || json_is_null(v) || json_is_false(v))
                return 0;
        shown = json_to_message(v, LOCALE_SHOWN_VALUE_MAX);
        if (!json_is_string(v))
                return report_error(ctx, -1, 0, "locale is %s, not a locale name such as 'en_US.UTF-8', or false.",
                                    shown ?: "another value");

        name = json_string_value(v);
        if (strcasecmp(name, "false") == 0 || strcasecmp(name, "off") == 0 || strcasecmp(name, "no") == 0 ||
            streq(name, "0"))
                return 0;
        if (locale_name_check(name) < 0)
                return report_error(ctx, -1, 0, "locale %s is not a valid locale name. Use "
                                    "language[_territory][.codeset][@modifier], such as 'en_US.UTF-8'.",
                                    shown ?: "value");
        *ret = name;
        return 1;
}

static int locale_configfile_parse(Context *ctx, const json_t *config, bool rhel, const char **ret) {
        const json_t *v = json_object_get(config, "locale_configfile");
        _cleanup_free_ char *shown = NULL;
        const char *path;

        *ret = rhel ? RHEL_LOCALE_FILE : DEBIAN_LOCALE_FILE;
        if (!v || json_is_null(v))
                return 0;

        shown = json_to_message(v, LOCALE_SHOWN_VALUE_MAX);
        path = json_string_value(v);
        if (!path || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") || strlen(path) >= PATH_MAX)
                return report_error(ctx, -1, 0, "locale_configfile %s is not an absolute path such as '%s'.",
                                    shown ?: "value", *ret);
        *ret = path;
        return 0;
}

static int locale_run(Context *ctx, const json_t *config) {
        _cleanup_free_ char *current = NULL, *data = NULL;
        const char *name = NULL, *path;
        size_t size = 0;
        bool rhel;
        int r;

        r = locale_parse(ctx, config, &name);
        if (r <= 0) {
                if (r == 0)
                        log_debug("locale is unset or false, leaving the locale unchanged.");
                return r;
        }

        /* RHEL, Fedora and Amazon Linux read /etc/locale.conf; Debian and Ubuntu /etc/default/locale. */
        rhel = root_exists(ctx->root_fd, "/etc/redhat-release") > 0 ||
               root_exists(ctx->root_fd, "/etc/system-release") > 0;
        r = locale_configfile_parse(ctx, config, rhel, &path);
        if (r < 0)
                return r;

        r = read_file_at(ctx->root_fd, path, LOCALE_FILE_MAX, &data, &size);
        if (r < 0 && r != -ENOENT)
                return report_error(ctx, -1, r, "Failed to read %s: %m", path);
        current = data ? env_text_get(data, "LANG") : NULL;
        if (current && streq(current, name)) {
                log_debug("%s already sets LANG=%s.", path, name);
                return 0;
        }

        if (rhel) {
                r = env_file_set(ctx->root_fd, path, LOCALE_FILE_MAX, "LANG", name, (mode_t) -1,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to write LANG=%s to %s: %m", name, path);
                log_info("Wrote LANG=%s to %s.", name, path);
                return 1;
        }

        r = locale_generate(ctx, name);
        if (r < 0)
                return r;
        return locale_file_write(ctx, path, name, command_exists(ctx->root_fd, "update-locale"));
}

static const char *const locale_config_keys[] = { "locale", "locale_configfile", NULL };

static int locale_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (json_is_true(v)) {
                (void) snprintf(message, size, "is true, not a locale name such as 'en_US.UTF-8', or false.");
                return -EINVAL;
        }
        if (!json_is_string(v) || locale_name_check(json_string_value(v)) >= 0)
                return 0;
        if (strcasecmp(json_string_value(v), "false") == 0 || strcasecmp(json_string_value(v), "off") == 0 ||
            strcasecmp(json_string_value(v), "no") == 0 || streq(json_string_value(v), "0"))
                return 0;
        (void) snprintf(message, size, "is not a valid locale name. Use language[_territory][.codeset][@modifier], "
                        "such as 'en_US.UTF-8'.");
        return -EINVAL;
}

static int locale_configfile_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *path = json_string_value(v);

        if (!path || (path[0] == '/' && !strstr(path, "/../") && !strstr(path, "/./")))
                return 0;
        (void) snprintf(message, size, "is not an absolute path such as '%s'.", DEBIAN_LOCALE_FILE);
        return -EINVAL;
}

static const KeyField locale_fields[] = {
        { .name = "locale", .shape = { .types = SHAPE_STRING | SHAPE_BOOLEAN | SHAPE_NULL, .check = locale_check },
          .description = KEY_DESCRIPTION("The system locale to set as LANG, such as 'en_US.UTF-8', or "
                                         "false to leave the locale unchanged. On Debian it is "
                                         "generated with locale-gen when the image has it.") },
        { .name = "locale_configfile", .shape = { .types = SHAPE_STRING | SHAPE_NULL, .check = locale_configfile_check },
          .description = KEY_DESCRIPTION("The file that receives LANG. Default: /etc/default/locale, or "
                                         "/etc/locale.conf on RHEL and Fedora.") },
        {}
};

const AgentModule module_locale = {
        .name = "locale",
        .config_keys = locale_config_keys,
        .config_fields = locale_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = locale_run,
};
