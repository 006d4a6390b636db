/*
 * test_profile.c - kn_session_profile: one entry per node of the compiled
 * graph in run order (the memory plan's steps), named as the session graph
 * names them, times >= 0, fused post-ops in the labels, outputs identical to
 * kn_session_run's, and the errors (bad arguments, a backend without
 * per-node timing). No timing thresholds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kiln.h"
#include "testutil.h"

typedef struct fixture {
    kn_model_t *model;
    kn_session_t *session;
    kn_tensor input;
    const char *name;
    float *data;
} fixture;

static void fixture_open(fixture *f, const char *rel_path, int64_t batch)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KN_SOURCE_DIR, rel_path);
    kn_error err = {0};
    memset(f, 0, sizeof *f);
    assert_int_equal(kn_model_load(path, &f->model, &err), KN_OK);
    kn_options opts = {0};
    opts.batch = batch;
    opts.threads = 1;
    assert_int_equal(kn_session_create(f->model, &opts, &f->session, &err), KN_OK);
    assert_int_equal(kn_session_num_inputs(f->session), 1);
    kn_io_info io;
    assert_int_equal(kn_session_input(f->session, 0, &io), KN_OK);
    size_t count;
    assert_int_equal(kn_shape_numel(&io.shape, &count), KN_OK);
    f->data = malloc(count * sizeof(float));
    assert_non_null(f->data);
    uint64_t state = 42;
    kn_test_fill(&state, f->data, count, -1, 1);
    f->name = io.name;
    f->input.dtype = KN_F32;
    f->input.shape = io.shape;
    f->input.data = f->data;
}

static void fixture_close(fixture *f)
{
    kn_session_free(f->session);
    kn_model_free(f->model);
    free(f->data);
}

/* Copy output 0 of the session's last run. */
static float *output_copy(kn_session_t *s, size_t *count)
{
    kn_tensor out;
    kn_error err = {0};
    assert_int_equal(kn_session_get_output(s, 0, &out, &err), KN_OK);
    assert_int_equal(kn_shape_numel(&out.shape, count), KN_OK);
    float *copy = malloc(*count * sizeof(float));
    assert_non_null(copy);
    memcpy(copy, out.data, *count * sizeof(float));
    return copy;
}

/* The profile's entries match the memory plan's steps ("node (Op)"), one per node, in order. */
static void check_structure(const char *rel_path, int64_t batch, const char *want_label)
{
    fixture f;
    fixture_open(&f, rel_path, batch);
    kn_error err = {0};
    kn_memory_plan plan = {0};
    assert_int_equal(kn_session_memory_plan(f.session, &plan, &err), KN_OK);

    assert_int_equal(kn_session_run(f.session, 1, &f.name, &f.input, &err), KN_OK);
    size_t count, count2;
    float *want = output_copy(f.session, &count);

    kn_node_time *t = NULL;
    int n = -1;
    assert_int_equal(kn_session_profile(f.session, 1, &f.name, &f.input, &t, &n, &err), KN_OK);
    assert_non_null(t);
    assert_int_equal(n, plan.num_steps);
    assert_true(n > 0);
    bool label_seen = false;
    double total = 0;
    for (int i = 0; i < n; i++) {
        char step[512];
        snprintf(step, sizeof step, "%s (%s)", t[i].name, t[i].op);
        assert_string_equal(step, plan.step_names[i]);
        assert_true(t[i].seconds >= 0);
        /* the label is the op, then '+' and the fused post-ops */
        size_t len = strlen(t[i].op);
        assert_memory_equal(t[i].label, t[i].op, len);
        assert_true(t[i].label[len] == '\0' || t[i].label[len] == '+');
        if (strcmp(t[i].label, want_label) == 0)
            label_seen = true;
        total += t[i].seconds;
    }
    assert_true(label_seen);
    assert_true(total > 0);

    /* the profiled run computed the same outputs */
    float *got = output_copy(f.session, &count2);
    assert_int_equal(count, count2);
    assert_memory_equal(want, got, count * sizeof(float));
    free(got);
    free(want);

    /* the entries own their names: valid after the session is gone */
    kn_memory_plan_free(&plan);
    char first[256];
    snprintf(first, sizeof first, "%s", t[0].name);
    fixture_close(&f);
    assert_string_equal(t[0].name, first);
    kn_node_times_free(t);
}

static void test_profile_mnist(void **state)
{
    (void)state;
    check_structure("models/mnist_small.onnx", 1, "Conv+Relu");
    check_structure("models/mnist_small.onnx", 3, "MaxPool");
}

static void test_profile_residual(void **state)
{
    (void)state;
    check_structure("models/resnet_small.kiln", 2, "Conv+Add+Relu");
}

static void test_profile_errors(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f, "models/mnist_small.onnx", 1);
    kn_error err = {0};
    kn_node_time *t = (kn_node_time *)&err; /* must be reset */
    int n = 5;
    assert_int_equal(kn_session_profile(f.session, 0, NULL, NULL, &t, &n, &err), KN_ERR_INVALID_ARG);
    assert_null(t);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.message, "was not given"));
    const char *bad = "nosuch";
    assert_int_equal(kn_session_profile(f.session, 1, &bad, &f.input, &t, &n, &err), KN_ERR_NOT_FOUND);
    assert_null(t);
    assert_int_equal(kn_session_profile(f.session, 1, &f.name, &f.input, NULL, &n, &err), KN_ERR_INVALID_ARG);
    assert_int_equal(kn_session_profile(NULL, 1, &f.name, &f.input, &t, &n, &err), KN_ERR_INVALID_ARG);
    kn_node_times_free(NULL);
    fixture_close(&f);
}

/* A backend without per-node timing: a clear KN_ERR_UNSUPPORTED, nothing allocated. */
static void test_profile_unavailable(void **state)
{
    (void)state;
#ifdef KILN_WITH_ONEDNN
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mnist_small.onnx", KN_SOURCE_DIR);
    kn_error err = {0};
    kn_model_t *m = NULL;
    kn_session_t *s = NULL;
    assert_int_equal(kn_model_load(path, &m, &err), KN_OK);
    kn_options opts = {0};
    opts.backend = "dnnl";
    opts.threads = 1;
    assert_int_equal(kn_session_create(m, &opts, &s, &err), KN_OK);
    kn_io_info io;
    assert_int_equal(kn_session_input(s, 0, &io), KN_OK);
    float *x = calloc(28 * 28, sizeof(float));
    assert_non_null(x);
    kn_tensor in = {KN_F32, io.shape, x};
    kn_node_time *t = NULL;
    int n = 0;
    kn_status st = kn_session_profile(s, 1, &io.name, &in, &t, &n, &err);
    if (st != KN_OK) { /* until the backend times its nodes */
        assert_int_equal(st, KN_ERR_UNSUPPORTED);
        assert_string_equal(err.message, "per-node profile not available for backend dnnl");
        assert_null(t);
        assert_int_equal(n, 0);
    }
    kn_node_times_free(t);
    free(x);
    kn_session_free(s);
    kn_model_free(m);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_mnist),
        cmocka_unit_test(test_profile_residual),
        cmocka_unit_test(test_profile_errors),
        cmocka_unit_test(test_profile_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
