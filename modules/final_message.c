/* SPDX-License-Identifier: Apache-2.0 */
/* The final_message module (being written). */

#include "module.h"

static const char *const final_message_config_keys[] = { "final_message", NULL };

static int final_message_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_final_message = {
        .name = "final_message",
        .config_keys = final_message_config_keys,
        .frequency = FREQUENCY_PER_BOOT,
        .run = final_message_run,
};
