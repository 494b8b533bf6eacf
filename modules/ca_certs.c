/* SPDX-License-Identifier: Apache-2.0 */
/* The ca_certs module (being written). */

#include "module.h"

static const char *const ca_certs_config_keys[] = { "ca_certs", "ca-certs", NULL };

static int ca_certs_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_ca_certs = {
        .name = "ca_certs",
        .config_keys = ca_certs_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = ca_certs_run,
};
