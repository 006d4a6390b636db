/*
 * ref_resize.c - reference kernel of Resize (nearest, linear, cubic; every
 * coordinate transformation mode of ONNX opset 11-13), following the ONNX
 * reference implementation: each dimension independently maps an output
 * coordinate to an input coordinate x, takes its neighbours (1 for
 * nearest, 2 for linear, 4 for cubic; indices clamped to the edge) with
 * their weights, and the output is the sum over every combination of
 * neighbours of the product of weights times the input element. Weights
 * that are zero are dropped, so a dimension that is not resized costs one
 * tap.
 */
#include <math.h>
#include <string.h>

#include "ref.h"
#include "ref_nn.h"
#include "shape.h"

/* The neighbours of one output coordinate along one dimension. */
typedef struct kn_taps {
    int n;
    int64_t idx[4];
    double w[4];
    bool outside;      /* tf_crop_and_resize: outside the input (the extrapolation value) */
} kn_taps;

static void kn_cubic_coeffs(double r, double A, double *c)
{
    double s = 1.0 - r;
    c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
    c[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
}

static inline int64_t kn_clamp_idx(int64_t i, int64_t len)
{
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

static void kn_resize_taps(const kn_resize_attrs *a, int64_t xo, int64_t in_len, double scale, const float *roi,
                           kn_taps *t)
{
    /* the output length as the ONNX reference computes it: scale * input length (a float) */
    double out_w = scale * (double)in_len, x;
    switch (a->coord) {
    case KN_COORD_ALIGN_CORNERS: x = out_w == 1.0 ? 0.0 : (double)xo * (double)(in_len - 1) / (out_w - 1.0); break;
    case KN_COORD_ASYMMETRIC: x = (double)xo / scale; break;
    case KN_COORD_PYTORCH_HALF_PIXEL: x = out_w == 1.0 ? -0.5 : ((double)xo + 0.5) / scale - 0.5; break;
    case KN_COORD_TF_HALF_PIXEL_FOR_NN: x = ((double)xo + 0.5) / scale; break;
    case KN_COORD_TF_CROP_AND_RESIZE:
        x = out_w == 1.0 ? (double)(roi[1] - roi[0]) * (double)(in_len - 1) / 2.0
                         : (double)xo * (double)(roi[1] - roi[0]) * (double)(in_len - 1) / (out_w - 1.0);
        x += (double)roi[0] * (double)(in_len - 1);
        break;
    default: x = ((double)xo + 0.5) / scale - 0.5; break; /* half_pixel */
    }
    t->outside = a->coord == KN_COORD_TF_CROP_AND_RESIZE && (x < 0.0 || x > (double)(in_len - 1));
    double f = floor(x), r = x - f;
    int64_t i0 = (int64_t)f;
    t->n = 0;
    if (a->mode == KN_RESIZE_NEAREST) {
        bool up;
        switch (a->nearest) {
        case KN_NEAREST_ROUND_PREFER_CEIL: up = r >= 0.5; break;
        case KN_NEAREST_FLOOR: up = false; break;
        case KN_NEAREST_CEIL: up = r > 0.0; break;
        default: up = r > 0.5; break;
        }
        t->idx[0] = kn_clamp_idx(up ? i0 + 1 : i0, in_len);
        t->w[0] = 1.0;
        t->n = 1;
        return;
    }
    double c[4];
    int k = a->mode == KN_RESIZE_LINEAR ? 2 : 4;
    int64_t first = a->mode == KN_RESIZE_LINEAR ? i0 : i0 - 1;
    if (a->mode == KN_RESIZE_LINEAR) {
        c[0] = 1.0 - r;
        c[1] = r;
    } else {
        kn_cubic_coeffs(r, a->cubic_a, c);
    }
    if (a->exclude_outside) {
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
            if (first + j < 0 || first + j >= in_len)
                c[j] = 0.0;
            sum += c[j];
        }
        for (int j = 0; j < k && sum != 0.0; j++)
            c[j] /= sum;
    }
    for (int j = 0; j < k; j++) {
        if (c[j] == 0.0)
            continue;
        t->idx[t->n] = kn_clamp_idx(first + j, in_len);
        t->w[t->n++] = c[j];
    }
    if (t->n == 0) { /* every weight zero: the value is 0 times the nearest element */
        t->idx[0] = kn_clamp_idx(i0, in_len);
        t->w[0] = 0.0;
        t->n = 1;
    }
}

/* What a Resize node resolves to once its inputs are known: the per-dimension scale, the output shape, the roi
 * (tf_crop_and_resize) and the input's strides. Shared by the forward kernel and its adjoint (ResizeGrad), which
 * read the same inputs (ResizeGrad's shifted by one: dy first). */
typedef struct kn_resize_plan {
    const kn_resize_attrs *a;
    const kn_shape *xs;
    kn_shape os;
    double scale[KN_MAX_RANK];
    float roi[2 * KN_MAX_RANK];
    int64_t stride[KN_MAX_RANK];
} kn_resize_plan;

/* Resolve the plan of `node` whose input X is in[0] and roi, scales, sizes in[1..3] (absent: num_inputs). */
static kn_status kn_resize_plan_make(const kn_node *node, const kn_tensor *in, int num_inputs, kn_resize_plan *p,
                                     kn_error *err)
{
    const kn_shape *xs = &in[0].shape;
    int rank = xs->rank;
    float scales[KN_MAX_RANK];
    int64_t sizes[KN_MAX_RANK];
    int ns = 0, nz = 0;
    if (num_inputs > 2 && in[2].data) {
        size_t c = kn_numel_of(&in[2]);
        if (in[2].dtype != KN_F32 || c > KN_MAX_RANK)
            return kn_node_error(err, KN_ERR_SHAPE, node, "scales must be at most %d float32 values", KN_MAX_RANK);
        for (size_t i = 0; i < c; i++)
            scales[i] = ((const float *)in[2].data)[i];
        ns = (int)c;
    }
    if (num_inputs > 3 && in[3].data) {
        size_t c = kn_numel_of(&in[3]);
        if (in[3].dtype != KN_I64 || c > KN_MAX_RANK)
            return kn_node_error(err, KN_ERR_SHAPE, node, "sizes must be at most %d int64 values", KN_MAX_RANK);
        for (size_t i = 0; i < c; i++)
            sizes[i] = ((const int64_t *)in[3].data)[i];
        nz = (int)c;
    }
    p->a = &node->attrs.resize;
    p->xs = xs;
    memset(p->roi, 0, sizeof p->roi);
    if (p->a->coord == KN_COORD_TF_CROP_AND_RESIZE) {
        if (num_inputs < 2 || !in[1].data || in[1].dtype != KN_F32 || kn_numel_of(&in[1]) != (size_t)(2 * rank))
            return kn_node_error(err, KN_ERR_SHAPE, node, "tf_crop_and_resize needs %d float32 roi values", 2 * rank);
        for (int i = 0; i < 2 * rank; i++)
            p->roi[i] = ((const float *)in[1].data)[i];
    }
    kn_status st = kn_resize_resolve(node, xs, scales, ns, sizes, nz, p->scale, &p->os, err);
    if (st != KN_OK)
        return st;
    int64_t acc = 1;
    for (int d = rank - 1; d >= 0; d--) {
        p->stride[d] = acc;
        acc *= xs->dims[d];
    }
    return KN_OK;
}

/* The taps of output element o along every dimension; false when it lies outside the roi (tf_crop_and_resize). */
static bool kn_resize_point(const kn_resize_plan *p, size_t o, kn_taps *t)
{
    const int rank = p->xs->rank;
    int64_t rem = (int64_t)o;
    bool outside = false;
    for (int d = rank - 1; d >= 0; d--) {
        int64_t c = rem % p->os.dims[d];
        rem /= p->os.dims[d];
        const float r2[2] = {p->roi[d], p->roi[d + rank]};
        kn_resize_taps(p->a, c, p->xs->dims[d], p->scale[d], r2, &t[d]);
        outside = outside || t[d].outside;
    }
    return !outside;
}

/* One combination of taps (one per dimension, j[d] < t[d].n): its weight and input offset; then j advances (a
 * mixed-radix counter). Returns false after the last combination. */
static bool kn_resize_combo(const kn_taps *t, const int64_t *stride, int rank, int *j, double *w, int64_t *off)
{
    *w = 1.0;
    *off = 0;
    for (int d = 0; d < rank; d++) {
        *w *= t[d].w[j[d]];
        *off += t[d].idx[j[d]] * stride[d];
    }
    int d = rank - 1;
    while (d >= 0 && ++j[d] == t[d].n)
        j[d--] = 0;
    return d >= 0;
}

kn_status kn_ref_resize(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                        kn_error *err)
{
    (void)scratch;
    if (in[0].dtype != KN_F32 || out[0].dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported (float32 only)",
                             kn_dtype_name(in[0].dtype));
    kn_resize_plan p;
    kn_status st = kn_resize_plan_make(node, in, node->num_inputs, &p, err);
    if (st != KN_OK)
        return st;
    const int rank = p.xs->rank;
    const float *x = in[0].data;
    float *y = out[0].data;
    size_t nout = kn_numel_of(&out[0]);
    KN_OMP_FOR(nout > KN_PAR_MIN / 4)
    for (size_t o = 0; o < nout; o++) {
        kn_taps t[KN_MAX_RANK];
        if (!kn_resize_point(&p, o, t)) {
            y[o] = p.a->extrapolation;
            continue;
        }
        int j[KN_MAX_RANK] = {0};
        double sum = 0.0, w;
        int64_t off;
        bool more;
        do {
            more = kn_resize_combo(t, p.stride, rank, j, &w, &off);
            sum += w * (double)x[off];
        } while (more);
        y[o] = (float)sum;
    }
    return KN_OK;
}

/*
 * ResizeGrad: dy, X, roi, scales, sizes -> dX, the adjoint of Resize: every output element's gradient goes back
 * to the input elements its taps read, times their weights (a scatter-add over the very taps the forward
 * gathers). Elements outside the roi (tf_crop_and_resize's extrapolation value) send nothing back. Serial: taps
 * of different outputs share inputs.
 */
kn_status kn_ref_resize_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                             kn_error *err)
{
    (void)scratch;
    if (in[0].dtype != KN_F32 || in[1].dtype != KN_F32 || out[0].dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "float32 only");
    kn_resize_plan p;
    kn_status st = kn_resize_plan_make(node, in + 1, node->num_inputs - 1, &p, err);
    if (st != KN_OK)
        return st;
    if (!kn_shape_equal(&p.os, &in[0].shape))
        return kn_node_error(err, KN_ERR_SHAPE, node, "the output gradient does not have the forward output's shape");
    const int rank = p.xs->rank;
    const size_t nin = kn_numel_of(&out[0]), nout = kn_numel_of(&in[0]);
    const float *dy = in[0].data;
    float *dx = out[0].data;
    memset(dx, 0, nin * sizeof *dx);
    for (size_t o = 0; o < nout; o++) {
        kn_taps t[KN_MAX_RANK];
        if (!kn_resize_point(&p, o, t))
            continue;
        int j[KN_MAX_RANK] = {0};
        double w;
        int64_t off;
        bool more;
        do {
            more = kn_resize_combo(t, p.stride, rank, j, &w, &off);
            dx[off] += (float)(w * (double)dy[o]);
        } while (more);
    }
    return KN_OK;
}
