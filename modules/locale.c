/* SPDX-License-Identifier: Apache-2.0 */
/* The locale module (being written). */

#include "module.h"

static const char *const locale_config_keys[] = { "locale", "locale_configfile", NULL };

static int locale_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_locale = {
        .name = "locale",
        .config_keys = locale_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = locale_run,
};
