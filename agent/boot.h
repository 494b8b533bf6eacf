/* SPDX-License-Identifier: Apache-2.0 */
/* One boot: detect, fetch, decode, merge, run, report. */
#pragma once

#include "context.h"
#include "report.h"
#include "runner.h"

/* Run one stage of the boot against ctx (root and config file set by the caller). Returns the final
 * status, or RUN_STATUS_RUNNING after the local stage, which leaves the rest to the network stage. */
RunStatus boot_run(Context *ctx, Stage stage);

/* Release what a boot allocated in ctx. */
void context_done(Context *ctx);
