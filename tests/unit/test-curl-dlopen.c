/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/curl-dlopen.c: loading libcurl, and what its callers do when it cannot
 * be loaded. The cases run in the order listed in main(): first with KILN_TEST_LIBCURL naming a
 * library that is missing or is not libcurl, then with the real libcurl, which stays loaded for
 * the rest of the process. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/curl-dlopen.h"
#include "lib/curl-util.h"
#include "module.h"
#include "modules/phone_home.h"
#include "test-helpers.h"

#define TEST_LIBRARY_ENV "KILN_TEST_LIBCURL"
/* A name that no installed library has. */
#define TEST_LIBRARY_MISSING "libkiln-test-missing.so.0"
/* A library that is installed, because kiln links it, but has no curl_ functions. */
#define TEST_LIBRARY_NOT_CURL "libz.so.1"
#define TEST_STDERR_MAX 8192

/* Call dlopen_curl() with stderr sent to a memory file, and return what it logged in output. */
static int dlopen_curl_capture(char *output, size_t size) {
        int saved, fd, r;
        ssize_t n;

        (void) fflush(stderr);
        saved = dup(STDERR_FILENO);
        fd = memfd_create("stderr", MFD_CLOEXEC);
        assert_true(saved >= 0);
        assert_true(fd >= 0);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);

        r = dlopen_curl();

        (void) fflush(stderr);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        (void) close(saved);
        n = pread(fd, output, size - 1, 0);
        assert_true(n >= 0);
        output[n] = '\0';
        (void) close(fd);
        return r;
}

static void dlopen_curl_missing_library_logs_once(void **state) {
        char output[TEST_STDERR_MAX];

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);

        assert_int_equal(dlopen_curl_capture(output, sizeof(output)), -EOPNOTSUPP);
        assert_non_null(strstr(output, "Failed to load " TEST_LIBRARY_MISSING ", needed for HTTP: "
                                       TEST_LIBRARY_MISSING ": cannot open shared object file"));

        assert_int_equal(dlopen_curl_capture(output, sizeof(output)), -EOPNOTSUPP);
        assert_string_equal(output, "");
        assert_null(sym_curl_easy_init);
}

static void dlopen_curl_missing_function_fails(void **state) {
        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_NOT_CURL, /* overwrite= */ 1), 0);

        assert_int_equal(dlopen_curl(), -ELIBBAD);
        assert_int_equal(dlopen_curl(), -ELIBBAD);
        assert_null(sym_curl_easy_cleanup);
        assert_null(sym_curl_version_info);
}

/* The reason names the library and carries dlerror()'s text, for the error that a caller records. */
static void dlopen_curl_error_names_cause(void **state) {
        const char *why;

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_NOT_CURL, /* overwrite= */ 1), 0);
        assert_int_equal(dlopen_curl(), -ELIBBAD);
        why = dlopen_curl_error();
        assert_non_null(why);
        assert_non_null(strstr(why, "cannot load libcurl (" TEST_LIBRARY_NOT_CURL "): "));
        assert_non_null(strstr(why, "undefined symbol: curl_"));

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);
        assert_int_equal(dlopen_curl(), -EOPNOTSUPP);
        why = dlopen_curl_error();
        assert_non_null(why);
        assert_non_null(strstr(why, "cannot load libcurl (" TEST_LIBRARY_MISSING "): " TEST_LIBRARY_MISSING
                                    ": cannot open shared object file"));
}

static void http_client_new_missing_library_fails(void **state) {
        HttpClient *client = NULL;
        char *message = NULL;

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);

        assert_int_equal(http_client_new(/* flags= */ 0, &client, &message), -EOPNOTSUPP);
        assert_null(client);
        assert_non_null(message);
        assert_non_null(strstr(message, "cannot load libcurl (" TEST_LIBRARY_MISSING "): " TEST_LIBRARY_MISSING
                                        ": cannot open shared object file"));
        free(message);
}

static void http_parse_retry_after_missing_library(void **state) {
        usec_t delay = 0;

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);

        /* Delay-seconds need no libcurl, but an HTTP-date does. */
        assert_int_equal(http_parse_retry_after("120", 0, &delay), 0);
        assert_int_equal(delay, 120 * USEC_PER_SEC);
        assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0, &delay), -EOPNOTSUPP);
}

static void phone_home_url_render_missing_library(void **state) {
        char *url = NULL, *name = NULL;

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);

        assert_int_equal(phone_home_url_render("http://h/$INSTANCE_ID", "i-1", &url, &name), -EOPNOTSUPP);
        assert_null(url);
        assert_null(name);
}

/* The module reports one error for the whole phone_home entry and sends nothing. */
static void phone_home_run_missing_library_reports_error(void **state) {
        TestRoot *t = *state;
        const char *message;

        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);
        json_decref(t->ctx.config);
        t->ctx.config = json_pack("{s:{s:s, s:i}}", "phone_home", "url", "http://127.0.0.1:9/$INSTANCE_ID",
                                  "tries", 1);
        assert_non_null(t->ctx.config);

        assert_true(module_phone_home.run(&t->ctx, t->ctx.config) < 0);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        message = json_string_value(json_object_get(json_array_get(t->ctx.errors, 0), "message"));
        assert_non_null(message);
        assert_non_null(strstr(message, "Failed to post the phone_home data to 'http://127.0.0.1:9/$INSTANCE_ID': "
                                        "cannot load libcurl (" TEST_LIBRARY_MISSING "): " TEST_LIBRARY_MISSING
                                        ": cannot open shared object file"));
}

/* A path is not a library name, so the loader ignores it and loads libcurl.so.4. */
static void dlopen_curl_path_ignored(void **state) {
        char output[TEST_STDERR_MAX];

        assert_int_equal(setenv(TEST_LIBRARY_ENV, "/nonexistent/libcurl.so.4", /* overwrite= */ 1), 0);

        assert_int_equal(dlopen_curl_capture(output, sizeof(output)), 0);
        assert_non_null(strstr(output, TEST_LIBRARY_ENV "='/nonexistent/libcurl.so.4' is a path"));
        assert_int_equal(unsetenv(TEST_LIBRARY_ENV), 0);
}

static void dlopen_curl_loads_libcurl(void **state) {
        const curl_version_info_data *info;

        assert_int_equal(dlopen_curl(), 0);
        assert_non_null(sym_curl_version_info);
        info = sym_curl_version_info(CURLVERSION_NOW);
        assert_non_null(info);
        assert_true(info->version_num >= 0x071304);
}

/* Once loaded, the library stays loaded whatever the test hook names. */
static void dlopen_curl_loaded_stays(void **state) {
        assert_int_equal(setenv(TEST_LIBRARY_ENV, TEST_LIBRARY_MISSING, /* overwrite= */ 1), 0);

        assert_int_equal(dlopen_curl(), 0);
        assert_non_null(sym_curl_easy_init);
        assert_int_equal(unsetenv(TEST_LIBRARY_ENV), 0);
}

static void sym_curl_easy_escape_escapes(void **state) {
        char *escaped;

        assert_int_equal(dlopen_curl(), 0);
        escaped = sym_curl_easy_escape(/* handle= */ NULL, "a b/c", 0);
        assert_non_null(escaped);
        assert_string_equal(escaped, "a%20b%2Fc");
        sym_curl_free(escaped);
}

static void sym_curl_easy_init_creates_handle(void **state) {
        CURL *curl;

        assert_int_equal(dlopen_curl(), 0);
        curl = sym_curl_easy_init();
        assert_non_null(curl);
        assert_int_equal(sym_curl_easy_setopt(curl, CURLOPT_URL, "http://127.0.0.1/"), CURLE_OK);
        sym_curl_easy_cleanup(curl);
}

static void http_client_new_after_load(void **state) {
        HttpClient *client = NULL;

        assert_int_equal(http_client_new(/* flags= */ 0, &client, /* reterr_message= */ NULL), 0);
        assert_non_null(client);
        assert_null(dlopen_curl_error());
        client = http_client_free(client);
        assert_null(client);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(dlopen_curl_missing_library_logs_once),
                cmocka_unit_test(dlopen_curl_missing_function_fails),
                cmocka_unit_test(dlopen_curl_error_names_cause),
                cmocka_unit_test(http_client_new_missing_library_fails),
                cmocka_unit_test(http_parse_retry_after_missing_library),
                cmocka_unit_test(phone_home_url_render_missing_library),
                cmocka_unit_test_setup_teardown(phone_home_run_missing_library_reports_error, test_root_setup,
                                                test_root_teardown),
                cmocka_unit_test(dlopen_curl_path_ignored),
                cmocka_unit_test(dlopen_curl_loads_libcurl),
                cmocka_unit_test(dlopen_curl_loaded_stays),
                cmocka_unit_test(sym_curl_easy_escape_escapes),
                cmocka_unit_test(sym_curl_easy_init_creates_handle),
                cmocka_unit_test(http_client_new_after_load),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
