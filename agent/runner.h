/* SPDX-License-Identifier: Apache-2.0 */
/* Planning and running the modules of one boot. */
#pragma once

#include "context.h"

/* Warn about each key of the effective config that no declaration has (top-level keys, and keys
 * inside declared mappings such as a write_files item), suggesting the nearest declared key, and
 * about deprecated names. The shapes of values are left to the modules. */
void runner_check_keys(Context *ctx);

/* Run the modules in order: the `modules` list of the configuration (names, or [name, frequency]
 * pairs) or the built-in order. Each module is skipped when its frequency's semaphore says it ran,
 * when none of its keys is set, or, on a boot that uses cached instance data, when it is not a
 * per-boot module. A failed module never stops the ones after it. Returns the number of failed
 * modules. */
int runner_run_modules(Context *ctx);
