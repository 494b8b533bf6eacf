/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the NoCloud datasource (agent/datasource/nocloud.c) and for the detection helpers
 * it relies on (agent/detect.c): the kernel command line, the off switches and datasource choice. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "datasource/datasource.h"
#include "detect.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "test-helpers.h"

#define KILN_SEED "var/lib/kiln/seed/nocloud"
#define CLOUD_SEED "var/lib/cloud/seed/nocloud"

static const char key_a[] = "ssh-ed25519 AAAA...test-a alice@example.com";
static const char key_b[] = "ssh-ed25519 AAAA...test-b bob@example.com";

typedef struct Fixture {
        TestRoot *root;
        Instance *instance;      /* what nocloud_fetch returned */
        char *error_message;     /* what nocloud_fetch put into reterr_message */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        if (!f)
                return -1;
        f->root = test_root_new();
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        instance_free(f->instance);
        free(f->error_message);
        test_root_free(f->root);
        free(f);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((Fixture *) *state)->root->ctx;
}

/* Write a file inside the root, creating its directories. */
static void root_write(void **state, const char *path, const void *data, size_t size) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, data, size, 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static void root_write_text(void **state, const char *path, const char *text) {
        root_write(state, path, text, strlen(text));
}

static void set_cmdline(void **state, const char *cmdline) {
        root_write_text(state, "proc/cmdline", cmdline);
}

static int fetch(void **state) {
        Fixture *f = *state;

        return datasource_nocloud.fetch(ctx_of(state), &f->instance, &f->error_message);
}

/* Fetch, expecting success, and return the instance (owned by the fixture). */
static Instance *fetch_ok(void **state) {
        Fixture *f = *state;

        assert_int_equal(fetch(state), 0);
        assert_non_null(f->instance);
        return f->instance;
}

static const char *metadata_string(const Instance *i, const char *key) {
        return json_string_value(json_object_get(i->metadata, key));
}

static json_t *public_keys_of(void **state, const char *meta_data) {
        json_t *keys;

        root_write_text(state, KILN_SEED "/meta-data", meta_data);
        keys = json_object_get(fetch_ok(state)->metadata, "public_ssh_keys");
        assert_true(json_is_array(keys));
        return keys;
}

static void kernel_cmdline_get_missing_file_gives_null(void **state) {
        _cleanup_free_ char *value = NULL;

        assert_int_equal(kernel_cmdline_get(ctx_of(state), "ds", &value), 0);
        assert_null(value);
}

static void kernel_cmdline_get_value(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ds=nocloud;i=iid-1 quiet\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "ds", &value), 0);
        assert_non_null(value);
        assert_string_equal(value, "nocloud;i=iid-1");
}

static void kernel_cmdline_get_last_one_wins(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "console=tty0 console=ttyS0,115200\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "console", &value), 0);
        assert_string_equal(value, "ttyS0,115200");
}

static void kernel_cmdline_get_bare_key_gives_empty(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "root=/dev/vda1 quiet splash\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "quiet", &value), 0);
        assert_non_null(value);
        assert_string_equal(value, "");
}

static void kernel_cmdline_get_absent_key_gives_null(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "root=/dev/vda1 quiet\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "ds", &value), 0);
        assert_null(value);
}

static void kernel_cmdline_get_longer_key_not_matched(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "dsmode=local kiln.ds=ec2\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "ds", &value), 0);
        assert_null(value);
}

static void kernel_cmdline_get_quoted_value(void **state) {
        _cleanup_free_ char *value = NULL;

        set_cmdline(state, "root=/dev/vda1 \"ds=nocloud;h=host one\" quiet\n");
        assert_int_equal(kernel_cmdline_get(ctx_of(state), "ds", &value), 0);
        assert_non_null(value);
        assert_string_equal(value, "nocloud;h=host one");
}

static void kiln_disabled_enabled_by_default(void **state) {
        const char *reason = "unset";

        assert_int_equal(kiln_disabled(ctx_of(state), &reason), 0);
        assert_null(reason);
}

static void kiln_disabled_by_file(void **state) {
        const char *reason = NULL;

        root_write_text(state, "etc/kiln/kiln.disabled", "");
        assert_int_equal(kiln_disabled(ctx_of(state), &reason), 1);
        assert_non_null(reason);
}

static void kiln_disabled_by_cmdline(void **state) {
        const char *reason = NULL;

        set_cmdline(state, "root=/dev/vda1 kiln=disabled\n");
        assert_int_equal(kiln_disabled(ctx_of(state), &reason), 1);
        assert_non_null(reason);
}

static void kiln_disabled_other_cmdline_value_enabled(void **state) {
        const char *reason = NULL;

        set_cmdline(state, "root=/dev/vda1 kiln=enabled\n");
        assert_int_equal(kiln_disabled(ctx_of(state), &reason), 0);
}

static void nocloud_detect_kiln_seed_found(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        assert_true(datasource_nocloud.detect(ctx_of(state)) > 0);
}

static void nocloud_detect_cloud_seed_found(void **state) {
        root_write_text(state, CLOUD_SEED "/meta-data", "instance-id: iid-1\n");
        assert_true(datasource_nocloud.detect(ctx_of(state)) > 0);
}

static void nocloud_detect_nothing_returns_zero(void **state) {
        assert_int_equal(datasource_nocloud.detect(ctx_of(state)), 0);
}

static void nocloud_detect_seed_without_meta_data_returns_zero(void **state) {
        root_write_text(state, KILN_SEED "/user-data", "#cloud-config\n");
        assert_int_equal(datasource_nocloud.detect(ctx_of(state)), 0);
}

static void nocloud_detect_cmdline_found(void **state) {
        set_cmdline(state, "root=/dev/vda1 ds=nocloud;i=iid-1;h=host-1\n");
        assert_true(datasource_nocloud.detect(ctx_of(state)) > 0);
}

static void detect_datasource_cmdline_chooses_nocloud(void **state) {
        const Datasource *ds = NULL;

        set_cmdline(state, "root=/dev/vda1 ds=nocloud;i=iid-1;h=host-1\n");
        assert_int_equal(detect_datasource(ctx_of(state), &ds), 1);
        assert_ptr_equal(ds, &datasource_nocloud);
}

static void detect_datasource_seed_chooses_nocloud(void **state) {
        const Datasource *ds = NULL;

        root_write_text(state, CLOUD_SEED "/meta-data", "instance-id: iid-1\n");
        assert_int_equal(detect_datasource(ctx_of(state), &ds), 1);
        assert_ptr_equal(ds, &datasource_nocloud);
}

static void detect_datasource_nothing_found(void **state) {
        const Datasource *ds = &datasource_nocloud;

        assert_int_equal(detect_datasource(ctx_of(state), &ds), 0);
        assert_null(ds);
}

static void detect_datasource_kiln_ds_unknown_is_error(void **state) {
        const Datasource *ds = NULL;

        set_cmdline(state, "kiln.ds=nosuchcloud\n");
        assert_true(detect_datasource(ctx_of(state), &ds) < 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void detect_datasource_single_list_entry_not_probed(void **state) {
        const Datasource *ds = NULL;

        assert_int_equal(json_object_set_new(ctx_of(state)->system_config, "datasource_list",
                                             json_pack("[s]", "NoCloud")), 0);
        assert_int_equal(detect_datasource(ctx_of(state), &ds), 1);
        assert_ptr_equal(ds, &datasource_nocloud);
}

static void nocloud_fetch_reads_instance_id(void **state) {
        root_write_text(state, KILN_SEED "/meta-data",
                        "instance-id: iid-local01\nlocal-hostname: cloudimg\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-local01");
}

static void nocloud_fetch_metadata_has_instance_id(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-local01\n");
        assert_string_equal(metadata_string(fetch_ok(state), "instance_id"), "iid-local01");
}

static void nocloud_fetch_reads_local_hostname(void **state) {
        root_write_text(state, KILN_SEED "/meta-data",
                        "instance-id: iid-local01\nlocal-hostname: cloudimg\n");
        assert_string_equal(metadata_string(fetch_ok(state), "local_hostname"), "cloudimg");
}

static void nocloud_fetch_names_datasource(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-local01\n");
        assert_string_equal(fetch_ok(state)->datasource, "nocloud");
}

static void nocloud_fetch_keeps_raw_meta_data(void **state) {
        json_t *raw;

        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-local01\ncustom: value\n");
        raw = json_object_get(fetch_ok(state)->raw, "meta-data");
        assert_string_equal(json_string_value(json_object_get(raw, "custom")), "value");
}

static void nocloud_fetch_reads_cloud_seed(void **state) {
        root_write_text(state, CLOUD_SEED "/meta-data", "instance-id: iid-cloud\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-cloud");
}

static void nocloud_fetch_kiln_seed_before_cloud_seed(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-kiln\n");
        root_write_text(state, CLOUD_SEED "/meta-data", "instance-id: iid-cloud\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-kiln");
}

static void nocloud_fetch_cmdline_overrides_instance_id(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-seed\nlocal-hostname: host-seed\n");
        set_cmdline(state, "root=/dev/vda1 ds=nocloud;i=iid-1;h=host-1\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-1");
}

static void nocloud_fetch_cmdline_overrides_hostname(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-seed\nlocal-hostname: host-seed\n");
        set_cmdline(state, "root=/dev/vda1 ds=nocloud;i=iid-1;h=host-1\n");
        assert_string_equal(metadata_string(fetch_ok(state), "local_hostname"), "host-1");
}

static void nocloud_fetch_cmdline_long_key_names(void **state) {
        Instance *i;

        set_cmdline(state, "ds=nocloud;instance-id=iid-2;local-hostname=host-2\n");
        i = fetch_ok(state);
        assert_string_equal(i->instance_id, "iid-2");
        assert_string_equal(metadata_string(i, "local_hostname"), "host-2");
}

static void nocloud_fetch_cmdline_without_seed(void **state) {
        Instance *i;

        set_cmdline(state, "ds=nocloud;i=iid-1;h=host-1\n");
        i = fetch_ok(state);
        assert_string_equal(i->instance_id, "iid-1");
        assert_false(i->has_user_data);
}

static void nocloud_fetch_cmdline_seed_path(void **state) {
        root_write_text(state, "srv/seed/meta-data", "instance-id: iid-srv\n");
        set_cmdline(state, "ds=nocloud;s=/srv/seed/\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-srv");
}

static void nocloud_fetch_cmdline_seed_file_uri(void **state) {
        root_write_text(state, "srv/seed/meta-data", "instance-id: iid-srv\n");
        set_cmdline(state, "ds=nocloud;s=file:///srv/seed/\n");
        assert_string_equal(fetch_ok(state)->instance_id, "iid-srv");
}

static void nocloud_fetch_cmdline_http_seed_rejected(void **state) {
        Fixture *f = *state;

        set_cmdline(state, "ds=nocloud;s=http://192.0.2.1/seed/\n");
        assert_int_equal(fetch(state), -EPROTONOSUPPORT);
        assert_non_null(f->error_message);
        assert_non_null(strstr(f->error_message, "'http://192.0.2.1/seed/'"));
}

static void nocloud_fetch_missing_instance_id_gives_nocloud(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "local-hostname: host-1\n");
        assert_string_equal(fetch_ok(state)->instance_id, "nocloud");
}

static void nocloud_fetch_empty_meta_data_gives_nocloud(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "");
        assert_string_equal(fetch_ok(state)->instance_id, "nocloud");
}

static void nocloud_fetch_integer_instance_id(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: 1234\n");
        assert_string_equal(fetch_ok(state)->instance_id, "1234");
}

static void nocloud_fetch_invalid_meta_data_fails(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\nlocal-hostname: [a\n");
        assert_true(fetch(state) < 0);
}

static void nocloud_fetch_invalid_meta_data_message_has_line(void **state) {
        Fixture *f = *state;

        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n\tlocal-hostname: a\n");
        assert_true(fetch(state) < 0);
        assert_non_null(f->error_message);
        assert_non_null(strstr(f->error_message, "line 2"));
}

static void nocloud_fetch_meta_data_not_mapping_fails(void **state) {
        Fixture *f = *state;

        root_write_text(state, KILN_SEED "/meta-data", "- iid-1\n");
        assert_true(fetch(state) < 0);
        assert_non_null(f->error_message);
}

static void nocloud_fetch_public_keys_string(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys: ssh-ed25519 AAAA...test-a alice@example.com\n");

        assert_int_equal(json_array_size(keys), 1);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
}

static void nocloud_fetch_public_keys_multiline_string(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys: |\n"
                                      "  ssh-ed25519 AAAA...test-a alice@example.com\n"
                                      "  ssh-ed25519 AAAA...test-b bob@example.com\n");

        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
        assert_string_equal(json_string_value(json_array_get(keys, 1)), key_b);
}

static void nocloud_fetch_public_keys_list(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys:\n"
                                      "  - ssh-ed25519 AAAA...test-a alice@example.com\n"
                                      "  - ssh-ed25519 AAAA...test-b bob@example.com\n");

        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
        assert_string_equal(json_string_value(json_array_get(keys, 1)), key_b);
}

static void nocloud_fetch_public_keys_mapping_of_strings(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys:\n"
                                      "  alice: ssh-ed25519 AAAA...test-a alice@example.com\n"
                                      "  bob: ssh-ed25519 AAAA...test-b bob@example.com\n");

        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
        assert_string_equal(json_string_value(json_array_get(keys, 1)), key_b);
}

static void nocloud_fetch_public_keys_mapping_of_lists(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys:\n"
                                      "  team:\n"
                                      "    - ssh-ed25519 AAAA...test-a alice@example.com\n"
                                      "    - ssh-ed25519 AAAA...test-b bob@example.com\n");

        assert_int_equal(json_array_size(keys), 2);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
        assert_string_equal(json_string_value(json_array_get(keys, 1)), key_b);
}

static void nocloud_fetch_public_keys_mapping_of_openssh_key(void **state) {
        json_t *keys = public_keys_of(state,
                                      "instance-id: iid-1\n"
                                      "public-keys:\n"
                                      "  0:\n"
                                      "    openssh-key: ssh-ed25519 AAAA...test-a alice@example.com\n");

        assert_int_equal(json_array_size(keys), 1);
        assert_string_equal(json_string_value(json_array_get(keys, 0)), key_a);
}

static void nocloud_fetch_public_keys_absent_gives_empty_list(void **state) {
        json_t *keys = public_keys_of(state, "instance-id: iid-1\n");

        assert_int_equal(json_array_size(keys), 0);
}

static void nocloud_fetch_missing_user_data_has_user_data_false(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        assert_false(fetch_ok(state)->has_user_data);
}

static void nocloud_fetch_empty_user_data_has_user_data_true(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        root_write(state, KILN_SEED "/user-data", "", 0);
        assert_true(fetch_ok(state)->has_user_data);
}

static void nocloud_fetch_empty_user_data_size_zero(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        root_write(state, KILN_SEED "/user-data", "", 0);
        assert_int_equal(fetch_ok(state)->user_data_size, 0);
}

static void nocloud_fetch_reads_user_data_bytes(void **state) {
        static const char user_data[] = "\x1f\x8b\x08\x00binary\0bytes";
        Instance *i;

        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        root_write(state, KILN_SEED "/user-data", user_data, sizeof(user_data) - 1);
        i = fetch_ok(state);
        assert_int_equal(i->user_data_size, sizeof(user_data) - 1);
        assert_memory_equal(i->user_data, user_data, sizeof(user_data) - 1);
}

static void nocloud_fetch_reads_vendor_data(void **state) {
        Instance *i;

        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        root_write_text(state, KILN_SEED "/vendor-data", "#cloud-config\nruncmd: [vendor]\n");
        i = fetch_ok(state);
        assert_true(i->has_vendor_data);
        assert_string_equal(i->vendor_data, "#cloud-config\nruncmd: [vendor]\n");
}

static void nocloud_fetch_missing_vendor_data_has_vendor_data_false(void **state) {
        root_write_text(state, KILN_SEED "/meta-data", "instance-id: iid-1\n");
        assert_false(fetch_ok(state)->has_vendor_data);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(kernel_cmdline_get_missing_file_gives_null),
                T(kernel_cmdline_get_value),
                T(kernel_cmdline_get_last_one_wins),
                T(kernel_cmdline_get_bare_key_gives_empty),
                T(kernel_cmdline_get_absent_key_gives_null),
                T(kernel_cmdline_get_longer_key_not_matched),
                T(kernel_cmdline_get_quoted_value),
                T(kiln_disabled_enabled_by_default),
                T(kiln_disabled_by_file),
                T(kiln_disabled_by_cmdline),
                T(kiln_disabled_other_cmdline_value_enabled),
                T(nocloud_detect_kiln_seed_found),
                T(nocloud_detect_cloud_seed_found),
                T(nocloud_detect_nothing_returns_zero),
                T(nocloud_detect_seed_without_meta_data_returns_zero),
                T(nocloud_detect_cmdline_found),
                T(detect_datasource_cmdline_chooses_nocloud),
                T(detect_datasource_seed_chooses_nocloud),
                T(detect_datasource_nothing_found),
                T(detect_datasource_kiln_ds_unknown_is_error),
                T(detect_datasource_single_list_entry_not_probed),
                T(nocloud_fetch_reads_instance_id),
                T(nocloud_fetch_metadata_has_instance_id),
                T(nocloud_fetch_reads_local_hostname),
                T(nocloud_fetch_names_datasource),
                T(nocloud_fetch_keeps_raw_meta_data),
                T(nocloud_fetch_reads_cloud_seed),
                T(nocloud_fetch_kiln_seed_before_cloud_seed),
                T(nocloud_fetch_cmdline_overrides_instance_id),
                T(nocloud_fetch_cmdline_overrides_hostname),
                T(nocloud_fetch_cmdline_long_key_names),
                T(nocloud_fetch_cmdline_without_seed),
                T(nocloud_fetch_cmdline_seed_path),
                T(nocloud_fetch_cmdline_seed_file_uri),
                T(nocloud_fetch_cmdline_http_seed_rejected),
                T(nocloud_fetch_missing_instance_id_gives_nocloud),
                T(nocloud_fetch_empty_meta_data_gives_nocloud),
                T(nocloud_fetch_integer_instance_id),
                T(nocloud_fetch_invalid_meta_data_fails),
                T(nocloud_fetch_invalid_meta_data_message_has_line),
                T(nocloud_fetch_meta_data_not_mapping_fails),
                T(nocloud_fetch_public_keys_string),
                T(nocloud_fetch_public_keys_multiline_string),
                T(nocloud_fetch_public_keys_list),
                T(nocloud_fetch_public_keys_mapping_of_strings),
                T(nocloud_fetch_public_keys_mapping_of_lists),
                T(nocloud_fetch_public_keys_mapping_of_openssh_key),
                T(nocloud_fetch_public_keys_absent_gives_empty_list),
                T(nocloud_fetch_missing_user_data_has_user_data_false),
                T(nocloud_fetch_empty_user_data_has_user_data_true),
                T(nocloud_fetch_empty_user_data_size_zero),
                T(nocloud_fetch_reads_user_data_bytes),
                T(nocloud_fetch_reads_vendor_data),
                T(nocloud_fetch_missing_vendor_data_has_vendor_data_false),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
