/*
 * ref_collective.c - the kernels of data-parallel training (ir/ops.def:
 * GradSyncStart, GradSyncWait). They run on plain buffers and talk to the
 * other ranks only through the node's kn_collective (kn_train_options), so
 * any backend that runs them as reference kernels trains data-parallel.
 *
 * GradSyncStart copies its gradients, scaled by the rank's share of the
 * global batch, into the bucket (an arena tensor: planned with the rest of
 * the step) and starts the bucket's reduction without waiting, so that it
 * travels while the backward pass goes on; GradSyncWait, placed before the
 * optimizer updates, waits for it and splits the sum into the averaged
 * gradients. Deterministic mode gathers every rank's bucket side by side
 * and sums them here in rank order: the same bits on every rank and in
 * every run, whatever the transport does.
 */
#include <string.h>

#include "ref_nn.h"

/* Elements of the bucket that one rank contributes, and where this rank's part starts. */
static size_t kn_sync_part(const kn_node *node, const kn_tensor *bucket, size_t *offset)
{
    const kn_collective *c = node->attrs.grad_sync.comm;
    const size_t total = kn_numel_of(bucket);
    if (!node->attrs.grad_sync.deterministic) {
        *offset = 0;
        return total;
    }
    const size_t part = total / (size_t)c->size;
    *offset = part * (size_t)c->rank;
    return part;
}

kn_status kn_ref_grad_sync_start(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                 const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_collective *c = node->attrs.grad_sync.comm;
    if (!c || !c->start || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (GradSyncStart): no collective", node->name);
    const float scale = *(const float *)in[0].data;
    size_t offset;
    const size_t part = kn_sync_part(node, &out[0], &offset);
    float *dst = (float *)out[0].data + offset;
    size_t at = 0;
    for (int k = 1; k < node->num_inputs; k++) {
        const size_t n = kn_numel_of(&in[k]);
        const float *g = in[k].data;
        for (size_t i = 0; i < n && at + i < part; i++)
            dst[at + i] = g[i] * scale;
        at += n;
    }
    if (at != part)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (GradSyncStart): %zu gradient elements for a bucket of %zu",
                            node->name, at, part);
    kn_status st = c->start(c->ctx, node->attrs.grad_sync.deterministic ? KN_COLL_GATHER : KN_COLL_SUM, out[0].data,
                            part, KN_F32, err);
    if (st != KN_OK)
        kn_error_prefix(err, "node '%s' (GradSyncStart)", node->name);
    return st;
}

kn_status kn_ref_grad_sync_wait(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_collective *c = node->attrs.grad_sync.comm;
    if (!c || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (GradSyncWait): no collective", node->name);
    kn_status st = c->wait(c->ctx, in[0].data, err);
    if (st != KN_OK) {
        kn_error_prefix(err, "node '%s' (GradSyncWait)", node->name);
        return st;
    }
    size_t offset;
    const size_t part = kn_sync_part(node, &in[0], &offset);
    const float *b = in[0].data;
    const int ranks = node->attrs.grad_sync.deterministic ? c->size : 1;
    size_t at = 0;
    for (int k = 0; k < node->num_outputs; k++) {
        const size_t n = kn_numel_of(&out[k]);
        float *g = out[k].data;
        if (n > part - at)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (GradSyncWait): the outputs overflow the bucket",
                                node->name);
        for (size_t i = 0; i < n; i++) {
            float s = b[at + i];
            for (int r = 1; r < ranks; r++) /* rank order: the same sum everywhere */
                s += b[(size_t)r * part + at + i];
            g[i] = s;
        }
        at += n;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ synchronised BatchNorm */

/*
 * Sum n doubles of v over the ranks: the transport's sum, or, deterministic, every rank's v gathered side by
 * side into g [size * n] and summed here in rank order.
 */
static kn_status kn_sync_sum(const kn_collective *c, bool deterministic, double *v, size_t n, double *g,
                             kn_error *err)
{
    if (!deterministic)
        return kn_collective_run(c, KN_COLL_SUM, v, n, KN_F64, err);
    memcpy(g + (size_t)c->rank * n, v, sizeof(double) * n);
    kn_status st = kn_collective_run(c, KN_COLL_GATHER, g, n, KN_F64, err);
    for (size_t i = 0; st == KN_OK && i < n; i++) {
        double s = 0.0;
        for (int r = 0; r < c->size; r++)
            s += g[(size_t)r * n + i];
        v[i] = s;
    }
    return st;
}

size_t kn_ref_bn_sync_scratch_bytes(const kn_node *node, int64_t C)
{
    const kn_collective *c = node->attrs.batch_norm.sync;
    size_t n, bytes;
    if (!c || c->size < 1 || C < 1)
        return 0;
    /* the sums and results (2C + 1 doubles), then the gathered sums of every rank */
    if (!kn_size_mul((size_t)C, 2, &n) || !kn_size_add(n, 1, &n) || !kn_size_mul(n, (size_t)c->size + 1, &bytes) ||
        !kn_size_mul(bytes, sizeof(double), &bytes))
        return SIZE_MAX;
    return bytes;
}

/* N, C and the inner size of x, and the scratch (checked): v [2C + 1], g [size * (2C + 1)]. */
static kn_status kn_bn_sync_setup(const kn_node *node, const kn_tensor *x, const kn_ref_scratch *scratch, int64_t *N,
                                  int64_t *C, int64_t *HW, double **v, double **g, kn_error *err)
{
    *N = x->shape.dims[0];
    *C = x->shape.rank > 1 ? x->shape.dims[1] : 1;
    *HW = 1;
    for (int d = 2; d < x->shape.rank; d++)
        *HW *= x->shape.dims[d];
    kn_status st = kn_ref_scratch_check(node, scratch, kn_ref_bn_sync_scratch_bytes(node, *C), err);
    *v = st == KN_OK ? scratch->data : NULL;
    *g = st == KN_OK ? *v + 2 * *C + 1 : NULL;
    return st;
}

kn_status kn_ref_bn_sync_stats(const kn_node *node, const kn_tensor *x, const kn_ref_scratch *scratch,
                               const double **stats, kn_error *err)
{
    const kn_collective *c = node->attrs.batch_norm.sync;
    const bool det = node->attrs.batch_norm.deterministic;
    int64_t N, C, HW;
    double *v, *g;
    kn_status st = kn_bn_sync_setup(node, x, scratch, &N, &C, &HW, &v, &g, err);
    if (st != KN_OK)
        return st;
    const float *p = x->data;
    /* the mean: every rank's sums and element counts */
    KN_OMP_FOR(N * HW * C > KN_PAR_MIN)
    for (int64_t ch = 0; ch < C; ch++) {
        double s = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++)
                s += p[(n * C + ch) * HW + i];
        v[ch] = s;
    }
    v[C] = (double)(N * HW);
    if ((st = kn_sync_sum(c, det, v, (size_t)C + 1, g, err)) != KN_OK)
        return st;
    const double M = v[C] > 0 ? v[C] : 1.0;
    for (int64_t ch = 0; ch < C; ch++)
        v[ch] /= M;
    /* the variance about the global mean (two passes, as on one process) */
    KN_OMP_FOR(N * HW * C > KN_PAR_MIN)
    for (int64_t ch = 0; ch < C; ch++) {
        double q = 0.0;
        const double m = v[ch];
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) {
                const double d = (double)p[(n * C + ch) * HW + i] - m;
                q += d * d;
            }
        v[C + ch] = q;
    }
    if ((st = kn_sync_sum(c, det, v + C, (size_t)C, g, err)) != KN_OK)
        return st;
    for (int64_t ch = 0; ch < C; ch++)
        v[C + ch] /= M;
    *stats = v;
    return KN_OK;
}

/*
 * Rank r's loss is the mean over its n_r elements, so its dy is the global loss's times M / n_r: the global sums
 * of the global loss's dy are sum_r n_r sum(dy_r) / M (and likewise with xhat), and this rank's dx formula, in
 * its own loss's scale, takes them times M / n (dx = scale invstd / n (n dy - S1 - xhat S2) with
 * S = sum_r n_r sum_r(...) / M).
 */
kn_status kn_ref_bn_sync_grad(const kn_node *node, const kn_tensor *in, const kn_ref_scratch *scratch,
                              const double **sums, kn_error *err)
{
    const kn_collective *c = node->attrs.batch_norm.sync;
    const bool det = node->attrs.batch_norm.deterministic;
    int64_t N, C, HW;
    double *v, *g;
    kn_status st = kn_bn_sync_setup(node, &in[1], scratch, &N, &C, &HW, &v, &g, err);
    if (st != KN_OK)
        return st;
    const float *dy = in[0].data, *x = in[1].data, *mean = in[3].data, *invstd = in[4].data;
    const double n_local = (double)(N * HW);
    KN_OMP_FOR(N * HW * C > KN_PAR_MIN)
    for (int64_t ch = 0; ch < C; ch++) {
        const double m = mean[ch], is = invstd[ch];
        double sb = 0.0, ss = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) {
                const size_t k = (size_t)((n * C + ch) * HW + i);
                sb += dy[k];
                ss += dy[k] * (((double)x[k] - m) * is);
            }
        v[ch] = n_local * sb;
        v[C + ch] = n_local * ss;
    }
    v[2 * C] = n_local;
    if ((st = kn_sync_sum(c, det, v, 2 * (size_t)C + 1, g, err)) != KN_OK)
        return st;
    const double M = v[2 * C] > 0 ? v[2 * C] : 1.0;
    for (int64_t k = 0; k < 2 * C; k++)
        v[k] /= M;
    *sums = v;
    return KN_OK;
}
