/* SPDX-License-Identifier: Apache-2.0 */
/* Storing and running the executable parts of user data: boothooks and per-boot, per-instance
 * and per-once scripts. */
#pragma once

#include "context.h"

/* Write the part's bytes unchanged to /var/lib/kiln/instances/ID/SUBDIR/NAME (mode 0700) inside
 * the root, NAME being the part's name. Then run it from there with INSTANCE_ID set, its output
 * appended to output_fd. Returns 0, or -errno after reporting the failure against item. */
int part_script_run(Context *ctx, const Part *part, const char *subdir, int item, int output_fd);
