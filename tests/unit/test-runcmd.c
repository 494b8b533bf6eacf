/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/command.c and the runcmd, bootcmd and scripts_user modules: how command
 * items become argvs, and the modules run on a scratch root whose userland is busybox. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "test-helpers.h"

#define BUSYBOX "/bin/busybox"
#define TEST_INSTANCE_ID "i-0123456789abcdef0"

/* Parse a JSON literal that the test writes by hand. */
static json_t *json(const char *text) {
        json_error_t error;
        json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);

        if (!v)
                fail_msg("invalid test JSON '%s': %s", text, error.text);
        return v;
}

/* Convert the JSON item text and check the resulting argv. expected is NULL-terminated. */
static void assert_argv(const char *item_text, const char *const *expected) {
        json_t *item = json(item_text);
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        size_t i;

        assert_int_equal(command_argv_from_json(item, &argv, &reason), 0);
        assert_null(reason);
        for (i = 0; expected[i]; i++) {
                assert_non_null(argv[i]);
                assert_string_equal(argv[i], expected[i]);
        }
        assert_null(argv[i]);
        json_decref(item);
}

/* Convert the JSON item text, expect a rejection, and check that the reason contains each of the
 * NULL-terminated fragments. */
static void assert_rejected(const char *item_text, const char *const *fragments) {
        json_t *item = json(item_text);
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(command_argv_from_json(item, &argv, &reason), -EINVAL);
        assert_null(argv);
        assert_non_null(reason);
        for (size_t i = 0; fragments[i]; i++)
                if (!strstr(reason, fragments[i]))
                        fail_msg("reason '%s' lacks '%s'", reason, fragments[i]);
        json_decref(item);
}

static void command_argv_from_json_string_is_shell(void **state) {
        assert_argv("\"echo one > /run/b16-one\"",
                    (const char *[]) { "/bin/sh", "-c", "echo one > /run/b16-one", NULL });
}

static void command_argv_from_json_multiline_is_one_script(void **state) {
        assert_argv("\"for i in 1 2; do echo \\\"$i\\\" >> /run/b16-multi; done\\necho end\\n\"",
                    (const char *[]) { "/bin/sh", "-c",
                                       "for i in 1 2; do echo \"$i\" >> /run/b16-multi; done\necho end\n",
                                       NULL });
}

static void command_argv_from_json_list_is_argv(void **state) {
        assert_argv("[\"touch\", \"/run/b16 three\"]",
                    (const char *[]) { "touch", "/run/b16 three", NULL });
}

static void command_argv_from_json_list_numbers_stringified(void **state) {
        assert_argv("[\"echo\", 1, -42, 2.5, 1.0, 100.0, 0.1]",
                    (const char *[]) { "echo", "1", "-42", "2.5", "1.0", "100.0", "0.1", NULL });
}

static void command_argv_from_json_floats_as_python(void **state) {
        /* Python 3: str(1e15), str(1e16), str(1.5e16), str(0.0001), str(0.00001), str(1/3),
         * str(-0.0), str(1.7976931348623157e308), str(5e-324), str(12345678901234567.0). */
        assert_argv("[\"echo\", 1e15, 1e16, 1.5e16, 0.0001, 0.00001, 0.3333333333333333, -0.0, "
                    "1.7976931348623157e308, 5e-324, 12345678901234567.0]",
                    (const char *[]) { "echo", "1000000000000000.0", "1e+16", "1.5e+16", "0.0001",
                                       "1e-05", "0.3333333333333333", "-0.0",
                                       "1.7976931348623157e+308", "5e-324", "1.2345678901234568e+16",
                                       NULL });
}

static void command_argv_from_json_empty_string_allowed(void **state) {
        assert_argv("\"\"", (const char *[]) { "/bin/sh", "-c", "", NULL });
}

static void command_argv_from_json_mapping_rejected(void **state) {
        assert_rejected("{\"echo Status\": \"ok > /run/b15-a\"}",
                        (const char *[]) { "is a mapping", "{\"echo Status\":\"ok > /run/b15-a\"}",
                                           "': '", "quote", NULL });
}

static void command_argv_from_json_boolean_rejected(void **state) {
        assert_rejected("false", (const char *[]) { "YAML boolean false", "- \"false\"", NULL });
}

static void command_argv_from_json_true_rejected(void **state) {
        assert_rejected("true", (const char *[]) { "YAML boolean true", "- \"true\"", NULL });
}

static void command_argv_from_json_null_rejected(void **state) {
        assert_rejected("null", (const char *[]) { "is null", "comment", NULL });
}

static void command_argv_from_json_number_rejected(void **state) {
        assert_rejected("42", (const char *[]) { "the number 42", "Quote", NULL });
}

static void command_argv_from_json_empty_command_name_rejected(void **state) {
        assert_rejected("[\"\"]", (const char *[]) { "empty string as element [0]", "names no command", NULL });
        assert_rejected("[\"\", \"-c\", \"true\"]", (const char *[]) { "empty string as element [0]", NULL });
}

static void command_argv_from_json_empty_argument_allowed(void **state) {
        assert_argv("[\"echo\", \"\"]", (const char *[]) { "echo", "", NULL });
}

static void command_argv_from_json_nested_list_rejected(void **state) {
        assert_rejected("[\"echo\", [\"nested\"]]", (const char *[]) { "a list as element [1]", NULL });
}

static void command_argv_from_json_empty_list_rejected(void **state) {
        assert_rejected("[]", (const char *[]) { "empty list", NULL });
}

static void command_argv_from_json_boolean_element_rejected(void **state) {
        assert_rejected("[\"echo\", true]",
                        (const char *[]) { "YAML boolean true as element [1]", "\"true\"", NULL });
}

static void command_argv_from_json_null_element_rejected(void **state) {
        assert_rejected("[\"echo\", null]", (const char *[]) { "null as element [1]", NULL });
}

static void command_argv_from_json_mapping_element_rejected(void **state) {
        assert_rejected("[\"echo\", {\"url\": \"https://example.com\"}]",
                        (const char *[]) { "mapping as element [1]", "{\"url\":\"https://example.com\"}",
                                           NULL });
}

static void command_argv_from_json_nul_byte_rejected(void **state) {
        assert_rejected("\"echo a\\u0000b\"", (const char *[]) { "NUL byte", NULL });
}

static void command_argv_from_json_nul_byte_element_rejected(void **state) {
        assert_rejected("[\"echo\", \"a\\u0000b\"]", (const char *[]) { "NUL byte in element [1]", NULL });
}

static void command_argv_from_json_long_mapping_shortened(void **state) {
        char text[1024];
        json_t *item;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;

        snprintf(text, sizeof(text), "{\"echo %0500d\": \"x\"}", 0);
        item = json(text);
        assert_int_equal(command_argv_from_json(item, &argv, &reason), -EINVAL);
        assert_non_null(strstr(reason, "..."));
        assert_true(strlen(reason) < 500);
        json_decref(item);
}

/* A scratch root whose userland is Debian's static busybox. Skips the test without it. */
static TestRoot *busybox_root_new(void) {
        static const char *const applets[] = { "sh", "touch", "echo", "cat", "test", "env", "false" };
        static const char *const dirs[] = { "bin", "run", "var", "var/log" };
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        char path[PATH_MAX], buf[65536];
        TestRoot *t;
        ssize_t n;

        src = open(BUSYBOX, O_RDONLY | O_CLOEXEC);
        if (src < 0)
                skip();

        t = test_root_new();
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(path, sizeof(path), "%s/%s", t->path, dirs[i]);
                assert_int_equal(mkdir(path, 0755), 0);
        }

        snprintf(path, sizeof(path), "%s/bin/busybox", t->path);
        dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        assert_true(dst >= 0);
        while ((n = read(src, buf, sizeof(buf))) > 0)
                assert_int_equal(write(dst, buf, (size_t) n), n);
        assert_int_equal(n, 0);

        for (size_t i = 0; i < ELEMENTSOF(applets); i++) {
                snprintf(path, sizeof(path), "%s/bin/%s", t->path, applets[i]);
                assert_int_equal(symlink("busybox", path), 0);
        }
        return t;
}

/* Parts as the user-data decoder leaves them. */
static void set_parts(TestRoot *t, const Part *parts, size_t n) {
        t->ctx.parts = calloc(n, sizeof(Part));
        assert_non_null(t->ctx.parts);
        for (size_t i = 0; i < n; i++) {
                t->ctx.parts[i] = parts[i];
                t->ctx.parts[i].name = strdup(parts[i].name);
                t->ctx.parts[i].data = strdup(parts[i].data);
                t->ctx.parts[i].size = strlen(parts[i].data);
        }
        t->ctx.n_parts = n;
}

static void free_parts(TestRoot *t) {
        for (size_t i = 0; i < t->ctx.n_parts; i++) {
                free(t->ctx.parts[i].name);
                free(t->ctx.parts[i].data);
        }
        free(t->ctx.parts);
        t->ctx.parts = NULL;
        t->ctx.n_parts = 0;
}

static int setup(void **state) {
        *state = NULL;
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        if (t) {
                free_parts(t);
                instance_free(t->ctx.instance);
                json_decref(t->ctx.config_positions);
                test_root_free(t);
        }
        return 0;
}

/* A busybox root for the test, with the config (JSON text) as the effective cloud-config. */
static TestRoot *module_root_new(void **state, const char *config_text) {
        TestRoot *t = busybox_root_new();

        *state = t;
        json_decref(t->ctx.config);
        t->ctx.config = json(config_text);
        t->ctx.instance = instance_new();
        assert_non_null(t->ctx.instance);
        t->ctx.instance->instance_id = strdup(TEST_INSTANCE_ID);
        assert_non_null(t->ctx.instance->instance_id);
        return t;
}

/* The content of a file inside the root, or NULL when it is missing. Caller frees. */
static char *root_file(const TestRoot *t, const char *path) {
        char full[PATH_MAX], *data = NULL;
        size_t size = 0;
        FILE *f;

        snprintf(full, sizeof(full), "%s%s", t->path, path);
        f = fopen(full, "re");
        if (!f)
                return NULL;
        assert_true(getdelim(&data, &size, '\0', f) >= 0 || feof(f));
        assert_int_equal(fclose(f), 0);
        return data ?: strdup("");
}

static bool root_file_exists(const TestRoot *t, const char *path) {
        char full[PATH_MAX];

        snprintf(full, sizeof(full), "%s%s", t->path, path);
        return access(full, F_OK) == 0;
}

static void assert_root_file(const TestRoot *t, const char *path, const char *expected) {
        _cleanup_free_ char *data = root_file(t, path);

        if (!data)
                fail_msg("'%s' is missing", path);
        assert_string_equal(data, expected);
}

static const char *error_message(const TestRoot *t, size_t index) {
        return json_string_value(json_object_get(json_array_get(t->ctx.errors, index), "message"));
}

static json_int_t error_item(const TestRoot *t, size_t index) {
        return json_integer_value(json_object_get(json_array_get(t->ctx.errors, index), "item"));
}

static const char b16_config[] =
        "{\"runcmd\": ["
        "\"echo one > /run/b16-one\", "
        "[\"sh\", \"-c\", \"echo \\\"two words\\\" > /run/b16-two\"], "
        "[\"touch\", \"/run/b16 three\"], "
        "\"sh -c 'exit 3'\", "
        "\"echo after > /run/b16-after\", "
        "\"for i in 1 2; do echo \\\"$i\\\" >> /run/b16-multi; done\\n\""
        "]}";

static void runcmd_items_run_in_order(void **state) {
        TestRoot *t = module_root_new(state, b16_config);

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_root_file(t, "/run/b16-one", "one\n");
        assert_root_file(t, "/run/b16-two", "two words\n");
        assert_true(root_file_exists(t, "/run/b16 three"));
        assert_root_file(t, "/run/b16-after", "after\n");
        assert_root_file(t, "/run/b16-multi", "1\n2\n");
}

static void runcmd_failed_item_reported(void **state) {
        TestRoot *t = module_root_new(state, b16_config);

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_int_equal(error_item(t, 0), 3);
        assert_string_equal(error_message(t, 0), "runcmd[3] exited with 3.");
}

static void runcmd_stderr_first_line_reported(void **state) {
        TestRoot *t = module_root_new(state,
                                      "{\"runcmd\": [\"echo first >&2; echo second >&2; exit 2\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "runcmd[0] exited with 2: first");
}

static void runcmd_stderr_warning_skipped(void **state) {
        TestRoot *t = module_root_new(state,
                                      "{\"runcmd\": [\"echo 'useradd: Warning: missing or non-executable shell' >&2; "
                                      "echo 'useradd: group oops does not exist' >&2; exit 6\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "runcmd[0] exited with 6: useradd: group oops does not exist");
}

static void runcmd_stderr_only_warnings_first_shown(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"echo; echo 'W: one' >&2; echo 'W: two' >&2; exit 1\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "runcmd[0] exited with 1: W: one");
}

static void runcmd_stderr_made_printable(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"printf 'bad \\\\377\\\\033 end\\\\r\\\\n' >&2; exit 1\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "runcmd[0] exited with 1: bad ?? end");
}

static void runcmd_not_found_reported(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [[\"kiln-no-such-command\", \"x\"]]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_string_equal(error_message(t, 0),
                            "runcmd[0] exited with 127: kiln: kiln-no-such-command: not found");
}

static void runcmd_signal_reported(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [[\"sh\", \"-c\", \"kill -SEGV $$\"]]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "runcmd[0] was killed by signal 11 (SIGSEGV).");
}

static void runcmd_empty_command_name_runs_nothing(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"touch /run/first\", [\"\"]]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_false(root_file_exists(t, "/run/first"));
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_int_equal(error_item(t, 0), 1);
        assert_string_equal(error_message(t, 0),
                            "runcmd[1] has an empty string as element [0], which names no command. "
                            "Put the command's name or path first.");
}

static void runcmd_success_returns_changed(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"touch /run/ok\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 1);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_true(root_file_exists(t, "/run/ok"));
}

static void runcmd_output_logged(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"echo to-stdout; echo to-stderr >&2\"]}");
        _cleanup_free_ char *log = NULL;
        char path[PATH_MAX];
        struct stat st;

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 1);
        log = root_file(t, "/var/log/kiln-output.log");
        assert_non_null(log);
        assert_non_null(strstr(log, "to-stdout\n"));
        assert_non_null(strstr(log, "to-stderr\n"));

        snprintf(path, sizeof(path), "%s/var/log/kiln-output.log", t->path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
}

static void runcmd_output_log_parents_created(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [\"echo hi\"]}");
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/var/log", t->path);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 1);
        assert_true(root_file_exists(t, "/var/log/kiln-output.log"));
}

static void runcmd_mapping_runs_nothing(void **state) {
        TestRoot *t = module_root_new(state,
                                      "{\"runcmd\": [{\"echo Status\": \"ok > /run/b15-a\"}, "
                                      "\"touch /run/b15-a2\"]}");

        t->ctx.config_positions = json("{\"/runcmd\": 2, \"/runcmd/0\": 3, \"/runcmd/1\": 4}");
        assert_true(module_runcmd.run(&t->ctx, t->ctx.config) < 0);
        assert_false(root_file_exists(t, "/run/b15-a"));
        assert_false(root_file_exists(t, "/run/b15-a2"));
}

static void runcmd_mapping_reported(void **state) {
        TestRoot *t = module_root_new(state,
                                      "{\"runcmd\": [{\"echo Status\": \"ok > /run/b15-a\"}, "
                                      "\"touch /run/b15-a2\"]}");

        t->ctx.config_positions = json("{\"/runcmd\": 2, \"/runcmd/0\": 3, \"/runcmd/1\": 4}");
        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_int_equal(error_item(t, 0), 0);
        assert_string_equal(error_message(t, 0),
                            "runcmd[0] at line 3 is a mapping, not a command: "
                            "{\"echo Status\":\"ok > /run/b15-a\"}. An unquoted ': ' turns an item into "
                            "a mapping, so quote the whole command.");
}

static void runcmd_quoted_colon_runs(void **state) {
        TestRoot *t = module_root_new(state,
                                      "{\"runcmd\": [\"echo 'Status: ok' > /run/b15-b\", "
                                      "[\"sh\", \"-c\", \"echo 'url: https://example.com/x' > /run/b15-b2\"]]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 1);
        assert_root_file(t, "/run/b15-b", "Status: ok\n");
        assert_root_file(t, "/run/b15-b2", "url: https://example.com/x\n");
}

static void runcmd_boolean_runs_nothing(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [false, \"touch /run/after-false\"]}");

        t->ctx.config_positions = json("{\"/runcmd/0\": 4}");
        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_false(root_file_exists(t, "/run/after-false"));
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_non_null(strstr(error_message(t, 0), "runcmd[0] at line 4 is the YAML boolean false"));
        assert_non_null(strstr(error_message(t, 0), "- \"false\""));
}

static void runcmd_every_invalid_item_reported(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [null, \"true\", 7, [\"echo\", [1]]]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_int_equal(json_array_size(t->ctx.errors), 2);
        assert_int_equal(error_item(t, 0), 2);
        assert_int_equal(error_item(t, 1), 3);
        /* Without positions no line is named. */
        assert_non_null(strstr(error_message(t, 0), "runcmd[2] is the number 7"));
}

static void runcmd_null_item_skipped_with_warning(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": [null, \"touch /run/after-null\"]}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 1);
        assert_true(root_file_exists(t, "/run/after-null"));
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(t->ctx.warnings, 0), "message")),
                               "runcmd[0] is empty (null), skipping it"));
}

static void runcmd_null_does_nothing(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": null}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 0);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
}

static void runcmd_empty_list_does_nothing(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": []}");

        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), 0);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_false(root_file_exists(t, "/var/log/kiln-output.log"));
}

static void runcmd_not_a_list_rejected(void **state) {
        TestRoot *t = module_root_new(state, "{\"runcmd\": \"touch /run/string\"}");

        t->ctx.config_positions = json("{\"/runcmd\": 2}");
        assert_int_equal(module_runcmd.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_false(root_file_exists(t, "/run/string"));
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0),
                            "runcmd at line 2 must be a list of commands, not a string. Write each "
                            "command as a list item, '- command'.");
}

static void runcmd_descriptor_matches(void **state) {
        assert_string_equal(module_runcmd.name, "runcmd");
        assert_string_equal(module_runcmd.config_keys[0], "runcmd");
        assert_null(module_runcmd.config_keys[1]);
        assert_int_equal(module_runcmd.frequency, FREQUENCY_PER_INSTANCE);
}

static void bootcmd_descriptor_matches(void **state) {
        assert_string_equal(module_bootcmd.name, "bootcmd");
        assert_string_equal(module_bootcmd.config_keys[0], "bootcmd");
        assert_null(module_bootcmd.config_keys[1]);
        assert_int_equal(module_bootcmd.frequency, FREQUENCY_PER_BOOT);
}

static void bootcmd_instance_id_set(void **state) {
        TestRoot *t = module_root_new(state, "{\"bootcmd\": [\"echo $INSTANCE_ID > /run/iid\"]}");

        assert_int_equal(module_bootcmd.run(&t->ctx, t->ctx.config), 1);
        assert_root_file(t, "/run/iid", TEST_INSTANCE_ID "\n");
}

static void bootcmd_failure_names_bootcmd(void **state) {
        TestRoot *t = module_root_new(state, "{\"bootcmd\": [\"exit 1\"], \"runcmd\": [\"exit 2\"]}");

        assert_int_equal(module_bootcmd.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(error_message(t, 0), "bootcmd[0] exited with 1.");
}

#define SCRIPT_DIR "/var/lib/kiln/instances/" TEST_INSTANCE_ID "/scripts/"

static const char utf8_script[] = "#!/bin/sh\n# Gr\xc3\xb6\xc3\x9f" "e\necho \"h\xc3\xa9llo $INSTANCE_ID\" > /run/s1\n";

static void scripts_user_scripts_run(void **state) {
        TestRoot *t = module_root_new(state, "{}");
        const Part parts[] = {
                { .type = PART_SCRIPT, .name = "part-001", .data = (char *) utf8_script },
                { .type = PART_CLOUD_CONFIG, .name = "part-002", .data = "#cloud-config\nruncmd: []\n" },
                { .type = PART_SCRIPT, .name = "part-003", .data = "#!/bin/sh\necho two > /run/s3\n" },
        };

        set_parts(t, parts, ELEMENTSOF(parts));
        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), 1);
        assert_root_file(t, "/run/s1", "h\xc3\xa9llo " TEST_INSTANCE_ID "\n");
        assert_root_file(t, "/run/s3", "two\n");
        assert_false(root_file_exists(t, SCRIPT_DIR "part-002"));
}

static void scripts_user_script_stored_unchanged(void **state) {
        TestRoot *t = module_root_new(state, "{}");
        const Part parts[] = {
                { .type = PART_SCRIPT, .name = "part-001", .data = (char *) utf8_script },
        };
        _cleanup_free_ char *stored = NULL;
        char path[PATH_MAX];
        struct stat st;

        set_parts(t, parts, ELEMENTSOF(parts));
        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), 1);

        stored = root_file(t, SCRIPT_DIR "part-001");
        assert_non_null(stored);
        assert_string_equal(stored, utf8_script);

        snprintf(path, sizeof(path), "%s" SCRIPT_DIR "part-001", t->path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
}

static void scripts_user_failure_names_part(void **state) {
        TestRoot *t = module_root_new(state, "{}");
        const Part parts[] = {
                { .type = PART_CLOUD_CONFIG, .name = "part-001", .data = "#cloud-config\n" },
                { .type = PART_SCRIPT, .name = "part-002", .data = "#!/bin/sh\necho broken >&2\nexit 4\n" },
                { .type = PART_SCRIPT, .name = "part-003", .data = "#!/bin/sh\ntouch /run/later\n" },
        };

        set_parts(t, parts, ELEMENTSOF(parts));
        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), -EIO);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_int_equal(error_item(t, 0), 0);
        assert_string_equal(error_message(t, 0), "script 'part-002' exited with 4: broken");
        assert_true(root_file_exists(t, "/run/later"));
}

static void scripts_user_other_script_kinds_ignored(void **state) {
        TestRoot *t = module_root_new(state, "{}");
        const Part parts[] = {
                { .type = PART_SCRIPT_PER_BOOT, .name = "part-001", .data = "#!/bin/sh\ntouch /run/pb\n" },
                { .type = PART_BOOTHOOK, .name = "part-002", .data = "#!/bin/sh\ntouch /run/bh\n" },
        };

        set_parts(t, parts, ELEMENTSOF(parts));
        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), 0);
        assert_false(root_file_exists(t, "/run/pb"));
        assert_false(root_file_exists(t, "/run/bh"));
}

static void scripts_user_no_scripts_does_nothing(void **state) {
        TestRoot *t = module_root_new(state, "{}");

        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), 0);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
}

static void scripts_user_unsafe_instance_id_rejected(void **state) {
        TestRoot *t = module_root_new(state, "{}");
        const Part parts[] = {
                { .type = PART_SCRIPT, .name = "part-001", .data = "#!/bin/sh\ntouch /run/s\n" },
        };

        free(t->ctx.instance->instance_id);
        t->ctx.instance->instance_id = strdup("../escape");
        set_parts(t, parts, ELEMENTSOF(parts));
        assert_int_equal(module_scripts_user.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_false(root_file_exists(t, "/run/s"));
}


/* ---- The output relay: kiln-output.log and the journal ---- */

/* The path where sd_journal_send() writes, fixed in libsystemd. The relay tests run in a private
 * mount namespace with a tmpfs on /run, so they never reach the host's journal. */
#define TEST_JOURNAL_DIR "/run/systemd/journal"
#define TEST_JOURNAL_SOCKET TEST_JOURNAL_DIR "/socket"
#define TEST_JOURNAL_END "KILN_TEST_END"
#define TEST_DATAGRAM_MAX (128U * 1024U)

typedef struct RelayCapture {
        char dir[64];
        char *copy;              /* what the relay appended to the copy file */
        size_t copy_size;
        char *err;               /* what the relay wrote to stderr */
        size_t err_size;
        char *datagrams;         /* the journal datagrams, each as a 4-byte length and its bytes */
        size_t datagrams_size;
} RelayCapture;

static void relay_capture_done(RelayCapture *c) {
        char cmd[128];

        free(c->copy);
        free(c->err);
        free(c->datagrams);
        (void) snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", c->dir);
        (void) !system(cmd);
}

static char *slurp(const char *dir, const char *name, size_t *ret_size) {
        char path[128];
        FILE *f;
        char *data;
        long n;

        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "re");
        if (!f) {
                *ret_size = 0;
                return strdup("");
        }
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        rewind(f);
        data = calloc(1, (size_t) n + 1);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        *ret_size = (size_t) n;
        return data;
}

/* The fake journald: record every datagram on fd into out until the end marker arrives. */
_noreturn_ static void journal_listener(int fd, int out) {
        static char buf[TEST_DATAGRAM_MAX];

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                uint32_t len;

                if (n < 0)
                        _exit(EXIT_FAILURE);
                if ((size_t) n == strlen(TEST_JOURNAL_END) && memcmp(buf, TEST_JOURNAL_END, (size_t) n) == 0)
                        _exit(EXIT_SUCCESS);
                len = (uint32_t) n;
                if (write(out, &len, sizeof(len)) != sizeof(len) || write(out, buf, (size_t) n) != n)
                        _exit(EXIT_FAILURE);
        }
}

/* The test's child process: a private /run, the fake journal when journal is set, then a relay
 * for `sh -c script` named runcmd[0]. */
_noreturn_ static void relay_child(const char *dir, const char *script, bool journal) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = TEST_JOURNAL_SOCKET };
        char path[128];
        int copy_fd, err_fd, sock = -1, status;
        pid_t listener = 0, producer;
        LogRelay relay;

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0)
                _exit(77);

        if (journal) {
                (void) snprintf(path, sizeof(path), "%s/datagrams", dir);
                if (mkdir("/run/systemd", 0755) < 0 || mkdir(TEST_JOURNAL_DIR, 0755) < 0)
                        _exit(EXIT_FAILURE);
                sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (sock < 0 || bind(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        _exit(EXIT_FAILURE);
                listener = fork();
                if (listener == 0)
                        journal_listener(sock, open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        }

        (void) snprintf(path, sizeof(path), "%s/copy", dir);
        copy_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        (void) snprintf(path, sizeof(path), "%s/stderr", dir);
        err_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (copy_fd < 0 || err_fd < 0 || dup2(err_fd, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);

        log_set_module("runcmd");
        log_set_instance_id("i-0123456789abcdef0");
        if (log_relay_start("runcmd[0]", copy_fd, &relay) < 0)
                _exit(EXIT_FAILURE);

        producer = fork();
        if (producer == 0) {
                if (dup2(relay.write_fd, STDOUT_FILENO) < 0 || dup2(relay.write_fd, STDERR_FILENO) < 0)
                        _exit(EXIT_FAILURE);
                execl("/bin/sh", "sh", "-c", script, (char *) NULL);
                _exit(127);
        }
        if (producer < 0 || waitpid(producer, &status, 0) < 0)
                _exit(EXIT_FAILURE);
        if (log_relay_finish(&relay, 10 * USEC_PER_SEC) != 1)
                _exit(EXIT_FAILURE);

        if (journal) {
                int end = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

                if (sendto(end, TEST_JOURNAL_END, strlen(TEST_JOURNAL_END), 0, (struct sockaddr *) &sa,
                           sizeof(sa)) < 0 || waitpid(listener, &status, 0) < 0 || status != 0)
                        _exit(EXIT_FAILURE);
        }
        _exit(EXIT_SUCCESS);
}

static void relay_capture(const char *script, bool journal, RelayCapture *ret) {
        pid_t pid;
        int status;

        *ret = (RelayCapture) {};
        strcpy(ret->dir, "/tmp/kiln-relay-XXXXXX");
        assert_non_null(mkdtemp(ret->dir));

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                relay_child(ret->dir, script, journal);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(status, 0);

        ret->copy = slurp(ret->dir, "copy", &ret->copy_size);
        ret->err = slurp(ret->dir, "stderr", &ret->err_size);
        ret->datagrams = slurp(ret->dir, "datagrams", &ret->datagrams_size);
}

static size_t datagram_count(const RelayCapture *c) {
        size_t n = 0;

        for (size_t off = 0; off + 4 <= c->datagrams_size; n++) {
                uint32_t len;

                memcpy(&len, c->datagrams + off, 4);
                off += 4 + len;
        }
        return n;
}

/* The value of field in datagram index, as journald's native protocol carries it: "KEY=VALUE\n",
 * or "KEY\n", a 64-bit little-endian length, the bytes and "\n". NULL when the field is missing. */
static char *datagram_field(const RelayCapture *c, size_t index, const char *field, size_t *ret_size) {
        const char *d = c->datagrams, *end;
        size_t off = 0, key_len = strlen(field);
        uint32_t len;

        for (size_t i = 0; i < index; i++) {
                memcpy(&len, d + off, 4);
                off += 4 + len;
        }
        memcpy(&len, d + off, 4);
        d += off + 4;
        end = d + len;

        while (d < end) {
                const char *nl = memchr(d, '\n', (size_t) (end - d)), *eq = memchr(d, '=', (size_t) ((nl ?: end) - d));
                uint64_t size;

                assert_non_null(nl);
                if (eq) {
                        if ((size_t) (eq - d) == key_len && memcmp(d, field, key_len) == 0) {
                                char *v = calloc(1, (size_t) (nl - eq));

                                assert_non_null(v);
                                *ret_size = (size_t) (nl - eq - 1);
                                memcpy(v, eq + 1, *ret_size);
                                return v;
                        }
                        d = nl + 1;
                        continue;
                }
                memcpy(&size, nl + 1, 8);
                if ((size_t) (nl - d) == key_len && memcmp(d, field, key_len) == 0) {
                        char *v = malloc(size + 1);

                        assert_non_null(v);
                        memcpy(v, nl + 9, size);
                        v[size] = '\0';
                        *ret_size = size;
                        return v;
                }
                d = nl + 9 + size + 1;
        }
        return NULL;
}

static void assert_field(const RelayCapture *c, size_t index, const char *field, const char *expected) {
        _cleanup_free_ char *v = NULL;
        size_t size = 0;

        v = datagram_field(c, index, field, &size);
        if (!v)
                fail_msg("entry %zu has no %s", index, field);
        assert_string_equal(v, expected);
        assert_int_equal(size, strlen(expected));
}

static void log_relay_lines_to_journal(void **state) {
        _cleanup_(relay_capture_done) RelayCapture c = {};

        (void) state;
        relay_capture("echo out; echo err >&2; printf last", true, &c);

        assert_int_equal(datagram_count(&c), 3);
        assert_field(&c, 0, "MESSAGE", "out");
        assert_field(&c, 1, "MESSAGE", "err");
        assert_field(&c, 2, "MESSAGE", "last");
        assert_field(&c, 0, "SYSLOG_IDENTIFIER", "kiln-output");
        assert_field(&c, 0, "PRIORITY", "6");
        assert_field(&c, 1, "PRIORITY", "6");
        assert_field(&c, 0, "KILN_COMMAND", "runcmd[0]");
        assert_field(&c, 0, "KILN_MODULE", "runcmd");
        assert_field(&c, 0, "KILN_INSTANCE_ID", "i-0123456789abcdef0");
        assert_string_equal(c.copy, "out\nerr\nlast");
        assert_int_equal(c.err_size, 0);
}

static void log_relay_burst_no_deadlock(void **state) {
        _cleanup_(relay_capture_done) RelayCapture c = {};
        size_t total = 0;

        (void) state;
        /* 1 MiB without a newline, more than any pipe buffer holds. */
        relay_capture("head -c 1048576 /dev/zero | tr '\\000' a", true, &c);

        assert_int_equal(c.copy_size, 1048576);
        assert_int_equal(datagram_count(&c), 1048576 / LOG_OUTPUT_LINE_MAX);
        for (size_t i = 0; i < datagram_count(&c); i++) {
                _cleanup_free_ char *v = NULL;
                size_t size = 0;

                v = datagram_field(&c, i, "MESSAGE", &size);
                assert_non_null(v);
                assert_int_equal(size, LOG_OUTPUT_LINE_MAX);
                total += size;
        }
        assert_int_equal(total, 1048576);
}

static void log_relay_binary_bytes_kept(void **state) {
        _cleanup_(relay_capture_done) RelayCapture c = {};
        _cleanup_free_ char *v = NULL;
        size_t size = 0;

        (void) state;
        relay_capture("printf 'a\\001\\377\\376\\000b\\n'", true, &c);

        assert_int_equal(c.copy_size, 7);
        assert_memory_equal(c.copy, "a\001\377\376\000b\n", 7);
        assert_int_equal(datagram_count(&c), 1);
        v = datagram_field(&c, 0, "MESSAGE", &size);
        assert_non_null(v);
        assert_int_equal(size, 6);
        assert_memory_equal(v, "a\001\377\376\000b", 6);
}

static void log_relay_without_journal_to_stderr(void **state) {
        _cleanup_(relay_capture_done) RelayCapture c = {};

        (void) state;
        relay_capture("echo out; printf 'no newline'", false, &c);

        assert_string_equal(c.err, "kiln-output: runcmd[0]: out\nkiln-output: runcmd[0]: no newline\n");
        assert_string_equal(c.copy, "out\nno newline");
        assert_int_equal(c.datagrams_size, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(log_relay_lines_to_journal),
                cmocka_unit_test(log_relay_burst_no_deadlock),
                cmocka_unit_test(log_relay_binary_bytes_kept),
                cmocka_unit_test(log_relay_without_journal_to_stderr),
                cmocka_unit_test(command_argv_from_json_string_is_shell),
                cmocka_unit_test(command_argv_from_json_multiline_is_one_script),
                cmocka_unit_test(command_argv_from_json_list_is_argv),
                cmocka_unit_test(command_argv_from_json_list_numbers_stringified),
                cmocka_unit_test(command_argv_from_json_floats_as_python),
                cmocka_unit_test(command_argv_from_json_empty_string_allowed),
                cmocka_unit_test(command_argv_from_json_mapping_rejected),
                cmocka_unit_test(command_argv_from_json_boolean_rejected),
                cmocka_unit_test(command_argv_from_json_true_rejected),
                cmocka_unit_test(command_argv_from_json_null_rejected),
                cmocka_unit_test(command_argv_from_json_number_rejected),
                cmocka_unit_test(command_argv_from_json_empty_command_name_rejected),
                cmocka_unit_test(command_argv_from_json_empty_argument_allowed),
                cmocka_unit_test(command_argv_from_json_nested_list_rejected),
                cmocka_unit_test(command_argv_from_json_empty_list_rejected),
                cmocka_unit_test(command_argv_from_json_boolean_element_rejected),
                cmocka_unit_test(command_argv_from_json_null_element_rejected),
                cmocka_unit_test(command_argv_from_json_mapping_element_rejected),
                cmocka_unit_test(command_argv_from_json_nul_byte_rejected),
                cmocka_unit_test(command_argv_from_json_nul_byte_element_rejected),
                cmocka_unit_test(command_argv_from_json_long_mapping_shortened),
                cmocka_unit_test_setup_teardown(runcmd_items_run_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_failed_item_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_stderr_first_line_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_stderr_warning_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_stderr_only_warnings_first_shown, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_stderr_made_printable, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_not_found_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_signal_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_empty_command_name_runs_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_success_returns_changed, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_output_logged, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_output_log_parents_created, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_mapping_runs_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_mapping_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_quoted_colon_runs, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_boolean_runs_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_null_item_skipped_with_warning, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_every_invalid_item_reported, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_null_does_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_empty_list_does_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(runcmd_not_a_list_rejected, setup, teardown),
                cmocka_unit_test(runcmd_descriptor_matches),
                cmocka_unit_test(bootcmd_descriptor_matches),
                cmocka_unit_test_setup_teardown(bootcmd_instance_id_set, setup, teardown),
                cmocka_unit_test_setup_teardown(bootcmd_failure_names_bootcmd, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_scripts_run, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_script_stored_unchanged, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_failure_names_part, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_other_script_kinds_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_no_scripts_does_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(scripts_user_unsafe_instance_id_rejected, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
