/* SPDX-License-Identifier: Apache-2.0 */
/* The webserver module (being written). */

#include "module.h"

static const char *const webserver_config_keys[] = { "webserver", NULL };

static int webserver_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_webserver = {
        .name = "webserver",
        .config_keys = webserver_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = webserver_run,
};
