/*
 * shape_tensor.c - shape rules of the element-wise, reduction and
 * tensor-manipulation ops (Add ... Cast in ir/ops.def), plus the Slice
 * parameter resolution shared with the reference kernel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shape.h"

/* --------------------------------------------------------------- helpers */

static const char *kn_op_name_of(const kn_node *n)
{
    return kn_op_get(n->op)->name;
}

/* Read the constant integer input in slot `slot` (named `what` in messages). */
static kn_status kn_read_input_ints(kn_graph *g, const kn_node *n, int slot, const char *what,
                                    int64_t *out, int cap, int *count, kn_error *err)
{
    if (slot >= n->num_inputs || n->inputs[slot] < 0)
        return kn_node_error(err, KN_ERR_GRAPH, n, "input %d (%s) is missing", slot, what);
    kn_status st = kn_value_read_ints(g, n->inputs[slot], out, cap, count, err);
    if (st != KN_OK)
        kn_error_prefix(err, "node '%s' (%s): %s", n->name, kn_op_name_of(n), what);
    return st;
}

/* Product of dims[lo..hi) into *out; false if it does not fit in int64. */
static bool kn_dims_product(const kn_shape *s, int lo, int hi, int64_t *out)
{
    size_t p = 1;
    for (int i = lo; i < hi; i++)
        if (!kn_size_mul(p, (size_t)s->dims[i], &p) || p > (size_t)INT64_MAX)
            return false;
    *out = (int64_t)p;
    return true;
}

/* Format ints as "a,b,c" into buf (always terminated). */
static const char *kn_ints_str(const int64_t *v, int count, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used + 24 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long)v[i]);
    return buf;
}

static kn_status kn_numel64(const kn_node *n, const kn_shape *s, int64_t *out, kn_error *err)
{
    if (!kn_dims_product(s, 0, s->rank, out)) {
        char buf[160];
        return kn_node_error(err, KN_ERR_OVERFLOW, n, "shape %s is too large",
                            kn_shape_str(s, buf, sizeof buf));
    }
    return KN_OK;
}

static kn_status kn_require_f32(const kn_node *n, const kn_value *v, kn_error *err)
{
    if (v->dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s; only float32 is supported",
                            v->name, kn_dtype_name(v->dtype));
    return KN_OK;
}

static bool kn_is_int_or_f32(kn_dtype d)
{
    return d == KN_F32 || d == KN_I64 || d == KN_I32 || d == KN_I8 || d == KN_U8;
}

static size_t kn_value_numel(const kn_value *v)
{
    size_t c = 0;
    if (kn_shape_numel(&v->shape, &c) != KN_OK)
        return SIZE_MAX;
    return c;
}

/* ------------------------------------------------------------ element-wise */

kn_status kn_shape_broadcast(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *a = kn_node_input(g, n, 0), *b = kn_node_input(g, n, 1);
    if (!a || !b)
        return kn_node_error(err, KN_ERR_GRAPH, n, "needs two inputs");
    if (n->op == KN_OP_POW) {
        /* ONNX Pow: base and exponent may differ; the result has the base's dtype */
        kn_dtype ds[2] = {a->dtype, b->dtype};
        for (int i = 0; i < 2; i++)
            if (ds[i] != KN_F32 && ds[i] != KN_I32 && ds[i] != KN_I64)
                return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported (float32, int32 or int64)",
                                    kn_dtype_name(ds[i]));
        kn_shape out;
        kn_status st = kn_shape_broadcast2(n, &a->shape, &b->shape, &out, err);
        return st != KN_OK ? st : kn_node_set_output(g, n, 0, a->dtype, &out, err);
    }
    if (a->dtype != b->dtype)
        return kn_node_error(err, KN_ERR_DTYPE, n, "inputs '%s' (%s) and '%s' (%s) have different dtypes",
                            a->name, kn_dtype_name(a->dtype), b->name, kn_dtype_name(b->dtype));
    if (!kn_is_int_or_f32(a->dtype))
        return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported (float32, int64, int32, int8, uint8)",
                            kn_dtype_name(a->dtype));
    kn_shape out;
    kn_status st = kn_shape_broadcast2(n, &a->shape, &b->shape, &out, err);
    if (st != KN_OK)
        return st;
    return kn_node_set_output(g, n, 0, a->dtype, &out, err);
}

kn_status kn_shape_variadic(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *a = kn_node_input(g, n, 0);
    if (!a)
        return kn_node_error(err, KN_ERR_GRAPH, n, "input 0 is missing");
    if (n->op == KN_OP_MEAN ? a->dtype != KN_F32 : !kn_is_int_or_f32(a->dtype))
        return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported (%s)", kn_dtype_name(a->dtype),
                             n->op == KN_OP_MEAN ? "float32" : "float32, int64, int32, int8, uint8");
    kn_shape out = a->shape;
    for (int i = 1; i < n->num_inputs; i++) {
        kn_value *b = kn_node_input(g, n, i);
        if (!b)
            return kn_node_error(err, KN_ERR_GRAPH, n, "input %d is missing", i);
        if (b->dtype != a->dtype)
            return kn_node_error(err, KN_ERR_DTYPE, n, "inputs '%s' (%s) and '%s' (%s) have different dtypes",
                                 a->name, kn_dtype_name(a->dtype), b->name, kn_dtype_name(b->dtype));
        kn_status st = kn_shape_broadcast2(n, &out, &b->shape, &out, err);
        if (st != KN_OK)
            return st;
    }
    return kn_node_set_output(g, n, 0, a->dtype, &out, err);
}

kn_status kn_shape_prelu(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0), *s = kn_node_input(g, n, 1);
    if (!x || !s)
        return kn_node_error(err, KN_ERR_GRAPH, n, "needs two inputs (X, slope)");
    if (x->dtype != KN_F32 || s->dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, n, "X is %s and slope %s; kiln's PRelu is float32",
                             kn_dtype_name(x->dtype), kn_dtype_name(s->dtype));
    kn_shape out;
    kn_status st = kn_shape_broadcast2(n, &x->shape, &s->shape, &out, err);
    if (st != KN_OK)
        return st;
    if (!kn_shape_equal(&out, &x->shape)) {
        char sa[160], sb[160];
        return kn_node_error(err, KN_ERR_SHAPE, n, "slope %s does not broadcast to X's shape %s",
                             kn_shape_str(&s->shape, sb, sizeof sb), kn_shape_str(&x->shape, sa, sizeof sa));
    }
    return kn_node_set_output(g, n, 0, KN_F32, &x->shape, err);
}

kn_status kn_shape_compare(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *a = kn_node_input(g, n, 0), *b = kn_node_input(g, n, 1);
    if (!a || !b)
        return kn_node_error(err, KN_ERR_GRAPH, n, "needs two inputs");
    if (a->dtype != b->dtype)
        return kn_node_error(err, KN_ERR_DTYPE, n, "inputs '%s' (%s) and '%s' (%s) have different dtypes",
                             a->name, kn_dtype_name(a->dtype), b->name, kn_dtype_name(b->dtype));
    bool ok = kn_is_int_or_f32(a->dtype) || a->dtype == KN_F64 || (n->op == KN_OP_EQUAL && a->dtype == KN_BOOL);
    if (!ok)
        return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported (float32, float64, int64, int32, int8, "
                             "uint8%s)", kn_dtype_name(a->dtype), n->op == KN_OP_EQUAL ? ", bool" : "");
    kn_shape out;
    kn_status st = kn_shape_broadcast2(n, &a->shape, &b->shape, &out, err);
    return st != KN_OK ? st : kn_node_set_output(g, n, 0, KN_BOOL, &out, err);
}

kn_status kn_shape_logical(kn_graph *g, kn_node *n, kn_error *err)
{
    int count = n->op == KN_OP_NOT ? 1 : 2;
    kn_shape out = {0};
    for (int i = 0; i < count; i++) {
        kn_value *a = kn_node_input(g, n, i);
        if (!a)
            return kn_node_error(err, KN_ERR_GRAPH, n, "input %d is missing", i);
        if (a->dtype != KN_BOOL)
            return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s, not bool", a->name,
                                 kn_dtype_name(a->dtype));
        kn_status st = i == 0 ? KN_OK : kn_shape_broadcast2(n, &out, &a->shape, &out, err);
        if (st != KN_OK)
            return st;
        if (i == 0)
            out = a->shape;
    }
    return kn_node_set_output(g, n, 0, KN_BOOL, &out, err);
}

kn_status kn_shape_where(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *c = kn_node_input(g, n, 0), *x = kn_node_input(g, n, 1), *y = kn_node_input(g, n, 2);
    if (!c || !x || !y)
        return kn_node_error(err, KN_ERR_GRAPH, n, "needs three inputs (condition, X, Y)");
    if (c->dtype != KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, n, "condition '%s' is %s, not bool", c->name,
                             kn_dtype_name(c->dtype));
    if (x->dtype != y->dtype || kn_dtype_size(x->dtype) == 0)
        return kn_node_error(err, KN_ERR_DTYPE, n, "X '%s' (%s) and Y '%s' (%s) must have one dtype", x->name,
                             kn_dtype_name(x->dtype), y->name, kn_dtype_name(y->dtype));
    kn_shape out;
    kn_status st = kn_shape_broadcast2(n, &c->shape, &x->shape, &out, err);
    if (st == KN_OK)
        st = kn_shape_broadcast2(n, &out, &y->shape, &out, err);
    return st != KN_OK ? st : kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_same(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    if (!x)
        return kn_node_error(err, KN_ERR_GRAPH, n, "input 0 is missing");
    kn_status st;
    if (n->op == KN_OP_CLIP) {
        /* Clip also takes integers (bounds of the same dtype) */
        if (!kn_is_int_or_f32(x->dtype))
            return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported", kn_dtype_name(x->dtype));
        for (int i = 1; i <= 2; i++) {
            kn_value *b = kn_node_input(g, n, i);
            if (!b)
                continue;
            if (b->dtype != x->dtype)
                return kn_node_error(err, KN_ERR_DTYPE, n, "%s '%s' is %s but the input is %s", i == 1 ? "min" : "max",
                                    b->name, kn_dtype_name(b->dtype), kn_dtype_name(x->dtype));
            if (kn_value_numel(b) > 1) {
                char buf[160];
                return kn_node_error(err, KN_ERR_SHAPE, n, "%s '%s' must be a scalar, not %s",
                                    i == 1 ? "min" : "max", b->name, kn_shape_str(&b->shape, buf, sizeof buf));
            }
        }
    } else if ((n->op == KN_OP_ABS || n->op == KN_OP_NEG || n->op == KN_OP_SIGN) && kn_is_int_or_f32(x->dtype)) {
        /* Abs, Neg and Sign also take the integer types (wrapping like NumPy: -INT_MIN is INT_MIN) */
    } else if (n->op != KN_OP_IDENTITY && (st = kn_require_f32(n, x, err)) != KN_OK) {
        return st;
    }
    if (n->op == KN_OP_SOFTMAX || n->op == KN_OP_LOG_SOFTMAX) {
        int64_t axis;
        if ((st = kn_axis_normalize(n, n->attrs.axis.axis, x->shape.rank, &axis, err)) != KN_OK)
            return st;
    }
    return kn_node_set_output(g, n, 0, x->dtype, &x->shape, err);
}

/* ------------------------------------------------------------ data movement */

kn_status kn_shape_flatten(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int rank = x->shape.rank;
    int64_t axis = n->attrs.axis.axis;
    if (axis < -rank || axis > rank)
        return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
    if (axis < 0)
        axis += rank;
    kn_shape out = {.rank = 2};
    if (!kn_dims_product(&x->shape, 0, (int)axis, &out.dims[0]) ||
        !kn_dims_product(&x->shape, (int)axis, rank, &out.dims[1]))
        return kn_node_error(err, KN_ERR_OVERFLOW, n, "flattened dimensions are too large");
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_reshape(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t want[KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_read_input_ints(g, n, 1, "shape", want, KN_MAX_RANK, &count, err);
    if (st != KN_OK)
        return st;
    char bx[160];
    kn_shape_str(&x->shape, bx, sizeof bx);
    kn_shape out = {.rank = count};
    int infer = -1;
    size_t known = 1;
    for (int i = 0; i < count; i++) {
        int64_t d = want[i];
        if (d == 0) {
            if (i >= x->shape.rank)
                return kn_node_error(err, KN_ERR_SHAPE, n,
                                    "target dim %d is 0 (copy) but the input %s has no dim %d", i, bx, i);
            d = x->shape.dims[i];
        } else if (d == -1) {
            if (infer >= 0)
                return kn_node_error(err, KN_ERR_SHAPE, n, "target shape has more than one -1 (dims %d and %d)",
                                    infer, i);
            infer = i;
            continue;
        } else if (d < 0) {
            return kn_node_error(err, KN_ERR_SHAPE, n, "target dim %d is %lld", i, (long long)d);
        }
        out.dims[i] = d;
        if (!kn_size_mul(known, (size_t)d, &known) || known > (size_t)INT64_MAX)
            return kn_node_error(err, KN_ERR_OVERFLOW, n, "target shape is too large");
    }
    int64_t numel = 0;
    if ((st = kn_numel64(n, &x->shape, &numel, err)) != KN_OK)
        return st;
    if (infer >= 0) {
        if (known == 0 || (size_t)numel % known != 0) {
            char bo[200];
            return kn_node_error(err, KN_ERR_SHAPE, n, "cannot infer the -1 in target [%s] from input %s",
                                kn_ints_str(want, count, bo, sizeof bo), bx);
        }
        out.dims[infer] = (int64_t)((size_t)numel / known);
    } else if (known != (size_t)numel) {
        char bo[200];
        return kn_node_error(err, KN_ERR_SHAPE, n, "cannot reshape %s (%lld elements) to [%s]", bx,
                            (long long)numel, kn_ints_str(want, count, bo, sizeof bo));
    }
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_transpose(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    const kn_transpose_attrs *a = &n->attrs.transpose;
    int rank = x->shape.rank;
    kn_shape out = {.rank = rank};
    if (a->nperm == 0) {
        for (int i = 0; i < rank; i++)
            out.dims[i] = x->shape.dims[rank - 1 - i];
        return kn_node_set_output(g, n, 0, x->dtype, &out, err);
    }
    bool seen[KN_MAX_RANK] = {false};
    bool ok = a->nperm == rank;
    for (int i = 0; ok && i < rank; i++) {
        int64_t p = a->perm[i];
        if (p < 0 || p >= rank || seen[p])
            ok = false;
        else
            seen[p] = true;
    }
    if (!ok) {
        char buf[200];
        int np = a->nperm < 0 ? 0 : a->nperm > KN_MAX_RANK ? KN_MAX_RANK : a->nperm;
        return kn_node_error(err, KN_ERR_SHAPE, n, "perm [%s] is not a permutation of 0..%d",
                            kn_ints_str(a->perm, np, buf, sizeof buf), rank - 1);
    }
    for (int i = 0; i < rank; i++)
        out.dims[i] = x->shape.dims[a->perm[i]];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_concat(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x0 = kn_node_input(g, n, 0);
    if (!x0)
        return kn_node_error(err, KN_ERR_GRAPH, n, "input 0 is missing");
    int rank = x0->shape.rank;
    int64_t axis;
    kn_status st = kn_axis_normalize(n, n->attrs.axis.axis, rank, &axis, err);
    if (st != KN_OK)
        return st;
    kn_shape out = x0->shape;
    out.dims[axis] = 0;
    for (int i = 0; i < n->num_inputs; i++) {
        kn_value *v = kn_node_input(g, n, i);
        if (!v)
            return kn_node_error(err, KN_ERR_GRAPH, n, "input %d is missing", i);
        if (v->dtype != x0->dtype)
            return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s but '%s' is %s", v->name,
                                kn_dtype_name(v->dtype), x0->name, kn_dtype_name(x0->dtype));
        bool ok = v->shape.rank == rank;
        for (int d = 0; ok && d < rank; d++)
            if (d != axis && v->shape.dims[d] != x0->shape.dims[d])
                ok = false;
        if (!ok) {
            char b0[160], b1[160];
            return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' %s does not fit '%s' %s on axis %lld",
                                v->name, kn_shape_str(&v->shape, b1, sizeof b1), x0->name,
                                kn_shape_str(&x0->shape, b0, sizeof b0), (long long)axis);
        }
        if (__builtin_add_overflow(out.dims[axis], v->shape.dims[axis], &out.dims[axis]))
            return kn_node_error(err, KN_ERR_OVERFLOW, n, "concatenated dimension is too large");
    }
    return kn_node_set_output(g, n, 0, x0->dtype, &out, err);
}

kn_status kn_shape_split(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t axis;
    kn_status st = kn_axis_normalize(n, n->attrs.axis.axis, x->shape.rank, &axis, err);
    if (st != KN_OK)
        return st;
    int64_t dim = x->shape.dims[axis];
    int nout = n->num_outputs;
    int64_t sizes[KN_MAX_OUTPUTS];
    if (nout < 1 || nout > KN_MAX_OUTPUTS)
        return kn_node_error(err, KN_ERR_GRAPH, n, "bad number of outputs %d", nout);
    if (kn_node_input(g, n, 1)) {
        int count = 0;
        if ((st = kn_read_input_ints(g, n, 1, "split", sizes, KN_MAX_OUTPUTS, &count, err)) != KN_OK)
            return st;
        if (count != nout)
            return kn_node_error(err, KN_ERR_SHAPE, n, "split has %d sizes for %d outputs", count, nout);
        int64_t sum = 0;
        for (int i = 0; i < count; i++) {
            if (sizes[i] < 0 || __builtin_add_overflow(sum, sizes[i], &sum))
                return kn_node_error(err, KN_ERR_SHAPE, n, "split size %d is %lld", i, (long long)sizes[i]);
        }
        if (sum != dim)
            return kn_node_error(err, KN_ERR_SHAPE, n, "split sizes sum to %lld but axis %lld has %lld",
                                (long long)sum, (long long)axis, (long long)dim);
    } else {
        /* equal parts; when uneven, the last chunk is smaller (opset 18) */
        int64_t chunk = (dim + nout - 1) / nout;
        int64_t last = dim - chunk * (nout - 1);
        if (last < 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld of size %lld cannot be split into %d parts",
                                (long long)axis, (long long)dim, nout);
        for (int i = 0; i < nout; i++)
            sizes[i] = i == nout - 1 ? last : chunk;
    }
    for (int i = 0; i < nout; i++) {
        if (n->outputs[i] < 0)
            continue;
        kn_shape s = x->shape;
        s.dims[axis] = sizes[i];
        if ((st = kn_node_set_output(g, n, i, x->dtype, &s, err)) != KN_OK)
            return st;
    }
    return KN_OK;
}

kn_status kn_slice_resolve(const kn_node *n, const kn_shape *in, const int64_t *starts,
                           const int64_t *ends, const int64_t *axes, const int64_t *steps, int count,
                           int64_t *start, int64_t *step, kn_shape *out, kn_error *err)
{
    bool seen[KN_MAX_RANK] = {false};
    *out = *in;
    for (int d = 0; d < in->rank; d++) {
        start[d] = 0;
        step[d] = 1;
    }
    if (count > in->rank)
        return kn_node_error(err, KN_ERR_SHAPE, n, "%d starts for an input of rank %d", count, in->rank);
    for (int i = 0; i < count; i++) {
        int64_t ax = axes ? axes[i] : i;
        kn_status st = kn_axis_normalize(n, ax, in->rank, &ax, err);
        if (st != KN_OK)
            return st;
        if (seen[ax])
            return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld is sliced twice", (long long)ax);
        seen[ax] = true;
        int64_t sp = steps ? steps[i] : 1;
        if (sp == 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "step of axis %lld is 0", (long long)ax);
        int64_t dim = in->dims[ax], s = starts[i], e = ends[i], len;
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        if (sp > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > s ? (e - s - 1) / sp + 1 : 0;
        } else {
            s = s < -1 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            int64_t asp = sp == INT64_MIN ? INT64_MAX : -sp;
            len = s > e ? (s - e - 1) / asp + 1 : 0;
        }
        start[ax] = len > 0 ? s : 0;
        /* a step is only ever taken between two outputs; 1 otherwise, so that a
         * kernel's step * stride cannot overflow (steps of +-2^63 are legal) */
        step[ax] = len > 1 ? sp : 1;
        out->dims[ax] = len;
    }
    return KN_OK;
}

kn_status kn_shape_slice(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t starts[KN_MAX_RANK], ends[KN_MAX_RANK], axes[KN_MAX_RANK], steps[KN_MAX_RANK];
    int ns = 0, ne = 0, na = 0, nst = 0;
    kn_status st;
    if ((st = kn_read_input_ints(g, n, 1, "starts", starts, KN_MAX_RANK, &ns, err)) != KN_OK ||
        (st = kn_read_input_ints(g, n, 2, "ends", ends, KN_MAX_RANK, &ne, err)) != KN_OK)
        return st;
    bool has_axes = kn_node_input(g, n, 3) != NULL, has_steps = kn_node_input(g, n, 4) != NULL;
    if (has_axes && (st = kn_read_input_ints(g, n, 3, "axes", axes, KN_MAX_RANK, &na, err)) != KN_OK)
        return st;
    if (has_steps && (st = kn_read_input_ints(g, n, 4, "steps", steps, KN_MAX_RANK, &nst, err)) != KN_OK)
        return st;
    if (ne != ns || (has_axes && na != ns) || (has_steps && nst != ns))
        return kn_node_error(err, KN_ERR_SHAPE, n, "starts, ends, axes and steps have different lengths (%d, %d, %d, %d)",
                            ns, ne, has_axes ? na : ns, has_steps ? nst : ns);
    int64_t start[KN_MAX_RANK], step[KN_MAX_RANK];
    kn_shape out;
    if ((st = kn_slice_resolve(n, &x->shape, starts, ends, has_axes ? axes : NULL, has_steps ? steps : NULL, ns,
                               start, step, &out, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_pad(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int rank = x->shape.rank;
    int64_t pads[2 * KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_read_input_ints(g, n, 1, "pads", pads, 2 * KN_MAX_RANK, &count, err);
    if (st != KN_OK)
        return st;
    if (count != 2 * rank)
        return kn_node_error(err, KN_ERR_SHAPE, n, "pads has %d values; an input of rank %d needs %d", count,
                            rank, 2 * rank);
    kn_value *cv = kn_node_input(g, n, 2);
    if (cv) {
        if (cv->dtype != x->dtype)
            return kn_node_error(err, KN_ERR_DTYPE, n, "constant_value '%s' is %s but the data is %s", cv->name,
                                kn_dtype_name(cv->dtype), kn_dtype_name(x->dtype));
        if (kn_value_numel(cv) > 1)
            return kn_node_error(err, KN_ERR_SHAPE, n, "constant_value '%s' must be a scalar", cv->name);
    }
    kn_pad_mode mode = n->attrs.pad.mode;
    if (mode != KN_PAD_CONSTANT && mode != KN_PAD_REFLECT && mode != KN_PAD_EDGE)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "pad mode %d is not supported", (int)mode);
    kn_shape out = {.rank = rank};
    for (int d = 0; d < rank; d++) {
        int64_t dim = x->shape.dims[d], pb = pads[d], pe = pads[d + rank], o;
        if (pb > KN_SIZE_ATTR_MAX || pe > KN_SIZE_ATTR_MAX || pb < -KN_SIZE_ATTR_MAX || pe < -KN_SIZE_ATTR_MAX)
            return kn_node_error(err, KN_ERR_SHAPE, n, "pads %lld,%lld of axis %d are out of range (at most 2^31)",
                                (long long)pb, (long long)pe, d);
        if (__builtin_add_overflow(dim, pb, &o) || __builtin_add_overflow(o, pe, &o))
            return kn_node_error(err, KN_ERR_OVERFLOW, n, "padded dimension %d is too large", d);
        if (o < 0 || dim + (pb < 0 ? pb : 0) < 0 || dim + (pe < 0 ? pe : 0) < 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "pads %lld,%lld crop more than dimension %d (%lld)",
                                (long long)pb, (long long)pe, d, (long long)dim);
        if (mode != KN_PAD_CONSTANT && dim == 0 && o > 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "cannot %s-pad the empty dimension %d",
                                mode == KN_PAD_REFLECT ? "reflect" : "edge", d);
        out.dims[d] = o;
    }
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_squeeze(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int rank = x->shape.rank;
    bool drop[KN_MAX_RANK] = {false};
    kn_status st;
    if (kn_node_input(g, n, 1)) {
        int64_t axes[KN_MAX_RANK];
        int count = 0;
        if ((st = kn_read_input_ints(g, n, 1, "axes", axes, KN_MAX_RANK, &count, err)) != KN_OK)
            return st;
        for (int i = 0; i < count; i++) {
            int64_t ax;
            if ((st = kn_axis_normalize(n, axes[i], rank, &ax, err)) != KN_OK)
                return st;
            if (drop[ax])
                return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld is listed twice", (long long)axes[i]);
            if (x->shape.dims[ax] != 1) {
                char buf[160];
                return kn_node_error(err, KN_ERR_SHAPE, n, "cannot squeeze axis %lld of %s (size is not 1)",
                                    (long long)axes[i], kn_shape_str(&x->shape, buf, sizeof buf));
            }
            drop[ax] = true;
        }
    } else {
        for (int d = 0; d < rank; d++)
            drop[d] = x->shape.dims[d] == 1;
    }
    kn_shape out = {.rank = 0};
    for (int d = 0; d < rank; d++)
        if (!drop[d])
            out.dims[out.rank++] = x->shape.dims[d];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_unsqueeze(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t axes[KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_read_input_ints(g, n, 1, "axes", axes, KN_MAX_RANK, &count, err);
    if (st != KN_OK)
        return st;
    int rank = x->shape.rank + count;
    if (rank > KN_MAX_RANK)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "output rank %d exceeds kiln's maximum %d", rank,
                            KN_MAX_RANK);
    bool ins[KN_MAX_RANK] = {false};
    for (int i = 0; i < count; i++) {
        int64_t ax;
        if ((st = kn_axis_normalize(n, axes[i], rank, &ax, err)) != KN_OK)
            return st;
        if (ins[ax])
            return kn_node_error(err, KN_ERR_SHAPE, n, "axis %lld is listed twice", (long long)axes[i]);
        ins[ax] = true;
    }
    kn_shape out = {.rank = rank};
    for (int d = 0, k = 0; d < rank; d++)
        out.dims[d] = ins[d] ? 1 : x->shape.dims[k++];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_gather(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0), *idx = kn_node_input(g, n, 1);
    if (idx->dtype != KN_I64 && idx->dtype != KN_I32)
        return kn_node_error(err, KN_ERR_DTYPE, n, "indices '%s' are %s; int64 or int32 expected", idx->name,
                            kn_dtype_name(idx->dtype));
    int64_t axis;
    kn_status st = kn_axis_normalize(n, n->attrs.axis.axis, x->shape.rank, &axis, err);
    if (st != KN_OK)
        return st;
    int rank = x->shape.rank - 1 + idx->shape.rank;
    if (rank > KN_MAX_RANK)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "output rank %d exceeds kiln's maximum %d", rank,
                            KN_MAX_RANK);
    int64_t dim = x->shape.dims[axis];
    if (kn_value_is_constant(g, n->inputs[1])) {
        size_t cnt = kn_value_numel(idx);
        for (size_t i = 0; i < cnt; i++) {
            int64_t v = idx->dtype == KN_I64 ? ((const int64_t *)idx->data)[i] : ((const int32_t *)idx->data)[i];
            if (v < -dim || v >= dim)
                return kn_node_error(err, KN_ERR_SHAPE, n, "index %lld is out of range for axis %lld of size %lld",
                                    (long long)v, (long long)axis, (long long)dim);
        }
    }
    kn_shape out = {.rank = rank};
    int k = 0;
    for (int d = 0; d < axis; d++)
        out.dims[k++] = x->shape.dims[d];
    for (int d = 0; d < idx->shape.rank; d++)
        out.dims[k++] = idx->shape.dims[d];
    for (int d = (int)axis + 1; d < x->shape.rank; d++)
        out.dims[k++] = x->shape.dims[d];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

/*
 * ScatterND: data [r dims], indices [q dims] whose last dim k <= r indexes data's first k dims, updates
 * indices.shape[:-1] + data.shape[k:]; the output is data's shape and dtype. Constant indices are checked here.
 */
kn_status kn_shape_scatter_nd(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0), *idx = kn_node_input(g, n, 1), *upd = kn_node_input(g, n, 2);
    char si[160], su[160], sx[160];
    if (idx->dtype != KN_I64)
        return kn_node_error(err, KN_ERR_DTYPE, n, "indices '%s' are %s; int64 expected", idx->name,
                             kn_dtype_name(idx->dtype));
    if (upd->dtype != x->dtype)
        return kn_node_error(err, KN_ERR_DTYPE, n, "updates '%s' are %s, data '%s' is %s", upd->name,
                             kn_dtype_name(upd->dtype), x->name, kn_dtype_name(x->dtype));
    if (n->attrs.scatter.reduction != KN_SCATTER_NONE && x->dtype != KN_F32 && x->dtype != KN_F64 &&
        x->dtype != KN_I64 && x->dtype != KN_I32)
        return kn_node_error(err, KN_ERR_DTYPE, n, "reduction on %s data (float32/64, int32/64 only)",
                             kn_dtype_name(x->dtype));
    const kn_shape *xs = &x->shape, *is = &idx->shape, *us = &upd->shape;
    const int64_t k = is->rank >= 1 ? is->dims[is->rank - 1] : -1;
    bool ok = is->rank >= 1 && xs->rank >= 1 && k >= 1 && k <= xs->rank &&
              us->rank == is->rank - 1 + xs->rank - (int)k;
    for (int d = 0; ok && d < is->rank - 1; d++)
        ok = us->dims[d] == is->dims[d];
    for (int d = (int)k; ok && d < xs->rank; d++)
        ok = us->dims[is->rank - 1 + d - (int)k] == xs->dims[d];
    if (!ok)
        return kn_node_error(err, KN_ERR_SHAPE, n, "indices %s and updates %s do not fit data %s",
                             kn_shape_str(is, si, sizeof si), kn_shape_str(us, su, sizeof su),
                             kn_shape_str(xs, sx, sizeof sx));
    if (kn_value_is_constant(g, n->inputs[1])) {
        size_t cnt = kn_value_numel(idx);
        const int64_t *v = idx->data;
        for (size_t i = 0; i < cnt; i++) {
            int64_t dim = xs->dims[i % (size_t)k];
            if (v[i] < -dim || v[i] >= dim)
                return kn_node_error(err, KN_ERR_SHAPE, n, "index %lld is out of range for dimension %d of size %lld",
                                     (long long)v[i], (int)(i % (size_t)k), (long long)dim);
        }
    }
    return kn_node_set_output(g, n, 0, x->dtype, xs, err);
}

/*
 * GatherND: data [r dims], indices [q dims] whose last dim k indexes data's dimensions b .. b+k-1 after the b =
 * batch_dims leading ones both share; the output is indices.shape[:-1] + data.shape[b+k:], data's dtype.
 */
kn_status kn_shape_gather_nd(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0), *idx = kn_node_input(g, n, 1);
    char si[160], sx[160];
    if (idx->dtype != KN_I64)
        return kn_node_error(err, KN_ERR_DTYPE, n, "indices '%s' are %s; int64 expected", idx->name,
                             kn_dtype_name(idx->dtype));
    const kn_shape *xs = &x->shape, *is = &idx->shape;
    const int64_t b = n->attrs.gather_nd.batch_dims, k = is->rank >= 1 ? is->dims[is->rank - 1] : -1;
    bool ok = is->rank >= 1 && xs->rank >= 1 && b >= 0 && b < is->rank && b < xs->rank && k >= 1 && k <= xs->rank - b;
    for (int d = 0; ok && d < b; d++)
        ok = is->dims[d] == xs->dims[d];
    if (!ok)
        return kn_node_error(err, KN_ERR_SHAPE, n, "indices %s do not fit data %s with batch_dims %lld",
                             kn_shape_str(is, si, sizeof si), kn_shape_str(xs, sx, sizeof sx), (long long)b);
    const int rank = is->rank - 1 + xs->rank - (int)(b + k);
    if (rank > KN_MAX_RANK)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "output rank %d exceeds kiln's maximum %d", rank,
                             KN_MAX_RANK);
    if (kn_value_is_constant(g, n->inputs[1])) {
        size_t cnt = kn_value_numel(idx);
        const int64_t *v = idx->data;
        for (size_t i = 0; i < cnt; i++) {
            const int d = (int)b + (int)(i % (size_t)k);
            if (v[i] < -xs->dims[d] || v[i] >= xs->dims[d])
                return kn_node_error(err, KN_ERR_SHAPE, n, "index %lld is out of range for dimension %d of size %lld",
                                     (long long)v[i], d, (long long)xs->dims[d]);
        }
    }
    kn_shape out = {.rank = rank};
    for (int d = 0; d < is->rank - 1; d++)
        out.dims[d] = is->dims[d];
    for (int d = (int)(b + k); d < xs->rank; d++)
        out.dims[is->rank - 1 + d - (int)(b + k)] = xs->dims[d];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_shape(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t rank = x->shape.rank;
    int64_t s = n->attrs.shape.start, e = n->attrs.shape.has_end ? n->attrs.shape.end : rank;
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    kn_shape out = {.rank = 1, .dims = {e > s ? e - s : 0}};
    return kn_node_set_output(g, n, 0, KN_I64, &out, err);
}

kn_status kn_shape_constant_of_shape(kn_graph *g, kn_node *n, kn_error *err)
{
    int64_t dims[KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_read_input_ints(g, n, 0, "shape", dims, KN_MAX_RANK, &count, err);
    if (st != KN_OK)
        return st;
    kn_dtype to = n->attrs.dtype.to == KN_DTYPE_UNDEFINED ? KN_F32 : n->attrs.dtype.to;
    if (kn_dtype_size(to) == 0)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "dtype %d is not supported", (int)to);
    kn_shape out = {.rank = count};
    for (int i = 0; i < count; i++) {
        if (dims[i] < 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "dimension %d is %lld", i, (long long)dims[i]);
        out.dims[i] = dims[i];
    }
    return kn_node_set_output(g, n, 0, to, &out, err);
}

kn_status kn_shape_dropout(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    kn_value *ratio = kn_node_input(g, n, 1), *train = kn_node_input(g, n, 2);
    if (train) {
        if (!train->data || train->kind != KN_VALUE_CONST || train->dtype != KN_BOOL)
            return kn_node_error(err, KN_ERR_UNSUPPORTED, n,
                                "training_mode '%s' must be a constant bool (only inference is supported)",
                                train->name);
        bool training = kn_value_numel(train) > 0 && ((const uint8_t *)train->data)[0] != 0;
        float r = n->attrs.scalar.ratio;
        if (ratio) {
            if (!ratio->data || kn_value_numel(ratio) != 1)
                return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "ratio '%s' must be a constant scalar",
                                    ratio->name);
            if (ratio->dtype == KN_F32)
                r = *(const float *)ratio->data;
            else if (ratio->dtype == KN_F64)
                r = (float)*(const double *)ratio->data;
            else
                return kn_node_error(err, KN_ERR_DTYPE, n, "ratio '%s' is %s", ratio->name,
                                    kn_dtype_name(ratio->dtype));
        }
        if (training && r != 0.0f)
            return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "training-mode dropout (ratio %g) is not supported",
                                (double)r);
    }
    kn_status st = kn_node_set_output(g, n, 0, x->dtype, &x->shape, err);
    if (st == KN_OK && n->num_outputs > 1 && n->outputs[1] >= 0)
        st = kn_node_set_output(g, n, 1, KN_BOOL, &x->shape, err);
    return st;
}

kn_status kn_shape_cast(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    kn_dtype to = n->attrs.dtype.to;
    if (kn_dtype_size(to) == 0 || kn_dtype_size(x->dtype) == 0)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "cast from %s to dtype %d is not supported",
                            kn_dtype_name(x->dtype), (int)to);
    return kn_node_set_output(g, n, 0, to, &x->shape, err);
}
