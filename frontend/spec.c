/*
 * spec.c - entry points of the .kiln frontend (parse, free, find), the arena
 * and diagnostics: recording, "did you mean" suggestions and clang-style
 * formatting with the source line and a caret.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "spec_priv.h"

/* ------------------------------------------------------------- arena */

#define KN_ARENA_CHUNK ((size_t)64 << 10)

typedef struct kn_arena_chunk {
    struct kn_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} kn_arena_chunk;

struct kn_spec_arena {
    kn_arena_chunk *head;
};

kn_spec_arena *kn_arena_new(void)
{
    return calloc(1, sizeof(kn_spec_arena));
}

void kn_arena_free(kn_spec_arena *a)
{
    if (!a)
        return;
    kn_arena_chunk *c = a->head;
    while (c) {
        kn_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *kn_arena_alloc(kn_spec_arena *a, size_t count, size_t size)
{
    size_t bytes;
    if (!a || !kn_size_mul(count, size, &bytes))
        return NULL;
    if (bytes == 0)
        bytes = 1;
    size_t align = sizeof(max_align_t);
    if (bytes > SIZE_MAX - align)
        return NULL;
    bytes = (bytes + align - 1) / align * align;
    kn_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > KN_ARENA_CHUNK ? bytes : KN_ARENA_CHUNK;
        c = malloc(sizeof(kn_arena_chunk) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big block gets its own chunk behind the head so the head keeps its free space. */
        if (a->head && bytes > KN_ARENA_CHUNK) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += bytes;
    memset(p, 0, bytes);
    return p;
}

char *kn_arena_strndup(kn_spec_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = kn_arena_alloc(a, n + 1, 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *kn_arena_strdup(kn_spec_arena *a, const char *s)
{
    return kn_arena_strndup(a, s, strlen(s));
}

char *kn_arena_printf(kn_spec_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = kn_arena_alloc(a, (size_t)n + 1, 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

bool kn_arena_grow(kn_spec_arena *a, void **items, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return true;
    if (need > (1 << 28))
        return false;
    int ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = kn_arena_alloc(a, (size_t)ncap, size);
    if (!p)
        return false;
    if (*items && *cap)
        memcpy(p, *items, (size_t)*cap * size);
    *items = p;
    *cap = ncap;
    return true;
}

/* ------------------------------------------------------- diagnostics */

bool kn_spec_diag_add(kn_spec *spec, kn_spec_severity sev, kn_status status, kn_spec_loc loc, const char *fmt,
                      ...)
{
    if (spec->stopped)
        return true;
    if (sev == KN_SPEC_ERROR && spec->num_errors >= KN_SPEC_MAX_ERRORS) {
        spec->stopped = true;
        return true;
    }
    if (!kn_arena_grow(spec->arena, (void **)&spec->diags, &spec->cap_diags, spec->num_diags + 1,
                       sizeof(kn_spec_diag))) {
        spec->stopped = true;
        return false;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kn_spec_diag *d = &spec->diags[spec->num_diags];
    d->severity = sev;
    d->status = status;
    d->loc = loc;
    d->message = kn_arena_strdup(spec->arena, msg);
    if (!d->message) {
        spec->stopped = true;
        return false;
    }
    spec->num_diags++;
    if (sev == KN_SPEC_ERROR)
        spec->num_errors++;
    else
        spec->num_warnings++;
    return true;
}

int kn_spec_edit_distance(const char *a, const char *b)
{
    /* optimal string alignment: insertions, deletions, substitutions, adjacent transpositions */
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return 100;
    int d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == cb &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m] > 100 ? 100 : d[n][m];
}

/* Lower-case copy without underscores: "MaxPool_2D" -> "maxpool2d". */
static void kn_squash(const char *s, char *out, size_t len)
{
    size_t k = 0;
    for (; *s && k + 1 < len; s++)
        if (*s != '_')
            out[k++] = (char)tolower((unsigned char)*s);
    out[k] = '\0';
}

const char *kn_spec_suggest(const char *word, const char *const *candidates)
{
    if (!word || !candidates)
        return NULL;
    const char *best = NULL;
    int best_d = 1000;
    char sw[80], sc[80];
    kn_squash(word, sw, sizeof sw);
    for (int i = 0; candidates[i]; i++) {
        kn_squash(candidates[i], sc, sizeof sc);
        int d = strcmp(sw, sc) == 0 ? 0 : kn_spec_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    size_t n = strlen(word);
    int limit = (int)(n / 3);
    if (limit < 1)
        limit = 1;
    if (limit > 3)
        limit = 3;
    if (best && best_d <= limit)
        return best;
    /* an abbreviation: the shortest candidate that starts with the word ("conv" -> "conv2d") */
    const char *prefix = NULL;
    for (int i = 0; n >= 3 && candidates[i]; i++)
        if (strlen(candidates[i]) > n && strncasecmp(candidates[i], word, n) == 0 &&
            (!prefix || strlen(candidates[i]) < strlen(prefix)))
            prefix = candidates[i];
    return prefix;
}

const char *kn_spec_did_you_mean(const char *word, const char *const *candidates, char *buf, size_t len)
{
    const char *s = kn_spec_suggest(word, candidates);
    if (s)
        snprintf(buf, len, " (did you mean '%s'?)", s);
    else if (len)
        buf[0] = '\0';
    return buf;
}

const char *kn_ast_describe(const kn_ast *v, char *buf, size_t len)
{
    if (!v) {
        snprintf(buf, len, "nothing");
        return buf;
    }
    switch (v->kind) {
    case KN_AST_NUMBER:
        if (v->is_int)
            snprintf(buf, len, "%lld", (long long)v->ival);
        else
            snprintf(buf, len, "%g", v->num);
        break;
    case KN_AST_STRING: snprintf(buf, len, "the string \"%.60s\"", v->text); break;
    case KN_AST_IDENT: snprintf(buf, len, "'%.60s'", v->text); break;
    case KN_AST_TUPLE: snprintf(buf, len, "a tuple of %d elements", v->nargs); break;
    case KN_AST_CALL: {
        const char *n = kn_ast_call_name(v);
        snprintf(buf, len, "a call of '%.60s'", n ? n : "an expression");
        break;
    }
    case KN_AST_SUM: snprintf(buf, len, "a sum"); break;
    }
    return buf;
}

const char *kn_ast_call_name(const kn_ast *v)
{
    if (!v)
        return NULL;
    if (v->kind == KN_AST_IDENT)
        return v->text;
    if (v->kind == KN_AST_CALL && v->callee && v->callee->kind == KN_AST_IDENT)
        return v->callee->text;
    return NULL;
}

const char *kn_spec_shape_str(const kn_shape *s, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < s->rank && used < len; i++) {
        if (s->dims[i] == KN_DIM_BATCH)
            used += (size_t)snprintf(buf + used, len - used, "%sN", i ? ", " : "");
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)s->dims[i]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "%s)", s->rank == 1 ? "," : "");
    return buf;
}

/* Append printf output to buf at *used (never past len). */
static void kn_buf_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void kn_buf_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[1];
    int n;
    if (*used < len)
        n = vsnprintf(buf + *used, len - *used, fmt, ap);
    else
        n = vsnprintf(tmp, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n;
}

static bool kn_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || (extra == 1 && c < 0xC2) || i + (size_t)extra >= n)
            return false;
        for (int k = 1; k <= extra; k++)
            if (i + (size_t)k >= n || (s[i + (size_t)k] & 0xC0) != 0x80)
                return false;
        i += (size_t)extra + 1;
    }
    return true;
}

#define KN_DIAG_WINDOW 120

size_t kn_spec_format_diag(const kn_spec *spec, const kn_spec_diag *d, char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    const char *sev = d->severity == KN_SPEC_ERROR ? "error" : "warning";
    const char *name = spec->name ? spec->name : "<spec>";
    if (d->loc.line <= 0) {
        kn_buf_add(buf, len, &used, "%s: %s: %s", name, sev, d->message);
        return used;
    }
    kn_buf_add(buf, len, &used, "%s:%d:%d: %s: %s", name, d->loc.line, d->loc.col, sev, d->message);
    /* find the line */
    const char *text = spec->text ? spec->text : "";
    size_t size = spec->text ? spec->size : 0;
    size_t pos = 0;
    for (int line = 1; line < d->loc.line && pos < size; pos++)
        if (text[pos] == '\n')
            line++;
    size_t end = pos;
    while (end < size && text[end] != '\n')
        end++;
    if (end > pos && text[end - 1] == '\r')
        end--;
    size_t n = end - pos;
    if (n == 0)
        return used;
    size_t col = d->loc.col > 0 ? (size_t)d->loc.col - 1 : 0;
    if (col > n)
        col = n;
    /* show a window around the column on long lines */
    size_t from = 0, to = n;
    if (n > KN_DIAG_WINDOW) {
        from = col > KN_DIAG_WINDOW / 2 ? col - KN_DIAG_WINDOW / 2 : 0;
        to = from + KN_DIAG_WINDOW < n ? from + KN_DIAG_WINDOW : n;
        while (from > 0 && from < n && ((unsigned char)text[pos + from] & 0xC0) == 0x80)
            from--;
        while (to < n && ((unsigned char)text[pos + to] & 0xC0) == 0x80)
            to++;
    }
    const unsigned char *line = (const unsigned char *)text + pos;
    bool utf8 = kn_utf8_valid(line + from, to - from);
    char gutter[16];
    int gw = snprintf(gutter, sizeof gutter, "%d", d->loc.line);
    if (gw < 4)
        gw = 4;
    kn_buf_add(buf, len, &used, "\n %*d | %s", gw, d->loc.line, from > 0 ? "..." : "");
    for (size_t i = from; i < to; i++) {
        unsigned char c = line[i];
        char ch = (c == '\t' || (c >= 0x20 && c != 0x7f && (c < 0x80 || utf8))) ? (char)c : '?';
        kn_buf_add(buf, len, &used, "%c", ch);
    }
    if (to < n)
        kn_buf_add(buf, len, &used, "...");
    kn_buf_add(buf, len, &used, "\n %*s | %s", gw, "", from > 0 ? "   " : "");
    for (size_t i = from; i < col; i++) {
        unsigned char c = line[i];
        if (c == '\t')
            kn_buf_add(buf, len, &used, "\t");
        else if (!(utf8 && (c & 0xC0) == 0x80))
            kn_buf_add(buf, len, &used, " ");
    }
    size_t ul = d->loc.len > 0 ? (size_t)d->loc.len : 1;
    if (col + ul > to)
        ul = to > col ? to - col : 1;
    kn_buf_add(buf, len, &used, "^");
    for (size_t i = 1; i < ul; i++)
        if (!(utf8 && (line[col + i] & 0xC0) == 0x80))
            kn_buf_add(buf, len, &used, "~");
    return used;
}

void kn_spec_print_diags(const kn_spec *spec, void *file)
{
    FILE *f = file;
    char buf[2048];
    for (int i = 0; i < spec->num_diags; i++) {
        kn_spec_format_diag(spec, &spec->diags[i], buf, sizeof buf);
        fprintf(f, "%s\n", buf);
    }
    if (spec->stopped)
        fprintf(f, "%s: note: too many errors; stopped after %d\n", spec->name ? spec->name : "<spec>",
                spec->num_errors);
}

/* Put as many formatted errors as fit into err. */
static void kn_spec_fill_error(const kn_spec *spec, kn_error *err)
{
    if (!err)
        return;
    kn_status first = KN_ERR_PARSE;
    for (int i = 0; i < spec->num_diags; i++)
        if (spec->diags[i].severity == KN_SPEC_ERROR) {
            first = spec->diags[i].status;
            break;
        }
    err->status = first;
    size_t used = 0, cap = sizeof err->message;
    err->message[0] = '\0';
    int shown = 0;
    char one[1024];
    for (int i = 0; i < spec->num_diags; i++) {
        const kn_spec_diag *d = &spec->diags[i];
        if (d->severity != KN_SPEC_ERROR)
            continue;
        size_t n = kn_spec_format_diag(spec, d, one, sizeof one);
        if (n >= sizeof one)
            n = sizeof one - 1;
        /* keep room for the "and N more" line */
        size_t need = n + (shown ? 1 : 0);
        if (used + need + 48 >= cap && shown > 0)
            break;
        if (used + need >= cap) {
            snprintf(err->message + used, cap - used, "%s%s", shown ? "\n" : "", one);
            used = cap - 1;
            shown++;
            break;
        }
        used += (size_t)snprintf(err->message + used, cap - used, "%s%s", shown ? "\n" : "", one);
        shown++;
    }
    int total = spec->num_errors;
    if (shown < total || spec->stopped) {
        if (used + 1 < cap)
            snprintf(err->message + used, cap - used, "\n(%d more error%s%s)", total - shown,
                     total - shown == 1 ? "" : "s", spec->stopped ? "; stopped early" : "");
    }
}

/* ------------------------------------------------------ entry points */

/*
 * A spec is UTF-8 text. Binary data (a NUL or other control byte, or bytes
 * that are not UTF-8) gets one error at its first offending byte instead of
 * one per stray character. Returns false when the text is refused.
 */
static bool kn_spec_check_text(kn_spec *spec)
{
    const unsigned char *t = (const unsigned char *)spec->text;
    size_t n = spec->size;
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = t[i];
        int extra = 0;
        bool bad = false;
        if (c == '\n') {
            line++;
            line_start = i + 1;
        } else if (c < 0x20 && c != '\t' && c != '\r' && c != '\f' && c != '\v') {
            bad = true;
        } else if (c == 0x7f) {
            bad = true;
        } else if (c >= 0x80) {
            extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
            bad = extra < 0 || (extra == 1 && c < 0xC2) || (c == 0xF4 && i + 1 < n && t[i + 1] > 0x8F) || c > 0xF4;
            for (int k = 1; !bad && k <= extra; k++)
                bad = i + (size_t)k >= n || (t[i + (size_t)k] & 0xC0) != 0x80;
        }
        if (bad) {
            kn_spec_loc loc = {line, (int)(i - line_start) + 1, 1};
            KN_SPEC_ERR(spec, KN_ERR_PARSE, loc,
                        "byte 0x%02x is not %s: a .kiln spec is UTF-8 text (is this a binary file?)", c,
                        c < 0x80 ? "printable text" : "valid UTF-8");
            return false;
        }
        i += (size_t)(extra > 0 ? extra : 0) + 1;
    }
    return true;
}

/* Diagnostics in source order (stable: the order of recording breaks ties). */
static void kn_spec_sort_diags(kn_spec *spec)
{
    for (int i = 1; i < spec->num_diags; i++) {
        kn_spec_diag d = spec->diags[i];
        int j = i - 1;
        while (j >= 0 && (spec->diags[j].loc.line > d.loc.line ||
                          (spec->diags[j].loc.line == d.loc.line && spec->diags[j].loc.col > d.loc.col))) {
            spec->diags[j + 1] = spec->diags[j];
            j--;
        }
        spec->diags[j + 1] = d;
    }
}

kn_status kn_spec_parse(const char *text, size_t size, const char *name, kn_spec *spec, kn_error *err)
{
    memset(spec, 0, sizeof *spec);
    if (!text && size)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_spec_parse: no text");
    /* a UTF-8 byte-order mark at the start (some editors write one) is no part of the text, as for
     * C compilers; elsewhere it is an error that names it */
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        size -= 3;
    }
    spec->arena = kn_arena_new();
    if (!spec->arena)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    spec->name = kn_arena_strdup(spec->arena, name ? name : "<spec>");
    spec->text = kn_arena_strndup(spec->arena, text ? text : "", size);
    if (!spec->name || !spec->text) {
        kn_spec_free(spec);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    spec->size = size;
    if (size > KN_SPEC_MAX_FILE_SIZE) {
        kn_spec_loc none = {0, 0, 0};
        KN_SPEC_ERR(spec, KN_ERR_PARSE, none, "the file is too large (more than %zu bytes)",
                    KN_SPEC_MAX_FILE_SIZE);
    } else if (kn_spec_check_text(spec)) {
        kn_spec_file file = {0};
        kn_spec_parse_text(spec, &file);
        if (!spec->stopped) {
            kn_spec_check_models(spec, &file);
            kn_spec_check_trainings(spec, &file);
        }
    }
    kn_spec_sort_diags(spec);
    if (spec->num_errors > 0) {
        kn_spec_fill_error(spec, err);
        return err ? err->status : KN_ERR_PARSE;
    }
    if (spec->stopped) /* out of memory while recording */
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory", spec->name);
    return KN_OK;
}

kn_status kn_spec_parse_file(const char *path, kn_spec *spec, kn_error *err)
{
    memset(spec, 0, sizeof *spec);
    if (!path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_spec_parse_file: no path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return kn_error_set(err, KN_ERR_IO, "%s: is a directory, not a .kiln file", path);
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    kn_status st = KN_OK;
    while (buf) {
        if (n == cap) {
            if (cap > KN_SPEC_MAX_FILE_SIZE) /* read one chunk past the limit, then stop */
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = kn_error_set(err, KN_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!buf)
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory", path);
    if (st != KN_OK) {
        free(buf);
        return st;
    }
    st = kn_spec_parse(buf, n, path, spec, err);
    free(buf);
    return st;
}

void kn_spec_free(kn_spec *spec)
{
    if (!spec)
        return;
    kn_arena_free(spec->arena);
    memset(spec, 0, sizeof *spec);
}

int kn_spec_find_model(const kn_spec *spec, const char *name)
{
    for (int i = 0; name && i < spec->num_models; i++)
        if (spec->models[i].name && strcmp(spec->models[i].name, name) == 0)
            return i;
    return -1;
}
