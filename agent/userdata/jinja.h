/* SPDX-License-Identifier: Apache-2.0 */
/* The Jinja subset that real user data uses, rendered against the instance data. */
#pragma once

#include <jansson.h>
#include <stddef.h>

typedef struct JinjaError {
        unsigned line;           /* 1-based line in the template, 0 when unknown */
        char message[256];
} JinjaError;

/* Render template (the text after the "## template: jinja" line; line numbers count from that
 * text's first line) with vars, cloud-init's instance data ({"v1": {...}, "ds": {...}, ...}).
 * An undefined variable renders as cloud-init renders it and adds {"line": N, "message": "..."} to
 * *ret_warnings (an array, may be NULL). A construct outside the supported subset is -EINVAL naming
 * the construct and its line in *reterr. Returns 0 with *ret (caller owns, NUL-terminated). */
int jinja_render(const char *template, size_t size, const json_t *vars, char **ret, size_t *ret_size,
                 json_t **ret_warnings, JinjaError *reterr);
