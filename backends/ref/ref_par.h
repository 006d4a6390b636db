/*
 * ref_par.h - parallelism helpers shared by the reference backend's
 * neural-network kernels (ref_conv.c, ref_gemm.c, ref_pool.c, ref_norm.c).
 *
 * Two ways to use the cores: OpenBLAS's own threads inside one sgemm, or
 * OpenMP threads that each run a single-threaded sgemm on a tile (with
 * im2col done per tile, in cache). The second is used whenever an sgemm may
 * safely run inside an OpenMP region: OpenBLAS is the OpenMP or sequential
 * build, or the pthreads build limited to one thread
 * (openblas_set_num_threads(1)). Otherwise kernels call sgemm from one
 * thread and let OpenBLAS parallelise it.
 */
#ifndef KN_REF_PAR_H
#define KN_REF_PAR_H

#include <cblas.h>

#include "ref.h"

#define KN_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
/** `#pragma omp parallel for` over a loop whose body is worth threading when `cond` holds. */
#define KN_OMP_FOR(cond) KN_PRAGMA(omp parallel for schedule(static) if (cond))
/** Vectorise the next inner loop (its iterations are independent; no aliasing between them). */
#define KN_OMP_SIMD KN_PRAGMA(omp simd)
#else
#define KN_OMP_FOR(cond)
#define KN_OMP_SIMD
#endif

/**
 * Compile a hot, non-BLAS function twice, for AVX2+FMA (x86-64-v3) and for
 * the baseline, and pick at load time (GCC function multi-versioning): the
 * build itself targets the baseline ISA. Multiply-adds may contract to FMA
 * there (ISO C mode turns contraction off by default).
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define KN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#else
#define KN_SIMD_CLONES
#endif

/** Elements touched below which a loop stays on one thread. */
#define KN_PAR_MIN 32768

/**
 * Number of OpenMP threads that may each call a single-threaded sgemm at
 * once: 1 when OpenBLAS runs its own thread pool (or inside a parallel region,
 * or without OpenMP), else omp_get_max_threads().
 */
int kn_ref_gemm_threads(void);

/**
 * Row-major C = alpha * op(A) op(B) + beta * C, like cblas_sgemm, split over
 * kn_ref_gemm_threads() OpenMP threads by rows or columns of C when that
 * pays off. Dimensions must fit in int (callers check).
 */
void kn_ref_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif /* KN_REF_PAR_H */
