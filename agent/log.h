/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: the journal with structured fields under systemd, stderr otherwise. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

#include "lib/macro.h"

/* Where log lines go. LOG_TARGET_AUTO picks the journal when stderr is connected to it. */
typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

void log_open(LogTarget target);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Fields attached to every following line: KILN_MODULE=, KILN_INSTANCE_ID=, KILN_DATASOURCE=.
 * The strings are copied; NULL clears the field. */
void log_set_module(const char *module);
void log_set_instance_id(const char *instance_id);
void log_set_datasource(const char *datasource);

/* Log one line. error is a negative errno (or 0) that %m renders. Returns error when it is negative,
 * else -EINVAL when level is LOG_ERR or worse, else 0. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* The output of a command that kiln runs, copied by a relay process. Every byte is appended
 * unchanged to copy_fd (ROOT/var/log/kiln-output.log). Every line goes to the journal as an
 * entry of its own with SYSLOG_IDENTIFIER=kiln-output, PRIORITY=6 (info), KILN_COMMAND (the item
 * name, "runcmd[3]"), KILN_MODULE and KILN_INSTANCE_ID, so `journalctl -t kiln-output` lists the
 * commands' output apart from kiln's own messages (SYSLOG_IDENTIFIER=kiln). stdout and stderr
 * share one pipe, as they share kiln-output.log, so both are logged at info. Without libsystemd or
 * without a journal socket, the lines go to kiln's stderr as "kiln-output: COMMAND: LINE". A line
 * longer than LOG_OUTPUT_LINE_MAX bytes is split into several entries, and a last line without a
 * newline is logged when the output ends. The relay runs until every writer has closed the pipe,
 * so a background process that the command started keeps its output going to both places, also
 * after kiln has exited. The relay is detached (its parent exits at once, so it never becomes
 * kiln's zombie), and it keeps open only the pipe, copy_fd, the journal's socket and, without
 * a journal, kiln's stderr: no other descriptor of kiln (such as a plugin's input). */
#define LOG_OUTPUT_LINE_MAX (16U * 1024U)
#define LOG_OUTPUT_IDENTIFIER "kiln-output"

typedef struct LogRelay {
        int write_fd;            /* the command's stdout and stderr */
        int control_fd;          /* kiln's end of the socket on which the relay confirms a drain */
} LogRelay;

/* Start a relay for the command named command, copying to copy_fd (-EBADF for none). Returns 0
 * with *ret, or -errno. */
int log_relay_start(const char *command, int copy_fd, LogRelay *ret);

/* Close the write end once the command has ended, and wait up to timeout_usec until the relay has
 * logged every byte that is in the pipe now, a last line without a newline included. Output that a
 * background process writes later is logged as it comes. The wait does not depend on such a
 * process: it lasts as long as the relay needs to log what is buffered, and timeout_usec only
 * bounds a relay that is stuck (a journal that does not take messages).
 * Returns 1 when the relay confirmed, 0 when it did not within timeout_usec. */
int log_relay_finish(LogRelay *relay, uint64_t timeout_usec);
