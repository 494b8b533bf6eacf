/* SPDX-License-Identifier: Apache-2.0 */
/* The domains module (being written). */

#include "module.h"

static const char *const domains_config_keys[] = { "domains", NULL };

static int domains_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_domains = {
        .name = "domains",
        .config_keys = domains_config_keys,
        .frequency = FREQUENCY_PER_BOOT,
        .run = domains_run,
};
