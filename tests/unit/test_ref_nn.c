/*
 * test_ref_nn.c - the reference backend's neural-network kernels (Conv,
 * ConvTranspose, ConvGradWeight, Gemm, MatMul, MaxPool/AveragePool, global pools,
 * BatchNormalization, LRN, SumTo) against naive direct loops written here, on
 * random shapes and attributes, plus kn_window_resolve and the shape rules'
 * error cases.
 *
 * Tolerance: the naive references accumulate in double; the kernels compute
 * in float32 (sgemm blocking, different summation order). Inputs are
 * uniform in [-1, 1] and reductions have at most a few hundred terms, so
 * float32 rounding stays around 1e-6..1e-5; every comparison uses
 * |got - ref| <= 1e-4 + 1e-4 * |ref| (KN_TOL_ABS, KN_TOL_REL), which is tight
 * enough to catch any indexing mistake (those give errors of order 0.1).
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref.h"
#include "shape.h"
#include "testutil.h"

#define KN_TOL_ABS 1e-4
#define KN_TOL_REL 1e-4

static uint64_t rng = 0x1234567887654321ull;

static int64_t irand(int64_t lo, int64_t hi) /* inclusive */
{
    float u = kn_test_uniform(&rng, 0.0f, 1.0f);
    int64_t v = lo + (int64_t)(u * (float)(hi - lo + 1));
    return v > hi ? hi : v;
}

/* ------------------------------------------------------------ helpers */

static kn_tensor make(kn_dtype dt, int rank, const int64_t *dims)
{
    kn_tensor t = {.dtype = dt, .shape = {.rank = rank}};
    for (int i = 0; i < rank; i++)
        t.shape.dims[i] = dims[i];
    size_t bytes;
    assert_int_equal(kn_tensor_nbytes(dt, &t.shape, &bytes), KN_OK);
    t.data = malloc(bytes ? bytes : 1);
    assert_non_null(t.data);
    if (dt == KN_F32) {
        kn_test_fill(&rng, t.data, bytes / sizeof(float), -1.0f, 1.0f);
    } else {
        for (size_t i = 0; i < bytes; i++)
            ((uint8_t *)t.data)[i] = (uint8_t)irand(0, 255);
    }
    return t;
}

static size_t numel(const kn_tensor *t)
{
    size_t n;
    assert_int_equal(kn_shape_numel(&t->shape, &n), KN_OK);
    return n;
}

static void init_node(kn_node *n, kn_op op, int nin, int nout)
{
    memset(n, 0, sizeof *n);
    n->name = "nn_test";
    n->op = op;
    n->num_inputs = nin;
    n->num_outputs = nout;
    kn_attrs_init(op, &n->attrs);
    n->fused.activation = KN_OP_COUNT;
    n->fused.residual = -1;
}

/* Compare float32 output with a double reference; print context on failure. */
static void check_close(const char *what, int iter, const float *got, const double *ref, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= KN_TOL_ABS + KN_TOL_REL * fabs(ref[i]))) {
            fprintf(stderr, "%s case %d: element %zu: got %.7g, expected %.7g\n", what, iter, i, (double)got[i],
                    ref[i]);
            fail();
        }
    }
}

/* Independent output-size rule for explicit pads (NOTSET), with ONNX ceil_mode. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil_mode)
{
    int64_t ek = (k - 1) * d + 1;
    double span = (double)(in + pb + pe - ek) / (double)s;
    int64_t o = (int64_t)(ceil_mode ? ceil(span) : floor(span)) + 1;
    if (ceil_mode && (o - 1) * s >= in + pb)
        o--;
    return o;
}

/* ---------------------------------------------------- window resolution */

static void resolve1(kn_auto_pad ap, bool transpose, int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                     int64_t pe, bool ceil_mode, int64_t want_pb, int64_t want_pe, int64_t want_out)
{
    kn_node n;
    init_node(&n, transpose ? KN_OP_CONV_TRANSPOSE : KN_OP_CONV, 2, 1);
    kn_window_attrs *a = &n.attrs.window;
    a->nspatial = 1;
    a->auto_pad = ap;
    a->stride[0] = s;
    a->dilation[0] = d;
    a->pad_begin[0] = pb;
    a->pad_end[0] = pe;
    a->ceil_mode = ceil_mode;
    int64_t gb, ge, go;
    kn_error err;
    assert_int_equal(kn_window_resolve(&n, a, &in, &k, transpose, &gb, &ge, &go, &err), KN_OK);
    assert_int_equal(gb, want_pb);
    assert_int_equal(ge, want_pe);
    assert_int_equal(go, want_out);
}

static void test_window_resolve(void **state)
{
    (void)state;
    /* explicit pads: ONNX test_conv_with_strides_padding (7x5, k3, s2, pads 1) -> 4x3 */
    resolve1(KN_AUTO_PAD_NOTSET, false, 7, 3, 2, 1, 1, 1, false, 1, 1, 4);
    resolve1(KN_AUTO_PAD_NOTSET, false, 5, 3, 2, 1, 1, 1, false, 1, 1, 3);
    /* SAME: out = ceil(in/s); odd total padding at the end (UPPER) or beginning (LOWER) */
    resolve1(KN_AUTO_PAD_SAME_UPPER, false, 5, 3, 2, 1, 9, 9, false, 1, 1, 3);
    resolve1(KN_AUTO_PAD_SAME_UPPER, false, 32, 2, 1, 1, 0, 0, false, 0, 1, 32);
    resolve1(KN_AUTO_PAD_SAME_LOWER, false, 32, 2, 1, 1, 0, 0, false, 1, 0, 32);
    resolve1(KN_AUTO_PAD_SAME_LOWER, false, 5, 3, 2, 1, 0, 0, false, 1, 1, 3);
    resolve1(KN_AUTO_PAD_SAME_UPPER, false, 8, 3, 2, 2, 0, 0, false, 1, 2, 4); /* ek 5: total 3*2+5-8 = 3 */
    /* VALID ignores pads */
    resolve1(KN_AUTO_PAD_VALID, false, 5, 3, 2, 1, 4, 4, false, 0, 0, 2);
    /* dilation: ONNX test_maxpool_2d_dilations (4, k2, d2) -> 2 */
    resolve1(KN_AUTO_PAD_NOTSET, false, 4, 2, 1, 2, 0, 0, false, 0, 0, 2);
    /* ceil_mode: test_maxpool_2d_ceil (4, k3, s2) -> 2; floor gives 1 */
    resolve1(KN_AUTO_PAD_NOTSET, false, 4, 3, 2, 1, 0, 0, true, 0, 0, 2);
    resolve1(KN_AUTO_PAD_NOTSET, false, 4, 3, 2, 1, 0, 0, false, 0, 0, 1);
    /* ceil_mode: the last window would start in the end padding -> dropped (5, k2, s2, pads 1: 3 not 4) */
    resolve1(KN_AUTO_PAD_NOTSET, false, 5, 2, 2, 1, 1, 1, true, 1, 1, 3);
    resolve1(KN_AUTO_PAD_NOTSET, false, 6, 2, 2, 1, 1, 1, true, 1, 1, 4);
    /* ConvTranspose: full = s*(in-1) + output_padding + ek - pads */
    resolve1(KN_AUTO_PAD_NOTSET, true, 3, 3, 3, 1, 1, 1, false, 1, 1, 7); /* test_convtranspose_pads (H) */
    resolve1(KN_AUTO_PAD_NOTSET, true, 3, 3, 2, 1, 2, 2, false, 2, 2, 3); /* test_convtranspose_pads (W) */
    resolve1(KN_AUTO_PAD_SAME_UPPER, true, 3, 3, 2, 1, 0, 0, false, 0, 1, 6); /* autopad_same: extra at end */
    resolve1(KN_AUTO_PAD_SAME_LOWER, true, 3, 3, 2, 1, 0, 0, false, 1, 0, 6);
    resolve1(KN_AUTO_PAD_NOTSET, true, 3, 2, 1, 2, 0, 0, false, 0, 0, 5); /* dilations */

    /* output_shape: test_convtranspose_output_shape (3 -> 10 with s3 k3): total -1 -> pads 0, -1 */
    kn_node n;
    init_node(&n, KN_OP_CONV_TRANSPOSE, 2, 1);
    kn_window_attrs *a = &n.attrs.window;
    a->nspatial = 2;
    a->stride[0] = 3;
    a->stride[1] = 2;
    a->has_output_shape = true;
    a->output_shape[0] = 10;
    a->output_shape[1] = 8;
    int64_t in[2] = {3, 3}, k[2] = {3, 3}, pb[2], pe[2], o[2];
    kn_error err;
    assert_int_equal(kn_window_resolve(&n, a, in, k, true, pb, pe, o, &err), KN_OK);
    assert_int_equal(o[0], 10);
    assert_int_equal(o[1], 8);
    assert_int_equal(pb[0], 0);
    assert_int_equal(pe[0], -1);
    assert_int_equal(pb[1], 0);
    assert_int_equal(pe[1], -1);
    /* with output_padding 1 the same output needs no padding (test_convtranspose_kernel_shape) */
    a->output_padding[0] = a->output_padding[1] = 1;
    assert_int_equal(kn_window_resolve(&n, a, in, k, true, pb, pe, o, &err), KN_OK);
    assert_int_equal(pb[0], 0);
    assert_int_equal(pe[0], 0);

    /* errors: kernel larger than the padded input; zero stride */
    init_node(&n, KN_OP_CONV, 2, 1);
    n.name = "small";
    a = &n.attrs.window;
    a->nspatial = 1;
    int64_t in1 = 2, k1 = 5;
    assert_int_equal(kn_window_resolve(&n, a, &in1, &k1, false, pb, pe, o, &err), KN_ERR_SHAPE);
    assert_non_null(strstr(err.message, "node 'small' (Conv)"));
    a->stride[0] = 0;
    k1 = 1;
    assert_int_equal(kn_window_resolve(&n, a, &in1, &k1, false, pb, pe, o, &err), KN_OK); /* 0 = default 1 */
    a->stride[0] = -2;
    assert_int_equal(kn_window_resolve(&n, a, &in1, &k1, false, pb, pe, o, &err), KN_ERR_SHAPE);
}

/* ----------------------------------------------------------------- conv */

typedef struct conv_case {
    int ns;
    int64_t n, group, cg, mg;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], op[3];
    bool bias;
} conv_case;

static void naive_conv(const conv_case *c, const int64_t *o, const float *x, const float *w, const float *b,
                       double *y)
{
    int64_t C = c->group * c->cg, M = c->group * c->mg;
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0},
            out[3] = {1, 1, 1};
    for (int i = 0; i < c->ns; i++) {
        int j = 3 - c->ns + i;
        in[j] = c->in[i], k[j] = c->k[i], s[j] = c->s[i], d[j] = c->d[i], p[j] = c->pb[i], out[j] = o[i];
    }
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t z = 0; z < out[0]; z++)
                for (int64_t yy = 0; yy < out[1]; yy++)
                    for (int64_t xx = 0; xx < out[2]; xx++) {
                        int64_t gi = m / c->mg;
                        double acc = b ? b[m] : 0.0;
                        for (int64_t cc = 0; cc < c->cg; cc++)
                            for (int64_t kz = 0; kz < k[0]; kz++)
                                for (int64_t ky = 0; ky < k[1]; ky++)
                                    for (int64_t kx = 0; kx < k[2]; kx++) {
                                        int64_t iz = z * s[0] - p[0] + kz * d[0];
                                        int64_t iy = yy * s[1] - p[1] + ky * d[1];
                                        int64_t ix = xx * s[2] - p[2] + kx * d[2];
                                        if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2])
                                            continue;
                                        int64_t ci = gi * c->cg + cc;
                                        double xv = x[(((n * C + ci) * in[0] + iz) * in[1] + iy) * in[2] + ix];
                                        double wv = w[(((m * c->cg + cc) * k[0] + kz) * k[1] + ky) * k[2] + kx];
                                        acc += xv * wv;
                                    }
                        y[(((n * M + m) * out[0] + z) * out[1] + yy) * out[2] + xx] = acc;
                    }
}

static void run_conv_case(const conv_case *c, int iter)
{
    int rank = c->ns + 2;
    int64_t C = c->group * c->cg, M = c->group * c->mg;
    int64_t xd[5] = {c->n, C}, wd[5] = {M, c->cg}, yd[5] = {c->n, M}, o[3];
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        o[i] = out_size(c->in[i], c->k[i], c->s[i], c->d[i], c->pb[i], c->pe[i], false);
        assert_true(o[i] >= 1);
        yd[2 + i] = o[i];
    }
    kn_tensor in[3] = {make(KN_F32, rank, xd), make(KN_F32, rank, wd), {0}};
    if (c->bias)
        in[2] = make(KN_F32, 1, &M);
    kn_tensor out = make(KN_F32, rank, yd);
    kn_node node;
    init_node(&node, KN_OP_CONV, c->bias ? 3 : 2, 1);
    kn_window_attrs *a = &node.attrs.window;
    a->nspatial = c->ns;
    a->group = c->group;
    for (int i = 0; i < c->ns; i++) {
        a->kernel[i] = (iter & 1) ? c->k[i] : 0; /* 0: taken from the weight */
        a->stride[i] = c->s[i];
        a->dilation[i] = c->d[i];
        a->pad_begin[i] = c->pb[i];
        a->pad_end[i] = c->pe[i];
    }
    kn_error err;
    kn_status st = kn_ref_invoke(kn_ref_conv, &node, in, &out, &err);
    if (st != KN_OK)
        fprintf(stderr, "conv case %d: %s\n", iter, err.message);
    assert_int_equal(st, KN_OK);
    size_t ny = numel(&out);
    double *ref = malloc(sizeof(double) * ny);
    assert_non_null(ref);
    naive_conv(c, o, in[0].data, in[1].data, c->bias ? in[2].data : NULL, ref);
    check_close("conv", iter, out.data, ref, ny);
    free(ref);
    for (int i = 0; i < 3; i++)
        free(in[i].data);
    free(out.data);
}

static void random_window(conv_case *c, int64_t max_k, bool pads)
{
    for (int i = 0; i < c->ns; i++) {
        c->k[i] = irand(1, max_k);
        c->s[i] = irand(1, 3);
        c->d[i] = irand(1, 2);
        int64_t ek = (c->k[i] - 1) * c->d[i] + 1;
        c->pb[i] = pads ? irand(0, ek - 1) : 0;
        c->pe[i] = pads ? irand(0, ek - 1) : 0;
        int64_t min_in = ek - c->pb[i] - c->pe[i];
        if (min_in < 1)
            min_in = 1;
        c->in[i] = min_in + irand(0, c->ns == 3 ? 3 : 7);
    }
}

static void test_conv_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 300; iter++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        static const int ns_pick[] = {1, 2, 2, 2, 3};
        c.ns = ns_pick[irand(0, 4)];
        c.n = irand(1, 2);
        int kind = (int)irand(0, 5);
        if (kind == 0) { /* depthwise, channel multiplier 1 or 2 */
            c.group = irand(2, 6);
            c.cg = 1;
            c.mg = irand(1, 2);
        } else if (kind == 1) { /* grouped */
            c.group = irand(2, 3);
            c.cg = irand(1, 3);
            c.mg = irand(1, 3);
        } else {
            c.group = 1;
            c.cg = irand(1, 5);
            c.mg = irand(1, 6);
        }
        random_window(&c, kind == 0 ? 5 : 3, irand(0, 3) != 0);
        if (irand(0, 7) == 0) { /* 1x1, stride 1, unpadded: the no-im2col path */
            for (int i = 0; i < c.ns; i++) {
                c.k[i] = c.s[i] = 1;
                c.pb[i] = c.pe[i] = 0;
            }
        }
        c.bias = irand(0, 2) != 0;
        run_conv_case(&c, iter);
    }
}

/* ResNet/MobileNet-like 2-D layers, large enough to take the parallel paths. */
static void test_conv_large(void **state)
{
    (void)state;
    conv_case cases[] = {
        {.ns = 2, .n = 2, .group = 1, .cg = 16, .mg = 24, .in = {20, 18}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pb = {1, 1}, .pe = {1, 1}, .bias = true},
        {.ns = 2, .n = 1, .group = 1, .cg = 3, .mg = 16, .in = {33, 31}, .k = {7, 7}, .s = {2, 2}, .d = {1, 1},
         .pb = {3, 3}, .pe = {3, 3}, .bias = false},
        {.ns = 2, .n = 2, .group = 32, .cg = 1, .mg = 1, .in = {28, 28}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1},
         .pb = {1, 1}, .pe = {1, 1}, .bias = true},
        {.ns = 2, .n = 1, .group = 24, .cg = 1, .mg = 1, .in = {17, 19}, .k = {5, 5}, .s = {1, 1}, .d = {2, 2},
         .pb = {4, 4}, .pe = {4, 4}, .bias = true},
        {.ns = 2, .n = 2, .group = 1, .cg = 32, .mg = 16, .in = {14, 14}, .k = {1, 1}, .s = {1, 1}, .d = {1, 1},
         .pb = {0, 0}, .pe = {0, 0}, .bias = true},
        {.ns = 2, .n = 1, .group = 1, .cg = 16, .mg = 32, .in = {14, 14}, .k = {1, 1}, .s = {2, 2}, .d = {1, 1},
         .pb = {0, 0}, .pe = {0, 0}, .bias = false},
        {.ns = 2, .n = 1, .group = 4, .cg = 8, .mg = 8, .in = {15, 15}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pb = {1, 1}, .pe = {1, 1}, .bias = true},
        /* im2col of more than 1 MiB: several column tiles per image, split mid-row */
        {.ns = 2, .n = 1, .group = 1, .cg = 64, .mg = 8, .in = {41, 37}, .k = {3, 3}, .s = {1, 1}, .d = {1, 1},
         .pb = {1, 1}, .pe = {1, 1}, .bias = true},
        {.ns = 1, .n = 1, .group = 1, .cg = 4, .mg = 5, .in = {1000}, .k = {5}, .s = {1}, .d = {2}, .pb = {3},
         .pe = {1}, .bias = true},
        {.ns = 3, .n = 1, .group = 1, .cg = 3, .mg = 4, .in = {9, 10, 11}, .k = {3, 3, 3}, .s = {1, 2, 1},
         .d = {1, 1, 2}, .pb = {1, 0, 2}, .pe = {1, 1, 2}, .bias = false},
        /* few output channels (direct rows): a GAN generator's image layer; RGB out of a wide row (several
         * 32-column blocks, dilated, asymmetric pads); a long 1-D row; grouped, two outputs per group */
        {.ns = 2, .n = 2, .group = 1, .cg = 64, .mg = 1, .in = {28, 28}, .k = {5, 5}, .s = {1, 1}, .d = {1, 1},
         .pb = {2, 2}, .pe = {2, 2}, .bias = true},
        {.ns = 2, .n = 1, .group = 1, .cg = 16, .mg = 3, .in = {9, 70}, .k = {3, 3}, .s = {2, 1}, .d = {1, 2},
         .pb = {1, 3}, .pe = {0, 1}, .bias = true},
        {.ns = 1, .n = 2, .group = 1, .cg = 4, .mg = 2, .in = {1000}, .k = {7}, .s = {1}, .d = {1}, .pb = {3},
         .pe = {3}, .bias = false},
        {.ns = 2, .n = 1, .group = 3, .cg = 5, .mg = 2, .in = {12, 33}, .k = {3, 4}, .s = {1, 1}, .d = {1, 1},
         .pb = {0, 2}, .pe = {2, 1}, .bias = true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_conv_case(&cases[i], 1000 + (int)i);
}

/* ------------------------------------------------------- conv transpose */

static void naive_conv_transpose(const conv_case *c, const int64_t *o, const int64_t *pbv, const float *x,
                                 const float *w, const float *b, double *y)
{
    int64_t C = c->group * c->cg, M = c->group * c->mg;
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0},
            out[3] = {1, 1, 1};
    for (int i = 0; i < c->ns; i++) {
        int j = 3 - c->ns + i;
        in[j] = c->in[i], k[j] = c->k[i], s[j] = c->s[i], d[j] = c->d[i], p[j] = pbv[i], out[j] = o[i];
    }
    int64_t osz = out[0] * out[1] * out[2];
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < osz; i++)
                y[(n * M + m) * osz + i] = b ? b[m] : 0.0;
    /* scatter definition: every input pixel adds its kernel-weighted copy */
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ci = 0; ci < C; ci++)
            for (int64_t z = 0; z < in[0]; z++)
                for (int64_t yy = 0; yy < in[1]; yy++)
                    for (int64_t xx = 0; xx < in[2]; xx++) {
                        double xv = x[(((n * C + ci) * in[0] + z) * in[1] + yy) * in[2] + xx];
                        int64_t gi = ci / c->cg;
                        for (int64_t mm = 0; mm < c->mg; mm++)
                            for (int64_t kz = 0; kz < k[0]; kz++)
                                for (int64_t ky = 0; ky < k[1]; ky++)
                                    for (int64_t kx = 0; kx < k[2]; kx++) {
                                        int64_t oz = z * s[0] - p[0] + kz * d[0];
                                        int64_t oy = yy * s[1] - p[1] + ky * d[1];
                                        int64_t ox = xx * s[2] - p[2] + kx * d[2];
                                        if (oz < 0 || oz >= out[0] || oy < 0 || oy >= out[1] || ox < 0 ||
                                            ox >= out[2])
                                            continue;
                                        double wv = w[(((ci * c->mg + mm) * k[0] + kz) * k[1] + ky) * k[2] + kx];
                                        int64_t m = gi * c->mg + mm;
                                        y[(((n * M + m) * out[0] + oz) * out[1] + oy) * out[2] + ox] += xv * wv;
                                    }
                    }
}

/* mode 0: explicit pads; 1: SAME_UPPER; 2: SAME_LOWER; 3: output_shape */
static void run_conv_transpose_case(const conv_case *c, int mode, const int64_t *oshape, int iter)
{
    int rank = c->ns + 2;
    int64_t C = c->group * c->cg, M = c->group * c->mg;
    int64_t xd[5] = {c->n, C}, wd[5] = {C, c->mg}, yd[5] = {c->n, M}, o[3], pb[3], pe[3];
    kn_node node;
    init_node(&node, KN_OP_CONV_TRANSPOSE, c->bias ? 3 : 2, 1);
    kn_window_attrs *a = &node.attrs.window;
    a->nspatial = c->ns;
    a->group = c->group;
    a->auto_pad = mode == 1 ? KN_AUTO_PAD_SAME_UPPER : mode == 2 ? KN_AUTO_PAD_SAME_LOWER : KN_AUTO_PAD_NOTSET;
    a->has_output_shape = mode == 3;
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        a->stride[i] = c->s[i];
        a->dilation[i] = c->d[i];
        a->pad_begin[i] = c->pb[i];
        a->pad_end[i] = c->pe[i];
        a->output_padding[i] = c->op[i];
        if (mode == 3)
            a->output_shape[i] = oshape[i];
    }
    kn_error err;
    assert_int_equal(kn_window_resolve(&node, a, c->in, c->k, true, pb, pe, o, &err), KN_OK);
    for (int i = 0; i < c->ns; i++) {
        int64_t full = c->s[i] * (c->in[i] - 1) + c->op[i] + (c->k[i] - 1) * c->d[i] + 1;
        if (mode == 0) {
            assert_int_equal(pb[i], c->pb[i]);
            assert_int_equal(o[i], full - c->pb[i] - c->pe[i]);
        } else {
            int64_t want = mode == 3 ? oshape[i] : c->in[i] * c->s[i];
            assert_int_equal(o[i], want);
            assert_int_equal(pb[i] + pe[i], full - want);
            /* the odd unit of padding goes to the end for SAME_UPPER, else to the beginning */
            assert_true(mode == 1 ? (pe[i] - pb[i] == 0 || pe[i] - pb[i] == 1)
                                  : (pb[i] - pe[i] == 0 || pb[i] - pe[i] == 1));
        }
        yd[2 + i] = o[i];
    }
    kn_tensor in[3] = {make(KN_F32, rank, xd), make(KN_F32, rank, wd), {0}};
    if (c->bias)
        in[2] = make(KN_F32, 1, &M);
    kn_tensor out = make(KN_F32, rank, yd);
    kn_status st = kn_ref_invoke(kn_ref_conv_transpose, &node, in, &out, &err);
    if (st != KN_OK)
        fprintf(stderr, "conv transpose case %d: %s\n", iter, err.message);
    assert_int_equal(st, KN_OK);
    size_t ny = numel(&out);
    double *ref = malloc(sizeof(double) * ny);
    assert_non_null(ref);
    naive_conv_transpose(c, o, pb, in[0].data, in[1].data, c->bias ? in[2].data : NULL, ref);
    check_close("conv transpose", iter, out.data, ref, ny);
    free(ref);
    for (int i = 0; i < 3; i++)
        free(in[i].data);
    free(out.data);
}

static void test_conv_transpose_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 250; iter++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        static const int ns_pick[] = {1, 2, 2, 2, 3};
        c.ns = ns_pick[irand(0, 4)];
        c.n = irand(1, 2);
        c.group = irand(0, 2) == 0 ? irand(2, 3) : 1;
        c.cg = irand(1, 4);
        c.mg = irand(1, 4);
        c.bias = irand(0, 1) != 0;
        int mode = (int)irand(0, 3);
        int64_t oshape[3];
        for (int i = 0; i < c.ns; i++) {
            c.k[i] = irand(1, 4);
            c.s[i] = irand(1, 3);
            c.d[i] = irand(1, 2);
            c.in[i] = irand(1, c.ns == 3 ? 4 : 7);
            int64_t mx = c.s[i] > c.d[i] ? c.s[i] : c.d[i];
            c.op[i] = irand(0, mx - 1); /* ONNX: output_padding < max(stride, dilation) */
            int64_t full = c.s[i] * (c.in[i] - 1) + c.op[i] + (c.k[i] - 1) * c.d[i] + 1;
            c.pb[i] = irand(0, (full - 1) / 2);
            c.pe[i] = irand(0, (full - 1) / 2);
            oshape[i] = full + irand(-2, 2); /* may need negative padding: zeros at the end */
            if (oshape[i] < 1)
                oshape[i] = 1;
        }
        if (irand(0, 9) == 0) /* 1x1 stride 1: the direct path */
            for (int i = 0; i < c.ns; i++) {
                c.k[i] = c.s[i] = 1;
                c.pb[i] = c.pe[i] = c.op[i] = 0;
                oshape[i] = c.in[i];
            }
        run_conv_transpose_case(&c, mode, oshape, iter);
    }
}

/* Stride-1 ConvTranspose with fewer input than output channels per group: the gather path (ref_conv.c), in
 * 1-D to 3-D, with padding, dilation, groups, output padding, and DCGAN's 1 -> 16 5x5 'same' layer. */
static void test_conv_transpose_gather(void **state)
{
    (void)state;
    for (int iter = 0; iter < 120; iter++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        static const int ns_pick[] = {1, 2, 2, 3};
        c.ns = ns_pick[irand(0, 3)];
        c.n = irand(1, 2);
        c.group = irand(0, 3) == 0 ? irand(2, 3) : 1;
        c.cg = irand(1, 3);
        c.mg = c.cg + irand(1, 5);
        c.bias = irand(0, 1) != 0;
        int mode = (int)irand(0, 3);
        int64_t oshape[3];
        for (int i = 0; i < c.ns; i++) {
            c.k[i] = irand(1, 5);
            c.s[i] = 1;
            c.d[i] = irand(1, 2);
            c.in[i] = irand(1, c.ns == 3 ? 4 : 8);
            c.op[i] = irand(0, c.d[i] - 1); /* ONNX: output_padding < max(stride, dilation) */
            int64_t full = c.in[i] - 1 + c.op[i] + (c.k[i] - 1) * c.d[i] + 1;
            c.pb[i] = irand(0, (full - 1) / 2);
            c.pe[i] = irand(0, (full - 1) / 2);
            oshape[i] = full + irand(-2, 2);
            if (oshape[i] < 1)
                oshape[i] = 1;
        }
        if (iter == 0) { /* DCGAN's output layer's backward data: 1 -> 16 (64 there), 5x5, 'same', 28x28 */
            memset(&c, 0, sizeof c);
            c.ns = 2, c.n = 2, c.group = 1, c.cg = 1, c.mg = 16;
            for (int i = 0; i < 2; i++)
                c.k[i] = 5, c.s[i] = c.d[i] = 1, c.in[i] = 28, c.pb[i] = c.pe[i] = 2;
            mode = 0;
        }
        run_conv_transpose_case(&c, mode, oshape, iter);
    }
}

/* ConvGradWeight (inputs x and dy, outputs dW and db) against the double sum over images and positions. */
static void run_conv_grad_weight_case(const conv_case *c, int iter)
{
    int rank = c->ns + 2;
    int64_t C = c->group * c->cg, M = c->group * c->mg;
    int64_t xd[5] = {c->n, C}, wd[5] = {M, c->cg}, yd[5] = {c->n, M}, o[3];
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, st3[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0},
            out[3] = {1, 1, 1};
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        o[i] = out_size(c->in[i], c->k[i], c->s[i], c->d[i], c->pb[i], c->pe[i], false);
        assert_true(o[i] >= 1);
        yd[2 + i] = o[i];
        int j = 3 - c->ns + i;
        in[j] = c->in[i], k[j] = c->k[i], st3[j] = c->s[i], d[j] = c->d[i], p[j] = c->pb[i], out[j] = o[i];
    }
    kn_tensor ins[2] = {make(KN_F32, rank, xd), make(KN_F32, rank, yd)};
    kn_tensor outs[2] = {make(KN_F32, rank, wd), make(KN_F32, 1, &M)};
    kn_node node;
    init_node(&node, KN_OP_CONV_GRAD_WEIGHT, 2, c->bias ? 2 : 1);
    kn_window_attrs *a = &node.attrs.window;
    a->nspatial = c->ns;
    a->group = c->group;
    for (int i = 0; i < c->ns; i++) {
        a->stride[i] = c->s[i];
        a->dilation[i] = c->d[i];
        a->pad_begin[i] = c->pb[i];
        a->pad_end[i] = c->pe[i];
    }
    kn_error err;
    kn_status st = kn_ref_invoke(kn_ref_conv_grad_weight, &node, ins, outs, &err);
    if (st != KN_OK)
        fprintf(stderr, "conv grad weight case %d: %s\n", iter, err.message);
    assert_int_equal(st, KN_OK);
    const float *x = ins[0].data, *dy = ins[1].data;
    const int64_t ksz = k[0] * k[1] * k[2], isz = in[0] * in[1] * in[2], osz = out[0] * out[1] * out[2];
    size_t nw = numel(&outs[0]);
    double *ref = calloc(nw, sizeof(double)), *rb = calloc((size_t)M, sizeof(double));
    assert_non_null(ref);
    assert_non_null(rb);
    for (int64_t m = 0; m < M; m++)
        for (int64_t cc = 0; cc < c->cg; cc++)
            for (int64_t kk = 0; kk < ksz; kk++) {
                const int64_t kz = kk / (k[1] * k[2]), ky = kk / k[2] % k[1], kx = kk % k[2];
                const int64_t ci = m / c->mg * c->cg + cc;
                double acc = 0.0;
                for (int64_t n = 0; n < c->n; n++)
                    for (int64_t q = 0; q < osz; q++) {
                        const int64_t z = q / (out[1] * out[2]), yy = q / out[2] % out[1], xx = q % out[2];
                        const int64_t iz = z * st3[0] - p[0] + kz * d[0], iy = yy * st3[1] - p[1] + ky * d[1],
                                      ix = xx * st3[2] - p[2] + kx * d[2];
                        if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2])
                            continue;
                        acc += (double)dy[(n * M + m) * osz + q] *
                               (double)x[(n * C + ci) * isz + (iz * in[1] + iy) * in[2] + ix];
                    }
                ref[(m * c->cg + cc) * ksz + kk] = acc;
            }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < c->n; n++)
            for (int64_t q = 0; q < osz; q++)
                rb[m] += dy[(n * M + m) * osz + q];
    check_close("conv grad weight", iter, outs[0].data, ref, nw);
    if (c->bias)
        check_close("conv grad bias", iter, outs[1].data, rb, (size_t)M);
    free(ref);
    free(rb);
    for (int i = 0; i < 2; i++) {
        free(ins[i].data);
        free(outs[i].data);
    }
}

/* Random windows; every other case stride 1 with fewer output than input channels per group (the gather path),
 * the rest the im2col path; DCGAN's 64 -> 1 5x5 'same' layer (16 -> 1 here) first. */
static void test_conv_grad_weight_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 160; iter++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        static const int ns_pick[] = {1, 2, 2, 3};
        c.ns = ns_pick[irand(0, 3)];
        c.n = irand(1, 2);
        c.group = irand(0, 3) == 0 ? irand(2, 3) : 1;
        c.cg = irand(1, 6);
        c.mg = irand(1, 6);
        c.bias = irand(0, 1) != 0;
        random_window(&c, 4, irand(0, 3) != 0);
        if (iter % 2 == 0) {
            if (c.cg == 1)
                c.cg = 2;
            c.mg = irand(1, c.cg - 1);
            for (int i = 0; i < c.ns; i++)
                c.s[i] = 1;
        }
        if (iter == 0) {
            memset(&c, 0, sizeof c);
            c.ns = 2, c.n = 2, c.group = 1, c.cg = 16, c.mg = 1, c.bias = true;
            for (int i = 0; i < 2; i++)
                c.k[i] = 5, c.s[i] = c.d[i] = 1, c.in[i] = 28, c.pb[i] = c.pe[i] = 2;
        }
        run_conv_grad_weight_case(&c, iter);
    }
}

/* ------------------------------------------------------------ gemm, matmul */

static void test_gemm_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 140; iter++) {
        int64_t M = irand(1, 40), N = irand(1, 40), K = irand(1, 50);
        if (iter == 0)
            M = N = K = 1;
        if (iter >= 120) { /* big enough to be split over threads, by rows or by columns */
            M = iter & 1 ? irand(200, 300) : irand(1, 5);
            N = iter & 1 ? irand(1, 70) : irand(300, 500);
            K = irand(100, 200);
        }
        bool ta = irand(0, 1), tb = irand(0, 1);
        int cmode = (int)irand(0, 6); /* 0 none, 1 [], 2 [1], 3 [N], 4 [1,N], 5 [M,1], 6 [M,N] */
        int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N}, yd[2] = {M, N};
        int64_t cd[2];
        int crank = 0;
        switch (cmode) {
        case 2: crank = 1, cd[0] = 1; break;
        case 3: crank = 1, cd[0] = N; break;
        case 4: crank = 2, cd[0] = 1, cd[1] = N; break;
        case 5: crank = 2, cd[0] = M, cd[1] = 1; break;
        case 6: crank = 2, cd[0] = M, cd[1] = N; break;
        default: break;
        }
        kn_tensor in[3] = {make(KN_F32, 2, ad), make(KN_F32, 2, bd), {0}};
        if (cmode)
            in[2] = make(KN_F32, crank, cd);
        kn_tensor out = make(KN_F32, 2, yd);
        kn_node node;
        init_node(&node, KN_OP_GEMM, cmode ? 3 : 2, 1);
        node.attrs.gemm.trans_a = ta;
        node.attrs.gemm.trans_b = tb;
        if (irand(0, 1)) {
            node.attrs.gemm.alpha = kn_test_uniform(&rng, -2.0f, 2.0f);
            node.attrs.gemm.beta = irand(0, 3) == 0 ? 0.0f : kn_test_uniform(&rng, -2.0f, 2.0f);
        }
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_gemm, &node, in, &out, &err), KN_OK);
        const float *A = in[0].data, *B = in[1].data, *Cd = in[2].data;
        double *ref = malloc(sizeof(double) * (size_t)(M * N));
        assert_non_null(ref);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                acc *= node.attrs.gemm.alpha;
                if (cmode) {
                    int64_t ci = (crank == 2 && cd[0] != 1) ? i : 0;
                    int64_t cj = (crank >= 1 && cd[crank - 1] != 1) ? j : 0;
                    acc += (double)node.attrs.gemm.beta * Cd[ci * (crank >= 1 ? cd[crank - 1] : 1) + cj];
                }
                ref[i * N + j] = acc;
            }
        check_close("gemm", iter, out.data, ref, (size_t)(M * N));
        free(ref);
        for (int i = 0; i < 3; i++)
            free(in[i].data);
        free(out.data);
    }
}

static void run_matmul(int ra, const int64_t *ad, int rb, const int64_t *bd, int ry, const int64_t *yd, int iter)
{
    kn_tensor in[2] = {make(KN_F32, ra, ad), make(KN_F32, rb, bd)};
    kn_tensor out = make(KN_F32, ry, yd);
    kn_node node;
    init_node(&node, KN_OP_MATMUL, 2, 1);
    kn_error err;
    kn_status st = kn_ref_invoke(kn_ref_matmul, &node, in, &out, &err);
    if (st)
        fprintf(stderr, "matmul case %d: %s\n", iter, err.message);
    assert_int_equal(st, KN_OK);
    /* naive: promote to [batch..., M, K] x [batch..., K, N] with broadcasting */
    int64_t M = ra >= 2 ? ad[ra - 2] : 1, K = ad[ra - 1], N = rb >= 2 ? bd[rb - 1] : 1;
    int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0, bro = bra > brb ? bra : brb;
    int64_t bo[KN_MAX_RANK], batch = 1;
    for (int i = 0; i < bro; i++) {
        int ia = i - (bro - bra), ib = i - (bro - brb);
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        bo[i] = da > db ? da : db;
        batch *= bo[i];
    }
    size_t ny = numel(&out);
    assert_int_equal(ny, (size_t)(batch * M * N));
    double *ref = malloc(sizeof(double) * (ny ? ny : 1));
    assert_non_null(ref);
    const float *A = in[0].data, *B = in[1].data;
    for (int64_t t = 0; t < batch; t++) {
        int64_t rem = t, oa = 0, ob = 0, sa = M * K, sb = K * N;
        for (int i = bro - 1; i >= 0; i--) {
            int64_t idx = rem % bo[i];
            rem /= bo[i];
            int ia = i - (bro - bra), ib = i - (bro - brb);
            int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
            oa += (da == 1 ? 0 : idx) * sa;
            ob += (db == 1 ? 0 : idx) * sb;
            sa *= da;
            sb *= db;
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)A[oa + i * K + k] * B[ob + k * N + j];
                ref[(t * M + i) * N + j] = acc;
            }
    }
    check_close("matmul", iter, out.data, ref, ny);
    free(ref);
    free(in[0].data);
    free(in[1].data);
    free(out.data);
}

static void test_matmul_cases(void **state)
{
    (void)state;
    int64_t a1[] = {5}, b1[] = {5, 3}, y1[] = {3};
    run_matmul(1, a1, 2, b1, 1, y1, 0); /* 1-D x 2-D */
    int64_t a2[] = {4, 5}, b2[] = {5}, y2[] = {4};
    run_matmul(2, a2, 1, b2, 1, y2, 1); /* 2-D x 1-D */
    int64_t a3[] = {7}, b3[] = {7};
    run_matmul(1, a3, 1, b3, 0, NULL, 2); /* dot product: a scalar */
    int64_t a4[] = {2, 3, 4, 5}, b4[] = {5, 6}, y4[] = {2, 3, 4, 6};
    run_matmul(4, a4, 2, b4, 4, y4, 3); /* shared B: folded into one sgemm */
    int64_t a5[] = {2, 1, 4, 5}, b5[] = {3, 5, 6}, y5[] = {2, 3, 4, 6};
    run_matmul(4, a5, 3, b5, 4, y5, 4); /* broadcast both ways */
    int64_t a6[] = {4, 5}, b6[] = {2, 3, 5, 6}, y6[] = {2, 3, 4, 6};
    run_matmul(2, a6, 4, b6, 4, y6, 5); /* A broadcast over B's batch */
    int64_t a7[] = {3, 1, 5}, b7[] = {3, 5, 2}, y7[] = {3, 1, 2};
    run_matmul(3, a7, 3, b7, 3, y7, 6);
    int64_t a8[] = {5}, b8[] = {2, 5, 3}, y8[] = {2, 3};
    run_matmul(1, a8, 3, b8, 2, y8, 7); /* 1-D x batched */
    int64_t a9[] = {2, 4, 5}, b9[] = {5}, y9[] = {2, 4};
    run_matmul(3, a9, 1, b9, 2, y9, 8); /* batched x 1-D */
    int64_t a10[] = {1, 2, 3, 4}, b10[] = {1, 2, 4, 3}, y10[] = {1, 2, 3, 3};
    run_matmul(4, a10, 4, b10, 4, y10, 9); /* ONNX test_matmul_4d */
    int64_t a11[] = {4, 64, 32}, b11[] = {32, 48}, y11[] = {4, 64, 48};
    run_matmul(3, a11, 2, b11, 3, y11, 10); /* folded, then split over threads */
    int64_t a12[] = {3, 40, 50}, b12[] = {3, 50, 60}, y12[] = {3, 40, 60};
    run_matmul(3, a12, 3, b12, 3, y12, 11); /* one product per thread */
}

/* ----------------------------------------------------------------- pools */

typedef struct pool_case {
    int ns;
    int64_t n, c;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
    bool ceil_mode, count_include_pad, is_max;
} pool_case;

static void naive_pool(const pool_case *p, const int64_t *o, const float *x, double *y)
{
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0},
            pe[3] = {0, 0, 0}, out[3] = {1, 1, 1};
    for (int i = 0; i < p->ns; i++) {
        int j = 3 - p->ns + i;
        in[j] = p->in[i], k[j] = p->k[i], s[j] = p->s[i], d[j] = p->d[i], pb[j] = p->pb[i], pe[j] = p->pe[i];
        out[j] = o[i];
    }
    int64_t isz = in[0] * in[1] * in[2];
    for (int64_t pl = 0; pl < p->n * p->c; pl++)
        for (int64_t z = 0; z < out[0]; z++)
            for (int64_t yy = 0; yy < out[1]; yy++)
                for (int64_t xx = 0; xx < out[2]; xx++) {
                    double m = -INFINITY, sum = 0;
                    int64_t valid = 0, padded = 0;
                    for (int64_t kz = 0; kz < k[0]; kz++)
                        for (int64_t ky = 0; ky < k[1]; ky++)
                            for (int64_t kx = 0; kx < k[2]; kx++) {
                                int64_t pos[3] = {z * s[0] - pb[0] + kz * d[0], yy * s[1] - pb[1] + ky * d[1],
                                                  xx * s[2] - pb[2] + kx * d[2]};
                                bool inside = true, in_pad = true;
                                for (int a = 0; a < 3; a++) {
                                    inside = inside && pos[a] >= 0 && pos[a] < in[a];
                                    in_pad = in_pad && pos[a] >= -pb[a] && pos[a] < in[a] + pe[a];
                                }
                                padded += in_pad;
                                if (!inside)
                                    continue;
                                double v = x[pl * isz + (pos[0] * in[1] + pos[1]) * in[2] + pos[2]];
                                m = v > m ? v : m;
                                sum += v;
                                valid++;
                            }
                    /* a window with no input pixel: -FLT_MAX (as ONNX Runtime) or 0 */
                    double r = p->is_max ? (valid ? m : -FLT_MAX)
                                         : (valid ? sum / (double)(p->count_include_pad ? padded : valid) : 0.0);
                    y[((pl * out[0] + z) * out[1] + yy) * out[2] + xx] = r;
                }
}

static void run_pool_case(const pool_case *p, int iter)
{
    int rank = p->ns + 2;
    int64_t xd[5] = {p->n, p->c}, yd[5] = {p->n, p->c}, o[3], pb[3], pe[3], ro[3];
    kn_node node;
    init_node(&node, p->is_max ? KN_OP_MAX_POOL : KN_OP_AVERAGE_POOL, 1, 1);
    kn_window_attrs *a = &node.attrs.window;
    a->nspatial = p->ns;
    a->ceil_mode = p->ceil_mode;
    a->count_include_pad = p->count_include_pad;
    for (int i = 0; i < p->ns; i++) {
        xd[2 + i] = p->in[i];
        a->kernel[i] = p->k[i];
        a->stride[i] = p->s[i];
        a->dilation[i] = p->d[i];
        a->pad_begin[i] = p->pb[i];
        a->pad_end[i] = p->pe[i];
        o[i] = out_size(p->in[i], p->k[i], p->s[i], p->d[i], p->pb[i], p->pe[i], p->ceil_mode);
        yd[2 + i] = o[i];
    }
    kn_error err;
    assert_int_equal(kn_window_resolve(&node, a, p->in, p->k, false, pb, pe, ro, &err), KN_OK);
    for (int i = 0; i < p->ns; i++)
        assert_int_equal(ro[i], o[i]);
    kn_tensor x = make(KN_F32, rank, xd), y = make(KN_F32, rank, yd);
    kn_status st = kn_ref_invoke(kn_ref_pool, &node, &x, &y, &err);
    if (st)
        fprintf(stderr, "pool case %d: %s\n", iter, err.message);
    assert_int_equal(st, KN_OK);
    size_t ny = numel(&y);
    double *ref = malloc(sizeof(double) * ny);
    assert_non_null(ref);
    naive_pool(p, o, x.data, ref);
    check_close(p->is_max ? "maxpool" : "avgpool", iter, y.data, ref, ny);
    free(ref);
    free(x.data);
    free(y.data);
}

static void test_pool_random(void **state)
{
    (void)state;
    for (int iter = 0; iter < 400; iter++) {
        pool_case p;
        memset(&p, 0, sizeof p);
        static const int ns_pick[] = {1, 2, 2, 2, 3};
        p.ns = ns_pick[irand(0, 4)];
        p.n = irand(1, 2);
        p.c = irand(1, 3);
        p.is_max = irand(0, 1);
        p.ceil_mode = irand(0, 2) == 0;
        p.count_include_pad = irand(0, 1);
        for (int i = 0; i < p.ns; i++) {
            p.k[i] = irand(1, 4);
            p.s[i] = irand(1, 3);
            p.d[i] = irand(0, 3) == 0 ? 2 : 1;
            /* pads smaller than the kernel, so every window touches the input */
            p.pb[i] = irand(0, 2) ? irand(0, p.k[i] - 1) : 0;
            p.pe[i] = irand(0, 2) ? irand(0, p.k[i] - 1) : 0;
            int64_t ek = (p.k[i] - 1) * p.d[i] + 1;
            int64_t min_in = ek - p.pb[i] - p.pe[i];
            p.in[i] = (min_in < 1 ? 1 : min_in) + irand(0, p.ns == 3 ? 4 : 9);
        }
        run_pool_case(&p, iter);
    }
    /* ResNet stem and the ONNX node tests' shapes */
    pool_case big = {.ns = 2, .n = 2, .c = 8, .in = {56, 56}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1}, .pb = {1, 1},
                     .pe = {1, 1}, .is_max = true};
    run_pool_case(&big, 1000);
    big.is_max = false;
    big.count_include_pad = true;
    run_pool_case(&big, 1001);
    pool_case ceil = {.ns = 2, .n = 1, .c = 1, .in = {4, 4}, .k = {3, 3}, .s = {2, 2}, .d = {1, 1},
                      .ceil_mode = true};
    run_pool_case(&ceil, 1002);
}

static void test_pool_same_and_uint8(void **state)
{
    (void)state;
    /* SAME_LOWER max pool 2x2 on 4x4: pads at the beginning, output 4x4 */
    float xv[16];
    for (int i = 0; i < 16; i++)
        xv[i] = (float)i;
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {1, 1, 4, 4}}, .data = xv};
    float yv[16];
    kn_tensor y = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {1, 1, 4, 4}}, .data = yv};
    kn_node node;
    init_node(&node, KN_OP_MAX_POOL, 1, 1);
    node.attrs.window.nspatial = 2;
    node.attrs.window.kernel[0] = node.attrs.window.kernel[1] = 2;
    node.attrs.window.auto_pad = KN_AUTO_PAD_SAME_LOWER;
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &x, &y, &err), KN_OK);
    for (int i = 0; i < 16; i++)
        assert_true(yv[i] == xv[i]); /* window [i-1, i] of an increasing input: its end */
    node.attrs.window.auto_pad = KN_AUTO_PAD_SAME_UPPER;
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &x, &y, &err), KN_OK);
    assert_true(yv[0] == 5.0f && yv[3] == 7.0f && yv[15] == 15.0f);
    /* average, SAME_UPPER, count_include_pad 0: the corner averages only real pixels */
    node.op = KN_OP_AVERAGE_POOL;
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &x, &y, &err), KN_OK);
    assert_true(fabsf(yv[15] - 15.0f) < 1e-6f && fabsf(yv[0] - 2.5f) < 1e-6f);

    /* uint8 max pool (ONNX test_maxpool_2d_uint8) */
    uint8_t xb[16], yb[16];
    for (int i = 0; i < 16; i++)
        xb[i] = (uint8_t)(200 + i);
    kn_tensor xu = {.dtype = KN_U8, .shape = x.shape, .data = xb}, yu = {.dtype = KN_U8, .shape = y.shape, .data = yb};
    node.op = KN_OP_MAX_POOL;
    node.attrs.window.auto_pad = KN_AUTO_PAD_SAME_LOWER;
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &xu, &yu, &err), KN_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(yb[i], xb[i]);
    /* uint8 average pool is refused */
    node.op = KN_OP_AVERAGE_POOL;
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &xu, &yu, &err), KN_ERR_DTYPE);
    assert_non_null(strstr(err.message, "node 'nn_test' (AveragePool)"));

    /* 3-D windows of 2^21 taps per axis (2^63 in all) over one voxel in its padding: each output is its input */
    float x3[2] = {-3.0f, 4.0f}, y3[2];
    kn_tensor xt = {.dtype = KN_F32, .shape = {.rank = 5, .dims = {2, 1, 1, 1, 1}}, .data = x3};
    kn_tensor yt = {.dtype = KN_F32, .shape = {.rank = 5, .dims = {2, 1, 1, 1, 1}}, .data = y3};
    init_node(&node, KN_OP_MAX_POOL, 1, 1);
    node.attrs.window.nspatial = 3;
    for (int i = 0; i < 3; i++) {
        node.attrs.window.kernel[i] = node.attrs.window.stride[i] = (int64_t)1 << 21;
        node.attrs.window.pad_begin[i] = node.attrs.window.pad_end[i] = ((int64_t)1 << 21) - 1;
    }
    assert_int_equal(kn_ref_invoke(kn_ref_pool, &node, &xt, &yt, &err), KN_OK);
    assert_true(y3[0] == -3.0f && y3[1] == 4.0f);
}

static void test_global_pool(void **state)
{
    (void)state;
    for (int iter = 0; iter < 20; iter++) {
        int rank = (int)irand(3, 5);
        int64_t xd[5] = {irand(1, 3), irand(1, 40)}, yd[5] = {xd[0], xd[1]}, sz = 1;
        for (int i = 2; i < rank; i++) {
            xd[i] = irand(1, rank == 5 ? 5 : 12);
            yd[i] = 1;
            sz *= xd[i];
        }
        kn_tensor x = make(KN_F32, rank, xd), y = make(KN_F32, rank, yd);
        for (int op = 0; op < 2; op++) {
            kn_node node;
            init_node(&node, op ? KN_OP_GLOBAL_MAX_POOL : KN_OP_GLOBAL_AVERAGE_POOL, 1, 1);
            kn_error err;
            assert_int_equal(kn_ref_invoke(kn_ref_global_pool, &node, &x, &y, &err), KN_OK);
            int64_t planes = xd[0] * xd[1];
            double *ref = malloc(sizeof(double) * (size_t)planes);
            assert_non_null(ref);
            const float *xp = x.data;
            for (int64_t p = 0; p < planes; p++) {
                double s = 0, m = -INFINITY;
                for (int64_t i = 0; i < sz; i++) {
                    double v = xp[p * sz + i];
                    s += v;
                    m = v > m ? v : m;
                }
                ref[p] = op ? m : s / (double)sz;
            }
            check_close("global pool", iter, y.data, ref, (size_t)planes);
            free(ref);
        }
        free(x.data);
        free(y.data);
    }
}

/* ------------------------------------------------------ batch norm, LRN */

static void test_batch_norm(void **state)
{
    (void)state;
    for (int iter = 0; iter < 20; iter++) {
        int rank = (int)irand(2, 5);
        int64_t dims[5] = {irand(1, 3), irand(1, 17)}, sz = 1;
        for (int i = 2; i < rank; i++) {
            dims[i] = irand(1, 9);
            sz *= dims[i];
        }
        int64_t C = dims[1];
        kn_tensor in[5] = {make(KN_F32, rank, dims), make(KN_F32, 1, &C), make(KN_F32, 1, &C), make(KN_F32, 1, &C),
                           make(KN_F32, 1, &C)};
        float *var = in[4].data;
        for (int64_t c = 0; c < C; c++)
            var[c] = fabsf(var[c]) + 0.1f;
        kn_tensor y = make(KN_F32, rank, dims);
        kn_node node;
        init_node(&node, KN_OP_BATCH_NORM, 5, 1);
        node.attrs.batch_norm.epsilon = iter & 1 ? 1e-2f : 1e-5f;
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_batch_norm, &node, in, &y, &err), KN_OK);
        size_t n = numel(&y);
        double *ref = malloc(sizeof(double) * n);
        assert_non_null(ref);
        const float *x = in[0].data, *sc = in[1].data, *b = in[2].data, *mu = in[3].data;
        for (size_t i = 0; i < n; i++) {
            int64_t c = (int64_t)(i / (size_t)sz) % C;
            ref[i] = ((double)x[i] - mu[c]) / sqrt((double)var[c] + node.attrs.batch_norm.epsilon) * sc[c] + b[c];
        }
        check_close("batch norm", iter, y.data, ref, n);
        /* in place gives the same result */
        assert_int_equal(kn_ref_invoke(kn_ref_batch_norm, &node, in, &in[0], &err), KN_OK);
        check_close("batch norm in place", iter, in[0].data, ref, n);
        free(ref);
        for (int i = 0; i < 5; i++)
            free(in[i].data);
        free(y.data);
    }
}

/*
 * SumTo (the gradient of a broadcast): every output element equals the float of its terms summed in double in
 * index order, exactly (the kernel's documented order), for summed axes leading the kept ones (a bias gradient,
 * its 8-column path, with a tail) and elsewhere (the general path).
 */
static void test_sum_to(void **state)
{
    (void)state;
    static const struct {
        int rx, ry;
        int64_t xd[4], yd[4];
    } cases[] = {
        {2, 1, {64, 37}, {37}},          {4, 2, {3, 1, 4, 19}, {1, 19}}, {2, 2, {5, 8}, {1, 8}},
        {2, 2, {6, 10}, {6, 1}},         {3, 2, {2, 3, 4}, {3, 1}},      {3, 1, {4, 5, 3}, {3}},
    };
    uint64_t seed = 11;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        kn_shape xs = {.rank = cases[k].rx}, ys = {.rank = cases[k].ry};
        memcpy(xs.dims, cases[k].xd, sizeof cases[k].xd);
        memcpy(ys.dims, cases[k].yd, sizeof cases[k].yd);
        const int64_t nx = kn_dims_prod(&xs, 0, xs.rank), ny = kn_dims_prod(&ys, 0, ys.rank);
        float *x = malloc((size_t)nx * sizeof *x), *y = malloc((size_t)ny * sizeof *y);
        double *want = calloc((size_t)ny, sizeof *want);
        assert_non_null(x);
        assert_non_null(y);
        assert_non_null(want);
        kn_test_fill(&seed, x, (size_t)nx, -1.0f, 1.0f);
        for (int64_t i = 0; i < nx; i++) { /* x's elements in index order, each into its output element */
            int64_t rem = i, o = 0, ostride = 1;
            for (int d = xs.rank - 1; d >= 0; d--) {
                const int64_t idx = rem % xs.dims[d];
                rem /= xs.dims[d];
                const int j = d - (xs.rank - ys.rank);
                if (j >= 0 && ys.dims[j] == xs.dims[d]) {
                    o += idx * ostride;
                    ostride *= ys.dims[j];
                }
            }
            want[o] += x[i];
        }
        kn_node node;
        memset(&node, 0, sizeof node);
        node.name = "sum_to";
        node.op = KN_OP_SUM_TO;
        node.num_inputs = node.num_outputs = 1;
        node.fused.activation = KN_OP_COUNT;
        node.fused.residual = -1;
        kn_tensor in = {.dtype = KN_F32, .shape = xs, .data = x}, out = {.dtype = KN_F32, .shape = ys, .data = y};
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_sum_to, &node, &in, &out, &err), KN_OK);
        for (int64_t o = 0; o < ny; o++)
            if (y[o] != (float)want[o])
                fail_msg("SumTo case %zu: y[%lld] = %.9g, want %.9g", k, (long long)o, y[o], (float)want[o]);
        free(x);
        free(y);
        free(want);
    }
}

static void test_lrn(void **state)
{
    (void)state;
    for (int iter = 0; iter < 20; iter++) {
        int64_t dims[4] = {irand(1, 2), irand(1, 12), irand(1, 6), irand(1, 6)};
        kn_tensor x = make(KN_F32, 4, dims), y = make(KN_F32, 4, dims);
        kn_node node;
        init_node(&node, KN_OP_LRN, 1, 1);
        node.attrs.lrn.size = irand(1, 6);
        if (iter & 1) {
            node.attrs.lrn.alpha = 2e-4f * (float)irand(1, 500);
            node.attrs.lrn.beta = 0.5f;
            node.attrs.lrn.bias = 2.0f;
        }
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_lrn, &node, &x, &y, &err), KN_OK);
        const kn_lrn_attrs *la = &node.attrs.lrn;
        int64_t C = dims[1], hw = dims[2] * dims[3];
        size_t n = numel(&y);
        double *ref = malloc(sizeof(double) * n);
        assert_non_null(ref);
        const float *xp = x.data;
        for (int64_t b = 0; b < dims[0]; b++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < hw; i++) {
                    double ss = 0;
                    int64_t lo = c - (int64_t)floor((la->size - 1) / 2.0);
                    int64_t hi = c + (int64_t)ceil((la->size - 1) / 2.0);
                    for (int64_t j = lo < 0 ? 0 : lo; j <= hi && j < C; j++) {
                        double v = xp[(b * C + j) * hw + i];
                        ss += v * v;
                    }
                    double v = xp[(b * C + c) * hw + i];
                    ref[(b * C + c) * hw + i] = v / pow(la->bias + la->alpha / (double)la->size * ss, la->beta);
                }
        check_close("lrn", iter, y.data, ref, n);
        free(ref);
        free(x.data);
        free(y.data);
    }
    /* an absurd size (an attribute): the window is every channel and alpha/size is ~0 */
    int64_t dims[4] = {2, 3, 2, 2};
    kn_tensor x = make(KN_F32, 4, dims), y = make(KN_F32, 4, dims);
    kn_node node;
    init_node(&node, KN_OP_LRN, 1, 1);
    node.attrs.lrn.size = (int64_t)1 << 62;
    node.attrs.lrn.bias = 2.0f;
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_lrn, &node, &x, &y, &err), KN_OK);
    for (size_t i = 0; i < numel(&y); i++)
        assert_true(fabsf(((float *)y.data)[i] - ((float *)x.data)[i] / powf(2.0f, 0.75f)) < 1e-6f);
    free(x.data);
    free(y.data);
}

/* ------------------------------------------------------------ shape rules */

typedef struct shape_graph {
    kn_graph g;
    int out;
    int node;
} shape_graph;

/* A graph with one node of `op` over inputs of the given shapes (NULL dims: absent input). */
static void build(shape_graph *sg, kn_op op, int nin, const int *ranks, const int64_t *const *dims, int nout,
                  const kn_attrs *attrs)
{
    kn_graph_init(&sg->g);
    int ids[8], outs[2];
    kn_error err;
    for (int i = 0; i < nin; i++) {
        if (!dims[i]) {
            ids[i] = -1;
            continue;
        }
        kn_shape s = {.rank = ranks[i]};
        for (int d = 0; d < ranks[i]; d++)
            s.dims[d] = dims[i][d];
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        assert_int_equal(kn_graph_add_value(&sg->g, name, KN_F32, &s, KN_VALUE_INPUT, NULL, &ids[i], &err), KN_OK);
    }
    for (int i = 0; i < nout; i++) {
        char name[16];
        snprintf(name, sizeof name, "out%d", i);
        assert_int_equal(
            kn_graph_add_value(&sg->g, name, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, &outs[i], &err),
            KN_OK);
    }
    assert_int_equal(kn_graph_add_node(&sg->g, "layer1", op, ids, nin, outs, nout, attrs, &sg->node, &err), KN_OK);
    sg->out = outs[0];
}

static kn_status infer(shape_graph *sg, kn_error *err)
{
    return kn_node_infer_shape(&sg->g, &sg->g.nodes[sg->node], err);
}

static void expect_shape(shape_graph *sg, int rank, const int64_t *dims)
{
    kn_error err;
    kn_status st = infer(sg, &err);
    if (st)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(st, KN_OK);
    const kn_value *v = &sg->g.values[sg->out];
    assert_int_equal(v->shape.rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(v->shape.dims[i], dims[i]);
    kn_graph_free(&sg->g);
}

static void expect_error(shape_graph *sg, kn_status want, const char *substr)
{
    kn_error err;
    kn_status st = infer(sg, &err);
    if (st != want || !strstr(err.message, substr))
        fprintf(stderr, "status %d, message: %s\n", (int)st, st ? err.message : "");
    assert_int_equal(st, want);
    assert_non_null(strstr(err.message, "node 'layer1'"));
    assert_non_null(strstr(err.message, substr));
    kn_graph_free(&sg->g);
}

static void test_shape_conv(void **state)
{
    (void)state;
    shape_graph sg;
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    a.window.pad_begin[0] = a.window.pad_begin[1] = a.window.pad_end[0] = a.window.pad_end[1] = 1;
    a.window.stride[0] = a.window.stride[1] = 2;
    int r3[3] = {4, 4, 1};
    int64_t x[] = {2, 3, 7, 5}, w[] = {8, 3, 3, 3}, b[] = {8};
    const int64_t *d3[3] = {x, w, b};
    build(&sg, KN_OP_CONV, 3, r3, d3, 1, &a);
    int64_t want[] = {2, 8, 4, 3};
    expect_shape(&sg, 4, want);

    /* channel mismatch: both shapes in the message */
    int64_t wbad[] = {8, 4, 3, 3};
    const int64_t *dbad[3] = {x, wbad, NULL};
    build(&sg, KN_OP_CONV, 3, r3, dbad, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "[2,3,7,5]");
    build(&sg, KN_OP_CONV, 3, r3, dbad, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "[8,4,3,3]");
    /* bad bias length */
    int64_t bbad[] = {7};
    const int64_t *dbias[3] = {x, w, bbad};
    build(&sg, KN_OP_CONV, 3, r3, dbias, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "bias");
    /* group: C_in = W[1] * group, M % group == 0 */
    kn_attrs ag = a;
    ag.window.group = 3;
    int64_t xg[] = {1, 6, 8, 8}, wg[] = {9, 2, 3, 3}, wg2[] = {8, 2, 3, 3};
    const int64_t *dg[3] = {xg, wg, NULL};
    build(&sg, KN_OP_CONV, 3, r3, dg, 1, &ag);
    int64_t wantg[] = {1, 9, 4, 4};
    expect_shape(&sg, 4, wantg);
    const int64_t *dg2[3] = {xg, wg2, NULL};
    build(&sg, KN_OP_CONV, 3, r3, dg2, 1, &ag);
    expect_error(&sg, KN_ERR_SHAPE, "group 3");
    /* kernel_shape disagreeing with the weight */
    kn_attrs ak = a;
    ak.window.kernel[0] = ak.window.kernel[1] = 5;
    build(&sg, KN_OP_CONV, 3, r3, d3, 1, &ak);
    expect_error(&sg, KN_ERR_SHAPE, "kernel_shape");
    /* weight rank differs from the input's */
    int r2[3] = {4, 3, 1};
    int64_t w3[] = {8, 3, 3};
    const int64_t *dr[3] = {x, w3, NULL};
    build(&sg, KN_OP_CONV, 3, r2, dr, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "ranks differ");
    /* kernel bigger than the padded input */
    int64_t xs[] = {1, 3, 2, 2}, ws[] = {4, 3, 7, 7};
    const int64_t *dsm[3] = {xs, ws, NULL};
    build(&sg, KN_OP_CONV, 3, r3, dsm, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "kernel");

    /* ConvTranspose: out channels = W[1] * group; test_convtranspose_pads shape */
    kn_attrs t;
    kn_attrs_init(KN_OP_CONV_TRANSPOSE, &t);
    t.window.stride[0] = 3;
    t.window.stride[1] = 2;
    t.window.pad_begin[0] = t.window.pad_end[0] = 1;
    t.window.pad_begin[1] = t.window.pad_end[1] = 2;
    int64_t tx[] = {1, 1, 3, 3}, tw[] = {1, 2, 3, 3};
    const int64_t *dt[3] = {tx, tw, NULL};
    build(&sg, KN_OP_CONV_TRANSPOSE, 3, r3, dt, 1, &t);
    int64_t wantt[] = {1, 2, 7, 3};
    expect_shape(&sg, 4, wantt);
    int64_t twbad[] = {2, 2, 3, 3};
    const int64_t *dtb[3] = {tx, twbad, NULL};
    build(&sg, KN_OP_CONV_TRANSPOSE, 3, r3, dtb, 1, &t);
    expect_error(&sg, KN_ERR_SHAPE, "[2,2,3,3]");
    int64_t tb[] = {3};
    const int64_t *dtbias[3] = {tx, tw, tb};
    build(&sg, KN_OP_CONV_TRANSPOSE, 3, r3, dtbias, 1, &t);
    expect_error(&sg, KN_ERR_SHAPE, "bias");

    /* a group so large that W[1] * group overflows: an error, not signed overflow */
    kn_attrs ah = a;
    ah.window.group = (int64_t)1 << 62;
    int64_t xh[] = {1, 4, 5, 5}, wh[] = {4, 4, 1, 1};
    const int64_t *dh[3] = {xh, wh, NULL};
    build(&sg, KN_OP_CONV, 3, r3, dh, 1, &ah);
    expect_error(&sg, KN_ERR_SHAPE, "group 4611686018427387904");
    kn_attrs th = t;
    th.window.group = (int64_t)1 << 62;
    int64_t txh[] = {1, 0, 3, 3}, twh[] = {0, 4, 3, 3}; /* 0 input channels: divisible by any group */
    const int64_t *dth[3] = {txh, twh, NULL};
    build(&sg, KN_OP_CONV_TRANSPOSE, 3, r3, dth, 1, &th);
    expect_error(&sg, KN_ERR_OVERFLOW, "too many output channels");
}

static void test_shape_gemm_matmul(void **state)
{
    (void)state;
    shape_graph sg;
    kn_attrs a;
    kn_attrs_init(KN_OP_GEMM, &a);
    a.gemm.trans_a = a.gemm.trans_b = true;
    int r[3] = {2, 2, 2};
    int64_t A[] = {4, 3}, B[] = {5, 4}, C[] = {1, 5};
    const int64_t *d[3] = {A, B, C};
    build(&sg, KN_OP_GEMM, 3, r, d, 1, &a);
    int64_t want[] = {3, 5};
    expect_shape(&sg, 2, want);
    int64_t Cbad[] = {3, 4};
    const int64_t *dc[3] = {A, B, Cbad};
    build(&sg, KN_OP_GEMM, 3, r, dc, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "broadcast");
    a.gemm.trans_b = false;
    build(&sg, KN_OP_GEMM, 3, r, d, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "inner dimensions");

    int rm[2] = {4, 3};
    int64_t ma[] = {2, 1, 3, 4}, mb[] = {5, 4, 6};
    const int64_t *dm[2] = {ma, mb};
    build(&sg, KN_OP_MATMUL, 2, rm, dm, 1, NULL);
    int64_t wantm[] = {2, 5, 3, 6};
    expect_shape(&sg, 4, wantm);
    int r11[2] = {1, 2};
    int64_t v4[] = {4}, m46[] = {4, 6};
    const int64_t *d11[2] = {v4, m46};
    build(&sg, KN_OP_MATMUL, 2, r11, d11, 1, NULL);
    int64_t want6[] = {6};
    expect_shape(&sg, 1, want6);
    int r21[2] = {2, 1};
    int64_t m34[] = {3, 4};
    const int64_t *d21[2] = {m34, v4};
    build(&sg, KN_OP_MATMUL, 2, r21, d21, 1, NULL);
    int64_t want3[] = {3};
    expect_shape(&sg, 1, want3);
    int rvv[2] = {1, 1};
    const int64_t *dvv[2] = {v4, v4};
    build(&sg, KN_OP_MATMUL, 2, rvv, dvv, 1, NULL);
    expect_shape(&sg, 0, NULL);
    int64_t bad[] = {3, 6};
    const int64_t *dbad[2] = {m34, bad};
    build(&sg, KN_OP_MATMUL, 2, (int[]){2, 2}, dbad, 1, NULL);
    expect_error(&sg, KN_ERR_SHAPE, "[3,6]");
    int64_t b1[] = {2, 3, 4}, b2[] = {3, 4, 5};
    const int64_t *dbb[2] = {b1, b2};
    build(&sg, KN_OP_MATMUL, 2, (int[]){3, 3}, dbb, 1, NULL);
    expect_error(&sg, KN_ERR_SHAPE, "broadcast");
}

static void test_shape_pool_bn(void **state)
{
    (void)state;
    shape_graph sg;
    kn_attrs a;
    kn_attrs_init(KN_OP_MAX_POOL, &a);
    a.window.kernel[0] = a.window.kernel[1] = 3;
    a.window.stride[0] = a.window.stride[1] = 2;
    a.window.ceil_mode = true;
    int r1[1] = {4};
    int64_t x[] = {1, 1, 4, 4};
    const int64_t *d[1] = {x};
    build(&sg, KN_OP_MAX_POOL, 1, r1, d, 1, &a);
    int64_t want[] = {1, 1, 2, 2};
    expect_shape(&sg, 4, want);
    /* MaxPool's Indices output */
    build(&sg, KN_OP_MAX_POOL, 1, r1, d, 2, &a);
    expect_error(&sg, KN_ERR_UNSUPPORTED, "Indices");
    /* missing kernel_shape */
    kn_attrs nk;
    kn_attrs_init(KN_OP_AVERAGE_POOL, &nk);
    build(&sg, KN_OP_AVERAGE_POOL, 1, r1, d, 1, &nk);
    expect_error(&sg, KN_ERR_SHAPE, "kernel_shape");
    /* rank-2 input */
    int r2[1] = {2};
    int64_t x2[] = {3, 4};
    const int64_t *d2[1] = {x2};
    build(&sg, KN_OP_MAX_POOL, 1, r2, d2, 1, &a);
    expect_error(&sg, KN_ERR_SHAPE, "[3,4]");

    build(&sg, KN_OP_GLOBAL_AVERAGE_POOL, 1, (int[]){5}, (const int64_t *[]){(int64_t[]){2, 3, 4, 5, 6}}, 1, NULL);
    int64_t wantg[] = {2, 3, 1, 1, 1};
    expect_shape(&sg, 5, wantg);

    int rb[5] = {4, 1, 1, 1, 1};
    int64_t bx[] = {2, 3, 4, 5}, c3[] = {3}, c4[] = {4};
    const int64_t *db[5] = {bx, c3, c3, c3, c3};
    build(&sg, KN_OP_BATCH_NORM, 5, rb, db, 1, NULL);
    expect_shape(&sg, 4, bx);
    const int64_t *dbb[5] = {bx, c3, c3, c4, c3};
    build(&sg, KN_OP_BATCH_NORM, 5, rb, dbb, 1, NULL);
    expect_error(&sg, KN_ERR_SHAPE, "input_mean");
}

/* OpenBLAS's thread count selects the kernels' strategy (ref_nn.h): run the sgemm users both ways. */
void openblas_set_num_threads(int num_threads);

static int blas_single(void **state)
{
    (void)state;
    openblas_set_num_threads(1); /* OpenMP tiles, each with a single-threaded sgemm */
    return 0;
}

static int blas_threaded(void **state)
{
    (void)state;
    openblas_set_num_threads(2); /* one sgemm per (image, group), threaded by OpenBLAS */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_resolve),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_large),
        cmocka_unit_test(test_conv_transpose_random),
        cmocka_unit_test(test_conv_transpose_gather),
        cmocka_unit_test(test_conv_grad_weight_random),
        cmocka_unit_test(test_gemm_random),
        cmocka_unit_test(test_matmul_cases),
        cmocka_unit_test(test_pool_random),
        cmocka_unit_test(test_pool_same_and_uint8),
        cmocka_unit_test(test_global_pool),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_lrn),
        cmocka_unit_test(test_sum_to),
        cmocka_unit_test(test_shape_conv),
        cmocka_unit_test(test_shape_gemm_matmul),
        cmocka_unit_test(test_shape_pool_bn),
    };
    const struct CMUnitTest blas_tests[] = {
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_large),
        cmocka_unit_test(test_conv_transpose_random),
        cmocka_unit_test(test_conv_transpose_gather),
        cmocka_unit_test(test_conv_grad_weight_random),
        cmocka_unit_test(test_gemm_random),
        cmocka_unit_test(test_matmul_cases),
    };
    int failed = cmocka_run_group_tests_name("ref_nn_omp_tiles", tests, blas_single, NULL);
    failed += cmocka_run_group_tests_name("ref_nn_blas_threads", blas_tests, blas_threaded, NULL);
    return failed;
}
