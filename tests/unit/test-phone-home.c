/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the phone_home module: the URL substitution, the form body and the URL in messages. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "modules/phone_home.h"

static void phone_home_url_render_both_forms(void **state) {
        char *url = NULL, *name = NULL;

        (void) state;
        assert_int_equal(phone_home_url_render("http://h/$INSTANCE_ID/?id=${INSTANCE_ID}", "i-1 a+b", &url, &name), 0);
        assert_string_equal(url, "http://h/i-1%20a%2Bb/?id=i-1%20a%2Bb");
        free(url);
}

static void phone_home_url_render_plain_dollar_kept(void **state) {
        char *url = NULL, *name = NULL;

        (void) state;
        assert_int_equal(phone_home_url_render("http://h/$/${}", "i-1", &url, &name), 0);
        assert_string_equal(url, "http://h/$/${}");
        free(url);
}

static void phone_home_url_render_unknown_variable(void **state) {
        char *url = NULL, *name = NULL;

        (void) state;
        assert_int_equal(phone_home_url_render("http://h/$INSTANCE/", "i-1", &url, &name), -EINVAL);
        assert_string_equal(name, "INSTANCE");
        assert_null(url);
        free(name);
}

static void phone_home_form_encode_escapes(void **state) {
        json_t *fields = json_pack("{s:s, s:s}", "instance_id", "i-1", "pub_key_rsa", "ssh-rsa AA+/= h\n");
        char *body = NULL;

        (void) state;
        assert_int_equal(phone_home_form_encode(fields, &body), 0);
        assert_string_equal(body, "instance_id=i-1&pub_key_rsa=ssh-rsa%20AA%2B%2F%3D%20h%0A");
        free(body);
        json_decref(fields);
}

static void phone_home_url_for_message_hides_secrets(void **state) {
        char *shown = phone_home_url_for_message("https://user:pw@h:8/p/a?token=x#f");

        (void) state;
        assert_string_equal(shown, "https://h:8/p/a");
        free(shown);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(phone_home_url_render_both_forms),
                cmocka_unit_test(phone_home_url_render_plain_dollar_kept),
                cmocka_unit_test(phone_home_url_render_unknown_variable),
                cmocka_unit_test(phone_home_form_encode_escapes),
                cmocka_unit_test(phone_home_url_for_message_hides_secrets),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
