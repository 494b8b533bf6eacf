/* SPDX-License-Identifier: Apache-2.0 */
/* The power_state module: a power off, reboot or halt that cloud-config requests, with cloud-init's
 * keys (mode, delay, message, timeout, condition). The module only checks and records the request,
 * because the change must wait until kiln has finished and reported: power_state_apply() runs
 * shutdown inside the root after the final report. */

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "power_state.h"
#include "report.h"

/* cloud-init's defaults: shut down at once, and wait 30 seconds. */
#define POWER_STATE_DELAY_DEFAULT "now"
#define POWER_STATE_TIMEOUT_DEFAULT_SEC 30
/* Maximum wait for the condition command that power_state.timeout accepts: one day. */
#define POWER_STATE_TIMEOUT_MAX_SEC (24U * 60U * 60U)
/* Maximum delay that power_state.delay accepts, in minutes: one year. */
#define POWER_STATE_DELAY_MAX_MIN (366U * 24U * 60U)
/* Exit code of the helper process when the condition command could not be started. */
#define CONDITION_START_FAILED 255

static const char *const power_state_modes[] = { "poweroff", "reboot", "halt", NULL };

/* shutdown's option for each mode of power_state_modes, as cloud-init's shutdown_options_map. */
static const char *mode_option(const char *mode) {
        if (streq(mode, "poweroff"))
                return "-P";
        if (streq(mode, "reboot"))
                return "-r";
        if (streq(mode, "halt"))
                return "-H";
        return NULL;
}

int power_state_argv(const char *shutdown_path, const char *mode, const char *delay, const char *message,
                     char ***ret) {
        const char *option = mode_option(mode);
        const char *parts[] = { shutdown_path, option, delay, message };
        size_t n = message && *message ? 4 : 3;
        char **argv;

        if (!option)
                return -EINVAL;

        argv = calloc(n + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                argv[i] = strdup(parts[i]);
                if (!argv[i])
                        return strv_free(argv), -ENOMEM;
        }
        *ret = argv;
        return 0;
}

/* Convert power_state.delay as cloud-init accepts it: "now", "+N" or "N" as text, or a number of
 * minutes N >= 0. Writes "now" or "+N" to buf. Returns 0 or -EINVAL. */
static int delay_parse(const json_t *v, char *buf, size_t size) {
        unsigned minutes;
        const char *s;

        if (!v || json_is_null(v)) {
                (void) snprintf(buf, size, "%s", POWER_STATE_DELAY_DEFAULT);
                return 0;
        }
        if (json_is_integer(v)) {
                if (json_integer_value(v) < 0 || json_integer_value(v) > POWER_STATE_DELAY_MAX_MIN)
                        return -EINVAL;
                (void) snprintf(buf, size, "+%u", (unsigned) json_integer_value(v));
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;

        s = json_string_value(v);
        if (streq(s, "now")) {
                (void) snprintf(buf, size, "now");
                return 0;
        }
        if (*s == '+')
                s++;
        if (*s < '0' || *s > '9' || safe_atou(s, &minutes) < 0 || minutes > POWER_STATE_DELAY_MAX_MIN)
                return -EINVAL;
        (void) snprintf(buf, size, "+%u", minutes);
        return 0;
}

/* Convert power_state.timeout: seconds, an integer or a real from 0 to POWER_STATE_TIMEOUT_MAX_SEC. */
static int timeout_parse(const json_t *v, double *ret) {
        double seconds;

        if (!v || json_is_null(v)) {
                *ret = POWER_STATE_TIMEOUT_DEFAULT_SEC;
                return 0;
        }
        if (!json_is_number(v))
                return -EINVAL;
        seconds = json_number_value(v);
        if (!(seconds >= 0 && seconds <= POWER_STATE_TIMEOUT_MAX_SEC))
                return -EINVAL;
        *ret = seconds;
        return 0;
}

/* Check power_state.condition: true, false, or a command as runcmd takes it. */
static int condition_check_value(const json_t *v, char **reterr_reason) {
        _cleanup_strv_free_ char **argv = NULL;

        if (!v || json_is_null(v) || json_is_boolean(v))
                return 0;
        if (!json_is_string(v) && !json_is_array(v)) {
                *reterr_reason = strdup("must be true, false, or a command as a string or a list");
                return *reterr_reason ? -EINVAL : -ENOMEM;
        }
        return command_argv_from_json(v, &argv, reterr_reason);
}

static int power_state_check_fields(Context *ctx, const json_t *ps, const char **ret_mode, char *delay,
                                    size_t delay_size, double *ret_timeout) {
        const json_t *mode = json_object_get(ps, "mode"), *message = json_object_get(ps, "message");
        _cleanup_free_ char *shown = NULL, *reason = NULL;
        int r;

        if (!mode)
                return report_error(ctx, -1, 0, "power_state.mode is missing: set it to poweroff, reboot or halt; "
                                    "no power change is made.");
        if (json_is_string(mode) && !mode_option(json_string_value(mode)))
                return report_error(ctx, -1, 0, "power_state.mode must be poweroff, reboot or halt, not '%.80s'; "
                                    "no power change is made.", json_string_value(mode));
        if (!json_is_string(mode)) {
                shown = json_to_message(mode, 80);
                return report_error(ctx, -1, 0, "power_state.mode must be poweroff, reboot or halt, not %s; "
                                    "no power change is made.", shown ?: "?");
        }
        if (delay_parse(json_object_get(ps, "delay"), delay, delay_size) < 0) {
                shown = json_to_message(json_object_get(ps, "delay"), 80);
                return report_error(ctx, -1, 0, "power_state.delay must be 'now', '+N' or a number of minutes "
                                    "up to %u, not %s; no power change is made.", POWER_STATE_DELAY_MAX_MIN,
                                    shown ?: "?");
        }
        if (message && !json_is_null(message) && !json_is_string(message)) {
                shown = json_to_message(message, 80);
                return report_error(ctx, -1, 0, "power_state.message must be a string, not %s; no power change "
                                    "is made.", shown ?: "?");
        }
        if (timeout_parse(json_object_get(ps, "timeout"), ret_timeout) < 0) {
                shown = json_to_message(json_object_get(ps, "timeout"), 80);
                return report_error(ctx, -1, 0, "power_state.timeout must be a number of seconds from 0 to %u, "
                                    "not %s; no power change is made.", POWER_STATE_TIMEOUT_MAX_SEC, shown ?: "?");
        }
        r = condition_check_value(json_object_get(ps, "condition"), &reason);
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to check power_state.condition: %m");
        if (r < 0)
                return report_error(ctx, -1, 0, "power_state.condition %s; no power change is made.",
                                    reason ?: "is invalid");

        *ret_mode = json_string_value(mode);
        return 0;
}

static int power_state_run(Context *ctx, const json_t *config) {
        const json_t *ps = json_object_get(config, "power_state"), *condition, *message;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *shown = NULL;
        json_auto_t *request = NULL, *argv_json = NULL;
        _cleanup_free_ char *shutdown = NULL;
        const char *mode = NULL;
        char delay[32];
        double timeout = 0;
        int r;

        if (!ps || json_is_null(ps))
                return 0;
        if (!json_is_object(ps)) {
                shown = json_to_message(ps, 80);
                return report_error(ctx, -1, 0, "power_state must be a mapping with mode, delay, message, timeout "
                                    "and condition, not %s; no power change is made.", shown ?: "?");
        }

        r = power_state_check_fields(ctx, ps, &mode, delay, sizeof(delay), &timeout);
        if (r < 0)
                return r;

        condition = json_object_get(ps, "condition");
        if (json_is_false(condition)) {
                log_info("power_state.condition is false, so the power change '%s' is not made.", mode);
                return 0;
        }

        r = exec_find_in_root(ctx->root_fd, "shutdown", &shutdown);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to look for shutdown in the target root: %m");
        if (r == 0)
                return report_error(ctx, -1, -ENOENT, "Failed to find shutdown in the target root, so power_state.mode "
                                    "'%s' cannot be applied: %m", mode);

        message = json_object_get(ps, "message");
        r = power_state_argv(shutdown, mode, delay, json_string_value(message), &argv);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to build the shutdown command: %m");

        argv_json = json_array();
        for (size_t i = 0; argv_json && argv[i]; i++)
                if (json_array_append_new(argv_json, json_string(argv[i])) < 0)
                        argv_json = (json_decref(argv_json), NULL);
        request = argv_json ? json_pack("{s:O, s:O, s:f}", "argv", argv_json,
                                        "condition", condition && !json_is_null(condition) ? condition : json_true(),
                                        "timeout", timeout) : NULL;
        if (!request)
                return report_error(ctx, -1, -ENOMEM, "Failed to record the power change: %m");

        json_decref(ctx->power_state);
        ctx->power_state = TAKE_PTR(request);
        log_info("Power change '%s' with delay '%s' requested; it is made after kiln has finished and reported.",
                 mode, delay);
        return 0;
}

/* Run the condition command inside the root in its own process group, so that all of it can be
 * killed when it outlives the timeout. Returns the exit code, CONDITION_START_FAILED when it could
 * not start, or -ETIMEDOUT. */
static int condition_run(Context *ctx, char *const argv[], double timeout, int output_fd) {
        _cleanup_free_ char *instance_env = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        int status = 0, n;
        pid_t pid;

        if (asprintf(&instance_env, "INSTANCE_ID=%s", ctx->instance ? ctx->instance->instance_id : "") < 0)
                return -ENOMEM;

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                char *const env[] = { instance_env, NULL };
                ExecResult result = {};

                (void) setpgid(0, 0);
                if (exec_in_root(ctx->root, argv, env, output_fd, &result) < 0)
                        _exit(CONDITION_START_FAILED);
                _exit(result.exit_code & 0xff);
        }
        (void) setpgid(pid, pid);

        pidfd = pidfd_open(pid, 0);
        if (pidfd >= 0) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };

                n = poll(&p, 1, (int) (timeout * 1000));
                if (n == 0) {
                        (void) kill(-pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        return -ETIMEDOUT;
                }
        }
        if (waitpid(pid, &status, 0) < 0)
                return negative_errno();
        return WIFEXITED(status) ? WEXITSTATUS(status) : CONDITION_START_FAILED;
}

/* Whether the request's condition holds, as cloud-init's check_condition() decides: true, or a
 * command that exits 0. Exit 1 means "not now"; any other outcome is logged as a warning. */
static bool condition_holds(Context *ctx, const json_t *condition, double timeout, int output_fd) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        if (json_is_boolean(condition))
                return json_is_true(condition);

        if (command_argv_from_json(condition, &argv, &reason) < 0) {
                log_error("power_state.condition %s; no power change is made.", reason ?: "is invalid");
                return false;
        }

        r = condition_run(ctx, argv, timeout, output_fd);
        if (r == 0) {
                log_info("power_state.condition exited 0, so the power change is made.");
                return true;
        }
        if (r == 1)
                log_info("power_state.condition exited 1, so no power change is made.");
        else if (r == -ETIMEDOUT)
                log_warning("power_state.condition did not finish within %.0f s, so it was killed and no power "
                            "change is made.", timeout);
        else if (r < 0)
                log_warning_errno(r, "Failed to run power_state.condition, so no power change is made: %m");
        else
                log_warning("power_state.condition exited %d, not 0 or 1, so no power change is made.", r);
        return false;
}

static int shutdown_run(Context *ctx, char *const argv[], int output_fd) {
        _cleanup_(exec_result_done) ExecResult result = {};
        int r;

        r = exec_in_root(ctx->root, argv, /* env= */ NULL, output_fd, &result);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to run '%s' for power_state: %m", argv[0]);
        if (result.exit_code != 0)
                return report_error(ctx, -1, -EIO, "Failed to change the power state: '%s' exited %d.", argv[0],
                                    result.exit_code);
        log_info("Ran '%s %s %s' for power_state.", argv[0], argv[1], argv[2]);
        return 0;
}

RunStatus power_state_apply(Context *ctx, RunStatus status) {
        const json_t *argv_json = json_object_get(ctx->power_state, "argv"), *item;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        size_t i;
        int r;

        if (!ctx->power_state)
                return status;

        ctx->current = "power_state";
        log_set_module("power_state");
        output_fd = command_output_open(ctx, "power_state");

        if (!condition_holds(ctx, json_object_get(ctx->power_state, "condition"),
                             json_number_value(json_object_get(ctx->power_state, "timeout")), output_fd)) {
                log_set_module(NULL);
                return status;
        }

        argv = calloc(json_array_size(argv_json) + 1, sizeof(char *));
        json_array_foreach(argv_json, i, item)
                if (argv && !(argv[i] = strdup(json_string_value(item))))
                        argv = strv_free(argv);
        r = argv ? shutdown_run(ctx, argv, output_fd) : report_error(ctx, -1, -ENOMEM,
                                                                    "Failed to change the power state: %m");
        log_set_module(NULL);
        if (r >= 0)
                return status;

        /* The report was final already: write it again with the error, so status.json and
         * result.json show that the power change failed. */
        return report_finish(ctx);
}

static const char *const power_state_config_keys[] = { "power_state", NULL };

static int delay_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char delay[32];

        if (delay_parse(v, delay, sizeof(delay)) >= 0)
                return 0;
        (void) snprintf(message, size, "must be 'now', '+N' or a number of minutes up to %u.",
                        POWER_STATE_DELAY_MAX_MIN);
        return -EINVAL;
}

static int timeout_check(const json_t *v, const char *source_text, char *message, size_t size) {
        double timeout = 0;

        if (timeout_parse(v, &timeout) >= 0)
                return 0;
        (void) snprintf(message, size, "must be a number of seconds from 0 to %u.", POWER_STATE_TIMEOUT_MAX_SEC);
        return -EINVAL;
}

static int condition_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = condition_check_value(v, &reason);
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s.", reason ?: "is invalid");
        return r;
}

static const KeyShape condition_argument = { .types = SHAPE_STRING | SHAPE_NUMBER };

static const KeyField power_state_subfields[] = {
        { .name = "mode", .required = true,
          .shape = { .types = SHAPE_STRING, .values = power_state_modes },
          .description = KEY_DESCRIPTION("poweroff, reboot or halt.") },
        { .name = "delay", .shape = { .types = SHAPE_STRING | SHAPE_INTEGER | SHAPE_NULL, .pattern = "^(now|\\+?[0-9]+)$",
                                      .check = delay_check },
          .description = KEY_DESCRIPTION("When to change the power state: 'now', or '+N' or N minutes "
                                         "after kiln has finished. Default: now.") },
        { .name = "message", .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("The message that shutdown sends to logged-in users.") },
        { .name = "timeout", .shape = { .types = SHAPE_NUMBER | SHAPE_NULL, .check = timeout_check },
          .description = KEY_DESCRIPTION("Seconds to wait for the condition command; when it takes "
                                         "longer, no change is made. Default: 30.") },
        { .name = "condition",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_STRING | SHAPE_LIST | SHAPE_NULL, .items = &condition_argument,
                     .check = condition_check },
          .description = KEY_DESCRIPTION("true, false, or a command (shell text or an argv list) that "
                                         "must exit 0 for the change to be made. Default: true.") },
        {}
};

static const KeyField power_state_fields[] = {
        { .name = "power_state", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = power_state_subfields },
          .description = KEY_DESCRIPTION("Power off, reboot or halt once kiln has finished and written "
                                         "its report, as cloud-init's power_state_change module does.") },
        {}
};

const AgentModule module_power_state = {
        .name = "power_state",
        .config_keys = power_state_config_keys,
        .config_fields = power_state_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = power_state_run,
};
