/*
 * ref_conv.c - reference Conv and ConvTranspose (float32, 1-D to 3-D).
 *
 * Conv lowers each (image, group, tile of output positions) to im2col +
 * one cblas_sgemm; tiles run on OpenMP threads, each with its own im2col
 * buffer, when sgemm may run inside a parallel region (see ref_nn.h),
 * otherwise one tile per (image, group) and OpenBLAS threads the sgemm. A
 * 1x1, stride-1, unpadded conv multiplies the input directly, depthwise
 * convs (one input channel per group) use a direct loop, and convs with at
 * most 4 output channels per group (stride 1 along rows) compute each output
 * row directly from padded copies of the input rows. ConvTranspose is one
 * sgemm (W^T X) followed by col2im. 1-D and 2-D problems are handled as 3-D
 * ones with leading spatial dimensions of size 1, so there is one code path.
 * Bias is written into the output before the sgemm/col2im accumulates onto
 * it. Fused post-ops are not applied here: the executor calls
 * kn_ref_apply_fused afterwards.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ref_nn.h"
#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

/*
 * A window mapping between an "image" (the tensor read by im2col, or written
 * by col2im) and "col" positions: image index = col index * s - pb + k * d,
 * per axis, always 3 axes (leading ones have size 1).
 */
typedef struct kn_win {
    int64_t img[3], col[3];
    int64_t k[3], s[3], d[3], pb[3];
    int64_t img_size, col_size, k_size;
} kn_win;

/* Everything a conv or conv-transpose kernel needs, resolved from the node and tensors. */
typedef struct kn_conv_geom {
    int64_t n, c, m, group, cg, mg; /* batch, in/out channels, group, per-group in/out channels */
    int64_t in_size, out_size;      /* spatial elements of X and Y */
    kn_win win;
} kn_conv_geom;

/* Resolve shapes and the window of a Conv (transpose false) or ConvTranspose node. */
static kn_status conv_setup(const kn_node *node, const kn_tensor *x, const kn_tensor *w, const kn_tensor *b,
                            const kn_tensor *y, bool transpose, kn_conv_geom *g, kn_error *err)
{
    if (x->dtype != KN_F32 || w->dtype != KN_F32 || y->dtype != KN_F32 || (b && b->dtype != KN_F32))
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): only float32 is supported", node->name,
                            KN_OPNAME(node));
    int rank = x->shape.rank;
    int ns = rank - 2;
    if (ns < 1 || ns > KN_MAX_SPATIAL || w->shape.rank != rank || y->shape.rank != rank)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected input/weight/output ranks %d/%d/%d",
                            node->name, KN_OPNAME(node), rank, w->shape.rank, y->shape.rank);
    kn_window_attrs a = node->attrs.window;
    a.nspatial = ns;
    int64_t kernel[KN_MAX_SPATIAL], pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    for (int i = 0; i < ns; i++)
        kernel[i] = w->shape.dims[2 + i];
    kn_status st = kn_window_resolve(node, &a, x->shape.dims + 2, kernel, transpose, pb, pe, o, err);
    if (st)
        return st;
    memset(g, 0, sizeof *g);
    g->n = x->shape.dims[0];
    g->c = x->shape.dims[1];
    g->group = a.group ? a.group : 1;
    if (!transpose) {
        g->m = w->shape.dims[0];
        g->cg = w->shape.dims[1];
        g->mg = g->group > 0 ? g->m / g->group : 0;
    } else {
        g->mg = w->shape.dims[1];
        g->m = g->mg * g->group;
        g->cg = g->group > 0 ? g->c / g->group : 0;
    }
    bool ok = g->group >= 1 && g->cg * g->group == g->c && g->mg * g->group == g->m &&
              y->shape.dims[0] == g->n && y->shape.dims[1] == g->m &&
              (!b || (b->shape.rank == 1 && b->shape.dims[0] == g->m));
    if (transpose)
        ok = ok && w->shape.dims[0] == g->c;
    for (int i = 0; i < ns; i++)
        ok = ok && y->shape.dims[2 + i] == o[i];
    if (!ok)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): tensor shapes do not fit together (run shape inference first)",
                            node->name, KN_OPNAME(node));
    /* pad to 3 axes; the image is X for conv, Y for conv transpose */
    kn_win *wn = &g->win;
    int off = 3 - ns;
    for (int i = 0; i < 3; i++) {
        wn->img[i] = wn->col[i] = wn->k[i] = wn->s[i] = wn->d[i] = 1;
        wn->pb[i] = 0;
    }
    for (int i = 0; i < ns; i++) {
        wn->img[off + i] = transpose ? o[i] : x->shape.dims[2 + i];
        wn->col[off + i] = transpose ? x->shape.dims[2 + i] : o[i];
        wn->k[off + i] = kernel[i];
        wn->s[off + i] = a.stride[i] ? a.stride[i] : 1;
        wn->d[off + i] = a.dilation[i] ? a.dilation[i] : 1;
        wn->pb[off + i] = pb[i];
    }
    wn->img_size = wn->img[0] * wn->img[1] * wn->img[2];
    wn->col_size = wn->col[0] * wn->col[1] * wn->col[2];
    wn->k_size = wn->k[0] * wn->k[1] * wn->k[2];
    g->in_size = transpose ? wn->col_size : wn->img_size;
    g->out_size = transpose ? wn->img_size : wn->col_size;
    return KN_OK;
}

/* True when the window is the identity map (1x1 kernel, stride 1, no padding). */
/* Output positions per block of a few-output-channel row (4 vectors of 8), and the padded row width. */
#define KN_FEW_BLOCK 32
static int64_t few_out_span(const kn_win *wn)
{
    return (wn->col[2] + KN_FEW_BLOCK - 1) / KN_FEW_BLOCK * KN_FEW_BLOCK + (wn->k[2] - 1) * wn->d[2];
}

static bool win_is_identity(const kn_win *w)
{
    for (int i = 0; i < 3; i++)
        if (w->k[i] != 1 || w->s[i] != 1 || w->pb[i] != 0 || w->img[i] != w->col[i])
            return false;
    return true;
}

/*
 * The swapped window of a stride-1 window w: image and col positions exchanged, taps reversed. Where w maps col
 * position o and tap k to image index i = o - pb + k*d, the swapped one maps image index i (now a col position)
 * and tap k' = K-1-k to o = i - pb' + k'*d with pb' = d*(K-1) - pb, so its im2col gathers, for every position of
 * w's image, the col values that w's taps pair with it (the gather form of col2im, and of a weight gradient's
 * product on the output gradient). Taps run reversed in the flattened index too (K-1-k per axis).
 */
static bool win_swap(const kn_win *w, kn_win *sw)
{
    for (int i = 0; i < 3; i++)
        if (w->s[i] != 1)
            return false;
    *sw = *w;
    for (int i = 0; i < 3; i++) {
        sw->img[i] = w->col[i];
        sw->col[i] = w->img[i];
        sw->pb[i] = w->d[i] * (w->k[i] - 1) - w->pb[i];
    }
    sw->img_size = w->col_size;
    sw->col_size = w->img_size;
    return true;
}

/*
 * im2col of output positions [p0, p1): col[(c,kd,kh,kw), p - p0] =
 * img[c, od*s-pb+kd*d, ...] for p = (od,oh,ow), or 0 outside the image.
 * img has `channels` planes of win->img_size floats; col rows are p1-p0 long.
 */
static KN_SIMD_CLONES void im2col_tile(const float *img, float *col, const kn_win *w, int64_t channels, int64_t p0,
                                       int64_t p1)
{
    const int64_t KD = w->k[0], KH = w->k[1], KW = w->k[2];
    const int64_t ID = w->img[0], IH = w->img[1], IW = w->img[2];
    const int64_t OH = w->col[1], OW = w->col[2];
    const int64_t ld = p1 - p0, rows = channels * w->k_size;
    const int64_t sw = w->s[2];
    const int64_t od0 = p0 / (OH * OW), oh0 = (p0 / OW) % OH, ow0 = p0 % OW;
    for (int64_t r = 0; r < rows; r++) {
        int64_t kw = r % KW, kh = (r / KW) % KH, kd = (r / (KW * KH)) % KD, c = r / w->k_size;
        const float *src = img + c * w->img_size;
        float *dst = col + r * ld;
        int64_t ow_off = kw * w->d[2] - w->pb[2];
        int64_t lo, hi;
        kn_valid_range(ow_off, sw, IW, OW, &lo, &hi);
        int64_t od = od0, oh = oh0, ow = ow0;
        for (int64_t p = p0; p < p1;) {
            /* one segment: columns [ow, end) of output row (od, oh) */
            int64_t end = OW < ow + (p1 - p) ? OW : ow + (p1 - p);
            int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
            int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
            if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
                memset(dst, 0, sizeof(float) * (size_t)(end - ow));
            } else {
                const float *row = src + (id * IH + ih) * IW;
                int64_t a = lo < ow ? ow : lo > end ? end : lo;
                int64_t b = hi < a ? a : hi > end ? end : hi;
                if (a > ow)
                    memset(dst, 0, sizeof(float) * (size_t)(a - ow));
                if (sw == 1) {
                    memcpy(dst + (a - ow), row + (ow_off + a), sizeof(float) * (size_t)(b - a));
                } else {
                    KN_OMP_SIMD
                    for (int64_t x = a; x < b; x++)
                        dst[x - ow] = row[ow_off + x * sw];
                }
                if (end > b)
                    memset(dst + (b - ow), 0, sizeof(float) * (size_t)(end - b));
            }
            dst += end - ow;
            p += end - ow;
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                od++;
            }
        }
    }
}

/* im2col of `channels` planes through window w, parallel over the planes (each writes its own rows). */
static void im2col_planes(const float *img, float *col, const kn_win *w, int64_t channels)
{
    KN_OMP_FOR(channels > 1 && channels * w->k_size * w->col_size > KN_PAR_MIN)
    for (int64_t c = 0; c < channels; c++)
        im2col_tile(img + c * w->img_size, col + c * w->k_size * w->col_size, w, 1, 0, w->col_size);
}

/*
 * col2im: img[c, id*s-pb+kd*d, ...] += col[(c,kd,kh,kw), (id,ih,iw)] for
 * positions inside the image. Parallel over channels (each writes its own plane).
 */
static void col2im(const float *col, float *img, const kn_win *w, int64_t channels)
{
    const int64_t KD = w->k[0], KH = w->k[1], KW = w->k[2];
    const int64_t OD = w->img[0], OH = w->img[1], OW = w->img[2];
    const int64_t ID = w->col[0], IH = w->col[1], IW = w->col[2];
    const int64_t P = w->col_size;
    const int64_t sw = w->s[2];
    KN_OMP_FOR(channels > 1 && channels * w->k_size * P > KN_PAR_MIN)
    for (int64_t c = 0; c < channels; c++) {
        float *dst = img + c * w->img_size;
        for (int64_t kd = 0; kd < KD; kd++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++) {
                    const float *src = col + (((c * KD + kd) * KH + kh) * KW + kw) * P;
                    int64_t ow_off = kw * w->d[2] - w->pb[2];
                    int64_t lo, hi;
                    kn_valid_range(ow_off, sw, OW, IW, &lo, &hi);
                    for (int64_t id = 0; id < ID; id++) {
                        int64_t od = id * w->s[0] - w->pb[0] + kd * w->d[0];
                        if (od < 0 || od >= OD)
                            continue;
                        for (int64_t ih = 0; ih < IH; ih++) {
                            int64_t oh = ih * w->s[1] - w->pb[1] + kh * w->d[1];
                            if (oh < 0 || oh >= OH)
                                continue;
                            const float *srow = src + (id * IH + ih) * IW;
                            float *row = dst + (od * OH + oh) * OW;
                            if (sw == 1) {
                                KN_OMP_SIMD
                                for (int64_t iw = lo; iw < hi; iw++)
                                    row[ow_off + iw] += srow[iw];
                            } else {
                                KN_OMP_SIMD
                                for (int64_t iw = lo; iw < hi; iw++)
                                    row[ow_off + iw * sw] += srow[iw];
                            }
                        }
                    }
                }
    }
}

/* Set each of `planes` output planes (plane p of channel p % m) to its bias, or to zero. */
static void fill_bias(float *y, const float *bias, int64_t planes, int64_t m, int64_t size)
{
    KN_OMP_FOR(planes * size > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        float *yp = y + p * size;
        if (!bias) {
            memset(yp, 0, sizeof(float) * (size_t)size);
        } else {
            float v = bias[p % m];
            KN_OMP_SIMD
            for (int64_t i = 0; i < size; i++)
                yp[i] = v;
        }
    }
}

/*
 * One output plane of a depthwise conv, the general way (3-D kernels,
 * strides above 2, mixed strides): input plane xp, kernel wp, bias b0.
 * range[3*kw..] = (offset, first, end) of the output columns that kernel
 * column kw reaches inside the input, so the inner loops need no checks.
 */
static KN_SIMD_CLONES void dw_plane(const kn_win *wn, const int64_t *range, const float *xp, const float *wp,
                                    float b0, float *yp)
{
    const int64_t KD = wn->k[0], KH = wn->k[1], KW = wn->k[2];
    const int64_t ID = wn->img[0], IH = wn->img[1], IW = wn->img[2];
    const int64_t OD = wn->col[0], OH = wn->col[1], OW = wn->col[2];
    const int64_t sw = wn->s[2];
    for (int64_t od = 0; od < OD; od++)
        for (int64_t oh = 0; oh < OH; oh++) {
            float *yrow = yp + (od * OH + oh) * OW;
            KN_OMP_SIMD
            for (int64_t ow = 0; ow < OW; ow++)
                yrow[ow] = b0;
            for (int64_t kd = 0; kd < KD; kd++) {
                int64_t id = od * wn->s[0] - wn->pb[0] + kd * wn->d[0];
                if (id < 0 || id >= ID)
                    continue;
                for (int64_t kh = 0; kh < KH; kh++) {
                    int64_t ih = oh * wn->s[1] - wn->pb[1] + kh * wn->d[1];
                    if (ih < 0 || ih >= IH)
                        continue;
                    const float *xrow = xp + (id * IH + ih) * IW;
                    const float *wk = wp + (kd * KH + kh) * KW;
                    for (int64_t kw = 0; kw < KW; kw++) {
                        const float wv = wk[kw];
                        const int64_t off = range[3 * kw], lo = range[3 * kw + 1], hi = range[3 * kw + 2];
                        KN_OMP_SIMD
                        for (int64_t ow = lo; ow < hi; ow++)
                            yrow[ow] += wv * xrow[off + ow * sw];
                    }
                }
            }
        }
}

/*
 * The "flat" depthwise path for 1-D/2-D kernels with stride 1 (any
 * dilation) or stride 2 (no dilation) on both axes: the zero-padded input
 * plane is split into s*s phase planes (even/odd rows x even/odd columns for
 * stride 2) of width wh, so that every kernel tap reads one phase plane at a
 * fixed offset from output index i = oh * wh + ow. Each tap is then one long
 * contiguous multiply-add over the whole plane (columns ow >= OW are computed
 * and dropped), with no edge cases at all.
 */
typedef struct kn_dw_flat {
    int64_t s;         /* stride: 1 or 2 */
    int64_t hp, wp;    /* padded input extent that the windows cover */
    int64_t wh, plane; /* columns of, and floats in, one phase plane */
    int64_t n_ext;     /* outputs on the flat grid: (OH - 1) * wh + OW */
    size_t scratch;    /* floats per thread: the phase planes and the flat outputs */
} kn_dw_flat;

static bool dw_flat_setup(const kn_win *wn, kn_dw_flat *f)
{
    const int64_t KH = wn->k[1], KW = wn->k[2], OH = wn->col[1], OW = wn->col[2];
    const int64_t s = wn->s[2];
    if (wn->k[0] != 1 || wn->col[0] != 1 || wn->img[0] != 1 || s > 2)
        return false;
    if (wn->s[1] != s && !(OH == 1 && KH == 1)) /* one output row of a 1-row kernel: stride unused */
        return false;
    if (s == 2 && (wn->d[1] != 1 || wn->d[2] != 1))
        return false;
    f->s = s;
    f->hp = (OH - 1) * s + (KH - 1) * wn->d[1] + 1;
    f->wp = (OW - 1) * s + (KW - 1) * wn->d[2] + 1;
    f->wh = (f->wp + s - 1) / s;
    f->plane = ((f->hp + s - 1) / s) * f->wh;
    f->n_ext = (OH - 1) * f->wh + OW;
    f->scratch = (size_t)(s * s * f->plane + f->n_ext);
    return f->scratch < ((size_t)1 << 26); /* 256 MiB per thread: beyond that, the row path */
}

static KN_SIMD_CLONES void dw_plane_flat(const kn_win *wn, const kn_dw_flat *f, const float *xp, const float *wp,
                                         float bias, float *buf, float *yp)
{
    const int64_t KH = wn->k[1], KW = wn->k[2], IH = wn->img[1], IW = wn->img[2];
    const int64_t OH = wn->col[1], OW = wn->col[2], pt = wn->pb[1], pl = wn->pb[2];
    const int64_t s = f->s, wh = f->wh, plane = f->plane, n = f->n_ext;
    float *ph = buf, *ye = buf + s * s * plane;
    /* phase planes of the zero-padded input: padded (r, c) -> plane (r%s, c%s), index (r/s)*wh + c/s */
    memset(ph, 0, sizeof(float) * (size_t)(s * s * plane));
    const int64_t c0 = pl > 0 ? pl : 0, c1 = pl + IW < f->wp ? pl + IW : f->wp;
    for (int64_t r = 0; r < f->hp; r++) {
        const int64_t ir = r - pt;
        if (ir < 0 || ir >= IH || c1 <= c0)
            continue;
        const int64_t xo = ir * IW - pl; /* xp[xo + c] is padded column c, for c in [c0, c1) */
        if (s == 1) {
            memcpy(ph + r * wh + c0, xp + (xo + c0), sizeof(float) * (size_t)(c1 - c0));
        } else {
            float *even = ph + ((r & 1) * 2) * plane + (r >> 1) * wh;
            float *odd = even + plane;
            KN_OMP_SIMD
            for (int64_t j = (c0 + 1) / 2; j < (c1 + 1) / 2; j++) /* even columns c = 2j in [c0, c1) */
                even[j] = xp[xo + 2 * j];
            KN_OMP_SIMD
            for (int64_t j = c0 / 2; j < c1 / 2; j++) /* odd columns c = 2j + 1 */
                odd[j] = xp[xo + 2 * j + 1];
        }
    }
    KN_OMP_SIMD
    for (int64_t i = 0; i < n; i++)
        ye[i] = bias;
    /* taps, a kernel row at a time when it is 3 wide */
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t rr = kh * wn->d[1];
        const float *wk = wp + kh * KW;
        if (KW == 3) {
            const float *q[3];
            for (int64_t kw = 0; kw < 3; kw++) {
                const int64_t cc = kw * wn->d[2];
                q[kw] = ph + ((rr % s) * s + cc % s) * plane + (rr / s) * wh + cc / s;
            }
            const float *q0 = q[0], *q1 = q[1], *q2 = q[2];
            const float w0 = wk[0], w1 = wk[1], w2 = wk[2];
            KN_OMP_SIMD
            for (int64_t i = 0; i < n; i++)
                ye[i] += w0 * q0[i] + w1 * q1[i] + w2 * q2[i];
        } else {
            for (int64_t kw = 0; kw < KW; kw++) {
                const int64_t cc = kw * wn->d[2];
                const float *q = ph + ((rr % s) * s + cc % s) * plane + (rr / s) * wh + cc / s;
                const float wv = wk[kw];
                KN_OMP_SIMD
                for (int64_t i = 0; i < n; i++)
                    ye[i] += wv * q[i];
            }
        }
    }
    for (int64_t oh = 0; oh < OH; oh++)
        memcpy(yp + oh * OW, ye + oh * wh, sizeof(float) * (size_t)OW);
}

/*
 * How kn_ref_conv runs a Conv on `threads` threads, and the scratch that
 * takes: the one decision shared by the kernel and its scratch query.
 */
typedef enum kn_conv_mode {
    KN_CONV_EMPTY,     /* nothing to compute */
    KN_CONV_BIAS_ONLY, /* no input channels: the output is the bias */
    KN_CONV_DW_FLAT,   /* depthwise, phase planes per thread */
    KN_CONV_DW_ROWS,   /* depthwise, general rows with a column-range table */
    KN_CONV_TILES,     /* im2col tiles + sgemm, one tile per thread at a time */
    KN_CONV_WIDE,      /* whole im2col per (image, group), sgemm split over the threads */
    KN_CONV_FEW_OUT    /* at most KN_CONV_FEW_OUT_MAX output channels per group: direct rows */
} kn_conv_mode;

/*
 * Output channels per group up to which a conv runs as direct rows: with
 * im2col + sgemm such a conv is a matrix-vector product over a large column
 * buffer (a GAN generator's 64 -> 1 5x5 image layer at 28x28, batch 8: 3.6 ms).
 */
#define KN_CONV_FEW_OUT_MAX 4

/*
 * Multiply-adds below which an im2col + sgemm conv stays on one thread: a
 * fork-join costs a few microseconds, and a conv this small takes about 10
 * (mnist_small's 0.6 M MAC conv: 14 us on one thread, 13 us on two, with a
 * stall whenever the worker is descheduled, issue 19).
 */
#define KN_CONV_PAR_MIN_MACS (INT64_C(1) << 20)

typedef struct kn_conv_plan {
    kn_conv_mode mode;
    int nthreads;      /* threads of the parallel loop (DW_FLAT, TILES) */
    int64_t tiles;     /* column tiles per (image, group) (TILES) */
    size_t per_thread; /* bytes of each thread's piece of scratch, 64-byte aligned (0: none) */
    size_t bytes;      /* all the scratch: SIZE_MAX when it overflows */
    kn_dw_flat flat;
} kn_conv_plan;

/* per_thread = align(a * b * elem), bytes = per_thread * nth; SIZE_MAX on overflow. */
static void conv_plan_bytes(kn_conv_plan *p, size_t a, size_t b, size_t elem, size_t nth)
{
    size_t n, bytes;
    if (!kn_size_mul(a, b, &n) || !kn_size_mul(n, elem, &bytes) ||
        (p->per_thread = kn_ref_scratch_align(bytes)) == SIZE_MAX || !kn_size_mul(p->per_thread, nth, &p->bytes)) {
        p->per_thread = SIZE_MAX;
        p->bytes = SIZE_MAX;
    }
}

static void conv_plan(const kn_conv_geom *g, int threads, kn_conv_plan *p)
{
    memset(p, 0, sizeof *p);
    p->nthreads = 1;
    p->tiles = 1;
    if (g->n == 0 || g->m == 0 || g->out_size == 0) {
        p->mode = KN_CONV_EMPTY;
        return;
    }
    const kn_win *wn = &g->win;
    if (g->cg == 1 && g->group > 1) {
        const int64_t planes = g->n * g->m;
        const bool par = planes > 1 && planes * g->out_size * wn->k_size > KN_PAR_MIN;
        if (dw_flat_setup(wn, &p->flat)) {
            p->mode = KN_CONV_DW_FLAT;
            p->nthreads = par && threads > 1 ? threads : 1;
            conv_plan_bytes(p, p->flat.scratch, 1, sizeof(float), (size_t)p->nthreads);
        } else {
            p->mode = KN_CONV_DW_ROWS;
            conv_plan_bytes(p, 3, (size_t)wn->k[2], sizeof(int64_t), 1);
        }
        return;
    }
    const int64_t K = g->cg * wn->k_size, P = g->out_size;
    if (K == 0) {
        p->mode = KN_CONV_BIAS_ONLY;
        return;
    }
    const bool direct = win_is_identity(wn);
    if (g->mg <= KN_CONV_FEW_OUT_MAX && !direct && wn->s[2] == 1) {
        const int64_t rows = g->n * g->m * wn->col[0] * wn->col[1];
        p->mode = KN_CONV_FEW_OUT;
        p->nthreads = threads > 1 && rows > 1 && rows * wn->col[2] * K > KN_PAR_MIN ? threads : 1;
        conv_plan_bytes(p, (size_t)few_out_span(wn), (size_t)(g->n * g->c * wn->img[0] * wn->img[1]),
                        sizeof(float), 1);
        return;
    }
    /*
     * With OpenMP-driven sgemm (ref_nn.h): enough column tiles for every
     * thread, im2col tiles of about 1 MiB (kept in cache), each at least 64
     * columns wide; too few such tiles for the threads -> the wide path.
     */
    const int64_t ng = g->n * g->group;
    const double macs = (double)ng * (double)g->mg * (double)K * (double)P;
    const int nth = threads > 1 && macs >= (double)KN_CONV_PAR_MIN_MACS ? threads : 1;
    int64_t tiles = 1;
    if (nth > 1) {
        tiles = (nth + ng - 1) / ng;
        const int64_t cache_tiles = (K * P * (int64_t)sizeof(float)) >> 20;
        const int64_t max_tiles = P / 64 > 1 ? P / 64 : 1;
        tiles = tiles < cache_tiles ? cache_tiles : tiles;
        tiles = tiles > max_tiles ? max_tiles : tiles;
        if (ng * tiles < nth) {
            p->mode = KN_CONV_WIDE;
            if (!direct)
                conv_plan_bytes(p, (size_t)K, (size_t)P, sizeof(float), 1);
            return;
        }
    }
    p->mode = KN_CONV_TILES;
    p->tiles = tiles;
    p->nthreads = nth;
    if (!direct)
        conv_plan_bytes(p, (size_t)K, (size_t)((P + tiles - 1) / tiles), sizeof(float), (size_t)nth);
}

/* Depthwise conv (one input channel per group): direct loops, parallel over output planes. */
static void conv_depthwise(const kn_conv_geom *g, const kn_conv_plan *cp, const float *x, const float *w,
                           const float *bias, float *y, void *scratch)
{
    const kn_win *wn = &g->win;
    const int64_t planes = g->n * g->m;
    const bool par = planes > 1 && planes * g->out_size * wn->k_size > KN_PAR_MIN;
    (void)par; /* unused without OpenMP */
    if (cp->mode == KN_CONV_DW_FLAT) {
        const int nth = cp->nthreads;
        const kn_dw_flat *f = &cp->flat;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (nth > 1)
#endif
        for (int64_t p = 0; p < planes; p++) {
            int64_t n = p / g->m, m = p % g->m, c = m / g->mg;
#ifdef _OPENMP
            float *buf = (float *)((char *)scratch + (size_t)omp_get_thread_num() * cp->per_thread);
#else
            float *buf = scratch;
#endif
            dw_plane_flat(wn, f, x + (n * g->c + c) * g->in_size, w + m * wn->k_size, bias ? bias[m] : 0.0f, buf,
                          y + p * g->out_size);
        }
        return;
    }
    const int64_t KW = wn->k[2], IW = wn->img[2], OW = wn->col[2];
    /* per kernel column: the valid output-column range, shared by every row */
    int64_t *range = scratch;
    for (int64_t kw = 0; kw < KW; kw++) {
        range[3 * kw] = kw * wn->d[2] - wn->pb[2];
        kn_valid_range(range[3 * kw], wn->s[2], IW, OW, &range[3 * kw + 1], &range[3 * kw + 2]);
    }
    KN_OMP_FOR(par)
    for (int64_t p = 0; p < planes; p++) {
        int64_t n = p / g->m, m = p % g->m, c = m / g->mg;
        dw_plane(wn, range, x + (n * g->c + c) * g->in_size, w + m * wn->k_size, bias ? bias[m] : 0.0f,
                 y + p * g->out_size);
    }
}

static kn_status check_blas_dims(const kn_node *node, int64_t a, int64_t b, int64_t c, kn_error *err)
{
    if (a > INT_MAX || b > INT_MAX || c > INT_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): matrix dimensions exceed the BLAS limit",
                            node->name, KN_OPNAME(node));
    return KN_OK;
}

static const kn_tensor *bias_tensor(const kn_node *node, const kn_tensor *in)
{
    return (node->num_inputs > 2 && in[2].data) ? &in[2] : NULL;
}

/*
 * Conv as work units (image, group, tile of output columns), each an im2col
 * of its tile into the thread's own piece of scratch and one single-threaded
 * sgemm; cp->tiles tiles per (image, group), on cp->nthreads threads (1: one
 * sgemm per (image, group), threaded by OpenBLAS itself).
 */
static void conv_tiles(const kn_conv_geom *g, const kn_conv_plan *cp, const float *x, const float *w,
                       const float *bias, float *y, void *scratch)
{
    const kn_win *wn = &g->win;
    const int64_t tiles = cp->tiles;
    const int nthreads = cp->nthreads;
    const int64_t K = g->cg * wn->k_size, P = g->out_size;
    const int64_t tile_cols = (P + tiles - 1) / tiles, units = g->n * g->group * tiles;
    const bool direct = win_is_identity(wn);
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
#endif
    for (int64_t u = 0; u < units; u++) {
        const int64_t n = u / (g->group * tiles), gi = (u / tiles) % g->group, t = u % tiles;
        const int64_t p0 = t * tile_cols, p1 = p0 + tile_cols < P ? p0 + tile_cols : P;
        if (p0 >= p1)
            continue;
        const float *xg = x + (n * g->c + gi * g->cg) * g->in_size;
        float *yt = y + (n * g->m + gi * g->mg) * P + p0;
        /* bias first: the sgemm accumulates onto it (beta 1) */
        for (int64_t m = 0; m < g->mg; m++) {
            const float v = bias ? bias[gi * g->mg + m] : 0.0f;
            float *row = yt + m * P;
            KN_OMP_SIMD
            for (int64_t i = 0; i < p1 - p0; i++)
                row[i] = v;
        }
        const float *b = xg + p0;
        int64_t ldb = P;
        if (!direct) {
#ifdef _OPENMP
            float *col = (float *)((char *)scratch + (size_t)omp_get_thread_num() * cp->per_thread);
#else
            float *col = scratch;
#endif
            im2col_tile(xg, col, wn, g->cg, p0, p1);
            b = col;
            ldb = p1 - p0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->mg, (int)(p1 - p0), (int)K, 1.0f,
                    w + gi * g->mg * K, (int)K, b, (int)ldb, 1.0f, yt, (int)P);
    }
}

/*
 * Conv with fewer column tiles than threads (small images, deep layers):
 * per (image, group), im2col of every channel in parallel, then an sgemm
 * split over the threads by output channels or columns (kn_ref_sgemm).
 */
static void conv_wide(const kn_conv_geom *g, const float *x, const float *w, const float *bias, float *y,
                      float *col)
{
    const kn_win *wn = &g->win;
    const int64_t K = g->cg * wn->k_size, P = g->out_size;
    const bool direct = win_is_identity(wn);
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (n * g->c + gi * g->cg) * g->in_size;
            float *yg = y + (n * g->m + gi * g->mg) * P;
            fill_bias(yg, bias ? bias + gi * g->mg : NULL, g->mg, g->mg, P);
            if (!direct) {
                KN_OMP_FOR(g->cg > 1 && K * P > KN_PAR_MIN)
                for (int64_t c = 0; c < g->cg; c++)
                    im2col_tile(xg + c * g->in_size, col + c * wn->k_size * P, wn, 1, 0, P);
            }
            kn_ref_sgemm(false, false, g->mg, P, K, 1.0f, w + gi * g->mg * K, K, direct ? xg : col, P, 1.0f, yg, P);
        }
}

typedef float kn_few_v8 __attribute__((vector_size(32), aligned(4)));

/* acc0..3 += the kw taps (weights wr, dilation dx) of the 32 outputs starting at pr. */
static inline __attribute__((always_inline)) void few_out_taps(const float *pr, const float *wr, int64_t kw,
                                                               int64_t dx, kn_few_v8 *acc0, kn_few_v8 *acc1,
                                                               kn_few_v8 *acc2, kn_few_v8 *acc3)
{
    for (int64_t kx = 0; kx < kw; kx++) {
        const float *q = pr + kx * dx;
        const float wv = wr[kx];
        *acc0 += wv * *(const kn_few_v8 *)q;
        *acc1 += wv * *(const kn_few_v8 *)(q + 8);
        *acc2 += wv * *(const kn_few_v8 *)(q + 16);
        *acc3 += wv * *(const kn_few_v8 *)(q + 24);
    }
}

/*
 * One output row (the last axis, stride 1) of output channel `m` of a conv
 * with few output channels, from `padded` (the image's input rows, each
 * few_out_span floats with the padding as zeros): each block of
 * KN_FEW_BLOCK outputs sums every tap in 8 vector registers (two partial
 * sums of 4 vectors, so the additions overlap); taps on rows outside the
 * image are skipped.
 */
static KN_SIMD_CLONES void few_out_row(const kn_conv_geom *g, const float *padded, const float *wm, float bias,
                                       int64_t oz, int64_t oy, float *row)
{
    const kn_win *wn = &g->win;
    const int64_t ow = wn->col[2], dx = wn->d[2], kw = wn->k[2], kd = wn->k[0], kh = wn->k[1];
    const int64_t span = few_out_span(wn);
    for (int64_t ox0 = 0; ox0 < ow; ox0 += KN_FEW_BLOCK) {
        kn_few_v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
        /* taps t = (c * kd + kz) * kh + ky, walked without divisions (three per tap cost more than its FMAs) */
        int64_t t = 0;
        for (int64_t c = 0; c < g->cg; c++)
            for (int64_t kz = 0; kz < kd; kz++) {
                const int64_t iz = oz * wn->s[0] - wn->pb[0] + kz * wn->d[0];
                for (int64_t ky = 0; ky < kh; ky++, t++) {
                    const int64_t iy = oy * wn->s[1] - wn->pb[1] + ky * wn->d[1];
                    if (iz < 0 || iz >= wn->img[0] || iy < 0 || iy >= wn->img[1])
                        continue;
                    const float *pr = padded + ((c * wn->img[0] + iz) * wn->img[1] + iy) * span + ox0;
                    const float *wr = wm + t * kw;
                    if (t % 2 == 0)
                        few_out_taps(pr, wr, kw, dx, &a0, &a1, &a2, &a3);
                    else
                        few_out_taps(pr, wr, kw, dx, &b0, &b1, &b2, &b3);
                }
            }
        float out[KN_FEW_BLOCK];
        *(kn_few_v8 *)out = a0 + b0;
        *(kn_few_v8 *)(out + 8) = a1 + b1;
        *(kn_few_v8 *)(out + 16) = a2 + b2;
        *(kn_few_v8 *)(out + 24) = a3 + b3;
        for (int64_t l = 0; l < KN_FEW_BLOCK && ox0 + l < ow; l++)
            row[ox0 + l] = bias + out[l];
    }
}

/*
 * Conv with few output channels per group (stride 1 along rows): every
 * input row copied once into the scratch with its padding (few_out_span
 * floats each), then every output row directly; both in parallel.
 */
static void conv_few_out(const kn_conv_geom *g, const kn_conv_plan *cp, const float *x, const float *w,
                         const float *bias, float *y, float *padded)
{
    const kn_win *wn = &g->win;
    const int64_t span = few_out_span(wn), iw = wn->img[2], lo = wn->pb[2], hi = lo + iw < span ? lo + iw : span;
    const int64_t in_rows = g->n * g->c * wn->img[0] * wn->img[1];
#ifdef _OPENMP
#pragma omp parallel for num_threads(cp->nthreads) schedule(static) if (cp->nthreads > 1)
#endif
    for (int64_t r = 0; r < in_rows; r++) { /* [0, lo) zeros, [lo, hi) the row, [hi, span) zeros */
        float *pr = padded + r * span;
        memset(pr, 0, sizeof(float) * (size_t)lo);
        memcpy(pr + lo, x + r * iw, sizeof(float) * (size_t)(hi - lo));
        memset(pr + hi, 0, sizeof(float) * (size_t)(span - hi));
    }
    const int64_t planes = g->n * g->m, oz_count = wn->col[0], oy_count = wn->col[1];
    const int64_t rows = planes * oz_count * oy_count, kernel = g->cg * wn->k_size;
#ifdef _OPENMP
#pragma omp parallel for num_threads(cp->nthreads) schedule(static) if (cp->nthreads > 1)
#endif
    for (int64_t r = 0; r < rows; r++) {
        const int64_t plane = r / (oz_count * oy_count), n = plane / g->m, m = plane % g->m;
        const int64_t oz = r / oy_count % oz_count, oy = r % oy_count, gi = m / g->mg;
        few_out_row(g, padded + (n * g->c + gi * g->cg) * g->in_size / iw * span, w + m * kernel,
                    bias ? bias[m] : 0.0f, oz, oy, y + r * wn->col[2]);
    }
}

/* Shapes and plan of a Conv or ConvTranspose node; the scratch query's and the kernel's common start. */
static kn_status conv_prepare(const kn_node *node, const kn_tensor *in, const kn_tensor *out, bool transpose,
                              kn_conv_geom *g, kn_error *err)
{
    const kn_tensor *bt = bias_tensor(node, in);
    return conv_setup(node, &in[0], &in[1], bt, &out[0], transpose, g, err);
}

/* Scratch of a ConvTranspose: the column matrix of one (image, group), unless the window is the identity. */
/*
 * Whether a ConvTranspose takes the gather path: stride 1 and fewer input than output channels per group. Its
 * sgemm multiplies the same numbers as col2im's (one product per weight and input), but the copies are the
 * im2col of the cg input planes (cg*K per output position) instead of col2im's mg*K sums per input position:
 * DCGAN's 1 -> 64 5x5 backward-data product at batch 64, 28x28, 23 ms the col2im way.
 */
static bool conv_transpose_gathers(const kn_conv_geom *g, kn_win *sw)
{
    return g->cg < g->mg && !win_is_identity(&g->win) && win_swap(&g->win, sw);
}

static size_t conv_transpose_bytes(const kn_conv_geom *g)
{
    const int64_t R = g->mg * g->win.k_size, Pin = g->in_size;
    if (g->n == 0 || g->m == 0 || g->out_size == 0 || g->cg == 0 || Pin == 0 || win_is_identity(&g->win))
        return 0;
    kn_conv_plan p;
    kn_win sw;
    if (conv_transpose_gathers(g, &sw)) { /* the flipped weights [mg][cg*K], then the im2col [cg*K][out] */
        size_t a, b, n;
        if (!kn_size_mul((size_t)g->cg * (size_t)g->win.k_size, (size_t)g->mg, &a) ||
            !kn_size_mul((size_t)g->cg * (size_t)g->win.k_size, (size_t)g->out_size, &b) || !kn_size_add(a, b, &n))
            return SIZE_MAX;
        conv_plan_bytes(&p, n, 1, sizeof(float), 1);
        return p.bytes;
    }
    conv_plan_bytes(&p, (size_t)R, (size_t)Pin, sizeof(float), 1);
    return p.bytes;
}

size_t kn_ref_conv_scratch_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out, int threads)
{
    kn_error err;
    kn_conv_geom g;
    bool transpose = node->op == KN_OP_CONV_TRANSPOSE;
    if (node->num_inputs < 2 || node->num_outputs < 1 || conv_prepare(node, in, out, transpose, &g, &err) != KN_OK)
        return 0; /* the kernel reports the problem */
    if (transpose)
        return conv_transpose_bytes(&g);
    kn_conv_plan p;
    conv_plan(&g, threads, &p);
    return p.bytes;
}

kn_status kn_ref_conv(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                      kn_error *err)
{
    const kn_tensor *bt = bias_tensor(node, in);
    kn_conv_geom g;
    kn_status st = conv_prepare(node, in, out, false, &g, err);
    if (st)
        return st;
    const float *x = in[0].data, *w = in[1].data, *bias = bt ? bt->data : NULL;
    float *y = out[0].data;
    kn_conv_plan cp;
    conv_plan(&g, scratch->threads, &cp);
    if (cp.mode == KN_CONV_EMPTY)
        return KN_OK;
    if ((st = kn_ref_scratch_check(node, scratch, cp.bytes, err)))
        return st;
    if (cp.mode == KN_CONV_DW_FLAT || cp.mode == KN_CONV_DW_ROWS) {
        conv_depthwise(&g, &cp, x, w, bias, y, scratch->data);
        return KN_OK;
    }
    const int64_t K = g.cg * g.win.k_size, P = g.out_size;
    if ((st = check_blas_dims(node, g.mg, P, K, err)))
        return st;
    if (cp.mode == KN_CONV_BIAS_ONLY)
        fill_bias(y, bias, g.n * g.m, g.m, P);
    else if (cp.mode == KN_CONV_WIDE)
        conv_wide(&g, x, w, bias, y, scratch->data);
    else if (cp.mode == KN_CONV_FEW_OUT)
        conv_few_out(&g, &cp, x, w, bias, y, (float *)scratch->data);
    else
        conv_tiles(&g, &cp, x, w, bias, y, scratch->data);
    return KN_OK;
}

kn_status kn_ref_conv_transpose(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                const kn_ref_scratch *scratch, kn_error *err)
{
    const kn_tensor *bt = bias_tensor(node, in);
    kn_conv_geom g;
    kn_status st = conv_prepare(node, in, out, true, &g, err);
    if (st)
        return st;
    const float *x = in[0].data, *w = in[1].data, *bias = bt ? bt->data : NULL;
    float *y = out[0].data;
    if (g.n == 0 || g.m == 0 || g.out_size == 0)
        return KN_OK;
    const kn_win *wn = &g.win;
    const int64_t R = g.mg * wn->k_size; /* rows of the column matrix */
    const int64_t Pin = g.in_size;
    if ((st = check_blas_dims(node, R, Pin, g.cg, err)))
        return st;
    fill_bias(y, bias, g.n * g.m, g.m, g.out_size);
    if (g.cg == 0 || Pin == 0)
        return KN_OK;
    const bool direct = win_is_identity(wn);
    if ((st = kn_ref_scratch_check(node, scratch, conv_transpose_bytes(&g), err)))
        return st;
    float *col = scratch->data;
    kn_win sw;
    if (!direct && conv_transpose_gathers(&g, &sw)) {
        /* y_g[m][o] = sum over (c, k') of W[c][m][K-1-k'] times the swapped im2col of x_g at (c, k'), o */
        const int64_t K = wn->k_size, CK = g.cg * K;
        float *wf = col, *xcol = col + g.mg * CK;
        if ((st = check_blas_dims(node, g.mg, g.out_size, CK, err)))
            return st;
        for (int64_t gi = 0; gi < g.group; gi++) {
            const float *wg = w + gi * g.cg * R; /* [cg][mg][K] */
            for (int64_t m = 0; m < g.mg; m++)
                for (int64_t c = 0; c < g.cg; c++)
                    for (int64_t k = 0; k < K; k++)
                        wf[m * CK + c * K + k] = wg[(c * g.mg + m) * K + (K - 1 - k)];
            for (int64_t n = 0; n < g.n; n++) {
                im2col_planes(x + (n * g.c + gi * g.cg) * Pin, xcol, &sw, g.cg);
                kn_ref_sgemm(false, false, g.mg, g.out_size, CK, 1.0f, wf, CK, xcol, g.out_size, 1.0f,
                             y + (n * g.m + gi * g.mg) * g.out_size, g.out_size);
            }
        }
        return KN_OK;
    }
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t gi = 0; gi < g.group; gi++) {
            const float *xg = x + (n * g.c + gi * g.cg) * Pin;
            const float *wg = w + gi * g.cg * R; /* [cg, mg*k] */
            float *yg = y + (n * g.m + gi * g.mg) * g.out_size;
            if (direct) {
                kn_ref_sgemm(true, false, R, Pin, g.cg, 1.0f, wg, R, xg, Pin, 1.0f, yg, Pin);
            } else {
                kn_ref_sgemm(true, false, R, Pin, g.cg, 1.0f, wg, R, xg, Pin, 0.0f, col, Pin);
                col2im(col, yg, wn, g.mg);
            }
        }
    return KN_OK;
}

/* ------------------------------------------------------------ ConvGradWeight */

/* The geometry of the Conv whose weights node differentiates: input a (in[0]), output gradient b (in[1]). */
static kn_status conv_grad_setup(const kn_node *node, const kn_tensor *in, const kn_tensor *out, kn_conv_geom *g,
                                 kn_error *err)
{
    if (node->num_inputs < 2 || node->num_outputs < 1)
        return kn_node_error(err, KN_ERR_GRAPH, node, "needs the input and the output gradient");
    return conv_setup(node, &in[0], &out[0], NULL, &in[1], false, g, err);
}

/*
 * Whether a ConvGradWeight takes the gather path: stride 1 and fewer output than input channels per group. The
 * im2col is then of the output gradient b through the swapped window (mg*K rows over the input's positions)
 * instead of the input's (cg*K rows over the output's), and the sgemm T[c][m K + k'] = sum_i a[c][i] col[m K +
 * k'][i] the same products: DCGAN's 64 -> 1 5x5 output layer at batch 64, 28x28, 32 ms the other way.
 */
static bool conv_grad_weight_gathers(const kn_conv_geom *g, kn_win *sw)
{
    return g->mg < g->cg && win_swap(&g->win, sw);
}

size_t kn_ref_conv_grad_weight_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out)
{
    kn_conv_geom g;
    kn_error err;
    size_t bytes;
    kn_win sw;
    if (conv_grad_setup(node, in, out, &g, &err) != KN_OK || win_is_identity(&g.win))
        return 0;
    if (conv_grad_weight_gathers(&g, &sw)) { /* the im2col [mg*K][in], then the product [cg][mg*K] */
        size_t a, b;
        if (!kn_size_mul((size_t)(g.mg * g.win.k_size), (size_t)g.in_size, &a) ||
            !kn_size_mul((size_t)(g.mg * g.win.k_size), (size_t)g.cg, &b) || !kn_size_add(a, b, &bytes) ||
            !kn_size_mul(bytes, sizeof(float), &bytes))
            return SIZE_MAX;
        return bytes;
    }
    if (!kn_size_mul((size_t)(g.cg * g.win.k_size), (size_t)g.out_size, &bytes) ||
        !kn_size_mul(bytes, sizeof(float), &bytes))
        return SIZE_MAX;
    return bytes;
}

/*
 * dW[g][k][r] = sum over images n and positions p of b[n][g k][p] col_n[r][p], col_n the im2col of a[n]: one
 * sgemm per (group, image) accumulating into dW in image order (the same order for any thread count); db the
 * sum of b over images and positions, per channel in double precision.
 */
kn_status kn_ref_conv_grad_weight(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                  const kn_ref_scratch *scratch, kn_error *err)
{
    kn_conv_geom g;
    kn_status st = conv_grad_setup(node, in, out, &g, err);
    if (st)
        return st;
    const float *a = in[0].data, *b = in[1].data;
    float *dw = out[0].data, *db = node->num_outputs > 1 ? out[1].data : NULL;
    const int64_t R = g.cg * g.win.k_size, P = g.out_size;
    const bool direct = win_is_identity(&g.win);
    if ((st = check_blas_dims(node, g.mg, R, P, err)) ||
        (st = kn_ref_scratch_check(node, scratch, direct ? 0 : kn_ref_conv_grad_weight_bytes(node, in, out), err)))
        return st;
    float *col = scratch->data;
    memset(dw, 0, sizeof(float) * (size_t)(g.m * R));
    kn_win sw;
    const bool gathers = !direct && P > 0 && R > 0 && conv_grad_weight_gathers(&g, &sw);
    if (gathers) {
        const int64_t K = g.win.k_size, MK = g.mg * K, Pi = g.in_size;
        float *t = col + MK * Pi;
        if ((st = check_blas_dims(node, g.cg, MK, Pi, err)))
            return st;
        for (int64_t gi = 0; gi < g.group; gi++) {
            memset(t, 0, sizeof(float) * (size_t)(g.cg * MK));
            for (int64_t n = 0; n < g.n; n++) {
                im2col_planes(b + (n * g.m + gi * g.mg) * P, col, &sw, g.mg);
                kn_ref_sgemm(false, true, g.cg, MK, Pi, 1.0f, a + (n * g.c + gi * g.cg) * Pi, Pi, col, Pi, 1.0f, t,
                             MK);
            }
            for (int64_t m = 0; m < g.mg; m++) /* dW[m][c][k] = T[c][m K + K-1-k] */
                for (int64_t c = 0; c < g.cg; c++)
                    for (int64_t k = 0; k < K; k++)
                        dw[(gi * g.mg + m) * R + c * K + k] = t[c * MK + m * K + (K - 1 - k)];
        }
    }
    for (int64_t gi = 0; gi < g.group && P > 0 && R > 0 && !gathers; gi++)
        for (int64_t n = 0; n < g.n; n++) {
            const float *ag = a + (n * g.c + gi * g.cg) * g.in_size, *bg = b + (n * g.m + gi * g.mg) * P;
            if (!direct) {
                KN_OMP_FOR(g.cg > 1 && R * P > KN_PAR_MIN)
                for (int64_t c = 0; c < g.cg; c++)
                    im2col_tile(ag + c * g.win.img_size, col + c * g.win.k_size * P, &g.win, 1, 0, P);
            }
            kn_ref_sgemm(false, true, g.mg, R, P, 1.0f, bg, P, direct ? ag : col, P, 1.0f, dw + gi * g.mg * R, R);
        }
    if (db) {
        KN_OMP_FOR(g.m > 1 && g.n * g.m * P > KN_PAR_MIN)
        for (int64_t k = 0; k < g.m; k++) {
            double s = 0.0;
            for (int64_t n = 0; n < g.n; n++)
                for (int64_t p = 0; p < P; p++)
                    s += b[(n * g.m + k) * P + p];
            db[k] = (float)s;
        }
    }
    return KN_OK;
}
