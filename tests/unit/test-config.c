/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/config.c: kiln.yaml, its kiln.d drop-ins in name order, and --config. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
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

/* Write a file inside the root, creating its directories. */
static void root_write(void **state, const char *path, const char *text) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, text, strlen(text), 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static json_int_t config_integer(void **state, const char *section, const char *key) {
        json_t *v = json_get_path(ctx_of(state)->system_config, section, key, NULL);

        assert_true(json_is_integer(v));
        return json_integer_value(v);
}

static const char *first_error_message(void **state) {
        const json_t *error = json_array_get(ctx_of(state)->errors, 0);
        const char *m = json_string_value(json_object_get(error, "message"));

        assert_non_null(m);
        return m;
}

static const char base_yaml[] =
        "datasource_list: [ec2]\n"
        "ec2:\n"
        "  timeout: 5\n"
        "  retries: 3\n";

static const char dropin_a_yaml[] =
        "ec2:\n"
        "  timeout: 10\n"
        "  max_wait: 30\n";

static const char dropin_b_yaml[] =
        "ec2:\n"
        "  timeout: 20\n";

/* kiln.yaml plus two drop-ins, written in reverse name order so readdir order cannot help. */
static void write_layered_config(void **state) {
        root_write(state, "etc/kiln/kiln.d/20-b.yaml", dropin_b_yaml);
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", dropin_a_yaml);
        root_write(state, "etc/kiln/kiln.yaml", base_yaml);
}

static void config_load_no_files_gives_empty_object(void **state) {
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_true(json_is_object(ctx_of(state)->system_config));
        assert_int_equal(json_object_size(ctx_of(state)->system_config), 0);
}

static void config_load_creates_missing_system_config(void **state) {
        json_decref(ctx_of(state)->system_config);
        ctx_of(state)->system_config = NULL;
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_true(json_is_object(ctx_of(state)->system_config));
}

static void config_load_reads_kiln_yaml(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", base_yaml);
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "retries"), 3);
}

static void config_load_dropins_returns_zero(void **state) {
        write_layered_config(state);
        assert_int_equal(config_load(ctx_of(state)), 0);
}

static void config_load_dropins_later_name_wins(void **state) {
        write_layered_config(state);
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 20);
}

static void config_load_dropins_keep_base_keys(void **state) {
        write_layered_config(state);
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "retries"), 3);
}

static void config_load_dropins_keep_earlier_dropin_keys(void **state) {
        write_layered_config(state);
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "max_wait"), 30);
}

static void config_load_dropins_keep_top_level_keys(void **state) {
        json_t *list;

        write_layered_config(state);
        assert_int_equal(config_load(ctx_of(state)), 0);
        list = json_object_get(ctx_of(state)->system_config, "datasource_list");
        assert_true(json_is_array(list));
        assert_string_equal(json_string_value(json_array_get(list, 0)), "ec2");
}

static void config_load_dropin_list_replaces_list(void **state) {
        json_t *list;

        root_write(state, "etc/kiln/kiln.yaml", "datasource_list: [nocloud, ec2]\n");
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", "datasource_list: [ec2]\n");
        assert_int_equal(config_load(ctx_of(state)), 0);
        list = json_object_get(ctx_of(state)->system_config, "datasource_list");
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(json_string_value(json_array_get(list, 0)), "ec2");
}

static void config_load_dropins_without_kiln_yaml(void **state) {
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", dropin_a_yaml);
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 10);
}

static void config_load_ignores_other_suffixes(void **state) {
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", dropin_a_yaml);
        root_write(state, "etc/kiln/kiln.d/90-z.yaml.bak", "ec2:\n  timeout: 99\n");
        root_write(state, "etc/kiln/kiln.d/README", "not yaml: [\n");
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 10);
}

static void config_load_ignores_hidden_files(void **state) {
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", dropin_a_yaml);
        root_write(state, "etc/kiln/kiln.d/.90-z.yaml", "ec2:\n  timeout: 99\n");
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 10);
}

static void config_load_empty_file_is_no_config(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", "# nothing here yet\n");
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

/* A drop-in whose third line uses a tab for indentation, which YAML forbids. */
static void write_config_with_broken_dropin(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", base_yaml);
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", "ec2:\n  timeout: 10\n\tmax_wait: 30\n");
        root_write(state, "etc/kiln/kiln.d/20-b.yaml", "ec2:\n  max_wait: 60\n");
}

static void config_load_broken_file_returns_error(void **state) {
        write_config_with_broken_dropin(state);
        assert_true(config_load(ctx_of(state)) < 0);
}

static void config_load_broken_file_reported_once(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void config_load_broken_file_message_names_file(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_non_null(strstr(first_error_message(state), "/etc/kiln/kiln.d/10-a.yaml'"));
}

static void config_load_broken_file_message_has_line(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_non_null(strstr(first_error_message(state), "line 3"));
}

static void config_load_broken_file_contributes_nothing(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_int_equal(config_integer(state, "ec2", "timeout"), 5);
}

static void config_load_broken_file_later_files_load(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_int_equal(config_integer(state, "ec2", "max_wait"), 60);
}

static void config_load_broken_file_earlier_files_load(void **state) {
        write_config_with_broken_dropin(state);
        (void) config_load(ctx_of(state));
        assert_int_equal(config_integer(state, "ec2", "retries"), 3);
}

static void config_load_broken_kiln_yaml_dropins_load(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", "ec2:\n  timeout: [5\n");
        root_write(state, "etc/kiln/kiln.d/10-a.yaml", dropin_a_yaml);
        assert_true(config_load(ctx_of(state)) < 0);
        assert_int_equal(config_integer(state, "ec2", "max_wait"), 30);
}

static void config_load_not_mapping_reported(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", "- ec2\n- nocloud\n");
        assert_true(config_load(ctx_of(state)) < 0);
        assert_non_null(strstr(first_error_message(state), "/etc/kiln/kiln.yaml'"));
}

static void config_load_duplicate_key_warns(void **state) {
        root_write(state, "etc/kiln/kiln.yaml", "ec2:\n  timeout: 5\n  timeout: 7\n");
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 1);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 7);
}

/* Write ROOT/host/NAME and return its absolute host path. Resolved inside the root, that path
 * does not exist, so a successful load shows that --config is read as a host path. */
static void host_write(void **state, const char *name, const char *text, char *ret_path, size_t size) {
        char dir[PATH_MAX];
        FILE *f;

        assert_true(snprintf(dir, sizeof(dir), "%s/host", ((TestRoot *) *state)->path) > 0);
        (void) mkdir(dir, 0755);
        assert_true(snprintf(ret_path, size, "%s/%s", dir, name) > 0);
        f = fopen(ret_path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void config_load_config_file_reads_host_path(void **state) {
        char file[PATH_MAX];

        host_write(state, "image.yaml", "ec2:\n  timeout: 42\n", file, sizeof(file));
        ctx_of(state)->config_file = file;
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 42);
}

static void config_load_config_file_skips_root_config(void **state) {
        char file[PATH_MAX];

        write_layered_config(state);
        host_write(state, "image.yaml", "ec2:\n  timeout: 42\n", file, sizeof(file));
        ctx_of(state)->config_file = file;
        assert_int_equal(config_load(ctx_of(state)), 0);
        assert_null(json_get_path(ctx_of(state)->system_config, "ec2", "retries", NULL));
}

static void config_load_config_file_relative_path(void **state) {
        char file[PATH_MAX], cwd[PATH_MAX];
        int r;

        host_write(state, "image.yaml", "ec2:\n  timeout: 42\n", file, sizeof(file));
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(((TestRoot *) *state)->path), 0);
        ctx_of(state)->config_file = "host/image.yaml";
        r = config_load(ctx_of(state));
        assert_int_equal(chdir(cwd), 0);
        assert_int_equal(r, 0);
        assert_int_equal(config_integer(state, "ec2", "timeout"), 42);
}

static void config_load_config_file_missing_enoent(void **state) {
        ctx_of(state)->config_file = "/tmp/kiln-unit-no-such-dir/kiln.yaml";
        assert_int_equal(config_load(ctx_of(state)), -ENOENT);
        assert_non_null(strstr(first_error_message(state), "'/tmp/kiln-unit-no-such-dir/kiln.yaml'"));
}

static void config_load_config_file_broken_names_file(void **state) {
        char file[PATH_MAX], quoted[PATH_MAX + 2];

        host_write(state, "image.yaml", "ec2:\n  timeout: 1\n  timeout 2\n", file, sizeof(file));
        ctx_of(state)->config_file = file;
        assert_true(config_load(ctx_of(state)) < 0);
        assert_true(snprintf(quoted, sizeof(quoted), "'%s'", file) > 0);
        assert_non_null(strstr(first_error_message(state), quoted));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(config_load_no_files_gives_empty_object),
                T(config_load_creates_missing_system_config),
                T(config_load_reads_kiln_yaml),
                T(config_load_dropins_returns_zero),
                T(config_load_dropins_later_name_wins),
                T(config_load_dropins_keep_base_keys),
                T(config_load_dropins_keep_earlier_dropin_keys),
                T(config_load_dropins_keep_top_level_keys),
                T(config_load_dropin_list_replaces_list),
                T(config_load_dropins_without_kiln_yaml),
                T(config_load_ignores_other_suffixes),
                T(config_load_ignores_hidden_files),
                T(config_load_empty_file_is_no_config),
                T(config_load_broken_file_returns_error),
                T(config_load_broken_file_reported_once),
                T(config_load_broken_file_message_names_file),
                T(config_load_broken_file_message_has_line),
                T(config_load_broken_file_contributes_nothing),
                T(config_load_broken_file_later_files_load),
                T(config_load_broken_file_earlier_files_load),
                T(config_load_broken_kiln_yaml_dropins_load),
                T(config_load_not_mapping_reported),
                T(config_load_duplicate_key_warns),
                T(config_load_config_file_reads_host_path),
                T(config_load_config_file_skips_root_config),
                T(config_load_config_file_relative_path),
                T(config_load_config_file_missing_enoent),
                T(config_load_config_file_broken_names_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
