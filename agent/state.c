/* SPDX-License-Identifier: Apache-2.0 */
/* Instance identity, the instance cache and module semaphores under ROOT/var/lib/kiln.
 *
 * Layout: instance-id, previous-instance-id, instance -> instances/ID, instances/ID/{metadata.json,
 * user-data, vendor-data, sem/MODULE}, sem/MODULE for modules that run once.
 *
 * Every file is written with WRITE_SYNC_DEFERRED. Its content is on disk when the write returns,
 * and its rename once fileio_flush() has run, which the runner does before each module starts. */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "log.h"
#include "report.h"
#include "state.h"

#define STATE_INSTANCE_ID KILN_STATE_DIR "/instance-id"
#define STATE_PREVIOUS_INSTANCE_ID KILN_STATE_DIR "/previous-instance-id"
#define STATE_INSTANCE_LINK KILN_STATE_DIR "/instance"
#define INSTANCE_ID_MAX 256

static int instance_dir(const char *instance_id, const char *file, char **ret) {
        if (asprintf(ret, KILN_STATE_DIR "/instances/%s%s%s", instance_id, file ? "/" : "", file ?: "") < 0)
                return -ENOMEM;
        return 0;
}

const char *instance_id_problem(const char *id) {
        size_t n = strlen(id);
        _cleanup_free_ char *copy = NULL;

        if (n == 0)
                return "it is empty";
        if (n > INSTANCE_ID_MAX)
                return "it is longer than 256 bytes";
        if (streq(id, ".") || streq(id, ".."))
                return "it is '.' or '..'";
        for (const char *p = id; *p; p++) {
                if (*p == '/')
                        return "it contains '/'";
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return "it contains a control character";
        }
        copy = strdup(id);
        if (!copy)
                return "out of memory";
        utf8_make_valid(copy);
        if (!streq(copy, id))
                return "it is not valid UTF-8";
        return NULL;
}

/* An instance id becomes a directory name, so it must be one path component. */
static bool instance_id_valid(const char *id) {
        return !instance_id_problem(id);
}

int state_read_instance_id(const Context *ctx, char **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        *ret = NULL;
        r = read_file_at(ctx->root_fd, STATE_INSTANCE_ID, INSTANCE_ID_MAX + 2, &data, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        data[strcspn(data, "\n")] = '\0';
        if (!instance_id_valid(data))
                return 0;
        *ret = TAKE_PTR(data);
        return 0;
}

static int write_text(const Context *ctx, const char *path, const char *text, mode_t mode) {
        return write_file_atomic(ctx->root_fd, path, text, strlen(text), mode, (uid_t) -1, (gid_t) -1,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
}

/* Point STATE/instance at instances/ID, replacing an old link atomically. */
static int update_instance_link(const Context *ctx, const char *id) {
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        int r;

        if (asprintf(&target, "instances/%s", id) < 0)
                return -ENOMEM;
        dir_fd = root_open(ctx->root_fd, KILN_STATE_DIR, O_DIRECTORY | O_RDONLY | O_CLOEXEC, 0);
        if (dir_fd < 0)
                return dir_fd;
        (void) unlinkat(dir_fd, "instance.tmp", 0);
        if (symlinkat(target, dir_fd, "instance.tmp") < 0)
                return negative_errno();
        if (renameat(dir_fd, "instance.tmp", dir_fd, "instance") < 0) {
                r = negative_errno();
                (void) unlinkat(dir_fd, "instance.tmp", 0);
                return r;
        }
        return 0;
}

int state_set_instance(Context *ctx) {
        _cleanup_free_ char *old = NULL, *line = NULL;
        const char *id = ctx->instance->instance_id;
        int r;

        if (!instance_id_valid(id))
                return -EINVAL;
        r = state_read_instance_id(ctx, &old);
        if (r < 0)
                return r;
        if (old && streq(old, id))
                return 0;

        if (old) {
                _cleanup_free_ char *prev = NULL;
                if (asprintf(&prev, "%s\n", old) < 0)
                        return -ENOMEM;
                r = write_text(ctx, STATE_PREVIOUS_INSTANCE_ID, prev, 0644);
                if (r < 0)
                        return r;
        }
        if (asprintf(&line, "%s\n", id) < 0)
                return -ENOMEM;
        r = write_text(ctx, STATE_INSTANCE_ID, line, 0644);
        if (r < 0)
                return r;
        r = root_mkdir_p(ctx->root_fd, KILN_STATE_DIR "/instances", 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        r = update_instance_link(ctx, id);
        if (r < 0)
                return r;
        return 1;
}

static int cache_write(const Context *ctx, const char *file, const void *data, size_t size) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = instance_dir(ctx->instance->instance_id, file, &path);
        if (r < 0)
                return r;
        return write_file_atomic(ctx->root_fd, path, data, size, 0600, (uid_t) -1, (gid_t) -1,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
}

int state_cache_save(const Context *ctx) {
        const Instance *i = ctx->instance;
        _cleanup_free_ char *text = NULL;
        json_t *doc;
        int r;

        if (!instance_id_valid(i->instance_id))
                return -EINVAL;
        doc = json_pack("{s:s, s:s, s:O, s:O, s:b, s:b}",
                        "datasource", i->datasource,
                        "instance_id", i->instance_id,
                        "metadata", i->metadata,
                        "raw", i->raw,
                        "has_user_data", i->has_user_data,
                        "has_vendor_data", i->has_vendor_data);
        if (!doc)
                return -ENOMEM;
        text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(doc);
        if (!text)
                return -ENOMEM;

        r = cache_write(ctx, "metadata.json", text, strlen(text));
        if (r < 0)
                return r;
        r = cache_write(ctx, "user-data", i->has_user_data ? i->user_data : "", i->user_data_size);
        if (r < 0)
                return r;
        return cache_write(ctx, "vendor-data", i->has_vendor_data ? i->vendor_data : "", i->vendor_data_size);
}

static int cache_read(const Context *ctx, const char *id, const char *file, char **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = instance_dir(id, file, &path);
        if (r < 0)
                return r;
        return read_file_at(ctx->root_fd, path, STATE_CACHE_FILE_MAX, ret, ret_size);
}

int state_cache_load(const Context *ctx, Instance **ret) {
        _cleanup_instance_free_ Instance *i = NULL;
        _cleanup_free_ char *id = NULL, *text = NULL;
        json_t *doc;
        size_t size;
        int r;

        r = state_read_instance_id(ctx, &id);
        if (r < 0)
                return r;
        if (!id)
                return -ENOENT;
        r = cache_read(ctx, id, "metadata.json", &text, &size);
        if (r < 0)
                return r;
        doc = json_loadb(text, size, 0, NULL);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return -EBADMSG;
        }

        i = instance_new();
        if (!i) {
                json_decref(doc);
                return -ENOMEM;
        }
        json_decref(i->metadata);
        json_decref(i->raw);
        i->metadata = json_incref(json_object_get(doc, "metadata") ?: json_object());
        i->raw = json_incref(json_object_get(doc, "raw") ?: json_object());
        i->datasource = strdup(json_string_value(json_object_get(doc, "datasource")) ?: "unknown");
        i->instance_id = TAKE_PTR(id);
        i->has_user_data = json_is_true(json_object_get(doc, "has_user_data"));
        i->has_vendor_data = json_is_true(json_object_get(doc, "has_vendor_data"));
        json_decref(doc);
        if (!i->datasource || !i->metadata || !i->raw)
                return -ENOMEM;

        if (i->has_user_data) {
                r = cache_read(ctx, i->instance_id, "user-data", &i->user_data, &i->user_data_size);
                if (r < 0)
                        return r;
        }
        if (i->has_vendor_data) {
                r = cache_read(ctx, i->instance_id, "vendor-data", &i->vendor_data, &i->vendor_data_size);
                if (r < 0)
                        return r;
        }
        i->from_cache = true;
        *ret = TAKE_PTR(i);
        return 0;
}

static int sem_path(const Context *ctx, const char *module, Frequency frequency, char **ret) {
        switch (frequency) {
        case FREQUENCY_PER_INSTANCE:
                if (asprintf(ret, KILN_STATE_DIR "/instances/%s/sem/%s", ctx->instance->instance_id, module) < 0)
                        return -ENOMEM;
                return 1;
        case FREQUENCY_ONCE:
                if (asprintf(ret, KILN_STATE_DIR "/sem/%s.once", module) < 0)
                        return -ENOMEM;
                return 1;
        case FREQUENCY_PER_BOOT:
        case _FREQUENCY_MAX:
        case _FREQUENCY_INVALID:
                break;
        }
        *ret = NULL;
        return 0;
}

int state_sem_check(const Context *ctx, const char *module, Frequency frequency) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = sem_path(ctx, module, frequency, &path);
        if (r <= 0)
                return r;
        return root_exists(ctx->root_fd, path);
}

int state_sem_set(const Context *ctx, const char *module, Frequency frequency) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        r = sem_path(ctx, module, frequency, &path);
        if (r <= 0)
                return r;
        if (asprintf(&text, "%llu\n", (unsigned long long) (now_realtime() / USEC_PER_SEC)) < 0)
                return -ENOMEM;
        return write_file_atomic(ctx->root_fd, path, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
}

#define BOOT_ID_FILE "proc/sys/kernel/random/boot_id"
#define BOOT_ID_LENGTH 36U

int state_read_boot_id(const Context *ctx, char **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        *ret = NULL;
        r = read_file_at(ctx->root_fd, BOOT_ID_FILE, 64, &data, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        data[strcspn(data, "\n")] = '\0';
        if (strlen(data) != BOOT_ID_LENGTH)
                return -EBADMSG;
        *ret = TAKE_PTR(data);
        return 0;
}
