/*
 * autodiff.c - the training passes: training mode, reverse-mode automatic
 * differentiation, optimizer insertion (see passes.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad.h"
#include "pass_util.h"
#include "passes.h"

/* ------------------------------------------------------------ training mode */

/* A seed per node: the session's seed mixed with the node's name (FNV-1a), so two dropouts draw different masks. */
static uint64_t kn_node_seed(uint64_t seed, const char *name)
{
    return kn_fnv1a(KN_FNV1A_BASIS ^ seed, name);
}

/* A new intermediate value "<base><suffix>" (unique) of dtype/shape; -1 after an error. */
static int kn_train_value(kn_graph *g, const char *base, const char *suffix, kn_dtype dt, const kn_shape *s,
                          kn_error *err)
{
    char *name = kn_unique_value_name(g, base, suffix);
    int id = -1;
    if (!name) {
        kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        return -1;
    }
    kn_status st = kn_graph_add_value(g, name, dt, s, KN_VALUE_INTERMEDIATE, NULL, &id, err);
    free(name);
    return st == KN_OK ? id : -1;
}

kn_status kn_pass_training_mode(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_train_pass *t = ctx ? ctx->train : NULL;
    if (!t)
        return KN_OK;
    const int step = t->step ? kn_graph_find_value(g, t->step) : -1;
    const int nn = g->num_nodes;
    for (int i = 0; i < nn; i++) {
        kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (n->op == KN_OP_BATCH_NORM) {
            if (g->values[n->inputs[3]].kind == KN_VALUE_CONST && g->values[n->inputs[4]].kind == KN_VALUE_CONST)
                continue; /* a frozen layer's (trainable=false): Keras keeps it in inference mode */
            for (int k = 3; k < 5; k++)
                if (!g->values[n->inputs[k]].data || g->values[n->inputs[k]].kind == KN_VALUE_INTERMEDIATE)
                    return kn_node_error(err, KN_ERR_UNSUPPORTED, n,
                                         "the running statistics must be stored values to train on batch statistics");
            const kn_shape c = {.rank = 1, .dims = {g->values[n->inputs[0]].shape.dims[1]}};
            const int m = kn_train_value(g, n->name, "/batch_mean", KN_F32, &c, err);
            const int s = m < 0 ? -1 : kn_train_value(g, n->name, "/batch_invstd", KN_F32, &c, err);
            if (s < 0)
                return err ? err->status : KN_ERR_NOMEM;
            n = &g->nodes[i];
            for (int k = 3; k < 5; k++) /* BatchNormTrain updates them: they are state, whatever the file said */
                g->values[n->inputs[k]].kind = KN_VALUE_STATE;
            n->op = KN_OP_BATCH_NORM_TRAIN;
            if (t->sync_batch_norm && t->collective && t->collective->size > 1) {
                n->attrs.batch_norm.sync = t->collective;
                n->attrs.batch_norm.deterministic = t->deterministic;
            }
            n->outputs[1] = m;
            n->outputs[2] = s;
            n->num_outputs = 3;
            g->values[m].producer = g->values[s].producer = i;
        } else if (n->op == KN_OP_DROPOUT) {
            if (step < 0)
                return kn_node_error(err, KN_ERR_GRAPH, n, "training needs the step input '%s'",
                                     t->step ? t->step : "(none)");
            if (n->num_outputs > 1 && n->outputs[1] >= 0 && kn_graph_value_readers(g, n->outputs[1]) > 0)
                return kn_node_error(err, KN_ERR_UNSUPPORTED, n, "its mask output is read: not supported in training");
            const float ratio = n->attrs.scalar.ratio;
            const int mask = kn_train_value(g, n->name, "/mask", KN_BOOL, &g->values[n->inputs[0]].shape, err);
            if (mask < 0)
                return err ? err->status : KN_ERR_NOMEM;
            n = &g->nodes[i];
            n->op = KN_OP_DROPOUT_TRAIN;
            kn_attrs_init(KN_OP_DROPOUT_TRAIN, &n->attrs);
            n->attrs.dropout.ratio = ratio;
            n->attrs.dropout.seed = kn_node_seed(t->seed, n->name);
            n->inputs[1] = step;
            n->num_inputs = 2;
            const int first = t->first_sample ? kn_graph_find_value(g, t->first_sample) : -1;
            if (first >= 0) { /* a rank's shard: the global batch's mask */
                n->inputs[2] = first;
                n->num_inputs = 3;
            }
            n->outputs[1] = mask;
            n->num_outputs = 2;
            g->values[mask].producer = i;
        } else {
            continue;
        }
        if ((n = &g->nodes[i]) && kn_node_infer_shape(g, n, err) != KN_OK)
            return err ? err->status : KN_ERR_SHAPE;
        *changed = true;
        if (ctx->explain)
            fprintf(ctx->explain, "training_mode: %s '%s' runs in training mode (%s)\n",
                    n->op == KN_OP_DROPOUT_TRAIN ? "Dropout" : "BatchNormalization", n->name,
                    n->op == KN_OP_DROPOUT_TRAIN ? "a seeded mask each step" : "batch statistics");
    }
    return KN_OK;
}

/* ------------------------------------------------------------ autodiff */

/* Gradient contributions of each value, summed when it is read more than once. */
typedef struct kn_grads {
    int *sum;      /* per value: the accumulated gradient so far, or -1 */
} kn_grads;

/* Add contribution d to value v's gradient (an Add node when there is one already). */
static kn_status kn_grad_accumulate(kn_grad_ctx *c, kn_grads *gr, int v, int d)
{
    if (d < 0)
        return c->st;
    if (gr->sum[v] < 0) {
        gr->sum[v] = d;
        return c->st;
    }
    /* "A value read by several nodes gets its gradients summed" */
    gr->sum[v] = kn_grad_op(c, KN_OP_ADD, NULL, gr->sum[v], d, -1);
    return c->st;
}

kn_status kn_pass_autodiff(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_train_pass *t = ctx ? ctx->train : NULL;
    if (!t)
        return KN_OK;
    const int loss = t->loss ? kn_graph_find_value(g, t->loss) : -1;
    if (loss < 0)
        return kn_error_set(err, KN_ERR_GRAPH, "autodiff: no loss value '%s'", t->loss ? t->loss : "(none)");
    size_t ln;
    if (g->values[loss].dtype != KN_F32 || kn_shape_numel(&g->values[loss].shape, &ln) != KN_OK || ln != 1)
        return kn_error_set(err, KN_ERR_SHAPE, "autodiff: the loss '%s' is not one float32 value", g->values[loss].name);
    const int nv0 = g->num_values, nn0 = g->num_nodes;
    bool *on_path = kn_xcalloc((size_t)nv0, sizeof(bool)), *reaches = kn_xcalloc((size_t)nv0, sizeof(bool));
    kn_grads gr = {kn_xcalloc((size_t)nv0 + 1, sizeof(int))};
    char *missing = NULL;
    kn_status st = KN_OK;
    if (!on_path || !reaches || !gr.sum) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory in autodiff");
        goto done;
    }
    /* values a trained weight influences (forward), and those that influence the loss (backward) */
    for (int v = 0; v < nv0; v++) {
        const kn_value *val = &g->values[v];
        on_path[v] = val->kind == KN_VALUE_PARAM && val->data && val->model >= 0 && val->model < 64 &&
                     ((t->update_models >> val->model) & 1);
        gr.sum[v] = -1;
    }
    for (int i = 0; i < nn0; i++) {
        const kn_node *n = &g->nodes[i];
        bool any = false;
        for (int k = 0; !n->dead && k < n->num_inputs; k++)
            any |= n->inputs[k] >= 0 && on_path[n->inputs[k]];
        for (int k = 0; any && k < n->num_outputs; k++)
            if (n->outputs[k] >= 0)
                on_path[n->outputs[k]] = true;
    }
    reaches[loss] = true;
    for (int i = nn0 - 1; i >= 0; i--) {
        const kn_node *n = &g->nodes[i];
        bool any = false;
        for (int k = 0; !n->dead && k < n->num_outputs; k++)
            any |= n->outputs[k] >= 0 && reaches[n->outputs[k]];
        for (int k = 0; any && k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                reaches[n->inputs[k]] = true;
    }
    kn_grad_ctx c = {.g = g, .st = KN_OK, .err = err};
    memset(&c.fwd, 0, sizeof c.fwd);
    c.fwd.name = (char *)g->values[loss].name;
    gr.sum[loss] = kn_grad_scalar(&c, 1.0f); /* d loss / d loss */
    if (gr.sum[loss] >= 0) {
        kn_shape ls = g->values[loss].shape;
        gr.sum[loss] = kn_grad_reshape_to(&c, gr.sum[loss], &ls);
    }
    /* every node between a trained weight and the loss needs a rule that covers it: name all that lack one, at once */
    size_t missing_len = 0, missing_cap = 0;
    int nmissing = 0, nodes_before = g->num_nodes;
    for (int i = 0; i < nn0; i++) {
        const kn_node *n = &g->nodes[i];
        bool out = false, in = false;
        for (int k = 0; !n->dead && k < n->num_outputs; k++)
            out |= n->outputs[k] >= 0 && reaches[n->outputs[k]];
        for (int k = 0; out && k < n->num_inputs; k++)
            in |= n->inputs[k] >= 0 && on_path[n->inputs[k]] && reaches[n->inputs[k]];
        char why[160];
        if (!in || !kn_grad_refusal(g, n, why, sizeof why))
            continue;
        char line[460];
        int len = snprintf(line, sizeof line, "%snode '%s' (%s)", nmissing ? ", " : "", n->name, why);
        len = len < 0 ? 0 : len >= (int)sizeof line ? (int)sizeof line - 1 : len; /* a long name is cut */
        if (missing_len + (size_t)len + 1 > missing_cap) {
            size_t cap = missing_cap ? missing_cap * 2 : 512;
            while (cap < missing_len + (size_t)len + 1)
                cap *= 2;
            char *m = realloc(missing, cap);
            if (!m) {
                st = kn_error_set(err, KN_ERR_NOMEM, "out of memory in autodiff");
                goto done;
            }
            missing = m;
            missing_cap = cap;
        }
        memcpy(missing + missing_len, line, (size_t)len + 1);
        missing_len += (size_t)len;
        nmissing++;
    }
    if (nmissing) {
        st = kn_error_set(err, KN_ERR_UNSUPPORTED, "no gradient rule for %d node%s between the weights and the loss: %s",
                          nmissing, nmissing == 1 ? "" : "s", missing);
        goto done;
    }
    /* reverse topological order over the forward nodes: every reader of a value is done before its producer */
    for (int i = nn0 - 1; i >= 0 && c.st == KN_OK; i--) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool has_dy = false, needs = false;
        for (int k = 0; k < n->num_outputs; k++)
            has_dy |= n->outputs[k] >= 0 && n->outputs[k] < nv0 && gr.sum[n->outputs[k]] >= 0;
        for (int k = 0; k < n->num_inputs; k++)
            needs |= n->inputs[k] >= 0 && on_path[n->inputs[k]] && reaches[n->inputs[k]];
        if (!has_dy || !needs)
            continue;
        c.fwd = *n;
        c.count = 0;
        for (int k = 0; k < KN_MAX_OUTPUTS; k++)
            c.dy[k] = k < n->num_outputs && n->outputs[k] >= 0 && n->outputs[k] < nv0 ? gr.sum[n->outputs[k]] : -1;
        for (int k = 0; k < KN_MAX_INPUTS; k++) {
            c.need[k] = k < n->num_inputs && n->inputs[k] >= 0 && on_path[n->inputs[k]] && reaches[n->inputs[k]];
            c.dx[k] = -1;
        }
        if (kn_op_get(n->op)->grad(&c) != KN_OK)
            break;
        for (int k = 0; k < c.fwd.num_inputs && c.st == KN_OK; k++)
            if (c.need[k] && c.dx[k] >= 0)
                kn_grad_accumulate(&c, &gr, c.fwd.inputs[k], c.dx[k]);
    }
    if (c.st != KN_OK) {
        st = c.st;
        goto done;
    }
    /* the gradient of every trained weight the loss depends on */
    free(t->params);
    free(t->grads);
    t->params = t->grads = NULL;
    t->num_params = 0;
    int count = 0;
    for (int v = 0; v < nv0; v++)
        count += g->values[v].kind == KN_VALUE_PARAM && on_path[v] && reaches[v] && gr.sum[v] >= 0;
    t->params = kn_xcalloc((size_t)(count ? count : 1), sizeof(int));
    t->grads = kn_xcalloc((size_t)(count ? count : 1), sizeof(int));
    if (!t->params || !t->grads) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory in autodiff");
        goto done;
    }
    for (int v = 0; v < nv0; v++)
        if (g->values[v].kind == KN_VALUE_PARAM && on_path[v] && reaches[v] && gr.sum[v] >= 0) {
            t->params[t->num_params] = v;
            t->grads[t->num_params++] = gr.sum[v];
        }
    *changed = true;
    if (ctx->explain)
        fprintf(ctx->explain, "autodiff: gradients of %d weights of the loss '%s' (%d backward nodes)\n", t->num_params,
                g->values[loss].name, g->num_nodes - nodes_before);
done:
    free(on_path);
    free(reaches);
    free(gr.sum);
    free(missing);
    return st;
}

/* ------------------------------------------------------------ optimizer */

/* A gradient and the node that finishes it, for ordering the gradients as the backward pass finishes them. */
typedef struct kn_sync_item {
    int producer, k;
} kn_sync_item;

static int kn_sync_cmp(const void *a, const void *b)
{
    const kn_sync_item *x = a, *y = b;
    return x->producer != y->producer ? (x->producer < y->producer ? -1 : 1) : (x->k < y->k ? -1 : x->k > y->k);
}

/*
 * Data-parallel gradients: buckets of gradients in the order the backward pass finishes them, each a
 * GradSyncStart (moved to right after the node that finishes its last gradient, so that its reduction overlaps
 * the rest of the backward pass) and a GradSyncWait (after every other node, before the updates), whose outputs
 * replace t->grads.
 */
static kn_status kn_grad_sync(kn_graph *g, kn_train_pass *t, kn_error *err)
{
    const int scale = t->grad_scale ? kn_graph_find_value(g, t->grad_scale) : -1;
    if (scale < 0)
        return kn_error_set(err, KN_ERR_GRAPH, "data-parallel training needs the gradient scale input '%s'",
                            t->grad_scale ? t->grad_scale : "(none)");
    const int n0 = g->num_nodes, np = t->num_params;
    const size_t cap = t->bucket_bytes ? t->bucket_bytes : (size_t)1 << 20;
    kn_sync_item *items = kn_xcalloc((size_t)np, sizeof *items);
    int *by = kn_xcalloc((size_t)np, sizeof(int)), *starts = kn_xcalloc((size_t)np, sizeof(int)); /* per bucket */
    int *order = NULL;
    kn_status st = KN_OK;
    if (!items || !by || !starts) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < np; k++)
        items[k] = (kn_sync_item){g->values[t->grads[k]].producer, k};
    qsort(items, (size_t)np, sizeof *items, kn_sync_cmp);
    for (int k = 0; k < np; k++)
        by[k] = items[k].k;
    kn_attrs a;
    kn_attrs_init(KN_OP_GRAD_SYNC_START, &a);
    a.grad_sync.comm = t->collective;
    a.grad_sync.deterministic = t->deterministic;
    t->num_buckets = 0;
    t->sync_bytes = 0;
    for (int lo = 0; lo < np && st == KN_OK;) {
        int hi = lo, in[KN_MAX_INPUTS] = {scale}, out[KN_MAX_OUTPUTS];
        size_t bytes = 0;
        while (hi < np && hi - lo < KN_MAX_OUTPUTS && (hi == lo || bytes < cap)) {
            size_t e;
            if (kn_shape_numel(&g->values[t->grads[by[hi]]].shape, &e) != KN_OK || !kn_size_mul(e, 4, &e) ||
                !kn_size_add(bytes, e, &bytes)) {
                st = kn_error_set(err, KN_ERR_OVERFLOW, "gradient '%s' is too large", g->values[t->grads[by[hi]]].name);
                goto done;
            }
            in[1 + hi - lo] = t->grads[by[hi]];
            hi++;
        }
        char name[64];
        snprintf(name, sizeof name, "grad_sync%d", t->num_buckets);
        const int bucket = kn_train_value(g, name, "/bucket", KN_F32, &(kn_shape){.rank = 1, .dims = {1}}, err);
        int id;
        if (bucket < 0 || kn_graph_add_node(g, name, KN_OP_GRAD_SYNC_START, in, 1 + hi - lo, &bucket, 1, &a, &id,
                                            err) != KN_OK ||
            kn_node_infer_shape(g, &g->nodes[id], err) != KN_OK) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
        starts[t->num_buckets++] = id;
        for (int k = lo; k < hi; k++) {
            kn_value *gv = &g->values[t->grads[by[k]]];
            const kn_shape s = gv->shape;
            char base[300];
            snprintf(base, sizeof base, "%s", gv->name);
            if ((out[k - lo] = kn_train_value(g, base, "/avg", KN_F32, &s, err)) < 0) {
                st = err ? err->status : KN_ERR_NOMEM;
                goto done;
            }
        }
        snprintf(name, sizeof name, "grad_sync%d/wait", t->num_buckets - 1);
        if (kn_graph_add_node(g, name, KN_OP_GRAD_SYNC_WAIT, &bucket, 1, out, hi - lo, &a, &id, err) != KN_OK ||
            kn_node_infer_shape(g, &g->nodes[id], err) != KN_OK) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
        for (int k = lo; k < hi; k++)
            t->grads[by[k]] = out[k - lo];
        t->sync_bytes += bytes;
        lo = hi;
    }
    /* each start right after the last producer of its gradients (or first, when none has one) */
    const int n1 = g->num_nodes;
    if (!(order = kn_xcalloc((size_t)n1, sizeof(int)))) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    int at = 0, b = 0;
    for (int i = -1; i < n0; i++) {
        if (i >= 0)
            order[at++] = i;
        for (; b < t->num_buckets; b++) {
            const kn_node *s = &g->nodes[starts[b]];
            int last = -1;
            for (int k = 1; k < s->num_inputs; k++)
                last = g->values[s->inputs[k]].producer > last ? g->values[s->inputs[k]].producer : last;
            if (last != i)
                break;
            order[at++] = starts[b];
        }
    }
    for (int i = n0; i < n1; i++)
        if (g->nodes[i].op != KN_OP_GRAD_SYNC_START)
            order[at++] = i;
    st = at == n1 ? kn_graph_reorder(g, order, err)
                  : kn_error_set(err, KN_ERR_GRAPH, "data-parallel buckets: gradients out of order");
done:
    free(items);
    free(by);
    free(starts);
    free(order);
    return st;
}

/* A zero-filled STATE value "<param><suffix>" of param's shape (optimizer moments), of param's model. */
static int kn_state_like(kn_graph *g, int param, const char *suffix, kn_error *err)
{
    const kn_value *p = &g->values[param];
    size_t n;
    if (kn_shape_numel(&p->shape, &n) != KN_OK)
        return kn_error_set(err, KN_ERR_OVERFLOW, "weight '%s' is too large", p->name), -1;
    float *data = calloc(n ? n : 1, sizeof(float));
    char *name = kn_unique_value_name(g, p->name, suffix);
    int id = -1;
    if (!data || !name) {
        free(data);
        free(name);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for optimizer state"), -1;
    }
    const kn_shape s = p->shape;
    const int model = p->model;
    if (kn_graph_add_value(g, name, KN_F32, &s, KN_VALUE_STATE, data, &id, err) != KN_OK) {
        free(data);
        id = -1;
    } else {
        g->values[id].model = model;
    }
    free(name);
    return id;
}

kn_status kn_pass_optimizer(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_train_pass *t = ctx ? ctx->train : NULL;
    if (!t || t->num_params == 0)
        return KN_OK;
    const int step = t->step ? kn_graph_find_value(g, t->step) : -1;
    const int scale = t->lr_scale ? kn_graph_find_value(g, t->lr_scale) : -1;
    const kn_op op = t->optimizer;
    if (op != KN_OP_SGD_UPDATE && op != KN_OP_MOMENTUM_UPDATE && op != KN_OP_ADAM_UPDATE &&
        op != KN_OP_RMSPROP_UPDATE)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "optimizer: unknown update op");
    if (op == KN_OP_ADAM_UPDATE && step < 0)
        return kn_error_set(err, KN_ERR_GRAPH, "optimizer: Adam needs the step input '%s'", t->step ? t->step : "");
    for (int k = 0; k < t->num_params; k++) {
        const int w = t->params[k];
        /* the gradient takes its weight's name, "<w>:grad" (when it is no other weight's too), so that it can be
         * found and inspected (kn_train_options.keep_gradients) */
        kn_value *gv = &g->values[t->grads[k]];
        if (gv->kind == KN_VALUE_INTERMEDIATE && !strstr(gv->name, ":grad")) {
            char *name = kn_unique_value_name(g, g->values[w].name, ":grad");
            if (!name)
                return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
            kn_status st = kn_graph_rename_value(g, t->grads[k], name, err);
            free(name);
            if (st != KN_OK)
                return st;
        }
    }
    if (t->collective && t->collective->size > 1) {
        kn_status st = kn_grad_sync(g, t, err);
        if (st != KN_OK)
            return st;
    }
    for (int k = 0; k < t->num_params; k++) {
        const int w = t->params[k];
        int in[6] = {w, t->grads[k], -1, -1, -1, -1}, nin = 2;
        if (op == KN_OP_MOMENTUM_UPDATE || op == KN_OP_RMSPROP_UPDATE) {
            if ((in[2] = kn_state_like(g, w, op == KN_OP_RMSPROP_UPDATE ? "/mean_square" : "/velocity", err)) < 0)
                return err ? err->status : KN_ERR_NOMEM;
            nin = 3;
        } else if (op == KN_OP_ADAM_UPDATE) {
            if ((in[2] = kn_state_like(g, w, "/m", err)) < 0 || (in[3] = kn_state_like(g, w, "/v", err)) < 0)
                return err ? err->status : KN_ERR_NOMEM;
            in[4] = step;
            nin = 5;
        }
        if (scale >= 0)
            in[nin++] = scale;
        char name[320];
        snprintf(name, sizeof name, "%s/update", g->values[w].name);
        kn_attrs a;
        kn_attrs_init(op, &a);
        a.optim = t->optim;
        int id;
        kn_status st = kn_graph_add_node(g, name, op, in, nin, NULL, 0, &a, &id, err);
        if (st == KN_OK)
            st = kn_node_infer_shape(g, &g->nodes[id], err);
        if (st != KN_OK)
            return st;
    }
    *changed = true;
    if (ctx->explain)
        fprintf(ctx->explain, "optimizer: %d %s updates\n", t->num_params, kn_op_get(op)->name);
    return KN_OK;
}
