/* SPDX-License-Identifier: Apache-2.0 */
/* runcmd: run the user's commands once per instance, late in the boot. A string item is shell
 * text run by /bin/sh -c, and a list item is an argv. Each item runs as its own process. */

#include <stdio.h>

#include "command.h"
#include "module.h"

static const char *const runcmd_config_keys[] = { "runcmd", NULL };

/* The item rules of command_list_run(): null is skipped with a warning, and anything that
 * command_argv_from_json() rejects stops the whole list. */
static int runcmd_item_check(const json_t *item, const char *source_text, char *message, size_t size) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        if (json_is_null(item)) {
                (void) snprintf(message, size, "is empty (null), skipping it.");
                return SHAPE_CHECK_WARNING;
        }
        r = command_argv_from_json(item, &argv, &reason);
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s", reason);
        return r;
}

static const KeyShape runcmd_argument = { .types = SHAPE_STRING | SHAPE_NUMBER };

static const KeyShape runcmd_item = {
        .types = SHAPE_STRING | SHAPE_LIST | SHAPE_NULL,
        .items = &runcmd_argument,
        .check = runcmd_item_check,
};

static const KeyField runcmd_fields[] = {
        {
                .name = "runcmd",
                .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &runcmd_item },
                .description = "Commands to run once per instance, late in the boot, in order, each as its own "
                               "process. A string is shell text that /bin/sh -c runs, and a list is the "
                               "command's argv.",
        },
        {}
};

static int runcmd_run(Context *ctx, const json_t *config) {
        return command_list_run(ctx, config, "runcmd");
}

const AgentModule module_runcmd = {
        .name = "runcmd",
        .config_keys = runcmd_config_keys,
        .config_fields = runcmd_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = runcmd_run,
};
