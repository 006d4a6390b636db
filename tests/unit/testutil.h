/* testutil.h - small helpers shared by the cmocka unit tests. */
#ifndef KN_TESTUTIL_H
#define KN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/** Deterministic xorshift generator: uniform float in [lo, hi). */
float kn_test_uniform(uint64_t *state, float lo, float hi);
/** Fill n floats uniformly in [lo, hi). */
void kn_test_fill(uint64_t *state, float *x, size_t n, float lo, float hi);
/** Largest |a[i] - b[i]|. */
float kn_test_max_abs_diff(const float *a, const float *b, size_t n);
/** True when every |a-b| <= atol + rtol*|b|; prints the first failure. */
int kn_test_allclose(const float *a, const float *b, size_t n, float rtol, float atol);


/*
 * Graph-building helpers. Each asserts (cmocka) that the underlying kn_graph
 * call returns KN_OK, so a test fails at the line that built a bad graph.
 */

/** Add value `name` to `g` with the given dtype, kind and data; `rank` >= 0 gives it the shape
 *  dims[0..rank), `rank` < 0 leaves it without one. Returns the new value's id. */
int kn_test_add_value(kn_graph *g, const char *name, kn_dtype dt, int rank, const int64_t *dims,
                      kn_value_kind kind, void *data);
/** Add intermediate value `name` to `g` with no dtype and no shape (left for inference). Returns its id. */
int kn_test_add_tmp(kn_graph *g, const char *name);
/** Add node `name` of `op` to `g`, reading in[0..nin) and writing the single output value `out`; no attributes. */
void kn_test_add_node(kn_graph *g, const char *name, kn_op op, const int *in, int nin, int out);
/** A shape of `rank` dims, given as `rank` int arguments. */
kn_shape kn_test_shape(int rank, ...);
/** Run `g` on the reference backend with every graph input filled uniformly in [-2, 2) from `seed`
 *  (so two graphs with the same inputs get the same data); returns output 0, malloc'd, *n elements. */
float *kn_test_run_ref(const kn_graph *g, uint64_t seed, size_t *n);

#endif
