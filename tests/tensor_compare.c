/*
 * tensor_compare.c - element-wise tensor comparison for the test programs.
 */
#include "tensor_compare.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static bool kn_cmp_is_float(kn_dtype d)
{
    return d == KN_F32 || d == KN_F64;
}

/* Element i as a double (int64 values beyond 2^53 lose precision, which
 * only matters for messages: integers are compared exactly below). */
static double kn_cmp_get(const kn_tensor *t, size_t i)
{
    switch (t->dtype) {
    case KN_F32: return ((const float *)t->data)[i];
    case KN_F64: return ((const double *)t->data)[i];
    case KN_I64: return (double)((const int64_t *)t->data)[i];
    case KN_I32: return ((const int32_t *)t->data)[i];
    case KN_I8: return ((const int8_t *)t->data)[i];
    case KN_U8: return ((const uint8_t *)t->data)[i];
    case KN_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    default: return NAN;
    }
}

static bool kn_cmp_int_equal(const kn_tensor *a, const kn_tensor *e, size_t i)
{
    switch (a->dtype) {
    case KN_I64: return ((const int64_t *)a->data)[i] == ((const int64_t *)e->data)[i];
    case KN_BOOL: return (((const uint8_t *)a->data)[i] != 0) == (((const uint8_t *)e->data)[i] != 0);
    default: return kn_cmp_get(a, i) == kn_cmp_get(e, i);
    }
}

static void kn_cmp_shape_str(const kn_shape *s, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%" PRId64, i ? "," : "", s->dims[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
}

bool kn_tensor_compare(const kn_tensor *actual, const kn_tensor *expected, double rtol, double atol,
                       kn_cmp_result *r)
{
    memset(r, 0, sizeof *r);
    if (actual->dtype != expected->dtype) {
        snprintf(r->message, sizeof r->message, "dtype %s, expected %s", kn_dtype_name(actual->dtype),
                 kn_dtype_name(expected->dtype));
        return false;
    }
    bool same_shape = actual->shape.rank == expected->shape.rank;
    for (int i = 0; same_shape && i < actual->shape.rank; i++)
        same_shape = actual->shape.dims[i] == expected->shape.dims[i];
    if (!same_shape) {
        char sa[160], se[160];
        kn_cmp_shape_str(&actual->shape, sa, sizeof sa);
        kn_cmp_shape_str(&expected->shape, se, sizeof se);
        snprintf(r->message, sizeof r->message, "shape %s, expected %s", sa, se);
        return false;
    }
    if (kn_dtype_size(actual->dtype) == 0) {
        snprintf(r->message, sizeof r->message, "cannot compare dtype %d", (int)actual->dtype);
        return false;
    }
    size_t n = 0;
    if (kn_shape_numel(&actual->shape, &n) != KN_OK) {
        snprintf(r->message, sizeof r->message, "element count overflows");
        return false;
    }
    if (n > 0 && (!actual->data || !expected->data)) {
        snprintf(r->message, sizeof r->message, "missing data");
        return false;
    }
    r->count = n;
    bool is_float = kn_cmp_is_float(actual->dtype);
    for (size_t i = 0; i < n; i++) {
        bool ok;
        double a = kn_cmp_get(actual, i), e = kn_cmp_get(expected, i);
        if (is_float) {
            if (isnan(e) || isnan(a)) {
                ok = isnan(e) && isnan(a);
            } else if (isinf(e) || isinf(a)) {
                ok = a == e;
            } else {
                double d = fabs(a - e);
                if (d > r->max_abs) {
                    r->max_abs = d;
                    r->max_abs_index = i;
                }
                ok = d <= atol + rtol * fabs(e);
            }
        } else {
            ok = kn_cmp_int_equal(actual, expected, i);
            double d = fabs(a - e);
            if (d > r->max_abs) {
                r->max_abs = d;
                r->max_abs_index = i;
            }
        }
        if (!ok) {
            if (r->mismatches == 0) {
                r->first_bad = i;
                r->first_actual = a;
                r->first_expected = e;
            }
            r->mismatches++;
        }
    }
    r->ok = r->mismatches == 0;
    if (r->ok)
        snprintf(r->message, sizeof r->message, "%zu elements match, max abs diff %.3g", n, r->max_abs);
    else
        snprintf(r->message, sizeof r->message,
                 "%zu of %zu elements differ (rtol %g, atol %g); first at flat index %zu: got %.9g, "
                 "expected %.9g; max abs diff %.3g at flat index %zu",
                 r->mismatches, n, rtol, atol, r->first_bad, r->first_actual, r->first_expected,
                 r->max_abs, r->max_abs_index);
    return r->ok;
}

long kn_tensor_argmax_rows(const kn_tensor *t, long *out, long cap)
{
    if (!kn_cmp_is_float(t->dtype) || t->shape.rank < 1 || t->shape.dims[t->shape.rank - 1] <= 0)
        return -1;
    size_t n = 0;
    if (kn_shape_numel(&t->shape, &n) != KN_OK || n == 0)
        return -1;
    size_t cols = (size_t)t->shape.dims[t->shape.rank - 1];
    size_t rows = n / cols;
    for (size_t r = 0; r < rows && (long)r < cap; r++) {
        size_t best = 0;
        double bv = kn_cmp_get(t, r * cols);
        for (size_t c = 1; c < cols; c++) {
            double v = kn_cmp_get(t, r * cols + c);
            if (v > bv || (isnan(bv) && !isnan(v))) {
                bv = v;
                best = c;
            }
        }
        out[r] = (long)best;
    }
    return (long)rows;
}
