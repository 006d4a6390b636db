/*
 * test_onnx_import.c - the ONNX importer on the fixtures of tests/data/onnx
 * (made by make_fixtures.py): values, attributes, opset normalisation, exact
 * error messages, and truncated / garbage / bit-flipped buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "onnx.h"

#define FIXTURE_DIR KN_SOURCE_DIR "/tests/data/onnx/"

/* Read a fixture into memory (the test's own reader, independent of the importer's). */
static unsigned char *read_fixture(const char *file, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, FIXTURE_DIR "%s", file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    unsigned char *buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return buf;
}

/* Import a fixture from memory, named by its file name (so messages are path-independent). */
static kn_status import_fixture(const char *file, kn_graph *g, kn_error *err)
{
    size_t size;
    unsigned char *buf = read_fixture(file, &size);
    memset(err, 0, sizeof *err);
    kn_status st = kn_onnx_import_buffer(buf, size, file, g, err);
    free(buf);
    return st;
}

static void expect_error(const char *file, kn_status status, const char *message)
{
    kn_graph g;
    kn_error err;
    kn_status st = import_fixture(file, &g, &err);
    if (st != status || strcmp(err.message, message) != 0)
        print_error("%s: got status %d, message\n  %s\nexpected status %d, message\n  %s\n", file, st,
                    err.message, status, message);
    assert_int_equal(st, status);
    assert_string_equal(err.message, message);
    assert_int_equal(g.num_values, 0);
    assert_int_equal(g.num_nodes, 0);
    kn_graph_free(&g);
}

static const kn_value *value(const kn_graph *g, const char *name)
{
    int id = kn_graph_find_value(g, name);
    if (id < 0)
        print_error("no value '%s'\n", name);
    assert_true(id >= 0);
    return &g->values[id];
}

static const kn_node *node(const kn_graph *g, const char *name)
{
    for (int i = 0; i < g->num_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    print_error("no node '%s'\n", name);
    fail();
    return NULL;
}

static const kn_value *input_of(const kn_graph *g, const kn_node *n, int i)
{
    assert_true(i < n->num_inputs);
    assert_true(n->inputs[i] >= 0);
    return &g->values[n->inputs[i]];
}

/* A constant int64 vector value with the given contents. */
static void expect_ints(const kn_value *v, const char *name, const int64_t *want, int count)
{
    assert_string_equal(v->name, name);
    assert_int_equal(v->kind, KN_VALUE_CONST);
    assert_int_equal(v->dtype, KN_I64);
    assert_int_equal(v->shape.rank, 1);
    assert_int_equal(v->shape.dims[0], count);
    assert_true(v->shape_known);
    for (int i = 0; i < count; i++)
        assert_int_equal(((const int64_t *)v->data)[i], want[i]);
}

static void expect_shape(const kn_value *v, int rank, const int64_t *dims)
{
    assert_int_equal(v->shape.rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(v->shape.dims[i], dims[i]);
}

static void test_tiny_conv_raw(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("tiny_conv_raw.onnx", &g, &err), KN_OK);

    /* x is the only input; w (also listed as an input) is a weight */
    assert_int_equal(g.num_inputs, 1);
    const kn_value *x = &g.values[g.inputs[0]];
    assert_string_equal(x->name, "x");
    assert_int_equal(x->kind, KN_VALUE_INPUT);
    assert_int_equal(x->dtype, KN_F32);
    expect_shape(x, 4, (const int64_t[]){KN_DIM_BATCH, 1, 5, 5});
    assert_true(x->shape_known);

    const kn_value *w = value(&g, "w");
    assert_int_equal(w->kind, KN_VALUE_PARAM);
    expect_shape(w, 4, (const int64_t[]){2, 1, 3, 3});
    assert_float_equal(((const float *)w->data)[0], -0.8f, 1e-6);
    assert_float_equal(((const float *)w->data)[17], 0.9f, 1e-6);
    assert_float_equal(((const float *)value(&g, "b")->data)[1], -0.25f, 0);
    assert_int_equal(kn_graph_find_value(&g, "unused_half"), -1);

    assert_int_equal(g.num_nodes, 6);
    const kn_node *conv = node(&g, "conv1");
    assert_int_equal(conv->op, KN_OP_CONV);
    assert_int_equal(conv->num_inputs, 3);
    assert_int_equal(conv->attrs.window.nspatial, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(conv->attrs.window.kernel[i], 3);
        assert_int_equal(conv->attrs.window.stride[i], 1);
        assert_int_equal(conv->attrs.window.dilation[i], 1);
        assert_int_equal(conv->attrs.window.pad_begin[i], 1);
        assert_int_equal(conv->attrs.window.pad_end[i], 1);
    }
    assert_int_equal(conv->attrs.window.group, 1);
    assert_int_equal(conv->attrs.window.auto_pad, KN_AUTO_PAD_NOTSET);
    const kn_value *c = &g.values[conv->outputs[0]];
    assert_string_equal(c->name, "c");
    assert_int_equal(c->kind, KN_VALUE_INTERMEDIATE);
    assert_false(c->shape_known);

    assert_int_equal(node(&g, "Relu_1")->op, KN_OP_RELU);
    const kn_node *pool = node(&g, "pool");
    assert_int_equal(pool->op, KN_OP_MAX_POOL);
    assert_int_equal(pool->num_outputs, 1);
    assert_int_equal(pool->attrs.window.kernel[1], 2);
    assert_int_equal(pool->attrs.window.stride[0], 2);
    assert_int_equal(node(&g, "flat")->attrs.axis.axis, 1);
    const kn_node *fc = node(&g, "fc");
    assert_float_equal(fc->attrs.gemm.alpha, 0.5f, 0);
    assert_float_equal(fc->attrs.gemm.beta, 1.0f, 0);
    assert_false(fc->attrs.gemm.trans_a);
    assert_true(fc->attrs.gemm.trans_b);
    const kn_node *sm = node(&g, "sm");
    assert_int_equal(sm->attrs.axis.axis, 1);
    assert_false(sm->attrs.axis.legacy_2d);

    assert_int_equal(g.num_outputs, 1);
    assert_string_equal(g.values[g.outputs[0]].name, "y");
    assert_true(g.values[g.outputs[0]].is_output);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    kn_graph_free(&g);
}

static void test_tiny_conv_typed(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("tiny_conv_typed.onnx", &g, &err), KN_OK);
    assert_int_equal(g.num_inputs, 1);
    const kn_value *w = value(&g, "w");
    assert_int_equal(w->kind, KN_VALUE_PARAM);
    assert_float_equal(((const float *)w->data)[0], -0.8f, 1e-6);
    expect_ints(value(&g, "shape"), "shape", (const int64_t[]){-1, 8}, 2);
    assert_int_equal(node(&g, "flat")->op, KN_OP_RESHAPE);

    const kn_value *v = value(&g, "i32");
    assert_int_equal(v->dtype, KN_I32);
    assert_int_equal(v->kind, KN_VALUE_CONST);
    assert_int_equal(((const int32_t *)v->data)[1], -2);
    v = value(&g, "i8");
    assert_int_equal(v->dtype, KN_I8);
    assert_int_equal(((const int8_t *)v->data)[0], -5);
    assert_int_equal(((const int8_t *)v->data)[1], 7);
    v = value(&g, "u8");
    assert_int_equal(v->dtype, KN_U8);
    assert_int_equal(((const uint8_t *)v->data)[0], 200);
    v = value(&g, "flags");
    assert_int_equal(v->dtype, KN_BOOL);
    assert_memory_equal(v->data, ((const unsigned char[]){1, 0, 1}), 3);
    v = value(&g, "f64");
    assert_int_equal(v->dtype, KN_F64);
    expect_shape(v, 2, (const int64_t[]){1, 2});
    assert_true(((const double *)v->data)[1] == -2.25);
    assert_int_equal(g.num_outputs, 6);
    kn_graph_free(&g);
}

static void check_slice_model(int opset)
{
    char file[64];
    snprintf(file, sizeof file, "slice_opset%d.onnx", opset);
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture(file, &g, &err), KN_OK);
    assert_int_equal(g.num_nodes, 4); /* the opset-13 Constant is a value, not a node */

    const kn_node *slice = node(&g, "slice");
    assert_int_equal(slice->op, KN_OP_SLICE);
    if (opset < 10) {
        assert_int_equal(slice->num_inputs, 4);
        expect_ints(input_of(&g, slice, 1), "slice/starts", (const int64_t[]){1}, 1);
        expect_ints(input_of(&g, slice, 2), "slice/ends", (const int64_t[]){3}, 1);
        expect_ints(input_of(&g, slice, 3), "slice/axes", (const int64_t[]){2}, 1);
    } else {
        assert_int_equal(slice->num_inputs, 5);
        expect_ints(input_of(&g, slice, 1), "starts", (const int64_t[]){1}, 1);
        expect_ints(input_of(&g, slice, 4), "steps", (const int64_t[]){1}, 1);
    }

    const kn_node *sq = node(&g, "squeeze");
    const kn_node *unsq = node(&g, "unsqueeze");
    assert_int_equal(sq->num_inputs, 2);
    assert_int_equal(unsq->num_inputs, 2);
    if (opset < 13) {
        expect_ints(input_of(&g, sq, 1), "squeeze/axes", (const int64_t[]){1}, 1);
        expect_ints(input_of(&g, unsq, 1), "unsqueeze/axes", (const int64_t[]){1}, 1);
    } else {
        expect_ints(input_of(&g, sq, 1), "sq_axes", (const int64_t[]){1}, 1);
        expect_ints(input_of(&g, unsq, 1), "un_axes", (const int64_t[]){1}, 1);
    }

    const kn_node *sm = node(&g, "softmax");
    assert_int_equal(sm->op, KN_OP_SOFTMAX);
    assert_int_equal(sm->attrs.axis.axis, opset < 13 ? 1 : -1);
    assert_int_equal(sm->attrs.axis.legacy_2d, opset < 13);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    kn_graph_free(&g);
}

static void test_slice_squeeze_softmax_opsets(void **state)
{
    check_slice_model(7);
    check_slice_model(11);
    check_slice_model(13);
}

static void test_legacy_opset7(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("legacy_opset7.onnx", &g, &err), KN_OK);

    const kn_node *bn = node(&g, "bn");
    assert_int_equal(bn->num_inputs, 5);
    assert_float_equal(bn->attrs.batch_norm.epsilon, 1e-3f, 0);
    assert_float_equal(bn->attrs.batch_norm.momentum, 0.8f, 0);

    const kn_node *clip = node(&g, "clip");
    assert_int_equal(clip->num_inputs, 1);
    assert_float_equal(clip->attrs.scalar.min, 0.0f, 0);
    assert_float_equal(clip->attrs.scalar.max, 6.0f, 0);

    const kn_node *pad = node(&g, "pad");
    assert_int_equal(pad->num_inputs, 3);
    assert_int_equal(pad->attrs.pad.mode, KN_PAD_CONSTANT);
    expect_ints(input_of(&g, pad, 1), "pad/pads", (const int64_t[]){0, 0, 1, 1, 0, 0, 1, 1}, 8);
    const kn_value *pv = input_of(&g, pad, 2);
    assert_string_equal(pv->name, "pad/value");
    assert_int_equal(pv->kind, KN_VALUE_CONST);
    assert_int_equal(pv->dtype, KN_F32);
    assert_int_equal(pv->shape.rank, 0);
    assert_float_equal(*(const float *)pv->data, 0.5f, 0);

    const kn_node *split = node(&g, "split");
    assert_int_equal(split->num_inputs, 2);
    assert_int_equal(split->num_outputs, 2);
    assert_int_equal(split->attrs.axis.axis, 1);
    expect_ints(input_of(&g, split, 1), "split/split", (const int64_t[]){1, 1}, 2);

    const kn_node *drop = node(&g, "drop");
    assert_int_equal(drop->num_inputs, 1);
    assert_float_equal(drop->attrs.scalar.ratio, 0.25f, 0);
    assert_float_equal(node(&g, "lrelu")->attrs.scalar.alpha, 0.2f, 0);
    assert_int_equal(node(&g, "cat")->attrs.axis.axis, 1);
    const kn_node *ap = node(&g, "apool");
    assert_true(ap->attrs.window.count_include_pad);
    assert_int_equal(ap->attrs.window.kernel[0], 3);
    assert_int_equal(ap->attrs.window.nspatial, 2);
    assert_int_equal(node(&g, "cast")->attrs.dtype.to, KN_F64);
    kn_graph_free(&g);
}

static void test_modern_opset17(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("modern_opset17.onnx", &g, &err), KN_OK);
    const kn_node *drop = node(&g, "drop");
    assert_int_equal(drop->num_inputs, 2); /* constant-false training_mode dropped */
    assert_float_equal(drop->attrs.scalar.ratio, 0.1f, 0);
    const kn_node *pad = node(&g, "pad");
    assert_int_equal(pad->num_inputs, 2);
    assert_int_equal(pad->attrs.pad.mode, KN_PAD_REFLECT);
    const kn_node *split = node(&g, "split");
    assert_int_equal(split->num_inputs, 2);
    assert_int_equal(split->attrs.axis.axis, 1);
    const kn_node *clip = node(&g, "clip");
    assert_int_equal(clip->num_inputs, 2); /* trailing empty input dropped */
    const kn_node *shape = node(&g, "shape");
    assert_int_equal(shape->attrs.shape.start, 1);
    assert_int_equal(shape->attrs.shape.end, -1);
    assert_true(shape->attrs.shape.has_end);
    const kn_node *cos = node(&g, "cos");
    assert_int_equal(cos->attrs.dtype.to, KN_I64);
    assert_true(cos->attrs.dtype.value == 3.0);
    /* a concrete first dimension stays concrete */
    expect_shape(&g.values[g.inputs[0]], 4, (const int64_t[]){2, 2, 4, 4});
    kn_graph_free(&g);
}

static void test_error_messages(void **state)
{
    expect_error("unsupported_ops.onnx", KN_ERR_UNSUPPORTED,
                 "unsupported_ops.onnx: 2 unsupported ops: NonMaxSuppression (opset 11) at node 'nms_1'; "
                 "Loop (opset 11) at node 'loop'");
    expect_error("custom_domain.onnx", KN_ERR_UNSUPPORTED,
                 "custom_domain.onnx: 1 unsupported op: FusedConv (domain 'com.microsoft', version 1) at "
                 "node 'fused'");
    expect_error("missing_init.onnx", KN_ERR_GRAPH,
                 "missing_init.onnx: node 'n' (Conv) reads 'w', which is not defined (missing initializer?)");
    expect_error("external_data.onnx", KN_ERR_UNSUPPORTED,
                 "external_data.onnx: initializer 'w' uses external data, which kiln does not load");
    expect_error("symbolic_dim.onnx", KN_ERR_UNSUPPORTED,
                 "symbolic_dim.onnx: input 'x' dimension 2 is symbolic ('height'); kiln binds only the "
                 "batch dimension");
    expect_error("bad_raw_size.onnx", KN_ERR_PARSE,
                 "bad_raw_size.onnx: initializer 'w' has 100 bytes of data, expected 400");
    expect_error("opset6.onnx", KN_ERR_UNSUPPORTED,
                 "opset6.onnx: 1 unsupported op: Add (opset 6) at node 'add'");
    expect_error("opset18.onnx", KN_ERR_UNSUPPORTED,
                 "opset18.onnx: model uses ONNX opset 18; kiln supports opsets 7 to 17");
    expect_error("float16_weight.onnx", KN_ERR_UNSUPPORTED,
                 "float16_weight.onnx: initializer 'w' has dtype float16, which kiln does not support");
    expect_error("pad_wrap.onnx", KN_ERR_UNSUPPORTED,
                 "pad_wrap.onnx: node 'pad' (Pad): pad mode 'wrap' is not supported");
    /* output_shape counts as a window attribute: its length must agree with the others */
    expect_error("convt_output_shape_rank.onnx", KN_ERR_PARSE,
                 "convt_output_shape_rank.onnx: node 'ct' (ConvTranspose): attributes 'kernel_shape' (2 spatial "
                 "dims) and 'output_shape' (1) disagree");
    expect_error("cos_int64_inexact.onnx", KN_ERR_UNSUPPORTED,
                 "cos_int64_inexact.onnx: node 'fill' (ConstantOfShape): int64 value 9007199254740993 has no exact "
                 "double; kiln keeps the fill value as a double");
    expect_error("bn_training.onnx", KN_ERR_UNSUPPORTED,
                 "bn_training.onnx: node 'bn' (BatchNormalization): training_mode=1 is not supported (kiln "
                 "imports inference graphs)");
}

/* What ONNX does not allow is refused, not read in some way (make_fixtures.py lenient()). */
static void test_lenient_refused(void **state)
{
    (void)state;
    expect_error("convt_output_padding.onnx", KN_ERR_PARSE,
                 "convt_output_padding.onnx: node 'ct' (ConvTranspose): output_padding 2 (dimension 1) must be "
                 "smaller than the stride 2");
    expect_error("auto_pad_and_pads.onnx", KN_ERR_PARSE,
                 "auto_pad_and_pads.onnx: node 'conv' (Conv): auto_pad 'SAME_UPPER' and explicit pads exclude each "
                 "other; ONNX allows one or the other");
    expect_error("raw_and_typed.onnx", KN_ERR_PARSE,
                 "raw_and_typed.onnx: initializer 'w' has both raw_data and 9 values in a typed field; ONNX allows "
                 "only one of them");
    expect_error("two_default_opsets.onnx", KN_ERR_PARSE,
                 "two_default_opsets.onnx: model imports the default ONNX domain twice (opsets 13 and 11); ONNX "
                 "allows one opset per domain");
    expect_error("ir_version_99.onnx", KN_ERR_UNSUPPORTED,
                 "ir_version_99.onnx: model has ONNX IR version 99; kiln reads IR versions 3 to 10");
    expect_error("output_twice.onnx", KN_ERR_GRAPH, "output_twice.onnx: graph output 'y' is listed twice");
    expect_error("output_float16.onnx", KN_ERR_UNSUPPORTED,
                 "output_float16.onnx: graph output 'y' has dtype float16, which kiln cannot produce");
    expect_error("output_sequence.onnx", KN_ERR_UNSUPPORTED,
                 "output_sequence.onnx: graph output 'y' is a sequence; kiln produces dense tensors only");
    expect_error("ceil_mode_2.onnx", KN_ERR_PARSE,
                 "ceil_mode_2.onnx: node 'pool' (MaxPool): ceil_mode must be 0 or 1, got 2");
    expect_error("celu_alpha_0.onnx", KN_ERR_UNSUPPORTED,
                 "celu_alpha_0.onnx: node 'celu' (Celu): alpha=0 is not supported (Celu divides by alpha)");
}

static void test_many_unsupported(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("many_unsupported.onnx", &g, &err), KN_ERR_UNSUPPORTED);
    const char *head = "many_unsupported.onnx: 60 unsupported ops: Hardmax (opset 13) at node "
                       "'a_rather_long_node_name_number_0'; Hardmax (opset 13) at node "
                       "'a_rather_long_node_name_number_1'; ";
    assert_true(strncmp(err.message, head, strlen(head)) == 0);
    const char *more = strstr(err.message, "; ... and ");
    assert_non_null(more);
    assert_true(strlen(err.message) < sizeof err.message - 1);
    assert_int_equal(more[strlen(more) - 1], 'e'); /* "... and N more" ends the message */
    kn_graph_free(&g);
}

static void test_unsorted_constant_batch(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("unsorted.onnx", &g, &err), KN_OK);
    assert_int_equal(g.num_nodes, 2);
    assert_string_equal(g.nodes[0].name, "relu"); /* sorted */
    assert_string_equal(g.nodes[1].name, "add");
    expect_shape(&g.values[g.inputs[0]], 2, (const int64_t[]){KN_DIM_BATCH, 3});
    const kn_value *k = value(&g, "k");
    assert_int_equal(k->kind, KN_VALUE_CONST);
    assert_int_equal(k->dtype, KN_F32);
    assert_float_equal(((const float *)k->data)[2], 3.0f, 0);
    assert_int_equal(g.num_outputs, 2);
    const kn_value *seven = &g.values[g.outputs[1]];
    assert_string_equal(seven->name, "seven");
    assert_int_equal(((const int64_t *)seven->data)[0], 7);
    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
    kn_graph_free(&g);

    expect_error("duplicate_output.onnx", KN_ERR_GRAPH,
                 "duplicate_output.onnx: node 'b' (Sigmoid): writes 'y', which is already defined");
}

static void test_files(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(kn_onnx_import_file(FIXTURE_DIR "tiny_conv_raw.onnx", &g, &err), KN_OK);
    assert_int_equal(g.num_nodes, 6);
    kn_graph_free(&g);

    assert_int_equal(kn_onnx_import_file(FIXTURE_DIR "no_such_model.onnx", &g, &err), KN_ERR_IO);
    assert_non_null(strstr(err.message, "no_such_model.onnx: cannot open"));
    assert_int_equal(g.num_values, 0);
    kn_graph_free(&g);
    /* a directory is not a model (fopen opens it; its "size" is LONG_MAX) */
    assert_int_equal(kn_onnx_import_file(FIXTURE_DIR, &g, &err), KN_ERR_IO);
    assert_string_equal(err.message, FIXTURE_DIR ": is a directory, not an ONNX file");
    kn_graph_free(&g);
    /* NULL error pointer is allowed */
    assert_int_equal(kn_onnx_import_file(FIXTURE_DIR "missing_init.onnx", &g, NULL), KN_ERR_GRAPH);
    kn_graph_free(&g);
}

static void test_tensor_files(void **state)
{
    kn_tensor t;
    kn_error err;
    assert_int_equal(kn_onnx_read_tensor_file(FIXTURE_DIR "tensor_f32.pb", &t, &err), KN_OK);
    assert_int_equal(t.dtype, KN_F32);
    expect_shape(&(kn_value){.shape = t.shape}, 2, (const int64_t[]){2, 3});
    for (int i = 0; i < 6; i++)
        assert_float_equal(((const float *)t.data)[i], i / 2.0f, 0);
    free(t.data);

    assert_int_equal(kn_onnx_read_tensor_file(FIXTURE_DIR "tensor_i64.pb", &t, &err), KN_OK);
    assert_int_equal(t.dtype, KN_I64);
    assert_int_equal(t.shape.rank, 2);
    assert_int_equal(((const int64_t *)t.data)[0], 3);
    assert_int_equal(((const int64_t *)t.data)[1], -1);
    free(t.data);

    /* a model is not a tensor */
    assert_int_not_equal(kn_onnx_read_tensor_file(FIXTURE_DIR "tiny_conv_raw.onnx", &t, &err), KN_OK);
    assert_null(t.data);
    assert_int_equal(kn_onnx_read_tensor_file(FIXTURE_DIR "nothing.pb", &t, &err), KN_ERR_IO);
}

static void test_truncated(void **state)
{
    size_t size;
    unsigned char *buf = read_fixture("tiny_conv_raw.onnx", &size);
    for (size_t cut = 0; cut < size; cut++) {
        /* an exact-size copy so that ASan sees any read past the end */
        unsigned char *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, buf, cut);
        kn_graph g;
        kn_error err;
        memset(&err, 0, sizeof err);
        kn_status st = kn_onnx_import_buffer(part, cut, "cut.onnx", &g, &err);
        if (st == KN_OK)
            print_error("a model cut at %zu of %zu bytes imported\n", cut, size);
        assert_int_not_equal(st, KN_OK);
        assert_true(strncmp(err.message, "cut.onnx: ", 10) == 0);
        assert_int_equal(g.num_values, 0);
        kn_graph_free(&g);
        free(part);
    }
    kn_graph g;
    kn_error err;
    assert_int_equal(kn_onnx_import_buffer(buf, 0, "empty.onnx", &g, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "empty.onnx: not a valid ONNX model (the file is empty)");
    kn_graph_free(&g);
    assert_int_equal(kn_onnx_import_buffer(buf, 37, "cut.onnx", &g, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "cut.onnx: not a valid ONNX model (protobuf parse failed at the top level: "
                                     "field 7 'graph' at byte 25 claims 656 bytes, more than the 9 left in the file "
                                     "(is the file cut short?))");
    kn_graph_free(&g);
    free(buf);
}

static void test_garbage(void **state)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 400; round++) {
        size_t len = 1 + (size_t)(round * 7 % 300);
        unsigned char *junk = malloc(len);
        assert_non_null(junk);
        for (size_t i = 0; i < len; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            junk[i] = (unsigned char)s;
        }
        kn_graph g;
        kn_error err;
        assert_int_not_equal(kn_onnx_import_buffer(junk, len, "junk", &g, &err), KN_OK);
        kn_graph_free(&g);
        kn_tensor t;
        if (kn_onnx_read_tensor_buffer(junk, len, "junk", &t, &err) == KN_OK)
            free(t.data);
        free(junk);
    }
    const char *text = "ir_version: 8\ngraph { node { op_type: \"Relu\" } }\n";
    kn_graph g;
    kn_error err;
    assert_int_not_equal(kn_onnx_import_buffer(text, strlen(text), "text", &g, &err), KN_OK);
    kn_graph_free(&g);
}

/* Bool raw_data bytes other than 0 and 1 become 1, like the typed field and .npy paths. */
static void test_bool_raw(void **state)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(import_fixture("bool_raw.onnx", &g, &err), KN_OK);
    const kn_value *m = value(&g, "m");
    assert_int_equal(m->dtype, KN_BOOL);
    const unsigned char want[4] = {0, 1, 1, 1};
    assert_memory_equal(m->data, want, 4);
    kn_graph_free(&g);
}

/* Append a protobuf varint; returns its length. */
static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static size_t varint_len(uint64_t v)
{
    unsigned char tmp[10];
    return put_varint(tmp, v);
}

/* Field number of level i of a nested_model: the prefix, then the cycle repeated. */
static uint32_t nested_field(size_t i, const uint32_t *prefix, size_t nprefix, const uint32_t *cycle, size_t ncycle)
{
    return i < nprefix ? prefix[i] : cycle[(i - nprefix) % ncycle];
}

/*
 * A model whose messages nest `depth` levels deep, every level holding only
 * the next one, through the field numbers `prefix` and then `cycle`
 * repeated: just the headers, outermost first. malloc'ed; *size receives
 * the length.
 */
static unsigned char *nested_model(size_t depth, const uint32_t *prefix, size_t nprefix, const uint32_t *cycle,
                                   size_t ncycle, size_t *size)
{
    uint64_t *len = malloc(sizeof *len * (depth + 1)); /* len[i]: payload length of level i */
    assert_non_null(len);
    len[depth] = 0;
    for (size_t i = depth; i-- > 0;) {
        uint32_t f = nested_field(i, prefix, nprefix, cycle, ncycle);
        len[i] = varint_len((uint64_t)f << 3 | 2) + varint_len(len[i + 1]) + len[i + 1];
    }
    unsigned char *buf = malloc(len[0] ? len[0] : 1);
    assert_non_null(buf);
    size_t at = 0;
    for (size_t i = 0; i < depth; i++) {
        at += put_varint(buf + at, (uint64_t)nested_field(i, prefix, nprefix, cycle, ncycle) << 3 | 2);
        at += put_varint(buf + at, len[i + 1]);
    }
    assert_int_equal(at, len[0]);
    *size = at;
    free(len);
    return buf;
}

/* protobuf-c recurses once per nested message: a deep model must be refused, not overflow the stack. */
static void test_deep_nesting(void **state)
{
    /* ModelProto.graph, then GraphProto.node -> NodeProto.attribute -> AttributeProto.g, 100,000 deep */
    const uint32_t model_graph[] = {7}, graph_cycle[] = {1, 5, 6};
    size_t size;
    unsigned char *buf = nested_model(100000, model_graph, 1, graph_cycle, 3, &size);
    kn_graph g;
    kn_error err;
    assert_int_equal(kn_onnx_import_buffer(buf, size, "deep.onnx", &g, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "deep.onnx: not a valid ONNX model (messages nest more than 100 deep: "
                                     "subgraphs or types inside themselves)");
    assert_int_equal(g.num_values, 0);
    kn_graph_free(&g);
    free(buf);
    /* ModelProto.graph -> GraphProto.input -> ValueInfoProto.type, then TypeProto.sequence_type ->
     * Sequence.elem_type -> ... */
    const uint32_t to_type[] = {7, 11, 2}, type_cycle[] = {4, 1};
    buf = nested_model(100001, to_type, 3, type_cycle, 2, &size);
    assert_int_equal(kn_onnx_import_buffer(buf, size, "deep.onnx", &g, &err), KN_ERR_PARSE);
    assert_non_null(strstr(err.message, "nest more than 100 deep"));
    kn_graph_free(&g);
    free(buf);
    /* a modest nesting passes the check (and fails later for what it is: no opset import) */
    buf = nested_model(40, model_graph, 1, graph_cycle, 3, &size);
    assert_int_equal(kn_onnx_import_buffer(buf, size, "nested.onnx", &g, &err), KN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "no opset import"));
    kn_graph_free(&g);
    free(buf);
}

/* A protobuf message under construction (small: the tests below). */
typedef struct pbuf {
    unsigned char b[512];
    size_t n;
} pbuf;

static void pb_key(pbuf *m, uint32_t field, unsigned wire)
{
    m->n += put_varint(m->b + m->n, (uint64_t)field << 3 | wire);
}

static void pb_varint(pbuf *m, uint32_t field, uint64_t v)
{
    pb_key(m, field, 0);
    m->n += put_varint(m->b + m->n, v);
}

/* A length-delimited field holding `len` bytes of `data`, its length field saying `claim` (normally len). */
static void pb_bytes_claim(pbuf *m, uint32_t field, const void *data, size_t len, size_t claim)
{
    pb_key(m, field, 2);
    m->n += put_varint(m->b + m->n, claim);
    assert_true(m->n + len <= sizeof m->b);
    memcpy(m->b + m->n, data, len);
    m->n += len;
}

static void pb_bytes(pbuf *m, uint32_t field, const void *data, size_t len) { pb_bytes_claim(m, field, data, len, len); }
static void pb_str(pbuf *m, uint32_t field, const char *s) { pb_bytes(m, field, s, strlen(s)); }
static void pb_msg(pbuf *m, uint32_t field, const pbuf *sub) { pb_bytes(m, field, sub->b, sub->n); }

/* ModelProto{ir_version 8, opset 13, graph} around a GraphProto. */
static void pb_model(pbuf *model, const pbuf *graph)
{
    pbuf opset = {0};
    pb_varint(&opset, 2, 13);
    memset(model, 0, sizeof *model);
    pb_varint(model, 1, 8);
    pb_msg(model, 8, &opset);
    pb_msg(model, 7, graph);
}

static void expect_parse_error(const pbuf *model, const char *message)
{
    kn_graph g;
    kn_error err;
    assert_int_equal(kn_onnx_import_buffer(model->b, model->n, "bad.onnx", &g, &err), KN_ERR_PARSE);
    if (strcmp(err.message, message) != 0)
        print_error("got      %s\nexpected %s\n", err.message, message);
    assert_string_equal(err.message, message);
    kn_graph_free(&g);
}

/* protobuf-c only says that a model failed to parse: the message names the part (graph, node N, ...) and why. */
static void test_parse_failure_location(void **state)
{
    (void)state;
    /* node 1 ('bad'): attribute 0 ('strides') holds its ints as 32-bit values */
    pbuf relu = {0}, bad = {0}, attr = {0}, graph = {0}, model;
    pb_str(&relu, 1, "x");
    pb_str(&relu, 2, "y");
    pb_str(&relu, 3, "r0");
    pb_str(&relu, 4, "Relu");
    pb_str(&attr, 1, "strides");
    pb_key(&attr, 8, 5);
    memcpy(attr.b + attr.n, "\1\0\0\0", 4);
    attr.n += 4;
    pb_str(&bad, 3, "bad");
    pb_str(&bad, 4, "Conv");
    pb_msg(&bad, 5, &attr);
    pb_msg(&graph, 1, &relu);
    pb_msg(&graph, 1, &bad);
    pb_model(&model, &graph);
    expect_parse_error(&model, "bad.onnx: not a valid ONNX model (protobuf parse failed in graph, node 1 ('bad'), "
                               "attribute 0 ('strides'): field 'ints' has wire type 5 (32-bit), expected 0 (varint))");
    /* initializer 1 ('w'): packed float_data of 6 bytes */
    pbuf ok_init = {0}, init = {0};
    pb_varint(&ok_init, 1, 1);
    pb_varint(&ok_init, 2, 1);
    pb_bytes(&ok_init, 4, "\0\0\x80\x3f", 4);
    pb_str(&ok_init, 8, "b");
    pb_str(&init, 8, "w");
    pb_bytes(&init, 4, "\0\0\x80\x3f\0\0", 6);
    memset(&graph, 0, sizeof graph);
    pb_msg(&graph, 1, &relu);
    pb_msg(&graph, 5, &ok_init);
    pb_msg(&graph, 5, &init);
    pb_model(&model, &graph);
    expect_parse_error(&model, "bad.onnx: not a valid ONNX model (protobuf parse failed in graph, initializer 1 "
                               "('w'): packed field 'float_data' is 6 bytes, not a multiple of 4)");
    /* node 0: an attribute claims more bytes than the node holds */
    memset(&bad, 0, sizeof bad);
    pb_str(&bad, 4, "Relu");
    pb_bytes_claim(&bad, 5, "\x0a\x01", 2, 40);
    memset(&graph, 0, sizeof graph);
    pb_msg(&graph, 1, &bad);
    pb_model(&model, &graph);
    expect_parse_error(&model, "bad.onnx: not a valid ONNX model (protobuf parse failed in graph, node 0: field 5 "
                               "'attribute' at byte 16 claims 40 bytes, more than the 2 left in its message)");
    /* graph output 0: a group wire type */
    pbuf out = {0};
    pb_key(&out, 3, 3);
    memset(&graph, 0, sizeof graph);
    pb_msg(&graph, 1, &relu);
    pb_msg(&graph, 12, &out);
    pb_model(&model, &graph);
    expect_parse_error(&model, "bad.onnx: not a valid ONNX model (protobuf parse failed in graph, output 0: field 3 "
                               "at byte 28 has wire type 3 (group start), which kiln's protobuf reader does not "
                               "accept)");
    /* the top level: opset_import written as a varint */
    memset(&model, 0, sizeof model);
    pb_varint(&model, 1, 8);
    pb_varint(&model, 8, 13);
    expect_parse_error(&model, "bad.onnx: not a valid ONNX model (protobuf parse failed at the top level: field "
                               "'opset_import' has wire type 0 (varint), expected 2 (length-delimited))");
    /* a TensorProto file: dims as a double */
    pbuf t = {0};
    pb_key(&t, 1, 1);
    memcpy(t.b + t.n, "\0\0\0\0\0\0\0\0", 8);
    t.n += 8;
    kn_tensor tensor;
    kn_error err;
    assert_int_equal(kn_onnx_read_tensor_buffer(t.b, t.n, "t.pb", &tensor, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "t.pb: not a valid ONNX TensorProto (protobuf parse failed at the top level: "
                                     "field 'dims' has wire type 1 (64-bit), expected 0 (varint))");
}

/* A model without an ir_version (ONNX requires one), and one older than opset_import (IR 3). */
static void test_ir_version(void **state)
{
    (void)state;
    pbuf relu = {0}, graph = {0}, opset = {0}, model = {0};
    pb_str(&relu, 1, "x");
    pb_str(&relu, 2, "y");
    pb_str(&relu, 4, "Relu");
    pb_msg(&graph, 1, &relu);
    pb_varint(&opset, 2, 13);
    pb_msg(&model, 8, &opset);
    pb_msg(&model, 7, &graph);
    kn_graph g;
    kn_error err;
    assert_int_equal(kn_onnx_import_buffer(model.b, model.n, "m.onnx", &g, &err), KN_ERR_PARSE);
    assert_string_equal(err.message, "m.onnx: model has no ir_version; kiln reads ONNX IR versions 3 to 10");
    kn_graph_free(&g);
    pbuf old = {0};
    pb_varint(&old, 1, 2);
    memcpy(old.b + old.n, model.b, model.n);
    old.n += model.n;
    assert_int_equal(kn_onnx_import_buffer(old.b, old.n, "m.onnx", &g, &err), KN_ERR_UNSUPPORTED);
    assert_string_equal(err.message, "m.onnx: model has ONNX IR version 2; kiln reads IR versions 3 to 10");
    kn_graph_free(&g);
}

/* Flip each byte of a valid model: any outcome but a crash (or leak) is fine. */
static void test_bit_flips(void **state)
{
    const char *files[] = {"tiny_conv_raw.onnx", "legacy_opset7.onnx", "modern_opset17.onnx"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t size;
        unsigned char *buf = read_fixture(files[f], &size);
        for (size_t i = 0; i < size; i++) {
            for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
                buf[i] ^= (unsigned char)mask;
                kn_graph g;
                kn_error err;
                kn_status st = kn_onnx_import_buffer(buf, size, files[f], &g, &err);
                if (st == KN_OK)
                    assert_int_equal(kn_graph_verify(&g, false, &err), KN_OK);
                kn_graph_free(&g);
                buf[i] ^= (unsigned char)mask;
            }
        }
        free(buf);
    }
}

static void test_op_coverage(void **state)
{
    for (int op = 0; op < KN_OP_COUNT; op++) {
        const char *name = kn_op_get((kn_op)op)->name;
        if (kn_op_get((kn_op)op)->flags & KN_OPF_INTERNAL)
            continue; /* kiln-internal (formed by a pass), no ONNX op to import */
        if (!kn_onnx_op_supported(name, KN_ONNX_MAX_OPSET))
            print_error("ops.def op %s has no importer row at opset %d\n", name, KN_ONNX_MAX_OPSET);
        assert_true(kn_onnx_op_supported(name, KN_ONNX_MAX_OPSET));
    }
    assert_true(kn_onnx_op_supported("Constant", 7));
    assert_true(kn_onnx_op_supported("Slice", 7));
    assert_false(kn_onnx_op_supported("HardSwish", 13));
    assert_true(kn_onnx_op_supported("HardSwish", 14));
    assert_true(kn_onnx_op_supported("Upsample", 9));   /* imported as an asymmetric Resize */
    assert_false(kn_onnx_op_supported("Upsample", 10)); /* deprecated at 10: Resize-10 replaces it */
    assert_false(kn_onnx_op_supported("GroupNormalization", 17));
    assert_true(kn_onnx_op_supported("Relu", 6));   /* Relu-6 is the current Relu */
    assert_false(kn_onnx_op_supported("Add", 6));   /* Add-6 had a broadcast attribute */
    assert_false(kn_onnx_op_supported("Relu", 18));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_conv_raw),
        cmocka_unit_test(test_tiny_conv_typed),
        cmocka_unit_test(test_slice_squeeze_softmax_opsets),
        cmocka_unit_test(test_legacy_opset7),
        cmocka_unit_test(test_modern_opset17),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_lenient_refused),
        cmocka_unit_test(test_many_unsupported),
        cmocka_unit_test(test_unsorted_constant_batch),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_tensor_files),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_bool_raw),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_parse_failure_location),
        cmocka_unit_test(test_ir_version),
        cmocka_unit_test(test_op_coverage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
