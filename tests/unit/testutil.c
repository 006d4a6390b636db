/* testutil.c - small helpers shared by the cmocka unit tests. */
#include <math.h>
#include <stdio.h>

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
