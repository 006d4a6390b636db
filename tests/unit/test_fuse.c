/*
 * test_fuse.c - activation and residual fusion on small hand-built graphs:
 * node counts before and after, outputs equal to the unfused graph's on the
 * reference backend, graph output names kept, and the explanations given for
 * fused and unfused candidates.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "passes.h"
#include "ref.h"
#include "testutil.h"

/* ------------------------------------------------------------- building */

typedef struct fx {
    kn_graph g;
    uint64_t rng;
    kn_error err;
} fx;

static void fx_init(fx *f)
{
    memset(f, 0, sizeof *f);
    kn_graph_init(&f->g);
    f->rng = 0x9e3779b97f4a7c15ull;
}

static int fx_input(fx *f, const char *name, kn_shape s)
{
    int id;
    assert_int_equal(kn_graph_add_value(&f->g, name, KN_F32, &s, KN_VALUE_INPUT, NULL, &id, &f->err), KN_OK);
    assert_int_equal(kn_graph_add_input(&f->g, id, &f->err), KN_OK);
    return id;
}

/* A float32 weight of random values in [-1, 1). */
static int fx_weight(fx *f, const char *name, kn_shape s)
{
    size_t n;
    assert_int_equal(kn_shape_numel(&s, &n), KN_OK);
    float *d = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(d);
    kn_test_fill(&f->rng, d, n, -1.0f, 1.0f);
    int id;
    assert_int_equal(kn_graph_add_value(&f->g, name, KN_F32, &s, KN_VALUE_PARAM, d, &id, &f->err), KN_OK);
    return id;
}

static int fx_scalar(fx *f, const char *name, float v)
{
    float *d = malloc(sizeof(float));
    assert_non_null(d);
    *d = v;
    kn_shape s = {.rank = 0};
    int id;
    assert_int_equal(kn_graph_add_value(&f->g, name, KN_F32, &s, KN_VALUE_CONST, d, &id, &f->err), KN_OK);
    return id;
}

static int fx_value(fx *f, const char *name)
{
    kn_shape s = {.rank = 0};
    int id;
    assert_int_equal(kn_graph_add_value(&f->g, name, KN_F32, &s, KN_VALUE_INTERMEDIATE, NULL, &id, &f->err),
                     KN_OK);
    return id;
}

/* Add node `name` of `op` writing a new value named `out`; returns that value. */
static int fx_node(fx *f, const char *name, kn_op op, const kn_attrs *attrs, const char *out, int nin, ...)
{
    int in[8];
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, int);
    va_end(ap);
    int y = fx_value(f, out), id;
    kn_attrs a;
    if (attrs)
        a = *attrs;
    else
        kn_attrs_init(op, &a);
    assert_int_equal(kn_graph_add_node(&f->g, name, op, in, nin, &y, 1, &a, &id, &f->err), KN_OK);
    return y;
}

static void fx_output(fx *f, int v)
{
    assert_int_equal(kn_graph_add_output(&f->g, v, &f->err), KN_OK);
}

/* Shapes inferred and the graph verified, as the pipeline leaves it before fusion. */
static void fx_finish(fx *f)
{
    bool changed = false;
    assert_int_equal(kn_graph_verify(&f->g, false, &f->err), KN_OK);
    if (kn_pass_infer_and_fold(&f->g, NULL, &changed, &f->err) != KN_OK)
        fail_msg("%s", f->err.message);
    assert_int_equal(kn_graph_verify(&f->g, true, &f->err), KN_OK);
}

static int live_nodes(const kn_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += !g->nodes[i].dead;
    return n;
}

static const kn_node *find_node(const kn_graph *g, const char *name)
{
    for (int i = 0; i < g->num_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    return NULL;
}

/* --------------------------------------------------------------- running */

/* Explanations go to a memory stream. */
typedef struct explain_buf {
    char *text;
    size_t len;
    FILE *f;
} explain_buf;

static void explain_open(explain_buf *b, kn_pass_ctx *ctx)
{
    memset(b, 0, sizeof *b);
    b->f = open_memstream(&b->text, &b->len);
    assert_non_null(b->f);
    memset(ctx, 0, sizeof *ctx);
    ctx->explain = b->f;
}

static const char *explain_text(explain_buf *b)
{
    fflush(b->f);
    return b->text;
}

static void explain_close(explain_buf *b)
{
    fclose(b->f);
    free(b->text);
}

/*
 * Graph g, rewritten from f's: still valid (verification and shape inference again), the same outputs under the
 * same names, their values within tol of the original graph's on the reference backend.
 */
static void check_rewritten(fx *f, kn_graph *g, float tol)
{
    kn_error err = {0};
    bool again = false;
    if (kn_graph_verify(g, true, &err) != KN_OK || kn_pass_infer_and_fold(g, NULL, &again, &err) != KN_OK)
        fail_msg("after the rewrite: %s", err.message);
    assert_int_equal(g->num_outputs, f->g.num_outputs);
    for (int i = 0; i < g->num_outputs; i++)
        assert_string_equal(g->values[g->outputs[i]].name, f->g.values[f->g.outputs[i]].name);
    size_t n0, n1;
    float *y0 = kn_test_run_ref(&f->g, 12345ull, &n0), *y1 = kn_test_run_ref(g, 12345ull, &n1);
    assert_int_equal(n0, n1);
    float d = kn_test_max_abs_diff(y0, y1, n0);
    if (!(d <= tol))
        fail_msg("the rewritten graph's outputs differ by %g", (double)d);
    free(y0);
    free(y1);
}

/* Whether fuse_and_compare runs distribute_concat first (the Concat tests). */
static bool g_distribute;

/*
 * Run the given passes on a copy of f's graph and check the result: still
 * valid (verification and shape inference again), `want_nodes` live nodes,
 * output 0 keeps its name, outputs equal to the unfused graph's within 1e-6.
 * Returns the explanations (caller frees), leaves the fused graph in *out.
 */
static char *fuse_and_compare(fx *f, bool residual, bool activation, kn_pass_ctx *ctx_in, int want_nodes,
                              kn_graph *out)
{
    kn_error err = {0};
    kn_graph fused;
    assert_int_equal(kn_graph_clone(&f->g, &fused, &err), KN_OK);
    explain_buf b;
    kn_pass_ctx ctx;
    explain_open(&b, &ctx);
    if (ctx_in) {
        ctx.can_fuse = ctx_in->can_fuse;
        ctx.can_fuse_user = ctx_in->can_fuse_user;
    }
    bool changed = false;
    if (g_distribute && kn_pass_distribute_concat(&fused, &ctx, &changed, &err) != KN_OK)
        fail_msg("distribute_concat: %s", err.message);
    if (residual && kn_pass_fuse_residual(&fused, &ctx, &changed, &err) != KN_OK)
        fail_msg("fuse_residual: %s", err.message);
    if (activation && kn_pass_fuse_activation(&fused, &ctx, &changed, &err) != KN_OK)
        fail_msg("fuse_activation: %s", err.message);
    assert_int_equal(changed, live_nodes(&f->g) != want_nodes);
    check_rewritten(f, &fused, 1e-6f);
    assert_int_equal(live_nodes(&fused), want_nodes);
    char *text = strdup(explain_text(&b));
    explain_close(&b);
    if (out)
        *out = fused;
    else
        kn_graph_free(&fused);
    return text;
}

/* --------------------------------------------------------------- helpers */

static kn_attrs conv_attrs(int pad)
{
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    for (int i = 0; i < 2; i++)
        a.window.pad_begin[i] = a.window.pad_end[i] = pad;
    return a;
}

/* Producer `op` reading x of shape [2,3,5,5] (or [4,6] for Gemm/MatMul) into value "p_out". */
static int build_producer(fx *f, kn_op op, int *x)
{
    switch (op) {
    case KN_OP_CONV: {
        *x = fx_input(f, "x", kn_test_shape(4, 2, 3, 5, 5));
        kn_attrs a = conv_attrs(1);
        return fx_node(f, "conv_1", op, &a, "p_out", 3, *x, fx_weight(f, "w", kn_test_shape(4, 4, 3, 3, 3)),
                       fx_weight(f, "b", kn_test_shape(1, 4)));
    }
    case KN_OP_CONV_TRANSPOSE: {
        *x = fx_input(f, "x", kn_test_shape(4, 2, 3, 5, 5));
        kn_attrs a;
        kn_attrs_init(op, &a);
        a.window.stride[0] = a.window.stride[1] = 2;
        return fx_node(f, "convt_1", op, &a, "p_out", 3, *x, fx_weight(f, "w", kn_test_shape(4, 3, 4, 3, 3)),
                       fx_weight(f, "b", kn_test_shape(1, 4)));
    }
    case KN_OP_GEMM: {
        *x = fx_input(f, "x", kn_test_shape(2, 4, 6));
        kn_attrs a;
        kn_attrs_init(op, &a);
        a.gemm.trans_b = true;
        return fx_node(f, "gemm_1", op, &a, "p_out", 3, *x, fx_weight(f, "w", kn_test_shape(2, 5, 6)),
                       fx_weight(f, "b", kn_test_shape(1, 5)));
    }
    default:
        *x = fx_input(f, "x", kn_test_shape(3, 2, 4, 6));
        return fx_node(f, "matmul_1", op, NULL, "p_out", 2, *x, fx_weight(f, "w", kn_test_shape(2, 6, 5)));
    }
}

/* ------------------------------------------------------------------ tests */

/* Every producer with every activation: one node left, same outputs, explained. */
static void test_fuse_every_activation(void **state)
{
    (void)state;
    const kn_op producers[] = {KN_OP_CONV, KN_OP_CONV_TRANSPOSE, KN_OP_GEMM, KN_OP_MATMUL};
    const kn_op acts[] = {KN_OP_RELU,    KN_OP_LEAKY_RELU,   KN_OP_CLIP, KN_OP_SIGMOID,
                          KN_OP_TANH,    KN_OP_HARD_SWISH,   KN_OP_ELU,  KN_OP_HARD_SIGMOID};
    for (size_t p = 0; p < sizeof producers / sizeof producers[0]; p++) {
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            fx f;
            fx_init(&f);
            int x;
            int h = build_producer(&f, producers[p], &x);
            kn_attrs at;
            kn_attrs_init(acts[a], &at);
            int y;
            if (acts[a] == KN_OP_CLIP) /* relu6 */
                y = fx_node(&f, "act_1", acts[a], &at, "y", 3, h, fx_scalar(&f, "lo", 0.0f),
                            fx_scalar(&f, "hi", 0.5f));
            else {
                if (acts[a] == KN_OP_LEAKY_RELU)
                    at.scalar.alpha = 0.3f;
                if (acts[a] == KN_OP_ELU)
                    at.scalar.alpha = 0.7f;
                y = fx_node(&f, "act_1", acts[a], &at, "y", 1, h);
            }
            fx_output(&f, y);
            fx_finish(&f);
            assert_int_equal(live_nodes(&f.g), 2);
            kn_graph fused;
            char *text = fuse_and_compare(&f, false, true, NULL, 1, &fused);
            const kn_node *n = &fused.nodes[0];
            assert_int_equal(n->op, producers[p]);
            assert_int_equal(n->fused.activation, acts[a]);
            assert_int_equal(n->fused.residual, -1);
            assert_int_equal(n->outputs[0], fused.outputs[0]);
            char want[160];
            snprintf(want, sizeof want, "fuse_activation: fused %s 'act_1' into %s '%s'\n", kn_op_get(acts[a])->name,
                     kn_op_get(producers[p])->name, n->name);
            assert_string_equal(text, want);
            if (acts[a] == KN_OP_CLIP) {
                assert_true(n->fused.act.min == 0.0f && n->fused.act.max == 0.5f);
                assert_int_equal(fused.num_values, 4 + (producers[p] == KN_OP_MATMUL ? -1 : 0)); /* bounds dropped */
            }
            free(text);
            kn_graph_free(&fused);
            kn_graph_free(&f.g);
        }
    }
}

/* The example, with the producer's output read twice elsewhere. */
static void test_explain_fused_and_unfused(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 6, 6));
    kn_attrs a = conv_attrs(1);
    int c3 = fx_node(&f, "conv_3", KN_OP_CONV, &a, "c3", 3, x, fx_weight(&f, "w3", kn_test_shape(4, 3, 3, 3, 3)),
                     fx_weight(&f, "b3", kn_test_shape(1, 3)));
    int r3 = fx_node(&f, "relu_3", KN_OP_RELU, NULL, "r3", 1, c3);
    int c5 = fx_node(&f, "conv_5", KN_OP_CONV, &a, "c5", 2, r3, fx_weight(&f, "w5", kn_test_shape(4, 3, 3, 3, 3)));
    int r5 = fx_node(&f, "relu_5", KN_OP_RELU, NULL, "r5", 1, c5);
    int s5 = fx_node(&f, "sig_5", KN_OP_SIGMOID, NULL, "s5", 1, c5);
    int y = fx_node(&f, "add_5", KN_OP_ADD, NULL, "y", 2, r5, s5);
    fx_output(&f, y);
    fx_finish(&f);
    char *text = fuse_and_compare(&f, false, true, NULL, 5, NULL);
    assert_string_equal(text, "fuse_activation: fused Relu 'relu_3' into Conv 'conv_3'\n"
                              "fuse_activation: Relu 'relu_5' not fused into Conv 'conv_5': conv output has 2 readers\n"
                              "fuse_activation: Sigmoid 'sig_5' not fused into Conv 'conv_5': conv output has 2 "
                              "readers\n");
    free(text);
    kn_graph_free(&f.g);
}

/* SiLU x * sigmoid(x) after a Gemm is left alone. */
static void test_silu_not_fused(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x;
    int h = build_producer(&f, KN_OP_GEMM, &x);
    int s = fx_node(&f, "sig", KN_OP_SIGMOID, NULL, "s", 1, h);
    fx_output(&f, fx_node(&f, "mul", KN_OP_MUL, NULL, "y", 2, h, s));
    fx_finish(&f);
    char *text = fuse_and_compare(&f, true, true, NULL, 3, NULL);
    assert_string_equal(text, "fuse_activation: Sigmoid 'sig' not fused into Gemm 'gemm_1': gemm output has 2 readers\n");
    free(text);
    kn_graph_free(&f.g);
}

/*
 * Mul(h, Sigmoid(h)) in either order becomes Swish(h), which then fuses
 * into the Conv: one node, same outputs. With the Sigmoid's output also a
 * graph output, nothing is formed and the reason is explained.
 */
static void test_swish(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        fx f;
        fx_init(&f);
        int x;
        int h = build_producer(&f, KN_OP_CONV, &x);
        int s = fx_node(&f, "sig", KN_OP_SIGMOID, NULL, "s", 1, h);
        int y = variant == 1 ? fx_node(&f, "mul", KN_OP_MUL, NULL, "y", 2, s, h)
                             : fx_node(&f, "mul", KN_OP_MUL, NULL, "y", 2, h, s);
        fx_output(&f, y);
        if (variant == 2)
            fx_output(&f, s);
        fx_finish(&f);
        kn_error err = {0};
        kn_graph g;
        assert_int_equal(kn_graph_clone(&f.g, &g, &err), KN_OK);
        explain_buf b;
        kn_pass_ctx ctx;
        explain_open(&b, &ctx);
        bool changed = false;
        assert_int_equal(kn_pass_fuse_swish(&g, &ctx, &changed, &err), KN_OK);
        assert_int_equal(changed, variant != 2);
        assert_int_equal(kn_pass_fuse_activation(&g, &ctx, &changed, &err), KN_OK);
        assert_int_equal(kn_pass_dce(&g, &ctx, &changed, &err), KN_OK);
        if (kn_graph_verify(&g, true, &err) != KN_OK)
            fail_msg("verify: %s", err.message);
        const char *text = explain_text(&b);
        if (variant == 2) {
            assert_int_equal(live_nodes(&g), 3);
            assert_non_null(strstr(text, "fuse_swish: Mul 'mul' and Sigmoid 'sig' left alone: the Sigmoid's output "
                                         "is a graph output"));
        } else {
            assert_int_equal(live_nodes(&g), 1);
            assert_non_null(strstr(text, "fuse_swish: Mul 'mul' and Sigmoid 'sig' became Swish 'mul'"));
            assert_non_null(strstr(text, "fuse_activation: fused Swish 'mul' into Conv 'conv_1'"));
            for (int i = 0; i < g.num_nodes; i++)
                if (!g.nodes[i].dead)
                    assert_int_equal(g.nodes[i].fused.activation, KN_OP_SWISH);
        }
        size_t n0, n1;
        float *y0 = kn_test_run_ref(&f.g, 777ull, &n0), *y1 = kn_test_run_ref(&g, 777ull, &n1);
        assert_int_equal(n0, n1);
        float d = kn_test_max_abs_diff(y0, y1, n0);
        if (!(d <= 1e-6f))
            fail_msg("variant %d: Swish output differs by %g", variant, (double)d);
        free(y0);
        free(y1);
        explain_close(&b);
        kn_graph_free(&g);
        kn_graph_free(&f.g);
    }
}

/* Run pass `fn` on a copy of f's graph: it must leave `want` live nodes of which one is `op`, say `said`, and
 * give the same outputs as the unfused graph on the reference backend. */
static void check_pattern(fx *f, kn_status (*fn)(kn_graph *, const kn_pass_ctx *, bool *, kn_error *), int want,
                          kn_op op, const char *said)
{
    kn_error err = {0};
    kn_graph g;
    assert_int_equal(kn_graph_clone(&f->g, &g, &err), KN_OK);
    explain_buf b;
    kn_pass_ctx ctx;
    explain_open(&b, &ctx);
    bool changed = false;
    assert_int_equal(fn(&g, &ctx, &changed, &err), KN_OK);
    assert_int_equal(kn_pass_dce(&g, &ctx, &changed, &err), KN_OK);
    const char *text = explain_text(&b);
    if (!strstr(text, said))
        fail_msg("explain says:\n%s\nexpected: %s", text, said);
    assert_int_equal(live_nodes(&g), want);
    int found = 0;
    for (int i = 0; i < g.num_nodes; i++)
        found += !g.nodes[i].dead && g.nodes[i].op == op;
    assert_int_equal(found, 1);
    check_rewritten(f, &g, 2e-6f);
    explain_close(&b);
    kn_graph_free(&g);
}

/* The GELU spellings of PyTorch (x / sqrt2, 0.5 last) and TensorFlow (x * 1/sqrt2, 0.5 * x first) become Gelu;
 * Mul(x, Tanh(Softplus(x))) becomes Mish. */
static void test_fuse_gelu_mish(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        fx f;
        fx_init(&f);
        int x = fx_input(&f, "x", (kn_shape){.rank = 2, .dims = {3, 8}});
        if (variant == 2) {
            int sp = fx_node(&f, "sp", KN_OP_SOFTPLUS, NULL, "sp_y", 1, x);
            int th = fx_node(&f, "th", KN_OP_TANH, NULL, "th_y", 1, sp);
            fx_output(&f, fx_node(&f, "mish", KN_OP_MUL, NULL, "y", 2, th, x));
            fx_finish(&f);
            check_pattern(&f, kn_pass_fuse_mish, 1, KN_OP_MISH, "became Mish 'mish'");
            kn_graph_free(&f.g);
            continue;
        }
        int t = variant == 0 ? fx_node(&f, "div", KN_OP_DIV, NULL, "t", 2, x, fx_scalar(&f, "sqrt2", 1.4142135f))
                             : fx_node(&f, "scale", KN_OP_MUL, NULL, "t", 2, fx_scalar(&f, "isqrt2", 0.70710677f), x);
        int e = fx_node(&f, "erf", KN_OP_ERF, NULL, "e", 1, t);
        int a = fx_node(&f, "add", KN_OP_ADD, NULL, "a", 2, fx_scalar(&f, "one", 1.0f), e);
        int y;
        if (variant == 0) {
            int m = fx_node(&f, "mul", KN_OP_MUL, NULL, "m", 2, x, a);
            y = fx_node(&f, "half", KN_OP_MUL, NULL, "y", 2, m, fx_scalar(&f, "h", 0.5f));
        } else {
            int h = fx_node(&f, "half", KN_OP_MUL, NULL, "hx", 2, fx_scalar(&f, "h", 0.5f), x);
            y = fx_node(&f, "gelu", KN_OP_MUL, NULL, "y", 2, a, h);
        }
        fx_output(&f, y);
        fx_finish(&f);
        check_pattern(&f, kn_pass_fuse_gelu, 1, KN_OP_GELU, variant == 0 ? "became Gelu 'half'" : "became Gelu 'gelu'");
        kn_graph_free(&f.g);
    }
}

/* ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div over the last two axes, then Mul gamma and Add beta, becomes one
 * LayerNormalization; without gamma and beta it gets a ones gamma; a ReduceMean over a middle axis stays. */
static void test_fuse_layer_norm(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        fx f;
        fx_init(&f);
        int x = fx_input(&f, "x", (kn_shape){.rank = 3, .dims = {2, 3, 8}});
        kn_attrs r;
        kn_attrs_init(KN_OP_REDUCE_MEAN, &r);
        r.reduce.naxes = variant == 2 ? 1 : 2;
        r.reduce.axes[0] = variant == 2 ? 1 : -2;
        r.reduce.axes[1] = -1;
        int m = fx_node(&f, "mean", KN_OP_REDUCE_MEAN, &r, "m", 1, x);
        int d = fx_node(&f, "sub", KN_OP_SUB, NULL, "d", 2, x, m);
        int p = fx_node(&f, "pow", KN_OP_POW, NULL, "p", 2, d, fx_scalar(&f, "two", 2.0f));
        int v = fx_node(&f, "var", KN_OP_REDUCE_MEAN, &r, "v", 1, p);
        int e = fx_node(&f, "eps", KN_OP_ADD, NULL, "e", 2, v, fx_scalar(&f, "epsilon", 1e-3f));
        int s = fx_node(&f, "sqrt", KN_OP_SQRT, NULL, "s", 1, e);
        int y = fx_node(&f, "div", KN_OP_DIV, NULL, "n", 2, d, s);
        if (variant == 0) {
            y = fx_node(&f, "gamma", KN_OP_MUL, NULL, "gy", 2, y, fx_weight(&f, "g", (kn_shape){.rank = 2, .dims = {3, 8}}));
            y = fx_node(&f, "beta", KN_OP_ADD, NULL, "y", 2, fx_weight(&f, "b", (kn_shape){.rank = 3, .dims = {1, 3, 8}}), y);
        }
        fx_output(&f, y);
        fx_finish(&f);
        if (variant < 2) {
            check_pattern(&f, kn_pass_fuse_layer_norm, 1, KN_OP_LAYER_NORM,
                          variant == 0 ? "became LayerNormalization 'beta' (axis 1, epsilon 0.001)"
                                       : "became LayerNormalization 'div' (axis 1, epsilon 0.001)");
        } else {
            check_pattern(&f, kn_pass_fuse_layer_norm, 7, KN_OP_DIV, "left alone: the ReduceMeans do not both average "
                                                                    "the same trailing dimensions");
        }
        kn_graph_free(&f.g);
    }
}

/* The producer's output is itself a graph output: the activation stays. */
static void test_graph_output_not_fused(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x;
    int h = build_producer(&f, KN_OP_CONV, &x);
    int y = fx_node(&f, "relu", KN_OP_RELU, NULL, "y", 1, h);
    fx_output(&f, y);
    fx_output(&f, h);
    fx_finish(&f);
    char *text = fuse_and_compare(&f, false, true, NULL, 2, NULL);
    assert_string_equal(text,
                        "fuse_activation: Relu 'relu' not fused into Conv 'conv_1': conv output 'p_out' is a graph output\n");
    free(text);
    kn_graph_free(&f.g);
}

static int declines_called;

static bool decline_all(const kn_graph *g, const kn_node *p, kn_op act, bool residual, void *user)
{
    (void)g;
    (void)p;
    (void)act;
    (void)residual;
    assert_ptr_equal(user, &declines_called);
    declines_called++;
    return false;
}

/* A backend accepts Relu alone and a residual only without an activation. */
static bool picky(const kn_graph *g, const kn_node *p, kn_op act, bool residual, void *user)
{
    (void)g;
    (void)p;
    (void)user;
    return residual ? act == KN_OP_COUNT : act == KN_OP_RELU;
}

static void test_backend_declines(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x;
    int h = build_producer(&f, KN_OP_MATMUL, &x);
    fx_output(&f, fx_node(&f, "tanh_1", KN_OP_TANH, NULL, "y", 1, h));
    fx_finish(&f);
    kn_pass_ctx ctx = {.can_fuse = decline_all, .can_fuse_user = &declines_called};
    declines_called = 0;
    char *text = fuse_and_compare(&f, false, true, &ctx, 2, NULL);
    assert_int_equal(declines_called, 1);
    assert_string_equal(text, "fuse_activation: Tanh 'tanh_1' not fused into MatMul 'matmul_1': backend declines\n");
    free(text);
    kn_graph_free(&f.g);

    /* the kn_backend hook of the reference backend accepts everything */
    assert_non_null(kn_ref_backend.can_fuse);
    assert_true(kn_ref_backend.can_fuse(NULL, NULL, KN_OP_RELU, true));
}

/* conv -> relu -> sigmoid: the second activation finds the producer taken. */
static void test_chain_second_activation(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x;
    int h = build_producer(&f, KN_OP_CONV, &x);
    int r = fx_node(&f, "relu", KN_OP_RELU, NULL, "r", 1, h);
    fx_output(&f, fx_node(&f, "sig", KN_OP_SIGMOID, NULL, "y", 1, r));
    fx_finish(&f);
    char *text = fuse_and_compare(&f, false, true, NULL, 2, NULL);
    assert_string_equal(text, "fuse_activation: fused Relu 'relu' into Conv 'conv_1'\n"
                              "fuse_activation: Sigmoid 'sig' not fused into Conv 'conv_1': producer already has an "
                              "activation (Relu)\n");
    free(text);
    kn_graph_free(&f.g);
}

/* Clip whose max is a graph input: not known at compile time. */
static void test_clip_bound_not_constant(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x;
    int h = build_producer(&f, KN_OP_GEMM, &x);
    int hi = fx_input(&f, "hi", kn_test_shape(0));
    fx_output(&f, fx_node(&f, "clip", KN_OP_CLIP, NULL, "y", 3, h, -1, hi));
    fx_finish(&f);
    char *text = fuse_and_compare(&f, false, true, NULL, 2, NULL);
    assert_string_equal(text, "fuse_activation: Clip 'clip' not fused into Gemm 'gemm_1': max 'hi' is not a constant\n");
    free(text);
    kn_graph_free(&f.g);
}

/*
 * A residual block: x -> conv_a -> relu_a -> conv_b (no bias) -> add(+x) ->
 * relu_out. Residual, then activation fusion leaves two Convs.
 */
static void test_residual_block(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 2, 4, 6, 6));
    kn_attrs a = conv_attrs(1);
    int ca = fx_node(&f, "conv_a", KN_OP_CONV, &a, "ca", 3, x, fx_weight(&f, "wa", kn_test_shape(4, 4, 4, 3, 3)),
                     fx_weight(&f, "ba", kn_test_shape(1, 4)));
    int ra = fx_node(&f, "relu_a", KN_OP_RELU, NULL, "ra", 1, ca);
    int cb = fx_node(&f, "conv_b", KN_OP_CONV, &a, "cb", 2, ra, fx_weight(&f, "wb", kn_test_shape(4, 4, 4, 3, 3)));
    int s = fx_node(&f, "add", KN_OP_ADD, NULL, "s", 2, cb, x);
    fx_output(&f, fx_node(&f, "relu_out", KN_OP_RELU, NULL, "out", 1, s));
    fx_finish(&f);
    assert_int_equal(live_nodes(&f.g), 5);
    kn_graph fused;
    char *text = fuse_and_compare(&f, true, true, NULL, 2, &fused);
    assert_string_equal(text, "fuse_residual: fused Add 'add' into Conv 'conv_b' (residual 'x')\n"
                              "fuse_residual: fused Relu 'relu_out' into Conv 'conv_b' after the residual\n"
                              "fuse_activation: fused Relu 'relu_a' into Conv 'conv_a'\n");
    const kn_node *b = find_node(&fused, "conv_b");
    assert_non_null(b);
    assert_int_equal(b->num_inputs, 4);
    assert_int_equal(b->inputs[2], -1);
    assert_int_equal(b->fused.residual, 3);
    assert_string_equal(fused.values[b->inputs[3]].name, "x");
    assert_int_equal(b->fused.activation, KN_OP_RELU);
    assert_string_equal(fused.values[b->outputs[0]].name, "out");
    const kn_node *ca_node = find_node(&fused, "conv_a");
    assert_non_null(ca_node);
    assert_int_equal(ca_node->fused.activation, KN_OP_RELU);
    assert_int_equal(ca_node->fused.residual, -1);
    free(text);
    kn_graph_free(&fused);
    kn_graph_free(&f.g);
}

/*
 * Add(conv(x), skip) where the skip (a Sigmoid of x) comes after the Conv in
 * node order and the Conv sits in the Add's second slot: the graph is
 * re-sorted; a residual with a broadcast shape is explained instead.
 */
static void test_residual_order_and_shape(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 5, 5));
    kn_attrs a = conv_attrs(1);
    int c = fx_node(&f, "conv", KN_OP_CONV, &a, "c", 3, x, fx_weight(&f, "w", kn_test_shape(4, 3, 3, 3, 3)),
                    fx_weight(&f, "b", kn_test_shape(1, 3)));
    int sk = fx_node(&f, "skip", KN_OP_SIGMOID, NULL, "sk", 1, x);
    int s = fx_node(&f, "add", KN_OP_ADD, NULL, "s", 2, sk, c);
    int c2 = fx_node(&f, "conv2", KN_OP_CONV, &a, "c2", 3, s, fx_weight(&f, "w2", kn_test_shape(4, 3, 3, 3, 3)),
                     fx_weight(&f, "b2", kn_test_shape(1, 3)));
    int bias = fx_weight(&f, "chan", kn_test_shape(4, 1, 3, 1, 1));
    int s2 = fx_node(&f, "add2", KN_OP_ADD, NULL, "s2", 2, c2, bias);
    fx_output(&f, fx_node(&f, "relu", KN_OP_RELU, NULL, "y", 1, s2));
    fx_finish(&f);
    kn_graph fused;
    char *text = fuse_and_compare(&f, true, true, NULL, 5, &fused);
    assert_string_equal(text, "fuse_residual: fused Add 'add' into Conv 'conv' (residual 'sk')\n"
                              "fuse_residual: Add 'add2' not fused into Conv 'conv2': residual 'chan' has shape "
                              "[1,3,1,1], not the conv output's [1,3,5,5] (no broadcasting)\n");
    /* topological order: the skip now precedes the Conv that reads it */
    const kn_node *sk_node = find_node(&fused, "skip"), *cv = find_node(&fused, "conv");
    assert_true(sk_node < cv);
    assert_int_equal(cv->num_inputs, 4);
    assert_int_equal(cv->fused.residual, 3);
    free(text);
    kn_graph_free(&fused);
    kn_graph_free(&f.g);
}

/* Residual fusion declined by the backend, or only without the activation. */
static void test_residual_backend(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        fx f;
        fx_init(&f);
        int x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 4, 4));
        kn_attrs a = conv_attrs(1);
        int c = fx_node(&f, "conv", KN_OP_CONV, &a, "c", 2, x, fx_weight(&f, "w", kn_test_shape(4, 3, 3, 3, 3)));
        int s = fx_node(&f, "add", KN_OP_ADD, NULL, "s", 2, c, x);
        fx_output(&f, fx_node(&f, "relu", KN_OP_RELU, NULL, "y", 1, s));
        fx_finish(&f);
        kn_pass_ctx ctx = {.can_fuse = k ? picky : decline_all, .can_fuse_user = &declines_called};
        char *text = fuse_and_compare(&f, true, true, &ctx, k ? 2 : 3, NULL);
        if (k)
            assert_string_equal(text, "fuse_residual: fused Add 'add' into Conv 'conv' (residual 'x')\n"
                                      "fuse_residual: Relu 'relu' not fused into Conv 'conv' after the residual: "
                                      "backend declines\n"
                                      "fuse_activation: Relu 'relu' not fused into Conv 'conv': backend declines\n");
        else
            assert_string_equal(text, "fuse_residual: Add 'add' not fused into Conv 'conv': backend declines\n");
        free(text);
        kn_graph_free(&f.g);
    }
}

/* conv -> relu -> add: activation first blocks the residual (it would be added after the relu). */
static void test_residual_after_activation(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 4, 4));
    kn_attrs a = conv_attrs(1);
    int c = fx_node(&f, "conv", KN_OP_CONV, &a, "c", 2, x, fx_weight(&f, "w", kn_test_shape(4, 3, 3, 3, 3)));
    int r = fx_node(&f, "relu", KN_OP_RELU, NULL, "r", 1, c);
    fx_output(&f, fx_node(&f, "add", KN_OP_ADD, NULL, "y", 2, r, x));
    fx_finish(&f);
    kn_graph g1;
    char *text = fuse_and_compare(&f, false, true, NULL, 2, &g1);
    free(text);
    /* now run residual fusion on the activation-fused graph */
    fx f2 = f;
    f2.g = g1;
    text = fuse_and_compare(&f2, true, false, NULL, 2, NULL);
    assert_string_equal(text, "fuse_residual: Add 'add' not fused into Conv 'conv': producer already has an "
                              "activation (Relu), which must come after the residual\n");
    free(text);
    kn_graph_free(&g1);
    kn_graph_free(&f.g);
}

/* The Conv shape rule takes the fused residual slot and checks it. */
/*
 * Fire-module shapes: Relu(Conv 1x1) and Relu(Conv 3x3) concatenated, max-pooled, then a 1x1 Conv (+Relu):
 * distribute_concat pools each source and splits the Conv into two summed Convs, which residual fusion joins;
 * a second Concat of the same sources read by a Sigmoid is kept, with the reason. Same outputs.
 */
static void test_distribute_concat(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 2, 4, 6, 6));
    kn_attrs a1 = conv_attrs(0), a3 = conv_attrs(1), cat, mp;
    kn_attrs_init(KN_OP_CONCAT, &cat);
    cat.axis.axis = 1;
    kn_attrs_init(KN_OP_MAX_POOL, &mp);
    mp.window.nspatial = 2;
    mp.window.kernel[0] = mp.window.kernel[1] = mp.window.stride[0] = mp.window.stride[1] = 2;
    int e1 = fx_node(&f, "e1", KN_OP_RELU, NULL, "e1_out", 1,
                     fx_node(&f, "c1", KN_OP_CONV, &a1, "c1_out", 2, x, fx_weight(&f, "w1", kn_test_shape(4, 3, 4, 1, 1))));
    int e3 = fx_node(&f, "e3", KN_OP_RELU, NULL, "e3_out", 1,
                     fx_node(&f, "c3", KN_OP_CONV, &a3, "c3_out", 2, x, fx_weight(&f, "w3", kn_test_shape(4, 5, 4, 3, 3))));
    int c = fx_node(&f, "cat", KN_OP_CONCAT, &cat, "cat_out", 2, e1, e3);
    int p = fx_node(&f, "pool", KN_OP_MAX_POOL, &mp, "pool_out", 1, c);
    int y = fx_node(&f, "sq", KN_OP_CONV, &a1, "sq_out", 3, p, fx_weight(&f, "wsq", kn_test_shape(4, 2, 8, 1, 1)),
                    fx_weight(&f, "bsq", kn_test_shape(1, 2)));
    fx_output(&f, fx_node(&f, "sq_relu", KN_OP_RELU, NULL, "out", 1, y));
    int c2 = fx_node(&f, "cat2", KN_OP_CONCAT, &cat, "cat2_out", 2, e1, e3);
    fx_output(&f, fx_node(&f, "sig", KN_OP_SIGMOID, NULL, "out2", 1, c2));
    fx_finish(&f);
    assert_int_equal(live_nodes(&f.g), 10);
    g_distribute = true;
    kn_graph fused;
    char *text = fuse_and_compare(&f, true, true, NULL, 8, &fused);
    g_distribute = false;
    assert_non_null(strstr(text, "distribute_concat: MaxPool 'pool' moved before Concat 'cat' (2 poolings"));
    assert_non_null(strstr(text, "distribute_concat: Conv 'sq' over Concat 'cat/pooled' split into 2 convolutions"));
    assert_non_null(strstr(text, "distribute_concat: Concat 'cat2' kept: a reader is not a Conv"));
    assert_non_null(strstr(text, "fuse_residual: fused Add 'sq/sum1' into Conv 'sq/part0'"));
    for (int i = 0; i < fused.num_nodes; i++)
        if (!fused.nodes[i].dead && fused.nodes[i].op == KN_OP_CONCAT)
            assert_string_equal(fused.nodes[i].name, "cat2");
    const kn_node *sq = find_node(&fused, "sq/part0");
    assert_non_null(sq);
    assert_int_equal(sq->fused.residual, 3);
    assert_int_equal(sq->fused.activation, KN_OP_RELU);
    assert_string_equal(fused.values[sq->outputs[0]].name, "out");
    free(text);
    kn_graph_free(&fused);

    /* a training graph's weights change every step: nothing to slice */
    kn_graph train;
    assert_int_equal(kn_graph_clone(&f.g, &train, &f.err), KN_OK);
    train.variables = true;
    bool changed = false;
    kn_pass_ctx ctx = {0};
    assert_int_equal(kn_pass_distribute_concat(&train, &ctx, &changed, &f.err), KN_OK);
    assert_false(changed);
    assert_int_equal(live_nodes(&train), 10);
    kn_graph_free(&train);
    kn_graph_free(&f.g);
}

/* A Concat whose reader's output is bigger than the concat stays (the sums would move more bytes). */
static void test_distribute_concat_kept(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 1, 2, 5, 5));
    kn_attrs a1 = conv_attrs(0), cat;
    kn_attrs_init(KN_OP_CONCAT, &cat);
    cat.axis.axis = -3;
    int c = fx_node(&f, "cat", KN_OP_CONCAT, &cat, "cat_out", 2, x, fx_node(&f, "neg", KN_OP_NEG, NULL, "nx", 1, x));
    fx_output(&f, fx_node(&f, "wide", KN_OP_CONV, &a1, "y", 2, c, fx_weight(&f, "w", kn_test_shape(4, 16, 4, 1, 1))));
    fx_finish(&f);
    g_distribute = true;
    char *text = fuse_and_compare(&f, true, true, NULL, 3, NULL);
    g_distribute = false;
    assert_string_equal(text, "distribute_concat: Concat 'cat' kept: the sums would move more bytes than the copy\n");
    free(text);
    kn_graph_free(&f.g);
}

/* A pass run on a clone of f's graph: valid after it, `changed` as wanted, the same outputs (1e-5); explanations. */
static char *pass_and_compare(fx *f, kn_status (*pass)(kn_graph *, const kn_pass_ctx *, bool *, kn_error *),
                              bool want_changed, kn_graph *out)
{
    kn_error err = {0};
    kn_graph g;
    assert_int_equal(kn_graph_clone(&f->g, &g, &err), KN_OK);
    explain_buf b;
    kn_pass_ctx ctx;
    explain_open(&b, &ctx);
    bool changed = false;
    if (pass(&g, &ctx, &changed, &err) != KN_OK)
        fail_msg("pass: %s", err.message);
    assert_int_equal(changed, want_changed);
    check_rewritten(f, &g, 1e-5f);
    char *text = strdup(explain_text(&b));
    explain_close(&b);
    if (out)
        *out = g;
    else
        kn_graph_free(&g);
    return text;
}

static kn_attrs avg_pool_attrs(int k, int s, int pad)
{
    kn_attrs a;
    kn_attrs_init(KN_OP_AVERAGE_POOL, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        a.window.kernel[i] = k;
        a.window.stride[i] = s;
        a.window.pad_begin[i] = a.window.pad_end[i] = pad;
    }
    return a;
}

/*
 * DenseNet's transition (Conv 1x1 + bias, AveragePool 2x2 stride 2) and a Conv 1x1 + GlobalAveragePool: both
 * poolings move before their Conv (which then reads the pooled input and writes the pooling's output), the
 * outputs are unchanged. Kept, with reasons: a padded window, a 3x3 Conv, a Conv read twice, a ceil_mode
 * partial window.
 */
static void test_pool_first(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 2, 6, 8, 8));
    kn_attrs a1 = conv_attrs(0), a3 = conv_attrs(1), p2 = avg_pool_attrs(2, 2, 0), gap;
    kn_attrs_init(KN_OP_GLOBAL_AVERAGE_POOL, &gap);
    int c = fx_node(&f, "conv", KN_OP_CONV, &a1, "conv_out", 3, x, fx_weight(&f, "w", kn_test_shape(4, 4, 6, 1, 1)),
                    fx_weight(&f, "b", kn_test_shape(1, 4)));
    fx_output(&f, fx_node(&f, "pool", KN_OP_AVERAGE_POOL, &p2, "y", 1, c));
    int cg = fx_node(&f, "conv_g", KN_OP_CONV, &a1, "cg_out", 2, x, fx_weight(&f, "wg", kn_test_shape(4, 3, 6, 1, 1)));
    fx_output(&f, fx_node(&f, "gap", KN_OP_GLOBAL_AVERAGE_POOL, &gap, "yg", 1, cg));
    fx_finish(&f);
    kn_graph g;
    char *text = pass_and_compare(&f, kn_pass_pool_first, true, &g);
    assert_non_null(strstr(text, "pool_first: AveragePool 'pool' moved before the 1x1 Conv 'conv' (the Conv then "
                                 "sees 16 of 64 pixels)"));
    assert_non_null(strstr(text, "pool_first: GlobalAveragePool 'gap' moved before the 1x1 Conv 'conv_g'"));
    assert_int_equal(live_nodes(&g), 4);
    const kn_node *pool = find_node(&g, "pool"), *conv = find_node(&g, "conv");
    assert_non_null(pool);
    assert_non_null(conv);
    assert_string_equal(g.values[pool->inputs[0]].name, "x");
    assert_int_equal(conv->inputs[0], pool->outputs[0]);
    assert_string_equal(g.values[conv->outputs[0]].name, "y");
    assert_int_equal(g.values[pool->outputs[0]].shape.dims[1], 6);
    free(text);
    kn_graph_free(&g);
    kn_graph_free(&f.g);

    fx_init(&f);
    x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 7, 7));
    kn_attrs padded = avg_pool_attrs(3, 2, 1), ceil = avg_pool_attrs(2, 2, 0);
    ceil.window.ceil_mode = true;
    c = fx_node(&f, "c1", KN_OP_CONV, &a1, "c1_out", 2, x, fx_weight(&f, "w1", kn_test_shape(4, 2, 3, 1, 1)));
    fx_output(&f, fx_node(&f, "padded", KN_OP_AVERAGE_POOL, &padded, "y1", 1, c));
    c = fx_node(&f, "c3", KN_OP_CONV, &a3, "c3_out", 2, x, fx_weight(&f, "w3", kn_test_shape(4, 2, 3, 3, 3)));
    fx_output(&f, fx_node(&f, "after3x3", KN_OP_AVERAGE_POOL, &p2, "y2", 1, c));
    c = fx_node(&f, "c_twice", KN_OP_CONV, &a1, "ct_out", 2, x, fx_weight(&f, "wt", kn_test_shape(4, 2, 3, 1, 1)));
    fx_output(&f, fx_node(&f, "read_twice", KN_OP_AVERAGE_POOL, &p2, "y3", 1, c));
    fx_output(&f, fx_node(&f, "neg", KN_OP_NEG, NULL, "y4", 1, c));
    c = fx_node(&f, "c_ceil", KN_OP_CONV, &a1, "cc_out", 2, x, fx_weight(&f, "wc", kn_test_shape(4, 2, 3, 1, 1)));
    fx_output(&f, fx_node(&f, "ceil", KN_OP_AVERAGE_POOL, &ceil, "y5", 1, c));
    fx_finish(&f);
    text = pass_and_compare(&f, kn_pass_pool_first, false, NULL);
    assert_non_null(strstr(text, "AveragePool 'padded' stays after Conv 'c1': a window reaches past the input"));
    assert_non_null(strstr(text, "AveragePool 'after3x3' stays after Conv 'c3': the Conv is not 1x1 with stride 1"));
    assert_non_null(strstr(text, "AveragePool 'read_twice' stays after Conv 'c_twice': the Conv's output has other "
                                 "readers"));
    assert_non_null(strstr(text, "AveragePool 'ceil' stays after Conv 'c_ceil': a window reaches past the input"));
    free(text);
    kn_graph_free(&f.g);
}

static void test_conv_shape_rule_residual(void **state)
{
    (void)state;
    fx f;
    fx_init(&f);
    int x = fx_input(&f, "x", kn_test_shape(4, 1, 3, 4, 4));
    int bad = fx_input(&f, "bad", kn_test_shape(4, 1, 3, 4, 5));
    kn_attrs a = conv_attrs(1);
    fx_output(&f, fx_node(&f, "conv", KN_OP_CONV, &a, "y", 4, x,
                          fx_weight(&f, "w", kn_test_shape(4, 3, 3, 3, 3)), -1, bad));
    kn_error err = {0};
    bool changed;
    /* a 4th input without the annotation is refused */
    assert_int_equal(kn_pass_infer_and_fold(&f.g, NULL, &changed, &err), KN_ERR_GRAPH);
    assert_non_null(strstr(err.message, "fused residual"));
    /* with it, the shape must match the output */
    f.g.nodes[0].fused.residual = 3;
    assert_int_equal(kn_pass_infer_and_fold(&f.g, NULL, &changed, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "'bad'"));
    f.g.nodes[0].inputs[3] = x;
    assert_int_equal(kn_pass_infer_and_fold(&f.g, NULL, &changed, &err), KN_OK);
    kn_graph_free(&f.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuse_every_activation),
        cmocka_unit_test(test_explain_fused_and_unfused),
        cmocka_unit_test(test_silu_not_fused),
        cmocka_unit_test(test_swish),
        cmocka_unit_test(test_fuse_gelu_mish),
        cmocka_unit_test(test_fuse_layer_norm),
        cmocka_unit_test(test_graph_output_not_fused),
        cmocka_unit_test(test_backend_declines),
        cmocka_unit_test(test_chain_second_activation),
        cmocka_unit_test(test_clip_bound_not_constant),
        cmocka_unit_test(test_residual_block),
        cmocka_unit_test(test_residual_order_and_shape),
        cmocka_unit_test(test_residual_backend),
        cmocka_unit_test(test_residual_after_activation),
        cmocka_unit_test(test_conv_shape_rule_residual),
        cmocka_unit_test(test_distribute_concat),
        cmocka_unit_test(test_distribute_concat_kept),
        cmocka_unit_test(test_pool_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
