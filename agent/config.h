/* SPDX-License-Identifier: Apache-2.0 */
/* The image's configuration: ROOT/etc/kiln/kiln.yaml and ROOT/etc/kiln/kiln.d/ *.yaml, or --config. */
#pragma once

#include "context.h"

/* Largest configuration file kiln reads. */
#define CONFIG_FILE_MAX (4U * 1024U * 1024U)

/* Load and merge the configuration into ctx->system_config (an object, empty when there is no
 * file). A file that cannot be read or parsed is reported with its name and line, and the others
 * are still used. Returns 0, or the first error after reporting it. */
int config_load(Context *ctx);
