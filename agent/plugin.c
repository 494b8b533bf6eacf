/* SPDX-License-Identifier: Apache-2.0 */
/* Exec plugins: finding the executables in ROOT/usr/lib/kiln/modules.d, asking each what it is,
 * rejecting the ones that clash with kiln, and running them with their input on stdin. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/string-util.h"
#include "log.h"
#include "plugin.h"
#include "report.h"
#include "schema.h"

/* Longest top-level key a plugin may claim. */
#define PLUGIN_KEY_MAX 128

/* Time between SIGTERM and SIGKILL for a describe that ran out of time. */
#define PLUGIN_DESCRIBE_GRACE_USEC (1 * USEC_PER_SEC)

/* Names under which kiln itself records diagnostics in the report; no plugin may take them. */
static const char *const reserved_names[] = { "config", "datasource", "kiln", "plugins", "state", "userdata", NULL };

/* Members of the describe object. */
static const char *const description_members[] = {
        "protocol", "name", "keys", "frequency", "after", "timeout", "description", NULL,
};

void plugin_done(Plugin *p) {
        if (!p)
                return;
        free(p->path);
        free(p->name);
        strv_free(p->keys);
        strv_free(p->after);
        free(p->description);
        *p = (Plugin) {};
}

void plugin_set_done(PluginSet *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                plugin_done(&s->plugins[i]);
        free(s->plugins);
        *s = (PluginSet) {};
}

static bool name_in(const char *name, const char *const *list) {
        for (const char *const *n = list; n && *n; n++)
                if (streq(*n, name))
                        return true;
        return false;
}

/* Whether s is non-empty, at most max bytes, and made only of the characters of allowed. */
static bool word_valid(const char *s, size_t max, const char *allowed) {
        size_t n = strlen(s);

        return n > 0 && n <= max && strspn(s, allowed) == n;
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define KEY_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* Read member (a list of strings, each of the characters of allowed) into *ret; a missing member
 * gives an empty list. */
static int parse_word_list(const json_t *object, const char *member, size_t max_items, const char *allowed,
                           size_t max_length, char ***ret, char **reterr_reason) {
        const json_t *list = json_object_get(object, member), *item;
        _cleanup_strv_free_ char **words = NULL;
        size_t i;

        if (list && !json_is_array(list))
                return set_message(reterr_reason, -EINVAL, "has '%s' that is not a list", member);
        if (json_array_size(list) > max_items)
                return set_message(reterr_reason, -EINVAL, "has more than %zu entries in '%s'", max_items, member);

        words = calloc(json_array_size(list) + 1, sizeof(char *));
        if (!words)
                return -ENOMEM;
        json_array_foreach(list, i, item) {
                const char *s = json_string_value(item);

                if (!s || !word_valid(s, max_length, allowed)) {
                        _cleanup_free_ char *shown = json_to_message(item, 80);

                        return set_message(reterr_reason, -EINVAL, "has %s in '%s', which is not a valid name",
                                           shown ?: "a value", member);
                }
                if (name_in(s, (const char *const *) words))
                        return set_message(reterr_reason, -EINVAL, "lists '%s' twice in '%s'", s, member);
                words[i] = strdup(s);
                if (!words[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(words);
        return 0;
}

static int parse_header(const json_t *o, char **reterr_reason) {
        const json_t *protocol = json_object_get(o, "protocol");
        const char *member;
        json_t *v;

        json_object_foreach((json_t *) o, member, v)
                if (!name_in(member, description_members))
                        return set_message(reterr_reason, -EINVAL, "prints the unknown member '%.64s'", member);
        if (!json_is_integer(protocol))
                return set_message(reterr_reason, -EINVAL, "prints no integer 'protocol'");
        if (json_integer_value(protocol) != PLUGIN_PROTOCOL)
                return set_message(reterr_reason, -EINVAL, "speaks protocol %lld, kiln speaks %d",
                                   (long long) json_integer_value(protocol), PLUGIN_PROTOCOL);
        return 0;
}

static int parse_frequency(const json_t *o, Frequency *ret, char **reterr_reason) {
        const json_t *v = json_object_get(o, "frequency");

        *ret = FREQUENCY_PER_INSTANCE;
        if (!v)
                return 0;
        *ret = frequency_from_string(json_string_value(v));
        if (*ret < 0)
                return set_message(reterr_reason, -EINVAL, "has a 'frequency' that is not per-instance, "
                                   "per-boot, once or always");
        return 0;
}

static int parse_timeout(const json_t *o, unsigned *ret, char **reterr_reason) {
        const json_t *v = json_object_get(o, "timeout");

        *ret = PLUGIN_RUN_TIMEOUT_DEFAULT_SEC;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > PLUGIN_RUN_TIMEOUT_MAX_SEC)
                return set_message(reterr_reason, -EINVAL, "has a 'timeout' that is not a whole number of "
                                   "seconds from 1 to %d", PLUGIN_RUN_TIMEOUT_MAX_SEC);
        *ret = (unsigned) json_integer_value(v);
        return 0;
}

static int parse_members(const json_t *o, Plugin *p, char **reterr_reason) {
        const json_t *name = json_object_get(o, "name"), *description = json_object_get(o, "description");
        int r;

        if (!json_is_string(name) || !word_valid(json_string_value(name), PLUGIN_NAME_MAX, NAME_CHARS))
                return set_message(reterr_reason, -EINVAL, "prints no 'name' of 1 to %d characters a-z, 0-9, "
                                   "'_' and '-'", PLUGIN_NAME_MAX);
        p->name = strdup(json_string_value(name));
        if (!p->name)
                return -ENOMEM;

        r = parse_word_list(o, "keys", PLUGIN_KEYS_MAX, KEY_CHARS, PLUGIN_KEY_MAX, &p->keys, reterr_reason);
        if (r < 0)
                return r;
        r = parse_word_list(o, "after", PLUGIN_AFTER_MAX, NAME_CHARS, PLUGIN_NAME_MAX, &p->after,
                            reterr_reason);
        if (r < 0)
                return r;
        r = parse_frequency(o, &p->frequency, reterr_reason);
        if (r < 0)
                return r;
        r = parse_timeout(o, &p->timeout_sec, reterr_reason);
        if (r < 0)
                return r;

        if (description && !json_is_string(description))
                return set_message(reterr_reason, -EINVAL, "has a 'description' that is not a string");
        if (description) {
                p->description = strdup(json_string_value(description));
                if (!p->description)
                        return -ENOMEM;
        }
        return 0;
}

int plugin_parse_description(const char *path, const char *text, size_t size, Plugin *ret,
                             char **reterr_reason) {
        _cleanup_(plugin_done) Plugin p = {};
        json_error_t error;
        json_t *o;
        int r;

        o = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
        if (!o)
                return set_message(reterr_reason, -EINVAL, "does not print valid JSON (%s at line %d)",
                                   error.text, error.line);
        if (!json_is_object(o)) {
                json_decref(o);
                return set_message(reterr_reason, -EINVAL, "does not print a JSON object");
        }

        r = parse_header(o, reterr_reason);
        if (r >= 0)
                r = parse_members(o, &p, reterr_reason);
        json_decref(o);
        if (r < 0)
                return r;

        p.path = strdup(path);
        if (!p.path)
                return -ENOMEM;
        *ret = p;
        p = (Plugin) {};
        return 0;
}

/* The owner of key among the built-in modules and kiln's settings, or NULL. */
static const char *builtin_key_owner(const char *key, bool *ret_setting) {
        *ret_setting = false;
        for (const AgentModule *const *m = module_table; *m; m++)
                if (name_in(key, (*m)->config_keys))
                        return (*m)->name;
        if (schema_key_is_setting(key)) {
                *ret_setting = true;
                return "kiln";
        }
        return NULL;
}

static int check_name(const Plugin *p, const Plugin *earlier, size_t n_earlier, char **reterr_reason) {
        const AgentModule *m = module_by_name(p->name);

        if (m)
                return set_message(reterr_reason, -EEXIST, "is named '%s', which is the name of the built-in "
                                   "module %s", p->name, m->name);
        if (name_in(p->name, reserved_names))
                return set_message(reterr_reason, -EEXIST, "is named '%s', which kiln reserves", p->name);
        for (size_t i = 0; i < n_earlier; i++)
                if (streq(earlier[i].name, p->name))
                        return set_message(reterr_reason, -EEXIST, "is named '%s', as the plugin '%s' is",
                                           p->name, earlier[i].path);
        return 0;
}

int plugin_check_claims(const Plugin *p, const Plugin *earlier, size_t n_earlier, char **reterr_reason) {
        int r;

        r = check_name(p, earlier, n_earlier, reterr_reason);
        if (r < 0)
                return r;

        for (char **k = p->keys; k && *k; k++) {
                bool setting;
                const char *owner = builtin_key_owner(*k, &setting);

                if (setting)
                        return set_message(reterr_reason, -EEXIST, "claims key '%s', which is a setting of "
                                           "kiln itself", *k);
                if (owner)
                        return set_message(reterr_reason, -EEXIST, "claims key '%s', which the built-in "
                                           "module %s owns", *k, owner);
                for (size_t i = 0; i < n_earlier; i++)
                        if (name_in(*k, (const char *const *) earlier[i].keys))
                                return set_message(reterr_reason, -EEXIST, "claims key '%s', which the "
                                                   "plugin '%s' owns", *k, earlier[i].path);
        }
        return 0;
}

/* Files in the plugin directory that are not plugins: hidden files, editor backups and the copies
 * that package managers leave beside a changed file. */
static bool name_ignored(const char *name) {
        static const char *const suffixes[] = { "~", ".rpmnew", ".rpmsave", ".rpmorig", ".swp", NULL };
        size_t n = strlen(name);

        if (name[0] == '.' || strstr(name, ".dpkg-") || strstr(name, ".ucf-"))
                return true;
        for (const char *const *s = suffixes; *s; s++)
                if (n >= strlen(*s) && streq(name + n - strlen(*s), *s))
                        return true;
        return false;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in the plugin directory that may be plugins, sorted; an empty list when the directory
 * is missing. */
static int list_candidates(Context *ctx, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        fd = root_open(ctx->root_fd, PLUGIN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (fd < 0)
                return fd;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -EBADF;

        while ((de = readdir(d))) {
                char **grown;

                if (name_ignored(de->d_name)) {
                        log_debug("Skipping '/%s/%s', it is not a plugin.", PLUGIN_DIR, de->d_name);
                        continue;
                }
                grown = realloc(names, (n + 2) * sizeof(char *));
                if (!grown) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
                names = grown;
                names[n] = strdup(de->d_name);
                names[++n] = NULL;
                if (!names[n - 1]) {
                        (void) closedir(d);
                        return -ENOMEM;
                }
        }
        (void) closedir(d);

        if (names)
                qsort(names, n, sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        return 0;
}

/* Whether the file at path (inside the root) is a regular executable file. Returns 1, 0 after a
 * warning, or -ENOMEM. */
static int candidate_usable(Context *ctx, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = root_open(ctx->root_fd, path, O_PATH | O_CLOEXEC, 0);
        if (fd < 0) {
                report_warning(ctx, -1, "Failed to open plugin '%s': %s, skipping.", path, strerror(-fd));
                return 0;
        }
        if (fstat(fd, &st) < 0) {
                report_warning(ctx, -1, "Failed to stat plugin '%s': %m, skipping.", path);
                return 0;
        }
        if (!S_ISREG(st.st_mode)) {
                report_warning(ctx, -1, "Plugin '%s' is not a regular file, skipping.", path);
                return 0;
        }
        if ((st.st_mode & 0111) == 0) {
                report_warning(ctx, -1, "Plugin '%s' is not executable, skipping.", path);
                return 0;
        }
        return 1;
}

/* Run `path describe` and parse what it prints. Returns 0, -EINVAL with *reterr_reason set, or
 * another -errno. */
static int describe(Context *ctx, const char *path, int output_fd, Plugin *ret, char **reterr_reason) {
        _cleanup_(exec_result_done) ExecResult result = {};
        char *argv[] = { (char *) path, (char *) "describe", NULL };
        char *env[] = { (char *) "KILN_PROTOCOL=1", NULL };
        const ExecLimits limits = {
                .timeout_usec = PLUGIN_DESCRIBE_TIMEOUT_USEC,
                .kill_grace_usec = PLUGIN_DESCRIBE_GRACE_USEC,
                .stdout_max = PLUGIN_DESCRIBE_OUTPUT_MAX,
                .kill_on_stdout_overflow = true,
                /* describe is a query: a process that it started in the background is stopped. */
                .kill_group_on_exit = true,
        };
        char how[64];
        int r;

        /* NOTE: describe's stderr goes to kiln-output.log only, not to the journal as the output of
         * `run` does. */
        r = exec_in_root_limited(ctx->root, argv, env, /* input_fd= */ -EBADF, output_fd, &limits, &result);
        if (r < 0)
                return set_message(reterr_reason, -EINVAL, "cannot be started: %s", strerror(-r));
        /* Output over the limit killed the plugin, so it is checked before the exit status. */
        if (result.stdout_truncated)
                return set_message(reterr_reason, -EINVAL, "printed more than %d bytes on 'describe'",
                                   PLUGIN_DESCRIBE_OUTPUT_MAX);
        if (result.timed_out)
                return set_message(reterr_reason, -EINVAL, "did not finish 'describe' within %llu s",
                                   (unsigned long long) (PLUGIN_DESCRIBE_TIMEOUT_USEC / USEC_PER_SEC));
        if (result.exit_code != 0) {
                exec_result_format_termination(&result, how, sizeof(how));
                return set_message(reterr_reason, -EINVAL, "%s on 'describe'", how);
        }
        return plugin_parse_description(path, result.stdout_data, result.stdout_size, ret, reterr_reason);
}

/* Describe and check one candidate; a rejected plugin is reported. Returns 1 when it was added to
 * s, 0 when rejected, -ENOMEM. */
static int add_candidate(Context *ctx, PluginSet *s, const char *path, int output_fd) {
        _cleanup_(plugin_done) Plugin p = {};
        _cleanup_free_ char *reason = NULL;
        int r;

        r = describe(ctx, path, output_fd, &p, &reason);
        if (r >= 0)
                r = plugin_check_claims(&p, s->plugins, s->n, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                report_error(ctx, -1, 0, "Plugin '%s' %s, ignoring the plugin.", path, reason ?: "is invalid");
                return 0;
        }

        s->plugins[s->n++] = p;
        p = (Plugin) {};
        return 1;
}

/* Warn about names in `after` that are no module and no plugin. */
static void check_after(Context *ctx, const PluginSet *s) {
        for (size_t i = 0; i < s->n; i++)
                for (char **a = s->plugins[i].after; *a; a++)
                        if (!module_by_name(*a) && !plugin_set_find(s, *a))
                                report_warning(ctx, -1, "Plugin '%s' wants to run after '%s', which is no "
                                               "module or plugin, ignoring.", s->plugins[i].path, *a);
}

int plugins_discover(Context *ctx, PluginSet *ret) {
        _cleanup_(plugin_set_done) PluginSet s = {};
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        const char *saved = ctx->current;
        size_t n_names;
        int r;

        ctx->current = "plugins";
        r = list_candidates(ctx, &names);
        if (r < 0) {
                report_error(ctx, -1, r, "Failed to read the plugin directory '/%s': %m", PLUGIN_DIR);
                ctx->current = saved;
                *ret = (PluginSet) {};
                return r == -ENOMEM ? r : 0;
        }
        n_names = strv_length(names);
        if (n_names > 0)
                output_fd = command_output_open(ctx, "plugins");

        s.plugins = calloc(MIN(n_names, (size_t) PLUGINS_MAX) + 1, sizeof(Plugin));
        if (!s.plugins)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n_names; i++) {
                _cleanup_free_ char *path = NULL;

                if (s.n == PLUGINS_MAX) {
                        report_warning(ctx, -1, "More than %d plugins in '/%s', ignoring '%s' and the ones after it.",
                                       PLUGINS_MAX, PLUGIN_DIR, names[i]);
                        break;
                }
                if (asprintf(&path, "/%s/%s", PLUGIN_DIR, names[i]) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                r = candidate_usable(ctx, path);
                if (r > 0)
                        r = add_candidate(ctx, &s, path, output_fd);
        }
        if (r == -ENOMEM) {
                report_error(ctx, -1, r, "Failed to read the plugins: %m");
                ctx->current = saved;
                return r;
        }

        check_after(ctx, &s);
        ctx->current = saved;
        *ret = s;
        s = (PluginSet) {};
        return 0;
}

const char **plugin_set_keys(const PluginSet *s) {
        size_t n = 0, i = 0;
        const char **keys;

        for (size_t p = 0; p < s->n; p++)
                n += strv_length(s->plugins[p].keys);
        keys = calloc(n + 1, sizeof(char *));
        if (!keys)
                return NULL;
        for (size_t p = 0; p < s->n; p++)
                for (char **k = s->plugins[p].keys; *k; k++)
                        keys[i++] = *k;
        return keys;
}

const Plugin *plugin_set_find(const PluginSet *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->plugins[i].name, name))
                        return &s->plugins[i];
        return NULL;
}

json_t *plugin_input_build(const Context *ctx, const Plugin *p, Frequency frequency) {
        const Instance *i = ctx->instance;
        json_t *instance, *input;

        instance = json_pack("{s:s?, s:s?, s:O?}", "instance_id", i ? i->instance_id : NULL,
                             "datasource", i ? i->datasource : NULL, "metadata", i ? i->metadata : NULL);
        if (!instance)
                return NULL;
        input = json_pack("{s:i, s:s, s:s, s:O, s:o}", "protocol", PLUGIN_PROTOCOL, "plugin", p->name,
                          "frequency", frequency_to_string(frequency), "config", ctx->config, "instance", instance);
        return input;
}

/* A sealed in-memory file holding the input document, positioned at its start, for stdin. */
static int input_fd_new(const json_t *input) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size, done = 0;

        /* One member per line, so that a shell plugin can find its key with sed. */
        text = json_dumps(input, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        size = strlen(text);

        fd = memfd_create("kiln-plugin-input", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (done < size) {
                ssize_t n = write(fd, text + done, size - done);
                if (n < 0 && errno != EINTR)
                        return -errno;
                if (n > 0)
                        done += (size_t) n;
        }
        if (write(fd, "\n", 1) != 1 || lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int plugin_run(Context *ctx, const Plugin *p, Frequency frequency) {
        _cleanup_free_ char *name = NULL, *plugin_env = NULL;
        _cleanup_close_ int input_fd = -EBADF, output_fd = -EBADF;
        char *argv[] = { p->path, (char *) "run", NULL };
        char *env[] = { (char *) "KILN_PROTOCOL=1", NULL, NULL };
        json_t *input;
        int r;

        input = plugin_input_build(ctx, p, frequency);
        if (!input)
                return report_error(ctx, -1, -ENOMEM, "Failed to build the input of plugin '%s': %m", p->path);
        input_fd = input_fd_new(input);
        json_decref(input);
        if (input_fd < 0)
                return report_error(ctx, -1, input_fd, "Failed to build the input of plugin '%s': %m", p->path);

        if (asprintf(&name, "Plugin '%s'", p->path) < 0) {
                name = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to run plugin '%s': %m", p->path);
        }
        if (asprintf(&plugin_env, "KILN_PLUGIN=%s", p->name) < 0) {
                plugin_env = NULL;
                return report_error(ctx, -1, -ENOMEM, "Failed to run plugin '%s': %m", p->path);
        }
        env[1] = plugin_env;

        output_fd = command_output_open(ctx, p->name);
        r = command_run_limited(ctx, name, -1, argv, env, input_fd, output_fd,
                                (usec_t) p->timeout_sec * USEC_PER_SEC);
        return r < 0 ? r : 1;
}
