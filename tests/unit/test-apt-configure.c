/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/apt_configure.c, apt-sources.c and apt-keys.c on scratch roots: variable
 * substitution, source lines with signed-by, key checks and fingerprints, keyserver URLs, the main
 * sources list in both formats, disabled suites, proxy and conf snippets, and the verdict of
 * `kiln validate`. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "apt-internal.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "schema.h"
#include "test-helpers.h"

/* An ed25519 public key exported by `gpg --armor --export`. */
#define KEY "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaxNFKRYJKwYBBAHaRw8BAQdA88bJhQcrmQFTWzH00dwnlsW7IHRqhTYvnbfH\n8JrjGJ60MWtpbG4gdGVzdCByZXBvc2l0b3J5IDxraWxuLXRlc3RzQGV4YW1wbGUu\naW52YWxpZD6IkAQTFggAOBYhBNSOwnVH0V2Q6xF7h4+zKOt8bs7QBQJrE0UpAhsD\nBQsJCAcCBhUKCQgLAgQWAgMBAh4BAheAAAoJEI+zKOt8bs7QcecBAMmS5U6V+8nf\npSY1VD4u8JRw1bl5A4ntjJo9C4H73MJXAQCnwtOsKC5LZza1mN2Ky0/POaG4Oej1\nYdp9gIRQQXK2Ag==\n=qo6v\n-----END PGP PUBLIC KEY BLOCK-----\n"

/* The v4 fingerprint of KEY, as `gpg --with-colons --show-keys` prints it. */
#define KEY_FINGERPRINT "D48EC27547D15D90EB117B878FB328EB7C6ECED0"

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

static void run_adds_signed_by_to_options(void **state) {
        assert_int_equal(run_source(state, "extra", "deb [arch=amd64] $MIRROR $RELEASE main\n"
                                    "deb-src [ arch=amd64 ] $MIRROR $RELEASE main", KEY), 1);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb [arch=amd64 signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n"
                    "deb-src [ arch=amd64  signed-by=/etc/apt/keyrings/kiln-extra.asc] http://mirror.example/debian bookworm main\n");
}

static void run_keeps_user_signed_by(void **state) {
        assert_int_equal(run_source(state, "extra", "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] $MIRROR $RELEASE main",
                                    KEY), 1);
        assert_file(state, "/etc/apt/sources.list.d/extra.list",
                    "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://mirror.example/debian bookworm main\n");
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 1);
        assert_non_null(strstr(json_string_value(json_object_get(json_array_get(ctx_of(state)->warnings, 0), "message")),
                               "sets its own signed-by"));
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

static void write_root_file(void **state, const char *path, const char *data) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, data, strlen(data), 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static const char *first_warning(void **state) {
        return json_string_value(json_object_get(json_array_get(ctx_of(state)->warnings, 0), "message"));
}

static void pgp_fingerprint_v4_fixture_key(void **state) {
        _cleanup_free_ unsigned char *packets = NULL;
        char reason[256] = "", fingerprint[PGP_FINGERPRINT_HEX_SIZE] = "";
        size_t size = 0;

        assert_int_equal(pgp_armor_decode(KEY, strlen(KEY), &packets, &size, reason, sizeof(reason)), 0);
        /* The first packet has an old-format header: tag 6 with a one-byte length. */
        assert_int_equal(packets[0], 0x98);
        assert_int_equal(pgp_fingerprint_v4(packets + 2, packets[1], fingerprint), 0);
        assert_string_equal(fingerprint, KEY_FINGERPRINT);
}

static void pgp_key_match_ids(void **state) {
        _cleanup_free_ unsigned char *packets = NULL;
        char reason[256] = "";
        size_t size = 0;

        assert_int_equal(pgp_armor_decode(KEY, strlen(KEY), &packets, &size, reason, sizeof(reason)), 0);
        assert_int_equal(pgp_key_match(packets, size, KEY_FINGERPRINT, reason, sizeof(reason)), 0);
        assert_int_equal(pgp_key_match(packets, size, "8FB328EB7C6ECED0", reason, sizeof(reason)), 0);
        assert_int_equal(pgp_key_match(packets, size, "7C6ECED0", reason, sizeof(reason)), 0);
        assert_int_equal(pgp_key_match(packets, size, "7C6ECED1", reason, sizeof(reason)), -EINVAL);
        assert_non_null(strstr(reason, KEY_FINGERPRINT));
}

static void apt_keyid_normalize_forms(void **state) {
        char reason[256] = "";
        char *id = NULL;

        assert_int_equal(apt_keyid_normalize("0xd48e c275 47d1 5d90 eb11  7b87 8fb3 28eb 7c6e ced0", &id, reason,
                                             sizeof(reason)), 0);
        assert_string_equal(id, KEY_FINGERPRINT);
        free(id);
        assert_int_equal(apt_keyid_normalize("7C6ECED", &id, reason, sizeof(reason)), -EINVAL);
        assert_int_equal(apt_keyid_normalize("7C6ECEDX", &id, reason, sizeof(reason)), -EINVAL);
}

static void hkp_lookup_url_schemes(void **state) {
        static const char *const cases[][2] = {
                { "keyserver.ubuntu.com", "https://keyserver.ubuntu.com/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "hkp://keys.example", "http://keys.example:11371/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "hkp://127.0.0.1:8080/", "http://127.0.0.1:8080/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "hkps://keys.example", "https://keys.example/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "hkp://[::1]", "http://[::1]:11371/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "hkp://[::1]:80", "http://[::1]:80/pks/lookup?op=get&options=mr&search=0xABCD1234" },
                { "http://keys.example:80", "http://keys.example:80/pks/lookup?op=get&options=mr&search=0xABCD1234" },
        };
        char reason[256] = "";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *url = NULL;

                assert_int_equal(hkp_lookup_url(cases[i][0], "ABCD1234", &url, reason, sizeof(reason)), 0);
                assert_string_equal(url, cases[i][1]);
        }
}

static void hkp_lookup_url_rejects(void **state) {
        static const char *const cases[] = { "", "keys.example/path", "ftp://keys.example", "hkp://keys.example:",
                                             "hkp://user@keys.example", "keys example" };
        char reason[256] = "";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *url = NULL;

                assert_int_equal(hkp_lookup_url(cases[i], "ABCD1234", &url, reason, sizeof(reason)), -EINVAL);
                assert_null(url);
        }
}

static void apt_sources_is_deb822_formats(void **state) {
        assert_true(apt_sources_is_deb822("# c\nTypes: deb\nURIs: http://m\nSuites: x\nComponents: main\n"));
        assert_false(apt_sources_is_deb822("deb http://m x main\nTypes: deb\n"));
        assert_false(apt_sources_is_deb822("# only a comment\n"));
}

static void apt_disable_suites_one_line(void **state) {
        const char *suites[] = { "updates", "$RELEASE-security", NULL };
        _cleanup_free_ char *out = NULL;

        assert_int_equal(apt_disable_suites("deb http://m bookworm main\n"
                                            "deb [ arch=amd64 trusted=no ] http://m bookworm-updates main\n"
                                            "# deb http://m bookworm-updates main\n"
                                            "deb-src http://m bookworm-security main\n"
                                            "deb http://m bookworm-updatesx main\n",
                                            suites, "bookworm", &out), 0);
        assert_string_equal(out, "deb http://m bookworm main\n"
                                 "# suite disabled by kiln: deb [ arch=amd64 trusted=no ] http://m bookworm-updates main\n"
                                 "# deb http://m bookworm-updates main\n"
                                 "# suite disabled by kiln: deb-src http://m bookworm-security main\n"
                                 "deb http://m bookworm-updatesx main\n");
}

static void apt_disable_suites_deb822(void **state) {
        const char *suites[] = { "updates", "backports", "security", NULL };
        _cleanup_free_ char *text = NULL, *out = NULL;

        text = apt_sources_debian_render("http://m/debian", "http://s/debian-security", "bookworm", NULL, NULL);
        assert_non_null(text);
        assert_int_equal(apt_disable_suites(text, suites, "bookworm", &out), 0);
        assert_non_null(strstr(out, "# suite disabled by kiln: Suites: bookworm bookworm-updates bookworm-backports\n"
                                    "Suites: bookworm\nComponents: main\n"));
        assert_non_null(strstr(out, "## Entry disabled by kiln, because apt.disable_suites removed all its suites\n"
                                    "# disabled by kiln: Types: deb deb-src\n"
                                    "# disabled by kiln: URIs: http://s/debian-security\n"
                                    "# disabled by kiln: Suites: bookworm-security\n"
                                    "# disabled by kiln: Components: main\n"));
        assert_null(strstr(out, "\nSuites: bookworm-security"));
}

static void run_writes_debian_main_list(void **state) {
        write_root_file(state, "/etc/apt/sources.list", "deb http://old bookworm main\n");
        assert_int_equal(run_json(state, json_pack("{s:{s:[{s:[s],s:s}],s:[s]}}", "apt", "primary", "arches", "default",
                                                   "uri", "http://mirror.example/debian", "disable_suites",
                                                   "backports")), 1);
        assert_file(state, "/etc/apt/sources.list.d/debian.sources",
                    "## Written by kiln from the apt key of cloud-config. Set apt.preserve_sources_list\n"
                    "## to true to keep this file as it is, or add sources in apt.sources.\n"
                    "\n"
                    "Types: deb deb-src\n"
                    "URIs: http://mirror.example/debian\n"
                    "# suite disabled by kiln: Suites: bookworm bookworm-updates bookworm-backports\n"
                    "Suites: bookworm bookworm-updates\n"
                    "Components: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                    "\n"
                    "Types: deb deb-src\n"
                    "URIs: http://deb.debian.org/debian-security\n"
                    "Suites: bookworm-security\n"
                    "Components: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list"), 0);
}

static void run_main_list_second_time_changes_nothing(void **state) {
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "apt", "preserve_sources_list", 0)), 1);
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "apt", "preserve_sources_list", 0)), 0);
}

static void run_picks_mirror_by_image_arch(void **state) {
        write_root_file(state, "/var/lib/dpkg/arch", "arm64\namd64\n");
        assert_int_equal(run_json(state, json_pack("{s:{s:s,s:[{s:[s],s:s},{s:[s],s:s}]}}", "apt", "sources_list",
                                                   "deb $MIRROR $RELEASE main\n", "primary",
                                                   "arches", "default", "uri", "http://default.example/",
                                                   "arches", "arm64", "uri", "http://arm.example/")), 1);
        assert_file(state, "/etc/apt/sources.list", "deb http://arm.example/ bookworm main\n");
}

static void run_one_line_template_keeps_deb822(void **state) {
        write_root_file(state, "/etc/apt/sources.list.d/debian.sources", "Types: deb\n");
        assert_int_equal(run_json(state, json_pack("{s:{s:s,s:[s]}}", "apt", "sources_list",
                                                   "deb $MIRROR $RELEASE main\ndeb $SECURITY ${RELEASE}-security main\n",
                                                   "disable_suites", "security")), 1);
        assert_file(state, "/etc/apt/sources.list",
                    "deb http://deb.debian.org/debian bookworm main\n"
                    "# suite disabled by kiln: deb http://deb.debian.org/debian-security bookworm-security main\n");
        assert_file(state, "/etc/apt/sources.list.d/debian.sources", "Types: deb\n");
}

static void run_deb822_template_replaces_list(void **state) {
        write_root_file(state, "/etc/apt/sources.list", "deb http://old bookworm main\n");
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "apt", "sources_list",
                                                   "Types: deb\nURIs: $mirror\nSuites: $codename\nComponents: main\n")), 1);
        assert_file(state, "/etc/apt/sources.list.d/debian.sources",
                    "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n");
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list"), 0);
}

static void run_rejects_jinja_template(void **state) {
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "apt", "sources_list",
                                                   "## template:jinja\ndeb {{mirror}} {{codename}} main\n")), -EINVAL);
        assert_non_null(strstr(first_error(state), "Jinja"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list"), 0);
}

static void run_preserve_ignores_disable_suites(void **state) {
        assert_int_equal(run_json(state, json_pack("{s:{s:b,s:[s]}}", "apt", "preserve_sources_list", 1,
                                                   "disable_suites", "updates")), 0);
        assert_non_null(strstr(first_warning(state), "preserve_sources_list is true"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list.d/debian.sources"), 0);
}

static void run_keyid_unreachable_keyserver(void **state) {
        /* Nothing listens on the discard port of loopback, so the connection is refused. */
        assert_int_equal(run_json(state, json_pack("{s:{s:b,s:{s:{s:s,s:s,s:s},s:{s:s}}}}", "apt",
                                                   "preserve_sources_list", 1, "sources",
                                                   "fetched", "source", "deb http://m bookworm main", "keyid",
                                                   "7C6ECED0", "keyserver", "hkp://127.0.0.1:9",
                                                   "plain", "source", "deb http://m bookworm contrib")),
                         -ECONNREFUSED);
        assert_non_null(strstr(first_error(state), "Failed to fetch key '7C6ECED0' of apt.sources.fetched from "
                                                   "keyserver 'hkp://127.0.0.1:9'"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/apt/sources.list.d/fetched.list"), 0);
        assert_file(state, "/etc/apt/sources.list.d/plain.list", "deb http://m bookworm contrib\n");
}

/* Count the errors that `kiln validate` finds in config (a new reference, taken). */
static void count_error(const SchemaDiagnostic *d, void *userdata) {
        if (d->problem == SCHEMA_ERROR)
                (*(int *) userdata)++;
}

static int validate_errors(json_t *config) {
        int errors = 0;

        assert_non_null(config);
        assert_true(schema_check(config, /* positions= */ NULL, 0, count_error, &errors) >= 0);
        json_decref(config);
        return errors;
}

static void validate_matches_run(void **state) {
        assert_int_equal(validate_errors(json_pack("{s:{s:{s:{s:s}}}}", "apt", "sources", "extra", "source",
                                                   "deb $MIRROR $RELEASE main")), 0);
        assert_int_equal(validate_errors(json_pack("{s:{s:{s:{s:s}}}}", "apt", "sources", "extra", "source",
                                                   "deb $MIRROR $RELEASE main\nAPT::X 1;")), 1);
        assert_int_equal(validate_errors(json_pack("{s:{s:{s:{s:s}}}}", "apt", "sources", "../x", "source",
                                                   "deb $MIRROR $RELEASE main")), 1);
        assert_int_equal(validate_errors(json_pack("{s:{s:s}}", "apt", "proxy", "http://p\";\nX \"1")), 1);
        assert_int_equal(validate_errors(json_pack("{s:{s:s}}", "apt", "sources_list", "## template:jinja\n")), 1);
        assert_int_equal(validate_errors(json_pack("{s:{s:{s:{s:s}}}}", "apt", "sources", "extra", "keyid",
                                                   "0x1234")), 1);
        assert_int_equal(validate_errors(json_pack("{s:{s:[{s:[s],s:s}]}}", "apt", "primary", "arches", "default",
                                                   "uri", "http://m main\ndeb http://evil")), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(run_substitutes_variables, setup, teardown),
                cmocka_unit_test_setup_teardown(run_adds_signed_by, setup, teardown),
                cmocka_unit_test_setup_teardown(run_adds_signed_by_to_options, setup, teardown),
                cmocka_unit_test_setup_teardown(run_keeps_user_signed_by, setup, teardown),
                cmocka_unit_test_setup_teardown(run_keeps_options, setup, teardown),
                cmocka_unit_test_setup_teardown(run_second_time_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_broken_key, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_private_key, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_injected_line, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_bad_name, setup, teardown),
                cmocka_unit_test_setup_teardown(run_writes_proxy_and_conf, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_quoted_proxy, setup, teardown),
                cmocka_unit_test(pgp_fingerprint_v4_fixture_key),
                cmocka_unit_test(pgp_key_match_ids),
                cmocka_unit_test(apt_keyid_normalize_forms),
                cmocka_unit_test(hkp_lookup_url_schemes),
                cmocka_unit_test(hkp_lookup_url_rejects),
                cmocka_unit_test(apt_sources_is_deb822_formats),
                cmocka_unit_test(apt_disable_suites_one_line),
                cmocka_unit_test(apt_disable_suites_deb822),
                cmocka_unit_test_setup_teardown(run_writes_debian_main_list, setup, teardown),
                cmocka_unit_test_setup_teardown(run_main_list_second_time_changes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(run_picks_mirror_by_image_arch, setup, teardown),
                cmocka_unit_test_setup_teardown(run_one_line_template_keeps_deb822, setup, teardown),
                cmocka_unit_test_setup_teardown(run_deb822_template_replaces_list, setup, teardown),
                cmocka_unit_test_setup_teardown(run_rejects_jinja_template, setup, teardown),
                cmocka_unit_test_setup_teardown(run_preserve_ignores_disable_suites, setup, teardown),
                cmocka_unit_test_setup_teardown(run_keyid_unreachable_keyserver, setup, teardown),
                cmocka_unit_test(validate_matches_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
