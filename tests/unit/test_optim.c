/*
 * test_optim.c - the optimizer update kernels (SgdUpdate, MomentumUpdate
 * with and without Nesterov, AdamUpdate) against the formulas of
 * docs/spec-language.md computed here in double precision, over several
 * steps, with decoupled weight decay and with the learning-rate scale a
 * schedule feeds (cosine(): the optional last input). Each kernel runs
 * three steps on 37 elements: long enough for the momentum and the moments
 * to matter, odd enough to leave a vector tail.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref.h"
#include "testutil.h"

enum { N = 37, STEPS = 3 };

typedef struct optim_case {
    const char *name;
    kn_op op;
    kn_optim_attrs o;
    float scale;             /* < 0: no scale input */
} optim_case;

static const optim_case cases[] = {
    {"sgd", KN_OP_SGD_UPDATE, {.lr = 0.1f}, -1},
    {"sgd_decay_scaled", KN_OP_SGD_UPDATE, {.lr = 0.1f, .weight_decay = 0.05f}, 0.25f},
    {"momentum", KN_OP_MOMENTUM_UPDATE, {.lr = 0.05f, .momentum = 0.9f}, -1},
    {"nesterov_decay_scaled", KN_OP_MOMENTUM_UPDATE, {.lr = 0.05f, .momentum = 0.8f, .nesterov = true,
                                                      .weight_decay = 0.01f}, 0.5f},
    {"adam", KN_OP_ADAM_UPDATE, {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .epsilon = 1e-7f}, -1},
    {"adamw_scaled", KN_OP_ADAM_UPDATE, {.lr = 0.01f, .beta1 = 0.8f, .beta2 = 0.99f, .epsilon = 1e-3f,
                                         .weight_decay = 0.1f}, 0.3f},
    {"rmsprop", KN_OP_RMSPROP_UPDATE, {.lr = 0.01f, .rho = 0.9f, .epsilon = 1e-7f}, -1},
    {"rmsprop_decay_scaled", KN_OP_RMSPROP_UPDATE, {.lr = 0.01f, .rho = 0.8f, .epsilon = 1e-3f,
                                                    .weight_decay = 0.05f}, 0.5f},
    {"adam_scale_zero", KN_OP_ADAM_UPDATE, {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .epsilon = 1e-7f}, 0.0f},
};

static void run_case(const optim_case *c)
{
    uint64_t seed = 0x0971u + (uint64_t)c->op;
    float w[N], g[N], m[N] = {0}, v[N] = {0};
    double rw[N], rm[N] = {0}, rv[N] = {0};
    kn_test_fill(&seed, w, N, -1.0f, 1.0f);
    for (int i = 0; i < N; i++)
        rw[i] = w[i];
    kn_node node;
    memset(&node, 0, sizeof node);
    node.name = (char *)c->name;
    node.op = c->op;
    node.fused.activation = KN_OP_COUNT;
    node.fused.residual = -1;
    node.attrs.optim = c->o;
    const kn_shape vec = {.rank = 1, .dims = {N}}, scalar = {.rank = 0};
    for (int64_t step = 0; step < STEPS; step++) {
        kn_test_fill(&seed, g, N, -2.0f, 2.0f);
        float scale = c->scale;
        int64_t t = step;
        kn_tensor in[6] = {{.dtype = KN_F32, .shape = vec, .data = w}, {.dtype = KN_F32, .shape = vec, .data = g}};
        int nin = 2;
        if (c->op != KN_OP_SGD_UPDATE)
            in[nin++] = (kn_tensor){.dtype = KN_F32, .shape = vec, .data = m};
        if (c->op == KN_OP_ADAM_UPDATE) {
            in[nin++] = (kn_tensor){.dtype = KN_F32, .shape = vec, .data = v};
            in[nin++] = (kn_tensor){.dtype = KN_I64, .shape = scalar, .data = &t};
        }
        if (c->scale >= 0)
            in[nin++] = (kn_tensor){.dtype = KN_F32, .shape = scalar, .data = &scale};
        node.num_inputs = nin;
        kn_error err;
        assert_int_equal(kn_ref_invoke(kn_ref_update, &node, in, NULL, &err), KN_OK);
        /* the docs' formulas */
        const double lr = (double)c->o.lr * (c->scale >= 0 ? c->scale : 1.0), wd = c->o.weight_decay;
        for (int i = 0; i < N; i++) {
            double wi = rw[i] - lr * wd * rw[i];
            switch (c->op) {
            case KN_OP_SGD_UPDATE: wi -= lr * g[i]; break;
            case KN_OP_MOMENTUM_UPDATE:
                rm[i] = c->o.momentum * rm[i] - lr * g[i];
                wi += c->o.nesterov ? c->o.momentum * rm[i] - lr * g[i] : rm[i];
                break;
            case KN_OP_RMSPROP_UPDATE: /* Keras: eps inside the square root */
                rm[i] = c->o.rho * rm[i] + (1 - c->o.rho) * (double)g[i] * g[i];
                wi -= lr * g[i] / sqrt(rm[i] + c->o.epsilon);
                break;
            default: {
                const double b1 = c->o.beta1, b2 = c->o.beta2, k = (double)(step + 1);
                rm[i] += (g[i] - rm[i]) * (1 - b1);
                rv[i] += ((double)g[i] * g[i] - rv[i]) * (1 - b2);
                const double alpha = lr * sqrt(1 - pow(b2, k)) / (1 - pow(b1, k));
                wi -= alpha * rm[i] / (sqrt(rv[i]) + c->o.epsilon);
            }
            }
            rw[i] = wi;
        }
    }
    for (int i = 0; i < N; i++)
        if (fabs(w[i] - rw[i]) > 1e-5 * (1.0 + fabs(rw[i])))
            fail_msg("%s: w[%d] = %.8g, the formula gives %.8g", c->name, i, w[i], rw[i]);
}

static void test_updates(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        run_case(&cases[k]);
}

/* A scale of 0 (the end of cosine(final=0)) leaves the weights where they are, even with weight decay. */
static void test_scale_zero_freezes(void **state)
{
    (void)state;
    float w[N], g[N], m[N] = {0}, v[N] = {0}, before[N];
    uint64_t seed = 5;
    kn_test_fill(&seed, w, N, -1.0f, 1.0f);
    kn_test_fill(&seed, g, N, -1.0f, 1.0f);
    memcpy(before, w, sizeof w);
    int64_t t = 4;
    float scale = 0.0f;
    const kn_shape vec = {.rank = 1, .dims = {N}}, scalar = {.rank = 0};
    kn_tensor in[6] = {{.dtype = KN_F32, .shape = vec, .data = w},    {.dtype = KN_F32, .shape = vec, .data = g},
                       {.dtype = KN_F32, .shape = vec, .data = m},    {.dtype = KN_F32, .shape = vec, .data = v},
                       {.dtype = KN_I64, .shape = scalar, .data = &t}, {.dtype = KN_F32, .shape = scalar, .data = &scale}};
    kn_node node;
    memset(&node, 0, sizeof node);
    node.name = "adamw";
    node.op = KN_OP_ADAM_UPDATE;
    node.num_inputs = 6;
    node.fused.activation = KN_OP_COUNT;
    node.fused.residual = -1;
    node.attrs.optim = (kn_optim_attrs){.lr = 0.1f, .weight_decay = 0.5f, .beta1 = 0.9f, .beta2 = 0.999f,
                                        .epsilon = 1e-7f};
    kn_error err;
    assert_int_equal(kn_ref_invoke(kn_ref_update, &node, in, NULL, &err), KN_OK);
    assert_memory_equal(w, before, sizeof w);
    /* ... while the moments still follow the gradient */
    assert_true(m[0] != 0.0f && v[0] != 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_updates),
        cmocka_unit_test(test_scale_zero_freezes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
