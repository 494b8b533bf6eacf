/* SPDX-License-Identifier: Apache-2.0 */
/* Checking cloud-config against the key declarations of the modules (schema.h). One walk serves
 * `kiln run`, which only warns about unknown keys, and `kiln validate`, which also checks every
 * value's shape. The same declarations become the JSON Schema of `kiln validate --print-schema`. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/json-util.h"
#include "lib/parse-util.h"
#include "lib/string-util.h"
#include "lib/yaml-util.h"
#include "modules/module.h"
#include "schema.h"

/* Maximum bytes of a value that a message shows before it is cut with "...". */
#define SCHEMA_SHOWN_VALUE_MAX 80

/* Maximum fields of one declared mapping. Declarations are code, so this only sizes a buffer. */
#define SCHEMA_FIELDS_MAX 64

#define SCHEMA_MESSAGE_MAX (SHAPE_MESSAGE_MAX + 2 * SCHEMA_PATH_MAX)

/* Top-level keys of kiln's image configuration (kiln.yaml), which reaches the effective config
 * before user data does. They have no shape here: config.c and the modules read them
 * (system_info.default_user names the image's default user, as in cloud-init's cloud.cfg). */
static const char *const settings_keys[] = { "datasource_list", "datasource", "modules", "system_info", NULL };

/* cloud-init keys that no kiln module handles yet. They are ignored with a warning that calls them
 * unsupported, so a user who relies on one (mounts:, snap:) finds it in the status instead of
 * a green status. */
static const char *const unsupported_keys[] = {
        "snap", "ssh_authorized_keys", "ssh_pwauth", "disable_root", "ssh_deletekeys", "ssh_keys",
        "ssh_genkeytypes", "ssh", "ssh_import_id", "chpasswd", "password", "mounts", "swap", "growpart",
        "resize_rootfs", "disk_setup", "fs_setup", "rsyslog", "keyboard", "apk_repos", "zypper",
        "salt_minion", "puppet", "chef", "ansible", "lxd", "landscape", "ubuntu_pro", "wireguard",
        "random_seed", "manage_resolv_conf", "resolv_conf", "byobu_by_default", "no_ssh_fingerprints",
        "ssh_fp_console_blacklist", "ssh_key_console_blacklist", "write_metadata", "output", "reporting",
        "vendor_data", "drivers", "spacewalk", "mcollective", "seed_random", "rh_subscription", NULL,
};

/* merge_how and merge_type, which a cloud-config part may carry, in cloud-init's shapes. */
static const char *const merge_names[] = { "list", "dict", "str", NULL };
static const char *const merge_settings[] = {
        "allow_delete", "no_replace", "replace", "append", "prepend", "recurse_dict", "recurse_list",
        "recurse_array", "recurse_str", NULL,
};
static const KeyShape merge_setting = { .types = SHAPE_STRING, .values = merge_settings };
static const KeyField merge_rule_fields[] = {
        { .name = "name", .shape = { .types = SHAPE_STRING, .values = merge_names }, .required = true },
        { .name = "settings", .shape = { .types = SHAPE_LIST, .items = &merge_setting }, .required = true },
        {}
};
static const KeyShape merge_rule = { .types = SHAPE_MAPPING, .fields = merge_rule_fields };
static const KeyField merge_fields[] = {
        {
                .name = "merge_how",
                .shape = { .types = SHAPE_STRING | SHAPE_LIST, .items = &merge_rule },
                .description = "How this part merges into the parts before it: a string such as "
                               "'list(append)+dict(recurse_array)+str()', or a list of {name, settings}.",
        },
        {
                .name = "merge_type",
                .shape = { .types = SHAPE_STRING | SHAPE_LIST, .items = &merge_rule },
                .description = "The same as merge_how.",
        },
        {}
};

/* A key that a module owns without declaring its shape: any value. */
static const KeyField undeclared_field = {};

/* One walk over a document: where it is, and where its findings go. */
typedef struct Walk {
        const json_t *positions;
        SchemaCheckFlags flags;
        SchemaReportFn report;
        void *userdata;
        int errors;
        char path[SCHEMA_PATH_MAX];
        char pointer[2 * SCHEMA_PATH_MAX];
        size_t path_length, pointer_length;
        bool truncated;          /* a key did not fit: pointer names no node */
} Walk;

typedef struct WalkMark {
        size_t path_length, pointer_length;
        bool truncated;
} WalkMark;

static void buffer_append(char *buf, size_t size, size_t *length, const char *s, bool escape,
                          bool *truncated) {
        for (; *s; s++) {
                bool two = escape && (*s == '~' || *s == '/');

                if (*length + (two ? 2 : 1) >= size) {
                        *truncated = true;
                        break;
                }
                if (two) {
                        buf[(*length)++] = '~';
                        buf[(*length)++] = *s == '~' ? '0' : '1';
                } else
                        buf[(*length)++] = *s;
        }
        buf[*length] = '\0';
}

/* Step into key: "write_files" + "2" is "write_files.2" and "/write_files/2" (RFC 6901). */
static WalkMark walk_push(Walk *w, const char *key) {
        WalkMark mark = { w->path_length, w->pointer_length, w->truncated };

        if (w->path_length > 0)
                buffer_append(w->path, sizeof(w->path), &w->path_length, ".", false, &w->truncated);
        buffer_append(w->path, sizeof(w->path), &w->path_length, key, false, &w->truncated);
        buffer_append(w->pointer, sizeof(w->pointer), &w->pointer_length, "/", false, &w->truncated);
        buffer_append(w->pointer, sizeof(w->pointer), &w->pointer_length, key, true, &w->truncated);
        return mark;
}

static void walk_pop(Walk *w, WalkMark mark) {
        w->path_length = mark.path_length;
        w->pointer_length = mark.pointer_length;
        w->truncated = mark.truncated;
        w->path[w->path_length] = '\0';
        w->pointer[w->pointer_length] = '\0';
}

static void walk_emit(Walk *w, SchemaProblem problem, const char *suggestion, const char *format, ...)
        _printf_(4, 5);

static void walk_emit(Walk *w, SchemaProblem problem, const char *suggestion, const char *format, ...) {
        char message[SCHEMA_MESSAGE_MAX] = "";
        SchemaDiagnostic d = {
                .problem = problem,
                .path = w->path,
                .pointer = w->truncated ? NULL : w->pointer,
                .suggestion = suggestion,
                .message = message,
        };
        va_list ap;

        if (format) {
                va_start(ap, format);
                (void) vsnprintf(message, sizeof(message), format, ap);
                va_end(ap);
        } else
                schema_key_message(&d, "", message, sizeof(message));
        if (problem == SCHEMA_ERROR)
                w->errors++;
        w->report(&d, w->userdata);
}

void schema_key_message(const SchemaDiagnostic *d, const char *at, char *buf, size_t size) {
        /* No default case: the compiler warns when a problem kind has no message. */
        switch (d->problem) {
        case SCHEMA_UNKNOWN_KEY:
                if (d->suggestion)
                        (void) snprintf(buf, size, "Unknown key '%s'%s, ignoring it. Did you mean '%s'?",
                                        d->path, at, d->suggestion);
                else
                        (void) snprintf(buf, size, "Unknown key '%s'%s, ignoring it.", d->path, at);
                return;
        case SCHEMA_UNSUPPORTED_KEY:
                (void) snprintf(buf, size, "Key '%s'%s is a cloud-init key that this version of kiln "
                                "does not support, ignoring it.", d->path, at);
                return;
        case SCHEMA_DEPRECATED_KEY:
                (void) snprintf(buf, size, "Key '%s'%s is deprecated, write '%s' instead.", d->path, at,
                                d->suggestion ?: "?");
                return;
        case SCHEMA_WARNING:
        case SCHEMA_ERROR:
        case _SCHEMA_PROBLEM_MAX:
        case _SCHEMA_PROBLEM_INVALID:
                break;
        }
        (void) snprintf(buf, size, "%s", d->message ?: "");
}

static unsigned json_shape(const json_t *v) {
        /* No default case: the compiler warns when a JSON type has no shape. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return SHAPE_MAPPING;
        case JSON_ARRAY:
                return SHAPE_LIST;
        case JSON_STRING:
                return SHAPE_STRING;
        case JSON_INTEGER:
                return SHAPE_INTEGER;
        case JSON_REAL:
                return SHAPE_NUMBER;
        case JSON_TRUE:
        case JSON_FALSE:
                return SHAPE_BOOLEAN;
        case JSON_NULL:
                return SHAPE_NULL;
        }
        return 0;
}

static bool shape_accepts(const KeyShape *shape, const json_t *v) {
        unsigned t = json_shape(v);

        if (shape->types == 0)
                return true;
        if (t == SHAPE_INTEGER && (shape->types & SHAPE_NUMBER))
                return true;
        return (shape->types & t) != 0;
}

/* "a string, a list or null" for the types of a shape. */
static void describe_types(unsigned types, char *buf, size_t size) {
        static const struct {
                unsigned type;
                const char *name;
        } names[] = {
                { SHAPE_STRING, "a string" },
                { SHAPE_INTEGER, "an integer" },
                { SHAPE_NUMBER, "a number" },
                { SHAPE_BOOLEAN, "true or false" },
                { SHAPE_LIST, "a list" },
                { SHAPE_MAPPING, "a mapping" },
                { SHAPE_NULL, "null" },
        };
        size_t n = 0, shown = 0, length = 0;

        if (types & SHAPE_NUMBER)
                types &= ~(unsigned) SHAPE_INTEGER;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                n += (types & names[i].type) != 0;
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(names) && length < size; i++) {
                const char *separator = ", ";

                if (!(types & names[i].type))
                        continue;
                shown++;
                if (shown == 1)
                        separator = "";
                else if (shown == n)
                        separator = " or ";
                length += (size_t) snprintf(buf + length, size - length, "%s%s", separator, names[i].name);
        }
}

/* "a list", "the string 'x'", "the boolean false" for a value. Caller owns the result. */
static char *describe_value(const json_t *v) {
        _cleanup_free_ char *shown = NULL;
        char *text = NULL;

        if (json_is_object(v) || json_is_array(v))
                return strdup(json_is_object(v) ? "a mapping" : "a list");
        if (json_is_null(v))
                return strdup("null");
        if (json_is_string(v)) {
                if (asprintf(&text, "the string '%.*s%s'", SCHEMA_SHOWN_VALUE_MAX, json_string_value(v),
                             json_string_length(v) > SCHEMA_SHOWN_VALUE_MAX ? "..." : "") < 0)
                        return NULL;
                return text;
        }
        shown = json_to_message(v, SCHEMA_SHOWN_VALUE_MAX);
        if (!shown || asprintf(&text, "the %s %s", json_is_boolean(v) ? "boolean" : "number", shown) < 0)
                return NULL;
        return text;
}

/* Run a shape's check and report what it finds. Returns 1 when it reported an error, 0, -ENOMEM. */
static int walk_run_check(Walk *w, const KeyShape *shape, const json_t *v) {
        char message[SHAPE_MESSAGE_MAX] = "";
        const char *source_text = w->truncated ? NULL : yaml_position_text(w->positions, w->pointer);
        int r;

        r = shape->check(v, source_text, message, sizeof(message));
        if (r == SHAPE_CHECK_WARNING)
                walk_emit(w, SCHEMA_WARNING, NULL, "%s %s", w->path, message);
        if (r == -EINVAL)
                walk_emit(w, SCHEMA_ERROR, NULL, "%s %s", w->path, message);
        if (r == -ENOMEM)
                return r;
        return r == -EINVAL;
}

/* A value whose type the shape does not accept. */
static int walk_wrong_type(Walk *w, const KeyShape *shape, const json_t *v) {
        _cleanup_free_ char *got = NULL;
        char expected[128];
        int r;

        if (shape->boolean_strings && json_is_string(v)) {
                int b = parse_boolean(json_string_value(v));

                if (b < 0)
                        walk_emit(w, SCHEMA_ERROR, NULL, "%s must be true or false, not '%.*s'.", w->path,
                                  SCHEMA_SHOWN_VALUE_MAX, json_string_value(v));
                else
                        walk_emit(w, SCHEMA_WARNING, NULL, "%s is the string '%s', not a boolean, so it is "
                                  "read as %s. Write %s without quotes.", w->path, json_string_value(v),
                                  b ? "true" : "false", b ? "true" : "false");
                return 0;
        }

        /* The module's own explanation is better than the type names, when it has one. */
        if (shape->check) {
                r = walk_run_check(w, shape, v);
                if (r != 0)
                        return r < 0 ? r : 0;
        }

        got = describe_value(v);
        if (!got)
                return -ENOMEM;
        describe_types(shape->types, expected, sizeof(expected));
        walk_emit(w, SCHEMA_ERROR, NULL, "%s must be %s, not %s.%s", w->path, expected, got,
                  json_is_boolean(v) && (shape->types & SHAPE_STRING) ?
                  " YAML reads unquoted yes, no, on and off as booleans, so quote the value." : "");
        return 0;
}

static bool value_listed(const KeyShape *shape, const char *value) {
        size_t n;

        if (!shape->values_fold) {
                for (const char *const *v = shape->values; *v; v++)
                        if (streq(*v, value))
                                return true;
                return false;
        }

        /* Surrounding whitespace and letter case do not count, as for write_files encodings. */
        while (*value == ' ' || (*value >= '\t' && *value <= '\r'))
                value++;
        n = strlen(value);
        while (n > 0 && (value[n - 1] == ' ' || (value[n - 1] >= '\t' && value[n - 1] <= '\r')))
                n--;
        for (const char *const *v = shape->values; *v; v++)
                if (strlen(*v) == n && strncasecmp(*v, value, n) == 0)
                        return true;
        return false;
}

static void walk_check_value_listed(Walk *w, const KeyShape *shape, const json_t *v) {
        char list[512];
        size_t length = 0;

        if (value_listed(shape, json_string_value(v)))
                return;
        list[0] = '\0';
        for (const char *const *value = shape->values; *value && length < sizeof(list); value++) {
                const char *separator = ", ";

                if (value == shape->values)
                        separator = "";
                else if (!value[1])
                        separator = " or ";
                length += (size_t) snprintf(list + length, sizeof(list) - length, "%s%s", separator, *value);
        }
        walk_emit(w, SCHEMA_ERROR, NULL, "%s has the unsupported value '%.*s'. Use %s.", w->path,
                  SCHEMA_SHOWN_VALUE_MAX, json_string_value(v), list);
}

static int walk_value(Walk *w, const KeyShape *shape, const json_t *v);

static const KeyField *field_find(const KeyField *fields, const char *name) {
        for (const KeyField *f = fields; f && f->name; f++)
                if (streq(f->name, name))
                        return f;
        return NULL;
}

/* The nearest field name to key, for "did you mean". */
static const char *field_suggest(const KeyField *fields, const char *key) {
        const char *names[SCHEMA_FIELDS_MAX + 1];
        size_t n = 0;

        for (const KeyField *f = fields; f && f->name && n < SCHEMA_FIELDS_MAX; f++)
                if (!f->replaced_by)
                        names[n++] = f->name;
        names[n] = NULL;
        return nearest_word(key, names, strlen(key) > 4 ? 2 : 1);
}

static int walk_field(Walk *w, const KeyField *f, const json_t *v) {
        if (f->replaced_by)
                walk_emit(w, SCHEMA_DEPRECATED_KEY, f->replaced_by, NULL);
        return walk_value(w, &f->shape, v);
}

static int walk_mapping(Walk *w, const KeyShape *shape, const json_t *map) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) map, key, v) {
                const KeyField *f = field_find(shape->fields, key);
                WalkMark mark = walk_push(w, key);
                int r = 0;

                if (f)
                        r = walk_field(w, f, v);
                else if (shape->other_fields)
                        r = walk_value(w, shape->other_fields, v);
                else
                        walk_emit(w, SCHEMA_UNKNOWN_KEY, field_suggest(shape->fields, key), NULL);
                walk_pop(w, mark);
                if (r < 0)
                        return r;
        }

        if (w->flags & SCHEMA_KEYS_ONLY)
                return 0;
        for (const KeyField *f = shape->fields; f && f->name; f++)
                if (f->required && !json_object_get(map, f->name))
                        walk_emit(w, SCHEMA_ERROR, NULL, "%s is missing the required key '%s'.", w->path,
                                  f->name);
        return 0;
}

static int walk_list(Walk *w, const KeyShape *items, const json_t *list) {
        json_t *item;
        size_t i;

        json_array_foreach(list, i, item) {
                char index[32];
                WalkMark mark;
                int r;

                (void) snprintf(index, sizeof(index), "%zu", i);
                mark = walk_push(w, index);
                r = walk_value(w, items, item);
                walk_pop(w, mark);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int walk_value(Walk *w, const KeyShape *shape, const json_t *v) {
        bool keys_only = w->flags & SCHEMA_KEYS_ONLY;
        int errors = w->errors, r = 0;

        if (!shape_accepts(shape, v))
                return keys_only ? 0 : walk_wrong_type(w, shape, v);

        if (json_is_string(v) && shape->values && !keys_only)
                walk_check_value_listed(w, shape, v);
        if (json_is_array(v) && shape->items)
                r = walk_list(w, shape->items, v);
        if (json_is_object(v) && (shape->fields || shape->other_fields))
                r = walk_mapping(w, shape, v);
        if (r < 0)
                return r;
        /* The check runs only on values whose items and fields are valid, so a bad element is
         * reported once, not again by the check of the list that contains it. */
        if (shape->check && !keys_only && w->errors == errors)
                return MIN(walk_run_check(w, shape, v), 0);
        return 0;
}

static bool name_listed(const char *name, const char *const *list) {
        for (const char *const *n = list; n && *n; n++)
                if (streq(*n, name))
                        return true;
        return false;
}

/* The declaration of a top-level key: a module's, kiln's own, or &undeclared_field for a key that
 * a module owns without declaring it. NULL when nothing owns the key. */
static const KeyField *top_field_find(const char *key) {
        const KeyField *f;

        for (const AgentModule *const *m = module_table; *m; m++) {
                f = field_find((*m)->config_fields, key);
                if (f)
                        return f;
                if (!(*m)->config_fields && name_listed(key, (*m)->config_keys))
                        return &undeclared_field;
        }
        f = field_find(merge_fields, key);
        if (f)
                return f;
        return name_listed(key, settings_keys) ? &undeclared_field : NULL;
}

/* Every key that a module owns, for suggestions; caller frees the array, not the strings. */
static const char **module_keys(void) {
        size_t n = 0, i = 0;
        const char **keys;

        for (const AgentModule *const *m = module_table; *m; m++)
                for (const char *const *k = (*m)->config_keys; k && *k; k++)
                        n++;
        keys = calloc(n + 1, sizeof(char *));
        if (!keys)
                return NULL;
        for (const AgentModule *const *m = module_table; *m; m++)
                for (const char *const *k = (*m)->config_keys; k && *k; k++)
                        keys[i++] = *k;
        return keys;
}

int schema_check_shape(const KeyShape *shape, const json_t *value, const json_t *positions,
                       SchemaCheckFlags flags, SchemaReportFn report, void *userdata) {
        Walk w = {
                .positions = positions,
                .flags = flags,
                .report = report,
                .userdata = userdata,
        };
        int r;

        r = walk_value(&w, shape, value);
        return r < 0 ? r : w.errors;
}

bool schema_key_is_setting(const char *key) {
        return name_listed(key, settings_keys) || field_find(merge_fields, key);
}

int schema_check(const json_t *config, const json_t *positions, SchemaCheckFlags flags,
                 SchemaReportFn report, void *userdata) {
        return schema_check_with_keys(config, positions, flags, /* extra_keys= */ NULL, report, userdata);
}

int schema_check_with_keys(const json_t *config, const json_t *positions, SchemaCheckFlags flags,
                           const char *const *extra_keys, SchemaReportFn report, void *userdata) {
        _cleanup_free_ const char **keys = NULL;
        Walk w = {
                .positions = positions,
                .flags = flags,
                .report = report,
                .userdata = userdata,
        };
        const char *key;
        json_t *v;

        if (!json_is_object(config)) {
                _cleanup_free_ char *got = describe_value(config);

                if (!(flags & SCHEMA_KEYS_ONLY))
                        walk_emit(&w, SCHEMA_ERROR, NULL, "The cloud-config must be a mapping of keys to "
                                  "values, not %s.", got ?: "something else");
                return w.errors;
        }

        keys = module_keys();
        if (!keys)
                return -ENOMEM;
        json_object_foreach((json_t *) config, key, v) {
                const KeyField *f = top_field_find(key);
                WalkMark mark = walk_push(&w, key);
                int r = 0;

                if (f)
                        r = walk_field(&w, f, v);
                else if (name_listed(key, extra_keys))
                        ; /* an exec plugin owns the key and checks its value */
                else if (name_listed(key, unsupported_keys))
                        walk_emit(&w, SCHEMA_UNSUPPORTED_KEY, NULL, NULL);
                else {
                        const char *near = nearest_word(key, keys, strlen(key) > 4 ? 2 : 1);

                        walk_emit(&w, SCHEMA_UNKNOWN_KEY, near, NULL);
                }
                walk_pop(&w, mark);
                if (r < 0)
                        return r;
        }
        return w.errors;
}

/* The JSON Schema "type" of a shape: one name, a list of names, or NULL for any value. */
static json_t *shape_json_type(unsigned types) {
        static const struct {
                unsigned type;
                const char *name;
        } names[] = {
                { SHAPE_STRING, "string" },
                { SHAPE_INTEGER, "integer" },
                { SHAPE_NUMBER, "number" },
                { SHAPE_BOOLEAN, "boolean" },
                { SHAPE_LIST, "array" },
                { SHAPE_MAPPING, "object" },
                { SHAPE_NULL, "null" },
        };
        json_t *list;

        if (types == 0)
                return NULL;
        if (types & SHAPE_NUMBER)
                types &= ~(unsigned) SHAPE_INTEGER;
        list = json_array();
        for (size_t i = 0; list && i < ELEMENTSOF(names); i++)
                if ((types & names[i].type) && json_array_append_new(list, json_string(names[i].name)) < 0)
                        return json_decref(list), NULL;
        if (json_array_size(list) == 1) {
                json_t *one = json_incref(json_array_get(list, 0));
                json_decref(list);
                return one;
        }
        return list;
}

static json_t *field_to_json(const KeyField *f);

/* A shape as a JSON Schema. Checks that are code (ShapeCheck, boolean strings, values_fold) have no
 * JSON Schema form, so an editor can be stricter than kiln there, never more lenient. */
static json_t *shape_to_json(const KeyShape *shape) {
        json_auto_t *o = json_object(), *properties = NULL, *required = NULL;

        if (!o)
                return NULL;
        if (shape->types && json_object_set_new(o, "type", shape_json_type(shape->types)) < 0)
                return NULL;
        if (shape->values) {
                json_t *values = json_array();

                for (const char *const *v = shape->values; values && *v; v++)
                        (void) json_array_append_new(values, json_string(*v));
                /* "enum" constrains every type, so the other accepted types join it. */
                if (shape->types & SHAPE_NULL)
                        (void) json_array_append_new(values, json_null());
                if (json_object_set_new(o, "enum", values) < 0)
                        return NULL;
        }
        if (shape->pattern && json_object_set_new(o, "pattern", json_string(shape->pattern)) < 0)
                return NULL;
        if (shape->items && json_object_set_new(o, "items", shape_to_json(shape->items)) < 0)
                return NULL;

        if (shape->fields) {
                properties = json_object();
                required = json_array();
                if (!properties || !required)
                        return NULL;
                for (const KeyField *f = shape->fields; f->name; f++) {
                        if (json_object_set_new(properties, f->name, field_to_json(f)) < 0)
                                return NULL;
                        if (f->required && json_array_append_new(required, json_string(f->name)) < 0)
                                return NULL;
                }
                if (json_object_set(o, "properties", properties) < 0)
                        return NULL;
                if (json_array_size(required) > 0 && json_object_set(o, "required", required) < 0)
                        return NULL;
        }
        if (shape->other_fields) {
                if (json_object_set_new(o, "additionalProperties", shape_to_json(shape->other_fields)) < 0)
                        return NULL;
        } else if (shape->fields && json_object_set_new(o, "additionalProperties", json_false()) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *field_to_json(const KeyField *f) {
        json_auto_t *o = json_object(), *shape = shape_to_json(&f->shape);
        char message[128];

        /* The description comes first, where a reader of the file looks for it. */
        if (!o || !shape)
                return NULL;
        if (f->description && json_object_set_new(o, "description", json_string(f->description)) < 0)
                return NULL;
        if (json_object_update(o, shape) < 0)
                return NULL;
        if (f->replaced_by) {
                (void) snprintf(message, sizeof(message), "Deprecated: write '%s' instead.", f->replaced_by);
                /* "deprecated" is JSON Schema 2019-09; editors on draft-07 show deprecationMessage. */
                if (json_object_set_new(o, "deprecated", json_true()) < 0 ||
                    json_object_set_new(o, "deprecationMessage", json_string(message)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

/* Add the fields of one table to properties; a key that several modules declare is added once. */
static int properties_add(json_t *properties, const KeyField *fields) {
        for (const KeyField *f = fields; f && f->name; f++)
                if (!json_object_get(properties, f->name) &&
                    json_object_set_new(properties, f->name, field_to_json(f)) < 0)
                        return -ENOMEM;
        return 0;
}

json_t *schema_to_json_schema(void) {
        json_auto_t *properties = json_object();

        if (!properties)
                return NULL;
        for (const AgentModule *const *m = module_table; *m; m++) {
                if (properties_add(properties, (*m)->config_fields) < 0)
                        return NULL;
                /* A module that owns keys without declaring them accepts any value there. */
                for (const char *const *k = (*m)->config_fields ? NULL : (*m)->config_keys; k && *k; k++)
                        if (!json_object_get(properties, *k) &&
                            json_object_set_new(properties, *k, json_object()) < 0)
                                return NULL;
        }
        if (properties_add(properties, merge_fields) < 0)
                return NULL;

        return json_pack("{s:s, s:s, s:s, s:s, s:O, s:b}",
                         "$schema", "http://json-schema.org/draft-07/schema#",
                         "title", "kiln cloud-config",
                         "description", "The #cloud-config keys that kiln implements and the values it "
                                        "accepts. kiln warns about other keys and ignores them. Generated "
                                        "by 'kiln validate --print-schema'.",
                         "type", "object",
                         "properties", properties,
                         "additionalProperties", 0);
}
