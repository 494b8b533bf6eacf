/* SPDX-License-Identifier: Apache-2.0 */
/* The table of built-in datasources, in default probe order: local seeds before the network. */

#include <string.h>

#include "datasource.h"
#include "lib/macro.h"

const Datasource *const datasource_table[] = {
        &datasource_nocloud,
        &datasource_ec2,
        NULL,
};

const Datasource *datasource_by_name(const char *name) {
        for (const Datasource *const *ds = datasource_table; *ds; ds++)
                if (strcasecmp((*ds)->name, name) == 0)
                        return *ds;
        /* cloud-init's spellings, so datasource_list copied from cloud.cfg works. */
        if (strcasecmp(name, "NoCloud-Net") == 0)
                return &datasource_nocloud;
        return NULL;
}
