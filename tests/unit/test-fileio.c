/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/fileio.c: lookups stay inside the root, writes are atomic and exact. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "test-helpers.h"

#define WRITERS 8
#define WRITES_PER_WRITER 50

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static int root_fd_of(void **state) {
        return ((TestRoot *) *state)->ctx.root_fd;
}

static const char *root_path_of(void **state) {
        return ((TestRoot *) *state)->path;
}

/* The host path of a file below the scratch root. */
static void host_path(void **state, const char *relative, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s", root_path_of(state), relative);

        assert_true(n > 0 && (size_t) n < size);
}

/* Create a file below the scratch root with the host's path functions (test setup only). */
static void host_write(void **state, const char *relative, const char *content) {
        char path[PATH_MAX];
        FILE *f;

        host_path(state, relative, path, sizeof(path));
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void host_mkdir(void **state, const char *relative, mode_t mode) {
        char path[PATH_MAX];

        host_path(state, relative, path, sizeof(path));
        assert_int_equal(mkdir(path, mode), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static void host_symlink(void **state, const char *target, const char *relative) {
        char path[PATH_MAX];

        host_path(state, relative, path, sizeof(path));
        assert_int_equal(symlink(target, path), 0);
}

static void host_stat(void **state, const char *relative, struct stat *st) {
        char path[PATH_MAX];

        host_path(state, relative, path, sizeof(path));
        assert_int_equal(lstat(path, st), 0);
}

static bool host_exists(void **state, const char *relative) {
        char path[PATH_MAX];
        struct stat st;

        host_path(state, relative, path, sizeof(path));
        return lstat(path, &st) == 0;
}

/* Number of entries in a directory below the root whose name starts with ".#". */
static unsigned count_temp_files(void **state, const char *relative) {
        char path[PATH_MAX];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        host_path(state, relative, path, sizeof(path));
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strneq(de->d_name, ".#", 2))
                        n++;
        (void) closedir(d);
        return n;
}

static void assert_content(void **state, const char *path, const void *expected, size_t expected_size) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(root_fd_of(state), path, 1024 * 1024, &data, &size), 0);
        assert_int_equal(size, expected_size);
        assert_memory_equal(data, expected, expected_size);
}

static void root_open_absolute_and_relative_same(void **state) {
        _cleanup_close_ int a = -EBADF, b = -EBADF;
        struct stat sa, sb;

        host_write(state, "f", "x");
        a = root_open(root_fd_of(state), "/f", O_RDONLY, 0);
        b = root_open(root_fd_of(state), "f", O_RDONLY, 0);
        assert_true(a >= 0);
        assert_true(b >= 0);
        assert_int_equal(fstat(a, &sa), 0);
        assert_int_equal(fstat(b, &sb), 0);
        assert_int_equal(sa.st_ino, sb.st_ino);
}

static void root_open_absolute_symlink_stays_inside(void **state) {
        host_mkdir(state, "etc", 0755);
        host_write(state, "etc/passwd", "inside\n");
        host_symlink(state, "/etc/passwd", "link");

        assert_content(state, "/link", "inside\n", 7);
}

static void root_open_dotdot_stays_inside(void **state) {
        host_mkdir(state, "etc", 0755);
        host_write(state, "etc/passwd", "inside\n");
        host_mkdir(state, "a", 0755);
        host_symlink(state, "../../../../../etc/passwd", "a/up");

        assert_content(state, "../../../etc/passwd", "inside\n", 7);
        assert_content(state, "/a/up", "inside\n", 7);
}

static void root_open_missing_enoent(void **state) {
        assert_int_equal(root_open(root_fd_of(state), "/nope", O_RDONLY, 0), -ENOENT);
}

static void root_open_empty_path_enoent(void **state) {
        assert_int_equal(root_open(root_fd_of(state), "", O_RDONLY, 0), -ENOENT);
}

/* Create ROOT/tmp/NAME for the host directory /tmp/NAME, so a symlink to it resolves inside. */
static void host_mirror_dir(void **state, const char *outside) {
        char path[PATH_MAX];

        if (!host_exists(state, "tmp"))
                host_mkdir(state, "tmp", 0755);
        snprintf(path, sizeof(path), "%s", outside + 1);
        host_mkdir(state, path, 0755);
}

static void write_file_atomic_symlinked_dir_stays_inside(void **state) {
        char outside[] = "/tmp/kiln-unit-outside-XXXXXX";
        char path[PATH_MAX];
        struct stat st;

        assert_non_null(mkdtemp(outside));
        host_mirror_dir(state, outside);
        host_symlink(state, outside, "out");

        assert_int_equal(write_file_atomic(root_fd_of(state), "/out/f", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, 0), 0);

        snprintf(path, sizeof(path), "%s/f", outside);
        assert_int_equal(stat(path, &st), -1);
        snprintf(path, sizeof(path), "%s/f", outside + 1);
        assert_true(host_exists(state, path));
        assert_int_equal(rmdir(outside), 0);
}

static void write_file_atomic_dangling_dir_symlink_fails(void **state) {
        char outside[] = "/tmp/kiln-unit-outside-XXXXXX";
        char path[PATH_MAX];
        struct stat st;

        assert_non_null(mkdtemp(outside));
        host_symlink(state, outside, "out");

        assert_true(write_file_atomic(root_fd_of(state), "/out/f", "x", 1, 0644, (uid_t) -1,
                                      (gid_t) -1, WRITE_MKDIR_PARENTS) < 0);

        snprintf(path, sizeof(path), "%s/f", outside);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(rmdir(outside), 0);
}

static void write_file_atomic_symlink_target_stays_inside(void **state) {
        char outside[] = "/tmp/kiln-unit-outside-XXXXXX";
        char host_file[PATH_MAX];
        struct stat st;

        assert_non_null(mkdtemp(outside));
        snprintf(host_file, sizeof(host_file), "%s/victim", outside);
        host_symlink(state, host_file, "victim");

        assert_int_equal(write_file_atomic(root_fd_of(state), "victim", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND), 0);

        assert_int_equal(stat(host_file, &st), -1);
        assert_content(state, "victim", "x", 1);
        assert_int_equal(rmdir(outside), 0);
}

static void write_file_atomic_mode_0600_exact(void **state) {
        mode_t old_umask = umask(0);
        struct stat st;

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 0600, (uid_t) -1,
                                           (gid_t) -1, WRITE_SYNC), 0);
        (void) umask(old_umask);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void write_file_atomic_umask_never_lowers(void **state) {
        mode_t old_umask = umask(0777);
        struct stat st;

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_SYNC), 0);
        (void) umask(old_umask);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void write_file_atomic_mode_4755_exact(void **state) {
        struct stat st;

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 04755, 0, 0, WRITE_SYNC), 0);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 04755);
}

static void write_file_atomic_setid_kept_after_chown(void **state) {
        struct stat st;

        if (geteuid() != 0)
                skip();

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 06755, 1000, 1000,
                                           WRITE_SYNC), 0);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 06755);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1000);
}

static void write_file_atomic_short_content_exact(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "f", "no newline at end", 17, 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_SYNC), 0);

        assert_content(state, "f", "no newline at end", 17);
}

static void write_file_atomic_empty_content(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "f", NULL, 0, 0644, (uid_t) -1,
                                           (gid_t) -1, 0), 0);

        assert_content(state, "f", "", 0);
}

static void write_file_atomic_binary_with_nul(void **state) {
        static const char data[] = { 'a', '\0', 'b', '\xff' };

        assert_int_equal(write_file_atomic(root_fd_of(state), "f", data, sizeof(data), 0644,
                                           (uid_t) -1, (gid_t) -1, 0), 0);

        assert_content(state, "f", data, sizeof(data));
}

static void write_file_atomic_truncates_longer_file(void **state) {
        host_write(state, "f", "OLD-CONTENT-THAT-IS-LONG\n");

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "new\n", 4, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_SYNC), 0);

        assert_content(state, "/f", "new\n", 4);
}

static void write_file_atomic_append_adds_to_end(void **state) {
        host_write(state, "f", "old\n");

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "added\n", 6, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND | WRITE_SYNC), 0);

        assert_content(state, "/f", "old\nadded\n", 10);
}

/* Without O_NONBLOCK, opening the FIFO to copy its content would wait for a writer forever. */
static void write_file_atomic_append_to_fifo_fails(void **state) {
        char path[PATH_MAX];

        host_path(state, "fifo", path, sizeof(path));
        assert_int_equal(mkfifo(path, 0600), 0);

        assert_int_equal(write_file_atomic(root_fd_of(state), "/fifo", "added\n", 6, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND), -EBADFD);
}

static void write_file_atomic_append_missing_creates(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "added\n", 6, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND), 0);

        assert_content(state, "/f", "added\n", 6);
}

static void write_file_atomic_append_keeps_mode_and_owner(void **state) {
        char path[PATH_MAX];
        struct stat st;

        if (geteuid() != 0)
                skip();

        host_write(state, "f", "old\n");
        snprintf(path, sizeof(path), "%s/f", root_path_of(state));
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(chown(path, 1000, 1001), 0);

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, (mode_t) -1, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND), 0);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1001);
}

static void write_file_atomic_append_applies_given_mode(void **state) {
        struct stat st;

        host_write(state, "f", "old\n");

        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 0600, (uid_t) -1,
                                           (gid_t) -1, WRITE_APPEND), 0);

        host_stat(state, "f", &st);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void write_file_atomic_missing_parent_enoent(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "/a/b/f", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, 0), -ENOENT);
}

static void write_file_atomic_creates_parents(void **state) {
        struct stat st;

        assert_int_equal(write_file_atomic(root_fd_of(state), "/a/b/f", "x", 1, 0600, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);

        host_stat(state, "a/b", &st);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_content(state, "/a/b/f", "x", 1);
}

static void write_file_atomic_parents_get_owner(void **state) {
        struct stat st;

        if (geteuid() != 0)
                skip();

        assert_int_equal(write_file_atomic(root_fd_of(state), "/a/b/f", "x", 1, 0600, 1000, 1000,
                                           WRITE_MKDIR_PARENTS), 0);

        host_stat(state, "a", &st);
        assert_int_equal(st.st_uid, 1000);
        host_stat(state, "a/b", &st);
        assert_int_equal(st.st_gid, 1000);
}

static void write_file_atomic_directory_target_eisdir(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "/a/", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, 0), -EISDIR);
}

static void write_file_atomic_no_temp_left_on_failure(void **state) {
        host_mkdir(state, "d", 0755);
        host_mkdir(state, "d/target", 0755);

        assert_true(write_file_atomic(root_fd_of(state), "/d/target", "x", 1, 0644, (uid_t) -1,
                                      (gid_t) -1, 0) < 0);

        assert_int_equal(count_temp_files(state, "d"), 0);
}

static void write_file_atomic_no_temp_left_on_success(void **state) {
        host_mkdir(state, "d", 0755);

        assert_int_equal(write_file_atomic(root_fd_of(state), "/d/f", "x", 1, 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_SYNC), 0);

        assert_int_equal(count_temp_files(state, "d"), 0);
}

static void write_file_atomic_invalid_mode_einval(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "x", 1, 010644, (uid_t) -1,
                                           (gid_t) -1, 0), -EINVAL);
}

/* Concurrent writers of one path never see EEXIST and the result is always one whole version. */
static void write_file_atomic_concurrent_writers(void **state) {
        pid_t pids[WRITERS];
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        for (unsigned i = 0; i < WRITERS; i++) {
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        char content[64];
                        int n = snprintf(content, sizeof(content), "writer %u\n", i);

                        for (unsigned j = 0; j < WRITES_PER_WRITER; j++)
                                if (write_file_atomic(root_fd_of(state), "/f", content, (size_t) n,
                                                      0644, (uid_t) -1, (gid_t) -1, 0) < 0)
                                        _exit(1);
                        _exit(0);
                }
        }

        for (unsigned i = 0; i < WRITERS; i++) {
                int status = 0;

                assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }

        assert_int_equal(read_file_at(root_fd_of(state), "/f", 1024, &data, &size), 0);
        assert_int_equal(size, 9);
        assert_true(strneq(data, "writer ", 7));
        assert_int_equal(count_temp_files(state, "."), 0);
}

static void read_file_at_size_cap_efbig(void **state) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        host_write(state, "f", "12345");

        assert_int_equal(read_file_at(root_fd_of(state), "/f", 4, &data, &size), -EFBIG);
}

static void read_file_at_exactly_cap_ok(void **state) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        host_write(state, "f", "12345");

        assert_int_equal(read_file_at(root_fd_of(state), "/f", 5, &data, &size), 0);
        assert_int_equal(size, 5);
        assert_string_equal(data, "12345");
}

static void read_file_at_large_file_grows(void **state) {
        _cleanup_free_ char *big = malloc(100000), *data = NULL;
        size_t size = 0;

        assert_non_null(big);
        memset(big, 'a', 100000);
        assert_int_equal(write_file_atomic(root_fd_of(state), "/big", big, 100000, 0644, (uid_t) -1,
                                           (gid_t) -1, 0), 0);

        assert_int_equal(read_file_at(root_fd_of(state), "/big", 100000, &data, &size), 0);
        assert_int_equal(size, 100000);
        assert_int_equal(data[size], '\0');
}

static void read_file_at_proc_style_file_efbig(void **state) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int host_fd = -EBADF;
        size_t size = 0;

        /* Files in /proc report size 0, so only the read loop enforces the cap. Reading the host's
         * /proc changes nothing. */
        host_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(host_fd >= 0);
        assert_int_equal(read_file_at(host_fd, "/proc/self/status", 4, &data, &size), -EFBIG);
}

static void read_file_at_fifo_rejected(void **state) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        char path[PATH_MAX];

        /* A FIFO planted in the root would block a read forever. */
        snprintf(path, sizeof(path), "%s/fifo", root_path_of(state));
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(read_file_at(root_fd_of(state), "/fifo", 4, &data, &size), -EBADFD);
}

static void read_file_at_missing_enoent(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(read_file_at(root_fd_of(state), "/nope", 10, &data, NULL), -ENOENT);
}

static void read_file_at_directory_eisdir(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(read_file_at(root_fd_of(state), "/", 10, &data, NULL), -EISDIR);
}

static void root_mkdir_p_creates_then_reports_nothing(void **state) {
        assert_int_equal(root_mkdir_p(root_fd_of(state), "/a/b/c", 0750, (uid_t) -1, (gid_t) -1), 1);
        assert_int_equal(root_mkdir_p(root_fd_of(state), "/a/b/c", 0750, (uid_t) -1, (gid_t) -1), 0);
}

static void root_mkdir_p_exact_mode(void **state) {
        mode_t old_umask = umask(0077);
        struct stat st;

        assert_int_equal(root_mkdir_p(root_fd_of(state), "a/b", 0755, (uid_t) -1, (gid_t) -1), 1);
        (void) umask(old_umask);

        host_stat(state, "a/b", &st);
        assert_int_equal(st.st_mode & 07777, 0755);
}

static void root_mkdir_p_existing_untouched(void **state) {
        struct stat st;

        host_mkdir(state, "home", 0700);

        assert_int_equal(root_mkdir_p(root_fd_of(state), "/home/u/.config", 0755, (uid_t) -1,
                                      (gid_t) -1), 1);

        host_stat(state, "home", &st);
        assert_int_equal(st.st_mode & 07777, 0700);
}

static void root_mkdir_p_owner_on_new_only(void **state) {
        struct stat st;

        if (geteuid() != 0)
                skip();

        host_mkdir(state, "home", 0755);

        assert_int_equal(root_mkdir_p(root_fd_of(state), "/home/u", 0755, 1000, 1000), 1);

        host_stat(state, "home", &st);
        assert_int_equal(st.st_uid, 0);
        host_stat(state, "home/u", &st);
        assert_int_equal(st.st_uid, 1000);
}

static void root_mkdir_p_symlink_stays_inside(void **state) {
        char outside[] = "/tmp/kiln-unit-outside-XXXXXX";
        char path[PATH_MAX];
        struct stat st;

        assert_non_null(mkdtemp(outside));
        host_mirror_dir(state, outside);
        host_symlink(state, outside, "out");

        assert_int_equal(root_mkdir_p(root_fd_of(state), "/out/sub", 0755, (uid_t) -1, (gid_t) -1), 1);

        snprintf(path, sizeof(path), "%s/sub", outside);
        assert_int_equal(stat(path, &st), -1);
        snprintf(path, sizeof(path), "%s/sub", outside + 1);
        assert_true(host_exists(state, path));
        assert_int_equal(rmdir(outside), 0);
}

static void root_mkdir_p_file_in_the_way_enotdir(void **state) {
        host_write(state, "f", "x");

        assert_int_equal(root_mkdir_p(root_fd_of(state), "/f/sub", 0755, (uid_t) -1, (gid_t) -1),
                         -ENOTDIR);
}

static void root_exists_reports_presence(void **state) {
        host_write(state, "f", "x");

        assert_int_equal(root_exists(root_fd_of(state), "/f"), 1);
        assert_int_equal(root_exists(root_fd_of(state), "/g"), 0);
}

static void root_unlink_removes_and_ignores_missing(void **state) {
        host_write(state, "f", "x");

        assert_int_equal(root_unlink(root_fd_of(state), "/f"), 0);
        assert_false(host_exists(state, "f"));
        assert_int_equal(root_unlink(root_fd_of(state), "/f"), 0);
        assert_int_equal(root_unlink(root_fd_of(state), "/no/such/dir/f"), 0);
}

static void root_unlink_symlink_removes_link_only(void **state) {
        host_mkdir(state, "etc", 0755);
        host_write(state, "etc/passwd", "inside\n");
        host_symlink(state, "/etc/passwd", "link");

        assert_int_equal(root_unlink(root_fd_of(state), "/link"), 0);

        assert_false(host_exists(state, "link"));
        assert_true(host_exists(state, "etc/passwd"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TP(f) cmocka_unit_test_setup_teardown(f, setup_pending, teardown_pending)

static void write_file_if_changed_writes_new(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(write_file_if_changed(root_fd_of(state), "a", "x\n", 2, 0600, 0), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 64, &data, NULL), 0);
        assert_string_equal(data, "x\n");
}

static void write_file_if_changed_same_content_zero(void **state) {
        struct stat st;

        host_write(state, "a", "x\n");
        assert_int_equal(write_file_if_changed(root_fd_of(state), "a", "x\n", 2, 0600, 0), 0);
        host_stat(state, "a", &st);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void write_file_if_changed_longer_file_replaced(void **state) {
        _cleanup_free_ char *data = NULL;

        host_write(state, "a", "x\nmore\n");
        assert_int_equal(write_file_if_changed(root_fd_of(state), "a", "x\n", 2, (mode_t) -1, 0), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 64, &data, NULL), 0);
        assert_string_equal(data, "x\n");
}

static int edit_upper_first(char *line, FILE *out, void *userdata) {
        unsigned *calls = userdata;

        (*calls)++;
        if (!line)
                return 0;
        if (line[0] >= 'a' && line[0] <= 'z')
                line[0] = (char) (line[0] - 'a' + 'A');
        fprintf(out, "%s\n", line);
        return 0;
}

static int edit_append_end(char *line, FILE *out, void *userdata) {
        fprintf(out, "%s\n", line ?: "end");
        return 0;
}

static int edit_fail(char *line, FILE *out, void *userdata) {
        return -EBADMSG;
}

static void root_file_edit_lines_edits_each_line(void **state) {
        _cleanup_free_ char *data = NULL;
        unsigned calls = 0;

        host_write(state, "a", "one\n\ntwo");
        assert_int_equal(root_file_edit_lines(root_fd_of(state), "a", 64, (mode_t) -1, 0, edit_upper_first,
                                              &calls), 1);
        assert_int_equal(calls, 4);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 64, &data, NULL), 0);
        assert_string_equal(data, "One\n\nTwo\n");
}

static void root_file_edit_lines_unchanged_zero(void **state) {
        unsigned calls = 0;

        host_write(state, "a", "One\nTwo\n");
        assert_int_equal(root_file_edit_lines(root_fd_of(state), "a", 64, (mode_t) -1, 0, edit_upper_first,
                                              &calls), 0);
}

static void root_file_edit_lines_missing_creates(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(root_file_edit_lines(root_fd_of(state), "d/a", 64, (mode_t) -1, WRITE_MKDIR_PARENTS,
                                              edit_append_end, NULL), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "d/a", 64, &data, NULL), 0);
        assert_string_equal(data, "end\n");
}

static void root_file_edit_lines_missing_empty_not_created(void **state) {
        unsigned calls = 0;

        assert_int_equal(root_file_edit_lines(root_fd_of(state), "a", 64, (mode_t) -1, 0, edit_upper_first,
                                              &calls), 0);
        assert_int_equal(root_exists(root_fd_of(state), "a"), 0);
}

static void root_file_edit_lines_error_stops(void **state) {
        _cleanup_free_ char *data = NULL;

        host_write(state, "a", "one\n");
        assert_int_equal(root_file_edit_lines(root_fd_of(state), "a", 64, (mode_t) -1, 0, edit_fail, NULL),
                         -EBADMSG);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 64, &data, NULL), 0);
        assert_string_equal(data, "one\n");
}

static void root_file_edit_lines_too_large_efbig(void **state) {
        unsigned calls = 0;

        host_write(state, "a", "0123456789\n");
        assert_int_equal(root_file_edit_lines(root_fd_of(state), "a", 4, (mode_t) -1, 0, edit_upper_first,
                                              &calls), -EFBIG);
}

static void env_file_set_replaces_first_drops_later(void **state) {
        _cleanup_free_ char *data = NULL;

        host_write(state, "a", "# c\n  export LANG=\"C\"\nLC_ALL=C\nLANG=x\n");
        assert_int_equal(env_file_set(root_fd_of(state), "a", 256, "LANG", "en_US.UTF-8", (mode_t) -1, 0), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 256, &data, NULL), 0);
        assert_string_equal(data, "# c\nLANG=en_US.UTF-8\nLC_ALL=C\n");
}

static void env_file_set_appends_missing_key(void **state) {
        _cleanup_free_ char *data = NULL;

        host_write(state, "a", "LANGUAGE=en\n");
        assert_int_equal(env_file_set(root_fd_of(state), "a", 256, "LANG", "C", (mode_t) -1, 0), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "a", 256, &data, NULL), 0);
        assert_string_equal(data, "LANGUAGE=en\nLANG=C\n");
}

static void env_file_set_same_value_zero(void **state) {
        host_write(state, "a", "ZONE=UTC\n");
        assert_int_equal(env_file_set(root_fd_of(state), "a", 256, "ZONE", "UTC", (mode_t) -1, 0), 0);
}

static void env_file_set_missing_file_created(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(env_file_set(root_fd_of(state), "etc/default/locale", 256, "LANG", "C", (mode_t) -1,
                                      WRITE_MKDIR_PARENTS), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "etc/default/locale", 256, &data, NULL), 0);
        assert_string_equal(data, "LANG=C\n");
}

/* The set of directories that wait for fileio_flush() belongs to the process, so the tests that use
 * it start and end with an empty set. */
static int setup_pending(void **state) {
        (void) fileio_flush(NULL);
        return setup(state);
}

static int teardown_pending(void **state) {
        (void) fileio_flush(NULL);
        return teardown(state);
}

/* Record the directory at relative (created when missing) for fileio_flush(). */
static void defer_directory(void **state, const char *relative) {
        _cleanup_close_ int fd = -EBADF;

        if (!host_exists(state, relative))
                host_mkdir(state, relative, 0755);
        fd = root_open(root_fd_of(state), relative, O_RDONLY | O_DIRECTORY, 0);
        assert_true(fd >= 0);
        assert_int_equal(fileio_defer_sync(fd, relative), 0);
}

static void fileio_defer_sync_same_directory_once(void **state) {
        defer_directory(state, "d");
        host_symlink(state, "d", "link");
        defer_directory(state, "link");
        defer_directory(state, "d");

        assert_int_equal(fileio_pending_directories(), 1);
}

static void fileio_defer_sync_distinct_directories_each(void **state) {
        defer_directory(state, "a");
        defer_directory(state, "b");

        assert_int_equal(fileio_pending_directories(), 2);
}

/* With a soft limit of 64 open files, the set keeps at most 64 / FILEIO_PENDING_NOFILE_SHARE
 * directories, and the one after those starts a new set. */
static void fileio_defer_sync_capacity_follows_nofile_limit(void **state) {
        const unsigned capacity = 64U / FILEIO_PENDING_NOFILE_SHARE;
        struct rlimit saved, low;
        char name[32];

        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = (struct rlimit) { .rlim_cur = 64, .rlim_max = saved.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

        for (unsigned i = 0; i <= capacity; i++) {
                (void) snprintf(name, sizeof(name), "d%u", i);
                defer_directory(state, name);
        }
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

        assert_int_equal(fileio_pending_directories(), 1);
}

static void fileio_defer_sync_full_set_flushed_first(void **state) {
        char name[32];

        for (unsigned i = 0; i < FILEIO_PENDING_DIRECTORIES_MAX; i++) {
                (void) snprintf(name, sizeof(name), "d%u", i);
                defer_directory(state, name);
        }
        assert_int_equal(fileio_pending_directories(), FILEIO_PENDING_DIRECTORIES_MAX);

        defer_directory(state, "one-more");
        assert_int_equal(fileio_pending_directories(), 1);
}

static void fileio_flush_empties_set(void **state) {
        _cleanup_free_ char *path = NULL;

        defer_directory(state, "a");
        defer_directory(state, "b");

        assert_int_equal(fileio_flush(&path), 0);
        assert_null(path);
        assert_int_equal(fileio_pending_directories(), 0);
}

static void fileio_flush_failure_names_directory(void **state) {
        _cleanup_free_ char *path = NULL;

        defer_directory(state, "a");
        test_defer_unsyncable("/not-a-directory");
        defer_directory(state, "b");

        assert_int_equal(fileio_flush(&path), -EINVAL);
        assert_string_equal(path, "/not-a-directory");
        assert_int_equal(fileio_pending_directories(), 0);
}

static void fileio_flush_failure_reported_once(void **state) {
        _cleanup_free_ char *first = NULL, *second = NULL;

        test_defer_unsyncable("/not-a-directory");

        assert_int_equal(fileio_flush(&first), -EINVAL);
        assert_int_equal(fileio_flush(&second), 0);
        assert_null(second);
}

/* The failure of the flush that recording into a full set started waits for the next fileio_flush(). */
static void fileio_flush_reports_failure_of_full_set(void **state) {
        _cleanup_free_ char *path = NULL;
        char name[32];

        test_defer_unsyncable("/not-a-directory");
        for (unsigned i = 1; i <= FILEIO_PENDING_DIRECTORIES_MAX; i++) {
                (void) snprintf(name, sizeof(name), "d%u", i);
                defer_directory(state, name);
        }
        assert_int_equal(fileio_pending_directories(), 1);

        assert_int_equal(fileio_flush(&path), -EINVAL);
        assert_string_equal(path, "/not-a-directory");
}

static void write_file_atomic_sync_deferred_records_directory(void **state) {
        _cleanup_free_ char *data = NULL;

        assert_int_equal(write_file_atomic(root_fd_of(state), "/d/f", "f\n", 2, 0644, (uid_t) -1, (gid_t) -1,
                                           WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED), 0);
        assert_int_equal(write_file_atomic(root_fd_of(state), "/d/g", "g\n", 2, 0644, (uid_t) -1, (gid_t) -1,
                                           WRITE_SYNC_DEFERRED), 0);

        assert_int_equal(fileio_pending_directories(), 1);
        assert_int_equal(read_file_at(root_fd_of(state), "/d/g", 64, &data, NULL), 0);
        assert_string_equal(data, "g\n");
}

static void write_file_atomic_sync_leaves_nothing_pending(void **state) {
        assert_int_equal(write_file_atomic(root_fd_of(state), "/f", "f\n", 2, 0644, (uid_t) -1, (gid_t) -1,
                                           WRITE_SYNC), 0);

        assert_int_equal(fileio_pending_directories(), 0);
}

static void staged_file_done_removes_uncommitted(void **state) {
        StagedFile f = STAGED_FILE_INIT;

        host_mkdir(state, "d", 0755);
        assert_int_equal(staged_file_create(root_fd_of(state), "/d/f", "x", 1, 0600, (uid_t) -1, (gid_t) -1, 0,
                                            &f), 0);
        assert_int_equal(count_temp_files(state, "d"), 1);

        staged_file_done(&f);

        assert_int_equal(count_temp_files(state, "d"), 0);
        assert_false(host_exists(state, "d/f"));
}

static void staged_files_sync_then_commit_in_order(void **state) {
        StagedFile files[3] = { STAGED_FILE_INIT, STAGED_FILE_INIT, STAGED_FILE_INIT };
        static const char *const contents[3] = { "first\n", "second\n", "other\n" };
        static const char *const paths[3] = { "/d/f", "/d/f", "/e/g" };
        _cleanup_free_ char *f = NULL, *g = NULL;
        int errors[3];

        for (size_t i = 0; i < 3; i++)
                assert_int_equal(staged_file_create(root_fd_of(state), paths[i], contents[i], strlen(contents[i]),
                                                    0640, (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS,
                                                    &files[i]), 0);
        assert_false(host_exists(state, "d/f"));

        staged_files_sync(files, 3, errors);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(errors[i], 0);
                assert_true(files[i].durable);
        }
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(staged_file_commit(&files[i], WRITE_SYNC_DEFERRED), 0);
                staged_file_done(&files[i]);
        }

        assert_int_equal(read_file_at(root_fd_of(state), "/d/f", 64, &f, NULL), 0);
        assert_string_equal(f, "second\n");
        assert_int_equal(read_file_at(root_fd_of(state), "/e/g", 64, &g, NULL), 0);
        assert_string_equal(g, "other\n");
        assert_int_equal(fileio_pending_directories(), 2);
        assert_int_equal(count_temp_files(state, "d"), 0);
}

/* A file staged without a sync flag has no descriptor left to fsync, so a commit with a sync flag
 * must not rename it before staged_files_sync() made it durable. */
static void staged_file_commit_unsynced_ebadf(void **state) {
        StagedFile f = STAGED_FILE_INIT;

        assert_int_equal(staged_file_create(root_fd_of(state), "/f", "x", 1, 0644, (uid_t) -1, (gid_t) -1, 0,
                                            &f), 0);

        assert_int_equal(staged_file_commit(&f, WRITE_SYNC_DEFERRED), -EBADF);
        assert_false(host_exists(state, "f"));
        staged_file_done(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                T(root_open_absolute_and_relative_same),
                T(root_open_absolute_symlink_stays_inside),
                T(root_open_dotdot_stays_inside),
                T(root_open_missing_enoent),
                T(root_open_empty_path_enoent),
                T(write_file_atomic_symlinked_dir_stays_inside),
                T(write_file_atomic_dangling_dir_symlink_fails),
                T(write_file_atomic_symlink_target_stays_inside),
                T(write_file_atomic_mode_0600_exact),
                T(write_file_atomic_umask_never_lowers),
                T(write_file_atomic_mode_4755_exact),
                T(write_file_atomic_setid_kept_after_chown),
                T(write_file_atomic_short_content_exact),
                T(write_file_atomic_empty_content),
                T(write_file_atomic_binary_with_nul),
                T(write_file_atomic_truncates_longer_file),
                T(write_file_atomic_append_adds_to_end),
                T(write_file_atomic_append_to_fifo_fails),
                T(write_file_atomic_append_missing_creates),
                T(write_file_atomic_append_keeps_mode_and_owner),
                T(write_file_atomic_append_applies_given_mode),
                T(write_file_atomic_missing_parent_enoent),
                T(write_file_atomic_creates_parents),
                T(write_file_atomic_parents_get_owner),
                T(write_file_atomic_directory_target_eisdir),
                T(write_file_atomic_no_temp_left_on_failure),
                T(write_file_atomic_no_temp_left_on_success),
                T(write_file_atomic_invalid_mode_einval),
                T(write_file_atomic_concurrent_writers),
                T(read_file_at_size_cap_efbig),
                T(read_file_at_exactly_cap_ok),
                T(read_file_at_large_file_grows),
                T(read_file_at_proc_style_file_efbig),
                T(read_file_at_fifo_rejected),
                T(read_file_at_missing_enoent),
                T(read_file_at_directory_eisdir),
                T(root_mkdir_p_creates_then_reports_nothing),
                T(root_mkdir_p_exact_mode),
                T(root_mkdir_p_existing_untouched),
                T(root_mkdir_p_owner_on_new_only),
                T(root_mkdir_p_symlink_stays_inside),
                T(root_mkdir_p_file_in_the_way_enotdir),
                T(root_exists_reports_presence),
                T(root_unlink_removes_and_ignores_missing),
                T(root_unlink_symlink_removes_link_only),
                TP(fileio_defer_sync_same_directory_once),
                TP(fileio_defer_sync_distinct_directories_each),
                TP(fileio_defer_sync_full_set_flushed_first),
                TP(fileio_defer_sync_capacity_follows_nofile_limit),
                TP(fileio_flush_empties_set),
                TP(fileio_flush_failure_names_directory),
                TP(fileio_flush_failure_reported_once),
                TP(fileio_flush_reports_failure_of_full_set),
                TP(write_file_atomic_sync_deferred_records_directory),
                TP(write_file_atomic_sync_leaves_nothing_pending),
                TP(staged_file_done_removes_uncommitted),
                TP(staged_files_sync_then_commit_in_order),
                TP(staged_file_commit_unsynced_ebadf),
                T(write_file_if_changed_writes_new),
                T(write_file_if_changed_same_content_zero),
                T(write_file_if_changed_longer_file_replaced),
                T(root_file_edit_lines_edits_each_line),
                T(root_file_edit_lines_unchanged_zero),
                T(root_file_edit_lines_missing_creates),
                T(root_file_edit_lines_missing_empty_not_created),
                T(root_file_edit_lines_error_stops),
                T(root_file_edit_lines_too_large_efbig),
                T(env_file_set_replaces_first_drops_later),
                T(env_file_set_appends_missing_key),
                T(env_file_set_same_value_zero),
                T(env_file_set_missing_file_created),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
