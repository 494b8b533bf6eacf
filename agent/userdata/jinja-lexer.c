/* SPDX-License-Identifier: Apache-2.0 */
/* The Jinja lexer: splits a template into text, tag delimiters, names, literals and operators. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Lexer ---- */

/* Operators of Jinja's lexer, longest first. */
static const char *const operators[] = {
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
};

static int lexer_push(Lexer *l, TokenType type, unsigned line, const char *start, size_t length,
                      Token **ret) {
        if (l->n_tokens >= JINJA_TOKENS_MAX)
                return jinja_fail(l->reterr, -E2BIG, line, "The template has more than %u tokens",
                                  JINJA_TOKENS_MAX);
        if (l->n_tokens == l->allocated) {
                size_t allocated = MAX(l->allocated * 2, (size_t) 256);
                Token *tokens = reallocarray(l->tokens, allocated, sizeof(Token));

                if (!tokens)
                        return -ENOMEM;
                l->tokens = tokens;
                l->allocated = allocated;
        }
        l->tokens[l->n_tokens] = (Token) { .type = type, .line = line, .start = start, .length = length };
        if (ret)
                *ret = &l->tokens[l->n_tokens];
        l->n_tokens++;
        return 0;
}

static bool lexer_at(const Lexer *l, size_t pos, const char *s) {
        size_t n = strlen(s);
        return pos + n <= l->size && memcmp(l->source + pos, s, n) == 0;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Move past blanks, counting lines. */
static void lexer_skip_space(Lexer *l) {
        while (l->pos < l->size && is_space(l->source[l->pos])) {
                if (l->source[l->pos] == '\n')
                        l->line++;
                l->pos++;
        }
}

/* Push the text from start to end, without its trailing blanks when strip_right is set. */
static int lexer_push_text(Lexer *l, size_t start, size_t end, unsigned line, bool strip_right) {
        if (strip_right)
                while (end > start && is_space(l->source[end - 1]))
                        end--;
        if (end == start)
                return 0;
        return lexer_push(l, TOKEN_TEXT, line, l->source + start, end - start, NULL);
}

/* The line number of a position, counting from line at pos. */
static unsigned lexer_advance_to(Lexer *l, size_t pos) {
        for (; l->pos < pos; l->pos++)
                if (l->source[l->pos] == '\n')
                        l->line++;
        return l->line;
}

/* After '%}' or '#}': '-' strips all following blanks, '+' keeps them, otherwise one newline goes. */
static void lexer_after_tag(Lexer *l, char strip, bool block) {
        if (strip == '-')
                lexer_skip_space(l);
        else if (strip != '+' && block && l->pos < l->size && l->source[l->pos] == '\n') {
                l->pos++;
                l->line++;
        }
}

/* A {% raw %} tag at pos: its length through '%}', 0 when the tag at pos is something else. */
static size_t raw_tag_length(const Lexer *l, size_t pos, const char *keyword, char *ret_strip) {
        size_t p = pos + 2, n = strlen(keyword);

        if (p < l->size && (l->source[p] == '-' || l->source[p] == '+'))
                p++;
        while (p < l->size && is_space(l->source[p]))
                p++;
        if (!lexer_at(l, p, keyword))
                return 0;
        p += n;
        while (p < l->size && is_space(l->source[p]))
                p++;
        *ret_strip = 0;
        if (p < l->size && (l->source[p] == '-' || l->source[p] == '+'))
                *ret_strip = l->source[p++];
        return lexer_at(l, p, "%}") ? p + 2 - pos : 0;
}

/* {% raw %} ... {% endraw %}: the text between is kept as it is. l->pos is at '{%'. */
static int lex_raw(Lexer *l, size_t begin_length, char begin_strip) {
        unsigned line = l->line;
        size_t start, end_length = 0;
        char end_strip = 0;

        (void) lexer_advance_to(l, l->pos + begin_length);
        if (begin_strip == '-')
                lexer_skip_space(l);
        start = l->pos;
        for (size_t p = start; p + 1 < l->size; p++)
                if (lexer_at(l, p, "{%") && (end_length = raw_tag_length(l, p, "endraw", &end_strip)) > 0) {
                        unsigned text_line = l->line;
                        bool strip = l->source[p + 2] == '-';
                        int r = lexer_push_text(l, start, p, text_line, strip);

                        if (r < 0)
                                return r;
                        (void) lexer_advance_to(l, p + end_length);
                        lexer_after_tag(l, end_strip, true);
                        return 0;
                }
        return jinja_fail(l->reterr, -EINVAL, line, "Missing '{%% endraw %%}' for '{%% raw %%}'");
}

/* {# ... #}. l->pos is at '{#'. */
static int lex_comment(Lexer *l) {
        unsigned line = l->line;
        size_t rest = l->pos + 2;

        /* Jinja takes a '{#' (or '{#-') that ends the template as an empty comment. */
        if (rest < l->size && (l->source[rest] == '-' || l->source[rest] == '+'))
                rest++;
        if (rest >= l->size) {
                l->pos = l->size;
                return 0;
        }

        for (size_t p = l->pos + 2; p + 1 < l->size; p++)
                if (lexer_at(l, p, "#}")) {
                        char strip = l->source[p - 1];

                        if (p - 1 < l->pos + 2)
                                strip = 0;
                        (void) lexer_advance_to(l, p + 2);
                        lexer_after_tag(l, strip == '-' || strip == '+' ? strip : 0, true);
                        return 0;
                }
        return jinja_fail(l->reterr, -EINVAL, line, "Missing '#}' for the comment opened with '{#'");
}

/* Append the code point of a \x, \u or \U escape of digits hex digits at s. */
static int lex_escape_hex(Lexer *l, const char *s, size_t avail, size_t digits, Buffer *b) {
        char text[4];
        uint32_t c = 0;

        if (avail < digits)
                return jinja_fail(l->reterr, -EINVAL, l->line, "Truncated escape '\\%c' in a string literal",
                                  s[-1]);
        for (size_t i = 0; i < digits; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return jinja_fail(l->reterr, -EINVAL, l->line,
                                          "Truncated escape '\\%c' in a string literal", s[-1]);
                c = c * 16 + (uint32_t) (isdigit((unsigned char) s[i]) ? s[i] - '0' :
                                         tolower((unsigned char) s[i]) - 'a' + 10);
        }
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return jinja_fail(l->reterr, -EINVAL, l->line,
                                  "Escape '\\%c' in a string literal is not a Unicode character", s[-1]);
        return jinja_buffer_append(b, text, jinja_utf8_encode(c, text));
}

/* Decode a string literal's escapes as Python's unicode-escape codec does. *p is past the escape's
 * backslash; on return it is past the escape. */
static int lex_escape(Lexer *l, const char **p, const char *end, Buffer *b) {
        static const struct {
                char letter;
                char value;
        } simple[] = {
                { '\\', '\\' }, { '\'', '\'' }, { '"', '"' }, { 'a', '\a' }, { 'b', '\b' },
                { 'f', '\f' }, { 'n', '\n' }, { 'r', '\r' }, { 't', '\t' }, { 'v', '\v' },
        };
        char c = **p;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(simple); i++)
                if (c == simple[i].letter) {
                        (*p)++;
                        return jinja_buffer_append(b, &simple[i].value, 1);
                }
        if (c == '\n') {
                (*p)++;
                return 0;
        }
        if (c >= '0' && c <= '7') {
                uint32_t v = 0;
                char text[4];

                for (size_t i = 0; i < 3 && *p < end && **p >= '0' && **p <= '7'; i++, (*p)++)
                        v = v * 8 + (uint32_t) (**p - '0');
                return jinja_buffer_append(b, text, jinja_utf8_encode(v, text));
        }
        if (c == 'x' || c == 'u' || c == 'U') {
                size_t digits = 8;

                if (c == 'x')
                        digits = 2;
                else if (c == 'u')
                        digits = 4;

                (*p)++;
                r = lex_escape_hex(l, *p, end - *p, digits, b);
                if (r < 0)
                        return r;
                *p += digits;
                return 0;
        }
        if (c == 'N')
                return jinja_fail(l->reterr, -EINVAL, l->line,
                                  "Escape '\\N{...}' in a string literal is not supported");
        /* Python keeps an unknown escape as written. */
        return jinja_buffer_append(b, "\\", 1);
}

static int lex_string(Lexer *l) {
        char quote = l->source[l->pos];
        const char *p = l->source + l->pos + 1, *end = l->source + l->size;
        unsigned line = l->line;
        _cleanup_(jinja_buffer_done) Buffer b = {};
        Token *t;
        int r;

        for (;;) {
                if (p >= end)
                        return jinja_fail(l->reterr, -EINVAL, line,
                                          "Missing closing %c for a string literal", quote);
                if (*p == quote)
                        break;
                if (*p == '\\' && p + 1 < end) {
                        p++;
                        if (*p == '\n')
                                l->line++;
                        r = lex_escape(l, &p, end, &b);
                } else {
                        if (*p == '\n')
                                l->line++;
                        r = jinja_buffer_append(&b, p++, 1);
                }
                if (r == -E2BIG)
                        return jinja_fail(l->reterr, r, line, "A string literal is longer than %u bytes",
                                          JINJA_OUTPUT_MAX);
                if (r < 0)
                        return r;
        }
        l->pos = p + 1 - l->source;

        r = lexer_push(l, TOKEN_STRING, line, NULL, b.size, &t);
        if (r < 0)
                return r;
        t->start = jinja_arena_strndup(l->arena, b.data ?: "", b.size);
        return t->start ? 0 : -ENOMEM;
}

/* Digits with single '_' separators in a base, as Python and Jinja accept them. Returns the
 * number of characters, 0 when none. */
static size_t scan_digits(const char *s, size_t n, int base) {
        size_t i = 0;

        while (i < n) {
                char c = s[i];
                bool digit = base == 16 ? isxdigit((unsigned char) c) : (c >= '0' && c < '0' + base);

                if (digit)
                        i++;
                else if (c == '_' && i > 0 && i + 1 < n && s[i - 1] != '_')
                        i++;
                else
                        break;
        }
        while (i > 0 && s[i - 1] == '_')
                i--;
        return i;
}

static int lex_number(Lexer *l) {
        const char *s = l->source + l->pos;
        size_t n = l->size - l->pos, len, base_prefix = 0;
        int base = 10;
        char digits[128];
        size_t nd = 0;
        bool is_float = false;
        Token *t;
        int r;

        if (n > 2 && s[0] == '0' && strchr("bBoOxX", s[1]) && s[1]) {
                switch (tolower((unsigned char) s[1])) {
                case 'b':
                        base = 2;
                        break;
                case 'o':
                        base = 8;
                        break;
                default:
                        base = 16;
                }
                base_prefix = 2;
        }
        len = base_prefix + scan_digits(s + base_prefix, n - base_prefix, base);
        if (base == 10 && len < n && s[len] == '.' && len + 1 < n && isdigit((unsigned char) s[len + 1])) {
                is_float = true;
                len += 1 + scan_digits(s + len + 1, n - len - 1, 10);
        }
        if (base == 10 && len < n && (s[len] == 'e' || s[len] == 'E')) {
                size_t e = len + 1;

                if (e < n && (s[e] == '+' || s[e] == '-'))
                        e++;
                if (e < n && isdigit((unsigned char) s[e])) {
                        is_float = true;
                        len = e + scan_digits(s + e, n - e, 10);
                }
        }
        for (size_t i = base_prefix; i < len && nd + 1 < sizeof(digits); i++)
                if (s[i] != '_')
                        digits[nd++] = s[i];
        digits[nd] = '\0';

        r = lexer_push(l, is_float ? TOKEN_FLOAT : TOKEN_INTEGER, l->line, s, len, &t);
        if (r < 0)
                return r;
        l->pos += len;
        errno = 0;
        if (is_float)
                t->real = strtod(digits, NULL);
        else {
                char *end;
                unsigned long long v = strtoull(digits, &end, base);

                if (errno != 0 || *end != '\0' || v > INT64_MAX || len >= sizeof(digits))
                        return jinja_fail(l->reterr, -EINVAL, t->line,
                                          "Integer literal '%.*s' is larger than %" PRId64,
                                          (int) MIN(len, (size_t) 40), s, INT64_MAX);
                t->integer = (json_int_t) v;
        }
        return 0;
}

static int lex_operator(Lexer *l) {
        for (size_t i = 0; i < ELEMENTSOF(operators); i++)
                if (lexer_at(l, l->pos, operators[i])) {
                        int r = lexer_push(l, TOKEN_OPERATOR, l->line, l->source + l->pos,
                                           strlen(operators[i]), NULL);
                        if (r < 0)
                                return r;
                        l->pos += strlen(operators[i]);
                        return 0;
                }
        return jinja_fail(l->reterr, -EINVAL, l->line, "Unexpected character '%c' in an expression",
                          l->source[l->pos]);
}

/* The tokens of one {{ }} or {% %} tag, through its end marker. */
static int lex_tag(Lexer *l, bool block) {
        unsigned line = l->line;
        const char *end = block ? "%}" : "}}";
        int r;

        for (;;) {
                char c;

                lexer_skip_space(l);
                if (l->pos >= l->size)
                        return jinja_fail(l->reterr, -EINVAL, line,
                                          "Missing '%s' for the tag opened with '%s'", end,
                                          block ? "{%" : "{{");
                c = l->source[l->pos];
                if ((c == '-' || (block && c == '+')) && lexer_at(l, l->pos + 1, end)) {
                        r = lexer_push(l, block ? TOKEN_BLOCK_END : TOKEN_VARIABLE_END, l->line, NULL, 0,
                                       NULL);
                        if (r < 0)
                                return r;
                        l->pos += 3;
                        lexer_after_tag(l, c, block);
                        return 0;
                }
                if (lexer_at(l, l->pos, end)) {
                        r = lexer_push(l, block ? TOKEN_BLOCK_END : TOKEN_VARIABLE_END, l->line, NULL, 0,
                                       NULL);
                        if (r < 0)
                                return r;
                        l->pos += 2;
                        lexer_after_tag(l, 0, block);
                        return 0;
                }

                if (isalpha((unsigned char) c) || c == '_') {
                        size_t start = l->pos;

                        while (l->pos < l->size &&
                               (isalnum((unsigned char) l->source[l->pos]) || l->source[l->pos] == '_'))
                                l->pos++;
                        r = lexer_push(l, TOKEN_NAME, l->line, l->source + start, l->pos - start, NULL);
                } else if (isdigit((unsigned char) c))
                        r = lex_number(l);
                else if (c == '\'' || c == '"')
                        r = lex_string(l);
                else
                        r = lex_operator(l);
                if (r < 0)
                        return r;
        }
}

/* The position of the next '{{', '{%' or '{#' at or after pos, or size. */
static size_t find_tag(const Lexer *l, size_t pos) {
        for (size_t p = pos; p + 1 < l->size; p++)
                if (l->source[p] == '{' && strchr("{%#", l->source[p + 1]))
                        return p;
        return l->size;
}

int jinja_lex(Lexer *l) {
        int r;

        while (l->pos < l->size) {
                size_t tag = find_tag(l, l->pos), raw_length;
                unsigned text_line = l->line;
                bool strip = tag + 2 < l->size && l->source[tag + 2] == '-';
                char kind, raw_strip;

                r = lexer_push_text(l, l->pos, tag, text_line, strip);
                if (r < 0)
                        return r;
                (void) lexer_advance_to(l, tag);
                if (tag >= l->size)
                        break;

                kind = l->source[tag + 1];
                if (kind == '#') {
                        r = lex_comment(l);
                } else if (kind == '%' && (raw_length = raw_tag_length(l, tag, "raw", &raw_strip)) > 0) {
                        r = lex_raw(l, raw_length, raw_strip);
                } else {
                        r = lexer_push(l, kind == '%' ? TOKEN_BLOCK_BEGIN : TOKEN_VARIABLE_BEGIN, l->line,
                                       NULL, 0, NULL);
                        if (r < 0)
                                return r;
                        l->pos += 2;
                        if (l->pos < l->size && (l->source[l->pos] == '-' || l->source[l->pos] == '+'))
                                l->pos++;
                        r = lex_tag(l, kind == '%');
                }
                if (r < 0)
                        return r;
        }
        return lexer_push(l, TOKEN_EOF, l->line, NULL, 0, NULL);
}
