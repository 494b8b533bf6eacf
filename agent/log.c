/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to the journal with kiln's structured fields, or to stderr. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

/* Descriptors that a relay closes after its fork, at most; kiln has a few dozen open. */
#define RELAY_CLOSE_MAX 1024

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

/* Send the last line, which has no newline, as an entry of its own. */
static void relay_flush(Relay *r) {
        if (r->line_size > 0)
                relay_emit(r);
}

/* Read one chunk of the pipe. Returns 1 at end of file, 0 otherwise. */
static int relay_read(Relay *r, int read_fd, char *buf, size_t size) {
        ssize_t n = read(read_fd, buf, size);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0)
                return 1;
        relay_feed(r, buf, (size_t) n);
        return 0;
}

/* kiln asked on control_fd, after the command ended: log every byte that the pipe contains now and
 * the last line without a newline, then confirm with one byte. Bytes that arrive after the
 * request come from a background process, which the confirmation does not wait for. Returns 1
 * at end of file of the pipe, 0 after confirming, -1 when kiln has closed its end. */
static int relay_drain(Relay *r, int read_fd, int control_fd, char *buf, size_t size) {
        char request;
        int pending = 0;

        if (read(control_fd, &request, 1) != 1)
                return -1;
        if (ioctl(read_fd, FIONREAD, &pending) < 0)
                pending = 0;
        while (pending > 0) {
                ssize_t n = read(read_fd, buf, MIN(size, (size_t) pending));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return 1;
                relay_feed(r, buf, (size_t) n);
                pending -= (int) n;
        }

        relay_flush(r);
        /* MSG_NOSIGNAL: a kiln that has exited must not kill the relay with SIGPIPE. */
        return send(control_fd, "1", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Whether fd is an unconnected AF_UNIX datagram socket, which is what libsystemd's cached journal
 * socket is. */
static bool fd_is_datagram_socket(int fd) {
        int domain = 0, type = 0;
        socklen_t size = sizeof(int);

        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) < 0)
                return false;
        size = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) < 0)
                return false;
        return domain == AF_UNIX && type == SOCK_DGRAM;
}

/* Close every descriptor above stderr that the relay does not use: kiln's root directory, state
 * files, a plugin's input and the pipes of other commands. libsystemd keeps its journal socket in
 * a descriptor that it does not expose, so every AF_UNIX datagram socket stays open. Without
 * /proc the descriptors cannot be listed, and only the relay's own are kept, so the journal
 * socket, when kiln had opened it already, is closed and the lines go to stderr. */
static void relay_close_fds(const int keep[static 3]) {
        int close_list[RELAY_CLOSE_MAX], n = 0, lowest = STDERR_FILENO + 1;
        struct dirent *de;
        DIR *d;

        d = opendir("/proc/self/fd");
        if (!d) {
                int sorted[3] = { keep[0], keep[1], keep[2] };

                for (int i = 0; i < 3; i++)
                        for (int j = i + 1; j < 3; j++)
                                if (sorted[j] < sorted[i]) {
                                        int t = sorted[i];

                                        sorted[i] = sorted[j];
                                        sorted[j] = t;
                                }
                for (int i = 0; i < 3; i++) {
                        if (sorted[i] < lowest)
                                continue;
                        if (sorted[i] > lowest)
                                (void) close_range((unsigned) lowest, (unsigned) sorted[i] - 1, 0);
                        lowest = sorted[i] + 1;
                }
                (void) close_range((unsigned) lowest, ~0U, 0);
                return;
        }

        /* A full list closes the first RELAY_CLOSE_MAX, and the rest are listed again. */
        do {
                n = 0;
                while ((de = readdir(d)) && n < RELAY_CLOSE_MAX) {
                        char *end;
                        long fd;

                        errno = 0;
                        fd = strtol(de->d_name, &end, 10);
                        if (errno != 0 || end == de->d_name || *end != '\0' || fd > INT_MAX)
                                continue;
                        if (fd <= STDERR_FILENO || fd == dirfd(d) || fd == keep[0] || fd == keep[1] ||
                            fd == keep[2] || fd_is_datagram_socket((int) fd))
                                continue;
                        close_list[n++] = (int) fd;
                }
                for (int i = 0; i < n; i++)
                        (void) close(close_list[i]);
                rewinddir(d);
        } while (n == RELAY_CLOSE_MAX);
        (void) closedir(d);
}

/* Point stdin and stdout, and stderr unless the relay writes its lines there, at /dev/null, so
 * that the relay does not keep kiln's own output open after kiln has exited. */
static void relay_detach_stdio(bool keep_stderr) {
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);

        if (null_fd < 0)
                return;
        (void) dup2(null_fd, STDIN_FILENO);
        (void) dup2(null_fd, STDOUT_FILENO);
        if (!keep_stderr)
                (void) dup2(null_fd, STDERR_FILENO);
        (void) close(null_fd);
}

/* The relay process: read the pipe until every writer has closed it, and reply to kiln's drain
 * requests on control_fd. */
_noreturn_ static void relay_main(const char *command, int read_fd, int copy_fd, int control_fd) {
        static Relay r;
        static char buf[RELAY_READ_SIZE];
        const int keep[3] = { read_fd, copy_fd, control_fd };
        int k;

        r = (Relay) {
                .command = command,
                .copy_fd = copy_fd,
                .journal = HAVE_LIBSYSTEMD && access(JOURNAL_SOCKET, F_OK) >= 0,
        };

        relay_close_fds(keep);
        relay_detach_stdio(/* keep_stderr= */ !r.journal);

        for (;;) {
                struct pollfd p[] = {
                        { .fd = read_fd, .events = POLLIN },
                        { .fd = control_fd, .events = POLLIN },
                };

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                /* What the command wrote comes first, so that a drain request finds little left. */
                if (p[0].revents != 0) {
                        if (relay_read(&r, read_fd, buf, sizeof(buf)) > 0)
                                break;
                        continue;
                }
                if (p[1].revents == 0)
                        continue;
                k = relay_drain(&r, read_fd, control_fd, buf, sizeof(buf));
                if (k > 0)
                        break;
                if (k < 0) {
                        /* kiln has closed its end: no more requests come. */
                        (void) close(control_fd);
                        control_fd = -EBADF;
                }
        }

        relay_flush(&r);
        _exit(EXIT_SUCCESS);
}

int log_relay_start(const char *command, int copy_fd, LogRelay *ret) {
        _cleanup_close_ int read_fd = -EBADF, write_fd = -EBADF, control_fd = -EBADF, relay_control_fd = -EBADF;
        int fds[2], status;
        pid_t pid;

        assert(command);
        assert(ret);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        read_fd = fds[0];
        write_fd = fds[1];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return -errno;
        control_fd = fds[0];
        relay_control_fd = fds[1];

        /* Output written before the fork would be written twice. */
        (void) fflush(stdout);
        (void) fflush(stderr);

        /* Fork twice: the middle process exits at once and kiln reaps it, so the relay belongs to
         * init (or the nearest subreaper), which reaps it whenever it ends. */
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                pid_t relay;

                (void) close(write_fd);
                (void) close(control_fd);
                relay = fork();
                if (relay < 0)
                        _exit(EXIT_FAILURE);
                if (relay == 0)
                        relay_main(command, read_fd, copy_fd, relay_control_fd);
                _exit(EXIT_SUCCESS);
        }

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_SUCCESS)
                return -ECHILD;

        *ret = (LogRelay) { .write_fd = TAKE_FD(write_fd), .control_fd = TAKE_FD(control_fd) };
        return 0;
}

int log_relay_finish(LogRelay *relay, uint64_t timeout_usec) {
        struct pollfd p;
        bool confirmed = true;
        char answer;
        int r;

        assert(relay);

        if (relay->write_fd >= 0)
                (void) close(relay->write_fd);
        relay->write_fd = -EBADF;
        if (relay->control_fd < 0)
                return 1;

        /* A relay that has ended has closed its end, so the request fails or the reply is end of
         * file: either way it has logged everything. */
        if (send(relay->control_fd, "1", 1, MSG_NOSIGNAL) == 1) {
                p = (struct pollfd) { .fd = relay->control_fd, .events = POLLIN };
                do
                        r = poll(&p, 1, (int) (timeout_usec / 1000U));
                while (r < 0 && errno == EINTR);
                if (r == 0) {
                        log_debug("The output of a command is not logged yet after %llu ms, not waiting "
                                  "for it.", (unsigned long long) (timeout_usec / 1000U));
                        confirmed = false;
                } else
                        (void) !read(relay->control_fd, &answer, 1);
        }

        (void) close(relay->control_fd);
        relay->control_fd = -EBADF;
        return confirmed;
}
