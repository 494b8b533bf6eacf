/* SPDX-License-Identifier: Apache-2.0 */
/* The ssh module: SSH host keys for a new instance and their fingerprints on the console, sshd's
 * PasswordAuthentication, and the authorized keys of the default user and of root. Each key means
 * what it means to cloud-init's ssh and set_passwords modules. */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authorized-keys.h"
#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "ssh-internal.h"

static void ssh_config_done(SshConfig *c) {
        json_decref(c->authorized_keys);
        *c = (SshConfig) {};
}

/* " at line N" for the node at path ("/ssh_genkeytypes/1"), "" when the line is unknown. */
static void format_at_line(const Context *ctx, const char *path, char *buf, size_t size) {
        unsigned line = config_line(ctx, path);

        if (line > 0)
                (void) snprintf(buf, size, " at line %u", line);
        else
                buf[0] = '\0';
}

static const char *json_type_name(const json_t *v) {
        /* No default case: the compiler warns when a JSON type is missing. */
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "a mapping";
        case JSON_ARRAY:
                return "a list";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "a value";
}

/* Read a boolean key. A string that parse_boolean() reads ("yes", "off", "1") is accepted with a
 * warning, as cloud-init accepts such strings, because only unquoted words are YAML booleans.
 * Anything else that is not a boolean or null is an error, and *ret is then fallback, the safe
 * reading for the key. Returns 0, or -EINVAL after reporting the error. */
static int config_bool(Context *ctx, const json_t *config, const char *key, bool default_value, bool fallback,
                       bool *ret) {
        const json_t *v = json_object_get(config, key);
        _cleanup_free_ char *text = NULL;
        char path[64], at[32];
        int r;

        (void) snprintf(path, sizeof(path), "/%s", key);
        format_at_line(ctx, path, at, sizeof(at));

        if (!v || json_is_null(v)) {
                *ret = default_value;
                return 0;
        }
        r = json_parse_boolean(v, ret);
        if (r == 0)
                return 0;
        if (r > 0) {
                report_warning(ctx, -1, "%s: expected boolean, got the string '%s'%s, which is read as %s. "
                               "Write %s without quotes.", key, json_string_value(v), at,
                               *ret ? "true" : "false", *ret ? "true" : "false");
                return 0;
        }

        *ret = fallback;
        if (json_is_string(v))
                return report_error(ctx, -1, 0, "%s: expected boolean, got '%s'%s. Write true or false "
                                    "without quotes.", key, json_string_value(v), at);
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return report_error(ctx, -1, 0, "%s: expected boolean, got %s%s. Write true or false.", key,
                            text ?: json_type_name(v), at);
}

/* ssh_pwauth: a boolean, or as in cloud-init a string: a boolean word, or "unchanged" in any case.
 * Anything else leaves sshd's configuration untouched and is an error. */
static int config_password_auth(Context *ctx, const json_t *config, PasswordAuth *ret) {
        const json_t *v = json_object_get(config, "ssh_pwauth");
        char at[32];
        bool b;
        int r;

        *ret = PASSWORD_AUTH_UNCHANGED;
        if (!v || json_is_null(v))
                return 0;
        if (json_is_string(v) && strcasecmp(json_string_value(v), PASSWORD_AUTH_UNCHANGED_STRING) == 0) {
                format_at_line(ctx, "/ssh_pwauth", at, sizeof(at));
                report_warning(ctx, -1, "ssh_pwauth: expected boolean, got the string '%s'%s, so "
                               "PasswordAuthentication is left unchanged. Remove the key instead.",
                               json_string_value(v), at);
                return 0;
        }

        r = config_bool(ctx, config, "ssh_pwauth", false, false, &b);
        if (r < 0)
                return r;
        *ret = b ? PASSWORD_AUTH_YES : PASSWORD_AUTH_NO;
        return 0;
}

/* ssh_genkeytypes: a list of key types, or one type as a string (with a warning). Null is an
 * empty list, as in cloud-init. Unknown types are reported and left out. */
static int config_genkey_types(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_genkeytypes"), *item;
        json_auto_t *list = NULL;
        char at[32];
        size_t i;
        int r = 0;

        if (!v) {
                for (i = 0; i < _HOST_KEY_TYPE_MAX; i++)
                        c->genkey_types[i] = (HostKeyType) i;
                c->n_genkey_types = _HOST_KEY_TYPE_MAX;
                return 0;
        }

        c->genkey_types_given = true;
        format_at_line(ctx, "/ssh_genkeytypes", at, sizeof(at));
        if (json_is_null(v))
                return 0;
        if (json_is_string(v)) {
                report_warning(ctx, -1, "ssh_genkeytypes: expected a list, got the string '%s'%s, which is read "
                               "as a list of one type. Write it as [%s].", json_string_value(v), at,
                               json_string_value(v));
                list = json_pack("[O]", v);
                if (!list)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_genkeytypes: %m");
                v = list;
        }
        if (!json_is_array(v))
                return report_error(ctx, -1, 0, "ssh_genkeytypes: expected a list of key types (rsa, ecdsa, "
                                    "ed25519), got %s%s.", json_type_name(v), at);

        json_array_foreach(v, i, item) {
                HostKeyType t = json_is_string(item) ? host_key_type_from_string(json_string_value(item)) :
                                                       _HOST_KEY_TYPE_INVALID;
                _cleanup_free_ char *text = NULL;
                char path[64];
                bool seen = false;

                if (t < 0) {
                        (void) snprintf(path, sizeof(path), "/ssh_genkeytypes/%zu", i);
                        format_at_line(ctx, path, at, sizeof(at));
                        text = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
                        r = report_error(ctx, (int) i, 0, "ssh_genkeytypes[%zu]: unsupported key type %s%s, "
                                         "expected rsa, ecdsa or ed25519, skipping it.", i,
                                         text ?: json_type_name(item), at);
                        continue;
                }
                for (size_t j = 0; j < c->n_genkey_types; j++)
                        seen = seen || c->genkey_types[j] == t;
                if (!seen)
                        c->genkey_types[c->n_genkey_types++] = t;
        }
        return r;
}

/* ssh_keys: a mapping of "<type>_<part>" to the content of that file. Null and an empty mapping
 * count as unset, so host keys are generated, where cloud-init would leave sshd without any. */
static int config_host_keys(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_keys");
        char at[32];

        if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
                return 0;

        if (!json_is_object(v)) {
                format_at_line(ctx, "/ssh_keys", at, sizeof(at));
                return report_error(ctx, -1, 0, "ssh_keys: expected a mapping such as 'rsa_private: ...', got "
                                    "%s%s. Host keys are generated instead.", json_type_name(v), at);
        }
        c->host_keys = v;
        return 0;
}

/* ssh_authorized_keys: a list of keys, or one key as a string (with a warning). Items that are not
 * strings are reported here, and keys_collect() skips them. */
static int config_authorized_keys(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *v = json_object_get(config, "ssh_authorized_keys"), *item;
        char at[32];
        size_t i;
        int r = 0;

        c->authorized_keys = json_array();
        if (!c->authorized_keys)
                return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
        if (!v || json_is_null(v))
                return 0;

        format_at_line(ctx, "/ssh_authorized_keys", at, sizeof(at));
        if (json_is_string(v)) {
                report_warning(ctx, -1, "ssh_authorized_keys: expected a list, got a string%s, which is read as "
                               "a list of one key. Write the key as a list item, '- ssh-...'.", at);
                if (json_array_append(c->authorized_keys, (json_t *) v) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
                return 0;
        }
        if (!json_is_array(v))
                return report_error(ctx, -1, 0, "ssh_authorized_keys: expected a list of public keys, got %s%s.",
                                    json_type_name(v), at);

        json_array_foreach(v, i, item) {
                char path[64];

                if (i >= AUTHORIZED_KEYS_MAX) {
                        r = report_error(ctx, (int) i, 0, "ssh_authorized_keys: more than %u keys, skipping the "
                                         "rest.", AUTHORIZED_KEYS_MAX);
                        break;
                }
                if (!json_is_string(item)) {
                        (void) snprintf(path, sizeof(path), "/ssh_authorized_keys/%zu", i);
                        format_at_line(ctx, path, at, sizeof(at));
                        r = report_error(ctx, (int) i, 0, "ssh_authorized_keys[%zu]: expected a public key as a "
                                         "string, got %s%s, skipping it.%s", i, json_type_name(item), at,
                                         json_is_object(item) ? " Quote a key that contains ': '." : "");
                }
                /* Every item is kept, so that later messages give the index the user wrote. */
                if (json_array_append(c->authorized_keys, (json_t *) item) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read ssh_authorized_keys: %m");
        }
        return r;
}

/* Read every key of the module. A bad value is reported and replaced by the reading that
 * changes least (no deletion of host keys, sshd's configuration untouched, root's keys prefixed),
 * so the other parts still run. Returns 0 or the first error. */
static int ssh_config_parse(Context *ctx, const json_t *config, SshConfig *c) {
        const json_t *opts = json_object_get(config, "disable_root_opts"), *publish;
        char at[32];
        bool quiet;
        int r = 0, k;

        k = config_bool(ctx, config, "ssh_deletekeys", true, false, &c->delete_keys);
        r = r < 0 ? r : k;
        k = config_genkey_types(ctx, config, c);
        r = r < 0 ? r : k;
        k = config_host_keys(ctx, config, c);
        r = r < 0 ? r : k;
        /* Key generation is always quiet; the fingerprints are printed either way. */
        k = config_bool(ctx, config, "ssh_quiet_keygen", false, false, &quiet);
        r = r < 0 ? r : k;
        k = config_password_auth(ctx, config, &c->password_auth);
        r = r < 0 ? r : k;
        k = config_bool(ctx, config, "disable_root", true, true, &c->disable_root);
        r = r < 0 ? r : k;
        k = config_bool(ctx, config, "allow_public_ssh_keys", true, false, &c->allow_public_keys);
        r = r < 0 ? r : k;
        k = config_authorized_keys(ctx, config, c);
        r = r < 0 ? r : k;

        c->disable_root_opts = DISABLE_ROOT_OPTS_DEFAULT;
        if (json_is_string(opts))
                c->disable_root_opts = json_string_value(opts);
        else if (opts && !json_is_null(opts)) {
                format_at_line(ctx, "/disable_root_opts", at, sizeof(at));
                k = report_error(ctx, -1, 0, "disable_root_opts: expected a string of authorized_keys options, got "
                                 "%s%s, so cloud-init's default is used.", json_type_name(opts), at);
                r = r < 0 ? r : k;
        }

        publish = json_object_get(config, "ssh_publish_hostkeys");
        if (publish && !json_is_object(publish) && !json_is_null(publish)) {
                format_at_line(ctx, "/ssh_publish_hostkeys", at, sizeof(at));
                k = report_error(ctx, -1, 0, "ssh_publish_hostkeys: expected a mapping such as '{enabled: false}', "
                                 "got %s%s.", json_type_name(publish), at);
                r = r < 0 ? r : k;
        } else if (publish)
                log_debug("ssh_publish_hostkeys has no effect: the EC2 and NoCloud datasources take no host keys.");
        return r;
}

/* Authorized keys. */

/* Scan comma-separated user names ("default, alice") as cloud-init splits them: set *has_default
 * when one is "default", and copy the first other name into first (size bytes) unless *ret_first
 * is set already. */
static void user_names_scan(const char *names, bool *has_default, const char **ret_first, char *first,
                            size_t size) {
        for (const char *p = names; *p;) {
                size_t len = strcspn(p, ","), start = strspn(p, " \t"), end = len;

                while (end > start && strchr(" \t", p[end - 1]))
                        end--;
                if (end - start == strlen("default") && strneq(p + start, "default", end - start))
                        *has_default = true;
                else if (end > start && !*ret_first && end - start < size) {
                        memcpy(first, p + start, end - start);
                        first[end - start] = '\0';
                        *ret_first = first;
                }
                p += len + (p[len] == ',');
        }
}

/* Whether users names the image's default user ("default"). users may be a list of names and
 * mappings, one comma-separated string, or a mapping of names, as cloud-init reads it.
 * *ret_first receives the first other user listed (borrowed from users or first, or NULL). */
static bool users_list_default(const json_t *users, const char **ret_first, char *first, size_t size) {
        bool has_default = false;
        const json_t *item;
        const char *key;
        size_t i;

        *ret_first = NULL;
        if (json_is_string(users)) {
                user_names_scan(json_string_value(users), &has_default, ret_first, first, size);
                return has_default;
        }

        if (json_is_object(users)) {
                json_object_foreach((json_t *) users, key, item) {
                        if (streq(key, "default"))
                                has_default = has_default || !json_is_false(item);
                        else if (!*ret_first)
                                *ret_first = key;
                }
                return has_default;
        }

        json_array_foreach(users, i, item) {
                const json_t *name = json_object_get(item, "name");

                if (json_is_string(item))
                        user_names_scan(json_string_value(item), &has_default, ret_first, first, size);
                /* A mapping without a name is the default user, as in cloud-init. */
                else if (json_is_object(item) && (!name || (json_is_string(name) &&
                                                            streq(json_string_value(name), "default"))))
                        has_default = true;
                else if (json_is_string(name) && !*ret_first)
                        *ret_first = json_string_value(name);
        }
        return has_default;
}

/* The user who gets the instance's SSH keys, as the users_groups module picks it for the
 * metadata's keys: the image's default user (system_info.default_user.name) when users lists
 * "default" or there is no users key, otherwise the first user listed. users: null creates no
 * user at all. Returns NULL (root only) when there is none. first is a buffer for a name taken
 * from a string. */
static const char *ssh_keys_user(const Context *ctx, const json_t *config, char *first, size_t size) {
        const json_t *users = json_object_get(config, "users");
        const char *default_user = NULL, *first_listed = NULL;
        const json_t *sources[] = { config, ctx->system_config };
        bool has_default;

        for (size_t i = 0; i < ELEMENTSOF(sources) && !default_user; i++)
                default_user = json_string_value(json_get_path(sources[i], "system_info", "default_user", "name", NULL));
        if (default_user && default_user[0] == '\0')
                default_user = NULL;

        if (!users)
                return default_user;
        if (json_is_null(users))
                return NULL;

        has_default = users_list_default(users, &first_listed, first, size);
        if (has_default && default_user)
                return default_user;
        return first_listed;
}

/* Replace every occurrence of from in s by to. Caller owns the result. */
static char *string_replace(const char *s, const char *from, const char *to) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, from_len = strlen(from);
        const char *hit;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        while ((hit = strstr(s, from))) {
                (void) fwrite(s, 1, (size_t) (hit - s), f);
                (void) fputs(to, f);
                s = hit + from_len;
        }
        (void) fputs(s, f);
        if (fclose(TAKE_PTR(f)) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* The options that refuse a root login with a key: disable_root_opts with $USER and
 * $DISABLE_USER filled in, in cloud-init's order. Caller owns the result. */
static char *disable_root_options(const char *opts, const char *user) {
        _cleanup_free_ char *with_user = NULL;

        with_user = string_replace(opts, "$USER", user ?: DISABLE_ROOT_NO_USER);
        if (!with_user)
                return NULL;
        return string_replace(with_user, "$DISABLE_USER", "root");
}

/* A copy of key without its final line breaks, or NULL (-ENOMEM). *ret_problem is NULL when the
 * copy is one line that authorized_key_parse() accepts, else the reason it is not, which follows
 * the key's name. */
static char *authorized_key_copy(const char *key, const char **ret_problem) {
        AuthorizedKey parsed;
        size_t len = strlen(key);
        char *copy;

        while (len > 0 && strchr("\r\n", key[len - 1]))
                len--;
        copy = strndup(key, len);
        if (!copy)
                return NULL;

        *ret_problem = NULL;
        if (copy[strcspn(copy, "\r\n")] != '\0')
                *ret_problem = "holds more than one line. Write each key as its own list item";
        else if (authorized_key_parse(copy, &parsed) < 0)
                *ret_problem = "is not an SSH public key: 'TYPE BASE64 [COMMENT]' with a type such as ssh-ed25519";
        return copy;
}

/* Append copies of the SSH public keys in list to keys (*n so far, at most max), without a final
 * line break. Other items are reported as source[i]: as errors when the user wrote them, as
 * warnings when they come from the metadata. Returns 0, or the first error. */
static int keys_collect(Context *ctx, const json_t *list, const char *source, bool from_user, char **keys,
                        size_t *n, size_t max) {
        const json_t *item;
        size_t i;
        int r = 0;

        json_array_foreach(list, i, item) {
                _cleanup_free_ char *copy = NULL;
                const char *problem;

                if (!json_is_string(item) || *n >= max)
                        continue;
                copy = authorized_key_copy(json_string_value(item), &problem);
                if (!copy)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read %s: %m", source);

                if (problem && from_user)
                        r = report_error(ctx, (int) i, 0, "%s[%zu] %s, skipping it.", source, i, problem);
                else if (problem)
                        report_warning(ctx, -1, "%s[%zu] %s, skipping it.", source, i, problem);
                else
                        keys[(*n)++] = TAKE_PTR(copy);
        }
        return r;
}

/* Add keys to the authorized_keys of user, reporting a failure. */
static int keys_add(Context *ctx, const char *user, char *const *keys, const char *options, const char *what) {
        int r;

        r = authorized_keys_add(ctx->root_fd, user, keys, options);
        if (r == -ESRCH)
                return report_error(ctx, -1, 0, "Failed to add %s to the authorized keys of '%s': no such user "
                                    "in /etc/passwd.", what, user);
        if (r == -ELOOP)
                return report_error(ctx, -1, r, "Failed to add %s to the authorized keys of '%s': ~/.ssh or "
                                    "~/.ssh/authorized_keys is a symbolic link, which kiln does not follow.", what,
                                    user);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to add %s to the authorized keys of '%s': %m", what, user);
        if (r > 0)
                log_info("Added %s to the authorized keys of '%s'.", what, user);
        else
                log_debug("The authorized keys of '%s' already hold %s.", user, what);
        return r;
}

/* ssh_authorized_keys go to the user who gets the instance's keys. Root gets them too, with the
 * metadata's keys, behind options that refuse the login unless disable_root is false, as in
 * cloud-init. Returns >0 when a file changed, 0, or the first error. */
static int authorized_keys_apply(Context *ctx, const json_t *config, const SshConfig *c) {
        const json_t *metadata_keys = ctx->instance ? json_object_get(ctx->instance->metadata, "public_ssh_keys") :
                                                      NULL;
        _cleanup_strv_free_ char **user_keys = NULL, **root_keys = NULL;
        _cleanup_free_ char *options = NULL;
        size_t n_user = 0, n_root = 0, n_metadata = MIN(json_array_size(metadata_keys), AUTHORIZED_KEYS_MAX);
        size_t n_config = json_array_size(c->authorized_keys);
        char first[256];
        const char *user;
        int r, k, changed = 0;

        user_keys = calloc(n_config + 1, sizeof(char *));
        root_keys = calloc(n_config + n_metadata + 1, sizeof(char *));
        if (!user_keys || !root_keys)
                return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys: %m");

        r = keys_collect(ctx, c->authorized_keys, "ssh_authorized_keys", true, user_keys, &n_user, n_config);
        if (c->allow_public_keys)
                (void) keys_collect(ctx, metadata_keys, "metadata public-keys", false, root_keys, &n_root, n_metadata);
        else if (n_metadata > 0)
                log_info("allow_public_ssh_keys is false, so root does not get the metadata's keys.");
        for (size_t i = 0; i < n_user; i++) {
                root_keys[n_root] = strdup(user_keys[i]);
                if (!root_keys[n_root++])
                        return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys: %m");
        }

        user = ssh_keys_user(ctx, config, first, sizeof(first));
        if (n_user > 0 && user && !streq(user, "root")) {
                log_info("ssh_authorized_keys go to '%s', the user who gets the instance's SSH keys.", user);
                k = keys_add(ctx, user, user_keys, /* options= */ NULL, "the keys of ssh_authorized_keys");
                if (k < 0)
                        r = r < 0 ? r : k;
                changed |= k > 0;
        } else if (n_user > 0 && !user)
                log_info("There is no default user, so ssh_authorized_keys go to root only.");

        if (n_root == 0)
                return r < 0 ? r : changed;

        if (c->disable_root) {
                options = disable_root_options(c->disable_root_opts, user);
                if (!options)
                        return report_error(ctx, -1, -ENOMEM, "Failed to add the authorized keys of root: %m");
        }
        k = keys_add(ctx, "root", root_keys, options,
                     c->disable_root ? "the instance's keys with options that refuse the login (disable_root)" :
                                       "the instance's keys (disable_root is false)");
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;
        return r < 0 ? r : changed;
}

static int ssh_run(Context *ctx, const json_t *config) {
        _cleanup_(ssh_config_done) SshConfig c = {};
        int r, k, changed = 0;

        r = ssh_config_parse(ctx, config, &c);

        k = host_keys_setup(ctx, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        k = password_auth_apply(ctx, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        k = authorized_keys_apply(ctx, config, &c);
        if (k < 0)
                r = r < 0 ? r : k;
        changed |= k > 0;

        return r < 0 ? r : changed;
}

static const char *const ssh_config_keys[] = {
        "ssh_authorized_keys", "ssh_pwauth", "disable_root", "ssh_deletekeys", "ssh_genkeytypes", "ssh_keys",
        "ssh_quiet_keygen", "disable_root_opts", "ssh_publish_hostkeys", "allow_public_ssh_keys", NULL,
};

/* Checks that give `kiln validate` the verdicts of ssh_config_parse() and the steps after it. */

static int password_auth_check(const json_t *v, const char *source_text, char *message, size_t size) {
        int b;

        if (json_is_null(v) || json_is_boolean(v))
                return 0;
        if (!json_is_string(v)) {
                (void) snprintf(message, size, "must be true or false, not %s.", json_type_name(v));
                return -EINVAL;
        }
        if (strcasecmp(json_string_value(v), PASSWORD_AUTH_UNCHANGED_STRING) == 0) {
                (void) snprintf(message, size, "is the string '%s', so PasswordAuthentication is left unchanged. "
                                "Remove the key instead.", json_string_value(v));
                return SHAPE_CHECK_WARNING;
        }
        b = parse_boolean(json_string_value(v));
        if (b < 0) {
                (void) snprintf(message, size, "must be true or false, not '%s'.", json_string_value(v));
                return -EINVAL;
        }
        (void) snprintf(message, size, "is the string '%s', not a boolean, so it is read as %s. Write %s without "
                        "quotes.", json_string_value(v), b ? "true" : "false", b ? "true" : "false");
        return SHAPE_CHECK_WARNING;
}

static int genkey_types_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (!json_is_string(v))
                return 0;
        if (host_key_type_from_string(json_string_value(v)) < 0) {
                (void) snprintf(message, size, "has the unsupported key type '%s'. Use rsa, ecdsa or ed25519.",
                                json_string_value(v));
                return -EINVAL;
        }
        (void) snprintf(message, size, "is a string, which is read as a list of one type. Write it as [%s].",
                        json_string_value(v));
        return SHAPE_CHECK_WARNING;
}

/* Entries of ssh_keys that are skipped give a warning; the values are never shown, because a
 * private key is a secret. */
static int host_keys_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *entry;
        const json_t *value;
        int r = 0;

        message[0] = '\0';
        json_object_foreach((json_t *) v, entry, value) {
                HostKeyType t;
                HostKeyPart p;
                int k = host_key_entry_parse(entry, &t, &p);

                if (k == -ENOMEM)
                        return k;
                if (k < 0 && r == 0) {
                        (void) snprintf(message, size, "has the %s entry '%s', which is skipped. Use "
                                        "<type>_private, <type>_public or <type>_certificate with type rsa, "
                                        "ecdsa or ed25519.", k == -EOPNOTSUPP ? "security-key" : "unknown", entry);
                        r = SHAPE_CHECK_WARNING;
                }
                if (k >= 0 && (!json_is_string(value) ||
                               strlen(json_string_value(value)) != json_string_length(value))) {
                        (void) snprintf(message, size, "entry '%s' must be the content of the key file as a "
                                        "string.", entry);
                        return -EINVAL;
                }
        }
        return r;
}

static int authorized_key_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *copy = NULL;
        const char *problem;

        if (!json_is_string(v))
                return 0;
        copy = authorized_key_copy(json_string_value(v), &problem);
        if (!copy)
                return -ENOMEM;
        if (!problem)
                return 0;
        (void) snprintf(message, size, "%s.", problem);
        return -EINVAL;
}

static int authorized_keys_check(const json_t *v, const char *source_text, char *message, size_t size) {
        int r;

        if (!json_is_string(v))
                return 0;
        r = authorized_key_check(v, source_text, message, size);
        if (r < 0)
                return r;
        (void) snprintf(message, size, "is a string, which is read as a list of one key. Write the key as a "
                        "list item, '- ssh-...'.");
        return SHAPE_CHECK_WARNING;
}

static const char *const host_key_type_values[] = { "rsa", "ecdsa", "ed25519", NULL };

static const KeyShape genkey_type_shape = { .types = SHAPE_STRING, .values = host_key_type_values };
static const KeyShape authorized_key_shape = { .types = SHAPE_STRING, .check = authorized_key_check };

static const KeyField ssh_fields[] = {
        { .name = "ssh_authorized_keys",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &authorized_key_shape,
                     .check = authorized_keys_check },
          .description = KEY_DESCRIPTION("Public keys for the default user, or the first user listed, "
                                         "and for root, whose login they refuse unless disable_root is "
                                         "false.") },
        { .name = "ssh_pwauth",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_STRING | SHAPE_NULL, .check = password_auth_check },
          .description = KEY_DESCRIPTION("Set sshd's PasswordAuthentication to yes or no. Default: "
                                         "leave it unchanged.") },
        { .name = "disable_root",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Put options before root's authorized keys that refuse the "
                                         "login and name the user to log in as. Default: true.") },
        { .name = "disable_root_opts",
          .shape = { .types = SHAPE_STRING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("The authorized_keys options for root's keys when disable_root "
                                         "is true. $USER becomes the default user's name and "
                                         "$DISABLE_USER root.") },
        { .name = "ssh_deletekeys",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Delete the host keys that came with the image on a new "
                                         "instance. Default: true.") },
        { .name = "ssh_genkeytypes",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &genkey_type_shape,
                     .check = genkey_types_check },
          .description = KEY_DESCRIPTION("The host key types to generate when ssh_keys is not set. "
                                         "Default: [rsa, ecdsa, ed25519].") },
        { .name = "ssh_keys",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .check = host_keys_check },
          .description = KEY_DESCRIPTION("Host keys to install instead of generated ones: "
                                         "<type>_private, <type>_public and <type>_certificate for rsa, "
                                         "ecdsa and ed25519.") },
        { .name = "ssh_quiet_keygen",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Accepted for cloud-init's sake: kiln always generates keys "
                                         "quietly and prints the fingerprints.") },
        { .name = "ssh_publish_hostkeys",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL },
          .description = KEY_DESCRIPTION("Accepted for cloud-init's sake: the EC2 and NoCloud "
                                         "datasources take no host keys.") },
        { .name = "allow_public_ssh_keys",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Give the metadata service's public keys to the instance's "
                                         "users. Default: true.") },
        {}
};

/* Per instance, so that a reboot keeps the host keys. The runner also skips per-instance modules
 * when the metadata service is down and cached data is used, so an outage never replaces them. */
const AgentModule module_ssh = {
        .name = "ssh",
        .config_keys = ssh_config_keys,
        .config_fields = ssh_fields,
        .always_run = true,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = false,
        .run = ssh_run,
};
