/*
 * test_memplan.c - the memory planner: edge cases, in-place rules, random
 * interval sets checked by an independent checker, graph plans, and the
 * reference backend running in a planned arena (with in-place kernels).
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

#include "memplan.h"
#include "passes.h"
#include "ref.h"
#include "testutil.h"

static size_t al(size_t n)
{
    return (n + 63) / 64 * 64;
}

/* ------------------------------------------------------ independent checks */

/* Root of r's in-place chain (following inplace[] links). */
static int chain_root(const int *inplace, int r)
{
    while (inplace[r] >= 0)
        r = inplace[r];
    return r;
}

/*
 * Everything a plan must satisfy, checked without the planner's code:
 * alignment; inside the peak; no two requests live at a common step share a
 * byte unless one chain; in-place links only where legal; peak >= bound and
 * bound equal to a brute-force count over steps.
 */
static void check_plan(const kn_mem_request *r, int n, const size_t *off, const int *inplace,
                       const kn_mem_summary *sum)
{
    int max_step = 0;
    size_t naive = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(off[i] % 64, 0);
        assert_true(off[i] + al(r[i].size) <= sum->peak);
        if (r[i].last_use > max_step)
            max_step = r[i].last_use;
        naive += al(r[i].size);
        int p = inplace[i];
        if (p >= 0) {
            assert_int_equal(p, r[i].may_reuse);
            assert_int_equal(r[p].last_use, r[i].first_use);
            assert_true(al(r[i].size) <= al(r[p].size));
            assert_true(r[p].first_use < r[i].first_use || (r[p].first_use == r[i].first_use && p < i));
            assert_int_equal(off[i], off[p]);
            for (int j = 0; j < i; j++)
                assert_false(inplace[j] == p); /* one taker per buffer */
        }
    }
    assert_int_equal(sum->naive, naive);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (r[i].size == 0 || r[j].size == 0)
                continue;
            if (r[i].last_use < r[j].first_use || r[j].last_use < r[i].first_use)
                continue;
            if (chain_root(inplace, i) == chain_root(inplace, j))
                continue;
            bool disjoint = off[i] + al(r[i].size) <= off[j] || off[j] + al(r[j].size) <= off[i];
            if (!disjoint)
                fail_msg("requests %d and %d overlap in time and space", i, j);
        }
    size_t bound = 0;
    for (int t = 0; t <= max_step; t++) {
        size_t live = 0;
        for (int i = 0; i < n; i++) {
            int first = r[i].first_use + (inplace[i] >= 0 ? 1 : 0);
            if (first <= t && t <= r[i].last_use)
                live += al(r[i].size);
        }
        if (live > bound)
            bound = live;
    }
    assert_int_equal(sum->bound, bound);
    assert_true(sum->peak >= sum->bound);
    assert_true(sum->peak <= sum->naive);
    kn_error err = {0};
    if (kn_mem_plan_check(r, n, off, inplace, sum->peak, &err) != KN_OK)
        fail_msg("kn_mem_plan_check: %s", err.message);
}

static void plan(const kn_mem_request *r, int n, size_t *off, int *inplace, kn_mem_summary *sum)
{
    kn_error err = {0};
    kn_status st = kn_plan_memory(r, n, off, inplace, sum, &err);
    if (st != KN_OK)
        fail_msg("kn_plan_memory: %s", err.message);
    check_plan(r, n, off, inplace, sum);
}

/* ------------------------------------------------------------ edge cases */

static void test_empty_and_single(void **state)
{
    (void)state;
    kn_mem_summary sum;
    kn_error err;
    assert_int_equal(kn_plan_memory(NULL, 0, NULL, NULL, &sum, &err), KN_OK);
    assert_int_equal(sum.peak, 0);
    assert_int_equal(sum.bound, 0);
    assert_int_equal(sum.naive, 0);

    kn_mem_request one = {100, 3, 5, -1};
    size_t off;
    int inplace;
    plan(&one, 1, &off, &inplace, &sum);
    assert_int_equal(off, 0);
    assert_int_equal(inplace, -1);
    assert_int_equal(sum.peak, 128);
    assert_int_equal(sum.bound, 128);

    /* zero-sized buffers take no space */
    kn_mem_request zeros[2] = {{0, 0, 4, -1}, {0, 1, 2, -1}};
    size_t offs[2];
    int inp[2];
    plan(zeros, 2, offs, inp, &sum);
    assert_int_equal(sum.peak, 0);

    /* the in-place out array is optional */
    kn_mem_request pair[2] = {{64, 0, 1, -1}, {64, 1, 2, 0}};
    assert_int_equal(kn_plan_memory(pair, 2, offs, NULL, &sum, &err), KN_OK);
    assert_int_equal(offs[0], offs[1]);
    assert_int_equal(sum.peak, 64);
    assert_int_equal(sum.num_inplace, 1);
}

static void test_bad_requests_and_overflow(void **state)
{
    (void)state;
    kn_mem_summary sum;
    kn_error err;
    size_t off[2];
    kn_mem_request reversed = {10, 5, 4, -1};
    assert_int_equal(kn_plan_memory(&reversed, 1, off, NULL, &sum, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "request 0"));
    kn_mem_request negative = {10, -1, 4, -1};
    assert_int_equal(kn_plan_memory(&negative, 1, off, NULL, &sum, &err), KN_ERR_INVALID_ARG);
    kn_mem_request bad_reuse = {10, 0, 4, 1};
    assert_int_equal(kn_plan_memory(&bad_reuse, 1, off, NULL, &sum, &err), KN_ERR_INVALID_ARG);
    assert_int_equal(kn_plan_memory(&reversed, -1, off, NULL, &sum, &err), KN_ERR_INVALID_ARG);

    /* a size that cannot be rounded up, and sizes whose sum does not fit */
    kn_mem_request huge = {SIZE_MAX - 10, 0, 1, -1};
    assert_int_equal(kn_plan_memory(&huge, 1, off, NULL, &sum, &err), KN_ERR_OVERFLOW);
    kn_mem_request two[2] = {{SIZE_MAX / 2 + 1, 0, 1, -1}, {SIZE_MAX / 2 + 1, 5, 6, -1}};
    assert_int_equal(kn_plan_memory(two, 2, off, NULL, &sum, &err), KN_ERR_OVERFLOW);
    size_t r;
    assert_false(kn_mem_align(SIZE_MAX, &r));
    assert_true(kn_mem_align(65, &r));
    assert_int_equal(r, 128);
    /* large but representable sizes plan without wrapping */
    kn_mem_request big[2] = {{SIZE_MAX / 4, 0, 1, -1}, {SIZE_MAX / 4, 1, 2, -1}};
    int inp[2];
    plan(big, 2, off, inp, &sum);
    assert_int_equal(sum.peak, 2 * al(SIZE_MAX / 4));
}

/* A chain a -> b -> c without in-place needs two slots; with it, one. */
static void test_chain_and_inplace(void **state)
{
    (void)state;
    size_t off[4];
    int inp[4];
    kn_mem_summary sum;
    kn_mem_request chain[3] = {{1000, 0, 1, -1}, {1000, 1, 2, -1}, {1000, 2, 3, -1}};
    plan(chain, 3, off, inp, &sum);
    assert_int_equal(sum.peak, 2 * 1024);
    assert_int_equal(sum.bound, 2 * 1024);
    assert_int_equal(off[0], off[2]);

    kn_mem_request inplace[3] = {{1000, 0, 1, -1}, {1000, 1, 2, 0}, {1000, 2, 3, 1}};
    plan(inplace, 3, off, inp, &sum);
    assert_int_equal(sum.peak, 1024);
    assert_int_equal(sum.bound, 1024);
    assert_int_equal(inp[1], 0);
    assert_int_equal(inp[2], 1);
    assert_int_equal(sum.num_inplace, 2);

    /* illegal: the input is still live after this step */
    kn_mem_request alive[2] = {{1000, 0, 2, -1}, {1000, 1, 3, 0}};
    plan(alive, 2, off, inp, &sum);
    assert_int_equal(inp[1], -1);
    assert_int_equal(sum.peak, 2048);
    /* illegal: the taker is larger than the buffer it would take */
    kn_mem_request larger[2] = {{1000, 0, 1, -1}, {1100, 1, 2, 0}};
    plan(larger, 2, off, inp, &sum);
    assert_int_equal(inp[1], -1);
    /* legal: a smaller taker (rounded sizes compare) */
    kn_mem_request smaller[2] = {{1000, 0, 1, -1}, {1020, 1, 2, 0}};
    plan(smaller, 2, off, inp, &sum);
    assert_int_equal(inp[1], 0);
    /* illegal: two takers for one buffer; the first in step order wins */
    kn_mem_request two[3] = {{1000, 0, 1, -1}, {1000, 1, 2, 0}, {1000, 1, 3, 0}};
    plan(two, 3, off, inp, &sum);
    assert_int_equal(inp[1], 0);
    assert_int_equal(inp[2], -1);
    /* illegal: taking over a buffer that starts later, or itself */
    kn_mem_request later[2] = {{1000, 1, 1, 1}, {1000, 1, 1, 0}};
    plan(later, 2, off, inp, &sum);
    assert_int_equal(inp[0], -1);
    assert_int_equal(inp[1], 0);
    kn_mem_request self = {1000, 0, 1, 0};
    plan(&self, 1, off, inp, &sum);
    assert_int_equal(inp[0], -1);
}

/* The checker itself catches overlaps and bad links (so random tests mean something). */
static void test_checker_catches_errors(void **state)
{
    (void)state;
    kn_error err;
    kn_mem_request r[2] = {{100, 0, 2, -1}, {100, 1, 3, -1}};
    size_t off[2] = {0, 64};
    int inp[2] = {-1, -1};
    assert_int_equal(kn_mem_plan_check(r, 2, off, inp, 256, &err), KN_ERR_GRAPH);
    assert_non_null(strstr(err.message, "overlap"));
    off[1] = 128;
    assert_int_equal(kn_mem_plan_check(r, 2, off, inp, 256, &err), KN_OK);
    assert_int_equal(kn_mem_plan_check(r, 2, off, inp, 200, &err), KN_ERR_GRAPH);
    off[1] = 100;
    assert_int_equal(kn_mem_plan_check(r, 2, off, inp, 256, &err), KN_ERR_GRAPH);
    off[1] = 0;
    inp[1] = 0; /* not offered, and the input is still live */
    assert_int_equal(kn_mem_plan_check(r, 2, off, inp, 256, &err), KN_ERR_GRAPH);
    assert_non_null(strstr(err.message, "in place"));
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random interval sets: every plan passes the independent checks and is deterministic. */
static void test_random_interval_sets(void **state)
{
    (void)state;
    enum { MAXN = 80 };
    kn_mem_request r[MAXN];
    size_t off[MAXN], off2[MAXN];
    int inp[MAXN], inp2[MAXN];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int honoured = 0, refused = 0;
    double worst = 1.0;
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + (int)(next(&seed) % MAXN);
        int steps = 1 + (int)(next(&seed) % 40);
        for (int i = 0; i < n; i++) {
            int a = (int)(next(&seed) % (uint64_t)steps), len = (int)(next(&seed) % 8);
            if (next(&seed) % 4 == 0)
                len = (int)(next(&seed) % (uint64_t)steps);
            uint64_t kind = next(&seed) % 10;
            size_t size = kind == 0 ? 0 : kind < 3 ? (size_t)(next(&seed) % 100) : (size_t)(next(&seed) % 100000);
            if (kind == 9)
                size = (size_t)1 << (10 + next(&seed) % 12);
            r[i] = (kn_mem_request){size, a, a + len, -1};
        }
        /* offer reuse: mostly of a request that dies where this one starts, sometimes of any */
        for (int i = 0; i < n; i++) {
            uint64_t k = next(&seed) % 4;
            if (k == 0)
                r[i].may_reuse = (int)(next(&seed) % (uint64_t)n);
            else if (k == 1)
                for (int j = 0; j < n; j++)
                    if (j != i && r[j].last_use == r[i].first_use) {
                        r[i].may_reuse = j;
                        if (next(&seed) % 2)
                            r[i].size = r[j].size; /* element-wise: same size */
                        break;
                    }
        }
        kn_mem_summary sum, sum2;
        plan(r, n, off, inp, &sum);
        kn_error err;
        assert_int_equal(kn_plan_memory(r, n, off2, inp2, &sum2, &err), KN_OK);
        assert_memory_equal(off, off2, sizeof(size_t) * (size_t)n);
        assert_memory_equal(inp, inp2, sizeof(int) * (size_t)n);
        assert_int_equal(sum.peak, sum2.peak);
        for (int i = 0; i < n; i++) {
            if (r[i].may_reuse < 0)
                continue;
            if (inp[i] >= 0)
                honoured++;
            else
                refused++;
        }
        if (sum.peak > 0 && (double)sum.bound / (double)sum.peak < worst)
            worst = (double)sum.bound / (double)sum.peak;
    }
    /* both outcomes of the in-place rule were exercised */
    assert_true(honoured > 50);
    assert_true(refused > 50);
    print_message("random sets: %d in-place honoured, %d refused, worst bound/peak %.3f\n", honoured, refused,
                  worst);
    assert_true(worst > 0.5);
}

/* --------------------------------------------------------------- graphs */

static int buffer_of(const kn_graph_mem_plan *p, const kn_graph *g, const char *name)
{
    int v = kn_graph_find_value(g, name);
    for (int b = 0; b < p->num_buffers; b++)
        if (p->buffer_value[b] == v)
            return b;
    return -1;
}

/*
 * x[2,8] -> Relu r -> Add(r, x2) s -> Sigmoid t -> Reshape(t, [16]) u -> Mul(u, c) y
 *                      x2 = Exp(x) is read by Add and, later, by the last Sub,
 * so r takes over x (x dies at the Relu), s takes over r, t over s, u over t,
 * and y = Sub(Mul(u, c), x2)... is written fresh where its inputs live on.
 */
static void build_graph(kn_graph *g)
{
    kn_graph_init(g);
    kn_error err;
    int64_t dx[] = {2, 8}, dflat[] = {1}, d16[] = {16};
    int x = kn_test_add_value(g, "x", KN_F32, 2, dx, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(g, x, &err), KN_OK);
    int64_t *shape = malloc(sizeof(int64_t));
    *shape = 16;
    int sh = kn_test_add_value(g, "shape", KN_I64, 1, dflat, KN_VALUE_CONST, shape);
    float *cdata = malloc(16 * sizeof(float));
    for (int i = 0; i < 16; i++)
        cdata[i] = 0.5f + (float)i;
    int c = kn_test_add_value(g, "c", KN_F32, 1, d16, KN_VALUE_CONST, cdata);
    int x2 = kn_test_add_tmp(g, "x2"), r = kn_test_add_tmp(g, "r");
    int s = kn_test_add_tmp(g, "s"), t = kn_test_add_tmp(g, "t");
    int u = kn_test_add_tmp(g, "u"), m = kn_test_add_tmp(g, "m");
    int x2f = kn_test_add_tmp(g, "x2f"), y = kn_test_add_tmp(g, "y");
    kn_test_add_node(g, "exp", KN_OP_EXP, &x, 1, x2);
    kn_test_add_node(g, "relu", KN_OP_RELU, &x, 1, r);
    int ain[] = {r, x2};
    kn_test_add_node(g, "add", KN_OP_ADD, ain, 2, s);
    kn_test_add_node(g, "sigmoid", KN_OP_SIGMOID, &s, 1, t);
    int rin[] = {t, sh};
    kn_test_add_node(g, "reshape", KN_OP_RESHAPE, rin, 2, u);
    int min[] = {c, u};
    kn_test_add_node(g, "mul", KN_OP_MUL, min, 2, m);
    int fin[] = {x2, sh};
    kn_test_add_node(g, "flat_x2", KN_OP_RESHAPE, fin, 2, x2f);
    int sin[] = {m, x2f};
    kn_test_add_node(g, "sub", KN_OP_SUB, sin, 2, y);
    assert_int_equal(kn_graph_add_output(g, y, &err), KN_OK);
    kn_pass_ctx ctx = {.verify_each = true};
    assert_int_equal(kn_passes_run(g, &ctx, &err), KN_OK);
    assert_int_equal(kn_graph_verify(g, true, &err), KN_OK);
}

static void test_graph_plan(void **state)
{
    (void)state;
    kn_graph g;
    build_graph(&g);
    kn_graph_mem_plan p;
    kn_error err = {0};
    if (kn_plan_graph_memory(&g, &p, &err) != KN_OK)
        fail_msg("%s", err.message);
    assert_int_equal(p.num_steps, 8);
    assert_int_equal(p.num_buffers, 9); /* x and eight node outputs */
    int bx = buffer_of(&p, &g, "x"), bx2 = buffer_of(&p, &g, "x2"), br = buffer_of(&p, &g, "r");
    int bs = buffer_of(&p, &g, "s"), bt = buffer_of(&p, &g, "t"), bu = buffer_of(&p, &g, "u");
    int bm = buffer_of(&p, &g, "m"), bf = buffer_of(&p, &g, "x2f"), by = buffer_of(&p, &g, "y");
    /* constants have no slot */
    assert_int_equal(p.value_offset[kn_graph_find_value(&g, "c")], KN_MEM_NONE);
    assert_int_equal(p.value_offset[kn_graph_find_value(&g, "shape")], KN_MEM_NONE);
    /* lifetimes: x from step 0 to the relu (1); y until the end; x2 until flat_x2 (6) */
    assert_int_equal(p.requests[bx].first_use, 0);
    assert_int_equal(p.requests[bx].last_use, 1);
    assert_int_equal(p.requests[bx2].last_use, 6);
    assert_int_equal(p.requests[by].last_use, 7);
    /* in place: relu over x, add over r (x2 lives on), sigmoid, reshape (view) and mul (second input) too */
    assert_int_equal(p.buffer_inplace[br], bx);
    assert_int_equal(p.buffer_inplace[bs], br);
    assert_int_equal(p.buffer_inplace[bt], bs);
    assert_int_equal(p.buffer_inplace[bu], bt);
    assert_int_equal(p.buffer_inplace[bm], bu);
    /* exp's input lives on (the relu reads it later): a fresh buffer; flat_x2's input dies there: a view */
    assert_int_equal(p.buffer_inplace[bx2], -1);
    assert_int_equal(p.buffer_inplace[bf], bx2);
    /* sub: both inputs die there, the output takes the first */
    assert_int_equal(p.buffer_inplace[by], bm);
    /* two 64-byte slots suffice (x/r/s/t/u/m/y and x2/x2f) */
    assert_int_equal(p.summary.peak, 128);
    assert_int_equal(p.summary.bound, 128);
    assert_int_equal(kn_mem_plan_check(p.requests, p.num_buffers, p.buffer_offset, p.buffer_inplace,
                                       p.summary.peak, &err), KN_OK);
    kn_graph_mem_plan_free(&p);
    kn_graph_free(&g);
}

/* Views and in-place kernels give the same numbers in a planned arena as one buffer each. */
static void test_ref_backend_arena(void **state)
{
    (void)state;
    kn_graph g;
    build_graph(&g);
    kn_graph_mem_plan p;
    kn_error err = {0};
    assert_int_equal(kn_plan_graph_memory(&g, &p, &err), KN_OK);
    float x[16], expect[16];
    uint64_t seed = 7;
    kn_test_fill(&seed, x, 16, -2.0f, 2.0f);
    for (int i = 0; i < 16; i++) {
        float r = x[i] > 0 ? x[i] : 0.0f, e = expf(x[i]);
        float t = 1.0f / (1.0f + expf(-(r + e)));
        expect[i] = t * (0.5f + (float)i) - e;
    }
    const kn_buffer_plan planned = {p.summary.peak, p.value_offset};
    const kn_buffer_plan *plans[2] = {&planned, NULL};
    int xid = kn_graph_find_value(&g, "x"), yid = g.outputs[0];
    for (int k = 0; k < 2; k++) {
        void *exe = NULL;
        if (kn_ref_backend.compile(&g, plans[k], 1, &exe, &err) != KN_OK)
            fail_msg("%s", err.message);
        for (int run = 0; run < 2; run++) { /* a second run starts from a dirty arena */
            memcpy(kn_ref_backend.value_data(exe, xid), x, sizeof x);
            assert_int_equal(kn_ref_backend.run(exe, 0, &err), KN_OK);
            const float *y = kn_ref_backend.value_data(exe, yid);
            assert_true(kn_test_allclose(y, expect, 16, 1e-5f, 1e-6f));
        }
        if (k == 0) /* x and y share the one planned slot chain */
            assert_ptr_equal(kn_ref_backend.value_data(exe, xid), kn_ref_backend.value_data(exe, yid));
        kn_ref_backend.free(exe);
    }
    /* a plan that puts a value outside its arena is refused */
    size_t *bad = malloc(sizeof(size_t) * (size_t)g.num_values);
    memcpy(bad, p.value_offset, sizeof(size_t) * (size_t)g.num_values);
    bad[yid] = 4096;
    const kn_buffer_plan broken = {p.summary.peak, bad};
    void *exe = NULL;
    assert_int_equal(kn_ref_backend.compile(&g, &broken, 1, &exe, &err), KN_ERR_INVALID_ARG);
    assert_null(exe);
    assert_non_null(strstr(err.message, "outside"));
    free(bad);
    kn_graph_mem_plan_free(&p);
    kn_graph_free(&g);
}

/* A graph output is never written over, even by its last reader. */
static void test_output_not_overwritten(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int64_t d[] = {4, 4};
    int x = kn_test_add_value(&g, "x", KN_F32, 2, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int a = kn_test_add_tmp(&g, "a"), b = kn_test_add_tmp(&g, "b");
    kn_test_add_node(&g, "tanh", KN_OP_TANH, &x, 1, a);
    kn_test_add_node(&g, "relu", KN_OP_RELU, &a, 1, b);
    assert_int_equal(kn_graph_add_output(&g, a, &err), KN_OK);
    assert_int_equal(kn_graph_add_output(&g, b, &err), KN_OK);
    kn_pass_ctx ctx = {0};
    assert_int_equal(kn_passes_run(&g, &ctx, &err), KN_OK);
    kn_graph_mem_plan p;
    assert_int_equal(kn_plan_graph_memory(&g, &p, &err), KN_OK);
    int ba = buffer_of(&p, &g, "a"), bb = buffer_of(&p, &g, "b"), bx = buffer_of(&p, &g, "x");
    assert_int_equal(p.buffer_inplace[ba], bx);
    assert_int_equal(p.buffer_inplace[bb], -1);
    assert_int_equal(p.requests[ba].last_use, 1);
    assert_true(p.buffer_offset[ba] != p.buffer_offset[bb]);
    kn_graph_mem_plan_free(&p);
    kn_graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_single),
        cmocka_unit_test(test_bad_requests_and_overflow),
        cmocka_unit_test(test_chain_and_inplace),
        cmocka_unit_test(test_checker_catches_errors),
        cmocka_unit_test(test_random_interval_sets),
        cmocka_unit_test(test_graph_plan),
        cmocka_unit_test(test_ref_backend_arena),
        cmocka_unit_test(test_output_not_overwritten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
