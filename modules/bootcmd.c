/* SPDX-License-Identifier: Apache-2.0 */
/* bootcmd: run the user's commands early at every boot, with the same item forms as runcmd.
 * INSTANCE_ID in their environment is the instance id, as in cloud-init. */

#include <stdio.h>

#include "command.h"
#include "module.h"

static const char *const bootcmd_config_keys[] = { "bootcmd", NULL };

/* The item rules of command_list_run(): null is skipped with a warning, and anything that
 * command_argv_from_json() rejects stops the whole list. */
static int bootcmd_item_check(const json_t *item, const char *source_text, char *message, size_t size) {
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

static const KeyShape bootcmd_argument = { .types = SHAPE_STRING | SHAPE_NUMBER };

static const KeyShape bootcmd_item = {
        .types = SHAPE_STRING | SHAPE_LIST | SHAPE_NULL,
        .items = &bootcmd_argument,
        .check = bootcmd_item_check,
};

static const KeyField bootcmd_fields[] = {
        {
                .name = "bootcmd",
                .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &bootcmd_item },
                .description = "Commands to run early at every boot. A string is shell text that /bin/sh -c "
                               "runs, and a list is the command's argv. INSTANCE_ID is set in their environment.",
        },
        {}
};

static int bootcmd_run(Context *ctx, const json_t *config) {
        return command_list_run(ctx, config, "bootcmd");
}

const AgentModule module_bootcmd = {
        .name = "bootcmd",
        .config_keys = bootcmd_config_keys,
        .config_fields = bootcmd_fields,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = bootcmd_run,
};
