/* SPDX-License-Identifier: Apache-2.0 */
/* Private interface between the files of the ssh module: ssh.c (config and authorized keys),
 * ssh-hostkeys.c (host keys and their fingerprints) and ssh-sshd.c (sshd_config editing). */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "context.h"

#define SSH_DIR "/etc/ssh"
#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define SSHD_CONFIG_DIR "/etc/ssh/sshd_config.d"
#define SSHD_DROPIN_NAME "50-kiln.conf"
#define SSHD_DROPIN SSHD_CONFIG_DIR "/" SSHD_DROPIN_NAME
#define HOST_KEY_PATTERN "ssh_host_*key*"          /* what ssh_deletekeys removes */
#define HOST_PUBLIC_KEY_PATTERN "ssh_host_*key.pub" /* what the fingerprints are printed for */

/* Caps on the files this module reads: sshd configuration and one host key. */
#define SSHD_CONFIG_FILE_MAX (1024U * 1024U)
#define HOST_KEY_FILE_MAX (64U * 1024U)
/* Host key files in /etc/ssh that one run handles at most. */
#define HOST_KEY_FILES_MAX 64U
/* Drop-in files in sshd_config.d that are checked for settings that would override kiln's. */
#define SSHD_DROPINS_MAX 256U
/* Entries of ssh_authorized_keys and of the metadata's public keys that are used at most. */
#define AUTHORIZED_KEYS_MAX 1024U

/* cloud-init's default for disable_root_opts: a root login with a key prints which user to log in
 * as, and exits 142. $USER becomes the default user's name, $DISABLE_USER "root". */
#define DISABLE_ROOT_OPTS_DEFAULT                                                               \
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as " \
        "the user \\\"$USER\\\" rather than the user \\\"$DISABLE_USER\\\".';echo;sleep 10;exit 142\""
/* The name $USER becomes when there is no default user, as in cloud-init. */
#define DISABLE_ROOT_NO_USER "NONE"

typedef enum HostKeyType {
        HOST_KEY_RSA,
        HOST_KEY_ECDSA,
        HOST_KEY_ED25519,
        _HOST_KEY_TYPE_MAX,
        _HOST_KEY_TYPE_INVALID = -EINVAL,
} HostKeyType;

/* The files of one ssh_keys entry: "<type>_<part>". */
typedef enum HostKeyPart {
        HOST_KEY_PRIVATE,
        HOST_KEY_PUBLIC,
        HOST_KEY_CERTIFICATE,
        _HOST_KEY_PART_MAX,
        _HOST_KEY_PART_INVALID = -EINVAL,
} HostKeyPart;

typedef struct HostKeyPartInfo {
        const char *suffix;      /* of the ssh_keys entry's name */
        const char *file_suffix; /* appended to /etc/ssh/ssh_host_<type>_key */
        mode_t mode;
} HostKeyPartInfo;

/* The string that leaves sshd's PasswordAuthentication as it is, matched ignoring case. */
#define PASSWORD_AUTH_UNCHANGED_STRING "unchanged"

typedef enum PasswordAuth {
        PASSWORD_AUTH_UNCHANGED,
        PASSWORD_AUTH_NO,
        PASSWORD_AUTH_YES,
} PasswordAuth;

typedef struct SshConfig {
        bool delete_keys;
        HostKeyType genkey_types[_HOST_KEY_TYPE_MAX]; /* in the order given, each once */
        size_t n_genkey_types;
        bool genkey_types_given;
        const json_t *host_keys;        /* ssh_keys, borrowed; NULL when unset, null or empty */
        PasswordAuth password_auth;
        bool disable_root;
        const char *disable_root_opts;  /* borrowed */
        bool allow_public_keys;
        json_t *authorized_keys;        /* ssh_authorized_keys as a list of strings, owned */
} SshConfig;

extern const char *const host_key_type_table[_HOST_KEY_TYPE_MAX];
extern const HostKeyPartInfo host_key_part_table[_HOST_KEY_PART_MAX];

HostKeyType host_key_type_from_string(const char *s);

/* ssh-hostkeys.c */
/* The names in the directory dir_fd that match pattern and are not directories, sorted as glob(3)
 * sorts them, at most max. Returns the number of names (*ret is NULL-terminated, caller owns it)
 * or -errno. */
int dir_list(int dir_fd, const char *pattern, size_t max, char ***ret);
/* The path of one file of a host key in buf: /etc/ssh/ssh_host_<type>_key plus the part's suffix. */
void host_key_path(HostKeyType t, HostKeyPart p, char *buf, size_t size);
int host_keys_setup(Context *ctx, const SshConfig *c);
int host_key_entry_parse(const char *name, HostKeyType *ret_type, HostKeyPart *ret_part);

/* ssh-sshd.c */
int password_auth_apply(Context *ctx, const SshConfig *c);
int host_certificates_apply(Context *ctx, unsigned certificates);
