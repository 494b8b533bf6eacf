/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the power_state module: the argv of shutdown and the request the module records. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "modules/module.h"
#include "modules/power_state.h"
#include "test-helpers.h"

static void power_state_argv_reboot_with_message(void **state) {
        char **argv = NULL;

        (void) state;
        assert_int_equal(power_state_argv("/sbin/shutdown", "reboot", "+5", "bye now", &argv), 0);
        assert_string_equal(argv[0], "/sbin/shutdown");
        assert_string_equal(argv[1], "-r");
        assert_string_equal(argv[2], "+5");
        assert_string_equal(argv[3], "bye now");
        assert_null(argv[4]);
        strv_free(argv);
}

static void power_state_argv_modes(void **state) {
        char **argv = NULL;

        (void) state;
        assert_int_equal(power_state_argv("shutdown", "poweroff", "now", NULL, &argv), 0);
        assert_string_equal(argv[1], "-P");
        assert_null(argv[3]);
        argv = strv_free(argv);
        assert_int_equal(power_state_argv("shutdown", "halt", "now", "", &argv), 0);
        assert_string_equal(argv[1], "-H");
        assert_null(argv[3]);
        strv_free(argv);
}

static void power_state_argv_unknown_mode(void **state) {
        char **argv = NULL;

        (void) state;
        assert_int_equal(power_state_argv("shutdown", "suspend", "now", NULL, &argv), -EINVAL);
        assert_null(argv);
}

/* Run the module on config text in a root with /usr/sbin/shutdown. */
static int run_module(TestRoot *t, const char *config) {
        json_decref(t->ctx.config);
        t->ctx.config = json_loads(config, 0, NULL);
        assert_non_null(t->ctx.config);
        assert_int_equal(write_file_atomic(t->ctx.root_fd, "usr/sbin/shutdown", "#!/bin/sh\n", 10, 0755, -1, -1,
                                           WRITE_MKDIR_PARENTS), 0);
        return module_power_state.run(&t->ctx, t->ctx.config);
}

static void power_state_run_records_request(void **state) {
        TestRoot *t = test_root_new();
        const json_t *argv;

        (void) state;
        assert_int_equal(run_module(t, "{\"power_state\": {\"mode\": \"reboot\", \"delay\": 3, \"timeout\": 7,"
                                       " \"condition\": \"test -e /x\"}}"), 0);
        assert_non_null(t->ctx.power_state);
        argv = json_object_get(t->ctx.power_state, "argv");
        assert_int_equal(json_array_size(argv), 3);
        assert_string_equal(json_string_value(json_array_get(argv, 0)), "/usr/sbin/shutdown");
        assert_string_equal(json_string_value(json_array_get(argv, 2)), "+3");
        assert_string_equal(json_string_value(json_object_get(t->ctx.power_state, "condition")), "test -e /x");
        assert_true(json_number_value(json_object_get(t->ctx.power_state, "timeout")) == 7.0);
        json_decref(t->ctx.power_state);
        test_root_free(t);
}

static void power_state_run_delay_forms(void **state) {
        static const char *const cases[][2] = {
                { "\"now\"", "now" }, { "\"+10\"", "+10" }, { "\"15\"", "+15" }, { "0", "+0" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestRoot *t = test_root_new();
                char config[128];

                (void) snprintf(config, sizeof(config), "{\"power_state\": {\"mode\": \"halt\", \"delay\": %s}}",
                                cases[i][0]);
                assert_int_equal(run_module(t, config), 0);
                assert_string_equal(json_string_value(json_array_get(json_object_get(t->ctx.power_state, "argv"), 2)),
                                    cases[i][1]);
                json_decref(t->ctx.power_state);
                test_root_free(t);
        }
}

static void power_state_run_condition_false_records_nothing(void **state) {
        TestRoot *t = test_root_new();

        (void) state;
        assert_int_equal(run_module(t, "{\"power_state\": {\"mode\": \"reboot\", \"condition\": false}}"), 0);
        assert_null(t->ctx.power_state);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        test_root_free(t);
}

static void power_state_run_invalid_values_are_errors(void **state) {
        static const char *const cases[] = {
                "{\"power_state\": {\"mode\": \"explode\"}}",
                "{\"power_state\": {\"delay\": \"now\"}}",
                "{\"power_state\": {\"mode\": \"reboot\", \"delay\": \"soon\"}}",
                "{\"power_state\": {\"mode\": \"reboot\", \"delay\": -1}}",
                "{\"power_state\": {\"mode\": \"reboot\", \"timeout\": \"5\"}}",
                "{\"power_state\": {\"mode\": \"reboot\", \"message\": 5}}",
                "{\"power_state\": {\"mode\": \"reboot\", \"condition\": {\"a\": 1}}}",
                "{\"power_state\": \"reboot\"}",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                TestRoot *t = test_root_new();

                assert_int_equal(run_module(t, cases[i]), -EINVAL);
                assert_null(t->ctx.power_state);
                assert_int_equal(json_array_size(t->ctx.errors), 1);
                test_root_free(t);
        }
}

static void power_state_run_missing_shutdown_is_error(void **state) {
        TestRoot *t = test_root_new();

        (void) state;
        json_decref(t->ctx.config);
        t->ctx.config = json_loads("{\"power_state\": {\"mode\": \"reboot\"}}", 0, NULL);
        assert_int_equal(module_power_state.run(&t->ctx, t->ctx.config), -ENOENT);
        assert_null(t->ctx.power_state);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        test_root_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(power_state_argv_reboot_with_message),
                cmocka_unit_test(power_state_argv_modes),
                cmocka_unit_test(power_state_argv_unknown_mode),
                cmocka_unit_test(power_state_run_records_request),
                cmocka_unit_test(power_state_run_delay_forms),
                cmocka_unit_test(power_state_run_condition_false_records_nothing),
                cmocka_unit_test(power_state_run_invalid_values_are_errors),
                cmocka_unit_test(power_state_run_missing_shutdown_is_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
