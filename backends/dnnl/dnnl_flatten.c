/*
 * dnnl_flatten.c - a Flatten between a blocked activation and Gemm as no op at
 * all: the Gemm reads the Flatten's N-D input through a oneDNN inner product
 * (see dnnl_internal.h).
 *
 * A CNN classifier's head is ... -> MaxPool/GlobalAveragePool (nChw8c) ->
 * Flatten -> Gemm. Run as written, the Flatten needs the value in plain
 * layout (a reorder: 18 us for the Fashion-MNIST CNN's 8x64x7x7 at batch 8,
 * 2 threads) and Gemm becomes a matmul on it. An inner product takes the
 * N-D source in its blocked layout with the weights reordered once, at
 * compile time, to match: the same sums in another order.
 *
 * Only at batch 1. At a larger batch oneDNN 2.6 serves such an inner product
 * with its gemm kernel, which streams big weights slowly, while a matmul on
 * the plain copy gets its brgemm kernel with weights packed at compile time:
 * AlexNet's first classifier layer (9216 x 4096, 151 MB) at batch 8 took
 * 17-18 ms as an inner product and 8 ms as a matmul (the whole model 58.5 ->
 * 49.5 ms), MobileNet-V2's head (1280 x 1000) 0.64 -> 0.35 ms; at batch 1 the
 * inner product is the faster (AlexNet's layer 5.7 ms against 6.3 ms), 2
 * threads, Xeon (Sapphire Rapids), oneDNN's AVX512_CORE_AMX.
 */
#include <stdio.h>
#include <string.h>

#include "dnnl_internal.h"

/* Whether Flatten/Reshape node n turns [N, d1, ...] into [N, d1 * ...] (the inner product's view). */
static bool kn_flatten_is_2d(const kn_graph *g, const kn_node *n)
{
    if ((n->op != KN_OP_FLATTEN && n->op != KN_OP_RESHAPE) || n->num_inputs < 1 || n->num_outputs < 1)
        return false;
    const int x = n->inputs[0], y = n->outputs[0];
    if (x < 0 || y < 0 || !kn_dnnl_f32(g, x) || !kn_dnnl_f32(g, y) ||
        (n->op == KN_OP_FLATTEN && n->attrs.axis.axis != 1))
        return false;
    const kn_shape *xs = &g->values[x].shape, *ys = &g->values[y].shape;
    if (xs->rank < 3 || xs->rank > 5 || ys->rank != 2 || ys->dims[0] != xs->dims[0])
        return false;
    int64_t k = 1;
    for (int d = 1; d < xs->rank; d++)
        k *= xs->dims[d]; /* no overflow: the value's element count was checked at shape inference */
    return ys->dims[1] == k;
}

/* Whether Gemm node c can read its A through flatten output y as an inner product (constant B and C). */
static bool kn_flatten_gemm_ok(const kn_dnnl_exe *exe, const kn_node *c, int y)
{
    const kn_graph *g = exe->graph;
    char why[KN_DNNL_WHY_LEN];
    if (c->op != KN_OP_GEMM || c->inputs[0] != y || c->attrs.gemm.trans_a || c->fused.residual >= 0 ||
        !kn_dnnl_node_runs(g, c, why, sizeof why))
        return false;
    const int b = c->inputs[1], bias = c->num_inputs > 2 ? c->inputs[2] : -1;
    if (b == y || !kn_dnnl_constant(exe, b))
        return false;
    if (bias >= 0) {
        const kn_shape *cs = &g->values[bias].shape;
        const int64_t n_out = g->values[c->outputs[0]].shape.dims[1];
        const bool per_column = cs->rank == 1 ? cs->dims[0] == n_out
                                              : cs->rank == 2 && cs->dims[0] == 1 && cs->dims[1] == n_out;
        if (!kn_dnnl_constant(exe, bias) || bias == y || !per_column)
            return false; /* the inner product's bias is one value per output column */
    }
    return true;
}

/* Whether 2-D Flatten node i's output is read only by Gemms that can read it as an inner product (and is no
 * graph output): the Flatten can then be no op at batch 1. */
static bool kn_flatten_read_by_gemms_only(const kn_dnnl_exe *exe, int i)
{
    const kn_graph *g = exe->graph;
    const int y = g->nodes[i].outputs[0];
    for (int k = 0; k < g->num_outputs; k++)
        if (g->outputs[k] == y)
            return false;
    int consumers = 0;
    for (int j = 0; j < g->num_nodes; j++) {
        const kn_node *c = &g->nodes[j];
        if (c->dead || j == i)
            continue;
        bool reads = false;
        for (int k = 0; k < c->num_inputs; k++)
            reads = reads || c->inputs[k] == y;
        if (!reads)
            continue;
        if (!kn_flatten_gemm_ok(exe, c, y))
            return false;
        consumers++;
    }
    return consumers > 0;
}

bool kn_dnnl_fold_flatten(kn_dnnl_exe *exe, int i)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    if (!kn_flatten_is_2d(g, n))
        return false;
    const int x = n->inputs[0];
    if (g->values[x].shape.dims[0] != 1)
        return false; /* a copy and a matmul are faster (see the top of the file) */
    if (exe->plain_ok[x] || !kn_dnnl_blocked_md(exe, x))
        return false; /* already plain: the reference Flatten is a free view */
    if (!kn_flatten_read_by_gemms_only(exe, i))
        return false;
    exe->folded[i] = true;
    return true;
}

bool kn_dnnl_flatten_plain_note(const kn_dnnl_exe *exe, int i, char *why, size_t len)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    if (!kn_flatten_is_2d(g, n))
        return false;
    const int producer = g->values[n->inputs[0]].producer;
    if (producer < 0 || !exe->on_dnnl[producer])
        return false;
    if (exe->plain_ok[n->inputs[0]])
        snprintf(why, len, "a free view: on this CPU oneDNN wrote its input in plain layout");
    else if (g->values[n->inputs[0]].shape.dims[0] != 1 && kn_flatten_read_by_gemms_only(exe, i))
        snprintf(why, len, "a copy to plain layout: at batch > 1 a Gemm reading it runs faster as a matmul than as an "
                           "inner product on the blocked input");
    else
        return false;
    return true;
}

/* Materialize folded Flatten fl after all (its consumer's inner product is unavailable): a reference op now. */
static kn_status kn_flatten_unfold(kn_dnnl_exe *exe, int fl, const char *why, kn_error *err)
{
    exe->folded[fl] = false;
    exe->on_dnnl[fl] = false;
    kn_status st = kn_dnnl_note_fallback(exe, fl, why, err);
    return st != KN_OK ? st : kn_dnnl_ref_node(exe, fl, err);
}

kn_status kn_dnnl_try_inner_product(kn_dnnl_exe *exe, int i, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    *built = false;
    if (n->op != KN_OP_GEMM || n->num_inputs < 2 || n->inputs[0] < 0)
        return KN_OK;
    const int fl = g->values[n->inputs[0]].producer;
    if (fl < 0 || !exe->folded[fl])
        return KN_OK;
    const int x = g->nodes[fl].inputs[0], b = n->inputs[1], c = n->num_inputs > 2 ? n->inputs[2] : -1;
    const int y = n->outputs[0];
    const kn_shape *xs = &g->values[x].shape, *bs = &g->values[b].shape;
    const int64_t n_out = g->values[y].shape.dims[1];
    const bool tb = n->attrs.gemm.trans_b;
    const int r = xs->rank;
    kn_status st = KN_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_inner_product_desc_t desc;
    kn_dnnl_bind src = {.arg = DNNL_ARG_SRC, .value = x, .plain = false};
    kn_dnnl_bind wei = {.arg = DNNL_ARG_WEIGHTS, .value = b, .plain = true};
    kn_dnnl_bind bias = {.arg = DNNL_ARG_BIAS, .value = c, .plain = true};
    dnnl_memory_desc_t w_any, dst_md;
    /* B as N-D weights [n_out, d1, ...]: B^T row-major (trans_b) is exactly that; B [K, n_out] is its transpose */
    dnnl_dims_t wd = {n_out}, ws = {0}, dd = {xs->dims[0], n_out};
    int64_t stride = tb ? 1 : n_out;
    for (int d = r - 1; d >= 1; d--) {
        wd[d] = xs->dims[d];
        ws[d] = stride;
        stride *= xs->dims[d];
    }
    ws[0] = tb ? stride : 1;
    if ((tb ? bs->dims[0] : bs->dims[1]) != n_out)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': B does not have %lld columns", n->name,
                            (long long)n_out);
    src.md = *kn_dnnl_blocked_md(exe, x);
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&wei.md, r, wd, dnnl_f32, ws));
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&w_any, r, wd, dnnl_f32, dnnl_format_tag_any));
    KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    if (c >= 0)
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&bias.md, 1, (dnnl_dims_t){n_out}, dnnl_f32, dnnl_a));
    KN_DNNL_CHECK(n, dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src.md, &w_any,
                                                          c >= 0 ? &bias.md : NULL, &dst_md));
    if ((st = kn_dnnl_attr(n, NULL, false, &attr, err)) != KN_OK)
        goto fail;
    dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
    if (ds == dnnl_unimplemented) {
        pd = NULL;
        st = kn_flatten_unfold(exe, fl, "oneDNN has no inner product on this layout", err);
        goto fail;
    }
    KN_DNNL_CHECK(n, ds);
    char why[KN_DNNL_WHY_LEN];
    if (kn_dnnl_pd_is_ref(pd, why, sizeof why)) {
        st = kn_flatten_unfold(exe, fl, "on this CPU oneDNN has only its reference inner product on this layout", err);
        goto fail;
    }
    {
        const dnnl_memory_desc_t *want_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *want_wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_t m_src, m_wei, m_bias = NULL, m_dst;
        int r_src = -1, r_none, idx;
        if ((st = kn_dnnl_bind_mem(exe, i, &src, want_src, &m_src, &r_src, err)) != KN_OK ||
            (st = kn_dnnl_bind_mem(exe, i, &wei, want_wei, &m_wei, &r_none, err)) != KN_OK ||
            (c >= 0 && (st = kn_dnnl_bind_mem(exe, i, &bias, &bias.md, &m_bias, &r_none, err)) != KN_OK) ||
            (st = kn_dnnl_new_mem(exe, n, &dst_md, exe->buffers[y], &m_dst, err)) != KN_OK ||
            (st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
            goto fail;
        exe->plain_ok[y] = true;
        kn_dnnl_op *op = &exe->ops[idx];
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
            op->scratch_md = *smd;
        if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_SRC, m_src, err)) != KN_OK ||
            (st = kn_dnnl_add_arg(op, n, DNNL_ARG_WEIGHTS, m_wei, err)) != KN_OK ||
            (c >= 0 && (st = kn_dnnl_add_arg(op, n, DNNL_ARG_BIAS, m_bias, err)) != KN_OK) ||
            (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DST, m_dst, err)) != KN_OK)
            goto fail;
        if (r_src >= 0)
            exe->reps[r_src].last_op = idx;
        KN_DNNL_CHECK(n, dnnl_primitive_create(&op->prim, pd));
        *built = true;
    }
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

bool kn_dnnl_folded_note(const kn_dnnl_exe *exe, int node, char *why, size_t len)
{
    const kn_graph *g = exe->graph;
    if (!exe->folded || !exe->folded[node])
        return false;
    const int y = g->nodes[node].outputs[0];
    for (int j = 0; j < g->num_nodes; j++) {
        const kn_node *c = &g->nodes[j];
        if (!c->dead && c->op == KN_OP_GEMM && c->inputs[0] == y) {
            snprintf(why, len, "no copy: Gemm '%s' reads its input as a oneDNN inner product", c->name);
            return true;
        }
    }
    snprintf(why, len, "no copy: its Gemm reads its input as a oneDNN inner product");
    return true;
}
