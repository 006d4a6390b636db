/*
 * backend.h - the one small interface every backend implements.
 *
 * A backend compiles a graph whose shapes are all concrete (the batch is
 * bound and shape inference has run) into an opaque executable, and runs it.
 * Graph inputs are written, and outputs read, through value_data(), which
 * returns the dense C-order buffer of a value.
 */
#ifndef KN_BACKEND_H
#define KN_BACKEND_H

#include "ir.h"

/** Offset of a value that has no arena slot (a weight or constant: its data stays in the graph). */
#define KN_BUFFER_NONE ((size_t)-1)

/**
 * Where the tensors of a run live, planned before compile (passes/memplan.h):
 * one arena of `arena_bytes` holds every value without data (graph inputs,
 * outputs, intermediates), value v at byte offset offsets[v] (a multiple of
 * 64), or KN_BUFFER_NONE for values with data. Values live at a common step
 * never share a byte, except an in-place output, which starts where the
 * input it overwrites starts (element-wise ops, views). Kernels' working
 * memory (the backend's scratch_bytes per node) is planned too: node i's
 * scratch_bytes[i] bytes at scratch_offsets[i] (KN_BUFFER_NONE: none), live
 * during that node's step only. Without scratch arrays (NULL), a backend
 * adds one region every node shares after the tensors. The backend makes
 * this one allocation at compile time and none during a run.
 */
typedef struct kn_buffer_plan {
    size_t arena_bytes;
    const size_t *offsets;         /**< [g->num_values] */
    const size_t *scratch_offsets; /**< [g->num_nodes], or NULL */
    const size_t *scratch_bytes;   /**< [g->num_nodes], or NULL */
} kn_buffer_plan;

/** CLOCK_MONOTONIC in seconds (run deadlines). */
double kn_now_s(void);

/** Whether `deadline` (kn_now_s() seconds; 0: none) has passed. */
static inline bool kn_deadline_passed(double deadline)
{
    return deadline > 0 && kn_now_s() >= deadline;
}

/** KN_ERR_TIMEOUT for a run stopped before node `next` of graph g, after `done` of `total` steps (-1: g's live nodes). */
kn_status kn_deadline_error(kn_error *err, const kn_graph *g, const kn_node *next, int done, int total);

typedef struct kn_backend {
    const char *name;
    /** Whether the backend can run `node`; when not, a reason into why[len]. */
    bool (*supports)(const kn_graph *g, const kn_node *node, char *why, size_t len);
    /**
     * Compile `g` (which must outlive the executable) into *exe, with its
     * tensors where `plan` puts them (NULL: one slot per value, no reuse).
     */
    kn_status (*compile)(const kn_graph *g, const kn_buffer_plan *plan, int threads, void **exe, kn_error *err);
    /**
     * Run once: graph inputs must have been written via value_data. With a
     * deadline (kn_now_s() seconds; 0: none), check it before each node and
     * stop with kn_deadline_error once it has passed.
     */
    kn_status (*run)(void *exe, double deadline, kn_error *err);
    /** The buffer of value `id` (inputs, outputs, any intermediate the backend keeps). */
    void *(*value_data)(void *exe, int id);
    void (*free)(void *exe);
    /**
     * Optional: whether the backend can run `producer` with the fused
     * `activation` (KN_OP_COUNT: none) and, when `residual`, a fused residual
     * add before it (see kn_pass_ctx.can_fuse). NULL: every fusion accepted.
     */
    bool (*can_fuse)(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual);
    /**
     * Optional: bytes of working memory the kernel of `node` needs when the
     * graph is compiled for `threads` (the value compile gets); 0 for none,
     * SIZE_MAX when the size overflows. Planned into the arena (see
     * kn_buffer_plan). NULL: no node needs any.
     */
    size_t (*scratch_bytes)(const kn_graph *g, const kn_node *node, int threads);
    /**
     * Optional: run once, like `run`, timing every node: node_seconds[i]
     * (g->num_nodes entries) gets the wall-clock seconds node i took, its
     * fused post-ops included; 0 for a node the backend skips (dead, or run
     * as part of another node). Work the backend adds for a node (a layout
     * reorder of its inputs) counts toward that node. NULL: no per-node
     * profile.
     */
    kn_status (*run_profiled)(void *exe, double *node_seconds, kn_error *err);
    /**
     * Optional: whether live node `node` of the compiled graph runs natively
     * on this backend (true), or on the reference kernels it falls back to
     * (false, with the reason in why[len]: the one supports() gave, or the
     * one compile found, such as a configuration the backend's library has
     * no implementation for). For --explain (kn_options.explain). NULL: the
     * backend runs every node itself. A native node may carry a note in why
     * (empty otherwise): the backend runs it on kiln's own kernel, named there.
     */
    bool (*placement)(void *exe, int node, char *why, size_t len);
    /**
     * Optional: the instruction set the backend's kernels use on this CPU, as
     * its library names it ("AVX512_CORE" for oneDNN; OpenBLAS's core for
     * the reference backend's matrix products). NULL: not reported.
     */
    const char *(*isa)(void);
    /**
     * Optional: cap that instruction set at `level` (oneDNN: the levels of
     * DNNL_MAX_CPU_ISA), before the backend's first compile. NULL: the
     * backend has no such setting (KN_ERR_UNSUPPORTED).
     */
    kn_status (*set_isa)(const char *level, kn_error *err);
    /**
     * Optional: a line on a choice the backend made for the whole graph when
     * it compiled `exe` (oneDNN: the convolution layout and how it was
     * chosen), which --explain prints; NULL when there is none.
     */
    const char *(*note)(void *exe);
} kn_backend;

/** Find a backend by name ("ref"); NULL when unknown. */
const kn_backend *kn_backend_find(const char *name);
/** The i-th backend of this build (0: "ref"), or NULL past the last. */
const kn_backend *kn_backend_at(int i);
/** Comma-separated list of backend names, for help and messages. */
const char *kn_backend_names(void);

#endif /* KN_BACKEND_H */
