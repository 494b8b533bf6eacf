/* SPDX-License-Identifier: Apache-2.0 */
/* A renderer for the subset of Jinja that user data uses. Output matches what cloud-init's Jinja
 * environment gives (Jinja 3.1, trim_blocks on, an undefined variable rendered as
 * CI_MISSING_JINJA_VAR/NAME, values printed as Python's str() prints them).
 *
 * Template grammar:
 *   template  := ( text | '{{' expr '}}' | '{%' statement '%}' | '{#' comment '#}' )*
 *   statement := 'if' test | 'elif' test | 'else' | 'endif'
 *              | 'for' name (',' name)* 'in' test ['if' expr] | 'endfor' | 'raw' ... 'endraw'
 * Expression grammar, lowest precedence first (test is expr without its inline if):
 *   expr      := or ['if' or ['else' expr]]
 *   or        := and ('or' and)*
 *   and       := not ('and' not)*
 *   not       := 'not' not | compare
 *   compare   := concat (('==' | '!=' | '<' | '>' | '<=' | '>=' | 'in' | 'not' 'in') concat)*
 *   concat    := unary ('~' unary)*
 *   unary     := '-' unary | primary postfix* ( '|' filter ['(' args ')'] | 'is' ['not'] name )*
 *   postfix   := '.' name | '.' integer | '[' expr ']' | '.' ('items' | 'keys' | 'values') '()'
 *   primary   := name | string+ | integer | float | '(' [expr (',' expr)* [',']] ')' | '[' ... ']'
 * Whitespace control: '-' after '{{', '{%' or '{#' strips the blanks before the tag, '-' before
 * '}}', '%}' or '#}' strips the blanks after it, and a newline right after '%}' or '#}' is dropped.
 * Everything else Jinja has (set, macro, include, function calls, arithmetic, dict literals,
 * slices, other filters and tests) is rejected with -EINVAL naming the construct and its line. */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "userdata/jinja.h"

/* Limits on untrusted templates. */
#define JINJA_TEMPLATE_MAX (16U * 1024U * 1024U)  /* template bytes */
#define JINJA_OUTPUT_MAX (16U * 1024U * 1024U)    /* rendered bytes, and any string built on the way */
#define JINJA_TOKENS_MAX 200000U                  /* tokens of one template */
#define JINJA_BLOCK_DEPTH_MAX 32U                 /* nested if and for blocks */
#define JINJA_EXPRESSION_DEPTH_MAX 64U            /* nested operators, filters and parentheses */
#define JINJA_LOOP_ITERATIONS_MAX 100000U         /* for-loop iterations of one render, all loops */
#define JINJA_STEPS_MAX 10000000U                 /* nodes evaluated in one render */
#define JINJA_WORK_MAX (64U * 1024U * 1024U)      /* bytes of strings built, scanned or compared */
#define JINJA_VALUE_DEPTH_MAX 64U                 /* nested lists and mappings printed */
#define JINJA_LOOP_TARGETS_MAX 4U                 /* names in 'for a, b in ...' */
#define JINJA_WARNINGS_MAX 64U                    /* distinct warnings kept, then a note that more exist */

/* The text cloud-init renders in place of an undefined variable, before its name. */
#define MISSING_PREFIX "CI_MISSING_JINJA_VAR/"

/* ---- Small helpers: arena, growable buffer, UTF-8 ---- */

/* Every allocation of one render, freed together. */
typedef struct Arena {
        void **blocks;
        size_t n, allocated;
} Arena;

static void arena_done(Arena *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->blocks[i]);
        free(a->blocks);
        *a = (Arena) {};
}

static void *arena_alloc(Arena *a, size_t size) {
        void *p;

        if (a->n == a->allocated) {
                size_t allocated = MAX(a->allocated * 2, (size_t) 64);
                void **blocks = reallocarray(a->blocks, allocated, sizeof(void *));

                if (!blocks)
                        return NULL;
                a->blocks = blocks;
                a->allocated = allocated;
        }
        p = calloc(1, size ?: 1);
        if (p)
                a->blocks[a->n++] = p;
        return p;
}

static char *arena_strndup(Arena *a, const char *s, size_t n) {
        char *p = arena_alloc(a, n + 1);

        if (p)
                memcpy(p, s, n);
        return p;
}

typedef struct Buffer {
        char *data;
        size_t size, allocated;
} Buffer;

static void buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer) {};
}

/* Append n bytes; -E2BIG past JINJA_OUTPUT_MAX. The data stays NUL-terminated. */
static int buffer_append(Buffer *b, const char *s, size_t n) {
        if (n > JINJA_OUTPUT_MAX - b->size)
                return -E2BIG;
        if (b->size + n + 1 > b->allocated) {
                size_t allocated = MAX(b->allocated * 2, b->size + n + 1);
                char *data = realloc(b->data, MAX(allocated, (size_t) 64));

                if (!data)
                        return -ENOMEM;
                b->data = data;
                b->allocated = MAX(allocated, (size_t) 64);
        }
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = '\0';
        return 0;
}

static int buffer_puts(Buffer *b, const char *s) {
        return buffer_append(b, s, strlen(s));
}

static int buffer_printf(Buffer *b, const char *format, ...) _printf_(2, 3);
static int buffer_printf(Buffer *b, const char *format, ...) {
        char text[64];
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(text))
                return -EINVAL;
        return buffer_append(b, text, n);
}

/* Length of the UTF-8 sequence at s (at most n bytes) and its code point, 0 when invalid. */
static size_t utf8_decode(const char *s, size_t n, uint32_t *ret) {
        const unsigned char *u = (const unsigned char *) s;
        size_t len;
        uint32_t c, min;

        if (n == 0)
                return 0;
        if (u[0] < 0x80) {
                *ret = u[0];
                return 1;
        }
        if ((u[0] & 0xe0) == 0xc0)
                len = 2, c = u[0] & 0x1f, min = 0x80;
        else if ((u[0] & 0xf0) == 0xe0)
                len = 3, c = u[0] & 0x0f, min = 0x800;
        else if ((u[0] & 0xf8) == 0xf0)
                len = 4, c = u[0] & 0x07, min = 0x10000;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((u[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (u[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return len;
}

static size_t utf8_encode(uint32_t c, char out[static 4]) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | (c >> 6));
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | (c >> 12));
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (c >> 18));
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* Offset of the first byte that is not valid UTF-8, or n when all are. */
static size_t utf8_invalid_offset(const char *s, size_t n) {
        uint32_t c;

        for (size_t i = 0; i < n;) {
                size_t len = utf8_decode(s + i, n - i, &c);
                if (len == 0)
                        return i;
                i += len;
        }
        return n;
}

/* Number of code points, as Python's len() counts a str. The text is valid UTF-8. */
static size_t utf8_length(const char *s, size_t n) {
        size_t count = 0;

        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        count++;
        return count;
}

/* Byte length of the code point starting at s. */
static size_t utf8_char_size(const char *s, size_t n) {
        size_t len = 1;

        while (len < n && ((unsigned char) s[len] & 0xc0) == 0x80)
                len++;
        return len;
}

/* ---- Errors and warnings ---- */

static int fail(JinjaError *reterr, int error, unsigned line, const char *format, ...) _printf_(4, 5);
static int fail(JinjaError *reterr, int error, unsigned line, const char *format, ...) {
        va_list ap;

        if (error == -ENOMEM)
                return error;
        if (reterr) {
                reterr->line = line;
                va_start(ap, format);
                (void) vsnprintf(reterr->message, sizeof(reterr->message), format, ap);
                va_end(ap);
        }
        return error;
}

/* ---- Lexer ---- */

typedef enum TokenType {
        TOKEN_TEXT,
        TOKEN_VARIABLE_BEGIN,
        TOKEN_VARIABLE_END,
        TOKEN_BLOCK_BEGIN,
        TOKEN_BLOCK_END,
        TOKEN_NAME,
        TOKEN_STRING,
        TOKEN_INTEGER,
        TOKEN_FLOAT,
        TOKEN_OPERATOR,
        TOKEN_EOF,
} TokenType;

typedef struct Token {
        TokenType type;
        unsigned line;
        const char *start;       /* TEXT, NAME, OPERATOR: into the source; STRING: decoded, in the arena */
        size_t length;
        json_int_t integer;
        double real;
} Token;

typedef struct Lexer {
        const char *source;
        size_t size;
        size_t pos;
        unsigned line;
        Token *tokens;
        size_t n_tokens, allocated;
        Arena *arena;
        JinjaError *reterr;
} Lexer;

/* Operators of Jinja's lexer, longest first. */
static const char *const operators[] = {
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
};

static int lexer_push(Lexer *l, TokenType type, unsigned line, const char *start, size_t length,
                      Token **ret) {
        if (l->n_tokens >= JINJA_TOKENS_MAX)
                return fail(l->reterr, -E2BIG, line, "The template has more than %u tokens",
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
        return fail(l->reterr, -EINVAL, line, "Missing '{%% endraw %%}' for '{%% raw %%}'");
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
        return fail(l->reterr, -EINVAL, line, "Missing '#}' for the comment opened with '{#'");
}

/* Append the code point of a \x, \u or \U escape of digits hex digits at s. */
static int lex_escape_hex(Lexer *l, const char *s, size_t avail, size_t digits, Buffer *b) {
        char text[4];
        uint32_t c = 0;

        if (avail < digits)
                return fail(l->reterr, -EINVAL, l->line, "Truncated escape '\\%c' in a string literal",
                            s[-1]);
        for (size_t i = 0; i < digits; i++) {
                if (!isxdigit((unsigned char) s[i]))
                        return fail(l->reterr, -EINVAL, l->line,
                                    "Truncated escape '\\%c' in a string literal", s[-1]);
                c = c * 16 + (uint32_t) (isdigit((unsigned char) s[i]) ? s[i] - '0' :
                                         tolower((unsigned char) s[i]) - 'a' + 10);
        }
        if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return fail(l->reterr, -EINVAL, l->line,
                            "Escape '\\%c' in a string literal is not a Unicode character", s[-1]);
        return buffer_append(b, text, utf8_encode(c, text));
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
                        return buffer_append(b, &simple[i].value, 1);
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
                return buffer_append(b, text, utf8_encode(v, text));
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
                return fail(l->reterr, -EINVAL, l->line,
                            "Escape '\\N{...}' in a string literal is not supported");
        /* Python keeps an unknown escape as written. */
        return buffer_append(b, "\\", 1);
}

static int lex_string(Lexer *l) {
        char quote = l->source[l->pos];
        const char *p = l->source + l->pos + 1, *end = l->source + l->size;
        unsigned line = l->line;
        _cleanup_(buffer_done) Buffer b = {};
        Token *t;
        int r;

        for (;;) {
                if (p >= end)
                        return fail(l->reterr, -EINVAL, line, "Missing closing %c for a string literal",
                                    quote);
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
                        r = buffer_append(&b, p++, 1);
                }
                if (r == -E2BIG)
                        return fail(l->reterr, r, line, "A string literal is longer than %u bytes",
                                    JINJA_OUTPUT_MAX);
                if (r < 0)
                        return r;
        }
        l->pos = p + 1 - l->source;

        r = lexer_push(l, TOKEN_STRING, line, NULL, b.size, &t);
        if (r < 0)
                return r;
        t->start = arena_strndup(l->arena, b.data ?: "", b.size);
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
                        return fail(l->reterr, -EINVAL, t->line,
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
        return fail(l->reterr, -EINVAL, l->line, "Unexpected character '%c' in an expression",
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
                        return fail(l->reterr, -EINVAL, line, "Missing '%s' for the tag opened with '%s'",
                                    end, block ? "{%" : "{{");
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

static int lex(Lexer *l) {
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

/* ---- Syntax tree ---- */

typedef enum ExprKind {
        EXPR_LITERAL,
        EXPR_NAME,
        EXPR_ATTRIBUTE,          /* a.name */
        EXPR_ITEM,               /* a[b], a.0 */
        EXPR_LIST,               /* [a, b], (a, b) */
        EXPR_NOT,
        EXPR_NEGATE,
        EXPR_AND,
        EXPR_OR,
        EXPR_COMPARE,
        EXPR_CONCAT,
        EXPR_CONDITIONAL,        /* a if b else c */
        EXPR_FILTER,
        EXPR_TEST,
        EXPR_METHOD,             /* a.items(), a.keys(), a.values() */
} ExprKind;

typedef enum CompareOp {
        COMPARE_EQ,
        COMPARE_NE,
        COMPARE_LT,
        COMPARE_LE,
        COMPARE_GT,
        COMPARE_GE,
        COMPARE_IN,
        COMPARE_NOT_IN,
} CompareOp;

typedef struct Filter Filter;
typedef struct Test Test;

typedef struct Expr {
        ExprKind kind;
        unsigned line;
        unsigned depth;
        json_t *literal;         /* LITERAL; owned by Parser.literals */
        const char *name;        /* NAME, ATTRIBUTE, METHOD */
        struct Expr *a, *b, *c;  /* operands: object and index, left and right, then-cond-else */
        struct Expr **items;     /* LIST items; FILTER arguments by parameter, NULL when not given */
        size_t n_items;
        CompareOp op;
        const Filter *filter;
        const Test *test;
        bool negate;             /* TEST: 'is not' */
        bool tuple;              /* LIST: written as (a, b) */
} Expr;

typedef enum NodeKind {
        NODE_TEXT,
        NODE_OUTPUT,
        NODE_IF,
        NODE_FOR,
} NodeKind;

typedef struct Node Node;

typedef struct NodeList {
        Node **items;
        size_t n, allocated;
} NodeList;

struct Node {
        NodeKind kind;
        unsigned line;
        const char *text;        /* TEXT */
        size_t text_size;
        Expr *expr;              /* OUTPUT value, IF condition, FOR iterable */
        Expr *filter;            /* FOR ... if filter, or NULL */
        const char *targets[JINJA_LOOP_TARGETS_MAX];
        size_t n_targets;
        NodeList body;
        NodeList orelse;         /* IF: else or elif branch; FOR: else branch */
};

/* ---- Values ---- */

/* A value during evaluation: a JSON value, or Jinja's undefined. */
typedef struct Value {
        json_t *json;            /* owned reference; NULL when undefined */
        const char *undefined;   /* the name an undefined value renders with; NULL renders as "" */
        const Expr *origin;      /* where an undefined value came from, for the warning */
        bool tuple;              /* a tuple literal, printed as (a, b). NOTE: it compares as a list. */
} Value;

static void value_done(Value *v) {
        json_decref(v->json);
        *v = (Value) {};
}

static Value value_take(json_t *json) {
        return (Value) { .json = json };
}

static Value value_ref(const json_t *json) {
        return (Value) { .json = json_incref((json_t *) json) };
}

static Value value_undefined(const char *name, const Expr *origin) {
        return (Value) { .undefined = name, .origin = origin };
}

typedef struct Render Render;

/* A filter: its Jinja name, parameter names after the value, and how many must be given. */
typedef int (*FilterFunction)(Render *r, const Expr *e, Value *value, Value *args, Value *ret);

struct Filter {
        const char *name;
        FilterFunction function;
        size_t n_required;
        size_t n_params;
        const char *params[3];
};

typedef bool (*TestFunction)(const Value *v);

struct Test {
        const char *name;
        TestFunction function;
};

static const Filter *filter_find(const char *name, size_t n);
static const Test *test_find(const char *name, size_t n);
static void filter_list(char *buf, size_t size);
static void test_list(char *buf, size_t size);

/* ---- Parser ---- */

typedef struct Parser {
        const Token *tokens;
        size_t pos;
        unsigned block_depth;
        unsigned nesting;        /* parse_expression and parse_unary calls in progress */
        Arena *arena;
        json_t *literals;        /* keeps literal values alive */
        JinjaError *reterr;
} Parser;

static const Token *peek(const Parser *p) {
        return &p->tokens[p->pos];
}

static const Token *peek_at(const Parser *p, size_t offset) {
        size_t i = p->pos;

        for (size_t k = 0; k < offset && p->tokens[i].type != TOKEN_EOF; k++)
                i++;
        return &p->tokens[i];
}

static bool token_is(const Token *t, TokenType type, const char *text) {
        if (t->type != type)
                return false;
        if (!text)
                return true;
        return t->length == strlen(text) && memcmp(t->start, text, t->length) == 0;
}

static bool accept_operator(Parser *p, const char *op) {
        if (!token_is(peek(p), TOKEN_OPERATOR, op))
                return false;
        p->pos++;
        return true;
}

static bool accept_name(Parser *p, const char *name) {
        if (!token_is(peek(p), TOKEN_NAME, name))
                return false;
        p->pos++;
        return true;
}

/* A short description of a token for messages. */
static const char *describe_token(const Token *t, char *buf, size_t size) {
        switch (t->type) {
        case TOKEN_TEXT:
                return "template text";
        case TOKEN_VARIABLE_BEGIN:
                return "'{{'";
        case TOKEN_VARIABLE_END:
                return "'}}'";
        case TOKEN_BLOCK_BEGIN:
                return "'{%'";
        case TOKEN_BLOCK_END:
                return "'%}'";
        case TOKEN_STRING:
                return "a string";
        case TOKEN_EOF:
                return "the end of the template";
        case TOKEN_NAME:
        case TOKEN_INTEGER:
        case TOKEN_FLOAT:
        case TOKEN_OPERATOR:
                (void) snprintf(buf, size, "'%.*s'", (int) MIN(t->length, (size_t) 40), t->start);
                return buf;
        }
        return "a token";
}

static int unexpected(Parser *p, const char *expected) {
        char buf[64];

        return fail(p->reterr, -EINVAL, peek(p)->line, "Expected %s, got %s", expected,
                    describe_token(peek(p), buf, sizeof(buf)));
}

static int expect_operator(Parser *p, const char *op) {
        char what[16];

        if (accept_operator(p, op))
                return 0;
        (void) snprintf(what, sizeof(what), "'%s'", op);
        return unexpected(p, what);
}

static int expr_new(Parser *p, ExprKind kind, unsigned line, Expr *a, Expr *b, Expr **ret) {
        Expr *e = arena_alloc(p->arena, sizeof(Expr));
        unsigned depth = MAX(a ? a->depth : 0, b ? b->depth : 0) + 1;

        if (!e)
                return -ENOMEM;
        if (depth > JINJA_EXPRESSION_DEPTH_MAX)
                return fail(p->reterr, -E2BIG, line, "An expression is nested more than %u levels deep",
                            JINJA_EXPRESSION_DEPTH_MAX);
        *e = (Expr) { .kind = kind, .line = line, .depth = depth, .a = a, .b = b };
        *ret = e;
        return 0;
}

static int expr_new_literal(Parser *p, unsigned line, json_t *literal, Expr **ret) {
        int r;

        if (!literal || json_array_append_new(p->literals, literal) < 0)
                return -ENOMEM;
        r = expr_new(p, EXPR_LITERAL, line, NULL, NULL, ret);
        if (r < 0)
                return r;
        (*ret)->literal = literal;
        return 0;
}

static char *token_name(Parser *p, const Token *t) {
        return arena_strndup(p->arena, t->start, t->length);
}

static int parse_expression(Parser *p, bool with_conditional, Expr **ret);
static int parse_unary(Parser *p, bool with_filters, Expr **ret);

static bool is_arithmetic(const Token *t) {
        static const char *const arithmetic[] = { "+", "-", "*", "/", "//", "%", "**" };

        for (size_t i = 0; i < ELEMENTSOF(arithmetic); i++)
                if (token_is(t, TOKEN_OPERATOR, arithmetic[i]))
                        return true;
        return false;
}

static int fail_arithmetic(Parser *p) {
        return fail(p->reterr, -EINVAL, peek(p)->line, "Arithmetic operator '%.*s' is not supported",
                    (int) peek(p)->length, peek(p)->start);
}

/* '[' a, b ']' or '(' a, b ')': the items through the closing operator. */
static int parse_sequence(Parser *p, const char *close, unsigned line, Expr **ret) {
        Expr **items = NULL;
        size_t n = 0;
        unsigned depth = 0;
        Expr *list;
        int r;

        while (!accept_operator(p, close)) {
                Expr *item;

                if (n > 0) {
                        r = expect_operator(p, ",");
                        if (r < 0)
                                return r;
                        if (accept_operator(p, close))
                                break;
                }
                r = parse_expression(p, true, &item);
                if (r < 0)
                        return r;
                if ((n & (n - 1)) == 0) {
                        Expr **grown = arena_alloc(p->arena, sizeof(Expr *) * MAX(n * 2, (size_t) 1));
                        if (!grown)
                                return -ENOMEM;
                        if (n > 0)
                                memcpy(grown, items, sizeof(Expr *) * n);
                        items = grown;
                }
                items[n++] = item;
                depth = MAX(depth, item->depth);
        }
        r = expr_new(p, EXPR_LIST, line, NULL, NULL, &list);
        if (r < 0)
                return r;
        if (depth + 1 > JINJA_EXPRESSION_DEPTH_MAX)
                return fail(p->reterr, -E2BIG, line, "An expression is nested more than %u levels deep",
                            JINJA_EXPRESSION_DEPTH_MAX);
        list->depth = depth + 1;
        list->items = items;
        list->n_items = n;
        *ret = list;
        return 0;
}

static int parse_parenthesized(Parser *p, unsigned line, Expr **ret) {
        Expr *e;
        int r;

        if (accept_operator(p, ")")) {
                r = expr_new(p, EXPR_LIST, line, NULL, NULL, ret);
                if (r >= 0)
                        (*ret)->tuple = true;
                return r;
        }
        r = parse_expression(p, true, &e);
        if (r < 0)
                return r;
        if (accept_operator(p, ")")) {
                *ret = e;
                return 0;
        }
        /* A tuple: behaves as a list here. */
        r = expect_operator(p, ",");
        if (r < 0)
                return r;
        r = parse_sequence(p, ")", line, ret);
        if (r < 0)
                return r;
        if ((*ret)->depth + 1 > JINJA_EXPRESSION_DEPTH_MAX)
                return fail(p->reterr, -E2BIG, line, "An expression is nested more than %u levels deep",
                            JINJA_EXPRESSION_DEPTH_MAX);
        /* Put the first item in front of the rest. */
        {
                Expr **items = arena_alloc(p->arena, sizeof(Expr *) * ((*ret)->n_items + 1));
                if (!items)
                        return -ENOMEM;
                items[0] = e;
                if ((*ret)->n_items > 0)
                        memcpy(items + 1, (*ret)->items, sizeof(Expr *) * (*ret)->n_items);
                (*ret)->items = items;
                (*ret)->n_items++;
                (*ret)->depth = MAX((*ret)->depth, e->depth + 1);
                (*ret)->tuple = true;
        }
        return 0;
}

static int parse_string_literal(Parser *p, Expr **ret) {
        unsigned line = peek(p)->line;
        _cleanup_(buffer_done) Buffer b = {};
        int r;

        /* Adjacent string literals are one string, as in Python. */
        while (peek(p)->type == TOKEN_STRING) {
                r = buffer_append(&b, peek(p)->start, peek(p)->length);
                if (r == -E2BIG)
                        return fail(p->reterr, r, line, "A string literal is longer than %u bytes",
                                    JINJA_OUTPUT_MAX);
                if (r < 0)
                        return r;
                p->pos++;
        }
        return expr_new_literal(p, line, json_stringn_nocheck(b.data ?: "", b.size), ret);
}

static int parse_primary(Parser *p, Expr **ret) {
        const Token *t = peek(p);
        unsigned line = t->line;

        switch (t->type) {
        case TOKEN_NAME:
                p->pos++;
                if (token_is(t, TOKEN_NAME, "true") || token_is(t, TOKEN_NAME, "True"))
                        return expr_new_literal(p, line, json_true(), ret);
                if (token_is(t, TOKEN_NAME, "false") || token_is(t, TOKEN_NAME, "False"))
                        return expr_new_literal(p, line, json_false(), ret);
                if (token_is(t, TOKEN_NAME, "none") || token_is(t, TOKEN_NAME, "None"))
                        return expr_new_literal(p, line, json_null(), ret);
                {
                        int r = expr_new(p, EXPR_NAME, line, NULL, NULL, ret);
                        if (r < 0)
                                return r;
                        (*ret)->name = token_name(p, t);
                        return (*ret)->name ? 0 : -ENOMEM;
                }
        case TOKEN_STRING:
                return parse_string_literal(p, ret);
        case TOKEN_INTEGER:
                p->pos++;
                return expr_new_literal(p, line, json_integer(t->integer), ret);
        case TOKEN_FLOAT:
                p->pos++;
                return expr_new_literal(p, line, json_real(t->real), ret);
        case TOKEN_OPERATOR:
                if (accept_operator(p, "("))
                        return parse_parenthesized(p, line, ret);
                if (accept_operator(p, "["))
                        return parse_sequence(p, "]", line, ret);
                if (token_is(t, TOKEN_OPERATOR, "{"))
                        return fail(p->reterr, -EINVAL, line, "Dict literal '{...}' is not supported");
                if (token_is(t, TOKEN_OPERATOR, "+"))
                        return fail_arithmetic(p);
                break;
        case TOKEN_TEXT:
        case TOKEN_VARIABLE_BEGIN:
        case TOKEN_VARIABLE_END:
        case TOKEN_BLOCK_BEGIN:
        case TOKEN_BLOCK_END:
        case TOKEN_EOF:
                break;
        }
        return unexpected(p, "an expression");
}

/* The method calls kiln supports: items(), keys() and values() of a mapping. */
static bool is_supported_method(const char *name) {
        return streq(name, "items") || streq(name, "keys") || streq(name, "values");
}

static int parse_call(Parser *p, Expr **node) {
        const char *name = (*node)->kind == EXPR_ATTRIBUTE ? (*node)->name :
                (*node)->kind == EXPR_NAME ? (*node)->name : NULL;
        unsigned line = peek(p)->line;

        p->pos++;
        if ((*node)->kind == EXPR_ATTRIBUTE && is_supported_method(name) && accept_operator(p, ")")) {
                (*node)->kind = EXPR_METHOD;
                return 0;
        }
        if (name)
                return fail(p->reterr, -EINVAL, line, "Function call '%s(...)' is not supported", name);
        return fail(p->reterr, -EINVAL, line, "Function call '(...)' is not supported");
}

static int parse_subscript(Parser *p, Expr **node) {
        unsigned line = peek(p)->line;
        Expr *index;
        int r;

        if (accept_operator(p, ".")) {
                const Token *t = peek(p);

                if (t->type == TOKEN_NAME) {
                        p->pos++;
                        r = expr_new(p, EXPR_ATTRIBUTE, line, *node, NULL, node);
                        if (r < 0)
                                return r;
                        (*node)->name = token_name(p, t);
                        return (*node)->name ? 0 : -ENOMEM;
                }
                if (t->type != TOKEN_INTEGER)
                        return unexpected(p, "a name or number after '.'");
                p->pos++;
                r = expr_new_literal(p, line, json_integer(t->integer), &index);
                if (r < 0)
                        return r;
                return expr_new(p, EXPR_ITEM, line, *node, index, node);
        }

        p->pos++; /* '[' */
        if (token_is(peek(p), TOKEN_OPERATOR, ":"))
                return fail(p->reterr, -EINVAL, line, "Slice '[...:...]' is not supported");
        r = parse_expression(p, true, &index);
        if (r < 0)
                return r;
        if (token_is(peek(p), TOKEN_OPERATOR, ":"))
                return fail(p->reterr, -EINVAL, line, "Slice '[...:...]' is not supported");
        if (token_is(peek(p), TOKEN_OPERATOR, ","))
                return fail(p->reterr, -EINVAL, line,
                            "Subscript with several values '[a, b]' is not supported");
        r = expect_operator(p, "]");
        if (r < 0)
                return r;
        return expr_new(p, EXPR_ITEM, line, *node, index, node);
}

static int parse_postfix(Parser *p, Expr **node) {
        for (;;) {
                int r;

                if (token_is(peek(p), TOKEN_OPERATOR, ".") || token_is(peek(p), TOKEN_OPERATOR, "["))
                        r = parse_subscript(p, node);
                else if (token_is(peek(p), TOKEN_OPERATOR, "("))
                        r = parse_call(p, node);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

/* Filter arguments: positional first, then name=value, each put in its parameter's slot. */
static int parse_filter_arguments(Parser *p, const Filter *f, Expr **slots) {
        bool keyword_seen = false;
        size_t n = 0;
        int r;

        while (!accept_operator(p, ")")) {
                size_t slot = SIZE_MAX;
                unsigned line = peek(p)->line;
                Expr *e;

                if (n > 0 || keyword_seen) {
                        r = expect_operator(p, ",");
                        if (r < 0)
                                return r;
                        if (accept_operator(p, ")"))
                                break;
                }
                if (token_is(peek(p), TOKEN_OPERATOR, "*") || token_is(peek(p), TOKEN_OPERATOR, "**"))
                        return fail(p->reterr, -EINVAL, line,
                                    "Argument unpacking '*' in filter '%s' is not supported", f->name);
                if (peek(p)->type == TOKEN_NAME && token_is(peek_at(p, 1), TOKEN_OPERATOR, "=")) {
                        const Token *t = peek(p);

                        for (size_t i = 0; i < f->n_params; i++)
                                if (t->length == strlen(f->params[i]) &&
                                    memcmp(t->start, f->params[i], t->length) == 0)
                                        slot = i;
                        if (slot == SIZE_MAX)
                                return fail(p->reterr, -EINVAL, line, "Filter '%s' has no parameter '%.*s'",
                                            f->name, (int) MIN(t->length, (size_t) 40), t->start);
                        p->pos += 2;
                        keyword_seen = true;
                } else {
                        if (keyword_seen)
                                return fail(
                                        p->reterr, -EINVAL, line,
                                        "A positional argument of filter '%s' follows a keyword argument",
                                        f->name);
                        if (n >= f->n_params)
                                return fail(p->reterr, -EINVAL, line,
                                            "Filter '%s' takes at most %zu arguments", f->name, f->n_params);
                        slot = n++;
                }
                if (slots[slot])
                        return fail(p->reterr, -EINVAL, line, "Filter '%s' got parameter '%s' twice",
                                    f->name, f->params[slot]);
                r = parse_expression(p, true, &e);
                if (r < 0)
                        return r;
                slots[slot] = e;
        }
        for (size_t i = 0; i < f->n_required; i++)
                if (!slots[i])
                        return fail(p->reterr, -EINVAL, peek(p)->line, "Filter '%s' needs its argument '%s'",
                                    f->name, f->params[i]);
        return 0;
}

static int parse_filter(Parser *p, Expr **node) {
        const Token *t;
        const Filter *f;
        Expr **slots;
        unsigned depth = 0;
        int r;

        p->pos++; /* '|' */
        t = peek(p);
        if (t->type != TOKEN_NAME)
                return unexpected(p, "a filter name after '|'");
        f = filter_find(t->start, t->length);
        if (!f) {
                char supported[160];

                filter_list(supported, sizeof(supported));
                return fail(p->reterr, -EINVAL, t->line, "Filter '%.*s' is not supported (supported: %s)",
                            (int) MIN(t->length, (size_t) 40), t->start, supported);
        }
        p->pos++;
        slots = arena_alloc(p->arena, sizeof(Expr *) * ELEMENTSOF(f->params));
        if (!slots)
                return -ENOMEM;
        if (accept_operator(p, "(")) {
                r = parse_filter_arguments(p, f, slots);
                if (r < 0)
                        return r;
        } else if (f->n_required > 0)
                return fail(p->reterr, -EINVAL, t->line, "Filter '%s' needs its argument '%s'", f->name,
                            f->params[0]);

        r = expr_new(p, EXPR_FILTER, t->line, *node, NULL, node);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n_params; i++)
                if (slots[i])
                        depth = MAX(depth, slots[i]->depth);
        if (depth + 1 > JINJA_EXPRESSION_DEPTH_MAX)
                return fail(p->reterr, -E2BIG, t->line, "An expression is nested more than %u levels deep",
                            JINJA_EXPRESSION_DEPTH_MAX);
        (*node)->depth = MAX((*node)->depth, depth + 1);
        (*node)->filter = f;
        (*node)->items = slots;
        (*node)->n_items = f->n_params;
        return 0;
}

static int parse_test(Parser *p, Expr **node) {
        bool negate;
        const Token *t;
        const Test *test;
        int r;

        p->pos++; /* 'is' */
        negate = accept_name(p, "not");
        t = peek(p);
        if (t->type != TOKEN_NAME)
                return unexpected(p, "a test name after 'is'");
        test = test_find(t->start, t->length);
        if (!test) {
                char supported[200];

                test_list(supported, sizeof(supported));
                return fail(p->reterr, -EINVAL, t->line, "Test '%.*s' is not supported (supported: %s)",
                            (int) MIN(t->length, (size_t) 40), t->start, supported);
        }
        p->pos++;
        /* Jinja takes a following primary as the test's argument; kiln's tests take none. */
        if (token_is(peek(p), TOKEN_OPERATOR, "(") || token_is(peek(p), TOKEN_OPERATOR, "[") ||
            token_is(peek(p), TOKEN_OPERATOR, "{") || peek(p)->type == TOKEN_STRING ||
            peek(p)->type == TOKEN_INTEGER || peek(p)->type == TOKEN_FLOAT ||
            (peek(p)->type == TOKEN_NAME && !token_is(peek(p), TOKEN_NAME, "else") &&
             !token_is(peek(p), TOKEN_NAME, "or") && !token_is(peek(p), TOKEN_NAME, "and")))
                return fail(p->reterr, -EINVAL, t->line, "Test '%s' takes no argument", test->name);

        r = expr_new(p, EXPR_TEST, t->line, *node, NULL, node);
        if (r < 0)
                return r;
        (*node)->test = test;
        (*node)->negate = negate;
        return 0;
}

static int parse_unary_inner(Parser *p, bool with_filters, Expr **ret);
static int parse_expression_inner(Parser *p, bool with_conditional, Expr **ret);

/* The parser recurses for parentheses, unary '-' and 'not' before any node exists to carry a
 * depth, so the recursion itself is bounded here; otherwise "((((...1))))" overflows the stack. */
static int nesting_enter(Parser *p) {
        if (p->nesting >= JINJA_EXPRESSION_DEPTH_MAX * 4)
                return fail(p->reterr, -E2BIG, peek(p)->line, "An expression is nested more than %u levels deep",
                            JINJA_EXPRESSION_DEPTH_MAX);
        p->nesting++;
        return 0;
}

static int parse_unary(Parser *p, bool with_filters, Expr **ret) {
        int r = nesting_enter(p);

        if (r < 0)
                return r;
        r = parse_unary_inner(p, with_filters, ret);
        p->nesting--;
        return r;
}

static int parse_expression(Parser *p, bool with_conditional, Expr **ret) {
        int r = nesting_enter(p);

        if (r < 0)
                return r;
        r = parse_expression_inner(p, with_conditional, ret);
        p->nesting--;
        return r;
}

static int parse_unary_inner(Parser *p, bool with_filters, Expr **ret) {
        unsigned line = peek(p)->line;
        int r;

        if (accept_operator(p, "-")) {
                Expr *operand;

                r = parse_unary(p, false, &operand);
                if (r < 0)
                        return r;
                r = expr_new(p, EXPR_NEGATE, line, operand, NULL, ret);
        } else
                r = parse_primary(p, ret);
        if (r < 0)
                return r;
        r = parse_postfix(p, ret);
        if (r < 0 || !with_filters)
                return r;

        for (;;) {
                if (token_is(peek(p), TOKEN_OPERATOR, "|"))
                        r = parse_filter(p, ret);
                else if (token_is(peek(p), TOKEN_NAME, "is"))
                        r = parse_test(p, ret);
                else if (token_is(peek(p), TOKEN_OPERATOR, "("))
                        r = parse_call(p, ret);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

static int parse_concat(Parser *p, Expr **ret) {
        int r;

        r = parse_unary(p, true, ret);
        if (r < 0)
                return r;
        for (;;) {
                unsigned line = peek(p)->line;
                Expr *right;

                if (is_arithmetic(peek(p)))
                        return fail_arithmetic(p);
                if (!accept_operator(p, "~"))
                        return 0;
                r = parse_unary(p, true, &right);
                if (r < 0)
                        return r;
                r = expr_new(p, EXPR_CONCAT, line, *ret, right, ret);
                if (r < 0)
                        return r;
        }
}

static bool accept_compare_op(Parser *p, CompareOp *ret) {
        static const struct {
                const char *text;
                CompareOp op;
        } ops[] = {
                { "==", COMPARE_EQ }, { "!=", COMPARE_NE }, { "<", COMPARE_LT },
                { "<=", COMPARE_LE }, { ">", COMPARE_GT }, { ">=", COMPARE_GE },
        };

        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (accept_operator(p, ops[i].text)) {
                        *ret = ops[i].op;
                        return true;
                }
        if (accept_name(p, "in")) {
                *ret = COMPARE_IN;
                return true;
        }
        if (token_is(peek(p), TOKEN_NAME, "not") && token_is(peek_at(p, 1), TOKEN_NAME, "in")) {
                p->pos += 2;
                *ret = COMPARE_NOT_IN;
                return true;
        }
        return false;
}

/* a < b < c is (a < b) and (b < c), as in Python. */
static int parse_compare(Parser *p, Expr **ret) {
        Expr *left, *result = NULL;
        CompareOp op;
        int r;

        r = parse_concat(p, &left);
        if (r < 0)
                return r;
        for (;;) {
                unsigned line = peek(p)->line;
                Expr *right, *compare;

                if (!accept_compare_op(p, &op))
                        break;
                r = parse_concat(p, &right);
                if (r < 0)
                        return r;
                r = expr_new(p, EXPR_COMPARE, line, left, right, &compare);
                if (r < 0)
                        return r;
                compare->op = op;
                if (result) {
                        r = expr_new(p, EXPR_AND, line, result, compare, &result);
                        if (r < 0)
                                return r;
                } else
                        result = compare;
                left = right;
        }
        *ret = result ?: left;
        return 0;
}

static int parse_not(Parser *p, Expr **ret) {
        unsigned line = peek(p)->line;
        Expr *operand;
        int r;

        if (token_is(peek(p), TOKEN_NAME, "not") && !token_is(peek_at(p, 1), TOKEN_NAME, "in")) {
                p->pos++;
                r = nesting_enter(p);
                if (r < 0)
                        return r;
                r = parse_not(p, &operand);
                p->nesting--;
                if (r < 0)
                        return r;
                return expr_new(p, EXPR_NOT, line, operand, NULL, ret);
        }
        return parse_compare(p, ret);
}

static int parse_binary(Parser *p, const char *keyword, ExprKind kind, int (*next)(Parser *, Expr **),
                        Expr **ret) {
        int r;

        r = next(p, ret);
        if (r < 0)
                return r;
        for (;;) {
                unsigned line = peek(p)->line;
                Expr *right;

                if (!accept_name(p, keyword))
                        return 0;
                r = next(p, &right);
                if (r < 0)
                        return r;
                r = expr_new(p, kind, line, *ret, right, ret);
                if (r < 0)
                        return r;
        }
}

static int parse_and(Parser *p, Expr **ret) {
        return parse_binary(p, "and", EXPR_AND, parse_not, ret);
}

static int parse_or(Parser *p, Expr **ret) {
        return parse_binary(p, "or", EXPR_OR, parse_and, ret);
}

static int parse_expression_inner(Parser *p, bool with_conditional, Expr **ret) {
        int r;

        r = parse_or(p, ret);
        if (r < 0 || !with_conditional)
                return r;
        while (token_is(peek(p), TOKEN_NAME, "if")) {
                unsigned line = peek(p)->line;
                Expr *condition, *otherwise = NULL, *e;

                p->pos++;
                r = parse_or(p, &condition);
                if (r < 0)
                        return r;
                if (accept_name(p, "else")) {
                        r = parse_expression(p, true, &otherwise);
                        if (r < 0)
                                return r;
                }
                r = expr_new(p, EXPR_CONDITIONAL, line, *ret, condition, &e);
                if (r < 0)
                        return r;
                e->c = otherwise;
                if (otherwise && otherwise->depth + 1 > e->depth)
                        e->depth = otherwise->depth + 1;
                if (e->depth > JINJA_EXPRESSION_DEPTH_MAX)
                        return fail(p->reterr, -E2BIG, line,
                                    "An expression is nested more than %u levels deep",
                                    JINJA_EXPRESSION_DEPTH_MAX);
                *ret = e;
        }
        return 0;
}

/* Statements Jinja has and kiln does not render, so that they are named, not called unknown. */
static const char *const unsupported_statements[] = {
        "set", "endset", "macro", "endmacro", "call", "endcall", "include", "import", "from",
        "extends", "block", "endblock", "filter", "endfilter", "with", "endwith", "do",
        "autoescape", "endautoescape", "trans", "endtrans", "pluralize", "break", "continue", "debug",
};

static int node_list_append(Parser *p, NodeList *list, Node *node) {
        if (list->n == list->allocated) {
                size_t allocated = MAX(list->allocated * 2, (size_t) 4);
                Node **items = arena_alloc(p->arena, sizeof(Node *) * allocated);

                if (!items)
                        return -ENOMEM;
                if (list->n > 0)
                        memcpy(items, list->items, sizeof(Node *) * list->n);
                list->items = items;
                list->allocated = allocated;
        }
        list->items[list->n++] = node;
        return 0;
}

static int node_new(Parser *p, NodeKind kind, unsigned line, NodeList *list, Node **ret) {
        Node *node = arena_alloc(p->arena, sizeof(Node));
        int r;

        if (!node)
                return -ENOMEM;
        node->kind = kind;
        node->line = line;
        r = node_list_append(p, list, node);
        if (r < 0)
                return r;
        if (ret)
                *ret = node;
        return 0;
}

static int expect_block_end(Parser *p, const char *statement) {
        char buf[64];

        if (peek(p)->type == TOKEN_BLOCK_END) {
                p->pos++;
                return 0;
        }
        return fail(p->reterr, -EINVAL, peek(p)->line, "Expected '%%}' to end '{%% %s %%}', got %s",
                    statement, describe_token(peek(p), buf, sizeof(buf)));
}

/* The keyword of the statement at a '{%' token, or NULL. */
static bool block_keyword_is(const Parser *p, const char *keyword) {
        return peek(p)->type == TOKEN_BLOCK_BEGIN && token_is(peek_at(p, 1), TOKEN_NAME, keyword);
}

static int parse_body(Parser *p, const char *const *ends, unsigned opened, NodeList *body);

static int enter_block(Parser *p, unsigned line) {
        if (p->block_depth >= JINJA_BLOCK_DEPTH_MAX)
                return fail(p->reterr, -E2BIG, line, "Blocks are nested more than %u levels deep",
                            JINJA_BLOCK_DEPTH_MAX);
        p->block_depth++;
        return 0;
}

/* After 'if' or 'elif': condition, body, then elif, else or endif. */
static int parse_if(Parser *p, unsigned line, NodeList *list) {
        static const char *const ends[] = { "elif", "else", "endif", NULL };
        Node *node;
        int r;

        r = node_new(p, NODE_IF, line, list, &node);
        if (r < 0)
                return r;
        r = parse_expression(p, false, &node->expr);
        if (r < 0)
                return r;
        r = expect_block_end(p, "if");
        if (r < 0)
                return r;
        r = parse_body(p, ends, line, &node->body);
        if (r < 0)
                return r;

        if (block_keyword_is(p, "elif")) {
                unsigned elif_line = peek_at(p, 1)->line;

                p->pos += 2;
                return parse_if(p, elif_line, &node->orelse);
        }
        if (block_keyword_is(p, "else")) {
                static const char *const else_ends[] = { "endif", NULL };

                p->pos += 2;
                r = expect_block_end(p, "else");
                if (r < 0)
                        return r;
                r = parse_body(p, else_ends, line, &node->orelse);
                if (r < 0)
                        return r;
        }
        p->pos += 2; /* '{%' 'endif' */
        return expect_block_end(p, "endif");
}

static int parse_for_targets(Parser *p, Node *node) {
        do {
                const Token *t = peek(p);

                if (t->type != TOKEN_NAME || token_is(t, TOKEN_NAME, "in"))
                        return unexpected(p, "a loop variable name");
                if (node->n_targets >= JINJA_LOOP_TARGETS_MAX)
                        return fail(p->reterr, -E2BIG, t->line, "A for loop has more than %u variables",
                                    JINJA_LOOP_TARGETS_MAX);
                node->targets[node->n_targets] = token_name(p, t);
                if (!node->targets[node->n_targets])
                        return -ENOMEM;
                node->n_targets++;
                p->pos++;
        } while (accept_operator(p, ","));
        if (!accept_name(p, "in"))
                return unexpected(p, "'in'");
        return 0;
}

static int parse_for(Parser *p, unsigned line, NodeList *list) {
        static const char *const ends[] = { "else", "endfor", NULL };
        static const char *const else_ends[] = { "endfor", NULL };
        Node *node;
        int r;

        r = node_new(p, NODE_FOR, line, list, &node);
        if (r < 0)
                return r;
        r = parse_for_targets(p, node);
        if (r < 0)
                return r;
        r = parse_expression(p, false, &node->expr);
        if (r < 0)
                return r;
        if (accept_name(p, "if")) {
                r = parse_expression(p, false, &node->filter);
                if (r < 0)
                        return r;
        }
        if (token_is(peek(p), TOKEN_NAME, "recursive"))
                return fail(p->reterr, -EINVAL, line,
                            "Recursive loop '{%% for ... recursive %%}' is not supported");
        r = expect_block_end(p, "for");
        if (r < 0)
                return r;
        r = parse_body(p, ends, line, &node->body);
        if (r < 0)
                return r;
        if (block_keyword_is(p, "else")) {
                p->pos += 2;
                r = expect_block_end(p, "else");
                if (r < 0)
                        return r;
                r = parse_body(p, else_ends, line, &node->orelse);
                if (r < 0)
                        return r;
        }
        p->pos += 2; /* '{%' 'endfor' */
        return expect_block_end(p, "endfor");
}

static int parse_statement(Parser *p, NodeList *body) {
        const Token *t = peek_at(p, 1);
        unsigned line = t->line;
        char name[48];
        int r;

        if (t->type != TOKEN_NAME)
                return unexpected(p, "a statement name after '{%'");
        (void) snprintf(name, sizeof(name), "%.*s", (int) MIN(t->length, sizeof(name) - 1), t->start);
        p->pos += 2;

        if (streq(name, "if") || streq(name, "for")) {
                r = enter_block(p, line);
                if (r < 0)
                        return r;
                r = streq(name, "if") ? parse_if(p, line, body) : parse_for(p, line, body);
                p->block_depth--;
                return r;
        }
        if (streq(name, "elif") || streq(name, "else") || streq(name, "endif") || streq(name, "endfor") ||
            streq(name, "endraw"))
                return fail(p->reterr, -EINVAL, line, "Unexpected '{%% %s %%}' outside a matching block",
                            name);
        for (size_t i = 0; i < ELEMENTSOF(unsupported_statements); i++)
                if (streq(name, unsupported_statements[i]))
                        return fail(p->reterr, -EINVAL, line,
                                    "Statement '{%% %s %%}' is not supported (supported: if, for, raw)",
                                    name);
        return fail(p->reterr, -EINVAL, line, "Unknown statement '{%% %s %%}'", name);
}

/* Nodes until EOF, or until a '{%' whose keyword is in ends (NULL-terminated, not consumed).
 * opened is the line of the statement that ends closes. */
static int parse_body(Parser *p, const char *const *ends, unsigned opened, NodeList *body) {
        int r;

        for (;;) {
                const Token *t = peek(p);
                Node *node;

                switch (t->type) {
                case TOKEN_TEXT:
                        r = node_new(p, NODE_TEXT, t->line, body, &node);
                        if (r < 0)
                                return r;
                        node->text = t->start;
                        node->text_size = t->length;
                        p->pos++;
                        break;
                case TOKEN_VARIABLE_BEGIN:
                        p->pos++;
                        r = node_new(p, NODE_OUTPUT, t->line, body, &node);
                        if (r < 0)
                                return r;
                        r = parse_expression(p, true, &node->expr);
                        if (r < 0)
                                return r;
                        if (peek(p)->type != TOKEN_VARIABLE_END)
                                return unexpected(p, "'}}'");
                        p->pos++;
                        break;
                case TOKEN_BLOCK_BEGIN:
                        for (size_t i = 0; ends && ends[i]; i++)
                                if (block_keyword_is(p, ends[i]))
                                        return 0;
                        r = parse_statement(p, body);
                        if (r < 0)
                                return r;
                        break;
                case TOKEN_EOF:
                        if (ends) {
                                /* The last keyword of ends is the one that closes the block. */
                                size_t last = 0;

                                while (ends[last + 1])
                                        last++;
                                return fail(p->reterr, -EINVAL, opened,
                                            "Missing '{%% %s %%}' for the '{%% %s %%}' opened here",
                                            ends[last], streq(ends[last], "endif") ? "if" : "for");
                        }
                        return 0;
                case TOKEN_VARIABLE_END:
                case TOKEN_BLOCK_END:
                case TOKEN_NAME:
                case TOKEN_STRING:
                case TOKEN_INTEGER:
                case TOKEN_FLOAT:
                case TOKEN_OPERATOR:
                        return unexpected(p, "template text or a tag");
                }
        }
}

/* ---- Python's str() and repr() of values ---- */

/* Python prints these code points as escapes in repr(): controls, separators, format characters,
 * surrogates and private use.
 * NOTE: unassigned code points print as they are here; Python escapes them too. */
static bool python_printable(uint32_t c) {
        static const struct {
                uint32_t first, last;
        } escaped[] = {
                { 0x0000, 0x001f }, { 0x007f, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 },
                { 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f }, { 0x1680, 0x1680 },
                { 0x180e, 0x180e }, { 0x2000, 0x200f }, { 0x2028, 0x202f }, { 0x205f, 0x206f },
                { 0x3000, 0x3000 }, { 0xd800, 0xf8ff }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
                { 0xe0000, 0xe0fff }, { 0xf0000, 0x10ffff },
        };

        for (size_t i = 0; i < ELEMENTSOF(escaped); i++)
                if (c >= escaped[i].first && c <= escaped[i].last)
                        return false;
        return true;
}

static int python_repr_string(const char *s, size_t n, Buffer *b) {
        char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
        int r;

        r = buffer_append(b, &quote, 1);
        for (size_t i = 0; r >= 0 && i < n;) {
                uint32_t c = (unsigned char) s[i];
                size_t len = utf8_decode(s + i, n - i, &c) ?: 1;

                if (c == '\\' || c == (uint32_t) quote)
                        r = buffer_printf(b, "\\%c", (char) c);
                else if (c == '\t')
                        r = buffer_puts(b, "\\t");
                else if (c == '\n')
                        r = buffer_puts(b, "\\n");
                else if (c == '\r')
                        r = buffer_puts(b, "\\r");
                else if (python_printable(c))
                        r = buffer_append(b, s + i, len);
                else if (c < 0x100)
                        r = buffer_printf(b, "\\x%02" PRIx32, c);
                else if (c < 0x10000)
                        r = buffer_printf(b, "\\u%04" PRIx32, c);
                else
                        r = buffer_printf(b, "\\U%08" PRIx32, c);
                i += len;
        }
        if (r < 0)
                return r;
        return buffer_append(b, &quote, 1);
}

/* repr() of a float: the shortest digits that read back as the same double, in fixed notation
 * for decimal exponents from -4 to 15 and in scientific notation otherwise. */
static int python_repr_float(double d, Buffer *b) {
        char text[40], digits[24];
        size_t n = 0;
        int exponent, decimal_point, r;
        char *e;

        if (isnan(d))
                return buffer_puts(b, "nan");
        if (isinf(d))
                return buffer_puts(b, d < 0 ? "-inf" : "inf");
        for (int precision = 1; precision <= 17; precision++) {
                (void) snprintf(text, sizeof(text), "%.*e", precision - 1, d);
                if (strtod(text, NULL) == d)
                        break;
        }
        for (const char *p = text; *p && *p != 'e'; p++)
                if (isdigit((unsigned char) *p))
                        digits[n++] = *p;
        digits[n] = '\0';
        e = strchr(text, 'e');
        exponent = (int) strtol(e + 1, NULL, 10);
        decimal_point = exponent + 1;

        if (text[0] == '-' && (r = buffer_puts(b, "-")) < 0)
                return r;
        if (decimal_point <= -4 || decimal_point > 16) {
                r = buffer_append(b, digits, 1);
                if (r >= 0 && n > 1)
                        r = buffer_printf(b, ".%s", digits + 1);
                if (r >= 0)
                        r = buffer_printf(b, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
                return r;
        }
        if (decimal_point <= 0) {
                r = buffer_puts(b, "0.");
                for (int i = 0; r >= 0 && i < -decimal_point; i++)
                        r = buffer_puts(b, "0");
                return r < 0 ? r : buffer_puts(b, digits);
        }
        if ((size_t) decimal_point >= n) {
                r = buffer_puts(b, digits);
                for (size_t i = n; r >= 0 && i < (size_t) decimal_point; i++)
                        r = buffer_puts(b, "0");
                return r < 0 ? r : buffer_puts(b, ".0");
        }
        r = buffer_append(b, digits, decimal_point);
        return r < 0 ? r : buffer_printf(b, ".%s", digits + decimal_point);
}

static int python_repr(const json_t *v, Buffer *b, unsigned depth);

static int python_repr_container(const json_t *v, Buffer *b, unsigned depth) {
        const char *key;
        json_t *item;
        size_t i;
        int r;

        if (json_is_array(v)) {
                r = buffer_puts(b, "[");
                json_array_foreach(v, i, item) {
                        if (r >= 0 && i > 0)
                                r = buffer_puts(b, ", ");
                        if (r >= 0)
                                r = python_repr(item, b, depth + 1);
                }
                return r < 0 ? r : buffer_puts(b, "]");
        }

        r = buffer_puts(b, "{");
        i = 0;
        json_object_foreach((json_t *) v, key, item) {
                if (r >= 0 && i++ > 0)
                        r = buffer_puts(b, ", ");
                if (r >= 0)
                        r = python_repr_string(key, strlen(key), b);
                if (r >= 0)
                        r = buffer_puts(b, ": ");
                if (r >= 0)
                        r = python_repr(item, b, depth + 1);
        }
        return r < 0 ? r : buffer_puts(b, "}");
}

static int python_repr(const json_t *v, Buffer *b, unsigned depth) {
        if (depth > JINJA_VALUE_DEPTH_MAX)
                return -ELOOP;

        switch (json_typeof(v)) {
        case JSON_NULL:
                return buffer_puts(b, "None");
        case JSON_TRUE:
                return buffer_puts(b, "True");
        case JSON_FALSE:
                return buffer_puts(b, "False");
        case JSON_INTEGER:
                return buffer_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL:
                return python_repr_float(json_real_value(v), b);
        case JSON_STRING:
                return python_repr_string(json_string_value(v), json_string_length(v), b);
        case JSON_ARRAY:
        case JSON_OBJECT:
                return python_repr_container(v, b, depth);
        }
        return -EINVAL;
}

/* str(): a string as it is, anything else as repr() prints it. */
static int python_str(const json_t *v, Buffer *b) {
        if (json_is_string(v))
                return buffer_append(b, json_string_value(v), json_string_length(v));
        return python_repr(v, b, 0);
}

static const char *python_type(const Value *v) {
        if (!v->json)
                return "Undefined";
        switch (json_typeof(v->json)) {
        case JSON_NULL:
                return "NoneType";
        case JSON_TRUE:
        case JSON_FALSE:
                return "bool";
        case JSON_INTEGER:
                return "int";
        case JSON_REAL:
                return "float";
        case JSON_STRING:
                return "str";
        case JSON_ARRAY:
                return "list";
        case JSON_OBJECT:
                return "dict";
        }
        return "object";
}

/* ---- Rendering ---- */

typedef struct Binding {
        const char *name;
        json_t *value;           /* owned */
} Binding;

struct Render {
        const json_t *vars;
        Binding scope[JINJA_BLOCK_DEPTH_MAX * (JINJA_LOOP_TARGETS_MAX + 1)];
        size_t n_scope;
        Buffer out;
        json_t *warnings;
        bool warnings_truncated;
        size_t iterations;
        size_t steps;
        size_t work;             /* bytes counted against JINJA_WORK_MAX */
        unsigned line;           /* of the node or expression being evaluated */
        Arena *arena;
        JinjaError *reterr;
};

static void render_done(Render *r) {
        for (size_t i = 0; i < r->n_scope; i++)
                json_decref(r->scope[i].value);
        r->n_scope = 0;
        buffer_done(&r->out);
        json_decref(r->warnings);
        r->warnings = NULL;
}

static void warn(Render *r, unsigned line, const char *format, ...) _printf_(3, 4);
static void warn(Render *r, unsigned line, const char *format, ...) {
        char message[256];
        json_t *w;
        size_t i;
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        utf8_make_valid(message);

        json_array_foreach(r->warnings, i, w)
                if (json_integer_value(json_object_get(w, "line")) == line &&
                    streq(json_string_value(json_object_get(w, "message")), message))
                        return;
        if (json_array_size(r->warnings) >= JINJA_WARNINGS_MAX) {
                if (!r->warnings_truncated)
                        (void) json_array_append_new(
                                r->warnings, json_pack("{s:I, s:s}", "line", (json_int_t) line, "message",
                                                       "More warnings of this template are not listed"));
                r->warnings_truncated = true;
                return;
        }
        (void) json_array_append_new(r->warnings,
                                     json_pack("{s:I, s:s}", "line", (json_int_t) line, "message", message));
}

/* The source form of a variable reference, "ds.meta_data['instance-id']", for messages. */
static void describe_expr(const Expr *e, char *buf, size_t size) {
        char inner[200] = "";

        if (!e) {
                (void) snprintf(buf, size, "value");
                return;
        }
        if (e->a && (e->kind == EXPR_ATTRIBUTE || e->kind == EXPR_ITEM || e->kind == EXPR_FILTER ||
                     e->kind == EXPR_METHOD))
                describe_expr(e->a, inner, sizeof(inner));

        switch (e->kind) {
        case EXPR_NAME:
                (void) snprintf(buf, size, "%s", e->name);
                return;
        case EXPR_ATTRIBUTE:
                (void) snprintf(buf, size, "%s.%s", inner, e->name);
                return;
        case EXPR_ITEM:
                if (e->b->kind == EXPR_LITERAL && json_is_string(e->b->literal))
                        (void) snprintf(buf, size, "%s['%s']", inner, json_string_value(e->b->literal));
                else if (e->b->kind == EXPR_LITERAL && json_is_integer(e->b->literal))
                        (void) snprintf(buf, size, "%s[%" JSON_INTEGER_FORMAT "]", inner,
                                        json_integer_value(e->b->literal));
                else
                        (void) snprintf(buf, size, "%s[...]", inner);
                return;
        case EXPR_FILTER:
                (void) snprintf(buf, size, "%s|%s", inner, e->filter->name);
                return;
        case EXPR_METHOD:
                (void) snprintf(buf, size, "%s.%s()", inner, e->name);
                return;
        case EXPR_LITERAL:
        case EXPR_LIST:
        case EXPR_NOT:
        case EXPR_NEGATE:
        case EXPR_AND:
        case EXPR_OR:
        case EXPR_COMPARE:
        case EXPR_CONCAT:
        case EXPR_CONDITIONAL:
        case EXPR_TEST:
                break;
        }
        (void) snprintf(buf, size, "expression");
}

/* Count n bytes of string work. Steps alone do not bound a render, because one step can copy or
 * scan a string of up to JINJA_OUTPUT_MAX bytes. */
static int charge(Render *r, size_t n) {
        r->work += n;
        if (r->work > JINJA_WORK_MAX)
                return fail(r->reterr, -E2BIG, r->line, "Rendering processes more than %u bytes of text",
                            JINJA_WORK_MAX);
        return 0;
}

static int charge_json(Render *r, const json_t *v) {
        if (json_is_string(v))
                return charge(r, json_string_length(v));
        if (json_is_array(v))
                return charge(r, json_array_size(v));
        if (json_is_object(v))
                return charge(r, json_object_size(v));
        return 0;
}

static int value_text_append(Render *r, const Value *v, Buffer *b) {
        char what[200];
        int k;

        if (v->json && v->tuple) {
                json_t *item;
                size_t i;

                k = buffer_puts(b, "(");
                json_array_foreach(v->json, i, item) {
                        if (k >= 0 && i > 0)
                                k = buffer_puts(b, ", ");
                        if (k >= 0)
                                k = python_repr(item, b, 1);
                }
                if (k >= 0 && json_array_size(v->json) == 1)
                        k = buffer_puts(b, ",");
                return k < 0 ? k : buffer_puts(b, ")");
        }
        if (v->json)
                return python_str(v->json, b);
        if (!v->undefined)
                return 0;

        describe_expr(v->origin, what, sizeof(what));
        warn(r, v->origin ? v->origin->line : r->line, "Variable '%s' is undefined, rendered as '%s%s'",
             what, MISSING_PREFIX, v->undefined);
        k = buffer_puts(b, MISSING_PREFIX);
        return k < 0 ? k : buffer_puts(b, v->undefined);
}

/* Append str() of v. An undefined value renders as cloud-init renders it, with a warning. */
static int value_text(Render *r, const Value *v, Buffer *b) {
        size_t before = b->size;
        int k;

        k = value_text_append(r, v, b);
        if (k < 0)
                return k;
        return charge(r, b->size - before);
}

/* str() of v as a new JSON string. */
static int value_to_string(Render *r, const Value *v, Value *ret) {
        _cleanup_(buffer_done) Buffer b = {};
        json_t *s;
        int k;

        k = value_text(r, v, &b);
        if (k < 0)
                return k;
        s = json_stringn_nocheck(b.data ?: "", b.size);
        if (!s)
                return -ENOMEM;
        *ret = value_take(s);
        return 0;
}

static bool value_truthy(const Value *v) {
        if (!v->json)
                return false;
        switch (json_typeof(v->json)) {
        case JSON_NULL:
        case JSON_FALSE:
                return false;
        case JSON_TRUE:
                return true;
        case JSON_INTEGER:
                return json_integer_value(v->json) != 0;
        case JSON_REAL:
                return json_real_value(v->json) != 0.0;
        case JSON_STRING:
                return json_string_length(v->json) > 0;
        case JSON_ARRAY:
                return json_array_size(v->json) > 0;
        case JSON_OBJECT:
                return json_object_size(v->json) > 0;
        }
        return false;
}

/* Python treats bool as a number: True == 1. */
static bool json_is_python_number(const json_t *j) {
        return json_is_number(j) || json_is_boolean(j);
}

static int python_number_compare(const json_t *a, const json_t *b) {
        if (!json_is_real(a) && !json_is_real(b)) {
                json_int_t x = json_is_boolean(a) ? json_is_true(a) : json_integer_value(a);
                json_int_t y = json_is_boolean(b) ? json_is_true(b) : json_integer_value(b);

                return (x > y) - (x < y);
        }
        {
                double x = json_is_boolean(a) ? json_is_true(a) : json_number_value(a);
                double y = json_is_boolean(b) ? json_is_true(b) : json_number_value(b);

                return (x > y) - (x < y);
        }
}

static bool python_equal(const json_t *a, const json_t *b, unsigned depth) {
        const char *key;
        json_t *item;
        size_t i;

        if (json_is_python_number(a) && json_is_python_number(b))
                return python_number_compare(a, b) == 0;
        if (json_typeof(a) != json_typeof(b) || depth > JINJA_VALUE_DEPTH_MAX)
                return false;
        switch (json_typeof(a)) {
        case JSON_STRING:
                return json_string_length(a) == json_string_length(b) &&
                        memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
        case JSON_ARRAY:
                if (json_array_size(a) != json_array_size(b))
                        return false;
                json_array_foreach(a, i, item)
                        if (!python_equal(item, json_array_get(b, i), depth + 1))
                                return false;
                return true;
        case JSON_OBJECT:
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach((json_t *) a, key, item) {
                        json_t *other = json_object_get(b, key);
                        if (!other || !python_equal(item, other, depth + 1))
                                return false;
                }
                return true;
        case JSON_NULL:
                return true;
        case JSON_TRUE:
        case JSON_FALSE:
        case JSON_INTEGER:
        case JSON_REAL:
                break;
        }
        return false;
}

/* Jinja's Undefined equals only another Undefined. */
static bool value_equal(const Value *a, const Value *b) {
        if (!a->json || !b->json)
                return !a->json && !b->json;
        return python_equal(a->json, b->json, 0);
}

/* Python's ordering of a and b into *ret (<0, 0, >0); -EINVAL where Python raises TypeError. */
static int python_order(const json_t *a, const json_t *b, unsigned depth, int *ret) {
        if (json_is_python_number(a) && json_is_python_number(b)) {
                *ret = python_number_compare(a, b);
                return 0;
        }
        if (json_is_string(a) && json_is_string(b)) {
                size_t n = MIN(json_string_length(a), json_string_length(b));
                int c = memcmp(json_string_value(a), json_string_value(b), n);

                *ret = c != 0 ? c : (json_string_length(a) > n) - (json_string_length(b) > n);
                return 0;
        }
        if (json_is_array(a) && json_is_array(b) && depth <= JINJA_VALUE_DEPTH_MAX) {
                size_t n = MIN(json_array_size(a), json_array_size(b));

                for (size_t i = 0; i < n; i++)
                        if (!python_equal(json_array_get(a, i), json_array_get(b, i), depth + 1))
                                return python_order(json_array_get(a, i), json_array_get(b, i), depth + 1,
                                                    ret);
                *ret = (json_array_size(a) > n) - (json_array_size(b) > n);
                return 0;
        }
        return -EINVAL;
}

static int fail_undefined(Render *r, const Value *v, unsigned line, const char *action) {
        char what[200];

        describe_expr(v->origin, what, sizeof(what));
        return fail(r->reterr, -EINVAL, line, "Cannot %s: '%s' is undefined", action, what);
}

/* The items a for loop or filter iterates: a list's items, a mapping's keys, a string's characters,
 * nothing for undefined. Returns a new reference. */
static int value_items(Render *r, const Value *v, unsigned line, json_t **ret) {
        json_auto_t *items = NULL;
        int k;

        k = charge_json(r, v->json);
        if (k < 0)
                return k;

        if (v->json && json_is_array(v->json)) {
                *ret = json_incref(v->json);
                return 0;
        }
        items = json_array();
        if (!items)
                return -ENOMEM;
        if (!v->json) {
                *ret = TAKE_PTR(items);
                return 0;
        }
        if (json_is_object(v->json)) {
                const char *key;
                json_t *item;

                json_object_foreach(v->json, key, item)
                        if (json_array_append_new(items, json_string_nocheck(key)) < 0)
                                return -ENOMEM;
        } else if (json_is_string(v->json)) {
                const char *s = json_string_value(v->json);
                size_t n = json_string_length(v->json);

                for (size_t i = 0; i < n;) {
                        size_t len = utf8_char_size(s + i, n - i);

                        if (json_array_append_new(items, json_stringn_nocheck(s + i, len)) < 0)
                                return -ENOMEM;
                        i += len;
                }
        } else
                return fail(r->reterr, -EINVAL, line, "Cannot iterate over a value of type '%s'",
                            python_type(v));
        *ret = TAKE_PTR(items);
        return 0;
}

static int eval(Render *r, const Expr *e, Value *ret);

/* Attribute names that Jinja resolves to a Python method instead of a key or an undefined value. */
static const char *const mapping_methods[] = {
        "clear", "copy",    "fromkeys",   "get",    "items",  "keys",
        "pop",   "popitem", "setdefault", "update", "values",
};

static const char *const string_methods[] = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
        "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
        "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
        "title", "translate", "upper", "zfill",
};

static const char *const list_methods[] = {
        "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort",
};

static bool name_in(const char *name, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(name, list[i]))
                        return true;
        return false;
}

/* Jinja would give a method here, which only a call could use, and kiln supports no calls. */
static int fail_method(Render *r, const Expr *e, const char *type) {
        return fail(r->reterr, -EINVAL, e->line,
                    "'.%s' of a %s is a method in Jinja, and method calls are not supported%s", e->name,
                    type, streq(type, "mapping") ? ": use ['NAME'] for a key" : "");
}

static int eval_attribute(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value object = {};
        json_t *member;
        int k;

        k = eval(r, e->a, &object);
        if (k < 0)
                return k;
        if (!object.json) {
                char action[96];

                (void) snprintf(action, sizeof(action), "read attribute '%s'", e->name);
                return fail_undefined(r, &object, e->line, action);
        }
        if (json_is_object(object.json) && name_in(e->name, mapping_methods, ELEMENTSOF(mapping_methods)))
                return fail_method(r, e, "mapping");
        if (json_is_string(object.json) && name_in(e->name, string_methods, ELEMENTSOF(string_methods)))
                return fail_method(r, e, "string");
        if (json_is_array(object.json) && name_in(e->name, list_methods, ELEMENTSOF(list_methods)))
                return fail_method(r, e, "list");

        member = json_is_object(object.json) ? json_object_get(object.json, e->name) : NULL;
        if (member)
                *ret = value_ref(member);
        else if (e->a->kind == EXPR_NAME && streq(e->a->name, "loop") &&
                 (streq(e->name, "previtem") || streq(e->name, "nextitem")))
                /* Jinja's loop gives an undefined without a name here, which cloud-init prints as None. */
                *ret = value_undefined("None", e);
        else
                /* NOTE: attributes of numbers (x.real, x.imag) are undefined here; Python has them. */
                *ret = value_undefined(e->name, e);
        return 0;
}

/* Python's index i into a sequence of n items, negative counting from the end. */
static bool python_index(json_int_t i, size_t n, size_t *ret) {
        if (i < 0)
                i += (json_int_t) n;
        if (i < 0 || (uint64_t) i >= n)
                return false;
        *ret = (size_t) i;
        return true;
}

static int undefined_for_index(Render *r, const Expr *e, const json_t *index, Value *ret) {
        _cleanup_(buffer_done) Buffer b = {};
        char *name;
        int k;

        k = python_str(index, &b);
        if (k < 0)
                return k;
        name = arena_strndup(r->arena, b.data ?: "", b.size);
        if (!name)
                return -ENOMEM;
        *ret = value_undefined(name, e);
        return 0;
}

static int eval_item(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value object = {}, index = {};
        const json_t *o, *i;
        size_t position;
        int k;

        k = eval(r, e->a, &object);
        if (k < 0)
                return k;
        k = eval(r, e->b, &index);
        if (k < 0)
                return k;
        if (!object.json)
                return fail_undefined(r, &object, e->line, "read an item");
        if (!index.json)
                return fail_undefined(r, &index, e->line, "use it as a subscript");
        o = object.json;
        i = index.json;

        if (json_is_object(o) && json_is_string(i)) {
                json_t *member = json_object_get(o, json_string_value(i));

                if (member && strlen(json_string_value(i)) == json_string_length(i)) {
                        *ret = value_ref(member);
                        return 0;
                }
        } else if (json_is_array(o) && (json_is_integer(i) || json_is_boolean(i))) {
                if (python_index(json_is_boolean(i) ? json_is_true(i) : json_integer_value(i),
                                 json_array_size(o), &position)) {
                        *ret = value_ref(json_array_get(o, position));
                        return 0;
                }
        } else if (json_is_string(o) && json_is_integer(i)) {
                const char *s = json_string_value(o);
                size_t n = json_string_length(o);

                k = charge(r, n);
                if (k < 0)
                        return k;

                if (python_index(json_integer_value(i), utf8_length(s, n), &position)) {
                        size_t at = 0;

                        for (size_t c = 0; c < position; c++)
                                at += utf8_char_size(s + at, n - at);
                        *ret = value_take(json_stringn_nocheck(s + at, utf8_char_size(s + at, n - at)));
                        return ret->json ? 0 : -ENOMEM;
                }
        }
        return undefined_for_index(r, e, i, ret);
}

static int eval_list(Render *r, const Expr *e, Value *ret) {
        json_auto_t *list = json_array();

        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_items; i++) {
                _cleanup_(value_done) Value item = {};
                int k = eval(r, e->items[i], &item);

                if (k < 0)
                        return k;
                if (!item.json)
                        return fail_undefined(r, &item, e->items[i]->line, "put it in a list");
                if (json_array_append(list, item.json) < 0)
                        return -ENOMEM;
        }
        *ret = value_take(TAKE_PTR(list));
        ret->tuple = e->tuple;
        return 0;
}

static int eval_negate(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value v = {};
        json_t *j;
        int k;

        k = eval(r, e->a, &v);
        if (k < 0)
                return k;
        j = v.json;
        if (j && (json_is_integer(j) || json_is_boolean(j))) {
                json_int_t i = json_is_boolean(j) ? json_is_true(j) : json_integer_value(j);

                if (i == INT64_MIN)
                        return fail(r->reterr, -EINVAL, e->line,
                                    "Negating %" JSON_INTEGER_FORMAT " overflows", i);
                *ret = value_take(json_integer(-i));
        } else if (j && json_is_real(j))
                *ret = value_take(json_real(-json_real_value(j)));
        else if (!j)
                return fail_undefined(r, &v, e->line, "negate it");
        else
                return fail(r->reterr, -EINVAL, e->line, "Cannot negate a value of type '%s'",
                            python_type(&v));
        return ret->json ? 0 : -ENOMEM;
}

/* Python's 'and' and 'or' return one of their operands. */
static int eval_logic(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value left = {};
        int k;

        k = eval(r, e->a, &left);
        if (k < 0)
                return k;
        if (value_truthy(&left) == (e->kind == EXPR_OR)) {
                *ret = left;
                left = (Value) {};
                return 0;
        }
        return eval(r, e->b, ret);
}

static int contains(Render *r, const Expr *e, const Value *needle, const Value *haystack, bool *ret) {
        const json_t *h = haystack->json, *n = needle->json;

        if (!h) {
                *ret = false;
                return 0;
        }
        if (json_is_string(h)) {
                if (!n || !json_is_string(n))
                        return fail(r->reterr, -EINVAL, e->line,
                                    "'in <string>' needs a string on its left, not '%s'",
                                    python_type(needle));
                *ret = json_string_length(n) == 0 || memmem(json_string_value(h), json_string_length(h),
                                                            json_string_value(n), json_string_length(n));
                return 0;
        }
        if (json_is_array(h)) {
                json_t *item;
                size_t i;

                *ret = false;
                json_array_foreach(h, i, item)
                        if (n && python_equal(n, item, 0))
                                *ret = true;
                return 0;
        }
        if (json_is_object(h)) {
                if (n && (json_is_array(n) || json_is_object(n)))
                        return fail(r->reterr, -EINVAL, e->line, "Unhashable type '%s' on the left of 'in'",
                                    python_type(needle));
                *ret = n && json_is_string(n) && strlen(json_string_value(n)) == json_string_length(n) &&
                        json_object_get(h, json_string_value(n));
                return 0;
        }
        return fail(r->reterr, -EINVAL, e->line,
                    "Argument of type '%s' on the right of 'in' is not iterable", python_type(haystack));
}

static int eval_compare(Render *r, const Expr *e, Value *ret) {
        static const char *const symbols[] = {
                [COMPARE_EQ] = "==", [COMPARE_NE] = "!=", [COMPARE_LT] = "<", [COMPARE_LE] = "<=",
                [COMPARE_GT] = ">", [COMPARE_GE] = ">=", [COMPARE_IN] = "in", [COMPARE_NOT_IN] = "not in",
        };
        _cleanup_(value_done) Value a = {}, b = {};
        bool result = false;
        int k, order;

        k = eval(r, e->a, &a);
        if (k < 0)
                return k;
        k = eval(r, e->b, &b);
        if (k >= 0)
                k = charge_json(r, a.json);
        if (k >= 0)
                k = charge_json(r, b.json);
        if (k < 0)
                return k;

        switch (e->op) {
        case COMPARE_EQ:
        case COMPARE_NE:
                result = value_equal(&a, &b) == (e->op == COMPARE_EQ);
                break;
        case COMPARE_IN:
        case COMPARE_NOT_IN:
                k = contains(r, e, &a, &b, &result);
                if (k < 0)
                        return k;
                result = result == (e->op == COMPARE_IN);
                break;
        case COMPARE_LT:
        case COMPARE_LE:
        case COMPARE_GT:
        case COMPARE_GE:
                if (!a.json)
                        return fail_undefined(r, &a, e->line, "compare it");
                if (!b.json)
                        return fail_undefined(r, &b, e->line, "compare it");
                if (python_order(a.json, b.json, 0, &order) < 0)
                        return fail(r->reterr, -EINVAL, e->line, "Cannot compare '%s' and '%s' with '%s'",
                                    python_type(&a), python_type(&b), symbols[e->op]);
                result = e->op == COMPARE_LT ? order < 0 : e->op == COMPARE_LE ? order <= 0 :
                        e->op == COMPARE_GT ? order > 0 : order >= 0;
                break;
        }
        *ret = value_take(json_boolean(result));
        return 0;
}

static int eval_concat(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value a = {}, b = {};
        _cleanup_(buffer_done) Buffer text = {};
        int k;

        k = eval(r, e->a, &a);
        if (k >= 0)
                k = eval(r, e->b, &b);
        if (k >= 0)
                k = value_text(r, &a, &text);
        if (k >= 0)
                k = value_text(r, &b, &text);
        if (k < 0)
                return k;
        *ret = value_take(json_stringn_nocheck(text.data ?: "", text.size));
        return ret->json ? 0 : -ENOMEM;
}

static int eval_conditional(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value condition = {};
        int k;

        k = eval(r, e->b, &condition);
        if (k < 0)
                return k;
        if (value_truthy(&condition))
                return eval(r, e->a, ret);
        if (e->c)
                return eval(r, e->c, ret);
        /* Jinja gives its plain Undefined here, which renders as "" without a warning. */
        *ret = value_undefined(NULL, e);
        return 0;
}

static int eval_filter(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value value = {};
        Value args[ELEMENTSOF(e->filter->params)] = {};
        int k;

        k = eval(r, e->a, &value);
        for (size_t i = 0; k >= 0 && i < e->n_items; i++)
                if (e->items[i])
                        k = eval(r, e->items[i], &args[i]);
        if (k >= 0)
                k = e->filter->function(r, e, &value, args, ret);
        for (size_t i = 0; i < ELEMENTSOF(args); i++)
                value_done(&args[i]);
        return k;
}

static int eval_method(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value object = {};
        json_auto_t *list = NULL;
        const char *key;
        json_t *member;
        int k;

        k = eval(r, e->a, &object);
        if (k < 0)
                return k;
        if (!object.json)
                return fail_undefined(r, &object, e->line, "call a method");
        if (!json_is_object(object.json))
                return fail(r->reterr, -EINVAL, e->line, "'.%s()' needs a mapping, got a value of type '%s'",
                            e->name, python_type(&object));

        list = json_array();
        if (!list)
                return -ENOMEM;
        json_object_foreach(object.json, key, member) {
                json_t *item = streq(e->name, "keys") ? json_string_nocheck(key) :
                        streq(e->name, "values") ? json_incref(member) : json_pack("[s, O]", key, member);

                if (json_array_append_new(list, item) < 0)
                        return -ENOMEM;
        }
        *ret = value_take(TAKE_PTR(list));
        return 0;
}

static const json_t *lookup(const Render *r, const char *name) {
        for (size_t i = r->n_scope; i > 0; i--)
                if (streq(r->scope[i - 1].name, name))
                        return r->scope[i - 1].value;
        return json_object_get(r->vars, name);
}

static int eval(Render *r, const Expr *e, Value *ret) {
        const json_t *v;

        if (++r->steps > JINJA_STEPS_MAX)
                return fail(r->reterr, -E2BIG, e->line, "Rendering takes more than %u steps",
                            JINJA_STEPS_MAX);
        r->line = e->line;
        *ret = (Value) {};

        switch (e->kind) {
        case EXPR_LITERAL:
                *ret = value_ref(e->literal);
                return 0;
        case EXPR_NAME:
                v = lookup(r, e->name);
                *ret = v ? value_ref(v) : value_undefined(e->name, e);
                return 0;
        case EXPR_ATTRIBUTE:
                return eval_attribute(r, e, ret);
        case EXPR_ITEM:
                return eval_item(r, e, ret);
        case EXPR_LIST:
                return eval_list(r, e, ret);
        case EXPR_NOT: {
                Value operand = {};
                int k = eval(r, e->a, &operand);

                if (k < 0)
                        return k;
                *ret = value_take(json_boolean(!value_truthy(&operand)));
                value_done(&operand);
                return 0;
        }
        case EXPR_NEGATE:
                return eval_negate(r, e, ret);
        case EXPR_AND:
        case EXPR_OR:
                return eval_logic(r, e, ret);
        case EXPR_COMPARE:
                return eval_compare(r, e, ret);
        case EXPR_CONCAT:
                return eval_concat(r, e, ret);
        case EXPR_CONDITIONAL:
                return eval_conditional(r, e, ret);
        case EXPR_FILTER:
                return eval_filter(r, e, ret);
        case EXPR_TEST: {
                Value operand = {};
                int k = eval(r, e->a, &operand);

                if (k < 0)
                        return k;
                *ret = value_take(json_boolean(e->test->function(&operand) != e->negate));
                value_done(&operand);
                return 0;
        }
        case EXPR_METHOD:
                return eval_method(r, e, ret);
        }
        return -EINVAL;
}

/* ---- Filters ---- */

static void value_move(Value *from, Value *to) {
        *to = *from;
        *from = (Value) {};
}

static int filter_default(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        bool boolean = e->items[1] && value_truthy(&args[1]);

        if (value->json && (!boolean || value_truthy(value))) {
                value_move(value, ret);
                return 0;
        }
        if (e->items[0]) {
                value_move(&args[0], ret);
                return 0;
        }
        *ret = value_take(json_string(""));
        return ret->json ? 0 : -ENOMEM;
}

/* NOTE: only ASCII letters change case; Python's str.lower() and upper() map all of Unicode. */
static int filter_case(Render *r, Value *value, Value *ret, int (*map)(int)) {
        int k = value_to_string(r, value, ret);
        char *s;

        if (k < 0)
                return k;
        s = (char *) json_string_value(ret->json);
        for (size_t i = 0; i < json_string_length(ret->json); i++)
                if ((unsigned char) s[i] < 0x80)
                        s[i] = (char) map((unsigned char) s[i]);
        return 0;
}

static int filter_lower(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        return filter_case(r, value, ret, tolower);
}

static int filter_upper(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        return filter_case(r, value, ret, toupper);
}

/* Python's str.replace(old, new, count): an empty old inserts new around every character. */
static int replace_text(const char *s, size_t n, const char *old, size_t old_n, const char *new,
                        size_t new_n, json_int_t count, Buffer *b) {
        size_t i = 0;
        int k = 0;

        if (old_n == 0) {
                for (; k >= 0 && count != 0; count--) {
                        k = buffer_append(b, new, new_n);
                        if (k < 0 || i >= n)
                                break;
                        size_t len = utf8_char_size(s + i, n - i);
                        k = buffer_append(b, s + i, len);
                        i += len;
                }
                return k < 0 ? k : buffer_append(b, s + i, n - i);
        }
        while (k >= 0 && count != 0) {
                const char *hit = memmem(s + i, n - i, old, old_n);

                if (!hit)
                        break;
                k = buffer_append(b, s + i, hit - (s + i));
                if (k >= 0)
                        k = buffer_append(b, new, new_n);
                i = hit - s + old_n;
                count--;
        }
        return k < 0 ? k : buffer_append(b, s + i, n - i);
}

static int filter_replace(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        _cleanup_(value_done) Value s = {}, old = {}, new = {};
        _cleanup_(buffer_done) Buffer b = {};
        json_int_t count = -1;
        int k;

        if (e->items[2]) {
                const json_t *c = args[2].json;

                if (!c || !(json_is_integer(c) || json_is_boolean(c)))
                        return fail(r->reterr, -EINVAL, e->line,
                                    "The count of filter 'replace' must be an integer, not '%s'",
                                    python_type(&args[2]));
                count = json_is_boolean(c) ? json_is_true(c) : json_integer_value(c);
                if (count < 0)
                        count = -1;
        }
        k = value_to_string(r, value, &s);
        if (k >= 0)
                k = value_to_string(r, &args[0], &old);
        if (k >= 0)
                k = value_to_string(r, &args[1], &new);
        if (k >= 0)
                k = replace_text(json_string_value(s.json), json_string_length(s.json),
                                 json_string_value(old.json), json_string_length(old.json),
                                 json_string_value(new.json), json_string_length(new.json), count, &b);
        if (k >= 0)
                k = charge(r, b.size);
        if (k < 0)
                return k;
        *ret = value_take(json_stringn_nocheck(b.data ?: "", b.size));
        return ret->json ? 0 : -ENOMEM;
}

/* The item's attribute for join(attribute=...): "a.b" follows keys, "0" an index, as Jinja's
 * attribute getter does. */
static int item_attribute(Render *r, const Expr *e, const json_t *item, const char *path, Value *ret) {
        const json_t *current = item;
        const char *segment = path;

        for (;;) {
                size_t len = strcspn(segment, ".");
                _cleanup_free_ char *key = strndup(segment, len);
                const json_t *next = NULL;
                char *end;
                long index;

                if (!key)
                        return -ENOMEM;
                errno = 0;
                index = strtol(key, &end, 10);
                if (json_is_object(current))
                        next = json_object_get(current, key);
                else if (json_is_array(current) && len > 0 && *end == '\0' && errno == 0 &&
                         isdigit((unsigned char) key[0]) && (size_t) index < json_array_size(current))
                        next = json_array_get(current, index);
                if (!next) {
                        char *name = arena_strndup(r->arena, segment, len);
                        if (!name)
                                return -ENOMEM;
                        *ret = value_undefined(name, e);
                        return 0;
                }
                current = next;
                if (segment[len] == '\0')
                        break;
                segment += len + 1;
        }
        *ret = value_ref(current);
        return 0;
}

static int filter_join(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        _cleanup_(buffer_done) Buffer b = {}, separator = {};
        _cleanup_free_ char *attribute = NULL;
        json_auto_t *items = NULL;
        json_t *item;
        size_t i;
        int k;

        if (e->items[0] && (k = value_text(r, &args[0], &separator)) < 0)
                return k;
        if (e->items[1] && !json_is_null(args[1].json)) {
                _cleanup_(buffer_done) Buffer a = {};

                k = value_text(r, &args[1], &a);
                if (k < 0)
                        return k;
                attribute = strndup(a.data ?: "", a.size);
                if (!attribute)
                        return -ENOMEM;
        }
        k = value_items(r, value, e->line, &items);
        if (k < 0)
                return k;

        json_array_foreach(items, i, item) {
                _cleanup_(value_done) Value v = {};

                if (i > 0 && (k = buffer_append(&b, separator.data ?: "", separator.size)) < 0)
                        return k;
                if (attribute)
                        k = item_attribute(r, e, item, attribute, &v);
                else
                        v = value_ref(item);
                if (k >= 0)
                        k = value_text(r, &v, &b);
                if (k < 0)
                        return k;
        }
        *ret = value_take(json_stringn_nocheck(b.data ?: "", b.size));
        return ret->json ? 0 : -ENOMEM;
}

/* Python's str.isspace() for one code point. */
static bool python_space(uint32_t c) {
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
               c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
               c == 0x205f || c == 0x3000;
}

static bool code_point_in(uint32_t c, const char *set, size_t n) {
        uint32_t x;

        for (size_t i = 0; i < n;) {
                size_t len = utf8_decode(set + i, n - i, &x) ?: 1;
                if (x == c)
                        return true;
                i += len;
        }
        return false;
}

static int filter_trim(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        _cleanup_(value_done) Value s = {}, chars = {};
        const char *text, *set = NULL;
        size_t set_n = 0, start = 0, end;
        int k;

        k = value_to_string(r, value, &s);
        if (k < 0)
                return k;
        if (e->items[0] && !json_is_null(args[0].json)) {
                k = value_to_string(r, &args[0], &chars);
                if (k < 0)
                        return k;
                set = json_string_value(chars.json);
                set_n = json_string_length(chars.json);
        }
        text = json_string_value(s.json);
        end = json_string_length(s.json);

        while (start < end) {
                uint32_t c = (unsigned char) text[start];
                size_t len = utf8_decode(text + start, end - start, &c) ?: 1;

                if (set ? !code_point_in(c, set, set_n) : !python_space(c))
                        break;
                start += len;
        }
        while (end > start) {
                size_t at = end - 1;
                uint32_t c;

                while (at > start && ((unsigned char) text[at] & 0xc0) == 0x80)
                        at--;
                if (utf8_decode(text + at, end - at, &c) == 0)
                        c = (unsigned char) text[at];
                if (set ? !code_point_in(c, set, set_n) : !python_space(c))
                        break;
                end = at;
        }
        *ret = value_take(json_stringn_nocheck(text + start, end - start));
        return ret->json ? 0 : -ENOMEM;
}

static int filter_length(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        const json_t *j = value->json;
        size_t n;

        if (!j)
                n = 0;
        else if (json_is_string(j)) {
                int k = charge(r, json_string_length(j));

                if (k < 0)
                        return k;
                n = utf8_length(json_string_value(j), json_string_length(j));
        }
        else if (json_is_array(j))
                n = json_array_size(j);
        else if (json_is_object(j))
                n = json_object_size(j);
        else
                return fail(r->reterr, -EINVAL, e->line, "A value of type '%s' has no length",
                            python_type(value));
        *ret = value_take(json_integer((json_int_t) n));
        return ret->json ? 0 : -ENOMEM;
}

static int filter_first_last(Render *r, const Expr *e, Value *value, Value *ret, bool last) {
        json_auto_t *items = NULL;
        size_t n;
        int k;

        k = value_items(r, value, e->line, &items);
        if (k < 0)
                return k;
        n = json_array_size(items);
        if (n == 0) {
                /* Jinja's undefined for an empty sequence has no name, which cloud-init prints as None. */
                *ret = value_undefined("None", e);
                return 0;
        }
        *ret = value_ref(json_array_get(items, last ? n - 1 : 0));
        return 0;
}

static int filter_first(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        return filter_first_last(r, e, value, ret, false);
}

static int filter_last(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        return filter_first_last(r, e, value, ret, true);
}

static int filter_string(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        return value_to_string(r, value, ret);
}

static const Filter filters[] = {
        { "default", filter_default, 0, 2, { "default_value", "boolean" } },
        { "d",       filter_default, 0, 2, { "default_value", "boolean" } },
        { "lower",   filter_lower,   0, 0, {} },
        { "upper",   filter_upper,   0, 0, {} },
        { "replace", filter_replace, 2, 3, { "old", "new", "count" } },
        { "join",    filter_join,    0, 2, { "d", "attribute" } },
        { "trim",    filter_trim,    0, 1, { "chars" } },
        { "length",  filter_length,  0, 0, {} },
        { "count",   filter_length,  0, 0, {} },
        { "first",   filter_first,   0, 0, {} },
        { "last",    filter_last,    0, 0, {} },
        { "string",  filter_string,  0, 0, {} },
};

static const Filter *filter_find(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(filters); i++)
                if (strlen(filters[i].name) == n && memcmp(filters[i].name, name, n) == 0)
                        return &filters[i];
        return NULL;
}

static void filter_list(char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(filters) && used < size; i++)
                used += (size_t) snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "",
                                          filters[i].name);
}

/* ---- Tests ---- */

static bool test_defined(const Value *v) {
        return v->json;
}

static bool test_undefined(const Value *v) {
        return !v->json;
}

static bool test_none(const Value *v) {
        return v->json && json_is_null(v->json);
}

static bool test_boolean(const Value *v) {
        return v->json && json_is_boolean(v->json);
}

static bool test_true(const Value *v) {
        return v->json && json_is_true(v->json);
}

static bool test_false(const Value *v) {
        return v->json && json_is_false(v->json);
}

static bool test_integer(const Value *v) {
        return v->json && json_is_integer(v->json);
}

static bool test_float(const Value *v) {
        return v->json && json_is_real(v->json);
}

static bool test_number(const Value *v) {
        return v->json && json_is_python_number(v->json);
}

static bool test_string(const Value *v) {
        return v->json && json_is_string(v->json);
}

static bool test_mapping(const Value *v) {
        return v->json && json_is_object(v->json);
}

/* Jinja's Undefined has a length and can be iterated, so it counts as a sequence. */
static bool test_sequence(const Value *v) {
        return !v->json || json_is_string(v->json) || json_is_array(v->json) || json_is_object(v->json);
}

static const Test tests[] = {
        { "defined",   test_defined },
        { "undefined", test_undefined },
        { "none",      test_none },
        { "boolean",   test_boolean },
        { "true",      test_true },
        { "false",     test_false },
        { "integer",   test_integer },
        { "float",     test_float },
        { "number",    test_number },
        { "string",    test_string },
        { "mapping",   test_mapping },
        { "sequence",  test_sequence },
        { "iterable",  test_sequence },
};

static const Test *test_find(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                if (strlen(tests[i].name) == n && memcmp(tests[i].name, name, n) == 0)
                        return &tests[i];
        return NULL;
}

static void test_list(char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(tests) && used < size; i++)
                used += (size_t) snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", tests[i].name);
}

/* ---- Statements ---- */

static int render_nodes(Render *r, const NodeList *list);

static int scope_push(Render *r, const char *name, json_t *value) {
        assert(r->n_scope < ELEMENTSOF(r->scope));
        r->scope[r->n_scope++] = (Binding) { .name = name, .value = json_incref(value) };
        return 0;
}

static void scope_pop(Render *r, size_t n) {
        for (; n > 0 && r->n_scope > 0; n--) {
                r->n_scope--;
                json_decref(r->scope[r->n_scope].value);
        }
}

/* Bind the loop variables to item, unpacking it when there are several. Returns the number of
 * bindings made. */
static int bind_targets(Render *r, const Node *n, json_t *item) {
        if (n->n_targets == 1)
                return scope_push(r, n->targets[0], item) < 0 ? -ENOMEM : 1;
        if (!json_is_array(item) || json_array_size(item) != n->n_targets) {
                Value v = { .json = item };

                return fail(r->reterr, -EINVAL, n->line,
                            "Cannot unpack a value of type '%s' into %zu loop variables", python_type(&v),
                            n->n_targets);
        }
        for (size_t i = 0; i < n->n_targets; i++)
                (void) scope_push(r, n->targets[i], json_array_get(item, i));
        return (int) n->n_targets;
}

static int count_iteration(Render *r, unsigned line) {
        if (++r->iterations > JINJA_LOOP_ITERATIONS_MAX)
                return fail(r->reterr, -E2BIG, line, "For loops run more than %u iterations",
                            JINJA_LOOP_ITERATIONS_MAX);
        return 0;
}

/* The items that pass the loop's 'if' filter. */
static int loop_select(Render *r, const Node *n, json_t *items, json_t **ret) {
        json_auto_t *selected = json_array();
        json_t *item;
        size_t i;

        if (!selected)
                return -ENOMEM;
        json_array_foreach(items, i, item) {
                _cleanup_(value_done) Value keep = {};
                int bound, k;

                k = count_iteration(r, n->line);
                if (k < 0)
                        return k;
                bound = bind_targets(r, n, item);
                if (bound < 0)
                        return bound;
                k = eval(r, n->filter, &keep);
                scope_pop(r, bound);
                if (k < 0)
                        return k;
                if (value_truthy(&keep) && json_array_append(selected, item) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(selected);
        return 0;
}

/* Jinja's loop variable: loop.index, loop.first, loop.length and their kin. */
static json_t *loop_object(json_t *items, size_t i) {
        size_t n = json_array_size(items);
        json_t *loop = json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:i, s:i}",
                                 "index", (json_int_t) i + 1, "index0", (json_int_t) i,
                                 "revindex", (json_int_t) (n - i), "revindex0", (json_int_t) (n - i - 1),
                                 "first", i == 0, "last", i + 1 == n, "length", (json_int_t) n,
                                 "depth", 1, "depth0", 0);

        if (loop && i > 0 && json_object_set(loop, "previtem", json_array_get(items, i - 1)) < 0)
                return json_decref(loop), NULL;
        if (loop && i + 1 < n && json_object_set(loop, "nextitem", json_array_get(items, i + 1)) < 0)
                return json_decref(loop), NULL;
        return loop;
}

static int render_for(Render *r, const Node *n) {
        _cleanup_(value_done) Value iterable = {};
        json_auto_t *items = NULL;
        json_t *item;
        size_t i;
        int k;

        k = eval(r, n->expr, &iterable);
        if (k < 0)
                return k;
        if (!iterable.json && iterable.undefined) {
                char what[200];

                describe_expr(iterable.origin, what, sizeof(what));
                warn(r, n->line, "Variable '%s' is undefined, the for loop runs no iteration", what);
        }
        k = value_items(r, &iterable, n->line, &items);
        if (k < 0)
                return k;
        if (n->filter) {
                json_t *selected;

                k = loop_select(r, n, items, &selected);
                if (k < 0)
                        return k;
                json_decref(items);
                items = selected;
        }
        if (json_array_size(items) == 0)
                return render_nodes(r, &n->orelse);

        json_array_foreach(items, i, item) {
                json_auto_t *loop = loop_object(items, i);
                int bound;

                if (!loop)
                        return -ENOMEM;
                k = count_iteration(r, n->line);
                if (k < 0)
                        return k;
                bound = bind_targets(r, n, item);
                if (bound < 0)
                        return bound;
                (void) scope_push(r, "loop", loop);
                k = render_nodes(r, &n->body);
                scope_pop(r, bound + 1);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int render_node(Render *r, const Node *n) {
        _cleanup_(value_done) Value v = {};
        int k;

        r->line = n->line;
        if (++r->steps > JINJA_STEPS_MAX)
                return fail(r->reterr, -E2BIG, n->line, "Rendering takes more than %u steps",
                            JINJA_STEPS_MAX);

        switch (n->kind) {
        case NODE_TEXT:
                return buffer_append(&r->out, n->text, n->text_size);
        case NODE_OUTPUT:
                k = eval(r, n->expr, &v);
                return k < 0 ? k : value_text(r, &v, &r->out);
        case NODE_IF:
                k = eval(r, n->expr, &v);
                if (k < 0)
                        return k;
                return render_nodes(r, value_truthy(&v) ? &n->body : &n->orelse);
        case NODE_FOR:
                return render_for(r, n);
        }
        return -EINVAL;
}

static int render_nodes(Render *r, const NodeList *list) {
        for (size_t i = 0; i < list->n; i++) {
                int k = render_node(r, list->items[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- Entry point ---- */

/* Copy the template with CR LF and lone CR turned into LF, as Jinja's lexer does. */
static char *normalize_newlines(const char *template, size_t size, size_t *ret_size) {
        char *s = malloc(size + 1);
        size_t n = 0;

        if (!s)
                return NULL;
        for (size_t i = 0; i < size; i++) {
                if (template[i] == '\r') {
                        s[n++] = '\n';
                        if (i + 1 < size && template[i + 1] == '\n')
                                i++;
                } else
                        s[n++] = template[i];
        }
        s[n] = '\0';
        *ret_size = n;
        return s;
}

static unsigned line_of_offset(const char *s, size_t offset) {
        unsigned line = 1;

        for (size_t i = 0; i < offset; i++)
                if (s[i] == '\n')
                        line++;
        return line;
}

static int parse_template(Lexer *l, Parser *p, NodeList *body) {
        int k;

        k = lex(l);
        if (k < 0)
                return k;
        p->tokens = l->tokens;
        return parse_body(p, NULL, 0, body);
}

static int append_warnings(json_t *from, json_t **ret_warnings) {
        if (!ret_warnings)
                return 0;
        if (!*ret_warnings) {
                *ret_warnings = json_incref(from);
                return 0;
        }
        return json_array_extend(*ret_warnings, from) < 0 ? -ENOMEM : 0;
}

int jinja_render(const char *template, size_t size, const json_t *vars, char **ret, size_t *ret_size,
                 json_t **ret_warnings, JinjaError *reterr) {
        JinjaError ignored = {};
        _cleanup_(arena_done) Arena arena = {};
        _cleanup_free_ char *source = NULL;
        _cleanup_free_ Token *tokens = NULL;
        json_auto_t *literals = NULL;
        _cleanup_(render_done) Render r = {};
        NodeList body = {};
        Lexer l = {};
        Parser p = {};
        size_t n, invalid;
        bool trailing_newline;
        int k;

        assert(template || size == 0);
        assert(ret);

        if (!reterr)
                reterr = &ignored;
        *reterr = (JinjaError) {};
        if (size > JINJA_TEMPLATE_MAX)
                return fail(reterr, -E2BIG, 0, "The template is larger than %u bytes", JINJA_TEMPLATE_MAX);
        invalid = utf8_invalid_offset(template ?: "", size);
        if (invalid < size)
                return fail(reterr, -EINVAL, line_of_offset(template, invalid),
                            "The template is not valid UTF-8 at byte offset %zu", invalid);

        source = normalize_newlines(template ?: "", size, &n);
        literals = json_array();
        r.warnings = json_array();
        if (!source || !literals || !r.warnings)
                return -ENOMEM;
        /* Jinja drops one trailing newline and cloud-init adds it back after rendering. */
        trailing_newline = n > 0 && source[n - 1] == '\n';
        if (trailing_newline)
                n--;

        l = (Lexer) { .source = source, .size = n, .line = 1, .arena = &arena, .reterr = reterr };
        p = (Parser) { .arena = &arena, .literals = literals, .reterr = reterr };
        k = parse_template(&l, &p, &body);
        tokens = l.tokens;
        if (k < 0)
                return k;

        r.vars = vars;
        r.arena = &arena;
        r.reterr = reterr;
        k = render_nodes(&r, &body);
        if (k >= 0 && trailing_newline)
                k = buffer_append(&r.out, "\n", 1);
        if (k == -E2BIG && reterr->message[0] == '\0')
                k = fail(reterr, k, r.line, "The rendered text is longer than %u bytes", JINJA_OUTPUT_MAX);
        if (k == -ELOOP)
                k = fail(reterr, -E2BIG, r.line, "A value is nested more than %u levels deep",
                         JINJA_VALUE_DEPTH_MAX);
        if (k < 0)
                return k;

        k = append_warnings(r.warnings, ret_warnings);
        if (k < 0)
                return k;
        if (!r.out.data && buffer_append(&r.out, "", 0) < 0)
                return -ENOMEM;
        if (ret_size)
                *ret_size = r.out.size;
        *ret = TAKE_PTR(r.out.data);
        r.out = (Buffer) {};
        return 0;
}
