/* dnnl_describe.c - oneDNN operation descriptors, post-ops and attributes of a node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

kn_status kn_dnnl_describe(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                           kn_dnnl_bind *binds, int *nbinds, bool *has_residual, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    *nbinds = 0;
    *has_residual = false;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    kn_dnnl_bind *src = &binds[(*nbinds)++], *dst = &binds[(*nbinds)++];
    src->arg = DNNL_ARG_SRC;
    src->value = n->inputs[0];
    dst->arg = DNNL_ARG_DST;
    dst->value = n->outputs[0];
    switch (n->op) {
    case KN_OP_CONV:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL: {
        const kn_window_attrs *a = &n->attrs.window;
        const int ns = a->nspatial;
        if (xs->rank != ns + 2 || ys->rank != ns + 2)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': rank does not match the spatial dimensions",
                                n->name);
        int64_t kernel[KN_MAX_SPATIAL] = {0}, pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
        const kn_shape *ws = n->op == KN_OP_CONV ? &g->values[n->inputs[1]].shape : NULL;
        for (int i = 0; i < ns; i++)
            kernel[i] = a->kernel[i] ? a->kernel[i] : (ws ? ws->dims[2 + i] : 0);
        if ((st = kn_window_resolve(n, a, xs->dims + 2, kernel, false, pb, pe, o, err)) != KN_OK)
            return st;
        dnnl_dims_t strides, dil, pl, pr;
        for (int i = 0; i < ns; i++) {
            int64_t s = a->stride[i] ? a->stride[i] : 1, d = a->dilation[i] ? a->dilation[i] : 1;
            int64_t ek = (kernel[i] - 1) * d + 1;
            if (o[i] != ys->dims[2 + i])
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': output size disagrees with the shape rule",
                                    n->name);
            strides[i] = s;
            dil[i] = d - 1;
            pl[i] = pb[i];
            /* ceil_mode: the right padding that makes oneDNN's output size the shape rule's */
            pr[i] = (o[i] - 1) * s + ek - xs->dims[2 + i] - pb[i];
            if (n->op == KN_OP_AVERAGE_POOL && a->count_include_pad && pr[i] > pe[i])
                return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                    "node '%s': ceil_mode window overhang with count_include_pad", n->name);
            if (pr[i] < 0)
                pr[i] = 0; /* the last input rows/cols are not read; oneDNN accepts a smaller right pad */
        }
        if ((st = kn_dnnl_md_value(g, n, src->value, &src->md, err)) != KN_OK ||
            (st = kn_dnnl_md_value(g, n, dst->value, &dst->md, err)) != KN_OK)
            return st;
        if (n->op != KN_OP_CONV) {
            dnnl_alg_kind_t alg = n->op == KN_OP_MAX_POOL ? dnnl_pooling_max
                                  : a->count_include_pad   ? dnnl_pooling_avg_include_padding
                                                           : dnnl_pooling_avg_exclude_padding;
            dnnl_dims_t k;
            for (int i = 0; i < ns; i++)
                k[i] = kernel[i];
            KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&desc->pool, dnnl_forward_inference, alg, &src->md,
                                                               &dst->md, strides, k, dil, pl, pr));
            return KN_OK;
        }
        /* weights: oihw, or goihw when grouped (the same bytes: O = G * O/G) */
        int64_t group = a->group ? a->group : 1;
        kn_dnnl_bind *w = &binds[(*nbinds)++];
        w->arg = DNNL_ARG_WEIGHTS;
        w->value = n->inputs[1];
        int64_t wd[KN_MAX_SPATIAL + 3];
        int wn = 0;
        if (group > 1) {
            if (ws->dims[0] % group != 0)
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': %lld output channels not divisible by group %lld",
                                    n->name, (long long)ws->dims[0], (long long)group);
            wd[wn++] = group;
            wd[wn++] = ws->dims[0] / group;
        } else {
            wd[wn++] = ws->dims[0];
        }
        for (int i = 1; i < ws->rank; i++)
            wd[wn++] = ws->dims[i];
        if ((st = kn_dnnl_md(n, &w->md, wn, wd, err)) != KN_OK)
            return st;
        const dnnl_memory_desc_t *bias_md = NULL;
        if (n->num_inputs > 2 && n->inputs[2] >= 0) {
            kn_dnnl_bind *b = &binds[(*nbinds)++];
            b->arg = DNNL_ARG_BIAS;
            b->value = n->inputs[2];
            int64_t bd = ws->dims[0];
            if ((st = kn_dnnl_md(n, &b->md, 1, &bd, err)) != KN_OK)
                return st;
            bias_md = &b->md;
        }
        if (n->fused.residual >= 0) {
            kn_dnnl_bind *r = &binds[(*nbinds)++];
            r->arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;
            r->value = n->inputs[n->fused.residual];
            r->md = dst->md;
            *has_residual = true;
        }
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&desc->conv, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, &src->md, &w->md,
                                                                    bias_md, &dst->md, strides, dil, pl, pr));
        return KN_OK;
    }
    case KN_OP_GEMM:
    case KN_OP_MATMUL: {
        const kn_shape *bs = &g->values[n->inputs[1]].shape;
        bool ta = n->op == KN_OP_GEMM && n->attrs.gemm.trans_a;
        bool tb = n->op == KN_OP_GEMM && n->attrs.gemm.trans_b;
        int64_t M = ys->dims[0], N = ys->dims[1];
        int64_t K = ta ? xs->dims[0] : xs->dims[1];
        dnnl_dims_t ad = {M, K}, as = {ta ? 1 : K, ta ? M : 1};
        dnnl_dims_t bd = {K, N}, bstr = {tb ? 1 : N, tb ? K : 1};
        if ((tb ? bs->dims[1] : bs->dims[0]) != K)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': inner dimensions disagree", n->name);
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&src->md, 2, ad, dnnl_f32, as));
        kn_dnnl_bind *w = &binds[(*nbinds)++];
        w->arg = DNNL_ARG_WEIGHTS;
        w->value = n->inputs[1];
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&w->md, 2, bd, dnnl_f32, bstr));
        int64_t yd[2] = {M, N};
        if ((st = kn_dnnl_md(n, &dst->md, 2, yd, err)) != KN_OK)
            return st;
        const dnnl_memory_desc_t *bias_md = NULL;
        if (n->num_inputs > 2 && n->inputs[2] >= 0) {
            const kn_shape *cs = &g->values[n->inputs[2]].shape;
            /* C broadcasts to [M, N]: as a 2-D [1 or M, 1 or N] bias */
            int64_t cd[2] = {1, 1};
            if (cs->rank == 1)
                cd[1] = cs->dims[0];
            else if (cs->rank == 2) {
                cd[0] = cs->dims[0];
                cd[1] = cs->dims[1];
            }
            if ((cd[0] != 1 && cd[0] != M) || (cd[1] != 1 && cd[1] != N))
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': C does not broadcast to [M, N]", n->name);
            kn_dnnl_bind *b = &binds[(*nbinds)++];
            b->arg = DNNL_ARG_BIAS;
            b->value = n->inputs[2];
            if ((st = kn_dnnl_md(n, &b->md, 2, cd, err)) != KN_OK)
                return st;
            bias_md = &b->md;
        }
        KN_DNNL_CHECK(n, dnnl_matmul_desc_init(&desc->matmul, &src->md, &w->md, bias_md, &dst->md));
        return KN_OK;
    }
    default: {
        /* element-wise: the tensor as one flat vector (any rank, plain layout) */
        size_t numel;
        if (kn_shape_numel(xs, &numel) != KN_OK || numel > INT64_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': tensor too large", n->name);
        int64_t d = numel ? (int64_t)numel : 1;
        if ((st = kn_dnnl_md(n, &src->md, 1, &d, err)) != KN_OK)
            return st;
        dst->md = src->md;
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
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': no oneDNN eltwise", n->name);
        KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&desc->eltwise, dnnl_forward_inference, alg, &src->md,
                                                        alpha, beta));
        return KN_OK;
    }
    }
fail:
    return st;
}


/* ------------------------------------------------------------ primitives */


/* Attributes of node n: user scratchpad; post-ops (the residual add only when with_res). */
kn_status kn_dnnl_attr(const kn_node *n, const dnnl_memory_desc_t *res_md, bool with_res,
                       dnnl_primitive_attr_t *attr, kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_post_ops_t po = NULL;
    *attr = NULL;
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
    if ((with_res && n->fused.residual >= 0) || n->fused.activation != KN_OP_COUNT) {
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

kn_status kn_dnnl_reinit_desc(const kn_node *n, kn_dnnl_desc *desc, const dnnl_memory_desc_t *src,
                              const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *bias,
                                     const dnnl_memory_desc_t *dst, kn_error *err)
{
    kn_status st = KN_OK;
    if (n->op == KN_OP_CONV) {
        dnnl_convolution_desc_t c = desc->conv;
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&desc->conv, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, src, w, bias, dst,
                                                                    c.strides, c.dilates, c.padding[0],
                                                                    c.padding[1]));
    } else if (n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL) {
        dnnl_pooling_v2_desc_t p = desc->pool;
        KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&desc->pool, dnnl_forward_inference, p.alg_kind, src, dst,
                                                           p.strides, p.kernel, p.dilation, p.padding[0],
                                                           p.padding[1]));
    } else {
        dnnl_eltwise_desc_t e = desc->eltwise;
        KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&desc->eltwise, dnnl_forward_inference, e.alg_kind, src,
                                                        e.alpha, e.beta));
    }
fail:
    return st;
}

/*
 * Try to build node i as a primitive: in oneDNN's chosen layouts (blocked:
 * Conv always, pooling and eltwise when their input is blocked) or in plain
 * layouts. *built false (and KN_OK) when oneDNN has no implementation; no
 * op is appended then.
 */
