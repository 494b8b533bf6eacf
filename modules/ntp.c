/* SPDX-License-Identifier: Apache-2.0 */
/* The ntp module (being written). */

#include "module.h"

static const char *const ntp_config_keys[] = { "ntp", NULL };

static int ntp_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_ntp = {
        .name = "ntp",
        .config_keys = ntp_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = ntp_run,
};
