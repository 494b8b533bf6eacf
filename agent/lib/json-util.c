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
                if (json_object_set(dst, key, value) < 0)
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
