/* pass_util.h - small graph-editing helpers shared by the passes (simplify.c). */
#ifndef KN_PASS_UTIL_H
#define KN_PASS_UTIL_H

#include "ir.h"

/** Whether value `v` is one of the graph's outputs. */
bool kn_value_is_graph_output(const kn_graph *g, int v);
/** Number of live nodes that read value `v` (graph outputs not counted). */
int kn_value_node_readers(const kn_graph *g, int v);
/** Make every live node that reads `from` read `to` instead. */
void kn_replace_uses(kn_graph *g, int from, int to);

/**
 * Make value `b` disappear in favour of value `a` (same dtype and shape):
 * readers of b read a. When b is a graph output, a's producer writes b
 * instead (and a's readers read b), so the output keeps its name; false,
 * changing nothing, when that is impossible (a is a graph input, a
 * constant or another graph output). The node that wrote b must already be
 * marked dead.
 */
bool kn_forward_value(kn_graph *g, int b, int a);


#endif
