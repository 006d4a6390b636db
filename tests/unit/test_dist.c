/*
 * test_dist.c - data-parallel training (kn_train_options.collective) in one
 * process, without MPI: each rank is a thread with its own trainer, and the
 * collective is implemented here over shared memory (every wait is a
 * rendezvous of all ranks, two barriers: everyone's buffer published, then
 * everyone's result taken), summing in rank order. N ranks fed the same
 * global batches as one trainer must end with its weights (within rounding:
 * the gradients are summed in another order) and report its losses; the
 * ranks must agree bit for bit; the batch a rank cannot share is refused.
 * tests/train/dist.kiln: convolution, BatchNorm, Dropout, Adam; a GAN block.
 * The MPI transport itself is tested by train.mpi_* (tests/train.cmake).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime_internal.h" /* kn_model: the trained weights */
#include "testutil.h"

#define SPEC KN_SOURCE_DIR "/tests/train/dist.kiln"
enum { MAXR = 4, MAXOPS = 64, BATCH = 8, NBATCH = 4, LAST = 5 };

/* ------------------------------------------------------------ the in-process collective */

typedef struct tcomm_shared {
    pthread_barrier_t bar;
    int size;
    void *buf[MAXR];       /* each rank's buffer of the collective being waited for */
} tcomm_shared;

typedef struct tcomm {
    kn_collective coll;
    tcomm_shared *sh;
    struct {
        void *buf;
        size_t count;
        kn_dtype dtype;
        kn_collective_kind kind;
    } ops[MAXOPS];         /* started, not yet waited for */
    int nops;
    long collectives;
} tcomm;

static kn_status tc_start(void *ctx, kn_collective_kind kind, void *buf, size_t count, kn_dtype dtype, kn_error *err)
{
    tcomm *c = ctx;
    if (c->nops == MAXOPS)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "too many collectives in flight");
    c->ops[c->nops].buf = buf;
    c->ops[c->nops].count = count;
    c->ops[c->nops].dtype = dtype;
    c->ops[c->nops].kind = kind;
    c->nops++;
    return KN_OK;
}

static kn_status tc_wait(void *ctx, void *buf, kn_error *err)
{
    tcomm *c = ctx;
    int k = 0;
    while (k < c->nops && c->ops[k].buf != buf)
        k++;
    if (k == c->nops)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "no collective on this buffer");
    const size_t es = kn_dtype_size(c->ops[k].dtype), count = c->ops[k].count;
    const int r = c->coll.rank, n = c->sh->size;
    const size_t bytes = (c->ops[k].kind == KN_COLL_GATHER ? (size_t)n : 1) * count * es;
    unsigned char *tmp = malloc(bytes ? bytes : 1);
    assert_non_null(tmp);
    c->sh->buf[r] = buf;
    pthread_barrier_wait(&c->sh->bar);
    if (c->ops[k].kind == KN_COLL_BROADCAST) {
        memcpy(tmp, c->sh->buf[0], bytes);
    } else if (c->ops[k].kind == KN_COLL_GATHER) {
        for (int q = 0; q < n; q++)
            memcpy(tmp + (size_t)q * count * es, (unsigned char *)c->sh->buf[q] + (size_t)q * count * es, count * es);
    } else {
        for (size_t i = 0; i < count; i++) {
            double s = 0; /* rank order, in the element's precision */
            if (c->ops[k].dtype == KN_F32) {
                float f = 0;
                for (int q = 0; q < n; q++)
                    f += ((const float *)c->sh->buf[q])[i];
                ((float *)tmp)[i] = f;
            } else {
                for (int q = 0; q < n; q++)
                    s += ((const double *)c->sh->buf[q])[i];
                ((double *)tmp)[i] = s;
            }
        }
    }
    pthread_barrier_wait(&c->sh->bar);
    memcpy(buf, tmp, bytes);
    free(tmp);
    memmove(&c->ops[k], &c->ops[k + 1], sizeof c->ops[0] * (size_t)(c->nops - k - 1));
    c->nops--;
    c->collectives++;
    return KN_OK;
}

/* ------------------------------------------------------------ runs */

typedef struct run {
    const char *train;
    int ranks, rank;
    bool deterministic, sync_bn;
    tcomm comm;
    /* results */
    kn_status create_st;
    char create_msg[1100];
    uint64_t hash;
    double loss[NBATCH + 1][2];
    int64_t correct;
    kn_trainer_t *t;
} run;

static float images[(NBATCH * BATCH + LAST) * 64];
static int64_t labels[NBATCH * BATCH + LAST];

/* Train on NBATCH global batches of BATCH and a last one of LAST; keeps the trainer for the caller. */
static void *run_thread(void *arg)
{
    run *w = arg;
    kn_train_options o = {.threads = 1, .train = w->train, .seed = 11, .deterministic = w->deterministic,
                          .sync_batch_norm = w->sync_bn, .bucket_bytes = 512};
    if (w->ranks > 1)
        o.collective = &w->comm.coll;
    kn_error err = {0};
    w->create_st = kn_trainer_create(SPEC, &o, &w->t, &err);
    snprintf(w->create_msg, sizeof w->create_msg, "%s", err.message);
    if (w->create_st != KN_OK)
        return NULL;
    for (int b = 0; b <= NBATCH; b++) {
        const int64_t n = b < NBATCH ? BATCH : LAST;
        kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {n, 1, 8, 8}}, .data = images + b * BATCH * 64};
        kn_tensor y = {.dtype = KN_I64, .shape = {.rank = 1, .dims = {n}}, .data = labels + b * BATCH};
        kn_train_report r;
        kn_status st = kn_trainer_train_batch(w->t, &x, &y, &r, &err);
        if (st != KN_OK)
            fail_msg("rank %d, batch %d: %s", w->rank, b, err.message);
        w->loss[b][0] = r.loss[0];
        w->loss[b][1] = r.loss[1];
        w->correct += r.correct;
    }
    w->hash = kn_trainer_weights_hash(w->t);
    return NULL;
}

/* `ranks` threads (1: one trainer, no collective) on the same data; runs[] receives each rank's results. */
static void train_ranks(const char *train, int ranks, bool deterministic, bool sync_bn, run *runs)
{
    static tcomm_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.size = ranks;
    pthread_barrier_init(&sh.bar, NULL, (unsigned)ranks);
    pthread_t th[MAXR];
    for (int r = 0; r < ranks; r++) {
        memset(&runs[r], 0, sizeof runs[r]);
        runs[r] = (run){.train = train, .ranks = ranks, .rank = r, .deterministic = deterministic, .sync_bn = sync_bn};
        runs[r].comm.coll = (kn_collective){.rank = r, .size = ranks, .ctx = &runs[r].comm, .start = tc_start,
                                            .wait = tc_wait};
        runs[r].comm.sh = &sh;
        assert_int_equal(pthread_create(&th[r], NULL, run_thread, &runs[r]), 0);
    }
    for (int r = 0; r < ranks; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh.bar);
}

static void free_runs(run *runs, int n)
{
    for (int r = 0; r < n; r++)
        kn_trainer_free(runs[r].t);
}

/* Every trained weight of model `name` of a and b within tol of its tensor's largest magnitude; the worst. */
static double compare_model(const kn_trainer_t *a, const kn_trainer_t *b, const char *name, double tol)
{
    kn_model_t *ma, *mb;
    kn_error err;
    assert_int_equal(kn_trainer_model(a, name, &ma, &err), KN_OK);
    assert_int_equal(kn_trainer_model(b, name, &mb, &err), KN_OK);
    double worst = 0;
    int compared = 0;
    for (int v = 0; v < ma->graph.num_values; v++) {
        const kn_value *va = &ma->graph.values[v];
        if (va->kind != KN_VALUE_PARAM || !va->data)
            continue;
        const int w = kn_graph_find_value(&mb->graph, va->name);
        assert_true(w >= 0);
        size_t n;
        assert_int_equal(kn_shape_numel(&va->shape, &n), KN_OK);
        const float *pa = va->data, *pb = mb->graph.values[w].data;
        double scale = 0, diff = 0;
        for (size_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(pb[i]));
            diff = fmax(diff, fabs((double)pa[i] - pb[i]));
        }
        const double rel = scale > 0 ? diff / scale : diff;
        if (rel > tol)
            fail_msg("%s: '%s' differs by %.3g of its scale (%.3g)", name, va->name, rel, scale);
        worst = fmax(worst, rel);
        compared++;
    }
    assert_true(compared > 0);
    kn_model_free(ma);
    kn_model_free(mb);
    return worst;
}

static void make_data(void)
{
    uint64_t s = 99;
    kn_test_fill(&s, images, sizeof images / sizeof images[0], 0.0f, 1.0f);
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        labels[i] = (int64_t)(kn_test_uniform(&s, 0.0f, 3.999f));
}

/* ------------------------------------------------------------ tests */

/* 2 ranks (synchronised BatchNorm, so the statistics are the global batch's) against one trainer: the weights,
 * the losses and the accuracy of every batch, the uneven last batch (3 + 2 samples) included. */
static void test_two_ranks_match_one(void **state)
{
    (void)state;
    make_data();
    run one[1], two[2];
    train_ranks("classify", 1, false, false, one);
    train_ranks("classify", 2, false, true, two);
    assert_int_equal(one[0].create_st, KN_OK);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(two[r].create_st, KN_OK);
        assert_true(two[r].comm.collectives > 0);
        for (int b = 0; b <= NBATCH; b++)
            assert_true(fabs(two[r].loss[b][0] - one[0].loss[b][0]) <= 1e-5 * fabs(one[0].loss[b][0]));
        assert_int_equal(two[r].correct, one[0].correct);
    }
    assert_true(two[0].hash == two[1].hash);
    double worst = compare_model(two[0].t, one[0].t, "net", 1e-5);
    print_message("2 ranks vs 1: worst weight difference %.2g of its tensor's scale\n", worst);
    free_runs(one, 1);
    free_runs(two, 2);
}

/*
 * The buckets' place in the step (rank 0's memory plan, one step a node): a bucket starts right after the node
 * that finishes its last gradient, before other backward nodes (its reduction overlaps them), and every bucket is
 * waited for before the first optimizer update; the buckets are arena tensors.
 */
static void test_bucket_schedule(void **state)
{
    (void)state;
    make_data();
    run two[2];
    train_ranks("classify", 2, false, false, two);
    assert_int_equal(two[0].create_st, KN_OK);
    kn_memory_plan plan;
    size_t kept;
    kn_error err;
    assert_int_equal(kn_trainer_memory_plan(two[0].t, 0, &plan, &kept, &err), KN_OK);
    int first_start = -1, last_wait = -1, first_update = -1, starts = 0, compute_after_start = 0;
    for (int i = 0; i < plan.num_steps; i++) {
        const char *s = plan.step_names[i];
        const bool start = strstr(s, "(GradSyncStart)") != NULL, wait = strstr(s, "(GradSyncWait)") != NULL;
        const bool update = strstr(s, "(AdamUpdate)") != NULL;
        starts += start;
        if (start && first_start < 0)
            first_start = i;
        if (wait)
            last_wait = i;
        if (update && first_update < 0)
            first_update = i;
        compute_after_start += first_start >= 0 && !start && !wait && !update;
    }
    assert_true(starts >= 2); /* bucket_bytes 512: several buckets */
    assert_true(first_start >= 0 && last_wait > first_start && first_update > last_wait);
    assert_true(compute_after_start > 0);
    bool bucket_in_arena = false;
    for (int b = 0; b < plan.num_buffers; b++)
        bucket_in_arena |= strstr(plan.buffers[b].name, "/bucket") != NULL;
    assert_true(bucket_in_arena);
    kn_memory_plan_free(&plan);
    free_runs(two, 2);
}

/* Per-rank BatchNorm statistics (the default) train, the ranks agree, and the weights are not one process's. */
static void test_per_rank_batchnorm(void **state)
{
    (void)state;
    make_data();
    run one[1], two[2];
    train_ranks("classify", 1, false, false, one);
    train_ranks("classify", 2, false, false, two);
    assert_int_equal(two[0].create_st, KN_OK);
    assert_true(two[0].hash == two[1].hash);
    kn_model_t *ma, *mb;
    kn_error err;
    assert_int_equal(kn_trainer_model(two[0].t, "net", &ma, &err), KN_OK);
    assert_int_equal(kn_trainer_model(one[0].t, "net", &mb, &err), KN_OK);
    bool differs = false;
    for (int v = 0; v < ma->graph.num_values; v++)
        if (ma->graph.values[v].kind == KN_VALUE_PARAM && ma->graph.values[v].data) {
            size_t n;
            kn_shape_numel(&ma->graph.values[v].shape, &n);
            const int w = kn_graph_find_value(&mb->graph, ma->graph.values[v].name);
            differs |= memcmp(ma->graph.values[v].data, mb->graph.values[w].data, n * sizeof(float)) != 0;
        }
    assert_true(differs);
    kn_model_free(ma);
    kn_model_free(mb);
    free_runs(one, 1);
    free_runs(two, 2);
}

/* Deterministic mode on 4 ranks (batch 8: 2 samples each; the last batch 1 + 1 + 1 + 2): the same bits on every
 * rank and in a second run, and still one process's weights within rounding. */
static void test_deterministic(void **state)
{
    (void)state;
    make_data();
    run a[4], b[4], one[1];
    train_ranks("classify", 4, true, true, a);
    train_ranks("classify", 4, true, true, b);
    train_ranks("classify", 1, false, false, one);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(a[r].create_st, KN_OK);
        assert_true(a[r].hash == a[0].hash);
        assert_true(b[r].hash == a[0].hash);
    }
    compare_model(a[0].t, one[0].t, "net", 1e-5);
    free_runs(a, 4);
    free_runs(b, 4);
    free_runs(one, 1);
}

/* A GAN block (two steps per batch, noise, BatchNorm in the generator): the noise of each rank is its shard of
 * the global batch's, so with synchronised BatchNorm both models end as one process's. */
static void test_gan(void **state)
{
    (void)state;
    make_data();
    run one[1], two[2];
    train_ranks("gan", 1, false, false, one);
    train_ranks("gan", 2, false, true, two);
    assert_int_equal(two[0].create_st, KN_OK);
    assert_true(two[0].hash == two[1].hash);
    for (int b = 0; b <= NBATCH; b++)
        for (int s = 0; s < 2; s++)
            assert_true(fabs(two[0].loss[b][s] - one[0].loss[b][s]) <= 1e-5 * fabs(one[0].loss[b][s]));
    compare_model(two[0].t, one[0].t, "gen", 1e-5);
    compare_model(two[0].t, one[0].t, "disc", 1e-5);
    free_runs(one, 1);
    free_runs(two, 2);
}

/* 3 ranks do not divide the batch of 8: every rank's trainer refuses, naming both. */
static void test_indivisible(void **state)
{
    (void)state;
    run three[3];
    train_ranks("classify", 3, false, false, three);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(three[r].create_st, KN_ERR_INVALID_ARG);
        assert_non_null(strstr(three[r].create_msg, "batch size 8 is not a multiple of the 3 ranks"));
        assert_null(three[r].t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ranks_match_one),
        cmocka_unit_test(test_bucket_schedule),
        cmocka_unit_test(test_per_rank_batchnorm),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_gan),
        cmocka_unit_test(test_indivisible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
