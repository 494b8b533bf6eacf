/* SPDX-License-Identifier: Apache-2.0 */
/* The module runner: decides for each module whether it runs, runs it, and records the outcome. */

#include <string.h>
#include <sys/types.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "log.h"
#include "modules/module.h"
#include "notify.h"
#include "plugin.h"
#include "report.h"
#include "runner.h"
#include "schema.h"
#include "state.h"

/* Upper bound on the entries of the configured module list. */
#define RUNNER_MODULES_MAX 256

/* The built-in module after which plugins without `after` run: after the user's own scripts,
 * before the boot's reports and the power change. */
#define PLUGIN_DEFAULT_AFTER (&module_scripts_user)

/* The modules that run in the local stage. cloud-init sets the hostname in its local stage when the
 * metadata is already there, so that the DHCP request and the journal carry the right name. */
static const AgentModule *const local_stage_modules[] = {
        &module_hostname,
};

static const char *const stage_table[_STAGE_MAX] = {
        [STAGE_LOCAL] = "local",
        [STAGE_NETWORK] = "network",
};

const char *stage_to_string(Stage s) {
        if (s < 0 || s >= _STAGE_MAX)
                return NULL;
        return stage_table[s];
}

Stage stage_from_string(const char *s) {
        if (!s)
                return _STAGE_INVALID;
        for (size_t i = 0; i < _STAGE_MAX; i++)
                if (streq(stage_table[i], s))
                        return (Stage) i;
        return _STAGE_INVALID;
}

static bool module_in_local_stage(const AgentModule *m) {
        for (size_t i = 0; i < ELEMENTSOF(local_stage_modules); i++)
                if (local_stage_modules[i] == m)
                        return true;
        return false;
}

/* One entry of the plan: a built-in module or an exec plugin. */
typedef struct PlannedModule {
        const AgentModule *module;
        const Plugin *plugin;
        Frequency frequency;
} PlannedModule;

static const char *planned_name(const PlannedModule *p) {
        return p->module ? p->module->name : p->plugin->name;
}

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
static size_t plan_from_config(Context *ctx, const PluginSet *plugins, const json_t *list, PlannedModule *plan) {
        const char *saved = ctx->current;
        json_t *item;
        size_t i, n = 0;

        ctx->current = "config";
        json_array_foreach(list, i, item) {
                const json_t *name = json_is_array(item) ? json_array_get(item, 0) : item;
                const json_t *freq = json_is_array(item) ? json_array_get(item, 1) : NULL;
                const AgentModule *m = json_is_string(name) ? module_by_name(json_string_value(name)) : NULL;
                const Plugin *plugin = json_is_string(name) && !m ? plugin_set_find(plugins, json_string_value(name)) : NULL;
                PlannedModule entry = { .module = m, .plugin = plugin };
                _cleanup_free_ char *shown = NULL;
                Frequency f, fallback;

                if (n == RUNNER_MODULES_MAX) {
                        report_warning(ctx, (int) i, "modules in the configuration has more than %d entries, "
                                       "ignoring the rest.", RUNNER_MODULES_MAX);
                        break;
                }
                if (!m && !plugin) {
                        shown = json_to_message(item, 80);
                        report_warning(ctx, (int) i, "modules[%zu] in the configuration, %s, names no module, "
                                       "skipping it.", i, shown ?: "?");
                        continue;
                }
                fallback = m ? m->frequency : plugin->frequency;
                f = freq ? frequency_from_string(json_string_value(freq)) : fallback;
                if (f < 0) {
                        shown = json_to_message(freq, 80);
                        report_warning(ctx, (int) i, "modules[%zu]: invalid frequency %s for '%s' (expected "
                                       "per-instance, per-boot, always or once), using '%s'.",
                                       i, shown ?: "?", planned_name(&entry), frequency_to_string(fallback));
                        f = fallback;
                }
                entry.frequency = f;
                plan[n++] = entry;
        }
        ctx->current = saved;
        return n;
}

/* The index of the entry named name in plan (a built-in by any of its names, or a plugin), or -1. */
static ssize_t plan_find(const PlannedModule *plan, size_t n, const char *name) {
        const AgentModule *m = module_by_name(name);

        for (size_t i = 0; i < n; i++)
                if (m ? plan[i].module == m : plan[i].plugin && streq(plan[i].plugin->name, name))
                        return (ssize_t) i;
        return -1;
}

/* Where p goes in plan: after the last entry it names in `after`, or after the default module when
 * it names none that is known. Returns -EAGAIN when it names a plugin that is not placed yet. */
static ssize_t plugin_anchor(const PluginSet *plugins, const Plugin *p, const PlannedModule *plan, size_t n,
                             bool ignore_plugins) {
        ssize_t anchor = -1;

        for (char **a = p->after; *a; a++) {
                ssize_t at = plan_find(plan, n, *a);
                bool is_plugin = !module_by_name(*a) && plugin_set_find(plugins, *a);

                if (at < 0 && is_plugin && !ignore_plugins)
                        return -EAGAIN;
                anchor = MAX(anchor, at);
        }
        if (anchor < 0)
                anchor = plan_find(plan, n, PLUGIN_DEFAULT_AFTER->name);
        return anchor;
}

/* Insert p after plan[anchor] and after the plugins that already follow it, which keeps plugins
 * with the same anchor in name order. */
static size_t plan_insert(PlannedModule *plan, size_t n, ssize_t anchor, const Plugin *p) {
        size_t at = (size_t) (anchor + 1);

        if (n == RUNNER_MODULES_MAX)
                return n;
        while (at < n && plan[at].plugin)
                at++;
        memmove(plan + at + 1, plan + at, (n - at) * sizeof(PlannedModule));
        plan[at] = (PlannedModule) { .plugin = p, .frequency = p->frequency };
        return n + 1;
}

/* Place the plugins into the built-in order. Passes repeat while a plugin waits for another; the
 * ones still waiting then form a cycle, and go where they would without their plugin names. */
static size_t plan_add_plugins(Context *ctx, const PluginSet *plugins, PlannedModule *plan, size_t n) {
        bool placed[PLUGINS_MAX] = {}, progress = true, ignore_plugins = false;
        size_t left = plugins->n;

        while (left > 0) {
                if (!progress) {
                        ignore_plugins = true;
                        ctx->current = "plugins";
                        report_warning(ctx, -1, "The plugins' after lists form a cycle, ordering %zu of them "
                                       "by name, ignoring.", left);
                }
                progress = false;
                for (size_t i = 0; i < plugins->n; i++) {
                        ssize_t anchor;

                        if (placed[i])
                                continue;
                        anchor = plugin_anchor(plugins, &plugins->plugins[i], plan, n, ignore_plugins);
                        if (anchor == -EAGAIN)
                                continue;
                        n = plan_insert(plan, n, anchor, &plugins->plugins[i]);
                        placed[i] = progress = true;
                        left--;
                }
        }
        return n;
}

static size_t plan_modules(Context *ctx, const PluginSet *plugins, PlannedModule *plan) {
        const json_t *list = json_object_get(ctx->system_config, "modules");
        const char *saved = ctx->current;
        size_t n = 0;

        if (list && !json_is_array(list))
                report_warning(ctx, -1, "modules in the configuration is not a list, using the built-in order.");
        else if (list)
                return plan_from_config(ctx, plugins, list, plan);

        for (const AgentModule *const *m = module_table; *m && n < RUNNER_MODULES_MAX; m++)
                plan[n++] = (PlannedModule) { .module = *m, .frequency = (*m)->frequency };
        n = plan_add_plugins(ctx, plugins, plan, n);
        ctx->current = saved;
        return n;
}

static bool has_config(const Context *ctx, const PlannedModule *p) {
        const char *const *keys = p->module ? p->module->config_keys : (const char *const *) p->plugin->keys;

        /* A plugin that claims no keys finds its work elsewhere, as an always_run module does. */
        if ((p->module && p->module->always_run) || !keys || !keys[0])
                return true;
        for (const char *const *k = keys; *k; k++)
                if (json_object_get(ctx->config, *k))
                        return true;
        return false;
}

/* True when the local stage's records name the module as having run (not skipped) on this boot. */
static bool ran_in_local_stage(const json_t *ran_in_local, const char *name) {
        const json_t *rec;
        size_t i;

        json_array_foreach(ran_in_local, i, rec) {
                const char *state = json_string_value(json_object_get(rec, "state"));

                if (streq(json_string_value(json_object_get(rec, "name")) ?: "", name) && state &&
                    !streq(state, "skipped"))
                        return true;
        }
        return false;
}

/* Returns why the module is skipped, or NULL when it runs. */
static const char *skip_reason(const Context *ctx, const PlannedModule *p, const json_t *ran_in_local) {
        if (ran_in_local_stage(ran_in_local, planned_name(p)))
                return "it ran in the local stage of this boot";
        if (ctx->instance->from_cache && p->frequency != FREQUENCY_PER_BOOT)
                return "the datasource is unavailable and cached data is used, so only per-boot modules run";
        if (!has_config(ctx, p))
                return "no configuration";
        if (state_sem_check(ctx, planned_name(p), p->frequency) > 0)
                return p->frequency == FREQUENCY_ONCE ? "already ran once" : "already ran for this instance";
        return NULL;
}

int runner_flush(Context *ctx) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = fileio_flush(&path);
        if (r < 0)
                report_warning(ctx, -1, "Failed to sync directory '%s', a crash may undo the latest changes in "
                               "it, ignoring: %s", path ?: "?", strerror(-r));
        return r;
}

static bool run_one(Context *ctx, const PlannedModule *p, size_t index, size_t total, const json_t *ran_in_local) {
        const char *name = planned_name(p);
        size_t errors_before = json_array_size(ctx->errors);
        const char *reason, *outcome, *state;
        usec_t start;
        int r;

        report_module_begin(ctx, name, frequency_to_string(p->frequency));
        reason = skip_reason(ctx, p, ran_in_local);
        if (reason) {
                log_debug("Skipping: %s.", reason);
                report_module_end(ctx, "skipped", reason);
                return true;
        }

        (void) notify_send("STATUS=Running module %s (%zu of %zu)", name, index + 1, total);
        /* The semaphore is set before the run, as cloud-init does: a module that fails half-way
         * through is not repeated at the next boot of the same instance. */
        r = state_sem_set(ctx, name, p->frequency);
        if (r < 0)
                report_warning(ctx, -1, "Failed to record that module %s ran, it may run again: %s",
                               name, strerror(-r));
        /* The semaphore, and the state that the boot wrote before it, are durable before the
         * module changes anything. */
        (void) runner_flush(ctx);

        start = now_monotonic();
        r = p->module ? p->module->run(ctx, ctx->config) : plugin_run(ctx, p->plugin, p->frequency);
        /* The module's files are durable before its record in status.json shows it finished. */
        (void) runner_flush(ctx);
        if (r < 0 && json_array_size(ctx->errors) == errors_before)
                report_error(ctx, -1, r, "Module %s failed: %m", name);
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
        log_info("Module %s %s in %.1f ms.", name, outcome, (double) (now_monotonic() - start) / USEC_PER_MSEC);
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

/* Warn about keys that no module, no plugin of plugins (may be NULL) and no setting owns. */
static void check_keys(Context *ctx, const PluginSet *plugins) {
        _cleanup_free_ const char **plugin_keys = plugins ? plugin_set_keys(plugins) : NULL;
        const char *saved = ctx->current;
        int r = -ENOMEM;

        ctx->current = "config";
        if (!plugins || plugin_keys)
                r = schema_check_with_keys(ctx->config, ctx->config_positions, SCHEMA_KEYS_ONLY, plugin_keys,
                                           warn_key_problem, ctx);
        if (r < 0)
                report_warning(ctx, -1, "Failed to check the configuration's keys, unknown keys are not reported: %s",
                               strerror(-r));
        ctx->current = saved;
}

int runner_plan_names(Context *ctx, const PluginSet *plugins, char ***ret_names) {
        PlannedModule plan[RUNNER_MODULES_MAX];
        size_t n = plan_modules(ctx, plugins, plan);
        _cleanup_strv_free_ char **names = calloc(n + 1, sizeof(char *));

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                names[i] = strdup(planned_name(&plan[i]));
                if (!names[i])
                        return -ENOMEM;
        }
        *ret_names = TAKE_PTR(names);
        return 0;
}

void runner_check_keys(Context *ctx) {
        check_keys(ctx, /* plugins= */ NULL);
}

/* The local stage's plan: its modules, in the configured `modules` list's order and frequency when
 * the list names them. Nothing is reported here: the network stage reads the same list and reports
 * its problems once. */
static size_t plan_local(const Context *ctx, PlannedModule *plan) {
        const json_t *list = json_object_get(ctx->system_config, "modules"), *item;
        size_t i, n = 0;

        if (!json_is_array(list)) {
                for (const AgentModule *const *m = module_table; *m; m++)
                        if (module_in_local_stage(*m))
                                plan[n++] = (PlannedModule) { .module = *m, .frequency = (*m)->frequency };
                return n;
        }
        json_array_foreach(list, i, item) {
                const json_t *name = json_is_array(item) ? json_array_get(item, 0) : item;
                const json_t *freq = json_is_array(item) ? json_array_get(item, 1) : NULL;
                const AgentModule *m = json_is_string(name) ? module_by_name(json_string_value(name)) : NULL;
                Frequency f;

                if (!m || !module_in_local_stage(m) || n == RUNNER_MODULES_MAX)
                        continue;
                f = freq ? frequency_from_string(json_string_value(freq)) : m->frequency;
                plan[n++] = (PlannedModule) { .module = m, .frequency = f < 0 ? m->frequency : f };
        }
        return n;
}

int runner_run_stage(Context *ctx, Stage stage, const json_t *ran_in_local) {
        _cleanup_(plugin_set_done) PluginSet plugins = {};
        PlannedModule plan[RUNNER_MODULES_MAX];
        int failed = 0;
        size_t n;

        if (stage == STAGE_LOCAL) {
                n = plan_local(ctx, plan);
                ran_in_local = NULL;
        } else {
                if (plugins_discover(ctx, &plugins) < 0)
                        failed++;
                check_keys(ctx, &plugins);
                n = plan_modules(ctx, &plugins, plan);
        }
        for (size_t i = 0; i < n; i++)
                if (!run_one(ctx, &plan[i], i, n, ran_in_local))
                        failed++;
        return failed;
}

int runner_run_modules(Context *ctx) {
        return runner_run_stage(ctx, STAGE_NETWORK, /* ran_in_local= */ NULL);
}
