/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/write-files-apply.c: entries written in batches get the results that
 * writing them one at a time gives, in entry order, and one failing entry stops no other. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"
#include "write-files-internal.h"

#define PASSWD "root:x:0:0:root:/root:/bin/sh\nappuser:x:1001:1002::/home/appuser:/bin/sh\n"
#define GROUP "root:x:0:\nappgroup:x:1002:\n"
/* PASSWD with one more user, as an entry of write_files may write it. */
#define PASSWD_NEWUSER PASSWD "newuser:x:1234:1002::/home/newuser:/bin/sh\n"

/* Entries in the test that overflows a batch. */
#define MANY_ENTRIES (WRITE_FILES_BATCH_MAX + 10U)

static int setup(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/passwd", PASSWD, strlen(PASSWD), 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/group", GROUP, strlen(GROUP), 0644,
                                           (uid_t) -1, (gid_t) -1, 0), 0);
        /* The directories that the module leaves for fileio_flush() are counted from zero. */
        (void) fileio_flush(NULL);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        (void) fileio_flush(NULL);
        test_root_free(*state);
        return 0;
}

static Context *ctx_of(void **state) {
        return test_root_context(state);
}

/* Run the write_files module on the config (taken). */
static int run_config(void **state, json_t *config) {
        return module_write_files.run(ctx_of(state), test_root_set_config(state, config));
}

static int run(void **state, const char *json) {
        return module_write_files.run(ctx_of(state), test_root_load_config(state, json));
}

static void stat_in_root(void **state, const char *path, struct stat *st) {
        _cleanup_close_ int fd = root_open(ctx_of(state)->root_fd, path, O_PATH | O_NOFOLLOW, 0);

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, st), 0);
}

/* The item of the error whose message contains needle, or -1 when no error does. */
static json_int_t error_item(void **state, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(ctx_of(state)->errors, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return json_integer_value(json_object_get(entry, "item"));
        return -1;
}

/* The second entry finds the file as it already is on disk, but the first changes it before, so
 * the second is written too and has the last word. */
static void write_batch_duplicate_path_last_wins(void **state) {
        test_root_write(state, "/f", "0\n");

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": \"1\\n\"}, "
                                    "{\"path\": \"/f\", \"content\": \"0\\n\"}]}"), 1);

        test_root_assert_file(state, "/f", "0\n");
}

static void write_batch_duplicate_path_through_symlinked_directory(void **state) {
        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/real", 0755, 0, 0), 1);
        assert_int_equal(symlinkat("real", ctx_of(state)->root_fd, "link"), 0);
        test_root_write(state, "/real/f", "0\n");

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/real/f\", \"content\": \"1\\n\"}, "
                                    "{\"path\": \"/link/f\", \"content\": \"0\\n\"}]}"), 1);

        test_root_assert_file(state, "/real/f", "0\n");
}

static void write_batch_append_after_write_in_same_document(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/log\", \"content\": \"first\\n\"}, "
                                    "{\"path\": \"/other\", \"content\": \"x\"}, "
                                    "{\"path\": \"/log\", \"content\": \"second\\n\", \"append\": true}, "
                                    "{\"path\": \"/log\", \"content\": \"third\\n\", \"append\": true}]}"), 1);

        test_root_assert_file(state, "/log", "first\nsecond\nthird\n");
        test_root_assert_file(state, "/other", "x");
}

static void write_batch_failing_entry_among_good_ones(void **state) {
        assert_true(run(state, "{\"write_files\": ["
                               "{\"path\": \"/d/a\", \"content\": \"a\\n\"}, "
                               "{\"path\": \"/d/b\", \"content\": \"b\\n\", \"owner\": \"nosuchuser\"}, "
                               "{\"path\": \"/d/c\", \"content\": \"c\\n\"}, "
                               "{\"path\": \"/d/a/x\", \"content\": \"x\\n\"}, "
                               "{\"path\": \"/d/e\", \"content\": \"e\\n\"}]}") < 0);

        test_root_assert_file(state, "/d/a", "a\n");
        test_root_assert_absent(state, "/d/b");
        test_root_assert_file(state, "/d/c", "c\n");
        test_root_assert_file(state, "/d/e", "e\n");
        assert_int_equal(error_item(state, "unknown user 'nosuchuser'"), 1);
        assert_int_equal(error_item(state, "Failed to write '/d/a/x'"), 3);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 2);
}

/* The first entry makes /d a file, so the second cannot create the directory /d. */
static void write_batch_file_where_later_entry_needs_directory(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/d\", \"content\": \"file\\n\"}, "
                               "{\"path\": \"/d/f\", \"content\": \"x\"}]}") < 0);

        test_root_assert_file(state, "/d", "file\n");
        assert_int_equal(error_item(state, "Failed to write '/d/f'"), 1);
}

/* The first entry replaces the symlink /link with a file, so the second does not reach /real. */
static void write_batch_replaced_symlink_not_followed(void **state) {
        struct stat st;

        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/real", 0755, 0, 0), 1);
        assert_int_equal(symlinkat("real", ctx_of(state)->root_fd, "link"), 0);

        assert_true(run(state, "{\"write_files\": [{\"path\": \"/link\", \"content\": \"file\\n\"}, "
                               "{\"path\": \"/link/f\", \"content\": \"x\"}]}") < 0);

        stat_in_root(state, "/link", &st);
        assert_true(S_ISREG(st.st_mode));
        test_root_assert_absent(state, "/real/f");
        assert_int_equal(error_item(state, "Failed to write '/link/f'"), 1);
}

/* An owner is looked up in the passwd file that the entries before it leave. */
/* Appending copies the old content first, so a FIFO must fail the entry instead of blocking the run. */
static void write_batch_append_to_fifo_fails_entry(void **state) {
        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/opt", 0755, 0, 0), 1);
        assert_int_equal(mkfifoat(ctx_of(state)->root_fd, "opt/pipe", 0600), 0);

        assert_true(run(state, "{\"write_files\": [{\"path\": \"/opt/pipe\", \"content\": \"x\", "
                               "\"append\": true}, {\"path\": \"/opt/ok\", \"content\": \"ok\\n\"}]}") < 0);

        assert_int_equal(error_item(state, "cannot append to '/opt/pipe', which is not a regular file"), 0);
        test_root_assert_file(state, "/opt/ok", "ok\n");
}

static void write_batch_owner_from_passwd_written_before(void **state) {
        json_t *config = json_pack("{s:[{s:s, s:s}, {s:s, s:s, s:s}]}", "write_files",
                                   "path", "/etc/passwd", "content", PASSWD_NEWUSER,
                                   "path", "/f", "content", "x", "owner", "newuser");
        struct stat st;

        assert_int_equal(run_config(state, config), 1);

        stat_in_root(state, "/f", &st);
        assert_int_equal(st.st_uid, 1234);
}

/* /etc/passwd is a dangling symlink to the file that the first entry creates, and the second
 * entry's owner is looked up there. */
static void write_batch_owner_from_passwd_behind_dangling_symlink(void **state) {
        json_t *config = json_pack("{s:[{s:s, s:s}, {s:s, s:s, s:s}]}", "write_files",
                                   "path", "/var/accounts/users", "content", PASSWD_NEWUSER,
                                   "path", "/f", "content", "x", "owner", "newuser");
        struct stat st;

        assert_int_equal(root_unlink(ctx_of(state)->root_fd, "/etc/passwd"), 0);
        assert_int_equal(symlinkat("/var/accounts/users", ctx_of(state)->root_fd, "etc/passwd"), 0);

        assert_int_equal(run_config(state, config), 1);

        stat_in_root(state, "/f", &st);
        assert_int_equal(st.st_uid, 1234);
}

/* Limit the process to headroom open files above the highest descriptor open now, and keep the
 * old limit in *saved. */
static void nofile_limit_lower(unsigned headroom, struct rlimit *saved) {
        struct rlimit low;
        int highest = open("/", O_PATH | O_CLOEXEC);

        assert_true(highest >= 0);
        (void) close(highest);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
        low = (struct rlimit) { .rlim_cur = (rlim_t) highest + headroom, .rlim_max = saved->rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
}

/* The descriptors that a batch and the directories waiting for fileio_flush() keep never cost an
 * entry its file, also with many directories under a low limit on open files. */
static void write_batch_many_directories_under_low_nofile_limit(void **state) {
        json_t *list = json_array();
        struct rlimit saved;
        char path[64], content[64];
        int r;

        for (unsigned i = 0; i < 40; i++) {
                (void) snprintf(path, sizeof(path), "/u/d%u/f", i);
                (void) snprintf(content, sizeof(content), "f%u\n", i);
                assert_int_equal(json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "path", path,
                                                                       "content", content, "owner",
                                                                       "appuser:appgroup")), 0);
        }

        nofile_limit_lower(12, &saved);
        r = run_config(state, json_pack("{s:o}", "write_files", list));
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

        assert_int_equal(r, 1);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        test_root_assert_file(state, "/u/d0/f", "f0\n");
        test_root_assert_file(state, "/u/d39/f", "f39\n");
}

/* An append needs the old file, its directory and the temporary file open at once. */
static void write_batch_append_under_low_nofile_limit(void **state) {
        struct rlimit saved;
        int r;

        nofile_limit_lower(3, &saved);
        r = run(state, "{\"write_files\": [{\"path\": \"/a/g\", \"content\": \"g1\\n\"}, "
                       "{\"path\": \"/a/g\", \"content\": \"g2\\n\", \"append\": true}]}");
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

        assert_int_equal(r, 1);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        test_root_assert_file(state, "/a/g", "g1\ng2\n");
}

static void write_batch_more_entries_than_one_batch(void **state) {
        json_t *list = json_array();
        char path[64], content[64], last[64];

        for (unsigned i = 0; i < MANY_ENTRIES; i++) {
                (void) snprintf(path, sizeof(path), "/many/f%u", i % (MANY_ENTRIES - 5U));
                (void) snprintf(content, sizeof(content), "entry %u\n", i);
                assert_int_equal(json_array_append_new(list, json_pack("{s:s, s:s}", "path", path,
                                                                       "content", content)), 0);
        }

        assert_int_equal(run_config(state, json_pack("{s:o}", "write_files", list)), 1);

        /* f0 to f4 are written twice, and their second entries are in the second batch. */
        (void) snprintf(last, sizeof(last), "entry %u\n", MANY_ENTRIES - 5U);
        test_root_assert_file(state, "/many/f0", last);
        test_root_assert_file(state, "/many/f5", "entry 5\n");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

/* The renames wait for the runner's fileio_flush(), once per directory. */
static void write_batch_commit_leaves_directories_pending(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a/x\"}, {\"path\": \"/a/y\"}, "
                                    "{\"path\": \"/b/z\"}]}"), 1);

        assert_int_equal(fileio_pending_directories(), 2);
}

static void write_batch_current_file_not_written(void **state) {
        test_root_write(state, "/f", "x");

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": \"x\"}]}"), 0);

        assert_int_equal(fileio_pending_directories(), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(write_batch_duplicate_path_last_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_duplicate_path_through_symlinked_directory, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(write_batch_append_after_write_in_same_document, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_failing_entry_among_good_ones, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_file_where_later_entry_needs_directory, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(write_batch_replaced_symlink_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_append_to_fifo_fails_entry, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_owner_from_passwd_written_before, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_owner_from_passwd_behind_dangling_symlink, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(write_batch_many_directories_under_low_nofile_limit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(write_batch_append_under_low_nofile_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_more_entries_than_one_batch, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_commit_leaves_directories_pending, setup, teardown),
                cmocka_unit_test_setup_teardown(write_batch_current_file_not_written, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
