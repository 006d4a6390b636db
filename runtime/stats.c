/* stats.c - model statistics: op counts, parameters, FLOPs per image. */
#include <stdlib.h>

#include "kiln.h"
#include "passes.h"
#include "runtime_internal.h"


static int64_t kn_numel(const kn_value *v)
{
    size_t n = 0;
    return kn_shape_numel(&v->shape, &n) == KN_OK ? (int64_t)n : 0;
}

/* FLOPs of one node (multiply-add counts 2); element-wise ops count one per output element. */
static int64_t kn_node_flops(const kn_graph *g, const kn_node *n)
{
    const kn_value *out = &g->values[n->outputs[0]];
    int64_t out_elems = kn_numel(out);
    switch (n->op) {
    case KN_OP_CONV: {
        const kn_value *w = &g->values[n->inputs[1]];
        int64_t per_out = 1; /* (C_in / group) * kernel */
        for (int d = 1; d < w->shape.rank; d++)
            per_out *= w->shape.dims[d];
        return 2 * out_elems * per_out;
    }
    case KN_OP_CONV_TRANSPOSE: {
        const kn_value *x = &g->values[n->inputs[0]];
        const kn_value *w = &g->values[n->inputs[1]];
        int64_t per_in = 1; /* (C_out / group) * kernel */
        for (int d = 1; d < w->shape.rank; d++)
            per_in *= w->shape.dims[d];
        return 2 * kn_numel(x) * per_in;
    }
    case KN_OP_GEMM:
    case KN_OP_MATMUL: {
        const kn_value *a = &g->values[n->inputs[0]];
        int64_t k = a->shape.rank ? a->shape.dims[a->shape.rank - 1] : 1;
        if (n->op == KN_OP_GEMM && n->attrs.gemm.trans_a && a->shape.rank == 2)
            k = a->shape.dims[0];
        return 2 * out_elems * k;
    }
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL: {
        int64_t k = 1;
        for (int d = 0; d < n->attrs.window.nspatial; d++)
            k *= n->attrs.window.kernel[d] ? n->attrs.window.kernel[d] : 1;
        return out_elems * k;
    }
    case KN_OP_GLOBAL_AVERAGE_POOL:
    case KN_OP_GLOBAL_MAX_POOL:
    case KN_OP_REDUCE_MEAN: case KN_OP_REDUCE_SUM: case KN_OP_REDUCE_MAX: case KN_OP_REDUCE_MIN:
    case KN_OP_REDUCE_PROD: case KN_OP_REDUCE_L1: case KN_OP_REDUCE_L2: case KN_OP_REDUCE_LOG_SUM:
    case KN_OP_REDUCE_LOG_SUM_EXP: case KN_OP_REDUCE_SUM_SQUARE: case KN_OP_ARG_MAX: case KN_OP_ARG_MIN:
        return kn_numel(&g->values[n->inputs[0]]);
    case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_DIV: case KN_OP_POW:
    case KN_OP_MOD: case KN_OP_MIN: case KN_OP_MAX: case KN_OP_SUM: case KN_OP_MEAN: case KN_OP_PRELU:
    case KN_OP_RELU: case KN_OP_LEAKY_RELU: case KN_OP_SIGMOID: case KN_OP_TANH: case KN_OP_CLIP:
    case KN_OP_HARD_SIGMOID: case KN_OP_HARD_SWISH: case KN_OP_SWISH: case KN_OP_GELU: case KN_OP_MISH: case KN_OP_ELU: case KN_OP_SQRT: case KN_OP_EXP:
    case KN_OP_ERF: case KN_OP_ABS: case KN_OP_NEG: case KN_OP_RECIPROCAL: case KN_OP_LOG: case KN_OP_FLOOR:
    case KN_OP_CEIL: case KN_OP_ROUND: case KN_OP_SIGN: case KN_OP_SIN: case KN_OP_COS: case KN_OP_SOFTPLUS:
    case KN_OP_SOFTSIGN: case KN_OP_SELU: case KN_OP_THRESHOLDED_RELU: case KN_OP_CELU: case KN_OP_SOFTMAX: case KN_OP_LOG_SOFTMAX: case KN_OP_BATCH_NORM: case KN_OP_LRN: case KN_OP_LAYER_NORM: case KN_OP_INSTANCE_NORM:
        return out_elems;
    default:
        return 0;
    }
}

kn_status kn_model_get_stats(const kn_model_t *model, kn_model_stats *stats, kn_error *err)
{
    if (!model || !stats)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_get_stats: model and stats are required");
    const kn_graph *src = &model->graph;
    stats->num_nodes = src->num_nodes;
    stats->num_parameters = 0;
    for (int v = 0; v < src->num_values; v++)
        if ((src->values[v].kind == KN_VALUE_PARAM || src->values[v].kind == KN_VALUE_STATE) && src->values[v].dtype == KN_F32)
            stats->num_parameters += kn_numel(&src->values[v]);
    kn_graph g;
    kn_status st = kn_graph_clone_view(src, &g, err);
    if (st != KN_OK)
        return st;
    kn_pass_ctx ctx = {0};
    if ((st = kn_graph_bind_batch(&g, 1, err)) == KN_OK)
        st = kn_passes_run(&g, &ctx, err);
    stats->flops = 0;
    if (st == KN_OK)
        for (int i = 0; i < g.num_nodes; i++)
            stats->flops += kn_node_flops(&g, &g.nodes[i]);
    kn_graph_free(&g);
    return st;
}

kn_status kn_model_op_counts(const kn_model_t *model, void (*fn)(const char *, int, void *), void *user,
                             kn_error *err)
{
    if (!model || !fn)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_op_counts: model and fn are required");
    int counts[KN_OP_COUNT] = {0};
    for (int i = 0; i < model->graph.num_nodes; i++)
        counts[model->graph.nodes[i].op]++;
    for (int op = 0; op < KN_OP_COUNT; op++)
        if (counts[op])
            fn(kn_op_get((kn_op)op)->name, counts[op], user);
    return KN_OK;
}
