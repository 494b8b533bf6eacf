/* SPDX-License-Identifier: Apache-2.0 */
/* A user's ~/.ssh/authorized_keys inside the target root: parsing key lines and adding keys the way
 * cloud-init's ssh_util does. Shared by the users_groups and ssh modules. No logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Largest authorized_keys file that is read back before keys are added to it. */
#define AUTHORIZED_KEYS_FILE_MAX (1024U * 1024U)

/* One line of an authorized_keys file, split as OpenSSH reads it:
 * [options] keytype base64 [comment]. The fields point into the buffer the line was parsed from. */
typedef struct AuthorizedKey {
        const char *options;     /* NULL when the line has none */
        size_t options_len;
        const char *type;        /* "ssh-ed25519" */
        size_t type_len;
        const char *blob;        /* the base64 key, not decoded */
        size_t blob_len;
        const char *comment;     /* NULL when the line has none */
        size_t comment_len;
} AuthorizedKey;

/* Parse one line. The key type must be one that OpenSSH accepts for a public key (the list that
 * cloud-init's ssh_util.VALID_KEY_TYPES holds); the base64 text is not decoded. Options are
 * comma-separated and may contain blanks only inside double quotes.
 * Returns 0, or -EINVAL for a comment, a blank line, an unknown key type or missing fields. */
int authorized_key_parse(const char *line, AuthorizedKey *ret);

/* Add keys (NULL-terminated; each a line that authorized_key_parse() accepts) to the
 * authorized_keys file of user inside the root, HOME/.ssh/authorized_keys, where HOME, the uid
 * and the primary gid come from ROOT/etc/passwd.
 * A missing HOME/.ssh is created with mode 0700; the file is written atomically with mode 0600;
 * both are owned by the user and the user's primary group. Lines already in the file stay, in their
 * order. A new key whose base64 text is already in the file replaces that line, and the others are
 * appended, so every key appears once. options, when not NULL, replaces the options of each new
 * key ("no-port-forwarding,command=\"...\"" for a login that is refused).
 * NOTE: AuthorizedKeysFile in sshd_config is not read; the file is always HOME/.ssh/authorized_keys.
 * Returns 1 when the file was written, 0 when it already held every key as given, -ESRCH when
 * user is not in ROOT/etc/passwd, -EINVAL when a key does not parse or a line would break the
 * file, -ELOOP when HOME/.ssh or the file is a symbolic link (root would otherwise write where
 * the user points it), -ENOTDIR when HOME or HOME/.ssh is not a directory, -EFBIG when the
 * existing file is over AUTHORIZED_KEYS_FILE_MAX, or another -errno. */
int authorized_keys_add(int root_fd, const char *user, char *const *keys, const char *options);
