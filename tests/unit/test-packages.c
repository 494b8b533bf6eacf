/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/packages.c and modules/packages-apt.c: the apt-get and dpkg-query argv,
 * the reading of recorded dpkg-query output, version matching, name and version rules, the
 * reason taken from apt's stderr, lock detection, the module's checks of its keys, and the
 * per-module detail record of agent/report.c. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "packages.h"
#include "report.h"
#include "test-helpers.h"

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        t->ctx.report = report_free(t->ctx.report);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* The argv as one string, arguments separated by '|'. */
static char *argv_join(char **argv) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        for (size_t i = 0; argv[i]; i++)
                fprintf(f, "%s%s", i ? "|" : "", argv[i]);
        fclose(f);
        strv_free(argv);
        return text;
}

#define APT_GET_PREFIX "/usr/bin/apt-get|--option=Dpkg::Options::=--force-confold|" \
        "--option=Dpkg::options::=--force-unsafe-io|--assume-yes|--quiet|"

static void apt_update_argv_matches_cloud_init(void **state) {
        _cleanup_free_ char *text = argv_join(package_backend_apt.update_argv());

        (void) state;
        assert_string_equal(text, APT_GET_PREFIX "update");
}

static void apt_upgrade_argv_is_dist_upgrade(void **state) {
        _cleanup_free_ char *text = argv_join(package_backend_apt.upgrade_argv());

        (void) state;
        assert_string_equal(text, APT_GET_PREFIX "dist-upgrade");
}

static void apt_install_argv_pins_with_equals(void **state) {
        const PackageSpec specs[] = { { "hello", NULL }, { "kiln-test", "1.0-1" }, { "libc6:i386", "2.36-9" } };
        _cleanup_free_ char *text = argv_join(package_backend_apt.install_argv(specs, ELEMENTSOF(specs)));

        (void) state;
        assert_string_equal(text, APT_GET_PREFIX "install|hello|kiln-test=1.0-1|libc6:i386=2.36-9");
}

static void apt_query_argv_names_every_package(void **state) {
        const PackageSpec specs[] = { { "hello", NULL }, { "sudo", "1.9" } };
        _cleanup_free_ char *text = argv_join(package_backend_apt.query_argv(specs, ELEMENTSOF(specs)));

        (void) state;
        assert_string_equal(text, "/usr/bin/dpkg-query|--show|"
                            "--showformat=${binary:Package}\\t${db:Status-Abbrev}\\t${Version}\\n|hello|sudo");
}

static void apt_query_exit_codes_zero_and_one_are_answers(void **state) {
        (void) state;
        assert_int_equal(package_backend_apt.query_exit_ok, 3U);
}

/* Recorded from dpkg-query on Debian 12 for "hello sudo nginx-common libc6 helo": dpkg knows
 * nginx-common only as removed, and "helo" produced no line. */
static const char dpkg_query_output[] =
        "hello\tii \t2.10-3\n"
        "sudo\tii \t1.9.13p3-1+deb12u1\n"
        "nginx-common\trc \t1.22.1-9\n"
        "libc6:amd64\tii \t2.36-9+deb12u4\n";

static void apt_query_parse_held_is_installed(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse("sudo\thi \t1.9.13p3-1+deb12u1\n", "sudo", &version), 1);
        assert_string_equal(version, "1.9.13p3-1+deb12u1");
}

static void apt_query_parse_installed_version(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "sudo", &version), 1);
        assert_string_equal(version, "1.9.13p3-1+deb12u1");
}

static void apt_query_parse_removed_is_missing(void **state) {
        char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "nginx-common", &version), 0);
        assert_null(version);
}

static void apt_query_parse_unknown_is_missing(void **state) {
        char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "helo", &version), 0);
}

static void apt_query_parse_prefix_name_is_missing(void **state) {
        char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "hell", &version), 0);
}

static void apt_query_parse_native_architecture(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "libc6", &version), 1);
        assert_string_equal(version, "2.36-9+deb12u4");
}

static void apt_query_parse_qualified_name(void **state) {
        _cleanup_free_ char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "libc6:amd64", &version), 1);
        assert_string_equal(version, "2.36-9+deb12u4");
}

static void apt_query_parse_other_architecture_is_missing(void **state) {
        char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse(dpkg_query_output, "libc6:i386", &version), 0);
}

static void apt_query_parse_garbled_line_is_invalid(void **state) {
        char *version = NULL;

        (void) state;
        assert_int_equal(package_backend_apt.query_parse("hello ii 2.10-3\nhello\tii\n", "hello", &version),
                         -EINVAL);
}

static void apt_version_matches_exact(void **state) {
        (void) state;
        assert_true(package_backend_apt.version_matches("2.10-3", "2.10-3"));
}

static void apt_version_matches_rejects_other(void **state) {
        (void) state;
        assert_false(package_backend_apt.version_matches("2.10-3", "2.10"));
}

static void apt_version_matches_epoch_must_be_written(void **state) {
        (void) state;
        assert_false(package_backend_apt.version_matches("1:2.10-3", "2.10-3"));
}

static void apt_backend_waits_for_frontend_lock_first(void **state) {
        (void) state;
        assert_string_equal(package_backend_apt.lock_files[0], "/var/lib/dpkg/lock-frontend");
}

static void apt_backend_is_noninteractive(void **state) {
        (void) state;
        assert_string_equal(package_backend_apt.environment[0], "DEBIAN_FRONTEND=noninteractive");
}

static void package_name_valid_accepts_debian_names(void **state) {
        (void) state;
        assert_true(package_name_valid("libstdc++6"));
        assert_true(package_name_valid("python3.11-venv"));
        assert_true(package_name_valid("libc6:i386"));
        assert_true(package_name_valid("NetworkManager_x"));
}

static void package_name_valid_rejects_option(void **state) {
        (void) state;
        assert_false(package_name_valid("-oAPT::Get::AllowUnauthenticated=1"));
}

static void package_name_valid_rejects_blank_and_empty(void **state) {
        (void) state;
        assert_false(package_name_valid("hello world"));
        assert_false(package_name_valid(""));
        assert_false(package_name_valid("hello\n"));
}

static void package_name_valid_rejects_pin_syntax(void **state) {
        (void) state;
        assert_false(package_name_valid("hello=2.10-3"));
}

static void package_version_valid_accepts_debian_versions(void **state) {
        (void) state;
        assert_true(package_version_valid("1:2.36-9+deb12u4"));
        assert_true(package_version_valid("1.0~rc1-1"));
        assert_true(package_version_valid("1.9.13p3"));
}

static void package_version_valid_rejects_leading_dash(void **state) {
        (void) state;
        assert_false(package_version_valid("-1"));
        assert_false(package_version_valid("1 2"));
        assert_false(package_version_valid(""));
}

static const char apt_stderr[] =
        "W: Some index files failed to download.\n"
        "E: Unable to locate package helo\n"
        "E: Unable to locate package wrold\n";

static void packages_failure_reason_names_package_first(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason(apt_stderr, "wrold");

        (void) state;
        assert_string_equal(reason, "E: Unable to locate package wrold; E: Unable to locate package helo");
}

static const char dpkg_stderr[] =
        "E: Can not write log (Is /dev/pts mounted?) - posix_openpt (19: No such device)\n"
        "kiln-fail: /etc/kiln-fail.conf is missing\n"
        "dpkg: error processing package kiln-fail (--configure):\n"
        " installed kiln-fail package post-installation script subprocess returned error exit status 1\n"
        "Errors were encountered while processing:\n"
        " kiln-fail\n"
        "E: Sub-process /usr/bin/dpkg returned an error code (1)\n";

static void packages_failure_reason_dpkg_error_first(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason(dpkg_stderr, "kiln-fail");

        (void) state;
        assert_string_equal(reason, "dpkg: error processing package kiln-fail (--configure): installed kiln-fail "
                            "package post-installation script subprocess returned error exit status 1; "
                            "E: Sub-process /usr/bin/dpkg returned an error code (1)");
}

static void packages_failure_reason_other_package_without_dpkg_error(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason(dpkg_stderr, "hello");

        (void) state;
        assert_string_equal(reason, "E: Sub-process /usr/bin/dpkg returned an error code (1)");
}

static void packages_failure_reason_joins_detail_line(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason(
                "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 5 package 'hello':\n"
                " missing 'Version' field\n", NULL);

        (void) state;
        assert_string_equal(reason, "dpkg-query: error: parsing file '/var/lib/dpkg/status' near line 5 package "
                            "'hello': missing 'Version' field");
}

static void packages_failure_reason_without_error_lines(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason("\nsomething broke\nmore\n", NULL);

        (void) state;
        assert_string_equal(reason, "something broke");
}

static void packages_failure_reason_empty_stderr(void **state) {
        _cleanup_free_ char *reason = packages_failure_reason(NULL, "hello");

        (void) state;
        assert_string_equal(reason, "");
}

/* The holder that packages_pid_file_holder() finds in a pid file containing text. */
static int pid_file_holder(void **state, const char *text, pid_t *ret_pid) {
        Context *ctx = ctx_of(state);

        assert_int_equal(write_file_atomic(ctx->root_fd, "/run/zypp.pid", text, strlen(text), 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        return packages_pid_file_holder(ctx->root_fd, "/run/zypp.pid", ret_pid);
}

static void packages_pid_file_holder_live_process(void **state) {
        char text[32];
        pid_t pid = 0;

        (void) snprintf(text, sizeof(text), "%d\n", (int) getpid());
        assert_int_equal(pid_file_holder(state, text, &pid), 1);
        assert_int_equal(pid, getpid());
}

static void packages_pid_file_holder_empty_is_free(void **state) {
        pid_t pid = 0;

        assert_int_equal(pid_file_holder(state, "", &pid), 0);
}

static void packages_pid_file_holder_dead_process_is_free(void **state) {
        char text[32];
        pid_t pid = 0, child = fork();

        assert_true(child >= 0);
        if (child == 0)
                _exit(0);
        assert_int_equal(waitpid(child, NULL, 0), child);
        (void) snprintf(text, sizeof(text), "%d\n", (int) child);
        assert_int_equal(pid_file_holder(state, text, &pid), 0);
}

static void packages_pid_file_holder_garbage_is_free(void **state) {
        pid_t pid = 0;

        assert_int_equal(pid_file_holder(state, "-1\n", &pid), 0);
        assert_int_equal(pid_file_holder(state, "abc\n", &pid), 0);
}

static void packages_pid_file_holder_missing_file(void **state) {
        pid_t pid = 0;

        assert_int_equal(packages_pid_file_holder(ctx_of(state)->root_fd, "/var/run/yum.pid", &pid), 0);
}

static void packages_lock_holder_missing_file(void **state) {
        pid_t pid = 0;

        assert_int_equal(packages_lock_holder(ctx_of(state)->root_fd, "/var/lib/dpkg/lock", &pid), 0);
}

static void packages_lock_holder_unlocked_file(void **state) {
        Context *ctx = ctx_of(state);
        pid_t pid = 0;

        assert_int_equal(write_file_atomic(ctx->root_fd, "/var/lib/dpkg/lock", "", 0, 0640, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(packages_lock_holder(ctx->root_fd, "/var/lib/dpkg/lock", &pid), 0);
}

static void packages_lock_holder_names_process(void **state) {
        Context *ctx = ctx_of(state);
        int ready[2], fd, status;
        pid_t child, pid = 0;
        char byte;

        assert_int_equal(write_file_atomic(ctx->root_fd, "/var/lib/dpkg/lock-frontend", "", 0, 0640, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(pipe(ready), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                /* Lock as apt does: a classic fcntl() write lock, then wait to be killed. */
                struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

                fd = root_open(ctx->root_fd, "/var/lib/dpkg/lock-frontend", O_RDWR, 0);
                if (fd < 0 || fcntl(fd, F_SETLK, &lock) < 0)
                        _exit(1);
                (void) !write(ready[1], "x", 1);
                pause();
                _exit(0);
        }
        assert_int_equal(read(ready[0], &byte, 1), 1);

        assert_int_equal(packages_lock_holder(ctx->root_fd, "/var/lib/dpkg/lock-frontend", &pid), 1);
        assert_int_equal(pid, child);

        (void) kill(child, SIGKILL);
        (void) waitpid(child, &status, 0);
        close(ready[0]);
        close(ready[1]);
}

static int run(void **state, const char *json) {
        Context *ctx = ctx_of(state);
        json_error_t error;

        json_decref(ctx->config);
        ctx->config = json_loads(json, 0, &error);
        assert_non_null(ctx->config);
        return module_packages.run(ctx, ctx->config);
}

static const char *first_error(void **state) {
        return json_string_value(json_object_get(json_array_get(ctx_of(state)->errors, 0), "message"));
}

static json_int_t first_error_item(void **state) {
        return json_integer_value(json_object_get(json_array_get(ctx_of(state)->errors, 0), "item"));
}

static void packages_run_nothing_requested(void **state) {
        assert_int_equal(run(state, "{\"packages\": [], \"package_update\": false}"), 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void packages_run_invalid_name_names_item(void **state) {
        assert_int_equal(run(state, "{\"packages\": [\"hello\", \"-y\"]}"), -EINVAL);
        assert_int_equal(first_error_item(state), 1);
        assert_non_null(strstr(first_error(state), "packages.1 is not a valid package name: '-y'"));
}

static void packages_run_pair_with_three_items_is_invalid(void **state) {
        assert_int_equal(run(state, "{\"packages\": [[\"hello\", \"1\", \"2\"]]}"), -EINVAL);
        assert_non_null(strstr(first_error(state), "exactly two items"));
}

static void packages_run_invalid_version_is_invalid(void **state) {
        assert_int_equal(run(state, "{\"packages\": [{\"apt\": [[\"hello\", \"1 ; rm\"]]}]}"), -EINVAL);
        assert_int_equal(first_error_item(state), 0);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(ctx_of(state)->errors, 0), "message")),
                               "invalid version '1 ; rm' for 'hello'"));
}

static void packages_run_boolean_item_is_invalid(void **state) {
        assert_int_equal(run(state, "{\"packages\": [true]}"), -EINVAL);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void packages_run_non_boolean_update_is_invalid(void **state) {
        assert_int_equal(run(state, "{\"package_update\": \"sometimes\"}"), -EINVAL);
}

static void packages_run_without_package_manager_fails(void **state) {
        assert_int_equal(run(state, "{\"packages\": [\"hello\"]}"), -ENOENT);
        assert_non_null(strstr(first_error(state), "Failed to find a package manager"));
}

static void packages_fields_declare_deprecated_names(void **state) {
        size_t found = 0;

        (void) state;
        for (const KeyField *f = module_packages.config_fields; f->name; f++)
                if (f->replaced_by && strneq(f->name, "apt_", 4) && streq(f->replaced_by + 8, f->name + 4))
                        found++;
        assert_int_equal(found, 3);
}

static void report_module_detail_adds_member(void **state) {
        Context *ctx = ctx_of(state);
        json_auto_t *list = json_pack("[{s:s}]", "name", "hello");
        _cleanup_free_ char *text = NULL;
        size_t size = 0;

        assert_int_equal(report_begin(ctx), 0);
        report_module_begin(ctx, "packages", "once-per-instance");
        assert_int_equal(report_module_detail(ctx, "packages", list), 0);
        report_module_end(ctx, "changed", NULL);

        assert_int_equal(read_file_at(ctx->root_fd, "/run/kiln/status.json", 1 << 20, &text, &size), 0);
        assert_non_null(strstr(text, "\"packages\": [\n"));
}

static void report_module_detail_rejects_own_member(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(report_begin(ctx), 0);
        report_module_begin(ctx, "packages", "once-per-instance");
        assert_int_equal(report_module_detail(ctx, "state", json_true()), -EINVAL);
}

static void report_module_detail_without_module(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(report_begin(ctx), 0);
        assert_int_equal(report_module_detail(ctx, "packages", json_true()), -ESRCH);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(apt_update_argv_matches_cloud_init),
                cmocka_unit_test(apt_upgrade_argv_is_dist_upgrade),
                cmocka_unit_test(apt_install_argv_pins_with_equals),
                cmocka_unit_test(apt_query_argv_names_every_package),
                cmocka_unit_test(apt_query_exit_codes_zero_and_one_are_answers),
                cmocka_unit_test(apt_query_parse_installed_version),
                cmocka_unit_test(apt_query_parse_held_is_installed),
                cmocka_unit_test(apt_query_parse_removed_is_missing),
                cmocka_unit_test(apt_query_parse_unknown_is_missing),
                cmocka_unit_test(apt_query_parse_prefix_name_is_missing),
                cmocka_unit_test(apt_query_parse_native_architecture),
                cmocka_unit_test(apt_query_parse_qualified_name),
                cmocka_unit_test(apt_query_parse_other_architecture_is_missing),
                cmocka_unit_test(apt_query_parse_garbled_line_is_invalid),
                cmocka_unit_test(apt_version_matches_exact),
                cmocka_unit_test(apt_version_matches_rejects_other),
                cmocka_unit_test(apt_version_matches_epoch_must_be_written),
                cmocka_unit_test(apt_backend_waits_for_frontend_lock_first),
                cmocka_unit_test(apt_backend_is_noninteractive),
                cmocka_unit_test(package_name_valid_accepts_debian_names),
                cmocka_unit_test(package_name_valid_rejects_option),
                cmocka_unit_test(package_name_valid_rejects_blank_and_empty),
                cmocka_unit_test(package_name_valid_rejects_pin_syntax),
                cmocka_unit_test(package_version_valid_accepts_debian_versions),
                cmocka_unit_test(package_version_valid_rejects_leading_dash),
                cmocka_unit_test(packages_failure_reason_names_package_first),
                cmocka_unit_test(packages_failure_reason_dpkg_error_first),
                cmocka_unit_test(packages_failure_reason_other_package_without_dpkg_error),
                cmocka_unit_test(packages_failure_reason_joins_detail_line),
                cmocka_unit_test(packages_failure_reason_without_error_lines),
                cmocka_unit_test(packages_failure_reason_empty_stderr),
                cmocka_unit_test_setup_teardown(packages_pid_file_holder_live_process, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_pid_file_holder_empty_is_free, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_pid_file_holder_dead_process_is_free, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_pid_file_holder_garbage_is_free, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_pid_file_holder_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_lock_holder_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_lock_holder_unlocked_file, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_lock_holder_names_process, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_nothing_requested, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_invalid_name_names_item, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_pair_with_three_items_is_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_invalid_version_is_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_boolean_item_is_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_non_boolean_update_is_invalid, setup, teardown),
                cmocka_unit_test_setup_teardown(packages_run_without_package_manager_fails, setup, teardown),
                cmocka_unit_test(packages_fields_declare_deprecated_names),
                cmocka_unit_test_setup_teardown(report_module_detail_adds_member, setup, teardown),
                cmocka_unit_test_setup_teardown(report_module_detail_rejects_own_member, setup, teardown),
                cmocka_unit_test_setup_teardown(report_module_detail_without_module, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
