/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/plugin.c and the plugin part of agent/runner.c: parsing `describe` output,
 * rejecting names and keys that kiln owns, placing plugins in the run order, the input document,
 * and the built-in module table of modules/README.md. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "modules/module.h"
#include "plugin.h"
#include "runner.h"
#include "test-helpers.h"

#define PLUGIN_PATH "/usr/lib/kiln/modules.d/test"

/* Parse text. On failure *ret_reason is the reason, which the caller frees. */
static int parse(const char *text, Plugin *ret, char **ret_reason) {
        *ret_reason = NULL;
        return plugin_parse_description(PLUGIN_PATH, text, strlen(text), ret, ret_reason);
}

/* Assert that text is rejected with a reason that contains expected. */
static void assert_rejected(const char *text, const char *expected) {
        _cleanup_(plugin_done) Plugin p = {};
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(parse(text, &p, &reason), -EINVAL);
        assert_non_null(reason);
        if (!strstr(reason, expected))
                fail_msg("reason '%s' does not contain '%s'", reason, expected);
}

static void plugin_parse_description_full(void **state) {
        _cleanup_(plugin_done) Plugin p = {};
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(parse("{\"protocol\": 1, \"name\": \"motd\", \"keys\": [\"example_motd\", \"motd_extra\"], "
                               "\"frequency\": \"per-boot\", \"after\": [\"write_files\"], \"timeout\": 20, "
                               "\"description\": \"Writes /etc/motd.\"}", &p, &reason), 0);
        assert_string_equal(p.path, PLUGIN_PATH);
        assert_string_equal(p.name, "motd");
        assert_string_equal(p.keys[0], "example_motd");
        assert_string_equal(p.keys[1], "motd_extra");
        assert_null(p.keys[2]);
        assert_int_equal(p.frequency, FREQUENCY_PER_BOOT);
        assert_string_equal(p.after[0], "write_files");
        assert_null(p.after[1]);
        assert_int_equal(p.timeout_sec, 20);
        assert_string_equal(p.description, "Writes /etc/motd.");
}

static void plugin_parse_description_defaults(void **state) {
        _cleanup_(plugin_done) Plugin p = {};
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(parse("{\"protocol\": 1, \"name\": \"bare\"}", &p, &reason), 0);
        assert_null(p.keys[0]);
        assert_null(p.after[0]);
        assert_int_equal(p.frequency, FREQUENCY_PER_INSTANCE);
        assert_int_equal(p.timeout_sec, PLUGIN_RUN_TIMEOUT_DEFAULT_SEC);
        assert_null(p.description);
}

static void plugin_parse_description_frequency_alias(void **state) {
        _cleanup_(plugin_done) Plugin p = {};
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(parse("{\"protocol\": 1, \"name\": \"a\", \"frequency\": \"always\"}", &p, &reason), 0);
        assert_int_equal(p.frequency, FREQUENCY_PER_BOOT);
}

static void plugin_parse_description_rejects_junk(void **state) {
        assert_rejected("hello, I am a plugin\n", "does not print valid JSON");
}

static void plugin_parse_description_rejects_empty(void **state) {
        assert_rejected("", "does not print valid JSON");
}

static void plugin_parse_description_rejects_list(void **state) {
        assert_rejected("[1, 2]", "does not print a JSON object");
}

static void plugin_parse_description_rejects_two_documents(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\"} {}", "does not print valid JSON");
}

static void plugin_parse_description_rejects_duplicate_member(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"name\": \"b\"}", "does not print valid JSON");
}

static void plugin_parse_description_rejects_missing_protocol(void **state) {
        assert_rejected("{\"name\": \"a\"}", "prints no integer 'protocol'");
}

static void plugin_parse_description_rejects_other_protocol(void **state) {
        assert_rejected("{\"protocol\": 2, \"name\": \"a\"}", "speaks protocol 2, kiln speaks 1");
}

static void plugin_parse_description_rejects_unknown_member(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"key\": [\"x\"]}", "prints the unknown member 'key'");
}

static void plugin_parse_description_rejects_missing_name(void **state) {
        assert_rejected("{\"protocol\": 1}", "prints no 'name'");
}

static void plugin_parse_description_rejects_uppercase_name(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"Motd\"}", "prints no 'name'");
}

static void plugin_parse_description_rejects_name_with_slash(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"../x\"}", "prints no 'name'");
}

static void plugin_parse_description_rejects_long_name(void **state) {
        char text[256];

        (void) snprintf(text, sizeof(text), "{\"protocol\": 1, \"name\": \"%0*d\"}", PLUGIN_NAME_MAX + 1, 0);
        assert_rejected(text, "prints no 'name'");
}

static void plugin_parse_description_rejects_keys_string(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"keys\": \"motd\"}", "has 'keys' that is not a list");
}

static void plugin_parse_description_rejects_key_number(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"keys\": [3]}", "has 3 in 'keys'");
}

static void plugin_parse_description_rejects_empty_key(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"keys\": [\"\"]}", "in 'keys', which is not a valid name");
}

static void plugin_parse_description_rejects_duplicate_key(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"keys\": [\"x\", \"x\"]}", "lists 'x' twice in 'keys'");
}

static void plugin_parse_description_rejects_too_many_keys(void **state) {
        _cleanup_free_ char *text = NULL;
        json_t *keys = json_array(), *o;
        char key[16];

        for (int i = 0; i <= PLUGIN_KEYS_MAX; i++) {
                (void) snprintf(key, sizeof(key), "key%d", i);
                assert_int_equal(json_array_append_new(keys, json_string(key)), 0);
        }
        o = json_pack("{s:i, s:s, s:o}", "protocol", 1, "name", "a", "keys", keys);
        text = json_dumps(o, 0);
        json_decref(o);
        assert_rejected(text, "has more than 64 entries in 'keys'");
}

static void plugin_parse_description_rejects_bad_after(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"after\": [\"Write Files\"]}", "in 'after'");
}

static void plugin_parse_description_rejects_bad_frequency(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"frequency\": \"hourly\"}", "has a 'frequency'");
}

static void plugin_parse_description_rejects_zero_timeout(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"timeout\": 0}", "has a 'timeout'");
}

static void plugin_parse_description_rejects_huge_timeout(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"timeout\": 3601}", "has a 'timeout'");
}

static void plugin_parse_description_rejects_fractional_timeout(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"timeout\": 1.5}", "has a 'timeout'");
}

static void plugin_parse_description_rejects_description_list(void **state) {
        assert_rejected("{\"protocol\": 1, \"name\": \"a\", \"description\": []}", "has a 'description'");
}

/* Parse a valid description and check its claims against earlier (n_earlier entries). */
static int claims(const char *text, const Plugin *earlier, size_t n_earlier, char **ret_reason) {
        _cleanup_(plugin_done) Plugin p = {};

        assert_int_equal(parse(text, &p, ret_reason), 0);
        return plugin_check_claims(&p, earlier, n_earlier, ret_reason);
}

static void assert_claim_rejected(const char *text, const Plugin *earlier, size_t n_earlier, const char *expected) {
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(claims(text, earlier, n_earlier, &reason), -EEXIST);
        assert_non_null(reason);
        assert_string_equal(reason, expected);
}

static void plugin_check_claims_free_key(void **state) {
        _cleanup_free_ char *reason = NULL;

        assert_int_equal(claims("{\"protocol\": 1, \"name\": \"motd\", \"keys\": [\"example_motd\"]}", NULL, 0,
                                &reason), 0);
}

static void plugin_check_claims_unsupported_key_allowed(void **state) {
        _cleanup_free_ char *reason = NULL;

        /* mounts is a cloud-init key that no built-in module handles, so a plugin may take it. */
        assert_int_equal(claims("{\"protocol\": 1, \"name\": \"mounts\", \"keys\": [\"mounts\"]}", NULL, 0,
                                &reason), 0);
}

static void plugin_check_claims_builtin_key(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"x\", \"keys\": [\"runcmd\"]}", NULL, 0,
                              "claims key 'runcmd', which the built-in module runcmd owns");
}

static void plugin_check_claims_every_builtin_key(void **state) {
        for (const AgentModule *const *m = module_table; *m; m++)
                for (const char *const *k = (*m)->config_keys; k && *k; k++) {
                        _cleanup_free_ char *text = NULL, *reason = NULL;

                        assert_true(asprintf(&text, "{\"protocol\": 1, \"name\": \"x\", \"keys\": [\"%s\"]}", *k) > 0);
                        assert_int_equal(claims(text, NULL, 0, &reason), -EEXIST);
                }
}

static void plugin_check_claims_setting_key(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"x\", \"keys\": [\"datasource_list\"]}", NULL, 0,
                              "claims key 'datasource_list', which is a setting of kiln itself");
}

static void plugin_check_claims_merge_key(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"x\", \"keys\": [\"merge_how\"]}", NULL, 0,
                              "claims key 'merge_how', which is a setting of kiln itself");
}

static void plugin_check_claims_builtin_name(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"hostname\"}", NULL, 0,
                              "is named 'hostname', which is the name of the built-in module hostname");
}

static void plugin_check_claims_builtin_alias(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"power-state-change\"}", NULL, 0,
                              "is named 'power-state-change', which is the name of the built-in module power_state");
}

static void plugin_check_claims_reserved_name(void **state) {
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"config\"}", NULL, 0,
                              "is named 'config', which kiln reserves");
}

static void plugin_check_claims_earlier_key(void **state) {
        _cleanup_(plugin_done) Plugin earlier = {};
        _cleanup_free_ char *reason = NULL;

        const char *text = "{\"protocol\": 1, \"name\": \"a\", \"keys\": [\"shared\"]}";

        assert_int_equal(plugin_parse_description("/usr/lib/kiln/modules.d/10-a", text, strlen(text), &earlier,
                                                  &reason), 0);
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"b\", \"keys\": [\"shared\"]}", &earlier, 1,
                              "claims key 'shared', which the plugin '/usr/lib/kiln/modules.d/10-a' owns");
}

static void plugin_check_claims_earlier_name(void **state) {
        _cleanup_(plugin_done) Plugin earlier = {};
        _cleanup_free_ char *reason = NULL;

        const char *text = "{\"protocol\": 1, \"name\": \"a\"}";

        assert_int_equal(plugin_parse_description("/usr/lib/kiln/modules.d/10-a", text, strlen(text), &earlier,
                                                  &reason), 0);
        assert_claim_rejected("{\"protocol\": 1, \"name\": \"a\"}", &earlier, 1,
                              "is named 'a', as the plugin '/usr/lib/kiln/modules.d/10-a' is");
}

/* A plugin set built from descriptions, for the ordering tests. */
static PluginSet plugin_set_of(const char *const *descriptions) {
        PluginSet s = {};
        size_t n = 0;

        while (descriptions[n])
                n++;
        s.plugins = calloc(n + 1, sizeof(Plugin));
        assert_non_null(s.plugins);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *reason = NULL;

                assert_int_equal(parse(descriptions[i], &s.plugins[i], &reason), 0);
                s.n++;
        }
        return s;
}

/* The index of name in names, or -1. */
static int index_of(char **names, const char *name) {
        for (int i = 0; names[i]; i++)
                if (streq(names[i], name))
                        return i;
        return -1;
}

static void runner_plan_names_default_position(void **state) {
        const char *const d[] = { "{\"protocol\": 1, \"name\": \"motd\"}", NULL };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "motd"), index_of(names, "scripts_user") + 1);
        assert_int_equal(index_of(names, "phone_home"), index_of(names, "motd") + 1);
        test_root_free(t);
}

static void runner_plan_names_after_builtin(void **state) {
        const char *const d[] = { "{\"protocol\": 1, \"name\": \"early\", \"after\": [\"write_files\"]}", NULL };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "early"), index_of(names, "write_files") + 1);
        test_root_free(t);
}

static void runner_plan_names_after_alias(void **state) {
        const char *const d[] = { "{\"protocol\": 1, \"name\": \"p\", \"after\": [\"set_hostname\"]}", NULL };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "p"), index_of(names, "hostname") + 1);
        test_root_free(t);
}

static void runner_plan_names_after_last_named(void **state) {
        const char *const d[] = { "{\"protocol\": 1, \"name\": \"p\", \"after\": [\"runcmd\", \"bootcmd\"]}", NULL };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "p"), index_of(names, "runcmd") + 1);
        test_root_free(t);
}

static void runner_plan_names_name_order(void **state) {
        const char *const d[] = {
                "{\"protocol\": 1, \"name\": \"alpha\"}",
                "{\"protocol\": 1, \"name\": \"beta\"}",
                NULL,
        };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "alpha"), index_of(names, "scripts_user") + 1);
        assert_int_equal(index_of(names, "beta"), index_of(names, "alpha") + 1);
        test_root_free(t);
}

static void runner_plan_names_after_later_plugin(void **state) {
        const char *const d[] = {
                "{\"protocol\": 1, \"name\": \"alpha\", \"after\": [\"zulu\"]}",
                "{\"protocol\": 1, \"name\": \"zulu\", \"after\": [\"bootcmd\"]}",
                NULL,
        };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "zulu"), index_of(names, "bootcmd") + 1);
        assert_int_equal(index_of(names, "alpha"), index_of(names, "zulu") + 1);
        test_root_free(t);
}

static void runner_plan_names_cycle_placed(void **state) {
        const char *const d[] = {
                "{\"protocol\": 1, \"name\": \"alpha\", \"after\": [\"beta\"]}",
                "{\"protocol\": 1, \"name\": \"beta\", \"after\": [\"alpha\"]}",
                NULL,
        };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_int_equal(index_of(names, "alpha"), index_of(names, "scripts_user") + 1);
        assert_int_equal(index_of(names, "beta"), index_of(names, "alpha") + 1);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        test_root_free(t);
}

static void runner_plan_names_configured_list(void **state) {
        const char *const d[] = {
                "{\"protocol\": 1, \"name\": \"listed\", \"after\": [\"runcmd\"]}",
                "{\"protocol\": 1, \"name\": \"unlisted\"}",
                NULL,
        };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_strv_free_ char **names = NULL;
        TestRoot *t = test_root_new();

        assert_int_equal(json_object_set_new(t->ctx.system_config, "modules",
                                             json_pack("[s, [s, s], s]", "listed", "runcmd", "always", "hostname")), 0);
        assert_int_equal(runner_plan_names(&t->ctx, &s, &names), 0);
        assert_string_equal(names[0], "listed");
        assert_string_equal(names[1], "runcmd");
        assert_string_equal(names[2], "hostname");
        assert_null(names[3]);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
        test_root_free(t);
}

static void plugin_input_build_members(void **state) {
        const char *const d[] = { "{\"protocol\": 1, \"name\": \"motd\", \"frequency\": \"once\"}", NULL };
        _cleanup_(plugin_set_done) PluginSet s = plugin_set_of(d);
        _cleanup_instance_free_ Instance *instance = instance_new();
        TestRoot *t = test_root_new();
        json_t *input;

        instance->instance_id = strdup("i-0123");
        instance->datasource = strdup("nocloud");
        json_decref(instance->metadata);
        instance->metadata = json_pack("{s:s}", "local_hostname", "web-1");
        t->ctx.instance = instance;
        assert_int_equal(json_object_set_new(t->ctx.config, "example_motd", json_string("hello")), 0);

        input = plugin_input_build(&t->ctx, &s.plugins[0], FREQUENCY_ONCE);
        assert_non_null(input);
        assert_int_equal(json_integer_value(json_object_get(input, "protocol")), 1);
        assert_string_equal(json_string_value(json_object_get(input, "plugin")), "motd");
        assert_string_equal(json_string_value(json_object_get(input, "frequency")), "once");
        assert_string_equal(json_string_value(json_object_get(json_object_get(input, "config"), "example_motd")),
                            "hello");
        assert_string_equal(json_string_value(json_object_get(json_object_get(input, "instance"), "instance_id")),
                            "i-0123");
        assert_string_equal(json_string_value(json_object_get(json_object_get(input, "instance"), "datasource")),
                            "nocloud");
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(input, "instance"),
                                                                               "metadata"), "local_hostname")),
                            "web-1");
        json_decref(input);
        t->ctx.instance = NULL;
        test_root_free(t);
}

/* The row that modules/README.md has for m: "| name | `key`, `key` | frequency |". */
static char *readme_row(const AgentModule *m) {
        char keys[1024] = "";
        size_t n = 0;
        char *row;

        for (const char *const *k = m->config_keys; k && *k; k++)
                n += (size_t) snprintf(keys + n, sizeof(keys) - n, "%s`%s`", n > 0 ? ", " : "", *k);
        if (n == 0)
                (void) snprintf(keys, sizeof(keys), "(none)");
        assert_true(asprintf(&row, "| %s | %s | %s |", m->name, keys, frequency_to_string(m->frequency)) > 0);
        return row;
}

/* The number of table rows in the "## Built-in modules" section of text, header rows left out. */
static size_t readme_table_rows(const char *text) {
        const char *p = strstr(text, "\n## Built-in modules\n"), *end;
        size_t rows = 0;

        assert_non_null(p);
        end = strstr(p + 1, "\n## ") ?: p + strlen(p);
        for (p = strstr(p, "\n| "); p && p < end; p = strstr(p + 1, "\n| "))
                if (!strneq(p, "\n| Module ", 10) && !strneq(p, "\n| ---", 6))
                        rows++;
        return rows;
}

static void readme_lists_every_builtin_module(void **state) {
        const char *data = getenv("KILN_TEST_DATA");
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int root_fd = -EBADF;
        size_t size, modules = 0;

        if (!data)
                skip();
        root_fd = open("/", O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);
        assert_true(asprintf(&path, "%s/../../modules/README.md", data) > 0);
        assert_int_equal(read_file_at(root_fd, path, 1024 * 1024, &text, &size), 0);

        for (const AgentModule *const *m = module_table; *m; m++) {
                _cleanup_free_ char *row = readme_row(*m);

                if (!strstr(text, row))
                        fail_msg("modules/README.md lacks the row: %s", row);
                modules++;
        }
        assert_int_equal(readme_table_rows(text), modules);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(plugin_parse_description_full),
                cmocka_unit_test(plugin_parse_description_defaults),
                cmocka_unit_test(plugin_parse_description_frequency_alias),
                cmocka_unit_test(plugin_parse_description_rejects_junk),
                cmocka_unit_test(plugin_parse_description_rejects_empty),
                cmocka_unit_test(plugin_parse_description_rejects_list),
                cmocka_unit_test(plugin_parse_description_rejects_two_documents),
                cmocka_unit_test(plugin_parse_description_rejects_duplicate_member),
                cmocka_unit_test(plugin_parse_description_rejects_missing_protocol),
                cmocka_unit_test(plugin_parse_description_rejects_other_protocol),
                cmocka_unit_test(plugin_parse_description_rejects_unknown_member),
                cmocka_unit_test(plugin_parse_description_rejects_missing_name),
                cmocka_unit_test(plugin_parse_description_rejects_uppercase_name),
                cmocka_unit_test(plugin_parse_description_rejects_name_with_slash),
                cmocka_unit_test(plugin_parse_description_rejects_long_name),
                cmocka_unit_test(plugin_parse_description_rejects_keys_string),
                cmocka_unit_test(plugin_parse_description_rejects_key_number),
                cmocka_unit_test(plugin_parse_description_rejects_empty_key),
                cmocka_unit_test(plugin_parse_description_rejects_duplicate_key),
                cmocka_unit_test(plugin_parse_description_rejects_too_many_keys),
                cmocka_unit_test(plugin_parse_description_rejects_bad_after),
                cmocka_unit_test(plugin_parse_description_rejects_bad_frequency),
                cmocka_unit_test(plugin_parse_description_rejects_zero_timeout),
                cmocka_unit_test(plugin_parse_description_rejects_huge_timeout),
                cmocka_unit_test(plugin_parse_description_rejects_fractional_timeout),
                cmocka_unit_test(plugin_parse_description_rejects_description_list),
                cmocka_unit_test(plugin_check_claims_free_key),
                cmocka_unit_test(plugin_check_claims_unsupported_key_allowed),
                cmocka_unit_test(plugin_check_claims_builtin_key),
                cmocka_unit_test(plugin_check_claims_every_builtin_key),
                cmocka_unit_test(plugin_check_claims_setting_key),
                cmocka_unit_test(plugin_check_claims_merge_key),
                cmocka_unit_test(plugin_check_claims_builtin_name),
                cmocka_unit_test(plugin_check_claims_builtin_alias),
                cmocka_unit_test(plugin_check_claims_reserved_name),
                cmocka_unit_test(plugin_check_claims_earlier_key),
                cmocka_unit_test(plugin_check_claims_earlier_name),
                cmocka_unit_test(runner_plan_names_default_position),
                cmocka_unit_test(runner_plan_names_after_builtin),
                cmocka_unit_test(runner_plan_names_after_alias),
                cmocka_unit_test(runner_plan_names_after_last_named),
                cmocka_unit_test(runner_plan_names_name_order),
                cmocka_unit_test(runner_plan_names_after_later_plugin),
                cmocka_unit_test(runner_plan_names_cycle_placed),
                cmocka_unit_test(runner_plan_names_configured_list),
                cmocka_unit_test(plugin_input_build_members),
                cmocka_unit_test(readme_lists_every_builtin_module),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
