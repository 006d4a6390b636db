/*
 * ref_tensor.c - reference kernels for data-movement ops: copies (Flatten,
 * Reshape, Squeeze, Unsqueeze, Identity, Dropout), Transpose, Concat, Split,
 * Slice, Pad, Gather, GatherND, ScatterND, Shape, ConstantOfShape and Cast,
 * and GatherGrad, Gather's adjoint. All but Cast and GatherGrad (float32) work
 * on any dtype by element size.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ref.h"
#include "shape.h"

#ifdef _OPENMP
#define KN_PRAGMA(x) _Pragma(#x)
#else
#define KN_PRAGMA(x)
#endif

/* Byte counts above which copies are parallelised. */
#define KN_PAR_MIN_BYTES (256 * 1024)

static void kn_strides_of(const kn_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= s->dims[d];
    }
}

/* Read an int64/int32 tensor (at most cap elements) into out[]. */
static kn_status kn_tensor_ints(const kn_node *node, const kn_tensor *t, const char *what, int64_t *out, int cap,
                                int *count, kn_error *err)
{
    size_t n = kn_numel_of(t);
    if (!t->data && n > 0)
        return kn_node_error(err, KN_ERR_INVALID_ARG, node, "%s has no data", what);
    if (t->dtype != KN_I64 && t->dtype != KN_I32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "%s is %s; int64 or int32 expected", what,
                              kn_dtype_name(t->dtype));
    if (n > (size_t)cap)
        return kn_node_error(err, KN_ERR_SHAPE, node, "%s has %zu values, more than %d", what, n, cap);
    for (size_t i = 0; i < n; i++)
        out[i] = t->dtype == KN_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    *count = (int)n;
    return KN_OK;
}

/*
 * Copy a strided view into a dense buffer: dst[i0,..] = src[sum i_d * st[d]]
 * (strides in elements, may be negative or 0). Size-1 dims are dropped and
 * adjacent dims merged where the strides allow, so contiguous runs become
 * one memcpy.
 */
static void kn_copy_strided(char *dst, const char *src, size_t es, int rank, const int64_t *dims,
                            const int64_t *st)
{
    int64_t d2[KN_MAX_RANK], s2[KN_MAX_RANK];
    int m = 0;
    size_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 0)
            return;
        total *= (size_t)dims[i];
        if (dims[i] == 1)
            continue;
        if (m > 0 && s2[m - 1] == st[i] * dims[i]) {
            d2[m - 1] *= dims[i];
            s2[m - 1] = st[i];
            continue;
        }
        d2[m] = dims[i];
        s2[m++] = st[i];
    }
    if (m == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t inner = d2[m - 1], istr = s2[m - 1];
    int64_t rows = (int64_t)total / inner;
    size_t row_bytes = (size_t)inner * es;
    KN_PRAGMA(omp parallel for if(total * es > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0, rem = r;
        for (int d = m - 2; d >= 0; d--) {
            off += (rem % d2[d]) * s2[d];
            rem /= d2[d];
        }
        const char *s = src + off * (int64_t)es;
        char *o = dst + (size_t)r * row_bytes;
        if (istr == 1) {
            memcpy(o, s, row_bytes);
            continue;
        }
        int64_t bs = istr * (int64_t)es;
        switch (es) {
        case 1:
            for (int64_t j = 0; j < inner; j++)
                o[j] = s[j * bs];
            break;
        case 4:
            for (int64_t j = 0; j < inner; j++)
                memcpy(o + j * 4, s + j * bs, 4);
            break;
        case 8:
            for (int64_t j = 0; j < inner; j++)
                memcpy(o + j * 8, s + j * bs, 8);
            break;
        default:
            for (int64_t j = 0; j < inner; j++)
                memcpy(o + (size_t)j * es, s + j * bs, es);
            break;
        }
    }
}

/* ------------------------------------------------------------------ copy */

kn_status kn_ref_copy(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    size_t bytes;
    if (kn_tensor_nbytes(out[0].dtype, &out[0].shape, &bytes) != KN_OK || out[0].dtype != in[0].dtype)
        return kn_node_error(err, KN_ERR_DTYPE, node, "output does not match input dtype %s",
                              kn_dtype_name(in[0].dtype));
    size_t in_bytes;
    if (kn_tensor_nbytes(in[0].dtype, &in[0].shape, &in_bytes) != KN_OK || in_bytes != bytes)
        return kn_node_error(err, KN_ERR_SHAPE, node, "output size %zu differs from input size %zu", bytes,
                              in_bytes);
    if (bytes > 0 && out[0].data != in[0].data)
        memcpy(out[0].data, in[0].data, bytes);
    if (node->op == KN_OP_DROPOUT && node->num_outputs > 1 && out[1].data) {
        /* inference: nothing is dropped, the mask is all true */
        memset(out[1].data, 1, kn_numel_of(&out[1]));
    }
    return KN_OK;
}

/* ------------------------------------------------------------- transpose */

kn_status kn_ref_transpose(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_shape *s = &in[0].shape;
    const kn_transpose_attrs *a = &node->attrs.transpose;
    int64_t ist[KN_MAX_RANK], st[KN_MAX_RANK], dims[KN_MAX_RANK];
    kn_strides_of(s, ist);
    if (a->nperm != 0 && a->nperm != s->rank)
        return kn_node_error(err, KN_ERR_SHAPE, node, "perm has %d entries for rank %d", a->nperm, s->rank);
    for (int i = 0; i < s->rank; i++) {
        int64_t p = a->nperm ? a->perm[i] : s->rank - 1 - i;
        if (p < 0 || p >= s->rank)
            return kn_node_error(err, KN_ERR_SHAPE, node, "bad perm entry %lld", (long long)p);
        dims[i] = s->dims[p];
        st[i] = ist[p];
    }
    if (kn_numel_of(&out[0]) == 0)
        return KN_OK;
    kn_copy_strided(out[0].data, in[0].data, kn_dtype_size(in[0].dtype), s->rank, dims, st);
    return KN_OK;
}

/* -------------------------------------------------------- concat, split */

kn_status kn_ref_concat(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_shape *os = &out[0].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, os->rank, &axis, err);
    if (st != KN_OK)
        return st;
    size_t es = kn_dtype_size(out[0].dtype);
    int64_t outer = kn_dims_prod(os, 0, (int)axis);
    size_t inner_bytes = (size_t)kn_dims_prod(os, (int)axis + 1, os->rank) * es;
    size_t out_row = (size_t)os->dims[axis] * inner_bytes;
    size_t total = (size_t)outer * out_row;
    char *o = out[0].data;
    KN_PRAGMA(omp parallel for if(total > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t r = 0; r < outer; r++) {
        size_t off = (size_t)r * out_row;
        for (int k = 0; k < node->num_inputs; k++) {
            size_t chunk = (size_t)in[k].shape.dims[axis] * inner_bytes;
            if (chunk) {
                memcpy(o + off, (const char *)in[k].data + (size_t)r * chunk, chunk);
                off += chunk;
            }
        }
    }
    return KN_OK;
}

kn_status kn_ref_split(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_shape *s = &in[0].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    size_t es = kn_dtype_size(in[0].dtype);
    int64_t outer = kn_dims_prod(s, 0, (int)axis);
    size_t inner_bytes = (size_t)kn_dims_prod(s, (int)axis + 1, s->rank) * es;
    size_t in_row = (size_t)s->dims[axis] * inner_bytes;
    int64_t sum = 0;
    for (int k = 0; k < node->num_outputs; k++)
        sum += out[k].shape.dims[axis];
    if (sum != s->dims[axis])
        return kn_node_error(err, KN_ERR_SHAPE, node, "output sizes sum to %lld, axis has %lld", (long long)sum,
                              (long long)s->dims[axis]);
    const char *x = in[0].data;
    KN_PRAGMA(omp parallel for if((size_t)outer * in_row > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t r = 0; r < outer; r++) {
        size_t off = (size_t)r * in_row;
        for (int k = 0; k < node->num_outputs; k++) {
            size_t chunk = (size_t)out[k].shape.dims[axis] * inner_bytes;
            if (chunk && out[k].data)
                memcpy((char *)out[k].data + (size_t)r * chunk, x + off, chunk);
            off += chunk;
        }
    }
    return KN_OK;
}

/* ----------------------------------------------------------------- slice */

kn_status kn_ref_slice(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    int64_t starts[KN_MAX_RANK], ends[KN_MAX_RANK], axes[KN_MAX_RANK], steps[KN_MAX_RANK];
    int ns = 0, ne = 0, na = 0, nst = 0;
    bool has_axes = node->num_inputs > 3 && in[3].data, has_steps = node->num_inputs > 4 && in[4].data;
    kn_status st;
    if ((st = kn_tensor_ints(node, &in[1], "starts", starts, KN_MAX_RANK, &ns, err)) != KN_OK ||
        (st = kn_tensor_ints(node, &in[2], "ends", ends, KN_MAX_RANK, &ne, err)) != KN_OK)
        return st;
    if (has_axes && (st = kn_tensor_ints(node, &in[3], "axes", axes, KN_MAX_RANK, &na, err)) != KN_OK)
        return st;
    if (has_steps && (st = kn_tensor_ints(node, &in[4], "steps", steps, KN_MAX_RANK, &nst, err)) != KN_OK)
        return st;
    if (ne != ns || (has_axes && na != ns) || (has_steps && nst != ns))
        return kn_node_error(err, KN_ERR_SHAPE, node, "starts, ends, axes and steps have different lengths");
    int64_t start[KN_MAX_RANK], step[KN_MAX_RANK];
    kn_shape os;
    const kn_shape *s = &in[0].shape;
    if ((st = kn_slice_resolve(node, s, starts, ends, has_axes ? axes : NULL, has_steps ? steps : NULL, ns, start,
                               step, &os, err)) != KN_OK)
        return st;
    if (!kn_shape_equal(&os, &out[0].shape))
        return kn_node_error(err, KN_ERR_SHAPE, node, "output shape differs from the shape rule's");
    if (kn_numel_of(&out[0]) == 0)
        return KN_OK;
    int64_t ist[KN_MAX_RANK], sst[KN_MAX_RANK], off = 0;
    kn_strides_of(s, ist);
    for (int d = 0; d < s->rank; d++) {
        off += start[d] * ist[d];
        sst[d] = step[d] * ist[d];
    }
    size_t es = kn_dtype_size(in[0].dtype);
    kn_copy_strided(out[0].data, (const char *)in[0].data + off * (int64_t)es, es, s->rank, os.dims, sst);
    return KN_OK;
}

/* SliceGrad: zeros of the forward input's shape, then dy written where Slice read (the reverse of kn_ref_slice). */
kn_status kn_ref_slice_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                            kn_error *err)
{
    (void)scratch;
    int64_t starts[KN_MAX_RANK], ends[KN_MAX_RANK], axes[KN_MAX_RANK], steps[KN_MAX_RANK];
    int ns = 0, ne = 0, na = 0, nst = 0;
    bool has_axes = node->num_inputs > 4 && in[4].data, has_steps = node->num_inputs > 5 && in[5].data;
    kn_status st;
    if ((st = kn_tensor_ints(node, &in[2], "starts", starts, KN_MAX_RANK, &ns, err)) != KN_OK ||
        (st = kn_tensor_ints(node, &in[3], "ends", ends, KN_MAX_RANK, &ne, err)) != KN_OK ||
        (has_axes && (st = kn_tensor_ints(node, &in[4], "axes", axes, KN_MAX_RANK, &na, err)) != KN_OK) ||
        (has_steps && (st = kn_tensor_ints(node, &in[5], "steps", steps, KN_MAX_RANK, &nst, err)) != KN_OK))
        return st;
    if (ne != ns || (has_axes && na != ns) || (has_steps && nst != ns))
        return kn_node_error(err, KN_ERR_SHAPE, node, "starts, ends, axes and steps have different lengths");
    int64_t start[KN_MAX_RANK], step[KN_MAX_RANK];
    kn_shape os;
    const kn_shape *s = &out[0].shape;
    if ((st = kn_slice_resolve(node, s, starts, ends, has_axes ? axes : NULL, has_steps ? steps : NULL, ns, start,
                               step, &os, err)) != KN_OK)
        return st;
    if (!kn_shape_equal(&os, &in[0].shape))
        return kn_node_error(err, KN_ERR_SHAPE, node, "the gradient's shape is not the slice's");
    const size_t n = kn_numel_of(&out[0]), m = kn_numel_of(&in[0]);
    float *dx = out[0].data;
    const float *dy = in[0].data;
    memset(dx, 0, sizeof(float) * n);
    int64_t ist[KN_MAX_RANK], off = 0;
    kn_strides_of(s, ist);
    for (int d = 0; d < s->rank; d++)
        off += start[d] * ist[d];
    for (size_t i = 0; i < m; i++) { /* element i of dy, by its index in the slice */
        int64_t rem = (int64_t)i, o = off;
        for (int d = os.rank - 1; d >= 0; d--) {
            o += rem % os.dims[d] * step[d] * ist[d];
            rem /= os.dims[d];
        }
        dx[o] = dy[i];
    }
    return KN_OK;
}

/* ------------------------------------------------------------------- pad */

/* Map an output coordinate to an input one; -1 where constant padding applies. */
static inline int64_t kn_pad_map(int64_t c, int64_t dim, kn_pad_mode mode)
{
    if (c >= 0 && c < dim)
        return c;
    if (mode == KN_PAD_CONSTANT)
        return -1;
    if (mode == KN_PAD_EDGE)
        return c < 0 ? 0 : dim - 1;
    if (dim == 1)
        return 0;
    int64_t period = 2 * (dim - 1);
    int64_t m = c % period;
    if (m < 0)
        m += period;
    return m < dim ? m : period - m;
}

kn_status kn_ref_pad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_shape *s = &in[0].shape, *os = &out[0].shape;
    int rank = s->rank;
    int64_t pads[2 * KN_MAX_RANK];
    int count = 0;
    kn_status st = kn_tensor_ints(node, &in[1], "pads", pads, 2 * KN_MAX_RANK, &count, err);
    if (st != KN_OK)
        return st;
    if (count != 2 * rank)
        return kn_node_error(err, KN_ERR_SHAPE, node, "pads has %d values for rank %d", count, rank);
    kn_pad_mode mode = node->attrs.pad.mode;
    if (mode != KN_PAD_CONSTANT && mode != KN_PAD_REFLECT && mode != KN_PAD_EDGE)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "pad mode %d is not supported", (int)mode);
    size_t es = kn_dtype_size(in[0].dtype);
    unsigned char fill[16] = {0};
    if (es > sizeof fill)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(in[0].dtype));
    if (node->num_inputs > 2 && in[2].data && kn_numel_of(&in[2]) > 0) {
        if (in[2].dtype != in[0].dtype)
            return kn_node_error(err, KN_ERR_DTYPE, node, "constant_value is %s, data is %s",
                                  kn_dtype_name(in[2].dtype), kn_dtype_name(in[0].dtype));
        memcpy(fill, in[2].data, es);
    }
    for (int d = 0; d < rank; d++) {
        if (os->dims[d] != s->dims[d] + pads[d] + pads[d + rank])
            return kn_node_error(err, KN_ERR_SHAPE, node, "output shape differs from the shape rule's");
        if (mode != KN_PAD_CONSTANT && s->dims[d] == 0 && os->dims[d] > 0)
            return kn_node_error(err, KN_ERR_SHAPE, node, "cannot pad an empty dimension in this mode");
    }
    size_t n = kn_numel_of(&out[0]);
    if (n == 0)
        return KN_OK;
    if (rank == 0) {
        memcpy(out[0].data, in[0].data, es);
        return KN_OK;
    }
    int64_t ist[KN_MAX_RANK];
    kn_strides_of(s, ist);
    int64_t W = os->dims[rank - 1], IW = s->dims[rank - 1], pb = pads[rank - 1];
    int64_t rows = (int64_t)(n / (size_t)W);
    const char *x = in[0].data;
    char *y = out[0].data;
    KN_PRAGMA(omp parallel for if(n * es > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        char *o = y + (size_t)r * (size_t)W * es;
        int64_t off = 0, rem = r;
        bool outside = false;
        for (int d = rank - 2; d >= 0; d--) {
            int64_t c = rem % os->dims[d];
            rem /= os->dims[d];
            int64_t m = kn_pad_map(c - pads[d], s->dims[d], mode);
            if (m < 0)
                outside = true;
            else
                off += m * ist[d];
        }
        if (outside) {
            for (int64_t j = 0; j < W; j++)
                memcpy(o + (size_t)j * es, fill, es);
            continue;
        }
        const char *row = x + off * (int64_t)es;
        if (mode == KN_PAD_CONSTANT) {
            /* [fill | copy | fill] with the copy clipped to the input row */
            int64_t lo = pb > 0 ? (pb < W ? pb : W) : 0, src = pb < 0 ? -pb : 0;
            int64_t len = IW - src;
            if (lo + len > W)
                len = W - lo;
            if (len < 0)
                len = 0;
            for (int64_t j = 0; j < lo; j++)
                memcpy(o + (size_t)j * es, fill, es);
            if (len > 0)
                memcpy(o + (size_t)lo * es, row + (size_t)src * es, (size_t)len * es);
            for (int64_t j = lo + len; j < W; j++)
                memcpy(o + (size_t)j * es, fill, es);
        } else {
            for (int64_t j = 0; j < W; j++)
                memcpy(o + (size_t)j * es, row + (size_t)kn_pad_map(j - pb, IW, mode) * es, es);
        }
    }
    return KN_OK;
}

/* ---------------------------------------------------------------- gather */

kn_status kn_ref_gather(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_shape *s = &in[0].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    if (in[1].dtype != KN_I64 && in[1].dtype != KN_I32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "indices are %s; int64 or int32 expected",
                              kn_dtype_name(in[1].dtype));
    size_t nidx = kn_numel_of(&in[1]);
    int64_t dim = s->dims[axis];
    bool i64 = in[1].dtype == KN_I64;
    for (size_t j = 0; j < nidx; j++) {
        int64_t v = i64 ? ((const int64_t *)in[1].data)[j] : ((const int32_t *)in[1].data)[j];
        if (v < -dim || v >= dim)
            return kn_node_error(err, KN_ERR_INVALID_ARG, node, "index %lld is out of range [%lld, %lld]",
                                  (long long)v, (long long)-dim, (long long)dim - 1);
    }
    if (kn_numel_of(&out[0]) == 0)
        return KN_OK;
    size_t es = kn_dtype_size(in[0].dtype);
    int64_t outer = kn_dims_prod(s, 0, (int)axis);
    size_t inner_bytes = (size_t)kn_dims_prod(s, (int)axis + 1, s->rank) * es;
    const char *x = in[0].data;
    char *y = out[0].data;
    int64_t tasks = outer * (int64_t)nidx;
    KN_PRAGMA(omp parallel for if((size_t)tasks * inner_bytes > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / (int64_t)nidx, j = t % (int64_t)nidx;
        int64_t v = i64 ? ((const int64_t *)in[1].data)[j] : ((const int32_t *)in[1].data)[j];
        if (v < 0)
            v += dim;
        memcpy(y + (size_t)t * inner_bytes, x + ((size_t)o * (size_t)dim + (size_t)v) * inner_bytes, inner_bytes);
    }
    return KN_OK;
}

/* GatherGrad (dy, x, indices) -> dx: zeros of x's shape, dy added where Gather read (repeated indices accumulate,
 * in index order; negative ones count from the end). Parallel over the dimensions before the axis only, whose blocks
 * of dx are disjoint, so the sums are the same on any thread count. */
kn_status kn_ref_gather_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                             kn_error *err)
{
    (void)scratch;
    const kn_shape *s = &in[1].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    if (in[0].dtype != KN_F32 || out[0].dtype != KN_F32 || !kn_shape_equal(&out[0].shape, s))
        return kn_node_error(err, KN_ERR_DTYPE, node, "float32 dy and dx of the data's shape expected");
    if (in[2].dtype != KN_I64 && in[2].dtype != KN_I32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "indices are %s; int64 or int32 expected",
                             kn_dtype_name(in[2].dtype));
    const size_t nidx = kn_numel_of(&in[2]);
    const int64_t dim = s->dims[axis], outer = kn_dims_prod(s, 0, (int)axis),
                  inner = kn_dims_prod(s, (int)axis + 1, s->rank);
    if (kn_numel_of(&in[0]) != (size_t)outer * nidx * (size_t)inner)
        return kn_node_error(err, KN_ERR_SHAPE, node, "dy has %zu elements; Gather's output has %zu",
                             kn_numel_of(&in[0]), (size_t)outer * nidx * (size_t)inner);
    const bool i64 = in[2].dtype == KN_I64;
    for (size_t j = 0; j < nidx; j++) {
        const int64_t v = i64 ? ((const int64_t *)in[2].data)[j] : ((const int32_t *)in[2].data)[j];
        if (v < -dim || v >= dim)
            return kn_node_error(err, KN_ERR_INVALID_ARG, node, "index %lld is out of range [%lld, %lld]",
                                 (long long)v, (long long)-dim, (long long)dim - 1);
    }
    const float *dy = in[0].data;
    float *dx = out[0].data;
    const size_t total = kn_numel_of(&out[0]);
    if (total)
        memset(dx, 0, total * sizeof(float));
    KN_PRAGMA(omp parallel for if((size_t)outer * nidx * (size_t)inner * 4 > KN_PAR_MIN_BYTES) schedule(static))
    for (int64_t o = 0; o < outer; o++)
        for (size_t j = 0; j < nidx; j++) {
            int64_t v = i64 ? ((const int64_t *)in[2].data)[j] : ((const int32_t *)in[2].data)[j];
            v = v < 0 ? v + dim : v;
            const float *d = dy + ((size_t)o * nidx + j) * (size_t)inner;
            float *x = dx + ((size_t)o * (size_t)dim + (size_t)v) * (size_t)inner;
            for (int64_t i = 0; i < inner; i++)
                x[i] += d[i];
        }
    return KN_OK;
}

/* GatherND: per batch (the batch_dims leading dimensions), the slice of data each index tuple picks. */
kn_status kn_ref_gather_nd(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                           kn_error *err)
{
    (void)scratch;
    const kn_shape *s = &in[0].shape, *is = &in[1].shape;
    const int64_t b = node->attrs.gather_nd.batch_dims;
    if (in[1].dtype != KN_I64 || out[0].dtype != in[0].dtype || is->rank < 1 || b < 0 || b >= is->rank ||
        b >= s->rank)
        return kn_node_error(err, KN_ERR_DTYPE, node, "unexpected dtypes, index rank or batch_dims");
    const int64_t k = is->dims[is->rank - 1];
    if (k < 1 || b + k > s->rank)
        return kn_node_error(err, KN_ERR_SHAPE, node, "index depth %lld for data of rank %d with batch_dims %lld",
                             (long long)k, s->rank, (long long)b);
    const size_t es = kn_dtype_size(in[0].dtype);
    const size_t slice = (size_t)kn_dims_prod(s, (int)(b + k), s->rank);
    const size_t batches = (size_t)kn_dims_prod(s, 0, (int)b), per_batch = (size_t)kn_dims_prod(s, (int)b, s->rank);
    const size_t tuples = (size_t)kn_dims_prod(is, (int)b, is->rank - 1);
    if (kn_numel_of(&out[0]) != batches * tuples * slice)
        return kn_node_error(err, KN_ERR_SHAPE, node, "output has %zu elements, %zu expected", kn_numel_of(&out[0]),
                             batches * tuples * slice);
    const int64_t *idx = in[1].data;
    const char *x = in[0].data;
    char *y = out[0].data;
    for (size_t t = 0; t < batches * tuples; t++) {
        size_t off = 0;
        for (int64_t d = 0; d < k; d++) {
            const int64_t v = idx[t * (size_t)k + (size_t)d], dim = s->dims[b + d];
            if (v < -dim || v >= dim)
                return kn_node_error(err, KN_ERR_INVALID_ARG, node, "index %lld is out of range [%lld, %lld]",
                                     (long long)v, (long long)-dim, (long long)dim - 1);
            off = off * (size_t)dim + (size_t)(v < 0 ? v + dim : v);
        }
        memcpy(y + t * slice * es, x + ((t / (tuples ? tuples : 1)) * per_batch + off * slice) * es, slice * es);
    }
    return KN_OK;
}

/* ScatterND: a copy of data, then each update slice written (or added, multiplied) in index order. */
kn_status kn_ref_scatter_nd(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                            kn_error *err)
{
    const kn_shape *s = &in[0].shape, *is = &in[1].shape;
    if (in[1].dtype != KN_I64 || in[2].dtype != in[0].dtype || out[0].dtype != in[0].dtype || is->rank < 1)
        return kn_node_error(err, KN_ERR_DTYPE, node, "unexpected dtypes or index rank");
    const int k = (int)is->dims[is->rank - 1];
    if (k < 1 || k > s->rank)
        return kn_node_error(err, KN_ERR_SHAPE, node, "index depth %d for data of rank %d", k, s->rank);
    const size_t es = kn_dtype_size(in[0].dtype);
    const size_t total = kn_numel_of(&in[0]);
    if (out[0].data != in[0].data && total)
        memcpy(out[0].data, in[0].data, total * es);
    const size_t slice = (size_t)kn_dims_prod(s, k, s->rank);
    const size_t n = kn_numel_of(&in[1]) / (size_t)k;
    const int64_t *idx = in[1].data;
    const kn_scatter_reduction red = node->attrs.scatter.reduction;
    for (size_t j = 0; j < n; j++) {
        size_t off = 0;
        for (int d = 0; d < k; d++) {
            int64_t v = idx[j * (size_t)k + (size_t)d], dim = s->dims[d];
            if (v < -dim || v >= dim)
                return kn_node_error(err, KN_ERR_INVALID_ARG, node, "index %lld is out of range [%lld, %lld]",
                                     (long long)v, (long long)-dim, (long long)dim - 1);
            off = off * (size_t)dim + (size_t)(v < 0 ? v + dim : v);
        }
        off *= slice;
        const char *u = (const char *)in[2].data + j * slice * es;
        char *y = (char *)out[0].data + off * es;
        if (red == KN_SCATTER_NONE) {
            memcpy(y, u, slice * es);
            continue;
        }
        const bool add = red == KN_SCATTER_ADD;
        for (size_t e = 0; e < slice; e++) {
            switch (in[0].dtype) {
            case KN_F32: {
                float *p = (float *)y + e, q = ((const float *)u)[e];
                *p = add ? *p + q : *p * q;
                break;
            }
            case KN_F64: {
                double *p = (double *)y + e, q = ((const double *)u)[e];
                *p = add ? *p + q : *p * q;
                break;
            }
            case KN_I64: {
                int64_t *p = (int64_t *)y + e, q = ((const int64_t *)u)[e];
                *p = (int64_t)(add ? (uint64_t)*p + (uint64_t)q : (uint64_t)*p * (uint64_t)q);
                break;
            }
            case KN_I32: {
                int32_t *p = (int32_t *)y + e, q = ((const int32_t *)u)[e];
                *p = (int32_t)(add ? (uint32_t)*p + (uint32_t)q : (uint32_t)*p * (uint32_t)q);
                break;
            }
            default:
                return kn_node_error(err, KN_ERR_DTYPE, node, "reduction on %s", kn_dtype_name(in[0].dtype));
            }
        }
    }
    return KN_OK;
}

/* ----------------------------------------------------------------- shape */

kn_status kn_ref_shape(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    int64_t rank = in[0].shape.rank;
    int64_t s = node->attrs.shape.start, e = node->attrs.shape.has_end ? node->attrs.shape.end : rank;
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    if (out[0].dtype != KN_I64 || kn_numel_of(&out[0]) != (size_t)(e > s ? e - s : 0))
        return kn_node_error(err, KN_ERR_SHAPE, node, "output must be int64 [%lld]", (long long)(e > s ? e - s : 0));
    for (int64_t i = s; i < e; i++)
        ((int64_t *)out[0].data)[i - s] = in[0].shape.dims[i];
    return KN_OK;
}

/* ------------------------------------------------------------------ cast */

static bool kn_cast_supported(kn_dtype d)
{
    switch (d) {
    case KN_F32: case KN_F64: case KN_I64: case KN_I32: case KN_I8: case KN_U8: case KN_BOOL:
        return true;
    default:
        return false;
    }
}

static inline bool kn_dtype_is_float(kn_dtype d)
{
    return d == KN_F32 || d == KN_F64;
}

static inline double kn_load_f(const void *p, kn_dtype d, size_t i)
{
    return d == KN_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static inline int64_t kn_load_i(const void *p, kn_dtype d, size_t i)
{
    switch (d) {
    case KN_I64: return ((const int64_t *)p)[i];
    case KN_I32: return ((const int32_t *)p)[i];
    case KN_I8: return ((const int8_t *)p)[i];
    case KN_U8: return ((const uint8_t *)p)[i];
    default: return ((const uint8_t *)p)[i] != 0; /* bool */
    }
}

/* Integer store: wraps to the width of `d` like NumPy's astype; bool is "!= 0". */
static inline void kn_store_i(void *p, kn_dtype d, size_t i, int64_t v)
{
    switch (d) {
    case KN_I64: ((int64_t *)p)[i] = v; break;
    case KN_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case KN_I8: ((int8_t *)p)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case KN_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; break;
    case KN_F32: ((float *)p)[i] = (float)v; break;
    case KN_F64: ((double *)p)[i] = (double)v; break;
    default: ((uint8_t *)p)[i] = v != 0; break;
    }
}

/* Float to integer truncates toward zero; NaN gives 0, out-of-range saturates to int64 first. */
static inline int64_t kn_trunc_i64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static inline void kn_store_f(void *p, kn_dtype d, size_t i, double v)
{
    switch (d) {
    case KN_F32: ((float *)p)[i] = (float)v; break;
    case KN_F64: ((double *)p)[i] = v; break;
    case KN_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: kn_store_i(p, d, i, kn_trunc_i64(v)); break;
    }
}

/* Convert n elements from (src, sd) into (dst, dd). */
static void kn_convert(void *dst, kn_dtype dd, const void *src, kn_dtype sd, size_t n)
{
    if (dd == sd) {
        memcpy(dst, src, n * kn_dtype_size(sd));
        return;
    }
    if (kn_dtype_is_float(sd)) {
        KN_PRAGMA(omp parallel for if(n > 32768) schedule(static))
        for (size_t i = 0; i < n; i++)
            kn_store_f(dst, dd, i, kn_load_f(src, sd, i));
    } else {
        KN_PRAGMA(omp parallel for if(n > 32768) schedule(static))
        for (size_t i = 0; i < n; i++)
            kn_store_i(dst, dd, i, kn_load_i(src, sd, i));
    }
}

kn_status kn_ref_cast(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    if (!kn_cast_supported(in[0].dtype) || !kn_cast_supported(out[0].dtype))
        return kn_node_error(err, KN_ERR_DTYPE, node, "cast from %s to %s is not supported",
                              kn_dtype_name(in[0].dtype), kn_dtype_name(out[0].dtype));
    size_t n = kn_numel_of(&in[0]);
    if (n == 0)
        return KN_OK;
    /* element i is read before it is written, so in place is fine when sizes match */
    if (in[0].data == out[0].data && kn_dtype_size(in[0].dtype) != kn_dtype_size(out[0].dtype))
        return kn_node_error(err, KN_ERR_INVALID_ARG, node, "cannot cast in place between %s and %s",
                              kn_dtype_name(in[0].dtype), kn_dtype_name(out[0].dtype));
    kn_convert(out[0].data, out[0].dtype, in[0].data, in[0].dtype, n);
    return KN_OK;
}

kn_status kn_ref_constant_of_shape(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    kn_dtype dt = out[0].dtype;
    if (!kn_cast_supported(dt))
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    size_t n = kn_numel_of(&out[0]), es = kn_dtype_size(dt);
    if (n == 0)
        return KN_OK;
    double v = node->attrs.dtype.value;
    unsigned char one[8];
    kn_store_f(one, dt, 0, v);
    char *y = out[0].data;
    for (size_t i = 0; i < n; i++)
        memcpy(y + i * es, one, es);
    return KN_OK;
}

/* ------------------------------------------------------------ Tile, Range, DepthToSpace */

kn_status kn_ref_tile(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                      kn_error *err)
{
    (void)scratch;
    size_t es = kn_dtype_size(in[0].dtype);
    const kn_shape *xs = &in[0].shape, *ys = &out[0].shape;
    if (es == 0 || out[0].dtype != in[0].dtype || xs->rank != ys->rank)
        return kn_node_error(err, KN_ERR_DTYPE, node, "unexpected dtypes or ranks");
    int64_t xstride[KN_MAX_RANK], acc = 1;
    for (int d = xs->rank - 1; d >= 0; d--) {
        xstride[d] = acc;
        acc *= xs->dims[d];
    }
    size_t n = kn_numel_of(&out[0]);
    const char *x = in[0].data;
    char *y = out[0].data;
    for (size_t o = 0; o < n; o++) {
        int64_t rem = (int64_t)o, off = 0;
        for (int d = ys->rank - 1; d >= 0; d--) {
            off += (rem % ys->dims[d]) % xs->dims[d] * xstride[d];
            rem /= ys->dims[d];
        }
        memcpy(y + o * es, x + (size_t)off * es, es);
    }
    return KN_OK;
}

kn_status kn_ref_range(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                       kn_error *err)
{
    (void)scratch;
    kn_dtype d = in[0].dtype;
    size_t n = kn_numel_of(&out[0]);
    for (int i = 1; i < 3; i++)
        if (in[i].dtype != d)
            return kn_node_error(err, KN_ERR_DTYPE, node, "start, limit and delta must have one dtype");
    switch (d) {
    case KN_F32: {
        float s = *(const float *)in[0].data, dl = *(const float *)in[2].data;
        for (size_t i = 0; i < n; i++) /* as ONNX's reference: start + i * delta */
            ((float *)out[0].data)[i] = s + (float)i * dl;
        return KN_OK;
    }
    case KN_F64: {
        double s = *(const double *)in[0].data, dl = *(const double *)in[2].data;
        for (size_t i = 0; i < n; i++)
            ((double *)out[0].data)[i] = s + (double)i * dl;
        return KN_OK;
    }
    case KN_I32: {
        int64_t s = *(const int32_t *)in[0].data, dl = *(const int32_t *)in[2].data;
        for (size_t i = 0; i < n; i++)
            ((int32_t *)out[0].data)[i] = (int32_t)(s + (int64_t)i * dl);
        return KN_OK;
    }
    case KN_I64: {
        int64_t s = *(const int64_t *)in[0].data, dl = *(const int64_t *)in[2].data;
        for (size_t i = 0; i < n; i++)
            ((int64_t *)out[0].data)[i] = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)dl);
        return KN_OK;
    }
    default:
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(d));
    }
}

/*
 * DepthToSpace and SpaceToDepth as one gather: output element (n, c, h, w) of DepthToSpace reads input channel
 * (DCR) (h % b * b + w % b) * C' + c or (CRD) c * b^2 + h % b * b + w % b at (h / b, w / b); SpaceToDepth is
 * DepthToSpace DCR's inverse.
 */
kn_status kn_ref_depth_space(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                             kn_error *err)
{
    (void)scratch;
    size_t es = kn_dtype_size(in[0].dtype);
    if (es == 0 || out[0].dtype != in[0].dtype || in[0].shape.rank != 4)
        return kn_node_error(err, KN_ERR_DTYPE, node, "unexpected dtype or rank");
    const int64_t b = node->attrs.block.blocksize;
    const bool d2s = node->op == KN_OP_DEPTH_TO_SPACE, crd = node->attrs.block.crd;
    const int64_t *xd = in[0].shape.dims, *yd = out[0].shape.dims;
    /* the space side (large H, W) and the depth side (C * b^2) */
    const int64_t *sd = d2s ? yd : xd, *dd = d2s ? xd : yd;
    const int64_t cs = sd[1], H = sd[2], W = sd[3], Hd = dd[2], Wd = dd[3];
    const char *x = in[0].data;
    char *y = out[0].data;
    size_t n = kn_numel_of(&out[0]);
    for (size_t i = 0; i < n; i++) {
        /* i indexes the output; (nn, c, h, w) its coordinates on the space side */
        int64_t nn, c, h, w, cd, space_off, depth_off;
        if (d2s) {
            w = (int64_t)i % W;
            h = (int64_t)i / W % H;
            c = (int64_t)i / (W * H) % cs;
            nn = (int64_t)i / (W * H * cs);
        } else {
            int64_t r = (int64_t)i;
            int64_t wd = r % Wd, hd = r / Wd % Hd;
            cd = r / (Wd * Hd) % dd[1];
            nn = r / (Wd * Hd * dd[1]);
            /* DCR: depth channel = (bh * b + bw) * C + c; CRD (kiln's SpaceToDepth, inverting CRD
             * DepthToSpace): c * b^2 + bh * b + bw */
            int64_t blk = crd ? cd % (b * b) : cd / cs;
            c = crd ? cd / (b * b) : cd % cs;
            h = hd * b + blk / b;
            w = wd * b + blk % b;
        }
        int64_t bh = h % b, bw = w % b;
        cd = crd ? c * b * b + bh * b + bw : (bh * b + bw) * cs + c;
        space_off = ((nn * cs + c) * H + h) * W + w;
        depth_off = ((nn * dd[1] + cd) * Hd + h / b) * Wd + w / b;
        if (d2s)
            memcpy(y + i * es, x + (size_t)depth_off * es, es);
        else
            memcpy(y + i * es, x + (size_t)space_off * es, es);
    }
    return KN_OK;
}
