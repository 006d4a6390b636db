/* testutil.c - small helpers shared by the cmocka unit tests. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ref.h"
#include "testutil.h"

float kn_test_uniform(uint64_t *state, float lo, float hi)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return lo + (hi - lo) * (float)((x >> 40) * (1.0 / 16777216.0));
}

void kn_test_fill(uint64_t *state, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = kn_test_uniform(state, lo, hi);
}

float kn_test_max_abs_diff(const float *a, const float *b, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

int kn_test_allclose(const float *a, const float *b, size_t n, float rtol, float atol)
{
    for (size_t i = 0; i < n; i++) {
        if (!(fabsf(a[i] - b[i]) <= atol + rtol * fabsf(b[i]))) {
            fprintf(stderr, "mismatch at %zu: got %g, expected %g\n", i, (double)a[i], (double)b[i]);
            return 0;
        }
    }
    return 1;
}

int kn_test_add_value(kn_graph *g, const char *name, kn_dtype dt, int rank, const int64_t *dims,
                      kn_value_kind kind, void *data)
{
    kn_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    int id = -1;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, dt, rank >= 0 ? &s : NULL, kind, data, &id, &err), KN_OK);
    return id;
}

int kn_test_add_tmp(kn_graph *g, const char *name)
{
    int id = -1;
    kn_error err;
    assert_int_equal(kn_graph_add_value(g, name, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, &id, &err),
                     KN_OK);
    return id;
}

void kn_test_add_node(kn_graph *g, const char *name, kn_op op, const int *in, int nin, int out)
{
    kn_error err;
    assert_int_equal(kn_graph_add_node(g, name, op, in, nin, &out, 1, NULL, NULL, &err), KN_OK);
}

kn_shape kn_test_shape(int rank, ...)
{
    kn_shape s = {.rank = rank};
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        s.dims[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

float *kn_test_run_ref(const kn_graph *g, uint64_t seed, size_t *n)
{
    kn_error err = {0};
    void *exe = NULL;
    if (kn_ref_backend.compile(g, NULL, 1, &exe, &err) != KN_OK)
        fail_msg("compile: %s", err.message);
    uint64_t rng = seed;
    for (int i = 0; i < g->num_inputs; i++) {
        const kn_value *v = &g->values[g->inputs[i]];
        size_t count;
        assert_int_equal(kn_shape_numel(&v->shape, &count), KN_OK);
        kn_test_fill(&rng, kn_ref_backend.value_data(exe, g->inputs[i]), count, -2.0f, 2.0f);
    }
    if (kn_ref_backend.run(exe, 0, &err) != KN_OK)
        fail_msg("run: %s", err.message);
    const kn_value *y = &g->values[g->outputs[0]];
    assert_int_equal(kn_shape_numel(&y->shape, n), KN_OK);
    float *out = malloc(*n * sizeof(float) + 1);
    assert_non_null(out);
    memcpy(out, kn_ref_backend.value_data(exe, g->outputs[0]), *n * sizeof(float));
    kn_ref_backend.free(exe);
    return out;
}
