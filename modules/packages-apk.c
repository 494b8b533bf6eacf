/* SPDX-License-Identifier: Apache-2.0 */
/* The apk backend of the packages module (Alpine Linux).
 *
 * apk never prompts unless it runs interactively, which it does only with --interactive, or with an
 * /etc/apk/interactive file when it runs on a terminal, and the module's commands have no
 * terminal. Configuration files: when an upgrade brings a new version of a configuration file
 * that the admin changed, apk keeps the admin's file and writes the new one beside it as
 * FILE.apk-new.
 *
 * Locks: apk takes flock(LOCK_EX) on /lib/apk/db/lock for as long as it changes the database.
 * F_GETLK does not see flock() locks, so lock_files is NULL.
 * apk fails at once when another apk holds that lock, unless --wait=SECONDS lets it wait, so
 * lock_timeout_option gives it the module's lock deadline.
 * NOTE: for a check of its own, a module has to find the holder's pid on a FLOCK line of
 * /proc/locks with the file's inode.
 *
 * apk writes no file when a reboot is needed, so reboot_required_file is NULL. */

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "packages-argv.h"
#include "packages.h"

#define APK_PATH "/sbin/apk"

static char **apk_update_argv(void) {
        static const char *const words[] = { APK_PATH, "update", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

/* NOTE: cloud-init adds --available to the upgrade. kiln leaves it out because it drops the
 * version pins of /etc/apk/world and may downgrade packages. */
static char **apk_upgrade_argv(void) {
        static const char *const words[] = { APK_PATH, "upgrade", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

/* A request pins a version as "NAME=VERSION", which apk also records in /etc/apk/world. */
static char **apk_install_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = { APK_PATH, "add", NULL };

        return package_argv_build(words, specs, n, "=");
}

/* `apk info -v` lists every installed package as "NAME-VERSION", one per line, and exits 0.
 * The list covers every name in one call, so the names are not passed. */
static char **apk_query_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = { APK_PATH, "info", "-v", NULL };

        (void) specs;
        (void) n;
        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

/* Skip the digits at *p, up to end; false when there are none. */
static bool skip_digits(const char **p, const char *end) {
        const char *start = *p;

        while (*p < end && isdigit((unsigned char) **p))
                (*p)++;
        return *p > start;
}

/* Whether [p, end) starts with word. */
static bool starts_with(const char *p, const char *end, const char *word) {
        size_t n = strlen(word);

        return (size_t) (end - p) >= n && strneq(p, word, n);
}

/* Skip "_SUFFIX DIGITS*" at *p; false when *p holds no known suffix. */
static bool skip_suffix(const char **p, const char *end) {
        static const char *const suffixes[] = {
                "alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p",
        };

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (starts_with(*p, end, suffixes[i])) {
                        *p += strlen(suffixes[i]);
                        (void) skip_digits(p, end);
                        return true;
                }
        return false;
}

/* Whether v (of length len) is an apk version, whose grammar is
 *   DIGITS ("." DIGITS)* [a-z]? ("_" SUFFIX DIGITS*)* ("~" HEX+)? ("-r" DIGITS)?
 * with SUFFIX one of alpha, beta, pre, rc, cvs, svn, git, hg, p ("1.2.3_rc1-r0", "2.4a-r12"). */
static bool apk_version_is_valid(const char *v, size_t len) {
        const char *p = v, *end = v + len;

        if (!skip_digits(&p, end))
                return false;
        while (p < end && *p == '.') {
                p++;
                if (!skip_digits(&p, end))
                        return false;
        }
        if (p < end && islower((unsigned char) *p))
                p++;

        while (p < end && *p == '_') {
                p++;
                if (!skip_suffix(&p, end))
                        return false;
        }

        if (p < end && *p == '~') {
                const char *hash = ++p;

                while (p < end && isxdigit((unsigned char) *p))
                        p++;
                if (p == hash)
                        return false;
        }
        if (starts_with(p, end, "-r")) {
                p += 2;
                if (!skip_digits(&p, end))
                        return false;
        }
        return p == end;
}

/* Whether line (of length len) is "NAME-VERSION" for some name and apk version. */
static bool apk_line_is_valid(const char *line, size_t len) {
        const char *end = line + len;

        for (const char *dash = memchr(line, '-', len); dash; ) {
                size_t rest = (size_t) (end - dash - 1);

                if (dash > line && apk_version_is_valid(dash + 1, rest))
                        return true;
                dash = memchr(dash + 1, '-', rest);
        }
        return false;
}

/* Read `apk info -v` for name: the line "NAME-VERSION" whose rest after "NAME-" is a whole apk
 * version. The version check keeps "py3-foo-1.0-r0" from being read as package "py3" at version
 * "foo-1.0-r0". Every line must have the NAME-VERSION shape, or the output is not understood. */
static int apk_query_parse(const char *output, const char *name, char **ret_version) {
        size_t name_len = strlen(name);
        const char *line = output, *found = NULL;
        size_t found_len = 0;

        while (*line) {
                const char *end = strchrnul(line, '\n');
                size_t len = (size_t) (end - line);

                if (len > 0 && !apk_line_is_valid(line, len))
                        return -EINVAL;
                if (!found && len > name_len + 1 && strneq(line, name, name_len) && line[name_len] == '-' &&
                    apk_version_is_valid(line + name_len + 1, len - name_len - 1)) {
                        found = line + name_len + 1;
                        found_len = len - name_len - 1;
                }

                line = *end ? end + 1 : end;
        }

        if (!found)
                return 0;
        *ret_version = strndup(found, found_len);
        return *ret_version ? 1 : -ENOMEM;
}

/* apk's "NAME=VERSION" asks for exactly that version, release included: "1.2-r0" is satisfied
 * by "1.2-r0" only, and "1.2" is not satisfied by "1.2-r0". */
static bool apk_version_matches(const char *installed_version, const char *requested) {
        return streq(installed_version, requested);
}

static const char *const apk_executables[] = { APK_PATH, NULL };

const PackageBackend package_backend_apk = {
        .name = "apk",
        .executables = apk_executables,
        .lock_timeout_option = "--wait=",
        .update_argv = apk_update_argv,
        .upgrade_argv = apk_upgrade_argv,
        .install_argv = apk_install_argv,
        .query_argv = apk_query_argv,
        .query_exit_ok = 1U << 0,
        .query_parse = apk_query_parse,
        .version_matches = apk_version_matches,
};
