/* SPDX-License-Identifier: Apache-2.0 */
/* Building the effective cloud-config the way cloud-init does.
 *
 * Parts. The cloud-config parts of the user data merge in order into a buffer that starts as an
 * empty mapping. Those of the vendor data merge into a buffer of their own. A part merges with
 * the mergers that its merge_how key names (merge_type when merge_how is absent or null),
 * followed by those of its Merge-Type header. With neither, it merges with
 * "dict(replace)+list()+str()": a top-level key of a later part replaces the earlier value whole,
 * nested mappings included. The merge_how or merge_type key that was read is not part of the
 * result. A #cloud-config-jsonp part is an RFC 6902 patch of the buffer as merged so far.
 *
 * Layers. As cloud-init's mergemanydict() does, the user buffer, the vendor buffer and the image
 * configuration then merge in that order into an empty mapping, each with its own merge_how or
 * with "list()+dict()+str()". Those keep a value that is already there and only descend into
 * mappings, so user data wins over vendor data and both win over the image configuration. As
 * the list and str mergers return the later value, a mapping of a lower layer still replaces a
 * list or a string of a higher one, as in cloud-init.
 *
 * Merger grammar, string form (a Merge-Type header, or merge_how as a string):
 *     MERGERS = MERGER *("+" MERGER)      MERGER = NAME "(" [OPTION *("," OPTION)] ")"
 * NAME is list, dict or str, optionally prefixed "m_". The text is read without regard to ASCII
 * case, with '-' as '_', and blanks around names and options are ignored. List form (merge_how as
 * a sequence): items {name: NAME, settings: [OPTION, ...]} or [NAME, OPTION, ...], case-sensitive.
 *
 * What the options do, as in cloud-init's mergers (an earlier value is merged with a later one):
 *   dict  replace: the later value of a key both have wins. no_replace (the default): the earlier
 *         value stays, except that mappings merge recursively, lists too with recurse_array (or
 *         recurse_list) and strings with recurse_str. allow_delete: a later null removes the key.
 *   list  replace (the default): a later list replaces the earlier items index by index, over the
 *         indexes both have; a later non-list replaces the list. no_replace keeps the earlier
 *         items. append and prepend join the lists. recurse_dict, recurse_array and recurse_str
 *         merge items of those types instead of replacing them.
 *   str   append joins the strings; otherwise the later string wins.
 * An earlier value of another type (number, boolean, null), or of a type no merger is named for,
 * stays as it is. */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config-node.h"
#include "json-patch.h"
#include "lib/macro.h"
#include "lib/string-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "report.h"
#include "userdata.h"

/* Limits on untrusted merge specifications. */
#define MERGERS_MAX 16          /* mergers in one merge_how or Merge-Type */
#define MERGER_OPTIONS_MAX 32   /* options of one merger */

/* cloud-init's defaults: for parts (handlers/cloud_config.py), for layers (mergers/__init__.py). */
#define PART_MERGERS_DEFAULT "dict(replace)+list()+str()"
#define LAYER_MERGERS_DEFAULT "list()+dict()+str()"

#define JSONP_HEADER "#cloud-config-jsonp"

/* ---- Merge specifications ---- */

typedef enum MergerKind {
        MERGER_LIST,
        MERGER_DICT,
        MERGER_STR,
        _MERGER_KIND_MAX,
        _MERGER_KIND_INVALID = -EINVAL,
} MergerKind;

/* NULL-terminated for nearest_word(). */
static const char *const merger_kind_table[_MERGER_KIND_MAX + 1] = {
        [MERGER_LIST] = "list",
        [MERGER_DICT] = "dict",
        [MERGER_STR] = "str",
};

typedef enum MergeFlag {
        MERGE_REPLACE = 1 << 0,
        MERGE_NO_REPLACE = 1 << 1,
        MERGE_APPEND = 1 << 2,
        MERGE_PREPEND = 1 << 3,
        MERGE_RECURSE_DICT = 1 << 4,
        MERGE_RECURSE_ARRAY = 1 << 5,
        MERGE_RECURSE_STR = 1 << 6,
        MERGE_ALLOW_DELETE = 1 << 7,
} MergeFlag;

static const struct {
        const char *name;
        MergeFlag flag;
} merge_option_table[] = {
        { "replace", MERGE_REPLACE },
        { "no_replace", MERGE_NO_REPLACE },
        { "append", MERGE_APPEND },
        { "prepend", MERGE_PREPEND },
        { "recurse_dict", MERGE_RECURSE_DICT },
        { "recurse_array", MERGE_RECURSE_ARRAY },
        { "recurse_list", MERGE_RECURSE_ARRAY },
        { "recurse_str", MERGE_RECURSE_STR },
        { "allow_delete", MERGE_ALLOW_DELETE },
};

/* The options each merger reads. cloud-init ignores the others silently, and kiln warns. A dict
 * merger always merges mappings recursively, so recurse_dict changes nothing there. */
static const unsigned merger_options[_MERGER_KIND_MAX] = {
        [MERGER_LIST] = MERGE_REPLACE | MERGE_NO_REPLACE | MERGE_APPEND | MERGE_PREPEND |
                        MERGE_RECURSE_DICT | MERGE_RECURSE_ARRAY | MERGE_RECURSE_STR,
        [MERGER_DICT] = MERGE_REPLACE | MERGE_NO_REPLACE | MERGE_RECURSE_DICT | MERGE_RECURSE_ARRAY |
                        MERGE_RECURSE_STR | MERGE_ALLOW_DELETE,
        [MERGER_STR] = MERGE_APPEND,
};

typedef struct Merger {
        MergerKind kind;
        unsigned flags;
} Merger;

/* When two mergers of one kind are named, the first one is used, as in cloud-init. */
typedef struct Mergers {
        Merger items[MERGERS_MAX];
        size_t n;
} Mergers;

typedef enum ListMethod {
        LIST_REPLACE,
        LIST_NO_REPLACE,
        LIST_APPEND,
        LIST_PREPEND,
} ListMethod;

/* cloud-init picks the first of append, prepend, replace, no_replace that is set. */
static ListMethod list_method(unsigned flags) {
        if (flags & MERGE_APPEND)
                return LIST_APPEND;
        if (flags & MERGE_PREPEND)
                return LIST_PREPEND;
        if (flags & MERGE_REPLACE)
                return LIST_REPLACE;
        if (flags & MERGE_NO_REPLACE)
                return LIST_NO_REPLACE;
        return LIST_REPLACE;
}

static MergerKind merger_kind_from_name(const char *name) {
        if (strneq(name, "m_", 2))
                name += 2;
        for (MergerKind k = 0; k < _MERGER_KIND_MAX; k++)
                if (streq(name, merger_kind_table[k]))
                        return k;
        return _MERGER_KIND_INVALID;
}

static const Merger *mergers_find(const Mergers *m, MergerKind kind) {
        for (size_t i = 0; i < m->n; i++)
                if (m->items[i].kind == kind)
                        return &m->items[i];
        return NULL;
}

/* label names the specification in messages: "merge_how of part-002". */
static int mergers_add(Context *ctx, const char *label, Mergers *m, const char *name, Merger **ret) {
        MergerKind kind = merger_kind_from_name(name);

        if (kind < 0) {
                const char *best = nearest_word(name, merger_kind_table, 2);

                return report_error(ctx, -1, 0, "Unknown merger '%s' in %s, expected 'list', 'dict' or "
                                    "'str'.%s%s%s", name, label, best ? " Did you mean '" : "", best ?: "",
                                    best ? "'?" : "");
        }
        if (m->n >= MERGERS_MAX)
                return report_error(ctx, -1, 0, "More than %d mergers in %s", MERGERS_MAX, label);
        m->items[m->n] = (Merger) {
                .kind = kind,
                .flags = kind == MERGER_DICT ? MERGE_RECURSE_DICT : 0,
        };
        *ret = &m->items[m->n++];
        return 0;
}

static void merger_add_option(Context *ctx, const char *label, Merger *merger, const char *option) {
        for (size_t i = 0; i < ELEMENTSOF(merge_option_table); i++)
                if (streq(option, merge_option_table[i].name) &&
                    (merger_options[merger->kind] & merge_option_table[i].flag)) {
                        merger->flags |= merge_option_table[i].flag;
                        return;
                }
        report_warning(ctx, -1, "Option '%s' in %s has no effect on the '%s' merger, ignoring.", option,
                       label, merger_kind_table[merger->kind]);
}

static char *strip_blanks(char *s) {
        size_t n;

        while (isspace((unsigned char) *s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* One MERGER of the string form, changed in place: lowercase, '-' read as '_'. */
static int mergers_parse_one(Context *ctx, const char *label, char *text, Mergers *m) {
        char *name = strip_blanks(text), *options, *next;
        size_t name_length, length, n_options = 0;
        Merger *merger;
        int r;

        for (char *c = name; *c; c++)
                *c = *c == '-' ? '_' : (char) tolower((unsigned char) *c);
        if (!*name)
                return 0;
        length = strlen(name);
        name_length = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (name_length == 0 || isdigit((unsigned char) name[0]) || name[name_length] != '(' ||
            length < name_length + 2 || name[length - 1] != ')' || strchr(name, '\n'))
                return report_error(ctx, -1, 0, "Invalid merger '%s' in %s, expected NAME(OPTION,...) "
                                    "such as 'list(append)'", name, label);
        name[name_length] = '\0';
        name[length - 1] = '\0';
        options = name + name_length + 1;

        r = mergers_add(ctx, label, m, name, &merger);
        if (r < 0)
                return r;
        for (char *option = options; option; option = next) {
                next = strchr(option, ',');
                if (next)
                        *next++ = '\0';
                option = strip_blanks(option);
                if (!*option)
                        continue;
                if (++n_options > MERGER_OPTIONS_MAX)
                        return report_error(ctx, -1, 0, "More than %d options for one merger in %s",
                                            MERGER_OPTIONS_MAX, label);
                merger_add_option(ctx, label, merger, option);
        }
        return 0;
}

static int mergers_parse_string(Context *ctx, const char *label, const char *text, Mergers *m) {
        _cleanup_free_ char *copy = strdup(text);
        char *next;

        if (!copy)
                return -ENOMEM;
        for (char *piece = copy; piece; piece = next) {
                int r;

                next = strchr(piece, '+');
                if (next)
                        *next++ = '\0';
                r = mergers_parse_one(ctx, label, piece, m);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One item of the list form: {name: NAME, settings: [...]} or [NAME, OPTION, ...]. */
static int mergers_parse_item(Context *ctx, const char *label, size_t index, const json_t *item,
                              Mergers *m) {
        _cleanup_free_ char *copy = NULL;
        const json_t *options, *option;
        size_t first, j;
        char *name;
        Merger *merger;
        int r;

        if (json_is_object(item)) {
                options = json_object_get(item, "settings");
                if (!json_is_string(json_object_get(item, "name")) || !json_is_array(options))
                        return report_error(ctx, -1, 0, "Invalid merger at index %zu of %s, expected a "
                                            "mapping with a string 'name' and a list 'settings'", index,
                                            label);
                copy = strdup(json_string_value(json_object_get(item, "name")));
                if (!copy)
                        return -ENOMEM;
                for (char *c = copy; *c; c++)
                        if (*c == '-')
                                *c = '_';
                name = strip_blanks(copy);
                first = 0;
        } else if (json_is_array(item) && json_is_string(json_array_get(item, 0))) {
                options = item;
                name = (char *) json_string_value(json_array_get(item, 0));
                first = 1;
        } else
                return report_error(ctx, -1, 0, "Invalid merger at index %zu of %s, expected {name: NAME, "
                                    "settings: [OPTION, ...]} or [NAME, OPTION, ...]", index, label);

        /* cloud-init skips an item with an empty name. */
        if (!*name)
                return 0;
        r = mergers_add(ctx, label, m, name, &merger);
        if (r < 0)
                return r;
        if (json_array_size(options) > MERGER_OPTIONS_MAX + first)
                return report_error(ctx, -1, 0, "More than %d options for one merger in %s",
                                    MERGER_OPTIONS_MAX, label);
        json_array_foreach(options, j, option) {
                if (j < first)
                        continue;
                if (!json_is_string(option)) {
                        report_warning(ctx, -1, "Option at index %zu of merger %zu in %s is not a string, "
                                       "ignoring.", j, index, label);
                        continue;
                }
                merger_add_option(ctx, label, merger, json_string_value(option));
        }
        return 0;
}

/* Take merge_how, or merge_type when merge_how is absent or null, out of doc and append the
 * mergers it names to m. owner names doc in messages. */
static int mergers_extract(Context *ctx, const char *owner, json_t *doc, Mergers *m) {
        static const char *const keys[] = { "merge_how", "merge_type" };
        _cleanup_free_ char *label = NULL;
        json_auto_t *spec = NULL;
        const char *key = NULL;
        const json_t *item;
        size_t i;
        int r;

        for (i = 0; i < ELEMENTSOF(keys) && (!spec || json_is_null(spec)); i++) {
                json_decref(spec);
                key = keys[i];
                spec = json_incref(json_object_get(doc, key));
                (void) json_object_del(doc, key);
        }
        if (!spec || json_is_null(spec))
                return 0;
        if (asprintf(&label, "%s of %s", key, owner) < 0)
                return -ENOMEM;
        if (json_is_string(spec))
                return mergers_parse_string(ctx, label, json_string_value(spec), m);
        if (!json_is_array(spec))
                return report_error(ctx, -1, 0, "Invalid %s, expected a string such as "
                                    "'list(append)+dict()+str()' or a list of mergers", label);
        json_array_foreach(spec, i, item) {
                r = mergers_parse_item(ctx, label, i, item, m);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Merging ---- */

typedef struct MergeRun {
        Context *ctx;
        const char *owner;      /* "part-002", for messages */
        const Mergers *mergers;
        ConfigPath path;        /* the value being merged */
        char error[256];        /* why the merge failed, when it returned -EINVAL */
} MergeRun;

static int merge_fail(MergeRun *run, const char *fmt, ...) _printf_(2, 3);
static int merge_fail(MergeRun *run, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(run->error, sizeof(run->error), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *run_path(const MergeRun *run) {
        if (!config_path_valid(&run->path))
                return "(a deeply nested value)";
        return run->path.length == 0 ? "/" : run->path.text;
}

static MergerKind merger_kind_of(const json_t *v) {
        if (json_is_object(v))
                return MERGER_DICT;
        if (json_is_array(v))
                return MERGER_LIST;
        if (json_is_string(v))
                return MERGER_STR;
        return _MERGER_KIND_INVALID;
}

/* Whether a merger with these flags merges the later value into the earlier one. */
static bool merger_descends(unsigned flags, const json_t *later) {
        return (json_is_array(later) && (flags & MERGE_RECURSE_ARRAY)) ||
               (json_is_string(later) && (flags & MERGE_RECURSE_STR)) ||
               (json_is_object(later) && (flags & MERGE_RECURSE_DICT));
}

static int merge_value(MergeRun *run, const ConfigNode *old, const ConfigNode *new, ConfigNode *ret);

static int merge_dict_value(MergeRun *run, const Merger *m, const ConfigNode *old, const ConfigNode *new,
                            ConfigNode *ret) {
        if (m->flags & MERGE_REPLACE) {
                config_node_ref(new, ret);
                return 0;
        }
        if (merger_descends(m->flags, new->value))
                return merge_value(run, old, new, ret);
        config_node_ref(old, ret);
        return 0;
}

static int merge_dict(MergeRun *run, const Merger *m, const ConfigNode *old, const ConfigNode *new,
                      ConfigNode *ret) {
        _cleanup_(config_node_done) ConfigNode result = {};
        const char *key;
        json_t *value;
        int r;

        if (!json_is_object(new->value)) {
                config_node_ref(old, ret);
                return 0;
        }
        r = config_node_copy_object(old, &result);
        if (r < 0)
                return r;

        json_object_foreach(new->value, key, value) {
                _cleanup_(config_node_done) ConfigNode merged = {};
                ConfigNode later = config_node_child_key(new, key);
                ConfigNode earlier = config_node_child_key(&result, key);
                size_t saved;

                if (!earlier.value) {
                        r = config_node_object_set(&result, key, &later);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (json_is_null(value) && (m->flags & MERGE_ALLOW_DELETE)) {
                        config_node_object_del(&result, key);
                        continue;
                }
                saved = config_path_push(&run->path, key);
                r = merge_dict_value(run, m, &earlier, &later, &merged);
                if (r < 0)
                        return r;
                config_path_pop(&run->path, saved);
                r = config_node_object_set(&result, key, &merged);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_CONFIG_NODE(result);
        return 0;
}

/* The length of the UTF-8 sequence that starts with byte c; 1 for a byte that cannot start one. */
static size_t utf8_sequence_length(unsigned char c) {
        if (c >= 0xf0)
                return 4;
        if (c >= 0xe0)
                return 3;
        if (c >= 0xc0)
                return 2;
        return 1;
}

/* Add the items of src to dst as Python's list.extend(), and so cloud-init, does. A string adds
 * its characters and a mapping its keys. Any other value that is not a list cannot be added. */
static int list_extend(MergeRun *run, ConfigNode *dst, const ConfigNode *src) {
        const char *key;
        json_t *item;
        size_t i;
        int r;

        if (json_is_array(src->value)) {
                json_array_foreach(src->value, i, item) {
                        ConfigNode child = config_node_child_index(src, i);

                        r = config_node_array_append(dst, &child);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (json_is_string(src->value)) {
                const char *s = json_string_value(src->value);
                size_t length = json_string_length(src->value);

                report_warning(run->ctx, -1, "cloud-config %s: the string at '%s' is merged into a list one "
                               "character at a time, as cloud-init does; write it as a list.", run->owner,
                               run_path(run));
                for (i = 0; i < length;) {
                        size_t n = MIN(utf8_sequence_length((unsigned char) s[i]), length - i);

                        r = config_node_array_append_new(dst, json_stringn_nocheck(s + i, n));
                        if (r < 0)
                                return r;
                        i += n;
                }
                return 0;
        }
        if (json_is_object(src->value)) {
                report_warning(run->ctx, -1, "cloud-config %s: the mapping at '%s' is merged into a list "
                               "as its keys, as cloud-init does; write it as a list.", run->owner,
                               run_path(run));
                json_object_foreach(src->value, key, item) {
                        r = config_node_array_append_new(dst, json_string_nocheck(key));
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        return merge_fail(run, "cannot add %s to a list", config_value_kind(src->value));
}

/* replace and no_replace: index by index over the indexes both lists have. */
static int merge_list_items(MergeRun *run, const Merger *m, const ConfigNode *old, const ConfigNode *new,
                            ConfigNode *result) {
        bool keep = list_method(m->flags) == LIST_NO_REPLACE;
        json_t *item;
        size_t i;
        int r;

        /* Only no_replace gets here with a later value that is not a list. cloud-init then takes
         * its length and indexes it: that works for a string, fails for a mapping with members
         * (unless the list is empty) and for anything without a length. */
        if (!json_is_array(new->value) && !json_is_string(new->value) &&
            !(json_is_object(new->value) &&
              (json_object_size(new->value) == 0 || json_array_size(old->value) == 0)))
                return merge_fail(run, "cannot merge %s into a list with 'no_replace'",
                                  config_value_kind(new->value));

        json_array_foreach(old->value, i, item) {
                _cleanup_(config_node_done) ConfigNode merged = {};
                ConfigNode earlier = config_node_child_index(old, i);
                ConfigNode later = config_node_child_index(new, i);
                size_t saved;

                if (keep || !later.value) {
                        r = config_node_array_append(result, &earlier);
                        if (r < 0)
                                return r;
                        continue;
                }
                saved = config_path_push_index(&run->path, i);
                if (merger_descends(m->flags, later.value))
                        r = merge_value(run, &earlier, &later, &merged);
                else {
                        config_node_ref(&later, &merged);
                        r = 0;
                }
                if (r < 0)
                        return r;
                config_path_pop(&run->path, saved);
                r = config_node_array_append(result, &merged);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int merge_list(MergeRun *run, const Merger *m, const ConfigNode *old, const ConfigNode *new,
                      ConfigNode *ret) {
        _cleanup_(config_node_done) ConfigNode result = {};
        ListMethod method = list_method(m->flags);
        int r;

        if (method == LIST_REPLACE && !json_is_array(new->value)) {
                config_node_ref(new, ret);
                return 0;
        }
        r = config_node_new_array(old, &result);
        if (r < 0)
                return r;
        switch (method) {
        case LIST_APPEND:
                r = list_extend(run, &result, old);
                if (r >= 0)
                        r = list_extend(run, &result, new);
                break;
        case LIST_PREPEND:
                r = list_extend(run, &result, new);
                if (r >= 0)
                        r = list_extend(run, &result, old);
                break;
        case LIST_REPLACE:
        case LIST_NO_REPLACE:
                r = merge_list_items(run, m, old, new, &result);
                break;
        }
        if (r < 0)
                return r;
        *ret = TAKE_CONFIG_NODE(result);
        return 0;
}

static int merge_str(MergeRun *run, const Merger *m, const ConfigNode *old, const ConfigNode *new,
                     ConfigNode *ret) {
        _cleanup_free_ char *joined = NULL;
        size_t a, b;

        if (!(m->flags & MERGE_APPEND)) {
                config_node_ref(new, ret);
                return 0;
        }
        if (!json_is_string(new->value))
                return merge_fail(run, "cannot append %s to a string", config_value_kind(new->value));
        a = json_string_length(old->value);
        b = json_string_length(new->value);
        joined = malloc(a + b + 1);
        if (!joined)
                return -ENOMEM;
        memcpy(joined, json_string_value(old->value), a);
        memcpy(joined + a, json_string_value(new->value), b);
        ret->value = json_stringn_nocheck(joined, a + b);
        if (!ret->value)
                return -ENOMEM;
        ret->shadow = json_incref(old->shadow);
        return 0;
}

/* Merge new into old (both borrowed) with the merger for old's type, into *ret (owned). */
static int merge_value(MergeRun *run, const ConfigNode *old, const ConfigNode *new, ConfigNode *ret) {
        MergerKind kind = merger_kind_of(old->value);
        const Merger *m = kind < 0 ? NULL : mergers_find(run->mergers, kind);

        if (!m) {
                config_node_ref(old, ret);
                return 0;
        }
        /* No default case: the compiler flags a kind that is not handled. */
        switch (m->kind) {
        case MERGER_DICT:
                return merge_dict(run, m, old, new, ret);
        case MERGER_LIST:
                return merge_list(run, m, old, new, ret);
        case MERGER_STR:
                return merge_str(run, m, old, new, ret);
        case _MERGER_KIND_MAX:
        case _MERGER_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

/* Apply a #cloud-config-jsonp part to buf, all its operations or none. */
static int merge_patch_part(Context *ctx, const Part *part, ConfigNode *buf) {
        _cleanup_(config_node_done) ConfigNode doc = {};
        JsonPatchError err = {};
        const char *data = part->data;
        size_t size = part->size;
        int r;

        /* As in cloud-init, the header line may come before the JSON text. */
        while (size > 0 && isspace((unsigned char) *data))
                data++, size--;
        if (size >= strlen(JSONP_HEADER) && strneq(data, JSONP_HEADER, strlen(JSONP_HEADER))) {
                data += strlen(JSONP_HEADER);
                size -= strlen(JSONP_HEADER);
        }

        config_node_ref(buf, &doc);
        r = json_patch_apply(data, size, &doc, &err);
        if (r == -EINVAL)
                return report_error(ctx, -1, 0, "Failed to apply cloud-config-jsonp %s: %s; nothing from "
                                    "this part is applied", part->name, err.message);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to apply cloud-config-jsonp %s: %m", part->name);
        if (!json_is_object(doc.value))
                return report_error(ctx, -1, 0, "Failed to apply cloud-config-jsonp %s: the result is %s, "
                                    "not a mapping; nothing from this part is applied", part->name,
                                    config_value_kind(doc.value));
        config_node_done(buf);
        *buf = TAKE_CONFIG_NODE(doc);
        return 0;
}

/* ---- Parts and layers ---- */

/* Lines after the header that start with '#!' mean a script was pasted after the YAML. */
static bool has_script_line(const char *data) {
        for (const char *p = strchr(data, '\n'); p; p = strchr(p + 1, '\n'))
                if (strneq(p + 1, "#!", 2))
                        return true;
        return false;
}

static bool part_is_vendor(const Part *p) {
        /* The decoder also names vendor parts "vendor-part-NNN". */
        return p->vendor || strneq(p->name, "vendor-", 7);
}

/* Parse a cloud-config part into *ret. ret->value stays NULL for an empty document. */
static int part_parse(Context *ctx, const Part *part, ConfigNode *ret) {
        json_auto_t *doc = NULL, *warnings = NULL, *positions = NULL;
        YamlError err = {};
        json_t *w;
        size_t i;
        int r;

        r = yaml_parse_json(part->data, part->size, &doc, &warnings, &positions, &err);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to parse cloud-config %s at line %u, column %u: %s; "
                                    "nothing from this part is applied%s",
                                    part->name, err.line, err.column, err.message,
                                    has_script_line(part->data) ?
                                    ". To combine cloud-config with a script, send them as parts of a MIME "
                                    "multipart archive" : "");

        json_array_foreach(warnings, i, w)
                report_warning(ctx, -1, "cloud-config %s line %d: %s", part->name,
                               (int) json_integer_value(json_object_get(w, "line")),
                               json_string_value(json_object_get(w, "message")));

        if (json_is_null(doc)) {
                log_info("cloud-config %s is empty.", part->name);
                return 0;
        }
        if (!json_is_object(doc))
                return report_error(ctx, -1, 0, "cloud-config %s is not a mapping of keys to values; "
                                    "nothing from this part is applied", part->name);

        return config_node_from_positions(doc, positions, ret);
}

static int merge_cloud_config_part(Context *ctx, const Part *part, ConfigNode *buf) {
        _cleanup_(config_node_done) ConfigNode doc = {}, merged = {};
        MergeRun run = { .ctx = ctx, .owner = part->name };
        Mergers mergers = {};
        int r;

        r = part_parse(ctx, part, &doc);
        if (r < 0 || !doc.value)
                return r;

        /* The part's own merge_how comes first, then its Merge-Type header. */
        r = mergers_extract(ctx, part->name, doc.value, &mergers);
        if (r >= 0 && part->merge_how && *part->merge_how) {
                _cleanup_free_ char *label = NULL;

                if (asprintf(&label, "the Merge-Type header of %s", part->name) < 0)
                        return -ENOMEM;
                r = mergers_parse_string(ctx, label, part->merge_how, &mergers);
        }
        if (r >= 0 && mergers.n == 0)
                r = mergers_parse_string(ctx, "the default mergers", PART_MERGERS_DEFAULT, &mergers);
        if (r < 0)
                return r;

        if (!mergers_find(&mergers, MERGER_DICT)) {
                report_warning(ctx, -1, "The mergers of cloud-config %s include no 'dict' merger, so "
                               "nothing from this part is merged, as in cloud-init. Add 'dict()' to its "
                               "merge_how or Merge-Type.", part->name);
                return 0;
        }

        run.mergers = &mergers;
        r = merge_value(&run, buf, &doc, &merged);
        if (r == -EINVAL)
                return report_error(ctx, -1, 0, "Failed to merge cloud-config %s at '%s': %s; nothing from "
                                    "this part is applied", part->name, run_path(&run), run.error);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to merge cloud-config %s: %m", part->name);
        config_node_done(buf);
        *buf = TAKE_CONFIG_NODE(merged);
        return 0;
}

/* Merge the cloud-config parts of the user data (or of the vendor data) in order into *ret. */
static int merge_parts(Context *ctx, bool vendor, ConfigNode *ret) {
        ConfigNode buf = { json_object(), NULL };
        int result = 0;

        if (!buf.value)
                return -ENOMEM;
        for (size_t i = 0; i < ctx->n_parts; i++) {
                const Part *p = &ctx->parts[i];
                int r;

                if (part_is_vendor(p) != vendor)
                        continue;
                if (p->type == PART_CLOUD_CONFIG)
                        r = merge_cloud_config_part(ctx, p, &buf);
                else if (p->type == PART_CLOUD_CONFIG_JSONP)
                        r = merge_patch_part(ctx, p, &buf);
                else
                        continue;
                if (r == -ENOMEM) {
                        config_node_done(&buf);
                        return r;
                }
                if (r < 0 && result == 0)
                        result = r;
        }
        *ret = buf;
        return result;
}

/* Merge one layer into *merged as cloud-init's mergemanydict() does. owner names it in messages. */
static int merge_layer(Context *ctx, const char *owner, const ConfigNode *layer, ConfigNode *merged) {
        _cleanup_(config_node_done) ConfigNode copy = {}, result = {};
        MergeRun run = { .ctx = ctx, .owner = owner };
        Mergers mergers = {};
        int r, k;

        if (json_object_size(layer->value) == 0)
                return 0;
        /* merge_how is taken out of a copy: the image configuration itself stays as it is. */
        r = config_node_copy_object(layer, &copy);
        if (r < 0)
                return r;
        r = mergers_extract(ctx, owner, copy.value, &mergers);
        if (r < 0)
                mergers.n = 0;
        if (mergers.n == 0) {
                k = mergers_parse_string(ctx, "the default mergers", LAYER_MERGERS_DEFAULT, &mergers);
                if (k < 0)
                        return k;
        }

        if (!mergers_find(&mergers, MERGER_DICT)) {
                report_warning(ctx, -1, "The mergers of %s include no 'dict' merger, so nothing from it is "
                               "merged, as in cloud-init.", owner);
                return r;
        }

        run.mergers = &mergers;
        k = merge_value(&run, merged, &copy, &result);
        if (k == -EINVAL)
                return report_error(ctx, -1, 0, "Failed to merge %s at '%s': %s; it is left out", owner,
                                    run_path(&run), run.error);
        if (k < 0)
                return report_error(ctx, -1, k, "Failed to merge %s: %m", owner);
        config_node_done(merged);
        *merged = TAKE_CONFIG_NODE(result);
        return r;
}

int userdata_merge(Context *ctx) {
        _cleanup_(config_node_done) ConfigNode user = {}, vendor = {}, merged = {};
        json_auto_t *positions = NULL;
        const ConfigNode image = { ctx->system_config, NULL };
        const struct {
                const char *owner;
                const ConfigNode *layer;
        } layers[] = {
                { "the user data", &user },
                { "the vendor data", &vendor },
                { "the image configuration", &image },
        };
        int result, r;

        result = merge_parts(ctx, /* vendor= */ true, &vendor);
        if (result == -ENOMEM)
                return result;
        r = merge_parts(ctx, /* vendor= */ false, &user);
        if (r == -ENOMEM)
                return r;
        if (result == 0)
                result = r;

        merged.value = json_object();
        if (!merged.value)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(layers); i++) {
                r = merge_layer(ctx, layers[i].owner, layers[i].layer, &merged);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && result == 0)
                        result = r;
        }

        r = config_node_positions(&merged, &positions);
        if (r < 0)
                return r;

        /* A copy that shares no node with the parts, so that no change to it reaches them. */
        json_decref(ctx->config);
        ctx->config = json_deep_copy(merged.value);
        if (!ctx->config)
                return -ENOMEM;
        json_decref(ctx->config_positions);
        ctx->config_positions = TAKE_PTR(positions);
        return result;
}
