/*
 * dnnl_pool_grad.c - MaxPool's gradient (MaxPoolGrad: dy, x -> dx) as kiln's own loop on 8-channel groups
 * (nChw8c, nChw16c, nhwc) in the oneDNN backend, for 2-D windows that tile the input (stride = kernel, no
 * padding, no dilation: the CNNs' 2x2 pooling). oneDNN's pooling backward needs the workspace of a forward
 * primitive run in training mode, which kiln's own forward pooling loop does not keep; this loop finds each
 * window's first maximum again in x, in the blocked layout the forward convolution left it in, and writes dx
 * in that layout (no reorder of x to plain and of dx back for the activation gradient that reads it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"
#include "ref_nn.h"

typedef float kn_pg_v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t kn_pg_m8 __attribute__((vector_size(32), aligned(4)));

kn_status kn_dnnl_try_pool_grad_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    *built = false;
    if (n->op != KN_OP_MAX_POOL_GRAD || n->num_inputs < 2)
        return KN_OK;
    const int dy = n->inputs[0], x = n->inputs[1], dx = n->outputs[0];
    const kn_shape *xs = &g->values[x].shape, *ys = &g->values[dy].shape;
    const kn_window_attrs *a = &n->attrs.window;
    if (a->nspatial != 2 || xs->rank != 4 || ys->rank != 4 || xs->dims[1] < 8 || !kn_dnnl_blocked_md(exe, x))
        return KN_OK; /* a plain x: the reference kernel reads it as it is */
    kn_dnnl_pool p = {.oh = ys->dims[2], .ow = ys->dims[3], .kh = a->kernel[0], .kw = a->kernel[1], .grad = true};
    for (int d = 0; d < 2; d++) {
        const int64_t k = a->kernel[d], s = a->stride[d] ? a->stride[d] : 1;
        if (k < 1 || s != k || a->pad_begin[d] || a->pad_end[d] || (a->dilation[d] && a->dilation[d] != 1) ||
            a->auto_pad != KN_AUTO_PAD_NOTSET || ys->dims[2 + d] * k > xs->dims[2 + d])
            return KN_OK;
    }
    p.sh = p.kh;
    p.sw = p.kw;
    /* x in its producer's layout, dy and dx in the same format */
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x, .plain = false};
    kn_dnnl_bind ddst = {.arg = DNNL_ARG_DIFF_DST, .value = dy, .plain = false};
    dnnl_memory_desc_t dxmd;
    kn_dnnl_view dyv;
    if (!kn_dnnl_view_md(exe, x, kn_dnnl_blocked_md(exe, x), &src.md) || !kn_dnnl_view_of(&src.md, &p.in) ||
        !kn_dnnl_view_md(exe, dy, &src.md, &ddst.md) || !kn_dnnl_view_of(&ddst.md, &dyv) ||
        !kn_dnnl_view_md(exe, dx, &src.md, &dxmd) || !kn_dnnl_view_of(&dxmd, &p.out) ||
        p.in.groups != p.out.groups || dyv.groups != p.in.groups || dyv.blk != p.in.blk)
        return KN_OK;
    p.dy = dyv;
    const kn_dnnl_bind ins[2] = {src, ddst};
    kn_status st = kn_dnnl_push_pool_op(exe, i, &p, ins, 2, DNNL_ARG_DIFF_SRC, dx, &dxmd, err);
    *built = st == KN_OK;
    return st;
}

/*
 * Rows oy * kh .. oy * kh + kh - 1 of image img's dx: each window's gradient goes to its first maximum in x (a
 * NaN wins, as in the reference kernel), every other element of the window gets 0; columns past the last window
 * are 0, and the padded lanes of a partial block. x, dy and dx point at the image. A window takes every 8-channel
 * group in turn: in nhwc the groups of a pixel share its cache lines, which a pass per group plane would fetch
 * again for each group, latency-bound (mnist_cnn's 64x64x24x24 at 1 thread: 5.7 ms, 2.6 ms in this order).
 */
KN_SIMD_CLONES static void kn_dnnl_pool_grad_rows(const kn_dnnl_pool *p, const float *xi, const float *dyi,
                                                  float *dxi, int64_t oy)
{
    const int64_t sh = p->in.sh, sw = p->in.sw, osh = p->out.sh, osw = p->out.sw, gsw = p->dy.sw;
    const int64_t y0 = oy * p->kh, groups = p->out.groups;
    for (int64_t ox = 0; ox < p->ow; ox++) {
        const int64_t x0 = ox * p->kw;
        for (int64_t grp = 0; grp < groups; grp++) {
            const float *x = xi + kn_dnnl_view_group(&p->in, grp);
            float *dx = dxi + kn_dnnl_view_group(&p->out, grp);
            kn_pg_v8 best = *(const kn_pg_v8 *)(x + y0 * sh + x0 * sw);
            kn_pg_m8 at = {0};
            for (int64_t ky = 0; ky < p->kh; ky++)
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    const kn_pg_v8 v = *(const kn_pg_v8 *)(x + (y0 + ky) * sh + (x0 + kx) * sw);
                    const kn_pg_m8 take = (v > best) | ((v != v) & (best == best));
                    const int32_t tap = (int32_t)(ky * p->kw + kx);
                    best = (kn_pg_v8)(((kn_pg_m8)v & take) | ((kn_pg_m8)best & ~take));
                    at = (tap & take) | (at & ~take);
                }
            kn_pg_v8 gv = *(const kn_pg_v8 *)(dyi + kn_dnnl_view_group(&p->dy, grp) + oy * p->dy.sh + ox * gsw);
            for (int c = kn_dnnl_view_lanes(&p->out, grp); c < 8; c++)
                gv[c] = 0.0f;
            for (int64_t ky = 0; ky < p->kh; ky++)
                for (int64_t kx = 0; kx < p->kw; kx++) {
                    const kn_pg_m8 hit = at == (int32_t)(ky * p->kw + kx);
                    *(kn_pg_v8 *)(dx + (y0 + ky) * osh + (x0 + kx) * osw) = (kn_pg_v8)((kn_pg_m8)gv & hit);
                }
        }
    }
    for (int64_t grp = 0; grp < groups; grp++) { /* columns past the last window */
        float *dx = dxi + kn_dnnl_view_group(&p->out, grp);
        for (int64_t ky = 0; ky < p->kh; ky++)
            for (int64_t ix = p->ow * p->kw; ix < p->in.w; ix++)
                *(kn_pg_v8 *)(dx + (y0 + ky) * osh + ix * osw) = (kn_pg_v8){0};
    }
}

/* Plane pointers of 8-channel group grp of image img: x, dy, dx; its real channels in *lanes. */
static void kn_dnnl_pool_grad_plane(const kn_dnnl_pool *p, const void *xp, const void *gp, void *dp, int64_t img,
                                    int64_t grp, const float **x, const float **dy, float **dx, int *lanes)
{
    *x = (const float *)xp + img * p->in.sn + kn_dnnl_view_group(&p->in, grp);
    *dy = (const float *)gp + img * p->dy.sn + kn_dnnl_view_group(&p->dy, grp);
    *dx = (float *)dp + img * p->out.sn + kn_dnnl_view_group(&p->out, grp);
    *lanes = kn_dnnl_view_lanes(&p->out, grp);
}

void kn_dnnl_run_pool_grad(const kn_dnnl_op *op)
{
    const kn_dnnl_pool *p = op->pool;
    void *xp = NULL, *gp = NULL, *dp = NULL;
    dnnl_memory_get_data_handle(op->args[0].memory, &xp);
    dnnl_memory_get_data_handle(op->args[1].memory, &gp);
    dnnl_memory_get_data_handle(op->args[2].memory, &dp);
    const int64_t groups = p->out.groups, rows = p->out.n * p->oh;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t img = r / p->oh;
        kn_dnnl_pool_grad_rows(p, (const float *)xp + img * p->in.sn, (const float *)gp + img * p->dy.sn,
                               (float *)dp + img * p->out.sn, r % p->oh);
    }
    if (p->oh * p->kh == p->in.h)
        return;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int64_t pc = 0; pc < p->out.n * groups; pc++) { /* rows past the last window */
        const float *x, *dy;
        float *dx;
        int lanes;
        kn_dnnl_pool_grad_plane(p, xp, gp, dp, pc / groups, pc % groups, &x, &dy, &dx, &lanes);
        for (int64_t iy = p->oh * p->kh; iy < p->in.h; iy++)
            for (int64_t ix = 0; ix < p->in.w; ix++)
                *(kn_pg_v8 *)(dx + iy * p->out.sh + ix * p->out.sw) = (kn_pg_v8){0};
    }
}
