/* SPDX-License-Identifier: Apache-2.0 */
/* scripts_user: store each user-data script of this instance as
 * /var/lib/kiln/instances/ID/scripts/PART (mode 0700) and run it, once per instance. The kernel
 * picks the interpreter from the script's #! line. */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "lib/fileio.h"
#include "log.h"
#include "module.h"
#include "report.h"

#define SCRIPT_MODE 0700

/* A name of one directory entry, which cannot lead out of the scripts directory. */
static bool is_file_name(const char *s) {
        return s && s[0] != '\0' && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

/* Write the part's bytes unchanged to its file inside the root and run it from there.
 * Returns 0, or -errno after reporting the failure against item. */
static int script_run(Context *ctx, const Part *part, int item, int output_fd) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        if (!is_file_name(part->name))
                return report_error(ctx, item, 0, "Script part name '%s' is not a file name, skipping it.",
                                    part->name ?: "");

        if (asprintf(&path, "/" KILN_STATE_DIR "/instances/%s/scripts/%s", ctx->instance->instance_id,
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

static int scripts_user_run(Context *ctx, const json_t *config) {
        _cleanup_close_ int output_fd = -EBADF;
        int n_scripts = 0, r = 0;

        for (size_t i = 0; i < ctx->n_parts; i++)
                if (ctx->parts[i].type == PART_SCRIPT)
                        n_scripts++;
        if (n_scripts == 0) {
                log_debug("No user scripts in the user data, nothing to run.");
                return 0;
        }

        if (!ctx->instance || !is_file_name(ctx->instance->instance_id))
                return report_error(ctx, /* item= */ -1, 0,
                                    "Failed to run user scripts: instance id '%s' is not a valid directory "
                                    "name.", ctx->instance && ctx->instance->instance_id ?
                                    ctx->instance->instance_id : "");

        output_fd = command_output_open(ctx, "user scripts");

        /* Scripts run in the order of the parts, and a failing script does not stop the next. */
        for (size_t i = 0, item = 0; i < ctx->n_parts; i++) {
                int k;

                if (ctx->parts[i].type != PART_SCRIPT)
                        continue;

                k = script_run(ctx, &ctx->parts[i], (int) item++, output_fd);
                if (k < 0 && r == 0)
                        r = k;
        }

        return r < 0 ? r : 1;
}

const AgentModule module_scripts_user = {
        .name = "scripts_user",
        .config_keys = NULL,
        .always_run = true,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = scripts_user_run,
};
