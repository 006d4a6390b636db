/*
 * test_dnnl.c - parity of the oneDNN backend ("dnnl") with the reference
 * backend ("ref"), through the public API: every case builds a small graph,
 * runs it on both backends with the same random inputs, and compares.
 *
 * Bound: max |dnnl - ref| <= 1e-4 * max(1, max |ref|) per output (a max
 * relative error of 1e-4 against the output's scale); per-case tolerances in
 * the table may only be tighter. Models (mnist_small.onnx and classifiers
 * in build/models, when present) use the same bound.
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

#include "ir.h"
#include "kiln.h"
#include "runtime_internal.h"
#include "testutil.h"

#define KN_DNNL_TOL 1e-4f

/* ------------------------------------------------------------ comparing */

/* Run `m` on ref and dnnl with the same random inputs; fail when an output differs beyond `tol`. */
static void compare_backends(const kn_model_t *m, int64_t batch, float tol, const char *what)
{
    int nin = kn_model_num_inputs(m);
    assert_true(nin <= 8);
    const char *names[8];
    kn_tensor t[8];
    float *bufs[8] = {0};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    kn_options opts;
    memset(&opts, 0, sizeof opts);
    opts.batch = batch;
    opts.threads = 2;
    kn_session_t *s[2];
    kn_error err;
    const char *backends[2] = {"ref", "dnnl"};
    for (int b = 0; b < 2; b++) {
        opts.backend = backends[b];
        if (kn_session_create(m, &opts, &s[b], &err) != KN_OK)
            fail_msg("%s: %s: %s", what, backends[b], err.message);
    }
    for (int i = 0; i < nin; i++) {
        kn_io_info info;
        assert_int_equal(kn_session_input(s[0], i, &info), KN_OK);
        assert_int_equal(info.dtype, KN_F32);
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
    for (int b = 0; b < 2; b++)
        if (kn_session_run(s[b], nin, names, t, &err) != KN_OK)
            fail_msg("%s: %s run: %s", what, backends[b], err.message);
    assert_int_equal(kn_session_num_outputs(s[0]), kn_session_num_outputs(s[1]));
    for (int i = 0; i < kn_session_num_outputs(s[0]); i++) {
        kn_tensor a, d;
        assert_int_equal(kn_session_get_output(s[0], i, &a, &err), KN_OK);
        assert_int_equal(kn_session_get_output(s[1], i, &d, &err), KN_OK);
        assert_true(kn_shape_equal(&a.shape, &d.shape));
        if (a.dtype != KN_F32)
            continue;
        size_t n = 0;
        assert_int_equal(kn_shape_numel(&a.shape, &n), KN_OK);
        const float *ra = a.data, *rd = d.data;
        float scale = 1.0f, worst = 0.0f;
        for (size_t k = 0; k < n; k++)
            if (fabsf(ra[k]) > scale)
                scale = fabsf(ra[k]);
        for (size_t k = 0; k < n; k++) {
            float e = fabsf(ra[k] - rd[k]);
            if (!(e <= worst)) /* NaN counts as worst */
                worst = e;
        }
        if (!(worst <= tol * scale))
            fail_msg("%s: output %d: max |dnnl - ref| %g > %g (scale %g)", what, i, worst, tol * scale, scale);
    }
    for (int b = 0; b < 2; b++)
        kn_session_free(s[b]);
    for (int i = 0; i < nin; i++)
        free(bufs[i]);
}

/* ------------------------------------------------------------ graphs */

typedef enum { K_CONV, K_GEMM, K_MATMUL, K_MAXPOOL, K_AVGPOOL, K_ELTWISE } kind;

typedef struct op_case {
    const char *name;
    kind k;
    int64_t x[5];        /* input shape (rank from xr) */
    int xr;
    /* Conv / pools */
    int64_t cout, kernel, stride, pad, pad_end, dil, group;
    bool bias, ceil_mode, include_pad;
    /* Gemm / MatMul: x is [M, K]; n columns */
    int64_t n;
    bool trans_a, trans_b;
    /* element-wise op (K_ELTWISE) or fused activation (KN_OP_COUNT: none) */
    kn_op act;
    float alpha, beta, lo, hi; /* activation parameters; Clip bounds (lo == hi: no bounds) */
    bool residual;       /* Add a second graph input of the output's shape (fused as residual) */
    float tol;           /* 0: KN_DNNL_TOL */
} op_case;

static int add_param(kn_graph *g, const char *name, const int64_t *dims, int rank, uint64_t *seed)
{
    kn_shape s = {.rank = rank};
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        s.dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    float *d = malloc(n * sizeof(float));
    assert_non_null(d);
    kn_test_fill(seed, d, n, -0.5f, 0.5f);
    int id;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_F32, &s, KN_VALUE_PARAM, d, &id, &err), KN_OK);
    return id;
}

static int add_scalar_const(kn_graph *g, const char *name, float v)
{
    float *d = malloc(sizeof(float));
    assert_non_null(d);
    *d = v;
    kn_shape s = {.rank = 0};
    int id;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_F32, &s, KN_VALUE_CONST, d, &id, &err), KN_OK);
    return id;
}

static int add_tmp(kn_graph *g, const char *name)
{
    int id;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_F32, NULL, KN_VALUE_INTERMEDIATE, NULL, &id, &err), KN_OK);
    return id;
}

static void add_node(kn_graph *g, const char *name, kn_op op, const int *in, int nin, int out, const kn_attrs *a)
{
    kn_error err;
    int id;
    if (kn_graph_add_node(g, name, op, in, nin, &out, 1, a, &id, &err) != KN_OK)
        fail_msg("add_node %s: %s", name, err.message);
}

/* Output spatial size of one axis (floor or ceil mode) for the test's own residual shape. */
static int64_t out_size(const op_case *c, int64_t in, int64_t k)
{
    int64_t ek = (k - 1) * (c->dil ? c->dil : 1) + 1, s = c->stride ? c->stride : 1;
    int64_t pe = c->pad_end >= 0 ? c->pad_end : c->pad;
    int64_t span = in + c->pad + pe - ek;
    return span / s + 1;
}

static kn_model_t *build_case(const op_case *c)
{
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    uint64_t seed = 0x1234567ull;
    kn_shape xs = {.rank = c->xr};
    for (int i = 0; i < c->xr; i++)
        xs.dims[i] = c->x[i];
    int x, y = -1, cur;
    assert_int_equal(kn_graph_add_value(&g, "x", KN_F32, &xs, KN_VALUE_INPUT, NULL, &x, &err), KN_OK);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    kn_attrs a;
    kn_shape ys = {0};
    switch (c->k) {
    case K_CONV:
    case K_MAXPOOL:
    case K_AVGPOOL: {
        kn_op op = c->k == K_CONV ? KN_OP_CONV : c->k == K_MAXPOOL ? KN_OP_MAX_POOL : KN_OP_AVERAGE_POOL;
        kn_attrs_init(op, &a);
        int ns = c->xr - 2;
        a.window.nspatial = ns;
        for (int i = 0; i < ns; i++) {
            a.window.kernel[i] = c->k == K_CONV ? 0 : c->kernel;
            a.window.stride[i] = c->stride ? c->stride : 1;
            a.window.dilation[i] = c->dil ? c->dil : 1;
            a.window.pad_begin[i] = c->pad;
            a.window.pad_end[i] = c->pad_end >= 0 ? c->pad_end : c->pad;
        }
        a.window.group = c->group ? c->group : 1;
        a.window.ceil_mode = c->ceil_mode;
        a.window.count_include_pad = c->include_pad;
        int in[3] = {x, -1, -1}, nin = 1;
        if (c->k == K_CONV) {
            int64_t wd[5] = {c->cout, c->x[1] / a.window.group};
            for (int i = 0; i < ns; i++)
                wd[2 + i] = c->kernel;
            in[1] = add_param(&g, "w", wd, ns + 2, &seed);
            nin = 2;
            if (c->bias) {
                in[2] = add_param(&g, "b", &c->cout, 1, &seed);
                nin = 3;
            }
        }
        ys.rank = c->xr;
        ys.dims[0] = c->x[0];
        ys.dims[1] = c->k == K_CONV ? c->cout : c->x[1];
        for (int i = 0; i < ns; i++)
            ys.dims[2 + i] = out_size(c, c->x[2 + i], c->kernel);
        cur = add_tmp(&g, "t0");
        add_node(&g, "main", op, in, nin, cur, &a);
        break;
    }
    case K_GEMM:
    case K_MATMUL: {
        int64_t K = c->trans_a ? c->x[0] : c->x[1], M = c->trans_a ? c->x[1] : c->x[0];
        int64_t wd[2] = {c->trans_b ? c->n : K, c->trans_b ? K : c->n};
        int in[3] = {x, add_param(&g, "w", wd, 2, &seed), -1}, nin = 2;
        kn_op op = c->k == K_GEMM ? KN_OP_GEMM : KN_OP_MATMUL;
        kn_attrs_init(op, &a);
        if (c->k == K_GEMM) {
            a.gemm.trans_a = c->trans_a;
            a.gemm.trans_b = c->trans_b;
            if (c->bias) {
                in[2] = add_param(&g, "c", &c->n, 1, &seed);
                nin = 3;
            }
        }
        ys.rank = 2;
        ys.dims[0] = M;
        ys.dims[1] = c->n;
        cur = add_tmp(&g, "t0");
        add_node(&g, "main", op, in, nin, cur, &a);
        break;
    }
    default:
        cur = x;
        ys = xs;
        break;
    }
    if (c->residual) {
        int r, out = add_tmp(&g, "t1");
        assert_int_equal(kn_graph_add_value(&g, "r", KN_F32, &ys, KN_VALUE_INPUT, NULL, &r, &err), KN_OK);
        assert_int_equal(kn_graph_add_input(&g, r, &err), KN_OK);
        kn_attrs_init(KN_OP_ADD, &a);
        int in[2] = {cur, r};
        add_node(&g, "res", KN_OP_ADD, in, 2, out, &a);
        cur = out;
    }
    if (c->act != KN_OP_COUNT) {
        int out = add_tmp(&g, "t2");
        kn_attrs_init(c->act, &a);
        if (c->act == KN_OP_LEAKY_RELU || c->act == KN_OP_ELU || c->act == KN_OP_HARD_SIGMOID) {
            a.scalar.alpha = c->alpha;
            a.scalar.beta = c->beta;
        }
        int in[3] = {cur, -1, -1}, nin = 1;
        if (c->act == KN_OP_CLIP && c->lo != c->hi) {
            in[1] = add_scalar_const(&g, "lo", c->lo);
            in[2] = add_scalar_const(&g, "hi", c->hi);
            nin = 3;
        }
        add_node(&g, "act", c->act, in, nin, out, &a);
        cur = out;
    }
    y = cur;
    free(g.values[y].name);
    g.values[y].name = kn_strdup("y");
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = g;
    return m;
}

#define NOACT KN_OP_COUNT
/* name, kind, x, xr, cout, kernel, stride, pad, pad_end(-1: = pad), dil, group, bias, ceil, incl_pad,
 * n, trans_a, trans_b, act, alpha, beta, lo, hi, residual, tol */
static const op_case cases[] = {
    {"conv3x3", K_CONV, {2, 3, 9, 9}, 4, 8, 3, 1, 1, -1, 1, 1, true, false, false, 0, false, false, NOACT},
    {"conv_nobias_stride2", K_CONV, {1, 4, 10, 11}, 4, 6, 3, 2, 1, -1, 1, 1, false, false, false, 0, 0, 0, NOACT},
    {"conv_asym_pad", K_CONV, {1, 3, 8, 8}, 4, 5, 3, 1, 0, 2, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv_dilated", K_CONV, {1, 4, 12, 12}, 4, 4, 3, 1, 2, -1, 2, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv_grouped", K_CONV, {1, 8, 7, 7}, 4, 12, 3, 1, 1, -1, 1, 4, true, false, false, 0, 0, 0, KN_OP_RELU},
    {"conv_depthwise", K_CONV, {2, 16, 9, 9}, 4, 16, 3, 2, 1, -1, 1, 16, true, false, false, 0, 0, 0,
     KN_OP_CLIP, 0, 0, 0.0f, 6.0f},
    {"conv1x1_relu", K_CONV, {1, 16, 5, 5}, 4, 32, 1, 1, 0, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_RELU},
    {"conv_residual_relu", K_CONV, {1, 8, 6, 6}, 4, 8, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, true},
    {"conv_residual", K_CONV, {2, 4, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, false, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, true},
    {"conv_sigmoid", K_CONV, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_SIGMOID},
    {"conv_hardswish", K_CONV, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_HARD_SWISH},
    {"conv_hardsigmoid", K_CONV, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_HARD_SIGMOID, 0.2f, 0.5f},
    {"conv_leaky", K_CONV, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_LEAKY_RELU, 0.1f},
    {"conv1d", K_CONV, {2, 3, 17}, 3, 5, 3, 2, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv3d", K_CONV, {1, 2, 5, 6, 7}, 5, 3, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_TANH},
    {"gemm_transb_bias", K_GEMM, {4, 32}, 2, 0, 0, 0, 0, 0, 0, 0, true, false, false, 10, false, true, NOACT},
    {"gemm_plain_relu", K_GEMM, {3, 16}, 2, 0, 0, 0, 0, 0, 0, 0, true, false, false, 7, false, false,
     KN_OP_RELU},
    {"gemm_transa", K_GEMM, {16, 3}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 5, true, false, NOACT},
    {"matmul2d", K_MATMUL, {5, 12}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 9, false, false, NOACT},
    {"maxpool3x3s2", K_MAXPOOL, {2, 4, 11, 11}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, false, 0, false, false, NOACT},
    {"maxpool2x2", K_MAXPOOL, {1, 3, 8, 8}, 4, 0, 2, 2, 0, -1, 1, 0, false, false, false, 0, false, false, NOACT},
    {"maxpool_dilated", K_MAXPOOL, {1, 3, 9, 9}, 4, 0, 2, 1, 0, -1, 2, 0, false, false, false, 0, false, false, NOACT},
    {"maxpool_ceil", K_MAXPOOL, {1, 3, 10, 10}, 4, 0, 3, 2, 0, -1, 1, 0, false, true, false, 0, false, false, NOACT},
    {"avgpool_ceil_excl", K_AVGPOOL, {1, 3, 10, 10}, 4, 0, 3, 2, 0, -1, 1, 0, false, true, false, 0, false, false, NOACT},
    {"avgpool_excl", K_AVGPOOL, {1, 4, 9, 9}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, false, 0, false, false, NOACT},
    {"avgpool_incl", K_AVGPOOL, {1, 4, 9, 9}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, true, 0, false, false, NOACT},
    {"relu", K_ELTWISE, {2, 3, 4, 5}, 4, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_RELU},
    {"sigmoid", K_ELTWISE, {7, 9}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_SIGMOID},
    {"tanh", K_ELTWISE, {3, 50}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_TANH},
    {"clip", K_ELTWISE, {2, 3, 4, 5}, 4, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_CLIP, 0, 0,
     -0.3f, 0.4f},
    {"leaky_relu", K_ELTWISE, {100}, 1, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_LEAKY_RELU,
     0.2f},
    {"elu", K_ELTWISE, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_ELU, 1.0f},
    {"hardswish", K_ELTWISE, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_HARD_SWISH},
    {"exp", K_ELTWISE, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_EXP},
};

static void test_op_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const op_case *c = &cases[i];
        kn_model_t *m = build_case(c);
        compare_backends(m, 0, c->tol > 0 ? c->tol : KN_DNNL_TOL, c->name);
        kn_model_free(m);
    }
}

/* The backend is registered and a node it declines (Softmax) runs on the reference kernels. */
static void test_fallback(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    kn_shape s = {.rank = 2, .dims = {3, 10}};
    int x, y;
    assert_int_equal(kn_graph_add_value(&g, "x", KN_F32, &s, KN_VALUE_INPUT, NULL, &x, &err), KN_OK);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    assert_int_equal(kn_graph_add_value(&g, "y", KN_F32, NULL, KN_VALUE_INTERMEDIATE, NULL, &y, &err), KN_OK);
    kn_attrs a;
    kn_attrs_init(KN_OP_SOFTMAX, &a);
    add_node(&g, "sm", KN_OP_SOFTMAX, &x, 1, y, &a);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = g;
    compare_backends(m, 0, KN_DNNL_TOL, "softmax fallback");
    kn_model_free(m);
}

static void run_model_file(const char *path, int64_t batch)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skip %s (absent)\n", path);
        return;
    }
    fclose(f);
    kn_model_t *m;
    kn_error err;
    if (kn_model_load(path, &m, &err) != KN_OK)
        fail_msg("%s: %s", path, err.message);
    compare_backends(m, batch, KN_DNNL_TOL, path);
    printf("ok %s: dnnl matches ref\n", path);
    kn_model_free(m);
}

static void test_models(void **state)
{
    (void)state;
    run_model_file(KN_SOURCE_DIR "/models/mnist_small.onnx", 2);
    run_model_file(KN_SOURCE_DIR "/build/models/alexnet.onnx", 1);
    run_model_file(KN_SOURCE_DIR "/build/models/resnet18.onnx", 1);
    run_model_file(KN_SOURCE_DIR "/build/models/mobilenet_v2.onnx", 1);
    /* blocked chains broken by reference fallbacks: SE blocks (Mul, GlobalAveragePool), Concat */
    run_model_file(KN_SOURCE_DIR "/build/models/efficientnet_b0.onnx", 2);
    run_model_file(KN_SOURCE_DIR "/build/models/googlenet.onnx", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_cases),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
