/*
 * train_split.c - one model's forward on the noise computed once per batch
 * (a GAN's G(noise)): which model and step can share it (kn_train_share_plan)
 * and the split of that step's training graph into the prefix that makes it
 * and the rest (kn_train_split). See train_internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Applications of model m in step s: all of them, and those at the head of a chain on the noise. */
static void kn_share_count(const kn_spec_step *s, int m, int *all, int *head)
{
    *all = *head = 0;
    for (int k = 0; k < s->num_terms; k++) {
        const kn_spec_loss_term *term = &s->terms[k];
        for (int c = 0; c < term->chain_len; c++) {
            if (term->chain[c] != m)
                continue;
            ++*all;
            *head += c == 0 && term->source == KN_SPEC_SRC_NOISE;
        }
    }
}

static bool kn_share_updates(const kn_spec_step *s, int m)
{
    for (int k = 0; k < s->num_update; k++)
        if (s->update[k] == m)
            return true;
    return false;
}

bool kn_train_share_plan(const kn_spec *spec, const kn_spec_training *tr, int *model, int *step, char *why,
                         size_t why_size)
{
    *model = *step = -1;
    snprintf(why, why_size, "no step reads a model's output on the noise that a later step computes again");
    if (!tr->has_noise) {
        snprintf(why, why_size, "the block has no noise");
        return false;
    }
    for (int S = 1; S < tr->num_steps; S++) {
        for (int m = 0; m < spec->num_models; m++) {
            int all, head;
            kn_share_count(&tr->steps[S], m, &all, &head);
            if (all != 1 || head != 1)
                continue; /* S must apply m once, to the noise */
            bool ok = true, read = false;
            for (int E = 0; E < S && ok; E++) {
                int a, h;
                kn_share_count(&tr->steps[E], m, &a, &h);
                if (a == 0)
                    continue;
                if (a != h || kn_share_updates(&tr->steps[E], m)) {
                    snprintf(why, why_size, "step '%s' %s model '%s'", tr->steps[E].name,
                             a != h ? "applies to something other than the noise" : "trains", spec->models[m].name);
                    ok = false;
                }
                read = true;
            }
            if (ok && read) {
                *model = m;
                *step = S;
                snprintf(why, why_size, "%s computed once per batch, by step '%s', read by the steps before it",
                         spec->models[m].name, tr->steps[S].name);
                return true;
            }
        }
    }
    return false;
}

static bool kn_split_is_update(kn_op op)
{
    return op == KN_OP_SGD_UPDATE || op == KN_OP_MOMENTUM_UPDATE || op == KN_OP_ADAM_UPDATE ||
           op == KN_OP_RMSPROP_UPDATE;
}

/* Make g's outputs exactly the `n` values of `ids` (is_output flags follow). */
static kn_status kn_split_set_outputs(kn_graph *g, const int *ids, int n, kn_error *err)
{
    for (int i = 0; i < g->num_outputs; i++)
        g->values[g->outputs[i]].is_output = false;
    g->num_outputs = 0;
    for (int i = 0; i < n; i++) {
        kn_status st = kn_graph_add_output(g, ids[i], err);
        if (st != KN_OK)
            return st;
    }
    return KN_OK;
}

kn_status kn_train_split(const kn_graph *g, int model, int share_output, kn_graph *pre, kn_graph *rest,
                         kn_error *err)
{
    kn_graph_init(pre);
    kn_graph_init(rest);
    if (share_output < 0 || share_output >= g->num_outputs)
        return kn_error_set(err, KN_ERR_GRAPH, "no shared output to split the step's graph at");
    const int nv = g->num_values, nn = g->num_nodes;
    /* per value: 1 readable by the prefix, 2 also derived from the noise or the model's variables */
    char *ok = kn_xcalloc((size_t)(nv ? nv : 1), 1);
    bool *in_pre = kn_xcalloc((size_t)(nn ? nn : 1), sizeof(bool));
    bool *cross = kn_xcalloc((size_t)(nv ? nv : 1), sizeof(bool));
    bool *reads = kn_xcalloc((size_t)(nv ? nv : 1), sizeof(bool));
    int *ids = kn_xcalloc((size_t)(nv + g->num_outputs + 1), sizeof(int));
    kn_status st = KN_OK;
    if (!ok || !in_pre || !cross || !reads || !ids) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        const kn_value *x = &g->values[v];
        if (x->kind == KN_VALUE_INPUT)
            ok[v] = strcmp(x->name, "images") == 0 || strcmp(x->name, "labels") == 0 ? 0
                    : strcmp(x->name, "noise") == 0                                  ? 2
                                                                                     : 1;
        else if (x->kind == KN_VALUE_CONST && x->producer < 0)
            ok[v] = 1;
        else if ((x->kind == KN_VALUE_PARAM || x->kind == KN_VALUE_STATE) && x->producer < 0)
            ok[v] = x->model == model ? 2 : 0;
    }
    /* the prefix: nodes (in the graph's topological order) reading only prefix values, one of them derived */
    for (int i = 0; i < nn; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead || kn_split_is_update(n->op))
            continue;
        bool all = true, derived = false;
        for (int k = 0; k < n->num_inputs; k++) {
            if (n->inputs[k] < 0)
                continue;
            all &= ok[n->inputs[k]] != 0;
            derived |= ok[n->inputs[k]] == 2;
        }
        if (!all || !derived)
            continue;
        in_pre[i] = true;
        for (int k = 0; k < n->num_outputs; k++)
            if (n->outputs[k] >= 0)
                ok[n->outputs[k]] = 2;
    }
    const int shared = g->outputs[share_output];
    if (g->values[shared].producer < 0 || !in_pre[g->values[shared].producer]) {
        st = kn_error_set(err, KN_ERR_GRAPH, "'%s' does not depend on the noise and the model's weights alone",
                          g->values[shared].name);
        goto done;
    }
    /* what crosses: prefix values the rest reads, and the graph's outputs the prefix makes */
    for (int i = 0; i < nn; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead || in_pre[i])
            continue;
        for (int k = 0; k < n->num_inputs; k++) {
            const int v = n->inputs[k];
            if (v >= 0 && g->values[v].producer >= 0 && in_pre[g->values[v].producer])
                cross[v] = reads[v] = true;
        }
    }
    for (int i = 0; i < g->num_outputs; i++) {
        const int v = g->outputs[i];
        if (g->values[v].producer >= 0 && in_pre[g->values[v].producer])
            cross[v] = true;
    }
    /* the prefix: the shared value first, then what crosses */
    if ((st = kn_graph_clone(g, pre, err)) != KN_OK)
        goto done;
    int n = 0;
    ids[n++] = shared;
    for (int v = 0; v < nv; v++)
        if (cross[v] && v != shared)
            ids[n++] = v;
    for (int i = 0; i < nn; i++)
        pre->nodes[i].dead = !in_pre[i];
    if ((st = kn_split_set_outputs(pre, ids, n, err)) != KN_OK)
        goto done;
    {
        /* the prefix's inputs: those its nodes read */
        int kept = 0;
        for (int i = 0; i < pre->num_inputs; i++) {
            const int v = pre->inputs[i];
            bool read = false;
            for (int j = 0; j < nn && !read; j++)
                for (int k = 0; in_pre[j] && k < pre->nodes[j].num_inputs; k++)
                    read |= pre->nodes[j].inputs[k] == v;
            if (read)
                pre->inputs[kept++] = v;
        }
        pre->num_inputs = kept;
    }
    if ((st = kn_graph_compact(pre, err)) != KN_OK || (st = kn_graph_verify(pre, true, err)) != KN_OK)
        goto done;
    /* the rest: what crosses becomes its inputs; g's outputs but the prefix's, in order */
    if ((st = kn_graph_clone(g, rest, err)) != KN_OK)
        goto done;
    for (int i = 0; i < nn; i++)
        rest->nodes[i].dead = rest->nodes[i].dead || in_pre[i];
    n = 0;
    for (int i = 0; i < g->num_outputs; i++) {
        const int p = g->values[g->outputs[i]].producer;
        if (p < 0 || !in_pre[p])
            ids[n++] = g->outputs[i];
    }
    if ((st = kn_split_set_outputs(rest, ids, n, err)) != KN_OK)
        goto done;
    for (int v = 0; v < nv && st == KN_OK; v++) {
        if (!reads[v])
            continue;
        rest->values[v].kind = KN_VALUE_INPUT;
        rest->values[v].producer = -1;
        st = kn_graph_add_input(rest, v, err);
    }
    if (st == KN_OK && (st = kn_graph_compact(rest, err)) == KN_OK)
        st = kn_graph_verify(rest, true, err);
done:
    free(ok);
    free(in_pre);
    free(cross);
    free(reads);
    free(ids);
    if (st != KN_OK) {
        kn_graph_free(pre);
        kn_graph_free(rest);
        kn_graph_init(pre);
        kn_graph_init(rest);
    }
    return st;
}
