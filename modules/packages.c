/* SPDX-License-Identifier: Apache-2.0 */
/* The packages module (being written). */

#include "module.h"

static const char *const packages_config_keys[] = { "packages", "package_update", "package_upgrade", "package_reboot_if_required", "apt_update", "apt_upgrade", "apt_reboot_if_required", NULL };

static int packages_run(Context *ctx, const json_t *config) {
        (void) ctx;
        (void) config;
        return 0;
}

const AgentModule module_packages = {
        .name = "packages",
        .config_keys = packages_config_keys,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = packages_run,
};

#include "packages.h"

const PackageBackend *const package_backends[] = {
        &package_backend_apt,
        &package_backend_dnf,
        &package_backend_yum,
        &package_backend_zypper,
        &package_backend_apk,
        NULL,
};
