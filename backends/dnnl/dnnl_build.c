/* dnnl_build.c - one node as a oneDNN primitive (blocked or plain layouts) or a reference-kernel fallback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

kn_status kn_dnnl_try_node(kn_dnnl_exe *exe, int i, bool blocked, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_dnnl_desc desc;
    kn_dnnl_bind binds[KN_DNNL_MAX_ARGS];
    int nb = 0;
    bool has_res = false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    *built = false;
    memset(&desc, 0, sizeof desc);
    kn_error derr;
    kn_status st = kn_dnnl_describe(exe, n, &desc, binds, &nb, &has_res, &derr);
    if (st == KN_ERR_UNSUPPORTED)
        return KN_OK; /* a configuration this slice does not map: reference kernels */
    if (st != KN_OK) {
        if (err)
            *err = derr;
        return st;
    }
    kn_dnnl_bind *src = NULL, *dst = NULL, *wb = NULL, *bias = NULL, *res = NULL;
    for (int k = 0; k < nb; k++) {
        if (binds[k].arg == DNNL_ARG_SRC) src = &binds[k];
        else if (binds[k].arg == DNNL_ARG_DST) dst = &binds[k];
        else if (binds[k].arg == DNNL_ARG_WEIGHTS) wb = &binds[k];
        else if (binds[k].arg == DNNL_ARG_BIAS) bias = &binds[k];
        else if (binds[k].arg == KN_DNNL_RES_ARG) res = &binds[k];
    }
    const bool is_conv = n->op == KN_OP_CONV;
    const bool is_pool = n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL;
    const bool is_elt = !is_conv && !is_pool && n->op != KN_OP_GEMM && n->op != KN_OP_MATMUL;
    const int x = n->inputs[0];
    if (blocked && !is_conv && !((is_pool || is_elt) && !exe->plain_ok[x]))
        blocked = false;
    if (blocked) {
        const kn_shape *xs = &g->values[x].shape, *ys = &g->values[n->outputs[0]].shape;
        dnnl_dims_t xd, yd;
        for (int k = 0; k < xs->rank; k++)
            xd[k] = xs->dims[k];
        for (int k = 0; k < ys->rank; k++)
            yd[k] = ys->dims[k];
        if (is_conv) {
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src->md, xs->rank, xd, dnnl_f32, dnnl_format_tag_any));
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst->md, ys->rank, yd, dnnl_f32, dnnl_format_tag_any));
            if (g->values[wb->value].data) {
                dnnl_memory_desc_t w = wb->md;
                KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&w, wb->md.ndims, wb->md.dims, dnnl_f32,
                                                              dnnl_format_tag_any));
                /* keep the plain md in the bind (the source of the weight reorder) */
                if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, &w, bias ? &bias->md : NULL, &dst->md, err)) !=
                    KN_OK)
                    return st;
            } else if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, &wb->md, bias ? &bias->md : NULL, &dst->md,
                                                 err)) != KN_OK)
                return st;
            if (res) {
                /* the residual's layout is the output's: find it without the binary post-op first */
                if ((st = kn_dnnl_attr(n, NULL, false, &attr, err)) != KN_OK)
                    goto fail;
                dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
                if (ds == dnnl_unimplemented) {
                    pd = NULL;
                    goto fail; /* KN_OK, not built */
                }
                KN_DNNL_CHECK(n, ds);
                dnnl_memory_desc_t s = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
                dnnl_memory_desc_t w = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
                dnnl_memory_desc_t d = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
                dnnl_primitive_desc_destroy(pd);
                pd = NULL;
                dnnl_primitive_attr_destroy(attr);
                attr = NULL;
                src->md = s;
                dst->md = d;
                res->md = d;
                if ((st = kn_dnnl_reinit_desc(n, &desc, &s, &w, bias ? &bias->md : NULL, &d, err)) != KN_OK)
                    return st;
            }
        } else {
            int r = exe->rep_head[x];
            src->md = exe->reps[r].md;
            if (is_pool)
                KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst->md, ys->rank, yd, dnnl_f32, dnnl_format_tag_any));
            else
                dst->md = src->md;
            if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, NULL, NULL, &dst->md, err)) != KN_OK)
                return st;
        }
    }
    if ((st = kn_dnnl_attr(n, res ? &res->md : NULL, true, &attr, err)) != KN_OK)
        goto fail;
    dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
    if (ds == dnnl_unimplemented) {
        pd = NULL;
        goto fail; /* st is KN_OK, not built */
    }
    KN_DNNL_CHECK(n, ds);
    /* bind the inputs (reorders go before the node's op), then the op itself */
    int touched[KN_DNNL_MAX_ARGS], nt = 0;
    dnnl_memory_t mems[KN_DNNL_MAX_ARGS] = {0};
    for (int k = 0; k < nb; k++) {
        kn_dnnl_bind *b = &binds[k];
        if (b == dst)
            continue;
        if (blocked && (b == src || b == res)) {
            const dnnl_memory_desc_t *want = b == src ? dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0) : &b->md;
            int r;
            if ((st = kn_dnnl_layout(exe, i, b->value, want, &mems[k], &r, err)) != KN_OK)
                goto fail;
            if (r >= 0)
                touched[nt++] = r;
            continue;
        }
        if (blocked && b == wb && g->values[b->value].data) {
            const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            if (!dnnl_memory_desc_equal(want, &b->md)) {
                if ((st = kn_dnnl_reorder_weights(exe, n, &b->md, g->values[b->value].data, want, &mems[k], err)) !=
                    KN_OK)
                    goto fail;
                continue;
            }
        }
        if ((st = kn_dnnl_ensure_plain(exe, i, b->value, err)) != KN_OK ||
            (st = kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[b->value], &mems[k], err)) != KN_OK)
            goto fail;
    }
    int idx = exe->num_ops;
    int y = dst->value;
    {
        const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        dnnl_memory_desc_t plain;
        if (blocked && (st = kn_dnnl_md_value(g, n, y, &plain, err)) != KN_OK)
            goto fail;
        if (blocked && !dnnl_memory_desc_equal(dmd, &plain)) {
            int r;
            if ((st = kn_dnnl_new_rep(exe, i, y, dmd, idx, &r, err)) != KN_OK)
                goto fail;
            exe->plain_ok[y] = false;
            for (int k = 0; k < nb; k++)
                if (&binds[k] == dst)
                    mems[k] = exe->reps[r].mem;
        } else {
            exe->plain_ok[y] = true;
            for (int k = 0; k < nb; k++)
                if (&binds[k] == dst &&
                    (st = kn_dnnl_new_mem(exe, n, blocked ? dmd : &dst->md, exe->buffers[y], &mems[k], err)) != KN_OK)
                    goto fail;
        }
    }
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        goto fail;
    kn_dnnl_op *op = &exe->ops[idx];
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    for (int k = 0; k < nb; k++)
        if ((st = kn_dnnl_add_arg(op, n, binds[k].arg, mems[k], err)) != KN_OK)
            goto fail;
    for (int t = 0; t < nt; t++)
        exe->reps[touched[t]].last_op = idx;
    KN_DNNL_CHECK(n, dnnl_primitive_create(&op->prim, pd));
    *built = true;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Node i on the reference kernels: its inputs in plain layout first. */
kn_status kn_dnnl_ref_node(kn_dnnl_exe *exe, int i, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    kn_status st;
    for (int k = 0; k < n->num_inputs; k++)
        if ((st = kn_dnnl_ensure_plain(exe, i, n->inputs[k], err)) != KN_OK)
            return st;
    int idx;
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        return st;
    for (int k = 0; k < n->num_outputs; k++)
        if (n->outputs[k] >= 0)
            exe->plain_ok[n->outputs[k]] = true;
    return KN_OK;
}
