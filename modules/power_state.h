/* SPDX-License-Identifier: Apache-2.0 */
/* The power change that the power_state module requests: the argv of shutdown that it builds,
 * and the step that boot_run() takes after the final report to check the condition and run it. */
#pragma once

#include "context.h"
#include "report.h"

/* Build the argv of shutdown as cloud-init's Distro.shutdown_command() does: shutdown_path, then
 * -P, -r or -H for mode "poweroff", "reboot" or "halt", then delay ("now" or "+N" minutes), then
 * message when it is not NULL or empty. *ret is NULL-terminated and owned by the caller (free with
 * strv_free()). Returns 0, -EINVAL for an unknown mode, or -ENOMEM. */
int power_state_argv(const char *shutdown_path, const char *mode, const char *delay, const char *message,
                     char ***ret);

/* Act on ctx->power_state, once the run's status is reported: run its condition inside the root
 * (with its timeout), and when the condition is met run shutdown inside the root. A shutdown that
 * fails is reported as an error of power_state and the report is written again. Returns the
 * run's status: status itself, or RUN_STATUS_ERROR after such a failure. */
RunStatus power_state_apply(Context *ctx, RunStatus status);
