/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/instance-data.c: cloud-init's v1 keys, the ds tree of each datasource, the
 * aliases of keys holding Jinja operators, and the distribution read from the target root. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "instance-data.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "test-helpers.h"

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        instance_free(t->ctx.instance);
        t->ctx.instance = NULL;
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Give ctx an instance of datasource with metadata and raw given as JSON text. */
static void set_instance(Context *ctx, const char *datasource, const char *metadata, const char *raw) {
        Instance *i = instance_new();

        assert_non_null(i);
        i->datasource = strdup(datasource);
        json_decref(i->metadata);
        i->metadata = json_loads(metadata, 0, NULL);
        json_decref(i->raw);
        i->raw = json_loads(raw, 0, NULL);
        assert_non_null(i->metadata);
        assert_non_null(i->raw);
        ctx->instance = i;
}

static void write_root_file(Context *ctx, const char *path, const char *content) {
        assert_int_equal(write_file_atomic(ctx->root_fd, path, content, strlen(content), 0644, -1, -1,
                                           WRITE_MKDIR_PARENTS), 0);
}

/* The value at a path of keys ("v1", "local_hostname", NULL), or fail. */
static json_t *at(json_t *root, const char *first, ...) {
        json_t *v = json_object_get(root, first);
        const char *key;
        va_list ap;

        va_start(ap, first);
        while (v && (key = va_arg(ap, const char *)))
                v = json_object_get(v, key);
        va_end(ap);
        return v;
}

static void assert_json_equal(const json_t *actual, const char *expected_json) {
        json_t *expected = json_loads(expected_json, JSON_DECODE_ANY, NULL);
        char *text;

        assert_non_null(expected);
        if (!actual || !json_equal(actual, expected)) {
                text = actual ? json_dumps(actual, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                fail_msg("Got %s, expected %s", text ?: "nothing", expected_json);
        }
        json_decref(expected);
}

static const char nocloud_metadata[] =
        "{\"instance_id\": \"iid-1\", \"local_hostname\": \"web-1\", \"cloud_name\": \"nocloud\","
        " \"platform\": \"nocloud\", \"region\": null, \"availability_zone\": null,"
        " \"public_ssh_keys\": [\"ssh-ed25519 AAAA...test\"]}";

static const char nocloud_raw[] =
        "{\"meta-data\": {\"instance-id\": \"iid-1\", \"local-hostname\": \"web-1\", \"some-key\": \"v\","
        " \"a.b\": 1, \"nested\": {\"x-y\": {\"deep-er\": true}}, \"list\": [{\"in-list\": 1}]}}";

static void instance_data_build_v1_keys(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "v1", "instance_id", NULL), "\"iid-1\"");
        assert_json_equal(at(data, "v1", "instance-id", NULL), "\"iid-1\"");
        assert_json_equal(at(data, "v1", "local_hostname", NULL), "\"web-1\"");
        assert_json_equal(at(data, "v1", "local-hostname", NULL), "\"web-1\"");
        assert_json_equal(at(data, "v1", "cloud_name", NULL), "\"nocloud\"");
        assert_json_equal(at(data, "v1", "cloud-name", NULL), "\"nocloud\"");
        assert_json_equal(at(data, "v1", "cloud_id", NULL), "\"nocloud\"");
        assert_json_equal(at(data, "v1", "platform", NULL), "\"nocloud\"");
        assert_json_equal(at(data, "v1", "region", NULL), "null");
        assert_json_equal(at(data, "v1", "availability_zone", NULL), "null");
        assert_json_equal(at(data, "v1", "availability-zone", NULL), "null");
        assert_json_equal(at(data, "v1", "public_ssh_keys", NULL), "[\"ssh-ed25519 AAAA...test\"]");
        assert_non_null(at(data, "v1", "kernel_release", NULL));
        assert_non_null(at(data, "v1", "machine", NULL));
        json_decref(data);
}

static void instance_data_build_copies_v1_to_top_level(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "local_hostname", NULL), "\"web-1\"");
        assert_json_equal(at(data, "instance_id", NULL), "\"iid-1\"");
        assert_json_equal(at(data, "cloud_name", NULL), "\"nocloud\"");
        json_decref(data);
}

static void instance_data_build_nocloud_ds(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "ds", "meta_data", "instance-id", NULL), "\"iid-1\"");
        assert_json_equal(at(data, "ds", "meta_data", "instance_id", NULL), "\"iid-1\"");
        assert_json_equal(at(data, "ds", "meta_data", "some-key", NULL), "\"v\"");
        assert_json_equal(at(data, "ds", "meta_data", "some_key", NULL), "\"v\"");
        assert_json_equal(at(data, "ds", "meta_data", "a_b", NULL), "1");
        assert_json_equal(at(data, "ds", "meta_data", "nested", "x_y", "deep_er", NULL), "true");
        assert_json_equal(at(data, "ds", "meta_data", "nested", "x-y", "deep-er", NULL), "true");
        /* cloud-init does not look into lists for aliases. */
        assert_json_equal(at(data, "ds", "meta_data", "list", NULL), "[{\"in-list\": 1}]");
        /* NoCloud has no crawled tree: cloud-init names it meta_data only. */
        assert_null(at(data, "ds", "meta-data", NULL));
        json_decref(data);
}

static void instance_data_build_ec2_ds(void **state) {
        static const char metadata[] =
                "{\"instance_id\": \"i-0123456789abcdef0\", \"local_hostname\": \"ip-192-0-2-10\","
                " \"region\": \"us-east-1\", \"availability_zone\": \"us-east-1a\", \"cloud_name\": \"aws\","
                " \"platform\": \"ec2\", \"public_ssh_keys\": []}";
        static const char raw[] =
                "{\"meta-data\": {\"instance-id\": \"i-0123456789abcdef0\","
                "                 \"placement\": {\"availability-zone\": \"us-east-1a\"}},"
                " \"dynamic\": {\"instance-identity\": {\"document\": {\"region\": \"us-east-1\"}}},"
                " \"tags\": {\"Name\": \"web\", \"aws:cloudformation:stack-name\": \"stack\"}}";
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "ec2", metadata, raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "ds", "meta-data", "instance-id", NULL), "\"i-0123456789abcdef0\"");
        assert_json_equal(at(data, "ds", "meta_data", "instance_id", NULL), "\"i-0123456789abcdef0\"");
        assert_json_equal(at(data, "ds", "meta_data", "placement", "availability_zone", NULL),
                          "\"us-east-1a\"");
        assert_json_equal(at(data, "ds", "meta_data", "tags", "instance", "Name", NULL), "\"web\"");
        assert_json_equal(
                at(data, "ds", "meta_data", "tags", "instance", "aws:cloudformation:stack-name", NULL),
                "\"stack\"");
        assert_json_equal(
                at(data, "ds", "meta_data", "tags", "instance", "aws_cloudformation_stack_name", NULL),
                "\"stack\"");
        assert_json_equal(at(data, "ds", "dynamic", "instance_identity", "document", "region", NULL),
                          "\"us-east-1\"");
        assert_null(at(data, "ds", "tags", NULL));
        assert_json_equal(at(data, "v1", "cloud_id", NULL), "\"aws\"");
        assert_json_equal(at(data, "v1", "availability-zone", NULL), "\"us-east-1a\"");
        json_decref(data);
}

static void instance_data_build_cloud_id_partitions(void **state) {
        static const struct {
                const char *cloud_name;
                const char *region;
                const char *platform;
                const char *cloud_id;
        } cases[] = {
                { "aws",     "cn-north-1",    "ec2",     "aws-china" },
                { "aws",     "us-gov-west-1", "ec2",     "aws-gov" },
                { "aws",     "eu-west-1",     "ec2",     "aws" },
                { "azure",   "chinaeast",     "azure",   "azure-china" },
                { "nocloud", "cn-north-1",    "nocloud", "nocloud" },
                { "unknown", "",              "ec2",     "ec2" },
        };
        Context *ctx = ctx_of(state);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char metadata[256];
                json_t *data;

                (void) snprintf(metadata, sizeof(metadata),
                                "{\"instance_id\": \"i-1\", \"cloud_name\": \"%s\", \"region\": \"%s\", "
                                "\"platform\": \"%s\"}",
                                cases[i].cloud_name, cases[i].region, cases[i].platform);
                set_instance(ctx, "ec2", metadata, "{}");
                data = instance_data_build(ctx);
                assert_non_null(data);
                if (!streq(json_string_value(at(data, "v1", "cloud_id", NULL)) ?: "", cases[i].cloud_id))
                        fail_msg("Case %zu: cloud_id %s, expected %s", i,
                                 json_string_value(at(data, "v1", "cloud_id", NULL)), cases[i].cloud_id);
                json_decref(data);
                ctx->instance = instance_free(ctx->instance);
        }
}

static void instance_data_build_alias_operators(void **state) {
        static const char raw[] =
                "{\"meta-data\": {\"x//y\": 1, \"a==b\": 2, \"v1.0\": 3, \"p+q[0]\": 4, \"k:v|w\": 5}}";
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "ds", "meta_data", "x_y", NULL), "1");
        assert_json_equal(at(data, "ds", "meta_data", "a_b", NULL), "2");
        assert_json_equal(at(data, "ds", "meta_data", "v1_0", NULL), "3");
        assert_json_equal(at(data, "ds", "meta_data", "p_q_0_", NULL), "4");
        assert_json_equal(at(data, "ds", "meta_data", "k_v_w", NULL), "5");
        json_decref(data);
}

static void instance_data_build_key_wins_over_alias(void **state) {
        static const char raw[] = "{\"meta-data\": {\"a_b\": \"own\", \"a-b\": \"alias\"}}";
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        /* "a-b" sorts before "a_b", so the key written as a_b is set last, as in cloud-init. */
        assert_json_equal(at(data, "ds", "meta_data", "a_b", NULL), "\"own\"");
        assert_json_equal(at(data, "ds", "meta_data", "a-b", NULL), "\"alias\"");
        json_decref(data);
}

static void instance_data_build_sorts_keys(void **state) {
        static const char raw[] = "{\"meta-data\": {\"zeta\": 1, \"alpha\": 2, \"mid-key\": 3}}";
        Context *ctx = ctx_of(state);
        const char *expected[] = { "alpha", "mid-key", "mid_key", "zeta" };
        const char *key;
        json_t *data, *value;
        size_t i = 0;

        set_instance(ctx, "nocloud", nocloud_metadata, raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        json_object_foreach(at(data, "ds", "meta_data", NULL), key, value) {
                assert_true(i < ELEMENTSOF(expected));
                assert_string_equal(key, expected[i]);
                i++;
        }
        assert_int_equal(i, ELEMENTSOF(expected));
        json_decref(data);
}

static void instance_data_build_sensitive_keys(void **state) {
        static const char raw[] = "{\"meta-data\": {\"iam\": {\"security-credentials\": {\"role\": "
                                  "\"secret\"}}, \"user-data\": \"x\"},"
                                  " \"user-data\": \"dropped\", \"vendor-data\": \"dropped\"}";
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "ec2", nocloud_metadata, raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "sensitive_keys", NULL),
                          "[\"ds/meta-data/iam/security-credentials\", \"ds/meta-data/user-data\"]");
        assert_json_equal(at(data, "base64_encoded_keys", NULL), "[]");
        assert_null(at(data, "ds", "user-data", NULL));
        assert_null(at(data, "ds", "vendor-data", NULL));
        json_decref(data);
}

static void instance_data_build_distro_ubuntu(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        write_root_file(
                ctx, "etc/os-release",
                "# comment\nNAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n"
                "VERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\n");
        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "v1", "distro", NULL), "\"ubuntu\"");
        assert_json_equal(at(data, "v1", "distro_version", NULL), "\"22.04\"");
        assert_json_equal(at(data, "v1", "distro_release", NULL), "\"jammy\"");
        assert_json_equal(at(data, "v1", "variant", NULL), "\"ubuntu\"");
        json_decref(data);
}

static void instance_data_build_distro_rhel(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        write_root_file(ctx, "etc/os-release", "ID='rhel'\nVERSION_ID=\"9.2\"\nVERSION=\"9.2 (Plow)\"\n");
        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "v1", "distro", NULL), "\"redhat\"");
        assert_json_equal(at(data, "v1", "distro_version", NULL), "\"9.2\"");
        assert_json_equal(at(data, "v1", "distro_release", NULL), "\"Plow\"");
        assert_json_equal(at(data, "v1", "variant", NULL), "\"rhel\"");
        json_decref(data);
}

static void instance_data_build_distro_missing(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;

        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_json_equal(at(data, "v1", "distro", NULL), "\"\"");
        assert_json_equal(at(data, "v1", "distro_version", NULL), "\"\"");
        assert_json_equal(at(data, "v1", "distro_release", NULL), "\"\"");
        assert_json_equal(at(data, "v1", "variant", NULL), "\"linux\"");
        json_decref(data);
}

static void instance_data_build_without_instance(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data = instance_data_build(ctx);

        assert_non_null(data);
        assert_json_equal(at(data, "v1", "instance_id", NULL), "null");
        assert_json_equal(at(data, "v1", "public_ssh_keys", NULL), "[]");
        assert_json_equal(at(data, "v1", "cloud_id", NULL), "\"unknown\"");
        assert_json_equal(at(data, "ds", "meta_data", NULL), "{}");
        json_decref(data);
}

static void instance_data_build_leaves_instance_alone(void **state) {
        Context *ctx = ctx_of(state);
        json_t *data;
        char *before, *after;

        set_instance(ctx, "nocloud", nocloud_metadata, nocloud_raw);
        before = json_dumps(ctx->instance->raw, JSON_SORT_KEYS);
        data = instance_data_build(ctx);
        assert_non_null(data);
        assert_int_equal(json_object_set_new(at(data, "ds", "meta_data", NULL), "changed", json_true()), 0);
        after = json_dumps(ctx->instance->raw, JSON_SORT_KEYS);
        assert_string_equal(before, after);
        free(before);
        free(after);
        json_decref(data);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(instance_data_build_v1_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_copies_v1_to_top_level, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_nocloud_ds, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_ec2_ds, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_cloud_id_partitions, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_alias_operators, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_key_wins_over_alias, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_sorts_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_sensitive_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_distro_ubuntu, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_distro_rhel, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_distro_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_without_instance, setup, teardown),
                cmocka_unit_test_setup_teardown(instance_data_build_leaves_instance_alone, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
