/* dnnl_build.c - one node as a oneDNN primitive (blocked or plain layouts) or a reference-kernel fallback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* Whether oneDNN chose a gemm-based (im2col) implementation for the primitive. */
static bool kn_dnnl_impl_is_gemm(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
           strstr(impl, "gemm") != NULL;
}

/* Whether node n reads a value that is in a blocked copy and not in its plain buffer. */
static bool kn_dnnl_reads_blocked(const kn_dnnl_exe *exe, const kn_node *n)
{
    for (int k = 0; k < n->num_inputs; k++)
        if (kn_dnnl_blocked_md(exe, n->inputs[k]))
            return true;
    return false;
}

kn_status kn_dnnl_bind_mem(kn_dnnl_exe *exe, int i, const kn_dnnl_bind *b, const dnnl_memory_desc_t *want,
                           dnnl_memory_t *mem, int *rep, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    const int v = b->value;
    kn_status st;
    *rep = -1;
    if (g->values[v].data) {
        if (dnnl_memory_desc_equal(want, &b->md))
            return kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[v], mem, err);
        if (!b->plain)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': constant '%s' without a plain layout", n->name,
                                g->values[v].name);
        return kn_dnnl_reorder_weights(exe, n, &b->md, g->values[v].data, want, mem, err);
    }
    if (b->plain && dnnl_memory_desc_equal(want, &b->md)) {
        if ((st = kn_dnnl_ensure_plain(exe, i, v, err)) != KN_OK)
            return st;
        return kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[v], mem, err);
    }
    return kn_dnnl_layout(exe, i, v, want, mem, rep, err);
}

kn_status kn_dnnl_try_node(kn_dnnl_exe *exe, int i, bool blocked, bool *built, char *why, size_t len, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    const bool conv = n->op == KN_OP_CONV || n->op == KN_OP_CONV_TRANSPOSE;
    const bool pool = n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL;
    kn_dnnl_desc desc;
    kn_dnnl_bind binds[KN_DNNL_MAX_ARGS];
    int nb = 0;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    kn_dnnl_request req = {.blocked = blocked && (conv || pool || kn_dnnl_reads_blocked(exe, n))};
    dnnl_memory_desc_t fix[3];
    kn_error derr;
    kn_status st = KN_OK;
    *built = false;
    if (len)
        why[0] = '\0';
    if (n->op == KN_OP_GEMM) {
        if ((st = kn_dnnl_try_inner_product(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if (req.blocked && conv) {
        if ((st = kn_dnnl_try_wino(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if (req.blocked && conv && n->fused.residual >= 0) {
        /* first pass without the residual post-op: the layouts oneDNN picks; the residual is then read in dst's */
        req.no_residual = true;
        if ((st = kn_dnnl_describe(exe, n, &req, &desc, binds, &nb, &derr)) != KN_OK)
            goto described;
        if ((st = kn_dnnl_attr(n, NULL, false, &attr, err)) != KN_OK ||
            (st = kn_dnnl_create_pd(exe, n, &desc, binds, nb, attr, &pd, err)) != KN_OK)
            goto fail;
        if (!pd) {
            snprintf(why, len, "oneDNN has no implementation for this configuration (blocked layouts)");
            goto fail;
        }
        fix[0] = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        fix[1] = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        fix[2] = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        dnnl_primitive_desc_destroy(pd);
        dnnl_primitive_attr_destroy(attr);
        pd = NULL;
        attr = NULL;
        req.no_residual = false;
        req.fix_src = &fix[0];
        req.fix_wei = &fix[1];
        req.fix_dst = &fix[2];
    }
    st = kn_dnnl_describe(exe, n, &req, &desc, binds, &nb, &derr);
described:
    if (st == KN_ERR_UNSUPPORTED) {
        snprintf(why, len, "%s", derr.message); /* a configuration left to the reference kernels */
        return KN_OK;
    }
    if (st != KN_OK) {
        if (err)
            *err = derr;
        return st;
    }
    kn_dnnl_bind *dst = NULL, *res = NULL;
    for (int k = 0; k < nb; k++) {
        if (binds[k].arg == DNNL_ARG_DST)
            dst = &binds[k];
        else if (binds[k].arg == KN_DNNL_RES_ARG)
            res = &binds[k];
    }
    if (!dst)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': no destination", n->name);
    if (n->op == KN_OP_CONCAT) {
        if ((st = kn_dnnl_try_concat_copy(exe, i, &desc, binds, nb, built, err)) != KN_OK || *built)
            return st;
    }
    if (pool && req.blocked) {
        if ((st = kn_dnnl_try_pool_native(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if ((st = kn_dnnl_attr(n, res ? &res->md : NULL, true, &attr, err)) != KN_OK ||
        (st = kn_dnnl_create_pd(exe, n, &desc, binds, nb, attr, &pd, err)) != KN_OK)
        goto fail;
    if (!pd) {
        snprintf(why, len, "oneDNN has no implementation for this configuration (%s layouts)",
                 req.blocked ? "blocked" : "plain");
        goto fail;
    }
    if (n->op == KN_OP_CONV && (n->attrs.window.group <= 1) && g->values[n->inputs[0]].shape.dims[1] < 8 &&
        kn_dnnl_impl_is_gemm(pd)) {
        /* a first layer (few input channels) oneDNN runs as im2col + gemm: measured on AlexNet's 11x11
         * stride-4 conv1, 15 ms there at batch 8 against 9 ms on the reference im2col + OpenBLAS kernel */
        snprintf(why, len, "first-layer conv on oneDNN's gemm implementation: the reference kernel is faster");
        goto fail;
    }
    /* bind the inputs (reorders go before the node's op), then the op itself */
    int touched[KN_DNNL_MAX_ARGS], nt = 0;
    dnnl_memory_t mems[KN_DNNL_MAX_ARGS] = {0};
    for (int k = 0; k < nb; k++) {
        const kn_dnnl_bind *b = &binds[k];
        if (b == dst)
            continue;
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, b->arg);
        if (!want || want->ndims == 0)
            want = &b->md;
        int r;
        if ((st = kn_dnnl_bind_mem(exe, i, b, want, &mems[k], &r, err)) != KN_OK)
            goto fail;
        if (r >= 0)
            touched[nt++] = r;
    }
    int idx = exe->num_ops;
    const int y = dst->value;
    const int dk = (int)(dst - binds);
    {
        const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        dnnl_memory_desc_t natural;
        if ((st = kn_dnnl_md_value(g, n, y, &natural, err)) != KN_OK)
            goto fail;
        if ((dst->plain && dnnl_memory_desc_equal(dmd, &dst->md)) || dnnl_memory_desc_equal(dmd, &natural)) {
            exe->plain_ok[y] = true;
            if ((st = kn_dnnl_new_mem(exe, n, dmd, exe->buffers[y], &mems[dk], err)) != KN_OK)
                goto fail;
        } else {
            int r;
            if ((st = kn_dnnl_new_rep(exe, i, y, dmd, idx, &r, err)) != KN_OK)
                goto fail;
            exe->plain_ok[y] = false;
            mems[dk] = exe->reps[r].mem;
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
