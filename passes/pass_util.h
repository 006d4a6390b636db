/* pass_util.h - small graph-editing helpers shared by the passes (simplify.c). */
#ifndef KN_PASS_UTIL_H
#define KN_PASS_UTIL_H

#include "ir.h"
#include "passes.h"

/** Whether value `v` is one of the graph's outputs (constant time). */
bool kn_value_is_graph_output(const kn_graph *g, int v);
/**
 * A pass's record of who reads what, so that a sweep over the nodes that
 * removes or rewires some of them takes time linear in the graph (issue 15:
 * scanning every node for each removed one took minutes on a 100,000-node
 * chain). Replaced values are recorded (a union-find over value ids) and
 * substituted in a node's inputs when the sweep reaches it (kn_edit_visit)
 * and in every node's at the end (kn_edit_end); the number of live node
 * input slots reading each value is kept up to date by the helpers. A pass
 * that uses one changes inputs, kills nodes and adds values only through
 * them, visits each node before looking at its inputs, and expects nodes in
 * topological order (a reader after its producer).
 */
typedef struct kn_edit {
    kn_graph *g;
    int *repl;    /**< [cap] the value that replaces each one (itself: none) */
    int *readers; /**< [cap] live node input slots reading each value */
    int cap;      /**< values covered: g->num_values when the counts are current */
} kn_edit;

/** Start editing g: counts its readers. */
kn_status kn_edit_begin(kn_edit *e, kn_graph *g, kn_error *err);
/** Cover the values added to the graph since (call after kn_graph_add_value). */
kn_status kn_edit_grow(kn_edit *e, kn_error *err);
/** Substitute the replaced values in n's inputs. */
void kn_edit_visit(kn_edit *e, kn_node *n);
/** Live node input slots that read value v (graph outputs not counted). */
int kn_edit_readers(const kn_edit *e, int v);
/** Mark n dead, its reads uncounted; kn_edit_revive undoes it. */
void kn_edit_kill(kn_edit *e, kn_node *n);
void kn_edit_revive(kn_edit *e, kn_node *n);
/** n's input k reads v (-1: none) from now on. */
void kn_edit_set_input(kn_edit *e, kn_node *n, int k, int v);
/**
 * Make value `b` disappear in favour of value `a` (same dtype and shape):
 * readers of b read a. When b is a graph output, a's producer writes b
 * instead (and a's readers read b), so the output keeps its name; false,
 * changing nothing, when that is impossible (a is a graph input, a
 * constant or another graph output). The node that wrote b must already be
 * dead (kn_edit_kill).
 */
bool kn_edit_forward(kn_edit *e, int b, int a);
/** Substitute the replacements in every live node's inputs and free e. */
void kn_edit_end(kn_edit *e);

/**
 * Add a float32 constant of `shape` named `base` + `suffix` (made unique);
 * takes over `data` (malloc'd), freeing it on failure. *id receives its id.
 */
kn_status kn_pass_add_float_const(kn_graph *g, const char *base, const char *suffix, const kn_shape *shape,
                                  float *data, int *id, kn_error *err);

/** Live node input slots reading each value ([g->num_values], malloc'd), or NULL when out of memory. */
int *kn_pass_count_readers(const kn_graph *g);

/* One line (printf format) to the pass context's --explain stream, if it has one. */
void kn_pass_say(const kn_pass_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
