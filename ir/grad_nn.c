/*
 * grad_nn.c - gradient rules of the neural-network ops (see grad.h):
 * convolutions, matrix products, activations, softmax, pools,
 * normalisation, dropout and losses.
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "shape.h"

/* Fused post-ops belong after autodiff: the pass runs before fusion. */
static bool kn_grad_unfused(kn_grad_ctx *c)
{
    if (c->fwd.fused.activation == KN_OP_COUNT && c->fwd.fused.residual < 0)
        return true;
    kn_grad_fail(c, KN_ERR_INVALID_ARG, "the node carries fused post-ops (autodiff must run before fusion)");
    return false;
}

/*
 * The window of Conv/ConvTranspose node n with everything explicit: kernel
 * from the weights, pads resolved (auto_pad, output_shape), auto_pad off;
 * *x_out gets the resolved output spatial dims.
 */
static bool kn_grad_window(kn_grad_ctx *c, bool transpose, kn_window_attrs *w, int64_t *pb, int64_t *pe)
{
    const kn_node *n = &c->fwd;
    const kn_shape *xs = kn_grad_shape(c, kn_grad_x(c, 0)), *ws = kn_grad_shape(c, kn_grad_x(c, 1));
    const int ns = xs->rank - 2;
    *w = n->attrs.window;
    w->nspatial = ns;
    int64_t kernel[KN_MAX_SPATIAL] = {0}, o[KN_MAX_SPATIAL];
    for (int i = 0; i < ns; i++)
        kernel[i] = ws->dims[2 + i];
    if ((c->st = kn_window_resolve(n, w, xs->dims + 2, kernel, transpose, pb, pe, o, c->err)) != KN_OK)
        return false;
    for (int i = 0; i < ns; i++) {
        w->kernel[i] = kernel[i];
        w->stride[i] = w->stride[i] ? w->stride[i] : 1;
        w->dilation[i] = w->dilation[i] ? w->dilation[i] : 1;
        w->pad_begin[i] = pb[i];
        w->pad_end[i] = pe[i];
        w->output_padding[i] = 0;
        w->output_shape[i] = 0;
    }
    w->has_output_shape = false;
    w->auto_pad = KN_AUTO_PAD_NOTSET;
    w->group = w->group > 0 ? w->group : 1;
    return true;
}

/* The bias gradient [C] of an output gradient dy [N, C, ...]: dy summed over every other axis. */
static int kn_grad_channel_sum(kn_grad_ctx *c, int dy)
{
    const kn_shape *ds = kn_grad_shape(c, dy);
    kn_shape keep = {.rank = ds->rank}, vec = {.rank = 1};
    for (int i = 0; i < ds->rank; i++)
        keep.dims[i] = i == 1 ? ds->dims[1] : 1;
    vec.dims[0] = ds->dims[1];
    return kn_grad_reshape_to(c, kn_grad_sum_to(c, dy, &keep), &vec);
}

kn_status kn_grad_conv(kn_grad_ctx *c)
{
    const int dy = c->dy[0], x = kn_grad_x(c, 0), w = kn_grad_x(c, 1);
    if (dy < 0 || !kn_grad_unfused(c))
        return c->st;
    kn_window_attrs win;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL];
    if (!kn_grad_window(c, false, &win, pb, pe))
        return c->st;
    const kn_shape xs_copy = *kn_grad_shape(c, x), ys_copy = *kn_grad_shape(c, dy), *xs = &xs_copy, *ys = &ys_copy;
    if (c->need[0]) {
        /* dx = ConvTranspose(dy, w): the conv's adjoint, output_padding restoring the rows the stride skipped */
        kn_attrs a = {.window = win};
        for (int i = 0; i < win.nspatial; i++) {
            const int64_t ek = (win.kernel[i] - 1) * win.dilation[i] + 1;
            a.window.output_padding[i] = xs->dims[2 + i] - (win.stride[i] * (ys->dims[2 + i] - 1) + ek - pb[i] - pe[i]);
        }
        c->dx[0] = kn_grad_op(c, KN_OP_CONV_TRANSPOSE, &a, dy, w, -1);
    }
    if (c->need[1] || c->need[2]) {
        kn_attrs a = {.window = win};
        const bool bias = kn_grad_x(c, 2) >= 0 && c->need[2];
        int outs[2], in[2] = {x, dy};
        kn_grad_emit(c, KN_OP_CONV_GRAD_WEIGHT, &a, in, 2, bias ? 2 : 1, outs);
        c->dx[1] = c->need[1] ? outs[0] : -1;
        c->dx[2] = bias ? outs[1] : -1;
    }
    return c->st;
}

kn_status kn_grad_conv_transpose(kn_grad_ctx *c)
{
    const int dy = c->dy[0], x = kn_grad_x(c, 0), w = kn_grad_x(c, 1);
    if (dy < 0 || !kn_grad_unfused(c))
        return c->st;
    kn_window_attrs win;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL];
    if (!kn_grad_window(c, true, &win, pb, pe))
        return c->st;
    /* copies: every op added below may move the graph's values */
    const kn_shape xs_copy = *kn_grad_shape(c, x), ys_copy = *kn_grad_shape(c, dy), *xs = &xs_copy, *ys = &ys_copy;
    /* the same window read the other way: a conv over dy gives x's positions; its end pad covers exactly the
     * rows that reach x (output_padding rows are never read) */
    for (int i = 0; i < win.nspatial; i++) {
        const int64_t ek = (win.kernel[i] - 1) * win.dilation[i] + 1;
        const int64_t end = win.stride[i] * (xs->dims[2 + i] - 1) + ek - pb[i] - ys->dims[2 + i];
        win.pad_end[i] = end > 0 ? end : 0;
    }
    if (c->need[0]) {
        kn_attrs a = {.window = win};
        c->dx[0] = kn_grad_op(c, KN_OP_CONV, &a, dy, w, -1);
        if (c->dx[0] >= 0 && !kn_shape_equal(kn_grad_shape(c, c->dx[0]), xs))
            return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "output_padding beyond the padding has no gradient rule"),
                   c->st;
    }
    if (c->need[1]) {
        /* w[c, m, k] meets x[c, q] and dy[m, q*s + k*d - p]: ConvGradWeight with dy in the input's role */
        kn_attrs a = {.window = win};
        int outs[1], in[2] = {dy, x};
        c->dx[1] = kn_grad_emit(c, KN_OP_CONV_GRAD_WEIGHT, &a, in, 2, 1, outs);
    }
    if (c->need[2] && kn_grad_x(c, 2) >= 0)
        c->dx[2] = kn_grad_channel_sum(c, dy);
    return c->st;
}

/* Gemm/MatMul-shaped product a' b' (alpha) as a Gemm node. */
static int kn_grad_gemm_op(kn_grad_ctx *c, int a, bool ta, int b, bool tb, float alpha)
{
    kn_attrs at;
    kn_attrs_init(KN_OP_GEMM, &at);
    at.gemm.trans_a = ta;
    at.gemm.trans_b = tb;
    at.gemm.alpha = alpha;
    return kn_grad_op(c, KN_OP_GEMM, &at, a, b, -1);
}

kn_status kn_grad_gemm(kn_grad_ctx *c)
{
    const int dy = c->dy[0], A = kn_grad_x(c, 0), B = kn_grad_x(c, 1), C = kn_grad_x(c, 2);
    if (dy < 0 || !kn_grad_unfused(c))
        return c->st;
    const kn_gemm_attrs *g = &c->fwd.attrs.gemm;
    const bool ta = g->trans_a, tb = g->trans_b;
    /* Y = alpha op(A) op(B) + beta C */
    if (c->need[0])
        c->dx[0] = ta ? kn_grad_gemm_op(c, B, tb, dy, true, g->alpha) : kn_grad_gemm_op(c, dy, false, B, !tb, g->alpha);
    if (c->need[1])
        c->dx[1] = tb ? kn_grad_gemm_op(c, dy, true, A, ta, g->alpha) : kn_grad_gemm_op(c, A, !ta, dy, false, g->alpha);
    if (C >= 0 && c->need[2]) {
        int d = kn_grad_sum_to(c, dy, kn_grad_shape(c, C));
        if (g->beta != 1.0f)
            d = kn_grad_op(c, KN_OP_MUL, NULL, d, kn_grad_scalar(c, g->beta), -1);
        c->dx[2] = d;
    }
    return c->st;
}

/* v with its last two axes swapped. */
static int kn_grad_swap_last(kn_grad_ctx *c, int v)
{
    const int r = kn_grad_shape(c, v)->rank;
    kn_attrs a;
    kn_attrs_init(KN_OP_TRANSPOSE, &a);
    a.transpose.nperm = r;
    for (int i = 0; i < r; i++)
        a.transpose.perm[i] = i;
    a.transpose.perm[r - 2] = r - 1;
    a.transpose.perm[r - 1] = r - 2;
    return kn_grad_op(c, KN_OP_TRANSPOSE, &a, v, -1, -1);
}

kn_status kn_grad_matmul(kn_grad_ctx *c)
{
    const int dy = c->dy[0], A = kn_grad_x(c, 0), B = kn_grad_x(c, 1);
    if (dy < 0 || !kn_grad_unfused(c))
        return c->st;
    /* copies: the Transpose and MatMul added below may move the graph's values */
    const kn_shape as_copy = *kn_grad_shape(c, A), bs_copy = *kn_grad_shape(c, B), *as = &as_copy, *bs = &bs_copy;
    if (as->rank < 2 || bs->rank < 2)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "a 1-D operand has no gradient rule (reshape it to a matrix)"),
               c->st;
    /* dA = dY B^T, dB = A^T dY, each summed over the batch axes its operand was broadcast along */
    if (c->need[0])
        c->dx[0] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MATMUL, NULL, dy, kn_grad_swap_last(c, B), -1), as);
    if (c->need[1])
        c->dx[1] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MATMUL, NULL, kn_grad_swap_last(c, A), dy, -1), bs);
    return c->st;
}

/* Clip's bound in input slot i (a constant scalar) or `dflt`. */
static float kn_grad_clip_bound(kn_grad_ctx *c, int i, float dflt)
{
    const int v = kn_grad_x(c, i);
    if (v < 0)
        return dflt;
    const kn_value *val = &c->g->values[v];
    size_t n = 0;
    if (!kn_value_is_constant(c->g, v) || val->dtype != KN_F32 || kn_shape_numel(&val->shape, &n) != KN_OK || n != 1) {
        kn_grad_fail(c, KN_ERR_UNSUPPORTED, "Clip bounds that are not constant scalars have no gradient rule");
        return dflt;
    }
    return *(const float *)val->data;
}

kn_status kn_grad_activation(kn_grad_ctx *c)
{
    const kn_op op = c->fwd.op;
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    kn_attrs a;
    kn_attrs_init(KN_OP_ACTIVATION_GRAD, &a);
    a.act_grad.act = op;
    a.act_grad.p = c->fwd.attrs.scalar;
    if (op == KN_OP_CLIP) {
        a.act_grad.p.min = kn_grad_clip_bound(c, 1, c->fwd.attrs.scalar.min);
        a.act_grad.p.max = kn_grad_clip_bound(c, 2, c->fwd.attrs.scalar.max);
    }
    /* the output where it determines the derivative (Relu, Sigmoid, Tanh, Exp, Sqrt, Reciprocal; Elu for
     * alpha >= 0), so that the input need not be kept */
    a.act_grad.use_dst = op == KN_OP_RELU || op == KN_OP_SIGMOID || op == KN_OP_TANH || op == KN_OP_EXP ||
                         op == KN_OP_SQRT || op == KN_OP_RECIPROCAL ||
                         (op == KN_OP_ELU && c->fwd.attrs.scalar.alpha >= 0.0f);
    c->dx[0] = kn_grad_op(c, KN_OP_ACTIVATION_GRAD, &a, c->dy[0], a.act_grad.use_dst ? kn_grad_y(c, 0) : kn_grad_x(c, 0),
                          -1);
    return c->st;
}

kn_status kn_grad_lrn(kn_grad_ctx *c)
{
    /* LRNGrad: y = x s^-beta with s = bias + alpha/size (the window's sum of squares), so that dx = dy s^-beta -
     * 2 alpha beta / size x (the sum over the windows holding x of dy x s^(-beta-1)) (backends/ref/ref_norm.c) */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    kn_attrs a = {.lrn = c->fwd.attrs.lrn};
    c->dx[0] = kn_grad_op(c, KN_OP_LRN_GRAD, &a, c->dy[0], kn_grad_x(c, 0), -1);
    return c->st;
}

kn_status kn_grad_softmax(kn_grad_ctx *c)
{
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    kn_attrs a = {.axis = c->fwd.attrs.axis};
    c->dx[0] = kn_grad_op(c, c->fwd.op == KN_OP_SOFTMAX ? KN_OP_SOFTMAX_GRAD : KN_OP_LOG_SOFTMAX_GRAD, &a, c->dy[0],
                          kn_grad_y(c, 0), -1);
    return c->st;
}

kn_status kn_grad_pool(kn_grad_ctx *c)
{
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    kn_attrs a = {.window = c->fwd.attrs.window};
    c->dx[0] = kn_grad_op(c, c->fwd.op == KN_OP_MAX_POOL ? KN_OP_MAX_POOL_GRAD : KN_OP_AVERAGE_POOL_GRAD, &a,
                          c->dy[0], kn_grad_x(c, 0), -1);
    return c->st;
}

kn_status kn_grad_global_pool(kn_grad_ctx *c)
{
    const int x = kn_grad_x(c, 0);
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    if (c->fwd.op == KN_OP_GLOBAL_AVERAGE_POOL) {
        c->dx[0] = kn_grad_op(c, KN_OP_GLOBAL_AVERAGE_POOL_GRAD, NULL, c->dy[0], x, -1);
        return c->st;
    }
    /* GlobalMaxPool: a MaxPool whose window is the whole plane */
    const kn_shape *xs = kn_grad_shape(c, x);
    kn_attrs a;
    kn_attrs_init(KN_OP_MAX_POOL_GRAD, &a);
    a.window.nspatial = xs->rank - 2;
    for (int i = 0; i < xs->rank - 2; i++)
        a.window.kernel[i] = xs->dims[2 + i];
    c->dx[0] = kn_grad_op(c, KN_OP_MAX_POOL_GRAD, &a, c->dy[0], x, -1);
    return c->st;
}

/* A per-channel vector [C] as [1, C, 1, ...] for an input of rank r. */
static int kn_grad_channels(kn_grad_ctx *c, int v, int r)
{
    kn_shape s = {.rank = r};
    for (int i = 0; i < r; i++)
        s.dims[i] = 1;
    s.dims[1] = kn_grad_shape(c, v)->dims[0];
    return kn_grad_reshape_to(c, v, &s);
}

kn_status kn_grad_batch_norm(kn_grad_ctx *c)
{
    /* inference form (frozen statistics): y = (x - mean) * k + bias, k = scale / sqrt(var + eps) */
    const int dy = c->dy[0], x = kn_grad_x(c, 0), scale = kn_grad_x(c, 1), mean = kn_grad_x(c, 3),
              var = kn_grad_x(c, 4);
    if (dy < 0 || !kn_grad_unfused(c))
        return c->st;
    if (c->need[3] || c->need[4])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the running statistics have no gradient"), c->st;
    const int r = kn_grad_shape(c, x)->rank;
    const int invstd = kn_grad_op(c, KN_OP_DIV, NULL, kn_grad_scalar(c, 1.0f),
                                  kn_grad_op(c, KN_OP_SQRT, NULL,
                                             kn_grad_op(c, KN_OP_ADD, NULL, var,
                                                        kn_grad_scalar(c, c->fwd.attrs.batch_norm.epsilon), -1),
                                             -1, -1),
                                  -1);
    if (c->need[0])
        c->dx[0] = kn_grad_op(c, KN_OP_MUL, NULL, dy,
                              kn_grad_channels(c, kn_grad_op(c, KN_OP_MUL, NULL, scale, invstd, -1), r), -1);
    if (c->need[1]) {
        const int xhat = kn_grad_op(c, KN_OP_MUL, NULL,
                                    kn_grad_op(c, KN_OP_SUB, NULL, x, kn_grad_channels(c, mean, r), -1),
                                    kn_grad_channels(c, invstd, r), -1);
        c->dx[1] = kn_grad_channel_sum(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, xhat, -1));
    }
    if (c->need[2])
        c->dx[2] = kn_grad_channel_sum(c, dy);
    return c->st;
}

kn_status kn_grad_batch_norm_train(kn_grad_ctx *c)
{
    if (c->dy[0] < 0)
        return c->st;
    if (c->need[3] || c->need[4])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the running statistics have no gradient"), c->st;
    int in[5] = {c->dy[0], kn_grad_x(c, 0), kn_grad_x(c, 1), kn_grad_y(c, 1), kn_grad_y(c, 2)}, outs[3];
    kn_attrs a = {.batch_norm = c->fwd.attrs.batch_norm};
    kn_grad_emit(c, KN_OP_BATCH_NORM_GRAD, &a, in, 5, 3, outs);
    for (int k = 0; k < 3; k++)
        c->dx[k] = c->need[k] ? outs[k] : -1;
    return c->st;
}

kn_status kn_grad_dropout_train(kn_grad_ctx *c)
{
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    kn_attrs a = {.dropout = c->fwd.attrs.dropout};
    c->dx[0] = kn_grad_op(c, KN_OP_DROPOUT_GRAD, &a, c->dy[0], kn_grad_y(c, 1), -1);
    return c->st;
}

kn_status kn_grad_loss(kn_grad_ctx *c)
{
    if (c->dy[0] < 0)
        return c->st;
    if (c->need[1])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the loss's target has no gradient"), c->st;
    if (!c->need[0])
        return c->st;
    kn_attrs a = {.loss = c->fwd.attrs.loss};
    a.loss.kind = c->fwd.op;
    /* softmax cross-entropy reads its own probabilities (output 1), the others their prediction */
    const int pred = c->fwd.op == KN_OP_SOFTMAX_CROSS_ENTROPY ? kn_grad_y(c, 1) : kn_grad_x(c, 0);
    c->dx[0] = kn_grad_op(c, KN_OP_LOSS_GRAD, &a, c->dy[0], pred, kn_grad_x(c, 1));
    return c->st;
}

/*
 * LayerNormalization and InstanceNormalization: y = xhat * gamma + beta, xhat = (x - mean) * rstd over the
 * normalised axes (the trailing ones from `first`), built from forward ops: with g = dy * gamma,
 * dx = rstd (g - mean(g) - xhat mean(g xhat)); dgamma, dbeta sum dy xhat and dy back to their shapes.
 * `pshape` is gamma's shape as it broadcasts against x (InstanceNormalization: [C, 1, ...]).
 */
static kn_status kn_grad_norm(kn_grad_ctx *c, int first, float eps, const kn_shape *pshape)
{
    const int dy = c->dy[0], X = kn_grad_x(c, 0);
    for (int k = 1; k < c->fwd.num_outputs; k++)
        if (c->dy[k] >= 0)
            return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "gradients through Mean/InvStdDev are not supported"), c->st;
    if (dy < 0)
        return c->st;
    const kn_shape *xs = kn_grad_shape(c, X);
    kn_attrs r;
    kn_attrs_init(KN_OP_REDUCE_MEAN, &r);
    for (int d = first; d < xs->rank; d++)
        r.reduce.axes[r.reduce.naxes++] = d;
    const int xc = kn_grad_op(c, KN_OP_SUB, NULL, X, kn_grad_op(c, KN_OP_REDUCE_MEAN, &r, X, -1, -1), -1);
    const int var = kn_grad_op(c, KN_OP_REDUCE_MEAN, &r, kn_grad_op(c, KN_OP_MUL, NULL, xc, xc, -1), -1, -1);
    const int rstd = kn_grad_op(c, KN_OP_RECIPROCAL, NULL,
                                kn_grad_op(c, KN_OP_SQRT, NULL, kn_grad_op(c, KN_OP_ADD, NULL, var,
                                                                           kn_grad_scalar(c, eps), -1), -1, -1),
                                -1, -1);
    const int xhat = kn_grad_op(c, KN_OP_MUL, NULL, xc, rstd, -1);
    const int gamma = kn_grad_reshape_to(c, kn_grad_x(c, 1), pshape);
    if (c->need[0]) {
        const int g = kn_grad_op(c, KN_OP_MUL, NULL, dy, gamma, -1);
        const int mg = kn_grad_op(c, KN_OP_REDUCE_MEAN, &r, g, -1, -1);
        const int mgx = kn_grad_op(c, KN_OP_REDUCE_MEAN, &r, kn_grad_op(c, KN_OP_MUL, NULL, g, xhat, -1), -1, -1);
        const int t = kn_grad_op(c, KN_OP_SUB, NULL, kn_grad_op(c, KN_OP_SUB, NULL, g, mg, -1),
                                 kn_grad_op(c, KN_OP_MUL, NULL, xhat, mgx, -1), -1);
        c->dx[0] = kn_grad_op(c, KN_OP_MUL, NULL, t, rstd, -1);
    }
    for (int k = 1; k < 3 && k < c->fwd.num_inputs; k++) {
        int p = kn_grad_x(c, k);
        if (p < 0 || !c->need[k])
            continue;
        const kn_shape ps = *kn_grad_shape(c, p); /* a copy: the ops added next may move the values */
        const int term = k == 1 ? kn_grad_op(c, KN_OP_MUL, NULL, dy, xhat, -1) : dy;
        c->dx[k] = kn_grad_reshape_to(c, kn_grad_sum_to(c, term, pshape), &ps);
    }
    return c->st;
}

kn_status kn_grad_layer_norm(kn_grad_ctx *c)
{
    const kn_shape *xs = kn_grad_shape(c, kn_grad_x(c, 0));
    int64_t axis;
    if ((c->st = kn_axis_normalize(&c->fwd, c->fwd.attrs.layer_norm.axis, xs->rank, &axis, c->err)) != KN_OK)
        return c->st;
    kn_shape ps = {.rank = xs->rank - (int)axis};
    for (int d = (int)axis; d < xs->rank; d++)
        ps.dims[d - axis] = xs->dims[d];
    return kn_grad_norm(c, (int)axis, c->fwd.attrs.layer_norm.epsilon, &ps);
}

kn_status kn_grad_instance_norm(kn_grad_ctx *c)
{
    const kn_shape *xs = kn_grad_shape(c, kn_grad_x(c, 0));
    kn_shape ps = {.rank = xs->rank - 1};
    for (int d = 0; d < ps.rank; d++)
        ps.dims[d] = d == 0 ? xs->dims[1] : 1;
    return kn_grad_norm(c, 2, c->fwd.attrs.batch_norm.epsilon, &ps);
}
