/*
 * dnnl_wino.c - 3x3 stride-1 convolutions as Winograd F(4x4, 3x3) on 8-channel
 * views of oneDNN's layouts (nChw8c, nChw16c, nhwc: kn_dnnl_view),
 * kiln's own kernel in the oneDNN backend (see dnnl_internal.h).
 *
 * A strided KxK convolution with 2s < K <= 3s (5x5 stride 2, 7x7..9x9
 * stride 3) takes the same kernel after a space-to-depth split: output o
 * reads x[s*o + kk - p] for taps kk = s*j + r, so with the s*s phase planes
 * z_r[i] = x[s*i + r - p] it is a stride-1, 3-tap, unpadded convolution over
 * s*s times the input channels, whose weights g'[r][j] = g[s*j + r] (zero
 * where s*j + r >= K). The phases are read straight from the input (strided);
 * the products gain channels (s*s*C) and lose the 144/36 of Winograd's taps
 * against the direct kernel's K*K.
 *
 * A strided ConvTranspose (same K and s) splits the other way, into s*s
 * output phases: output o = s*q + r - p sums x[q - j] w[s*j + r] over the
 * three taps j, a stride-1 3x3 convolution of x with flipped taps per phase.
 * The phases become s*s times the output channels of one product (K'
 * = s*s*M), and the output transform writes each phase's 4x4 tile to every
 * s-th row and column (the sub-pixel view of a deconvolution).
 *
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A for each 6x6 input tile d giving a
 * 4x4 output tile: 36 multiplications per output tile and channel pair
 * instead of 144. The weights are transformed once at compile time (in
 * double); a run takes tiles in chunks (one per thread at a time): input
 * transform into V[36][tiles][C], 36 matrix products V[xi] x U[xi] (a 6x16
 * register-blocked micro-kernel on U packed at compile time), output transform with bias,
 * residual and activation into the destination (its padded lanes zero,
 * and the input's padded lanes never read: what they hold cannot reach a
 * real channel). When there are too
 * few tiles to share, the threads split the output channels instead.
 *
 * The hot loops use AVX2 + FMA (function attributes); the backend only
 * builds this kernel when the CPU has both and oneDNN's ISA (its
 * DNNL_MAX_CPU_ISA cap included) is AVX2 or above (kn_dnnl_wino_available),
 * so that a capped run behaves as the smaller CPU would. On AVX-512 (AMD
 * Zen 4, oneDNN's brgconv in nhwc) it measured faster than oneDNN's direct
 * convolution too: ResNet-18 at batch 1, 2 threads, 14.5 ms against 19.0 ms;
 * batch 8: 85 against 148 ms.
 */
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

typedef float kn_v8 __attribute__((vector_size(32), aligned(4)));

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define KN_WINO_X86 1
#define KN_WINO_HOT __attribute__((target("avx2,fma")))
/* max(0, y) per lane; a NaN stays NaN (maxps returns its second operand when either is NaN). */
KN_WINO_HOT static inline kn_v8 kn_wino_relu(kn_v8 y)
{
    return (kn_v8)_mm256_max_ps(_mm256_setzero_ps(), (__m256)y);
}
#else
#define KN_WINO_HOT
static inline kn_v8 kn_wino_relu(kn_v8 y)
{
    for (int c = 0; c < 8; c++)
        y[c] = y[c] > 0.0f || y[c] != y[c] ? y[c] : 0.0f;
    return y;
}
#endif

/*
 * Tiles per chunk at most. Each chunk reads all of U (36 x C x K floats:
 * 37.7 MB for 512 channels) once, so chunks must be long; 48 to 240 measured
 * the same on ResNet-18 (V and M need not fit in L2).
 */
#define KN_WINO_MAX_TILES 96

bool kn_dnnl_wino_available(void)
{
    const char *env = getenv("KILN_DNNL_WINOGRAD");
    if (env && strcmp(env, "0") == 0)
        return false;
#ifdef KN_WINO_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && kn_dnnl_isa_at_least_avx2();
#else
    return false;
#endif
}

/* G (6x3) of F(4x4, 3x3): U = G g G^T. */
static const double kn_wino_g[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/*
 * U = G g G^T for 16 output channels at once (their lanes l; a vectorisable loop: the weights of a training graph
 * are transformed at every run, 8192 channel pairs of cifar_cnn's 64 -> 128 layer took 2.5 ms one pair at a time):
 * taps g[3][3][l] into u16[xi * xstride + l] for the 36 products xi.
 */
static void kn_wino_u16(const double g[3][3][16], float *u16, int64_t xstride)
{
    double t[6][3][16]; /* G g */
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
            for (int l = 0; l < 16; l++)
                t[i][j][l] = kn_wino_g[i][0] * g[0][j][l] + kn_wino_g[i][1] * g[1][j][l] + kn_wino_g[i][2] * g[2][j][l];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            float *row = u16 + (int64_t)(i * 6 + j) * xstride;
            for (int l = 0; l < 16; l++)
                row[l] = (float)(t[i][0][l] * kn_wino_g[j][0] + t[i][1][l] * kn_wino_g[j][1] +
                                 t[i][2][l] * kn_wino_g[j][2]);
        }
}

/*
 * U = G g G^T of OIHW weights w[k][c][ks][ks] split into s*s phases of 3x3
 * taps (s = 1, ks = 3: the weights themselves; see the file comment), packed
 * for the matrix products: u[xi][k / 16][phase * cp + c][k % 16]
 * (36 x kp/16 x s*s*cp x 16 floats, zero-padded; kp a multiple of 16).
 */
static void kn_wino_weights(const float *w, int64_t k_count, int64_t c_count, int ks, int s, int64_t cp, int64_t kp,
                            float *u)
{
    const int64_t depth = (int64_t)s * s * cp, kblocks = kp / 16;
    memset(u, 0, (size_t)36 * (size_t)depth * (size_t)kp * sizeof(float));
    for (int ry = 0; ry < s; ry++)
        for (int rx = 0; rx < s; rx++)
            for (int64_t c = 0; c < c_count; c++)
                for (int64_t kb = 0; kb < kblocks; kb++) {
                    double g[3][3][16]; /* this phase's taps of output channels kb * 16 + l */
                    for (int jy = 0; jy < 3; jy++)
                        for (int jx = 0; jx < 3; jx++) {
                            const int y = s * jy + ry, x = s * jx + rx;
                            for (int l = 0; l < 16; l++) {
                                const int64_t k = kb * 16 + l;
                                g[jy][jx][l] = k < k_count && y < ks && x < ks ? w[(k * c_count + c) * ks * ks + y * ks + x]
                                                                                : 0.0;
                            }
                        }
                    const int64_t row = (ry * s + rx) * cp + c;
                    kn_wino_u16(g, u + (kb * depth + row) * 16, kblocks * depth * 16);
                }
}

/*
 * U of a ConvTranspose's weights w[c][m][ks][ks] (IOHW) split into os*os
 * output phases of 3x3 flipped taps: g'[t] = w[os*(2 - t) + r] (zero past
 * the kernel), packed u[xi][k / 16][c][k % 16] with k = phase * kq + m.
 */
static void kn_wino_weights_deconv(const float *w, int64_t c_count, int64_t m_count, int ks, int os, int64_t cp,
                                   int64_t kq, int64_t kp, float *u)
{
    const int64_t kblocks = kp / 16;
    memset(u, 0, (size_t)36 * (size_t)cp * (size_t)kp * sizeof(float));
    for (int64_t c = 0; c < c_count; c++)
        for (int64_t kb = 0; kb < kblocks; kb++) {
            double g[3][3][16];
            for (int l = 0; l < 16; l++) {
                const int64_t k = kb * 16 + l, ph = k / kq, m = k % kq;
                const int ry = (int)(ph / os), rx = (int)(ph % os);
                for (int jy = 0; jy < 3; jy++)
                    for (int jx = 0; jx < 3; jx++) {
                        const int y = os * (2 - jy) + ry, x = os * (2 - jx) + rx;
                        g[jy][jx][l] = ph < (int64_t)os * os && m < m_count && y < ks && x < ks
                                           ? w[(c * m_count + m) * ks * ks + y * ks + x]
                                           : 0.0;
                    }
            }
            kn_wino_u16(g, u + (kb * cp + c) * 16, kblocks * cp * 16);
        }
}

/* U and the bias of plan p from weights w and bias b (NULL: none, the bias stays zero). */
static void kn_wino_transform(kn_dnnl_wino *p, const float *w, const float *b)
{
    const int64_t cp = p->cb * 8;
    if (p->deconv)
        kn_wino_weights_deconv(w, p->wc, p->wk, (int)p->wks, (int)p->os, cp, p->kq, p->kp, p->u);
    else
        kn_wino_weights(w, p->wk, p->wc, (int)p->wks, (int)p->s, cp, p->kp, p->u);
    for (int64_t ph = 0; b && ph < p->os * p->os; ph++) /* the bias of every phase */
        memcpy(p->bias + ph * p->kq, b, (size_t)p->wk * sizeof(float));
}

/* B^T applied to six 8-channel vectors (one row or column of a 6x6 tile). */
#define KN_WINO_BT(d, r)                                                                                   \
    do {                                                                                                   \
        const kn_v8 kn_a_ = (d)[4] - 4.0f * (d)[2], kn_b_ = (d)[3] - 4.0f * (d)[1];                         \
        const kn_v8 kn_c_ = (d)[4] - (d)[2], kn_e_ = 2.0f * ((d)[3] - (d)[1]);                              \
        (r)[0] = 4.0f * (d)[0] - 5.0f * (d)[2] + (d)[4];                                                   \
        (r)[1] = kn_a_ + kn_b_;                                                                            \
        (r)[2] = kn_a_ - kn_b_;                                                                            \
        (r)[3] = kn_c_ + kn_e_;                                                                            \
        (r)[4] = kn_c_ - kn_e_;                                                                            \
        (r)[5] = 4.0f * (d)[1] - 5.0f * (d)[3] + (d)[5];                                                   \
    } while (0)

/* A^T applied to six 8-channel vectors: four outputs. */
#define KN_WINO_AT(m, o)                                                                                   \
    do {                                                                                                   \
        const kn_v8 kn_p_ = (m)[1] + (m)[2], kn_q_ = (m)[1] - (m)[2];                                       \
        const kn_v8 kn_r_ = (m)[3] + (m)[4], kn_s_ = (m)[3] - (m)[4];                                       \
        (o)[0] = (m)[0] + kn_p_ + kn_r_;                                                                   \
        (o)[1] = kn_q_ + 2.0f * kn_s_;                                                                     \
        (o)[2] = kn_p_ + 4.0f * kn_r_;                                                                     \
        (o)[3] = kn_q_ + 8.0f * kn_s_ + (m)[5];                                                            \
    } while (0)

/*
 * Input transform of tiles [t0, t0 + count) into rows row0.. of
 * v[36][tc][depth]: each phase (ry, rx) of the input (one when s = 1) gives
 * cp of the depth channels.
 */
KN_WINO_HOT static void kn_wino_input(const kn_dnnl_wino *p, const float *src, int64_t t0, int64_t count,
                                      int64_t row0, float *v)
{
    const int64_t cp = p->cb * 8, depth = p->s * p->s * cp, per_image = p->th * p->tw, s = p->s;
    for (int64_t t = 0; t < count; t++) {
        const int64_t tile = t0 + t, img = tile / per_image, ty = tile % per_image / p->tw, tx = tile % p->tw;
        for (int64_t ry = 0; ry < s; ry++)
            for (int64_t rx = 0; rx < s; rx++) {
                /* input row and column of the tile's first element: rows y0 + s * i, columns x0 + s * j */
                const int64_t y0 = s * ty * 4 + ry + p->iy0, x0 = s * tx * 4 + rx + p->ix0;
                const bool inside = y0 >= 0 && x0 >= 0 && y0 + s * 5 < p->h && x0 + s * 5 < p->w;
                const int64_t c0 = (ry * s + rx) * cp;
                for (int64_t cb = 0; cb < p->cb; cb++) {
                    const float *plane = src + img * p->in.sn + kn_dnnl_view_group(&p->in, cb);
                    const int lanes = kn_dnnl_view_lanes(&p->in, cb);
                    kn_v8 d[6][6], r[6][6], col[6], out[6];
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) {
                            const int64_t y = y0 + s * i, x = x0 + s * j;
                            if (inside || (y >= 0 && y < p->h && x >= 0 && x < p->w))
                                d[i][j] = *(const kn_v8 *)(plane + y * p->in.sh + x * p->in.sw);
                            else
                                d[i][j] = (kn_v8){0};
                            for (int l = lanes; l < 8; l++) /* a padded block's lanes: never read */
                                d[i][j][l] = 0.0f;
                        }
                    for (int j = 0; j < 6; j++) { /* columns: B^T d */
                        for (int i = 0; i < 6; i++)
                            col[i] = d[i][j];
                        KN_WINO_BT(col, out);
                        for (int i = 0; i < 6; i++)
                            r[i][j] = out[i];
                    }
                    for (int i = 0; i < 6; i++) { /* rows: (B^T d) B */
                        KN_WINO_BT(r[i], out);
                        for (int j = 0; j < 6; j++)
                            *(kn_v8 *)(v + ((int64_t)(i * 6 + j) * p->tc + row0 + t) * depth + c0 + cb * 8) = out[j];
                    }
                }
            }
    }
}

/*
 * Output transform of tiles [t0, t0 + count), output channels [k0, k0 + ks)
 * from m[36][tc][ks]. A ConvTranspose's channel k is phase k / kq's output
 * channel k % kq: its tile lands on every os-th row and column.
 */
KN_WINO_HOT static void kn_wino_output(const kn_dnnl_wino *p, const float *m, int64_t t0, int64_t count, int64_t k0,
                                       int64_t ks, const float *res, float *dst)
{
    const int64_t per_image = p->th * p->tw, os = p->os, kend = os * os * p->kq;
    for (int64_t t = 0; t < count; t++) {
        const int64_t tile = t0 + t, img = tile / per_image, ty = tile % per_image / p->tw, tx = tile % p->tw;
        for (int64_t kk = 0; kk < ks && k0 + kk < kend; kk += 8) {
            const int64_t phase = (k0 + kk) / p->kq, kb = (k0 + kk) % p->kq / 8;
            /* output row and column of the tile's first element, and their steps */
            const int64_t oy0 = os * (p->qy0 + ty * 4) + phase / os - p->dpt;
            const int64_t ox0 = os * (p->qx0 + tx * 4) + phase % os - p->dpl;
            kn_v8 r[4][6], col[6], o[4], y[4][4];
            for (int j = 0; j < 6; j++) { /* columns: A^T M */
                for (int i = 0; i < 6; i++)
                    col[i] = *(const kn_v8 *)(m + ((int64_t)(i * 6 + j) * p->tc + t) * ks + kk);
                KN_WINO_AT(col, o);
                for (int i = 0; i < 4; i++)
                    r[i][j] = o[i];
            }
            const kn_v8 bias = *(const kn_v8 *)(p->bias + k0 + kk);
            for (int i = 0; i < 4; i++) { /* rows: (A^T M) A */
                KN_WINO_AT(r[i], o);
                for (int j = 0; j < 4; j++)
                    y[i][j] = o[j] + bias;
            }
            bool in_y[4], in_x[4];
            for (int i = 0; i < 4; i++) {
                in_y[i] = oy0 + os * i >= 0 && oy0 + os * i < p->oh;
                in_x[i] = ox0 + os * i >= 0 && ox0 + os * i < p->ow;
            }
            const int64_t plane = img * p->out.sn + kn_dnnl_view_group(&p->out, kb);
            const int lanes = kn_dnnl_view_lanes(&p->out, kb);
#define KN_WINO_AT_YX(i, j) (plane + (oy0 + os * (i)) * p->out.sh + (ox0 + os * (j)) * p->out.sw)
            if (res)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        if (in_y[i] && in_x[j])
                            y[i][j] += *(const kn_v8 *)(res + KN_WINO_AT_YX(i, j));
            if (p->act == KN_OP_RELU) {
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        y[i][j] = kn_wino_relu(y[i][j]);
            } else if (p->act != KN_OP_COUNT) {
                kn_ref_activation(p->act, &p->act_attrs, (float *)y, sizeof y / sizeof(float));
            }
            for (int l = lanes; l < 8; l++) /* a padded block's lanes: zero */
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        y[i][j][l] = 0.0f;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    if (in_y[i] && in_x[j])
                        *(kn_v8 *)(dst + KN_WINO_AT_YX(i, j)) = y[i][j];
#undef KN_WINO_AT_YX
        }
    }
}

#ifdef KN_WINO_X86
/*
 * out[r][0..16) = sum over c of a[r * lda + c] * b[c][0..16) for r < rows
 * (rows <= 6, a constant where it is inlined): 12 accumulators in registers.
 */
KN_WINO_HOT static inline __attribute__((always_inline)) void kn_wino_micro(int rows, const float *a, int64_t lda,
                                                                            const float *b, int64_t depth,
                                                                            float *out, int64_t ldo)
{
    __m256 acc[6][2];
    for (int r = 0; r < rows; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < depth; c++) {
        const __m256 b0 = _mm256_loadu_ps(b + c * 16), b1 = _mm256_loadu_ps(b + c * 16 + 8);
        for (int r = 0; r < rows; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * lda + c);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_ps(out + r * ldo, acc[r][0]);
        _mm256_storeu_ps(out + r * ldo + 8, acc[r][1]);
    }
}

/* m[t][0..ks) = v[t][0..cp) x U[xi][.][k0 .. k0 + ks) for t < count: 6 x 16 blocks. */
KN_WINO_HOT static void kn_wino_gemm(const kn_dnnl_wino *p, int xi, const float *v, int64_t count, int64_t k0,
                                     int64_t ks, float *m)
{
    const int64_t cp = p->s * p->s * p->cb * 8, kblocks = p->kp / 16; /* cp: the products' depth */
    for (int64_t kk = 0; kk < ks; kk += 16) {
        const float *b = p->u + ((int64_t)xi * kblocks + (k0 + kk) / 16) * cp * 16;
        for (int64_t t = 0, rows; t < count; t += rows) {
            const float *a = v + t * cp;
            float *out = m + t * ks + kk;
            /* 6 rows a block; 7 to 9 left go as two blocks of 3 to 5, as a block of 1 or 2 rows would wait on its
             * FMA latency (2 or 4 chains) */
            rows = count - t <= 6 ? count - t : count - t < 10 ? (count - t + 1) / 2 : 6;
            switch (rows) {
            case 6: kn_wino_micro(6, a, cp, b, cp, out, ks); break;
            case 5: kn_wino_micro(5, a, cp, b, cp, out, ks); break;
            case 4: kn_wino_micro(4, a, cp, b, cp, out, ks); break;
            case 3: kn_wino_micro(3, a, cp, b, cp, out, ks); break;
            case 2: kn_wino_micro(2, a, cp, b, cp, out, ks); break;
            default: kn_wino_micro(1, a, cp, b, cp, out, ks); break;
            }
        }
    }
}
#endif

/* Chunk `chunk`'s first tile and tile count. */
static void kn_wino_chunk(const kn_dnnl_wino *p, int64_t chunk, int64_t *t0, int64_t *count)
{
    *t0 = chunk * p->tc;
    *count = p->tiles - *t0 < p->tc ? p->tiles - *t0 : p->tc;
}

/* Products and output transform of a chunk whose input transform is in v, for output-channel slice `slice`. */
static void kn_wino_products(const kn_dnnl_wino *p, int64_t t0, int64_t count, int64_t slice, const float *v,
                             float *m, const float *res, float *dst)
{
#ifdef KN_WINO_X86
    const int64_t depth = p->s * p->s * p->cb * 8;
    const int64_t k0 = slice * p->ks, ks = p->kp - k0 < p->ks ? p->kp - k0 : p->ks;
    for (int xi = 0; xi < 36; xi++)
        kn_wino_gemm(p, xi, v + xi * p->tc * depth, count, k0, ks, m + xi * p->tc * ks);
    kn_wino_output(p, m, t0, count, k0, ks, res, dst);
#else
    (void)p, (void)t0, (void)count, (void)slice, (void)v, (void)m, (void)res, (void)dst;
#endif
}

/* Zero the groups of the output's layout past the output channels (a padded block of 16 with 8 or fewer used). */
static void kn_wino_zero_padding(const kn_dnnl_wino *p, float *dst)
{
    for (int64_t img = 0; img < p->n; img++)
        for (int64_t g = p->kb; g < p->out.groups; g++) {
            float *plane = dst + img * p->out.sn + kn_dnnl_view_group(&p->out, g);
            for (int64_t y = 0; y < p->oh; y++)
                for (int64_t x = 0; x < p->ow; x++)
                    memset(plane + y * p->out.sh + x * p->out.sw, 0, 8 * sizeof(float));
        }
}

void kn_dnnl_run_wino(const kn_dnnl_op *op)
{
    const kn_dnnl_wino *p = op->wino;
    const float *src = NULL, *res = NULL, *w = NULL, *b = NULL;
    float *dst = NULL, *scratch = NULL;
    for (int a = 0; a < op->nargs; a++) {
        void *h = NULL;
        dnnl_memory_get_data_handle(op->args[a].memory, &h);
        switch (op->args[a].arg) {
        case DNNL_ARG_SRC: src = h; break;
        case DNNL_ARG_DST: dst = h; break;
        case KN_DNNL_RES_ARG: res = h; break;
        case DNNL_ARG_SCRATCHPAD: scratch = h; break;
        case DNNL_ARG_WEIGHTS: w = h; break;
        case DNNL_ARG_BIAS: b = h; break;
        default: break;
        }
    }
    if (p->trained)
        kn_wino_transform(op->wino, w, b);
    const int64_t depth = p->s * p->s * p->cb * 8;
    if (p->out.groups > p->kb)
        kn_wino_zero_padding(p, dst);
    if (p->nslices == 1) {
        /* one chunk per thread at a time: its own V and M */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(p->threads)
#endif
        for (int64_t chunk = 0; chunk < p->nchunks; chunk++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *v = scratch + (int64_t)tid * p->thread_floats, *m = v + 36 * p->tc * depth;
            int64_t t0, count;
            kn_wino_chunk(p, chunk, &t0, &count);
            kn_wino_input(p, src, t0, count, 0, v);
            kn_wino_products(p, t0, count, 0, v, m, res, dst);
        }
        return;
    }
    /* output-channel slices: the threads share each chunk's input transform (V, at the scratch's start), then
     * each takes slices with its own M */
    float *v = scratch;
#ifdef _OPENMP
#pragma omp parallel num_threads(p->threads)
#endif
    {
        int tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        float *m = scratch + p->shared_floats + (int64_t)tid * p->thread_floats;
        for (int64_t chunk = 0; chunk < p->nchunks; chunk++) {
            int64_t t0, count;
            kn_wino_chunk(p, chunk, &t0, &count);
            const int64_t a = count * tid / nth, b = count * (tid + 1) / nth;
            if (b > a)
                kn_wino_input(p, src, t0 + a, b - a, a, v);
#ifdef _OPENMP
#pragma omp barrier
#endif
            for (int64_t slice = tid; slice < p->nslices; slice += nth)
                kn_wino_products(p, t0, count, slice, v, m, res, dst);
#ifdef _OPENMP
#pragma omp barrier /* V is rewritten by the next chunk */
#endif
        }
    }
}

void kn_dnnl_wino_free(kn_dnnl_wino *p)
{
    if (p) {
        free(p->u);
        free(p->bias);
        free(p);
    }
}

/* Chunks and slices of the work for `threads` threads (see the file comment). */
static void kn_wino_split(kn_dnnl_wino *p, int threads)
{
    const int64_t k16 = p->kp / 16;
    p->nslices = 1;
    p->ks = p->kp;
    if (p->tiles < (int64_t)threads * KN_WINO_MAX_TILES / 2 && k16 >= threads) {
        /* few tiles per thread: each thread takes every tile and a slice of the output channels, so U is
         * read once in all rather than once per thread */
        p->ks = (k16 + threads - 1) / threads * 16;
        p->nslices = (p->kp + p->ks - 1) / p->ks;
    }
    int64_t chunks = (p->tiles + KN_WINO_MAX_TILES - 1) / KN_WINO_MAX_TILES;
    if (p->nslices == 1 && chunks < threads)
        chunks = p->tiles < threads ? p->tiles : threads;
    if (p->nslices == 1 && chunks % threads) /* an even share per thread */
        chunks += threads - chunks % threads;
    p->tc = (p->tiles + chunks - 1) / chunks;
    p->nchunks = (p->tiles + p->tc - 1) / p->tc;
}

/* What kn_wino_check reads off an eligible node. */
typedef struct kn_wino_geom {
    bool deconv;
    int64_t ksize, s, c, k; /* kernel, stride, input and output channels */
    int64_t pb[2], o[2];    /* leading pads, output spatial dims */
} kn_wino_geom;

/* Whether weight or bias v has contents the kernel can transform: a constant, or a trained weight (a training
 * graph's variable, its buffer rewritten by the optimizer between runs: transformed at each run) */
static bool kn_wino_weight(const kn_graph *g, int v)
{
    return kn_value_is_constant(g, v) || (g->values[v].data && g->values[v].kind == KN_VALUE_PARAM);
}

/* Whether node n is a Conv/ConvTranspose the Winograd kernel takes (see kn_dnnl_wino_plan), and its geometry. */
static bool kn_wino_check(const kn_graph *g, const kn_node *n, kn_wino_geom *geo)
{
    if ((n->op != KN_OP_CONV && n->op != KN_OP_CONV_TRANSPOSE) || n->num_inputs < 2 || !kn_dnnl_wino_available())
        return false;
    const bool deconv = n->op == KN_OP_CONV_TRANSPOSE;
    const kn_window_attrs *a = &n->attrs.window;
    const int x = n->inputs[0], wv = n->inputs[1], b = n->num_inputs > 2 ? n->inputs[2] : -1, y = n->outputs[0];
    if (!kn_dnnl_f32(g, x) || !kn_dnnl_f32(g, wv) || !kn_dnnl_f32(g, y) || (b >= 0 && !kn_dnnl_f32(g, b)))
        return false;
    const kn_shape *xs = &g->values[x].shape, *ws = &g->values[wv].shape, *ys = &g->values[y].shape;
    if (a->nspatial != 2 || xs->rank != 4 || ws->rank != 4 || ys->rank != 4 || a->group > 1 ||
        ws->dims[2] != ws->dims[3] || !kn_wino_weight(g, wv) || (b >= 0 && !kn_wino_weight(g, b)))
        return false;
    /* square kernel and stride: 3x3 stride 1, or 2s < K <= 3s (three taps per phase, see the file comment) */
    const int64_t ksize = ws->dims[2], s = a->stride[0] ? a->stride[0] : 1;
    if ((a->stride[1] ? a->stride[1] : 1) != s || s > 4 || ksize <= 2 * s || ksize > 3 * s)
        return false;
    /* trained weights: only a stride-1 ConvTranspose, a classifier's backward-data product, which no max decision
     * reads. Not a Conv: Winograd's rounding depends on an output's place in its 4x4 tile, so the equal outputs of a
     * uniform input region (MNIST's background) come out unequal and a later MaxPool picks another of the tied
     * positions than the reference backend does, another (as valid) gradient that Adam's per-weight normalisation
     * amplifies (9e-3 from the reference loss after ten mnist_cnn steps). Not a strided one: DCGAN's generator
     * (forward) and discriminator (backward-data) layers moved its one-step gradients by up to 5% of a channel's */
    if ((!kn_value_is_constant(g, wv) || (b >= 0 && !kn_value_is_constant(g, b))) && (!deconv || s != 1))
        return false;
    for (int d = 0; d < 2; d++)
        if (a->dilation[d] && a->dilation[d] != 1)
            return false;
    /* Conv weights [K, C, ks, ks]; ConvTranspose weights [C, M, ks, ks] */
    const int64_t c = xs->dims[1], k = deconv ? ws->dims[1] : ws->dims[0];
    if ((deconv ? ws->dims[0] : ws->dims[1]) != c || ys->dims[1] != k || c < 16 || (deconv ? s * s * k : k) < 16)
        return false; /* few channels: the transforms cost more than the products save */
    int64_t kernel[KN_MAX_SPATIAL] = {ksize, ksize}, pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    kn_error e;
    if (kn_window_resolve(n, a, xs->dims + 2, kernel, deconv, pb, pe, o, &e) != KN_OK || o[0] != ys->dims[2] ||
        o[1] != ys->dims[3] || pb[0] < 0 || pb[1] < 0 || pb[0] >= ksize || pb[1] >= ksize ||
        (!deconv && s == 1 && (pb[0] > 2 || pb[1] > 2)))
        return false;
    if ((!kn_value_is_constant(g, wv) || (b >= 0 && !kn_value_is_constant(g, b))) &&
        (double)xs->dims[0] * (double)o[0] * (double)o[1] < 16.0 * (double)c * (double)k)
        return false; /* trained weights, transformed at every run: only where the output has at least one 4x4 tile
                       * per channel pair. Measured at 1 thread against oneDNN's backward data: mnist_cnn's 64 -> 32
                       * at batch 64 (1.3 tiles a pair) 15 against 17.5 ms; fashion_cnn's (0.38) 3.9-4.7 against 5.1;
                       * cifar_cnn's at batch 32, 64 -> 32 (0.22) 2.4 against 2.0, 128 -> 64 (0.01) 2.4 against 0.85 */
    if (n->fused.residual >= 0) {
        const int r = n->inputs[n->fused.residual];
        if (deconv || !kn_dnnl_f32(g, r) || !kn_shape_equal(&g->values[r].shape, ys))
            return false;
    }
    {
        /* U (36 x depth x K' floats) is read once per run; when it does not stay in the caches (over 2 MB) and
         * streaming it alone would take most of what a direct convolution needs, keep the direct one.
         * Measured here: direct 3x3 convs run at ~170 GFLOP/s, U streams at ~20 GB/s (ResNet-18 layer4 at batch
         * 1, 512 channels, 7x7: 1.78 ms against 1.53 direct) */
        const double positions = (double)(xs->dims[0] * (deconv ? xs->dims[2] * xs->dims[3] : o[0] * o[1]));
        const double direct_flops = 2.0 * (double)(ksize * ksize) * (double)c * (double)k * positions;
        const double depth = (double)(deconv ? 1 : s * s) * (double)((c + 7) / 8 * 8);
        const double columns = (double)(deconv ? (s * s * ((k + 7) / 8 * 8) + 15) / 16 * 16 : (k + 15) / 16 * 16);
        const double u_bytes = 36.0 * 4.0 * depth * columns;
        if (u_bytes > 2e6 && u_bytes / 20e9 > 0.7 * direct_flops / 170e9)
            return false;
    }
    geo->deconv = deconv;
    geo->ksize = ksize;
    geo->s = s;
    geo->c = c;
    geo->k = k;
    for (int d = 0; d < 2; d++) {
        geo->pb[d] = pb[d];
        geo->o[d] = o[d];
    }
    return true;
}

bool kn_dnnl_wino_takes(const kn_graph *g, const kn_node *n)
{
    kn_wino_geom geo;
    return kn_wino_check(g, n, &geo);
}

/* floor(a / b) for b > 0 */
static int64_t kn_floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

kn_status kn_dnnl_wino_plan(const kn_dnnl_exe *exe, int i, kn_dnnl_wino **out, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_wino_geom geo;
    *out = NULL;
    const int wv = n->inputs[1], b = n->num_inputs > 2 ? n->inputs[2] : -1;
    if (!kn_wino_check(g, n, &geo) || !g->values[wv].data || (b >= 0 && !g->values[b].data))
        return KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    const int64_t c = geo.c, k = geo.k, ksize = geo.ksize;
    kn_dnnl_wino *p = calloc(1, sizeof *p);
    if (!p)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    p->n = xs->dims[0];
    p->cb = (c + 7) / 8;
    p->kb = (k + 7) / 8;
    p->h = xs->dims[2];
    p->w = xs->dims[3];
    p->oh = geo.o[0];
    p->ow = geo.o[1];
    int64_t qh, qw; /* the tile grid: output positions (Conv) or phase positions q (ConvTranspose) */
    if (!geo.deconv) {
        p->s = geo.s;
        p->os = 1;
        p->iy0 = -geo.pb[0];
        p->ix0 = -geo.pb[1];
        qh = p->oh;
        qw = p->ow;
    } else {
        /* output o = os*q + r - p for phases r < os: q from min over r of ceil((p - r) / os) to max over r of
         * floor((O - 1 + p - r) / os); a tile's outputs q0..q0+3 read x[q0 - 2 .. q0 + 3] */
        const int64_t os = geo.s;
        p->s = 1;
        p->os = os;
        p->dpt = geo.pb[0];
        p->dpl = geo.pb[1];
        p->qy0 = -kn_floor_div(-(geo.pb[0] - (os - 1)), os);
        p->qx0 = -kn_floor_div(-(geo.pb[1] - (os - 1)), os);
        qh = kn_floor_div(p->oh - 1 + geo.pb[0], os) - p->qy0 + 1;
        qw = kn_floor_div(p->ow - 1 + geo.pb[1], os) - p->qx0 + 1;
        p->iy0 = p->qy0 - 2;
        p->ix0 = p->qx0 - 2;
    }
    p->kq = p->kb * 8;
    const int64_t s = p->s;
    p->th = (qh + 3) / 4;
    p->tw = (qw + 3) / 4;
    p->tiles = p->n * p->th * p->tw;
    p->act = n->fused.activation;
    p->act_attrs = n->fused.act;
    p->threads = exe->threads > 0 ? exe->threads : 1;
    const int64_t cp = p->cb * 8, kp = (p->os * p->os * p->kq + 15) / 16 * 16;
    p->kp = kp;
    kn_wino_split(p, p->threads);
    /* scratch, in 64-byte multiples: V and M per thread; or, with slices, one V shared and M per thread */
    if (p->nslices == 1) {
        p->shared_floats = 0;
        p->thread_floats = (36 * p->tc * (s * s * cp + p->ks) + 15) / 16 * 16;
    } else {
        p->shared_floats = (36 * p->tc * s * s * cp + 15) / 16 * 16;
        p->thread_floats = (36 * p->tc * p->ks + 15) / 16 * 16;
    }
    size_t u_count, u_bytes;
    if (!kn_size_mul(36, (size_t)(s * s * cp), &u_count) || !kn_size_mul(u_count, (size_t)kp, &u_count) ||
        !kn_size_mul(u_count, sizeof(float), &u_bytes)) {
        kn_dnnl_wino_free(p);
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': Winograd buffers overflow", n->name);
    }
    p->u = malloc(u_bytes);
    p->bias = calloc((size_t)kp, sizeof(float));
    if (!p->u || !p->bias) {
        kn_dnnl_wino_free(p);
        return kn_error_set(err, KN_ERR_NOMEM, "node '%s': out of memory for Winograd weights", n->name);
    }
    p->deconv = geo.deconv;
    p->wc = c;
    p->wk = k;
    p->wks = ksize;
    /* constant weights are transformed once, here; trained ones (written between runs) at each run */
    p->trained = !kn_dnnl_constant(exe, wv) || (b >= 0 && !kn_dnnl_constant(exe, b));
    if (!p->trained)
        kn_wino_transform(p, g->values[wv].data, b >= 0 ? g->values[b].data : NULL);
    *out = p;
    return KN_OK;
}

kn_status kn_dnnl_try_wino(kn_dnnl_exe *exe, int i, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_dnnl_wino *p;
    *built = false;
    kn_status st = kn_dnnl_wino_plan(exe, i, &p, err);
    if (st != KN_OK || !p)
        return st;
    const int x = n->inputs[0], y = n->outputs[0], r = n->fused.residual >= 0 ? n->inputs[n->fused.residual] : -1;
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x, .plain = false};
    kn_dnnl_bind res = {.arg = KN_DNNL_RES_ARG, .value = r, .plain = false};
    /* the input in the layout its producer wrote when the kernel can address it (else nChw8c: a reorder); the
     * output, and the residual read with it, in the same format */
    dnnl_memory_desc_t ymd;
    if (!kn_dnnl_view_md(exe, x, kn_dnnl_blocked_md(exe, x), &src.md) || !kn_dnnl_view_md(exe, y, &src.md, &ymd) ||
        !kn_dnnl_view_of(&src.md, &p->in) || !kn_dnnl_view_of(&ymd, &p->out)) {
        kn_dnnl_wino_free(p);
        return KN_OK;
    }
    res.md = ymd;
    size_t scratch;
    dnnl_memory_desc_t smd;
    if (!kn_size_mul((size_t)p->threads, (size_t)p->thread_floats, &scratch) ||
        !kn_size_add(scratch, (size_t)p->shared_floats, &scratch) ||
        !kn_size_mul(scratch, sizeof(float), &scratch) || scratch > (size_t)INT64_MAX) {
        kn_dnnl_wino_free(p);
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': Winograd scratch overflows", n->name);
    }
    if (dnnl_memory_desc_init_by_tag(&smd, 1, (dnnl_dims_t){(dnnl_dim_t)scratch}, dnnl_u8, dnnl_a) != dnnl_success) {
        kn_dnnl_wino_free(p);
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': Winograd scratch descriptor", n->name);
    }
    dnnl_memory_t m_src, m_res = NULL, m_wb[2] = {NULL, NULL};
    int r_src = -1, r_res = -1, r_out, idx;
    for (int k = 1; p->trained && k < 3 && k < n->num_inputs; k++) { /* trained weights and bias: plain buffers */
        if (n->inputs[k] < 0)
            continue;
        kn_dnnl_bind wb = {.arg = k == 1 ? DNNL_ARG_WEIGHTS : DNNL_ARG_BIAS, .value = n->inputs[k], .plain = true};
        int r_wb;
        if ((st = kn_dnnl_md_value(g, n, wb.value, &wb.md, err)) != KN_OK ||
            (st = kn_dnnl_bind_mem(exe, i, &wb, &wb.md, &m_wb[k - 1], &r_wb, err)) != KN_OK) {
            kn_dnnl_wino_free(p);
            return st;
        }
    }
    if ((st = kn_dnnl_bind_mem(exe, i, &src, &src.md, &m_src, &r_src, err)) != KN_OK ||
        (r >= 0 && (st = kn_dnnl_bind_mem(exe, i, &res, &res.md, &m_res, &r_res, err)) != KN_OK) ||
        (st = kn_dnnl_new_rep(exe, i, y, &ymd, exe->num_ops, &r_out, err)) != KN_OK ||
        (st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK) {
        kn_dnnl_wino_free(p);
        return st;
    }
    exe->plain_ok[y] = false;
    kn_dnnl_op *op = &exe->ops[idx];
    op->wino = p;
    op->scratch_md = smd;
    op->scratch_bytes = scratch;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC, m_src, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DST, exe->reps[r_out].mem, err)) != KN_OK ||
        (r >= 0 && (st = kn_dnnl_add_arg(op, n, KN_DNNL_RES_ARG, m_res, err)) != KN_OK) ||
        (m_wb[0] && (st = kn_dnnl_add_arg(op, n, DNNL_ARG_WEIGHTS, m_wb[0], err)) != KN_OK) ||
        (m_wb[1] && (st = kn_dnnl_add_arg(op, n, DNNL_ARG_BIAS, m_wb[1], err)) != KN_OK))
        return st;
    if (r_src >= 0)
        exe->reps[r_src].last_op = idx;
    if (r_res >= 0)
        exe->reps[r_res].last_op = idx;
    *built = true;
    return KN_OK;
}
