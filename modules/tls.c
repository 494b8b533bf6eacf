/* SPDX-License-Identifier: Apache-2.0 */
/* The tls module (being written). */

#include "module.h"

static const char *const tls_config_keys[] = { "tls", NULL };

static int tls_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_tls = {
        .name = "tls",
        .config_keys = tls_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = tls_run,
};
