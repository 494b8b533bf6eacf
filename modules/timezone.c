/* SPDX-License-Identifier: Apache-2.0 */
/* The timezone module: sets the system's time zone from the cloud-config, as cloud-init's Debian
 * and RHEL distro code does: /etc/localtime becomes a symlink into /usr/share/zoneinfo, and
 * /etc/timezone and /etc/sysconfig/clock name the zone where the image uses them. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/string-util.h"
#include "log.h"
#include "module.h"
#include "report.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define LOCALTIME_FILE "/etc/localtime"
#define TIMEZONE_FILE "/etc/timezone"
#define SYSCONFIG_CLOCK_FILE "/etc/sysconfig/clock"

/* Maximum length of a zone name. The longest file name below zoneinfo in Debian 12's tzdata 2026b,
 * "right/America/North_Dakota/New_Salem", has 36 characters. */
#define TIMEZONE_LENGTH_MAX 128U
/* Maximum size of /etc/timezone and /etc/sysconfig/clock, which contain a few short lines. */
#define TIMEZONE_FILE_MAX (64U * 1024U)
/* Maximum number of directory entries compared with an unknown zone for a suggestion. */
#define TIMEZONE_CANDIDATES_MAX 1024U
/* Maximum edit distance between an unknown zone and a suggested one. */
#define TIMEZONE_SUGGEST_DISTANCE 3U
/* Maximum length of a shown value in error messages. */
#define TIMEZONE_SHOWN_VALUE_MAX 80U

static bool char_is_zone(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_+-./", c);
}

/* Check a zone name: a relative path below /usr/share/zoneinfo made of letters, digits and
 * "_+-./", with no empty, "." or ".." component. Returns 0, or -EINVAL with the reason in reason
 * (size bytes). */
static int timezone_name_check(const char *name, char *reason, size_t size) {
        size_t n = strlen(name);

        if (n == 0) {
                (void) snprintf(reason, size, "is empty");
                return -EINVAL;
        }
        if (n > TIMEZONE_LENGTH_MAX) {
                (void) snprintf(reason, size, "has %zu characters, more than the maximum of %u", n, TIMEZONE_LENGTH_MAX);
                return -EINVAL;
        }
        for (const char *c = name; *c; c++)
                if (!char_is_zone(*c)) {
                        (void) snprintf(reason, size, "contains a character that no zone name has");
                        return -EINVAL;
                }
        if (name[0] == '/') {
                (void) snprintf(reason, size, "is an absolute path; write the name below %s, such as "
                                "'Europe/Berlin'", ZONEINFO_DIR);
                return -EINVAL;
        }

        for (const char *part = name;; part++) {
                size_t len = strcspn(part, "/");

                if (len == 0 || (len == 1 && part[0] == '.') || (len == 2 && strneq(part, "..", 2))) {
                        (void) snprintf(reason, size, "has an empty, '.' or '..' component");
                        return -EINVAL;
                }
                part += len;
                if (*part == '\0')
                        return 0;
        }
}

/* The name of an entry next to the unknown zone that is nearest to it, as "Europe/Berlin", or
 * NULL when none is close. Caller owns the result. */
static char *timezone_suggest(int root_fd, const char *zone) {
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(zone, '/'), *base = slash ? slash + 1 : zone, *found;
        const char *names[TIMEZONE_CANDIDATES_MAX + 1];
        char *copies[TIMEZONE_CANDIDATES_MAX];
        size_t n = 0;
        char *suggestion = NULL;
        DIR *d;
        int fd;

        if (asprintf(&dir, ZONEINFO_DIR "/%.*s", slash ? (int) (slash - zone) : 0, zone) < 0)
                return NULL;
        fd = root_open(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
                return NULL;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return NULL;
        }

        for (struct dirent *de; n < TIMEZONE_CANDIDATES_MAX && (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                copies[n] = strdup(de->d_name);
                if (!copies[n])
                        break;
                names[n] = copies[n];
                n++;
        }
        names[n] = NULL;
        (void) closedir(d);

        found = nearest_word(base, names, TIMEZONE_SUGGEST_DISTANCE);
        if (found && asprintf(&suggestion, "%.*s%s", slash ? (int) (slash - zone + 1) : 0, zone, found) < 0)
                suggestion = NULL;

        for (size_t i = 0; i < n; i++)
                free(copies[i]);
        return suggestion;
}

/* Check that the zone's file exists in the root's zoneinfo as a regular file. Returns 0, or <0
 * after reporting. */
static int timezone_file_check(Context *ctx, const char *zone, const char *zone_file) {
        _cleanup_free_ char *suggestion = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = root_open(ctx->root_fd, zone_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode))
                return 0;
        if (fd >= 0)
                return report_error(ctx, -1, 0, "timezone: '%s' is not a zone, %s is not a regular file.", zone,
                                    zone_file);
        if (fd != -ENOENT && fd != -ENOTDIR)
                return report_error(ctx, -1, fd, "Failed to open %s for the timezone '%s': %m", zone_file, zone);

        if (root_exists(ctx->root_fd, ZONEINFO_DIR) <= 0)
                return report_error(ctx, -1, 0, "timezone: cannot set '%s', the image has no %s. Install the "
                                    "tzdata package in the image.", zone, ZONEINFO_DIR);

        suggestion = timezone_suggest(ctx->root_fd, zone);
        if (suggestion)
                return report_error(ctx, -1, 0, "timezone: unknown zone '%s', %s does not exist. Did you mean "
                                    "'%s'?", zone, zone_file, suggestion);
        return report_error(ctx, -1, 0, "timezone: unknown zone '%s', %s does not exist.", zone, zone_file);
}

/* Point /etc/localtime at target, replacing a file or another symlink in one rename. Returns 1 when
 * it changed, 0 when it already pointed there, -errno on failure. */
static int localtime_link(int root_fd, const char *target) {
        _cleanup_close_ int etc_fd = -EBADF;
        char current[PATH_MAX], temp[64];
        ssize_t n;
        int r;

        r = root_mkdir_p(root_fd, "/etc", 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        etc_fd = root_open(root_fd, "/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (etc_fd < 0)
                return etc_fd;

        n = readlinkat(etc_fd, "localtime", current, sizeof(current) - 1);
        if (n >= 0) {
                current[n] = '\0';
                if (streq(current, target))
                        return 0;
        }

        (void) snprintf(temp, sizeof(temp), ".#localtime.kiln-%d", (int) getpid());
        (void) unlinkat(etc_fd, temp, 0);
        if (symlinkat(target, etc_fd, temp) < 0)
                return negative_errno();
        if (renameat(etc_fd, temp, etc_fd, "localtime") < 0) {
                r = negative_errno();
                (void) unlinkat(etc_fd, temp, 0);
                return r;
        }
        if (fsync(etc_fd) < 0)
                return negative_errno();
        return 1;
}

/* Set ZONE= in /etc/sysconfig/clock, which RHEL's older init scripts read, keeping its other
 * lines. Returns 1 when it changed, 0 when not, -errno on failure. */
static int sysconfig_clock_update(int root_fd, const char *zone) {
        return env_file_set(root_fd, SYSCONFIG_CLOCK_FILE, TIMEZONE_FILE_MAX, "ZONE", zone, (mode_t) -1,
                            WRITE_MKDIR_PARENTS | WRITE_SYNC);
}

/* RHEL, Fedora and Amazon Linux have /etc/system-release or /etc/redhat-release and keep no
 * /etc/timezone; Debian, Ubuntu and Alpine do. */
static bool timezone_file_wanted(int root_fd) {
        if (root_exists(root_fd, TIMEZONE_FILE) > 0)
                return true;
        return root_exists(root_fd, "/etc/redhat-release") <= 0 && root_exists(root_fd, "/etc/system-release") <= 0;
}

static int timezone_apply(Context *ctx, const char *zone, const char *zone_file) {
        _cleanup_free_ char *line = NULL;
        bool changed = false;
        int r;

        if (timezone_file_wanted(ctx->root_fd)) {
                if (asprintf(&line, "%s\n", zone) < 0) {
                        line = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to write %s: %m", TIMEZONE_FILE);
                }
                r = write_file_if_changed(ctx->root_fd, TIMEZONE_FILE, line, strlen(line), (mode_t) -1,
                                          WRITE_MKDIR_PARENTS | WRITE_SYNC);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to write %s: %m", TIMEZONE_FILE);
                if (r > 0)
                        log_info("Wrote %s with the timezone '%s'.", TIMEZONE_FILE, zone);
                changed = changed || r > 0;
        }

        r = localtime_link(ctx->root_fd, zone_file);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to link %s to %s: %m", LOCALTIME_FILE, zone_file);
        if (r > 0)
                log_info("Linked %s to %s.", LOCALTIME_FILE, zone_file);
        changed = changed || r > 0;

        if (root_exists(ctx->root_fd, SYSCONFIG_CLOCK_FILE) > 0) {
                r = sysconfig_clock_update(ctx->root_fd, zone);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to update %s: %m", SYSCONFIG_CLOCK_FILE);
                if (r > 0)
                        log_info("Set ZONE=%s in %s.", zone, SYSCONFIG_CLOCK_FILE);
                changed = changed || r > 0;
        }

        if (!changed)
                log_debug("The timezone is already '%s'.", zone);
        return changed;
}

static int timezone_run(Context *ctx, const json_t *config) {
        const json_t *v = json_object_get(config, "timezone");
        _cleanup_free_ char *zone_file = NULL, *shown = NULL;
        char reason[256] = "";
        const char *zone;
        int r;

        if (!v || json_is_null(v)) {
                log_debug("timezone is null, leaving the timezone unchanged.");
                return 0;
        }
        if (!json_is_string(v)) {
                shown = json_to_message(v, TIMEZONE_SHOWN_VALUE_MAX);
                return report_error(ctx, -1, 0, "timezone is %s, not a zone name such as 'Europe/Berlin'. Quote the "
                                    "name.", shown ?: "not a string");
        }
        zone = json_string_value(v);
        if (zone[0] == '\0') {
                report_warning(ctx, -1, "timezone is empty, leaving the timezone unchanged.");
                return 0;
        }

        shown = json_to_message(v, TIMEZONE_SHOWN_VALUE_MAX);
        r = timezone_name_check(zone, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, -1, 0, "timezone %s %s.", shown ?: "value", reason);

        if (asprintf(&zone_file, ZONEINFO_DIR "/%s", zone) < 0) {
                zone_file = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to set the timezone '%s': %m", zone);
        }
        r = timezone_file_check(ctx, zone, zone_file);
        if (r < 0)
                return r;

        return timezone_apply(ctx, zone, zone_file);
}

static const char *const timezone_config_keys[] = { "timezone", NULL };

/* The rules of timezone_name_check() for the config value. */
static int timezone_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[256] = "";

        if (!json_is_string(v))
                return 0;
        if (json_string_length(v) == 0) {
                (void) snprintf(message, size, "is empty, so the timezone is left unchanged.");
                return SHAPE_CHECK_WARNING;
        }
        if (timezone_name_check(json_string_value(v), reason, sizeof(reason)) < 0) {
                (void) snprintf(message, size, "%s, so it is not a zone name such as 'Europe/Berlin'.", reason);
                return -EINVAL;
        }
        return 0;
}

static const KeyField timezone_fields[] = {
        { .name = "timezone", .shape = { .types = SHAPE_STRING | SHAPE_NULL, .check = timezone_check },
          .description = KEY_DESCRIPTION("The time zone as named in /usr/share/zoneinfo, such as "
                                         "'Europe/Berlin' or 'UTC'. /etc/localtime becomes a symlink to "
                                         "its file, and /etc/timezone names it on Debian and Alpine.") },
        {}
};

const AgentModule module_timezone = {
        .name = "timezone",
        .config_keys = timezone_config_keys,
        .config_fields = timezone_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = timezone_run,
};
