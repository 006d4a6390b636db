/*
 * test_noalloc.c - a compiled session allocates nothing while it runs.
 *
 * The model has every reference kernel that needs working memory: Conv as
 * im2col tiles, as the "wide" path (few columns for the threads), 1x1
 * (direct) and depthwise (phase planes and general rows), ConvTranspose
 * (col2im), LRN, MaxPool and AveragePool (tap tables), GlobalAveragePool and
 * Gemm. The session is compiled for 4 threads; kiln's heap calls are counted
 * (see tests/noalloc.cmake) around the second and third kn_session_run: the
 * count must be 0. The outputs of every run must be the same bits, and close
 * to those of a session compiled for 1 thread (other tilings).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kiln.h"
#include "backend.h"
#include "memplan.h"
#include "ref.h"
#include "runtime_internal.h"
#include "testutil.h"

/* ------------------------------------------------------------ counting */

static int kn_counting;
static long kn_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n)
{
    kn_allocs += kn_counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    kn_allocs += kn_counting;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    kn_allocs += kn_counting;
    return __real_realloc(p, n);
}
void __wrap_free(void *p)
{
    kn_allocs += kn_counting && p;
    __real_free(p);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    kn_allocs += kn_counting;
    return __real_posix_memalign(p, a, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    kn_allocs += kn_counting;
    return __real_aligned_alloc(a, n);
}
char *__wrap_strdup(const char *s)
{
    kn_allocs += kn_counting;
    return __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    kn_allocs += kn_counting;
    return __real_strndup(s, n);
}

/* ------------------------------------------------------------- the model */

typedef struct fx {
    kn_graph *g;
    uint64_t rng;
    kn_error err;
} fx;

static int fx_weight(fx *f, const char *name, kn_shape s)
{
    size_t n;
    assert_int_equal(kn_shape_numel(&s, &n), KN_OK);
    float *d = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(d);
    kn_test_fill(&f->rng, d, n, -0.5f, 0.5f);
    int id;
    assert_int_equal(kn_graph_add_value(f->g, name, KN_F32, &s, KN_VALUE_PARAM, d, &id, &f->err), KN_OK);
    return id;
}

static int fx_node(fx *f, const char *name, kn_op op, const kn_attrs *attrs, int nin, ...)
{
    int in[4];
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, int);
    va_end(ap);
    kn_shape s0 = {.rank = 0};
    int y, id;
    assert_int_equal(kn_graph_add_value(f->g, name, KN_F32, &s0, KN_VALUE_INTERMEDIATE, NULL, &y, &f->err), KN_OK);
    kn_attrs a;
    if (attrs)
        a = *attrs;
    else
        kn_attrs_init(op, &a);
    if (kn_graph_add_node(f->g, name, op, in, nin, &y, 1, &a, &id, &f->err) != KN_OK)
        fail_msg("%s", f->err.message);
    return y;
}

static kn_attrs window(kn_op op, int k, int stride, int pad, int group)
{
    kn_attrs a;
    kn_attrs_init(op, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        if (op == KN_OP_MAX_POOL || op == KN_OP_AVERAGE_POOL)
            a.window.kernel[i] = k;
        a.window.stride[i] = stride;
        a.window.pad_begin[i] = a.window.pad_end[i] = pad;
    }
    a.window.group = group;
    return a;
}

/* x [B,4,16,16] through every kernel with scratch to probs [B,10]. */
static kn_model_t *build_model(void)
{
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    fx f = {.g = &m->graph, .rng = 0x9e3779b97f4a7c15ull};
    kn_graph_init(f.g);
    kn_shape xs = kn_test_shape(4, KN_DIM_BATCH, 4, 16, 16);
    int x;
    assert_int_equal(kn_graph_add_value(f.g, "x", KN_F32, &xs, KN_VALUE_INPUT, NULL, &x, &f.err), KN_OK);
    assert_int_equal(kn_graph_add_input(f.g, x, &f.err), KN_OK);
    kn_attrs a = window(KN_OP_CONV, 3, 1, 1, 1);
    int h = fx_node(&f, "conv_tiles", KN_OP_CONV, &a, 3, x, fx_weight(&f, "w1", kn_test_shape(4, 8, 4, 3, 3)),
                    fx_weight(&f, "b1", kn_test_shape(1, 8)));
    h = fx_node(&f, "relu1", KN_OP_RELU, NULL, 1, h);
    a = window(KN_OP_CONV, 3, 1, 1, 8);
    h = fx_node(&f, "dw_flat", KN_OP_CONV, &a, 2, h, fx_weight(&f, "w2", kn_test_shape(4, 8, 1, 3, 3)));
    a = window(KN_OP_CONV, 3, 3, 1, 8);
    h = fx_node(&f, "dw_rows", KN_OP_CONV, &a, 2, h, fx_weight(&f, "w3", kn_test_shape(4, 8, 1, 3, 3))); /* 6x6 */
    a = window(KN_OP_CONV, 1, 1, 0, 1);
    h = fx_node(&f, "conv_1x1", KN_OP_CONV, &a, 2, h, fx_weight(&f, "w4", kn_test_shape(4, 8, 8, 1, 1)));
    kn_attrs lrn;
    kn_attrs_init(KN_OP_LRN, &lrn);
    lrn.lrn.size = 3;
    h = fx_node(&f, "lrn", KN_OP_LRN, &lrn, 1, h);
    a = window(KN_OP_CONV_TRANSPOSE, 3, 2, 0, 1);
    h = fx_node(&f, "deconv", KN_OP_CONV_TRANSPOSE, &a, 3, h, fx_weight(&f, "w5", kn_test_shape(4, 8, 4, 3, 3)),
                fx_weight(&f, "b5", kn_test_shape(1, 4))); /* 13x13 */
    a = window(KN_OP_MAX_POOL, 2, 2, 0, 1);
    h = fx_node(&f, "max_pool", KN_OP_MAX_POOL, &a, 1, h); /* 6x6 */
    a = window(KN_OP_AVERAGE_POOL, 3, 1, 1, 1);
    h = fx_node(&f, "avg_pool", KN_OP_AVERAGE_POOL, &a, 1, h);
    a = window(KN_OP_CONV, 3, 1, 1, 1);
    int wide = fx_node(&f, "conv_wide", KN_OP_CONV, &a, 2, h, fx_weight(&f, "w6", kn_test_shape(4, 8, 4, 3, 3)));
    int gap = fx_node(&f, "gap", KN_OP_GLOBAL_AVERAGE_POOL, NULL, 1, wide);
    int flat = fx_node(&f, "flatten", KN_OP_FLATTEN, NULL, 1, gap);
    kn_attrs gm;
    kn_attrs_init(KN_OP_GEMM, &gm);
    gm.gemm.trans_b = true;
    int y = fx_node(&f, "fc", KN_OP_GEMM, &gm, 3, flat, fx_weight(&f, "w7", kn_test_shape(2, 10, 8)),
                    fx_weight(&f, "b7", kn_test_shape(1, 10)));
    y = fx_node(&f, "probs", KN_OP_SOFTMAX, NULL, 1, y);
    assert_int_equal(kn_graph_add_output(f.g, y, &f.err), KN_OK);
    return m;
}

/* ---------------------------------------------------------------- tests */

#define KN_BATCH 2
#define KN_XN (KN_BATCH * 4 * 16 * 16)

static void run_once(kn_session_t *s, const float *x, float *probs)
{
    kn_error err;
    const char *name = "x";
    kn_tensor in = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {KN_BATCH, 4, 16, 16}}, .data = (void *)x};
    if (kn_session_run(s, 1, &name, &in, &err) != KN_OK)
        fail_msg("run: %s", err.message);
    kn_tensor out;
    assert_int_equal(kn_session_get_output(s, 0, &out, &err), KN_OK);
    assert_int_equal(out.shape.rank, 2);
    assert_int_equal(out.shape.dims[1], 10);
    memcpy(probs, out.data, sizeof(float) * KN_BATCH * 10);
}

static kn_session_t *open_session(kn_model_t *m, int threads)
{
    kn_options opts = {.backend = "ref", .batch = KN_BATCH, .threads = threads};
    kn_session_t *s = NULL;
    kn_error err;
    if (kn_session_create(m, &opts, &s, &err) != KN_OK)
        fail_msg("session: %s", err.message);
    return s;
}

static void test_no_allocation_during_runs(void **state)
{
    (void)state;
    kn_model_t *m = build_model();
    static float x[KN_XN];
    uint64_t rng = 42;
    kn_test_fill(&rng, x, KN_XN, -1.0f, 1.0f);
    kn_session_t *s = open_session(m, 4);
    float p[3][KN_BATCH * 10];
    run_once(s, x, p[0]); /* first run: lazy set-up in OpenMP/OpenBLAS may allocate */
    for (int r = 1; r < 3; r++) {
        kn_allocs = 0;
        kn_counting = 1;
        run_once(s, x, p[r]);
        kn_counting = 0;
        if (kn_allocs != 0)
            fail_msg("run %d made %ld heap calls", r + 1, kn_allocs);
    }
    /* the counter does see kiln's allocations (a memory plan is built on the heap) */
    kn_memory_plan plan;
    kn_error err;
    kn_allocs = 0;
    kn_counting = 1;
    assert_int_equal(kn_session_memory_plan(s, &plan, &err), KN_OK);
    kn_memory_plan_free(&plan);
    kn_counting = 0;
    assert_true(kn_allocs > 0);
    assert_memory_equal(p[0], p[1], sizeof p[0]);
    assert_memory_equal(p[0], p[2], sizeof p[0]);
    /* one thread: other tilings, same results within rounding */
    kn_session_t *s1 = open_session(m, 1);
    float q[KN_BATCH * 10];
    run_once(s1, x, q);
    assert_true(kn_test_allclose(p[0], q, KN_BATCH * 10, 1e-5f, 1e-6f));
    kn_session_free(s1);
    kn_session_free(s);
    kn_model_free(m);
}

static int find_buffer(const kn_memory_plan *p, const char *name)
{
    for (int i = 0; i < p->num_buffers; i++)
        if (strcmp(p->buffers[i].name, name) == 0)
            return i;
    return -1;
}

/* The scratch is in the plan: one buffer per node that needs some, live at that node's step only. */
static void test_scratch_in_plan(void **state)
{
    (void)state;
    kn_model_t *m = build_model();
    kn_session_t *s = open_session(m, 4);
    kn_memory_plan plan;
    kn_error err;
    assert_int_equal(kn_session_memory_plan(s, &plan, &err), KN_OK);
    const char *with[] = {"conv_tiles scratch", "dw_flat scratch", "dw_rows scratch", "deconv scratch",
                          "max_pool scratch", "avg_pool scratch", "conv_wide scratch"};
    for (size_t i = 0; i < sizeof with / sizeof *with; i++) {
        int b = find_buffer(&plan, with[i]);
        if (b < 0)
            fail_msg("no buffer '%s' in the plan", with[i]);
        assert_true(plan.buffers[b].size > 0);
        assert_int_equal(plan.buffers[b].first, plan.buffers[b].last);
        assert_int_equal(plan.buffers[b].offset % 64, 0);
        assert_true(plan.buffers[b].offset + plan.buffers[b].size <= plan.arena_bytes);
    }
    const char *without[] = {"conv_1x1 scratch", "lrn scratch", "fc scratch", "relu1 scratch"};
    for (size_t i = 0; i < sizeof without / sizeof *without; i++)
        assert_int_equal(find_buffer(&plan, without[i]), -1);
    assert_true(plan.bound_bytes <= plan.arena_bytes);
    kn_memory_plan_free(&plan);
    kn_session_free(s);
    kn_model_free(m);
}

/* A plan that gives a node less scratch than its kernel needs is refused, naming the node. */
static void test_short_scratch_refused(void **state)
{
    (void)state;
    kn_model_t *m = build_model();
    kn_session_t *s = open_session(m, 2);
    const kn_graph *g = kn_session_graph(s);
    const kn_graph_mem_plan *mp = kn_session_mem_plan(s);
    size_t *sizes = malloc(sizeof(size_t) * (size_t)g->num_nodes);
    assert_non_null(sizes);
    memcpy(sizes, mp->scratch_bytes, sizeof(size_t) * (size_t)g->num_nodes);
    int victim = -1;
    for (int i = 0; i < g->num_nodes; i++)
        if (sizes[i] > 0 && victim < 0)
            victim = i;
    assert_true(victim >= 0);
    sizes[victim] -= 1;
    kn_buffer_plan bp = {mp->summary.peak, mp->value_offset, mp->scratch_offset, sizes};
    void *exe = NULL;
    kn_error err;
    assert_int_equal(kn_ref_backend.compile(g, &bp, 2, &exe, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, g->nodes[victim].name));
    assert_null(exe);
    /* the planned sizes themselves are accepted */
    bp.scratch_bytes = mp->scratch_bytes;
    assert_int_equal(kn_ref_backend.compile(g, &bp, 2, &exe, &err), KN_OK);
    kn_ref_backend.free(exe);
    free(sizes);
    kn_session_free(s);
    kn_model_free(m);
}

/* A kernel given too little scratch says so (KN_ERR_BACKEND naming the node) instead of overrunning. */
static void test_kernel_checks_scratch(void **state)
{
    (void)state;
    kn_node node;
    memset(&node, 0, sizeof node);
    node.name = (char *)"pool";
    node.op = KN_OP_MAX_POOL;
    node.num_inputs = node.num_outputs = 1;
    kn_attrs_init(KN_OP_MAX_POOL, &node.attrs);
    node.attrs.window.nspatial = 2;
    node.attrs.window.kernel[0] = node.attrs.window.kernel[1] = 2;
    node.fused.activation = KN_OP_COUNT;
    node.fused.residual = -1;
    float xd[16] = {0}, yd[9];
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {1, 1, 4, 4}}, .data = xd};
    kn_tensor y = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {1, 1, 3, 3}}, .data = yd};
    size_t need = kn_ref_scratch_bytes_for(&node, &x, &y, 1);
    assert_true(need > 0 && need % 64 == 0);
    _Alignas(64) unsigned char buf[4096];
    assert_true(need <= sizeof buf);
    kn_ref_scratch sc = {buf, need - 64, 1};
    kn_error err;
    assert_int_equal(kn_ref_pool(&node, &x, &y, &sc, &err), KN_ERR_BACKEND);
    assert_non_null(strstr(err.message, "'pool'"));
    sc.size = need;
    assert_int_equal(kn_ref_pool(&node, &x, &y, &sc, &err), KN_OK);
}

/*
 * A training step (forward, backward, Adam updates of models/mnist_cnn.kiln at batch 8; the two steps of
 * models/dcgan.kiln, the generator's forward computed once by the shared prefix and handed to both steps, with
 * moving averages of both models' weights updated after each step's optimizer update: ema) on each backend: after
 * two batches (the first compiles the training graphs), two more make no heap call of kiln's. The training memory
 * is planned before the first step: kn_trainer_arena_bytes is the sum of the plans of every step and of the shared
 * prefix (which only dcgan has).
 */
static void test_no_allocation_during_training_steps(void **state)
{
    (void)state;
    static const char *const backends[] = {"ref", "dnnl"};
    enum { B = 8 };
    static float images[B * 28 * 28];
    static int64_t labels[B];
    for (int i = 0; i < B * 28 * 28; i++)
        images[i] = (float)((i * 37) % 256) / 255.0f;
    for (int i = 0; i < B; i++)
        labels[i] = i % 10;
    kn_tensor x = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {B, 1, 28, 28}}, .data = images};
    kn_tensor y = {.dtype = KN_I64, .shape = {.rank = 1, .dims = {B}}, .data = labels};
    static const char *const specs[] = {"mnist_cnn", "dcgan"};
    for (size_t k = 0; k < 2 * sizeof backends / sizeof backends[0]; k++) {
        const char *backend = backends[k / 2], *spec = specs[k % 2];
        if (!kn_backend_find(backend))
            continue; /* a build without oneDNN */
        kn_train_options o = {.backend = backend, .threads = 2, .batch_size = B, .no_dataset = true,
                              .ema = k % 2 == 1 ? 0.999 : 0};
        kn_trainer_t *t = NULL;
        kn_error err;
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s.kiln", KN_SOURCE_DIR, spec);
        if (kn_trainer_create(path, &o, &t, &err) != KN_OK)
            fail_msg("%s on %s: %s", spec, backend, err.message);
        kn_train_info info;
        assert_int_equal(kn_trainer_info(t, &info), KN_OK);
        if (k % 2 == 1 && !info.shared)
            fail_msg("%s: the generator's forward is not shared between the steps", spec);
        /* planned before the first step: every step's arena and the shared prefix's, summed */
        size_t planned = 0;
        for (int s = KN_TRAIN_SHARED_PREFIX; s < info.num_steps; s++) {
            kn_memory_plan plan = {0};
            const kn_status ps = kn_trainer_memory_plan(t, s, &plan, NULL, &err);
            assert_int_equal(ps == KN_OK, s != KN_TRAIN_SHARED_PREFIX || info.shared != NULL);
            assert_true(ps != KN_OK || plan.arena_bytes > 0);
            planned += plan.arena_bytes;
            kn_memory_plan_free(&plan);
        }
        assert_int_equal(kn_trainer_arena_bytes(t), planned);
        if (k % 2 == 1 && info.ema != 0.999)
            fail_msg("%s: no moving averages", spec);
        kn_train_report r;
        for (int i = 0; i < 2; i++)
            assert_int_equal(kn_trainer_train_batch(t, &x, &y, &r, &err), KN_OK);
        kn_allocs = 0;
        kn_counting = 1;
        kn_status st = KN_OK;
        for (int i = 0; i < 2 && st == KN_OK; i++)
            st = kn_trainer_train_batch(t, &x, &y, &r, &err);
        kn_counting = 0;
        assert_int_equal(st, KN_OK);
        printf("training step of %s on %s: %ld heap calls of kiln's in 2 batches (loss %.4f)\n", spec, backend,
               kn_allocs, r.loss[0]);
        assert_int_equal(kn_allocs, 0);
        kn_trainer_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_allocation_during_training_steps),
        cmocka_unit_test(test_no_allocation_during_runs),
        cmocka_unit_test(test_scratch_in_plan),
        cmocka_unit_test(test_short_scratch_refused),
        cmocka_unit_test(test_kernel_checks_scratch),
    };
    return cmocka_run_group_tests_name("noalloc", tests, NULL, NULL);
}
