/*
 * shape_image.c - shape rules of the image-geometry ops (Resize, DepthToSpace,
 * SpaceToDepth), the tiling ops (Expand, Tile, Range), Mod, and of the
 * per-sample normalisations (LayerNormalization, InstanceNormalization), and their
 * shared resolvers.
 */
#include <math.h>

#include "shape.h"

kn_status kn_value_read_floats(const kn_graph *g, int id, float *out, int cap, int *count, kn_error *err)
{
    if (id < 0 || id >= g->num_values)
        return kn_error_set(err, KN_ERR_GRAPH, "float input is missing");
    const kn_value *v = &g->values[id];
    if (!kn_value_is_constant(g, id))
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "'%s' must be a constant (its content is only known at run time, "
                            "and kiln needs it to know shapes)", v->name);
    if (v->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "'%s' must be float32, not %s", v->name, kn_dtype_name(v->dtype));
    size_t n;
    if (kn_shape_numel(&v->shape, &n) != KN_OK || n > (size_t)cap)
        return kn_error_set(err, KN_ERR_SHAPE, "'%s' has more than %d elements", v->name, cap);
    for (size_t i = 0; i < n; i++)
        out[i] = ((const float *)v->data)[i];
    *count = (int)n;
    return KN_OK;
}

kn_status kn_resize_resolve(const kn_node *n, const kn_shape *in, const float *scales, int nscales,
                            const int64_t *sizes, int nsizes, double *scale, kn_shape *out, kn_error *err)
{
    if ((nscales > 0) == (nsizes > 0))
        return kn_node_error(err, KN_ERR_SHAPE, n, "needs exactly one of scales and sizes (got %s)",
                             nscales > 0 ? "both" : "neither");
    int count = nscales > 0 ? nscales : nsizes;
    if (count != in->rank)
        return kn_node_error(err, KN_ERR_SHAPE, n, "%s has %d values for an input of rank %d",
                             nscales > 0 ? "scales" : "sizes", count, in->rank);
    out->rank = in->rank;
    for (int d = 0; d < in->rank; d++) {
        if (nscales > 0) {
            double s = scales[d];
            if (!(s > 0.0) || !isfinite(s))
                return kn_node_error(err, KN_ERR_SHAPE, n, "scale %g of dimension %d is not positive", s, d);
            double o = floor((double)in->dims[d] * s);
            if (o > (double)KN_SIZE_ATTR_MAX)
                return kn_node_error(err, KN_ERR_OVERFLOW, n, "dimension %d would have %.0f elements", d, o);
            out->dims[d] = (int64_t)o;
            scale[d] = s;
        } else {
            if (sizes[d] < 0 || sizes[d] > KN_SIZE_ATTR_MAX)
                return kn_node_error(err, KN_ERR_SHAPE, n, "size %lld of dimension %d is out of range",
                                     (long long)sizes[d], d);
            out->dims[d] = sizes[d];
            scale[d] = in->dims[d] > 0 ? (double)sizes[d] / (double)in->dims[d] : 1.0;
        }
        if (out->dims[d] > 0 && in->dims[d] == 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "cannot resize the empty dimension %d to %lld", d,
                                 (long long)out->dims[d]);
    }
    return KN_OK;
}

kn_status kn_shape_resize(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    if (x->dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s; only float32 is supported", x->name,
                             kn_dtype_name(x->dtype));
    if (x->shape.rank < 1)
        return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' is a scalar", x->name);
    float scales[KN_MAX_RANK], roi[2 * KN_MAX_RANK];
    int64_t sizes[KN_MAX_RANK];
    int ns = 0, nz = 0, nr = 0;
    kn_status st;
    if (kn_node_input(g, n, 2) && (st = kn_value_read_floats(g, n->inputs[2], scales, KN_MAX_RANK, &ns, err)) != KN_OK)
        goto fail;
    if (kn_node_input(g, n, 3) && (st = kn_value_read_ints(g, n->inputs[3], sizes, KN_MAX_RANK, &nz, err)) != KN_OK)
        goto fail;
    if (n->attrs.resize.coord == KN_COORD_TF_CROP_AND_RESIZE) {
        if (!kn_node_input(g, n, 1))
            return kn_node_error(err, KN_ERR_SHAPE, n, "tf_crop_and_resize needs the roi input");
        if ((st = kn_value_read_floats(g, n->inputs[1], roi, 2 * KN_MAX_RANK, &nr, err)) != KN_OK)
            goto fail;
        if (nr != 2 * x->shape.rank)
            return kn_node_error(err, KN_ERR_SHAPE, n, "roi has %d values; an input of rank %d needs %d", nr,
                                 x->shape.rank, 2 * x->shape.rank);
    }
    double scale[KN_MAX_RANK];
    kn_shape out;
    if ((st = kn_resize_resolve(n, &x->shape, scales, ns, sizes, nz, scale, &out, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 0, KN_F32, &out, err);
fail:
    kn_error_prefix(err, "node '%s' (%s)", n->name, kn_op_get(n->op)->name);
    return st;
}

/* ------------------------------------------------------------ normalisation */

kn_status kn_layer_norm_split(const kn_node *n, const kn_shape *x, int *normalized_axis, int64_t *outer,
                              int64_t *inner, kn_error *err)
{
    int64_t axis;
    kn_status st = kn_axis_normalize(n, n->attrs.layer_norm.axis, x->rank, &axis, err);
    if (st != KN_OK)
        return st;
    *normalized_axis = (int)axis;
    *outer = *inner = 1;
    for (int d = 0; d < x->rank; d++)
        *(d < axis ? outer : inner) *= x->dims[d];
    return KN_OK;
}

/* Whether p's shape is x's dims [axis, rank), leading 1s allowed. */
static bool kn_norm_param_fits(const kn_shape *p, const kn_shape *x, int axis)
{
    int tail = x->rank - axis, r = p->rank;
    for (int i = 0; i < r - tail; i++)
        if (p->dims[i] != 1)
            return false;
    if (r < tail)
        return false;
    for (int i = 0; i < tail; i++)
        if (p->dims[r - tail + i] != x->dims[axis + i])
            return false;
    return true;
}

kn_status kn_shape_layer_norm(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int axis;
    int64_t outer, inner;
    kn_status st = kn_layer_norm_split(n, &x->shape, &axis, &outer, &inner, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < 3; i++) {
        kn_value *v = kn_node_input(g, n, i);
        if (!v)
            continue;
        if (v->dtype != KN_F32)
            return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s; only float32 is supported", v->name,
                                 kn_dtype_name(v->dtype));
        char a[160], b[160];
        if (i > 0 && !kn_norm_param_fits(&v->shape, &x->shape, axis))
            return kn_node_error(err, KN_ERR_UNSUPPORTED, n,
                                 "%s '%s' has shape %s; kiln takes the normalised dimensions of %s (axis %d)",
                                 i == 1 ? "Scale" : "B", v->name, kn_shape_str(&v->shape, a, sizeof a),
                                 kn_shape_str(&x->shape, b, sizeof b), axis);
    }
    if ((st = kn_node_set_output(g, n, 0, KN_F32, &x->shape, err)) != KN_OK)
        return st;
    kn_shape stat = x->shape;
    for (int d = axis; d < stat.rank; d++)
        stat.dims[d] = 1;
    for (int i = 1; i < n->num_outputs && st == KN_OK; i++)
        if (n->outputs[i] >= 0)
            st = kn_node_set_output(g, n, i, KN_F32, &stat, err);
    return st;
}

kn_status kn_shape_instance_norm(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    char a[160], b[160];
    if (x->shape.rank < 3)
        return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' has shape %s; expected N x C x D1 ...", x->name,
                             kn_shape_str(&x->shape, a, sizeof a));
    for (int i = 0; i < 3; i++) {
        kn_value *v = kn_node_input(g, n, i);
        if (!v)
            return kn_node_error(err, KN_ERR_GRAPH, n, "input %d is missing", i);
        if (v->dtype != KN_F32)
            return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s; only float32 is supported", v->name,
                                 kn_dtype_name(v->dtype));
        if (i > 0 && (v->shape.rank != 1 || v->shape.dims[0] != x->shape.dims[1]))
            return kn_node_error(err, KN_ERR_SHAPE, n, "%s '%s' has shape %s; input %s has %lld channels",
                                 i == 1 ? "scale" : "B", v->name, kn_shape_str(&v->shape, a, sizeof a),
                                 kn_shape_str(&x->shape, b, sizeof b), (long long)x->shape.dims[1]);
    }
    return kn_node_set_output(g, n, 0, KN_F32, &x->shape, err);
}

/* ------------------------------------------------------------ Expand, Tile, Range, DepthToSpace, Mod */

kn_status kn_shape_expand(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t dims[KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_value_read_ints(g, n->inputs[1], dims, KN_MAX_RANK, &count, err);
    if (st != KN_OK) {
        kn_error_prefix(err, "node '%s' (%s): shape", n->name, kn_op_get(n->op)->name);
        return st;
    }
    kn_shape s = {.rank = count}, out;
    for (int i = 0; i < count; i++) {
        if (dims[i] < 0 || dims[i] > KN_SIZE_ATTR_MAX)
            return kn_node_error(err, KN_ERR_SHAPE, n, "shape entry %lld is out of range", (long long)dims[i]);
        s.dims[i] = dims[i];
    }
    if ((st = kn_shape_broadcast2(n, &x->shape, &s, &out, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_tile(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t rep[KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_value_read_ints(g, n->inputs[1], rep, KN_MAX_RANK, &count, err);
    if (st != KN_OK) {
        kn_error_prefix(err, "node '%s' (%s): repeats", n->name, kn_op_get(n->op)->name);
        return st;
    }
    if (count != x->shape.rank)
        return kn_node_error(err, KN_ERR_SHAPE, n, "repeats has %d values for an input of rank %d", count,
                             x->shape.rank);
    kn_shape out = x->shape;
    for (int d = 0; d < count; d++) {
        if (rep[d] < 0 || rep[d] > KN_SIZE_ATTR_MAX)
            return kn_node_error(err, KN_ERR_SHAPE, n, "repeat %lld is out of range", (long long)rep[d]);
        size_t v;
        if (!kn_size_mul((size_t)out.dims[d], (size_t)rep[d], &v) || v > (size_t)KN_SIZE_ATTR_MAX)
            return kn_node_error(err, KN_ERR_OVERFLOW, n, "dimension %d would be too large", d);
        out.dims[d] = (int64_t)v;
    }
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_range_count(const kn_node *n, double start, double limit, double delta, int64_t *count, kn_error *err)
{
    if (delta == 0.0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
        return kn_node_error(err, KN_ERR_SHAPE, n, "start %g, limit %g, delta %g give no finite sequence", start,
                             limit, delta);
    double c = ceil((limit - start) / delta);
    if (c > (double)KN_SIZE_ATTR_MAX)
        return kn_node_error(err, KN_ERR_OVERFLOW, n, "%.0f elements is too many", c);
    *count = c > 0 ? (int64_t)c : 0;
    return KN_OK;
}

/* A scalar constant as a double (Range's start, limit, delta). */
static kn_status kn_scalar_read(kn_graph *g, const kn_node *n, int slot, double *v, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, slot);
    size_t c = 0;
    if (!x || !kn_value_is_constant(g, n->inputs[slot]) || !x->data)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "input %d must be a constant (kiln needs it to know "
                             "the output's length)", slot);
    if (kn_shape_numel(&x->shape, &c) != KN_OK || c != 1)
        return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' must be a scalar", x->name);
    switch (x->dtype) {
    case KN_F32: *v = *(const float *)x->data; break;
    case KN_F64: *v = *(const double *)x->data; break;
    case KN_I32: *v = *(const int32_t *)x->data; break;
    case KN_I64: *v = (double)*(const int64_t *)x->data; break;
    default:
        return kn_node_error(err, KN_ERR_DTYPE, n, "input '%s' is %s (float32, float64, int32, int64)", x->name,
                             kn_dtype_name(x->dtype));
    }
    return KN_OK;
}

kn_status kn_shape_range(kn_graph *g, kn_node *n, kn_error *err)
{
    double v[3];
    kn_status st;
    for (int i = 0; i < 3; i++) {
        if ((st = kn_scalar_read(g, n, i, &v[i], err)) != KN_OK)
            return st;
        if (kn_node_input(g, n, i)->dtype != kn_node_input(g, n, 0)->dtype)
            return kn_node_error(err, KN_ERR_DTYPE, n, "start, limit and delta must have one dtype");
    }
    kn_shape out = {.rank = 1};
    if ((st = kn_range_count(n, v[0], v[1], v[2], &out.dims[0], err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 0, kn_node_input(g, n, 0)->dtype, &out, err);
}

kn_status kn_shape_depth_space(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = kn_node_input(g, n, 0);
    int64_t b = n->attrs.block.blocksize;
    char buf[160];
    if (x->shape.rank != 4)
        return kn_node_error(err, KN_ERR_SHAPE, n, "input '%s' has shape %s; expected N x C x H x W", x->name,
                             kn_shape_str(&x->shape, buf, sizeof buf));
    if (b < 1 || b > 4096)
        return kn_node_error(err, KN_ERR_SHAPE, n, "blocksize %lld is out of range", (long long)b);
    kn_shape out = x->shape;
    if (n->op == KN_OP_DEPTH_TO_SPACE) {
        if (x->shape.dims[1] % (b * b) != 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "%lld channels are not a multiple of blocksize^2 = %lld",
                                 (long long)x->shape.dims[1], (long long)(b * b));
        out.dims[1] /= b * b;
        out.dims[2] *= b;
        out.dims[3] *= b;
    } else {
        if (x->shape.dims[2] % b != 0 || x->shape.dims[3] % b != 0)
            return kn_node_error(err, KN_ERR_SHAPE, n, "height and width of %s are not multiples of %lld",
                                 kn_shape_str(&x->shape, buf, sizeof buf), (long long)b);
        out.dims[1] *= b * b;
        out.dims[2] /= b;
        out.dims[3] /= b;
    }
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_mod(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *a = kn_node_input(g, n, 0), *b = kn_node_input(g, n, 1);
    if (a->dtype != b->dtype)
        return kn_node_error(err, KN_ERR_DTYPE, n, "inputs '%s' (%s) and '%s' (%s) have different dtypes", a->name,
                             kn_dtype_name(a->dtype), b->name, kn_dtype_name(b->dtype));
    bool is_float = a->dtype == KN_F32 || a->dtype == KN_F64;
    bool is_int = a->dtype == KN_I64 || a->dtype == KN_I32 || a->dtype == KN_I8 || a->dtype == KN_U8;
    if (!is_float && !is_int)
        return kn_node_error(err, KN_ERR_DTYPE, n, "dtype %s is not supported (float32, float64, int64, int32, "
                             "int8, uint8)", kn_dtype_name(a->dtype));
    if (is_float && !n->attrs.mod.fmod)
        return kn_node_error(err, KN_ERR_SHAPE, n, "floating-point Mod needs fmod=1 (ONNX)");
    kn_shape out;
    kn_status st = kn_shape_broadcast2(n, &a->shape, &b->shape, &out, err);
    return st != KN_OK ? st : kn_node_set_output(g, n, 0, a->dtype, &out, err);
}
