/* SPDX-License-Identifier: Apache-2.0 */
/* Building the argv of a package manager command, shared by the backends of the packages
 * module. */
#pragma once

#include <stddef.h>

#include "packages.h"

/* The NULL-terminated words (absolute path of the tool first, then its options and subcommand),
 * followed by one argument per spec: "NAME", or "NAME<pin_separator>VERSION" when the spec has a
 * version ("-" for dnf, "=" for apk). A NULL pin_separator leaves every version out, as a query
 * by name needs. Returns an argv that the caller frees with strv_free(), or NULL when out of
 * memory. */
char **package_argv_build(const char *const *words, const PackageSpec *specs, size_t n,
                          const char *pin_separator);
