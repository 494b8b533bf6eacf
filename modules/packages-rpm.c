/* SPDX-License-Identifier: Apache-2.0 */
/* The dnf, yum and zypper backends of the packages module. All three install RPM packages, so
 * they share the installed-package query (rpm -q) and its version matching.
 *
 * Configuration files: rpm never prompts. A %config(noreplace) file that the admin changed is
 * kept and the package's copy is written beside it as FILE.rpmnew. A plain %config file that the
 * admin changed is replaced, and the old content is kept as FILE.rpmsave. So no flag is needed
 * to keep configuration files, and none exists.
 *
 * Locks: rpm holds an fcntl() write lock on /var/lib/rpm/.rpm.lock for the whole transaction, and
 * that is the only lock of these tools that F_GETLK can see. The front ends use pid files:
 * - dnf 4 writes its pid into /var/cache/dnf/metadata_lock.pid, /var/cache/dnf/download_lock.pid
 *   and /var/lib/dnf/rpmdb_lock.pid. It holds flock() only while it reads or writes the pid, and
 *   it deletes the file when done. So a lock is held while the file exists and names a live
 *   process. A second dnf waits for the holder without a time limit.
 * - yum writes its pid into /var/run/yum.pid, held in the same way (file present, process alive),
 *   and a second yum waits too.
 * - libzypp writes its pid into /run/zypp.pid (/var/run/zypp.pid on older releases) and truncates
 *   the file when done. So the lock is held while the file is not empty and names a live process.
 *   A second zypper exits 7 at once unless ZYPP_LOCK_TIMEOUT gives it seconds to wait.
 * lock_files lists rpm's lock, and lock_pid_files the front ends' pid files. */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "packages-argv.h"
#include "packages.h"
#include "users.h"

#define RPM_PATH "/usr/bin/rpm"
#define DNF_PATH "/usr/bin/dnf"
#define YUM_PATH "/usr/bin/yum"
#define ZYPPER_PATH "/usr/bin/zypper"

/* The line that rpm -q prints for each installed package it was asked about, once per installed
 * architecture. The architecture lets a request name one ("glibc.i686"), which rpm -q accepts.
 * rpm expands the backslash escapes itself. */
#define RPM_QUERY_FORMAT "%{NAME}.%{ARCH}\\t%{VERSION}-%{RELEASE}\\n"

/* Append "NAME", or "NAME<pin_separator>VERSION" when the spec has a version; a NULL
 * pin_separator leaves every version out. Returns 0 or -ENOMEM. */
static int strv_add_specs(Strv *l, const PackageSpec *specs, size_t n, const char *pin_separator) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pinned = NULL;
                int r;

                if (!pin_separator || !specs[i].version) {
                        r = strv_add(l, specs[i].name);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (asprintf(&pinned, "%s%s%s", specs[i].name, pin_separator, specs[i].version) < 0)
                        return -ENOMEM;
                r = strv_add(l, pinned);
                if (r < 0)
                        return r;
        }
        return 0;
}

char **package_argv_build(const char *const *words, const PackageSpec *specs, size_t n,
                          const char *pin_separator) {
        Strv l = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && words[i]; i++)
                r = strv_add(&l, words[i]);
        if (r >= 0)
                r = strv_add_specs(&l, specs, n, pin_separator);
        if (r < 0) {
                strv_done(&l);
                return NULL;
        }
        return strv_take(&l);
}

static char **rpm_query_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = { RPM_PATH, "-q", "--queryformat", RPM_QUERY_FORMAT, NULL };

        return package_argv_build(words, specs, n, /* pin_separator= */ NULL);
}

/* Whether line (of length len, without its newline) is rpm's "package NAME is not installed". */
static bool rpm_line_is_not_installed(const char *line, size_t len, const char *name) {
        static const char prefix[] = "package ", suffix[] = " is not installed";
        size_t name_len = strlen(name);

        return len == strlen(prefix) + name_len + strlen(suffix) &&
                strneq(line, prefix, strlen(prefix)) &&
                strneq(line + strlen(prefix), name, name_len) &&
                strneq(line + strlen(prefix) + name_len, suffix, strlen(suffix));
}

/* Whether v (of length len) is "VERSION-RELEASE": rpm allows no '-' inside either part. */
static bool rpm_evr_is_valid(const char *v, size_t len) {
        const char *dash = memchr(v, '-', len);

        if (!dash || dash == v || dash == v + len - 1 || memchr(dash + 1, '-', v + len - dash - 1))
                return false;
        for (size_t i = 0; i < len; i++)
                if (v[i] <= ' ' || v[i] == 0x7f)
                        return false;
        return true;
}

/* Whether the "NAME.ARCH" field (of length len) matches the requested name: it is name, which then
 * names an architecture too, or name followed by ".ARCH". Architectures contain no '.'. */
static bool rpm_field_matches(const char *field, size_t len, const char *name) {
        size_t name_len = strlen(name);

        if (len < name_len || !strneq(field, name, name_len))
                return false;
        if (len == name_len)
                return true;
        return field[name_len] == '.' && len > name_len + 1 &&
                !memchr(field + name_len + 1, '.', len - name_len - 1);
}

/* Read rpm -q's output for name. rpm prints one line per installed architecture of each name it
 * was given, on stdout, in order: "NAME.ARCH\tVERSION-RELEASE" in RPM_QUERY_FORMAT, or "package
 * NAME is not installed". Of two lines for one package, the first counts. Any other output (an
 * error about the rpm database, say) is not understood. */
static int rpm_query_parse(const char *output, const char *name, char **ret_version) {
        const char *line = output;

        while (*line) {
                const char *end = strchrnul(line, '\n');
                size_t len = (size_t) (end - line);
                size_t field = strcspn(line, "\t\n");

                if (field < len && rpm_field_matches(line, field, name)) {
                        const char *version = line + field + 1;
                        size_t version_len = (size_t) (end - version);

                        if (!rpm_evr_is_valid(version, version_len))
                                return -EINVAL;
                        *ret_version = strndup(version, version_len);
                        return *ret_version ? 1 : -ENOMEM;
                }
                if (rpm_line_is_not_installed(line, len, name))
                        return 0;

                line = *end ? end + 1 : end;
        }
        return -EINVAL;
}

/* "1.2" is satisfied by an installed "1.2-3.el9", and so is "1.2-3.el9". This is how dnf reads
 * "NAME-1.2" and zypper reads "NAME=1.2": a request without a release matches every release.
 * NOTE: the query leaves out the epoch, so a request with one ("1:1.2-3") never matches here and
 * the install command runs. The package manager then finds the package installed and does
 * nothing. */
static bool rpm_version_matches(const char *installed_version, const char *requested) {
        const char *dash = strrchr(installed_version, '-');

        if (streq(installed_version, requested))
                return true;
        return dash && strlen(requested) == (size_t) (dash - installed_version) &&
                strneq(installed_version, requested, strlen(requested));
}

/* rpm -q exits with the number of names that are not installed, so any exit code can carry a
 * valid result, and the parser rejects output that is not one.
 * NOTE: the mask covers exit codes 0 to 31. A query with more than 31 missing names exits 32 or
 * more and reads as failed, so a module that queries more names than that at once should split
 * the query. */
#define RPM_QUERY_EXIT_OK UINT_MAX

static const char *const rpm_lock_files[] = { "/var/lib/rpm/.rpm.lock", NULL };

static const char *const dnf_lock_pid_files[] = {
        "/var/cache/dnf/metadata_lock.pid",
        "/var/cache/dnf/download_lock.pid",
        "/var/lib/dnf/rpmdb_lock.pid",
        NULL,
};
static const char *const yum_lock_pid_files[] = { "/var/run/yum.pid", NULL };
static const char *const zypper_lock_pid_files[] = { "/run/zypp.pid", "/var/run/zypp.pid", NULL };

/* dnf: "-y" answers yes to every question. A request pins a version as "NAME-VERSION". */
static char **dnf_update_argv(void) {
        static const char *const words[] = { DNF_PATH, "-y", "makecache", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **dnf_upgrade_argv(void) {
        static const char *const words[] = { DNF_PATH, "-y", "upgrade", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **dnf_install_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = { DNF_PATH, "-y", "install", NULL };

        return package_argv_build(words, specs, n, "-");
}

static const char *const dnf_executables[] = { DNF_PATH, NULL };

/* dnf reports that a reboot is needed through the exit code of `needs-restarting -r` (1: needed),
 * from dnf-plugins-core, and writes no file. So reboot_required_file is NULL. */
const PackageBackend package_backend_dnf = {
        .name = "dnf",
        .executables = dnf_executables,
        .lock_files = rpm_lock_files,
        .lock_pid_files = dnf_lock_pid_files,
        .update_argv = dnf_update_argv,
        .upgrade_argv = dnf_upgrade_argv,
        .install_argv = dnf_install_argv,
        .query_argv = rpm_query_argv,
        .query_exit_ok = RPM_QUERY_EXIT_OK,
        .query_parse = rpm_query_parse,
        .version_matches = rpm_version_matches,
};

/* yum: "-t" (--tolerant) keeps a package that is already installed from failing the whole
 * command, and "-y" answers yes. Pins are "NAME-VERSION", as for dnf. */
static char **yum_update_argv(void) {
        static const char *const words[] = { YUM_PATH, "-t", "-y", "makecache", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **yum_upgrade_argv(void) {
        static const char *const words[] = { YUM_PATH, "-t", "-y", "upgrade", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **yum_install_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = { YUM_PATH, "-t", "-y", "install", NULL };

        return package_argv_build(words, specs, n, "-");
}

static const char *const yum_executables[] = { YUM_PATH, NULL };

/* Like dnf, yum reports a needed reboot only through `needs-restarting -r` (yum-utils). */
const PackageBackend package_backend_yum = {
        .name = "yum",
        .executables = yum_executables,
        .lock_files = rpm_lock_files,
        .lock_pid_files = yum_lock_pid_files,
        .update_argv = yum_update_argv,
        .upgrade_argv = yum_upgrade_argv,
        .install_argv = yum_install_argv,
        .query_argv = rpm_query_argv,
        .query_exit_ok = RPM_QUERY_EXIT_OK,
        .query_parse = rpm_query_parse,
        .version_matches = rpm_version_matches,
};

/* zypper: "--non-interactive" takes the default answer to every question. The default answer to
 * a licence is "no", so install and update also agree to licences, or a package with one would
 * fail. A request pins a version as "NAME=VERSION", zypper's capability syntax. */
static char **zypper_update_argv(void) {
        static const char *const words[] = { ZYPPER_PATH, "--non-interactive", "refresh", NULL };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **zypper_upgrade_argv(void) {
        static const char *const words[] = {
                ZYPPER_PATH, "--non-interactive", "update", "--auto-agree-with-licenses", NULL
        };

        return package_argv_build(words, /* specs= */ NULL, /* n= */ 0, /* pin_separator= */ NULL);
}

static char **zypper_install_argv(const PackageSpec *specs, size_t n) {
        static const char *const words[] = {
                ZYPPER_PATH, "--non-interactive", "install", "--auto-agree-with-licenses", NULL
        };

        return package_argv_build(words, specs, n, "=");
}

static const char *const zypper_executables[] = { ZYPPER_PATH, NULL };

/* zypper creates /run/reboot-needed when it installs a package that requires a reboot. */
const PackageBackend package_backend_zypper = {
        .name = "zypper",
        .executables = zypper_executables,
        .lock_files = rpm_lock_files,
        .lock_pid_files = zypper_lock_pid_files,
        /* Documented in zypper(8), ENVIRONMENT VARIABLES: seconds to wait for the zypp lock. */
        .lock_timeout_env = "ZYPP_LOCK_TIMEOUT=",
        .reboot_required_file = "/run/reboot-needed",
        .update_argv = zypper_update_argv,
        .upgrade_argv = zypper_upgrade_argv,
        .install_argv = zypper_install_argv,
        .query_argv = rpm_query_argv,
        .query_exit_ok = RPM_QUERY_EXIT_OK,
        .query_parse = rpm_query_parse,
        .version_matches = rpm_version_matches,
};
