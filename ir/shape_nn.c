/*
 * shape_nn.c - shape rules of the neural-network ops: Conv, ConvTranspose,
 * Gemm, MatMul, MaxPool/AveragePool, the global pools and
 * BatchNormalization, plus kn_window_resolve, the padding/output-size rule
 * that the shape rules and the reference kernels share.
 */
#include <stdint.h>
#include <string.h>

#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

/* Window parameters above this are rejected, so that every product below fits in int64. */
#define KN_WINDOW_MAX KN_SIZE_ATTR_MAX

/* Floor division for a possibly negative numerator and a positive divisor. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static const char *auto_pad_name(kn_auto_pad p)
{
    switch (p) {
    case KN_AUTO_PAD_SAME_UPPER: return "SAME_UPPER";
    case KN_AUTO_PAD_SAME_LOWER: return "SAME_LOWER";
    case KN_AUTO_PAD_VALID: return "VALID";
    default: return "NOTSET";
    }
}

kn_status kn_window_resolve(const kn_node *n, const kn_window_attrs *a, const int64_t *in,
                            const int64_t *kernel, bool transpose, int64_t *pad_begin,
                            int64_t *pad_end, int64_t *out, kn_error *err)
{
    int ns = a->nspatial;
    if (ns < 1 || ns > KN_MAX_SPATIAL)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "node '%s' (%s): %d spatial dimensions (kiln handles 1 to %d)", n->name,
                            KN_OPNAME(n), ns, KN_MAX_SPATIAL);
    for (int i = 0; i < ns; i++) {
        int64_t k = kernel[i];
        int64_t s = a->stride[i] ? a->stride[i] : 1;
        int64_t d = a->dilation[i] ? a->dilation[i] : 1;
        if (k < 1 || s < 1 || d < 1)
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): kernel %lld, stride %lld and dilation %lld of spatial axis %d "
                                "must be positive",
                                n->name, KN_OPNAME(n), (long long)k, (long long)s, (long long)d, i);
        if (k > KN_WINDOW_MAX || s > KN_WINDOW_MAX || d > KN_WINDOW_MAX || in[i] > KN_WINDOW_MAX ||
            in[i] < 0)
            return kn_error_set(err, KN_ERR_OVERFLOW,
                                "node '%s' (%s): spatial size %lld, kernel %lld, stride %lld or dilation %lld "
                                "is out of range",
                                n->name, KN_OPNAME(n), (long long)in[i], (long long)k, (long long)s,
                                (long long)d);
        int64_t ek = (k - 1) * d + 1; /* extent of the dilated kernel */
        int64_t pb = 0, pe = 0, o;
        if (a->auto_pad == KN_AUTO_PAD_NOTSET) {
            pb = a->pad_begin[i];
            pe = a->pad_end[i];
            if (pb < 0 || pe < 0 || pb > KN_WINDOW_MAX || pe > KN_WINDOW_MAX)
                return kn_error_set(err, KN_ERR_SHAPE,
                                    "node '%s' (%s): pads %lld,%lld of spatial axis %d are out of range",
                                    n->name, KN_OPNAME(n), (long long)pb, (long long)pe, i);
        }
        if (!transpose) {
            if (a->auto_pad == KN_AUTO_PAD_SAME_UPPER || a->auto_pad == KN_AUTO_PAD_SAME_LOWER) {
                o = (in[i] + s - 1) / s;
                int64_t total = (o - 1) * s + ek - in[i];
                if (total < 0)
                    total = 0;
                if (a->auto_pad == KN_AUTO_PAD_SAME_UPPER) {
                    pb = total / 2;
                    pe = total - pb;
                } else {
                    pe = total / 2;
                    pb = total - pe;
                }
            } else {
                int64_t span = in[i] + pb + pe - ek;
                if (span < 0)
                    return kn_error_set(err, KN_ERR_SHAPE,
                                        "node '%s' (%s): spatial axis %d has size %lld (padded %lld), smaller than "
                                        "the kernel's extent %lld",
                                        n->name, KN_OPNAME(n), i, (long long)in[i], (long long)(in[i] + pb + pe),
                                        (long long)ek);
                o = span / s + 1;
                if (a->ceil_mode) {
                    o = (span + s - 1) / s + 1;
                    /* ONNX/PyTorch: the last window must start inside the input or the left padding. */
                    if ((o - 1) * s >= in[i] + pb)
                        o--;
                }
            }
        } else {
            int64_t op = a->output_padding[i];
            if (op < 0 || op > KN_WINDOW_MAX)
                return kn_error_set(err, KN_ERR_SHAPE,
                                    "node '%s' (%s): output_padding %lld of spatial axis %d is out of range",
                                    n->name, KN_OPNAME(n), (long long)op, i);
            int64_t full = s * (in[i] - 1) + op + ek;
            if (in[i] == 0)
                full = 0;
            if (a->has_output_shape || a->auto_pad == KN_AUTO_PAD_SAME_UPPER ||
                a->auto_pad == KN_AUTO_PAD_SAME_LOWER) {
                if (a->has_output_shape) {
                    o = a->output_shape[i];
                    if (o < 0 || o > KN_WINDOW_MAX)
                        return kn_error_set(err, KN_ERR_SHAPE,
                                            "node '%s' (%s): output_shape %lld of spatial axis %d is out of range",
                                            n->name, KN_OPNAME(n), (long long)o, i);
                } else {
                    o = in[i] * s;
                }
                /* ONNX: SAME_UPPER puts the odd padding at the end, otherwise at the beginning.
                 * An output_shape beyond the full result gives a negative total: negative
                 * pads, i.e. zero borders split the same way (as ONNX's reference does). */
                int64_t total = full - o;
                if (a->auto_pad == KN_AUTO_PAD_SAME_UPPER) {
                    pb = floor_div(total, 2);
                    pe = total - pb;
                } else {
                    pe = floor_div(total, 2);
                    pb = total - pe;
                }
            } else {
                if (a->auto_pad == KN_AUTO_PAD_VALID)
                    pb = pe = 0;
                o = full - pb - pe;
            }
        }
        if (o < 1)
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): spatial axis %d of size %lld gives an empty output (kernel %lld, "
                                "stride %lld, dilation %lld, pads %lld,%lld, auto_pad %s)",
                                n->name, KN_OPNAME(n), i, (long long)in[i], (long long)k, (long long)s,
                                (long long)d, (long long)pb, (long long)pe, auto_pad_name(a->auto_pad));
        pad_begin[i] = pb;
        pad_end[i] = pe;
        out[i] = o;
    }
    return KN_OK;
}

/* ------------------------------------------------------------ helpers */

static kn_status need_input(kn_graph *g, kn_node *n, int i, const char *what, kn_value **v, kn_error *err)
{
    *v = kn_node_input(g, n, i);
    if (!*v)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): input %d (%s) is missing", n->name,
                            KN_OPNAME(n), i, what);
    return KN_OK;
}

static kn_status need_f32(kn_node *n, const kn_value *v, const char *what, kn_error *err)
{
    if (v->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): %s '%s' is %s; only float32 is supported",
                            n->name, KN_OPNAME(n), what, v->name, kn_dtype_name(v->dtype));
    return KN_OK;
}

/* Input rank must be 3..2+KN_MAX_SPATIAL (N, C, spatial...). */
static kn_status need_spatial(kn_node *n, const kn_value *x, kn_error *err)
{
    char b[160];
    if (x->shape.rank < 3 || x->shape.rank > 2 + KN_MAX_SPATIAL)
        return kn_error_set(err, x->shape.rank < 3 ? KN_ERR_SHAPE : KN_ERR_UNSUPPORTED,
                            "node '%s' (%s): input '%s' has shape %s; expected N x C x D1 ... with 1 to %d "
                            "spatial dimensions",
                            n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, b, sizeof b), KN_MAX_SPATIAL);
    if (n->attrs.window.nspatial != 0 && n->attrs.window.nspatial != x->shape.rank - 2)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): attributes describe %d spatial dimensions but input '%s' has shape %s",
                            n->name, KN_OPNAME(n), n->attrs.window.nspatial, x->name,
                            kn_shape_str(&x->shape, b, sizeof b));
    return KN_OK;
}

/* Bias: a 1-D float tensor of `count` elements. */
static kn_status check_bias(kn_node *n, const kn_value *b, const kn_value *w, int64_t count, kn_error *err)
{
    char sb[160], sw[160];
    kn_status st = need_f32(n, b, "bias", err);
    if (st)
        return st;
    if (b->shape.rank != 1 || b->shape.dims[0] != count)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): bias '%s' has shape %s but weight '%s' of shape %s gives %lld "
                            "output channels",
                            n->name, KN_OPNAME(n), b->name, kn_shape_str(&b->shape, sb, sizeof sb), w->name,
                            kn_shape_str(&w->shape, sw, sizeof sw), (long long)count);
    return KN_OK;
}

/*
 * Common part of Conv and ConvTranspose: validate X, W, kernel and group;
 * fills the resolved kernel into n->attrs.window (nspatial, kernel) so that
 * backends see a complete description.
 */
static kn_status conv_common(kn_graph *g, kn_node *n, kn_value **px, kn_value **pw, int64_t *group,
                             kn_error *err)
{
    kn_value *x = NULL, *w = NULL;
    char sx[160], sw[160];
    kn_status st;
    if ((st = need_input(g, n, 0, "X", &x, err)) || (st = need_input(g, n, 1, "W", &w, err)) ||
        (st = need_f32(n, x, "input", err)) || (st = need_f32(n, w, "weight", err)) ||
        (st = need_spatial(n, x, err)))
        return st;
    if (w->shape.rank != x->shape.rank)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): weight '%s' has shape %s, which does not fit input '%s' of shape %s "
                            "(ranks differ)",
                            n->name, KN_OPNAME(n), w->name, kn_shape_str(&w->shape, sw, sizeof sw), x->name,
                            kn_shape_str(&x->shape, sx, sizeof sx));
    kn_window_attrs *a = &n->attrs.window;
    int ns = x->shape.rank - 2;
    for (int i = 0; i < ns; i++) {
        int64_t wk = w->shape.dims[2 + i];
        if (a->kernel[i] != 0 && a->kernel[i] != wk)
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): kernel_shape[%d] = %lld does not match weight '%s' of shape %s",
                                n->name, KN_OPNAME(n), i, (long long)a->kernel[i], w->name,
                                kn_shape_str(&w->shape, sw, sizeof sw));
    }
    int64_t gr = a->group ? a->group : 1;
    if (gr < 1)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): group %lld must be positive", n->name,
                            KN_OPNAME(n), (long long)gr);
    a->nspatial = ns;
    for (int i = 0; i < ns; i++)
        a->kernel[i] = w->shape.dims[2 + i];
    *px = x;
    *pw = w;
    *group = gr;
    return KN_OK;
}

/* Common end of Conv and ConvTranspose: check the bias against `m` output
 * channels, resolve the window and set the output [N, m, spatial...]. */
static kn_status conv_finish(kn_graph *g, kn_node *n, const kn_value *x, const kn_value *w, int64_t m,
                             bool transpose, kn_error *err)
{
    const kn_value *b = kn_node_input(g, n, 2);
    kn_status st;
    if (b && (st = check_bias(n, b, w, m, err)))
        return st;
    const kn_window_attrs *a = &n->attrs.window;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    if ((st = kn_window_resolve(n, a, x->shape.dims + 2, a->kernel, transpose, pb, pe, o, err)))
        return st;
    kn_shape out = {.rank = x->shape.rank};
    out.dims[0] = x->shape.dims[0];
    out.dims[1] = m;
    for (int i = 0; i < a->nspatial; i++)
        out.dims[2 + i] = o[i];
    return kn_node_set_output(g, n, 0, KN_F32, &out, err);
}

/* -------------------------------------------------------------- rules */

/*
 * A 4th Conv input is only the residual fused in by passes/fuse.c
 * (fused.residual == 3): a float32 tensor of exactly the output's shape.
 */
static kn_status conv_residual(kn_graph *g, kn_node *n, kn_error *err)
{
    if (n->num_inputs <= 3 && n->fused.residual < 0)
        return KN_OK;
    if (n->num_inputs != 4 || n->fused.residual != 3)
        return kn_error_set(err, KN_ERR_GRAPH,
                            "node '%s' (%s): has %d inputs with fused residual slot %d; a 4th input must be the "
                            "fused residual",
                            n->name, KN_OPNAME(n), n->num_inputs, n->fused.residual);
    kn_value *r, *y = kn_node_output(g, n, 0);
    kn_status st;
    char sr[160], sy[160];
    if ((st = need_input(g, n, 3, "residual", &r, err)) || (st = need_f32(n, r, "residual", err)))
        return st;
    if (!y || !kn_shape_equal(&r->shape, &y->shape))
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): fused residual '%s' has shape %s, not the output's %s",
                            n->name, KN_OPNAME(n), r->name, kn_shape_str(&r->shape, sr, sizeof sr),
                            y ? kn_shape_str(&y->shape, sy, sizeof sy) : "(none)");
    return KN_OK;
}

kn_status kn_shape_conv(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = NULL, *w = NULL;
    int64_t group = 1;
    char sx[160], sw[160];
    kn_status st = conv_common(g, n, &x, &w, &group, err);
    if (st)
        return st;
    int64_t c = x->shape.dims[1], m = w->shape.dims[0], cg = w->shape.dims[1], want;
    if (__builtin_mul_overflow(cg, group, &want) || want != c)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): input '%s' of shape %s has %lld channels, but weight '%s' of shape "
                            "%s with group %lld expects %lld x %lld",
                            n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, sx, sizeof sx),
                            (long long)c, w->name, kn_shape_str(&w->shape, sw, sizeof sw), (long long)group,
                            (long long)group, (long long)cg);
    if (m % group != 0)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): weight '%s' of shape %s has %lld output channels, not a multiple of "
                            "group %lld",
                            n->name, KN_OPNAME(n), w->name, kn_shape_str(&w->shape, sw, sizeof sw), (long long)m,
                            (long long)group);
    if ((st = conv_finish(g, n, x, w, m, false, err)))
        return st;
    return conv_residual(g, n, err);
}

kn_status kn_shape_conv_transpose(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x = NULL, *w = NULL;
    int64_t group = 1;
    char sx[160], sw[160];
    kn_status st = conv_common(g, n, &x, &w, &group, err);
    if (st)
        return st;
    int64_t c = x->shape.dims[1];
    if (w->shape.dims[0] != c || c % group != 0)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): input '%s' of shape %s has %lld channels, but weight '%s' has shape "
                            "%s (expected %lld input channels, divisible by group %lld)",
                            n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, sx, sizeof sx),
                            (long long)c, w->name, kn_shape_str(&w->shape, sw, sizeof sw), (long long)c,
                            (long long)group);
    int64_t m;
    if (__builtin_mul_overflow(w->shape.dims[1], group, &m))
        return kn_error_set(err, KN_ERR_OVERFLOW,
                            "node '%s' (%s): weight '%s' of shape %s with group %lld gives too many output channels",
                            n->name, KN_OPNAME(n), w->name, kn_shape_str(&w->shape, sw, sizeof sw), (long long)group);
    return conv_finish(g, n, x, w, m, true, err);
}

kn_status kn_shape_gemm(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *A, *B, *C;
    char sa[160], sb[160];
    kn_status st;
    if ((st = need_input(g, n, 0, "A", &A, err)) || (st = need_input(g, n, 1, "B", &B, err)) ||
        (st = need_f32(n, A, "input A", err)) || (st = need_f32(n, B, "input B", err)))
        return st;
    if (A->shape.rank != 2 || B->shape.rank != 2)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): inputs A %s and B %s must both be 2-D", n->name,
                            KN_OPNAME(n), kn_shape_str(&A->shape, sa, sizeof sa),
                            kn_shape_str(&B->shape, sb, sizeof sb));
    const kn_gemm_attrs *ga = &n->attrs.gemm;
    int64_t m = ga->trans_a ? A->shape.dims[1] : A->shape.dims[0];
    int64_t k = ga->trans_a ? A->shape.dims[0] : A->shape.dims[1];
    int64_t kb = ga->trans_b ? B->shape.dims[1] : B->shape.dims[0];
    int64_t nn = ga->trans_b ? B->shape.dims[0] : B->shape.dims[1];
    if (k != kb)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): A %s%s and B %s%s have different inner dimensions (%lld and %lld)",
                            n->name, KN_OPNAME(n), kn_shape_str(&A->shape, sa, sizeof sa),
                            ga->trans_a ? " (transposed)" : "", kn_shape_str(&B->shape, sb, sizeof sb),
                            ga->trans_b ? " (transposed)" : "", (long long)k, (long long)kb);
    if ((C = kn_node_input(g, n, 2))) {
        if ((st = need_f32(n, C, "input C", err)))
            return st;
        bool ok = C->shape.rank <= 2;
        int64_t want[2] = {m, nn};
        for (int i = 0; ok && i < C->shape.rank; i++) {
            int64_t d = C->shape.dims[C->shape.rank - 1 - i], t = want[1 - i];
            ok = d == 1 || d == t;
        }
        if (!ok) {
            kn_shape ys = {.rank = 2, .dims = {m, nn}};
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): C of shape %s does not broadcast to the output shape %s", n->name,
                                KN_OPNAME(n), kn_shape_str(&C->shape, sa, sizeof sa),
                                kn_shape_str(&ys, sb, sizeof sb));
        }
    }
    kn_shape out = {.rank = 2, .dims = {m, nn}};
    return kn_node_set_output(g, n, 0, KN_F32, &out, err);
}

kn_status kn_shape_matmul(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *A, *B;
    char sa[160], sb[160];
    kn_status st;
    if ((st = need_input(g, n, 0, "A", &A, err)) || (st = need_input(g, n, 1, "B", &B, err)))
        return st;
    /* float32, or float64 on both sides (the reference kernel's dgemm) */
    if (A->dtype != KN_F64 || B->dtype != KN_F64)
        if ((st = need_f32(n, A, "input A", err)) || (st = need_f32(n, B, "input B", err)))
            return st;
    const kn_shape *as = &A->shape, *bs = &B->shape;
    if (as->rank < 1 || bs->rank < 1)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): inputs %s and %s must have rank 1 or more",
                            n->name, KN_OPNAME(n), kn_shape_str(as, sa, sizeof sa), kn_shape_str(bs, sb, sizeof sb));
    int64_t k = as->dims[as->rank - 1];
    int64_t kb = bs->rank == 1 ? bs->dims[0] : bs->dims[bs->rank - 2];
    if (k != kb)
        return kn_error_set(err, KN_ERR_SHAPE,
                            "node '%s' (%s): shapes %s and %s have different inner dimensions (%lld and %lld)",
                            n->name, KN_OPNAME(n), kn_shape_str(as, sa, sizeof sa), kn_shape_str(bs, sb, sizeof sb),
                            (long long)k, (long long)kb);
    /* batch dimensions: all but the last two (none for a 1-D operand) */
    kn_shape ba = {.rank = as->rank > 2 ? as->rank - 2 : 0};
    kn_shape bb = {.rank = bs->rank > 2 ? bs->rank - 2 : 0};
    memcpy(ba.dims, as->dims, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.dims, bs->dims, sizeof(int64_t) * (size_t)bb.rank);
    kn_shape out;
    if ((st = kn_shape_broadcast2(n, &ba, &bb, &out, err)))
        return st;
    if (as->rank >= 2)
        out.dims[out.rank++] = as->dims[as->rank - 2];
    if (bs->rank >= 2)
        out.dims[out.rank++] = bs->dims[bs->rank - 1];
    return kn_node_set_output(g, n, 0, A->dtype, &out, err);
}

kn_status kn_shape_pool(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x;
    char sx[160];
    kn_status st;
    if ((st = need_input(g, n, 0, "X", &x, err)))
        return st;
    if (n->num_outputs > 1)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "node '%s' (%s): the second output (Indices) is not supported", n->name, KN_OPNAME(n));
    bool int_ok = n->op == KN_OP_MAX_POOL && (x->dtype == KN_U8 || x->dtype == KN_I8);
    if (!int_ok && (st = need_f32(n, x, "input", err)))
        return st;
    if ((st = need_spatial(n, x, err)))
        return st;
    kn_window_attrs *a = &n->attrs.window;
    int ns = x->shape.rank - 2;
    for (int i = 0; i < ns; i++)
        if (a->kernel[i] <= 0)
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): kernel_shape is missing or not positive for input '%s' of shape %s",
                                n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, sx, sizeof sx));
    a->nspatial = ns;
    int64_t pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    if ((st = kn_window_resolve(n, a, x->shape.dims + 2, a->kernel, false, pb, pe, o, err)))
        return st;
    kn_shape out = x->shape;
    for (int i = 0; i < ns; i++)
        out.dims[2 + i] = o[i];
    return kn_node_set_output(g, n, 0, x->dtype, &out, err);
}

kn_status kn_shape_global_pool(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x;
    char sx[160];
    kn_status st;
    if ((st = need_input(g, n, 0, "X", &x, err)) || (st = need_f32(n, x, "input", err)))
        return st;
    if (x->shape.rank < 3)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): input '%s' has shape %s; expected N x C x D1 ...",
                            n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, sx, sizeof sx));
    kn_shape out = x->shape;
    for (int i = 2; i < out.rank; i++)
        out.dims[i] = 1;
    return kn_node_set_output(g, n, 0, KN_F32, &out, err);
}

kn_status kn_shape_batch_norm(kn_graph *g, kn_node *n, kn_error *err)
{
    static const char *const names[5] = {"X", "scale", "B", "input_mean", "input_var"};
    kn_value *v[5];
    char sx[160], sp[160];
    kn_status st;
    for (int i = 0; i < 5; i++)
        if ((st = need_input(g, n, i, names[i], &v[i], err)) || (st = need_f32(n, v[i], names[i], err)))
            return st;
    const kn_value *x = v[0];
    if (x->shape.rank < 2)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): input '%s' has shape %s; expected N x C x ...",
                            n->name, KN_OPNAME(n), x->name, kn_shape_str(&x->shape, sx, sizeof sx));
    int64_t c = x->shape.dims[1];
    for (int i = 1; i < 5; i++)
        if (v[i]->shape.rank != 1 || v[i]->shape.dims[0] != c)
            return kn_error_set(err, KN_ERR_SHAPE,
                                "node '%s' (%s): %s '%s' has shape %s but input '%s' of shape %s has %lld channels",
                                n->name, KN_OPNAME(n), names[i], v[i]->name,
                                kn_shape_str(&v[i]->shape, sp, sizeof sp), x->name,
                                kn_shape_str(&x->shape, sx, sizeof sx), (long long)c);
    if (n->num_outputs > 1)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "node '%s' (%s): training-mode outputs (running mean/var) are not supported", n->name,
                            KN_OPNAME(n));
    return kn_node_set_output(g, n, 0, KN_F32, &x->shape, err);
}
