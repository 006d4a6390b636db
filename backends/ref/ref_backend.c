/* ref_backend.c - the reference backend's executor and kernel table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ref_nn.h"

static const kn_ref_kernel kn_ref_kernels[KN_OP_COUNT] = {
    [KN_OP_CONV] = kn_ref_conv,
    [KN_OP_CONV_TRANSPOSE] = kn_ref_conv_transpose,
    [KN_OP_GEMM] = kn_ref_gemm,
    [KN_OP_MATMUL] = kn_ref_matmul,
    [KN_OP_ADD] = kn_ref_binary,
    [KN_OP_SUB] = kn_ref_binary,
    [KN_OP_MUL] = kn_ref_binary,
    [KN_OP_DIV] = kn_ref_binary,
    [KN_OP_POW] = kn_ref_binary,
    [KN_OP_RELU] = kn_ref_unary,
    [KN_OP_LEAKY_RELU] = kn_ref_unary,
    [KN_OP_SIGMOID] = kn_ref_unary,
    [KN_OP_TANH] = kn_ref_unary,
    [KN_OP_CLIP] = kn_ref_unary,
    [KN_OP_HARD_SIGMOID] = kn_ref_unary,
    [KN_OP_HARD_SWISH] = kn_ref_unary,
    [KN_OP_SWISH] = kn_ref_unary,
    [KN_OP_GELU] = kn_ref_unary,
    [KN_OP_MISH] = kn_ref_unary,
    [KN_OP_ELU] = kn_ref_unary,
    [KN_OP_SQRT] = kn_ref_unary,
    [KN_OP_EXP] = kn_ref_unary,
    [KN_OP_ERF] = kn_ref_unary,
    [KN_OP_MIN] = kn_ref_variadic,
    [KN_OP_MAX] = kn_ref_variadic,
    [KN_OP_SUM] = kn_ref_variadic,
    [KN_OP_MEAN] = kn_ref_variadic,
    [KN_OP_PRELU] = kn_ref_binary,
    [KN_OP_EQUAL] = kn_ref_compare,
    [KN_OP_LESS] = kn_ref_compare,
    [KN_OP_LESS_OR_EQUAL] = kn_ref_compare,
    [KN_OP_GREATER] = kn_ref_compare,
    [KN_OP_GREATER_OR_EQUAL] = kn_ref_compare,
    [KN_OP_NOT] = kn_ref_logical,
    [KN_OP_AND] = kn_ref_logical,
    [KN_OP_OR] = kn_ref_logical,
    [KN_OP_XOR] = kn_ref_logical,
    [KN_OP_WHERE] = kn_ref_where,
    [KN_OP_ABS] = kn_ref_unary,
    [KN_OP_NEG] = kn_ref_unary,
    [KN_OP_RECIPROCAL] = kn_ref_unary,
    [KN_OP_LOG] = kn_ref_unary,
    [KN_OP_FLOOR] = kn_ref_unary,
    [KN_OP_CEIL] = kn_ref_unary,
    [KN_OP_ROUND] = kn_ref_unary,
    [KN_OP_SIGN] = kn_ref_unary,
    [KN_OP_SIN] = kn_ref_unary,
    [KN_OP_COS] = kn_ref_unary,
    [KN_OP_SOFTPLUS] = kn_ref_unary,
    [KN_OP_SOFTSIGN] = kn_ref_unary,
    [KN_OP_SELU] = kn_ref_unary,
    [KN_OP_THRESHOLDED_RELU] = kn_ref_unary,
    [KN_OP_CELU] = kn_ref_unary,
    [KN_OP_SOFTMAX] = kn_ref_softmax,
    [KN_OP_LOG_SOFTMAX] = kn_ref_softmax,
    [KN_OP_MAX_POOL] = kn_ref_pool,
    [KN_OP_AVERAGE_POOL] = kn_ref_pool,
    [KN_OP_GLOBAL_AVERAGE_POOL] = kn_ref_global_pool,
    [KN_OP_GLOBAL_MAX_POOL] = kn_ref_global_pool,
    [KN_OP_BATCH_NORM] = kn_ref_batch_norm,
    [KN_OP_LRN] = kn_ref_lrn,
    [KN_OP_LAYER_NORM] = kn_ref_layer_norm,
    [KN_OP_INSTANCE_NORM] = kn_ref_instance_norm,
    [KN_OP_REDUCE_MEAN] = kn_ref_reduce,
    [KN_OP_REDUCE_SUM] = kn_ref_reduce,
    [KN_OP_REDUCE_MAX] = kn_ref_reduce,
    [KN_OP_REDUCE_MIN] = kn_ref_reduce,
    [KN_OP_REDUCE_PROD] = kn_ref_reduce,
    [KN_OP_REDUCE_L1] = kn_ref_reduce,
    [KN_OP_REDUCE_L2] = kn_ref_reduce,
    [KN_OP_REDUCE_LOG_SUM] = kn_ref_reduce,
    [KN_OP_REDUCE_LOG_SUM_EXP] = kn_ref_reduce,
    [KN_OP_REDUCE_SUM_SQUARE] = kn_ref_reduce,
    [KN_OP_ARG_MAX] = kn_ref_arg,
    [KN_OP_ARG_MIN] = kn_ref_arg,
    [KN_OP_RESIZE] = kn_ref_resize,
    [KN_OP_MOD] = kn_ref_mod,
    [KN_OP_EXPAND] = kn_ref_expand,
    [KN_OP_TILE] = kn_ref_tile,
    [KN_OP_RANGE] = kn_ref_range,
    [KN_OP_DEPTH_TO_SPACE] = kn_ref_depth_space,
    [KN_OP_SPACE_TO_DEPTH] = kn_ref_depth_space,
    [KN_OP_FLATTEN] = kn_ref_copy,
    [KN_OP_RESHAPE] = kn_ref_copy,
    [KN_OP_TRANSPOSE] = kn_ref_transpose,
    [KN_OP_CONCAT] = kn_ref_concat,
    [KN_OP_SPLIT] = kn_ref_split,
    [KN_OP_SLICE] = kn_ref_slice,
    [KN_OP_PAD] = kn_ref_pad,
    [KN_OP_SQUEEZE] = kn_ref_copy,
    [KN_OP_UNSQUEEZE] = kn_ref_copy,
    [KN_OP_GATHER] = kn_ref_gather,
    [KN_OP_SCATTER_ND] = kn_ref_scatter_nd,
    [KN_OP_GATHER_ND] = kn_ref_gather_nd,
    [KN_OP_SHAPE] = kn_ref_shape,
    [KN_OP_CONSTANT_OF_SHAPE] = kn_ref_constant_of_shape,
    [KN_OP_IDENTITY] = kn_ref_copy,
    [KN_OP_DROPOUT] = kn_ref_copy,
    [KN_OP_CAST] = kn_ref_cast,
    [KN_OP_BATCH_NORM_TRAIN] = kn_ref_batch_norm_train,
    [KN_OP_DROPOUT_TRAIN] = kn_ref_dropout_train,
    [KN_OP_CONV_GRAD_WEIGHT] = kn_ref_conv_grad_weight,
    [KN_OP_MAX_POOL_GRAD] = kn_ref_pool_grad,
    [KN_OP_AVERAGE_POOL_GRAD] = kn_ref_pool_grad,
    [KN_OP_GLOBAL_AVERAGE_POOL_GRAD] = kn_ref_global_average_pool_grad,
    [KN_OP_ACTIVATION_GRAD] = kn_ref_activation_grad,
    [KN_OP_SOFTMAX_GRAD] = kn_ref_softmax_grad,
    [KN_OP_LOG_SOFTMAX_GRAD] = kn_ref_softmax_grad,
    [KN_OP_BATCH_NORM_GRAD] = kn_ref_batch_norm_grad,
    [KN_OP_DROPOUT_GRAD] = kn_ref_dropout_grad,
    [KN_OP_SUM_TO] = kn_ref_sum_to,
    [KN_OP_SLICE_GRAD] = kn_ref_slice_grad,
    [KN_OP_RESIZE_GRAD] = kn_ref_resize_grad,
    [KN_OP_GATHER_GRAD] = kn_ref_gather_grad,
    [KN_OP_LRN_GRAD] = kn_ref_lrn_grad,
    [KN_OP_SOFTMAX_CROSS_ENTROPY] = kn_ref_loss,
    [KN_OP_CROSS_ENTROPY] = kn_ref_loss,
    [KN_OP_BINARY_CROSS_ENTROPY] = kn_ref_loss,
    [KN_OP_BCE_WITH_LOGITS] = kn_ref_loss,
    [KN_OP_MSE_LOSS] = kn_ref_loss,
    [KN_OP_LOSS_GRAD] = kn_ref_loss_grad,
    [KN_OP_SGD_UPDATE] = kn_ref_update,
    [KN_OP_MOMENTUM_UPDATE] = kn_ref_update,
    [KN_OP_ADAM_UPDATE] = kn_ref_update,
    [KN_OP_GRAD_SYNC_START] = kn_ref_grad_sync_start,
    [KN_OP_GRAD_SYNC_WAIT] = kn_ref_grad_sync_wait,
    [KN_OP_RMSPROP_UPDATE] = kn_ref_update,
};


kn_ref_kernel kn_ref_kernel_for(kn_op op)
{
    return op < KN_OP_COUNT ? kn_ref_kernels[op] : NULL;
}

kn_status kn_ref_apply_fused(const kn_node *node, const kn_tensor *in, kn_tensor *t, kn_error *err)
{
    if (t->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s': fused post-ops need float32", node->name);
    size_t n;
    if (kn_shape_numel(&t->shape, &n) != KN_OK)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': bad output size", node->name);
    float *y = t->data;
    if (node->fused.residual >= 0) {
        const kn_tensor *r = &in[node->fused.residual];
        if (!r->data || r->dtype != KN_F32 || !kn_shape_equal(&r->shape, &t->shape))
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s': fused residual does not match the output",
                                node->name);
        const float *x = r->data;
#pragma omp parallel for if (n > 65536)
        for (size_t i = 0; i < n; i++)
            y[i] += x[i];
    }
    if (node->fused.activation != KN_OP_COUNT)
        kn_ref_activation(node->fused.activation, &node->fused.act, y, n);
    return KN_OK;
}

int kn_ref_kernel_threads(int threads)
{
#ifdef _OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

size_t kn_ref_scratch_bytes_for(const kn_node *node, const kn_tensor *in, const kn_tensor *out, int threads)
{
    switch (node->op) {
    case KN_OP_CONV:
    case KN_OP_CONV_TRANSPOSE:
        return kn_ref_conv_scratch_bytes(node, in, out, threads);
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
        return kn_ref_pool_scratch_bytes(node, in, out);
    case KN_OP_CONV_GRAD_WEIGHT:
        return kn_ref_conv_grad_weight_bytes(node, in, out);
    case KN_OP_BATCH_NORM_TRAIN:
        return kn_ref_bn_sync_scratch_bytes(node, in[0].shape.rank > 1 ? in[0].shape.dims[1] : 1);
    case KN_OP_BATCH_NORM_GRAD:
        return kn_ref_bn_sync_scratch_bytes(node, in[1].shape.rank > 1 ? in[1].shape.dims[1] : 1);
    case KN_OP_LRN_GRAD:
        return kn_ref_lrn_grad_bytes(node, in, out);
    default:
        return 0;
    }
}

kn_status kn_ref_scratch_check(const kn_node *node, const kn_ref_scratch *scratch, size_t need, kn_error *err)
{
    if (need == 0)
        return KN_OK;
    if (need == SIZE_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): scratch size overflows", node->name,
                            kn_op_get(node->op)->name);
    if (!scratch || !scratch->data || scratch->size < need)
        return kn_error_set(err, KN_ERR_BACKEND,
                            "node '%s' (%s): kernel needs %zu bytes of scratch but was given %zu (internal error)",
                            node->name, kn_op_get(node->op)->name, need, scratch ? scratch->size : (size_t)0);
    return KN_OK;
}

/*
 * True when no output of the node has an element: there is nothing to compute. A tensor with a zero dimension
 * may have others of any size (a Pad of 2^45 along another axis, found by fuzz/fuzz_onnx), and a kernel's loop
 * over them would run for hours writing nothing.
 */
static bool kn_ref_outputs_empty(const kn_node *node, const kn_tensor *out)
{
    for (int k = 0; k < node->num_outputs; k++) {
        size_t n;
        if (kn_shape_numel(&out[k].shape, &n) != KN_OK || n > 0)
            return false;
    }
    return node->num_outputs > 0;
}

/* Run one node with tensors bound to its inputs and (allocated) outputs. */
static kn_status kn_ref_run_node(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                 const kn_ref_scratch *scratch, kn_error *err)
{
    kn_ref_kernel k = kn_ref_kernel_for(node->op);
    if (!k)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': no reference kernel for %s", node->name,
                            kn_op_get(node->op)->name);
    if (kn_ref_outputs_empty(node, out))
        return KN_OK;
    kn_status st = k(node, in, out, scratch, err);
    if (st == KN_OK && (node->fused.activation != KN_OP_COUNT || node->fused.residual >= 0))
        st = kn_ref_apply_fused(node, in, &out[0], err);
    return st;
}

static void kn_ref_bind(const kn_graph *g, int id, void *data, kn_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (id < 0)
        return;
    t->dtype = g->values[id].dtype;
    t->shape = g->values[id].shape;
    t->data = data;
}

size_t kn_ref_scratch_bytes(const kn_graph *g, const kn_node *node, int threads)
{
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    for (int k = 0; k < node->num_inputs; k++)
        kn_ref_bind(g, node->inputs[k], NULL, &in[k]);
    for (int k = 0; k < node->num_outputs; k++)
        kn_ref_bind(g, node->outputs[k], NULL, &out[k]);
    return kn_ref_scratch_bytes_for(node, in, out, threads);
}

/* Allocate the scratch `node` needs on the tensors given, for the threads allowed now (outside any executable). */
static kn_status kn_ref_scratch_alloc(const kn_node *node, const kn_tensor *in, const kn_tensor *out,
                                      kn_ref_scratch *sc, kn_error *err)
{
    sc->threads = kn_ref_gemm_threads();
    sc->size = kn_ref_scratch_bytes_for(node, in, out, sc->threads);
    sc->data = NULL;
    if (sc->size == SIZE_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): scratch size overflows", node->name,
                            kn_op_get(node->op)->name);
    if (sc->size && posix_memalign(&sc->data, KN_REF_SCRATCH_ALIGN, sc->size) != 0) {
        sc->data = NULL;
        return kn_error_set(err, KN_ERR_NOMEM, "node '%s' (%s): out of memory for %zu bytes of scratch",
                            node->name, kn_op_get(node->op)->name, sc->size);
    }
    return KN_OK;
}

kn_status kn_ref_invoke(kn_ref_kernel k, const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err)
{
    kn_ref_scratch sc;
    kn_status st = kn_ref_scratch_alloc(node, in, out, &sc, err);
    if (st == KN_OK)
        st = k(node, in, out, &sc, err);
    free(sc.data);
    return st;
}

kn_status kn_ref_eval_node(const kn_graph *g, const kn_node *node, void **outputs, kn_error *err)
{
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    for (int k = 0; k < node->num_inputs; k++)
        kn_ref_bind(g, node->inputs[k], node->inputs[k] >= 0 ? g->values[node->inputs[k]].data : NULL, &in[k]);
    for (int k = 0; k < node->num_outputs; k++)
        outputs[k] = NULL;
    kn_status st = KN_OK;
    for (int k = 0; k < node->num_outputs && st == KN_OK; k++) {
        const kn_value *v = &g->values[node->outputs[k]];
        size_t bytes;
        if (kn_tensor_nbytes(v->dtype, &v->shape, &bytes) != KN_OK)
            st = kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': output too large", node->name);
        else if (!(outputs[k] = calloc(1, bytes ? bytes : 1)))
            st = kn_error_set(err, KN_ERR_NOMEM, "node '%s': out of memory (%zu bytes)", node->name, bytes);
        kn_ref_bind(g, node->outputs[k], outputs[k], &out[k]);
    }
    kn_ref_scratch sc = {0};
    if (st == KN_OK && (st = kn_ref_scratch_alloc(node, in, out, &sc, err)) == KN_OK)
        st = kn_ref_run_node(node, in, out, &sc, err);
    free(sc.data);
    if (st != KN_OK)
        for (int k = 0; k < node->num_outputs; k++) {
            free(outputs[k]);
            outputs[k] = NULL;
        }
    return st;
}

/* ------------------------------------------------------------ executable */

/*
 * An executable: the graph, and one arena for every tensor a run writes
 * (graph inputs, outputs, intermediates), laid out by the memory plan given
 * at compile time, kernels' scratch included (a region per node, in the
 * plan, or one region after the tensors that every node shares). Weights
 * and constants stay in the graph. Nothing is allocated during a run.
 */
typedef struct kn_ref_exe {
    const kn_graph *graph;
    int threads;        /* OpenMP threads of a run, resolved at compile time */
    int kthreads;       /* kernel threads (kn_ref_kernel_threads), the scratch was sized for */
    void **buffers;     /* per value: into the graph (data) or the arena; NULL if no node uses it */
    void **scratch;     /* per node: its scratch in the arena, or NULL */
    size_t *scratch_size; /* per node: bytes of its scratch */
    void *arena;
    size_t arena_bytes;
} kn_ref_exe;

static void kn_ref_free(void *p)
{
    kn_ref_exe *exe = p;
    if (!exe)
        return;
    free(exe->arena);
    free(exe->buffers);
    free(exe->scratch);
    free(exe->scratch_size);
    free(exe);
}

/* Without a plan: every value without data gets its own 64-byte aligned slot. */
static kn_status kn_ref_naive_plan(const kn_graph *g, size_t *offsets, size_t *total, kn_error *err)
{
    size_t at = 0;
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        offsets[v] = KN_BUFFER_NONE;
        if (val->data)
            continue;
        size_t bytes;
        if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &bytes) != KN_OK)
            return kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete shape", val->name);
        offsets[v] = at;
        if (bytes > SIZE_MAX - 63 || !kn_size_add(at, (bytes + 63) & ~(size_t)63, &at))
            return kn_error_set(err, KN_ERR_OVERFLOW, "the tensors of the graph do not fit in memory");
    }
    *total = at;
    return KN_OK;
}

/* Every tensor a live node touches must have a buffer. */
static kn_status kn_ref_check_bound(const kn_ref_exe *exe, kn_error *err)
{
    const kn_graph *g = exe->graph;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
            int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
            if (v >= 0 && !exe->buffers[v])
                return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): value '%s' has no buffer in the plan",
                                    n->name, kn_op_get(n->op)->name, g->values[v].name);
        }
    }
    for (int i = 0; i < g->num_inputs + g->num_outputs; i++) {
        int v = i < g->num_inputs ? g->inputs[i] : g->outputs[i - g->num_inputs];
        if (v >= 0 && !exe->buffers[v])
            return kn_error_set(err, KN_ERR_GRAPH, "graph %s '%s' has no buffer in the plan",
                                i < g->num_inputs ? "input" : "output", g->values[v].name);
    }
    return KN_OK;
}

/*
 * Size every live node's scratch for exe->kthreads and place it: where the
 * plan puts it (checked against the plan's sizes and arena), or, when the
 * plan has no scratch (or there is no plan), in one region after the
 * tensors that all nodes share (nodes run one at a time). Grows
 * exe->arena_bytes for that region; pointers are set once the arena exists
 * (kn_ref_bind_scratch).
 */
static kn_status kn_ref_size_scratch(kn_ref_exe *exe, const kn_buffer_plan *plan, size_t *shared_at,
                                     kn_error *err)
{
    const kn_graph *g = exe->graph;
    const bool planned = plan && plan->scratch_offsets && plan->scratch_bytes;
    size_t shared = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        size_t need = kn_ref_scratch_bytes(g, n, exe->kthreads);
        if (need == SIZE_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the kernel's scratch size overflows",
                                n->name, kn_op_get(n->op)->name);
        exe->scratch_size[i] = need;
        if (need == 0)
            continue;
        if (!planned) {
            shared = need > shared ? need : shared;
            continue;
        }
        size_t off = plan->scratch_offsets[i], have = plan->scratch_bytes[i];
        if (off == KN_BUFFER_NONE || have < need)
            return kn_error_set(err, KN_ERR_INVALID_ARG,
                                "memory plan gives node '%s' (%s) %zu bytes of scratch, its kernel needs %zu",
                                n->name, kn_op_get(n->op)->name, off == KN_BUFFER_NONE ? (size_t)0 : have, need);
        if (off % 64 != 0 || off > exe->arena_bytes || have > exe->arena_bytes - off)
            return kn_error_set(err, KN_ERR_INVALID_ARG,
                                "memory plan puts the scratch of node '%s' (%zu bytes) at offset %zu, outside the "
                                "%zu-byte arena",
                                n->name, have, off, exe->arena_bytes);
    }
    *shared_at = KN_BUFFER_NONE;
    if (shared > 0) {
        size_t at = kn_ref_scratch_align(exe->arena_bytes);
        if (at == SIZE_MAX || !kn_size_add(at, shared, &exe->arena_bytes))
            return kn_error_set(err, KN_ERR_OVERFLOW, "the tensors and scratch of the graph do not fit in memory");
        *shared_at = at;
    }
    return KN_OK;
}

static void kn_ref_bind_scratch(kn_ref_exe *exe, const kn_buffer_plan *plan, size_t shared_at)
{
    const kn_graph *g = exe->graph;
    for (int i = 0; i < g->num_nodes; i++) {
        if (g->nodes[i].dead || exe->scratch_size[i] == 0)
            continue;
        size_t off = shared_at != KN_BUFFER_NONE ? shared_at : plan->scratch_offsets[i];
        exe->scratch[i] = (char *)exe->arena + off;
    }
}

static kn_status kn_ref_compile(const kn_graph *g, const kn_buffer_plan *plan, int threads, void **out,
                                kn_error *err)
{
    *out = NULL;
    kn_ref_exe *exe = calloc(1, sizeof *exe);
    if (!exe)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    exe->graph = g;
#ifdef _OPENMP
    /* resolved now, so that the scratch sized here and the threads of every run agree */
    exe->threads = threads > 0 ? threads : omp_get_max_threads();
#else
    exe->threads = threads;
#endif
    exe->kthreads = kn_ref_kernel_threads(exe->threads);
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    exe->buffers = kn_xcalloc((size_t)g->num_values, sizeof(void *));
    exe->scratch = kn_xcalloc(nn, sizeof(void *));
    exe->scratch_size = kn_xcalloc(nn, sizeof(size_t));
    size_t *naive = NULL;
    size_t shared_at = KN_BUFFER_NONE;
    kn_status st = KN_OK;
    if (!exe->buffers || !exe->scratch || !exe->scratch_size) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const size_t *offsets;
    if (plan) {
        if (!plan->offsets && g->num_values > 0) {
            st = kn_error_set(err, KN_ERR_INVALID_ARG, "memory plan without offsets");
            goto fail;
        }
        offsets = plan->offsets;
        exe->arena_bytes = plan->arena_bytes;
    } else {
        naive = kn_xcalloc((size_t)g->num_values, sizeof(size_t));
        if (!naive) {
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if ((st = kn_ref_naive_plan(g, naive, &exe->arena_bytes, err)) != KN_OK)
            goto fail;
        offsets = naive;
    }
    const size_t tensor_bytes = exe->arena_bytes;
    if ((st = kn_ref_size_scratch(exe, plan, &shared_at, err)) != KN_OK)
        goto fail;
    /* The one allocation: 64-byte aligned, at least one cache line. */
    size_t bytes = exe->arena_bytes > 64 ? exe->arena_bytes : 64;
    if (bytes > SIZE_MAX - 63) {
        st = kn_error_set(err, KN_ERR_OVERFLOW, "arena of %zu bytes is too large", exe->arena_bytes);
        goto fail;
    }
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&exe->arena, 64, bytes) != 0) {
        exe->arena = NULL;
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory allocating the %zu-byte tensor arena", bytes);
        goto fail;
    }
#ifndef NDEBUG
    /* Debug builds poison the arena (NaN floats, -1 integers) so a kernel reading what nobody wrote shows. */
    memset(exe->arena, 0xff, bytes);
#else
    memset(exe->arena, 0, bytes);
#endif
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        if (val->data) {
            exe->buffers[v] = val->data;
            continue;
        }
        if (offsets[v] == KN_BUFFER_NONE)
            continue;
        size_t need;
        if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &need) != KN_OK) {
            st = kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete shape", val->name);
            goto fail;
        }
        if (offsets[v] % 64 != 0 || offsets[v] > tensor_bytes || need > tensor_bytes - offsets[v]) {
            st = kn_error_set(err, KN_ERR_INVALID_ARG,
                              "memory plan puts '%s' (%zu bytes) at offset %zu, outside the %zu-byte arena",
                              val->name, need, offsets[v], tensor_bytes);
            goto fail;
        }
        exe->buffers[v] = (char *)exe->arena + offsets[v];
    }
    kn_ref_bind_scratch(exe, plan, shared_at);
    if ((st = kn_ref_check_bound(exe, err)) != KN_OK)
        goto fail;
    free(naive);
    *out = exe;
    return KN_OK;
fail:
    free(naive);
    kn_ref_free(exe);
    return st;
}

/* Run every live node; with node_seconds, time each (kernel and fused post-ops). */
static kn_status kn_ref_run_timed(kn_ref_exe *exe, double deadline, double *node_seconds, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_ref_blas_set_threads(exe->threads);
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    int done = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *node = &g->nodes[i];
        if (node_seconds)
            node_seconds[i] = 0;
        if (node->dead)
            continue;
        if (kn_deadline_passed(deadline))
            return kn_deadline_error(err, g, node, done, -1);
        done++;
        for (int k = 0; k < node->num_inputs; k++)
            kn_ref_bind(g, node->inputs[k], node->inputs[k] >= 0 ? exe->buffers[node->inputs[k]] : NULL, &in[k]);
        for (int k = 0; k < node->num_outputs; k++)
            kn_ref_bind(g, node->outputs[k], exe->buffers[node->outputs[k]], &out[k]);
        const kn_ref_scratch sc = {exe->scratch[i], exe->scratch_size[i], exe->kthreads};
        double t0 = node_seconds ? kn_now_s() : 0;
        kn_status st = kn_ref_run_node(node, in, out, &sc, err);
        if (node_seconds)
            node_seconds[i] = kn_now_s() - t0;
        if (st != KN_OK)
            return st;
    }
    return KN_OK;
}

static kn_status kn_ref_run(void *p, double deadline, kn_error *err)
{
    return kn_ref_run_timed(p, deadline, NULL, err);
}

static kn_status kn_ref_run_profiled(void *p, double *node_seconds, kn_error *err)
{
    return kn_ref_run_timed(p, 0, node_seconds, err);
}

static void *kn_ref_value_data(void *p, int id)
{
    kn_ref_exe *exe = p;
    return id >= 0 && id < exe->graph->num_values ? exe->buffers[id] : NULL;
}

static bool kn_ref_supports(const kn_graph *g, const kn_node *node, char *why, size_t len)
{
    (void)g;
    if (node->op < KN_OP_COUNT && kn_ref_kernels[node->op])
        return true;
    snprintf(why, len, "no reference kernel for this op");
    return false;
}

/* Every fused post-op runs through kn_ref_apply_fused, so every fusion is accepted. */
static bool kn_ref_can_fuse(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual)
{
    (void)g;
    (void)producer;
    (void)activation;
    (void)residual;
    return true;
}

/* The backend's scratch query takes the compile thread count; the kernels', kernel threads. */
static size_t kn_ref_backend_scratch(const kn_graph *g, const kn_node *node, int threads)
{
    return kn_ref_scratch_bytes(g, node, kn_ref_kernel_threads(threads));
}

/* The reference kernels are portable C (a few loops compiled for AVX2 too); their matrix products are OpenBLAS's,
 * whose kernels it picks for the CPU at start-up: that core ("Haswell", "SkylakeX", "Zen") is what this reports. */
static const char *kn_ref_isa(void)
{
    return openblas_get_corename();
}

const kn_backend kn_ref_backend = {
    .name = "ref",
    .supports = kn_ref_supports,
    .compile = kn_ref_compile,
    .run = kn_ref_run,
    .value_data = kn_ref_value_data,
    .free = kn_ref_free,
    .can_fuse = kn_ref_can_fuse,
    .scratch_bytes = kn_ref_backend_scratch,
    .run_profiled = kn_ref_run_profiled,
    .isa = kn_ref_isa,
};
