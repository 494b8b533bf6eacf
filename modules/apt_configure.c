/* SPDX-License-Identifier: Apache-2.0 */
/* The apt_configure module (being written). */

#include "module.h"

static const char *const apt_configure_config_keys[] = { "apt", NULL };

static int apt_configure_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_apt_configure = {
        .name = "apt_configure",
        .config_keys = apt_configure_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = apt_configure_run,
};
