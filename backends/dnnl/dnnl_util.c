/* dnnl_util.c - memory descriptors, memory objects, ops, blocked copies and reorders of the oneDNN backend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* ------------------------------------------------------------ building */

kn_status kn_dnnl_md(const kn_node *node, dnnl_memory_desc_t *md, int nd, const int64_t *dims,
                     kn_error *err)
{
    kn_status st = KN_OK;
    if (nd < 1 || nd > 6)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': rank %d has no plain oneDNN format", node->name, nd);
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    KN_DNNL_CHECK(node, dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, kn_dnnl_plain_tags[nd]));
fail:
    return st;
}

kn_status kn_dnnl_md_value(const kn_graph *g, const kn_node *node, int id, dnnl_memory_desc_t *md,
                           kn_error *err)
{
    const kn_shape *s = &g->values[id].shape;
    return kn_dnnl_md(node, md, s->rank, s->dims, err);
}

/* Grow a dynamic array of `*cap` elements of `size` bytes to hold one more; false when out of memory. */
bool kn_dnnl_grow(void **arr, int *cap, int count, size_t size)
{
    if (count < *cap)
        return true;
    if (*cap > INT32_MAX / 2)
        return false;
    int ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* Create a memory object (freed with the executable) on `data` (DNNL_MEMORY_NONE: set later). */
kn_status kn_dnnl_new_mem(kn_dnnl_exe *exe, const kn_node *node, const dnnl_memory_desc_t *md, void *data,
                          dnnl_memory_t *out, kn_error *err)
{
    kn_status st = KN_OK;
    *out = NULL;
    if (!kn_dnnl_grow((void **)&exe->mems, &exe->cap_mems, exe->num_mems, sizeof *exe->mems))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    dnnl_memory_t mem;
    KN_DNNL_CHECK(node, dnnl_memory_create(&mem, md, exe->engine, data));
    exe->mems[exe->num_mems++] = mem;
    *out = mem;
fail:
    return st;
}

kn_status kn_dnnl_add_arg(kn_dnnl_op *op, const kn_node *node, int arg, dnnl_memory_t mem, kn_error *err)
{
    if (op->nargs >= KN_DNNL_MAX_ARGS)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': too many oneDNN arguments", node->name);
    op->args[op->nargs].arg = arg;
    op->args[op->nargs].memory = mem;
    op->nargs++;
    return KN_OK;
}

/* Append an empty op for node `node`; *idx receives its index. */
kn_status kn_dnnl_push_op(kn_dnnl_exe *exe, int node, int *idx, kn_error *err)
{
    if (!kn_dnnl_grow((void **)&exe->ops, &exe->cap_ops, exe->num_ops, sizeof *exe->ops))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    memset(&exe->ops[exe->num_ops], 0, sizeof exe->ops[0]);
    exe->ops[exe->num_ops].node = node;
    *idx = exe->num_ops++;
    return KN_OK;
}

/* Post-ops of `node`: residual add (binary, src1 md `res_md`) then activation. */
kn_status kn_dnnl_post_ops(const kn_node *node, const dnnl_memory_desc_t *res_md, dnnl_post_ops_t po,
                           kn_error *err)
{
    kn_status st = KN_OK;
    if (node->fused.residual >= 0)
        KN_DNNL_CHECK(node, dnnl_post_ops_append_binary(po, dnnl_binary_add, res_md));
    kn_op act = node->fused.activation;
    if (act == KN_OP_HARD_SIGMOID) {
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, node->fused.act.alpha,
                                                         node->fused.act.beta));
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 1.0f));
    } else if (act != KN_OP_COUNT) {
        dnnl_alg_kind_t alg;
        float a, b;
        if (!kn_dnnl_eltwise_alg(act, &node->fused.act, &alg, &a, &b))
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': fused %s has no oneDNN post-op", node->name,
                                kn_op_get(act)->name);
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, b));
    }
fail:
    return st;
}

/* ------------------------------------------------------------ layouts */

/* Append a reorder op (primitive built now) from src_mem to dst_mem for node `ni`; *idx receives its index. */
kn_status kn_dnnl_reorder_op(kn_dnnl_exe *exe, int ni, dnnl_memory_t src_mem, const dnnl_memory_desc_t *src_md,
                             dnnl_memory_t dst_mem, const dnnl_memory_desc_t *dst_md, int *idx, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    kn_status st = KN_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(&attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    KN_DNNL_CHECK(n, dnnl_reorder_primitive_desc_create(&pd, src_md, exe->engine, dst_md, exe->engine, attr));
    KN_DNNL_CHECK(n, dnnl_primitive_create(&prim, pd));
    if ((st = kn_dnnl_push_op(exe, ni, idx, err)) != KN_OK)
        goto fail;
    kn_dnnl_op *op = &exe->ops[*idx];
    op->prim = prim;
    prim = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_FROM, src_mem, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_TO, dst_mem, err)) != KN_OK)
        goto fail;
fail:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Make the plain buffer of value v hold it before node ni: a reorder from its blocked copy if needed. */
kn_status kn_dnnl_ensure_plain(kn_dnnl_exe *exe, int ni, int v, kn_error *err)
{
    if (v < 0 || exe->plain_ok[v])
        return KN_OK;
    const kn_node *n = &exe->graph->nodes[ni];
    int r = exe->rep_head[v];
    if (r < 0)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': value '%s' has no layout", n->name,
                            exe->graph->values[v].name);
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    kn_status st;
    int idx;
    if ((st = kn_dnnl_md_value(exe->graph, n, v, &md, err)) != KN_OK ||
        (st = kn_dnnl_new_mem(exe, n, &md, exe->buffers[v], &mem, err)) != KN_OK ||
        (st = kn_dnnl_reorder_op(exe, ni, exe->reps[r].mem, &exe->reps[r].md, mem, &md, &idx, err)) != KN_OK)
        return st;
    exe->reps[r].last_op = idx;
    exe->plain_ok[v] = true;
    return KN_OK;
}

/* A new blocked copy of value v in layout md, written by op first_op; *out receives its index. */
kn_status kn_dnnl_new_rep(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, int first_op,
                          int *out, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    if (!kn_dnnl_grow((void **)&exe->reps, &exe->cap_reps, exe->num_reps, sizeof *exe->reps))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_dnnl_rep *rp = &exe->reps[exe->num_reps];
    memset(rp, 0, sizeof *rp);
    rp->value = v;
    rp->md = *md;
    rp->bytes = dnnl_memory_desc_get_size(md);
    rp->first_op = rp->last_op = first_op;
    rp->alias = -1;
    kn_status st = kn_dnnl_new_mem(exe, n, md, DNNL_MEMORY_NONE, &rp->mem, err);
    if (st != KN_OK)
        return st;
    /* appended after the head: the head stays the first copy (the producer's) */
    int h = exe->rep_head[v];
    if (h < 0) {
        rp->next = -1;
        exe->rep_head[v] = exe->num_reps;
    } else {
        rp->next = exe->reps[h].next;
        exe->reps[h].next = exe->num_reps;
    }
    *out = exe->num_reps++;
    return KN_OK;
}

/*
 * The memory object holding value v in layout md for node ni: its plain
 * buffer, a blocked copy, or a new copy written by a reorder inserted now.
 * *rep receives the copy's index (to extend its life), or -1 for the plain buffer.
 */
kn_status kn_dnnl_layout(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *mem,
                         int *rep, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    dnnl_memory_desc_t plain;
    kn_status st = kn_dnnl_md_value(exe->graph, n, v, &plain, err);
    if (st != KN_OK)
        return st;
    *rep = -1;
    if (dnnl_memory_desc_equal(md, &plain)) {
        if ((st = kn_dnnl_ensure_plain(exe, ni, v, err)) != KN_OK)
            return st;
        return kn_dnnl_new_mem(exe, n, md, exe->buffers[v], mem, err);
    }
    for (int r = exe->rep_head[v]; r >= 0; r = exe->reps[r].next)
        if (dnnl_memory_desc_equal(md, &exe->reps[r].md)) {
            *rep = r;
            *mem = exe->reps[r].mem;
            return KN_OK;
        }
    /* reorder from the plain buffer when it holds the value, else from the first blocked copy */
    dnnl_memory_t src;
    const dnnl_memory_desc_t *src_md;
    int from = exe->plain_ok[v] ? -1 : exe->rep_head[v];
    if (from < 0 && !exe->plain_ok[v])
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': value '%s' has no layout", n->name,
                            exe->graph->values[v].name);
    if (from < 0) {
        if ((st = kn_dnnl_new_mem(exe, n, &plain, exe->buffers[v], &src, err)) != KN_OK)
            return st;
        src_md = &plain;
    } else {
        src = exe->reps[from].mem;
        src_md = &exe->reps[from].md;
    }
    dnnl_memory_desc_t src_md_copy = *src_md; /* reps may move when the array grows */
    int r, idx = exe->num_ops;
    if ((st = kn_dnnl_new_rep(exe, ni, v, md, idx, &r, err)) != KN_OK ||
        (st = kn_dnnl_reorder_op(exe, ni, src, &src_md_copy, exe->reps[r].mem, md, &idx, err)) != KN_OK)
        return st;
    exe->reps[r].first_op = idx;
    if (from >= 0)
        exe->reps[from].last_op = idx;
    *rep = r;
    *mem = exe->reps[r].mem;
    return KN_OK;
}

bool kn_dnnl_constant(const kn_dnnl_exe *exe, int v)
{
    return v >= 0 && exe->graph->values[v].data && !exe->written[v];
}

/* Reorder constant weights `data` (plain md `from`) once, now, into layout `to`; *mem receives the copy. */
kn_status kn_dnnl_reorder_weights(kn_dnnl_exe *exe, const kn_node *n, const dnnl_memory_desc_t *from,
                                  const void *data, const dnnl_memory_desc_t *to, dnnl_memory_t *mem,
                                         kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    void *buf = NULL;
    size_t bytes = dnnl_memory_desc_get_size(to);
    if (!kn_dnnl_grow((void **)&exe->wbufs, &exe->cap_wbufs, exe->num_wbufs, sizeof *exe->wbufs) ||
        posix_memalign(&buf, 64, bytes ? bytes : 64) != 0)
        return kn_error_set(err, KN_ERR_NOMEM, "node '%s': out of memory for reordered weights", n->name);
    exe->wbufs[exe->num_wbufs++] = buf;
    if ((st = kn_dnnl_new_mem(exe, n, to, buf, &dst, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_memory_create(&src, from, exe->engine, (void *)data));
    KN_DNNL_CHECK(n, dnnl_reorder_primitive_desc_create(&pd, from, exe->engine, to, exe->engine, NULL));
    KN_DNNL_CHECK(n, dnnl_primitive_create(&prim, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    KN_DNNL_CHECK(n, dnnl_primitive_execute(prim, exe->stream, 2, args));
    KN_DNNL_CHECK(n, dnnl_stream_wait(exe->stream));
    *mem = dst;
fail:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    return st;
}
