/* SPDX-License-Identifier: Apache-2.0 */
/* The apt backend of the packages module: apt-get commands with the options that cloud-init's apt
 * package manager passes (keep existing configuration files, no prompts), and dpkg-query for what
 * is installed. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "packages.h"

#define APT_GET "/usr/bin/apt-get"
#define DPKG_QUERY "/usr/bin/dpkg-query"

/* --force-confold keeps a configuration file that the admin changed; --force-unsafe-io skips the
 * fsync of every unpacked file, as cloud-init does on first boot. */
static const char *const apt_get_options[] = {
        APT_GET,
        "--option=Dpkg::Options::=--force-confold",
        "--option=Dpkg::options::=--force-unsafe-io",
        "--assume-yes",
        "--quiet",
};

/* One line per package and architecture: the name, with ":ARCH" for a Multi-Arch: same package or
 * another architecture's, the three status letters ("ii " is installed), and the version, which
 * is empty for a package that dpkg knows but has not installed. */
#define DPKG_QUERY_FORMAT "--showformat=${binary:Package}\\t${db:Status-Abbrev}\\t${Version}\\n"

/* apt-get OPTIONS... subcommand, then n_extra more slots, all NULL: the caller fills the slots. */
static char **apt_get_argv(const char *subcommand, size_t n_extra) {
        size_t n = ELEMENTSOF(apt_get_options);
        char **argv = calloc(n + 1 + n_extra + 1, sizeof(char *));

        if (!argv)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                argv[i] = strdup(apt_get_options[i]);
                if (!argv[i])
                        return strv_free(argv);
        }
        argv[n] = strdup(subcommand);
        if (!argv[n])
                return strv_free(argv);
        return argv;
}

static char **apt_update_argv(void) {
        return apt_get_argv("update", 0);
}

/* cloud-init's default upgrade subcommand for apt. */
static char **apt_upgrade_argv(void) {
        return apt_get_argv("dist-upgrade", 0);
}

/* apt-get install NAME or NAME=VERSION for each spec. */
static char **apt_install_argv(const PackageSpec *specs, size_t n) {
        char **argv = apt_get_argv("install", n);
        size_t first;

        if (!argv)
                return NULL;
        first = strv_length(argv);
        for (size_t i = 0; i < n; i++) {
                int r;

                if (specs[i].version)
                        r = asprintf(&argv[first + i], "%s=%s", specs[i].name, specs[i].version);
                else
                        r = (argv[first + i] = strdup(specs[i].name)) ? 0 : -1;
                if (r < 0) {
                        argv[first + i] = NULL;
                        return strv_free(argv);
                }
        }
        return argv;
}

static char **apt_query_argv(const PackageSpec *specs, size_t n) {
        char **argv = calloc(3 + n + 1, sizeof(char *));

        if (!argv)
                return NULL;
        argv[0] = strdup(DPKG_QUERY);
        argv[1] = strdup("--show");
        argv[2] = strdup(DPKG_QUERY_FORMAT);
        if (!argv[0] || !argv[1] || !argv[2])
                return strv_free(argv);
        for (size_t i = 0; i < n; i++) {
                /* "--" is not needed: the module accepts no name that starts with '-'. */
                argv[3 + i] = strdup(specs[i].name);
                if (!argv[3 + i])
                        return strv_free(argv);
        }
        return argv;
}

/* Whether the name field of a line, up to its tab, is name, or name with an architecture when
 * name has none. */
static bool apt_query_name_matches(const char *line, const char *name) {
        size_t n = strlen(name), field = strcspn(line, "\t\n");

        if (field < n || !strneq(line, name, n))
                return false;
        return field == n || (line[n] == ':' && !strchr(name, ':'));
}

/* Grammar of one line: NAME TAB STATUS TAB VERSION, where STATUS is three characters (desired
 * action, package state, error flag; "ii " or "hi " for an installed package). A name that dpkg does not
 * know gives no line. Several lines may name one package, one per architecture, so the first
 * installed one wins. */
static int apt_query_parse(const char *output, const char *name, char **ret_version) {
        bool understood = true;

        for (const char *line = output; line && *line;) {
                const char *end = strchrnul(line, '\n'), *status, *version;

                if (apt_query_name_matches(line, name)) {
                        status = line + strcspn(line, "\t\n");
                        status = *status == '\t' ? status + 1 : end;
                        version = memchr(status, '\t', (size_t) (end - status));
                        if (!version || version - status != 3)
                                understood = false;
                        /* "hi ": installed and on hold, which only stops upgrades. */
                        else if ((status[0] == 'i' || status[0] == 'h') && status[1] == 'i') {
                                char *v = strndup(version + 1, (size_t) (end - version - 1));

                                if (!v)
                                        return -ENOMEM;
                                *ret_version = v;
                                return 1;
                        }
                }
                line = *end ? end + 1 : end;
        }
        return understood ? 0 : -EINVAL;
}

/* NOTE: the whole Debian version must match exactly: a request for "2.36-9" does not match an
 * installed "1:2.36-9", although dpkg reads a missing epoch as epoch 0. */
static bool apt_version_matches(const char *installed_version, const char *requested) {
        return streq(installed_version, requested);
}

static const char *const apt_executables[] = { APT_GET, NULL };

/* The locks that apt and dpkg take, in the order apt takes them: the frontend lock first. The
 * lists lock is only taken by apt-get update. */
static const char *const apt_lock_files[] = {
        "/var/lib/dpkg/lock-frontend",
        "/var/lib/dpkg/lock",
        "/var/cache/apt/archives/lock",
        "/var/lib/apt/lists/lock",
        NULL,
};

static const char *const apt_environment[] = { "DEBIAN_FRONTEND=noninteractive", NULL };

const PackageBackend package_backend_apt = {
        .name = "apt",
        .executables = apt_executables,
        .lock_files = apt_lock_files,
        .environment = apt_environment,
        .reboot_required_file = "/var/run/reboot-required",
        .lock_timeout_option = "--option=DPkg::Lock::Timeout=",
        .update_argv = apt_update_argv,
        .upgrade_argv = apt_upgrade_argv,
        .install_argv = apt_install_argv,
        .query_argv = apt_query_argv,
        /* dpkg-query exits 1 when one of the names is not known at all. */
        .query_exit_ok = (1U << 0) | (1U << 1),
        .query_parse = apt_query_parse,
        .version_matches = apt_version_matches,
};
