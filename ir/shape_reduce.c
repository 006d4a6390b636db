/*
 * shape_reduce.c - shape rules of the reductions (ReduceSum ... ReduceMean)
 * and of ArgMax/ArgMin, and kn_reduce_resolve, which the reference kernels
 * and the oneDNN mapping share with them.
 */
#include "shape.h"

kn_status kn_reduce_resolve(const kn_node *n, int rank, const int64_t *axes_in, int naxes_in, bool *red,
                            bool *identity, kn_error *err)
{
    const kn_reduce_attrs *a = &n->attrs.reduce;
    const int64_t *axes = naxes_in >= 0 ? axes_in : a->axes;
    int count = naxes_in >= 0 ? naxes_in : a->naxes;
    if (count < 0 || count > KN_MAX_RANK)
        return kn_node_error(err, KN_ERR_INVALID_ARG, n, "bad number of axes %d", count);
    *identity = count == 0 && a->noop_empty;
    for (int d = 0; d < rank; d++)
        red[d] = count == 0 && !a->noop_empty;
    for (int i = 0; i < count; i++) {
        int64_t ax;
        kn_status st = kn_axis_normalize(n, axes[i], rank, &ax, err);
        if (st != KN_OK)
            return st;
        if (red[ax])
            return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld is listed twice", (long long)axes[i]);
        red[ax] = true;
    }
    return KN_OK;
}

/* Whether reduction `op` runs on integer dtype inputs (exact in int64: sums, products, extremes). */
static bool kn_reduce_takes_ints(kn_op op)
{
    return op == KN_OP_REDUCE_SUM || op == KN_OP_REDUCE_PROD || op == KN_OP_REDUCE_MAX || op == KN_OP_REDUCE_MIN ||
           op == KN_OP_REDUCE_L1 || op == KN_OP_REDUCE_SUM_SQUARE;
}

kn_status kn_shape_reduce(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    bool ints = x->dtype == KN_I64 || x->dtype == KN_I32;
    if (!(x->dtype == KN_F32 || x->dtype == KN_F64 || (ints && kn_reduce_takes_ints(n->op))))
        return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s; %s runs float32, float64%s", x->name,
                             kn_dtype_name(x->dtype), kn_op_get(n->op)->name,
                             kn_reduce_takes_ints(n->op) ? ", int32 and int64" : "");
    int rank = x->shape.rank;
    int64_t axes[KN_MAX_RANK];
    int count = -1;
    kn_status st;
    kn_value *av = kn_node_input(g, n, 1);
    if (av) {
        if ((st = kn_value_read_ints(g, n->inputs[1], axes, KN_MAX_RANK, &count, err)) != KN_OK) {
            kn_error_prefix(err, "node '%s' (%s): axes", n->name, kn_op_get(n->op)->name);
            return st;
        }
    }
    bool red[KN_MAX_RANK], identity;
    if ((st = kn_reduce_resolve(n, rank, axes, count, red, &identity, err)) != KN_OK)
        return st;
    kn_shape out = {.rank = 0};
    for (int d = 0; d < rank; d++) {
        if (!red[d])
            out.dims[out.rank++] = x->shape.dims[d];
        else if (n->attrs.reduce.keepdims)
            out.dims[out.rank++] = 1;
    }
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_arg(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    if (x->dtype == KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is bool; %s takes numbers", x->name,
                             kn_op_get(n->op)->name);
    if (n->attrs.reduce.naxes != 1)
        return kn_node_error(err, KN_ERR_INVALID_ARG, n, "takes one axis, not %d", n->attrs.reduce.naxes);
    if (x->shape.rank == 0)
        return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' is a scalar; %s needs an axis", x->name,
                             kn_op_get(n->op)->name);
    int64_t axis;
    kn_status st = kn_axis_normalize(n, n->attrs.reduce.axes[0], x->shape.rank, &axis, err);
    if (st != KN_OK)
        return st;
    if (x->shape.dims[axis] == 0)
        return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld of '%s' is empty: no index to return",
                             (long long)n->attrs.reduce.axes[0], x->name);
    kn_shape out = {.rank = 0};
    for (int d = 0; d < x->shape.rank; d++) {
        if (d != axis)
            out.dims[out.rank++] = x->shape.dims[d];
        else if (n->attrs.reduce.keepdims)
            out.dims[out.rank++] = 1;
    }
    return kn_node_set_output(g, n, 0, KN_I64, &out, err);
}
