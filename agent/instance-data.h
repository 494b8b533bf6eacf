/* SPDX-License-Identifier: Apache-2.0 */
/* cloud-init's instance data: the document Jinja templates and `kiln query` read. */
#pragma once

#include <jansson.h>

#include "context.h"

/* Build the instance data of ctx->instance, with cloud-init's keys: "v1" (instance_id,
 * local_hostname, region, availability_zone, cloud_name, platform, public_ssh_keys, ...), "ds"
 * ({"meta_data": the datasource's metadata tree, ...}), and for every key holding '-' or '.' an
 * alias with '_' in its place, as cloud-init adds. Returns a new reference, NULL on allocation
 * failure. */
json_t *instance_data_build(const Context *ctx);

#define INSTANCE_DATA_FILE KILN_RUN_DIR "/instance-data.json"
#define INSTANCE_DATA_SENSITIVE_FILE KILN_RUN_DIR "/instance-data-sensitive.json"

/* Write ROOT/run/kiln/instance-data-sensitive.json (0600: the whole instance data plus "merged_cfg",
 * the effective configuration) and instance-data.json (0644: the same, with the value of every
 * sensitive key replaced by "redacted for non-root user" and without "merged_cfg"), as cloud-init
 * writes its instance data. Returns 0 or -errno. */
int instance_data_write(const Context *ctx);
