/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in modules in their default order, which follows cloud-init's stages: early commands,
 * files and names, then user commands, then user scripts, then files that wait for users. */

#include <string.h>

#include "module.h"

const AgentModule *const module_table[] = {
        &module_bootcmd,
        &module_write_files,
        &module_hostname,
        &module_runcmd,
        &module_scripts_user,
        &module_write_files_deferred,
        NULL,
};

const AgentModule *module_by_name(const char *name) {
        for (const AgentModule *const *m = module_table; *m; m++)
                if (streq((*m)->name, name))
                        return *m;
        /* cloud-init's module names where they differ from kiln's. */
        if (streq(name, "set_hostname") || streq(name, "update_hostname"))
                return &module_hostname;
        if (streq(name, "scripts-user"))
                return &module_scripts_user;
        return NULL;
}
