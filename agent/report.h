/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics and progress: the errors and warnings of a run, status.json and result.json. */
#pragma once

#include <stdarg.h>

#include "context.h"
#include "lib/macro.h"
#include "schema.h"

typedef enum RunStatus {
        RUN_STATUS_RUNNING,
        RUN_STATUS_DONE,
        RUN_STATUS_DEGRADED,
        RUN_STATUS_ERROR,
        RUN_STATUS_DISABLED,
        _RUN_STATUS_MAX,
        _RUN_STATUS_INVALID = -EINVAL,
} RunStatus;

const char *run_status_to_string(RunStatus s);
RunStatus run_status_from_string(const char *s);
/* Exit code of `kiln status` for a status: 0 done/running/disabled, 1 error, 2 degraded. */
int run_status_exit_code(RunStatus s);

/* Record an error against ctx->current and log it once. item < 0 means the error has no item.
 * error is a negative errno that %m in fmt renders; 0 when no errno applies.
 * Returns error when it is negative, otherwise -EINVAL, so callers can `return report_error(...)`. */
int report_error(Context *ctx, int item, int error, const char *fmt, ...) _printf_(4, 5);

/* Record a warning (the run ends degraded) against ctx->current and log it once. */
void report_warning(Context *ctx, int item, const char *fmt, ...) _printf_(3, 4);

/* The line in the user's cloud-config where the node at path ("/runcmd/0") was written, 0 when unknown. */
unsigned config_line(const Context *ctx, const char *path);

/* The source text of the unquoted integer at path, or NULL (borrowed). */
const char *config_source_text(const Context *ctx, const char *path);

/* The run's report: status.json while the run progresses, result.json at its end. */
typedef struct Report Report;

/* Start the report and write status.json with status "running". */
int report_begin(Context *ctx);

/* Record which stage this run is ("local" or "network") and the boot it belongs to (boot_id may be
 * NULL when unknown). previous, when not NULL, is the status document of this boot's local stage:
 * its module records, with their errors and warnings, are carried into this report, so that the
 * final status covers every stage. */
void report_set_stage(Context *ctx, const char *stage, const char *boot_id, const json_t *previous);

/* Record how long a phase before the modules took ("detect", "fetch", "decode", "merge"). */
void report_phase(Context *ctx, const char *phase, usec_t start, usec_t end);

/* Record the datasource and instance id once they are known. */
void report_set_instance(Context *ctx);

/* Start a module's record: diagnostics now go against it. */
void report_module_begin(Context *ctx, const char *module, const char *frequency);

/* Add key with value (borrowed: the record takes a reference of its own) to the running module's
 * record in status.json, for details that the module reports beside its state, such as the result
 * of each package. The names of the record's own members (name, state, errors ...) are rejected.
 * Returns 0, -EINVAL for such a name, -ESRCH when no module is running, or -ENOMEM. */
int report_module_detail(Context *ctx, const char *key, json_t *value);

/* End a module's record. state is "done", "changed", "failed" or "skipped"; reason explains a skip. */
void report_module_end(Context *ctx, const char *state, const char *reason);

/* The status the diagnostics so far amount to: error, degraded or done. */
RunStatus report_status(const Context *ctx);

/* Finish: write status.json and result.json with the final status. Returns that status. */
RunStatus report_finish(Context *ctx);

/* Write a final report for a run that ends before modules (disabled, no datasource). With
 * RUN_STATUS_RUNNING it ends only the current stage: status.json keeps "running" without a pid, and
 * result.json is not written, because a later stage is still to come. */
RunStatus report_finish_as(Context *ctx, RunStatus status);

Report *report_free(Report *r);

/* Current time, CLOCK_REALTIME and CLOCK_MONOTONIC, in microseconds. */
usec_t now_realtime(void);
usec_t now_monotonic(void);

/* Where a module's run-time check of one key's value (schema_check_shape()) reports: each message
 * starts with key, item_of maps a diagnostic's dotted path to the item index it is recorded under
 * (NULL: no item), and unknown_keys also reports keys below key that no declaration has, as
 * warnings. Other key problems were reported for the whole config when the run began. */
typedef struct ReportShapeTarget {
        Context *ctx;
        const char *key;
        int (*item_of)(const char *path);
        bool unknown_keys;
} ReportShapeTarget;

/* A SchemaReportFn for schema_check_shape() whose userdata is a ReportShapeTarget: warnings and
 * errors go to report_warning() and report_error() as "KEY.PATH MESSAGE". */
void report_shape_diagnostic(const SchemaDiagnostic *d, void *userdata);
