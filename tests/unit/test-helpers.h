/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for unit tests: a scratch target root, a Context around it, files in the root, the
 * config of the Context and counts of schema diagnostics. The helpers that take void **state
 * expect a TestRoot in *state, as test_root_setup() leaves it. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "context.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "schema.h"

/* Maximum size of a file that test_root_assert_file() reads back. */
#define TEST_FILE_MAX (1024U * 1024U)

typedef struct TestRoot {
        char path[64];
        Context ctx;
} TestRoot;

/* Create a fresh directory under /tmp and a Context whose root is that directory. */
static inline TestRoot *test_root_new(void) {
        TestRoot *t = calloc(1, sizeof(TestRoot));
        if (!t)
                abort();
        strcpy(t->path, "/tmp/kiln-unit-XXXXXX");
        if (!mkdtemp(t->path))
                abort();
        t->ctx.root = t->path;
        t->ctx.root_fd = open(t->path, O_DIRECTORY | O_CLOEXEC);
        if (t->ctx.root_fd < 0)
                abort();
        t->ctx.root_is_host = false;
        t->ctx.system_config = json_object();
        t->ctx.config = json_object();
        t->ctx.errors = json_array();
        t->ctx.warnings = json_array();
        t->ctx.current = "test";
        return t;
}

/* Remove the scratch directory and free the Context's JSON values. */
static inline void test_root_free(TestRoot *t) {
        char cmd[128];
        if (!t)
                return;
        (void) close(t->ctx.root_fd);
        json_decref(t->ctx.system_config);
        json_decref(t->ctx.config);
        json_decref(t->ctx.errors);
        json_decref(t->ctx.warnings);
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", t->path);
        (void) !system(cmd);
        free(t);
}

/* A cmocka setup function that puts a fresh TestRoot in *state. */
static inline int test_root_setup(void **state) {
        *state = test_root_new();
        return 0;
}

/* A cmocka teardown function that frees the TestRoot in *state. */
static inline int test_root_teardown(void **state) {
        test_root_free(*state);
        return 0;
}

/* The Context of the TestRoot in *state (borrowed). */
static inline Context *test_root_context(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Write content to path in the root with mode, creating parent directories. Fails the test on error. */
static inline void test_root_write_mode(void **state, const char *path, const char *content, mode_t mode) {
        assert_int_equal(write_file_atomic(test_root_context(state)->root_fd, path, content, strlen(content), mode,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

/* Write content to path in the root with mode 0644, creating parent directories. */
static inline void test_root_write(void **state, const char *path, const char *content) {
        test_root_write_mode(state, path, content, 0644);
}

/* Fail the test unless path in the root exists and contains exactly expected. */
static inline void test_root_assert_file(void **state, const char *path, const char *expected) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(test_root_context(state)->root_fd, path, TEST_FILE_MAX, &data, &size), 0);
        assert_string_equal(data, expected);
}

/* Fail the test unless path is absent from the root. */
static inline void test_root_assert_absent(void **state, const char *path) {
        assert_int_equal(root_exists(test_root_context(state)->root_fd, path), 0);
}

/* Replace the config of the Context with config, which it takes. Fails the test when config is NULL,
 * as it is when json_pack() fails. Returns the new config (borrowed). */
static inline json_t *test_root_set_config(void **state, json_t *config) {
        Context *ctx = test_root_context(state);

        assert_non_null(config);
        json_decref(ctx->config);
        ctx->config = config;
        return config;
}

/* Replace the config of the Context with the JSON text. Fails the test on invalid JSON. */
static inline json_t *test_root_load_config(void **state, const char *json) {
        json_error_t error;
        json_t *config = json_loads(json, 0, &error);

        if (!config)
                fail_msg("Invalid test JSON at line %d: %s", error.line, error.text);
        return test_root_set_config(state, config);
}

/* Record a pipe, on which fsync() fails with EINVAL, under the name of a directory for
 * fileio_flush(), which then fails. */
static inline void test_defer_unsyncable(const char *name) {
        int fds[2];

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        assert_int_equal(fileio_defer_sync(fds[0], name), 0);
        assert_int_equal(close(fds[0]), 0);
        assert_int_equal(close(fds[1]), 0);
}

/* The message of the last entry of a report list such as ctx->errors, or NULL when it is empty. */
static inline const char *test_last_message(const json_t *list) {
        return json_string_value(json_object_get(json_array_get(list, json_array_size(list) - 1), "message"));
}

/* Counts of the diagnostics of schema_check(). Everything but SCHEMA_ERROR counts as a warning. */
typedef struct TestSchemaCount {
        unsigned errors;
        unsigned warnings;
} TestSchemaCount;

/* A schema_check() callback that adds d to the TestSchemaCount in userdata. */
static inline void test_schema_count(const SchemaDiagnostic *d, void *userdata) {
        TestSchemaCount *count = userdata;

        if (d->problem == SCHEMA_ERROR)
                count->errors++;
        else
                count->warnings++;
}

/* Check config, which this takes, as `kiln validate` does and count the diagnostics. */
static inline TestSchemaCount test_schema_check(json_t *config) {
        TestSchemaCount count = {};

        assert_non_null(config);
        assert_true(schema_check(config, /* positions= */ NULL, 0, test_schema_count, &count) >= 0);
        json_decref(config);
        return count;
}
