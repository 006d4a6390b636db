/*
 * simplify.c - graph simplifications: Identity and inference-Dropout
 * removal, common subexpression elimination, cancelling Transpose and
 * Reshape pairs, MatMul + Add into Gemm.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"
#include "pass_util.h"

#define KN_OPN(n) (kn_op_get((n)->op)->name)

/* ------------------------------------------------------------ helpers */

bool kn_value_is_graph_output(const kn_graph *g, int v)
{
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}


int kn_value_node_readers(const kn_graph *g, int v)
{
    int count = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            count += n->inputs[k] == v;
    }
    return count;
}

void kn_replace_uses(kn_graph *g, int from, int to)
{
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] == from)
                n->inputs[k] = to;
    }
}

bool kn_forward_value(kn_graph *g, int b, int a)
{
    if (!kn_value_is_graph_output(g, b)) {
        kn_replace_uses(g, b, a);
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
    kn_replace_uses(g, a, b);
    return true;
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
    default: return false;
    }
}

kn_status kn_pass_remove_identity(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    (void)err;
    FILE *ex = ctx ? ctx->explain : NULL;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead || !kn_is_identity(g, n))
            continue;
        if (n->op == KN_OP_DROPOUT) {
            if (n->num_inputs > 2 && n->inputs[2] >= 0) {
                if (ex)
                    fprintf(ex, "remove_identity: kept Dropout '%s': training_mode is given\n", n->name);
                continue;
            }
            if (n->num_outputs > 1 && n->outputs[1] >= 0 &&
                (kn_value_node_readers(g, n->outputs[1]) > 0 || kn_value_is_graph_output(g, n->outputs[1]))) {
                if (ex)
                    fprintf(ex, "remove_identity: kept Dropout '%s': its mask '%s' is read\n", n->name,
                            g->values[n->outputs[1]].name);
                continue;
            }
        }
        int a = n->inputs[0], b = n->outputs[0];
        if (a < 0 || g->values[a].dtype != g->values[b].dtype)
            continue;
        n->dead = true;
        if (!kn_forward_value(g, b, a)) {
            n->dead = false;
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
    return KN_OK;
}

/* ---------------------------------------------------------------- CSE */

/* Constants up to this size are compared byte for byte for merging. */
#define KN_CSE_CONST_BYTES 4096

static uint64_t kn_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Merge identical small constants (not weights: those stay distinct). */
static kn_status kn_cse_constants(kn_graph *g, FILE *ex, bool *changed, kn_error *err)
{
    int nv = g->num_values;
    uint64_t *hash = kn_xcalloc((size_t)nv, sizeof *hash);
    size_t *bytes = kn_xcalloc((size_t)nv, sizeof *bytes);
    if (!hash || !bytes) {
        free(hash);
        free(bytes);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in cse");
    }
    for (int v = 0; v < nv; v++) {
        const kn_value *val = &g->values[v];
        if (val->kind != KN_VALUE_CONST || !val->data || kn_value_is_graph_output(g, v) ||
            kn_tensor_nbytes(val->dtype, &val->shape, &bytes[v]) != KN_OK || bytes[v] > KN_CSE_CONST_BYTES) {
            bytes[v] = SIZE_MAX;
            continue;
        }
        hash[v] = kn_hash_bytes(val->data, bytes[v], 14695981039346656037ull ^ (uint64_t)val->dtype);
    }
    for (int v = 0; v < nv; v++) {
        if (bytes[v] == SIZE_MAX)
            continue;
        const kn_value *vv = &g->values[v];
        for (int u = 0; u < v; u++) {
            const kn_value *uu = &g->values[u];
            if (bytes[u] != bytes[v] || hash[u] != hash[v] || uu->dtype != vv->dtype ||
                !kn_shape_equal(&uu->shape, &vv->shape) || memcmp(uu->data, vv->data, bytes[v]) != 0)
                continue;
            if (kn_value_node_readers(g, v) == 0)
                break;
            kn_replace_uses(g, v, u);
            bytes[v] = SIZE_MAX;
            *changed = true;
            if (ex)
                fprintf(ex, "cse: merged constant '%s' into identical '%s'\n", vv->name, uu->name);
            break;
        }
    }
    free(hash);
    free(bytes);
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
    int nn = g->num_nodes;
    uint64_t *sig = kn_xcalloc((size_t)(nn ? nn : 1), sizeof *sig);
    if (!sig)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in cse");
    /* Nodes are in topological order, so one sweep also merges chains: once
     * b is replaced by a, b's readers read a's outputs and may match too. */
    for (int j = 0; j < nn; j++) {
        kn_node *b = &g->nodes[j];
        if (b->dead || (kn_op_get(b->op)->flags & KN_OPF_EFFECT))
            continue;
        uint64_t h = kn_hash_bytes(&b->op, sizeof b->op, 14695981039346656037ull);
        h = kn_hash_bytes(b->inputs, sizeof(int) * (size_t)b->num_inputs, h);
        sig[j] = h;
        bool out_is_graph_output = false;
        for (int k = 0; k < b->num_outputs; k++)
            out_is_graph_output |= kn_value_is_graph_output(g, b->outputs[k]);
        if (out_is_graph_output)
            continue;
        for (int i = 0; i < j; i++) {
            const kn_node *a = &g->nodes[i];
            if (a->dead || sig[i] != h || !kn_nodes_equal(a, b))
                continue;
            b->dead = true;
            for (int k = 0; k < b->num_outputs; k++)
                kn_replace_uses(g, b->outputs[k], a->outputs[k]);
            *changed = true;
            if (ex)
                fprintf(ex, "cse: replaced %s '%s' by identical %s '%s'\n", KN_OPN(b), b->name, KN_OPN(a), a->name);
            break;
        }
    }
    free(sig);
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
static bool kn_cancel_transpose(kn_graph *g, kn_node *n, FILE *ex)
{
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
        n->dead = true;
        if (!kn_forward_value(g, n->outputs[0], y)) {
            n->dead = false;
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
        n->dead = true;
        if (!kn_forward_value(g, n->outputs[0], x)) {
            n->dead = false;
            return false;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: cancelled Transpose '%s' with Transpose '%s' (inverse permutations)\n",
                    t1->name, n->name);
        return true;
    }
    /* Merging only pays when the first Transpose then disappears. */
    if (kn_value_node_readers(g, y) != 1 || kn_value_is_graph_output(g, y))
        return false;
    n->inputs[0] = x;
    n->attrs.transpose.nperm = rank;
    for (int j = 0; j < rank; j++)
        n->attrs.transpose.perm[j] = q[j];
    if (ex)
        fprintf(ex, "cancel_pairs: merged Transpose '%s' into Transpose '%s' (one permutation)\n", t1->name, n->name);
    return true;
}

/* Reshape `n` whose output has its input's shape, or that reads another Reshape. */
static kn_status kn_cancel_reshape(kn_graph *g, int id, FILE *ex, bool *done, kn_error *err)
{
    kn_node *n = &g->nodes[id];
    int y = n->inputs[0], z = n->outputs[0];
    *done = false;
    if (kn_shape_equal(&g->values[y].shape, &g->values[z].shape)) {
        n->dead = true;
        if (!kn_forward_value(g, z, y)) {
            n->dead = false;
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
        n->dead = true;
        if (!kn_forward_value(g, z, x)) {
            n->dead = false;
            return KN_OK;
        }
        if (ex)
            fprintf(ex, "cancel_pairs: cancelled Reshape '%s' with Reshape '%s' (the input's shape comes back)\n",
                    t1_name, n->name);
        *done = true;
        return KN_OK;
    }
    if (kn_value_node_readers(g, y) != 1 || kn_value_is_graph_output(g, y))
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
        n = &g->nodes[id];
        n->inputs[1] = sid;
    }
    n->inputs[0] = x;
    if (ex)
        fprintf(ex, "cancel_pairs: merged Reshape '%s' into Reshape '%s'\n", t1_name, n->name);
    *done = true;
    return KN_OK;
}

kn_status kn_pass_cancel_pairs(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead || n->inputs[0] < 0 || !g->values[n->inputs[0]].shape_known)
            continue;
        if (n->op == KN_OP_TRANSPOSE) {
            if (kn_cancel_transpose(g, n, ex))
                *changed = true;
        } else if (n->op == KN_OP_RESHAPE) {
            bool done;
            kn_status st = kn_cancel_reshape(g, i, ex, &done, err);
            if (st != KN_OK)
                return st;
            *changed |= done;
        }
    }
    return KN_OK;
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
    (void)err;
    FILE *ex = ctx ? ctx->explain : NULL;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *add = &g->nodes[i];
        if (add->dead || add->op != KN_OP_ADD || add->fused.activation != KN_OP_COUNT || add->fused.residual >= 0)
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
            if (kn_value_node_readers(g, mm_out) != 1 || kn_value_is_graph_output(g, mm_out)) {
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
            mm->dead = true;
            add->op = KN_OP_GEMM;
            kn_attrs_init(KN_OP_GEMM, &add->attrs);
            add->num_inputs = 3;
            add->inputs[0] = ia;
            add->inputs[1] = ib;
            add->inputs[2] = c;
            *changed = true;
            if (ex)
                fprintf(ex, "matmul_add_to_gemm: merged MatMul '%s' and Add '%s' into Gemm '%s'\n", add->name, mm->name,
                        add->name);
            break;
        }
    }
    return KN_OK;
}
