/*
 * grad_tensor.c - gradient rules of element-wise arithmetic (broadcasting
 * reduced back to each operand's shape), of the piecewise-constant ops and
 * casts, and of the tensor-manipulation and indexing ops (see grad.h).
 */
#include <string.h>

#include "grad.h"
#include "shape.h"

kn_status kn_grad_binary(kn_grad_ctx *c)
{
    const int dy = c->dy[0], A = kn_grad_x(c, 0), B = kn_grad_x(c, 1), Y = kn_grad_y(c, 0);
    if (dy < 0 || (c->fwd.fused.activation != KN_OP_COUNT || c->fwd.fused.residual >= 0))
        return dy < 0 ? c->st : (kn_grad_fail(c, KN_ERR_INVALID_ARG, "fused post-ops before autodiff"), c->st);
    /* copies: every op added below may move the graph's values */
    const kn_shape as_copy = *kn_grad_shape(c, A), bs_copy = *kn_grad_shape(c, B), *as = &as_copy, *bs = &bs_copy;
    switch (c->fwd.op) {
    case KN_OP_ADD:
        c->dx[0] = c->need[0] ? kn_grad_sum_to(c, dy, as) : -1;
        c->dx[1] = c->need[1] ? kn_grad_sum_to(c, dy, bs) : -1;
        break;
    case KN_OP_SUB:
        c->dx[0] = c->need[0] ? kn_grad_sum_to(c, dy, as) : -1;
        if (c->need[1]) /* summed first: the negation then touches the smaller tensor */
            c->dx[1] = kn_grad_op(c, KN_OP_MUL, NULL, kn_grad_sum_to(c, dy, bs), kn_grad_scalar(c, -1.0f), -1);
        break;
    case KN_OP_MUL:
        if (c->need[0])
            c->dx[0] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, B, -1), as);
        if (c->need[1])
            c->dx[1] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, A, -1), bs);
        break;
    case KN_OP_DIV:
        /* d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -y/b */
        if (c->need[0])
            c->dx[0] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_DIV, NULL, dy, B, -1), as);
        if (c->need[1]) {
            const int t = kn_grad_op(c, KN_OP_MUL, NULL, dy, kn_grad_op(c, KN_OP_DIV, NULL, Y, B, -1), -1);
            c->dx[1] = kn_grad_op(c, KN_OP_MUL, NULL, kn_grad_sum_to(c, t, bs), kn_grad_scalar(c, -1.0f), -1);
        }
        break;
    case KN_OP_POW: {
        /* y = a^b: da = b a^(b-1), db = y ln a; as PyTorch's pow_backward, da is 0 where b = 0 and db where a = 0
         * and b >= 0 (the limits there); an integer exponent is cast to float32 first */
        const int zero = kn_grad_scalar(c, 0.0f);
        int bf = B;
        if (c->g->values[B].dtype != KN_F32) {
            if (c->need[1])
                return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the %s exponent has no gradient",
                                    kn_dtype_name(c->g->values[B].dtype)), c->st;
            kn_attrs a;
            kn_attrs_init(KN_OP_CAST, &a);
            a.dtype.to = KN_F32;
            bf = kn_grad_op(c, KN_OP_CAST, &a, B, -1, -1);
        }
        if (c->need[0]) {
            const int bm1 = kn_grad_op(c, KN_OP_SUB, NULL, bf, kn_grad_scalar(c, 1.0f), -1);
            const int t = kn_grad_op(c, KN_OP_MUL, NULL, bf, kn_grad_op(c, KN_OP_POW, NULL, A, bm1, -1), -1);
            const int d = kn_grad_op(c, KN_OP_WHERE, NULL, kn_grad_op(c, KN_OP_EQUAL, NULL, bf, zero, -1), zero, t);
            c->dx[0] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, d, -1), as);
        }
        if (c->need[1]) {
            const int t = kn_grad_op(c, KN_OP_MUL, NULL, Y, kn_grad_op(c, KN_OP_LOG, NULL, A, -1, -1), -1);
            const int limit = kn_grad_op(c, KN_OP_AND, NULL, kn_grad_op(c, KN_OP_EQUAL, NULL, A, zero, -1),
                                         kn_grad_op(c, KN_OP_GREATER_OR_EQUAL, NULL, bf, zero, -1), -1);
            const int d = kn_grad_op(c, KN_OP_WHERE, NULL, limit, zero, t);
            c->dx[1] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, d, -1), bs);
        }
        break;
    }
    case KN_OP_MOD:
        /* float fmod: y = a - trunc(a/b) b, so da = 1 and db = -trunc(a/b) = (y - a) / b (kn_grad_refusal refuses
         * integer Mod before any rule runs) */
        if (!c->fwd.attrs.mod.fmod || c->g->values[A].dtype != KN_F32)
            return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "%s Mod (fmod=%d) is not differentiable",
                                kn_dtype_name(c->g->values[A].dtype), (int)c->fwd.attrs.mod.fmod), c->st;
        c->dx[0] = c->need[0] ? kn_grad_sum_to(c, dy, as) : -1;
        if (c->need[1]) {
            const int q = kn_grad_op(c, KN_OP_DIV, NULL, kn_grad_op(c, KN_OP_SUB, NULL, Y, A, -1), B, -1);
            c->dx[1] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_MUL, NULL, dy, q, -1), bs);
        }
        break;
    default:
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "no gradient rule"), c->st;
    }
    return c->st;
}

/* Zeros (float32) of `shape`: a scalar 0 expanded, so that the graph keeps no constant of that size. */
static int kn_grad_zeros(kn_grad_ctx *c, const kn_shape *shape)
{
    const kn_shape s = *shape; /* a copy: the constants added next may move the values */
    return kn_grad_op(c, KN_OP_EXPAND, NULL, kn_grad_scalar(c, 0.0f), kn_grad_ints(c, s.rank, s.dims), -1);
}

kn_status kn_grad_zero(kn_grad_ctx *c)
{
    /* Floor, Ceil, Round, Sign: piecewise constant, so the derivative is 0 wherever it exists; zeros (PyTorch's
     * gradient too) rather than none, so that a weight read only through them still trains (weight decay) */
    if (c->dy[0] >= 0 && c->need[0])
        c->dx[0] = kn_grad_zeros(c, kn_grad_shape(c, kn_grad_x(c, 0)));
    return c->st;
}

kn_status kn_grad_cast(kn_grad_ctx *c)
{
    /* float -> float: dy cast back to the input's dtype (itself when they agree); kn_grad_refusal names the other
     * casts (to or from an integer or bool: no gradient) before any rule runs */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    const kn_dtype from = c->g->values[kn_grad_x(c, 0)].dtype, to = c->g->values[kn_grad_y(c, 0)].dtype;
    if (!kn_grad_is_float(from) || !kn_grad_is_float(to))
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "a cast from %s to %s is not differentiable", kn_dtype_name(from),
                            kn_dtype_name(to)), c->st;
    if (c->g->values[c->dy[0]].dtype == from) {
        c->dx[0] = c->dy[0];
        return c->st;
    }
    kn_attrs a;
    kn_attrs_init(KN_OP_CAST, &a);
    a.dtype.to = from;
    c->dx[0] = kn_grad_op(c, KN_OP_CAST, &a, c->dy[0], -1, -1);
    return c->st;
}

kn_status kn_grad_variadic(kn_grad_ctx *c)
{
    /* Sum: dy to every input, summed back to its shape; Mean: dy / n; Min/Max: dy where the input equals the
     * result (every tied input gets all of dy, as a subgradient), summed back to its shape */
    int dy = c->dy[0];
    if (dy < 0)
        return c->st;
    bool extreme = c->fwd.op == KN_OP_MIN || c->fwd.op == KN_OP_MAX;
    if (c->fwd.op == KN_OP_MEAN)
        dy = kn_grad_op(c, KN_OP_MUL, NULL, dy, kn_grad_scalar(c, 1.0f / (float)c->fwd.num_inputs), -1);
    else if (c->fwd.op != KN_OP_SUM && !extreme)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "no gradient rule"), c->st;
    for (int i = 0; i < c->fwd.num_inputs; i++) {
        if (!c->need[i])
            continue;
        int d = dy;
        if (extreme) {
            const int eq = kn_grad_op(c, KN_OP_EQUAL, NULL, kn_grad_x(c, i), kn_grad_y(c, 0), -1);
            d = kn_grad_op(c, KN_OP_WHERE, NULL, eq, dy, kn_grad_scalar(c, 0.0f));
        }
        c->dx[i] = kn_grad_sum_to(c, d, kn_grad_shape(c, kn_grad_x(c, i)));
    }
    return c->st;
}

kn_status kn_grad_where(kn_grad_ctx *c)
{
    /* y = cond ? a : b: da = cond ? dy : 0, db = cond ? 0 : dy, each summed back to its shape */
    const int dy = c->dy[0], C = kn_grad_x(c, 0);
    if (dy < 0)
        return c->st;
    /* copies (the shape argument would otherwise be read before or after the Where is added: either order) */
    const kn_shape as = *kn_grad_shape(c, kn_grad_x(c, 1)), bs = *kn_grad_shape(c, kn_grad_x(c, 2));
    const int zero = kn_grad_scalar(c, 0.0f);
    if (c->need[1])
        c->dx[1] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_WHERE, NULL, C, dy, zero), &as);
    if (c->need[2])
        c->dx[2] = kn_grad_sum_to(c, kn_grad_op(c, KN_OP_WHERE, NULL, C, zero, dy), &bs);
    return c->st;
}

kn_status kn_grad_expand(kn_grad_ctx *c)
{
    /* broadcasting reversed */
    if (c->dy[0] >= 0 && c->need[0])
        c->dx[0] = kn_grad_sum_to(c, c->dy[0], kn_grad_shape(c, kn_grad_x(c, 0)));
    return c->st;
}

/*
 * ReduceProd's derivative: each element's product of the others in its group (the axes red[]), zeros included
 * exactly. With z the number of zeros in the group and P the product of its non-zero elements: no zero, P / x;
 * one zero, P at the zero and 0 elsewhere; more, 0 everywhere. The division is by non-zero elements only (a zero
 * is replaced by 1 first), so no 0/0 or x/0 arises.
 */
static int kn_grad_prod_others(kn_grad_ctx *c, int X, const bool *red)
{
    const int rank = kn_grad_shape(c, X)->rank;
    kn_attrs r;
    kn_attrs_init(KN_OP_REDUCE_PROD, &r);
    r.reduce.keepdims = true;
    for (int d = 0; d < rank; d++)
        if (red[d])
            r.reduce.axes[r.reduce.naxes++] = d;
    const int zero = kn_grad_scalar(c, 0.0f), one = kn_grad_scalar(c, 1.0f);
    const int is0 = kn_grad_op(c, KN_OP_EQUAL, NULL, X, zero, -1);
    const int nonzero = kn_grad_op(c, KN_OP_WHERE, NULL, is0, one, X);
    const int p = kn_grad_op(c, KN_OP_REDUCE_PROD, &r, nonzero, -1, -1);
    const int zeros = kn_grad_op(c, KN_OP_REDUCE_SUM, &r, kn_grad_op(c, KN_OP_WHERE, NULL, is0, one, zero), -1, -1);
    /* where the product of the others is P / x (or P): at a zero when it is the group's only one, elsewhere when
     * the group has none */
    const int valid = kn_grad_op(c, KN_OP_WHERE, NULL, is0, kn_grad_op(c, KN_OP_EQUAL, NULL, zeros, one, -1),
                                 kn_grad_op(c, KN_OP_EQUAL, NULL, zeros, zero, -1));
    const int others = kn_grad_op(c, KN_OP_WHERE, NULL, is0, p, kn_grad_op(c, KN_OP_DIV, NULL, p, nonzero, -1));
    return kn_grad_op(c, KN_OP_WHERE, NULL, valid, others, zero);
}

kn_status kn_grad_reduce(kn_grad_ctx *c)
{
    const int dy = c->dy[0], X = kn_grad_x(c, 0), Y = kn_grad_y(c, 0);
    if (dy < 0 || !c->need[0])
        return c->st;
    const kn_shape xs_copy = *kn_grad_shape(c, X), *xs = &xs_copy; /* a copy: the values move as ops are added */
    int64_t axes[KN_MAX_RANK];
    int naxes = -1;
    if (kn_grad_x(c, 1) >= 0 &&
        (c->st = kn_value_read_ints(c->g, kn_grad_x(c, 1), axes, KN_MAX_RANK, &naxes, c->err)) != KN_OK)
        return c->st;
    bool red[KN_MAX_RANK], identity;
    if ((c->st = kn_reduce_resolve(&c->fwd, xs->rank, axes, naxes, red, &identity, c->err)) != KN_OK)
        return c->st;
    if (identity) {
        c->dx[0] = dy;
        return c->st;
    }
    /* dy and y with the reduced dimensions kept (as 1), so that they broadcast against x */
    kn_shape kept = *xs;
    int64_t count = 1;
    for (int d = 0; d < xs->rank; d++)
        if (red[d]) {
            count *= xs->dims[d];
            kept.dims[d] = 1;
        }
    const int dyk = kn_grad_reshape_to(c, dy, &kept);
    const int yk = kn_grad_reshape_to(c, Y, &kept);
    int scale = -1; /* dx = scale * dyk, scale of x's shape (or a kept-shape factor spread by a ones tensor) */
    switch (c->fwd.op) {
    case KN_OP_REDUCE_SUM: scale = kn_grad_fill(c, xs, 1.0f); break;
    case KN_OP_REDUCE_MEAN: scale = kn_grad_fill(c, xs, count ? 1.0f / (float)count : 0.0f); break;
    case KN_OP_REDUCE_SUM_SQUARE: scale = kn_grad_op(c, KN_OP_MUL, NULL, X, kn_grad_scalar(c, 2.0f), -1); break;
    case KN_OP_REDUCE_L1: scale = kn_grad_op(c, KN_OP_SIGN, NULL, X, -1, -1); break;
    case KN_OP_REDUCE_L2: scale = kn_grad_op(c, KN_OP_DIV, NULL, X, yk, -1); break; /* x / |x| */
    case KN_OP_REDUCE_LOG_SUM: /* 1 / sum = e^-y */
        scale = kn_grad_op(c, KN_OP_DIV, NULL, kn_grad_fill(c, xs, 1.0f), kn_grad_op(c, KN_OP_EXP, NULL, yk, -1, -1),
                           -1);
        break;
    case KN_OP_REDUCE_LOG_SUM_EXP: /* softmax: e^(x - y) */
        scale = kn_grad_op(c, KN_OP_EXP, NULL, kn_grad_op(c, KN_OP_SUB, NULL, X, yk, -1), -1, -1);
        break;
    case KN_OP_REDUCE_MAX:
    case KN_OP_REDUCE_MIN: { /* dy where x is the extreme (ties each get all of dy, as a subgradient) */
        const int eq = kn_grad_op(c, KN_OP_EQUAL, NULL, X, yk, -1);
        c->dx[0] = kn_grad_op(c, KN_OP_WHERE, NULL, eq, dyk, kn_grad_scalar(c, 0.0f));
        return c->st;
    }
    case KN_OP_REDUCE_PROD:
        scale = kn_grad_prod_others(c, X, red);
        break;
    default:
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "no gradient rule"), c->st;
    }
    c->dx[0] = kn_grad_op(c, KN_OP_MUL, NULL, scale, dyk, -1);
    return c->st;
}

kn_status kn_grad_prelu(kn_grad_ctx *c)
{
    /* y = x < 0 ? s x : x: dx = x < 0 ? s dy : dy; ds = the sum over the broadcast of (x < 0 ? x dy : 0) */
    const int dy = c->dy[0], X = kn_grad_x(c, 0), S = kn_grad_x(c, 1);
    if (dy < 0)
        return c->st;
    /* a copy: every op added below may move the graph's values */
    const kn_shape slope_shape = *kn_grad_shape(c, S);
    const int zero = kn_grad_scalar(c, 0.0f);
    const int neg = kn_grad_op(c, KN_OP_LESS, NULL, X, zero, -1);
    if (c->need[0])
        c->dx[0] = kn_grad_op(c, KN_OP_WHERE, NULL, neg, kn_grad_op(c, KN_OP_MUL, NULL, dy, S, -1), dy);
    if (c->need[1]) {
        const int masked = kn_grad_op(c, KN_OP_WHERE, NULL, neg, kn_grad_op(c, KN_OP_MUL, NULL, dy, X, -1), zero);
        c->dx[1] = kn_grad_sum_to(c, masked, &slope_shape);
    }
    return c->st;
}

kn_status kn_grad_reshape(kn_grad_ctx *c)
{
    if (c->dy[0] >= 0 && c->need[0])
        c->dx[0] = kn_grad_reshape_to(c, c->dy[0], kn_grad_shape(c, kn_grad_x(c, 0)));
    return c->st;
}

kn_status kn_grad_identity(kn_grad_ctx *c)
{
    if (c->dy[0] >= 0 && c->need[0])
        c->dx[0] = c->dy[0];
    return c->st;
}

kn_status kn_grad_transpose(kn_grad_ctx *c)
{
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    const int r = kn_grad_shape(c, kn_grad_x(c, 0))->rank;
    const kn_transpose_attrs *t = &c->fwd.attrs.transpose;
    kn_attrs a;
    kn_attrs_init(KN_OP_TRANSPOSE, &a);
    a.transpose.nperm = r;
    for (int i = 0; i < r; i++) { /* the inverse permutation (none given: reversed, its own inverse) */
        const int64_t p = t->nperm ? t->perm[i] : r - 1 - i;
        a.transpose.perm[p] = i;
    }
    c->dx[0] = kn_grad_op(c, KN_OP_TRANSPOSE, &a, c->dy[0], -1, -1);
    return c->st;
}

kn_status kn_grad_concat(kn_grad_ctx *c)
{
    const kn_node *n = &c->fwd;
    if (c->dy[0] < 0)
        return c->st;
    const int rank = kn_grad_shape(c, c->dy[0])->rank;
    int64_t axis;
    if ((c->st = kn_axis_normalize(n, n->attrs.axis.axis, rank, &axis, c->err)) != KN_OK)
        return c->st;
    if (n->num_inputs > KN_MAX_OUTPUTS)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "%d inputs (a Split gives at most %d)", n->num_inputs,
                            KN_MAX_OUTPUTS), c->st;
    int64_t sizes[KN_MAX_OUTPUTS];
    for (int k = 0; k < n->num_inputs; k++)
        sizes[k] = kn_grad_shape(c, kn_grad_x(c, k))->dims[axis];
    kn_attrs a;
    kn_attrs_init(KN_OP_SPLIT, &a);
    a.axis.axis = axis;
    int outs[KN_MAX_OUTPUTS], in[2] = {c->dy[0], kn_grad_ints(c, n->num_inputs, sizes)};
    kn_grad_emit(c, KN_OP_SPLIT, &a, in, 2, n->num_inputs, outs);
    for (int k = 0; k < n->num_inputs && c->st == KN_OK; k++)
        c->dx[k] = c->need[k] ? outs[k] : -1;
    return c->st;
}

kn_status kn_grad_split(kn_grad_ctx *c)
{
    const kn_node *n = &c->fwd;
    if (!c->need[0])
        return c->st;
    bool any = false;
    int in[KN_MAX_INPUTS];
    for (int k = 0; k < n->num_outputs; k++) {
        any |= c->dy[k] >= 0;
        /* an output nothing differentiates contributes zeros */
        in[k] = c->dy[k] >= 0 ? c->dy[k] : kn_grad_fill(c, kn_grad_shape(c, kn_grad_y(c, k)), 0.0f);
    }
    if (!any)
        return c->st;
    kn_attrs a;
    kn_attrs_init(KN_OP_CONCAT, &a);
    a.axis.axis = n->attrs.axis.axis;
    int out;
    c->dx[0] = kn_grad_emit(c, KN_OP_CONCAT, &a, in, n->num_outputs, 1, &out);
    return c->st;
}

kn_status kn_grad_slice(kn_grad_ctx *c)
{
    const kn_node *n = &c->fwd;
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    int in[KN_MAX_INPUTS] = {c->dy[0]}, out;
    for (int k = 0; k < n->num_inputs; k++)
        in[1 + k] = n->inputs[k];
    int nin = 1 + n->num_inputs;
    while (nin > 4 && in[nin - 1] < 0)
        nin--;
    c->dx[0] = kn_grad_emit(c, KN_OP_SLICE_GRAD, NULL, in, nin, 1, &out);
    return c->st;
}

kn_status kn_grad_pad(kn_grad_ctx *c)
{
    const kn_node *n = &c->fwd;
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    if (n->attrs.pad.mode != KN_PAD_CONSTANT)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "only constant-mode Pad has a gradient rule"), c->st;
    const kn_shape *xs = kn_grad_shape(c, kn_grad_x(c, 0));
    int64_t pads[2 * KN_MAX_RANK], starts[KN_MAX_RANK], ends[KN_MAX_RANK];
    int count = 0;
    if ((c->st = kn_value_read_ints(c->g, kn_grad_x(c, 1), pads, 2 * KN_MAX_RANK, &count, c->err)) != KN_OK)
        return c->st;
    for (int d = 0; d < xs->rank; d++) {
        if (pads[d] < 0 || pads[d + xs->rank] < 0)
            return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "a Pad that crops (negative pads) has no gradient rule"),
                   c->st;
        starts[d] = pads[d];
        ends[d] = pads[d] + xs->dims[d];
    }
    /* the padding's gradient goes nowhere: dx is the part of dy over the input */
    c->dx[0] = kn_grad_op(c, KN_OP_SLICE, NULL, c->dy[0], kn_grad_ints(c, xs->rank, starts),
                          kn_grad_ints(c, xs->rank, ends));
    return c->st;
}

kn_status kn_grad_resize(kn_grad_ctx *c)
{
    /* Resize is linear in X for every mode (nearest, linear, cubic; any coordinate mode): dX is its adjoint,
     * ResizeGrad, which scatter-adds dy over the very taps the forward reads (backends/ref/ref_resize.c) */
    const kn_node *n = &c->fwd;
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    for (int k = 1; k < n->num_inputs; k++)
        if (c->need[k] && n->inputs[k] >= 0)
            return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "input %d (%s) has no gradient (make it a constant)", k,
                                k == 1 ? "roi" : k == 2 ? "scales" : "sizes"), c->st;
    int in[5] = {c->dy[0]}, out;
    for (int k = 0; k < n->num_inputs; k++)
        in[1 + k] = n->inputs[k];
    kn_attrs a = {.resize = n->attrs.resize};
    c->dx[0] = kn_grad_emit(c, KN_OP_RESIZE_GRAD, &a, in, 1 + n->num_inputs, 1, &out);
    return c->st;
}

kn_status kn_grad_tile(kn_grad_ctx *c)
{
    /* y[i] = x[i mod d]: dx sums dy over the copies. Axis by axis: dy as (before, r, d, after), summed over r */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    if (c->need[1])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the repeats have no gradient"), c->st;
    const kn_shape xs = *kn_grad_shape(c, kn_grad_x(c, 0));
    int64_t reps[KN_MAX_RANK];
    int nreps = 0;
    if ((c->st = kn_value_read_ints(c->g, kn_grad_x(c, 1), reps, KN_MAX_RANK, &nreps, c->err)) != KN_OK)
        return c->st;
    if (nreps != xs.rank)
        return kn_grad_fail(c, KN_ERR_SHAPE, "%d repeats for an input of rank %d", nreps, xs.rank), c->st;
    kn_shape cur = *kn_grad_shape(c, c->dy[0]); /* the shape of d, x's along the axes done so far */
    int d = c->dy[0];
    for (int ax = 0; ax < xs.rank; ax++) {
        if (reps[ax] == 1 || xs.dims[ax] == 0)
            continue;
        int64_t before = 1, after = 1;
        for (int i = 0; i < ax; i++)
            before *= cur.dims[i];
        for (int i = ax + 1; i < cur.rank; i++)
            after *= cur.dims[i];
        const kn_shape split = {.rank = 4, .dims = {before, reps[ax], xs.dims[ax], after}};
        kn_attrs r;
        kn_attrs_init(KN_OP_REDUCE_SUM, &r);
        r.reduce.naxes = 1;
        r.reduce.axes[0] = 1;
        r.reduce.keepdims = false;
        d = kn_grad_op(c, KN_OP_REDUCE_SUM, &r, kn_grad_reshape_to(c, d, &split), -1, -1);
        cur.dims[ax] = xs.dims[ax];
        d = kn_grad_reshape_to(c, d, &cur);
    }
    c->dx[0] = kn_grad_reshape_to(c, d, &xs);
    return c->st;
}

kn_status kn_grad_depth_space(kn_grad_ctx *c)
{
    /* a permutation of the elements: dx is dy permuted back, by the other op with the same block and mode
     * (kiln's SpaceToDepth takes the CRD mode too, as the inverse of CRD DepthToSpace) */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    const kn_op inverse = c->fwd.op == KN_OP_DEPTH_TO_SPACE ? KN_OP_SPACE_TO_DEPTH : KN_OP_DEPTH_TO_SPACE;
    kn_attrs a = {.block = c->fwd.attrs.block};
    c->dx[0] = kn_grad_op(c, inverse, &a, c->dy[0], -1, -1);
    return c->st;
}

kn_status kn_grad_gather(kn_grad_ctx *c)
{
    /* y = x indexed along the axis: dx is dy scatter-added back where Gather read (GatherGrad, which accumulates
     * repeated indices and counts negative ones from the end, as Gather does) */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    if (c->need[1])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the indices have no gradient"), c->st;
    kn_attrs a = {.axis = c->fwd.attrs.axis};
    c->dx[0] = kn_grad_op(c, KN_OP_GATHER_GRAD, &a, c->dy[0], kn_grad_x(c, 0), kn_grad_x(c, 1));
    return c->st;
}

kn_status kn_grad_gather_nd(kn_grad_ctx *c)
{
    /* the adjoint of GatherND: dy scatter-added into zeros of data's shape at the same index tuples (ScatterND with
     * reduction add: repeated tuples accumulate) */
    if (c->dy[0] < 0 || !c->need[0])
        return c->st;
    if (c->need[1])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the indices have no gradient"), c->st;
    if (c->fwd.attrs.gather_nd.batch_dims != 0)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "GatherND with batch_dims %lld has no gradient rule (only 0)",
                            (long long)c->fwd.attrs.gather_nd.batch_dims), c->st;
    kn_attrs a;
    kn_attrs_init(KN_OP_SCATTER_ND, &a);
    a.scatter.reduction = KN_SCATTER_ADD;
    c->dx[0] = kn_grad_op(c, KN_OP_SCATTER_ND, &a, kn_grad_zeros(c, kn_grad_shape(c, kn_grad_x(c, 0))),
                          kn_grad_x(c, 1), c->dy[0]);
    return c->st;
}

kn_status kn_grad_scatter_nd(kn_grad_ctx *c)
{
    /* reduction none: y is data with the indexed slices replaced, so ddata is dy with those slices zeroed (zeros
     * scattered into dy) and dupdates is dy at them (GatherND; a repeated index tuple gives each of its updates dy
     * there, as PyTorch's index_put); add: ddata = dy, dupdates the same GatherND; mul is refused */
    const int dy = c->dy[0], I = kn_grad_x(c, 1), U = kn_grad_x(c, 2);
    if (dy < 0)
        return c->st;
    const kn_scatter_reduction red = c->fwd.attrs.scatter.reduction;
    if (red != KN_SCATTER_NONE && red != KN_SCATTER_ADD)
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "ScatterND with reduction 'mul' has no gradient rule"), c->st;
    if (c->need[1])
        return kn_grad_fail(c, KN_ERR_UNSUPPORTED, "the indices have no gradient"), c->st;
    if (c->need[0])
        c->dx[0] = red == KN_SCATTER_ADD ? dy
                                         : kn_grad_op(c, KN_OP_SCATTER_ND, NULL, dy, I,
                                                      kn_grad_zeros(c, kn_grad_shape(c, U)));
    if (c->need[2])
        c->dx[2] = kn_grad_op(c, KN_OP_GATHER_ND, NULL, dy, I, -1);
    return c->st;
}
