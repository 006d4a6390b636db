/* infer_fold.c - shape inference with constant folding, and batch binding. */
#include <stdlib.h>

#include "passes.h"
#include "ref.h"

kn_status kn_graph_bind_batch(kn_graph *g, int64_t batch, kn_error *err)
{
    if (batch <= 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "batch size must be positive, not %lld", (long long)batch);
    for (int i = 0; i < g->num_inputs; i++) {
        kn_value *v = &g->values[g->inputs[i]];
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dims[d] == KN_DIM_BATCH)
                v->shape.dims[d] = batch;
        size_t bytes;
        if (kn_tensor_nbytes(v->dtype, &v->shape, &bytes) == KN_ERR_OVERFLOW)
            return kn_error_set(err, KN_ERR_OVERFLOW, "input '%s' at batch %lld is too large", v->name,
                                (long long)batch);
    }
    return KN_OK;
}

static bool kn_inputs_constant(const kn_graph *g, const kn_node *n)
{
    if (kn_op_get(n->op)->flags & KN_OPF_EFFECT)
        return false; /* it writes its inputs: never evaluated ahead of time */
    for (int k = 0; k < n->num_inputs; k++)
        if (n->inputs[k] >= 0 && !kn_value_is_constant(g, n->inputs[k]))
            return false;
    return true;
}

/* Evaluate `n` now and turn its outputs into constants. */
static kn_status kn_fold_node(kn_graph *g, kn_node *n, const kn_pass_ctx *ctx, kn_error *err)
{
    void *outputs[KN_MAX_OUTPUTS];
    kn_status st = kn_ref_eval_node(g, n, outputs, err);
    if (st != KN_OK)
        return st;
    for (int k = 0; k < n->num_outputs; k++) {
        kn_value *v = &g->values[n->outputs[k]];
        v->data = outputs[k];
        v->kind = KN_VALUE_CONST;
        v->producer = -1;
    }
    n->dead = true;
    if (ctx && ctx->explain)
        fprintf(ctx->explain, "infer_and_fold: folded %s '%s' into a constant\n", kn_op_get(n->op)->name,
                n->name);
    return KN_OK;
}

kn_status kn_pass_infer_and_fold(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    size_t limit = ctx && ctx->fold_limit_bytes ? ctx->fold_limit_bytes : (size_t)64 << 20;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        kn_status st = kn_node_infer_shape(g, n, err);
        if (st != KN_OK)
            return st;
        /* Shape depends only on its input's (now known) shape. */
        if (n->op != KN_OP_SHAPE && !kn_inputs_constant(g, n))
            continue;
        size_t total = 0;
        for (int k = 0; k < n->num_outputs; k++) {
            const kn_value *v = &g->values[n->outputs[k]];
            size_t bytes;
            if (kn_tensor_nbytes(v->dtype, &v->shape, &bytes) != KN_OK || !kn_size_add(total, bytes, &total))
                total = SIZE_MAX;
        }
        if (total > limit)
            continue;
        if ((st = kn_fold_node(g, n, ctx, err)) != KN_OK)
            return st;
        *changed = true;
    }
    return KN_OK;
}

kn_status kn_pass_dce(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    int *readers = kn_xcalloc((size_t)g->num_values, sizeof(int));
    if (!readers)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in dce");
    for (int i = 0; i < g->num_outputs; i++)
        readers[g->outputs[i]]++;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                readers[n->inputs[k]]++;
    }
    bool removed = false;
    for (int i = g->num_nodes - 1; i >= 0; i--) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool used = (kn_op_get(n->op)->flags & KN_OPF_EFFECT) != 0; /* an update is its own reason to be */
        for (int k = 0; k < n->num_outputs; k++)
            if (readers[n->outputs[k]] > 0)
                used = true;
        if (used)
            continue;
        n->dead = true;
        removed = true;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                readers[n->inputs[k]]--;
        if (ctx && ctx->explain)
            fprintf(ctx->explain, "dce: removed unused %s '%s'\n", kn_op_get(n->op)->name, n->name);
    }
    free(readers);
    int before = g->num_values;
    kn_status st = kn_graph_compact(g, err);
    if (st != KN_OK)
        return st;
    if (removed || g->num_values != before)
        *changed = true;
    return KN_OK;
}
