/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/userdata/jinja.c. Each table row is a template and what cloud-init's Jinja
 * environment (Jinja 3.1, trim_blocks, undefined variables rendered as CI_MISSING_JINJA_VAR/NAME)
 * renders for it, or the error kiln reports for a construct outside the supported subset. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja.h"

/* The variables every case renders with, shaped like kiln's instance data. */
static const char vars_json[] =
        "{"
        "  \"v1\": {\"local_hostname\": \"host-1\", \"instance_id\": \"i-0123\", \"region\": \"us-east-1\","
        "          \"public_ssh_keys\": [\"ssh-ed25519 AAAA...test a@b\"], \"n\": null, \"t\": true,"
        "          \"zero\": 0, \"f\": 1.5},"
        "  \"ds\": {\"meta_data\": {\"instance-id\": \"i-0123\", \"instance_id\": \"i-0123\","
        "                          \"tags\": {\"Name\": \"web\"}, \"list\": [\"a\", \"b\", \"c\"],"
        "                          \"nested\": {\"x\": {\"y\": \"deep\"}}, \"num\": 42,"
        "                          \"items2\": [{\"n\": \"a\"}, {\"n\": 1}, {}], \"empty\": [], \"emptys\": "
        "\"\","
        "                          \"uni\": \"Gr\\u00fc\\u00dfe \\u2713\"}},"
        "  \"l\": [3, 1, 2], \"s\": \"h\\u00e9llo\", \"pairs\": [[\"a\", 1], [\"b\", 2]], \"d\": {\"b\": 1, "
        "\"a\": 2}"
        "}";

typedef struct RenderCase {
        const char *template;
        const char *expected;
} RenderCase;

typedef struct ErrorCase {
        const char *template;
        unsigned line;
        const char *message;     /* a part of the message */
} ErrorCase;

static json_t *vars;

static int setup(void **state) {
        json_error_t error;

        vars = json_loads(vars_json, 0, &error);
        if (!vars)
                fail_msg("Invalid test variables at %d: %s", error.position, error.text);
        return 0;
}

static int teardown(void **state) {
        json_decref(vars);
        vars = NULL;
        return 0;
}

/* Render text; the result or the error is in the out parameters. */
static int render(const char *text, size_t size, char **ret, json_t **ret_warnings, JinjaError *reterr) {
        size_t out_size = 0;
        int r;

        r = jinja_render(text, size, vars, ret, &out_size, ret_warnings, reterr);
        if (r >= 0 && strlen(*ret) != out_size)
                fail_msg("Output of '%s' has size %zu but strlen %zu", text, out_size, strlen(*ret));
        return r;
}

static void check_cases(const RenderCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *out = NULL;
                json_t *warnings = NULL;
                JinjaError error = {};
                int r;

                r = render(cases[i].template, strlen(cases[i].template), &out, &warnings, &error);
                json_decref(warnings);
                if (r < 0)
                        fail_msg("Case %zu '%s' failed at line %u: %s", i, cases[i].template, error.line,
                                 error.message);
                if (!streq(out, cases[i].expected))
                        fail_msg("Case %zu '%s'\n  rendered '%s'\n  expected '%s'", i, cases[i].template,
                                 out, cases[i].expected);
        }
}

static void check_errors(const ErrorCase *cases, size_t n, int expected_error) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *out = NULL;
                json_t *warnings = NULL;
                JinjaError error = {};
                int r;

                r = render(cases[i].template, strlen(cases[i].template), &out, &warnings, &error);
                json_decref(warnings);
                if (r != expected_error)
                        fail_msg("Case %zu '%s' returned %d, expected %d (output '%s')", i,
                                 cases[i].template, r, expected_error, r >= 0 ? out : "");
                if (error.line != cases[i].line)
                        fail_msg("Case %zu '%s' reported line %u, expected %u: %s", i, cases[i].template,
                                 error.line, cases[i].line, error.message);
                if (!strstr(error.message, cases[i].message))
                        fail_msg("Case %zu '%s': message '%s' lacks '%s'", i, cases[i].template,
                                 error.message, cases[i].message);
        }
}

static void jinja_render_variables(void **state) {
        static const RenderCase cases[] = {
                { "{{ v1.local_hostname }}", "host-1" },
                { "{{ v1['local_hostname'] }}", "host-1" },
                { "{{ ds.meta_data['instance-id'] }} {{ ds.meta_data.instance_id }}", "i-0123 i-0123" },
                { "{{ ds.meta_data.tags.Name }}", "web" },
                { "{{ ds.meta_data.nested.x.y }}", "deep" },
                { "{{ ds.meta_data.list[1] }}{{ ds.meta_data.list.0 }}{{ ds.meta_data.list[-1] }}", "bac" },
                { "{{ s[1] }}{{ s[-1] }}{{ l[true] }}", "\xc3\xa9o1" },
                { "{{ ds.meta_data.num }} {{ v1.f }} {{ v1.n }} {{ v1.t }}", "42 1.5 None True" },
                { "{{ l }}", "[3, 1, 2]" },
                { "{{ d }}", "{'b': 1, 'a': 2}" },
                { "{{ v1.public_ssh_keys }}", "['ssh-ed25519 AAAA...test a@b']" },
                { "{{ ds.meta_data.uni }}", "Gr\xc3\xbc\xc3\x9f" "e \xe2\x9c\x93" },
                { "{{ [ds.meta_data.uni] }}", "['Gr\xc3\xbc\xc3\x9f" "e \xe2\x9c\x93']" },
                { "{{ [\"it's\", 'a\"b', 'x\\ny', '\\x00', '\\u00a0', '\\\\'] }}",
                  "[\"it's\", 'a\"b', 'x\\ny', '\\x00', '\\xa0', '\\\\']" },
                { "{{ [none, true, false, 1.0, [2]] }}", "[None, True, False, 1.0, [2]]" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_literals(void **state) {
        static const RenderCase cases[] = {
                { "{{ 'single' }} {{ \"double\" }} {{ 'x' 'y' }}", "single double xy" },
                { "{{ 'a\\tb\\\\c\\'d\\x41\\u00e9\\d' }}", "a\tb\\c'dA\xc3\xa9\\d" },
                { "{{ \"multi\nline\" }}", "multi\nline" },
                { "{{ 42 }} {{ -7 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }}", "42 -7 1000 31 15 5" },
                { "{{ 1.0 }} {{ 0.1 }} {{ -2.5 }} {{ 3.14159 }} {{ 1.5e3 }} {{ 2E2 }}",
                  "1.0 0.1 -2.5 3.14159 1500.0 200.0" },
                { "{{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 1e100 }}",
                  "1e+16 1000000000000000.0 1e-05 0.0001 1e+100" },
                { "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "True True False None None" },
                { "{{ [] }} {{ [1, [2, 'x']] }} {{ (1, 2) }} {{ ((1)) }} {{ (1,) }} {{ () }}",
                  "[] [1, [2, 'x']] (1, 2) 1 (1,) ()" },
                { "{{ -v1.f }} {{ -(3) }} {{ - true }}", "-1.5 -3 -1" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_whitespace(void **state) {
        /* A newline right after a statement or comment tag is dropped; one at the end stays. */
        static const RenderCase cases[] = {
                { "a\n{% if true %}\nb\n{% endif %}\nc\n", "a\nb\nc\n" },
                { "a\n{% if true %}\nb\n{% endif %}\nc", "a\nb\nc" },
                { "{{ v1.region }}\nx\n\n", "us-east-1\nx\n\n" },
                { "{# a comment #}\nx", "x" },
                { "x {# c #} y", "x  y" },
                { "x\n{#- strip -#}\n   y", "xy" },
                { "  {%- if true -%}  \n x  {%- endif %}\n", "x\n" },
                { "{{- v1.region -}}   !", "us-east-1!" },
                { "a   {{- 'b' }}", "ab" },
                { "{% if true +%}\nx{% endif %}", "\nx" },
                { "{%+ if true %}x{% endif %}", "x" },
                { "line1\r\nline2 {{ v1.region }}\r\n", "line1\nline2 us-east-1\n" },
                { "{% if true %}\r\nx\r{% endif %}", "x\n" },
                { "{% if v1.t %}\n  a\n{% endif %}\n  b\n{% for x in l %}\n- {{ x }}\n{% endfor %}\n",
                  "  a\n  b\n- 3\n- 1\n- 2\n\n" },
                { "{{ v1.local_hostname\n  | upper }}", "HOST-1" },
                { "x{#", "x" },
                { "", "" },
                { "\n", "\n" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_raw(void **state) {
        static const RenderCase cases[] = {
                { "{% raw %}{{ not rendered }} {% if %}{% endraw %}", "{{ not rendered }} {% if %}" },
                { "{% raw -%}  x  {%- endraw %}", "x" },
                { "{% raw %}a{% endraw %}\nb", "ab" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_if(void **state) {
        static const RenderCase cases[] = {
                { "{% if v1.region == 'us-east-1' %}east{% elif v1.region == 'x' %}x{% else %}"
                  "other{% endif %}",
                  "east" },
                { "{% if v1.region == 'y' %}y{% elif v1.region == 'us-east-1' %}elif{% else %}"
                  "other{% endif %}",
                  "elif" },
                { "{% if v1.zero %}zero{% else %}else{% endif %}", "else" },
                { "{% if nope %}x{% endif %}|{% if not nope %}y{% endif %}", "|y" },
                { "{% if ds.meta_data.empty %}x{% elif ds.meta_data.emptys %}y{% else %}z{% endif %}", "z" },
                { "{% if v1.t %}{% if l %}{% if d %}deep{% endif %}{% endif %}{% endif %}", "deep" },
                { "{% if v1.region in ['us-east-1', 'us-west-2'] and v1.t %}US{% endif %}", "US" },
                { "{% if v1.region is defined and v1.nope is not defined %}ok{% endif %}", "ok" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_for(void **state) {
        static const RenderCase cases[] = {
                { "{% for k in ds.meta_data.list %}{{ loop.index }}:{{ k }}{% if not loop.last %}"
                  ",{% endif %}{% endfor %}",
                  "1:a,2:b,3:c" },
                { "{% for k in d %}{{ k }}={{ d[k] }};{% endfor %}", "b=1;a=2;" },
                { "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "b=1;a=2;" },
                { "{% for k in d.keys() %}{{ k }}{% endfor %}{% for v in d.values() %}{{ v }}{% endfor %}",
                  "ba12" },
                { "{% for a, b in pairs %}{{ a }}{{ b }}{% endfor %}", "a1b2" },
                { "{% for c in s %}[{{ c }}]{% endfor %}", "[h][\xc3\xa9][l][l][o]" },
                { "{% for x in ds.meta_data.empty %}x{% else %}empty{% endfor %}", "empty" },
                { "{% for x in l if x > 1 %}{{ x }}/{{ loop.length }}/{{ loop.revindex }} {% endfor %}",
                  "3/2/2 2/2/1 " },
                { "{% for x in l %}{{ loop.index0 }}{{ loop.first }}{{ loop.revindex0 }};{% endfor %}",
                  "0True2;1False1;2False0;" },
                { "{% for x in l %}{{ loop.previtem }},{{ loop.nextitem }};{% endfor %}",
                  "CI_MISSING_JINJA_VAR/None,1;3,2;1,CI_MISSING_JINJA_VAR/None;" },
                { "{% for x in l %}{% for y in pairs %}{{ loop.index }}{% endfor %}"
                  "{{ loop.index }};{% endfor %}",
                  "121;122;123;" },
                { "{% for x in l %}{{ x }}{% endfor %}{{ x }}", "312CI_MISSING_JINJA_VAR/x" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_operators(void **state) {
        static const RenderCase cases[] = {
                { "{{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' == 'a' }} {{ l == [3, 1, 2] }} {{ 'a' != 'b' }}",
                  "True True True True True" },
                { "{{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 3 > 2 > 1 }} {{ 2 <= 2 }} {{ 2 >= 3 }} "
                  "{{ 1 < 1.5 }}",
                  "True True True True False True" },
                { "{{ 'a' in ['a', 'b'] }} {{ 'ell' in 'hello' }} {{ 'z' not in 'abc' }} {{ 'b' in d }} "
                  "{{ 1 in d }}",
                  "True True True True False" },
                { "{{ nope in l }} {{ 'x' in nope }} {{ nope == nope }} {{ nope == 1 }}",
                  "False False True False" },
                { "{{ v1.t and 'yes' }} {{ v1.zero or 'fallback' }} {{ not v1.t }} "
                  "{{ nope or 'x' }}|{{ '' and 'x' }}|",
                  "yes fallback False x||" },
                { "{{ 'yes' if v1.t else 'no' }} {{ 'yes' if v1.zero else 'no' }} [{{ 'a' if false }}]",
                  "yes no []" },
                { "{{ 'a' if false else 'b' if false else 'c' }}", "c" },
                { "{{ 'a' ~ 1 ~ none ~ v1.t ~ l }}", "a1NoneTrue[3, 1, 2]" },
                { "{{ not 1 == 2 }} {{ not nope is defined }}", "True True" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_tests(void **state) {
        static const RenderCase cases[] = {
                { "{{ nope is defined }} {{ v1.region is defined }} {{ v1.nope is not defined }} "
                  "{{ nope is undefined }}",
                  "False True True True" },
                { "{{ v1.n is none }} {{ 1 is none }} {{ true is boolean }} {{ true is true }} "
                  "{{ 0 is false }}",
                  "True False True True False" },
                { "{{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.5 is float }} "
                  "{{ 1 is integer }}",
                  "True True False True True" },
                { "{{ 'a' is string }} {{ d is mapping }} {{ l is mapping }} {{ l is sequence }} "
                  "{{ nope is sequence }}",
                  "True True False True True" },
                { "{{ s is iterable }} {{ 1 is iterable }}", "True False" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_filters(void **state) {
        static const RenderCase cases[] = {
                { "{{ v1.nope | default('dflt') }} {{ v1.local_hostname | default('dflt') }} "
                  "{{ v1.nope|d }}|",
                  "dflt host-1 |" },
                { "{{ ds.meta_data.emptys | default('e', true) }} "
                  "{{ ds.meta_data.emptys | d('e', boolean=true) }}",
                  "e e" },
                { "{{ v1.n|default('x') }} {{ v1.n|default('x', true) }} {{ nope|default(l) }}",
                  "None x [3, 1, 2]" },
                { "{{ v1.local_hostname | upper }} {{ 'ABC' | lower }} {{ v1.t | lower }} "
                  "{{ v1.n | upper }}",
                  "HOST-1 abc true NONE" },
                { "{{ v1.local_hostname | replace('-', '_') }} {{ 'aaa' | replace('a', 'b', 2) }}",
                  "host_1 bba" },
                { "{{ 'abc'|replace('', '.') }} {{ 'abc'|replace('', '.', 2) }} "
                  "{{ 'a'|replace('a', 'b', 0) }}",
                  ".a.b.c. .a.bc a" },
                { "{{ 'h\xc3\xa9'|replace('', '-') }} {{ 12|replace(1, 'x') }}", "-h-\xc3\xa9- x2" },
                { "{{ ds.meta_data.list | join(',') }} {{ l | join }} {{ d|join('+') }} {{ s|join('.') }}",
                  "a,b,c 312 b+a h.\xc3\xa9.l.l.o" },
                { "{{ ds.meta_data.items2 | join(', ', attribute='n') }}", "a, 1, CI_MISSING_JINJA_VAR/n" },
                { "{{ pairs | join(';', '1') }} {{ nope|join(',') }}|", "1;2 |" },
                { "{{ '  x \\n' | trim }}|{{ 'xxaxx'|trim('x') }}|{{ '\\u3000y\\u00a0'|trim }}", "x|a|y" },
                { "{{ l|length }} {{ s|length }} {{ d|count }} {{ nope|length }} {{ ''|length }}",
                  "3 5 2 0 0" },
                { "{{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }} {{ d|first }} {{ d|last }}",
                  "3 2 h o b a" },
                { "{{ []|first }} {{ nope|last }}", "CI_MISSING_JINJA_VAR/None CI_MISSING_JINJA_VAR/None" },
                { "{{ 5|string }} {{ l|string }} {{ 5|string ~ 'a' }} {{ ds.meta_data.num|string|length }}",
                  "5 [3, 1, 2] 5a 2" },
                { "{{ pairs|first|last }} {{ -v1.f|string }}", "1 -1.5" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_undefined_renders_cloud_init_marker(void **state) {
        static const RenderCase cases[] = {
                { "{{ nope }} {{ v1.nope }}", "CI_MISSING_JINJA_VAR/nope CI_MISSING_JINJA_VAR/nope" },
                { "{{ ds.meta_data['no-such'] }} {{ ds.meta_data.list[7] }} {{ v1.local_hostname.x }}",
                  "CI_MISSING_JINJA_VAR/no-such CI_MISSING_JINJA_VAR/7 CI_MISSING_JINJA_VAR/x" },
                { "{{ nope|upper }} {{ nope|lower }} {{ nope|string }} {{ 'a' ~ nope }}",
                  "CI_MISSING_JINJA_VAR/NOPE ci_missing_jinja_var/nope CI_MISSING_JINJA_VAR/nope "
                  "aCI_MISSING_JINJA_VAR/nope" },
                { "{% for x in nope %}x{% else %}none{% endfor %}", "none" },
        };

        check_cases(cases, ELEMENTSOF(cases));
}

static void jinja_render_undefined_warns_with_line(void **state) {
        static const char template[] = "a\n{{ v1.nope }}\n{{ ds.meta_data['no-such'] }}{{ v1.nope }}\n";
        _cleanup_free_ char *out = NULL;
        json_t *warnings = NULL;
        JinjaError error = {};

        assert_int_equal(render(template, strlen(template), &out, &warnings, &error), 0);
        assert_int_equal(json_array_size(warnings), 3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(warnings, 0), "line")), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(warnings, 0), "message")),
                            "Variable 'v1.nope' is undefined, rendered as 'CI_MISSING_JINJA_VAR/nope'");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(warnings, 1), "line")), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(warnings, 1), "message")),
                            "Variable 'ds.meta_data['no-such']' is undefined, rendered as "
                            "'CI_MISSING_JINJA_VAR/no-such'");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(warnings, 2), "line")), 3);
        json_decref(warnings);
}

static void jinja_render_undefined_warns_once_per_line(void **state) {
        static const char template[] = "{% for x in l %}{{ nope }}{% endfor %}";
        _cleanup_free_ char *out = NULL;
        json_t *warnings = NULL;

        assert_int_equal(render(template, strlen(template), &out, &warnings, NULL), 0);
        assert_int_equal(json_array_size(warnings), 1);
        json_decref(warnings);
}

static void jinja_render_checked_undefined_does_not_warn(void **state) {
        static const char template[] =
                "{{ nope|default('x') }}{% if nope is defined %}{% endif %}{% if nope %}{% endif %}"
                "{{ nope|d('y', true) }}{{ 'a' if false }}{{ nope|length }}";
        _cleanup_free_ char *out = NULL;
        json_t *warnings = NULL;

        assert_int_equal(render(template, strlen(template), &out, &warnings, NULL), 0);
        assert_string_equal(out, "xy0");
        assert_int_equal(json_array_size(warnings), 0);
        json_decref(warnings);
}

static void jinja_render_loop_over_undefined_warns(void **state) {
        static const char template[] = "\n{% for x in ds.nope %}{{ x }}{% endfor %}";
        _cleanup_free_ char *out = NULL;
        json_t *warnings = NULL;

        assert_int_equal(render(template, strlen(template), &out, &warnings, NULL), 0);
        assert_int_equal(json_array_size(warnings), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(warnings, 0), "line")), 2);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(warnings, 0), "message")),
                               "ds.nope"));
        json_decref(warnings);
}

static void jinja_render_appends_to_existing_warnings(void **state) {
        _cleanup_free_ char *out = NULL;
        json_t *warnings = json_pack("[{s:i, s:s}]", "line", 9, "message", "earlier");

        assert_int_equal(render("{{ nope }}", 10, &out, &warnings, NULL), 0);
        assert_int_equal(json_array_size(warnings), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(warnings, 0), "message")),
                            "earlier");
        json_decref(warnings);
}

static void jinja_render_without_warning_list(void **state) {
        _cleanup_free_ char *out = NULL;

        assert_int_equal(jinja_render("{{ nope }}", 10, vars, &out, NULL, NULL, NULL), 0);
        assert_string_equal(out, "CI_MISSING_JINJA_VAR/nope");
}

static void jinja_render_rejects_unsupported_constructs(void **state) {
        static const ErrorCase cases[] = {
                { "{% set x = 1 %}{{ x }}", 1, "'{% set %}' is not supported" },
                { "a\n{% macro m() %}x{% endmacro %}", 2, "'{% macro %}' is not supported" },
                { "\n\n{% include 'x' %}", 3, "'{% include %}' is not supported" },
                { "{% import 'x' as y %}", 1, "'{% import %}'" },
                { "{% extends 'x' %}", 1, "'{% extends %}'" },
                { "{% block b %}{% endblock %}", 1, "'{% block %}'" },
                { "{% filter upper %}x{% endfilter %}", 1, "'{% filter %}'" },
                { "{% with a = 1 %}{% endwith %}", 1, "'{% with %}'" },
                { "{% do l.append(1) %}", 1, "'{% do %}'" },
                { "{% for x in l %}{% break %}{% endfor %}", 1, "'{% break %}'" },
                { "{% if false %}\n{% set y = 2 %}\n{% endif %}", 2, "'{% set %}' is not supported" },
                { "{% frobnicate %}", 1, "Unknown statement '{% frobnicate %}'" },
                { "{{ 1 + 2 }}", 1, "Arithmetic operator '+' is not supported" },
                { "{{ l|length - 1 }}", 1, "Arithmetic operator '-'" },
                { "{{ 2 * 3 }}", 1, "Arithmetic operator '*'" },
                { "{{ 7 // 2 }}", 1, "Arithmetic operator '//'" },
                { "{{ 7 % 2 }}", 1, "Arithmetic operator '%'" },
                { "{{ 2 ** 3 }}", 1, "Arithmetic operator '**'" },
                { "{{ +1 }}", 1, "Arithmetic operator '+'" },
                { "\n{{ l|sort }}", 2, "Filter 'sort' is not supported" },
                { "{% if false %}{{ x|tojson }}{% endif %}", 1, "Filter 'tojson' is not supported" },
                { "{{ x|int }}", 1, "Filter 'int'" },
                { "{{ range(3) }}", 1, "Function call 'range(...)' is not supported" },
                { "{{ v1.local_hostname.upper() }}", 1, "Function call 'upper(...)'" },
                { "{{ {'a': 1} }}", 1, "Dict literal '{...}' is not supported" },
                { "{{ l[1:] }}", 1, "Slice '[...:...]' is not supported" },
                { "{{ l[:1] }}", 1, "Slice" },
                { "{{ x is divisibleby 3 }}", 1, "Test 'divisibleby' is not supported" },
                { "{{ x is defined(1) }}", 1, "Test 'defined' takes no argument" },
                { "{% for x in l recursive %}{% endfor %}", 1, "Recursive loop" },
                { "{{ 'a'|replace('a') }}", 1, "Filter 'replace' needs its argument 'new'" },
                { "{{ 'a'|upper(1) }}", 1, "Filter 'upper' takes at most 0 arguments" },
                { "{{ 'a'|default(x=1) }}", 1, "Filter 'default' has no parameter 'x'" },
                { "{{ 'a'|default(boolean=true, 'b') }}", 1,
                  "positional argument of filter 'default' follows" },
                { "{{ '\\N{BULLET}' }}", 1, "'\\N{...}'" },
        };

        check_errors(cases, ELEMENTSOF(cases), -EINVAL);
}

static void jinja_render_rejects_syntax_errors(void **state) {
        static const ErrorCase cases[] = {
                { "{% if true %}x", 1, "Missing '{% endif %}' for the '{% if %}' opened here" },
                { "a\n{% for x in l %}\n{% if x %}\n{% endfor %}", 4, "Unexpected '{% endfor %}'" },
                { "\n{% for x in l %}x\n{% else %}\n", 2,
                  "Missing '{% endfor %}' for the '{% for %}' opened here" },
                { "{% endif %}", 1, "Unexpected '{% endif %}' outside a matching block" },
                { "{% else %}", 1, "Unexpected '{% else %}'" },
                { "{{ 'x' ~ }}", 1, "Expected an expression, got '}}'" },
                { "{{ x\n\n", 1, "Missing '}}' for the tag opened with '{{'" },
                { "{% if x", 1, "Missing '%}'" },
                { "x {# open\n", 1, "Missing '#}'" },
                { "{{ 'open }}", 1, "Missing closing '" },
                { "{{ a b }}", 1, "Expected '}}', got 'b'" },
                { "{% if %}{% endif %}", 1, "Expected an expression, got '%}'" },
                { "{% for in l %}{% endfor %}", 1, "Expected a loop variable name" },
                { "{% for x l %}{% endfor %}", 1, "Expected 'in'" },
                { "{% raw %}x", 1, "Missing '{% endraw %}'" },
                { "{{ x. }}", 1, "Expected a name or number after '.'" },
                { "{{ l[0 }}", 1, "Expected ']'" },
                { "{{ 1 $ 2 }}", 1, "Unexpected character '$'" },
                { "{{ 99999999999999999999 }}", 1, "Integer literal '99999999999999999999' is larger than" },
                { "{{ '\\x4' }}", 1, "Truncated escape '\\x'" },
                { "{% if true %}{% else %}{% else %}{% endif %}", 1, "Unexpected '{% else %}'" },
                { "\n{{ x }} {{ \"a\nb\" }} {{ y + 1 }}", 3, "Arithmetic operator '+'" },
        };

        check_errors(cases, ELEMENTSOF(cases), -EINVAL);
}

static void jinja_render_rejects_runtime_errors(void **state) {
        static const ErrorCase cases[] = {
                { "\n{{ nope.attr }}", 2, "Cannot read attribute 'attr': 'nope' is undefined" },
                { "{{ ds.meta_data.nope['x'] }}", 1,
                  "Cannot read an item: 'ds.meta_data.nope' is undefined" },
                { "{% if ds.nope.tags is defined %}{% endif %}", 1, "'ds.nope' is undefined" },
                { "{{ l[nope] }}", 1, "Cannot use it as a subscript: 'nope' is undefined" },
                { "{{ 1 < 'a' }}", 1, "Cannot compare 'int' and 'str' with '<'" },
                { "{{ nope > 1 }}", 1, "'nope' is undefined" },
                { "{{ 1 in 2 }}", 1, "Argument of type 'int' on the right of 'in' is not iterable" },
                { "{{ 1 in 'abc' }}", 1, "'in <string>' needs a string on its left, not 'int'" },
                { "{{ [1] in d }}", 1, "Unhashable type 'list'" },
                { "{% for x in 5 %}{% endfor %}", 1, "Cannot iterate over a value of type 'int'" },
                { "{% for a, b in l %}{% endfor %}", 1,
                  "Cannot unpack a value of type 'int' into 2 loop variables" },
                { "{{ -'a' }}", 1, "Cannot negate a value of type 'str'" },
                { "{{ v1.t|length }}", 1, "A value of type 'bool' has no length" },
                { "{{ 'a'|replace('a', 'b', 'c') }}", 1,
                  "The count of filter 'replace' must be an integer" },
                { "{{ d.items }}", 1, "'.items' of a mapping is a method in Jinja" },
                { "{{ d.get }}", 1, "'.get' of a mapping is a method" },
                { "{{ s.startswith }}", 1, "'.startswith' of a string is a method" },
                { "{{ l.append }}", 1, "'.append' of a list is a method" },
                { "{{ l.items() }}", 1, "'.items()' needs a mapping, got a value of type 'list'" },
                { "{{ [nope] }}", 1, "Cannot put it in a list: 'nope' is undefined" },
        };

        check_errors(cases, ELEMENTSOF(cases), -EINVAL);
}

static void jinja_render_rejects_invalid_utf8(void **state) {
        static const char template[] = "ok\n\xff{{ x }}";
        _cleanup_free_ char *out = NULL;
        JinjaError error = {};

        assert_int_equal(render(template, strlen(template), &out, NULL, &error), -EINVAL);
        assert_int_equal(error.line, 2);
        assert_string_equal(error.message, "The template is not valid UTF-8 at byte offset 3");
        assert_null(out);
}

static void jinja_render_keeps_nul_bytes(void **state) {
        static const char template[] = "a\0{{ 'b' }}";
        _cleanup_free_ char *out = NULL;
        size_t size = 0;

        assert_int_equal(jinja_render(template, sizeof(template) - 1, vars, &out, &size, NULL, NULL), 0);
        assert_int_equal(size, 3);
        assert_memory_equal(out, "a\0b", 3);
}

/* A template of depth nested blocks of the given statement. */
static char *nested_blocks(unsigned depth) {
        size_t size = (size_t) depth * 40 + 1;
        char *s = calloc(size, 1);
        size_t n = 0;

        assert_non_null(s);
        for (unsigned i = 0; i < depth; i++)
                n += (size_t) snprintf(s + n, size - n, "{%% if true %%}");
        n += (size_t) snprintf(s + n, size - n, "x");
        for (unsigned i = 0; i < depth; i++)
                n += (size_t) snprintf(s + n, size - n, "{%% endif %%}");
        return s;
}

static void jinja_render_limits_block_depth(void **state) {
        _cleanup_free_ char *ok = nested_blocks(32), *deep = nested_blocks(33), *out = NULL;
        JinjaError error = {};

        assert_int_equal(render(ok, strlen(ok), &out, NULL, &error), 0);
        assert_string_equal(out, "x");
        assert_int_equal(render(deep, strlen(deep), &out, NULL, &error), -E2BIG);
        assert_string_equal(error.message, "Blocks are nested more than 32 levels deep");
}

static void jinja_render_limits_expression_depth(void **state) {
        char deep[1024];
        _cleanup_free_ char *out = NULL;
        JinjaError error = {};
        size_t n;

        /* Parentheses alone add no node, so the depth comes from operators. */
        n = (size_t) snprintf(deep, sizeof(deep), "{{ ");
        for (int i = 0; i < 100; i++)
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, "(");
        n += (size_t) snprintf(deep + n, sizeof(deep) - n, "1");
        for (int i = 0; i < 100; i++)
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, ")");
        (void) snprintf(deep + n, sizeof(deep) - n, " }}");
        assert_int_equal(render(deep, strlen(deep), &out, NULL, &error), 0);
        free(out);
        out = NULL;

        n = (size_t) snprintf(deep, sizeof(deep), "{{ 1");
        for (int i = 0; i < 70; i++)
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, "|string");
        (void) snprintf(deep + n, sizeof(deep) - n, " }}");
        assert_int_equal(render(deep, strlen(deep), &out, NULL, &error), -E2BIG);
        assert_string_equal(error.message, "An expression is nested more than 64 levels deep");
}

/* Deep parentheses, unary minus and 'not' recurse in the parser before any node exists; 60,000
 * of them must be an error, not a stack overflow. */
static void jinja_render_limits_parser_recursion(void **state) {
        static const char *const openers[] = { "(", "-", "not " };

        for (size_t k = 0; k < ELEMENTSOF(openers); k++) {
                _cleanup_free_ char *deep = NULL, *out = NULL;
                size_t len = strlen(openers[k]), n = 0;
                JinjaError error = {};

                deep = malloc(100000 * (len + 1) + 16);
                assert_non_null(deep);
                n += (size_t) sprintf(deep, "{{ "); /* checksrc: allow sprintf (sized buffer) */
                for (int i = 0; i < 60000; i++, n += len)
                        memcpy(deep + n, openers[k], len);
                deep[n++] = '1';
                for (int i = 0; k == 0 && i < 60000; i++)
                        deep[n++] = ')';
                memcpy(deep + n, " }}", 4);
                assert_int_equal(render(deep, strlen(deep), &out, NULL, &error), -E2BIG);
                assert_string_equal(error.message, "An expression is nested more than 64 levels deep");
        }
}

static void jinja_render_limits_loop_iterations(void **state) {
        static const char template[] =
                "{% for a in big %}{% for b in big %}{% endfor %}{% endfor %}";
        json_t *saved = vars, *big = json_array();
        _cleanup_free_ char *out = NULL;
        JinjaError error = {};
        int r;

        for (int i = 0; i < 400; i++)
                assert_int_equal(json_array_append_new(big, json_integer(i)), 0);
        vars = json_pack("{s:o}", "big", big);
        r = render(template, strlen(template), &out, NULL, &error);
        json_decref(vars);
        vars = saved;
        assert_int_equal(r, -E2BIG);
        assert_string_equal(error.message, "For loops run more than 100000 iterations");
        assert_int_equal(error.line, 1);
}

static void jinja_render_limits_output_size(void **state) {
        static const char template[] = "{% for i in l %}{% for j in l %}{{ big }}{% endfor %}{% endfor %}";
        json_t *saved = vars;
        _cleanup_free_ char *big = malloc(1024 * 1024 + 1), *out = NULL;
        JinjaError error = {};
        int r;

        assert_non_null(big);
        memset(big, 'a', 1024 * 1024);
        big[1024 * 1024] = '\0';
        /* 5 x 5 x 1 MiB is past the 16 MiB cap. */
        vars = json_pack("{s:s, s:[iiiii]}", "big", big, "l", 1, 2, 3, 4, 5);
        r = render(template, strlen(template), &out, NULL, &error);
        json_decref(vars);
        vars = saved;
        assert_int_equal(r, -E2BIG);
        assert_string_equal(error.message, "The rendered text is longer than 16777216 bytes");
}

static void jinja_render_limits_template_size(void **state) {
        size_t size = 16U * 1024U * 1024U + 1;
        _cleanup_free_ char *template = malloc(size), *out = NULL;
        JinjaError error = {};

        assert_non_null(template);
        memset(template, 'a', size);
        assert_int_equal(render(template, size, &out, NULL, &error), -E2BIG);
        assert_string_equal(error.message, "The template is larger than 16777216 bytes");
}

static void jinja_render_limits_tokens(void **state) {
        static const char tag[] = "{{1}}";
        size_t n = 70000, size = n * (sizeof(tag) - 1);
        _cleanup_free_ char *template = malloc(size), *out = NULL;
        JinjaError error = {};

        /* Three tokens each: 210000 in all. */
        assert_non_null(template);
        for (size_t i = 0; i < n; i++)
                memcpy(template + i * (sizeof(tag) - 1), tag, sizeof(tag) - 1);
        assert_int_equal(render(template, size, &out, NULL, &error), -E2BIG);
        assert_string_equal(error.message, "The template has more than 200000 tokens");
}

static void jinja_render_limits_string_work(void **state) {
        static const char template[] =
                "{% for i in l %}{% for j in l %}{% if big|replace('b', 'c') %}{% endif %}{% endfor %}"
                "{% endfor %}";
        json_t *saved = vars, *l = json_array();
        _cleanup_free_ char *big = malloc(1024 * 1024 + 1), *out = NULL;
        JinjaError error = {};
        int r;

        /* 20 x 20 copies of a 1 MiB string, each made twice, are past the 64 MiB budget, while
         * nothing is output. */
        assert_non_null(big);
        memset(big, 'a', 1024 * 1024);
        big[1024 * 1024] = '\0';
        for (int i = 0; i < 20; i++)
                assert_int_equal(json_array_append_new(l, json_integer(i)), 0);
        vars = json_pack("{s:s, s:o}", "big", big, "l", l);
        r = render(template, strlen(template), &out, NULL, &error);
        json_decref(vars);
        vars = saved;
        assert_int_equal(r, -E2BIG);
        assert_string_equal(error.message, "Rendering processes more than 67108864 bytes of text");
}

static void jinja_render_limits_warnings(void **state) {
        char template[4096];
        _cleanup_free_ char *out = NULL;
        json_t *warnings = NULL;
        size_t n = 0;

        for (int i = 0; i < 100; i++)
                n += (size_t) snprintf(template + n, sizeof(template) - n, "{{ v%d }}\n", i);
        assert_int_equal(render(template, strlen(template), &out, &warnings, NULL), 0);
        n = json_array_size(warnings);
        assert_int_equal(n, 65);
        assert_string_equal(json_string_value(json_object_get(json_array_get(warnings, n - 1), "message")),
                            "More warnings of this template are not listed");
        json_decref(warnings);
}

static void jinja_render_output_is_deterministic(void **state) {
        static const char template[] =
                "{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}{{ d }}{{ v1 }}";
        _cleanup_free_ char *first = NULL, *second = NULL;

        assert_int_equal(render(template, strlen(template), &first, NULL, NULL), 0);
        assert_int_equal(render(template, strlen(template), &second, NULL, NULL), 0);
        assert_string_equal(first, second);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(jinja_render_variables),
                cmocka_unit_test(jinja_render_literals),
                cmocka_unit_test(jinja_render_whitespace),
                cmocka_unit_test(jinja_render_raw),
                cmocka_unit_test(jinja_render_if),
                cmocka_unit_test(jinja_render_for),
                cmocka_unit_test(jinja_render_operators),
                cmocka_unit_test(jinja_render_tests),
                cmocka_unit_test(jinja_render_filters),
                cmocka_unit_test(jinja_render_undefined_renders_cloud_init_marker),
                cmocka_unit_test(jinja_render_undefined_warns_with_line),
                cmocka_unit_test(jinja_render_undefined_warns_once_per_line),
                cmocka_unit_test(jinja_render_checked_undefined_does_not_warn),
                cmocka_unit_test(jinja_render_loop_over_undefined_warns),
                cmocka_unit_test(jinja_render_appends_to_existing_warnings),
                cmocka_unit_test(jinja_render_without_warning_list),
                cmocka_unit_test(jinja_render_rejects_unsupported_constructs),
                cmocka_unit_test(jinja_render_rejects_syntax_errors),
                cmocka_unit_test(jinja_render_rejects_runtime_errors),
                cmocka_unit_test(jinja_render_rejects_invalid_utf8),
                cmocka_unit_test(jinja_render_keeps_nul_bytes),
                cmocka_unit_test(jinja_render_limits_block_depth),
                cmocka_unit_test(jinja_render_limits_expression_depth),
                cmocka_unit_test(jinja_render_limits_parser_recursion),
                cmocka_unit_test(jinja_render_limits_loop_iterations),
                cmocka_unit_test(jinja_render_limits_output_size),
                cmocka_unit_test(jinja_render_limits_template_size),
                cmocka_unit_test(jinja_render_limits_tokens),
                cmocka_unit_test(jinja_render_limits_string_work),
                cmocka_unit_test(jinja_render_limits_warnings),
                cmocka_unit_test(jinja_render_output_is_deterministic),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
