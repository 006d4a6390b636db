/*
 * test_passes.c - the simplification passes (Identity/Dropout removal, CSE,
 * Transpose and Reshape pairs, MatMul + Add into Gemm), BatchNormalization
 * folding and the pass manager, on small hand-built graphs: node counts
 * before and after, and outputs equal to the unoptimized graph's on the
 * reference backend within 1e-5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ir.h"
#include "passes.h"
#include "ref.h"
#include "testutil.h"

typedef struct tg {
    kn_graph g;
    uint64_t rng;
    kn_error err;
} tg;

static void tg_init(tg *t)
{
    memset(t, 0, sizeof *t);
    kn_graph_init(&t->g);
    t->rng = 0x243f6a8885a308d3ull;
}

static kn_shape S(int rank, ...)
{
    kn_shape s = {.rank = rank};
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        s.dims[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

static int tg_input(tg *t, const char *name, kn_shape s)
{
    int id;
    assert_int_equal(kn_graph_add_value(&t->g, name, KN_F32, &s, KN_VALUE_INPUT, NULL, &id, &t->err), KN_OK);
    assert_int_equal(kn_graph_add_input(&t->g, id, &t->err), KN_OK);
    return id;
}

/* A float32 weight of values uniform in [lo, hi). */
static int tg_weight(tg *t, const char *name, kn_shape s, float lo, float hi)
{
    size_t n;
    assert_int_equal(kn_shape_numel(&s, &n), KN_OK);
    float *d = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(d);
    kn_test_fill(&t->rng, d, n, lo, hi);
    int id;
    assert_int_equal(kn_graph_add_value(&t->g, name, KN_F32, &s, KN_VALUE_PARAM, d, &id, &t->err), KN_OK);
    return id;
}

static int tg_ints(tg *t, const char *name, int n, const int64_t *v)
{
    int64_t *d = malloc(sizeof(int64_t) * (size_t)n);
    assert_non_null(d);
    memcpy(d, v, sizeof(int64_t) * (size_t)n);
    kn_shape s = {1, {n}};
    int id;
    assert_int_equal(kn_graph_add_value(&t->g, name, KN_I64, &s, KN_VALUE_CONST, d, &id, &t->err), KN_OK);
    return id;
}

/* Node `name` writing a new value `out`; returns the value. */
static int tg_node(tg *t, const char *name, kn_op op, const kn_attrs *attrs, const char *out, int nin, ...)
{
    int in[8], y, id;
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, int);
    va_end(ap);
    kn_shape s = {0};
    assert_int_equal(kn_graph_add_value(&t->g, out, KN_F32, &s, KN_VALUE_INTERMEDIATE, NULL, &y, &t->err), KN_OK);
    kn_attrs a;
    if (attrs)
        a = *attrs;
    else
        kn_attrs_init(op, &a);
    assert_int_equal(kn_graph_add_node(&t->g, name, op, in, nin, &y, 1, &a, &id, &t->err), KN_OK);
    return y;
}

static void tg_output(tg *t, int v)
{
    assert_int_equal(kn_graph_add_output(&t->g, v, &t->err), KN_OK);
}

/* BatchNormalization of `x` over `c` channels with random statistics. */
static int tg_bn(tg *t, const char *name, int x, int c, const char *out)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s.scale", name);
    int sc = tg_weight(t, buf, S(1, c), 0.5f, 1.5f);
    snprintf(buf, sizeof buf, "%s.bias", name);
    int b = tg_weight(t, buf, S(1, c), -1.0f, 1.0f);
    snprintf(buf, sizeof buf, "%s.mean", name);
    int m = tg_weight(t, buf, S(1, c), -0.5f, 0.5f);
    snprintf(buf, sizeof buf, "%s.var", name);
    int v = tg_weight(t, buf, S(1, c), 0.5f, 2.0f);
    return tg_node(t, name, KN_OP_BATCH_NORM, NULL, out, 5, x, sc, b, m, v);
}

/* Shapes inferred, as the pipeline has them before simplification. */
static void tg_finish(tg *t)
{
    bool changed = false;
    assert_int_equal(kn_graph_verify(&t->g, false, &t->err), KN_OK);
    if (kn_pass_infer_and_fold(&t->g, NULL, &changed, &t->err) != KN_OK)
        fail_msg("%s", t->err.message);
    assert_int_equal(kn_graph_verify(&t->g, true, &t->err), KN_OK);
}

static int count_op(const kn_graph *g, kn_op op)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op;
    return n;
}

typedef kn_status (*pass_fn)(kn_graph *, const kn_pass_ctx *, bool *, kn_error *);

/*
 * Run `pass` (then dce) on a copy of t's graph; check the node count before
 * and after, that the output keeps its name, and that the output equals the
 * unoptimized graph's within 1e-5. The explanation text is returned
 * (malloc'd) and the optimized graph left in *opt.
 */
static char *optimize_and_compare(tg *t, pass_fn pass, int want_before, int want_after, bool want_changed,
                                  kn_graph *opt)
{
    tg_finish(t);
    assert_int_equal(kn_graph_live_nodes(&t->g), want_before);
    assert_int_equal(kn_graph_clone(&t->g, opt, &t->err), KN_OK);
    char *text = NULL;
    size_t len = 0;
    kn_pass_ctx ctx = {0};
    ctx.explain = open_memstream(&text, &len);
    assert_non_null(ctx.explain);
    bool changed = false, dce_changed = false;
    if (pass(opt, &ctx, &changed, &t->err) != KN_OK || kn_pass_dce(opt, &ctx, &dce_changed, &t->err) != KN_OK)
        fail_msg("%s", t->err.message);
    fclose(ctx.explain);
    if (kn_graph_verify(opt, true, &t->err) != KN_OK)
        fail_msg("after the pass: %s", t->err.message);
    assert_int_equal(changed, want_changed);
    if (kn_graph_live_nodes(opt) != want_after)
        fail_msg("%d nodes after the pass, want %d; explanation:\n%s", kn_graph_live_nodes(opt), want_after, text);
    assert_string_equal(opt->values[opt->outputs[0]].name, t->g.values[t->g.outputs[0]].name);
    size_t na, nb;
    float *a = kn_test_run_ref(&t->g, 777ull, &na), *b = kn_test_run_ref(opt, 777ull, &nb);
    assert_int_equal(na, nb);
    assert_true(kn_test_allclose(b, a, na, 1e-5f, 1e-5f));
    free(a);
    free(b);
    return text;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("expected \"%s\" in:\n%s", want, text);
}

/* ------------------------------------------------ Identity and Dropout */

static void test_identity_and_dropout(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(2, 3, 4));
    int a = tg_node(&t, "id_1", KN_OP_IDENTITY, NULL, "a", 1, x);
    int r = tg_node(&t, "relu", KN_OP_RELU, NULL, "r", 1, a);
    int d = tg_node(&t, "drop", KN_OP_DROPOUT, NULL, "d", 1, r);
    int y = tg_node(&t, "id_out", KN_OP_IDENTITY, NULL, "y", 1, d);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_remove_identity, 4, 1, true, &opt);
    assert_contains(text, "remove_identity: removed Identity 'id_1'");
    assert_contains(text, "remove_identity: removed Dropout 'drop'");
    assert_contains(text, "remove_identity: removed Identity 'id_out'");
    /* The Relu now writes the graph output "y" itself. */
    assert_int_equal(opt.nodes[0].op, KN_OP_RELU);
    assert_string_equal(opt.values[opt.nodes[0].outputs[0]].name, "y");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_identity_input_to_output_kept(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(1, 5));
    int y = tg_node(&t, "copy", KN_OP_IDENTITY, NULL, "y", 1, x);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_remove_identity, 1, 1, false, &opt);
    assert_contains(text, "kept Identity 'copy'");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* Pad with all-zero pads and one-input Concat copy their input (DenseNet's transitions as PyTorch exports them);
 * a Pad with a nonzero pad stays */
static void test_zero_pad_and_single_concat(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 3, 4, 4));
    const int64_t zeros[8] = {0}, ones[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    int p0 = tg_node(&t, "pad0", KN_OP_PAD, NULL, "p0", 2, x, tg_ints(&t, "zero_pads", 8, zeros));
    int r = tg_node(&t, "relu", KN_OP_RELU, NULL, "r", 1, p0);
    int c = tg_node(&t, "cat1", KN_OP_CONCAT, NULL, "c", 1, r);
    int y = tg_node(&t, "pad1", KN_OP_PAD, NULL, "y", 2, c, tg_ints(&t, "one_pads", 8, ones));
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_remove_identity, 4, 2, true, &opt);
    assert_contains(text, "remove_identity: removed Pad 'pad0'");
    assert_contains(text, "remove_identity: removed Concat 'cat1'");
    assert_int_equal(count_op(&opt, KN_OP_PAD), 1);
    assert_int_equal(count_op(&opt, KN_OP_CONCAT), 0);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* A Slice with every step 1 whose output is its whole input copies it (Swin-T's window merge, as PyTorch exports it):
 * removed, with and without steps given; a reversing Slice (step -1, the same shape) and a partial one stay */
static void test_whole_tensor_slice(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 3, 4, 4));
    const int64_t zero2[2] = {0, 0}, big2[2] = {INT64_MAX, 1000}, axes2[2] = {2, 3}, one2[2] = {1, 1};
    const int64_t neg1[1] = {-1}, lowest[1] = {INT64_MIN}, ax3[1] = {3}, mneg[1] = {-1};
    const int64_t zero1[1] = {0}, three[1] = {3}, ax2[1] = {2};
    int s0 = tg_node(&t, "whole_steps", KN_OP_SLICE, NULL, "s0", 5, x, tg_ints(&t, "st0", 2, zero2),
                     tg_ints(&t, "en0", 2, big2), tg_ints(&t, "ax0", 2, axes2), tg_ints(&t, "sp0", 2, one2));
    int r = tg_node(&t, "relu", KN_OP_RELU, NULL, "r", 1, s0);
    int s1 = tg_node(&t, "whole", KN_OP_SLICE, NULL, "s1", 4, r, tg_ints(&t, "st1", 2, zero2),
                     tg_ints(&t, "en1", 2, big2), tg_ints(&t, "ax1", 2, axes2));
    int s2 = tg_node(&t, "reverse", KN_OP_SLICE, NULL, "s2", 5, s1, tg_ints(&t, "st2", 1, neg1),
                     tg_ints(&t, "en2", 1, lowest), tg_ints(&t, "ax2", 1, ax3), tg_ints(&t, "sp2", 1, mneg));
    int y = tg_node(&t, "part", KN_OP_SLICE, NULL, "y", 4, s2, tg_ints(&t, "st3", 1, zero1),
                    tg_ints(&t, "en3", 1, three), tg_ints(&t, "ax3", 1, ax2));
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_remove_identity, 5, 3, true, &opt);
    assert_contains(text, "remove_identity: removed Slice 'whole_steps'");
    assert_contains(text, "remove_identity: removed Slice 'whole'");
    assert_int_equal(count_op(&opt, KN_OP_SLICE), 2);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* ---------------------------------------------------------------- CSE */

static kn_attrs conv_attrs(int pad, int group)
{
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    for (int i = 0; i < 2; i++)
        a.window.pad_begin[i] = a.window.pad_end[i] = pad;
    a.window.group = group;
    return a;
}

static void test_cse_duplicate_convs(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 3, 6, 6));
    int w = tg_weight(&t, "w", S(4, 4, 3, 3, 3), -1, 1), b = tg_weight(&t, "b", S(1, 4), -1, 1);
    kn_attrs ca = conv_attrs(1, 1);
    int c1 = tg_node(&t, "conv_a", KN_OP_CONV, &ca, "c1", 3, x, w, b);
    int c2 = tg_node(&t, "conv_b", KN_OP_CONV, &ca, "c2", 3, x, w, b);
    int r1 = tg_node(&t, "relu_a", KN_OP_RELU, NULL, "r1", 1, c1);
    int r2 = tg_node(&t, "relu_b", KN_OP_RELU, NULL, "r2", 1, c2);
    int y = tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, r1, r2);
    tg_output(&t, y);
    kn_graph opt;
    /* conv_b goes, then relu_b (now reading c1 like relu_a) in the same sweep. */
    char *text = optimize_and_compare(&t, kn_pass_cse, 5, 3, true, &opt);
    assert_contains(text, "cse: replaced Conv 'conv_b' by identical Conv 'conv_a'");
    assert_contains(text, "cse: replaced Relu 'relu_b' by identical Relu 'relu_a'");
    assert_int_equal(count_op(&opt, KN_OP_CONV), 1);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_cse_different_attrs_kept(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 3, 6, 6));
    int w = tg_weight(&t, "w", S(4, 4, 3, 3, 3), -1, 1);
    kn_attrs p1 = conv_attrs(1, 1), p0 = conv_attrs(1, 1);
    p0.window.stride[0] = p0.window.stride[1] = 2;
    int c1 = tg_node(&t, "conv_a", KN_OP_CONV, &p1, "c1", 2, x, w);
    int c2 = tg_node(&t, "conv_b", KN_OP_CONV, &p0, "c2", 2, x, w);
    int g1 = tg_node(&t, "gap_a", KN_OP_GLOBAL_AVERAGE_POOL, NULL, "g1", 1, c1);
    int g2 = tg_node(&t, "gap_b", KN_OP_GLOBAL_AVERAGE_POOL, NULL, "g2", 1, c2);
    int y = tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, g1, g2);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cse, 5, 5, false, &opt);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* ------------------------------------------------ Transpose and Reshape */

static kn_attrs perm3(int a, int b, int c)
{
    kn_attrs t;
    kn_attrs_init(KN_OP_TRANSPOSE, &t);
    t.transpose.nperm = 3;
    t.transpose.perm[0] = a;
    t.transpose.perm[1] = b;
    t.transpose.perm[2] = c;
    return t;
}

static void test_transpose_pair_cancels(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(3, 2, 3, 4));
    kn_attrs p = perm3(1, 2, 0), q = perm3(2, 0, 1);
    int a = tg_node(&t, "t1", KN_OP_TRANSPOSE, &p, "a", 1, x);
    int b = tg_node(&t, "t2", KN_OP_TRANSPOSE, &q, "b", 1, a);
    int y = tg_node(&t, "relu", KN_OP_RELU, NULL, "y", 1, b);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 1, true, &opt);
    assert_contains(text, "cancel_pairs: cancelled Transpose 't1' with Transpose 't2'");
    assert_int_equal(count_op(&opt, KN_OP_TRANSPOSE), 0);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_transpose_pair_to_output_cancels(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(3, 2, 3, 4));
    int e = tg_node(&t, "exp", KN_OP_EXP, NULL, "e", 1, x);
    kn_attrs p = perm3(0, 2, 1);
    int a = tg_node(&t, "t1", KN_OP_TRANSPOSE, &p, "a", 1, e);
    int y = tg_node(&t, "t2", KN_OP_TRANSPOSE, &p, "y", 1, a);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 1, true, &opt);
    assert_int_equal(count_op(&opt, KN_OP_EXP), 1);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_transpose_pair_merges(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(3, 2, 3, 4));
    kn_attrs p = perm3(1, 0, 2), q = perm3(0, 2, 1);
    int a = tg_node(&t, "t1", KN_OP_TRANSPOSE, &p, "a", 1, x);
    int b = tg_node(&t, "t2", KN_OP_TRANSPOSE, &q, "b", 1, a);
    int y = tg_node(&t, "relu", KN_OP_RELU, NULL, "y", 1, b);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 2, true, &opt);
    assert_contains(text, "merged Transpose 't1' into Transpose 't2'");
    assert_int_equal(count_op(&opt, KN_OP_TRANSPOSE), 1);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_transpose_pair_shared_kept(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(3, 2, 3, 4));
    kn_attrs p = perm3(1, 0, 2), q = perm3(0, 2, 1);
    int a = tg_node(&t, "t1", KN_OP_TRANSPOSE, &p, "a", 1, x);
    int b = tg_node(&t, "t2", KN_OP_TRANSPOSE, &q, "b", 1, a);
    int ra = tg_node(&t, "gap", KN_OP_REDUCE_MEAN, NULL, "ra", 1, a);
    int rb = tg_node(&t, "gbp", KN_OP_REDUCE_MEAN, NULL, "rb", 1, b);
    int y = tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, ra, rb);
    tg_output(&t, y);
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cancel_pairs, 5, 5, false, &opt);
    assert_int_equal(count_op(&opt, KN_OP_TRANSPOSE), 2);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_reshape_pairs(void **state)
{
    (void)state;
    /* [2,3,4] -> [6,4] -> [2,12]: the second reshapes x directly. */
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(3, 2, 3, 4));
    int a = tg_node(&t, "r1", KN_OP_RESHAPE, NULL, "a", 2, x, tg_ints(&t, "s1", 2, (int64_t[]){6, 4}));
    int b = tg_node(&t, "r2", KN_OP_RESHAPE, NULL, "b", 2, a, tg_ints(&t, "s2", 2, (int64_t[]){2, -1}));
    tg_output(&t, tg_node(&t, "relu", KN_OP_RELU, NULL, "y", 1, b));
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 2, true, &opt);
    assert_contains(text, "merged Reshape 'r1' into Reshape 'r2'");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);

    /* [2,3,4] -> [6,4] -> [2,3,4]: the pair cancels. */
    tg_init(&t);
    x = tg_input(&t, "x", S(3, 2, 3, 4));
    a = tg_node(&t, "r1", KN_OP_RESHAPE, NULL, "a", 2, x, tg_ints(&t, "s1", 2, (int64_t[]){6, 4}));
    b = tg_node(&t, "r2", KN_OP_RESHAPE, NULL, "b", 2, a, tg_ints(&t, "s2", 3, (int64_t[]){2, 3, 4}));
    tg_output(&t, tg_node(&t, "relu", KN_OP_RELU, NULL, "y", 1, b));
    text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 1, true, &opt);
    assert_contains(text, "cancelled Reshape 'r1' with Reshape 'r2'");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);

    /* [2,3,4] -> [2,12] -> [0,4,3]: the 0 copied a's dimension, so the merged
     * Reshape gets the output shape spelled out. */
    tg_init(&t);
    x = tg_input(&t, "x", S(3, 2, 3, 4));
    a = tg_node(&t, "r1", KN_OP_RESHAPE, NULL, "a", 2, x, tg_ints(&t, "s1", 2, (int64_t[]){2, 12}));
    b = tg_node(&t, "r2", KN_OP_RESHAPE, NULL, "b", 2, a, tg_ints(&t, "s2", 3, (int64_t[]){0, 4, 3}));
    tg_output(&t, tg_node(&t, "relu", KN_OP_RELU, NULL, "y", 1, b));
    text = optimize_and_compare(&t, kn_pass_cancel_pairs, 3, 2, true, &opt);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* ------------------------------------------------------ MatMul + Add */

static void test_matmul_add_to_gemm(void **state)
{
    (void)state;
    for (int side = 0; side < 2; side++) {
        tg t;
        tg_init(&t);
        int x = tg_input(&t, "x", S(2, 3, 4));
        int w = tg_weight(&t, "w", S(2, 4, 5), -1, 1), b = tg_weight(&t, "b", S(1, 5), -1, 1);
        int m = tg_node(&t, "mm", KN_OP_MATMUL, NULL, "m", 2, x, w);
        int y = side ? tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, b, m) : tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, m, b);
        tg_output(&t, y);
        kn_graph opt;
        char *text = optimize_and_compare(&t, kn_pass_matmul_add_to_gemm, 2, 1, true, &opt);
        assert_contains(text, "merged MatMul 'mm' and Add 'add' into Gemm 'mm'");
        assert_int_equal(count_op(&opt, KN_OP_GEMM), 1);
        free(text);
        kn_graph_free(&opt);
        kn_graph_free(&t.g);
    }
    /* A product read twice stays a MatMul. */
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(2, 3, 4));
    int w = tg_weight(&t, "w", S(2, 4, 5), -1, 1), b = tg_weight(&t, "b", S(2, 3, 5), -1, 1);
    int m = tg_node(&t, "mm", KN_OP_MATMUL, NULL, "m", 2, x, w);
    int s = tg_node(&t, "add", KN_OP_ADD, NULL, "s", 2, m, b);
    tg_output(&t, tg_node(&t, "mul", KN_OP_MUL, NULL, "y", 2, s, m));
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_matmul_add_to_gemm, 3, 3, false, &opt);
    assert_contains(text, "kept MatMul 'mm' and Add 'add'");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* ---------------------------------------------------- BatchNormalization */

static void test_fold_bn_conv_groups(void **state)
{
    (void)state;
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        tg t;
        tg_init(&t);
        int x = tg_input(&t, "x", S(4, 2, 4, 5, 5));
        int w = tg_weight(&t, "w", S(4, 6, 2, 3, 3), -1, 1);
        kn_attrs ca = conv_attrs(1, 2);
        int c = with_bias ? tg_node(&t, "conv_3", KN_OP_CONV, &ca, "c", 3, x, w, tg_weight(&t, "b", S(1, 6), -1, 1))
                          : tg_node(&t, "conv_3", KN_OP_CONV, &ca, "c", 2, x, w);
        tg_output(&t, tg_bn(&t, "bn_3", c, 6, "y"));
        kn_graph opt;
        char *text = optimize_and_compare(&t, kn_pass_fold_bn, 2, 1, true, &opt);
        assert_contains(text, "fold_bn: folded BatchNormalization 'bn_3' into Conv 'conv_3'");
        assert_int_equal(count_op(&opt, KN_OP_BATCH_NORM), 0);
        free(text);
        kn_graph_free(&opt);
        kn_graph_free(&t.g);
    }
}

static void test_fold_bn_conv_transpose(void **state)
{
    (void)state;
    for (int group = 1; group <= 2; group++) {
        tg t;
        tg_init(&t);
        int x = tg_input(&t, "x", S(4, 2, 4, 5, 5));
        int w = tg_weight(&t, "w", S(4, 4, 6 / group, 3, 3), -1, 1);
        kn_attrs ca;
        kn_attrs_init(KN_OP_CONV_TRANSPOSE, &ca);
        ca.window.group = group;
        ca.window.stride[0] = ca.window.stride[1] = 2;
        int c = tg_node(&t, "deconv", KN_OP_CONV_TRANSPOSE, &ca, "c", 3, x, w, tg_weight(&t, "b", S(1, 6), -1, 1));
        tg_output(&t, tg_bn(&t, "bn", c, 6, "y"));
        kn_graph opt;
        char *text = optimize_and_compare(&t, kn_pass_fold_bn, 2, 1, true, &opt);
        assert_contains(text, "folded BatchNormalization 'bn' into ConvTranspose 'deconv'");
        free(text);
        kn_graph_free(&opt);
        kn_graph_free(&t.g);
    }
}

static void test_fold_bn_gemm(void **state)
{
    (void)state;
    /* transB both ways, with C of shape [N], [M,N] and none, alpha/beta not 1. */
    for (int variant = 0; variant < 6; variant++) {
        int trans_b = variant & 1, cform = variant / 2;
        tg t;
        tg_init(&t);
        int x = tg_input(&t, "x", S(2, 3, 4));
        int b = tg_weight(&t, "B", trans_b ? S(2, 5, 4) : S(2, 4, 5), -1, 1);
        kn_attrs ga;
        kn_attrs_init(KN_OP_GEMM, &ga);
        ga.gemm.trans_b = trans_b;
        ga.gemm.alpha = 1.5f;
        ga.gemm.beta = 0.5f;
        int g;
        if (cform == 0)
            g = tg_node(&t, "fc", KN_OP_GEMM, &ga, "g", 3, x, b, tg_weight(&t, "C", S(1, 5), -1, 1));
        else if (cform == 1)
            g = tg_node(&t, "fc", KN_OP_GEMM, &ga, "g", 3, x, b, tg_weight(&t, "C", S(2, 3, 5), -1, 1));
        else
            g = tg_node(&t, "fc", KN_OP_GEMM, &ga, "g", 2, x, b);
        tg_output(&t, tg_bn(&t, "bn", g, 5, "y"));
        kn_graph opt;
        char *text = optimize_and_compare(&t, kn_pass_fold_bn, 2, 1, true, &opt);
        assert_contains(text, "folded BatchNormalization 'bn' into Gemm 'fc'");
        free(text);
        kn_graph_free(&opt);
        kn_graph_free(&t.g);
    }
}

static void test_fold_bn_shared_output_kept(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 2, 4, 4));
    int w = tg_weight(&t, "w", S(4, 3, 2, 1, 1), -1, 1);
    kn_attrs ca = conv_attrs(0, 1);
    int c = tg_node(&t, "conv", KN_OP_CONV, &ca, "c", 2, x, w);
    int n = tg_bn(&t, "bn", c, 3, "n");
    tg_output(&t, tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, n, c));
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_fold_bn, 3, 3, false, &opt);
    assert_contains(text, "fold_bn: kept BatchNormalization 'bn' after Conv 'conv': the producer's output has other readers");
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* The weight of two Convs is shared: folding one leaves the other's intact. */
static void test_fold_bn_shared_weight(void **state)
{
    (void)state;
    tg t;
    tg_init(&t);
    int x = tg_input(&t, "x", S(4, 1, 2, 4, 4));
    int w = tg_weight(&t, "w", S(4, 3, 2, 3, 3), -1, 1);
    kn_attrs ca = conv_attrs(1, 1);
    int c1 = tg_node(&t, "conv_a", KN_OP_CONV, &ca, "c1", 2, x, w);
    int c2 = tg_node(&t, "conv_b", KN_OP_CONV, &ca, "c2", 2, x, w);
    int n = tg_bn(&t, "bn", c1, 3, "n");
    tg_output(&t, tg_node(&t, "add", KN_OP_ADD, NULL, "y", 2, n, c2));
    kn_graph opt;
    char *text = optimize_and_compare(&t, kn_pass_fold_bn, 4, 3, true, &opt);
    free(text);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

/* ------------------------------------------------------- pass manager */

/* Transpose -> Identity -> inverse Transpose -> Conv -> BN -> Relu: needs two simplification rounds. */
static void build_chain(tg *t)
{
    tg_init(t);
    int x = tg_input(t, "x", S(4, 1, 4, 4, 2));
    kn_attrs p;
    kn_attrs_init(KN_OP_TRANSPOSE, &p);
    p.transpose.nperm = 4;
    int64_t perm[4] = {0, 3, 1, 2}, inv[4] = {0, 2, 3, 1};
    memcpy(p.transpose.perm, perm, sizeof perm);
    int a = tg_node(t, "to_nchw", KN_OP_TRANSPOSE, &p, "a", 1, x);
    int i = tg_node(t, "id", KN_OP_IDENTITY, NULL, "i", 1, a);
    memcpy(p.transpose.perm, inv, sizeof inv);
    int b = tg_node(t, "to_nhwc", KN_OP_TRANSPOSE, &p, "b", 1, i);
    memcpy(p.transpose.perm, perm, sizeof perm);
    int b2 = tg_node(t, "to_nchw_2", KN_OP_TRANSPOSE, &p, "b2", 1, b);
    kn_attrs ca = conv_attrs(1, 1);
    int c = tg_node(t, "conv", KN_OP_CONV, &ca, "c", 2, b2, tg_weight(t, "w", S(4, 3, 2, 3, 3), -1, 1));
    int n = tg_bn(t, "bn", c, 3, "n");
    tg_output(t, tg_node(t, "relu", KN_OP_RELU, NULL, "y", 1, n));
    assert_int_equal(kn_graph_verify(&t->g, false, &t->err), KN_OK);
}

static void test_pipeline_fixed_point_and_explain(void **state)
{
    (void)state;
    tg t;
    build_chain(&t);
    kn_graph ref, opt;
    assert_int_equal(kn_graph_clone(&t.g, &ref, &t.err), KN_OK);
    assert_int_equal(kn_graph_clone(&t.g, &opt, &t.err), KN_OK);
    bool changed;
    assert_int_equal(kn_pass_infer_and_fold(&ref, NULL, &changed, &t.err), KN_OK);
    char *text = NULL;
    size_t len = 0;
    kn_pass_ctx ctx = {0};
    ctx.explain = open_memstream(&text, &len);
    ctx.verify_each = true;
    if (kn_passes_run(&opt, &ctx, &t.err) != KN_OK)
        fail_msg("%s", t.err.message);
    fclose(ctx.explain);
    /* Transposes, Identity and BN gone; the Relu fused (when fusion is wired) or kept. */
    assert_int_equal(count_op(&opt, KN_OP_TRANSPOSE), 1);
    assert_int_equal(count_op(&opt, KN_OP_IDENTITY), 0);
    assert_int_equal(count_op(&opt, KN_OP_BATCH_NORM), 0);
    assert_true(kn_graph_live_nodes(&opt) <= 3);
    assert_contains(text, "passes: 7 nodes before");
    assert_contains(text, "fold_bn: folded BatchNormalization 'bn' into Conv 'conv'");
    assert_string_equal(opt.values[opt.outputs[0]].name, "y");
    size_t na, nb;
    float *a = kn_test_run_ref(&ref, 777ull, &na), *b = kn_test_run_ref(&opt, 777ull, &nb);
    assert_int_equal(na, nb);
    assert_true(kn_test_allclose(b, a, na, 1e-5f, 1e-5f));
    free(a);
    free(b);
    free(text);
    kn_graph_free(&ref);
    kn_graph_free(&opt);
    kn_graph_free(&t.g);
}

static void test_pipeline_dump_after(void **state)
{
    (void)state;
    tg t;
    build_chain(&t);
    kn_pass_ctx ctx = {0};
    ctx.dump_after = "no_such_pass";
    assert_int_equal(kn_passes_run(&t.g, &ctx, &t.err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(t.err.message, "unknown pass 'no_such_pass'"));
    assert_non_null(strstr(t.err.message, "fold_bn"));
    assert_int_equal(kn_pipeline_check_pass_name("cse", &t.err), KN_OK);

    char dot[] = "/tmp/kn_test_passesXXXXXX";
    int fd = mkstemp(dot);
    assert_true(fd >= 0);
    close(fd);
    char path[64];
    snprintf(path, sizeof path, "%s.dot", dot);
    ctx.dump_after = "fold_bn";
    ctx.dump_path = path;
    if (kn_passes_run(&t.g, &ctx, &t.err) != KN_OK)
        fail_msg("%s", t.err.message);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char head[16] = "";
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_int_equal(strncmp(head, "digraph", 7), 0);
    remove(path);
    remove(dot);
    kn_graph_free(&t.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_dropout),
        cmocka_unit_test(test_identity_input_to_output_kept),
        cmocka_unit_test(test_zero_pad_and_single_concat),
        cmocka_unit_test(test_whole_tensor_slice),
        cmocka_unit_test(test_cse_duplicate_convs),
        cmocka_unit_test(test_cse_different_attrs_kept),
        cmocka_unit_test(test_transpose_pair_cancels),
        cmocka_unit_test(test_transpose_pair_to_output_cancels),
        cmocka_unit_test(test_transpose_pair_merges),
        cmocka_unit_test(test_transpose_pair_shared_kept),
        cmocka_unit_test(test_reshape_pairs),
        cmocka_unit_test(test_matmul_add_to_gemm),
        cmocka_unit_test(test_fold_bn_conv_groups),
        cmocka_unit_test(test_fold_bn_conv_transpose),
        cmocka_unit_test(test_fold_bn_gemm),
        cmocka_unit_test(test_fold_bn_shared_output_kept),
        cmocka_unit_test(test_fold_bn_shared_weight),
        cmocka_unit_test(test_pipeline_fixed_point_and_explain),
        cmocka_unit_test(test_pipeline_dump_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
