/* SPDX-License-Identifier: Apache-2.0 */
/* Adding SSH public keys to a user's authorized_keys file inside the target root. */

#include <assert.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "authorized-keys.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define PASSWD_FILE "/etc/passwd"
#define SSH_DIRECTORY ".ssh"
#define SSH_DIRECTORY_MODE 0700
#define AUTHORIZED_KEYS_FILE "authorized_keys"
#define AUTHORIZED_KEYS_MODE 0600

#define BLANKS " \t"

/* The public key types OpenSSH accepts in authorized_keys (signature-only names left out), plus
 * the bare "rsa", "ecdsa" and "ed25519" of old distributions, as cloud-init's ssh_util lists them. */
static const char *const key_types[] = {
        "rsa",
        "ecdsa",
        "ed25519",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519",
        "ssh-rsa-cert-v01@openssh.com",
        "ssh-rsa",
        "ssh-xmss-cert-v01@openssh.com",
        "ssh-xmss@openssh.com",
};

static bool key_type_known(const char *s, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
                if (strlen(key_types[i]) == n && strneq(key_types[i], s, n))
                        return true;
        return false;
}

/* Split "keytype base64 [comment]". The comment is the rest of the line without trailing blanks. */
static int parse_key_fields(const char *s, AuthorizedKey *k) {
        size_t n;

        s += strspn(s, BLANKS);
        n = strcspn(s, BLANKS);
        if (!key_type_known(s, n))
                return -EINVAL;
        k->type = s;
        k->type_len = n;

        s += n;
        s += strspn(s, BLANKS);
        n = strcspn(s, BLANKS);
        if (n == 0)
                return -EINVAL;
        k->blob = s;
        k->blob_len = n;

        s += n;
        s += strspn(s, BLANKS);
        n = strlen(s);
        while (n > 0 && strchr(BLANKS "\r\n", s[n - 1]))
                n--;
        k->comment = n > 0 ? s : NULL;
        k->comment_len = n;
        return 0;
}

/* Length of the options at the start of s: they end at the first blank outside double quotes,
 * and a backslash before a double quote keeps that quote from opening or closing a string. */
static size_t options_length(const char *s) {
        bool quoted = false;
        size_t i = 0;

        for (; s[i] != '\0' && (quoted || !strchr(BLANKS, s[i])); i++) {
                if (s[i] == '\\' && s[i + 1] == '"') {
                        i++;
                        continue;
                }
                if (s[i] == '"')
                        quoted = !quoted;
        }
        return i;
}

int authorized_key_parse(const char *line, AuthorizedKey *ret) {
        AuthorizedKey k = {};
        size_t n;

        assert(line);
        assert(ret);

        line += strspn(line, BLANKS);
        if (line[0] == '#' || line[strspn(line, BLANKS "\r\n")] == '\0')
                return -EINVAL;

        /* A line without options starts with a key type, and otherwise the options come first. */
        if (parse_key_fields(line, &k) < 0) {
                n = options_length(line);
                k = (AuthorizedKey) { .options = line, .options_len = n };
                if (parse_key_fields(line + n, &k) < 0)
                        return -EINVAL;
        }

        *ret = k;
        return 0;
}

/* The line that is written for key, with options in place of its own when options is not NULL.
 * Caller owns the result. */
static char *key_format(const AuthorizedKey *k, const char *options) {
        const char *o = options ?: k->options;
        int o_len = options ? (int) strlen(options) : (int) k->options_len;
        char *line;

        if (asprintf(&line, "%.*s%s%.*s %.*s%s%.*s",
                     o ? o_len : 0, o ? o : "", o ? " " : "",
                     (int) k->type_len, k->type, (int) k->blob_len, k->blob,
                     k->comment ? " " : "", (int) k->comment_len, k->comment ? k->comment : "") < 0)
                return NULL;
        return line;
}

static bool same_blob(const AuthorizedKey *a, const AuthorizedKey *b) {
        return a->blob_len == b->blob_len && strneq(a->blob, b->blob, a->blob_len);
}

/* The user's home, uid and primary gid from the root's own passwd file. */
static int user_lookup(int root_fd, const char *user, char **ret_home, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_fclose_ FILE *f = NULL;
        int fd;
        struct passwd *p;

        fd = root_open(root_fd, PASSWD_FILE, O_RDONLY, 0);
        if (fd < 0)
                return fd == -ENOENT ? -ESRCH : fd;
        f = fdopen(fd, "re");
        if (!f) {
                (void) close(fd);
                return -errno;
        }

        while ((p = fgetpwent(f)))
                if (streq(p->pw_name, user)) {
                        *ret_home = strdup(p->pw_dir);
                        if (!*ret_home)
                                return -ENOMEM;
                        *ret_uid = p->pw_uid;
                        *ret_gid = p->pw_gid;
                        return 0;
                }
        return -ESRCH;
}

/* Open HOME/.ssh, creating it when missing. A symbolic link is rejected, because root would
 * then write into whatever directory the user points it at. */
static int ssh_directory_open(int home_fd, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (fstatat(home_fd, SSH_DIRECTORY, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return -errno;
                if (mkdirat(home_fd, SSH_DIRECTORY, SSH_DIRECTORY_MODE) < 0)
                        return -errno;
                fd = openat(home_fd, SSH_DIRECTORY, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                /* mkdirat() applied the umask, and chown() may clear mode bits, so the mode goes last. */
                if (fchown(fd, uid, gid) < 0 || fchmod(fd, SSH_DIRECTORY_MODE) < 0)
                        return -errno;
                return TAKE_FD(fd);
        }

        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        fd = openat(home_fd, SSH_DIRECTORY, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : TAKE_FD(fd);
}

/* Read the existing file, "" when there is none. ret_st is zeroed then. */
static int existing_read(int ssh_fd, char **ret, struct stat *ret_st) {
        if (fstatat(ssh_fd, AUTHORIZED_KEYS_FILE, ret_st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return -errno;
                *ret_st = (struct stat) {};
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (S_ISLNK(ret_st->st_mode))
                return -ELOOP;

        /* ssh_fd serves as the root here, so the lookup cannot leave the directory. */
        return read_file_at(ssh_fd, AUTHORIZED_KEYS_FILE, AUTHORIZED_KEYS_FILE_MAX, ret, NULL);
}

/* Append s and a newline to the growing content. */
static int content_add_line(FILE *out, const char *s, size_t n) {
        if (fwrite(s, 1, n, out) != n || fputc('\n', out) == EOF)
                return -ENOMEM;
        return 0;
}

/* Build the new content: the old lines, where the first line with the same base64 text as a new
 * key is replaced by that key's line, then the new keys that matched no line. */
static int content_build(const char *old, char *const *lines, const AuthorizedKey *keys, size_t n_keys,
                         char **ret, size_t *ret_size) {
        _cleanup_free_ bool *placed = calloc(n_keys + 1, sizeof(bool));
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *out;
        int r = 0;

        if (!placed)
                return -ENOMEM;
        out = open_memstream(&buf, &size);
        if (!out)
                return -ENOMEM;

        for (const char *p = old; *p && r >= 0;) {
                size_t n = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, n);
                AuthorizedKey existing;
                size_t i;

                if (!line) {
                        r = -ENOMEM;
                        break;
                }
                i = n_keys;
                if (authorized_key_parse(line, &existing) >= 0)
                        for (i = 0; i < n_keys && !same_blob(&existing, &keys[i]); i++)
                                ;
                if (i == n_keys)
                        r = content_add_line(out, p, n);
                else if (!placed[i]) {
                        r = content_add_line(out, lines[i], strlen(lines[i]));
                        placed[i] = true;
                }
                /* A second line with the same key is dropped, so the key appears once. */
                p += n;
                if (*p == '\n')
                        p++;
        }

        for (size_t i = 0; i < n_keys && r >= 0; i++)
                if (!placed[i])
                        r = content_add_line(out, lines[i], strlen(lines[i]));

        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;

        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static void lines_free(char **lines, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
}

/* Parse the new keys and format their lines. A key whose base64 text an earlier key already has
 * is dropped, so each key is written once. */
static int keys_prepare(char *const *keys, const char *options, AuthorizedKey **ret_keys, char ***ret_lines,
                        size_t *ret_n) {
        AuthorizedKey *parsed = NULL;
        char **lines = NULL;
        size_t n = 0, total = 0;

        while (keys[total])
                total++;

        parsed = calloc(total + 1, sizeof(AuthorizedKey));
        lines = calloc(total + 1, sizeof(char *));
        if (!parsed || !lines) {
                free(parsed);
                free(lines);
                return -ENOMEM;
        }

        for (size_t i = 0; i < total; i++) {
                bool duplicate = false;

                /* A line break inside a key would add a line of the caller's choosing. */
                if (keys[i][strcspn(keys[i], "\r\n")] != '\0' || authorized_key_parse(keys[i], &parsed[n]) < 0) {
                        lines_free(lines, n);
                        free(parsed);
                        return -EINVAL;
                }
                for (size_t j = 0; j < n; j++)
                        duplicate = duplicate || same_blob(&parsed[j], &parsed[n]);
                if (duplicate)
                        continue;

                lines[n] = key_format(&parsed[n], options);
                if (!lines[n]) {
                        lines_free(lines, n);
                        free(parsed);
                        return -ENOMEM;
                }
                n++;
        }

        *ret_keys = parsed;
        *ret_lines = lines;
        *ret_n = n;
        return 0;
}

int authorized_keys_add(int root_fd, const char *user, char *const *keys, const char *options) {
        _cleanup_close_ int home_fd = -EBADF, ssh_fd = -EBADF;
        _cleanup_free_ char *home = NULL, *old = NULL, *content = NULL;
        _cleanup_free_ AuthorizedKey *parsed = NULL;
        char **lines = NULL;
        size_t n_keys = 0, size = 0;
        struct stat st;
        uid_t uid = 0;
        gid_t gid = 0;
        int r;

        assert(root_fd >= 0);
        assert(user);
        assert(keys);

        if (options && options[strcspn(options, "\r\n")] != '\0')
                return -EINVAL;

        r = keys_prepare(keys, options, &parsed, &lines, &n_keys);
        if (r < 0)
                return r;

        r = user_lookup(root_fd, user, &home, &uid, &gid);
        if (r >= 0) {
                home_fd = root_open(root_fd, home, O_RDONLY | O_DIRECTORY, 0);
                r = home_fd;
        }
        if (r >= 0)
                r = ssh_fd = ssh_directory_open(home_fd, uid, gid);
        if (r >= 0)
                r = existing_read(ssh_fd, &old, &st);
        if (r >= 0)
                r = content_build(old, lines, parsed, n_keys, &content, &size);
        lines_free(lines, n_keys);
        if (r < 0)
                return r;

        if (streq(content, old) && S_ISREG(st.st_mode) && (st.st_mode & 07777) == AUTHORIZED_KEYS_MODE &&
            st.st_uid == uid && st.st_gid == gid)
                return 0;

        r = write_file_atomic(ssh_fd, AUTHORIZED_KEYS_FILE, content, size, AUTHORIZED_KEYS_MODE, uid, gid,
                              WRITE_SYNC_DEFERRED);
        if (r < 0)
                return r;
        return 1;
}
