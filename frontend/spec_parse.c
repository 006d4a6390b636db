/*
 * spec_parse.c - lexer and recursive-descent parser of the .kiln language
 * (grammar in docs/spec-language.md). Produces the syntax tree of
 * spec_priv.h in the spec's arena; every syntax error becomes a diagnostic
 * and the parser resumes at the next statement, so one pass reports all of
 * them. Nesting is bounded (KN_SPEC_MAX_DEPTH), binary data stops the parse
 * with one error.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"

typedef enum kn_tok_kind {
    KN_TOK_EOF = 0,
    KN_TOK_NEWLINE,
    KN_TOK_IDENT,
    KN_TOK_NUMBER,
    KN_TOK_STRING,
    KN_TOK_LPAREN,
    KN_TOK_RPAREN,
    KN_TOK_LBRACKET,
    KN_TOK_RBRACKET,
    KN_TOK_LBRACE,
    KN_TOK_RBRACE,
    KN_TOK_COMMA,
    KN_TOK_EQUALS,
    KN_TOK_PLUS,
    KN_TOK_MINUS,
    KN_TOK_SEMI,
    KN_TOK_STAR,
    KN_TOK_OTHER       /* a character that starts no token (reported already) */
} kn_tok_kind;

typedef struct kn_tok {
    kn_tok_kind kind;
    kn_spec_loc loc;
    size_t start, end;     /* byte offsets */
    const char *text;      /* IDENT, STRING (arena) */
    double num;
    bool is_int;
    int64_t ival;
} kn_tok;

#define KN_LOOKAHEAD 3
#define KN_MAX_IDENT 128
#define KN_MAX_STRING 4096

typedef struct kn_parser {
    kn_spec *spec;
    const char *src;
    size_t n, pos;
    int line;
    size_t line_start;
    kn_tok la[KN_LOOKAHEAD];
    int nla;
    size_t prev_end;       /* end offset of the last consumed token */
    int prev_line;
    int depth;
    bool binary;           /* a NUL byte was seen: stop */
    bool too_deep;         /* unwinding from a too deeply nested expression */
    int lex_error_line;    /* the line of the last lexical error: parse errors there are its echoes */
} kn_parser;

/* ------------------------------------------------------------- lexer */

static kn_spec_loc kn_loc_at(const kn_parser *p, size_t start, size_t len)
{
    kn_spec_loc l = {p->line, (int)(start - p->line_start) + 1, (int)(len > 1000 ? 1000 : len)};
    return l;
}

static bool kn_is_ident_start(int c) { return isalpha(c) || c == '_'; }
static bool kn_is_ident_char(int c) { return isalnum(c) || c == '_'; }

/*
 * The length of the character at p->pos when it shows as nothing or as a
 * plain space (a byte-order mark, a no-break or zero-width space...), with
 * its code point in *cp; 0 otherwise. The text is valid UTF-8
 * (kn_spec_check_text).
 */
static size_t kn_lex_invisible(const kn_parser *p, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p->src + p->pos;
    size_t left = p->n - p->pos;
    if (left >= 2 && s[0] == 0xC2) {
        *cp = s[1];
        return *cp == 0xA0 || *cp == 0xAD ? 2 : 0;
    }
    if (left < 3 || (s[0] & 0xF0) != 0xE0)
        return 0;
    *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    uint32_t c = *cp;
    return c == 0xFEFF || (c >= 0x2000 && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
                   c == 0x205F || c == 0x2060 || c == 0x3000
               ? 3
               : 0;
}

static void kn_lex_bad_char(kn_parser *p)
{
    size_t start = p->pos;
    unsigned char c = (unsigned char)p->src[p->pos];
    char shown[32];
    if (c >= 0x21 && c < 0x7f) {
        snprintf(shown, sizeof shown, "'%c'", c);
        p->pos++;
    } else if (c >= 0xC2 && c <= 0xF4) {
        /* a UTF-8 sequence: show it whole when valid */
        int extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
        bool ok = p->pos + (size_t)extra < p->n;
        for (int k = 1; ok && k <= extra; k++)
            ok = ((unsigned char)p->src[p->pos + (size_t)k] & 0xC0) == 0x80;
        if (ok) {
            snprintf(shown, sizeof shown, "'%.*s'", extra + 1, p->src + p->pos);
            p->pos += (size_t)extra + 1;
        } else {
            snprintf(shown, sizeof shown, "byte 0x%02x", c);
            p->pos++;
        }
    } else {
        snprintf(shown, sizeof shown, "byte 0x%02x", c);
        p->pos++;
    }
    /* one error for a run of bad characters */
    while (p->pos < p->n) {
        unsigned char d = (unsigned char)p->src[p->pos];
        if (d == 0 || d == '\n' || d == ' ' || d == '\t' || d == '\r' || (d < 0x7f && ispunct(d)) ||
            (d < 0x7f && isalnum(d)))
            break;
        p->pos++;
    }
    p->lex_error_line = p->line;
    KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, start, p->pos - start),
                "unexpected %s; expected a name, a number, a string or one of ( ) [ ] { } , = + - * ;", shown);
}

/* Lex one token at p->pos into *t. */
static void kn_lex(kn_parser *p, kn_tok *t)
{
    memset(t, 0, sizeof *t);
    for (;;) {
        if (p->binary || p->pos >= p->n) {
            t->kind = KN_TOK_EOF;
            t->start = t->end = p->pos;
            t->loc = kn_loc_at(p, p->pos, 1);
            return;
        }
        unsigned char c = (unsigned char)p->src[p->pos];
        if (c == 0) {
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, p->pos, 1),
                        "the file contains a NUL byte: it is binary data, not a .kiln spec");
            p->binary = true;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            p->pos++;
            continue;
        }
        uint32_t cp;
        size_t len = c >= 0x80 ? kn_lex_invisible(p, &cp) : 0;
        if (len) { /* reported, then read as a space: the statement around it parses on */
            if (cp == 0xFEFF)
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, p->pos, len),
                            "unexpected byte-order mark (U+FEFF): it is allowed only at the start of the file");
            else
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, p->pos, len),
                            "unexpected invisible character U+%04X; use plain spaces", (unsigned)cp);
            p->pos += len;
            continue;
        }
        if (c == '#') {
            while (p->pos < p->n && p->src[p->pos] != '\n' && p->src[p->pos] != '\0')
                p->pos++;
            continue;
        }
        if (c == '\\' && p->pos + 1 < p->n && p->src[p->pos + 1] == '\n') { /* line continuation */
            p->pos += 2;
            p->line++;
            p->line_start = p->pos;
            continue;
        }
        break;
    }
    size_t start = p->pos;
    unsigned char c = (unsigned char)p->src[p->pos];
    t->start = start;
    if (c == '\n') {
        t->kind = KN_TOK_NEWLINE;
        t->loc = kn_loc_at(p, start, 1);
        p->pos++;
        p->line++;
        p->line_start = p->pos;
        t->end = p->pos;
        /* blank lines and comment lines join this newline: one token */
        while (p->pos < p->n) {
            char d = p->src[p->pos];
            if (d == ' ' || d == '\t' || d == '\r' || d == '\f' || d == '\v') {
                p->pos++;
            } else if (d == '#') {
                while (p->pos < p->n && p->src[p->pos] != '\n' && p->src[p->pos] != '\0')
                    p->pos++;
            } else if (d == '\n') {
                p->pos++;
                p->line++;
                p->line_start = p->pos;
            } else {
                break;
            }
        }
        return;
    }
    if (kn_is_ident_start(c)) {
        while (p->pos < p->n && kn_is_ident_char((unsigned char)p->src[p->pos]))
            p->pos++;
        size_t len = p->pos - start;
        t->kind = KN_TOK_IDENT;
        t->loc = kn_loc_at(p, start, len);
        t->end = p->pos;
        if (len > KN_MAX_IDENT) {
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, t->loc, "name is too long (%zu characters; the limit is %d)", len,
                        KN_MAX_IDENT);
            len = KN_MAX_IDENT;
        }
        t->text = kn_arena_strndup(p->spec->arena, p->src + start, len);
        if (!t->text)
            t->kind = KN_TOK_EOF, p->binary = true;
        return;
    }
    if (isdigit(c) || (c == '.' && p->pos + 1 < p->n && isdigit((unsigned char)p->src[p->pos + 1]))) {
        bool is_int = true;
        while (p->pos < p->n && isdigit((unsigned char)p->src[p->pos]))
            p->pos++;
        if (p->pos < p->n && p->src[p->pos] == '.') {
            is_int = false;
            p->pos++;
            while (p->pos < p->n && isdigit((unsigned char)p->src[p->pos]))
                p->pos++;
        }
        if (p->pos < p->n && (p->src[p->pos] == 'e' || p->src[p->pos] == 'E')) {
            size_t q = p->pos + 1;
            if (q < p->n && (p->src[q] == '+' || p->src[q] == '-'))
                q++;
            if (q < p->n && isdigit((unsigned char)p->src[q])) {
                is_int = false;
                p->pos = q;
                while (p->pos < p->n && isdigit((unsigned char)p->src[p->pos]))
                    p->pos++;
            }
        }
        bool bad = false;
        while (p->pos < p->n && (kn_is_ident_char((unsigned char)p->src[p->pos]) || p->src[p->pos] == '.')) {
            bad = true;
            p->pos++;
        }
        size_t len = p->pos - start;
        t->kind = KN_TOK_NUMBER;
        t->loc = kn_loc_at(p, start, len);
        t->end = p->pos;
        char buf[64];
        if (bad || len >= sizeof buf) {
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, t->loc, "invalid number '%.*s'%s", (int)(len > 40 ? 40 : len),
                        p->src + start,
                        bad && memchr(p->src + start, 'x', len) ? "; write sizes as 3 or (3, 3)" : "");
            t->is_int = true;
            t->ival = 1;
            t->num = 1;
            return;
        }
        memcpy(buf, p->src + start, len);
        buf[len] = '\0';
        errno = 0;
        t->num = strtod(buf, NULL);
        if (errno == ERANGE && fabs(t->num) > 1.0) {
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, t->loc, "number '%s' is too large", buf);
            t->num = 1;
        }
        if (is_int) {
            errno = 0;
            long long v = strtoll(buf, NULL, 10);
            if (errno == ERANGE) {
                /* keep it a (huge) float; integer parameters reject it with a range message */
                t->is_int = false;
            } else {
                t->is_int = true;
                t->ival = v;
            }
        }
        return;
    }
    if (c == '"' || c == '\'') {
        char quote = (char)c;
        p->pos++;
        char *buf = kn_arena_alloc(p->spec->arena, KN_MAX_STRING + 1, 1);
        size_t k = 0;
        bool closed = false, too_long = false, bad_escape = false;
        while (p->pos < p->n && p->src[p->pos] != '\n' && p->src[p->pos] != '\0') {
            char ch = p->src[p->pos];
            if (ch == quote) {
                closed = true;
                p->pos++;
                break;
            }
            /* a backslash that ends the line escapes nothing: the string is unterminated */
            if (ch == '\\' && p->pos + 1 < p->n && !strchr("\n\r", p->src[p->pos + 1])) {
                char e = p->src[p->pos + 1];
                char out = e == 'n' ? '\n' : e == 't' ? '\t' : e;
                /* the text is valid UTF-8 (kn_spec_check_text): show a multi-byte character whole */
                unsigned char u = (unsigned char)e;
                int elen = u < 0x80 ? 1 : (u & 0xE0) == 0xC0 ? 2 : (u & 0xF0) == 0xE0 ? 3 : 4;
                if (p->pos + 1 + (size_t)elen > p->n)
                    elen = 1;
                if (e != 'n' && e != 't' && e != '\\' && e != '"' && e != '\'') {
                    KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, p->pos, 2),
                                "unknown escape '\\%.*s' in a string (use \\\\, \\\", \\', \\n or \\t)", elen,
                                p->src + p->pos + 1);
                    bad_escape = true;
                }
                ch = out;
                p->pos++;
            }
            p->pos++;
            if (k < KN_MAX_STRING && buf)
                buf[k++] = ch;
            else
                too_long = true;
        }
        t->kind = KN_TOK_STRING;
        t->loc = kn_loc_at(p, start, p->pos - start);
        t->end = p->pos;
        t->text = buf ? buf : "";
        if (bad_escape) { /* an invalid token: no value with a wrong text for the checker to report */
            t->kind = KN_TOK_OTHER;
            t->text = NULL;
        }
        if (!closed || bad_escape)
            p->lex_error_line = p->line;
        if (!closed)
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, kn_loc_at(p, start, 1),
                        "unterminated string: expected a closing %c on the same line", quote);
        if (too_long)
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, t->loc, "string is too long (the limit is %d bytes)", KN_MAX_STRING);
        return;
    }
    static const struct {
        char c;
        kn_tok_kind kind;
    } punct[] = {{'(', KN_TOK_LPAREN}, {')', KN_TOK_RPAREN}, {'[', KN_TOK_LBRACKET}, {']', KN_TOK_RBRACKET},
                 {'{', KN_TOK_LBRACE}, {'}', KN_TOK_RBRACE}, {',', KN_TOK_COMMA},   {'=', KN_TOK_EQUALS},
                 {'+', KN_TOK_PLUS},   {'-', KN_TOK_MINUS},  {';', KN_TOK_SEMI},
                 {'*', KN_TOK_STAR}};
    for (size_t i = 0; i < sizeof punct / sizeof punct[0]; i++)
        if (punct[i].c == (char)c) {
            p->pos++;
            t->kind = punct[i].kind;
            t->loc = kn_loc_at(p, start, 1);
            t->end = p->pos;
            return;
        }
    if (c == ':' || c == '.') {
        p->pos++;
        t->kind = KN_TOK_OTHER;
        t->loc = kn_loc_at(p, start, 1);
        t->end = p->pos;
        t->text = c == ':' ? ":" : ".";
        return;
    }
    kn_lex_bad_char(p);
    t->kind = KN_TOK_OTHER;
    t->loc = kn_loc_at(p, start, p->pos - start);
    t->end = p->pos;
    t->text = NULL;
}

static const kn_tok *kn_peek(kn_parser *p, int k)
{
    while (p->nla <= k)
        kn_lex(p, &p->la[p->nla++]);
    return &p->la[k];
}

static kn_tok kn_next(kn_parser *p)
{
    kn_peek(p, 0);
    kn_tok t = p->la[0];
    memmove(&p->la[0], &p->la[1], sizeof(kn_tok) * (size_t)(p->nla - 1));
    p->nla--;
    p->prev_end = t.end;
    p->prev_line = t.loc.line;
    return t;
}

static bool kn_at(kn_parser *p, kn_tok_kind kind) { return kn_peek(p, 0)->kind == kind; }

static bool kn_at_ident(kn_parser *p, int k, const char *word)
{
    const kn_tok *t = kn_peek(p, k);
    return t->kind == KN_TOK_IDENT && strcmp(t->text, word) == 0;
}

static const char *kn_tok_describe(const kn_tok *t, char *buf, size_t len)
{
    switch (t->kind) {
    case KN_TOK_EOF: return "end of file";
    case KN_TOK_NEWLINE: return "end of line";
    case KN_TOK_IDENT: snprintf(buf, len, "'%.60s'", t->text); return buf;
    case KN_TOK_NUMBER:
        if (t->is_int)
            snprintf(buf, len, "the number %lld", (long long)t->ival);
        else
            snprintf(buf, len, "the number %g", t->num);
        return buf;
    case KN_TOK_STRING: return "a string";
    case KN_TOK_LPAREN: return "'('";
    case KN_TOK_RPAREN: return "')'";
    case KN_TOK_LBRACKET: return "'['";
    case KN_TOK_RBRACKET: return "']'";
    case KN_TOK_LBRACE: return "'{'";
    case KN_TOK_RBRACE: return "'}'";
    case KN_TOK_COMMA: return "','";
    case KN_TOK_EQUALS: return "'='";
    case KN_TOK_PLUS: return "'+'";
    case KN_TOK_MINUS: return "'-'";
    case KN_TOK_SEMI: return "';'";
    case KN_TOK_STAR: return "'*'";
    case KN_TOK_OTHER:
        if (t->text) {
            snprintf(buf, len, "'%s'", t->text);
            return buf;
        }
        return "an invalid character";
    }
    return "?";
}

/* Error at token t: "expected WHAT, got TOKEN". Errors at a token already reported by the lexer are skipped. */
static void kn_expected(kn_parser *p, const kn_tok *t, const char *what)
{
    if ((t->kind == KN_TOK_OTHER && !t->text) || t->loc.line == p->lex_error_line)
        return;
    char b[96];
    KN_SPEC_ERR(p->spec, KN_ERR_PARSE, t->loc, "expected %s, got %s", what, kn_tok_describe(t, b, sizeof b));
}

/* Location spanning from `start` (a loc and its offset) to the end of the last consumed token. */
static kn_spec_loc kn_span(const kn_parser *p, kn_spec_loc start, size_t start_off)
{
    if (p->prev_line == start.line && p->prev_end > start_off) {
        size_t len = p->prev_end - start_off;
        start.len = (int)(len > 1000 ? 1000 : len);
    }
    return start;
}

/* ------------------------------------------------------------ parser */

static kn_ast *kn_parse_expr(kn_parser *p);

static kn_ast *kn_new_ast(kn_parser *p, kn_ast_kind kind, kn_spec_loc loc)
{
    kn_ast *a = kn_arena_alloc(p->spec->arena, 1, sizeof *a);
    if (a) {
        a->kind = kind;
        a->loc = loc;
    }
    return a;
}

static bool kn_push_arg(kn_parser *p, kn_ast_arg **args, int *n, int *cap, kn_ast_arg arg)
{
    if (!kn_arena_grow(p->spec->arena, (void **)args, cap, *n + 1, sizeof(kn_ast_arg)))
        return false;
    (*args)[(*n)++] = arg;
    return true;
}

/* Skip a newline when the token after it is `a` or `b`; false when a newline stays (it ends the statement). */
static bool kn_skip_newlines_before(kn_parser *p, kn_tok_kind a, kn_tok_kind b)
{
    if (!kn_at(p, KN_TOK_NEWLINE))
        return true;
    kn_tok_kind next = kn_peek(p, 1)->kind; /* consecutive newlines are one token */
    if (next == a || next == b) {
        kn_next(p);
        return true;
    }
    return false;
}

static void kn_skip_newlines(kn_parser *p)
{
    while (kn_at(p, KN_TOK_NEWLINE))
        kn_next(p);
}

/*
 * Arguments or elements after an opening bracket, up to `close`. Newlines
 * are allowed after '(' '[' ',' '=' and before the closer; a newline
 * anywhere else ends the statement with an error pointing at the line end.
 * `named`: allow name=value arguments. Returns false after an error.
 */
static bool kn_parse_list(kn_parser *p, kn_tok_kind close, bool named, const char *what, kn_spec_loc open_loc,
                          kn_ast_arg **args, int *nargs, bool *trailing_comma)
{
    if (trailing_comma)
        *trailing_comma = false;
    int cap = 0;
    *args = NULL;
    *nargs = 0;
    const char *closer = close == KN_TOK_RPAREN ? "')'" : "']'";
    char expect[160];
    kn_skip_newlines(p);
    while (!kn_at(p, close)) {
        kn_ast_arg arg = {0};
        const kn_tok *t = kn_peek(p, 0);
        if (named && t->kind == KN_TOK_IDENT && kn_peek(p, 1)->kind == KN_TOK_EQUALS) {
            kn_tok name = kn_next(p);
            kn_next(p);
            arg.name = name.text;
            arg.name_loc = name.loc;
            kn_skip_newlines(p);
        }
        arg.value = kn_parse_expr(p);
        if (!arg.value)
            return false;
        if (!kn_push_arg(p, args, nargs, &cap, arg))
            return false;
        if (!kn_skip_newlines_before(p, close, KN_TOK_COMMA)) {
            const kn_tok *nl = kn_peek(p, 0);
            snprintf(expect, sizeof expect, "',' or %s to close the %s opened at line %d, column %d", closer, what,
                     open_loc.line, open_loc.col);
            kn_expected(p, nl, expect);
            return false;
        }
        if (kn_at(p, KN_TOK_COMMA)) {
            kn_next(p);
            kn_skip_newlines(p);
            if (trailing_comma)
                *trailing_comma = kn_at(p, close);
            continue;
        }
        if (!kn_at(p, close)) {
            const kn_tok *bad = kn_peek(p, 0);
            if (bad->kind == KN_TOK_EQUALS && arg.value->kind != KN_AST_IDENT)
                snprintf(expect, sizeof expect, "',' or %s (a parameter name before '=' must be a plain name)",
                         closer);
            else
                snprintf(expect, sizeof expect, "',' or %s after %s", closer,
                         arg.name ? "the parameter value" : "the value");
            kn_expected(p, bad, expect);
            return false;
        }
    }
    kn_next(p); /* the closer */
    return true;
}

static kn_ast *kn_parse_primary(kn_parser *p)
{
    const kn_tok *t = kn_peek(p, 0);
    kn_ast *a = NULL;
    switch (t->kind) {
    case KN_TOK_NUMBER: {
        kn_tok n = kn_next(p);
        a = kn_new_ast(p, KN_AST_NUMBER, n.loc);
        if (a) {
            a->num = n.num;
            a->is_int = n.is_int;
            a->ival = n.ival;
        }
        return a;
    }
    case KN_TOK_MINUS: {
        kn_tok m = kn_next(p);
        if (!kn_at(p, KN_TOK_NUMBER)) {
            kn_expected(p, kn_peek(p, 0), "a number after '-'");
            return NULL;
        }
        kn_tok n = kn_next(p);
        a = kn_new_ast(p, KN_AST_NUMBER, kn_span(p, m.loc, m.start));
        if (a) {
            a->num = -n.num;
            a->is_int = n.is_int;
            a->ival = -n.ival;
        }
        return a;
    }
    case KN_TOK_STRING:
    case KN_TOK_IDENT: {
        kn_tok s = kn_next(p);
        a = kn_new_ast(p, s.kind == KN_TOK_STRING ? KN_AST_STRING : KN_AST_IDENT, s.loc);
        if (a)
            a->text = s.text;
        return a;
    }
    case KN_TOK_LPAREN:
    case KN_TOK_LBRACKET: {
        kn_tok open = kn_next(p);
        if (++p->depth > KN_SPEC_MAX_DEPTH) {
            if (!p->too_deep)
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, open.loc, "brackets are nested too deeply (more than %d levels)",
                            KN_SPEC_MAX_DEPTH);
            p->too_deep = true;
            p->depth--;
            return NULL;
        }
        kn_tok_kind close = open.kind == KN_TOK_LPAREN ? KN_TOK_RPAREN : KN_TOK_RBRACKET;
        kn_ast_arg *elems;
        int n;
        bool trailing_comma = false;
        bool ok = kn_parse_list(p, close, false, open.kind == KN_TOK_LPAREN ? "'('" : "'['", open.loc, &elems, &n,
                                &trailing_comma);
        p->depth--;
        if (!ok)
            return NULL;
        /* (x) is x; (x,) and [x] are tuples */
        if (close == KN_TOK_RPAREN && n == 1 && !trailing_comma)
            return elems[0].value;
        a = kn_new_ast(p, KN_AST_TUPLE, kn_span(p, open.loc, open.start));
        if (a) {
            a->args = elems;
            a->nargs = n;
        }
        return a;
    }
    default:
        kn_expected(p, t, "a value (a number, a name, a string or a tuple)");
        return NULL;
    }
}

static kn_ast *kn_parse_postfix(kn_parser *p)
{
    kn_ast *a = kn_parse_primary(p);
    while (a && kn_at(p, KN_TOK_LPAREN)) {
        kn_tok open = kn_next(p);
        if (++p->depth > KN_SPEC_MAX_DEPTH) {
            if (!p->too_deep)
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, open.loc, "calls are nested too deeply (more than %d levels)",
                            KN_SPEC_MAX_DEPTH);
            p->too_deep = true;
            p->depth--;
            return NULL;
        }
        kn_ast *call = kn_new_ast(p, KN_AST_CALL, a->loc);
        if (!call) {
            p->depth--;
            return NULL;
        }
        char what[120];
        const char *callee = kn_ast_call_name(a);
        snprintf(what, sizeof what, "arguments of '%.60s'", callee ? callee : "the call");
        call->callee = a;
        bool ok = kn_parse_list(p, KN_TOK_RPAREN, true, what, open.loc, &call->args, &call->nargs, NULL);
        p->depth--;
        if (!ok)
            return NULL;
        a = call;
    }
    return a;
}

/* postfix { '*' postfix }: products of numbers are folded here (7 * 7 * 256). */
static kn_ast *kn_parse_product(kn_parser *p)
{
    size_t start_off = kn_peek(p, 0)->start;
    kn_ast *a = kn_parse_postfix(p);
    while (a && kn_at(p, KN_TOK_STAR)) {
        kn_tok star = kn_next(p);
        kn_skip_newlines(p);
        kn_ast *b = kn_parse_postfix(p);
        if (!b)
            return NULL;
        if (a->kind != KN_AST_NUMBER || b->kind != KN_AST_NUMBER) {
            KN_SPEC_ERR(p->spec, KN_ERR_PARSE, star.loc, "'*' multiplies numbers only");
            return NULL;
        }
        if (a->is_int && b->is_int) {
            int64_t r;
            if (__builtin_mul_overflow(a->ival, b->ival, &r)) {
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, star.loc, "the product is too large");
                return NULL;
            }
            a->ival = r;
            a->num = (double)r;
        } else {
            a->num = (a->is_int ? (double)a->ival : a->num) * (b->is_int ? (double)b->ival : b->num);
            a->is_int = false;
        }
        a->loc = kn_span(p, a->loc, start_off);
    }
    return a;
}

static kn_ast *kn_parse_expr(kn_parser *p)
{
    kn_ast *first = kn_parse_product(p);
    if (!first || !kn_at(p, KN_TOK_PLUS))
        return first;
    kn_ast *sum = kn_new_ast(p, KN_AST_SUM, first->loc);
    if (!sum)
        return NULL;
    int cap = 0;
    kn_ast_arg term = {.value = first};
    if (!kn_push_arg(p, &sum->args, &sum->nargs, &cap, term))
        return NULL;
    while (kn_at(p, KN_TOK_PLUS)) {
        kn_next(p);
        kn_skip_newlines(p);
        term.value = kn_parse_product(p);
        if (!term.value || !kn_push_arg(p, &sum->args, &sum->nargs, &cap, term))
            return NULL;
    }
    return sum;
}

/* Skip to the end of the statement: past the next newline or ';', or up to '}' / end of file. */
static void kn_sync(kn_parser *p)
{
    p->too_deep = false;
    p->depth = 0;
    for (;;) {
        kn_tok_kind k = kn_peek(p, 0)->kind;
        if (k == KN_TOK_EOF || k == KN_TOK_RBRACE)
            return;
        kn_next(p);
        if (k == KN_TOK_NEWLINE || k == KN_TOK_SEMI)
            return;
    }
}

static bool kn_is_block_keyword(const char *s)
{
    return strcmp(s, "model") == 0 || strcmp(s, "train") == 0;
}

/* Whether the tokens at 0 start a block `keyword [name] [(...)] {`. */
static bool kn_at_block(kn_parser *p, const char *keyword)
{
    if (!kn_at_ident(p, 0, keyword))
        return false;
    kn_tok_kind k = kn_peek(p, 1)->kind;
    return k == KN_TOK_IDENT || k == KN_TOK_LBRACE || (k == KN_TOK_LPAREN && strcmp(keyword, "train") == 0);
}

static kn_block *kn_parse_block(kn_parser *p);

/* One statement of a block body; false if the body must end (a new top-level block begins). */
/* A layer name: letters, digits and '_', not starting with a digit, at most 128 characters. */
static bool kn_is_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/*
 * The options Keras gives every layer, taken out of a layer call in a model so that the layer's own parameters
 * do not see them: name="x" (the same as `x = layer(...)`) and trainable=false (frozen: no gradient, no update).
 */
static void kn_take_layer_options(kn_parser *p, kn_stmt *s)
{
    kn_ast *call = s->value;
    while (call && call->kind == KN_AST_CALL && call->callee->kind == KN_AST_CALL)
        call = call->callee; /* layer(...)(inputs): the layer's own call */
    if (!call || call->kind != KN_AST_CALL)
        return;
    int kept = 0;
    for (int i = 0; i < call->nargs; i++) {
        kn_ast_arg *a = &call->args[i];
        if (a->name && strcmp(a->name, "name") == 0) {
            if (a->value->kind != KN_AST_STRING && a->value->kind != KN_AST_IDENT) {
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, a->value->loc, "name= takes a layer name, e.g. name=\"fc1\"");
            } else if (s->target && strcmp(s->target, a->value->text) != 0) {
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, a->name_loc,
                            "the layer is named twice ('%s' = ... and name=\"%s\"); keep one", s->target,
                            a->value->text);
            } else if (!kn_is_name(a->value->text)) {
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, a->value->loc,
                            "'%s' is not a layer name (letters, digits and _, not starting with a digit)",
                            a->value->text);
            } else {
                s->target = a->value->text;
                s->target_loc = a->value->loc;
            }
            continue;
        }
        if (a->name && strcmp(a->name, "trainable") == 0) {
            bool v;
            if (kn_spec_get_bool(p->spec, a->value, "trainable", &v))
                s->trainable = v ? 1 : 0;
            continue;
        }
        call->args[kept++] = *a;
    }
    call->nargs = kept;
}

static bool kn_parse_stmt(kn_parser *p, kn_block *b, int *cap)
{
    kn_stmt s = {0};
    const kn_tok *t = kn_peek(p, 0);
    s.loc = t->loc;
    if (t->kind == KN_TOK_IDENT && kn_is_block_keyword(t->text) &&
        (kn_peek(p, 1)->kind == KN_TOK_IDENT || kn_peek(p, 1)->kind == KN_TOK_LBRACE)) {
        KN_SPEC_ERR(p->spec, KN_ERR_PARSE, b->loc,
                    "missing '}' to close '%s%s%s' before the '%s' at line %d", b->keyword, b->name ? " " : "",
                    b->name ? b->name : "", t->text, t->loc.line);
        return false;
    }
    if (kn_at_block(p, "step")) {
        s.kind = KN_STMT_BLOCK;
        s.block = kn_parse_block(p);
        if (!s.block)
            return true;
    } else if (kn_at_ident(p, 0, "output") && kn_peek(p, 1)->kind == KN_TOK_IDENT) {
        kn_next(p);
        s.kind = KN_STMT_OUTPUT;
        int ncap = 0, lcap = 0;
        for (;;) {
            if (!kn_at(p, KN_TOK_IDENT)) {
                kn_expected(p, kn_peek(p, 0), "the name of a layer after 'output'");
                kn_sync(p);
                return true;
            }
            kn_tok name = kn_next(p);
            if (!kn_arena_grow(p->spec->arena, (void **)&s.names, &ncap, s.num_names + 1, sizeof(char *)) ||
                !kn_arena_grow(p->spec->arena, (void **)&s.name_locs, &lcap, s.num_names + 1, sizeof(kn_spec_loc)))
                return false;
            s.names[s.num_names] = name.text;
            s.name_locs[s.num_names++] = name.loc;
            if (!kn_at(p, KN_TOK_COMMA))
                break;
            kn_next(p);
        }
    } else {
        s.kind = KN_STMT_EXPR;
        if (t->kind == KN_TOK_IDENT && kn_peek(p, 1)->kind == KN_TOK_EQUALS) {
            kn_tok target = kn_next(p);
            kn_next(p);
            s.target = target.text;
            s.target_loc = target.loc;
            if (kn_at(p, KN_TOK_NEWLINE) || kn_at(p, KN_TOK_EOF)) {
                kn_expected(p, kn_peek(p, 0), "a value after '='");
                kn_sync(p);
                return true;
            }
        } else if (t->kind == KN_TOK_OTHER && t->text && t->text[0] == ':' && b) {
            kn_expected(p, t, "a statement");
            kn_sync(p);
            return true;
        }
        s.value = kn_parse_expr(p);
        s.trainable = -1;
        if (s.value && b && strcmp(b->keyword, "model") == 0)
            kn_take_layer_options(p, &s);
        if (!s.value) {
            /* keep a placeholder so that the checker knows a layer is missing here */
            kn_sync(p);
            if (kn_arena_grow(p->spec->arena, (void **)&b->stmts, cap, b->num_stmts + 1, sizeof(kn_stmt)))
                b->stmts[b->num_stmts++] = s;
            return true;
        }
    }
    /* end of statement */
    const kn_tok *e = kn_peek(p, 0);
    if (e->kind == KN_TOK_NEWLINE || e->kind == KN_TOK_SEMI)
        kn_next(p);
    else if (e->kind != KN_TOK_RBRACE && e->kind != KN_TOK_EOF) {
        if (e->kind == KN_TOK_OTHER && e->text && e->text[0] == ':' && s.kind == KN_STMT_EXPR && !s.target &&
            s.value->kind == KN_AST_IDENT)
            kn_expected(p, e, "'=' (settings are written 'name = value')");
        else
            kn_expected(p, e, "the end of the line after the statement");
        kn_sync(p);
        /* a placeholder, as for a statement that does not parse: no errors about the layer it was */
        s.value = NULL;
        if (s.kind == KN_STMT_EXPR &&
            kn_arena_grow(p->spec->arena, (void **)&b->stmts, cap, b->num_stmts + 1, sizeof(kn_stmt)))
            b->stmts[b->num_stmts++] = s;
        return true;
    }
    if (!kn_arena_grow(p->spec->arena, (void **)&b->stmts, cap, b->num_stmts + 1, sizeof(kn_stmt)))
        return false;
    b->stmts[b->num_stmts++] = s;
    return true;
}

/* keyword [name] [(params)] { statements } */
static kn_block *kn_parse_block(kn_parser *p)
{
    kn_tok kw = kn_next(p);
    kn_block *b = kn_arena_alloc(p->spec->arena, 1, sizeof *b);
    if (!b)
        return NULL;
    b->keyword = kw.text;
    b->loc = kw.loc;
    if (kn_at(p, KN_TOK_IDENT)) {
        kn_tok name = kn_next(p);
        b->name = name.text;
        b->name_loc = name.loc;
    }
    if (kn_at(p, KN_TOK_LPAREN)) {
        kn_tok open = kn_next(p);
        char what[96];
        snprintf(what, sizeof what, "parameters of '%s'", b->keyword);
        if (!kn_parse_list(p, KN_TOK_RPAREN, true, what, open.loc, &b->params, &b->num_params, NULL)) {
            kn_sync(p);
            b->params = NULL;
            b->num_params = 0;
        }
    }
    kn_skip_newlines_before(p, KN_TOK_LBRACE, KN_TOK_LBRACE);
    if (!kn_at(p, KN_TOK_LBRACE)) {
        char what[120];
        snprintf(what, sizeof what, "'{' to open the body of '%s%s%s'", b->keyword, b->name ? " " : "",
                 b->name ? b->name : "");
        kn_expected(p, kn_peek(p, 0), what);
        /* no body: skip to the next top-level block */
        b->no_body = true;
        return b;
    }
    kn_next(p);
    int cap = 0;
    for (;;) {
        while (kn_at(p, KN_TOK_NEWLINE) || kn_at(p, KN_TOK_SEMI))
            kn_next(p);
        if (p->spec->stopped)
            return b;
        const kn_tok *t = kn_peek(p, 0);
        if (t->kind == KN_TOK_RBRACE) {
            kn_next(p);
            break;
        }
        if (t->kind == KN_TOK_EOF) {
            if (!p->binary)
                KN_SPEC_ERR(p->spec, KN_ERR_PARSE, b->loc,
                            "'%s%s%s' is not closed: expected '}' before the end of the file", b->keyword,
                            b->name ? " " : "", b->name ? b->name : "");
            break;
        }
        if (!kn_parse_stmt(p, b, &cap))
            break;
    }
    return b;
}

void kn_spec_parse_text(kn_spec *spec, kn_spec_file *file)
{
    kn_parser p = {0};
    p.spec = spec;
    p.src = spec->text;
    p.n = spec->size;
    p.line = 1;
    memset(file, 0, sizeof *file);
    int cap = 0;
    bool skipping = false;
    for (;;) {
        while (kn_at(&p, KN_TOK_NEWLINE) || kn_at(&p, KN_TOK_SEMI))
            kn_next(&p);
        if (spec->stopped)
            return;
        const kn_tok *t = kn_peek(&p, 0);
        if (t->kind == KN_TOK_EOF)
            break;
        if (kn_at_block(&p, "model") || kn_at_block(&p, "train")) {
            skipping = false;
            if (file->num_blocks >= KN_SPEC_MAX_BLOCKS) {
                KN_SPEC_ERR(spec, KN_ERR_OVERFLOW, t->loc, "too many blocks: a file may hold at most %d",
                            KN_SPEC_MAX_BLOCKS);
                return;
            }
            kn_block *b = kn_parse_block(&p);
            if (!b)
                return;
            if (!kn_arena_grow(spec->arena, (void **)&file->blocks, &cap, file->num_blocks + 1, sizeof(kn_block)))
                return;
            file->blocks[file->num_blocks++] = *b;
            continue;
        }
        if (!skipping) {
            if (t->kind == KN_TOK_RBRACE)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, t->loc, "unexpected '}': no block is open here");
            else if (t->kind == KN_TOK_IDENT && kn_peek(&p, 1)->kind == KN_TOK_EQUALS)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, t->loc,
                            "'%s = ...' must be inside a block: expected 'model NAME {' or 'train {'", t->text);
            else
                kn_expected(&p, t, "'model NAME {' or 'train {'");
            skipping = true; /* one error until the next block */
        }
        kn_next(&p);
    }
    if (file->num_blocks == 0 && spec->num_errors == 0) {
        bool blank = true;
        for (size_t i = 0; i < spec->size && blank; i++)
            blank = isspace((unsigned char)spec->text[i]);
        kn_spec_loc first = {1, 1, 1};
        KN_SPEC_ERR(spec, KN_ERR_PARSE, first,
                    "the file %s; expected a block like 'model mnist { x = input(shape=(1, 28, 28)) ... }'",
                    blank ? "is empty" : "defines no model");
    }
}
