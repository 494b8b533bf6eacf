/* SPDX-License-Identifier: Apache-2.0 */
/* The run's diagnostics and its reports: ROOT/run/kiln/status.json and result.json. */

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "report.h"

#define REPORT_STATUS_FILE KILN_RUN_DIR "/status.json"
#define REPORT_RESULT_FILE KILN_RUN_DIR "/result.json"
#define REPORT_MESSAGE_MAX 2048
#define REPORT_DIAGNOSTICS_MAX 1000 /* errors, and warnings, recorded in the report */

struct Report {
        json_t *doc;             /* the status.json document */
        json_t *modules;         /* borrowed from doc: array of module records */
        json_t *current;         /* borrowed: the record of the running module, or NULL */
        usec_t current_start;
        usec_t start;
};

static const char *const run_status_table[_RUN_STATUS_MAX] = {
        [RUN_STATUS_RUNNING] = "running",
        [RUN_STATUS_DONE] = "done",
        [RUN_STATUS_DEGRADED] = "degraded",
        [RUN_STATUS_ERROR] = "error",
        [RUN_STATUS_DISABLED] = "disabled",
};

const char *run_status_to_string(RunStatus s) {
        if (s < 0 || s >= _RUN_STATUS_MAX)
                return NULL;
        return run_status_table[s];
}

RunStatus run_status_from_string(const char *s) {
        if (!s)
                return _RUN_STATUS_INVALID;
        for (size_t i = 0; i < _RUN_STATUS_MAX; i++)
                if (streq(run_status_table[i], s))
                        return (RunStatus) i;
        return _RUN_STATUS_INVALID;
}

int run_status_exit_code(RunStatus s) {
        /* A switch without default, so -Wswitch flags a status added without an exit code. */
        switch (s) {
        case RUN_STATUS_RUNNING:
        case RUN_STATUS_DONE:
        case RUN_STATUS_DISABLED:
                return 0;
        case RUN_STATUS_ERROR:
                return 1;
        case RUN_STATUS_DEGRADED:
                return 2;
        case _RUN_STATUS_MAX:
        case _RUN_STATUS_INVALID:
                break;
        }
        return 1;
}

static usec_t now_clock(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

usec_t now_realtime(void) {
        return now_clock(CLOCK_REALTIME);
}

usec_t now_monotonic(void) {
        return now_clock(CLOCK_MONOTONIC);
}

/* RFC 3339 UTC with microseconds, the form status.json uses for every time. */
static json_t *json_timestamp(usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        char buf[64], out[80];
        struct tm tm;

        (void) gmtime_r(&sec, &tm);
        (void) strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(out, sizeof(out), "%s.%06lluZ", buf, (unsigned long long) (t % USEC_PER_SEC));
        return json_string(out);
}

static json_t *json_duration_ms(usec_t start, usec_t end) {
        return json_real(end > start ? (double) (end - start) / USEC_PER_MSEC : 0.0);
}

static void record_diagnostic(Context *ctx, json_t *list, const char *kind, int item, const char *msg) {
        json_t *entry;

        /* The log keeps every line; the report stops growing, so a list of 20,000 bad items cannot
         * make status.json, which is rewritten after each module, megabytes large. */
        if (json_array_size(list) > REPORT_DIAGNOSTICS_MAX)
                return;
        if (json_array_size(list) == REPORT_DIAGNOSTICS_MAX) {
                item = -1;
                msg = "Further diagnostics of this kind are in the log only.";
        }
        entry = json_pack("{s:s, s:o, s:s}",
                                  "module", ctx->current ?: "kiln",
                                  "item", item >= 0 ? json_integer(item) : json_null(),
                                  "message", msg);
        if (!entry)
                return;
        if (ctx->report && ctx->report->current)
                (void) json_array_append(json_object_get(ctx->report->current, kind), entry);
        (void) json_array_append_new(list, entry);
}

int report_error(Context *ctx, int item, int error, const char *fmt, ...) {
        char msg[REPORT_MESSAGE_MAX];
        va_list ap;

        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* Messages quote user input; a JSON report must still take them whole. */
        utf8_make_valid(msg);

        (void) log_error("%s", msg);
        if (ctx->errors)
                record_diagnostic(ctx, ctx->errors, "errors", item, msg);
        return error < 0 ? error : -EINVAL;
}

void report_warning(Context *ctx, int item, const char *fmt, ...) {
        char msg[REPORT_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        utf8_make_valid(msg);

        (void) log_warning("%s", msg);
        if (ctx->warnings)
                record_diagnostic(ctx, ctx->warnings, "warnings", item, msg);
}

unsigned config_line(const Context *ctx, const char *path) {
        return yaml_position_line(ctx->config_positions, path);
}

const char *config_source_text(const Context *ctx, const char *path) {
        return yaml_position_text(ctx->config_positions, path);
}

/* Failures are logged at debug level only: the caller that starts the report reports the first
 * one, and the progress writes after it would only repeat it. */
static int report_write(Context *ctx) {
        _cleanup_free_ char *text = NULL;
        int r;

        text = json_dumps(ctx->report->doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        r = root_mkdir_p(ctx->root_fd, KILN_RUN_DIR, 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return log_debug_errno(r, "Failed to create /%s: %m", KILN_RUN_DIR);
        r = write_file_atomic(ctx->root_fd, REPORT_STATUS_FILE, text, strlen(text), 0644,
                              (uid_t) -1, (gid_t) -1, 0);
        if (r < 0)
                return log_debug_errno(r, "Failed to write /%s: %m", REPORT_STATUS_FILE);
        return 0;
}

int report_begin(Context *ctx) {
        Report *rep;

        rep = calloc(1, sizeof(Report));
        if (!rep)
                return -ENOMEM;
        rep->start = now_realtime();
        rep->doc = json_pack("{s:s, s:I, s:n, s:n, s:o, s:n, s:{}, s:[], s:O, s:O}",
                             "status", "running",
                             "pid", (json_int_t) getpid(),
                             "datasource",
                             "instance_id",
                             "started", json_timestamp(rep->start),
                             "finished",
                             "phases",
                             "modules",
                             "errors", ctx->errors,
                             "warnings", ctx->warnings);
        if (!rep->doc) {
                free(rep);
                return -ENOMEM;
        }
        rep->modules = json_object_get(rep->doc, "modules");
        ctx->report = rep;
        return report_write(ctx);
}

/* Append the diagnostics of the module records in modules to ctx's lists, and the records to the report. */
static void report_carry_modules(Context *ctx, const json_t *modules) {
        const json_t *rec;
        size_t i;

        json_array_foreach(modules, i, rec) {
                if (!json_is_object(rec))
                        continue;
                if (json_is_array(json_object_get(rec, "errors")))
                        (void) json_array_extend(ctx->errors, json_object_get(rec, "errors"));
                if (json_is_array(json_object_get(rec, "warnings")))
                        (void) json_array_extend(ctx->warnings, json_object_get(rec, "warnings"));
                (void) json_array_append_new(ctx->report->modules, json_deep_copy(rec));
        }
}

void report_set_stage(Context *ctx, const char *stage, const char *boot_id, const json_t *previous) {
        if (!ctx->report)
                return;
        (void) json_object_set_new(ctx->report->doc, "stage", json_string(stage));
        (void) json_object_set_new(ctx->report->doc, "boot_id", boot_id ? json_string(boot_id) : json_null());
        if (previous)
                report_carry_modules(ctx, json_object_get(previous, "modules"));
        (void) report_write(ctx);
}

void report_phase(Context *ctx, const char *phase, usec_t start, usec_t end) {
        if (!ctx->report)
                return;
        (void) json_object_set_new(json_object_get(ctx->report->doc, "phases"), phase,
                                   json_pack("{s:o}", "duration_ms", json_duration_ms(start, end)));
}

void report_set_instance(Context *ctx) {
        if (!ctx->report || !ctx->instance)
                return;
        (void) json_object_set_new(ctx->report->doc, "datasource", json_string(ctx->instance->datasource));
        (void) json_object_set_new(ctx->report->doc, "instance_id", json_string(ctx->instance->instance_id));
        (void) json_object_set_new(ctx->report->doc, "from_cache", json_boolean(ctx->instance->from_cache));
}

void report_module_begin(Context *ctx, const char *module, const char *frequency) {
        json_t *rec;

        ctx->current = module;
        log_set_module(module);
        if (!ctx->report)
                return;
        rec = json_pack("{s:s, s:s, s:s, s:o, s:n, s:n, s:[], s:[]}",
                        "name", module,
                        "frequency", frequency,
                        "state", "running",
                        "started", json_timestamp(now_realtime()),
                        "finished",
                        "duration_ms",
                        "errors",
                        "warnings");
        if (!rec)
                return;
        (void) json_array_append_new(ctx->report->modules, rec);
        ctx->report->current = rec;
        ctx->report->current_start = now_monotonic();
        (void) report_write(ctx);
}

/* The members that report_module_begin() and report_module_end() write. */
static const char *const module_record_members[] = {
        "name", "frequency", "state", "started", "finished", "duration_ms", "errors", "warnings", "reason",
};

int report_module_detail(Context *ctx, const char *key, json_t *value) {
        json_t *rec = ctx->report ? ctx->report->current : NULL;

        for (size_t i = 0; i < ELEMENTSOF(module_record_members); i++)
                if (streq(key, module_record_members[i]))
                        return -EINVAL;
        if (!rec)
                return -ESRCH;
        if (json_object_set(rec, key, value) < 0)
                return -ENOMEM;
        return 0;
}

void report_module_end(Context *ctx, const char *state, const char *reason) {
        json_t *rec = ctx->report ? ctx->report->current : NULL;

        if (rec) {
                (void) json_object_set_new(rec, "state", json_string(state));
                (void) json_object_set_new(rec, "finished", json_timestamp(now_realtime()));
                (void) json_object_set_new(rec, "duration_ms",
                                           json_duration_ms(ctx->report->current_start, now_monotonic()));
                if (reason)
                        (void) json_object_set_new(rec, "reason", json_string(reason));
                ctx->report->current = NULL;
                (void) report_write(ctx);
        }
        ctx->current = "kiln";
        log_set_module(NULL);
}

RunStatus report_status(const Context *ctx) {
        if (json_array_size(ctx->errors) > 0)
                return RUN_STATUS_ERROR;
        if (json_array_size(ctx->warnings) > 0)
                return RUN_STATUS_DEGRADED;
        return RUN_STATUS_DONE;
}

static int report_write_result(Context *ctx) {
        _cleanup_free_ char *text = NULL;
        json_t *doc = ctx->report->doc;
        json_t *result;
        int r;

        result = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}",
                           "status", json_object_get(doc, "status"),
                           "datasource", json_object_get(doc, "datasource"),
                           "instance_id", json_object_get(doc, "instance_id"),
                           "finished", json_object_get(doc, "finished"),
                           "errors", ctx->errors,
                           "warnings", ctx->warnings);
        if (!result)
                return -ENOMEM;
        text = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(result);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(ctx->root_fd, REPORT_RESULT_FILE, text, strlen(text), 0644,
                              (uid_t) -1, (gid_t) -1, WRITE_SYNC);
        if (r < 0)
                return log_error_errno(r, "Failed to write /%s: %m", REPORT_RESULT_FILE);
        return 0;
}

RunStatus report_finish_as(Context *ctx, RunStatus status) {
        usec_t end = now_realtime();

        if (!ctx->report)
                return status;
        (void) json_object_set_new(ctx->report->doc, "status", json_string(run_status_to_string(status)));
        (void) json_object_del(ctx->report->doc, "pid");
        if (status == RUN_STATUS_RUNNING) {
                (void) json_object_set_new(ctx->report->doc, "stage_finished", json_timestamp(end));
                if (report_write(ctx) < 0)
                        log_error("Failed to write /%s at the end of the stage.", REPORT_STATUS_FILE);
                return status;
        }
        (void) json_object_set_new(ctx->report->doc, "finished", json_timestamp(end));
        (void) json_object_set_new(ctx->report->doc, "duration_ms", json_duration_ms(ctx->report->start, end));
        /* result.json first: a reader woken by the final status.json then finds both. */
        (void) report_write_result(ctx);
        if (report_write(ctx) < 0)
                log_error("Failed to write the final /%s; the status above is only in the log.", REPORT_STATUS_FILE);
        return status;
}

RunStatus report_finish(Context *ctx) {
        return report_finish_as(ctx, report_status(ctx));
}

Report *report_free(Report *r) {
        if (!r)
                return NULL;
        json_decref(r->doc);
        free(r);
        return NULL;
}

void report_shape_diagnostic(const SchemaDiagnostic *d, void *userdata) {
        const ReportShapeTarget *t = userdata;
        const char *separator = d->path[0] ? "." : "";
        int item = t->item_of ? t->item_of(d->path) : -1;

        /* No default case: the compiler warns when a problem kind is missing. */
        switch (d->problem) {
        case SCHEMA_UNKNOWN_KEY:
                if (t->unknown_keys)
                        report_warning(t->ctx, item, "%s%s%s", t->key, separator, d->message);
                break;
        case SCHEMA_UNSUPPORTED_KEY:
        case SCHEMA_DEPRECATED_KEY:
                break;
        case SCHEMA_WARNING:
                report_warning(t->ctx, item, "%s%s%s", t->key, separator, d->message);
                break;
        case SCHEMA_ERROR:
                (void) report_error(t->ctx, item, 0, "%s%s%s", t->key, separator, d->message);
                break;
        case _SCHEMA_PROBLEM_MAX:
        case _SCHEMA_PROBLEM_INVALID:
                break;
        }
}
