/* SPDX-License-Identifier: Apache-2.0 */
/* Instance data in cloud-init's layout: the standard "v1" keys, the datasource's own tree under
 * "ds", and the key aliases and copies that cloud-init makes for Jinja templates and queries. */

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "instance-data.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "log.h"

/* An os-release file is a few hundred bytes. */
#define OS_RELEASE_MAX (64U * 1024U)
/* Objects nested deeper than this are copied without aliases. Metadata parsed from YAML is at
 * most YAML_DEPTH_MAX (64) levels deep, so this only bounds the recursion. */
#define INSTANCE_DATA_DEPTH_MAX 128U

/* Keys whose values cloud-init redacts from the world-readable instance data, matched by name
 * at any depth or by their full path ("ds/vendor_data"), ignoring case. */
static const char *const sensitive_keys[] = {
        "combined_cloud_config",
        "merged_cfg",
        "merged_system_cfg",
        "security-credentials",
        "userdata",
        "user-data",
        "user_data",
        "vendordata",
        "vendor-data",
        "ds/vendor_data",
};

/* Datasources whose raw tree is the crawl of a metadata service, kept under "ds" with the
 * service's own key names ("meta-data", "dynamic"), as cloud-init keeps its crawled metadata.
 * Other datasources give "ds": {"meta_data": ...}. */
static const char *const crawled_datasources[] = {
        "ec2",
};

/* The operators of Jinja's lexer, longest first so that "//" becomes one '_', as in cloud-init's
 * alias names (Jinja 3.1, jinja2/lexer.py). */
static const char *const jinja_operators[] = {
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
};

/* Distributions whose ID is their variant; the others map through variant_aliases. */
static const char *const variant_ids[] = {
        "almalinux", "alpine", "aosc", "arch", "azurelinux", "centos", "cloudlinux", "debian",
        "eurolinux", "fedora", "mariner", "miraclelinux", "openeuler", "opencloudos", "openmandriva",
        "photon", "raspberry-pi-os", "rhel", "rocky", "suse", "tencentos", "virtuozzo",
};

static const struct {
        const char *id;
        const char *variant;
} variant_aliases[] = {
        { "ubuntu",             "ubuntu" },
        { "linuxmint",          "ubuntu" },
        { "mint",               "ubuntu" },
        { "redhat",             "rhel" },
        { "opensuse",           "suse" },
        { "opensuse-leap",      "suse" },
        { "opensuse-microos",   "suse" },
        { "opensuse-tumbleweed", "suse" },
        { "sle_hpc",            "suse" },
        { "sle-micro",          "suse" },
        { "sles",               "suse" },
};

typedef struct Distro {
        char *id;
        char *version_id;
        char *version_codename;
        char *version;
        char *pretty_name;
} Distro;

static void distro_done(Distro *d) {
        free(d->id);
        free(d->version_id);
        free(d->version_codename);
        free(d->version);
        free(d->pretty_name);
        *d = (Distro) {};
}

static bool str_in(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

/* The alias of a key: each Jinja operator in it replaced by '_'. NULL when the key has none
 * or on allocation failure (then *ret_oom is true). Caller owns the result. */
static char *jinja_alias(const char *key, bool *ret_oom) {
        size_t n = strlen(key);
        _cleanup_free_ char *alias = malloc(n + 1);
        bool changed = false;
        size_t j = 0;

        *ret_oom = !alias;
        if (!alias)
                return NULL;

        for (size_t i = 0; i < n;) {
                size_t len = 0;

                for (size_t k = 0; k < ELEMENTSOF(jinja_operators) && len == 0; k++)
                        if (strneq(key + i, jinja_operators[k], strlen(jinja_operators[k])))
                                len = strlen(jinja_operators[k]);
                if (len > 0) {
                        alias[j++] = '_';
                        i += len;
                        changed = true;
                } else
                        alias[j++] = key[i++];
        }
        alias[j] = '\0';
        return changed ? TAKE_PTR(alias) : NULL;
}

static int compare_keys(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool key_is_version(const char *key) {
        if (key[0] != 'v' || key[1] == '\0')
                return false;
        for (const char *p = key + 1; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return false;
        return true;
}

static json_t *convert_object(const json_t *object, unsigned depth);

/* Add key, and what cloud-init adds with it, to result: the members of a "vN" object copied to
 * the level above, and the key's alias. */
static int convert_member(json_t *result, const char *key, const json_t *value, unsigned depth) {
        json_t *converted;
        _cleanup_free_ char *alias = NULL;
        bool oom;

        if (json_is_object(value) && depth < INSTANCE_DATA_DEPTH_MAX)
                converted = convert_object(value, depth + 1);
        else
                converted = json_deep_copy(value);
        if (!converted || json_object_set_new(result, key, converted) < 0)
                return -ENOMEM;

        if (json_is_object(converted) && key_is_version(key)) {
                const char *subkey;
                json_t *subvalue;

                json_object_foreach(converted, subkey, subvalue)
                        if (json_object_set_new(result, subkey, json_deep_copy(subvalue)) < 0)
                                return -ENOMEM;
        }

        alias = jinja_alias(key, &oom);
        if (oom)
                return -ENOMEM;
        if (alias && json_object_set_new(result, alias, json_deep_copy(json_object_get(result, key))) < 0)
                return -ENOMEM;
        return 0;
}

/* A copy of object as cloud-init hands instance data to templates: keys in sorted order, each
 * followed by its alias, recursively through objects (not through arrays). */
static json_t *convert_object(const json_t *object, unsigned depth) {
        size_t n = json_object_size(object), i = 0;
        _cleanup_free_ const char **keys = calloc(n + 1, sizeof(char *));
        json_auto_t *result = json_object();
        const char *key;
        json_t *value;

        if (!keys || !result)
                return NULL;
        json_object_foreach((json_t *) object, key, value)
                keys[i++] = key;
        qsort(keys, n, sizeof(char *), compare_keys);

        for (i = 0; i < n; i++)
                if (convert_member(result, keys[i], json_object_get(object, keys[i]), depth) < 0)
                        return NULL;
        return TAKE_PTR(result);
}

static bool key_is_sensitive(const char *key, const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(sensitive_keys); i++)
                if (strcasecmp(key, sensitive_keys[i]) == 0 || strcasecmp(path, sensitive_keys[i]) == 0)
                        return true;
        return false;
}

/* Append the paths ("ds/meta-data/KEY") of the sensitive keys under object to list. */
static int collect_sensitive_keys(const json_t *object, const char *prefix, unsigned depth, json_t *list) {
        const char *key;
        json_t *value;

        json_object_foreach((json_t *) object, key, value) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", key) < 0) {
                        path = NULL;
                        return -ENOMEM;
                }
                if (key_is_sensitive(key, path) && json_array_append_new(list, json_string(path)) < 0)
                        return -ENOMEM;
                if (json_is_object(value) && depth < INSTANCE_DATA_DEPTH_MAX) {
                        int r = collect_sensitive_keys(value, path, depth + 1, list);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int compare_json_strings(const void *a, const void *b) {
        return strcmp(json_string_value(*(json_t *const *) a), json_string_value(*(json_t *const *) b));
}

static json_t *sensitive_key_list(const json_t *data) {
        json_auto_t *list = json_array();
        size_t n;

        if (!list || collect_sensitive_keys(data, "", 0, list) < 0)
                return NULL;

        n = json_array_size(list);
        if (n > 1) {
                _cleanup_free_ json_t **items = calloc(n, sizeof(json_t *));
                json_auto_t *sorted = json_array();

                if (!items || !sorted)
                        return NULL;
                for (size_t i = 0; i < n; i++)
                        items[i] = json_array_get(list, i);
                qsort(items, n, sizeof(json_t *), compare_json_strings);
                for (size_t i = 0; i < n; i++)
                        if (json_array_append(sorted, items[i]) < 0)
                                return NULL;
                return TAKE_PTR(sorted);
        }
        return TAKE_PTR(list);
}

/* Parse one os-release value, shell-quoted as os-release(5) allows: '...' is literal, "..." and
 * bare text take backslash escapes. Stops at an unquoted blank or '#'. */
static char *os_release_value(const char *p, const char *end) {
        _cleanup_free_ char *value = malloc(end - p + 1);
        size_t n = 0;
        char quote = 0;

        if (!value)
                return NULL;
        for (; p < end; p++) {
                if (quote == '\'' && *p != '\'')
                        value[n++] = *p;
                else if (*p == '\\' && p + 1 < end && quote != '\'')
                        value[n++] = *++p;
                else if ((*p == '"' || *p == '\'') && (!quote || quote == *p))
                        quote = quote ? 0 : *p;
                else if (!quote && (*p == ' ' || *p == '\t' || *p == '#'))
                        break;
                else
                        value[n++] = *p;
        }
        value[n] = '\0';
        return TAKE_PTR(value);
}

static int distro_parse_line(Distro *d, const char *line, const char *end) {
        static const struct {
                const char *key;
                size_t offset;
        } fields[] = {
                { "ID",               offsetof(Distro, id) },
                { "VERSION_ID",       offsetof(Distro, version_id) },
                { "VERSION_CODENAME", offsetof(Distro, version_codename) },
                { "VERSION",          offsetof(Distro, version) },
                { "PRETTY_NAME",      offsetof(Distro, pretty_name) },
        };
        const char *eq = memchr(line, '=', end - line);

        if (!eq)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                char **field = (char **) ((char *) d + fields[i].offset);

                if ((size_t) (eq - line) != strlen(fields[i].key) || !strneq(line, fields[i].key, eq - line))
                        continue;
                free(*field);
                *field = os_release_value(eq + 1, end);
                return *field ? 0 : -ENOMEM;
        }
        return 0;
}

/* Read ID, VERSION_ID, VERSION_CODENAME, VERSION and PRETTY_NAME from the root's
 * /etc/os-release. A missing or unreadable file leaves them NULL. */
static int distro_read(const Context *ctx, Distro *d) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_file_at(ctx->root_fd, "etc/os-release", OS_RELEASE_MAX, &data, &size);
        if (r < 0) {
                log_debug_errno(r, "Cannot read /etc/os-release, the distribution stays unknown: %m");
                return 0;
        }

        for (const char *line = data, *end; line < data + size; line = end + 1) {
                end = memchr(line, '\n', data + size - line) ?: data + size;
                while (line < end && (*line == ' ' || *line == '\t'))
                        line++;
                if (line == end || *line == '#')
                        continue;
                r = distro_parse_line(d, line, end);
                if (r < 0)
                        return r;
        }

        /* Raspberry Pi OS calls itself Debian in os-release; cloud-init recognizes it by this file. */
        if (root_exists(ctx->root_fd, "etc/rpi-issue") > 0) {
                free(d->id);
                d->id = strdup("raspberry-pi-os");
                if (!d->id)
                        return -ENOMEM;
        }
        return 0;
}

/* The codename in VERSION="7 (Core)": a first word, a blank, then the text in parentheses. */
static char *codename_from_version(const char *version) {
        const char *open, *close;

        if (!version)
                return NULL;
        open = strchr(version, ' ');
        if (!open || open == version || open[1] != '(')
                return NULL;
        open += 2;
        close = strchr(open, ')');
        if (!close || close == open)
                return NULL;
        return strndup(open, close - open);
}

/* cloud-init's (distro, distro_version, distro_release) triple. */
static int distro_info(const Context *ctx, const char *machine, char **ret_name, char **ret_version,
                       char **ret_release) {
        _cleanup_(distro_done) Distro d = {};
        _cleanup_free_ char *name = NULL, *version = NULL, *release = NULL;
        int r;

        r = distro_read(ctx, &d);
        if (r < 0)
                return r;

        name = strdup(d.id ?: "");
        version = strdup(d.version_id ?: "");
        if (!name || !version)
                return -ENOMEM;
        if (strstr(name, "sles") || strstr(name, "suse"))
                release = strdup(machine);
        else if (streq(name, "alpine") || streq(name, "photon") || streq(name, "virtuozzo"))
                release = strdup(d.pretty_name ?: "");
        else if (d.version_codename && d.version_codename[0])
                release = strdup(d.version_codename);
        else
                release = codename_from_version(d.version) ?: strdup("");
        if (!release)
                return -ENOMEM;
        if (streq(name, "rhel")) {
                free(name);
                name = strdup("redhat");
                if (!name)
                        return -ENOMEM;
        }

        *ret_name = TAKE_PTR(name);
        *ret_version = TAKE_PTR(version);
        *ret_release = TAKE_PTR(release);
        return 0;
}

static const char *variant_of(const char *distro) {
        for (size_t i = 0; i < ELEMENTSOF(variant_ids); i++)
                if (strcasecmp(distro, variant_ids[i]) == 0)
                        return variant_ids[i];
        for (size_t i = 0; i < ELEMENTSOF(variant_aliases); i++)
                if (strcasecmp(distro, variant_aliases[i].id) == 0)
                        return variant_aliases[i].variant;
        return "linux";
}

/* cloud-init's cloud_id: the cloud name, with the partitions of AWS and Azure recognized by region,
 * and the platform when the cloud name is unknown. */
static const char *cloud_id_of(const char *cloud_name, const char *region, const char *platform) {
        static const struct {
                const char *region_prefix;
                const char *cloud_name;
                const char *cloud_id;
        } partitions[] = {
                { "cn-",     "aws",   "aws-china" },
                { "us-gov-", "aws",   "aws-gov" },
                { "china",   "azure", "azure-china" },
        };
        bool name_known = cloud_name && cloud_name[0] && !streq(cloud_name, "unknown");

        if (region && region[0] && !streq(region, "unknown"))
                for (size_t i = 0; i < ELEMENTSOF(partitions); i++)
                        if (strneq(region, partitions[i].region_prefix,
                                   strlen(partitions[i].region_prefix)) &&
                            cloud_name && streq(cloud_name, partitions[i].cloud_name))
                                return partitions[i].cloud_id;
        if (name_known)
                return cloud_name;
        return platform ?: "unknown";
}

static int set_string(json_t *object, const char *key, const char *value) {
        return json_object_set_new(object, key, value ? json_string(value) : json_null()) < 0 ? -ENOMEM : 0;
}

/* The system half of v1: distribution, kernel release and machine, as cloud-init reports them. */
static int v1_add_system(const Context *ctx, json_t *v1) {
        _cleanup_free_ char *distro = NULL, *version = NULL, *release = NULL;
        struct utsname u = {};
        int r;

        (void) uname(&u);
        r = distro_info(ctx, u.machine, &distro, &version, &release);
        if (r < 0)
                return r;

        if (set_string(v1, "distro", distro) < 0 ||
            set_string(v1, "distro_version", version) < 0 ||
            set_string(v1, "distro_release", release) < 0 ||
            set_string(v1, "variant", variant_of(distro)) < 0 ||
            set_string(v1, "kernel_release", u.release) < 0 ||
            set_string(v1, "machine", u.machine) < 0)
                return -ENOMEM;
        return 0;
}

/* v1: the datasource's normalized metadata, plus cloud-init's dashed spellings and cloud_id. */
static json_t *build_v1(const Context *ctx, const json_t *metadata) {
        static const struct {
                const char *key;
                const char *dashed;
        } standard[] = {
                { "instance_id",       "instance-id" },
                { "local_hostname",    "local-hostname" },
                { "availability_zone", "availability-zone" },
                { "cloud_name",        "cloud-name" },
                { "region",            NULL },
                { "platform",          NULL },
        };
        json_auto_t *v1 = metadata ? json_deep_copy(metadata) : json_object();

        if (!v1 || !json_is_object(v1))
                return NULL;

        for (size_t i = 0; i < ELEMENTSOF(standard); i++) {
                json_t *value = json_object_get(v1, standard[i].key);

                if (!value && json_object_set_new(v1, standard[i].key, value = json_null()) < 0)
                        return NULL;
                if (standard[i].dashed && json_object_set(v1, standard[i].dashed, value) < 0)
                        return NULL;
        }
        if (!json_object_get(v1, "public_ssh_keys") &&
            json_object_set_new(v1, "public_ssh_keys", json_array()) < 0)
                return NULL;
        if (set_string(v1, "cloud_id",
                       cloud_id_of(json_string_value(json_object_get(v1, "cloud_name")),
                                   json_string_value(json_object_get(v1, "region")),
                                   json_string_value(json_object_get(v1, "platform")))) < 0)
                return NULL;
        if (v1_add_system(ctx, v1) < 0)
                return NULL;
        return TAKE_PTR(v1);
}

/* ds: the datasource's raw tree without user and vendor data. */
static json_t *build_ds(const Instance *instance) {
        bool crawled = instance->datasource &&
                str_in(instance->datasource, crawled_datasources, ELEMENTSOF(crawled_datasources));
        json_auto_t *ds = json_object();
        json_t *meta_data, *tags;
        const char *key;
        json_t *value;

        if (!ds)
                return NULL;
        json_object_foreach(instance->raw, key, value) {
                if (streq(key, "user-data") || streq(key, "vendor-data") || streq(key, "tags"))
                        continue;
                if (json_object_set_new(ds, !crawled && streq(key, "meta-data") ? "meta_data" : key,
                                        json_deep_copy(value)) < 0)
                        return NULL;
        }

        /* EC2 serves instance tags under meta-data/tags/instance/, where cloud-init's crawl keeps
         * them. kiln's EC2 datasource stores them beside meta-data. */
        tags = json_object_get(instance->raw, "tags");
        meta_data = json_object_get(ds, crawled ? "meta-data" : "meta_data");
        if (json_is_object(tags) && json_is_object(meta_data) && !json_object_get(meta_data, "tags"))
                if (json_object_set_new(meta_data, "tags", json_pack("{s:O}", "instance", tags)) < 0)
                        return NULL;
        if (!json_object_get(ds, crawled ? "meta-data" : "meta_data") &&
            json_object_set_new(ds, "meta_data", json_object()) < 0)
                return NULL;
        return TAKE_PTR(ds);
}

json_t *instance_data_build(const Context *ctx) {
        const Instance *instance;
        json_auto_t *data = NULL, *v1 = NULL, *ds = NULL, *sensitive = NULL;

        assert(ctx);
        instance = ctx->instance;

        v1 = build_v1(ctx, instance ? instance->metadata : NULL);
        ds = instance ? build_ds(instance) : json_pack("{s:{}}", "meta_data");
        if (!v1 || !ds)
                return NULL;
        data = json_pack("{s:[], s:O, s:O}", "base64_encoded_keys", "ds", ds, "v1", v1);
        if (!data)
                return NULL;
        sensitive = sensitive_key_list(data);
        if (!sensitive || json_object_set(data, "sensitive_keys", sensitive) < 0)
                return NULL;
        return convert_object(data, 0);
}

/* cloud-init's placeholder for a redacted value, which `cloud-init query` also prints. */
#define REDACTED_VALUE "redacted for non-root user"

/* True when key, or the key whose Jinja alias it is ('_' for '-'), is sensitive at path. */
static bool key_or_alias_is_sensitive(const char *key, const char *path) {
        _cleanup_free_ char *dashed_key = strdup(key), *dashed_path = strdup(path);

        if (key_is_sensitive(key, path))
                return true;
        /* Without memory for the copies, redact rather than leak. */
        if (!dashed_key || !dashed_path)
                return true;
        for (char *p = dashed_key; *p; p++)
                if (*p == '_')
                        *p = '-';
        for (char *p = dashed_path; *p; p++)
                if (*p == '_')
                        *p = '-';
        return key_is_sensitive(dashed_key, dashed_path);
}

/* Replace the value of every sensitive key under object, at any depth, by the placeholder. */
static int redact(json_t *object, const char *prefix, unsigned depth) {
        const char *key;
        json_t *value;

        json_object_foreach(object, key, value) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", key) < 0) {
                        path = NULL;
                        return -ENOMEM;
                }
                if (key_or_alias_is_sensitive(key, path)) {
                        if (json_object_set_new(object, key, json_string(REDACTED_VALUE)) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (json_is_object(value) && depth < INSTANCE_DATA_DEPTH_MAX) {
                        int r = redact(value, path, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int write_json(const Context *ctx, const char *path, const json_t *doc, mode_t mode) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);

        if (!text)
                return -ENOMEM;
        return write_file_atomic(ctx->root_fd, path, text, strlen(text), mode, (uid_t) -1, (gid_t) -1,
                                 WRITE_MKDIR_PARENTS);
}

int instance_data_write(const Context *ctx) {
        json_auto_t *sensitive = NULL, *redacted = NULL;
        json_t *keys;
        int r;

        sensitive = instance_data_build(ctx);
        if (!sensitive)
                return -ENOMEM;
        /* As in cloud-init, the merged configuration is in the sensitive document only. */
        if (json_object_set(sensitive, "merged_cfg", ctx->config ?: json_object()) < 0)
                return -ENOMEM;
        keys = json_object_get(sensitive, "sensitive_keys");
        if (json_is_array(keys) && json_array_insert_new(keys, 0, json_string("merged_cfg")) < 0)
                return -ENOMEM;

        redacted = json_deep_copy(sensitive);
        if (!redacted)
                return -ENOMEM;
        r = redact(redacted, "", 0);
        if (r < 0)
                return r;
        (void) json_object_del(redacted, "merged_cfg");

        /* The sensitive document first: a reader that finds the public one finds both. */
        r = write_json(ctx, INSTANCE_DATA_SENSITIVE_FILE, sensitive, 0600);
        if (r < 0)
                return r;
        return write_json(ctx, INSTANCE_DATA_FILE, redacted, 0644);
}
