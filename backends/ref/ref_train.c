/*
 * ref_train.c - reference kernels of the training ops (ir/ops.def, the
 * training section): BatchNormalization and Dropout in training mode and
 * their gradients, the other explicit gradient ops (activations, softmax,
 * pools, SumTo), losses and their gradient, optimizer updates.
 *
 * Determinism: a training run on the reference backend is bitwise the same
 * for any thread count, so every reduction here has a fixed order that does
 * not depend on how the work is split: threads take whole output elements
 * (a channel, a row, an element of SumTo's result), each summed in index
 * order in double precision; scalar results (losses) are summed on one
 * thread. Dropout's mask is a function of (seed, step, element index), not
 * of a generator's state, so it too is the same however the work is split.
 */
#include <math.h>
#include <string.h>

#include "ref_nn.h"
#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

/* Elements of t. */
static size_t kn_tn(const kn_tensor *t)
{
    return kn_numel_of(t);
}

/* Outer count, channels and inner size of an N x C x ... tensor. */
static void kn_train_nci(const kn_shape *s, int64_t *n, int64_t *c, int64_t *inner)
{
    *n = s->dims[0];
    *c = s->rank > 1 ? s->dims[1] : 1;
    *inner = kn_dims_prod(s, 2, s->rank);
}

/* ------------------------------------------------------------ BatchNormalization */

kn_status kn_ref_batch_norm_train(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                  const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    (void)err;
    int64_t N, C, HW;
    kn_train_nci(&in[0].shape, &N, &C, &HW);
    const float *x = in[0].data, *scale = in[1].data, *bias = in[2].data;
    float *rmean = in[3].data, *rvar = in[4].data; /* updated in place (a side-effect op) */
    float *y = out[0].data, *mean = out[1].data, *invstd = out[2].data;
    const double eps = node->attrs.batch_norm.epsilon, mom = node->attrs.batch_norm.momentum;
    const double count = (double)(N * HW);
    const double *global = NULL; /* synchronised statistics: mean [C], variance [C] over every rank's shard */
    if (node->attrs.batch_norm.sync) {
        kn_status st = kn_ref_bn_sync_stats(node, &in[0], scratch, &global, err);
        if (st != KN_OK)
            return st;
    }
    KN_OMP_FOR(N * HW * C > KN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        double s = 0.0, q = 0.0;
        for (int64_t n = 0; !global && n < N; n++) {
            const float *p = x + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                s += p[i];
        }
        const double m = global ? global[c] : count > 0 ? s / count : 0.0;
        for (int64_t n = 0; !global && n < N; n++) {
            const float *p = x + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                q += ((double)p[i] - m) * ((double)p[i] - m);
        }
        /* biased, as Keras normalises and tracks */
        const double var = global ? global[C + c] : count > 0 ? q / count : 0.0;
        const double is = 1.0 / sqrt(var + eps);
        mean[c] = (float)m;
        invstd[c] = (float)is;
        const float k = (float)(is * scale[c]), b = (float)(bias[c] - m * is * scale[c]);
        for (int64_t n = 0; n < N; n++) {
            const float *p = x + (n * C + c) * HW;
            float *q2 = y + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                q2[i] = p[i] * k + b;
        }
        rmean[c] = (float)(mom * rmean[c] + (1.0 - mom) * m);
        rvar[c] = (float)(mom * rvar[c] + (1.0 - mom) * var);
    }
    return KN_OK;
}

kn_status kn_ref_batch_norm_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                 const kn_ref_scratch *scratch, kn_error *err)
{
    int64_t N, C, HW;
    kn_train_nci(&in[1].shape, &N, &C, &HW);
    const float *dy = in[0].data, *x = in[1].data, *scale = in[2].data, *mean = in[3].data, *invstd = in[4].data;
    float *dx = out[0].data, *dscale = out[1].data, *dbias = out[2].data;
    const double count = (double)(N * HW);
    /* synchronised statistics: sum dy [C] and sum dy xhat [C] of the global batch, in this rank's loss's scale */
    const double *global = NULL;
    if (node->attrs.batch_norm.sync && dx) {
        kn_status st = kn_ref_bn_sync_grad(node, in, scratch, &global, err);
        if (st != KN_OK)
            return st;
    }
    KN_OMP_FOR(N * HW * C > KN_PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const double m = mean[c], is = invstd[c];
        double sb = 0.0, ss = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *g = dy + (n * C + c) * HW, *p = x + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++) {
                sb += g[i];
                ss += g[i] * (((double)p[i] - m) * is);
            }
        }
        if (dscale)
            dscale[c] = (float)ss;
        if (dbias)
            dbias[c] = (float)sb;
        if (!dx)
            continue;
        /* dx = scale * invstd / M * (M dy - sum dy - xhat sum(dy xhat)) */
        const double k = scale[c] * is / (count > 0 ? count : 1.0);
        if (global) {
            sb = global[c];
            ss = global[C + c];
        }
        for (int64_t n = 0; n < N; n++) {
            const float *g = dy + (n * C + c) * HW, *p = x + (n * C + c) * HW;
            float *d = dx + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                d[i] = (float)(k * (count * g[i] - sb - ((double)p[i] - m) * is * ss));
        }
    }
    return KN_OK;
}

/* ------------------------------------------------------------ Dropout */

/* The keep decision of element i at step t: a uniform draw in [0, 1) from splitmix64 of (seed, t, i). */
/*
 * Dropout's mask: element i of step t is kept when the top 24 bits of splitmix64(seed ^ t * C1 ^ i * C2), as a
 * fraction of 2^24, are at least the ratio; compared as integers (q >= ceil(ratio * 2^24), exact, the same mask
 * as the float comparison), so that the loop vectorizes where the CPU multiplies 64-bit lanes (AVX-512).
 */
static inline bool kn_dropout_keep_q(uint64_t seed, uint64_t t, uint64_t i, uint64_t threshold)
{
    uint64_t s = seed ^ (t * 0x9e3779b97f4a7c15ull) ^ (i * 0xd1b54a32d192ed03ull);
    return (kn_splitmix64(&s) >> 40) >= threshold;
}

/* AVX-512 (64-bit lane multiplies), AVX2 and baseline versions, picked at load time (see KN_SIMD_CLONES) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define KN_WIDE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KN_WIDE_CLONES
#endif

/* For i in [lo, hi): y[i] = x[i] * k and mask[i] = 1 where element first + i (of the global batch) is kept, else
 * 0 and 0. */
static KN_WIDE_CLONES void kn_dropout_range(const float *x, float *y, unsigned char *mask, size_t lo, size_t hi,
                                            size_t first, uint64_t seed, uint64_t t, uint64_t threshold, float k)
{
    for (size_t i = lo; i < hi; i++) {
        const bool keep = kn_dropout_keep_q(seed, t, first + i, threshold);
        mask[i] = keep;
        y[i] = keep ? x[i] * k : 0.0f;
    }
}

kn_status kn_ref_dropout_train(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                               const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    (void)err;
    const size_t n = kn_tn(&in[0]);
    const float *x = in[0].data;
    const uint64_t t = (uint64_t)*(const int64_t *)in[1].data, seed = node->attrs.dropout.seed;
    /* a shard of a global batch (input 2, the index of its first sample): element numbers of the global batch */
    const size_t first = node->num_inputs > 2 && in[2].data && in[0].shape.dims[0] > 0
                             ? (size_t)*(const int64_t *)in[2].data * (n / (size_t)in[0].shape.dims[0])
                             : 0;
    const float ratio = node->attrs.dropout.ratio, k = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    /* ratio <= 0 keeps everything (threshold 0); ratio >= 1 drops everything (2^24: above every q) */
    const uint64_t threshold =
        ratio <= 0.0f ? 0 : ratio >= 1.0f ? (1ull << 24) : (uint64_t)ceil((double)ratio * 16777216.0);
    float *y = out[0].data;
    unsigned char *mask = out[1].data;
    enum { CHUNK = 16384 };
    const size_t chunks = (n + CHUNK - 1) / CHUNK;
    KN_OMP_FOR(n > KN_PAR_MIN)
    for (size_t c = 0; c < chunks; c++)
        kn_dropout_range(x, y, mask, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n, first, seed, t,
                         threshold, k);
    return KN_OK;
}

/* For i in [lo, hi): dx[i] = dy[i] * k where mask[i], else 0, vectorised (the scalar loop's branch on a random
 * mask mispredicts: 1.6 ms for mnist_cnn's 64x9216 at batch 64, one thread). */
static KN_SIMD_CLONES void kn_dropout_grad_range(const float *dy, const unsigned char *mask, float *dx, size_t lo,
                                                 size_t hi, float k)
{
    KN_OMP_SIMD
    for (size_t i = lo; i < hi; i++) {
        /* dy * k with its bits cleared where the mask is 0 (0.0f, whatever dy holds): GCC keeps a ?: here scalar */
        const float v = dy[i] * k;
        uint32_t b;
        memcpy(&b, &v, sizeof b);
        b &= 0u - (uint32_t)(mask[i] != 0);
        memcpy(&dx[i], &b, sizeof b);
    }
}

kn_status kn_ref_dropout_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                              const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    (void)err;
    const size_t n = kn_tn(&in[0]);
    const float *dy = in[0].data;
    const unsigned char *mask = in[1].data;
    const float ratio = node->attrs.dropout.ratio, k = ratio < 1.0f ? 1.0f / (1.0f - ratio) : 0.0f;
    float *dx = out[0].data;
    enum { CHUNK = 16384 };
    const size_t chunks = (n + CHUNK - 1) / CHUNK;
    KN_OMP_FOR(n > KN_PAR_MIN)
    for (size_t c = 0; c < chunks; c++)
        kn_dropout_grad_range(dy, mask, dx, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n, k);
    return KN_OK;
}

/* ------------------------------------------------------------ activations, softmax */

kn_status kn_ref_activation_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                 const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_act_grad_attrs *a = &node->attrs.act_grad;
    const size_t n = kn_tn(&in[0]);
    const float *dy = in[0].data, *t = in[1].data; /* t: the activation's output (use_dst) or input */
    float *dx = out[0].data;
    const float alpha = a->p.alpha, beta = a->p.beta, lo = a->p.min, hi = a->p.max;
    switch (a->act) {
    case KN_OP_RELU:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] > 0.0f ? dy[i] : 0.0f;
        return KN_OK;
    case KN_OP_LEAKY_RELU:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] > 0.0f ? dy[i] : alpha * dy[i];
        return KN_OK;
    case KN_OP_SIGMOID:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * t[i] * (1.0f - t[i]);
        return KN_OK;
    case KN_OP_TANH:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (1.0f - t[i] * t[i]);
        return KN_OK;
    case KN_OP_CLIP: /* the gradient passes where the input lies within the bounds (inclusive, as PyTorch) */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] >= lo && t[i] <= hi ? dy[i] : 0.0f;
        return KN_OK;
    case KN_OP_HARD_SIGMOID:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float v = alpha * t[i] + beta;
            dx[i] = v > 0.0f && v < 1.0f ? alpha * dy[i] : 0.0f;
        }
        return KN_OK;
    case KN_OP_HARD_SWISH: /* x relu6(x + 3) / 6 */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] < -3.0f ? 0.0f : t[i] > 3.0f ? dy[i] : dy[i] * (2.0f * t[i] + 3.0f) / 6.0f;
        return KN_OK;
    case KN_OP_SWISH:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float s = 1.0f / (1.0f + expf(-t[i]));
            dx[i] = dy[i] * (s + t[i] * s * (1.0f - s));
        }
        return KN_OK;
    case KN_OP_GELU: /* Phi(x) + x phi(x) */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float v = t[i];
            dx[i] = dy[i] * (0.5f * (1.0f + erff(v * 0.70710678118654752f)) +
                             v * 0.39894228040143268f * expf(-0.5f * v * v));
        }
        return KN_OK;
    case KN_OP_MISH: /* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float v = t[i], sp = (v > 0.0f ? v : 0.0f) + log1pf(expf(-fabsf(v))), th = tanhf(sp);
            dx[i] = dy[i] * (th + v * (1.0f - th * th) / (1.0f + expf(-v)));
        }
        return KN_OK;
    case KN_OP_ELU:
        if (a->use_dst) { /* alpha >= 0: y > 0 exactly where x > 0, and y + alpha = alpha e^x */
            KN_OMP_FOR(n > KN_PAR_MIN)
            for (size_t i = 0; i < n; i++)
                dx[i] = t[i] > 0.0f ? dy[i] : dy[i] * (t[i] + alpha);
        } else {
            KN_OMP_FOR(n > KN_PAR_MIN)
            for (size_t i = 0; i < n; i++)
                dx[i] = t[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(t[i]);
        }
        return KN_OK;
    case KN_OP_SQRT:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] / (2.0f * t[i]);
        return KN_OK;
    case KN_OP_EXP:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * t[i];
        return KN_OK;
    case KN_OP_ERF:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * 1.1283791670955126f * expf(-t[i] * t[i]);
        return KN_OK;
    case KN_OP_ABS: /* sign(x); 0 at 0, as PyTorch */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] > 0.0f ? dy[i] : t[i] < 0.0f ? -dy[i] : 0.0f;
        return KN_OK;
    case KN_OP_NEG:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = -dy[i];
        return KN_OK;
    case KN_OP_RECIPROCAL: /* t = y = 1/x: -1/x^2 = -y^2 */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = -dy[i] * t[i] * t[i];
        return KN_OK;
    case KN_OP_LOG:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] / t[i];
        return KN_OK;
    case KN_OP_SIN:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * cosf(t[i]);
        return KN_OK;
    case KN_OP_COS:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = -dy[i] * sinf(t[i]);
        return KN_OK;
    case KN_OP_SOFTPLUS: /* sigmoid(x) */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] / (1.0f + expf(-t[i]));
        return KN_OK;
    case KN_OP_SOFTSIGN: /* 1 / (1 + |x|)^2 */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float d = 1.0f + fabsf(t[i]);
            dx[i] = dy[i] / (d * d);
        }
        return KN_OK;
    case KN_OP_SELU: /* gamma (kept in beta) for x > 0, else gamma alpha e^x */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * beta * (t[i] > 0.0f ? 1.0f : alpha * expf(t[i]));
        return KN_OK;
    case KN_OP_CELU: /* 1 for x > 0, else e^(x / alpha) */
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] > 0.0f ? dy[i] : dy[i] * expf(t[i] / alpha);
        return KN_OK;
    case KN_OP_THRESHOLDED_RELU:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            dx[i] = t[i] > alpha ? dy[i] : 0.0f;
        return KN_OK;
    default:
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "no gradient kernel for %s",
                             a->act < KN_OP_COUNT ? kn_op_get(a->act)->name : "?");
    }
}

/* Outer, axis and inner extents of a softmax over `axis` (legacy_2d: the ONNX opset < 13 coercion). */
static kn_status kn_softmax_extents(const kn_node *node, const kn_shape *s, int64_t *outer, int64_t *len,
                                    int64_t *inner, kn_error *err)
{
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    *outer = kn_dims_prod(s, 0, (int)axis);
    if (node->attrs.axis.legacy_2d) {
        *len = kn_dims_prod(s, (int)axis, s->rank);
        *inner = 1;
    } else {
        *len = s->dims[axis];
        *inner = kn_dims_prod(s, (int)axis + 1, s->rank);
    }
    return KN_OK;
}

kn_status kn_ref_softmax_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                              const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    int64_t outer, len, inner;
    kn_status st = kn_softmax_extents(node, &in[1].shape, &outer, &len, &inner, err);
    if (st != KN_OK)
        return st;
    const float *dy = in[0].data, *y = in[1].data;
    float *dx = out[0].data;
    const bool log = node->op == KN_OP_LOG_SOFTMAX_GRAD;
    KN_OMP_FOR(outer * len * inner > KN_PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * len * inner + j;
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) /* softmax: sum dy y; log-softmax: sum dy */
                s += log ? dy[base + k * inner] : (double)dy[base + k * inner] * y[base + k * inner];
            for (int64_t k = 0; k < len; k++) {
                const int64_t i = base + k * inner;
                dx[i] = log ? (float)(dy[i] - exp((double)y[i]) * s) : (float)(y[i] * (dy[i] - s));
            }
        }
    return KN_OK;
}

/* ------------------------------------------------------------ pools */

/* A pool window on 3 axes (leading ones of size 1), as kn_window_resolve gives it. */
typedef struct kn_pool_win {
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
} kn_pool_win;

static kn_status kn_pool_win_of(const kn_node *node, const kn_shape *xs, const kn_shape *ys, kn_pool_win *w,
                                kn_error *err)
{
    const int ns = xs->rank - 2;
    if (ns < 1 || ns > 3 || ys->rank != xs->rank)
        return kn_node_error(err, KN_ERR_SHAPE, node, "pool gradient of rank %d", xs->rank);
    kn_window_attrs a = node->attrs.window;
    a.nspatial = ns;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    kn_status st = kn_window_resolve(node, &a, xs->dims + 2, a.kernel, false, pb, pe, o, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < 3; i++) {
        const int j = i - (3 - ns);
        w->in[i] = j >= 0 ? xs->dims[2 + j] : 1;
        w->out[i] = j >= 0 ? ys->dims[2 + j] : 1;
        w->k[i] = j >= 0 ? a.kernel[j] : 1;
        w->s[i] = j >= 0 && a.stride[j] ? a.stride[j] : 1;
        w->d[i] = j >= 0 && a.dilation[j] ? a.dilation[j] : 1;
        w->pb[i] = j >= 0 ? pb[j] : 0;
        w->pe[i] = j >= 0 ? pe[j] : 0;
        if (j >= 0 && o[j] != ys->dims[2 + j])
            return kn_node_error(err, KN_ERR_SHAPE, node, "gradient shape differs from the pool's output");
    }
    return KN_OK;
}

/* Taps of window start b along axis a that AveragePool counts: inside the input, or (include_pad) inside the
 * padded input [-pb, in + pe), as the forward kernel counts them. */
static int64_t kn_pool_taps(const kn_pool_win *w, int a, int64_t b, bool incl)
{
    const int64_t lo = incl ? -w->pb[a] : 0, hi = incl ? w->in[a] + w->pe[a] : w->in[a];
    int64_t n = 0;
    for (int64_t k = 0; k < w->k[a]; k++)
        n += b + k * w->d[a] >= lo && b + k * w->d[a] < hi;
    return n;
}

/*
 * MaxPool's gradient for 2-D windows that tile the input (stride = kernel, no padding, no dilation: 2x2 stride 2):
 * every input element lies in at most one window, so each is written once, dy at the window's first maximum (a
 * NaN wins, as in the forward pool) and 0 elsewhere; rows and columns past the last window are 0.
 */
static void kn_ref_max_pool_grad_tiled(const kn_pool_win *w, int64_t planes, const float *dy, const float *x,
                                       float *dx)
{
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2], KH = w->k[1], KW = w->k[2];
    KN_OMP_FOR(planes * H * W > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W, *gp = dy + p * OH * OW;
        float *dp = dx + p * H * W;
        if (OH * KH < H || OW * KW < W)
            memset(dp, 0, sizeof(float) * (size_t)(H * W));
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                const int64_t base = oy * KH * W + ox * KW;
                int64_t best = base;
                float bv = xp[base];
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t i = base + ky * W + kx;
                        if (xp[i] > bv || (xp[i] != xp[i] && bv == bv)) {
                            best = i;
                            bv = xp[i];
                        }
                    }
                const float g = gp[oy * OW + ox];
                for (int64_t ky = 0; ky < KH; ky++)
                    for (int64_t kx = 0; kx < KW; kx++) {
                        const int64_t i = base + ky * W + kx;
                        dp[i] = i == best ? g : 0.0f;
                    }
            }
    }
}

kn_status kn_ref_pool_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                           kn_error *err)
{
    (void)scratch;
    const kn_shape *xs = &in[1].shape;
    kn_pool_win w;
    kn_status st = kn_pool_win_of(node, xs, &in[0].shape, &w, err);
    if (st != KN_OK)
        return st;
    const bool max = node->op == KN_OP_MAX_POOL_GRAD, incl = node->attrs.window.count_include_pad;
    const int64_t planes = xs->dims[0] * xs->dims[1], isz = w.in[0] * w.in[1] * w.in[2];
    const int64_t osz = w.out[0] * w.out[1] * w.out[2];
    const float *dy = in[0].data, *x = in[1].data;
    float *dx = out[0].data;
    if (max && w.in[0] == 1 && w.k[0] == 1 && w.d[1] == 1 && w.d[2] == 1 && w.s[1] == w.k[1] && w.s[2] == w.k[2] &&
        w.pb[1] == 0 && w.pb[2] == 0 && w.out[1] * w.k[1] <= w.in[1] && w.out[2] * w.k[2] <= w.in[2]) {
        kn_ref_max_pool_grad_tiled(&w, planes, dy, x, dx);
        return KN_OK;
    }
    KN_OMP_FOR(planes * isz > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * isz, *gp = dy + p * osz;
        float *dp = dx + p * isz;
        memset(dp, 0, sizeof(float) * (size_t)isz);
        for (int64_t o0 = 0; o0 < w.out[0]; o0++)
            for (int64_t o1 = 0; o1 < w.out[1]; o1++)
                for (int64_t o2 = 0; o2 < w.out[2]; o2++) {
                    const float g = gp[(o0 * w.out[1] + o1) * w.out[2] + o2];
                    const int64_t b0 = o0 * w.s[0] - w.pb[0], b1 = o1 * w.s[1] - w.pb[1], b2 = o2 * w.s[2] - w.pb[2];
                    int64_t best = -1;
                    float bv = 0.0f, share = 0.0f;
                    if (!max) {
                        const int64_t c = kn_pool_taps(&w, 0, b0, incl) * kn_pool_taps(&w, 1, b1, incl) *
                                          kn_pool_taps(&w, 2, b2, incl);
                        share = c > 0 ? g / (float)c : 0.0f;
                    }
                    for (int64_t k0 = 0; k0 < w.k[0]; k0++)
                        for (int64_t k1 = 0; k1 < w.k[1]; k1++)
                            for (int64_t k2 = 0; k2 < w.k[2]; k2++) {
                                const int64_t i0 = b0 + k0 * w.d[0], i1 = b1 + k1 * w.d[1], i2 = b2 + k2 * w.d[2];
                                if (i0 < 0 || i0 >= w.in[0] || i1 < 0 || i1 >= w.in[1] || i2 < 0 || i2 >= w.in[2])
                                    continue;
                                const int64_t i = (i0 * w.in[1] + i1) * w.in[2] + i2;
                                if (!max)
                                    dp[i] += share;
                                else if (best < 0 || xp[i] > bv || (xp[i] != xp[i] && bv == bv)) {
                                    best = i; /* the first maximum (a NaN wins, as in the forward pool) */
                                    bv = xp[i];
                                }
                            }
                    if (max && best >= 0)
                        dp[best] += g;
                }
    }
    return KN_OK;
}

kn_status kn_ref_global_average_pool_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                          const kn_ref_scratch *scratch, kn_error *err)
{
    (void)node;
    (void)scratch;
    (void)err;
    int64_t N, C, HW;
    kn_train_nci(&in[1].shape, &N, &C, &HW);
    const float *dy = in[0].data;
    float *dx = out[0].data;
    KN_OMP_FOR(N * C * HW > KN_PAR_MIN)
    for (int64_t p = 0; p < N * C; p++) {
        const float g = HW > 0 ? dy[p] / (float)HW : 0.0f;
        for (int64_t i = 0; i < HW; i++)
            dx[p * HW + i] = g;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ SumTo */

kn_status kn_ref_sum_to(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                        kn_error *err)
{
    (void)scratch;
    const kn_shape *xs = &in[0].shape, *ys = &out[0].shape;
    const int r = xs->rank;
    if (ys->rank > r)
        return kn_node_error(err, KN_ERR_SHAPE, node, "target rank above the input's");
    /* the target aligned to the input's rank; kept axes and summed axes of x */
    int64_t td[KN_MAX_RANK], xst[KN_MAX_RANK], kd[KN_MAX_RANK], kst[KN_MAX_RANK], sd[KN_MAX_RANK], sst[KN_MAX_RANK];
    int nk = 0, nsum = 0;
    int64_t stride = 1;
    for (int d = r - 1; d >= 0; d--) {
        xst[d] = stride;
        stride *= xs->dims[d];
    }
    for (int d = 0; d < r; d++) {
        const int j = d - (r - ys->rank);
        td[d] = j >= 0 ? ys->dims[j] : 1;
        if (td[d] == xs->dims[d]) {
            kd[nk] = td[d];
            kst[nk++] = xst[d];
        } else {
            sd[nsum] = xs->dims[d];
            sst[nsum++] = xst[d];
        }
    }
    const size_t on = kn_tn(&out[0]);
    size_t per = 1;
    for (int k = 0; k < nsum; k++)
        per *= (size_t)sd[k];
    const float *x = in[0].data;
    float *y = out[0].data;
    /* every summed axis before every kept one of size > 1 (a dense layer's bias gradient, [N, C] -> [C]): x is
     * [per, on] and output element o sums x[q * on + o] for q in order, as below; 8 columns at a time */
    bool leading = nsum > 0;
    for (int d = 0, seen_kept = 0; d < r; d++) {
        if (td[d] == xs->dims[d])
            seen_kept |= xs->dims[d] > 1;
        else if (seen_kept)
            leading = false;
    }
    if (leading) {
        const size_t blocks = (on + 7) / 8;
        KN_OMP_FOR(on * per > KN_PAR_MIN && blocks > 1)
        for (size_t bk = 0; bk < blocks; bk++) {
            const size_t o0 = bk * 8, w = on - o0 < 8 ? on - o0 : 8;
            double acc[8] = {0};
            for (size_t q = 0; q < per; q++)
                for (size_t l = 0; l < w; l++)
                    acc[l] += x[q * on + o0 + l];
            for (size_t l = 0; l < w; l++)
                y[o0 + l] = (float)acc[l];
        }
        return KN_OK;
    }
    KN_OMP_FOR(on * per > KN_PAR_MIN && on > 1)
    for (size_t o = 0; o < on; o++) {
        /* x's offset of output element o, then every summed index in order */
        int64_t base = 0, rem = (int64_t)o;
        for (int k = nk - 1; k >= 0; k--) {
            base += rem % kd[k] * kst[k];
            rem /= kd[k];
        }
        double s = 0.0;
        for (size_t q = 0; q < per; q++) {
            int64_t off = base, rq = (int64_t)q;
            for (int k = nsum - 1; k >= 0; k--) {
                off += rq % sd[k] * sst[k];
                rq /= sd[k];
            }
            s += x[off];
        }
        y[o] = (float)s;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ losses */

/* Label n of an int64 or int32 tensor, checked against `classes`; -1 (and an error) when out of range. */
static int64_t kn_label(const kn_node *node, const kn_tensor *l, int64_t n, int64_t classes, kn_error *err)
{
    const int64_t v = l->dtype == KN_I64 ? ((const int64_t *)l->data)[n] : ((const int32_t *)l->data)[n];
    if (v < 0 || v >= classes) {
        kn_node_error(err, KN_ERR_INVALID_ARG, node, "label %lld of sample %lld is outside 0..%lld", (long long)v,
                      (long long)n, (long long)(classes - 1));
        return -1;
    }
    return v;
}

kn_status kn_ref_loss(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                      kn_error *err)
{
    (void)scratch;
    const float *p = in[0].data;
    const float eps = node->attrs.loss.epsilon;
    double s = 0.0;
    switch (node->op) {
    case KN_OP_SOFTMAX_CROSS_ENTROPY:
    case KN_OP_CROSS_ENTROPY: {
        const int64_t N = in[0].shape.dims[0], C = in[0].shape.dims[1];
        float *probs = node->op == KN_OP_SOFTMAX_CROSS_ENTROPY ? out[1].data : NULL;
        for (int64_t n = 0; n < N; n++) {
            const int64_t l = kn_label(node, &in[1], n, C, err);
            if (l < 0)
                return KN_ERR_INVALID_ARG;
            const float *z = p + n * C;
            if (!probs) { /* probabilities, clipped as Keras does */
                double q = z[l] < eps ? eps : z[l] > 1.0f - eps ? 1.0f - eps : z[l];
                s -= log(q);
                continue;
            }
            double m = z[0], t = 0.0; /* log-sum-exp, shifted by the row's maximum */
            for (int64_t c = 1; c < C; c++)
                m = z[c] > m ? z[c] : m;
            for (int64_t c = 0; c < C; c++)
                t += exp((double)z[c] - m);
            for (int64_t c = 0; c < C; c++)
                probs[n * C + c] = (float)(exp((double)z[c] - m) / t);
            s += m + log(t) - z[l];
        }
        *(float *)out[0].data = N > 0 ? (float)(s / (double)N) : 0.0f;
        return KN_OK;
    }
    case KN_OP_BINARY_CROSS_ENTROPY:
    case KN_OP_BCE_WITH_LOGITS:
    case KN_OP_MSE_LOSS: {
        const size_t n = kn_tn(&in[0]);
        const float *t = in[1].data;
        for (size_t i = 0; i < n; i++) {
            const double x = p[i], y = t[i];
            if (node->op == KN_OP_MSE_LOSS) {
                s += (x - y) * (x - y);
            } else if (node->op == KN_OP_BCE_WITH_LOGITS) {
                s += (x > 0 ? x : 0.0) - x * y + log1p(exp(-fabs(x)));
            } else {
                const double q = x < eps ? eps : x > 1.0 - eps ? 1.0 - eps : x;
                s -= y * log(q) + (1.0 - y) * log(1.0 - q);
            }
        }
        *(float *)out[0].data = n > 0 ? (float)(s / (double)n) : 0.0f;
        return KN_OK;
    }
    default:
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a loss");
    }
}

kn_status kn_ref_loss_grad(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                           kn_error *err)
{
    (void)scratch;
    const double g = *(const float *)in[0].data;
    const float *p = in[1].data, eps = node->attrs.loss.epsilon;
    float *dx = out[0].data;
    const size_t n = kn_tn(&in[1]);
    switch (node->attrs.loss.kind) {
    case KN_OP_SOFTMAX_CROSS_ENTROPY:
    case KN_OP_CROSS_ENTROPY: {
        const int64_t N = in[1].shape.dims[0], C = in[1].shape.dims[1];
        const bool softmax = node->attrs.loss.kind == KN_OP_SOFTMAX_CROSS_ENTROPY;
        for (int64_t r = 0; r < N; r++) {
            const int64_t l = kn_label(node, &in[2], r, C, err);
            if (l < 0)
                return KN_ERR_INVALID_ARG;
            for (int64_t c = 0; c < C; c++) {
                const float q = p[r * C + c];
                if (softmax) /* (softmax - one hot) / N */
                    dx[r * C + c] = (float)(g * ((double)q - (c == l)) / (double)N);
                else /* -1 / (N p) at the label, where the clip passes it */
                    dx[r * C + c] = c == l && q > eps && q < 1.0f - eps ? (float)(-g / ((double)N * q)) : 0.0f;
            }
        }
        return KN_OK;
    }
    case KN_OP_BINARY_CROSS_ENTROPY:
    case KN_OP_BCE_WITH_LOGITS:
    case KN_OP_MSE_LOSS: {
        const float *t = in[2].data;
        const double k = n > 0 ? g / (double)n : 0.0;
        const kn_op kind = node->attrs.loss.kind;
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const double x = p[i], y = t[i];
            double d;
            if (kind == KN_OP_MSE_LOSS)
                d = 2.0 * (x - y);
            else if (kind == KN_OP_BCE_WITH_LOGITS)
                d = 1.0 / (1.0 + exp(-x)) - y;
            else
                d = x > eps && x < 1.0 - eps ? -y / x + (1.0 - y) / (1.0 - x) : 0.0;
            dx[i] = (float)(k * d);
        }
        return KN_OK;
    }
    default:
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "no gradient kernel for loss %d",
                             (int)node->attrs.loss.kind);
    }
}

/*
 * Adam on elements [lo, hi): one pass over w, g, m and v (memory-bound), vectorized (-fno-math-errno, AVX2 and
 * AVX-512 clones); every element's arithmetic is the same whatever the thread count or chunking.
 */
static KN_WIDE_CLONES void kn_adam_range(float *restrict w, const float *restrict g, float *restrict m,
                                         float *restrict v, size_t lo, size_t hi, float decay, float alpha, float b1,
                                         float b2, float eps)
{
    for (size_t i = lo; i < hi; i++) {
        const float wi = w[i] - decay * w[i];
        m[i] += (g[i] - m[i]) * (1.0f - b1);
        v[i] += (g[i] * g[i] - v[i]) * (1.0f - b2);
        w[i] = wi - m[i] * alpha / (sqrtf(v[i]) + eps);
    }
}

/* ------------------------------------------------------------ optimizer updates */

kn_status kn_ref_update(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                        kn_error *err)
{
    (void)out;
    (void)scratch;
    const kn_optim_attrs *o = &node->attrs.optim;
    const size_t n = kn_tn(&in[0]);
    float *w = in[0].data; /* updated in place (a side-effect op), as are the moments */
    const float *g = in[1].data;
    const int si = node->op == KN_OP_ADAM_UPDATE                                              ? 5
                   : node->op == KN_OP_MOMENTUM_UPDATE || node->op == KN_OP_RMSPROP_UPDATE ? 3
                                                                                            : 2;
    const float scale = node->num_inputs > si && in[si].data ? *(const float *)in[si].data : 1.0f; /* a schedule */
    const float lr = o->lr * scale, decay = lr * o->weight_decay; /* decoupled: w -= lr wd w first */
    switch (node->op) {
    case KN_OP_SGD_UPDATE:
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++)
            w[i] = w[i] - decay * w[i] - lr * g[i];
        return KN_OK;
    case KN_OP_MOMENTUM_UPDATE: { /* Keras: v = m v - lr g; w += v (Nesterov: w += m v - lr g) */
        float *v = in[2].data;
        const float m = o->momentum;
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float wi = w[i] - decay * w[i];
            v[i] = m * v[i] - lr * g[i];
            w[i] = o->nesterov ? wi + m * v[i] - lr * g[i] : wi + v[i];
        }
        return KN_OK;
    }
    case KN_OP_ADAM_UPDATE: { /* Keras: alpha = lr sqrt(1 - b2^t) / (1 - b1^t); w -= alpha m / (sqrt(v) + eps) */
        float *m = in[2].data, *v = in[3].data;
        const int64_t step = *(const int64_t *)in[4].data;
        const double t = (double)(step + 1);
        const float alpha = (float)((double)lr * sqrt(1.0 - pow(o->beta2, t)) / (1.0 - pow(o->beta1, t)));
        enum { CHUNK = 16384 };
        const size_t chunks = (n + CHUNK - 1) / CHUNK;
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t c = 0; c < chunks; c++)
            kn_adam_range(w, g, m, v, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n, decay, alpha,
                          o->beta1, o->beta2, o->epsilon);
        return KN_OK;
    }
    case KN_OP_RMSPROP_UPDATE: { /* Keras: v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps) (eps inside) */
        float *v = in[2].data;
        const float rho = o->rho, eps = o->epsilon;
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            const float wi = w[i] - decay * w[i];
            v[i] = rho * v[i] + (1.0f - rho) * g[i] * g[i];
            w[i] = wi - lr * g[i] / sqrtf(v[i] + eps);
        }
        return KN_OK;
    }
    default:
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not an optimizer update");
    }
}
