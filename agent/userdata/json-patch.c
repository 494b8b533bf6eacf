/* SPDX-License-Identifier: Apache-2.0 */
/* JSON patches (RFC 6902) applied to a cloud-config with its source positions. The document is
 * patched as a deep copy in which every node has a shadow, so positions follow values that move
 * and the original stays as it was when an operation fails. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-patch.h"
#include "lib/macro.h"

typedef enum PatchOp {
        PATCH_ADD,
        PATCH_REMOVE,
        PATCH_REPLACE,
        PATCH_MOVE,
        PATCH_COPY,
        PATCH_TEST,
        _PATCH_OP_MAX,
        _PATCH_OP_INVALID = -EINVAL,
} PatchOp;

static const char *const patch_op_table[_PATCH_OP_MAX] = {
        [PATCH_ADD] = "add",
        [PATCH_REMOVE] = "remove",
        [PATCH_REPLACE] = "replace",
        [PATCH_MOVE] = "move",
        [PATCH_COPY] = "copy",
        [PATCH_TEST] = "test",
};

static PatchOp patch_op_from_string(const char *s) {
        for (PatchOp op = 0; op < _PATCH_OP_MAX; op++)
                if (streq(s, patch_op_table[op]))
                        return op;
        return _PATCH_OP_INVALID;
}

typedef struct Patch {
        ConfigNode doc;         /* owned, and every node has a shadow, see config_node_copy_deep() */
        size_t copied_nodes;
        size_t copied_bytes;
        char error[256];        /* why an operation failed, when it returned -EINVAL */
} Patch;

static void patch_done(Patch *p) {
        config_node_done(&p->doc);
}

static int patch_fail(Patch *p, const char *fmt, ...) _printf_(2, 3);
static int patch_fail(Patch *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* Split a JSON pointer into its unescaped reference tokens (NULL-terminated, caller owns).
 * Grammar: "" or ("/" TOKEN)*, where "~0" is '~' and "~1" is '/' inside a token, and any other
 * '~' is invalid. */
static int pointer_parse(Patch *p, const char *pointer, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **tokens = NULL;
        size_t n = 0;

        if (*pointer && *pointer != '/')
                return patch_fail(p, "invalid JSON pointer '%.200s', it must be empty or start with '/'",
                                  pointer);
        tokens = calloc(1, sizeof(char *));
        if (!tokens)
                return -ENOMEM;
        for (const char *s = pointer; *s == '/';) {
                size_t length = strcspn(s + 1, "/"), k = 0;
                char **grown, *token;

                token = malloc(length + 1);
                if (!token)
                        return -ENOMEM;
                for (size_t i = 1; i <= length; i++) {
                        if (s[i] != '~') {
                                token[k++] = s[i];
                                continue;
                        }
                        if (i == length || (s[i + 1] != '0' && s[i + 1] != '1')) {
                                free(token);
                                return patch_fail(p, "invalid JSON pointer '%.200s', '~' must be "
                                                  "followed by '0' or '1'", pointer);
                        }
                        token[k++] = s[++i] == '0' ? '~' : '/';
                }
                token[k] = '\0';
                grown = reallocarray(tokens, n + 2, sizeof(char *));
                if (!grown) {
                        free(token);
                        return -ENOMEM;
                }
                tokens = grown;
                tokens[n++] = token;
                tokens[n] = NULL;
                s += length + 1;
        }
        *ret = TAKE_PTR(tokens);
        *ret_n = n;
        return 0;
}

/* Parse an array index token: "0" or digits without a leading zero, or "-" (one past the end)
 * when allow_end is set. */
static int parse_array_index(const char *token, size_t size, bool allow_end, size_t *ret) {
        unsigned long long v;
        char *end;

        if (allow_end && streq(token, "-")) {
                *ret = size;
                return 0;
        }
        if (!*token || strspn(token, "0123456789") != strlen(token) || (token[0] == '0' && token[1]))
                return -EINVAL;
        errno = 0;
        v = strtoull(token, &end, 10);
        if (errno != 0 || *end || v > SIZE_MAX)
                return -ERANGE;
        *ret = (size_t) v;
        return 0;
}

/* The child of container n that token names (borrowed). */
static int node_get_child(Patch *p, const ConfigNode *n, const char *token, ConfigNode *ret) {
        size_t i;

        if (json_is_object(n->value)) {
                if (!json_object_get(n->value, token))
                        return patch_fail(p, "no member '%.200s'", token);
                *ret = config_node_child_key(n, token);
                return 0;
        }
        if (json_is_array(n->value)) {
                if (parse_array_index(token, 0, false, &i) < 0)
                        return patch_fail(p, "'%.200s' is not an index of a list", token);
                if (i >= json_array_size(n->value))
                        return patch_fail(p, "index %zu is past the end of a list of %zu", i,
                                          json_array_size(n->value));
                *ret = config_node_child_index(n, i);
                return 0;
        }
        return patch_fail(p, "'%.200s' names a member of %s", token, config_value_kind(n->value));
}

/* The node at tokens[0..n) (borrowed). */
static int patch_get(Patch *p, char **tokens, size_t n, ConfigNode *ret) {
        ConfigNode cur = p->doc;

        for (size_t i = 0; i < n; i++) {
                int r = node_get_child(p, &cur, tokens[i], &cur);
                if (r < 0)
                        return r;
        }
        *ret = cur;
        return 0;
}

/* Whether value, placed inside depth containers, nests deeper than JSON_PATCH_DEPTH_MAX. */
static bool depth_exceeds(const json_t *value, size_t depth) {
        const char *key;
        json_t *child;
        size_t i;

        if (!json_is_object(value) && !json_is_array(value))
                return false;
        if (++depth > JSON_PATCH_DEPTH_MAX)
                return true;
        json_object_foreach((json_t *) value, key, child)
                if (depth_exceeds(child, depth))
                        return true;
        json_array_foreach(value, i, child)
                if (depth_exceeds(child, depth))
                        return true;
        return false;
}

/* Put value (taken, with a complete shadow) at tokens: a member is set, a list item inserted. */
static int patch_add(Patch *p, char **tokens, size_t n, ConfigNode *value) {
        _cleanup_(config_node_done) ConfigNode v = TAKE_CONFIG_NODE(*value);
        const char *last;
        ConfigNode parent;
        size_t i;
        int r;

        if (depth_exceeds(v.value, n))
                return patch_fail(p, "the result would nest deeper than %d levels", JSON_PATCH_DEPTH_MAX);
        if (n == 0) {
                config_node_done(&p->doc);
                p->doc = TAKE_CONFIG_NODE(v);
                return 0;
        }
        r = patch_get(p, tokens, n - 1, &parent);
        if (r < 0)
                return r;
        last = tokens[n - 1];
        if (json_is_object(parent.value))
                return config_node_object_set(&parent, last, &v);
        if (!json_is_array(parent.value))
                return patch_fail(p, "'%.200s' names a member of %s", last, config_value_kind(parent.value));
        if (parse_array_index(last, json_array_size(parent.value), true, &i) < 0)
                return patch_fail(p, "'%.200s' is not an index of a list", last);
        if (i > json_array_size(parent.value))
                return patch_fail(p, "index %zu is past the end of a list of %zu", i,
                                  json_array_size(parent.value));
        return config_node_array_insert(&parent, i, &v);
}

/* Put value (taken, with a complete shadow) in place of the node at tokens, which must exist. */
static int patch_replace(Patch *p, char **tokens, size_t n, ConfigNode *value) {
        _cleanup_(config_node_done) ConfigNode v = TAKE_CONFIG_NODE(*value);
        ConfigNode parent, target;
        const char *last;
        size_t i;
        int r;

        if (n == 0)
                return patch_add(p, tokens, n, &v);
        r = patch_get(p, tokens, n - 1, &parent);
        if (r < 0)
                return r;
        last = tokens[n - 1];
        r = node_get_child(p, &parent, last, &target);
        if (r < 0)
                return r;
        if (depth_exceeds(v.value, n))
                return patch_fail(p, "the result would nest deeper than %d levels", JSON_PATCH_DEPTH_MAX);
        /* Set in place, so that a member keeps its place among the others. */
        if (json_is_object(parent.value))
                return config_node_object_set(&parent, last, &v);
        (void) parse_array_index(last, 0, false, &i);
        return config_node_array_set(&parent, i, &v);
}

/* Take the node at tokens out of the document. ret, when not NULL, receives it. */
static int patch_remove(Patch *p, char **tokens, size_t n, ConfigNode *ret) {
        ConfigNode parent, target;
        const char *last;
        size_t i;
        int r;

        if (n == 0)
                return patch_fail(p, "the whole document cannot be removed");
        r = patch_get(p, tokens, n - 1, &parent);
        if (r < 0)
                return r;
        last = tokens[n - 1];
        r = node_get_child(p, &parent, last, &target);
        if (r < 0)
                return r;
        if (ret)
                config_node_ref(&target, ret);
        if (json_is_object(parent.value)) {
                config_node_object_del(&parent, last);
                return 0;
        }
        (void) parse_array_index(last, 0, false, &i);
        config_node_array_remove(&parent, i);
        return 0;
}

/* A copy of a value of the patch (borrowed), with a shadow that has no positions. */
static int patch_value(json_t *value, ConfigNode *ret) {
        return config_node_copy_deep(&(ConfigNode) { value, NULL }, ret);
}

static void count_size(const json_t *value, size_t *nodes, size_t *bytes) {
        const char *key;
        json_t *child;
        size_t i;

        (*nodes)++;
        if (json_is_string(value))
                *bytes += json_string_length(value);
        json_object_foreach((json_t *) value, key, child) {
                *bytes += strlen(key);
                count_size(child, nodes, bytes);
        }
        json_array_foreach(value, i, child)
                count_size(child, nodes, bytes);
}

/* Equality as RFC 6902 "test" defines it: numbers by value, so 1 equals 1.0. */
static bool json_equal_rfc(const json_t *a, const json_t *b) {
        const char *key;
        json_t *child;
        size_t i;

        if (json_is_number(a) && json_is_number(b)) {
                if (json_is_integer(a) && json_is_integer(b))
                        return json_integer_value(a) == json_integer_value(b);
                return json_number_value(a) == json_number_value(b);
        }
        if (json_typeof(a) != json_typeof(b))
                return false;
        if (json_is_object(a)) {
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach((json_t *) a, key, child)
                        if (!json_object_get(b, key) || !json_equal_rfc(child, json_object_get(b, key)))
                                return false;
                return true;
        }
        if (json_is_array(a)) {
                if (json_array_size(a) != json_array_size(b))
                        return false;
                json_array_foreach(a, i, child)
                        if (!json_equal_rfc(child, json_array_get(b, i)))
                                return false;
                return true;
        }
        return json_equal(a, b);
}

static bool tokens_equal(char **a, size_t na, char **b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

/* Whether tokens a[0..na) are a proper prefix of b[0..nb). */
static bool tokens_proper_prefix(char **a, size_t na, char **b, size_t nb) {
        if (na >= nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

static int patch_move_or_copy(Patch *p, PatchOp op, char **from, size_t n_from, char **to, size_t n_to) {
        _cleanup_(config_node_done) ConfigNode value = {};
        ConfigNode source;
        int r;

        r = patch_get(p, from, n_from, &source);
        if (r < 0)
                return r;
        if (op == PATCH_MOVE) {
                if (tokens_equal(from, n_from, to, n_to))
                        return 0;
                if (tokens_proper_prefix(from, n_from, to, n_to))
                        return patch_fail(p, "a value cannot be moved into itself");
                r = patch_remove(p, from, n_from, &value);
                if (r < 0)
                        return r;
                return patch_add(p, to, n_to, &value);
        }

        count_size(source.value, &p->copied_nodes, &p->copied_bytes);
        if (p->copied_nodes > JSON_PATCH_COPIED_NODES_MAX || p->copied_bytes > JSON_PATCH_COPIED_BYTES_MAX)
                return patch_fail(p, "the copies add more than %u values or %u MiB",
                                  JSON_PATCH_COPIED_NODES_MAX, JSON_PATCH_COPIED_BYTES_MAX / 1024 / 1024);
        if (depth_exceeds(source.value, n_to))
                return patch_fail(p, "the result would nest deeper than %d levels", JSON_PATCH_DEPTH_MAX);
        r = config_node_copy_deep(&source, &value);
        if (r < 0)
                return r;
        return patch_add(p, to, n_to, &value);
}

/* A string member of an operation, NULL when it is missing or not a string. */
static const char *op_string(const json_t *op, const char *member) {
        return json_string_value(json_object_get(op, member));
}

static int patch_apply_one(Patch *p, const json_t *op_object) {
        _cleanup_strv_free_ char **path = NULL, **from = NULL;
        _cleanup_(config_node_done) ConfigNode value = {};
        json_t *v = json_object_get(op_object, "value");
        size_t n_path, n_from = 0;
        ConfigNode target;
        PatchOp op;
        int r;

        if (!json_is_object(op_object))
                return patch_fail(p, "an operation must be a mapping, not %s", config_value_kind(op_object));
        if (!op_string(op_object, "op"))
                return patch_fail(p, "the operation has no string member 'op'");
        op = patch_op_from_string(op_string(op_object, "op"));
        if (op < 0)
                return patch_fail(p, "unknown operation '%.64s'; the operations are add, remove, replace, "
                                  "move, copy and test", op_string(op_object, "op"));
        if (!op_string(op_object, "path"))
                return patch_fail(p, "the operation has no string member 'path'");
        r = pointer_parse(p, op_string(op_object, "path"), &path, &n_path);
        if (r < 0)
                return r;
        if (op == PATCH_MOVE || op == PATCH_COPY) {
                if (!op_string(op_object, "from"))
                        return patch_fail(p, "the operation has no string member 'from'");
                r = pointer_parse(p, op_string(op_object, "from"), &from, &n_from);
                if (r < 0)
                        return r;
        }
        if ((op == PATCH_ADD || op == PATCH_REPLACE || op == PATCH_TEST) && !v)
                return patch_fail(p, "the operation has no member 'value'");

        /* No default case: the compiler flags an operation that is not handled. */
        switch (op) {
        case PATCH_ADD:
                r = patch_value(v, &value);
                return r < 0 ? r : patch_add(p, path, n_path, &value);
        case PATCH_REMOVE:
                return patch_remove(p, path, n_path, NULL);
        case PATCH_REPLACE:
                r = patch_value(v, &value);
                return r < 0 ? r : patch_replace(p, path, n_path, &value);
        case PATCH_MOVE:
        case PATCH_COPY:
                return patch_move_or_copy(p, op, from, n_from, path, n_path);
        case PATCH_TEST:
                r = patch_get(p, path, n_path, &target);
                if (r < 0)
                        return r;
                if (!json_equal_rfc(target.value, v))
                        return patch_fail(p, "the value differs from the one the test expects");
                return 0;
        case _PATCH_OP_MAX:
        case _PATCH_OP_INVALID:
                break;
        }
        return -EINVAL;
}


int json_patch_apply(const char *text, size_t size, ConfigNode *doc, JsonPatchError *reterr) {
        _cleanup_(patch_done) Patch p = {};
        json_auto_t *patch = NULL;
        json_error_t error;
        const json_t *op;
        size_t i;
        int r;

        patch = json_loadb(text, size, JSON_DECODE_ANY, &error);
        if (!patch) {
                if (reterr)
                        (void) snprintf(reterr->message, sizeof(reterr->message), "invalid JSON at line %d, "
                                        "column %d: %s", error.line, error.column, error.text);
                return -EINVAL;
        }
        if (!json_is_array(patch)) {
                if (reterr)
                        (void) snprintf(reterr->message, sizeof(reterr->message), "a JSON patch is a list "
                                        "of operations, not %s", config_value_kind(patch));
                return -EINVAL;
        }
        if (json_array_size(patch) > JSON_PATCH_OPERATIONS_MAX) {
                if (reterr)
                        (void) snprintf(reterr->message, sizeof(reterr->message), "more than %d operations",
                                        JSON_PATCH_OPERATIONS_MAX);
                return -EINVAL;
        }

        r = config_node_copy_deep(doc, &p.doc);
        if (r < 0)
                return r;
        json_array_foreach(patch, i, op) {
                r = patch_apply_one(&p, op);
                if (r == -EINVAL && reterr)
                        (void) snprintf(reterr->message, sizeof(reterr->message), "operation %zu ('%.16s' "
                                        "at '%.200s'): %s", i, op_string(op, "op") ?: "?",
                                        op_string(op, "path") ?: "?", p.error);
                if (r < 0)
                        return r;
        }

        config_node_done(doc);
        *doc = TAKE_CONFIG_NODE(p.doc);
        return 0;
}
