/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/runner.c: the renames that writes leave waiting are made durable after each
 * module, and a failure to do so is a warning that names the directory. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "report.h"
#include "runner.h"
#include "test-helpers.h"

static int setup(void **state) {
        TestRoot *t = test_root_new();

        (void) fileio_flush(NULL);
        t->ctx.instance = instance_new();
        assert_non_null(t->ctx.instance);
        t->ctx.instance->instance_id = strdup("i-runner");
        assert_non_null(t->ctx.instance->instance_id);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        (void) fileio_flush(NULL);
        t->ctx.instance = instance_free(t->ctx.instance);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static const char *first_warning(void **state) {
        const json_t *w = json_array_get(ctx_of(state)->warnings, 0);

        assert_non_null(w);
        return json_string_value(json_object_get(w, "message"));
}

static void runner_flush_failure_warns_with_directory(void **state) {
        test_defer_unsyncable("/opt/app");

        assert_int_equal(runner_flush(ctx_of(state)), -EINVAL);

        assert_non_null(strstr(first_warning(state), "Failed to sync directory '/opt/app'"));
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void runner_flush_failure_makes_run_degraded(void **state) {
        test_defer_unsyncable("/opt/app");

        (void) runner_flush(ctx_of(state));

        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_DEGRADED);
}

static void runner_flush_nothing_pending_no_warning(void **state) {
        assert_int_equal(runner_flush(ctx_of(state)), 0);

        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

/* A module that writes with WRITE_SYNC_DEFERRED leaves nothing waiting once the runner is done. */
static void runner_run_modules_flushes_after_module(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(json_object_set_new(ctx->system_config, "modules", json_pack("[s]", "write_files")), 0);
        assert_int_equal(json_object_set_new(ctx->config, "write_files",
                                             json_pack("[{s:s, s:s}]", "path", "/opt/app/f", "content", "x")), 0);

        assert_int_equal(runner_run_modules(ctx), 0);

        assert_int_equal(root_exists(ctx->root_fd, "/opt/app/f"), 1);
        assert_int_equal(root_exists(ctx->root_fd, "/var/lib/kiln/instances/i-runner/sem/write_files"), 1);
        assert_int_equal(fileio_pending_directories(), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(runner_flush_failure_warns_with_directory, setup, teardown),
                cmocka_unit_test_setup_teardown(runner_flush_failure_makes_run_degraded, setup, teardown),
                cmocka_unit_test_setup_teardown(runner_flush_nothing_pending_no_warning, setup, teardown),
                cmocka_unit_test_setup_teardown(runner_run_modules_flushes_after_module, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
