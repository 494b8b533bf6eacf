/* SPDX-License-Identifier: Apache-2.0 */
/* The positions object of a YAML parse: JSON-pointer paths of nodes mapped to where they start. */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/yaml-internal.h"
#include "lib/yaml-util.h"

/* Positions are not recorded below a path longer than this, so that long keys cannot make the
 * positions object grow with the square of the input size. */
#define YAML_POSITION_PATH_MAX 1024

/* Append "/" and key to path, escaped as RFC 6901 requires. *ret is NULL when path is NULL or the
 * result would be longer than YAML_POSITION_PATH_MAX. */
int yaml_path_join(const char *path, const char *key, char **ret) {
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

int yaml_path_join_index(const char *path, size_t index, char **ret) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%zu", index);
        return yaml_path_join(path, buf, ret);
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

int yaml_positions_add(Builder *b, const char *path, TextPosition at, const char *text) {
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

void yaml_position_drop(Position *p) {
        free(p->path);
        free(p->text);
        p->path = p->text = NULL;
}

/* Record the anchored subtree's positions again under path, where an alias repeats it. */
int yaml_positions_copy_anchor(Builder *b, const Anchor *a, const char *path, TextPosition at) {
        size_t prefix;

        if (!b->track_positions || !path)
                return 0;
        if (!a->path)
                return yaml_positions_add(b, path, at, /* text= */ NULL);

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
                r = yaml_positions_add(b, copy, copy_at, b->positions[i].text);
                if (r < 0)
                        return r;
        }
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
int yaml_positions_apply_merges(Builder *b, const char *path, const MergeEntry *entries, size_t n_entries,
                                json_t *sources, json_t *explicit) {
        _cleanup_free_ char *prefix = NULL;
        size_t prefix_length;
        int r;

        if (!b->track_positions || !path)
                return 0;
        r = yaml_path_join(path, "<<", &prefix);
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
                                yaml_position_drop(p);
                                continue;
                        }

                        n = strcspn(rest + 1, "/");
                        key = path_segment_unescape(rest + 1, n);
                        if (!key)
                                return -ENOMEM;
                        if (json_object_get(explicit, key) || merge_winner(sources, key) != source) {
                                yaml_position_drop(p);
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

/* The positions object: entries whose path no longer leads to a node (the losing copy of a
 * duplicate key) are left out, and a later entry for a path replaces an earlier one. */
int yaml_builder_positions(Builder *b, json_t *root, json_t **ret) {
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
