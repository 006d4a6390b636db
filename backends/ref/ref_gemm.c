/*
 * ref_gemm.c - reference Gemm and MatMul (float32; MatMul also float64) on cblas_sgemm/dgemm.
 *
 * Gemm writes beta*C (broadcast per ONNX's unidirectional rule) into Y and
 * lets the sgemm accumulate alpha*A'B' onto it. MatMul follows NumPy: 1-D
 * operands are promoted to a row/column, batch dimensions broadcast; when B
 * has no batch (the common "activations x weight" case) the whole batch of A
 * is folded into one sgemm. Fused post-ops are applied by the executor
 * (kn_ref_apply_fused), not here. Also home of the sgemm helpers of
 * ref_nn.h.
 */
#include <limits.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ref_nn.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

static kn_status blas_dims_ok(const kn_node *node, int64_t a, int64_t b, int64_t c, kn_error *err)
{
    if (a > INT_MAX || b > INT_MAX || c > INT_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): matrix dimensions exceed the BLAS limit",
                            node->name, KN_OPNAME(node));
    return KN_OK;
}

int kn_ref_gemm_threads(void)
{
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
    /* openblas_get_parallel: 0 sequential, 1 pthreads, 2 OpenMP (single-threaded inside a region) */
    if (openblas_get_parallel() == 1 && openblas_get_num_threads() > 1)
        return 1;
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void kn_ref_blas_set_threads(int threads)
{
#ifdef _OPENMP
    /* The pthreads build: its own pool would compete with OpenMP's. (Its OpenMP build must not be told: there
     * openblas_set_num_threads sets the OpenMP thread count.) */
    if (openblas_get_parallel() == 1)
        openblas_set_num_threads(1);
    if (threads > 0)
        omp_set_num_threads(threads);
#else
    if (threads > 0)
        openblas_set_num_threads(threads);
#endif
}

/* Largest number of slabs one product is cut into (see kn_ref_sgemm). */
#define KN_SGEMM_SLABS 8

void kn_ref_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    /* Cut the larger side of C into slabs at least 16 wide, as many as the problem's size says (never the thread
     * count's): each slab is then the same sgemm call whichever thread runs it, so the result is bitwise the same
     * for any number of threads (training on the reference backend relies on it). */
    if ((double)m * (double)n * (double)k >= (double)(1 << 18)) {
        const bool by_rows = m >= n;
        const int64_t dim = by_rows ? m : n;
        const int64_t parts = dim / 16 < KN_SGEMM_SLABS ? dim / 16 : KN_SGEMM_SLABS;
        if (parts >= 2) {
            const int64_t chunk = (dim + parts - 1) / parts;
#ifdef _OPENMP
            const int nth = kn_ref_gemm_threads();
#pragma omp parallel for num_threads(nth < parts ? nth : (int)parts) schedule(static) if (nth > 1)
#endif
            for (int64_t t = 0; t < parts; t++) {
                int64_t lo = t * chunk, hi = lo + chunk < dim ? lo + chunk : dim;
                if (lo >= hi)
                    continue;
                if (by_rows)
                    cblas_sgemm(CblasRowMajor, ta, tb, (int)(hi - lo), (int)n, (int)k, alpha,
                                a + (trans_a ? lo : lo * lda), (int)lda, b, (int)ldb, beta, c + lo * ldc, (int)ldc);
                else
                    cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)(hi - lo), (int)k, alpha, a, (int)lda,
                                b + (trans_b ? lo * ldb : lo), (int)ldb, beta, c + lo, (int)ldc);
            }
            return;
        }
    }
    cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

kn_status kn_ref_gemm(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *A = &in[0], *B = &in[1];
    const kn_tensor *C = (node->num_inputs > 2 && in[2].data) ? &in[2] : NULL;
    kn_tensor *Y = &out[0];
    if (A->dtype != KN_F32 || B->dtype != KN_F32 || Y->dtype != KN_F32 || (C && C->dtype != KN_F32))
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): only float32 is supported", node->name,
                            KN_OPNAME(node));
    const kn_gemm_attrs *ga = &node->attrs.gemm;
    if (A->shape.rank != 2 || B->shape.rank != 2 || Y->shape.rank != 2 || (C && C->shape.rank > 2))
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): unexpected ranks", node->name, KN_OPNAME(node));
    int64_t M = ga->trans_a ? A->shape.dims[1] : A->shape.dims[0];
    int64_t K = ga->trans_a ? A->shape.dims[0] : A->shape.dims[1];
    int64_t Kb = ga->trans_b ? B->shape.dims[1] : B->shape.dims[0];
    int64_t N = ga->trans_b ? B->shape.dims[0] : B->shape.dims[1];
    int64_t cr = 1, cc = 1;
    if (C) {
        cr = C->shape.rank == 2 ? C->shape.dims[0] : 1;
        cc = C->shape.rank >= 1 ? C->shape.dims[C->shape.rank - 1] : 1;
    }
    if (K != Kb || Y->shape.dims[0] != M || Y->shape.dims[1] != N || (cr != 1 && cr != M) ||
        (cc != 1 && cc != N))
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): tensor shapes do not fit together", node->name,
                            KN_OPNAME(node));
    kn_status st = blas_dims_ok(node, M, N, K, err);
    if (st)
        return st;
    if (M == 0 || N == 0)
        return KN_OK;
    float *y = Y->data;
    float beta = 0.0f;
    if (C && ga->beta != 0.0f) {
        const float *c = C->data;
        const float b = ga->beta;
        for (int64_t i = 0; i < M; i++) {
            const float *crow = c + (cr == 1 ? 0 : i * cc);
            float *yrow = y + i * N;
            if (cc == 1) {
                for (int64_t j = 0; j < N; j++)
                    yrow[j] = b * crow[0];
            } else {
                for (int64_t j = 0; j < N; j++)
                    yrow[j] = b * crow[j];
            }
        }
        beta = 1.0f;
    }
    if (K == 0) {
        if (beta == 0.0f)
            memset(y, 0, sizeof(float) * (size_t)(M * N));
        return KN_OK;
    }
    kn_ref_sgemm(ga->trans_a, ga->trans_b, M, N, K, ga->alpha, A->data, A->shape.dims[1], B->data,
                 B->shape.dims[1], beta, y, N);
    return KN_OK;
}

/* The offsets into A and B of product t of a batched MatMul: t's index in the broadcast batch dims od[0..rob),
 * through A's and B's batch strides sa and sb (0 where a side broadcasts). */
static void batch_offsets(int64_t t, int rob, const int64_t *od, const int64_t *sa, const int64_t *sb, int64_t *oa,
                          int64_t *ob)
{
    int64_t rem = t;
    *oa = *ob = 0;
    for (int i = rob - 1; i >= 0; i--) {
        int64_t ix = rem % od[i];
        rem /= od[i];
        *oa += ix * sa[i];
        *ob += ix * sb[i];
    }
}

kn_status kn_ref_matmul(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch,
               kn_error *err)
{
    const kn_tensor *A = &in[0], *B = &in[1];
    kn_tensor *Y = &out[0];
    const bool f64 = A->dtype == KN_F64;
    if ((A->dtype != KN_F32 && !f64) || B->dtype != A->dtype || Y->dtype != A->dtype)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): only float32 and float64 are supported", node->name,
                            KN_OPNAME(node));
    const kn_shape *as = &A->shape, *bs = &B->shape;
    if (as->rank < 1 || bs->rank < 1)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): inputs must have rank 1 or more", node->name,
                            KN_OPNAME(node));
    const int64_t M = as->rank >= 2 ? as->dims[as->rank - 2] : 1;
    const int64_t K = as->dims[as->rank - 1];
    const int64_t Kb = bs->rank >= 2 ? bs->dims[bs->rank - 2] : bs->dims[0];
    const int64_t N = bs->rank >= 2 ? bs->dims[bs->rank - 1] : 1;
    /* batch dims, right-aligned to the output's batch rank */
    const int ra = as->rank > 2 ? as->rank - 2 : 0, rb = bs->rank > 2 ? bs->rank - 2 : 0;
    const int rob = ra > rb ? ra : rb;
    int64_t od[KN_MAX_RANK], sa[KN_MAX_RANK], sb[KN_MAX_RANK];
    int64_t batch = 1, batch_a = 1, batch_b = 1;
    int64_t stride_a = M * K, stride_b = K * N;
    bool ok = K == Kb;
    for (int i = rob - 1; i >= 0; i--) {
        int ia = i - (rob - ra), ib = i - (rob - rb);
        int64_t da = ia >= 0 ? as->dims[ia] : 1, db = ib >= 0 ? bs->dims[ib] : 1;
        od[i] = da > db ? da : db;
        ok = ok && (da == db || da == 1 || db == 1);
        sa[i] = da == 1 ? 0 : stride_a;
        sb[i] = db == 1 ? 0 : stride_b;
        stride_a *= da;
        stride_b *= db;
        batch *= od[i];
        batch_a *= da;
        batch_b *= db;
    }
    /* expected output: batch dims, then M (if A is not 1-D), then N (if B is not 1-D) */
    int yr = rob + (as->rank >= 2) + (bs->rank >= 2);
    ok = ok && Y->shape.rank == yr;
    for (int i = 0; ok && i < rob; i++)
        ok = Y->shape.dims[i] == od[i];
    if (ok && as->rank >= 2)
        ok = Y->shape.dims[rob] == M;
    if (ok && bs->rank >= 2)
        ok = Y->shape.dims[yr - 1] == N;
    if (!ok)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): tensor shapes do not fit together", node->name,
                            KN_OPNAME(node));
    const float *a = A->data, *b = B->data;
    float *y = Y->data;
    if (batch == 0 || M == 0 || N == 0)
        return KN_OK;
    if (K == 0) {
        memset(Y->data, 0, (f64 ? sizeof(double) : sizeof(float)) * (size_t)(batch * M * N));
        return KN_OK;
    }
    const int ldb = bs->rank >= 2 ? (int)N : 1;
    if (f64) {
        /* float64 (ONNX's MatMul takes it; Einsum's node tests use it): one dgemm per product, in order */
        kn_status st = blas_dims_ok(node, M, N, K, err);
        if (st)
            return st;
        const double *da = A->data, *db = B->data;
        double *dy = Y->data;
        for (int64_t t = 0; t < batch; t++) {
            int64_t oa, ob;
            batch_offsets(t, rob, od, sa, sb, &oa, &ob);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0, da + oa, (int)K,
                        db + ob, ldb, 0.0, dy + t * M * N, (int)N);
        }
        return KN_OK;
    }
    if (batch_b == 1 && batch_a == batch) {
        /* B is shared: fold A's batch into the rows of one product */
        kn_status st = blas_dims_ok(node, batch * M, N, K, err);
        if (st)
            return st;
        kn_ref_sgemm(false, false, batch * M, N, K, 1.0f, a, K, b, ldb, 0.0f, y, N);
        return KN_OK;
    }
    kn_status st = blas_dims_ok(node, M, N, K, err);
    if (st)
        return st;
    /* several products: one per thread, each a single-threaded sgemm, when that is allowed */
    const int nth = kn_ref_gemm_threads();
    const bool par = nth > 1 && batch >= 2;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
    for (int64_t t = 0; t < batch; t++) {
        int64_t oa, ob;
        batch_offsets(t, rob, od, sa, sb, &oa, &ob);
        if (par)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a + oa, (int)K,
                        b + ob, ldb, 0.0f, y + t * M * N, (int)N);
        else
            kn_ref_sgemm(false, false, M, N, K, 1.0f, a + oa, K, b + ob, ldb, 0.0f, y + t * M * N, N);
    }
    return KN_OK;
}
