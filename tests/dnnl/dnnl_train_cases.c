/*
 * dnnl_train_cases.c - parity cases for the backward ops of training graphs
 * on the oneDNN backend (backends/dnnl/dnnl_train.c) against the reference
 * kernels, with the bound of dnnl_parity.h.
 *
 * ConvGradWeight: the input x comes from a Conv "c1" (a blocked layout on
 * oneDNN: nChw8c, nChw16c or nhwc with the ISA) or is a graph input; the
 * output gradient dy is a graph input (plain). Channel counts on and off the
 * 8/16 blocks, 1x1/3x3/5x5, strides 1 and 2, padding, dilation, groups,
 * with and without the bias gradient, batch 1 and 2.
 * MaxPoolGrad: x from a Conv (kiln's own loop on its blocked layout) or plain (the reference kernel), dy a
 * graph input; windows that tile x and ones that leave a row and a column out.
 * ActivationGrad: the activation's input (or output, for the algorithms
 * oneDNN differentiates on its output) comes from a Conv (blocked) or a
 * graph input, dy from another Conv of the same shape or a graph input.
 * BatchNormTrain and BatchNormGrad (on its statistics): x and dy from Convs (blocked, on and off the channel
 * blocks) or graph inputs, 4-D and 2-D (a dense layer's batch norm); BatchNormTrain as kiln's loop (bitwise the
 * reference kernel's outputs on the same input) and, with KILN_DNNL_BN_TRAIN=1, as oneDNN's primitive.
 * AveragePoolGrad (with and without padding counted) and GlobalAveragePoolGrad: dy from a Conv (blocked) or a
 * graph input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnnl_parity.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct cgw_case {
    const char *name;
    int64_t n, c, h, w; /* x */
    int64_t k;          /* output channels */
    int64_t ks, stride, pad, dil, group;
    bool bias, blocked; /* db too; x from Conv "c1" (c channels from 8) */
    bool shared;        /* x (a graph input) is also read by a Conv "fwd" (as a training graph's forward conv) */
    bool narrow;        /* 1 output channel, stride 1: gw runs on the reference kernel's gather path by choice */
} cgw_case;

static const cgw_case cgw_cases[] = {
    {"cgw_c16_k16_3x3", 2, 16, 8, 8, 16, 3, 1, 1, 1, 1, true, true},
    {"cgw_c12_k20_3x3", 2, 12, 7, 9, 20, 3, 1, 1, 1, 1, true, true},
    {"cgw_c8_k8_3x3_b1", 1, 8, 6, 6, 8, 3, 1, 0, 1, 1, true, true},
    {"cgw_c32_k64_3x3", 2, 32, 10, 10, 64, 3, 1, 0, 1, 1, true, true},
    {"cgw_c3_k8_5x5_s2", 2, 3, 12, 12, 8, 5, 2, 2, 1, 1, true, false},
    {"cgw_c1_k32_3x3", 2, 1, 10, 10, 32, 3, 1, 0, 1, 1, true, false},
    {"cgw_c16_k24_1x1", 2, 16, 5, 5, 24, 1, 1, 0, 1, 1, false, true},
    {"cgw_c16_k16_s2", 2, 16, 9, 9, 16, 3, 2, 1, 1, 1, true, true},
    {"cgw_c16_k16_dil2", 1, 16, 9, 9, 16, 3, 1, 2, 2, 1, true, true},
    {"cgw_grouped", 2, 16, 6, 6, 16, 3, 1, 1, 1, 4, true, true},
    {"cgw_depthwise", 2, 16, 8, 8, 16, 3, 2, 1, 1, 16, false, true},
    {"cgw_c1_k32_shared_input", 64, 1, 28, 28, 32, 3, 1, 1, 1, 1, false, false, true},
    /* one output channel (DCGAN's image layer, 64 -> 1 5x5 'same'): stride 1 on the reference kernel's gather path
     * (x blocked at 16 and at 12 channels, or plain), stride 2 on oneDNN */
    {"cgw_c64_k1_5x5_same", 2, 64, 12, 12, 1, 5, 1, 2, 1, 1, true, true, false, true},
    {"cgw_c12_k1_3x3", 2, 12, 9, 9, 1, 3, 1, 1, 1, 1, true, true, false, true},
    {"cgw_c20_k1_plain_dil2", 2, 20, 9, 8, 1, 3, 1, 1, 2, 1, false, false, false, true},
    {"cgw_c16_k1_s2", 2, 16, 9, 9, 1, 3, 2, 1, 1, 1, true, true},
};

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    return (in + 2 * p - (k - 1) * d - 1) / s + 1;
}

static void test_conv_grad_weight(const cgw_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x;
    if (c->blocked) {
        int x0 = kn_pb_input(&b, "x", 4, KN_DIMS(c->n, 8, c->h, c->w));
        x = kn_pb_conv(&b, "c1", x0, 8, c->c, 3, 1, 1, 1);
    } else {
        x = kn_pb_input(&b, "x", 4, KN_DIMS(c->n, c->c, c->h, c->w));
    }
    if (c->shared)
        kn_pb_output(&b, kn_pb_conv(&b, "fwd", x, c->c, c->k, c->ks, c->stride, c->pad, c->group));
    const int64_t oh = out_size(c->h, c->ks, c->stride, c->pad, c->dil);
    const int64_t ow = out_size(c->w, c->ks, c->stride, c->pad, c->dil);
    int dy = kn_pb_input(&b, "dy", 4, KN_DIMS(c->n, c->k, oh, ow));
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV_GRAD_WEIGHT, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        a.window.kernel[i] = c->ks;
        a.window.stride[i] = c->stride;
        a.window.dilation[i] = c->dil;
        a.window.pad_begin[i] = a.window.pad_end[i] = c->pad;
    }
    a.window.group = c->group;
    int in[2] = {x, dy}, out[2];
    kn_pb_node_n(&b, "gw", KN_OP_CONV_GRAD_WEIGHT, &a, 2, in, c->bias ? 2 : 1, out);
    kn_pb_output(&b, out[0]);
    if (c->bias)
        kn_pb_output(&b, out[1]);
    kn_model_t *m = kn_pb_model(&b);
    kn_parity p = kn_parity_check(m, 0, 0, c->narrow ? NULL : c->shared ? "fwd,gw" : "gw", true, c->name);
    if (c->narrow) /* gw (and nothing else) on the reference kernels */
        assert_int_equal(p.ref_nodes, 1);
    kn_model_free(m);
}

typedef struct act_case {
    const char *name;
    kn_op act;
    float alpha;
    bool use_dst, blocked;
    int64_t c;
} act_case;

static const act_case act_cases[] = {
    {"relu_grad_dst_c16", KN_OP_RELU, 0, true, true, 16},
    {"relu_grad_dst_c12", KN_OP_RELU, 0, true, true, 12},
    {"relu_grad_x_plain", KN_OP_RELU, 0, false, false, 5},
    {"leaky_grad_x_c16", KN_OP_LEAKY_RELU, 0.2f, false, true, 16},
    {"leaky_grad_x_c20", KN_OP_LEAKY_RELU, 0.01f, false, true, 20},
    {"sigmoid_grad_dst_c16", KN_OP_SIGMOID, 0, true, true, 16},
    {"tanh_grad_dst_c12", KN_OP_TANH, 0, true, true, 12},
    {"tanh_grad_dst_plain", KN_OP_TANH, 0, true, false, 3},
    {"elu_grad_dst_c16", KN_OP_ELU, 1.0f, true, true, 16},
    {"elu_grad_x_neg_alpha", KN_OP_ELU, -0.5f, false, true, 8},
    {"swish_grad_x_c16", KN_OP_SWISH, 0, false, true, 16},
    {"exp_grad_dst_plain", KN_OP_EXP, 0, true, false, 4},
};

static void test_act_grad(const act_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int t, dy;
    if (c->blocked) {
        int x0 = kn_pb_input(&b, "x", 4, KN_DIMS(2, 8, 6, 6));
        t = kn_pb_conv(&b, "c1", x0, 8, c->c, 3, 1, 1, 1);
        dy = kn_pb_conv(&b, "c2", x0, 8, c->c, 3, 1, 1, 1);
    } else {
        t = kn_pb_input(&b, "t", 4, KN_DIMS(2, c->c, 5, 7));
        dy = kn_pb_input(&b, "dy", 4, KN_DIMS(2, c->c, 5, 7));
    }
    if (c->use_dst) /* the forward output (Elu: default alpha 1) */
        t = kn_pb_unary(&b, "fwd", c->act, t);
    kn_attrs a;
    kn_attrs_init(KN_OP_ACTIVATION_GRAD, &a);
    a.act_grad.act = c->act;
    a.act_grad.use_dst = c->use_dst;
    a.act_grad.p.alpha = c->alpha;
    int in[2] = {dy, t};
    kn_pb_output(&b, kn_pb_node(&b, "ag", KN_OP_ACTIVATION_GRAD, &a, 2, in));
    kn_model_t *m = kn_pb_model(&b);
    kn_parity_check(m, 0, 0, "ag", true, c->name);
    kn_model_free(m);
}

typedef struct pg_case {
    const char *name;
    int64_t c, h, w, k; /* x = Conv "c1" (8 -> c) output [2, c, h, w]; k x k windows, stride k */
    bool blocked;       /* false: x a graph input (plain: the reference kernel) */
    bool expect;        /* must run on kiln's loop (12 channels: oneDNN may leave c1's output plain on SSE4.1) */
} pg_case;

static const pg_case pg_cases[] = {
    {"maxpool_grad_c16_2x2", 16, 8, 8, 2, true, true},
    {"maxpool_grad_c12_2x2_odd", 12, 7, 9, 2, true, false}, /* a padded block; a row and a column past the windows */
    {"maxpool_grad_c32_3x3", 32, 9, 9, 3, true, true},
    {"maxpool_grad_c8_2x2", 8, 6, 6, 2, true, false},
    {"maxpool_grad_plain", 5, 6, 6, 2, false, false},
};

/* A pooling gradient's x [2, c, h, w]: Conv "c1" (8 -> c, so blocked on oneDNN) when `blocked`, else graph input "x". */
static int pool_grad_x(kn_pb *b, int64_t c, int64_t h, int64_t w, bool blocked)
{
    if (blocked)
        return kn_pb_conv(b, "c1", kn_pb_input(b, "x", 4, KN_DIMS(2, 8, h, w)), 8, c, 3, 1, 1, 1);
    return kn_pb_input(b, "x", 4, KN_DIMS(2, c, h, w));
}

static void test_pool_grad(const pg_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = pool_grad_x(&b, c->c, c->h, c->w, c->blocked);
    int dy = kn_pb_input(&b, "dy", 4, KN_DIMS(2, c->c, c->h / c->k, c->w / c->k));
    kn_attrs a;
    kn_attrs_init(KN_OP_MAX_POOL_GRAD, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++)
        a.window.kernel[i] = a.window.stride[i] = c->k;
    int in[2] = {dy, x};
    kn_pb_output(&b, kn_pb_node(&b, "pg", KN_OP_MAX_POOL_GRAD, &a, 2, in));
    kn_model_t *m = kn_pb_model(&b);
    kn_parity_check(m, 0, 0, c->expect ? "pg" : NULL, true, c->name);
    kn_model_free(m);
}

typedef struct apg_case {
    const char *name;
    int64_t c, h, w, k, s, pad; /* x = Conv "c1" (8 -> c) output [2, c, h, w] (or a graph input); k x k, stride s */
    bool include_pad, blocked, global;
} apg_case;

static const apg_case apg_cases[] = {
    {"avgpool_grad_c16_2x2", 16, 8, 8, 2, 2, 0, false, true, false},
    {"avgpool_grad_c12_3x3_pad", 12, 7, 9, 3, 1, 1, false, true, false},
    {"avgpool_grad_c16_3x3_pad_incl", 16, 6, 6, 3, 2, 1, true, true, false},
    {"avgpool_grad_plain", 5, 6, 6, 2, 2, 0, false, false, false},
    {"global_avgpool_grad_c32", 32, 7, 7, 0, 0, 0, false, true, true},
    {"global_avgpool_grad_plain", 3, 5, 4, 0, 0, 0, false, false, true},
};

static void test_avg_pool_grad(const apg_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x = pool_grad_x(&b, c->c, c->h, c->w, c->blocked);
    const kn_op op = c->global ? KN_OP_GLOBAL_AVERAGE_POOL_GRAD : KN_OP_AVERAGE_POOL_GRAD;
    kn_attrs a;
    kn_attrs_init(op, &a);
    int64_t oh = 1, ow = 1;
    if (!c->global) {
        a.window.nspatial = 2;
        a.window.count_include_pad = c->include_pad;
        for (int i = 0; i < 2; i++) {
            a.window.kernel[i] = c->k;
            a.window.stride[i] = c->s;
            a.window.pad_begin[i] = a.window.pad_end[i] = c->pad;
        }
        oh = out_size(c->h, c->k, c->s, c->pad, 1);
        ow = out_size(c->w, c->k, c->s, c->pad, 1);
    }
    /* dy from a Conv "c2" too when x is blocked (a blocked gradient), else a graph input */
    int dy = c->blocked && !c->global
                 ? kn_pb_conv(&b, "c2", kn_pb_input(&b, "z", 4, KN_DIMS(2, 8, oh, ow)), 8, c->c, 1, 1, 0, 1)
                 : kn_pb_input(&b, "dy", 4, KN_DIMS(2, c->c, oh, ow));
    int in[2] = {dy, x};
    kn_pb_output(&b, kn_pb_node(&b, "apg", op, &a, 2, in));
    kn_model_t *m = kn_pb_model(&b);
    kn_parity_check(m, 0, 0, "apg", true, c->name);
    kn_model_free(m);
}

typedef struct bn_case {
    const char *name;
    int64_t n, c, h, w; /* x; h = 0: a 2-D [n, c] input (a dense layer's BatchNorm) */
    bool blocked;       /* x (and dy) from Convs "c1", "c2" (8 -> c), else graph inputs */
} bn_case;

static const bn_case bn_cases[] = {
    {"bn_train_grad_c16", 4, 16, 6, 6, true},
    {"bn_train_grad_c12", 3, 12, 5, 7, true}, /* a padded channel block */
    {"bn_train_grad_c64_b8", 8, 64, 4, 4, true},
    {"bn_train_grad_plain_4d", 2, 5, 4, 3, false},
    {"bn_train_grad_dense", 64, 128, 0, 0, false},
    {"bn_train_grad_dense_c10", 7, 10, 0, 0, false},
};

/* BatchNormTrain on x (y, mean, invstd as outputs), then BatchNormGrad of dy on its statistics. */
static void test_bn(const bn_case *c)
{
    kn_pb b;
    kn_pb_init(&b);
    int x, dy;
    if (c->blocked) {
        int x0 = kn_pb_input(&b, "x", 4, KN_DIMS(c->n, 8, c->h, c->w));
        x = kn_pb_conv(&b, "c1", x0, 8, c->c, 3, 1, 1, 1);
        dy = kn_pb_conv(&b, "c2", x0, 8, c->c, 3, 1, 1, 1);
    } else if (c->h) {
        x = kn_pb_input(&b, "x", 4, KN_DIMS(c->n, c->c, c->h, c->w));
        dy = kn_pb_input(&b, "dy", 4, KN_DIMS(c->n, c->c, c->h, c->w));
    } else {
        x = kn_pb_input(&b, "x", 2, KN_DIMS(c->n, c->c));
        dy = kn_pb_input(&b, "dy", 2, KN_DIMS(c->n, c->c));
    }
    const int64_t C = c->c;
    int scale = kn_pb_param(&b, "scale", 0.5f, 1.5f, 1, &C), bias = kn_pb_param(&b, "bias", -1.0f, 1.0f, 1, &C);
    int rmean = kn_pb_param(&b, "rmean", -0.1f, 0.1f, 1, &C), rvar = kn_pb_param(&b, "rvar", 0.9f, 1.1f, 1, &C);
    kn_attrs a;
    kn_attrs_init(KN_OP_BATCH_NORM_TRAIN, &a);
    a.batch_norm.epsilon = 1e-3f;
    a.batch_norm.momentum = 0.99f;
    int in[5] = {x, scale, bias, rmean, rvar}, st[3], gr[3];
    kn_pb_node_n(&b, "bnt", KN_OP_BATCH_NORM_TRAIN, &a, 5, in, 3, st);
    int gin[5] = {dy, x, scale, st[1], st[2]};
    kn_pb_node_n(&b, "bng", KN_OP_BATCH_NORM_GRAD, &a, 5, gin, 3, gr);
    for (int k = 0; k < 3; k++) {
        kn_pb_output(&b, st[k]);
        kn_pb_output(&b, gr[k]);
    }
    kn_model_t *m = kn_pb_model(&b);
    /* by default BatchNormTrain runs as kiln's loop (the reference kernel's double statistics; C % 8 == 0 for a
     * 2-D input, else the reference kernel); KILN_DNNL_BN_TRAIN=1 maps it to oneDNN's forward training */
    char what[96];
    const bool native = c->h || c->c % 8 == 0;
    snprintf(what, sizeof what, "%s (BatchNormTrain %s)", c->name, native ? "as kiln's loop" : "on the reference");
    kn_parity_check(m, 0, 0, native ? "bnt,bng" : "bng", true, what);
    if (native && !c->blocked) {
        /* the same input: y, mean and invstd bitwise the reference kernel's */
        kn_pb b2;
        kn_pb_init(&b2);
        int x2 = kn_pb_input(&b2, "x", c->h ? 4 : 2, c->h ? KN_DIMS(c->n, c->c, c->h, c->w) : KN_DIMS(c->n, c->c));
        int in2[5] = {x2, kn_pb_param(&b2, "scale", 0.5f, 1.5f, 1, &C), kn_pb_param(&b2, "bias", -1.0f, 1.0f, 1, &C),
                      kn_pb_param(&b2, "rmean", -0.1f, 0.1f, 1, &C), kn_pb_param(&b2, "rvar", 0.9f, 1.1f, 1, &C)};
        int st2[3];
        kn_pb_node_n(&b2, "bnt", KN_OP_BATCH_NORM_TRAIN, &a, 5, in2, 3, st2);
        for (int k = 0; k < 3; k++)
            kn_pb_output(&b2, st2[k]);
        kn_model_t *m2 = kn_pb_model(&b2);
        snprintf(what, sizeof what, "%s (BatchNormTrain alone, exact)", c->name);
        kn_parity check = kn_parity_check(m2, 0, 1e-12f, "bnt", false, what);
        assert_true(check.worst_abs == 0.0);
        kn_model_free(m2);
    }
    setenv("KILN_DNNL_BN_TRAIN", "1", 1);
    kn_parity_check(m, 0, 0, "bnt,bng", true, c->name);
    unsetenv("KILN_DNNL_BN_TRAIN");
    kn_model_free(m);
}

void kn_dnnl_test_train_grads(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(pg_cases); i++)
        test_pool_grad(&pg_cases[i]);
    for (size_t i = 0; i < COUNT(cgw_cases); i++)
        test_conv_grad_weight(&cgw_cases[i]);
    for (size_t i = 0; i < COUNT(act_cases); i++)
        test_act_grad(&act_cases[i]);
    for (size_t i = 0; i < COUNT(bn_cases); i++)
        test_bn(&bn_cases[i]);
    for (size_t i = 0; i < COUNT(apg_cases); i++)
        test_avg_pool_grad(&apg_cases[i]);
}

/*
 * Ten training steps of models/mnist_cnn.kiln (Adam, Dropout, batch 64) on the shipped MNIST digits: the oneDNN
 * backend's loss after every step stays within 1e-3 (relative) of the reference backend's, from the same initial
 * weights, batches and Dropout masks.
 */
void kn_dnnl_test_train_curve(void **state)
{
    (void)state;
    enum { B = 64, STEPS = 10 };
    double loss[2][STEPS];
    static const char *const backends[2] = {"ref", "dnnl"};
    for (int k = 0; k < 2; k++) {
        kn_train_options o = {.backend = backends[k], .threads = 2, .batch_size = B, .seed = 5};
        o.data_dir = KN_SOURCE_DIR "/data/mnist";
        kn_trainer_t *t = NULL;
        kn_dataset_t *ds = NULL;
        kn_error err;
        if (kn_trainer_create(KN_SOURCE_DIR "/models/mnist_cnn.kiln", &o, &t, &err) != KN_OK ||
            kn_trainer_load_dataset(t, false, B * STEPS, &ds, &err) != KN_OK)
            fail_msg("%s: %s", backends[k], err.message);
        float *buf = malloc(sizeof(float) * B * 28 * 28);
        int64_t lab[B], idx[B];
        assert_non_null(buf);
        for (int s = 0; s < STEPS; s++) {
            kn_tensor x, y;
            kn_train_report r;
            for (int i = 0; i < B; i++)
                idx[i] = s * B + i;
            if (kn_dataset_batch(ds, idx, B, buf, lab, &x, &y, &err) != KN_OK ||
                kn_trainer_train_batch(t, &x, &y, &r, &err) != KN_OK)
                fail_msg("%s step %d: %s", backends[k], s, err.message);
            loss[k][s] = r.loss[0];
        }
        free(buf);
        kn_dataset_free(ds);
        kn_trainer_free(t);
    }
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        const double rel = fabs(loss[1][s] - loss[0][s]) / fabs(loss[0][s]);
        printf("train curve step %d: loss ref %.6f dnnl %.6f (rel %.2e)\n", s + 1, loss[0][s], loss[1][s], rel);
        if (!(rel <= worst)) /* NaN counts as worst: a NaN loss on either backend fails */
            worst = rel;
    }
    printf("parity train_curve mnist_cnn (10 steps, batch 64): worst relative loss difference %.2e (bound 1e-3)\n",
           worst);
    assert_true(worst <= 1e-3);
}
