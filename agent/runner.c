/* SPDX-License-Identifier: Apache-2.0 */
/* The module runner: decides for each module whether it runs, runs it, and records the outcome. */

#include <string.h>

#include "lib/json-util.h"
#include "log.h"
#include "modules/module.h"
#include "notify.h"
#include "report.h"
#include "runner.h"
#include "schema.h"
#include "state.h"

/* Upper bound on the entries of the configured module list. */
#define RUNNER_MODULES_MAX 256

typedef struct PlannedModule {
        const AgentModule *module;
        Frequency frequency;
} PlannedModule;

static const char *const frequency_table[_FREQUENCY_MAX] = {
        [FREQUENCY_PER_INSTANCE] = "per-instance",
        [FREQUENCY_PER_BOOT] = "per-boot",
        [FREQUENCY_ONCE] = "once",
};

const char *frequency_to_string(Frequency f) {
        if (f < 0 || f >= _FREQUENCY_MAX)
                return NULL;
        return frequency_table[f];
}

Frequency frequency_from_string(const char *s) {
        if (!s)
                return _FREQUENCY_INVALID;
        for (size_t i = 0; i < _FREQUENCY_MAX; i++)
                if (streq(frequency_table[i], s))
                        return (Frequency) i;
        /* cloud-init's names for the same frequencies. */
        if (streq(s, "always"))
                return FREQUENCY_PER_BOOT;
        if (streq(s, "once-per-instance") || streq(s, "instance"))
                return FREQUENCY_PER_INSTANCE;
        return _FREQUENCY_INVALID;
}

/* Read the configured module list; entries that name no module are reported and left out. */
static size_t plan_from_config(Context *ctx, const json_t *list, PlannedModule *plan) {
        const char *saved = ctx->current;
        json_t *item;
        size_t i, n = 0;

        ctx->current = "config";
        json_array_foreach(list, i, item) {
                const json_t *name = json_is_array(item) ? json_array_get(item, 0) : item;
                const json_t *freq = json_is_array(item) ? json_array_get(item, 1) : NULL;
                const AgentModule *m = json_is_string(name) ? module_by_name(json_string_value(name)) : NULL;
                _cleanup_free_ char *shown = NULL;
                Frequency f;

                if (n == RUNNER_MODULES_MAX) {
                        report_warning(ctx, (int) i, "modules in the configuration has more than %d entries, "
                                       "ignoring the rest.", RUNNER_MODULES_MAX);
                        break;
                }
                if (!m) {
                        shown = json_to_message(item, 80);
                        report_warning(ctx, (int) i, "modules[%zu] in the configuration, %s, names no module, "
                                       "skipping it.", i, shown ?: "?");
                        continue;
                }
                f = freq ? frequency_from_string(json_string_value(freq)) : m->frequency;
                if (f < 0) {
                        shown = json_to_message(freq, 80);
                        report_warning(ctx, (int) i, "modules[%zu]: invalid frequency %s for '%s' (expected "
                                       "per-instance, per-boot, always or once), using '%s'.",
                                       i, shown ?: "?", m->name, frequency_to_string(m->frequency));
                        f = m->frequency;
                }
                plan[n++] = (PlannedModule) { .module = m, .frequency = f };
        }
        ctx->current = saved;
        return n;
}

static size_t plan_modules(Context *ctx, PlannedModule *plan) {
        const json_t *list = json_object_get(ctx->system_config, "modules");
        size_t n = 0;

        if (list && !json_is_array(list))
                report_warning(ctx, -1, "modules in the configuration is not a list, using the built-in order.");
        else if (list)
                return plan_from_config(ctx, list, plan);

        for (const AgentModule *const *m = module_table; *m && n < RUNNER_MODULES_MAX; m++)
                plan[n++] = (PlannedModule) { .module = *m, .frequency = (*m)->frequency };
        return n;
}

static bool has_config(const Context *ctx, const AgentModule *m) {
        if (m->always_run || !m->config_keys)
                return true;
        for (const char *const *k = m->config_keys; *k; k++)
                if (json_object_get(ctx->config, *k))
                        return true;
        return false;
}

/* Returns why the module is skipped, or NULL when it runs. */
static const char *skip_reason(const Context *ctx, const PlannedModule *p) {
        if (ctx->instance->from_cache && p->frequency != FREQUENCY_PER_BOOT)
                return "the datasource is unavailable and cached data is used, so only per-boot modules run";
        if (!has_config(ctx, p->module))
                return "no configuration";
        if (state_sem_check(ctx, p->module->name, p->frequency) > 0)
                return p->frequency == FREQUENCY_ONCE ? "already ran once" : "already ran for this instance";
        return NULL;
}

static bool run_one(Context *ctx, const PlannedModule *p, size_t index, size_t total) {
        const AgentModule *m = p->module;
        size_t errors_before = json_array_size(ctx->errors);
        const char *reason, *outcome, *state;
        usec_t start;
        int r;

        report_module_begin(ctx, m->name, frequency_to_string(p->frequency));
        reason = skip_reason(ctx, p);
        if (reason) {
                log_debug("Skipping: %s.", reason);
                report_module_end(ctx, "skipped", reason);
                return true;
        }

        (void) notify_send("STATUS=Running module %s (%zu of %zu)", m->name, index + 1, total);
        /* The semaphore is set before the run, as cloud-init does: a module that fails half-way
         * through is not repeated at the next boot of the same instance. */
        r = state_sem_set(ctx, m->name, p->frequency);
        if (r < 0)
                report_warning(ctx, -1, "Failed to record that module %s ran, it may run again: %s",
                               m->name, strerror(-r));

        start = now_monotonic();
        r = m->run(ctx, ctx->config);
        if (r < 0 && json_array_size(ctx->errors) == errors_before)
                report_error(ctx, -1, r, "Module %s failed: %m", m->name);
        if (r < 0) {
                outcome = "failed";
                state = "failed";
        } else if (r > 0) {
                outcome = "changed the system";
                state = "changed";
        } else {
                outcome = "finished";
                state = "done";
        }
        log_info("Module %s %s in %.1f ms.", m->name, outcome, (double) (now_monotonic() - start) / USEC_PER_MSEC);
        report_module_end(ctx, state, NULL);
        return r >= 0;
}

/* Warn about a key problem as the run reports it, with the line where the key was written. */
static void warn_key_problem(const SchemaDiagnostic *d, void *userdata) {
        Context *ctx = userdata;
        char at[32] = "", message[2 * SCHEMA_PATH_MAX];
        unsigned line = d->pointer ? config_line(ctx, d->pointer) : 0;

        if (line > 0)
                (void) snprintf(at, sizeof(at), " at line %u", line);
        schema_key_message(d, at, message, sizeof(message));
        report_warning(ctx, -1, "%s", message);
}

void runner_check_keys(Context *ctx) {
        const char *saved = ctx->current;
        int r;

        ctx->current = "config";
        r = schema_check(ctx->config, ctx->config_positions, SCHEMA_KEYS_ONLY, warn_key_problem, ctx);
        if (r < 0)
                report_warning(ctx, -1, "Failed to check the configuration's keys, unknown keys are not reported: %s",
                               strerror(-r));
        ctx->current = saved;
}

int runner_run_modules(Context *ctx) {
        PlannedModule plan[RUNNER_MODULES_MAX];
        size_t n = plan_modules(ctx, plan);
        int failed = 0;

        for (size_t i = 0; i < n; i++)
                if (!run_one(ctx, &plan[i], i, n))
                        failed++;
        return failed;
}
