/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/exec-util.c: exit codes, output and stderr capture, the environment,
 * descriptors, and chroot into a busybox root. Commands that run on the host with root "/" change
 * nothing there, and every command that writes files runs chrooted into a scratch root. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "test-helpers.h"

#define BUSYBOX "/bin/busybox"
#define OUTPUT_MAX 65536

/* Run argv with root "/" (or root), its output in a memfd whose content lands in out. */
static int run_capturing(const char *root, char *const argv[], char *const env[], ExecResult *ret,
                         char out[static OUTPUT_MAX]) {
        _cleanup_close_ int fd = memfd_create("kiln-test-output", MFD_CLOEXEC);
        ssize_t n;
        int r;

        assert_true(fd >= 0);
        r = exec_in_root(root, argv, env, fd, ret);

        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        n = read(fd, out, OUTPUT_MAX - 1);
        assert_true(n >= 0);
        out[n] = '\0';
        return r;
}

static void exec_in_root_exit_code_returned(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "exit 3", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 3);
}

static void exec_in_root_success_exit_zero(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "true", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 0);
        assert_non_null(result.stderr_head);
        assert_string_equal(result.stderr_head, "");
}

static void exec_in_root_stdout_to_output(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/echo", "hello", "two words", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(result.exit_code, 0);
        assert_string_equal(out, "hello two words\n");
        assert_string_equal(result.stderr_head, "");
}

static void exec_in_root_path_searched(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "echo", "found", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(result.exit_code, 0);
        assert_string_equal(out, "found\n");
}

static void exec_in_root_not_found_exits_127(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "kiln-test-no-such-command", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(result.exit_code, 127);
        assert_string_equal(result.stderr_head, "kiln: kiln-test-no-such-command: not found\n");
        assert_string_equal(out, "kiln: kiln-test-no-such-command: not found\n");
}

static void exec_in_root_missing_path_exits_127(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/nonexistent/kiln-test", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 127);
        assert_string_equal(result.stderr_head, "kiln: /nonexistent/kiln-test: not found\n");
}

static void exec_in_root_missing_interpreter_named(void **state) {
        TestRoot *t = test_root_new();
        _cleanup_(exec_result_done) ExecResult result = {};
        char path[PATH_MAX], *argv[] = { path, NULL };
        FILE *f;

        /* The script exists, but its #! names an interpreter that does not. */
        snprintf(path, sizeof(path), "%s/script", t->path);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs("#!/nonexistent/kiln-shell\n", f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, 0700), 0);

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 127);
        assert_non_null(strstr(result.stderr_head, "interpreter"));
        test_root_free(t);
}

static void exec_in_root_not_executable_exits_126(void **state) {
        TestRoot *t = test_root_new();
        _cleanup_(exec_result_done) ExecResult result = {};
        char path[PATH_MAX], *argv[] = { path, NULL };
        int fd;

        snprintf(path, sizeof(path), "%s/data", t->path);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(close(fd), 0);

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 126);
        assert_non_null(strstr(result.stderr_head, "Permission denied"));
        test_root_free(t);
}

static void exec_in_root_stderr_captured(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo out; echo oops >&2; exit 1", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(result.exit_code, 1);
        assert_string_equal(result.stderr_head, "oops\n");
        assert_non_null(strstr(out, "out\n"));
        assert_non_null(strstr(out, "oops\n"));
}

static void exec_in_root_stderr_head_truncated(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "head -c 5000 /dev/zero | tr '\\000' x >&2", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(result.exit_code, 0);
        assert_int_equal(strlen(result.stderr_head), EXEC_STDERR_HEAD_MAX);
        assert_int_equal(strspn(result.stderr_head, "x"), EXEC_STDERR_HEAD_MAX);
        /* The output keeps everything. */
        assert_int_equal(strlen(out), 5000);
}

static void exec_in_root_stderr_discarded_without_output(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo ignored; echo kept >&2", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_string_equal(result.stderr_head, "kept\n");
}

static void exec_in_root_env_passed(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo \"$FOO|$INSTANCE_ID\"", NULL };
        char *env[] = { "FOO=bar baz", "INSTANCE_ID=i-0123456789abcdef0", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, env, &result, out), 0);
        assert_string_equal(out, "bar baz|i-0123456789abcdef0\n");
}

static void exec_in_root_fixed_env_set(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo \"$PATH|$LANG|$HOME\"", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_string_equal(out,
                            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|C.UTF-8|/root\n");
}

static void exec_in_root_env_overrides_fixed(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/usr/bin/env", NULL };
        char *env[] = { "HOME=/home/kiln", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, env, &result, out), 0);
        assert_non_null(strstr(out, "HOME=/home/kiln\n"));
        assert_null(strstr(out, "HOME=/root"));
}

static void exec_in_root_parent_env_not_inherited(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo \"${KILN_TEST_LEAK-unset}\"", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(setenv("KILN_TEST_LEAK", "leaked", 1), 0);
        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_int_equal(unsetenv("KILN_TEST_LEAK"), 0);
        assert_string_equal(out, "unset\n");
}

static void exec_in_root_killed_by_signal(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 128 + 9);
        assert_int_equal(result.signal, 9);
}

static void exec_in_root_exit_has_no_signal(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "exit 139", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 139);
        assert_int_equal(result.signal, 0);
}

static void exec_in_root_stdin_is_dev_null(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "readlink /proc/self/fd/0; cat", NULL };
        char out[OUTPUT_MAX];

        assert_int_equal(run_capturing("/", argv, NULL, &result, out), 0);
        assert_string_equal(out, "/dev/null\n");
}

static void exec_in_root_limited_times_out(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "sleep 30", NULL };
        const ExecLimits limits = { .timeout_usec = 200 * USEC_PER_MSEC, .kill_grace_usec = USEC_PER_SEC };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_true(result.timed_out);
        assert_int_equal(result.signal, SIGTERM);
        assert_true(result.duration_usec < 5 * USEC_PER_SEC);
}

static void exec_in_root_limited_kills_after_grace(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "trap '' TERM; while :; do :; done", NULL };
        const ExecLimits limits = { .timeout_usec = 100 * USEC_PER_MSEC, .kill_grace_usec = 100 * USEC_PER_MSEC };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_true(result.timed_out);
        assert_int_equal(result.signal, SIGKILL);
}

static void exec_in_root_limited_stops_children(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        /* The child closes the pipes, so only the time limit ends the wait. */
        char *argv[] = { "/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 30 & wait", NULL };
        const ExecLimits limits = { .timeout_usec = 200 * USEC_PER_MSEC, .kill_grace_usec = USEC_PER_SEC };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_true(result.timed_out);
        assert_true(result.duration_usec < 5 * USEC_PER_SEC);
}

static void exec_in_root_limited_no_timeout_when_fast(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "exit 4", NULL };
        const ExecLimits limits = { .timeout_usec = 10 * USEC_PER_SEC };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_false(result.timed_out);
        assert_int_equal(result.exit_code, 4);
}

static void exec_in_root_limited_captures_stdout(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
        const ExecLimits limits = { .stdout_max = 64 };
        char out[OUTPUT_MAX];
        _cleanup_close_ int fd = memfd_create("kiln-test-output", MFD_CLOEXEC);
        ssize_t n;

        assert_true(fd >= 0);
        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, fd, &limits, &result), 0);
        assert_string_equal(result.stdout_data, "out\n");
        assert_int_equal(result.stdout_size, 4);
        assert_false(result.stdout_truncated);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        n = read(fd, out, sizeof(out) - 1);
        assert_int_equal(n, 4);
        out[n] = '\0';
        assert_string_equal(out, "err\n");
}

static void exec_in_root_limited_stdout_truncated(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo 0123456789; i=$((i+1)); done", NULL };
        const ExecLimits limits = { .stdout_max = 100 };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_int_equal(result.exit_code, 0);
        assert_int_equal(result.stdout_size, 100);
        assert_true(result.stdout_truncated);
}

/* Whether pid runs: it exists and is not a zombie. */
static bool process_alive(pid_t pid) {
        char path[64], line[256];
        const char *state;
        FILE *f;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (!fgets(line, sizeof(line), f))
                line[0] = '\0';
        (void) fclose(f);
        /* The state follows the command name, which is in parentheses. */
        state = strrchr(line, ')');
        return state && state[1] == ' ' && state[2] != 'Z';
}

static void exec_in_root_limited_overflow_kills(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "yes 0123456789", NULL };
        const ExecLimits limits = {
                .timeout_usec = 10 * USEC_PER_SEC, .stdout_max = 100, .kill_on_stdout_overflow = true,
        };

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_true(result.stdout_truncated);
        assert_int_equal(result.stdout_size, 100);
        assert_false(result.timed_out);
        assert_true(result.duration_usec < 5 * USEC_PER_SEC);
}

static void exec_in_root_limited_group_killed_on_exit(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!", NULL };
        const ExecLimits limits = { .stdout_max = 64, .kill_group_on_exit = true };
        pid_t child;

        assert_int_equal(exec_in_root_limited("/", argv, NULL, -EBADF, -EBADF, &limits, &result), 0);
        assert_int_equal(result.exit_code, 0);
        child = (pid_t) strtol(result.stdout_data, NULL, 10);
        assert_true(child > 0);
        /* SIGKILL was sent before exec_in_root_limited() returned, but the kernel may take a moment
         * to end the process, after which it is gone or a zombie until init reaps it. */
        for (int i = 0; i < 100 && process_alive(child); i++)
                (void) usleep(10000);
        assert_false(process_alive(child));
}

static void exec_result_format_termination_exit(void **state) {
        ExecResult result = { .exit_code = 3 };
        char buf[64];

        exec_result_format_termination(&result, buf, sizeof(buf));
        assert_string_equal(buf, "exited with 3");
}

static void exec_result_format_termination_signal(void **state) {
        ExecResult result = { .exit_code = 128 + 11, .signal = 11 };
        char buf[64];

        exec_result_format_termination(&result, buf, sizeof(buf));
        assert_string_equal(buf, "was killed by signal 11 (SIGSEGV)");
}

static void exec_in_root_with_stdin_reads_input(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_close_ int input = memfd_create("kiln-test-input", MFD_CLOEXEC),
                            output = memfd_create("kiln-test-output", MFD_CLOEXEC);
        char *argv[] = { "/bin/sh", "-c", "cat", NULL };
        char out[OUTPUT_MAX];
        ssize_t n;

        assert_true(input >= 0);
        assert_true(output >= 0);
        assert_int_equal(write(input, "user:secret\n", 12), 12);
        assert_int_equal(lseek(input, 0, SEEK_SET), 0);

        assert_int_equal(exec_in_root_with_stdin("/", argv, NULL, input, output, &result), 0);
        assert_int_equal(result.exit_code, 0);
        assert_int_equal(lseek(output, 0, SEEK_SET), 0);
        n = read(output, out, sizeof(out) - 1);
        assert_int_equal(n, 12);
        out[n] = '\0';
        assert_string_equal(out, "user:secret\n");
}

static void exec_in_root_other_fds_closed(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_close_ int leaked = -EBADF;
        char script[128], *argv[] = { "/bin/sh", "-c", script, NULL };

        /* A descriptor without O_CLOEXEC would reach the command unless the child closes it. */
        leaked = fcntl(STDERR_FILENO, F_DUPFD, 100);
        assert_true(leaked >= 100);
        snprintf(script, sizeof(script), "test -e /proc/$$/fd/%d", leaked);

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 1);
}

static void exec_in_root_background_process_does_not_block(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        /* The background sleep inherits the stderr pipe and keeps it open for 3 seconds. */
        char *argv[] = { "/bin/sh", "-c", "sleep 3 & echo started >&2", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 0);
        assert_string_equal(result.stderr_head, "started\n");
        assert_true(result.duration_usec < 2 * USEC_PER_SEC);
}

static void exec_in_root_duration_measured(void **state) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "/bin/sh", "-c", "sleep 0.2", NULL };

        assert_int_equal(exec_in_root("/", argv, NULL, -EBADF, &result), 0);
        assert_true(result.duration_usec >= 200 * USEC_PER_MSEC);
}

static void exec_in_root_missing_root_fails(void **state) {
        ExecResult result = { .exit_code = -1 };
        char *argv[] = { "/bin/sh", "-c", "true", NULL };

        assert_int_equal(exec_in_root("/nonexistent/kiln-test-root", argv, NULL, -EBADF, &result),
                         -ENOENT);
        /* Nothing is written on failure. */
        assert_int_equal(result.exit_code, -1);
        assert_null(result.stderr_head);
}

static void exec_result_done_accepts_null(void **state) {
        ExecResult result = {};

        exec_result_done(NULL);
        exec_result_done(&result);
        assert_null(result.stderr_head);
}

/* A scratch root whose userland is Debian's static busybox, with a marker file that exists only
 * inside it. Skips the test when busybox-static is not installed. */
static TestRoot *busybox_root_new(void) {
        static const char *const applets[] = { "sh", "touch", "echo", "cat", "test", "env" };
        _cleanup_close_ int src = -EBADF, dst = -EBADF, marker = -EBADF;
        char dst_path[PATH_MAX], marker_path[PATH_MAX];
        TestRoot *t;
        char buf[65536];
        ssize_t n;

        src = open(BUSYBOX, O_RDONLY | O_CLOEXEC);
        if (src < 0)
                skip();

        t = test_root_new();
        snprintf(dst_path, sizeof(dst_path), "%s/bin", t->path);
        assert_int_equal(mkdir(dst_path, 0755), 0);
        snprintf(dst_path, sizeof(dst_path), "%s/bin/busybox", t->path);
        dst = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        assert_true(dst >= 0);
        while ((n = read(src, buf, sizeof(buf))) > 0)
                assert_int_equal(write(dst, buf, (size_t) n), n);
        assert_int_equal(n, 0);

        for (size_t i = 0; i < ELEMENTSOF(applets); i++) {
                snprintf(dst_path, sizeof(dst_path), "%s/bin/%s", t->path, applets[i]);
                assert_int_equal(symlink("busybox", dst_path), 0);
        }

        snprintf(marker_path, sizeof(marker_path), "%s/kiln-root-marker", t->path);
        marker = open(marker_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(marker >= 0);
        return t;
}

static void assert_inside_root(const char *root) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "test", "-e", "/kiln-root-marker", NULL };

        /* Stops the test before any write if the command does not see the scratch root. */
        assert_int_equal(exec_in_root(root, argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 0);
}

static void exec_in_root_chroot_writes_inside_root(void **state) {
        TestRoot *t = busybox_root_new();
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "touch", "/x", NULL };
        char path[PATH_MAX];

        assert_inside_root(t->path);
        assert_int_equal(exec_in_root(t->path, argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 0);

        snprintf(path, sizeof(path), "%s/x", t->path);
        assert_int_equal(access(path, F_OK), 0);
        test_root_free(t);
}

static void exec_in_root_chroot_working_directory(void **state) {
        TestRoot *t = busybox_root_new();
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { "sh", "-c", "touch relative-file", NULL };
        char path[PATH_MAX];

        assert_inside_root(t->path);
        assert_int_equal(exec_in_root(t->path, argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 0);

        snprintf(path, sizeof(path), "%s/relative-file", t->path);
        assert_int_equal(access(path, F_OK), 0);
        test_root_free(t);
}

static void exec_in_root_chroot_not_found(void **state) {
        TestRoot *t = busybox_root_new();
        _cleanup_(exec_result_done) ExecResult result = {};
        /* /usr/bin/env exists on the host, but not inside the busybox root. */
        char *argv[] = { "/usr/bin/env", NULL };

        assert_inside_root(t->path);
        assert_int_equal(exec_in_root(t->path, argv, NULL, -EBADF, &result), 0);
        assert_int_equal(result.exit_code, 127);
        assert_string_equal(result.stderr_head, "kiln: /usr/bin/env: not found\n");
        test_root_free(t);
}

static void exec_find_in_root_searches_path(void **state) {
        TestRoot *t = test_root_new();
        _cleanup_free_ char *path = NULL;

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/usr/local/bin/tool", "#!/bin/sh\n", 10, 0755, -1, -1,
                                           WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(exec_find_in_root(t->ctx.root_fd, "tool", &path), 1);
        assert_string_equal(path, "/usr/local/bin/tool");
        test_root_free(t);
}

static void exec_find_in_root_needs_execute_bit(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/usr/sbin/tool", "#!/bin/sh\n", 10, 0644, -1, -1,
                                           WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(exec_find_in_root(t->ctx.root_fd, "tool", NULL), 0);
        test_root_free(t);
}

static void exec_find_in_root_absolute_path(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/opt/x/tool", "#!/bin/sh\n", 10, 0755, -1, -1,
                                           WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(exec_find_in_root(t->ctx.root_fd, "/opt/x/tool", NULL), 1);
        assert_int_equal(exec_find_in_root(t->ctx.root_fd, "tool", NULL), 0);
        test_root_free(t);
}

static void exec_find_in_root_directory_not_found(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(root_mkdir_p(t->ctx.root_fd, "/bin/tool", 0755, -1, -1), 1);
        assert_int_equal(exec_find_in_root(t->ctx.root_fd, "tool", NULL), 0);
        test_root_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(exec_in_root_exit_code_returned),
                cmocka_unit_test(exec_in_root_success_exit_zero),
                cmocka_unit_test(exec_in_root_stdout_to_output),
                cmocka_unit_test(exec_in_root_path_searched),
                cmocka_unit_test(exec_in_root_not_found_exits_127),
                cmocka_unit_test(exec_in_root_missing_path_exits_127),
                cmocka_unit_test(exec_in_root_missing_interpreter_named),
                cmocka_unit_test(exec_in_root_not_executable_exits_126),
                cmocka_unit_test(exec_in_root_stderr_captured),
                cmocka_unit_test(exec_in_root_stderr_head_truncated),
                cmocka_unit_test(exec_in_root_stderr_discarded_without_output),
                cmocka_unit_test(exec_in_root_env_passed),
                cmocka_unit_test(exec_in_root_fixed_env_set),
                cmocka_unit_test(exec_in_root_env_overrides_fixed),
                cmocka_unit_test(exec_in_root_parent_env_not_inherited),
                cmocka_unit_test(exec_in_root_killed_by_signal),
                cmocka_unit_test(exec_in_root_exit_has_no_signal),
                cmocka_unit_test(exec_in_root_stdin_is_dev_null),
                cmocka_unit_test(exec_in_root_with_stdin_reads_input),
                cmocka_unit_test(exec_in_root_other_fds_closed),
                cmocka_unit_test(exec_in_root_background_process_does_not_block),
                cmocka_unit_test(exec_in_root_duration_measured),
                cmocka_unit_test(exec_in_root_missing_root_fails),
                cmocka_unit_test(exec_result_done_accepts_null),
                cmocka_unit_test(exec_in_root_chroot_writes_inside_root),
                cmocka_unit_test(exec_in_root_chroot_working_directory),
                cmocka_unit_test(exec_in_root_chroot_not_found),
                cmocka_unit_test(exec_in_root_limited_times_out),
                cmocka_unit_test(exec_in_root_limited_kills_after_grace),
                cmocka_unit_test(exec_in_root_limited_stops_children),
                cmocka_unit_test(exec_in_root_limited_no_timeout_when_fast),
                cmocka_unit_test(exec_in_root_limited_captures_stdout),
                cmocka_unit_test(exec_in_root_limited_stdout_truncated),
                cmocka_unit_test(exec_in_root_limited_overflow_kills),
                cmocka_unit_test(exec_in_root_limited_group_killed_on_exit),
                cmocka_unit_test(exec_result_format_termination_exit),
                cmocka_unit_test(exec_result_format_termination_signal),
                cmocka_unit_test(exec_find_in_root_searches_path),
                cmocka_unit_test(exec_find_in_root_needs_execute_bit),
                cmocka_unit_test(exec_find_in_root_absolute_path),
                cmocka_unit_test(exec_find_in_root_directory_not_found),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
