/* SPDX-License-Identifier: Apache-2.0 */
/* scripts_per_boot, scripts_per_instance and scripts_per_once: run the executables in
 * /var/lib/kiln/scripts/per-boot/, per-instance/ and per-once/ in name order, as cloud-init's
 * modules of the same names run /var/lib/cloud/scripts/per-*, then the user data's parts of type
 * text/x-shellscript-per-boot, -per-instance and -per-once, stored under
 * /var/lib/kiln/instances/ID/scripts/. The scripts of the image come first, so that user data can
 * build on them. Every script runs with INSTANCE_ID set, and a failing one does not stop the
 * next. The runner applies the frequency: every boot, once per instance, once for the image. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "lib/fileio.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "scripts_parts.h"
#include "state.h"

#define SCRIPT_MODE 0700
/* Entries of one scripts directory that are looked at; the rest are ignored with a warning. */
#define SCRIPTS_DIR_ENTRIES_MAX 1024

int part_script_run(Context *ctx, const Part *part, const char *subdir, int item, int output_fd) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        if (asprintf(&path, "/" KILN_STATE_DIR "/instances/%s/%s/%s", ctx->instance->instance_id, subdir,
                     part->name) < 0 ||
            asprintf(&name, "script '%s'", part->name) < 0)
                return report_error(ctx, item, -ENOMEM, "Failed to run script '%s': %m", part->name);

        r = write_file_atomic(ctx->root_fd, path, part->data, part->size, SCRIPT_MODE, (uid_t) -1,
                              (gid_t) -1, WRITE_MKDIR_PARENTS);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to write script '%s' to '%s': %m", part->name,
                                    path);
        log_debug("Wrote %s.", path);

        return command_run(ctx, name, item, (char *[]) { path, NULL }, output_fd);
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The entry names of directory dir inside the root, sorted, NULL-terminated; NULL when the
 * directory does not exist. Returns 0, or -errno after reporting. */
static int directory_list(Context *ctx, const char *dir, char ***ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        *ret = NULL;
        fd = root_open(ctx->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT) {
                log_debug("No directory %s, no scripts to run from it.", dir);
                return 0;
        }
        if (fd < 0)
                return report_error(ctx, -1, fd, "Failed to open '%s': %m", dir);
        names = calloc(SCRIPTS_DIR_ENTRIES_MAX + 1, sizeof(char *));
        if (!names)
                return report_error(ctx, -1, -ENOMEM, "Failed to list '%s': %m", dir);
        d = fdopendir(fd);
        if (!d)
                return report_error(ctx, -1, negative_errno(), "Failed to list '%s': %m", dir);
        TAKE_FD(fd);

        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (n == SCRIPTS_DIR_ENTRIES_MAX) {
                        report_warning(ctx, -1, "'%s' has more than %d entries, ignoring the rest.", dir,
                                       SCRIPTS_DIR_ENTRIES_MAX);
                        break;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        (void) closedir(d);
                        return report_error(ctx, -1, -ENOMEM, "Failed to list '%s': %m", dir);
                }
                n++;
        }
        (void) closedir(d);
        qsort(names, n, sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        return 0;
}

/* Run path when it is an executable regular file. Returns 1 when it ran and succeeded, 0 when it
 * was skipped, -errno after reporting a failure. */
static int directory_script_run(Context *ctx, const char *path, int item, int output_fd) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *name = NULL;
        struct stat st;
        int r;

        /* Opened through the root, so a symlink cannot point outside it. */
        fd = root_open(ctx->root_fd, path, O_PATH | O_CLOEXEC, 0);
        if (fd == -ENOENT) {
                log_debug("%s is a symlink to nothing, skipping it.", path);
                return 0;
        }
        if (fd < 0)
                return report_error(ctx, item, fd, "Failed to check script '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return report_error(ctx, item, negative_errno(), "Failed to check script '%s': %m", path);
        if (!S_ISREG(st.st_mode)) {
                log_debug("%s is not a regular file, skipping it.", path);
                return 0;
        }
        if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
                report_warning(ctx, item, "Script '%s' is not executable, skipping it. Make it executable "
                               "(chmod +x) to run it.", path);
                return 0;
        }

        if (asprintf(&name, "script '%s'", path) < 0)
                return report_error(ctx, item, -ENOMEM, "Failed to run script '%s': %m", path);
        r = command_run(ctx, name, item, (char *[]) { (char *) path, NULL }, output_fd);
        return r < 0 ? r : 1;
}

/* Run the scripts of ROOT/var/lib/kiln/scripts/DIR_NAME, then the parts of the given type. */
static int scripts_run(Context *ctx, const char *dir_name, PartType type, const char *owner) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        int item = 0, ran = 0, ret = 0, r;

        if (!ctx->instance || instance_id_problem(ctx->instance->instance_id))
                return report_error(ctx, -1, 0, "Failed to run %s: no valid instance id", owner);
        if (asprintf(&dir, "/" KILN_STATE_DIR "/scripts/%s", dir_name) < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to run %s: %m", owner);

        r = directory_list(ctx, dir, &names);
        if (r < 0)
                ret = r;

        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *path = NULL;

                if (output_fd == -EBADF)
                        output_fd = command_output_open(ctx, owner);
                if (asprintf(&path, "%s/%s", dir, *n) < 0)
                        return report_error(ctx, item, -ENOMEM, "Failed to run %s: %m", owner);
                r = directory_script_run(ctx, path, item++, output_fd);
                if (r != 0)
                        ran++;
                if (r < 0 && ret == 0)
                        ret = r;
        }

        for (size_t i = 0; i < ctx->n_parts; i++) {
                if (ctx->parts[i].type != type)
                        continue;
                if (output_fd == -EBADF)
                        output_fd = command_output_open(ctx, owner);
                r = part_script_run(ctx, &ctx->parts[i], "scripts", item++, output_fd);
                ran++;
                if (r < 0 && ret == 0)
                        ret = r;
        }

        if (ran == 0)
                log_debug("No %s to run.", owner);
        return ret < 0 ? ret : ran > 0;
}

static int scripts_per_boot_run(Context *ctx, const json_t *config) {
        return scripts_run(ctx, "per-boot", PART_SCRIPT_PER_BOOT, "per-boot scripts");
}

static int scripts_per_instance_run(Context *ctx, const json_t *config) {
        return scripts_run(ctx, "per-instance", PART_SCRIPT_PER_INSTANCE, "per-instance scripts");
}

static int scripts_per_once_run(Context *ctx, const json_t *config) {
        return scripts_run(ctx, "per-once", PART_SCRIPT_PER_ONCE, "per-once scripts");
}

const AgentModule module_scripts_per_boot = {
        .name = "scripts_per_boot",
        .config_keys = NULL,
        .always_run = true,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = scripts_per_boot_run,
};

const AgentModule module_scripts_per_instance = {
        .name = "scripts_per_instance",
        .config_keys = NULL,
        .always_run = true,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = scripts_per_instance_run,
};

const AgentModule module_scripts_per_once = {
        .name = "scripts_per_once",
        .config_keys = NULL,
        .always_run = true,
        .frequency = FREQUENCY_ONCE,
        .bakeable = false,
        .run = scripts_per_once_run,
};
