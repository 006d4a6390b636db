/* test_ir.c - IR building, verification, sorting, dumping, shape inference and folding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "passes.h"
#include "testutil.h"

static void test_build_verify_dump(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    int64_t d[] = {KN_DIM_BATCH, 4};
    int x = kn_test_add_value(&g, "x", KN_F32, 2, d, KN_VALUE_INPUT, NULL);
    kn_error err;
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "relu_0", KN_OP_RELU, &x, 1, y);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    /* the same name twice is refused */
    assert_int_equal(kn_graph_add_value(&g, "y", KN_F32, NULL, KN_VALUE_INTERMEDIATE, NULL, NULL, &err),
                     KN_ERR_GRAPH);
    assert_string_equal(err.message, "value 'y' is defined twice");

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    kn_graph_dump(&g, f);
    fclose(f);
    assert_non_null(strstr(buf, "input %x: float32[N,4]"));
    assert_non_null(strstr(buf, "= Relu(%x:float32[N,4])  # relu_0"));
    free(buf);
    kn_graph_free(&g);
}

static void test_cycle_and_dangling(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    int a = kn_test_add_tmp(&g, "a"), b = kn_test_add_tmp(&g, "b");
    kn_test_add_node(&g, "first", KN_OP_RELU, &b, 1, a);
    kn_test_add_node(&g, "second", KN_OP_RELU, &a, 1, b);
    kn_error err;
    assert_int_equal(kn_graph_add_output(&g, b, &err), KN_OK);
    assert_int_equal(kn_graph_sort(&g, &err), KN_ERR_GRAPH);
    assert_string_equal(err.message, "node 'first' (Relu) is on a cycle or reads a value produced only on one");
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_ERR_GRAPH);
    assert_string_equal(err.message, "node 'first' (Relu) reads 'b' before node 'second' produces it (cycle or bad order)");
    kn_graph_free(&g);

    kn_graph_init(&g);
    int orphan = kn_test_add_tmp(&g, "orphan"), y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "reader", KN_OP_SIGMOID, &orphan, 1, y);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_ERR_GRAPH);
    assert_string_equal(err.message, "node 'reader' (Sigmoid) reads 'orphan', which nothing defines");
    kn_graph_free(&g);
}

static void test_arity_checked(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    int64_t d[] = {1, 3, 8, 8};
    kn_error err;
    int x = kn_test_add_value(&g, "x", KN_F32, 4, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "conv", KN_OP_CONV, &x, 1, y);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_ERR_GRAPH);
    assert_string_equal(err.message, "node 'conv' (Conv) has 1 inputs; the op takes 2 to 4");
    kn_graph_free(&g);
}

static void test_sort_reorders(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    int64_t d[] = {2, 2};
    kn_error err;
    int x = kn_test_add_value(&g, "x", KN_F32, 2, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int m = kn_test_add_tmp(&g, "m"), y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "late", KN_OP_TANH, &m, 1, y);   /* reads m before it is produced */
    kn_test_add_node(&g, "early", KN_OP_RELU, &x, 1, m);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_ERR_GRAPH);
    assert_int_equal(kn_graph_sort(&g, &err), KN_OK);
    assert_string_equal(g.nodes[0].name, "early");
    assert_int_equal(g.values[y].producer, 1);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    kn_graph_free(&g);
}

/* The ready node that comes first in the current order goes next; a chain listed
 * backwards (the worst case of a sort by repeated passes) comes out in chain order. */
static void test_sort_order_and_backward_chain(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    int64_t d[] = {2};
    kn_error err;
    int x = kn_test_add_value(&g, "x", KN_F32, 1, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int a = kn_test_add_tmp(&g, "a"), b = kn_test_add_tmp(&g, "b");
    int c = kn_test_add_tmp(&g, "c"), e = kn_test_add_tmp(&g, "e");
    kn_test_add_node(&g, "C", KN_OP_RELU, &b, 1, c);
    kn_test_add_node(&g, "A", KN_OP_RELU, &x, 1, a);
    kn_test_add_node(&g, "B", KN_OP_RELU, &a, 1, b);
    kn_test_add_node(&g, "E", KN_OP_RELU, &x, 1, e);
    assert_int_equal(kn_graph_sort(&g, &err), KN_OK);
    const char *want[] = {"A", "B", "C", "E"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(g.nodes[i].name, want[i]);
    assert_int_equal(g.values[c].producer, 2);
    assert_int_equal(g.values[e].producer, 3);
    kn_graph_free(&g);

    enum { N = 3000 };
    kn_graph_init(&g);
    int v[N + 1];
    char name[32];
    v[0] = kn_test_add_value(&g, "x", KN_F32, 1, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, v[0], &err), KN_OK);
    for (int i = 1; i <= N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        v[i] = kn_test_add_tmp(&g, name);
    }
    for (int i = N; i >= 1; i--) {
        snprintf(name, sizeof name, "n%d", i);
        kn_test_add_node(&g, name, KN_OP_RELU, &v[i - 1], 1, v[i]);
    }
    assert_int_equal(kn_graph_add_output(&g, v[N], &err), KN_OK);
    assert_int_equal(kn_graph_sort(&g, &err), KN_OK);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i + 1);
        assert_string_equal(g.nodes[i].name, name);
    }
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    /* a cycle names a node on it */
    g.nodes[0].inputs[0] = v[N];
    assert_int_equal(kn_graph_sort(&g, &err), KN_ERR_GRAPH);
    assert_non_null(strstr(err.message, "is on a cycle"));
    kn_graph_free(&g);
}

/* x[N,3,8,8] -> Conv(4x3x3x3, pad 1) -> Relu -> Reshape(x, concat(shape(x)[0], -1)) -> Gemm */
static void test_infer_and_fold_shape_subgraph(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int64_t dx[] = {KN_DIM_BATCH, 3, 8, 8}, dw[] = {4, 3, 3, 3}, dscalar[] = {1}, dfc[] = {10, 256};
    int x = kn_test_add_value(&g, "x", KN_F32, 4, dx, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int w = kn_test_add_value(&g, "w", KN_F32, 4, dw, KN_VALUE_PARAM, calloc(4 * 27, sizeof(float)));
    int64_t *zero = malloc(sizeof(int64_t));
    *zero = 0;
    int idx = kn_test_add_value(&g, "idx", KN_I64, 0, dscalar, KN_VALUE_CONST, zero);
    int64_t *minus1 = malloc(sizeof(int64_t));
    *minus1 = -1;
    int rest = kn_test_add_value(&g, "rest", KN_I64, 1, dscalar, KN_VALUE_CONST, minus1);
    int64_t *axes = malloc(sizeof(int64_t));
    *axes = 0;
    int ax = kn_test_add_value(&g, "axes", KN_I64, 1, dscalar, KN_VALUE_CONST, axes);
    int fc = kn_test_add_value(&g, "fc", KN_F32, 2, dfc, KN_VALUE_PARAM, calloc(10 * 256, sizeof(float)));

    int c = kn_test_add_tmp(&g, "c"), r = kn_test_add_tmp(&g, "r");
    int s = kn_test_add_tmp(&g, "s"), s0 = kn_test_add_tmp(&g, "s0");
    int s0u = kn_test_add_tmp(&g, "s0u"), tgt = kn_test_add_tmp(&g, "tgt");
    int flat = kn_test_add_tmp(&g, "flat"), y = kn_test_add_tmp(&g, "y");
    kn_attrs conv;
    kn_attrs_init(KN_OP_CONV, &conv);
    conv.window.nspatial = 2;
    for (int i = 0; i < 2; i++)
        conv.window.pad_begin[i] = conv.window.pad_end[i] = 1;
    int cin[] = {x, w};
    assert_int_equal(kn_graph_add_node(&g, "conv", KN_OP_CONV, cin, 2, &c, 1, &conv, NULL, &err), KN_OK);
    kn_test_add_node(&g, "relu", KN_OP_RELU, &c, 1, r);
    kn_test_add_node(&g, "shape", KN_OP_SHAPE, &r, 1, s);
    int gin[] = {s, idx};
    kn_test_add_node(&g, "gather", KN_OP_GATHER, gin, 2, s0);
    int uin[] = {s0, ax};
    kn_test_add_node(&g, "unsqueeze", KN_OP_UNSQUEEZE, uin, 2, s0u);
    int catin[] = {s0u, rest};
    kn_test_add_node(&g, "concat", KN_OP_CONCAT, catin, 2, tgt);
    int rin[] = {r, tgt};
    kn_test_add_node(&g, "reshape", KN_OP_RESHAPE, rin, 2, flat);
    kn_attrs gemm;
    kn_attrs_init(KN_OP_GEMM, &gemm);
    gemm.gemm.trans_b = true;
    int gmin[] = {flat, fc};
    assert_int_equal(kn_graph_add_node(&g, "fc", KN_OP_GEMM, gmin, 2, &y, 1, &gemm, NULL, &err), KN_OK);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);

    assert_int_equal(kn_graph_bind_batch(&g, 2, &err), KN_OK);
    kn_pass_ctx ctx = {.verify_each = true};
    assert_int_equal(kn_passes_run(&g, &ctx, &err), KN_OK);
    /* the shape subgraph is gone: conv (with the relu fused into it), reshape, gemm remain */
    assert_int_equal(g.num_nodes, 3);
    int yid = g.outputs[0];
    assert_int_equal(g.values[yid].shape.rank, 2);
    assert_int_equal(g.values[yid].shape.dims[0], 2);
    assert_int_equal(g.values[yid].shape.dims[1], 10);
    int f = kn_graph_find_value(&g, "flat");
    assert_int_equal(g.values[f].shape.dims[1], 256);
    kn_graph_free(&g);
}

static void test_dce_and_overflow(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    int64_t d[] = {KN_DIM_BATCH, (int64_t)1 << 40, (int64_t)1 << 30};
    int x = kn_test_add_value(&g, "x", KN_F32, 3, d, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int y = kn_test_add_tmp(&g, "y"), unused = kn_test_add_tmp(&g, "unused");
    kn_test_add_node(&g, "keep", KN_OP_RELU, &x, 1, y);
    kn_test_add_node(&g, "drop", KN_OP_TANH, &x, 1, unused);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    bool changed = false;
    assert_int_equal(kn_pass_dce(&g, NULL, &changed, &err), KN_OK);
    assert_true(changed);
    assert_int_equal(g.num_nodes, 1);
    assert_int_equal(kn_graph_find_value(&g, "unused"), -1);
    assert_int_equal(kn_graph_bind_batch(&g, 1 << 20, &err), KN_ERR_OVERFLOW);
    assert_string_equal(err.message, "input 'x' at batch 1048576 is too large");
    kn_graph_free(&g);
}

/* An empty shape is still refused when its other dims multiply past the limit:
 * kernels multiply runs of dims ([0, 2^40, 2^40]: the last two) */
static void test_numel_limits(void **state)
{
    (void)state;
    size_t n = 7, bytes = 0;
    kn_shape empty = {.rank = 3, .dims = {0, 5, 7}};
    assert_int_equal(kn_shape_numel(&empty, &n), KN_OK);
    assert_int_equal(n, 0);
    kn_shape big_empty = {.rank = 3, .dims = {0, (int64_t)1 << 40, (int64_t)1 << 40}};
    assert_int_equal(kn_shape_numel(&big_empty, &n), KN_ERR_OVERFLOW);
    assert_int_equal(kn_tensor_nbytes(KN_F32, &big_empty, &bytes), KN_ERR_OVERFLOW);
    kn_shape edge = {.rank = 3, .dims = {(int64_t)1 << 31, 0, (int64_t)1 << 31}};
    assert_int_equal(kn_shape_numel(&edge, &n), KN_OK);
    assert_int_equal(n, 0);
    kn_shape negative = {.rank = 2, .dims = {0, -3}};
    assert_int_equal(kn_shape_numel(&negative, &n), KN_ERR_SHAPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_verify_dump),
        cmocka_unit_test(test_cycle_and_dangling),
        cmocka_unit_test(test_arity_checked),
        cmocka_unit_test(test_sort_reorders),
        cmocka_unit_test(test_sort_order_and_backward_chain),
        cmocka_unit_test(test_infer_and_fold_shape_subgraph),
        cmocka_unit_test(test_dce_and_overflow),
        cmocka_unit_test(test_numel_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
