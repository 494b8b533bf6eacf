/* SPDX-License-Identifier: Apache-2.0 */
/* Running the commands of runcmd, bootcmd and user scripts: output to ROOT/var/log/kiln-output.log
 * and the journal, one log line per command, failures reported against the running module. */
#pragma once

#include <jansson.h>

#include "context.h"
#include "lib/macro.h"
#include "schema.h"

/* Maximum length in bytes of a rejected config value as error messages show it. */
#define COMMAND_SHOWN_VALUE_MAX 200

/* Open ROOT/var/log/kiln-output.log for appending, creating it (mode 0640) and its parent
 * directories when missing. Returns the fd, or -EBADF after a warning that the output of owner
 * ("runcmd") is discarded. */
int command_output_open(Context *ctx, const char *owner);

/* Run argv inside the root with INSTANCE_ID set to the instance's id, its stdout and stderr
 * appended to output_fd and logged line by line to the journal as log_relay_start() describes
 * (-EBADF discards them). name ("runcmd[3]", "script 'part-001'") starts the
 * log line and the error; item is the index the error is recorded under.
 * Returns 0 when the command exited 0, -EIO after reporting a non-zero exit, or -errno after
 * reporting that the command could not be started. */
int command_run(Context *ctx, const char *name, int item, char *const argv[], int output_fd);

/* Like command_run(), with the command's stdin read from input_fd (-EBADF means /dev/null), for
 * a secret that must not show in the argv, such as the "user:password" line for chpasswd. */
int command_run_with_stdin(Context *ctx, const char *name, int item, char *const argv[], int input_fd,
                           int output_fd);

/* The longest that kiln waits, once a command has ended, for the relay to log what the command
 * printed (see log_relay_finish()). The relay normally confirms within milliseconds, also when a
 * process that the command left running in the background keeps the output open: that process's
 * later output is logged as it comes, without kiln waiting for it. */
#define COMMAND_OUTPUT_DRAIN_USEC (2 * USEC_PER_SEC)

/* Time between SIGTERM and SIGKILL for a command that ran out of time. */
#define COMMAND_KILL_GRACE_USEC (5 * USEC_PER_SEC)

/* Like command_run_with_stdin(), with the "KEY=VALUE" strings of extra_env (NULL for none) added
 * to the environment and a time limit (0 for none): a command still running after timeout_usec
 * gets SIGTERM, SIGKILL COMMAND_KILL_GRACE_USEC later, and the time-out is reported as an error
 * naming the limit (-ETIME). */
int command_run_limited(Context *ctx, const char *name, int item, char *const argv[], char *const extra_env[],
                        int input_fd, int output_fd, usec_t timeout_usec);

/* Convert one cloud-config command item as cloud-init reads it: a string is shell text and becomes
 * {"/bin/sh", "-c", text} (several lines make one script); a list is the argv itself, whose
 * elements are strings or numbers (numbers written as Python's str() writes them).
 * Anything else is invalid: a mapping, a boolean, null, a number as the whole item, an empty
 * list, a list whose first element is the empty string, a list holding a list, a mapping, a
 * boolean or null, a string holding a NUL byte.
 * On success *ret_argv is a NULL-terminated array that the caller owns (free with strv_free()).
 * Returns 0, -EINVAL with *reterr_reason set to an explanation that the caller owns and that
 * follows the item's name ("is a mapping, ..."), or -ENOMEM. */
int command_argv_from_json(const json_t *item, char ***ret_argv, char **reterr_reason);

/* Run the commands of config key (a top-level key of config), the body of the runcmd and bootcmd
 * modules. Null or an empty list does nothing. Otherwise every item is checked first, and a single
 * invalid item means that nothing runs. Then each item runs as its own process, in order, and a
 * failing item does not stop the ones after it.
 * Returns 0 when nothing ran, 1 when every command succeeded, -EINVAL when the value or an item
 * is invalid, -EIO when a command exited non-zero, or the -errno of a command that could not be
 * started; every failure is reported. */
int command_list_run(Context *ctx, const json_t *config, const char *key);

/* The shape of one item of a command list (runcmd, bootcmd) for the key declarations: a string or
 * an argv list of strings and numbers, checked with command_argv_from_json()'s rules, and null,
 * which command_list_run() skips with a warning. */
extern const KeyShape command_item_shape;
