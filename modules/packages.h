/* SPDX-License-Identifier: Apache-2.0 */
/* The package managers that the packages module drives. Each backend is a const table of argv
 * builders and output parsers, so the commands are unit-testable without running anything; the
 * module (packages.c) picks the backend whose executable ROOT has, queries what is installed,
 * and runs the commands inside ROOT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One requested package: a name, and the version it must have, or NULL for any version. */
typedef struct PackageSpec {
        const char *name;
        const char *version;
} PackageSpec;

typedef struct PackageBackend {
        const char *name;                     /* "apt", "dnf", "yum", "apk", "zypper" */
        /* Absolute paths inside ROOT, NULL-terminated: the first backend with one of them present
         * is the image's package manager. */
        const char *const *executables;
        /* Files inside ROOT that the tool locks with fcntl() while it works, NULL-terminated, or
         * NULL: the module waits until none of them is locked. */
        const char *const *lock_files;
        /* Pid files inside ROOT with which the tool's front end locks, NULL-terminated, or NULL. A
         * lock is held while its file names a live process: a missing or empty file is free. The
         * module waits for these as for lock_files. */
        const char *const *lock_pid_files;
        /* "KEY=VALUE" entries added to the environment of every command, NULL-terminated, or NULL
         * (DEBIAN_FRONTEND=noninteractive for apt). */
        const char *const *environment;
        /* A file inside ROOT that the package manager creates when a reboot is needed, or NULL. */
        const char *reboot_required_file;
        /* The start of an option that makes the tool wait up to N seconds for its own locks, to
         * which the module appends N, or NULL. The module inserts it after argv[0] of the update,
         * upgrade and install commands, so that the tool also waits out a lock taken after the
         * module's own check ("--option=DPkg::Lock::Timeout=" for apt). */
        const char *lock_timeout_option;
        /* The start of an environment entry that makes the tool wait up to N seconds for its own
         * locks, to which the module appends N, or NULL ("ZYPP_LOCK_TIMEOUT=" for zypper). */
        const char *lock_timeout_env;

        /* Each builder returns a NULL-terminated argv that the caller frees with strv_free(), or
         * NULL when out of memory. The commands are non-interactive and keep existing
         * configuration files. */
        char **(*update_argv)(void);
        char **(*upgrade_argv)(void);
        char **(*install_argv)(const PackageSpec *specs, size_t n);

        /* The command that prints what is installed of the named packages, in one call. A query
         * exits non-zero when a package is missing for some tools: query_exit_ok says which exit
         * codes still carry a valid result (bit N set: exit code N is fine). */
        char **(*query_argv)(const PackageSpec *specs, size_t n);
        unsigned query_exit_ok;
        /* Read the query's output for one package. Returns 1 with the installed version in
         * *ret_version (the caller frees it) when it is installed, 0 when it is not, or -EINVAL
         * when the output is not understood. */
        int (*query_parse)(const char *output, const char *name, char **ret_version);
        /* Whether installed_version satisfies the requested version, in the tool's own terms
         * (apt: the whole Debian version; rpm: version or version-release). */
        bool (*version_matches)(const char *installed_version, const char *requested);
} PackageBackend;

/* Whether name is a package name that every backend accepts: a letter or digit, then letters,
 * digits and "+.-_:". None starts with '-', so no name reads as an option. */
bool package_name_valid(const char *name);
/* Whether version is a version that every backend accepts: a letter or digit, then letters,
 * digits and ".+~:_^-". */
bool package_version_valid(const char *version);

/* Whether a process holds an fcntl() lock on path inside the root: returns 1 with the holder's pid
 * in *ret_pid (-1 for an open file description lock, whose holder the kernel does not name), 0
 * when the file is unlocked or missing, or -errno. */
int packages_lock_holder(int root_fd, const char *path, pid_t *ret_pid);

/* Whether the pid file at path inside the root names a live process: returns 1 with its pid in
 * *ret_pid, 0 when the file is missing, empty, names no process or does not hold a pid, or
 * -errno. */
int packages_pid_file_holder(int root_fd, const char *path, pid_t *ret_pid);

/* The reason for a failure in a package manager's stderr: its error lines ("E: ", "Error: ",
 * "ERROR: "), those that mention name first (name may be NULL), joined by "; ", or else its
 * first non-empty line. Caller owns the result; NULL when out of memory. */
char *packages_failure_reason(const char *stderr_text, const char *name);

extern const PackageBackend package_backend_apt;
extern const PackageBackend package_backend_dnf;
extern const PackageBackend package_backend_yum;
extern const PackageBackend package_backend_zypper;
extern const PackageBackend package_backend_apk;

/* Every backend in detection order, NULL-terminated. */
extern const PackageBackend *const package_backends[];
