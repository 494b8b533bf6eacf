/* SPDX-License-Identifier: Apache-2.0 */
/* The NoCloud datasource: meta-data, user-data and vendor-data from a seed directory, with the
 * kernel command line's ds=nocloud;i=ID;h=HOST;s=SEED overriding and pointing to seeds. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "datasource.h"
#include "detect.h"
#include "lib/fileio.h"
#include "lib/string-util.h"
#include "lib/yaml-util.h"
#include "log.h"

/* Largest seed file kiln reads. */
#define NOCLOUD_FILE_MAX (32U * 1024U * 1024U)
/* cloud-init's instance id for a seed whose meta-data names none. */
#define NOCLOUD_DEFAULT_INSTANCE_ID "nocloud"

static const char *const seed_dirs[] = {
        "var/lib/kiln/seed/nocloud",
        "var/lib/kiln/seed/nocloud-net",
        "var/lib/cloud/seed/nocloud",
        "var/lib/cloud/seed/nocloud-net",
};

/* The settings of ds=nocloud;key=value;... on the kernel command line. */
typedef struct CmdlineSeed {
        char *instance_id;
        char *hostname;
        char *seed;
} CmdlineSeed;

static void cmdline_seed_done(CmdlineSeed *s) {
        free(s->instance_id);
        free(s->hostname);
        free(s->seed);
        *s = (CmdlineSeed) {};
}

static int parse_cmdline_seed(const Context *ctx, CmdlineSeed *ret) {
        _cleanup_free_ char *ds = NULL;
        char *save = NULL;
        int r;

        *ret = (CmdlineSeed) {};
        r = kernel_cmdline_get(ctx, "ds", &ds);
        if (r < 0 || !ds || !ds_value_is_nocloud(ds))
                return r;

        for (char *tok = strtok_r(ds, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
                char *eq = strchr(tok, '=');
                char **field = NULL;

                if (!eq)
                        continue;
                *eq = '\0';
                if (streq(tok, "i") || streq(tok, "instance-id"))
                        field = &ret->instance_id;
                else if (streq(tok, "h") || streq(tok, "local-hostname"))
                        field = &ret->hostname;
                else if (streq(tok, "s") || streq(tok, "seedfrom"))
                        field = &ret->seed;
                if (!field)
                        continue;
                free(*field);
                *field = strdup(eq + 1);
                if (!*field)
                        return -ENOMEM;
        }
        return 1;
}

/* A seed given as file:///path/ or /path/ on the command line is a directory inside the root. */
static const char *seed_path_from_uri(const char *seed) {
        if (strneq(seed, "file://", 7))
                return seed + 7;
        if (seed[0] == '/')
                return seed;
        return NULL;
}

static int find_seed_dir(const Context *ctx, const CmdlineSeed *cmdline, char **ret) {
        int r;

        *ret = NULL;
        if (cmdline->seed) {
                const char *path = seed_path_from_uri(cmdline->seed);
                size_t n;

                if (!path)
                        return -EPROTONOSUPPORT;
                /* Kept relative to the root, like seed_dirs, so messages print it as "/PATH". */
                path += strspn(path, "/");
                n = strlen(path);
                while (n > 0 && path[n - 1] == '/')
                        n--;
                *ret = strndup(path, n);
                return *ret ? 1 : -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(seed_dirs); i++) {
                _cleanup_free_ char *meta = NULL;

                if (asprintf(&meta, "%s/meta-data", seed_dirs[i]) < 0)
                        return -ENOMEM;
                r = root_exists(ctx->root_fd, meta);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = strdup(seed_dirs[i]);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        return 0;
}

static int nocloud_detect(Context *ctx) {
        _cleanup_free_ char *dir = NULL;
        CmdlineSeed cmdline;
        int r;

        r = parse_cmdline_seed(ctx, &cmdline);
        cmdline_seed_done(&cmdline);
        if (r != 0)
                return r;
        return find_seed_dir(ctx, &cmdline, &dir);
}

static int read_seed_file(const Context *ctx, const char *dir, const char *name, char **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        return read_file_at(ctx->root_fd, path, NOCLOUD_FILE_MAX, ret, ret_size);
}

/* public-keys in meta-data: a string (one or more lines), a list, or a mapping of names to keys. */
static json_t *collect_public_keys(const json_t *value) {
        json_t *keys = json_array(), *item;
        const char *name;
        size_t i;

        if (json_is_string(value)) {
                _cleanup_free_ char *copy = strdup(json_string_value(value));
                char *save = NULL;

                for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
                        if (*line && *line != '#')
                                (void) json_array_append_new(keys, json_string(line));
        } else if (json_is_array(value)) {
                json_array_foreach(value, i, item)
                        if (json_is_string(item))
                                (void) json_array_append(keys, item);
        } else if (json_is_object(value)) {
                json_object_foreach((json_t *) value, name, item) {
                        json_t *key = json_is_object(item) ? json_object_get(item, "openssh-key") : item;
                        json_t *k;
                        size_t j;

                        if (json_is_string(key))
                                (void) json_array_append(keys, key);
                        /* A name may map to a list of keys, as cloud-init accepts. */
                        json_array_foreach(key, j, k)
                                if (json_is_string(k))
                                        (void) json_array_append(keys, k);
                }
        }
        return keys;
}

static int parse_meta_data(const char *text, size_t size, json_t **ret, char **reterr_message) {
        json_t *doc = NULL;
        YamlError err = {};
        int r;

        r = yaml_parse_json(text, size, &doc, /* ret_warnings= */ NULL, /* ret_positions= */ NULL, &err);
        if (r < 0) {
                return set_message(reterr_message, r, "invalid meta-data at line %u, column %u: %s", err.line,
                            err.column, err.message);
        }
        if (json_is_null(doc)) {
                json_decref(doc);
                doc = json_object();
        }
        if (!json_is_object(doc)) {
                json_decref(doc);
                *reterr_message = strdup("meta-data is not a mapping of keys to values");
                return -EBADMSG;
        }
        *ret = doc;
        return 0;
}

static const char *json_scalar_string(const json_t *v, char *buf, size_t size) {
        if (json_is_string(v))
                return json_string_value(v);
        if (json_is_integer(v)) {
                (void) snprintf(buf, size, "%lld", (long long) json_integer_value(v));
                return buf;
        }
        return NULL;
}

static int nocloud_fill(Instance *i, const json_t *meta, const CmdlineSeed *cmdline, char **reterr_message) {
        const json_t *id_value = json_object_get(meta, "instance-id");
        const json_t *host_value = json_object_get(meta, "local-hostname");
        const char *host = cmdline->hostname;
        char buf[32];
        const char *id = cmdline->instance_id;

        if (!id && id_value) {
                id = json_scalar_string(id_value, buf, sizeof(buf));
                if (!id)
                        return set_message(reterr_message, -EBADMSG, "instance-id in meta-data must be a string, not %s",
                                    json_is_true(id_value) || json_is_false(id_value) ? "a boolean" :
                                    json_is_null(id_value) ? "null" : json_is_array(id_value) ? "a list" :
                                    json_is_object(id_value) ? "a mapping" : "a number with a fraction");
        }
        if (!host && host_value && !json_is_null(host_value)) {
                host = json_string_value(host_value);
                if (!host)
                        return set_message(reterr_message, -EBADMSG, "local-hostname in meta-data must be a string");
        }

        i->datasource = strdup("nocloud");
        i->instance_id = strdup(id ?: NOCLOUD_DEFAULT_INSTANCE_ID);
        if (!i->datasource || !i->instance_id)
                return -ENOMEM;
        (void) json_object_set_new(i->raw, "meta-data", json_deep_copy(meta));
        (void) json_object_set_new(i->metadata, "instance_id", json_string(i->instance_id));
        (void) json_object_set_new(i->metadata, "local_hostname", host ? json_string(host) : json_null());
        (void) json_object_set_new(i->metadata, "cloud_name", json_string("nocloud"));
        (void) json_object_set_new(i->metadata, "platform", json_string("nocloud"));
        (void) json_object_set_new(i->metadata, "region", json_null());
        (void) json_object_set_new(i->metadata, "availability_zone", json_null());
        (void) json_object_set_new(i->metadata, "public_ssh_keys",
                                   collect_public_keys(json_object_get(meta, "public-keys")));
        return 0;
}

static int read_optional(const Context *ctx, const char *dir, const char *name, char **data, size_t *size,
                         bool *present, char **reterr_message) {
        int r = read_seed_file(ctx, dir, name, data, size);

        if (r < 0 && r != -ENOENT)
                return set_message(reterr_message, r, "cannot read /%s/%s: %s", dir, name,
                            r == -EBADFD ? "not a regular file" : strerror(-r));
        *present = r >= 0;
        return 0;
}

static int nocloud_fetch_seed(Context *ctx, const CmdlineSeed *cmdline, Instance **ret, char **reterr_message) {
        _cleanup_instance_free_ Instance *i = NULL;
        _cleanup_free_ char *dir = NULL, *meta_text = NULL;
        json_t *meta = NULL;
        size_t meta_size = 0;
        bool has_meta = false;
        int r;

        r = find_seed_dir(ctx, cmdline, &dir);
        if (r == -EPROTONOSUPPORT)
                return set_message(reterr_message, r, "seed '%s' is not a local path; only file:// and absolute paths "
                            "are read", cmdline->seed);
        if (r < 0)
                return r;
        /* Without a seed, the kernel command line must name the instance itself. */
        if (!dir && !cmdline->instance_id)
                return set_message(reterr_message, -ENOENT, "no seed found in /var/lib/kiln/seed/nocloud or "
                            "/var/lib/cloud/seed/nocloud, and no i= on the kernel command line");

        if (dir) {
                r = read_optional(ctx, dir, "meta-data", &meta_text, &meta_size, &has_meta, reterr_message);
                if (r < 0)
                        return r;
                if (!has_meta && !cmdline->instance_id)
                        return set_message(reterr_message, -ENOENT, "seed /%s has no meta-data", dir);
        }
        r = parse_meta_data(meta_text ?: "", meta_size, &meta, reterr_message);
        if (r < 0)
                return r;

        i = instance_new();
        r = i ? nocloud_fill(i, meta, cmdline, reterr_message) : -ENOMEM;
        json_decref(meta);
        if (r < 0)
                return r;

        if (dir) {
                r = read_optional(ctx, dir, "user-data", &i->user_data, &i->user_data_size, &i->has_user_data,
                                  reterr_message);
                if (r < 0)
                        return r;
                r = read_optional(ctx, dir, "vendor-data", &i->vendor_data, &i->vendor_data_size,
                                  &i->has_vendor_data, reterr_message);
                if (r < 0)
                        return r;
                log_info("Read NoCloud seed /%s.", dir);
        }
        *ret = TAKE_PTR(i);
        return 0;
}

static int nocloud_fetch(Context *ctx, Instance **ret, char **reterr_message) {
        CmdlineSeed cmdline;
        int r;

        r = parse_cmdline_seed(ctx, &cmdline);
        if (r >= 0)
                r = nocloud_fetch_seed(ctx, &cmdline, ret, reterr_message);
        cmdline_seed_done(&cmdline);
        return r;
}

const Datasource datasource_nocloud = {
        .name = "nocloud",
        .detect = nocloud_detect,
        .fetch = nocloud_fetch,
};
