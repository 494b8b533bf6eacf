/* SPDX-License-Identifier: Apache-2.0 */
/* Small jansson helpers. No logging. */
#pragma once

#include <jansson.h>

/* Merge src into dst: objects merge key by key, recursively; any other value in src replaces
 * the one in dst. Returns 0 or -ENOMEM. */
int json_merge_deep(json_t *dst, const json_t *src);

/* Follow object keys from root (a NULL-terminated list of keys). Returns the value (borrowed) or NULL. */
json_t *json_get_path(const json_t *root, ...) __attribute__((sentinel));

/* Compact one-line JSON text of a value for messages, cut to max bytes with "..." (caller owns it). */
char *json_to_message(const json_t *v, size_t max);

/* Make s valid UTF-8 in place, as jansson requires for strings: each byte of an invalid or
 * truncated sequence and each control character becomes '?'. The length does not change. */
void utf8_make_valid(char *s);
