/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in modules in their default order, which follows cloud-init's stages: boothooks, early
 * commands, files, names and system settings, then user commands and files that wait for users,
 * then scripts (per-once, per-boot, per-instance and the user's, in cloud-init's order), then the
 * boot's reports and the power change. */

#include <string.h>

#include "module.h"

const AgentModule *const module_table[] = {
        &module_boothooks,
        &module_bootcmd,
        &module_write_files,
        &module_domains,
        &module_hostname,
        &module_etc_hosts,
        &module_ca_certs,
        &module_users_groups,
        &module_ssh,
        &module_apt_configure,
        &module_yum_repos,
        &module_locale,
        &module_ntp,
        &module_timezone,
        &module_packages,
        &module_write_files_deferred,
        &module_tls,
        &module_webserver,
        &module_runcmd,
        &module_scripts_per_once,
        &module_scripts_per_boot,
        &module_scripts_per_instance,
        &module_scripts_user,
        &module_phone_home,
        &module_final_message,
        &module_power_state,
        NULL,
};

const AgentModule *module_by_name(const char *name) {
        /* cloud-init's source files carry a cc_ prefix, and its module lists accept it. */
        if (strneq(name, "cc_", strlen("cc_")))
                name += strlen("cc_");
        for (const AgentModule *const *m = module_table; *m; m++)
                if (streq((*m)->name, name))
                        return *m;
        /* cloud-init's module names where they differ from kiln's. */
        if (streq(name, "set_hostname") || streq(name, "update_hostname"))
                return &module_hostname;
        if (streq(name, "update_etc_hosts") || streq(name, "update-etc-hosts"))
                return &module_etc_hosts;
        if (streq(name, "ca-certs"))
                return &module_ca_certs;
        if (streq(name, "phone-home"))
                return &module_phone_home;
        if (streq(name, "final-message"))
                return &module_final_message;
        if (streq(name, "power_state_change") || streq(name, "power-state-change"))
                return &module_power_state;
        if (streq(name, "package_update_upgrade_install") || streq(name, "package-update-upgrade-install"))
                return &module_packages;
        if (streq(name, "apt-configure"))
                return &module_apt_configure;
        if (streq(name, "yum_add_repo") || streq(name, "yum-add-repo"))
                return &module_yum_repos;
        if (streq(name, "users-groups"))
                return &module_users_groups;
        if (streq(name, "scripts-user"))
                return &module_scripts_user;
        if (streq(name, "scripts-per-once"))
                return &module_scripts_per_once;
        if (streq(name, "scripts-per-boot"))
                return &module_scripts_per_boot;
        if (streq(name, "scripts-per-instance"))
                return &module_scripts_per_instance;
        return NULL;
}
