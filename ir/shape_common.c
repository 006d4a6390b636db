/* shape_common.c - driving shape rules, and helpers the rules share. */
#include <string.h>

#include "shape.h"

kn_value *kn_node_input(kn_graph *g, const kn_node *n, int i)
{
    if (i < 0 || i >= n->num_inputs || n->inputs[i] < 0)
        return NULL;
    return &g->values[n->inputs[i]];
}

kn_value *kn_node_output(kn_graph *g, const kn_node *n, int i)
{
    return &g->values[n->outputs[i]];
}

kn_status kn_node_set_output(kn_graph *g, kn_node *n, int i, kn_dtype dtype, const kn_shape *shape,
                             kn_error *err)
{
    char buf[160];
    size_t bytes;
    if (i < 0 || i >= n->num_outputs)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) has no output %d", n->name,
                            kn_op_get(n->op)->name, i);
    kn_status st = kn_tensor_nbytes(dtype, shape, &bytes);
    if (st == KN_ERR_OVERFLOW)
        return kn_error_set(err, st, "node '%s' (%s): output shape %s is too large", n->name,
                            kn_op_get(n->op)->name, kn_shape_str(shape, buf, sizeof buf));
    if (st != KN_OK)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): invalid output shape %s (dtype %s)", n->name,
                            kn_op_get(n->op)->name, kn_shape_str(shape, buf, sizeof buf), kn_dtype_name(dtype));
    kn_value *v = &g->values[n->outputs[i]];
    v->dtype = dtype;
    v->shape = *shape;
    v->shape_known = true;
    return KN_OK;
}

kn_status kn_shape_broadcast2(const kn_node *n, const kn_shape *a, const kn_shape *b, kn_shape *out,
                              kn_error *err)
{
    int rank = a->rank > b->rank ? a->rank : b->rank;
    kn_shape r = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1)
            r.dims[i] = da;
        else if (da == 1)
            r.dims[i] = db;
        else {
            char sa[160], sb[160];
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): shapes %s and %s do not broadcast",
                                n->name, kn_op_get(n->op)->name, kn_shape_str(a, sa, sizeof sa),
                                kn_shape_str(b, sb, sizeof sb));
        }
    }
    *out = r;
    return KN_OK;
}

kn_status kn_axis_normalize(const kn_node *n, int64_t axis, int rank, int64_t *out, kn_error *err)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): axis %lld is out of range for rank %d", n->name,
                            kn_op_get(n->op)->name, (long long)axis, rank);
    *out = a;
    return KN_OK;
}

kn_status kn_value_read_ints(const kn_graph *g, int id, int64_t *out, int cap, int *count, kn_error *err)
{
    if (id < 0 || id >= g->num_values)
        return kn_error_set(err, KN_ERR_GRAPH, "integer input is missing");
    const kn_value *v = &g->values[id];
    if (!kn_value_is_constant(g, id))
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "'%s' must be a constant (its content is only known at run time, "
                            "and kiln needs it to know shapes)", v->name);
    if (v->dtype != KN_I64 && v->dtype != KN_I32)
        return kn_error_set(err, KN_ERR_DTYPE, "'%s' must be int64 or int32, not %s", v->name,
                            kn_dtype_name(v->dtype));
    size_t n;
    if (kn_shape_numel(&v->shape, &n) != KN_OK || n > (size_t)cap)
        return kn_error_set(err, KN_ERR_SHAPE, "'%s' has more than %d elements", v->name, cap);
    for (size_t i = 0; i < n; i++)
        out[i] = v->dtype == KN_I64 ? ((const int64_t *)v->data)[i] : ((const int32_t *)v->data)[i];
    *count = (int)n;
    return KN_OK;
}

kn_status kn_node_infer_shape(kn_graph *g, kn_node *n, kn_error *err)
{
    const kn_op_info *info = kn_op_get(n->op);
    for (int k = 0; k < n->num_inputs; k++) {
        const kn_value *v = kn_node_input(g, n, k);
        if (!v)
            continue;
        if (!v->shape_known)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): input '%s' has no known shape", n->name,
                                info->name, v->name);
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dims[d] < 0)
                return kn_error_set(err, KN_ERR_SHAPE,
                                    "node '%s' (%s): input '%s' still has a symbolic dimension (bind the batch first)",
                                    n->name, info->name, v->name);
    }
    return info->shape(g, n, err);
}
