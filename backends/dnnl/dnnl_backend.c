/* dnnl_backend.c - the oneDNN backend: compile (arenas, scratchpads), run, the vtable. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* ------------------------------------------------------------ executable */

void kn_dnnl_free_exe(void *p)
{
    kn_dnnl_exe *exe = p;
    if (!exe)
        return;
    for (int i = 0; i < exe->num_ops; i++) {
        if (exe->ops[i].prim)
            dnnl_primitive_destroy(exe->ops[i].prim);
        if (exe->ops[i].concat)
            free(exe->ops[i].concat->copies);
        free(exe->ops[i].concat);
        free(exe->ops[i].pool);
        if (exe->ops[i].bn && exe->ops[i].bn->owns)
            free(exe->ops[i].bn->buf);
        if (exe->ops[i].bn) {
            free(exe->ops[i].bn->acc);
            free(exe->ops[i].bn->kb);
            free(exe->ops[i].bn->off);
        }
        free(exe->ops[i].bn);
        kn_dnnl_wino_free(exe->ops[i].wino);
    }
    for (int i = 0; i < exe->num_mems; i++)
        dnnl_memory_destroy(exe->mems[i]);
    for (int i = 0; i < exe->num_wbufs; i++)
        free(exe->wbufs[i]);
    if (exe->stream)
        dnnl_stream_destroy(exe->stream);
    if (exe->engine)
        dnnl_engine_destroy(exe->engine);
    free(exe->mems);
    free(exe->ops);
    free(exe->reps);
    free(exe->wbufs);
    free(exe->arena);
    free(exe->blocked);
    free(exe->buffers);
    free(exe->plain_ok);
    free(exe->written);
    free(exe->rep_head);
    free(exe->on_dnnl);
    free(exe->folded);
    free(exe->fallback_why);
    free(exe->scratch);
    free(exe->scratch_size);
    free(exe->ref_scratch);
    free(exe);
}

void kn_dnnl_set_threads(int threads)
{
    kn_ref_blas_set_threads(threads); /* oneDNN and the reference kernels both run on OpenMP's threads */
}

/* Place every value: the plan's offsets (or one slot each without a plan) in one arena. */
static kn_status kn_dnnl_place(kn_dnnl_exe *exe, const kn_buffer_plan *plan, size_t *tensor_bytes, kn_error *err)
{
    const kn_graph *g = exe->graph;
    size_t *naive = NULL, total = 0;
    const size_t *offsets;
    if (plan) {
        if (!plan->offsets && g->num_values > 0)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "memory plan without offsets");
        offsets = plan->offsets;
        total = plan->arena_bytes;
    } else {
        naive = kn_xcalloc((size_t)(g->num_values ? g->num_values : 1), sizeof(size_t));
        if (!naive)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        for (int v = 0; v < g->num_values; v++) {
            const kn_value *val = &g->values[v];
            naive[v] = KN_BUFFER_NONE;
            size_t bytes;
            if (val->data)
                continue;
            if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &bytes) != KN_OK ||
                bytes > SIZE_MAX - 63) {
                free(naive);
                return kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete shape", val->name);
            }
            naive[v] = total;
            if (!kn_size_add(total, (bytes + 63) & ~(size_t)63, &total)) {
                free(naive);
                return kn_error_set(err, KN_ERR_OVERFLOW, "the tensors of the graph do not fit in memory");
            }
        }
        offsets = naive;
    }
    size_t bytes = total > 64 ? total : 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes < total || posix_memalign(&exe->arena, 64, bytes) != 0) {
        exe->arena = NULL;
        free(naive);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory allocating the %zu-byte tensor arena", total);
    }
    memset(exe->arena, exe->check_padding ? 0xff : 0, bytes); /* NaNs for the tests: see kn_dnnl_place_blocked */
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        if (val->data) {
            exe->buffers[v] = val->data;
            continue;
        }
        if (offsets[v] == KN_BUFFER_NONE)
            continue;
        size_t need;
        if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &need) != KN_OK || offsets[v] % 64 ||
            offsets[v] > total || need > total - offsets[v]) {
            free(naive);
            return kn_error_set(err, KN_ERR_INVALID_ARG, "memory plan puts '%s' outside the %zu-byte arena",
                                val->name, total);
        }
        exe->buffers[v] = (char *)exe->arena + offsets[v];
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
            int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
            if (v >= 0 && !exe->buffers[v]) {
                free(naive);
                return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): value '%s' has no buffer in the plan",
                                    n->name, kn_op_get(n->op)->name, g->values[v].name);
            }
        }
    }
    *tensor_bytes = total;
    free(naive);
    return KN_OK;
}

/* Reference scratch of the nodes that run on reference kernels: from the plan, or one private region. */
static kn_status kn_dnnl_ref_scratch(kn_dnnl_exe *exe, const kn_buffer_plan *plan, size_t tensor_bytes,
                                     kn_error *err)
{
    const kn_graph *g = exe->graph;
    const bool planned = plan && plan->scratch_offsets && plan->scratch_bytes;
    size_t shared = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead || exe->on_dnnl[i])
            continue;
        size_t need = kn_ref_scratch_bytes(g, n, exe->kthreads);
        if (need == SIZE_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): scratch size overflows", n->name,
                                kn_op_get(n->op)->name);
        exe->scratch_size[i] = need;
        if (need == 0)
            continue;
        if (planned && plan->scratch_offsets[i] != KN_BUFFER_NONE && plan->scratch_bytes[i] >= need &&
            plan->scratch_offsets[i] <= tensor_bytes && need <= tensor_bytes - plan->scratch_offsets[i])
            exe->scratch[i] = (char *)exe->arena + plan->scratch_offsets[i];
        else if (need > shared)
            shared = need;
    }
    if (shared == 0)
        return KN_OK;
    size_t bytes = kn_ref_scratch_align(shared);
    if (bytes == SIZE_MAX || posix_memalign(&exe->ref_scratch, KN_REF_SCRATCH_ALIGN, bytes) != 0) {
        exe->ref_scratch = NULL;
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for %zu bytes of kernel scratch", shared);
    }
    for (int i = 0; i < g->num_nodes; i++)
        if (!g->nodes[i].dead && !exe->on_dnnl[i] && exe->scratch_size[i] && !exe->scratch[i])
            exe->scratch[i] = exe->ref_scratch;
    return KN_OK;
}

/* Merge sort of ids[0..n) by span[id].size, largest first, keeping the order of equals; false when out of memory. */
static bool kn_dnnl_sort_by_size(int *ids, int n, const kn_interval *span)
{
    if (n < 2)
        return true;
    int *tmp = malloc(sizeof *tmp * (size_t)n);
    if (!tmp)
        return false;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = span[ids[j]].size > span[ids[i]].size ? ids[j++] : ids[i++];
            while (i < mid)
                tmp[k++] = ids[i++];
            while (j < hi)
                tmp[k++] = ids[j++];
        }
        memcpy(ids, tmp, sizeof *ids * (size_t)n);
    }
    free(tmp);
    return true;
}

/*
 * The second arena: every blocked copy (live from the op that writes it to
 * the last op that reads it) and every scratchpad (a primitive's or a Winograd op's, live
 * during its op only), planned together: greedy by size (largest first),
 * each at the lowest 64-byte-aligned offset free of every placed item whose
 * life (op indices [first, last]) overlaps its own, so a scratchpad reuses
 * the bytes of copies that are dead at its op. Then the memory objects get
 * their addresses and each primitive its scratchpad argument. The offsets
 * come from kn_interval_place (ir/place.c, first fit), which the memory
 * planner of passes/ uses too (best fit).
 */
static kn_status kn_dnnl_place_blocked(kn_dnnl_exe *exe, kn_error *err)
{
    const int nr = exe->num_reps, ni = nr + exe->num_ops;
    if (ni == 0)
        return KN_OK;
    kn_status st = KN_OK;
    int *order = calloc((size_t)ni, sizeof *order);
    kn_interval *span = calloc((size_t)ni, sizeof *span);
    size_t *offs = calloc((size_t)ni, sizeof *offs);
    bool *placed = calloc((size_t)ni, sizeof *placed);
    size_t peak = 0;
    int count = 0;
    if (!order || !span || !offs || !placed) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int it = 0; it < ni; it++) { /* items: reps 0..nr-1, then the scratchpad of op it - nr */
        size_t bytes = it < nr ? exe->reps[it].bytes : exe->ops[it - nr].scratch_bytes;
        if (it >= nr && (bytes == 0 || (!exe->ops[it - nr].prim && !exe->ops[it - nr].wino)))
            continue;
        if (bytes > SIZE_MAX - 63) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "a blocked tensor or scratchpad does not fit in memory");
            goto done;
        }
        span[it].size = bytes ? (bytes + 63) & ~(size_t)63 : 64;
        span[it].first = it < nr ? exe->reps[it].first_op : it - nr;
        span[it].last = it < nr ? exe->reps[it].last_op : it - nr;
        if (it >= nr || exe->reps[it].alias < 0)
            order[count++] = it;
    }
    for (int it = 0; it < nr; it++) { /* a concat chain: its root's item holds every member, for all their lives */
        int root = it;
        while (exe->reps[root].alias >= 0)
            root = exe->reps[root].alias;
        if (root == it)
            continue;
        kn_interval *r = &span[root];
        const kn_interval *m = &span[it];
        r->size = m->size > r->size ? m->size : r->size;
        r->first = m->first < r->first ? m->first : r->first;
        r->last = m->last > r->last ? m->last : r->last;
    }
    /* largest first, in item order among equals (a stable sort: order[] is ascending) */
    if (!kn_dnnl_sort_by_size(order, count, span)) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int a = 0; a < count; a++)
        placed[order[a]] = true;
    if ((st = kn_interval_place(span, ni, order, count, false, offs, &peak, err)) != KN_OK)
        goto done;
    if (posix_memalign(&exe->blocked, 64, peak ? peak : 64) != 0) {
        exe->blocked = NULL;
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory for the %zu-byte blocked-layout arena", peak);
        goto done;
    }
    /* nothing may rely on this arena starting zeroed (it reuses bytes between copies and between runs): with
     * KILN_DNNL_CHECK_PADDING (the tests) it starts as NaNs, so that a kernel reading bytes nobody wrote shows */
    if (exe->check_padding)
        memset(exe->blocked, 0xff, peak ? peak : 64);
    for (int it = 0; it < nr; it++) {
        int root = it;
        while (exe->reps[root].alias >= 0)
            root = exe->reps[root].alias;
        if (root != it) {
            const kn_node *n = &exe->graph->nodes[exe->ops[exe->reps[it].first_op].node];
            KN_DNNL_CHECK(n, dnnl_memory_set_data_handle(exe->reps[it].mem, (char *)exe->blocked + offs[root]));
        }
    }
    for (int it = 0; it < ni; it++) {
        if (!placed[it])
            continue;
        if (it < nr) {
            const kn_node *n = &exe->graph->nodes[exe->ops[exe->reps[it].first_op].node];
            KN_DNNL_CHECK(n, dnnl_memory_set_data_handle(exe->reps[it].mem, (char *)exe->blocked + offs[it]));
            continue;
        }
        kn_dnnl_op *op = &exe->ops[it - nr];
        const kn_node *n = &exe->graph->nodes[op->node];
        dnnl_memory_t mem;
        if ((st = kn_dnnl_new_mem(exe, n, &op->scratch_md, (char *)exe->blocked + offs[it], &mem, err)) != KN_OK ||
            (st = kn_dnnl_add_arg(op, n, DNNL_ARG_SCRATCHPAD, mem, err)) != KN_OK)
            goto done;
    }
fail:
done:
    free(order);
    free(span);
    free(offs);
    free(placed);
    return st;
}

kn_status kn_dnnl_compile_layout(const kn_graph *g, const kn_buffer_plan *plan, int threads,
                                 kn_dnnl_conv_layout layout, const bool *direct, void **out, kn_error *err)
{
    *out = NULL;
    kn_dnnl_exe *exe = calloc(1, sizeof *exe);
    if (!exe)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    exe->graph = g;
    exe->conv_layout = layout;
    exe->direct_conv = direct;
    exe->conv_force = 2;
#ifdef _OPENMP
    exe->threads = threads > 0 ? threads : omp_get_max_threads();
#else
    exe->threads = threads;
#endif
    exe->kthreads = kn_ref_kernel_threads(exe->threads);
    const char *check = getenv("KILN_DNNL_CHECK_PADDING");
    exe->check_padding = check && strcmp(check, "0") != 0;
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    size_t nv = (size_t)(g->num_values ? g->num_values : 1);
    exe->buffers = kn_xcalloc(nv, sizeof(void *));
    exe->plain_ok = kn_xcalloc(nv, sizeof(bool));
    exe->written = kn_xcalloc(nv, sizeof(bool));
    exe->rep_head = kn_xcalloc(nv, sizeof(int));
    exe->on_dnnl = kn_xcalloc(nn, sizeof(bool));
    exe->folded = kn_xcalloc(nn, sizeof(bool));
    exe->scratch = kn_xcalloc(nn, sizeof(void *));
    exe->scratch_size = kn_xcalloc(nn, sizeof(size_t));
    kn_status st = KN_OK;
    if (!exe->buffers || !exe->plain_ok || !exe->written || !exe->rep_head || !exe->on_dnnl || !exe->folded || !exe->scratch ||
        !exe->scratch_size) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = kn_dnnl_forced_layout(&exe->force_tag, err)) != KN_OK)
        goto fail;
    /* the variables of a training or evaluation graph (g->variables: weights another session's optimizer
     * updates, a frozen model's included), and with KILN_DNNL_TRAINED_WEIGHTS=1 (tests) every weight */
    const char *trained = getenv("KILN_DNNL_TRAINED_WEIGHTS");
    const bool all_weights = trained && strcmp(trained, "0") != 0;
    for (int v = 0; v < g->num_values; v++)
        exe->written[v] = g->values[v].data && (!kn_value_is_constant(g, v) ||
                                                (all_weights && g->values[v].kind == KN_VALUE_PARAM));
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (!n->dead && (kn_op_get(n->op)->flags & KN_OPF_EFFECT))
            for (int k = 0; k < n->num_inputs; k++)
                if (n->inputs[k] >= 0 && kn_op_writes_input(n->op, k))
                    exe->written[n->inputs[k]] = true;
    }
    for (int v = 0; v < g->num_values; v++) {
        exe->rep_head[v] = -1;
        exe->plain_ok[v] = g->values[v].data != NULL || g->values[v].producer < 0;
    }
    size_t tensor_bytes = 0;
    if ((st = kn_dnnl_place(exe, plan, &tensor_bytes, err)) != KN_OK)
        goto fail;
    {
        dnnl_status_t ds = dnnl_engine_create(&exe->engine, dnnl_cpu, 0);
        if (ds == dnnl_success)
            ds = dnnl_stream_create(&exe->stream, exe->engine, dnnl_stream_default_flags);
        if (ds != dnnl_success) {
            st = kn_error_set(err, KN_ERR_BACKEND, "oneDNN: cannot create the CPU engine/stream (status %d)",
                              (int)ds);
            goto fail;
        }
    }
    /* Primitives are created with the run's thread count in effect. */
    kn_dnnl_set_threads(exe->threads);
    for (int i = 0; i < g->num_nodes; i++) {
        char why[256];
        if (g->nodes[i].dead)
            continue;
        bool built = false;
        if (kn_dnnl_fold_flatten(exe, i)) {
            exe->on_dnnl[i] = true;
            continue;
        }
        if (kn_dnnl_node_runs(g, &g->nodes[i], why, sizeof why)) {
            /* oneDNN's layouts first, then plain ones; why[] keeps the last reason */
            if ((st = kn_dnnl_try_node(exe, i, true, &built, why, sizeof why, err)) != KN_OK)
                goto fail;
            /* a convolution oneDNN has no implementation for in the chosen layout: dst alone in it, then neither */
            const bool conv = g->nodes[i].op == KN_OP_CONV || g->nodes[i].op == KN_OP_CONV_TRANSPOSE;
            for (exe->conv_force = 1; !built && conv && exe->conv_layout != KN_DNNL_CONV_ANY && exe->conv_force >= 0;
                 exe->conv_force--)
                if ((st = kn_dnnl_try_node(exe, i, true, &built, why, sizeof why, err)) != KN_OK)
                    goto fail;
            exe->conv_force = 2;
            if (!built && (st = kn_dnnl_try_node(exe, i, false, &built, why, sizeof why, err)) != KN_OK)
                goto fail;
        }
        exe->on_dnnl[i] = built;
        if (!built)
            kn_dnnl_flatten_plain_note(exe, i, why, sizeof why);
        if (!built && (st = kn_dnnl_note_fallback(exe, i, why, err)) != KN_OK)
            goto fail;
        if (!built && (st = kn_dnnl_ref_node(exe, i, err)) != KN_OK)
            goto fail;
        const kn_node *n = &g->nodes[i];
        if (kn_op_get(n->op)->flags & KN_OPF_EFFECT)
            for (int k = 0; k < n->num_inputs; k++)
                if (n->inputs[k] >= 0 && kn_op_writes_input(n->op, k))
                    exe->rep_head[n->inputs[k]] = -1; /* written in place: later readers reorder it anew */
    }
    /* graph outputs are read in plain layout */
    for (int k = 0; k < g->num_outputs; k++) {
        int v = g->outputs[k];
        if (v >= 0 && !exe->plain_ok[v] && (st = kn_dnnl_ensure_plain(exe, g->values[v].producer, v, err)) != KN_OK)
            goto fail;
    }
    if ((st = kn_dnnl_place_blocked(exe, err)) != KN_OK)
        goto fail;
    if ((st = kn_dnnl_ref_scratch(exe, plan, tensor_bytes, err)) != KN_OK)
        goto fail;
    exe->direct_conv = NULL; /* the caller's, read during compile only */
    *out = exe;
    return KN_OK;
fail:
    kn_dnnl_free_exe(exe);
    return st;
}

static void kn_dnnl_bind_tensor(const kn_graph *g, int id, void *data, kn_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (id < 0)
        return;
    t->dtype = g->values[id].dtype;
    t->shape = g->values[id].shape;
    t->data = data;
}

kn_status kn_dnnl_run_ref_op(kn_dnnl_exe *exe, const kn_dnnl_op *op, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *node = &g->nodes[op->node];
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    kn_status st;
    if (op->concat) {
        kn_dnnl_run_concat(op);
        return KN_OK;
    }
    if (op->pool) {
        kn_dnnl_run_pool(op);
        return KN_OK;
    }
    if (op->wino) {
        kn_dnnl_run_wino(op);
        return KN_OK;
    }
    if (op->bn) {
        kn_dnnl_run_bn_stats(exe, op);
        return KN_OK;
    }

    kn_ref_kernel kern = kn_ref_kernel_for(node->op);
    if (!kern)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': no kernel for %s", node->name,
                            kn_op_get(node->op)->name);
    for (int j = 0; j < node->num_inputs; j++)
        kn_dnnl_bind_tensor(g, node->inputs[j], node->inputs[j] >= 0 ? exe->buffers[node->inputs[j]] : NULL, &in[j]);
    for (int j = 0; j < node->num_outputs; j++)
        kn_dnnl_bind_tensor(g, node->outputs[j], node->outputs[j] >= 0 ? exe->buffers[node->outputs[j]] : NULL,
                            &out[j]);
    const kn_ref_scratch sc = {exe->scratch[op->node], exe->scratch_size[op->node], exe->kthreads};
    if ((st = kern(node, in, out, &sc, err)) != KN_OK)
        return st;
    if ((node->fused.activation != KN_OP_COUNT || node->fused.residual >= 0) &&
        (st = kn_ref_apply_fused(node, in, &out[0], err)) != KN_OK)
        return st;
    return KN_OK;
}

/*
 * KILN_DNNL_CHECK_PADDING=1 (the tests set it): after op k, every output it
 * wrote in a padded blocked layout must hold zeros in its padding, the
 * invariant oneDNN's primitives and kiln's kernels rely on when they read
 * whole blocks. A violation is an error naming the node and the layout.
 */
static kn_status kn_dnnl_check_padding(const kn_dnnl_exe *exe, const kn_dnnl_op *op, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[op->node];
    for (int a = 0; a < op->nargs; a++) {
        if (op->args[a].arg != DNNL_ARG_DST && op->args[a].arg != DNNL_ARG_TO)
            continue;
        const dnnl_memory_desc_t *md = NULL;
        void *data = NULL;
        int64_t at;
        if (dnnl_memory_get_memory_desc(op->args[a].memory, &md) != dnnl_success || !md ||
            dnnl_memory_get_data_handle(op->args[a].memory, &data) != dnnl_success || !data)
            continue;
        if (kn_dnnl_padding_nonzero(md, data, &at))
            return kn_error_set(err, KN_ERR_BACKEND,
                                "node '%s' (%s): the padding of its output in %s holds %g at element %lld, not 0",
                                n->name, kn_op_get(n->op)->name, kn_dnnl_layout_name(md),
                                (double)((const float *)data)[at], (long long)at);
    }
    return KN_OK;
}

kn_status kn_dnnl_run_exe(void *p, double deadline, kn_error *err)
{
    kn_dnnl_exe *exe = p;
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    kn_dnnl_set_threads(exe->threads);
    bool pending = false; /* primitives submitted since the last wait */
    const kn_node *node = NULL;
    for (int k = 0; k < exe->num_ops; k++) {
        const kn_dnnl_op *op = &exe->ops[k];
        node = &g->nodes[op->node];
        if (kn_deadline_passed(deadline)) {
            if (pending)
                KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
            return kn_deadline_error(err, g, node, k, exe->num_ops);
        }
        if (op->prim) {
            KN_DNNL_CHECK(node, dnnl_primitive_execute(op->prim, exe->stream, op->nargs, op->args));
            pending = true;
        } else {
            if (pending) {
                KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
                pending = false;
            }
            if ((st = kn_dnnl_run_ref_op(exe, op, err)) != KN_OK)
                return st;
        }
        if (exe->check_padding) {
            KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
            pending = false;
            if ((st = kn_dnnl_check_padding(exe, op, err)) != KN_OK)
                return st;
        }
    }
    if (pending && node)
        KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
fail:
    return st;
}

static void *kn_dnnl_value_data(void *p, int id)
{
    kn_dnnl_exe *exe = p;
    return id >= 0 && id < exe->graph->num_values ? exe->buffers[id] : NULL;
}

/*
 * Every node the reference backend runs is accepted (declined nodes fall
 * back to it); why[] receives the reason a node falls back, if it does.
 */
static bool kn_dnnl_supports(const kn_graph *g, const kn_node *node, char *why, size_t len)
{
    if (!kn_ref_backend.supports(g, node, why, len))
        return false;
    if (!kn_dnnl_node_runs(g, node, why, len))
        return true; /* runs on the reference kernels; why[] says why */
    if (len)
        why[0] = '\0';
    return true;
}

/* Fusions are accepted when the producer runs on reference kernels anyway, or the activation maps to post-ops. */
static bool kn_dnnl_can_fuse(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual)
{
    if (producer->op == KN_OP_BATCH_NORM) /* oneDNN's batch norm fuses a Relu (flag), no other post-op */
        return !residual && (activation == KN_OP_RELU || activation == KN_OP_COUNT);
    if (producer->op != KN_OP_CONV && producer->op != KN_OP_CONV_TRANSPOSE && producer->op != KN_OP_GEMM &&
        producer->op != KN_OP_MATMUL)
        return true;
    if (residual && producer->op != KN_OP_CONV)
        return false; /* the Add stays a node of its own (a oneDNN sum) */
    return kn_dnnl_post_act_ok(activation);
}

/*
 * Only nodes that run on reference kernels need planned scratch: oneDNN's
 * scratchpads live in the backend's second arena (kn_dnnl_place_blocked).
 * A node that falls back only at compile time gets a private region.
 */
static size_t kn_dnnl_scratch_bytes(const kn_graph *g, const kn_node *node, int threads)
{
    char why[256];
    if (kn_dnnl_node_runs(g, node, why, sizeof why))
        return 0;
    return kn_ref_scratch_bytes(g, node, kn_ref_kernel_threads(threads));
}

const kn_backend kn_dnnl_backend = {
    .name = "dnnl",
    .supports = kn_dnnl_supports,
    .compile = kn_dnnl_compile_tuned,
    .run = kn_dnnl_run_exe,
    .value_data = kn_dnnl_value_data,
    .free = kn_dnnl_free_exe,
    .can_fuse = kn_dnnl_can_fuse,
    .scratch_bytes = kn_dnnl_scratch_bytes,
    .run_profiled = kn_dnnl_run_profiled,
    .placement = kn_dnnl_placement,
    .isa = kn_dnnl_isa_name,
    .set_isa = kn_dnnl_isa_set,
    .note = kn_dnnl_note,
};
