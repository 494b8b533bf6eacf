/* SPDX-License-Identifier: Apache-2.0 */
/* The power_state module (being written). */

#include "module.h"

static const char *const power_state_config_keys[] = { "power_state", NULL };

static int power_state_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_power_state = {
        .name = "power_state",
        .config_keys = power_state_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = power_state_run,
};
