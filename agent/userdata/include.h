/* SPDX-License-Identifier: Apache-2.0 */
/* #include and #include-once: user data that lists URLs whose bodies are user data in turn. */
#pragma once

#include <stdbool.h>

#include "context.h"

/* Decodes one fetched body as user data at the given nesting depth (the decoder's entry point). */
typedef int (*include_decode_fn)(Context *ctx, const char *label, const char *data, size_t size, unsigned depth);

/* Fetch every URL of an #include or #include-once body (one per line after the header; blank
 * lines and '#' comments skipped; http and https only), in order, and hand each body to decode at
 * depth + 1. #include-once bodies are cached per instance under
 * ROOT/var/lib/kiln/instances/ID/include-once/ (mode 0600) and never fetched again for it.
 * A URL that fails is reported (error) and the others are still processed.
 * Returns 0, or -errno after reporting. */
int include_process(Context *ctx, const char *source, const char *body, size_t size, bool once,
                    unsigned depth, include_decode_fn decode);
