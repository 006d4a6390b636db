/*
 * test_spec_models.c - every model of every models/ (*.kiln) and of
 * tests/spec/layers.kiln (every layer kind): it compiles
 * without warnings; the IR's shape inference agrees with the spec's layer
 * shapes; it runs on the reference backend at batch 2 with finite outputs in
 * the range its last activation gives; and spec -> ONNX -> kiln import gives
 * the same outputs.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "onnx.h"
#include "passes.h"
#include "spec.h"
#include "testutil.h"

#define KN_MODELS_DIR KN_SOURCE_DIR "/models"

/* Sorted list of the models/ .kiln paths; returns the count. */
static int list_specs(char paths[][512], int cap)
{
    DIR *d = opendir(KN_MODELS_DIR);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".kiln") == 0)
            snprintf(paths[n++], 512, "%s/%s", KN_MODELS_DIR, e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(paths[j - 1], paths[j]) > 0; j--) {
            char t[512];
            memcpy(t, paths[j], 512);
            memcpy(paths[j], paths[j - 1], 512);
            memcpy(paths[j - 1], t, 512);
        }
    return n;
}

/* The models the issue asks for are all there. */
static void test_models_present(void **state)
{
    (void)state;
    static const char *const want[] = {"cifar_cnn", "dcgan", "fashion_cnn", "image_classifier", "mlp_gan",
                                       "mnist_cnn", "resnet_small"};
    char paths[64][512];
    int n = list_specs(paths, 64);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        bool found = false;
        for (int k = 0; k < n; k++) {
            const char *base = strrchr(paths[k], '/') + 1;
            found |= strncmp(base, want[i], strlen(want[i])) == 0 && base[strlen(want[i])] == '.';
        }
        if (!found)
            fail_msg("models/%s.kiln is missing", want[i]);
    }
}

/* Shapes the IR infers at batch 3 equal the spec's (N -> 3) for every layer's value. */
static void check_shapes(const kn_spec *spec, int index)
{
    kn_graph g;
    kn_error err = {0};
    assert_int_equal(kn_spec_build_graph(spec, index, &g, &err), KN_OK);
    /* Shape inference only: the full pipeline fuses and folds layers away. */
    bool changed = false;
    if (kn_graph_bind_batch(&g, 3, &err) != KN_OK || kn_pass_infer_and_fold(&g, NULL, &changed, &err) != KN_OK)
        fail_msg("%s", err.message);
    const kn_spec_model *m = &spec->models[index];
    for (int i = 0; i < m->num_layers; i++) {
        const kn_spec_layer *l = &m->layers[i];
        int v = kn_graph_find_value(&g, l->name);
        if (v < 0)
            fail_msg("%s: no value for layer '%s'", m->name, l->name);
        kn_shape want = l->shape;
        want.dims[0] = 3;
        char a[160], b[160];
        if (!kn_shape_equal(&g.values[v].shape, &want))
            fail_msg("%s: layer '%s': IR shape %s, spec shape %s", m->name, l->name,
                     kn_shape_str(&g.values[v].shape, a, sizeof a), kn_shape_str(&want, b, sizeof b));
    }
    kn_graph_free(&g);
}

typedef struct kn_outputs {
    int count;
    kn_tensor t[8];
} kn_outputs;

static void outputs_free(kn_outputs *o)
{
    for (int i = 0; i < o->count; i++)
        free(o->t[i].data);
    o->count = 0;
}

/* Run `model` at batch 2 on the seeded input; copy the outputs. */
static void run_model(const kn_model_t *model, const char *what, kn_outputs *out)
{
    kn_options opts = {.backend = "ref", .batch = 2, .threads = 2};
    kn_session_t *s = NULL;
    kn_error err = {0};
    if (kn_session_create(model, &opts, &s, &err) != KN_OK)
        fail_msg("%s: %s", what, err.message);
    int nin = kn_session_num_inputs(s);
    assert_true(nin >= 1 && nin <= 4);
    kn_tensor in[4];
    const char *names[4];
    for (int i = 0; i < nin; i++) {
        kn_io_info info;
        assert_int_equal(kn_session_input(s, i, &info), KN_OK);
        size_t count;
        assert_int_equal(kn_shape_numel(&info.shape, &count), KN_OK);
        in[i].dtype = KN_F32;
        in[i].shape = info.shape;
        in[i].data = malloc(count * sizeof(float));
        assert_non_null(in[i].data);
        uint64_t rng = 12345 + (uint64_t)i;
        kn_test_fill(&rng, in[i].data, count, -1.0f, 1.0f);
        names[i] = info.name;
    }
    if (kn_session_run(s, nin, names, in, &err) != KN_OK)
        fail_msg("%s: %s", what, err.message);
    out->count = kn_session_num_outputs(s);
    assert_true(out->count >= 1 && out->count <= 8);
    for (int i = 0; i < out->count; i++) {
        kn_tensor t;
        assert_int_equal(kn_session_get_output(s, i, &t, &err), KN_OK);
        size_t bytes;
        assert_int_equal(kn_tensor_nbytes(t.dtype, &t.shape, &bytes), KN_OK);
        out->t[i] = t;
        out->t[i].data = malloc(bytes ? bytes : 1);
        assert_non_null(out->t[i].data);
        memcpy(out->t[i].data, t.data, bytes);
    }
    for (int i = 0; i < nin; i++)
        free(in[i].data);
    kn_session_free(s);
}

/* Outputs are finite and in the range of the model's last activation. */
static void check_outputs(const kn_spec_model *m, const kn_outputs *o)
{
    for (int k = 0; k < o->count; k++) {
        const kn_spec_layer *l = &m->layers[m->outputs[k]];
        kn_spec_act_kind act = KN_SPEC_ACT_LINEAR;
        if (l->kind == KN_SPEC_DENSE)
            act = l->p.dense.activation.kind;
        else if (l->kind == KN_SPEC_CONV2D || l->kind == KN_SPEC_CONV2D_TRANSPOSE)
            act = l->p.conv.activation.kind;
        else if (l->kind == KN_SPEC_ACTIVATION)
            act = l->p.activation.kind;
        size_t count;
        assert_int_equal(kn_shape_numel(&o->t[k].shape, &count), KN_OK);
        assert_int_equal(o->t[k].shape.dims[0], 2);
        const float *y = o->t[k].data;
        for (size_t i = 0; i < count; i++) {
            if (!isfinite(y[i]))
                fail_msg("%s: output '%s' [%zu] = %g", m->name, l->name, i, (double)y[i]);
            if (act == KN_SPEC_ACT_SIGMOID || act == KN_SPEC_ACT_SOFTMAX)
                assert_true(y[i] >= 0.0f && y[i] <= 1.0f);
            if (act == KN_SPEC_ACT_TANH)
                assert_true(y[i] >= -1.0f && y[i] <= 1.0f);
        }
        if (act == KN_SPEC_ACT_SOFTMAX) {
            size_t row = count / 2;
            for (int b = 0; b < 2; b++) {
                double sum = 0;
                for (size_t i = 0; i < row; i++)
                    sum += y[(size_t)b * row + i];
                assert_true(fabs(sum - 1.0) < 1e-4);
            }
        }
    }
}

/* spec -> ONNX (in memory) -> kiln import: same outputs as the spec model. */
static void check_onnx_roundtrip(const kn_spec *spec, int index, const kn_outputs *want)
{
    kn_graph g;
    kn_error err = {0};
    assert_int_equal(kn_spec_build_graph(spec, index, &g, &err), KN_OK);
    void *data = NULL;
    size_t size = 0;
    if (kn_onnx_export_buffer(&g, &data, &size, &err) != KN_OK)
        fail_msg("%s: export: %s", spec->models[index].name, err.message);
    kn_graph_free(&g);
    kn_model_t *model = NULL;
    kn_status st = kn_model_load_onnx_buffer(data, size, spec->models[index].name, &model, &err);
    free(data);
    if (st != KN_OK)
        fail_msg("%s: import of the export: %s", spec->models[index].name, err.message);
    kn_io_info info;
    assert_int_equal(kn_model_input(model, 0, &info), KN_OK);
    assert_int_equal(info.shape.dims[0], KN_DIM_BATCH); /* the batch stays symbolic */
    kn_outputs got = {0};
    run_model(model, "onnx round trip", &got);
    assert_int_equal(got.count, want->count);
    for (int k = 0; k < got.count; k++) {
        assert_true(kn_shape_equal(&got.t[k].shape, &want->t[k].shape));
        size_t count;
        assert_int_equal(kn_shape_numel(&got.t[k].shape, &count), KN_OK);
        float diff = kn_test_max_abs_diff(got.t[k].data, want->t[k].data, count);
        if (diff > 1e-6f)
            fail_msg("%s: output %d differs after the ONNX round trip by %g", spec->models[index].name, k,
                     (double)diff);
    }
    outputs_free(&got);
    kn_model_free(model);
}

static void test_every_model(void **state)
{
    (void)state;
    char paths[64][512];
    int n = list_specs(paths, 63);
    assert_true(n >= 7);
    snprintf(paths[n++], 512, "%s", KN_SOURCE_DIR "/tests/spec/layers.kiln"); /* every layer kind */
    for (int f = 0; f < n; f++) {
        kn_spec spec;
        kn_error err = {0};
        if (kn_spec_parse_file(paths[f], &spec, &err) != KN_OK)
            fail_msg("%s", err.message);
        if (spec.num_warnings > 0) {
            char buf[1024];
            kn_spec_format_diag(&spec, &spec.diags[0], buf, sizeof buf);
            fail_msg("%s", buf);
        }
        for (int i = 0; i < spec.num_models; i++) {
            const kn_spec_model *m = &spec.models[i];
            check_shapes(&spec, i);
            kn_model_t *model = NULL;
            if (kn_model_load_spec(paths[f], m->name, &model, &err) != KN_OK)
                fail_msg("%s", err.message);
            kn_outputs out = {0};
            run_model(model, m->name, &out);
            kn_model_free(model);
            check_outputs(m, &out);
            check_onnx_roundtrip(&spec, i, &out);
            outputs_free(&out);
        }
        kn_spec_free(&spec);
    }
}

/* Loading by name, the default (first) model, and the error for an unknown name. */
static void test_load_spec_api(void **state)
{
    (void)state;
    const char *path = KN_MODELS_DIR "/mlp_gan.kiln";
    kn_model_t *a = NULL, *b = NULL;
    kn_error err = {0};
    assert_int_equal(kn_model_load(path, &a, &err), KN_OK);
    kn_io_info info;
    assert_int_equal(kn_model_input(a, 0, &info), KN_OK);
    assert_string_equal(info.name, "z"); /* the first model: the generator */
    assert_int_equal(kn_model_output(a, 0, &info), KN_OK);
    assert_string_equal(info.name, "image");
    assert_int_equal(info.shape.rank, 4);
    assert_int_equal(info.shape.dims[0], KN_DIM_BATCH);
    assert_int_equal(kn_model_load_spec(path, "discriminator", &b, &err), KN_OK);
    assert_int_equal(kn_model_output(b, 0, &info), KN_OK);
    assert_string_equal(info.name, "real");
    kn_model_stats stats;
    assert_int_equal(kn_model_get_stats(b, &stats, &err), KN_OK);
    assert_int_equal(stats.num_parameters, 533505); /* 784*512+512 + 512*256+256 + 256+1 */
    kn_model_free(a);
    kn_model_free(b);
    kn_model_t *c = NULL;
    assert_int_equal(kn_model_load_spec(path, "critic", &c, &err), KN_ERR_NOT_FOUND);
    assert_null(c);
    assert_non_null(strstr(err.message, "no model named 'critic' (models: 'generator', 'discriminator')"));
    assert_int_equal(kn_model_load(KN_MODELS_DIR "/no_such.kiln", &c, &err), KN_ERR_IO);
    assert_null(c);
}

/* The same seed gives bit-identical weights and outputs on every load. */
static void test_seeded_weights(void **state)
{
    (void)state;
    const char *path = KN_MODELS_DIR "/resnet_small.kiln";
    kn_outputs a = {0}, b = {0};
    for (int k = 0; k < 2; k++) {
        kn_model_t *m = NULL;
        kn_error err = {0};
        assert_int_equal(kn_model_load(path, &m, &err), KN_OK);
        run_model(m, "resnet_small", k ? &b : &a);
        kn_model_free(m);
    }
    size_t count;
    assert_int_equal(kn_shape_numel(&a.t[0].shape, &count), KN_OK);
    assert_memory_equal(a.t[0].data, b.t[0].data, count * sizeof(float));
    outputs_free(&a);
    outputs_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_present),
        cmocka_unit_test(test_load_spec_api),
        cmocka_unit_test(test_seeded_weights),
        cmocka_unit_test(test_every_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
