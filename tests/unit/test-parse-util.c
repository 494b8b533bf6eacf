/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/parse-util.c: every parser takes the whole string or rejects it. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>

#include "lib/macro.h"
#include "lib/parse-util.h"

static void parse_boolean_true_words(void **state) {
        assert_int_equal(parse_boolean("1"), 1);
        assert_int_equal(parse_boolean("yes"), 1);
        assert_int_equal(parse_boolean("y"), 1);
        assert_int_equal(parse_boolean("true"), 1);
        assert_int_equal(parse_boolean("t"), 1);
        assert_int_equal(parse_boolean("on"), 1);
}

static void parse_boolean_false_words(void **state) {
        assert_int_equal(parse_boolean("0"), 0);
        assert_int_equal(parse_boolean("no"), 0);
        assert_int_equal(parse_boolean("n"), 0);
        assert_int_equal(parse_boolean("false"), 0);
        assert_int_equal(parse_boolean("f"), 0);
        assert_int_equal(parse_boolean("off"), 0);
}

static void parse_boolean_ignores_case(void **state) {
        assert_int_equal(parse_boolean("YES"), 1);
        assert_int_equal(parse_boolean("True"), 1);
        assert_int_equal(parse_boolean("oFF"), 0);
        assert_int_equal(parse_boolean("N"), 0);
}

static void parse_boolean_rejects_prefix_and_junk(void **state) {
        assert_int_equal(parse_boolean("yesterday"), -EINVAL);
        assert_int_equal(parse_boolean("ye"), -EINVAL);
        assert_int_equal(parse_boolean("onion"), -EINVAL);
        assert_int_equal(parse_boolean(" 1"), -EINVAL);
        assert_int_equal(parse_boolean("1 "), -EINVAL);
        assert_int_equal(parse_boolean(""), -EINVAL);
        assert_int_equal(parse_boolean("2"), -EINVAL);
        assert_int_equal(parse_boolean("maybe"), -EINVAL);
}

static void safe_atou64_accepts_decimal(void **state) {
        uint64_t v = 1;

        assert_int_equal(safe_atou64("0", &v), 0);
        assert_true(v == 0);
        assert_int_equal(safe_atou64("42", &v), 0);
        assert_true(v == 42);
        assert_int_equal(safe_atou64("007", &v), 0);
        assert_true(v == 7);
        assert_int_equal(safe_atou64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
}

static void safe_atou64_rejects_junk(void **state) {
        uint64_t v = 5;

        assert_int_equal(safe_atou64("", &v), -EINVAL);
        assert_int_equal(safe_atou64(" 1", &v), -EINVAL);
        assert_int_equal(safe_atou64("1 ", &v), -EINVAL);
        assert_int_equal(safe_atou64("0x10", &v), -EINVAL);
        assert_int_equal(safe_atou64("-1", &v), -EINVAL);
        assert_int_equal(safe_atou64("+1", &v), -EINVAL);
        assert_int_equal(safe_atou64("1.5", &v), -EINVAL);
        assert_int_equal(safe_atou64("12abc", &v), -EINVAL);
        assert_true(v == 5);
}

static void safe_atou64_rejects_overflow(void **state) {
        uint64_t v = 5;

        assert_int_equal(safe_atou64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(safe_atou64("99999999999999999999999", &v), -ERANGE);
        assert_true(v == 5);
}

static void safe_atou_checks_unsigned_range(void **state) {
        unsigned v = 5;

        assert_int_equal(safe_atou("4294967295", &v), 0);
        assert_true(v == UINT_MAX);
        assert_int_equal(safe_atou("4294967296", &v), -ERANGE);
        assert_int_equal(safe_atou("0x10", &v), -EINVAL);
        assert_int_equal(safe_atou("", &v), -EINVAL);
}

static void json_seconds_to_usec_integer(void **state) {
        json_t *v = json_integer(30);
        uint64_t usec = 0;

        assert_int_equal(json_seconds_to_usec(v, &usec), 0);
        assert_true(usec == 30 * USEC_PER_SEC);
        json_decref(v);
}

static void json_seconds_to_usec_real(void **state) {
        json_t *v = json_real(1.5);
        uint64_t usec = 0;

        assert_int_equal(json_seconds_to_usec(v, &usec), 0);
        assert_true(usec == 1500000);
        json_decref(v);
}

static void json_seconds_to_usec_zero(void **state) {
        json_t *v = json_integer(0);
        uint64_t usec = 1;

        assert_int_equal(json_seconds_to_usec(v, &usec), 0);
        assert_true(usec == 0);
        json_decref(v);
}

static void json_seconds_to_usec_rejects_others(void **state) {
        json_t *negative = json_integer(-1), *negative_real = json_real(-0.5), *text = json_string("10"),
               *boolean = json_true(), *null = json_null();
        uint64_t usec = 7;

        assert_int_equal(json_seconds_to_usec(negative, &usec), -EINVAL);
        assert_int_equal(json_seconds_to_usec(negative_real, &usec), -EINVAL);
        assert_int_equal(json_seconds_to_usec(text, &usec), -EINVAL);
        assert_int_equal(json_seconds_to_usec(boolean, &usec), -EINVAL);
        assert_int_equal(json_seconds_to_usec(null, &usec), -EINVAL);
        assert_int_equal(json_seconds_to_usec(NULL, &usec), -EINVAL);
        assert_true(usec == 7);
        json_decref(negative);
        json_decref(negative_real);
        json_decref(text);
        json_decref(null);
}

static void json_seconds_to_usec_rejects_overflow(void **state) {
        json_t *big = json_integer(INT64_MAX), *big_real = json_real(1e300);
        uint64_t usec = 7;

        assert_int_equal(json_seconds_to_usec(big, &usec), -ERANGE);
        assert_int_equal(json_seconds_to_usec(big_real, &usec), -ERANGE);
        assert_true(usec == 7);
        json_decref(big);
        json_decref(big_real);
}

static void json_parse_boolean_json_boolean(void **state) {
        bool b = false;

        assert_int_equal(json_parse_boolean(json_true(), &b), 0);
        assert_true(b);
        assert_int_equal(json_parse_boolean(json_false(), &b), 0);
        assert_false(b);
}

static void json_parse_boolean_word_string(void **state) {
        json_t *yes = json_string("yes"), *off = json_string("OFF");
        bool b = false;

        assert_int_equal(json_parse_boolean(yes, &b), 1);
        assert_true(b);
        assert_int_equal(json_parse_boolean(off, &b), 1);
        assert_false(b);
        json_decref(yes);
        json_decref(off);
}

static void json_parse_boolean_rejects_others(void **state) {
        json_t *word = json_string("yesterday"), *number = json_integer(1);
        bool b = true;

        assert_int_equal(json_parse_boolean(word, &b), -EINVAL);
        assert_int_equal(json_parse_boolean(number, &b), -EINVAL);
        assert_int_equal(json_parse_boolean(json_null(), &b), -EINVAL);
        assert_int_equal(json_parse_boolean(NULL, &b), -EINVAL);
        assert_true(b);
        json_decref(word);
        json_decref(number);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parse_boolean_true_words),
                cmocka_unit_test(parse_boolean_false_words),
                cmocka_unit_test(parse_boolean_ignores_case),
                cmocka_unit_test(parse_boolean_rejects_prefix_and_junk),
                cmocka_unit_test(safe_atou64_accepts_decimal),
                cmocka_unit_test(safe_atou64_rejects_junk),
                cmocka_unit_test(safe_atou64_rejects_overflow),
                cmocka_unit_test(safe_atou_checks_unsigned_range),
                cmocka_unit_test(json_seconds_to_usec_integer),
                cmocka_unit_test(json_seconds_to_usec_real),
                cmocka_unit_test(json_seconds_to_usec_zero),
                cmocka_unit_test(json_seconds_to_usec_rejects_others),
                cmocka_unit_test(json_seconds_to_usec_rejects_overflow),
                cmocka_unit_test(json_parse_boolean_json_boolean),
                cmocka_unit_test(json_parse_boolean_word_string),
                cmocka_unit_test(json_parse_boolean_rejects_others),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
