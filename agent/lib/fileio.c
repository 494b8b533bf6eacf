/* SPDX-License-Identifier: Apache-2.0 */
/* File access inside a target root: openat2() with RESOLVE_IN_ROOT for every lookup, and atomic
 * writes through a temporary file in the target's directory. No logging. */

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"

/* The kernel returns EAGAIN from RESOLVE_IN_ROOT lookups that raced with a rename elsewhere in
 * the file system; such lookups are simply repeated. */
#define ROOT_OPEN_ATTEMPTS_MAX 8

/* Random temporary names collide only when something else creates the same name at once. */
#define TEMP_NAME_ATTEMPTS_MAX 16

/* Part of the target's name kept in the temporary name, so that the result fits NAME_MAX. */
#define TEMP_NAME_PREFIX_MAX 200

#define COPY_BUFFER_SIZE (64U * 1024U)

/* Mode of a file created by write_file_atomic() when the caller passes (mode_t) -1 and there is
 * no existing file to take the mode from. */
#define WRITE_DEFAULT_MODE 0644

#define PARENT_DIRECTORY_MODE 0755

/* Close fd when it is open. Returns -EBADF, for `fd = safe_close(fd)`. */
static int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

int root_open(int root_fd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT,
        };

        assert(root_fd >= 0);
        assert(path);

        if (path[0] == '\0')
                return -ENOENT;

        /* openat2() rejects a mode unless a file may be created. */
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                how.mode = mode;

        for (unsigned attempt = 0;; attempt++) {
                long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                if (errno == EINTR || (errno == EAGAIN && attempt + 1 < ROOT_OPEN_ATTEMPTS_MAX))
                        continue;
                return negative_errno();
        }
}

/* Split path into the path of its directory and its last component. A path that names a
 * directory ("a/", ".", "..", "/") has no last component to create or remove. */
static int path_split(const char *path, char **ret_parent, char **ret_name) {
        const char *slash, *name;
        _cleanup_free_ char *parent = NULL, *n = NULL;

        if (path[0] == '\0')
                return -EINVAL;

        slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
        if (name[0] == '\0')
                return -EISDIR;
        if (streq(name, ".") || streq(name, ".."))
                return -EISDIR;

        if (!slash)
                parent = strdup(".");
        else if (slash == path)
                parent = strdup("/");
        else
                parent = strndup(path, (size_t) (slash - path));
        n = strdup(name);
        if (!parent || !n)
                return -ENOMEM;

        *ret_parent = TAKE_PTR(parent);
        *ret_name = TAKE_PTR(n);
        return 0;
}

int root_open_parent(int root_fd, const char *path, char **ret_name) {
        _cleanup_free_ char *parent = NULL, *name = NULL;
        int fd, r;

        assert(root_fd >= 0);
        assert(path);
        assert(ret_name);

        r = path_split(path, &parent, &name);
        if (r < 0)
                return r;

        fd = root_open(root_fd, parent, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;

        *ret_name = TAKE_PTR(name);
        return fd;
}

static int chown_and_chmod(int fd, mode_t mode, uid_t uid, gid_t gid) {
        if (uid != (uid_t) -1 || gid != (gid_t) -1)
                if (fchown(fd, uid, gid) < 0)
                        return negative_errno();

        /* chown() clears the set-user-ID and set-group-ID bits, so the mode is applied after it. */
        if (fchmod(fd, mode) < 0)
                return negative_errno();

        return 0;
}

/* Create the directory name inside dir_fd with exactly the requested mode and owner. Returns 1
 * when it was created, 0 when something else created it first, -errno on failure. */
static int mkdir_one(int dir_fd, const char *name, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (mkdirat(dir_fd, name, mode & 07777) < 0)
                return errno == EEXIST ? 0 : negative_errno();

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        /* mkdirat() applies the umask, so the exact mode is set here. */
        r = chown_and_chmod(fd, mode & 07777, uid, gid);
        if (r < 0)
                return r;

        return 1;
}

int root_mkdir_p(int root_fd, const char *path, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *prefix = NULL;
        size_t len = 0;
        bool created = false;

        assert(root_fd >= 0);
        assert(path);

        prefix = calloc(1, strlen(path) + 2);
        if (!prefix)
                return -ENOMEM;
        prefix[len++] = '/';

        /* Every step resolves the whole prefix with openat2(), so symlinks and ".." in the path
         * stay inside the root. Only the missing component itself is created with mkdirat(). */
        for (const char *p = path; *p;) {
                _cleanup_close_ int parent_fd = -EBADF, fd = -EBADF;
                size_t n;
                char *name;
                int r;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n == 0)
                        break;
                if (n == 1 && p[0] == '.') {
                        p += n;
                        continue;
                }

                parent_fd = root_open(root_fd, prefix, O_RDONLY | O_DIRECTORY, 0);
                if (parent_fd < 0)
                        return parent_fd;

                if (prefix[len - 1] != '/')
                        prefix[len++] = '/';
                name = prefix + len;
                memcpy(name, p, n);
                len += n;
                prefix[len] = '\0';
                p += n;

                fd = root_open(root_fd, prefix, O_PATH | O_DIRECTORY, 0);
                if (fd >= 0)
                        continue;
                if (fd != -ENOENT)
                        return fd;

                r = mkdir_one(parent_fd, name, mode, uid, gid);
                if (r < 0)
                        return r;
                if (r > 0)
                        created = true;
        }

        return created;
}

static int temp_name_make(const char *target, char **ret) {
        uint64_t id;
        char *s = NULL;

        if (getrandom(&id, sizeof(id), 0) != (ssize_t) sizeof(id))
                return errno > 0 ? -errno : -EIO;

        if (asprintf(&s, ".#%.*s.%016llx", TEMP_NAME_PREFIX_MAX, target, (unsigned long long) id) < 0)
                return -ENOMEM;

        *ret = s;
        return 0;
}

/* Create a new file in dir_fd under a random name. Its initial mode (after the umask) is never
 * wider than mode, and the caller sets the exact mode right away. */
static int temp_file_create(int dir_fd, const char *target, mode_t mode, char **ret_name, int *ret_fd) {
        for (unsigned attempt = 0; attempt < TEMP_NAME_ATTEMPTS_MAX; attempt++) {
                _cleanup_free_ char *name = NULL;
                int fd, r;

                r = temp_name_make(target, &name);
                if (r < 0)
                        return r;

                fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            mode & 0777);
                if (fd < 0) {
                        if (errno == EEXIST)
                                continue;
                        return negative_errno();
                }

                *ret_name = TAKE_PTR(name);
                *ret_fd = fd;
                return 0;
        }

        return -EEXIST;
}

static int write_all(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t) n;
        }

        return 0;
}

static int copy_all(int from_fd, int to_fd) {
        _cleanup_free_ uint8_t *buf = malloc(COPY_BUFFER_SIZE);

        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t n = read(from_fd, buf, COPY_BUFFER_SIZE);
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return 0;

                r = write_all(to_fd, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

/* Open the existing file at path for appending to it. Returns 1 with its fd and stat, 0 when it
 * does not exist, -errno otherwise. */
static int open_existing(int root_fd, const char *path, int *ret_fd, struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;

        /* O_NONBLOCK so that a FIFO at path cannot block the open. The FIFO then fails the
         * regular-file check below, and reads from a regular file ignore the flag. */
        fd = root_open(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;

        if (fstat(fd, ret_st) < 0)
                return negative_errno();
        if (S_ISDIR(ret_st->st_mode))
                return -EISDIR;
        if (!S_ISREG(ret_st->st_mode))
                return -EBADFD;

        *ret_fd = TAKE_FD(fd);
        return 1;
}

static int staged_file_create_once(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                                   uid_t uid, gid_t gid, WriteFlags flags, StagedFile *ret) {
        _cleanup_(staged_file_done) StagedFile f = STAGED_FILE_INIT;
        _cleanup_close_ int old_fd = -EBADF;
        struct stat old_st;
        int r;

        assert(root_fd >= 0);
        assert(path);
        assert(data || size == 0);
        assert(ret);
        assert(ret->dir_fd < 0);
        assert(!ret->temp_name);

        if (mode != (mode_t) -1 && (mode & ~(mode_t) 07777) != 0)
                return -EINVAL;

        r = path_split(path, &f.dir_path, &f.name);
        if (r < 0)
                return r;

        if (flags & WRITE_MKDIR_PARENTS) {
                r = root_mkdir_p(root_fd, f.dir_path, PARENT_DIRECTORY_MODE, uid, gid);
                if (r < 0)
                        return r;
        }

        f.dir_fd = root_open(root_fd, f.dir_path, O_RDONLY | O_DIRECTORY, 0);
        if (f.dir_fd < 0)
                return f.dir_fd;

        if (flags & WRITE_APPEND) {
                r = open_existing(root_fd, path, &old_fd, &old_st);
                if (r < 0)
                        return r;
                if (r > 0) {
                        if (mode == (mode_t) -1)
                                mode = old_st.st_mode & 07777;
                        if (uid == (uid_t) -1)
                                uid = old_st.st_uid;
                        if (gid == (gid_t) -1)
                                gid = old_st.st_gid;
                }
        }
        if (mode == (mode_t) -1)
                mode = WRITE_DEFAULT_MODE;

        r = temp_file_create(f.dir_fd, f.name, mode, &f.temp_name, &f.fd);
        if (r < 0)
                return r;

        /* The umask may have lowered the mode, so it is set exactly before any data is written,
         * and once more after a chown. */
        if (fchmod(f.fd, mode) < 0)
                return negative_errno();
        if (uid != (uid_t) -1 || gid != (gid_t) -1) {
                r = chown_and_chmod(f.fd, mode, uid, gid);
                if (r < 0)
                        return r;
        }

        if (old_fd >= 0) {
                r = copy_all(old_fd, f.fd);
                if (r < 0)
                        return r;
        }

        r = write_all(f.fd, data, size);
        if (r < 0)
                return r;

        /* Without a sync to come, the descriptor is not needed, and a caller that stages many files
         * keeps fewer open. */
        if (!(flags & (WRITE_SYNC | WRITE_SYNC_DEFERRED)))
                f.fd = safe_close(f.fd);

        *ret = f;
        f = (StagedFile) STAGED_FILE_INIT;
        return 0;
}

int staged_file_create(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                       uid_t uid, gid_t gid, WriteFlags flags, StagedFile *ret) {
        int r;

        r = staged_file_create_once(root_fd, path, data, size, mode, uid, gid, flags, ret);
        /* The descriptors of the directories that wait for fileio_flush() count against the limit
         * on open files, so they are synced and closed before one more try. A failed try leaves
         * nothing behind but the parents that it created, which the next try finds. */
        if ((r == -EMFILE || r == -ENFILE) && fileio_pending_directories() > 0) {
                fileio_sync_pending();
                r = staged_file_create_once(root_fd, path, data, size, mode, uid, gid, flags, ret);
        }
        return r;
}

int staged_file_commit(StagedFile *f, WriteFlags flags) {
        assert(f);
        assert(f->dir_fd >= 0);
        assert(f->temp_name);

        if ((flags & (WRITE_SYNC | WRITE_SYNC_DEFERRED)) && !f->durable) {
                if (f->fd < 0)
                        return -EBADF;
                if (fsync(f->fd) < 0)
                        return negative_errno();
                f->durable = true;
        }

        if (renameat(f->dir_fd, f->temp_name, f->dir_fd, f->name) < 0)
                return negative_errno();
        free(TAKE_PTR(f->temp_name));

        if (flags & WRITE_SYNC)
                return fsync(f->dir_fd) < 0 ? negative_errno() : 0;
        if (flags & WRITE_SYNC_DEFERRED)
                return fileio_defer_sync(f->dir_fd, f->dir_path);
        return 0;
}

void staged_files_sync(StagedFile *files, size_t n, int *errors) {
        _cleanup_free_ dev_t *devices = NULL;

        assert(files || n == 0);
        assert(errors || n == 0);

        devices = calloc(MAX(n, (size_t) 1), sizeof(dev_t));
        if (!devices) {
                for (size_t i = 0; i < n; i++)
                        errors[i] = -ENOMEM;
                return;
        }

        for (size_t i = 0; i < n; i++) {
                struct stat st;

                if (fstat(files[i].dir_fd, &st) < 0) {
                        errors[i] = negative_errno();
                        continue;
                }
                errors[i] = 0;
                devices[i] = st.st_dev;
        }

        /* A file created in a directory lives on that directory's file system, so one syncfs() on
         * the first of its directories covers every file of the group. syncfs() reports the
         * write-back errors that happened since its descriptor was opened, and the first
         * directory was opened before any file of the group was written. After each pass, every
         * file of the group is durable or has an error. */
        for (size_t i = 0; i < n; i++) {
                int r;

                if (errors[i] < 0 || files[i].durable)
                        continue;

                r = syncfs(files[i].dir_fd) < 0 ? negative_errno() : 0;
                for (size_t j = i; j < n; j++) {
                        if (errors[j] < 0 || files[j].durable || devices[j] != devices[i])
                                continue;
                        errors[j] = r;
                        files[j].durable = r == 0;
                }
        }
}

void staged_file_done(StagedFile *f) {
        if (!f)
                return;
        if (f->temp_name)
                (void) unlinkat(f->dir_fd, f->temp_name, 0);
        (void) safe_close(f->fd);
        (void) safe_close(f->dir_fd);
        free(f->dir_path);
        free(f->name);
        free(f->temp_name);
        *f = (StagedFile) STAGED_FILE_INIT;
}

int write_file_atomic(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                      uid_t uid, gid_t gid, WriteFlags flags) {
        _cleanup_(staged_file_done) StagedFile f = STAGED_FILE_INIT;
        int r;

        r = staged_file_create(root_fd, path, data, size, mode, uid, gid, flags, &f);
        if (r < 0)
                return r;

        return staged_file_commit(&f, flags);
}

/* Directories whose renames wait for fileio_flush(). One set serves the whole process: the
 * runner flushes it after every module, whichever code recorded the directories. */
typedef struct PendingDirectory {
        int fd;
        dev_t dev;
        ino_t ino;
        char *path;
} PendingDirectory;

static struct {
        PendingDirectory directories[FILEIO_PENDING_DIRECTORIES_MAX];
        size_t n;
        /* The first failure of a flush that fileio_flush() has not returned yet, with its directory. */
        int error;
        char *error_path;
} pending;

/* fsync and forget every pending directory, keeping the first failure for fileio_flush(). */
static void pending_flush(void) {
        for (size_t i = 0; i < pending.n; i++) {
                PendingDirectory *d = &pending.directories[i];

                if (fsync(d->fd) < 0 && pending.error == 0) {
                        pending.error = negative_errno();
                        pending.error_path = TAKE_PTR(d->path);
                }
                (void) safe_close(d->fd);
                free(d->path);
                *d = (PendingDirectory) { .fd = -EBADF };
        }
        pending.n = 0;
}

/* Number of directories that the set keeps: FILEIO_PENDING_DIRECTORIES_MAX, but at most
 * 1/FILEIO_PENDING_NOFILE_SHARE of the soft limit on open files, so that code running while
 * directories wait keeps most descriptors. 0 means that every directory is synced at once. */
static size_t pending_capacity(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return FILEIO_PENDING_DIRECTORIES_MAX;
        return (size_t) MIN((rlim_t) FILEIO_PENDING_DIRECTORIES_MAX, rl.rlim_cur / FILEIO_PENDING_NOFILE_SHARE);
}

static int pending_add(int dir_fd, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *copy = NULL;
        size_t capacity = pending_capacity();
        struct stat st;

        if (fstat(dir_fd, &st) < 0)
                return negative_errno();
        for (size_t i = 0; i < pending.n; i++)
                if (pending.directories[i].dev == st.st_dev && pending.directories[i].ino == st.st_ino)
                        return 0;
        if (capacity == 0)
                return -EMFILE;

        if (pending.n >= capacity)
                pending_flush();
        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && pending.n > 0) {
                pending_flush();
                fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        }
        if (fd < 0)
                return negative_errno();
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;

        pending.directories[pending.n++] = (PendingDirectory) {
                .fd = TAKE_FD(fd),
                .dev = st.st_dev,
                .ino = st.st_ino,
                .path = TAKE_PTR(copy),
        };
        return 0;
}

int fileio_defer_sync(int dir_fd, const char *path) {
        assert(dir_fd >= 0);
        assert(path);

        /* A directory that cannot wait is made durable at once, as WRITE_SYNC does. */
        if (pending_add(dir_fd, path) < 0)
                return fsync(dir_fd) < 0 ? negative_errno() : 0;
        return 0;
}

int fileio_flush(char **reterr_path) {
        int r;

        pending_flush();
        if (pending.error == 0)
                return 0;

        r = pending.error;
        if (reterr_path)
                *reterr_path = TAKE_PTR(pending.error_path);
        free(TAKE_PTR(pending.error_path));
        pending.error = 0;
        return r;
}

void fileio_sync_pending(void) {
        pending_flush();
}

size_t fileio_pending_directories(void) {
        return pending.n;
}

int read_file_at(int root_fd, const char *path, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t allocated, limit, size = 0;
        struct stat st;

        assert(root_fd >= 0);
        assert(path);
        assert(ret_data);

        /* O_NONBLOCK so that a FIFO planted in the root cannot block the open; only regular files
         * are read, because a FIFO or a device could block the read forever. */
        fd = root_open(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd < 0)
                return fd;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        /* Room for max_size + 1 bytes and the NUL, so that a file over the cap is detected. */
        max_size = MIN(max_size, (size_t) SSIZE_MAX - 2);
        limit = max_size + 2;

        /* st_size is only a hint (files in /proc and /sys report 0 or 4096), so the buffer grows
         * until read() returns 0. */
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t) st.st_size <= max_size)
                allocated = (size_t) st.st_size + 2;
        else
                allocated = MIN(limit, (size_t) 4096);

        buf = malloc(allocated);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t n;

                if (size + 1 == allocated) {
                        size_t next = allocated > limit / 2 ? limit : allocated * 2;
                        char *p = realloc(buf, next);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = next;
                }

                n = read(fd, buf + size, allocated - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max_size)
                        return -EFBIG;
        }

        buf[size] = '\0';
        *ret_data = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int root_exists(int root_fd, const char *path) {
        _cleanup_close_ int fd = -EBADF;

        assert(root_fd >= 0);
        assert(path);

        fd = root_open(root_fd, path, O_PATH, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;

        return 1;
}

int root_unlink(int root_fd, const char *path) {
        _cleanup_free_ char *parent = NULL, *name = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        assert(root_fd >= 0);
        assert(path);

        r = path_split(path, &parent, &name);
        if (r < 0)
                return r;

        dir_fd = root_open(root_fd, parent, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0)
                return dir_fd;

        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();

        return 0;
}

int write_file_if_changed(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                          WriteFlags flags) {
        _cleanup_free_ char *current = NULL;
        size_t current_size = 0;
        int r;

        assert(root_fd >= 0);
        assert(path);
        assert(data || size == 0);

        /* A file larger than data differs from it, so reading more than size bytes is not needed. */
        r = read_file_at(root_fd, path, size, &current, &current_size);
        if (r >= 0 && current_size == size && memcmp(current, data, size) == 0)
                return 0;
        if (r < 0 && r != -ENOENT && r != -EFBIG)
                return r;

        r = write_file_atomic(root_fd, path, data, size, mode, (uid_t) -1, (gid_t) -1, flags);
        return r < 0 ? r : 1;
}

int root_file_edit_lines(int root_fd, const char *path, size_t max_size, mode_t mode, WriteFlags flags,
                         LineEditFunc edit, void *userdata) {
        _cleanup_free_ char *data = NULL, *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, out_size = 0;
        int r;

        assert(root_fd >= 0);
        assert(path);
        assert(edit);

        r = read_file_at(root_fd, path, max_size, &data, &size);
        if (r < 0 && r != -ENOENT)
                return r;

        f = open_memstream(&out, &out_size);
        if (!f)
                return -ENOMEM;
        for (char *line = data; line && *line;) {
                char *next = strchr(line, '\n');

                if (next)
                        *next++ = '\0';
                r = edit(line, f, userdata);
                if (r < 0)
                        return r;
                line = next;
        }
        r = edit(/* line= */ NULL, f, userdata);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;

        /* The edit above cut data into lines, so the comparison reads the file again. */
        if (out_size == size && !data)
                return 0;
        return write_file_if_changed(root_fd, path, out, out_size, mode, flags);
}

typedef struct EnvSet {
        const char *key;
        const char *value;
        bool found;
} EnvSet;

static int env_set_line(char *line, FILE *out, void *userdata) {
        EnvSet *e = userdata;
        size_t key_len = strlen(e->key);
        const char *start;

        if (!line) {
                if (!e->found)
                        fprintf(out, "%s=%s\n", e->key, e->value);
                return 0;
        }

        start = line + strspn(line, " \t");
        if (strncmp(start, "export ", strlen("export ")) == 0)
                start += strlen("export ");
        if (strncmp(start, e->key, key_len) != 0 || start[key_len] != '=') {
                fprintf(out, "%s\n", line);
                return 0;
        }
        if (!e->found)
                fprintf(out, "%s=%s\n", e->key, e->value);
        e->found = true;
        return 0;
}

int env_file_set(int root_fd, const char *path, size_t max_size, const char *key, const char *value,
                 mode_t mode, WriteFlags flags) {
        EnvSet e = { .key = key, .value = value };

        assert(key);
        assert(value);

        return root_file_edit_lines(root_fd, path, max_size, mode, flags, env_set_line, &e);
}
