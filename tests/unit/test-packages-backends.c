/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the dnf, yum, zypper and apk backends of the packages module: the exact argv of
 * every command, version pins in each tool's syntax, the installed-package queries parsed from
 * recorded outputs (tests/data/packages/) and version matching. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "packages.h"

/* Maximum size of a recorded query output. */
#define RECORDING_SIZE_MAX (64U * 1024U)

#define RPM_QUERY "/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\\t%{VERSION}-%{RELEASE}\\n"

static const PackageSpec specs[] = {
        { .name = "nginx" },
        { .name = "httpd", .version = "2.4.57-5.el9" },
};

/* The words of argv joined by single spaces, so that one assert compares a whole command. */
static char *joined(char **argv) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_non_null(argv);
        for (size_t i = 0; argv[i]; i++)
                fprintf(f, "%s%s", i > 0 ? " " : "", argv[i]);
        assert_int_equal(fclose(f), 0);
        strv_free(argv);
        return buf;
}

static void assert_argv(char **argv, const char *expected) {
        _cleanup_free_ char *s = joined(argv);

        assert_string_equal(s, expected);
}

/* The recording tests/data/packages/NAME, NUL-terminated. */
static char *recording(const char *name) {
        const char *dir = getenv("KILN_TEST_DATA");
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char *buf = calloc(1, RECORDING_SIZE_MAX + 1);

        assert_non_null(buf);
        assert_non_null(dir);
        assert_true(asprintf(&path, "%s/packages/%s", dir, name) > 0);
        f = fopen(path, "re");
        assert_non_null(f);
        (void) fread(buf, 1, RECORDING_SIZE_MAX, f);
        assert_int_equal(ferror(f), 0);
        return buf;
}

/* ---- dnf ---- */

static void dnf_update_argv_runs_makecache(void **state) {
        (void) state;
        assert_argv(package_backend_dnf.update_argv(), "/usr/bin/dnf -y makecache");
}

static void dnf_upgrade_argv_runs_upgrade(void **state) {
        (void) state;
        assert_argv(package_backend_dnf.upgrade_argv(), "/usr/bin/dnf -y upgrade");
}

static void dnf_install_argv_pins_with_dash(void **state) {
        (void) state;
        assert_argv(package_backend_dnf.install_argv(specs, ELEMENTSOF(specs)),
                    "/usr/bin/dnf -y install nginx httpd-2.4.57-5.el9");
}

static void dnf_install_argv_without_pins(void **state) {
        (void) state;
        assert_argv(package_backend_dnf.install_argv(specs, 1), "/usr/bin/dnf -y install nginx");
}

static void dnf_query_argv_names_only(void **state) {
        (void) state;
        assert_argv(package_backend_dnf.query_argv(specs, ELEMENTSOF(specs)), RPM_QUERY " nginx httpd");
}

static void dnf_descriptor_paths(void **state) {
        (void) state;
        assert_string_equal(package_backend_dnf.name, "dnf");
        assert_string_equal(package_backend_dnf.executables[0], "/usr/bin/dnf");
        assert_null(package_backend_dnf.executables[1]);
        assert_null(package_backend_dnf.lock_timeout_option);
        assert_string_equal(package_backend_dnf.lock_files[0], "/var/lib/rpm/.rpm.lock");
        assert_null(package_backend_dnf.lock_files[1]);
        assert_null(package_backend_dnf.environment);
        assert_null(package_backend_dnf.reboot_required_file);
}

/* ---- yum ---- */

static void yum_update_argv_runs_makecache(void **state) {
        (void) state;
        assert_argv(package_backend_yum.update_argv(), "/usr/bin/yum -t -y makecache");
}

static void yum_upgrade_argv_runs_upgrade(void **state) {
        (void) state;
        assert_argv(package_backend_yum.upgrade_argv(), "/usr/bin/yum -t -y upgrade");
}

static void yum_install_argv_pins_with_dash(void **state) {
        (void) state;
        assert_argv(package_backend_yum.install_argv(specs, ELEMENTSOF(specs)),
                    "/usr/bin/yum -t -y install nginx httpd-2.4.57-5.el9");
}

static void yum_query_argv_names_only(void **state) {
        (void) state;
        assert_argv(package_backend_yum.query_argv(specs, ELEMENTSOF(specs)), RPM_QUERY " nginx httpd");
}

static void yum_descriptor_paths(void **state) {
        (void) state;
        assert_string_equal(package_backend_yum.name, "yum");
        assert_string_equal(package_backend_yum.executables[0], "/usr/bin/yum");
        assert_null(package_backend_yum.executables[1]);
        assert_null(package_backend_yum.lock_timeout_option);
        assert_string_equal(package_backend_yum.lock_files[0], "/var/lib/rpm/.rpm.lock");
        assert_null(package_backend_yum.reboot_required_file);
}

/* ---- zypper ---- */

static void zypper_update_argv_runs_refresh(void **state) {
        (void) state;
        assert_argv(package_backend_zypper.update_argv(), "/usr/bin/zypper --non-interactive refresh");
}

static void zypper_upgrade_argv_runs_update(void **state) {
        (void) state;
        assert_argv(package_backend_zypper.upgrade_argv(),
                    "/usr/bin/zypper --non-interactive update --auto-agree-with-licenses");
}

static void zypper_install_argv_pins_with_equals(void **state) {
        (void) state;
        assert_argv(package_backend_zypper.install_argv(specs, ELEMENTSOF(specs)),
                    "/usr/bin/zypper --non-interactive install --auto-agree-with-licenses nginx httpd=2.4.57-5.el9");
}

static void zypper_query_argv_names_only(void **state) {
        (void) state;
        assert_argv(package_backend_zypper.query_argv(specs, ELEMENTSOF(specs)), RPM_QUERY " nginx httpd");
}

static void zypper_descriptor_paths(void **state) {
        (void) state;
        assert_string_equal(package_backend_zypper.name, "zypper");
        assert_string_equal(package_backend_zypper.executables[0], "/usr/bin/zypper");
        assert_null(package_backend_zypper.executables[1]);
        assert_null(package_backend_zypper.lock_timeout_option);
        assert_string_equal(package_backend_zypper.lock_files[0], "/var/lib/rpm/.rpm.lock");
        assert_string_equal(package_backend_zypper.reboot_required_file, "/run/reboot-needed");
}

/* ---- apk ---- */

static void apk_update_argv_runs_update(void **state) {
        (void) state;
        assert_argv(package_backend_apk.update_argv(), "/sbin/apk update");
}

static void apk_upgrade_argv_runs_upgrade(void **state) {
        (void) state;
        assert_argv(package_backend_apk.upgrade_argv(), "/sbin/apk upgrade");
}

static void apk_install_argv_pins_with_equals(void **state) {
        static const PackageSpec apk_specs[] = {
                { .name = "nginx" },
                { .name = "curl", .version = "8.5.0-r0" },
        };

        (void) state;
        assert_argv(package_backend_apk.install_argv(apk_specs, ELEMENTSOF(apk_specs)),
                    "/sbin/apk add nginx curl=8.5.0-r0");
}

static void apk_query_argv_lists_everything(void **state) {
        (void) state;
        assert_argv(package_backend_apk.query_argv(specs, ELEMENTSOF(specs)), "/sbin/apk info -v");
}

static void apk_descriptor_paths(void **state) {
        (void) state;
        assert_string_equal(package_backend_apk.name, "apk");
        assert_string_equal(package_backend_apk.executables[0], "/sbin/apk");
        assert_null(package_backend_apk.executables[1]);
        assert_null(package_backend_apk.lock_files);
        assert_null(package_backend_apk.reboot_required_file);
        assert_string_equal(package_backend_apk.lock_timeout_option, "--wait=");
}

/* ---- query exit codes ---- */

static void rpm_query_exit_ok_allows_missing_counts(void **state) {
        (void) state;
        for (unsigned code = 0; code < 32; code++)
                assert_true(package_backend_dnf.query_exit_ok & (1U << code));
        assert_int_equal(package_backend_yum.query_exit_ok, package_backend_dnf.query_exit_ok);
        assert_int_equal(package_backend_zypper.query_exit_ok, package_backend_dnf.query_exit_ok);
}

static void apk_query_exit_ok_only_zero(void **state) {
        (void) state;
        assert_int_equal(package_backend_apk.query_exit_ok, 1U << 0);
}

/* ---- rpm query parsing ---- */

/* query_parse of backend on output for name: the return value, and the version when installed. */
static int parse(const PackageBackend *b, const char *output, const char *name, char **ret_version) {
        *ret_version = NULL;
        return b->query_parse(output, name, ret_version);
}

static void rpm_query_parse_installed(void **state) {
        _cleanup_free_ char *output = recording("rpm-query.txt");
        _cleanup_free_ char *bash = NULL, *glibc = NULL, *vim = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_dnf, output, "bash", &bash), 1);
        assert_string_equal(bash, "5.1.8-9.el9");
        assert_int_equal(parse(&package_backend_dnf, output, "glibc", &glibc), 1);
        assert_string_equal(glibc, "2.34-100.el9_4.2");
        assert_int_equal(parse(&package_backend_dnf, output, "vim-enhanced", &vim), 1);
        assert_string_equal(vim, "8.2.2637-20.el9_1");
}

static void rpm_query_parse_arch_qualified(void **state) {
        _cleanup_free_ char *output = recording("rpm-query.txt");
        _cleanup_free_ char *i686 = NULL, *aarch64 = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_dnf, output, "glibc.i686", &i686), 1);
        assert_string_equal(i686, "2.34-100.el9_4.2");
        assert_int_equal(parse(&package_backend_dnf, output, "glibc.aarch64", &aarch64), 0);
        assert_null(aarch64);
}

static void rpm_query_parse_dotted_name(void **state) {
        _cleanup_free_ char *version = NULL, *other = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_dnf, "python3.11.x86_64\t3.11.7-1.el9\n", "python3.11", &version), 1);
        assert_string_equal(version, "3.11.7-1.el9");
        /* "python3" is a prefix of the name, and ".11.x86_64" is not one architecture. */
        assert_int_equal(parse(&package_backend_dnf, "python3.11.x86_64\t3.11.7-1.el9\n", "python3", &other), -EINVAL);
}

static void rpm_query_parse_not_installed(void **state) {
        _cleanup_free_ char *output = recording("rpm-query.txt");
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_dnf, output, "nginx", &version), 0);
        assert_null(version);
}

static void rpm_query_parse_unqueried_name(void **state) {
        _cleanup_free_ char *output = recording("rpm-query.txt");
        _cleanup_free_ char *version = NULL;

        (void) state;
        /* "vim" is a prefix of "vim-enhanced" but has no line of its own. */
        assert_int_equal(parse(&package_backend_dnf, output, "vim", &version), -EINVAL);
        assert_int_equal(parse(&package_backend_dnf, output, "bas", &version), -EINVAL);
        assert_null(version);
}

static void rpm_query_parse_rejects_other_output(void **state) {
        static const char *const outputs[] = {
                "",
                "error: cannot open Packages database in /var/lib/rpm\n",
                "bash.x86_64\t5.1.8\n",           /* no release */
                "bash.x86_64\t5.1.8-9-el9\n",     /* two dashes */
                "bash.x86_64\t\n",
                "bash.x86_64\t5.1.8 -9.el9\n",
                "package bash is not installed yet\n",
                "bash.x86_64 5.1.8-9.el9\n",
                "bash.\t5.1.8-9.el9\n",            /* empty architecture */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(outputs); i++) {
                _cleanup_free_ char *version = NULL;

                assert_int_equal(parse(&package_backend_zypper, outputs[i], "bash", &version), -EINVAL);
                assert_null(version);
        }
}

static void rpm_query_parse_first_line_wins(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        /* A package installed for x86_64 and i686 gives a line for each. */
        assert_int_equal(parse(&package_backend_yum, "glibc.x86_64\t2.34-100.el9\nglibc.i686\t2.34-99.el9\n",
                               "glibc", &version), 1);
        assert_string_equal(version, "2.34-100.el9");
}

static void rpm_query_parse_last_line_without_newline(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_yum, "package a is not installed\nbash.noarch\t5.2-1", "bash",
                               &version), 1);
        assert_string_equal(version, "5.2-1");
}

/* ---- apk query parsing ---- */

static void apk_query_parse_installed(void **state) {
        static const struct {
                const char *name;
                const char *version;
        } cases[] = {
                { "musl", "1.2.4_git20230717-r4" },
                { "musl-utils", "1.2.4_git20230717-r4" },
                { "busybox", "1.36.1-r15" },
                { "busybox-binsh", "1.36.1-r15" },
                { "alpine-baselayout", "3.4.3-r2" },
                { "ca-certificates-bundle", "20230506-r0" },
                { "py3-packaging", "23.2-r0" },
                { "zlib", "1.3.1-r0" },
        };
        _cleanup_free_ char *output = recording("apk-info.txt");

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *version = NULL;

                assert_int_equal(parse(&package_backend_apk, output, cases[i].name, &version), 1);
                assert_string_equal(version, cases[i].version);
        }
}

static void apk_query_parse_not_installed(void **state) {
        /* "py3" and "alpine" start lines of other packages, whose rest is no version. */
        static const char *const names[] = { "nginx", "py3", "alpine", "musl-1.2.4", "zlib-1.3.1-r0" };
        _cleanup_free_ char *output = recording("apk-info.txt");

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *version = NULL;

                assert_int_equal(parse(&package_backend_apk, output, names[i], &version), 0);
                assert_null(version);
        }
}

static void apk_query_parse_empty_output(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(parse(&package_backend_apk, "", "musl", &version), 0);
        assert_null(version);
}

static void apk_query_parse_rejects_other_output(void **state) {
        static const char *const outputs[] = {
                "WARNING: Ignoring APKINDEX.66df3063.tar.gz: No such file or directory\nmusl-1.2.4-r2\n",
                "musl 1.2.4-r2\n",
                "musl-1.2.4-r\n",
                "musl-1.2.4_beta-rc\n",
                "musl\n",
                "-1.0-r0\n",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(outputs); i++) {
                _cleanup_free_ char *version = NULL;

                assert_int_equal(parse(&package_backend_apk, outputs[i], "musl", &version), -EINVAL);
                assert_null(version);
        }
}

static void apk_query_parse_version_grammar(void **state) {
        static const char *const versions[] = {
                "1", "1.2.3", "2.4a", "1.0_alpha", "1.0_beta2", "1.0_pre1_rc2", "1.0_p20230101",
                "0.1_git20230717", "1.0~abc123f", "1.0-r0", "10.20.30b_rc1~0f-r12",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                _cleanup_free_ char *output = NULL, *version = NULL;

                assert_true(asprintf(&output, "foo-%s\n", versions[i]) > 0);
                assert_int_equal(parse(&package_backend_apk, output, "foo", &version), 1);
                assert_string_equal(version, versions[i]);
        }
}

/* ---- version matching ---- */

static void rpm_version_matches_table(void **state) {
        static const struct {
                const char *installed;
                const char *requested;
                bool matches;
        } cases[] = {
                { "1.2-3.el9", "1.2", true },
                { "1.2-3.el9", "1.2-3.el9", true },
                { "1.2-3.el9", "1.2-3", false },
                { "1.2-3.el9", "1", false },
                { "1.2-3.el9", "1.2-", false },
                { "1.20-1", "1.2", false },
                { "1.2-1", "1.20", false },
                { "1.2-3.el9", "1:1.2-3.el9", false },
                { "1.2-3.el9", "", false },
        };
        const PackageBackend *const backends[] = { &package_backend_dnf, &package_backend_yum,
                                                   &package_backend_zypper };

        (void) state;
        for (size_t b = 0; b < ELEMENTSOF(backends); b++)
                for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                        assert_int_equal(backends[b]->version_matches(cases[i].installed, cases[i].requested),
                                         cases[i].matches);
}

static void apk_version_matches_table(void **state) {
        static const struct {
                const char *installed;
                const char *requested;
                bool matches;
        } cases[] = {
                { "1.2-r0", "1.2-r0", true },
                { "1.2-r0", "1.2", false },
                { "1.2-r1", "1.2-r0", false },
                { "1.2.1-r0", "1.2", false },
                { "1.2_rc1-r0", "1.2_rc1-r0", true },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(package_backend_apk.version_matches(cases[i].installed, cases[i].requested),
                                 cases[i].matches);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(dnf_update_argv_runs_makecache),
                cmocka_unit_test(dnf_upgrade_argv_runs_upgrade),
                cmocka_unit_test(dnf_install_argv_pins_with_dash),
                cmocka_unit_test(dnf_install_argv_without_pins),
                cmocka_unit_test(dnf_query_argv_names_only),
                cmocka_unit_test(dnf_descriptor_paths),
                cmocka_unit_test(yum_update_argv_runs_makecache),
                cmocka_unit_test(yum_upgrade_argv_runs_upgrade),
                cmocka_unit_test(yum_install_argv_pins_with_dash),
                cmocka_unit_test(yum_query_argv_names_only),
                cmocka_unit_test(yum_descriptor_paths),
                cmocka_unit_test(zypper_update_argv_runs_refresh),
                cmocka_unit_test(zypper_upgrade_argv_runs_update),
                cmocka_unit_test(zypper_install_argv_pins_with_equals),
                cmocka_unit_test(zypper_query_argv_names_only),
                cmocka_unit_test(zypper_descriptor_paths),
                cmocka_unit_test(apk_update_argv_runs_update),
                cmocka_unit_test(apk_upgrade_argv_runs_upgrade),
                cmocka_unit_test(apk_install_argv_pins_with_equals),
                cmocka_unit_test(apk_query_argv_lists_everything),
                cmocka_unit_test(apk_descriptor_paths),
                cmocka_unit_test(rpm_query_exit_ok_allows_missing_counts),
                cmocka_unit_test(apk_query_exit_ok_only_zero),
                cmocka_unit_test(rpm_query_parse_installed),
                cmocka_unit_test(rpm_query_parse_arch_qualified),
                cmocka_unit_test(rpm_query_parse_dotted_name),
                cmocka_unit_test(rpm_query_parse_not_installed),
                cmocka_unit_test(rpm_query_parse_unqueried_name),
                cmocka_unit_test(rpm_query_parse_rejects_other_output),
                cmocka_unit_test(rpm_query_parse_first_line_wins),
                cmocka_unit_test(rpm_query_parse_last_line_without_newline),
                cmocka_unit_test(apk_query_parse_installed),
                cmocka_unit_test(apk_query_parse_not_installed),
                cmocka_unit_test(apk_query_parse_empty_output),
                cmocka_unit_test(apk_query_parse_rejects_other_output),
                cmocka_unit_test(apk_query_parse_version_grammar),
                cmocka_unit_test(rpm_version_matches_table),
                cmocka_unit_test(apk_version_matches_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
