/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to the journal with kiln's structured fields, or to stderr. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The socket of journald's native protocol, at the fixed path where sd_journal_send() writes. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Bytes read from the pipe at a time. */
#define RELAY_READ_SIZE (64U * 1024U)

typedef struct Relay {
        const char *command;
        int copy_fd;
        bool journal;
        char line[LOG_OUTPUT_LINE_MAX];
        size_t line_size;
} Relay;

static void write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                data += n;
                size -= (size_t) n;
        }
}

/* Send one line (without its newline) to the journal, or to stderr when that fails or there is
 * no journal. The line may contain any bytes, NUL and invalid UTF-8 included. */
static void relay_emit(Relay *r) {
#if HAVE_LIBSYSTEMD
        if (r->journal) {
                _cleanup_free_ char *command = NULL, *module = NULL, *instance = NULL;
                struct iovec iov[6];
                int n = 0;

                if (asprintf(&command, "KILN_COMMAND=%s", r->command) >= 0 &&
                    asprintf(&module, "KILN_MODULE=%s", log_module ?: "") >= 0 &&
                    asprintf(&instance, "KILN_INSTANCE_ID=%s", log_instance_id ?: "") >= 0) {
                        _cleanup_free_ char *message = malloc(strlen("MESSAGE=") + r->line_size);

                        if (message) {
                                memcpy(message, "MESSAGE=", strlen("MESSAGE="));
                                memcpy(message + strlen("MESSAGE="), r->line, r->line_size);
                                iov[n++] = (struct iovec) { message, strlen("MESSAGE=") + r->line_size };
                                iov[n++] = (struct iovec) { (char *) "PRIORITY=6", strlen("PRIORITY=6") };
                                iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=" LOG_OUTPUT_IDENTIFIER,
                                                            strlen("SYSLOG_IDENTIFIER=" LOG_OUTPUT_IDENTIFIER) };
                                iov[n++] = (struct iovec) { command, strlen(command) };
                                iov[n++] = (struct iovec) { module, strlen(module) };
                                iov[n++] = (struct iovec) { instance, strlen(instance) };
                                if (sd_journal_sendv(iov, n) >= 0) {
                                        r->line_size = 0;
                                        return;
                                }
                        }
                }
        }
#endif
        (void) fprintf(stderr, LOG_OUTPUT_IDENTIFIER ": %s: ", r->command);
        (void) fwrite(r->line, 1, r->line_size, stderr);
        (void) fputc('\n', stderr);
        (void) fflush(stderr);
        r->line_size = 0;
}

/* Copy a chunk of output to copy_fd and split it into lines. */
static void relay_feed(Relay *r, const char *data, size_t size) {
        if (r->copy_fd >= 0)
                write_all(r->copy_fd, data, size);

        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\n') {
                        relay_emit(r);
                        continue;
                }
                r->line[r->line_size++] = data[i];
                if (r->line_size == sizeof(r->line))
                        relay_emit(r);
        }
}

/* The relay process: read the pipe until every writer has closed it. */
_noreturn_ static void relay_main(const char *command, int read_fd, int copy_fd) {
        static Relay r;
        static char buf[RELAY_READ_SIZE];

        r = (Relay) {
                .command = command,
                .copy_fd = copy_fd,
                .journal = HAVE_LIBSYSTEMD && access(JOURNAL_SOCKET, F_OK) >= 0,
        };

        for (;;) {
                ssize_t n = read(read_fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                relay_feed(&r, buf, (size_t) n);
        }

        /* The last line had no newline. */
        if (r.line_size > 0)
                relay_emit(&r);
        _exit(EXIT_SUCCESS);
}

int log_relay_start(const char *command, int copy_fd, LogRelay *ret) {
        int fds[2];
        pid_t pid;

        assert(command);
        assert(ret);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;

        /* Output written before the fork would be written twice. */
        (void) fflush(stdout);
        (void) fflush(stderr);

        pid = fork();
        if (pid < 0) {
                int saved = -errno;

                (void) close(fds[0]);
                (void) close(fds[1]);
                return saved;
        }
        if (pid == 0) {
                (void) close(fds[1]);
                relay_main(command, fds[0], copy_fd);
        }

        (void) close(fds[0]);
        *ret = (LogRelay) { .pid = pid, .write_fd = fds[1] };
        return 0;
}

int log_relay_finish(LogRelay *relay, uint64_t timeout_usec) {
        _cleanup_close_ int pidfd = -EBADF;
        struct pollfd p;
        int r;

        assert(relay);

        if (relay->write_fd >= 0)
                (void) close(relay->write_fd);
        relay->write_fd = -EBADF;
        if (relay->pid <= 0)
                return 1;

        pidfd = pidfd_open(relay->pid, 0);
        if (pidfd >= 0) {
                p = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                do
                        r = poll(&p, 1, (int) (timeout_usec / 1000U));
                while (r < 0 && errno == EINTR);
                if (r == 0) {
                        log_debug("The output of a command is still being logged: a process it started keeps "
                                  "its output open.");
                        relay->pid = 0;
                        return 0;
                }
        }

        while (waitpid(relay->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        relay->pid = 0;
        return 1;
}

