/* SPDX-License-Identifier: Apache-2.0 */
/* Private interface between the files of the write_files module: write_files.c (the keys of an
 * entry, the run and the declarations) and write-files-apply.c (decoding, owners, and writing
 * each entry). */
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

/* Split "user:group" as cloud-init does: each side is trimmed, and an empty side, "-1" or
 * "none" leaves that id unchanged. The results point into buf. */
void owner_split(char *buf, const char **ret_user, const char **ret_group);

/* Decode, resolve and write one parsed entry. Returns 1 when the file was written, 0 when it
 * already held this content, <0 after reporting an error. */
int entry_apply(Context *ctx, const FileEntry *e);
