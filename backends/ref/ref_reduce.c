/*
 * ref_reduce.c - reference kernels of the reductions (ReduceSum, ReduceMean,
 * ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
 * ReduceLogSumExp, ReduceSumSquare) and of ArgMax/ArgMin.
 *
 * A reduction walks, for each output element, the reduced dimensions of the
 * input (kn_red_plan: kept and reduced dimensions with their strides, runs
 * of adjacent reduced dimensions merged, size-1 dimensions dropped). Floats
 * accumulate in double; int32/int64 in int64 with wrapping arithmetic (as
 * NumPy). Over an empty set: Sum/L1/L2/SumSquare 0, Prod 1, Max -inf, Min
 * +inf, LogSum and LogSumExp -inf, Mean NaN (integer Max/Min: the type's
 * lowest/highest value).
 */
#include <math.h>
#include <stdint.h>

#include "ref.h"
#include "ref_nn.h"
#include "shape.h"

typedef struct kn_red_plan {
    int nk, nr;
    int64_t kd[KN_MAX_RANK], ks[KN_MAX_RANK]; /* kept dims (output order) and their input strides */
    int64_t rd[KN_MAX_RANK], rs[KN_MAX_RANK]; /* reduced dims and strides */
    int64_t count;                            /* elements reduced into each output */
} kn_red_plan;

static void kn_red_plan_make(const kn_shape *s, const bool *red, kn_red_plan *p)
{
    int64_t strides[KN_MAX_RANK], stride = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        strides[d] = stride;
        stride *= s->dims[d];
    }
    p->nk = p->nr = 0;
    p->count = 1;
    for (int d = 0; d < s->rank; d++) {
        if (red[d])
            p->count *= s->dims[d];
        if (s->dims[d] == 1)
            continue;
        if (red[d]) {
            if (p->nr > 0 && p->rs[p->nr - 1] == strides[d] * s->dims[d]) {
                p->rd[p->nr - 1] *= s->dims[d];
                p->rs[p->nr - 1] = strides[d];
            } else {
                p->rd[p->nr] = s->dims[d];
                p->rs[p->nr++] = strides[d];
            }
        } else {
            p->kd[p->nk] = s->dims[d];
            p->ks[p->nk++] = strides[d];
        }
    }
}

/* Input offset of the first element reduced into output o. */
static int64_t kn_red_base(const kn_red_plan *p, int64_t o)
{
    int64_t base = 0;
    for (int d = p->nk - 1; d >= 0; d--) {
        base += (o % p->kd[d]) * p->ks[d];
        o /= p->kd[d];
    }
    return base;
}

static inline double kn_red_load(const void *x, kn_dtype dt, int64_t i)
{
    return dt == KN_F64 ? ((const double *)x)[i] : (double)((const float *)x)[i];
}

static inline int64_t kn_red_load_int(const void *x, kn_dtype dt, int64_t i)
{
    return dt == KN_I64 ? ((const int64_t *)x)[i] : (int64_t)((const int32_t *)x)[i];
}

/* The float accumulation step of `op` (LogSumExp: shifted by the maximum `shift`). */
static inline double kn_red_step(kn_op op, double acc, double v, double shift)
{
    switch (op) {
    case KN_OP_REDUCE_MAX: return v > acc || isnan(v) ? v : acc;
    case KN_OP_REDUCE_MIN: return v < acc || isnan(v) ? v : acc;
    case KN_OP_REDUCE_PROD: return acc * v;
    case KN_OP_REDUCE_L1: return acc + fabs(v);
    case KN_OP_REDUCE_L2:
    case KN_OP_REDUCE_SUM_SQUARE: return acc + v * v;
    case KN_OP_REDUCE_LOG_SUM_EXP: return acc + exp(v - shift);
    default: return acc + v; /* Sum, Mean, LogSum */
    }
}

static double kn_red_init(kn_op op)
{
    switch (op) {
    case KN_OP_REDUCE_MAX: return -INFINITY;
    case KN_OP_REDUCE_MIN: return INFINITY;
    case KN_OP_REDUCE_PROD: return 1.0;
    default: return 0.0;
    }
}

/* One pass of `op` over the elements reduced into the output whose first input element is at `base`. */
static double kn_red_pass(const kn_red_plan *p, const void *x, kn_dtype dt, int64_t base, kn_op op, double shift)
{
    double acc = kn_red_init(op);
    if (p->nr == 0)
        return kn_red_step(op, acc, kn_red_load(x, dt, base), shift);
    int64_t idx[KN_MAX_RANK] = {0};
    int64_t inner = p->rd[p->nr - 1], istride = p->rs[p->nr - 1];
    for (;;) {
        int64_t off = base;
        for (int d = 0; d < p->nr - 1; d++)
            off += idx[d] * p->rs[d];
        for (int64_t j = 0; j < inner; j++)
            acc = kn_red_step(op, acc, kn_red_load(x, dt, off + j * istride), shift);
        int d = p->nr - 2;
        while (d >= 0 && ++idx[d] == p->rd[d])
            idx[d--] = 0;
        if (d < 0)
            return acc;
    }
}

/* The float result of reduction `op` for one output. */
static double kn_red_float(const kn_red_plan *p, const void *x, kn_dtype dt, int64_t base, kn_op op)
{
    if (op == KN_OP_REDUCE_LOG_SUM_EXP) {
        if (p->count == 0)
            return -INFINITY;
        double m = kn_red_pass(p, x, dt, base, KN_OP_REDUCE_MAX, 0.0);
        if (isinf(m) || isnan(m))
            return m; /* all -inf: -inf; any +inf: +inf; NaN stays */
        return m + log(kn_red_pass(p, x, dt, base, op, m));
    }
    double acc = p->count == 0 ? kn_red_init(op) : kn_red_pass(p, x, dt, base, op, 0.0);
    switch (op) {
    case KN_OP_REDUCE_MEAN: return p->count == 0 ? NAN : acc / (double)p->count;
    case KN_OP_REDUCE_L2: return sqrt(acc);
    case KN_OP_REDUCE_LOG_SUM: return log(acc);
    default: return acc;
    }
}

/* The integer result (Sum, Prod, Max, Min, L1, SumSquare; wrapping) for one output. */
static int64_t kn_red_int(const kn_red_plan *p, const void *x, kn_dtype dt, int64_t base, kn_op op)
{
    uint64_t acc = op == KN_OP_REDUCE_PROD ? 1u : 0u;
    int64_t ext = 0;
    bool first = true;
    int64_t idx[KN_MAX_RANK] = {0};
    int nr = p->nr;
    int64_t inner = nr ? p->rd[nr - 1] : 1, istride = nr ? p->rs[nr - 1] : 0;
    if (p->count == 0)
        return op == KN_OP_REDUCE_MAX ? (dt == KN_I64 ? INT64_MIN : INT32_MIN)
             : op == KN_OP_REDUCE_MIN ? (dt == KN_I64 ? INT64_MAX : INT32_MAX) : (int64_t)acc;
    for (;;) {
        int64_t off = base;
        for (int d = 0; d < nr - 1; d++)
            off += idx[d] * p->rs[d];
        for (int64_t j = 0; j < inner; j++) {
            int64_t v = kn_red_load_int(x, dt, off + j * istride);
            uint64_t u = (uint64_t)v;
            switch (op) {
            case KN_OP_REDUCE_MAX: ext = first || v > ext ? v : ext; break;
            case KN_OP_REDUCE_MIN: ext = first || v < ext ? v : ext; break;
            case KN_OP_REDUCE_PROD: acc *= u; break;
            case KN_OP_REDUCE_L1: acc += v < 0 ? 0u - u : u; break;
            case KN_OP_REDUCE_SUM_SQUARE: acc += u * u; break;
            default: acc += u; break;
            }
            first = false;
        }
        int d = nr - 2;
        while (d >= 0 && ++idx[d] == p->rd[d])
            idx[d--] = 0;
        if (d < 0)
            break;
    }
    if (op == KN_OP_REDUCE_MAX || op == KN_OP_REDUCE_MIN)
        return ext;
    return (int64_t)acc; /* two's complement: the wrapped value */
}

kn_status kn_ref_reduce(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                        kn_error *err)
{
    (void)scratch;
    kn_dtype dt = in[0].dtype;
    bool ints = dt == KN_I64 || dt == KN_I32;
    if ((dt != KN_F32 && dt != KN_F64 && !ints) || out[0].dtype != dt)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    const kn_shape *s = &in[0].shape;
    int64_t axes[KN_MAX_RANK];
    int naxes = -1;
    if (node->num_inputs > 1 && in[1].data) {
        size_t c = kn_numel_of(&in[1]);
        if (c > KN_MAX_RANK || (in[1].dtype != KN_I64 && in[1].dtype != KN_I32))
            return kn_node_error(err, KN_ERR_SHAPE, node, "axes must be at most %d int64 values", KN_MAX_RANK);
        for (size_t i = 0; i < c; i++)
            axes[i] = kn_red_load_int(in[1].data, in[1].dtype, (int64_t)i);
        naxes = (int)c;
    }
    bool red[KN_MAX_RANK], identity;
    kn_status st = kn_reduce_resolve(node, s->rank, axes, naxes, red, &identity, err);
    if (st != KN_OK)
        return st;
    kn_red_plan p;
    kn_red_plan_make(s, red, &p);
    size_t nout = kn_numel_of(&out[0]), n = kn_numel_of(&in[0]);
    const void *x = in[0].data;
    kn_op op = node->op;
    if (ints) {
        KN_OMP_FOR(n > KN_PAR_MIN)
        for (size_t o = 0; o < nout; o++) {
            int64_t v = kn_red_int(&p, x, dt, kn_red_base(&p, (int64_t)o), op);
            if (dt == KN_I64)
                ((int64_t *)out[0].data)[o] = v;
            else
                ((int32_t *)out[0].data)[o] = (int32_t)(uint32_t)(uint64_t)v;
        }
        return KN_OK;
    }
    KN_OMP_FOR(n > KN_PAR_MIN)
    for (size_t o = 0; o < nout; o++) {
        double v = kn_red_float(&p, x, dt, kn_red_base(&p, (int64_t)o), op);
        if (dt == KN_F64)
            ((double *)out[0].data)[o] = v;
        else
            ((float *)out[0].data)[o] = (float)v;
    }
    return KN_OK;
}

/* Element i of x as a double (ArgMax/ArgMin compare in double: exact for every kiln dtype but huge int64). */
static inline double kn_arg_load(const void *x, kn_dtype dt, int64_t i)
{
    switch (dt) {
    case KN_F32: return ((const float *)x)[i];
    case KN_F64: return ((const double *)x)[i];
    case KN_I32: return ((const int32_t *)x)[i];
    case KN_I8: return ((const int8_t *)x)[i];
    case KN_U8: return ((const uint8_t *)x)[i];
    default: return (double)((const int64_t *)x)[i];
    }
}

kn_status kn_ref_arg(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
                     kn_error *err)
{
    (void)scratch;
    kn_dtype dt = in[0].dtype;
    if (dt == KN_BOOL || kn_dtype_size(dt) == 0 || out[0].dtype != KN_I64)
        return kn_node_error(err, KN_ERR_DTYPE, node, "dtype %s is not supported", kn_dtype_name(dt));
    const kn_shape *s = &in[0].shape;
    int64_t axis;
    kn_status st = kn_axis_normalize(node, node->attrs.reduce.axes[0], s->rank, &axis, err);
    if (st != KN_OK)
        return st;
    int64_t outer = 1, len = s->dims[axis], inner = 1;
    for (int d = 0; d < s->rank; d++) {
        if (d < axis)
            outer *= s->dims[d];
        else if (d > axis)
            inner *= s->dims[d];
    }
    bool is_max = node->op == KN_OP_ARG_MAX, last = node->attrs.reduce.select_last;
    const void *x = in[0].data;
    int64_t *y = out[0].data;
    int64_t lanes = outer * inner;
    KN_OMP_FOR(lanes * len > KN_PAR_MIN)
    for (int64_t l = 0; l < lanes; l++) {
        int64_t o = l / inner, i = l % inner, base = o * len * inner + i, best = 0;
        double bv = kn_arg_load(x, dt, base);
        for (int64_t k = 1; k < len; k++) {
            double v = kn_arg_load(x, dt, base + k * inner);
            bool better = is_max ? (v > bv || (last && v == bv)) : (v < bv || (last && v == bv));
            if (better || (isnan(v) && !isnan(bv))) { /* NaN wins, like NumPy's argmax */
                bv = v;
                best = k;
            }
        }
        y[l] = best;
    }
    return KN_OK;
}
