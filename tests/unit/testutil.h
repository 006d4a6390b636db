/* testutil.h - small helpers shared by the cmocka unit tests. */
#ifndef KN_TESTUTIL_H
#define KN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/** Deterministic xorshift generator: uniform float in [lo, hi). */
float kn_test_uniform(uint64_t *state, float lo, float hi);
/** Fill n floats uniformly in [lo, hi). */
void kn_test_fill(uint64_t *state, float *x, size_t n, float lo, float hi);
/** Largest |a[i] - b[i]|. */
float kn_test_max_abs_diff(const float *a, const float *b, size_t n);
/** True when every |a-b| <= atol + rtol*|b|; prints the first failure. */
int kn_test_allclose(const float *a, const float *b, size_t n, float rtol, float atol);

#endif
