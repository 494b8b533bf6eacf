/* SPDX-License-Identifier: Apache-2.0 */
/* The yum_repos module: writes one ROOT/etc/yum.repos.d/ID.repo file for each repository of the
 * yum_repos key, as cloud-init's yum_add_repo module does. A file that already exists is kept. */

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "report.h"

/* The folder cloud-init writes to unless yum_repo_dir names another. */
#define YUM_REPO_DIR_DEFAULT "/etc/yum.repos.d"
/* Maximum length of a repository id and of an option name. */
#define YUM_REPO_ID_MAX 128U
/* Maximum size of one rendered .repo file. */
#define YUM_REPO_FILE_MAX (64U * 1024U)
/* Maximum length of a shown value in error messages. */
#define YUM_SHOWN_VALUE_MAX 80U
/* Size of the buffer for the reason a repository is rejected. */
#define YUM_REASON_MAX 256U

/* The first line of every file kiln writes. cloud-init adds the date, which kiln leaves out so
 * that an image baked twice gets the same file. */
#define YUM_REPO_HEADER "# Created by kiln\n"

/* Where a repository's packages come from: a repository needs one of these options. */
static const char *const yum_source_options[] = { "baseurl", "metalink", "mirrorlist", NULL };

/* Write the canonical form of a repository id into buf: spaces become '-', as in cloud-init.
 * Accepts ids made of [A-Za-z0-9_.:-] after that, the characters that yum and dnf allow.
 * Returns 0, or -EINVAL with the reason in reason. */
static int repo_id_canonicalize(const char *id, char *buf, size_t size, char *reason, size_t reason_size) {
        size_t n = strlen(id);

        if (n == 0) {
                (void) snprintf(reason, reason_size, "is empty");
                return -EINVAL;
        }
        if (n >= size || n > YUM_REPO_ID_MAX) {
                (void) snprintf(reason, reason_size, "is longer than %u characters", YUM_REPO_ID_MAX);
                return -EINVAL;
        }

        for (size_t i = 0; i < n; i++) {
                char c = id[i] == ' ' ? '-' : id[i];

                if (!isalnum((unsigned char) c) && !strchr("_.:-", c)) {
                        (void) snprintf(reason, reason_size, "contains '%c', which is not allowed in a repository "
                                        "id (only letters, digits, '_', '.', ':', '-' and spaces)", isprint((unsigned char) c) ? c : '?');
                        return -EINVAL;
                }
                buf[i] = c;
        }
        buf[n] = '\0';
        return 0;
}

/* Normalize an option name as cloud-init does: lower case, surrounding blanks removed, '-' to
 * '_'. Accepts names made of [a-z0-9_] after that. Returns 0, 1 for a name that is empty after
 * normalization (skipped), or -EINVAL with the reason. */
static int option_name_normalize(const char *name, char *buf, size_t size, char *reason, size_t reason_size) {
        size_t start = 0, end = strlen(name), n = 0;

        while (start < end && isspace((unsigned char) name[start]))
                start++;
        while (end > start && isspace((unsigned char) name[end - 1]))
                end--;
        if (start == end)
                return 1;
        if (end - start >= size || end - start > YUM_REPO_ID_MAX) {
                (void) snprintf(reason, reason_size, "has an option name longer than %u characters", YUM_REPO_ID_MAX);
                return -EINVAL;
        }

        for (size_t i = start; i < end; i++) {
                char c = name[i] == '-' ? '_' : (char) tolower((unsigned char) name[i]);

                if (!isalnum((unsigned char) c) && c != '_') {
                        (void) snprintf(reason, reason_size, "has the option '%.*s', whose name contains '%c' "
                                        "(only letters, digits, '_' and '-' are allowed)", (int) (end - start),
                                        name + start, isprint((unsigned char) c) ? c : '?');
                        return -EINVAL;
                }
                buf[n++] = c;
        }
        buf[n] = '\0';
        return 0;
}

/* Write one scalar of an option value: booleans as 1 or 0, numbers as Python's str() writes them,
 * strings as they are. A tab follows each newline of a string, so that each further line continues
 * the option and cannot start a section or another option. */
static int value_scalar_write(FILE *f, const char *option, const json_t *v, char *reason, size_t reason_size) {
        if (json_is_boolean(v))
                fputs(json_is_true(v) ? "1" : "0", f);
        else if (json_is_integer(v))
                fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                fprintf(f, "%.17g", json_real_value(v));
        else if (json_is_string(v)) {
                const char *s = json_string_value(v);

                if (strlen(s) != json_string_length(v) || strchr(s, '\r')) {
                        (void) snprintf(reason, reason_size, "has the option '%s' with a NUL or carriage "
                                        "return character", option);
                        return -EINVAL;
                }
                for (; *s; s++) {
                        fputc(*s, f);
                        if (*s == '\n')
                                fputc('\t', f);
                }
        } else {
                _cleanup_free_ char *shown = json_to_message(v, YUM_SHOWN_VALUE_MAX);

                (void) snprintf(reason, reason_size, "has the option '%s' set to %s, not a string, number, "
                                "boolean or list of them", option, shown ?: "another value");
                return -EINVAL;
        }
        return 0;
}

/* Write "option = value\n"; a list becomes one line per item, as cloud-init joins them. */
static int option_write(FILE *f, const char *option, const json_t *v, char *reason, size_t reason_size) {
        const json_t *item;
        size_t i;
        int r;

        fprintf(f, "%s = ", option);
        if (!json_is_array(v)) {
                r = value_scalar_write(f, option, v, reason, reason_size);
                if (r < 0)
                        return r;
                fputc('\n', f);
                return 0;
        }

        json_array_foreach(v, i, item) {
                if (i > 0)
                        fputs("\n\t", f);
                r = value_scalar_write(f, option, item, reason, reason_size);
                if (r < 0)
                        return r;
        }
        fputc('\n', f);
        return 0;
}

/* Render the .repo file of one repository (cfg: its mapping, or null) as cloud-init's
 * ConfigParser writes it: the header, "[ID]", one "option = value" line per option in the
 * order given, and a blank line. A null option is skipped with a warning counted in
 * *ret_skipped. On success *ret_text is the file (caller owns it). Returns 0, -EINVAL with the
 * reason in reason, or -ENOMEM. */
static int repo_render(const char *id, const json_t *cfg, char **ret_text, unsigned *ret_skipped, char *reason,
                       size_t reason_size) {
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        bool has_source = false;
        unsigned skipped = 0;
        const char *name;
        const json_t *v;
        int r;

        if (cfg && !json_is_null(cfg) && !json_is_object(cfg)) {
                _cleanup_free_ char *shown = json_to_message(cfg, YUM_SHOWN_VALUE_MAX);

                (void) snprintf(reason, reason_size, "is %s, not a mapping of repository options",
                                shown ?: "another value");
                return -EINVAL;
        }

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s[%s]\n", YUM_REPO_HEADER, id);

        json_object_foreach((json_t *) cfg, name, v) {
                char option[YUM_REPO_ID_MAX + 1];

                r = option_name_normalize(name, option, sizeof(option), reason, reason_size);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (json_is_null(v)) {
                        skipped++;
                        continue;
                }
                for (const char *const *s = yum_source_options; *s; s++)
                        if (streq(option, *s))
                                has_source = true;
                r = option_write(f, option, v, reason, reason_size);
                if (r < 0)
                        return r;
        }
        fputc('\n', f);
        /* Closing the stream sets text and size for good. */
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;

        if (!has_source) {
                (void) snprintf(reason, reason_size, "has none of baseurl, metalink and mirrorlist, so yum "
                                "would have no place to fetch its packages from");
                return -EINVAL;
        }
        if (size > YUM_REPO_FILE_MAX) {
                (void) snprintf(reason, reason_size, "renders to %zu bytes, more than the maximum of %u", size,
                                YUM_REPO_FILE_MAX);
                return -EINVAL;
        }

        *ret_text = TAKE_PTR(text);
        *ret_skipped = skipped;
        return 0;
}

/* Write the file of one repository unless it exists. canonical ids already written in this run
 * are in written, so that "my repo" and "my-repo" do not both claim my-repo.repo. Returns 1 when
 * written, 0 when skipped, <0 after reporting an error against the item. */
static int repo_write(Context *ctx, const char *dir, size_t index, const char *id, const json_t *cfg,
                      json_t *written) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        char canonical[YUM_REPO_ID_MAX + 1], reason[YUM_REASON_MAX] = "";
        unsigned skipped = 0;
        int r;

        r = repo_id_canonicalize(id, canonical, sizeof(canonical), reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "yum_repos: the repository id '%s' %s, so it is not "
                                    "written.", id, reason);
        if (json_object_get(written, canonical)) {
                report_warning(ctx, (int) index, "yum_repos: the repository '%s' has the same file name %s.repo "
                               "as an earlier one, skipping.", id, canonical);
                return 0;
        }

        r = repo_render(canonical, cfg, &text, &skipped, reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, (int) index, r, "Failed to render yum repository '%s': %m", id);
        if (r < 0)
                return report_error(ctx, (int) index, 0, "yum_repos: the repository '%s' %s, so it is not written.",
                                    id, reason);
        if (skipped > 0)
                report_warning(ctx, (int) index, "yum_repos: the repository '%s' has %u options set to null, "
                               "ignoring.", id, skipped);
        if (json_object_set_new(written, canonical, json_true()) < 0)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to render yum repository '%s': %m", id);

        if (asprintf(&path, "%s/%s.repo", dir, canonical) < 0) {
                path = NULL;
                return report_error(ctx, (int) index, -ENOMEM, "Failed to render yum repository '%s': %m", id);
        }
        r = root_exists(ctx->root_fd, path);
        if (r < 0)
                return report_error(ctx, (int) index, r, "Failed to check for '%s': %m", path);
        if (r > 0) {
                log_info("Skipping yum repository '%s': %s already exists.", id, path);
                return 0;
        }

        r = write_file_atomic(ctx->root_fd, path, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, (int) index, r, "Failed to write '%s': %m", path);
        log_info("Wrote %s.", path);
        return 1;
}

/* The folder of the .repo files: yum_repo_dir, or the default. Returns NULL after reporting an
 * invalid value. */
static const char *repo_dir_get(Context *ctx, const json_t *config) {
        const json_t *v = json_object_get(config, "yum_repo_dir");
        const char *dir;

        if (!v || json_is_null(v))
                return YUM_REPO_DIR_DEFAULT;
        dir = json_string_value(v);
        if (!dir || dir[0] != '/' || strlen(dir) != json_string_length(v) || strchr(dir, '\n')) {
                _cleanup_free_ char *shown = json_to_message(v, YUM_SHOWN_VALUE_MAX);

                (void) report_error(ctx, -1, 0, "yum_repo_dir is %s, not an absolute path, so no repository is "
                                    "written.", shown ?: "another value");
                return NULL;
        }
        return dir;
}

static int yum_repos_run(Context *ctx, const json_t *config) {
        _cleanup_(json_decrefp) json_t *written = NULL;
        const json_t *repos = json_object_get(config, "yum_repos"), *cfg;
        const char *dir, *id;
        int failed = 0, changed = 0;
        size_t index = 0;

        if (!repos || json_is_null(repos) || (json_is_object(repos) && json_object_size(repos) == 0)) {
                log_debug("yum_repos is empty, no repository to write.");
                return 0;
        }
        if (!json_is_object(repos)) {
                _cleanup_free_ char *shown = json_to_message(repos, YUM_SHOWN_VALUE_MAX);

                return report_error(ctx, -1, 0, "yum_repos is %s, not a mapping of repository ids to options.",
                                    shown ?: "another value");
        }
        dir = repo_dir_get(ctx, config);
        if (!dir)
                return -EINVAL;
        written = json_object();
        if (!written)
                return report_error(ctx, -1, -ENOMEM, "Failed to write yum repositories: %m");

        json_object_foreach((json_t *) repos, id, cfg) {
                int r = repo_write(ctx, dir, index++, id, cfg, written);

                if (r < 0 && failed == 0)
                        failed = r;
                if (r > 0)
                        changed = 1;
        }
        return failed < 0 ? failed : changed;
}

static const char *const yum_repos_config_keys[] = { "yum_repos", "yum_repo_dir", NULL };

/* The rules of repo_id_canonicalize() and repo_render() for every repository. */
static int yum_repos_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *id;
        const json_t *cfg;

        json_object_foreach((json_t *) v, id, cfg) {
                _cleanup_free_ char *text = NULL;
                char canonical[YUM_REPO_ID_MAX + 1], reason[YUM_REASON_MAX] = "";
                unsigned skipped = 0;
                int r;

                r = repo_id_canonicalize(id, canonical, sizeof(canonical), reason, sizeof(reason));
                if (r < 0) {
                        (void) snprintf(message, size, "has the repository id '%s', which %s.", id, reason);
                        return r;
                }
                r = repo_render(canonical, cfg, &text, &skipped, reason, sizeof(reason));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        (void) snprintf(message, size, "has the repository '%s', which %s.", id, reason);
                        return r;
                }
                if (skipped > 0) {
                        (void) snprintf(message, size, "has the repository '%s' with options set to null, which "
                                        "are ignored.", id);
                        return SHAPE_CHECK_WARNING;
                }
        }
        return 0;
}

static const KeyShape option_value_item = { .types = SHAPE_STRING | SHAPE_INTEGER | SHAPE_NUMBER | SHAPE_BOOLEAN };
static const KeyShape option_value = {
        .types = SHAPE_STRING | SHAPE_INTEGER | SHAPE_NUMBER | SHAPE_BOOLEAN | SHAPE_LIST | SHAPE_NULL,
        .items = &option_value_item,
};

static const KeyField repo_fields[] = {
        { .name = "baseurl", .shape = { .types = SHAPE_STRING | SHAPE_LIST, .items = &option_value_item },
          .description = KEY_DESCRIPTION("URL of the repository's packages. A repository needs baseurl, "
                                         "metalink or mirrorlist.") },
        { .name = "metalink", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("URL of a metalink file that lists the repository's mirrors.") },
        { .name = "mirrorlist", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("URL of a file that lists the repository's mirrors.") },
        { .name = "name", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("Human-readable name of the repository.") },
        { .name = "enabled", .shape = { .types = SHAPE_BOOLEAN | SHAPE_INTEGER | SHAPE_STRING },
          .description = KEY_DESCRIPTION("Whether yum uses the repository. Booleans are written as 1 or "
                                         "0.") },
        { .name = "gpgcheck", .shape = { .types = SHAPE_BOOLEAN | SHAPE_INTEGER | SHAPE_STRING },
          .description = KEY_DESCRIPTION("Whether yum checks the signatures of the repository's "
                                         "packages.") },
        { .name = "gpgkey", .shape = { .types = SHAPE_STRING | SHAPE_LIST, .items = &option_value_item },
          .description = KEY_DESCRIPTION("URL or URLs of the keys that sign the packages; a list is "
                                         "written one per line.") },
        {}
};

static const KeyShape repo_shape = {
        .types = SHAPE_MAPPING | SHAPE_NULL,
        .fields = repo_fields,
        .other_fields = &option_value,
};

static const KeyField yum_repos_fields[] = {
        { .name = "yum_repos",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .other_fields = &repo_shape, .check = yum_repos_check },
          .description = KEY_DESCRIPTION("yum repositories by id, each a mapping of yum.conf repository "
                                         "options, written to ID.repo in yum_repo_dir (spaces in the id "
                                         "become '-'). An existing file is kept. Applied once per "
                                         "instance.") },
        { .name = "yum_repo_dir", .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("Folder of the .repo files. Default: /etc/yum.repos.d.") },
        {}
};

const AgentModule module_yum_repos = {
        .name = "yum_repos",
        .config_keys = yum_repos_config_keys,
        .config_fields = yum_repos_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = yum_repos_run,
};
