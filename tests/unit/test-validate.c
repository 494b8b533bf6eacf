/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/schema.c and the modules' key declarations: the walk that checks a
 * cloud-config against them, the unknown-key warnings of `kiln run`, and the JSON Schema.
 * tests/integration/test-validate.sh tests the `kiln validate` command itself. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/yaml-util.h"
#include "module.h"
#include "runner.h"
#include "schema.h"
#include "test-helpers.h"

/* What one check found: the diagnostics as {problem, path, pointer, suggestion, message}. */
typedef struct Found {
        json_t *list;
        int errors;
} Found;

static const char *const problem_names[_SCHEMA_PROBLEM_MAX] = {
        [SCHEMA_UNKNOWN_KEY] = "unknown",
        [SCHEMA_UNSUPPORTED_KEY] = "unsupported",
        [SCHEMA_DEPRECATED_KEY] = "deprecated",
        [SCHEMA_WARNING] = "warning",
        [SCHEMA_ERROR] = "error",
};

static void collect(const SchemaDiagnostic *d, void *userdata) {
        json_t *list = userdata;

        assert_int_equal(json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s?, s:s}",
                                                               "problem", problem_names[d->problem],
                                                               "path", d->path,
                                                               "pointer", d->pointer,
                                                               "suggestion", d->suggestion,
                                                               "message", d->message)), 0);
}

/* Parse the YAML text and check it against the declarations. */
static Found check_yaml(const char *yaml, SchemaCheckFlags flags) {
        json_t *doc = NULL, *positions = NULL;
        YamlError err = {};
        Found f = { .list = json_array() };

        assert_int_equal(yaml_parse_json(yaml, strlen(yaml), &doc, /* ret_warnings= */ NULL, &positions, &err), 0);
        f.errors = schema_check(doc, positions, flags, collect, f.list);
        json_decref(doc);
        json_decref(positions);
        return f;
}

static void found_done(Found *f) {
        json_decref(f->list);
}

/* The first diagnostic at path, or NULL. */
static const json_t *found_at(const Found *f, const char *path) {
        json_t *d;
        size_t i;

        json_array_foreach(f->list, i, d)
                if (streq(json_string_value(json_object_get(d, "path")), path))
                        return d;
        return NULL;
}

static const char *field_of(const Found *f, const char *path, const char *field) {
        return json_string_value(json_object_get(found_at(f, path), field));
}

static bool message_contains(const Found *f, const char *path, const char *fragment) {
        const char *message = field_of(f, path, "message");

        return message && strstr(message, fragment);
}

static void module_config_keys_match_fields(void **state) {
        for (const AgentModule *const *m = module_table; *m; m++) {
                size_t n_keys = 0, n_fields = 0;

                if (!(*m)->config_fields)
                        continue;
                for (const char *const *k = (*m)->config_keys; k && *k; k++) {
                        const KeyField *f = (*m)->config_fields;

                        while (f->name && !streq(f->name, *k))
                                f++;
                        if (!f->name)
                                fail_msg("module %s owns key '%s' without declaring it", (*m)->name, *k);
                        n_keys++;
                }
                for (const KeyField *f = (*m)->config_fields; f->name; f++)
                        n_fields++;
                if (n_keys != n_fields)
                        fail_msg("module %s declares %zu keys but owns %zu", (*m)->name, n_fields, n_keys);
        }
}

static void module_without_keys_declares_none(void **state) {
        for (const AgentModule *const *m = module_table; *m; m++)
                if (!(*m)->config_keys && (*m)->config_fields)
                        fail_msg("module %s declares keys but owns none", (*m)->name);
}

/* A build with -Dschema_descriptions=false carries no description at all. */
static void module_declarations_have_descriptions(void **state) {
        for (const AgentModule *const *m = module_table; *m; m++)
                for (const KeyField *f = (*m)->config_fields; f && f->name; f++) {
                        if (!KILN_SCHEMA_DESCRIPTIONS && f->description)
                                fail_msg("key '%s' of module %s has a description in a build without them",
                                         f->name, (*m)->name);
                        if (KILN_SCHEMA_DESCRIPTIONS && (!f->description || !f->description[0]))
                                fail_msg("key '%s' of module %s has no description", f->name, (*m)->name);
                }
}

static void schema_check_valid_document(void **state) {
        Found f = check_yaml("#cloud-config\n"
                             "hostname: web-1\n"
                             "fqdn: web-1.example.com\n"
                             "preserve_hostname: false\n"
                             "write_files:\n"
                             "  - path: /etc/motd\n"
                             "    content: hi\n"
                             "    permissions: '0644'\n"
                             "    encoding: text/plain\n"
                             "    owner: root:root\n"
                             "    append: true\n"
                             "    defer: false\n"
                             "runcmd:\n"
                             "  - echo one\n"
                             "  - [sh, -c, 'echo two', 3]\n"
                             "bootcmd: [date]\n"
                             "merge_how: list(append)+dict(recurse_array)+str()\n", 0);

        assert_int_equal(f.errors, 0);
        assert_int_equal(json_array_size(f.list), 0);
        found_done(&f);
}

static void schema_check_unknown_key_suggests(void **state) {
        Found f = check_yaml("runcmds:\n  - x\n", 0);

        assert_int_equal(f.errors, 0);
        assert_string_equal(field_of(&f, "runcmds", "problem"), "unknown");
        assert_string_equal(field_of(&f, "runcmds", "suggestion"), "runcmd");
        assert_string_equal(field_of(&f, "runcmds", "message"), "Unknown key 'runcmds', ignoring it. Did you mean 'runcmd'?");
        found_done(&f);
}

static void schema_check_unsupported_key(void **state) {
        Found f = check_yaml("landscape:\n  client: {}\n", 0);

        assert_string_equal(field_of(&f, "landscape", "problem"), "unsupported");
        assert_true(message_contains(&f, "landscape", "cloud-init key that this version of kiln does not"));
        found_done(&f);
}

static void schema_check_settings_not_unknown(void **state) {
        Found f = check_yaml("datasource_list: [nocloud]\nmodules: [runcmd]\ndatasource: {ec2: {}}\n", 0);

        assert_int_equal(json_array_size(f.list), 0);
        found_done(&f);
}

static void schema_check_nested_unknown_key(void **state) {
        Found f = check_yaml("write_files:\n  - path: /a\n    permisions: '0600'\n", 0);

        assert_string_equal(field_of(&f, "write_files.0.permisions", "problem"), "unknown");
        assert_string_equal(field_of(&f, "write_files.0.permisions", "suggestion"), "permissions");
        assert_string_equal(field_of(&f, "write_files.0.permisions", "pointer"), "/write_files/0/permisions");
        found_done(&f);
}

static void schema_check_phone_home_url_scheme(void **state) {
        Found f = check_yaml("phone_home: {url: 'ftp://example.com/x', post: all}\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "phone_home.url", "message"),
                            "phone_home.url is not an http:// or https:// URL.");
        found_done(&f);
}

static void schema_check_phone_home_url_any_case(void **state) {
        Found f = check_yaml("phone_home: {url: 'HTTPS://example.com/$INSTANCE_ID', post: all}\n", 0);

        assert_int_equal(f.errors, 0);
        found_done(&f);
}

static void schema_check_keys_only_skips_shapes(void **state) {
        Found f = check_yaml("hostname: off\nruncmd: {a: b}\nwrite_files:\n  - path: 5\n    mode: 1\n",
                             SCHEMA_KEYS_ONLY);

        assert_int_equal(f.errors, 0);
        assert_int_equal(json_array_size(f.list), 1);
        assert_string_equal(field_of(&f, "write_files.0.mode", "problem"), "unknown");
        found_done(&f);
}

static void schema_check_wrong_type_error(void **state) {
        Found f = check_yaml("runcmd: echo hi\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "runcmd", "problem"), "error");
        assert_string_equal(field_of(&f, "runcmd", "message"),
                            "runcmd must be a list or null, not the string 'echo hi'.");
        found_done(&f);
}

static void schema_check_boolean_hostname_hint(void **state) {
        Found f = check_yaml("hostname: off\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "hostname", "not the boolean false"));
        assert_true(message_contains(&f, "hostname", "so quote the value"));
        found_done(&f);
}

static void schema_check_invalid_hostname(void **state) {
        Found f = check_yaml("hostname: -web\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "hostname", "is an invalid hostname '-web'"));
        found_done(&f);
}

static void schema_check_boolean_string_warns(void **state) {
        Found f = check_yaml("preserve_hostname: \"no\"\n", 0);

        assert_int_equal(f.errors, 0);
        assert_string_equal(field_of(&f, "preserve_hostname", "problem"), "warning");
        assert_true(message_contains(&f, "preserve_hostname", "so it is read as false"));
        found_done(&f);
}

static void schema_check_boolean_string_error(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /a, append: maybe}\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "write_files.0.append", "message"),
                            "write_files.0.append must be true or false, not 'maybe'.");
        found_done(&f);
}

static void schema_check_encoding_ignores_case(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /a, encoding: ' GZip+Base64 ', content: x}\n", 0);

        assert_int_equal(f.errors, 0);
        found_done(&f);
}

static void schema_check_encoding_unsupported(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /a, encoding: rot13}\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "write_files.0.encoding", "has the unsupported value 'rot13'"));
        assert_true(message_contains(&f, "write_files.0.encoding", "gzip+base64 or text/plain"));
        found_done(&f);
}

static void schema_check_required_path(void **state) {
        Found f = check_yaml("write_files:\n  - content: x\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "write_files.0", "message"),
                            "write_files.0 is missing the required key 'path'.");
        found_done(&f);
}

static void schema_check_empty_path(void **state) {
        Found f = check_yaml("write_files:\n  - path: ''\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "write_files.0.path", "non-empty string"));
        found_done(&f);
}

static void schema_check_permissions_forms(void **state) {
        Found f = check_yaml("write_files:\n"
                             "  - {path: /a, permissions: 0640}\n"
                             "  - {path: /b, permissions: '0640'}\n"
                             "  - {path: /c, permissions: \"640\"}\n"
                             "  - {path: /e, permissions: '0o640'}\n"
                             "  - {path: /f, permissions: '4755'}\n"
                             "  - {path: /h}\n", 0);

        assert_int_equal(f.errors, 0);
        assert_int_equal(json_array_size(f.list), 0);
        found_done(&f);
}

static void schema_check_permissions_decimal_warns(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /d, permissions: 384}\n", 0);

        assert_int_equal(f.errors, 0);
        assert_string_equal(field_of(&f, "write_files.0.permissions", "problem"), "warning");
        assert_true(message_contains(&f, "write_files.0.permissions", "decimal number 384, which is mode 0600"));
        found_done(&f);
}

static void schema_check_permissions_invalid(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /g, permissions: '0999'}\n  - {path: /r, permissions: 6.5}\n", 0);

        assert_int_equal(f.errors, 2);
        assert_true(message_contains(&f, "write_files.0.permissions", "invalid mode '0999'"));
        assert_true(message_contains(&f, "write_files.1.permissions", "invalid mode '6.5'"));
        found_done(&f);
}

static void schema_check_source_without_content(void **state) {
        Found f = check_yaml("write_files:\n"
                             "  - {path: /a, source: {uri: 'https://example.com/a'}}\n"
                             "  - {path: /b, content: x, source: {uri: 'https://example.com/b', headers: {A: b}}}\n",
                             0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "write_files.0", "problem"), "error");
        assert_string_equal(field_of(&f, "write_files.1", "problem"), "warning");
        found_done(&f);
}

static void schema_check_header_value_type(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /a, content: x, source: {uri: u, headers: {A: [b]}}}\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "write_files.0.source.headers.A", "problem"), "error");
        found_done(&f);
}

static void schema_check_write_files_null_warns(void **state) {
        Found f = check_yaml("write_files:\nruncmd:\n  - true\n", 0);

        assert_string_equal(field_of(&f, "write_files", "problem"), "warning");
        assert_string_equal(field_of(&f, "write_files", "message"), "write_files has no value (null), nothing to write.");
        assert_string_equal(field_of(&f, "runcmd.0", "problem"), "error");
        assert_true(message_contains(&f, "runcmd.0", "is the YAML boolean true, not a command"));
        found_done(&f);
}

static void schema_check_command_mapping_item(void **state) {
        Found f = check_yaml("runcmd:\n  - echo Status: ok > /run/b15-a\n  - touch /run/b15-a2\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "runcmd.0", "is a mapping, not a command"));
        assert_true(message_contains(&f, "runcmd.0", "quote the whole command"));
        found_done(&f);
}

static void schema_check_command_null_item_warns(void **state) {
        Found f = check_yaml("bootcmd:\n  - date\n  -\n", 0);

        assert_int_equal(f.errors, 0);
        assert_string_equal(field_of(&f, "bootcmd.1", "message"), "bootcmd.1 is empty (null), skipping it.");
        found_done(&f);
}

static void schema_check_command_element_once(void **state) {
        Found f = check_yaml("runcmd:\n  - [touch, true]\n", 0);

        assert_int_equal(f.errors, 1);
        assert_int_equal(json_array_size(f.list), 1);
        assert_string_equal(field_of(&f, "runcmd.0.1", "problem"), "error");
        found_done(&f);
}

static void schema_check_command_empty_list(void **state) {
        Found f = check_yaml("runcmd:\n  - []\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "runcmd.0", "is an empty list"));
        found_done(&f);
}

static void schema_check_merge_how_list(void **state) {
        Found f = check_yaml("merge_how:\n  - {name: list, settings: [append]}\n  - {name: tuple, settings: []}\n", 0);

        assert_int_equal(f.errors, 1);
        assert_true(message_contains(&f, "merge_how.1.name", "unsupported value 'tuple'"));
        found_done(&f);
}

static void schema_check_not_a_mapping(void **state) {
        Found f = check_yaml("- a\n- b\n", 0);

        assert_int_equal(f.errors, 1);
        assert_string_equal(field_of(&f, "", "message"), "The cloud-config must be a mapping of keys to values, not a list.");
        found_done(&f);
}

static void schema_check_pointer_escapes_key(void **state) {
        Found f = check_yaml("write_files:\n  - {path: /a, 'x/y~': 1}\n", 0);

        assert_string_equal(field_of(&f, "write_files.0.x/y~", "pointer"), "/write_files/0/x~1y~0");
        found_done(&f);
}

/* A table with a deprecated name, as a module would declare one. */
static const KeyField test_fields[] = {
        { .name = "new_name", .shape = { .types = SHAPE_STRING } },
        { .name = "old-name", .shape = { .types = SHAPE_STRING }, .replaced_by = "new_name" },
        {}
};
static const KeyShape test_shape = { .types = SHAPE_MAPPING, .fields = test_fields };

static void schema_check_shape_deprecated_name(void **state) {
        json_t *list = json_array(), *value = json_pack("{s:s}", "old-name", "x");
        int r;

        r = schema_check_shape(&test_shape, value, /* positions= */ NULL, 0, collect, list);
        assert_int_equal(r, 0);
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "problem")), "deprecated");
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "message")),
                            "Key 'old-name' is deprecated, write 'new_name' instead.");
        json_decref(value);
        json_decref(list);
}

static void schema_check_shape_deprecated_not_suggested(void **state) {
        json_t *list = json_array(), *value = json_pack("{s:s}", "old-nam", "x");

        assert_int_equal(schema_check_shape(&test_shape, value, /* positions= */ NULL, 0, collect, list), 0);
        assert_null(json_string_value(json_object_get(json_array_get(list, 0), "suggestion")));
        json_decref(value);
        json_decref(list);
}

static void schema_key_message_with_line(void **state) {
        SchemaDiagnostic d = { .problem = SCHEMA_UNKNOWN_KEY, .path = "runcmds", .suggestion = "runcmd" };
        char buf[256];

        schema_key_message(&d, " at line 2", buf, sizeof(buf));
        assert_string_equal(buf, "Unknown key 'runcmds' at line 2, ignoring it. Did you mean 'runcmd'?");
}

static int root_setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int root_teardown(void **state) {
        TestRoot *t = *state;

        json_decref(t->ctx.config_positions);
        test_root_free(t);
        return 0;
}

/* Parse yaml into the context's config and positions, as userdata_merge() leaves them. */
static void context_load(Context *ctx, const char *yaml) {
        json_t *doc = NULL;

        assert_int_equal(yaml_parse_json(yaml, strlen(yaml), &doc, NULL, &ctx->config_positions, NULL), 0);
        json_decref(ctx->config);
        ctx->config = doc;
}

static bool has_warning(const Context *ctx, const char *message) {
        json_t *w;
        size_t i;

        json_array_foreach(ctx->warnings, i, w)
                if (streq(json_string_value(json_object_get(w, "message")), message))
                        return true;
        return false;
}

static void runner_check_keys_top_level(void **state) {
        Context *ctx = &((TestRoot *) *state)->ctx;

        context_load(ctx, "#cloud-config\nruncmds:\n  - x\nlandscape:\n  client: {}\n");
        runner_check_keys(ctx);
        assert_true(has_warning(ctx, "Unknown key 'runcmds' at line 2, ignoring it. Did you mean 'runcmd'?"));
        assert_true(has_warning(ctx, "Key 'landscape' at line 4 is a cloud-init key that this version of kiln "
                                     "does not support, ignoring it."));
}

static void runner_check_keys_nested(void **state) {
        Context *ctx = &((TestRoot *) *state)->ctx;

        context_load(ctx, "#cloud-config\nwrite_files:\n  - path: /a\n    mode: '0600'\n");
        runner_check_keys(ctx);
        assert_true(has_warning(ctx, "Unknown key 'write_files.0.mode' at line 4, ignoring it."));
}

static void runner_check_keys_ignores_shapes(void **state) {
        Context *ctx = &((TestRoot *) *state)->ctx;

        context_load(ctx, "#cloud-config\nhostname: off\nruncmd:\n  - a: b\nwrite_files: 5\n");
        runner_check_keys(ctx);
        assert_int_equal(json_array_size(ctx->warnings), 0);
        assert_int_equal(json_array_size(ctx->errors), 0);
}

static void runner_check_keys_records_config(void **state) {
        Context *ctx = &((TestRoot *) *state)->ctx;

        context_load(ctx, "bootcmds: []\n");
        runner_check_keys(ctx);
        assert_string_equal(json_string_value(json_object_get(json_array_get(ctx->warnings, 0), "module")), "config");
        assert_string_equal(ctx->current, "test");
}

static void schema_to_json_schema_top_level(void **state) {
        json_t *schema = schema_to_json_schema();

        assert_non_null(schema);
        assert_string_equal(json_string_value(json_object_get(schema, "$schema")),
                            "http://json-schema.org/draft-07/schema#");
        assert_true(json_is_false(json_object_get(schema, "additionalProperties")));
        for (const AgentModule *const *m = module_table; *m; m++)
                for (const char *const *k = (*m)->config_keys; k && *k; k++)
                        if (!json_object_get(json_object_get(schema, "properties"), *k))
                                fail_msg("the schema lacks key '%s' of module %s", *k, (*m)->name);
        json_decref(schema);
}

static void schema_to_json_schema_write_files(void **state) {
        json_t *schema = schema_to_json_schema();
        json_t *items = json_get_path(schema, "properties", "write_files", "items", NULL);
        json_t *encoding = json_get_path(items, "properties", "encoding", NULL);

        assert_non_null(items);
        assert_string_equal(json_string_value(json_array_get(json_object_get(items, "required"), 0)), "path");
        assert_true(json_is_false(json_object_get(items, "additionalProperties")));
        assert_true(json_is_null(json_array_get(json_object_get(encoding, "enum"),
                                                json_array_size(json_object_get(encoding, "enum")) - 1)));
        assert_string_equal(json_string_value(json_array_get(json_get_path(items, "properties", "permissions", "type",
                                                                            NULL), 1)), "integer");
        json_decref(schema);
}

static void schema_to_json_schema_types(void **state) {
        json_t *schema = schema_to_json_schema();
        json_t *runcmd = json_get_path(schema, "properties", "runcmd", NULL);
        json_t *argument = json_get_path(runcmd, "items", "items", NULL);

        assert_string_equal(json_string_value(json_array_get(json_object_get(runcmd, "type"), 0)), "array");
        assert_string_equal(json_string_value(json_array_get(json_object_get(runcmd, "type"), 1)), "null");
        /* "number" covers integers, so "integer" is not listed next to it. */
        assert_int_equal(json_array_size(json_object_get(argument, "type")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(argument, "type"), 1)), "number");
        json_decref(schema);
}

#define T(name) cmocka_unit_test(name)
#define TR(name) cmocka_unit_test_setup_teardown(name, root_setup, root_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(module_config_keys_match_fields),
                T(module_without_keys_declares_none),
                T(module_declarations_have_descriptions),
                T(schema_check_valid_document),
                T(schema_check_unknown_key_suggests),
                T(schema_check_unsupported_key),
                T(schema_check_settings_not_unknown),
                T(schema_check_nested_unknown_key),
                T(schema_check_phone_home_url_scheme),
                T(schema_check_phone_home_url_any_case),
                T(schema_check_keys_only_skips_shapes),
                T(schema_check_wrong_type_error),
                T(schema_check_boolean_hostname_hint),
                T(schema_check_invalid_hostname),
                T(schema_check_boolean_string_warns),
                T(schema_check_boolean_string_error),
                T(schema_check_encoding_ignores_case),
                T(schema_check_encoding_unsupported),
                T(schema_check_required_path),
                T(schema_check_empty_path),
                T(schema_check_permissions_forms),
                T(schema_check_permissions_decimal_warns),
                T(schema_check_permissions_invalid),
                T(schema_check_source_without_content),
                T(schema_check_header_value_type),
                T(schema_check_write_files_null_warns),
                T(schema_check_command_mapping_item),
                T(schema_check_command_null_item_warns),
                T(schema_check_command_element_once),
                T(schema_check_command_empty_list),
                T(schema_check_merge_how_list),
                T(schema_check_not_a_mapping),
                T(schema_check_pointer_escapes_key),
                T(schema_check_shape_deprecated_name),
                T(schema_check_shape_deprecated_not_suggested),
                T(schema_key_message_with_line),
                TR(runner_check_keys_top_level),
                TR(runner_check_keys_nested),
                TR(runner_check_keys_ignores_shapes),
                TR(runner_check_keys_records_config),
                T(schema_to_json_schema_top_level),
                T(schema_to_json_schema_write_files),
                T(schema_to_json_schema_types),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
