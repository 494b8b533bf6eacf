/* SPDX-License-Identifier: Apache-2.0 */
/* SSH host keys for the ssh module: deleting the image's keys, installing those of ssh_keys or
 * generating new ones with ssh-keygen, and printing their fingerprints on the console. */

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
#include "ssh-internal.h"

const char *const host_key_type_table[_HOST_KEY_TYPE_MAX] = {
        [HOST_KEY_RSA] = "rsa",
        [HOST_KEY_ECDSA] = "ecdsa",
        [HOST_KEY_ED25519] = "ed25519",
};

HostKeyType host_key_type_from_string(const char *s) {
        for (size_t i = 0; i < _HOST_KEY_TYPE_MAX; i++)
                if (streq(host_key_type_table[i], s))
                        return (HostKeyType) i;
        return _HOST_KEY_TYPE_INVALID;
}

const HostKeyPartInfo host_key_part_table[_HOST_KEY_PART_MAX] = {
        [HOST_KEY_PRIVATE] = { "private", "", 0600 },
        [HOST_KEY_PUBLIC] = { "public", ".pub", 0644 },
        [HOST_KEY_CERTIFICATE] = { "certificate", "-cert.pub", 0644 },
};

static int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in the directory dir_fd that match pattern and are not directories, sorted as glob(3)
 * sorts them, at most max. Returns the number of names (*ret is NULL-terminated, caller owns it)
 * or -errno. */
int dir_list(int dir_fd, const char *pattern, size_t max, char ***ret) {
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

void host_key_path(HostKeyType t, HostKeyPart p, char *buf, size_t size) {
        (void) snprintf(buf, size, SSH_DIR "/ssh_host_%s_key%s", host_key_type_table[t],
                        host_key_part_table[p].file_suffix);
}

/* Split an ssh_keys entry name such as "rsa_private". Returns 0, -EOPNOTSUPP for the security-key
 * types ("ed25519-sk_private"), which cannot be host keys, or -EINVAL for any other name. */
int host_key_entry_parse(const char *name, HostKeyType *ret_type, HostKeyPart *ret_part) {
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
                              WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
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
        r = write_file_atomic(ctx->root_fd, public_path, line, strlen(line), 0644, 0, 0, WRITE_SYNC_DEFERRED);
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

/* Delete the image's host keys, then install those of ssh_keys or generate new ones, and print
 * their fingerprints. Returns >0 when something changed, 0, or the first error. */
int host_keys_setup(Context *ctx, const SshConfig *c) {
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
