/*
 * ref_norm.c - reference BatchNormalization (inference form), LRN,
 * LayerNormalization and InstanceNormalization.
 *
 * BatchNormalization folds scale, bias, mean, var and epsilon into one
 * multiply-add per channel: y = x * a + b with a = scale / sqrt(var + eps),
 * b = bias - mean * a. It is element-wise, so it is safe in place.
 * LRN follows ONNX: square_sum over channels
 * [c - floor((size-1)/2), c + ceil((size-1)/2)], y = x / (bias + alpha/size *
 * square_sum)^beta; the sums go into the output first (no scratch), so LRN
 * never runs in place (the memory planner does not offer it). LRNGrad is
 * its derivative, with one sample's worth of scratch (kn_ref_lrn_grad_bytes).
 */
#include <math.h>
#include <stdlib.h>

#include "ref_nn.h"
#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

kn_status kn_ref_batch_norm(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *x = &in[0];
    kn_tensor *y = &out[0];
    for (int i = 0; i < 5; i++)
        if (in[i].dtype != KN_F32 || !in[i].data)
            return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): input %d must be float32", node->name,
                                KN_OPNAME(node), i);
    if (y->dtype != KN_F32 || x->shape.rank < 2 || !kn_shape_equal(&x->shape, &y->shape))
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected input/output shapes", node->name,
                            KN_OPNAME(node));
    const int64_t N = x->shape.dims[0], C = x->shape.dims[1];
    for (int i = 1; i < 5; i++)
        if (in[i].shape.rank != 1 || in[i].shape.dims[0] != C)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): parameter %d does not have %lld elements",
                                node->name, KN_OPNAME(node), i, (long long)C);
    int64_t size = 1;
    for (int i = 2; i < x->shape.rank; i++)
        size *= x->shape.dims[i];
    const float *xd = x->data, *scale = in[1].data, *bias = in[2].data, *mean = in[3].data, *var = in[4].data;
    float *yd = y->data;
    const float eps = node->attrs.batch_norm.epsilon;
    const int64_t planes = N * C;
    KN_OMP_FOR(planes > 1 && planes * size > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        int64_t c = p % C;
        const float a = scale[c] / sqrtf(var[c] + eps);
        const float b = bias[c] - mean[c] * a;
        const float *xp = xd + p * size;
        float *yp = yd + p * size;
        KN_OMP_SIMD
        for (int64_t i = 0; i < size; i++)
            yp[i] = xp[i] * a + b;
    }
    return KN_OK;
}

kn_status kn_ref_lrn(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *x = &in[0];
    kn_tensor *y = &out[0];
    if (x->dtype != KN_F32 || y->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): only float32 is supported", node->name,
                            KN_OPNAME(node));
    if (x->shape.rank < 2 || !kn_shape_equal(&x->shape, &y->shape))
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected input/output shapes", node->name,
                            KN_OPNAME(node));
    if (x->data == y->data && x->data)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s' (%s): cannot run in place", node->name,
                            KN_OPNAME(node));
    const kn_lrn_attrs *la = &node->attrs.lrn;
    if (la->size < 1)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): size %lld must be positive", node->name,
                            KN_OPNAME(node), (long long)la->size);
    const int64_t N = x->shape.dims[0], C = x->shape.dims[1];
    int64_t size = 1;
    for (int i = 2; i < x->shape.rank; i++)
        size *= x->shape.dims[i];
    const int64_t planes = N * C;
    if (planes == 0 || size == 0)
        return KN_OK;
    const float *xd = x->data;
    float *yd = y->data;
    const int64_t before = (la->size - 1) / 2, after = la->size / 2; /* floor and ceil of (size-1)/2 */
    const float coef = la->alpha / (float)la->size, bias = la->bias, nbeta = -la->beta;
    /* the sums of squares go into y first (y never overlaps x), then y = x * (bias + coef * sum)^-beta */
    KN_OMP_FOR(planes > 1 && (double)planes * (double)size * (double)la->size > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        int64_t n = p / C, c = p % C;
        int64_t lo = c - before < 0 ? 0 : c - before, hi = c + after > C - 1 ? C - 1 : c + after;
        float *s = yd + p * size;
        KN_OMP_SIMD
        for (int64_t i = 0; i < size; i++)
            s[i] = 0.0f;
        for (int64_t j = lo; j <= hi; j++) {
            const float *xj = xd + (n * C + j) * size;
            KN_OMP_SIMD
            for (int64_t i = 0; i < size; i++)
                s[i] += xj[i] * xj[i];
        }
    }
    KN_OMP_FOR(planes * size > KN_PAR_MIN)
    for (int64_t p = 0; p < planes * size; p++)
        yd[p] = xd[p] * powf(bias + coef * yd[p], nbeta);
    return KN_OK;
}

size_t kn_ref_lrn_grad_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out)
{
    (void)out;
    size_t n = 1;
    const kn_shape *xs = &in[1].shape;
    if (node->num_inputs < 2 || xs->rank < 2)
        return 0; /* the kernel reports the problem */
    for (int d = 1; d < xs->rank; d++)
        if (xs->dims[d] < 0 || !kn_size_mul(n, (size_t)xs->dims[d], &n))
            return SIZE_MAX;
    return kn_size_mul(n, sizeof(float), &n) ? kn_ref_scratch_align(n) : SIZE_MAX;
}

/*
 * LRNGrad (dy, x) -> dx. With s_c = bias + alpha/size * (the sum of x_j^2 over c's window) and y_c = x_c s_c^-beta:
 * dx_i = dy_i s_i^-beta - 2 beta alpha/size x_i * (the sum, over the channels c whose window holds i, of
 * dy_c x_c s_c^(-beta-1)). Per sample: dx gets the first term and the scratch t_c = dy_c x_c s_c^(-beta-1), then
 * the windows of t are summed into dx (i is in c's window when i - after <= c <= i + before).
 */
kn_status kn_ref_lrn_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                          kn_error *err)
{
    const kn_tensor *dy = &in[0], *x = &in[1];
    kn_tensor *dx = &out[0];
    if (dy->dtype != KN_F32 || x->dtype != KN_F32 || dx->dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "only float32 is supported");
    if (x->shape.rank < 2 || !kn_shape_equal(&x->shape, &dy->shape) || !kn_shape_equal(&x->shape, &dx->shape))
        return kn_node_error(err, KN_ERR_SHAPE, node, "unexpected input/output shapes");
    if ((dx->data == x->data || dx->data == dy->data) && dx->data)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "cannot run in place");
    const kn_lrn_attrs *la = &node->attrs.lrn;
    if (la->size < 1)
        return kn_node_error(err, KN_ERR_SHAPE, node, "size %lld must be positive", (long long)la->size);
    kn_status st = kn_ref_scratch_check(node, scratch, kn_ref_lrn_grad_bytes(node, in, out), err);
    if (st != KN_OK)
        return st;
    const int64_t N = x->shape.dims[0], C = x->shape.dims[1];
    int64_t size = 1;
    for (int i = 2; i < x->shape.rank; i++)
        size *= x->shape.dims[i];
    if (N * C == 0 || size == 0)
        return KN_OK;
    const int64_t before = (la->size - 1) / 2, after = la->size / 2;
    const float coef = la->alpha / (float)la->size, bias = la->bias, beta = la->beta, k = 2.0f * beta * coef;
    float *t = scratch->data;
    for (int64_t n = 0; n < N; n++) {
        const float *xs = (const float *)x->data + n * C * size, *ds = (const float *)dy->data + n * C * size;
        float *dxs = (float *)dx->data + n * C * size;
        KN_OMP_FOR(C > 1 && C * size * la->size > KN_PAR_MIN)
        for (int64_t c = 0; c < C; c++) {
            const int64_t lo = c - before < 0 ? 0 : c - before, hi = c + after > C - 1 ? C - 1 : c + after;
            float *sc = dxs + c * size, *tc = t + c * size;
            for (int64_t i = 0; i < size; i++)
                sc[i] = 0.0f;
            for (int64_t j = lo; j <= hi; j++)
                for (int64_t i = 0; i < size; i++)
                    sc[i] += xs[j * size + i] * xs[j * size + i];
            for (int64_t i = 0; i < size; i++) {
                const float sv = bias + coef * sc[i], p = powf(sv, -beta);
                tc[i] = ds[c * size + i] * xs[c * size + i] * p / sv;
                sc[i] = ds[c * size + i] * p;
            }
        }
        KN_OMP_FOR(C > 1 && C * size * la->size > KN_PAR_MIN)
        for (int64_t c = 0; c < C; c++) {
            const int64_t lo = c - after < 0 ? 0 : c - after, hi = c + before > C - 1 ? C - 1 : c + before;
            float *dc = dxs + c * size;
            for (int64_t i = 0; i < size; i++) {
                float r = 0.0f;
                for (int64_t j = lo; j <= hi; j++)
                    r += t[j * size + i];
                dc[i] -= k * xs[c * size + i] * r;
            }
        }
    }
    return KN_OK;
}

/*
 * Normalise `rows` rows of `len` elements (row r at x + r * len): y = (x - mean) / sqrt(var + eps) * scale + bias
 * with scale/bias indexed by the element's position in its row (pos_scale) or by the row (row_scale: instance
 * norm's channel, row % channels); mean and inverse std per row when the pointers are given. Accumulates in double.
 */
static void kn_norm_rows(const float *x, float *y, int64_t rows, int64_t len, float eps, const float *scale,
                         const float *bias, bool row_scale, int64_t channels, float *mean_out, float *rstd_out)
{
    KN_OMP_FOR(rows * len > KN_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        float *yr = y + r * len;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < len; i++)
            sum += xr[i];
        double mean = len ? sum / (double)len : 0.0;
        for (int64_t i = 0; i < len; i++) {
            double d = xr[i] - mean;
            sq += d * d;
        }
        double rstd = 1.0 / sqrt((len ? sq / (double)len : 0.0) + (double)eps);
        if (mean_out)
            mean_out[r] = (float)mean;
        if (rstd_out)
            rstd_out[r] = (float)rstd;
        if (row_scale) {
            int64_t c = r % channels;
            double a = rstd * scale[c], b = (bias ? bias[c] : 0.0) - mean * a;
            for (int64_t i = 0; i < len; i++)
                yr[i] = (float)(xr[i] * a + b);
        } else {
            for (int64_t i = 0; i < len; i++)
                yr[i] = (float)((xr[i] - mean) * rstd * scale[i] + (bias ? bias[i] : 0.0f));
        }
    }
}

kn_status kn_ref_layer_norm(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                            kn_error *err)
{
    (void)scratch;
    int axis;
    int64_t outer, inner;
    kn_status st = kn_layer_norm_split(node, &in[0].shape, &axis, &outer, &inner, err);
    if (st != KN_OK)
        return st;
    bool has_b = node->num_inputs > 2 && in[2].data;
    if (in[0].dtype != KN_F32 || in[1].dtype != KN_F32 || kn_numel_of(&in[1]) != (size_t)inner ||
        (has_b && (in[2].dtype != KN_F32 || kn_numel_of(&in[2]) != (size_t)inner)))
        return kn_node_error(err, KN_ERR_SHAPE, node, "Scale and B must be float32 of the normalised dimensions");
    float *mean = node->num_outputs > 1 && out[1].data ? out[1].data : NULL;
    float *rstd = node->num_outputs > 2 && out[2].data ? out[2].data : NULL;
    kn_norm_rows(in[0].data, out[0].data, outer, inner, node->attrs.layer_norm.epsilon, in[1].data,
                 has_b ? in[2].data : NULL, false, 1, mean, rstd);
    return KN_OK;
}

kn_status kn_ref_instance_norm(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                               const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_shape *s = &in[0].shape;
    for (int i = 0; i < 3; i++)
        if (in[i].dtype != KN_F32 || !in[i].data)
            return kn_node_error(err, KN_ERR_DTYPE, node, "input %d must be float32", i);
    if (s->rank < 3 || kn_numel_of(&in[1]) != (size_t)s->dims[1] || kn_numel_of(&in[2]) != (size_t)s->dims[1])
        return kn_node_error(err, KN_ERR_SHAPE, node, "scale and B must have one value per channel");
    int64_t spatial = 1;
    for (int d = 2; d < s->rank; d++)
        spatial *= s->dims[d];
    kn_norm_rows(in[0].data, out[0].data, s->dims[0] * s->dims[1], spatial, node->attrs.batch_norm.epsilon,
                 in[1].data, in[2].data, true, s->dims[1] ? s->dims[1] : 1, NULL, NULL);
    return KN_OK;
}
