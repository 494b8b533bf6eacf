/* SPDX-License-Identifier: Apache-2.0 */
/* A cloud-config value together with the source positions of its nodes, so that merging and
 * patching can move values around and messages can still give the line a value came from.
 * No logging. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest JSON pointer kept for positions and messages, as yaml_parse_json() records them. */
#define CONFIG_PATH_MAX 1024

/* A value and its shadow. The shadow contains the source positions of the value and of every
 * node below it, as [position, children]. position is what yaml_parse_json() recorded for the
 * node, or null. children is an object of shadows by key, or an array of shadows aligned with the
 * items, with null for an item that has none. A NULL shadow means no positions anywhere below.
 * An owned ConfigNode has a reference to each, and a borrowed one, as the child accessors return,
 * has none. */
typedef struct ConfigNode {
        json_t *value;
        json_t *shadow;
} ConfigNode;

#define TAKE_CONFIG_NODE(n)                     \
        ({                                      \
                ConfigNode _tn = (n);           \
                (n) = (ConfigNode) {};          \
                _tn;                            \
        })

/* Drop the references of n and clear it. */
void config_node_done(ConfigNode *n);

/* A new owned reference to src in *ret. */
void config_node_ref(const ConfigNode *src, ConfigNode *ret);

/* The member key or the item i of a container (borrowed). value is NULL when there is none. */
ConfigNode config_node_child_key(const ConfigNode *n, const char *key);
ConfigNode config_node_child_index(const ConfigNode *n, size_t i);

/* A new mapping in *ret with the members of src (a mapping), whose shadow can be changed. */
int config_node_copy_object(const ConfigNode *src, ConfigNode *ret);

/* A new empty list in *ret at the position of like, whose shadow can be changed. */
int config_node_new_array(const ConfigNode *like, ConfigNode *ret);

/* A deep copy of src in *ret where every node has a shadow, with src's positions and null where
 * src has none. JSON patch operations need that shape to insert into and remove from lists. */
int config_node_copy_deep(const ConfigNode *src, ConfigNode *ret);

/* Change a container made by one of the three functions above, or a container inside a copy
 * made by config_node_copy_deep(). child is borrowed. The functions return 0 or -ENOMEM. */
int config_node_object_set(ConfigNode *dst, const char *key, const ConfigNode *child);
void config_node_object_del(ConfigNode *dst, const char *key);
int config_node_array_append(ConfigNode *dst, const ConfigNode *child);
/* Append value (taken) to a list, with no positions. */
int config_node_array_append_new(ConfigNode *dst, json_t *value);
int config_node_array_insert(ConfigNode *dst, size_t i, const ConfigNode *child);
int config_node_array_set(ConfigNode *dst, size_t i, const ConfigNode *child);
void config_node_array_remove(ConfigNode *dst, size_t i);

/* A JSON pointer being built, for positions and messages. length is CONFIG_PATH_OVERFLOW once
 * the pointer no longer fits, until config_path_pop() goes back above that point. Initialise it
 * to {} for the root, "". */
typedef struct ConfigPath {
        char text[CONFIG_PATH_MAX];
        size_t length;
} ConfigPath;

#define CONFIG_PATH_OVERFLOW SIZE_MAX

bool config_path_valid(const ConfigPath *p);
/* Append "/" and the key or index, escaped as RFC 6901 requires. Return what config_path_pop()
 * restores. */
size_t config_path_push(ConfigPath *p, const char *key);
size_t config_path_push_index(ConfigPath *p, size_t i);
void config_path_pop(ConfigPath *p, size_t saved);

/* Pair value (borrowed) with the positions that yaml_parse_json() recorded for it, which may be
 * NULL, into *ret. */
int config_node_from_positions(json_t *value, const json_t *positions, ConfigNode *ret);

/* The positions of n as yaml_parse_json() records them: an object from JSON pointer to position
 * (caller owns it). */
int config_node_positions(const ConfigNode *n, json_t **ret);

/* "a mapping", "a list", "a string", "a number", "a boolean" or "null", for messages. */
const char *config_value_kind(const json_t *v);
