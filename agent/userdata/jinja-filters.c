/* SPDX-License-Identifier: Apache-2.0 */
/* The Jinja filters and tests that kiln supports. */

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Filters ---- */

static void value_move(Value *from, Value *to) {
        *to = *from;
        *from = (Value) {};
}

static int filter_default(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        bool boolean = e->items[1] && jinja_value_truthy(&args[1]);

        if (value->json && (!boolean || jinja_value_truthy(value))) {
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
        int k = jinja_value_to_string(r, value, ret);
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
                        k = jinja_buffer_append(b, new, new_n);
                        if (k < 0 || i >= n)
                                break;
                        size_t len = jinja_utf8_char_size(s + i, n - i);
                        k = jinja_buffer_append(b, s + i, len);
                        i += len;
                }
                return k < 0 ? k : jinja_buffer_append(b, s + i, n - i);
        }
        while (k >= 0 && count != 0) {
                const char *hit = memmem(s + i, n - i, old, old_n);

                if (!hit)
                        break;
                k = jinja_buffer_append(b, s + i, hit - (s + i));
                if (k >= 0)
                        k = jinja_buffer_append(b, new, new_n);
                i = hit - s + old_n;
                count--;
        }
        return k < 0 ? k : jinja_buffer_append(b, s + i, n - i);
}

static int filter_replace(Render *r, const Expr *e, Value *value, Value *args, Value *ret) {
        _cleanup_(value_done) Value s = {}, old = {}, new = {};
        _cleanup_(jinja_buffer_done) Buffer b = {};
        json_int_t count = -1;
        int k;

        if (e->items[2]) {
                const json_t *c = args[2].json;

                if (!c || !(json_is_integer(c) || json_is_boolean(c)))
                        return jinja_fail(r->reterr, -EINVAL, e->line,
                                          "The count of filter 'replace' must be an integer, not '%s'",
                                          jinja_python_type(&args[2]));
                count = json_is_boolean(c) ? json_is_true(c) : json_integer_value(c);
                if (count < 0)
                        count = -1;
        }
        k = jinja_value_to_string(r, value, &s);
        if (k >= 0)
                k = jinja_value_to_string(r, &args[0], &old);
        if (k >= 0)
                k = jinja_value_to_string(r, &args[1], &new);
        if (k >= 0)
                k = replace_text(json_string_value(s.json), json_string_length(s.json),
                                 json_string_value(old.json), json_string_length(old.json),
                                 json_string_value(new.json), json_string_length(new.json), count, &b);
        if (k >= 0)
                k = jinja_charge(r, b.size);
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
                        char *name = jinja_arena_strndup(r->arena, segment, len);
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
        _cleanup_(jinja_buffer_done) Buffer b = {}, separator = {};
        _cleanup_free_ char *attribute = NULL;
        json_auto_t *items = NULL;
        json_t *item;
        size_t i;
        int k;

        if (e->items[0] && (k = jinja_value_text(r, &args[0], &separator)) < 0)
                return k;
        if (e->items[1] && !json_is_null(args[1].json)) {
                _cleanup_(jinja_buffer_done) Buffer a = {};

                k = jinja_value_text(r, &args[1], &a);
                if (k < 0)
                        return k;
                attribute = strndup(a.data ?: "", a.size);
                if (!attribute)
                        return -ENOMEM;
        }
        k = jinja_value_items(r, value, e->line, &items);
        if (k < 0)
                return k;

        json_array_foreach(items, i, item) {
                _cleanup_(value_done) Value v = {};

                if (i > 0 && (k = jinja_buffer_append(&b, separator.data ?: "", separator.size)) < 0)
                        return k;
                if (attribute)
                        k = item_attribute(r, e, item, attribute, &v);
                else
                        v = value_ref(item);
                if (k >= 0)
                        k = jinja_value_text(r, &v, &b);
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
                size_t len = jinja_utf8_decode(set + i, n - i, &x) ?: 1;
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

        k = jinja_value_to_string(r, value, &s);
        if (k < 0)
                return k;
        if (e->items[0] && !json_is_null(args[0].json)) {
                k = jinja_value_to_string(r, &args[0], &chars);
                if (k < 0)
                        return k;
                set = json_string_value(chars.json);
                set_n = json_string_length(chars.json);
        }
        text = json_string_value(s.json);
        end = json_string_length(s.json);

        while (start < end) {
                uint32_t c = (unsigned char) text[start];
                size_t len = jinja_utf8_decode(text + start, end - start, &c) ?: 1;

                if (set ? !code_point_in(c, set, set_n) : !python_space(c))
                        break;
                start += len;
        }
        while (end > start) {
                size_t at = end - 1;
                uint32_t c;

                while (at > start && ((unsigned char) text[at] & 0xc0) == 0x80)
                        at--;
                if (jinja_utf8_decode(text + at, end - at, &c) == 0)
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
                int k = jinja_charge(r, json_string_length(j));

                if (k < 0)
                        return k;
                n = jinja_utf8_length(json_string_value(j), json_string_length(j));
        }
        else if (json_is_array(j))
                n = json_array_size(j);
        else if (json_is_object(j))
                n = json_object_size(j);
        else
                return jinja_fail(r->reterr, -EINVAL, e->line, "A value of type '%s' has no length",
                                  jinja_python_type(value));
        *ret = value_take(json_integer((json_int_t) n));
        return ret->json ? 0 : -ENOMEM;
}

static int filter_first_last(Render *r, const Expr *e, Value *value, Value *ret, bool last) {
        json_auto_t *items = NULL;
        size_t n;
        int k;

        k = jinja_value_items(r, value, e->line, &items);
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
        return jinja_value_to_string(r, value, ret);
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

const Filter *jinja_filter_find(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(filters); i++)
                if (strlen(filters[i].name) == n && memcmp(filters[i].name, name, n) == 0)
                        return &filters[i];
        return NULL;
}

void jinja_filter_list(char *buf, size_t size) {
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
        return v->json && jinja_json_is_python_number(v->json);
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

const Test *jinja_test_find(const char *name, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                if (strlen(tests[i].name) == n && memcmp(tests[i].name, name, n) == 0)
                        return &tests[i];
        return NULL;
}

void jinja_test_list(char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(tests) && used < size; i++)
                used += (size_t) snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", tests[i].name);
}
