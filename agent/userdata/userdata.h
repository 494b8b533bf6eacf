/* SPDX-License-Identifier: Apache-2.0 */
/* User data: decoding (gzip, base64, MIME), classifying into parts, and merging cloud-config. */
#pragma once

#include "context.h"

/* Limits on untrusted user data. */
#define USERDATA_INFLATED_MAX (64U * 1024U * 1024U) /* gzip output of one blob, all its parts together */
#define USERDATA_PARTS_MAX 256                      /* parts of all blobs of a run together */
#define USERDATA_MIME_DEPTH_MAX 8                   /* multiparts nested in multiparts */

/* Decode one blob (source is "user-data" or "vendor-data") and append its parts to ctx->parts.
 * #include URLs are fetched and Jinja templates rendered only when ctx->instance is set.
 * What is ignored or reinterpreted is reported as a warning, what cannot be used as an error.
 * Returns 0, or -errno after reporting. */
int userdata_decode(Context *ctx, const char *source, const char *data, size_t size);

/* Build ctx->config: the image configuration, then vendor cloud-config, then the user's cloud-config
 * parts in order. A part that fails to parse is reported and contributes nothing. */
int userdata_merge(Context *ctx);

void parts_free(Part *parts, size_t n);

const char *part_type_to_string(PartType t);
