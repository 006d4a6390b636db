/*
 * simplify.c - graph simplifications: Identity and inference-Dropout
 * removal, common subexpression elimination, cancelling Transpose and
 * Reshape pairs, MatMul + Add into Gemm.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"
#include "pass_util.h"

#define KN_OPN(n) (kn_op_get((n)->op)->name)

/* ------------------------------------------------------------ helpers */

bool kn_value_is_graph_output(const kn_graph *g, int v)
{
    return v >= 0 && v < g->num_values && g->values[v].is_output;
}

kn_status kn_edit_begin(kn_edit *e, kn_graph *g, kn_error *err)
{
    memset(e, 0, sizeof *e);
    e->g = g;
    kn_status st = kn_edit_grow(e, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        for (int k = 0; k < n->num_inputs && !n->dead; k++)
            if (n->inputs[k] >= 0)
                e->readers[n->inputs[k]]++;
    }
    return KN_OK;
}

kn_status kn_edit_grow(kn_edit *e, kn_error *err)
{
    int nv = e->g->num_values;
    if (nv <= e->cap && e->repl)
        return KN_OK;
    size_t count = (size_t)(nv ? nv : 1);
    int *repl = realloc(e->repl, count * sizeof *repl);
    if (repl)
        e->repl = repl;
    int *readers = realloc(e->readers, count * sizeof *readers);
    if (readers)
        e->readers = readers;
    if (!repl || !readers)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory editing a graph of %d values", nv);
    for (int v = e->cap; v < nv; v++) {
        e->repl[v] = v;
        e->readers[v] = 0;
    }
    e->cap = nv;
    return KN_OK;
}

/* The value that stands for v now (path halving keeps the chains short). */
static int kn_edit_find(kn_edit *e, int v)
{
    while (v >= 0 && e->repl[v] != v) {
        e->repl[v] = e->repl[e->repl[v]];
        v = e->repl[v];
    }
    return v;
}

void kn_edit_visit(kn_edit *e, kn_node *n)
{
    for (int k = 0; k < n->num_inputs; k++)
        n->inputs[k] = kn_edit_find(e, n->inputs[k]);
}

int kn_edit_readers(const kn_edit *e, int v)
{
    return v >= 0 && v < e->cap ? e->readers[v] : 0;
}

void kn_edit_kill(kn_edit *e, kn_node *n)
{
    if (n->dead)
        return;
    kn_edit_visit(e, n);
    for (int k = 0; k < n->num_inputs; k++)
        if (n->inputs[k] >= 0)
            e->readers[n->inputs[k]]--;
    n->dead = true;
}

void kn_edit_revive(kn_edit *e, kn_node *n)
{
    if (!n->dead)
        return;
    kn_edit_visit(e, n);
    for (int k = 0; k < n->num_inputs; k++)
        if (n->inputs[k] >= 0)
            e->readers[n->inputs[k]]++;
    n->dead = false;
}

void kn_edit_set_input(kn_edit *e, kn_node *n, int k, int v)
{
    int old = kn_edit_find(e, n->inputs[k]);
    if (!n->dead && old >= 0)
        e->readers[old]--;
    n->inputs[k] = v;
    if (!n->dead && v >= 0)
        e->readers[v]++;
}

/* Every reader of `from` reads `to`. */
static void kn_edit_replace(kn_edit *e, int from, int to)
{
    e->repl[from] = to;
    e->readers[to] += e->readers[from];
    e->readers[from] = 0;
}

bool kn_edit_forward(kn_edit *e, int b, int a)
{
    kn_graph *g = e->g;
    if (!kn_value_is_graph_output(g, b)) {
        kn_edit_replace(e, b, a);
        return true;
    }
    /* b is a graph output: a's producer writes b instead, so the name stays. */
    kn_value *va = &g->values[a];
    if (va->kind != KN_VALUE_INTERMEDIATE || va->producer < 0 || kn_value_is_graph_output(g, a))
        return false;
    kn_node *p = &g->nodes[va->producer];
    if (p->dead)
        return false;
    int slot = -1;
    for (int k = 0; k < p->num_outputs; k++)
        if (p->outputs[k] == a)
            slot = k;
    if (slot < 0)
        return false;
    p->outputs[slot] = b;
    g->values[b].producer = va->producer;
    g->values[b].kind = KN_VALUE_INTERMEDIATE;
    va->producer = -1;
    kn_edit_replace(e, a, b);
    return true;
}

void kn_edit_end(kn_edit *e)
{
    for (int i = 0; e->repl && i < e->g->num_nodes; i++)
        if (!e->g->nodes[i].dead)
            kn_edit_visit(e, &e->g->nodes[i]);
    free(e->repl);
    free(e->readers);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------- Identity and Dropout */

/*
 * Whether n copies its input unchanged: Identity, Dropout (checked below), a
 * Pad whose pads are a constant of zeros (PyTorch exports one before the
 * AveragePool of DenseNet's transitions), a Concat of one input.
 */
static bool kn_is_identity(const kn_graph *g, const kn_node *n)
{
    switch (n->op) {
    case KN_OP_IDENTITY:
    case KN_OP_DROPOUT: return true;
    case KN_OP_CONCAT: return n->num_inputs == 1;
    case KN_OP_PAD: {
        const int pads = n->num_inputs > 1 ? n->inputs[1] : -1;
        size_t count = 0;
        if (pads < 0 || !g->values[pads].data || g->values[pads].dtype != KN_I64 ||
            kn_shape_numel(&g->values[pads].shape, &count) != KN_OK)
            return false;
        for (size_t k = 0; k < count; k++)
            if (((const int64_t *)g->values[pads].data)[k] != 0)
                return false;
        return true;
    }
    case KN_OP_SLICE: {
        /* every step 1 (or none given) and the output as large as the input: the whole tensor (Swin-T's
         * window merge ends with two such Slices per shifted block, each a copy) */
        const int x = n->inputs[0], y = n->outputs[0], steps = n->num_inputs > 4 ? n->inputs[4] : -1;
        if (x < 0 || y < 0 || !g->values[x].shape_known || !g->values[y].shape_known ||
            !kn_shape_equal(&g->values[x].shape, &g->values[y].shape))
            return false;
        if (steps < 0)
            return true;
        int64_t st[KN_MAX_RANK];
        int count = 0;
        kn_error ignored;
        if (kn_value_read_ints(g, steps, st, KN_MAX_RANK, &count, &ignored) != KN_OK)
            return false;
        for (int k = 0; k < count; k++)
            if (st[k] != 1)
                return false;
        return true;
    }
    default: return false;
    }
}

kn_status kn_pass_remove_identity(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        kn_edit_visit(&e, n);
        if (!kn_is_identity(g, n))
            continue;
        if (n->op == KN_OP_DROPOUT) {
            if (n->num_inputs > 2 && n->inputs[2] >= 0) {
                if (ex)
                    fprintf(ex, "remove_identity: kept Dropout '%s': training_mode is given\n", n->name);
                continue;
            }
            if (n->num_outputs > 1 && n->outputs[1] >= 0 &&
                (kn_edit_readers(&e, n->outputs[1]) > 0 || kn_value_is_graph_output(g, n->outputs[1]))) {
                if (ex)
                    fprintf(ex, "remove_identity: kept Dropout '%s': its mask '%s' is read\n", n->name,
                            g->values[n->outputs[1]].name);
                continue;
            }
        }
        int a = n->inputs[0], b = n->outputs[0];
        if (a < 0 || g->values[a].dtype != g->values[b].dtype)
            continue;
        kn_edit_kill(&e, n);
        if (!kn_edit_forward(&e, b, a)) {
            kn_edit_revive(&e, n);
            if (ex)
                fprintf(ex, "remove_identity: kept %s '%s': it copies %s '%s' to the graph output '%s'\n", KN_OPN(n),
                        n->name, g->values[a].kind == KN_VALUE_INPUT ? "graph input" : "value", g->values[a].name,
                        g->values[b].name);
            continue;
        }
        *changed = true;
        if (ex)
            fprintf(ex, "remove_identity: removed %s '%s'\n", KN_OPN(n), n->name);
    }
    kn_edit_end(&e);
    return KN_OK;
}

/* ---------------------------------------------------------------- CSE */

/* Constants up to this size are compared byte for byte for merging. */
#define KN_CSE_CONST_BYTES 4096

/*
 * Items (values, nodes) grouped by a 64-bit key, each group in the order the
 * items were added: open addressing over the keys, a chain through next[].
 * Both CSE sweeps look only at the items with the same key, so they take
 * linear time (issue 15: comparing every node with every earlier one took
 * minutes on a 100,000-node chain).
 */
typedef struct kn_cse_index {
    uint64_t *keys;
    int *head, *tail; /* per slot: first and last item of the key's group, -1 for a free slot */
    int *next;        /* per item: the next item with the same key, -1 at the end */
    size_t mask;
} kn_cse_index;

static void kn_cse_index_free(kn_cse_index *x)
{
    free(x->keys);
    free(x->head);
    free(x->tail);
    free(x->next);
}

static bool kn_cse_index_init(kn_cse_index *x, int items)
{
    size_t cap = 16;
    while (cap / 2 <= (size_t)items)
        cap *= 2;
    x->mask = cap - 1;
    x->keys = kn_xcalloc(cap, sizeof *x->keys);
    x->head = malloc(cap * sizeof *x->head);
    x->tail = malloc(cap * sizeof *x->tail);
    x->next = malloc((size_t)(items ? items : 1) * sizeof *x->next);
    if (!x->keys || !x->head || !x->tail || !x->next) {
        kn_cse_index_free(x);
        return false;
    }
    for (size_t i = 0; i < cap; i++)
        x->head[i] = x->tail[i] = -1;
    for (int i = 0; i < items; i++)
        x->next[i] = -1;
    return true;
}

static size_t kn_cse_index_slot(const kn_cse_index *x, uint64_t key)
{
    size_t at = (size_t)(key ^ (key >> 29)) & x->mask;
    while (x->head[at] >= 0 && x->keys[at] != key)
        at = (at + 1) & x->mask;
    return at;
}

/** The first item added with `key`, or -1; the others follow through x->next. */
static int kn_cse_index_first(const kn_cse_index *x, uint64_t key)
{
    return x->head[kn_cse_index_slot(x, key)];
}

/* Add `item` (each at most once, fewer items than kn_cse_index_init's count). */
static void kn_cse_index_add(kn_cse_index *x, uint64_t key, int item)
{
    size_t at = kn_cse_index_slot(x, key);
    if (x->head[at] < 0) {
        x->keys[at] = key;
        x->head[at] = item;
    } else {
        x->next[x->tail[at]] = item;
    }
    x->tail[at] = item;
}

/* A flag per value of g: is it a graph output (NULL when out of memory). */
static bool *kn_cse_outputs(const kn_graph *g)
{
    bool *out = kn_xcalloc((size_t)(g->num_values ? g->num_values : 1), sizeof *out);
    for (int i = 0; out && i < g->num_outputs; i++)
        out[g->outputs[i]] = true;
    return out;
}

/* Every live node reads repl[v] for v (the merged values' replacements). */
static void kn_cse_apply(kn_graph *g, const int *repl)
{
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        for (int k = 0; k < n->num_inputs && !n->dead; k++)
            if (n->inputs[k] >= 0)
                n->inputs[k] = repl[n->inputs[k]];
    }
}

/* Merge identical small constants (not weights: those stay distinct). */
static kn_status kn_cse_constants(kn_graph *g, FILE *ex, bool *changed, kn_error *err)
{
    int nv = g->num_values;
    size_t *bytes = kn_xcalloc((size_t)(nv ? nv : 1), sizeof *bytes);
    int *readers = kn_xcalloc((size_t)(nv ? nv : 1), sizeof *readers);
    int *repl = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    bool *is_output = kn_cse_outputs(g);
    kn_cse_index index = {0};
    if (!bytes || !readers || !repl || !is_output || !kn_cse_index_init(&index, nv)) {
        free(bytes);
        free(readers);
        free(repl);
        free(is_output);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in cse");
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        for (int k = 0; k < n->num_inputs && !n->dead; k++)
            if (n->inputs[k] >= 0)
                readers[n->inputs[k]]++;
    }
    bool merged = false;
    for (int v = 0; v < nv; v++) {
        repl[v] = v;
        const kn_value *vv = &g->values[v];
        if (vv->kind != KN_VALUE_CONST || !vv->data || is_output[v] ||
            kn_tensor_nbytes(vv->dtype, &vv->shape, &bytes[v]) != KN_OK || bytes[v] > KN_CSE_CONST_BYTES)
            continue;
        const uint64_t h = kn_fnv1a_bytes(KN_FNV1A_BASIS ^ (uint64_t)vv->dtype, vv->data, bytes[v]);
        int u = kn_cse_index_first(&index, h);
        for (; u >= 0; u = index.next[u]) {
            const kn_value *uu = &g->values[u];
            if (bytes[u] == bytes[v] && uu->dtype == vv->dtype && kn_shape_equal(&uu->shape, &vv->shape) &&
                memcmp(uu->data, vv->data, bytes[v]) == 0)
                break;
        }
        if (u < 0 || readers[v] == 0) { /* a constant nobody reads stays as it is (compaction drops it) */
            if (u < 0)
                kn_cse_index_add(&index, h, v);
            continue;
        }
        repl[v] = u;
        merged = true;
        *changed = true;
        if (ex)
            fprintf(ex, "cse: merged constant '%s' into identical '%s'\n", vv->name, g->values[u].name);
    }
    if (merged)
        kn_cse_apply(g, repl);
    kn_cse_index_free(&index);
    free(bytes);
    free(readers);
    free(repl);
    free(is_output);
    return KN_OK;
}

static bool kn_nodes_equal(const kn_node *a, const kn_node *b)
{
    if (a->op != b->op || a->num_inputs != b->num_inputs || a->num_outputs != b->num_outputs)
        return false;
    for (int k = 0; k < a->num_inputs; k++)
        if (a->inputs[k] != b->inputs[k])
            return false;
    return memcmp(&a->attrs, &b->attrs, sizeof a->attrs) == 0 && a->fused.activation == b->fused.activation &&
           a->fused.residual == b->fused.residual &&
           (a->fused.activation == KN_OP_COUNT || memcmp(&a->fused.act, &b->fused.act, sizeof a->fused.act) == 0);
}

kn_status kn_pass_cse(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    kn_status st = kn_cse_constants(g, ex, changed, err);
    if (st != KN_OK)
        return st;
    int nn = g->num_nodes, nv = g->num_values;
    int *repl = malloc(sizeof(int) * (size_t)(nv ? nv : 1));
    bool *is_output = kn_cse_outputs(g);
    kn_cse_index index = {0};
    if (!repl || !is_output || !kn_cse_index_init(&index, nn)) {
        free(repl);
        free(is_output);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in cse");
    }
    for (int v = 0; v < nv; v++)
        repl[v] = v;
    bool merged = false;
    /* Nodes are in topological order, so one sweep also merges chains: once
     * b is replaced by a, b's readers read a's outputs and may match too. */
    for (int j = 0; j < nn; j++) {
        kn_node *b = &g->nodes[j];
        if (b->dead)
            continue;
        for (int k = 0; k < b->num_inputs; k++)
            if (b->inputs[k] >= 0)
                b->inputs[k] = repl[b->inputs[k]];
        if (kn_op_get(b->op)->flags & KN_OPF_EFFECT)
            continue;
        uint64_t h = kn_fnv1a_bytes(KN_FNV1A_BASIS, &b->op, sizeof b->op);
        h = kn_fnv1a_bytes(h, b->inputs, sizeof(int) * (size_t)b->num_inputs);
        bool out_is_graph_output = false;
        for (int k = 0; k < b->num_outputs; k++)
            out_is_graph_output |= is_output[b->outputs[k]];
        int i = out_is_graph_output ? -1 : kn_cse_index_first(&index, h);
        while (i >= 0 && !kn_nodes_equal(&g->nodes[i], b))
            i = index.next[i];
        if (i < 0) {
            kn_cse_index_add(&index, h, j);
            continue;
        }
        const kn_node *a = &g->nodes[i];
        b->dead = true;
        for (int k = 0; k < b->num_outputs; k++)
            repl[b->outputs[k]] = a->outputs[k];
        merged = true;
        *changed = true;
        if (ex)
            fprintf(ex, "cse: replaced %s '%s' by identical %s '%s'\n", KN_OPN(b), b->name, KN_OPN(a), a->name);
    }
    if (merged) /* readers that come before their producers, if any */
        kn_cse_apply(g, repl);
    kn_cse_index_free(&index);
    free(repl);
    free(is_output);
    return KN_OK;
}

/* ------------------------------------------------ Transpose and Reshape */

/* The permutation of Transpose `n` for an input of rank `rank` into perm[]. */
static bool kn_transpose_perm(const kn_node *n, int rank, int64_t *perm)
{
    const kn_transpose_attrs *t = &n->attrs.transpose;
    if (t->nperm == 0) {
        for (int d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return true;
    }
    if (t->nperm != rank)
        return false;
    for (int d = 0; d < rank; d++)
        perm[d] = t->perm[d];
    return true;
}

static bool kn_perm_is_identity(const int64_t *perm, int rank)
{
    for (int d = 0; d < rank; d++)
        if (perm[d] != d)
            return false;
    return true;
}

/* Transpose `n` (t2) reading another Transpose (t1): cancel or merge. */
static bool kn_cancel_transpose(kn_edit *e, kn_node *n, FILE *ex)
{
    kn_graph *g = e->g;
    int y = n->inputs[0];
    int rank = g->values[y].shape.rank;
    int64_t p2[KN_MAX_RANK], p1[KN_MAX_RANK], q[KN_MAX_RANK];
    if (!kn_transpose_perm(n, rank, p2))
        return false;
    int pid = g->values[y].producer;
    if (pid < 0 || g->nodes[pid].dead || g->nodes[pid].op != KN_OP_TRANSPOSE) {
        /* A Transpose that keeps every dimension in place copies its input. */
        if (!kn_perm_is_identity(p2, rank))
            return false;
        kn_edit_kill(e, n);
        if (!kn_edit_forward(e, n->outputs[0], y)) {
            kn_edit_revive(e, n);
            return false;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: removed Transpose '%s': its permutation is the identity\n", n->name);
        return true;
    }
    kn_node *t1 = &g->nodes[pid];
    int x = t1->inputs[0];
    if (!kn_transpose_perm(t1, rank, p1))
        return false;
    for (int j = 0; j < rank; j++)
        q[j] = p1[p2[j]];
    if (kn_perm_is_identity(q, rank)) {
        kn_edit_kill(e, n);
        if (!kn_edit_forward(e, n->outputs[0], x)) {
            kn_edit_revive(e, n);
            return false;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: cancelled Transpose '%s' with Transpose '%s' (inverse permutations)\n",
                    t1->name, n->name);
        return true;
    }
    /* Merging only pays when the first Transpose then disappears. */
    if (kn_edit_readers(e, y) != 1 || kn_value_is_graph_output(g, y))
        return false;
    kn_edit_set_input(e, n, 0, x);
    n->attrs.transpose.nperm = rank;
    for (int j = 0; j < rank; j++)
        n->attrs.transpose.perm[j] = q[j];
    if (ex)
        fprintf(ex, "cancel_pairs: merged Transpose '%s' into Transpose '%s' (one permutation)\n", t1->name, n->name);
    return true;
}

/* Reshape `n` whose output has its input's shape, or that reads another Reshape. */
static kn_status kn_cancel_reshape(kn_edit *e, int id, FILE *ex, bool *done, kn_error *err)
{
    kn_graph *g = e->g;
    kn_node *n = &g->nodes[id];
    int y = n->inputs[0], z = n->outputs[0];
    *done = false;
    if (kn_shape_equal(&g->values[y].shape, &g->values[z].shape)) {
        kn_edit_kill(e, n);
        if (!kn_edit_forward(e, z, y)) {
            kn_edit_revive(e, n);
            return KN_OK;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: removed Reshape '%s': it keeps the shape of its input\n", n->name);
        *done = true;
        return KN_OK;
    }
    int pid = g->values[y].producer;
    if (pid < 0 || g->nodes[pid].dead || g->nodes[pid].op != KN_OP_RESHAPE)
        return KN_OK;
    int x = g->nodes[pid].inputs[0];
    char *t1_name = g->nodes[pid].name;
    if (kn_shape_equal(&g->values[x].shape, &g->values[z].shape)) {
        kn_edit_kill(e, n);
        if (!kn_edit_forward(e, z, x)) {
            kn_edit_revive(e, n);
            return KN_OK;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: cancelled Reshape '%s' with Reshape '%s' (the input's shape comes back)\n",
                    t1_name, n->name);
        *done = true;
        return KN_OK;
    }
    if (kn_edit_readers(e, y) != 1 || kn_value_is_graph_output(g, y))
        return KN_OK;
    /* Reshape x directly. A 0 in the shape copies an input dimension, which
     * would now come from x: then spell the (known) output shape out. */
    int64_t dims[KN_MAX_RANK];
    int count = 0;
    kn_error ignored;
    bool reuse = kn_value_read_ints(g, n->inputs[1], dims, KN_MAX_RANK, &count, &ignored) == KN_OK;
    for (int d = 0; reuse && d < count; d++)
        reuse = dims[d] != 0;
    if (!reuse) {
        const kn_value *vz = &g->values[z];
        kn_shape s = {1, {vz->shape.rank}};
        int64_t *data = kn_xcalloc((size_t)(vz->shape.rank ? vz->shape.rank : 1), sizeof(int64_t));
        char *name = kn_unique_value_name(g, n->name, "_shape");
        if (!data || !name) {
            free(data);
            free(name);
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory in cancel_pairs");
        }
        memcpy(data, vz->shape.dims, sizeof(int64_t) * (size_t)vz->shape.rank);
        int sid;
        kn_status st = kn_graph_add_value(g, name, KN_I64, &s, KN_VALUE_CONST, data, &sid, err);
        free(name);
        if (st != KN_OK) {
            free(data);
            return st;
        }
        g->values[sid].shape_known = true;
        if ((st = kn_edit_grow(e, err)) != KN_OK)
            return st;
        n = &g->nodes[id];
        kn_edit_set_input(e, n, 1, sid);
    }
    kn_edit_set_input(e, n, 0, x);
    if (ex)
        fprintf(ex, "cancel_pairs: merged Reshape '%s' into Reshape '%s'\n", t1_name, n->name);
    *done = true;
    return KN_OK;
}

kn_status kn_pass_cancel_pairs(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    for (int i = 0; st == KN_OK && i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        kn_edit_visit(&e, n);
        if (n->inputs[0] < 0 || !g->values[n->inputs[0]].shape_known)
            continue;
        if (n->op == KN_OP_TRANSPOSE) {
            if (kn_cancel_transpose(&e, n, ex))
                *changed = true;
        } else if (n->op == KN_OP_RESHAPE) {
            bool done = false;
            st = kn_cancel_reshape(&e, i, ex, &done, err);
            *changed |= done;
        }
    }
    kn_edit_end(&e);
    return st;
}

/* ------------------------------------------------------ MatMul + Add */

/* Whether C broadcasts one way onto [m, n] (what Gemm accepts as its C). */
static bool kn_gemm_c_fits(const kn_shape *c, int64_t m, int64_t n)
{
    if (c->rank > 2)
        return false;
    int64_t want[2] = {m, n};
    for (int i = 0; i < c->rank; i++) {
        int64_t d = c->dims[c->rank - 1 - i];
        if (d != 1 && d != want[1 - i])
            return false;
    }
    return true;
}

kn_status kn_pass_matmul_add_to_gemm(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *add = &g->nodes[i];
        if (add->dead)
            continue;
        kn_edit_visit(&e, add);
        if (add->op != KN_OP_ADD || add->fused.activation != KN_OP_COUNT || add->fused.residual >= 0)
            continue;
        for (int s = 0; s < 2; s++) {
            int mm_out = add->inputs[s], c = add->inputs[1 - s];
            int pid = g->values[mm_out].producer;
            if (pid < 0 || c < 0)
                continue;
            kn_node *mm = &g->nodes[pid];
            if (mm->dead || mm->op != KN_OP_MATMUL || mm->fused.activation != KN_OP_COUNT || mm->fused.residual >= 0)
                continue;
            const kn_value *a = &g->values[mm->inputs[0]], *b = &g->values[mm->inputs[1]];
            const kn_value *vc = &g->values[c], *y = &g->values[mm_out], *out = &g->values[add->outputs[0]];
            if (a->shape.rank != 2 || b->shape.rank != 2 || a->dtype != KN_F32 || b->dtype != KN_F32 ||
                vc->dtype != KN_F32 || !kn_shape_equal(&y->shape, &out->shape))
                continue;
            if (!kn_gemm_c_fits(&vc->shape, y->shape.dims[0], y->shape.dims[1]))
                continue;
            if (kn_edit_readers(&e, mm_out) != 1 || kn_value_is_graph_output(g, mm_out)) {
                if (ex)
                    fprintf(ex, "matmul_add_to_gemm: kept MatMul '%s' and Add '%s': the product has other readers\n",
                            mm->name, add->name);
                continue;
            }
            /* The Add's slot becomes the Gemm: A, B and C are all defined before it. */
            int ia = mm->inputs[0], ib = mm->inputs[1];
            char *mm_name = mm->name;
            mm->name = add->name;
            add->name = mm_name;
            kn_edit_kill(&e, mm);
            add->op = KN_OP_GEMM;
            kn_attrs_init(KN_OP_GEMM, &add->attrs);
            kn_edit_set_input(&e, add, 0, ia);
            kn_edit_set_input(&e, add, 1, ib);
            add->num_inputs = 3;
            add->inputs[2] = -1;
            kn_edit_set_input(&e, add, 2, c);
            *changed = true;
            if (ex)
                fprintf(ex, "matmul_add_to_gemm: merged MatMul '%s' and Add '%s' into Gemm '%s'\n", add->name, mm->name,
                        add->name);
            break;
        }
    }
    kn_edit_end(&e);
    return KN_OK;
}

kn_status kn_pass_add_float_const(kn_graph *g, const char *base, const char *suffix, const kn_shape *shape,
                                  float *data, int *id, kn_error *err)
{
    char *name = kn_unique_value_name(g, base, suffix);
    if (!name) {
        free(data);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory adding constant '%s%s'", base, suffix);
    }
    kn_status st = kn_graph_add_value(g, name, KN_F32, shape, KN_VALUE_CONST, data, id, err);
    free(name);
    if (st != KN_OK) {
        free(data);
        return st;
    }
    g->values[*id].shape_known = true;
    return KN_OK;
}

int *kn_pass_count_readers(const kn_graph *g)
{
    int *r = calloc((size_t)(g->num_values ? g->num_values : 1), sizeof *r);
    for (int i = 0; r && i < g->num_nodes; i++)
        for (int k = 0; k < g->nodes[i].num_inputs && !g->nodes[i].dead; k++)
            if (g->nodes[i].inputs[k] >= 0)
                r[g->nodes[i].inputs[k]]++;
    return r;
}

void kn_pass_say(const kn_pass_ctx *ctx, const char *fmt, ...)
{
    if (!ctx || !ctx->explain)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ctx->explain, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->explain);
}
