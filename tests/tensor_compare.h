/*
 * tensor_compare.h - element-wise comparison of two dense tensors, shared by
 * the ONNX node test runner and the .npy comparer of the model tests.
 */
#ifndef KN_TESTS_TENSOR_COMPARE_H
#define KN_TESTS_TENSOR_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "kiln.h"

/** What a comparison found. */
typedef struct kn_cmp_result {
    bool ok;                 /**< dtype and shape agree and every element is within tolerance */
    size_t count;            /**< elements compared */
    size_t mismatches;       /**< elements outside the tolerance */
    size_t first_bad;        /**< index of the first mismatch (when mismatches > 0) */
    double first_actual, first_expected;
    double max_abs;          /**< largest |actual - expected| over finite pairs */
    size_t max_abs_index;
    char message[512];       /**< one line: why it failed, or a summary */
} kn_cmp_result;

/**
 * Compare `actual` with `expected`. Dtypes and shapes must be equal. Float
 * elements (float32/float64) pass when |a - e| <= atol + rtol * |e|, or
 * when both are NaN, or both are the same infinity; other dtypes must be
 * equal exactly. Fills *r (r->message says what went wrong) and returns r->ok.
 */
bool kn_tensor_compare(const kn_tensor *actual, const kn_tensor *expected, double rtol, double atol,
                       kn_cmp_result *r);

/**
 * Row-wise argmax of a float tensor of rank >= 1 over its last axis: rows =
 * numel / last dim. Writes at most `cap` indices into out[] and returns the
 * number of rows, or -1 when the tensor is not float or is empty.
 */
long kn_tensor_argmax_rows(const kn_tensor *t, long *out, long cap);

#endif /* KN_TESTS_TENSOR_COMPARE_H */
