/* SPDX-License-Identifier: Apache-2.0 */
/* The instance's public names, from the top-level `domains` key or derived from `fqdn`: the list
 * that the hostname, etc_hosts, tls and webserver modules read. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"

/* DNS limits in characters, after conversion to ASCII: a whole name and one label. */
#define DOMAIN_LENGTH_MAX 253U
#define DOMAIN_LABEL_LENGTH_MAX 63U
/* Maximum number of entries read from the `domains` list. The rest are reported and left out. */
#define DOMAINS_MAX 100U
/* Size of a buffer for the reason that domain_normalize() returns. */
#define DOMAIN_REASON_MAX 256U

/* Turn one name into its normalized ASCII form: a trailing dot is stripped, internationalized
 * labels are converted to punycode (IDNA2008, non-transitional, as libidn2 does), letters are
 * folded to lowercase. The result must have at least two labels (a public name has a dot), each of
 * 1 to 63 characters of [a-z0-9-] that neither starts nor ends with '-', and at most 253 characters
 * in all. With allow_wildcard, the whole first label may be '*' ("*.example.com"); a '*' anywhere
 * else is invalid.
 * Returns 0 with *ret (caller owns), -EINVAL with the reason in reason (size bytes; user text is
 * escaped), or -ENOMEM. */
int domain_normalize(const char *name, bool allow_wildcard, char **ret, char *reason, size_t size);

/* Whether a normalized name is a wildcard ("*.example.com"). */
bool domain_is_wildcard(const char *name);

/* The instance's public names, normalized by domain_normalize() with wildcards allowed, in the
 * order given, duplicates dropped. When `domains` is absent or null, the list is the config's
 * `fqdn`, or else its `hostname` when that contains a dot; the metadata's names are private names
 * and never used. Invalid entries are left out silently: the domains module reports them. ctx may
 * be NULL.
 * Returns the number of names (0 with *ret NULL when there are none) with *ret a NULL-terminated
 * list (caller owns, strv_free()), or -ENOMEM. */
int domains_get(Context *ctx, const json_t *config, char ***ret);

/* The primary name: the first name of domains_get() that is not a wildcard, the one that the
 * hostname module falls back to. Returns 1 with *ret (caller owns), 0 when there is none, or
 * -ENOMEM. */
int domains_primary(Context *ctx, const json_t *config, char **ret);

/* Whether name (normalized) is covered by pattern (normalized, possibly a wildcard): equal, or
 * pattern is "*.REST" and name is one label followed by ".REST". */
bool domain_matches(const char *pattern, const char *name);

/* A copy of s for messages, with control characters and backslashes escaped ("\x07", "\\"), so
 * that a name cannot break a log line. Returns NULL on allocation failure. The caller owns the result. */
char *domain_escape_for_message(const char *s);

/* A ShapeCheck (schema.h) for one name of a list: the rules of domain_normalize() with wildcards
 * allowed, so that `kiln validate` rejects what the modules reject. */
int domain_shape_check(const json_t *v, const char *source_text, char *message, size_t size);
