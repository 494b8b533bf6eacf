/* SPDX-License-Identifier: Apache-2.0 */
/* boothooks: the first module of every boot. It runs each #cloud-boothook part of the user data,
 * stored as /var/lib/kiln/instances/ID/boothooks/PART (mode 0700), with INSTANCE_ID set, as
 * cloud-init's boothook handler does.
 *
 * It also saves the parts that kiln does not act on (a declared type such as
 * application/x-example-json, meant for another program) byte for byte as
 * /var/lib/kiln/instances/ID/parts/NNN (mode 0600; vendor-NNN for vendor data), NNN being the
 * part's number. This module does it because it is the first step of a boot that may write to the
 * root once the instance is known, so those programs find the parts from the start of the boot. */

#include <stdio.h>
#include <string.h>

#include "command.h"
#include "lib/fileio.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "scripts_parts.h"
#include "state.h"

#define SAVED_PART_MODE 0600

/* Save one part for other programs. Returns 0, or -errno after reporting. */
static int part_save(Context *ctx, const Part *part, int item) {
        _cleanup_free_ char *path = NULL;
        const char *number = strrchr(part->name, '-');
        int r;

        if (asprintf(&path, "/" KILN_STATE_DIR "/instances/%s/parts/%s%s", ctx->instance->instance_id,
                     part->vendor ? "vendor-" : "", number ? number + 1 : part->name) < 0)
                return report_error(ctx, item, -ENOMEM, "Failed to save part '%s': %m", part->name);

        r = write_file_atomic(ctx->root_fd, path, part->data, part->size, SAVED_PART_MODE, (uid_t) -1,
                              (gid_t) -1, WRITE_MKDIR_PARENTS);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to save part '%s' to '%s': %m", part->name, path);
        log_info("Saved %s (%s) to %s for other programs.", part->name, part->content_type, path);
        return 0;
}

static int boothooks_run(Context *ctx, const json_t *config) {
        _cleanup_close_ int output_fd = -EBADF;
        int item = 0, done = 0, ret = 0, r;

        if (!ctx->instance || instance_id_problem(ctx->instance->instance_id))
                return report_error(ctx, -1, 0, "Failed to run boothooks: no valid instance id");

        for (size_t i = 0; i < ctx->n_parts; i++) {
                if (ctx->parts[i].type != PART_OTHER)
                        continue;
                r = part_save(ctx, &ctx->parts[i], -1);
                done++;
                if (r < 0 && ret == 0)
                        ret = r;
        }

        /* Boothooks run in the order of the parts, and a failing one does not stop the next. */
        for (size_t i = 0; i < ctx->n_parts; i++) {
                if (ctx->parts[i].type != PART_BOOTHOOK)
                        continue;
                if (output_fd == -EBADF)
                        output_fd = command_output_open(ctx, "boothooks");
                r = part_script_run(ctx, &ctx->parts[i], "boothooks", item++, output_fd);
                done++;
                if (r < 0 && ret == 0)
                        ret = r;
        }

        if (done == 0)
                log_debug("No boothooks and no parts for other programs in the user data.");
        return ret < 0 ? ret : done > 0;
}

const AgentModule module_boothooks = {
        .name = "boothooks",
        .config_keys = NULL,
        .always_run = true,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = boothooks_run,
};
