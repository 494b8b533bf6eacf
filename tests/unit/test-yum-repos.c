/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/yum_repos.c on scratch roots: the rendered .repo files, existing files,
 * repository id and option checks, and the verdict of `kiln validate`. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Run the module with config (a new reference, taken) as the whole cloud-config. */
static int run_json(void **state, json_t *config) {
        Context *ctx = ctx_of(state);

        assert_non_null(config);
        json_decref(ctx->config);
        ctx->config = config;
        return module_yum_repos.run(ctx, ctx->config);
}

/* Run the module with the cloud-config in JSON text. */
static int run_text(void **state, const char *text) {
        return run_json(state, json_loads(text, JSON_PRESERVE_ORDER, NULL));
}

static void assert_file(void **state, const char *path, const char *expected) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, 1024 * 1024, &data, &size), 0);
        assert_string_equal(data, expected);
}

static size_t error_count(void **state) {
        return json_array_size(ctx_of(state)->errors);
}

static size_t warning_count(void **state) {
        return json_array_size(ctx_of(state)->warnings);
}

static const char *first_message(const json_t *list) {
        return json_string_value(json_object_get(json_array_get(list, 0), "message"));
}

static int first_item(const json_t *list) {
        return (int) json_integer_value(json_object_get(json_array_get(list, 0), "item"));
}

static void run_writes_repo_file(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"epel testing\": {"
                                "\"name\": \"Extra Packages - Testing\", "
                                "\"baseurl\": \"http://example.com/epel/testing/$basearch/\", "
                                "\"enabled\": false, \"gpgcheck\": true, "
                                "\"gpgkey\": [\"file:///etc/pki/one\", \"file:///etc/pki/two\"], "
                                "\"Skip-If-Unavailable\": 1, \"cost\": 1.5}}}");

        assert_int_equal(r, 1);
        assert_int_equal(error_count(state), 0);
        assert_file(state, "/etc/yum.repos.d/epel-testing.repo",
                    "# Created by kiln\n"
                    "[epel-testing]\n"
                    "name = Extra Packages - Testing\n"
                    "baseurl = http://example.com/epel/testing/$basearch/\n"
                    "enabled = 0\n"
                    "gpgcheck = 1\n"
                    "gpgkey = file:///etc/pki/one\n"
                    "\tfile:///etc/pki/two\n"
                    "skip_if_unavailable = 1\n"
                    "cost = 1.5\n"
                    "\n");
}

static void run_continues_multiline_value(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\\nhttp://b/\\n[evil]\"}}}");

        assert_int_equal(r, 1);
        assert_file(state, "/etc/yum.repos.d/r.repo",
                    "# Created by kiln\n[r]\nbaseurl = http://a/\n\thttp://b/\n\t[evil]\n\n");
}

static void run_accepts_metalink_only(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"fedora\": {\"metalink\": \"https://example.com/metalink\"}}}");

        assert_int_equal(r, 1);
        assert_file(state, "/etc/yum.repos.d/fedora.repo",
                    "# Created by kiln\n[fedora]\nmetalink = https://example.com/metalink\n\n");
}

static void run_keeps_existing_file(void **state) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "/etc/yum.repos.d/mine.repo", "old\n", 4, 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);

        assert_int_equal(run_text(state, "{\"yum_repos\": {\"mine\": {\"baseurl\": \"http://new/\"}}}"), 0);
        assert_file(state, "/etc/yum.repos.d/mine.repo", "old\n");
        assert_int_equal(error_count(state), 0);
}

static void run_second_time_changes_nothing(void **state) {
        const char *config = "{\"yum_repos\": {\"a\": {\"baseurl\": \"http://a/\"}}}";

        assert_int_equal(run_text(state, config), 1);
        assert_int_equal(run_text(state, config), 0);
        assert_int_equal(error_count(state), 0);
}

static void run_rejects_bad_id(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"../etc/passwd\": {\"baseurl\": \"http://a/\"}, "
                                "\"good\": {\"baseurl\": \"http://b/\"}}}");

        assert_int_equal(r, -EINVAL);
        assert_int_equal(error_count(state), 1);
        assert_int_equal(first_item(ctx_of(state)->errors), 0);
        assert_non_null(strstr(first_message(ctx_of(state)->errors), "'../etc/passwd'"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/yum.repos.d/good.repo"), 1);
}

static void run_rejects_repo_without_source(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"nowhere\": {\"name\": \"No source\", \"enabled\": true}}}");

        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(first_message(ctx_of(state)->errors), "baseurl, metalink and mirrorlist"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/yum.repos.d/nowhere.repo"), 0);
}

static void run_rejects_null_repo(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": {\"empty\": null}}"), -EINVAL);
        assert_int_equal(error_count(state), 1);
}

static void run_rejects_bad_option_name(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\", \"x = y\": 1}}}");

        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(first_message(ctx_of(state)->errors), "'x = y'"));
}

static void run_rejects_mapping_value(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": {\"r\": {\"baseurl\": {\"a\": 1}}}}"), -EINVAL);
        assert_int_equal(error_count(state), 1);
}

static void run_rejects_carriage_return(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\\r\"}}}"), -EINVAL);
        assert_int_equal(error_count(state), 1);
}

static void run_skips_null_option(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\", \"cost\": null}}}"), 1);
        assert_int_equal(warning_count(state), 1);
        assert_file(state, "/etc/yum.repos.d/r.repo", "# Created by kiln\n[r]\nbaseurl = http://a/\n\n");
}

static void run_skips_duplicate_file_name(void **state) {
        int r = run_text(state, "{\"yum_repos\": {\"my repo\": {\"baseurl\": \"http://a/\"}, "
                                "\"my-repo\": {\"baseurl\": \"http://b/\"}}}");

        assert_int_equal(r, 1);
        assert_int_equal(warning_count(state), 1);
        assert_int_equal(first_item(ctx_of(state)->warnings), 1);
        assert_file(state, "/etc/yum.repos.d/my-repo.repo", "# Created by kiln\n[my-repo]\nbaseurl = http://a/\n\n");
}

static void run_uses_yum_repo_dir(void **state) {
        int r = run_text(state, "{\"yum_repo_dir\": \"/store/repos\", \"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\"}}}");

        assert_int_equal(r, 1);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/store/repos/r.repo"), 1);
}

static void run_rejects_relative_yum_repo_dir(void **state) {
        int r = run_text(state, "{\"yum_repo_dir\": \"repos\", \"yum_repos\": {\"r\": {\"baseurl\": \"http://a/\"}}}");

        assert_int_equal(r, -EINVAL);
        assert_int_equal(error_count(state), 1);
}

static void run_rejects_list(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": [\"r\"]}"), -EINVAL);
        assert_int_equal(error_count(state), 1);
}

static void run_ignores_empty_mapping(void **state) {
        assert_int_equal(run_text(state, "{\"yum_repos\": {}}"), 0);
        assert_int_equal(error_count(state), 0);
        assert_int_equal(warning_count(state), 0);
}

typedef struct SchemaCount {
        unsigned errors;
        unsigned warnings;
} SchemaCount;

static void schema_count(const SchemaDiagnostic *d, void *userdata) {
        SchemaCount *c = userdata;

        if (d->problem == SCHEMA_ERROR)
                c->errors++;
        else
                c->warnings++;
}

static SchemaCount validate(const char *text) {
        json_t *config = json_loads(text, JSON_PRESERVE_ORDER, NULL);
        SchemaCount count = {};

        assert_non_null(config);
        assert_true(schema_check(config, NULL, 0, schema_count, &count) >= 0);
        json_decref(config);
        return count;
}

static void validate_accepts_repo(void **state) {
        SchemaCount c = validate("{\"yum_repos\": {\"epel\": {\"baseurl\": \"http://a/\", \"enabled\": true, "
                                 "\"priority\": 5}}, \"yum_repo_dir\": \"/etc/yum.repos.d\"}");

        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 0);
}

static void validate_rejects_bad_id(void **state) {
        SchemaCount c = validate("{\"yum_repos\": {\"a/b\": {\"baseurl\": \"http://a/\"}}}");

        assert_int_equal(c.errors, 1);
}

static void validate_rejects_repo_without_source(void **state) {
        SchemaCount c = validate("{\"yum_repos\": {\"a\": {\"name\": \"A\"}}}");

        assert_int_equal(c.errors, 1);
}

static void validate_warns_null_option(void **state) {
        SchemaCount c = validate("{\"yum_repos\": {\"a\": {\"baseurl\": \"http://a/\", \"cost\": null}}}");

        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(run_writes_repo_file, setup, teardown),
                cmocka_unit_test_setup_teardown(run_continues_multiline_value, setup, teardown),
                cmocka_unit_test_setup_teardown(run_accepts_metalink_only, setup, teardown),
                cmocka_unit_test_setup_teardown(run_keeps_existing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(run_second_time_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_bad_id, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_repo_without_source, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_null_repo, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_bad_option_name, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_mapping_value, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_carriage_return, setup, teardown),
                cmocka_unit_test_setup_teardown(run_skips_null_option, setup, teardown),
                cmocka_unit_test_setup_teardown(run_skips_duplicate_file_name, setup, teardown),
                cmocka_unit_test_setup_teardown(run_uses_yum_repo_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_relative_yum_repo_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_list, setup, teardown),
                cmocka_unit_test_setup_teardown(run_ignores_empty_mapping, setup, teardown),
                cmocka_unit_test(validate_accepts_repo),
                cmocka_unit_test(validate_rejects_bad_id),
                cmocka_unit_test(validate_rejects_repo_without_source),
                cmocka_unit_test(validate_warns_null_option),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
