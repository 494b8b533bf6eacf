/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/write_files.c: encodings, permissions, owners, append and defer. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

#define HELLO_WORLD_B64 "aGVsbG8gd29ybGQ="
/* gzip -n of "line1\nline2\n", and its base64 text. */
#define LINES_GZ_B64 "H4sIAAAAAAAAA8vJzEs15MoBkkZcAFddjToMAAAA"
static const char lines_gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\xc9\xcc\x4b\x35\xe4"
                               "\xca\x01\x92\x46\x5c\x00\x57\x5d\x8d\x3a\x0c\x00\x00\x00";
#define LINES "line1\nline2\n"

#define PASSWD "root:x:0:0:root:/root:/bin/sh\nappuser:x:1001:1002::/home/appuser:/bin/sh\n"
#define GROUP "root:x:0:\nappgroup:x:1002:\n"

static int setup(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/passwd", PASSWD, strlen(PASSWD), 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/group", GROUP, strlen(GROUP), 0644,
                                           (uid_t) -1, (gid_t) -1, 0), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        json_decref(t->ctx.config_positions);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Replace the effective config with the JSON text and run one of the two stages. */
static int run_stage(void **state, const AgentModule *m, const char *json) {
        Context *ctx = ctx_of(state);
        json_error_t error;

        json_decref(ctx->config);
        ctx->config = json_loads(json, 0, &error);
        if (!ctx->config)
                fail_msg("bad test JSON at %d: %s", error.line, error.text);
        return m->run(ctx, ctx->config);
}

static int run(void **state, const char *json) {
        return run_stage(state, &module_write_files, json);
}

static int run_config(void **state, json_t *config) {
        Context *ctx = ctx_of(state);

        json_decref(ctx->config);
        ctx->config = config;
        return module_write_files.run(ctx, ctx->config);
}

static bool has_message(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return true;
        return false;
}

static json_int_t message_item(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return json_integer_value(json_object_get(entry, "item"));
        return -1;
}

static void assert_file(void **state, const char *path, const void *expected, size_t expected_size) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, 256 * 1024 * 1024, &data, &size), 0);
        assert_int_equal(size, expected_size);
        assert_memory_equal(data, expected, expected_size);
}

static void assert_absent(void **state, const char *path) {
        assert_int_equal(root_exists(ctx_of(state)->root_fd, path), 0);
}

static void stat_in_root(void **state, const char *path, struct stat *st) {
        _cleanup_close_ int fd = root_open(ctx_of(state)->root_fd, path, O_PATH | O_NOFOLLOW, 0);

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, st), 0);
}

static mode_t mode_of(void **state, const char *path) {
        struct stat st;

        stat_in_root(state, path, &st);
        return st.st_mode & 07777;
}

static void write_files_plain_content_exact(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13/plain\", "
                                    "\"content\": \"no newline at end\"}]}"), 1);

        assert_file(state, "/run/b13/plain", "no newline at end", 17);
}

static void write_files_b64_decodes(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13/b64\", \"encoding\": \"b64\", "
                                    "\"content\": \"" HELLO_WORLD_B64 "\"}]}"), 1);

        assert_file(state, "/run/b13/b64", "hello world", 11);
}

static void write_files_base64_decodes(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13/base64\", \"encoding\": \"base64\", "
                                    "\"content\": \"" HELLO_WORLD_B64 "\"}]}"), 1);

        assert_file(state, "/run/b13/base64", "hello world", 11);
}

static void write_files_base64_line_breaks(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"encoding\": \"base64\", "
                                    "\"content\": \"aGVsbG8g\\nd29y\\r\\n bGQ=\\n\"}]}"), 1);

        assert_file(state, "/f", "hello world", 11);
}

static void write_files_gz_b64_decodes(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13/gzb64\", \"encoding\": \"gz+b64\", "
                                    "\"content\": \"" LINES_GZ_B64 "\"}]}"), 1);

        assert_file(state, "/run/b13/gzb64", LINES, 12);
}

static void write_files_gzip_base64_decodes(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13/gzb64b\", "
                                    "\"encoding\": \"gzip+base64\", \"content\": \"" LINES_GZ_B64 "\"}]}"), 1);

        assert_file(state, "/run/b13/gzb64b", LINES, 12);
}

static void write_files_encoding_names_accepted(void **state) {
        static const char *const names[] = {
                "gz+base64", "gzip+b64", "GZIP+BASE64", " Gz+B64 ",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char json[512];

                (void) snprintf(json, sizeof(json),
                                "{\"write_files\": [{\"path\": \"/f%zu\", \"encoding\": \"%s\", "
                                "\"content\": \"" LINES_GZ_B64 "\"}]}", i, names[i]);
                assert_int_equal(run(state, json), 1);
        }

        assert_file(state, "/f3", LINES, 12);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void write_files_text_plain_kept(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"encoding\": \"text/plain\", "
                                    "\"content\": \"" HELLO_WORLD_B64 "\"}]}"), 1);

        assert_file(state, "/f", HELLO_WORLD_B64, strlen(HELLO_WORLD_B64));
}

/* A !!binary scalar arrives as a string of raw bytes. */
static void write_files_binary_gz_decodes(void **state) {
        json_t *entry = json_pack("{s:s, s:s, s:o}", "path", "/run/b13/gzbin", "encoding", "gz", "content",
                                  json_stringn_nocheck(lines_gz, sizeof(lines_gz) - 1));

        assert_int_equal(run_config(state, json_pack("{s:[o]}", "write_files", entry)), 1);

        assert_file(state, "/run/b13/gzbin", LINES, 12);
}

static void write_files_binary_nul_bytes_kept(void **state) {
        json_t *entry = json_pack("{s:s, s:o}", "path", "/bin.dat", "content",
                                  json_stringn_nocheck("a\0b\xff", 4));

        assert_int_equal(run_config(state, json_pack("{s:[o]}", "write_files", entry)), 1);

        assert_file(state, "/bin.dat", "a\0b\xff", 4);
}

static void write_files_not_gzip_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/run/b13/bad\", \"encoding\": \"gz+b64\", "
                               "\"content\": \"" HELLO_WORLD_B64 "\"}]}") < 0);

        assert_absent(state, "/run/b13/bad");
        assert_true(has_message(ctx_of(state)->errors, "content of '/run/b13/bad' is not gzip data"));
}

static void write_files_truncated_gzip_error(void **state) {
        json_t *entry = json_pack("{s:s, s:s, s:o}", "path", "/cut", "encoding", "gzip", "content",
                                  json_stringn_nocheck(lines_gz, 20));

        assert_true(run_config(state, json_pack("{s:[o]}", "write_files", entry)) < 0);

        assert_absent(state, "/cut");
        assert_true(has_message(ctx_of(state)->errors, "content of '/cut' is not gzip data"));
}

static void write_files_invalid_base64_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/f\", \"encoding\": \"b64\", "
                               "\"content\": \"not-base64!\"}]}") < 0);

        assert_absent(state, "/f");
        assert_true(has_message(ctx_of(state)->errors, "content of '/f' is not valid base64"));
}

static void write_files_unsupported_encoding_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/run/b13/unknown\", \"encoding\": \"rot13\", "
                               "\"content\": \"uryyb\"}]}") < 0);

        assert_absent(state, "/run/b13/unknown");
        assert_true(has_message(ctx_of(state)->errors, "unsupported encoding 'rot13'"));
}

static void write_files_gzip_bomb_capped(void **state) {
        const size_t inflated = 65U * 1024U * 1024U;
        _cleanup_free_ uint8_t *zeros = calloc(1, inflated), *gz = NULL;
        z_stream z = {};
        json_t *entry;
        size_t gz_size;

        assert_non_null(zeros);
        assert_int_equal(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                      Z_DEFAULT_STRATEGY), Z_OK);
        gz_size = deflateBound(&z, inflated);
        gz = malloc(gz_size);
        assert_non_null(gz);
        z.next_in = zeros;
        z.avail_in = (uInt) inflated;
        z.next_out = gz;
        z.avail_out = (uInt) gz_size;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        gz_size = z.total_out;
        (void) deflateEnd(&z);

        entry = json_pack("{s:s, s:s, s:o}", "path", "/bomb", "encoding", "gz", "content",
                          json_stringn_nocheck((const char *) gz, gz_size));
        assert_true(run_config(state, json_pack("{s:[o]}", "write_files", entry)) < 0);

        assert_absent(state, "/bomb");
        assert_true(has_message(ctx_of(state)->errors, "more than 64 MiB"));
}

static void write_files_overwrite_truncates(void **state) {
        const char *old = "OLD-CONTENT-THAT-IS-LONG\n";

        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "/run/b13-existing", old, strlen(old), 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13-existing\", "
                                    "\"content\": \"new\\n\"}]}"), 1);

        assert_file(state, "/run/b13-existing", "new\n", 4);
}

static void write_files_append_adds_to_end(void **state) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "/run/b13-append", "old\n", 4, 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13-append\", "
                                    "\"content\": \"added\\n\", \"append\": true}]}"), 1);

        assert_file(state, "/run/b13-append", "old\nadded\n", 10);
}

static void write_files_append_missing_file_created(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/run/b13-append\", "
                                    "\"content\": \"added\\n\", \"append\": true}]}"), 1);

        assert_file(state, "/run/b13-append", "added\n", 6);
}

static void write_files_append_string_warns(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"content\": \"x\", "
                                    "\"append\": \"yes\"}]}"), 1);

        assert_true(has_message(ctx_of(state)->warnings, "append for '/a' is the string 'yes'"));
}

static void write_files_append_invalid_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"content\": \"x\", "
                               "\"append\": \"maybe\"}]}") < 0);

        assert_absent(state, "/a");
        assert_true(has_message(ctx_of(state)->errors, "append for '/a' must be true or false, got 'maybe'"));
}

/* The permissions forms users write, each in its own entry, as one config. */
static void write_files_permissions_forms(void **state) {
        Context *ctx = ctx_of(state);
        int r;

        ctx->config_positions = json_pack("{s:[i,s], s:[i,s]}",
                                          "/write_files/0/permissions", 3, "0640",
                                          "/write_files/3/permissions", 6, "384");
        r = run(state, "{\"write_files\": ["
                       "{\"path\": \"/run/b11/a\", \"content\": \"a\\n\", \"permissions\": 416},"
                       "{\"path\": \"/run/b11/b\", \"content\": \"b\\n\", \"permissions\": \"0640\"},"
                       "{\"path\": \"/run/b11/c\", \"content\": \"c\\n\", \"permissions\": \"640\"},"
                       "{\"path\": \"/run/b11/d\", \"content\": \"d\\n\", \"permissions\": 384},"
                       "{\"path\": \"/run/b11/e\", \"content\": \"e\\n\", \"permissions\": \"0o640\"},"
                       "{\"path\": \"/run/b11/f\", \"content\": \"#!/bin/sh\\n\", \"owner\": \"root:root\", "
                       "\"permissions\": \"4755\"},"
                       "{\"path\": \"/run/b11/g\", \"content\": \"g\\n\", \"permissions\": \"0999\"},"
                       "{\"path\": \"/run/b11/h\", \"content\": \"h\\n\"}]}");

        assert_true(r < 0);
        assert_int_equal(mode_of(state, "/run/b11/a"), 0640);
        assert_int_equal(mode_of(state, "/run/b11/b"), 0640);
        assert_int_equal(mode_of(state, "/run/b11/c"), 0640);
        assert_int_equal(mode_of(state, "/run/b11/d"), 0600);
        assert_int_equal(mode_of(state, "/run/b11/e"), 0640);
        assert_int_equal(mode_of(state, "/run/b11/f"), 04755);
        assert_absent(state, "/run/b11/g");
        assert_int_equal(mode_of(state, "/run/b11/h"), 0644);
        assert_true(has_message(ctx->errors, "invalid permissions '0999' for /run/b11/g"));
        assert_int_equal(message_item(ctx->errors, "invalid permissions '0999'"), 6);
        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_true(has_message(ctx->warnings, "decimal number 384, which is mode 0600"));
        assert_int_equal(message_item(ctx->warnings, "decimal number 384"), 3);
        assert_int_equal(json_array_size(ctx->warnings), 1);
}

static void write_files_permissions_umask_ignored(void **state) {
        mode_t old_umask = umask(0077);
        int r;

        r = run(state, "{\"write_files\": [{\"path\": \"/h\", \"content\": \"h\\n\"}]}");
        (void) umask(old_umask);

        assert_int_equal(r, 1);
        assert_int_equal(mode_of(state, "/h"), 0644);
}

static void write_files_permissions_over_max_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": \"10000\"},"
                               "{\"path\": \"/b\", \"permissions\": 4096}]}") < 0);

        assert_absent(state, "/a");
        assert_absent(state, "/b");
        assert_true(has_message(ctx_of(state)->errors, "invalid permissions '10000' for /a"));
        assert_true(has_message(ctx_of(state)->errors, "invalid permissions '4096' for /b"));
}

static void write_files_permissions_junk_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": \"rw-r--r--\"},"
                               "{\"path\": \"/b\", \"permissions\": \"0o\"},"
                               "{\"path\": \"/c\", \"permissions\": true}]}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "invalid permissions 'rw-r--r--' for /a"));
        assert_true(has_message(ctx_of(state)->errors, "invalid permissions '0o' for /b"));
        assert_true(has_message(ctx_of(state)->errors, "invalid permissions 'true' for /c"));
}

static void write_files_permissions_no_source_text_no_warning(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": 384}]}"), 1);

        assert_int_equal(mode_of(state, "/a"), 0600);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

static void write_files_permissions_decimal_octal_digits_hint(void **state) {
        Context *ctx = ctx_of(state);

        ctx->config_positions = json_pack("{s:[i,s]}", "/write_files/0/permissions", 3, "755");
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": 755}]}"), 1);

        assert_int_equal(mode_of(state, "/a"), 01363);
        assert_true(has_message(ctx->warnings, "decimal number 755, which is mode 01363. Did you mean '0755'?"));
        assert_false(has_message(ctx->warnings, "'01363'"));
}

static void write_files_permissions_decimal_other_digits_hint(void **state) {
        Context *ctx = ctx_of(state);

        ctx->config_positions = json_pack("{s:[i,s]}", "/write_files/0/permissions", 3, "384");
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": 384}]}"), 1);

        assert_true(has_message(ctx->warnings, "Quote the octal mode ('0600')"));
        assert_false(has_message(ctx->warnings, "Did you mean"));
}

static void write_files_permissions_blanks_around_string(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": \"  0644 \"},"
                                    "{\"path\": \"/b\", \"permissions\": \"\\t0o600\\n\"}]}"), 1);

        assert_int_equal(mode_of(state, "/a"), 0644);
        assert_int_equal(mode_of(state, "/b"), 0600);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

/* Python's int(text, 8), which cloud-init calls, also takes a '+' and underscores between digits. */
static void write_files_permissions_python_octal_forms(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": \"+640\"},"
                                    "{\"path\": \"/b\", \"permissions\": \"0_640\"},"
                                    "{\"path\": \"/c\", \"permissions\": \"0o_640\"}]}"), 1);

        assert_int_equal(mode_of(state, "/a"), 0640);
        assert_int_equal(mode_of(state, "/b"), 0640);
        assert_int_equal(mode_of(state, "/c"), 0640);
}

static void write_files_permissions_misplaced_underscores_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": \"_640\"},"
                               "{\"path\": \"/b\", \"permissions\": \"6__40\"},"
                               "{\"path\": \"/c\", \"permissions\": \"640_\"},"
                               "{\"path\": \"/d\", \"permissions\": \"-640\"},"
                               "{\"path\": \"/e\", \"permissions\": \"   \"}]}") < 0);

        assert_int_equal(json_array_size(ctx_of(state)->errors), 5);
        assert_absent(state, "/a");
        assert_absent(state, "/e");
}

static void write_files_permissions_real_shown_as_written(void **state) {
        Context *ctx = ctx_of(state);

        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": 3.14}]}") < 0);

        assert_absent(state, "/a");
        assert_true(has_message(ctx->errors, "invalid permissions '3.14' for /a"));
}

static void write_files_permissions_real_source_text(void **state) {
        Context *ctx = ctx_of(state);

        ctx->config_positions = json_pack("{s:[i,s]}", "/write_files/0/permissions", 3, "6.4e2");
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/a\", \"permissions\": 640.0}]}") < 0);

        assert_true(has_message(ctx->errors, "invalid permissions '6.4e2' for /a"));
}

static void write_files_owner_from_root_passwd(void **state) {
        struct stat st;

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/home/appuser/.config/app/settings.ini\", "
                                    "\"owner\": \"appuser:appgroup\", \"permissions\": \"0600\", "
                                    "\"content\": \"mode=test\"}]}"), 1);

        stat_in_root(state, "/home/appuser/.config/app/settings.ini", &st);
        assert_int_equal(st.st_uid, 1001);
        assert_int_equal(st.st_gid, 1002);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_file(state, "/home/appuser/.config/app/settings.ini", "mode=test", 9);
}

static void write_files_owner_new_parents_owned(void **state) {
        struct stat st;

        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/home", 0755, 0, 0), 1);

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/home/appuser/.config/f\", "
                                    "\"owner\": \"appuser:appgroup\"}]}"), 1);

        stat_in_root(state, "/home/appuser", &st);
        assert_int_equal(st.st_uid, 1001);
        assert_int_equal(st.st_mode & 07777, 0755);
        stat_in_root(state, "/home/appuser/.config", &st);
        assert_int_equal(st.st_gid, 1002);
        stat_in_root(state, "/home", &st);
        assert_int_equal(st.st_uid, 0);
}

static void write_files_owner_user_only_keeps_group(void **state) {
        struct stat st;

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"owner\": \" appuser \"}]}"), 1);

        stat_in_root(state, "/f", &st);
        assert_int_equal(st.st_uid, 1001);
        assert_int_equal(st.st_gid, 0);
}

static void write_files_owner_unknown_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/etc/b12/ghost.conf\", "
                               "\"owner\": \"nosuchuser:nosuchuser\", \"content\": \"x\\n\"}]}") < 0);

        assert_absent(state, "/etc/b12/ghost.conf");
        assert_absent(state, "/etc/b12");
        assert_true(has_message(ctx_of(state)->errors, "unknown user 'nosuchuser'"));
        assert_true(has_message(ctx_of(state)->errors, "/etc/b12/ghost.conf"));
}

/* "daemon" exists on most hosts but not in the scratch root's passwd file. */
static void write_files_owner_host_database_unused(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/f\", \"owner\": \"daemon\"}]}") < 0);

        assert_absent(state, "/f");
        assert_true(has_message(ctx_of(state)->errors, "unknown user 'daemon'"));
}

static void write_files_owner_numeric_ids(void **state) {
        struct stat st;

        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"owner\": \"2000:2001\"}]}"), 1);

        stat_in_root(state, "/f", &st);
        assert_int_equal(st.st_uid, 2000);
        assert_int_equal(st.st_gid, 2001);
}

static void write_files_null_warns(void **state) {
        assert_int_equal(run(state, "{\"write_files\": null}"), 0);

        assert_true(has_message(ctx_of(state)->warnings, "write_files has no value (null), nothing to write"));
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void write_files_empty_list_silent(void **state) {
        assert_int_equal(run(state, "{\"write_files\": []}"), 0);

        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void write_files_null_deferred_silent(void **state) {
        assert_int_equal(run_stage(state, &module_write_files_deferred, "{\"write_files\": null}"), 0);

        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

static void write_files_not_a_list_error(void **state) {
        assert_true(run(state, "{\"write_files\": {\"path\": \"/f\"}}") < 0);

        assert_absent(state, "/f");
        assert_true(has_message(ctx_of(state)->errors, "write_files: expected a list of files, got a mapping"));
}

static void write_files_bad_items_others_written(void **state) {
        Context *ctx = ctx_of(state);

        assert_true(run(state, "{\"write_files\": [\"/etc/x\", {\"content\": \"x\"}, "
                               "{\"path\": \"/ok\", \"content\": \"ok\"}]}") < 0);

        assert_file(state, "/ok", "ok", 2);
        assert_int_equal(message_item(ctx->errors, "expected a mapping"), 0);
        assert_int_equal(message_item(ctx->errors, "missing 'path'"), 1);
}

/* The warning about the key comes from runner_check_keys(), which test-validate.c tests. */
static void write_files_unknown_key_ignored(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"mode\": \"0600\"}]}"), 1);

        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        assert_int_equal(mode_of(state, "/f"), 0644);
}

static void write_files_content_not_string_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": 42}]}") < 0);

        assert_absent(state, "/f");
        assert_true(has_message(ctx_of(state)->errors, "content for '/f' must be a string, got an integer"));
}

static void write_files_missing_content_empty_file(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/var/log/app/empty.log\"}]}"), 1);

        assert_file(state, "/var/log/app/empty.log", "", 0);
        assert_int_equal(mode_of(state, "/var/log/app"), 0755);
}

static void write_files_relative_path_inside_root(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"rel/f\", \"content\": \"x\"}]}"), 1);

        assert_file(state, "/rel/f", "x", 1);
}

static void write_files_unchanged_returns_zero(void **state) {
        const char *json = "{\"write_files\": [{\"path\": \"/f\", \"content\": \"x\", \"permissions\": \"0600\"}]}";

        assert_int_equal(run(state, json), 1);
        assert_int_equal(run(state, json), 0);
}

static void write_files_mode_change_rewrites(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": \"x\"}]}"), 1);
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": \"x\", "
                                    "\"permissions\": \"0600\"}]}"), 1);

        assert_int_equal(mode_of(state, "/f"), 0600);
}

static void write_files_defer_left_to_deferred_stage(void **state) {
        const char *json = "{\"write_files\": [{\"path\": \"/early\"}, {\"path\": \"/late\", \"defer\": true}]}";

        assert_int_equal(run_stage(state, &module_write_files, json), 1);
        assert_absent(state, "/late");
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/early"), 1);

        assert_int_equal(root_unlink(ctx_of(state)->root_fd, "/early"), 0);
        assert_int_equal(run_stage(state, &module_write_files_deferred, json), 1);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/late"), 1);
        assert_absent(state, "/early");
}

static void write_files_owner_declared_in_users_deferred(void **state) {
        const char *json = "{\"users\": [\"default\", {\"name\": \"newuser\"}], "
                           "\"write_files\": [{\"path\": \"/home/newuser/f\", \"owner\": \"newuser:newuser\"}]}";

        assert_int_equal(run_stage(state, &module_write_files, json), 0);

        assert_absent(state, "/home/newuser/f");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void write_files_deferred_unknown_owner_error(void **state) {
        const char *json = "{\"users\": [{\"name\": \"newuser\"}], "
                           "\"write_files\": [{\"path\": \"/home/newuser/f\", \"owner\": \"newuser\"}]}";

        assert_true(run_stage(state, &module_write_files_deferred, json) < 0);

        assert_true(has_message(ctx_of(state)->errors, "unknown user 'newuser'"));
}

static void write_files_item_errors_reported_once(void **state) {
        const char *json = "{\"write_files\": [{\"path\": \"/a\", \"encoding\": \"rot13\"}, "
                           "{\"path\": \"/b\", \"encoding\": \"rot13\", \"defer\": true}]}";

        assert_true(run_stage(state, &module_write_files, json) < 0);
        assert_true(run_stage(state, &module_write_files_deferred, json) < 0);

        assert_int_equal(json_array_size(ctx_of(state)->errors), 2);
}

static void write_files_source_without_content_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/f\", "
                               "\"source\": {\"uri\": \"https://example.com/f\"}}]}") < 0);

        assert_absent(state, "/f");
        assert_true(has_message(ctx_of(state)->errors, "cannot download 'source' URLs"));
}

static void write_files_source_with_content_warns(void **state) {
        assert_int_equal(run(state, "{\"write_files\": [{\"path\": \"/f\", \"content\": \"fallback\", "
                                    "\"source\": {\"uri\": \"https://example.com/f\"}}]}"), 1);

        assert_file(state, "/f", "fallback", 8);
        assert_true(has_message(ctx_of(state)->warnings, "cannot download 'source' URLs"));
}

static void write_files_directory_path_error(void **state) {
        assert_true(run(state, "{\"write_files\": [{\"path\": \"/etc/\", \"content\": \"x\"}]}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "Failed to write '/etc/'"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(write_files_plain_content_exact),
                T(write_files_b64_decodes),
                T(write_files_base64_decodes),
                T(write_files_base64_line_breaks),
                T(write_files_gz_b64_decodes),
                T(write_files_gzip_base64_decodes),
                T(write_files_encoding_names_accepted),
                T(write_files_text_plain_kept),
                T(write_files_binary_gz_decodes),
                T(write_files_binary_nul_bytes_kept),
                T(write_files_not_gzip_error),
                T(write_files_truncated_gzip_error),
                T(write_files_invalid_base64_error),
                T(write_files_unsupported_encoding_error),
                T(write_files_gzip_bomb_capped),
                T(write_files_overwrite_truncates),
                T(write_files_append_adds_to_end),
                T(write_files_append_missing_file_created),
                T(write_files_append_string_warns),
                T(write_files_append_invalid_error),
                T(write_files_permissions_forms),
                T(write_files_permissions_umask_ignored),
                T(write_files_permissions_over_max_error),
                T(write_files_permissions_junk_error),
                T(write_files_permissions_no_source_text_no_warning),
                T(write_files_permissions_decimal_octal_digits_hint),
                T(write_files_permissions_decimal_other_digits_hint),
                T(write_files_permissions_blanks_around_string),
                T(write_files_permissions_python_octal_forms),
                T(write_files_permissions_misplaced_underscores_error),
                T(write_files_permissions_real_shown_as_written),
                T(write_files_permissions_real_source_text),
                T(write_files_owner_from_root_passwd),
                T(write_files_owner_new_parents_owned),
                T(write_files_owner_user_only_keeps_group),
                T(write_files_owner_unknown_error),
                T(write_files_owner_host_database_unused),
                T(write_files_owner_numeric_ids),
                T(write_files_null_warns),
                T(write_files_empty_list_silent),
                T(write_files_null_deferred_silent),
                T(write_files_not_a_list_error),
                T(write_files_bad_items_others_written),
                T(write_files_unknown_key_ignored),
                T(write_files_content_not_string_error),
                T(write_files_missing_content_empty_file),
                T(write_files_relative_path_inside_root),
                T(write_files_unchanged_returns_zero),
                T(write_files_mode_change_rewrites),
                T(write_files_defer_left_to_deferred_stage),
                T(write_files_owner_declared_in_users_deferred),
                T(write_files_deferred_unknown_owner_error),
                T(write_files_item_errors_reported_once),
                T(write_files_source_without_content_error),
                T(write_files_source_with_content_warns),
                T(write_files_directory_path_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
