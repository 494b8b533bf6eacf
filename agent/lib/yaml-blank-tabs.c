/* SPDX-License-Identifier: Apache-2.0 */
/* Blank lines that hold tabs, which libyaml rejects and PyYAML reads as blank: a YAML parse
 * retried with those lines made of spaces. */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/yaml-internal.h"
#include "lib/yaml-util.h"

/* Re-parses allowed when a tab that looked like block scalar content turns out to be rejected. */
#define YAML_BLANK_TAB_RETRIES_MAX 64

typedef struct SourceLine {
        size_t begin, end;      /* bytes of the line, without its break */
        size_t indent;          /* leading spaces */
        bool blank;             /* only spaces and tabs */
        bool tab;               /* blank and containing a tab */
} SourceLine;

/* Split data into lines the way libyaml counts them. */
static int split_lines(const char *data, size_t size, SourceLine **ret, size_t *ret_n) {
        _cleanup_free_ SourceLine *lines = NULL;
        size_t n = 0, allocated = 0, i = yaml_text_start(data, size);

        for (;;) {
                SourceLine l = { .begin = i, .blank = true };
                size_t brk = 0;

                while (i < size && (brk = yaml_line_break_length(data, size, i)) == 0) {
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
int yaml_parse_with_blank_tab_lines(const char *data, size_t size, bool track_positions, Builder *b,
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
                return yaml_builder_run(b, data, size, track_positions, ret);

        copy = malloc(size);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, size);
        for (size_t i = 0; i < n_lines; i++)
                if (lines[i].tab)
                        blank_line_fill(copy, &lines[i], true, data);

        /* The first pass finds the block scalars. Spaces in place of blank-line tabs add no error,
         * so a failure here is an error in the input. */
        r = yaml_builder_run(b, copy, size, track_positions, ret);
        if (r < 0 || !restore_block_scalar_tabs(b, lines, n_lines, copy, data))
                return r;

        /* NOTE: the indentation of a block scalar is taken from its first non-blank line. With an
         * explicit indentation indicator smaller than that, a tab this decides is blank would be
         * content for libyaml. The opposite mistake shows up as a tab error and is fixed below. */
        for (unsigned attempt = 0;; attempt++) {
                json_decref(*ret);
                *ret = NULL;
                yaml_builder_done(b);
                r = yaml_builder_run(b, copy, size, track_positions, ret);
                if (r >= 0 || b->tab_line < 0 || (size_t) b->tab_line >= n_lines ||
                    !lines[b->tab_line].tab || attempt >= YAML_BLANK_TAB_RETRIES_MAX)
                        return r;
                blank_line_fill(copy, &lines[b->tab_line], true, data);
        }
}
