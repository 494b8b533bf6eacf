/* SPDX-License-Identifier: Apache-2.0 */
/* The users_groups module's parsing and command building, shared by its files (users.c,
 * users-list.c, users-entry.c) and declared for its unit tests. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"

/* Limits on the untrusted cloud-config. */
#define USERS_ENTRIES_MAX 1024       /* entries of users: and of groups: */
#define USERS_LIST_ITEMS_MAX 1024    /* items of one user's groups, sudo and ssh_authorized_keys */
#define USERS_NAME_MAX 256           /* bytes of a user or group name (LOGIN_NAME_MAX) */

/* One group of the top-level groups key. */
typedef struct GroupSpec {
        int index;               /* item of groups: the group came from, -1 for none */
        char *name;
        char **members;          /* NULL-terminated, never NULL */
} GroupSpec;

typedef struct GroupList {
        GroupSpec *groups;
        size_t n;
} GroupList;

void group_list_done(GroupList *l);

/* Parse the top-level groups value as cloud-init reads it: a comma-separated string of names, a
 * list of names and of {name: members} mappings, or one {name: members} mapping, where members
 * is a user name or a list of them. Names are trimmed, a group named twice gets the members of
 * both, and every problem is reported against the item.
 * Returns 0 (v may be NULL or null: no groups) or -EINVAL after reporting, with *ret holding the
 * groups that parsed; -ENOMEM. */
int groups_parse(Context *ctx, const json_t *v, GroupList *ret);

/* One user after the default user was merged in. Strings and lists are owned. */
typedef struct UserSpec {
        int index;               /* item of users:, -1 for the default user that no item names */
        char *name;
        bool is_default;         /* the image's default user (system_info.default_user) */
        char *gecos;
        char *homedir;
        char *primary_group;
        char *shell;
        char *uid;               /* as text, for useradd */
        char *expiredate;
        char *inactive;          /* as text, for useradd */
        char *selinux_user;
        char *passwd;            /* hash set only when the user is created; NULL when not given */
        char *hashed_passwd;     /* NULL when not given, "" when given empty */
        char *plain_text_passwd; /* NULL when not given, "" when given empty */
        char **groups;           /* supplementary groups, NULL-terminated, never NULL */
        char **sudo;             /* sudo rules without the user name, NULL for no rule */
        char **ssh_authorized_keys; /* NULL-terminated, never NULL */
        bool lock_passwd;
        bool system;
        bool no_create_home;
        bool create_groups;
        bool no_user_group;
        bool no_log_init;
} UserSpec;

typedef struct UserList {
        UserSpec *users;
        size_t n;
} UserList;

void user_list_done(UserList *l);

/* Parse the users value of config, with the image's default user taken from
 * config's or ctx->system_config's system_info.default_user. An entry "default", or a mapping
 * without a name, stands for that user. The keys of an entry with the default user's name win
 * over those of the "default" entry, which win over those of the image, and the groups of all
 * three are joined. Without a users key the default user alone is listed, when the image has one.
 * Every problem is reported against its item, and a user with an invalid key is left out.
 * Returns 0, or -EINVAL after reporting, with *ret holding the users that parsed; -ENOMEM. */
int users_parse(Context *ctx, const json_t *config, UserList *ret);

/* The useradd argv that creates u, with the options cloud-init passes for the same keys.
 * Caller owns the result (strv_free()). Returns 0 or -ENOMEM. */
int useradd_argv(const UserSpec *u, char ***ret);

/* The block that u's sudo rules add to the drop-in: a comment naming the user, then one line
 * "NAME RULE" per rule. Caller owns the result. Returns 0, or -ENOMEM. */
int sudo_rules_text(const UserSpec *u, char **ret);

/* ---- Shared by the module's files ---- */

/* A growing NULL-terminated list of owned strings. */
typedef struct Strv {
        char **items;
        size_t n;
} Strv;

void strv_done(Strv *l);
bool strv_has(char *const *l, const char *s);
/* Append a copy of s. Returns 0 or -ENOMEM. */
int strv_add(Strv *l, const char *s);
/* Append a copy of s[0..n), unless the list already has it. Returns 0 or -ENOMEM. */
int strv_add_unique(Strv *l, const char *s, size_t n);
/* The list, never NULL: an empty list when nothing was added. Caller owns it; NULL on -ENOMEM. */
char **strv_take(Strv *l);
/* Join the strings of l with sep between them. Caller owns the result. Returns 0 or -ENOMEM. */
int strv_join(char *const *l, const char *sep, char **ret);
/* Add the names of a comma-separated string, with blanks around each name trimmed and empty
 * names skipped. Returns 0 or -ENOMEM. */
int strv_add_comma_list(Strv *l, const char *text);

/* "a mapping", "a list", "a string" ... for messages. */
const char *json_type_name(const json_t *v);
bool string_has_nul(const json_t *s);
/* Whether s is a valid user or group name by shadow-utils' rule: [A-Za-z0-9_.][A-Za-z0-9_.-]*
 * with an optional '$' at the end, neither "." nor ".." nor all digits. */
bool account_name_valid(const char *s);
/* "users[2] 'alice'", or "user 'alice'" when index is -1 (no item of a users list). Returns buf. */
const char *user_label(int index, const char *name, char *buf, size_t size);

/* Add the names of a groups value: a comma-separated string or a list of names (null adds none).
 * Returns 0, -EINVAL for any other shape, -ENOMEM. */
int group_names_collect(const json_t *v, Strv *l);

/* One user as the users list names it, before its keys are parsed. A user listed twice is one
 * entry with the keys of both. */
typedef struct UserEntry {
        int index;               /* item of users:, -1 for the default user that no item names */
        char *name;              /* "default" for the image's default user until it is resolved */
        json_t *config;          /* owned mapping of the user's keys, without name */
} UserEntry;

/* Parse the keys of one entry into *ret, reporting every problem against the entry's item.
 * Returns 0, -EINVAL after reporting, or -ENOMEM. */
int user_spec_parse(Context *ctx, const UserEntry *e, bool is_default, UserSpec *ret);
