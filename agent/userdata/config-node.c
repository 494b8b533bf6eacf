/* SPDX-License-Identifier: Apache-2.0 */
/* Cloud-config values paired with the source positions of their nodes: building the pair from
 * yaml_parse_json()'s positions, changing containers on both sides at once, and turning the pair
 * back into positions by JSON pointer. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config-node.h"

static json_t *shadow_position(const json_t *shadow) {
        return shadow ? json_array_get(shadow, 0) : NULL;
}

static json_t *shadow_children(const json_t *shadow) {
        return shadow ? json_array_get(shadow, 1) : NULL;
}

static json_t *shadow_or_null(json_t *shadow) {
        return !shadow || json_is_null(shadow) ? NULL : shadow;
}

/* Make a shadow [position, children]. It takes children, not position. */
static json_t *shadow_new(json_t *position, json_t *children) {
        json_t *s = json_array();

        if (!s) {
                json_decref(children);
                return NULL;
        }
        if (json_array_append(s, position ?: json_null()) < 0 ||
            json_array_append_new(s, children ?: json_null()) < 0) {
                json_decref(s);
                return NULL;
        }
        return s;
}

void config_node_done(ConfigNode *n) {
        json_decref(n->value);
        json_decref(n->shadow);
        *n = (ConfigNode) {};
}

void config_node_ref(const ConfigNode *src, ConfigNode *ret) {
        *ret = (ConfigNode) { json_incref(src->value), json_incref(src->shadow) };
}

ConfigNode config_node_child_key(const ConfigNode *n, const char *key) {
        return (ConfigNode) { json_object_get(n->value, key),
                              shadow_or_null(json_object_get(shadow_children(n->shadow), key)) };
}

ConfigNode config_node_child_index(const ConfigNode *n, size_t i) {
        return (ConfigNode) { json_array_get(n->value, i),
                              shadow_or_null(json_array_get(shadow_children(n->shadow), i)) };
}

int config_node_copy_object(const ConfigNode *src, ConfigNode *ret) {
        json_t *children = src->shadow ? json_copy(shadow_children(src->shadow)) : json_object();
        ConfigNode n = {};

        n.value = json_copy(src->value);
        n.shadow = shadow_new(shadow_position(src->shadow), children);
        if (!n.value || !n.shadow) {
                config_node_done(&n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

int config_node_new_array(const ConfigNode *like, ConfigNode *ret) {
        ConfigNode n = {};

        n.value = json_array();
        n.shadow = shadow_new(shadow_position(like->shadow), json_array());
        if (!n.value || !n.shadow) {
                config_node_done(&n);
                return -ENOMEM;
        }
        *ret = n;
        return 0;
}

int config_node_object_set(ConfigNode *dst, const char *key, const ConfigNode *child) {
        json_t *children = shadow_children(dst->shadow);

        if (json_object_set(dst->value, key, child->value) < 0)
                return -ENOMEM;
        if (!child->shadow) {
                (void) json_object_del(children, key);
                return 0;
        }
        return json_object_set(children, key, child->shadow) < 0 ? -ENOMEM : 0;
}

void config_node_object_del(ConfigNode *dst, const char *key) {
        (void) json_object_del(dst->value, key);
        (void) json_object_del(shadow_children(dst->shadow), key);
}

int config_node_array_append(ConfigNode *dst, const ConfigNode *child) {
        if (json_array_append(dst->value, child->value) < 0 ||
            json_array_append(shadow_children(dst->shadow), child->shadow ?: json_null()) < 0)
                return -ENOMEM;
        return 0;
}

int config_node_array_append_new(ConfigNode *dst, json_t *value) {
        if (json_array_append_new(dst->value, value) < 0 ||
            json_array_append(shadow_children(dst->shadow), json_null()) < 0)
                return -ENOMEM;
        return 0;
}

int config_node_array_insert(ConfigNode *dst, size_t i, const ConfigNode *child) {
        if (json_array_insert(dst->value, i, child->value) < 0 ||
            json_array_insert(shadow_children(dst->shadow), i, child->shadow ?: json_null()) < 0)
                return -ENOMEM;
        return 0;
}

int config_node_array_set(ConfigNode *dst, size_t i, const ConfigNode *child) {
        if (json_array_set(dst->value, i, child->value) < 0 ||
            json_array_set(shadow_children(dst->shadow), i, child->shadow ?: json_null()) < 0)
                return -ENOMEM;
        return 0;
}

void config_node_array_remove(ConfigNode *dst, size_t i) {
        (void) json_array_remove(dst->value, i);
        (void) json_array_remove(shadow_children(dst->shadow), i);
}

bool config_path_valid(const ConfigPath *p) {
        return p->length != CONFIG_PATH_OVERFLOW;
}

size_t config_path_push(ConfigPath *p, const char *key) {
        size_t saved = p->length, n = saved;

        if (saved == CONFIG_PATH_OVERFLOW)
                return saved;
        if (n + 1 >= sizeof(p->text)) {
                p->length = CONFIG_PATH_OVERFLOW;
                return saved;
        }
        p->text[n++] = '/';
        for (const char *k = key; *k; k++) {
                const char *escaped = NULL;
                size_t need;

                if (*k == '~')
                        escaped = "~0";
                else if (*k == '/')
                        escaped = "~1";
                need = escaped ? 2 : 1;

                if (n + need >= sizeof(p->text)) {
                        p->length = CONFIG_PATH_OVERFLOW;
                        return saved;
                }
                if (escaped) {
                        memcpy(p->text + n, escaped, 2);
                        n += 2;
                } else
                        p->text[n++] = *k;
        }
        p->text[n] = '\0';
        p->length = n;
        return saved;
}

size_t config_path_push_index(ConfigPath *p, size_t i) {
        char buf[24];

        (void) snprintf(buf, sizeof(buf), "%zu", i);
        return config_path_push(p, buf);
}

void config_path_pop(ConfigPath *p, size_t saved) {
        p->length = saved;
        if (saved != CONFIG_PATH_OVERFLOW)
                p->text[saved] = '\0';
}

/* The shadow of value, whose node is at path in positions. NULL when nothing below has a
 * position that fits a path. */
static int shadow_build(const json_t *value, const json_t *positions, ConfigPath *path, json_t **ret) {
        json_t *children = NULL, *child;
        const char *key;
        size_t i;
        int r;

        if (!positions || !config_path_valid(path)) {
                *ret = NULL;
                return 0;
        }
        if (json_is_object(value))
                children = json_object();
        else if (json_is_array(value))
                children = json_array();
        if ((json_is_object(value) || json_is_array(value)) && !children)
                return -ENOMEM;

        json_object_foreach((json_t *) value, key, child) {
                json_t *s;
                size_t saved = config_path_push(path, key);

                r = shadow_build(child, positions, path, &s);
                config_path_pop(path, saved);
                if (r >= 0 && s && json_object_set_new(children, key, s) < 0)
                        r = -ENOMEM;
                if (r < 0) {
                        json_decref(children);
                        return r;
                }
        }
        json_array_foreach(value, i, child) {
                json_t *s;
                size_t saved = config_path_push_index(path, i);

                r = shadow_build(child, positions, path, &s);
                config_path_pop(path, saved);
                if (r >= 0 && json_array_append_new(children, s ?: json_null()) < 0)
                        r = -ENOMEM;
                if (r < 0) {
                        json_decref(children);
                        return r;
                }
        }

        *ret = shadow_new(json_object_get(positions, path->text), children);
        return *ret ? 0 : -ENOMEM;
}

/* Record the positions in shadow into positions, by JSON pointer. */
static int shadow_flatten(const json_t *shadow, ConfigPath *path, json_t *positions) {
        json_t *position = shadow_position(shadow), *children = shadow_children(shadow), *child;
        const char *key;
        size_t i;

        if (!shadow || !config_path_valid(path))
                return 0;
        if (position && !json_is_null(position) && json_object_set(positions, path->text, position) < 0)
                return -ENOMEM;
        json_object_foreach(children, key, child) {
                size_t saved = config_path_push(path, key);
                int r = shadow_flatten(shadow_or_null(child), path, positions);

                config_path_pop(path, saved);
                if (r < 0)
                        return r;
        }
        json_array_foreach(children, i, child) {
                size_t saved = config_path_push_index(path, i);
                int r = shadow_flatten(shadow_or_null(child), path, positions);

                config_path_pop(path, saved);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A new shadow shaped exactly like value, where every node has one: the positions of shadow
 * (which may be NULL) and null where it has none. JSON patch operations rely on that shape. */
static int shadow_complete(const json_t *value, const json_t *shadow, json_t **ret) {
        json_t *children = NULL, *child, *s;
        const char *key;
        size_t i;
        int r;

        if (json_is_object(value))
                children = json_object();
        else if (json_is_array(value))
                children = json_array();
        if ((json_is_object(value) || json_is_array(value)) && !children)
                return -ENOMEM;

        json_object_foreach((json_t *) value, key, child) {
                json_t *child_shadow = shadow_or_null(json_object_get(shadow_children(shadow), key));

                r = shadow_complete(child, child_shadow, &s);
                if (r >= 0 && json_object_set_new(children, key, s) < 0)
                        r = -ENOMEM;
                if (r < 0) {
                        json_decref(children);
                        return r;
                }
        }
        json_array_foreach(value, i, child) {
                json_t *child_shadow = shadow_or_null(json_array_get(shadow_children(shadow), i));

                r = shadow_complete(child, child_shadow, &s);
                if (r >= 0 && json_array_append_new(children, s) < 0)
                        r = -ENOMEM;
                if (r < 0) {
                        json_decref(children);
                        return r;
                }
        }

        *ret = shadow_new(shadow_position(shadow), children);
        return *ret ? 0 : -ENOMEM;
}

int config_node_copy_deep(const ConfigNode *src, ConfigNode *ret) {
        ConfigNode n = { json_deep_copy(src->value), NULL };
        int r;

        if (!n.value)
                return -ENOMEM;
        r = shadow_complete(n.value, src->shadow, &n.shadow);
        if (r < 0) {
                config_node_done(&n);
                return r;
        }
        *ret = n;
        return 0;
}

int config_node_from_positions(json_t *value, const json_t *positions, ConfigNode *ret) {
        ConfigPath path = {};
        json_t *shadow;
        int r;

        r = shadow_build(value, positions, &path, &shadow);
        if (r < 0)
                return r;
        *ret = (ConfigNode) { json_incref(value), shadow };
        return 0;
}

int config_node_positions(const ConfigNode *n, json_t **ret) {
        json_t *positions = json_object();
        ConfigPath path = {};
        int r;

        if (!positions)
                return -ENOMEM;
        r = shadow_flatten(n->shadow, &path, positions);
        if (r < 0) {
                json_decref(positions);
                return r;
        }
        *ret = positions;
        return 0;
}

const char *config_value_kind(const json_t *v) {
        /* No default case: the compiler flags a JSON type that is not handled. */
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
