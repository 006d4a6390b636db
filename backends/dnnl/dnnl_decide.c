/* dnnl_decide.c - which nodes the oneDNN backend runs on primitives, and why not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* ------------------------------------------------------------ decisions */

const dnnl_format_tag_t kn_dnnl_plain_tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc,
                                                        dnnl_abcd, dnnl_abcde, dnnl_abcdef};

/* The eltwise algorithm (and alpha/beta) of an activation; false when oneDNN has none in one step. */
bool kn_dnnl_eltwise_alg(kn_op op, const kn_scalar_attrs *p, dnnl_alg_kind_t *alg, float *alpha,
                         float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    switch (op) {
    case KN_OP_RELU: *alg = dnnl_eltwise_relu; return true;
    case KN_OP_LEAKY_RELU: *alg = dnnl_eltwise_relu; *alpha = p->alpha; return true;
    case KN_OP_SIGMOID: *alg = dnnl_eltwise_logistic; return true;
    case KN_OP_TANH: *alg = dnnl_eltwise_tanh; return true;
    case KN_OP_CLIP:
        /* ONNX Clip is min(max(x, lo), hi), as ONNX Runtime and the reference kernel compute it: with
         * lo > hi every value becomes hi. oneDNN refuses alpha > beta, so that case is clip(hi, hi). */
        *alg = dnnl_eltwise_clip_v2;
        *alpha = p->min > p->max ? p->max : p->min;
        *beta = p->max;
        return true;
    case KN_OP_HARD_SWISH: *alg = dnnl_eltwise_hardswish; return true;
    case KN_OP_SWISH: *alg = dnnl_eltwise_swish; *alpha = 1.0f; return true;
    case KN_OP_GELU: *alg = dnnl_eltwise_gelu_erf; return true;
    case KN_OP_MISH: *alg = dnnl_eltwise_mish; return true;
    case KN_OP_ELU: *alg = dnnl_eltwise_elu; *alpha = p->alpha; return true;
    case KN_OP_SQRT: *alg = dnnl_eltwise_sqrt; return true;
    case KN_OP_EXP: *alg = dnnl_eltwise_exp; return true;
    case KN_OP_ABS: *alg = dnnl_eltwise_abs; return true;
    case KN_OP_NEG: *alg = dnnl_eltwise_linear; *alpha = -1.0f; return true; /* alpha x + beta */
    case KN_OP_ROUND: *alg = dnnl_eltwise_round; return true; /* half to even, as ONNX */
    case KN_OP_SOFTPLUS: *alg = dnnl_eltwise_soft_relu; return true; /* oneDNN 2.x: log(1 + e^x), no alpha */
    case KN_OP_RECIPROCAL: *alg = dnnl_eltwise_pow; *alpha = 1.0f; *beta = -1.0f; return true; /* alpha x^beta */
    default: return false;
    }
}

/* Whether `act` can be a chain of eltwise post-ops (HardSigmoid: linear then clip). */
bool kn_dnnl_post_act_ok(kn_op act)
{
    dnnl_alg_kind_t alg;
    float a, b;
    kn_scalar_attrs p = {0};
    return act == KN_OP_COUNT || act == KN_OP_HARD_SIGMOID || kn_dnnl_eltwise_alg(act, &p, &alg, &a, &b);
}

bool kn_dnnl_f32(const kn_graph *g, int id)
{
    return id < 0 || (g->values[id].dtype == KN_F32 && g->values[id].shape_known);
}

/* Read a float scalar constant (Clip bounds) of input slot i; *present false when absent. */
bool kn_dnnl_const_scalar(const kn_graph *g, const kn_node *n, int i, float *v, bool *present)
{
    *present = false;
    if (i >= n->num_inputs || n->inputs[i] < 0)
        return true;
    const kn_value *val = &g->values[n->inputs[i]];
    size_t c = 0;
    if (!val->data || val->dtype != KN_F32 || kn_shape_numel(&val->shape, &c) != KN_OK || c > 1)
        return false;
    if (c == 1) {
        *v = *(const float *)val->data;
        *present = true;
    }
    return true;
}

/* Whether every input and output of n is float32 (absent optional inputs aside); why[] names the first that is not. */
static bool kn_dnnl_all_f32(const kn_graph *g, const kn_node *n, char *why, size_t len)
{
    for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
        int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
        if (!kn_dnnl_f32(g, v)) {
            snprintf(why, len, "%s %d is %s, not float32", k < n->num_inputs ? "input" : "output",
                     k < n->num_inputs ? k : k - n->num_inputs, kn_dtype_name(g->values[v].dtype));
            return false;
        }
    }
    return true;
}

/* Whether value v's rank is within [lo, hi]; why[] says otherwise. */
/*
 * Whether node n (ConvTranspose: its input channels per group; ConvGradWeight: its output channels) is a stride-1
 * window with a single channel per group on that narrow side and at least 8 on the other: the reference kernel's
 * gather path (ref_conv.c) then copies the one plane's im2col and runs one sgemm per image, where oneDNN 2.6's
 * deconvolution and backward-weights kernels vectorise over the single channel. Measured on DCGAN's 64 -> 1 5x5
 * output layer at batch 64, 28x28, 1 thread (Zen 4, AVX512_CORE_BF16): backward data 23.5 ms on oneDNN, 3.0 ms
 * on the gather path; weight gradient 25.8 against 2.8 ms. (2 to 4 channels were not measured.)
 */
static bool kn_dnnl_narrow_window(const kn_node *n, int64_t narrow, int64_t wide, char *why, size_t len)
{
    const kn_window_attrs *a = &n->attrs.window;
    for (int i = 0; i < a->nspatial; i++)
        if (a->stride[i] > 1)
            return false;
    if (narrow != 1 || wide < 8)
        return false;
    snprintf(why, len, "1 channel against %lld, stride 1: the reference kernel's gather path is faster",
             (long long)wide);
    return true;
}

static bool kn_dnnl_rank_in(const kn_graph *g, int v, int lo, int hi, char *why, size_t len)
{
    int r = g->values[v].shape.rank;
    if (r >= lo && r <= hi)
        return true;
    snprintf(why, len, "rank %d (oneDNN: %d to %d)", r, lo, hi);
    return false;
}

bool kn_dnnl_reduce_axes(const kn_graph *g, const kn_node *n, bool *red, bool *identity)
{
    int64_t axes[KN_MAX_RANK];
    int count = -1;
    if (n->num_inputs > 1 && n->inputs[1] >= 0 &&
        kn_value_read_ints(g, n->inputs[1], axes, KN_MAX_RANK, &count, NULL) != KN_OK)
        return false;
    return kn_reduce_resolve(n, g->values[n->inputs[0]].shape.rank, axes, count, red, identity, NULL) == KN_OK;
}

bool kn_dnnl_resize_maps(const kn_graph *g, const kn_node *n, float *factors, char *why, size_t len)
{
    const kn_resize_attrs *a = &n->attrs.resize;
    const kn_shape *xs = &g->values[n->inputs[0]].shape, *ys = &g->values[n->outputs[0]].shape;
    float scales[KN_MAX_RANK];
    int64_t sizes[KN_MAX_RANK];
    int ns = 0, nz = 0;
    if ((n->num_inputs > 2 && n->inputs[2] >= 0 &&
         kn_value_read_floats(g, n->inputs[2], scales, KN_MAX_RANK, &ns, NULL) != KN_OK) ||
        (n->num_inputs > 3 && n->inputs[3] >= 0 &&
         kn_value_read_ints(g, n->inputs[3], sizes, KN_MAX_RANK, &nz, NULL) != KN_OK)) {
        snprintf(why, len, "scales/sizes are not constants");
        return false;
    }
    double scale[KN_MAX_RANK];
    kn_shape os;
    if (kn_resize_resolve(n, xs, scales, ns, sizes, nz, scale, &os, NULL) != KN_OK || xs->rank < 3 ||
        xs->rank > 5) {
        snprintf(why, len, "rank %d (oneDNN's resampling: 3 to 5)", xs->rank);
        return false;
    }
    if (os.dims[0] != xs->dims[0] || os.dims[1] != xs->dims[1] || scale[0] != 1.0 || scale[1] != 1.0) {
        snprintf(why, len, "resizes the batch or channel dimension");
        return false;
    }
    for (int d = 2; d < xs->rank; d++) {
        factors[d - 2] = (float)scale[d];
        if (xs->dims[d] == 0 || ys->dims[d] == 0) {
            snprintf(why, len, "empty spatial dimension");
            return false;
        }
        /* measured on the node tests: oneDNN 2.6 derives its own factor where out != in * scale (scales 0.6
         * on 4 -> 2: 3.5 for 2.67), and its nearest differs from ONNX's at non-integer factors (2 -> 7) */
        if ((double)xs->dims[d] * scale[d] != (double)ys->dims[d] ||
            (a->mode == KN_RESIZE_NEAREST && scale[d] != floor(scale[d]))) {
            snprintf(why, len, "scale %g of %lld -> %lld: oneDNN 2.6 agrees with ONNX only where out = in * scale "
                     "(nearest: an integer scale)", scale[d], (long long)xs->dims[d], (long long)ys->dims[d]);
            return false;
        }
    }
    /* oneDNN 2.6 maps dst to src by (o + 0.5) / F - 0.5: ONNX's half_pixel (pytorch_half_pixel when no
     * output length is 1) for linear. Its nearest rounds that, which at an integer F is floor(o / F): what
     * asymmetric + floor (PyTorch's export), half_pixel + any rounding and tf_half_pixel_for_nn + floor give */
    bool ok;
    if (a->mode == KN_RESIZE_LINEAR) {
        ok = a->coord == KN_COORD_HALF_PIXEL || a->coord == KN_COORD_PYTORCH_HALF_PIXEL;
        for (int d = 2; d < xs->rank && a->coord == KN_COORD_PYTORCH_HALF_PIXEL; d++)
            ok = ok && ys->dims[d] != 1;
    } else if (a->mode == KN_RESIZE_NEAREST) {
        bool rounds = a->nearest == KN_NEAREST_ROUND_PREFER_FLOOR || a->nearest == KN_NEAREST_ROUND_PREFER_CEIL;
        ok = (a->coord == KN_COORD_ASYMMETRIC && a->nearest == KN_NEAREST_FLOOR) ||
             ((a->coord == KN_COORD_HALF_PIXEL || a->coord == KN_COORD_PYTORCH_HALF_PIXEL) && rounds) ||
             (a->coord == KN_COORD_TF_HALF_PIXEL_FOR_NN && a->nearest == KN_NEAREST_FLOOR);
    } else {
        ok = false;
    }
    if (!ok) {
        snprintf(why, len, "%s with this coordinate/rounding mode: oneDNN 2.6's resampling computes half-pixel "
                 "linear and floor(o / F) nearest only",
                 a->mode == KN_RESIZE_CUBIC ? "cubic" : a->mode == KN_RESIZE_LINEAR ? "linear" : "nearest");
        return false;
    }
    return true;
}

bool kn_dnnl_node_runs(const kn_graph *g, const kn_node *n, char *why, size_t len)
{
    for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
        int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
        if (v >= 0 && !g->values[v].shape_known) {
            snprintf(why, len, "value '%s' has no known shape", g->values[v].name);
            return false;
        }
    }
    if (!kn_dnnl_post_act_ok(n->fused.activation)) {
        snprintf(why, len, "fused %s has no oneDNN post-op", kn_op_get(n->fused.activation)->name);
        return false;
    }
    switch (n->op) {
    case KN_OP_CONV: {
        for (int k = 0; k < n->num_inputs; k++)
            if (!kn_dnnl_f32(g, n->inputs[k])) {
                snprintf(why, len, "input %d is not float32", k);
                return false;
            }
        if (n->attrs.window.nspatial < 1 || n->attrs.window.nspatial > 3) {
            snprintf(why, len, "%d spatial dimensions", n->attrs.window.nspatial);
            return false;
        }
        if (n->fused.residual >= 0 && n->fused.residual != 3) {
            snprintf(why, len, "residual in input slot %d", n->fused.residual);
            return false;
        }
        {
            const kn_window_attrs *a = &n->attrs.window;
            const kn_shape *ws = &g->values[n->inputs[1]].shape;
            const int last = a->nspatial - 1;
            bool one_by_one = true;
            for (int i = 0; i < a->nspatial; i++)
                one_by_one = one_by_one && ws->dims[2 + i] == 1;
            if (a->group <= 1 && ws->rank >= 3 && ws->dims[0] <= 3 && !one_by_one &&
                (a->stride[last] == 0 || a->stride[last] == 1)) {
                /* an image layer (gray or RGB out): 64 -> 1, 3 or 4 channels, 5x5, 28x28, batch 8: 2.2 ms on
                 * oneDNN 2.6's jit conv (output channels padded to 8), 0.62, 1.39, 1.78 ms on the reference
                 * kernel's direct rows for few output channels (batch 1: 0.28 against 0.08, 0.17, 0.22 ms);
                 * 4 channels stay on oneDNN, where a blocked chain would otherwise need reorders */
                snprintf(why, len, "%lld output channels: the reference kernel's direct rows are faster",
                         (long long)ws->dims[0]);
                return false;
            }
        }
        return true;
    }
    case KN_OP_GEMM: {
        const kn_gemm_attrs *a = &n->attrs.gemm;
        bool has_c = n->num_inputs > 2 && n->inputs[2] >= 0;
        if (a->alpha != 1.0f || (has_c && a->beta != 1.0f)) {
            snprintf(why, len, "alpha %g, beta %g (only 1, 1 mapped to matmul yet)", a->alpha, a->beta);
            return false;
        }
        if (n->fused.residual >= 0) {
            snprintf(why, len, "fused residual on Gemm");
            return false;
        }
        for (int k = 0; k < n->num_inputs; k++)
            if (!kn_dnnl_f32(g, n->inputs[k]) || (n->inputs[k] >= 0 && g->values[n->inputs[k]].shape.rank > 2)) {
                snprintf(why, len, "input %d is not a float32 matrix", k);
                return false;
            }
        if (g->values[n->inputs[0]].shape.rank != 2 || g->values[n->inputs[1]].shape.rank != 2) {
            snprintf(why, len, "A and B must be matrices");
            return false;
        }
        return true;
    }
    case KN_OP_MATMUL: {
        /* batch dims broadcast (a 1 on either side) inside oneDNN's matmul; a 1-D operand stays on kiln's */
        const int ra = g->values[n->inputs[0]].shape.rank, rb = g->values[n->inputs[1]].shape.rank;
        if (!kn_dnnl_f32(g, n->inputs[0]) || !kn_dnnl_f32(g, n->inputs[1]) || ra < 2 || ra > 6 || rb < 2 ||
            rb > 6 || n->fused.residual >= 0) {
            snprintf(why, len, "only float32 MatMul of 2-D to 6-D operands without residual");
            return false;
        }
        size_t numel = 0;
        if (kn_shape_numel(&g->values[n->outputs[0]].shape, &numel) != KN_OK || numel == 0 ||
            g->values[n->inputs[0]].shape.dims[ra - 1] == 0) {
            snprintf(why, len, "an empty product");
            return false;
        }
        /* Many small products (B with batch dims): at 2 threads, Swin-T's window attention (192 products of
         * 49x32x49) took 0.31 ms median on kiln's loop (one sgemm per product and thread) against 0.38 ms on
         * oneDNN 2.6's batched matmul; ViT's 12 heads of 197x64x197 0.44 against 0.40 ms, 4x12 of 50x64x50
         * even (0.18 ms). So oneDNN takes products of at least 2^18 multiply-adds, or a B without batch. */
        const kn_shape *as_ = &g->values[n->inputs[0]].shape, *bs_ = &g->values[n->inputs[1]].shape;
        size_t bbatch = 1;
        for (int i = 0; i < rb - 2; i++)
            bbatch *= (size_t)bs_->dims[i];
        const double macs = (double)as_->dims[ra - 2] * (double)as_->dims[ra - 1] * (double)bs_->dims[rb - 1];
        if (bbatch > 1 && macs < (double)(1 << 18)) {
            snprintf(why, len, "%zu products of %lldx%lldx%lld: kiln's per-thread sgemm loop is faster on small "
                     "products", numel / (size_t)(as_->dims[ra - 2] * bs_->dims[rb - 1]),
                     (long long)as_->dims[ra - 2], (long long)as_->dims[ra - 1], (long long)bs_->dims[rb - 1]);
            return false;
        }
        return true;
    }
    case KN_OP_TRANSPOSE: {
        /* a reorder from a strided view of the input */
        size_t numel = 0;
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->inputs[0], 1, 6, why, len))
            return false;
        if (kn_shape_numel(&g->values[n->inputs[0]].shape, &numel) != KN_OK || numel == 0) {
            snprintf(why, len, "empty input");
            return false;
        }
        /* Measured at 2 threads (minimum of 300 runs, loaded machine): when the last dimension moves, oneDNN's
         * jit reorder beats kiln's element-wise strided copy (ViT's k^T [1,12,197,64] 0.065 against 0.107 ms,
         * a 768x3072 matrix 2.0 against 12 ms); when it stays, kiln copies whole rows and is as fast or faster
         * (heads [1,197,12,64] -> [1,12,197,64] 0.06-0.08 ms either way, Swin's window partition 0.08-0.21) */
        const int r = g->values[n->inputs[0]].shape.rank;
        const int64_t last = n->attrs.transpose.nperm ? n->attrs.transpose.perm[r - 1] : 0;
        if (r > 1 && last == r - 1) {
            snprintf(why, len, "the last dimension stays in place: kiln's row copies are as fast");
            return false;
        }
        return true;
    }
    case KN_OP_CONV_TRANSPOSE:
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->inputs[0], 3, 5, why, len))
            return false;
        if (n->fused.residual >= 0) {
            snprintf(why, len, "fused residual on ConvTranspose");
            return false;
        }
        if (kn_dnnl_wino_takes(g, n))
            return true; /* kiln's Winograd kernel, one output phase per stride step (dnnl_wino.c) */
        {
            const kn_shape *ws = &g->values[n->inputs[1]].shape; /* [C, M/G, k...] */
            const int64_t group = n->attrs.window.group > 1 ? n->attrs.window.group : 1;
            if (ws->rank >= 3 && kn_dnnl_narrow_window(n, ws->dims[0] / group, ws->dims[1], why, len))
                return false;
        }
        for (int i = 0; i < n->attrs.window.nspatial; i++)
            if (n->attrs.window.stride[i] > 1 && g->values[n->inputs[1]].shape.dims[1] < 8) {
                /* few output channels per group: measured on DCGAN's discriminator input layer's backward data
                 * (64 -> 1, 5x5 stride 2, 14x14 -> 28x28) at batch 64, 1 thread (Zen 4, AVX512_CORE_BF16): 5.3 ms
                 * on oneDNN 2.6's jit deconvolution, 2.3 ms on the reference col2im + OpenBLAS kernel. With 8 or
                 * more, oneDNN is the faster (DCGAN's 256 -> 128 and 128 -> 64 generator layers and its
                 * discriminator's 128 -> 64 backward data, 5x5 stride 2: 40, 43 and 9.5 ms against 67, 64 and 19 ms
                 * at batch 64; 5.3, 5.4, 1.2 against 8.6, 7.9, 2.4 ms at batch 8; 1.7-2.2x at 2 threads too) */
                snprintf(why, len, "strided deconvolution to %lld channels per group: the reference kernel is faster",
                         (long long)g->values[n->inputs[1]].shape.dims[1]);
                return false;
            }
        return true;
    case KN_OP_MIN: case KN_OP_MAX: case KN_OP_SUM:
        if (n->num_inputs != 2) { /* one input is a copy; three or more would be a chain of primitives */
            snprintf(why, len, "%d inputs (oneDNN's binary %s takes 2)", n->num_inputs,
                     n->op == KN_OP_SUM ? "add" : n->op == KN_OP_MIN ? "min" : "max");
            return false;
        }
        /* fall through */
    case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_DIV:
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->outputs[0], 1, 6, why, len))
            return false;
        if (n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0) {
            snprintf(why, len, "binary op with fused post-ops");
            return false;
        }
        return true;
    case KN_OP_CONCAT:
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->outputs[0], 1, 6, why, len))
            return false;
        if (n->num_inputs > KN_DNNL_MAX_ARGS - 2) {
            snprintf(why, len, "%d inputs (this backend binds at most %d)", n->num_inputs, KN_DNNL_MAX_ARGS - 2);
            return false;
        }
        return true;
    case KN_OP_BATCH_NORM:
        if (n->fused.activation != KN_OP_COUNT && n->fused.activation != KN_OP_RELU) {
            snprintf(why, len, "fused %s (oneDNN's batch norm fuses Relu only)", kn_op_get(n->fused.activation)->name);
            return false;
        }
        return kn_dnnl_all_f32(g, n, why, len) && kn_dnnl_rank_in(g, n->inputs[0], 2, 5, why, len);
    case KN_OP_LRN:
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->inputs[0], 3, 5, why, len))
            return false;
        if (n->attrs.lrn.size % 2 == 0) {
            snprintf(why, len, "even size %lld (oneDNN's window is centred)", (long long)n->attrs.lrn.size);
            return false;
        }
        return true;
    case KN_OP_SOFTMAX: case KN_OP_LOG_SOFTMAX:
        return kn_dnnl_all_f32(g, n, why, len) && kn_dnnl_rank_in(g, n->inputs[0], 1, 6, why, len);
    case KN_OP_GLOBAL_AVERAGE_POOL: case KN_OP_GLOBAL_MAX_POOL:
        return kn_dnnl_all_f32(g, n, why, len) && kn_dnnl_rank_in(g, n->inputs[0], 3, 5, why, len);
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
        if (n->num_outputs > 1 && n->outputs[1] >= 0) {
            snprintf(why, len, "MaxPool Indices output");
            return false;
        }
        if (!kn_dnnl_f32(g, n->inputs[0]) || n->attrs.window.nspatial < 1 || n->attrs.window.nspatial > 3) {
            snprintf(why, len, "input is not float32 with 1 to 3 spatial dimensions");
            return false;
        }
        return true;
    case KN_OP_RELU: case KN_OP_LEAKY_RELU: case KN_OP_SIGMOID: case KN_OP_TANH: case KN_OP_CLIP:
    case KN_OP_HARD_SWISH: case KN_OP_SWISH: case KN_OP_GELU: case KN_OP_MISH: case KN_OP_ELU: case KN_OP_SQRT: case KN_OP_EXP:
    case KN_OP_ABS: case KN_OP_NEG: case KN_OP_ROUND: case KN_OP_SOFTPLUS: case KN_OP_RECIPROCAL: {
        if (!kn_dnnl_f32(g, n->inputs[0])) {
            snprintf(why, len, "input is not float32");
            return false;
        }
        if (n->op == KN_OP_CLIP) {
            float v;
            bool present;
            if (!kn_dnnl_const_scalar(g, n, 1, &v, &present) || !kn_dnnl_const_scalar(g, n, 2, &v, &present)) {
                snprintf(why, len, "min/max are not float32 constant scalars");
                return false;
            }
        }
        if (n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0) {
            snprintf(why, len, "element-wise op with fused post-ops");
            return false;
        }
        return true;
    }
    case KN_OP_REDUCE_MEAN: case KN_OP_REDUCE_SUM: case KN_OP_REDUCE_MAX: case KN_OP_REDUCE_MIN:
    case KN_OP_REDUCE_PROD: case KN_OP_REDUCE_L1: case KN_OP_REDUCE_L2: case KN_OP_REDUCE_SUM_SQUARE: {
        if (!kn_dnnl_f32(g, n->inputs[0]) || !kn_dnnl_f32(g, n->outputs[0])) {
            snprintf(why, len, "input is %s, not float32", kn_dtype_name(g->values[n->inputs[0]].dtype));
            return false;
        }
        if (!kn_dnnl_rank_in(g, n->inputs[0], 1, 6, why, len))
            return false;
        bool red[KN_MAX_RANK], identity;
        if (!kn_dnnl_reduce_axes(g, n, red, &identity)) {
            snprintf(why, len, "axes are not a constant");
            return false;
        }
        size_t numel = 0;
        if (identity || kn_shape_numel(&g->values[n->inputs[0]].shape, &numel) != KN_OK || numel == 0) {
            snprintf(why, len, identity ? "no axes with noop_with_empty_axes: a copy" : "empty input");
            return false;
        }
        /* oneDNN's reduction refuses src and dst of the same dims (status 2), and kiln binds no rank-0 tensor */
        const kn_shape *xs = &g->values[n->inputs[0]].shape;
        bool unit_only = true;
        for (int d = 0; d < xs->rank; d++)
            unit_only = unit_only && (!red[d] || xs->dims[d] == 1);
        if (unit_only || g->values[n->outputs[0]].shape.rank == 0) {
            snprintf(why, len, unit_only ? "reduces unit dimensions only: a copy" : "a scalar output");
            return false;
        }
        return true;
    }
    case KN_OP_RESIZE: {
        float factors[KN_MAX_RANK];
        return kn_dnnl_f32(g, n->inputs[0]) && kn_dnnl_f32(g, n->outputs[0]) &&
               kn_dnnl_resize_maps(g, n, factors, why, len);
    }
    case KN_OP_LAYER_NORM:
        for (int k = 1; k < n->num_outputs; k++)
            if (n->outputs[k] >= 0) {
                snprintf(why, len, "Mean/InvStdDev outputs (oneDNN's inference layer norm gives Y only)");
                return false;
            }
        for (int k = 0; k < n->num_inputs; k++)
            if (!kn_dnnl_f32(g, n->inputs[k])) {
                snprintf(why, len, "input %d is not float32", k);
                return false;
            }
        return true;
    case KN_OP_INSTANCE_NORM:
        snprintf(why, len, "oneDNN 2.6 has no instance normalisation (its batch norm pools over the batch)");
        return false;
    case KN_OP_REDUCE_LOG_SUM: case KN_OP_REDUCE_LOG_SUM_EXP:
        snprintf(why, len, "oneDNN 2.6's reduction has no log-sum algorithm (it would take three primitives)");
        return false;
    case KN_OP_ARG_MAX: case KN_OP_ARG_MIN:
        snprintf(why, len, "oneDNN 2.6 has no arg-max/arg-min primitive");
        return false;
    case KN_OP_SIN: case KN_OP_COS: case KN_OP_FLOOR: case KN_OP_CEIL: case KN_OP_SIGN: case KN_OP_SOFTSIGN:
    case KN_OP_SELU: case KN_OP_CELU: case KN_OP_THRESHOLDED_RELU:
        /* Selu and Celu would be elu with a scale (two steps); the others have no algorithm at all */
        snprintf(why, len, "oneDNN 2.6 has no one-step eltwise algorithm for %s", kn_op_get(n->op)->name);
        return false;
    case KN_OP_LOG:
        /* measured: oneDNN 2.6's eltwise_log gives log(1) = -1.43e-6 and log(10) 2.9e-6 off (node test
         * log_example); logf on the reference kernel is exact to float32 rounding */
        snprintf(why, len, "oneDNN 2.6's eltwise log is off by ~1e-6 absolute (log(1) = -1.4e-6); logf is exact");
        return false;
    case KN_OP_SGD_UPDATE: case KN_OP_MOMENTUM_UPDATE: case KN_OP_ADAM_UPDATE: case KN_OP_RMSPROP_UPDATE:
        snprintf(why, len, "kiln's fused update loop (oneDNN has no optimizer primitive)");
        return false;
    case KN_OP_SOFTMAX_CROSS_ENTROPY: case KN_OP_CROSS_ENTROPY: case KN_OP_BINARY_CROSS_ENTROPY:
    case KN_OP_BCE_WITH_LOGITS: case KN_OP_MSE_LOSS: case KN_OP_LOSS_GRAD:
        snprintf(why, len, "kiln's loss kernel (oneDNN has no loss primitive)");
        return false;
    case KN_OP_DROPOUT_TRAIN: case KN_OP_DROPOUT_GRAD:
        snprintf(why, len, "kiln's seeded mask loop (oneDNN 2.6 has no dropout)");
        return false;
    case KN_OP_BATCH_NORM_TRAIN:
    case KN_OP_BATCH_NORM_GRAD:
        if (n->attrs.batch_norm.sync) {
            snprintf(why, len, "statistics synchronised across ranks (the reference kernel's collective)");
            return false;
        }
        for (int k = 0; k < n->num_outputs; k++)
            if (n->outputs[k] < 0) {
                snprintf(why, len, "output %d unused (oneDNN's batch norm computes them all)", k);
                return false;
            }
        return kn_dnnl_all_f32(g, n, why, len) &&
               kn_dnnl_rank_in(g, n->inputs[n->op == KN_OP_BATCH_NORM_GRAD], 2, 5, why, len);
    case KN_OP_AVERAGE_POOL_GRAD: case KN_OP_GLOBAL_AVERAGE_POOL_GRAD:
        return kn_dnnl_all_f32(g, n, why, len) && kn_dnnl_rank_in(g, n->inputs[1], 3, 5, why, len);
    case KN_OP_MAX_POOL_GRAD: /* kiln's own loop where x is blocked and the windows tile it (dnnl_pool_grad.c) */
    case KN_OP_CONV_GRAD_WEIGHT:
        if (!kn_dnnl_all_f32(g, n, why, len) || !kn_dnnl_rank_in(g, n->inputs[0], 3, 5, why, len))
            return false;
        if (n->op == KN_OP_CONV_GRAD_WEIGHT) {
            const int64_t group = n->attrs.window.group > 1 ? n->attrs.window.group : 1;
            const int64_t c = g->values[n->inputs[0]].shape.dims[1], m = g->values[n->inputs[1]].shape.dims[1];
            if (kn_dnnl_narrow_window(n, m / group, c / group, why, len))
                return false;
        }
        return true;
    case KN_OP_ACTIVATION_GRAD: {
        dnnl_alg_kind_t alg;
        float alpha, beta;
        if (!kn_dnnl_all_f32(g, n, why, len))
            return false;
        if (!kn_dnnl_act_grad_alg(&n->attrs.act_grad, &alg, &alpha, &beta)) {
            snprintf(why, len, "oneDNN has no eltwise backward for %s%s", kn_op_get(n->attrs.act_grad.act)->name,
                     n->attrs.act_grad.use_dst ? " on its output" : "");
            return false;
        }
        return true;
    }
    case KN_OP_GATHER_ND: case KN_OP_GATHER_GRAD:
        /* an index loop of copies (or, for Gather's gradient, of adds that repeated indices accumulate in order) */
        snprintf(why, len, "oneDNN 2.6 has no gather or scatter-add primitive (the reference kernel's index loop)");
        return false;
    case KN_OP_LRN_GRAD:
        /* kiln's forward LRN may run on either backend and keeps no workspace, which oneDNN's backward reads */
        snprintf(why, len, "oneDNN's LRN backward needs its own forward's workspace; the reference kernel recomputes");
        return false;
    default:
        snprintf(why, len, "no oneDNN mapping yet");
        return false;
    }
}
