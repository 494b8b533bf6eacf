/* SPDX-License-Identifier: Apache-2.0 */
/* The keys of one user of the users_groups module, and the useradd command and sudo rules they
 * make. */

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "authorized-keys.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "lib/string-util.h"
#include "report.h"
#include "users.h"

/* ---- users: keys of one user ---- */

static void user_spec_done(UserSpec *u) {
        free(u->name);
        free(u->gecos);
        free(u->homedir);
        free(u->primary_group);
        free(u->shell);
        free(u->uid);
        free(u->expiredate);
        free(u->inactive);
        free(u->selinux_user);
        /* Passwords do not stay in freed memory. */
        if (u->passwd)
                explicit_bzero(u->passwd, strlen(u->passwd));
        free(u->passwd);
        if (u->hashed_passwd)
                explicit_bzero(u->hashed_passwd, strlen(u->hashed_passwd));
        free(u->hashed_passwd);
        if (u->plain_text_passwd)
                explicit_bzero(u->plain_text_passwd, strlen(u->plain_text_passwd));
        free(u->plain_text_passwd);
        strv_free(u->groups);
        strv_free(u->sudo);
        strv_free(u->ssh_authorized_keys);
        *u = (UserSpec) {};
}

void user_list_done(UserList *l) {
        for (size_t i = 0; i < l->n; i++)
                user_spec_done(&l->users[i]);
        free(l->users);
        *l = (UserList) {};
}

/* A key's parser stores the value of v into the field at its offset in the UserSpec. label names
 * the user in messages. */
typedef int (*UserKeyParser)(Context *ctx, const UserSpec *u, const char *label, const char *key,
                             const json_t *v, void *field);

static int parse_string(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                        void *field) {
        char **s = field;

        if (json_is_null(v))
                return 0;
        if (!json_is_string(v) || string_has_nul(v))
                return report_error(ctx, u->index, 0, "%s: %s must be a string, got %s.", label, key,
                                    json_type_name(v));
        *s = strdup(json_string_value(v));
        return *s ? 0 : -ENOMEM;
}

static int parse_group_name(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                            void *field) {
        int r = parse_string(ctx, u, label, key, v, field);
        char **s = field;

        if (r >= 0 && *s && **s && !account_name_valid(*s))
                return report_error(ctx, u->index, 0, "%s: invalid group name '%s' in %s.", label, *s, key);
        return r;
}

/* Passwords: null counts as given empty, as in cloud-init. A line break would let the value add
 * a line of its own to chpasswd's input. Values are never shown. */
static int parse_password(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                          void *field) {
        char **s = field;

        if (json_is_null(v)) {
                *s = strdup("");
                return *s ? 0 : -ENOMEM;
        }
        if (!json_is_string(v) || string_has_nul(v))
                return report_error(ctx, u->index, 0, "%s: %s must be a string, got %s.", label, key,
                                    json_type_name(v));
        if (strpbrk(json_string_value(v), "\r\n"))
                return report_error(ctx, u->index, 0, "%s: %s must not contain a line break.", label, key);
        *s = strdup(json_string_value(v));
        return *s ? 0 : -ENOMEM;
}

/* A boolean as cloud-init's schema has it. null is false, and a string such as "yes" is read
 * with a warning. */
static int parse_bool(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                      void *field) {
        bool *b = field;
        int k;

        if (json_is_boolean(v) || json_is_null(v)) {
                *b = json_is_true(v);
                return 0;
        }
        k = json_is_string(v) ? parse_boolean(json_string_value(v)) : -EINVAL;
        if (k >= 0) {
                report_warning(ctx, u->index, "%s: %s is the string '%s', not a boolean, so it is read as %s. "
                               "Write %s without quotes.", label, key, json_string_value(v),
                               k ? "true" : "false", k ? "true" : "false");
                *b = k;
                return 0;
        }
        if (json_is_string(v))
                return report_error(ctx, u->index, 0, "%s: %s must be true or false, got '%s'.", label, key,
                                    json_string_value(v));
        return report_error(ctx, u->index, 0, "%s: %s must be true or false, got %s.", label, key,
                            json_type_name(v));
}

/* uid: an integer, or the older form, a string of digits. */
static int parse_uid(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                     void *field) {
        char **s = field;
        unsigned id;

        if (json_is_null(v))
                return 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < (json_int_t) UINT32_MAX) {
                if (asprintf(s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0) {
                        *s = NULL;
                        return -ENOMEM;
                }
                return 0;
        }
        if (json_is_string(v) && safe_atou(json_string_value(v), &id) >= 0 && id != UINT32_MAX) {
                report_warning(ctx, u->index, "%s: uid '%s' is a string, write it as a number without quotes.",
                               label, json_string_value(v));
                *s = strdup(json_string_value(v));
                return *s ? 0 : -ENOMEM;
        }
        if (json_is_string(v))
                return report_error(ctx, u->index, 0, "%s: uid must be a number from 0 to %u, got '%s'.", label,
                                    UINT32_MAX - 1, json_string_value(v));
        if (json_is_integer(v))
                return report_error(ctx, u->index, 0, "%s: uid must be a number from 0 to %u, got %" JSON_INTEGER_FORMAT
                                    ".", label, UINT32_MAX - 1, json_integer_value(v));
        return report_error(ctx, u->index, 0, "%s: uid must be a number from 0 to %u, got %s.", label,
                            UINT32_MAX - 1, json_type_name(v));
}

/* inactive: the days after a password expires until the account is disabled, a string in
 * cloud-init's schema. An integer means the same. */
static int parse_inactive(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                          void *field) {
        char **s = field;

        if (json_is_integer(v)) {
                if (asprintf(s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0) {
                        *s = NULL;
                        return -ENOMEM;
                }
                return 0;
        }
        return parse_string(ctx, u, label, key, v, field);
}

/* groups: a comma-separated string, a list of names, or the old form, a mapping whose keys are
 * the names. */
static int parse_groups(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                        void *field) {
        _cleanup_(strv_done) Strv names = {};
        char ***groups = field;
        const char *name;
        json_t *e;
        int r;

        if (json_is_object(v)) {
                report_warning(ctx, u->index, "%s: groups as a mapping is an old form, write a list of group "
                               "names instead.", label);
                json_object_foreach((json_t *) v, name, e) {
                        r = strv_add_comma_list(&names, name);
                        if (r < 0)
                                return r;
                }
                r = 0;
        } else
                r = group_names_collect(v, &names);
        if (r == -EINVAL)
                return report_error(ctx, u->index, 0, "%s: groups must be a comma-separated string or a list of "
                                    "group names, got %s.", label, json_type_name(v));
        if (r < 0)
                return r;

        if (names.n > USERS_LIST_ITEMS_MAX)
                return report_error(ctx, u->index, 0, "%s: more than %u groups.", label, USERS_LIST_ITEMS_MAX);
        for (size_t i = 0; i < names.n; i++)
                if (!account_name_valid(names.items[i]))
                        return report_error(ctx, u->index, 0, "%s: invalid group name '%s' in groups.", label,
                                            names.items[i]);

        strv_free(*groups);
        *groups = strv_take(&names);
        return *groups ? 0 : -ENOMEM;
}

static int sudo_rule_add(Context *ctx, const UserSpec *u, const char *label, const json_t *rule, Strv *rules) {
        const char *text;

        if (!json_is_string(rule) || string_has_nul(rule))
                return report_error(ctx, u->index, 0, "%s: a sudo rule must be a string, got %s.", label,
                                    json_type_name(rule));
        text = json_string_value(rule);
        /* Each rule becomes one line of the drop-in, after the user's name. */
        if (strpbrk(text, "\r\n"))
                return report_error(ctx, u->index, 0, "%s: the sudo rule '%.*s...' contains a line break, which "
                                    "would add a line of its own to the sudoers file.", label,
                                    (int) strcspn(text, "\r\n"), text);
        if (text[strspn(text, " \t")] == '\0')
                return report_error(ctx, u->index, 0, "%s: a sudo rule must not be empty.", label);
        return strv_add_unique(rules, text, strlen(text));
}

/* sudo: a rule, a list of rules (null items are skipped), or null or false for no rule. */
static int parse_sudo(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                      void *field) {
        _cleanup_(strv_done) Strv rules = {};
        char ***sudo = field;
        const json_t *e;
        size_t i;
        int r;

        if (json_is_null(v) || json_is_false(v))
                return 0;
        if (json_is_true(v))
                return report_error(ctx, u->index, 0, "%s: sudo: true names no rule. Write a rule such as "
                                    "\"ALL=(ALL) NOPASSWD:ALL\".", label);

        if (json_is_array(v)) {
                if (json_array_size(v) > USERS_LIST_ITEMS_MAX)
                        return report_error(ctx, u->index, 0, "%s: more than %u sudo rules.", label,
                                            USERS_LIST_ITEMS_MAX);
                json_array_foreach(v, i, e) {
                        if (json_is_null(e))
                                continue;
                        r = sudo_rule_add(ctx, u, label, e, &rules);
                        if (r < 0)
                                return r;
                }
        } else {
                r = sudo_rule_add(ctx, u, label, v, &rules);
                if (r < 0)
                        return r;
        }

        if (rules.n == 0)
                return 0;
        *sudo = strv_take(&rules);
        return *sudo ? 0 : -ENOMEM;
}

static int key_add(Context *ctx, const UserSpec *u, const char *label, const json_t *key, size_t i, Strv *keys) {
        _cleanup_free_ char *line = NULL;
        AuthorizedKey parsed;
        size_t n;

        if (!json_is_string(key) || string_has_nul(key))
                return report_error(ctx, u->index, 0, "%s: ssh_authorized_keys[%zu] must be a public key as a "
                                    "string, got %s.", label, i, json_type_name(key));

        /* A key written as a YAML block scalar ends in a line break. */
        n = json_string_length(key);
        while (n > 0 && strchr("\r\n", json_string_value(key)[n - 1]))
                n--;
        line = strndup(json_string_value(key), n);
        if (!line)
                return -ENOMEM;

        if (strpbrk(line, "\r\n") || authorized_key_parse(line, &parsed) < 0) {
                report_warning(ctx, u->index, "%s: ssh_authorized_keys[%zu] is not a public key line "
                               "('[options] type base64 [comment]'), skipping it.", label, i);
                return 0;
        }
        return strv_add_unique(keys, line, n);
}

/* ssh_authorized_keys: a list of keys; cloud-init also takes one key as a string, or a mapping
 * whose values are keys. */
static int parse_keys(Context *ctx, const UserSpec *u, const char *label, const char *key, const json_t *v,
                      void *field) {
        _cleanup_(strv_done) Strv keys = {};
        char ***list = field;
        const char *name;
        json_t *e;
        size_t i = 0;
        int r = 0;

        if (json_is_null(v))
                return 0;
        if (json_is_string(v))
                r = key_add(ctx, u, label, v, 0, &keys);
        else if (json_is_array(v) && json_array_size(v) <= USERS_LIST_ITEMS_MAX)
                json_array_foreach(v, i, e) {
                        r = key_add(ctx, u, label, e, i, &keys);
                        if (r < 0)
                                break;
                }
        else if (json_is_object(v) && json_object_size(v) <= USERS_LIST_ITEMS_MAX)
                json_object_foreach((json_t *) v, name, e) {
                        r = key_add(ctx, u, label, e, i++, &keys);
                        if (r < 0)
                                break;
                }
        else if (json_is_array(v) || json_is_object(v))
                return report_error(ctx, u->index, 0, "%s: more than %u keys in ssh_authorized_keys.", label,
                                    USERS_LIST_ITEMS_MAX);
        else
                return report_error(ctx, u->index, 0, "%s: ssh_authorized_keys must be a list of public keys, "
                                    "got %s.", label, json_type_name(v));
        if (r < 0)
                return r;

        strv_free(*list);
        *list = strv_take(&keys);
        return *list ? 0 : -ENOMEM;
}

#define USER_FIELD(f) offsetof(UserSpec, f)

static const struct {
        const char *key;
        UserKeyParser parse;
        size_t offset;
} user_key_table[] = {
        { "create_groups", parse_bool, USER_FIELD(create_groups) },
        { "expiredate", parse_string, USER_FIELD(expiredate) },
        { "gecos", parse_string, USER_FIELD(gecos) },
        { "groups", parse_groups, USER_FIELD(groups) },
        { "hashed_passwd", parse_password, USER_FIELD(hashed_passwd) },
        { "homedir", parse_string, USER_FIELD(homedir) },
        { "inactive", parse_inactive, USER_FIELD(inactive) },
        { "lock_passwd", parse_bool, USER_FIELD(lock_passwd) },
        { "no_create_home", parse_bool, USER_FIELD(no_create_home) },
        { "no_log_init", parse_bool, USER_FIELD(no_log_init) },
        { "no_user_group", parse_bool, USER_FIELD(no_user_group) },
        { "passwd", parse_password, USER_FIELD(passwd) },
        { "plain_text_passwd", parse_password, USER_FIELD(plain_text_passwd) },
        { "primary_group", parse_group_name, USER_FIELD(primary_group) },
        { "selinux_user", parse_string, USER_FIELD(selinux_user) },
        { "shell", parse_string, USER_FIELD(shell) },
        { "ssh_authorized_keys", parse_keys, USER_FIELD(ssh_authorized_keys) },
        { "sudo", parse_sudo, USER_FIELD(sudo) },
        { "system", parse_bool, USER_FIELD(system) },
        { "uid", parse_uid, USER_FIELD(uid) },
};

/* cloud-init keys of a user that kiln does not apply: doas rules, Ubuntu's snap users, keys from
 * Launchpad or GitHub, and logins redirected to the default user. */
static const char *const unsupported_user_keys[] = {
        "doas", "snapuser", "ssh_import_id", "ssh_redirect_user",
};

/* The key of a user that key was most likely meant to be, or NULL. */
static const char *nearest_user_key(const char *key) {
        const char *keys[ELEMENTSOF(user_key_table) + 1] = {};

        for (size_t i = 0; i < ELEMENTSOF(user_key_table); i++)
                keys[i] = user_key_table[i].key;
        return nearest_word(key, keys, strlen(key) > 4 ? 2 : 1);
}

static int user_key_parse(Context *ctx, UserSpec *u, const char *label, const char *key, const json_t *v) {
        const char *near;

        for (size_t i = 0; i < ELEMENTSOF(user_key_table); i++)
                if (streq(user_key_table[i].key, key))
                        return user_key_table[i].parse(ctx, u, label, key, v,
                                                       (uint8_t *) u + user_key_table[i].offset);

        for (size_t i = 0; i < ELEMENTSOF(unsupported_user_keys); i++)
                if (streq(unsupported_user_keys[i], key)) {
                        /* ssh_redirect_user: false requests nothing. */
                        if (!json_is_false(v) && !json_is_null(v))
                                report_warning(ctx, u->index, "%s: kiln does not support %s yet, ignoring it.",
                                               label, key);
                        return 0;
                }

        near = nearest_user_key(key);
        if (near)
                report_warning(ctx, u->index, "%s: unknown key '%s', ignoring it. Did you mean '%s'?", label, key,
                               near);
        else
                report_warning(ctx, u->index, "%s: unknown key '%s', ignoring it.", label, key);
        return 0;
}

/* Parse the keys of one entry. Every key is checked before the first error is returned, so one
 * run lists all of the user's problems. */
int user_spec_parse(Context *ctx, const UserEntry *e, bool is_default, UserSpec *ret) {
        _cleanup_(user_spec_done) UserSpec u = {
                .index = e->index,
                .is_default = is_default,
                .lock_passwd = true,
                .create_groups = true,
        };
        char label[USERS_NAME_MAX + 64];
        const char *key;
        json_t *v;
        int r = 0, k;

        u.name = strdup(e->name);
        u.groups = calloc(1, sizeof(char *));
        u.ssh_authorized_keys = calloc(1, sizeof(char *));
        if (!u.name || !u.groups || !u.ssh_authorized_keys)
                return -ENOMEM;
        (void) user_label(e->index, e->name, label, sizeof(label));

        json_object_foreach(e->config, key, v) {
                k = user_key_parse(ctx, &u, label, key, v);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0)
                        r = k;
        }
        if (r < 0)
                return r;

        /* cloud-init refuses such a user too: the keys need a home directory to go to. */
        if ((u.no_create_home || u.system) && u.ssh_authorized_keys[0])
                return report_error(ctx, u.index, 0, "%s: ssh_authorized_keys needs a home directory, which %s "
                                    "leaves out. Remove one of the two keys.", label,
                                    u.system ? "system: true" : "no_create_home: true");

        *ret = u;
        u = (UserSpec) {};
        return 0;
}

/* ---- Commands ---- */

int useradd_argv(const UserSpec *u, char ***ret) {
        _cleanup_(strv_done) Strv argv = {};
        _cleanup_free_ char *groups = NULL;
        const struct {
                const char *option;
                const char *value;
        } options[] = {
                { "--comment", u->gecos },
                { "--home", u->homedir },
                { "--gid", u->primary_group },
                { "--uid", u->uid },
                { "--groups", NULL }, /* filled in below */
                { "--shell", u->shell },
                { "--expiredate", u->expiredate },
                { "--inactive", u->inactive },
                { "--selinux-user", u->selinux_user },
        };
        const struct {
                const char *option;
                bool set;
        } flags[] = {
                { "--no-user-group", u->no_user_group },
                { "--system", u->system },
                { "--no-log-init", u->no_log_init },
        };
        int r;

        r = strv_join(u->groups, ",", &groups);
        if (r < 0)
                return r;

        r = strv_add(&argv, "useradd");
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(options); i++) {
                const char *value = streq(options[i].option, "--groups") ? groups : options[i].value;

                /* Empty values are left out, as cloud-init leaves out every value that is not true. */
                if (!value || value[0] == '\0')
                        continue;
                r = strv_add(&argv, options[i].option);
                if (r >= 0)
                        r = strv_add(&argv, value);
        }
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(flags); i++)
                if (flags[i].set)
                        r = strv_add(&argv, flags[i].option);

        /* Neither a system user nor one with no_create_home gets a home directory. */
        if (r >= 0)
                r = strv_add(&argv, u->no_create_home || u->system ? "-M" : "-m");
        if (r >= 0)
                r = strv_add(&argv, "--");
        if (r >= 0)
                r = strv_add(&argv, u->name);
        if (r < 0)
                return r;

        *ret = strv_take(&argv);
        return *ret ? 0 : -ENOMEM;
}

int sudo_rules_text(const UserSpec *u, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        if (fprintf(f, "\n# User rules for %s\n", u->name) < 0)
                r = -ENOMEM;
        for (size_t i = 0; u->sudo && u->sudo[i]; i++)
                if (fprintf(f, "%s %s\n", u->name, u->sudo[i]) < 0)
                        r = -ENOMEM;
        if (fclose(f) != 0 || r < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}
