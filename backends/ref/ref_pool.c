/*
 * ref_pool.c - reference MaxPool, AveragePool (1-D to 3-D), GlobalAveragePool
 * and GlobalMaxPool.
 *
 * Pools are computed as 3-D problems (leading spatial axes of size 1). For
 * every output index of the depth and height axes a small table holds the
 * window's first input index and the range of kernel taps that fall inside
 * the input; for every kernel column, the range of output columns it reaches
 * inside the input. Each output row is then built tap by tap with a
 * bounds-free, vectorised loop over its columns. MaxPool also takes
 * uint8/int8.
 * AveragePool divides by the number of taps inside the input
 * (count_include_pad 0) or inside the padded input (count_include_pad 1;
 * with ceil_mode a window running past the end padding is clipped there, as
 * in PyTorch and ONNX Runtime).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ref_nn.h"
#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

/* Per output index of one axis: first input index of the window and its valid taps. */
typedef struct kn_pool_tap {
    int64_t start;  /* input index of tap 0 (may be negative) */
    int64_t lo, hi; /* taps [lo, hi) land inside the input */
    int64_t count;  /* taps counted by AveragePool's divisor */
} kn_pool_tap;

/* Per kernel column: output columns [lo, hi) read input column off + ow * stride. */
typedef struct kn_pool_col {
    int64_t off, lo, hi;
} kn_pool_col;

/* Strides and pads of a pool, per (3-D padded) axis, and whether pads count in AveragePool's divisor. */
typedef struct kn_pool_pads {
    int64_t s[3], p0[3], p1[3];
    bool count_include_pad;
} kn_pool_pads;

typedef struct kn_pool_geom {
    int64_t planes;           /* N * C */
    int64_t in[3], out[3], k[3], d[3], sw;
    int64_t in_size, out_size;
    kn_pool_tap *tab[3];      /* out[i] entries each, in the kernel's scratch (tab[2]: counts only) */
    kn_pool_col *cols;        /* k[2] entries, in the same scratch */
} kn_pool_geom;

/*
 * Resolve the window into g (tables not yet built) and the bytes its tap
 * tables take (SIZE_MAX on overflow); *pads receives the strides and pads.
 */
static kn_status pool_setup(const kn_node *node, const kn_tensor *x, const kn_tensor *y, kn_pool_geom *g,
                            kn_pool_pads *pads, size_t *table_bytes, kn_error *err)
{
    int rank = x->shape.rank, ns = rank - 2;
    if (ns < 1 || ns > KN_MAX_SPATIAL || y->shape.rank != rank)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected input/output ranks %d/%d", node->name,
                            KN_OPNAME(node), rank, y->shape.rank);
    kn_window_attrs a = node->attrs.window;
    a.nspatial = ns;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    kn_status st = kn_window_resolve(node, &a, x->shape.dims + 2, a.kernel, false, pb, pe, o, err);
    if (st)
        return st;
    bool ok = y->shape.dims[0] == x->shape.dims[0] && y->shape.dims[1] == x->shape.dims[1];
    for (int i = 0; i < ns; i++)
        ok = ok && y->shape.dims[2 + i] == o[i];
    if (!ok)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): tensor shapes do not fit together (run shape inference first)",
                            node->name, KN_OPNAME(node));
    memset(g, 0, sizeof *g);
    g->planes = x->shape.dims[0] * x->shape.dims[1];
    int64_t *s = pads->s, *p0 = pads->p0, *p1 = pads->p1;
    pads->count_include_pad = a.count_include_pad;
    int off = 3 - ns;
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->d[i] = s[i] = 1;
        p0[i] = p1[i] = 0;
    }
    for (int i = 0; i < ns; i++) {
        g->in[off + i] = x->shape.dims[2 + i];
        g->out[off + i] = o[i];
        g->k[off + i] = a.kernel[i];
        g->d[off + i] = a.dilation[i] ? a.dilation[i] : 1;
        s[off + i] = a.stride[i] ? a.stride[i] : 1;
        p0[off + i] = pb[i];
        p1[off + i] = pe[i];
    }
    g->in_size = g->in[0] * g->in[1] * g->in[2];
    g->out_size = g->out[0] * g->out[1] * g->out[2];
    g->sw = s[2];
    size_t total = (size_t)(g->out[0] + g->out[1] + g->out[2]), tb, cb;
    if (!kn_size_mul(sizeof(kn_pool_tap), total, &tb) || !kn_size_mul(sizeof(kn_pool_col), (size_t)g->k[2], &cb) ||
        !kn_size_add(tb, cb, table_bytes))
        *table_bytes = SIZE_MAX;
    else
        *table_bytes = kn_ref_scratch_align(*table_bytes);
    return KN_OK;
}

/* Build the tap tables of g into `mem` (the bytes pool_setup gave). */
static void pool_tables(kn_pool_geom *g, const kn_pool_pads *pads, void *mem)
{
    const int64_t *s = pads->s, *p0 = pads->p0, *p1 = pads->p1;
    size_t total = (size_t)(g->out[0] + g->out[1] + g->out[2]);
    kn_pool_tap *t = mem;
    g->cols = (kn_pool_col *)(t + total);
    for (int64_t kw = 0; kw < g->k[2]; kw++) {
        kn_pool_col *c = &g->cols[kw];
        c->off = kw * g->d[2] - p0[2];
        kn_valid_range(c->off, s[2], g->in[2], g->out[2], &c->lo, &c->hi);
    }
    for (int i = 0; i < 3; i++) {
        g->tab[i] = t;
        for (int64_t j = 0; j < g->out[i]; j++, t++) {
            t->start = j * s[i] - p0[i];
            kn_valid_range(t->start, g->d[i], g->in[i], g->k[i], &t->lo, &t->hi);
            if (pads->count_include_pad) {
                int64_t l, h;
                kn_valid_range(t->start + p0[i], g->d[i], g->in[i] + p0[i] + p1[i], g->k[i], &l, &h);
                t->count = h - l;
            } else {
                t->count = t->hi - t->lo;
            }
        }
    }
}

/*
 * Accumulate one pool row tap by tap: for every valid (kd, kh) input row and
 * every kernel column, yrow[ow] = OP(yrow[ow], xrow[off + ow * sw]).
 */
#define KN_POOL_ROW(T, OP)                                                                                    \
    for (int64_t kd = td->lo; kd < td->hi; kd++)                                                              \
        for (int64_t kh = th->lo; kh < th->hi; kh++) {                                                        \
            const T *xrow = xp + ((td->start + kd * g->d[0]) * IH + th->start + kh * g->d[1]) * IW;           \
            for (int64_t kw = 0; kw < g->k[2]; kw++) {                                                        \
                const int64_t off = g->cols[kw].off, lo = g->cols[kw].lo, hi = g->cols[kw].hi;                \
                if (sw == 1) {                                                                                \
                    KN_OMP_SIMD                                                                               \
                    for (int64_t ow = lo; ow < hi; ow++)                                                      \
                        yrow[ow] = OP(yrow[ow], xrow[off + ow]);                                              \
                } else if (sw == 2) {                                                                         \
                    KN_OMP_SIMD                                                                               \
                    for (int64_t ow = lo; ow < hi; ow++)                                                      \
                        yrow[ow] = OP(yrow[ow], xrow[off + 2 * ow]);                                          \
                } else {                                                                                      \
                    KN_OMP_SIMD                                                                               \
                    for (int64_t ow = lo; ow < hi; ow++)                                                      \
                        yrow[ow] = OP(yrow[ow], xrow[off + ow * sw]);                                         \
                }                                                                                             \
            }                                                                                                 \
        }

#define KN_MAX(a, b) ((b) > (a) ? (b) : (a))
#define KN_ADD(a, b) ((a) + (b))

/* MaxPool of one plane for one element type; an empty window gives LOWEST. */
#define KN_DEFINE_MAX_POOL(NAME, T, LOWEST)                                                                   \
    static KN_SIMD_CLONES void NAME(const kn_pool_geom *g, const T *xp, T *yp)                                \
    {                                                                                                         \
        const int64_t IH = g->in[1], IW = g->in[2], OW = g->out[2], sw = g->sw;                               \
        for (int64_t od = 0; od < g->out[0]; od++)                                                            \
            for (int64_t oh = 0; oh < g->out[1]; oh++) {                                                      \
                const kn_pool_tap *td = &g->tab[0][od], *th = &g->tab[1][oh];                                 \
                T *yrow = yp + (od * g->out[1] + oh) * OW;                                                    \
                for (int64_t ow = 0; ow < OW; ow++)                                                           \
                    yrow[ow] = LOWEST;                                                                        \
                KN_POOL_ROW(T, KN_MAX)                                                                        \
            }                                                                                                 \
    }

KN_DEFINE_MAX_POOL(max_pool_f32, float, -FLT_MAX)
KN_DEFINE_MAX_POOL(max_pool_u8, uint8_t, 0)
KN_DEFINE_MAX_POOL(max_pool_i8, int8_t, INT8_MIN)

/* AveragePool of one plane: sums tap by tap, then divides by each output's count (0 for an empty window). */
static KN_SIMD_CLONES void avg_pool_f32(const kn_pool_geom *g, const float *xp, float *yp)
{
    const int64_t IH = g->in[1], IW = g->in[2], OW = g->out[2], sw = g->sw;
    const kn_pool_tap *tw = g->tab[2];
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++) {
            const kn_pool_tap *td = &g->tab[0][od], *th = &g->tab[1][oh];
            float *yrow = yp + (od * g->out[1] + oh) * OW;
            KN_OMP_SIMD
            for (int64_t ow = 0; ow < OW; ow++)
                yrow[ow] = 0.0f;
            KN_POOL_ROW(float, KN_ADD)
            const int64_t cdh = td->count * th->count;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t cnt = cdh * tw[ow].count;
                yrow[ow] = cnt > 0 ? yrow[ow] / (float)cnt : 0.0f;
            }
        }
}

/* Run a plane function over every (image, channel) plane, in parallel. */
#define KN_POOL_PLANES(FN, T)                                                                                 \
    do {                                                                                                      \
        const T *xd = x->data;                                                                                \
        T *yd = y->data;                                                                                      \
        KN_OMP_FOR(par)                                                                                       \
        for (int64_t p = 0; p < g.planes; p++)                                                                \
            FN(&g, xd + p * g.in_size, yd + p * g.out_size);                                                  \
    } while (0)

kn_status kn_ref_pool(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *x = &in[0];
    kn_tensor *y = &out[0];
    bool is_max = node->op == KN_OP_MAX_POOL;
    if (!is_max && node->op != KN_OP_AVERAGE_POOL)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s' (%s): not a pool", node->name, KN_OPNAME(node));
    if (node->num_outputs > 1)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s' (%s): the Indices output is not supported",
                            node->name, KN_OPNAME(node));
    if (x->dtype != y->dtype ||
        !(x->dtype == KN_F32 || (is_max && (x->dtype == KN_U8 || x->dtype == KN_I8))))
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): element type %s is not supported", node->name,
                            KN_OPNAME(node), kn_dtype_name(x->dtype));
    kn_pool_geom g;
    kn_pool_pads pads;
    size_t table_bytes;
    kn_status st = pool_setup(node, x, y, &g, &pads, &table_bytes, err);
    if (st || (st = kn_ref_scratch_check(node, scratch, table_bytes, err)))
        return st;
    pool_tables(&g, &pads, scratch->data);
    /* in double: the kernel taps come from an attribute and their product may exceed int64 */
    const bool par = g.planes > 1 && (double)g.planes * (double)g.out_size * (double)g.k[0] * (double)g.k[1] *
                                             (double)g.k[2] > KN_PAR_MIN;
    (void)par; /* unused without OpenMP */
    if (!is_max)
        KN_POOL_PLANES(avg_pool_f32, float);
    else if (x->dtype == KN_F32)
        KN_POOL_PLANES(max_pool_f32, float);
    else if (x->dtype == KN_U8)
        KN_POOL_PLANES(max_pool_u8, uint8_t);
    else
        KN_POOL_PLANES(max_pool_i8, int8_t);
    return KN_OK;
}

size_t kn_ref_pool_scratch_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out)
{
    kn_error err;
    kn_pool_geom g;
    kn_pool_pads pads;
    size_t bytes;
    if (node->num_inputs < 1 || node->num_outputs < 1 || pool_setup(node, &in[0], &out[0], &g, &pads, &bytes, &err))
        return 0; /* the kernel reports the problem */
    return bytes;
}

/* Mean or max of one plane of n floats (0 or -FLT_MAX when empty); vectorised partial sums/maxima. */
static KN_SIMD_CLONES float global_pool_plane(const float *x, int64_t n, bool is_max)
{
    if (is_max) {
        float m = -FLT_MAX;
        KN_OMP_SIMD_REDUCTION(max, m)
        for (int64_t i = 0; i < n; i++)
            m = x[i] > m ? x[i] : m;
        return m;
    }
    float s = 0.0f;
    KN_OMP_SIMD_REDUCTION(+, s)
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return n > 0 ? s / (float)n : 0.0f;
}

kn_status kn_ref_global_pool(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *x = &in[0];
    kn_tensor *y = &out[0];
    if (x->dtype != KN_F32 || y->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): only float32 is supported", node->name,
                            KN_OPNAME(node));
    if (x->shape.rank < 3 || y->shape.rank != x->shape.rank || y->shape.dims[0] != x->shape.dims[0] ||
        y->shape.dims[1] != x->shape.dims[1])
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected input/output shapes", node->name,
                            KN_OPNAME(node));
    const int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    int64_t size = 1;
    for (int i = 2; i < x->shape.rank; i++)
        size *= x->shape.dims[i];
    const float *xd = x->data;
    float *yd = y->data;
    const bool is_max = node->op == KN_OP_GLOBAL_MAX_POOL;
    KN_OMP_FOR(planes > 1 && planes * size > KN_PAR_MIN)
    for (int64_t p = 0; p < planes; p++)
        yd[p] = global_pool_plane(xd + p * size, size, is_max);
    return KN_OK;
}
