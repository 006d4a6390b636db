/*
 * test_dnnl_profile.c - the oneDNN backend's per-node profile
 * (kn_session_profile, `kiln bench --profile`) and its placement report
 * (kn_options.explain, `kiln run --explain`).
 *
 * Profile: one entry per node of the compiled graph, in the memory plan's
 * step order, every time >= 0 and every Conv's > 0, and the profiled run's
 * outputs identical to a normal run's (same primitives, same threads: only
 * the stream waits differ). Explain: a graph with a node oneDNN has no
 * mapping for (Gather) and one whose configuration the backend leaves to the
 * reference kernels at compile time (AveragePool, ceil_mode overhang with
 * count_include_pad) must name both, with their reasons, and count the
 * nodes that run on oneDNN. No timing thresholds.
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

#include "dnnl_internal.h"
#include "ir.h"
#include "kiln.h"
#include "runtime_internal.h"
#include "testutil.h"

/* Copy every float output of the session's last run into one buffer. */
static float *outputs_copy(kn_session_t *s, size_t *count)
{
    kn_error err = {0};
    size_t total = 0;
    for (int i = 0; i < kn_session_num_outputs(s); i++) {
        kn_tensor t;
        size_t n = 0;
        assert_int_equal(kn_session_get_output(s, i, &t, &err), KN_OK);
        assert_int_equal(t.dtype, KN_F32);
        assert_int_equal(kn_shape_numel(&t.shape, &n), KN_OK);
        total += n;
    }
    float *all = malloc((total ? total : 1) * sizeof(float));
    assert_non_null(all);
    size_t at = 0;
    for (int i = 0; i < kn_session_num_outputs(s); i++) {
        kn_tensor t;
        size_t n = 0;
        assert_int_equal(kn_session_get_output(s, i, &t, &err), KN_OK);
        assert_int_equal(kn_shape_numel(&t.shape, &n), KN_OK);
        memcpy(all + at, t.data, n * sizeof(float));
        at += n;
    }
    *count = total;
    return all;
}

/*
 * Profile `m` on dnnl at `batch`: the entries follow the memory plan's steps,
 * times are >= 0 (Conv > 0), a label `want_label` appears, and the outputs
 * equal a normal run's.
 */
static void check_profile(const kn_model_t *m, int64_t batch, const char *want_label, const char *what)
{
    kn_error err = {0};
    kn_options opts = {0};
    opts.backend = "dnnl";
    opts.batch = batch;
    opts.threads = 2;
    kn_session_t *s = NULL;
    if (kn_session_create(m, &opts, &s, &err) != KN_OK)
        fail_msg("%s: %s", what, err.message);
    int nin = kn_session_num_inputs(s);
    assert_true(nin >= 1 && nin <= 4);
    const char *names[4];
    kn_tensor in[4];
    float *bufs[4] = {0};
    uint64_t seed = 7;
    for (int i = 0; i < nin; i++) {
        kn_io_info io;
        size_t n = 0;
        assert_int_equal(kn_session_input(s, i, &io), KN_OK);
        assert_int_equal(kn_shape_numel(&io.shape, &n), KN_OK);
        bufs[i] = malloc((n ? n : 1) * sizeof(float));
        assert_non_null(bufs[i]);
        kn_test_fill(&seed, bufs[i], n, -1, 1);
        names[i] = io.name;
        in[i].dtype = KN_F32;
        in[i].shape = io.shape;
        in[i].data = bufs[i];
    }
    if (kn_session_run(s, nin, names, in, &err) != KN_OK)
        fail_msg("%s: run: %s", what, err.message);
    size_t count = 0, count2 = 0;
    float *want = outputs_copy(s, &count);

    kn_memory_plan plan = {0};
    assert_int_equal(kn_session_memory_plan(s, &plan, &err), KN_OK);
    kn_node_time *t = NULL;
    int n = -1;
    if (kn_session_profile(s, nin, names, in, &t, &n, &err) != KN_OK)
        fail_msg("%s: profile: %s", what, err.message);
    assert_non_null(t);
    assert_int_equal(n, plan.num_steps);
    bool label_seen = false;
    int convs = 0;
    for (int i = 0; i < n; i++) {
        char step[512];
        snprintf(step, sizeof step, "%s (%s)", t[i].name, t[i].op);
        assert_string_equal(step, plan.step_names[i]);
        assert_true(t[i].seconds >= 0);
        if (strcmp(t[i].op, "Conv") == 0) {
            if (!(t[i].seconds > 0))
                fail_msg("%s: Conv '%s' has no time", what, t[i].name);
            convs++;
        }
        if (strcmp(t[i].label, want_label) == 0)
            label_seen = true;
    }
    assert_true(convs > 0);
    if (!label_seen)
        fail_msg("%s: no node labelled %s in the profile", what, want_label);

    /* the profiled run computed the same outputs as the normal one */
    float *got = outputs_copy(s, &count2);
    assert_int_equal(count, count2);
    assert_memory_equal(want, got, count * sizeof(float));

    /* a normal run after a profiled one still gives them */
    if (kn_session_run(s, nin, names, in, &err) != KN_OK)
        fail_msg("%s: run after profile: %s", what, err.message);
    free(got);
    got = outputs_copy(s, &count2);
    assert_memory_equal(want, got, count * sizeof(float));

    free(got);
    free(want);
    kn_node_times_free(t);
    kn_memory_plan_free(&plan);
    for (int i = 0; i < nin; i++)
        free(bufs[i]);
    kn_session_free(s);
}

static kn_model_t *load_model(const char *rel_path)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KN_SOURCE_DIR, rel_path);
    kn_error err = {0};
    kn_model_t *m = NULL;
    if (kn_model_load(path, &m, &err) != KN_OK)
        fail_msg("%s: %s", rel_path, err.message);
    return m;
}

static void test_profile_mnist(void **state)
{
    (void)state;
    kn_model_t *m = load_model("models/mnist_small.onnx");
    check_profile(m, 1, "Conv+Relu", "mnist_small batch 1");
    check_profile(m, 3, "Conv+Relu", "mnist_small batch 3");
    kn_model_free(m);
}

/* Residual blocks: fused Conv+Add+Relu, blocked layouts and the reorders around them. */
static void test_profile_residual(void **state)
{
    (void)state;
    kn_model_t *m = load_model("models/resnet_small.kiln");
    check_profile(m, 2, "Conv+Add+Relu", "resnet_small batch 2");
    kn_model_free(m);
}

/* ------------------------------------------------------------- explain */

static void *copy_floats(uint64_t *seed, size_t n)
{
    float *p = malloc(n * sizeof(float));
    assert_non_null(p);
    kn_test_fill(seed, p, n, -0.5f, 0.5f);
    return p;
}

/*
 * x[1,4,7,7] -> Conv 3x3 pad 1 (+Relu, fused) -> AveragePool 2x2 stride 2
 * ceil_mode count_include_pad (an overhanging window oneDNN's pooling cannot
 * count like ONNX: left to the reference kernels at compile time) -> Gather
 * axis 1 (no oneDNN mapping) -> y.
 */
static kn_model_t *build_fallback_model(void)
{
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    uint64_t seed = 11;
    const int64_t xd[] = {1, 4, 7, 7}, wd[] = {6, 4, 3, 3}, bd[] = {6}, idd[] = {2};
    int x = kn_test_add_value(&g, "x", KN_F32, 4, xd, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int w = kn_test_add_value(&g, "w", KN_F32, 4, wd, KN_VALUE_CONST, copy_floats(&seed, 6 * 4 * 3 * 3));
    int b = kn_test_add_value(&g, "b", KN_F32, 1, bd, KN_VALUE_CONST, copy_floats(&seed, 6));
    int64_t *idx = malloc(2 * sizeof *idx);
    assert_non_null(idx);
    idx[0] = 3;
    idx[1] = 0;
    int ids = kn_test_add_value(&g, "ids", KN_I64, 1, idd, KN_VALUE_CONST, idx);
    int c = kn_test_add_tmp(&g, "c"), r = kn_test_add_tmp(&g, "r"), p = kn_test_add_tmp(&g, "p");
    int y = kn_test_add_tmp(&g, "y");

    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    a.window.nspatial = 2;
    a.window.pad_begin[0] = a.window.pad_begin[1] = 1;
    a.window.pad_end[0] = a.window.pad_end[1] = 1;
    const int conv_in[] = {x, w, b};
    assert_int_equal(kn_graph_add_node(&g, "conv", KN_OP_CONV, conv_in, 3, &c, 1, &a, NULL, &err), KN_OK);
    kn_test_add_node(&g, "relu", KN_OP_RELU, &c, 1, r);
    kn_attrs_init(KN_OP_AVERAGE_POOL, &a);
    a.window.nspatial = 2;
    a.window.kernel[0] = a.window.kernel[1] = 2;
    a.window.stride[0] = a.window.stride[1] = 2;
    a.window.ceil_mode = true;
    a.window.count_include_pad = true;
    assert_int_equal(kn_graph_add_node(&g, "pool", KN_OP_AVERAGE_POOL, &r, 1, &p, 1, &a, NULL, &err), KN_OK);
    kn_attrs_init(KN_OP_GATHER, &a);
    a.axis.axis = 1;
    const int gather_in[] = {p, ids};
    assert_int_equal(kn_graph_add_node(&g, "pick", KN_OP_GATHER, gather_in, 2, &y, 1, &a, NULL, &err), KN_OK);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = g;
    return m;
}

/* Create a session of `m` on `backend` with explain on; returns what explain wrote (malloc'd). */
static char *explain_text(const kn_model_t *m, const char *backend)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    kn_options opts = {0};
    opts.backend = backend;
    opts.threads = 2;
    opts.explain = f;
    kn_session_t *s = NULL;
    kn_error err = {0};
    if (kn_session_create(m, &opts, &s, &err) != KN_OK)
        fail_msg("%s: %s", backend, err.message);
    kn_session_free(s);
    long size = ftell(f);
    assert_true(size >= 0);
    char *text = calloc((size_t)size + 1, 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

static void test_explain_fallbacks(void **state)
{
    (void)state;
    kn_model_t *m = build_fallback_model();
    char *text = explain_text(m, "dnnl");
    /* conv (with the Relu fused) runs on oneDNN; the pool and the gather do not */
    if (!strstr(text, "backend dnnl: 1 of 3 nodes run natively, 2 on the reference kernels:\n"))
        fail_msg("no placement summary in:\n%s", text);
    if (!strstr(text, "\n  node 'pick' (Gather): no oneDNN mapping yet\n"))
        fail_msg("the Gather fallback is not explained in:\n%s", text);
    const char *pool = strstr(text, "\n  node 'pool' (AveragePool): ");
    if (!pool)
        fail_msg("the AveragePool fallback is not explained in:\n%s", text);
    const char *end = strchr(pool + 1, '\n');
    assert_non_null(end);
    /* the reason compile found (kn_dnnl_describe's), not an empty or generic one */
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(end - pool - 1), pool + 1);
    if (!strstr(line, "count_include_pad"))
        fail_msg("the AveragePool reason does not say why: '%s'", line);
    assert_null(strstr(text, "node 'conv'"));
    free(text);

    /* the reference backend has no placement hook: no summary */
    text = explain_text(m, "ref");
    assert_null(strstr(text, "backend ref"));
    assert_null(strstr(text, "reference kernels"));
    free(text);
    kn_model_free(m);
}

/* Every node on oneDNN: one summary line and no fallback lines. */
static void test_explain_all_native(void **state)
{
    (void)state;
    kn_graph g;
    kn_graph_init(&g);
    kn_error err;
    uint64_t seed = 5;
    const int64_t xd[] = {2, 3, 5, 5}, wd[] = {4, 3, 3, 3};
    int x = kn_test_add_value(&g, "x", KN_F32, 4, xd, KN_VALUE_INPUT, NULL);
    assert_int_equal(kn_graph_add_input(&g, x, &err), KN_OK);
    int w = kn_test_add_value(&g, "w", KN_F32, 4, wd, KN_VALUE_CONST, copy_floats(&seed, 4 * 3 * 3 * 3));
    int y = kn_test_add_tmp(&g, "y");
    kn_attrs a;
    kn_attrs_init(KN_OP_CONV, &a);
    a.window.nspatial = 2;
    const int in[] = {x, w};
    assert_int_equal(kn_graph_add_node(&g, "conv", KN_OP_CONV, in, 2, &y, 1, &a, NULL, &err), KN_OK);
    assert_int_equal(kn_graph_add_output(&g, y, &err), KN_OK);
    kn_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->graph = g;
    char *text = explain_text(m, "dnnl");
    if (!strstr(text, "backend dnnl: 1 of 1 nodes run natively\n"))
        fail_msg("no placement summary in:\n%s", text);
    assert_null(strstr(text, "reference kernels"));
    free(text);
    kn_model_free(m);
}

/*
 * The convolution layout (backends/dnnl/dnnl_tune.c): KILN_DNNL_CONV_LAYOUT fixes it and --explain says so; an
 * unknown value is an error naming it; unset, an AVX-512 CPU times the three candidates (each named with its time)
 * and then each Winograd-able Conv against oneDNN's kernel, a second session of the same graph reuses both choices,
 * and below AVX-512 there is nothing to time.
 */
static void test_conv_layout_choice(void **state)
{
    (void)state;
    kn_model_t *m = load_model("models/resnet_small.kiln");
    setenv("KILN_DNNL_CONV_LAYOUT", "nChw8c", 1);
    char *text = explain_text(m, "dnnl");
    if (!strstr(text, "backend dnnl: convolution layout nChw8c (KILN_DNNL_CONV_LAYOUT)\n"))
        fail_msg("the fixed layout is not in:\n%s", text);
    free(text);

    setenv("KILN_DNNL_CONV_LAYOUT", "nchw16", 1);
    kn_options opts = {0};
    opts.backend = "dnnl";
    kn_session_t *s = NULL;
    kn_error err = {0};
    assert_int_equal(kn_session_create(m, &opts, &s, &err), KN_ERR_INVALID_ARG);
    assert_null(s);
    if (!strstr(err.message, "KILN_DNNL_CONV_LAYOUT=nchw16: not auto, any, nChw16c or nChw8c"))
        fail_msg("unclear error: %s", err.message);

    unsetenv("KILN_DNNL_CONV_LAYOUT");
    const char *isa = kn_backend_isa("dnnl");
    assert_non_null(isa);
    const bool avx512 = strncmp(isa, "AVX512_CORE", 11) == 0;
    text = explain_text(m, "dnnl");
    if (avx512) {
        const char *line = strstr(text, "backend dnnl: convolution layout ");
        if (!line || (!strstr(line, ", the fastest when compiled (one run: any ") && !strstr(line, ", timed by an ")) ||
            !strstr(line, " ms, nChw16c ") || !strstr(line, " ms, nChw8c "))
            fail_msg("no timed choice in:\n%s", text);
        /* its four 3x3 convolutions are Winograd candidates: each timed against oneDNN's kernel */
        if (kn_dnnl_wino_available() && !strstr(line, " of 4 Winograd-able convolutions on oneDNN's kernel (timed per "
                                                      "node; one run: Winograd on all ") &&
            !(strstr(line, ", timed by an ") && strstr(line, " of 4 Winograd-able convolutions on oneDNN's kernel\n")))
            fail_msg("no per-node Winograd choice in: %s", line);
        free(text);
        text = explain_text(m, "dnnl");
        if (!strstr(text, ", timed by an earlier session of this process (one run: any ") ||
            (kn_dnnl_wino_available() && !strstr(text, " of 4 Winograd-able convolutions on oneDNN's kernel\n")))
            fail_msg("the second session timed again:\n%s", text);
    } else if (!strstr(text, "backend dnnl: convolution layout oneDNN's choice (nChw8c below AVX-512: nothing to "
                              "time)\n")) {
        fail_msg("no note at %s in:\n%s", isa, text);
    }
    free(text);
    kn_model_free(m);
}

/* How long the layout timing runs: three timed runs of a short graph, one of a longer one (DenseNet-121 at batch 8,
 * 0.28 s a run), none (oneDNN's choice kept) past half a second. */
static void test_conv_layout_timed_runs(void **state)
{
    (void)state;
    assert_int_equal(kn_dnnl_tune_timed_runs(0.005, 0.004), 3);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.3, 0.25), 3);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.3, 0.28), 1);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.6, 0.5), 1);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.9, 0.51), 0);
    assert_int_equal(kn_dnnl_tune_timed_runs(40.0, 37.0), 0);
    /* a stall in one run (the other is fast) times the candidate three times */
    assert_int_equal(kn_dnnl_tune_timed_runs(0.003, 0.335), 3);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.335, 0.003), 3);
    assert_int_equal(kn_dnnl_tune_timed_runs(0.004, 0.9), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_mnist),
        cmocka_unit_test(test_profile_residual),
        cmocka_unit_test(test_explain_fallbacks),
        cmocka_unit_test(test_explain_all_native),
        cmocka_unit_test(test_conv_layout_choice),
        cmocka_unit_test(test_conv_layout_timed_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
