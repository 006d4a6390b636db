/* verify.c - structural and (optionally) shape verification of graphs. */
#include <stdlib.h>

#include "ir.h"

static kn_status kn_verify_arity(const kn_node *n, kn_error *err)
{
    const kn_op_info *info = kn_op_get(n->op);
    int max_in = info->max_inputs < 0 ? KN_MAX_INPUTS : info->max_inputs;
    int max_out = info->max_outputs < 0 ? KN_MAX_OUTPUTS : info->max_outputs;
    if (n->num_inputs < info->min_inputs || n->num_inputs > max_in)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) has %d inputs; the op takes %d to %d",
                            n->name, info->name, n->num_inputs, info->min_inputs, max_in);
    if (n->num_outputs < info->min_outputs || n->num_outputs > max_out)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) has %d outputs; the op gives %d to %d",
                            n->name, info->name, n->num_outputs, info->min_outputs, max_out);
    for (int k = 0; k < info->min_inputs && k < n->num_inputs; k++)
        if (n->inputs[k] < 0)
            return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): required input %d is missing", n->name,
                                info->name, k);
    return KN_OK;
}

kn_status kn_graph_verify(const kn_graph *g, bool check_shapes, kn_error *err)
{
    kn_status st = KN_OK;
    bool *defined = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    if (!defined)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory verifying the graph");
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        if (val->kind != KN_VALUE_INTERMEDIATE) {
            if (val->producer >= 0) {
                st = kn_error_set(err, KN_ERR_GRAPH, "value '%s' is an input or weight but node '%s' produces it",
                                  val->name, g->nodes[val->producer].name);
                goto done;
            }
            if (kn_value_kind_stored(val->kind) && !val->data) {
                st = kn_error_set(err, KN_ERR_GRAPH, "weight '%s' has no data", val->name);
                goto done;
            }
            defined[v] = true;
        }
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->op >= KN_OP_COUNT) {
            st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' has an invalid op", n->name);
            goto done;
        }
        if ((st = kn_verify_arity(n, err)) != KN_OK)
            goto done;
        for (int k = 0; k < n->num_inputs; k++) {
            int id = n->inputs[k];
            if (id < -1 || id >= g->num_values) {
                st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): input %d is not a value", n->name,
                                  kn_op_get(n->op)->name, k);
                goto done;
            }
            if (id >= 0 && !defined[id]) {
                const kn_value *val = &g->values[id];
                if (val->producer < 0)
                    st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) reads '%s', which nothing defines",
                                      n->name, kn_op_get(n->op)->name, val->name);
                else
                    st = kn_error_set(err, KN_ERR_GRAPH,
                                      "node '%s' (%s) reads '%s' before node '%s' produces it (cycle or bad order)",
                                      n->name, kn_op_get(n->op)->name, val->name,
                                      g->nodes[val->producer].name);
                goto done;
            }
            if (id >= 0 && check_shapes && g->values[id].dtype == KN_DTYPE_UNDEFINED) {
                st = kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): input '%s' has no dtype", n->name,
                                  kn_op_get(n->op)->name, g->values[id].name);
                goto done;
            }
        }
        for (int k = 0; k < n->num_outputs; k++) {
            int id = n->outputs[k];
            if (id < 0 || id >= g->num_values || g->values[id].producer != i) {
                st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): output %d is not recorded as produced by it",
                                  n->name, kn_op_get(n->op)->name, k);
                goto done;
            }
            if (defined[id]) {
                st = kn_error_set(err, KN_ERR_GRAPH, "value '%s' is defined twice", g->values[id].name);
                goto done;
            }
            defined[id] = true;
            if (check_shapes && (!g->values[id].shape_known || g->values[id].dtype == KN_DTYPE_UNDEFINED)) {
                st = kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): output '%s' has no inferred shape",
                                  n->name, kn_op_get(n->op)->name, g->values[id].name);
                goto done;
            }
        }
    }
    /* a value written in place (weights by their update, running statistics) is read by nothing after the write */
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *e = &g->nodes[i];
        if (e->dead || !(kn_op_get(e->op)->flags & KN_OPF_EFFECT))
            continue;
        for (int k = 0; k < e->num_inputs; k++) {
            const int w = e->inputs[k];
            if (w < 0 || !kn_op_writes_input(e->op, k))
                continue;
            for (int j = i + 1; j < g->num_nodes; j++) {
                const kn_node *r = &g->nodes[j];
                for (int q = 0; !r->dead && q < r->num_inputs; q++)
                    if (r->inputs[q] == w) {
                        st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) reads '%s' after node '%s' (%s) wrote it",
                                          r->name, kn_op_get(r->op)->name, g->values[w].name, e->name,
                                          kn_op_get(e->op)->name);
                        goto done;
                    }
            }
        }
    }
    for (int i = 0; i < g->num_outputs; i++) {
        int id = g->outputs[i];
        if (id < 0 || id >= g->num_values || !defined[id]) {
            st = kn_error_set(err, KN_ERR_GRAPH, "graph output '%s' is never produced",
                              id >= 0 && id < g->num_values ? g->values[id].name : "?");
            goto done;
        }
    }
done:
    free(defined);
    return st;
}
