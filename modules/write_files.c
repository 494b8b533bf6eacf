/* SPDX-License-Identifier: Apache-2.0 */
/* The write_files module: writes the files listed under the cloud-config key write_files, with
 * the decoding, owner and mode that each entry requests, using cloud-init's keys and value shapes.
 * This file parses the entries and declares the keys, and write-files-apply.c writes them. */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "write-files-internal.h"

#define WRITE_FILES_DEFAULT_MODE 0644
#define WRITE_FILES_MODE_MAX 07777

/* The blanks that Python's int() strips around a mode given as a string (ASCII only). */
#define MODE_BLANKS " \t\n\v\f\r"

/* Significant digits that always read back as the same double. */
#define DOUBLE_DIGITS_MAX 17

/* The encoding names cloud-init accepts; they are compared case-insensitively after trimming
 * surrounding whitespace, as cloud-init does. */
static const struct {
        const char *name;
        Encoding encoding;
} encoding_table[] = {
        { "text/plain", ENCODING_TEXT },
        { "b64", ENCODING_BASE64 },
        { "base64", ENCODING_BASE64 },
        { "gz", ENCODING_GZIP },
        { "gzip", ENCODING_GZIP },
        { "gz+b64", ENCODING_GZIP_BASE64 },
        { "gz+base64", ENCODING_GZIP_BASE64 },
        { "gzip+b64", ENCODING_GZIP_BASE64 },
        { "gzip+base64", ENCODING_GZIP_BASE64 },
};

#define ENCODING_NAMES "b64, base64, gz, gzip, gz+b64, gz+base64, gzip+b64, gzip+base64 or text/plain"

typedef int (*EntryKeyParser)(Context *ctx, const json_t *v, FileEntry *e);

static const char *json_type_name(const json_t *v) {
        /* A switch without default, so -Wswitch flags a JSON type added without a name. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
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

/* Parse a boolean key the way cloud-init's get_cfg_option_bool() does: a YAML boolean, null
 * (false), or a string such as "yes". A string is accepted with a warning. */
static int parse_entry_bool(Context *ctx, const FileEntry *e, const char *key, const json_t *v, bool *ret) {
        int r;

        if (json_is_null(v)) {
                *ret = false;
                return 0;
        }
        r = json_parse_boolean(v, ret);
        if (r > 0)
                report_warning(ctx, e->index,
                               "write_files[%d]: %s for '%s' is the string '%s', not a boolean, so it "
                               "is read as %s. Write %s without quotes.",
                               e->index, key, e->path, json_string_value(v),
                               *ret ? "true" : "false", *ret ? "true" : "false");
        if (r >= 0)
                return 0;
        if (json_is_string(v))
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: %s for '%s' must be true or false, got '%s'.",
                                    e->index, key, e->path, json_string_value(v));
        return report_error(ctx, e->index, 0, "write_files[%d]: %s for '%s' must be true or false, got %s.",
                            e->index, key, e->path, json_type_name(v));
}

static int parse_append(Context *ctx, const json_t *v, FileEntry *e) {
        return parse_entry_bool(ctx, e, "append", v, &e->append);
}

static int parse_defer(Context *ctx, const json_t *v, FileEntry *e) {
        return parse_entry_bool(ctx, e, "defer", v, &e->defer);
}

static int parse_content(Context *ctx, const json_t *v, FileEntry *e) {
        if (json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: content for '%s' must be a string, got %s. "
                                    "Quote the value to write it as text.",
                                    e->index, e->path, json_type_name(v));

        /* A !!binary scalar arrives as a string of raw bytes that may contain NUL. */
        e->content = json_string_value(v);
        e->content_size = json_string_length(v);
        e->has_content = true;
        return 0;
}

static Encoding encoding_from_string(const char *s) {
        size_t n;

        while (isspace((unsigned char) *s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;

        for (size_t i = 0; i < ELEMENTSOF(encoding_table); i++)
                if (strlen(encoding_table[i].name) == n && strncasecmp(encoding_table[i].name, s, n) == 0)
                        return encoding_table[i].encoding;

        return _ENCODING_INVALID;
}

static int parse_encoding(Context *ctx, const json_t *v, FileEntry *e) {
        if (json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: encoding for '%s' must be a string, got %s.",
                                    e->index, e->path, json_type_name(v));

        e->encoding = encoding_from_string(json_string_value(v));
        if (e->encoding < 0)
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: unsupported encoding '%s' for '%s'. Use " ENCODING_NAMES ".",
                                    e->index, json_string_value(v), e->path);
        return 0;
}

static int parse_owner(Context *ctx, const json_t *v, FileEntry *e) {
        if (json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: owner for '%s' must be a string such as 'user:group', got %s.",
                                    e->index, e->path, json_type_name(v));

        e->owner = json_string_value(v);
        return 0;
}

/* Octal mode as text, read as Python's int(text, 8) reads it, which is what cloud-init does:
 * optional blanks around it, an optional '+', an optional "0o" or "0O", then octal digits, with
 * single underscores between digits or after the "0o". The value is at most 07777. */
static int mode_from_string(const char *s, mode_t *ret) {
        const char *end = s + strlen(s);
        unsigned long m = 0;
        bool digit_before = false;

        while (s < end && strchr(MODE_BLANKS, *s))
                s++;
        while (end > s && strchr(MODE_BLANKS, end[-1]))
                end--;

        if (s < end && *s == '+')
                s++;
        if (end - s >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
                s += 2;
                if (s < end && *s == '_')
                        s++;
        }
        if (s == end)
                return -EINVAL;

        for (; s < end; s++) {
                if (*s == '_' && digit_before && s + 1 < end && s[1] >= '0' && s[1] <= '7')
                        continue;
                if (*s < '0' || *s > '7')
                        return -EINVAL;
                digit_before = true;
                m = m * 8 + (unsigned long) (*s - '0');
                if (m > WRITE_FILES_MODE_MAX)
                        return -ERANGE;
        }

        *ret = (mode_t) m;
        return 0;
}

static int invalid_permissions(Context *ctx, const FileEntry *e, const char *value_text) {
        return report_error(ctx, e->index, 0,
                            "write_files[%d]: invalid permissions '%s' for %s. "
                            "Give an octal mode from 0 to 07777 as a string, such as '0644'.",
                            e->index, value_text, e->path);
}

/* A number as a message shows it: with the fewest digits that read back as the same number, so
 * 3.14 is not shown as 3.1400000000000001. For when the source text is unknown. */
static const char *format_number(const json_t *v, char buf[static 64]) {
        if (json_is_integer(v)) {
                (void) snprintf(buf, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        for (int digits = 1; digits <= DOUBLE_DIGITS_MAX; digits++) {
                (void) snprintf(buf, 64, "%.*g", digits, json_real_value(v));
                if (strtod(buf, NULL) == json_real_value(v))
                        break;
        }
        return buf;
}

/* The source text of a decimal integer mode with its underscores and sign removed, when it has only
 * octal digits: the author of 755 most likely meant 0755. NULL otherwise. */
static const char *octal_reading(const char *text, char buf[static 64]) {
        size_t n = 0;

        if (*text == '+')
                text++;
        for (; *text; text++) {
                if (*text == '_')
                        continue;
                if (*text < '0' || *text > '7' || n >= 62)
                        return NULL;
                buf[n++] = *text;
        }
        if (n == 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static void warn_decimal_permissions(Context *ctx, const FileEntry *e, const char *text) {
        char digits[64];

        if (octal_reading(text, digits))
                report_warning(ctx, e->index,
                               "write_files[%d]: permissions %s for %s are read as the decimal number %s, "
                               "which is mode 0%o. Did you mean '0%s'? Quote the octal mode to make the intent clear.",
                               e->index, text, e->path, text, (unsigned) e->mode, digits);
        else
                report_warning(ctx, e->index,
                               "write_files[%d]: permissions %s for %s are read as the decimal number %s, "
                               "which is mode 0%o. Quote the octal mode ('0%o') to make the intent clear.",
                               e->index, text, e->path, text, (unsigned) e->mode, (unsigned) e->mode);
}

/* An integer is the mode itself, because YAML 1.1 already read an unquoted 0640 as octal. An
 * integer written in decimal (384) is almost always a mode someone converted, so it gets a
 * warning. A string is always octal. */
static int parse_permissions(Context *ctx, const json_t *v, FileEntry *e) {
        char pointer[64], buf[64];
        const char *source_text, *text;
        json_int_t m;

        if (json_is_null(v))
                return 0;

        if (json_is_string(v)) {
                if (mode_from_string(json_string_value(v), &e->mode) < 0)
                        return invalid_permissions(ctx, e, json_string_value(v));
                return 0;
        }

        if (!json_is_number(v)) {
                _cleanup_free_ char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

                return invalid_permissions(ctx, e, dump ?: json_type_name(v));
        }

        /* The source text, as the user wrote the number, is known when the YAML parser recorded it. */
        (void) snprintf(pointer, sizeof(pointer), "/write_files/%d/permissions", e->index);
        source_text = config_source_text(ctx, pointer);
        text = source_text ?: format_number(v, buf);
        if (json_is_real(v))
                return invalid_permissions(ctx, e, text);

        m = json_integer_value(v);
        if (m < 0 || m > WRITE_FILES_MODE_MAX)
                return invalid_permissions(ctx, e, text);

        e->mode = (mode_t) m;

        /* Source text that starts with 0 is octal (0640), hexadecimal or zero itself, and none of
         * those can be a decimal number mistaken for a mode. */
        if (source_text && source_text[0] != '0')
                warn_decimal_permissions(ctx, e, source_text);
        return 0;
}

/* NOTE: kiln does not download 'source' URLs yet; the inline content is written instead. */
static int parse_source(Context *ctx, const json_t *v, FileEntry *e) {
        e->has_source = true;
        return 0;
}

static const struct {
        const char *key;
        EntryKeyParser parse;
} entry_key_table[] = {
        { "append", parse_append },
        { "content", parse_content },
        { "defer", parse_defer },
        { "encoding", parse_encoding },
        { "owner", parse_owner },
        { "permissions", parse_permissions },
        { "source", parse_source },
};

static EntryKeyParser entry_key_parser(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(entry_key_table); i++)
                if (streq(entry_key_table[i].key, key))
                        return entry_key_table[i].parse;
        return NULL;
}

/* Parse one item of write_files and report every problem against the item. All keys are checked
 * before the first error is returned, so one run lists all of an entry's problems. */
static int entry_parse(Context *ctx, const json_t *item, int index, FileEntry *ret) {
        const json_t *path, *v;
        const char *key;
        int r = 0;

        *ret = (FileEntry) {
                .index = index,
                .content = "",
                .encoding = ENCODING_TEXT,
                .mode = WRITE_FILES_DEFAULT_MODE,
        };

        if (!json_is_object(item))
                return report_error(ctx, index, 0,
                                    "write_files[%d]: expected a mapping with at least 'path', got %s.",
                                    index, json_type_name(item));

        path = json_object_get(item, "path");
        if (!path || json_is_null(path))
                return report_error(ctx, index, 0, "write_files[%d]: missing 'path'.", index);
        if (!json_is_string(path) || json_string_length(path) == 0 ||
            strlen(json_string_value(path)) != json_string_length(path))
                return report_error(ctx, index, 0,
                                    "write_files[%d]: path must be a non-empty string without NUL bytes.",
                                    index);
        ret->path = json_string_value(path);

        json_object_foreach((json_t *) item, key, v) {
                EntryKeyParser parse;
                int k;

                if (streq(key, "path"))
                        continue;

                /* runner_check_keys() warns about unknown keys, from the declarations. */
                parse = entry_key_parser(key);
                if (!parse)
                        continue;

                k = parse(ctx, v, ret);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (r < 0)
                return r;

        if (ret->has_source) {
                if (!ret->has_content)
                        return report_error(ctx, index, 0,
                                            "write_files[%d]: kiln cannot download 'source' URLs yet, and "
                                            "'%s' has no 'content' to write instead.",
                                            index, ret->path);
                report_warning(ctx, index,
                               "write_files[%d]: kiln cannot download 'source' URLs yet, so it writes the "
                               "'content' of '%s' instead, ignoring source.", index, ret->path);
        }

        return 0;
}

static bool name_in_list(const char *name, const char *list) {
        size_t n = strlen(name);

        /* cloud-init also takes users and groups as one comma-separated string. */
        for (const char *p = list; *p;) {
                size_t len;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (len == n && strneq(p, name, n))
                        return true;
                p += len;
        }
        return false;
}

/* True when the cloud-config creates the user or group name under 'users:' or 'groups:'. */
static bool account_declared(const json_t *config, const char *key, const char *name) {
        const json_t *list = json_object_get(config, key), *item;
        size_t i;

        if (json_is_string(list))
                return name_in_list(name, json_string_value(list));
        if (json_is_object(list))
                return json_object_get(list, name) != NULL;

        json_array_foreach(list, i, item) {
                if (json_is_string(item) && streq(json_string_value(item), name))
                        return true;
                if (json_is_object(item)) {
                        const json_t *n = json_object_get(item, "name");

                        if (json_is_string(n) && streq(json_string_value(n), name))
                                return true;
                        /* groups: [{admins: [alice]}] names the group by its key. */
                        if (!n && json_object_get(item, name))
                                return true;
                }
        }
        return false;
}

/* Whether an item belongs to the deferred stage: 'defer' is true, or its owner is a user or
 * group that this cloud-config creates, which exists only after the users module ran. Items that
 * cannot be parsed belong to the first stage, which reports them. */
static bool item_is_deferred(const json_t *config, const json_t *item) {
        _cleanup_free_ char *buf = NULL;
        const json_t *defer, *owner;
        const char *user, *group;

        if (!json_is_object(item))
                return false;

        defer = json_object_get(item, "defer");
        if (json_is_true(defer) || (json_is_string(defer) && parse_boolean(json_string_value(defer)) > 0))
                return true;

        owner = json_object_get(item, "owner");
        if (!json_is_string(owner))
                return false;
        buf = strdup(json_string_value(owner));
        if (!buf)
                return false;
        owner_split(buf, &user, &group);

        return (user && account_declared(config, "users", user)) ||
               (group && account_declared(config, "groups", group));
}

static void write_batch_freep(WriteBatch **b) {
        *b = write_batch_free(*b);
}

static int write_files_run_stage(Context *ctx, const json_t *config, bool deferred) {
        const json_t *list = json_object_get(config, "write_files"), *item;
        _cleanup_(write_batch_freep) WriteBatch *batch = NULL;
        int r, k;
        size_t i;

        if (!list || (json_is_null(list) && deferred))
                return 0;
        /* A key without a value is null, often a template's empty section, so it gets a warning.
         * An explicit empty list requests nothing. */
        if (json_is_null(list)) {
                report_warning(ctx, -1, "write_files has no value (null), nothing to write.");
                return 0;
        }
        if (json_is_array(list) && json_array_size(list) == 0) {
                log_debug("write_files is an empty list, nothing to write.");
                return 0;
        }
        if (!json_is_array(list)) {
                if (deferred)
                        return 0;
                return report_error(ctx, -1, 0, "write_files: expected a list of files, got %s.",
                                    json_type_name(list));
        }

        r = write_batch_new(&batch);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to allocate memory for write_files: %m");

        json_array_foreach(list, i, item) {
                FileEntry e;

                if (item_is_deferred(config, item) != deferred)
                        continue;

                k = entry_parse(ctx, item, (int) i, &e);
                if (k >= 0)
                        k = write_batch_add(ctx, batch, &e);
                if (k < 0 && r == 0)
                        r = k;
        }

        /* The outcome of every commit, including those that entries with dependencies made. */
        k = write_batch_commit(ctx, batch);
        return r < 0 ? r : k;
}

static int write_files_run(Context *ctx, const json_t *config) {
        return write_files_run_stage(ctx, config, false);
}

static int write_files_deferred_run(Context *ctx, const json_t *config) {
        return write_files_run_stage(ctx, config, true);
}

static const char *const write_files_keys[] = { "write_files", NULL };

/* The names of encoding_table, for the declarations. */
static const char *const write_files_encodings[] = {
        "b64", "base64", "gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64", "text/plain", NULL,
};

static int write_files_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (!json_is_null(v))
                return 0;
        (void) snprintf(message, size, "has no value (null), nothing to write.");
        return SHAPE_CHECK_WARNING;
}

static int path_check(const json_t *v, const char *source_text, char *message, size_t size) {
        /* A !!binary string may hold NUL bytes, which no path can. */
        if (!json_is_string(v) || (json_string_length(v) > 0 &&
                                   strlen(json_string_value(v)) == json_string_length(v)))
                return 0;
        (void) snprintf(message, size, "must be a non-empty string without NUL bytes.");
        return -EINVAL;
}

/* The rules of parse_permissions(). */
static int permissions_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char buf[64], digits[64];
        const char *text;
        mode_t mode;

        if (json_is_null(v))
                return 0;
        if (json_is_string(v)) {
                if (mode_from_string(json_string_value(v), &mode) >= 0)
                        return 0;
                text = json_string_value(v);
        } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                   json_integer_value(v) <= WRITE_FILES_MODE_MAX) {
                if (!source_text || source_text[0] == '0')
                        return 0;
                mode = (mode_t) json_integer_value(v);
                if (octal_reading(source_text, digits))
                        (void) snprintf(message, size, "is read as the decimal number %s, which is mode 0%o. Did "
                                        "you mean '0%s'? Quote the octal mode to make the intent clear.",
                                        source_text, (unsigned) mode, digits);
                else
                        (void) snprintf(message, size, "is read as the decimal number %s, which is mode 0%o. Quote "
                                        "the octal mode ('0%o') to make the intent clear.",
                                        source_text, (unsigned) mode, (unsigned) mode);
                return SHAPE_CHECK_WARNING;
        } else if (json_is_number(v))
                text = source_text ?: format_number(v, buf);
        else
                return 0;

        (void) snprintf(message, size, "is an invalid mode '%s'. Give an octal mode from 0 to 07777 as a string, "
                        "such as '0644'.", text);
        return -EINVAL;
}

/* The rules of entry_parse() that involve several keys. */
static int item_check(const json_t *item, const char *source_text, char *message, size_t size) {
        if (!json_is_object(item) || !json_object_get(item, "source"))
                return 0;
        if (!json_is_string(json_object_get(item, "content"))) {
                (void) snprintf(message, size, "has a 'source' but no 'content', and kiln cannot download "
                                "'source' URLs yet.");
                return -EINVAL;
        }
        (void) snprintf(message, size, "has a 'source', which kiln cannot download yet, so it writes the "
                        "'content' instead, ignoring source.");
        return SHAPE_CHECK_WARNING;
}

static const KeyShape header_value = { .types = SHAPE_STRING };

static const KeyField source_fields[] = {
        { .name = "uri", .shape = { .types = SHAPE_STRING }, .required = true,
          .description = KEY_DESCRIPTION("URI to download the content from.") },
        { .name = "headers", .shape = { .types = SHAPE_MAPPING, .other_fields = &header_value },
          .description = KEY_DESCRIPTION("HTTP headers to send with the request.") },
        {}
};

static const KeyField item_fields[] = {
        { .name = "path", .shape = { .types = SHAPE_STRING, .check = path_check }, .required = true,
          .description = KEY_DESCRIPTION("Path of the file to write.") },
        { .name = "content", .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("Content of the file, decoded according to encoding. Default: "
                                         "empty. No newline is added.") },
        { .name = "source", .shape = { .types = SHAPE_MAPPING, .fields = source_fields },
          .description = KEY_DESCRIPTION("Where cloud-init downloads the content from. kiln does not "
                                         "download it yet and writes content instead.") },
        { .name = "owner", .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("Owner and group of the file as 'user:group'. Default: "
                                         "root:root.") },
        { .name = "permissions",
          .shape = { .types = SHAPE_STRING | SHAPE_INTEGER | SHAPE_NULL, .check = permissions_check,
                     .pattern = "^\\s*\\+?(0[oO]_?)?[0-7](_?[0-7])*\\s*$" },
          .description = KEY_DESCRIPTION("Mode as an octal string such as '0644'. An integer is the "
                                         "mode itself, so an unquoted 0644 is octal and 420 is decimal. "
                                         "Default: '0644'.") },
        { .name = "encoding",
          .shape = { .types = SHAPE_STRING | SHAPE_NULL, .values = write_files_encodings, .values_fold = true },
          .description = KEY_DESCRIPTION("How content is encoded: base64 (b64), gzip (gz), gzip then "
                                         "base64, or text/plain. Default: text/plain.") },
        { .name = "append", .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Add content to the end of an existing file instead of "
                                         "replacing it. Default: false.") },
        { .name = "defer", .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Write the file late in the boot, after users and packages. "
                                         "Default: false.") },
        {}
};

static const KeyShape write_files_item = {
        .types = SHAPE_MAPPING,
        .fields = item_fields,
        .check = item_check,
};

static const KeyField write_files_fields[] = {
        {
                .name = "write_files",
                .shape = {
                        .types = SHAPE_LIST | SHAPE_NULL,
                        .items = &write_files_item,
                        .check = write_files_check,
                },
                .description = KEY_DESCRIPTION("Files to write, each with its path, content, encoding, "
                                               "owner and permissions."),
        },
        {}
};

const AgentModule module_write_files = {
        .name = "write_files",
        .config_keys = write_files_keys,
        .config_fields = write_files_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = write_files_run,
};

const AgentModule module_write_files_deferred = {
        .name = "write_files_deferred",
        .config_keys = write_files_keys,
        .config_fields = write_files_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = write_files_deferred_run,
};
