/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: the journal with structured fields under systemd, stderr otherwise. */
#pragma once

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
