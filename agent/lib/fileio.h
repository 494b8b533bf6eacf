/* SPDX-License-Identifier: Apache-2.0 */
/* File access relative to a target root fd: paths resolve as if root were "/", and symlinks
 * never escape it (openat2 with RESOLVE_IN_ROOT). Every write is atomic. No logging. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Open path (absolute or relative, both taken inside the root). Returns an fd or -errno. */
int root_open(int root_fd, const char *path, int flags, mode_t mode);

/* Open the directory that contains path's last component, read-only, without creating anything,
 * and return that component in *ret_name (caller owns). Returns the directory's fd, -EISDIR when path
 * names a directory ("a/", "..") or another -errno (-ENOENT when a directory is missing). */
int root_open_parent(int root_fd, const char *path, char **ret_name);

/* Create every missing directory of path (path itself included) with mode, owned by uid:gid
 * (-1 keeps the default). Existing directories are left untouched. Returns 1 when a directory
 * was created, 0 when all existed, -errno on failure. */
int root_mkdir_p(int root_fd, const char *path, mode_t mode, uid_t uid, gid_t gid);

typedef enum WriteFlags {
        WRITE_MKDIR_PARENTS = 1 << 0, /* create missing parents, mode 0755, owned by uid:gid */
        WRITE_APPEND = 1 << 1,        /* keep the old content and add to its end (still atomic) */
        WRITE_SYNC = 1 << 2,          /* fsync the file, and its directory before returning */
        /* fsync the file, and leave its directory to the next fileio_flush(). The content is never
         * half-written, but a crash before that flush may undo the rename. */
        WRITE_SYNC_DEFERRED = 1 << 3,
} WriteFlags;

/* Write data to path atomically: a temporary file in the same directory is created with mode
 * (the umask does not apply), chowned to uid:gid (-1 keeps root's), chmodded again so set-id bits
 * survive the chown, written fully, optionally fsynced, and renamed over path.
 * The rename replaces a symlink at path itself; it does not write through it.
 * With WRITE_APPEND the new file holds the existing content followed by data. As in cloud-init,
 * a given mode and owner are applied to the result; mode (mode_t) -1 and uid or gid -1 keep
 * those of the existing file. Without an existing file, or without WRITE_APPEND, mode
 * (mode_t) -1 means 0644.
 * Returns 0 or -errno (-EISDIR when path names a directory, -EINVAL for a mode over 07777,
 * -EBADFD when WRITE_APPEND finds a FIFO, socket or device at path). */
int write_file_atomic(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                      uid_t uid, gid_t gid, WriteFlags flags);

/* A file that staged_file_create() wrote under a temporary name beside its target, and that
 * staged_file_commit() renames over the target. staged_file_done() removes an uncommitted one. */
typedef struct StagedFile {
        int dir_fd;      /* the target's directory */
        int fd;          /* the temporary file, open only when a sync was requested */
        char *dir_path;  /* the directory as the caller named it, for fileio_flush() errors */
        char *name;      /* the target's name in dir_fd */
        char *temp_name; /* the temporary file's name in dir_fd, NULL once renamed */
        bool durable;    /* content, mode and owner are on disk (fsync or staged_files_sync()) */
} StagedFile;

#define STAGED_FILE_INIT { .dir_fd = -EBADF, .fd = -EBADF }

/* Do what write_file_atomic() does before the fsync and the rename: create the parents (with
 * WRITE_MKDIR_PARENTS), then the temporary file with its final mode, owner and content (with
 * WRITE_APPEND, after the existing content). The temporary file stays open when flags contain
 * WRITE_SYNC or WRITE_SYNC_DEFERRED, for staged_file_commit() to fsync it. *ret must be
 * STAGED_FILE_INIT; it is filled on success. When the limit on open files is reached and
 * directories wait for fileio_flush(), it syncs them with fileio_sync_pending() and tries once
 * more. Returns 0 or -errno as write_file_atomic() does. */
int staged_file_create(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                       uid_t uid, gid_t gid, WriteFlags flags, StagedFile *ret);

/* Rename a staged file over its target. With WRITE_SYNC or WRITE_SYNC_DEFERRED, a file that is not
 * durable yet is fsynced first, and its directory is then fsynced (WRITE_SYNC) or recorded for
 * fileio_flush() (WRITE_SYNC_DEFERRED). Returns 0, or -errno with the file still staged. */
int staged_file_commit(StagedFile *f, WriteFlags flags);

/* Make the content, mode and owner of n staged files durable with one syncfs(2) per file system,
 * which waits for the disk once where an fsync per file waits n times. errors[i] is set to 0 or to
 * the -errno of the syncfs for files[i], and a file whose syncfs succeeded is marked durable.
 * NOTE: syncfs also writes what other processes left dirty on the same file system, and kernels
 * before Linux 5.8 report no write-back errors through it. */
void staged_files_sync(StagedFile *files, size_t n, int *errors);

/* Unlink the temporary file of an uncommitted staged file, close its descriptors and free its
 * names. Leaves *f as STAGED_FILE_INIT. */
void staged_file_done(StagedFile *f);

/* Maximum number of directories that wait for fileio_flush(). The set keeps a descriptor of each,
 * and recording one more flushes the set first. */
#define FILEIO_PENDING_DIRECTORIES_MAX 64U

/* The set keeps at most this fraction (1/N) of the soft limit on open files (RLIMIT_NOFILE), so
 * that it leaves the rest to the code that runs while directories wait. */
#define FILEIO_PENDING_NOFILE_SHARE 4U

/* Record the directory dir_fd (path names it in errors) for the next fileio_flush(), once per
 * directory (compared by device and inode). The set keeps a duplicate of dir_fd. When the
 * directory cannot be recorded, it is fsynced now. Returns 0, or -errno of that fsync. */
int fileio_defer_sync(int dir_fd, const char *path);

/* fsync every recorded directory once and empty the set, so that the renames that writes with
 * WRITE_SYNC_DEFERRED did are durable. Every directory is tried, also after a failure. Returns 0,
 * or the first failure since the last fileio_flush() with *reterr_path (caller owns) naming its
 * directory. That failure may come from the flush that recording into a full set started. */
int fileio_flush(char **reterr_path);

/* fsync every recorded directory now and empty the set, which closes its descriptors. A failure
 * waits for the next fileio_flush(), which returns it. Call this when an open failed with EMFILE
 * or ENFILE; staged_file_create() does so itself. */
void fileio_sync_pending(void);

/* Number of directories recorded for the next fileio_flush(). */
size_t fileio_pending_directories(void);

/* Read a whole file of at most max_size bytes. *ret_data is NUL-terminated, caller owns it.
 * Returns 0, -ENOENT when missing, -EFBIG when larger than max_size, -EISDIR for a directory,
 * -EBADFD for anything else that is not a regular file (a FIFO or device could block), or another
 * -errno. */
int read_file_at(int root_fd, const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* Returns 1 when path exists inside the root, 0 when it does not, -errno on other errors. */
int root_exists(int root_fd, const char *path);

/* Remove a file inside the root; a missing file is not an error. Returns 0 or -errno. */
int root_unlink(int root_fd, const char *path);

/* Write data to path with write_file_atomic() unless the file already contains exactly data. The
 * mode and owner of an unchanged file are left as they are. Returns 1 when written, 0 when the
 * content was already there, -errno on failure. */
int write_file_if_changed(int root_fd, const char *path, const void *data, size_t size, mode_t mode,
                          WriteFlags flags);

/* Called by root_file_edit_lines() for each line of the file, with line NUL-terminated, without
 * its newline and writable, and once more at the end with line NULL, so that the function can
 * append lines. The function writes the replacement of the line, newline included, to out, or
 * nothing to delete it. Returns 0, or -errno to stop the edit. */
typedef int (*LineEditFunc)(char *line, FILE *out, void *userdata);

/* Edit a text file of at most max_size bytes line by line with edit (see LineEditFunc). A missing
 * file reads as empty. Every output line ends in a newline, including the last one. The result
 * is written with write_file_atomic(root_fd, path, ..., mode, -1, -1, flags) only when it differs
 * from the file's content, so an edit that changes nothing creates no file. Returns 1 when the
 * file was written, 0 when not, -errno on failure (-EFBIG for a file larger than max_size). */
int root_file_edit_lines(int root_fd, const char *path, size_t max_size, mode_t mode, WriteFlags flags,
                         LineEditFunc edit, void *userdata);

/* Set key=value in a shell-style file of KEY=value lines, such as /etc/default/locale: the first
 * assignment of key, which may be indented or start with "export ", becomes "key=value", later
 * ones are deleted, and every other line is kept. When the file has no assignment of key, the line
 * is appended, creating the file when missing. The file is written as root_file_edit_lines()
 * writes it. Returns 1 when the file was written, 0 when it already had the value, -errno on
 * failure. */
int env_file_set(int root_fd, const char *path, size_t max_size, const char *key, const char *value,
                 mode_t mode, WriteFlags flags);
