/* SPDX-License-Identifier: Apache-2.0 */
/* A renderer for the subset of Jinja that user data uses. Output matches what cloud-init's Jinja
 * environment gives (Jinja 3.1, trim_blocks on, an undefined variable rendered as
 * CI_MISSING_JINJA_VAR/NAME, values printed as Python's str() prints them).
 *
 * Template grammar:
 *   template  := ( text | '{{' expr '}}' | '{%' statement '%}' | '{#' comment '#}' )*
 *   statement := 'if' test | 'elif' test | 'else' | 'endif'
 *              | 'for' name (',' name)* 'in' test ['if' expr] | 'endfor' | 'raw' ... 'endraw'
 * The expression grammar is in jinja-parser.c.
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
#include "userdata/jinja-internal.h"
#include "userdata/jinja.h"

/* Statements Jinja has and kiln does not render, so that they are named, not called unknown. */
static const char *const unsupported_statements[] = {
        "set", "endset", "macro", "endmacro", "call", "endcall", "include", "import", "from",
        "extends", "block", "endblock", "filter", "endfilter", "with", "endwith", "do",
        "autoescape", "endautoescape", "trans", "endtrans", "pluralize", "break", "continue", "debug",
};

static int node_list_append(Parser *p, NodeList *list, Node *node) {
        if (list->n == list->allocated) {
                size_t allocated = MAX(list->allocated * 2, (size_t) 4);
                Node **items = jinja_arena_alloc(p->arena, sizeof(Node *) * allocated);

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
        Node *node = jinja_arena_alloc(p->arena, sizeof(Node));
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

        if (jinja_peek(p)->type == TOKEN_BLOCK_END) {
                p->pos++;
                return 0;
        }
        return jinja_fail(p->reterr, -EINVAL, jinja_peek(p)->line,
                          "Expected '%%}' to end '{%% %s %%}', got %s", statement,
                          jinja_describe_token(jinja_peek(p), buf, sizeof(buf)));
}

/* The keyword of the statement at a '{%' token, or NULL. */
static bool block_keyword_is(const Parser *p, const char *keyword) {
        return jinja_peek(p)->type == TOKEN_BLOCK_BEGIN &&
               jinja_token_is(jinja_peek_at(p, 1), TOKEN_NAME, keyword);
}

static int parse_body(Parser *p, const char *const *ends, unsigned opened, NodeList *body);

static int enter_block(Parser *p, unsigned line) {
        if (p->block_depth >= JINJA_BLOCK_DEPTH_MAX)
                return jinja_fail(p->reterr, -E2BIG, line, "Blocks are nested more than %u levels deep",
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
        r = jinja_parse_expression(p, false, &node->expr);
        if (r < 0)
                return r;
        r = expect_block_end(p, "if");
        if (r < 0)
                return r;
        r = parse_body(p, ends, line, &node->body);
        if (r < 0)
                return r;

        if (block_keyword_is(p, "elif")) {
                unsigned elif_line = jinja_peek_at(p, 1)->line;

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
                const Token *t = jinja_peek(p);

                if (t->type != TOKEN_NAME || jinja_token_is(t, TOKEN_NAME, "in"))
                        return jinja_unexpected(p, "a loop variable name");
                if (node->n_targets >= JINJA_LOOP_TARGETS_MAX)
                        return jinja_fail(p->reterr, -E2BIG, t->line,
                                          "A for loop has more than %u variables", JINJA_LOOP_TARGETS_MAX);
                node->targets[node->n_targets] = jinja_token_name(p, t);
                if (!node->targets[node->n_targets])
                        return -ENOMEM;
                node->n_targets++;
                p->pos++;
        } while (jinja_accept_operator(p, ","));
        if (!jinja_accept_name(p, "in"))
                return jinja_unexpected(p, "'in'");
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
        r = jinja_parse_expression(p, false, &node->expr);
        if (r < 0)
                return r;
        if (jinja_accept_name(p, "if")) {
                r = jinja_parse_expression(p, false, &node->filter);
                if (r < 0)
                        return r;
        }
        if (jinja_token_is(jinja_peek(p), TOKEN_NAME, "recursive"))
                return jinja_fail(p->reterr, -EINVAL, line,
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
        const Token *t = jinja_peek_at(p, 1);
        unsigned line = t->line;
        char name[48];
        int r;

        if (t->type != TOKEN_NAME)
                return jinja_unexpected(p, "a statement name after '{%'");
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
                return jinja_fail(p->reterr, -EINVAL, line,
                                  "Unexpected '{%% %s %%}' outside a matching block", name);
        for (size_t i = 0; i < ELEMENTSOF(unsupported_statements); i++)
                if (streq(name, unsupported_statements[i]))
                        return jinja_fail(
                                p->reterr, -EINVAL, line,
                                "Statement '{%% %s %%}' is not supported (supported: if, for, raw)", name);
        return jinja_fail(p->reterr, -EINVAL, line, "Unknown statement '{%% %s %%}'", name);
}

/* Nodes until EOF, or until a '{%' whose keyword is in ends (NULL-terminated, not consumed).
 * opened is the line of the statement that ends closes. */
static int parse_body(Parser *p, const char *const *ends, unsigned opened, NodeList *body) {
        int r;

        for (;;) {
                const Token *t = jinja_peek(p);
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
                        r = jinja_parse_expression(p, true, &node->expr);
                        if (r < 0)
                                return r;
                        if (jinja_peek(p)->type != TOKEN_VARIABLE_END)
                                return jinja_unexpected(p, "'}}'");
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
                                return jinja_fail(p->reterr, -EINVAL, opened,
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
                        return jinja_unexpected(p, "template text or a tag");
                }
        }
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

                return jinja_fail(r->reterr, -EINVAL, n->line,
                                  "Cannot unpack a value of type '%s' into %zu loop variables",
                                  jinja_python_type(&v), n->n_targets);
        }
        for (size_t i = 0; i < n->n_targets; i++)
                (void) scope_push(r, n->targets[i], json_array_get(item, i));
        return (int) n->n_targets;
}

static int count_iteration(Render *r, unsigned line) {
        if (++r->iterations > JINJA_LOOP_ITERATIONS_MAX)
                return jinja_fail(r->reterr, -E2BIG, line, "For loops run more than %u iterations",
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
                k = jinja_eval(r, n->filter, &keep);
                scope_pop(r, bound);
                if (k < 0)
                        return k;
                if (jinja_value_truthy(&keep) && json_array_append(selected, item) < 0)
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

        k = jinja_eval(r, n->expr, &iterable);
        if (k < 0)
                return k;
        if (!iterable.json && iterable.undefined) {
                char what[200];

                jinja_describe_expr(iterable.origin, what, sizeof(what));
                jinja_warn(r, n->line, "Variable '%s' is undefined, the for loop runs no iteration", what);
        }
        k = jinja_value_items(r, &iterable, n->line, &items);
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
                return jinja_fail(r->reterr, -E2BIG, n->line, "Rendering takes more than %u steps",
                                  JINJA_STEPS_MAX);

        switch (n->kind) {
        case NODE_TEXT:
                return jinja_buffer_append(&r->out, n->text, n->text_size);
        case NODE_OUTPUT:
                k = jinja_eval(r, n->expr, &v);
                return k < 0 ? k : jinja_value_text(r, &v, &r->out);
        case NODE_IF:
                k = jinja_eval(r, n->expr, &v);
                if (k < 0)
                        return k;
                return render_nodes(r, jinja_value_truthy(&v) ? &n->body : &n->orelse);
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

        k = jinja_lex(l);
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
        _cleanup_(jinja_arena_done) Arena arena = {};
        _cleanup_free_ char *source = NULL;
        _cleanup_free_ Token *tokens = NULL;
        json_auto_t *literals = NULL;
        _cleanup_(jinja_render_done) Render r = {};
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
                return jinja_fail(reterr, -E2BIG, 0, "The template is larger than %u bytes",
                                  JINJA_TEMPLATE_MAX);
        invalid = jinja_utf8_invalid_offset(template ?: "", size);
        if (invalid < size)
                return jinja_fail(reterr, -EINVAL, line_of_offset(template, invalid),
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
                k = jinja_buffer_append(&r.out, "\n", 1);
        if (k == -E2BIG && reterr->message[0] == '\0')
                k = jinja_fail(reterr, k, r.line, "The rendered text is longer than %u bytes",
                               JINJA_OUTPUT_MAX);
        if (k == -ELOOP)
                k = jinja_fail(reterr, -E2BIG, r.line, "A value is nested more than %u levels deep",
                               JINJA_VALUE_DEPTH_MAX);
        if (k < 0)
                return k;

        k = append_warnings(r.warnings, ret_warnings);
        if (k < 0)
                return k;
        if (!r.out.data && jinja_buffer_append(&r.out, "", 0) < 0)
                return -ENOMEM;
        if (ret_size)
                *ret_size = r.out.size;
        *ret = TAKE_PTR(r.out.data);
        r.out = (Buffer) {};
        return 0;
}
