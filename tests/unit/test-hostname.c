/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/hostname.c: name choice, validation, idempotence and renames. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostname.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

#define PREVIOUS "/var/lib/kiln/previous-hostname"
#define PREVIOUS_INSTANCE "/var/lib/kiln/previous-hostname-instance"

typedef struct HostnameTest {
        TestRoot *root;
        Instance instance;
} HostnameTest;

static int setup(void **state) {
        HostnameTest *t = calloc(1, sizeof(HostnameTest));

        assert_non_null(t);
        t->root = test_root_new();
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/etc", 0755, (uid_t) -1, (gid_t) -1), 1);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        HostnameTest *t = *state;

        json_decref(t->instance.metadata);
        test_root_free(t->root);
        free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((HostnameTest *) *state)->root->ctx;
}

/* Give the context an instance whose metadata has this local_hostname. */
static void set_local_hostname(void **state, const char *name) {
        HostnameTest *t = *state;

        json_decref(t->instance.metadata);
        t->instance.metadata = json_pack("{s:s, s:s}", "instance_id", "i-0123456789abcdef0",
                                         "local_hostname", name);
        t->root->ctx.instance = &t->instance;
}

static int run(void **state, const char *json) {
        Context *ctx = ctx_of(state);
        json_error_t error;

        json_decref(ctx->config);
        ctx->config = json_loads(json, 0, &error);
        if (!ctx->config)
                fail_msg("bad test JSON at %d: %s", error.line, error.text);
        return module_hostname.run(ctx, ctx->config);
}

static void put_file(void **state, const char *path, const char *content) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, content, strlen(content), 0644,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static void assert_file(void **state, const char *path, const char *expected) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, 4096, &data, &size), 0);
        assert_string_equal(data, expected);
        assert_int_equal(size, strlen(expected));
}

static void assert_absent(void **state, const char *path) {
        assert_int_equal(root_exists(ctx_of(state)->root_fd, path), 0);
}

static bool has_message(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return true;
        return false;
}

static void hostname_config_written(void **state) {
        struct stat st;
        _cleanup_close_ int fd = -EBADF;

        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
        assert_file(state, PREVIOUS, "web-1\n");
        fd = root_open(ctx_of(state)->root_fd, "/etc/hostname", O_RDONLY, 0);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void hostname_second_run_unchanged(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 1);
        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 0);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_fqdn_short_by_default(void **state) {
        assert_int_equal(run(state, "{\"fqdn\": \"web-1.example.com\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_fqdn_preferred(void **state) {
        assert_int_equal(run(state, "{\"fqdn\": \"web-1.example.com\", \"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "web-1.example.com\n");
}

static void hostname_dotted_hostname_short(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"web-1.example.com\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_dotted_hostname_preferred(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"web-1.example.com\", "
                                    "\"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "web-1.example.com\n");
}

static void hostname_hostname_and_fqdn(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"short\", \"fqdn\": \"long.example.com\"}"), 1);
        assert_file(state, "/etc/hostname", "short\n");

        assert_int_equal(run(state, "{\"hostname\": \"short\", \"fqdn\": \"long.example.com\", "
                                    "\"prefer_fqdn_over_hostname\": true}"), 1);
        assert_file(state, "/etc/hostname", "long.example.com\n");
}

static void hostname_metadata_local_hostname(void **state) {
        set_local_hostname(state, "ip-172-31-0-1.us-east-2.compute.internal");

        assert_int_equal(run(state, "{}"), 1);

        assert_file(state, "/etc/hostname", "ip-172-31-0-1\n");
}

static void hostname_metadata_fqdn_preferred(void **state) {
        set_local_hostname(state, "ip-172-31-0-1.us-east-2.compute.internal");

        assert_int_equal(run(state, "{\"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "ip-172-31-0-1.us-east-2.compute.internal\n");
}

static void hostname_metadata_ipv4_address(void **state) {
        set_local_hostname(state, "10.0.0.1");

        assert_int_equal(run(state, "{}"), 1);

        assert_file(state, "/etc/hostname", "ip-10-0-0-1\n");
}

static void hostname_config_overrides_metadata(void **state) {
        set_local_hostname(state, "ip-172-31-0-1.ec2.internal");

        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_domains_primary_fallback(void **state) {
        assert_int_equal(run(state, "{\"domains\": [\"*.example.com\", \"Shop.Example.com\", \"www.example.com\"], "
                                    "\"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "shop.example.com\n");
}

static void hostname_domains_short_name(void **state) {
        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\"]}"), 1);

        assert_file(state, "/etc/hostname", "shop\n");
}

static void hostname_domains_over_metadata(void **state) {
        set_local_hostname(state, "ip-172-31-0-1.ec2.internal");

        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\"], \"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "shop.example.com\n");
}

static void hostname_fqdn_over_domains(void **state) {
        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\"], \"fqdn\": \"web-1.example.org\", "
                                    "\"prefer_fqdn_over_hostname\": true}"), 1);

        assert_file(state, "/etc/hostname", "web-1.example.org\n");
}

static void hostname_hostname_over_domains(void **state) {
        assert_int_equal(run(state, "{\"domains\": [\"shop.example.com\"], \"hostname\": \"web-1\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_no_name_nothing_done(void **state) {
        assert_int_equal(run(state, "{}"), 0);

        assert_absent(state, "/etc/hostname");
        assert_absent(state, PREVIOUS);
}

static void hostname_preserve_nothing_done(void **state) {
        assert_int_equal(run(state, "{\"preserve_hostname\": true, \"hostname\": \"web-1\"}"), 0);

        assert_absent(state, "/etc/hostname");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void hostname_preserve_string_warns(void **state) {
        assert_int_equal(run(state, "{\"preserve_hostname\": \"true\", \"hostname\": \"web-1\"}"), 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->warnings, "preserve_hostname: expected a boolean"));
}

static void hostname_preserve_invalid_error(void **state) {
        assert_true(run(state, "{\"preserve_hostname\": \"maybe\", \"hostname\": \"web-1\"}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "preserve_hostname: expected true or false, got 'maybe'"));
}

/* `hostname: off` arrives as the boolean false. */
static void hostname_boolean_value_error(void **state) {
        assert_true(run(state, "{\"hostname\": false}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "hostname: expected a name, got the boolean false"));
}

static void hostname_number_value_error(void **state) {
        assert_true(run(state, "{\"fqdn\": 1234}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "fqdn: expected a name as a string, got 1234"));
}

static void hostname_invalid_characters_error(void **state) {
        static const char *const names[] = { "web_1", "web 1", "web-1;reboot", "wéb" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char json[128], needle[128];

                (void) snprintf(json, sizeof(json), "{\"hostname\": \"%s\"}", names[i]);
                (void) snprintf(needle, sizeof(needle), "invalid hostname '%s'", names[i]);
                assert_true(run(state, json) < 0);
                assert_true(has_message(ctx_of(state)->errors, needle));
        }

        assert_absent(state, "/etc/hostname");
        assert_absent(state, PREVIOUS);
}

static void hostname_empty_labels_error(void **state) {
        static const char *const names[] = { "", "web..example.com", ".web", "web." };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char json[128];

                (void) snprintf(json, sizeof(json), "{\"fqdn\": \"%s\"}", names[i]);
                assert_true(run(state, json) < 0);
        }

        assert_int_equal(json_array_size(ctx_of(state)->errors), ELEMENTSOF(names));
        assert_absent(state, "/etc/hostname");
}

static void hostname_label_hyphen_at_edge_error(void **state) {
        static const char *const names[] = { "-lead", "lead-", "web.-lead.example.com", "web.lead-.example.com" };
        static const char *const labels[] = { "'-lead' starts", "'lead-' ends", "'-lead' starts", "'lead-' ends" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char json[128], needle[128];

                (void) snprintf(json, sizeof(json), "{\"hostname\": \"%s\"}", names[i]);
                (void) snprintf(needle, sizeof(needle), "invalid hostname '%s': the label %s with '-'", names[i],
                                labels[i]);
                assert_true(run(state, json) < 0);
                assert_true(has_message(ctx_of(state)->errors, needle));
        }

        assert_absent(state, "/etc/hostname");
        assert_absent(state, PREVIOUS);
}

static void hostname_inner_hyphens_accepted(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"web--1\"}"), 1);

        assert_file(state, "/etc/hostname", "web--1\n");
}

static void hostname_control_characters_escaped(void **state) {
        assert_true(run(state, "{\"hostname\": \"a\\nb\\u0007c\\\\d\"}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "invalid hostname 'a\\nb\\x07c\\\\d': it contains the character '\\n'"));
}

static void hostname_label_over_63_error(void **state) {
        char json[256], label[65];

        memset(label, 'a', 64);
        label[64] = '\0';
        (void) snprintf(json, sizeof(json), "{\"fqdn\": \"%s.example.com\"}", label);

        assert_true(run(state, json) < 0);

        assert_absent(state, "/etc/hostname");
}

static void hostname_label_of_63_accepted(void **state) {
        char json[256], label[64], expected[80];

        memset(label, 'a', 63);
        label[63] = '\0';
        (void) snprintf(json, sizeof(json), "{\"hostname\": \"%s\"}", label);
        (void) snprintf(expected, sizeof(expected), "%s\n", label);

        assert_int_equal(run(state, json), 1);

        assert_file(state, "/etc/hostname", expected);
}

static void hostname_selected_over_64_error(void **state) {
        /* 32 + 1 + 32 = 65 characters, set as a whole because the fqdn is preferred. */
        assert_true(run(state, "{\"fqdn\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\", "
                               "\"prefer_fqdn_over_hostname\": true}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "at most 64 characters"));
}

static void hostname_fqdn_over_253_error(void **state) {
        char name[300] = "", json[400];

        for (unsigned i = 0; i < 4; i++)
                strcat(name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
        strcat(name, "com");
        (void) snprintf(json, sizeof(json), "{\"fqdn\": \"%s\"}", name);

        assert_true(run(state, json) < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "at most 253 characters"));
}

static void hostname_long_metadata_fqdn_short_name(void **state) {
        /* A 100-character name, as clouds with long internal domains give: only its first label is
         * set, which is within the kernel's 64 characters. */
        set_local_hostname(state, "vm-1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                                  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.internal");

        assert_int_equal(run(state, "{}"), 1);

        assert_file(state, "/etc/hostname", "vm-1\n");
}

static void hostname_invalid_metadata_error(void **state) {
        set_local_hostname(state, "bad_name.internal");

        assert_true(run(state, "{}") < 0);

        assert_absent(state, "/etc/hostname");
        assert_true(has_message(ctx_of(state)->errors, "metadata local_hostname: invalid hostname 'bad_name.internal'"));
}

static void hostname_administrator_rename_kept(void **state) {
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, "/etc/hostname", "custom\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-2\"}"), 0);

        assert_file(state, "/etc/hostname", "custom\n");
        assert_file(state, PREVIOUS, "web-1\n");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

/* Give the context an instance with this id and no metadata. */
static void set_instance_id(void **state, const char *id) {
        HostnameTest *t = *state;

        t->instance.instance_id = (char *) id;
        t->root->ctx.instance = &t->instance;
}

static void hostname_rename_kept_on_same_instance(void **state) {
        set_instance_id(state, "i-1");
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, PREVIOUS_INSTANCE, "i-1\n");
        put_file(state, "/etc/hostname", "custom\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-2\"}"), 0);

        assert_file(state, "/etc/hostname", "custom\n");
        assert_file(state, PREVIOUS, "web-1\n");
}

static void hostname_new_instance_applies_name(void **state) {
        set_instance_id(state, "i-2");
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, PREVIOUS_INSTANCE, "i-1\n");
        put_file(state, "/etc/hostname", "custom\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-2\"}"), 1);

        assert_file(state, "/etc/hostname", "web-2\n");
        assert_file(state, PREVIOUS, "web-2\n");
        assert_file(state, PREVIOUS_INSTANCE, "i-2\n");
}

static void hostname_kept_by_administrator_names(void **state) {
        _cleanup_free_ char *current = NULL, *previous = NULL;

        set_instance_id(state, "i-1");
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, PREVIOUS_INSTANCE, "i-1\n");
        put_file(state, "/etc/hostname", "custom\n");

        assert_int_equal(hostname_kept_by_administrator(ctx_of(state), &current, &previous), 1);
        assert_string_equal(current, "custom");
        assert_string_equal(previous, "web-1");
}

static void hostname_kept_by_administrator_kiln_name(void **state) {
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, "/etc/hostname", "web-1\n");

        assert_int_equal(hostname_kept_by_administrator(ctx_of(state), NULL, NULL), 0);
}

static void hostname_kiln_name_updated(void **state) {
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, "/etc/hostname", "web-1\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-2\"}"), 1);

        assert_file(state, "/etc/hostname", "web-2\n");
        assert_file(state, PREVIOUS, "web-2\n");
}

static void hostname_first_run_replaces_image_name(void **state) {
        put_file(state, "/etc/hostname", "debian\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_comments_ignored(void **state) {
        put_file(state, PREVIOUS, "web-1\n");
        put_file(state, "/etc/hostname", "# set by the image\n\n  web-1  # main name\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 0);

        assert_file(state, "/etc/hostname", "# set by the image\n\n  web-1  # main name\n");
}

static void hostname_missing_file_recreated(void **state) {
        put_file(state, PREVIOUS, "web-1\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-1\"}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_create_file_false_not_created(void **state) {
        assert_int_equal(run(state, "{\"hostname\": \"web-1\", \"create_hostname_file\": false}"), 0);

        assert_absent(state, "/etc/hostname");
}

static void hostname_create_file_false_existing_updated(void **state) {
        put_file(state, "/etc/hostname", "debian\n");

        assert_int_equal(run(state, "{\"hostname\": \"web-1\", \"create_hostname_file\": false}"), 1);

        assert_file(state, "/etc/hostname", "web-1\n");
}

static void hostname_scratch_root_kernel_untouched(void **state) {
        char before[HOST_NAME_MAX + 1] = {}, after[HOST_NAME_MAX + 1] = {};

        assert_int_equal(gethostname(before, sizeof(before) - 1), 0);

        assert_int_equal(run(state, "{\"hostname\": \"kiln-unit-should-not-appear\"}"), 1);

        assert_int_equal(gethostname(after, sizeof(after) - 1), 0);
        assert_string_equal(before, after);
}

/* With root_is_host the kernel's name is set too. A child process in its own UTS namespace does
 * it, so the machine's hostname never changes. */
static void hostname_host_root_sets_kernel_name(void **state) {
        int status = 0;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char name[HOST_NAME_MAX + 1] = {};
                Context *ctx = ctx_of(state);

                if (unshare(CLONE_NEWUTS) < 0)
                        _exit(77);
                ctx->root_is_host = true;
                if (run(state, "{\"hostname\": \"kiln-unit-uts\"}") != 1)
                        _exit(1);
                if (gethostname(name, sizeof(name) - 1) < 0 || !streq(name, "kiln-unit-uts"))
                        _exit(2);
                if (run(state, "{\"hostname\": \"kiln-unit-uts\"}") != 0)
                        _exit(3);
                _exit(0);
        }

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(hostname_config_written),
                T(hostname_second_run_unchanged),
                T(hostname_fqdn_short_by_default),
                T(hostname_fqdn_preferred),
                T(hostname_dotted_hostname_short),
                T(hostname_dotted_hostname_preferred),
                T(hostname_hostname_and_fqdn),
                T(hostname_metadata_local_hostname),
                T(hostname_metadata_fqdn_preferred),
                T(hostname_metadata_ipv4_address),
                T(hostname_config_overrides_metadata),
                T(hostname_domains_primary_fallback),
                T(hostname_domains_short_name),
                T(hostname_domains_over_metadata),
                T(hostname_fqdn_over_domains),
                T(hostname_hostname_over_domains),
                T(hostname_no_name_nothing_done),
                T(hostname_preserve_nothing_done),
                T(hostname_preserve_string_warns),
                T(hostname_preserve_invalid_error),
                T(hostname_boolean_value_error),
                T(hostname_number_value_error),
                T(hostname_invalid_characters_error),
                T(hostname_empty_labels_error),
                T(hostname_label_hyphen_at_edge_error),
                T(hostname_inner_hyphens_accepted),
                T(hostname_control_characters_escaped),
                T(hostname_label_over_63_error),
                T(hostname_label_of_63_accepted),
                T(hostname_selected_over_64_error),
                T(hostname_fqdn_over_253_error),
                T(hostname_long_metadata_fqdn_short_name),
                T(hostname_invalid_metadata_error),
                T(hostname_administrator_rename_kept),
                T(hostname_rename_kept_on_same_instance),
                T(hostname_new_instance_applies_name),
                T(hostname_kept_by_administrator_names),
                T(hostname_kept_by_administrator_kiln_name),
                T(hostname_kiln_name_updated),
                T(hostname_first_run_replaces_image_name),
                T(hostname_comments_ignored),
                T(hostname_missing_file_recreated),
                T(hostname_create_file_false_not_created),
                T(hostname_create_file_false_existing_updated),
                T(hostname_scratch_root_kernel_untouched),
                T(hostname_host_root_sets_kernel_name),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
