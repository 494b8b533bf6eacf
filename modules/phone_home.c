/* SPDX-License-Identifier: Apache-2.0 */
/* The phone_home module (being written). */

#include "module.h"

static const char *const phone_home_config_keys[] = { "phone_home", NULL };

static int phone_home_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_phone_home = {
        .name = "phone_home",
        .config_keys = phone_home_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = phone_home_run,
};
