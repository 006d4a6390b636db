/*
 * memplan.h - the memory planner: one arena for every tensor a run writes.
 *
 * The planner proper (kn_plan_memory) is a pure function over buffer
 * requests: a size, the first and last step that use the buffer, and
 * optionally one request whose buffer this one may take over in place. It
 * returns a 64-byte aligned offset per request such that no two requests
 * whose lifetimes overlap share a byte (except an in-place pair, which shares
 * its bytes by design), the arena's peak, and a lower bound on any peak (the
 * most bytes live at any one step).
 *
 * Placement is "greedy by size" with best fit (Pisarchyk & Lee, "Efficient
 * Memory Management for Deep Neural Net Inference", 2020, the planner of
 * TFLite and XNNPACK): blocks are taken largest first and each goes into the
 * smallest gap left between already placed blocks that are live at the same
 * time, or on top of them. Two more orders of the same placement (by the
 * widest step a block is live at, then by size; and by lifetime length) are
 * tried as well, and the smallest peak wins; ties go to the earlier order,
 * so the result is deterministic.
 *
 * kn_plan_graph_memory turns a compiled graph (batch bound, shapes inferred,
 * nodes in topological order) into requests and plans them: graph inputs,
 * graph outputs and intermediates get arena slots, weights and constants do
 * not (their data stays in the graph).
 */
#ifndef KN_MEMPLAN_H
#define KN_MEMPLAN_H

#include <stddef.h>

#include "ir.h"

/** Alignment of every offset (and rounding unit of every size), in bytes. */
#define KN_MEM_ALIGN 64
/** Offset of a value that has no arena slot (a weight or constant). */
#define KN_MEM_NONE ((size_t)-1)

/**
 * One buffer request. Steps are small non-negative integers (node positions
 * in run order); a buffer is live on the closed interval [first_use,
 * last_use]. `may_reuse` names a request whose buffer this one may take over
 * in place, which the planner honours only when it is legal: that request
 * dies at this one's first step (its last_use == first_use), starts no later
 * (it comes before this one in (first_use, index) order), is at least as
 * large (after rounding to KN_MEM_ALIGN), and no other request has taken it
 * over already. -1 means none.
 */
typedef struct kn_mem_request {
    size_t size;
    int first_use;
    int last_use;
    int may_reuse;
} kn_mem_request;

/** Totals of a plan, in bytes. */
typedef struct kn_mem_summary {
    size_t peak;          /**< arena size: the largest offset + rounded size */
    size_t bound;         /**< most bytes live at one step (rounded sizes; an in-place pair counted once) */
    size_t naive;         /**< sum of all rounded sizes: one buffer each, no reuse */
    int num_inplace;      /**< requests that took over their input's buffer */
    const char *strategy; /**< name of the placement order that won (static string) */
} kn_mem_summary;

/** Round `size` up to KN_MEM_ALIGN; false on overflow. */
bool kn_mem_align(size_t size, size_t *out);

/**
 * Plan `count` requests. offsets[count] receives each request's offset;
 * inplace[count] (may be NULL) the request it took over in place, or -1;
 * *summary the totals. Errors: KN_ERR_INVALID_ARG for a bad request (negative
 * or reversed steps, may_reuse out of range), KN_ERR_OVERFLOW when sizes do
 * not fit in size_t, KN_ERR_NOMEM. count 0 is a valid, empty plan.
 */
kn_status kn_plan_memory(const kn_mem_request *reqs, int count, size_t *offsets, int *inplace,
                         kn_mem_summary *summary, kn_error *err);

/**
 * Check a plan independently of how it was made: offsets aligned, every
 * request inside `peak`, no two requests live at a common step sharing a
 * byte unless they belong to one in-place chain (linked through inplace[]),
 * and every in-place link legal. KN_ERR_GRAPH naming the two requests
 * otherwise. O(count^2).
 */
kn_status kn_mem_plan_check(const kn_mem_request *reqs, int count, const size_t *offsets, const int *inplace,
                            size_t peak, kn_error *err);

/** A memory plan of a compiled graph. */
typedef struct kn_graph_mem_plan {
    int num_values;
    size_t *value_offset;       /**< [num_values]: arena offset, or KN_MEM_NONE */
    int num_buffers;
    kn_mem_request *requests;   /**< [num_buffers] */
    int *buffer_value;          /**< [num_buffers]: the value id of each buffer, or -1 for scratch */
    int *buffer_node;           /**< [num_buffers]: the node whose scratch the buffer is, or -1 */
    size_t *buffer_offset;      /**< [num_buffers] */
    int *buffer_inplace;        /**< [num_buffers]: buffer taken over in place, or -1 */
    int num_steps;              /**< live nodes, in run order */
    int *step_node;             /**< [num_steps]: node id run at each step */
    int num_nodes;
    size_t *scratch_offset;     /**< [num_nodes]: arena offset of the node's scratch, or KN_MEM_NONE */
    size_t *scratch_bytes;      /**< [num_nodes]: bytes of the node's scratch (0: none) */
    kn_mem_summary summary;
} kn_graph_mem_plan;

/**
 * Whether output `out_slot` of `node` may be written over input `in_slot`'s
 * buffer, ignoring lifetimes: element-wise unary ops (Relu ... Erf; Clip when
 * its min and max are constants or absent), binary ops whose output has that
 * input's shape and dtype, and the view-like ops (Reshape, Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout output 0). Nodes with a fused residual never.
 */
bool kn_mem_inplace_candidate(const kn_graph *g, const kn_node *node, int out_slot, int in_slot);

/**
 * Build the requests of compiled graph `g` and plan them. Steps are the live
 * nodes in order; graph inputs are live from step 0, graph outputs until the
 * last step; a value nothing reads lives only at its producer's step. An
 * output of an in-place candidate node may take over the buffer of an input
 * that the node is the last reader of (never a graph output's). Values with
 * data get no slot. Every value without data must have a concrete shape.
 */
kn_status kn_plan_graph_memory(const kn_graph *g, kn_graph_mem_plan *plan, kn_error *err);

/**
 * The same, with kernel scratch: node i (live) needs node_scratch[i] bytes
 * of working memory during its own step (NULL: none anywhere). Each nonzero
 * one is a buffer live at that step only, after the node's outputs.
 */
kn_status kn_plan_graph_memory_scratch(const kn_graph *g, const size_t *node_scratch, kn_graph_mem_plan *plan,
                                       kn_error *err);

/** Free the arrays of a plan (safe on a zeroed or partly filled plan). */
void kn_graph_mem_plan_free(kn_graph_mem_plan *plan);

#endif /* KN_MEMPLAN_H */
