/* SPDX-License-Identifier: Apache-2.0 */
/* The write_files module's writing side: decoding the content of an entry, resolving its owner in
 * the root's own account files, and writing the entries in batches that wait for the disk once. */

#include <ctype.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "report.h"
#include "write-files-internal.h"

/* Cap on the size of gzip content after inflating, because a few KiB of user data can otherwise
 * expand to gigabytes. */
#define WRITE_FILES_INFLATED_MAX (64U * 1024U * 1024U)

/* Size of the buffer that inflated data grows by. */
#define INFLATE_CHUNK (64U * 1024U)

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"

/* Only the characters of standard base64 and whitespace; EVP_DecodeUpdate() itself would stop
 * silently at a '-'. */
static bool base64_alphabet_only(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (!isalnum(c) && c != '+' && c != '/' && c != '=' && !isspace(c))
                        return false;
        }
        return true;
}

/* Decode base64 text that may contain line breaks and other whitespace. */
static int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        EVP_ENCODE_CTX *c;
        int len = 0, final_len = 0, k;

        if (n > INT_MAX - 64 || !base64_alphabet_only(s, n))
                return -EINVAL;

        buf = malloc(n / 4 * 3 + 64);
        if (!buf)
                return -ENOMEM;

        c = EVP_ENCODE_CTX_new();
        if (!c)
                return -ENOMEM;
        EVP_DecodeInit(c);
        k = EVP_DecodeUpdate(c, buf, &len, (const unsigned char *) s, (int) n);
        if (k >= 0)
                k = EVP_DecodeFinal(c, buf + len, &final_len);
        EVP_ENCODE_CTX_free(c);
        if (k < 0)
                return -EINVAL;

        *ret = TAKE_PTR(buf);
        *ret_size = (size_t) len + (size_t) final_len;
        return 0;
}

static void inflate_endp(z_stream *z) {
        (void) inflateEnd(z);
}

/* Inflate gzip data, concatenated members included, up to WRITE_FILES_INFLATED_MAX bytes.
 * Returns -EBADMSG when the data is not gzip, -EFBIG when it inflates past the cap. */
static int gzip_decode(const uint8_t *data, size_t size, uint8_t **ret, size_t *ret_size, const char **reterr) {
        _cleanup_(inflate_endp) z_stream z = {};
        _cleanup_free_ uint8_t *out = NULL;
        size_t allocated = 0, used = 0;
        int k;

        if (size > UINT_MAX)
                return -EFBIG;

        /* Python's gzip module, which cloud-init uses, reads empty input as empty content. */
        if (size == 0) {
                out = malloc(1);
                if (!out)
                        return -ENOMEM;
                *ret = TAKE_PTR(out);
                *ret_size = 0;
                return 0;
        }

        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
        z.next_in = (Bytef *) data;
        z.avail_in = (uInt) size;

        for (;;) {
                if (used == allocated) {
                        uint8_t *p;

                        if (allocated >= WRITE_FILES_INFLATED_MAX)
                                return -EFBIG;
                        allocated = MIN(allocated + INFLATE_CHUNK, (size_t) WRITE_FILES_INFLATED_MAX + 1);
                        p = realloc(out, allocated);
                        if (!p)
                                return -ENOMEM;
                        out = p;
                }
                z.next_out = out + used;
                z.avail_out = (uInt) (allocated - used);

                k = inflate(&z, Z_NO_FLUSH);
                used = allocated - z.avail_out;
                if (used > WRITE_FILES_INFLATED_MAX)
                        return -EFBIG;

                if (k == Z_STREAM_END) {
                        if (z.avail_in == 0)
                                break;
                        /* Another gzip member follows, as gzip -c a b > c produces. */
                        if (inflateReset(&z) != Z_OK)
                                return -ENOMEM;
                        continue;
                }
                if (k == Z_OK)
                        continue;
                if (k == Z_BUF_ERROR && z.avail_out == 0)
                        continue;
                if (k == Z_MEM_ERROR)
                        return -ENOMEM;

                *reterr = z.msg ?: (k == Z_BUF_ERROR ? "unexpected end of data" : "invalid data");
                return -EBADMSG;
        }

        *ret = TAKE_PTR(out);
        *ret_size = used;
        return 0;
}

static int content_gunzip(Context *ctx, const FileEntry *e, const uint8_t *data, size_t size,
                          uint8_t **ret, size_t *ret_size) {
        const char *zlib_message = NULL;
        int r;

        r = gzip_decode(data, size, ret, ret_size, &zlib_message);
        if (r == -EBADMSG)
                return report_error(ctx, e->index, 0, "write_files[%d]: content of '%s' is not gzip data (%s).",
                                    e->index, e->path, zlib_message);
        if (r == -EFBIG)
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: content of '%s' inflates to more than %u MiB, the limit.",
                                    e->index, e->path, WRITE_FILES_INFLATED_MAX / 1024U / 1024U);
        if (r < 0)
                return report_error(ctx, e->index, r, "Failed to inflate the content of '%s': %m", e->path);
        return 0;
}

/* Decode the entry's content into the bytes to write, according to its encoding. */
static int content_decode(Context *ctx, const FileEntry *e, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *decoded = NULL;
        size_t decoded_size = 0;
        int r;

        if (e->encoding == ENCODING_TEXT || e->encoding == ENCODING_GZIP) {
                if (e->encoding == ENCODING_GZIP)
                        return content_gunzip(ctx, e, (const uint8_t *) e->content, e->content_size,
                                              ret, ret_size);
                decoded = malloc(MAX(e->content_size, (size_t) 1));
                if (!decoded)
                        return report_error(ctx, e->index, -ENOMEM, "Failed to copy the content of '%s': %m",
                                            e->path);
                memcpy(decoded, e->content, e->content_size);
                *ret = TAKE_PTR(decoded);
                *ret_size = e->content_size;
                return 0;
        }

        r = base64_decode(e->content, e->content_size, &decoded, &decoded_size);
        if (r == -EINVAL)
                return report_error(ctx, e->index, 0, "write_files[%d]: content of '%s' is not valid base64.",
                                    e->index, e->path);
        if (r < 0)
                return report_error(ctx, e->index, r, "Failed to decode the content of '%s': %m", e->path);

        if (e->encoding == ENCODING_GZIP_BASE64)
                return content_gunzip(ctx, e, decoded, decoded_size, ret, ret_size);

        *ret = TAKE_PTR(decoded);
        *ret_size = decoded_size;
        return 0;
}

void owner_split(char *buf, const char **ret_user, const char **ret_group) {
        char *sides[2] = { buf, strchr(buf, ':') };

        if (sides[1])
                *sides[1]++ = '\0';

        for (size_t i = 0; i < ELEMENTSOF(sides); i++) {
                char *s = sides[i], *end;

                if (!s)
                        continue;
                while (isspace((unsigned char) *s))
                        s++;
                end = s + strlen(s);
                while (end > s && isspace((unsigned char) end[-1]))
                        *--end = '\0';
                if (*s == '\0' || streq(s, "-1") || strcasecmp(s, "none") == 0)
                        s = NULL;
                sides[i] = s;
        }

        *ret_user = sides[0];
        *ret_group = sides[1];
}

static bool errno_is_fd_limit(int r) {
        return r == -EMFILE || r == -ENFILE;
}

/* Open a file of the root for reading. Returns the stream, or NULL with errno set. */
static FILE *root_fopen(int root_fd, const char *path) {
        int fd = root_open(root_fd, path, O_RDONLY, 0);
        FILE *f;

        if (fd < 0) {
                errno = -fd;
                return NULL;
        }
        f = fdopen(fd, "re");
        if (!f) {
                int saved = errno;

                (void) close(fd);
                errno = saved;
        }
        return f;
}

/* Look a name up in the root's own passwd or group file, never the host's database. A name
 * that is not listed but is all digits is taken as a numeric id, as chown(1) does. "root" is 0
 * even when the file lacks it. Returns 0, -ESRCH when the name is unknown, or -EMFILE or -ENFILE
 * when the limit on open files kept the file from being read. */
static int account_lookup(int root_fd, bool group, const char *name, unsigned *ret) {
        _cleanup_fclose_ FILE *f = root_fopen(root_fd, group ? GROUP_FILE : PASSWD_FILE);

        if (!f && errno_is_fd_limit(-errno))
                return -errno;

        if (f) {
                if (group) {
                        struct group *g;

                        while ((g = fgetgrent(f)))
                                if (streq(g->gr_name, name)) {
                                        *ret = g->gr_gid;
                                        return 0;
                                }
                } else {
                        struct passwd *p;

                        while ((p = fgetpwent(f)))
                                if (streq(p->pw_name, name)) {
                                        *ret = p->pw_uid;
                                        return 0;
                                }
                }
        }

        if (safe_atou(name, ret) >= 0 && *ret != (unsigned) -1)
                return 0;
        if (streq(name, "root")) {
                *ret = 0;
                return 0;
        }
        return -ESRCH;
}

static void batch_commit(Context *ctx, WriteBatch *b);

/* Commit the batch and sync the directories that wait for fileio_flush(), which closes the
 * descriptors that both keep. Called when an open fails because the limit on open files is
 * reached, before the one retry. */
static void batch_release(Context *ctx, WriteBatch *b) {
        batch_commit(ctx, b);
        fileio_sync_pending();
}

/* account_lookup(), retried once after batch_release() when the limit on open files is reached.
 * Reports a failure on entry e, whose owner names the user or group. */
static int batch_account_lookup(Context *ctx, WriteBatch *b, const FileEntry *e, bool group, const char *name,
                                unsigned *ret) {
        const char *kind = group ? "group" : "user";
        int r;

        r = account_lookup(ctx->root_fd, group, name, ret);
        if (errno_is_fd_limit(r)) {
                batch_release(ctx, b);
                r = account_lookup(ctx->root_fd, group, name, ret);
        }
        if (errno_is_fd_limit(r))
                return report_error(ctx, e->index, r, "Failed to read '%s' to look up %s '%s' for '%s': %m",
                                    group ? GROUP_FILE : PASSWD_FILE, kind, name, e->path);
        if (r < 0)
                return report_error(ctx, e->index, 0,
                                    "write_files[%d]: unknown %s '%s' in owner '%s' for '%s'. Create the %s "
                                    "under '%ss:' or in the image first.",
                                    e->index, kind, name, e->owner, e->path, kind, kind);
        return 0;
}

static int owner_resolve(Context *ctx, WriteBatch *b, const FileEntry *e, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *buf = NULL;
        const char *user, *group;
        unsigned id;
        int r;

        if (!e->owner) {
                *ret_uid = 0;
                *ret_gid = 0;
                return 0;
        }

        buf = strdup(e->owner);
        if (!buf)
                return report_error(ctx, e->index, -ENOMEM, "Failed to parse owner '%s': %m", e->owner);
        owner_split(buf, &user, &group);

        *ret_uid = (uid_t) -1;
        *ret_gid = (gid_t) -1;

        if (user) {
                r = batch_account_lookup(ctx, b, e, false, user, &id);
                if (r < 0)
                        return r;
                *ret_uid = (uid_t) id;
        }
        if (group) {
                r = batch_account_lookup(ctx, b, e, true, group, &id);
                if (r < 0)
                        return r;
                *ret_gid = (gid_t) id;
        }

        return 0;
}

/* Checks whether path already contains exactly data with this mode and owner (uid or gid -1
 * match any). Returns 1 when it does, and 0 when it does not or cannot be read. Returns -EMFILE or
 * -ENFILE when the limit on open files kept it from being read. */
static int file_is_current(int root_fd, const char *path, const uint8_t *data, size_t size, mode_t mode,
                           uid_t uid, gid_t gid) {
        _cleanup_free_ char *old = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t old_size = 0;
        struct stat st;
        int r;

        fd = root_open(root_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
        if (errno_is_fd_limit(fd))
                return fd;
        if (fd < 0 || fstat(fd, &st) < 0)
                return 0;
        if (!S_ISREG(st.st_mode) || (size_t) st.st_size != size || (st.st_mode & 07777) != mode)
                return 0;
        if ((uid != (uid_t) -1 && st.st_uid != uid) || (gid != (gid_t) -1 && st.st_gid != gid))
                return 0;

        r = read_file_at(root_fd, path, size, &old, &old_size);
        if (errno_is_fd_limit(r))
                return r;
        if (r < 0)
                return 0;
        return old_size == size && memcmp(old, data, size) == 0;
}

/* One staged entry: what its messages name, and the directory of its target, which identifies the
 * target together with the staged file's name, whatever path led there. */
typedef struct BatchEntry {
        int index;
        const char *path; /* borrowed from the config */
        mode_t mode;
        dev_t dir_dev;
        ino_t dir_ino;
} BatchEntry;

struct WriteBatch {
        StagedFile files[WRITE_FILES_BATCH_MAX];
        BatchEntry entries[WRITE_FILES_BATCH_MAX];
        int errors[WRITE_FILES_BATCH_MAX];
        size_t n;
        /* A staged file may replace what the root's passwd or group file reads as, which
         * owner_resolve() reads. */
        bool accounts_replaced;
        /* The outcome of the commits since write_batch_commit() last returned it. */
        int result;
};

int write_batch_new(WriteBatch **ret) {
        WriteBatch *b = calloc(1, sizeof(WriteBatch));

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < WRITE_FILES_BATCH_MAX; i++)
                b->files[i] = (StagedFile) STAGED_FILE_INIT;
        *ret = b;
        return 0;
}

WriteBatch *write_batch_free(WriteBatch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n; i++)
                staged_file_done(&b->files[i]);
        free(b);
        return NULL;
}

/* Make the staged files durable, then rename them in entry order. */
static void batch_commit(Context *ctx, WriteBatch *b) {
        staged_files_sync(b->files, b->n, b->errors);

        for (size_t i = 0; i < b->n; i++) {
                const BatchEntry *entry = &b->entries[i];
                int r = b->errors[i];

                if (r >= 0)
                        r = staged_file_commit(&b->files[i], WRITE_SYNC_DEFERRED);
                staged_file_done(&b->files[i]);
                if (r < 0) {
                        r = report_error(ctx, entry->index, r, "Failed to write '%s': %m", entry->path);
                        if (b->result >= 0)
                                b->result = r;
                        continue;
                }

                log_info("Wrote %s (mode %04o).", entry->path, (unsigned) entry->mode);
                if (b->result == 0)
                        b->result = 1;
        }

        b->n = 0;
        b->accounts_replaced = false;
}

int write_batch_commit(Context *ctx, WriteBatch *b) {
        int r;

        batch_commit(ctx, b);
        r = b->result;
        b->result = 0;
        return r;
}

/* Whether the result of e depends on the staged entries, so that they must be committed first.
 * It does when e appends to what they may leave, or when a staged entry has the same target. It
 * does too when a directory of e is missing, because creating it could take the place of a staged
 * file, which would then fail instead of e. */
static bool batch_needs_commit(const WriteBatch *b, int root_fd, const FileEntry *e) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        struct stat st;

        if (b->n == 0)
                return false;
        if (e->append)
                return true;

        dir_fd = root_open_parent(root_fd, e->path, &name);
        /* Without the directory, kiln cannot check whether e has the target of a staged entry. */
        if (dir_fd == -ENOENT || errno_is_fd_limit(dir_fd))
                return true;
        /* A staged file takes the place of a regular file or of a missing name, because a rename
         * over a directory fails and one over a symlink is committed at once. So committing it
         * changes no lookup that fails for another reason than a missing name, and staging e
         * fails in the same way after a commit. */
        if (dir_fd < 0)
                return false;
        if (fstat(dir_fd, &st) < 0)
                return true;

        for (size_t i = 0; i < b->n; i++)
                if (b->entries[i].dir_dev == st.st_dev && b->entries[i].dir_ino == st.st_ino &&
                    streq(b->files[i].name, name))
                        return true;
        return false;
}

/* Whether the rename of a staged file may change what account_lookup() reads. target is the file
 * that the staged one replaces, or NULL when its name is missing. The lookup resolves etc/passwd
 * and etc/group inside the root, symlinks included. When it succeeds, each step but the last
 * finds a directory or a symlink. A staged file never replaces either, because a rename over a
 * directory fails and a symlink at a target is replaced at once. So only a staged file that
 * replaces the file found at the end changes the result. When a file does not resolve (a missing
 * file, a dangling symlink, a loop), a staged file may be what it would find. */
static bool accounts_may_change(int root_fd, const struct stat *target) {
        static const char *const account_files[] = { PASSWD_FILE, GROUP_FILE };

        for (size_t i = 0; i < ELEMENTSOF(account_files); i++) {
                _cleanup_close_ int fd = root_open(root_fd, account_files[i], O_PATH, 0);
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0)
                        return true;
                if (target && st.st_dev == target->st_dev && st.st_ino == target->st_ino)
                        return true;
        }
        return false;
}

/* Record the entry staged last, and what its rename changes for the entries after it. Returns true
 * when the batch must be committed before the next entry is looked at. */
static bool batch_record(WriteBatch *b, int root_fd, const FileEntry *e) {
        const StagedFile *f = &b->files[b->n];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        bool known;

        /* Without the directory's identity, no later entry can be compared with this one. */
        known = fstat(f->dir_fd, &st) >= 0;
        b->entries[b->n++] = (BatchEntry) {
                .index = e->index,
                .path = e->path,
                .mode = e->mode,
                .dir_dev = known ? st.st_dev : 0,
                .dir_ino = known ? st.st_ino : 0,
        };
        if (!known)
                return true;

        fd = root_open(root_fd, e->path, O_PATH | O_NOFOLLOW, 0);
        if (fd == -ENOENT) {
                if (accounts_may_change(root_fd, /* target= */ NULL))
                        b->accounts_replaced = true;
                return false;
        }
        if (fd < 0 || fstat(fd, &st) < 0)
                return true;
        /* A symlink may lie on the path of a later entry or lead to its target, so the rename that
         * replaces it comes before any later entry is looked at. */
        if (S_ISLNK(st.st_mode))
                return true;
        if (accounts_may_change(root_fd, &st))
                b->accounts_replaced = true;
        return false;
}

/* Stage the decoded content of e. A batch keeps a descriptor for each entry and may reach the
 * limit on open files before WRITE_FILES_BATCH_MAX, so it is released then, and e tried again. */
static int batch_stage(Context *ctx, WriteBatch *b, const FileEntry *e, const uint8_t *data, size_t size,
                       uid_t uid, gid_t gid) {
        /* New parent directories get the file's owner, as cloud-init's util.ensure_dir() does.
         * Without a sync flag, the content waits for the commit's staged_files_sync(). */
        WriteFlags flags = WRITE_MKDIR_PARENTS | (e->append ? WRITE_APPEND : 0);
        int r;

        r = staged_file_create(ctx->root_fd, e->path, data, size, e->mode, uid, gid, flags, &b->files[b->n]);
        if (errno_is_fd_limit(r)) {
                batch_release(ctx, b);
                r = staged_file_create(ctx->root_fd, e->path, data, size, e->mode, uid, gid, flags,
                                       &b->files[b->n]);
        }
        if (r == -EBADFD)
                return report_error(ctx, e->index, 0, "write_files[%d]: cannot append to '%s', which is not a "
                                    "regular file.", e->index, e->path);
        if (r < 0)
                return report_error(ctx, e->index, r, "Failed to write '%s': %m", e->path);

        if (batch_record(b, ctx->root_fd, e))
                batch_commit(ctx, b);
        return 0;
}

int write_batch_add(Context *ctx, WriteBatch *b, const FileEntry *e) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        int r;

        r = content_decode(ctx, e, &data, &size);
        if (r < 0)
                return r;

        if (e->owner && b->accounts_replaced)
                batch_commit(ctx, b);
        r = owner_resolve(ctx, b, e, &uid, &gid);
        if (r < 0)
                return r;

        if (b->n == WRITE_FILES_BATCH_MAX || batch_needs_commit(b, ctx->root_fd, e))
                batch_commit(ctx, b);

        if (!e->append) {
                r = file_is_current(ctx->root_fd, e->path, data, size, e->mode, uid, gid);
                if (errno_is_fd_limit(r)) {
                        batch_release(ctx, b);
                        r = file_is_current(ctx->root_fd, e->path, data, size, e->mode, uid, gid);
                }
                if (r < 0)
                        return report_error(ctx, e->index, r, "Failed to read '%s': %m", e->path);
                if (r > 0) {
                        log_debug("%s already has the requested content, mode and owner, skipping.", e->path);
                        return 0;
                }
        }

        return batch_stage(ctx, b, e, data, size, uid, gid);
}
