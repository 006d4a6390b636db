/*
 * dot.c - Graphviz DOT form of a graph: op nodes as boxes; graph inputs
 * (green ellipses), weights and constants (grey notes) and graph outputs
 * (orange double octagons) as their own nodes; edges carry the shape of the
 * value they stand for.
 *
 * DOT ids are generated ("n3" for node 3, "v7" for value 7, "out0" for
 * graph output 0); every name appears only inside escaped quoted labels.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ir.h"

/* Write `s` escaped for a DOT double-quoted string (backslash, quote, newlines, controls). */
static void kn_dot_escape(FILE *f, const char *s)
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fputc(' ', f);
        else
            fputc(c, f);
    }
}

/* "[N,3,224,224]", prefixed by the dtype unless it is float32; "" when unknown. */
static void kn_dot_type(FILE *f, const kn_value *v)
{
    char buf[160];
    if (!v->shape_known)
        return;
    if (v->dtype != KN_F32 && v->dtype != KN_DTYPE_UNDEFINED)
        fputs(kn_dtype_name(v->dtype), f);
    fputs(kn_shape_str(&v->shape, buf, sizeof buf), f);
}

static bool kn_dot_live_producer(const kn_graph *g, const kn_value *v)
{
    return v->kind == KN_VALUE_INTERMEDIATE && v->producer >= 0 && v->producer < g->num_nodes &&
           !g->nodes[v->producer].dead;
}

/* The DOT id of the node an edge carrying value `id` starts from. */
static void kn_dot_source(FILE *f, const kn_graph *g, int id)
{
    const kn_value *v = &g->values[id];
    if (kn_dot_live_producer(g, v))
        fprintf(f, "n%d", v->producer);
    else
        fprintf(f, "v%d", id);
}

static void kn_dot_edge(FILE *f, const kn_graph *g, int id, const char *to_prefix, int to)
{
    const kn_value *v = &g->values[id];
    fputs("  ", f);
    kn_dot_source(f, g, id);
    fprintf(f, " -> %s%d", to_prefix, to);
    if (v->shape_known) {
        fputs(" [label=\"", f);
        kn_dot_type(f, v);
        fputs("\"]", f);
    }
    fputs(";\n", f);
}

/* A value node: graph input, weight/constant, or a read value nobody produces. */
static void kn_dot_value_node(FILE *f, const kn_graph *g, int id)
{
    const kn_value *v = &g->values[id];
    const char *style;
    switch (v->kind) {
    case KN_VALUE_INPUT:
        style = "shape=ellipse, style=filled, fillcolor=\"#cdeccb\"";
        break;
    case KN_VALUE_PARAM:
    case KN_VALUE_STATE:
        style = "shape=note, style=filled, fillcolor=\"#e8e8e8\", fontsize=8";
        break;
    case KN_VALUE_CONST:
        style = "shape=note, style=filled, fillcolor=\"#f4f4f4\", fontsize=8";
        break;
    default:
        style = "shape=ellipse, style=dashed";
        break;
    }
    fprintf(f, "  v%d [label=\"", id);
    kn_dot_escape(f, v->name);
    if (v->shape_known) {
        fputs("\\n", f);
        kn_dot_type(f, v);
    }
    fprintf(f, "\", %s];\n", style);
}

void kn_graph_dump_dot(const kn_graph *g, void *file)
{
    FILE *f = file;
    if (!f || !g)
        return;
    fputs("digraph \"", f);
    kn_dot_escape(f, g->name ? g->name : "graph");
    fputs("\" {\n", f);
    fputs("  rankdir=TB;\n", f);
    fputs("  node [fontname=\"Helvetica\", fontsize=10];\n", f);
    fputs("  edge [fontname=\"Helvetica\", fontsize=8];\n", f);

    /* value nodes: graph inputs first, then every other value read without a live producer */
    for (int i = 0; i < g->num_inputs; i++)
        if (g->inputs[i] >= 0 && g->inputs[i] < g->num_values)
            kn_dot_value_node(f, g, g->inputs[i]);
    bool *read = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    if (read) {
        for (int i = 0; i < g->num_nodes; i++) {
            const kn_node *n = &g->nodes[i];
            for (int k = 0; !n->dead && k < n->num_inputs; k++)
                if (n->inputs[k] >= 0 && n->inputs[k] < g->num_values)
                    read[n->inputs[k]] = true;
        }
    }
    for (int id = 0; id < g->num_values; id++) {
        const kn_value *v = &g->values[id];
        if (v->kind == KN_VALUE_INPUT || kn_dot_live_producer(g, v))
            continue;
        /* without memory for the read marks, draw every such value */
        if (!read || read[id] || v->is_output)
            kn_dot_value_node(f, g, id);
    }
    free(read);

    /* op nodes */
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool fused = n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0;
        fprintf(f, "  n%d [label=\"", i);
        kn_dot_escape(f, n->op < KN_OP_COUNT ? kn_op_get(n->op)->name : "?");
        if (fused) {
            fputs(" [", f);
            if (n->fused.residual >= 0)
                fputs("+residual", f);
            if (n->fused.activation != KN_OP_COUNT && n->fused.activation < KN_OP_COUNT)
                fprintf(f, "%s%s", n->fused.residual >= 0 ? ", " : "", kn_op_get(n->fused.activation)->name);
            fputs("]", f);
        }
        fputs("\\n", f);
        kn_dot_escape(f, n->name);
        fprintf(f, "\", shape=box, style=\"rounded,filled\", fillcolor=\"%s\"];\n",
                fused ? "#c9daf8" : "#e3ecfa");
    }

    /* graph outputs */
    for (int i = 0; i < g->num_outputs; i++) {
        int id = g->outputs[i];
        if (id < 0 || id >= g->num_values)
            continue;
        fprintf(f, "  out%d [label=\"", i);
        kn_dot_escape(f, g->values[id].name);
        fputs("\", shape=doubleoctagon, style=filled, fillcolor=\"#f9d7b5\"];\n", f);
    }

    /* edges */
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0 && n->inputs[k] < g->num_values)
                kn_dot_edge(f, g, n->inputs[k], "n", i);
    }
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->num_values)
            kn_dot_edge(f, g, g->outputs[i], "out", i);
    fputs("}\n", f);
}
