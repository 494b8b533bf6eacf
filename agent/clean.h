/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln clean`: return a root to the state of a new image, so that its next boot is a first boot. */
#pragma once

#include <stdbool.h>

typedef struct CleanOptions {
        bool logs;               /* also remove ROOT/var/log/kiln-output.log */
        bool seed;               /* also remove ROOT/var/lib/kiln/seed */
        bool machine_id;         /* set ROOT/etc/machine-id to "uninitialized" */
        bool ssh_host_keys;      /* also remove ROOT/etc/ssh/ssh_host_* */
        bool force;              /* clean although the status reads running for this boot */
} CleanOptions;

/* Take the exclusive lock that `kiln run` and `kiln clean` hold on a root, so that no run starts
 * while a clean removes its state: flock() on ROOT/run/kiln/lock, or on ROOT/var/lib/kiln/.lock
 * when the root has no /run. wait blocks until the lock is free; otherwise a held lock returns
 * -EBUSY. Returns 0 with the locked descriptor in *ret_fd (caller owns it, closing it releases the
 * lock) or -errno. */
int kiln_lock_take(int root_fd, bool wait, int *ret_fd);

/* Clean the root at root_fd (its path root is for messages). Removes everything under
 * ROOT/var/lib/kiln except seed/ (unless o->seed) and scripts/ (the image's own scripts), and all
 * of ROOT/run/kiln except the lock file; then what the options ask for. Rejects a root whose lock a
 * kiln run holds, and, unless o->force, a root whose status reads running for this boot (between
 * `kiln run --stage local` and the network stage) or names a live process.
 * Logs its own errors. Returns 0 or -errno (-EBUSY for a run in progress). */
int clean_root(int root_fd, const char *root, const CleanOptions *o);
