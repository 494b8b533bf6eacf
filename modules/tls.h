/* SPDX-License-Identifier: Apache-2.0 */
/* The layout of the certificates that the tls module installs, for the modules that use them
 * (webserver), and the checks that a certificate and key pass before they are installed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Each certificate NAME of tls.certificates is installed as TLS_DIR/NAME/TLS_FULLCHAIN_FILE (the
 * leaf, then its chain; 0644) and TLS_DIR/NAME/TLS_PRIVKEY_FILE (0600, root:root). TLS_DIR/NAME is
 * a symbolic link to a directory TLS_DIR/.NAME.SUFFIX that contains one consistent pair: a new pair
 * is written into a new directory and the link is switched with one rename, so a reader never
 * sees a new certificate with an old key. Open the files through the link; do not create
 * TLS_DIR/NAME yourself. */
#define TLS_DIR "/etc/ssl/kiln"
#define TLS_FULLCHAIN_FILE "fullchain.pem"
#define TLS_PRIVKEY_FILE "privkey.pem"

/* Maximum length of a certificate name, whose characters are [a-z0-9_.-], starting with a letter or
 * digit. Web site names follow the same rule, because a site often names its certificate after
 * itself and both become file names. */
#define TLS_NAME_LENGTH_MAX 64U

/* A certificate that expires within this many days is installed with a warning, and a self-signed
 * one is made anew. */
#define TLS_EXPIRY_WARNING_DAYS 14

/* Whether name is a valid certificate name. */
bool tls_name_is_valid(const char *name);

/* The paths inside the root of certificate name's files, e.g. "/etc/ssl/kiln/shop/fullchain.pem".
 * Returns 0 with both set (caller owns), -EINVAL for an invalid name, or -ENOMEM. */
int tls_certificate_paths(const char *name, char **ret_fullchain, char **ret_privkey);

/* Check a certificate and its key before they are installed: the PEM text of fullchain contains the
 * leaf first and then its chain, each parsing (a chain certificate not issued by the next one is a
 * warning); key is one PEM private key that matches the leaf; now lies within the leaf's validity
 * (expiring within TLS_EXPIRY_WARNING_DAYS is a warning); the leaf's subject alternative names
 * (or its common name when it has none) cover every name of domains (NULL-terminated, may be NULL),
 * with the wildcard rules of RFC 6125; every key, and every signature that is not self-signed, has
 * the 112 bits of security that OpenSSL's default security level 2 requires, so nginx and apache
 * load the pair. The reason never contains key material.
 * Returns 0 when all holds, 1 when it holds with warnings in reason, or an error with the reason in
 * reason: -EBADMSG for text that does not parse, -EKEYREJECTED for a key that does not match or a
 * key or signature that is too weak, -EKEYEXPIRED for a certificate outside its validity, -EINVAL
 * for a name that is not covered, or -ENOMEM. */
int tls_pair_check(const char *fullchain, size_t fullchain_size, const char *key, size_t key_size,
                   char *const *domains, time_t now, char *reason, size_t size);

/* Make a self-signed certificate for domains (NULL-terminated, at least one): an EC P-256 key, a
 * random serial, valid for a year from now, the first name as common name, every name as a DNS
 * subject alternative name, signed with SHA-256. Returns 0 with both PEM texts (caller owns),
 * -EINVAL without names, -ENOMEM or -EIO. */
int tls_self_signed_make(char *const *domains, time_t now, char **ret_fullchain, char **ret_key);
