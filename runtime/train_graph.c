/*
 * train_graph.c - the forward graph of one step of a spec's train block:
 * the models of every loss term applied to their sources, the losses and
 * their sum (see train_internal.h). The training pipeline (autodiff and
 * optimizer) then turns it into a training graph.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

typedef struct kn_tg {
    kn_graph *g;
    const kn_spec *spec;
    const kn_graph *models;   /* [spec->num_models], built (kn_spec_build_graph); an empty graph when unused */
    int64_t batch;
    int *applied;             /* per model: applications so far (names) */
    int images, labels, noise;
    int shared;               /* KN_SHARE_READ: the input standing for share_model(noise), -1 until made */
    kn_error *err;
} kn_tg;

/* A new value of g (name printf-formatted); -1 and err set on failure. */
static int kn_tg_value(kn_tg *t, kn_dtype dt, const kn_shape *s, kn_value_kind kind, void *data, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int kn_tg_value(kn_tg *t, kn_dtype dt, const kn_shape *s, kn_value_kind kind, void *data, const char *fmt, ...)
{
    char name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int id;
    if (kn_graph_add_value(t->g, name, dt, s, kind, data, &id, t->err) != KN_OK) {
        free(data);
        return -1;
    }
    return id;
}

/* A graph input of the step (images, labels, noise): [batch] + dims. */
static int kn_tg_input(kn_tg *t, const char *name, kn_dtype dt, const kn_shape *item)
{
    kn_shape s = {.rank = item ? item->rank + 1 : 1};
    s.dims[0] = t->batch;
    for (int i = 0; item && i < item->rank; i++)
        s.dims[1 + i] = item->dims[i];
    int id = kn_tg_value(t, dt, &s, KN_VALUE_INPUT, NULL, "%s", name);
    if (id >= 0 && kn_graph_add_input(t->g, id, t->err) != KN_OK)
        return -1;
    return id;
}

/* The value of g that stands for stored value v of model m: added once, shared by every application. */
static int kn_tg_stored(kn_tg *t, int m, int v)
{
    const kn_graph *mg = &t->models[m];
    const kn_value *src = &mg->values[v];
    size_t bytes;
    if (kn_tensor_nbytes(src->dtype, &src->shape, &bytes) != KN_OK) {
        kn_error_set(t->err, KN_ERR_OVERFLOW, "weight '%s' is too large", src->name);
        return -1;
    }
    void *data = malloc(bytes ? bytes : 1);
    if (!data) {
        kn_error_set(t->err, KN_ERR_NOMEM, "out of memory for weight '%s'", src->name);
        return -1;
    }
    memcpy(data, src->data, bytes);
    int id = kn_tg_value(t, src->dtype, &src->shape, src->kind, data, "%s/%s", t->spec->models[m].name, src->name);
    if (id >= 0)
        t->g->values[id].model = m;
    return id;
}

/*
 * Apply model m to value x: its nodes copied into g, its input replaced by x, its stored values (weights,
 * statistics, constants) shared with every other application of m in this graph. *out: the model's output.
 */
static kn_status kn_tg_apply(kn_tg *t, int m, int x, int *out, int *stored)
{
    const kn_graph *mg = &t->models[m];
    const char *mname = t->spec->models[m].name;
    const int app = ++t->applied[m];
    int *map = kn_xcalloc((size_t)(mg->num_values ? mg->num_values : 1), sizeof(int));
    if (!map)
        return kn_error_set(t->err, KN_ERR_NOMEM, "out of memory");
    kn_status st = KN_OK;
    for (int v = 0; v < mg->num_values; v++)
        map[v] = -1;
    if (mg->num_inputs != 1 || mg->num_outputs != 1) {
        st = kn_error_set(t->err, KN_ERR_GRAPH, "model '%s' must have one input and one output to be trained", mname);
        goto done;
    }
    map[mg->inputs[0]] = x;
    for (int v = 0; v < mg->num_values; v++) {
        const kn_value *src = &mg->values[v];
        if (!kn_value_kind_stored(src->kind))
            continue;
        if (stored[v] < 0 && (stored[v] = kn_tg_stored(t, m, v)) < 0) {
            st = t->err ? t->err->status : KN_ERR_NOMEM;
            goto done;
        }
        map[v] = stored[v];
    }
    for (int i = 0; i < mg->num_nodes; i++) {
        const kn_node *n = &mg->nodes[i];
        if (n->dead)
            continue;
        int in[KN_MAX_INPUTS], outs[KN_MAX_OUTPUTS];
        for (int k = 0; k < n->num_inputs; k++)
            in[k] = n->inputs[k] >= 0 ? map[n->inputs[k]] : -1;
        for (int k = 0; k < n->num_outputs; k++) {
            const int v = n->outputs[k];
            if (v < 0) {
                outs[k] = -1;
                continue;
            }
            if ((outs[k] = kn_tg_value(t, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, "%s@%d/%s", mname, app,
                                       mg->values[v].name)) < 0) {
                st = t->err ? t->err->status : KN_ERR_NOMEM;
                goto done;
            }
            map[v] = outs[k];
        }
        char name[400];
        snprintf(name, sizeof name, "%s@%d/%s", mname, app, n->name);
        int id;
        if ((st = kn_graph_add_node(t->g, name, n->op, in, n->num_inputs, outs, n->num_outputs, &n->attrs, &id,
                                    t->err)) != KN_OK)
            goto done;
        t->g->nodes[id].fused = n->fused;
    }
    *out = map[mg->outputs[0]];
    {
        /* the application's output takes the model's output type and shape, batch bound: the loss builds its
         * targets (ones, zeros, binary labels) in that shape before any pass has run */
        const kn_value *mo = &mg->values[mg->outputs[0]];
        kn_value *o = &t->g->values[*out];
        o->dtype = mo->dtype;
        o->shape = mo->shape;
        for (int d = 0; d < o->shape.rank; d++)
            if (o->shape.dims[d] == KN_DIM_BATCH)
                o->shape.dims[d] = t->batch;
    }
done:
    free(map);
    return st;
}

/* A float32 constant of `s` filled with v (ones, zeros targets). */
static int kn_tg_fill(kn_tg *t, const kn_shape *s, float v, const char *name)
{
    size_t n;
    if (kn_shape_numel(s, &n) != KN_OK)
        return kn_error_set(t->err, KN_ERR_OVERFLOW, "target too large"), -1;
    float *d = malloc(sizeof(float) * (n ? n : 1));
    if (!d)
        return kn_error_set(t->err, KN_ERR_NOMEM, "out of memory"), -1;
    for (size_t i = 0; i < n; i++)
        d[i] = v;
    return kn_tg_value(t, KN_F32, s, KN_VALUE_CONST, d, "%s", name);
}

/* One node with one new output value (named like the node); the output id, or -1. */
static int kn_tg_node(kn_tg *t, const char *name, kn_op op, const kn_attrs *a, int nin, const int *in, int nout)
{
    int outs[2];
    for (int k = 0; k < nout; k++)
        if ((outs[k] = kn_tg_value(t, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, k ? "%s:%d" : "%s", name,
                                   k)) < 0)
            return -1;
    if (kn_graph_add_node(t->g, name, op, in, nin, outs, nout, a, NULL, t->err) != KN_OK)
        return -1;
    return outs[0];
}

/* The producer of value v when it is a single-input `op` node (Softmax, Sigmoid), else NULL. */
static const kn_node *kn_tg_producer(const kn_tg *t, int v, kn_op op)
{
    const int p = t->g->values[v].producer;
    return p >= 0 && t->g->nodes[p].op == op ? &t->g->nodes[p] : NULL;
}

/* The loss of one term on prediction p (loss k of the step). */
static int kn_tg_loss(kn_tg *t, const kn_spec_loss_term *term, int p, int k)
{
    char name[64];
    snprintf(name, sizeof name, "loss/term%d", k);
    kn_graph *g = t->g;
    int target = -1;
    /* the prediction's shape: the last model's output shape with the batch bound */
    kn_shape ps = g->values[p].shape;
    for (int d = 0; d < ps.rank; d++)
        if (ps.dims[d] == KN_DIM_BATCH)
            ps.dims[d] = t->batch;
    switch (term->target) {
    case KN_SPEC_TARGET_LABELS:
        if (term->loss != KN_SPEC_LOSS_CROSS_ENTROPY) { /* binary labels: float, in the prediction's shape */
            kn_attrs a;
            kn_attrs_init(KN_OP_CAST, &a);
            a.dtype.to = KN_F32;
            char cn[160];
            snprintf(cn, sizeof cn, "%s/labels", name);
            int f = kn_tg_node(t, cn, KN_OP_CAST, &a, 1, &t->labels, 1);
            int64_t *shape = malloc(sizeof(int64_t) * (size_t)(ps.rank ? ps.rank : 1));
            if (f < 0 || !shape) {
                free(shape);
                return f < 0 ? -1 : (kn_error_set(t->err, KN_ERR_NOMEM, "out of memory"), -1);
            }
            memcpy(shape, ps.dims, sizeof(int64_t) * (size_t)ps.rank);
            kn_shape ss = {.rank = 1, .dims = {ps.rank}};
            int sv = kn_tg_value(t, KN_I64, &ss, KN_VALUE_CONST, shape, "%s/labels_shape", name);
            snprintf(cn, sizeof cn, "%s/labels_as_prediction", name);
            target = sv < 0 ? -1 : kn_tg_node(t, cn, KN_OP_RESHAPE, NULL, 2, (int[]){f, sv}, 1);
        } else {
            target = t->labels;
        }
        break;
    case KN_SPEC_TARGET_ONES:
    case KN_SPEC_TARGET_ZEROS: {
        char tn[80];
        snprintf(tn, sizeof tn, "%s/%s", name, term->target == KN_SPEC_TARGET_ONES ? "ones" : "zeros");
        target = kn_tg_fill(t, &ps, term->target == KN_SPEC_TARGET_ONES ? 1.0f : 0.0f, tn);
        break;
    }
    case KN_SPEC_TARGET_IMAGES:
        target = t->images;
        break;
    }
    if (target < 0)
        return -1;
    kn_op op;
    int pred = p;
    const kn_node *act;
    switch (term->loss) {
    case KN_SPEC_LOSS_CROSS_ENTROPY:
        op = KN_OP_CROSS_ENTROPY;
        if (term->from_logits) {
            op = KN_OP_SOFTMAX_CROSS_ENTROPY;
        } else if ((act = kn_tg_producer(t, p, KN_OP_SOFTMAX)) &&
                   (act->attrs.axis.axis == -1 || act->attrs.axis.axis == 1)) {
            /* a model ending in Softmax: the stable fused form on its input (Keras does the same) */
            op = KN_OP_SOFTMAX_CROSS_ENTROPY;
            pred = act->inputs[0];
        }
        break;
    case KN_SPEC_LOSS_BINARY_CROSS_ENTROPY:
        op = KN_OP_BINARY_CROSS_ENTROPY;
        if (term->from_logits) {
            op = KN_OP_BCE_WITH_LOGITS;
        } else if ((act = kn_tg_producer(t, p, KN_OP_SIGMOID))) {
            op = KN_OP_BCE_WITH_LOGITS; /* a sigmoid output: on its logits */
            pred = act->inputs[0];
        }
        break;
    default:
        op = KN_OP_MSE_LOSS;
        break;
    }
    kn_attrs a;
    kn_attrs_init(op, &a);
    int l = kn_tg_node(t, name, op, &a, 2, (int[]){pred, target}, op == KN_OP_SOFTMAX_CROSS_ENTROPY ? 2 : 1);
    if (l >= 0 && term->weight != 1.0) {
        float *w = malloc(sizeof *w);
        if (!w)
            return kn_error_set(t->err, KN_ERR_NOMEM, "out of memory"), -1;
        *w = (float)term->weight;
        const kn_shape s0 = {.rank = 0};
        int wv = kn_tg_value(t, KN_F32, &s0, KN_VALUE_CONST, w, "%s/weight", name);
        char wn[80];
        snprintf(wn, sizeof wn, "%s/weighted", name);
        l = wv < 0 ? -1 : kn_tg_node(t, wn, KN_OP_MUL, NULL, 2, (int[]){l, wv}, 1);
    }
    return l;
}

/* The input that stands for model m applied to the noise (KN_SHARE_READ): made at its first use. */
static int kn_tg_shared_input(kn_tg *t, int m)
{
    if (t->shared >= 0)
        return t->shared;
    const kn_value *mo = &t->models[m].values[t->models[m].outputs[0]];
    kn_shape s = mo->shape;
    for (int d = 0; d < s.rank; d++)
        if (s.dims[d] == KN_DIM_BATCH)
            s.dims[d] = t->batch;
    char name[200];
    kn_train_share_name(t->spec, m, name, sizeof name);
    int id = kn_tg_value(t, mo->dtype, &s, KN_VALUE_INPUT, NULL, "%s", name);
    if (id >= 0 && kn_graph_add_input(t->g, id, t->err) != KN_OK)
        return -1;
    return t->shared = id;
}

void kn_train_share_name(const kn_spec *spec, int model, char *out, size_t size)
{
    snprintf(out, size, "%s(noise)", spec->models[model].name);
}

kn_status kn_train_build_graph(const kn_spec *spec, const kn_graph *models, const kn_spec_training *tr, int step,
                               int64_t batch, bool sharded, const kn_train_share *share, kn_graph *g, kn_train_io *io,
                               kn_error *err)
{
    kn_graph_init(g);
    memset(io, 0, sizeof *io);
    io->pred = -1;
    io->share_output = -1;
    int made = -1; /* KN_SHARE_MAKE: the value of share->model(noise) */
    int preds[KN_TRAIN_MAX_PREDS];
    for (int k = 0; k < KN_TRAIN_MAX_PREDS; k++)
        io->pred_output[k] = preds[k] = -1;
    const kn_spec_step *s = &tr->steps[step];
    kn_tg t = {.g = g, .spec = spec, .models = models, .batch = batch, .err = err, .images = -1, .labels = -1,
               .noise = -1, .shared = -1};
    const kn_share_role role = share ? share->role : KN_SHARE_NONE;
    kn_status st = KN_OK;
    int **stored = kn_xcalloc((size_t)spec->num_models, sizeof(int *));
    t.applied = kn_xcalloc((size_t)spec->num_models, sizeof(int));
    g->name = kn_strdup(s->name ? s->name : "train");
    if (!stored || !t.applied || !g->name) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    g->variables = true;
    /* sources: images (and labels) always, so every step's graph takes the same batch; noise when declared */
    if ((t.images = kn_tg_input(&t, "images", KN_F32, &tr->dataset.image_shape)) < 0 ||
        (t.labels = kn_tg_input(&t, "labels", KN_I64, NULL)) < 0 ||
        (tr->has_noise && (t.noise = kn_tg_input(&t, "noise", KN_F32, &tr->noise_shape)) < 0)) {
        st = err ? err->status : KN_ERR_NOMEM;
        goto done;
    }
    {
        const kn_shape s0 = {.rank = 0};
        int step_v = kn_tg_value(&t, KN_I64, &s0, KN_VALUE_INPUT, NULL, "step");
        int scale_v = step_v < 0 ? -1 : kn_tg_value(&t, KN_F32, &s0, KN_VALUE_INPUT, NULL, "lr_scale");
        if (scale_v < 0 || kn_graph_add_input(g, step_v, err) != KN_OK || kn_graph_add_input(g, scale_v, err) != KN_OK) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
        if (sharded) { /* data-parallel: the shard's first sample in the global batch, its share of the batch */
            int first_v = kn_tg_value(&t, KN_I64, &s0, KN_VALUE_INPUT, NULL, "first_sample");
            int share_v = first_v < 0 ? -1 : kn_tg_value(&t, KN_F32, &s0, KN_VALUE_INPUT, NULL, "grad_scale");
            if (share_v < 0 || kn_graph_add_input(g, first_v, err) != KN_OK ||
                kn_graph_add_input(g, share_v, err) != KN_OK) {
                st = err ? err->status : KN_ERR_NOMEM;
                goto done;
            }
        }
    }
    int total = -1;
    for (int k = 0; k < s->num_terms; k++) {
        const kn_spec_loss_term *term = &s->terms[k];
        int cur = term->source == KN_SPEC_SRC_NOISE ? t.noise : t.images;
        int c0 = 0;
        const bool head = term->source == KN_SPEC_SRC_NOISE && term->chain_len > 0 && role != KN_SHARE_NONE &&
                          term->chain[0] == share->model;
        if (head && role == KN_SHARE_READ) { /* the model's output on the noise, computed by the step that trains it */
            if ((cur = kn_tg_shared_input(&t, share->model)) < 0) {
                st = err ? err->status : KN_ERR_NOMEM;
                goto done;
            }
            c0 = 1;
        }
        for (int c = c0; c < term->chain_len && st == KN_OK; c++) {
            const int m = term->chain[c];
            if (!stored[m]) {
                const int nv = models[m].num_values;
                stored[m] = kn_xcalloc((size_t)(nv ? nv : 1), sizeof(int));
                if (!stored[m]) {
                    st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
                    goto done;
                }
                for (int v = 0; v < nv; v++)
                    stored[m][v] = -1;
            }
            st = kn_tg_apply(&t, m, cur, &cur, stored[m]);
            if (st == KN_OK && c == 0 && head && role == KN_SHARE_MAKE)
                made = cur;
        }
        if (st != KN_OK)
            goto done;
        if (k == 0) { /* the first term's prediction: the metrics' */
            io->pred = cur;
            snprintf(io->pred_name, sizeof io->pred_name, "%s", g->values[cur].name);
        }
        if (k < KN_TRAIN_MAX_PREDS)
            preds[k] = cur;
        int l = kn_tg_loss(&t, term, cur, k);
        if (l < 0) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
        char an[64];
        snprintf(an, sizeof an, "loss/sum%d", k);
        total = total < 0 ? l : kn_tg_node(&t, an, KN_OP_ADD, NULL, 2, (int[]){total, l}, 1);
        if (total < 0) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
    }
    if (total < 0) {
        st = kn_error_set(err, KN_ERR_INVALID_ARG, "step '%s' has no loss", s->name ? s->name : "?");
        goto done;
    }
    /* the loss under its own name, and the prediction, are what a step reports */
    {
        int loss = kn_tg_node(&t, "loss", KN_OP_IDENTITY, NULL, 1, &total, 1);
        if (loss < 0 || kn_graph_add_output(g, loss, err) != KN_OK ||
            (io->pred >= 0 && kn_graph_add_output(g, io->pred, err) != KN_OK)) {
            st = err ? err->status : KN_ERR_NOMEM;
            goto done;
        }
        io->pred_output[0] = io->pred >= 0 ? 1 : -1;
        /* the other terms' predictions, each once, when the models computed them (not a source itself) */
        for (int k = 1; k < KN_TRAIN_MAX_PREDS; k++) {
            const int p = preds[k];
            if (p < 0 || g->values[p].is_output || g->values[p].kind == KN_VALUE_INPUT)
                continue;
            if (kn_graph_add_output(g, p, err) != KN_OK) {
                st = err ? err->status : KN_ERR_NOMEM;
                goto done;
            }
            io->pred_output[k] = g->num_outputs - 1;
        }
        /* the shared value last: an output keeps it through the passes, the split makes it the prefix's */
        if (made >= 0) {
            if (g->values[made].is_output) {
                st = kn_error_set(err, KN_ERR_GRAPH, "step '%s': the shared value '%s' is already an output", s->name,
                                  g->values[made].name);
                goto done;
            }
            if ((st = kn_graph_add_output(g, made, err)) != KN_OK)
                goto done;
            io->share_output = g->num_outputs - 1;
        }
    }
    io->has_noise = t.noise >= 0;
    io->update_models = 0;
    for (int k = 0; k < s->num_update; k++) {
        if (s->update[k] < 0 || s->update[k] >= 64) { /* a bit mask of models */
            st = kn_error_set(err, KN_ERR_UNSUPPORTED, "step '%s' updates model %d: a step can train the first 64 "
                              "models of a file only", s->name, s->update[k]);
            goto done;
        }
        io->update_models |= 1ull << s->update[k];
    }
    st = kn_graph_sort(g, err);
done:
    for (int m = 0; stored && m < spec->num_models; m++)
        free(stored[m]);
    free(stored);
    free(t.applied);
    if (st != KN_OK) {
        kn_graph_free(g);
        kn_graph_init(g);
    }
    return st;
}
