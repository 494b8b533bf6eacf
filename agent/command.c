/* SPDX-License-Identifier: Apache-2.0 */
/* Running the commands of runcmd, bootcmd and user scripts, and reading cloud-config command
 * items the way cloud-init reads them. */

#include <assert.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "log.h"
#include "report.h"

#define OUTPUT_LOG_DIR "var/log"
#define OUTPUT_LOG_MODE 0640

/* Python's repr() of a float needs at most 17 significant digits to read back exactly. */
#define PYTHON_FLOAT_DIGITS_MAX 17

int command_output_open(Context *ctx, const char *owner) {
        int fd, r;

        r = root_mkdir_p(ctx->root_fd, OUTPUT_LOG_DIR, 0755, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = fd = root_open(ctx->root_fd, KILN_OUTPUT_LOG,
                                   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, OUTPUT_LOG_MODE);
        if (r < 0) {
                report_warning(ctx, /* item= */ -1,
                               "Failed to open '/%s' (%s), the output of %s is discarded, ignoring.",
                               KILN_OUTPUT_LOG, strerror(-r), owner);
                return -EBADF;
        }
        return fd;
}

/* Length of the valid UTF-8 sequence at s (size bytes left), 0 when it is not valid UTF-8. */
static size_t utf8_sequence_length(const unsigned char *s, size_t size) {
        unsigned char low = 0x80, high = 0xBF;
        size_t length;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                length = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF)
                length = 3;
        else if (s[0] >= 0xF0 && s[0] <= 0xF4)
                length = 4;
        else
                return 0;

        /* Overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid. */
        if (s[0] == 0xE0)
                low = 0xA0;
        else if (s[0] == 0xED)
                high = 0x9F;
        else if (s[0] == 0xF0)
                low = 0x90;
        else if (s[0] == 0xF4)
                high = 0x8F;

        if (size < length || s[1] < low || s[1] > high)
                return 0;
        for (size_t i = 2; i < length; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return length;
}

/* Whether the stderr line (size bytes) is a warning: "Warning: ...", "W: ..." (apt), or either
 * after the program's name ("useradd: Warning: missing or non-executable shell '/bin/zsh'"). */
static bool stderr_line_is_warning(const char *line, size_t size) {
        const char *colon = memchr(line, ':', size);

        for (int pass = 0; pass < 2; pass++) {
                if ((size >= 7 && strncasecmp(line, "warning", 7) == 0) || (size >= 2 && strneq(line, "W:", 2)))
                        return true;
                if (!colon || colon[1] != ' ')
                        return false;
                size -= (size_t) (colon + 2 - line);
                line = colon + 2;
                colon = NULL;
        }
        return false;
}

/* The stderr line that explains a failure: the first non-empty line that is not a warning, or the
 * first non-empty line when all are warnings. A command such as useradd warns about a missing
 * shell before it prints the error that made it fail. Returns the line's start and its length. */
static const char *stderr_reason_line(const char *text, size_t *ret_size) {
        const char *first = NULL;
        size_t first_size = 0;

        for (const char *line = text; *line;) {
                size_t size = strcspn(line, "\n");

                if (strspn(line, " \t\r") < size) {
                        if (!stderr_line_is_warning(line, size)) {
                                *ret_size = size;
                                return line;
                        }
                        if (!first) {
                                first = line;
                                first_size = size;
                        }
                }
                line += size;
                if (*line)
                        line++;
        }

        *ret_size = first_size;
        return first ?: text;
}

/* The stderr line that explains a failure (see stderr_reason_line()), fit for a log line and a
 * JSON report: control characters and bytes that are not UTF-8 become '?', trailing blanks and a
 * CR are dropped. Caller owns the result. */
static char *stderr_reason(const char *text) {
        size_t size, n = 0;
        const unsigned char *s = (const unsigned char *) stderr_reason_line(text, &size);
        char *line;

        while (size > 0 && (s[size - 1] == ' ' || s[size - 1] == '\t' || s[size - 1] == '\r'))
                size--;

        line = malloc(size + 1);
        if (!line)
                return NULL;

        for (size_t i = 0; i < size;) {
                size_t length = utf8_sequence_length(s + i, size - i);

                if (length == 0 || (length == 1 && (s[i] < 0x20 || s[i] == 0x7F) && s[i] != '\t')) {
                        line[n++] = '?';
                        i++;
                        continue;
                }
                memcpy(line + n, s + i, length);
                n += length;
                i += length;
        }

        line[n] = '\0';
        return line;
}

int command_run(Context *ctx, const char *name, int item, char *const argv[], int output_fd) {
        return command_run_with_stdin(ctx, name, item, argv, /* input_fd= */ -EBADF, output_fd);
}

int command_run_with_stdin(Context *ctx, const char *name, int item, char *const argv[], int input_fd,
                           int output_fd) {
        return command_run_limited(ctx, name, item, argv, /* extra_env= */ NULL, input_fd, output_fd,
                                   /* timeout_usec= */ 0);
}

/* The command's environment: INSTANCE_ID when the instance is known, then extra_env. The array is
 * the caller's, its strings are borrowed except *ret_instance_env, which the caller owns too. */
static int command_env(const Context *ctx, char *const extra_env[], char ***ret_env, char **ret_instance_env) {
        _cleanup_free_ char *instance_env = NULL;
        size_t n_extra = 0, n = 0;
        char **env;

        while (extra_env && extra_env[n_extra])
                n_extra++;

        /* cloud-init sets INSTANCE_ID for bootcmd commands; kiln sets it for every command alike. */
        if (ctx->instance && ctx->instance->instance_id &&
            asprintf(&instance_env, "INSTANCE_ID=%s", ctx->instance->instance_id) < 0)
                return -ENOMEM;

        env = calloc(n_extra + 2, sizeof(char *));
        if (!env)
                return -ENOMEM;
        if (instance_env)
                env[n++] = instance_env;
        for (size_t i = 0; i < n_extra; i++)
                env[n++] = extra_env[i];

        *ret_env = env;
        *ret_instance_env = TAKE_PTR(instance_env);
        return 0;
}

/* Run the command with its output going through a relay to output_fd and the journal (see
 * log_relay_start()), or discarded when output_fd is negative. */
static int command_exec(Context *ctx, const char *name, char *const argv[], char *const env[], int input_fd,
                        int output_fd, const ExecLimits *limits, ExecResult *ret) {
        LogRelay relay = { .write_fd = -EBADF, .control_fd = -EBADF };
        int r;

        if (output_fd < 0)
                return exec_in_root_limited(ctx->root, argv, env, input_fd, output_fd, limits, ret);

        r = log_relay_start(name, output_fd, &relay);
        if (r < 0)
                return r;
        r = exec_in_root_limited(ctx->root, argv, env, input_fd, relay.write_fd, limits, ret);
        (void) log_relay_finish(&relay, COMMAND_OUTPUT_DRAIN_USEC);
        return r;
}

int command_run_limited(Context *ctx, const char *name, int item, char *const argv[], char *const extra_env[],
                        int input_fd, int output_fd, usec_t timeout_usec) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_free_ char *instance_env = NULL, *reason = NULL;
        _cleanup_free_ char **env = NULL;
        const ExecLimits limits = { .timeout_usec = timeout_usec, .kill_grace_usec = COMMAND_KILL_GRACE_USEC };
        char how[64];
        int r;

        assert(ctx);
        assert(name);
        assert(argv);
        assert(argv[0]);

        r = command_env(ctx, extra_env, &env, &instance_env);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to run %s: %m", name);

        r = command_exec(ctx, name, argv, env, input_fd, output_fd, &limits, &result);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to run %s: %m", name);

        if (result.timed_out)
                return report_error(ctx, item, -ETIME, "%s did not finish within %llu s and was stopped.", name,
                                    (unsigned long long) (timeout_usec / USEC_PER_SEC));

        if (result.exit_code == 0) {
                log_info("%s exited with 0 after %llu ms.", name,
                         (unsigned long long) (result.duration_usec / USEC_PER_MSEC));
                return 0;
        }

        exec_result_format_termination(&result, how, sizeof(how));
        reason = stderr_reason(result.stderr_head ?: "");
        if (!reason)
                return report_error(ctx, item, -ENOMEM, "%s %s.", name, how);

        if (reason[0] == '\0')
                (void) report_error(ctx, item, 0, "%s %s.", name, how);
        else
                (void) report_error(ctx, item, 0, "%s %s: %s", name, how, reason);
        return -EIO;
}

/* Write v as Python's repr() writes a float, which str() also does since Python 3.2. It uses the
 * fewest digits that read back as v. The notation is positional when the decimal exponent is
 * from -4 to 15, and scientific with an exponent of at least two digits otherwise ("1e+16",
 * "1e-05"). Returns 0 or -ENOMEM. */
static int format_python_float(double v, char **ret) {
        char scientific[40], digits[PYTHON_FLOAT_DIGITS_MAX + 1], out[64];
        size_t n_digits = 0, n = 0;
        const char *p;
        int exponent, point;
        bool negative;

        if (isnan(v))
                p = "nan";
        else if (isinf(v))
                p = v < 0 ? "-inf" : "inf";
        else if (v == 0)
                p = signbit(v) ? "-0.0" : "0.0";
        else
                p = NULL;
        if (p) {
                *ret = strdup(p);
                return *ret ? 0 : -ENOMEM;
        }

        for (int precision = 1; precision <= PYTHON_FLOAT_DIGITS_MAX; precision++) {
                (void) snprintf(scientific, sizeof(scientific), "%.*e", precision - 1, v);
                if (strtod(scientific, NULL) == v)
                        break;
        }

        /* scientific is "[-]d[.ddd]e(+|-)dd". */
        p = scientific;
        negative = *p == '-';
        if (negative)
                p++;
        for (; *p != 'e'; p++)
                if (*p != '.')
                        digits[n_digits++] = *p;
        exponent = (int) strtol(p + 1, NULL, 10);
        while (n_digits > 1 && digits[n_digits - 1] == '0')
                n_digits--;

        /* The decimal point sits after the first point digits. */
        point = exponent + 1;
        if (negative)
                out[n++] = '-';

        if (point > -4 && point <= 16) {
                if (point <= 0) {
                        out[n++] = '0';
                        out[n++] = '.';
                        for (int i = point; i < 0; i++)
                                out[n++] = '0';
                        memcpy(out + n, digits, n_digits);
                        n += n_digits;
                } else {
                        for (int i = 0; i < MAX(point, (int) n_digits); i++) {
                                if (i == point)
                                        out[n++] = '.';
                                out[n++] = i < (int) n_digits ? digits[i] : '0';
                        }
                        if (point >= (int) n_digits) {
                                out[n++] = '.';
                                out[n++] = '0';
                        }
                }
                out[n] = '\0';
        } else {
                out[n++] = digits[0];
                if (n_digits > 1) {
                        out[n++] = '.';
                        memcpy(out + n, digits + 1, n_digits - 1);
                        n += n_digits - 1;
                }
                (void) snprintf(out + n, sizeof(out) - n, "e%c%02d", exponent < 0 ? '-' : '+',
                                abs(exponent));
        }

        *ret = strdup(out);
        return *ret ? 0 : -ENOMEM;
}

/* Show a rejected value as compact JSON, shortened to COMMAND_SHOWN_VALUE_MAX bytes. */
static char *format_shown_value(const json_t *v) {
        char *text;
        size_t size;

        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (!text)
                return NULL;

        size = strlen(text);
        if (size > COMMAND_SHOWN_VALUE_MAX) {
                size = COMMAND_SHOWN_VALUE_MAX - 3;
                /* Never cut a UTF-8 sequence in half. */
                while (size > 0 && ((unsigned char) text[size] & 0xC0) == 0x80)
                        size--;
                memcpy(text + size, "...", 4);
        }
        return text;
}

static bool string_has_nul(const json_t *s) {
        return strlen(json_string_value(s)) != json_string_length(s);
}

/* Explain why element index of a command list cannot be an argument. Caller owns the result. */
static char *describe_invalid_element(const json_t *e, size_t index) {
        _cleanup_free_ char *value_text = NULL;
        char *reason = NULL;
        int r = -1;

        switch (json_typeof(e)) {
        case JSON_OBJECT:
                value_text = format_shown_value(e);
                if (!value_text)
                        return NULL;
                r = asprintf(&reason,
                             "has a mapping as element [%zu]: %s. An unquoted ': ' turns an element "
                             "into a mapping, so quote it.", index, value_text);
                break;
        case JSON_ARRAY:
                r = asprintf(&reason,
                             "has a list as element [%zu], but the elements of a command list must be "
                             "strings or numbers.", index);
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                r = asprintf(&reason, "has the YAML boolean %s as element [%zu]. Quote it, as in \"%s\".",
                             json_is_true(e) ? "true" : "false", index,
                             json_is_true(e) ? "true" : "false");
                break;
        case JSON_NULL:
                r = asprintf(&reason, "has null as element [%zu]. Write \"\" for an empty argument.",
                             index);
                break;
        case JSON_STRING:
                r = asprintf(&reason, "has a NUL byte in element [%zu], which no command can receive.",
                             index);
                break;
        case JSON_INTEGER:
        case JSON_REAL:
                /* Valid elements never get here. */
                break;
        }

        return r < 0 ? NULL : reason;
}

/* Explain why a whole item is not a command. Caller owns the result. */
static char *describe_invalid_item(const json_t *item) {
        _cleanup_free_ char *value_text = NULL;
        char *reason = NULL;
        int r = -1;

        switch (json_typeof(item)) {
        case JSON_OBJECT:
                value_text = format_shown_value(item);
                if (!value_text)
                        return NULL;
                r = asprintf(&reason,
                             "is a mapping, not a command: %s. An unquoted ': ' turns an item into a "
                             "mapping, so quote the whole command.", value_text);
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                r = asprintf(&reason,
                             "is the YAML boolean %s, not a command. Unquoted true, false, yes, no, on "
                             "and off are booleans, so quote the command, as in - \"%s\".",
                             json_is_true(item) ? "true" : "false", json_is_true(item) ? "true" : "false");
                break;
        case JSON_NULL:
                r = asprintf(&reason,
                             "is null, not a command. An empty item, or one holding only a comment, is "
                             "null, so remove it or quote the command.");
                break;
        case JSON_INTEGER:
        case JSON_REAL:
                value_text = format_shown_value(item);
                if (!value_text)
                        return NULL;
                r = asprintf(&reason, "is the number %s, not a command. Quote it to run it as a command.",
                             value_text);
                break;
        case JSON_ARRAY:
                r = asprintf(&reason, "is an empty list, which names no command.");
                break;
        case JSON_STRING:
                r = asprintf(&reason, "contains a NUL byte, which no command can receive.");
                break;
        }

        return r < 0 ? NULL : reason;
}

/* Convert one element of a command list. Returns 0, -EINVAL when it cannot be an argument,
 * -ENOMEM. */
static int argument_from_json(const json_t *e, char **ret) {
        switch (json_typeof(e)) {
        case JSON_STRING:
                if (string_has_nul(e))
                        return -EINVAL;
                *ret = strdup(json_string_value(e));
                return *ret ? 0 : -ENOMEM;
        case JSON_INTEGER:
                if (asprintf(ret, "%" JSON_INTEGER_FORMAT, json_integer_value(e)) < 0) {
                        *ret = NULL;
                        return -ENOMEM;
                }
                return 0;
        case JSON_REAL:
                return format_python_float(json_real_value(e), ret);
        case JSON_OBJECT:
        case JSON_ARRAY:
        case JSON_TRUE:
        case JSON_FALSE:
        case JSON_NULL:
                return -EINVAL;
        }
        return -EINVAL;
}

static int argv_from_list(const json_t *list, char ***ret_argv, char **reterr_reason) {
        _cleanup_strv_free_ char **argv = NULL;
        size_t n = json_array_size(list);
        int r;

        if (n == 0) {
                *reterr_reason = describe_invalid_item(list);
                return *reterr_reason ? -EINVAL : -ENOMEM;
        }

        /* exec() of an empty name fails with a confusing "Permission denied", so the reason names the problem. */
        if (json_is_string(json_array_get(list, 0)) && json_string_length(json_array_get(list, 0)) == 0) {
                *reterr_reason = strdup("has an empty string as element [0], which names no command. "
                                        "Put the command's name or path first.");
                return *reterr_reason ? -EINVAL : -ENOMEM;
        }

        argv = calloc(n + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(list, i);

                r = argument_from_json(e, &argv[i]);
                if (r == -EINVAL) {
                        *reterr_reason = describe_invalid_element(e, i);
                        return *reterr_reason ? -EINVAL : -ENOMEM;
                }
                if (r < 0)
                        return r;
        }

        *ret_argv = TAKE_PTR(argv);
        return 0;
}

static int argv_from_shell_text(const json_t *text, char ***ret_argv, char **reterr_reason) {
        _cleanup_strv_free_ char **argv = NULL;

        if (string_has_nul(text)) {
                *reterr_reason = describe_invalid_item(text);
                return *reterr_reason ? -EINVAL : -ENOMEM;
        }

        argv = calloc(4, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[0] = strdup("/bin/sh");
        argv[1] = strdup("-c");
        argv[2] = strdup(json_string_value(text));
        if (!argv[0] || !argv[1] || !argv[2])
                return -ENOMEM;

        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int command_argv_from_json(const json_t *item, char ***ret_argv, char **reterr_reason) {
        assert(item);
        assert(ret_argv);
        assert(reterr_reason);

        if (json_is_string(item))
                return argv_from_shell_text(item, ret_argv, reterr_reason);
        if (json_is_array(item))
                return argv_from_list(item, ret_argv, reterr_reason);

        *reterr_reason = describe_invalid_item(item);
        return *reterr_reason ? -EINVAL : -ENOMEM;
}

/* The argvs of every item of a command list, in order. */
typedef struct CommandList {
        char ***argvs;
        size_t n;
} CommandList;

static void command_list_done(CommandList *l) {
        for (size_t i = 0; i < l->n; i++)
                strv_free(l->argvs[i]);
        free(l->argvs);
        *l = (CommandList) {};
}

static const char *json_type_name(const json_t *v) {
        /* No default case: the compiler warns when a JSON type is missing. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "mapping";
        case JSON_ARRAY:
                return "list";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "value";
}

/* " at line N" for the node at path, or "" when its line is unknown. */
static void format_line_suffix(const Context *ctx, const char *path, char *buf, size_t size) {
        unsigned line = config_line(ctx, path);

        if (line > 0)
                (void) snprintf(buf, size, " at line %u", line);
        else
                buf[0] = '\0';
}

/* Convert every item of list, reporting each invalid one. Nothing is converted unless all are
 * valid, because a later command may depend on an earlier one. Returns 0, -EINVAL, -ENOMEM. */
static int command_list_parse(Context *ctx, const char *key, const json_t *list, CommandList *ret) {
        _cleanup_(command_list_done) CommandList l = {};
        size_t n = json_array_size(list);
        int r = 0;

        l.argvs = calloc(n, sizeof(char **));
        if (!l.argvs)
                return report_error(ctx, /* item= */ -1, -ENOMEM, "Failed to parse %s: %m", key);
        l.n = n;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *reason = NULL;
                char path[128], at_line[32];
                int k;

                (void) snprintf(path, sizeof(path), "/%s/%zu", key, i);
                format_line_suffix(ctx, path, at_line, sizeof(at_line));

                /* cloud-init skips a null item (an empty "- " or one containing only a comment), so
                 * kiln runs the rest too, with a warning. */
                if (json_is_null(json_array_get(list, i))) {
                        report_warning(ctx, (int) i, "%s[%zu]%s is empty (null), skipping it.", key, i, at_line);
                        continue;
                }
                k = command_argv_from_json(json_array_get(list, i), &l.argvs[i], &reason);
                if (k == -ENOMEM)
                        return report_error(ctx, (int) i, k, "Failed to parse %s[%zu]: %m", key, i);
                if (k < 0)
                        r = report_error(ctx, (int) i, 0, "%s[%zu]%s %s", key, i, at_line, reason);
        }
        if (r < 0)
                return r;

        *ret = l;
        l = (CommandList) {};
        return 0;
}

int command_list_run(Context *ctx, const json_t *config, const char *key) {
        _cleanup_(command_list_done) CommandList commands = {};
        _cleanup_close_ int output_fd = -EBADF;
        const json_t *list;
        char path[128], at_line[32];
        int r = 0;

        assert(ctx);
        assert(key);

        list = json_object_get(config, key);
        if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0)) {
                log_debug("%s is empty, nothing to run.", key);
                return 0;
        }

        if (!json_is_array(list)) {
                (void) snprintf(path, sizeof(path), "/%s", key);
                format_line_suffix(ctx, path, at_line, sizeof(at_line));
                return report_error(ctx, /* item= */ -1, 0,
                                    "%s%s must be a list of commands, not a %s. Write each command as a "
                                    "list item, '- command'.", key, at_line, json_type_name(list));
        }

        r = command_list_parse(ctx, key, list, &commands);
        if (r < 0)
                return r;

        output_fd = command_output_open(ctx, key);

        for (size_t i = 0; i < commands.n; i++) {
                char name[128];
                int k;

                if (!commands.argvs[i])
                        continue;
                (void) snprintf(name, sizeof(name), "%s[%zu]", key, i);
                k = command_run(ctx, name, (int) i, commands.argvs[i], output_fd);
                if (k < 0 && r == 0)
                        r = k;
        }

        return r < 0 ? r : 1;
}

/* The item rules of command_list_run(): null is skipped with a warning, and anything that
 * command_argv_from_json() rejects stops the whole list. */
static int command_item_check(const json_t *item, const char *source_text, char *message, size_t size) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        int r;

        if (json_is_null(item)) {
                (void) snprintf(message, size, "is empty (null), skipping it.");
                return SHAPE_CHECK_WARNING;
        }
        r = command_argv_from_json(item, &argv, &reason);
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s", reason);
        return r;
}

static const KeyShape command_argument_shape = { .types = SHAPE_STRING | SHAPE_NUMBER };

const KeyShape command_item_shape = {
        .types = SHAPE_STRING | SHAPE_LIST | SHAPE_NULL,
        .items = &command_argument_shape,
        .check = command_item_check,
};
