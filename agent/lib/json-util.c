/* SPDX-License-Identifier: Apache-2.0 */
/* Small jansson helpers shared by config loading, merging and messages. */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

int json_merge_deep(json_t *dst, const json_t *src) {
        const char *key;
        json_t *value;

        json_object_foreach((json_t *) src, key, value) {
                json_t *old = json_object_get(dst, key);

                if (json_is_object(old) && json_is_object(value)) {
                        int r = json_merge_deep(old, value);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* A copy, because YAML aliases share nodes: merging into this value later must not
                 * change the other places that alias it. */
                if (json_object_set_new(dst, key, json_deep_copy(value)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

json_t *json_get_path(const json_t *root, ...) {
        const json_t *v = root;
        const char *key;
        va_list ap;

        va_start(ap, root);
        while (v && (key = va_arg(ap, const char *)))
                v = json_object_get(v, key);
        va_end(ap);
        return (json_t *) v;
}

char *json_to_message(const json_t *v, size_t max) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

        if (!text)
                return NULL;
        if (max >= 4 && strlen(text) > max)
                memcpy(text + max - 4, "...", 4);
        return text;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_sequence_length(const unsigned char *s) {
        unsigned char c = s[0];
        size_t n;
        unsigned cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return n;
}

void utf8_make_valid(char *s) {
        unsigned char *p = (unsigned char *) s;

        while (*p) {
                size_t n = utf8_sequence_length(p);

                if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}
