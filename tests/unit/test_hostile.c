/*
 * test_hostile.c - absurd sizes are refused by name before anything is
 * allocated (issue 15, item 2): a Pad's pads get the same range check as a
 * Conv's, and a session whose tensors would not fit in the machine's memory
 * is refused at kn_session_create with the node behind its largest tensor.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_out_of_range),
        cmocka_unit_test(test_arena_beyond_memory),
        cmocka_unit_test(test_pad_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
