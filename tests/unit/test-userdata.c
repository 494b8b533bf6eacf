/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/userdata/: decoding and classifying user data, and merging cloud-config.
 *
 * Most decoding cases are data. Each directory under $KILN_TEST_DATA/userdata/ contains an input
 * and an expected file, and the runner at the end of this file turns it into a test named
 * userdata_decode_<directory>. tests/data/userdata/README.md describes the expected file. Cases
 * that need generated input (a gzip bomb) or more than one blob (merging parts) are written in C. */

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
#include <sys/stat.h>
#include <zlib.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "report.h"
#include "test-helpers.h"
#include "userdata/userdata.h"

/* Largest input or expected file of a data case. */
#define DATA_FILE_MAX (1024U * 1024U)
#define DATA_CASES_MAX 512
/* Uncompressed size of the gzip bomb: far beyond USERDATA_INFLATED_MAX. */
#define BOMB_INFLATED_SIZE (200U * 1024U * 1024U)

static void context_release(Context *ctx) {
        parts_free(ctx->parts, ctx->n_parts);
        ctx->parts = NULL;
        ctx->n_parts = 0;
        json_decref(ctx->config_positions);
        ctx->config_positions = NULL;
}

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        context_release(&t->ctx);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static int decode(void **state, const char *text) {
        return userdata_decode(ctx_of(state), "user-data", text, strlen(text));
}

static const char *message_of(const json_t *list, size_t i) {
        const char *m = json_string_value(json_object_get(json_array_get(list, i), "message"));

        assert_non_null(m);
        return m;
}

static void assert_contains(const char *text, const char *needle) {
        if (!strstr(text, needle))
                fail_msg("'%s' does not contain '%s'", text, needle);
}

static void assert_config_equal(const json_t *config, const char *expected_json) {
        json_t *expected = json_loads(expected_json, 0, NULL);

        assert_non_null(expected);
        if (!json_equal(config, expected)) {
                _cleanup_free_ char *got = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(expected);
                fail_msg("config is %s, expected %s", got, expected_json);
        }
        json_decref(expected);
}

/* ---- Generated gzip input ---- */

/* Compress size bytes made of pattern, repeated, into a gzip stream in *ret. Caller frees it. */
static void gzip_repeated(const char *pattern, size_t pattern_size, size_t size,
                          char **ret, size_t *ret_size) {
        enum { CHUNK = 1024 * 1024 };
        _cleanup_free_ char *in = malloc(CHUNK);
        size_t cap = size / 512 + 4096, len = 0, done = 0;
        char *out = malloc(cap);
        z_stream zs = {};

        assert_non_null(in);
        assert_non_null(out);
        for (size_t i = 0; i < CHUNK; i++)
                in[i] = pattern[i % pattern_size];
        /* 16 + MAX_WBITS makes zlib write a gzip header and trailer around the deflate data. */
        assert_int_equal(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS,
                                      /* memLevel= */ 9, Z_DEFAULT_STRATEGY), Z_OK);
        for (;;) {
                size_t n = MIN((size_t) CHUNK, size - done);
                int flush = done + n == size ? Z_FINISH : Z_NO_FLUSH;
                int z;

                zs.next_in = (Bytef *) in;
                zs.avail_in = (uInt) n;
                do {
                        if (len == cap) {
                                cap *= 2;
                                out = realloc(out, cap);
                                assert_non_null(out);
                        }
                        zs.next_out = (Bytef *) out + len;
                        zs.avail_out = (uInt) (cap - len);
                        z = deflate(&zs, flush);
                        assert_true(z == Z_OK || z == Z_STREAM_END || z == Z_BUF_ERROR);
                        len = cap - zs.avail_out;
                } while (zs.avail_out == 0 || (flush == Z_FINISH && z != Z_STREAM_END));
                done += n;
                if (flush == Z_FINISH)
                        break;
        }
        assert_int_equal(deflateEnd(&zs), Z_OK);
        *ret = out;
        *ret_size = len;
}

static void userdata_decode_gzip_bomb_stops_at_limit(void **state) {
        _cleanup_free_ char *bomb = NULL;
        size_t size;
        char limit[32];

        gzip_repeated("\0", 1, BOMB_INFLATED_SIZE, &bomb, &size);
        assert_true(size < 1024 * 1024);
        assert_int_equal(userdata_decode(ctx_of(state), "user-data", bomb, size), -EFBIG);
        assert_int_equal(ctx_of(state)->n_parts, 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
        assert_true(snprintf(limit, sizeof(limit), "%u MiB", USERDATA_INFLATED_MAX / 1024 / 1024) > 0);
        assert_contains(message_of(ctx_of(state)->errors, 0), limit);
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_ERROR);
}

/* A 10 MiB script compresses far better than the first output buffer guesses, so inflating it
 * has to grow the buffer several times. */
static void userdata_decode_large_gzip_inflated_fully(void **state) {
        _cleanup_free_ char *data = NULL;
        size_t size, inflated = 10U * 1024U * 1024U;

        gzip_repeated("#!/bin/sh\n", 10, inflated, &data, &size);
        assert_int_equal(userdata_decode(ctx_of(state), "user-data", data, size), 0);
        assert_int_equal(ctx_of(state)->n_parts, 1);
        assert_int_equal(ctx_of(state)->parts[0].size, inflated);
}

/* ---- Decoding cases in C ---- */

static void userdata_decode_vendor_data_part_name(void **state) {
        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", "#cloud-config\n", 14), 0);
        assert_int_equal(ctx_of(state)->n_parts, 1);
        assert_string_equal(ctx_of(state)->parts[0].name, "vendor-part-001");
}

static void userdata_decode_parts_numbered_in_order(void **state) {
        assert_int_equal(decode(state, "#cloud-config\n"), 0);
        assert_int_equal(decode(state, "#!/bin/sh\ntrue\n"), 0);
        assert_int_equal(ctx_of(state)->n_parts, 2);
        assert_string_equal(ctx_of(state)->parts[0].name, "part-001");
        assert_string_equal(ctx_of(state)->parts[1].name, "part-002");
}

static void userdata_decode_part_data_nul_terminated(void **state) {
        assert_int_equal(decode(state, "#!/bin/sh\ntrue\n"), 0);
        assert_int_equal(ctx_of(state)->parts[0].data[ctx_of(state)->parts[0].size], '\0');
}

static void userdata_decode_script_crlf_leaves_no_cr(void **state) {
        assert_int_equal(decode(state, "#!/bin/sh\r\necho crlf-ok > /run/x\r\n"), 0);
        assert_null(memchr(ctx_of(state)->parts[0].data, '\r', ctx_of(state)->parts[0].size));
}

static void part_type_to_string_cloud_config(void **state) {
        assert_string_equal(part_type_to_string(PART_CLOUD_CONFIG), "cloud-config");
}

static void part_type_to_string_invalid_null(void **state) {
        assert_null(part_type_to_string(_PART_TYPE_MAX));
}

/* ---- Jinja templates, rendered with the instance data ---- */

/* Give the context an instance whose local hostname is web-1. */
static void set_instance(void **state) {
        Instance *i = instance_new();

        assert_non_null(i);
        i->datasource = strdup("nocloud");
        i->instance_id = strdup("iid-jinja");
        json_decref(i->metadata);
        json_decref(i->raw);
        i->metadata = json_pack("{s:s, s:s}", "instance_id", "iid-jinja", "local_hostname", "web-1");
        i->raw = json_pack("{s:{s:s, s:s}}", "meta-data", "instance-id", "iid-jinja", "local-hostname", "web-1");
        assert_non_null(i->metadata);
        assert_non_null(i->raw);
        ctx_of(state)->instance = i;
}

static int setup_instance(void **state) {
        (void) setup(state);
        set_instance(state);
        return 0;
}

static int teardown_instance(void **state) {
        ctx_of(state)->instance = instance_free(ctx_of(state)->instance);
        return teardown(state);
}

static void userdata_decode_jinja_renders_cloud_config(void **state) {
        assert_int_equal(decode(state, "## template: jinja\n#cloud-config\nhostname: {{ v1.local_hostname }}\n"), 0);
        assert_int_equal(ctx_of(state)->n_parts, 1);
        assert_int_equal(ctx_of(state)->parts[0].type, PART_CLOUD_CONFIG);
        assert_string_equal(ctx_of(state)->parts[0].data, "#cloud-config\nhostname: web-1\n");
}

static void userdata_decode_jinja_renders_script(void **state) {
        assert_int_equal(decode(state, "## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n"), 0);
        assert_int_equal(ctx_of(state)->parts[0].type, PART_SCRIPT);
        assert_string_equal(ctx_of(state)->parts[0].data, "#!/bin/sh\necho iid-jinja\n");
}

static void userdata_decode_jinja_mime_part(void **state) {
        static const char text[] =
                "Content-Type: multipart/mixed; boundary=j\n\n"
                "--j\nContent-Type: text/jinja2\n\n## template: jinja\n#cloud-boothook\n#!/bin/sh\n"
                "echo {{ ds.meta_data.local_hostname }}\n--j--\n";

        assert_int_equal(decode(state, text), 0);
        assert_int_equal(ctx_of(state)->parts[0].type, PART_BOOTHOOK);
        assert_string_equal(ctx_of(state)->parts[0].data, "#!/bin/sh\necho web-1");
}

static void userdata_decode_jinja_error_has_part_line(void **state) {
        assert_true(decode(state, "\n## template: jinja\n#cloud-config\n{% set x = 1 %}\n") < 0);
        assert_int_equal(ctx_of(state)->n_parts, 0);
        assert_contains(message_of(ctx_of(state)->errors, 0), "line 4");
}

static void userdata_decode_jinja_undefined_warns_with_line(void **state) {
        assert_int_equal(decode(state, "## template: jinja\n#cloud-config\nhostname: {{ v1.nothing }}\n"), 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 1);
        assert_contains(message_of(ctx_of(state)->warnings, 0), "line 3");
}

static void userdata_decode_jinja_unknown_output_warns(void **state) {
        assert_int_equal(decode(state, "## template: jinja\nyum install {{ v1.local_hostname }}\n"), 0);
        assert_int_equal(ctx_of(state)->n_parts, 0);
        assert_contains(message_of(ctx_of(state)->warnings, 0), "'yum install web-1'");
}

static void userdata_decode_jinja_include_output_warns(void **state) {
        assert_int_equal(decode(state, "## template: jinja\n#include\nhttp://192.0.2.1/x\n"), 0);
        assert_int_equal(ctx_of(state)->n_parts, 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 1);
}

/* ---- Merging ---- */

static void userdata_merge_later_runcmd_replaces_earlier(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo first\n  - echo also-first\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo second\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config, "{\"runcmd\": [\"echo second\"]}");
}

static void userdata_merge_keeps_keys_of_earlier_part(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nhostname: web-1\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo second\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config, "{\"hostname\": \"web-1\", \"runcmd\": [\"echo second\"]}");
}

/* cloud-init's default mergers, dict(replace)+list()+str(), replace a top-level mapping whole. */
static void userdata_merge_later_mapping_replaces_earlier(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nphone_home:\n  url: http://192.0.2.1/\n  tries: 3\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nphone_home:\n  tries: 5\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config, "{\"phone_home\": {\"tries\": 5}}");
}

static void userdata_merge_image_config_is_base(void **state) {
        assert_int_equal(json_object_set_new(ctx_of(state)->system_config, "datasource_list",
                                             json_pack("[s]", "ec2")), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo user\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config,
                            "{\"datasource_list\": [\"ec2\"], \"runcmd\": [\"echo user\"]}");
}

static void userdata_merge_user_overrides_image_config(void **state) {
        assert_int_equal(json_object_set_new(ctx_of(state)->system_config, "runcmd",
                                             json_pack("[s]", "echo image")), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo user\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config, "{\"runcmd\": [\"echo user\"]}");
}

static void userdata_merge_leaves_image_config_unchanged(void **state) {
        assert_int_equal(json_object_set_new(ctx_of(state)->system_config, "runcmd",
                                             json_pack("[s]", "echo image")), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo user\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->system_config, "{\"runcmd\": [\"echo image\"]}");
}

static void userdata_merge_user_overrides_vendor(void **state) {
        static const char vendor[] = "#cloud-config\nruncmd:\n  - echo vendor\nhostname: vendor-host\n";

        /* The vendor data is decoded after the user data, and still merged under it. */
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo user\n"), 0);
        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", vendor, strlen(vendor)), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config,
                            "{\"runcmd\": [\"echo user\"], \"hostname\": \"vendor-host\"}");
}

static void userdata_merge_skips_scripts(void **state) {
        assert_int_equal(decode(state, "#!/bin/sh\necho script\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_config_equal(ctx_of(state)->config, "{}");
}

static void userdata_merge_header_only_no_diagnostics(void **state) {
        assert_int_equal(decode(state, "#cloud-config\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

/* Merge two parts: part-001 is valid, and part-002 uses a tab for indentation on its line 3. */
static int merge_with_broken_part(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo first\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nhostname: web-1\n\truncmd: []\n"), 0);
        return userdata_merge(ctx_of(state));
}

static void userdata_merge_failed_part_returns_error(void **state) {
        assert_true(merge_with_broken_part(state) < 0);
}

static void userdata_merge_failed_part_contributes_nothing(void **state) {
        (void) merge_with_broken_part(state);
        assert_null(json_object_get(ctx_of(state)->config, "hostname"));
}

static void userdata_merge_failed_part_keeps_other_parts(void **state) {
        (void) merge_with_broken_part(state);
        assert_config_equal(ctx_of(state)->config, "{\"runcmd\": [\"echo first\"]}");
}

static void userdata_merge_failed_part_reported_once(void **state) {
        (void) merge_with_broken_part(state);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void userdata_merge_failed_part_message_names_part(void **state) {
        (void) merge_with_broken_part(state);
        assert_contains(message_of(ctx_of(state)->errors, 0), "part-002");
}

static void userdata_merge_failed_part_message_has_line(void **state) {
        (void) merge_with_broken_part(state);
        assert_contains(message_of(ctx_of(state)->errors, 0), "line 3");
}

static void userdata_merge_failed_part_no_multipart_hint(void **state) {
        (void) merge_with_broken_part(state);
        assert_null(strstr(message_of(ctx_of(state)->errors, 0), "MIME"));
}

static void userdata_merge_failed_part_status_error(void **state) {
        (void) merge_with_broken_part(state);
        assert_int_equal(report_status(ctx_of(state)), RUN_STATUS_ERROR);
}

static const char glued_script[] =
        "#cloud-config\n"
        "users:\n"
        "  - name: alice\n"
        "#!/bin/bash\n"
        "echo hi > /run/x\n";

static void userdata_merge_glued_script_fails(void **state) {
        assert_int_equal(decode(state, glued_script), 0);
        assert_true(userdata_merge(ctx_of(state)) < 0);
}

static void userdata_merge_glued_script_applies_nothing(void **state) {
        assert_int_equal(decode(state, glued_script), 0);
        (void) userdata_merge(ctx_of(state));
        assert_null(json_object_get(ctx_of(state)->config, "users"));
}

static void userdata_merge_glued_script_message_has_line(void **state) {
        assert_int_equal(decode(state, glued_script), 0);
        (void) userdata_merge(ctx_of(state));
        assert_contains(message_of(ctx_of(state)->errors, 0), "line 5");
}

static void userdata_merge_glued_script_suggests_multipart(void **state) {
        assert_int_equal(decode(state, glued_script), 0);
        (void) userdata_merge(ctx_of(state));
        assert_contains(message_of(ctx_of(state)->errors, 0), "MIME multipart");
}

static void config_line_runcmd_item(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo a\n  - echo b\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 3);
}

static void config_line_second_item(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo a\n  - echo b\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 4);
}

static void config_line_counts_lines_before_header(void **state) {
        assert_int_equal(decode(state, "\n\n#cloud-config\nruncmd:\n  - echo a\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 5);
}

static void config_line_follows_later_part(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo first\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nhostname: web-1\nwrite_files: []\n"
                                       "runcmd:\n  - echo second\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 5);
}

static void config_line_drops_replaced_items(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo a\n  - echo b\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo c\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 0);
}

static void config_line_keeps_earlier_part_keys(void **state) {
        assert_int_equal(decode(state, "#cloud-config\n\nhostname: web-1\n"), 0);
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo second\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/hostname"), 3);
}

static void config_line_unknown_path_zero(void **state) {
        assert_int_equal(decode(state, "#cloud-config\nruncmd:\n  - echo a\n"), 0);
        assert_int_equal(userdata_merge(ctx_of(state)), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/7"), 0);
}

/* ---- Data cases ---- */

typedef struct DataCase {
        char name[NAME_MAX + 1];
        char dir[PATH_MAX];
        TestRoot *root;
} DataCase;

static int data_setup(void **state) {
        DataCase *c = *state;

        c->root = test_root_new();
        return 0;
}

static int data_teardown(void **state) {
        DataCase *c = *state;

        context_release(&c->root->ctx);
        test_root_free(c->root);
        c->root = NULL;
        return 0;
}

/* Read a host file of the data directory. Caller frees *ret. */
static void read_case_file(const DataCase *c, const char *file, char **ret, size_t *ret_size) {
        _cleanup_close_ int host_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char path[PATH_MAX];
        int r;

        assert_true(host_fd >= 0);
        assert_true(snprintf(path, sizeof(path), "%s/%s", c->dir, file) < (int) sizeof(path));
        r = read_file_at(host_fd, path, DATA_FILE_MAX, ret, ret_size);
        if (r < 0)
                fail_msg("Failed to read '%s': %s", path, strerror(-r));
}

/* Check got against expected, which has one entry per message. An entry is a string, or a list
 * of strings, that must all occur in the message at the same index. */
static void check_diagnostics(const char *kind, const json_t *got, const json_t *expected) {
        const json_t *entry;
        size_t i;

        if (json_array_size(got) != json_array_size(expected)) {
                _cleanup_free_ char *text = json_dumps(got, JSON_COMPACT);
                fail_msg("%zu %s, expected %zu: %s", json_array_size(got), kind,
                         json_array_size(expected), text);
        }
        json_array_foreach(expected, i, entry) {
                const char *message = message_of(got, i);
                const json_t *needle;
                size_t j;

                if (json_is_string(entry)) {
                        assert_contains(message, json_string_value(entry));
                        continue;
                }
                json_array_foreach(entry, j, needle)
                        assert_contains(message, json_string_value(needle));
        }
}

/* Check an optional string field of a part: a missing key checks nothing, JSON null means the field
 * must be NULL. */
static void check_part_string(const char *field, const char *got, const json_t *want) {
        if (!want)
                return;
        if (json_is_null(want)) {
                if (got)
                        fail_msg("%s is '%s', expected none", field, got);
                return;
        }
        if (!got)
                fail_msg("%s is missing, expected '%s'", field, json_string_value(want));
        assert_string_equal(got, json_string_value(want));
}

static void check_parts(const Context *ctx, const json_t *expected, const char *input, size_t input_size) {
        const json_t *want;
        size_t i;

        assert_int_equal(ctx->n_parts, json_array_size(expected));
        json_array_foreach(expected, i, want) {
                const Part *p = &ctx->parts[i];
                const json_t *data = json_object_get(want, "data");

                assert_string_equal(part_type_to_string(p->type),
                                    json_string_value(json_object_get(want, "type")));
                check_part_string("content_type", p->content_type, json_object_get(want, "content_type"));
                check_part_string("filename", p->filename, json_object_get(want, "filename"));
                check_part_string("merge_how", p->merge_how, json_object_get(want, "merge_how"));
                if (json_is_true(json_object_get(want, "data_equals_input"))) {
                        assert_int_equal(p->size, input_size);
                        assert_memory_equal(p->data, input, input_size);
                } else if (data) {
                        assert_int_equal(p->size, json_string_length(data));
                        assert_memory_equal(p->data, json_string_value(data), json_string_length(data));
                }
        }
}

static void userdata_decode_data_case(void **state) {
        DataCase *c = *state;
        Context *ctx = &c->root->ctx;
        _cleanup_free_ char *input = NULL, *expected_text = NULL;
        const json_t *config, *status;
        json_error_t error;
        size_t input_size, expected_size;
        json_t *expected;

        read_case_file(c, "input", &input, &input_size);
        read_case_file(c, "expected", &expected_text, &expected_size);
        expected = json_loadb(expected_text, expected_size, 0, &error);
        if (!expected)
                fail_msg("%s/expected line %d: %s", c->dir, error.line, error.text);

        (void) userdata_decode(ctx, "user-data", input, input_size);
        check_parts(ctx, json_object_get(expected, "parts"), input, input_size);

        config = json_object_get(expected, "config");
        if (config) {
                (void) userdata_merge(ctx);
                if (!json_equal(ctx->config, config)) {
                        _cleanup_free_ char *got = json_dumps(ctx->config, JSON_COMPACT | JSON_SORT_KEYS);
                        _cleanup_free_ char *want = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
                        fail_msg("config is %s, expected %s", got, want);
                }
        }

        check_diagnostics("warnings", ctx->warnings, json_object_get(expected, "warnings"));
        check_diagnostics("errors", ctx->errors, json_object_get(expected, "errors"));
        status = json_object_get(expected, "status");
        if (status)
                assert_string_equal(run_status_to_string(report_status(ctx)), json_string_value(status));
        json_decref(expected);
}

static int compare_cases(const void *a, const void *b) {
        return strcmp(((const DataCase *) a)->name, ((const DataCase *) b)->name);
}

/* List the case directories under data_dir/userdata, sorted by name. Returns the count, or -errno. */
static int list_data_cases(const char *data_dir, DataCase **ret) {
        _cleanup_free_ DataCase *cases = calloc(DATA_CASES_MAX, sizeof(DataCase));
        char dir[PATH_MAX];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        if (!cases)
                return -ENOMEM;
        if (snprintf(dir, sizeof(dir), "%s/userdata", data_dir) >= (int) sizeof(dir))
                return -ENAMETOOLONG;
        d = opendir(dir);
        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                DataCase *c = &cases[n];
                struct stat st;

                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (n == DATA_CASES_MAX) {
                        (void) closedir(d);
                        return -E2BIG;
                }
                if (snprintf(c->name, sizeof(c->name), "%s", de->d_name) >= (int) sizeof(c->name) ||
                    snprintf(c->dir, sizeof(c->dir), "%s/%s", dir, de->d_name) >= (int) sizeof(c->dir))
                        continue;
                n++;
        }
        (void) closedir(d);
        qsort(cases, n, sizeof(DataCase), compare_cases);
        *ret = TAKE_PTR(cases);
        return (int) n;
}

static int run_data_cases(void) {
        _cleanup_free_ struct CMUnitTest *tests = NULL;
        _cleanup_free_ DataCase *cases = NULL;
        const char *data_dir = getenv("KILN_TEST_DATA");
        int n, failed;

        if (!data_dir) {
                fprintf(stderr, "KILN_TEST_DATA is not set. Run the data cases with 'meson test', "
                        "or set it to tests/data.\n");
                return 1;
        }
        n = list_data_cases(data_dir, &cases);
        if (n <= 0) {
                fprintf(stderr, "Failed to find data cases in '%s/userdata': %s\n", data_dir,
                        n < 0 ? strerror(-n) : "no case directories");
                return 1;
        }
        tests = calloc((size_t) n, sizeof(struct CMUnitTest));
        if (!tests)
                return 1;
        for (int i = 0; i < n; i++) {
                char *name;

                if (asprintf(&name, "userdata_decode_%s", cases[i].name) < 0)
                        return 1;
                for (char *p = name; *p; p++)
                        if (*p == '-')
                                *p = '_';
                tests[i] = (struct CMUnitTest) {
                        .name = name,
                        .test_func = userdata_decode_data_case,
                        .setup_func = data_setup,
                        .teardown_func = data_teardown,
                        .initial_state = &cases[i],
                };
        }
        failed = _cmocka_run_group_tests("userdata_data_cases", tests, (size_t) n, NULL, NULL);
        for (int i = 0; i < n; i++)
                free((char *) tests[i].name);
        return failed;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TI(f) cmocka_unit_test_setup_teardown(f, setup_instance, teardown_instance)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(userdata_decode_gzip_bomb_stops_at_limit),
                T(userdata_decode_large_gzip_inflated_fully),
                T(userdata_decode_vendor_data_part_name),
                T(userdata_decode_parts_numbered_in_order),
                T(userdata_decode_part_data_nul_terminated),
                T(userdata_decode_script_crlf_leaves_no_cr),
                TI(userdata_decode_jinja_renders_cloud_config),
                TI(userdata_decode_jinja_renders_script),
                TI(userdata_decode_jinja_mime_part),
                TI(userdata_decode_jinja_error_has_part_line),
                TI(userdata_decode_jinja_undefined_warns_with_line),
                TI(userdata_decode_jinja_unknown_output_warns),
                TI(userdata_decode_jinja_include_output_warns),
                T(part_type_to_string_cloud_config),
                T(part_type_to_string_invalid_null),
                T(userdata_merge_later_runcmd_replaces_earlier),
                T(userdata_merge_keeps_keys_of_earlier_part),
                T(userdata_merge_later_mapping_replaces_earlier),
                T(userdata_merge_image_config_is_base),
                T(userdata_merge_user_overrides_image_config),
                T(userdata_merge_leaves_image_config_unchanged),
                T(userdata_merge_user_overrides_vendor),
                T(userdata_merge_skips_scripts),
                T(userdata_merge_header_only_no_diagnostics),
                T(userdata_merge_failed_part_returns_error),
                T(userdata_merge_failed_part_contributes_nothing),
                T(userdata_merge_failed_part_keeps_other_parts),
                T(userdata_merge_failed_part_reported_once),
                T(userdata_merge_failed_part_message_names_part),
                T(userdata_merge_failed_part_message_has_line),
                T(userdata_merge_failed_part_no_multipart_hint),
                T(userdata_merge_failed_part_status_error),
                T(userdata_merge_glued_script_fails),
                T(userdata_merge_glued_script_applies_nothing),
                T(userdata_merge_glued_script_message_has_line),
                T(userdata_merge_glued_script_suggests_multipart),
                T(config_line_runcmd_item),
                T(config_line_second_item),
                T(config_line_counts_lines_before_header),
                T(config_line_follows_later_part),
                T(config_line_drops_replaced_items),
                T(config_line_keeps_earlier_part_keys),
                T(config_line_unknown_path_zero),
        };
        int failed;

        failed = cmocka_run_group_tests(tests, NULL, NULL);
        failed += run_data_cases();
        return failed > 0;
}
