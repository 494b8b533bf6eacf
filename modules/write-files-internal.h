/* SPDX-License-Identifier: Apache-2.0 */
/* Private interface between the files of the write_files module: write_files.c (the keys of an
 * entry, the run and the declarations) and write-files-apply.c (decoding, owners, and writing the
 * entries in batches). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "context.h"

typedef enum Encoding {
        ENCODING_TEXT,
        ENCODING_BASE64,
        ENCODING_GZIP,
        ENCODING_GZIP_BASE64,
        _ENCODING_MAX,
        _ENCODING_INVALID = -EINVAL,
} Encoding;

/* One entry of write_files after parsing. Strings are borrowed from the config. */
typedef struct FileEntry {
        int index;
        const char *path;
        const char *content;
        size_t content_size;
        bool has_content;
        bool has_source;
        Encoding encoding;
        const char *owner;       /* NULL means root:root */
        mode_t mode;
        bool append;
        bool defer;
} FileEntry;

/* Maximum number of entries that one batch stages before it waits for the disk. Each staged entry
 * keeps a descriptor of its directory until the batch is committed. */
#define WRITE_FILES_BATCH_MAX 256U

/* Entries of one run that are written together: each is staged in a temporary file beside its
 * target, and the commit makes all of them durable with one wait per file system, then renames
 * them in entry order. An entry whose result depends on one staged before it is staged only after
 * those are committed, so every entry gets the result it would get when written alone. */
typedef struct WriteBatch WriteBatch;

/* Split "user:group" as cloud-init does: each side is trimmed, and an empty side, "-1" or
 * "none" leaves that id unchanged. The results point into buf. */
void owner_split(char *buf, const char **ret_user, const char **ret_group);

/* Allocate an empty batch (caller owns it). Returns 0 or -ENOMEM. */
int write_batch_new(WriteBatch **ret);

/* Remove the temporary files of staged entries that were not committed, and free the batch. */
WriteBatch *write_batch_free(WriteBatch *b);

/* Decode the content of a parsed entry, resolve its owner and stage it, unless the file already
 * has this content, mode and owner. Commits the staged entries first when this one depends on
 * them. Returns 0, or <0 after reporting an error against the entry. */
int write_batch_add(Context *ctx, WriteBatch *b, const FileEntry *e);

/* Commit the staged entries: make them durable, rename them in entry order and record their
 * directories for fileio_flush(), which the runner calls after the module. An entry that fails
 * is reported against its item, and the others are still written. Returns the outcome of every
 * commit since the last call, the ones write_batch_add() made included: <0 when an entry failed,
 * 1 when a file was written, 0 when none was. */
int write_batch_commit(Context *ctx, WriteBatch *b);
