/*
 * dnnl_profile.c - the oneDNN backend's per-node profile (kiln bench
 * --profile) and node placement (--explain: which nodes fall back to the
 * reference kernels, and why).
 *
 * Profile: the ops run in the order kn_dnnl_run runs them, but the stream is
 * waited for after every primitive, so each op's wall-clock time
 * (CLOCK_MONOTONIC) is its own. That wait is the only difference from a
 * normal run (which waits only before a reference kernel and at the end):
 * the outputs are the same, the sum of the node times is a little above a
 * normal run's latency. A reorder op counts toward the node it was inserted
 * for (kn_dnnl_op.node: the consumer, or a graph output's producer); the
 * profile API has one entry per node, so reorder time is not shown apart.
 *
 * Placement: compile records why each node it leaves to the reference
 * kernels does not run on oneDNN (kn_dnnl_note_fallback): the reason
 * kn_dnnl_node_runs gave, or the one kn_dnnl_try_node gave when the node's
 * configuration is not mapped or oneDNN has no implementation for it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dnnl_internal.h"

kn_status kn_dnnl_run_profiled(void *p, double *node_seconds, kn_error *err)
{
    kn_dnnl_exe *exe = p;
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    for (int i = 0; i < g->num_nodes; i++)
        node_seconds[i] = 0;
    kn_dnnl_set_threads(exe->threads);
    for (int k = 0; k < exe->num_ops; k++) {
        const kn_dnnl_op *op = &exe->ops[k];
        const kn_node *node = &g->nodes[op->node];
        const double t0 = kn_now_s();
        if (op->prim) {
            KN_DNNL_CHECK(node, dnnl_primitive_execute(op->prim, exe->stream, op->nargs, op->args));
            KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
        } else if ((st = kn_dnnl_run_ref_op(exe, op, err)) != KN_OK) {
            return st;
        }
        node_seconds[op->node] += kn_now_s() - t0;
    }
fail:
    return st;
}

/* Copy msg into why[len] without a leading "node 'NAME': " (the placement line names the node already). */
static void kn_dnnl_reason(const kn_node *n, const char *msg, char *why, size_t len)
{
    size_t name_len = strlen(n->name);
    if (strncmp(msg, "node '", 6) == 0 && strncmp(msg + 6, n->name, name_len) == 0 &&
        strncmp(msg + 6 + name_len, "': ", 3) == 0)
        msg += 6 + name_len + 3;
    snprintf(why, len, "%.*s", (int)(len ? len - 1 : 0), msg);
}

kn_status kn_dnnl_note_fallback(kn_dnnl_exe *exe, int i, const char *why, kn_error *err)
{
    const kn_graph *g = exe->graph;
    if (!exe->fallback_why) {
        exe->fallback_why = kn_xcalloc((size_t)(g->num_nodes > 0 ? g->num_nodes : 1), KN_DNNL_WHY_LEN);
        if (!exe->fallback_why)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    kn_dnnl_reason(&g->nodes[i], why ? why : "", exe->fallback_why + (size_t)i * KN_DNNL_WHY_LEN, KN_DNNL_WHY_LEN);
    return KN_OK;
}

bool kn_dnnl_placement(void *p, int node, char *why, size_t len)
{
    const kn_dnnl_exe *exe = p;
    const kn_graph *g = exe->graph;
    if (len)
        why[0] = '\0';
    if (node < 0 || node >= g->num_nodes) {
        snprintf(why, len, "no node %d in the graph", node);
        return false;
    }
    if (g->nodes[node].dead) {
        snprintf(why, len, "removed from the graph (not run)");
        return false;
    }
    if (exe->on_dnnl[node]) {
        if (kn_dnnl_folded_note(exe, node, why, len))
            return true;
        for (int k = 0; k < exe->num_ops; k++) { /* kiln's own kernel rather than a oneDNN primitive: say which */
            const kn_dnnl_op *op = &exe->ops[k];
            if (op->node != node || op->prim || (op->bn && !op->bn->native)) /* a batch norm's step beside its primitive */
                continue;
            const dnnl_memory_desc_t *md = NULL; /* the layout its input is read in */
            dnnl_memory_get_memory_desc(op->args[0].memory, &md);
            const char *layout = md ? kn_dnnl_layout_name(md) : "?";
            if (op->wino && op->wino->os > 1)
                snprintf(why, len, "Winograd F(4x4, 3x3) transposed convolution (%lld output phases) on %s",
                         (long long)(op->wino->os * op->wino->os), layout);
            else if (op->wino)
                snprintf(why, len, "Winograd F(4x4, 3x3) convolution on %s", layout);
            else if (op->bn)
                snprintf(why, len, "batch-norm loop (the reference kernel's double statistics) on %s", layout);
            else if (op->pool)
                snprintf(why, len, "%s loop on %s", op->pool->grad ? "max-pool gradient" : "pooling", layout);
            else if (op->concat && op->concat->in_place)
                snprintf(why, len, "concat as parallel copies in %s, appended in place to its prefix concat's", layout);
            else if (op->concat)
                snprintf(why, len, "concat as parallel copies in %s", layout);
        }
        return true;
    }
    const char *r = exe->fallback_why ? exe->fallback_why + (size_t)node * KN_DNNL_WHY_LEN : "";
    snprintf(why, len, "%s", r[0] ? r : "oneDNN has no implementation for this configuration");
    return false;
}
