/*
 * dnnl_bn.c - BatchNormTrain as kiln's own loop on an 8-channel view (kn_dnnl_view) of its input: the blocked
 * layout a convolution left (nChw8c, nChw16c, nhwc), or a dense layer's [N, C] as [N, C, 1, 1] channels-last.
 *
 * It computes exactly what the reference kernel (backends/ref/ref_train.c) computes, in the same order: per
 * channel, the sum over (n, h, w) in index order in double, the mean, the sum of squared deviations in double,
 * invstd = 1/sqrt(var + eps), y = x * k + b in float with the same float k and b, the running statistics with
 * momentum. So y, mean and invstd are bitwise the reference backend's: oneDNN's batch normalization computes its
 * statistics in float, ~1e-6 away, enough to flip a later ReLU sign or MaxPool choice on a near-tie and move a
 * whole channel's gradient (measured on fashion_cnn's training step); KILN_DNNL_BN_TRAIN=1 takes oneDNN's
 * primitive instead (dnnl_train.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* AVX2 and baseline versions picked at load time; no FMA contraction (ISO C's default), so that y = x * k + b
 * rounds as the reference kernel's does */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define KN_BN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KN_BN_CLONES
#endif

/* 8 lanes (an 8-channel group of the view) of floats and of doubles; unaligned */
typedef float kn_bn_f8 __attribute__((vector_size(32), aligned(4)));
typedef double kn_bn_d8 __attribute__((vector_size(64), aligned(8)));

/* Whether KILN_DNNL_BN_TRAIN=1 asks for oneDNN's forward-training primitive. */
bool kn_dnnl_bn_train_primitive(void)
{
    const char *e = getenv("KILN_DNNL_BN_TRAIN");
    return e && strcmp(e, "1") == 0;
}

kn_status kn_dnnl_try_bn_train_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    *built = false;
    const int x = n->inputs[0], y = n->outputs[0];
    const kn_shape *xs = &g->values[x].shape;
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x};
    dnnl_memory_desc_t ymd;
    kn_dnnl_bn_stats bn = {.c = xs->dims[1], .after = true, .native = true};
    kn_status st = KN_OK;
    if (xs->rank == 2) { /* [N, C] as [N, C, 1, 1] nhwc: the plain buffers of x and y */
        if (kn_dnnl_blocked_md(exe, x) || xs->dims[1] % 8 != 0)
            return KN_OK;
        src.plain = true;
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src.md, 4, (dnnl_dims_t){xs->dims[0], xs->dims[1], 1, 1},
                                                      dnnl_f32, dnnl_acdb));
        ymd = src.md;
    } else if (!kn_dnnl_view_md(exe, x, kn_dnnl_blocked_md(exe, x), &src.md) ||
               !kn_dnnl_view_md(exe, y, &src.md, &ymd)) {
        return KN_OK;
    }
    if (!kn_dnnl_view_of(&src.md, &bn.in) || !kn_dnnl_view_of(&ymd, &bn.out) || bn.in.groups != bn.out.groups)
        return KN_OK;
    dnnl_memory_t m_src, m_y;
    int r_src, r_y = -1, idx;
    if ((st = kn_dnnl_bind_mem(exe, i, &src, &src.md, &m_src, &r_src, err)) != KN_OK)
        return st;
    for (int k = 1; k < 5; k++) /* scale, bias and the running statistics: plain buffers it reads and writes */
        if ((st = kn_dnnl_ensure_plain(exe, i, n->inputs[k], err)) != KN_OK)
            return st;
    if (src.plain) {
        if ((st = kn_dnnl_new_mem(exe, n, &ymd, exe->buffers[y], &m_y, err)) != KN_OK)
            return st;
        exe->plain_ok[y] = true;
    } else {
        if ((st = kn_dnnl_new_rep(exe, i, y, &ymd, exe->num_ops, &r_y, err)) != KN_OK)
            return st;
        exe->plain_ok[y] = false;
        m_y = exe->reps[r_y].mem;
    }
    exe->plain_ok[n->outputs[1]] = exe->plain_ok[n->outputs[2]] = true;
    kn_dnnl_bn_stats *p = malloc(sizeof *p);
    bn.acc = kn_xcalloc((size_t)bn.in.groups, 24 * sizeof(double)); /* per group: sums, means, squares */
    bn.kb = kn_xcalloc((size_t)bn.in.groups, 16 * sizeof(float));   /* per group: k, b */
    bn.off = kn_xcalloc((size_t)bn.in.groups, 2 * sizeof(int64_t));  /* per group: offsets in x, then in y */
    if (!p || !bn.acc || !bn.kb || !bn.off) {
        free(p);
        free(bn.acc);
        free(bn.kb);
        free(bn.off);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    for (int64_t g = 0; g < bn.in.groups; g++) {
        bn.off[g] = kn_dnnl_view_group(&bn.in, g);
        bn.off[bn.in.groups + g] = kn_dnnl_view_group(&bn.out, g);
    }
    *p = bn;
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK) {
        free(p->acc);
        free(p->kb);
        free(p->off);
        free(p);
        return st;
    }
    kn_dnnl_op *op = &exe->ops[idx];
    op->bn = p;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC, m_src, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DST, m_y, err)) != KN_OK)
        return st;
    if (r_src >= 0)
        exe->reps[r_src].last_op = idx;
    *built = true;
fail:
    return st;
}

/*
 * Groups [g0, g1) of op's BatchNormTrain: each pass walks the pixels (n, h, w) in index order once, every group of
 * the range at each pixel (channels-last and 16-channel blocks read whole cache lines that way), the channel's
 * sums in acc (double [3][8 * (g1 - g0)]: sum, mean, squared deviations), the groups' offsets in bn->off.
 */
KN_BN_CLONES static void kn_dnnl_bn_train_groups(const kn_dnnl_exe *exe, const kn_dnnl_op *op, const float *xp, float *yp,
                                    int64_t g0, int64_t g1, double *acc, float *kb)
{
    const kn_node *n = &exe->graph->nodes[op->node];
    const kn_dnnl_bn_stats *bn = op->bn;
    const kn_dnnl_view *in = &bn->in, *out = &bn->out;
    const float *scale = exe->buffers[n->inputs[1]], *bias = exe->buffers[n->inputs[2]];
    float *rmean = exe->buffers[n->inputs[3]], *rvar = exe->buffers[n->inputs[4]];
    float *mean = exe->buffers[n->outputs[1]], *invstd = exe->buffers[n->outputs[2]];
    const double eps = n->attrs.batch_norm.epsilon, mom = n->attrs.batch_norm.momentum;
    const int64_t N = in->n, H = in->h, W = in->w, L = 8 * (g1 - g0);
    const double count = (double)(N * H * W);
    double *s = acc, *m = acc + L, *q = acc + 2 * L;
    float *k = kb, *b = kb + L;
    for (int64_t j = 0; j < L; j++)
        s[j] = q[j] = 0.0;
    /* 8 lanes at a time as vectors (the lanes are independent channels, so each channel's sum still runs over the
     * pixels in index order, as the reference kernel's does: bitwise the same; scalar code took 3 ms for
     * fashion_cnn's 64 x 32 x 28 x 28 batch) */
    for (int64_t img = 0; img < N; img++) /* (n, h, w) in index order, as the reference kernel sums */
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t g = g0; g < g1; g++) {
                    const float *p = xp + img * in->sn + h * in->sh + w * in->sw + bn->off[g];
                    kn_bn_d8 *sg = (kn_bn_d8 *)(s + 8 * (g - g0));
                    *sg += __builtin_convertvector(*(const kn_bn_f8 *)p, kn_bn_d8);
                }
    for (int64_t j = 0; j < L; j++)
        m[j] = count > 0 ? s[j] / count : 0.0;
    for (int64_t img = 0; img < N; img++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t g = g0; g < g1; g++) {
                    const float *p = xp + img * in->sn + h * in->sh + w * in->sw + bn->off[g];
                    const kn_bn_d8 d = __builtin_convertvector(*(const kn_bn_f8 *)p, kn_bn_d8) -
                                       *(const kn_bn_d8 *)(m + 8 * (g - g0));
                    *(kn_bn_d8 *)(q + 8 * (g - g0)) += d * d;
                }
    for (int64_t g = g0; g < g1; g++) {
        const int lanes = kn_dnnl_view_lanes(out, g);
        for (int l = 0; l < 8; l++) {
            const int64_t j = 8 * (g - g0) + l, c = 8 * g + l;
            k[j] = b[j] = 0.0f; /* padded lanes (past C) stay zero */
            if (l >= lanes)
                continue;
            const double var = count > 0 ? q[j] / count : 0.0; /* biased, as Keras normalises and tracks */
            const double is = 1.0 / sqrt(var + eps);
            mean[c] = (float)m[j];
            invstd[c] = (float)is;
            k[j] = (float)(is * scale[c]);
            b[j] = (float)(bias[c] - m[j] * is * scale[c]);
            rmean[c] = (float)(mom * rmean[c] + (1.0 - mom) * m[j]);
            rvar[c] = (float)(mom * rvar[c] + (1.0 - mom) * var);
        }
    }
    for (int64_t img = 0; img < N; img++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
                for (int64_t g = g0; g < g1; g++) {
                    const float *p = xp + img * in->sn + h * in->sh + w * in->sw + bn->off[g];
                    float *o = yp + img * out->sn + h * out->sh + w * out->sw + bn->off[in->groups + g];
                    *(kn_bn_f8 *)o = *(const kn_bn_f8 *)p * *(const kn_bn_f8 *)(k + 8 * (g - g0)) +
                                     *(const kn_bn_f8 *)(b + 8 * (g - g0));
                }
}

void kn_dnnl_run_bn_train(const kn_dnnl_exe *exe, const kn_dnnl_op *op)
{
    const kn_dnnl_bn_stats *bn = op->bn;
    void *xp = NULL, *yp = NULL;
    dnnl_memory_get_data_handle(op->args[0].memory, &xp);
    dnnl_memory_get_data_handle(op->args[1].memory, &yp);
    const int64_t groups = bn->in.groups;
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        int64_t t = 0, nt = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        /* thread t: a contiguous range of groups (its channels' statistics do not depend on the split) */
        const int64_t g0 = groups * t / nt, g1 = groups * (t + 1) / nt;
        if (g1 > g0)
            kn_dnnl_bn_train_groups(exe, op, xp, yp, g0, g1, bn->acc + 24 * g0, bn->kb + 16 * g0);
    }
}
