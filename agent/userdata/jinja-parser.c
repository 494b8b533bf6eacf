/* SPDX-License-Identifier: Apache-2.0 */
/* The parser of Jinja expressions, and the token helpers that the statement parser in jinja.c shares.
 *
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
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/macro.h"
#include "userdata/jinja-internal.h"

/* ---- Parser ---- */

const Token *jinja_peek(const Parser *p) {
        return &p->tokens[p->pos];
}

const Token *jinja_peek_at(const Parser *p, size_t offset) {
        size_t i = p->pos;

        for (size_t k = 0; k < offset && p->tokens[i].type != TOKEN_EOF; k++)
                i++;
        return &p->tokens[i];
}

bool jinja_token_is(const Token *t, TokenType type, const char *text) {
        if (t->type != type)
                return false;
        if (!text)
                return true;
        return t->length == strlen(text) && memcmp(t->start, text, t->length) == 0;
}

bool jinja_accept_operator(Parser *p, const char *op) {
        if (!jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, op))
                return false;
        p->pos++;
        return true;
}

bool jinja_accept_name(Parser *p, const char *name) {
        if (!jinja_token_is(jinja_peek(p), TOKEN_NAME, name))
                return false;
        p->pos++;
        return true;
}

/* A short description of a token for messages. */
const char *jinja_describe_token(const Token *t, char *buf, size_t size) {
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

int jinja_unexpected(Parser *p, const char *expected) {
        char buf[64];

        return jinja_fail(p->reterr, -EINVAL, jinja_peek(p)->line, "Expected %s, got %s", expected,
                          jinja_describe_token(jinja_peek(p), buf, sizeof(buf)));
}

static int expect_operator(Parser *p, const char *op) {
        char what[16];

        if (jinja_accept_operator(p, op))
                return 0;
        (void) snprintf(what, sizeof(what), "'%s'", op);
        return jinja_unexpected(p, what);
}

static int expr_new(Parser *p, ExprKind kind, unsigned line, Expr *a, Expr *b, Expr **ret) {
        Expr *e = jinja_arena_alloc(p->arena, sizeof(Expr));
        unsigned depth = MAX(a ? a->depth : 0, b ? b->depth : 0) + 1;

        if (!e)
                return -ENOMEM;
        if (depth > JINJA_EXPRESSION_DEPTH_MAX)
                return jinja_fail(p->reterr, -E2BIG, line,
                                  "An expression is nested more than %u levels deep",
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

char *jinja_token_name(Parser *p, const Token *t) {
        return jinja_arena_strndup(p->arena, t->start, t->length);
}

static int parse_unary(Parser *p, bool with_filters, Expr **ret);

static bool is_arithmetic(const Token *t) {
        static const char *const arithmetic[] = { "+", "-", "*", "/", "//", "%", "**" };

        for (size_t i = 0; i < ELEMENTSOF(arithmetic); i++)
                if (jinja_token_is(t, TOKEN_OPERATOR, arithmetic[i]))
                        return true;
        return false;
}

static int fail_arithmetic(Parser *p) {
        return jinja_fail(p->reterr, -EINVAL, jinja_peek(p)->line,
                          "Arithmetic operator '%.*s' is not supported", (int) jinja_peek(p)->length,
                          jinja_peek(p)->start);
}

/* '[' a, b ']' or '(' a, b ')': the items through the closing operator. */
static int parse_sequence(Parser *p, const char *close, unsigned line, Expr **ret) {
        Expr **items = NULL;
        size_t n = 0;
        unsigned depth = 0;
        Expr *list;
        int r;

        while (!jinja_accept_operator(p, close)) {
                Expr *item;

                if (n > 0) {
                        r = expect_operator(p, ",");
                        if (r < 0)
                                return r;
                        if (jinja_accept_operator(p, close))
                                break;
                }
                r = jinja_parse_expression(p, true, &item);
                if (r < 0)
                        return r;
                if ((n & (n - 1)) == 0) {
                        Expr **grown = jinja_arena_alloc(p->arena, sizeof(Expr *) * MAX(n * 2, (size_t) 1));
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
                return jinja_fail(p->reterr, -E2BIG, line,
                                  "An expression is nested more than %u levels deep",
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

        if (jinja_accept_operator(p, ")")) {
                r = expr_new(p, EXPR_LIST, line, NULL, NULL, ret);
                if (r >= 0)
                        (*ret)->tuple = true;
                return r;
        }
        r = jinja_parse_expression(p, true, &e);
        if (r < 0)
                return r;
        if (jinja_accept_operator(p, ")")) {
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
                return jinja_fail(p->reterr, -E2BIG, line,
                                  "An expression is nested more than %u levels deep",
                                  JINJA_EXPRESSION_DEPTH_MAX);
        /* Put the first item in front of the rest. */
        {
                Expr **items = jinja_arena_alloc(p->arena, sizeof(Expr *) * ((*ret)->n_items + 1));
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
        unsigned line = jinja_peek(p)->line;
        _cleanup_(jinja_buffer_done) Buffer b = {};
        int r;

        /* Adjacent string literals are one string, as in Python. */
        while (jinja_peek(p)->type == TOKEN_STRING) {
                r = jinja_buffer_append(&b, jinja_peek(p)->start, jinja_peek(p)->length);
                if (r == -E2BIG)
                        return jinja_fail(p->reterr, r, line, "A string literal is longer than %u bytes",
                                          JINJA_OUTPUT_MAX);
                if (r < 0)
                        return r;
                p->pos++;
        }
        return expr_new_literal(p, line, json_stringn_nocheck(b.data ?: "", b.size), ret);
}

static int parse_primary(Parser *p, Expr **ret) {
        const Token *t = jinja_peek(p);
        unsigned line = t->line;

        switch (t->type) {
        case TOKEN_NAME:
                p->pos++;
                if (jinja_token_is(t, TOKEN_NAME, "true") || jinja_token_is(t, TOKEN_NAME, "True"))
                        return expr_new_literal(p, line, json_true(), ret);
                if (jinja_token_is(t, TOKEN_NAME, "false") || jinja_token_is(t, TOKEN_NAME, "False"))
                        return expr_new_literal(p, line, json_false(), ret);
                if (jinja_token_is(t, TOKEN_NAME, "none") || jinja_token_is(t, TOKEN_NAME, "None"))
                        return expr_new_literal(p, line, json_null(), ret);
                {
                        int r = expr_new(p, EXPR_NAME, line, NULL, NULL, ret);
                        if (r < 0)
                                return r;
                        (*ret)->name = jinja_token_name(p, t);
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
                if (jinja_accept_operator(p, "("))
                        return parse_parenthesized(p, line, ret);
                if (jinja_accept_operator(p, "["))
                        return parse_sequence(p, "]", line, ret);
                if (jinja_token_is(t, TOKEN_OPERATOR, "{"))
                        return jinja_fail(p->reterr, -EINVAL, line, "Dict literal '{...}' is not supported");
                if (jinja_token_is(t, TOKEN_OPERATOR, "+"))
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
        return jinja_unexpected(p, "an expression");
}

/* The method calls kiln supports: items(), keys() and values() of a mapping. */
static bool is_supported_method(const char *name) {
        return streq(name, "items") || streq(name, "keys") || streq(name, "values");
}

static int parse_call(Parser *p, Expr **node) {
        const char *name = (*node)->kind == EXPR_ATTRIBUTE ? (*node)->name :
                (*node)->kind == EXPR_NAME ? (*node)->name : NULL;
        unsigned line = jinja_peek(p)->line;

        p->pos++;
        if ((*node)->kind == EXPR_ATTRIBUTE && is_supported_method(name) && jinja_accept_operator(p, ")")) {
                (*node)->kind = EXPR_METHOD;
                return 0;
        }
        if (name)
                return jinja_fail(p->reterr, -EINVAL, line, "Function call '%s(...)' is not supported",
                                  name);
        return jinja_fail(p->reterr, -EINVAL, line, "Function call '(...)' is not supported");
}

static int parse_subscript(Parser *p, Expr **node) {
        unsigned line = jinja_peek(p)->line;
        Expr *index;
        int r;

        if (jinja_accept_operator(p, ".")) {
                const Token *t = jinja_peek(p);

                if (t->type == TOKEN_NAME) {
                        p->pos++;
                        r = expr_new(p, EXPR_ATTRIBUTE, line, *node, NULL, node);
                        if (r < 0)
                                return r;
                        (*node)->name = jinja_token_name(p, t);
                        return (*node)->name ? 0 : -ENOMEM;
                }
                if (t->type != TOKEN_INTEGER)
                        return jinja_unexpected(p, "a name or number after '.'");
                p->pos++;
                r = expr_new_literal(p, line, json_integer(t->integer), &index);
                if (r < 0)
                        return r;
                return expr_new(p, EXPR_ITEM, line, *node, index, node);
        }

        p->pos++; /* '[' */
        if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, ":"))
                return jinja_fail(p->reterr, -EINVAL, line, "Slice '[...:...]' is not supported");
        r = jinja_parse_expression(p, true, &index);
        if (r < 0)
                return r;
        if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, ":"))
                return jinja_fail(p->reterr, -EINVAL, line, "Slice '[...:...]' is not supported");
        if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, ","))
                return jinja_fail(p->reterr, -EINVAL, line,
                                  "Subscript with several values '[a, b]' is not supported");
        r = expect_operator(p, "]");
        if (r < 0)
                return r;
        return expr_new(p, EXPR_ITEM, line, *node, index, node);
}

static int parse_postfix(Parser *p, Expr **node) {
        for (;;) {
                int r;

                if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, ".") ||
                    jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "["))
                        r = parse_subscript(p, node);
                else if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "("))
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

        while (!jinja_accept_operator(p, ")")) {
                size_t slot = SIZE_MAX;
                unsigned line = jinja_peek(p)->line;
                Expr *e;

                if (n > 0 || keyword_seen) {
                        r = expect_operator(p, ",");
                        if (r < 0)
                                return r;
                        if (jinja_accept_operator(p, ")"))
                                break;
                }
                if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "*") ||
                    jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "**"))
                        return jinja_fail(p->reterr, -EINVAL, line,
                                          "Argument unpacking '*' in filter '%s' is not supported", f->name);
                if (jinja_peek(p)->type == TOKEN_NAME &&
                    jinja_token_is(jinja_peek_at(p, 1), TOKEN_OPERATOR, "=")) {
                        const Token *t = jinja_peek(p);

                        for (size_t i = 0; i < f->n_params; i++)
                                if (t->length == strlen(f->params[i]) &&
                                    memcmp(t->start, f->params[i], t->length) == 0)
                                        slot = i;
                        if (slot == SIZE_MAX)
                                return jinja_fail(p->reterr, -EINVAL, line,
                                                  "Filter '%s' has no parameter '%.*s'", f->name,
                                                  (int) MIN(t->length, (size_t) 40), t->start);
                        p->pos += 2;
                        keyword_seen = true;
                } else {
                        if (keyword_seen)
                                return jinja_fail(
                                        p->reterr, -EINVAL, line,
                                        "A positional argument of filter '%s' follows a keyword argument",
                                        f->name);
                        if (n >= f->n_params)
                                return jinja_fail(p->reterr, -EINVAL, line,
                                                  "Filter '%s' takes at most %zu arguments", f->name,
                                                  f->n_params);
                        slot = n++;
                }
                if (slots[slot])
                        return jinja_fail(p->reterr, -EINVAL, line, "Filter '%s' got parameter '%s' twice",
                                          f->name, f->params[slot]);
                r = jinja_parse_expression(p, true, &e);
                if (r < 0)
                        return r;
                slots[slot] = e;
        }
        for (size_t i = 0; i < f->n_required; i++)
                if (!slots[i])
                        return jinja_fail(p->reterr, -EINVAL, jinja_peek(p)->line,
                                          "Filter '%s' needs its argument '%s'", f->name, f->params[i]);
        return 0;
}

static int parse_filter(Parser *p, Expr **node) {
        const Token *t;
        const Filter *f;
        Expr **slots;
        unsigned depth = 0;
        int r;

        p->pos++; /* '|' */
        t = jinja_peek(p);
        if (t->type != TOKEN_NAME)
                return jinja_unexpected(p, "a filter name after '|'");
        f = jinja_filter_find(t->start, t->length);
        if (!f) {
                char supported[160];

                jinja_filter_list(supported, sizeof(supported));
                return jinja_fail(p->reterr, -EINVAL, t->line,
                                  "Filter '%.*s' is not supported (supported: %s)",
                                  (int) MIN(t->length, (size_t) 40), t->start, supported);
        }
        p->pos++;
        slots = jinja_arena_alloc(p->arena, sizeof(Expr *) * ELEMENTSOF(f->params));
        if (!slots)
                return -ENOMEM;
        if (jinja_accept_operator(p, "(")) {
                r = parse_filter_arguments(p, f, slots);
                if (r < 0)
                        return r;
        } else if (f->n_required > 0)
                return jinja_fail(p->reterr, -EINVAL, t->line, "Filter '%s' needs its argument '%s'",
                                  f->name, f->params[0]);

        r = expr_new(p, EXPR_FILTER, t->line, *node, NULL, node);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n_params; i++)
                if (slots[i])
                        depth = MAX(depth, slots[i]->depth);
        if (depth + 1 > JINJA_EXPRESSION_DEPTH_MAX)
                return jinja_fail(p->reterr, -E2BIG, t->line,
                                  "An expression is nested more than %u levels deep",
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
        negate = jinja_accept_name(p, "not");
        t = jinja_peek(p);
        if (t->type != TOKEN_NAME)
                return jinja_unexpected(p, "a test name after 'is'");
        test = jinja_test_find(t->start, t->length);
        if (!test) {
                char supported[200];

                jinja_test_list(supported, sizeof(supported));
                return jinja_fail(p->reterr, -EINVAL, t->line,
                                  "Test '%.*s' is not supported (supported: %s)",
                                  (int) MIN(t->length, (size_t) 40), t->start, supported);
        }
        p->pos++;
        /* Jinja takes a following primary as the test's argument; kiln's tests take none. */
        if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "(") ||
            jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "[") ||
            jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "{") || jinja_peek(p)->type == TOKEN_STRING ||
            jinja_peek(p)->type == TOKEN_INTEGER || jinja_peek(p)->type == TOKEN_FLOAT ||
            (jinja_peek(p)->type == TOKEN_NAME && !jinja_token_is(jinja_peek(p), TOKEN_NAME, "else") &&
             !jinja_token_is(jinja_peek(p), TOKEN_NAME, "or") &&
             !jinja_token_is(jinja_peek(p), TOKEN_NAME, "and")))
                return jinja_fail(p->reterr, -EINVAL, t->line, "Test '%s' takes no argument", test->name);

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
                return jinja_fail(p->reterr, -E2BIG, jinja_peek(p)->line,
                                  "An expression is nested more than %u levels deep",
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

int jinja_parse_expression(Parser *p, bool with_conditional, Expr **ret) {
        int r = nesting_enter(p);

        if (r < 0)
                return r;
        r = parse_expression_inner(p, with_conditional, ret);
        p->nesting--;
        return r;
}

static int parse_unary_inner(Parser *p, bool with_filters, Expr **ret) {
        unsigned line = jinja_peek(p)->line;
        int r;

        if (jinja_accept_operator(p, "-")) {
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
                if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "|"))
                        r = parse_filter(p, ret);
                else if (jinja_token_is(jinja_peek(p), TOKEN_NAME, "is"))
                        r = parse_test(p, ret);
                else if (jinja_token_is(jinja_peek(p), TOKEN_OPERATOR, "("))
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
                unsigned line = jinja_peek(p)->line;
                Expr *right;

                if (is_arithmetic(jinja_peek(p)))
                        return fail_arithmetic(p);
                if (!jinja_accept_operator(p, "~"))
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
                if (jinja_accept_operator(p, ops[i].text)) {
                        *ret = ops[i].op;
                        return true;
                }
        if (jinja_accept_name(p, "in")) {
                *ret = COMPARE_IN;
                return true;
        }
        if (jinja_token_is(jinja_peek(p), TOKEN_NAME, "not") &&
            jinja_token_is(jinja_peek_at(p, 1), TOKEN_NAME, "in")) {
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
                unsigned line = jinja_peek(p)->line;
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
        unsigned line = jinja_peek(p)->line;
        Expr *operand;
        int r;

        if (jinja_token_is(jinja_peek(p), TOKEN_NAME, "not") &&
            !jinja_token_is(jinja_peek_at(p, 1), TOKEN_NAME, "in")) {
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
                unsigned line = jinja_peek(p)->line;
                Expr *right;

                if (!jinja_accept_name(p, keyword))
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
        while (jinja_token_is(jinja_peek(p), TOKEN_NAME, "if")) {
                unsigned line = jinja_peek(p)->line;
                Expr *condition, *otherwise = NULL, *e;

                p->pos++;
                r = parse_or(p, &condition);
                if (r < 0)
                        return r;
                if (jinja_accept_name(p, "else")) {
                        r = jinja_parse_expression(p, true, &otherwise);
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
                        return jinja_fail(p->reterr, -E2BIG, line,
                                          "An expression is nested more than %u levels deep",
                                          JINJA_EXPRESSION_DEPTH_MAX);
                *ret = e;
        }
        return 0;
}
