/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/timezone.c on scratch roots with a small zoneinfo tree. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

static int setup(void **state) {
        TestRoot *t = test_root_new();
        const char *zones[] = { "/usr/share/zoneinfo/Europe/Berlin", "/usr/share/zoneinfo/Europe/Paris",
                                "/usr/share/zoneinfo/UTC" };

        for (size_t i = 0; i < ELEMENTSOF(zones); i++)
                assert_int_equal(write_file_atomic(t->ctx.root_fd, zones[i], "TZif", 4, 0644, (uid_t) -1,
                                                   (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        *state = t;
        return 0;
}

static int run(void **state, json_t *config) {
        return module_timezone.run(test_root_context(state), test_root_set_config(state, config));
}

static void assert_link(void **state, const char *expected) {
        char target[PATH_MAX];
        ssize_t n;

        n = readlinkat(test_root_context(state)->root_fd, "etc/localtime", target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, expected);
}

static const char *last_error(void **state) {
        const json_t *errors = test_root_context(state)->errors;

        return json_string_value(json_object_get(json_array_get(errors, json_array_size(errors) - 1), "message"));
}

static void timezone_debian_writes_both(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berlin")), 1);

        assert_link(state, "/usr/share/zoneinfo/Europe/Berlin");
        test_root_assert_file(state, "/etc/timezone", "Europe/Berlin\n");
}

static void timezone_second_run_unchanged(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berlin")), 1);
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berlin")), 0);
}

static void timezone_replaces_regular_file(void **state) {
        test_root_write(state, "/etc/localtime", "old zone data");
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "UTC")), 1);

        assert_link(state, "/usr/share/zoneinfo/UTC");
}

static void timezone_replaces_other_link(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berlin")), 1);
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Paris")), 1);

        assert_link(state, "/usr/share/zoneinfo/Europe/Paris");
        test_root_assert_file(state, "/etc/timezone", "Europe/Paris\n");
}

static void timezone_rhel_skips_timezone_file(void **state) {
        test_root_write(state, "/etc/redhat-release", "Red Hat Enterprise Linux release 9.4\n");
        test_root_write(state, "/etc/sysconfig/clock", "UTC=true\nZONE=\"America/New_York\"\n");
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berlin")), 1);

        assert_link(state, "/usr/share/zoneinfo/Europe/Berlin");
        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/timezone"), 0);
        test_root_assert_file(state, "/etc/sysconfig/clock", "UTC=true\nZONE=Europe/Berlin\n");
}

static void timezone_unknown_suggests_nearest(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe/Berln")), -EINVAL);

        assert_non_null(strstr(last_error(state), "unknown zone 'Europe/Berln'"));
        assert_non_null(strstr(last_error(state), "Did you mean 'Europe/Berlin'?"));
        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/localtime"), 0);
}

static void timezone_unknown_without_suggestion(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Mars/Olympus")), -EINVAL);

        assert_null(strstr(last_error(state), "Did you mean"));
}

static void timezone_dot_dot_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "../../etc/passwd")), -EINVAL);

        assert_non_null(strstr(last_error(state), "'..' component"));
}

static void timezone_absolute_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "/usr/share/zoneinfo/UTC")), -EINVAL);

        assert_non_null(strstr(last_error(state), "absolute path"));
}

static void timezone_directory_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "Europe")), -EINVAL);

        assert_non_null(strstr(last_error(state), "not a regular file"));
}

static void timezone_number_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:i}", "timezone", 3)), -EINVAL);

        assert_non_null(strstr(last_error(state), "timezone is 3"));
}

static void timezone_empty_warns(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "timezone", "")), 0);

        assert_int_equal(json_array_size(test_root_context(state)->warnings), 1);
}

static void timezone_without_zoneinfo_is_error(void **state) {
        TestRoot *t = test_root_new();

        json_decref(t->ctx.config);
        t->ctx.config = json_pack("{s:s}", "timezone", "UTC");
        assert_int_equal(module_timezone.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(t->ctx.errors, 0), "message")),
                               "tzdata"));
        test_root_free(t);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, test_root_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(timezone_debian_writes_both),
                T(timezone_second_run_unchanged),
                T(timezone_replaces_regular_file),
                T(timezone_replaces_other_link),
                T(timezone_rhel_skips_timezone_file),
                T(timezone_unknown_suggests_nearest),
                T(timezone_unknown_without_suggestion),
                T(timezone_dot_dot_rejected),
                T(timezone_absolute_rejected),
                T(timezone_directory_rejected),
                T(timezone_number_rejected),
                T(timezone_empty_warns),
                cmocka_unit_test(timezone_without_zoneinfo_is_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
