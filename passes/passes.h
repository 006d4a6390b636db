/*
 * passes.h - graph passes and the pipeline that runs them.
 *
 * A pass takes a graph and reports whether it changed it. The pipeline is an
 * ordered array of passes (passes/pipeline.c); the runtime runs it on a copy
 * of the model's graph after binding the batch size, before a backend
 * compiles the result.
 */
#ifndef KN_PASSES_H
#define KN_PASSES_H

#include <stdio.h>

#include "ir.h"

/**
 * What the training pipeline's passes read (kn_pass_ctx.train; NULL for
 * inference) and pass on to each other. The graph is the forward graph of
 * the models with the loss already built on it (runtime/train_graph.c).
 */
typedef struct kn_train_pass {
    const char *loss;          /**< name of the scalar loss value */
    const char *step;          /**< name of the int64 scalar step input (Dropout masks, Adam's t), or NULL */
    const char *lr_scale;      /**< name of the float32 scalar input scaling the learning rate, or NULL */
    uint64_t update_models;    /**< bit m set: the weights of model m (kn_value.model) are trained */
    kn_op optimizer;           /**< KN_OP_SGD_UPDATE, KN_OP_MOMENTUM_UPDATE, KN_OP_ADAM_UPDATE or KN_OP_RMSPROP_UPDATE */
    kn_optim_attrs optim;
    uint64_t seed;             /**< Dropout masks: each node's seed mixes this with its name */
    /**
     * Data-parallel training (NULL, or size 1: none). The training-mode pass
     * gives every Dropout the int64 scalar input `first_sample` (the shard's
     * first sample in the global batch); the optimizer pass sends the
     * gradients through GradSyncStart/GradSyncWait buckets of about
     * bucket_bytes (scaled by the float32 scalar input `grad_scale`), each
     * started right after the node that finishes its last gradient, all
     * waited on before the updates.
     */
    const struct kn_collective *collective;
    bool deterministic;
    bool sync_batch_norm;      /**< BatchNorm statistics over the global batch (every rank's shard) */
    size_t bucket_bytes;
    const char *first_sample, *grad_scale;
    /** Set by the optimizer pass: the buckets and the gradient bytes each rank contributes per run. */
    int num_buckets;
    size_t sync_bytes;
    /** Set by the autodiff pass for the optimizer pass: the trained weights and their gradients (value ids). */
    int num_params;
    int *params, *grads;
} kn_train_pass;

/** Free what autodiff left in t (params, grads). */
void kn_train_pass_free(kn_train_pass *t);

/** What a pass may consult and where it reports. */
typedef struct kn_pass_ctx {
    FILE *explain;            /**< when non-NULL, passes write one line per change here */
    bool verify_each;         /**< verify the graph after every pass */
    size_t fold_limit_bytes;  /**< largest output constant folding may create (0: 64 MiB) */
    /**
     * Whether the backend can run `producer` with `activation` (KN_OP_COUNT:
     * none) and, when `residual`, an added residual fused after it. NULL: the
     * reference backend, which accepts every fusion. `can_fuse_user` is
     * passed through (e.g. the kn_backend).
     */
    bool (*can_fuse)(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual, void *user);
    void *can_fuse_user;
    /**
     * When non-NULL, the name of a pipeline pass after which kn_passes_run
     * writes the graph (every time the pass runs, so a pass in a fixed-point
     * group leaves its last result in a file). An unknown name is an error
     * listing the valid ones.
     */
    const char *dump_after;
    /** Where dump_after writes: NULL for standard output; a name ending in .dot gets Graphviz DOT, others text. */
    const char *dump_path;
    /** The training passes' parameters and hand-over (training pipeline only). */
    kn_train_pass *train;
} kn_pass_ctx;

typedef struct kn_pass {
    const char *name;
    const char *summary;
    kn_status (*run)(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);
    /**
     * 0: run once. Consecutive passes with the same non-zero group run again,
     * as a group, until none of them changes the graph (at most
     * KN_PASS_MAX_ROUNDS rounds).
     */
    int group;
} kn_pass;

/** Bound on the rounds of a fixed-point group. */
#define KN_PASS_MAX_ROUNDS 8

/**
 * Shape inference with constant folding, in one topological sweep: every
 * node's output shapes are inferred; a node whose inputs are all constants
 * (weights included) is evaluated with the reference kernels and replaced by
 * constant outputs, so shape subgraphs (Shape -> Gather -> ... -> Reshape)
 * vanish once the batch is bound.
 */
kn_status kn_pass_infer_and_fold(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/** Dead code elimination: drop nodes none of whose outputs are read, then unused values. */
kn_status kn_pass_dce(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Activation fusion: a Conv/ConvTranspose/Gemm/MatMul/BatchNormalization
 * (KN_FUSE_PRODUCER; BatchNormalization: pre-activation blocks, DenseNet)
 * whose float32 output is read only by an element-wise activation (Relu,
 * LeakyRelu, Clip with constant bounds, Sigmoid, Tanh, HardSigmoid,
 * HardSwish, Elu) takes the activation over as node->fused: the producer
 * then writes the activation's output value (names of graph outputs are
 * kept) and the activation node is removed. Not fused, with the reason
 * written to ctx->explain: the output has other readers or is a graph
 * output, the producer already has an activation, Clip bounds that are not
 * constant, or ctx->can_fuse declines.
 */
kn_status kn_pass_fuse_activation(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Concat distribution (inference graphs only): a pooling (MaxPool,
 * AveragePool) that alone reads a channel Concat of 2-4 float32 4-D sources
 * pools each source and concatenates the smaller results; a channel Concat
 * whose every reader is a group-1 Conv with constant float32 weights (and
 * no post-ops yet) becomes, for each reader, one Conv per source over its
 * slice of the weights' input channels (the bias on the last) summed by
 * Adds, so the concat's copy disappears and fuse_residual turns the sums
 * into post-ops. Skipped, with the reason explained, when a sum would move
 * more bytes than the copy (a reader with a bigger output than the
 * concat), or when ctx->can_fuse refuses a residual for the Conv.
 */
kn_status kn_pass_distribute_concat(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Pooling before a pointwise convolution (inference graphs; passes/
 * pool_first.c): an AveragePool whose windows all lie inside the input
 * (no padding, no partial ceil_mode window) or a GlobalAveragePool that
 * alone reads the float32 4-D output of a Conv with a 1x1 kernel, stride 1,
 * no padding and no post-ops now reads the Conv's input, and the Conv reads
 * the pooled tensor and writes the pooling's output: the same values
 * (averaging commutes with a per-pixel affine map) at a fraction of the
 * multiply-adds. Explains every candidate it leaves alone.
 */
kn_status kn_pass_pool_first(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Residual fusion: a Conv whose output is read only by an Add whose other
 * operand has exactly the Conv output's shape and dtype takes that operand
 * as an extra input (slot 3; an absent bias stays -1 in slot 2) with
 * node->fused.residual = 3; the Add is removed, and an activation reading
 * only the Add's output is fused too (residual first, then activation).
 * Explains fused and unfused candidates like kn_pass_fuse_activation. Best
 * run before kn_pass_fuse_activation (a Conv that already has an activation
 * cannot take a residual, which would be added after it).
 */
kn_status kn_pass_fuse_residual(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Swish formation: Mul(x, Sigmoid(x)) (either input order), where the
 * Sigmoid's float32 output is read by that Mul only and is not a graph
 * output, becomes one Swish node (x * sigmoid(x), SiLU: EfficientNet,
 * MobileNetV3-style blocks) reading x; the Sigmoid dies. Swish is an
 * activation, so kn_pass_fuse_activation can then fuse it into the Conv
 * that produces x. Explains every candidate it leaves alone.
 */
kn_status kn_pass_fuse_swish(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * GELU formation (passes/fuse_patterns.c): x * 0.5 * (1 + Erf(x / sqrt 2))
 * as PyTorch and TensorFlow spell it (Div by sqrt 2 or Mul by 1/sqrt 2; the
 * 0.5 applied last or to x first; constants within 1e-4) becomes one Gelu
 * node, an activation that kn_pass_fuse_activation can then fuse into the
 * MatMul/Gemm before it (oneDNN: eltwise gelu_erf).
 */
kn_status kn_pass_fuse_gelu(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/** Mish formation: Mul(x, Tanh(Softplus(x))) becomes one Mish node (oneDNN: eltwise mish). */
kn_status kn_pass_fuse_mish(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Layer normalisation formation: d = Sub(x, ReduceMean(x)), Div(d,
 * Sqrt(Add(ReduceMean(Pow(d, 2) or Mul(d, d)), eps))) over the same
 * trailing axes (keepdims), then, when they follow, Mul by a constant gamma
 * and Add a constant beta of the normalised dimensions, becomes one
 * LayerNormalization (a ones gamma when there is none).
 */
kn_status kn_pass_fuse_layer_norm(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Remove Identity nodes and inference Dropouts (no mask read, training_mode
 * absent or constant false): readers are rewired to the input. When the
 * removed node wrote a graph output, its producer writes that output
 * instead, so graph outputs keep their names; the node stays when that is
 * impossible (the input is a graph input, a constant or another output).
 */
kn_status kn_pass_remove_identity(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Common subexpression elimination: a node with the same op, inputs,
 * attributes and fused post-ops as an earlier node is replaced by it.
 * Identical small constants (same dtype, shape and bytes) are merged first.
 */
kn_status kn_pass_cse(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Cancel Transpose/Transpose pairs whose permutations compose to the
 * identity (others are merged into one Transpose), and Reshape/Reshape pairs
 * (the second reshapes the first one's input directly; a pair that restores
 * the input's shape disappears).
 */
kn_status kn_pass_cancel_pairs(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * MatMul of two matrices whose single reader is an Add of a tensor
 * broadcastable to the product ([N], [1,N], [M,N], ...) becomes one Gemm.
 */
kn_status kn_pass_matmul_add_to_gemm(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Fold an inference BatchNormalization (constant scale, bias, mean and
 * variance) into the preceding Conv, ConvTranspose or Gemm when that
 * producer has a single reader, constant weights and no fused post-op: the
 * weights are scaled per output channel and the bias adjusted, in new
 * constants (shared weights are left untouched).
 */
kn_status kn_pass_fold_bn(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/*
 * Training passes (autodiff.c), run by the training pipeline with ctx->train set (no-ops without it).
 */

/**
 * Training mode: BatchNormalization becomes BatchNormTrain (batch
 * statistics; the running mean and variance, made STATE, updated in place
 * with the node's momentum) and Dropout becomes DropoutTrain (a mask drawn
 * each step from the seed mixed with the node's name and the step input).
 */
kn_status kn_pass_training_mode(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Reverse-mode automatic differentiation: from the loss (ctx->train->loss)
 * back to every trained weight (PARAM of a model in update_models) the loss
 * depends on, calling each node's gradient rule (ir/grad.h) in reverse
 * topological order and summing the gradients of values read more than
 * once. Frozen models' weights get no gradient (and no node computes one);
 * inputs and constants neither. Every node on a path from a trained weight
 * to the loss whose op has no rule is named, all at once, in a
 * KN_ERR_UNSUPPORTED error. Leaves the weights and their gradients in
 * ctx->train for the optimizer pass.
 */
kn_status kn_pass_autodiff(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Optimizer insertion: one update node per trained weight (SgdUpdate,
 * MomentumUpdate with a zeroed velocity, AdamUpdate with zeroed moments and
 * the step), at the end of the graph, after every reader of the weight. The
 * moments are STATE values of the weight's model ("<w>/m", "<w>/v",
 * "<w>/velocity").
 */
kn_status kn_pass_optimizer(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);

/**
 * Check that `name` names a pass of the inference pipeline; otherwise
 * KN_ERR_INVALID_ARG with a message listing the valid names.
 */
kn_status kn_pipeline_check_pass_name(const char *name, kn_error *err);

/** The training pipeline (forward graph with its loss -> forward, backward and updates), in order. */
const kn_pass *kn_pipeline_training(int *count);

/**
 * Run `count` passes of `pipeline` on g (kn_passes_run's rules: fixed-point
 * groups, verification, dumps; a dump_after name must be one of these).
 */
kn_status kn_passes_run_pipeline(kn_graph *g, const kn_pass *pipeline, int count, const kn_pass_ctx *ctx,
                                 kn_error *err);

/** Number of live (not dead) nodes of `g`. */
int kn_graph_live_nodes(const kn_graph *g);

/** Bind every KN_DIM_BATCH dimension of the graph inputs to `batch`. */
kn_status kn_graph_bind_batch(kn_graph *g, int64_t batch, kn_error *err);

/** The inference pipeline, in order; *count receives its length. */
const kn_pass *kn_pipeline_inference(int *count);

/**
 * Run the inference pipeline on `g` (whose batch must be bound). With
 * ctx->verify_each the graph is verified after every pass (an error names the
 * pass); with ctx->explain each pass reports its changes and the pipeline
 * ends with a "passes: N nodes before, M after" line.
 */
kn_status kn_passes_run(kn_graph *g, const kn_pass_ctx *ctx, kn_error *err);

#endif /* KN_PASSES_H */
