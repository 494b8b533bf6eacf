/* SPDX-License-Identifier: Apache-2.0 */
/* The users and groups lists of the users_groups module: cloud-init's value shapes, the image's
 * default user, and string lists shared by the module's files. */

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/macro.h"
#include "report.h"
#include "users.h"

const char *json_type_name(const json_t *v) {
        /* No default case, so -Wswitch flags a JSON type added without a name. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "an unknown value";
}

void strv_done(Strv *l) {
        l->items = strv_free(l->items);
        l->n = 0;
}

bool strv_has(char *const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

int strv_add(Strv *l, const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        char **p;

        if (!copy)
                return -ENOMEM;
        p = realloc(l->items, (l->n + 2) * sizeof(char *));
        if (!p)
                return -ENOMEM;
        l->items = p;
        l->items[l->n++] = TAKE_PTR(copy);
        l->items[l->n] = NULL;
        return 0;
}

int strv_add_unique(Strv *l, const char *s, size_t n) {
        _cleanup_free_ char *copy = strndup(s, n);

        if (!copy)
                return -ENOMEM;
        if (strv_has(l->items, copy))
                return 0;
        return strv_add(l, copy);
}

char **strv_take(Strv *l) {
        char **items = l->items ?: calloc(1, sizeof(char *));

        l->items = NULL;
        l->n = 0;
        return items;
}

int strv_join(char *const *l, const char *sep, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; l && l[i]; i++)
                if ((i > 0 && fputs(sep, f) == EOF) || fputs(l[i], f) == EOF)
                        r = -ENOMEM;
        if (fclose(f) != 0 || r < 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}

/* Split text at commas, trim blanks around each name, and add the non-empty names. cloud-init
 * strips the names too, so "sudo, adm" means the groups sudo and adm, never " adm". */
int strv_add_comma_list(Strv *l, const char *text) {
        for (const char *p = text;;) {
                size_t n = strcspn(p, ",");
                const char *start = p, *end = p + n;
                int r;

                while (start < end && isspace((unsigned char) *start))
                        start++;
                while (end > start && isspace((unsigned char) end[-1]))
                        end--;
                if (end > start) {
                        r = strv_add_unique(l, start, (size_t) (end - start));
                        if (r < 0)
                                return r;
                }
                if (p[n] == '\0')
                        return 0;
                p += n + 1;
        }
}

bool string_has_nul(const json_t *s) {
        return strlen(json_string_value(s)) != json_string_length(s);
}

/* Characters of a user or group name after the first: the POSIX portable filename set. */
#define ACCOUNT_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* The rule of upstream shadow-utils (is_valid_name() in lib/chkname.c, 4.14) for user and group
 * names alike: [A-Za-z0-9_.][A-Za-z0-9_.-]* with an optional '$' at the end, neither "." nor ".."
 * nor all digits. Debian's useradd and groupadd accept more (a ';', for instance), so kiln applies
 * this rule itself, and a name means the same on every image. It also keeps each name a safe
 * last argument of useradd and a plain field of sudoers and chpasswd input. */
bool account_name_valid(const char *s) {
        size_t n = strlen(s), body;

        if (n == 0 || n > USERS_NAME_MAX || s[0] == '-' || streq(s, ".") || streq(s, ".."))
                return false;

        body = s[n - 1] == '$' ? n - 1 : n;
        if (body == 0 || strspn(s, ACCOUNT_NAME_CHARS) != body)
                return false;

        return strspn(s, "0123456789") != n;
}

const char *user_label(int index, const char *name, char *buf, size_t size) {
        if (index < 0)
                (void) snprintf(buf, size, "user '%s'", name);
        else
                (void) snprintf(buf, size, "users[%d] '%s'", index, name);
        return buf;
}

/* ---- groups: ---- */

void group_list_done(GroupList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->groups[i].name);
                strv_free(l->groups[i].members);
        }
        free(l->groups);
        *l = (GroupList) {};
}

static GroupSpec *group_list_find(GroupList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->groups[i].name, name))
                        return &l->groups[i];
        return NULL;
}

/* "groups[2]", or "groups" for a group of a string or mapping value, which has no item. */
static const char *group_label(int index, char *buf, size_t size) {
        if (index < 0)
                (void) snprintf(buf, size, "groups");
        else
                (void) snprintf(buf, size, "groups[%d]", index);
        return buf;
}

/* Add the group name (trimmed) with members (NULL, a name or a list of names). */
static int group_list_add(Context *ctx, GroupList *l, int index, const char *name, const json_t *members) {
        _cleanup_(strv_done) Strv names = {}, member_names = {};
        char label[32];
        const json_t *m;
        GroupSpec *g;
        size_t i;
        int r;

        (void) group_label(index, label, sizeof(label));
        r = strv_add_comma_list(&names, name);
        if (r < 0)
                return r;
        if (names.n != 1 || !account_name_valid(names.items[0]))
                return report_error(ctx, index, 0, "%s: invalid group name '%s'.", label, name);

        if (json_is_string(members) && !string_has_nul(members))
                r = strv_add_comma_list(&member_names, json_string_value(members));
        else if (json_is_array(members))
                json_array_foreach(members, i, m) {
                        if (!json_is_string(m) || string_has_nul(m))
                                return report_error(ctx, index, 0, "%s: the members of group '%s' must be user "
                                                    "names, got %s.", label, names.items[0], json_type_name(m));
                        r = strv_add_comma_list(&member_names, json_string_value(m));
                        if (r < 0)
                                break;
                }
        else if (members && !json_is_null(members))
                return report_error(ctx, index, 0, "%s: the members of group '%s' must be a user name or a list "
                                    "of them, got %s.", label, names.items[0], json_type_name(members));
        if (r < 0)
                return r;

        g = group_list_find(l, names.items[0]);
        if (!g) {
                GroupSpec *p;

                if (l->n >= USERS_ENTRIES_MAX)
                        return report_error(ctx, index, 0, "groups: more than %u groups, skipping '%s'.",
                                            USERS_ENTRIES_MAX, names.items[0]);
                p = realloc(l->groups, (l->n + 1) * sizeof(GroupSpec));
                if (!p)
                        return -ENOMEM;
                l->groups = p;
                g = &l->groups[l->n++];
                *g = (GroupSpec) { .index = index, .name = strdup(names.items[0]), .members = calloc(1, sizeof(char *)) };
                if (!g->name || !g->members)
                        return -ENOMEM;
        }

        /* A group named twice gets the members of both. */
        for (i = 0; i < member_names.n; i++) {
                Strv all = { .items = g->members };

                if (!account_name_valid(member_names.items[i]))
                        return report_error(ctx, index, 0, "%s: invalid user name '%s' among the members of group "
                                            "'%s'.", label, member_names.items[i], g->name);
                while (all.items[all.n])
                        all.n++;
                r = strv_add_unique(&all, member_names.items[i], strlen(member_names.items[i]));
                g->members = all.items;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One {name: members, ...} mapping. */
static int groups_parse_mapping(Context *ctx, GroupList *l, int index, const json_t *mapping) {
        const char *name;
        json_t *members;
        int r = 0;

        json_object_foreach((json_t *) mapping, name, members) {
                int k = group_list_add(ctx, l, index, name, members);

                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int groups_parse(Context *ctx, const json_t *v, GroupList *ret) {
        _cleanup_(strv_done) Strv names = {};
        const json_t *item;
        GroupList l = {};
        size_t i;
        int r = 0, k = 0;

        assert(ctx);
        assert(ret);

        if (!v || json_is_null(v)) {
                *ret = l;
                return 0;
        }

        if (json_is_string(v) && !string_has_nul(v)) {
                k = strv_add_comma_list(&names, json_string_value(v));
                for (i = 0; k != -ENOMEM && i < names.n; i++) {
                        k = group_list_add(ctx, &l, -1, names.items[i], NULL);
                        if (k < 0 && r == 0)
                                r = k;
                }
        } else if (json_is_object(v))
                r = groups_parse_mapping(ctx, &l, -1, v);
        else if (json_is_array(v))
                json_array_foreach(v, i, item) {
                        if (json_is_string(item) && !string_has_nul(item))
                                k = group_list_add(ctx, &l, (int) i, json_string_value(item), NULL);
                        else if (json_is_object(item))
                                k = groups_parse_mapping(ctx, &l, (int) i, item);
                        else
                                k = report_error(ctx, (int) i, 0,
                                                 "groups[%zu]: expected a group name or a mapping of a group "
                                                 "name to its members, got %s.", i, json_type_name(item));
                        if (k == -ENOMEM)
                                break;
                        if (k < 0 && r == 0)
                                r = k;
                }
        else
                r = report_error(ctx, -1, 0, "groups: expected a list of group names, got %s.", json_type_name(v));

        if (r == -ENOMEM || k == -ENOMEM) {
                group_list_done(&l);
                return -ENOMEM;
        }
        *ret = l;
        return r < 0 ? -EINVAL : 0;
}

/* ---- users: entries before parsing ---- */

typedef struct UserEntries {
        UserEntry *entries;
        size_t n;
} UserEntries;

static void user_entries_done(UserEntries *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->entries[i].name);
                json_decref(l->entries[i].config);
        }
        free(l->entries);
        *l = (UserEntries) {};
}

static void user_entries_remove(UserEntries *l, size_t i) {
        free(l->entries[i].name);
        json_decref(l->entries[i].config);
        memmove(l->entries + i, l->entries + i + 1, (l->n - i - 1) * sizeof(UserEntry));
        l->n--;
}

static ssize_t user_entries_find(const UserEntries *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->entries[i].name, name))
                        return (ssize_t) i;
        return -1;
}

/* Copy a user's keys, with cloud-init's older spellings such as lock-passwd renamed, after a
 * warning, to lock_passwd. The name key is left out. */
static int user_config_copy(Context *ctx, int index, const char *name, const json_t *config, json_t **ret) {
        json_auto_t *copy = json_object();
        const char *key;
        json_t *v;

        if (!copy)
                return -ENOMEM;

        json_object_foreach((json_t *) config, key, v) {
                _cleanup_free_ char *underscored = NULL;
                char label[USERS_NAME_MAX + 64];

                if (streq(key, "name"))
                        continue;
                if (!strchr(key, '-')) {
                        if (json_object_set(copy, key, v) < 0)
                                return -ENOMEM;
                        continue;
                }

                underscored = strdup(key);
                if (!underscored)
                        return -ENOMEM;
                for (char *p = underscored; *p; p++)
                        if (*p == '-')
                                *p = '_';
                report_warning(ctx, index, "%s: '%s' is an old spelling of '%s', reading it as '%s'.",
                               user_label(index, name, label, sizeof(label)), key, underscored, underscored);
                /* When both spellings are given, the current one wins. */
                if (!json_object_get(config, underscored) && json_object_set(copy, underscored, v) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(copy);
        return 0;
}

/* Add the user name with config (a mapping, or NULL for none). A name listed before keeps its
 * keys, and gets only those it lacks from this item, as cloud-init merges them. */
static int user_entries_add(Context *ctx, UserEntries *l, int index, const char *name, const json_t *config) {
        json_auto_t *copy = NULL;
        char label[USERS_NAME_MAX + 64];
        UserEntry *p;
        ssize_t i;
        int r;

        if (!streq(name, "default") && !account_name_valid(name)) {
                if (index < 0)
                        return report_error(ctx, index, 0, "users: invalid user name '%s'.", name);
                return report_error(ctx, index, 0, "users[%d]: invalid user name '%s'.", index, name);
        }

        if (config) {
                r = user_config_copy(ctx, index, name, config, &copy);
                if (r < 0)
                        return r;
        } else {
                copy = json_object();
                if (!copy)
                        return -ENOMEM;
        }

        i = user_entries_find(l, name);
        if (i >= 0) {
                report_warning(ctx, index, "%s is listed more than once. The keys of all entries are used, and "
                               "the first entry wins where two set the same key.",
                               user_label(index, name, label, sizeof(label)));
                return json_object_update_missing(l->entries[i].config, copy) < 0 ? -ENOMEM : 0;
        }

        if (l->n >= USERS_ENTRIES_MAX)
                return report_error(ctx, index, 0, "users: more than %u users, skipping '%s'.", USERS_ENTRIES_MAX,
                                    name);

        p = realloc(l->entries, (l->n + 1) * sizeof(UserEntry));
        if (!p)
                return -ENOMEM;
        l->entries = p;
        l->entries[l->n] = (UserEntry) { .index = index, .name = strdup(name), .config = TAKE_PTR(copy) };
        if (!l->entries[l->n].name) {
                json_decref(l->entries[l->n].config);
                return -ENOMEM;
        }
        l->n++;
        return 0;
}

/* Add every name of a comma-separated string, as cloud-init does for a string item. */
static int user_entries_add_names(Context *ctx, UserEntries *l, int index, const char *text) {
        _cleanup_(strv_done) Strv names = {};
        int r, k;

        r = strv_add_comma_list(&names, text);
        if (r < 0)
                return r;
        r = 0;
        for (size_t i = 0; i < names.n; i++) {
                k = user_entries_add(ctx, l, index, names.items[i], NULL);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

/* cloud-init's util.is_true(): true, or "true", "1", "on" or "yes" in any case. */
static bool value_is_true(const json_t *v) {
        static const char *const true_words[] = { "true", "1", "on", "yes" };
        _cleanup_(strv_done) Strv trimmed = {};

        if (json_is_boolean(v) || json_is_null(v))
                return json_is_true(v);
        if (json_is_integer(v))
                return json_integer_value(v) == 1;
        if (!json_is_string(v) || strv_add_comma_list(&trimmed, json_string_value(v)) < 0 || trimmed.n != 1)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(true_words); i++)
                if (strcasecmp(trimmed.items[0], true_words[i]) == 0)
                        return true;
        return false;
}

/* users as a mapping of names to their keys, or to true: an old form cloud-init still reads. */
static int user_entries_from_mapping(Context *ctx, UserEntries *l, const json_t *v) {
        const char *name;
        json_t *config;
        int r = 0, k;

        report_warning(ctx, -1, "users: a mapping of user names is an old form, write a list of users instead.");
        json_object_foreach((json_t *) v, name, config) {
                if (json_is_object(config))
                        k = user_entries_add(ctx, l, -1, name, config);
                else if (json_is_array(config))
                        k = report_error(ctx, -1, 0, "users: the value of '%s' must be a mapping of its keys or "
                                         "true, got a list.", name);
                else
                        k = value_is_true(config) ? user_entries_add(ctx, l, -1, name, NULL) : 0;
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

static int user_entries_from_item(Context *ctx, UserEntries *l, int index, const json_t *item) {
        const json_t *name, *e;
        size_t i;
        int r = 0, k;

        if (json_is_string(item) && !string_has_nul(item))
                return user_entries_add_names(ctx, l, index, json_string_value(item));

        if (json_is_array(item)) {
                json_array_foreach(item, i, e) {
                        if (!json_is_string(e) || string_has_nul(e))
                                return report_error(ctx, index, 0, "users[%d]: a list of user names may hold only "
                                                    "names, got %s.", index, json_type_name(e));
                        k = user_entries_add_names(ctx, l, index, json_string_value(e));
                        if (k == -ENOMEM)
                                return k;
                        if (k < 0 && r == 0)
                                r = k;
                }
                return r;
        }

        if (!json_is_object(item))
                return report_error(ctx, index, 0, "users[%d]: expected a user (a mapping with 'name') or "
                                    "'default', got %s.", index, json_type_name(item));

        /* A mapping without a name configures the default user, as in cloud-init. */
        name = json_object_get(item, "name");
        if (!name || json_is_null(name))
                return user_entries_add(ctx, l, index, "default", item);
        if (!json_is_string(name) || string_has_nul(name))
                return report_error(ctx, index, 0, "users[%d]: name must be a string, got %s.", index,
                                    json_type_name(name));
        return user_entries_add(ctx, l, index, json_string_value(name), item);
}

static int user_entries_collect(Context *ctx, const json_t *v, UserEntries *l) {
        const json_t *item;
        size_t i;
        int r = 0, k;

        if (json_is_null(v)) {
                report_warning(ctx, -1, "users has no value (null), so no user is created, not even the "
                               "default user.");
                return 0;
        }
        if (json_is_string(v) && !string_has_nul(v)) {
                report_warning(ctx, -1, "users: a comma-separated string of names is an old form, write a list "
                               "of users instead.");
                return user_entries_add_names(ctx, l, -1, json_string_value(v));
        }
        if (json_is_object(v))
                return user_entries_from_mapping(ctx, l, v);
        if (!json_is_array(v))
                return report_error(ctx, -1, 0, "users: expected a list of users, got %s.", json_type_name(v));

        json_array_foreach(v, i, item) {
                k = user_entries_from_item(ctx, l, (int) i, item);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

/* ---- The image's default user ---- */

/* system_info.default_user of the effective config, or of the image configuration when the
 * effective config has none. Borrowed; NULL when the image configures no default user. */
static const json_t *default_user_config(Context *ctx, const json_t *config) {
        const json_t *sources[] = { config, ctx->system_config };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                const json_t *d = json_object_get(json_object_get(sources[i], "system_info"), "default_user");
                const json_t *name = json_object_get(d, "name");

                if (!d || json_is_null(d))
                        continue;
                if (!json_is_object(d) || !json_is_string(name) || !account_name_valid(json_string_value(name))) {
                        report_warning(ctx, -1, "system_info: default_user must be a mapping with a valid user "
                                       "name under 'name', ignoring it.");
                        return NULL;
                }
                return d;
        }
        return NULL;
}

int group_names_collect(const json_t *v, Strv *l) {
        const json_t *e;
        size_t i;
        int r;

        if (!v || json_is_null(v))
                return 0;
        if (json_is_string(v) && !string_has_nul(v))
                return strv_add_comma_list(l, json_string_value(v));
        if (!json_is_array(v))
                return -EINVAL;
        json_array_foreach(v, i, e) {
                if (!json_is_string(e) || string_has_nul(e))
                        return -EINVAL;
                r = strv_add_comma_list(l, json_string_value(e));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The keys of the default user: those of the image, overridden by those of the 'default' entry,
 * overridden by those of an entry with the default user's name. The groups of all three are
 * joined (cloud-init drops those of the 'default' entry). */
static int default_user_merge(Context *ctx, const json_t *image, const UserEntry *entry, const UserEntry *named,
                              json_t **ret) {
        const json_t *sources[] = { image, entry->config, named ? named->config : NULL };
        _cleanup_(strv_done) Strv groups = {};
        json_auto_t *merged = NULL, *list = NULL;
        bool joinable = true;
        int r;

        r = user_config_copy(ctx, -1, json_string_value(json_object_get(image, "name")), image, &merged);
        if (r < 0)
                return r;
        for (size_t i = 1; i < ELEMENTSOF(sources); i++)
                if (sources[i] && json_object_update(merged, (json_t *) sources[i]) < 0)
                        return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                r = group_names_collect(json_object_get(sources[i], "groups"), &groups);
                if (r == -ENOMEM)
                        return r;
                /* A groups value of another shape stays as it is, so that its parser reports it. */
                if (r < 0)
                        joinable = false;
        }

        if (joinable && groups.n > 0) {
                list = json_array();
                if (!list)
                        return -ENOMEM;
                for (size_t i = 0; i < groups.n; i++)
                        if (json_array_append_new(list, json_string(groups.items[i])) < 0)
                                return -ENOMEM;
                if (json_object_set(merged, "groups", list) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(merged);
        return 0;
}

/* Replace the 'default' entry with the image's default user, or drop it with a warning when the
 * image has none. Returns the position of the default user, or -1 when there is none. */
static ssize_t user_entries_resolve_default(Context *ctx, const json_t *image, UserEntries *l, int *reterr) {
        ssize_t i = user_entries_find(l, "default"), named;
        const char *name;
        json_t *merged = NULL;
        int r;

        *reterr = 0;
        if (i < 0)
                return -1;

        if (!image) {
                char item[32] = "users";

                if (l->entries[i].index >= 0)
                        (void) snprintf(item, sizeof(item), "users[%d]", l->entries[i].index);
                report_warning(ctx, l->entries[i].index,
                               "%s: 'default' stands for the image's default user, but the image configures none "
                               "(system_info: default_user: in kiln.yaml), skipping it.", item);
                user_entries_remove(l, (size_t) i);
                return -1;
        }

        name = json_string_value(json_object_get(image, "name"));
        named = user_entries_find(l, name);
        r = default_user_merge(ctx, image, &l->entries[i], named >= 0 ? &l->entries[named] : NULL, &merged);
        if (r < 0) {
                *reterr = r;
                return -1;
        }

        json_decref(l->entries[i].config);
        l->entries[i].config = merged;
        free(l->entries[i].name);
        l->entries[i].name = strdup(name);
        if (!l->entries[i].name) {
                *reterr = -ENOMEM;
                return -1;
        }
        /* The default user keeps the place of the 'default' entry, so it is created first when listed
         * first (cloud-init creates it after the others). */
        if (named >= 0) {
                user_entries_remove(l, (size_t) named);
                if (named < i)
                        i--;
        }
        return i;
}

/* cloud-init's test of a value given at all: null, false, 0, "", [] and {} are not. */
static bool value_given(const json_t *v) {
        if (!v || json_is_null(v) || json_is_false(v))
                return false;
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        if (json_is_real(v))
                return json_real_value(v) != 0;
        if (json_is_string(v))
                return json_string_length(v) > 0;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        return true;
}

/* Apply the top-level user key as cloud-init's ug_util does: a name, or a mapping of a user's
 * keys, that overrides the image's default user (its keys win over the image's) and puts the
 * default user on the users list. Returns 1 with *ret (the default user's keys, caller owns), 0
 * when user is not given or is ignored after a warning, -EINVAL after reporting, or -ENOMEM. */
static int old_user_parse(Context *ctx, const json_t *config, const json_t *image, json_t **ret) {
        const json_t *v = json_object_get(config, "user"), *name;
        json_auto_t *merged = NULL;

        if (!value_given(v))
                return 0;

        if (json_is_string(v)) {
                if (string_has_nul(v) || !account_name_valid(json_string_value(v)))
                        return report_error(ctx, -1, 0, "user: invalid user name '%s'.", json_string_value(v));
                report_warning(ctx, -1, "user: a user name as a string is an old form, write the user in the "
                               "users list instead.");
        } else if (!json_is_object(v)) {
                report_warning(ctx, -1, "user: expected a user name or a mapping of a user's keys, got %s, "
                               "ignoring it.", json_type_name(v));
                return 0;
        }

        merged = image ? json_deep_copy(image) : json_object();
        if (!merged)
                return -ENOMEM;
        if (json_is_string(v)) {
                if (json_object_set_new(merged, "name", json_string(json_string_value(v))) < 0)
                        return -ENOMEM;
        } else if (json_object_update(merged, (json_t *) v) < 0)
                return -ENOMEM;

        name = json_object_get(merged, "name");
        if (!name || json_is_null(name)) {
                report_warning(ctx, -1, "user: the mapping has no name and the image configures no default "
                               "user (system_info: default_user: in kiln.yaml), ignoring it.");
                return 0;
        }
        if (!json_is_string(name) || string_has_nul(name))
                return report_error(ctx, -1, 0, "user: name must be a string, got %s.", json_type_name(name));
        if (!account_name_valid(json_string_value(name)))
                return report_error(ctx, -1, 0, "user: invalid user name '%s'.", json_string_value(name));

        *ret = TAKE_PTR(merged);
        return 1;
}

int users_parse(Context *ctx, const json_t *config, UserList *ret) {
        _cleanup_(user_entries_done) UserEntries entries = {};
        json_auto_t *old_user = NULL;
        const json_t *image, *v;
        UserList l = {};
        ssize_t default_at;
        int r = 0, k;

        assert(ctx);
        assert(ret);

        image = default_user_config(ctx, config);
        k = old_user_parse(ctx, config, image, &old_user);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                r = k;
        if (k > 0)
                image = old_user;

        v = json_object_get(config, "users");
        if (v)
                k = user_entries_collect(ctx, v, &entries);
        else if (image)
                /* Without users:, the image's default user is created, as cloud-init's users: [default]
                 * in cloud.cfg does. */
                k = user_entries_add(ctx, &entries, -1, "default", NULL);
        if (k == -ENOMEM)
                return k;
        if (k < 0 && r == 0)
                r = k;

        /* With user:, the default user is created even when users lists others only. */
        if (old_user && user_entries_find(&entries, "default") < 0) {
                k = user_entries_add(ctx, &entries, -1, "default", NULL);
                if (k == -ENOMEM)
                        return k;
        }

        default_at = user_entries_resolve_default(ctx, image, &entries, &k);
        if (k < 0)
                return k;

        l.users = calloc(entries.n + 1, sizeof(UserSpec));
        if (!l.users)
                return -ENOMEM;
        for (size_t i = 0; i < entries.n; i++) {
                k = user_spec_parse(ctx, &entries.entries[i], (ssize_t) i == default_at, &l.users[l.n]);
                if (k == -ENOMEM) {
                        user_list_done(&l);
                        return k;
                }
                if (k < 0 && r == 0)
                        r = k;
                if (k >= 0)
                        l.n++;
        }

        *ret = l;
        return r < 0 ? -EINVAL : 0;
}
