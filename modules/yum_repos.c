/* SPDX-License-Identifier: Apache-2.0 */
/* The yum_repos module (being written). */

#include "module.h"

static const char *const yum_repos_config_keys[] = { "yum_repos", NULL };

static int yum_repos_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_yum_repos = {
        .name = "yum_repos",
        .config_keys = yum_repos_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = yum_repos_run,
};
