/* SPDX-License-Identifier: Apache-2.0 */
/* Running one command with an explicit argv inside the target root, with its stderr captured. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/time-util.h"

/* The search path inside the root. It is fixed so that the result does not depend on the
 * environment kiln itself was started with. */
#define EXEC_SEARCH_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const exec_fixed_env[] = {
        "PATH=" EXEC_SEARCH_PATH,
        "LANG=C.UTF-8",
        "HOME=/root",
};

/* Descriptors as the child arranges them before exec. */
enum {
        CHILD_FD_STDIN,
        CHILD_FD_STDOUT,
        CHILD_FD_STDERR,
        CHILD_FD_SETUP_ERROR, /* close-on-exec, carries the errno of a failed setup step */
        _CHILD_FD_MAX,
};

/* Exit statuses of a command that was found but could not be executed, or not found at all,
 * as POSIX shells use them. */
#define EXEC_EXIT_NOT_EXECUTABLE 126
#define EXEC_EXIT_NOT_FOUND 127

#define EXEC_READ_CHUNK 4096

void exec_result_done(ExecResult *r) {
        if (!r)
                return;
        free(r->stderr_head);
        r->stderr_head = NULL;
        free(r->stdout_data);
        r->stdout_data = NULL;
}

static bool env_has_key(char *const env[], const char *assignment) {
        size_t key_len = strcspn(assignment, "=") + 1; /* the key and its '=' */

        for (size_t i = 0; env && env[i]; i++)
                if (strneq(env[i], assignment, key_len))
                        return true;
        return false;
}

/* Build the child's environment: the fixed entries unless env overrides them, then env.
 * The array is owned by the caller, its strings are borrowed. */
static int build_envp(char *const env[], char ***ret) {
        size_t n_env = 0, n = 0;
        char **envp;

        while (env && env[n_env])
                n_env++;

        envp = calloc(ELEMENTSOF(exec_fixed_env) + n_env + 1, sizeof(char *));
        if (!envp)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(exec_fixed_env); i++)
                if (!env_has_key(env, exec_fixed_env[i]))
                        envp[n++] = (char *) exec_fixed_env[i];
        for (size_t i = 0; i < n_env; i++)
                envp[n++] = env[i];

        *ret = envp;
        return 0;
}

/* Everything below up to StderrCapture runs in the forked child, so it calls only
 * async-signal-safe functions. kiln may have other threads (curl's resolver), and a lock that one
 * of them held at fork time would never be released in the child. */

static void child_write_all(int fd, const char *s) {
        size_t left = strlen(s);

        while (left > 0) {
                ssize_t n = write(fd, s, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                s += n;
                left -= (size_t) n;
        }
}

_noreturn_ static void child_fail_setup(int setup_error_fd, int error) {
        ssize_t n _unused_ = write(setup_error_fd, &error, sizeof(error));

        _exit(EXIT_FAILURE);
}

static void child_reset_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t all;

        /* Ignored signals stay ignored across exec, and a shell pipeline whose SIGPIPE is ignored
         * may never end. Numbers that the C library reserves fail with EINVAL, which is harmless. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);

        (void) sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Put the four descriptors at 0..3 and close all others. Each source is first copied above
 * the target range, because a source may itself sit on one of the targets. */
static void child_arrange_fds(const int source[static _CHILD_FD_MAX]) {
        int moved[_CHILD_FD_MAX];

        for (int i = 0; i < _CHILD_FD_MAX; i++) {
                moved[i] = fcntl(source[i], F_DUPFD_CLOEXEC, _CHILD_FD_MAX);
                if (moved[i] < 0)
                        child_fail_setup(source[CHILD_FD_SETUP_ERROR], errno);
        }

        for (int i = 0; i < _CHILD_FD_MAX; i++) {
                int r = i == CHILD_FD_SETUP_ERROR ? dup3(moved[i], i, O_CLOEXEC) : dup2(moved[i], i);
                if (r < 0)
                        child_fail_setup(moved[CHILD_FD_SETUP_ERROR], errno);
        }

        if (close_range(_CHILD_FD_MAX, ~0U, 0) < 0)
                child_fail_setup(CHILD_FD_SETUP_ERROR, errno);
}

/* Errors after which glibc's execvp() goes on with the next directory of the search path. */
static bool exec_error_tries_next(int error) {
        return error == ENOENT || error == ENOTDIR || error == ESTALE || error == ENODEV ||
                error == ETIMEDOUT;
}

/* Exec argv[0] the way execvp() does, but searching the fixed path instead of kiln's own PATH.
 * Returns only on failure, with errno set: EACCES when some candidate existed but could not be
 * executed, ENOENT when none existed. */
static void child_exec_search(char *const argv[], char *const envp[]) {
        const char *dir = EXEC_SEARCH_PATH;
        size_t name_len = strlen(argv[0]);
        bool saw_eacces = false;

        if (strchr(argv[0], '/')) {
                (void) execve(argv[0], argv, envp);
                return;
        }

        while (*dir) {
                size_t dir_len = strcspn(dir, ":");
                char path[PATH_MAX];

                if (dir_len + 1 + name_len < sizeof(path)) {
                        memcpy(path, dir, dir_len);
                        path[dir_len] = '/';
                        memcpy(path + dir_len + 1, argv[0], name_len + 1);

                        (void) execve(path, argv, envp);
                        if (errno == EACCES)
                                saw_eacces = true;
                        else if (!exec_error_tries_next(errno))
                                return;
                }

                dir += dir_len;
                if (*dir == ':')
                        dir++;
        }

        errno = saw_eacces ? EACCES : ENOENT;
}

_noreturn_ static void child_exec_failed(const char *name, int error) {
        child_write_all(STDERR_FILENO, "kiln: ");
        child_write_all(STDERR_FILENO, name);

        if (error == ENOENT) {
                /* A path that exists but fails with ENOENT names a missing #! interpreter. */
                if (strchr(name, '/') && access(name, F_OK) == 0)
                        child_write_all(STDERR_FILENO, ": not found (the interpreter on its #! line is missing)\n");
                else
                        child_write_all(STDERR_FILENO, ": not found\n");
                _exit(EXEC_EXIT_NOT_FOUND);
        }

        child_write_all(STDERR_FILENO, ": ");
        child_write_all(STDERR_FILENO, strerrordesc_np(error) ?: "unknown error");
        child_write_all(STDERR_FILENO, "\n");
        _exit(EXEC_EXIT_NOT_EXECUTABLE);
}

_noreturn_ static void child_run(const char *root, char *const argv[], char *const envp[],
                                 const int fds[static _CHILD_FD_MAX], bool own_group) {
        child_reset_signals();
        child_arrange_fds(fds);

        /* A signal to the whole group stops the command's children too. */
        if (own_group && setpgid(0, 0) < 0)
                child_fail_setup(CHILD_FD_SETUP_ERROR, errno);

        if (!streq(root, "/")) {
                if (chroot(root) < 0)
                        child_fail_setup(CHILD_FD_SETUP_ERROR, errno);
        }
        if (chdir("/") < 0)
                child_fail_setup(CHILD_FD_SETUP_ERROR, errno);

        child_exec_search(argv, envp);
        child_exec_failed(argv[0], errno);
}

/* One output of the child on its way to the parent: the head is kept (the report's excerpt of
 * stderr, or the whole captured stdout), and every byte is copied to the copy descriptor. */
typedef struct OutputCapture {
        int fd;                  /* read end of the pipe, -EBADF once at end of file */
        char *head;              /* head_max + 1 bytes */
        size_t head_size, head_max;
        bool truncated;          /* bytes beyond head_max were dropped */
        int copy_fd;             /* -EBADF when the output is not copied */
} OutputCapture;

static void write_all_ignoring_errors(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* A full or failing output log must not stop the command. */
                        return;
                }
                data += n;
                size -= (size_t) n;
        }
}

/* Read one chunk. Returns 1 at end of file, 0 when more may follow, -errno on errors
 * (-EAGAIN when nothing is buffered on a non-blocking descriptor). */
static int capture_read(OutputCapture *c) {
        char buf[EXEC_READ_CHUNK];
        size_t keep;
        ssize_t n;

        n = read(c->fd, buf, sizeof(buf));
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        if (n == 0)
                return 1;

        keep = MIN((size_t) n, c->head_max - c->head_size);
        memcpy(c->head + c->head_size, buf, keep);
        c->head_size += keep;
        if (keep < (size_t) n)
                c->truncated = true;

        if (c->copy_fd >= 0)
                write_all_ignoring_errors(c->copy_fd, buf, (size_t) n);
        return 0;
}

/* Read what is buffered without waiting for more. */
static void capture_drain(OutputCapture *c) {
        int flags;

        if (c->fd < 0)
                return;
        flags = fcntl(c->fd, F_GETFL);
        if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return;
        while (capture_read(c) == 0)
                ;
}

/* Milliseconds until deadline for poll(), rounded up; -1 waits without limit. */
static int poll_timeout_ms(usec_t deadline) {
        usec_t now = clock_monotonic_usec();

        if (deadline == 0)
                return -1;
        if (deadline <= now)
                return 0;
        return (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
}

/* The time limit passed: SIGTERM to the command's group first, SIGKILL at the next one.
 * Returns the next deadline, 0 when none is left. */
static usec_t exec_time_out(pid_t pid, const ExecLimits *limits, bool *timed_out) {
        if (*timed_out || limits->kill_grace_usec == 0) {
                (void) kill(-pid, SIGKILL);
                *timed_out = true;
                return 0;
        }
        (void) kill(-pid, SIGTERM);
        *timed_out = true;
        return clock_monotonic_usec() + limits->kill_grace_usec;
}

/* Read the child's outputs until it exits, signalling it when the time limit passes. A background
 * process that the command started inherits the pipes and may hold them open for as long as it
 * runs, so waiting for end of file alone could block the boot forever.
 * NOTE: such a process gets EPIPE (or SIGPIPE) when it writes to a pipe after the command has
 * exited, because the read end is closed by then. It has to redirect its output itself. */
static void capture_outputs(OutputCapture c[static 2], pid_t pid, const ExecLimits *limits,
                            bool *ret_timed_out) {
        /* Without pidfds (Linux before 5.3) poll() skips the negative descriptor, and only end of
         * file ends the loop; the time limit still applies while the pipes are open. */
        _cleanup_close_ int pidfd = pidfd_open(pid, 0);
        usec_t deadline = limits->timeout_usec > 0 ? clock_monotonic_usec() + limits->timeout_usec : 0;
        bool timed_out = false;

        while (c[0].fd >= 0 || c[1].fd >= 0 || pidfd >= 0) {
                struct pollfd p[] = {
                        { .fd = c[0].fd, .events = POLLIN },
                        { .fd = c[1].fd, .events = POLLIN },
                        { .fd = pidfd, .events = POLLIN },
                };
                int n = poll(p, ELEMENTSOF(p), poll_timeout_ms(deadline));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (n == 0) {
                        deadline = exec_time_out(pid, limits, &timed_out);
                        continue;
                }

                for (size_t i = 0; i < 2; i++)
                        if (p[i].revents != 0 && capture_read(&c[i]) != 0)
                                c[i].fd = -EBADF;

                /* Endless output ends the command now rather than at its time limit. */
                if (limits->kill_on_stdout_overflow && c[1].truncated && c[1].fd >= 0) {
                        (void) kill(-pid, SIGKILL);
                        c[1].fd = -EBADF;
                }
                if (p[2].revents != 0) {
                        capture_drain(&c[0]);
                        capture_drain(&c[1]);
                        break;
                }
        }

        /* What the command left running after its time-out goes too, and so does what a query
         * left running. The command has not been reaped yet, so its pid still names its group. */
        if (timed_out || limits->kill_group_on_exit)
                (void) kill(-pid, SIGKILL);
        *ret_timed_out = timed_out;
}

/* Returns 0 when the child reached exec (or its own "not found" exit), -errno when a setup step
 * before it failed. */
static int read_setup_error(int fd) {
        int error;
        ssize_t n;

        do
                n = read(fd, &error, sizeof(error));
        while (n < 0 && errno == EINTR);

        if (n < 0)
                return -errno;
        if (n == 0)
                return 0;
        if (n != sizeof(error) || error <= 0)
                return -EIO;
        return -error;
}

static int wait_for_exit(pid_t pid, int *ret_status) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        *ret_status = status;
        return 0;
}

static int exit_code_from_status(int status) {
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static void close_fd(int *fd) {
        closep(fd);
        *fd = -EBADF;
}

void exec_result_format_termination(const ExecResult *r, char *buf, size_t size) {
        const char *abbrev;

        if (r->signal == 0) {
                (void) snprintf(buf, size, "exited with %d", r->exit_code);
                return;
        }

        /* Real-time signals have no name. */
        abbrev = sigabbrev_np(r->signal);
        if (abbrev)
                (void) snprintf(buf, size, "was killed by signal %d (SIG%s)", r->signal, abbrev);
        else
                (void) snprintf(buf, size, "was killed by signal %d", r->signal);
}

int exec_in_root(const char *root, char *const argv[], char *const env[], int output_fd,
                 ExecResult *ret) {
        return exec_in_root_limited(root, argv, env, /* input_fd= */ -EBADF, output_fd, /* limits= */ NULL, ret);
}

int exec_in_root_with_stdin(const char *root, char *const argv[], char *const env[], int input_fd,
                            int output_fd, ExecResult *ret) {
        return exec_in_root_limited(root, argv, env, input_fd, output_fd, /* limits= */ NULL, ret);
}

/* A pipe whose write end the child gets; both ends close on exec. */
static int pipe_open(int *ret_read, int *ret_write) {
        int fds[2];

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        *ret_read = fds[0];
        *ret_write = fds[1];
        return 0;
}

int exec_in_root_limited(const char *root, char *const argv[], char *const env[], int input_fd,
                         int output_fd, const ExecLimits *limits, ExecResult *ret) {
        _cleanup_close_ int null_fd = -EBADF, stderr_read = -EBADF, stderr_write = -EBADF,
                            stdout_read = -EBADF, stdout_write = -EBADF,
                            setup_read = -EBADF, setup_write = -EBADF;
        _cleanup_free_ char **envp = NULL;
        _cleanup_free_ char *head = NULL, *out = NULL;
        static const ExecLimits no_limits = {};
        OutputCapture capture[2];
        bool timed_out, own_group;
        int stdout_target, status, r;
        usec_t start;
        pid_t pid;

        assert(root);
        assert(argv);
        assert(argv[0]);
        assert(ret);

        if (!limits)
                limits = &no_limits;
        own_group = limits->timeout_usec > 0 || limits->kill_on_stdout_overflow || limits->kill_group_on_exit;
        start = clock_monotonic_usec();

        r = build_envp(env, &envp);
        if (r < 0)
                return r;

        head = malloc(EXEC_STDERR_HEAD_MAX + 1);
        if (!head)
                return -ENOMEM;

        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return -errno;

        r = pipe_open(&stderr_read, &stderr_write);
        if (r < 0)
                return r;
        r = pipe_open(&setup_read, &setup_write);
        if (r < 0)
                return r;
        if (limits->stdout_max > 0) {
                out = malloc(limits->stdout_max + 1);
                if (!out)
                        return -ENOMEM;
                r = pipe_open(&stdout_read, &stdout_write);
                if (r < 0)
                        return r;
        }

        /* Captured stdout goes to its pipe, otherwise to the output like stderr. */
        if (stdout_write >= 0)
                stdout_target = stdout_write;
        else if (output_fd >= 0)
                stdout_target = output_fd;
        else
                stdout_target = null_fd;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                const int child_fds[_CHILD_FD_MAX] = {
                        [CHILD_FD_STDIN] = input_fd >= 0 ? input_fd : null_fd,
                        [CHILD_FD_STDOUT] = stdout_target,
                        [CHILD_FD_STDERR] = stderr_write,
                        [CHILD_FD_SETUP_ERROR] = setup_write,
                };
                child_run(root, argv, envp, child_fds, own_group);
        }
        /* Set the group from both sides, so that a time-out right after fork() finds it. */
        if (own_group)
                (void) setpgid(pid, pid);

        /* Only the child may hold the write ends, or end of file never comes. */
        close_fd(&stderr_write);
        close_fd(&stdout_write);
        close_fd(&setup_write);

        r = read_setup_error(setup_read);
        if (r < 0) {
                (void) wait_for_exit(pid, &status);
                return r;
        }

        capture[0] = (OutputCapture) {
                .fd = stderr_read, .head = head, .head_max = EXEC_STDERR_HEAD_MAX, .copy_fd = output_fd,
        };
        capture[1] = (OutputCapture) {
                .fd = out ? stdout_read : -EBADF, .head = out, .head_max = limits->stdout_max, .copy_fd = -EBADF,
        };
        capture_outputs(capture, pid, limits, &timed_out);
        head[capture[0].head_size] = '\0';
        if (out)
                out[capture[1].head_size] = '\0';

        r = wait_for_exit(pid, &status);
        if (r < 0)
                return r;

        *ret = (ExecResult) {
                .exit_code = exit_code_from_status(status),
                .signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                .stderr_head = TAKE_PTR(head),
                .duration_usec = clock_monotonic_usec() - start,
                .timed_out = timed_out,
                .stdout_size = capture[1].head_size,
                .stdout_truncated = capture[1].truncated,
                .stdout_data = TAKE_PTR(out),
        };
        return 0;
}

int exec_find_in_root(int root_fd, const char *name, char **ret_path) {
        const char *dir = EXEC_SEARCH_PATH;

        assert(root_fd >= 0);
        assert(name);

        for (;;) {
                size_t n = strcspn(dir, ":");
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                if (name[0] == '/')
                        path = strdup(name);
                else if (asprintf(&path, "%.*s/%s", (int) n, dir, name) < 0)
                        path = NULL;
                if (!path)
                        return -ENOMEM;
                fd = root_open(root_fd, path, O_PATH | O_CLOEXEC, 0);
                if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
                        if (ret_path)
                                *ret_path = TAKE_PTR(path);
                        return 1;
                }
                if (name[0] == '/' || dir[n] == '\0')
                        return 0;
                dir += n + 1;
        }
}
