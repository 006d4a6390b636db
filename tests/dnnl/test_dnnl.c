/*
 * test_dnnl.c - parity of the oneDNN backend ("dnnl") with the reference
 * backend ("ref"), through the public API: every case runs one model on both
 * backends with the same random inputs and compares the outputs.
 *
 * Bound (every case, every model): for each float32 output,
 *
 *     max |dnnl - ref| <= 1e-4 * max(1, max |ref|)
 *
 * that is a max error of 1e-4 relative to the output's scale (absolute for
 * outputs within [-1, 1], such as probabilities); a case may only ask for a
 * tighter bound. Outputs of other dtypes must be identical. Model files are
 * also compared on their logits: the input of a Softmax/LogSoftmax that
 * gives an output becomes an output too (probabilities of random-weight
 * classifiers saturate near 1 or flatten near 1/1000 and would hide errors).
 * Each comparison prints "parity <case> (batch N): max|dnnl-ref| A, rel R
 * (max|ref| M ...)" and the nodes left to the reference kernels (with
 * several outputs, one line per output after it), so the figures can be
 * quoted from the ctest log (ctest -V).
 *
 * Where nodes run: a case can require nodes of the compiled graph to run on
 * oneDNN (here: expect_dnnl, every node of the case; dnnl_graph_cases.c: a
 * list of node names), by kn_dnnl_node_runs and by the backend's account
 * after compile (--explain); a fallback to the reference kernels fails it.
 *
 * Runs (tests/dnnl.cmake):
 *   test_dnnl                   the op cases: the table below (Conv, Gemm,
 *                               MatMul, pools, activations) and every op family
 *                               of dnnl_graph_cases.c, standalone and between
 *                               blocked Convs (16 and 12 channels)
 *   test_dnnl --models-dir DIR [SPEC.kiln ...]
 *                               mnist_small.onnx and every model of every
 *                               .kiln spec in DIR and of each SPEC (ctest
 *                               adds tests/spec/layers.kiln: every layer
 *                               kind), at batch 1 and 8
 *   test_dnnl --model FILE      one model file (the classifier set, label
 *                               "models") at batch 1 and 8; prints KILN_SKIP
 *                               when FILE is absent
 * Each runs through tests/dnnl/run_isa.cmake, once at the instruction set
 * oneDNN picks and once per level of KILN_DNNL_ISAS (DNNL_MAX_CPU_ISA; a
 * level this CPU lacks prints KILN_SKIP), the op cases and models/ again
 * with KILN_DNNL_LAYOUT (kiln's kernels on nChw8c, nChw16c, nhwc); every run
 * fails on an executed oneDNN reference implementation or nonzero padding.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "dnnl_backend.h"
#include "dnnl_parity.h"
#include "ir.h"
#include "kiln.h"
#include "runtime_internal.h"
#include "spec.h"

/* ------------------------------------------------------------ graphs */

typedef enum { K_CONV, K_GEMM, K_MATMUL, K_MAXPOOL, K_AVGPOOL, K_ELTWISE } kind;

typedef struct op_case {
    const char *name;
    kind k;
    bool expect_dnnl;    /* every node of the compiled graph must run on oneDNN */
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
    int wino;            /* Convs expected on kiln's Winograd kernel (on an AVX2 + FMA CPU; else none) */
    int threads;         /* worker threads (0: 2) */
} op_case;

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
    kn_pb b;
    kn_pb_init(&b);
    int x = kn_pb_input(&b, "x", c->xr, c->x), cur = x;
    kn_attrs a;
    kn_shape ys = {.rank = c->xr};
    memcpy(ys.dims, c->x, sizeof(int64_t) * (size_t)c->xr);
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
            in[1] = kn_pb_param(&b, "w", -0.5f, 0.5f, ns + 2, wd);
            nin = 2;
            if (c->bias) {
                in[2] = kn_pb_param(&b, "b", -0.5f, 0.5f, 1, &c->cout);
                nin = 3;
            }
            ys.dims[1] = c->cout;
        }
        for (int i = 0; i < ns; i++)
            ys.dims[2 + i] = out_size(c, c->x[2 + i], c->kernel);
        cur = kn_pb_node(&b, "main", op, &a, nin, in);
        break;
    }
    case K_GEMM:
    case K_MATMUL: {
        int64_t K = c->trans_a ? c->x[0] : c->x[1], M = c->trans_a ? c->x[1] : c->x[0];
        int64_t wd[2] = {c->trans_b ? c->n : K, c->trans_b ? K : c->n};
        int in[3] = {x, kn_pb_param(&b, "w", -0.5f, 0.5f, 2, wd), -1}, nin = 2;
        kn_op op = c->k == K_GEMM ? KN_OP_GEMM : KN_OP_MATMUL;
        kn_attrs_init(op, &a);
        if (c->k == K_GEMM) {
            a.gemm.trans_a = c->trans_a;
            a.gemm.trans_b = c->trans_b;
            if (c->bias) {
                in[2] = kn_pb_param(&b, "c", -0.5f, 0.5f, 1, &c->n);
                nin = 3;
            }
        }
        ys.rank = 2;
        ys.dims[0] = M;
        ys.dims[1] = c->n;
        cur = kn_pb_node(&b, "main", op, &a, nin, in);
        break;
    }
    default:
        break;
    }
    if (c->residual)
        cur = kn_pb_binary(&b, "res", KN_OP_ADD, cur, kn_pb_input(&b, "r", ys.rank, ys.dims));
    if (c->act != KN_OP_COUNT) {
        kn_attrs_init(c->act, &a);
        if (c->act == KN_OP_LEAKY_RELU || c->act == KN_OP_ELU || c->act == KN_OP_HARD_SIGMOID) {
            a.scalar.alpha = c->alpha;
            a.scalar.beta = c->beta;
        }
        int in[3] = {cur, -1, -1}, nin = 1;
        if (c->act == KN_OP_CLIP && c->lo != c->hi) {
            in[1] = kn_pb_scalar(&b, "lo", c->lo);
            in[2] = kn_pb_scalar(&b, "hi", c->hi);
            nin = 3;
        }
        cur = kn_pb_node(&b, "act", c->act, &a, nin, in);
    }
    kn_pb_output(&b, cur);
    return kn_pb_model(&b);
}

#define NOACT KN_OP_COUNT
/* name, kind, expect_dnnl, x, xr, cout, kernel, stride, pad, pad_end(-1: = pad), dil, group, bias, ceil, incl_pad,
 * n, trans_a, trans_b, act, alpha, beta, lo, hi, residual, tol */
static const op_case cases[] = {
    {"conv3x3", K_CONV, true, {2, 3, 9, 9}, 4, 8, 3, 1, 1, -1, 1, 1, true, false, false, 0, false, false, NOACT},
    {"conv_nobias_stride2", K_CONV, true, {1, 4, 10, 11}, 4, 6, 3, 2, 1, -1, 1, 1, false, false, false, 0, 0, 0, NOACT},
    {"conv_asym_pad", K_CONV, true, {1, 3, 8, 8}, 4, 5, 3, 1, 0, 2, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv_dilated", K_CONV, true, {1, 4, 12, 12}, 4, 6, 3, 1, 2, -1, 2, 1, true, false, false, 0, 0, 0, NOACT},
    /* at most 4 output channels (a generator's image layer): the reference kernel's direct rows, by choice */
    {"conv_few_out_k1_ref", K_CONV, false, {2, 16, 12, 12}, 4, 1, 5, 1, 2, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_TANH},
    {"conv_few_out_k3_ref", K_CONV, false, {1, 8, 9, 40}, 4, 3, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     NOACT},
    {"conv_grouped", K_CONV, true, {1, 8, 7, 7}, 4, 12, 3, 1, 1, -1, 1, 4, true, false, false, 0, 0, 0, KN_OP_RELU},
    {"conv_depthwise", K_CONV, true, {2, 16, 9, 9}, 4, 16, 3, 2, 1, -1, 1, 16, true, false, false, 0, 0, 0,
     KN_OP_CLIP, 0, 0, 0.0f, 6.0f},
    {"conv1x1_relu", K_CONV, true, {1, 16, 5, 5}, 4, 32, 1, 1, 0, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_RELU},
    {"conv_residual_relu", K_CONV, true, {1, 8, 6, 6}, 4, 8, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, true},
    {"conv_residual", K_CONV, true, {2, 4, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, false, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, true},
    {"conv_sigmoid", K_CONV, true, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_SIGMOID},
    {"conv_hardswish", K_CONV, true, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_HARD_SWISH},
    {"conv_hardsigmoid", K_CONV, true, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_HARD_SIGMOID, 0.2f, 0.5f},
    {"conv_leaky", K_CONV, true, {1, 3, 6, 6}, 4, 4, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_LEAKY_RELU, 0.1f},
    /* Winograd F(4x4, 3x3) (dnnl_wino.c): 3x3 stride 1 with 16+ channels; channel counts off the 8/16 blocks,
     * edge tiles (sizes not multiples of 4), every padding, fused residual and activations, few tiles (output
     * channels split between threads) and many (several chunks of tiles) */
    {"wino_c16_k16", K_CONV, true, {2, 16, 9, 9}, 4, 16, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, false, 0, 1},
    {"wino_c20_k24_relu_edge", K_CONV, true, {1, 20, 13, 11}, 4, 24, 3, 1, 1, -1, 1, 1, false, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, false, 0, 1},
    {"wino_valid_c17_k40", K_CONV, true, {3, 17, 10, 7}, 4, 40, 3, 1, 0, -1, 1, 1, true, false, false, 0, 0, 0, NOACT,
     0, 0, 0, 0, false, 0, 1},
    {"wino_asym_pad2", K_CONV, true, {1, 16, 8, 9}, 4, 16, 3, 1, 0, 2, 1, 1, true, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, false, 0, 1},
    {"wino_pad2", K_CONV, true, {1, 24, 6, 6}, 4, 32, 3, 1, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT, 0, 0, 0,
     0, false, 0, 1},
    {"wino_residual_relu", K_CONV, true, {2, 32, 12, 12}, 4, 32, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, true, 0, 1},
    {"wino_residual", K_CONV, true, {1, 16, 7, 7}, 4, 16, 3, 1, 1, -1, 1, 1, false, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, true, 0, 1},
    {"wino_leaky", K_CONV, true, {1, 16, 10, 10}, 4, 24, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_LEAKY_RELU, 0.1f, 0, 0, 0, false, 0, 1},
    {"wino_relu6", K_CONV, true, {1, 16, 10, 10}, 4, 16, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_CLIP, 0,
     0, 0.0f, 6.0f, false, 0, 1},
    {"wino_sigmoid", K_CONV, true, {1, 16, 10, 10}, 4, 16, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_SIGMOID, 0, 0, 0, 0, false, 0, 1},
    /* 20 output channels: the padded lanes of the last block must stay 0 after the sigmoid (0.5 there would break
     * the zero-padding invariant; KILN_DNNL_CHECK_PADDING=1 checks it) */
    {"wino_sigmoid_k20", K_CONV, true, {2, 16, 10, 10}, 4, 20, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_SIGMOID, 0, 0, 0, 0, false, 0, 1},
    {"wino_many_tiles", K_CONV, true, {2, 16, 50, 46}, 4, 48, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, false, 0, 1},
    {"wino_wide_c64_k128", K_CONV, true, {1, 64, 14, 14}, 4, 128, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     NOACT, 0, 0, 0, 0, false, 0, 1},
    /* strided Winograd (space-to-depth into s*s phases of 3x3 taps): 5x5 stride 2 with TensorFlow's 'same' pads
     * (1 before, 2 after), symmetric pads on odd sizes, no pads, 6x6 stride 2, 7x7 stride 3, fused residual and
     * Relu, a single tile, 3 threads sharing 4 tiles, and many tiles (two chunks); with 3 threads, 121 tiles
     * of a 3x3 conv run as output-channel slices in two chunks */
    {"wino_s2_k5_same", K_CONV, true, {2, 24, 14, 14}, 4, 32, 5, 2, 1, 2, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_LEAKY_RELU, 0.2f, 0, 0, 0, false, 0, 1},
    {"wino_s2_k5_odd", K_CONV, true, {1, 16, 15, 13}, 4, 20, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT, 0,
     0, 0, 0, false, 0, 1},
    {"wino_s2_k5_valid", K_CONV, true, {1, 17, 11, 12}, 4, 16, 5, 2, 0, -1, 1, 1, false, false, false, 0, 0, 0, NOACT,
     0, 0, 0, 0, false, 0, 1},
    {"wino_s2_k6", K_CONV, true, {1, 16, 12, 12}, 4, 16, 6, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT, 0, 0,
     0, 0, false, 0, 1},
    {"wino_s3_k7", K_CONV, true, {1, 16, 20, 20}, 4, 24, 7, 3, 3, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_RELU,
     0, 0, 0, 0, false, 0, 1},
    {"wino_s2_k5_residual_relu", K_CONV, true, {1, 16, 10, 10}, 4, 16, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_RELU, 0, 0, 0, 0, true, 0, 1},
    {"wino_s2_k5_one_tile", K_CONV, true, {1, 16, 8, 8}, 4, 32, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT,
     0, 0, 0, 0, false, 0, 1},
    {"wino_s2_k5_3threads", K_CONV, true, {1, 32, 14, 14}, 4, 48, 5, 2, 1, 2, 1, 1, true, false, false, 0, 0, 0,
     KN_OP_LEAKY_RELU, 0.2f, 0, 0, 0, false, 0, 1, 3},
    {"wino_3threads_2chunks", K_CONV, true, {1, 24, 44, 42}, 4, 40, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0,
     NOACT, 0, 0, 0, 0, false, 0, 1, 3},
    {"wino_s2_k5_many_tiles", K_CONV, true, {4, 32, 40, 40}, 4, 64, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0,
     NOACT, 0, 0, 0, 0, false, 0, 1},
    /* not Winograd: 3x3 stride 2, 4x4 stride 2 (two taps per phase), 7x7 stride 2 (four), 8 channels at 5x5
     * stride 2 (and 8 output channels), 15 channels, grouped, dilated */
    {"nowino_s2_k4", K_CONV, true, {1, 16, 10, 10}, 4, 16, 4, 2, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_s2_k7", K_CONV, true, {1, 16, 14, 14}, 4, 16, 7, 2, 3, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_s2_k5_c8", K_CONV, true, {1, 8, 14, 14}, 4, 16, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_s2_k5_k8", K_CONV, true, {1, 16, 14, 14}, 4, 8, 5, 2, 2, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_stride2", K_CONV, true, {1, 16, 9, 9}, 4, 16, 3, 2, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_c15", K_CONV, true, {1, 15, 9, 9}, 4, 16, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"nowino_grouped", K_CONV, true, {1, 32, 9, 9}, 4, 32, 3, 1, 1, -1, 1, 2, true, false, false, 0, 0, 0, NOACT},
    {"nowino_dilated", K_CONV, true, {1, 16, 9, 9}, 4, 16, 3, 1, 2, -1, 2, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv1d", K_CONV, true, {2, 3, 17}, 3, 5, 3, 2, 1, -1, 1, 1, true, false, false, 0, 0, 0, NOACT},
    {"conv3d", K_CONV, true, {1, 2, 5, 6, 7}, 5, 5, 3, 1, 1, -1, 1, 1, true, false, false, 0, 0, 0, KN_OP_TANH},
    {"gemm_transb_bias", K_GEMM, true, {4, 32}, 2, 0, 0, 0, 0, 0, 0, 0, true, false, false, 10, false, true, NOACT},
    {"gemm_plain_relu", K_GEMM, true, {3, 16}, 2, 0, 0, 0, 0, 0, 0, 0, true, false, false, 7, false, false,
     KN_OP_RELU},
    {"gemm_transa", K_GEMM, true, {16, 3}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 5, true, false, NOACT},
    {"matmul2d", K_MATMUL, true, {5, 12}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 9, false, false, NOACT},
    {"maxpool3x3s2", K_MAXPOOL, true, {2, 4, 11, 11}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, false, 0, false, false,
     NOACT},
    {"maxpool2x2", K_MAXPOOL, true, {1, 3, 8, 8}, 4, 0, 2, 2, 0, -1, 1, 0, false, false, false, 0, false, false, NOACT},
    {"maxpool_dilated", K_MAXPOOL, true, {1, 3, 9, 9}, 4, 0, 2, 1, 0, -1, 2, 0, false, false, false, 0, false, false,
     NOACT},
    {"maxpool_ceil", K_MAXPOOL, true, {1, 3, 10, 10}, 4, 0, 3, 2, 0, -1, 1, 0, false, true, false, 0, false, false,
     NOACT},
    {"avgpool_ceil_excl", K_AVGPOOL, true, {1, 3, 10, 10}, 4, 0, 3, 2, 0, -1, 1, 0, false, true, false, 0, false,
     false, NOACT},
    {"avgpool_excl", K_AVGPOOL, true, {1, 4, 9, 9}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, false, 0, false, false,
     NOACT},
    {"avgpool_incl", K_AVGPOOL, true, {1, 4, 9, 9}, 4, 0, 3, 2, 1, -1, 1, 0, false, false, true, 0, false, false,
     NOACT},
    {"relu", K_ELTWISE, true, {2, 3, 4, 5}, 4, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_RELU},
    {"sigmoid", K_ELTWISE, true, {7, 9}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_SIGMOID},
    {"tanh", K_ELTWISE, true, {3, 50}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_TANH},
    {"clip", K_ELTWISE, true, {2, 3, 4, 5}, 4, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_CLIP, 0, 0,
     -0.3f, 0.4f},
    {"leaky_relu", K_ELTWISE, true, {100}, 1, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_LEAKY_RELU,
     0.2f},
    {"elu", K_ELTWISE, true, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_ELU, 1.0f},
    {"hardswish", K_ELTWISE, true, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_HARD_SWISH},
    {"exp", K_ELTWISE, true, {4, 25}, 2, 0, 0, 0, 0, 0, 0, 0, false, false, false, 0, 0, 0, KN_OP_EXP},
};

static void test_op_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const op_case *c = &cases[i];
        kn_model_t *m = build_case(c);
        const int threads = c->threads ? c->threads : 2;
        kn_parity p = kn_parity_check_threads(m, 0, threads, c->tol, c->expect_dnnl ? "*" : NULL, true, c->name);
        if (p.wino_nodes != (kn_dnnl_wino_available() ? c->wino : 0))
            fail_msg("%s: %d Convs on the Winograd kernel, expected %d", c->name, p.wino_nodes,
                     kn_dnnl_wino_available() ? c->wino : 0);
        kn_model_free(m);
    }
}

/* ------------------------------------------------------------ model files */

static const int64_t model_batches[] = {1, 8};

static bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/*
 * Make the input of every Softmax/LogSoftmax that gives a graph output (the
 * classifiers' logits) an output too: probabilities saturate (near 1) or
 * flatten (near 1/classes) and then hide errors; the logits are compared
 * under the same bound.
 */
static void expose_logits(kn_model_t *m)
{
    kn_graph *g = &m->graph;
    int nout = g->num_outputs;
    for (int i = 0; i < nout; i++) {
        int p = g->values[g->outputs[i]].producer;
        if (p < 0 || (g->nodes[p].op != KN_OP_SOFTMAX && g->nodes[p].op != KN_OP_LOG_SOFTMAX))
            continue;
        int v = g->nodes[p].inputs[0];
        if (g->values[v].is_output || g->values[v].kind != KN_VALUE_INTERMEDIATE)
            continue;
        kn_error err;
        assert_int_equal(kn_graph_add_output(g, v, &err), KN_OK);
    }
}

/* Compare `m` (its logits exposed) at every batch of model_batches; `what` names it in the log. */
static void check_model(kn_model_t *m, const char *what)
{
    expose_logits(m);
    for (size_t b = 0; b < sizeof model_batches / sizeof model_batches[0]; b++)
        kn_parity_check(m, model_batches[b], KN_DNNL_TOL, NULL, false, what);
}

/* test_dnnl --model FILE: one model file (state: its path). */
static void test_model_file(void **state)
{
    const char *path = *state;
    kn_model_t *m;
    kn_error err;
    if (kn_model_load(path, &m, &err) != KN_OK)
        fail_msg("%s: %s", path, err.message);
    const char *base = strrchr(path, '/');
    check_model(m, base ? base + 1 : path);
    kn_model_free(m);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every model of spec `path` (`label` names it in the log); returns how many. */
static int check_spec_models(const char *path, const char *label)
{
    kn_spec spec;
    kn_error err;
    if (kn_spec_parse_file(path, &spec, &err) != KN_OK)
        fail_msg("%s", err.message);
    for (int i = 0; i < spec.num_models; i++) {
        kn_model_t *m;
        if (kn_model_load_spec(path, spec.models[i].name, &m, &err) != KN_OK)
            fail_msg("%s", err.message);
        char what[256];
        snprintf(what, sizeof what, "%s:%s", label, spec.models[i].name);
        check_model(m, what);
        kn_model_free(m);
    }
    int n = spec.num_models;
    kn_spec_free(&spec);
    return n;
}

/* The arguments of test_dnnl --models-dir DIR [SPEC.kiln ...]. */
typedef struct models_dir_args {
    const char *dir;
    int num_extra;
    char **extra;
} models_dir_args;

/* test_dnnl --models-dir: mnist_small.onnx and every model of every .kiln spec in DIR, then of each extra spec. */
static void test_models_dir(void **state)
{
    const models_dir_args *args = *state;
    const char *dir = args->dir;
    char path[1024];
    snprintf(path, sizeof path, "%s/mnist_small.onnx", dir);
    if (!file_exists(path))
        fail_msg("%s is missing", path);
    kn_model_t *m;
    kn_error err;
    if (kn_model_load(path, &m, &err) != KN_OK)
        fail_msg("%s: %s", path, err.message);
    check_model(m, "mnist_small.onnx");
    kn_model_free(m);

    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".kiln") == 0) {
            assert_true(n < 64);
            names[n] = kn_strdup(e->d_name);
            assert_non_null(names[n]);
            n++;
        }
    }
    closedir(d);
    assert_true(n > 0);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    int models = 0;
    for (int f = 0; f < n; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        models += check_spec_models(path, names[f]);
        free(names[f]);
    }
    for (int f = 0; f < args->num_extra; f++) {
        const char *base = strrchr(args->extra[f], '/');
        models += check_spec_models(args->extra[f], base ? base + 1 : args->extra[f]);
    }
    n += args->num_extra;
    printf("checked mnist_small.onnx and %d spec models from %d .kiln files\n", models, n);
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--model FILE | --models-dir DIR [SPEC.kiln ...]]\n", argv0);
    return 2;
}

/*
 * Run at the instruction set DNNL_MAX_CPU_ISA asks for (tests/dnnl.cmake runs the suite once per level): when
 * oneDNN does not run at exactly that level, this CPU lacks it, and the run is skipped with a line saying so.
 */
static bool isa_available(void)
{
    const char *want = getenv("DNNL_MAX_CPU_ISA"), *got = kn_backend_isa("dnnl");
    if (!want || !*want || strcasecmp(want, "ALL") == 0 || (got && strcasecmp(want, got) == 0))
        return true;
    printf("KILN_SKIP: this CPU has no %s: with DNNL_MAX_CPU_ISA=%s oneDNN runs %s\n", want, want, got ? got : "?");
    return false;
}

int main(int argc, char **argv)
{
    if (!isa_available())
        return 0;
    printf("oneDNN instruction set: %s\n", kn_backend_isa("dnnl"));
    if (argc == 3 && strcmp(argv[1], "--model") == 0) {
        if (!file_exists(argv[2])) {
            printf("KILN_SKIP: %s is absent (the classifier set is exported by the models.setup test)\n", argv[2]);
            return 0;
        }
        const struct CMUnitTest tests[] = {cmocka_unit_test_prestate(test_model_file, argv[2])};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (argc >= 3 && strcmp(argv[1], "--models-dir") == 0) {
        models_dir_args args = {argv[2], argc - 3, argv + 3};
        const struct CMUnitTest tests[] = {cmocka_unit_test_prestate(test_models_dir, &args)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (argc != 1)
        return usage(argv[0]);
    /* the table cases test kiln's Winograd kernel where it can run: not timed against oneDNN's (which could take the
     * small cases); the model files above keep the per-node timing (backends/dnnl/dnnl_tune.c) */
    setenv("KILN_DNNL_WINOGRAD", "1", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_cases),
        cmocka_unit_test(kn_dnnl_test_binary),
        cmocka_unit_test(kn_dnnl_test_concat),
        cmocka_unit_test(kn_dnnl_test_concat_chain),
        cmocka_unit_test(kn_dnnl_test_fire),
        cmocka_unit_test(kn_dnnl_test_norm),
        cmocka_unit_test(kn_dnnl_test_softmax),
        cmocka_unit_test(kn_dnnl_test_conv_transpose),
        cmocka_unit_test(kn_dnnl_test_pools),
        cmocka_unit_test(kn_dnnl_test_matmul),
        cmocka_unit_test(kn_dnnl_test_post_ops),
        cmocka_unit_test(kn_dnnl_test_tensor_ops),
        cmocka_unit_test(kn_dnnl_test_flatten),
        cmocka_unit_test(kn_dnnl_test_train_grads),
        cmocka_unit_test(kn_dnnl_test_train_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
