/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/ca_certs.c on scratch roots: trust store layout detection, certificate
 * checks, file names, remove_defaults and the update command, which is a busybox script here. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

/* A self-signed CA certificate and its private key, made with `openssl req -x509 -newkey ec`. */
#define CERT                                                                 \
        "-----BEGIN CERTIFICATE-----\n"                                      \
        "MIIBiTCCAS+gAwIBAgIUCVgoUAe8aVWQnENSQHJwXyxwCYQwCgYIKoZIzj0EAwIw\n" \
        "GTEXMBUGA1UEAwwOa2lsbiB1bml0IHRlc3QwIBcNMjYxMjA0MjI0MDQ5WhgPMjEy\n" \
        "NjExMTAyMjQwNDlaMBkxFzAVBgNVBAMMDmtpbG4gdW5pdCB0ZXN0MFkwEwYHKoZI\n" \
        "zj0CAQYIKoZIzj0DAQcDQgAEXEIi/bypqCwq5khh2fhm8A6zbmyLohsjTPA2UQeD\n" \
        "VJ0f+oWOWJVvuadlZHznru4ni0CaX9hQxKgBmS4OQVBo2aNTMFEwHQYDVR0OBBYE\n" \
        "FD6hH48S9CCsxrM05iak5keiNSapMB8GA1UdIwQYMBaAFD6hH48S9CCsxrM05iak\n" \
        "5keiNSapMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgeut1A+G4\n" \
        "w2/aASVKiMbz3mEDxiKGpMPz0bGC6vuTQ4wCIQCV5PUnWcJn9Iw7J51VHJUAPUtw\n" \
        "NcbGeIIwkL3nrcbCBw==\n"                                             \
        "-----END CERTIFICATE-----\n"
#define KEY_BODY "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjOcjrH3ad0mfFBG8"
#define PRIVATE_KEY "-----BEGIN PRIVATE KEY-----\n" KEY_BODY "\n-----END PRIVATE KEY-----\n"

#define DEBIAN_CERT "/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt"
#define RHEL_CERT "/usr/share/pki/ca-trust-source/anchors/cloud-init-ca-cert-1.crt"
#define CA_CONF "/etc/ca-certificates.conf"
#define CALLS "/run/calls"
/* Maximum size of the host's /bin/busybox that the tests copy. */
#define BUSYBOX_SIZE_MAX (16U * 1024U * 1024U)

static int setup(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(root_mkdir_p(t->ctx.root_fd, "/run", 0755, (uid_t) -1, (gid_t) -1), 1);
        *state = t;
        return 0;
}

/* Install the host's busybox in the root and a script at path that appends its name and arguments
 * to /run/calls. */
static void put_command(void **state, const char *path) {
        _cleanup_free_ char *busybox = NULL, *script = NULL;
        _cleanup_close_ int host_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        size_t size = 0;

        assert_true(host_root >= 0);
        assert_int_equal(read_file_at(host_root, "/bin/busybox", BUSYBOX_SIZE_MAX, &busybox, &size), 0);
        assert_int_equal(write_file_atomic(test_root_context(state)->root_fd, "/bin/busybox", busybox, size, 0755,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_true(asprintf(&script, "#!/bin/busybox sh\necho \"%s $*\" >> " CALLS "\n", strrchr(path, '/') + 1) > 0);
        test_root_write_mode(state, path, script, 0755);
}

static int run_json(void **state, json_t *config) {
        return module_ca_certs.run(test_root_context(state), test_root_set_config(state, config));
}

/* Run the module with ca_certs: {trusted: [items...]} and remove_defaults when given. */
static int run_trusted(void **state, const char *item) {
        return run_json(state, json_pack("{s:{s:[s]}}", "ca_certs", "trusted", item));
}

static int last_item(const json_t *list) {
        return (int) json_integer_value(json_object_get(json_array_get(list, json_array_size(list) - 1), "item"));
}

static void debian_root(void **state) {
        test_root_write(state, "/etc/debian_version", "12.0\n");
        test_root_write(state, CA_CONF, "mozilla/A.crt\nmozilla/B.crt\n");
        put_command(state, "/usr/sbin/update-ca-certificates");
}

static void ca_certs_debian_layout_writes_crt(void **state) {
        struct stat st;
        _cleanup_close_ int fd = -EBADF;

        debian_root(state);
        assert_int_equal(run_trusted(state, CERT), 1);

        test_root_assert_file(state, DEBIAN_CERT, CERT);
        fd = root_open(test_root_context(state)->root_fd, DEBIAN_CERT, O_RDONLY | O_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        test_root_assert_file(state, CALLS, "update-ca-certificates \n");
        assert_int_equal(json_array_size(test_root_context(state)->errors), 0);
}

static void ca_certs_second_run_unchanged(void **state) {
        debian_root(state);
        assert_int_equal(run_trusted(state, CERT), 1);
        assert_int_equal(run_trusted(state, CERT), 0);

        test_root_assert_file(state, CALLS, "update-ca-certificates \n");
}

static void ca_certs_items_numbered_from_one(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:[s,s]}}", "ca_certs", "trusted", CERT, CERT CERT)), 1);

        test_root_assert_file(state, "/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt", CERT);
        test_root_assert_file(state, "/usr/local/share/ca-certificates/cloud-init-ca-cert-2.crt", CERT CERT);
}

static void ca_certs_final_newline_added(void **state) {
        char cert[] = CERT;

        debian_root(state);
        cert[strlen(cert) - 1] = '\0';
        assert_int_equal(run_trusted(state, cert), 1);

        test_root_assert_file(state, DEBIAN_CERT, CERT);
}

static void ca_certs_rhel_layout_writes_anchor(void **state) {
        put_command(state, "/usr/bin/update-ca-trust");
        assert_int_equal(run_trusted(state, CERT), 1);

        test_root_assert_file(state, RHEL_CERT, CERT);
        test_root_assert_file(state, CALLS, "update-ca-trust \n");
        test_root_assert_absent(state, DEBIAN_CERT);
}

static void ca_certs_rhel_layout_from_pki_dir(void **state) {
        assert_int_equal(root_mkdir_p(test_root_context(state)->root_fd, "/etc/pki/ca-trust", 0755, (uid_t) -1, (gid_t) -1), 1);
        assert_int_equal(run_trusted(state, CERT), -EINVAL);

        test_root_assert_file(state, RHEL_CERT, CERT);
        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "update-ca-trust is not in the image"));
}

static void ca_certs_rhel_remove_defaults_keeps_anchors(void **state) {
        put_command(state, "/usr/bin/update-ca-trust");
        test_root_write(state, "/usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit", "bundle\n");
        test_root_write(state, "/etc/pki/ca-trust/source/blocklist/old.pem", "old\n");
        test_root_write(state, "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "extracted\n");
        assert_int_equal(run_json(state, json_pack("{s:{s:b,s:[s]}}", "ca_certs", "remove_defaults", 1,
                                                   "trusted", CERT)), 1);

        test_root_assert_absent(state, "/usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit");
        test_root_assert_absent(state, "/etc/pki/ca-trust/source/blocklist/old.pem");
        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/pki/ca-trust/source/blocklist"), 1);
        test_root_assert_file(state, "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "extracted\n");
        test_root_assert_file(state, RHEL_CERT, CERT);
}

static void ca_certs_alpine_layout_skips_debconf(void **state) {
        test_root_write(state, "/etc/alpine-release", "3.20.0\n");
        test_root_write(state, CA_CONF, "mozilla/A.crt\n");
        put_command(state, "/usr/sbin/update-ca-certificates");
        put_command(state, "/usr/bin/debconf-set-selections");
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "ca_certs", "remove_defaults", 1)), 1);

        test_root_assert_file(state, CALLS, "update-ca-certificates \n");
        test_root_assert_file(state, CA_CONF, "# Modified by kiln to deselect certs due to user-data\n!mozilla/A.crt\n");
}

static void ca_certs_debian_remove_defaults_deselects(void **state) {
        debian_root(state);
        test_root_write(state, CA_CONF, "# comment\n\nmozilla/A.crt\n!mozilla/B.crt\nmozilla/C.crt\n");
        put_command(state, "/usr/bin/debconf-set-selections");
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "ca_certs", "remove_defaults", 1)), 1);

        test_root_assert_file(state, CA_CONF, "# comment\n\n# Modified by kiln to deselect certs due to user-data\n"
                                    "!mozilla/A.crt\n!mozilla/B.crt\n!mozilla/C.crt\n");
        test_root_assert_file(state, CALLS, "debconf-set-selections -\nupdate-ca-certificates \n");
}

static void ca_certs_remove_defaults_twice_unchanged(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "ca_certs", "remove_defaults", 1)), 1);
        assert_int_equal(run_json(state, json_pack("{s:{s:b}}", "ca_certs", "remove_defaults", 1)), 0);

        test_root_assert_file(state, CA_CONF, "# Modified by kiln to deselect certs due to user-data\n"
                                    "!mozilla/A.crt\n!mozilla/B.crt\n");
}

static void ca_certs_no_layout_is_error(void **state) {
        assert_int_equal(run_trusted(state, CERT), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "neither update-ca-certificates nor update-ca-trust"));
        test_root_assert_absent(state, DEBIAN_CERT);
}

static void ca_certs_garbage_item_names_index(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:[s,s]}}", "ca_certs", "trusted", CERT, "garbage")), -EINVAL);

        assert_int_equal(last_item(test_root_context(state)->errors), 1);
        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "ca_certs.trusted[1] contains no PEM certificate"));
        test_root_assert_file(state, DEBIAN_CERT, CERT);
        test_root_assert_absent(state, "/usr/local/share/ca-certificates/cloud-init-ca-cert-2.crt");
        test_root_assert_file(state, CALLS, "update-ca-certificates \n");
}

static void ca_certs_private_key_rejected(void **state) {
        debian_root(state);
        assert_int_equal(run_trusted(state, CERT PRIVATE_KEY), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "type 'PRIVATE KEY', not a certificate"));
        assert_null(strstr(test_last_message(test_root_context(state)->errors), KEY_BODY));
        test_root_assert_absent(state, DEBIAN_CERT);
}

static void ca_certs_truncated_pem_rejected(void **state) {
        debian_root(state);
        assert_int_equal(run_trusted(state, "-----BEGIN CERTIFICATE-----\nMIIBiTCCAS+gAwIBAgIU\n"), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "truncated"));
}

static void ca_certs_bad_der_rejected(void **state) {
        debian_root(state);
        assert_int_equal(run_trusted(state, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"),
                         -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "not a valid X.509 certificate"));
}

static void ca_certs_number_item_rejected(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:[i]}}", "ca_certs", "trusted", 42)), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "ca_certs.trusted[0] is 42"));
}

static void ca_certs_trusted_string_warns(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "ca_certs", "trusted", CERT)), 1);

        assert_int_equal(json_array_size(test_root_context(state)->warnings), 1);
        test_root_assert_file(state, DEBIAN_CERT, CERT);
}

static void ca_certs_remove_defaults_string_warns(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "ca_certs", "remove_defaults", "yes")), 1);

        assert_non_null(strstr(test_last_message(test_root_context(state)->warnings), "read as true"));
        test_root_assert_file(state, CA_CONF, "# Modified by kiln to deselect certs due to user-data\n"
                                    "!mozilla/A.crt\n!mozilla/B.crt\n");
}

static void ca_certs_remove_defaults_junk_is_error(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:s}}", "ca_certs", "remove_defaults", "maybe")), -EINVAL);

        test_root_assert_file(state, CA_CONF, "mozilla/A.crt\nmozilla/B.crt\n");
}

static void ca_certs_list_value_is_error(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:[s]}", "ca_certs", CERT)), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "not a mapping"));
}

static void ca_certs_both_spellings_use_modern(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:[s]}, s:{s:[s]}}", "ca_certs", "trusted", CERT,
                                                   "ca-certs", "trusted", "garbage")), 1);

        assert_non_null(strstr(test_last_message(test_root_context(state)->warnings), "ignoring ca-certs"));
        assert_int_equal(json_array_size(test_root_context(state)->errors), 0);
}

static void ca_certs_deprecated_spelling_applied(void **state) {
        debian_root(state);
        assert_int_equal(run_json(state, json_pack("{s:{s:[s]}}", "ca-certs", "trusted", CERT)), 1);

        test_root_assert_file(state, DEBIAN_CERT, CERT);
}

static void ca_certs_missing_update_command_is_error(void **state) {
        test_root_write(state, "/etc/debian_version", "12.0\n");
        assert_int_equal(run_trusted(state, CERT), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "update-ca-certificates is not in the image"));
        test_root_assert_file(state, DEBIAN_CERT, CERT);
}

static void ca_certs_update_failure_is_error(void **state) {
        debian_root(state);
        test_root_write_mode(state, "/usr/sbin/update-ca-certificates", "#!/bin/busybox sh\nexit 3\n", 0755);
        assert_int_equal(run_trusted(state, CERT), -EIO);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "exited with 3"));
}

static void validate_accepts_certificate(void **state) {
        TestSchemaCount c = test_schema_check(json_pack("{s:{s:[s], s:b}}", "ca_certs", "trusted", CERT, "remove_defaults", 0));

        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 0);
}

static void validate_rejects_bad_certificate(void **state) {
        TestSchemaCount c = test_schema_check(json_pack("{s:{s:[s,s]}}", "ca_certs", "trusted", CERT, "garbage"));

        assert_int_equal(c.errors, 1);
}

static void validate_rejects_private_key(void **state) {
        TestSchemaCount c = test_schema_check(json_pack("{s:{s:[s]}}", "ca_certs", "trusted", PRIVATE_KEY));

        assert_int_equal(c.errors, 1);
}

static void validate_warns_trusted_string(void **state) {
        TestSchemaCount c = test_schema_check(json_pack("{s:{s:s}}", "ca_certs", "trusted", CERT));

        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 1);
}

static void validate_warns_deprecated_spelling(void **state) {
        TestSchemaCount c = test_schema_check(json_pack("{s:{s:b}}", "ca-certs", "remove-defaults", 1));

        assert_int_equal(c.errors, 0);
        assert_int_equal(c.warnings, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, test_root_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(ca_certs_debian_layout_writes_crt),
                T(ca_certs_second_run_unchanged),
                T(ca_certs_items_numbered_from_one),
                T(ca_certs_final_newline_added),
                T(ca_certs_rhel_layout_writes_anchor),
                T(ca_certs_rhel_layout_from_pki_dir),
                T(ca_certs_rhel_remove_defaults_keeps_anchors),
                T(ca_certs_alpine_layout_skips_debconf),
                T(ca_certs_debian_remove_defaults_deselects),
                T(ca_certs_remove_defaults_twice_unchanged),
                T(ca_certs_no_layout_is_error),
                T(ca_certs_garbage_item_names_index),
                T(ca_certs_private_key_rejected),
                T(ca_certs_truncated_pem_rejected),
                T(ca_certs_bad_der_rejected),
                T(ca_certs_number_item_rejected),
                T(ca_certs_trusted_string_warns),
                T(ca_certs_remove_defaults_string_warns),
                T(ca_certs_remove_defaults_junk_is_error),
                T(ca_certs_list_value_is_error),
                T(ca_certs_both_spellings_use_modern),
                T(ca_certs_deprecated_spelling_applied),
                T(ca_certs_missing_update_command_is_error),
                T(ca_certs_update_failure_is_error),
                cmocka_unit_test(validate_accepts_certificate),
                cmocka_unit_test(validate_rejects_bad_certificate),
                cmocka_unit_test(validate_rejects_private_key),
                cmocka_unit_test(validate_warns_trusted_string),
                cmocka_unit_test(validate_warns_deprecated_spelling),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
