/* SPDX-License-Identifier: Apache-2.0 */
/* Exact parsers for numbers, booleans and durations given as text. No logging. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* "1", "yes", "y", "true", "t", "on" -> 1; "0", "no", "n", "false", "f", "off" -> 0, case
 * insensitive, whole string. Anything else -EINVAL. */
int parse_boolean(const char *s);

/* Whole-string unsigned decimal. -EINVAL for junk or empty, -ERANGE on overflow. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou(const char *s, unsigned *ret);

/* Seconds as a JSON integer or real (>= 0) into microseconds, rounded to the nearest one.
 * -ERANGE when that does not fit in 64 bits, -EINVAL for anything else. */
int json_seconds_to_usec(const json_t *v, uint64_t *ret);

/* Read v as cloud-init reads a boolean option: a JSON boolean, or a string that parse_boolean()
 * accepts, which YAML gives for a quoted word such as "yes". Returns 0 for a JSON boolean, 1 for
 * such a string (callers warn that it should be written without quotes), -EINVAL for anything
 * else, null included. *ret is written only on success. */
int json_parse_boolean(const json_t *v, bool *ret);
