/*
 * ref_logic.c - reference kernels for comparisons (Equal, Less, LessOrEqual,
 * Greater, GreaterOrEqual), logical ops (Not, And, Or, Xor), Where, Mod and
 * Expand (the broadcasting walk they share).
 *
 * Bool tensors hold one byte per element, 0 or 1 (any non-zero byte reads as
 * true). Operands broadcast with NumPy's rules to the output's shape; the
 * loops walk the output in order with an odometer over per-operand strides
 * (0 along broadcast dimensions). These ops move little data per element
 * and are rare in the hot path of a model, so the loops favour clarity.
 */
#include <math.h>
#include <string.h>

#include "ref.h"

/* Per-operand element strides over the output's dims (0 where the operand is broadcast). */
static void kn_logic_strides(const kn_shape *s, const kn_shape *out, int64_t *st)
{
    int64_t acc = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int k = i - (out->rank - s->rank);
        int64_t d = k >= 0 ? s->dims[k] : 1;
        st[i] = d == 1 ? 0 : acc;
        acc *= d;
    }
}

/*
 * Walk the output's n elements in order, keeping the element offset of each of
 * `count` operands (at most 3) in off[]; calls body for each element through
 * the macro below.
 */
typedef struct kn_logic_iter {
    int rank, count;
    int64_t dims[KN_MAX_RANK], idx[KN_MAX_RANK];
    int64_t st[3][KN_MAX_RANK];
    int64_t off[3];
} kn_logic_iter;

static void kn_logic_iter_init(kn_logic_iter *it, const kn_tensor *const *ops, int count, const kn_shape *out)
{
    memset(it, 0, sizeof *it);
    it->rank = out->rank;
    it->count = count;
    for (int i = 0; i < out->rank; i++)
        it->dims[i] = out->dims[i];
    for (int k = 0; k < count; k++)
        kn_logic_strides(&ops[k]->shape, out, it->st[k]);
}

/* Advance to the next output element. */
static void kn_logic_iter_next(kn_logic_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        for (int k = 0; k < it->count; k++)
            it->off[k] += it->st[k][d];
        if (++it->idx[d] < it->dims[d])
            return;
        for (int k = 0; k < it->count; k++)
            it->off[k] -= it->st[k][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* Whether d is a dtype the comparisons read: float32, float64, the integers and bool. */
static bool kn_logic_dtype_ok(kn_dtype d)
{
    return d == KN_F32 || d == KN_F64 || d == KN_I64 || d == KN_I32 || d == KN_I8 || d == KN_U8 || d == KN_BOOL;
}

static inline int64_t kn_logic_int(const void *p, kn_dtype d, int64_t i)
{
    switch (d) {
    case KN_I64: return ((const int64_t *)p)[i];
    case KN_I32: return ((const int32_t *)p)[i];
    case KN_I8: return ((const int8_t *)p)[i];
    case KN_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return ((const uint8_t *)p)[i];
    }
}

/* -1, 0 or 1 for a < b, a == b, a > b; 2 when unordered (a NaN): every comparison is then false. */
static inline int kn_logic_cmp(const void *a, int64_t ia, const void *b, int64_t ib, kn_dtype d)
{
    if (d == KN_F32 || d == KN_F64) {
        double x = d == KN_F32 ? ((const float *)a)[ia] : ((const double *)a)[ia];
        double y = d == KN_F32 ? ((const float *)b)[ib] : ((const double *)b)[ib];
        return x < y ? -1 : x > y ? 1 : x == y ? 0 : 2;
    }
    int64_t x = kn_logic_int(a, d, ia), y = kn_logic_int(b, d, ib);
    return x < y ? -1 : x > y ? 1 : 0;
}

kn_status kn_ref_compare(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                         kn_error *err)
{
    (void)scratch;
    kn_dtype d = in[0].dtype;
    if (in[1].dtype != d || !kn_logic_dtype_ok(d) || out[0].dtype != KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtypes %s, %s -> %s are not supported", kn_dtype_name(d),
                             kn_dtype_name(in[1].dtype), kn_dtype_name(out[0].dtype));
    size_t n = kn_numel_of(&out[0]);
    const kn_tensor *ops[2] = {&in[0], &in[1]};
    kn_logic_iter it;
    kn_logic_iter_init(&it, ops, 2, &out[0].shape);
    uint8_t *y = out[0].data;
    for (size_t i = 0; i < n; i++, kn_logic_iter_next(&it)) {
        int c = kn_logic_cmp(in[0].data, it.off[0], in[1].data, it.off[1], d);
        bool v;
        switch (node->op) {
        case KN_OP_EQUAL: v = c == 0; break;
        case KN_OP_LESS: v = c == -1; break;
        case KN_OP_LESS_OR_EQUAL: v = c == -1 || c == 0; break;
        case KN_OP_GREATER: v = c == 1; break;
        case KN_OP_GREATER_OR_EQUAL: v = c == 1 || c == 0; break;
        default: return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a comparison");
        }
        y[i] = v;
    }
    return KN_OK;
}

kn_status kn_ref_logical(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                         kn_error *err)
{
    (void)scratch;
    bool unary = node->op == KN_OP_NOT;
    for (int k = 0; k < (unary ? 1 : 2); k++)
        if (in[k].dtype != KN_BOOL)
            return kn_node_error(err, KN_ERR_DTYPE, node, "input %d is %s, not bool", k, kn_dtype_name(in[k].dtype));
    if (out[0].dtype != KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, node, "output is %s, not bool", kn_dtype_name(out[0].dtype));
    size_t n = kn_numel_of(&out[0]);
    const uint8_t *a = in[0].data;
    uint8_t *y = out[0].data;
    if (unary) {
        for (size_t i = 0; i < n; i++)
            y[i] = a[i] == 0;
        return KN_OK;
    }
    const uint8_t *b = in[1].data;
    const kn_tensor *ops[2] = {&in[0], &in[1]};
    kn_logic_iter it;
    kn_logic_iter_init(&it, ops, 2, &out[0].shape);
    for (size_t i = 0; i < n; i++, kn_logic_iter_next(&it)) {
        bool x = a[it.off[0]] != 0, z = b[it.off[1]] != 0;
        switch (node->op) {
        case KN_OP_AND: y[i] = x && z; break;
        case KN_OP_OR: y[i] = x || z; break;
        case KN_OP_XOR: y[i] = x != z; break;
        default: return kn_node_error(err, KN_ERR_UNSUPPORTED, node, "not a logical op");
        }
    }
    return KN_OK;
}

kn_status kn_ref_where(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                       kn_error *err)
{
    (void)scratch;
    if (in[0].dtype != KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, node, "condition is %s, not bool", kn_dtype_name(in[0].dtype));
    kn_dtype d = out[0].dtype;
    size_t es = kn_dtype_size(d);
    if (in[1].dtype != d || in[2].dtype != d || es == 0)
        return kn_node_error(err, KN_ERR_DTYPE, node, "X is %s, Y %s, the output %s", kn_dtype_name(in[1].dtype),
                             kn_dtype_name(in[2].dtype), kn_dtype_name(d));
    size_t n = kn_numel_of(&out[0]);
    const kn_tensor *ops[3] = {&in[0], &in[1], &in[2]};
    kn_logic_iter it;
    kn_logic_iter_init(&it, ops, 3, &out[0].shape);
    const uint8_t *c = in[0].data;
    const char *x = in[1].data, *yv = in[2].data;
    char *o = out[0].data;
    /* the output may alias X or Y only where it has that operand's shape: element i is read before written */
    for (size_t i = 0; i < n; i++, kn_logic_iter_next(&it)) {
        const char *src = c[it.off[0]] ? x + (size_t)it.off[1] * es : yv + (size_t)it.off[2] * es;
        memmove(o + i * es, src, es);
    }
    return KN_OK;
}

/* ------------------------------------------------------------ Mod, Expand */

/* Integer remainder: fmod takes the dividend's sign, else the divisor's; 0 where the divisor is 0 or -1. */
static inline int64_t kn_mod_int(int64_t a, int64_t b, bool fmod_)
{
    if (b == 0 || b == -1)
        return 0;
    int64_t r = a % b;
    if (!fmod_ && r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

kn_status kn_ref_mod(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                     kn_error *err)
{
    (void)scratch;
    kn_dtype d = in[0].dtype;
    if (in[1].dtype != d || out[0].dtype != d || !kn_logic_dtype_ok(d) || d == KN_BOOL)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(d));
    bool fm = node->attrs.mod.fmod;
    size_t n = kn_numel_of(&out[0]);
    const kn_tensor *ops[2] = {&in[0], &in[1]};
    kn_logic_iter it;
    kn_logic_iter_init(&it, ops, 2, &out[0].shape);
    for (size_t i = 0; i < n; i++, kn_logic_iter_next(&it)) {
        switch (d) {
        case KN_F32:
            ((float *)out[0].data)[i] = fmodf(((const float *)in[0].data)[it.off[0]], ((const float *)in[1].data)[it.off[1]]);
            break;
        case KN_F64:
            ((double *)out[0].data)[i] = fmod(((const double *)in[0].data)[it.off[0]],
                                              ((const double *)in[1].data)[it.off[1]]);
            break;
        default: {
            int64_t r = kn_mod_int(kn_logic_int(in[0].data, d, it.off[0]), kn_logic_int(in[1].data, d, it.off[1]), fm);
            switch (d) {
            case KN_I64: ((int64_t *)out[0].data)[i] = r; break;
            case KN_I32: ((int32_t *)out[0].data)[i] = (int32_t)r; break;
            case KN_I8: ((int8_t *)out[0].data)[i] = (int8_t)r; break;
            default: ((uint8_t *)out[0].data)[i] = (uint8_t)r; break;
            }
        }
        }
    }
    return KN_OK;
}

kn_status kn_ref_expand(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                        kn_error *err)
{
    (void)scratch;
    size_t es = kn_dtype_size(in[0].dtype);
    if (es == 0 || out[0].dtype != in[0].dtype)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(in[0].dtype));
    size_t n = kn_numel_of(&out[0]);
    const kn_tensor *ops[1] = {&in[0]};
    kn_logic_iter it;
    kn_logic_iter_init(&it, ops, 1, &out[0].shape);
    const char *x = in[0].data;
    char *y = out[0].data;
    for (size_t i = 0; i < n; i++, kn_logic_iter_next(&it))
        memcpy(y + i * es, x + (size_t)it.off[0] * es, es);
    return KN_OK;
}
