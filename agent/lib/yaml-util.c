/* SPDX-License-Identifier: Apache-2.0 */
/* YAML to JSON: libyaml's event parser feeds a jansson tree, built as PyYAML's SafeLoader builds
 * it because that YAML 1.1 loader is what cloud-init uses. This file builds documents, sequences,
 * mappings, anchors and aliases, merge keys and duplicate keys, records source positions and
 * enforces the limits on untrusted input. yaml-scalar.c gives scalars their types. */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/macro.h"
#include "lib/yaml-scalar.h"
#include "lib/yaml-util.h"

/* Positions are not recorded below a path longer than this, so that long keys cannot make the
 * positions object grow with the square of the input size. */
#define YAML_POSITION_PATH_MAX 1024

/* Re-parses allowed when a tab that looked like block scalar content turns out to be rejected. */
#define YAML_BLANK_TAB_RETRIES_MAX 64

/* Where a node starts in the source: 1-based line and column (in characters, as libyaml counts). */
typedef struct TextPosition {
        unsigned line, column;
} TextPosition;

typedef struct Position {
        char *path;             /* JSON pointer; NULL once the entry is dropped */
        TextPosition at;
        char *text;             /* source of an unquoted integer, else NULL */
} Position;

typedef struct Anchor {
        char *name;
        json_t *value;          /* NULL while the anchored node is still being built */
        char *key_text;         /* source text of a scalar, NULL for a collection */
        size_t weight;
        unsigned height;
        char *path;             /* where the anchored node sits, NULL when untracked */
        size_t positions_begin, positions_end;
        unsigned line;
} Anchor;

typedef struct LineSpan {
        unsigned first, last;   /* 0-based, inclusive */
} LineSpan;

/* One parse of one buffer. */
typedef struct Builder {
        yaml_parser_t parser;
        const char *data;
        size_t size;

        json_t *warnings;
        YamlError error;
        int tab_line;           /* 0-based line of a tab indentation error, -1 if none */

        Anchor *anchors;
        size_t n_anchors;
        json_t *anchor_index;   /* name -> index into anchors */
        size_t expansions;

        bool track_positions;
        Position *positions;
        size_t n_positions, allocated_positions;

        LineSpan *block_scalars;
        size_t n_block_scalars;
} Builder;

/* A node built from events. */
typedef struct Node {
        json_t *value;
        char *key_text;         /* scalar source text, only when asked for; NULL for collections */
        size_t key_length;
        bool merge;             /* the plain scalar << */
        size_t weight;          /* nodes in the tree with every alias expanded */
        unsigned height;        /* collection levels in that tree, 0 for a scalar */
} Node;

/* The << entries of one mapping: sources in the order PyYAML applies them, later ones winning. */
typedef struct MergeEntry {
        size_t positions_begin, positions_end;
        size_t first_source, n_sources;
        bool sequence;
} MergeEntry;

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

static unsigned mark_line(yaml_mark_t mark) {
        return (unsigned) mark.line + 1;
}

static TextPosition mark_position(yaml_mark_t mark) {
        return (TextPosition) { .line = (unsigned) mark.line + 1, .column = (unsigned) mark.column + 1 };
}

/* Length of the line break at data[i], 0 if none. libyaml breaks lines at CR LF, CR, LF, and the
 * UTF-8 forms of NEL, LS and PS. */
static size_t line_break_length(const char *data, size_t size, size_t i) {
        const unsigned char *p = (const unsigned char *) data + i;
        size_t left = size - i;

        if (left >= 2 && p[0] == '\r' && p[1] == '\n')
                return 2;
        if (p[0] == '\r' || p[0] == '\n')
                return 1;
        if (left >= 2 && p[0] == 0xc2 && p[1] == 0x85)
                return 2;
        if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
                return 3;
        return 0;
}

static bool utf8_continuation(char c) {
        return ((unsigned char) c & 0xc0) == 0x80;
}

/* libyaml counts columns in characters from after a byte-order mark. */
static size_t text_start(const char *data, size_t size) {
        return size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* The byte offset of a libyaml mark in UTF-8 input, or SIZE_MAX. */
static size_t mark_to_offset(const char *data, size_t size, yaml_mark_t mark) {
        size_t i = text_start(data, size), line = 0, column = 0;

        while (i < size && line < mark.line) {
                size_t n = line_break_length(data, size, i);

                if (n > 0) {
                        line++;
                        i += n;
                } else
                        i++;
        }
        while (i < size && column < mark.column && line_break_length(data, size, i) == 0) {
                i++;
                while (i < size && utf8_continuation(data[i]))
                        i++;
                column++;
        }
        return line == mark.line && column == mark.column ? i : SIZE_MAX;
}

/* The 1-based line and column of a byte offset. */
static void offset_to_position(const char *data, size_t size, size_t offset, unsigned *ret_line,
                               unsigned *ret_column) {
        size_t i = text_start(data, size);
        unsigned line = 1, column = 1;

        while (i < offset && i < size) {
                size_t n = line_break_length(data, size, i);

                if (n > 0) {
                        line++;
                        column = 1;
                        i += n;
                        continue;
                }
                i++;
                while (i < offset && i < size && utf8_continuation(data[i]))
                        i++;
                column++;
        }
        *ret_line = line;
        *ret_column = column;
}

/* Whether the character at mark is a tab with only spaces and tabs before it on its line. */
static bool mark_is_indentation_tab(const char *data, size_t size, yaml_mark_t mark) {
        yaml_mark_t line_start = mark;
        size_t offset, begin;

        offset = mark_to_offset(data, size, mark);
        if (offset >= size || data[offset] != '\t')
                return false;

        line_start.column = 0;
        begin = mark_to_offset(data, size, line_start);
        for (size_t i = begin; i < offset; i++)
                if (data[i] != ' ' && data[i] != '\t')
                        return false;
        return true;
}

_printf_(4, 5)
static int builder_fail(Builder *b, int error, yaml_mark_t mark, const char *format, ...) {
        va_list ap;

        b->error.line = mark_line(mark);
        b->error.column = (unsigned) mark.column + 1;
        va_start(ap, format);
        (void) vsnprintf(b->error.message, sizeof(b->error.message), format, ap);
        va_end(ap);
        return error;
}

static int builder_fail_reader(Builder *b) {
        const yaml_parser_t *p = &b->parser;
        const char *problem = p->problem ?: "unreadable input";
        size_t offset = p->problem_offset;

        offset_to_position(b->data, b->size, offset, &b->error.line, &b->error.column);
        if (strstr(problem, "UTF-8") || strstr(problem, "Unicode"))
                (void) snprintf(b->error.message, sizeof(b->error.message), "invalid UTF-8 at byte offset %zu",
                                offset);
        else
                (void) snprintf(b->error.message, sizeof(b->error.message), "%s at byte offset %zu", problem,
                                offset);
        return -EINVAL;
}

/* libyaml adds a line break of its own at the end of input that lacks one, so an error found
 * there points at a line after the last. Point at the end of the last line instead, as PyYAML does. */
static yaml_mark_t mark_clamp_to_input(const Builder *b, yaml_mark_t mark) {
        size_t start;

        if (mark.index < b->size || b->size == 0 || b->data[b->size - 1] == '\n' || mark.line == 0 ||
            mark.column != 0)
                return mark;
        start = b->size;
        while (start > 0 && b->data[start - 1] != '\n')
                start--;
        mark.line--;
        mark.column = b->size - start;
        mark.index = b->size;
        return mark;
}

static int builder_fail_syntax(Builder *b) {
        yaml_parser_t *p = &b->parser;
        const char *problem = p->problem ?: "invalid YAML";

        p->problem_mark = mark_clamp_to_input(b, p->problem_mark);
        p->context_mark = mark_clamp_to_input(b, p->context_mark);

        if (mark_is_indentation_tab(b->data, b->size, p->problem_mark)) {
                b->tab_line = (int) p->problem_mark.line;
                return builder_fail(b, -EINVAL, p->problem_mark, "tab character used for indentation");
        }

        /* libyaml reports a key without ':' at the start of the line after it. The key itself is
         * where the author has to look. */
        if (p->context && streq(p->context, "while scanning a simple key"))
                return builder_fail(b, -EINVAL, p->context_mark, "%s (%s)", problem, p->context);

        if (p->context)
                return builder_fail(b, -EINVAL, p->problem_mark, "%s (%s at line %u, column %u)", problem,
                                    p->context, mark_line(p->context_mark), (unsigned) p->context_mark.column + 1);
        return builder_fail(b, -EINVAL, p->problem_mark, "%s", problem);
}

/* Turn libyaml's error fields into -errno and b->error. */
static int builder_fail_libyaml(Builder *b) {
        /* No default case, so that the compiler flags a new libyaml error kind. */
        switch (b->parser.error) {
        case YAML_MEMORY_ERROR:
                return -ENOMEM;
        case YAML_READER_ERROR:
                return builder_fail_reader(b);
        case YAML_SCANNER_ERROR:
        case YAML_PARSER_ERROR:
                return builder_fail_syntax(b);
        case YAML_NO_ERROR:
        case YAML_COMPOSER_ERROR:
        case YAML_WRITER_ERROR:
        case YAML_EMITTER_ERROR:
                break;
        }
        return builder_fail(b, -EINVAL, b->parser.problem_mark, "%s", b->parser.problem ?: "invalid YAML");
}

static int builder_next(Builder *b, yaml_event_t *ret) {
        if (!yaml_parser_parse(&b->parser, ret))
                return builder_fail_libyaml(b);
        return 0;
}

static int builder_warn(Builder *b, TextPosition at, const char *message) {
        if (json_array_append_new(b->warnings, json_pack("{s:I, s:I, s:s}", "line", (json_int_t) at.line, "column",
                                                         (json_int_t) at.column, "message", message)) < 0)
                return -ENOMEM;
        return 0;
}

/* Append "/" and key to path, escaped as RFC 6901 requires. *ret is NULL when path is NULL or the
 * result would be longer than YAML_POSITION_PATH_MAX. */
static int path_join(const char *path, const char *key, char **ret) {
        size_t length, n = 0;
        char *joined;

        *ret = NULL;
        if (!path)
                return 0;

        length = strlen(path) + 1;
        for (const char *k = key; *k; k++)
                length += *k == '~' || *k == '/' ? 2 : 1;
        if (length > YAML_POSITION_PATH_MAX)
                return 0;

        joined = malloc(length + 1);
        if (!joined)
                return -ENOMEM;
        n = stpcpy(joined, path) - joined;
        joined[n++] = '/';
        for (const char *k = key; *k; k++) {
                if (*k == '~' || *k == '/') {
                        joined[n++] = '~';
                        joined[n++] = *k == '~' ? '0' : '1';
                } else
                        joined[n++] = *k;
        }
        joined[n] = '\0';
        *ret = joined;
        return 0;
}

static int path_join_index(const char *path, size_t index, char **ret) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%zu", index);
        return path_join(path, buf, ret);
}

/* Undo RFC 6901 escaping of the n bytes at segment. Caller owns the result. */
static char *path_segment_unescape(const char *segment, size_t n) {
        char *key = malloc(n + 1);
        size_t j = 0;

        if (!key)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (segment[i] == '~' && i + 1 < n && (segment[i + 1] == '0' || segment[i + 1] == '1')) {
                        key[j++] = segment[i + 1] == '0' ? '~' : '/';
                        i++;
                } else
                        key[j++] = segment[i];
        }
        key[j] = '\0';
        return key;
}

/* The node at a JSON pointer path (borrowed), NULL if there is none. */
static json_t *json_pointer_get(json_t *root, const char *path) {
        json_t *node = root;

        while (node && *path == '/') {
                _cleanup_free_ char *key = NULL;
                size_t n = strcspn(path + 1, "/");

                key = path_segment_unescape(path + 1, n);
                if (!key)
                        return NULL;
                path += n + 1;

                if (json_is_object(node))
                        node = json_object_get(node, key);
                else if (json_is_array(node)) {
                        char *end = NULL;
                        unsigned long i;

                        if (key[0] < '0' || key[0] > '9' || (key[0] == '0' && key[1]))
                                return NULL;
                        errno = 0;
                        i = strtoul(key, &end, 10);
                        if (errno != 0 || *end)
                                return NULL;
                        node = json_array_get(node, i);
                } else
                        return NULL;
        }
        return *path ? NULL : node;
}

static int positions_add(Builder *b, const char *path, TextPosition at, const char *text) {
        Position *p;

        if (!b->track_positions || !path)
                return 0;

        if (b->n_positions == b->allocated_positions) {
                size_t n = MAX(b->allocated_positions * 2, (size_t) 64);
                Position *grown = reallocarray(b->positions, n, sizeof(Position));

                if (!grown)
                        return -ENOMEM;
                b->positions = grown;
                b->allocated_positions = n;
        }

        p = &b->positions[b->n_positions];
        *p = (Position) { .at = at };
        p->path = strdup(path);
        if (!p->path)
                return -ENOMEM;
        if (text) {
                p->text = strdup(text);
                if (!p->text) {
                        free(p->path);
                        return -ENOMEM;
                }
        }
        b->n_positions++;
        return 0;
}

static void position_drop(Position *p) {
        free(p->path);
        free(p->text);
        p->path = p->text = NULL;
}

/* Record the anchored subtree's positions again under path, where an alias repeats it. */
static int positions_copy_anchor(Builder *b, const Anchor *a, const char *path, TextPosition at) {
        size_t prefix;

        if (!b->track_positions || !path)
                return 0;
        if (!a->path)
                return positions_add(b, path, at, /* text= */ NULL);

        prefix = strlen(a->path);
        for (size_t i = a->positions_begin; i < a->positions_end; i++) {
                _cleanup_free_ char *copy = NULL;
                const Position *p = &b->positions[i];
                TextPosition copy_at = p->at;
                int r;

                if (!p->path)
                        continue;
                if (p->path[prefix] == '\0')
                        copy_at = at;
                if (asprintf(&copy, "%s%s", path, p->path + prefix) < 0) {
                        copy = NULL;
                        return -ENOMEM;
                }
                /* positions_add() may move the array, so p is not used after it. */
                r = positions_add(b, copy, copy_at, b->positions[i].text);
                if (r < 0)
                        return r;
        }
        return 0;
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
        r = positions_add(b, path, at,
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
                return builder_fail(b, -EINVAL, event->start_mark, "undefined alias '%s'", name);
        a = &b->anchors[json_integer_value(index)];
        if (!a->value)
                return builder_fail(b, -EINVAL, event->start_mark,
                                    "alias '%s' is inside the node it refers to, which JSON cannot hold", name);

        /* Aliases share nodes, but a caller that walks the tree visits every copy. Without a cap, a few
         * lines of nested aliases expand to billions of nodes. */
        b->expansions += a->weight;
        if (b->expansions > YAML_ALIAS_EXPANSIONS_MAX)
                return builder_fail(b, -E2BIG, event->start_mark,
                                    "aliases expand to more than %d nodes", YAML_ALIAS_EXPANSIONS_MAX);
        if (depth + a->height > YAML_DEPTH_MAX)
                return builder_fail(b, -E2BIG, event->start_mark, "alias '%s' nests deeper than %d levels",
                                    name, YAML_DEPTH_MAX);

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

        r = positions_copy_anchor(b, a, path, at);
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
                return builder_fail(b, -EINVAL, start->start_mark, "unsupported tag '%s' on a sequence", tag);
        if (depth + 1 > YAML_DEPTH_MAX)
                return builder_fail(b, -E2BIG, start->start_mark, "nesting deeper than %d levels", YAML_DEPTH_MAX);

        array = json_array();
        if (!array)
                return -ENOMEM;
        r = positions_add(b, path, at, /* text= */ NULL);
        if (r < 0)
                return r;

        for (size_t i = 0;; i++) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                _cleanup_(node_done) Node item = {};
                _cleanup_free_ char *item_path = NULL;

                r = builder_next(b, &event);
                if (r < 0)
                        return r;
                if (event.type == YAML_SEQUENCE_END_EVENT)
                        break;

                r = path_join_index(path, i, &item_path);
                if (r < 0)
                        return r;
                r = build_node(b, &event, item_path, depth + 1, mark_position(event.start_mark), false, &item);
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

/* The index of the source that a merged key comes from: the last one that has it. */
static size_t merge_winner(json_t *sources, const char *key) {
        size_t winner = SIZE_MAX;

        for (size_t i = 0; i < json_array_size(sources); i++)
                if (json_object_get(json_array_get(sources, i), key))
                        winner = i;
        return winner;
}

/* Move the positions recorded under path/<< to the keys they were merged into, and drop those of
 * keys that an explicit key or a later source overrides. */
static int positions_apply_merges(Builder *b, const char *path, const MergeEntry *entries, size_t n_entries,
                                  json_t *sources, json_t *explicit) {
        _cleanup_free_ char *prefix = NULL;
        size_t prefix_length;
        int r;

        if (!b->track_positions || !path)
                return 0;
        r = path_join(path, "<<", &prefix);
        if (r < 0)
                return r;
        if (!prefix)
                return 0;
        prefix_length = strlen(prefix);

        for (size_t e = 0; e < n_entries; e++)
                for (size_t i = entries[e].positions_begin; i < entries[e].positions_end; i++) {
                        _cleanup_free_ char *key = NULL, *moved = NULL;
                        Position *p = &b->positions[i];
                        const char *rest;
                        size_t source = entries[e].first_source, n;

                        if (!p->path)
                                continue;
                        assert(strneq(p->path, prefix, prefix_length));
                        rest = p->path + prefix_length;

                        if (entries[e].sequence && rest[0] == '/') {
                                size_t item = strtoul(rest + 1, NULL, 10);

                                source += entries[e].n_sources - 1 - MIN(item, entries[e].n_sources - 1);
                                rest += 1 + strcspn(rest + 1, "/");
                        }
                        if (rest[0] != '/') {
                                position_drop(p);
                                continue;
                        }

                        n = strcspn(rest + 1, "/");
                        key = path_segment_unescape(rest + 1, n);
                        if (!key)
                                return -ENOMEM;
                        if (json_object_get(explicit, key) || merge_winner(sources, key) != source) {
                                position_drop(p);
                                continue;
                        }
                        if (asprintf(&moved, "%s%s", path, rest) < 0) {
                                moved = NULL;
                                return -ENOMEM;
                        }
                        free(p->path);
                        p->path = TAKE_PTR(moved);
                }
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
                return builder_fail(b, -EINVAL, event->start_mark,
                                    "expected a mapping or a list of mappings to merge into the mapping");

        entry->n_sources = json_array_size(value);
        for (size_t i = json_array_size(value); i > 0; i--) {
                json_t *item = json_array_get(value, i - 1);

                if (!json_is_object(item))
                        return builder_fail(b, -EINVAL, event->start_mark,
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
                r = builder_warn(b, at, message);
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
        TextPosition at = mark_position(key_event->start_mark);
        int r;

        if (key_event->type == YAML_MAPPING_START_EVENT || key_event->type == YAML_SEQUENCE_START_EVENT)
                return builder_fail(b, -EINVAL, key_event->start_mark, "a %s cannot be a mapping key",
                                    key_event->type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
        r = build_node(b, key_event, /* path= */ NULL, depth, at, /* as_key= */ true, ret_key);
        if (r < 0)
                return r;
        if (!ret_key->key_text)
                return builder_fail(b, -EINVAL, key_event->start_mark,
                                    "alias '%s' refers to a collection, which cannot be a mapping key",
                                    (const char *) key_event->data.alias.anchor);
        if (strlen(ret_key->key_text) != ret_key->key_length)
                return builder_fail(b, -EINVAL, key_event->start_mark, "mapping key contains a NUL character");

        r = builder_next(b, &event);
        if (r < 0)
                return r;
        r = path_join(path, ret_key->merge ? "<<" : ret_key->key_text, &value_path);
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
                return builder_fail(b, -EINVAL, start->start_mark, "unsupported tag '%s' on a mapping", tag);
        if (depth + 1 > YAML_DEPTH_MAX)
                return builder_fail(b, -E2BIG, start->start_mark, "nesting deeper than %d levels", YAML_DEPTH_MAX);

        explicit = json_object();
        key_lines = json_object();
        sources = json_array();
        if (!explicit || !key_lines || !sources)
                return -ENOMEM;
        r = positions_add(b, path, at, /* text= */ NULL);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(yaml_event_deletep) yaml_event_t event = {};
                _cleanup_(node_done) Node key = {}, value = {};
                size_t positions_begin = 0;

                r = builder_next(b, &event);
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
                        r = mapping_set(b, explicit, key_lines, key.key_text, mark_position(event.start_mark),
                                        value.value);
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
                r = positions_apply_merges(b, path, merges, n_merges, sources, explicit);
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
                return builder_fail(b, -EINVAL, mark, "duplicate anchor '%s', first defined at line %u", name,
                                    b->anchors[json_integer_value(existing)].line);

        grown = reallocarray(b->anchors, b->n_anchors + 1, sizeof(Anchor));
        if (!grown)
                return -ENOMEM;
        b->anchors = grown;
        b->anchors[b->n_anchors] = (Anchor) { .line = mark_line(mark) };
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
                r = builder_fail(b, -EINVAL, event->start_mark, "unexpected YAML event");
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

        r = builder_next(b, &event);
        if (r < 0)
                return r;
        if (event.type != type)
                return builder_fail(b, -EINVAL, event.start_mark, "unexpected YAML event");
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

                r = builder_next(b, &event);
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
        return builder_fail(b, -EINVAL, first_mark,
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

        r = builder_next(b, &event);
        if (r < 0)
                return r;
        if (event.type == YAML_STREAM_END_EVENT) {
                *ret = json_null();
                return 0;
        }
        if (event.type != YAML_DOCUMENT_START_EVENT)
                return builder_fail(b, -EINVAL, event.start_mark, "unexpected YAML event");
        yaml_event_delete(&event);

        r = builder_next(b, &event);
        if (r < 0)
                return r;
        r = build_node(b, &event, "", /* depth= */ 0, mark_position(event.start_mark), /* as_key= */ false, &root);
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

/* The positions object: entries whose path no longer leads to a node (the losing copy of a
 * duplicate key) are left out, and a later entry for a path replaces an earlier one. */
static int builder_positions(Builder *b, json_t *root, json_t **ret) {
        json_auto_t *positions = json_object();

        if (!positions)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_positions; i++) {
                const Position *p = &b->positions[i];
                json_t *v;

                if (!p->path || !json_pointer_get(root, p->path))
                        continue;
                v = p->text ? json_pack("[I,I,s]", (json_int_t) p->at.line, (json_int_t) p->at.column, p->text) :
                              json_pack("[I,I]", (json_int_t) p->at.line, (json_int_t) p->at.column);
                if (json_object_set_new(positions, p->path, v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(positions);
        return 0;
}

static void builder_done(Builder *b) {
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
                position_drop(&b->positions[i]);
        free(b->positions);
        free(b->block_scalars);
        *b = (Builder) {};
}

/* Parse one buffer into *ret, filling b with what the caller may want next: warnings, positions,
 * block scalar lines, the error. */
static int builder_run(Builder *b, const char *data, size_t size, bool track_positions, json_t **ret) {
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

typedef struct SourceLine {
        size_t begin, end;      /* bytes of the line, without its break */
        size_t indent;          /* leading spaces */
        bool blank;             /* only spaces and tabs */
        bool tab;               /* blank and containing a tab */
} SourceLine;

/* Split data into lines the way libyaml counts them. */
static int split_lines(const char *data, size_t size, SourceLine **ret, size_t *ret_n) {
        _cleanup_free_ SourceLine *lines = NULL;
        size_t n = 0, allocated = 0, i = text_start(data, size);

        for (;;) {
                SourceLine l = { .begin = i, .blank = true };
                size_t brk = 0;

                while (i < size && (brk = line_break_length(data, size, i)) == 0) {
                        if (data[i] != ' ' && data[i] != '\t')
                                l.blank = false;
                        if (data[i] == '\t')
                                l.tab = true;
                        i++;
                }
                l.end = i;
                l.tab = l.tab && l.blank;
                while (l.begin + l.indent < l.end && data[l.begin + l.indent] == ' ')
                        l.indent++;

                if (n == allocated) {
                        size_t grown_size = MAX(allocated * 2, (size_t) 64);
                        SourceLine *grown = reallocarray(lines, grown_size, sizeof(SourceLine));

                        if (!grown)
                                return -ENOMEM;
                        lines = grown;
                        allocated = grown_size;
                }
                lines[n++] = l;

                if (i >= size)
                        break;
                i += brk;
        }
        *ret = TAKE_PTR(lines);
        *ret_n = n;
        return 0;
}

static void blank_line_fill(char *copy, const SourceLine *l, bool spaces, const char *original) {
        for (size_t i = l->begin; i < l->end; i++)
                copy[i] = spaces ? ' ' : original[i];
}

/* Put back the tabs that libyaml reads as content of a block scalar: those at or past the
 * indentation of its first non-blank line. Before that line the indentation is not known yet
 * and libyaml rejects any tab. Returns whether a line was put back. */
static bool restore_block_scalar_tabs(const Builder *b, const SourceLine *lines, size_t n_lines, char *copy,
                                      const char *data) {
        bool restored = false;

        for (size_t s = 0; s < b->n_block_scalars; s++) {
                size_t last = MIN((size_t) b->block_scalars[s].last, n_lines - 1);
                size_t indent = SIZE_MAX;

                for (size_t i = (size_t) b->block_scalars[s].first + 1; i <= last; i++) {
                        if (!lines[i].blank && indent == SIZE_MAX)
                                indent = lines[i].indent;
                        if (lines[i].tab && indent != SIZE_MAX && lines[i].indent >= indent) {
                                blank_line_fill(copy, &lines[i], false, data);
                                restored = true;
                        }
                }
        }
        return restored;
}

/* libyaml rejects a tab on a line that is otherwise empty wherever it expects indentation, but
 * such a line is blank to a reader. Line numbers and offsets must stay as they are, so the tabs
 * on these lines become spaces in a copy of the input, except where libyaml reads them as block
 * scalar content. */
static int parse_with_blank_tab_lines(const char *data, size_t size, bool track_positions, Builder *b,
                                      json_t **ret) {
        _cleanup_free_ SourceLine *lines = NULL;
        _cleanup_free_ char *copy = NULL;
        size_t n_lines = 0;
        bool any = false;
        int r;

        r = split_lines(data, size, &lines, &n_lines);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_lines && !any; i++)
                any = lines[i].tab;
        if (!any)
                return builder_run(b, data, size, track_positions, ret);

        copy = malloc(size);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, size);
        for (size_t i = 0; i < n_lines; i++)
                if (lines[i].tab)
                        blank_line_fill(copy, &lines[i], true, data);

        /* The first pass finds the block scalars. Spaces in place of blank-line tabs add no error,
         * so a failure here is an error in the input. */
        r = builder_run(b, copy, size, track_positions, ret);
        if (r < 0 || !restore_block_scalar_tabs(b, lines, n_lines, copy, data))
                return r;

        /* NOTE: the indentation of a block scalar is taken from its first non-blank line. With an
         * explicit indentation indicator smaller than that, a tab this decides is blank would be
         * content for libyaml. The opposite mistake shows up as a tab error and is fixed below. */
        for (unsigned attempt = 0;; attempt++) {
                json_decref(*ret);
                *ret = NULL;
                builder_done(b);
                r = builder_run(b, copy, size, track_positions, ret);
                if (r >= 0 || b->tab_line < 0 || (size_t) b->tab_line >= n_lines ||
                    !lines[b->tab_line].tab || attempt >= YAML_BLANK_TAB_RETRIES_MAX)
                        return r;
                blank_line_fill(copy, &lines[b->tab_line], true, data);
        }
}

int yaml_parse_json(const char *data, size_t size, json_t **ret, json_t **ret_warnings, json_t **ret_positions,
                    YamlError *reterr) {
        _cleanup_(builder_done) Builder b = {};
        json_auto_t *value = NULL, *positions = NULL;
        bool utf16;
        int r;

        assert(data || size == 0);
        assert(ret);

        /* The line scan for blank lines with tabs reads UTF-8; libyaml also reads UTF-16. */
        utf16 = size >= 2 && ((data[0] == '\xff' && data[1] == '\xfe') || (data[0] == '\xfe' && data[1] == '\xff'));
        if (utf16)
                r = builder_run(&b, data ?: "", size, ret_positions != NULL, &value);
        else
                r = parse_with_blank_tab_lines(data ?: "", size, ret_positions != NULL, &b, &value);
        if (r < 0) {
                if (reterr)
                        *reterr = b.error;
                return r;
        }

        if (ret_positions) {
                r = builder_positions(&b, value, &positions);
                if (r < 0)
                        return r;
                *ret_positions = TAKE_PTR(positions);
        }
        if (ret_warnings)
                *ret_warnings = json_incref(b.warnings);
        *ret = TAKE_PTR(value);
        return 0;
}

unsigned yaml_position_line(const json_t *positions, const char *path) {
        const json_t *p = json_object_get(positions, path);

        if (json_is_array(p))
                p = json_array_get(p, 0);
        return json_is_integer(p) ? (unsigned) json_integer_value(p) : 0;
}

unsigned yaml_position_column(const json_t *positions, const char *path) {
        const json_t *column = json_array_get(json_object_get(positions, path), 1);

        return json_is_integer(column) ? (unsigned) json_integer_value(column) : 0;
}

const char *yaml_position_text(const json_t *positions, const char *path) {
        const json_t *p = json_object_get(positions, path);

        /* [line, column, "text"] as the parser records it, or [line, "text"] without a column. */
        return json_string_value(json_array_get(p, 2)) ?: json_string_value(json_array_get(p, 1));
}
