/* dnnl_describe.c - oneDNN operation descriptors, post-ops and attributes of a node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* ------------------------------------------------------------ layouts of arguments */

const dnnl_memory_desc_t *kn_dnnl_blocked_md(const kn_dnnl_exe *exe, int v)
{
    if (v < 0 || exe->plain_ok[v] || exe->rep_head[v] < 0)
        return NULL;
    return &exe->reps[exe->rep_head[v]].md;
}

/* A new bind: plain md of value v (dims as given, or the value's own when dims is NULL). */
static kn_status kn_dnnl_bind_plain(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_bind *b, int arg, int v,
                                    int nd, const int64_t *dims, kn_error *err)
{
    b->arg = arg;
    b->value = v;
    b->plain = true;
    if (!dims)
        return kn_dnnl_md_value(exe->graph, n, v, &b->md, err);
    return kn_dnnl_md(n, &b->md, nd, dims, err);
}

/* An activation input: its blocked copy's layout when `req` is blocked and it has one, else plain. */
static kn_status kn_dnnl_bind_act(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                  kn_dnnl_bind *b, int arg, int v, kn_error *err)
{
    const dnnl_memory_desc_t *blk = req->blocked ? kn_dnnl_blocked_md(exe, v) : NULL;
    if (!blk)
        return kn_dnnl_bind_plain(exe, n, b, arg, v, 0, NULL, err);
    b->arg = arg;
    b->value = v;
    b->plain = false;
    b->md = *blk;
    return KN_OK;
}

kn_status kn_dnnl_any(const kn_node *n, const dnnl_memory_desc_t *like, dnnl_memory_desc_t *md,
                             kn_error *err)
{
    kn_status st = KN_OK;
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(md, like->ndims, like->dims, dnnl_f32, dnnl_format_tag_any));
fail:
    return st;
}

/* The format tag a blocked activation layout has (nChw8c...); false when it is none of the usual ones. */
static bool kn_dnnl_tag_of(const dnnl_memory_desc_t *md, dnnl_format_tag_t *tag)
{
    static const dnnl_format_tag_t tags3[] = {dnnl_aBc8b, dnnl_aBc16b, dnnl_acb, dnnl_abc};
    static const dnnl_format_tag_t tags4[] = {dnnl_aBcd8b, dnnl_aBcd16b, dnnl_acdb, dnnl_abcd};
    static const dnnl_format_tag_t tags5[] = {dnnl_aBcde8b, dnnl_aBcde16b, dnnl_acdeb, dnnl_abcde};
    const dnnl_format_tag_t *tags = md->ndims == 3 ? tags3 : md->ndims == 4 ? tags4 : md->ndims == 5 ? tags5 : NULL;
    if (!tags)
        return false;
    for (int k = 0; k < 4; k++) {
        dnnl_memory_desc_t t;
        if (dnnl_memory_desc_init_by_tag(&t, md->ndims, md->dims, dnnl_f32, tags[k]) == dnnl_success &&
            dnnl_memory_desc_equal(&t, md)) {
            *tag = tags[k];
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ windows: conv, deconv, pools */

kn_status kn_dnnl_window_dims(const kn_node *n, const kn_shape *xs, const kn_shape *ys, const kn_shape *ws, bool global,
                              dnnl_dims_t kd, dnnl_dims_t strides, dnnl_dims_t dil, dnnl_dims_t pl, dnnl_dims_t pr,
                              kn_error *err)
{
    const bool deconv = n->op == KN_OP_CONV_TRANSPOSE;
    const int ns = xs->rank - 2;
    kn_status st;
    if (ns < 1 || ns > 3 || ys->rank != xs->rank)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%d spatial dimensions", ns);
    if (global) {
        for (int i = 0; i < ns; i++) {
            kd[i] = xs->dims[2 + i];
            strides[i] = 1;
            dil[i] = pl[i] = pr[i] = 0;
        }
        return KN_OK;
    }
    const kn_window_attrs *a = &n->attrs.window;
    if (a->nspatial != ns)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': rank does not match the spatial dimensions", n->name);
    int64_t kernel[KN_MAX_SPATIAL] = {0}, pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
    for (int i = 0; i < ns; i++)
        kernel[i] = a->kernel[i] ? a->kernel[i] : (ws ? ws->dims[2 + i] : 0);
    if ((st = kn_window_resolve(n, a, xs->dims + 2, kernel, deconv, pb, pe, o, err)) != KN_OK)
        return st;
    for (int i = 0; i < ns; i++) {
        int64_t s = a->stride[i] ? a->stride[i] : 1, d = a->dilation[i] ? a->dilation[i] : 1;
        int64_t ek = (kernel[i] - 1) * d + 1;
        if (o[i] != ys->dims[2 + i])
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': output size disagrees with the shape rule", n->name);
        kd[i] = kernel[i];
        strides[i] = s;
        dil[i] = d - 1;
        pl[i] = pb[i];
        if (deconv) {
            /* oneDNN: out = s (in - 1) + ek - pl - pr; output_padding and output_shape end up in pr */
            pr[i] = s * (xs->dims[2 + i] - 1) + ek - pb[i] - o[i];
            if (pl[i] < 0 || pr[i] < 0)
                return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                    "output_padding/output_shape beyond the padding (negative oneDNN padding)");
            continue;
        }
        /* ceil_mode: the right padding that makes oneDNN's output size the shape rule's */
        pr[i] = (o[i] - 1) * s + ek - xs->dims[2 + i] - pb[i];
        if ((n->op == KN_OP_AVERAGE_POOL || n->op == KN_OP_AVERAGE_POOL_GRAD) && a->count_include_pad && pr[i] > pe[i])
            return kn_error_set(err, KN_ERR_UNSUPPORTED, "ceil_mode window overhang with count_include_pad");
        if (pr[i] < 0)
            pr[i] = 0; /* the last input rows/cols are not read; oneDNN accepts a smaller right pad */
    }
    return KN_OK;
}

kn_status kn_dnnl_conv_weights_md(const kn_node *n, int ns, const dnnl_dims_t kd, int64_t oc, int64_t ic,
                                  int64_t group, bool deconv, dnnl_memory_desc_t *md, kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_dims_t wd, wstr;
    int wn = 0;
    int64_t ksz = 1;
    for (int i = 0; i < ns; i++)
        ksz *= kd[i];
    if (group > 1)
        wd[wn++] = group;
    wd[wn++] = oc / group;
    wd[wn++] = ic / group;
    for (int i = 0; i < ns; i++)
        wd[wn++] = kd[i];
    /* strides of the ONNX bytes: conv [oc, ic/G, k..], deconv [ic, oc/G, k..] */
    int64_t kst = 1;
    for (int i = ns - 1; i >= 0; i--) {
        wstr[wn - ns + i] = kst;
        kst *= kd[i];
    }
    int o_at = group > 1 ? 1 : 0, i_at = o_at + 1;
    if (deconv) {
        wstr[o_at] = ksz;
        wstr[i_at] = (oc / group) * ksz;
        if (group > 1)
            wstr[0] = (ic / group) * (oc / group) * ksz;
    } else {
        wstr[i_at] = ksz;
        wstr[o_at] = (ic / group) * ksz;
        if (group > 1)
            wstr[0] = (oc / group) * (ic / group) * ksz;
    }
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(md, wn, wd, dnnl_f32, wstr));
fail:
    return st;
}

static kn_status kn_dnnl_describe_window(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                         kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    const bool conv = n->op == KN_OP_CONV, deconv = n->op == KN_OP_CONV_TRANSPOSE;
    const bool global = n->op == KN_OP_GLOBAL_AVERAGE_POOL || n->op == KN_OP_GLOBAL_MAX_POOL;
    const int ns = xs->rank - 2;
    dnnl_dims_t strides, dil, pl, pr, kd;
    const kn_shape *ws = conv || deconv ? &g->values[n->inputs[1]].shape : NULL;
    if ((st = kn_dnnl_window_dims(n, xs, ys, ws, global, kd, strides, dil, pl, pr, err)) != KN_OK)
        return st;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_act(exe, n, req, src, DNNL_ARG_SRC, n->inputs[0], err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
        return st;
    if (!conv && !deconv) {
        /* a windowed pool on a plain input (after a gemm-based or reference producer) reads an nCx8c copy:
         * oneDNN's plain-layout pooling is its slow one (14 ms of AlexNet's 100 at batch 8, the reorder 0.2) */
        static const dnnl_format_tag_t blk8[6] = {0, 0, 0, dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b};
        if (req->blocked && src->plain && !global && xs->dims[1] >= 8) {
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src->md, xs->rank, src->md.dims, dnnl_f32, blk8[xs->rank]));
            src->plain = false;
        }
        dnnl_alg_kind_t alg = n->op == KN_OP_MAX_POOL || n->op == KN_OP_GLOBAL_MAX_POOL ? dnnl_pooling_max
                              : !global && n->attrs.window.count_include_pad ? dnnl_pooling_avg_include_padding
                                                                             : dnnl_pooling_avg_exclude_padding;
        dnnl_memory_desc_t dmd = dst->md;
        if (!src->plain && (st = kn_dnnl_any(n, &dst->md, &dmd, err)) != KN_OK)
            return st;
        KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&desc->op.pool, dnnl_forward_inference, alg, &src->md,
                                                           &dmd, strides, kd, dil, pl, pr));
        return KN_OK;
    }
    /* weights: conv oihw (goihw grouped: O = G * O/G); deconv iohw (giohw: I = G * I/G) */
    const kn_window_attrs *a = &n->attrs.window;
    int64_t group = a->group ? a->group : 1;
    int64_t oc = deconv ? ws->dims[1] * group : ws->dims[0], ic = deconv ? ws->dims[0] : ws->dims[1] * group;
    if (oc % group || ic % group)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': channels not divisible by group %lld", n->name,
                            (long long)group);
    kn_dnnl_bind *w = &binds[(*nb)++];
    w->arg = DNNL_ARG_WEIGHTS;
    w->value = n->inputs[1];
    w->plain = true;
    if ((st = kn_dnnl_conv_weights_md(n, ns, kd, oc, ic, group, deconv, &w->md, err)) != KN_OK)
        return st;
    const dnnl_memory_desc_t *bias_md = NULL;
    if (n->num_inputs > 2 && n->inputs[2] >= 0) {
        kn_dnnl_bind *b = &binds[(*nb)++];
        if ((st = kn_dnnl_bind_plain(exe, n, b, DNNL_ARG_BIAS, n->inputs[2], 1, &oc, err)) != KN_OK)
            return st;
        bias_md = &b->md;
    }
    /* layouts: plain, or oneDNN's choice (any), or fixed by the first pass of a fused residual */
    dnnl_memory_desc_t smd = src->md, wmd = w->md, dmd = dst->md;
    if (req->blocked) {
        /* weights that are graph inputs stay plain: their buffer is bound as it is */
        if ((st = kn_dnnl_any(n, &src->md, &smd, err)) != KN_OK || (st = kn_dnnl_any(n, &dst->md, &dmd, err)) != KN_OK ||
            (g->values[w->value].data && (st = kn_dnnl_any(n, &w->md, &wmd, err)) != KN_OK))
            return st;
        /* the convolution layout of this compile (dnnl_tune.c): src and dst, or dst alone on a retry */
        const dnnl_format_tag_t tag = kn_dnnl_conv_tag(exe->conv_layout, xs->rank);
        if (tag != dnnl_format_tag_undef && exe->conv_force >= 2)
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&smd, xs->rank, smd.dims, dnnl_f32, tag));
        if (tag != dnnl_format_tag_undef && exe->conv_force >= 1)
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dmd, ys->rank, dmd.dims, dnnl_f32, tag));
        if (req->fix_src)
            smd = *req->fix_src;
        if (req->fix_wei)
            wmd = *req->fix_wei;
        if (req->fix_dst)
            dmd = *req->fix_dst;
        src->plain = false;
        src->md = smd;
    }
    if (n->fused.residual >= 0 && !req->no_residual) {
        kn_dnnl_bind *r = &binds[(*nb)++];
        r->arg = KN_DNNL_RES_ARG;
        r->value = n->inputs[n->fused.residual];
        r->plain = !req->blocked;
        r->md = dmd;
    }
    /* direct, also in training graphs: oneDNN 2.6's Winograd forward and backward-data (AVX-512) are twice as fast
     * on mnist_cnn's 32 -> 64 layer, but ten training steps then drift 1e-2 from the reference backend's losses
     * (Adam turns their larger rounding of near-zero gradients into whole steps); its backward-weights keeps
     * them within 1e-7 and is used (dnnl_train.c) */
    if (deconv)
        KN_DNNL_CHECK(n, dnnl_dilated_deconvolution_forward_desc_init(&desc->op.deconv, dnnl_forward_inference,
                                                                      dnnl_deconvolution_direct, &smd, &wmd, bias_md,
                                                                      &dmd, strides, dil, pl, pr));
    else
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&desc->op.conv, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, &smd, &wmd, bias_md, &dmd,
                                                                    strides, dil, pl, pr));
fail:
    return st;
}

/* ------------------------------------------------------------ Gemm, MatMul */

static kn_status kn_dnnl_describe_matmul(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                         kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape, *ys = &g->values[n->outputs[0]].shape;
    const kn_shape *bs = &g->values[n->inputs[1]].shape;
    bool ta = n->op == KN_OP_GEMM && n->attrs.gemm.trans_a;
    bool tb = n->op == KN_OP_GEMM && n->attrs.gemm.trans_b;
    /* MatMul with batch dims (kn_dnnl_decide: both operands 2-D to 6-D): A, B and Y padded with leading 1s
     * to Y's rank, which oneDNN's matmul broadcasts (a 1 in A's or B's batch dims). A 2-D B (a projection's
     * weights) makes it one product: A's batch dims fold into M, [.., M, K] read as [.. * M, K] (ViT's
     * [197, 1, 768] x [768, 2304] was 197 products of one row: 16 ms against 3.5 as one, 2 threads). */
    const bool fold = n->op == KN_OP_MATMUL && bs->rank == 2 && xs->rank > 2;
    const int R = fold ? 2 : ys->rank;
    int64_t M = ys->dims[ys->rank - 2], N = ys->dims[ys->rank - 1];
    for (int i = 0; fold && i < ys->rank - 2; i++)
        M *= ys->dims[i]; /* no overflow: Y's element count was checked at shape inference */
    int64_t K = ta ? xs->dims[0] : xs->dims[xs->rank - 1];
    if ((tb ? bs->dims[1] : bs->dims[bs->rank - 2]) != K)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': inner dimensions disagree", n->name);
    dnnl_dims_t ad, as, bd, bstr;
    int64_t sa = M * K, sb = K * N;
    for (int i = R - 3; i >= 0; i--) {
        int ia = i - (R - xs->rank), ib = i - (R - bs->rank);
        ad[i] = ia >= 0 ? xs->dims[ia] : 1;
        bd[i] = ib >= 0 ? bs->dims[ib] : 1;
        as[i] = sa;
        bstr[i] = sb;
        sa *= ad[i];
        sb *= bd[i];
    }
    ad[R - 2] = M;
    ad[R - 1] = K;
    as[R - 2] = ta ? 1 : K;
    as[R - 1] = ta ? M : 1;
    bd[R - 2] = K;
    bd[R - 1] = N;
    bstr[R - 2] = tb ? 1 : N;
    bstr[R - 1] = tb ? K : 1;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++], *w = &binds[(*nb)++];
    *src = (kn_dnnl_bind){.arg = DNNL_ARG_SRC, .value = n->inputs[0], .plain = true};
    *w = (kn_dnnl_bind){.arg = DNNL_ARG_WEIGHTS, .value = n->inputs[1], .plain = true};
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&src->md, R, ad, dnnl_f32, as));
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&w->md, R, bd, dnnl_f32, bstr));
    const int64_t yd[2] = {M, N};
    if ((st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], R, fold ? yd : ys->dims, err)) != KN_OK)
        return st;
    /* constant weights without batch dims in oneDNN's layout (reordered once, at compile time), not packed
     * again on every run from the plain matrix */
    dnnl_memory_desc_t wmd = w->md;
    if (R == 2 && kn_dnnl_constant(exe, w->value) && (st = kn_dnnl_any(n, &w->md, &wmd, err)) != KN_OK)
        return st;
    const dnnl_memory_desc_t *bias_md = NULL;
    if (n->num_inputs > 2 && n->inputs[2] >= 0) {
        const kn_shape *cs = &g->values[n->inputs[2]].shape;
        /* C broadcasts to [M, N]: as a 2-D [1 or M, 1 or N] bias (Gemm only: MatMul has no C) */
        int64_t cd[2] = {1, 1};
        if (cs->rank == 1)
            cd[1] = cs->dims[0];
        else if (cs->rank == 2) {
            cd[0] = cs->dims[0];
            cd[1] = cs->dims[1];
        }
        if ((cd[0] != 1 && cd[0] != M) || (cd[1] != 1 && cd[1] != N))
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': C does not broadcast to [M, N]", n->name);
        kn_dnnl_bind *b = &binds[(*nb)++];
        if ((st = kn_dnnl_bind_plain(exe, n, b, DNNL_ARG_BIAS, n->inputs[2], 2, cd, err)) != KN_OK)
            return st;
        bias_md = &b->md;
    }
    KN_DNNL_CHECK(n, dnnl_matmul_desc_init(&desc->op.matmul, &src->md, &wmd, bias_md, &dst->md));
fail:
    return st;
}

/* Transpose: a reorder from the input's plain buffer read as the output's dims with permuted strides. */
static kn_status kn_dnnl_describe_transpose(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                            kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    const kn_transpose_attrs *a = &n->attrs.transpose;
    const int R = xs->rank;
    if (a->nperm != 0 && a->nperm != R)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': perm has %d entries for rank %d", n->name, a->nperm, R);
    dnnl_dims_t ist, dims, strides;
    int64_t s = 1;
    for (int i = R - 1; i >= 0; i--) {
        ist[i] = s;
        s *= xs->dims[i];
    }
    for (int i = 0; i < R; i++) {
        int64_t p = a->nperm ? a->perm[i] : R - 1 - i;
        if (p < 0 || p >= R)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': bad perm entry %lld", n->name, (long long)p);
        dims[i] = xs->dims[p];
        strides[i] = ist[p];
    }
    desc->kind = KN_DNNL_REORDER;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    *src = (kn_dnnl_bind){.arg = DNNL_ARG_SRC, .value = n->inputs[0], .plain = true};
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&src->md, R, dims, dnnl_f32, strides));
    st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err);
fail:
    return st;
}

/* ------------------------------------------------------------ binary, sum, concat */

/* Input slot k's dims with leading 1s up to `rank`. */
static void kn_dnnl_padded_dims(const kn_shape *s, int rank, int64_t *dims)
{
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - s->rank);
        dims[i] = j >= 0 ? s->dims[j] : 1;
    }
}

static kn_status kn_dnnl_describe_binary(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                         kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    const int R = ys->rank;
    const bool add = n->op == KN_OP_ADD || n->op == KN_OP_SUM; /* Sum of two inputs (kn_dnnl_decide) is Add */
    int first = 0; /* the input of the output's shape: oneDNN's src0 */
    if (!kn_shape_equal(&g->values[n->inputs[0]].shape, ys)) {
        if ((!add && n->op != KN_OP_MUL && n->op != KN_OP_MIN && n->op != KN_OP_MAX) ||
            !kn_shape_equal(&g->values[n->inputs[1]].shape, ys))
            return kn_error_set(err, KN_ERR_UNSUPPORTED, "the first input is broadcast (oneDNN broadcasts src1 only)");
        first = 1; /* commutative: swap */
    }
    if (exe->buffers[n->outputs[0]] && exe->buffers[n->outputs[0]] == exe->buffers[n->inputs[1 - first]]) {
        /* the memory plan writes the output over the input that would be src1, and oneDNN's binary and sum
         * compute in place over src0 only (sum over src1 gives 2 * src0: ResNet-style training graphs, whose
         * skip input lives on); a commutative op swaps its inputs, the others stay on the reference kernels */
        const bool commutative = add || n->op == KN_OP_MUL || n->op == KN_OP_MIN || n->op == KN_OP_MAX;
        if (!commutative || !kn_shape_equal(&g->values[n->inputs[1 - first]].shape, ys))
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "the memory plan writes the output over input %d (oneDNN computes in place over "
                                "its first source only)", 1 - first);
        first = 1 - first;
    }
    const int a = n->inputs[first], b = n->inputs[1 - first];
    const bool same = kn_shape_equal(&g->values[b].shape, ys);
    kn_dnnl_bind *s0 = &binds[(*nb)++], *dst = &binds[(*nb)++], *s1 = &binds[(*nb)++];
    if (add && same) {
        /* the sum primitive: both sources (and the destination) in one layout */
        desc->kind = KN_DNNL_SUM;
        if ((st = kn_dnnl_bind_act(exe, n, req, s0, DNNL_ARG_MULTIPLE_SRC, a, err)) != KN_OK ||
            (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
            return st;
        if (!s0->plain && kn_dnnl_constant(exe, b))
            return kn_error_set(err, KN_ERR_UNSUPPORTED, "constant operand of a blocked input");
        *s1 = *s0; /* the same layout: a reorder when b has another */
        s1->arg = DNNL_ARG_MULTIPLE_SRC + 1;
        s1->value = b;
        desc->dst_any = !s0->plain;
        return KN_OK;
    }
    dnnl_alg_kind_t alg = add ? dnnl_binary_add : n->op == KN_OP_SUB ? dnnl_binary_sub
                        : n->op == KN_OP_MUL ? dnnl_binary_mul : n->op == KN_OP_MIN ? dnnl_binary_min
                        : n->op == KN_OP_MAX ? dnnl_binary_max : dnnl_binary_div;
    if ((st = kn_dnnl_bind_act(exe, n, req, s0, DNNL_ARG_SRC_0, a, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
        return st;
    dnnl_memory_desc_t s1md; /* src1 as the primitive reads it (a constant's bind keeps its plain md) */
    dnnl_format_tag_t tag;
    if (same && !s0->plain && !kn_dnnl_constant(exe, b)) {
        *s1 = *s0; /* read in src0's layout (a reorder when it has another) */
        s1->arg = DNNL_ARG_SRC_1;
        s1->value = b;
        s1md = s1->md;
    } else {
        int64_t d1[KN_MAX_RANK];
        kn_dnnl_padded_dims(&g->values[b].shape, R, d1);
        if ((st = kn_dnnl_bind_plain(exe, n, s1, DNNL_ARG_SRC_1, b, R, d1, err)) != KN_OK)
            return st;
        s1md = s1->md;
        /* a broadcast operand next to a blocked src0 (squeeze-excitation scales): in src0's format too,
         * which oneDNN's jit kernels need (a plain src1 falls to its slow reference kernel) */
        const bool constant = kn_dnnl_constant(exe, b);
        if (!s0->plain && (constant || g->values[b].shape.rank == R) && kn_dnnl_tag_of(&s0->md, &tag)) {
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&s1md, R, s1->md.dims, dnnl_f32, tag));
            if (!constant) {
                s1->md = s1md;
                s1->plain = false;
            }
        }
    }
    KN_DNNL_CHECK(n, dnnl_binary_desc_init(&desc->op.binary, alg, &s0->md, &s1md, &s0->md));
fail:
    return st;
}

static kn_status kn_dnnl_describe_concat(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                         kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    int64_t axis;
    if ((st = kn_axis_normalize(n, n->attrs.axis.axis, ys->rank, &axis, err)) != KN_OK)
        return st;
    if (n->num_inputs > KN_DNNL_MAX_ARGS - 2) /* + dst and scratchpad */
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%d inputs (at most %d)", n->num_inputs, KN_DNNL_MAX_ARGS - 2);
    desc->kind = KN_DNNL_CONCAT;
    desc->axis = (int)axis;
    kn_dnnl_bind *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
        return st;
    /* blocked: every source in the first blocked source's format (nChw8c...), and the destination too */
    dnnl_format_tag_t tag = dnnl_format_tag_undef;
    for (int k = 0; k < n->num_inputs && req->blocked && tag == dnnl_format_tag_undef; k++) {
        const dnnl_memory_desc_t *blk = kn_dnnl_blocked_md(exe, n->inputs[k]);
        if (blk && !kn_dnnl_tag_of(blk, &tag))
            tag = dnnl_format_tag_undef;
    }
    if (req->blocked && exe->force_tag && ys->rank == 4)
        tag = exe->force_tag; /* KILN_DNNL_LAYOUT: kiln's copies on that layout, whatever the sources are in */
    /* channel blocks (nCx8c, nCx16c) padded inside the result (a source before the last one not a whole
     * number of blocks) have no copy list and put oneDNN on its reference concat: plain then (ShuffleNet's
     * 58/116/232 channels; its reshapes need the plain layout anyway) */
    const bool channel_blocked = tag == dnnl_aBc8b || tag == dnnl_aBcd8b || tag == dnnl_aBcde8b ||
                                 tag == dnnl_aBc16b || tag == dnnl_aBcd16b || tag == dnnl_aBcde16b;
    const int64_t blk = tag == dnnl_aBc16b || tag == dnnl_aBcd16b || tag == dnnl_aBcde16b ? 16 : 8;
    for (int k = 0; k < n->num_inputs && channel_blocked; k++)
        if (g->values[n->inputs[k]].shape.rank < 2 ||
            (axis == 1 && k < n->num_inputs - 1 && g->values[n->inputs[k]].shape.dims[1] % blk != 0))
            tag = dnnl_format_tag_undef;
    for (int k = 0; k < n->num_inputs; k++) {
        kn_dnnl_bind *s = &binds[(*nb)++];
        if ((st = kn_dnnl_bind_plain(exe, n, s, DNNL_ARG_MULTIPLE_SRC + k, n->inputs[k], 0, NULL, err)) != KN_OK)
            return st;
        if (tag != dnnl_format_tag_undef && !kn_dnnl_constant(exe, n->inputs[k])) {
            s->plain = false;
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&s->md, s->md.ndims, s->md.dims, dnnl_f32, tag));
        }
    }
    if (tag != dnnl_format_tag_undef) {
        dst->plain = false;
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst->md, dst->md.ndims, dst->md.dims, dnnl_f32, tag));
    }
fail:
    return st;
}

/* ------------------------------------------------------------ normalisation, softmax, eltwise */

static kn_status kn_dnnl_describe_norm(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                       kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_act(exe, n, req, src, DNNL_ARG_SRC, n->inputs[0], err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
        return st;
    if (n->op == KN_OP_LRN) {
        const kn_lrn_attrs *a = &n->attrs.lrn;
        KN_DNNL_CHECK(n, dnnl_lrn_forward_desc_init(&desc->op.lrn, dnnl_forward_inference, dnnl_lrn_across_channels,
                                                    &src->md, a->size, a->alpha, a->beta, a->bias));
        return KN_OK;
    }
    /* BatchNormalization (inference): scale, shift, mean, variance are [C] */
    static const int args[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    int64_t C = xs->dims[1];
    for (int k = 0; k < 4; k++)
        if ((st = kn_dnnl_bind_plain(exe, n, &binds[(*nb)++], args[k], n->inputs[1 + k], 1, &C, err)) != KN_OK)
            return st;
    KN_DNNL_CHECK(n, dnnl_batch_normalization_forward_desc_init(
                         &desc->op.bnorm, dnnl_forward_inference, &src->md, n->attrs.batch_norm.epsilon,
                         dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift |
                             (n->fused.activation == KN_OP_RELU ? dnnl_fuse_norm_relu : 0)));
fail:
    return st;
}

static kn_status kn_dnnl_describe_softmax(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                          kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    int64_t axis;
    if ((st = kn_axis_normalize(n, n->attrs.axis.axis, xs->rank, &axis, err)) != KN_OK)
        return st;
    int64_t dims[KN_MAX_RANK];
    int nd = xs->rank;
    for (int i = 0; i < nd; i++)
        dims[i] = xs->dims[i];
    if (n->attrs.axis.legacy_2d) { /* opset < 13: [prod(dims before axis), prod(dims from axis)], axis 1 */
        int64_t outer = 1, inner = 1;
        for (int i = 0; i < xs->rank; i++)
            *(i < axis ? &outer : &inner) *= xs->dims[i];
        dims[0] = outer;
        dims[1] = inner;
        nd = 2;
        axis = 1;
    }
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_plain(exe, n, src, DNNL_ARG_SRC, n->inputs[0], nd, dims, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], nd, dims, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_softmax_v2_forward_desc_init(&desc->op.softmax, dnnl_forward_inference,
                                                       n->op == KN_OP_LOG_SOFTMAX ? dnnl_softmax_log
                                                                                  : dnnl_softmax_accurate,
                                                       &src->md, &dst->md, (int)axis));
fail:
    return st;
}

static kn_status kn_dnnl_describe_eltwise(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                          kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_act(exe, n, req, src, DNNL_ARG_SRC, n->inputs[0], err)) != KN_OK)
        return st;
    if (src->plain) { /* plain: the tensor as one flat vector */
        size_t numel;
        if (kn_shape_numel(&g->values[n->inputs[0]].shape, &numel) != KN_OK || numel > INT64_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': tensor too large", n->name);
        int64_t d = numel ? (int64_t)numel : 1;
        if ((st = kn_dnnl_md(n, &src->md, 1, &d, err)) != KN_OK)
            return st;
    }
    *dst = (kn_dnnl_bind){.arg = DNNL_ARG_DST, .value = n->outputs[0], .plain = src->plain, .md = src->md};
    kn_scalar_attrs p = n->attrs.scalar;
    if (n->op == KN_OP_CLIP) {
        bool present;
        p.min = -INFINITY;
        p.max = INFINITY;
        float v;
        if (kn_dnnl_const_scalar(g, n, 1, &v, &present) && present)
            p.min = v;
        if (kn_dnnl_const_scalar(g, n, 2, &v, &present) && present)
            p.max = v;
    }
    dnnl_alg_kind_t alg;
    float alpha, beta;
    if (!kn_dnnl_eltwise_alg(n->op, &p, &alg, &alpha, &beta))
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "no oneDNN eltwise algorithm");
    KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&desc->op.eltwise, dnnl_forward_inference, alg, &src->md, alpha,
                                                    beta));
fail:
    return st;
}

/* Reduce*: one reduction primitive on the plain input, the output seen with the reduced dimensions kept as 1. */
static kn_status kn_dnnl_describe_reduction(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                            kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    bool red[KN_MAX_RANK], identity;
    if (!kn_dnnl_reduce_axes(g, n, red, &identity) || identity)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': axes not mapped", n->name);
    int64_t kept[KN_MAX_RANK];
    for (int d = 0; d < xs->rank; d++)
        kept[d] = red[d] ? 1 : xs->dims[d];
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_plain(exe, n, src, DNNL_ARG_SRC, n->inputs[0], xs->rank, xs->dims, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], xs->rank, kept, err)) != KN_OK)
        return st;
    dnnl_alg_kind_t alg;
    float p = 0.0f;
    switch (n->op) {
    case KN_OP_REDUCE_SUM: alg = dnnl_reduction_sum; break;
    case KN_OP_REDUCE_MAX: alg = dnnl_reduction_max; break;
    case KN_OP_REDUCE_MIN: alg = dnnl_reduction_min; break;
    case KN_OP_REDUCE_PROD: alg = dnnl_reduction_mul; break;
    case KN_OP_REDUCE_L1: alg = dnnl_reduction_norm_lp_sum; p = 1.0f; break;
    case KN_OP_REDUCE_L2: alg = dnnl_reduction_norm_lp_sum; p = 2.0f; break;
    case KN_OP_REDUCE_SUM_SQUARE: alg = dnnl_reduction_norm_lp_power_p_sum; p = 2.0f; break;
    default: alg = dnnl_reduction_mean; break;
    }
    KN_DNNL_CHECK(n, dnnl_reduction_desc_init(&desc->op.reduction, alg, &src->md, &dst->md, p, 0.0f));
fail:
    return st;
}

/* Resize: oneDNN's resampling on the plain tensors with kiln's scale factors (kn_dnnl_resize_maps). */
static kn_status kn_dnnl_describe_resampling(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                             kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    kn_status st = KN_OK;
    float factors[KN_MAX_RANK];
    char why[160];
    if (!kn_dnnl_resize_maps(exe->graph, n, factors, why, sizeof why))
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': %s", n->name, why);
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_plain(exe, n, src, DNNL_ARG_SRC, n->inputs[0], 0, NULL, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 0, NULL, err)) != KN_OK)
        return st;
    dnnl_alg_kind_t alg = n->attrs.resize.mode == KN_RESIZE_LINEAR ? dnnl_resampling_linear : dnnl_resampling_nearest;
    KN_DNNL_CHECK(n, dnnl_resampling_forward_desc_init(&desc->op.resampling, dnnl_forward_inference, alg, factors,
                                                       &src->md, &dst->md));
fail:
    return st;
}

/* LayerNormalization: oneDNN's layer normalisation (over the last dimension) on X seen as [outer, inner]. */
static kn_status kn_dnnl_describe_layer_norm(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                             kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    kn_status st = KN_OK;
    int axis;
    int64_t dims[2];
    if ((st = kn_layer_norm_split(n, &exe->graph->values[n->inputs[0]].shape, &axis, &dims[0], &dims[1], err)) !=
        KN_OK)
        return st;
    bool shift = n->num_inputs > 2 && n->inputs[2] >= 0;
    kn_dnnl_bind *src = &binds[(*nb)++], *dst = &binds[(*nb)++];
    if ((st = kn_dnnl_bind_plain(exe, n, src, DNNL_ARG_SRC, n->inputs[0], 2, dims, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, dst, DNNL_ARG_DST, n->outputs[0], 2, dims, err)) != KN_OK ||
        (st = kn_dnnl_bind_plain(exe, n, &binds[(*nb)++], DNNL_ARG_SCALE, n->inputs[1], 1, &dims[1], err)) != KN_OK ||
        (shift && (st = kn_dnnl_bind_plain(exe, n, &binds[(*nb)++], DNNL_ARG_SHIFT, n->inputs[2], 1, &dims[1], err)) !=
                      KN_OK))
        return st;
    KN_DNNL_CHECK(n, dnnl_layer_normalization_forward_desc_init(&desc->op.lnorm, dnnl_forward_inference, &src->md,
                                                                NULL, n->attrs.layer_norm.epsilon,
                                                                dnnl_use_scale | (shift ? dnnl_use_shift : 0)));
fail:
    return st;
}

kn_status kn_dnnl_describe(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req, kn_dnnl_desc *desc,
                           kn_dnnl_bind *binds, int *nbinds, kn_error *err)
{
    memset(desc, 0, sizeof *desc);
    *nbinds = 0;
    switch (n->op) {
    case KN_OP_CONV:
    case KN_OP_CONV_TRANSPOSE:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
    case KN_OP_GLOBAL_AVERAGE_POOL:
    case KN_OP_GLOBAL_MAX_POOL: return kn_dnnl_describe_window(exe, n, req, desc, binds, nbinds, err);
    case KN_OP_GEMM:
    case KN_OP_MATMUL: return kn_dnnl_describe_matmul(exe, n, desc, binds, nbinds, err);
    case KN_OP_TRANSPOSE: return kn_dnnl_describe_transpose(exe, n, desc, binds, nbinds, err);
    case KN_OP_ADD:
    case KN_OP_SUB:
    case KN_OP_MUL:
    case KN_OP_DIV:
    case KN_OP_MIN: /* Min, Max, Sum: two inputs (kn_dnnl_decide) */
    case KN_OP_MAX:
    case KN_OP_SUM: return kn_dnnl_describe_binary(exe, n, req, desc, binds, nbinds, err);
    case KN_OP_CONCAT: return kn_dnnl_describe_concat(exe, n, req, desc, binds, nbinds, err);
    case KN_OP_BATCH_NORM:
    case KN_OP_LRN: return kn_dnnl_describe_norm(exe, n, req, desc, binds, nbinds, err);
    case KN_OP_SOFTMAX:
    case KN_OP_LOG_SOFTMAX: return kn_dnnl_describe_softmax(exe, n, desc, binds, nbinds, err);
    case KN_OP_CONV_GRAD_WEIGHT:
    case KN_OP_BATCH_NORM_TRAIN:
    case KN_OP_BATCH_NORM_GRAD:
    case KN_OP_AVERAGE_POOL_GRAD:
    case KN_OP_GLOBAL_AVERAGE_POOL_GRAD:
    case KN_OP_MAX_POOL_GRAD:
    case KN_OP_ACTIVATION_GRAD: return kn_dnnl_describe_train(exe, n, req, desc, binds, nbinds, err);
    case KN_OP_REDUCE_MEAN:
    case KN_OP_REDUCE_SUM:
    case KN_OP_REDUCE_MAX:
    case KN_OP_REDUCE_MIN:
    case KN_OP_REDUCE_PROD:
    case KN_OP_REDUCE_L1:
    case KN_OP_REDUCE_L2:
    case KN_OP_REDUCE_SUM_SQUARE: return kn_dnnl_describe_reduction(exe, n, desc, binds, nbinds, err);
    case KN_OP_RESIZE: return kn_dnnl_describe_resampling(exe, n, desc, binds, nbinds, err);
    case KN_OP_LAYER_NORM: return kn_dnnl_describe_layer_norm(exe, n, desc, binds, nbinds, err);
    default: return kn_dnnl_describe_eltwise(exe, n, req, desc, binds, nbinds, err);
    }
}

/* Whether pd's implementation is gemm-based (im2col/col2im + gemm). */
static bool kn_dnnl_pd_is_gemm(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
           strstr(impl, "gemm") != NULL;
}

/*
 * The first implementation of desc (in oneDNN's order) that is neither gemm-based nor the reference one, else
 * its first: with format "any", oneDNN 2.6 ranks its im2col + gemm convolution backward-weights before the jit
 * one whose blocked layouts it cannot infer from the forward hint (measured: Keras MNIST convnet's 32 -> 64
 * 3x3 layer at batch 64, 27 ms on gemm:jit, 1 thread).
 */
static dnnl_status_t kn_dnnl_create_pd_no_gemm(const kn_dnnl_exe *exe, const kn_dnnl_desc *desc,
                                               const dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    dnnl_primitive_desc_iterator_t it = NULL;
    dnnl_status_t ds = dnnl_primitive_desc_iterator_create(&it, &desc->op, attr, exe->engine, desc->hint);
    if (ds != dnnl_success)
        return ds;
    dnnl_primitive_desc_t first = NULL;
    *pd = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        if (!cand)
            continue;
        if (!kn_dnnl_pd_is_gemm(cand) && !kn_dnnl_pd_is_ref(cand, NULL, 0)) {
            *pd = cand;
            break;
        }
        if (!first)
            first = cand;
        else
            dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (*pd) {
        if (first)
            dnnl_primitive_desc_destroy(first);
        return dnnl_success;
    }
    *pd = first;
    return first ? dnnl_success : dnnl_unimplemented;
}

kn_status kn_dnnl_create_pd(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_desc *desc,
                            const kn_dnnl_bind *binds, int nbinds, const dnnl_primitive_attr_t attr,
                            dnnl_primitive_desc_t *pd, char *why, size_t len, kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_status_t ds;
    *pd = NULL;
    if (desc->kind == KN_DNNL_OPDESC && desc->skip_gemm) {
        ds = kn_dnnl_create_pd_no_gemm(exe, desc, attr, pd);
    } else if (desc->kind == KN_DNNL_OPDESC) {
        ds = dnnl_primitive_desc_create(pd, &desc->op, attr, exe->engine, desc->hint);
    } else if (desc->kind == KN_DNNL_REORDER) {
        const dnnl_memory_desc_t *src = NULL, *dst = NULL;
        for (int k = 0; k < nbinds; k++) {
            if (binds[k].arg == DNNL_ARG_SRC)
                src = &binds[k].md;
            else if (binds[k].arg == DNNL_ARG_DST)
                dst = &binds[k].md;
        }
        if (!src || !dst)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': reorder without source or destination", n->name);
        ds = dnnl_reorder_primitive_desc_create(pd, src, exe->engine, dst, exe->engine, attr);
    } else {
        dnnl_memory_desc_t srcs[KN_DNNL_MAX_ARGS];
        const dnnl_memory_desc_t *dst = NULL;
        int ns = 0;
        for (int k = 0; k < nbinds; k++) {
            if (binds[k].arg == DNNL_ARG_DST)
                dst = &binds[k].md;
            else if (binds[k].arg >= DNNL_ARG_MULTIPLE_SRC && binds[k].arg < DNNL_ARG_MULTIPLE_SRC + KN_DNNL_MAX_ARGS)
                srcs[binds[k].arg - DNNL_ARG_MULTIPLE_SRC] = binds[k].md, ns++;
        }
        if (desc->dst_any)
            dst = NULL;
        if (desc->kind == KN_DNNL_CONCAT) {
            ds = dnnl_concat_primitive_desc_create(pd, dst, ns, desc->axis, srcs, attr, exe->engine);
        } else {
            float scales[KN_DNNL_MAX_ARGS];
            for (int k = 0; k < ns; k++)
                scales[k] = 1.0f;
            ds = dnnl_sum_primitive_desc_create(pd, dst, ns, scales, srcs, attr, exe->engine);
        }
    }
    if (ds == dnnl_unimplemented) {
        *pd = NULL;
        if (len)
            snprintf(why, len, "oneDNN has no implementation for it");
        return KN_OK;
    }
    KN_DNNL_CHECK(n, ds);
    if (kn_dnnl_pd_is_ref(*pd, why, len)) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
fail:
    return st;
}

/* Attributes of node n: user scratchpad; post-ops (the residual add only when with_res). */
kn_status kn_dnnl_attr(const kn_node *n, const dnnl_memory_desc_t *res_md, bool with_res,
                       dnnl_primitive_attr_t *attr, kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_post_ops_t po = NULL;
    *attr = NULL;
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
    /* batch norm's fused Relu is a flag of its descriptor (kn_dnnl_describe_norm), not a post-op */
    if ((with_res && n->fused.residual >= 0) || (n->fused.activation != KN_OP_COUNT && n->op != KN_OP_BATCH_NORM)) {
        kn_node tmp = *n;
        if (!with_res)
            tmp.fused.residual = -1;
        KN_DNNL_CHECK(n, dnnl_post_ops_create(&po));
        if (tmp.fused.residual >= 0 && !res_md) {
            st = kn_error_set(err, KN_ERR_BACKEND, "node '%s': residual without a descriptor", n->name);
            goto fail;
        }
        if ((st = kn_dnnl_post_ops(&tmp, res_md, po, err)) != KN_OK)
            goto fail;
        KN_DNNL_CHECK(n, dnnl_primitive_attr_set_post_ops(*attr, po));
    }
fail:
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != KN_OK && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}
