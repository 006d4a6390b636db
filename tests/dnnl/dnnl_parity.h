/*
 * dnnl_parity.h - what the oneDNN parity tests (tests/dnnl/) share: running
 * one model on the reference and the oneDNN backend with the same inputs and
 * comparing every output against the documented bound, checking where nodes
 * run, and a small builder for the test graphs.
 *
 * The bound: for every float32 output, max |dnnl - ref| <= tol * max(1,
 * max |ref|), tol = KN_DNNL_TOL (1e-4) unless a case asks for a tighter one;
 * outputs of other dtypes (Shape, Cast to int) must be equal bit for bit.
 * Every comparison prints one line, "parity <what> (batch N): ...", with
 * the worst absolute error, the worst error relative to the bound's scale
 * max(1, max |ref|) and max |ref| of that output, so figures can be quoted
 * from the test log.
 */
#ifndef KN_DNNL_PARITY_H
#define KN_DNNL_PARITY_H

#include <stdbool.h>
#include <stdint.h>

#include "ir.h"
#include "kiln.h"

/** The parity bound: max |dnnl - ref| <= KN_DNNL_TOL * max(1, max |ref|). */
#define KN_DNNL_TOL 1e-4f

/** The result of one comparison (over all outputs of a model). */
typedef struct kn_parity {
    double worst_abs;   /**< largest |dnnl - ref| over all float32 outputs */
    double worst_rel;   /**< largest (max |dnnl - ref|) / max(1, max |ref|) over the outputs */
    int dnnl_nodes;     /**< live nodes of the dnnl session's graph that kn_dnnl_node_runs accepts */
    int ref_nodes;      /**< live nodes it sends to the reference kernels */
    int native_nodes;   /**< live nodes that run on oneDNN after compile (its --explain summary) */
    int wino_nodes;     /**< of those, Convs run as kiln's Winograd kernel (--explain's own-kernel lines) */
    int folded_nodes;   /**< Flattens run as no op, read through by an inner product ("no copy" lines) */
    int in_place_concats; /**< Concats appended in place to their prefix concat's copy */
    int concat_block;   /**< largest channel block of the Concats run as kiln's copies (8: nChw8c, ...; 0: none) */
    int cpu_fallbacks;  /**< accepted nodes compile left to the reference kernels for what oneDNN offers on this
                             CPU ("on this CPU ..." in --explain: only a reference implementation, ...) */
    int cpu_flatten_fallbacks; /**< of those, Flattens (their Gemm's inner product had only a reference one) */
} kn_parity;

/**
 * Run `m` at `batch` (0: 1) on "ref" and "dnnl" with the same uniform random
 * inputs in [-1, 1) and fail (cmocka) when an output breaks the bound with
 * `tol` (0: KN_DNNL_TOL). `expect_dnnl`, when not NULL, names the nodes of
 * the compiled graph that must run on oneDNN, separated by commas; "*"
 * means every node. Both kn_dnnl_node_runs (the decision) and the backend's
 * account after compile (kn_options.explain: a node accepted by the decision
 * can still fall back when oneDNN has no implementation for it) must agree,
 * except for fallbacks whose reason depends on the CPU ("on this CPU": oneDNN
 * has only its reference implementation at this ISA, ...), which are counted
 * and printed.
 * Prints the "parity" line, which lists the nodes left to the reference
 * kernels (with the reason) and, when `show_placement`, those oneDNN
 * accepts; returns the figures.
 */
kn_parity kn_parity_check(const kn_model_t *m, int64_t batch, float tol, const char *expect_dnnl,
                          bool show_placement, const char *what);

/** kn_parity_check with `threads` worker threads (kn_parity_check: 2). */
kn_parity kn_parity_check_threads(const kn_model_t *m, int64_t batch, int threads, float tol,
                                  const char *expect_dnnl, bool show_placement, const char *what);

/**
 * Whether the suite runs with KILN_DNNL_TRAINED_WEIGHTS=1: every weight is
 * treated as one an optimizer writes (reordered at run time, never packed at
 * compile time), as in a training graph. Winograd and the Flatten-as-inner-
 * product fold need constant weights, so their counts are not checked then.
 */
bool kn_parity_trained_weights(void);

/* ------------------------------------------------------------ building */

/** A test graph under construction: weights are drawn from `seed`. */
typedef struct kn_pb {
    kn_graph g;
    uint64_t seed;
} kn_pb;

/** Start an empty graph. */
void kn_pb_init(kn_pb *b);
/** Dimensions written inline: KN_DIMS(1, 16, 8, 8) is a const int64_t array. */
#define KN_DIMS(...) ((const int64_t[]){__VA_ARGS__})
/** A float32 graph input of dims[0..rank). */
int kn_pb_input(kn_pb *b, const char *name, int rank, const int64_t *dims);
/** A float32 weight of dims[0..rank), uniform in [lo, hi). */
int kn_pb_param(kn_pb *b, const char *name, float lo, float hi, int rank, const int64_t *dims);
/** A float32 scalar (rank 0) constant. */
int kn_pb_scalar(kn_pb *b, const char *name, float v);
/** A 1-D int64 constant of n values. */
int kn_pb_ints(kn_pb *b, const char *name, int n, const int64_t *v);
/** Node `name` of `op` with `attrs` (NULL: the op's defaults) reading in[0..nin) (-1: absent input);
 *  returns its one output, a new intermediate value named after the node. */
int kn_pb_node(kn_pb *b, const char *name, kn_op op, const kn_attrs *attrs, int nin, const int *in);
/** Same with up to `nout` outputs; their ids go to out[0..nout). */
void kn_pb_node_n(kn_pb *b, const char *name, kn_op op, const kn_attrs *attrs, int nin, const int *in, int nout,
                  int *out);
/** A unary node with default attributes. */
int kn_pb_unary(kn_pb *b, const char *name, kn_op op, int x);
/** A binary node with default attributes. */
int kn_pb_binary(kn_pb *b, const char *name, kn_op op, int x, int y);
/** A 2-D Conv (square kernel k, stride, symmetric pad, group) from `cin` to `cout` channels with bias. */
int kn_pb_conv(kn_pb *b, const char *name, int x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
               int64_t pad, int64_t group);
/** Mark `v` a graph output. */
void kn_pb_output(kn_pb *b, int v);
/** The model that owns the graph (free with kn_model_free); `b` is emptied. */
kn_model_t *kn_pb_model(kn_pb *b);

/* ------------------------------------------------------------ suites */

/* tests/dnnl/dnnl_graph_cases.c: cmocka tests over graphs of every op family. */
void kn_dnnl_test_binary(void **state);
void kn_dnnl_test_concat(void **state);
void kn_dnnl_test_concat_chain(void **state);
void kn_dnnl_test_fire(void **state);
void kn_dnnl_test_norm(void **state);
void kn_dnnl_test_softmax(void **state);
void kn_dnnl_test_conv_transpose(void **state);
void kn_dnnl_test_pools(void **state);
void kn_dnnl_test_matmul(void **state);
void kn_dnnl_test_post_ops(void **state);
void kn_dnnl_test_tensor_ops(void **state);
void kn_dnnl_test_flatten(void **state);
/* tests/dnnl/dnnl_train_cases.c: the backward ops of training graphs (ConvGradWeight, ActivationGrad). */
void kn_dnnl_test_train_grads(void **state);
/* ten mnist_cnn training steps on dnnl track the reference backend's losses (1e-3) */
void kn_dnnl_test_train_curve(void **state);

#endif /* KN_DNNL_PARITY_H */
