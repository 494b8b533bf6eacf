/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/state.c: instance identity, the instance cache and module semaphores. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "state.h"
#include "test-helpers.h"

#define READ_MAX (1024U * 1024U)

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        t->ctx.instance = instance_free(t->ctx.instance);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

/* Make id the instance of the Context, replacing any earlier one. */
static void use_instance(void **state, const char *id) {
        Context *ctx = ctx_of(state);
        Instance *i = instance_new();

        assert_non_null(i);
        i->datasource = strdup("nocloud");
        i->instance_id = strdup(id);
        assert_non_null(i->datasource);
        assert_non_null(i->instance_id);
        instance_free(ctx->instance);
        ctx->instance = i;
}

/* The whole content of a file inside the root as a string, or NULL when it is missing. */
static char *root_read(void **state, const char *path) {
        char *data = NULL;
        size_t size;

        if (read_file_at(ctx_of(state)->root_fd, path, READ_MAX, &data, &size) < 0)
                return NULL;
        return data;
}

static mode_t root_mode(void **state, const char *path) {
        char host[PATH_MAX];
        struct stat st;

        snprintf(host, sizeof(host), "%s/%s", ((TestRoot *) *state)->path, path);
        assert_int_equal(lstat(host, &st), 0);
        return st.st_mode & 07777;
}

static char *root_readlink(void **state, const char *path) {
        char host[PATH_MAX], target[PATH_MAX];
        ssize_t n;

        snprintf(host, sizeof(host), "%s/%s", ((TestRoot *) *state)->path, path);
        n = readlink(host, target, sizeof(target) - 1);
        if (n < 0)
                return NULL;
        target[n] = '\0';
        return strdup(target);
}

static void state_read_instance_id_missing_gives_null(void **state) {
        _cleanup_free_ char *id = NULL;

        assert_int_equal(state_read_instance_id(ctx_of(state), &id), 0);
        assert_null(id);
}

static void state_set_instance_first_returns_one(void **state) {
        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
}

static void state_set_instance_first_writes_instance_id(void **state) {
        _cleanup_free_ char *text = NULL;

        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        text = root_read(state, "var/lib/kiln/instance-id");
        assert_non_null(text);
        assert_string_equal(text, "i-0123456789abcdef0\n");
}

static void state_set_instance_first_has_no_previous(void **state) {
        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "var/lib/kiln/previous-instance-id"), 0);
}

static void state_set_instance_first_links_instance_dir(void **state) {
        _cleanup_free_ char *target = NULL;

        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        target = root_readlink(state, "var/lib/kiln/instance");
        assert_non_null(target);
        assert_string_equal(target, "instances/i-0123456789abcdef0");
}

static void state_read_instance_id_after_set(void **state) {
        _cleanup_free_ char *id = NULL;

        use_instance(state, "iid-local01");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_read_instance_id(ctx_of(state), &id), 0);
        assert_non_null(id);
        assert_string_equal(id, "iid-local01");
}

static void state_set_instance_same_id_returns_zero(void **state) {
        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_set_instance(ctx_of(state)), 0);
}

static void state_set_instance_same_id_writes_no_previous(void **state) {
        use_instance(state, "i-0123456789abcdef0");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_set_instance(ctx_of(state)), 0);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "var/lib/kiln/previous-instance-id"), 0);
}

static void state_set_instance_new_id_returns_one(void **state) {
        use_instance(state, "i-aaaaaaaaaaaaaaaaa");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        use_instance(state, "i-bbbbbbbbbbbbbbbbb");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
}

static void state_set_instance_new_id_moves_old_to_previous(void **state) {
        _cleanup_free_ char *previous = NULL;

        use_instance(state, "i-aaaaaaaaaaaaaaaaa");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        use_instance(state, "i-bbbbbbbbbbbbbbbbb");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        previous = root_read(state, "var/lib/kiln/previous-instance-id");
        assert_non_null(previous);
        assert_string_equal(previous, "i-aaaaaaaaaaaaaaaaa\n");
}

static void state_set_instance_new_id_writes_instance_id(void **state) {
        _cleanup_free_ char *current = NULL;

        use_instance(state, "i-aaaaaaaaaaaaaaaaa");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        use_instance(state, "i-bbbbbbbbbbbbbbbbb");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        current = root_read(state, "var/lib/kiln/instance-id");
        assert_non_null(current);
        assert_string_equal(current, "i-bbbbbbbbbbbbbbbbb\n");
}

static void state_set_instance_new_id_relinks_instance_dir(void **state) {
        _cleanup_free_ char *target = NULL;

        use_instance(state, "i-aaaaaaaaaaaaaaaaa");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        use_instance(state, "i-bbbbbbbbbbbbbbbbb");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        target = root_readlink(state, "var/lib/kiln/instance");
        assert_non_null(target);
        assert_string_equal(target, "instances/i-bbbbbbbbbbbbbbbbb");
}

static void state_set_instance_slash_rejected(void **state) {
        use_instance(state, "../../etc");
        assert_int_equal(state_set_instance(ctx_of(state)), -EINVAL);
}

static void state_set_instance_slash_writes_nothing(void **state) {
        use_instance(state, "i-1/../../x");
        assert_int_equal(state_set_instance(ctx_of(state)), -EINVAL);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "var/lib/kiln/instance-id"), 0);
}

static void state_set_instance_dot_dot_rejected(void **state) {
        use_instance(state, "..");
        assert_int_equal(state_set_instance(ctx_of(state)), -EINVAL);
}

static void state_set_instance_empty_rejected(void **state) {
        use_instance(state, "");
        assert_int_equal(state_set_instance(ctx_of(state)), -EINVAL);
}

static void state_set_instance_newline_rejected(void **state) {
        use_instance(state, "i-1\ni-2");
        assert_int_equal(state_set_instance(ctx_of(state)), -EINVAL);
}

static void state_cache_save_slash_rejected(void **state) {
        use_instance(state, "a/b");
        assert_int_equal(state_cache_save(ctx_of(state)), -EINVAL);
}

static const char user_data_with_nul[] = "#!/bin/sh\n\0echo \0x\n";
static const char vendor_data[] = "#cloud-config\nruncmd: [vendor]\n";

/* Fill the current instance with metadata, user data containing NUL bytes and vendor data. */
static void fill_instance(void **state) {
        Instance *i = ctx_of(state)->instance;

        assert_int_equal(json_object_set_new(i->metadata, "instance_id", json_string(i->instance_id)), 0);
        assert_int_equal(json_object_set_new(i->metadata, "local_hostname", json_string("host-1")), 0);
        assert_int_equal(json_object_set_new(i->raw, "meta-data",
                                             json_pack("{s:s}", "instance-id", "iid-1")), 0);
        i->user_data = malloc(sizeof(user_data_with_nul));
        assert_non_null(i->user_data);
        memcpy(i->user_data, user_data_with_nul, sizeof(user_data_with_nul));
        i->user_data_size = sizeof(user_data_with_nul) - 1;
        i->has_user_data = true;
        i->vendor_data = strdup(vendor_data);
        assert_non_null(i->vendor_data);
        i->vendor_data_size = strlen(vendor_data);
        i->has_vendor_data = true;
}

/* Save the filled instance under iid-1 and load it back. Caller owns *ret. */
static void save_and_load(void **state, Instance **ret) {
        use_instance(state, "iid-1");
        fill_instance(state);
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_cache_save(ctx_of(state)), 0);
        assert_int_equal(state_cache_load(ctx_of(state), ret), 0);
        assert_non_null(*ret);
}

static void state_cache_load_round_trips_instance_id(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_string_equal(loaded->instance_id, "iid-1");
}

static void state_cache_load_round_trips_datasource(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_string_equal(loaded->datasource, "nocloud");
}

static void state_cache_load_round_trips_metadata(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_true(json_equal(loaded->metadata, ctx_of(state)->instance->metadata));
}

static void state_cache_load_round_trips_raw(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_true(json_equal(loaded->raw, ctx_of(state)->instance->raw));
}

static void state_cache_load_round_trips_user_data_size(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_true(loaded->has_user_data);
        assert_int_equal(loaded->user_data_size, sizeof(user_data_with_nul) - 1);
}

static void state_cache_load_round_trips_user_data_bytes(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_non_null(loaded->user_data);
        assert_memory_equal(loaded->user_data, user_data_with_nul, sizeof(user_data_with_nul) - 1);
}

static void state_cache_load_round_trips_vendor_data(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_true(loaded->has_vendor_data);
        assert_int_equal(loaded->vendor_data_size, strlen(vendor_data));
        assert_memory_equal(loaded->vendor_data, vendor_data, strlen(vendor_data));
}

static void state_cache_load_marks_from_cache(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        save_and_load(state, &loaded);
        assert_true(loaded->from_cache);
}

static void state_cache_load_without_user_data(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        use_instance(state, "iid-1");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_cache_save(ctx_of(state)), 0);
        assert_int_equal(state_cache_load(ctx_of(state), &loaded), 0);
        assert_false(loaded->has_user_data);
        assert_null(loaded->user_data);
}

static void state_cache_load_nothing_recorded_enoent(void **state) {
        _cleanup_instance_free_ Instance *loaded = NULL;

        assert_int_equal(state_cache_load(ctx_of(state), &loaded), -ENOENT);
        assert_null(loaded);
}

static void state_cache_save_metadata_mode_0600(void **state) {
        use_instance(state, "iid-1");
        fill_instance(state);
        assert_int_equal(state_cache_save(ctx_of(state)), 0);
        assert_int_equal(root_mode(state, "var/lib/kiln/instances/iid-1/metadata.json"), 0600);
}

static void state_cache_save_user_data_mode_0600(void **state) {
        use_instance(state, "iid-1");
        fill_instance(state);
        assert_int_equal(state_cache_save(ctx_of(state)), 0);
        assert_int_equal(root_mode(state, "var/lib/kiln/instances/iid-1/user-data"), 0600);
}

static void state_cache_save_vendor_data_mode_0600(void **state) {
        use_instance(state, "iid-1");
        fill_instance(state);
        assert_int_equal(state_cache_save(ctx_of(state)), 0);
        assert_int_equal(root_mode(state, "var/lib/kiln/instances/iid-1/vendor-data"), 0600);
}

static void state_sem_check_unset_returns_zero(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_check(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
}

static void state_sem_set_per_instance_then_check_returns_one(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
        assert_int_equal(state_sem_check(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 1);
}

static void state_sem_set_per_instance_other_module_unset(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
        assert_int_equal(state_sem_check(ctx_of(state), "write_files", FREQUENCY_PER_INSTANCE), 0);
}

static void state_sem_per_instance_separate_per_instance_id(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
        use_instance(state, "iid-2");
        assert_int_equal(state_sem_check(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
}

static void state_sem_per_instance_kept_for_old_instance(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
        use_instance(state, "iid-2");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_check(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 1);
}

static void state_sem_once_survives_instance_change(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_sem_set(ctx_of(state), "keys_to_console", FREQUENCY_ONCE), 0);
        use_instance(state, "iid-2");
        assert_int_equal(state_set_instance(ctx_of(state)), 1);
        assert_int_equal(state_sem_check(ctx_of(state), "keys_to_console", FREQUENCY_ONCE), 1);
}

static void state_sem_once_separate_from_per_instance(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "runcmd", FREQUENCY_ONCE), 0);
        assert_int_equal(state_sem_check(ctx_of(state), "runcmd", FREQUENCY_PER_INSTANCE), 0);
}

static void state_sem_per_boot_never_recorded(void **state) {
        use_instance(state, "iid-1");
        assert_int_equal(state_sem_set(ctx_of(state), "bootcmd", FREQUENCY_PER_BOOT), 0);
        assert_int_equal(state_sem_check(ctx_of(state), "bootcmd", FREQUENCY_PER_BOOT), 0);
}

/* Write ROOT/proc/sys/kernel/random/boot_id as the kernel shows it. */
static void write_boot_id(void **state, const char *text) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "proc/sys/kernel/random/boot_id", text,
                                           strlen(text), 0444, (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static void state_read_boot_id_missing_gives_null(void **state) {
        _cleanup_free_ char *id = NULL;

        assert_int_equal(state_read_boot_id(ctx_of(state), &id), 0);
        assert_null(id);
}

static void state_read_boot_id_strips_newline(void **state) {
        _cleanup_free_ char *id = NULL;

        write_boot_id(state, "0c3f9a52-7d1e-4b8a-9f60-2e5d4c3b2a19\n");
        assert_int_equal(state_read_boot_id(ctx_of(state), &id), 0);
        assert_string_equal(id, "0c3f9a52-7d1e-4b8a-9f60-2e5d4c3b2a19");
}

static void state_read_boot_id_wrong_length_rejected(void **state) {
        _cleanup_free_ char *id = NULL;

        write_boot_id(state, "0c3f9a52\n");
        assert_int_equal(state_read_boot_id(ctx_of(state), &id), -EBADMSG);
        assert_null(id);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(state_read_instance_id_missing_gives_null),
                T(state_set_instance_first_returns_one),
                T(state_set_instance_first_writes_instance_id),
                T(state_set_instance_first_has_no_previous),
                T(state_set_instance_first_links_instance_dir),
                T(state_read_instance_id_after_set),
                T(state_set_instance_same_id_returns_zero),
                T(state_set_instance_same_id_writes_no_previous),
                T(state_set_instance_new_id_returns_one),
                T(state_set_instance_new_id_moves_old_to_previous),
                T(state_set_instance_new_id_writes_instance_id),
                T(state_set_instance_new_id_relinks_instance_dir),
                T(state_set_instance_slash_rejected),
                T(state_set_instance_slash_writes_nothing),
                T(state_set_instance_dot_dot_rejected),
                T(state_set_instance_empty_rejected),
                T(state_set_instance_newline_rejected),
                T(state_cache_save_slash_rejected),
                T(state_cache_load_round_trips_instance_id),
                T(state_cache_load_round_trips_datasource),
                T(state_cache_load_round_trips_metadata),
                T(state_cache_load_round_trips_raw),
                T(state_cache_load_round_trips_user_data_size),
                T(state_cache_load_round_trips_user_data_bytes),
                T(state_cache_load_round_trips_vendor_data),
                T(state_cache_load_marks_from_cache),
                T(state_cache_load_without_user_data),
                T(state_cache_load_nothing_recorded_enoent),
                T(state_cache_save_metadata_mode_0600),
                T(state_cache_save_user_data_mode_0600),
                T(state_cache_save_vendor_data_mode_0600),
                T(state_sem_check_unset_returns_zero),
                T(state_sem_set_per_instance_then_check_returns_one),
                T(state_sem_set_per_instance_other_module_unset),
                T(state_sem_per_instance_separate_per_instance_id),
                T(state_sem_per_instance_kept_for_old_instance),
                T(state_sem_once_survives_instance_change),
                T(state_sem_once_separate_from_per_instance),
                T(state_sem_per_boot_never_recorded),
                T(state_read_boot_id_missing_gives_null),
                T(state_read_boot_id_strips_newline),
                T(state_read_boot_id_wrong_length_rejected),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
