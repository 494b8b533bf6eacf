/* SPDX-License-Identifier: Apache-2.0 */
/* Exec plugins: modules that a site adds as executables in ROOT/usr/lib/kiln/modules.d. The
 * protocol is written down in modules/README.md. */
#pragma once

#include <jansson.h>

#include "context.h"
#include "lib/macro.h"
#include "modules/module.h"

/* The plugin directory, relative to the root. */
#define PLUGIN_DIR "usr/lib/kiln/modules.d"

/* The protocol version that "describe" output must carry and "run" input carries. */
#define PLUGIN_PROTOCOL 1

/* Limits on what `PLUGIN describe` may take and print. */
#define PLUGIN_DESCRIBE_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define PLUGIN_DESCRIBE_OUTPUT_MAX (64 * 1024)

/* Time limit of `PLUGIN run`, in seconds: the default and the largest that describe may ask for. */
#define PLUGIN_RUN_TIMEOUT_DEFAULT_SEC 300
#define PLUGIN_RUN_TIMEOUT_MAX_SEC 3600

/* Upper bounds on plugins, and on what one description may list. */
#define PLUGINS_MAX 64
#define PLUGIN_KEYS_MAX 64
#define PLUGIN_AFTER_MAX 32
#define PLUGIN_NAME_MAX 64

typedef struct Plugin {
        char *path;              /* inside the root: "/usr/lib/kiln/modules.d/motd" */
        char *name;
        char **keys;             /* top-level config keys, NULL-terminated, possibly empty */
        char **after;            /* modules and plugins to run after, NULL-terminated, possibly empty */
        Frequency frequency;
        unsigned timeout_sec;
        char *description;       /* or NULL */
} Plugin;

void plugin_done(Plugin *p);

typedef struct PluginSet {
        Plugin *plugins;         /* in name order of their files */
        size_t n;
} PluginSet;

void plugin_set_done(PluginSet *s);

/* Parse the output of `PLUGIN describe` for the plugin at path. Checks the shape of every member
 * (see modules/README.md); whether the name and keys are free is plugin_check_claims()' job.
 * On success *ret is filled (release it with plugin_done()). Returns 0, -EINVAL with
 * *reterr_reason set to a sentence fragment that the caller owns ("does not print a JSON object"),
 * or -ENOMEM. */
int plugin_parse_description(const char *path, const char *text, size_t size, Plugin *ret,
                             char **reterr_reason);

/* Check that p's name and keys are not a built-in module's (name, cloud-init alias or key), kiln's
 * own settings, or those of the n_earlier plugins accepted before it. Returns 0, -EEXIST with
 * *reterr_reason set (caller owns it), or -ENOMEM. */
int plugin_check_claims(const Plugin *p, const Plugin *earlier, size_t n_earlier, char **reterr_reason);

/* Find, describe and check the plugins in ROOT/usr/lib/kiln/modules.d, in name order. A rejected
 * plugin is reported as an error against "plugins" and left out; an `after` name that no module
 * or plugin has is a warning. A missing directory means no plugins. Returns 0, or -ENOMEM after
 * reporting it. */
int plugins_discover(Context *ctx, PluginSet *ret);

/* The keys of every plugin in s, NULL-terminated; the array is the caller's, the strings are
 * borrowed from s. NULL on allocation failure. */
const char **plugin_set_keys(const PluginSet *s);

/* The plugin in s named name, or NULL. */
const Plugin *plugin_set_find(const PluginSet *s, const char *name);

/* The document `PLUGIN run` reads on stdin: {"protocol", "plugin", "frequency", "config",
 * "instance": {"instance_id", "datasource", "metadata"}}. Caller owns it; NULL on allocation
 * failure. */
json_t *plugin_input_build(const Context *ctx, const Plugin *p, Frequency frequency);

/* Run `PLUGIN run` inside the root with the input document on stdin, within the plugin's time
 * limit, its output appended to ROOT/var/log/kiln-output.log. Returns 1 when it exited 0 (a
 * plugin is taken to have changed the system), or <0 after reporting the failure. */
int plugin_run(Context *ctx, const Plugin *p, Frequency frequency);
