/* SPDX-License-Identifier: Apache-2.0 */
/* Evaluation of Jinja expressions against the instance data, with warnings and work limits. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/json-util.h"
#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Rendering ---- */

void jinja_render_done(Render *r) {
        for (size_t i = 0; i < r->n_scope; i++)
                json_decref(r->scope[i].value);
        r->n_scope = 0;
        jinja_buffer_done(&r->out);
        json_decref(r->warnings);
        r->warnings = NULL;
}

void jinja_warn(Render *r, unsigned line, const char *format, ...) {
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
void jinja_describe_expr(const Expr *e, char *buf, size_t size) {
        char inner[200] = "";

        if (!e) {
                (void) snprintf(buf, size, "value");
                return;
        }
        if (e->a && (e->kind == EXPR_ATTRIBUTE || e->kind == EXPR_ITEM || e->kind == EXPR_FILTER ||
                     e->kind == EXPR_METHOD))
                jinja_describe_expr(e->a, inner, sizeof(inner));

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
int jinja_charge(Render *r, size_t n) {
        r->work += n;
        if (r->work > JINJA_WORK_MAX)
                return jinja_fail(r->reterr, -E2BIG, r->line,
                                  "Rendering processes more than %u bytes of text", JINJA_WORK_MAX);
        return 0;
}

static int charge_json(Render *r, const json_t *v) {
        if (json_is_string(v))
                return jinja_charge(r, json_string_length(v));
        if (json_is_array(v))
                return jinja_charge(r, json_array_size(v));
        if (json_is_object(v))
                return jinja_charge(r, json_object_size(v));
        return 0;
}

static int value_text_append(Render *r, const Value *v, Buffer *b) {
        char what[200];
        int k;

        if (v->json && v->tuple) {
                json_t *item;
                size_t i;

                k = jinja_buffer_puts(b, "(");
                json_array_foreach(v->json, i, item) {
                        if (k >= 0 && i > 0)
                                k = jinja_buffer_puts(b, ", ");
                        if (k >= 0)
                                k = jinja_python_repr(item, b, 1);
                }
                if (k >= 0 && json_array_size(v->json) == 1)
                        k = jinja_buffer_puts(b, ",");
                return k < 0 ? k : jinja_buffer_puts(b, ")");
        }
        if (v->json)
                return jinja_python_str(v->json, b);
        if (!v->undefined)
                return 0;

        jinja_describe_expr(v->origin, what, sizeof(what));
        jinja_warn(r, v->origin ? v->origin->line : r->line,
                   "Variable '%s' is undefined, rendered as '%s%s'", what, MISSING_PREFIX, v->undefined);
        k = jinja_buffer_puts(b, MISSING_PREFIX);
        return k < 0 ? k : jinja_buffer_puts(b, v->undefined);
}

/* Append str() of v. An undefined value renders as cloud-init renders it, with a warning. */
int jinja_value_text(Render *r, const Value *v, Buffer *b) {
        size_t before = b->size;
        int k;

        k = value_text_append(r, v, b);
        if (k < 0)
                return k;
        return jinja_charge(r, b->size - before);
}

/* str() of v as a new JSON string. */
int jinja_value_to_string(Render *r, const Value *v, Value *ret) {
        _cleanup_(jinja_buffer_done) Buffer b = {};
        json_t *s;
        int k;

        k = jinja_value_text(r, v, &b);
        if (k < 0)
                return k;
        s = json_stringn_nocheck(b.data ?: "", b.size);
        if (!s)
                return -ENOMEM;
        *ret = value_take(s);
        return 0;
}

bool jinja_value_truthy(const Value *v) {
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
static int fail_undefined(Render *r, const Value *v, unsigned line, const char *action) {
        char what[200];

        jinja_describe_expr(v->origin, what, sizeof(what));
        return jinja_fail(r->reterr, -EINVAL, line, "Cannot %s: '%s' is undefined", action, what);
}

/* The items a for loop or filter iterates: a list's items, a mapping's keys, a string's characters,
 * nothing for undefined. Returns a new reference. */
int jinja_value_items(Render *r, const Value *v, unsigned line, json_t **ret) {
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
                        size_t len = jinja_utf8_char_size(s + i, n - i);

                        if (json_array_append_new(items, json_stringn_nocheck(s + i, len)) < 0)
                                return -ENOMEM;
                        i += len;
                }
        } else
                return jinja_fail(r->reterr, -EINVAL, line, "Cannot iterate over a value of type '%s'",
                                  jinja_python_type(v));
        *ret = TAKE_PTR(items);
        return 0;
}

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
        return jinja_fail(r->reterr, -EINVAL, e->line,
                          "'.%s' of a %s is a method in Jinja, and method calls are not supported%s",
                          e->name, type, streq(type, "mapping") ? ": use ['NAME'] for a key" : "");
}

static int eval_attribute(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value object = {};
        json_t *member;
        int k;

        k = jinja_eval(r, e->a, &object);
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
        _cleanup_(jinja_buffer_done) Buffer b = {};
        char *name;
        int k;

        k = jinja_python_str(index, &b);
        if (k < 0)
                return k;
        name = jinja_arena_strndup(r->arena, b.data ?: "", b.size);
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

        k = jinja_eval(r, e->a, &object);
        if (k < 0)
                return k;
        k = jinja_eval(r, e->b, &index);
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

                k = jinja_charge(r, n);
                if (k < 0)
                        return k;

                if (python_index(json_integer_value(i), jinja_utf8_length(s, n), &position)) {
                        size_t at = 0;

                        for (size_t c = 0; c < position; c++)
                                at += jinja_utf8_char_size(s + at, n - at);
                        *ret = value_take(
                                json_stringn_nocheck(s + at, jinja_utf8_char_size(s + at, n - at)));
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
                int k = jinja_eval(r, e->items[i], &item);

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

        k = jinja_eval(r, e->a, &v);
        if (k < 0)
                return k;
        j = v.json;
        if (j && (json_is_integer(j) || json_is_boolean(j))) {
                json_int_t i = json_is_boolean(j) ? json_is_true(j) : json_integer_value(j);

                if (i == INT64_MIN)
                        return jinja_fail(r->reterr, -EINVAL, e->line,
                                          "Negating %" JSON_INTEGER_FORMAT " overflows", i);
                *ret = value_take(json_integer(-i));
        } else if (j && json_is_real(j))
                *ret = value_take(json_real(-json_real_value(j)));
        else if (!j)
                return fail_undefined(r, &v, e->line, "negate it");
        else
                return jinja_fail(r->reterr, -EINVAL, e->line, "Cannot negate a value of type '%s'",
                                  jinja_python_type(&v));
        return ret->json ? 0 : -ENOMEM;
}

/* Python's 'and' and 'or' return one of their operands. */
static int eval_logic(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value left = {};
        int k;

        k = jinja_eval(r, e->a, &left);
        if (k < 0)
                return k;
        if (jinja_value_truthy(&left) == (e->kind == EXPR_OR)) {
                *ret = left;
                left = (Value) {};
                return 0;
        }
        return jinja_eval(r, e->b, ret);
}

static int contains(Render *r, const Expr *e, const Value *needle, const Value *haystack, bool *ret) {
        const json_t *h = haystack->json, *n = needle->json;

        if (!h) {
                *ret = false;
                return 0;
        }
        if (json_is_string(h)) {
                if (!n || !json_is_string(n))
                        return jinja_fail(r->reterr, -EINVAL, e->line,
                                          "'in <string>' needs a string on its left, not '%s'",
                                          jinja_python_type(needle));
                *ret = json_string_length(n) == 0 || memmem(json_string_value(h), json_string_length(h),
                                                            json_string_value(n), json_string_length(n));
                return 0;
        }
        if (json_is_array(h)) {
                json_t *item;
                size_t i;

                *ret = false;
                json_array_foreach(h, i, item)
                        if (n && jinja_python_equal(n, item, 0))
                                *ret = true;
                return 0;
        }
        if (json_is_object(h)) {
                if (n && (json_is_array(n) || json_is_object(n)))
                        return jinja_fail(r->reterr, -EINVAL, e->line,
                                          "Unhashable type '%s' on the left of 'in'",
                                          jinja_python_type(needle));
                *ret = n && json_is_string(n) && strlen(json_string_value(n)) == json_string_length(n) &&
                        json_object_get(h, json_string_value(n));
                return 0;
        }
        return jinja_fail(r->reterr, -EINVAL, e->line,
                          "Argument of type '%s' on the right of 'in' is not iterable",
                          jinja_python_type(haystack));
}

static int eval_compare(Render *r, const Expr *e, Value *ret) {
        static const char *const symbols[] = {
                [COMPARE_EQ] = "==", [COMPARE_NE] = "!=", [COMPARE_LT] = "<", [COMPARE_LE] = "<=",
                [COMPARE_GT] = ">", [COMPARE_GE] = ">=", [COMPARE_IN] = "in", [COMPARE_NOT_IN] = "not in",
        };
        _cleanup_(value_done) Value a = {}, b = {};
        bool result = false;
        int k, order;

        k = jinja_eval(r, e->a, &a);
        if (k < 0)
                return k;
        k = jinja_eval(r, e->b, &b);
        if (k >= 0)
                k = charge_json(r, a.json);
        if (k >= 0)
                k = charge_json(r, b.json);
        if (k < 0)
                return k;

        switch (e->op) {
        case COMPARE_EQ:
        case COMPARE_NE:
                result = jinja_value_equal(&a, &b) == (e->op == COMPARE_EQ);
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
                if (jinja_python_order(a.json, b.json, 0, &order) < 0)
                        return jinja_fail(r->reterr, -EINVAL, e->line,
                                          "Cannot compare '%s' and '%s' with '%s'", jinja_python_type(&a),
                                          jinja_python_type(&b), symbols[e->op]);
                result = e->op == COMPARE_LT ? order < 0 : e->op == COMPARE_LE ? order <= 0 :
                        e->op == COMPARE_GT ? order > 0 : order >= 0;
                break;
        }
        *ret = value_take(json_boolean(result));
        return 0;
}

static int eval_concat(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value a = {}, b = {};
        _cleanup_(jinja_buffer_done) Buffer text = {};
        int k;

        k = jinja_eval(r, e->a, &a);
        if (k >= 0)
                k = jinja_eval(r, e->b, &b);
        if (k >= 0)
                k = jinja_value_text(r, &a, &text);
        if (k >= 0)
                k = jinja_value_text(r, &b, &text);
        if (k < 0)
                return k;
        *ret = value_take(json_stringn_nocheck(text.data ?: "", text.size));
        return ret->json ? 0 : -ENOMEM;
}

static int eval_conditional(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value condition = {};
        int k;

        k = jinja_eval(r, e->b, &condition);
        if (k < 0)
                return k;
        if (jinja_value_truthy(&condition))
                return jinja_eval(r, e->a, ret);
        if (e->c)
                return jinja_eval(r, e->c, ret);
        /* Jinja gives its plain Undefined here, which renders as "" without a warning. */
        *ret = value_undefined(NULL, e);
        return 0;
}

static int eval_filter(Render *r, const Expr *e, Value *ret) {
        _cleanup_(value_done) Value value = {};
        Value args[ELEMENTSOF(e->filter->params)] = {};
        int k;

        k = jinja_eval(r, e->a, &value);
        for (size_t i = 0; k >= 0 && i < e->n_items; i++)
                if (e->items[i])
                        k = jinja_eval(r, e->items[i], &args[i]);
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

        k = jinja_eval(r, e->a, &object);
        if (k < 0)
                return k;
        if (!object.json)
                return fail_undefined(r, &object, e->line, "call a method");
        if (!json_is_object(object.json))
                return jinja_fail(r->reterr, -EINVAL, e->line,
                                  "'.%s()' needs a mapping, got a value of type '%s'", e->name,
                                  jinja_python_type(&object));

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

int jinja_eval(Render *r, const Expr *e, Value *ret) {
        const json_t *v;

        if (++r->steps > JINJA_STEPS_MAX)
                return jinja_fail(r->reterr, -E2BIG, e->line, "Rendering takes more than %u steps",
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
                int k = jinja_eval(r, e->a, &operand);

                if (k < 0)
                        return k;
                *ret = value_take(json_boolean(!jinja_value_truthy(&operand)));
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
                int k = jinja_eval(r, e->a, &operand);

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
