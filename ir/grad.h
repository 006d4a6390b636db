/*
 * grad.h - gradient rules: how each op of ir/ops.def turns the gradients of
 * its outputs into the gradients of its inputs, written with other ops of
 * the table (forward ops where they serve, explicit gradient ops such as
 * ConvGradWeight, MaxPoolGrad, ActivationGrad where a kernel pays).
 *
 * The autodiff pass (passes/autodiff.c) walks a training graph from the
 * loss backwards and, for each node that a gradient reaches, fills a
 * kn_grad_ctx and calls the rule in the node's op table row. A rule reads
 * the forward node (ctx->fwd, a copy: the graph's node array may move while
 * nodes are added), its inputs' and outputs' values, and the output
 * gradients ctx->dy[k] (-1 where none flows), and sets ctx->dx[k] for every
 * input slot k with ctx->need[k]. It adds nodes with the helpers below,
 * which name them after the forward node and infer their shapes at once
 * (a training graph's shapes are concrete). Errors are sticky: after the
 * first failure every helper returns -1 and does nothing, so a rule checks
 * ctx->st once, at its end (returning it). The rules live in ir/grad_*.c.
 */
#ifndef KN_GRAD_H
#define KN_GRAD_H

#include "ir.h"

typedef struct kn_grad_ctx {
    kn_graph *g;
    kn_node fwd;                   /**< the forward node (a copy) */
    int dy[KN_MAX_OUTPUTS];        /**< gradient of each output, or -1 */
    bool need[KN_MAX_INPUTS];      /**< whether input slot k needs a gradient */
    int dx[KN_MAX_INPUTS];         /**< set by the rule: gradient of input slot k, or -1 */
    int count;                     /**< nodes added for this forward node (their names) */
    kn_status st;                  /**< sticky: the first error */
    kn_error *err;
} kn_grad_ctx;

/** Value id of the forward node's input slot k (-1 when absent). */
static inline int kn_grad_x(const kn_grad_ctx *c, int k)
{
    return k < c->fwd.num_inputs ? c->fwd.inputs[k] : -1;
}

/** Value id of the forward node's output k. */
static inline int kn_grad_y(const kn_grad_ctx *c, int k)
{
    return c->fwd.outputs[k];
}

/** Whether dtype d is a floating-point one (what gradients flow through). */
static inline bool kn_grad_is_float(kn_dtype d)
{
    return d == KN_F32 || d == KN_F64;
}

/** The shape of value v. */
static inline const kn_shape *kn_grad_shape(const kn_grad_ctx *c, int v)
{
    return &c->g->values[v].shape;
}

/**
 * Add node `op` (attrs NULL: the op's defaults) reading in[0..nin) with
 * nout new float32 outputs (ids into outs[]), named "<fwd>/grad<N>", and
 * infer its output shapes. Returns outs[0] (-1 after an error).
 */
int kn_grad_emit(kn_grad_ctx *c, kn_op op, const kn_attrs *attrs, const int *in, int nin, int nout, int *outs);

/** kn_grad_emit with one output and up to 3 inputs (b, d: -1 when absent, trailing). */
int kn_grad_op(kn_grad_ctx *c, kn_op op, const kn_attrs *attrs, int a, int b, int d);

/** A float32 scalar (rank 0) constant. */
int kn_grad_scalar(kn_grad_ctx *c, float v);

/** An int64 constant of n values (rank 1). */
int kn_grad_ints(kn_grad_ctx *c, int n, const int64_t *v);

/** A float32 constant of `shape` filled with v. */
int kn_grad_fill(kn_grad_ctx *c, const kn_shape *shape, float v);

/** v summed down to `shape` (numpy broadcasting reversed; SumTo), or v itself when it has that shape. */
int kn_grad_sum_to(kn_grad_ctx *c, int v, const kn_shape *shape);

/** v reshaped to `shape` (a Reshape with a constant shape), or v itself when it has that shape. */
int kn_grad_reshape_to(kn_grad_ctx *c, int v, const kn_shape *shape);

/**
 * Whether node n cannot be differentiated although it lies between a trained weight and the loss: its op has no
 * gradient rule, or the rule does not cover this node's dtypes (integer Mod or Mod without fmod, Pow of an
 * integer base, a Cast to or from a non-float dtype). Then why[len] says so ("Mod on int64"). The autodiff pass
 * names every such node at once, before running any rule.
 */
bool kn_grad_refusal(const kn_graph *g, const kn_node *n, char *why, size_t len);

/** Record a failure (sticky) and return -1. */
int kn_grad_fail(kn_grad_ctx *c, kn_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The rules named in ops.def (grad_nn.c: convolutions, products, pools, normalisation, activations, losses;
 * grad_tensor.c: element-wise arithmetic and tensor manipulation). */
#define KN_GRAD_RULE(fn) kn_status fn(kn_grad_ctx *c);
KN_GRAD_RULE(kn_grad_conv)
KN_GRAD_RULE(kn_grad_conv_transpose)
KN_GRAD_RULE(kn_grad_gemm)
KN_GRAD_RULE(kn_grad_matmul)
KN_GRAD_RULE(kn_grad_binary)
KN_GRAD_RULE(kn_grad_zero)
KN_GRAD_RULE(kn_grad_cast)
KN_GRAD_RULE(kn_grad_lrn)
KN_GRAD_RULE(kn_grad_gather)
KN_GRAD_RULE(kn_grad_gather_nd)
KN_GRAD_RULE(kn_grad_scatter_nd)
KN_GRAD_RULE(kn_grad_activation)
KN_GRAD_RULE(kn_grad_variadic)
KN_GRAD_RULE(kn_grad_prelu)
KN_GRAD_RULE(kn_grad_where)
KN_GRAD_RULE(kn_grad_reduce)
KN_GRAD_RULE(kn_grad_expand)
KN_GRAD_RULE(kn_grad_layer_norm)
KN_GRAD_RULE(kn_grad_instance_norm)
KN_GRAD_RULE(kn_grad_softmax)
KN_GRAD_RULE(kn_grad_pool)
KN_GRAD_RULE(kn_grad_global_pool)
KN_GRAD_RULE(kn_grad_batch_norm)
KN_GRAD_RULE(kn_grad_batch_norm_train)
KN_GRAD_RULE(kn_grad_dropout_train)
KN_GRAD_RULE(kn_grad_reshape)
KN_GRAD_RULE(kn_grad_transpose)
KN_GRAD_RULE(kn_grad_concat)
KN_GRAD_RULE(kn_grad_split)
KN_GRAD_RULE(kn_grad_slice)
KN_GRAD_RULE(kn_grad_pad)
KN_GRAD_RULE(kn_grad_resize)
KN_GRAD_RULE(kn_grad_tile)
KN_GRAD_RULE(kn_grad_depth_space)
KN_GRAD_RULE(kn_grad_identity)
KN_GRAD_RULE(kn_grad_loss)
#undef KN_GRAD_RULE

#endif /* KN_GRAD_H */
