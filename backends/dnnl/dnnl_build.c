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

/*
 * A weight the optimizer writes (exe->written), as node i reads it in layout
 * `want`: a copy made by a reorder op at run time from its buffer (read in
 * b->md, a view of the plain data), shared by later readers of the same
 * layout until the weight is written again.
 */
static kn_status kn_dnnl_reorder_written(kn_dnnl_exe *exe, int i, const kn_dnnl_bind *b,
                                         const dnnl_memory_desc_t *want, dnnl_memory_t *mem, int *rep, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    const int v = b->value;
    for (int r = exe->rep_head[v]; r >= 0; r = exe->reps[r].next)
        if (dnnl_memory_desc_equal(want, &exe->reps[r].md)) {
            *rep = r;
            *mem = exe->reps[r].mem;
            return KN_OK;
        }
    dnnl_memory_t src;
    int r, idx = exe->num_ops;
    kn_status st;
    if ((st = kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[v], &src, err)) != KN_OK ||
        (st = kn_dnnl_new_rep(exe, i, v, want, idx, &r, err)) != KN_OK ||
        (st = kn_dnnl_reorder_op(exe, i, src, &b->md, exe->reps[r].mem, want, &idx, err)) != KN_OK)
        return st;
    exe->reps[r].first_op = idx;
    *rep = r;
    *mem = exe->reps[r].mem;
    return KN_OK;
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
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': %s '%s' without a plain layout", n->name,
                                exe->written[v] ? "trained weight" : "constant", g->values[v].name);
        if (!exe->written[v])
            return kn_dnnl_reorder_weights(exe, n, &b->md, g->values[v].data, want, mem, err);
        return kn_dnnl_reorder_written(exe, i, b, want, mem, rep, err);
    }
    if (b->plain && dnnl_memory_desc_equal(want, &b->md)) {
        if ((st = kn_dnnl_ensure_plain(exe, i, v, err)) != KN_OK)
            return st;
        return kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[v], mem, err);
    }
    return kn_dnnl_layout(exe, i, v, want, mem, rep, err);
}

/* Whether bind b is one node n writes (a destination or a gradient): it binds one of n's outputs. */
static bool kn_dnnl_output_arg(const kn_node *n, const kn_dnnl_bind *b)
{
    for (int k = 0; k < n->num_outputs; k++)
        if (n->outputs[k] >= 0 && n->outputs[k] == b->value)
            return b->arg != KN_DNNL_RES_ARG;
    return false;
}

/*
 * Append node i's primitive (built from pd): its inputs bound in the layouts
 * the primitive reports (reorders go first), each output (destination,
 * gradients) its plain buffer when pd writes the plain layout, else a new
 * blocked copy. *dst_mem and *dst_rep receive the first output's memory
 * object and copy (-1: the plain buffer).
 */
static kn_status kn_dnnl_emit(kn_dnnl_exe *exe, int i, const_dnnl_primitive_desc_t pd, const kn_dnnl_bind *binds,
                              int nb, dnnl_memory_t *dst_mem, int *dst_rep, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_status st = KN_OK;
    int first_out = -1;
    for (int k = 0; k < nb && first_out < 0; k++)
        if (kn_dnnl_output_arg(n, &binds[k]))
            first_out = k;
    if (first_out < 0)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': no destination", n->name);
    int touched[KN_DNNL_MAX_ARGS], nt = 0;
    dnnl_memory_t mems[KN_DNNL_MAX_ARGS] = {0};
    for (int k = 0; k < nb; k++) {
        const kn_dnnl_bind *b = &binds[k];
        if (kn_dnnl_output_arg(n, b))
            continue;
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, b->arg);
        if (!want || want->ndims == 0)
            want = &b->md;
        int r;
        if ((st = kn_dnnl_bind_mem(exe, i, b, want, &mems[k], &r, err)) != KN_OK)
            return st;
        if (r >= 0)
            touched[nt++] = r;
    }
    int idx = exe->num_ops;
    int out_rep[KN_DNNL_MAX_ARGS];
    for (int k = 0; k < nb; k++) {
        out_rep[k] = -1;
        if (!kn_dnnl_output_arg(n, &binds[k]))
            continue;
        const int y = binds[k].value;
        const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, binds[k].arg);
        if (!dmd || dmd->ndims == 0)
            dmd = &binds[k].md;
        dnnl_memory_desc_t natural;
        if ((st = kn_dnnl_md_value(g, n, y, &natural, err)) != KN_OK)
            return st;
        if ((binds[k].plain && dnnl_memory_desc_equal(dmd, &binds[k].md)) || dnnl_memory_desc_equal(dmd, &natural)) {
            exe->plain_ok[y] = true;
            if ((st = kn_dnnl_new_mem(exe, n, dmd, exe->buffers[y], &mems[k], err)) != KN_OK)
                return st;
        } else {
            if ((st = kn_dnnl_new_rep(exe, i, y, dmd, idx, &out_rep[k], err)) != KN_OK)
                return st;
            exe->plain_ok[y] = false;
            mems[k] = exe->reps[out_rep[k]].mem;
        }
    }
    *dst_rep = out_rep[first_out];
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        return st;
    kn_dnnl_op *op = &exe->ops[idx];
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    for (int k = 0; k < nb; k++)
        if ((st = kn_dnnl_add_arg(op, n, binds[k].arg, mems[k], err)) != KN_OK)
            return st;
    for (int t = 0; t < nt; t++)
        exe->reps[touched[t]].last_op = idx;
    KN_DNNL_CHECK(n, dnnl_primitive_create(&op->prim, pd));
    *dst_mem = mems[first_out];
fail:
    return st;
}

/*
 * The primitive descriptor of Conv node n's fused residual add and
 * activation as a binary add of their own, on the conv's output layout
 * `dmd` (in place: src0 and dst are the conv's output). *pd NULL (why[len])
 * when oneDNN has no jit implementation for it either.
 */
static kn_status kn_dnnl_residual_pd(const kn_dnnl_exe *exe, const kn_node *n, const dnnl_memory_desc_t *dmd,
                                     dnnl_primitive_desc_t *pd, char *why, size_t len, kn_error *err)
{
    kn_node act = *n; /* the activation alone, as the binary's post-op */
    act.fused.residual = -1;
    kn_dnnl_desc desc = {.kind = KN_DNNL_OPDESC};
    dnnl_primitive_attr_t attr = NULL;
    kn_status st = KN_OK;
    *pd = NULL;
    KN_DNNL_CHECK(n, dnnl_binary_desc_init(&desc.op.binary, dnnl_binary_add, dmd, dmd, dmd));
    if ((st = kn_dnnl_attr(&act, NULL, false, &attr, err)) == KN_OK)
        st = kn_dnnl_create_pd(exe, n, &desc, NULL, 0, attr, pd, why, len, err);
fail:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Append the residual op of Conv node i (pd from kn_dnnl_residual_pd): y_mem += residual, then the activation. */
static kn_status kn_dnnl_emit_residual(kn_dnnl_exe *exe, int i, const_dnnl_primitive_desc_t pd, dnnl_memory_t y_mem,
                                       int y_rep, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    kn_dnnl_bind res = {.arg = DNNL_ARG_SRC_1, .value = n->inputs[n->fused.residual], .plain = false, .md = *dmd};
    dnnl_memory_t m_res;
    int r_res, idx;
    kn_status st;
    if (kn_dnnl_constant(exe, res.value)) { /* a constant is reordered from its plain layout */
        res.plain = true;
        if ((st = kn_dnnl_md_value(exe->graph, n, res.value, &res.md, err)) != KN_OK)
            return st;
    }
    if ((st = kn_dnnl_bind_mem(exe, i, &res, dmd, &m_res, &r_res, err)) != KN_OK ||
        (st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        return st;
    kn_dnnl_op *op = &exe->ops[idx];
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC_0, y_mem, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC_1, m_res, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DST, y_mem, err)) != KN_OK)
        return st;
    if (r_res >= 0)
        exe->reps[r_res].last_op = idx;
    if (y_rep >= 0)
        exe->reps[y_rep].last_op = idx;
    KN_DNNL_CHECK(n, dnnl_primitive_create(&op->prim, pd));
fail:
    return st;
}

kn_status kn_dnnl_try_node(kn_dnnl_exe *exe, int i, bool blocked, bool *built, char *why, size_t len, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    const bool conv = n->op == KN_OP_CONV || n->op == KN_OP_CONV_TRANSPOSE;
    const bool pool = n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL;
    const bool residual = conv && n->fused.residual >= 0;
    kn_dnnl_desc desc = {.hint = NULL};
    kn_dnnl_bind binds[KN_DNNL_MAX_ARGS];
    int nb = 0;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL, res_pd = NULL;
    const bool grad_weight = n->op == KN_OP_CONV_GRAD_WEIGHT;
    kn_dnnl_request req = {.blocked = blocked && (conv || pool || grad_weight || exe->force_tag ||
                                                  kn_dnnl_reads_blocked(exe, n))};
    dnnl_memory_desc_t fix[3];
    kn_node bare; /* n without its post-ops: a conv whose residual runs as an op of its own */
    kn_error derr;
    kn_status st = KN_OK;
    char tmp[KN_DNNL_WHY_LEN];
    *built = false;
    if (len)
        why[0] = '\0';
    if (n->op == KN_OP_GEMM) {
        if ((st = kn_dnnl_try_inner_product(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if (req.blocked && conv && !(exe->direct_conv && exe->direct_conv[i])) {
        if ((st = kn_dnnl_try_wino(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if (n->op == KN_OP_BATCH_NORM_TRAIN && !kn_dnnl_bn_train_primitive()) {
        if ((st = kn_dnnl_try_bn_train_native(exe, i, built, err)) != KN_OK || *built)
            return st;
        snprintf(why, len, "batch statistics in double on the reference kernel (kiln's loop reads 8-channel "
                           "layouts and [N, C] with C %% 8 == 0; oneDNN's float statistics would flip later "
                           "ReLU/MaxPool decisions against the reference backend)");
        return KN_OK;
    }
    if (blocked && n->op == KN_OP_MAX_POOL_GRAD) {
        if ((st = kn_dnnl_try_pool_grad_native(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    if (req.blocked && residual) {
        /* first pass without the residual post-op: the layouts oneDNN picks; the residual is then read in dst's */
        req.no_residual = true;
        if ((st = kn_dnnl_describe(exe, n, &req, &desc, binds, &nb, &derr)) != KN_OK)
            goto described;
        if ((st = kn_dnnl_attr(n, NULL, false, &attr, err)) != KN_OK ||
            (st = kn_dnnl_create_pd(exe, n, &desc, binds, nb, attr, &pd, why, len, err)) != KN_OK || !pd)
            goto fail;
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
    if (n->op == KN_OP_CONCAT) {
        if ((st = kn_dnnl_try_concat_copy(exe, i, &desc, binds, nb, built, err)) != KN_OK || *built)
            return st;
    }
    if (pool && req.blocked) {
        if ((st = kn_dnnl_try_pool_native(exe, i, built, err)) != KN_OK || *built)
            return st;
    }
    const kn_dnnl_bind *res = NULL;
    for (int k = 0; k < nb; k++)
        if (binds[k].arg == KN_DNNL_RES_ARG)
            res = &binds[k];
    if ((st = kn_dnnl_attr(n, res ? &res->md : NULL, true, &attr, err)) != KN_OK ||
        (st = kn_dnnl_create_pd(exe, n, &desc, binds, nb, attr, &pd, why, len, err)) != KN_OK)
        goto fail;
    if (!pd && residual) {
        /* no jit implementation with the residual as a post-op (oneDNN 2.6's AVX-512 brgconv in nhwc at batch 1
         * gets ref:any, 3.7 s a conv of ResNet-18): the conv alone, then the add and activation as a binary op */
        dnnl_primitive_attr_destroy(attr);
        attr = NULL;
        bare = *n;
        bare.fused.residual = -1;
        bare.fused.activation = KN_OP_COUNT;
        if ((st = kn_dnnl_describe(exe, &bare, &req, &desc, binds, &nb, err)) != KN_OK ||
            (st = kn_dnnl_attr(&bare, NULL, false, &attr, err)) != KN_OK ||
            (st = kn_dnnl_create_pd(exe, n, &desc, binds, nb, attr, &pd, tmp, sizeof tmp, err)) != KN_OK || !pd)
            goto fail;
        if ((st = kn_dnnl_residual_pd(exe, n, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &res_pd, tmp,
                                      sizeof tmp, err)) != KN_OK || !res_pd)
            goto fail;
    }
    if (!pd)
        goto fail;
    if (n->op == KN_OP_CONV && (n->attrs.window.group <= 1) && g->values[n->inputs[0]].shape.dims[1] < 8 &&
        kn_dnnl_impl_is_gemm(pd)) {
        /* a first layer (few input channels) oneDNN runs as im2col + gemm: measured on AlexNet's 11x11
         * stride-4 conv1, 15 ms there at batch 8 against 9 ms on the reference im2col + OpenBLAS kernel */
        snprintf(why, len, "on this CPU oneDNN runs this first-layer conv as im2col + gemm: the reference kernel is faster");
        goto fail;
    }
    dnnl_memory_t y_mem = NULL;
    int y_rep = -1, stats_op = exe->num_ops; /* BatchNormGrad: its stats op, appended first */
    const bool bn = n->op == KN_OP_BATCH_NORM_TRAIN || n->op == KN_OP_BATCH_NORM_GRAD;
    if (n->op == KN_OP_BATCH_NORM_GRAD && (st = kn_dnnl_bn_before(exe, i, err)) != KN_OK)
        goto fail;
    if ((st = kn_dnnl_emit(exe, i, pd, binds, nb, &y_mem, &y_rep, err)) != KN_OK)
        goto fail;
    if (bn && (st = kn_dnnl_bn_after(exe, i, stats_op, err)) != KN_OK)
        goto fail;
    if (res_pd && (st = kn_dnnl_emit_residual(exe, i, res_pd, y_mem, y_rep, err)) != KN_OK)
        goto fail;
    *built = true;
fail:
    if (!*built && len && !why[0])
        snprintf(why, len, "oneDNN has no implementation for this configuration (%s layouts)",
                 req.blocked ? "blocked" : "plain");
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (res_pd)
        dnnl_primitive_desc_destroy(res_pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (desc.hint)
        dnnl_primitive_desc_destroy(desc.hint);
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
