/* memplan.c - the memory planner: requests -> offsets, and a graph's requests (see memplan.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memplan.h"

bool kn_mem_align(size_t size, size_t *out)
{
    if (size > SIZE_MAX - (KN_MEM_ALIGN - 1))
        return false;
    *out = (size + (KN_MEM_ALIGN - 1)) & ~(size_t)(KN_MEM_ALIGN - 1);
    return true;
}

/*
 * A block is one in-place chain of requests (usually a single request): its
 * members share one offset, the block is as large as its first member (the
 * largest: a member may only take over a buffer at least as large) and live
 * from the first member's first step to the last member's last step.
 */
typedef struct kn_mem_block {
    size_t size;
    int64_t start, end;   /* closed interval of steps */
    int root;             /* request index of the first member (tie-break) */
} kn_mem_block;

/* Sort key of a placement order: k1 desc, k2 desc, k3 asc, then idx asc. */
typedef struct kn_mem_key {
    size_t k1, k2;
    int64_t k3;
    int idx;
} kn_mem_key;

static int kn_mem_key_cmp(const void *pa, const void *pb)
{
    const kn_mem_key *a = pa, *b = pb;
    if (a->k1 != b->k1)
        return a->k1 > b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 > b->k2 ? -1 : 1;
    if (a->k3 != b->k3)
        return a->k3 < b->k3 ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Request indices ordered by (first_use, index). */
typedef struct kn_mem_first {
    int first, idx;
} kn_mem_first;

static int kn_mem_first_cmp(const void *pa, const void *pb)
{
    const kn_mem_first *a = pa, *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}


/* A sweep event: `size` bytes become live (start) or dead (end) at time t. */
typedef struct kn_mem_event {
    int64_t t;
    int is_start;
    size_t size;
} kn_mem_event;

static int kn_mem_event_cmp(const void *pa, const void *pb)
{
    const kn_mem_event *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->is_start - b->is_start; /* ends (exclusive) before starts */
}

/* For each block, the most bytes (of all blocks) live at one step of its lifetime. */
static kn_status kn_mem_block_breadth(const kn_mem_block *b, int nb, size_t *breadth)
{
    int64_t *pts = malloc(sizeof(int64_t) * (size_t)(2 * nb + 1));
    size_t *seg = NULL;
    if (!pts)
        return KN_ERR_NOMEM;
    int m = 0;
    for (int i = 0; i < nb; i++) {
        pts[m++] = b[i].start;
        pts[m++] = b[i].end + 1;
    }
    qsort(pts, (size_t)m, sizeof *pts, kn_cmp_i64);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (u == 0 || pts[u - 1] != pts[i])
            pts[u++] = pts[i];
    /* seg[j]: bytes live on [pts[j], pts[j+1]); sizes sum to at most the checked total */
    seg = calloc((size_t)(u > 0 ? u : 1), sizeof *seg);
    if (!seg) {
        free(pts);
        return KN_ERR_NOMEM;
    }
    for (int i = 0; i < nb; i++) {
        int64_t *lo = bsearch(&b[i].start, pts, (size_t)u, sizeof *pts, kn_cmp_i64);
        int64_t end = b[i].end + 1;
        int64_t *hi = bsearch(&end, pts, (size_t)u, sizeof *pts, kn_cmp_i64);
        for (int64_t *p = lo; p < hi; p++)
            seg[p - pts] += b[i].size;
    }
    for (int i = 0; i < nb; i++) {
        int64_t *lo = bsearch(&b[i].start, pts, (size_t)u, sizeof *pts, kn_cmp_i64);
        int64_t end = b[i].end + 1;
        int64_t *hi = bsearch(&end, pts, (size_t)u, sizeof *pts, kn_cmp_i64);
        size_t best = 0;
        for (int64_t *p = lo; p < hi; p++)
            if (seg[p - pts] > best)
                best = seg[p - pts];
        breadth[i] = best;
    }
    free(seg);
    free(pts);
    return KN_OK;
}

/* Most bytes live at one step; an in-place member starts counting one step late (its input holds the bytes). */
static kn_status kn_mem_bound(const kn_mem_request *reqs, const size_t *asz, const int *inplace, int count,
                              size_t *bound)
{
    if (count < 0 || count > (1 << 28))
        return KN_ERR_OVERFLOW;
    kn_mem_event *ev = malloc(sizeof *ev * (size_t)(2 * count + 1));
    if (!ev)
        return KN_ERR_NOMEM;
    int m = 0;
    for (int i = 0; i < count; i++) {
        int64_t s = reqs[i].first_use + (inplace[i] >= 0 ? 1 : 0), e = (int64_t)reqs[i].last_use + 1;
        if (asz[i] == 0 || s >= e)
            continue;
        ev[m++] = (kn_mem_event){s, 1, asz[i]};
        ev[m++] = (kn_mem_event){e, 0, asz[i]};
    }
    qsort(ev, (size_t)m, sizeof *ev, kn_mem_event_cmp);
    size_t cur = 0, best = 0;
    for (int i = 0; i < m; i++) {
        if (ev[i].is_start) {
            cur += ev[i].size;
            if (cur > best)
                best = cur;
        } else {
            cur -= ev[i].size;
        }
    }
    free(ev);
    *bound = best;
    return KN_OK;
}

/* Link in-place pairs (see kn_mem_request); block_of[i] receives each request's block. */
static kn_status kn_mem_link_inplace(const kn_mem_request *reqs, const size_t *asz, int count, int *inplace,
                                     int *block_of, kn_mem_block *blocks, int *nblocks)
{
    kn_mem_first *ord = malloc(sizeof *ord * (size_t)(count > 0 ? count : 1));
    int *pos = malloc(sizeof(int) * (size_t)(count > 0 ? count : 1));
    bool *taken = calloc((size_t)(count > 0 ? count : 1), sizeof(bool));
    if (!ord || !pos || !taken) {
        free(ord);
        free(pos);
        free(taken);
        return KN_ERR_NOMEM;
    }
    for (int i = 0; i < count; i++)
        ord[i] = (kn_mem_first){reqs[i].first_use, i};
    qsort(ord, (size_t)count, sizeof *ord, kn_mem_first_cmp);
    for (int k = 0; k < count; k++)
        pos[ord[k].idx] = k;
    int nb = 0;
    for (int k = 0; k < count; k++) {
        int r = ord[k].idx, p = reqs[r].may_reuse;
        inplace[r] = -1;
        if (p >= 0 && p != r && pos[p] < k && !taken[p] && reqs[p].last_use == reqs[r].first_use &&
            asz[r] <= asz[p]) {
            /* p is the tail of its chain (nothing took it over yet): extend the chain */
            taken[p] = true;
            inplace[r] = p;
            block_of[r] = block_of[p];
            kn_mem_block *blk = &blocks[block_of[r]];
            if (reqs[r].last_use > blk->end)
                blk->end = reqs[r].last_use;
            continue;
        }
        block_of[r] = nb;
        blocks[nb++] = (kn_mem_block){asz[r], reqs[r].first_use, reqs[r].last_use, r};
    }
    *nblocks = nb;
    free(ord);
    free(pos);
    free(taken);
    return KN_OK;
}

enum { KN_MEM_BY_SIZE, KN_MEM_BY_BREADTH, KN_MEM_BY_LIFETIME, KN_MEM_NUM_ORDERS };
static const char *const kn_mem_order_names[KN_MEM_NUM_ORDERS] = {
    "greedy by size", "greedy by breadth", "greedy by lifetime"};

kn_status kn_plan_memory(const kn_mem_request *reqs, int count, size_t *offsets, int *inplace,
                         kn_mem_summary *summary, kn_error *err)
{
    if (count < 0 || (count > 0 && (!reqs || !offsets)) || !summary)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_plan_memory: bad arguments");
    memset(summary, 0, sizeof *summary);
    summary->strategy = kn_mem_order_names[KN_MEM_BY_SIZE];
    for (int i = 0; i < count; i++) {
        const kn_mem_request *r = &reqs[i];
        if (r->first_use < 0 || r->last_use < r->first_use)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "buffer request %d: bad lifetime [%d, %d]", i,
                                r->first_use, r->last_use);
        if (r->may_reuse < -1 || r->may_reuse >= count)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "buffer request %d: may_reuse %d is not a request", i,
                                r->may_reuse);
    }
    if (count == 0)
        return KN_OK;

    size_t n = (size_t)count;
    size_t *asz = malloc(sizeof *asz * n);
    int *own_inplace = inplace ? NULL : malloc(sizeof(int) * n);
    int *block_of = malloc(sizeof(int) * n);
    kn_mem_block *blocks = malloc(sizeof *blocks * n);
    kn_mem_key *keys = malloc(sizeof *keys * n);
    int *order = malloc(sizeof(int) * n);
    kn_interval *spans = malloc(sizeof *spans * n);
    size_t *off = malloc(sizeof *off * n), *best_off = malloc(sizeof *best_off * n);
    size_t *breadth = malloc(sizeof *breadth * n);
    kn_status st = KN_OK;
    if (!asz || (!inplace && !own_inplace) || !block_of || !blocks || !keys || !order || !spans || !off ||
        !best_off || !breadth) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory planning %d buffers", count);
        goto done;
    }
    if (!inplace)
        inplace = own_inplace;

    size_t naive = 0;
    for (int i = 0; i < count; i++)
        if (!kn_mem_align(reqs[i].size, &asz[i]) || !kn_size_add(naive, asz[i], &naive)) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "buffer request %d: sizes overflow (%zu bytes)", i,
                              reqs[i].size);
            goto done;
        }
    summary->naive = naive;

    int nb = 0;
    if (kn_mem_link_inplace(reqs, asz, count, inplace, block_of, blocks, &nb) != KN_OK ||
        kn_mem_bound(reqs, asz, inplace, count, &summary->bound) != KN_OK ||
        kn_mem_block_breadth(blocks, nb, breadth) != KN_OK) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory planning %d buffers", count);
        goto done;
    }
    for (int i = 0; i < count; i++)
        if (inplace[i] >= 0)
            summary->num_inplace++;

    for (int i = 0; i < nb; i++)
        spans[i] = (kn_interval){blocks[i].size, blocks[i].start, blocks[i].end};
    size_t best_peak = SIZE_MAX;
    for (int o = 0; o < KN_MEM_NUM_ORDERS; o++) {
        for (int i = 0; i < nb; i++) {
            const kn_mem_block *b = &blocks[i];
            size_t life = (size_t)(b->end - b->start + 1);
            switch (o) {
            case KN_MEM_BY_SIZE: keys[i] = (kn_mem_key){b->size, life, b->start, b->root}; break;
            case KN_MEM_BY_BREADTH: keys[i] = (kn_mem_key){breadth[i], b->size, b->start, b->root}; break;
            default: keys[i] = (kn_mem_key){life, b->size, b->start, b->root}; break;
            }
            keys[i].idx = i;
        }
        qsort(keys, (size_t)nb, sizeof *keys, kn_mem_key_cmp);
        for (int i = 0; i < nb; i++)
            order[i] = keys[i].idx;
        /* best fit: each block into the smallest gap between the blocks live at a common step, or on top */
        size_t peak;
        if ((st = kn_interval_place(spans, nb, order, nb, true, off, &peak, err)) != KN_OK)
            goto done;
        if (peak < best_peak) {
            best_peak = peak;
            memcpy(best_off, off, sizeof *off * (size_t)nb);
            summary->strategy = kn_mem_order_names[o];
        }
        if (best_peak == summary->bound)
            break; /* cannot do better */
    }
    summary->peak = best_peak;
    for (int i = 0; i < count; i++)
        offsets[i] = best_off[block_of[i]];

done:
    free(asz);
    free(own_inplace);
    free(block_of);
    free(blocks);
    free(keys);
    free(order);
    free(spans);
    free(off);
    free(best_off);
    free(breadth);
    return st;
}

kn_status kn_mem_plan_check(const kn_mem_request *reqs, int count, const size_t *offsets, const int *inplace,
                            size_t peak, kn_error *err)
{
    if (count <= 0)
        return KN_OK;
    size_t *asz = malloc(sizeof *asz * (size_t)count);
    int *root = malloc(sizeof(int) * (size_t)count);
    int *children = calloc((size_t)count, sizeof(int));
    kn_status st = KN_OK;
    if (!asz || !root || !children) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++)
        if (!kn_mem_align(reqs[i].size, &asz[i])) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "request %d: size overflows", i);
            goto done;
        }
    for (int i = 0; i < count; i++) {
        if (offsets[i] % KN_MEM_ALIGN != 0 || offsets[i] > peak || asz[i] > peak - offsets[i]) {
            st = kn_error_set(err, KN_ERR_GRAPH, "request %d: offset %zu (+%zu) is misaligned or outside %zu", i,
                              offsets[i], asz[i], peak);
            goto done;
        }
        int p = inplace ? inplace[i] : -1;
        if (p < -1 || p >= count) {
            st = kn_error_set(err, KN_ERR_GRAPH, "request %d: in-place link %d out of range", i, p);
            goto done;
        }
        if (p >= 0 && (p != reqs[i].may_reuse || reqs[p].last_use != reqs[i].first_use || asz[i] > asz[p] ||
                       offsets[i] != offsets[p] || reqs[p].first_use > reqs[i].first_use ||
                       ++children[p] > 1)) {
            st = kn_error_set(err, KN_ERR_GRAPH,
                              "request %d (steps %d-%d, %zu bytes at %zu) cannot take over request %d (steps "
                              "%d-%d, %zu bytes at %zu) in place",
                              i, reqs[i].first_use, reqs[i].last_use, asz[i], offsets[i], p, reqs[p].first_use,
                              reqs[p].last_use, asz[p], offsets[p]);
            goto done;
        }
    }
    for (int i = 0; i < count; i++) {
        int r = i, steps = 0;
        while (inplace && inplace[r] >= 0 && steps++ <= count)
            r = inplace[r];
        if (steps > count) {
            st = kn_error_set(err, KN_ERR_GRAPH, "request %d: in-place links form a cycle", i);
            goto done;
        }
        root[i] = r;
    }
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++) {
            if (asz[i] == 0 || asz[j] == 0 || root[i] == root[j])
                continue;
            if (reqs[i].last_use < reqs[j].first_use || reqs[j].last_use < reqs[i].first_use)
                continue;
            if (offsets[i] < offsets[j] + asz[j] && offsets[j] < offsets[i] + asz[i]) {
                st = kn_error_set(err, KN_ERR_GRAPH,
                                  "requests %d [%zu, +%zu) steps %d-%d and %d [%zu, +%zu) steps %d-%d overlap", i,
                                  offsets[i], asz[i], reqs[i].first_use, reqs[i].last_use, j, offsets[j], asz[j],
                                  reqs[j].first_use, reqs[j].last_use);
                goto done;
            }
        }
done:
    free(asz);
    free(root);
    free(children);
    return st;
}

/* ------------------------------------------------------------ graphs */

bool kn_mem_inplace_candidate(const kn_graph *g, const kn_node *node, int out_slot, int in_slot)
{
    if (node->fused.residual >= 0 || out_slot != 0 || in_slot < 0 || in_slot >= node->num_inputs ||
        node->num_outputs < 1)
        return false;
    int iv = node->inputs[in_slot], ov = node->outputs[0];
    if (iv < 0 || ov < 0)
        return false;
    const kn_value *in = &g->values[iv], *out = &g->values[ov];
    if (in->dtype != out->dtype || !in->shape_known || !out->shape_known)
        return false;
    size_t ib, ob;
    if (kn_tensor_nbytes(in->dtype, &in->shape, &ib) != KN_OK ||
        kn_tensor_nbytes(out->dtype, &out->shape, &ob) != KN_OK || ib != ob)
        return false;
    switch (node->op) {
    case KN_OP_ADD: case KN_OP_SUB: case KN_OP_MUL: case KN_OP_DIV: case KN_OP_POW:
        return in_slot <= 1 && kn_shape_equal(&in->shape, &out->shape);
    case KN_OP_RESHAPE: case KN_OP_FLATTEN: case KN_OP_SQUEEZE: case KN_OP_UNSQUEEZE: case KN_OP_IDENTITY:
    case KN_OP_DROPOUT:
        return in_slot == 0;
    default:
        break;
    }
    if (!kn_op_is_unary_eltwise(node->op) || in_slot != 0 || !kn_shape_equal(&in->shape, &out->shape))
        return false;
    if (node->op == KN_OP_CLIP)
        for (int k = 1; k < node->num_inputs; k++)
            if (node->inputs[k] >= 0 && !g->values[node->inputs[k]].data)
                return false;
    return true;
}

void kn_graph_mem_plan_free(kn_graph_mem_plan *plan)
{
    if (!plan)
        return;
    free(plan->value_offset);
    free(plan->requests);
    free(plan->buffer_value);
    free(plan->buffer_node);
    free(plan->scratch_offset);
    free(plan->scratch_bytes);
    free(plan->buffer_offset);
    free(plan->buffer_inplace);
    free(plan->step_node);
    memset(plan, 0, sizeof *plan);
}

kn_status kn_plan_graph_memory(const kn_graph *g, kn_graph_mem_plan *plan, kn_error *err)
{
    return kn_plan_graph_memory_scratch(g, NULL, plan, err);
}

kn_status kn_plan_graph_memory_scratch(const kn_graph *g, const size_t *node_scratch, kn_graph_mem_plan *plan,
                                       kn_error *err)
{
    memset(plan, 0, sizeof *plan);
    size_t nv = (size_t)(g->num_values > 0 ? g->num_values : 1);
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    size_t nb_max = nv + nn; /* a buffer per value, and one of scratch per node */
    plan->num_values = g->num_values;
    plan->value_offset = malloc(sizeof(size_t) * nv);
    plan->requests = malloc(sizeof(kn_mem_request) * nb_max);
    plan->buffer_value = malloc(sizeof(int) * nb_max);
    plan->buffer_node = malloc(sizeof(int) * nb_max);
    plan->buffer_offset = malloc(sizeof(size_t) * nb_max);
    plan->buffer_inplace = malloc(sizeof(int) * nb_max);
    plan->step_node = malloc(sizeof(int) * nn);
    plan->scratch_offset = malloc(sizeof(size_t) * nn);
    plan->scratch_bytes = calloc(nn, sizeof(size_t));
    int *buf_of = malloc(sizeof(int) * nv);
    kn_status st = KN_OK;
    if (!plan->value_offset || !plan->requests || !plan->buffer_value || !plan->buffer_node ||
        !plan->buffer_offset || !plan->buffer_inplace || !plan->step_node || !plan->scratch_offset ||
        !plan->scratch_bytes || !buf_of) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory planning memory");
        goto done;
    }
    plan->num_nodes = g->num_nodes;
    for (int v = 0; v < g->num_values; v++) {
        plan->value_offset[v] = KN_MEM_NONE;
        buf_of[v] = -1;
    }
    for (int i = 0; i < g->num_nodes; i++)
        plan->scratch_offset[i] = KN_MEM_NONE;
    for (int i = 0; i < g->num_nodes; i++)
        if (!g->nodes[i].dead)
            plan->step_node[plan->num_steps++] = i;
    const int last_step = plan->num_steps > 0 ? plan->num_steps - 1 : 0;

    /* One buffer per value that a run writes: graph inputs, then node outputs in run order. */
    int nb = 0;
#define KN_MEM_NEW_BUFFER(v, step)                                                                 \
    do {                                                                                           \
        const kn_value *val_ = &g->values[(v)];                                                    \
        size_t bytes_;                                                                             \
        if (!val_->shape_known || kn_tensor_nbytes(val_->dtype, &val_->shape, &bytes_) != KN_OK) { \
            st = kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete size to plan",        \
                              val_->name);                                                         \
            goto done;                                                                             \
        }                                                                                          \
        buf_of[(v)] = nb;                                                                          \
        plan->buffer_value[nb] = (v);                                                              \
        plan->buffer_node[nb] = -1;                                                                \
        plan->requests[nb] = (kn_mem_request){bytes_, (step), (step), -1};                         \
        nb++;                                                                                      \
    } while (0)
    for (int i = 0; i < g->num_inputs; i++) {
        int v = g->inputs[i];
        if (v >= 0 && v < g->num_values && !g->values[v].data && buf_of[v] < 0)
            KN_MEM_NEW_BUFFER(v, 0);
    }
    for (int s = 0; s < plan->num_steps; s++) {
        const kn_node *node = &g->nodes[plan->step_node[s]];
        for (int k = 0; k < node->num_inputs; k++) {
            int v = node->inputs[k];
            if (v < 0 || g->values[v].data)
                continue;
            if (buf_of[v] < 0) {
                st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) reads '%s' before anything writes it",
                                  node->name, kn_op_get(node->op)->name, g->values[v].name);
                goto done;
            }
            plan->requests[buf_of[v]].last_use = s;
        }
        for (int k = 0; k < node->num_outputs; k++) {
            int v = node->outputs[k];
            if (v < 0 || g->values[v].data)
                continue;
            if (buf_of[v] >= 0) {
                st = kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s) writes '%s', which is already written",
                                  node->name, kn_op_get(node->op)->name, g->values[v].name);
                goto done;
            }
            KN_MEM_NEW_BUFFER(v, s);
        }
        /* the kernel's scratch: live at this step only */
        size_t scratch = node_scratch ? node_scratch[plan->step_node[s]] : 0;
        if (scratch > 0) {
            plan->buffer_value[nb] = -1;
            plan->buffer_node[nb] = plan->step_node[s];
            plan->requests[nb] = (kn_mem_request){scratch, s, s, -1};
            plan->scratch_bytes[plan->step_node[s]] = scratch;
            nb++;
        }
    }
#undef KN_MEM_NEW_BUFFER
    for (int i = 0; i < g->num_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || g->values[v].data)
            continue;
        if (buf_of[v] < 0) {
            st = kn_error_set(err, KN_ERR_GRAPH, "graph output '%s' is never written", g->values[v].name);
            goto done;
        }
        plan->requests[buf_of[v]].last_use = last_step;
    }

    /* In-place candidates: an output may take over an input this node is the last reader of. */
    for (int s = 0; s < plan->num_steps; s++) {
        const kn_node *node = &g->nodes[plan->step_node[s]];
        if (node->num_outputs < 1 || node->outputs[0] < 0 || buf_of[node->outputs[0]] < 0)
            continue;
        for (int k = 0; k < node->num_inputs; k++) {
            int v = node->inputs[k];
            if (v < 0 || buf_of[v] < 0 || g->values[v].is_output || plan->requests[buf_of[v]].last_use != s)
                continue;
            if (kn_mem_inplace_candidate(g, node, 0, k)) {
                plan->requests[buf_of[node->outputs[0]]].may_reuse = buf_of[v];
                break;
            }
        }
    }

    plan->num_buffers = nb;
    if ((st = kn_plan_memory(plan->requests, nb, plan->buffer_offset, plan->buffer_inplace, &plan->summary,
                             err)) != KN_OK)
        goto done;
    for (int b = 0; b < nb; b++) {
        if (plan->buffer_value[b] >= 0)
            plan->value_offset[plan->buffer_value[b]] = plan->buffer_offset[b];
        else
            plan->scratch_offset[plan->buffer_node[b]] = plan->buffer_offset[b];
    }
done:
    free(buf_of);
    if (st != KN_OK)
        kn_graph_mem_plan_free(plan);
    return st;
}
