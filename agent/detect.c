/* SPDX-License-Identifier: Apache-2.0 */
/* Datasource detection. Nothing here touches the network: the evidence is the kernel command line,
 * the configuration, DMI and seed directories, all read under the target root. */

#include <ctype.h>
#include <string.h>

#include "detect.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "log.h"
#include "report.h"

#define KILN_DISABLED_FILE "etc/kiln/kiln.disabled"

/* Split the command line into words the way the kernel does: spaces separate words, double quotes
 * group them. */
int kernel_cmdline_get(const Context *ctx, const char *key, char **ret) {
        _cleanup_free_ char *cmdline = NULL;
        char *found = NULL;
        size_t size, keylen = strlen(key);
        int r;

        *ret = NULL;
        r = read_file_at(ctx->root_fd, "proc/cmdline", KERNEL_CMDLINE_MAX, &cmdline, &size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        for (char *p = cmdline; *p;) {
                char word[4096];
                size_t n = 0;
                bool quoted = false;

                while (*p && isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                for (; *p && (quoted || !isspace((unsigned char) *p)); p++) {
                        if (*p == '"') {
                                quoted = !quoted;
                                continue;
                        }
                        if (n < sizeof(word) - 1)
                                word[n++] = *p;
                }
                word[n] = '\0';

                if (strneq(word, key, keylen) && (word[keylen] == '=' || word[keylen] == '\0')) {
                        free(found);
                        found = strdup(word[keylen] == '=' ? word + keylen + 1 : "");
                        if (!found)
                                return -ENOMEM;
                }
        }
        *ret = found;
        return 0;
}

int kiln_disabled(const Context *ctx, const char **ret_reason) {
        _cleanup_free_ char *value = NULL;

        if (root_exists(ctx->root_fd, KILN_DISABLED_FILE) > 0) {
                *ret_reason = "/" KILN_DISABLED_FILE " exists";
                return 1;
        }
        if (kernel_cmdline_get(ctx, "kiln", &value) >= 0 && value && streq(value, "disabled")) {
                *ret_reason = "kiln=disabled is on the kernel command line";
                return 1;
        }
        *ret_reason = NULL;
        return 0;
}

bool ds_value_is_nocloud(const char *value) {
        size_t n = strcspn(value, ";");

        return (n == 7 && strneq(value, "nocloud", 7)) || (n == 11 && strneq(value, "nocloud-net", 11));
}

/* Datasources whose data is on the machine itself (a seed directory, a cidata volume, the kernel
 * command line), which the local stage can read before the network is up. */
bool datasource_is_local(const Datasource *ds) {
        return ds == &datasource_nocloud;
}

/* A datasource named on the command line; in the local stage a network datasource means "not now". */
static int detect_from_cmdline(Context *ctx, bool local_only, const Datasource **ret) {
        _cleanup_free_ char *ds = NULL;
        int r;

        r = kernel_cmdline_get(ctx, "kiln.ds", &ds);
        if (r < 0)
                return r;
        if (ds) {
                *ret = datasource_by_name(ds);
                if (!*ret)
                        return report_error(ctx, -1, 0, "Unknown datasource 'kiln.ds=%s' on the kernel command line", ds);
                if (local_only && !datasource_is_local(*ret)) {
                        log_info("Datasource '%s' chosen by kiln.ds= needs the network, leaving it to the network stage.", ds);
                        *ret = NULL;
                        return -ENOENT;
                }
                log_info("Datasource '%s' chosen by kiln.ds= on the kernel command line.", ds);
                return 1;
        }

        free(ds);
        ds = NULL;
        r = kernel_cmdline_get(ctx, "ds", &ds);
        if (r < 0)
                return r;
        if (ds && ds_value_is_nocloud(ds)) {
                *ret = &datasource_nocloud;
                log_info("Datasource 'nocloud' chosen by ds= on the kernel command line.");
                return 1;
        }
        return 0;
}

static int probe(Context *ctx, const Datasource *ds) {
        int r = ds->detect(ctx);

        if (r < 0)
                log_warning_errno(r, "Failed to probe datasource '%s', skipping: %m", ds->name);
        else
                log_debug("Datasource '%s' %s.", ds->name, r > 0 ? "detected" : "not detected");
        return r > 0;
}

static int detect_from_list(Context *ctx, const json_t *list, bool local_only, const Datasource **ret) {
        const json_t *item;
        size_t i;

        json_array_foreach(list, i, item) {
                const char *name = json_string_value(item);
                const Datasource *ds = name ? datasource_by_name(name) : NULL;

                if (!ds) {
                        /* The network stage reads the same list and reports it. */
                        if (local_only)
                                continue;
                        _cleanup_free_ char *shown = json_to_message(item, 80);
                        report_warning(ctx, (int) i, "Unknown datasource %s in datasource_list, skipping it.",
                                       shown ?: "?");
                        continue;
                }
                if (local_only && !datasource_is_local(ds))
                        continue;
                /* One configured datasource is a decision, not a guess: no probing. */
                if (json_array_size(list) == 1 || probe(ctx, ds)) {
                        log_info("Datasource '%s' chosen from datasource_list.", ds->name);
                        *ret = ds;
                        return 1;
                }
        }
        return 0;
}

static int detect(Context *ctx, bool local_only, const Datasource **ret) {
        const json_t *list;
        int r;

        *ret = NULL;
        r = detect_from_cmdline(ctx, local_only, ret);
        if (r == -ENOENT)
                return 0;
        if (r != 0)
                return r;

        list = json_object_get(ctx->system_config, "datasource_list");
        if (list && !json_is_array(list)) {
                if (!local_only)
                        report_warning(ctx, -1, "datasource_list in the configuration is not a list, ignoring.");
        } else if (json_array_size(list) > 0)
                return detect_from_list(ctx, list, local_only, ret);

        for (const Datasource *const *ds = datasource_table; *ds; ds++) {
                if (local_only && !datasource_is_local(*ds))
                        continue;
                if (probe(ctx, *ds)) {
                        log_info("Datasource '%s' detected.", (*ds)->name);
                        *ret = *ds;
                        return 1;
                }
        }
        return 0;
}

int detect_datasource(Context *ctx, const Datasource **ret) {
        return detect(ctx, /* local_only= */ false, ret);
}

int detect_local_datasource(Context *ctx, const Datasource **ret) {
        return detect(ctx, /* local_only= */ true, ret);
}
