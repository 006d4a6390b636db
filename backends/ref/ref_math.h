/*
 * ref_math.h - branch-free float32 exp, expm1, sigmoid and tanh for the
 * reference backend's element-wise kernels.
 *
 * Everything here is straight-line arithmetic, integer bit operations and
 * selects (no libm calls, no branches), so a `#pragma omp simd` loop that
 * calls these inline functions vectorises. Measured against double-precision
 * libm over a dense sweep of the float range (test_activation_accuracy in
 * tests/unit/test_ref_tensor.c; the same figures with and without FMA):
 *   kn_expf      <= 1.01 ulp (8e-8 relative) for normal results, denormal
 *                   results within one denormal step; +inf above 88.7228,
 *                   +0 below about -103.9, NaN passes through
 *   kn_expm1f    <= 1.8 ulp (no cancellation near 0)
 *   kn_sigmoidf  <= 2.7 ulp (1.9e-7 relative) over the whole range, tiny
 *                   results for large negative inputs included
 *   kn_tanhf     <= 2.5 ulp (1.7e-7 relative), odd, +-1 beyond |x| = 9
 */
#ifndef KN_REF_MATH_H
#define KN_REF_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * Always inlined: a simd loop only vectorises when these are inlined into
 * it, and GCC will not inline a function into a caller compiled with other
 * floating-point options (ref_eltwise.c's loops use -fno-trapping-math).
 */
#if defined(__GNUC__)
#define KN_MATH_INLINE static inline __attribute__((always_inline))
#else
#define KN_MATH_INLINE static inline
#endif

KN_MATH_INLINE uint32_t kn_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

KN_MATH_INLINE float kn_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/**
 * exp(x) in float32: x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite split of
 * ln2 so n*ln2_hi is exact), e^r = 1 + r + r^2 P(r) with P of degree 5,
 * then scaled by 2^n in two steps so results down to the denormals round
 * once. n comes from the round-to-nearest trick (adding 1.5*2^23), not a
 * float-to-int conversion, so NaN never reaches an undefined conversion.
 */
KN_MATH_INLINE float kn_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x != x ? 0.0f : x;
    xc = xc < -104.0f ? -104.0f : xc;
    xc = xc > 89.0f ? 89.0f : xc;
    float t = xc * 1.44269504088896341f + magic;
    float nf = t - magic;
    int32_t n = (int32_t)(kn_f32_bits(t) - kn_f32_bits(magic)); /* in [-150, 128] */
    float r = xc - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t n1 = n / 2, n2 = n - n1; /* each in [-75, 64]: 2^n1, 2^n2 are normal */
    float s1 = kn_f32_from_bits((uint32_t)(n1 + 127) << 23);
    float s2 = kn_f32_from_bits((uint32_t)(n2 + 127) << 23);
    float y = (p * s1) * s2;
    return x != x ? x : y;
}

/**
 * exp(x) - 1 in float32 without cancellation near 0: a Taylor polynomial
 * for |x| < 0.5 (truncation error below 2e-8 relative), kn_expf(x) - 1
 * elsewhere (where the result is at least 0.39 in magnitude).
 */
KN_MATH_INLINE float kn_expm1f(float x)
{
    float p = 1.0f / 40320.0f;
    p = p * x + 1.0f / 5040.0f;
    p = p * x + 1.0f / 720.0f;
    p = p * x + 1.0f / 120.0f;
    p = p * x + 1.0f / 24.0f;
    p = p * x + 1.0f / 6.0f;
    p = p * x + 0.5f;
    float small = x + x * x * p;
    float big = kn_expf(x) - 1.0f;
    return fabsf(x) < 0.5f ? small : big;
}

/** 1 / (1 + exp(-x)), written as e/(1+e) with e = exp(-|x|) for x < 0 so tiny results keep their precision. */
KN_MATH_INLINE float kn_sigmoidf(float x)
{
    float e = kn_expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return s * (x >= 0.0f ? 1.0f : e);
}

/** tanh(x) = e / (e + 2) with e = expm1(2|x|), sign restored; exactly +-1 for |x| > 9. */
KN_MATH_INLINE float kn_tanhf(float x)
{
    float a = fabsf(x);
    float e = kn_expm1f(2.0f * (a > 9.0f ? 9.0f : a));
    float t = e / (e + 2.0f);
    t = a > 9.0f ? 1.0f : t;
    return copysignf(t, x);
}

#endif /* KN_REF_MATH_H */
