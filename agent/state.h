/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent state under ROOT/var/lib/kiln: which instance this is, the cached instance data, and the
 * semaphores that keep per-instance and once modules from running twice. */
#pragma once

#include <stdbool.h>

#include "context.h"
#include "modules/module.h"

/* Largest cached file kiln reads back (user data is capped before it is cached). */
#define STATE_CACHE_FILE_MAX (64U * 1024U * 1024U)

/* Why id cannot be an instance id (it names a directory under instances/), or NULL when it can. */
const char *instance_id_problem(const char *id);

/* The instance id recorded by the last run, or NULL when there is none (caller owns it).
 * Returns 0 or -errno (-ENOENT is not an error: *ret is NULL then). */
int state_read_instance_id(const Context *ctx, char **ret);

/* Record ctx->instance as the current instance. When its id differs from the recorded one, the old
 * id moves to previous-instance-id. Returns 1 for a new instance, 0 for the same one, -errno. */
int state_set_instance(Context *ctx);

/* Save the fetched instance (metadata, user data, vendor data) under instances/ID/, mode 0600. */
int state_cache_save(const Context *ctx);

/* Load the instance cached by the last run, for boots where the datasource cannot be read. */
int state_cache_load(const Context *ctx, Instance **ret);

/* Returns 1 when the module already ran at this frequency, 0 when not, -errno. */
int state_sem_check(const Context *ctx, const char *module, Frequency frequency);

/* Mark the module as run at this frequency. Per-boot modules have no semaphore. */
int state_sem_set(const Context *ctx, const char *module, Frequency frequency);

/* The id of the running boot from ROOT/proc/sys/kernel/random/boot_id (36 characters), NULL when
 * the root has no /proc. Returns 0 or -errno; caller owns *ret. */
int state_read_boot_id(const Context *ctx, char **ret);
