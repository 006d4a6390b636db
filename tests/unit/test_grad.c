/*
 * test_grad.c - every gradient rule of ir/ops.def against central finite
 * differences, on the reference backend.
 *
 * Each case builds a small graph: one op (with its attribute variant) whose
 * float inputs are trainable weights (seeded uniform values), and, unless
 * the op is itself a loss, the loss mean((y - T)^2) on its first output
 * against a random target T. The training passes (infer_and_fold,
 * training_mode, autodiff) add the backward graph; the gradient of every
 * weight becomes a graph output and the graph runs once on the reference
 * backend. Then each weight element is moved by +-h and the graph run again:
 * the loss recomputed in double precision on the host from y (float32),
 * (L(w + h) - L(w - h)) / 2h, must match the analytic gradient within
 * |fd - an| <= 1e-3 + 2e-2 * max(|fd|, |an|). A case also fails when every
 * gradient of a weight is zero (a rule that returns nothing must not pass)
 * unless the op is piecewise constant (Floor, Ceil, Round, Sign: zero_grad,
 * where the finite differences must be zero too), and every op with a
 * gradient rule must have a case. The gradients must also come out bit for
 * bit the same in a session's planned arena (in-place outputs, the kernels'
 * scratch).
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
#include "memplan.h"
#include "passes.h"
#include "ref.h"
#include "runtime_internal.h"
#include "testutil.h"

#define MAXIN 6

/* One graph input of a case: float32 weight of a shape (uniform in [lo, hi)), or an integer constant. */
typedef struct gin {
    int rank;
    int64_t dims[5];
    float lo, hi;            /* lo == hi: 0, -1 */
    int nints;               /* > 0: an int64 constant of these values (a shape, labels, ...); of shape dims when
                              * rank > 0, else 1-D */
    int64_t ints[8];
    bool fixed;              /* a float constant (not differentiated: a target) */
    bool mask;               /* a bool constant of this shape (true at every element whose index is 0 or 1 mod 3) */
    int nzeros;              /* these elements of a weight are exactly 0 (ReduceProd's groups with zeros) */
    int zeros[4];
} gin;

typedef struct grad_case {
    const char *name;
    kn_op op;
    int nin;
    gin in[MAXIN];
    int nout;                /* outputs of the op (the loss reads output 0) */
    void (*set)(kn_attrs *a);
    bool is_loss;            /* the op's output 0 is the loss itself */
    bool step;               /* append the int64 step input (DropoutTrain needs it at the end) */
    bool inference_form;     /* no training-mode pass: BatchNormalization with its running statistics */
    bool zero_grad;          /* piecewise constant: every gradient is 0 (and so is every finite difference) */
} grad_case;

/* ------------------------------------------------------------ attribute setters */

static void conv_pad1(kn_attrs *a) { a->window.nspatial = 2; a->window.pad_begin[0] = a->window.pad_begin[1] = a->window.pad_end[0] = a->window.pad_end[1] = 1; }
static void conv_s2(kn_attrs *a) { conv_pad1(a); a->window.stride[0] = a->window.stride[1] = 2; }
static void conv_g2(kn_attrs *a) { conv_pad1(a); a->window.group = 2; }
static void conv_dil(kn_attrs *a) { a->window.nspatial = 2; a->window.dilation[0] = a->window.dilation[1] = 2; a->window.pad_begin[1] = 2; a->window.pad_end[0] = 1; }
static void conv_asym(kn_attrs *a) { a->window.nspatial = 2; a->window.pad_begin[0] = 2; a->window.pad_end[1] = 1; a->window.stride[1] = 2; }
static void conv_1d(kn_attrs *a) { a->window.nspatial = 1; a->window.pad_begin[0] = 1; a->window.stride[0] = 2; }
static void deconv_s2(kn_attrs *a) { a->window.nspatial = 2; a->window.stride[0] = a->window.stride[1] = 2; a->window.pad_begin[0] = a->window.pad_begin[1] = 1; a->window.pad_end[0] = a->window.pad_end[1] = 2; }
static void deconv_op(kn_attrs *a) { deconv_s2(a); a->window.pad_end[0] = a->window.pad_end[1] = 1; a->window.output_padding[0] = a->window.output_padding[1] = 1; }
static void deconv_g2(kn_attrs *a) { a->window.nspatial = 2; a->window.group = 2; a->window.pad_begin[0] = a->window.pad_end[0] = 1; }
static void gemm_tb(kn_attrs *a) { a->gemm.trans_b = true; }
static void gemm_ta(kn_attrs *a) { a->gemm.trans_a = true; a->gemm.alpha = 0.5f; a->gemm.beta = 2.0f; }
static void gemm_tab(kn_attrs *a) { a->gemm.trans_a = a->gemm.trans_b = true; }
static void leaky(kn_attrs *a) { a->scalar.alpha = 0.2f; }
static void elu(kn_attrs *a) { a->scalar.alpha = 0.7f; }
static void clip(kn_attrs *a) { a->scalar.min = -0.5f; a->scalar.max = 0.4f; }
static void axis1(kn_attrs *a) { a->axis.axis = 1; }
static void axis_m1(kn_attrs *a) { a->axis.axis = -1; }
static void pool2(kn_attrs *a) { a->window.nspatial = 2; a->window.kernel[0] = a->window.kernel[1] = 2; a->window.stride[0] = a->window.stride[1] = 2; }
static void pool3(kn_attrs *a) { a->window.nspatial = 2; a->window.kernel[0] = a->window.kernel[1] = 3; a->window.stride[0] = a->window.stride[1] = 2; a->window.pad_begin[0] = a->window.pad_begin[1] = a->window.pad_end[0] = a->window.pad_end[1] = 1; }
static void pool3_ceil(kn_attrs *a) { pool3(a); a->window.pad_end[0] = a->window.pad_end[1] = 0; a->window.ceil_mode = true; }
static void pool3_incl(kn_attrs *a) { pool3(a); a->window.count_include_pad = true; }
static void bn(kn_attrs *a) { a->batch_norm.epsilon = 1e-3f; a->batch_norm.momentum = 0.9f; }
static void drop(kn_attrs *a) { a->scalar.ratio = 0.4f; }
static void perm(kn_attrs *a) { a->transpose.nperm = 4; a->transpose.perm[0] = 0; a->transpose.perm[1] = 2; a->transpose.perm[2] = 3; a->transpose.perm[3] = 1; }
static void split3(kn_attrs *a) { a->axis.axis = 2; }
static void bce_eps(kn_attrs *a) { a->loss.epsilon = 1e-7f; }
static void ln_axis1(kn_attrs *a) { a->layer_norm.axis = 1; a->layer_norm.epsilon = 1e-3f; }
static void red13(kn_attrs *a) { a->reduce.naxes = 2; a->reduce.axes[0] = 1; a->reduce.axes[1] = -1; }
static void red1_drop(kn_attrs *a) { a->reduce.naxes = 1; a->reduce.axes[0] = 1; a->reduce.keepdims = false; }
/* Resize as the spec's upsampling2d emits it (nearest: asymmetric + floor, Keras's repeat; bilinear: half_pixel) */
static void rs_nearest(kn_attrs *a) { a->resize.mode = KN_RESIZE_NEAREST; a->resize.coord = KN_COORD_ASYMMETRIC; a->resize.nearest = KN_NEAREST_FLOOR; }
static void rs_nearest_round(kn_attrs *a) { a->resize.mode = KN_RESIZE_NEAREST; a->resize.coord = KN_COORD_HALF_PIXEL; }
static void rs_linear(kn_attrs *a) { a->resize.mode = KN_RESIZE_LINEAR; a->resize.coord = KN_COORD_HALF_PIXEL; }
static void rs_linear_ac(kn_attrs *a) { a->resize.mode = KN_RESIZE_LINEAR; a->resize.coord = KN_COORD_ALIGN_CORNERS; }
static void rs_cubic(kn_attrs *a) { a->resize.mode = KN_RESIZE_CUBIC; }
static void block2(kn_attrs *a) { a->block.blocksize = 2; }
static void block2_crd(kn_attrs *a) { a->block.blocksize = 2; a->block.crd = true; }
static void fmod1(kn_attrs *a) { a->mod.fmod = true; }
static void to_f32(kn_attrs *a) { a->dtype.to = KN_F32; }
static void scatter_add(kn_attrs *a) { a->scatter.reduction = KN_SCATTER_ADD; }
static void lrn3(kn_attrs *a) { a->lrn.size = 3; a->lrn.alpha = 0.9f; a->lrn.beta = 0.75f; a->lrn.bias = 1.0f; }
static void lrn4(kn_attrs *a) { a->lrn.size = 4; a->lrn.alpha = 1.2f; a->lrn.beta = 0.6f; a->lrn.bias = 2.0f; }
static void lrn7(kn_attrs *a) { a->lrn.size = 7; a->lrn.alpha = 2.0f; a->lrn.beta = 1.1f; a->lrn.bias = 1.5f; }

#define W(r, ...) {.rank = r, .dims = {__VA_ARGS__}, .lo = -1.0f, .hi = 1.0f}
#define P(r, ...) {.rank = r, .dims = {__VA_ARGS__}, .lo = 0.05f, .hi = 0.95f}     /* probabilities */
#define POS(r, ...) {.rank = r, .dims = {__VA_ARGS__}, .lo = 0.5f, .hi = 2.0f}     /* away from 0 */
#define T(r, ...) {.rank = r, .dims = {__VA_ARGS__}, .lo = 0.0f, .hi = 1.0f, .fixed = true}
#define INTS(n, ...) {.nints = n, .ints = {__VA_ARGS__}}
#define MASK(r, ...) {.rank = r, .dims = {__VA_ARGS__}, .mask = true}
#define NONE {.rank = 1, .dims = {0}, .fixed = true}                                  /* an empty float constant */
#define R(r, lo_, hi_, ...) {.rank = r, .dims = {__VA_ARGS__}, .lo = lo_, .hi = hi_}  /* a weight in [lo, hi) */

static const grad_case cases[] = {
    {"conv3x3_pad1", KN_OP_CONV, 3, {W(4, 2, 3, 5, 5), W(4, 4, 3, 3, 3), W(1, 4)}, 1, conv_pad1},
    {"conv_stride2", KN_OP_CONV, 3, {W(4, 2, 3, 6, 7), W(4, 2, 3, 3, 3), W(1, 2)}, 1, conv_s2},
    {"conv_groups2", KN_OP_CONV, 2, {W(4, 1, 4, 5, 5), W(4, 6, 2, 3, 3)}, 1, conv_g2},
    {"conv_dilated", KN_OP_CONV, 3, {W(4, 1, 2, 7, 6), W(4, 3, 2, 3, 2), W(1, 3)}, 1, conv_dil},
    {"conv_asym_pad", KN_OP_CONV, 2, {W(4, 2, 2, 5, 6), W(4, 3, 2, 2, 3)}, 1, conv_asym},
    {"conv1x1", KN_OP_CONV, 3, {W(4, 2, 3, 4, 4), W(4, 5, 3, 1, 1), W(1, 5)}, 1, NULL},
    {"conv1d_stride2", KN_OP_CONV, 3, {W(3, 2, 3, 9), W(3, 2, 3, 3), W(1, 2)}, 1, conv_1d},
    {"deconv_s1", KN_OP_CONV_TRANSPOSE, 3, {W(4, 2, 3, 4, 4), W(4, 3, 2, 3, 3), W(1, 2)}, 1, NULL},
    {"deconv_s2_5x5", KN_OP_CONV_TRANSPOSE, 3, {W(4, 1, 2, 3, 3), W(4, 2, 3, 5, 5), W(1, 3)}, 1, deconv_s2},
    {"deconv_outpad", KN_OP_CONV_TRANSPOSE, 2, {W(4, 2, 2, 3, 3), W(4, 2, 2, 3, 3)}, 1, deconv_op},
    {"deconv_groups2", KN_OP_CONV_TRANSPOSE, 2, {W(4, 1, 4, 3, 4), W(4, 4, 1, 3, 2)}, 1, deconv_g2},
    {"gemm_transb_bias", KN_OP_GEMM, 3, {W(2, 3, 4), W(2, 5, 4), W(1, 5)}, 1, gemm_tb},
    {"gemm_transa_alpha_beta", KN_OP_GEMM, 3, {W(2, 4, 3), W(2, 4, 5), W(2, 1, 5)}, 1, gemm_ta},
    {"gemm_both_trans_full_c", KN_OP_GEMM, 3, {W(2, 4, 3), W(2, 5, 4), W(2, 3, 5)}, 1, gemm_tab},
    {"matmul_2d", KN_OP_MATMUL, 2, {W(2, 3, 4), W(2, 4, 2)}, 1, NULL},
    {"matmul_3d_by_2d", KN_OP_MATMUL, 2, {W(3, 2, 3, 4), W(2, 4, 5)}, 1, NULL},
    {"matmul_batch_broadcast", KN_OP_MATMUL, 2, {W(3, 1, 3, 4), W(3, 2, 4, 2)}, 1, NULL},
    {"add_broadcast", KN_OP_ADD, 2, {W(3, 2, 3, 4), W(2, 3, 1)}, 1, NULL},
    {"sub_broadcast", KN_OP_SUB, 2, {W(1, 4), W(3, 2, 3, 4)}, 1, NULL},
    {"mul_broadcast", KN_OP_MUL, 2, {W(3, 2, 3, 4), W(3, 2, 1, 4)}, 1, NULL},
    {"div_broadcast", KN_OP_DIV, 2, {W(3, 2, 3, 4), POS(1, 4)}, 1, NULL},
    {"mul_same", KN_OP_MUL, 2, {W(2, 3, 4), W(2, 3, 4)}, 1, NULL},
    {"relu", KN_OP_RELU, 1, {W(2, 4, 6)}, 1, NULL},
    {"leaky_relu", KN_OP_LEAKY_RELU, 1, {W(2, 4, 6)}, 1, leaky},
    {"elu", KN_OP_ELU, 1, {W(2, 4, 6)}, 1, elu},
    {"sigmoid", KN_OP_SIGMOID, 1, {W(2, 4, 6)}, 1, NULL},
    {"tanh", KN_OP_TANH, 1, {W(2, 4, 6)}, 1, NULL},
    {"swish", KN_OP_SWISH, 1, {W(2, 4, 6)}, 1, NULL},
    {"gelu", KN_OP_GELU, 1, {{.rank = 2, .dims = {4, 6}, .lo = -3.0f, .hi = 3.0f}}, 1, NULL},
    {"mish", KN_OP_MISH, 1, {{.rank = 2, .dims = {4, 6}, .lo = -3.0f, .hi = 3.0f}}, 1, NULL},
    {"hard_swish", KN_OP_HARD_SWISH, 1, {{.rank = 2, .dims = {4, 6}, .lo = -4.0f, .hi = 4.0f}}, 1, NULL},
    {"hard_sigmoid", KN_OP_HARD_SIGMOID, 1, {{.rank = 2, .dims = {4, 6}, .lo = -4.0f, .hi = 4.0f}}, 1, NULL},
    {"clip", KN_OP_CLIP, 1, {W(2, 4, 6)}, 1, clip},
    {"sqrt", KN_OP_SQRT, 1, {POS(2, 3, 4)}, 1, NULL},
    {"exp", KN_OP_EXP, 1, {W(2, 3, 4)}, 1, NULL},
    {"erf", KN_OP_ERF, 1, {W(2, 3, 4)}, 1, NULL},
    {"sum3_broadcast", KN_OP_SUM, 3, {W(3, 2, 3, 4), W(2, 3, 1), W(1, 4)}, 1, NULL},
    {"mean2", KN_OP_MEAN, 2, {W(3, 2, 3, 4), W(3, 2, 1, 4)}, 1, NULL},
    {"min3_broadcast", KN_OP_MIN, 3, {W(3, 2, 3, 4), W(2, 3, 1), W(1, 4)}, 1, NULL},
    {"max2", KN_OP_MAX, 2, {W(3, 2, 3, 4), W(3, 2, 1, 4)}, 1, NULL},
    {"where_broadcast", KN_OP_WHERE, 3, {MASK(2, 3, 4), W(3, 2, 3, 4), W(2, 3, 1)}, 1, NULL},
    {"expand", KN_OP_EXPAND, 2, {W(3, 2, 1, 4), INTS(4, 3, 2, 3, 4)}, 1, NULL},
    {"layer_norm_last", KN_OP_LAYER_NORM, 3, {W(3, 2, 3, 5), POS(1, 5), W(1, 5)}, 1, NULL},
    {"layer_norm_axis1", KN_OP_LAYER_NORM, 2, {W(3, 2, 3, 5), POS(3, 1, 3, 5)}, 1, ln_axis1},
    {"instance_norm", KN_OP_INSTANCE_NORM, 3, {W(4, 2, 3, 4, 3), POS(1, 3), W(1, 3)}, 1, NULL},
    {"reduce_sum_axes13", KN_OP_REDUCE_SUM, 1, {W(3, 2, 3, 4)}, 1, red13},
    {"reduce_sum_axes_input", KN_OP_REDUCE_SUM, 2, {W(3, 2, 3, 4), INTS(1, 0)}, 1, NULL},
    {"reduce_mean_drop", KN_OP_REDUCE_MEAN, 1, {W(3, 2, 3, 4)}, 1, red1_drop},
    {"reduce_mean_all", KN_OP_REDUCE_MEAN, 1, {W(3, 2, 3, 4)}, 1, NULL},
    {"reduce_max", KN_OP_REDUCE_MAX, 1, {W(3, 2, 3, 4)}, 1, red13},
    {"reduce_min_drop", KN_OP_REDUCE_MIN, 1, {W(3, 2, 3, 4)}, 1, red1_drop},
    {"reduce_l1", KN_OP_REDUCE_L1, 1, {W(3, 2, 3, 4)}, 1, red13},
    {"reduce_l2", KN_OP_REDUCE_L2, 1, {W(3, 2, 3, 4)}, 1, red1_drop},
    {"reduce_log_sum", KN_OP_REDUCE_LOG_SUM, 1, {POS(3, 2, 3, 4)}, 1, red13},
    {"reduce_log_sum_exp", KN_OP_REDUCE_LOG_SUM_EXP, 1, {W(3, 2, 3, 4)}, 1, red1_drop},
    {"reduce_sum_square", KN_OP_REDUCE_SUM_SQUARE, 1, {W(3, 2, 3, 4)}, 1, red13},
    {"prelu", KN_OP_PRELU, 2, {W(3, 2, 3, 4), W(2, 3, 1)}, 1, NULL},
    /* ReduceProd: in group (0, 0) two zeros (every derivative 0), in (0, 1) one (only the zero's is not) */
    {"reduce_prod_zeros", KN_OP_REDUCE_PROD, 1,
     {{.rank = 3, .dims = {2, 3, 4}, .lo = -1.5f, .hi = 1.5f, .nzeros = 3, .zeros = {0, 4, 5}}}, 1, red1_drop},
    {"reduce_prod_axes13", KN_OP_REDUCE_PROD, 1, {{.rank = 3, .dims = {2, 3, 2}, .lo = 0.5f, .hi = 1.5f}}, 1, red13},
    {"reduce_prod_all", KN_OP_REDUCE_PROD, 1, {{.rank = 2, .dims = {3, 3}, .lo = 0.6f, .hi = 1.4f}}, 1, NULL},
    /* Resize (X, roi, scales, sizes): batch 1 and 2, non-square factors and sizes */
    {"resize_nearest_2x3", KN_OP_RESIZE, 4, {W(4, 1, 2, 3, 4), NONE, NONE, INTS(4, 1, 2, 6, 12)}, 1, rs_nearest},
    {"resize_nearest_b2", KN_OP_RESIZE, 4, {W(4, 2, 3, 3, 2), NONE, NONE, INTS(4, 2, 3, 6, 4)}, 1, rs_nearest},
    {"resize_nearest_round", KN_OP_RESIZE, 4, {W(4, 2, 1, 3, 4), NONE, NONE, INTS(4, 2, 1, 7, 5)}, 1,
     rs_nearest_round},
    {"resize_bilinear_2x2", KN_OP_RESIZE, 4, {W(4, 1, 2, 3, 5), NONE, NONE, INTS(4, 1, 2, 6, 10)}, 1, rs_linear},
    {"resize_bilinear_b2_2x3", KN_OP_RESIZE, 4, {W(4, 2, 2, 4, 3), NONE, NONE, INTS(4, 2, 2, 8, 9)}, 1, rs_linear},
    {"resize_linear_corners", KN_OP_RESIZE, 4, {W(4, 2, 1, 3, 4), NONE, NONE, INTS(4, 2, 1, 5, 7)}, 1, rs_linear_ac},
    {"resize_cubic", KN_OP_RESIZE, 4, {W(4, 1, 1, 4, 4), NONE, NONE, INTS(4, 1, 1, 7, 6)}, 1, rs_cubic},
    {"tile", KN_OP_TILE, 2, {W(3, 2, 3, 2), INTS(3, 2, 1, 3)}, 1, NULL},
    {"tile_ones", KN_OP_TILE, 2, {W(4, 1, 2, 1, 3), INTS(4, 3, 2, 2, 1)}, 1, NULL},
    {"depth_to_space_dcr", KN_OP_DEPTH_TO_SPACE, 1, {W(4, 2, 8, 2, 3)}, 1, block2},
    {"depth_to_space_crd", KN_OP_DEPTH_TO_SPACE, 1, {W(4, 1, 8, 3, 2)}, 1, block2_crd},
    {"space_to_depth", KN_OP_SPACE_TO_DEPTH, 1, {W(4, 2, 2, 4, 6)}, 1, block2},
    {"abs", KN_OP_ABS, 1, {W(2, 3, 4)}, 1, NULL},
    {"neg", KN_OP_NEG, 1, {W(2, 3, 4)}, 1, NULL},
    {"reciprocal", KN_OP_RECIPROCAL, 1, {POS(2, 3, 4)}, 1, NULL},
    {"log", KN_OP_LOG, 1, {POS(2, 3, 4)}, 1, NULL},
    {"sin", KN_OP_SIN, 1, {{.rank = 2, .dims = {4, 6}, .lo = -3.0f, .hi = 3.0f}}, 1, NULL},
    {"cos", KN_OP_COS, 1, {{.rank = 2, .dims = {4, 6}, .lo = -3.0f, .hi = 3.0f}}, 1, NULL},
    {"softplus", KN_OP_SOFTPLUS, 1, {{.rank = 2, .dims = {4, 6}, .lo = -4.0f, .hi = 4.0f}}, 1, NULL},
    {"softsign", KN_OP_SOFTSIGN, 1, {{.rank = 2, .dims = {4, 6}, .lo = -4.0f, .hi = 4.0f}}, 1, NULL},
    {"selu", KN_OP_SELU, 1, {W(2, 4, 6)}, 1, NULL},
    {"celu", KN_OP_CELU, 1, {W(2, 4, 6)}, 1, elu},
    {"thresholded_relu", KN_OP_THRESHOLDED_RELU, 1, {{.rank = 2, .dims = {4, 6}, .lo = -2.0f, .hi = 2.0f}}, 1,
     NULL},
    {"softmax_last", KN_OP_SOFTMAX, 1, {W(2, 3, 5)}, 1, axis_m1},
    {"softmax_axis1", KN_OP_SOFTMAX, 1, {W(3, 2, 4, 3)}, 1, axis1},
    {"log_softmax", KN_OP_LOG_SOFTMAX, 1, {W(2, 3, 5)}, 1, axis_m1},
    {"maxpool2x2", KN_OP_MAX_POOL, 1, {W(4, 2, 2, 4, 6)}, 1, pool2},
    {"maxpool3x3_s2_pad", KN_OP_MAX_POOL, 1, {W(4, 1, 2, 7, 6)}, 1, pool3},
    {"maxpool_ceil", KN_OP_MAX_POOL, 1, {W(4, 1, 2, 6, 6)}, 1, pool3_ceil},
    {"avgpool3x3_excl", KN_OP_AVERAGE_POOL, 1, {W(4, 1, 2, 7, 6)}, 1, pool3},
    {"avgpool3x3_incl", KN_OP_AVERAGE_POOL, 1, {W(4, 1, 2, 7, 6)}, 1, pool3_incl},
    {"avgpool_ceil", KN_OP_AVERAGE_POOL, 1, {W(4, 1, 2, 6, 6)}, 1, pool3_ceil},
    {"global_avgpool", KN_OP_GLOBAL_AVERAGE_POOL, 1, {W(4, 2, 3, 4, 5)}, 1, NULL},
    {"global_maxpool", KN_OP_GLOBAL_MAX_POOL, 1, {W(4, 2, 3, 4, 5)}, 1, NULL},
    /* training mode: batch statistics (the running ones are state, updated, not differentiated) */
    {"batchnorm_train", KN_OP_BATCH_NORM, 5, {W(4, 3, 2, 3, 3), POS(1, 2), W(1, 2), T(1, 2), POS(1, 2)}, 1, bn},
    {"batchnorm_train_2d", KN_OP_BATCH_NORM, 5, {W(2, 5, 3), POS(1, 3), W(1, 3), T(1, 3), POS(1, 3)}, 1, bn},
    {"batchnorm_inference", KN_OP_BATCH_NORM, 5, {W(4, 2, 2, 2, 3), POS(1, 2), W(1, 2), W(1, 2), POS(1, 2)}, 1, bn,
     false, false, true},
    {"dropout_train", KN_OP_DROPOUT, 1, {W(2, 6, 5)}, 1, drop, false, true},
    {"flatten", KN_OP_FLATTEN, 1, {W(4, 2, 3, 2, 2)}, 1, NULL},
    {"reshape", KN_OP_RESHAPE, 2, {W(3, 2, 3, 4), INTS(2, 6, 4)}, 1, NULL},
    {"transpose", KN_OP_TRANSPOSE, 1, {W(4, 2, 3, 4, 2)}, 1, perm},
    {"concat_axis1", KN_OP_CONCAT, 3, {W(3, 2, 2, 3), W(3, 2, 1, 3), W(3, 2, 3, 3)}, 1, axis1},
    {"split_axis2", KN_OP_SPLIT, 2, {W(3, 2, 3, 5), INTS(2, 2, 3)}, 2, split3},
    {"slice_steps", KN_OP_SLICE, 5, {W(3, 3, 4, 6), INTS(2, 1, 5), INTS(2, 3, 0), INTS(2, 1, 2), INTS(2, 1, -2)}, 1,
     NULL},
    {"pad_constant", KN_OP_PAD, 2, {W(3, 2, 3, 2), INTS(6, 0, 1, 2, 0, 0, 1)}, 1, NULL},
    {"squeeze", KN_OP_SQUEEZE, 2, {W(3, 2, 1, 3), INTS(1, 1)}, 1, NULL},
    {"unsqueeze", KN_OP_UNSQUEEZE, 2, {W(2, 2, 3), INTS(1, 1)}, 1, NULL},
    {"identity", KN_OP_IDENTITY, 1, {W(2, 3, 4)}, 1, NULL},
    /* Pow: both operands broadcast; an int64 exponent (cast to float32 by the rule) */
    {"pow_broadcast", KN_OP_POW, 2, {POS(3, 2, 3, 4), R(2, -1.5f, 2.0f, 3, 1)}, 1, NULL},
    {"pow_base_broadcast", KN_OP_POW, 2, {POS(1, 4), R(3, -1.0f, 1.5f, 2, 3, 4)}, 1, NULL},
    {"pow_int_exponent", KN_OP_POW, 2, {W(2, 3, 4), INTS(1, 3)}, 1, NULL},
    /* float Mod (fmod): the quotients a / b stay away from integers (the jumps) by far more than a step h */
    {"mod_fmod_broadcast", KN_OP_MOD, 2, {R(3, -3.0f, 3.0f, 2, 3, 2), R(2, 0.7f, 1.9f, 3, 1)}, 1, fmod1},
    {"mod_fmod_negative", KN_OP_MOD, 2, {R(1, -2.5f, 2.5f, 5), R(2, -1.6f, -0.6f, 2, 5)}, 1, fmod1},
    /* piecewise constant: zero gradients (the values sit away from the jumps at integers, .5 and 0) */
    {"floor", KN_OP_FLOOR, 1, {R(2, 0.1f, 0.9f, 3, 4)}, 1, NULL, .zero_grad = true},
    {"ceil", KN_OP_CEIL, 1, {R(2, -2.9f, -2.1f, 3, 4)}, 1, NULL, .zero_grad = true},
    {"round", KN_OP_ROUND, 1, {R(2, 0.55f, 1.45f, 3, 4)}, 1, NULL, .zero_grad = true},
    {"sign", KN_OP_SIGN, 1, {W(2, 3, 4)}, 1, NULL, .zero_grad = true},
    {"cast_float_to_float", KN_OP_CAST, 1, {W(2, 3, 4)}, 1, to_f32},
    /* Gather: repeated and negative indices (their gradients add up) */
    {"gather_axis0_repeats", KN_OP_GATHER, 2, {W(2, 5, 3), INTS(6, 1, 3, 1, -1, 0, 1)}, 1, NULL},
    {"gather_axis1_2d_indices", KN_OP_GATHER, 2,
     {W(3, 2, 4, 3), {.rank = 2, .dims = {2, 3}, .nints = 6, .ints = {2, -1, 2, 0, 3, -4}}}, 1, axis1},
    /* GatherND: index tuples of depth 2 (one repeated) and 1 */
    {"gather_nd_depth2_repeats", KN_OP_GATHER_ND, 2,
     {W(3, 3, 4, 2), {.rank = 2, .dims = {3, 2}, .nints = 6, .ints = {0, 1, 2, -1, 0, 1}}}, 1, NULL},
    {"gather_nd_depth1", KN_OP_GATHER_ND, 2,
     {W(2, 4, 3), {.rank = 3, .dims = {2, 1, 1}, .nints = 2, .ints = {3, 1}}}, 1, NULL},
    /* ScatterND: data and updates both trained; with reduction add, a repeated index */
    {"scatter_nd", KN_OP_SCATTER_ND, 3,
     {W(3, 4, 3, 2), {.rank = 2, .dims = {2, 1}, .nints = 2, .ints = {1, -1}}, W(3, 2, 3, 2)}, 1, NULL},
    {"scatter_nd_depth2", KN_OP_SCATTER_ND, 3,
     {W(3, 3, 4, 2), {.rank = 2, .dims = {2, 2}, .nints = 4, .ints = {0, 3, 2, 1}}, W(2, 2, 2)}, 1, NULL},
    {"scatter_nd_add_repeats", KN_OP_SCATTER_ND, 3,
     {W(2, 4, 3), {.rank = 2, .dims = {3, 1}, .nints = 3, .ints = {1, 1, 0}}, W(2, 3, 3)}, 1, scatter_add},
    /* LRN: odd and even windows, and one wider than the channels */
    {"lrn3", KN_OP_LRN, 1, {W(4, 2, 5, 3, 2)}, 1, lrn3},
    {"lrn4_even", KN_OP_LRN, 1, {W(4, 1, 6, 2, 3)}, 1, lrn4},
    {"lrn7_wide", KN_OP_LRN, 1, {W(3, 2, 3, 4)}, 1, lrn7},
    /* losses: the op is the loss */
    {"softmax_cross_entropy", KN_OP_SOFTMAX_CROSS_ENTROPY, 2, {W(2, 4, 5), INTS(4, 1, 0, 4, 2)}, 2, NULL, true},
    {"cross_entropy", KN_OP_CROSS_ENTROPY, 2, {P(2, 4, 5), INTS(4, 3, 0, 4, 2)}, 1, NULL, true},
    {"binary_cross_entropy", KN_OP_BINARY_CROSS_ENTROPY, 2, {P(2, 4, 3), T(2, 4, 3)}, 1, bce_eps, true},
    {"bce_with_logits", KN_OP_BCE_WITH_LOGITS, 2, {W(2, 4, 3), T(2, 4, 3)}, 1, NULL, true},
    {"mse", KN_OP_MSE_LOSS, 2, {W(2, 4, 3), T(2, 4, 3)}, 1, NULL, true},
};

/* ------------------------------------------------------------ harness */

/*
 * n distinct values spread evenly over [lo, hi) (off the grid's centre, so that none sits on a kink such as 0,
 * +-2.5 or +-3), shuffled: no two inputs of a max pool tie, and no value is within a step h of a kink.
 */
static void fill_distinct(uint64_t *seed, float *x, size_t n, float lo, float hi)
{
    const double step = ((double)hi - lo) / (double)(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + ((double)i + 0.6234) * step);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(kn_test_uniform(seed, 0.0f, 1.0f) * (float)i);
        j = j >= i ? i - 1 : j;
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

typedef struct built {
    kn_graph g;
    int w[MAXIN], nw;         /* weights (value ids) */
    int grad[MAXIN];          /* their gradients (value ids, graph outputs) */
    int y, target;            /* output 0 of the op; the loss target (or -1) */
    bool is_loss;
} built;

static void build(const grad_case *c, built *b)
{
    kn_graph *g = &b->g;
    kn_graph_init(g);
    g->name = kn_strdup(c->name);
    g->variables = true;
    uint64_t seed = 0x51ed27a1u ^ (uint64_t)strlen(c->name) * 7919u;
    int in[MAXIN + 1], outs[4];
    b->nw = 0;
    for (int k = 0; k < c->nin; k++) {
        const gin *x = &c->in[k];
        char name[32];
        snprintf(name, sizeof name, "in%d", k);
        if (x->nints > 0) {
            int64_t *d = malloc(sizeof(int64_t) * (size_t)x->nints);
            memcpy(d, x->ints, sizeof(int64_t) * (size_t)x->nints);
            in[k] = kn_test_add_value(g, name, KN_I64, x->rank ? x->rank : 1, x->rank ? x->dims : (int64_t[]){x->nints},
                                      KN_VALUE_CONST, d);
            continue;
        }
        kn_shape s = {.rank = x->rank};
        memcpy(s.dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
        size_t n;
        assert_int_equal(kn_shape_numel(&s, &n), KN_OK);
        if (x->mask) {
            unsigned char *m = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                m[i] = i % 3 != 2;
            in[k] = kn_test_add_value(g, name, KN_BOOL, x->rank, x->dims, KN_VALUE_CONST, m);
            continue;
        }
        float *d = malloc(sizeof(float) * (n ? n : 1));
        if (x->fixed)
            kn_test_fill(&seed, d, n, x->lo, x->hi);
        else
            fill_distinct(&seed, d, n, x->lo, x->hi);
        for (int z = 0; z < x->nzeros; z++)
            d[x->zeros[z]] = 0.0f;
        /* BatchNormalization's statistics are state; a target is a constant; the rest are trained weights */
        const bool state = c->op == KN_OP_BATCH_NORM && k >= 3;
        in[k] = kn_test_add_value(g, name, KN_F32, x->rank, x->dims,
                                  state ? KN_VALUE_STATE : x->fixed ? KN_VALUE_CONST : KN_VALUE_PARAM, d);
        if (!state && !x->fixed && !(c->is_loss && k == 1))
            b->w[b->nw++] = in[k];
    }
    int nin = c->nin;
    if (c->step) {
        int64_t *t = calloc(1, sizeof(int64_t));
        in[nin] = kn_test_add_value(g, "step", KN_I64, 0, NULL, KN_VALUE_CONST, t);
    }
    for (int k = 0; k < c->nout; k++) {
        char name[32];
        snprintf(name, sizeof name, "y%d", k);
        outs[k] = kn_test_add_tmp(g, name);
    }
    kn_attrs a;
    kn_attrs_init(c->op, &a);
    if (c->set)
        c->set(&a);
    assert_int_equal(kn_graph_add_node(g, "op", c->op, in, nin, outs, c->nout, &a, NULL, NULL), KN_OK);
    b->y = outs[0];
    b->is_loss = c->is_loss;
    b->target = -1;
    if (!c->is_loss) {
        /* the loss mean((y - T)^2); T random, fixed per case (the op's shapes first, to size T) */
        assert_int_equal(kn_node_infer_shape(g, &g->nodes[0], NULL), KN_OK);
        const kn_value *yv = &g->values[b->y];
        size_t n;
        assert_int_equal(kn_shape_numel(&yv->shape, &n), KN_OK);
        float *t = malloc(sizeof(float) * (n ? n : 1));
        kn_test_fill(&seed, t, n, -1.0f, 1.0f);
        kn_shape ys = yv->shape;
        b->target = kn_test_add_value(g, "target", KN_F32, ys.rank, ys.dims, KN_VALUE_CONST, t);
        int loss = kn_test_add_tmp(g, "loss");
        int lin[2] = {b->y, b->target};
        assert_int_equal(kn_graph_add_node(g, "mse", KN_OP_MSE_LOSS, lin, 2, &loss, 1, NULL, NULL, NULL), KN_OK);
    }
    assert_int_equal(kn_graph_add_output(g, b->y, NULL), KN_OK);
}

/* Run the training passes up to autodiff; the gradients become graph outputs. */
static void differentiate(built *b, const char *loss, bool inference_form)
{
    static const kn_pass train[] = {
        {"infer_and_fold", "", kn_pass_infer_and_fold, 0},
        {"training_mode", "", kn_pass_training_mode, 0},
        {"autodiff", "", kn_pass_autodiff, 0},
    };
    static const kn_pass infer[] = {
        {"infer_and_fold", "", kn_pass_infer_and_fold, 0},
        {"autodiff", "", kn_pass_autodiff, 0},
    };
    const kn_pass *passes = inference_form ? infer : train;
    const int npasses = inference_form ? 2 : 3;
    kn_train_pass t = {.loss = loss, .step = "step", .update_models = 1, .seed = 7};
    kn_pass_ctx ctx = {.train = &t};
    kn_error err;
    if (kn_passes_run_pipeline(&b->g, passes, npasses, &ctx, &err) != KN_OK)
        fail_msg("%s: %s", b->g.name, err.message);
    for (int k = 0; k < b->nw; k++) {
        b->grad[k] = -1;
        for (int q = 0; q < t.num_params; q++)
            if (t.params[q] == b->w[k])
                b->grad[k] = t.grads[q];
        if (b->grad[k] < 0)
            fail_msg("%s: weight %d got no gradient", b->g.name, k);
        /* a gradient that is a weight itself (Identity) is read from there */
        if (b->g.values[b->grad[k]].kind == KN_VALUE_INTERMEDIATE && !b->g.values[b->grad[k]].is_output) {
            assert_int_equal(kn_graph_add_output(&b->g, b->grad[k], NULL), KN_OK);
            b->g.values[b->grad[k]].is_output = true;
        }
    }
    kn_train_pass_free(&t);
    assert_int_equal(kn_graph_verify(&b->g, true, &err), KN_OK);
}

/* The loss in double precision from the run's y (or the loss op's own output). */
static double loss_of(const built *b, void *x)
{
    const kn_value *yv = &b->g.values[b->y];
    const float *y = kn_ref_backend.value_data(x, b->y);
    if (b->is_loss)
        return *y;
    const float *t = b->g.values[b->target].data;
    size_t n;
    kn_shape_numel(&yv->shape, &n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += ((double)y[i] - t[i]) * ((double)y[i] - t[i]);
    return n ? s / (double)n : 0.0;
}

static void check_case(const grad_case *c)
{
    built b;
    build(c, &b);
    differentiate(&b, c->is_loss ? "y0" : "loss", c->inference_form);
    void *x = NULL;
    kn_error err;
    if (kn_ref_backend.compile(&b.g, NULL, 1, &x, &err) != KN_OK)
        fail_msg("%s: compile: %s", c->name, err.message);
    if (kn_ref_backend.run(x, 0, &err) != KN_OK)
        fail_msg("%s: run: %s", c->name, err.message);
    double worst = 0.0;
    int checked = 0;
    for (int k = 0; k < b.nw; k++) {
        kn_value *wv = &b.g.values[b.w[k]];
        size_t n;
        kn_shape_numel(&wv->shape, &n);
        float *an = malloc(sizeof(float) * (n ? n : 1));
        memcpy(an, kn_ref_backend.value_data(x, b.grad[k]), sizeof(float) * n);
        float *w = wv->data;
        double maxabs = 0.0;
        for (size_t i = 0; i < n; i++) {
            const float keep = w[i];
            const float h = 1e-3f * (fabsf(keep) > 1.0f ? fabsf(keep) : 1.0f);
            w[i] = keep + h;
            assert_int_equal(kn_ref_backend.run(x, 0, &err), KN_OK);
            const double lp = loss_of(&b, x);
            w[i] = keep - h;
            assert_int_equal(kn_ref_backend.run(x, 0, &err), KN_OK);
            const double lm = loss_of(&b, x);
            w[i] = keep;
            const double fd = (lp - lm) / (2.0 * ((double)(keep + h) - (double)keep));
            const double d = fabs(fd - an[i]), tol = 1e-3 + 2e-2 * fmax(fabs(fd), fabs(an[i]));
            if (d > tol)
                fail_msg("%s: d loss / d in%d[%zu]: analytic %.6g, finite difference %.6g", c->name, k, i,
                         (double)an[i], fd);
            worst = fmax(worst, d / fmax(1e-3, fmax(fabs(fd), fabs(an[i]))));
            maxabs = fmax(maxabs, fabs(an[i]));
            checked++;
        }
        if (c->zero_grad && maxabs != 0.0)
            fail_msg("%s: a gradient of in%d is %g, not zero", c->name, k, maxabs);
        if (n > 0 && maxabs == 0.0 && !c->zero_grad)
            fail_msg("%s: every gradient of in%d is zero", c->name, k);
        free(an);
    }
    /* a session's planned arena (in-place outputs, the kernels' scratch, e.g. LRNGrad's) gives the same bits */
    kn_graph_mem_plan plan;
    if (kn_plan_backend_memory(&b.g, &kn_ref_backend, 1, &plan, &err) != KN_OK)
        fail_msg("%s: memory plan: %s", c->name, err.message);
    const kn_buffer_plan bp = {plan.summary.peak, plan.value_offset, plan.scratch_offset, plan.scratch_bytes};
    void *px = NULL;
    assert_int_equal(kn_ref_backend.run(x, 0, &err), KN_OK); /* the weights as they are again */
    if (kn_ref_backend.compile(&b.g, &bp, 1, &px, &err) != KN_OK || kn_ref_backend.run(px, 0, &err) != KN_OK)
        fail_msg("%s: planned run: %s", c->name, err.message);
    for (int k = 0; k < b.nw; k++) {
        size_t n;
        kn_shape_numel(&b.g.values[b.w[k]].shape, &n);
        if (n && memcmp(kn_ref_backend.value_data(px, b.grad[k]), kn_ref_backend.value_data(x, b.grad[k]),
                        sizeof(float) * n) != 0)
            fail_msg("%s: the gradient of in%d differs in the planned arena", c->name, k);
    }
    kn_ref_backend.free(px);
    kn_graph_mem_plan_free(&plan);
    printf("grad %-24s %3d elements, worst relative difference %.2g\n", c->name, checked, worst);
    kn_ref_backend.free(x);
    kn_graph_free(&b.g);
}

static void test_gradients(void **state)
{
    (void)state;
    bool covered[KN_OP_COUNT] = {false};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_case(&cases[i]);
        covered[cases[i].op] = true;
    }
    /* BatchNormTrain and DropoutTrain are what BatchNormalization and Dropout become in training */
    covered[KN_OP_BATCH_NORM_TRAIN] = covered[KN_OP_BATCH_NORM];
    covered[KN_OP_DROPOUT_TRAIN] = covered[KN_OP_DROPOUT];
    for (int op = 0; op < KN_OP_COUNT; op++)
        if (kn_op_get((kn_op)op)->grad && !covered[op])
            fail_msg("op %s has a gradient rule but no finite-difference case", kn_op_get((kn_op)op)->name);
}

/* Run infer_and_fold and autodiff on g (loss "l"): the status, the message in err. */
static kn_status autodiff_status(kn_graph *g, kn_error *err)
{
    static const kn_pass passes[] = {{"infer_and_fold", "", kn_pass_infer_and_fold, 0},
                                     {"autodiff", "", kn_pass_autodiff, 0}};
    kn_train_pass tp = {.loss = "l", .update_models = 1};
    kn_pass_ctx ctx = {.train = &tp};
    kn_status st = kn_passes_run_pipeline(g, passes, 2, &ctx, err);
    print_message("%s\n", err->message);
    kn_train_pass_free(&tp);
    return st;
}

/* A node on the path without a rule is an error naming every such node at once. */
static void test_missing_rules(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    g.name = kn_strdup("missing");
    g.variables = true;
    float *w = malloc(sizeof(float) * 4), *t = calloc(1, sizeof(float));
    for (int i = 0; i < 4; i++)
        w[i] = 0.5f + (float)i;
    int wv = kn_test_add_value(&g, "w", KN_F32, 1, (int64_t[]){4}, KN_VALUE_PARAM, w);
    int tv = kn_test_add_value(&g, "t", KN_F32, 1, (int64_t[]){1}, KN_VALUE_CONST, t);
    int a = kn_test_add_tmp(&g, "a"), f = kn_test_add_tmp(&g, "f"), l = kn_test_add_tmp(&g, "l");
    kn_test_add_node(&g, "argmax", KN_OP_ARG_MAX, (int[]){wv}, 1, a);
    kn_test_add_node(&g, "cast", KN_OP_CAST, (int[]){a}, 1, f);
    kn_test_add_node(&g, "mse", KN_OP_MSE_LOSS, (int[]){f, tv}, 2, l);
    kn_graph_add_output(&g, l, NULL);
    g.nodes[1].attrs.dtype.to = KN_F32;
    kn_error err;
    assert_int_equal(autodiff_status(&g, &err), KN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "no gradient rule for 2 nodes"));
    assert_non_null(strstr(err.message, "node 'argmax' (ArgMax)"));
    assert_non_null(strstr(err.message, "node 'cast' (Cast from int64 to float32: not differentiable)"));
    kn_graph_free(&g);
}

/* An integer Mod between a weight and the loss is refused, naming the node, with fmod 0 or 1 (float fmod has a
 * rule). */
static void test_integer_mod_refused(void **state)
{
    (void)state;
    for (int fmod = 0; fmod < 2; fmod++) {
        kn_graph g;
        kn_graph_init(&g);
        g.name = kn_strdup("int_mod");
        g.variables = true;
        int32_t *w = malloc(sizeof(int32_t) * 4), *d = malloc(sizeof(int32_t));
        float *t = calloc(4, sizeof(float));
        for (int i = 0; i < 4; i++)
            w[i] = 3 * i - 4;
        *d = 3;
        int wv = kn_test_add_value(&g, "w", KN_I32, 1, (int64_t[]){4}, KN_VALUE_PARAM, w);
        int dv = kn_test_add_value(&g, "d", KN_I32, 0, NULL, KN_VALUE_CONST, d);
        int tv = kn_test_add_value(&g, "t", KN_F32, 1, (int64_t[]){4}, KN_VALUE_CONST, t);
        int m = kn_test_add_tmp(&g, "m"), f = kn_test_add_tmp(&g, "f"), l = kn_test_add_tmp(&g, "l");
        kn_test_add_node(&g, "remainder", KN_OP_MOD, (int[]){wv, dv}, 2, m);
        kn_test_add_node(&g, "to_float", KN_OP_CAST, (int[]){m}, 1, f);
        kn_test_add_node(&g, "mse", KN_OP_MSE_LOSS, (int[]){f, tv}, 2, l);
        kn_graph_add_output(&g, l, NULL);
        g.nodes[0].attrs.mod.fmod = fmod;
        g.nodes[1].attrs.dtype.to = KN_F32;
        kn_error err;
        assert_int_equal(autodiff_status(&g, &err), KN_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, fmod ? "node 'remainder' (Mod on int32: an integer remainder is not "
                                                   "differentiable)"
                                                 : "node 'remainder' (Mod on int32, fmod=0: an integer remainder is "
                                                   "not differentiable)"));
        assert_non_null(strstr(err.message, "node 'to_float' (Cast from int32 to float32: not differentiable)"));
        kn_graph_free(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_missing_rules),
        cmocka_unit_test(test_integer_mod_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
