/*
 * test_hostile.c - absurd sizes are refused by name before anything is
 * allocated (issue 15, item 2): a Pad's pads get the same range check as a
 * Conv's, and a session whose tensors would not fit in the machine's memory
 * is refused at kn_session_create with the node behind its largest tensor;
 * and (item 6) a run with a time limit stops cleanly when it passes it.
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
#include "onnx.h"
#include "testutil.h"

/* y = Pad(x [1, 1, 28, 28], pads) with pads (begin..., end...) on the two spatial axes, loaded through ONNX. */
static kn_model_t *pad_model(int64_t h_begin, int64_t w_end)
{
    kn_graph g;
    kn_graph_init(&g);
    kn_error err = {0};
    const int64_t img[4] = {1, 1, 28, 28}, eight[1] = {8};
    int x = kn_test_add_value(&g, "x", KN_F32, 4, img, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int64_t *pads = calloc(8, sizeof *pads);
    assert_non_null(pads);
    pads[2] = h_begin;
    pads[7] = w_end;
    int p = kn_test_add_value(&g, "pads", KN_I64, 1, eight, KN_VALUE_CONST, pads);
    int y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "huge_pad", KN_OP_PAD, (const int[]){x, p}, 2, y);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    void *data;
    size_t size;
    assert_int_equal(kn_onnx_export_buffer(&g, &data, &size, &err), KN_OK);
    kn_graph_free(&g);
    kn_model_t *m = NULL;
    kn_status st = kn_model_load_onnx_buffer(data, size, "pad", &m, &err);
    free(data);
    if (st != KN_OK)
        fail_msg("pad model: %s", err.message);
    return m;
}

static void expect_session_error(kn_model_t *m, kn_status want, const char *const *phrases)
{
    kn_options opts = {0};
    opts.backend = "ref";
    kn_session_t *s = NULL;
    kn_error err = {0};
    kn_status st = kn_session_create(m, &opts, &s, &err);
    printf("%s\n", err.message);
    assert_int_equal(st, want);
    assert_null(s);
    for (int i = 0; phrases[i]; i++)
        if (!strstr(err.message, phrases[i]))
            fail_msg("'%s' is not in: %s", phrases[i], err.message);
}

/* pads of 2^40: out of range, as on a Conv */
static void test_pad_out_of_range(void **state)
{
    (void)state;
    kn_model_t *m = pad_model(INT64_C(1) << 40, 0);
    expect_session_error(m, KN_ERR_SHAPE,
                         (const char *const[]){"'huge_pad' (Pad)", "out of range", "1099511627776", NULL});
    kn_model_free(m);
}

/* pads of 2^20 on both spatial axes: a 4 TiB output, refused before allocating, naming the node */
static void test_arena_beyond_memory(void **state)
{
    (void)state;
    kn_model_t *m = pad_model(INT64_C(1) << 20, INT64_C(1) << 20);
    expect_session_error(m, KN_ERR_NOMEM,
                         (const char *const[]){"4.00 TiB", "more than this machine's", "of memory",
                                               "'y' float32 [1,1,1048604,1048604]", "node 'huge_pad' (Pad)", NULL});
    kn_model_free(m);
}

/* the largest pads that fit stay accepted: the check is a range, not a refusal of Pad */
static void test_pad_in_range(void **state)
{
    (void)state;
    kn_model_t *m = pad_model(2, 3);
    kn_options opts = {0};
    kn_session_t *s = NULL;
    kn_error err = {0};
    if (kn_session_create(m, &opts, &s, &err) != KN_OK)
        fail_msg("%s", err.message);
    kn_io_info out;
    assert_int_equal(kn_session_output(s, 0, &out), KN_OK);
    assert_int_equal(out.shape.dims[2], 30);
    assert_int_equal(out.shape.dims[3], 31);
    kn_session_free(s);
    kn_model_free(m);
}

/* y = Relu(MatMul(MatMul(x, w), w)), x and w [n, n]: slow enough for a limit to pass during the first MatMul */
static kn_model_t *matmul_model(int64_t n)
{
    kn_graph g;
    kn_graph_init(&g);
    kn_error err = {0};
    const int64_t sq[2] = {n, n};
    int x = kn_test_add_value(&g, "x", KN_F32, 2, sq, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    float *wd = calloc((size_t)(n * n), sizeof *wd);
    assert_non_null(wd);
    for (int64_t i = 0; i < n; i++)
        wd[i * n + i] = 1.0f; /* the identity: y = relu(x) */
    int w = kn_test_add_value(&g, "w", KN_F32, 2, sq, KN_VALUE_CONST, wd);
    int a = kn_test_add_tmp(&g, "a"), b = kn_test_add_tmp(&g, "b"), y = kn_test_add_tmp(&g, "y");
    kn_test_add_node(&g, "first", KN_OP_MATMUL, (const int[]){x, w}, 2, a);
    kn_test_add_node(&g, "second", KN_OP_MATMUL, (const int[]){a, w}, 2, b);
    kn_test_add_node(&g, "relu", KN_OP_RELU, (const int[]){b}, 1, y);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    void *data;
    size_t size;
    assert_int_equal(kn_onnx_export_buffer(&g, &data, &size, &err), KN_OK);
    kn_graph_free(&g);
    kn_model_t *m = NULL;
    assert_int_equal(kn_model_load_onnx_buffer(data, size, "matmul", &m, &err), KN_OK);
    free(data);
    return m;
}

/* Run `m` on `backend` with a time limit; the status, and output 0's first element when it ran. */
static kn_status timed_run(const kn_model_t *m, const char *backend, double timeout_s, int runs, float *first,
                           kn_error *err)
{
    kn_options opts = {0};
    opts.backend = backend;
    opts.timeout_s = timeout_s;
    kn_session_t *s = NULL;
    kn_status st = kn_session_create(m, &opts, &s, err);
    if (st != KN_OK)
        return st;
    kn_io_info in;
    assert_int_equal(kn_session_input(s, 0, &in), KN_OK);
    size_t count = 0;
    assert_int_equal(kn_shape_numel(&in.shape, &count), KN_OK);
    float *x = malloc(count * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)(i % 7) - 3.0f;
    kn_tensor t = {.dtype = KN_F32, .shape = in.shape, .data = x};
    for (int r = 0; r < runs; r++) /* the same outcome every time: the session stays usable */
        st = kn_session_run(s, 1, &in.name, &t, err);
    if (st == KN_OK) {
        kn_tensor out;
        assert_int_equal(kn_session_get_output(s, 0, &out, err), KN_OK);
        *first = ((const float *)out.data)[0];
    }
    free(x);
    kn_session_free(s);
    return st;
}

static void test_run_timeout(void **state)
{
    (void)state;
    kn_model_t *m = matmul_model(512);
    const char *backends[] = {"ref", "dnnl"};
    for (int b = 0; b < 2; b++) {
        if (!kn_backend_isa(backends[b]) && b > 0)
            continue; /* a build without oneDNN */
        kn_error err = {0};
        float first = 0;
        /* 1 ns: passed before the second MatMul whatever the machine */
        kn_status st = timed_run(m, backends[b], 1e-9, 2, &first, &err);
        printf("%s: %s\n", backends[b], err.message);
        assert_int_equal(st, KN_ERR_TIMEOUT);
        assert_non_null(strstr(err.message, "time limit of 1e-09 s: stopped before node"));
        assert_non_null(strstr(err.message, "nodes done"));
        /* a limit the run keeps: the right answer (relu(x)[0] = relu(-3) = 0; x[0][1] = -2 -> 0; use [0]) */
        memset(&err, 0, sizeof err);
        first = -1;
        assert_int_equal(timed_run(m, backends[b], 1e6, 2, &first, &err), KN_OK);
        assert_true(first == 0.0f);
    }
    /* a negative or absurd limit is a clear error */
    kn_options opts = {0};
    opts.timeout_s = -1;
    kn_session_t *s = NULL;
    kn_error err = {0};
    assert_int_equal(kn_session_create(m, &opts, &s, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "timeout"));
    kn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_out_of_range),
        cmocka_unit_test(test_arena_beyond_memory),
        cmocka_unit_test(test_pad_in_range),
        cmocka_unit_test(test_run_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
