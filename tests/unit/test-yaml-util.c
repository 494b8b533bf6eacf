/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/yaml-util.c: YAML 1.1 read as PyYAML's SafeLoader reads it, into JSON,
 * with warnings, positions and limits. Whole documents also live in tests/data/yaml/<case>/. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/yaml-util.h"

typedef struct Parsed {
        int r;
        json_t *value;
        json_t *warnings;
        json_t *positions;
        YamlError error;
} Parsed;

static Parsed parse_n(const char *data, size_t size) {
        Parsed p = {};

        p.r = yaml_parse_json(data, size, &p.value, &p.warnings, &p.positions, &p.error);
        return p;
}

static Parsed parse(const char *text) {
        return parse_n(text, strlen(text));
}

static void parsed_done(Parsed *p) {
        json_decref(p->value);
        json_decref(p->warnings);
        json_decref(p->positions);
}

/* Compact JSON of v, "(none)" for NULL. Caller frees. */
static char *dump(const json_t *v) {
        char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(none)");

        assert_non_null(s);
        return s;
}

/* Check that the plain scalar text, as the value of a key, gives the JSON expected. The input is
 * part of both compared strings, so a failure names the case. */
static void assert_scalar(const char *text, const char *expected) {
        _cleanup_free_ char *doc = NULL, *got = NULL, *want = NULL, *json = NULL;
        Parsed p;

        assert_true(asprintf(&doc, "v: %s\n", text) > 0);
        p = parse(doc);
        json = p.r < 0 ? strdup(p.error.message) : dump(json_object_get(p.value, "v"));
        assert_true(asprintf(&got, "%s -> %s", text, json) > 0);
        assert_true(asprintf(&want, "%s -> %s", text, expected) > 0);
        assert_string_equal(got, want);
        parsed_done(&p);
}

static const char *warning_message(const Parsed *p, size_t i) {
        return json_string_value(json_object_get(json_array_get(p->warnings, i), "message"));
}

static json_int_t warning_line(const Parsed *p, size_t i) {
        return json_integer_value(json_object_get(json_array_get(p->warnings, i), "line"));
}

static void yaml_parse_json_booleans(void **state) {
        static const char *const truths[] = { "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
        static const char *const falsehoods[] = { "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF" };

        for (size_t i = 0; i < ELEMENTSOF(truths); i++)
                assert_scalar(truths[i], "true");
        for (size_t i = 0; i < ELEMENTSOF(falsehoods); i++)
                assert_scalar(falsehoods[i], "false");
}

static void yaml_parse_json_boolean_lookalikes_are_strings(void **state) {
        assert_scalar("y", "\"y\"");
        assert_scalar("n", "\"n\"");
        assert_scalar("Y", "\"Y\"");
        assert_scalar("yEs", "\"yEs\"");
        assert_scalar("tRUE", "\"tRUE\"");
        assert_scalar("yesterday", "\"yesterday\"");
}

static void yaml_parse_json_nulls(void **state) {
        assert_scalar("~", "null");
        assert_scalar("null", "null");
        assert_scalar("Null", "null");
        assert_scalar("NULL", "null");
        assert_scalar("", "null");
        assert_scalar("nUll", "\"nUll\"");
}

static void yaml_parse_json_integers(void **state) {
        assert_scalar("0", "0");
        assert_scalar("384", "384");
        assert_scalar("+12", "12");
        assert_scalar("-12", "-12");
        assert_scalar("1_000", "1000");
        assert_scalar("0644", "420");
        assert_scalar("0640", "416");
        assert_scalar("-0644", "-420");
        assert_scalar("0x1F", "31");
        assert_scalar("0x1f", "31");
        assert_scalar("-0x10", "-16");
        assert_scalar("0b101", "5");
        assert_scalar("+0b1_1", "3");
        assert_scalar("1:30", "90");
        assert_scalar("-1:30", "-90");
        assert_scalar("190:20:30", "685230");
        assert_scalar("9223372036854775807", "9223372036854775807");
        assert_scalar("-9223372036854775808", "-9223372036854775808");
}

static void yaml_parse_json_integer_lookalikes_are_strings(void **state) {
        assert_scalar("0o644", "\"0o644\"");
        assert_scalar("0999", "\"0999\"");
        assert_scalar("0X1F", "\"0X1F\"");
        assert_scalar("1:60", "\"1:60\"");
        assert_scalar("0:30", "\"0:30\"");
        assert_scalar("_1", "\"_1\"");
        assert_scalar("1e3", "\"1e3\"");
        assert_scalar("12abc", "\"12abc\"");
}

static void yaml_parse_json_floats(void **state) {
        assert_scalar(".5", "0.5");
        assert_scalar("1.5", "1.5");
        assert_scalar("-1.5", "-1.5");
        assert_scalar("1.", "1.0");
        assert_scalar("1_000.5", "1000.5");
        assert_scalar("1.5e+3", "1500.0");
        assert_scalar("2.5E-1", "0.25");
        assert_scalar("1:30.5", "90.5");
}

static void yaml_parse_json_float_lookalikes_are_strings(void **state) {
        assert_scalar("1.0e3", "\"1.0e3\"");
        assert_scalar("-.5", "\"-.5\"");
        assert_scalar("inf", "\"inf\"");
        assert_scalar("1.2.3", "\"1.2.3\"");
}

static void yaml_parse_json_timestamps_are_strings(void **state) {
        assert_scalar("2001-12-14", "\"2001-12-14\"");
        assert_scalar("2001-12-14t21:59:43.10-05:00", "\"2001-12-14t21:59:43.10-05:00\"");
}

static void yaml_parse_json_quoted_are_strings(void **state) {
        assert_scalar("'0640'", "\"0640\"");
        assert_scalar("\"0640\"", "\"0640\"");
        assert_scalar("\"yes\"", "\"yes\"");
        assert_scalar("'false'", "\"false\"");
        assert_scalar("'~'", "\"~\"");
        assert_scalar("''", "\"\"");
        assert_scalar("\"1.5\"", "\"1.5\"");
}

static void yaml_parse_json_explicit_tags(void **state) {
        assert_scalar("!!str 0644", "\"0644\"");
        assert_scalar("!!str yes", "\"yes\"");
        assert_scalar("!!int 0644", "420");
        assert_scalar("!!int \"12\"", "12");
        assert_scalar("!!float 1e3", "1000.0");
        assert_scalar("!!float 2", "2.0");
        assert_scalar("!!bool yEs", "true");
        assert_scalar("!!null anything", "null");
        assert_scalar("! 0644", "420");
}

static void yaml_parse_json_bad_tags_rejected(void **state) {
        assert_scalar("!!int 12abc", "invalid !!int value '12abc'");
        assert_scalar("!!bool maybe", "invalid !!bool value 'maybe'");
        assert_scalar("!!float x1", "invalid floating-point number 'x1'");
        assert_scalar("!custom 1", "unsupported tag '!custom' on a scalar");
        assert_scalar("!!python/object:os.system x", "unsupported tag 'tag:yaml.org,2002:python/object:os.system' on a scalar");
}

static void yaml_parse_json_merge_and_value_indicators_as_values(void **state) {
        assert_scalar("<<", "\"<<\"");
        assert_scalar("=", "\"=\"");
}

static void yaml_parse_json_file_modes(void **state) {
        Parsed p = parse("write_files:\n"
                         "  - {path: /a, permissions: 0640}\n"
                         "  - {path: /b, permissions: '0640'}\n"
                         "  - {path: /c, permissions: 384}\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(p.value, "write_files"), 0), "permissions")), 416);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p.value, "write_files"), 1), "permissions")), "0640");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(p.value, "write_files"), 2), "permissions")), 384);
        assert_string_equal(yaml_position_text(p.positions, "/write_files/0/permissions"), "0640");
        assert_null(yaml_position_text(p.positions, "/write_files/1/permissions"));
        assert_string_equal(yaml_position_text(p.positions, "/write_files/2/permissions"), "384");
        assert_int_equal(yaml_position_line(p.positions, "/write_files/2/permissions"), 4);
        parsed_done(&p);
}

static void yaml_parse_json_float_source_text(void **state) {
        Parsed p = parse("a: 3.14\nb: '3.14'\nc: 6.4e+2\nd: 3.1400\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(yaml_position_text(p.positions, "/a"), "3.14");
        assert_null(yaml_position_text(p.positions, "/b"));
        assert_string_equal(yaml_position_text(p.positions, "/c"), "6.4e+2");
        assert_string_equal(yaml_position_text(p.positions, "/d"), "3.1400");
        parsed_done(&p);
}

static void yaml_parse_json_integer_overflow_rejected(void **state) {
        Parsed p = parse("a: 1\nb: 9223372036854775808\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 2);
        assert_int_equal(p.error.column, 4);
        assert_string_equal(p.error.message, "integer '9223372036854775808' is out of range (-2^63 to 2^63-1)");
        assert_null(p.value);
        parsed_done(&p);
}

static void yaml_parse_json_infinity_kept_as_string(void **state) {
        Parsed p = parse("a: 1\nb: .inf\nc: -.Inf\nd: .NaN\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(json_string_value(json_object_get(p.value, "b")), ".inf");
        assert_string_equal(json_string_value(json_object_get(p.value, "c")), "-.Inf");
        assert_string_equal(json_string_value(json_object_get(p.value, "d")), ".NaN");
        assert_int_equal(json_array_size(p.warnings), 3);
        assert_int_equal(warning_line(&p, 0), 2);
        assert_string_equal(warning_message(&p, 0), "number '.inf' has no JSON form, kept as a string");
        parsed_done(&p);
}

static void yaml_parse_json_binary(void **state) {
        Parsed p = parse("a: !!binary aGVsbG8=\n"
                         "b: !!binary |\n"
                         "  aGVs\n"
                         "  bG8g d29y\tbGQ=\n"
                         "c: !!binary /w==\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(json_string_value(json_object_get(p.value, "a")), "hello");
        assert_string_equal(json_string_value(json_object_get(p.value, "b")), "hello world");
        assert_int_equal(json_string_length(json_object_get(p.value, "c")), 1);
        assert_int_equal((unsigned char) json_string_value(json_object_get(p.value, "c"))[0], 0xff);
        parsed_done(&p);
}

static void yaml_parse_json_binary_invalid_rejected(void **state) {
        Parsed bad_char = parse("a: 1\nb: !!binary aGV*bG8=\n"), bad_padding = parse("b: !!binary aGVsbG8\n");

        assert_int_equal(bad_char.r, -EINVAL);
        assert_int_equal(bad_char.error.line, 2);
        assert_string_equal(bad_char.error.message, "invalid base64 in !!binary scalar");
        assert_int_equal(bad_padding.r, -EINVAL);
        parsed_done(&bad_char);
        parsed_done(&bad_padding);
}

static void yaml_parse_json_aliases_share_node(void **state) {
        Parsed p = parse("base: &b {x: 1}\ncopy: *b\nlist: [*b, *b]\n");

        assert_int_equal(p.r, 0);
        assert_ptr_equal(json_object_get(p.value, "base"), json_object_get(p.value, "copy"));
        assert_ptr_equal(json_object_get(p.value, "base"), json_array_get(json_object_get(p.value, "list"), 1));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(p.value, "copy"), "x")), 1);
        parsed_done(&p);
}

static void yaml_parse_json_alias_errors(void **state) {
        Parsed undefined = parse("a: 1\nb: *nope\n"), recursive = parse("a: &x [1, *x]\n"),
               duplicate = parse("a: &x 1\nb: &x 2\n");

        assert_int_equal(undefined.r, -EINVAL);
        assert_int_equal(undefined.error.line, 2);
        assert_string_equal(undefined.error.message, "undefined alias 'nope'");
        assert_int_equal(recursive.r, -EINVAL);
        assert_string_equal(recursive.error.message, "alias 'x' is inside the node it refers to, which JSON cannot hold");
        assert_int_equal(duplicate.r, -EINVAL);
        assert_int_equal(duplicate.error.line, 2);
        assert_string_equal(duplicate.error.message, "duplicate anchor 'x', first defined at line 1");
        parsed_done(&undefined);
        parsed_done(&recursive);
        parsed_done(&duplicate);
}

static void yaml_parse_json_merge_mapping(void **state) {
        Parsed p = parse("base: &b {x: 1, y: 2}\n"
                         "m:\n"
                         "  y: 20\n"
                         "  <<: *b\n"
                         "  z: 3\n");
        json_t *m;

        assert_int_equal(p.r, 0);
        m = json_object_get(p.value, "m");
        assert_int_equal(json_object_size(m), 3);
        assert_int_equal(json_integer_value(json_object_get(m, "x")), 1);
        assert_int_equal(json_integer_value(json_object_get(m, "y")), 20);
        assert_int_equal(json_integer_value(json_object_get(m, "z")), 3);
        assert_null(json_object_get(m, "<<"));
        assert_int_equal(json_array_size(p.warnings), 0);
        assert_int_equal(yaml_position_line(p.positions, "/m/x"), 1);
        assert_int_equal(yaml_position_line(p.positions, "/m/y"), 3);
        parsed_done(&p);
}

static void yaml_parse_json_merge_list_first_wins(void **state) {
        Parsed p = parse("a: &a {k: from-a, only-a: 1}\n"
                         "b: &b {k: from-b, only-b: 2}\n"
                         "m: {<<: [*a, *b]}\n");
        json_t *m;

        assert_int_equal(p.r, 0);
        m = json_object_get(p.value, "m");
        assert_string_equal(json_string_value(json_object_get(m, "k")), "from-a");
        assert_int_equal(json_integer_value(json_object_get(m, "only-a")), 1);
        assert_int_equal(json_integer_value(json_object_get(m, "only-b")), 2);
        assert_int_equal(yaml_position_line(p.positions, "/m/k"), 1);
        assert_int_equal(yaml_position_line(p.positions, "/m/only-b"), 2);
        parsed_done(&p);
}

static void yaml_parse_json_merge_invalid_rejected(void **state) {
        Parsed scalar = parse("m:\n  <<: 1\n"), list = parse("m:\n  <<: [{a: 1}, 2]\n");

        assert_int_equal(scalar.r, -EINVAL);
        assert_int_equal(scalar.error.line, 2);
        assert_string_equal(scalar.error.message, "expected a mapping or a list of mappings to merge into the mapping");
        assert_int_equal(list.r, -EINVAL);
        assert_string_equal(list.error.message, "item 1 of the list to merge is not a mapping");
        parsed_done(&scalar);
        parsed_done(&list);
}

static void yaml_parse_json_duplicate_keys_last_wins(void **state) {
        Parsed p = parse("#cloud-config\n"
                         "runcmd:\n"
                         "  - touch /run/b05-first\n"
                         "write_files:\n"
                         "  - path: /run/b05-file\n"
                         "    content: \"x\"\n"
                         "    path: /run/b05-other\n"
                         "runcmd:\n"
                         "  - touch /run/b05-second\n");
        json_t *runcmd;

        assert_int_equal(p.r, 0);
        runcmd = json_object_get(p.value, "runcmd");
        assert_int_equal(json_array_size(runcmd), 1);
        assert_string_equal(json_string_value(json_array_get(runcmd, 0)), "touch /run/b05-second");
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(p.value, "write_files"), 0), "path")),
                            "/run/b05-other");
        assert_int_equal(json_array_size(p.warnings), 2);
        assert_int_equal(warning_line(&p, 0), 7);
        assert_string_equal(warning_message(&p, 0), "duplicate key 'path' at lines 5 and 7, the last one wins");
        assert_int_equal(warning_line(&p, 1), 8);
        assert_string_equal(warning_message(&p, 1), "duplicate key 'runcmd' at lines 2 and 8, the last one wins");
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/0"), 9);
        assert_int_equal(yaml_position_line(p.positions, "/write_files/0/path"), 7);
        parsed_done(&p);
}

static void yaml_parse_json_duplicate_positions_dropped(void **state) {
        Parsed p = parse("runcmd:\n  - a\n  - b\nruncmd:\n  - c\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/0"), 5);
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/1"), 0);
        parsed_done(&p);
}

static void yaml_parse_json_colon_item_is_mapping(void **state) {
        Parsed p = parse("runcmd:\n  - echo Status: ok > /run/b15-a\n  - \"echo 'Status: ok'\"\n");
        json_t *runcmd;

        assert_int_equal(p.r, 0);
        runcmd = json_object_get(p.value, "runcmd");
        assert_true(json_is_object(json_array_get(runcmd, 0)));
        assert_string_equal(json_string_value(json_object_get(json_array_get(runcmd, 0), "echo Status")), "ok > /run/b15-a");
        assert_string_equal(json_string_value(json_array_get(runcmd, 1)), "echo 'Status: ok'");
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/0"), 2);
        parsed_done(&p);
}

static void yaml_parse_json_false_item_is_boolean(void **state) {
        Parsed p = parse("hostname: off\nruncmd:\n  - false\n  - \"false\"\n");
        json_t *runcmd;

        assert_int_equal(p.r, 0);
        runcmd = json_object_get(p.value, "runcmd");
        assert_true(json_is_false(json_array_get(runcmd, 0)));
        assert_true(json_is_string(json_array_get(runcmd, 1)));
        assert_true(json_is_false(json_object_get(p.value, "hostname")));
        parsed_done(&p);
}

static void yaml_parse_json_tab_indentation_rejected(void **state) {
        Parsed p = parse("a:\n  b: 1\n\tc: 2\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 3);
        assert_int_equal(p.error.column, 1);
        assert_string_equal(p.error.message, "tab character used for indentation");
        parsed_done(&p);
}

static void yaml_parse_json_tab_after_spaces_rejected(void **state) {
        Parsed p = parse("a:\n  b: 1\n  \tc: 2\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 3);
        assert_int_equal(p.error.column, 3);
        assert_string_equal(p.error.message, "tab character used for indentation");
        parsed_done(&p);
}

static void yaml_parse_json_tab_only_line_blank(void **state) {
        Parsed top = parse("a: 1\n\t\nb: 2\n"), nested = parse("a:\n  b: 1\n \t \n  c: 2\n");

        assert_int_equal(top.r, 0);
        assert_int_equal(json_integer_value(json_object_get(top.value, "b")), 2);
        assert_int_equal(yaml_position_line(top.positions, "/b"), 3);
        assert_int_equal(nested.r, 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(nested.value, "a"), "c")), 2);
        assert_int_equal(yaml_position_line(nested.positions, "/a/c"), 4);
        parsed_done(&top);
        parsed_done(&nested);
}

static void yaml_parse_json_tab_only_line_in_block_scalar(void **state) {
        Parsed blank = parse("runcmd:\n  - |\n    echo a\n\t\n    echo b\n"),
               content = parse("runcmd:\n  - |\n    echo a\n    \t\n    echo b\n");

        assert_int_equal(blank.r, 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(blank.value, "runcmd"), 0)), "echo a\n\necho b\n");
        assert_int_equal(content.r, 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(content.value, "runcmd"), 0)), "echo a\n\t\necho b\n");
        parsed_done(&blank);
        parsed_done(&content);
}

static void yaml_parse_json_tab_after_key_accepted(void **state) {
        Parsed p = parse("a:\t1\nb: [x,\ty]\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(json_integer_value(json_object_get(p.value, "a")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(p.value, "b"), 1)), "y");
        parsed_done(&p);
}

static void yaml_parse_json_crlf(void **state) {
        Parsed p = parse("#cloud-config\r\nwrite_files:\r\n  - path: /run/b01-file\r\n    content: \"ok\"\r\n    other: |\r\n      x\r\n");
        json_t *item;

        assert_int_equal(p.r, 0);
        item = json_array_get(json_object_get(p.value, "write_files"), 0);
        assert_string_equal(json_string_value(json_object_get(item, "content")), "ok");
        assert_string_equal(json_string_value(json_object_get(item, "path")), "/run/b01-file");
        assert_string_equal(json_string_value(json_object_get(item, "other")), "x\n");
        assert_int_equal(yaml_position_line(p.positions, "/write_files/0/content"), 4);
        parsed_done(&p);
}

static void yaml_parse_json_invalid_utf8_offset(void **state) {
        Parsed p = parse("#cloud-config\nruncmd:\n  - echo \xff\n");

        assert_int_equal(p.r, -EINVAL);
        assert_string_equal(p.error.message, "invalid UTF-8 at byte offset 31");
        assert_int_equal(p.error.line, 3);
        assert_int_equal(p.error.column, 10);
        assert_null(p.value);
        parsed_done(&p);
}

static void yaml_parse_json_truncated_utf8_rejected(void **state) {
        Parsed p = parse("a: caf\xc3");

        assert_int_equal(p.r, -EINVAL);
        assert_string_equal(p.error.message, "invalid UTF-8 at byte offset 6");
        parsed_done(&p);
}

static void yaml_parse_json_control_character_rejected(void **state) {
        Parsed p = parse_n("a: x\0y\n", 7);

        assert_int_equal(p.r, -EINVAL);
        assert_string_equal(p.error.message, "control characters are not allowed at byte offset 4");
        parsed_done(&p);
}

static void yaml_parse_json_utf8_accepted(void **state) {
        Parsed p = parse("\xef\xbb\xbf# Kommentar: \xc3\xa4\ncontent: \"Gr\xc3\xbc\xc3\x9f""e\\n\"\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(json_string_value(json_object_get(p.value, "content")), "Gr\xc3\xbc\xc3\x9f""e\n");
        parsed_done(&p);
}

static void yaml_parse_json_billion_laughs_rejected(void **state) {
        Parsed p = parse("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n");

        assert_int_equal(p.r, -E2BIG);
        assert_int_equal(p.error.line, 5);
        assert_string_equal(p.error.message, "aliases expand to more than 10000 nodes");
        assert_null(p.value);
        parsed_done(&p);
}

/* A mapping whose value is depth nested flow sequences, so depth + 1 collections in all. */
static char *nested_document(unsigned depth) {
        char *doc = malloc(2 * depth + 8);
        size_t n = strlen("a: ");

        if (!doc)
                abort();
        memcpy(doc, "a: ", n);
        for (unsigned i = 0; i < depth; i++)
                doc[n++] = '[';
        for (unsigned i = 0; i < depth; i++)
                doc[n++] = ']';
        doc[n++] = '\n';
        doc[n] = '\0';
        return doc;
}

static void yaml_parse_json_depth_limit(void **state) {
        _cleanup_free_ char *at_limit = nested_document(YAML_DEPTH_MAX - 1), *over = nested_document(YAML_DEPTH_MAX),
                            *huge = nested_document(100000);
        Parsed ok = parse(at_limit), deep = parse(over), deeper = parse(huge);

        assert_int_equal(ok.r, 0);
        assert_int_equal(deep.r, -E2BIG);
        assert_int_equal(deep.error.line, 1);
        assert_string_equal(deep.error.message, "nesting deeper than 64 levels");
        assert_int_equal(deeper.r, -E2BIG);
        parsed_done(&ok);
        parsed_done(&deep);
        parsed_done(&deeper);
}

static void yaml_parse_json_alias_depth_limit(void **state) {
        _cleanup_free_ char *doc = NULL, *inner = nested_document(60);
        Parsed p;

        inner[strlen(inner) - 1] = '\0';
        assert_true(asprintf(&doc, "x: &x %s\ny: [[[[[[*x]]]]]]\n", inner + strlen("a: ")) > 0);
        p = parse(doc);
        assert_int_equal(p.r, -E2BIG);
        assert_int_equal(p.error.line, 2);
        assert_string_equal(p.error.message, "alias 'x' nests deeper than 64 levels");
        parsed_done(&p);
}

static void yaml_parse_json_empty_document_null(void **state) {
        Parsed empty = parse(""), comment = parse("#cloud-config\n"), blank = parse("\n\n  \n");

        assert_int_equal(empty.r, 0);
        assert_true(json_is_null(empty.value));
        assert_int_equal(comment.r, 0);
        assert_true(json_is_null(comment.value));
        assert_int_equal(blank.r, 0);
        assert_true(json_is_null(blank.value));
        parsed_done(&empty);
        parsed_done(&comment);
        parsed_done(&blank);
}

static void yaml_parse_json_key_without_value_null(void **state) {
        Parsed p = parse("#cloud-config\nwrite_files:\nruncmd:\n  - touch /run/b07-d\n");

        assert_int_equal(p.r, 0);
        assert_true(json_is_null(json_object_get(p.value, "write_files")));
        assert_int_equal(json_array_size(json_object_get(p.value, "runcmd")), 1);
        assert_int_equal(yaml_position_line(p.positions, "/write_files"), 2);
        parsed_done(&p);
}

static void yaml_parse_json_one_more_document_rejected(void **state) {
        Parsed p = parse("a: 1\n---\nb: 2\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 2);
        assert_string_equal(p.error.message, "expected a single YAML document, but 1 more follows after the "
                            "first; remove the '---' line or send the documents as separate MIME parts");
        parsed_done(&p);
}

static void yaml_parse_json_multiple_documents_rejected(void **state) {
        Parsed p = parse("a: 1\n---\nb: 2\n---\nc: 3\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 2);
        assert_non_null(strstr(p.error.message, "2 more follow after the first"));
        parsed_done(&p);
}

static void yaml_parse_json_error_in_later_document(void **state) {
        Parsed p = parse("a: 1\n---\nb: [\n");

        assert_int_equal(p.r, -EINVAL);
        assert_null(p.value);
        parsed_done(&p);
}

static void yaml_parse_json_missing_colon_line(void **state) {
        Parsed p = parse("#cloud-config\nusers:\n  - name: alice\n#!/bin/bash\necho hi > /run/b10-b\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 5);
        assert_int_equal(p.error.column, 1);
        assert_string_equal(p.error.message, "could not find expected ':' (while scanning a simple key)");
        parsed_done(&p);
}

static void yaml_parse_json_syntax_error_context(void **state) {
        Parsed p = parse("a:\n  - x\n  b: 1\n");

        assert_int_equal(p.r, -EINVAL);
        assert_int_equal(p.error.line, 3);
        assert_int_equal(p.error.column, 3);
        assert_string_equal(p.error.message, "did not find expected '-' indicator (while parsing a block collection at line 2, column 3)");
        parsed_done(&p);
}

static void yaml_parse_json_scalar_keys_source_text(void **state) {
        Parsed p = parse("1: a\nyes: b\n~: c\n0644: d\n\"q/r\": e\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(json_string_value(json_object_get(p.value, "1")), "a");
        assert_string_equal(json_string_value(json_object_get(p.value, "yes")), "b");
        assert_string_equal(json_string_value(json_object_get(p.value, "~")), "c");
        assert_string_equal(json_string_value(json_object_get(p.value, "0644")), "d");
        assert_string_equal(json_string_value(json_object_get(p.value, "q/r")), "e");
        assert_int_equal(yaml_position_line(p.positions, "/~0"), 3);
        assert_int_equal(yaml_position_line(p.positions, "/q~1r"), 5);
        parsed_done(&p);
}

static void yaml_parse_json_collection_keys_rejected(void **state) {
        Parsed sequence = parse("a: 1\n? [1, 2]\n: x\n"), mapping = parse("{a: 1, {b: 2}: 3}\n"),
               alias = parse("a: &x [1]\n*x : 2\n"), nul = parse("\"a\\0b\": 1\n");

        assert_int_equal(sequence.r, -EINVAL);
        assert_int_equal(sequence.error.line, 2);
        assert_int_equal(sequence.error.column, 3);
        assert_string_equal(sequence.error.message, "a sequence cannot be a mapping key");
        assert_int_equal(mapping.r, -EINVAL);
        assert_int_equal(mapping.error.column, 8);
        assert_string_equal(mapping.error.message, "a mapping cannot be a mapping key");
        assert_int_equal(alias.r, -EINVAL);
        assert_string_equal(alias.error.message, "alias 'x' refers to a collection, which cannot be a mapping key");
        assert_int_equal(nul.r, -EINVAL);
        assert_string_equal(nul.error.message, "mapping key contains a NUL character");
        parsed_done(&sequence);
        parsed_done(&mapping);
        parsed_done(&alias);
        parsed_done(&nul);
}

static void yaml_parse_json_anchored_key_alias(void **state) {
        Parsed p = parse("&k name: a\nref: *k\n");

        assert_int_equal(p.r, 0);
        assert_string_equal(json_string_value(json_object_get(p.value, "ref")), "name");
        parsed_done(&p);
}

static void yaml_parse_json_positions(void **state) {
        Parsed p = parse("#cloud-config\n"
                         "runcmd:\n"
                         "  - one\n"
                         "  -\n"
                         "    two\n"
                         "defaults: &d\n"
                         "  mode: 0600\n"
                         "write_files:\n"
                         "  - path: /a\n"
                         "  - *d\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(yaml_position_line(p.positions, ""), 2);
        assert_int_equal(yaml_position_line(p.positions, "/runcmd"), 2);
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/0"), 3);
        assert_int_equal(yaml_position_line(p.positions, "/runcmd/1"), 5);
        assert_int_equal(yaml_position_line(p.positions, "/write_files/0/path"), 9);
        assert_int_equal(yaml_position_line(p.positions, "/write_files/1"), 10);
        assert_int_equal(yaml_position_line(p.positions, "/write_files/1/mode"), 7);
        assert_string_equal(yaml_position_text(p.positions, "/write_files/1/mode"), "0600");
        assert_int_equal(yaml_position_line(p.positions, "/nothing"), 0);
        assert_null(yaml_position_text(p.positions, "/runcmd/0"));
        parsed_done(&p);
}

static void yaml_parse_json_position_columns(void **state) {
        Parsed p = parse("#cloud-config\n"
                         "runcmd:\n"
                         "  - one\n"
                         "write_files:\n"
                         "  - path: /a\n"
                         "    permissions: 0600\n"
                         "  - {path: /b, mode: 1}\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(yaml_position_column(p.positions, "/runcmd"), 1);
        assert_int_equal(yaml_position_column(p.positions, "/runcmd/0"), 5);
        assert_int_equal(yaml_position_column(p.positions, "/write_files/0/path"), 5);
        assert_int_equal(yaml_position_column(p.positions, "/write_files/0/permissions"), 5);
        assert_string_equal(yaml_position_text(p.positions, "/write_files/0/permissions"), "0600");
        assert_int_equal(yaml_position_line(p.positions, "/write_files/1/mode"), 7);
        assert_int_equal(yaml_position_column(p.positions, "/write_files/1/mode"), 16);
        assert_int_equal(yaml_position_column(p.positions, "/nothing"), 0);
        parsed_done(&p);
}

static void yaml_parse_json_column_counts_characters(void **state) {
        Parsed p = parse("a: {\"\u00e9\u00e9\": 1, b: 2}\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(yaml_position_column(p.positions, "/a/b"), 14);
        parsed_done(&p);
}

static void yaml_parse_json_warning_column(void **state) {
        Parsed p = parse("a: 1\nb:\n  c: 1\n  c: 2\n");

        assert_int_equal(p.r, 0);
        assert_int_equal(json_array_size(p.warnings), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(p.warnings, 0), "line")), 4);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(p.warnings, 0), "column")), 3);
        parsed_done(&p);
}

static void yaml_position_helpers_read_hand_built(void **state) {
        json_t *positions = json_pack("{s:i, s:[i,s]}", "/a", 3, "/b", 4, "0640");

        assert_non_null(positions);
        assert_int_equal(yaml_position_line(positions, "/a"), 3);
        assert_int_equal(yaml_position_column(positions, "/a"), 0);
        assert_int_equal(yaml_position_line(positions, "/b"), 4);
        assert_int_equal(yaml_position_column(positions, "/b"), 0);
        assert_string_equal(yaml_position_text(positions, "/b"), "0640");
        json_decref(positions);
}

static void yaml_position_helpers_accept_null(void **state) {
        assert_int_equal(yaml_position_line(NULL, "/a"), 0);
        assert_int_equal(yaml_position_column(NULL, "/a"), 0);
        assert_null(yaml_position_text(NULL, "/a"));
}

static void yaml_parse_json_optional_outputs(void **state) {
        json_t *value = NULL;

        assert_int_equal(yaml_parse_json("a: [1\n", 6, &value, NULL, NULL, NULL), -EINVAL);
        assert_null(value);
        assert_int_equal(yaml_parse_json("a: 1\na: 2\n", 10, &value, NULL, NULL, NULL), 0);
        assert_int_equal(json_integer_value(json_object_get(value, "a")), 2);
        json_decref(value);
}

static void yaml_parse_json_no_warnings_empty_array(void **state) {
        Parsed p = parse("a: 1\n");

        assert_int_equal(p.r, 0);
        assert_true(json_is_array(p.warnings));
        assert_int_equal(json_array_size(p.warnings), 0);
        parsed_done(&p);
}

static char *read_text(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        text = malloc(1 << 20);
        assert_non_null(text);
        size = fread(text, 1, (1 << 20) - 1, f);
        text[size] = '\0';
        (void) fclose(f);
        *ret_size = size;
        return text;
}

static char *case_path(const char *dir, const char *name, const char *file) {
        char *path = NULL;

        assert_true(asprintf(&path, "%s/%s/%s", dir, name, file) > 0);
        return path;
}

/* One case of tests/data/yaml/: input, and expected (the JSON value) or error (the message), and
 * optionally warnings (the JSON array). */
static void run_data_case(const char *dir, const char *name) {
        _cleanup_free_ char *input_path = case_path(dir, name, "input"), *error_path = case_path(dir, name, "error"),
                            *expected_path = case_path(dir, name, "expected"),
                            *warnings_path = case_path(dir, name, "warnings");
        _cleanup_free_ char *input = NULL, *error = NULL, *got = NULL, *want = NULL, *got_json = NULL,
                            *want_json = NULL;
        json_t *expected, *warnings;
        size_t size = 0, error_size = 0;
        Parsed p;

        input = read_text(input_path, &size);
        assert_non_null(input);
        p = parse_n(input, size);

        error = read_text(error_path, &error_size);
        if (error) {
                error[strcspn(error, "\n")] = '\0';
                got_json = strdup(p.r < 0 ? p.error.message : "(parsed)");
                want_json = strdup(error);
        } else {
                expected = json_load_file(expected_path, JSON_DECODE_ANY, NULL);
                assert_non_null(expected);
                got_json = p.r < 0 ? strdup(p.error.message) : json_dumps(p.value, JSON_ENCODE_ANY | JSON_COMPACT);
                want_json = json_dumps(expected, JSON_ENCODE_ANY | JSON_COMPACT);
                json_decref(expected);
        }
        assert_true(asprintf(&got, "%s: %s", name, got_json) > 0);
        assert_true(asprintf(&want, "%s: %s", name, want_json) > 0);
        assert_string_equal(got, want);

        warnings = json_load_file(warnings_path, 0, NULL);
        if (warnings) {
                _cleanup_free_ char *got_warnings = dump(p.warnings), *want_warnings = dump(warnings);

                assert_string_equal(got_warnings, want_warnings);
                json_decref(warnings);
        }
        parsed_done(&p);
}

static void yaml_parse_json_data_cases(void **state) {
        const char *root = getenv("KILN_TEST_DATA");
        _cleanup_free_ char *dir = NULL;
        struct dirent **entries = NULL;
        int n, cases = 0;

        if (!root)
                skip();
        assert_true(asprintf(&dir, "%s/yaml", root) > 0);
        n = scandir(dir, &entries, NULL, alphasort);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                if (entries[i]->d_name[0] != '.') {
                        run_data_case(dir, entries[i]->d_name);
                        cases++;
                }
                free(entries[i]);
        }
        free(entries);
        assert_true(cases > 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(yaml_parse_json_booleans),
                cmocka_unit_test(yaml_parse_json_boolean_lookalikes_are_strings),
                cmocka_unit_test(yaml_parse_json_nulls),
                cmocka_unit_test(yaml_parse_json_integers),
                cmocka_unit_test(yaml_parse_json_integer_lookalikes_are_strings),
                cmocka_unit_test(yaml_parse_json_floats),
                cmocka_unit_test(yaml_parse_json_float_lookalikes_are_strings),
                cmocka_unit_test(yaml_parse_json_timestamps_are_strings),
                cmocka_unit_test(yaml_parse_json_quoted_are_strings),
                cmocka_unit_test(yaml_parse_json_explicit_tags),
                cmocka_unit_test(yaml_parse_json_bad_tags_rejected),
                cmocka_unit_test(yaml_parse_json_merge_and_value_indicators_as_values),
                cmocka_unit_test(yaml_parse_json_file_modes),
                cmocka_unit_test(yaml_parse_json_float_source_text),
                cmocka_unit_test(yaml_parse_json_integer_overflow_rejected),
                cmocka_unit_test(yaml_parse_json_infinity_kept_as_string),
                cmocka_unit_test(yaml_parse_json_binary),
                cmocka_unit_test(yaml_parse_json_binary_invalid_rejected),
                cmocka_unit_test(yaml_parse_json_aliases_share_node),
                cmocka_unit_test(yaml_parse_json_alias_errors),
                cmocka_unit_test(yaml_parse_json_merge_mapping),
                cmocka_unit_test(yaml_parse_json_merge_list_first_wins),
                cmocka_unit_test(yaml_parse_json_merge_invalid_rejected),
                cmocka_unit_test(yaml_parse_json_duplicate_keys_last_wins),
                cmocka_unit_test(yaml_parse_json_duplicate_positions_dropped),
                cmocka_unit_test(yaml_parse_json_colon_item_is_mapping),
                cmocka_unit_test(yaml_parse_json_false_item_is_boolean),
                cmocka_unit_test(yaml_parse_json_tab_indentation_rejected),
                cmocka_unit_test(yaml_parse_json_tab_after_spaces_rejected),
                cmocka_unit_test(yaml_parse_json_tab_only_line_blank),
                cmocka_unit_test(yaml_parse_json_tab_only_line_in_block_scalar),
                cmocka_unit_test(yaml_parse_json_tab_after_key_accepted),
                cmocka_unit_test(yaml_parse_json_crlf),
                cmocka_unit_test(yaml_parse_json_invalid_utf8_offset),
                cmocka_unit_test(yaml_parse_json_truncated_utf8_rejected),
                cmocka_unit_test(yaml_parse_json_control_character_rejected),
                cmocka_unit_test(yaml_parse_json_utf8_accepted),
                cmocka_unit_test(yaml_parse_json_billion_laughs_rejected),
                cmocka_unit_test(yaml_parse_json_depth_limit),
                cmocka_unit_test(yaml_parse_json_alias_depth_limit),
                cmocka_unit_test(yaml_parse_json_empty_document_null),
                cmocka_unit_test(yaml_parse_json_key_without_value_null),
                cmocka_unit_test(yaml_parse_json_one_more_document_rejected),
                cmocka_unit_test(yaml_parse_json_multiple_documents_rejected),
                cmocka_unit_test(yaml_parse_json_error_in_later_document),
                cmocka_unit_test(yaml_parse_json_missing_colon_line),
                cmocka_unit_test(yaml_parse_json_syntax_error_context),
                cmocka_unit_test(yaml_parse_json_scalar_keys_source_text),
                cmocka_unit_test(yaml_parse_json_collection_keys_rejected),
                cmocka_unit_test(yaml_parse_json_anchored_key_alias),
                cmocka_unit_test(yaml_parse_json_positions),
                cmocka_unit_test(yaml_parse_json_position_columns),
                cmocka_unit_test(yaml_parse_json_column_counts_characters),
                cmocka_unit_test(yaml_parse_json_warning_column),
                cmocka_unit_test(yaml_position_helpers_read_hand_built),
                cmocka_unit_test(yaml_position_helpers_accept_null),
                cmocka_unit_test(yaml_parse_json_optional_outputs),
                cmocka_unit_test(yaml_parse_json_no_warnings_empty_array),
                cmocka_unit_test(yaml_parse_json_data_cases),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
