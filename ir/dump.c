/* dump.c - readable text form of a graph. */
#include <stdio.h>

#include "ir.h"

static const char *kn_kind_name(kn_value_kind k)
{
    switch (k) {
    case KN_VALUE_INPUT: return "input";
    case KN_VALUE_PARAM: return "param";
    case KN_VALUE_CONST: return "const";
    case KN_VALUE_STATE: return "state";
    case KN_VALUE_INTERMEDIATE: break;
    }
    return "value";
}

static void kn_dump_value(FILE *f, const kn_graph *g, int id)
{
    char buf[160];
    if (id < 0) {
        fputs("_", f);
        return;
    }
    const kn_value *v = &g->values[id];
    fprintf(f, "%%%s:%s%s", v->name, kn_dtype_name(v->dtype),
            v->shape_known ? kn_shape_str(&v->shape, buf, sizeof buf) : "[?]");
}

void kn_graph_dump(const kn_graph *g, void *stream)
{
    FILE *f = stream;
    char buf[160];
    fprintf(f, "graph %s {\n", g->name ? g->name : "graph");
    for (int i = 0; i < g->num_inputs; i++) {
        const kn_value *v = &g->values[g->inputs[i]];
        fprintf(f, "  input %%%s: %s%s\n", v->name, kn_dtype_name(v->dtype),
                kn_shape_str(&v->shape, buf, sizeof buf));
    }
    for (int i = 0; i < g->num_values; i++) {
        const kn_value *v = &g->values[i];
        if (kn_value_kind_stored(v->kind))
            fprintf(f, "  %s %%%s: %s%s\n", kn_kind_name(v->kind), v->name, kn_dtype_name(v->dtype),
                    kn_shape_str(&v->shape, buf, sizeof buf));
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fputs("  ", f);
        for (int k = 0; k < n->num_outputs; k++) {
            if (k)
                fputs(", ", f);
            kn_dump_value(f, g, n->outputs[k]);
        }
        fprintf(f, " = %s", kn_op_get(n->op)->name);
        if (n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0) {
            fputs("[", f);
            if (n->fused.residual >= 0)
                fprintf(f, "+residual(in%d)", n->fused.residual);
            if (n->fused.activation != KN_OP_COUNT)
                fprintf(f, "%s%s", n->fused.residual >= 0 ? "," : "", kn_op_get(n->fused.activation)->name);
            fputs("]", f);
        }
        fputs("(", f);
        for (int k = 0; k < n->num_inputs; k++) {
            if (k)
                fputs(", ", f);
            kn_dump_value(f, g, n->inputs[k]);
        }
        fprintf(f, ")  # %s\n", n->name);
    }
    for (int i = 0; i < g->num_outputs; i++)
        fprintf(f, "  output %%%s\n", g->values[g->outputs[i]].name);
    fputs("}\n", f);
}
