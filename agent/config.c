/* SPDX-License-Identifier: Apache-2.0 */
/* Loading kiln.yaml and its kiln.d drop-ins. Later files override earlier ones key by key, so a
 * drop-in can change one datasource setting without repeating the rest. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "report.h"

#define CONFIG_DROPINS_MAX 256

/* Parse one YAML file (already read) and merge it. label names it in messages. */
static int config_merge_text(Context *ctx, const char *label, const char *text, size_t size) {
        json_t *doc = NULL, *warnings = NULL;
        YamlError err = {};
        size_t i;
        json_t *w;
        int r;

        r = yaml_parse_json(text, size, &doc, &warnings, /* ret_positions= */ NULL, &err);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to parse configuration '%s' at line %u, column %u: %s",
                                    label, err.line, err.column, err.message);
        json_array_foreach(warnings, i, w)
                report_warning(ctx, -1, "Configuration '%s' line %d: %s", label,
                               (int) json_integer_value(json_object_get(w, "line")),
                               json_string_value(json_object_get(w, "message")));
        json_decref(warnings);

        if (json_is_null(doc)) {
                json_decref(doc);
                return 0;
        }
        if (!json_is_object(doc)) {
                json_decref(doc);
                return report_error(ctx, -1, 0, "Configuration '%s' is not a mapping of keys to values", label);
        }
        r = json_merge_deep(ctx->system_config, doc);
        json_decref(doc);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to merge configuration '%s': %m", label);
        log_debug("Loaded configuration '%s'.", label);
        return 0;
}

/* --config names a file on the running system, not inside the target root. */
static int config_load_host_file(Context *ctx, const char *path) {
        _cleanup_close_ int host_fd = -EBADF;
        _cleanup_free_ char *text = NULL, *abs = NULL;
        size_t size;
        int r;

        abs = realpath(path, NULL);
        if (!abs)
                return report_error(ctx, -1, negative_errno(), "Failed to open configuration '%s': %m", path);
        host_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host_fd < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to open '/': %m");
        r = read_file_at(host_fd, abs, CONFIG_FILE_MAX, &text, &size);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read configuration '%s': %m", path);
        return config_merge_text(ctx, path, text, size);
}

static int config_load_root_file(Context *ctx, const char *path, bool must_exist) {
        _cleanup_free_ char *text = NULL, *label = NULL;
        size_t size;
        int r;

        if (asprintf(&label, "%s/%s", streq(ctx->root, "/") ? "" : ctx->root, path) < 0)
                return -ENOMEM;
        r = read_file_at(ctx->root_fd, path, CONFIG_FILE_MAX, &text, &size);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read configuration '%s': %m", label);
        return config_merge_text(ctx, label, text, size);
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int config_load_dropins(Context *ctx) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int ret = 0;

        fd = root_open(ctx->root_fd, KILN_CONFIG_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return report_error(ctx, -1, fd, "Failed to open /%s: %m", KILN_CONFIG_DIR);
        d = fdopendir(fd);
        if (!d)
                return report_error(ctx, -1, negative_errno(), "Failed to open /%s: %m", KILN_CONFIG_DIR);
        TAKE_FD(fd);

        names = calloc(CONFIG_DROPINS_MAX + 1, sizeof(char *));
        while (names && (de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".yaml"))
                        continue;
                if (n == CONFIG_DROPINS_MAX) {
                        report_warning(ctx, -1, "More than %d files in /%s, ignoring the rest.",
                                       CONFIG_DROPINS_MAX, KILN_CONFIG_DIR);
                        break;
                }
                names[n] = strdup(de->d_name);
                if (!names[n])
                        break;
                n++;
        }
        (void) closedir(d);
        if (!names)
                return -ENOMEM;
        qsort(names, n, sizeof(char *), compare_strings);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                int r;

                if (asprintf(&path, "%s/%s", KILN_CONFIG_DIR, names[i]) < 0)
                        return -ENOMEM;
                r = config_load_root_file(ctx, path, true);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int config_load(Context *ctx) {
        int r;

        if (!ctx->system_config) {
                ctx->system_config = json_object();
                if (!ctx->system_config)
                        return -ENOMEM;
        }
        if (ctx->config_file)
                return config_load_host_file(ctx, ctx->config_file);

        r = config_load_root_file(ctx, KILN_CONFIG_FILE, false);
        int k = config_load_dropins(ctx);
        return r < 0 ? r : k;
}
