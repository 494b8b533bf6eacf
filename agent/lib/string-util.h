/* SPDX-License-Identifier: Apache-2.0 */
/* String helpers. No logging. */
#pragma once

#include <stddef.h>

#include "macro.h"
#include <stdint.h>

/* Levenshtein distance between a and b, ignoring ASCII case, for "did you mean" suggestions.
 * Strings of 64 bytes or more give SIZE_MAX. */
size_t edit_distance(const char *a, const char *b);

/* The candidate (NULL-terminated list) nearest to word within max_distance, or NULL. */
const char *nearest_word(const char *word, const char *const *candidates, size_t max_distance);

/* Replace *reterr_message with a formatted message (NULL when it cannot be allocated) and return
 * error, so a failure path can end in `return set_message(reterr_message, -EIO, ...)`. */
int set_message(char **reterr_message, int error, const char *format, ...) _printf_(3, 4);
