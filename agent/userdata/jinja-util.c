/* SPDX-License-Identifier: Apache-2.0 */
/* Memory and text helpers of the Jinja renderer: an arena, a growable buffer, UTF-8 and errors. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Small helpers: arena, growable buffer, UTF-8 ---- */

void jinja_arena_done(Arena *a) {
        for (size_t i = 0; i < a->n; i++)
                free(a->blocks[i]);
        free(a->blocks);
        *a = (Arena) {};
}

void *jinja_arena_alloc(Arena *a, size_t size) {
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

char *jinja_arena_strndup(Arena *a, const char *s, size_t n) {
        char *p = jinja_arena_alloc(a, n + 1);

        if (p)
                memcpy(p, s, n);
        return p;
}

void jinja_buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer) {};
}

/* Append n bytes; -E2BIG past JINJA_OUTPUT_MAX. The data stays NUL-terminated. */
int jinja_buffer_append(Buffer *b, const char *s, size_t n) {
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

int jinja_buffer_puts(Buffer *b, const char *s) {
        return jinja_buffer_append(b, s, strlen(s));
}

int jinja_buffer_printf(Buffer *b, const char *format, ...) {
        char text[64];
        va_list ap;
        int n;

        va_start(ap, format);
        n = vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(text))
                return -EINVAL;
        return jinja_buffer_append(b, text, n);
}

/* Length of the UTF-8 sequence at s (at most n bytes) and its code point, 0 when invalid. */
size_t jinja_utf8_decode(const char *s, size_t n, uint32_t *ret) {
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

size_t jinja_utf8_encode(uint32_t c, char out[static 4]) {
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
size_t jinja_utf8_invalid_offset(const char *s, size_t n) {
        uint32_t c;

        for (size_t i = 0; i < n;) {
                size_t len = jinja_utf8_decode(s + i, n - i, &c);
                if (len == 0)
                        return i;
                i += len;
        }
        return n;
}

/* Number of code points, as Python's len() counts a str. The text is valid UTF-8. */
size_t jinja_utf8_length(const char *s, size_t n) {
        size_t count = 0;

        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        count++;
        return count;
}

/* Byte length of the code point starting at s. */
size_t jinja_utf8_char_size(const char *s, size_t n) {
        size_t len = 1;

        while (len < n && ((unsigned char) s[len] & 0xc0) == 0x80)
                len++;
        return len;
}

/* ---- Errors and warnings ---- */

int jinja_fail(JinjaError *reterr, int error, unsigned line, const char *format, ...) {
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
