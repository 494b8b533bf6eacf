/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln clean`: return a root to the state of a new image, so that its next boot is a first boot. */
#pragma once

#include <stdbool.h>

typedef struct CleanOptions {
        bool logs;               /* also remove ROOT/var/log/kiln-output.log */
        bool seed;               /* also remove ROOT/var/lib/kiln/seed */
        bool machine_id;         /* set ROOT/etc/machine-id to "uninitialized" */
        bool ssh_host_keys;      /* also remove ROOT/etc/ssh/ssh_host_* */
} CleanOptions;

/* Clean the root at root_fd (its path root is for messages). Removes everything under
 * ROOT/var/lib/kiln except seed/ (unless o->seed) and scripts/ (the image's own scripts), and all
 * of ROOT/run/kiln; then what the options ask for. Rejects a root where a kiln run is in progress.
 * Logs its own errors. Returns 0 or -errno (-EBUSY for a run in progress). */
int clean_root(int root_fd, const char *root, const CleanOptions *o);
