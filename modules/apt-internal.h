/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the apt_configure module, shared with its unit tests: the main sources list and its
 * suites (apt-sources.c), and OpenPGP keys with their keyserver lookup (apt-keys.c). No logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"

/* Size of a v4 fingerprint as upper-case hex, with its NUL. */
#define PGP_FINGERPRINT_HEX_SIZE 41

/* The values that variables in source lines and sources_list templates stand for. A NULL value
 * leaves its variable as it is. */
typedef struct AptVars {
        const char *mirror;
        const char *primary;
        const char *security;
        const char *release;
        const char *key_file;    /* a source's key file ($KEY_FILE) */
        const char *primary_key; /* the primary mirror's key file ($primary_key) */
        const char *security_key;
} AptVars;

/* Replace $NAME and ${NAME} in text. Names are MIRROR, PRIMARY, SECURITY, RELEASE and KEY_FILE,
 * and with lower_case also mirror, primary, security, release, codename, primary_key and
 * security_key, as cloud-init's templates of the main list name them. Any other '$' stays, such
 * as apt's own $(ARCH). Returns a new string or NULL when out of memory. */
char *apt_vars_substitute(const char *text, const AptVars *vars, bool lower_case);

/* Whether sources text is in deb822 format rather than one-line format: no line starts with
 * "deb " or "deb-src ", and some line starts with "Types: ", "URIs: ", "Suites: " or
 * "Components: ". */
bool apt_sources_is_deb822(const char *text);

/* Check a one-line sources text: every line is empty, a comment, or starts with "deb " or
 * "deb-src ". Returns 0 or -EINVAL with the reason in reason. */
int apt_sources_lines_check(const char *text, char *reason, size_t reason_size);

/* Check a deb822 sources text: every line is empty, a comment, a continuation line that starts
 * with a blank, or "Field: value". Returns 0 or -EINVAL with the reason in reason. */
int apt_sources_deb822_check(const char *text, char *reason, size_t reason_size);

/* Render the built-in main sources list of Debian in deb822 format: the release, -updates and
 * -backports suites from mirror, and the security suite from security, each signed by its key
 * file (NULL for the Debian archive keyring). Returns a new string or NULL when out of memory. */
char *apt_sources_debian_render(const char *mirror, const char *security, const char *release,
                                const char *primary_key, const char *security_key);

/* Comment out the suites of sources text (NULL-terminated list) in either format. The names
 * updates, backports, security, proposed and release mean RELEASE-updates ... and RELEASE, and
 * $RELEASE in a name is replaced. In one-line format a matching line becomes a comment. In
 * deb822 format a matching suite is removed from its Suites field, the original field is kept
 * as a comment, and an entry left with no suite is commented out entirely.
 * *ret is a new string. Returns 0 or -ENOMEM. */
int apt_disable_suites(const char *text, const char *const *suites, const char *release, char **ret);

/* Read the Debian architecture of the root: `dpkg --print-architecture` run inside it, else the
 * first line of ROOT/var/lib/dpkg/arch. *ret is a new string, "" when neither gives one.
 * Returns 0 or -ENOMEM. */
int apt_arch_read(const Context *ctx, char **ret);

/* Decode one armored OpenPGP public key block (RFC 4880 section 6.2) into its packets.
 * *ret_data (caller owns) contains *ret_size bytes. Returns 0, -EINVAL with the reason in reason,
 * or -ENOMEM. */
int pgp_armor_decode(const char *text, size_t length, unsigned char **ret_data, size_t *ret_size,
                     char *reason, size_t reason_size);

/* Compute the v4 fingerprint of a public key or subkey packet body (RFC 4880 section 12.2: the
 * SHA-1 of 0x99, the two-byte body length and the body) as upper-case hex. Returns 0, -EINVAL for
 * a body that is not a v4 key, or -EIO when SHA-1 fails. */
int pgp_fingerprint_v4(const unsigned char *body, size_t size, char ret[PGP_FINGERPRINT_HEX_SIZE]);

/* Check that packets hold exactly one public key, and that its fingerprint or the fingerprint of
 * one of its subkeys ends with keyid (normalized upper-case hex). Returns 0, -EINVAL with the
 * reason in reason, or -EIO. */
int pgp_key_match(const unsigned char *packets, size_t size, const char *keyid, char *reason, size_t reason_size);

/* Normalize a key id as cloud-config writes it: an optional "0x", blanks anywhere, then 8, 16 or
 * 40 hex digits (a short id, a long id or a v4 fingerprint). *ret is the upper-case hex digits,
 * a new string. Returns 0, -EINVAL with the reason in reason, or -ENOMEM. */
int apt_keyid_normalize(const char *keyid, char **ret, char *reason, size_t reason_size);

/* Build the HKP lookup URL for a key (draft-shaw-openpgp-hkp-00, section 3): keyserver is a
 * host[:port] (HTTPS), hkp://host[:port] (HTTP, port 11371 by default), hkps://host[:port],
 * http://host[:port] or https://host[:port], with an optional trailing '/'. keyid is normalized
 * hex. *ret is a new string. Returns 0, -EINVAL with the reason in reason, or -ENOMEM. */
int hkp_lookup_url(const char *keyserver, const char *keyid, char **ret, char *reason, size_t reason_size);

/* Maximum time for one keyserver lookup, connection included. */
#define APT_KEY_FETCH_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* Maximum size of a keyserver response, and of one armored key. */
#define APT_KEY_TEXT_MAX (256U * 1024U)

/* Fetch the key keyid (normalized hex) from keyserver over HKP and check that the response is one
 * armored public key that keyid names. *ret_key is the armored text (caller owns it).
 * Returns 0; -ENOENT when the keyserver has no such key (HTTP 404); -EBADMSG when the answer is
 * not the key, with the reason in *reterr_message; a transport error of http_request() with its
 * message in *reterr_message; -EINVAL for a keyserver that is not a valid address; or -ENOMEM. */
int apt_key_fetch(const char *keyserver, const char *keyid, char **ret_key, char **reterr_message);
