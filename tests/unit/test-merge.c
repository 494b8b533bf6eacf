/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/userdata/merge.c: merging cloud-config parts with merge_how and Merge-Type
 * as cloud-init does, layering user data, vendor data and the image configuration, applying
 * #cloud-config-jsonp patches, and the source positions that follow the merged values.
 *
 * Parts are built by hand, as the decoder would make them, so a test can give a part a Merge-Type
 * header or mark it as vendor data. Where a case repeats one of cloud-init's own merge samples
 * (tests/data/merge_sources in cloud-init), the expected result is the one cloud-init checks. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "report.h"
#include "test-helpers.h"
#include "userdata/userdata.h"

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        parts_free(t->ctx.parts, t->ctx.n_parts);
        json_decref(t->ctx.config_positions);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Append a part as the decoder would make it. merge_how is its Merge-Type header, or NULL. */
static void add_part(void **state, PartType type, const char *data, const char *merge_how, bool vendor) {
        Context *ctx = ctx_of(state);
        Part *parts = realloc(ctx->parts, (ctx->n_parts + 1) * sizeof(Part));
        Part *p;

        assert_non_null(parts);
        ctx->parts = parts;
        p = &parts[ctx->n_parts];
        *p = (Part) {
                .type = type,
                .data = strdup(data),
                .size = strlen(data),
                .content_type = strdup(type == PART_CLOUD_CONFIG_JSONP ? "text/cloud-config-jsonp" :
                                       "text/cloud-config"),
                .merge_how = merge_how ? strdup(merge_how) : NULL,
                .vendor = vendor,
        };
        assert_true(asprintf(&p->name, "%spart-%03zu", vendor ? "vendor-" : "", ctx->n_parts + 1) > 0);
        assert_non_null(p->data);
        ctx->n_parts++;
}

static void user(void **state, const char *yaml) {
        add_part(state, PART_CLOUD_CONFIG, yaml, NULL, false);
}

static void user_with_header(void **state, const char *yaml, const char *merge_type) {
        add_part(state, PART_CLOUD_CONFIG, yaml, merge_type, false);
}

static void vendor(void **state, const char *yaml) {
        add_part(state, PART_CLOUD_CONFIG, yaml, NULL, true);
}

static void patch(void **state, const char *json) {
        add_part(state, PART_CLOUD_CONFIG_JSONP, json, NULL, false);
}

static void image(void **state, const char *json) {
        json_t *config = json_loads(json, 0, NULL);

        assert_non_null(config);
        json_decref(ctx_of(state)->system_config);
        ctx_of(state)->system_config = config;
}

static int merge(void **state) {
        return userdata_merge(ctx_of(state));
}

static void assert_config(void **state, const char *expected_json) {
        json_t *expected = json_loads(expected_json, 0, NULL);

        assert_non_null(expected);
        if (!json_equal(ctx_of(state)->config, expected)) {
                _cleanup_free_ char *got = json_dumps(ctx_of(state)->config, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(expected);
                fail_msg("config is %s, expected %s", got, expected_json);
        }
        json_decref(expected);
}

static size_t n_errors(void **state) {
        return json_array_size(ctx_of(state)->errors);
}

static size_t n_warnings(void **state) {
        return json_array_size(ctx_of(state)->warnings);
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

static const char *error_message(void **state) {
        return message_of(ctx_of(state)->errors, 0);
}

static const char *warning_message(void **state) {
        return message_of(ctx_of(state)->warnings, 0);
}

/* ---- cloud-init's default for parts: dict(replace)+list()+str() ---- */

static void userdata_merge_default_later_value_replaces(void **state) {
        user(state, "#cloud-config\nBlah: 1\nBlah2: 2\nBlah3: 3\n");
        user(state, "#cloud-config\nBlah: 3\nBlah2: 2\nBlah3: [1]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": 3, \"Blah2\": 2, \"Blah3\": [1]}");
}

static void userdata_merge_default_keeps_other_keys(void **state) {
        user(state, "#cloud-config\na: 1\nb: 2\nc: 3\n");
        user(state, "#cloud-config\nb: 4\n");
        user(state, "#cloud-config\na: 22\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": 22, \"b\": 4, \"c\": 3}");
}

static void userdata_merge_default_replaces_nested_mapping_whole(void **state) {
        user(state, "#cloud-config\na:\n  c: 1\n  d: 2\n  e:\n    z: a\n    y: b\n");
        user(state, "#cloud-config\na:\n  e:\n    y: 2\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": {\"e\": {\"y\": 2}}}");
}

static void userdata_merge_default_replaces_list_whole(void **state) {
        user(state, "#cloud-config\nruncmd:\n  - echo one\n  - echo two\n");
        user(state, "#cloud-config\nruncmd:\n  - echo three\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"echo three\"]}");
}

static void userdata_merge_default_no_diagnostics(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(n_errors(state) + n_warnings(state), 0);
}

/* ---- merge_how in the part ---- */

static void userdata_merge_list_append(void **state) {
        user(state, "#cloud-config\nBlah: ['blah2']\n");
        user(state, "#cloud-config\nBlah: ['b']\n"
             "merge_how: 'dict(recurse_array,no_replace)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": [\"blah2\", \"b\"]}");
}

static void userdata_merge_list_prepend(void **state) {
        user(state, "#cloud-config\nBlah: ['blah1']\n");
        user(state, "#cloud-config\nBlah: ['blah2']\n"
             "merge_how: 'dict(recurse_array,no_replace)+list(prepend)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": [\"blah2\", \"blah1\"]}");
}

static void userdata_merge_allow_delete_removes_key(void **state) {
        user(state, "#cloud-config\nBlah:\n  b: 1\n");
        user(state, "#cloud-config\nBlah:\n  b: null\nmerge_how: 'dict(allow_delete,no_replace)+list()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": {}}");
}

static void userdata_merge_null_without_allow_delete_kept(void **state) {
        user(state, "#cloud-config\nBlah:\n  b: 1\n");
        user(state, "#cloud-config\nBlah:\n  b: null\nmerge_how: 'dict(no_replace)+list()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": {\"b\": 1}}");
}

static void userdata_merge_allow_delete_new_null_key_added(void **state) {
        user(state, "#cloud-config\na: 1\n");
        user(state, "#cloud-config\nb: null\nmerge_how: 'dict(allow_delete)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": 1, \"b\": null}");
}

static void userdata_merge_dict_replace_does_not_recurse(void **state) {
        user(state, "#cloud-config\nBlah: 1\nBlah2: 2\nBlah3: 3\n");
        user(state, "#cloud-config\nBlah: 3\nBlah2: 2\nBlah3: [1]\n"
             "merge_how: 'dict(replace)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"Blah\": 3, \"Blah2\": 2, \"Blah3\": [1]}");
}

static void userdata_merge_merge_type_key(void **state) {
        user(state, "#cloud-config\nrun_cmds:\n  - bash\n  - top\n");
        user(state, "#cloud-config\nrun_cmds:\n  - ps\n  - vi\n  - emacs\n"
             "merge_type: 'list(append)+dict(recurse_array)+str()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"run_cmds\": [\"bash\", \"top\", \"ps\", \"vi\", \"emacs\"]}");
}

static void userdata_merge_append_keeps_mappings_whole(void **state) {
        user(state, "#cloud-config\nusers:\n  - default\n  - name: foobar\n    groups: users\n");
        user(state, "#cloud-config\nusers:\n  - bob\n  - name: foobar_jr\n"
             "merge_how: \"dict(recurse_array)+list(append)\"\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"users\": [\"default\", {\"name\": \"foobar\", \"groups\": \"users\"}, "
                      "\"bob\", {\"name\": \"foobar_jr\"}]}");
}

static void userdata_merge_list_replace_by_index(void **state) {
        user(state, "#cloud-config\nmounts:\n - [ ephemeral0, /mnt, auto, \"defaults,noexec\" ]\n"
             " - [ sdc, /opt/data ]\n");
        user(state, "#cloud-config\nmounts:\n - [ ephemeral22, /mnt, auto, \"defaults,noexec\" ]\n"
             "merge_how: 'dict(recurse_array)+list(recurse_list,recurse_str)+str()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"mounts\": [[\"ephemeral22\", \"/mnt\", \"auto\", \"defaults,noexec\"], "
                      "[\"sdc\", \"/opt/data\"]]}");
}

static void userdata_merge_list_replace_drops_extra_later_items(void **state) {
        user(state, "#cloud-config\na: [1]\n");
        user(state, "#cloud-config\na: [2, 3]\nmerge_how: 'dict(recurse_array)+list()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": [2]}");
}

static void userdata_merge_list_replace_non_list_replaces(void **state) {
        user(state, "#cloud-config\na: [1]\n");
        user(state, "#cloud-config\na: {b: 1}\nmerge_how: 'dict()+list()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": {\"b\": 1}}");
}

static void userdata_merge_list_no_replace_keeps_items(void **state) {
        user(state, "#cloud-config\na: [1, 2]\n");
        user(state, "#cloud-config\na: [3, 4, 5]\nmerge_how: 'dict(recurse_array)+list(no_replace)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": [1, 2]}");
}

static void userdata_merge_list_recurse_dict_merges_items(void **state) {
        user(state, "#cloud-config\nusers:\n  - name: a\n    shell: /bin/sh\n");
        user(state, "#cloud-config\nusers:\n  - groups: adm\n"
             "merge_how: 'dict(recurse_array)+list(recurse_dict)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"users\": [{\"name\": \"a\", \"shell\": \"/bin/sh\", "
                      "\"groups\": \"adm\"}]}");
}

static void userdata_merge_str_append(void **state) {
        user(state, "#cloud-config\nphone_home:\n url: http://example.com/id/\n post: [ instance_id ]\n");
        user(state, "#cloud-config\nphone_home:\n url: $BLAH_BLAH\n"
             "merge_how: 'dict(recurse_str)+str(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"phone_home\": {\"url\": \"http://example.com/id/$BLAH_BLAH\", "
                      "\"post\": [\"instance_id\"]}}");
}

static void userdata_merge_str_without_append_replaces(void **state) {
        user(state, "#cloud-config\na: x\n");
        user(state, "#cloud-config\na: y\nmerge_how: 'dict(recurse_str)+str()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": \"y\"}");
}

static void userdata_merge_recurse_list_in_nested_mapping(void **state) {
        user(state, "#cloud-config\npower_state:\n delay: '+30'\n mode: poweroff\n message: [Bye, Bye]\n");
        user(state, "#cloud-config\npower_state:\n  message: [Pew, Pew]\n"
             "merge_how: 'dict(recurse_list)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"power_state\": {\"delay\": \"+30\", \"mode\": \"poweroff\", "
                      "\"message\": [\"Bye\", \"Bye\", \"Pew\", \"Pew\"]}}");
}

static void userdata_merge_no_replace_keeps_scalar(void **state) {
        user(state, "#cloud-config\nhostname: first\n");
        user(state, "#cloud-config\nhostname: second\nmerge_how: 'dict(no_replace)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"hostname\": \"first\"}");
}

static void userdata_merge_merge_how_key_left_out(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\nmerge_how: 'dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

/* cloud-init reads merge_type only when merge_how is absent or null, and leaves it in the merged
 * user data. The layers then merge with it, and "list()" has no dict merger, so the user data
 * contributes nothing. */
static void userdata_merge_merge_type_beside_merge_how_reaches_layers(void **state) {
        user(state, "#cloud-config\na: 1\nmerge_how: 'dict()'\nmerge_type: 'list()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{}");
}

static void userdata_merge_layer_without_dict_merger_warns(void **state) {
        user(state, "#cloud-config\na: 1\nmerge_how: 'dict()'\nmerge_type: 'list()'\n");
        (void) merge(state);
        assert_contains(warning_message(state), "the user data include no 'dict' merger");
}

static void userdata_merge_null_merge_how_reads_merge_type(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: null\n"
             "merge_type: 'dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_list_form_of_mappings(void **state) {
        user(state, "#cloud-config\nruncmd: [bash1, bash2]\n");
        user(state, "#cloud-config\n"
             "merge_how:\n"
             " - name: list\n"
             "   settings: [append]\n"
             " - name: dict\n"
             "   settings: [no_replace, recurse_list]\n"
             "runcmd: [bash3, bash4]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"bash1\", \"bash2\", \"bash3\", \"bash4\"]}");
}

static void userdata_merge_list_form_of_lists(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nmerge_how: [[list, prepend], [dict, recurse_array]]\nruncmd: [b]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\", \"a\"]}");
}

static void userdata_merge_list_form_name_dash(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nmerge_how:\n - {name: m-list, settings: [append]}\n"
             " - {name: dict, settings: [recurse_array]}\nruncmd: [b]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_list_form_case_sensitive(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nmerge_how:\n - {name: List, settings: [append]}\nruncmd: [b]\n");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'List'");
}

static void userdata_merge_list_form_without_settings_fails(void **state) {
        user(state, "#cloud-config\nmerge_how:\n - {name: list}\nruncmd: [b]\n");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'settings'");
}

static void userdata_merge_list_form_item_not_mapping_fails(void **state) {
        user(state, "#cloud-config\nmerge_how: ['list(append)']\nruncmd: [b]\n");
        assert_true(merge(state) < 0);
        assert_config(state, "{}");
}

static void userdata_merge_merge_how_mapping_fails(void **state) {
        user(state, "#cloud-config\nmerge_how: {name: list, settings: [append]}\nruncmd: [b]\n");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "merge_how of part-001");
}

static void userdata_merge_string_form_ignores_case_and_dashes(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: ' List( Append ) + DICT(Recurse-Array) '\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_string_form_m_prefix(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'm_list(append)+m_dict(recurse_array)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_empty_merge_how_uses_default(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\nb: 1\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: ''\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\"], \"b\": 1}");
}

static void userdata_merge_first_merger_of_kind_used(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\n"
             "merge_how: 'list(prepend)+dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\", \"a\"]}");
}

/* cloud-init checks append before prepend whatever their order in the text. */
static void userdata_merge_append_wins_over_prepend(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list(prepend,append)+dict(recurse_array)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_unknown_merger_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'lists(append)+dict()'\n");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_unknown_merger_suggests_name(void **state) {
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'lists(append)+dict()'\n");
        (void) merge(state);
        assert_contains(error_message(state), "Did you mean 'list'?");
}

static void userdata_merge_invalid_merger_syntax_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list[append]'\n");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'list[append]'");
}

static void userdata_merge_unknown_option_warns(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list(apend)+dict(recurse_array)'\n");
        assert_int_equal(merge(state), 0);
        assert_contains(warning_message(state), "'apend'");
}

static void userdata_merge_unknown_option_ignored(void **state) {
        user(state, "#cloud-config\nruncmd: [a, x]\n");
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list(apend)+dict(recurse_array)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\", \"x\"]}");
}

static void userdata_merge_option_of_other_merger_warns(void **state) {
        user(state, "#cloud-config\na: x\n");
        user(state, "#cloud-config\na: y\nmerge_how: 'dict(replace)+str(recurse_str)'\n");
        assert_int_equal(merge(state), 0);
        assert_contains(warning_message(state), "'str'");
}

static void userdata_merge_without_dict_merger_ignores_part(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user(state, "#cloud-config\nruncmd: [b]\nhostname: h\nmerge_how: 'list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_without_dict_merger_warns(void **state) {
        user(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list(append)'\n");
        (void) merge(state);
        assert_contains(warning_message(state), "no 'dict' merger");
}

/* A string merged into a list with append adds its characters, as Python's list.extend() and
 * so cloud-init do. kiln does the same and warns. */
static void userdata_merge_string_into_list_adds_characters(void **state) {
        user(state, "#cloud-config\na: [1, 2]\n");
        user(state, "#cloud-config\na: hé\nmerge_how: 'dict(recurse_str,no_replace)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": [1, 2, \"h\", \"é\"]}");
}

static void userdata_merge_string_into_list_warns(void **state) {
        user(state, "#cloud-config\na: [1, 2]\n");
        user(state, "#cloud-config\na: hi\nmerge_how: 'dict(recurse_str,no_replace)+list(append)'\n");
        (void) merge(state);
        assert_contains(warning_message(state), "'/a'");
}

static void userdata_merge_mapping_into_list_adds_keys(void **state) {
        user(state, "#cloud-config\na: [1]\n");
        user(state, "#cloud-config\na: {k: v}\nmerge_how: 'dict()+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": [1, \"k\"]}");
}

static void userdata_merge_append_number_to_string_fails(void **state) {
        user(state, "#cloud-config\na: x\n");
        user(state, "#cloud-config\na: {b: 1}\nmerge_how: 'dict()+str(append)'\n");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "at '/a'");
}

static void userdata_merge_failed_merge_applies_nothing(void **state) {
        user(state, "#cloud-config\na: x\n");
        user(state, "#cloud-config\nb: 2\na: {b: 1}\nmerge_how: 'dict()+str(append)'\n");
        (void) merge(state);
        assert_config(state, "{\"a\": \"x\"}");
}

static void userdata_merge_scalar_earlier_value_kept(void **state) {
        user(state, "#cloud-config\na: 5\n");
        user(state, "#cloud-config\na: {b: 1}\nmerge_how: 'dict(no_replace)+list()+str()'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": 5}");
}

/* ---- The Merge-Type header ---- */

static void userdata_merge_header_appends(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user_with_header(state, "#cloud-config\nruncmd: [b]\n", "list(append)+dict(recurse_array)+str()");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_merge_how_before_header(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user_with_header(state, "#cloud-config\nruncmd: [b]\nmerge_how: 'list(prepend)'\n",
                         "list(append)+dict(recurse_array)");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\", \"a\"]}");
}

static void userdata_merge_empty_header_uses_default(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user_with_header(state, "#cloud-config\nruncmd: [b]\n", "");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\"]}");
}

static void userdata_merge_invalid_header_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        user_with_header(state, "#cloud-config\nruncmd: [b]\n", "append");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "Merge-Type header of part-002");
}

/* ---- Layers: user data over vendor data over the image configuration ---- */

static void userdata_merge_user_over_vendor_over_image(void **state) {
        image(state, "{\"runcmd\": [\"image\"], \"hostname\": \"image\", \"locale\": \"C\"}");
        vendor(state, "#cloud-config\nruncmd: [vendor]\nhostname: vendor\n");
        user(state, "#cloud-config\nruncmd: [user]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"user\"], \"hostname\": \"vendor\", \"locale\": \"C\"}");
}

static void userdata_merge_layers_merge_nested_mappings(void **state) {
        image(state, "{\"phone_home\": {\"url\": \"http://192.0.2.1/\", \"tries\": 3}}");
        user(state, "#cloud-config\nphone_home:\n  tries: 5\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"phone_home\": {\"url\": \"http://192.0.2.1/\", \"tries\": 5}}");
}

/* In cloud-init's mergemanydict() a mapping of a lower layer replaces a string or a list of a
 * higher one, because the str and list mergers return the later value. */
static void userdata_merge_layers_lower_mapping_replaces_string(void **state) {
        image(state, "{\"a\": {\"x\": 1}}");
        user(state, "#cloud-config\na: text\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": {\"x\": 1}}");
}

static void userdata_merge_layers_lower_list_ignored(void **state) {
        image(state, "{\"a\": [1, 2, 3]}");
        user(state, "#cloud-config\na: text\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": \"text\"}");
}

/* A part's merge_how applies among the parts of its own data, not to the layers below. */
static void userdata_merge_merge_how_stays_in_its_layer(void **state) {
        image(state, "{\"runcmd\": [\"image\"]}");
        user(state, "#cloud-config\nruncmd: [user]\nmerge_how: 'dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"user\"]}");
}

static void userdata_merge_image_merge_how_applies(void **state) {
        image(state, "{\"runcmd\": [\"image\"], \"merge_how\": \"dict(recurse_array)+list(append)\"}");
        user(state, "#cloud-config\nruncmd: [user]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"user\", \"image\"]}");
}

static void userdata_merge_image_config_unchanged(void **state) {
        static const char config[] =
                "{\"runcmd\": [\"image\"], \"merge_how\": \"dict(recurse_array)+list(append)\"}";
        json_t *expected = json_loads(config, 0, NULL);

        image(state, config);
        user(state, "#cloud-config\nruncmd: [user]\n");
        assert_int_equal(merge(state), 0);
        assert_true(json_equal(ctx_of(state)->system_config, expected));
        json_decref(expected);
}

static void userdata_merge_vendor_parts_merge_among_themselves(void **state) {
        vendor(state, "#cloud-config\npackages: [a]\n");
        vendor(state, "#cloud-config\npackages: [b]\nmerge_how: 'dict(recurse_array)+list(append)'\n");
        user(state, "#cloud-config\nruncmd: [c]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"packages\": [\"a\", \"b\"], \"runcmd\": [\"c\"]}");
}

static void userdata_merge_vendor_parts_do_not_reach_user_buffer(void **state) {
        user(state, "#cloud-config\nruncmd: [u1]\n");
        vendor(state, "#cloud-config\nruncmd: [v]\n");
        user(state, "#cloud-config\nruncmd: [u2]\nmerge_how: 'dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"u1\", \"u2\"]}");
}

static void userdata_merge_no_parts_gives_image_config(void **state) {
        image(state, "{\"datasource_list\": [\"ec2\"]}");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"datasource_list\": [\"ec2\"]}");
}

static void userdata_merge_config_shares_nothing_with_image(void **state) {
        json_t *a;

        image(state, "{\"a\": {\"b\": 1}}");
        assert_int_equal(merge(state), 0);
        a = json_object_get(ctx_of(state)->config, "a");
        assert_int_equal(json_object_set_new(a, "c", json_true()), 0);
        assert_null(json_object_get(json_object_get(ctx_of(state)->system_config, "a"), "c"));
}

/* ---- Source positions ---- */

static void config_line_follows_appended_items(void **state) {
        user(state, "#cloud-config\nruncmd:\n  - a\n");
        user(state, "#cloud-config\nmerge_how: 'dict(recurse_array)+list(append)'\n\nruncmd:\n  - b\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 3);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 5);
}

static void config_line_follows_prepended_items(void **state) {
        user(state, "#cloud-config\nruncmd:\n  - a\n");
        user(state, "#cloud-config\nmerge_how: 'dict(recurse_array)+list(prepend)'\n\nruncmd:\n  - b\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 5);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 3);
}

static void config_line_follows_replacing_part(void **state) {
        user(state, "#cloud-config\nruncmd:\n  - a\n  - b\n");
        user(state, "#cloud-config\n\n\nruncmd:\n  - c\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 5);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 0);
}

static void config_line_keeps_earlier_part_keys(void **state) {
        user(state, "#cloud-config\nhostname: a\n");
        user(state, "#cloud-config\n\nruncmd: [x]\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/hostname"), 2);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 3);
}

static void config_line_of_escaped_key(void **state) {
        user(state, "#cloud-config\nwrite_files:\n  - path: /a\n    \"x/y~z\": 1\n");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/write_files/0/x~1y~0z"), 4);
}

static void config_source_text_kept(void **state) {
        user(state, "#cloud-config\nwrite_files:\n  - path: /a\n    permissions: 0640\n");
        assert_int_equal(merge(state), 0);
        assert_string_equal(config_source_text(ctx_of(state), "/write_files/0/permissions"), "0640");
}

static void config_line_of_image_key_unknown(void **state) {
        image(state, "{\"hostname\": \"image\"}");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/hostname"), 0);
}

static void config_line_shifts_after_patch_insert(void **state) {
        user(state, "#cloud-config\nruncmd:\n  - a\n  - b\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/0\", \"value\": \"first\"}]");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/1"), 3);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/2"), 4);
}

static void config_line_follows_moved_value(void **state) {
        user(state, "#cloud-config\nbootcmd:\n  - a\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/bootcmd\", \"path\": \"/runcmd\"}]");
        assert_int_equal(merge(state), 0);
        assert_int_equal(config_line(ctx_of(state), "/runcmd/0"), 3);
        assert_int_equal(config_line(ctx_of(state), "/bootcmd/0"), 0);
}

/* ---- #cloud-config-jsonp ---- */

static void userdata_merge_jsonp_add_member(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/hostname\", \"value\": \"web-1\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"], \"hostname\": \"web-1\"}");
}

static void userdata_merge_jsonp_add_replaces_member(void **state) {
        user(state, "#cloud-config\nhostname: a\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/hostname\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"hostname\": \"b\"}");
}

static void userdata_merge_jsonp_add_inserts_item(void **state) {
        user(state, "#cloud-config\nruncmd: [a, c]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/1\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\", \"c\"]}");
}

static void userdata_merge_jsonp_add_appends_with_dash(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/-\", \"value\": [\"sh\", \"-c\", \"b\"]}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", [\"sh\", \"-c\", \"b\"]]}");
}

static void userdata_merge_jsonp_add_at_length_appends(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/1\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_jsonp_add_past_end_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/2\", \"value\": \"b\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_add_missing_parent_fails(void **state) {
        patch(state, "[{\"op\": \"add\", \"path\": \"/a/b\", \"value\": 1}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "no member 'a'");
}

static void userdata_merge_jsonp_add_leading_zero_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a, b]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/01\", \"value\": \"x\"}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'01'");
}

static void userdata_merge_jsonp_add_to_empty_config(void **state) {
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd\", \"value\": [\"a\"]}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_remove_member(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\nhostname: h\n");
        patch(state, "[{\"op\": \"remove\", \"path\": \"/hostname\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_remove_item(void **state) {
        user(state, "#cloud-config\nruncmd: [a, b, c]\n");
        patch(state, "[{\"op\": \"remove\", \"path\": \"/runcmd/1\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"c\"]}");
}

static void userdata_merge_jsonp_remove_missing_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"remove\", \"path\": \"/runcmd/1\"}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "past the end");
}

static void userdata_merge_jsonp_remove_dash_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"remove\", \"path\": \"/runcmd/-\"}]");
        assert_true(merge(state) < 0);
}

static void userdata_merge_jsonp_remove_root_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"remove\", \"path\": \"\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_replace_member(void **state) {
        user(state, "#cloud-config\nhostname: a\nlocale: C\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"/hostname\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"hostname\": \"b\", \"locale\": \"C\"}");
}

static void userdata_merge_jsonp_replace_keeps_member_order(void **state) {
        _cleanup_free_ char *text = NULL;

        user(state, "#cloud-config\nhostname: a\nlocale: C\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"/hostname\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        text = json_dumps(ctx_of(state)->config, JSON_COMPACT);
        assert_string_equal(text, "{\"hostname\":\"b\",\"locale\":\"C\"}");
}

static void userdata_merge_jsonp_replace_item(void **state) {
        user(state, "#cloud-config\nruncmd: [a, b]\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"/runcmd/1\", \"value\": \"c\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"c\"]}");
}

static void userdata_merge_jsonp_replace_missing_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"/hostname\", \"value\": \"b\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_replace_root(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"\", \"value\": {\"hostname\": \"h\"}}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"hostname\": \"h\"}");
}

static void userdata_merge_jsonp_replace_root_with_list_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"\", \"value\": [1]}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_move_member(void **state) {
        user(state, "#cloud-config\nbootcmd: [a]\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/bootcmd\", \"path\": \"/runcmd\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_move_item(void **state) {
        user(state, "#cloud-config\nruncmd: [a, b, c]\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/runcmd/0\", \"path\": \"/runcmd/2\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"b\", \"c\", \"a\"]}");
}

static void userdata_merge_jsonp_move_to_same_place(void **state) {
        user(state, "#cloud-config\nruncmd: [a, b]\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/runcmd/1\", \"path\": \"/runcmd/1\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_jsonp_move_into_itself_fails(void **state) {
        user(state, "#cloud-config\na: {b: 1}\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/a\", \"path\": \"/a/c\"}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "into itself");
}

static void userdata_merge_jsonp_move_missing_from_fails(void **state) {
        user(state, "#cloud-config\na: 1\n");
        patch(state, "[{\"op\": \"move\", \"from\": \"/b\", \"path\": \"/c\"}]");
        assert_true(merge(state) < 0);
}

static void userdata_merge_jsonp_copy_member(void **state) {
        user(state, "#cloud-config\nbootcmd: [a]\n");
        patch(state, "[{\"op\": \"copy\", \"from\": \"/bootcmd\", \"path\": \"/runcmd\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"bootcmd\": [\"a\"], \"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_copy_is_independent(void **state) {
        user(state, "#cloud-config\nbootcmd: [a]\n");
        patch(state, "[{\"op\": \"copy\", \"from\": \"/bootcmd\", \"path\": \"/runcmd\"},"
              " {\"op\": \"add\", \"path\": \"/runcmd/-\", \"value\": \"b\"}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"bootcmd\": [\"a\"], \"runcmd\": [\"a\", \"b\"]}");
}

static void userdata_merge_jsonp_copy_doubling_stops(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        user(state, "#cloud-config\na: [1, 2, 3, 4, 5, 6, 7, 8]\n");
        fputs("[", f);
        for (int i = 0; i < 40; i++)
                fprintf(f, "%s{\"op\": \"copy\", \"from\": \"/a\", \"path\": \"/a/-\"}", i ? "," : "");
        fputs("]", f);
        assert_int_equal(fclose(f), 0);
        patch(state, text);
        assert_true(merge(state) < 0);
        assert_config(state, "{\"a\": [1, 2, 3, 4, 5, 6, 7, 8]}");
}

static void userdata_merge_jsonp_too_deep_fails(void **state) {
        char text[4096];
        size_t n = 0;

        n += (size_t) snprintf(text + n, sizeof(text) - n,
                               "[{\"op\": \"add\", \"path\": \"/a\", \"value\": ");
        for (int i = 0; i < 100; i++)
                text[n++] = '[';
        for (int i = 0; i < 100; i++)
                text[n++] = ']';
        (void) snprintf(text + n, sizeof(text) - n, "}]");
        patch(state, text);
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "deeper than");
}

static void userdata_merge_jsonp_test_passes(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\nn: 1\n");
        patch(state, "[{\"op\": \"test\", \"path\": \"/runcmd\", \"value\": [\"a\"]},"
              " {\"op\": \"test\", \"path\": \"/n\", \"value\": 1.0},"
              " {\"op\": \"add\", \"path\": \"/ok\", \"value\": true}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\"], \"n\": 1, \"ok\": true}");
}

static void userdata_merge_jsonp_test_fails(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/x\", \"value\": 1},"
              " {\"op\": \"test\", \"path\": \"/runcmd/0\", \"value\": \"b\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_test_boolean_not_number(void **state) {
        user(state, "#cloud-config\nx: true\n");
        patch(state, "[{\"op\": \"test\", \"path\": \"/x\", \"value\": 1}]");
        assert_true(merge(state) < 0);
}

static void userdata_merge_jsonp_pointer_escapes(void **state) {
        user(state, "#cloud-config\n\"a/b\": {\"m~n\": 1}\n");
        patch(state, "[{\"op\": \"replace\", \"path\": \"/a~1b/m~0n\", \"value\": 2}]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a/b\": {\"m~n\": 2}}");
}

static void userdata_merge_jsonp_invalid_escape_fails(void **state) {
        user(state, "#cloud-config\na: 1\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/a~2\", \"value\": 2}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'~'");
}

static void userdata_merge_jsonp_pointer_without_slash_fails(void **state) {
        patch(state, "[{\"op\": \"add\", \"path\": \"a\", \"value\": 2}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "invalid JSON pointer 'a'");
}

static void userdata_merge_jsonp_all_or_nothing(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/hostname\", \"value\": \"h\"},"
              " {\"op\": \"remove\", \"path\": \"/missing\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"runcmd\": [\"a\"]}");
}

static void userdata_merge_jsonp_error_names_part_and_operation(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/hostname\", \"value\": \"h\"},"
              " {\"op\": \"remove\", \"path\": \"/missing\"}]");
        (void) merge(state);
        assert_contains(error_message(state), "part-002");
        assert_contains(error_message(state), "operation 1 ('remove' at '/missing')");
}

static void userdata_merge_jsonp_unknown_op_fails(void **state) {
        patch(state, "[{\"op\": \"append\", \"path\": \"/a\", \"value\": 1}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "unknown operation 'append'");
}

static void userdata_merge_jsonp_missing_value_fails(void **state) {
        patch(state, "[{\"op\": \"add\", \"path\": \"/a\"}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'value'");
}

static void userdata_merge_jsonp_missing_from_member_fails(void **state) {
        patch(state, "[{\"op\": \"copy\", \"path\": \"/a\"}]");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "'from'");
}

static void userdata_merge_jsonp_not_a_list_fails(void **state) {
        patch(state, "{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "list of operations");
}

static void userdata_merge_jsonp_invalid_json_fails(void **state) {
        patch(state, "[{\"op\": \"add\",");
        assert_true(merge(state) < 0);
        assert_contains(error_message(state), "cloud-config-jsonp part-001: invalid JSON at line 1");
}

static void userdata_merge_jsonp_header_line_accepted(void **state) {
        patch(state, "#cloud-config-jsonp\n[{\"op\": \"add\", \"path\": \"/a\", \"value\": 1}]\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": 1}");
}

static void userdata_merge_jsonp_empty_patch(void **state) {
        user(state, "#cloud-config\na: 1\n");
        patch(state, "[]");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"a\": 1}");
}

static void userdata_merge_jsonp_applies_in_part_order(void **state) {
        user(state, "#cloud-config\nruncmd: [a]\n");
        patch(state, "[{\"op\": \"add\", \"path\": \"/runcmd/-\", \"value\": \"b\"}]");
        user(state, "#cloud-config\nruncmd: [c]\nmerge_how: 'dict(recurse_array)+list(append)'\n");
        assert_int_equal(merge(state), 0);
        assert_config(state, "{\"runcmd\": [\"a\", \"b\", \"c\"]}");
}

static void userdata_merge_jsonp_sees_only_its_layer(void **state) {
        image(state, "{\"hostname\": \"image\"}");
        patch(state, "[{\"op\": \"remove\", \"path\": \"/hostname\"}]");
        assert_true(merge(state) < 0);
        assert_config(state, "{\"hostname\": \"image\"}");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(userdata_merge_default_later_value_replaces),
                T(userdata_merge_default_keeps_other_keys),
                T(userdata_merge_default_replaces_nested_mapping_whole),
                T(userdata_merge_default_replaces_list_whole),
                T(userdata_merge_default_no_diagnostics),
                T(userdata_merge_list_append),
                T(userdata_merge_list_prepend),
                T(userdata_merge_allow_delete_removes_key),
                T(userdata_merge_null_without_allow_delete_kept),
                T(userdata_merge_allow_delete_new_null_key_added),
                T(userdata_merge_dict_replace_does_not_recurse),
                T(userdata_merge_merge_type_key),
                T(userdata_merge_append_keeps_mappings_whole),
                T(userdata_merge_list_replace_by_index),
                T(userdata_merge_list_replace_drops_extra_later_items),
                T(userdata_merge_list_replace_non_list_replaces),
                T(userdata_merge_list_no_replace_keeps_items),
                T(userdata_merge_list_recurse_dict_merges_items),
                T(userdata_merge_str_append),
                T(userdata_merge_str_without_append_replaces),
                T(userdata_merge_recurse_list_in_nested_mapping),
                T(userdata_merge_no_replace_keeps_scalar),
                T(userdata_merge_merge_how_key_left_out),
                T(userdata_merge_merge_type_beside_merge_how_reaches_layers),
                T(userdata_merge_layer_without_dict_merger_warns),
                T(userdata_merge_null_merge_how_reads_merge_type),
                T(userdata_merge_list_form_of_mappings),
                T(userdata_merge_list_form_of_lists),
                T(userdata_merge_list_form_name_dash),
                T(userdata_merge_list_form_case_sensitive),
                T(userdata_merge_list_form_without_settings_fails),
                T(userdata_merge_list_form_item_not_mapping_fails),
                T(userdata_merge_merge_how_mapping_fails),
                T(userdata_merge_string_form_ignores_case_and_dashes),
                T(userdata_merge_string_form_m_prefix),
                T(userdata_merge_empty_merge_how_uses_default),
                T(userdata_merge_first_merger_of_kind_used),
                T(userdata_merge_append_wins_over_prepend),
                T(userdata_merge_unknown_merger_fails),
                T(userdata_merge_unknown_merger_suggests_name),
                T(userdata_merge_invalid_merger_syntax_fails),
                T(userdata_merge_unknown_option_warns),
                T(userdata_merge_unknown_option_ignored),
                T(userdata_merge_option_of_other_merger_warns),
                T(userdata_merge_without_dict_merger_ignores_part),
                T(userdata_merge_without_dict_merger_warns),
                T(userdata_merge_string_into_list_adds_characters),
                T(userdata_merge_string_into_list_warns),
                T(userdata_merge_mapping_into_list_adds_keys),
                T(userdata_merge_append_number_to_string_fails),
                T(userdata_merge_failed_merge_applies_nothing),
                T(userdata_merge_scalar_earlier_value_kept),
                T(userdata_merge_header_appends),
                T(userdata_merge_merge_how_before_header),
                T(userdata_merge_empty_header_uses_default),
                T(userdata_merge_invalid_header_fails),
                T(userdata_merge_user_over_vendor_over_image),
                T(userdata_merge_layers_merge_nested_mappings),
                T(userdata_merge_layers_lower_mapping_replaces_string),
                T(userdata_merge_layers_lower_list_ignored),
                T(userdata_merge_merge_how_stays_in_its_layer),
                T(userdata_merge_image_merge_how_applies),
                T(userdata_merge_image_config_unchanged),
                T(userdata_merge_vendor_parts_merge_among_themselves),
                T(userdata_merge_vendor_parts_do_not_reach_user_buffer),
                T(userdata_merge_no_parts_gives_image_config),
                T(userdata_merge_config_shares_nothing_with_image),
                T(config_line_follows_appended_items),
                T(config_line_follows_prepended_items),
                T(config_line_follows_replacing_part),
                T(config_line_keeps_earlier_part_keys),
                T(config_line_of_escaped_key),
                T(config_source_text_kept),
                T(config_line_of_image_key_unknown),
                T(config_line_shifts_after_patch_insert),
                T(config_line_follows_moved_value),
                T(userdata_merge_jsonp_add_member),
                T(userdata_merge_jsonp_add_replaces_member),
                T(userdata_merge_jsonp_add_inserts_item),
                T(userdata_merge_jsonp_add_appends_with_dash),
                T(userdata_merge_jsonp_add_at_length_appends),
                T(userdata_merge_jsonp_add_past_end_fails),
                T(userdata_merge_jsonp_add_missing_parent_fails),
                T(userdata_merge_jsonp_add_leading_zero_fails),
                T(userdata_merge_jsonp_add_to_empty_config),
                T(userdata_merge_jsonp_remove_member),
                T(userdata_merge_jsonp_remove_item),
                T(userdata_merge_jsonp_remove_missing_fails),
                T(userdata_merge_jsonp_remove_dash_fails),
                T(userdata_merge_jsonp_remove_root_fails),
                T(userdata_merge_jsonp_replace_member),
                T(userdata_merge_jsonp_replace_keeps_member_order),
                T(userdata_merge_jsonp_replace_item),
                T(userdata_merge_jsonp_replace_missing_fails),
                T(userdata_merge_jsonp_replace_root),
                T(userdata_merge_jsonp_replace_root_with_list_fails),
                T(userdata_merge_jsonp_move_member),
                T(userdata_merge_jsonp_move_item),
                T(userdata_merge_jsonp_move_to_same_place),
                T(userdata_merge_jsonp_move_into_itself_fails),
                T(userdata_merge_jsonp_move_missing_from_fails),
                T(userdata_merge_jsonp_copy_member),
                T(userdata_merge_jsonp_copy_is_independent),
                T(userdata_merge_jsonp_copy_doubling_stops),
                T(userdata_merge_jsonp_too_deep_fails),
                T(userdata_merge_jsonp_test_passes),
                T(userdata_merge_jsonp_test_fails),
                T(userdata_merge_jsonp_test_boolean_not_number),
                T(userdata_merge_jsonp_pointer_escapes),
                T(userdata_merge_jsonp_invalid_escape_fails),
                T(userdata_merge_jsonp_pointer_without_slash_fails),
                T(userdata_merge_jsonp_all_or_nothing),
                T(userdata_merge_jsonp_error_names_part_and_operation),
                T(userdata_merge_jsonp_unknown_op_fails),
                T(userdata_merge_jsonp_missing_value_fails),
                T(userdata_merge_jsonp_missing_from_member_fails),
                T(userdata_merge_jsonp_not_a_list_fails),
                T(userdata_merge_jsonp_invalid_json_fails),
                T(userdata_merge_jsonp_header_line_accepted),
                T(userdata_merge_jsonp_empty_patch),
                T(userdata_merge_jsonp_applies_in_part_order),
                T(userdata_merge_jsonp_sees_only_its_layer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
