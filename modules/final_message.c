/* SPDX-License-Identifier: Apache-2.0 */
/* The final_message module: at the end of every boot it logs a message with the uptime, the time,
 * the datasource and kiln's version, rendered as cloud-init's final_message module renders it, and
 * writes the boot-finished file of the instance. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "build-config.h"
#include "final_message.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/string-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "userdata/jinja.h"

/* Written at every boot; its content names the uptime, the time and kiln's version. The instance
 * link points to the current instance's directory, so each instance keeps its own file. */
#define BOOT_FINISHED_FILE "/" KILN_STATE_DIR "/instance/boot-finished"
/* The kernel's uptime; it is read on the host even with --root, because the boot being timed is
 * the running kernel's. */
#define PROC_UPTIME "/proc/uptime"
/* /proc/uptime contains two numbers on one line. */
#define PROC_UPTIME_MAX 256U

/* The message when final_message is not set: the facts of cloud-init's default message, in kiln's
 * words. */
#define FINAL_MESSAGE_DEFAULT \
        "kiln ${version} finished at ${timestamp}. Datasource ${datasource}. Up ${uptime} seconds"

/* The characters of a variable name in a basic template, as cloud-init's BASIC_MATCHER has them. */
#define BASIC_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_."

static const char *const day_names[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const month_names[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

int final_message_format_timestamp(time_t t, char *buf, size_t size) {
        struct tm tm;
        int n;

        if (!gmtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
                return -EINVAL;

        n = snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", day_names[tm.tm_wday], tm.tm_mday,
                     month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static int uptime_from_clock(char *buf, size_t size) {
        struct timespec ts;
        int n;

        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return negative_errno();
        n = snprintf(buf, size, "%.2f", (double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

int final_message_read_uptime(const char *proc_uptime, char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[PROC_UPTIME_MAX];
        double seconds;
        char *end;
        int n;

        f = fopen(proc_uptime, "re");
        if (!f || !fgets(line, sizeof(line), f))
                return uptime_from_clock(buf, size);

        errno = 0;
        seconds = strtod(line, &end);
        if (errno != 0 || end == line || !strchr(" \n", *end) || seconds < 0)
                return uptime_from_clock(buf, size);

        n = snprintf(buf, size, "%.2f", seconds);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static const char *fact_lookup(const FinalMessageFacts *facts, const char *name, size_t len) {
        const struct {
                const char *name;
                const char *value;
        } table[] = {
                { "uptime", facts->uptime },
                { "timestamp", facts->timestamp },
                { "datasource", facts->datasource },
                { "version", facts->version },
        };

        /* cloud-init offers each fact under its lower-case and its upper-case name, not mixed. */
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                bool upper = true, lower = true;

                if (strlen(table[i].name) != len || strncasecmp(table[i].name, name, len) != 0)
                        continue;
                for (size_t k = 0; k < len; k++) {
                        upper = upper && isupper((unsigned char) name[k]);
                        lower = lower && islower((unsigned char) name[k]);
                }
                if (upper || lower)
                        return table[i].value;
        }
        return NULL;
}

/* Find the variable at s, which starts with '$': ${name} or $name. Returns the length of the
 * whole reference, 0 when s starts none, and the name in *ret_name and *ret_len. */
static size_t basic_reference(const char *s, const char **ret_name, size_t *ret_len) {
        size_t len;

        if (s[1] == '{') {
                len = strspn(s + 2, BASIC_NAME_CHARS);
                if (len == 0 || s[2 + len] != '}')
                        return 0;
                *ret_name = s + 2;
                *ret_len = len;
                return len + 3;
        }

        /* NOTE: cloud-init takes a dot after $name as part of the name, so "Up $UPTIME." fails to
         * render there. Here a trailing dot ends the sentence instead; dots inside a name still
         * make it unknown. */
        len = strspn(s + 1, BASIC_NAME_CHARS);
        while (len > 0 && s[len] == '.')
                len--;
        if (len == 0)
                return 0;
        *ret_name = s + 1;
        *ret_len = len;
        return len + 1;
}

static int basic_render(const char *template, const FinalMessageFacts *facts, char **ret, json_t *unknown) {
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        for (const char *p = template; *p;) {
                const char *name = NULL, *value;
                size_t name_len = 0, len;

                len = *p == '$' ? basic_reference(p, &name, &name_len) : 0;
                if (len == 0) {
                        (void) fputc(*p++, f);
                        continue;
                }
                value = fact_lookup(facts, name, name_len);
                if (value)
                        (void) fputs(value, f);
                else {
                        (void) fwrite(p, 1, len, f);
                        if (unknown && json_array_append_new(unknown, json_sprintf("unknown variable '%.*s'",
                                                                                   (int) name_len, name)) < 0)
                                return -ENOMEM;
                }
                p += len;
        }

        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(text);
        return 0;
}

static json_t *facts_to_vars(const FinalMessageFacts *facts) {
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                         "uptime", facts->uptime, "UPTIME", facts->uptime,
                         "timestamp", facts->timestamp, "TIMESTAMP", facts->timestamp,
                         "datasource", facts->datasource, "DATASOURCE", facts->datasource,
                         "version", facts->version, "VERSION", facts->version);
}

static int jinja_render_message(const char *template, const FinalMessageFacts *facts, char **ret,
                                json_t *unknown, char **reterr_message) {
        json_auto_t *vars = facts_to_vars(facts), *warnings = NULL;
        JinjaError err = {};
        size_t size;
        const json_t *w;
        size_t i;
        int r;

        if (!vars)
                return -ENOMEM;

        r = jinja_render(template, strlen(template), vars, ret, &size, &warnings, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_message(reterr_message, r, "line %u of the Jinja template: %s", err.line + 1,
                                   err.message);

        json_array_foreach(warnings, i, w)
                if (unknown && json_array_append(unknown, json_object_get(w, "message")) < 0)
                        return -ENOMEM;
        return 0;
}

/* The template type that the header line names, as cloud-init's detect_template() reads it:
 * "##", blanks, "template:" (any case) and the type. */
static int template_header(const char *line, size_t len, char **ret_type) {
        const char *p = line, *end = line + len;
        char *type;

        if (len < 2 || !strneq(p, "##", 2))
                return 0;
        p += 2;
        while (p < end && isspace((unsigned char) *p))
                p++;
        if ((size_t) (end - p) < strlen("template:") || strncasecmp(p, "template:", strlen("template:")) != 0)
                return 0;
        p += strlen("template:");

        while (p < end && isspace((unsigned char) *p))
                p++;
        while (end > p && isspace((unsigned char) end[-1]))
                end--;
        type = strndup(p, (size_t) (end - p));
        if (!type)
                return -ENOMEM;
        for (char *c = type; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        *ret_type = type;
        return 1;
}

int final_message_render(const char *template, const FinalMessageFacts *facts, char **ret,
                         json_t **ret_unknown, char **reterr_message) {
        json_auto_t *unknown = json_array();
        _cleanup_free_ char *type = NULL;
        const char *newline = strchr(template, '\n');
        const char *rest = newline ? newline + 1 : "";
        int r;

        if (!unknown)
                return -ENOMEM;

        r = template_header(template, newline ? (size_t) (newline - template) : strlen(template), &type);
        if (r < 0)
                return r;
        if (r == 0)
                r = basic_render(template, facts, ret, unknown);
        else if (streq(type, "basic"))
                r = basic_render(rest, facts, ret, unknown);
        else if (streq(type, "jinja"))
                r = jinja_render_message(rest, facts, ret, unknown, reterr_message);
        else
                return set_message(reterr_message, -EINVAL,
                                   "unknown template type '%s' in its first line, expected 'jinja' or 'basic'",
                                   type);
        if (r < 0)
                return r;

        if (ret_unknown)
                *ret_unknown = TAKE_PTR(unknown);
        return 0;
}

/* Log the message one line at a time, so that each line of the console and the journal is whole. */
static void log_message(const char *message) {
        size_t len = strlen(message);

        while (len > 0 && message[len - 1] == '\n')
                len--;
        for (size_t start = 0; start < len;) {
                size_t n = MIN(strcspn(message + start, "\n"), len - start);

                log_info("%.*s", (int) n, message + start);
                start += n + 1;
        }
}

static const char *final_message_template(Context *ctx, const json_t *config) {
        const json_t *v = json_object_get(config, "final_message");
        _cleanup_free_ char *shown = NULL;

        if (!v || json_is_null(v))
                return FINAL_MESSAGE_DEFAULT;
        if (json_is_string(v))
                return json_string_value(v);

        shown = json_to_message(v, 80);
        (void) report_error(ctx, -1, 0, "final_message must be a string, not %s; the default message is "
                            "shown instead.", shown ?: "a value of another type");
        return FINAL_MESSAGE_DEFAULT;
}

static int boot_finished_write(Context *ctx, const FinalMessageFacts *facts) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (asprintf(&text, "%s - %s - kiln %s\n", facts->uptime, facts->timestamp, facts->version) < 0) {
                text = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to write %s: %m", BOOT_FINISHED_FILE);
        }

        r = write_file_atomic(ctx->root_fd, BOOT_FINISHED_FILE, text, strlen(text), 0644, (uid_t) -1,
                              (gid_t) -1, WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write %s: %m", BOOT_FINISHED_FILE);
        log_debug("Wrote %s.", BOOT_FINISHED_FILE);
        return 0;
}

static int final_message_run(Context *ctx, const json_t *config) {
        char uptime[FINAL_MESSAGE_FACT_MAX] = "", timestamp[FINAL_MESSAGE_FACT_MAX] = "";
        _cleanup_free_ char *message = NULL, *reason = NULL;
        json_auto_t *unknown = NULL;
        size_t errors_before = json_array_size(ctx->errors);
        FinalMessageFacts facts;
        const json_t *w;
        size_t i;
        int r;

        r = final_message_read_uptime(PROC_UPTIME, uptime, sizeof(uptime));
        if (r < 0)
                log_warning_errno(r, "Failed to read the uptime, ignoring: %m");
        r = final_message_format_timestamp(time(NULL), timestamp, sizeof(timestamp));
        if (r < 0)
                log_warning_errno(r, "Failed to format the current time, ignoring: %m");
        facts = (FinalMessageFacts) {
                .uptime = uptime,
                .timestamp = timestamp,
                .datasource = ctx->instance && ctx->instance->datasource ? ctx->instance->datasource : "none",
                .version = KILN_VERSION,
        };

        r = final_message_render(final_message_template(ctx, config), &facts, &message, &unknown, &reason);
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to render final_message: %m");
        if (r < 0)
                (void) report_error(ctx, -1, r, "Failed to render final_message: %s; no message is shown.",
                                    reason ?: "invalid template");
        json_array_foreach(unknown, i, w)
                report_warning(ctx, -1, "final_message: %s, which is shown as written.", json_string_value(w));
        if (message)
                log_message(message);

        r = boot_finished_write(ctx, &facts);
        if (r < 0)
                return r;
        /* Writing boot-finished at every boot is this module's purpose, not a change of the system. */
        return json_array_size(ctx->errors) > errors_before ? -EINVAL : 0;
}

static const char *const final_message_config_keys[] = { "final_message", NULL };

static const KeyField final_message_fields[] = {
        { .name = "final_message", .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("The message logged at the end of every boot. $uptime, "
                                         "$timestamp, $datasource and $version (or ${UPTIME} and so on) "
                                         "are replaced, and a first line '## template: jinja' makes it "
                                         "a Jinja template with the same names. Default: kiln's "
                                         "version, the time, the datasource and the uptime.") },
        {}
};

const AgentModule module_final_message = {
        .name = "final_message",
        .config_keys = final_message_config_keys,
        .config_fields = final_message_fields,
        .always_run = true,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = final_message_run,
};
