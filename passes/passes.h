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

/** What a pass may consult and where it reports. */
typedef struct kn_pass_ctx {
    FILE *explain;            /**< when non-NULL, passes write one line per change here */
    bool verify_each;         /**< verify the graph after every pass */
    size_t fold_limit_bytes;  /**< largest output constant folding may create (0: 64 MiB) */
} kn_pass_ctx;

typedef struct kn_pass {
    const char *name;
    const char *summary;
    kn_status (*run)(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err);
} kn_pass;

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

/** Bind every KN_DIM_BATCH dimension of the graph inputs to `batch`. */
kn_status kn_graph_bind_batch(kn_graph *g, int64_t batch, kn_error *err);

/** The inference pipeline, in order; *count receives its length. */
const kn_pass *kn_pipeline_inference(int *count);

/** Run the inference pipeline on `g` (whose batch must be bound). */
kn_status kn_passes_run(kn_graph *g, const kn_pass_ctx *ctx, kn_error *err);

#endif /* KN_PASSES_H */
