/* SPDX-License-Identifier: Apache-2.0 */
/* Building the effective cloud-config. Layers, later over earlier: the image configuration, vendor
 * cloud-config parts, user cloud-config parts. As in cloud-init, mappings merge key by key and any
 * other value (a list, a string) replaces the earlier one, so a later part's runcmd replaces an
 * earlier part's runcmd. */

#include <string.h>

#include "lib/json-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "report.h"
#include "userdata.h"

/* The top-level key of a position path ("/runcmd/0" -> "runcmd") into buf; false when it does
 * not fit or the path has no key. */
static bool top_key(const char *path, char *buf, size_t size) {
        const char *end;
        size_t n;

        if (path[0] != '/')
                return false;
        end = strchr(path + 1, '/');
        n = end ? (size_t) (end - path - 1) : strlen(path + 1);
        if (n == 0 || n >= size)
                return false;
        memcpy(buf, path + 1, n);
        buf[n] = '\0';
        return true;
}

/* Keep the positions of the keys that part contributes, dropping older ones under the same keys.
 * One pass over each object, so parts with many keys stay linear. */
static void merge_positions(Context *ctx, const json_t *doc, json_t *positions) {
        const char *path;
        json_t *value;
        void *tmp;
        char key[256];

        if (!ctx->config_positions)
                ctx->config_positions = json_object();
        json_object_foreach_safe(ctx->config_positions, tmp, path, value)
                if (top_key(path, key, sizeof(key)) && json_object_get(doc, key))
                        (void) json_object_del(ctx->config_positions, path);
        json_object_foreach(positions, path, value)
                if (top_key(path, key, sizeof(key)) && json_object_get(doc, key))
                        (void) json_object_set(ctx->config_positions, path, value);
}

/* Lines after the header that start with '#!' mean a script was pasted after the YAML. */
static bool has_script_line(const char *data) {
        for (const char *p = strchr(data, '\n'); p; p = strchr(p + 1, '\n'))
                if (strneq(p + 1, "#!", 2))
                        return true;
        return false;
}

static int merge_part(Context *ctx, const Part *part) {
        json_t *doc = NULL, *warnings = NULL, *positions = NULL, *w;
        YamlError err = {};
        size_t i;
        int r;

        r = yaml_parse_json(part->data, part->size, &doc, &warnings, &positions, &err);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to parse cloud-config %s at line %u, column %u: %s; "
                                    "nothing from this part is applied%s",
                                    part->name, err.line, err.column, err.message,
                                    has_script_line(part->data) ?
                                    ". To combine cloud-config with a script, send them as parts of a MIME "
                                    "multipart archive" : "");

        json_array_foreach(warnings, i, w)
                report_warning(ctx, -1, "cloud-config %s line %d: %s", part->name,
                               (int) json_integer_value(json_object_get(w, "line")),
                               json_string_value(json_object_get(w, "message")));
        json_decref(warnings);

        if (json_is_null(doc)) {
                log_info("cloud-config %s is empty.", part->name);
                json_decref(positions);
                json_decref(doc);
                return 0;
        }
        if (!json_is_object(doc)) {
                json_decref(positions);
                json_decref(doc);
                return report_error(ctx, -1, 0, "cloud-config %s is not a mapping of keys to values; nothing "
                                    "from this part is applied", part->name);
        }

        merge_positions(ctx, doc, positions);
        r = json_merge_deep(ctx->config, doc);
        json_decref(positions);
        json_decref(doc);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to merge cloud-config %s: %m", part->name);
        return 0;
}

int userdata_merge(Context *ctx) {
        int ret = 0;

        json_decref(ctx->config);
        ctx->config = json_deep_copy(ctx->system_config);
        if (!ctx->config)
                return -ENOMEM;

        /* Vendor parts first, so the user's parts win. */
        for (int vendor = 1; vendor >= 0; vendor--)
                for (size_t i = 0; i < ctx->n_parts; i++) {
                        const Part *p = &ctx->parts[i];
                        int r;

                        if (p->type != PART_CLOUD_CONFIG || strneq(p->name, "vendor-", 7) != (vendor == 1))
                                continue;
                        r = merge_part(ctx, p);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        return ret;
}
