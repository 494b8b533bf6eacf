/* SPDX-License-Identifier: Apache-2.0 */
/* Types, limits and functions shared by the files of the Jinja renderer; jinja.h is the public API. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- Small helpers: arena, growable buffer ---- */

/* Every allocation of one render, freed together. */
typedef struct Arena {
        void **blocks;
        size_t n, allocated;
} Arena;

typedef struct Buffer {
        char *data;
        size_t size, allocated;
} Buffer;

/* ---- Tokens ---- */

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

static inline void value_done(Value *v) {
        json_decref(v->json);
        *v = (Value) {};
}

static inline Value value_take(json_t *json) {
        return (Value) { .json = json };
}

static inline Value value_ref(const json_t *json) {
        return (Value) { .json = json_incref((json_t *) json) };
}

static inline Value value_undefined(const char *name, const Expr *origin) {
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

/* ---- Parser ---- */

typedef struct Parser {
        const Token *tokens;
        size_t pos;
        unsigned block_depth;
        unsigned nesting;        /* jinja_parse_expression and parse_unary calls in progress */
        Arena *arena;
        json_t *literals;        /* keeps literal values alive */
        JinjaError *reterr;
} Parser;

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

/* ---- Functions, by the file that defines them ---- */

/* jinja-util.c */
void jinja_arena_done(Arena *a);
void *jinja_arena_alloc(Arena *a, size_t size);
char *jinja_arena_strndup(Arena *a, const char *s, size_t n);
void jinja_buffer_done(Buffer *b);
int jinja_buffer_append(Buffer *b, const char *s, size_t n);
int jinja_buffer_puts(Buffer *b, const char *s);
int jinja_buffer_printf(Buffer *b, const char *format, ...) _printf_(2, 3);
size_t jinja_utf8_decode(const char *s, size_t n, uint32_t *ret);
size_t jinja_utf8_encode(uint32_t c, char out[static 4]);
size_t jinja_utf8_invalid_offset(const char *s, size_t n);
size_t jinja_utf8_length(const char *s, size_t n);
size_t jinja_utf8_char_size(const char *s, size_t n);
int jinja_fail(JinjaError *reterr, int error, unsigned line, const char *format, ...) _printf_(4, 5);

/* jinja-lexer.c */
int jinja_lex(Lexer *l);

/* jinja-parser.c */
const Token *jinja_peek(const Parser *p);
const Token *jinja_peek_at(const Parser *p, size_t offset);
bool jinja_token_is(const Token *t, TokenType type, const char *text);
bool jinja_accept_operator(Parser *p, const char *op);
bool jinja_accept_name(Parser *p, const char *name);
const char *jinja_describe_token(const Token *t, char *buf, size_t size);
int jinja_unexpected(Parser *p, const char *expected);
char *jinja_token_name(Parser *p, const Token *t);
int jinja_parse_expression(Parser *p, bool with_conditional, Expr **ret);

/* jinja-python.c */
int jinja_python_repr(const json_t *v, Buffer *b, unsigned depth);
int jinja_python_str(const json_t *v, Buffer *b);
const char *jinja_python_type(const Value *v);
bool jinja_json_is_python_number(const json_t *j);
bool jinja_python_equal(const json_t *a, const json_t *b, unsigned depth);
bool jinja_value_equal(const Value *a, const Value *b);
int jinja_python_order(const json_t *a, const json_t *b, unsigned depth, int *ret);

/* jinja-eval.c */
void jinja_render_done(Render *r);
void jinja_warn(Render *r, unsigned line, const char *format, ...) _printf_(3, 4);
void jinja_describe_expr(const Expr *e, char *buf, size_t size);
int jinja_charge(Render *r, size_t n);
int jinja_value_text(Render *r, const Value *v, Buffer *b);
int jinja_value_to_string(Render *r, const Value *v, Value *ret);
bool jinja_value_truthy(const Value *v);
int jinja_value_items(Render *r, const Value *v, unsigned line, json_t **ret);
int jinja_eval(Render *r, const Expr *e, Value *ret);

/* jinja-filters.c */
const Filter *jinja_filter_find(const char *name, size_t n);
void jinja_filter_list(char *buf, size_t size);
const Test *jinja_test_find(const char *name, size_t n);
void jinja_test_list(char *buf, size_t size);
