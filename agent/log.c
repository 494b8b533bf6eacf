/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to the journal with kiln's structured fields, or to stderr. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build-config.h"
#include "log.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#define LOG_LINE_MAX 4096

static int log_max_level = LOG_INFO;
static bool log_to_journal = false;
static char *log_module = NULL;
static char *log_instance_id = NULL;
static char *log_datasource = NULL;

/* True when stderr is the journal's stream, as systemd announces in $JOURNAL_STREAM. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_open(LogTarget target) {
#if HAVE_LIBSYSTEMD
        switch (target) {
        case LOG_TARGET_AUTO:
                log_to_journal = stderr_is_journal();
                break;
        case LOG_TARGET_JOURNAL:
                log_to_journal = true;
                break;
        case LOG_TARGET_STDERR:
                log_to_journal = false;
                break;
        }
#else
        (void) target;
        (void) stderr_is_journal;
        log_to_journal = false;
#endif
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

static void set_field(char **field, const char *value) {
        free(*field);
        *field = value ? strdup(value) : NULL;
}

void log_set_module(const char *module) {
        set_field(&log_module, module);
}

void log_set_instance_id(const char *instance_id) {
        set_field(&log_instance_id, instance_id);
}

void log_set_datasource(const char *datasource) {
        set_field(&log_datasource, datasource);
}

static void write_journal(int level, const char *file, int line, const char *func, const char *msg) {
#if HAVE_LIBSYSTEMD
        char file_field[256], line_field[32];

        (void) snprintf(file_field, sizeof(file_field), "CODE_FILE=%s", file);
        (void) snprintf(line_field, sizeof(line_field), "CODE_LINE=%d", line);
        (void) sd_journal_send_with_location(file_field, line_field, func,
                                             "MESSAGE=%s", msg,
                                             "PRIORITY=%d", level,
                                             "SYSLOG_IDENTIFIER=kiln",
                                             "KILN_MODULE=%s", log_module ?: "",
                                             "KILN_INSTANCE_ID=%s", log_instance_id ?: "",
                                             "KILN_DATASOURCE=%s", log_datasource ?: "",
                                             NULL);
#else
        (void) level, (void) file, (void) line, (void) func, (void) msg;
#endif
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char msg[LOG_LINE_MAX];
        int saved_errno = errno;
        va_list ap;

        if (level <= log_max_level) {
                /* %m renders the error passed in, not whatever errno happens to be. */
                errno = error < 0 ? -error : error;
                va_start(ap, format);
                (void) vsnprintf(msg, sizeof(msg), format, ap);
                va_end(ap);

                if (log_to_journal)
                        write_journal(level, file, line, func, msg);
                else if (log_module)
                        (void) fprintf(stderr, "kiln: %s: %s\n", log_module, msg);
                else
                        (void) fprintf(stderr, "kiln: %s\n", msg);
        }

        errno = saved_errno;
        if (error < 0)
                return error;
        return level <= LOG_ERR ? -EINVAL : 0;
}
