/* SPDX-License-Identifier: Apache-2.0 */
/* runcmd: run the user's commands once per instance, late in the boot. A string item is shell
 * text run by /bin/sh -c, and a list item is an argv. Each item runs as its own process. */

#include "command.h"
#include "module.h"

static const char *const runcmd_config_keys[] = { "runcmd", NULL };

static const KeyField runcmd_fields[] = {
        {
                .name = "runcmd",
                .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &command_item_shape },
                .description = KEY_DESCRIPTION("Commands to run once per instance, late in the boot, in "
                                               "order, each as its own process. A string is shell text "
                                               "that /bin/sh -c runs, and a list is the command's argv."),
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
