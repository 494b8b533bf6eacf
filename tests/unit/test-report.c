/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/report.c: recorded diagnostics, run status and exit codes, status.json and
 * result.json. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "report.h"
#include "test-helpers.h"

#define READ_MAX (1024U * 1024U)

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

static json_t *first_error(void **state) {
        json_t *e = json_array_get(ctx_of(state)->errors, 0);

        assert_non_null(e);
        return e;
}

static json_t *first_warning(void **state) {
        json_t *w = json_array_get(ctx_of(state)->warnings, 0);

        assert_non_null(w);
        return w;
}

/* Parse a JSON file inside the root. The test fails when the file is missing or is not JSON. */
static json_t *load_json(void **state, const char *path) {
        _cleanup_free_ char *text = NULL;
        json_error_t error;
        size_t size;
        json_t *doc;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, READ_MAX, &text, &size), 0);
        doc = json_loadb(text, size, 0, &error);
        if (!doc)
                fail_msg("%s is not JSON: %s at line %d", path, error.text, error.line);
        return doc;
}

static mode_t root_mode(void **state, const char *path) {
        char host[PATH_MAX];
        struct stat st;

        snprintf(host, sizeof(host), "%s/%s", ((TestRoot *) *state)->path, path);
        assert_int_equal(lstat(host, &st), 0);
        return st.st_mode & 07777;
}

static void report_error_returns_given_errno(void **state) {
        assert_int_equal(report_error(ctx_of(state), -1, -ENOENT, "Failed to open '%s': %m", "/x"), -ENOENT);
}

static void report_error_without_errno_returns_einval(void **state) {
        assert_int_equal(report_error(ctx_of(state), -1, 0, "Invalid value '%s'", "x"), -EINVAL);
}

static void report_error_positive_error_returns_einval(void **state) {
        assert_int_equal(report_error(ctx_of(state), -1, 1, "Command exited with %d", 1), -EINVAL);
}

static void report_error_records_one_entry(void **state) {
        (void) report_error(ctx_of(state), -1, 0, "Something failed");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void report_error_records_module(void **state) {
        ctx_of(state)->current = "runcmd";
        (void) report_error(ctx_of(state), 3, 0, "Command failed");
        assert_string_equal(json_string_value(json_object_get(first_error(state), "module")), "runcmd");
}

static void report_error_records_item(void **state) {
        (void) report_error(ctx_of(state), 3, 0, "Command failed");
        assert_int_equal(json_integer_value(json_object_get(first_error(state), "item")), 3);
}

static void report_error_item_zero_is_recorded(void **state) {
        json_t *item;

        (void) report_error(ctx_of(state), 0, 0, "Command failed");
        item = json_object_get(first_error(state), "item");
        assert_true(json_is_integer(item));
        assert_int_equal(json_integer_value(item), 0);
}

static void report_error_negative_item_is_null(void **state) {
        (void) report_error(ctx_of(state), -1, 0, "Command failed");
        assert_true(json_is_null(json_object_get(first_error(state), "item")));
}

static void report_error_records_message(void **state) {
        (void) report_error(ctx_of(state), -1, 0, "Invalid permissions '%s' for %s", "0999", "/run/x");
        assert_string_equal(json_string_value(json_object_get(first_error(state), "message")),
                            "Invalid permissions '0999' for /run/x");
}

static void report_error_message_renders_errno(void **state) {
        (void) report_error(ctx_of(state), -1, -ENOENT, "Failed to open '%s': %m", "/x");
        assert_string_equal(json_string_value(json_object_get(first_error(state), "message")),
                            "Failed to open '/x': No such file or directory");
}

static void report_error_no_module_records_kiln(void **state) {
        ctx_of(state)->current = NULL;
        (void) report_error(ctx_of(state), -1, 0, "Something failed");
        assert_string_equal(json_string_value(json_object_get(first_error(state), "module")), "kiln");
}

static void report_warning_records_module(void **state) {
        ctx_of(state)->current = "userdata";
        report_warning(ctx_of(state), -1, "Unrecognised first line '%s', ignoring it.", "x");
        assert_string_equal(json_string_value(json_object_get(first_warning(state), "module")), "userdata");
}

static void report_warning_records_item(void **state) {
        report_warning(ctx_of(state), 2, "Unknown datasource in datasource_list, skipping.");
        assert_int_equal(json_integer_value(json_object_get(first_warning(state), "item")), 2);
}

static void report_warning_negative_item_is_null(void **state) {
        report_warning(ctx_of(state), -1, "Something was ignored.");
        assert_true(json_is_null(json_object_get(first_warning(state), "item")));
}

static void report_warning_records_message(void **state) {
        report_warning(ctx_of(state), -1, "Unrecognised first line '%s', ignoring it.", "x");
        assert_string_equal(json_string_value(json_object_get(first_warning(state), "message")),
                            "Unrecognised first line 'x', ignoring it.");
}

static void report_warning_records_no_error(void **state) {
        report_warning(ctx_of(state), -1, "Something was ignored.");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void report_status_nothing_is_done(void **state) {
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_DONE);
}

static void report_status_warning_is_degraded(void **state) {
        report_warning(ctx_of(state), -1, "Something was ignored.");
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_DEGRADED);
}

static void report_status_error_is_error(void **state) {
        (void) report_error(ctx_of(state), -1, 0, "Something failed");
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_ERROR);
}

static void report_status_error_outranks_warning(void **state) {
        report_warning(ctx_of(state), -1, "Something was ignored.");
        (void) report_error(ctx_of(state), -1, 0, "Something failed");
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_ERROR);
}

static void run_status_exit_code_done_is_zero(void **state) {
        assert_int_equal(run_status_exit_code(RUN_STATUS_DONE), 0);
}

static void run_status_exit_code_running_is_zero(void **state) {
        assert_int_equal(run_status_exit_code(RUN_STATUS_RUNNING), 0);
}

static void run_status_exit_code_disabled_is_zero(void **state) {
        assert_int_equal(run_status_exit_code(RUN_STATUS_DISABLED), 0);
}

static void run_status_exit_code_error_is_one(void **state) {
        assert_int_equal(run_status_exit_code(RUN_STATUS_ERROR), 1);
}

static void run_status_exit_code_degraded_is_two(void **state) {
        assert_int_equal(run_status_exit_code(RUN_STATUS_DEGRADED), 2);
}

static void run_status_to_string_round_trips(void **state) {
        for (RunStatus s = 0; s < _RUN_STATUS_MAX; s++)
                assert_int_equal(run_status_from_string(run_status_to_string(s)), s);
}

static void run_status_to_string_degraded(void **state) {
        assert_string_equal(run_status_to_string(RUN_STATUS_DEGRADED), "degraded");
}

static void run_status_from_string_unknown_invalid(void **state) {
        assert_int_equal(run_status_from_string("finished"), _RUN_STATUS_INVALID);
}

static void run_status_from_string_null_invalid(void **state) {
        assert_int_equal(run_status_from_string(NULL), _RUN_STATUS_INVALID);
}

static void report_begin_writes_status_json_mode_0644(void **state) {
        assert_int_equal(report_begin(ctx_of(state)), 0);
        assert_int_equal(root_mode(state, "run/kiln/status.json"), 0644);
}

static void report_begin_status_is_running(void **state) {
        json_t *doc;

        assert_int_equal(report_begin(ctx_of(state)), 0);
        doc = load_json(state, "run/kiln/status.json");
        assert_string_equal(json_string_value(json_object_get(doc, "status")), "running");
        json_decref(doc);
}

static void report_begin_status_has_errors_list(void **state) {
        json_t *doc;

        assert_int_equal(report_begin(ctx_of(state)), 0);
        doc = load_json(state, "run/kiln/status.json");
        assert_true(json_is_array(json_object_get(doc, "errors")));
        json_decref(doc);
}

static void report_begin_status_has_warnings_list(void **state) {
        json_t *doc;

        assert_int_equal(report_begin(ctx_of(state)), 0);
        doc = load_json(state, "run/kiln/status.json");
        assert_true(json_is_array(json_object_get(doc, "warnings")));
        json_decref(doc);
}

/* Run a report through one module with one error and one warning, then finish it. */
static RunStatus finish_with_diagnostics(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(report_begin(ctx), 0);
        report_module_begin(ctx, "runcmd", "per-instance");
        (void) report_error(ctx, 3, 0, "Command 'false' exited with status 1");
        report_warning(ctx, -1, "runcmd item was coerced, ignoring.");
        report_module_end(ctx, "failed", NULL);
        return report_finish(ctx);
}

static void report_finish_returns_error_status(void **state) {
        assert_int_equal(finish_with_diagnostics(state), RUN_STATUS_ERROR);
}

static void report_finish_status_json_is_error(void **state) {
        json_t *doc;

        (void) finish_with_diagnostics(state);
        doc = load_json(state, "run/kiln/status.json");
        assert_string_equal(json_string_value(json_object_get(doc, "status")), "error");
        json_decref(doc);
}

static void report_finish_status_json_lists_error(void **state) {
        json_t *doc, *e;

        (void) finish_with_diagnostics(state);
        doc = load_json(state, "run/kiln/status.json");
        e = json_array_get(json_object_get(doc, "errors"), 0);
        assert_non_null(e);
        assert_string_equal(json_string_value(json_object_get(e, "module")), "runcmd");
        assert_int_equal(json_integer_value(json_object_get(e, "item")), 3);
        assert_string_equal(json_string_value(json_object_get(e, "message")),
                            "Command 'false' exited with status 1");
        json_decref(doc);
}

static void report_finish_status_json_lists_warning(void **state) {
        json_t *doc, *w;

        (void) finish_with_diagnostics(state);
        doc = load_json(state, "run/kiln/status.json");
        w = json_array_get(json_object_get(doc, "warnings"), 0);
        assert_non_null(w);
        assert_string_equal(json_string_value(json_object_get(w, "message")),
                            "runcmd item was coerced, ignoring.");
        json_decref(doc);
}

static void report_finish_status_json_module_has_error(void **state) {
        json_t *doc, *module;

        (void) finish_with_diagnostics(state);
        doc = load_json(state, "run/kiln/status.json");
        module = json_array_get(json_object_get(doc, "modules"), 0);
        assert_non_null(module);
        assert_string_equal(json_string_value(json_object_get(module, "state")), "failed");
        assert_int_equal(json_array_size(json_object_get(module, "errors")), 1);
        json_decref(doc);
}

static void report_finish_writes_result_json_mode_0644(void **state) {
        (void) finish_with_diagnostics(state);
        assert_int_equal(root_mode(state, "run/kiln/result.json"), 0644);
}

static void report_finish_result_json_is_error(void **state) {
        json_t *doc;

        (void) finish_with_diagnostics(state);
        doc = load_json(state, "run/kiln/result.json");
        assert_string_equal(json_string_value(json_object_get(doc, "status")), "error");
        assert_int_equal(json_array_size(json_object_get(doc, "errors")), 1);
        assert_int_equal(json_array_size(json_object_get(doc, "warnings")), 1);
        json_decref(doc);
}

static void report_finish_as_disabled(void **state) {
        json_t *doc;

        assert_int_equal(report_begin(ctx_of(state)), 0);
        assert_int_equal(report_finish_as(ctx_of(state), RUN_STATUS_DISABLED), RUN_STATUS_DISABLED);
        doc = load_json(state, "run/kiln/status.json");
        assert_string_equal(json_string_value(json_object_get(doc, "status")), "disabled");
        json_decref(doc);
}

static void report_module_end_restores_kiln_as_current(void **state) {
        report_module_begin(ctx_of(state), "runcmd", "per-instance");
        report_module_end(ctx_of(state), "done", NULL);
        assert_string_equal(ctx_of(state)->current, "kiln");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(report_error_returns_given_errno),
                T(report_error_without_errno_returns_einval),
                T(report_error_positive_error_returns_einval),
                T(report_error_records_one_entry),
                T(report_error_records_module),
                T(report_error_records_item),
                T(report_error_item_zero_is_recorded),
                T(report_error_negative_item_is_null),
                T(report_error_records_message),
                T(report_error_message_renders_errno),
                T(report_error_no_module_records_kiln),
                T(report_warning_records_module),
                T(report_warning_records_item),
                T(report_warning_negative_item_is_null),
                T(report_warning_records_message),
                T(report_warning_records_no_error),
                T(report_status_nothing_is_done),
                T(report_status_warning_is_degraded),
                T(report_status_error_is_error),
                T(report_status_error_outranks_warning),
                T(run_status_exit_code_done_is_zero),
                T(run_status_exit_code_running_is_zero),
                T(run_status_exit_code_disabled_is_zero),
                T(run_status_exit_code_error_is_one),
                T(run_status_exit_code_degraded_is_two),
                T(run_status_to_string_round_trips),
                T(run_status_to_string_degraded),
                T(run_status_from_string_unknown_invalid),
                T(run_status_from_string_null_invalid),
                T(report_begin_writes_status_json_mode_0644),
                T(report_begin_status_is_running),
                T(report_begin_status_has_errors_list),
                T(report_begin_status_has_warnings_list),
                T(report_finish_returns_error_status),
                T(report_finish_status_json_is_error),
                T(report_finish_status_json_lists_error),
                T(report_finish_status_json_lists_warning),
                T(report_finish_status_json_module_has_error),
                T(report_finish_writes_result_json_mode_0644),
                T(report_finish_result_json_is_error),
                T(report_finish_as_disabled),
                T(report_module_end_restores_kiln_as_current),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
