/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for the users_groups module while it is written: it claims its keys and says that it does not
 * apply them yet, so the run ends degraded instead of ignoring them in silence. */

#include "module.h"
#include "report.h"

static const char *const users_groups_config_keys[] = { "users", "groups", NULL };

static int users_groups_run(Context *ctx, const json_t *config) {
        report_warning(ctx, -1, "This version of kiln does not apply the users_groups keys yet, ignoring them.");
        return 0;
}

const AgentModule module_users_groups = {
        .name = "users_groups",
        .config_keys = users_groups_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = users_groups_run,
};
