/* SPDX-License-Identifier: Apache-2.0 */
/* Running commands with an explicit argv inside the target root. No shell is ever built from
 * data; callers that want shell semantics pass {"/bin/sh", "-c", text} themselves. No logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"

/* Bytes of a command's stderr kept for the report. */
#define EXEC_STDERR_HEAD_MAX 1024

typedef struct ExecResult {
        int exit_code;           /* exit status, or 128 + signal number */
        int signal;              /* the signal that killed the command, 0 when it exited */
        char *stderr_head;       /* first EXEC_STDERR_HEAD_MAX bytes of stderr, caller owns it */
        usec_t duration_usec;
        bool timed_out;          /* the time limit passed and the command was signalled */
        char *stdout_data;       /* captured stdout, NUL-terminated, caller owns it; NULL unless
                                  * ExecLimits.stdout_max was set */
        size_t stdout_size;
        bool stdout_truncated;   /* stdout had more than ExecLimits.stdout_max bytes */
} ExecResult;

void exec_result_done(ExecResult *r);

/* Format how a command ended into buf: "exited with 3", "was killed by signal 11 (SIGSEGV)". */
void exec_result_format_termination(const ExecResult *r, char *buf, size_t size);

/* Limits of exec_in_root_limited(). All zero means none. */
typedef struct ExecLimits {
        /* Wall-clock limit; 0 for none. The command runs in a process group of its own, which gets
         * SIGTERM when the limit passes and SIGKILL kill_grace_usec later (at once when 0). Once the
         * command has ended after a time-out, whatever is left of its group gets SIGKILL. */
        usec_t timeout_usec;
        usec_t kill_grace_usec;
        /* When > 0, stdout is captured into ExecResult.stdout_data instead of going to output_fd.
         * At most stdout_max bytes are kept; the rest is read and dropped, unless
         * kill_on_stdout_overflow is set. */
        size_t stdout_max;
        /* The command runs in a process group of its own, which gets SIGKILL as soon as stdout
         * passes stdout_max (stdout_truncated is set and the command ends at once). */
        bool kill_on_stdout_overflow;
        /* The command runs in a process group of its own, and whatever is left of the group when
         * the command has exited gets SIGKILL: for a query that must not leave processes behind. */
        bool kill_group_on_exit;
} ExecLimits;

/* Run argv[0] (looked up in PATH inside the root when it has no '/') with argv, chrooted into root
 * when root is not "/", working directory "/", stdin from /dev/null. The environment is a fixed
 * PATH, LANG=C.UTF-8, HOME=/root plus the "KEY=VALUE" strings of env (NULL for none).
 * stdout and stderr are appended to output_fd when it is >= 0; stderr is also captured.
 * Returns 0 when the command ran (whatever its exit code) and -errno when it could not start.
 * A command that is not found inside the root runs and exits 127, as a shell would. */
int exec_in_root(const char *root, char *const argv[], char *const env[], int output_fd,
                 ExecResult *ret);

/* Like exec_in_root(), with the command's stdin read from input_fd instead of /dev/null
 * (-EBADF means /dev/null). This is how a secret reaches a command without showing in its argv,
 * which every local user can read. */
int exec_in_root_with_stdin(const char *root, char *const argv[], char *const env[], int input_fd,
                            int output_fd, ExecResult *ret);

/* Like exec_in_root_with_stdin(), within limits (NULL for none). */
int exec_in_root_limited(const char *root, char *const argv[], char *const env[], int input_fd,
                         int output_fd, const ExecLimits *limits, ExecResult *ret);

/* Look name up as exec_in_root() does: an absolute path is taken as it is, any other name is
 * searched for in the directories of exec_in_root()'s PATH, inside the root. Only a regular file
 * with an execute bit counts. On success *ret_path (may be NULL) is the path found inside the
 * root, which the caller owns. Returns 1 when found, 0 when not, -ENOMEM. */
int exec_find_in_root(int root_fd, const char *name, char **ret_path);
