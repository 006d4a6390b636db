/* memory.c - memory plans through the public API (kn_model_memory_plan, kn_session_memory_plan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "kiln.h"
#include "memplan.h"
#include "runtime_internal.h"

void kn_memory_plan_free(kn_memory_plan *plan)
{
    if (!plan)
        return;
    if (plan->buffers)
        for (int i = 0; i < plan->num_buffers; i++)
            free((char *)plan->buffers[i].name);
    if (plan->step_names)
        for (int i = 0; i < plan->num_steps; i++)
            free(plan->step_names[i]);
    free(plan->buffers);
    free(plan->step_names);
    memset(plan, 0, sizeof *plan);
}

/* Copy graph plan `gp` of graph `g` into the public form. */
static kn_status kn_memory_plan_export(const kn_graph *g, const kn_graph_mem_plan *gp, int64_t batch,
                                       kn_memory_plan *plan, kn_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->batch = batch;
    plan->arena_bytes = gp->summary.peak;
    plan->bound_bytes = gp->summary.bound;
    plan->naive_bytes = gp->summary.naive;
    plan->strategy = gp->summary.strategy;
    plan->buffers = kn_xcalloc((size_t)(gp->num_buffers > 0 ? gp->num_buffers : 1), sizeof *plan->buffers);
    plan->step_names = kn_xcalloc((size_t)(gp->num_steps > 0 ? gp->num_steps : 1), sizeof *plan->step_names);
    if (!plan->buffers || !plan->step_names)
        goto nomem;
    for (int i = 0; i < gp->num_buffers; i++) {
        kn_memory_buffer *b = &plan->buffers[i];
        const kn_mem_request *r = &gp->requests[i];
        if (gp->buffer_value[i] >= 0) {
            b->name = kn_strdup(g->values[gp->buffer_value[i]].name);
        } else { /* a kernel's scratch */
            const char *node = g->nodes[gp->buffer_node[i]].name;
            size_t len = strlen(node) + sizeof " scratch";
            if ((b->name = malloc(len)))
                snprintf((char *)b->name, len, "%s scratch", node);
        }
        plan->num_buffers = i + 1;
        if (!b->name)
            goto nomem;
        b->offset = gp->buffer_offset[i];
        b->size = r->size;
        b->first = r->first_use;
        b->last = r->last_use;
        b->reuses = gp->buffer_inplace[i];
    }
    for (int s = 0; s < gp->num_steps; s++) {
        const kn_node *n = &g->nodes[gp->step_node[s]];
        const char *op = kn_op_get(n->op)->name;
        size_t len = strlen(n->name) + strlen(op) + 4;
        plan->step_names[s] = malloc(len);
        plan->num_steps = s + 1;
        if (!plan->step_names[s])
            goto nomem;
        snprintf(plan->step_names[s], len, "%s (%s)", n->name, op);
    }
    plan->num_steps = gp->num_steps;
    return KN_OK;
nomem:
    kn_memory_plan_free(plan);
    return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
}

kn_status kn_plan_backend_memory(const kn_graph *g, const kn_backend *backend, int threads,
                                 kn_graph_mem_plan *plan, kn_error *err)
{
    if (!backend->scratch_bytes)
        return kn_plan_graph_memory_scratch(g, NULL, plan, err);
    size_t *scratch = kn_xcalloc((size_t)(g->num_nodes > 0 ? g->num_nodes : 1), sizeof(size_t));
    if (!scratch)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        scratch[i] = backend->scratch_bytes(g, n, threads);
        if (scratch[i] == SIZE_MAX) {
            free(scratch);
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the kernel's scratch size overflows",
                                n->name, kn_op_get(n->op)->name);
        }
    }
    kn_status st = kn_plan_graph_memory_scratch(g, scratch, plan, err);
    free(scratch);
    return st;
}

kn_status kn_model_memory_plan(const kn_model_t *model, int64_t batch, kn_memory_plan *plan, kn_error *err)
{
    if (!model || !plan)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_memory_plan: model and plan are required");
    memset(plan, 0, sizeof *plan);
    if (batch < 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "batch size must be positive, not %lld", (long long)batch);
    if (batch == 0)
        batch = 1;
    kn_graph g;
    kn_status st = kn_prepare_graph_frozen(model, batch, NULL, &g, err);
    if (st != KN_OK)
        return st;
    /* as kn_session_create plans it with default options: the reference backend on every core */
    kn_graph_mem_plan gp;
    if ((st = kn_plan_backend_memory(&g, kn_backend_find("ref"), kn_default_threads(), &gp, err)) == KN_OK) {
        st = kn_memory_plan_export(&g, &gp, batch, plan, err);
        kn_graph_mem_plan_free(&gp);
    }
    kn_graph_free(&g);
    return st;
}

kn_status kn_session_memory_plan(const kn_session_t *session, kn_memory_plan *plan, kn_error *err)
{
    if (!session || !plan)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_session_memory_plan: session and plan are required");
    return kn_memory_plan_export(kn_session_graph(session), kn_session_mem_plan(session),
                                 kn_session_batch(session), plan, err);
}
