/* SPDX-License-Identifier: Apache-2.0 */
/* The etc_hosts module (being written). */

#include "module.h"

static const char *const etc_hosts_config_keys[] = { "manage_etc_hosts", NULL };

static int etc_hosts_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_etc_hosts = {
        .name = "etc_hosts",
        .config_keys = etc_hosts_config_keys,
        .frequency = FREQUENCY_PER_BOOT,
        .run = etc_hosts_run,
};
