/* SPDX-License-Identifier: Apache-2.0 */
/* String helpers. No logging. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Levenshtein distance between a and b, ignoring ASCII case, for "did you mean" suggestions.
 * Strings of 64 bytes or more give SIZE_MAX. */
size_t edit_distance(const char *a, const char *b);

/* The candidate (NULL-terminated list) nearest to word within max_distance, or NULL. */
const char *nearest_word(const char *word, const char *const *candidates, size_t max_distance);
