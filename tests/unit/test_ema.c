/*
 * test_ema.c - moving averages of the trained models' variables (kn_train_options.ema, the train block's
 * `ema = D`): the update rule and its warm-up against values worked out by hand; a trainer with averages
 * trains the same live weights as one without, and the model it exports (kn_trainer_model) holds the averages
 * of those live weights (BatchNorm's moving statistics included) as computed here from the live run; its
 * evaluation reads the averages; a checkpoint restores them.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime_internal.h" /* kn_model: the exported weights */
#include "testutil.h"
#include "train_internal.h"   /* kn_train_ema */

/* ------------------------------------------------------------ the rule, by hand */

static void test_decay_warmup(void **state)
{
    (void)state;
    assert_true(kn_train_ema_decay(0.999, 0) == 0.1);          /* 1 / 10 */
    assert_true(kn_train_ema_decay(0.999, 1) == 2.0 / 11.0);
    assert_true(kn_train_ema_decay(0.999, 90) == 0.91);        /* 91 / 100 */
    assert_true(kn_train_ema_decay(0.999, 8990) == 0.999);     /* 8991 / 9000 = 0.999 exactly (rounded alike) */
    assert_true(kn_train_ema_decay(0.999, 100000) == 0.999);
    assert_true(kn_train_ema_decay(0.5, 10) == 0.5);           /* 11 / 20 > 0.5 */
}

static void test_update_by_hand(void **state)
{
    (void)state;
    float a0[3] = {1, 2, 3}, w0[3] = {3, 2, 1}, a1[1] = {10}, w1[1] = {0};
    int model[2] = {0, 1};
    const float *live[2] = {w0, w1};
    float *avg[2] = {a0, a1};
    size_t count[2] = {3, 1};
    int64_t updates[2] = {0, 0};
    kn_train_ema e = {.decay = 0.5, .num = 2, .model = model, .live = live, .avg = avg, .count = count,
                      .updates = updates, .num_models = 2};
    /* model 0 only, n = 0: d = 0.1, a = 0.1 a + 0.9 w */
    kn_train_ema_update(&e, 1u);
    assert_float_equal(a0[0], 2.8, 1e-6);
    assert_float_equal(a0[1], 2.0, 1e-6);
    assert_float_equal(a0[2], 1.2, 1e-6);
    assert_float_equal(a1[0], 10.0, 0); /* model 1 was not updated */
    assert_int_equal(updates[0], 1);
    assert_int_equal(updates[1], 0);
    /* both, after w moved: model 0 at n = 1 (d = 2/11), model 1 at n = 0 (d = 0.1) */
    w0[0] = 0;
    w1[0] = 5;
    kn_train_ema_update(&e, 3u);
    assert_float_equal(a0[0], 2.8 * 2.0 / 11.0, 1e-6);                 /* 0.50909 */
    assert_float_equal(a0[2], 1.2 * 2.0 / 11.0 + 1.0 * 9.0 / 11.0, 1e-6); /* 1.03636 */
    assert_float_equal(a1[0], 10 * 0.1 + 5 * 0.9, 1e-6);                /* 5.5 */
    /* model 0 again, n = 2: d = 3/12 = 0.25 */
    kn_train_ema_update(&e, 1u);
    assert_float_equal(a0[1], 2.0, 1e-6);
    assert_float_equal(a0[0], 0.25 * (2.8 * 2.0 / 11.0), 1e-6);
    /* n = 10: d = min(0.5, 11/20) = 0.5 */
    updates[0] = 10;
    a0[0] = 4;
    kn_train_ema_update(&e, 1u);
    assert_float_equal(a0[0], 2.0, 1e-6);
    kn_train_ema_reset(&e);
    assert_true(a0[0] == w0[0] && a0[2] == w0[2] && a1[0] == w1[0]);
    assert_int_equal(updates[0], 0);
    assert_int_equal(updates[1], 0);
}

/* ------------------------------------------------------------ a trainer */

static const char kSpec[] =
    "model net(seed=3) {\n"
    "    x = input(shape=(1, 2, 2))\n"
    "    flatten()\n"
    "    dense(3, use_bias=false)\n"
    "    batchnorm(momentum=0.9)\n"
    "    relu()\n"
    "    probs = dense(2, activation=softmax)\n"
    "}\n"
    "train t {\n"
    "    dataset = synthetic(shape=(1, 2, 2), classes=2, samples=16, seed=1)\n"
    "    loss = cross_entropy\n"
    "    optimizer = sgd(0.5)\n"
    "    batch_size = 4\n"
    "    ema = 0.9\n"
    "}\n";

enum { B = 4, STEPS = 14, MAXV = 16 };

static char spec_path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(spec_path, sizeof spec_path, "/tmp/kn_test_ema_%d.kiln", (int)getpid());
    FILE *f = fopen(spec_path, "w");
    if (!f)
        return -1;
    fputs(kSpec, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(spec_path);
    return 0;
}

/* The float32 PARAM and STATE values of the exported model, by index, copied into vals[] (values: their count). */
typedef struct snap {
    int n;
    char name[MAXV][128];
    size_t count[MAXV];
    double *data[MAXV];
} snap;

static void snap_take(const kn_trainer_t *t, snap *s)
{
    kn_model_t *m;
    kn_error err = {0};
    assert_int_equal(kn_trainer_model(t, NULL, &m, &err), KN_OK);
    s->n = 0;
    for (int v = 0; v < m->graph.num_values; v++) {
        const kn_value *val = &m->graph.values[v];
        if (!val->data || val->dtype != KN_F32 || (val->kind != KN_VALUE_PARAM && val->kind != KN_VALUE_STATE))
            continue;
        assert_true(s->n < MAXV);
        size_t n;
        assert_int_equal(kn_shape_numel(&val->shape, &n), KN_OK);
        snprintf(s->name[s->n], sizeof s->name[0], "%s", val->name);
        s->count[s->n] = n;
        s->data[s->n] = malloc(sizeof(double) * n);
        for (size_t k = 0; k < n; k++)
            s->data[s->n][k] = ((const float *)val->data)[k];
        s->n++;
    }
    kn_model_free(m);
}

static void snap_free(snap *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

static kn_trainer_t *make(double ema)
{
    kn_train_options o = {.threads = 1, .seed = 7, .no_dataset = true, .ema = ema};
    kn_trainer_t *t = NULL;
    kn_error err = {0};
    if (kn_trainer_create(spec_path, &o, &t, &err) != KN_OK)
        fail_msg("%s", err.message);
    return t;
}

static float xs[STEPS][B * 4];
static int64_t ys[STEPS][B];

static void batch(kn_trainer_t *t, int s)
{
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {B, 1, 2, 2}}, .data = xs[s]};
    kn_tensor y = {.dtype = KN_I64, .shape = {.rank = 1, .dims = {B}}, .data = ys[s]};
    kn_error err = {0};
    if (kn_trainer_train_batch(t, &x, &y, NULL, &err) != KN_OK)
        fail_msg("%s", err.message);
}

static void make_data(void)
{
    uint64_t rng = 99;
    for (int s = 0; s < STEPS; s++) {
        kn_test_fill(&rng, xs[s], B * 4, -1, 1);
        for (int i = 0; i < B; i++)
            ys[s][i] = xs[s][i * 4] + xs[s][i * 4 + 3] > 0;
    }
}

/*
 * The averages computed here from the live weights of a trainer without them (a = d a + (1 - d) w after each
 * step, d = min(0.9, (1 + n) / (10 + n))) are what the trainer with `ema = 0.9` exports, after every step.
 */
static void test_trainer_averages(void **state)
{
    (void)state;
    make_data();
    kn_trainer_t *live = make(-1), *avg = make(0);
    kn_train_info info;
    kn_trainer_info(avg, &info);
    assert_true(info.ema == 0.9);
    kn_trainer_info(live, &info);
    assert_true(info.ema == 0);
    snap want, got, w;
    snap_take(live, &want); /* a_0: the initial values */
    snap_take(avg, &got);
    assert_int_equal(want.n, got.n);
    assert_true(want.n >= 5); /* two weights, gamma, beta, moving mean and variance */
    snap_free(&got);
    for (int s = 0; s < STEPS; s++) {
        batch(live, s);
        batch(avg, s);
        snap_take(live, &w);
        const double d = fmin(0.9, (1.0 + s) / (10.0 + s));
        double worst = 0, apart = 0;
        for (int i = 0; i < want.n; i++)
            for (size_t k = 0; k < want.count[i]; k++) {
                want.data[i][k] = d * want.data[i][k] + (1 - d) * w.data[i][k];
                apart = fmax(apart, fabs(want.data[i][k] - w.data[i][k]));
            }
        assert_true(apart > 1e-4); /* the averages are not the live values */
        snap_free(&w);
        snap_take(avg, &got);
        for (int i = 0; i < want.n; i++) {
            assert_string_equal(want.name[i], got.name[i]);
            for (size_t k = 0; k < want.count[i]; k++) {
                const double e = fabs(want.data[i][k] - got.data[i][k]) / (1 + fabs(want.data[i][k]));
                if (!(e <= worst)) /* NaN counts as worst */
                    worst = e;
            }
        }
        snap_free(&got);
        if (!(worst <= 1e-5))
            fail_msg("step %d: the exported averages differ from the hand-computed ones by %g", s, worst);
    }
    snap_free(&want);
    kn_trainer_free(live);
    kn_trainer_free(avg);
}

/* The mean cross-entropy of model `m` of t (its export: the averages) on batch s, computed from its output. */
static double export_loss(const kn_trainer_t *t, int s)
{
    kn_model_t *m;
    kn_session_t *sess;
    kn_error err = {0};
    kn_options o = {.backend = "ref", .batch = B, .threads = 1};
    assert_int_equal(kn_trainer_model(t, NULL, &m, &err), KN_OK);
    assert_int_equal(kn_session_create(m, &o, &sess, &err), KN_OK);
    kn_model_free(m);
    kn_io_info in;
    assert_int_equal(kn_session_input(sess, 0, &in), KN_OK);
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {B, 1, 2, 2}}, .data = xs[s]}, p;
    assert_int_equal(kn_session_run(sess, 1, &in.name, &x, &err), KN_OK);
    assert_int_equal(kn_session_get_output(sess, 0, &p, &err), KN_OK);
    double loss = 0;
    for (int i = 0; i < B; i++)
        loss -= log(((const float *)p.data)[i * 2 + ys[s][i]]);
    kn_session_free(sess);
    return loss / B;
}

/* Evaluation reads the averages: its loss is the exported model's, not the live one's. */
static void test_evaluation_reads_averages(void **state)
{
    (void)state;
    make_data();
    kn_trainer_t *avg = make(0), *live = make(-1);
    for (int s = 0; s < STEPS - 1; s++) {
        batch(avg, s);
        batch(live, s);
    }
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {B, 1, 2, 2}}, .data = xs[STEPS - 1]};
    kn_tensor y = {.dtype = KN_I64, .shape = {.rank = 1, .dims = {B}}, .data = ys[STEPS - 1]};
    kn_train_report ra, rl;
    kn_error err = {0};
    assert_int_equal(kn_trainer_evaluate_batch(avg, &x, &y, &ra, &err), KN_OK);
    assert_int_equal(kn_trainer_evaluate_batch(live, &x, &y, &rl, &err), KN_OK);
    const double want = export_loss(avg, STEPS - 1), live_loss = export_loss(live, STEPS - 1);
    const double got = ra.loss[0], got_live = rl.loss[0]; /* the batch's mean */
    if (fabs(got - want) > 1e-5 * (1 + fabs(want)) || fabs(got_live - live_loss) > 1e-5 * (1 + fabs(live_loss)))
        fail_msg("evaluation loss %g (averages: %g), live %g (%g)", got, want, got_live, live_loss);
    assert_true(fabs(want - live_loss) > 1e-6); /* the two models differ */
    /* training further still works after the evaluation graph bound the averages */
    batch(avg, STEPS - 1);
    kn_trainer_free(avg);
    kn_trainer_free(live);
}

/* A checkpoint holds the averages and their counts: a resumed trainer goes on as the uninterrupted one; one
 * written without averages starts them from its weights; a trainer without them reads one with them. */
static void test_checkpoint(void **state)
{
    (void)state;
    make_data();
    char path[80], plain[80];
    snprintf(path, sizeof path, "/tmp/kn_test_ema_%d.kcpt", (int)getpid());
    snprintf(plain, sizeof plain, "/tmp/kn_test_ema_plain_%d.kcpt", (int)getpid());
    kn_error err = {0};
    kn_trainer_t *a = make(0), *b = make(0), *c = make(-1);
    for (int s = 0; s < 5; s++) {
        batch(a, s);
        batch(c, s);
    }
    assert_int_equal(kn_trainer_save_checkpoint(a, 1, path, &err), KN_OK);
    assert_int_equal(kn_trainer_save_checkpoint(c, 1, plain, &err), KN_OK);
    assert_int_equal(kn_trainer_load_checkpoint(b, path, NULL, &err), KN_OK);
    assert_true(kn_trainer_weights_hash(a) == kn_trainer_weights_hash(b));
    for (int s = 5; s < STEPS; s++) {
        batch(a, s);
        batch(b, s);
    }
    assert_true(kn_trainer_weights_hash(a) == kn_trainer_weights_hash(b)); /* the averages are in the hash */
    snap sa, sb;
    snap_take(a, &sa);
    snap_take(b, &sb);
    for (int i = 0; i < sa.n; i++)
        assert_memory_equal(sa.data[i], sb.data[i], sizeof(double) * sa.count[i]);
    snap_free(&sa);
    snap_free(&sb);
    /* without averages in the file: they start as its weights */
    kn_trainer_t *d = make(0), *e = make(-1);
    assert_int_equal(kn_trainer_load_checkpoint(d, plain, NULL, &err), KN_OK);
    snap_take(d, &sa);
    snap_take(c, &sb);
    for (int i = 0; i < sa.n; i++)
        assert_memory_equal(sa.data[i], sb.data[i], sizeof(double) * sa.count[i]);
    snap_free(&sa);
    snap_free(&sb);
    /* a trainer without averages leaves them out: the live weights of the file */
    assert_int_equal(kn_trainer_load_checkpoint(e, path, NULL, &err), KN_OK);
    kn_trainer_t *f = make(-1);
    for (int s = 0; s < 5; s++)
        batch(f, s);
    assert_true(kn_trainer_weights_hash(e) == kn_trainer_weights_hash(f));
    remove(path);
    remove(plain);
    kn_trainer_free(a);
    kn_trainer_free(b);
    kn_trainer_free(c);
    kn_trainer_free(d);
    kn_trainer_free(e);
    kn_trainer_free(f);
}

/* kn_train_options.ema out of range is refused. */
static void test_bad_decay(void **state)
{
    (void)state;
    kn_train_options o = {.threads = 1, .no_dataset = true, .ema = 1.0};
    kn_trainer_t *t = NULL;
    kn_error err = {0};
    assert_int_equal(kn_trainer_create(spec_path, &o, &t, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "not below 1"));
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decay_warmup),
        cmocka_unit_test(test_update_by_hand),
        cmocka_unit_test(test_trainer_averages),
        cmocka_unit_test(test_evaluation_reads_averages),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_bad_decay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
