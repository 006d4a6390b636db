/*
 * test_ref_tensor.c - reference element-wise and data-movement kernels
 * (ref_eltwise.c, ref_tensor.c) and their shape rules (ir/shape_tensor.c):
 * hand-computed expectations, naive implementations for broadcasting,
 * softmax and reductions, and the shape rules' error messages.
 */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref.h"
#include "shape.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

static kn_node mk_node(kn_op op, int nin, int nout)
{
    kn_node n;
    memset(&n, 0, sizeof n);
    n.name = (char *)"t";
    n.op = op;
    kn_attrs_init(op, &n.attrs);
    n.num_inputs = nin;
    n.num_outputs = nout;
    for (int i = 0; i < nin; i++)
        n.inputs[i] = i;
    for (int i = 0; i < nout; i++)
        n.outputs[i] = nin + i;
    n.fused.activation = KN_OP_COUNT;
    n.fused.residual = -1;
    return n;
}

static kn_shape mk_shape(int rank, const int64_t *dims)
{
    kn_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    return s;
}

static kn_tensor mk_tensor(kn_dtype dt, int rank, const int64_t *dims, void *data)
{
    kn_tensor t = {.dtype = dt, .shape = mk_shape(rank, dims), .data = data};
    return t;
}

static size_t numel(const kn_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

static void assert_floats(const float *got, const float *want, size_t n, float tol)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            assert_true(isnan(got[i]));
            continue;
        }
        if (!(fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i])))) {
            print_error("element %zu: got %.9g, want %.9g\n", i, (double)got[i], (double)want[i]);
            fail();
        }
    }
}

static void assert_i64s(const int64_t *got, const int64_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            print_error("element %zu: got %lld, want %lld\n", i, (long long)got[i], (long long)want[i]);
            fail();
        }
    }
}

static void *dup_mem(const void *p, size_t bytes)
{
    void *q = malloc(bytes ? bytes : 1);
    assert_non_null(q);
    if (bytes)
        memcpy(q, p, bytes);
    return q;
}

/* Graph helpers for shape-rule tests. */
static int g_input(kn_graph *g, const char *name, kn_dtype dt, int rank, const int64_t *dims)
{
    kn_shape s = mk_shape(rank, dims);
    int id = -1;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, dt, &s, KN_VALUE_INPUT, NULL, &id, &err), KN_OK);
    return id;
}

static int g_const_i64(kn_graph *g, const char *name, int count, const int64_t *vals)
{
    int64_t d = count;
    kn_shape s = mk_shape(1, &d);
    int id = -1;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_I64, &s, KN_VALUE_CONST,
                                        dup_mem(vals, (size_t)count * sizeof(int64_t)), &id, &err),
                     KN_OK);
    return id;
}

static int g_tmp(kn_graph *g, const char *name)
{
    int id = -1;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, &id, &err),
                     KN_OK);
    return id;
}

/* Add node `name` (op, attrs or NULL) and run its shape rule; returns the status. */
static kn_status g_infer(kn_graph *g, const char *name, kn_op op, const int *in, int nin, const int *out, int nout,
                         const kn_attrs *attrs, kn_error *err)
{
    int id = -1;
    assert_int_equal(kn_graph_add_node(g, name, op, in, nin, out, nout, attrs, &id, err), KN_OK);
    return kn_node_infer_shape(g, &g->nodes[id], err);
}

static void assert_shape(const kn_graph *g, int v, int rank, const int64_t *dims)
{
    const kn_value *x = &g->values[v];
    assert_true(x->shape_known);
    kn_shape want = mk_shape(rank, dims);
    if (!kn_shape_equal(&x->shape, &want)) {
        char a[160], b[160];
        print_error("shape %s, want %s\n", kn_shape_str(&x->shape, a, sizeof a), kn_shape_str(&want, b, sizeof b));
        fail();
    }
}

/* ------------------------------------------------------------- broadcasting */

/* Naive NumPy broadcasting: every output element computed from its coordinates. */
static void naive_binary(kn_op op, const kn_shape *sa, const float *a, const kn_shape *sb, const float *b,
                         const kn_shape *so, float *o)
{
    size_t n = numel(so);
    for (size_t i = 0; i < n; i++) {
        int64_t coord[KN_MAX_RANK];
        size_t rem = i;
        for (int d = so->rank - 1; d >= 0; d--) {
            coord[d] = (int64_t)(rem % (size_t)so->dims[d]);
            rem /= (size_t)so->dims[d];
        }
        size_t ia = 0, ib = 0;
        for (int d = 0; d < sa->rank; d++) {
            int64_t c = coord[d + so->rank - sa->rank];
            ia = ia * (size_t)sa->dims[d] + (size_t)(sa->dims[d] == 1 ? 0 : c);
        }
        for (int d = 0; d < sb->rank; d++) {
            int64_t c = coord[d + so->rank - sb->rank];
            ib = ib * (size_t)sb->dims[d] + (size_t)(sb->dims[d] == 1 ? 0 : c);
        }
        float x = a[ia], y = b[ib];
        switch (op) {
        case KN_OP_ADD: o[i] = x + y; break;
        case KN_OP_SUB: o[i] = x - y; break;
        case KN_OP_MUL: o[i] = x * y; break;
        case KN_OP_DIV: o[i] = x / y; break;
        default: o[i] = powf(x, y); break;
        }
    }
}

static void test_binary_broadcast_vs_naive(void **state)
{
    (void)state;
    static const struct {
        int ra;
        int64_t a[4];
        int rb;
        int64_t b[4];
    } cases[] = {
        {4, {2, 3, 4, 5}, 4, {2, 3, 4, 5}},   /* same shape */
        {4, {2, 3, 4, 5}, 3, {3, 1, 1}},      /* per channel */
        {4, {2, 3, 4, 5}, 1, {1}},            /* scalar */
        {0, {0}, 2, {3, 4}},                  /* rank-0 scalar first */
        {2, {4, 1}, 2, {1, 5}},               /* outer product */
        {4, {2, 3, 4, 5}, 3, {3, 1, 5}},      /* mixed */
        {3, {1, 3, 1}, 4, {2, 1, 1, 4}},      /* both broadcast */
        {4, {2, 64, 32, 33}, 3, {64, 1, 1}},  /* large: parallel path */
        {2, {3, 40000}, 2, {3, 40000}},       /* long rows: chunked */
        {2, {0, 3}, 1, {3}},                  /* empty */
    };
    const kn_op ops[] = {KN_OP_ADD, KN_OP_SUB, KN_OP_MUL, KN_OP_DIV, KN_OP_POW};
    uint64_t rng = 42;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int swap = 0; swap < 2; swap++) {
            kn_shape sa = mk_shape(cases[c].ra, cases[c].a), sb = mk_shape(cases[c].rb, cases[c].b), so;
            if (swap) {
                kn_shape t = sa;
                sa = sb;
                sb = t;
            }
            kn_node n = mk_node(KN_OP_ADD, 2, 1);
            kn_error err;
            assert_int_equal(kn_shape_broadcast2(&n, &sa, &sb, &so, &err), KN_OK);
            size_t na = numel(&sa), nb = numel(&sb), no = numel(&so);
            float *a = malloc((na + 1) * sizeof(float)), *b = malloc((nb + 1) * sizeof(float));
            float *o = malloc((no + 1) * sizeof(float)), *w = malloc((no + 1) * sizeof(float));
            assert_true(a && b && o && w);
            kn_test_fill(&rng, a, na, 0.5f, 2.0f);
            kn_test_fill(&rng, b, nb, 0.5f, 2.0f);
            for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
                n.op = ops[k];
                kn_tensor in[2] = {{KN_F32, sa, a}, {KN_F32, sb, b}};
                kn_tensor out = {KN_F32, so, o};
                assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
                naive_binary(ops[k], &sa, a, &sb, b, &so, w);
                assert_floats(o, w, no, 1e-6f);
            }
            free(a);
            free(b);
            free(o);
            free(w);
        }
    }
}

static void test_binary_in_place(void **state)
{
    (void)state;
    int64_t d[] = {2, 3}, dc[] = {3};
    float a[] = {1, 2, 3, 4, 5, 6}, b[] = {10, 20, 30};
    kn_node n = mk_node(KN_OP_ADD, 2, 1);
    kn_tensor in[2] = {mk_tensor(KN_F32, 2, d, a), mk_tensor(KN_F32, 1, dc, b)};
    kn_tensor out = mk_tensor(KN_F32, 2, d, a);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    const float want[] = {11, 22, 33, 14, 25, 36};
    assert_floats(a, want, 6, 0);
}

/* Abs, Neg, Sign on integers (wrapping at the minimum, like NumPy); Min/Max/Sum/Mean with broadcasting. */
static void test_issue17_int_and_variadic(void **state)
{
    (void)state;
    int64_t d[] = {5};
    int64_t a[] = {-7, 0, 7, INT64_MIN, INT64_MAX};
    int64_t o[5];
    kn_node n = mk_node(KN_OP_ABS, 1, 1);
    kn_tensor in[3] = {mk_tensor(KN_I64, 1, d, a)};
    kn_tensor out = mk_tensor(KN_I64, 1, d, o);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const int64_t want_abs[] = {7, 0, 7, INT64_MIN, INT64_MAX};
    assert_i64s(o, want_abs, 5);
    n.op = KN_OP_NEG;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const int64_t want_neg[] = {7, 0, -7, INT64_MIN, -INT64_MAX};
    assert_i64s(o, want_neg, 5);
    n.op = KN_OP_SIGN;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const int64_t want_sign[] = {-1, 0, 1, -1, 1};
    assert_i64s(o, want_sign, 5);
    int8_t a8[] = {-128, -3, 0, 3, 127}, o8[5];
    in[0] = mk_tensor(KN_I8, 1, d, a8);
    out = mk_tensor(KN_I8, 1, d, o8);
    n.op = KN_OP_ABS;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    assert_int_equal(o8[0], -128);
    assert_int_equal(o8[1], 3);
    assert_int_equal(o8[4], 127);

    /* Max of [2,3], [3] and a scalar; Mean of [2,1] and [3] -> [2,3] */
    float x[] = {1, 5, -2, 4, 0, 9}, y[] = {2, 2, 2}, z[] = {3}, r[6];
    int64_t dx[] = {2, 3}, dy[] = {3}, dz[] = {1};
    n = mk_node(KN_OP_MAX, 3, 1);
    in[0] = mk_tensor(KN_F32, 2, dx, x);
    in[1] = mk_tensor(KN_F32, 1, dy, y);
    in[2] = mk_tensor(KN_F32, 1, dz, z);
    out = mk_tensor(KN_F32, 2, dx, r);
    assert_int_equal(kn_ref_invoke(kn_ref_variadic, &n, in, &out, &err), KN_OK);
    const float want_max[] = {3, 5, 3, 4, 3, 9};
    assert_floats(r, want_max, 6, 0);
    n.op = KN_OP_MIN;
    assert_int_equal(kn_ref_invoke(kn_ref_variadic, &n, in, &out, &err), KN_OK);
    const float want_min[] = {1, 2, -2, 2, 0, 2};
    assert_floats(r, want_min, 6, 0);
    float p[] = {1, 4}, q[] = {1, 2, 3};
    int64_t dp[] = {2, 1};
    n = mk_node(KN_OP_MEAN, 2, 1);
    in[0] = mk_tensor(KN_F32, 2, dp, p);
    in[1] = mk_tensor(KN_F32, 1, dy, q);
    assert_int_equal(kn_ref_invoke(kn_ref_variadic, &n, in, &out, &err), KN_OK);
    const float want_mean[] = {1, 1.5f, 2, 2.5f, 3, 3.5f};
    assert_floats(r, want_mean, 6, 0);
}

static void test_binary_int64(void **state)
{
    (void)state;
    int64_t d[] = {6};
    int64_t a[] = {-7, 7, -7, 7, INT64_MIN, INT64_MAX};
    int64_t b[] = {2, 2, -2, -2, -1, 1};
    int64_t o[6];
    kn_node n = mk_node(KN_OP_DIV, 2, 1);
    kn_tensor in[2] = {mk_tensor(KN_I64, 1, d, a), mk_tensor(KN_I64, 1, d, b)};
    kn_tensor out = mk_tensor(KN_I64, 1, d, o);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    const int64_t want_div[] = {-3, 3, 3, -3, INT64_MIN, INT64_MAX}; /* truncation toward zero; MIN/-1 wraps */
    assert_i64s(o, want_div, 6);

    n.op = KN_OP_ADD;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    const int64_t want_add[] = {-5, 9, -9, 5, INT64_MAX, INT64_MIN}; /* wraps like NumPy */
    assert_i64s(o, want_add, 6);

    n.op = KN_OP_MUL;
    int64_t s[] = {3}, ds[] = {1};
    in[1] = mk_tensor(KN_I64, 1, ds, s);
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    const int64_t want_mul[] = {-21, 21, -21, 21, (int64_t)((uint64_t)INT64_MIN * 3u),
                                (int64_t)((uint64_t)INT64_MAX * 3u)};
    assert_i64s(o, want_mul, 6);

    /* division by zero is an error naming the node, not a crash */
    n.op = KN_OP_DIV;
    n.name = (char *)"div_0";
    s[0] = 0;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "node 'div_0' (Div)"));

    /* Pow on integers truncates and keeps the base's dtype */
    n.op = KN_OP_POW;
    s[0] = 2;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_i64s(o, (int64_t[]){49, 49, 49, 49}, 4);
    /* float32 base, int64 exponent */
    float fb[] = {2.0f, -3.0f, 0.5f}, fo[3];
    int64_t fe[] = {3, 2, -1}, d3[] = {3};
    kn_tensor pin[2] = {mk_tensor(KN_F32, 1, d3, fb), mk_tensor(KN_I64, 1, d3, fe)};
    kn_tensor pout = mk_tensor(KN_F32, 1, d3, fo);
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, pin, &pout, &err), KN_OK);
    assert_floats(fo, (float[]){8.0f, 9.0f, 2.0f}, 3, 0);
    /* int32 base, float32 exponent: truncated */
    int32_t ib[] = {2, 9, 10}, io[3];
    float ie[] = {0.5f, 0.5f, 1.5f};
    pin[0] = mk_tensor(KN_I32, 1, d3, ib);
    pin[1] = mk_tensor(KN_F32, 1, d3, ie);
    pout = mk_tensor(KN_I32, 1, d3, io);
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, pin, &pout, &err), KN_OK);
    assert_int_equal(io[0], 1);
    assert_int_equal(io[1], 3);
    assert_int_equal(io[2], 31);
}

static void test_binary_small_ints(void **state)
{
    (void)state;
    int64_t d[] = {4}, d1[] = {1};
    uint8_t ua[] = {250, 3, 17, 0}, ub[] = {10}, uo[4];
    kn_node n = mk_node(KN_OP_ADD, 2, 1);
    kn_tensor in[2] = {mk_tensor(KN_U8, 1, d, ua), mk_tensor(KN_U8, 1, d1, ub)};
    kn_tensor out = mk_tensor(KN_U8, 1, d, uo);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_memory_equal(uo, ((uint8_t[]){4, 13, 27, 10}), 4);
    n.op = KN_OP_DIV;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_memory_equal(uo, ((uint8_t[]){25, 0, 1, 0}), 4);
    n.op = KN_OP_SUB;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_memory_equal(uo, ((uint8_t[]){240, 249, 7, 246}), 4);
    int8_t ia[] = {-128, -7, 7, 100}, ib[] = {-1, 2, -2, 2}, io[4];
    in[0] = mk_tensor(KN_I8, 1, d, ia);
    in[1] = mk_tensor(KN_I8, 1, d, ib);
    out = mk_tensor(KN_I8, 1, d, io);
    n.op = KN_OP_DIV;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_memory_equal(io, ((int8_t[]){-128, -3, -3, 50}), 4);
    n.op = KN_OP_MUL;
    assert_int_equal(kn_ref_invoke(kn_ref_binary, &n, in, &out, &err), KN_OK);
    assert_memory_equal(io, ((int8_t[]){-128, -14, -14, -56}), 4);
}

/* --------------------------------------------------------------- unary ops */

static float ref_act(kn_op op, const kn_scalar_attrs *p, float x)
{
    switch (op) {
    case KN_OP_RELU: return x > 0 ? x : 0;
    case KN_OP_LEAKY_RELU: return x < 0 ? p->alpha * x : x;
    case KN_OP_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
    case KN_OP_TANH: return (float)tanh(x);
    case KN_OP_CLIP: return x < p->min ? p->min : x > p->max ? p->max : x;
    case KN_OP_HARD_SIGMOID: { double v = p->alpha * (double)x + p->beta; return (float)(v < 0 ? 0 : v > 1 ? 1 : v); }
    case KN_OP_HARD_SWISH: { double v = x / 6.0 + 0.5; return (float)(x * (v < 0 ? 0 : v > 1 ? 1 : v)); }
    case KN_OP_ELU: return x < 0 ? (float)(p->alpha * (exp(x) - 1.0)) : x;
    case KN_OP_SQRT: return (float)sqrt(x);
    case KN_OP_EXP: return (float)exp(x);
    case KN_OP_ERF: return (float)erf(x);
    default: return NAN;
    }
}

static void test_unary_ops(void **state)
{
    (void)state;
    const kn_op ops[] = {KN_OP_RELU, KN_OP_LEAKY_RELU, KN_OP_SIGMOID, KN_OP_TANH, KN_OP_CLIP, KN_OP_HARD_SIGMOID,
                         KN_OP_HARD_SWISH, KN_OP_ELU, KN_OP_SQRT, KN_OP_EXP, KN_OP_ERF};
    const float xs[] = {-5.0f, -3.0f, -1.5f, -0.25f, 0.0f, 0.25f, 1.0f, 2.5f, 3.0f, 7.0f};
    int64_t d[] = {10};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        kn_node n = mk_node(ops[k], 1, 1);
        if (ops[k] == KN_OP_CLIP) {
            n.attrs.scalar.min = -1.0f;
            n.attrs.scalar.max = 2.0f;
        }
        if (ops[k] == KN_OP_LEAKY_RELU || ops[k] == KN_OP_ELU)
            n.attrs.scalar.alpha = 0.3f;
        float x[10], y[10], w[10];
        memcpy(x, xs, sizeof x);
        for (int i = 0; i < 10; i++)
            w[i] = ops[k] == KN_OP_SQRT && xs[i] < 0 ? NAN : ref_act(ops[k], &n.attrs.scalar, xs[i]);
        kn_tensor in = mk_tensor(KN_F32, 1, d, x), out = mk_tensor(KN_F32, 1, d, y);
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, &in, &out, &err), KN_OK);
        assert_floats(y, w, 10, 2e-6f);
        /* in place gives the same */
        in.data = x;
        out.data = x;
        assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, &in, &out, &err), KN_OK);
        assert_floats(x, w, 10, 2e-6f);
    }
}

static void test_sigmoid_stable_and_large(void **state)
{
    (void)state;
    size_t n = 100000; /* above the parallel threshold */
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = -1000.0f + 2000.0f * (float)i / (float)(n - 1);
    kn_scalar_attrs p = {0};
    kn_ref_activation(KN_OP_SIGMOID, &p, x, n);
    for (size_t i = 0; i < n; i++) {
        double v = (float)(-1000.0f + 2000.0f * (float)i / (float)(n - 1));
        assert_true(isfinite(x[i]));
        assert_true(fabs(x[i] - 1.0 / (1.0 + exp(-v))) < 1e-6);
    }
    float ext[] = {-1e30f, -100.0f, 100.0f, 1e30f, -INFINITY, INFINITY};
    kn_ref_activation(KN_OP_SIGMOID, &p, ext, 6);
    const float want[] = {0.0f, 3.7200760e-44f, 1.0f, 1.0f, 0.0f, 1.0f};
    assert_floats(ext, want, 6, 1e-6f);
    free(x);
}

/*
 * Accuracy of the vectorised exp/sigmoid/tanh/elu (backends/ref/ref_math.h)
 * through kn_ref_activation, against double-precision libm, over every
 * 509th float bit pattern (about 8.4 million values, all exponents, both
 * signs) plus edge values. Error is measured in units of the last place of
 * the correctly rounded float result (denormal results: in steps of 2^-149).
 * Bounds: exp 2 ulp, elu (expm1) 3 ulp, sigmoid 3 ulp, tanh 4 ulp; overflow
 * gives +inf, NaN stays NaN.
 */
static double ulp_of(double r)
{
    r = fabs(r);
    if (r < FLT_MIN)
        return ldexp(1.0, -149);
    return ldexp(1.0, ilogb(r) - 23);
}

static double act_ref_double(kn_op op, float x)
{
    double v = x;
    switch (op) {
    case KN_OP_EXP: return exp(v);
    case KN_OP_SIGMOID: return v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
    case KN_OP_TANH: return tanh(v);
    default: return v < 0 ? expm1(v) : v; /* Elu with alpha 1 */
    }
}

static void test_activation_accuracy(void **state)
{
    (void)state;
    const kn_op ops[] = {KN_OP_EXP, KN_OP_SIGMOID, KN_OP_TANH, KN_OP_ELU};
    const double bound[] = {2.0, 3.0, 4.0, 3.0};
    const char *names[] = {"exp", "sigmoid", "tanh", "elu"};
    const float edges[] = {0.0f, -0.0f, 1e-30f, -1e-30f, FLT_MIN, -FLT_MIN, 1e-7f, -1e-7f, 0.5f, -0.5f,
                           88.72f, 88.7228f, 88.73f, -87.33f, -87.34f, -103.0f, -103.97f, -104.0f, -150.0f,
                           9.0f, -9.0f, 9.01f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY};
    const size_t nedge = sizeof edges / sizeof edges[0];
    const uint32_t stride = 509;
    size_t n = nedge + (size_t)(UINT32_MAX / stride) + 1;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    assert_non_null(x);
    assert_non_null(y);
    size_t m = 0;
    for (size_t i = 0; i < nedge; i++)
        x[m++] = edges[i];
    for (uint64_t b = 0; b <= UINT32_MAX; b += stride) {
        uint32_t u = (uint32_t)b;
        float f;
        memcpy(&f, &u, sizeof f);
        if (!isnan(f))
            x[m++] = f;
    }
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        kn_scalar_attrs p = {0};
        p.alpha = 1.0f;
        memcpy(y, x, m * sizeof(float));
        kn_ref_activation(ops[k], &p, y, m);
        double worst = 0.0, worst_rel = 0.0;
        float worst_x = 0.0f;
        for (size_t i = 0; i < m; i++) {
            double r = act_ref_double(ops[k], x[i]);
            if (r > FLT_MAX) { /* overflow: +inf (or FLT_MAX right at the rounding boundary) */
                if (!(isinf(y[i]) || y[i] == FLT_MAX))
                    fail_msg("%s(%.9g) = %.9g, want +inf", names[k], x[i], y[i]);
                continue;
            }
            if (!isfinite(y[i]))
                fail_msg("%s(%.9g) = %.9g, want %.9g", names[k], x[i], y[i], r);
            double e = fabs((double)y[i] - r) / ulp_of(r);
            if (e > worst) {
                worst = e;
                worst_x = x[i];
            }
            if (fabs(r) >= FLT_MIN && fabs((double)y[i] - r) / fabs(r) > worst_rel)
                worst_rel = fabs((double)y[i] - r) / fabs(r);
        }
        print_message("    %-8s max error %.2f ulp (at x = %.9g), %.3g relative on normal results, %zu inputs\n",
                      names[k], worst, worst_x, worst_rel, m);
        assert_true(worst <= bound[k]);
        /* NaN in, NaN out */
        float nanv[2] = {NAN, -NAN};
        kn_ref_activation(ops[k], &p, nanv, 2);
        assert_true(isnan(nanv[0]) && isnan(nanv[1]));
    }
    /* exact values at the ends */
    float ex[] = {INFINITY, -INFINITY, 89.0f, -200.0f, 0.0f};
    kn_ref_activation(KN_OP_EXP, NULL, ex, 5);
    assert_true(isinf(ex[0]) && ex[0] > 0 && isinf(ex[2]));
    assert_true(ex[1] == 0.0f && ex[3] == 0.0f && ex[4] == 1.0f);
    float th[] = {INFINITY, -INFINITY, 20.0f, -20.0f, -0.0f};
    kn_ref_activation(KN_OP_TANH, NULL, th, 5);
    assert_true(th[0] == 1.0f && th[1] == -1.0f && th[2] == 1.0f && th[3] == -1.0f);
    assert_true(th[4] == 0.0f && signbit(th[4]));
    free(x);
    free(y);
}

static void test_clip_inputs(void **state)
{
    (void)state;
    int64_t d[] = {5};
    float x[] = {-3, -1, 0, 1, 3}, y[5], lo = -0.5f, hi = 0.5f;
    kn_node n = mk_node(KN_OP_CLIP, 3, 1);
    kn_tensor in[3] = {mk_tensor(KN_F32, 1, d, x), mk_tensor(KN_F32, 0, NULL, &lo), mk_tensor(KN_F32, 0, NULL, &hi)};
    kn_tensor out = mk_tensor(KN_F32, 1, d, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const float w1[] = {-0.5f, -0.5f, 0, 0.5f, 0.5f};
    assert_floats(y, w1, 5, 0);
    /* only max given (min absent): min stays -inf from the attrs */
    in[1].data = NULL;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const float w2[] = {-3, -1, 0, 0.5f, 0.5f};
    assert_floats(y, w2, 5, 0);
    /* min > max: min(max(x, min), max) is max everywhere, as ONNX Runtime and NumPy compute it */
    float lo2 = 2.0f, hi2 = -2.0f;
    in[1].data = &lo2;
    in[2].data = &hi2;
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, in, &out, &err), KN_OK);
    const float w3[] = {-2, -2, -2, -2, -2};
    assert_floats(y, w3, 5, 0);
    /* integer Clip: bounds from inputs of the same dtype, else the dtype's range */
    int8_t bx[] = {-128, -5, 0, 5, 127}, by[5], bmin = -4;
    kn_tensor bin[3] = {mk_tensor(KN_I8, 1, d, bx), mk_tensor(KN_I8, 0, NULL, &bmin), mk_tensor(KN_I8, 0, NULL, NULL)};
    kn_tensor bout = mk_tensor(KN_I8, 1, d, by);
    assert_int_equal(kn_ref_invoke(kn_ref_unary, &n, bin, &bout, &err), KN_OK);
    assert_memory_equal(by, ((int8_t[]){-4, -4, 0, 5, 127}), 5);
    /* NaN passes through */
    float nanv[] = {NAN};
    kn_ref_activation(KN_OP_CLIP, &n.attrs.scalar, nanv, 1);
    assert_true(isnan(nanv[0]));
}

/* ---------------------------------------------------------------- softmax */

static void naive_softmax(const float *x, float *y, int64_t outer, int64_t len, int64_t inner, bool logsm)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < len; j++)
                mx = fmax(mx, x[(o * len + j) * inner + i]);
            for (int64_t j = 0; j < len; j++)
                s += exp(x[(o * len + j) * inner + i] - mx);
            for (int64_t j = 0; j < len; j++) {
                double v = x[(o * len + j) * inner + i] - mx;
                y[(o * len + j) * inner + i] = (float)(logsm ? v - log(s) : exp(v) / s);
            }
        }
}

static void test_softmax_axis_vs_legacy(void **state)
{
    (void)state;
    int64_t d[] = {2, 3, 4};
    float x[24], y[24], w[24];
    uint64_t rng = 7;
    kn_test_fill(&rng, x, 24, -3.0f, 3.0f);
    kn_error err;
    for (int logsm = 0; logsm < 2; logsm++) {
        kn_node n = mk_node(logsm ? KN_OP_LOG_SOFTMAX : KN_OP_SOFTMAX, 1, 1);
        kn_tensor in = mk_tensor(KN_F32, 3, d, x), out = mk_tensor(KN_F32, 3, d, y);
        /* opset 13: along axis 1 only */
        n.attrs.axis.axis = 1;
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
        naive_softmax(x, w, 2, 3, 4, logsm);
        assert_floats(y, w, 24, 1e-5f);
        /* legacy: coerced to [2, 12] */
        n.attrs.axis.legacy_2d = true;
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
        naive_softmax(x, w, 2, 12, 1, logsm);
        assert_floats(y, w, 24, 1e-5f);
        if (!logsm) {
            double s = 0;
            for (int i = 0; i < 12; i++)
                s += y[i];
            assert_true(fabs(s - 1.0) < 1e-5);
        }
        /* default axis -1 */
        n.attrs.axis.legacy_2d = false;
        n.attrs.axis.axis = -1;
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
        naive_softmax(x, w, 6, 4, 1, logsm);
        assert_floats(y, w, 24, 1e-5f);
        /* legacy axis 0: the whole tensor is one row */
        n.attrs.axis.legacy_2d = true;
        n.attrs.axis.axis = 0;
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
        naive_softmax(x, w, 1, 24, 1, logsm);
        assert_floats(y, w, 24, 1e-5f);
    }
}

/* An axis before the last with more lanes than one block of the kernel (256): [2, 5, 300] along axis 1, two
 * blocks per outer index (the second partial); and in place, as the memory plan may run it. */
static void test_softmax_inner_blocks(void **state)
{
    (void)state;
    enum { N = 2 * 5 * 300 };
    int64_t d[] = {2, 5, 300};
    static float x[N], y[N], w[N], z[N];
    uint64_t rng = 11;
    kn_test_fill(&rng, x, N, -20.0f, 20.0f);
    kn_error err;
    for (int logsm = 0; logsm < 2; logsm++) {
        kn_node n = mk_node(logsm ? KN_OP_LOG_SOFTMAX : KN_OP_SOFTMAX, 1, 1);
        n.attrs.axis.axis = 1;
        kn_tensor in = mk_tensor(KN_F32, 3, d, x), out = mk_tensor(KN_F32, 3, d, y);
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
        naive_softmax(x, w, 2, 5, 300, logsm);
        assert_floats(y, w, N, 1e-5f);
        memcpy(z, x, sizeof z);
        kn_tensor io = mk_tensor(KN_F32, 3, d, z);
        assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &io, &io, &err), KN_OK);
        assert_floats(z, y, N, 0.0f);
    }
}

static void test_softmax_large_numbers(void **state)
{
    (void)state;
    int64_t d[] = {2, 4};
    float x[] = {0, 1, 2, 3, 10000, 10001, 10002, 10003}, y[8];
    kn_node n = mk_node(KN_OP_SOFTMAX, 1, 1);
    kn_tensor in = mk_tensor(KN_F32, 2, d, x), out = mk_tensor(KN_F32, 2, d, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
    const float w[] = {0.032058604f, 0.08714432f, 0.23688284f, 0.6439143f,
                       0.032058604f, 0.08714432f, 0.23688284f, 0.6439143f};
    assert_floats(y, w, 8, 1e-6f);
    n.op = KN_OP_LOG_SOFTMAX;
    assert_int_equal(kn_ref_invoke(kn_ref_softmax, &n, &in, &out, &err), KN_OK);
    const float wl[] = {-3.4401896f, -2.4401896f, -1.4401897f, -0.44018975f,
                        -3.4401896f, -2.4401896f, -1.4401897f, -0.44018975f};
    assert_floats(y, wl, 8, 1e-5f);
}

/* ------------------------------------------------------------- ReduceMean */

static void test_reduce_mean(void **state)
{
    (void)state;
    int64_t d[] = {2, 3, 4};
    float x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    kn_error err;
    kn_node n = mk_node(KN_OP_REDUCE_MEAN, 1, 1);
    kn_tensor in = mk_tensor(KN_F32, 3, d, x);

    /* axis 1, keepdims: [2,1,4] */
    n.attrs.reduce.naxes = 1;
    n.attrs.reduce.axes[0] = 1;
    int64_t d1[] = {2, 1, 4};
    kn_tensor out = mk_tensor(KN_F32, 3, d1, y);
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    const float w1[] = {4, 5, 6, 7, 16, 17, 18, 19};
    assert_floats(y, w1, 8, 0);

    /* axes 0 and -1, no keepdims: [3] */
    n.attrs.reduce.naxes = 2;
    n.attrs.reduce.axes[0] = 0;
    n.attrs.reduce.axes[1] = -1;
    n.attrs.reduce.keepdims = false;
    int64_t d2[] = {3};
    out = mk_tensor(KN_F32, 1, d2, y);
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    const float w2[] = {7.5f, 11.5f, 15.5f};
    assert_floats(y, w2, 3, 0);

    /* trailing axes [1,2] (global pooling style) */
    n.attrs.reduce.axes[0] = 1;
    n.attrs.reduce.axes[1] = 2;
    int64_t d3[] = {2};
    out = mk_tensor(KN_F32, 1, d3, y);
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    const float w3[] = {5.5f, 17.5f};
    assert_floats(y, w3, 2, 0);

    /* all axes */
    n.attrs.reduce.naxes = 0;
    out = mk_tensor(KN_F32, 0, NULL, y);
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    assert_true(fabsf(y[0] - 11.5f) < 1e-6f);
}

/* Integer reductions wrap like NumPy; empty sets give each reduction's identity; ArgMax picks first/last ties. */
static void test_reduce_ints_empty_arg(void **state)
{
    (void)state;
    kn_error err;
    int64_t d[] = {2, 3};
    int64_t xi[6] = {INT64_MAX, 1, 5, -2, -3, 4}, yi[2];
    kn_node n = mk_node(KN_OP_REDUCE_SUM, 1, 1);
    n.attrs.reduce.naxes = 1;
    n.attrs.reduce.axes[0] = 1;
    n.attrs.reduce.keepdims = false;
    kn_tensor in = mk_tensor(KN_I64, 2, d, xi);
    int64_t d1[] = {2};
    kn_tensor out = mk_tensor(KN_I64, 1, d1, yi);
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    assert_true(yi[0] == INT64_MIN + 5 && yi[1] == -1); /* INT64_MAX + 6 wraps */
    n.op = KN_OP_REDUCE_MIN;
    assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &in, &out, &err), KN_OK);
    assert_true(yi[0] == 1 && yi[1] == -3);

    /* reducing an empty axis: Sum 0, Prod 1, Max -inf, Mean NaN, LogSumExp -inf */
    int64_t de[] = {2, 0};
    float ye[2];
    kn_tensor ein = mk_tensor(KN_F32, 2, de, NULL);
    out = mk_tensor(KN_F32, 1, d1, ye);
    const kn_op ops[] = {KN_OP_REDUCE_SUM, KN_OP_REDUCE_PROD, KN_OP_REDUCE_MAX, KN_OP_REDUCE_MEAN,
                         KN_OP_REDUCE_LOG_SUM_EXP};
    for (int i = 0; i < 5; i++) {
        n.op = ops[i];
        assert_int_equal(kn_ref_invoke(kn_ref_reduce, &n, &ein, &out, &err), KN_OK);
        if (i == 0) assert_true(ye[0] == 0.0f && ye[1] == 0.0f);
        if (i == 1) assert_true(ye[0] == 1.0f);
        if (i == 2 || i == 4) assert_true(isinf(ye[0]) && ye[0] < 0);
        if (i == 3) assert_true(isnan(ye[0]));
    }

    /* ArgMax / ArgMin along axis 1 with ties, first and last index */
    float xa[6] = {1, 3, 3, 2, 2, 0};
    int64_t ya[2];
    kn_node a = mk_node(KN_OP_ARG_MAX, 1, 1);
    kn_attrs_init(KN_OP_ARG_MAX, &a.attrs);
    a.attrs.reduce.axes[0] = -1;
    a.attrs.reduce.keepdims = false;
    in = mk_tensor(KN_F32, 2, d, xa);
    out = mk_tensor(KN_I64, 1, d1, ya);
    assert_int_equal(kn_ref_invoke(kn_ref_arg, &a, &in, &out, &err), KN_OK);
    assert_true(ya[0] == 1 && ya[1] == 0);
    a.attrs.reduce.select_last = true;
    assert_int_equal(kn_ref_invoke(kn_ref_arg, &a, &in, &out, &err), KN_OK);
    assert_true(ya[0] == 2 && ya[1] == 1);
    a.op = KN_OP_ARG_MIN;
    assert_int_equal(kn_ref_invoke(kn_ref_arg, &a, &in, &out, &err), KN_OK);
    assert_true(ya[0] == 0 && ya[1] == 2);
}

/* ------------------------------------------------------- copy, transpose */

static void test_copy_and_dropout(void **state)
{
    (void)state;
    int64_t d[] = {2, 3}, f[] = {6};
    float x[] = {1, 2, 3, 4, 5, 6}, y[6] = {0};
    uint8_t mask[6] = {0};
    kn_node n = mk_node(KN_OP_DROPOUT, 1, 2);
    kn_tensor in = mk_tensor(KN_F32, 2, d, x);
    kn_tensor out[2] = {mk_tensor(KN_F32, 2, d, y), mk_tensor(KN_BOOL, 2, d, mask)};
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_copy, &n, &in, out, &err), KN_OK);
    assert_floats(y, x, 6, 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(mask[i], 1);
    n = mk_node(KN_OP_RESHAPE, 2, 1);
    out[0] = mk_tensor(KN_F32, 1, f, x); /* same buffer: nothing to do */
    assert_int_equal(kn_ref_invoke(kn_ref_copy, &n, &in, out, &err), KN_OK);
}

static void test_transpose(void **state)
{
    (void)state;
    int64_t d[] = {2, 3, 4};
    float x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    kn_node n = mk_node(KN_OP_TRANSPOSE, 1, 1);
    n.attrs.transpose.nperm = 3;
    n.attrs.transpose.perm[0] = 2;
    n.attrs.transpose.perm[1] = 0;
    n.attrs.transpose.perm[2] = 1;
    int64_t od[] = {4, 2, 3};
    kn_tensor in = mk_tensor(KN_F32, 3, d, x), out = mk_tensor(KN_F32, 3, od, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_transpose, &n, &in, &out, &err), KN_OK);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                assert_true(y[(a * 2 + b) * 3 + c] == x[(b * 3 + c) * 4 + a]);
    /* default: reverse */
    n.attrs.transpose.nperm = 0;
    int64_t rd[] = {4, 3, 2};
    out = mk_tensor(KN_F32, 3, rd, y);
    assert_int_equal(kn_ref_invoke(kn_ref_transpose, &n, &in, &out, &err), KN_OK);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                assert_true(y[(a * 3 + b) * 2 + c] == x[(c * 3 + b) * 4 + a]);
    /* int8 by element size */
    int8_t bx[6] = {1, 2, 3, 4, 5, 6}, by[6];
    int64_t bd[] = {2, 3}, bo[] = {3, 2};
    in = mk_tensor(KN_I8, 2, bd, bx);
    out = mk_tensor(KN_I8, 2, bo, by);
    assert_int_equal(kn_ref_invoke(kn_ref_transpose, &n, &in, &out, &err), KN_OK);
    const int8_t bw[] = {1, 4, 2, 5, 3, 6};
    assert_memory_equal(by, bw, 6);
}

/* --------------------------------------------------------- concat, split */

static void test_concat_split(void **state)
{
    (void)state;
    int64_t da[] = {2, 1, 2}, db[] = {2, 2, 2}, dout[] = {2, 3, 2};
    int64_t a[] = {1, 2, 3, 4}, b[] = {10, 11, 12, 13, 14, 15, 16, 17}, y[12];
    kn_node n = mk_node(KN_OP_CONCAT, 2, 1);
    n.attrs.axis.axis = -2;
    kn_tensor in[2] = {mk_tensor(KN_I64, 3, da, a), mk_tensor(KN_I64, 3, db, b)};
    kn_tensor out = mk_tensor(KN_I64, 3, dout, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_concat, &n, in, &out, &err), KN_OK);
    const int64_t w[] = {1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17};
    assert_i64s(y, w, 12);

    /* split it back */
    int64_t a2[4], b2[8];
    kn_node s = mk_node(KN_OP_SPLIT, 1, 2);
    s.attrs.axis.axis = 1;
    kn_tensor sin = mk_tensor(KN_I64, 3, dout, y);
    kn_tensor sout[2] = {mk_tensor(KN_I64, 3, da, a2), mk_tensor(KN_I64, 3, db, b2)};
    assert_int_equal(kn_ref_invoke(kn_ref_split, &s, &sin, sout, &err), KN_OK);
    assert_i64s(a2, a, 4);
    assert_i64s(b2, b, 8);
}

/* ------------------------------------------------------------------ slice */

static void run_slice(const kn_tensor *x, int count, const int64_t *starts, const int64_t *ends, const int64_t *axes,
                      const int64_t *steps, kn_tensor *y, kn_status want_status)
{
    int64_t c = count;
    kn_node n = mk_node(KN_OP_SLICE, 5, 1);
    kn_tensor in[5] = {*x, mk_tensor(KN_I64, 1, &c, (void *)starts), mk_tensor(KN_I64, 1, &c, (void *)ends),
                       mk_tensor(KN_I64, 1, &c, (void *)axes), mk_tensor(KN_I64, 1, &c, (void *)steps)};
    kn_error err;
    /* output shape from the shared resolution */
    int64_t start[KN_MAX_RANK], step[KN_MAX_RANK];
    assert_int_equal(kn_slice_resolve(&n, &x->shape, starts, ends, axes, steps, count, start, step, &y->shape, &err),
                     want_status);
    if (want_status != KN_OK)
        return;
    assert_int_equal(kn_ref_invoke(kn_ref_slice, &n, in, y, &err), KN_OK);
}

static void test_slice_negative_steps(void **state)
{
    (void)state;
    float x[20], y[20];
    for (int i = 0; i < 20; i++)
        x[i] = (float)i;
    int64_t d1[] = {10};
    kn_tensor t = mk_tensor(KN_F32, 1, d1, x), o = {.dtype = KN_F32, .data = y};
    /* x[-1:-11:-3] -> 9 6 3 0 */
    run_slice(&t, 1, (int64_t[]){-1}, (int64_t[]){-11}, (int64_t[]){0}, (int64_t[]){-3}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 4);
    assert_floats(y, (float[]){9, 6, 3, 0}, 4, 0);
    /* x[100:-100:-4] (clamped) -> 9 5 1 */
    run_slice(&t, 1, (int64_t[]){100}, (int64_t[]){-100}, (int64_t[]){-1}, (int64_t[]){-4}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 3);
    assert_floats(y, (float[]){9, 5, 1}, 3, 0);
    /* x[2:8:2] -> 2 4 6 */
    run_slice(&t, 1, (int64_t[]){2}, (int64_t[]){8}, (int64_t[]){0}, (int64_t[]){2}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 3);
    assert_floats(y, (float[]){2, 4, 6}, 3, 0);
    /* x[5:2] is empty; INT64_MAX end */
    run_slice(&t, 1, (int64_t[]){5}, (int64_t[]){2}, (int64_t[]){0}, (int64_t[]){1}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 0);
    run_slice(&t, 1, (int64_t[]){-3}, (int64_t[]){INT64_MAX}, (int64_t[]){0}, (int64_t[]){INT64_MAX}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 1);
    assert_true(y[0] == 7);
    run_slice(&t, 1, (int64_t[]){INT64_MAX}, (int64_t[]){INT64_MIN}, (int64_t[]){0}, (int64_t[]){INT64_MIN}, &o,
              KN_OK);
    assert_int_equal(o.shape.dims[0], 1);
    assert_true(y[0] == 9);

    /* 2-D [4,5]: rows 3:0:-1, cols 0:5:2 */
    int64_t d2[] = {4, 5};
    t = mk_tensor(KN_F32, 2, d2, x);
    run_slice(&t, 2, (int64_t[]){3, 0}, (int64_t[]){0, 5}, (int64_t[]){0, 1}, (int64_t[]){-1, 2}, &o, KN_OK);
    assert_int_equal(o.shape.rank, 2);
    assert_int_equal(o.shape.dims[0], 3);
    assert_int_equal(o.shape.dims[1], 3);
    assert_floats(y, (float[]){15, 17, 19, 10, 12, 14, 5, 7, 9}, 9, 0);
    /* steps of +-2^63 on an outer axis take one row: step * row stride must not overflow */
    run_slice(&t, 1, (int64_t[]){-1}, (int64_t[]){INT64_MIN}, (int64_t[]){0}, (int64_t[]){INT64_MIN}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 1);
    assert_int_equal(o.shape.dims[1], 5);
    assert_floats(y, (float[]){15, 16, 17, 18, 19}, 5, 0);
    run_slice(&t, 1, (int64_t[]){1}, (int64_t[]){INT64_MAX}, (int64_t[]){0}, (int64_t[]){INT64_MAX}, &o, KN_OK);
    assert_int_equal(o.shape.dims[0], 1);
    assert_floats(y, (float[]){5, 6, 7, 8, 9}, 5, 0);
    /* step 0 and repeated axes are errors */
    run_slice(&t, 1, (int64_t[]){0}, (int64_t[]){1}, (int64_t[]){0}, (int64_t[]){0}, &o, KN_ERR_SHAPE);
    run_slice(&t, 2, (int64_t[]){0, 0}, (int64_t[]){1, 1}, (int64_t[]){1, -1}, (int64_t[]){1, 1}, &o,
              KN_ERR_SHAPE);
}

static void test_slice_shape_rule(void **state)
{
    (void)state;
    /* ONNX test_slice_neg_steps: [20,10,5] starts [20,10,4] ends [0,0,1] axes [0,1,2] steps [-1,-3,-2] */
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int x = g_input(&g, "x", KN_F32, 3, (int64_t[]){20, 10, 5});
    int in[5] = {x, g_const_i64(&g, "starts", 3, (int64_t[]){20, 10, 4}),
                 g_const_i64(&g, "ends", 3, (int64_t[]){0, 0, 1}), g_const_i64(&g, "axes", 3, (int64_t[]){0, 1, 2}),
                 g_const_i64(&g, "steps", 3, (int64_t[]){-1, -3, -2})};
    int y = g_tmp(&g, "y");
    assert_int_equal(g_infer(&g, "slice_0", KN_OP_SLICE, in, 5, &y, 1, NULL, &err), KN_OK);
    assert_shape(&g, y, 3, (int64_t[]){19, 3, 2});
    /* optional axes/steps absent */
    int in2[5] = {x, in[1], in[2], -1, -1};
    int y2 = g_tmp(&g, "y2");
    assert_int_equal(g_infer(&g, "slice_1", KN_OP_SLICE, in2, 3, &y2, 1, NULL, &err), KN_OK);
    assert_shape(&g, y2, 3, (int64_t[]){0, 0, 0});
    /* starts from a graph input: unsupported with a clear message */
    int dyn = g_input(&g, "dyn", KN_I64, 1, (int64_t[]){3});
    int in3[3] = {x, dyn, in[2]};
    int y3 = g_tmp(&g, "y3");
    assert_int_equal(g_infer(&g, "slice_2", KN_OP_SLICE, in3, 3, &y3, 1, NULL, &err), KN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "node 'slice_2' (Slice): starts"));
    kn_graph_free(&g);
}

/* -------------------------------------------------------------------- pad */

static void run_pad(kn_pad_mode mode, const int64_t *pads, const float *cv, int64_t ow, const float *want)
{
    float x[] = {1, 2, 3, 4, 5, 6}, y[64];
    int64_t d[] = {2, 3}, od[] = {2, ow}, pd[] = {4};
    kn_node n = mk_node(KN_OP_PAD, 3, 1);
    n.attrs.pad.mode = mode;
    kn_tensor in[3] = {mk_tensor(KN_F32, 2, d, x), mk_tensor(KN_I64, 1, pd, (void *)pads),
                       mk_tensor(KN_F32, 0, NULL, (void *)cv)};
    kn_tensor out = mk_tensor(KN_F32, 2, od, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_pad, &n, in, &out, &err), KN_OK);
    assert_floats(y, want, (size_t)(2 * ow), 0);
}

static void test_pad_modes(void **state)
{
    (void)state;
    /* x = [[1,2,3],[4,5,6]], pads: 2 before and 1 after on the last axis */
    const int64_t pads[] = {0, 2, 0, 1};
    float nine = 9.5f;
    run_pad(KN_PAD_CONSTANT, pads, &nine, 6, (float[]){9.5f, 9.5f, 1, 2, 3, 9.5f, 9.5f, 9.5f, 4, 5, 6, 9.5f});
    run_pad(KN_PAD_CONSTANT, pads, NULL, 6, (float[]){0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0});
    run_pad(KN_PAD_REFLECT, pads, NULL, 6, (float[]){3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5});
    run_pad(KN_PAD_EDGE, pads, NULL, 6, (float[]){1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6});
    /* reflect further than the dimension, like NumPy: [1,2,3] with 4 before */
    run_pad(KN_PAD_REFLECT, (int64_t[]){0, 4, 0, 0}, NULL, 7,
            (float[]){1, 2, 3, 2, 1, 2, 3, 4, 5, 6, 5, 4, 5, 6});
    /* negative pads crop */
    run_pad(KN_PAD_CONSTANT, (int64_t[]){0, -1, 0, 1}, NULL, 3, (float[]){2, 3, 0, 5, 6, 0});
    run_pad(KN_PAD_EDGE, (int64_t[]){0, 1, 0, -2}, NULL, 2, (float[]){1, 1, 4, 4});

    /* padding the first axis too (rows of constant), int64 data by element size */
    int64_t x[] = {1, 2, 3, 4}, y[16], d[] = {2, 2}, od[] = {4, 4}, pd[] = {4}, cv = -1;
    kn_node n = mk_node(KN_OP_PAD, 3, 1);
    kn_tensor in[3] = {mk_tensor(KN_I64, 2, d, x), mk_tensor(KN_I64, 1, pd, (int64_t[]){1, 1, 1, 1}),
                       mk_tensor(KN_I64, 0, NULL, &cv)};
    kn_tensor out = mk_tensor(KN_I64, 2, od, y);
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_pad, &n, in, &out, &err), KN_OK);
    assert_i64s(y, (int64_t[]){-1, -1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1, -1, -1, -1}, 16);
    n.attrs.pad.mode = KN_PAD_REFLECT;
    assert_int_equal(kn_ref_invoke(kn_ref_pad, &n, in, &out, &err), KN_OK);
    assert_i64s(y, (int64_t[]){4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1}, 16);
}

/* ----------------------------------------------------------------- gather */

static void test_gather(void **state)
{
    (void)state;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    int64_t d[] = {3, 4}, di[] = {2, 2};
    int64_t idx[] = {0, -1, 2, -3};
    float y[32];
    kn_node n = mk_node(KN_OP_GATHER, 2, 1);
    kn_error err;
    /* axis 0: [2,2,4] */
    int64_t od0[] = {2, 2, 4};
    kn_tensor in[2] = {mk_tensor(KN_F32, 2, d, x), mk_tensor(KN_I64, 2, di, idx)};
    kn_tensor out = mk_tensor(KN_F32, 3, od0, y);
    assert_int_equal(kn_ref_invoke(kn_ref_gather, &n, in, &out, &err), KN_OK);
    assert_floats(y, (float[]){0, 1, 2, 3, 8, 9, 10, 11, 8, 9, 10, 11, 0, 1, 2, 3}, 16, 0);
    /* axis 1 (as -1) with int32 indices: [3,2,2] */
    int32_t idx32[] = {0, -1, 2, -4};
    in[1] = mk_tensor(KN_I32, 2, di, idx32);
    n.attrs.axis.axis = -1;
    int64_t od1[] = {3, 2, 2};
    out = mk_tensor(KN_F32, 3, od1, y);
    assert_int_equal(kn_ref_invoke(kn_ref_gather, &n, in, &out, &err), KN_OK);
    assert_floats(y, (float[]){0, 3, 2, 0, 4, 7, 6, 4, 8, 11, 10, 8}, 12, 0);
    /* scalar index: rank drops */
    int64_t one = 2;
    in[1] = mk_tensor(KN_I64, 0, NULL, &one);
    int64_t od2[] = {3};
    out = mk_tensor(KN_F32, 1, od2, y);
    assert_int_equal(kn_ref_invoke(kn_ref_gather, &n, in, &out, &err), KN_OK);
    assert_floats(y, (float[]){2, 6, 10}, 3, 0);
    /* out of range */
    one = 4;
    n.name = (char *)"gather_7";
    assert_int_equal(kn_ref_invoke(kn_ref_gather, &n, in, &out, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "node 'gather_7' (Gather): index 4 is out of range [-4, 3]"));
}

/* GatherGrad: dy added back where Gather read; repeated and negative indices (int64 and int32) add up. */
static void test_gather_grad(void **state)
{
    (void)state;
    kn_error err;
    int64_t xd[] = {3, 2}, id[] = {4}, dyd[] = {4, 2};
    int64_t idx[] = {1, -2, 0, 1}; /* row 1 three times (once as -2) */
    float dy[] = {1, 2, 10, 20, 100, 200, 1000, 2000}, dx[6];
    kn_node n = mk_node(KN_OP_GATHER_GRAD, 3, 1);
    kn_tensor in[3] = {mk_tensor(KN_F32, 2, dyd, dy), mk_tensor(KN_F32, 2, xd, NULL), mk_tensor(KN_I64, 1, id, idx)};
    kn_tensor out = mk_tensor(KN_F32, 2, xd, dx);
    assert_int_equal(kn_ref_invoke(kn_ref_gather_grad, &n, in, &out, &err), KN_OK);
    assert_floats(dx, (float[]){100, 200, 1011, 2022, 0, 0}, 6, 0);
    /* axis 1 (as -1), int32 indices: x [3, 2], dy [3, 4] */
    int32_t idx32[] = {-1, 1, 0, -1};
    float dy2[12];
    for (int i = 0; i < 12; i++)
        dy2[i] = (float)(i + 1);
    int64_t dyd2[] = {3, 4};
    n.attrs.axis.axis = -1;
    in[0] = mk_tensor(KN_F32, 2, dyd2, dy2);
    in[2] = mk_tensor(KN_I32, 1, id, idx32);
    assert_int_equal(kn_ref_invoke(kn_ref_gather_grad, &n, in, &out, &err), KN_OK);
    assert_floats(dx, (float[]){3, 7, 7, 19, 11, 31}, 6, 0);
    /* an index out of range, and dy of the wrong size, are errors naming the node */
    idx32[2] = 2;
    n.name = (char *)"gg";
    assert_int_equal(kn_ref_invoke(kn_ref_gather_grad, &n, in, &out, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "node 'gg' (GatherGrad): index 2 is out of range [-2, 1]"));
    in[0] = mk_tensor(KN_F32, 2, dyd, dy);
    assert_int_equal(kn_ref_invoke(kn_ref_gather_grad, &n, in, &out, &err), KN_ERR_SHAPE);
}

/* GatherND: index tuples of depth 2 and, with batch_dims 1, per-batch tuples of depth 1. */
static void test_gather_nd(void **state)
{
    (void)state;
    kn_error err;
    int64_t xd[] = {2, 3, 2}, id[] = {3, 2}, yd[] = {3, 2};
    float x[12], y[6];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    int64_t idx[] = {1, 2, 0, -1, 1, 0};
    kn_node n = mk_node(KN_OP_GATHER_ND, 2, 1);
    kn_tensor in[2] = {mk_tensor(KN_F32, 3, xd, x), mk_tensor(KN_I64, 2, id, idx)};
    kn_tensor out = mk_tensor(KN_F32, 2, yd, y);
    assert_int_equal(kn_ref_invoke(kn_ref_gather_nd, &n, in, &out, &err), KN_OK);
    assert_floats(y, (float[]){10, 11, 4, 5, 6, 7}, 6, 0);
    /* batch_dims 1: indices [2, 1, 1] -> y [2, 1, 2] */
    int64_t id2[] = {2, 1, 1}, idx2[] = {2, 0}, yd2[] = {2, 1, 2};
    n.attrs.gather_nd.batch_dims = 1;
    in[1] = mk_tensor(KN_I64, 3, id2, idx2);
    out = mk_tensor(KN_F32, 3, yd2, y);
    assert_int_equal(kn_ref_invoke(kn_ref_gather_nd, &n, in, &out, &err), KN_OK);
    assert_floats(y, (float[]){4, 5, 6, 7}, 4, 0);
    idx2[1] = 3;
    assert_int_equal(kn_ref_invoke(kn_ref_gather_nd, &n, in, &out, &err), KN_ERR_INVALID_ARG);
}

/* ------------------------------------------------- shape, constant, cast */

static void test_shape_constant_cast(void **state)
{
    (void)state;
    kn_error err;
    int64_t d[] = {2, 3, 5, 7}, sd[] = {2}, y[4];
    kn_node n = mk_node(KN_OP_SHAPE, 1, 1);
    n.attrs.shape.start = 1;
    n.attrs.shape.end = -1;
    n.attrs.shape.has_end = true;
    kn_tensor in = mk_tensor(KN_F32, 4, d, NULL), out = mk_tensor(KN_I64, 1, sd, y);
    assert_int_equal(kn_ref_invoke(kn_ref_shape, &n, &in, &out, &err), KN_OK);
    assert_i64s(y, (int64_t[]){3, 5}, 2);

    kn_node c = mk_node(KN_OP_CONSTANT_OF_SHAPE, 1, 1);
    c.attrs.dtype.to = KN_I32;
    c.attrs.dtype.value = 7;
    int32_t ci[6];
    int64_t cd[] = {2, 3};
    out = mk_tensor(KN_I32, 2, cd, ci);
    assert_int_equal(kn_ref_invoke(kn_ref_constant_of_shape, &c, NULL, &out, &err), KN_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ci[i], 7);

    /* float -> int truncates toward zero; NaN -> 0; uint8 wraps; bool is != 0 */
    float fx[] = {1.9f, -1.9f, 0.0f, 255.5f, 300.0f, NAN};
    int64_t fd[] = {6};
    kn_node k = mk_node(KN_OP_CAST, 1, 1);
    int64_t i64[6];
    in = mk_tensor(KN_F32, 1, fd, fx);
    out = mk_tensor(KN_I64, 1, fd, i64);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_i64s(i64, (int64_t[]){1, -1, 0, 255, 300, 0}, 6);
    uint8_t u8[6];
    out = mk_tensor(KN_U8, 1, fd, u8);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_memory_equal(u8, ((uint8_t[]){1, 255, 0, 255, 44, 0}), 6);
    out = mk_tensor(KN_BOOL, 1, fd, u8);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_memory_equal(u8, ((uint8_t[]){1, 1, 0, 1, 1, 1}), 6);
    /* bool -> float, int64 -> double, double -> float */
    float back[6];
    in = mk_tensor(KN_BOOL, 1, fd, u8);
    out = mk_tensor(KN_F32, 1, fd, back);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_floats(back, (float[]){1, 1, 0, 1, 1, 1}, 6, 0);
    double dd[6];
    in = mk_tensor(KN_I64, 1, fd, i64);
    out = mk_tensor(KN_F64, 1, fd, dd);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_true(dd[0] == 1.0 && dd[1] == -1.0 && dd[4] == 300.0);
    in = mk_tensor(KN_F64, 1, fd, dd);
    out = mk_tensor(KN_F32, 1, fd, back);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_floats(back, (float[]){1, -1, 0, 255, 300, 0}, 6, 0);
    /* int32 -> int8 wraps */
    int32_t i32[] = {127, 128, -129, 1000, -1, 0};
    int8_t i8[6];
    in = mk_tensor(KN_I32, 1, fd, i32);
    out = mk_tensor(KN_I8, 1, fd, i8);
    assert_int_equal(kn_ref_invoke(kn_ref_cast, &k, &in, &out, &err), KN_OK);
    assert_memory_equal(i8, ((int8_t[]){127, -128, 127, -24, -1, 0}), 6);
}

/* ----------------------------------------------------------- shape rules */

static void test_shape_broadcast_errors(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int a = g_input(&g, "a", KN_F32, 2, (int64_t[]){2, 3});
    int b = g_input(&g, "b", KN_F32, 1, (int64_t[]){4});
    int c = g_input(&g, "c", KN_F32, 3, (int64_t[]){5, 1, 3});
    int i = g_input(&g, "i", KN_I64, 1, (int64_t[]){3});
    int y = g_tmp(&g, "y");
    assert_int_equal(g_infer(&g, "add_bad", KN_OP_ADD, (int[]){a, b}, 2, &y, 1, NULL, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "add_bad"));
    assert_non_null(strstr(err.message, "[2,3]"));
    assert_non_null(strstr(err.message, "[4]"));
    int y2 = g_tmp(&g, "y2");
    assert_int_equal(g_infer(&g, "mul_ok", KN_OP_MUL, (int[]){a, c}, 2, &y2, 1, NULL, &err), KN_OK);
    assert_shape(&g, y2, 3, (int64_t[]){5, 2, 3});
    int y3 = g_tmp(&g, "y3");
    assert_int_equal(g_infer(&g, "sub_mixed", KN_OP_SUB, (int[]){a, i}, 2, &y3, 1, NULL, &err), KN_ERR_DTYPE);
    assert_non_null(strstr(err.message, "node 'sub_mixed' (Sub)"));
    int y4 = g_tmp(&g, "y4");
    int u = g_input(&g, "u", KN_U8, 1, (int64_t[]){3});
    assert_int_equal(g_infer(&g, "pow_u8", KN_OP_POW, (int[]){u, u}, 2, &y4, 1, NULL, &err), KN_ERR_DTYPE);
    int y4b = g_tmp(&g, "y4b");
    assert_int_equal(g_infer(&g, "pow_mixed", KN_OP_POW, (int[]){a, i}, 2, &y4b, 1, NULL, &err), KN_OK);
    assert_int_equal(g.values[y4b].dtype, KN_F32);
    int y5 = g_tmp(&g, "y5");
    assert_int_equal(g_infer(&g, "div_int", KN_OP_DIV, (int[]){i, i}, 2, &y5, 1, NULL, &err), KN_OK);
    assert_int_equal(g.values[y5].dtype, KN_I64);
    /* unary float ops refuse int64, Identity takes anything */
    int y6 = g_tmp(&g, "y6"), y7 = g_tmp(&g, "y7");
    assert_int_equal(g_infer(&g, "relu_int", KN_OP_RELU, &i, 1, &y6, 1, NULL, &err), KN_ERR_DTYPE);
    assert_int_equal(g_infer(&g, "id", KN_OP_IDENTITY, &i, 1, &y7, 1, NULL, &err), KN_OK);
    kn_graph_free(&g);
}

static void test_shape_reshape(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int x = g_input(&g, "x", KN_F32, 4, (int64_t[]){2, 3, 4, 5});
    int y = g_tmp(&g, "y");
    int s1 = g_const_i64(&g, "s1", 3, (int64_t[]){0, -1, 5});
    assert_int_equal(g_infer(&g, "r1", KN_OP_RESHAPE, (int[]){x, s1}, 2, &y, 1, NULL, &err), KN_OK);
    assert_shape(&g, y, 3, (int64_t[]){2, 12, 5});
    int y2 = g_tmp(&g, "y2");
    int s2 = g_const_i64(&g, "s2", 3, (int64_t[]){-1, 4, -1});
    assert_int_equal(g_infer(&g, "r2", KN_OP_RESHAPE, (int[]){x, s2}, 2, &y2, 1, NULL, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "node 'r2' (Reshape)"));
    assert_non_null(strstr(err.message, "more than one -1"));
    int y3 = g_tmp(&g, "y3");
    int s3 = g_const_i64(&g, "s3", 2, (int64_t[]){7, -1});
    assert_int_equal(g_infer(&g, "r3", KN_OP_RESHAPE, (int[]){x, s3}, 2, &y3, 1, NULL, &err), KN_ERR_SHAPE);
    int y4 = g_tmp(&g, "y4");
    int s4 = g_const_i64(&g, "s4", 2, (int64_t[]){6, 21});
    assert_int_equal(g_infer(&g, "r4", KN_OP_RESHAPE, (int[]){x, s4}, 2, &y4, 1, NULL, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "[2,3,4,5]"));
    int y5 = g_tmp(&g, "y5");
    int dyn = g_input(&g, "dyn", KN_I64, 1, (int64_t[]){2});
    assert_int_equal(g_infer(&g, "r5", KN_OP_RESHAPE, (int[]){x, dyn}, 2, &y5, 1, NULL, &err), KN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "node 'r5' (Reshape)"));
    /* flatten */
    kn_attrs fa;
    kn_attrs_init(KN_OP_FLATTEN, &fa);
    fa.axis.axis = -1;
    int y6 = g_tmp(&g, "y6");
    assert_int_equal(g_infer(&g, "fl", KN_OP_FLATTEN, &x, 1, &y6, 1, &fa, &err), KN_OK);
    assert_shape(&g, y6, 2, (int64_t[]){24, 5});
    fa.axis.axis = 0;
    int y7 = g_tmp(&g, "y7");
    assert_int_equal(g_infer(&g, "fl0", KN_OP_FLATTEN, &x, 1, &y7, 1, &fa, &err), KN_OK);
    assert_shape(&g, y7, 2, (int64_t[]){1, 120});
    kn_graph_free(&g);
}

static void test_shape_transpose_concat_split(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int x = g_input(&g, "x", KN_F32, 3, (int64_t[]){2, 3, 4});
    kn_attrs ta;
    kn_attrs_init(KN_OP_TRANSPOSE, &ta);
    ta.transpose.nperm = 3;
    ta.transpose.perm[0] = 0;
    ta.transpose.perm[1] = 2;
    ta.transpose.perm[2] = 0;
    int y = g_tmp(&g, "y");
    assert_int_equal(g_infer(&g, "tr_bad", KN_OP_TRANSPOSE, &x, 1, &y, 1, &ta, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "node 'tr_bad' (Transpose): perm [0,2,0]"));
    ta.transpose.nperm = 2;
    int y1 = g_tmp(&g, "y1");
    assert_int_equal(g_infer(&g, "tr_short", KN_OP_TRANSPOSE, &x, 1, &y1, 1, &ta, &err), KN_ERR_SHAPE);
    ta.transpose.nperm = 3;
    ta.transpose.perm[2] = 1;
    int y2 = g_tmp(&g, "y2");
    assert_int_equal(g_infer(&g, "tr", KN_OP_TRANSPOSE, &x, 1, &y2, 1, &ta, &err), KN_OK);
    assert_shape(&g, y2, 3, (int64_t[]){2, 4, 3});

    kn_attrs ca;
    kn_attrs_init(KN_OP_CONCAT, &ca);
    ca.axis.axis = 1;
    int z = g_input(&g, "z", KN_F32, 3, (int64_t[]){2, 5, 4});
    int y3 = g_tmp(&g, "y3");
    assert_int_equal(g_infer(&g, "cat", KN_OP_CONCAT, (int[]){x, z, x}, 3, &y3, 1, &ca, &err), KN_OK);
    assert_shape(&g, y3, 3, (int64_t[]){2, 11, 4});
    ca.axis.axis = 2;
    int y4 = g_tmp(&g, "y4");
    assert_int_equal(g_infer(&g, "cat_bad", KN_OP_CONCAT, (int[]){x, z}, 2, &y4, 1, &ca, &err), KN_ERR_SHAPE);

    /* split: sizes from input 1, or equal parts (uneven last chunk) */
    kn_attrs sa;
    kn_attrs_init(KN_OP_SPLIT, &sa);
    sa.axis.axis = -1;
    int sp = g_const_i64(&g, "sp", 2, (int64_t[]){1, 3});
    int o1[2] = {g_tmp(&g, "o1a"), g_tmp(&g, "o1b")};
    assert_int_equal(g_infer(&g, "split", KN_OP_SPLIT, (int[]){x, sp}, 2, o1, 2, &sa, &err), KN_OK);
    assert_shape(&g, o1[0], 3, (int64_t[]){2, 3, 1});
    assert_shape(&g, o1[1], 3, (int64_t[]){2, 3, 3});
    int o2[3] = {g_tmp(&g, "o2a"), g_tmp(&g, "o2b"), g_tmp(&g, "o2c")};
    sa.axis.axis = 1;
    int w = g_input(&g, "w", KN_F32, 2, (int64_t[]){2, 7});
    assert_int_equal(g_infer(&g, "split3", KN_OP_SPLIT, &w, 1, o2, 3, &sa, &err), KN_OK);
    assert_shape(&g, o2[0], 2, (int64_t[]){2, 3});
    assert_shape(&g, o2[2], 2, (int64_t[]){2, 1});
    int sp2 = g_const_i64(&g, "sp2", 2, (int64_t[]){3, 3});
    int o3[2] = {g_tmp(&g, "o3a"), g_tmp(&g, "o3b")};
    assert_int_equal(g_infer(&g, "split_bad", KN_OP_SPLIT, (int[]){w, sp2}, 2, o3, 2, &sa, &err), KN_ERR_SHAPE);
    kn_graph_free(&g);
}

static void test_shape_misc(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int x = g_input(&g, "x", KN_F32, 4, (int64_t[]){1, 3, 1, 5});
    /* squeeze with and without axes */
    int y = g_tmp(&g, "y"), y2 = g_tmp(&g, "y2"), y3 = g_tmp(&g, "y3");
    assert_int_equal(g_infer(&g, "sq", KN_OP_SQUEEZE, &x, 1, &y, 1, NULL, &err), KN_OK);
    assert_shape(&g, y, 2, (int64_t[]){3, 5});
    int ax = g_const_i64(&g, "ax", 1, (int64_t[]){-2});
    assert_int_equal(g_infer(&g, "sq2", KN_OP_SQUEEZE, (int[]){x, ax}, 2, &y2, 1, NULL, &err), KN_OK);
    assert_shape(&g, y2, 3, (int64_t[]){1, 3, 5});
    int ax1 = g_const_i64(&g, "ax1", 1, (int64_t[]){1});
    assert_int_equal(g_infer(&g, "sq3", KN_OP_SQUEEZE, (int[]){x, ax1}, 2, &y3, 1, NULL, &err), KN_ERR_SHAPE);
    /* unsqueeze: axes against the output rank, unsorted */
    int ua = g_const_i64(&g, "ua", 2, (int64_t[]){5, 0});
    int y4 = g_tmp(&g, "y4");
    assert_int_equal(g_infer(&g, "usq", KN_OP_UNSQUEEZE, (int[]){y, ua}, 2, &y4, 1, NULL, &err), KN_ERR_SHAPE);
    int ua2 = g_const_i64(&g, "ua2", 2, (int64_t[]){3, 0});
    int y5 = g_tmp(&g, "y5");
    assert_int_equal(g_infer(&g, "usq2", KN_OP_UNSQUEEZE, (int[]){y, ua2}, 2, &y5, 1, NULL, &err), KN_OK);
    assert_shape(&g, y5, 4, (int64_t[]){1, 3, 5, 1});
    /* pad */
    int pads = g_const_i64(&g, "pads", 8, (int64_t[]){0, 0, 1, -1, 0, 2, 1, 0});
    int y6 = g_tmp(&g, "y6");
    assert_int_equal(g_infer(&g, "pad", KN_OP_PAD, (int[]){x, pads}, 2, &y6, 1, NULL, &err), KN_OK);
    assert_shape(&g, y6, 4, (int64_t[]){1, 5, 3, 4});
    int pads2 = g_const_i64(&g, "pads2", 8, (int64_t[]){0, 0, 0, -6, 0, 0, 0, 0});
    int y7 = g_tmp(&g, "y7");
    assert_int_equal(g_infer(&g, "pad_bad", KN_OP_PAD, (int[]){x, pads2}, 2, &y7, 1, NULL, &err), KN_ERR_SHAPE);
    /* gather */
    kn_attrs ga;
    kn_attrs_init(KN_OP_GATHER, &ga);
    ga.axis.axis = 1;
    int gi = g_input(&g, "gi", KN_I32, 2, (int64_t[]){2, 2});
    int y8 = g_tmp(&g, "y8");
    assert_int_equal(g_infer(&g, "gather", KN_OP_GATHER, (int[]){x, gi}, 2, &y8, 1, &ga, &err), KN_OK);
    assert_shape(&g, y8, 5, (int64_t[]){1, 2, 2, 1, 5});
    int gc = g_const_i64(&g, "gc", 1, (int64_t[]){-4});
    int y9 = g_tmp(&g, "y9");
    assert_int_equal(g_infer(&g, "gather_bad", KN_OP_GATHER, (int[]){x, gc}, 2, &y9, 1, &ga, &err), KN_ERR_SHAPE);
    /* shape with start/end clamping */
    kn_attrs sa;
    kn_attrs_init(KN_OP_SHAPE, &sa);
    sa.shape.start = -10;
    sa.shape.end = 2;
    sa.shape.has_end = true;
    int y10 = g_tmp(&g, "y10");
    assert_int_equal(g_infer(&g, "shape", KN_OP_SHAPE, &x, 1, &y10, 1, &sa, &err), KN_OK);
    assert_shape(&g, y10, 1, (int64_t[]){2});
    assert_int_equal(g.values[y10].dtype, KN_I64);
    /* constant of shape */
    int cs = g_const_i64(&g, "cs", 2, (int64_t[]){4, 0});
    int y11 = g_tmp(&g, "y11");
    assert_int_equal(g_infer(&g, "cos", KN_OP_CONSTANT_OF_SHAPE, &cs, 1, &y11, 1, NULL, &err), KN_OK);
    assert_shape(&g, y11, 2, (int64_t[]){4, 0});
    assert_int_equal(g.values[y11].dtype, KN_F32);
    /* dropout's mask */
    int y12[2] = {g_tmp(&g, "y12"), g_tmp(&g, "mask")};
    assert_int_equal(g_infer(&g, "drop", KN_OP_DROPOUT, &x, 1, y12, 2, NULL, &err), KN_OK);
    assert_int_equal(g.values[y12[1]].dtype, KN_BOOL);
    assert_shape(&g, y12[1], 4, (int64_t[]){1, 3, 1, 5});
    /* cast */
    kn_attrs ka;
    kn_attrs_init(KN_OP_CAST, &ka);
    ka.dtype.to = KN_I8;
    int y13 = g_tmp(&g, "y13");
    assert_int_equal(g_infer(&g, "cast", KN_OP_CAST, &x, 1, &y13, 1, &ka, &err), KN_OK);
    assert_int_equal(g.values[y13].dtype, KN_I8);
    ka.dtype.to = (kn_dtype)10; /* float16 */
    int y14 = g_tmp(&g, "y14");
    assert_int_equal(g_infer(&g, "cast16", KN_OP_CAST, &x, 1, &y14, 1, &ka, &err), KN_ERR_UNSUPPORTED);
    /* reduce mean */
    kn_attrs ra;
    kn_attrs_init(KN_OP_REDUCE_MEAN, &ra);
    ra.reduce.naxes = 2;
    ra.reduce.axes[0] = 1;
    ra.reduce.axes[1] = -1;
    int y15 = g_tmp(&g, "y15");
    assert_int_equal(g_infer(&g, "rm", KN_OP_REDUCE_MEAN, &x, 1, &y15, 1, &ra, &err), KN_OK);
    assert_shape(&g, y15, 4, (int64_t[]){1, 1, 1, 1});
    ra.reduce.keepdims = false;
    int y16 = g_tmp(&g, "y16");
    assert_int_equal(g_infer(&g, "rm2", KN_OP_REDUCE_MEAN, &x, 1, &y16, 1, &ra, &err), KN_OK);
    assert_shape(&g, y16, 2, (int64_t[]){1, 1});
    ra.reduce.axes[1] = 1;
    int y17 = g_tmp(&g, "y17");
    assert_int_equal(g_infer(&g, "rm3", KN_OP_REDUCE_MEAN, &x, 1, &y17, 1, &ra, &err), KN_ERR_SHAPE);
    /* softmax axis out of range */
    kn_attrs sm;
    kn_attrs_init(KN_OP_SOFTMAX, &sm);
    sm.axis.axis = 4;
    int y18 = g_tmp(&g, "y18");
    assert_int_equal(g_infer(&g, "sm", KN_OP_SOFTMAX, &x, 1, &y18, 1, &sm, &err), KN_ERR_SHAPE);
    kn_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_broadcast_vs_naive),
        cmocka_unit_test(test_binary_in_place),
        cmocka_unit_test(test_binary_int64),
        cmocka_unit_test(test_binary_small_ints),
        cmocka_unit_test(test_unary_ops),
        cmocka_unit_test(test_sigmoid_stable_and_large),
        cmocka_unit_test(test_activation_accuracy),
        cmocka_unit_test(test_clip_inputs),
        cmocka_unit_test(test_issue17_int_and_variadic),
        cmocka_unit_test(test_softmax_axis_vs_legacy),
        cmocka_unit_test(test_softmax_inner_blocks),
        cmocka_unit_test(test_softmax_large_numbers),
        cmocka_unit_test(test_reduce_mean),
        cmocka_unit_test(test_reduce_ints_empty_arg),
        cmocka_unit_test(test_copy_and_dropout),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat_split),
        cmocka_unit_test(test_slice_negative_steps),
        cmocka_unit_test(test_slice_shape_rule),
        cmocka_unit_test(test_pad_modes),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_gather_grad),
        cmocka_unit_test(test_gather_nd),
        cmocka_unit_test(test_shape_constant_cast),
        cmocka_unit_test(test_shape_broadcast_errors),
        cmocka_unit_test(test_shape_reshape),
        cmocka_unit_test(test_shape_transpose_concat_split),
        cmocka_unit_test(test_shape_misc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
