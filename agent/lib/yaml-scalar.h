/* SPDX-License-Identifier: Apache-2.0 */
/* YAML 1.1 scalars typed as PyYAML's SafeLoader types them: implicit types of plain scalars,
 * explicit tags and !!binary. Internal to yaml-util.c, which builds the tree. No logging. */
#pragma once

#include <jansson.h>
#include <yaml.h>

#include "lib/yaml-util.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef enum ScalarType {
        SCALAR_BOOL,
        SCALAR_FLOAT,
        SCALAR_INT,
        SCALAR_MERGE,
        SCALAR_NULL,
        _SCALAR_TYPE_MAX,
        SCALAR_STR = _SCALAR_TYPE_MAX,
} ScalarType;

/* Prepare the process-wide tables that the functions below read: the implicit type patterns and
 * a C numeric locale. The first call builds them and later calls return its result, so a failure
 * is permanent. Returns 0 or -ENOMEM. */
int yaml_scalar_init(void);

/* Resolve the implicit type of an untagged plain scalar. yaml_scalar_init() must have succeeded. */
ScalarType yaml_scalar_resolve(const char *value);

/* Convert the scalar event into a JSON value of the given type (caller owns it). A float that JSON
 * cannot hold (inf, nan, overflow) stays a string, and a warning {"line": N, "message": "..."} is
 * appended to warnings. Returns 0, -ENOMEM, or -EINVAL with the position and message in *reterr. */
int yaml_scalar_typed(const yaml_event_t *event, ScalarType type, json_t *warnings, json_t **ret,
                      YamlError *reterr);

/* Convert the scalar event into the JSON value that its explicit tag names (caller owns it):
 * !!str, !!timestamp, !!null, !!bool, !!int, !!float or !!binary. Any other tag is -EINVAL.
 * Otherwise as yaml_scalar_typed(). */
int yaml_scalar_tagged(const yaml_event_t *event, const char *tag, json_t *warnings, json_t **ret,
                       YamlError *reterr);
