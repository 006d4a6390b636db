/*
 * ref_nn.h - helpers shared by the reference backend's neural-network
 * kernels (ref_conv.c, ref_gemm.c, ref_pool.c, ref_norm.c): OpenMP and SIMD
 * macros, the sgemm wrapper, and window index ranges.
 *
 * Two ways to use the cores: OpenBLAS's own threads inside one sgemm, or
 * OpenMP threads that each run a single-threaded sgemm on a tile (with
 * im2col done per tile, in cache). The second is used whenever an sgemm may
 * safely run inside an OpenMP region: OpenBLAS is the OpenMP or sequential
 * build, or the pthreads build limited to one thread
 * (openblas_set_num_threads(1)). Otherwise kernels call sgemm from one
 * thread and let OpenBLAS parallelise it.
 */
#ifndef KN_REF_NN_H
#define KN_REF_NN_H

#include <cblas.h>

#include "ref.h"

#define KN_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
/** `#pragma omp parallel for` over a loop whose body is worth threading when `cond` holds. */
#define KN_OMP_FOR(cond) KN_PRAGMA(omp parallel for schedule(static) if (cond))
/** Vectorise the next inner loop (its iterations are independent; no aliasing between them). */
#define KN_OMP_SIMD KN_PRAGMA(omp simd)
/** The same for a reduction loop: KN_OMP_SIMD_REDUCTION(+, sum). */
#define KN_OMP_SIMD_REDUCTION(op, var) KN_PRAGMA(omp simd reduction(op : var))
#else
#define KN_OMP_FOR(cond)
#define KN_OMP_SIMD
#define KN_OMP_SIMD_REDUCTION(op, var)
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

/** Scratch bytes of a Conv or ConvTranspose node (see kn_ref_scratch_bytes). */
size_t kn_ref_conv_scratch_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out, int threads);
/** Scratch bytes of a ConvGradWeight node: the im2col of one image and group (0 for a 1x1 identity window). */
size_t kn_ref_conv_grad_weight_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out);
/** Scratch bytes of a MaxPool or AveragePool node: its tap tables. */
size_t kn_ref_pool_scratch_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out);
/** Scratch bytes of an LRNGrad node: one sample of float32 (ref_norm.c). */
size_t kn_ref_lrn_grad_bytes(const kn_node *node, const kn_tensor *in, const kn_tensor *out);

/**
 * Indices i in [*lo, *hi) of 0..n-1 with 0 <= o0 + i*s < lim (s > 0); *lo ==
 * *hi when there are none. With o0 = k*d - pad, s = stride it gives the
 * output positions a kernel tap reads inside the input (and the reverse).
 */
static inline void kn_valid_range(int64_t o0, int64_t s, int64_t lim, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t l = o0 >= 0 ? 0 : (-o0 + s - 1) / s;
    int64_t h = o0 >= lim ? 0 : (lim - 1 - o0) / s + 1;
    if (l > n)
        l = n;
    if (h > n)
        h = n;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

#endif /* KN_REF_NN_H */
