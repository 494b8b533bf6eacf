/* SPDX-License-Identifier: Apache-2.0 */
/* The `kiln validate` command. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* `kiln validate`: check each file as user data, and with system the cached user data and vendor
 * data of the current instance under root. Prints the findings as text or, with json, as one JSON
 * document. Returns the exit code: 0 when every file is valid (warnings allowed), 1 otherwise. */
int validate_main(const char *root, bool system, bool json, char *const *files, size_t n_files);

/* `kiln validate --print-schema`: print schema_to_json_schema(). Returns the exit code. */
int validate_print_schema(void);
