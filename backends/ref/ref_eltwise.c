/*
 * ref_eltwise.c - reference kernels for element-wise ops (binary with NumPy
 * broadcasting, unary activations), Softmax/LogSoftmax and ReduceMean.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ref.h"
#include "ref_math.h"
#include "ref_nn.h"
#include "shape.h"

/*
 * KN_SIMD_CLONES for the element-wise loops, which are written branch-free
 * but which GCC would otherwise turn back into control flow (jump
 * threading, path splitting) and then refuse to if-convert because a float
 * operation "could trap". Nothing here relies on floating-point traps.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define KN_ELTWISE_FN KN_SIMD_CLONES __attribute__((optimize("no-trapping-math")))
#else
#define KN_ELTWISE_FN KN_SIMD_CLONES
#endif

/* ------------------------------------------------------------ binary ops */

/*
 * A broadcast loop nest: output dims with a's and b's strides (in elements,
 * 0 where broadcast), dims of size 1 dropped and adjacent dims merged where
 * both operands allow, so same-shape operands become one flat loop and
 * per-channel or scalar operands an inner loop with stride 0.
 */
typedef struct kn_bcast_plan {
    int rank;
    int64_t dims[KN_MAX_RANK];
    int64_t sa[KN_MAX_RANK], sb[KN_MAX_RANK];
} kn_bcast_plan;

static void kn_operand_strides(const kn_shape *s, int out_rank, int64_t *st)
{
    int64_t acc = 1;
    for (int i = out_rank - 1; i >= 0; i--) {
        int k = i - (out_rank - s->rank);
        int64_t d = k >= 0 ? s->dims[k] : 1;
        st[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

static void kn_bcast_plan_make(const kn_shape *a, const kn_shape *b, const kn_shape *out, kn_bcast_plan *p)
{
    int64_t sa[KN_MAX_RANK], sb[KN_MAX_RANK];
    kn_operand_strides(a, out->rank, sa);
    kn_operand_strides(b, out->rank, sb);
    p->rank = 0;
    for (int i = 0; i < out->rank; i++) {
        if (out->dims[i] == 1)
            continue;
        int m = p->rank;
        if (m > 0 && p->sa[m - 1] == sa[i] * out->dims[i] && p->sb[m - 1] == sb[i] * out->dims[i]) {
            p->dims[m - 1] *= out->dims[i];
            p->sa[m - 1] = sa[i];
            p->sb[m - 1] = sb[i];
            continue;
        }
        p->dims[m] = out->dims[i];
        p->sa[m] = sa[i];
        p->sb[m] = sb[i];
        p->rank++;
    }
    if (p->rank == 0) {
        p->rank = 1;
        p->dims[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
}

/*
 * One row: o[i] = EXPR(x, y) with x from a (stride sa: 0 or 1) and y from b.
 * Separate loops per stride pattern so the compiler vectorises them (o may
 * be a or b itself, index for index, which a simd loop allows).
 */
#define KN_ROW(T, EXPR)                                                             \
    do {                                                                            \
        if (sa && sb) {                                                             \
            KN_OMP_SIMD                                                             \
            for (int64_t i = 0; i < len; i++) {                                     \
                T x = a[i], y = b[i];                                               \
                o[i] = (EXPR);                                                      \
            }                                                                       \
        } else if (sa) {                                                            \
            T y = b[0];                                                             \
            KN_OMP_SIMD                                                             \
            for (int64_t i = 0; i < len; i++) {                                     \
                T x = a[i];                                                         \
                o[i] = (EXPR);                                                      \
            }                                                                       \
        } else if (sb) {                                                            \
            T x = a[0];                                                             \
            KN_OMP_SIMD                                                             \
            for (int64_t i = 0; i < len; i++) {                                     \
                T y = b[i];                                                         \
                o[i] = (EXPR);                                                      \
            }                                                                       \
        } else {                                                                    \
            T x = a[0], y = b[0];                                                   \
            T v = (EXPR);                                                           \
            for (int64_t i = 0; i < len; i++)                                       \
                o[i] = v;                                                           \
        }                                                                           \
    } while (0)

static KN_ELTWISE_FN void kn_row_f32(kn_op op, const float *a, int64_t sa, const float *b, int64_t sb, float *o, int64_t len)
{
    switch (op) {
    case KN_OP_ADD: KN_ROW(float, x + y); break;
    case KN_OP_SUB: KN_ROW(float, x - y); break;
    case KN_OP_MUL: KN_ROW(float, x * y); break;
    case KN_OP_DIV: KN_ROW(float, x / y); break;
    case KN_OP_POW: KN_ROW(float, powf(x, y)); break;
    /* Min/Max propagate NaN from either side, like NumPy's minimum/maximum */
    case KN_OP_PRELU: KN_ROW(float, x < 0.0f ? x * y : x); break;
    case KN_OP_MIN: KN_ROW(float, x != x || x < y ? x : y); break;
    case KN_OP_MAX: KN_ROW(float, x != x || x > y ? x : y); break;
    default: break;
    }
}

/* Integer arithmetic wraps (via unsigned) like NumPy instead of being UB. */
#define KN_INT_ROW_FN(NAME, T, UT)                                                              \
    static void NAME(kn_op op, const T *a, int64_t sa, const T *b, int64_t sb, T *o, int64_t len) \
    {                                                                                           \
        switch (op) {                                                                           \
        case KN_OP_ADD: KN_ROW(T, (T)((UT)x + (UT)y)); break;                                   \
        case KN_OP_SUB: KN_ROW(T, (T)((UT)x - (UT)y)); break;                                   \
        case KN_OP_MUL: KN_ROW(T, (T)((UT)x * (UT)y)); break;                                   \
        case KN_OP_DIV: KN_ROW(T, y == -1 ? (T)((UT)0 - (UT)x) : (T)(x / y)); break;            \
        case KN_OP_MIN: KN_ROW(T, x < y ? x : y); break;                                        \
        case KN_OP_MAX: KN_ROW(T, x > y ? x : y); break;                                        \
        default: break;                                                                         \
        }                                                                                       \
    }
KN_INT_ROW_FN(kn_row_i64, int64_t, uint64_t)
KN_INT_ROW_FN(kn_row_i32, int32_t, uint32_t)
KN_INT_ROW_FN(kn_row_i8, int8_t, uint8_t)

static void kn_row_u8(kn_op op, const uint8_t *a, int64_t sa, const uint8_t *b, int64_t sb, uint8_t *o, int64_t len)
{
    switch (op) {
    case KN_OP_ADD: KN_ROW(uint8_t, (uint8_t)(x + y)); break;
    case KN_OP_SUB: KN_ROW(uint8_t, (uint8_t)(x - y)); break;
    case KN_OP_MUL: KN_ROW(uint8_t, (uint8_t)(x * y)); break;
    case KN_OP_DIV: KN_ROW(uint8_t, (uint8_t)(x / y)); break;
    case KN_OP_MIN: KN_ROW(uint8_t, x < y ? x : y); break;
    case KN_OP_MAX: KN_ROW(uint8_t, x > y ? x : y); break;
    default: break;
    }
}

static inline double kn_load_num(const void *p, kn_dtype d, int64_t i)
{
    switch (d) {
    case KN_F32: return ((const float *)p)[i];
    case KN_I64: return (double)((const int64_t *)p)[i];
    default: return ((const int32_t *)p)[i];
    }
}

/* Pow with mixed or integer dtypes (ONNX: the result has the base's dtype; integers truncate). */
static void kn_row_pow_mixed(const void *a, kn_dtype da, int64_t oa, int64_t sa, const void *b, kn_dtype db,
                             int64_t ob, int64_t sb, void *o, kn_dtype dt, int64_t oo, int64_t len)
{
    for (int64_t i = 0; i < len; i++) {
        double x = kn_load_num(a, da, oa + i * sa), y = kn_load_num(b, db, ob + i * sb);
        if (dt == KN_F32) {
            ((float *)o)[oo + i] = powf((float)x, (float)y);
            continue;
        }
        double v = pow(x, y);
        int64_t r = isnan(v) ? 0 : v >= 9223372036854775807.0 ? INT64_MAX
                  : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
        if (dt == KN_I64)
            ((int64_t *)o)[oo + i] = r;
        else
            ((int32_t *)o)[oo + i] = (int32_t)(uint32_t)(uint64_t)r;
    }
}

static bool kn_pow_dtype_ok(kn_dtype d)
{
    return d == KN_F32 || d == KN_I32 || d == KN_I64;
}

static void kn_bcast_apply(kn_op op, kn_dtype dt, bool mixed_pow, const kn_tensor *ta, const kn_tensor *tb,
                           kn_tensor *to);

kn_status kn_ref_binary(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *ta = &in[0], *tb = &in[1];
    kn_tensor *to = &out[0];
    kn_op op = node->op;
    if (op != KN_OP_ADD && op != KN_OP_SUB && op != KN_OP_MUL && op != KN_OP_DIV && op != KN_OP_POW &&
        op != KN_OP_PRELU)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a binary op");
    kn_dtype dt = ta->dtype;
    if (op == KN_OP_PRELU && (dt != KN_F32 || tb->dtype != KN_F32 || to->dtype != KN_F32))
        return kn_node_error(err, KN_ERR_DTYPE, node, "PRelu is float32 only, not %s", kn_dtype_name(dt));
    bool mixed_pow = op == KN_OP_POW && (dt != KN_F32 || tb->dtype != KN_F32);
    bool ok = mixed_pow ? kn_pow_dtype_ok(dt) && kn_pow_dtype_ok(tb->dtype) && to->dtype == dt
                        : tb->dtype == dt && to->dtype == dt &&
                              (dt == KN_F32 || dt == KN_I64 || dt == KN_I32 || dt == KN_I8 || dt == KN_U8);
    if (!ok)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtypes %s and %s are not supported",
                              kn_dtype_name(ta->dtype), kn_dtype_name(tb->dtype));
    if (kn_numel_of(to) == 0)
        return KN_OK;
    if (op == KN_OP_DIV && dt != KN_F32) {
        size_t nb = kn_numel_of(tb);
        for (size_t i = 0; i < nb; i++) {
            int64_t v = dt == KN_I64   ? ((const int64_t *)tb->data)[i]
                        : dt == KN_I32 ? ((const int32_t *)tb->data)[i]
                        : dt == KN_I8  ? ((const int8_t *)tb->data)[i]
                                       : ((const uint8_t *)tb->data)[i];
            if (v == 0)
                return kn_node_error(err, KN_ERR_INVALID_ARG, node, "integer division by zero");
        }
    }
    kn_bcast_apply(op, dt, mixed_pow, ta, tb, to);
    return KN_OK;
}

/*
 * to = op(ta, tb), both operands broadcast (NumPy rules) to to's shape, which
 * may be larger than either; `to` may alias ta or tb when it has that
 * operand's shape. dt is ta's (and, unless mixed_pow, tb's and to's) dtype.
 */
static void kn_bcast_apply(kn_op op, kn_dtype dt, bool mixed_pow, const kn_tensor *ta, const kn_tensor *tb,
                           kn_tensor *to)
{
    size_t n = kn_numel_of(to);
    if (n == 0)
        return;
    kn_bcast_plan p;
    kn_bcast_plan_make(&ta->shape, &tb->shape, &to->shape, &p);
    int m = p.rank;
    int64_t inner = p.dims[m - 1], isa = p.sa[m - 1], isb = p.sb[m - 1];
    int64_t rows = (int64_t)n / inner;
    /* split long rows into chunks so a flat same-shape loop still parallelises */
    int64_t chunk = inner > 16384 ? 16384 : inner;
    int64_t nchunks = (inner + chunk - 1) / chunk;
    int64_t tasks = rows * nchunks;
    size_t es = kn_dtype_size(dt);
    const char *A = ta->data, *B = tb->data;
    char *O = to->data;
    KN_OMP_FOR(n > KN_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nchunks, c = t % nchunks;
        int64_t oa = 0, ob = 0, rem = r;
        for (int d = m - 2; d >= 0; d--) {
            int64_t i = rem % p.dims[d];
            rem /= p.dims[d];
            oa += i * p.sa[d];
            ob += i * p.sb[d];
        }
        int64_t beg = c * chunk, len = inner - beg < chunk ? inner - beg : chunk;
        oa += beg * isa;
        ob += beg * isb;
        size_t oo = (size_t)(r * inner + beg);
        if (mixed_pow) {
            kn_row_pow_mixed(A, dt, oa, isa, B, tb->dtype, ob, isb, O, dt, (int64_t)oo, len);
            continue;
        }
        switch (dt) {
        case KN_F32:
            kn_row_f32(op, (const float *)(A + (size_t)oa * es), isa, (const float *)(B + (size_t)ob * es), isb,
                       (float *)(O + oo * es), len);
            break;
        case KN_I64:
            kn_row_i64(op, (const int64_t *)(A + (size_t)oa * es), isa, (const int64_t *)(B + (size_t)ob * es),
                       isb, (int64_t *)(O + oo * es), len);
            break;
        case KN_I32:
            kn_row_i32(op, (const int32_t *)(A + (size_t)oa * es), isa, (const int32_t *)(B + (size_t)ob * es),
                       isb, (int32_t *)(O + oo * es), len);
            break;
        case KN_I8:
            kn_row_i8(op, (const int8_t *)A + oa, isa, (const int8_t *)B + ob, isb, (int8_t *)O + oo, len);
            break;
        default:
            kn_row_u8(op, (const uint8_t *)A + oa, isa, (const uint8_t *)B + ob, isb, (uint8_t *)O + oo, len);
            break;
        }
    }
}


kn_status kn_ref_variadic(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                          kn_error *err)
{
    (void)scratch;
    kn_op op = node->op;
    if (op != KN_OP_MIN && op != KN_OP_MAX && op != KN_OP_SUM && op != KN_OP_MEAN)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a variadic element-wise op");
    kn_tensor *to = &out[0];
    kn_dtype dt = to->dtype;
    if (!(dt == KN_F32 || ((dt == KN_I64 || dt == KN_I32 || dt == KN_I8 || dt == KN_U8) && op != KN_OP_MEAN)))
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    for (int i = 0; i < node->num_inputs; i++)
        if (in[i].dtype != dt)
            return kn_node_error(err, KN_ERR_DTYPE, node, "input %d is %s, the output %s", i,
                                  kn_dtype_name(in[i].dtype), kn_dtype_name(dt));
    size_t n = kn_numel_of(to);
    if (n == 0)
        return KN_OK;
    kn_op row = op == KN_OP_SUM || op == KN_OP_MEAN ? KN_OP_ADD : op;
    if (node->num_inputs == 1) {
        /* one input: a copy (its shape is the output's) */
        if (to->data != in[0].data)
            memmove(to->data, in[0].data, n * kn_dtype_size(dt));
    } else {
        /* the output may alias an input only where the memory planner saw the same shape; read the
         * first two inputs before writing, then fold each further input into the output in place */
        kn_bcast_apply(row, dt, false, &in[0], &in[1], to);
        for (int i = 2; i < node->num_inputs; i++)
            kn_bcast_apply(row, dt, false, to, &in[i], to);
    }
    if (op == KN_OP_MEAN) {
        float *y = to->data, s = 1.0f / (float)node->num_inputs;
        for (size_t i = 0; i < n; i++)
            y[i] *= s;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ activations */

/* min(max(v, 0), 1) as selects (they vectorise; fminf/fmaxf do not), NaN passing through. */
KN_MATH_INLINE float kn_clamp01f(float v)
{
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

/* Elu with the negative branch computed unconditionally, so the loop needs no control flow. */
KN_MATH_INLINE float kn_eluf(float v, float alpha)
{
    float m = alpha * kn_expm1f(v);
    return v < 0.0f ? m : v;
}

/* One chunk of an activation: a simd loop per op (see ref_math.h), compiled for AVX2+FMA and the baseline. */
#define KN_MAP(EXPR)                     \
    do {                                 \
        KN_OMP_SIMD                      \
        for (size_t i = 0; i < n; i++) { \
            float v = x[i];              \
            x[i] = (EXPR);               \
        }                                \
    } while (0)

static KN_ELTWISE_FN void kn_activation_chunk(kn_op op, float alpha, float beta, float lo, float hi, float *x,
                                               size_t n)
{
    switch (op) {
    case KN_OP_RELU: KN_MAP(v > 0.0f ? v : 0.0f); break;
    case KN_OP_LEAKY_RELU: KN_MAP(v * (v < 0.0f ? alpha : 1.0f)); break;
    case KN_OP_SIGMOID: KN_MAP(kn_sigmoidf(v)); break;
    case KN_OP_TANH: KN_MAP(kn_tanhf(v)); break;
    /* NaN passes through; with min > max the result is max (like NumPy's clip) */
    case KN_OP_CLIP: KN_MAP((v < lo ? lo : v) > hi ? hi : (v < lo ? lo : v)); break;
    case KN_OP_HARD_SIGMOID: KN_MAP(kn_clamp01f(alpha * v + beta)); break;
    case KN_OP_HARD_SWISH: KN_MAP(v * kn_clamp01f(v * (1.0f / 6.0f) + 0.5f)); break;
    case KN_OP_SWISH: KN_MAP(v * kn_sigmoidf(v)); break;
    case KN_OP_GELU: for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f)); break;
    case KN_OP_MISH: /* softplus as in Softplus: max(v, 0) + log1p(exp(-|v|)) */
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] * tanhf((x[i] > 0.0f ? x[i] : 0.0f) + log1pf(expf(-fabsf(x[i]))));
        break;
    case KN_OP_ELU: KN_MAP(kn_eluf(v, alpha)); break;
    case KN_OP_SQRT: KN_MAP(sqrtf(v)); break;
    case KN_OP_EXP: KN_MAP(kn_expf(v)); break;
    case KN_OP_ERF: for (size_t i = 0; i < n; i++) x[i] = erff(x[i]); break; /* libm: precision */
    case KN_OP_ABS: KN_MAP(fabsf(v)); break;
    case KN_OP_NEG: KN_MAP(-v); break;
    case KN_OP_RECIPROCAL: KN_MAP(1.0f / v); break;
    case KN_OP_FLOOR: KN_MAP(floorf(v)); break;
    case KN_OP_CEIL: KN_MAP(ceilf(v)); break;
    case KN_OP_ROUND: KN_MAP(rintf(v)); break; /* the default rounding mode: half to even, as ONNX says */
    case KN_OP_SIGN: KN_MAP(v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v); break; /* 0 and NaN pass through */
    case KN_OP_SOFTSIGN: KN_MAP(v / (1.0f + fabsf(v))); break;
    case KN_OP_THRESHOLDED_RELU: KN_MAP(v > alpha ? v : 0.0f); break;
    /* libm for the transcendental ones (precision; ONNX's outputs come from NumPy's float32 or float64) */
    case KN_OP_LOG: for (size_t i = 0; i < n; i++) x[i] = logf(x[i]); break;
    case KN_OP_SIN: for (size_t i = 0; i < n; i++) x[i] = sinf(x[i]); break;
    case KN_OP_COS: for (size_t i = 0; i < n; i++) x[i] = cosf(x[i]); break;
    case KN_OP_SOFTPLUS: /* log(1 + exp(v)) without overflow: max(v, 0) + log1p(exp(-|v|)) */
        for (size_t i = 0; i < n; i++)
            x[i] = (x[i] > 0.0f ? x[i] : 0.0f) + log1pf(expf(-fabsf(x[i])));
        break;
    case KN_OP_SELU: /* gamma (in beta) * (v > 0 ? v : alpha (exp(v) - 1)) */
        for (size_t i = 0; i < n; i++)
            x[i] = beta * (x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]));
        break;
    case KN_OP_CELU: /* max(0, v) + min(0, alpha (exp(v / alpha) - 1)) */
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i] / alpha);
        break;
    default: break; /* Identity and unknown ops: nothing to do */
    }
}

/* Elements per parallel task of an activation. */
#define KN_ACT_CHUNK 8192

void kn_ref_activation(kn_op op, const kn_scalar_attrs *p, float *x, size_t n)
{
    const float alpha = p ? p->alpha : 0.0f, beta = p ? p->beta : 0.0f;
    const float lo = p ? p->min : -INFINITY, hi = p ? p->max : INFINITY;
    if (n <= KN_PAR_MIN) {
        kn_activation_chunk(op, alpha, beta, lo, hi, x, n);
        return;
    }
    int64_t tasks = (int64_t)((n + KN_ACT_CHUNK - 1) / KN_ACT_CHUNK);
    KN_OMP_FOR(true)
    for (int64_t t = 0; t < tasks; t++) {
        size_t beg = (size_t)t * KN_ACT_CHUNK;
        kn_activation_chunk(op, alpha, beta, lo, hi, x + beg, n - beg < KN_ACT_CHUNK ? n - beg : KN_ACT_CHUNK);
    }
}

static inline int64_t kn_load_int(const void *p, kn_dtype d, size_t i)
{
    switch (d) {
    case KN_I64: return ((const int64_t *)p)[i];
    case KN_I32: return ((const int32_t *)p)[i];
    case KN_I8: return ((const int8_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

/* Clip on integer tensors: bounds from inputs 1 and 2 (same dtype), else the dtype's range. */
static kn_status kn_clip_int(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err)
{
    kn_dtype dt = in[0].dtype;
    int64_t lo, hi;
    switch (dt) {
    case KN_I8: lo = INT8_MIN; hi = INT8_MAX; break;
    case KN_U8: lo = 0; hi = UINT8_MAX; break;
    case KN_I32: lo = INT32_MIN; hi = INT32_MAX; break;
    case KN_I64: lo = INT64_MIN; hi = INT64_MAX; break;
    default:
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    }
    if (out[0].dtype != dt)
        return kn_node_error(err, KN_ERR_DTYPE, node, "output dtype %s differs from input %s",
                              kn_dtype_name(out[0].dtype), kn_dtype_name(dt));
    for (int i = 1; i <= 2 && i < node->num_inputs; i++) {
        if (!in[i].data || kn_numel_of(&in[i]) == 0)
            continue;
        if (in[i].dtype != dt)
            return kn_node_error(err, KN_ERR_DTYPE, node, "%s is %s, data is %s", i == 1 ? "min" : "max",
                                  kn_dtype_name(in[i].dtype), kn_dtype_name(dt));
        if (i == 1)
            lo = kn_load_int(in[i].data, dt, 0);
        else
            hi = kn_load_int(in[i].data, dt, 0);
    }
    size_t n = kn_numel_of(&out[0]);
    const void *x = in[0].data;
    void *y = out[0].data;
    for (size_t i = 0; i < n; i++) {
        int64_t v = kn_load_int(x, dt, i);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        switch (dt) {
        case KN_I64: ((int64_t *)y)[i] = v; break;
        case KN_I32: ((int32_t *)y)[i] = (int32_t)v; break;
        case KN_I8: ((int8_t *)y)[i] = (int8_t)v; break;
        default: ((uint8_t *)y)[i] = (uint8_t)v; break;
        }
    }
    return KN_OK;
}

/* Abs, Neg, Sign on an integer tensor (negation wraps via unsigned, as NumPy). */
static kn_status kn_unary_int(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err)
{
    kn_dtype dt = in[0].dtype;
    if (out[0].dtype != dt || (dt != KN_I64 && dt != KN_I32 && dt != KN_I8 && dt != KN_U8))
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    size_t n = kn_numel_of(&out[0]);
    for (size_t i = 0; i < n; i++) {
        int64_t v = kn_load_int(in[0].data, dt, i);
        uint64_t r;
        switch (node->op) {
        case KN_OP_ABS: r = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; break;
        case KN_OP_NEG: r = 0 - (uint64_t)v; break;
        default: r = (uint64_t)(int64_t)(v > 0 ? 1 : v < 0 ? -1 : 0); break; /* Sign */
        }
        switch (dt) {
        case KN_I64: ((int64_t *)out[0].data)[i] = (int64_t)r; break;
        case KN_I32: ((int32_t *)out[0].data)[i] = (int32_t)(uint32_t)r; break;
        case KN_I8: ((int8_t *)out[0].data)[i] = (int8_t)(uint8_t)r; break;
        default: ((uint8_t *)out[0].data)[i] = (uint8_t)r; break;
        }
    }
    return KN_OK;
}

kn_status kn_ref_unary(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    if (!kn_op_is_unary_eltwise(node->op))
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not an element-wise unary op");
    if (node->op == KN_OP_CLIP && in[0].dtype != KN_F32)
        return kn_clip_int(node, in, out, err);
    if ((node->op == KN_OP_ABS || node->op == KN_OP_NEG || node->op == KN_OP_SIGN) && in[0].dtype != KN_F32)
        return kn_unary_int(node, in, out, err);
    if (in[0].dtype != KN_F32 || out[0].dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported (float32 only)",
                              kn_dtype_name(in[0].dtype));
    kn_scalar_attrs p = node->attrs.scalar;
    if (node->op == KN_OP_CLIP) {
        for (int i = 1; i <= 2 && i < node->num_inputs; i++) {
            if (!in[i].data || kn_numel_of(&in[i]) == 0)
                continue;
            if (in[i].dtype != KN_F32)
                return kn_node_error(err, KN_ERR_DTYPE, node, "%s is %s, not float32", i == 1 ? "min" : "max",
                                      kn_dtype_name(in[i].dtype));
            float v = ((const float *)in[i].data)[0];
            if (i == 1)
                p.min = v;
            else
                p.max = v;
        }
    }
    size_t n = kn_numel_of(&out[0]);
    if (n == 0)
        return KN_OK;
    if (out[0].data != in[0].data)
        memcpy(out[0].data, in[0].data, n * sizeof(float));
    kn_ref_activation(node->op, &p, out[0].data, n);
    return KN_OK;
}

/* ---------------------------------------------------------------- softmax */

/* Softmax or LogSoftmax of one contiguous row of len elements (sums in double). */
static KN_ELTWISE_FN void kn_softmax_row(const float *x, float *y, int64_t len, bool logsm)
{
    float mx = -INFINITY;
    KN_OMP_SIMD_REDUCTION(max, mx)
    for (int64_t j = 0; j < len; j++)
        mx = x[j] > mx ? x[j] : mx;
    double sum = 0.0;
    if (logsm) {
        KN_OMP_SIMD_REDUCTION(+, sum)
        for (int64_t j = 0; j < len; j++)
            sum += kn_expf(x[j] - mx);
        float lse = (float)log(sum);
        KN_OMP_SIMD
        for (int64_t j = 0; j < len; j++)
            y[j] = x[j] - mx - lse;
        return;
    }
    KN_OMP_SIMD_REDUCTION(+, sum)
    for (int64_t j = 0; j < len; j++) {
        float e = kn_expf(x[j] - mx);
        y[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    KN_OMP_SIMD
    for (int64_t j = 0; j < len; j++)
        y[j] *= inv;
}

/* Lanes per block of kn_softmax_block: its per-lane state stays in L1 (16 bytes a lane). */
#define KN_SOFTMAX_BLOCK 256

/*
 * Softmax or LogSoftmax of n <= KN_SOFTMAX_BLOCK adjacent lanes (an axis
 * before the last: x[j * inner + i], j < len, i < n) together, row by row:
 * each pass reads contiguous rows, where one lane at a time would read one
 * float per cache line (a segmentation head's [1, 21, 224, 224] over its
 * 21 classes took 12 ms at 2 threads). Per element, the same operations in
 * the same order as kn_softmax_row.
 */
static KN_ELTWISE_FN void kn_softmax_block(const float *x, float *y, int64_t len, int64_t inner, int64_t n,
                                           bool logsm)
{
    float mx[KN_SOFTMAX_BLOCK], scale[KN_SOFTMAX_BLOCK];
    double sum[KN_SOFTMAX_BLOCK];
    for (int64_t i = 0; i < n; i++) {
        mx[i] = -INFINITY;
        sum[i] = 0.0;
    }
    for (int64_t j = 0; j < len; j++) {
        const float *xr = x + j * inner;
        KN_OMP_SIMD
        for (int64_t i = 0; i < n; i++)
            mx[i] = xr[i] > mx[i] ? xr[i] : mx[i];
    }
    for (int64_t j = 0; j < len; j++) {
        const float *xr = x + j * inner;
        float *yr = y + j * inner;
        if (logsm) {
            KN_OMP_SIMD
            for (int64_t i = 0; i < n; i++)
                sum[i] += kn_expf(xr[i] - mx[i]);
        } else {
            KN_OMP_SIMD
            for (int64_t i = 0; i < n; i++) {
                float e = kn_expf(xr[i] - mx[i]);
                yr[i] = e;
                sum[i] += e;
            }
        }
    }
    for (int64_t i = 0; i < n; i++)
        scale[i] = logsm ? (float)log(sum[i]) : (float)(1.0 / sum[i]);
    for (int64_t j = 0; j < len; j++) {
        const float *xr = x + j * inner;
        float *yr = y + j * inner;
        if (logsm) {
            KN_OMP_SIMD
            for (int64_t i = 0; i < n; i++)
                yr[i] = xr[i] - mx[i] - scale[i];
        } else {
            KN_OMP_SIMD
            for (int64_t i = 0; i < n; i++)
                yr[i] *= scale[i];
        }
    }
}

kn_status kn_ref_softmax(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    if (node->op != KN_OP_SOFTMAX && node->op != KN_OP_LOG_SOFTMAX)
        return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a softmax op");
    if (in[0].dtype != KN_F32 || out[0].dtype != KN_F32)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported (float32 only)",
                              kn_dtype_name(in[0].dtype));
    const kn_shape *s = &in[0].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.axis.axis, s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    int64_t outer, len, inner;
    if (node->attrs.axis.legacy_2d) {
        outer = kn_dims_prod(s, 0, (int)axis);
        len = kn_dims_prod(s, (int)axis, s->rank);
        inner = 1;
    } else {
        outer = kn_dims_prod(s, 0, (int)axis);
        len = s->dims[axis];
        inner = kn_dims_prod(s, (int)axis + 1, s->rank);
    }
    size_t n = kn_numel_of(&in[0]);
    if (n == 0)
        return KN_OK;
    const float *x = in[0].data;
    float *y = out[0].data;
    bool logsm = node->op == KN_OP_LOG_SOFTMAX;
    if (inner > 1) { /* blocks of adjacent lanes (no overflow: the counts are of an allocated tensor) */
        int64_t nblk = (inner + KN_SOFTMAX_BLOCK - 1) / KN_SOFTMAX_BLOCK;
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (int64_t t = 0; t < outer * nblk; t++) {
            int64_t o = t / nblk, i = (t % nblk) * KN_SOFTMAX_BLOCK;
            int64_t cnt = inner - i < KN_SOFTMAX_BLOCK ? inner - i : KN_SOFTMAX_BLOCK;
            kn_softmax_block(x + o * len * inner + i, y + o * len * inner + i, len, inner, cnt, logsm);
        }
        return KN_OK;
    }
    KN_OMP_FOR(n > KN_PAR_MIN)
    for (int64_t o = 0; o < outer; o++)
        kn_softmax_row(x + o * len, y + o * len, len, logsm);
    return KN_OK;
}

