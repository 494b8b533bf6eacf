/* SPDX-License-Identifier: Apache-2.0 */
/* Checking cloud-config against the modules' key declarations (agent/schema.h): the walk that
 * `kiln run` uses to warn about unknown keys, the `kiln validate` command, and the JSON Schema
 * that `kiln validate --print-schema` prints. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "schema.h"

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

/* `kiln validate`: check each file as user data, and with system the cached user data and vendor
 * data of the current instance under root. Prints the findings as text or, with json, as one JSON
 * document. Returns the exit code: 0 when every file is valid (warnings allowed), 1 otherwise. */
int validate_main(const char *root, bool system, bool json, char *const *files, size_t n_files);

/* `kiln validate --print-schema`: print schema_to_json_schema(). Returns the exit code. */
int validate_print_schema(void);
