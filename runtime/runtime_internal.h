/* runtime_internal.h - definitions shared by the runtime's source files. */
#ifndef KN_RUNTIME_INTERNAL_H
#define KN_RUNTIME_INTERNAL_H

#include "ir.h"

/** A loaded model: its graph, with a possibly symbolic batch dimension. */
struct kn_model {
    kn_graph graph;
};

/**
 * Fill in the dtype and shape of every output of `g` that lacks them:
 * inferred at batch 1 and 2 on a view of g, a dimension that follows the
 * batch becomes KN_DIM_BATCH. Outputs whose shapes depend on values known
 * only at compile time (frozen inputs) stay unknown.
 */
void kn_graph_infer_output_shapes(kn_graph *g);

/**
 * Copy the model's graph, bind the batch and the frozen inputs of `opts`
 * (may be NULL), and run the inference pipeline and a full verification:
 * the graph a session compiles. Frees *g on failure.
 */
kn_status kn_prepare_graph_frozen(const kn_model_t *model, int64_t batch, const kn_options *opts, kn_graph *g,
                                  kn_error *err);

struct kn_backend;
struct kn_graph_mem_plan;

/** Threads a session uses when the options say 0: the online cores. */
int kn_default_threads(void);

/**
 * Plan the memory of compiled graph `g` for `backend` compiled with
 * `threads`: its tensors and, through backend->scratch_bytes, every kernel's
 * scratch. KN_ERR_OVERFLOW naming the node when a scratch size overflows.
 */
kn_status kn_plan_backend_memory(const kn_graph *g, const struct kn_backend *backend, int threads,
                                 struct kn_graph_mem_plan *plan, kn_error *err);

/**
 * A session of graph g (taken over: *g is emptied), already bound to
 * `batch` and through its pipeline: checked against the backend, planned,
 * compiled (kn_session_create's last part; training graphs come this way).
 * Only backend, threads and explain of `opts` are read.
 */
kn_status kn_session_from_graph(kn_graph *g, int64_t batch, const kn_options *opts, kn_session_t **session,
                                kn_error *err);

/** The graph and memory plan of a session (for kn_session_memory_plan). */
const kn_graph *kn_session_graph(const kn_session_t *session);
const struct kn_graph_mem_plan *kn_session_mem_plan(const kn_session_t *session);
int64_t kn_session_batch(const kn_session_t *session);

#endif
