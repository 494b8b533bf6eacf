/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/apt_configure.c on scratch roots: variable substitution, source lines with
 * signed-by, key checks, proxy and conf snippets, and the verdict of `kiln validate`. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

/* An ed25519 public key exported by `gpg --armor --export`. */
#define KEY "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaxNFKRYJKwYBBAHaRw8BAQdA88bJhQcrmQFTWzH00dwnlsW7IHRqhTYvnbfH\n8JrjGJ60MWtpbG4gdGVzdCByZXBvc2l0b3J5IDxraWxuLXRlc3RzQGV4YW1wbGUu\naW52YWxpZD6IkAQTFggAOBYhBNSOwnVH0V2Q6xF7h4+zKOt8bs7QBQJrE0UpAhsD\nBQsJCAcCBhUKCQgLAgQWAgMBAh4BAheAAAoJEI+zKOt8bs7QcecBAMmS5U6V+8nf\npSY1VD4u8JRw1bl5A4ntjJo9C4H73MJXAQCnwtOsKC5LZza1mN2Ky0/POaG4Oej1\nYdp9gIRQQXK2Ag==\n=qo6v\n-----END PGP PUBLIC KEY BLOCK-----\n"

static int setup(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/os-release", "ID=debian\nVERSION_CODENAME=\"bookworm\"\n",
                                           strlen("ID=debian\nVERSION_CODENAME=\"bookworm\"\n"), 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Run the module with config (a new reference, taken) as the whole cloud-config. */
static int run_json(void **state, json_t *config) {
        Context *ctx = ctx_of(state);

        assert_non_null(config);
        json_decref(ctx->config);
        ctx->config = config;
        return module_apt_configure.run(ctx, ctx->config);
}

/* Run the module with apt.sources.NAME set to {source: SOURCE} and the key when given. */
static int run_source(void **state, const char *name, const char *source, const char *key) {
        json_t *entry = json_pack("{s:s}", "source", source);

        if (key)
                json_object_set_new(entry, "key", json_string(key));
        return run_json(state, json_pack("{s:{s:[{s:[s],s:s}],s:{s:o}}}", "apt", "primary", "arches", "default",
                                         "uri", "http://mirror.example/debian", "sources", name, entry));
}

static void assert_file(void **state, const char *path, const char *expected) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, 1024 * 1024, &data, &size), 0);
        assert_string_equal(data, expected);
}

static const char *first_error(void **state) {
        return json_string_value(json_object_get(json_array_get(ctx_of(state)->errors, 0), "message"));
}

static void run_substitutes_variables(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR ${RELEASE}-updates main $(ARCH) $MIRRORS", NULL), 1);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb http://mirror.example/debian bookworm-updates main $(ARCH) $MIRRORS\n");
}

static void run_adds_signed_by(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main\ndeb-src $MIRROR $RELEASE main", KEY), 1);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb [signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n"
                    "deb-src [signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n");
        assert_file(state, "/etc/apt/keyrings/kiln-extra.asc", KEY);
}

static void run_keeps_options(void **state) {
        assert_int_equal(run_source(state, "extra", "deb [arch=amd64 signed-by=$KEY_FILE] $MIRROR $RELEASE main", KEY), 1);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb [arch=amd64 signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n");
}

static void run_second_time_changes_nothing(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main", KEY), 1);
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main", KEY), 0);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb [signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n");
}

static void run_rejects_broken_key(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main",
                                    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"),
                         -EINVAL);
        assert_non_null(strstr(first_error(state), "apt.sources.extra.key"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list.d/extra.list"), 0);
}

static void run_rejects_private_key(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main",
                                    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n"),
                         -EINVAL);
}

static void run_rejects_injected_line(void **state) {
        assert_int_equal(run_source(state, "extra", "deb $MIRROR $RELEASE main\nAPT::Get::AllowUnauthenticated 1;", NULL),
                         -EINVAL);
        assert_non_null(strstr(first_error(state), "not a one-line apt source"));
}

static void run_rejects_bad_name(void **state) {
        assert_int_equal(run_source(state, "../../etc/x", "deb $MIRROR $RELEASE main", NULL), -EINVAL);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/x.list"), 0);
}

static void run_writes_proxy_and_conf(void **state) {
        assert_int_equal(run_json(state, json_pack("{s:{s:s,s:s,s:s}}", "apt", "proxy", "http://proxy:3128",
                                                   "https_proxy", "http://proxy:3129", "conf", "APT::Get::Assume-Yes \"true\";")),
                         1);
        assert_file(state, "/etc/apt/apt.conf.d/90kiln-aptproxy",
                    "Acquire::http::Proxy \"http://proxy:3128\";\nAcquire::https::Proxy \"http://proxy:3129\";\n");
        assert_file(state, "/etc/apt/apt.conf.d/94kiln-config", "APT::Get::Assume-Yes \"true\";\n");
}

static void run_rejects_quoted_proxy(void **state) {
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "apt", "proxy", "http://p\";\nX \"1")), -EINVAL);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/apt.conf.d/90kiln-aptproxy"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(run_substitutes_variables, setup, teardown),
                cmocka_unit_test_setup_teardown(run_adds_signed_by, setup, teardown),
                cmocka_unit_test_setup_teardown(run_keeps_options, setup, teardown),
                cmocka_unit_test_setup_teardown(run_second_time_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_broken_key, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_private_key, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_injected_line, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_bad_name, setup, teardown),
                cmocka_unit_test_setup_teardown(run_writes_proxy_and_conf, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_quoted_proxy, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
