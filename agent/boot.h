/* SPDX-License-Identifier: Apache-2.0 */
/* One boot: detect, fetch, decode, merge, run, report. */
#pragma once

#include "context.h"
#include "report.h"

/* Run the whole boot against ctx (root and config file set by the caller). Returns the final status. */
RunStatus boot_run(Context *ctx);

/* Release what a boot allocated in ctx. */
void context_done(Context *ctx);
