/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/domains.c: the name rules, punycode, the derived list and the module. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "domains.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

typedef struct NameCase {
        const char *input;
        bool allow_wildcard;
        const char *expected;    /* NULL: rejected */
        const char *reason;      /* a part of the reason when rejected */
} NameCase;

static const NameCase name_cases[] = {
        { "shop.example.com", false, "shop.example.com", NULL },
        { "Shop.EXAMPLE.com", false, "shop.example.com", NULL },
        { "shop.example.com.", false, "shop.example.com", NULL },
        { "b\u00fccher.example", false, "xn--bcher-kva.example", NULL },
        { "B\u00dcCHER.example", false, "xn--bcher-kva.example", NULL },
        { "stra\u00dfe.example", false, "xn--strae-oqa.example", NULL },
        { "xn--bcher-kva.example", false, "xn--bcher-kva.example", NULL },
        { "a-b.c-d.example", false, "a-b.c-d.example", NULL },
        { "1.2.example", false, "1.2.example", NULL },
        { "*.example.com", true, "*.example.com", NULL },
        { "*.B\u00fccher.example", true, "*.xn--bcher-kva.example", NULL },
        { "*.example.com", false, NULL, "wildcards are not allowed" },
        { "a.*.example.com", true, NULL, "whole first label" },
        { "a*.example.com", true, NULL, "whole first label" },
        { "*", true, NULL, "whole first label" },
        { "", false, NULL, "empty" },
        { ".", false, NULL, "empty" },
        { "localhost", false, NULL, "needs a dot" },
        { "bad_name.example", false, NULL, "character '_'" },
        { "a..example", false, NULL, "empty label" },
        { ".example.com", false, NULL, "empty label" },
        { "-a.example", false, NULL, "starts with '-'" },
        { "a-.example", false, NULL, "ends with '-'" },
        { "a b.example", false, NULL, "character ' '" },
        { "a\n.example", false, NULL, "character '\\x0a'" },
        { "\u2603.example", false, NULL, "internationalized" },
        { "a\u200d.example", false, NULL, "internationalized" },
};

static void domain_normalize_rules(void **state) {
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(name_cases); i++) {
                const NameCase *c = &name_cases[i];
                _cleanup_free_ char *name = NULL;
                char reason[DOMAIN_REASON_MAX] = "";
                int r;

                r = domain_normalize(c->input, c->allow_wildcard, &name, reason, sizeof(reason));
                if (c->expected) {
                        if (r != 0)
                                fail_msg("'%s' rejected: %s", c->input, reason);
                        assert_string_equal(name, c->expected);
                } else {
                        if (r != -EINVAL)
                                fail_msg("'%s' accepted as '%s'", c->input, name ?: "");
                        if (!strstr(reason, c->reason))
                                fail_msg("'%s': reason '%s' lacks '%s'", c->input, reason, c->reason);
                }
        }
}

static void domain_normalize_punycode(void **state) {
        _cleanup_free_ char *name = NULL;
        char reason[DOMAIN_REASON_MAX] = "";

        (void) state;
        assert_int_equal(domain_normalize("b\u00fccher.example", false, &name, reason, sizeof(reason)), 0);
        assert_string_equal(name, "xn--bcher-kva.example");
}

static void domain_normalize_label_length(void **state) {
        char label[DOMAIN_LABEL_LENGTH_MAX + 2], input[160], reason[DOMAIN_REASON_MAX] = "";
        _cleanup_free_ char *name = NULL, *too_long = NULL;

        (void) state;
        memset(label, 'a', DOMAIN_LABEL_LENGTH_MAX);
        label[DOMAIN_LABEL_LENGTH_MAX] = '\0';
        (void) snprintf(input, sizeof(input), "%s.example", label);
        assert_int_equal(domain_normalize(input, false, &name, reason, sizeof(reason)), 0);

        label[DOMAIN_LABEL_LENGTH_MAX] = 'a';
        label[DOMAIN_LABEL_LENGTH_MAX + 1] = '\0';
        (void) snprintf(input, sizeof(input), "%s.example", label);
        assert_int_equal(domain_normalize(input, false, &too_long, reason, sizeof(reason)), -EINVAL);
        assert_non_null(strstr(reason, "has 64 characters"));
}

/* A name of n characters made of 9-character labels ("aaaaaaaa.") and a last label. */
static void make_long_name(char *buf, size_t n) {
        for (size_t i = 0; i < n; i++)
                buf[i] = (i % 9 == 8) ? '.' : 'a';
        buf[n] = '\0';
        if (buf[n - 1] == '.')
                buf[n - 1] = 'a';
}

static void domain_normalize_total_length(void **state) {
        char input[DOMAIN_LENGTH_MAX + 2], reason[DOMAIN_REASON_MAX] = "";
        _cleanup_free_ char *name = NULL, *too_long = NULL;

        (void) state;
        make_long_name(input, DOMAIN_LENGTH_MAX);
        assert_int_equal(domain_normalize(input, false, &name, reason, sizeof(reason)), 0);
        assert_int_equal(strlen(name), DOMAIN_LENGTH_MAX);

        make_long_name(input, DOMAIN_LENGTH_MAX + 1);
        assert_int_equal(domain_normalize(input, false, &too_long, reason, sizeof(reason)), -EINVAL);
        assert_non_null(strstr(reason, "254 characters"));
}

static void domain_matches_rules(void **state) {
        (void) state;
        assert_true(domain_matches("shop.example.com", "shop.example.com"));
        assert_true(domain_matches("*.example.com", "shop.example.com"));
        assert_false(domain_matches("*.example.com", "example.com"));
        assert_false(domain_matches("*.example.com", "a.shop.example.com"));
        assert_false(domain_matches("shop.example.com", "*.example.com"));
        assert_true(domain_matches("*.example.com", "*.example.com"));
        assert_false(domain_matches("shop.example.com", "www.example.com"));
}

static json_t *config_of(const char *text) {
        json_error_t error;
        json_t *v = json_loads(text, 0, &error);

        if (!v)
                fail_msg("bad test JSON: %s", error.text);
        return v;
}

static void domains_get_normalized_without_duplicates(void **state) {
        json_auto_t *config = config_of("{\"domains\": [\"Shop.Example.com.\", \"b\\u00fccher.example\", "
                                        "\"shop.example.com\", \"bad_name.example\", 3, \"*.example.com\"]}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        assert_int_equal(domains_get(NULL, config, &names), 3);
        assert_string_equal(names[0], "shop.example.com");
        assert_string_equal(names[1], "xn--bcher-kva.example");
        assert_string_equal(names[2], "*.example.com");
        assert_null(names[3]);
}

static void domains_get_from_fqdn(void **state) {
        json_auto_t *config = config_of("{\"fqdn\": \"Web-1.Example.org\", \"hostname\": \"other.example.net\"}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        assert_int_equal(domains_get(NULL, config, &names), 1);
        assert_string_equal(names[0], "web-1.example.org");
}

static void domains_get_from_dotted_hostname(void **state) {
        json_auto_t *config = config_of("{\"hostname\": \"web-1.example.org\"}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        assert_int_equal(domains_get(NULL, config, &names), 1);
        assert_string_equal(names[0], "web-1.example.org");
}

static void domains_get_short_hostname_none(void **state) {
        json_auto_t *config = config_of("{\"hostname\": \"web-1\"}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        assert_int_equal(domains_get(NULL, config, &names), 0);
        assert_null(names);
}

static void domains_get_list_wins_over_fqdn(void **state) {
        json_auto_t *config = config_of("{\"fqdn\": \"web-1.example.org\", \"domains\": [\"shop.example.com\"]}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        assert_int_equal(domains_get(NULL, config, &names), 1);
        assert_string_equal(names[0], "shop.example.com");
}

static void domains_get_metadata_ignored(void **state) {
        TestRoot *t = test_root_new();
        Instance instance = { .metadata = json_pack("{s:s}", "local_hostname", "ip-10-0-0-1.ec2.internal") };
        json_auto_t *config = config_of("{}");
        _cleanup_strv_free_ char **names = NULL;

        (void) state;
        t->ctx.instance = &instance;
        assert_int_equal(domains_get(&t->ctx, config, &names), 0);
        json_decref(instance.metadata);
        test_root_free(t);
}

static void domains_primary_skips_wildcard(void **state) {
        json_auto_t *config = config_of("{\"domains\": [\"*.example.com\", \"www.example.com\"]}");
        _cleanup_free_ char *primary = NULL;

        (void) state;
        assert_int_equal(domains_primary(NULL, config, &primary), 1);
        assert_string_equal(primary, "www.example.com");
}

static void domains_primary_none_for_wildcards_only(void **state) {
        json_auto_t *config = config_of("{\"domains\": [\"*.example.com\"]}");
        _cleanup_free_ char *primary = NULL;

        (void) state;
        assert_int_equal(domains_primary(NULL, config, &primary), 0);
}

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static int run(void **state, const char *text) {
        TestRoot *t = *state;

        json_decref(t->ctx.config);
        t->ctx.config = config_of(text);
        return module_domains.run(&t->ctx, t->ctx.config);
}

static const char *diagnostic(const json_t *list, size_t i) {
        return json_string_value(json_object_get(json_array_get(list, i), "message"));
}

static void domains_run_valid(void **state) {
        TestRoot *t = *state;

        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\", \"www.example.com\"]}"), 0);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
}

static void domains_run_invalid_entry_names_index(void **state) {
        TestRoot *t = *state;

        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\", \"bad_name.example\"]}"), -EINVAL);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_string_equal(diagnostic(t->ctx.errors, 0),
                            "domains[1]: invalid name 'bad_name.example': it contains the character '_'.");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(t->ctx.errors, 0), "item")), 1);
}

static void domains_run_duplicate_warns(void **state) {
        TestRoot *t = *state;

        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\", \"SHOP.example.com.\"]}"), 0);
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_string_equal(diagnostic(t->ctx.warnings, 0),
                            "domains[1]: 'SHOP.example.com.' repeats an earlier name, ignoring.");
}

static void domains_run_not_a_list(void **state) {
        TestRoot *t = *state;

        assert_int_equal(run(state, "{\"domains\": \"shop.example.com\"}"), -EINVAL);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_non_null(strstr(diagnostic(t->ctx.errors, 0), "write it as a list of one"));
}

static void domains_run_non_string_entry(void **state) {
        TestRoot *t = *state;

        assert_int_equal(run(state, "{\"domains\": [true]}"), -EINVAL);
        assert_string_equal(diagnostic(t->ctx.errors, 0), "domains[0]: it is not a string.");
}

static void domain_shape_check_agrees(void **state) {
        json_auto_t *good = json_string("b\u00fccher.example"), *bad = json_string("nodot");
        char message[256] = "";

        (void) state;
        assert_int_equal(domain_shape_check(good, NULL, message, sizeof(message)), 0);
        assert_int_equal(domain_shape_check(bad, NULL, message, sizeof(message)), -EINVAL);
        assert_non_null(strstr(message, "needs a dot"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(domain_normalize_rules),
                cmocka_unit_test(domain_normalize_punycode),
                cmocka_unit_test(domain_normalize_label_length),
                cmocka_unit_test(domain_normalize_total_length),
                cmocka_unit_test(domain_matches_rules),
                cmocka_unit_test(domains_get_normalized_without_duplicates),
                cmocka_unit_test(domains_get_from_fqdn),
                cmocka_unit_test(domains_get_from_dotted_hostname),
                cmocka_unit_test(domains_get_short_hostname_none),
                cmocka_unit_test(domains_get_list_wins_over_fqdn),
                cmocka_unit_test(domains_get_metadata_ignored),
                cmocka_unit_test(domains_primary_skips_wildcard),
                cmocka_unit_test(domains_primary_none_for_wildcards_only),
                T(domains_run_valid),
                T(domains_run_invalid_entry_names_index),
                T(domains_run_duplicate_warns),
                T(domains_run_not_a_list),
                T(domains_run_non_string_entry),
                cmocka_unit_test(domain_shape_check_agrees),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
