/* ref_backend.c - the reference backend's executor and kernel table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ref.h"

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
    [KN_OP_ELU] = kn_ref_unary,
    [KN_OP_SQRT] = kn_ref_unary,
    [KN_OP_EXP] = kn_ref_unary,
    [KN_OP_ERF] = kn_ref_unary,
    [KN_OP_SOFTMAX] = kn_ref_softmax,
    [KN_OP_LOG_SOFTMAX] = kn_ref_softmax,
    [KN_OP_MAX_POOL] = kn_ref_pool,
    [KN_OP_AVERAGE_POOL] = kn_ref_pool,
    [KN_OP_GLOBAL_AVERAGE_POOL] = kn_ref_global_pool,
    [KN_OP_GLOBAL_MAX_POOL] = kn_ref_global_pool,
    [KN_OP_BATCH_NORM] = kn_ref_batch_norm,
    [KN_OP_LRN] = kn_ref_lrn,
    [KN_OP_REDUCE_MEAN] = kn_ref_reduce_mean,
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
    [KN_OP_SHAPE] = kn_ref_shape,
    [KN_OP_CONSTANT_OF_SHAPE] = kn_ref_constant_of_shape,
    [KN_OP_IDENTITY] = kn_ref_copy,
    [KN_OP_DROPOUT] = kn_ref_copy,
    [KN_OP_CAST] = kn_ref_cast,
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

/* Run one node with tensors bound to its inputs and (allocated) outputs. */
static kn_status kn_ref_run_node(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err)
{
    kn_ref_kernel k = kn_ref_kernel_for(node->op);
    if (!k)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': no reference kernel for %s", node->name,
                            kn_op_get(node->op)->name);
    kn_status st = k(node, in, out, err);
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
    if (st == KN_OK)
        st = kn_ref_run_node(node, in, out, err);
    if (st != KN_OK)
        for (int k = 0; k < node->num_outputs; k++) {
            free(outputs[k]);
            outputs[k] = NULL;
        }
    return st;
}

/* ------------------------------------------------------------ executable */

typedef struct kn_ref_exe {
    const kn_graph *graph;
    int threads;
    void **buffers;     /* per value: weights point into the graph, the rest is owned */
    bool *owned;
} kn_ref_exe;

static void kn_ref_free(void *p)
{
    kn_ref_exe *exe = p;
    if (!exe)
        return;
    if (exe->buffers)
        for (int v = 0; v < exe->graph->num_values; v++)
            if (exe->owned[v])
                free(exe->buffers[v]);
    free(exe->buffers);
    free(exe->owned);
    free(exe);
}

static void kn_ref_set_threads(int threads)
{
    if (threads <= 0)
        return;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    openblas_set_num_threads(threads);
}

static kn_status kn_ref_compile(const kn_graph *g, int threads, void **out, kn_error *err)
{
    kn_ref_exe *exe = calloc(1, sizeof *exe);
    if (!exe)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    exe->graph = g;
    exe->threads = threads;
    exe->buffers = kn_xcalloc((size_t)g->num_values, sizeof(void *));
    exe->owned = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    if (!exe->buffers || !exe->owned) {
        kn_ref_free(exe);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        if (val->data) {
            exe->buffers[v] = val->data;
            continue;
        }
        size_t bytes;
        if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &bytes) != KN_OK) {
            kn_ref_free(exe);
            return kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete shape", val->name);
        }
        exe->buffers[v] = calloc(1, bytes ? bytes : 1);
        if (!exe->buffers[v]) {
            kn_ref_free(exe);
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory allocating '%s' (%zu bytes)", val->name, bytes);
        }
        exe->owned[v] = true;
    }
    *out = exe;
    return KN_OK;
}

static kn_status kn_ref_run(void *p, kn_error *err)
{
    kn_ref_exe *exe = p;
    const kn_graph *g = exe->graph;
    kn_ref_set_threads(exe->threads);
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *node = &g->nodes[i];
        if (node->dead)
            continue;
        for (int k = 0; k < node->num_inputs; k++)
            kn_ref_bind(g, node->inputs[k], node->inputs[k] >= 0 ? exe->buffers[node->inputs[k]] : NULL, &in[k]);
        for (int k = 0; k < node->num_outputs; k++)
            kn_ref_bind(g, node->outputs[k], exe->buffers[node->outputs[k]], &out[k]);
        kn_status st = kn_ref_run_node(node, in, out, err);
        if (st != KN_OK)
            return st;
    }
    return KN_OK;
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

const kn_backend kn_ref_backend = {
    .name = "ref",
    .supports = kn_ref_supports,
    .compile = kn_ref_compile,
    .run = kn_ref_run,
    .value_data = kn_ref_value_data,
    .free = kn_ref_free,
};
