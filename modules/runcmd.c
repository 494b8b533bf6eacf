/* SPDX-License-Identifier: Apache-2.0 */
/* runcmd: run the user's commands once per instance, late in the boot. A string item is shell
 * text run by /bin/sh -c, and a list item is an argv. Each item runs as its own process. */

#include "command.h"
#include "module.h"

static const char *const runcmd_config_keys[] = { "runcmd", NULL };

static int runcmd_run(Context *ctx, const json_t *config) {
        return command_list_run(ctx, config, "runcmd");
}

const AgentModule module_runcmd = {
        .name = "runcmd",
        .config_keys = runcmd_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = runcmd_run,
};
