/* SPDX-License-Identifier: Apache-2.0 */
/* Applying JSON patches (RFC 6902), whose JSON pointers (RFC 6901) name places in a cloud-config.
 * No logging. */
#pragma once

#include "config-node.h"
#include "lib/yaml-util.h"

/* Limits on untrusted patches. */
#define JSON_PATCH_OPERATIONS_MAX 1000
#define JSON_PATCH_DEPTH_MAX YAML_DEPTH_MAX               /* nesting of the patched document */
#define JSON_PATCH_COPIED_NODES_MAX 100000U               /* values that all copy operations add */
#define JSON_PATCH_COPIED_BYTES_MAX (16U * 1024U * 1024U) /* string bytes that all copy operations add */

typedef struct JsonPatchError {
        char message[640];
} JsonPatchError;

/* Apply the patch in text (size bytes of JSON: a list of operations) to *doc, every operation or,
 * when one fails, none, so that *doc is then unchanged. The operations are add, remove, replace,
 * move, copy and test. test compares numbers by value, so 1 equals 1.0. Positions in doc's shadow
 * move with their values, and values that the patch adds have none.
 * Returns 0, -EINVAL or -ENOMEM. -EINVAL means that text is not a patch or that an operation
 * failed. Then reterr, when not NULL, names the operation by its index from 0 and says why. */
int json_patch_apply(const char *text, size_t size, ConfigNode *doc, JsonPatchError *reterr);
