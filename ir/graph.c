/* graph.c - building, copying, sorting and compacting graphs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

void kn_graph_init(kn_graph *g)
{
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------ name index */

static size_t kn_name_slot(const kn_graph *g, const char *name)
{
    return (size_t)kn_fnv1a(KN_FNV1A_BASIS, name) & (size_t)(g->name_cap - 1);
}

/* Put value `id` in the index (which has room: name_cap > 2 * num_values). */
static void kn_name_insert(kn_graph *g, int id)
{
    size_t mask = (size_t)g->name_cap - 1, at = kn_name_slot(g, g->values[id].name);
    while (g->name_slots[at] >= 0)
        at = (at + 1) & mask;
    g->name_slots[at] = id;
}

/* (Re)build the index for `count` values (at least), all of g's values in it. */
static kn_status kn_name_rebuild(kn_graph *g, int count, kn_error *err)
{
    int cap = 16;
    while (cap / 2 <= count) {
        if (cap > INT_MAX / 2)
            return kn_error_set(err, KN_ERR_OVERFLOW, "graph too large");
        cap *= 2;
    }
    int *slots = malloc(sizeof(int) * (size_t)cap);
    if (!slots)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory indexing %d value names", count);
    for (int i = 0; i < cap; i++)
        slots[i] = -1;
    free(g->name_slots);
    g->name_slots = slots;
    g->name_cap = cap;
    for (int v = 0; v < g->num_values; v++)
        kn_name_insert(g, v);
    return KN_OK;
}

kn_status kn_graph_rename_value(kn_graph *g, int id, const char *name, kn_error *err)
{
    if (id < 0 || id >= g->num_values || !name || !name[0])
        return kn_error_set(err, KN_ERR_INVALID_ARG, "cannot rename value %d", id);
    int other = kn_graph_find_value(g, name);
    if (other == id)
        return KN_OK;
    if (other >= 0)
        return kn_error_set(err, KN_ERR_GRAPH, "value '%s' is defined twice", name);
    char *copy = kn_strdup(name);
    if (!copy)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    free(g->values[id].name);
    g->values[id].name = copy;
    return kn_name_rebuild(g, g->num_values, err); /* the old name's slot may sit in another's probe chain */
}

void kn_graph_free(kn_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->num_values; i++) {
        free(g->values[i].name);
        if (!g->values[i].data_borrowed)
            free(g->values[i].data);
    }
    for (int i = 0; i < g->num_nodes; i++)
        free(g->nodes[i].name);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g->name_slots);
    memset(g, 0, sizeof *g);
}

static kn_status kn_grow(void **array, int *cap, int need, size_t elem, kn_error *err)
{
    if (need <= *cap)
        return KN_OK;
    int ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > (1 << 28))
            return kn_error_set(err, KN_ERR_OVERFLOW, "graph too large (%d entries)", need);
        ncap *= 2;
    }
    size_t bytes;
    if (!kn_size_mul((size_t)ncap, elem, &bytes))
        return kn_error_set(err, KN_ERR_OVERFLOW, "graph too large");
    void *p = realloc(*array, bytes);
    if (!p)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory growing a graph to %d entries", ncap);
    *array = p;
    *cap = ncap;
    return KN_OK;
}

kn_status kn_graph_add_value(kn_graph *g, const char *name, kn_dtype dtype, const kn_shape *shape,
                             kn_value_kind kind, void *data, int *id, kn_error *err)
{
    if (!name || !name[0])
        return kn_error_set(err, KN_ERR_INVALID_ARG, "a value needs a non-empty name");
    if (kn_graph_find_value(g, name) >= 0)
        return kn_error_set(err, KN_ERR_GRAPH, "value '%s' is defined twice", name);
    if (shape && (shape->rank < 0 || shape->rank > KN_MAX_RANK))
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "value '%s' has rank %d; kiln supports up to %d",
                            name, shape ? shape->rank : 0, KN_MAX_RANK);
    /* a copy first: `shape` may point into g->values (a gradient rule passing another value's shape), which
     * kn_grow may move */
    const kn_shape shape_copy = shape ? *shape : (kn_shape){0};
    kn_status st = kn_grow((void **)&g->values, &g->cap_values, g->num_values + 1, sizeof(kn_value), err);
    if (st == KN_OK && g->name_cap / 2 <= g->num_values + 1)
        st = kn_name_rebuild(g, 2 * (g->num_values + 1), err);
    if (st != KN_OK)
        return st;
    kn_value *v = &g->values[g->num_values];
    memset(v, 0, sizeof *v);
    v->name = kn_strdup(name);
    if (!v->name)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    v->dtype = dtype;
    if (shape) {
        v->shape = shape_copy;
        v->shape_known = true;
    }
    v->kind = kind;
    v->producer = -1;
    v->data = data;
    if (id)
        *id = g->num_values;
    g->num_values++;
    kn_name_insert(g, g->num_values - 1);
    return KN_OK;
}

kn_status kn_graph_add_node(kn_graph *g, const char *name, kn_op op, const int *inputs, int num_inputs,
                            const int *outputs, int num_outputs, const kn_attrs *attrs, int *id,
                            kn_error *err)
{
    if (op >= KN_OP_COUNT)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s': unknown op %d", name, (int)op);
    if (num_inputs < 0 || num_inputs > KN_MAX_INPUTS || num_outputs < 0 || num_outputs > KN_MAX_OUTPUTS)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "node '%s' (%s) has %d inputs and %d outputs; kiln allows %d and %d", name,
                            kn_op_get(op)->name, num_inputs, num_outputs, KN_MAX_INPUTS, KN_MAX_OUTPUTS);
    for (int i = 0; i < num_inputs; i++)
        if (inputs[i] < -1 || inputs[i] >= g->num_values)
            return kn_error_set(err, KN_ERR_GRAPH, "node '%s': input %d is not a value", name, i);
    for (int i = 0; i < num_outputs; i++) {
        if (outputs[i] < 0 || outputs[i] >= g->num_values)
            return kn_error_set(err, KN_ERR_GRAPH, "node '%s': output %d is not a value", name, i);
        if (g->values[outputs[i]].producer >= 0)
            return kn_error_set(err, KN_ERR_GRAPH, "value '%s' is produced by two nodes ('%s' and '%s')",
                                g->values[outputs[i]].name,
                                g->nodes[g->values[outputs[i]].producer].name, name);
    }
    kn_status st = kn_grow((void **)&g->nodes, &g->cap_nodes, g->num_nodes + 1, sizeof(kn_node), err);
    if (st != KN_OK)
        return st;
    kn_node *n = &g->nodes[g->num_nodes];
    memset(n, 0, sizeof *n);
    n->name = kn_strdup(name);
    if (!n->name)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    n->op = op;
    n->num_inputs = num_inputs;
    n->num_outputs = num_outputs;
    for (int i = 0; i < num_inputs; i++)
        n->inputs[i] = inputs[i];
    for (int i = 0; i < num_outputs; i++) {
        n->outputs[i] = outputs[i];
        g->values[outputs[i]].producer = g->num_nodes;
    }
    if (attrs)
        n->attrs = *attrs;
    else
        kn_attrs_init(op, &n->attrs);
    n->fused.activation = KN_OP_COUNT;
    n->fused.residual = -1;
    if (id)
        *id = g->num_nodes;
    g->num_nodes++;
    return KN_OK;
}

static kn_status kn_append_id(int **array, int *count, int value, kn_error *err)
{
    int *p = realloc(*array, sizeof(int) * (size_t)(*count + 1));
    if (!p)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    p[(*count)++] = value;
    *array = p;
    return KN_OK;
}

kn_status kn_graph_add_input(kn_graph *g, int value, kn_error *err)
{
    if (value < 0 || value >= g->num_values)
        return kn_error_set(err, KN_ERR_GRAPH, "graph input %d is not a value", value);
    g->values[value].kind = KN_VALUE_INPUT;
    return kn_append_id(&g->inputs, &g->num_inputs, value, err);
}

kn_status kn_graph_add_output(kn_graph *g, int value, kn_error *err)
{
    if (value < 0 || value >= g->num_values)
        return kn_error_set(err, KN_ERR_GRAPH, "graph output %d is not a value", value);
    g->values[value].is_output = true;
    return kn_append_id(&g->outputs, &g->num_outputs, value, err);
}

int kn_graph_find_value(const kn_graph *g, const char *name)
{
    if (!g->name_cap || !name)
        return -1;
    size_t mask = (size_t)g->name_cap - 1;
    for (size_t at = kn_name_slot(g, name); g->name_slots[at] >= 0; at = (at + 1) & mask)
        if (strcmp(g->values[g->name_slots[at]].name, name) == 0)
            return g->name_slots[at];
    return -1;
}

char *kn_unique_value_name(const kn_graph *g, const char *base, const char *suffix)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *name = malloc(len);
    if (!name)
        return NULL;
    snprintf(name, len, "%s%s", base, suffix);
    for (int k = 2; kn_graph_find_value(g, name) >= 0; k++)
        snprintf(name, len, "%s%s_%d", base, suffix, k);
    return name;
}

int kn_graph_value_readers(const kn_graph *g, int id)
{
    int count = g->values[id].is_output ? 1 : 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] == id)
                count++;
    }
    return count;
}

static kn_status kn_graph_copy(const kn_graph *src, kn_graph *dst, bool borrow, kn_error *err)
{
    kn_graph_init(dst);
    kn_status st = KN_ERR_NOMEM;
    dst->name = kn_strdup(src->name ? src->name : "graph");
    dst->values = kn_xcalloc((size_t)src->num_values, sizeof(kn_value));
    dst->nodes = kn_xcalloc((size_t)src->num_nodes, sizeof(kn_node));
    dst->inputs = kn_xcalloc((size_t)src->num_inputs, sizeof(int));
    dst->outputs = kn_xcalloc((size_t)src->num_outputs, sizeof(int));
    if (!dst->name || !dst->values || !dst->nodes || !dst->inputs || !dst->outputs)
        goto fail;
    dst->cap_values = src->num_values;
    dst->cap_nodes = src->num_nodes;
    for (int i = 0; i < src->num_values; i++) {
        const kn_value *s = &src->values[i];
        kn_value *d = &dst->values[i];
        *d = *s;
        d->name = NULL;
        d->data = NULL;
        dst->num_values = i + 1;
        d->name = kn_strdup(s->name);
        if (!d->name)
            goto fail;
        d->data_borrowed = false;
        if (s->data && borrow) {
            d->data = s->data;
            d->data_borrowed = true;
        } else if (s->data) {
            size_t bytes;
            if (kn_tensor_nbytes(s->dtype, &s->shape, &bytes) != KN_OK) {
                st = KN_ERR_OVERFLOW;
                goto fail;
            }
            d->data = malloc(bytes ? bytes : 1);
            if (!d->data)
                goto fail;
            memcpy(d->data, s->data, bytes);
        }
    }
    for (int i = 0; i < src->num_nodes; i++) {
        dst->nodes[i] = src->nodes[i];
        dst->nodes[i].name = NULL;
        dst->num_nodes = i + 1;
        dst->nodes[i].name = kn_strdup(src->nodes[i].name);
        if (!dst->nodes[i].name)
            goto fail;
    }
    if (src->num_inputs)
        memcpy(dst->inputs, src->inputs, sizeof(int) * (size_t)src->num_inputs);
    if (src->num_outputs)
        memcpy(dst->outputs, src->outputs, sizeof(int) * (size_t)src->num_outputs);
    dst->num_inputs = src->num_inputs;
    dst->num_outputs = src->num_outputs;
    dst->variables = src->variables;
    if ((st = kn_name_rebuild(dst, dst->num_values, err)) != KN_OK) {
        kn_graph_free(dst);
        return st;
    }
    return KN_OK;
fail:
    kn_graph_free(dst);
    return kn_error_set(err, st, "out of memory copying graph '%s'", src->name ? src->name : "graph");
}

kn_status kn_graph_clone(const kn_graph *src, kn_graph *dst, kn_error *err)
{
    return kn_graph_copy(src, dst, false, err);
}

kn_status kn_graph_clone_view(const kn_graph *src, kn_graph *dst, kn_error *err)
{
    return kn_graph_copy(src, dst, true, err);
}

kn_status kn_graph_reorder(kn_graph *g, const int *order, kn_error *err)
{
    const int n = g->num_nodes;
    kn_node *sorted = kn_xcalloc((size_t)n, sizeof(kn_node));
    int *new_id = kn_xcalloc((size_t)n, sizeof(int)); /* old index -> new index */
    if (!sorted || !new_id) {
        free(sorted);
        free(new_id);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory ordering the graph");
    }
    for (int i = 0; i < n; i++)
        new_id[i] = -1;
    kn_status st = KN_OK;
    for (int i = 0; i < n && st == KN_OK; i++) {
        if (order[i] < 0 || order[i] >= n || new_id[order[i]] >= 0)
            st = kn_error_set(err, KN_ERR_INVALID_ARG, "kn_graph_reorder: the order is not a permutation");
        else
            new_id[order[i]] = i;
    }
    if (st == KN_OK) {
        for (int i = 0; i < n; i++)
            sorted[i] = g->nodes[order[i]];
        if (n > 0)
            memcpy(g->nodes, sorted, sizeof(kn_node) * (size_t)n);
        for (int v = 0; v < g->num_values; v++)
            if (g->values[v].producer >= 0)
                g->values[v].producer = new_id[g->values[v].producer];
    }
    free(sorted);
    free(new_id);
    return st;
}

/* Min-heap of node indices (the ready nodes), for kn_graph_sort. */
static void kn_heap_push(int *heap, int *size, int v)
{
    int i = (*size)++;
    while (i > 0 && heap[(i - 1) / 2] > v) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = v;
}

static int kn_heap_pop(int *heap, int *size)
{
    int top = heap[0], v = heap[--*size], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *size)
            break;
        if (c + 1 < *size && heap[c + 1] < heap[c])
            c++;
        if (heap[c] >= v)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (*size > 0)
        heap[i] = v;
    return top;
}

/*
 * Kahn's algorithm with the ready nodes in a min-heap of their current
 * index: the smallest-index ready node goes next, so a sorted graph keeps its
 * order and any order is reached in O((nodes + edges) log nodes), even for a
 * graph listed backwards.
 */
kn_status kn_graph_sort(kn_graph *g, kn_error *err)
{
    int n = g->num_nodes, nv = g->num_values;
    size_t edges = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].num_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && g->values[v].producer >= 0)
                edges++;
        }
    int *pending = kn_xcalloc((size_t)n, sizeof(int));      /* inputs not yet produced, per node */
    int *first = kn_xcalloc((size_t)nv + 1, sizeof(int));   /* readers of value v: reader[first[v]..first[v+1]) */
    int *fill = kn_xcalloc((size_t)nv + 1, sizeof(int));
    int *reader = kn_xcalloc(edges, sizeof(int));
    int *heap = kn_xcalloc((size_t)n, sizeof(int));
    int *order = kn_xcalloc((size_t)n, sizeof(int));
    kn_status st = KN_OK;
    if (!pending || !first || !fill || !reader || !heap || !order) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory sorting the graph");
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].num_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && g->values[v].producer >= 0) {
                first[v + 1]++;
                pending[i]++;
            }
        }
    for (int v = 0; v < nv; v++)
        first[v + 1] += first[v];
    memcpy(fill, first, sizeof(int) * (size_t)nv);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].num_inputs; k++) {
            int v = g->nodes[i].inputs[k];
            if (v >= 0 && g->values[v].producer >= 0)
                reader[fill[v]++] = i;
        }
    int ready = 0, count = 0;
    for (int i = 0; i < n; i++)
        if (pending[i] == 0)
            kn_heap_push(heap, &ready, i);
    while (ready > 0) {
        int i = kn_heap_pop(heap, &ready);
        order[count++] = i;
        const kn_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->num_outputs; k++) {
            int v = nd->outputs[k];
            if (v < 0 || g->values[v].producer != i)
                continue;
            for (int e = first[v]; e < first[v + 1]; e++)
                if (--pending[reader[e]] == 0)
                    kn_heap_push(heap, &ready, reader[e]);
        }
    }
    if (count < n) {
        for (int i = 0; i < n; i++)
            if (pending[i] > 0) {
                st = kn_error_set(err, KN_ERR_GRAPH,
                                  "node '%s' (%s) is on a cycle or reads a value produced only on one",
                                  g->nodes[i].name, kn_op_get(g->nodes[i].op)->name);
                break;
            }
        goto done;
    }
    st = kn_graph_reorder(g, order, err);
done:
    free(pending);
    free(first);
    free(fill);
    free(reader);
    free(heap);
    free(order);
    return st;
}

kn_status kn_graph_compact(kn_graph *g, kn_error *err)
{
    int nv = g->num_values;
    int *used = kn_xcalloc((size_t)nv, sizeof(int));
    int *remap = kn_xcalloc((size_t)nv, sizeof(int));
    if (!used || !remap) {
        free(used);
        free(remap);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory compacting the graph");
    }
    /* drop dead nodes, freeing their names */
    int kept = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        if (g->nodes[i].dead) {
            free(g->nodes[i].name);
            continue;
        }
        g->nodes[kept++] = g->nodes[i];
    }
    g->num_nodes = kept;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                used[n->inputs[k]] = 1;
        for (int k = 0; k < n->num_outputs; k++)
            used[n->outputs[k]] = 1;
    }
    for (int i = 0; i < g->num_inputs; i++)
        used[g->inputs[i]] = 1;
    for (int i = 0; i < g->num_outputs; i++)
        used[g->outputs[i]] = 1;
    int nkept = 0;
    for (int v = 0; v < nv; v++) {
        if (!used[v]) {
            free(g->values[v].name);
            if (!g->values[v].data_borrowed)
                free(g->values[v].data);
            remap[v] = -1;
            continue;
        }
        remap[v] = nkept;
        g->values[nkept++] = g->values[v];
    }
    g->num_values = nkept;
    kn_status st = kn_name_rebuild(g, nkept, err);
    if (st != KN_OK) {
        free(used);
        free(remap);
        return st;
    }
    for (int v = 0; v < nkept; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                n->inputs[k] = remap[n->inputs[k]];
        for (int k = 0; k < n->num_outputs; k++) {
            n->outputs[k] = remap[n->outputs[k]];
            g->values[n->outputs[k]].producer = i;
        }
    }
    for (int i = 0; i < g->num_inputs; i++)
        g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->num_outputs; i++)
        g->outputs[i] = remap[g->outputs[i]];
    free(used);
    free(remap);
    return KN_OK;
}
