/* SPDX-License-Identifier: Apache-2.0 */
/* kiln validate: decode user data as `kiln run` would, check each cloud-config part against the
 * modules' key declarations, and print every finding with its file, line, column and key path.
 * --print-schema prints the same declarations as a JSON Schema. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "schema.h"
#include "state.h"
#include "userdata/userdata.h"
#include "validate.h"

/* Largest file that kiln validate reads, the same cap as for cached instance data. */
#define VALIDATE_FILE_MAX STATE_CACHE_FILE_MAX

int validate_print_schema(void) {
        _cleanup_free_ char *text = NULL;
        json_auto_t *schema = schema_to_json_schema();

        if (schema)
                text = json_dumps(schema, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return log_error_errno(-ENOMEM, "Failed to build the JSON Schema: %m"), 1;
        printf("%s\n", text);
        return 0;
}

/* The findings for one file, as `kiln validate --format json` prints them. */
typedef struct FileReport {
        json_t *errors;
        json_t *warnings;
        const char *part;        /* the part whose diagnostics are being added, or NULL */
        const json_t *positions; /* of that part */
} FileReport;

static void file_report_done(FileReport *f) {
        json_decref(f->errors);
        json_decref(f->warnings);
        *f = (FileReport) {};
}

static json_t *json_string_or_null(const char *s) {
        _cleanup_free_ char *copy = NULL;

        if (!s || !*s)
                return json_null();
        copy = strdup(s);
        if (!copy)
                return NULL;
        /* Paths and messages quote user input, which JSON takes only as valid UTF-8. */
        utf8_make_valid(copy);
        return json_string(copy);
}

static json_t *json_position(unsigned n) {
        return n > 0 ? json_integer(n) : json_null();
}

static int file_report_add(FileReport *f, bool error, const char *path, unsigned line, unsigned column,
                           const char *message) {
        json_t *d = json_pack("{s:o*, s:o*, s:o*, s:o*, s:o*}",
                              "part", json_string_or_null(f->part),
                              "path", json_string_or_null(path),
                              "line", json_position(line),
                              "column", json_position(column),
                              "message", json_string_or_null(message));

        if (!d || !json_is_string(json_object_get(d, "message")))
                return json_decref(d), -ENOMEM;
        return json_array_append_new(error ? f->errors : f->warnings, d) < 0 ? -ENOMEM : 0;
}

static void file_report_schema(const SchemaDiagnostic *d, void *userdata) {
        FileReport *f = userdata;
        unsigned line = d->pointer ? yaml_position_line(f->positions, d->pointer) : 0;
        unsigned column = d->pointer ? yaml_position_column(f->positions, d->pointer) : 0;

        (void) file_report_add(f, d->problem == SCHEMA_ERROR, d->path, line, column, d->message);
}

/* Lines after the first that start with '#!' mean a script was pasted after the YAML. */
static bool has_script_line(const char *data) {
        for (const char *p = strchr(data, '\n'); p; p = strchr(p + 1, '\n'))
                if (strneq(p + 1, "#!", 2))
                        return true;
        return false;
}

/* Check one cloud-config part. Its line numbers count from the part's first line, so with
 * name_part its diagnostics name the part. */
static int validate_cloud_config(FileReport *f, const Part *part, bool name_part) {
        json_auto_t *doc = NULL, *warnings = NULL, *positions = NULL;
        char message[sizeof(((YamlError *) NULL)->message) + 256];
        YamlError err = {};
        json_t *w;
        size_t i;
        int r;

        f->part = name_part ? part->name : NULL;
        r = yaml_parse_json(part->data, part->size, &doc, &warnings, &positions, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                (void) snprintf(message, sizeof(message), "Failed to parse the cloud-config: %s.%s",
                                err.message, has_script_line(part->data) ? " To combine cloud-config with a "
                                "script, send them as parts of a MIME multipart archive." : "");
                return file_report_add(f, true, NULL, err.line, err.column, message);
        }

        json_array_foreach(warnings, i, w) {
                unsigned line = (unsigned) json_integer_value(json_object_get(w, "line"));
                unsigned column = (unsigned) json_integer_value(json_object_get(w, "column"));
                const char *text = json_string_value(json_object_get(w, "message"));

                r = file_report_add(f, false, NULL, line, column, text);
                if (r < 0)
                        return r;
        }
        if (json_is_null(doc))
                return 0;

        f->positions = positions;
        r = schema_check(doc, positions, /* flags= */ 0, file_report_schema, f);
        f->positions = NULL;
        return MIN(r, 0);
}

static bool is_yaml_finding(const char *message) {
        return strneq(message, "Failed to parse cloud-config ", strlen("Failed to parse cloud-config ")) ||
               (strneq(message, "cloud-config ", strlen("cloud-config ")) && strstr(message, " line ")) ||
               strstr(message, "is not a mapping of keys to values");
}

/* Merge the decoded parts and keep the new findings that are not about YAML. */
static int validate_merge(Context *ctx) {
        json_t *kept[2] = { json_array(), json_array() };
        json_t *lists[2] = { ctx->errors, ctx->warnings };
        size_t before[2] = { json_array_size(ctx->errors), json_array_size(ctx->warnings) };

        if (!kept[0] || !kept[1]) {
                json_decref(kept[0]);
                json_decref(kept[1]);
                return -ENOMEM;
        }
        (void) userdata_merge(ctx);
        for (size_t k = 0; k < 2; k++) {
                for (size_t i = before[k]; i < json_array_size(lists[k]); i++) {
                        json_t *d = json_array_get(lists[k], i);
                        if (!is_yaml_finding(json_string_value(json_object_get(d, "message")) ?: ""))
                                (void) json_array_append(kept[k], d);
                }
                while (json_array_size(lists[k]) > before[k])
                        (void) json_array_remove(lists[k], json_array_size(lists[k]) - 1);
                (void) json_array_extend(lists[k], kept[k]);
                json_decref(kept[k]);
        }
        return 0;
}

/* Decode one blob as `kiln run` would, but without an instance, so nothing is fetched or rendered
 * and the decoder warns about that. Then check every cloud-config part it yields. */
static int validate_blob(FileReport *f, const char *source, const char *data, size_t size) {
        Context ctx = {
                .root = "/",
                .root_fd = -EBADF,       /* the decoder has nothing to write */
                .current = source,
                .system_config = json_object(),
                .config = json_object(),
                .errors = json_array(),
                .warnings = json_array(),
        };
        json_t *d;
        size_t i;
        int r = 0;

        if (!ctx.system_config || !ctx.config || !ctx.errors || !ctx.warnings) {
                context_done(&ctx);
                return -ENOMEM;
        }
        (void) userdata_decode(&ctx, source, data, size);
        /* Merging as run does catches what only shows between parts: Merge-Type and merge_how
         * specifications and #cloud-config-jsonp patches. Its YAML findings are left out here,
         * because validate_cloud_config() reports them with their positions. */
        r = validate_merge(&ctx);
        if (r < 0) {
                context_done(&ctx);
                return r;
        }

        f->part = NULL;
        /* The decoder's findings concern the whole file, so they have no position. */
        json_array_foreach(ctx.errors, i, d)
                if (r >= 0)
                        r = file_report_add(f, true, NULL, 0, 0,
                                            json_string_value(json_object_get(d, "message")));
        json_array_foreach(ctx.warnings, i, d)
                if (r >= 0)
                        r = file_report_add(f, false, NULL, 0, 0,
                                            json_string_value(json_object_get(d, "message")));
        /* A file whose whole content is ignored (unknown header, binary) only gets a warning from
         * the decoder, yet nothing in it would ever be applied. */
        if (r >= 0 && ctx.n_parts == 0 && json_array_size(ctx.errors) == 0 && json_array_size(ctx.warnings) > 0 &&
            strstr(json_string_value(json_object_get(json_array_get(ctx.warnings, 0), "message")) ?: "",
                   "Unrecognised first line"))
                r = file_report_add(f, true, NULL, 0, 0, "nothing in this file would be applied");
        for (i = 0; i < ctx.n_parts && r >= 0; i++)
                if (ctx.parts[i].type == PART_CLOUD_CONFIG)
                        r = validate_cloud_config(f, &ctx.parts[i], /* name_part= */ ctx.n_parts > 1);
        f->part = NULL;
        context_done(&ctx);
        return r;
}

static void print_diagnostics_text(const char *file, const json_t *list, const char *kind) {
        json_t *d;
        size_t i;

        json_array_foreach(list, i, d) {
                const char *part = json_string_value(json_object_get(d, "part"));
                json_int_t line = json_integer_value(json_object_get(d, "line"));
                json_int_t column = json_integer_value(json_object_get(d, "column"));

                printf("%s", file);
                if (part)
                        printf(" (%s)", part);
                if (line > 0)
                        printf(":%lld", (long long) line);
                if (line > 0 && column > 0)
                        printf(":%lld", (long long) column);
                printf(": %s: %s\n", kind, json_string_value(json_object_get(d, "message")));
        }
}

static void print_file_text(const char *file, const FileReport *f) {
        size_t n_errors = json_array_size(f->errors), n_warnings = json_array_size(f->warnings);

        print_diagnostics_text(file, f->errors, "error");
        print_diagnostics_text(file, f->warnings, "warning");
        if (n_errors > 0)
                printf("%s: invalid, %zu %s, %zu %s\n", file, n_errors, n_errors == 1 ? "error" : "errors",
                       n_warnings, n_warnings == 1 ? "warning" : "warnings");
        else if (n_warnings > 0)
                printf("%s: valid, %zu %s\n", file, n_warnings, n_warnings == 1 ? "warning" : "warnings");
        else
                printf("%s: valid\n", file);
}

/* Check data as source and add the file's report to files. read_result is what reading the file
 * returned, and hint (or NULL) follows the message when it failed. Returns 0 or -ENOMEM. */
static int validate_one(json_t *files, const char *name, const char *source, int read_result,
                        const char *hint, const char *data, size_t size, bool json) {
        _cleanup_(file_report_done) FileReport f = {
                .errors = json_array(),
                .warnings = json_array(),
        };
        char message[512];
        json_t *report;
        int r;

        if (!f.errors || !f.warnings)
                return -ENOMEM;
        if (read_result < 0) {
                (void) snprintf(message, sizeof(message), "Failed to read '%s': %s.%s%s", name,
                                read_result == -EBADFD ? "not a regular file" : strerror(-read_result),
                                hint ? " " : "", hint ?: "");
                r = file_report_add(&f, true, NULL, 0, 0, message);
        } else
                r = validate_blob(&f, source, data, size);
        if (r < 0)
                return r;

        if (!json)
                print_file_text(name, &f);
        report = json_pack("{s:o, s:b, s:O, s:O}", "file", json_string_or_null(name), "valid",
                           json_array_size(f.errors) == 0, "errors", f.errors, "warnings", f.warnings);
        return json_array_append_new(files, report) < 0 ? -ENOMEM : 0;
}

static int validate_path(json_t *files, int root_fd, const char *path, bool json) {
        _cleanup_free_ char *data = NULL, *absolute = NULL;
        size_t size = 0;
        int r;

        absolute = realpath(path, NULL);
        r = absolute ? read_file_at(root_fd, absolute, VALIDATE_FILE_MAX, &data, &size) : negative_errno();
        return validate_one(files, path, "user-data", r, /* hint= */ NULL, data, size, json);
}

/* The current instance's cached user data and vendor data. Missing vendor data is no error:
 * older caches and datasources without it have none. */
static int validate_system(json_t *files, const char *root, int root_fd, bool json) {
        static const char *const sources[] = { "vendor-data", "user-data" };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                _cleanup_free_ char *data = NULL, *cached = NULL, *shown = NULL;
                const char *hint;
                size_t size = 0;
                int r;

                if (asprintf(&cached, "/%s/instance/%s", KILN_STATE_DIR, sources[i]) < 0 ||
                    asprintf(&shown, "%s%s", streq(root, "/") ? "" : root, cached) < 0)
                        return -ENOMEM;
                r = read_file_at(root_fd, cached, VALIDATE_FILE_MAX, &data, &size);
                if (r == -ENOENT && streq(sources[i], "vendor-data"))
                        continue;
                hint = r == -ENOENT ? "kiln has not run on this system yet, so nothing is cached." : NULL;
                r = validate_one(files, shown, sources[i], r, hint, data, size, json);
                if (r < 0)
                        return r;
        }
        return 0;
}

int validate_main(const char *root, bool system, bool json, char *const *files, size_t n_files) {
        _cleanup_close_ int root_fd = -EBADF;
        json_auto_t *reports = json_array();
        int saved_level = log_get_max_level();
        bool valid = true;
        json_t *report;
        size_t i;
        int r = 0;

        if (!reports)
                return log_error_errno(-ENOMEM, "Failed to validate: %m"), 1;
        root_fd = open(system ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(negative_errno(), "Failed to open root directory '%s': %m",
                                       system ? root : "/"), 1;

        /* The findings go to stdout; the decoder's log lines would only repeat them. */
        if (saved_level < LOG_DEBUG)
                log_set_max_level(LOG_CRIT);
        for (i = 0; i < n_files && r >= 0; i++)
                r = validate_path(reports, root_fd, files[i], json);
        if (system && r >= 0)
                r = validate_system(reports, root, root_fd, json);
        log_set_max_level(saved_level);
        if (r < 0)
                return log_error_errno(r, "Failed to validate: %m"), 1;

        json_array_foreach(reports, i, report)
                valid = valid && json_is_true(json_object_get(report, "valid"));
        if (json) {
                _cleanup_free_ char *text = NULL;
                json_auto_t *doc = json_pack("{s:b, s:O}", "valid", valid, "files", reports);

                text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
                if (!text)
                        return log_error_errno(-ENOMEM, "Failed to print the result: %m"), 1;
                printf("%s\n", text);
        }
        return valid ? 0 : 1;
}
