/* SPDX-License-Identifier: Apache-2.0 */
/* Source positions of libyaml marks, and the errors and warnings of a YAML parse that carry them. */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "lib/macro.h"
#include "lib/yaml-internal.h"
#include "lib/yaml-util.h"

unsigned yaml_mark_line(yaml_mark_t mark) {
        return (unsigned) mark.line + 1;
}

TextPosition yaml_mark_position(yaml_mark_t mark) {
        return (TextPosition) { .line = (unsigned) mark.line + 1, .column = (unsigned) mark.column + 1 };
}

/* Length of the line break at data[i], 0 if none. libyaml breaks lines at CR LF, CR, LF, and the
 * UTF-8 forms of NEL, LS and PS. */
size_t yaml_line_break_length(const char *data, size_t size, size_t i) {
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
size_t yaml_text_start(const char *data, size_t size) {
        return size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* The byte offset of a libyaml mark in UTF-8 input, or SIZE_MAX. */
static size_t mark_to_offset(const char *data, size_t size, yaml_mark_t mark) {
        size_t i = yaml_text_start(data, size), line = 0, column = 0;

        while (i < size && line < mark.line) {
                size_t n = yaml_line_break_length(data, size, i);

                if (n > 0) {
                        line++;
                        i += n;
                } else
                        i++;
        }
        while (i < size && column < mark.column && yaml_line_break_length(data, size, i) == 0) {
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
        size_t i = yaml_text_start(data, size);
        unsigned line = 1, column = 1;

        while (i < offset && i < size) {
                size_t n = yaml_line_break_length(data, size, i);

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
int yaml_builder_fail(Builder *b, int error, yaml_mark_t mark, const char *format, ...) {
        va_list ap;

        b->error.line = yaml_mark_line(mark);
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
                return yaml_builder_fail(b, -EINVAL, p->problem_mark, "tab character used for indentation");
        }

        /* libyaml reports a key without ':' at the start of the line after it. The key itself is
         * where the author has to look. */
        if (p->context && streq(p->context, "while scanning a simple key"))
                return yaml_builder_fail(b, -EINVAL, p->context_mark, "%s (%s)", problem, p->context);

        if (p->context)
                return yaml_builder_fail(b, -EINVAL, p->problem_mark, "%s (%s at line %u, column %u)",
                                         problem, p->context, yaml_mark_line(p->context_mark),
                                         (unsigned) p->context_mark.column + 1);
        return yaml_builder_fail(b, -EINVAL, p->problem_mark, "%s", problem);
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
        return yaml_builder_fail(b, -EINVAL, b->parser.problem_mark, "%s",
                                 b->parser.problem ?: "invalid YAML");
}

int yaml_builder_next(Builder *b, yaml_event_t *ret) {
        if (!yaml_parser_parse(&b->parser, ret))
                return builder_fail_libyaml(b);
        return 0;
}

int yaml_builder_warn(Builder *b, TextPosition at, const char *message) {
        if (json_array_append_new(b->warnings, json_pack("{s:I, s:I, s:s}", "line", (json_int_t) at.line, "column",
                                                         (json_int_t) at.column, "message", message)) < 0)
                return -ENOMEM;
        return 0;
}
