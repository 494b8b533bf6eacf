/* SPDX-License-Identifier: Apache-2.0 */
/* Declarations of cloud-config keys: the keys each module owns and the shapes their values may
 * take, and the walk that checks a document against them (schema.c). Each module declares its
 * keys once, in a static table in its own file. `kiln validate` checks user data against the
 * tables, `kiln run` warns about keys that no table declares, and `kiln validate --print-schema`
 * turns the tables into a JSON Schema for editors. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "build-config.h"

/* A key's description, for editors, in the JSON Schema. The distribution packages configure
 * -Dschema_descriptions=false, which leaves the descriptions out of the binary to keep it small,
 * so its --print-schema output has none. The packages install the full schema as
 * KILN_SCHEMA_FILE. */
#if KILN_SCHEMA_DESCRIPTIONS
#define KEY_DESCRIPTION(text) (text)
#else
#define KEY_DESCRIPTION(text) NULL
#endif

/* The kinds of value a key accepts, as bits: SHAPE_STRING | SHAPE_NULL accepts either. */
typedef enum ShapeType {
        SHAPE_STRING = 1 << 0,
        SHAPE_INTEGER = 1 << 1,
        SHAPE_NUMBER = 1 << 2,    /* any number, integer or not */
        SHAPE_BOOLEAN = 1 << 3,
        SHAPE_NULL = 1 << 4,
        SHAPE_LIST = 1 << 5,
        SHAPE_MAPPING = 1 << 6,
} ShapeType;

/* Size of the message buffer that a ShapeCheck fills. */
#define SHAPE_MESSAGE_MAX 1024

/* Returned by a ShapeCheck for a value that the module accepts with a warning. */
#define SHAPE_CHECK_WARNING 1

/* A rule beyond the declared type that the module applies at run time, so that `kiln validate`
 * reaches the verdict that `kiln run` would. It is called for a value of an accepted type, null
 * included, once the value's items and fields are valid. It is also called for a value of another
 * type, and when it rejects that value its message replaces the generic one about types.
 * source_text is how an unquoted number was written (0640 or 416), or NULL.
 * Returns 0 when the value is fine, SHAPE_CHECK_WARNING when the module accepts it with a warning,
 * -EINVAL when the module rejects it, or -ENOMEM. For a warning or -EINVAL, message receives a
 * text that follows the key's path as its subject: "is not a valid mode ...". */
typedef int (*ShapeCheck)(const json_t *value, const char *source_text, char *message, size_t size);

typedef struct KeyField KeyField;

typedef struct KeyShape {
        unsigned types;                      /* ShapeType bits */
        /* Read a string such as "yes", "off" or "1" as a boolean with a warning, as cloud-init's
         * get_cfg_option_bool() does; any other string is an error. */
        bool boolean_strings;
        const char *const *values;           /* strings: the accepted values, NULL-terminated, or NULL */
        bool values_fold;                    /* values match ignoring ASCII case and surrounding blanks */
        const char *pattern;                 /* strings: an ECMA-262 regular expression for editors only */
        const struct KeyShape *items;        /* lists: the shape of every item; NULL accepts any */
        const KeyField *fields;              /* mappings: the known keys, ended by a NULL name */
        /* Mappings: the shape of keys that fields does not declare. NULL means such keys get an
         * unknown-key warning, unless fields is NULL too, which accepts any mapping. */
        const struct KeyShape *other_fields;
        ShapeCheck check;                    /* NULL when the type is the whole rule */
} KeyShape;

struct KeyField {
        const char *name;
        KeyShape shape;
        bool required;
        const char *replaced_by;             /* a deprecated name: the key to write instead */
        const char *description;             /* one or two sentences for editors, in the JSON Schema */
};

/* Longest dotted key path ("write_files.2.permissions") that diagnostics show in full. */
#define SCHEMA_PATH_MAX 1024

typedef enum SchemaProblem {
        SCHEMA_UNKNOWN_KEY,      /* warning: no declaration has the key */
        SCHEMA_UNSUPPORTED_KEY,  /* warning: a cloud-init key that kiln does not implement yet */
        SCHEMA_DEPRECATED_KEY,   /* warning: a deprecated name of a declared key */
        SCHEMA_WARNING,          /* the value is accepted, with a warning */
        SCHEMA_ERROR,            /* the value has the wrong shape */
        _SCHEMA_PROBLEM_MAX,
        _SCHEMA_PROBLEM_INVALID = -EINVAL,
} SchemaProblem;

typedef struct SchemaDiagnostic {
        SchemaProblem problem;
        const char *path;        /* dotted key path, "" for the whole document */
        const char *pointer;     /* the same node as a JSON pointer, as yaml_parse_json()'s positions
                                  * name it; NULL when the path was too long to hold */
        const char *suggestion;  /* unknown key: the nearest declared key; deprecated key: its
                                  * replacement; otherwise NULL */
        const char *message;     /* a sentence that names the path but no position */
} SchemaDiagnostic;

/* Called once for each problem that schema_check() finds; d and its strings are borrowed. */
typedef void (*SchemaReportFn)(const SchemaDiagnostic *d, void *userdata);

typedef enum SchemaCheckFlags {
        SCHEMA_KEYS_ONLY = 1 << 0, /* report unknown, unsupported and deprecated keys, not shapes */
} SchemaCheckFlags;

/* Check one cloud-config document (the parsed YAML, any JSON value) against the declarations of
 * every module in module_table and kiln's own top-level keys. positions, from yaml_parse_json()
 * and may be NULL, supplies the source text of numbers. Returns the number of errors reported,
 * or -ENOMEM. */
int schema_check(const json_t *config, const json_t *positions, SchemaCheckFlags flags,
                 SchemaReportFn report, void *userdata);

/* Like schema_check(), with extra_keys (NULL-terminated, or NULL) taken as owned: the keys of
 * exec plugins, whose values the plugins check themselves. */
int schema_check_with_keys(const json_t *config, const json_t *positions, SchemaCheckFlags flags,
                           const char *const *extra_keys, SchemaReportFn report, void *userdata);

/* Whether key is one of kiln's own settings (datasource_list, modules, merge_how ...) rather than
 * a module's key. */
bool schema_key_is_setting(const char *key);

/* Check one value against one shape, as schema_check() checks each declared key; paths start at
 * the value itself (""). Returns the number of errors reported, or -ENOMEM. */
int schema_check_shape(const KeyShape *shape, const json_t *value, const json_t *positions,
                       SchemaCheckFlags flags, SchemaReportFn report, void *userdata);

/* Format the warning about a key problem (unknown, unsupported or deprecated key) into buf, with
 * at (" at line 3", or "") after the key's path. */
void schema_key_message(const SchemaDiagnostic *d, const char *at, char *buf, size_t size);

/* The JSON Schema (draft-07) of the cloud-config keys that kiln declares (caller owns it), or
 * NULL on allocation failure. */
json_t *schema_to_json_schema(void);
