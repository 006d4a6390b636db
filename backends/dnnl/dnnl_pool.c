/* dnnl_pool.c - 2-D MaxPool/AveragePool as kiln's own loop on 8-channel groups (nChw8c, nChw16c, nhwc) in the
 * oneDNN backend (see dnnl_internal.h). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"
#include "ref_nn.h"

kn_status kn_dnnl_push_pool_op(kn_dnnl_exe *exe, int i, const kn_dnnl_pool *p, const kn_dnnl_bind *ins, int nin,
                               int out_arg, int out, const dnnl_memory_desc_t *out_md, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    kn_dnnl_pool *pool = malloc(sizeof *pool);
    if (!pool)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    *pool = *p;
    dnnl_memory_t mems[3], m_out = NULL;
    int reps[3], r_out, idx = 0;
    kn_status st = nin <= 3 ? KN_OK : kn_error_set(err, KN_ERR_BACKEND, "node '%s': too many pool inputs", n->name);
    for (int k = 0; k < nin && st == KN_OK; k++)
        st = kn_dnnl_bind_mem(exe, i, &ins[k], &ins[k].md, &mems[k], &reps[k], err);
    if (st == KN_OK && (st = kn_dnnl_new_rep(exe, i, out, out_md, exe->num_ops, &r_out, err)) == KN_OK) {
        exe->plain_ok[out] = false;
        m_out = exe->reps[r_out].mem;
        st = kn_dnnl_push_op(exe, i, &idx, err);
    }
    if (st != KN_OK) {
        free(pool);
        return st;
    }
    kn_dnnl_op *op = &exe->ops[idx];
    op->pool = pool;
    for (int k = 0; k < nin && st == KN_OK; k++)
        st = kn_dnnl_add_arg(op, n, ins[k].arg, mems[k], err);
    if (st == KN_OK)
        st = kn_dnnl_add_arg(op, n, out_arg, m_out, err);
    for (int k = 0; k < nin; k++)
        if (reps[k] >= 0)
            exe->reps[reps[k]].last_op = idx;
    return st;
}

kn_status kn_dnnl_try_pool_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    *built = false;
    if ((n->op != KN_OP_MAX_POOL && n->op != KN_OP_AVERAGE_POOL) || n->fused.activation != KN_OP_COUNT ||
        n->fused.residual >= 0)
        return KN_OK;
    const kn_window_attrs *a = &n->attrs.window;
    const int x = n->inputs[0], y = n->outputs[0];
    const kn_shape *xs = &g->values[x].shape, *ys = &g->values[y].shape;
    if (a->nspatial != 2 || xs->rank != 4 || ys->rank != 4 || xs->dims[1] < 8)
        return KN_OK;
    int64_t kernel[KN_MAX_SPATIAL] = {a->kernel[0], a->kernel[1]}, pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL],
            o[KN_MAX_SPATIAL];
    for (int d = 0; d < 2; d++)
        if ((a->dilation[d] && a->dilation[d] != 1) || kernel[d] < 1)
            return KN_OK;
    kn_error e;
    if (kn_window_resolve(n, a, xs->dims + 2, kernel, false, pb, pe, o, &e) != KN_OK || o[0] != ys->dims[2] ||
        o[1] != ys->dims[3])
        return KN_OK;
    kn_dnnl_pool p = {.oh = ys->dims[2], .ow = ys->dims[3], .kh = kernel[0], .kw = kernel[1],
                      .sh = a->stride[0] ? a->stride[0] : 1, .sw = a->stride[1] ? a->stride[1] : 1,
                      .pt = pb[0], .pl = pb[1], .avg = n->op == KN_OP_AVERAGE_POOL,
                      .include_pad = a->count_include_pad};
    if (p.avg && p.include_pad)
        for (int d = 0; d < 2; d++) { /* windows past the end padding (ceil_mode) would count differently */
            int64_t s = d ? p.sw : p.sh, k = kernel[d], in = xs->dims[2 + d];
            if ((o[d] - 1) * s + k > in + pb[d] + pe[d])
                return KN_OK;
        }
    /* the input in the layout its producer wrote when kiln's loop can address it (else nChw8c: a reorder), the
     * output a new copy in the same format */
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x, .plain = false};
    dnnl_memory_desc_t ymd;
    if (!kn_dnnl_view_md(exe, x, kn_dnnl_blocked_md(exe, x), &src.md) || !kn_dnnl_view_md(exe, y, &src.md, &ymd) ||
        !kn_dnnl_view_of(&src.md, &p.in) || !kn_dnnl_view_of(&ymd, &p.out) || p.in.groups != p.out.groups)
        return KN_OK;
    kn_status st = kn_dnnl_push_pool_op(exe, i, &p, &src, 1, DNNL_ARG_DST, y, &ymd, err);
    *built = st == KN_OK;
    return st;
}

typedef float kn_pool_v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t kn_pool_m8 __attribute__((vector_size(32), aligned(4)));

/* max(acc, v) per lane, a NaN in v winning (as ONNX's MaxPool propagates NaN); a macro, as a function returning a
 * 32-byte vector would change the ABI between the AVX2 and baseline clones */
#define KN_POOL_MAX(acc, v)                                                                                      \
    __extension__({                                                                                            \
        const kn_pool_v8 kn_a_ = (acc), kn_v_ = (v);                                                           \
        const kn_pool_m8 kn_t_ = (kn_v_ > kn_a_) | (kn_v_ != kn_v_);                                          \
        (kn_pool_v8)(((kn_pool_m8)kn_v_ & kn_t_) | ((kn_pool_m8)kn_a_ & ~kn_t_));                              \
    })

/*
 * One output row oy of 8-channel group plane `in` into `out`, `lanes` of its 8 lanes real channels (the
 * others written as zero); compiled for AVX2 and the baseline.
 */
KN_SIMD_CLONES static void kn_dnnl_pool_row(const kn_dnnl_pool *p, const float *in, float *out, int64_t oy, int lanes)
{
    const int64_t y0 = oy * p->sh - p->pt, y_lo = y0 < 0 ? 0 : y0;
    const int64_t y_hi = y0 + p->kh > p->in.h ? p->in.h : y0 + p->kh;
    const int64_t sh = p->in.sh, sw = p->in.sw, osw = p->out.sw;
    int64_t ox = 0;
    if (lanes == 0) { /* a group of padding only */
        for (; ox < p->ow; ox++)
            *(kn_pool_v8 *)(out + ox * osw) = (kn_pool_v8){0};
        return;
    }
    if (!p->avg && p->kw == 2 && y_hi - y_lo == 2 && p->pl == 0) {
        /* 2x2 max windows inside the image (the CNN classifiers' pooling): no bounds, no loops */
        const float *r0 = in + y_lo * sh, *r1 = r0 + sh;
        for (; ox < p->ow && ox * p->sw + 2 <= p->in.w; ox++) {
            const int64_t x = ox * p->sw * sw;
            kn_pool_v8 acc = KN_POOL_MAX(*(const kn_pool_v8 *)(r0 + x), *(const kn_pool_v8 *)(r0 + x + sw));
            acc = KN_POOL_MAX(acc, *(const kn_pool_v8 *)(r1 + x));
            *(kn_pool_v8 *)(out + ox * osw) = KN_POOL_MAX(acc, *(const kn_pool_v8 *)(r1 + x + sw));
        }
    }
    for (; ox < p->ow; ox++) {
        const int64_t x0 = ox * p->sw - p->pl, x_lo = x0 < 0 ? 0 : x0;
        const int64_t x_hi = x0 + p->kw > p->in.w ? p->in.w : x0 + p->kw;
        kn_pool_v8 acc;
        for (int c = 0; c < 8; c++)
            acc[c] = p->avg ? 0.0f : -FLT_MAX;
        for (int64_t iy = y_lo; iy < y_hi; iy++)
            for (int64_t ix = x_lo; ix < x_hi; ix++) {
                const kn_pool_v8 v = *(const kn_pool_v8 *)(in + iy * sh + ix * sw);
                acc = p->avg ? acc + v : KN_POOL_MAX(acc, v);
            }
        if (p->avg) {
            int64_t cnt = p->include_pad ? p->kh * p->kw : (y_hi - y_lo) * (x_hi - x_lo);
            acc *= cnt > 0 ? 1.0f / (float)cnt : 0.0f;
        } else if (y_hi <= y_lo || x_hi <= x_lo) {
            acc = (kn_pool_v8){0}; /* an empty window (only padding) */
        }
        *(kn_pool_v8 *)(out + ox * osw) = acc;
    }
    if (lanes < 8) /* the padded lanes of a partial block: zero, whatever the input's padding held */
        for (ox = 0; ox < p->ow; ox++)
            for (int c = lanes; c < 8; c++)
                out[ox * osw + c] = 0.0f;
}

/*
 * One output row oy of image `in` into `out` when the 8-channel groups of a pixel lie side by side (nhwc): every
 * group of an output pixel in turn, so each input pixel's channels are read while in cache (plane by plane, as
 * for channel blocks, would read every cache line once per group: 4x slower on SqueezeNet's 64-channel pools).
 * C is a multiple of 8 there (kn_dnnl_view_of): no padded lane.
 */
KN_SIMD_CLONES static void kn_dnnl_pool_row_cl(const kn_dnnl_pool *p, const float *in, float *out, int64_t oy)
{
    const int64_t y0 = oy * p->sh - p->pt, y_lo = y0 < 0 ? 0 : y0;
    const int64_t y_hi = y0 + p->kh > p->in.h ? p->in.h : y0 + p->kh;
    const int64_t sh = p->in.sh, sw = p->in.sw, osw = p->out.sw, groups = p->out.groups;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        const int64_t x0 = ox * p->sw - p->pl, x_lo = x0 < 0 ? 0 : x0;
        const int64_t x_hi = x0 + p->kw > p->in.w ? p->in.w : x0 + p->kw;
        const int64_t cnt = p->include_pad ? p->kh * p->kw : (y_hi - y_lo) * (x_hi - x_lo);
        const float scale = cnt > 0 ? 1.0f / (float)cnt : 0.0f;
        const bool empty = y_hi <= y_lo || x_hi <= x_lo;
        for (int64_t g = 0; g < groups; g++) {
            kn_pool_v8 acc;
            for (int c = 0; c < 8; c++)
                acc[c] = p->avg ? 0.0f : -FLT_MAX;
            for (int64_t iy = y_lo; iy < y_hi; iy++)
                for (int64_t ix = x_lo; ix < x_hi; ix++) {
                    const kn_pool_v8 v = *(const kn_pool_v8 *)(in + iy * sh + ix * sw + 8 * g);
                    acc = p->avg ? acc + v : KN_POOL_MAX(acc, v);
                }
            if (p->avg)
                acc *= scale;
            else if (empty)
                acc = (kn_pool_v8){0};
            *(kn_pool_v8 *)(out + ox * osw + 8 * g) = acc;
        }
    }
}

void kn_dnnl_run_pool(const kn_dnnl_op *op)
{
    const kn_dnnl_pool *p = op->pool;
    if (p->grad) {
        kn_dnnl_run_pool_grad(op);
        return;
    }
    void *sp = NULL, *dp = NULL;
    dnnl_memory_get_data_handle(op->args[0].memory, &sp);
    dnnl_memory_get_data_handle(op->args[1].memory, &dp);
    const float *src = sp;
    float *dst = dp;
    const int64_t groups = p->out.groups, planes = p->out.n * groups;
    if (p->in.blk == 1 && p->out.blk == 1) { /* nhwc: a row of every group at once */
        const int64_t rows = p->out.n * p->oh;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int64_t r = 0; r < rows; r++) {
            const int64_t img = r / p->oh, oy = r % p->oh;
            kn_dnnl_pool_row_cl(p, src + img * p->in.sn, dst + img * p->out.sn + oy * p->out.sh, oy);
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) collapse(2)
#endif
    for (int64_t pc = 0; pc < planes; pc++)
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const int64_t img = pc / groups, grp = pc % groups;
            kn_dnnl_pool_row(p, src + img * p->in.sn + kn_dnnl_view_group(&p->in, grp),
                             dst + img * p->out.sn + kn_dnnl_view_group(&p->out, grp) + oy * p->out.sh, oy,
                             kn_dnnl_view_lanes(&p->out, grp));
        }
}
