/* dnnl_parity.c - comparing the oneDNN backend with the reference backend; test graph builder (dnnl_parity.h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnnl_backend.h"
#include "dnnl_parity.h"
#include "runtime_internal.h"
#include "testutil.h"

#define KN_PARITY_MAX_INPUTS 16

/* Whether `name` is one of the comma-separated names of `list`. */
static bool in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* Append printf text to buf[cap] at *used (truncating quietly: the text is only for the log). */
static void say(char *buf, size_t cap, size_t *used, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n;
}

/* Whether the fallback text of --explain names node `name` ('name'), which is `len` bytes long. */
static bool names_node(const char *text, const char *name, size_t len)
{
    for (const char *q = strchr(text, '\''); q; q = strchr(q + 1, '\''))
        if (strncmp(q + 1, name, len) == 0 && q[1 + len] == '\'')
            return true;
    return false;
}

/*
 * Where the nodes of the dnnl session's graph run: kn_dnnl_node_runs (the
 * decision, with its reason), and the backend's own account after compile in
 * the --explain text `explain` ("backend dnnl: N of M nodes run natively",
 * then one line per group of fallbacks), which also counts nodes that the
 * decision accepted but compile sent to the reference kernels. Checks
 * `expect` against both; writes the oneDNN nodes into on[cap] and the
 * fallback lines (joined) into off[cap].
 */
static void placement(const kn_session_t *s, const char *explain, const char *expect, const char *what, kn_parity *p,
                      char *on, char *off, char *own_text, size_t cap)
{
    const kn_graph *g = kn_session_graph(s);
    const char *head = strstr(explain, "backend dnnl: ");
    int native = -1, live = -1;
    if (!head || sscanf(head, "backend dnnl: %d of %d nodes run natively", &native, &live) != 2)
        fail_msg("%s: no placement summary in the --explain output of the dnnl session", what);
    p->native_nodes = native;
    size_t used_on = 0, used_off = 0, used_fixed = 0;
    char *fixed = malloc(cap); /* the fallback lines whose reason does not depend on the CPU */
    assert_non_null(fixed);
    on[0] = off[0] = fixed[0] = '\0';
    const char *nl = strchr(head, '\n');
    for (const char *q = nl ? nl + 1 : ""; *q == ' ';) { /* the fallback lines, each "  ...\n" */
        while (*q == ' ')
            q++;
        const char *end = strchr(q, '\n');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        say(off, cap, &used_off, "%s%.*s", used_off ? "; " : " ", (int)len, q);
        /* "node 'x' (Op): reason" or "N nodes (Op) 'x', ...: reason"; "on this CPU" in the reason: oneDNN's
         * coverage at this instruction set (only a reference implementation, ...), accepted for any node */
        const char *cpu = strstr(q, "on this CPU");
        if (cpu && cpu < q + len) {
            int count = 1;
            if (strncmp(q, "node '", 6) != 0 && sscanf(q, "%d nodes", &count) != 1)
                fail_msg("%s: unreadable fallback line in --explain: %.*s", what, (int)len, q);
            p->cpu_fallbacks += count;
            const char *fl = strstr(q, "(Flatten)"), *rs = strstr(q, "(Reshape)");
            if ((fl && fl < q + len) || (rs && rs < q + len))
                p->cpu_flatten_fallbacks += count;
        } else {
            say(fixed, cap, &used_fixed, "%s%.*s", used_fixed ? "; " : " ", (int)len, q);
        }
        q = end ? end + 1 : q + len;
    }
    const char *own = strstr(head, "kiln's own kernels for ");
    const char *own_nl = own ? strchr(own, '\n') : NULL;
    size_t used_own = 0;
    own_text[0] = '\0';
    for (const char *q = own_nl ? own_nl + 1 : ""; *q == ' ';) { /* "  N nodes (Op) ...: kernel" or "  node ..." */
        while (*q == ' ')
            q++;
        const char *end = strchr(q, '\n');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        say(own_text, cap, &used_own, "%s%.*s", used_own ? "; " : " ", (int)len, q);
        int count = 1;
        if (strncmp(q, "node '", 6) != 0 && sscanf(q, "%d nodes", &count) != 1)
            fail_msg("%s: unreadable own-kernel line in --explain: %.*s", what, (int)len, q);
        const char *w = strstr(q, "Winograd");
        if (w && w < q + len)
            p->wino_nodes += count;
        const char *nc = strstr(q, "no copy:");
        if (nc && nc < q + len)
            p->folded_nodes += count;
        const char *ip = strstr(q, "appended in place");
        if (ip && ip < q + len)
            p->in_place_concats += count;
        int block = 0;
        const char *cb = strstr(q, "copies in nChw");
        if (cb && cb < q + len && sscanf(cb, "copies in nChw%dc", &block) == 1 && block > p->concat_block)
            p->concat_block = block;
        q = end ? end + 1 : q + len;
    }
    bool all = expect && strcmp(expect, "*") == 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        char why[256] = "";
        bool runs = kn_dnnl_node_runs(g, n, why, sizeof why);
        p->dnnl_nodes += runs;
        p->ref_nodes += !runs;
        if (!runs && expect && (all || in_list(expect, n->name)))
            fail_msg("%s: node '%s' (%s) was expected to run on oneDNN but falls back: %s", what, n->name,
                     kn_op_get(n->op)->name, why);
        if (runs)
            say(on, cap, &used_on, " %s", n->name);
    }
    if (live != p->dnnl_nodes + p->ref_nodes)
        fail_msg("%s: --explain counts %d live nodes, the compiled graph has %d", what, live,
                 p->dnnl_nodes + p->ref_nodes);
    if (all && native + p->cpu_fallbacks != live)
        fail_msg("%s: every node was expected to run on oneDNN, but %d of %d do:%s", what, native, live, off);
    /* every expected name must be a node of the compiled graph (a typo or a rewrite must not pass silently) and
     * must not be among the fallbacks found at compile time */
    for (const char *q = expect && !all ? expect : ""; *q;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        bool found = false;
        for (int i = 0; i < g->num_nodes && !found; i++)
            found = !g->nodes[i].dead && strlen(g->nodes[i].name) == len && strncmp(g->nodes[i].name, q, len) == 0;
        if (!found)
            fail_msg("%s: expected node '%.*s' is not in the compiled graph", what, (int)len, q);
        if (names_node(fixed, q, len))
            fail_msg("%s: node '%.*s' was expected to run on oneDNN, but compile left it to the reference kernels:%s",
                     what, (int)len, q, off);
        q = e ? e + 1 : q + len;
    }
    /* a group of fallbacks shows 3 names: with compile-time fallbacks among the hidden ones, names cannot be checked */
    if (expect && !all && native + p->cpu_fallbacks < p->dnnl_nodes && strstr(fixed, " more:"))
        fail_msg("%s: compile sent %d accepted nodes to the reference kernels, not all named:%s", what,
                 p->dnnl_nodes - native, off);
    free(fixed);
}

kn_parity kn_parity_check(const kn_model_t *m, int64_t batch, float tol, const char *expect_dnnl,
                          bool show_placement, const char *what)
{
    return kn_parity_check_threads(m, batch, 2, tol, expect_dnnl, show_placement, what);
}

kn_parity kn_parity_check_threads(const kn_model_t *m, int64_t batch, int threads, float tol,
                                  const char *expect_dnnl, bool show_placement, const char *what)
{
    kn_parity p = {0};
    if (tol <= 0.0f)
        tol = KN_DNNL_TOL;
    kn_options opts;
    memset(&opts, 0, sizeof opts);
    opts.batch = batch;
    opts.threads = threads;
    kn_session_t *s[2];
    kn_error err;
    const char *backends[2] = {"ref", "dnnl"};
    char *explain = NULL;
    size_t explain_len = 0;
    for (int b = 0; b < 2; b++) {
        opts.backend = backends[b];
        if (b == 1) { /* the dnnl session reports where its nodes run after compile (and what the passes did) */
            opts.explain = open_memstream(&explain, &explain_len);
            assert_non_null(opts.explain);
        }
        if (kn_session_create(m, &opts, &s[b], &err) != KN_OK)
            fail_msg("%s: %s: %s", what, backends[b], err.message);
    }
    assert_int_equal(fclose(opts.explain), 0);
    int nin = kn_session_num_inputs(s[0]);
    assert_int_equal(nin, kn_session_num_inputs(s[1]));
    assert_true(nin <= KN_PARITY_MAX_INPUTS);
    const char *names[KN_PARITY_MAX_INPUTS];
    kn_tensor t[KN_PARITY_MAX_INPUTS];
    float *bufs[KN_PARITY_MAX_INPUTS] = {0};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < nin; i++) {
        kn_io_info info;
        assert_int_equal(kn_session_input(s[0], i, &info), KN_OK);
        if (info.dtype != KN_F32)
            fail_msg("%s: input '%s' is %s; the parity tests feed float32 only", what, info.name,
                     kn_dtype_name(info.dtype));
        size_t n = 0;
        assert_int_equal(kn_shape_numel(&info.shape, &n), KN_OK);
        bufs[i] = malloc((n ? n : 1) * sizeof(float));
        assert_non_null(bufs[i]);
        kn_test_fill(&seed, bufs[i], n, -1.0f, 1.0f);
        names[i] = info.name;
        t[i].dtype = KN_F32;
        t[i].shape = info.shape;
        t[i].data = bufs[i];
    }
    /* the dnnl session runs twice: a second run finds its arenas holding the first run's values (a kernel that
     * relies on zeroed memory, such as blocked padding it never writes, shows here) */
    for (int b = 0; b < 2; b++)
        for (int r = 0; r < 1 + b; r++)
            if (kn_session_run(s[b], nin, names, t, &err) != KN_OK)
                fail_msg("%s: %s run %d: %s", what, backends[b], r + 1, err.message);
    assert_int_equal(kn_session_num_outputs(s[0]), kn_session_num_outputs(s[1]));
    double worst_maxref = 0.0;
    const int nout = kn_session_num_outputs(s[0]);
    char outs[2048] = ""; /* per-output figures when there are several */
    size_t outs_used = 0;
    for (int i = 0; i < nout; i++) {
        kn_io_info info;
        assert_int_equal(kn_session_output(s[0], i, &info), KN_OK);
        kn_tensor a, d;
        assert_int_equal(kn_session_get_output(s[0], i, &a, &err), KN_OK);
        assert_int_equal(kn_session_get_output(s[1], i, &d, &err), KN_OK);
        assert_int_equal(a.dtype, d.dtype);
        assert_true(kn_shape_equal(&a.shape, &d.shape));
        size_t n = 0, bytes = 0;
        assert_int_equal(kn_shape_numel(&a.shape, &n), KN_OK);
        if (a.dtype != KN_F32) {
            assert_int_equal(kn_tensor_nbytes(a.dtype, &a.shape, &bytes), KN_OK);
            if (bytes && memcmp(a.data, d.data, bytes) != 0)
                fail_msg("%s: output %d (%s) differs between ref and dnnl", what, i, kn_dtype_name(a.dtype));
            continue;
        }
        const float *ra = a.data, *rd = d.data;
        double maxref = 0.0, worst = 0.0;
        for (size_t k = 0; k < n; k++) {
            if (!isfinite(ra[k]))
                fail_msg("%s: output %d: the reference gives %g at %zu (a test must keep its values finite)", what,
                         i, ra[k], k);
            if (fabs((double)ra[k]) > maxref)
                maxref = fabs((double)ra[k]);
        }
        double scale = maxref > 1.0 ? maxref : 1.0;
        for (size_t k = 0; k < n; k++) {
            double e = fabs((double)ra[k] - (double)rd[k]);
            if (!(e <= worst)) /* NaN counts as worst */
                worst = e;
        }
        if (!(worst <= (double)tol * scale))
            fail_msg("%s: output %d '%s': max |dnnl - ref| %g > %g (= %g * scale %g)", what, i, info.name, worst,
                     (double)tol * scale, (double)tol, scale);
        if (nout > 1)
            say(outs, sizeof outs, &outs_used, "  output '%s': max|dnnl-ref| %.3g, max|ref| %.3g\n", info.name, worst,
                maxref);
        if (worst > p.worst_abs)
            p.worst_abs = worst;
        if (worst / scale >= p.worst_rel) {
            p.worst_rel = worst / scale;
            worst_maxref = maxref;
        }
    }
    char on[2048], off[2048], own[2048];
    placement(s[1], explain, expect_dnnl, what, &p, on, off, own, sizeof on);
    free(explain);
    printf("parity %s (batch %lld): max|dnnl-ref| %.3g, rel %.3g (max|ref| %.3g, bound %.0e); nodes on oneDNN %d of "
           "%d (%d accepted, %d Winograd) |%s%s%s%s%s%s\n",
           what, (long long)(batch ? batch : 1), p.worst_abs, p.worst_rel, worst_maxref, (double)tol, p.native_nodes,
           p.dnnl_nodes + p.ref_nodes, p.dnnl_nodes, p.wino_nodes, show_placement ? " dnnl:" : "", show_placement ? on : "",
           off[0] ? " ref:" : "", off, own[0] ? " kiln's kernels:" : "", own);
    fputs(outs, stdout);
    fflush(stdout);
    for (int b = 0; b < 2; b++)
        kn_session_free(s[b]);
    for (int i = 0; i < nin; i++)
        free(bufs[i]);
    return p;
}

/* ------------------------------------------------------------ building */

bool kn_parity_trained_weights(void)
{
    const char *v = getenv("KILN_DNNL_TRAINED_WEIGHTS");
    return v && strcmp(v, "0") != 0;
}

void kn_pb_init(kn_pb *b)
{
    kn_graph_init(&b->g);
    b->seed = 0x1234567ull;
}

int kn_pb_input(kn_pb *b, const char *name, int rank, const int64_t *dims)
{
    assert_true(rank >= 0 && rank <= KN_MAX_RANK);
    int id = kn_test_add_value(&b->g, name, KN_F32, rank, dims, KN_VALUE_INPUT, NULL);
    kn_error err;
    assert_int_equal(kn_graph_add_input(&b->g, id, &err), KN_OK);
    return id;
}

int kn_pb_param(kn_pb *b, const char *name, float lo, float hi, int rank, const int64_t *dims)
{
    assert_true(rank >= 0 && rank <= KN_MAX_RANK);
    kn_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    size_t n = 0;
    assert_int_equal(kn_shape_numel(&s, &n), KN_OK);
    float *d = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(d);
    kn_test_fill(&b->seed, d, n, lo, hi);
    return kn_test_add_value(&b->g, name, KN_F32, s.rank, s.dims, KN_VALUE_PARAM, d);
}

int kn_pb_scalar(kn_pb *b, const char *name, float v)
{
    float *d = malloc(sizeof(float));
    assert_non_null(d);
    *d = v;
    return kn_test_add_value(&b->g, name, KN_F32, 0, NULL, KN_VALUE_CONST, d);
}

int kn_pb_ints(kn_pb *b, const char *name, int n, const int64_t *v)
{
    int64_t *d = malloc((n ? (size_t)n : 1) * sizeof(int64_t));
    assert_non_null(d);
    if (n)
        memcpy(d, v, (size_t)n * sizeof(int64_t));
    int64_t dim = n;
    return kn_test_add_value(&b->g, name, KN_I64, 1, &dim, KN_VALUE_CONST, d);
}

void kn_pb_node_n(kn_pb *b, const char *name, kn_op op, const kn_attrs *attrs, int nin, const int *in, int nout,
                  int *out)
{
    assert_true(nout >= 1 && nout <= KN_MAX_OUTPUTS);
    for (int i = 0; i < nout; i++) {
        char vname[160];
        if (nout == 1)
            snprintf(vname, sizeof vname, "%s_out", name);
        else
            snprintf(vname, sizeof vname, "%s_out%d", name, i);
        out[i] = kn_test_add_tmp(&b->g, vname);
    }
    kn_attrs a;
    if (attrs)
        a = *attrs;
    else
        kn_attrs_init(op, &a);
    kn_error err;
    int id;
    if (kn_graph_add_node(&b->g, name, op, in, nin, out, nout, &a, &id, &err) != KN_OK)
        fail_msg("add node %s: %s", name, err.message);
}

int kn_pb_node(kn_pb *b, const char *name, kn_op op, const kn_attrs *attrs, int nin, const int *in)
{
    int out;
    kn_pb_node_n(b, name, op, attrs, nin, in, 1, &out);
    return out;
}

int kn_pb_unary(kn_pb *b, const char *name, kn_op op, int x)
{
    return kn_pb_node(b, name, op, NULL, 1, &x);
}

int kn_pb_binary(kn_pb *b, const char *name, kn_op op, int x, int y)
{
    int in[2] = {x, y};
    return kn_pb_node(b, name, op, NULL, 2, in);
}

int kn_pb_conv(kn_pb *b, const char *name, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
               int64_t pad, int64_t group)
{
    char wn[160], bn[160];
    snprintf(wn, sizeof wn, "%s_w", name);
    snprintf(bn, sizeof bn, "%s_b", name);
    /* He-like scale keeps activations O(1) along chains */
    float r = 1.5f / sqrtf((float)(cin / group * k * k));
    int in[3] = {x, kn_pb_param(b, wn, -r, r, 4, KN_DIMS(cout, cin / group, k, k)),
                 kn_pb_param(b, bn, -0.2f, 0.2f, 1, KN_DIMS(cout))};
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        a.window.stride[i] = stride;
        a.window.pad_begin[i] = pad;
        a.window.pad_end[i] = pad;
    }
    a.window.group = group;
    return kn_pb_node(b, name, KN_OP_CONV, &a, 3, in);
}

void kn_pb_output(kn_pb *b, int v)
{
    kn_error err;
    assert_int_equal(kn_graph_add_output(&b->g, v, &err), KN_OK);
}

kn_model_t *kn_pb_model(kn_pb *b)
{
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = b->g;
    kn_graph_init(&b->g);
    return m;
}
