/* SPDX-License-Identifier: Apache-2.0 */
/* bootcmd: run the user's commands early at every boot, with the same item forms as runcmd.
 * INSTANCE_ID in their environment is the instance id, as in cloud-init. */

#include "command.h"
#include "module.h"

static const char *const bootcmd_config_keys[] = { "bootcmd", NULL };

static const KeyField bootcmd_fields[] = {
        {
                .name = "bootcmd",
                .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &command_item_shape },
                .description = KEY_DESCRIPTION("Commands to run early at every boot. A string is shell "
                                               "text that /bin/sh -c runs, and a list is the command's "
                                               "argv. INSTANCE_ID is set in their environment."),
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
