/* dnnl_pool.c - 2-D MaxPool/AveragePool as kiln's own loop on nChw8c in the oneDNN backend (see dnnl_internal.h). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"
#include "ref_nn.h"

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
    kn_dnnl_pool p = {.n = xs->dims[0], .cb = (xs->dims[1] + 7) / 8, .h = xs->dims[2], .w = xs->dims[3],
                      .oh = ys->dims[2], .ow = ys->dims[3], .kh = kernel[0], .kw = kernel[1],
                      .sh = a->stride[0] ? a->stride[0] : 1, .sw = a->stride[1] ? a->stride[1] : 1,
                      .pt = pb[0], .pl = pb[1], .avg = n->op == KN_OP_AVERAGE_POOL,
                      .include_pad = a->count_include_pad};
    if (p.avg && p.include_pad)
        for (int d = 0; d < 2; d++) { /* windows past the end padding (ceil_mode) would count differently */
            int64_t s = d ? p.sw : p.sh, k = kernel[d], in = xs->dims[2 + d];
            if ((o[d] - 1) * s + k > in + pb[d] + pe[d])
                return KN_OK;
        }
    /* the input in nChw8c (a reorder when it is elsewhere), the output as a new nChw8c copy */
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x, .plain = false};
    dnnl_memory_desc_t ymd;
    dnnl_dims_t xd = {xs->dims[0], xs->dims[1], xs->dims[2], xs->dims[3]};
    dnnl_dims_t yd = {ys->dims[0], ys->dims[1], ys->dims[2], ys->dims[3]};
    if (dnnl_memory_desc_init_by_tag(&src.md, 4, xd, dnnl_f32, dnnl_aBcd8b) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_aBcd8b) != dnnl_success)
        return KN_OK;
    kn_dnnl_pool *pool = malloc(sizeof *pool);
    if (!pool)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    *pool = p;
    dnnl_memory_t mems[2];
    int r_in = -1, r_out, idx;
    kn_status st = kn_dnnl_bind_mem(exe, i, &src, &src.md, &mems[0], &r_in, err);
    if (st == KN_OK && (st = kn_dnnl_new_rep(exe, i, y, &ymd, exe->num_ops, &r_out, err)) == KN_OK) {
        exe->plain_ok[y] = false;
        mems[1] = exe->reps[r_out].mem;
        st = kn_dnnl_push_op(exe, i, &idx, err);
    }
    if (st != KN_OK) {
        free(pool);
        return st;
    }
    kn_dnnl_op *op = &exe->ops[idx];
    op->pool = pool;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC, mems[0], err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DST, mems[1], err)) != KN_OK)
        return st;
    if (r_in >= 0)
        exe->reps[r_in].last_op = idx;
    *built = true;
    return KN_OK;
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

/* One output row oy of plane `in` (h x w x 8) into `out` (ow x 8); compiled for AVX2 and the baseline. */
KN_SIMD_CLONES static void kn_dnnl_pool_row(const kn_dnnl_pool *p, const float *in, float *out, int64_t oy)
{
    const int64_t y0 = oy * p->sh - p->pt, y_lo = y0 < 0 ? 0 : y0;
    const int64_t y_hi = y0 + p->kh > p->h ? p->h : y0 + p->kh;
    int64_t ox = 0;
    if (!p->avg && p->kw == 2 && y_hi - y_lo == 2 && p->pl == 0) {
        /* 2x2 max windows inside the image (the CNN classifiers' pooling): no bounds, no loops */
        const float *r0 = in + y_lo * p->w * 8, *r1 = r0 + p->w * 8;
        for (; ox < p->ow && ox * p->sw + 2 <= p->w; ox++) {
            const int64_t x = ox * p->sw * 8;
            kn_pool_v8 acc = KN_POOL_MAX(*(const kn_pool_v8 *)(r0 + x), *(const kn_pool_v8 *)(r0 + x + 8));
            acc = KN_POOL_MAX(acc, *(const kn_pool_v8 *)(r1 + x));
            *(kn_pool_v8 *)(out + ox * 8) = KN_POOL_MAX(acc, *(const kn_pool_v8 *)(r1 + x + 8));
        }
    }
    for (; ox < p->ow; ox++) {
        const int64_t x0 = ox * p->sw - p->pl, x_lo = x0 < 0 ? 0 : x0;
        const int64_t x_hi = x0 + p->kw > p->w ? p->w : x0 + p->kw;
        kn_pool_v8 acc;
        for (int c = 0; c < 8; c++)
            acc[c] = p->avg ? 0.0f : -FLT_MAX;
        for (int64_t iy = y_lo; iy < y_hi; iy++)
            for (int64_t ix = x_lo; ix < x_hi; ix++) {
                const kn_pool_v8 v = *(const kn_pool_v8 *)(in + (iy * p->w + ix) * 8);
                acc = p->avg ? acc + v : KN_POOL_MAX(acc, v);
            }
        if (p->avg) {
            int64_t cnt = p->include_pad ? p->kh * p->kw : (y_hi - y_lo) * (x_hi - x_lo);
            acc *= cnt > 0 ? 1.0f / (float)cnt : 0.0f;
        } else if (y_hi <= y_lo || x_hi <= x_lo) {
            acc = (kn_pool_v8){0}; /* an empty window (only padding) */
        }
        *(kn_pool_v8 *)(out + ox * 8) = acc;
    }
}

void kn_dnnl_run_pool(const kn_dnnl_op *op)
{
    const kn_dnnl_pool *p = op->pool;
    void *sp = NULL, *dp = NULL;
    dnnl_memory_get_data_handle(op->args[0].memory, &sp);
    dnnl_memory_get_data_handle(op->args[1].memory, &dp);
    const float *src = sp;
    float *dst = dp;
    const int64_t planes = p->n * p->cb;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) collapse(2)
#endif
    for (int64_t pc = 0; pc < planes; pc++)
        for (int64_t oy = 0; oy < p->oh; oy++)
            kn_dnnl_pool_row(p, src + pc * p->h * p->w * 8, dst + (pc * p->oh + oy) * p->ow * 8, oy);
}
