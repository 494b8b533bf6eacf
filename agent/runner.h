/* SPDX-License-Identifier: Apache-2.0 */
/* Planning and running the modules of one boot. */
#pragma once

#include "context.h"
#include "plugin.h"

/* The stages of a boot. The local stage runs before the network is up (kiln-local.service): it reads
 * only datasources that need no network and runs only the modules that must act before the network
 * starts (the hostname, so DHCP sends the right name). The network stage (kiln.service) detects and
 * fetches again with every datasource and runs all the other modules and the plugins. A plain
 * `kiln run` is the network stage, which alone is a complete boot. */
typedef enum Stage {
        STAGE_LOCAL,
        STAGE_NETWORK,
        _STAGE_MAX,
        _STAGE_INVALID = -EINVAL,
} Stage;

const char *stage_to_string(Stage s);
Stage stage_from_string(const char *s);

/* Warn about each key of the effective config that no declaration has, exec plugins left aside (top-level keys, and keys
 * inside declared mappings such as a write_files item), suggesting the nearest declared key, and
 * about deprecated names. The shapes of values are left to the modules. */
void runner_check_keys(Context *ctx);

/* Find the exec plugins of the root (see plugin.h) and check the config's keys as
 * runner_check_keys() does, with the plugins' keys known. Then run the modules and plugins in
 * order. The order is the `modules` list of the configuration (names, or [name, frequency] pairs),
 * or else the built-in order with each plugin placed after the modules its `after` names (after
 * scripts_user when it names none). Each module is skipped when its frequency's semaphore says it ran,
 * when none of its keys is set, or, on a boot that uses cached instance data, when it is not a
 * per-boot module. A failed module never stops the ones after it. Returns the number of failed
 * modules. */
int runner_run_modules(Context *ctx);

/* Run the modules of one stage, as runner_run_modules() does. The local stage runs only its own
 * modules and leaves the key checks and the plugins to the network stage. In the network stage,
 * the modules named in ran_in_local (an array of module records of this boot's local stage, or
 * NULL) that were not skipped there are skipped. Returns the number of failed modules. */
int runner_run_stage(Context *ctx, Stage stage, const json_t *ran_in_local);

/* Make durable the renames that writes with WRITE_SYNC_DEFERRED left waiting (fileio_flush()). A
 * failure is reported as a warning that names the directory, so the run ends degraded at best.
 * Returns 0 or the -errno of the failure. */
int runner_flush(Context *ctx);

/* List the names of the modules and plugins (plugins may be empty) in the order that
 * runner_run_modules() would run them. Problems with the configured list are reported.
 * *ret_names is NULL-terminated and the caller owns it. Returns 0 or -ENOMEM. */
int runner_plan_names(Context *ctx, const PluginSet *plugins, char ***ret_names);
