/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for unit tests: a scratch target root and a Context around it. */
#pragma once

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"

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
