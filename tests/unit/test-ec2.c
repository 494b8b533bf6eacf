/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/datasource/ec2.c: detection, settings, metadata parsers, and whole
 * fetches against tests/imds/mock-imds.py listening on 127.0.0.1. The fetches also test the
 * metadata service client in agent/datasource/imds.c: tokens, retries and endpoint selection. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datasource/datasource.h"
#include "datasource/ec2.h"
#include "lib/macro.h"
#include "test-helpers.h"

#define PYTHON "/usr/bin/python3"
/* How long a started mock may take to write its ready file. */
#define MOCK_READY_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* ---- Detection ---- */

static void ec2_uuid_is_ec2_accepts_ec2_prefix(void **state) {
        assert_true(ec2_uuid_is_ec2("EC2E1916-9099-7CAF-FD21-012345ABCDEF"));
        assert_true(ec2_uuid_is_ec2("ec2e1916-9099-7caf-fd21-012345abcdef\n"));
}

static void ec2_uuid_is_ec2_accepts_other_byte_order(void **state) {
        assert_true(ec2_uuid_is_ec2("45E12AEC-DCD1-B213-94ED-012345ABCDEF"));
        assert_true(ec2_uuid_is_ec2("45e12aec-dcd1-b213-94ed-012345abcdef\n"));
}

static void ec2_uuid_is_ec2_rejects_other_uuids(void **state) {
        assert_false(ec2_uuid_is_ec2("12345678-1234-1234-1234-123456789ABC"));
        assert_false(ec2_uuid_is_ec2("45E12AED-DCD1-B213-94ED-012345ABCDEF"));
        assert_false(ec2_uuid_is_ec2("45E12AEC-DCD1-B213-94ED"));
        assert_false(ec2_uuid_is_ec2("45E12AEC-DCD1-B213-94ED-012345ABCDEZ"));
        assert_false(ec2_uuid_is_ec2(""));
        assert_false(ec2_uuid_is_ec2(NULL));
}

static void ec2_dmi_is_ec2_checks_every_source(void **state) {
        assert_true(ec2_dmi_is_ec2("ec2e1916-9099-7caf-fd21-012345abcdef\n", NULL, NULL));
        assert_true(ec2_dmi_is_ec2(NULL, "45E12AEC-DCD1-B213-94ED-012345ABCDEF\n", NULL));
        assert_true(ec2_dmi_is_ec2(NULL, NULL, "Amazon EC2\n"));
        assert_true(ec2_dmi_is_ec2("12345678-1234-1234-1234-123456789abc", NULL, "Amazon EC2"));
}

static void ec2_dmi_is_ec2_rejects_other_machines(void **state) {
        assert_false(ec2_dmi_is_ec2(NULL, NULL, NULL));
        assert_false(ec2_dmi_is_ec2(NULL, "12345678-1234-1234-1234-123456789ABC\n", "QEMU\n"));
        assert_false(ec2_dmi_is_ec2(NULL, NULL, "Amazon EC2 Clone\n"));
        assert_false(ec2_dmi_is_ec2(NULL, NULL, "amazon ec2\n"));
}

static void write_root_file(TestRoot *t, const char *relative, const char *content) {
        char path[PATH_MAX], cmd[PATH_MAX + 64];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s/%s')\"", t->path, relative);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/%s", t->path, relative);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(content, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void ec2_detect_reads_product_uuid(void **state) {
        TestRoot *t = test_root_new();

        write_root_file(t, "sys/class/dmi/id/product_uuid", "45E12AEC-DCD1-B213-94ED-012345ABCDEF\n");
        write_root_file(t, "sys/class/dmi/id/sys_vendor", "Xen\n");
        assert_int_equal(datasource_ec2.detect(&t->ctx), 1);
        test_root_free(t);
}

static void ec2_detect_reads_hypervisor_uuid(void **state) {
        TestRoot *t = test_root_new();

        write_root_file(t, "sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n");
        assert_int_equal(datasource_ec2.detect(&t->ctx), 1);
        test_root_free(t);
}

static void ec2_detect_reads_sys_vendor(void **state) {
        TestRoot *t = test_root_new();

        write_root_file(t, "sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
        assert_int_equal(datasource_ec2.detect(&t->ctx), 1);
        test_root_free(t);
}

static void ec2_detect_rejects_empty_root(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(datasource_ec2.detect(&t->ctx), 0);
        test_root_free(t);
}

static void ec2_detect_rejects_other_vendor(void **state) {
        TestRoot *t = test_root_new();

        write_root_file(t, "sys/class/dmi/id/product_uuid", "12345678-1234-1234-1234-123456789ABC\n");
        write_root_file(t, "sys/class/dmi/id/sys_vendor", "QEMU\n");
        assert_int_equal(datasource_ec2.detect(&t->ctx), 0);
        test_root_free(t);
}

/* ---- Settings ---- */

/* A test root whose system configuration has datasource.ec2 set to ec2_json (JSON text). */
static TestRoot *settings_root(const char *ec2_json) {
        TestRoot *t = test_root_new();
        json_error_t error;
        json_t *ec2 = json_loads(ec2_json, JSON_DECODE_ANY, &error);

        assert_non_null(ec2);
        assert_int_equal(json_object_set_new(t->ctx.system_config, "datasource", json_pack("{s:o}", "ec2", ec2)), 0);
        return t;
}

/* The message of warning i recorded in t, or "" when there is none. */
static const char *warning_message(const TestRoot *t, size_t i) {
        return json_string_value(json_object_get(json_array_get(t->ctx.warnings, i), "message")) ?: "";
}

static void ec2_settings_parse_uses_defaults(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = test_root_new();

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_string_equal(s.metadata_urls[0], "http://169.254.169.254");
        assert_string_equal(s.metadata_urls[1], "http://[fd00:ec2::254]");
        assert_null(s.metadata_urls[2]);
        assert_int_equal(s.timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(s.max_wait_usec, 120 * USEC_PER_SEC);
        assert_true(s.imdsv1_fallback);
        assert_int_equal(s.token_ttl_sec, 21600);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
        test_root_free(t);
}

static void ec2_settings_parse_accepts_null_config(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = test_root_new();

        json_decref(t->ctx.system_config);
        t->ctx.system_config = NULL;
        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.timeout_usec, EC2_DEFAULT_TIMEOUT_USEC);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
        test_root_free(t);
}

static void ec2_settings_parse_reads_values(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root(
                "{\"metadata_urls\": [\"http://127.0.0.1:8080/\", \"http://[::1]:80\"],"
                " \"timeout\": 2.5, \"max_wait\": 30, \"imdsv1_fallback\": false, \"token_ttl\": 60}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_string_equal(s.metadata_urls[0], "http://127.0.0.1:8080");
        assert_string_equal(s.metadata_urls[1], "http://[::1]:80");
        assert_null(s.metadata_urls[2]);
        assert_int_equal(s.timeout_usec, 2500 * USEC_PER_MSEC);
        assert_int_equal(s.max_wait_usec, 30 * USEC_PER_SEC);
        assert_false(s.imdsv1_fallback);
        assert_int_equal(s.token_ttl_sec, 60);
        assert_int_equal(json_array_size(t->ctx.warnings), 0);
        test_root_free(t);
}

static void ec2_settings_parse_replaces_bad_values(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root(
                "{\"metadata_urls\": \"http://127.0.0.1\", \"timeout\": \"10s\", \"max_wait\": -1,"
                " \"imdsv1_fallback\": \"maybe\", \"token_ttl\": 21601}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_string_equal(s.metadata_urls[0], "http://169.254.169.254");
        assert_int_equal(s.timeout_usec, EC2_DEFAULT_TIMEOUT_USEC);
        assert_int_equal(s.max_wait_usec, EC2_DEFAULT_MAX_WAIT_USEC);
        assert_true(s.imdsv1_fallback);
        assert_int_equal(s.token_ttl_sec, EC2_DEFAULT_TOKEN_TTL_SEC);
        test_root_free(t);
}

static void ec2_settings_parse_reports_each_bad_value(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root(
                "{\"timeout\": \"x\", \"max_wait\": -1, \"metadata_urls\": 5, \"imdsv1_fallback\": \"maybe\","
                " \"token_ttl\": 99999}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 5);
        assert_string_equal(warning_message(t, 0),
                            "Invalid datasource.ec2.metadata_urls '5', expected a list of http:// URLs; using the "
                            "default http://169.254.169.254, http://[fd00:ec2::254].");
        assert_string_equal(warning_message(t, 1),
                            "Invalid datasource.ec2.timeout 'x', expected seconds from 0.001 to 86400; using the default 10.");
        assert_string_equal(warning_message(t, 2),
                            "Invalid datasource.ec2.max_wait '-1', expected seconds from 0.001 to 86400; using the default 120.");
        assert_string_equal(warning_message(t, 3),
                            "Invalid datasource.ec2.imdsv1_fallback 'maybe', expected true or false; using the default true.");
        assert_string_equal(warning_message(t, 4),
                            "Invalid datasource.ec2.token_ttl '99999', expected whole seconds from 1 to 21600; using the "
                            "default 21600.");
        test_root_free(t);
}

static void ec2_settings_parse_reports_quoted_boolean(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"imdsv1_fallback\": \"no\"}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_true(s.imdsv1_fallback);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_string_equal(warning_message(t, 0),
                            "Invalid datasource.ec2.imdsv1_fallback 'no': a quoted value is a string, not a boolean. "
                            "Expected true or false without quotes; using the default true.");
        test_root_free(t);
}

static void ec2_settings_parse_reports_quoted_number(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"token_ttl\": \"60\"}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.token_ttl_sec, EC2_DEFAULT_TOKEN_TTL_SEC);
        assert_non_null(strstr(warning_message(t, 0), "'60': a quoted value is a string, not a number."));
        test_root_free(t);
}

static void ec2_settings_parse_rejects_zero_durations(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"timeout\": 0, \"max_wait\": 0, \"token_ttl\": 0}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.timeout_usec, EC2_DEFAULT_TIMEOUT_USEC);
        assert_int_equal(s.max_wait_usec, EC2_DEFAULT_MAX_WAIT_USEC);
        assert_int_equal(s.token_ttl_sec, EC2_DEFAULT_TOKEN_TTL_SEC);
        assert_int_equal(json_array_size(t->ctx.warnings), 3);
        test_root_free(t);
}

static void ec2_settings_parse_rejects_sub_millisecond_timeout(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"timeout\": 0.0005, \"max_wait\": 0.001}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.timeout_usec, EC2_DEFAULT_TIMEOUT_USEC);
        assert_int_equal(s.max_wait_usec, USEC_PER_MSEC);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_string_equal(warning_message(t, 0),
                            "Invalid datasource.ec2.timeout '0.0005', expected seconds from 0.001 to 86400; using the default 10.");
        test_root_free(t);
}

static void ec2_settings_parse_reports_unknown_key(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"bogus\": 1}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_string_equal(warning_message(t, 0), "Unknown setting datasource.ec2.bogus with the value '1', ignoring.");
        test_root_free(t);
}

static void ec2_settings_parse_skips_bad_urls(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root(
                "{\"metadata_urls\": [\"https://169.254.169.254\", 5, \"http://\", \"http://a b\","
                " \"http://192.0.2.1\"]}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_string_equal(s.metadata_urls[0], "http://192.0.2.1");
        assert_null(s.metadata_urls[1]);
        assert_int_equal(json_array_size(t->ctx.warnings), 4);
        assert_string_equal(warning_message(t, 1),
                            "Invalid URL '5' in datasource.ec2.metadata_urls, expected http://HOST[:PORT], skipping.");
        test_root_free(t);
}

static void ec2_settings_parse_defaults_when_no_url_is_valid(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("{\"metadata_urls\": [\"ftp://192.0.2.1\"]}");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_string_equal(s.metadata_urls[0], "http://169.254.169.254");
        assert_int_equal(json_array_size(t->ctx.warnings), 2);
        test_root_free(t);
}

static void ec2_settings_parse_reports_non_mapping_section(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = settings_root("5");

        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.max_wait_usec, EC2_DEFAULT_MAX_WAIT_USEC);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_string_equal(warning_message(t, 0),
                            "Invalid datasource.ec2 '5', expected a mapping of settings; using the default EC2 settings.");
        test_root_free(t);
}

static void ec2_settings_parse_reports_non_mapping_datasource(void **state) {
        _cleanup_(ec2_settings_done) Ec2Settings s = {};
        TestRoot *t = test_root_new();

        assert_int_equal(json_object_set_new(t->ctx.system_config, "datasource", json_integer(5)), 0);
        assert_int_equal(ec2_settings_parse(&t->ctx, &s), 0);
        assert_int_equal(s.max_wait_usec, EC2_DEFAULT_MAX_WAIT_USEC);
        assert_int_equal(json_array_size(t->ctx.warnings), 1);
        assert_non_null(strstr(warning_message(t, 0), "Invalid datasource '5' in the configuration"));
        test_root_free(t);
}

/* ---- Parsers ---- */

static void ec2_region_from_availability_zone_drops_zone_letter(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        assert_int_equal(ec2_region_from_availability_zone("us-east-1a", &a), 0);
        assert_string_equal(a, "us-east-1");
        assert_int_equal(ec2_region_from_availability_zone("us-gov-west-1b", &b), 0);
        assert_string_equal(b, "us-gov-west-1");
        assert_int_equal(ec2_region_from_availability_zone("ap-southeast-10c", &c), 0);
        assert_string_equal(c, "ap-southeast-10");
}

static void ec2_region_from_availability_zone_handles_local_zone(void **state) {
        _cleanup_free_ char *region = NULL;

        assert_int_equal(ec2_region_from_availability_zone("us-west-2-lax-1a", &region), 0);
        assert_string_equal(region, "us-west-2");
}

static void ec2_region_from_availability_zone_rejects_junk(void **state) {
        char *region = NULL;

        assert_int_equal(ec2_region_from_availability_zone("nowhere", &region), -EINVAL);
        assert_int_equal(ec2_region_from_availability_zone("", &region), -EINVAL);
        assert_int_equal(ec2_region_from_availability_zone("us-east-1+", &region), -EINVAL);
        assert_int_equal(ec2_region_from_availability_zone(NULL, &region), -EINVAL);
        assert_null(region);
}

static void ec2_split_listing_trims_lines(void **state) {
        _cleanup_strv_free_ char **entries = NULL;

        assert_int_equal(ec2_split_listing("Name\r\n\n  Role \nteam", &entries), 0);
        assert_string_equal(entries[0], "Name");
        assert_string_equal(entries[1], "Role");
        assert_string_equal(entries[2], "team");
        assert_null(entries[3]);
}

static void ec2_split_listing_accepts_empty_text(void **state) {
        _cleanup_strv_free_ char **entries = NULL;

        assert_int_equal(ec2_split_listing("", &entries), 0);
        assert_null(entries[0]);
}

static void ec2_parse_public_key_listing_reads_entries(void **state) {
        _cleanup_strv_free_ char **invalid = NULL;
        Ec2PublicKeyEntry *entries = NULL;
        size_t n = 0;

        assert_int_equal(ec2_parse_public_key_listing("0=my-key\n1=other", &entries, &n, &invalid), 0);
        assert_null(invalid[0]);
        assert_int_equal(n, 2);
        assert_int_equal(entries[0].index, 0);
        assert_string_equal(entries[0].name, "my-key");
        assert_int_equal(entries[1].index, 1);
        assert_string_equal(entries[1].name, "other");
        ec2_public_key_entries_free(entries, n);
}

static void ec2_parse_public_key_listing_keeps_equals_in_name(void **state) {
        _cleanup_strv_free_ char **invalid = NULL;
        Ec2PublicKeyEntry *entries = NULL;
        size_t n = 0;

        assert_int_equal(ec2_parse_public_key_listing("12=a=b\r\n", &entries, &n, &invalid), 0);
        assert_int_equal(n, 1);
        assert_int_equal(entries[0].index, 12);
        assert_string_equal(entries[0].name, "a=b");
        ec2_public_key_entries_free(entries, n);
}

static void ec2_parse_public_key_listing_skips_bad_lines(void **state) {
        _cleanup_strv_free_ char **invalid = NULL;
        Ec2PublicKeyEntry *entries = NULL;
        size_t n = 0;

        assert_int_equal(ec2_parse_public_key_listing("x=bad\n=nameless\n3=\nplain\n-1=neg\n2=good", &entries, &n,
                                                      &invalid), 0);
        assert_int_equal(n, 1);
        assert_int_equal(entries[0].index, 2);
        assert_string_equal(entries[0].name, "good");
        ec2_public_key_entries_free(entries, n);
}

static void ec2_parse_public_key_listing_returns_bad_lines(void **state) {
        _cleanup_strv_free_ char **invalid = NULL;
        Ec2PublicKeyEntry *entries = NULL;
        size_t n = 0;

        assert_int_equal(ec2_parse_public_key_listing("x=bad\n0=good\nplain\n", &entries, &n, &invalid), 0);
        assert_string_equal(invalid[0], "x=bad");
        assert_string_equal(invalid[1], "plain");
        assert_null(invalid[2]);
        ec2_public_key_entries_free(entries, n);
}

static void ec2_split_listing_reports_dropped_entries(void **state) {
        _cleanup_strv_free_ char **entries = NULL;
        _cleanup_free_ char *text = NULL;
        size_t n = EC2_LISTING_ENTRIES_MAX + 1;

        text = malloc(n * 2 + 1);
        assert_non_null(text);
        for (size_t i = 0; i < n; i++)
                memcpy(text + i * 2, "a\n", 2);
        text[n * 2] = '\0';

        assert_int_equal(ec2_split_listing(text, &entries), 1);
        assert_non_null(entries[EC2_LISTING_ENTRIES_MAX - 1]);
        assert_null(entries[EC2_LISTING_ENTRIES_MAX]);
}

static void ec2_instance_id_is_valid_accepts_ids(void **state) {
        assert_true(ec2_instance_id_is_valid("i-0123456789abcdef0"));
        assert_true(ec2_instance_id_is_valid("i-00000001"));
        assert_true(ec2_instance_id_is_valid("a.b_c:d"));
}

static void ec2_instance_id_is_valid_rejects_paths(void **state) {
        assert_false(ec2_instance_id_is_valid(""));
        assert_false(ec2_instance_id_is_valid("."));
        assert_false(ec2_instance_id_is_valid(".."));
        assert_false(ec2_instance_id_is_valid("../etc"));
        assert_false(ec2_instance_id_is_valid("i-1 2"));
        assert_false(ec2_instance_id_is_valid("i-1\n"));
        assert_false(ec2_instance_id_is_valid(NULL));
}

static void ec2_tag_key_is_valid_follows_metadata_rules(void **state) {
        assert_true(ec2_tag_key_is_valid("Name"));
        assert_true(ec2_tag_key_is_valid("kiln:role"));
        assert_true(ec2_tag_key_is_valid("a+b-c=d.e,f_g:h@i"));
        assert_false(ec2_tag_key_is_valid("has space"));
        assert_false(ec2_tag_key_is_valid("a/b"));
        assert_false(ec2_tag_key_is_valid("../x"));
        assert_false(ec2_tag_key_is_valid("."));
        assert_false(ec2_tag_key_is_valid(".."));
        assert_false(ec2_tag_key_is_valid("_index"));
        assert_false(ec2_tag_key_is_valid(""));
}

static void ec2_append_ssh_keys_splits_lines(void **state) {
        json_auto_t *keys = json_array();

        assert_int_equal(ec2_append_ssh_keys("ssh-ed25519 AAAA...one a\n\n# comment\r\nssh-rsa AAAA...two b\n", keys), 0);
        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), "ssh-ed25519 AAAA...one a");
        assert_string_equal(json_string_value(json_array_get(keys, 1)), "ssh-rsa AAAA...two b");
}

/* ---- Whole fetches against the mock metadata service ---- */

typedef struct Mock {
        pid_t pid;
        int port;
        char dir[64];
} Mock;

static char *mock_script(void) {
        const char *data = getenv("KILN_TEST_DATA");
        char *path = NULL;

        if (asprintf(&path, "%s/../imds/mock-imds.py", data ?: "tests/data") < 0)
                abort();
        return path;
}

static bool mock_available(void) {
        _cleanup_free_ char *script = mock_script();

        return access(PYTHON, X_OK) == 0 && access(script, R_OK) == 0;
}

/* A loopback port that nothing listens on right now. */
static int free_port(void) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
        close(fd);
        return ntohs(addr.sin_port);
}

static usec_t monotonic_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void mock_path(const Mock *m, const char *name, char buf[static PATH_MAX]) {
        snprintf(buf, PATH_MAX, "%s/%s", m->dir, name);
}

/* Start the mock on 127.0.0.1 with a scenario (JSON text) and wait for its ready file. */
static void mock_start(Mock *m, const char *scenario) {
        char scenario_path[PATH_MAX], log_path[PATH_MAX], ready_path[PATH_MAX], listen[64];
        _cleanup_free_ char *script = mock_script();
        usec_t give_up;
        FILE *f;

        *m = (Mock) { .port = free_port() };
        strcpy(m->dir, "/tmp/kiln-imds-XXXXXX");
        assert_non_null(mkdtemp(m->dir));
        mock_path(m, "scenario.json", scenario_path);
        mock_path(m, "log.jsonl", log_path);
        mock_path(m, "ready", ready_path);
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", m->port);

        f = fopen(scenario_path, "we");
        assert_non_null(f);
        assert_true(fputs(scenario, f) >= 0);
        assert_int_equal(fclose(f), 0);

        m->pid = fork();
        assert_true(m->pid >= 0);
        if (m->pid == 0) {
                /* Never outlive a test that failed before it could stop the mock. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(PYTHON, PYTHON, script, "--scenario", scenario_path, "--log", log_path,
                      "--ready-file", ready_path, "--listen", listen, (char *) NULL);
                _exit(127);
        }

        give_up = monotonic_usec() + MOCK_READY_TIMEOUT_USEC;
        while (access(ready_path, F_OK) < 0) {
                assert_true(monotonic_usec() < give_up);
                assert_int_equal(waitpid(m->pid, NULL, WNOHANG), 0);
                usleep(20 * 1000);
        }
}

/* Stop the mock and return its request log as a JSON array. */
static json_t *mock_stop(Mock *m) {
        char log_path[PATH_MAX], cmd[PATH_MAX + 32];
        json_t *requests = json_array();
        char line[65536];
        FILE *f;

        assert_int_equal(kill(m->pid, SIGTERM), 0);
        assert_int_equal(waitpid(m->pid, NULL, 0), m->pid);

        mock_path(m, "log.jsonl", log_path);
        f = fopen(log_path, "re");
        while (f && fgets(line, sizeof(line), f)) {
                json_t *request = json_loads(line, 0, NULL);

                assert_non_null(request);
                assert_int_equal(json_array_append_new(requests, request), 0);
        }
        if (f)
                fclose(f);

        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", m->dir);
        assert_int_equal(system(cmd), 0);
        return requests;
}

/* Fetch with metadata_urls pointing at port, plus settings (JSON text of datasource.ec2 keys).
 * ret_warnings, when not NULL, receives the warnings that the fetch reported. */
static int fetch_reporting(int port, const char *settings, Instance **ret, char **reterr, usec_t *ret_elapsed,
                           json_t **ret_warnings) {
        TestRoot *t = test_root_new();
        json_auto_t *ec2 = settings ? json_loads(settings, 0, NULL) : json_object();
        char url[64];
        usec_t start;
        int r;

        assert_non_null(ec2);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        if (!json_object_get(ec2, "metadata_urls"))
                assert_int_equal(json_object_set_new(ec2, "metadata_urls", json_pack("[s]", url)), 0);
        if (!json_object_get(ec2, "max_wait"))
                assert_int_equal(json_object_set_new(ec2, "max_wait", json_integer(20)), 0);
        assert_int_equal(json_object_set_new(t->ctx.system_config, "datasource",
                                             json_pack("{s:O}", "ec2", ec2)), 0);

        start = monotonic_usec();
        r = datasource_ec2.fetch(&t->ctx, ret, reterr);
        if (ret_elapsed)
                *ret_elapsed = monotonic_usec() - start;
        if (ret_warnings)
                *ret_warnings = json_incref(t->ctx.warnings);
        test_root_free(t);
        return r;
}

static int fetch_from(int port, const char *settings, Instance **ret, char **reterr, usec_t *ret_elapsed) {
        return fetch_reporting(port, settings, ret, reterr, ret_elapsed, /* ret_warnings= */ NULL);
}

/* Whether one of the warnings contains text. */
static bool warnings_contain(const json_t *warnings, const char *text) {
        const json_t *w;
        size_t i;

        json_array_foreach(warnings, i, w)
                if (strstr(json_string_value(json_object_get(w, "message")) ?: "", text))
                        return true;
        return false;
}

static unsigned count_requests(const json_t *requests, const char *method, const char *path) {
        const json_t *request;
        unsigned n = 0;
        size_t i;

        json_array_foreach(requests, i, request)
                if ((!method || streq(json_string_value(json_object_get(request, "method")), method)) &&
                    (!path || streq(json_string_value(json_object_get(request, "path")), path)))
                        n++;
        return n;
}

/* The number of GETs whose token field is not the given state. */
static unsigned count_gets_with_token_not(const json_t *requests, const char *token_state) {
        const json_t *request;
        unsigned n = 0;
        size_t i;

        json_array_foreach(requests, i, request) {
                const char *token = json_string_value(json_object_get(request, "token"));

                if (streq(json_string_value(json_object_get(request, "method")), "GET") &&
                    (!token || !streq(token, token_state)))
                        n++;
        }
        return n;
}

/* The number of GETs that carried no token header. */
static unsigned count_gets_without_token(const json_t *requests) {
        const json_t *request;
        unsigned n = 0;
        size_t i;

        json_array_foreach(requests, i, request) {
                const json_t *headers = json_object_get(request, "headers");
                bool found = false;
                const char *name;
                const json_t *value;

                json_object_foreach((json_t *) headers, name, value)
                        if (strcasecmp(name, "X-aws-ec2-metadata-token") == 0)
                                found = true;
                if (streq(json_string_value(json_object_get(request, "method")), "GET") && !found)
                        n++;
        }
        return n;
}

static unsigned count_connections(const json_t *requests) {
        const json_t *request;
        json_int_t max = 0;
        size_t i;

        json_array_foreach(requests, i, request)
                max = MAX(max, json_integer_value(json_object_get(request, "connection_id")));
        return (unsigned) max;
}

static const char *metadata_string(const Instance *instance, const char *key) {
        return json_string_value(json_object_get(instance->metadata, key));
}

static const char *document_string(const Instance *instance, const char *key) {
        const json_t *dynamic = json_object_get(instance->raw, "dynamic");
        const json_t *document = json_object_get(json_object_get(dynamic, "instance-identity"), "document");

        return json_string_value(json_object_get(document, key));
}

#define SKIP_WITHOUT_MOCK()                     \
        do {                                    \
                if (!mock_available())          \
                        skip();                 \
        } while (false)

static void ec2_fetch_reads_instance_with_tokens(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        const json_t *keys, *first;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"required\", \"tags\": {\"Name\": \"web-1\", \"kiln:role\": \"web \"},"
                       " \"paths\": {\"/latest/user-data\": \"#cloud-config\\nruncmd:\\n  - touch /run/b25\\n\"}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->datasource, "ec2");
        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        assert_string_equal(metadata_string(instance, "instance_id"), "i-0123456789abcdef0");
        assert_string_equal(metadata_string(instance, "local_hostname"), "ip-192-0-2-10.ec2.internal");
        assert_string_equal(metadata_string(instance, "region"), "us-east-1");
        assert_string_equal(metadata_string(instance, "availability_zone"), "us-east-1a");
        assert_string_equal(metadata_string(instance, "cloud_name"), "aws");
        assert_string_equal(metadata_string(instance, "platform"), "ec2");
        keys = json_object_get(instance->metadata, "public_ssh_keys");
        assert_int_equal(json_array_size(keys), 1);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), "ssh-ed25519 AAAA...test test-key");

        assert_string_equal(json_string_value(json_object_get(json_object_get(instance->raw, "meta-data"), "instance-id")),
                            "i-0123456789abcdef0");
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(instance->raw, "meta-data"),
                                                                              "public-keys"), "test-key")),
                            "ssh-ed25519 AAAA...test test-key");
        assert_string_equal(document_string(instance, "instanceId"), "i-0123456789abcdef0");
        assert_string_equal(json_string_value(json_object_get(json_object_get(instance->raw, "tags"), "Name")), "web-1");
        assert_string_equal(json_string_value(json_object_get(json_object_get(instance->raw, "tags"), "kiln:role")), "web ");

        assert_true(instance->has_user_data);
        assert_int_equal(instance->user_data_size, strlen("#cloud-config\nruncmd:\n  - touch /run/b25\n"));
        assert_string_equal(instance->user_data, "#cloud-config\nruncmd:\n  - touch /run/b25\n");

        first = json_array_get(requests, 0);
        assert_string_equal(json_string_value(json_object_get(first, "method")), "PUT");
        assert_string_equal(json_string_value(json_object_get(json_object_get(first, "headers"),
                                                              "X-aws-ec2-metadata-token-ttl-seconds")), "21600");
        assert_int_equal(count_requests(requests, "PUT", NULL), 1);
        assert_int_equal(count_gets_with_token_not(requests, "valid"), 0);
        assert_int_equal(count_connections(requests), 1);
        /* The identity document already contains the zone and region. */
        assert_int_equal(count_requests(requests, "GET", NULL), 9);
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/instance-id"), 1);
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/placement/region"), 0);
}

static void ec2_fetch_treats_404_as_absent(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"public_keys\": {}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_false(instance->has_user_data);
        assert_null(instance->user_data);
        assert_int_equal(json_array_size(json_object_get(instance->metadata, "public_ssh_keys")), 0);
        assert_null(json_object_get(json_object_get(instance->raw, "meta-data"), "public-keys"));
        assert_null(json_object_get(instance->raw, "tags"));
        assert_int_equal(count_requests(requests, "GET", "/latest/user-data"), 1);
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/public-keys/"), 1);
}

static void ec2_fetch_keeps_user_data_bytes(void **state) {
        static const char gzip_bytes[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x00\xff";
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"paths\": {\"/latest/user-data\": {\"body_base64\": \"H4sIAAAAAAAAAwD/\"}}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_true(instance->has_user_data);
        assert_int_equal(instance->user_data_size, sizeof(gzip_bytes) - 1);
        assert_memory_equal(instance->user_data, gzip_bytes, sizeof(gzip_bytes) - 1);
}

static void ec2_fetch_reads_several_keys_per_entry(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        const json_t *keys;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"public_keys\": {\"pair\": \"ssh-ed25519 AAAA...one one\\nssh-rsa AAAA...two two\\n\","
                       " \"single\": \"ssh-ed25519 AAAA...three three\"}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        keys = json_object_get(instance->metadata, "public_ssh_keys");
        assert_int_equal(json_array_size(keys), 3);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), "ssh-ed25519 AAAA...one one");
        assert_string_equal(json_string_value(json_array_get(keys, 1)), "ssh-rsa AAAA...two two");
        assert_string_equal(json_string_value(json_array_get(keys, 2)), "ssh-ed25519 AAAA...three three");
}

static void ec2_fetch_derives_region_from_zone(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"paths\": {\"/latest/meta-data/placement/availability-zone\": \"eu-west-1b\","
                       " \"/latest/meta-data/placement/region\": null,"
                       " \"/latest/dynamic/instance-identity/document\": null}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(metadata_string(instance, "region"), "eu-west-1");
        assert_string_equal(metadata_string(instance, "availability_zone"), "eu-west-1b");
        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        assert_null(json_object_get(instance->raw, "dynamic"));
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/instance-id"), 1);
}

static void ec2_fetch_prefers_identity_document_id(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"paths\": {\"/latest/dynamic/instance-identity/document\":"
                       " \"{\\\"instanceId\\\": \\\"i-0fedcba9876543210\\\", \\\"region\\\": \\\"us-east-1\\\"}\"}}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->instance_id, "i-0fedcba9876543210");
}

static void ec2_fetch_reports_bad_metadata(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL, *warnings = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        /* "//8=" is the bytes ff ff, which are not UTF-8. */
        mock_start(&m, "{\"paths\": {\"/latest/meta-data/local-hostname\": {\"body_base64\": \"//8=\"},"
                       " \"/latest/dynamic/instance-identity/document\": \"{not json\","
                       " \"/latest/meta-data/public-keys/\": \"0=my-key\\nnot-an-entry\\n\"}}");
        assert_int_equal(fetch_reporting(m.port, NULL, &instance, &message, NULL, &warnings), 0);
        requests = mock_stop(&m);

        assert_null(metadata_string(instance, "local_hostname"));
        assert_null(json_object_get(instance->raw, "dynamic"));
        assert_true(warnings_contain(warnings,
                                     "Metadata value '/latest/meta-data/local-hostname' is not valid UTF-8 text, ignoring."));
        assert_true(warnings_contain(warnings,
                                     "The instance identity document '/latest/dynamic/instance-identity/document' is not valid JSON"));
        assert_true(warnings_contain(warnings,
                                     "Invalid entry 'not-an-entry' in the listing '/latest/meta-data/public-keys/', "
                                     "expected INDEX=NAME, skipping."));
        assert_int_equal(json_array_size(warnings), 3);
}

static void ec2_fetch_reports_no_warnings_for_good_metadata(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL, *warnings = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{}");
        assert_int_equal(fetch_reporting(m.port, NULL, &instance, &message, NULL, &warnings), 0);
        requests = mock_stop(&m);

        assert_int_equal(json_array_size(warnings), 0);
}

static void ec2_fetch_falls_back_to_imdsv1(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"unsupported\", \"token_put_status\": 403}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        assert_int_equal(count_requests(requests, "PUT", NULL), 1);
        assert_int_equal(count_gets_with_token_not(requests, "ignored"), 0);
}

static void ec2_fetch_fails_without_imdsv1_fallback(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"unsupported\", \"token_put_status\": 405}");
        assert_int_equal(fetch_from(m.port, "{\"imdsv1_fallback\": false}", &instance, &message, NULL), -EACCES);
        requests = mock_stop(&m);

        assert_null(instance);
        assert_non_null(strstr(message, "HTTP 405 on token request"));
        assert_int_equal(count_requests(requests, "GET", NULL), 0);
}

static void ec2_fetch_stops_at_once_when_disabled(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        usec_t elapsed;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"unsupported\", \"token_put_status\": 403,"
                       " \"faults\": [{\"type\": \"status_all\", \"status\": 403}]}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, &elapsed), -EACCES);
        requests = mock_stop(&m);

        assert_null(instance);
        assert_string_equal(message, "the metadata service is disabled (HTTP 403)");
        assert_true(elapsed < 10 * USEC_PER_SEC);
        assert_int_equal(json_array_size(requests), 2);
}

static void ec2_fetch_renews_token_once(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"required\", \"token_max_uses\": 5}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        assert_int_equal(count_requests(requests, "PUT", NULL), 2);
}

static void ec2_fetch_renews_each_used_up_token(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"required\", \"token_max_uses\": 3}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        /* Each token serves 3 GETs and the fetch makes 7, so it takes 2 renewals. */
        assert_int_equal(count_requests(requests, "GET", NULL) - 2, 7);
        assert_int_equal(count_requests(requests, "PUT", NULL), 3);
}

static void ec2_fetch_gives_up_after_token_renewals(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"required\","
                       " \"faults\": [{\"type\": \"status_all\", \"status\": 401, \"method\": \"GET\"}]}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), -EPERM);
        requests = mock_stop(&m);

        assert_null(instance);
        assert_non_null(strstr(message, "the metadata service rejected requests with HTTP 401"));
        assert_int_equal(count_requests(requests, "PUT", NULL), 4);
        assert_int_equal(count_requests(requests, "GET", NULL), 4);
}

static void ec2_fetch_retries_server_errors(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"tokens\": \"required\", \"faults\": ["
                       "{\"type\": \"status\", \"status\": 503, \"count\": 1, \"method\": \"PUT\"},"
                       "{\"type\": \"status\", \"status\": 500, \"count\": 1, \"path\": \"/latest/meta-data/local-hostname\"}]}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_string_equal(instance->instance_id, "i-0123456789abcdef0");
        assert_int_equal(count_requests(requests, "PUT", NULL), 2);
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/local-hostname"), 2);
        assert_int_equal(count_gets_without_token(requests), 0);
        assert_int_equal(count_connections(requests), 1);
}

static void ec2_fetch_retries_truncated_answer(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL;
        json_auto_t *requests = NULL;
        Mock m;

        SKIP_WITHOUT_MOCK();
        mock_start(&m, "{\"faults\": [{\"type\": \"truncate\", \"path\": \"/latest/meta-data/public-keys/0/openssh-key\"}]}");
        assert_int_equal(fetch_from(m.port, NULL, &instance, &message, NULL), 0);
        requests = mock_stop(&m);

        assert_int_equal(json_array_size(json_object_get(instance->metadata, "public_ssh_keys")), 1);
        assert_int_equal(count_requests(requests, "GET", "/latest/meta-data/public-keys/0/openssh-key"), 2);
}

static void ec2_fetch_times_out_without_service(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL, *expected = NULL;
        usec_t elapsed;
        int port = free_port();

        assert_int_equal(fetch_from(port, "{\"max_wait\": 1.5}", &instance, &message, &elapsed), -ETIMEDOUT);

        assert_null(instance);
        assert_true(asprintf(&expected, "no answer from http://127.0.0.1:%d within 1.5 s: Connection refused", port) > 0);
        assert_string_equal(message, expected);
        assert_true(elapsed >= 1500 * USEC_PER_MSEC);
        assert_true(elapsed <= 1650 * USEC_PER_MSEC);
}

static void ec2_fetch_names_every_endpoint_on_timeout(void **state) {
        _cleanup_instance_free_ Instance *instance = NULL;
        _cleanup_free_ char *message = NULL, *settings = NULL;
        int a = free_port(), b = free_port();

        assert_true(asprintf(&settings, "{\"max_wait\": 1, \"metadata_urls\": [\"http://127.0.0.1:%d\", \"http://127.0.0.1:%d\"]}",
                             a, b) > 0);
        assert_int_equal(fetch_from(a, settings, &instance, &message, NULL), -ETIMEDOUT);
        assert_non_null(strstr(message, "(also tried http://127.0.0.1:"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(ec2_uuid_is_ec2_accepts_ec2_prefix),
                cmocka_unit_test(ec2_uuid_is_ec2_accepts_other_byte_order),
                cmocka_unit_test(ec2_uuid_is_ec2_rejects_other_uuids),
                cmocka_unit_test(ec2_dmi_is_ec2_checks_every_source),
                cmocka_unit_test(ec2_dmi_is_ec2_rejects_other_machines),
                cmocka_unit_test(ec2_detect_reads_product_uuid),
                cmocka_unit_test(ec2_detect_reads_hypervisor_uuid),
                cmocka_unit_test(ec2_detect_reads_sys_vendor),
                cmocka_unit_test(ec2_detect_rejects_empty_root),
                cmocka_unit_test(ec2_detect_rejects_other_vendor),
                cmocka_unit_test(ec2_settings_parse_uses_defaults),
                cmocka_unit_test(ec2_settings_parse_accepts_null_config),
                cmocka_unit_test(ec2_settings_parse_reads_values),
                cmocka_unit_test(ec2_settings_parse_replaces_bad_values),
                cmocka_unit_test(ec2_settings_parse_reports_each_bad_value),
                cmocka_unit_test(ec2_settings_parse_reports_quoted_boolean),
                cmocka_unit_test(ec2_settings_parse_reports_quoted_number),
                cmocka_unit_test(ec2_settings_parse_rejects_zero_durations),
                cmocka_unit_test(ec2_settings_parse_rejects_sub_millisecond_timeout),
                cmocka_unit_test(ec2_settings_parse_reports_unknown_key),
                cmocka_unit_test(ec2_settings_parse_skips_bad_urls),
                cmocka_unit_test(ec2_settings_parse_defaults_when_no_url_is_valid),
                cmocka_unit_test(ec2_settings_parse_reports_non_mapping_section),
                cmocka_unit_test(ec2_settings_parse_reports_non_mapping_datasource),
                cmocka_unit_test(ec2_region_from_availability_zone_drops_zone_letter),
                cmocka_unit_test(ec2_region_from_availability_zone_handles_local_zone),
                cmocka_unit_test(ec2_region_from_availability_zone_rejects_junk),
                cmocka_unit_test(ec2_split_listing_trims_lines),
                cmocka_unit_test(ec2_split_listing_accepts_empty_text),
                cmocka_unit_test(ec2_parse_public_key_listing_reads_entries),
                cmocka_unit_test(ec2_parse_public_key_listing_keeps_equals_in_name),
                cmocka_unit_test(ec2_parse_public_key_listing_skips_bad_lines),
                cmocka_unit_test(ec2_parse_public_key_listing_returns_bad_lines),
                cmocka_unit_test(ec2_split_listing_reports_dropped_entries),
                cmocka_unit_test(ec2_instance_id_is_valid_accepts_ids),
                cmocka_unit_test(ec2_instance_id_is_valid_rejects_paths),
                cmocka_unit_test(ec2_tag_key_is_valid_follows_metadata_rules),
                cmocka_unit_test(ec2_append_ssh_keys_splits_lines),
                cmocka_unit_test(ec2_fetch_reads_instance_with_tokens),
                cmocka_unit_test(ec2_fetch_treats_404_as_absent),
                cmocka_unit_test(ec2_fetch_keeps_user_data_bytes),
                cmocka_unit_test(ec2_fetch_reads_several_keys_per_entry),
                cmocka_unit_test(ec2_fetch_derives_region_from_zone),
                cmocka_unit_test(ec2_fetch_prefers_identity_document_id),
                cmocka_unit_test(ec2_fetch_reports_bad_metadata),
                cmocka_unit_test(ec2_fetch_reports_no_warnings_for_good_metadata),
                cmocka_unit_test(ec2_fetch_falls_back_to_imdsv1),
                cmocka_unit_test(ec2_fetch_fails_without_imdsv1_fallback),
                cmocka_unit_test(ec2_fetch_stops_at_once_when_disabled),
                cmocka_unit_test(ec2_fetch_renews_token_once),
                cmocka_unit_test(ec2_fetch_renews_each_used_up_token),
                cmocka_unit_test(ec2_fetch_gives_up_after_token_renewals),
                cmocka_unit_test(ec2_fetch_retries_server_errors),
                cmocka_unit_test(ec2_fetch_retries_truncated_answer),
                cmocka_unit_test(ec2_fetch_times_out_without_service),
                cmocka_unit_test(ec2_fetch_names_every_endpoint_on_timeout),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
