/* SPDX-License-Identifier: Apache-2.0 */
/* The data flow of one boot, from datasource detection to the final report. */

#include <inttypes.h>
#include <string.h>

#include "boot.h"
#include "clean.h"
#include "config.h"
#include "datasource/datasource.h"
#include "detect.h"
#include "instance-data.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/parse-util.h"
#include "log.h"
#include "modules/power_state.h"
#include "notify.h"
#include "runner.h"
#include "state.h"
#include "userdata/userdata.h"

#define STATUS_FILE KILN_RUN_DIR "/status.json"
#define STATUS_FILE_MAX (16U * 1024U * 1024U)

/* End the stage. RUN_STATUS_RUNNING ends the local stage, a oneshot unit that sends no readiness: it
 * belongs to the network stage alone. */
static RunStatus finish(Context *ctx, RunStatus status) {
        /* Whatever the stage wrote is durable before its end is reported. A run whose files may not
         * survive a crash is degraded, not done. */
        if (runner_flush(ctx) < 0 && status == RUN_STATUS_DONE)
                status = RUN_STATUS_DEGRADED;

        if (status == RUN_STATUS_RUNNING) {
                status = report_finish_as(ctx, status);
                log_info("Finished the local stage: %zu errors, %zu warnings.", json_array_size(ctx->errors),
                         json_array_size(ctx->warnings));
                return status;
        }
        status = report_finish_as(ctx, status);
        log_info("Finished with status %s: %zu errors, %zu warnings.", run_status_to_string(status),
                 json_array_size(ctx->errors), json_array_size(ctx->warnings));
        (void) notify_send("READY=1\nSTATUS=Finished: %s", run_status_to_string(status));
        return status;
}

/* Use the last boot's copy when the datasource fails, so an outage never looks like a new instance
 * and never runs first-boot modules again. Returns 0 with ctx->instance set, or -errno. */
static int fetch_or_use_cache(Context *ctx, const Datasource *ds) {
        _cleanup_free_ char *message = NULL;
        Instance *cached = NULL;
        int r, k;

        r = ds->fetch(ctx, &ctx->instance, &message);
        if (r >= 0)
                return 0;

        k = state_cache_load(ctx, &cached);
        if (k >= 0 && streq(cached->datasource, ds->name)) {
                report_warning(ctx, -1, "Datasource %s is unavailable (%s); used cached data for instance '%s', "
                               "so only per-boot modules run", ds->name, message ?: strerror(-r),
                               cached->instance_id);
                ctx->instance = cached;
                return 0;
        }
        instance_free(cached);
        return report_error(ctx, -1, r, "Failed to read datasource %s: %s", ds->name, message ?: strerror(-r));
}

static int decode_user_data(Context *ctx) {
        const Instance *i = ctx->instance;
        int r = 0;

        if (i->has_vendor_data && i->vendor_data_size > 0)
                r = userdata_decode(ctx, "vendor-data", i->vendor_data, i->vendor_data_size);
        if (i->has_user_data && i->user_data_size > 0) {
                int k = userdata_decode(ctx, "user-data", i->user_data, i->user_data_size);
                if (r == 0)
                        r = k;
        } else
                log_info("No user data.");
        return r;
}

/* Timed phase with its diagnostics recorded under the phase's name. */
#define PHASE(ctx, name, expr)                                                  \
        ({                                                                      \
                usec_t _start = now_monotonic();                                \
                (ctx)->current = (name);                                        \
                int _r = (expr);                                                \
                report_phase((ctx), (name), _start, now_monotonic());           \
                (ctx)->current = "kiln";                                        \
                _r;                                                             \
        })

/* The status document of this boot's local stage, or NULL when the local stage did not run on this
 * boot (no status, another stage, or a status left by an earlier boot). Caller owns it. */
static json_t *local_stage_status(const Context *ctx, const char *boot_id) {
        _cleanup_free_ char *text = NULL;
        json_t *doc;
        size_t size;

        if (read_file_at(ctx->root_fd, STATUS_FILE, STATUS_FILE_MAX, &text, &size) < 0)
                return NULL;
        doc = json_loadb(text, size, 0, NULL);
        if (!json_is_object(doc) || !streq(json_string_value(json_object_get(doc, "stage")) ?: "", "local") ||
            !streq(json_string_value(json_object_get(doc, "status")) ?: "", "running") ||
            !streq(json_string_value(json_object_get(doc, "boot_id")) ?: "-", boot_id ?: "")) {
                json_decref(doc);
                return NULL;
        }
        return doc;
}

/* The steps of the local stage after detection. A failure here is only logged: the network stage
 * fetches again with every datasource and reports what is still wrong. Returns 1 when the
 * instance is known and modules may run, 0 otherwise. */
static int local_stage_fetch(Context *ctx, const Datasource *ds) {
        _cleanup_free_ char *message = NULL;
        int r;

        r = ds->fetch(ctx, &ctx->instance, &message);
        if (r < 0) {
                log_info("Datasource %s cannot be read in the local stage (%s), leaving it to the network stage.",
                         ds->name, message ?: strerror(-r));
                return 0;
        }
        if (instance_id_problem(ctx->instance->instance_id)) {
                log_info("Datasource %s gave an invalid instance id, leaving it to the network stage.", ds->name);
                ctx->instance = instance_free(ctx->instance);
                return 0;
        }
        return 1;
}

static int record_instance(Context *ctx) {
        int r;

        r = state_set_instance(ctx);
        if (r < 0) {
                ctx->current = "state";
                return report_error(ctx, -1, r, "Failed to record instance id '%s': %m", ctx->instance->instance_id);
        }
        log_info("%s instance '%s'.", r > 0 ? "New" : "Known", ctx->instance->instance_id);
        r = state_cache_save(ctx);
        if (r < 0) {
                ctx->current = "state";
                report_warning(ctx, -1, "Failed to cache the instance data, a later outage cannot use it: %s",
                               strerror(-r));
        }
        return 0;
}

/* Detect and fetch: ctx->instance is set when this returns 1. Returns 0 when the stage ends without
 * an instance (the status is then final), or -errno after reporting. */
static int find_instance(Context *ctx, Stage stage) {
        const Datasource *ds = NULL;
        const char *reason;
        int r;

        if (stage == STAGE_LOCAL) {
                r = PHASE(ctx, "detect", detect_local_datasource(ctx, &ds));
                if (r == 0)
                        log_info("No local datasource, leaving detection to the network stage.");
                if (r <= 0)
                        return r;
                log_set_datasource(ds->name);
                return PHASE(ctx, "fetch", local_stage_fetch(ctx, ds));
        }

        r = PHASE(ctx, "detect", detect_datasource(ctx, &ds));
        if (r == 0) {
                ctx->current = "datasource";
                return report_error(ctx, -1, 0, "no datasource found");
        }
        if (r < 0)
                return r;
        log_set_datasource(ds->name);

        r = PHASE(ctx, "fetch", fetch_or_use_cache(ctx, ds));
        if (r < 0)
                return r;
        reason = instance_id_problem(ctx->instance->instance_id);
        if (reason) {
                ctx->current = "datasource";
                report_error(ctx, -1, 0, "Invalid instance id '%.64s%s' from datasource %s: %s", ctx->instance->instance_id,
                             strlen(ctx->instance->instance_id) > 64 ? "..." : "", ds->name, reason);
                ctx->instance = instance_free(ctx->instance);
                return -EINVAL;
        }
        return 1;
}

/* Longest start timeout that system_info.start_timeout may ask systemd for: one day. */
#define START_TIMEOUT_MAX_SEC 86400U

/* Ask systemd for the start timeout that kiln.yaml's system_info.start_timeout names, so that an
 * image sets it in kiln's own configuration. systemd only lengthens the unit's TimeoutStartSec with
 * EXTEND_TIMEOUT_USEC, never shortens it. Without $NOTIFY_SOCKET this does nothing. */
static void start_timeout_apply(Context *ctx) {
        const json_t *v = json_get_path(ctx->system_config, "system_info", "start_timeout", NULL);
        _cleanup_free_ char *shown = NULL;
        uint64_t usec;

        if (!v || json_is_null(v))
                return;
        if (json_seconds_to_usec(v, &usec) < 0 || usec == 0 || usec > START_TIMEOUT_MAX_SEC * USEC_PER_SEC) {
                shown = json_to_message(v, 80);
                ctx->current = "config";
                report_warning(ctx, -1, "system_info.start_timeout must be a number of seconds from 1 to %u, "
                               "not %s, ignoring it.", START_TIMEOUT_MAX_SEC, shown ?: "?");
                ctx->current = "kiln";
                return;
        }
        if (notify_send("EXTEND_TIMEOUT_USEC=%" PRIu64, usec) > 0)
                log_info("Asked systemd for a start timeout of %.0f s (system_info.start_timeout).",
                         (double) usec / USEC_PER_SEC);
}

RunStatus boot_run(Context *ctx, Stage stage) {
        _cleanup_free_ char *boot_id = NULL;
        _cleanup_close_ int lock_fd = -EBADF;
        json_t *previous = NULL;
        RunStatus status;
        const char *reason;
        int r;

        ctx->current = "kiln";
        /* Held until the run returns: `kiln clean` does not remove the state of a running boot,
         * and a second run waits for the first. Without the lock the boot still runs. */
        r = kiln_lock_take(ctx->root_fd, /* wait= */ true, &lock_fd);
        if (r < 0)
                log_warning_errno(r, "Failed to lock the root against kiln clean, running without the lock: %m");
        (void) state_read_boot_id(ctx, &boot_id);
        if (stage == STAGE_NETWORK)
                previous = local_stage_status(ctx, boot_id);
        /* Without a status file the boot still runs; the failure is recorded as an error. */
        r = report_begin(ctx);
        if (r < 0)
                report_error(ctx, -1, r, "Failed to write /%s/status.json, the run's status can only be "
                             "read from the log: %m", KILN_RUN_DIR);
        report_set_stage(ctx, stage_to_string(stage), boot_id, previous);
        (void) notify_send("STATUS=Starting the %s stage", stage_to_string(stage));

        if (kiln_disabled(ctx, &reason) > 0) {
                json_decref(previous);
                log_info("kiln is disabled: %s.", reason);
                return finish(ctx, RUN_STATUS_DISABLED);
        }

        (void) PHASE(ctx, "config", config_load(ctx));
        start_timeout_apply(ctx);
        r = find_instance(ctx, stage);
        if (r <= 0) {
                json_decref(previous);
                return finish(ctx, stage == STAGE_LOCAL ? RUN_STATUS_RUNNING : RUN_STATUS_ERROR);
        }
        log_set_instance_id(ctx->instance->instance_id);
        report_set_instance(ctx);

        if (!ctx->instance->from_cache && record_instance(ctx) < 0) {
                json_decref(previous);
                return finish(ctx, stage == STAGE_LOCAL ? RUN_STATUS_RUNNING : RUN_STATUS_ERROR);
        }

        (void) PHASE(ctx, "decode", decode_user_data(ctx));
        (void) PHASE(ctx, "merge", userdata_merge(ctx));
        r = instance_data_write(ctx);
        if (r < 0) {
                ctx->current = "state";
                report_warning(ctx, -1, "Failed to write the instance data under /%s, 'kiln query' cannot read it: %s",
                               KILN_RUN_DIR, strerror(-r));
        }
        (void) runner_run_stage(ctx, stage, json_object_get(previous, "modules"));
        json_decref(previous);
        if (stage == STAGE_LOCAL)
                return finish(ctx, RUN_STATUS_RUNNING);

        status = finish(ctx, report_status(ctx));
        /* A power change comes last, once the report is complete: the machine may go down. */
        return power_state_apply(ctx, status);
}

void context_done(Context *ctx) {
        ctx->report = report_free(ctx->report);
        ctx->instance = instance_free(ctx->instance);
        parts_free(ctx->parts, ctx->n_parts);
        ctx->parts = NULL;
        ctx->n_parts = 0;
        json_decref(ctx->config);
        json_decref(ctx->config_positions);
        json_decref(ctx->system_config);
        json_decref(ctx->errors);
        json_decref(ctx->warnings);
        json_decref(ctx->power_state);
        ctx->config = ctx->config_positions = ctx->system_config = ctx->errors = ctx->warnings = NULL;
        ctx->power_state = NULL;
}
