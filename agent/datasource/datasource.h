/* SPDX-License-Identifier: Apache-2.0 */
/* The datasource interface: detect without the network, then fetch the instance. */
#pragma once

#include "context.h"

typedef struct Datasource {
        const char *name;
        /* Decide from local evidence only (DMI, kernel command line, seeds under the root).
         * Returns >0 when this is the instance's datasource, 0 when not, -errno on failure. */
        int (*detect)(Context *ctx);
        /* Fetch instance id, metadata and user data. On failure returns -errno and puts a one-line
         * reason into *reterr_message (caller owns it): -EACCES when the service refuses access
         * (HTTP 403), -EPERM when it keeps rejecting credentials (HTTP 401), -ETIMEDOUT when the
         * deadline passed, -EHOSTUNREACH/-ECONNREFUSED when it never answered, -EIO for other
         * failures. Logs its decisions (endpoint chosen, fallbacks) but not the failure itself. */
        int (*fetch)(Context *ctx, Instance **ret, char **reterr_message);
} Datasource;

extern const Datasource datasource_nocloud;
extern const Datasource datasource_ec2;

/* All datasources, in default probe order, NULL-terminated. */
extern const Datasource *const datasource_table[];

const Datasource *datasource_by_name(const char *name);
