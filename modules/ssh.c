/* SPDX-License-Identifier: Apache-2.0 */
/* The ssh module: SSH host keys for a new instance and their fingerprints on the console, sshd's
 * PasswordAuthentication, and the authorized keys of the default user and of root. Each key means
 * what it means to cloud-init's ssh and set_passwords modules. */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authorized-keys.h"
#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"

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

static const char *const host_key_type_table[_HOST_KEY_TYPE_MAX] = {
        [HOST_KEY_RSA] = "rsa",
        [HOST_KEY_ECDSA] = "ecdsa",
        [HOST_KEY_ED25519] = "ed25519",
};

static HostKeyType host_key_type_from_string(const char *s) {
        for (size_t i = 0; i < _HOST_KEY_TYPE_MAX; i++)
                if (streq(host_key_type_table[i], s))
                        return (HostKeyType) i;
        return _HOST_KEY_TYPE_INVALID;
}

/* The files of one ssh_keys entry: "<type>_<part>". */
typedef enum HostKeyPart {
        HOST_KEY_PRIVATE,
        HOST_KEY_PUBLIC,
        HOST_KEY_CERTIFICATE,
        _HOST_KEY_PART_MAX,
        _HOST_KEY_PART_INVALID = -EINVAL,
} HostKeyPart;

static const struct {
        const char *suffix;      /* of the ssh_keys entry's name */
        const char *file_suffix; /* appended to /etc/ssh/ssh_host_<type>_key */
        mode_t mode;
} host_key_part_table[_HOST_KEY_PART_MAX] = {
        [HOST_KEY_PRIVATE] = { "private", "", 0600 },
        [HOST_KEY_PUBLIC] = { "public", ".pub", 0644 },
        [HOST_KEY_CERTIFICATE] = { "certificate", "-cert.pub", 0644 },
};

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

static void ssh_config_done(SshConfig *c) {
        json_decref(c->authorized_keys);
        *c = (SshConfig) {};
}

/* " at line N" for the node at path ("/ssh_genkeytypes/1"), "" when the line is unknown. */
static void format_at_line(const Context *ctx, const char *path, char *buf, size_t size) {
        unsigned line = config_line(ctx, path);

        if (line > 0)
                (void) snprintf(buf, size, " at line %u", line);
        else
                buf[0] = '\0';
}

static const char *json_type_name(const json_t *v) {
        /* No default case: the compiler warns when a JSON type is missing. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "a value";
}

/* Read a boolean key. A string that parse_boolean() reads ("yes", "off", "1") is accepted with a
 * warning, as cloud-init accepts such strings, because only unquoted words are YAML booleans.
 * Anything else that is not a boolean or null is an error, and *ret is then fallback, the safe
 * reading for the key. Returns 0, or -EINVAL after reporting the error. */
static int config_bool(Context *ctx, const json_t *config, const char *key, bool default_value, bool fallback,
                       bool *ret) {
        const json_t *v = json_object_get(config, key);
        _cleanup_free_ char *text = NULL;
        char path[64], at[32];
        int r;

        (void) snprintf(path, sizeof(path), "/%s", key);
        format_at_line(ctx, path, at, sizeof(at));

        if (!v || json_is_null(v)) {
                *ret = default_value;
                return 0;
        }
        r = json_parse_boolean(v, ret);
        if (r == 0)
                return 0;
        if (r > 0) {
                report_warning(ctx, -1, "%s: expected boolean, got the string '%s'%s, which is read as %s. "
                               "Write %s without quotes.", key, json_string_value(v), at,
                               *ret ? "true" : "false", *ret ? "true" : "false");
                return 0;
        }

        *ret = fallback;
        if (json_is_string(v))
                return report_error(ctx, -1, 0, "%s: expected boolean, got '%s'%s. Write true or false "
                                    "without quotes.", key, json_string_value(v), at);
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return report_error(ctx, -1, 0, "%s: expected boolean, got %s%s. Write true or false.", key,
                            text ?: json_type_name(v), at);
}

/* ssh_pwauth: a boolean, or as in cloud-init a string: a boolean word, or "unchanged" in any case.
 * Anything else leaves sshd's configuration untouched and is an error. */
static int config_password_auth(Context *ctx, const json_t *config, PasswordAuth *ret) {
        const json_t *v = json_object_get(config, "ssh_pwauth");
        char at[32];
        bool b;
        int r;

        *ret = PASSWORD_AUTH_UNCHANGED;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_string(v) && strcasecmp(json_string_value(v), PASSWORD_AUTH_UNCHANGED_STRING) == 0) {
                format_at_line(ctx, "/ssh_pwauth", at, sizeof(at));
                report_warning(ctx, -1, "ssh_pwauth: expected boolean, got the string '%s'%s, so "
                               "PasswordAuthentication is left unchanged. Remove the key instead.",
                               json_string_value(v), at);
                return 0;
        }

        r = config_bool(ctx, config, "ssh_pwauth", false, false, &b);
        if (r < 0)
                return r;
        *ret = b ? PASSWORD_AUTH_YES : PASSWORD_AUTH_NO;
        return 0;
}

/* ssh_genkeytypes: a list of key types, or one type as a string (with a warning). Null is an
 * empty list, as in cloud-init. Unknown types are reported and left out. */
static int config_genkey_types(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_genkeytypes"), *item;
        json_auto_t *list = NULL;
        char at[32];
        size_t i;
        int r = 0;

        if (!v) {
                for (i = 0; i < _HOST_KEY_TYPE_MAX; i++)
                        c->genkey_types[i] = (HostKeyType) i;
                c->n_genkey_types = _HOST_KEY_TYPE_MAX;
                return 0;
        }

        c->genkey_types_given = true;
        format_at_line(ctx, "/ssh_genkeytypes", at, sizeof(at));
        if (json_is_null(v))
                return 0;
        if (json_is_string(v)) {
                report_warning(ctx, -1, "ssh_genkeytypes: expected a list, got the string '%s'%s, which is read "
                               "as a list of one type. Write it as [%s].", json_string_value(v), at,
                               json_string_value(v));
                list = json_pack("[O]", v);
                if (!list)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_genkeytypes: %m");
                v = list;
        }
        if (!json_is_array(v))
                return report_error(ctx, -1, 0, "ssh_genkeytypes: expected a list of key types (rsa, ecdsa, "
                                    "ed25519), got %s%s.", json_type_name(v), at);

        json_array_foreach(v, i, item) {
                HostKeyType t = json_is_string(item) ? host_key_type_from_string(json_string_value(item)) :
                                                       _HOST_KEY_TYPE_INVALID;
                _cleanup_free_ char *text = NULL;
                char path[64];
                bool seen = false;

                if (t < 0) {
                        (void) snprintf(path, sizeof(path), "/ssh_genkeytypes/%zu", i);
                        format_at_line(ctx, path, at, sizeof(at));
                        text = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
                        r = report_error(ctx, (int) i, 0, "ssh_genkeytypes[%zu]: unsupported key type %s%s, "
                                         "expected rsa, ecdsa or ed25519, skipping it.", i,
                                         text ?: json_type_name(item), at);
                        continue;
                }
                for (size_t j = 0; j < c->n_genkey_types; j++)
                        seen = seen || c->genkey_types[j] == t;
                if (!seen)
                        c->genkey_types[c->n_genkey_types++] = t;
        }
        return r;
}

/* ssh_keys: a mapping of "<type>_<part>" to the content of that file. Null and an empty mapping
 * count as unset, so host keys are generated, where cloud-init would leave sshd without any. */
static int config_host_keys(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_keys");
        char at[32];

        if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
                return 0;

        if (!json_is_object(v)) {
                format_at_line(ctx, "/ssh_keys", at, sizeof(at));
                return report_error(ctx, -1, 0, "ssh_keys: expected a mapping such as 'rsa_private: ...', got "
                                    "%s%s. Host keys are generated instead.", json_type_name(v), at);
        }
        c->host_keys = v;
        return 0;
}

/* ssh_authorized_keys: a list of keys, or one key as a string (with a warning). Items that are not
 * strings are reported here, and keys_collect() skips them. */
static int config_authorized_keys(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_authorized_keys"), *item;
        char at[32];
        size_t i;
        int r = 0;

        c->authorized_keys = json_array();
        if (!c->authorized_keys)
                return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
        if (!v || json_is_null(v))
                return 0;

        format_at_line(ctx, "/ssh_authorized_keys", at, sizeof(at));
        if (json_is_string(v)) {
                report_warning(ctx, -1, "ssh_authorized_keys: expected a list, got a string%s, which is read as "
                               "a list of one key. Write the key as a list item, '- ssh-...'.", at);
                if (json_array_append(c->authorized_keys, (json_t *) v) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
                return 0;
        }
        if (!json_is_array(v))
                return report_error(ctx, -1, 0, "ssh_authorized_keys: expected a list of public keys, got %s%s.",
                                    json_type_name(v), at);

        json_array_foreach(v, i, item) {
                char path[64];

                if (i >= AUTHORIZED_KEYS_MAX) {
                        r = report_error(ctx, (int) i, 0, "ssh_authorized_keys: more than %u keys, skipping the "
                                         "rest.", AUTHORIZED_KEYS_MAX);
                        break;
                }
                if (!json_is_string(item)) {
                        (void) snprintf(path, sizeof(path), "/ssh_authorized_keys/%zu", i);
                        format_at_line(ctx, path, at, sizeof(at));
                        r = report_error(ctx, (int) i, 0, "ssh_authorized_keys[%zu]: expected a public key as a "
                                         "string, got %s%s, skipping it.%s", i, json_type_name(item), at,
                                         json_is_object(item) ? " Quote a key that contains ': '." : "");
                }
                /* Every item is kept, so that later messages give the index the user wrote. */
                if (json_array_append(c->authorized_keys, (json_t *) item) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
        }
        return r;
}

/* Read every key of the module. A bad value is reported and replaced by the reading that
 * changes least (no deletion of host keys, sshd's configuration untouched, root's keys prefixed),
 * so the other parts still run. Returns 0 or the first error. */
static int ssh_config_parse(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *opts = json_object_get(config, "disable_root_opts"), *publish;
        char at[32];
        bool quiet;
        int r = 0, k;

        k = config_bool(ctx, config, "ssh_deletekeys", true, false, &c->delete_keys);
        r = r < 0 ? r : k;
        k = config_genkey_types(ctx, config, c);
        r = r < 0 ? r : k;
        k = config_host_keys(ctx, config, c);
        r = r < 0 ? r : k;
        /* Key generation is always quiet; the fingerprints are printed either way. */
        k = config_bool(ctx, config, "ssh_quiet_keygen", false, false, &quiet);
        r = r < 0 ? r : k;
        k = config_password_auth(ctx, config, &c->password_auth);
        r = r < 0 ? r : k;
        k = config_bool(ctx, config, "disable_root", true, true, &c->disable_root);
        r = r < 0 ? r : k;
        k = config_bool(ctx, config, "allow_public_ssh_keys", true, false, &c->allow_public_keys);
        r = r < 0 ? r : k;
        k = config_authorized_keys(ctx, config, c);
        r = r < 0 ? r : k;

        c->disable_root_opts = DISABLE_ROOT_OPTS_DEFAULT;
        if (json_is_string(opts))
                c->disable_root_opts = json_string_value(opts);
        else if (opts && !json_is_null(opts)) {
                format_at_line(ctx, "/disable_root_opts", at, sizeof(at));
                k = report_error(ctx, -1, 0, "disable_root_opts: expected a string of authorized_keys options, got "
                                 "%s%s, so cloud-init's default is used.", json_type_name(opts), at);
                r = r < 0 ? r : k;
        }

        publish = json_object_get(config, "ssh_publish_hostkeys");
        if (publish && !json_is_object(publish) && !json_is_null(publish)) {
                format_at_line(ctx, "/ssh_publish_hostkeys", at, sizeof(at));
                k = report_error(ctx, -1, 0, "ssh_publish_hostkeys: expected a mapping such as '{enabled: false}', "
                                 "got %s%s.", json_type_name(publish), at);
                r = r < 0 ? r : k;
        } else if (publish)
                log_debug("ssh_publish_hostkeys has no effect: the EC2 and NoCloud datasources take no host keys.");
        return r;
}

/* Host keys. */

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in the directory dir_fd that match pattern and are not directories, sorted as glob(3)
 * sorts them, at most max. Returns the number of names (*ret is NULL-terminated, caller owns it)
 * or -errno. */
static int dir_list(int dir_fd, const char *pattern, size_t max, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        names = calloc(max + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        TAKE_FD(fd); /* the DIR owns it now */
        rewinddir(d);

        while ((de = readdir(d)) && n < max) {
                if (de->d_type == DT_DIR || fnmatch(pattern, de->d_name, FNM_PERIOD) != 0)
                        continue;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
                n++;
        }
        (void) closedir(d);

        qsort(names, n, sizeof(char *), strcmp_ptr);
        *ret = TAKE_PTR(names);
        return (int) n;
}

/* List the files of ROOT/etc/ssh that match pattern; no directory gives none. */
static int ssh_dir_list(int root_fd, const char *pattern, char ***ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = root_open(root_fd, SSH_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT) {
                *ret = calloc(1, sizeof(char *));
                return *ret ? 0 : -ENOMEM;
        }
        if (fd < 0)
                return fd;
        return dir_list(fd, pattern, HOST_KEY_FILES_MAX, ret);
}

/* Remove ROOT/etc/ssh/ssh_host_*key*, the host keys that came with the image, so that no two
 * instances made from it share them. Returns the number of files removed, or the first error
 * after reporting it. */
static int host_keys_delete(Context *ctx) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        int n, removed = 0, r = 0;

        n = ssh_dir_list(ctx->root_fd, HOST_KEY_PATTERN, &names);
        if (n < 0)
                return report_error(ctx, -1, n, "Failed to list the SSH host keys in '%s': %m", SSH_DIR);
        if (n == 0)
                return 0;

        dir_fd = root_open(ctx->root_fd, SSH_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd < 0)
                return report_error(ctx, -1, dir_fd, "Failed to open '%s': %m", SSH_DIR);

        for (char **name = names; *name; name++) {
                if (unlinkat(dir_fd, *name, 0) < 0) {
                        r = report_error(ctx, -1, negative_errno(), "Failed to delete the SSH host key '%s/%s': %m",
                                         SSH_DIR, *name);
                        continue;
                }
                log_debug("Deleted %s/%s.", SSH_DIR, *name);
                removed++;
        }
        if (removed > 0)
                log_info("Deleted %d SSH host key files that came with the image (ssh_deletekeys).", removed);
        return r < 0 ? r : removed;
}

static void host_key_path(HostKeyType t, HostKeyPart p, char *buf, size_t size) {
        (void) snprintf(buf, size, SSH_DIR "/ssh_host_%s_key%s", host_key_type_table[t],
                        host_key_part_table[p].file_suffix);
}

/* Split an ssh_keys entry name such as "rsa_private". Returns 0, -EOPNOTSUPP for the security-key
 * types ("ed25519-sk_private"), which cannot be host keys, or -EINVAL for any other name. */
static int host_key_entry_parse(const char *name, HostKeyType *ret_type, HostKeyPart *ret_part) {
        const char *sep = strrchr(name, '_');
        _cleanup_free_ char *type = NULL;
        HostKeyPart part = _HOST_KEY_PART_INVALID;
        HostKeyType t;

        if (!sep)
                return -EINVAL;
        for (size_t i = 0; i < _HOST_KEY_PART_MAX; i++)
                if (streq(sep + 1, host_key_part_table[i].suffix))
                        part = (HostKeyPart) i;
        if (part < 0)
                return -EINVAL;

        type = strndup(name, (size_t) (sep - name));
        if (!type)
                return -ENOMEM;
        if (streq(type, "ecdsa-sk") || streq(type, "ed25519-sk"))
                return -EOPNOTSUPP;
        t = host_key_type_from_string(type);
        if (t < 0)
                return -EINVAL;

        *ret_type = t;
        *ret_part = part;
        return 0;
}

static bool ssh_keygen_installed(const Context *ctx) {
        return exec_find_in_root(ctx->root_fd, "ssh-keygen", /* ret_path= */ NULL) > 0;
}

/* Write one file of ssh_keys, with a final newline: YAML's "|-" removes it, and OpenSSH 9.2 cannot
 * load a private key without one. */
static int host_key_write(Context *ctx, const char *entry, const json_t *value, HostKeyType t, HostKeyPart p) {
        _cleanup_free_ char *text = NULL;
        const char *content = json_string_value(value);
        size_t size = json_string_length(value);
        char path[PATH_MAX];
        int r;

        host_key_path(t, p, path, sizeof(path));
        if (size == 0 || content[size - 1] != '\n') {
                if (asprintf(&text, "%s\n", content) < 0) {
                        text = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to write '%s': %m", path);
                }
                content = text;
                size++;
        }

        r = write_file_atomic(ctx->root_fd, path, content, size, host_key_part_table[p].mode, 0, 0,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s' from ssh_keys entry '%s': %m", path, entry);
        log_info("Wrote %s from ssh_keys.", path);
        return 0;
}

/* Derive the public key of type t from its private key with ssh-keygen -y, and write it with the
 * comment cloud-init gives it. */
static int host_key_derive_public(Context *ctx, HostKeyType t) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *line = NULL;
        char private_path[PATH_MAX], public_path[PATH_MAX], name[64], buf[HOST_KEY_FILE_MAX];
        ssize_t n;
        int r;

        host_key_path(t, HOST_KEY_PRIVATE, private_path, sizeof(private_path));
        host_key_path(t, HOST_KEY_PUBLIC, public_path, sizeof(public_path));
        if (!ssh_keygen_installed(ctx))
                return report_error(ctx, -1, 0, "ssh_keys: %s_private has no %s_public, and the image has no "
                                    "ssh-keygen to derive it. Add %s_public.", host_key_type_table[t],
                                    host_key_type_table[t], host_key_type_table[t]);

        /* ssh-keygen writes the public key to stdout, which exec_in_root() sends to this file. */
        fd = memfd_create("ssh-keygen-output", MFD_CLOEXEC);
        if (fd < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to derive '%s': %m", public_path);

        (void) snprintf(name, sizeof(name), "ssh-keygen -y for the %s host key", host_key_type_table[t]);
        r = command_run(ctx, name, -1, (char *[]) { "ssh-keygen", "-y", "-f", private_path, NULL }, fd);
        if (r < 0)
                return r;

        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to derive '%s': %m", public_path);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0')
                return report_error(ctx, -1, 0, "Failed to derive '%s': ssh-keygen -y printed no key.", public_path);

        if (asprintf(&line, "%s root@localhost\n", buf) < 0) {
                line = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to derive '%s': %m", public_path);
        }
        r = write_file_atomic(ctx->root_fd, public_path, line, strlen(line), 0644, 0, 0, WRITE_SYNC);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", public_path);
        log_info("Wrote %s, derived from %s.", public_path, private_path);
        return 0;
}

/* Install the host keys given in ssh_keys. Sets a bit in *ret_certificates for every type with a
 * certificate. Returns >0 when files were written, 0, or the first error. */
static int host_keys_install(Context *ctx, const json_t *host_keys, unsigned *ret_certificates) {
        unsigned given[_HOST_KEY_TYPE_MAX] = {}, certificates = 0;
        const char *entry;
        const json_t *value;
        int r = 0, changed = 0;

        json_object_foreach((json_t *) host_keys, entry, value) {
                HostKeyType t;
                HostKeyPart p;
                int k;

                k = host_key_entry_parse(entry, &t, &p);
                if (k == -ENOMEM)
                        return report_error(ctx, -1, k, "Failed to read ssh_keys: %m");
                if (k == -EOPNOTSUPP) {
                        report_warning(ctx, -1, "ssh_keys: '%s' is a security-key type, which cannot be a host "
                                       "key, skipping it.", entry);
                        continue;
                }
                if (k < 0) {
                        report_warning(ctx, -1, "ssh_keys: unknown entry '%s', expected <type>_private, "
                                       "<type>_public or <type>_certificate with type rsa, ecdsa or ed25519, "
                                       "skipping it.", entry);
                        continue;
                }
                /* The value is never shown: a private key is a secret. */
                if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
                        r = report_error(ctx, -1, 0, "ssh_keys: '%s' must be the content of the key file as a "
                                         "string, skipping it.", entry);
                        continue;
                }

                k = host_key_write(ctx, entry, value, t, p);
                if (k < 0) {
                        r = r < 0 ? r : k;
                        continue;
                }
                given[t] |= 1U << p;
                changed = 1;
        }

        for (size_t t = 0; t < _HOST_KEY_TYPE_MAX; t++) {
                if ((given[t] & (1U << HOST_KEY_PRIVATE)) && !(given[t] & (1U << HOST_KEY_PUBLIC))) {
                        int k = host_key_derive_public(ctx, (HostKeyType) t);
                        if (k < 0)
                                r = r < 0 ? r : k;
                }
                if (given[t] & (1U << HOST_KEY_CERTIFICATE))
                        certificates |= 1U << t;
        }

        *ret_certificates = certificates;
        return r < 0 ? r : changed;
}

/* Generate the host keys of ssh_genkeytypes that do not exist yet, with the image's ssh-keygen.
 * Returns >0 when keys were generated, 0, or the first error. */
static int host_keys_generate(Context *ctx, const SshConfig *c, bool deleted, int output_fd) {
        int r = 0, changed = 0;

        if (c->n_genkey_types == 0) {
                log_info("ssh_genkeytypes is empty, so no SSH host keys are generated.");
                return 0;
        }
        if (!ssh_keygen_installed(ctx)) {
                if (c->genkey_types_given || deleted)
                        return report_error(ctx, -1, 0, "Failed to generate SSH host keys: the image has no "
                                            "ssh-keygen in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, "
                                            "/sbin or /bin.");
                log_info("The image has no ssh-keygen, so no SSH host keys are generated.");
                return 0;
        }

        r = root_mkdir_p(ctx->root_fd, SSH_DIR, 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to create '%s': %m", SSH_DIR);
        r = 0;

        for (size_t i = 0; i < c->n_genkey_types; i++) {
                const char *type = host_key_type_table[c->genkey_types[i]];
                char path[PATH_MAX], name[64];
                int k;

                host_key_path(c->genkey_types[i], HOST_KEY_PRIVATE, path, sizeof(path));
                k = root_exists(ctx->root_fd, path);
                if (k > 0) {
                        log_debug("%s exists, keeping it.", path);
                        continue;
                }

                (void) snprintf(name, sizeof(name), "ssh-keygen for the %s host key", type);
                k = command_run(ctx, name, -1,
                                (char *[]) { "ssh-keygen", "-q", "-t", (char *) type, "-N", "", "-f", path, NULL },
                                output_fd);
                if (k < 0) {
                        r = r < 0 ? r : k;
                        continue;
                }
                log_info("Generated the %s SSH host key %s.", type, path);
                changed = 1;
        }
        return r < 0 ? r : changed;
}

/* Fingerprints, as `ssh-keygen -l` prints them: "256 SHA256:<base64> root@host (ED25519)". */

static const struct {
        const char *name;        /* the key type, as the public key line and the key blob write it */
        const char *label;       /* as ssh-keygen -l shows it */
        unsigned bits;           /* the key size, or 0 when it is the size of an mpint in the blob */
        unsigned skip_mpints;    /* the mpints in the blob before that one */
} public_key_types[] = {
        { "ssh-rsa", "RSA", 0, 1 },                      /* e, then the modulus n */
        { "ssh-dss", "DSA", 0, 0 },                      /* p */
        { "ecdsa-sha2-nistp256", "ECDSA", 256, 0 },
        { "ecdsa-sha2-nistp384", "ECDSA", 384, 0 },
        { "ecdsa-sha2-nistp521", "ECDSA", 521, 0 },
        { "ssh-ed25519", "ED25519", 256, 0 },
        { "sk-ecdsa-sha2-nistp256@openssh.com", "ECDSA-SK", 256, 0 },
        { "sk-ssh-ed25519@openssh.com", "ED25519-SK", 256, 0 },
};

/* Read one RFC 4251 string (a 32-bit big-endian length, then the bytes) and advance past it. */
static int ssh_string_read(const uint8_t **p, size_t *left, const uint8_t **ret, size_t *ret_size) {
        size_t size;

        if (*left < 4)
                return -EBADMSG;
        size = (size_t) (*p)[0] << 24 | (size_t) (*p)[1] << 16 | (size_t) (*p)[2] << 8 | (size_t) (*p)[3];
        if (size > *left - 4)
                return -EBADMSG;
        *ret = *p + 4;
        *ret_size = size;
        *p += 4 + size;
        *left -= 4 + size;
        return 0;
}

/* Bits of an RFC 4251 mpint, which may start with a zero byte that keeps it positive. */
static unsigned mpint_bits(const uint8_t *s, size_t size) {
        while (size > 0 && s[0] == 0) {
                s++;
                size--;
        }
        if (size == 0)
                return 0;
        return (unsigned) (size - 1) * 8 + (unsigned) (32 - __builtin_clz(s[0]));
}

/* Decode the padded base64 of a key blob. Caller owns *ret. */
static int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t padding = 0;
        int n;

        if (len == 0 || len % 4 != 0 || len > INT_MAX)
                return -EBADMSG;
        while (padding < 2 && s[len - 1 - padding] == '=')
                padding++;

        buf = malloc(len / 4 * 3 + 1);
        if (!buf)
                return -ENOMEM;
        n = EVP_DecodeBlock(buf, (const unsigned char *) s, (int) len);
        if (n < 0 || (size_t) n < padding)
                return -EBADMSG;

        *ret_size = (size_t) n - padding;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The line that `ssh-keygen -l -f` prints for a public key file whose first line is text.
 * Returns 0 with *ret (caller owns it), -EBADMSG for a line that is not a public key,
 * -EOPNOTSUPP for a key type not in public_key_types. */
static int public_key_fingerprint(const char *text, char **ret) {
        _cleanup_free_ char *line = NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE], encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
        const uint8_t *p, *name, *mpint = NULL;
        size_t blob_size, left, name_size, mpint_size = 0, type = SIZE_MAX;
        const char *type_text, *base64, *comment;
        unsigned digest_size = 0, bits;
        char *save = NULL;
        int r, n;

        line = strndup(text, strcspn(text, "\r\n"));
        if (!line)
                return -ENOMEM;
        type_text = strtok_r(line, " \t", &save);
        base64 = type_text ? strtok_r(NULL, " \t", &save) : NULL;
        if (!base64)
                return -EBADMSG;
        comment = save ? save + strspn(save, " \t") : "";
        for (char *end = (char *) comment + strlen(comment); end > comment && strchr(" \t", end[-1]); end--)
                end[-1] = '\0';

        for (size_t i = 0; i < ELEMENTSOF(public_key_types); i++)
                if (streq(public_key_types[i].name, type_text))
                        type = i;
        if (type == SIZE_MAX)
                return -EOPNOTSUPP;

        r = base64_decode(base64, strlen(base64), &blob, &blob_size);
        if (r < 0)
                return r;

        /* The blob starts with the type's name, followed by the key's parameters. */
        p = blob;
        left = blob_size;
        r = ssh_string_read(&p, &left, &name, &name_size);
        if (r < 0)
                return r;
        if (name_size != strlen(type_text) || memcmp(name, type_text, name_size) != 0)
                return -EBADMSG;

        bits = public_key_types[type].bits;
        if (bits == 0) {
                for (unsigned i = 0; i <= public_key_types[type].skip_mpints; i++) {
                        r = ssh_string_read(&p, &left, &mpint, &mpint_size);
                        if (r < 0)
                                return r;
                }
                bits = mpint_bits(mpint, mpint_size);
        }

        if (EVP_Digest(blob, blob_size, digest, &digest_size, EVP_sha256(), NULL) != 1)
                return -EIO;
        n = EVP_EncodeBlock(encoded, digest, (int) digest_size);
        /* ssh-keygen leaves out base64's padding. */
        while (n > 0 && encoded[n - 1] == '=')
                encoded[--n] = '\0';

        if (asprintf(ret, "%u SHA256:%s %s (%s)", bits, (const char *) encoded,
                     comment[0] ? comment : "no comment", public_key_types[type].label) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* Print the fingerprints and public keys of ROOT/etc/ssh/ssh_host_*key.pub, so that a user can
 * check a host key from the serial console before trusting it. The blocks go to stderr without a
 * prefix, between the marker lines that cloud-init prints, because tools look for those in the
 * console output. Each fingerprint is also logged. */
static int host_keys_print(Context *ctx) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *fingerprints = NULL, *keys = NULL;
        _cleanup_fclose_ FILE *fp = NULL, *kf = NULL;
        size_t fingerprints_size = 0, keys_size = 0;
        unsigned printed = 0;
        int n;

        n = ssh_dir_list(ctx->root_fd, HOST_PUBLIC_KEY_PATTERN, &names);
        if (n < 0)
                return report_error(ctx, -1, n, "Failed to list the SSH host keys in '%s': %m", SSH_DIR);
        if (n == 0)
                return 0;

        fp = open_memstream(&fingerprints, &fingerprints_size);
        kf = open_memstream(&keys, &keys_size);
        if (!fp || !kf)
                return report_error(ctx, -1, -ENOMEM, "Failed to print the SSH host key fingerprints: %m");

        for (char **name = names; *name; name++) {
                _cleanup_free_ char *path = NULL, *data = NULL, *line = NULL;
                size_t size;
                int r;

                if (asprintf(&path, SSH_DIR "/%s", *name) < 0) {
                        path = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to print the SSH host key fingerprints: %m");
                }
                r = read_file_at(ctx->root_fd, path, HOST_KEY_FILE_MAX, &data, &size);
                if (r >= 0)
                        r = public_key_fingerprint(data, &line);
                if (r < 0) {
                        report_warning(ctx, -1, "Failed to read the SSH host key '%s': %s, skipping it.", path,
                                       r == -EBADMSG ? "not a public key" : r == -EOPNOTSUPP ?
                                       "unknown key type" : strerror(-r));
                        continue;
                }

                log_info("SSH host key fingerprint: %s", line);
                (void) fprintf(fp, "%s\n", line);
                (void) fprintf(kf, "%.*s\n", (int) strcspn(data, "\r\n"), data);
                printed++;
        }

        if (fflush(fp) != 0 || fflush(kf) != 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to print the SSH host key fingerprints: %m");
        if (printed == 0)
                return 0;

        (void) fprintf(stderr,
                       "#############################################################\n"
                       "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                       "%s"
                       "-----END SSH HOST KEY FINGERPRINTS-----\n"
                       "#############################################################\n"
                       "-----BEGIN SSH HOST KEY KEYS-----\n"
                       "%s"
                       "-----END SSH HOST KEY KEYS-----\n",
                       fingerprints, keys);
        (void) fflush(stderr);
        return 0;
}

/* sshd configuration. sshd takes the first value it reads for a keyword, a Match line starts a
 * block that lasts to the end of the file, and Include reads the files its patterns match, in
 * sorted order, in its place. */

typedef enum SshdEdit {
        SSHD_EDIT_SET,           /* top-level occurrences get the value; one is added when there is none */
        SSHD_EDIT_REPLACE,       /* top-level occurrences get the value; none is added */
        SSHD_EDIT_ADD,           /* keyword and value are added unless present: keywords that may repeat */
} SshdEdit;

typedef struct SshdSetting {
        const char *keyword;
        const char *value;
        SshdEdit edit;
} SshdSetting;

/* Settings that one change applies at most: a HostCertificate line for each host key type. */
#define SSHD_SETTINGS_MAX _HOST_KEY_TYPE_MAX

/* One line as sshd splits it: leading blanks, the keyword up to a blank or '=', then the arguments
 * after blanks and at most one '='. Returns false for blank and comment lines. */
static bool sshd_line_parse(const char *line, size_t len, const char **ret_keyword, size_t *ret_keyword_len,
                            const char **ret_args, size_t *ret_args_len) {
        size_t i = 0, keyword_start, keyword_end;

        while (i < len && strchr(" \t", line[i]))
                i++;
        if (i == len || line[i] == '#' || line[i] == '\r')
                return false;

        keyword_start = i;
        while (i < len && !strchr(" \t=\r", line[i]))
                i++;
        keyword_end = i;
        while (i < len && strchr(" \t", line[i]))
                i++;
        if (i < len && line[i] == '=')
                i++;
        while (i < len && strchr(" \t", line[i]))
                i++;
        while (len > i && strchr(" \t\r", line[len - 1]))
                len--;

        *ret_keyword = line + keyword_start;
        *ret_keyword_len = keyword_end - keyword_start;
        *ret_args = line + i;
        *ret_args_len = len - i;
        return true;
}

static bool keyword_is(const char *keyword, size_t len, const char *name) {
        return strlen(name) == len && strncasecmp(keyword, name, len) == 0;
}

/* Whether the arguments of a line are value: exactly for keywords that may repeat (paths), and
 * ignoring case for the others (yes, no). */
static bool sshd_value_is(const SshdSetting *s, const char *args, size_t args_len) {
        if (strlen(s->value) != args_len)
                return false;
        if (s->edit == SSHD_EDIT_ADD)
                return strneq(args, s->value, args_len);
        return strncasecmp(args, s->value, args_len) == 0;
}

/* Apply one setting to sshd configuration text. Lines inside Match blocks are never touched,
 * and an added line goes before the first Match, because everything after a Match line belongs
 * to its block. Returns 1 with *ret (caller owns it) when the text changed, 0 when it already
 * had the setting, -ENOMEM. */
static int sshd_config_edit(const char *text, const SshdSetting *s, char **ret) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t out_size = 0;
        bool found = false, in_match = false, changed = false;
        bool add = s->edit != SSHD_EDIT_REPLACE;

        f = open_memstream(&out, &out_size);
        if (!f)
                return -ENOMEM;

        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n"), keyword_len, args_len;
                bool newline = p[len] == '\n', top_level_setting = false;
                const char *keyword, *args;

                if (!in_match && sshd_line_parse(p, len, &keyword, &keyword_len, &args, &args_len)) {
                        if (keyword_is(keyword, keyword_len, "Match")) {
                                in_match = true;
                                if (add && !found) {
                                        (void) fprintf(f, "%s %s\n", s->keyword, s->value);
                                        found = changed = true;
                                }
                        } else
                                top_level_setting = keyword_is(keyword, keyword_len, s->keyword);
                }

                if (top_level_setting && s->edit == SSHD_EDIT_ADD)
                        found = found || sshd_value_is(s, args, args_len);
                else if (top_level_setting) {
                        found = true;
                        if (!sshd_value_is(s, args, args_len)) {
                                /* The indentation and the keyword's spelling stay as they were. */
                                (void) fprintf(f, "%.*s %s%s", (int) (keyword + keyword_len - p), p, s->value,
                                               newline ? "\n" : "");
                                changed = true;
                                p += len + newline;
                                continue;
                        }
                }

                (void) fwrite(p, 1, len + newline, f);
                p += len + newline;
        }

        if (add && !found) {
                if (*text && text[strlen(text) - 1] != '\n')
                        (void) fputc('\n', f);
                (void) fprintf(f, "%s %s\n", s->keyword, s->value);
                changed = true;
        }

        if (fflush(f) != 0)
                return -ENOMEM;
        if (!changed)
                return 0;
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(out);
        return 1;
}

/* The offset of the top-level Include line of sshd_config whose patterns match path, or -1 when
 * no Include before the first Match reads it. Relative patterns are taken from /etc/ssh, as sshd
 * does. */
static ssize_t sshd_config_include_offset(const char *text, const char *path) {
        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n"), keyword_len, args_len;
                const char *keyword, *args;

                if (sshd_line_parse(p, len, &keyword, &keyword_len, &args, &args_len)) {
                        if (keyword_is(keyword, keyword_len, "Match"))
                                return -1;
                        if (keyword_is(keyword, keyword_len, "Include")) {
                                _cleanup_free_ char *list = strndup(args, args_len);
                                char *save = NULL;

                                if (!list)
                                        return -1;
                                for (char *pattern = strtok_r(list, " \t", &save); pattern;
                                     pattern = strtok_r(NULL, " \t", &save)) {
                                        _cleanup_free_ char *absolute = NULL;

                                        if (pattern[0] != '/' && asprintf(&absolute, SSH_DIR "/%s", pattern) < 0) {
                                                absolute = NULL;
                                                return -1;
                                        }
                                        if (fnmatch(absolute ?: pattern, path, FNM_PATHNAME | FNM_PERIOD) == 0)
                                                return p - text;
                                }
                        }
                }
                p += len + (p[len] == '\n');
        }
        return -1;
}

/* Read an sshd configuration file. Returns 1 with its text, 0 with "" when it is missing, -errno. */
static int sshd_file_read(Context *ctx, const char *path, char **ret) {
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, path, SSHD_CONFIG_FILE_MAX, ret, &size);
        if (r == -ENOENT) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        if (strlen(*ret) != size) {
                free(*ret);
                *ret = NULL;
                return -EBADMSG;
        }
        return 1;
}

/* Replace a configuration file atomically, keeping the mode and owner of the file it replaces. A
 * new file gets mode and root as its owner. */
static int sshd_file_write(Context *ctx, const char *path, const char *text, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        uid_t uid = 0;
        gid_t gid = 0;
        struct stat st;

        fd = root_open(ctx->root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode)) {
                mode = st.st_mode & 07777;
                uid = st.st_uid;
                gid = st.st_gid;
        }
        return write_file_atomic(ctx->root_fd, path, text, strlen(text), mode, uid, gid,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC);
}

/* Apply settings to the file at path; a missing file starts empty. With limit >= 0 only the text
 * before that offset is edited. why, when not NULL, ends the log line of a change. Returns 1 when
 * the file changed, 0, or -errno after reporting. */
static int sshd_file_apply(Context *ctx, const char *path, const SshdSetting *settings, size_t n, ssize_t limit,
                           mode_t new_mode, const char *why) {
        _cleanup_free_ char *text = NULL, *head = NULL;
        const char *tail = "";
        bool changed = false;
        int r;

        r = sshd_file_read(ctx, path, &text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", path);

        head = limit >= 0 ? strndup(text, (size_t) limit) : strdup(text);
        if (!head)
                return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", path);
        if (limit >= 0)
                tail = text + limit;

        for (size_t i = 0; i < n; i++) {
                char *edited = NULL;

                r = sshd_config_edit(head, &settings[i], &edited);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to edit '%s': %m", path);
                if (r == 0)
                        continue;
                free(head);
                head = edited;
                changed = true;
                log_info("Set %s %s in %s%s.", settings[i].keyword, settings[i].value, path, why ?: "");
        }
        if (!changed)
                return 0;

        if (*tail) {
                _cleanup_free_ char *joined = NULL;

                if (asprintf(&joined, "%s%s", head, tail) < 0) {
                        joined = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", path);
                }
                free(head);
                head = TAKE_PTR(joined);
        }

        r = sshd_file_write(ctx, path, head, new_mode);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", path);
        return 1;
}

/* Make the single-valued settings win over what sshd reads before kiln's drop-in: the top-level
 * lines of sshd_config above its Include, and the drop-ins whose names sort before kiln's.
 * Returns >0 when a file changed, 0, or the first error. */
static int sshd_config_override_earlier(Context *ctx, const SshdSetting *settings, size_t n, ssize_t include_offset) {
        SshdSetting replace[SSHD_SETTINGS_MAX];
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        size_t n_replace = 0;
        int r = 0, changed = 0, k;

        assert(n <= SSHD_SETTINGS_MAX);
        for (size_t i = 0; i < n; i++)
                if (settings[i].edit == SSHD_EDIT_SET)
                        replace[n_replace++] = (SshdSetting) { settings[i].keyword, settings[i].value, SSHD_EDIT_REPLACE };
        if (n_replace == 0)
                return 0;

        if (include_offset > 0) {
                k = sshd_file_apply(ctx, SSHD_CONFIG, replace, n_replace, include_offset, 0644,
                                    ", above its Include of " SSHD_DROPIN_NAME ", because sshd takes the first value");
                if (k < 0)
                        r = k;
                changed |= k > 0;
        }

        /* NOTE: only sshd_config.d is searched; files that other Include lines name are not. */
        dir_fd = root_open(ctx->root_fd, SSHD_CONFIG_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd == -ENOENT)
                return r < 0 ? r : changed;
        if (dir_fd < 0)
                return report_error(ctx, -1, dir_fd, "Failed to open '%s': %m", SSHD_CONFIG_DIR);
        k = dir_list(dir_fd, "*.conf", SSHD_DROPINS_MAX, &names);
        if (k < 0)
                return report_error(ctx, -1, k, "Failed to list '%s': %m", SSHD_CONFIG_DIR);

        for (char **name = names; *name && strcmp(*name, SSHD_DROPIN_NAME) < 0; name++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, SSHD_CONFIG_DIR "/%s", *name) < 0) {
                        path = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", SSHD_CONFIG_DIR);
                }
                k = sshd_file_apply(ctx, path, replace, n_replace, -1, 0600,
                                    " too, because sshd reads it before " SSHD_DROPIN_NAME " and takes the first value");
                if (k < 0)
                        r = r < 0 ? r : k;
                changed |= k > 0;
        }
        return r < 0 ? r : changed;
}

/* Put settings into sshd's configuration: into the drop-in sshd_config.d/50-kiln.conf when
 * sshd_config includes it (or there is only the directory, as when the distribution's sshd_config
 * lives in /usr), else into sshd_config itself. what names the cause in a warning when the image has
 * no sshd configuration. Returns >0 when a file changed, 0, or the first error.
 * NOTE: a running sshd is not reloaded, so a change takes effect when sshd next starts. */
static int sshd_config_apply(Context *ctx, const SshdSetting *settings, size_t n, const char *what) {
        _cleanup_free_ char *text = NULL;
        ssize_t include_offset;
        int r, k, has_dir;

        r = sshd_file_read(ctx, SSHD_CONFIG, &text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", SSHD_CONFIG);
        has_dir = root_exists(ctx->root_fd, SSHD_CONFIG_DIR);
        if (r == 0 && has_dir <= 0) {
                report_warning(ctx, -1, "%s: the image has no %s, skipping.", what, SSHD_CONFIG);
                return 0;
        }

        include_offset = r > 0 ? sshd_config_include_offset(text, SSHD_DROPIN) : 0;
        if (include_offset < 0)
                return sshd_file_apply(ctx, SSHD_CONFIG, settings, n, -1, 0644, /* why= */ NULL);

        r = sshd_file_apply(ctx, SSHD_DROPIN, settings, n, -1, 0600, /* why= */ NULL);
        k = sshd_config_override_earlier(ctx, settings, n, include_offset);
        if (r < 0 || k < 0)
                return r < 0 ? r : k;
        return r > 0 || k > 0;
}

static int password_auth_apply(Context *ctx, const SshConfig *c) {
        SshdSetting s = {
                .keyword = "PasswordAuthentication",
                .value = c->password_auth == PASSWORD_AUTH_YES ? "yes" : "no",
                .edit = SSHD_EDIT_SET,
        };

        if (c->password_auth == PASSWORD_AUTH_UNCHANGED)
                return 0;
        return sshd_config_apply(ctx, &s, 1, "ssh_pwauth");
}

/* Point sshd at the host certificates of ssh_keys. */
static int host_certificates_apply(Context *ctx, unsigned certificates) {
        char paths[_HOST_KEY_TYPE_MAX][PATH_MAX];
        SshdSetting settings[_HOST_KEY_TYPE_MAX];
        size_t n = 0;

        for (size_t t = 0; t < _HOST_KEY_TYPE_MAX; t++) {
                if (!(certificates & (1U << t)))
                        continue;
                host_key_path((HostKeyType) t, HOST_KEY_CERTIFICATE, paths[n], sizeof(paths[n]));
                settings[n] = (SshdSetting) { "HostCertificate", paths[n], SSHD_EDIT_ADD };
                n++;
        }
        if (n == 0)
                return 0;
        return sshd_config_apply(ctx, settings, n, "ssh_keys certificates");
}

/* Delete the image's host keys, then install those of ssh_keys or generate new ones, and print
 * their fingerprints. Returns >0 when something changed, 0, or the first error. */
static int host_keys_setup(Context *ctx, const SshConfig *c) {
        _cleanup_close_ int output_fd = -EBADF;
        unsigned certificates = 0;
        int r = 0, k, deleted = 0, changed = 0;

        if (c->delete_keys) {
                deleted = host_keys_delete(ctx);
                if (deleted < 0)
                        r = deleted;
                changed |= deleted > 0;
        }

        if (c->host_keys) {
                k = host_keys_install(ctx, c->host_keys, &certificates);
                if (k >= 0) {
                        int installed = k;

                        k = host_certificates_apply(ctx, certificates);
                        if (k >= 0)
                                k = installed || k > 0;
                }
        } else {
                if (c->n_genkey_types > 0 && ssh_keygen_installed(ctx))
                        output_fd = command_output_open(ctx, "ssh-keygen");
                k = host_keys_generate(ctx, c, deleted > 0, output_fd);
        }
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        k = host_keys_print(ctx);
        if (k < 0)
                r = r < 0 ? r : k;
        return r < 0 ? r : changed;
}

/* Authorized keys. */

/* Scan comma-separated user names ("default, alice") as cloud-init splits them: set *has_default
 * when one is "default", and copy the first other name into first (size bytes) unless *ret_first
 * is set already. */
static void user_names_scan(const char *names, bool *has_default, const char **ret_first, char *first,
                            size_t size) {
        for (const char *p = names; *p;) {
                size_t len = strcspn(p, ","), start = strspn(p, " \t"), end = len;

                while (end > start && strchr(" \t", p[end - 1]))
                        end--;
                if (end - start == strlen("default") && strneq(p + start, "default", end - start))
                        *has_default = true;
                else if (end > start && !*ret_first && end - start < size) {
                        memcpy(first, p + start, end - start);
                        first[end - start] = '\0';
                        *ret_first = first;
                }
                p += len + (p[len] == ',');
        }
}

/* Whether users names the image's default user ("default"). users may be a list of names and
 * mappings, one comma-separated string, or a mapping of names, as cloud-init reads it.
 * *ret_first receives the first other user listed (borrowed from users or first, or NULL). */
static bool users_list_default(const json_t *users, const char **ret_first, char *first, size_t size) {
        bool has_default = false;
        const json_t *item;
        const char *key;
        size_t i;

        *ret_first = NULL;
        if (json_is_string(users)) {
                user_names_scan(json_string_value(users), &has_default, ret_first, first, size);
                return has_default;
        }

        if (json_is_object(users)) {
                json_object_foreach((json_t *) users, key, item) {
                        if (streq(key, "default"))
                                has_default = has_default || !json_is_false(item);
                        else if (!*ret_first)
                                *ret_first = key;
                }
                return has_default;
        }

        json_array_foreach(users, i, item) {
                const json_t *name = json_object_get(item, "name");

                if (json_is_string(item))
                        user_names_scan(json_string_value(item), &has_default, ret_first, first, size);
                /* A mapping without a name is the default user, as in cloud-init. */
                else if (json_is_object(item) && (!name || (json_is_string(name) &&
                                                            streq(json_string_value(name), "default"))))
                        has_default = true;
                else if (json_is_string(name) && !*ret_first)
                        *ret_first = json_string_value(name);
        }
        return has_default;
}

/* The user who gets the instance's SSH keys, as the users_groups module picks it for the
 * metadata's keys: the image's default user (system_info.default_user.name) when users lists
 * "default" or there is no users key, otherwise the first user listed. users: null creates no
 * user at all. Returns NULL (root only) when there is none. first is a buffer for a name taken
 * from a string. */
static const char *ssh_keys_user(const Context *ctx, const json_t *config, char *first, size_t size) {
        const json_t *users = json_object_get(config, "users");
        const char *default_user = NULL, *first_listed = NULL;
        const json_t *sources[] = { config, ctx->system_config };
        bool has_default;

        for (size_t i = 0; i < ELEMENTSOF(sources) && !default_user; i++)
                default_user = json_string_value(json_get_path(sources[i], "system_info", "default_user", "name", NULL));
        if (default_user && default_user[0] == '\0')
                default_user = NULL;

        if (!users)
                return default_user;
        if (json_is_null(users))
                return NULL;

        has_default = users_list_default(users, &first_listed, first, size);
        if (has_default && default_user)
                return default_user;
        return first_listed;
}

/* Replace every occurrence of from in s by to. Caller owns the result. */
static char *string_replace(const char *s, const char *from, const char *to) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, from_len = strlen(from);
        const char *hit;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        while ((hit = strstr(s, from))) {
                (void) fwrite(s, 1, (size_t) (hit - s), f);
                (void) fputs(to, f);
                s = hit + from_len;
        }
        (void) fputs(s, f);
        if (fclose(TAKE_PTR(f)) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* The options that refuse a root login with a key: disable_root_opts with $USER and
 * $DISABLE_USER filled in, in cloud-init's order. Caller owns the result. */
static char *disable_root_options(const char *opts, const char *user) {
        _cleanup_free_ char *with_user = NULL;

        with_user = string_replace(opts, "$USER", user ?: DISABLE_ROOT_NO_USER);
        if (!with_user)
                return NULL;
        return string_replace(with_user, "$DISABLE_USER", "root");
}

/* A copy of key without its final line breaks, or NULL (-ENOMEM). *ret_problem is NULL when the
 * copy is one line that authorized_key_parse() accepts, else the reason it is not, which follows
 * the key's name. */
static char *authorized_key_copy(const char *key, const char **ret_problem) {
        AuthorizedKey parsed;
        size_t len = strlen(key);
        char *copy;

        while (len > 0 && strchr("\r\n", key[len - 1]))
                len--;
        copy = strndup(key, len);
        if (!copy)
                return NULL;

        *ret_problem = NULL;
        if (copy[strcspn(copy, "\r\n")] != '\0')
                *ret_problem = "holds more than one line. Write each key as its own list item";
        else if (authorized_key_parse(copy, &parsed) < 0)
                *ret_problem = "is not an SSH public key: 'TYPE BASE64 [COMMENT]' with a type such as ssh-ed25519";
        return copy;
}

/* Append copies of the SSH public keys in list to keys (*n so far, at most max), without a final
 * line break. Other items are reported as source[i]: as errors when the user wrote them, as
 * warnings when they come from the metadata. Returns 0, or the first error. */
static int keys_collect(Context *ctx, const json_t *list, const char *source, bool from_user, char **keys,
                        size_t *n, size_t max) {
        const json_t *item;
        size_t i;
        int r = 0;

        json_array_foreach(list, i, item) {
                _cleanup_free_ char *copy = NULL;
                const char *problem;

                if (!json_is_string(item) || *n >= max)
                        continue;
                copy = authorized_key_copy(json_string_value(item), &problem);
                if (!copy)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read %s: %m", source);

                if (problem && from_user)
                        r = report_error(ctx, (int) i, 0, "%s[%zu] %s, skipping it.", source, i, problem);
                else if (problem)
                        report_warning(ctx, -1, "%s[%zu] %s, skipping it.", source, i, problem);
                else
                        keys[(*n)++] = TAKE_PTR(copy);
        }
        return r;
}

/* Add keys to the authorized_keys of user, reporting a failure. */
static int keys_add(Context *ctx, const char *user, char *const *keys, const char *options, const char *what) {
        int r;

        r = authorized_keys_add(ctx->root_fd, user, keys, options);
        if (r == -ESRCH)
                return report_error(ctx, -1, 0, "Failed to add %s to the authorized keys of '%s': no such user "
                                    "in /etc/passwd.", what, user);
        if (r == -ELOOP)
                return report_error(ctx, -1, r, "Failed to add %s to the authorized keys of '%s': ~/.ssh or "
                                    "~/.ssh/authorized_keys is a symbolic link, which kiln does not follow.", what,
                                    user);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to add %s to the authorized keys of '%s': %m", what, user);
        if (r > 0)
                log_info("Added %s to the authorized keys of '%s'.", what, user);
        else
                log_debug("The authorized keys of '%s' already hold %s.", user, what);
        return r;
}

/* ssh_authorized_keys go to the user who gets the instance's keys. Root gets them too, with the
 * metadata's keys, behind options that refuse the login unless disable_root is false, as in
 * cloud-init. Returns >0 when a file changed, 0, or the first error. */
static int authorized_keys_apply(Context *ctx, const json_t *config, const SshConfig *c) {
        const json_t *metadata_keys = ctx->instance ? json_object_get(ctx->instance->metadata, "public_ssh_keys") :
                                                      NULL;
        _cleanup_strv_free_ char **user_keys = NULL, **root_keys = NULL;
        _cleanup_free_ char *options = NULL;
        size_t n_user = 0, n_root = 0, n_metadata = MIN(json_array_size(metadata_keys), AUTHORIZED_KEYS_MAX);
        size_t n_config = json_array_size(c->authorized_keys);
        char first[256];
        const char *user;
        int r, k, changed = 0;

        user_keys = calloc(n_config + 1, sizeof(char *));
        root_keys = calloc(n_config + n_metadata + 1, sizeof(char *));
        if (!user_keys || !root_keys)
                return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys: %m");

        r = keys_collect(ctx, c->authorized_keys, "ssh_authorized_keys", true, user_keys, &n_user, n_config);
        if (c->allow_public_keys)
                (void) keys_collect(ctx, metadata_keys, "metadata public-keys", false, root_keys, &n_root, n_metadata);
        else if (n_metadata > 0)
                log_info("allow_public_ssh_keys is false, so root does not get the metadata's keys.");
        for (size_t i = 0; i < n_user; i++) {
                root_keys[n_root] = strdup(user_keys[i]);
                if (!root_keys[n_root++])
                        return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys: %m");
        }

        user = ssh_keys_user(ctx, config, first, sizeof(first));
        if (n_user > 0 && user && !streq(user, "root")) {
                log_info("ssh_authorized_keys go to '%s', the user who gets the instance's SSH keys.", user);
                k = keys_add(ctx, user, user_keys, /* options= */ NULL, "the keys of ssh_authorized_keys");
                if (k < 0)
                        r = r < 0 ? r : k;
                changed |= k > 0;
        } else if (n_user > 0 && !user)
                log_info("There is no default user, so ssh_authorized_keys go to root only.");

        if (n_root == 0)
                return r < 0 ? r : changed;

        if (c->disable_root) {
                options = disable_root_options(c->disable_root_opts, user);
                if (!options)
                        return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys of root: %m");
        }
        k = keys_add(ctx, "root", root_keys, options,
                     c->disable_root ? "the instance's keys with options that refuse the login (disable_root)" :
                                       "the instance's keys (disable_root is false)");
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;
        return r < 0 ? r : changed;
}

static int ssh_run(Context *ctx, const json_t *config) {
        _cleanup_(ssh_config_done) SshConfig c = {};
        int r, k, changed = 0;

        r = ssh_config_parse(ctx, config, &c);

        k = host_keys_setup(ctx, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        k = password_auth_apply(ctx, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        k = authorized_keys_apply(ctx, config, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        return r < 0 ? r : changed;
}

static const char *const ssh_config_keys[] = {
        "ssh_authorized_keys", "ssh_pwauth", "disable_root", "ssh_deletekeys", "ssh_genkeytypes", "ssh_keys",
        "ssh_quiet_keygen", "disable_root_opts", "ssh_publish_hostkeys", "allow_public_ssh_keys", NULL,
};

/* Checks that give `kiln validate` the verdicts of ssh_config_parse() and the steps after it. */

static int password_auth_check(const json_t *v, const char *source_text, char *message, size_t size) {
        int b;

        if (json_is_null(v) || json_is_boolean(v))
                return 0;
        if (!json_is_string(v)) {
                (void) snprintf(message, size, "must be true or false, not %s.", json_type_name(v));
                return -EINVAL;
        }
        if (strcasecmp(json_string_value(v), PASSWORD_AUTH_UNCHANGED_STRING) == 0) {
                (void) snprintf(message, size, "is the string '%s', so PasswordAuthentication is left unchanged. "
                                "Remove the key instead.", json_string_value(v));
                return SHAPE_CHECK_WARNING;
        }
        b = parse_boolean(json_string_value(v));
        if (b < 0) {
                (void) snprintf(message, size, "must be true or false, not '%s'.", json_string_value(v));
                return -EINVAL;
        }
        (void) snprintf(message, size, "is the string '%s', not a boolean, so it is read as %s. Write %s without "
                        "quotes.", json_string_value(v), b ? "true" : "false", b ? "true" : "false");
        return SHAPE_CHECK_WARNING;
}

static int genkey_types_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (!json_is_string(v))
                return 0;
        if (host_key_type_from_string(json_string_value(v)) < 0) {
                (void) snprintf(message, size, "has the unsupported key type '%s'. Use rsa, ecdsa or ed25519.",
                                json_string_value(v));
                return -EINVAL;
        }
        (void) snprintf(message, size, "is a string, which is read as a list of one type. Write it as [%s].",
                        json_string_value(v));
        return SHAPE_CHECK_WARNING;
}

/* Entries of ssh_keys that are skipped give a warning; the values are never shown, because a
 * private key is a secret. */
static int host_keys_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *entry;
        const json_t *value;
        int r = 0;

        message[0] = '\0';
        json_object_foreach((json_t *) v, entry, value) {
                HostKeyType t;
                HostKeyPart p;
                int k = host_key_entry_parse(entry, &t, &p);

                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0) {
                        (void) snprintf(message, size, "has the %s entry '%s', which is skipped. Use "
                                        "<type>_private, <type>_public or <type>_certificate with type rsa, "
                                        "ecdsa or ed25519.", k == -EOPNOTSUPP ? "security-key" : "unknown", entry);
                        r = SHAPE_CHECK_WARNING;
                }
                if (k >= 0 && (!json_is_string(value) ||
                               strlen(json_string_value(value)) != json_string_length(value))) {
                        (void) snprintf(message, size, "entry '%s' must be the content of the key file as a "
                                        "string.", entry);
                        return -EINVAL;
                }
        }
        return r;
}

static int authorized_key_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *copy = NULL;
        const char *problem;

        if (!json_is_string(v))
                return 0;
        copy = authorized_key_copy(json_string_value(v), &problem);
        if (!copy)
                return -ENOMEM;
        if (!problem)
                return 0;
        (void) snprintf(message, size, "%s.", problem);
        return -EINVAL;
}

static int authorized_keys_check(const json_t *v, const char *source_text, char *message, size_t size) {
        int r;

        if (!json_is_string(v))
                return 0;
        r = authorized_key_check(v, source_text, message, size);
        if (r < 0)
                return r;
        (void) snprintf(message, size, "is a string, which is read as a list of one key. Write the key as a "
                        "list item, '- ssh-...'.");
        return SHAPE_CHECK_WARNING;
}

static const char *const host_key_type_values[] = { "rsa", "ecdsa", "ed25519", NULL };

static const KeyShape genkey_type_shape = { .types = SHAPE_STRING, .values = host_key_type_values };
static const KeyShape authorized_key_shape = { .types = SHAPE_STRING, .check = authorized_key_check };

static const KeyField ssh_fields[] = {
        { .name = "ssh_authorized_keys",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &authorized_key_shape,
                     .check = authorized_keys_check },
          .description = "Public keys for the default user, or the first user listed, and for root, whose "
                         "login they refuse unless disable_root is false." },
        { .name = "ssh_pwauth",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_STRING | SHAPE_NULL, .check = password_auth_check },
          .description = "Set sshd's PasswordAuthentication to yes or no. Default: leave it unchanged." },
        { .name = "disable_root",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = "Put options before root's authorized keys that refuse the login and name the user "
                         "to log in as. Default: true." },
        { .name = "disable_root_opts",
          .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = "The authorized_keys options for root's keys when disable_root is true. $USER "
                         "becomes the default user's name and $DISABLE_USER root." },
        { .name = "ssh_deletekeys",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = "Delete the host keys that came with the image on a new instance. Default: true." },
        { .name = "ssh_genkeytypes",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &genkey_type_shape,
                     .check = genkey_types_check },
          .description = "The host key types to generate when ssh_keys is not set. Default: [rsa, ecdsa, "
                         "ed25519]." },
        { .name = "ssh_keys",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .check = host_keys_check },
          .description = "Host keys to install instead of generated ones: <type>_private, <type>_public and "
                         "<type>_certificate for rsa, ecdsa and ed25519." },
        { .name = "ssh_quiet_keygen",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = "Accepted for cloud-init's sake: kiln always generates keys quietly and prints the "
                         "fingerprints." },
        { .name = "ssh_publish_hostkeys",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL },
          .description = "Accepted for cloud-init's sake: the EC2 and NoCloud datasources take no host keys." },
        { .name = "allow_public_ssh_keys",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = "Give the metadata service's public keys to the instance's users. Default: true." },
        {}
};

/* Per instance, so that a reboot keeps the host keys. The runner also skips per-instance modules
 * when the metadata service is down and cached data is used, so an outage never replaces them. */
const AgentModule module_ssh = {
        .name = "ssh",
        .config_keys = ssh_config_keys,
        .config_fields = ssh_fields,
        .always_run = true,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = ssh_run,
};
