/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder for the ssh module while it is written: it claims its keys and says that it does not
 * apply them yet, so the run ends degraded instead of ignoring them in silence. */

#include "module.h"
#include "report.h"

static const char *const ssh_config_keys[] = { "ssh_authorized_keys", "ssh_pwauth", "disable_root", "ssh_deletekeys", "ssh_genkeytypes", "ssh_keys", "ssh_quiet_keygen", "disable_root_opts", "ssh_publish_hostkeys", "allow_public_ssh_keys", NULL };

static int ssh_run(Context *ctx, const json_t *config) {
        report_warning(ctx, -1, "This version of kiln does not apply the ssh keys yet, ignoring them.");
        return 0;
}

const AgentModule module_ssh = {
        .name = "ssh",
        .config_keys = ssh_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = ssh_run,
};
