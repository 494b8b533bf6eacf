/* SPDX-License-Identifier: Apache-2.0 */
/* The timezone module (being written). */

#include "module.h"

static const char *const timezone_config_keys[] = { "timezone", NULL };

static int timezone_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_timezone = {
        .name = "timezone",
        .config_keys = timezone_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = timezone_run,
};
