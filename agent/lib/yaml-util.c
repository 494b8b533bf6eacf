/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to JSON: libyaml's event parser feeds a jansson tree, built as PyYAML's SafeLoader builds
 * it because that YAML 1.1 loader is what cloud-init uses. This file builds documents, sequences,
 * mappings, anchors and aliases, merge keys and duplicate keys, and enforces the limits on
 * untrusted input. yaml-scalar.c gives scalars their types, yaml-positions.c records source
 * positions, yaml-errors.c turns libyaml marks into positions and errors, and yaml-blank-tabs.c
 * parses again when a blank line that holds a tab stops libyaml. */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/macro.h"
#include "lib/yaml-internal.h"
#include "lib/yaml-scalar.h"
#include "lib/yaml-util.h"

/* A node built from events. */
typedef struct Node {
        json_t *value;
        char *key_text;         /* scalar source text, only when asked for; NULL for collections */
        size_t key_length;
        bool merge;             /* the plain scalar << */
        size_t weight;          /* nodes in the tree with every alias expanded */
        unsigned height;        /* collection levels in that tree, 0 for a scalar */
} Node;

static int build_node(Builder *b, const yaml_event_t *event, const char *path, unsigned depth, TextPosition at,
                      bool as_key, Node *ret);

static void yaml_event_deletep(yaml_event_t *e) {
        yaml_event_delete(e);
}

static void node_done(Node *n) {
        json_decref(n->value);
        free(n->key_text);
        *n = (Node) {};
}

static int build_scalar(Builder *b, const yaml_event_t *event, const char *path, TextPosition at, bool want_text,
                        Node *ret) {
        const char *tag = (const char *) event->data.scalar.tag;
        const char *text = (const char *) event->data.scalar.value;
        ScalarType type = SCALAR_STR;
        bool implicit = false;
        Node node = { .weight = 1 };
        int r;

        if (event->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
            event->data.scalar.style == YAML_FOLDED_SCALAR_STYLE) {
                LineSpan *grown = reallocarray(b->block_scalars, b->n_block_scalars + 1, sizeof(LineSpan));

                if (!grown)
                        return -ENOMEM;
                b->block_scalars = grown;
                b->block_scalars[b->n_block_scalars++] = (LineSpan) {
                        .first = (unsigned) event->start_mark.line,
                        .last = (unsigned) event->end_mark.line,
                };
        }

        /* libyaml sets plain_implicit for untagged plain scalars and for the tag "!", exactly
         * where PyYAML resolves implicit types. */
        if (!tag || streq(tag, "!")) {
                implicit = event->data.scalar.plain_implicit;
                if (implicit)
                        type = yaml_scalar_resolve(text);
                r = yaml_scalar_typed(event, type, b->warnings, &node.value, &b->error);
        } else
                r = yaml_scalar_tagged(event, tag, b->warnings, &node.value, &b->error);
        if (r < 0)
                return r;
        node.merge = implicit && type == SCALAR_MERGE;

        if (want_text) {
                node.key_text = strndup(text, event->data.scalar.length);
                if (!node.key_text) {
                        node_done(&node);
                        return -ENOMEM;
                }
                node.key_length = event->data.scalar.length;
        }

        /* A number's value does not show how it was written (0640 or 416, 3.14 or 3.1400), so
         * messages about it need its source text. */
        r = yaml_positions_add(b, path, at,
                               json_is_number(node.value) &&
                               event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? text : NULL);
        if (r < 0) {
                node_done(&node);
                return r;
        }

        *ret = node;
        return 0;
}

static int build_alias(Builder *b, const yaml_event_t *event, const char *path, unsigned depth, TextPosition at,
                       bool want_text, Node *ret) {
        const char *name = (const char *) event->data.alias.anchor;
        json_t *index = json_object_get(b->anchor_index, name);
        const Anchor *a;
        Node node = {};
        int r;

        if (!index)
                return yaml_builder_fail(b, -EINVAL, event->start_mark, "undefined alias '%s'", name);
        a = &b->anchors[json_integer_value(index)];
        if (!a->value)
                return yaml_builder_fail(
                        b, -EINVAL, event->start_mark,
                        "alias '%s' is inside the node it refers to, which JSON cannot hold", name);

        /* Aliases share nodes, but a caller that walks the tree visits every copy. Without a cap, a few
         * lines of nested aliases expand to billions of nodes. */
        b->expansions += a->weight;
        if (b->expansions > YAML_ALIAS_EXPANSIONS_MAX)
                return yaml_builder_fail(b, -E2BIG, event->start_mark,
                                         "aliases expand to more than %d nodes", YAML_ALIAS_EXPANSIONS_MAX);
        if (depth + a->height > YAML_DEPTH_MAX)
                return yaml_builder_fail(b, -E2BIG, event->start_mark,
                                         "alias '%s' nests deeper than %d levels", name, YAML_DEPTH_MAX);

        node.value = json_incref(a->value);
        node.weight = a->weight;
        node.height = a->height;
        if (want_text && a->key_text) {
                node.key_text = strdup(a->key_text);
                if (!node.key_text) {
                        node_done(&node);
                        return -ENOMEM;
                }
                node.key_length = strlen(a->key_text);
        }

        r = yaml_positions_copy_anchor(b, a, path, at);
        if (r < 0) {
                node_done(&node);
                return r;
        }
        *ret = node;
        return 0;
}

static int build_sequence(Builder *b, const yaml_event_t *start, const char *path, unsigned depth, TextPosition at,
                          Node *ret) {
        const char *tag = (const char *) start->data.sequence_start.tag;
        json_auto_t *array = NULL;
        size_t weight = 1;
        unsigned height = 0;
        int r;

        if (tag && !streq(tag, "!") && !streq(tag, TAG_PREFIX "seq"))
                return yaml_builder_fail(b, -EINVAL, start->start_mark, "unsupported tag '%s' on a sequence",
                                         tag);
        if (depth + 1 > YAML_DEPTH_MAX)
                return yaml_builder_fail(b, -E2BIG, start->start_mark, "nesting deeper than %d levels",
                                         YAML_DEPTH_MAX);

        array = json_array();
        if (!array)
                return -ENOMEM;
        r = yaml_positions_add(b, path, at, /* text= */ NULL);
        if (r < 0)
                return r;

        for (size_t i = 0;; i++) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                _cleanup_(node_done) Node item = {};
                _cleanup_free_ char *item_path = NULL;

                r = yaml_builder_next(b, &event);
                if (r < 0)
                        return r;
                if (event.type == YAML_SEQUENCE_END_EVENT)
                        break;

                r = yaml_path_join_index(path, i, &item_path);
                if (r < 0)
                        return r;
                r = build_node(b, &event, item_path, depth + 1, yaml_mark_position(event.start_mark), false,
                               &item);
                if (r < 0)
                        return r;
                if (json_array_append(array, item.value) < 0)
                        return -ENOMEM;
                weight += item.weight;
                height = MAX(height, item.height);
        }

        *ret = (Node) {
                .value = TAKE_PTR(array),
                .weight = weight,
                .height = height + 1,
        };
        return 0;
}

/* Add the value of a << key to sources. PyYAML takes a list of mappings in reverse, so that the
 * first mapping in the list wins over the later ones. */
static int merge_add(Builder *b, const yaml_event_t *event, json_t *value, json_t *sources, MergeEntry *entry) {
        entry->first_source = json_array_size(sources);
        entry->sequence = json_is_array(value);

        if (json_is_object(value)) {
                entry->n_sources = 1;
                return json_array_append(sources, value) < 0 ? -ENOMEM : 0;
        }
        if (!json_is_array(value))
                return yaml_builder_fail(
                        b, -EINVAL, event->start_mark,
                        "expected a mapping or a list of mappings to merge into the mapping");

        entry->n_sources = json_array_size(value);
        for (size_t i = json_array_size(value); i > 0; i--) {
                json_t *item = json_array_get(value, i - 1);

                if (!json_is_object(item))
                        return yaml_builder_fail(b, -EINVAL, event->start_mark,
                                                 "item %zu of the list to merge is not a mapping", i - 1);
                if (json_array_append(sources, item) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Add an explicit key. The last of duplicate keys wins, as in PyYAML, with a warning. */
static int mapping_set(Builder *b, json_t *explicit, json_t *key_lines, const char *key, TextPosition at,
                       json_t *value) {
        json_t *first = json_object_get(key_lines, key);
        int r;

        if (first) {
                char message[sizeof(b->error.message)];

                (void) snprintf(message, sizeof(message), "duplicate key '%s' at lines %u and %u, the last one wins",
                                key, (unsigned) json_integer_value(first), at.line);
                r = yaml_builder_warn(b, at, message);
                if (r < 0)
                        return r;
        } else if (json_object_set_new(key_lines, key, json_integer(at.line)) < 0)
                return -ENOMEM;

        return json_object_set(explicit, key, value) < 0 ? -ENOMEM : 0;
}

/* Read a key and its value from the events after key_event. */
static int build_mapping_entry(Builder *b, const yaml_event_t *key_event, const char *path, unsigned depth,
                               Node *ret_key, Node *ret_value, size_t *ret_positions_begin) {
        _cleanup_(yaml_event_deletep) yaml_event_t event = {};
        _cleanup_free_ char *value_path = NULL;
        TextPosition at = yaml_mark_position(key_event->start_mark);
        int r;

        if (key_event->type == YAML_MAPPING_START_EVENT || key_event->type == YAML_SEQUENCE_START_EVENT)
                return yaml_builder_fail(b, -EINVAL, key_event->start_mark, "a %s cannot be a mapping key",
                                         key_event->type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
        r = build_node(b, key_event, /* path= */ NULL, depth, at, /* as_key= */ true, ret_key);
        if (r < 0)
                return r;
        if (!ret_key->key_text)
                return yaml_builder_fail(b, -EINVAL, key_event->start_mark,
                                         "alias '%s' refers to a collection, which cannot be a mapping key",
                                         (const char *) key_event->data.alias.anchor);
        if (strlen(ret_key->key_text) != ret_key->key_length)
                return yaml_builder_fail(b, -EINVAL, key_event->start_mark,
                                         "mapping key contains a NUL character");

        r = yaml_builder_next(b, &event);
        if (r < 0)
                return r;
        r = yaml_path_join(path, ret_key->merge ? "<<" : ret_key->key_text, &value_path);
        if (r < 0)
                return r;
        *ret_positions_begin = b->n_positions;
        return build_node(b, &event, value_path, depth, at, /* as_key= */ false, ret_value);
}

static int build_mapping(Builder *b, const yaml_event_t *start, const char *path, unsigned depth, TextPosition at,
                         Node *ret) {
        const char *tag = (const char *) start->data.mapping_start.tag;
        json_auto_t *explicit = NULL, *key_lines = NULL, *sources = NULL, *result = NULL;
        _cleanup_free_ MergeEntry *merges = NULL;
        size_t n_merges = 0, weight = 1;
        unsigned height = 0;
        int r;

        if (tag && !streq(tag, "!") && !streq(tag, TAG_PREFIX "map"))
                return yaml_builder_fail(b, -EINVAL, start->start_mark, "unsupported tag '%s' on a mapping",
                                         tag);
        if (depth + 1 > YAML_DEPTH_MAX)
                return yaml_builder_fail(b, -E2BIG, start->start_mark, "nesting deeper than %d levels",
                                         YAML_DEPTH_MAX);

        explicit = json_object();
        key_lines = json_object();
        sources = json_array();
        if (!explicit || !key_lines || !sources)
                return -ENOMEM;
        r = yaml_positions_add(b, path, at, /* text= */ NULL);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                _cleanup_(node_done) Node key = {}, value = {};
                size_t positions_begin = 0;

                r = yaml_builder_next(b, &event);
                if (r < 0)
                        return r;
                if (event.type == YAML_MAPPING_END_EVENT)
                        break;

                r = build_mapping_entry(b, &event, path, depth + 1, &key, &value, &positions_begin);
                if (r < 0)
                        return r;
                weight += key.weight + value.weight;
                height = MAX(height, value.height);

                if (key.merge) {
                        MergeEntry *grown = reallocarray(merges, n_merges + 1, sizeof(MergeEntry));

                        if (!grown)
                                return -ENOMEM;
                        merges = grown;
                        merges[n_merges] = (MergeEntry) {
                                .positions_begin = positions_begin,
                                .positions_end = b->n_positions,
                        };
                        r = merge_add(b, &event, value.value, sources, &merges[n_merges]);
                        if (r < 0)
                                return r;
                        n_merges++;
                } else {
                        r = mapping_set(b, explicit, key_lines, key.key_text,
                                        yaml_mark_position(event.start_mark), value.value);
                        if (r < 0)
                                return r;
                }
        }

        if (n_merges == 0)
                result = TAKE_PTR(explicit);
        else {
                result = json_object();
                if (!result)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(sources); i++)
                        if (json_object_update(result, json_array_get(sources, i)) < 0)
                                return -ENOMEM;
                if (json_object_update(result, explicit) < 0)
                        return -ENOMEM;
                r = yaml_positions_apply_merges(b, path, merges, n_merges, sources, explicit);
                if (r < 0)
                        return r;
        }

        *ret = (Node) {
                .value = TAKE_PTR(result),
                .weight = weight,
                .height = height + 1,
        };
        return 0;
}

static const char *event_anchor(const yaml_event_t *event) {
        switch (event->type) {
        case YAML_SCALAR_EVENT:
                return (const char *) event->data.scalar.anchor;
        case YAML_SEQUENCE_START_EVENT:
                return (const char *) event->data.sequence_start.anchor;
        case YAML_MAPPING_START_EVENT:
                return (const char *) event->data.mapping_start.anchor;
        default:
                return NULL;
        }
}

/* Register an anchor when its node starts, as PyYAML does, so that an alias inside the node
 * itself is found (and rejected) instead of being reported as undefined. */
static int anchor_begin(Builder *b, const char *name, yaml_mark_t mark, size_t *ret_index) {
        json_t *existing = json_object_get(b->anchor_index, name);
        Anchor *grown;

        if (existing)
                return yaml_builder_fail(b, -EINVAL, mark, "duplicate anchor '%s', first defined at line %u",
                                         name, b->anchors[json_integer_value(existing)].line);

        grown = reallocarray(b->anchors, b->n_anchors + 1, sizeof(Anchor));
        if (!grown)
                return -ENOMEM;
        b->anchors = grown;
        b->anchors[b->n_anchors] = (Anchor) { .line = yaml_mark_line(mark) };
        b->anchors[b->n_anchors].name = strdup(name);
        if (!b->anchors[b->n_anchors].name)
                return -ENOMEM;
        b->n_anchors++;
        if (json_object_set_new(b->anchor_index, name, json_integer((json_int_t) b->n_anchors - 1)) < 0)
                return -ENOMEM;

        *ret_index = b->n_anchors - 1;
        return 0;
}

static int anchor_complete(Builder *b, size_t index, const Node *node, const char *path, size_t positions_begin) {
        Anchor *a = &b->anchors[index];

        if (node->key_text) {
                a->key_text = strdup(node->key_text);
                if (!a->key_text)
                        return -ENOMEM;
        }
        if (path) {
                a->path = strdup(path);
                if (!a->path)
                        return -ENOMEM;
        }
        a->value = json_incref(node->value);
        a->weight = node->weight;
        a->height = node->height;
        a->positions_begin = positions_begin;
        a->positions_end = b->n_positions;
        return 0;
}

/* Build the node that starts with event. depth counts the collections around it; at is where
 * its position is recorded (the key for a mapping value). as_key requests the source text of a
 * scalar in ret->key_text. */
static int build_node(Builder *b, const yaml_event_t *event, const char *path, unsigned depth, TextPosition at,
                      bool as_key, Node *ret) {
        const char *anchor = event_anchor(event);
        size_t anchor_index = 0, positions_begin = b->n_positions;
        Node node = {};
        int r;

        if (anchor) {
                r = anchor_begin(b, anchor, event->start_mark, &anchor_index);
                if (r < 0)
                        return r;
        }

        switch (event->type) {
        case YAML_ALIAS_EVENT:
                r = build_alias(b, event, path, depth, at, as_key, &node);
                break;
        case YAML_SCALAR_EVENT:
                r = build_scalar(b, event, path, at, as_key || anchor, &node);
                break;
        case YAML_SEQUENCE_START_EVENT:
                r = build_sequence(b, event, path, depth, at, &node);
                break;
        case YAML_MAPPING_START_EVENT:
                r = build_mapping(b, event, path, depth, at, &node);
                break;
        default:
                /* libyaml's grammar puts nothing else where a node belongs. */
                r = yaml_builder_fail(b, -EINVAL, event->start_mark, "unexpected YAML event");
        }
        if (r < 0)
                return r;

        if (anchor) {
                r = anchor_complete(b, anchor_index, &node, path, positions_begin);
                if (r < 0) {
                        node_done(&node);
                        return r;
                }
        }
        *ret = node;
        return 0;
}

static int expect_event(Builder *b, yaml_event_type_t type) {
        _cleanup_(yaml_event_deletep) yaml_event_t event = {};
        int r;

        r = yaml_builder_next(b, &event);
        if (r < 0)
                return r;
        if (event.type != type)
                return yaml_builder_fail(b, -EINVAL, event.start_mark, "unexpected YAML event");
        return 0;
}

/* Read the rest of the stream, so that a syntax error anywhere fails the parse, and fail when it
 * contains documents after the first. */
static int builder_skip_documents(Builder *b) {
        unsigned extra = 0;
        yaml_mark_t first_mark = {};

        for (;;) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                int r;

                r = yaml_builder_next(b, &event);
                if (r < 0)
                        return r;
                if (event.type == YAML_STREAM_END_EVENT)
                        break;
                if (event.type == YAML_DOCUMENT_START_EVENT && extra++ == 0)
                        first_mark = event.start_mark;
        }
        if (extra == 0)
                return 0;

        /* PyYAML's safe_load rejects a stream of several documents, so cloud-init applies nothing
         * from such a part; kiln does the same instead of guessing which document was meant. */
        return yaml_builder_fail(
                b, -EINVAL, first_mark,
                "expected a single YAML document, but %u more %s after the first; remove the "
                "'---' line or send the documents as separate MIME parts",
                extra, extra == 1 ? "follows" : "follow");
}

static int builder_parse(Builder *b, json_t **ret) {
        _cleanup_(yaml_event_deletep) yaml_event_t event = {};
        _cleanup_(node_done) Node root = {};
        int r;

        r = expect_event(b, YAML_STREAM_START_EVENT);
        if (r < 0)
                return r;

        r = yaml_builder_next(b, &event);
        if (r < 0)
                return r;
        if (event.type == YAML_STREAM_END_EVENT) {
                *ret = json_null();
                return 0;
        }
        if (event.type != YAML_DOCUMENT_START_EVENT)
                return yaml_builder_fail(b, -EINVAL, event.start_mark, "unexpected YAML event");
        yaml_event_delete(&event);

        r = yaml_builder_next(b, &event);
        if (r < 0)
                return r;
        r = build_node(b, &event, "", /* depth= */ 0, yaml_mark_position(event.start_mark),
                       /* as_key= */ false, &root);
        if (r < 0)
                return r;

        r = expect_event(b, YAML_DOCUMENT_END_EVENT);
        if (r < 0)
                return r;
        r = builder_skip_documents(b);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(root.value);
        return 0;
}

void yaml_builder_done(Builder *b) {
        yaml_parser_delete(&b->parser);
        json_decref(b->warnings);
        for (size_t i = 0; i < b->n_anchors; i++) {
                free(b->anchors[i].name);
                json_decref(b->anchors[i].value);
                free(b->anchors[i].key_text);
                free(b->anchors[i].path);
        }
        free(b->anchors);
        json_decref(b->anchor_index);
        for (size_t i = 0; i < b->n_positions; i++)
                yaml_position_drop(&b->positions[i]);
        free(b->positions);
        free(b->block_scalars);
        *b = (Builder) {};
}

/* Parse one buffer into *ret, filling b with what the caller may want next: warnings, positions,
 * block scalar lines, the error. */
int yaml_builder_run(Builder *b, const char *data, size_t size, bool track_positions, json_t **ret) {
        int r;

        *b = (Builder) {
                .data = data,
                .size = size,
                .tab_line = -1,
                .track_positions = track_positions,
        };
        if (!yaml_parser_initialize(&b->parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&b->parser, (const unsigned char *) data, size);

        b->warnings = json_array();
        b->anchor_index = json_object();
        if (!b->warnings || !b->anchor_index)
                return -ENOMEM;
        r = yaml_scalar_init();
        if (r < 0)
                return r;

        return builder_parse(b, ret);
}

int yaml_parse_json(const char *data, size_t size, json_t **ret, json_t **ret_warnings, json_t **ret_positions,
                    YamlError *reterr) {
        _cleanup_(yaml_builder_done) Builder b = {};
        json_auto_t *value = NULL, *positions = NULL;
        bool utf16;
        int r;

        assert(data || size == 0);
        assert(ret);

        /* The line scan for blank lines with tabs reads UTF-8; libyaml also reads UTF-16. */
        utf16 = size >= 2 && ((data[0] == '\xff' && data[1] == '\xfe') || (data[0] == '\xfe' && data[1] == '\xff'));
        if (utf16)
                r = yaml_builder_run(&b, data ?: "", size, ret_positions != NULL, &value);
        else
                r = yaml_parse_with_blank_tab_lines(data ?: "", size, ret_positions != NULL, &b, &value);
        if (r < 0) {
                if (reterr)
                        *reterr = b.error;
                return r;
        }

        if (ret_positions) {
                r = yaml_builder_positions(&b, value, &positions);
                if (r < 0)
                        return r;
                *ret_positions = TAKE_PTR(positions);
        }
        if (ret_warnings)
                *ret_warnings = json_incref(b.warnings);
        *ret = TAKE_PTR(value);
        return 0;
}
