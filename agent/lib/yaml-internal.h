/* SPDX-License-Identifier: Apache-2.0 */
/* Types and functions shared by the files of the YAML reader; yaml-util.h is the public API. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "lib/macro.h"
#include "lib/yaml-util.h"

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

/* The << entries of one mapping: sources in the order PyYAML applies them, later ones winning. */
typedef struct MergeEntry {
        size_t positions_begin, positions_end;
        size_t first_source, n_sources;
        bool sequence;
} MergeEntry;

/* ---- Functions, by the file that defines them ---- */

/* yaml-util.c */
void yaml_builder_done(Builder *b);
int yaml_builder_run(Builder *b, const char *data, size_t size, bool track_positions, json_t **ret);

/* yaml-errors.c */
unsigned yaml_mark_line(yaml_mark_t mark);
TextPosition yaml_mark_position(yaml_mark_t mark);
size_t yaml_line_break_length(const char *data, size_t size, size_t i);
size_t yaml_text_start(const char *data, size_t size);
int yaml_builder_fail(Builder *b, int error, yaml_mark_t mark, const char *format, ...) _printf_(4, 5);
int yaml_builder_next(Builder *b, yaml_event_t *ret);
int yaml_builder_warn(Builder *b, TextPosition at, const char *message);

/* yaml-positions.c */
int yaml_path_join(const char *path, const char *key, char **ret);
int yaml_path_join_index(const char *path, size_t index, char **ret);
int yaml_positions_add(Builder *b, const char *path, TextPosition at, const char *text);
void yaml_position_drop(Position *p);
int yaml_positions_copy_anchor(Builder *b, const Anchor *a, const char *path, TextPosition at);
int yaml_positions_apply_merges(Builder *b, const char *path, const MergeEntry *entries, size_t n_entries,
                                json_t *sources, json_t *explicit);
int yaml_builder_positions(Builder *b, json_t *root, json_t **ret);

/* yaml-blank-tabs.c */
int yaml_parse_with_blank_tab_lines(const char *data, size_t size, bool track_positions, Builder *b,
                                    json_t **ret);
