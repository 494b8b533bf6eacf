/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to JSON with libyaml, read the way PyYAML's safe loader reads YAML 1.1, because that is
 * what cloud-init uses. No logging. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* Limits on untrusted YAML. */
#define YAML_DEPTH_MAX 64                 /* nested sequences and mappings, aliases expanded */
#define YAML_ALIAS_EXPANSIONS_MAX 10000   /* nodes that all aliases together add when expanded */

typedef struct YamlError {
        unsigned line;           /* 1-based, 0 when unknown */
        unsigned column;         /* 1-based, 0 when unknown */
        char message[256];
} YamlError;

/* Parse one YAML document into a JSON value.
 * Scalars follow YAML 1.1 implicit typing as PyYAML's SafeLoader does: true/false/yes/no/on/off
 * (lower, Title and UPPER case) are booleans; ~, null, Null, NULL and the empty scalar are null;
 * 0644 is octal, 0x1F hex, 0b101 binary, underscores are allowed in numbers, 1:30 is sexagesimal;
 * floats include .inf and .nan; timestamps stay strings. Quoted scalars are always strings.
 * !!binary scalars become strings holding the decoded bytes (may be non-UTF-8), !!str, !!int,
 * !!float, !!bool and !!null tags are honoured, any other tag is an error. Anchors, aliases and
 * merge keys << work; aliases share the node (json_incref). An empty document yields JSON null.
 * Differences from PyYAML, because the result is JSON:
 *   - mapping keys are strings: a scalar key is its source text, so `1: x` gives "1", `yes: x`
 *     gives "yes" and `0644: x` gives "0644"; a mapping or sequence as a key is an error;
 *   - integers outside int64 are an error; .inf, .nan and float overflow stay strings, with a
 *     warning;
 *   - a stream of several documents yields the first one, with a warning;
 *   - an alias inside the node it refers to is an error;
 *   - << and = as values are the strings "<<" and "=".
 * A line of only spaces and tabs is blank, as a reader sees it (libyaml alone rejects the tab),
 * except inside a block scalar, where a tab past the indentation is content.
 *
 * ret_warnings, when not NULL, receives an array of {"line": N, "column": N, "message": "..."} for
 * things that were accepted but may not be what the author meant (duplicate keys: the last one
 * wins).
 * ret_positions, when not NULL, receives an object mapping JSON-pointer paths such as "/runcmd/0"
 * (the root is "") to where that node starts, or for a mapping value where its key starts: an
 * array [line, column], both 1-based, the column counted in characters, and for an unquoted
 * integer or float scalar [line, column, "source text"], so a caller can tell
 * `permissions: 0640` from `permissions: 416` and show 3.14 as written. Nodes below a path longer
 * than 1024 bytes have no entry.
 * Read it with yaml_position_line(), yaml_position_column() and yaml_position_text(), which also
 * read positions built by hand as a bare line number or as [line, "source text"].
 * Returns 0, or -EINVAL (bad YAML), -E2BIG (a limit was hit), -ENOMEM. On -EINVAL and -E2BIG,
 * *reterr (when not NULL) holds the position and a message that does not repeat it, such as
 * "tab character used for indentation" or "invalid UTF-8 at byte offset 31". */
int yaml_parse_json(const char *data, size_t size, json_t **ret, json_t **ret_warnings,
                    json_t **ret_positions, YamlError *reterr);

/* The 1-based line of the node at path in a positions object, 0 when unknown (positions may be NULL). */
unsigned yaml_position_line(const json_t *positions, const char *path);

/* The 1-based column of the node at path in a positions object, 0 when unknown. */
unsigned yaml_position_column(const json_t *positions, const char *path);

/* The source text of the unquoted integer or float scalar at path (borrowed), NULL when unknown. */
const char *yaml_position_text(const json_t *positions, const char *path);
