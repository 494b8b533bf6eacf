/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the users_groups module (modules/users*.c) and agent/authorized-keys.c: group and
 * user lists in cloud-init's shapes, the image's default user, useradd options, sudo rule text,
 * and adding keys to authorized_keys. The end-to-end tests with the real useradd are in
 * tests/integration/test-users.sh. */

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

#include "authorized-keys.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "schema.h"
#include "test-helpers.h"
#include "users.h"

#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@example.com"
#define KEY_B "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB bob@example.com"

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static json_t *json_of(const char *text) {
        json_error_t error;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &error);

        if (!v)
                fail_msg("bad test JSON at %d: %s", error.line, error.text);
        return v;
}

/* Replace the effective config with the JSON text. */
static const json_t *set_config(void **state, const char *text) {
        Context *ctx = ctx_of(state);

        json_decref(ctx->config);
        ctx->config = json_of(text);
        return ctx->config;
}

/* Set the image configuration (kiln.yaml) to the JSON text. */
static void set_image_config(void **state, const char *text) {
        Context *ctx = ctx_of(state);

        json_decref(ctx->system_config);
        ctx->system_config = json_of(text);
}

static size_t n_errors(void **state) {
        return json_array_size(ctx_of(state)->errors);
}

static size_t n_warnings(void **state) {
        return json_array_size(ctx_of(state)->warnings);
}

static const char *warning_text(void **state, size_t i) {
        return json_string_value(json_object_get(json_array_get(ctx_of(state)->warnings, i), "message"));
}

static const char *error_text(void **state, size_t i) {
        return json_string_value(json_object_get(json_array_get(ctx_of(state)->errors, i), "message"));
}

/* Parse the users of a config given as JSON text. */
static int parse_users(void **state, const char *config, UserList *ret) {
        return users_parse(ctx_of(state), set_config(state, config), ret);
}

static int parse_groups(void **state, const char *value, GroupList *ret) {
        json_auto_t *v = json_of(value);

        return groups_parse(ctx_of(state), v, ret);
}

/* ---- groups: ---- */

static void groups_parse_comma_string_trimmed(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "\"sudo, adm ,devs\"", &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.groups[0].name, "sudo");
        assert_string_equal(l.groups[1].name, "adm");
        assert_string_equal(l.groups[2].name, "devs");
        assert_int_equal(n_errors(state), 0);
}

static void groups_parse_list_of_names(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "[\"devs\", \" ops \"]", &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.groups[0].name, "devs");
        assert_int_equal(l.groups[0].index, 0);
        assert_string_equal(l.groups[1].name, "ops");
        assert_int_equal(l.groups[1].index, 1);
        assert_null(l.groups[0].members[0]);
}

static void groups_parse_members_of_mappings(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "[{\"admins\": [\"alice\", \"bob\"]}, {\"devs\": \"carol\"}]", &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.groups[0].name, "admins");
        assert_int_equal(strv_length(l.groups[0].members), 2);
        assert_string_equal(l.groups[0].members[0], "alice");
        assert_string_equal(l.groups[0].members[1], "bob");
        assert_string_equal(l.groups[1].name, "devs");
        assert_int_equal(strv_length(l.groups[1].members), 1);
        assert_string_equal(l.groups[1].members[0], "carol");
}

static void groups_parse_mapping_value(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "{\"admins\": [\"alice\"], \"empty\": null}", &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.groups[0].members[0], "alice");
        assert_null(l.groups[1].members[0]);
}

static void groups_parse_twice_named_joins_members(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "[{\"devs\": [\"alice\"]}, \"devs\", {\"devs\": [\"bob\", \"alice\"]}]", &l),
                         0);
        assert_int_equal(l.n, 1);
        assert_int_equal(strv_length(l.groups[0].members), 2);
        assert_string_equal(l.groups[0].members[0], "alice");
        assert_string_equal(l.groups[0].members[1], "bob");
}

static void groups_parse_null_is_empty(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "null", &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 0);
}

static void groups_parse_invalid_item_reported(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "[\"devs\", 7, \"ops\"]", &l), -EINVAL);
        assert_int_equal(l.n, 2);
        assert_int_equal(n_errors(state), 1);
        assert_non_null(strstr(error_text(state, 0), "groups[1]"));
}

static void groups_parse_invalid_name_rejected(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "[\"-o\", \"a:b\"]", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 2);
}

static void groups_parse_not_a_list_rejected(void **state) {
        _cleanup_(group_list_done) GroupList l = {};

        assert_int_equal(parse_groups(state, "true", &l), -EINVAL);
        assert_int_equal(n_errors(state), 1);
}

/* ---- users: shapes of the list ---- */

static void users_parse_groups_comma_string_trimmed(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"alice\", \"groups\": \"sudo, adm ,devs\"}]}", &l),
                         0);
        assert_int_equal(l.n, 1);
        assert_int_equal(strv_length(l.users[0].groups), 3);
        assert_string_equal(l.users[0].groups[0], "sudo");
        assert_string_equal(l.users[0].groups[1], "adm");
        assert_string_equal(l.users[0].groups[2], "devs");
}

static void users_parse_groups_single_name(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"carol\", \"groups\": \"devs\"}]}", &l), 0);
        assert_int_equal(strv_length(l.users[0].groups), 1);
        assert_string_equal(l.users[0].groups[0], "devs");
}

static void users_parse_groups_list(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"bob\", \"groups\": [\"adm\", \" devs\"]}]}", &l), 0);
        assert_int_equal(strv_length(l.users[0].groups), 2);
        assert_string_equal(l.users[0].groups[0], "adm");
        assert_string_equal(l.users[0].groups[1], "devs");
}

static void users_parse_groups_mapping_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"bob\", \"groups\": {\"adm\": null}}]}", &l), 0);
        assert_string_equal(l.users[0].groups[0], "adm");
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_groups_number_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"bob\", \"groups\": 4}]}", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 1);
}

static void users_parse_defaults(void **state) {
        _cleanup_(user_list_done) UserList l = {};
        const UserSpec *u;

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"alice\"}]}", &l), 0);
        u = &l.users[0];
        assert_string_equal(u->name, "alice");
        assert_int_equal(u->index, 0);
        assert_false(u->is_default);
        assert_true(u->lock_passwd);
        assert_true(u->create_groups);
        assert_false(u->system);
        assert_false(u->no_create_home);
        assert_null(u->sudo);
        assert_null(u->passwd);
        assert_null(u->hashed_passwd);
        assert_null(u->plain_text_passwd);
        assert_null(u->groups[0]);
        assert_null(u->ssh_authorized_keys[0]);
        assert_int_equal(n_warnings(state), 0);
}

static void users_parse_string_items_split_at_commas(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [\"alice, bob\", [\"carol\"]]}", &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.users[0].name, "alice");
        assert_string_equal(l.users[1].name, "bob");
        assert_string_equal(l.users[2].name, "carol");
        assert_int_equal(l.users[2].index, 1);
}

static void users_parse_string_value_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": \"alice,bob\"}", &l), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_mapping_value_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": {\"alice\": {\"shell\": \"/bin/sh\"}, \"bob\": true, "
                                            "\"carol\": false, \"dave\": \"yes\"}}", &l), 0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.users[0].name, "alice");
        assert_string_equal(l.users[0].shell, "/bin/sh");
        assert_string_equal(l.users[1].name, "bob");
        assert_string_equal(l.users[2].name, "dave");
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_null_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, "{\"system_info\": {\"default_user\": {\"name\": \"debian\"}}}");
        assert_int_equal(parse_users(state, "{\"users\": null}", &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_listed_twice_merged(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"alice\", \"shell\": \"/bin/sh\"}, "
                                            "{\"name\": \"alice\", \"shell\": \"/bin/bash\", \"gecos\": \"A\"}]}", &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].shell, "/bin/sh");
        assert_string_equal(l.users[0].gecos, "A");
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_invalid_name_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"-o\"}, {\"name\": \"a b\"}, {\"name\": \"ok\"}]}", &l),
                         -EINVAL);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "ok");
        assert_int_equal(n_errors(state), 2);
}

static void users_parse_item_of_wrong_type_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [3, {\"name\": \"ok\"}]}", &l), -EINVAL);
        assert_int_equal(l.n, 1);
        assert_non_null(strstr(error_text(state, 0), "users[0]"));
}

/* ---- users: keys of one user ---- */

static void users_parse_sudo_string(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"sudo\": \"ALL=(ALL) NOPASSWD:ALL\"}]}", &l), 0);
        assert_int_equal(strv_length(l.users[0].sudo), 1);
        assert_string_equal(l.users[0].sudo[0], "ALL=(ALL) NOPASSWD:ALL");
}

static void users_parse_sudo_list_skips_null(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"sudo\": [\"ALL=(ALL) ALL\", null, "
                                            "\"ALL=(root) /bin/true\"]}]}", &l), 0);
        assert_int_equal(strv_length(l.users[0].sudo), 2);
        assert_string_equal(l.users[0].sudo[1], "ALL=(root) /bin/true");
}

static void users_parse_sudo_null_and_false_add_no_rule(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"sudo\": null}, "
                                            "{\"name\": \"b\", \"sudo\": false}, {\"name\": \"c\", \"sudo\": [null]}]}", &l), 0);
        assert_int_equal(l.n, 3);
        assert_null(l.users[0].sudo);
        assert_null(l.users[1].sudo);
        assert_null(l.users[2].sudo);
        assert_int_equal(n_errors(state), 0);
}

static void users_parse_sudo_true_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"sudo\": true}]}", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 1);
}

static void users_parse_sudo_line_break_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"sudo\": \"ALL=(ALL) ALL\\nmallory ALL=(ALL) "
                                            "ALL\"}]}", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 1);
}

static void users_parse_keys_string_list_and_mapping(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"ssh_authorized_keys\": \"" KEY_A "\"}, "
                                            "{\"name\": \"b\", \"ssh_authorized_keys\": [\"" KEY_A "\", \"" KEY_B "\", \"" KEY_A "\"]}, "
                                            "{\"name\": \"c\", \"ssh_authorized_keys\": {\"k\": \"" KEY_B "\"}}]}", &l), 0);
        assert_int_equal(l.n, 3);
        assert_int_equal(strv_length(l.users[0].ssh_authorized_keys), 1);
        assert_int_equal(strv_length(l.users[1].ssh_authorized_keys), 2);
        assert_string_equal(l.users[1].ssh_authorized_keys[1], KEY_B);
        assert_string_equal(l.users[2].ssh_authorized_keys[0], KEY_B);
}

static void users_parse_invalid_key_skipped(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"ssh_authorized_keys\": [\"not a key\", \""
                                            KEY_A "\"]}]}", &l), 0);
        assert_int_equal(strv_length(l.users[0].ssh_authorized_keys), 1);
        assert_int_equal(n_warnings(state), 1);
        assert_non_null(strstr(warning_text(state, 0), "ssh_authorized_keys[0]"));
}

static void users_parse_system_with_keys_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"system\": true, "
                                            "\"ssh_authorized_keys\": [\"" KEY_A "\"]}]}", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_errors(state), 1);
}

static void users_parse_uid_forms(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"uid\": 1500}, {\"name\": \"b\", \"uid\": \"1501\"}, "
                                            "{\"name\": \"c\", \"uid\": -1}, {\"name\": \"d\", \"uid\": \"15x\"}]}", &l), -EINVAL);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.users[0].uid, "1500");
        assert_string_equal(l.users[1].uid, "1501");
        assert_int_equal(n_warnings(state), 1);
        assert_int_equal(n_errors(state), 2);
}

static void users_parse_inactive_integer(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"inactive\": 5, \"expiredate\": \"2030-01-01\"}]}",
                                     &l), 0);
        assert_string_equal(l.users[0].inactive, "5");
        assert_string_equal(l.users[0].expiredate, "2030-01-01");
}

static void users_parse_bool_string_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"lock_passwd\": \"no\"}]}", &l), 0);
        assert_false(l.users[0].lock_passwd);
        assert_int_equal(n_warnings(state), 1);
}

static void users_parse_bool_word_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"system\": \"maybe\"}]}", &l), -EINVAL);
        assert_int_equal(l.n, 0);
        assert_non_null(strstr(error_text(state, 0), "'maybe'"));
}

static void users_parse_old_spelling_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"lock-passwd\": false, "
                                            "\"no-create-home\": true}]}", &l), 0);
        assert_false(l.users[0].lock_passwd);
        assert_true(l.users[0].no_create_home);
        assert_int_equal(n_warnings(state), 2);
}

static void users_parse_unknown_key_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"shel\": \"/bin/sh\", \"doas\": [\"permit a\"], "
                                            "\"ssh_redirect_user\": false}]}", &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(n_warnings(state), 2);
}

static void users_parse_passwords(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"passwd\": \"$6$x$y\", \"hashed_passwd\": null, "
                                            "\"plain_text_passwd\": \"secret\"}]}", &l), 0);
        assert_string_equal(l.users[0].passwd, "$6$x$y");
        assert_string_equal(l.users[0].hashed_passwd, "");
        assert_string_equal(l.users[0].plain_text_passwd, "secret");
}

static void users_parse_password_line_break_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"a\", \"plain_text_passwd\": \"x\\nroot:y\"}]}", &l),
                         -EINVAL);
        assert_int_equal(l.n, 0);
        assert_null(strstr(error_text(state, 0), "root:y"));
}

/* ---- The image's default user ---- */

#define IMAGE_DEFAULT_USER                                                                           \
        "{\"system_info\": {\"default_user\": {\"name\": \"debian\", \"gecos\": \"Debian\", \"groups\": "  \
        "\"adm, audio\", \"sudo\": [\"ALL=(ALL) NOPASSWD:ALL\"], \"shell\": \"/bin/bash\", "           \
        "\"lock_passwd\": true}}}"

static void users_parse_default_from_image(void **state) {
        _cleanup_(user_list_done) UserList l = {};
        const UserSpec *u;

        set_image_config(state, IMAGE_DEFAULT_USER);
        assert_int_equal(parse_users(state, "{\"users\": [\"default\"]}", &l), 0);
        assert_int_equal(l.n, 1);
        u = &l.users[0];
        assert_string_equal(u->name, "debian");
        assert_true(u->is_default);
        assert_int_equal(u->index, 0);
        assert_string_equal(u->gecos, "Debian");
        assert_string_equal(u->shell, "/bin/bash");
        assert_int_equal(strv_length(u->groups), 2);
        assert_string_equal(u->groups[0], "adm");
        assert_string_equal(u->groups[1], "audio");
        assert_string_equal(u->sudo[0], "ALL=(ALL) NOPASSWD:ALL");
        assert_true(u->lock_passwd);
}

static void users_parse_default_in_effective_config(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                            "\"users\": [\"default\"]}", &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "admin");
}

static void users_parse_default_entry_overrides_image(void **state) {
        _cleanup_(user_list_done) UserList l = {};
        const UserSpec *u;

        set_image_config(state, IMAGE_DEFAULT_USER);
        assert_int_equal(parse_users(state, "{\"users\": [{\"shell\": \"/bin/zsh\", \"groups\": [\"docker\"]}]}", &l), 0);
        assert_int_equal(l.n, 1);
        u = &l.users[0];
        assert_string_equal(u->name, "debian");
        assert_string_equal(u->shell, "/bin/zsh");
        assert_string_equal(u->gecos, "Debian");
        assert_int_equal(strv_length(u->groups), 3);
        assert_true(strv_has(u->groups, "docker"));
        assert_true(strv_has(u->groups, "adm"));
}

static void users_parse_named_default_user_merged(void **state) {
        _cleanup_(user_list_done) UserList l = {};
        const UserSpec *u;

        set_image_config(state, IMAGE_DEFAULT_USER);
        assert_int_equal(parse_users(state, "{\"users\": [\"alice\", \"default\", {\"name\": \"debian\", \"shell\": "
                                            "\"/bin/sh\", \"groups\": \"wheel\", \"sudo\": null}]}", &l), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.users[0].name, "alice");
        u = &l.users[1];
        assert_string_equal(u->name, "debian");
        assert_true(u->is_default);
        assert_int_equal(u->index, 1);
        assert_string_equal(u->shell, "/bin/sh");
        assert_null(u->sudo);
        assert_true(strv_has(u->groups, "wheel"));
        assert_true(strv_has(u->groups, "audio"));
}

static void users_parse_default_without_image_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"users\": [\"default\", \"alice\"]}", &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "alice");
        assert_false(l.users[0].is_default);
        assert_int_equal(n_warnings(state), 1);
        assert_non_null(strstr(warning_text(state, 0), "default_user"));
}

static void users_parse_absent_users_means_default(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, IMAGE_DEFAULT_USER);
        assert_int_equal(parse_users(state, "{\"groups\": [\"devs\"]}", &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "debian");
        assert_true(l.users[0].is_default);
        assert_int_equal(l.users[0].index, -1);
}

static void users_parse_absent_users_without_image(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{}", &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_warnings(state), 0);
}

static void users_parse_empty_list_has_no_default(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, IMAGE_DEFAULT_USER);
        assert_int_equal(parse_users(state, "{\"users\": []}", &l), 0);
        assert_int_equal(l.n, 0);
}

static void users_parse_bad_image_default_user_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, "{\"system_info\": {\"default_user\": {\"gecos\": \"no name\"}}}");
        assert_int_equal(parse_users(state, "{\"users\": [\"default\"]}", &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(n_warnings(state), 2);
}

/* ---- useradd and sudo ---- */

/* The argv of useradd for the one user of a config, joined with spaces. */
static char *useradd_line(void **state, const char *config) {
        _cleanup_(user_list_done) UserList l = {};
        _cleanup_strv_free_ char **argv = NULL;
        char *line;

        assert_int_equal(parse_users(state, config, &l), 0);
        assert_int_equal(l.n, 1);
        assert_int_equal(useradd_argv(&l.users[0], &argv), 0);
        assert_int_equal(strv_join(argv, " ", &line), 0);
        return line;
}

static void useradd_argv_minimal(void **state) {
        _cleanup_free_ char *line = useradd_line(state, "{\"users\": [{\"name\": \"alice\"}]}");

        assert_string_equal(line, "useradd -m -- alice");
}

static void useradd_argv_every_option(void **state) {
        _cleanup_free_ char *line = useradd_line(state,
                "{\"users\": [{\"name\": \"alice\", \"gecos\": \"Alice A\", \"homedir\": \"/srv/alice\", "
                "\"primary_group\": \"staff\", \"uid\": 1500, \"groups\": \"adm, sudo\", \"shell\": \"/bin/bash\", "
                "\"expiredate\": \"2030-01-01\", \"inactive\": \"5\", \"selinux_user\": \"staff_u\", "
                "\"no_user_group\": true, \"no_log_init\": true}]}");

        assert_string_equal(line, "useradd --comment Alice A --home /srv/alice --gid staff --uid 1500 "
                                  "--groups adm,sudo --shell /bin/bash --expiredate 2030-01-01 --inactive 5 "
                                  "--selinux-user staff_u --no-user-group --no-log-init -m -- alice");
}

static void useradd_argv_system_user_without_home(void **state) {
        _cleanup_free_ char *line = useradd_line(state, "{\"users\": [{\"name\": \"svc\", \"system\": true}]}");

        assert_string_equal(line, "useradd --system -M -- svc");
}

static void useradd_argv_no_create_home(void **state) {
        _cleanup_free_ char *line = useradd_line(state, "{\"users\": [{\"name\": \"a\", \"no_create_home\": true}]}");

        assert_string_equal(line, "useradd -M -- a");
}

static void useradd_argv_empty_values_left_out(void **state) {
        _cleanup_free_ char *line = useradd_line(state, "{\"users\": [{\"name\": \"a\", \"gecos\": \"\", \"shell\": \"\", "
                                                        "\"groups\": []}]}");

        assert_string_equal(line, "useradd -m -- a");
}

static void useradd_argv_password_not_in_argv(void **state) {
        _cleanup_free_ char *line = useradd_line(state, "{\"users\": [{\"name\": \"a\", \"passwd\": \"$6$salt$hash\"}]}");

        assert_null(strstr(line, "hash"));
}

static void sudo_rules_text_one_line_per_rule(void **state) {
        _cleanup_(user_list_done) UserList l = {};
        _cleanup_free_ char *text = NULL;

        assert_int_equal(parse_users(state, "{\"users\": [{\"name\": \"alice\", \"sudo\": [\"ALL=(ALL) NOPASSWD:ALL\", "
                                            "\"ALL=(root) /usr/bin/true\"]}]}", &l), 0);
        assert_int_equal(sudo_rules_text(&l.users[0], &text), 0);
        assert_string_equal(text, "\n# User rules for alice\nalice ALL=(ALL) NOPASSWD:ALL\n"
                                  "alice ALL=(root) /usr/bin/true\n");
}

/* ---- authorized_keys ---- */

static void authorized_key_parse_fields(void **state) {
        AuthorizedKey k;

        assert_int_equal(authorized_key_parse(KEY_A, &k), 0);
        assert_null(k.options);
        assert_int_equal(k.type_len, strlen("ssh-ed25519"));
        assert_memory_equal(k.blob, "AAAAC3NzaC1lZDI1NTE5AAAAIA", k.blob_len);
        assert_memory_equal(k.comment, "alice@example.com", k.comment_len);
}

static void authorized_key_parse_options(void **state) {
        AuthorizedKey k;
        const char *line = "no-pty,command=\"echo 'a b'; exit\" ssh-rsa AAAAB3 c";

        assert_int_equal(authorized_key_parse(line, &k), 0);
        assert_int_equal(k.options_len, strlen("no-pty,command=\"echo 'a b'; exit\""));
        assert_memory_equal(k.type, "ssh-rsa", k.type_len);
        assert_memory_equal(k.blob, "AAAAB3", k.blob_len);
}

static void authorized_key_parse_without_comment(void **state) {
        AuthorizedKey k;

        assert_int_equal(authorized_key_parse("ssh-ed25519 AAAA  \r\n", &k), 0);
        assert_null(k.comment);
        assert_int_equal(k.blob_len, 4);
}

static void authorized_key_parse_rejects_non_keys(void **state) {
        AuthorizedKey k;

        assert_int_equal(authorized_key_parse("# ssh-ed25519 AAAA", &k), -EINVAL);
        assert_int_equal(authorized_key_parse("   ", &k), -EINVAL);
        assert_int_equal(authorized_key_parse("ssh-foo AAAA", &k), -EINVAL);
        assert_int_equal(authorized_key_parse("ssh-ed25519", &k), -EINVAL);
        assert_int_equal(authorized_key_parse("from=\"x\" ssh-ed25519", &k), -EINVAL);
}

/* A root with user alice (the test's own uid and gid, so that chown works without root) whose
 * home exists. */
static void alice_setup(void **state) {
        Context *ctx = ctx_of(state);
        char passwd[128];

        (void) snprintf(passwd, sizeof(passwd), "root:x:0:0::/root:/bin/sh\nalice:x:%u:%u::/home/alice:/bin/sh\n",
                        (unsigned) getuid(), (unsigned) getgid());
        assert_int_equal(write_file_atomic(ctx->root_fd, "/etc/passwd", passwd, strlen(passwd), 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(root_mkdir_p(ctx->root_fd, "/home/alice", 0755, (uid_t) -1, (gid_t) -1), 1);
}

static char *read_keys(void **state) {
        char *data = NULL;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, "/home/alice/.ssh/authorized_keys", 65536, &data, NULL),
                         0);
        return data;
}

static void authorized_keys_add_creates_file(void **state) {
        char *keys[] = { (char *) KEY_A, (char *) KEY_B, NULL };
        _cleanup_free_ char *content = NULL;
        char path[256];
        struct stat st;

        alice_setup(state);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), 1);
        content = read_keys(state);
        assert_string_equal(content, KEY_A "\n" KEY_B "\n");

        (void) snprintf(path, sizeof(path), "%s/home/alice/.ssh", ((TestRoot *) *state)->path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(st.st_uid, getuid());
        (void) snprintf(path, sizeof(path), "%s/home/alice/.ssh/authorized_keys", ((TestRoot *) *state)->path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void authorized_keys_add_each_key_once(void **state) {
        char *keys[] = { (char *) KEY_A, (char *) KEY_A, NULL };
        _cleanup_free_ char *content = NULL;

        alice_setup(state);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), 1);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), 0);
        content = read_keys(state);
        assert_string_equal(content, KEY_A "\n");
}

static void authorized_keys_add_keeps_other_lines(void **state) {
        const char *old = "# my keys\n" KEY_B "\n";
        char *keys[] = { (char *) KEY_A, NULL };
        _cleanup_free_ char *content = NULL;

        alice_setup(state);
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "/home/alice/.ssh/authorized_keys", old, strlen(old),
                                           0600, (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), 1);
        content = read_keys(state);
        assert_string_equal(content, "# my keys\n" KEY_B "\n" KEY_A "\n");
}

static void authorized_keys_add_options_replace_line(void **state) {
        const char *old = KEY_A "\n" KEY_A "\n";
        char *keys[] = { (char *) "from=\"192.0.2.1\" " KEY_A, NULL };
        _cleanup_free_ char *content = NULL;

        alice_setup(state);
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, "/home/alice/.ssh/authorized_keys", old, strlen(old),
                                           0600, (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, "no-pty"), 1);
        content = read_keys(state);
        assert_string_equal(content, "no-pty " KEY_A "\n");
}

static void authorized_keys_add_symlink_rejected(void **state) {
        char *keys[] = { (char *) KEY_A, NULL };
        char path[256];

        alice_setup(state);
        (void) snprintf(path, sizeof(path), "%s/home/alice/.ssh", ((TestRoot *) *state)->path);
        assert_int_equal(symlink("/root", path), 0);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), -ELOOP);
}

static void authorized_keys_add_file_symlink_rejected(void **state) {
        char *keys[] = { (char *) KEY_A, NULL };
        char path[256];

        alice_setup(state);
        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/home/alice/.ssh", 0700, (uid_t) -1, (gid_t) -1), 1);
        (void) snprintf(path, sizeof(path), "%s/home/alice/.ssh/authorized_keys", ((TestRoot *) *state)->path);
        assert_int_equal(symlink("/etc/passwd", path), 0);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), -ELOOP);
}

static void authorized_keys_add_unknown_user(void **state) {
        char *keys[] = { (char *) KEY_A, NULL };

        alice_setup(state);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "bob", keys, NULL), -ESRCH);
}

static void authorized_keys_add_line_break_rejected(void **state) {
        char *keys[] = { (char *) KEY_A "\n" KEY_B, NULL };

        alice_setup(state);
        assert_int_equal(authorized_keys_add(ctx_of(state)->root_fd, "alice", keys, NULL), -EINVAL);
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/home/alice/.ssh"), 0);
}

static void authorized_keys_add_missing_home(void **state) {
        Context *ctx = ctx_of(state);
        const char *passwd = "alice:x:1000:1000::/home/alice:/bin/sh\n";
        char *keys[] = { (char *) KEY_A, NULL };

        assert_int_equal(write_file_atomic(ctx->root_fd, "/etc/passwd", passwd, strlen(passwd), 0644, (uid_t) -1,
                                           (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
        assert_int_equal(authorized_keys_add(ctx->root_fd, "alice", keys, NULL), -ENOENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)


/* ---- user: the old key that overrides the default user ---- */

static void users_parse_user_string_renames_default(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, "{\"system_info\": {\"default_user\": {\"name\": \"debian\", \"shell\": \"/bin/bash\"}}}");
        assert_int_equal(parse_users(state, "{\"user\": \"ops\"}", &l), 0);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "ops");
        assert_true(l.users[0].is_default);
        assert_string_equal(l.users[0].shell, "/bin/bash");
        assert_int_equal(n_warnings(state), 1);
        assert_non_null(strstr(warning_text(state, 0), "user: a user name as a string is an old form"));
}

static void users_parse_user_mapping_overrides_keys(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, "{\"system_info\": {\"default_user\": {\"name\": \"debian\", \"shell\": \"/bin/bash\", "
                                "\"gecos\": \"Debian\"}}}");
        assert_int_equal(parse_users(state, "{\"user\": {\"shell\": \"/bin/sh\", \"lock_passwd\": false}}", &l), 0);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "debian");
        assert_string_equal(l.users[0].shell, "/bin/sh");
        assert_string_equal(l.users[0].gecos, "Debian");
        assert_false(l.users[0].lock_passwd);
        assert_int_equal(n_warnings(state), 0);
}

static void users_parse_user_adds_default(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"user\": {\"name\": \"ops\", \"sudo\": \"ALL=(ALL) ALL\"}, "
                                            "\"users\": [{\"name\": \"alice\"}]}", &l), 0);

        assert_int_equal(l.n, 2);
        assert_string_equal(l.users[0].name, "alice");
        assert_string_equal(l.users[1].name, "ops");
        assert_true(l.users[1].is_default);
        assert_string_equal(l.users[1].sudo[0], "ALL=(ALL) ALL");
        assert_int_equal(n_errors(state), 0);
}

static void users_parse_user_named_in_users_once(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"user\": {\"name\": \"ops\", \"shell\": \"/bin/sh\"}, "
                                            "\"users\": [{\"name\": \"ops\", \"gecos\": \"Ops\"}]}", &l), 0);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "ops");
        assert_string_equal(l.users[0].shell, "/bin/sh");
        assert_string_equal(l.users[0].gecos, "Ops");
}

static void users_parse_user_without_name_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"user\": {\"shell\": \"/bin/sh\"}}", &l), 0);

        assert_int_equal(l.n, 0);
        assert_int_equal(n_warnings(state), 1);
        assert_non_null(strstr(warning_text(state, 0), "user: the mapping has no name"));
}

static void users_parse_user_number_warns(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        set_image_config(state, "{\"system_info\": {\"default_user\": {\"name\": \"debian\"}}}");
        assert_int_equal(parse_users(state, "{\"user\": 5}", &l), 0);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "debian");
        assert_int_equal(n_warnings(state), 1);
        assert_non_null(strstr(warning_text(state, 0), "user: expected a user name or a mapping"));
}

static void users_parse_user_empty_ignored(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"user\": \"\", \"users\": [{\"name\": \"alice\"}]}", &l), 0);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "alice");
        assert_int_equal(n_warnings(state), 0);
}

static void users_parse_user_invalid_name_rejected(void **state) {
        _cleanup_(user_list_done) UserList l = {};

        assert_int_equal(parse_users(state, "{\"user\": \"bad:name\", \"users\": [{\"name\": \"alice\"}]}", &l),
                         -EINVAL);

        assert_int_equal(l.n, 1);
        assert_string_equal(l.users[0].name, "alice");
        assert_string_equal(error_text(state, 0), "user: invalid user name 'bad:name'.");
}

/* ---- Declarations: kiln validate reaches the run's verdict ---- */

static void deprecated_collect(const SchemaDiagnostic *d, void *userdata) {
        bool *found = userdata;

        if (d->problem == SCHEMA_DEPRECATED_KEY && streq(d->path, "users.0.lock-passwd") && d->suggestion &&
            streq(d->suggestion, "lock_passwd"))
                *found = true;
}

typedef struct SchemaCount {
        unsigned errors;
        unsigned warnings;
} SchemaCount;

static void schema_count(const SchemaDiagnostic *d, void *userdata) {
        SchemaCount *c = userdata;

        if (d->problem == SCHEMA_ERROR)
                c->errors++;
        else
                c->warnings++;
}

static const struct {
        const char *config;
        bool error;
        bool warning;
} verdict_cases[] = {
        { "{\"users\": [\"default\", {\"name\": \"alice\", \"groups\": \"sudo, adm\", \"shell\": \"/bin/bash\", "
          "\"sudo\": \"ALL=(ALL) NOPASSWD:ALL\", \"uid\": 1500, \"lock_passwd\": false, "
          "\"ssh_authorized_keys\": [\"" KEY_A "\"]}]}", false, false },
        { "{\"users\": [{\"name\": \"bob\", \"groups\": [\"adm\", \"devs\"], \"sudo\": [\"ALL=(ALL) ALL\", null], "
          "\"inactive\": 5, \"system\": true}]}", false, false },
        { "{\"users\": [\"alice, bob\", [\"carol\"]]}", false, false },
        { "{\"users\": \"alice,bob\"}", false, true },
        { "{\"users\": {\"alice\": {\"shell\": \"/bin/sh\"}}}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"lock-passwd\": false}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"ssh-authorized-keys\": [\"" KEY_A "\"]}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"lock_passwd\": \"yes\"}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"uid\": \"1500\"}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"groups\": {\"adm\": null}}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"shel\": \"/bin/sh\"}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"ssh_import_id\": [\"gh:alice\"]}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\", \"ssh_redirect_user\": false}]}", false, false },
        { "{\"users\": [{\"name\": \"alice\", \"ssh_authorized_keys\": [\"not a key\"]}]}", false, true },
        { "{\"users\": [{\"name\": \"alice\"}, {\"name\": \"alice\"}]}", false, true },
        { "{\"users\": 5}", true, false },
        { "{\"users\": [5]}", true, false },
        { "{\"users\": [{\"name\": \"bad:name\"}]}", true, false },
        { "{\"users\": [{\"name\": 7}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"shell\": 3}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"lock_passwd\": \"maybe\"}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"uid\": -1}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"uid\": true}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"sudo\": true}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"sudo\": [\"ALL\\nroot ALL\"]}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"groups\": 3}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"groups\": [\"a:b\"]}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"ssh_authorized_keys\": [3]}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"passwd\": \"a\\nb\"}]}", true, false },
        { "{\"users\": [{\"name\": \"alice\", \"primary_group\": \"a:b\"}]}", true, false },
        { "{\"groups\": [\"devs\", {\"admins\": [\"alice\", \"bob\"]}, {\"ops\": \"carol\"}]}", false, false },
        { "{\"groups\": \"devs, ops\"}", false, false },
        { "{\"groups\": {\"devs\": null}}", false, false },
        { "{\"groups\": 3}", true, false },
        { "{\"groups\": [3]}", true, false },
        { "{\"groups\": [\"a:b\"]}", true, false },
        { "{\"groups\": [{\"devs\": 3}]}", true, false },
        { "{\"user\": {\"name\": \"ops\", \"shell\": \"/bin/sh\"}}", false, false },
        { "{\"user\": \"ops\"}", false, true },
        { "{\"user\": 5}", false, true },
        { "{\"user\": \"\"}", false, false },
        { "{\"user\": \"bad:name\"}", true, false },
        { "{\"user\": {\"name\": \"ops\", \"shell\": 3}}", true, false },
        { "{\"user\": {\"name\": \"ops\", \"lock-passwd\": true}}", false, true },
};

static void validate_agrees_with_parse(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(verdict_cases); i++) {
                json_auto_t *config = json_of(verdict_cases[i].config);
                size_t errors_before = n_errors(state), warnings_before = n_warnings(state);
                _cleanup_(user_list_done) UserList users = {};
                _cleanup_(group_list_done) GroupList groups = {};
                SchemaCount count = {};
                int r, k;

                assert_true(schema_check(config, NULL, 0, schema_count, &count) >= 0);
                set_image_config(state, "{\"system_info\": {\"default_user\": {\"name\": \"debian\"}}}");
                r = parse_users(state, verdict_cases[i].config, &users);
                k = groups_parse(ctx_of(state), json_object_get(config, "groups"), &groups);

                if ((count.errors > 0) != verdict_cases[i].error)
                        fail_msg("case %zu: kiln validate found %u errors", i, count.errors);
                if ((count.warnings > 0) != verdict_cases[i].warning)
                        fail_msg("case %zu: kiln validate found %u warnings", i, count.warnings);
                if ((r < 0 || k < 0) != verdict_cases[i].error || (n_errors(state) > errors_before) != verdict_cases[i].error)
                        fail_msg("case %zu: the parsers returned %d and %d", i, r, k);
                if ((n_warnings(state) > warnings_before) != verdict_cases[i].warning)
                        fail_msg("case %zu: the parsers warned %zu times", i, n_warnings(state) - warnings_before);
        }
}

static void validate_names_run_rule(void **state) {
        json_auto_t *config = json_of("{\"users\": [{\"name\": \"bad:name\"}]}");
        SchemaCount count = {};

        (void) state;
        assert_true(schema_check(config, NULL, 0, schema_count, &count) >= 0);

        assert_int_equal(count.errors, 1);
}

static void validate_deprecated_key_suggests(void **state) {
        json_auto_t *config = json_of("{\"users\": [{\"name\": \"alice\", \"lock-passwd\": true}]}");
        bool found = false;

        (void) state;
        assert_true(schema_check(config, NULL, SCHEMA_KEYS_ONLY, deprecated_collect, &found) >= 0);

        assert_true(found);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                T(users_parse_user_string_renames_default),
                T(users_parse_user_mapping_overrides_keys),
                T(users_parse_user_adds_default),
                T(users_parse_user_named_in_users_once),
                T(users_parse_user_without_name_warns),
                T(users_parse_user_number_warns),
                T(users_parse_user_empty_ignored),
                T(users_parse_user_invalid_name_rejected),
                T(validate_agrees_with_parse),
                T(validate_names_run_rule),
                T(validate_deprecated_key_suggests),
                T(groups_parse_comma_string_trimmed),
                T(groups_parse_list_of_names),
                T(groups_parse_members_of_mappings),
                T(groups_parse_mapping_value),
                T(groups_parse_twice_named_joins_members),
                T(groups_parse_null_is_empty),
                T(groups_parse_invalid_item_reported),
                T(groups_parse_invalid_name_rejected),
                T(groups_parse_not_a_list_rejected),
                T(users_parse_groups_comma_string_trimmed),
                T(users_parse_groups_single_name),
                T(users_parse_groups_list),
                T(users_parse_groups_mapping_warns),
                T(users_parse_groups_number_rejected),
                T(users_parse_defaults),
                T(users_parse_string_items_split_at_commas),
                T(users_parse_string_value_warns),
                T(users_parse_mapping_value_warns),
                T(users_parse_null_warns),
                T(users_parse_listed_twice_merged),
                T(users_parse_invalid_name_rejected),
                T(users_parse_item_of_wrong_type_rejected),
                T(users_parse_sudo_string),
                T(users_parse_sudo_list_skips_null),
                T(users_parse_sudo_null_and_false_add_no_rule),
                T(users_parse_sudo_true_rejected),
                T(users_parse_sudo_line_break_rejected),
                T(users_parse_keys_string_list_and_mapping),
                T(users_parse_invalid_key_skipped),
                T(users_parse_system_with_keys_rejected),
                T(users_parse_uid_forms),
                T(users_parse_inactive_integer),
                T(users_parse_bool_string_warns),
                T(users_parse_bool_word_rejected),
                T(users_parse_old_spelling_warns),
                T(users_parse_unknown_key_warns),
                T(users_parse_passwords),
                T(users_parse_password_line_break_rejected),
                T(users_parse_default_from_image),
                T(users_parse_default_in_effective_config),
                T(users_parse_default_entry_overrides_image),
                T(users_parse_named_default_user_merged),
                T(users_parse_default_without_image_warns),
                T(users_parse_absent_users_means_default),
                T(users_parse_absent_users_without_image),
                T(users_parse_empty_list_has_no_default),
                T(users_parse_bad_image_default_user_warns),
                T(useradd_argv_minimal),
                T(useradd_argv_every_option),
                T(useradd_argv_system_user_without_home),
                T(useradd_argv_no_create_home),
                T(useradd_argv_empty_values_left_out),
                T(useradd_argv_password_not_in_argv),
                T(sudo_rules_text_one_line_per_rule),
                T(authorized_key_parse_fields),
                T(authorized_key_parse_options),
                T(authorized_key_parse_without_comment),
                T(authorized_key_parse_rejects_non_keys),
                T(authorized_keys_add_creates_file),
                T(authorized_keys_add_each_key_once),
                T(authorized_keys_add_keeps_other_lines),
                T(authorized_keys_add_options_replace_line),
                T(authorized_keys_add_symlink_rejected),
                T(authorized_keys_add_file_symlink_rejected),
                T(authorized_keys_add_unknown_user),
                T(authorized_keys_add_line_break_rejected),
                T(authorized_keys_add_missing_home),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
