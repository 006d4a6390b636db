/*
 * spec_init.c - seeded weight initializers. Every weight has its own random
 * stream, derived from (seed, model name, weight name) with FNV-1a and
 * splitmix64, so one seed gives the same weights on every machine and
 * backend, and adding a layer leaves the other layers' weights unchanged.
 * Scales follow Keras (VarianceScaling; truncated normals cut at two
 * standard deviations and rescaled by 0.87962566103423978).
 */
#include <math.h>
#include <string.h>

#include "spec_priv.h"

typedef struct kn_rng {
    uint64_t state;
} kn_rng;

static uint64_t kn_rng_next(kn_rng *r)
{
    return kn_splitmix64(&r->state);
}

/* Uniform in [0, 1). */
static double kn_rng_uniform(kn_rng *r)
{
    return (double)(kn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller, cosine branch). */
static double kn_rng_normal(kn_rng *r)
{
    double u1 = 1.0 - kn_rng_uniform(r); /* (0, 1] */
    double u2 = kn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Standard normal truncated to [-2, 2]. */
static double kn_rng_truncated(kn_rng *r)
{
    for (;;) {
        double z = kn_rng_normal(r);
        if (z >= -2.0 && z <= 2.0)
            return z;
    }
}

void kn_spec_init_fill(const kn_spec_init *init, uint64_t seed, const char *model, const char *param,
                       int64_t fan_in, int64_t fan_out, float *data, size_t count)
{
    uint64_t h = kn_fnv1a(KN_FNV1A_BASIS, model);
    h = kn_fnv1a(h ^ 0x2F, "/");
    h = kn_fnv1a(h, param);
    kn_rng r = {seed * 0x9E3779B97F4A7C15ull ^ h};
    kn_rng_next(&r);
    double fi = fan_in > 0 ? (double)fan_in : 1.0, fo = fan_out > 0 ? (double)fan_out : 1.0;
    const double trunc_fix = 0.87962566103423978;
    double scale = 0.0;
    int mode = 0; /* 0 constant, 1 uniform(-scale, scale), 2 truncated normal(scale), 3 normal(a, b), 4 uniform(a, b) */
    double cval = 0.0;
    switch (init->kind) {
    case KN_SPEC_INIT_GLOROT_UNIFORM: mode = 1, scale = sqrt(6.0 / (fi + fo)); break;
    case KN_SPEC_INIT_GLOROT_NORMAL: mode = 2, scale = sqrt(2.0 / (fi + fo)) / trunc_fix; break;
    case KN_SPEC_INIT_HE_NORMAL: mode = 2, scale = sqrt(2.0 / fi) / trunc_fix; break;
    case KN_SPEC_INIT_HE_UNIFORM: mode = 1, scale = sqrt(6.0 / fi); break;
    case KN_SPEC_INIT_LECUN_NORMAL: mode = 2, scale = sqrt(1.0 / fi) / trunc_fix; break;
    case KN_SPEC_INIT_LECUN_UNIFORM: mode = 1, scale = sqrt(3.0 / fi); break;
    case KN_SPEC_INIT_ZEROS: cval = 0.0; break;
    case KN_SPEC_INIT_ONES: cval = 1.0; break;
    case KN_SPEC_INIT_CONSTANT: cval = init->a; break;
    case KN_SPEC_INIT_NORMAL: mode = 3; break;
    case KN_SPEC_INIT_UNIFORM: mode = 4; break;
    case KN_SPEC_INIT_KIND_COUNT: break;
    }
    for (size_t i = 0; i < count; i++) {
        double x;
        switch (mode) {
        case 1: x = (2.0 * kn_rng_uniform(&r) - 1.0) * scale; break;
        case 2: x = kn_rng_truncated(&r) * scale; break;
        case 3: x = init->a + init->b * kn_rng_normal(&r); break;
        case 4: x = init->a + (init->b - init->a) * kn_rng_uniform(&r); break;
        default: x = cval; break;
        }
        data[i] = (float)x;
    }
}
