/*
 * train.c - the training API of kiln.h: a trainer owns one copy of every
 * variable (trained weights, BatchNorm statistics, optimizer state; the
 * "store", by name) and compiles, at the first batch of each size, one
 * training session per step of the train block (the step's forward graph
 * and loss through the training pipeline) and an evaluation session (the
 * first step's forward graph and loss through the inference pipeline).
 * Every session's variables are bound to the store's buffers before it is
 * compiled, so the optimizer's in-place updates are what every later run,
 * training or evaluation, reads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "passes.h"
#include "runtime_internal.h"
#include "train_internal.h"

/* ------------------------------------------------------------ the store */

kn_var *kn_store_find(const kn_trainer_t *t, const char *key)
{
    for (int i = 0; i < t->num_vars; i++)
        if (strcmp(t->vars[i].key, key) == 0)
            return &t->vars[i];
    return NULL;
}

/*
 * A new variable of the store: `data` itself (own: the store frees it) or a copy of it (!own); *out (may be
 * NULL) points at it until the next variable is added.
 */
static kn_status kn_store_add(kn_trainer_t *t, const char *key, kn_dtype dtype, const kn_shape *shape, size_t bytes,
                              void *data, bool own, bool trained, kn_var **out, kn_error *err)
{
    if (t->num_vars == t->cap_vars) {
        int cap = t->cap_vars ? t->cap_vars * 2 : 64;
        kn_var *p = realloc(t->vars, sizeof *p * (size_t)cap);
        if (!p)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        t->vars = p;
        t->cap_vars = cap;
    }
    kn_var *var = &t->vars[t->num_vars];
    memset(var, 0, sizeof *var);
    var->key = kn_strdup(key);
    if (!var->key)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    var->dtype = dtype;
    var->shape = *shape;
    var->bytes = bytes;
    var->trained = trained;
    var->data = own ? data : malloc(bytes ? bytes : 1);
    if (!var->data) {
        free(var->key);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    if (!own)
        memcpy(var->data, data, bytes);
    t->num_vars++;
    if (out)
        *out = var;
    return KN_OK;
}

/*
 * Bind the variables of graph g (PARAM and STATE values with data) to the store: a value the store has reads
 * the store's buffer (its own data is freed); a new one moves its buffer into the store. `prefix` makes the
 * key from the value's name ("" for graphs whose names are "<model>/..."). `ema`: a value whose moving average
 * the store has ("ema:<key>") reads the average (the evaluation graph).
 */
static kn_status kn_store_bind(kn_trainer_t *t, kn_graph *g, const char *prefix, bool ema, kn_error *err)
{
    for (int v = 0; v < g->num_values; v++) {
        kn_value *val = &g->values[v];
        if (!val->data || (val->kind != KN_VALUE_PARAM && val->kind != KN_VALUE_STATE))
            continue;
        char key[600];
        snprintf(key, sizeof key, "%s%s", prefix, val->name);
        size_t bytes;
        if (kn_tensor_nbytes(val->dtype, &val->shape, &bytes) != KN_OK)
            return kn_error_set(err, KN_ERR_OVERFLOW, "'%s' is too large", val->name);
        char avg_key[610];
        snprintf(avg_key, sizeof avg_key, "ema:%s", key);
        kn_var *var = ema ? kn_store_find(t, avg_key) : NULL;
        if (!var)
            var = kn_store_find(t, key);
        if (var) {
            if (var->dtype != val->dtype || !kn_shape_equal(&var->shape, &val->shape))
                return kn_error_set(err, KN_ERR_GRAPH, "'%s' has another shape in another graph of the training", key);
            if (!val->data_borrowed)
                free(val->data);
            val->data = var->data;
            val->data_borrowed = true;
            continue;
        }
        /* someone else's buffer (borrowed): the store keeps a copy */
        kn_status st = kn_store_add(t, key, val->dtype, &val->shape, bytes, val->data, !val->data_borrowed,
                                    val->kind == KN_VALUE_PARAM, &var, err);
        if (st != KN_OK)
            return st;
        val->data = var->data;
        val->data_borrowed = true;
    }
    return KN_OK;
}

/*
 * Moving averages of every trained model's float32 variables (kn_train_ema): "ema:<key>" starts as a copy of
 * the variable, "ema:updates" counts each model's averaging updates.
 */
static kn_status kn_trainer_ema_init(kn_trainer_t *t, double decay, kn_error *err)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    kn_train_ema *e = &t->ema;
    size_t cap = 0;
    for (int m = 0; m < t->spec.num_models; m++)
        cap += (size_t)t->models[m].num_values;
    e->decay = decay;
    e->num_models = t->spec.num_models;
    e->model = kn_xcalloc(cap ? cap : 1, sizeof *e->model);
    e->live = kn_xcalloc(cap ? cap : 1, sizeof *e->live);
    e->avg = kn_xcalloc(cap ? cap : 1, sizeof *e->avg);
    e->count = kn_xcalloc(cap ? cap : 1, sizeof *e->count);
    int64_t *updates = calloc((size_t)e->num_models, sizeof *updates);
    const kn_shape us = {.rank = 1, .dims = {e->num_models}};
    kn_status st = !e->model || !e->live || !e->avg || !e->count || !updates
                       ? kn_error_set(err, KN_ERR_NOMEM, "out of memory")
                       : kn_store_add(t, "ema:updates", KN_I64, &us, sizeof *updates * (size_t)e->num_models, updates,
                                      true, false, NULL, err);
    if (st != KN_OK) {
        free(updates);
        return st;
    }
    e->updates = updates;
    for (int m = 0; m < t->spec.num_models && st == KN_OK; m++) {
        bool trained = false;
        for (int s = 0; s < tr->num_steps; s++)
            for (int k = 0; k < tr->steps[s].num_update; k++)
                trained |= tr->steps[s].update[k] == m;
        for (int v = 0; trained && v < t->models[m].num_values && st == KN_OK; v++) {
            const kn_value *val = &t->models[m].values[v];
            char key[600], avg_key[610];
            snprintf(key, sizeof key, "%s/%s", t->spec.models[m].name, val->name);
            snprintf(avg_key, sizeof avg_key, "ema:%s", key);
            const kn_var *live = kn_store_find(t, key);
            if (!val->data || (val->kind != KN_VALUE_PARAM && val->kind != KN_VALUE_STATE) || !live ||
                live->dtype != KN_F32)
                continue;
            float *w = live->data;
            const size_t bytes = live->bytes;
            const kn_shape shape = live->shape;
            kn_var *avg = NULL;
            if ((st = kn_store_add(t, avg_key, KN_F32, &shape, bytes, w, false, false, &avg, err)) != KN_OK)
                break;
            e->model[e->num] = m;
            e->live[e->num] = w;
            e->avg[e->num] = avg->data;
            e->count[e->num++] = bytes / sizeof(float);
        }
    }
    return st;
}

/*
 * Data-parallel: rank 0's variables to every rank (all of them, or only those that are not trained: the
 * running statistics, which each rank updates from its own shard). A collective call.
 */
static kn_status kn_trainer_broadcast(kn_trainer_t *t, bool untrained_only, kn_error *err)
{
    kn_status st = KN_OK;
    for (int i = 0; t->comm && i < t->num_vars && st == KN_OK; i++)
        if (!untrained_only || !t->vars[i].trained)
            st = kn_collective_run(t->comm, KN_COLL_BROADCAST, t->vars[i].data, t->vars[i].bytes, KN_U8, err);
    if (st != KN_OK)
        kn_error_prefix(err, "broadcasting rank 0's weights");
    return st;
}

/* ------------------------------------------------------------ sessions */

static kn_op kn_update_op(kn_spec_opt_kind k)
{
    return k == KN_SPEC_OPT_ADAM       ? KN_OP_ADAM_UPDATE
           : k == KN_SPEC_OPT_MOMENTUM ? KN_OP_MOMENTUM_UPDATE
           : k == KN_SPEC_OPT_RMSPROP  ? KN_OP_RMSPROP_UPDATE
                                       : KN_OP_SGD_UPDATE;
}

/* The feed arrays of bs for `outputs` outputs of the shared prefix (kn_batch_sessions). */
static kn_status kn_trainer_feed_alloc(kn_batch_sessions *bs, int outputs, kn_error *err)
{
    const int cap = KN_TRAIN_BATCH_INPUTS + 1 + outputs;
    bs->feed_names = kn_xcalloc((size_t)cap, sizeof(char *));
    bs->fed_names = kn_xcalloc((size_t)cap, sizeof(char *));
    bs->feed_in = kn_xcalloc((size_t)cap, sizeof(kn_tensor));
    bs->fed_in = kn_xcalloc((size_t)cap, sizeof(kn_tensor));
    if (!bs->feed_names || !bs->fed_names || !bs->feed_in || !bs->fed_in)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    bs->feed_cap = cap;
    return KN_OK;
}

static void kn_trainer_feed_free(kn_batch_sessions *bs)
{
    free(bs->feed_names);
    free(bs->fed_names);
    free(bs->feed_in);
    free(bs->fed_in);
    bs->feed_names = bs->fed_names = NULL;
    bs->feed_in = bs->fed_in = NULL;
    bs->feed_cap = 0;
}

/*
 * Compile step `step` (or the evaluation graph) at `batch` into *out. With a shared model(noise), the steps
 * before the one that makes it read it as an input, and that step's graph is split: its prefix into bs->share,
 * the rest into *out.
 */
static kn_status kn_trainer_compile(kn_trainer_t *t, int64_t batch, int step, bool eval, kn_batch_sessions *bs,
                                    kn_session_t **out, kn_error *err)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    kn_graph g;
    kn_train_io io;
    kn_train_share share = {.model = t->share_model, .role = KN_SHARE_NONE};
    if (!eval && t->share_step >= 0)
        share.role = step < t->share_step ? KN_SHARE_READ : step == t->share_step ? KN_SHARE_MAKE : KN_SHARE_NONE;
    kn_status st = kn_train_build_graph(&t->spec, t->models, tr, step, batch, t->comm != NULL, &share, &g, &io, err);
    if (st != KN_OK)
        return st;
    t->io[step] = io;
    kn_pass_ctx ctx = {.verify_each = t->opts.verify_each != 0};
    const kn_spec_step *s = &tr->steps[step];
    kn_train_pass tp = {.loss = "loss", .step = "step", .lr_scale = "lr_scale", .update_models = io.update_models,
                        .optimizer = kn_update_op(s->optimizer.kind), .seed = t->opts.seed,
                        .collective = t->comm, .deterministic = t->opts.deterministic != 0,
                        .sync_batch_norm = t->opts.sync_batch_norm != 0,
                        .bucket_bytes = t->opts.bucket_bytes, .first_sample = "first_sample",
                        .grad_scale = "grad_scale"};
    if (eval) {
        st = kn_passes_run(&g, &ctx, err);
    } else {
        ctx.explain = t->opts.explain;
        ctx.dump_after = t->opts.dump_after;
        ctx.dump_path = t->opts.dump_path;
        ctx.train = &tp;
        tp.optim = (kn_optim_attrs){.lr = (float)s->optimizer.learning_rate,
                                    .weight_decay = (float)s->optimizer.weight_decay,
                                    .momentum = (float)s->optimizer.momentum,
                                    .nesterov = s->optimizer.nesterov,
                                    .beta1 = (float)s->optimizer.beta_1,
                                    .beta2 = (float)s->optimizer.beta_2,
                                    .epsilon = (float)s->optimizer.epsilon,
                                    .rho = (float)s->optimizer.rho};
        int n;
        const kn_pass *pipe = kn_pipeline_training(&n);
        st = kn_passes_run_pipeline(&g, pipe, n, &ctx, err);
        if (batch == t->batch_size) {
            t->sync_bytes[step] = tp.sync_bytes;
            t->sync_buckets[step] = tp.num_buckets;
        }
        kn_train_pass_free(&tp);
    }
    /* gradients and masks as outputs, to be read after the step (kn_trainer_dump_step) */
    for (int v = 0; st == KN_OK && !eval && t->opts.keep_gradients && v < g.num_values; v++) {
        const char *nm = g.values[v].name;
        const size_t l = strlen(nm);
        if (g.values[v].kind == KN_VALUE_INTERMEDIATE && g.values[v].producer >= 0 &&
            ((l > 5 && strcmp(nm + l - 5, ":grad") == 0) || (l > 5 && strcmp(nm + l - 5, "/mask") == 0)))
            st = kn_graph_add_output(&g, v, err);
    }
    if (st == KN_OK)
        st = kn_graph_verify(&g, true, err);
    kn_graph pre;
    kn_graph_init(&pre);
    if (st == KN_OK && share.role == KN_SHARE_MAKE) { /* the prefix that makes model(noise), and the rest */
        kn_graph rest;
        st = kn_train_split(&g, t->share_model, io.share_output, &pre, &rest, err);
        if (st == KN_OK) {
            kn_graph_free(&g);
            g = rest;
            st = kn_store_bind(t, &pre, "", false, err);
        }
        if (st == KN_OK && t->opts.explain)
            fprintf(t->opts.explain, "train: step '%s': %s; its prefix (%d nodes) runs once per batch and hands %d "
                    "values to the rest (%d nodes)\n", s->name, t->share_note, pre.num_nodes, pre.num_outputs,
                    g.num_nodes);
    }
    if (st == KN_OK)
        st = kn_store_bind(t, &g, "", eval, err);
    if (st != KN_OK) {
        kn_graph_free(&g);
        kn_graph_free(&pre);
        kn_error_prefix(err, "%s step '%s'", eval ? "evaluation graph of" : "training graph of", s->name);
        return st;
    }
    kn_options o = {.backend = t->backend, .threads = t->opts.threads, .explain = eval ? NULL : t->opts.explain};
    if (share.role == KN_SHARE_MAKE) {
        const int outputs = pre.num_outputs;
        kn_session_free(bs->share); /* what an earlier, failed compilation of this batch size left */
        bs->share = NULL;
        kn_trainer_feed_free(bs);
        if ((st = kn_session_from_graph(&pre, batch, &o, &bs->share, err)) != KN_OK ||
            (st = kn_trainer_feed_alloc(bs, outputs, err)) != KN_OK) {
            kn_graph_free(&g);
            kn_error_prefix(err, "the shared prefix of step '%s'", s->name);
            return st;
        }
    }
    return kn_session_from_graph(&g, batch, &o, out, err);
}

/* The sessions of batch size b (compiled now, the first time). */
static kn_status kn_trainer_sessions(kn_trainer_t *t, int64_t b, bool eval, kn_batch_sessions **out, kn_error *err)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    kn_batch_sessions *bs = NULL;
    for (int i = 0; i < t->num_sizes; i++)
        if (t->sizes[i].batch == b)
            bs = &t->sizes[i];
    if (!bs) {
        if (t->num_sizes == KN_TRAIN_MAX_SIZES) { /* the oldest size other than the full batch goes */
            int victim = t->sizes[0].batch == t->batch_size ? 1 : 0;
            for (int s = 0; s < KN_TRAIN_MAX_STEPS; s++)
                kn_session_free(t->sizes[victim].step[s]);
            kn_session_free(t->sizes[victim].eval);
            kn_session_free(t->sizes[victim].share);
            kn_trainer_feed_free(&t->sizes[victim]);
            memmove(&t->sizes[victim], &t->sizes[victim + 1], sizeof t->sizes[0] * (size_t)(t->num_sizes - victim - 1));
            t->num_sizes--;
        }
        bs = &t->sizes[t->num_sizes++];
        memset(bs, 0, sizeof *bs);
        bs->batch = b;
    }
    kn_status st = KN_OK;
    if (eval && !bs->eval)
        st = kn_trainer_compile(t, b, 0, true, bs, &bs->eval, err);
    if (!eval && !bs->feed_cap && t->share_step < 0)
        st = kn_trainer_feed_alloc(bs, 0, err);
    for (int s = 0; !eval && s < tr->num_steps && st == KN_OK; s++)
        if (!bs->step[s])
            st = kn_trainer_compile(t, b, s, false, bs, &bs->step[s], err);
    *out = bs;
    return st;
}

/* ------------------------------------------------------------ create */

kn_status kn_trainer_create(const char *path, const kn_train_options *options, kn_trainer_t **out, kn_error *err)
{
    if (!path || !out)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_create: path and trainer are required");
    *out = NULL;
    kn_trainer_t *t = calloc(1, sizeof *t);
    if (!t)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    if (options)
        t->opts = *options;
    t->backend = t->opts.backend ? t->opts.backend : "ref";
    kn_status st = kn_spec_parse_file(path, &t->spec, err);
    if (st != KN_OK)
        goto fail;
    if (!kn_backend_find(t->backend)) {
        st = kn_error_set(err, KN_ERR_NOT_FOUND, "unknown backend '%s' (available: %s)", t->backend, kn_backend_names());
        goto fail;
    }
    if (t->spec.num_trainings == 0) {
        st = kn_error_set(err, KN_ERR_NOT_FOUND, "%s has no train block", path);
        goto fail;
    }
    t->train = 0;
    if (t->opts.train) {
        t->train = -1;
        for (int i = 0; i < t->spec.num_trainings; i++)
            if (strcmp(t->spec.trainings[i].name, t->opts.train) == 0)
                t->train = i;
        if (t->train < 0) {
            st = kn_error_set(err, KN_ERR_NOT_FOUND, "%s has no train block named '%s'", path, t->opts.train);
            goto fail;
        }
    }
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    {
        /* the dataset's files before any graph is compiled: a wrong directory is said at once, at its line */
        char msg[1536];
        const char *dir = t->opts.data_dir ? t->opts.data_dir : tr->dataset.dir;
        if (dir && !t->opts.no_dataset && !kn_spec_dataset_files_ok(&tr->dataset, dir, false, msg, sizeof msg)) {
            st = kn_error_set(err, KN_ERR_IO, "%s:%d:%d: error: %s%s", path, tr->dataset.loc.line, tr->dataset.loc.col,
                              msg, t->opts.data_dir ? " (from --data)" : "");
            goto fail;
        }
    }
    if (tr->num_steps < 1 || tr->num_steps > KN_TRAIN_MAX_STEPS) {
        st = kn_error_set(err, KN_ERR_UNSUPPORTED, "train block '%s' has %d steps (1 to %d)", tr->name, tr->num_steps,
                          KN_TRAIN_MAX_STEPS);
        goto fail;
    }
    t->batch_size = t->opts.batch_size > 0 ? t->opts.batch_size : tr->batch_size;
    if (t->batch_size < 1 || t->batch_size > ((int64_t)1 << 20)) {
        st = kn_error_set(err, KN_ERR_INVALID_ARG, "batch size %lld is not in 1 .. 1048576", (long long)t->batch_size);
        goto fail;
    }
    if ((st = kn_train_check_collective(t->opts.collective, t->batch_size, err)) != KN_OK)
        goto fail;
    t->comm = t->opts.collective && t->opts.collective->size > 1 ? t->opts.collective : NULL;
    if (t->comm && t->opts.sync_batch_norm && strcmp(t->backend, "ref") != 0) {
        /* the statistics are summed over the ranks by the reference BatchNorm kernels (ref_collective.c) */
        st = kn_error_set(err, KN_ERR_UNSUPPORTED, "synchronised BatchNorm runs on the reference backend, not '%s'",
                          t->backend);
        goto fail;
    }
    t->share_model = t->share_step = -1;
    if (!kn_train_share_plan(&t->spec, tr, &t->share_model, &t->share_step, t->share_note, sizeof t->share_note) ||
        t->opts.no_share) {
        if (t->share_step >= 0) /* --no-share */
            snprintf(t->share_note, sizeof t->share_note, "every step computes its own chains (--no-share)");
        t->share_model = t->share_step = -1;
    } else {
        kn_train_share_name(&t->spec, t->share_model, t->share_name, sizeof t->share_name);
    }
    if (t->share_step < 0 && tr->has_noise && t->opts.explain)
        fprintf(t->opts.explain, "train: no shared forward: %s\n", t->share_note);
    t->models = kn_xcalloc((size_t)t->spec.num_models, sizeof(kn_graph));
    if (!t->models) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int m = 0; m < t->spec.num_models; m++)
        kn_graph_init(&t->models[m]);
    for (int m = 0; m < t->spec.num_models; m++)
        if ((st = kn_spec_build_graph(&t->spec, m, &t->models[m], err)) != KN_OK)
            goto fail;
    if (tr->has_noise) {
        size_t n;
        if (kn_shape_numel(&tr->noise_shape, &n) != KN_OK || !kn_size_mul(n, (size_t)t->batch_size, &n)) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "noise too large");
            goto fail;
        }
        t->noise_floats = n;
        if (!(t->noise = malloc(sizeof(float) * (n ? n : 1)))) {
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    /* the full batch's graphs now: a spec or pipeline problem shows before any data is read */
    kn_batch_sessions *bs;
    if ((st = kn_trainer_sessions(t, t->batch_size, false, &bs, err)) != KN_OK)
        goto fail;
    const double decay = t->opts.ema > 0 ? t->opts.ema : t->opts.ema < 0 ? 0.0 : tr->ema;
    if (decay >= 1.0) {
        st = kn_error_set(err, KN_ERR_INVALID_ARG, "the moving average's decay %g is not below 1", decay);
        goto fail;
    }
    if (decay > 0 && (st = kn_trainer_ema_init(t, decay, err)) != KN_OK)
        goto fail;
    if ((st = kn_trainer_broadcast(t, false, err)) != KN_OK) /* every rank starts from rank 0's variables */
        goto fail;
    *out = t;
    return KN_OK;
fail:
    kn_trainer_free(t);
    return st;
}

void kn_trainer_free(kn_trainer_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->num_sizes; i++) {
        for (int s = 0; s < KN_TRAIN_MAX_STEPS; s++)
            kn_session_free(t->sizes[i].step[s]);
        kn_session_free(t->sizes[i].eval);
        kn_session_free(t->sizes[i].share);
        kn_trainer_feed_free(&t->sizes[i]);
    }
    for (int m = 0; t->models && m < t->spec.num_models; m++)
        kn_graph_free(&t->models[m]);
    free(t->models);
    for (int i = 0; i < t->num_vars; i++) {
        free(t->vars[i].key);
        free(t->vars[i].data);
    }
    free(t->vars);
    kn_train_ema_free(&t->ema);
    free(t->noise);
    kn_spec_free(&t->spec);
    free(t);
}

kn_status kn_trainer_info(const kn_trainer_t *t, kn_train_info *info)
{
    if (!t || !info)
        return KN_ERR_INVALID_ARG;
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    memset(info, 0, sizeof *info);
    info->name = tr->name;
    info->batch_size = t->batch_size;
    info->epochs = tr->epochs;
    info->num_steps = tr->num_steps;
    for (int s = 0; s < tr->num_steps && s < 8; s++)
        info->step_names[s] = tr->steps[s].name;
    info->metrics = tr->metrics; /* KN_SPEC_METRIC_* and KN_METRIC_* are the same bits */
    info->shared = t->share_step >= 0 ? t->share_note : NULL;
    info->image_shape = tr->dataset.image_shape;
    info->num_classes = tr->dataset.num_classes;
    info->dataset = kn_spec_dataset_name(tr->dataset.kind);
    info->shuffle = tr->dataset.shuffle;
    info->augment_shift = tr->augment_shift;
    info->cosine = tr->cosine;
    info->ema = t->ema.num ? t->ema.decay : 0.0;
    return KN_OK;
}

void kn_trainer_set_total_steps(kn_trainer_t *t, int64_t total)
{
    if (t)
        t->total_steps = total > 0 ? total : 0;
}

/* The learning rate's scale at the current step (the block's schedule). */
static float kn_trainer_lr_scale(const kn_trainer_t *t)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    if (!tr->cosine || t->total_steps <= 0)
        return 1.0f;
    const double p = t->steps >= t->total_steps ? 1.0 : (double)t->steps / (double)t->total_steps;
    return (float)(tr->cosine_final + (1.0 - tr->cosine_final) * 0.5 * (1.0 + cos(3.141592653589793 * p)));
}

int64_t kn_trainer_steps(const kn_trainer_t *t)
{
    return t ? t->steps : 0;
}

kn_status kn_trainer_load_dataset(const kn_trainer_t *t, bool test, int64_t limit, kn_dataset_t **out, kn_error *err)
{
    if (!t || !out)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_load_dataset: trainer and dataset are required");
    kn_spec_dataset ds = t->spec.trainings[t->train].dataset;
    if (t->opts.data_dir)
        ds.dir = (char *)t->opts.data_dir;
    /* split=test swaps the roles: training on the test split, evaluating on the training split */
    const bool test_split = ds.train_split ? test : !test;
    return kn_dataset_load(&ds, "", test_split, limit, out, err); /* the spec's dir is already relative to the file's */
}

/* ------------------------------------------------------------ batches */

/* n values of the block's noise: value i from a counter-based stream of (seed, counter, first + i), normal
 * (Box-Muller) or uniform (first: a shard's first value in the global batch's noise). */
static void kn_noise_fill(const kn_spec_training *tr, uint64_t seed, uint64_t counter, size_t first, float *out,
                          size_t n)
{
    const double a = tr->noise.a, b = tr->noise.b;
    for (size_t j = 0; j < n; j++) {
        const size_t i = first + j;
        uint64_t z = seed ^ 0x6a09e667f3bcc909ull ^ (counter * 0x9e3779b97f4a7c15ull) ^
                     ((uint64_t)i * 0xd1b54a32d192ed03ull);
        const uint64_t u[2] = {kn_splitmix64(&z), kn_splitmix64(&z)};
        const double u1 = ((double)(u[0] >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        const double u2 = (double)(u[1] >> 11) * (1.0 / 9007199254740992.0);
        out[j] = tr->noise.kind == KN_SPEC_INIT_UNIFORM
                     ? (float)(a + (b - a) * u1)
                     : (float)(a + b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

/* The noise of the current batch (the stream's counter is the step) for samples [first, first + b) of it. */
static void kn_trainer_draw_noise(const kn_trainer_t *t, int64_t first, int64_t b)
{
    const size_t per = t->noise_floats / (size_t)t->batch_size;
    kn_noise_fill(&t->spec.trainings[t->train], t->opts.seed, (uint64_t)t->steps, per * (size_t)first, t->noise,
                  per * (size_t)b);
}

/* The noise input of a batch of b samples (drawn into t->noise by kn_trainer_draw_noise). */
static void kn_trainer_noise_input(const kn_trainer_t *t, int64_t b, kn_tensor *in)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    *in = (kn_tensor){.dtype = KN_F32, .data = t->noise};
    in->shape.rank = tr->noise_shape.rank + 1;
    in->shape.dims[0] = b;
    memcpy(in->shape.dims + 1, tr->noise_shape.dims, sizeof(int64_t) * (size_t)tr->noise_shape.rank);
}

/*
 * This rank's shard of a global batch: rows [B r / N, B (r + 1) / N) of images and labels (views into them), and
 * the index of its first row; the whole batch without a collective.
 */
static kn_status kn_trainer_shard(const kn_trainer_t *t, const kn_tensor *images, const kn_tensor *labels,
                                  kn_tensor *x, kn_tensor *y, int64_t *first, kn_error *err)
{
    *x = *images;
    if (labels)
        *y = *labels;
    *first = 0;
    if (!t->comm)
        return KN_OK;
    const int64_t B = images->shape.dims[0], N = t->comm->size, r = t->comm->rank;
    const int64_t lo = B * r / N, hi = B * (r + 1) / N;
    if (hi <= lo)
        return kn_error_set(err, KN_ERR_SHAPE, "a batch of %lld samples cannot be split over %lld ranks", (long long)B,
                            (long long)N);
    if (labels && (labels->shape.rank < 1 || labels->shape.dims[0] != B))
        return kn_error_set(err, KN_ERR_SHAPE, "%lld labels for %lld images", (long long)labels->shape.dims[0],
                            (long long)B);
    /* a row: the batch's bytes over its rows (the caller's tensors, whose sizes it allocated) */
    size_t xrow, yrow;
    if (kn_tensor_nbytes(images->dtype, &images->shape, &xrow) != KN_OK ||
        (labels && kn_tensor_nbytes(labels->dtype, &labels->shape, &yrow) != KN_OK))
        return kn_error_set(err, KN_ERR_OVERFLOW, "the batch is too large");
    xrow /= (size_t)B;
    x->data = (char *)images->data + (size_t)lo * xrow;
    x->shape.dims[0] = hi - lo;
    if (labels) {
        yrow /= (size_t)B;
        y->data = (char *)labels->data + (size_t)lo * yrow;
        y->shape.dims[0] = hi - lo;
    }
    *first = lo;
    return KN_OK;
}

/* Run session s on those of the count named inputs it has (a graph may have dropped the ones it does not read). */
/* Of the named tensors in[0..count), those session s has as inputs, into fed/fin (room for count); their count. */
static int kn_trainer_fed(const kn_session_t *s, const char *const *names, const kn_tensor *in, int count,
                          const char **fed, kn_tensor *fin)
{
    int nf = 0;
    for (int k = 0; k < count; k++)
        for (int i = 0; i < kn_session_num_inputs(s); i++) {
            kn_io_info io;
            if (kn_session_input(s, i, &io) == KN_OK && strcmp(io.name, names[k]) == 0) {
                fed[nf] = names[k];
                fin[nf++] = in[k];
            }
        }
    return nf;
}

static kn_status kn_trainer_run(kn_session_t *s, const char *const *names, const kn_tensor *in, int count,
                                kn_error *err)
{
    const char *fed[8];
    kn_tensor fin[8];
    const int nf = kn_trainer_fed(s, names, in, count, fed, fin);
    return kn_session_run(s, nf, fed, fin, err);
}

/* Add the metric sums of prediction `pred` (first term of step 0) against the labels / the term's target. */
static void kn_trainer_metrics(const kn_trainer_t *t, const kn_tensor *pred, const kn_tensor *labels, int64_t b,
                               kn_train_report *r)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    const kn_spec_loss_term *term = &tr->steps[0].terms[0];
    const float *p = pred->data;
    size_t n;
    if (kn_shape_numel(&pred->shape, &n) != KN_OK || b <= 0)
        return;
    const int64_t per = (int64_t)n / b;
    const int64_t *l = labels ? labels->data : NULL;
    r->samples += b;
    for (int64_t i = 0; i < b; i++) {
        const float *row = p + i * per;
        if ((tr->metrics & KN_METRIC_ACCURACY) && per > 1 && l) {
            int64_t best = 0;
            for (int64_t c = 1; c < per; c++)
                best = row[c] > row[best] ? c : best;
            r->correct += best == l[i];
        } else if ((tr->metrics & KN_METRIC_BINARY_ACCURACY) && per == 1) {
            const float want = term->target == KN_SPEC_TARGET_ONES ? 1.0f : term->target == KN_SPEC_TARGET_ZEROS ? 0.0f
                               : l ? (float)l[i] : 0.0f;
            r->correct += (row[0] > 0.5f) == (want > 0.5f);
        }
    }
}

/* The step that scores real images and generated ones against 0/1 targets (a GAN's discriminator's), or -1. */
static int kn_trainer_gan_step(const kn_trainer_t *t)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    for (int s = 0; s < tr->num_steps; s++) {
        bool real = false, fake = false;
        for (int k = 0; k < tr->steps[s].num_terms && k < KN_TRAIN_MAX_PREDS; k++) {
            const kn_spec_loss_term *term = &tr->steps[s].terms[k];
            if (term->target != KN_SPEC_TARGET_ONES && term->target != KN_SPEC_TARGET_ZEROS)
                continue;
            real |= term->source == KN_SPEC_SRC_IMAGES;
            fake |= term->source == KN_SPEC_SRC_NOISE;
        }
        if (real && fake)
            return s;
    }
    return -1;
}

/* Count step s's right answers on real images and on generated ones (session `run`, batch b) into r. */
static kn_status kn_trainer_real_fake(const kn_trainer_t *t, const kn_session_t *run, int s, int64_t b,
                                      kn_train_report *r, kn_error *err)
{
    const kn_spec_step *step = &t->spec.trainings[t->train].steps[s];
    for (int k = 0; k < step->num_terms && k < KN_TRAIN_MAX_PREDS; k++) {
        const kn_spec_loss_term *term = &step->terms[k];
        const int out = t->io[s].pred_output[k];
        if (out < 0 || (term->target != KN_SPEC_TARGET_ONES && term->target != KN_SPEC_TARGET_ZEROS))
            continue;
        kn_tensor p;
        size_t n;
        kn_status st = kn_session_get_output(run, out, &p, err);
        if (st != KN_OK)
            return st;
        if (p.dtype != KN_F32 || kn_shape_numel(&p.shape, &n) != KN_OK || (int64_t)n != b)
            continue; /* one probability per sample only */
        const bool one = term->target == KN_SPEC_TARGET_ONES, real = term->source == KN_SPEC_SRC_IMAGES;
        int64_t right = 0;
        for (int64_t i = 0; i < b; i++)
            right += (((const float *)p.data)[i] > 0.5f) == one;
        *(real ? &r->real_correct : &r->fake_correct) += right;
        *(real ? &r->real_samples : &r->fake_samples) += b;
    }
    return KN_OK;
}

/*
 * Append `add` (n entries, names prefixed by "<step>: " when `step` is not NULL) to the trainer's profile: one
 * new block of entries and names, as kn_session_profile makes, so that kn_node_times_free releases it.
 */
static kn_status kn_trainer_profile_append(kn_trainer_t *t, const kn_node_time *add, int n, const char *step,
                                           kn_error *err)
{
    const int total = t->prof_n + n;
    size_t bytes = (size_t)total * sizeof(kn_node_time), pre = step ? strlen(step) + 2 : 0;
    for (int i = 0; i < total; i++) {
        const kn_node_time *x = i < t->prof_n ? &t->prof[i] : &add[i - t->prof_n];
        bytes += strlen(x->name) + 1 + (i < t->prof_n ? 0 : pre);
    }
    kn_node_time *out = malloc(bytes > 0 ? bytes : 1);
    if (!out)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    char *names = (char *)(out + total);
    for (int i = 0; i < total; i++) {
        const bool old = i < t->prof_n;
        out[i] = old ? t->prof[i] : add[i - t->prof_n];
        int len = old || !step ? sprintf(names, "%s", out[i].name) : sprintf(names, "%s: %s", step, out[i].name);
        out[i].name = names;
        names += len + 1;
    }
    kn_node_times_free(t->prof);
    t->prof = out;
    t->prof_n = total;
    return KN_OK;
}

/*
 * Run session `run` (of step `label`, NULL: the only one) on the named tensors bs->feed_*[0..count) it has as
 * inputs (timed node by node when profiling).
 */
static kn_status kn_trainer_run_step(kn_trainer_t *t, kn_batch_sessions *bs, kn_session_t *run, const char *label,
                                     int count, kn_error *err)
{
    const int nf = kn_trainer_fed(run, bs->feed_names, bs->feed_in, count, bs->fed_names, bs->fed_in);
    if (!t->profiling)
        return kn_session_run(run, nf, bs->fed_names, bs->fed_in, err);
    kn_node_time *times = NULL;
    int n = 0;
    kn_status st = kn_session_profile(run, nf, bs->fed_names, bs->fed_in, &times, &n, err);
    if (st == KN_OK)
        st = kn_trainer_profile_append(t, times, n, label, err);
    kn_node_times_free(times);
    return st;
}

/*
 * Run the shared prefix of batch sessions bs (KN_TRAIN_BATCH_INPUTS inputs in bs->feed_*) and put its outputs
 * after them: model(noise) under its input name, then every output under its own name. The count fed.
 */
static kn_status kn_trainer_run_share(kn_trainer_t *t, kn_batch_sessions *bs, int *count, kn_error *err)
{
    const char *label = t->share_name;
    kn_status st = kn_trainer_run_step(t, bs, bs->share, label, KN_TRAIN_BATCH_INPUTS, err);
    int n = KN_TRAIN_BATCH_INPUTS;
    for (int o = 0; st == KN_OK && o < kn_session_num_outputs(bs->share); o++) {
        kn_io_info io;
        if ((st = kn_session_output(bs->share, o, &io)) != KN_OK ||
            (st = kn_session_get_output(bs->share, o, &bs->feed_in[n + 1 + o], err)) != KN_OK)
            break;
        bs->feed_names[n + 1 + o] = io.name;
    }
    if (st == KN_OK) {
        bs->feed_names[n] = label; /* the steps before the one that makes it read model(noise) by this name */
        bs->feed_in[n] = bs->feed_in[n + 1];
        *count = n + 1 + kn_session_num_outputs(bs->share);
    }
    return st;
}

kn_status kn_trainer_profile_batch(kn_trainer_t *t, const kn_tensor *images, const kn_tensor *labels,
                                   kn_train_report *report, kn_node_time **times, int *n, kn_error *err)
{
    if (!t || !times || !n)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_profile_batch: trainer, times and n are required");
    *times = NULL;
    *n = 0;
    t->profiling = true;
    kn_status st = kn_trainer_train_batch(t, images, labels, report, err);
    t->profiling = false;
    if (st == KN_OK) {
        *times = t->prof;
        *n = t->prof_n;
    } else {
        kn_node_times_free(t->prof);
    }
    t->prof = NULL;
    t->prof_n = 0;
    return st;
}

kn_status kn_trainer_train_batch(kn_trainer_t *t, const kn_tensor *images, const kn_tensor *labels,
                                 kn_train_report *report, kn_error *err)
{
    kn_train_report local;
    kn_train_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    if (!t || !images || images->dtype != KN_F32 || images->shape.rank < 1)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_train_batch: float32 images are required");
    const int64_t gb = images->shape.dims[0];
    if (gb < 1 || gb > t->batch_size)
        return kn_error_set(err, KN_ERR_SHAPE, "a batch of %lld samples (the batch size is %lld)", (long long)gb,
                            (long long)t->batch_size);
    kn_tensor x, y;
    int64_t first;
    kn_status st = kn_trainer_shard(t, images, labels, &x, &y, &first, err);
    if (st != KN_OK)
        return st;
    const int64_t b = x.shape.dims[0];
    const kn_tensor *lab_in = labels ? &y : NULL;
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    kn_batch_sessions *bs;
    if ((st = kn_trainer_sessions(t, b, false, &bs, err)) != KN_OK)
        return st;
    int64_t *zeros = NULL;
    kn_tensor lab;
    if (labels) {
        lab = y;
    } else { /* no loss reads labels: the input is fed anyway */
        zeros = calloc((size_t)b, sizeof *zeros);
        if (!zeros)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        lab = (kn_tensor){.dtype = KN_I64, .shape = {.rank = 1, .dims = {b}}, .data = zeros};
    }
    r->num_steps = tr->num_steps;
    /* the batch's inputs, the same for every step (the noise drawn once: its stream's counter is the batch) */
    int64_t stepv = t->steps;
    float scale = kn_trainer_lr_scale(t), share = (float)((double)b / (double)gb);
    const kn_tensor in[KN_TRAIN_BATCH_INPUTS] = {x, lab, {.dtype = KN_I64, .shape = {.rank = 0}, .data = &stepv},
                                                 {.dtype = KN_F32, .shape = {.rank = 0}, .data = &scale},
                                                 {.dtype = KN_F32},
                                                 {.dtype = KN_I64, .shape = {.rank = 0}, .data = &first},
                                                 {.dtype = KN_F32, .shape = {.rank = 0}, .data = &share}};
    static const char *const names[KN_TRAIN_BATCH_INPUTS] = {"images", "labels", "step", "lr_scale", "",
                                                              "first_sample", "grad_scale"};
    memcpy(bs->feed_in, in, sizeof in);
    memcpy(bs->feed_names, names, sizeof names);
    if (tr->has_noise) {
        kn_trainer_draw_noise(t, first, b);
        kn_trainer_noise_input(t, b, &bs->feed_in[4]);
        bs->feed_names[4] = "noise";
    }
    int count = KN_TRAIN_BATCH_INPUTS;
    if (bs->share) /* model(noise) once, before the steps that read it */
        st = kn_trainer_run_share(t, bs, &count, err);
    for (int s = 0; s < tr->num_steps && st == KN_OK; s++) {
        if ((st = kn_trainer_run_step(t, bs, bs->step[s], tr->num_steps > 1 ? tr->steps[s].name : NULL, count,
                                      err)) != KN_OK)
            break;
        if (t->ema.num) /* the averages follow this step's optimizer update */
            kn_train_ema_update(&t->ema, t->io[s].update_models);
        kn_tensor loss;
        if ((st = kn_session_get_output(bs->step[s], 0, &loss, err)) != KN_OK)
            break;
        r->loss[s] = *(const float *)loss.data;
        if (s == 0 && kn_session_num_outputs(bs->step[s]) > 1) {
            kn_tensor pred;
            if ((st = kn_session_get_output(bs->step[s], 1, &pred, err)) == KN_OK)
                kn_trainer_metrics(t, &pred, lab_in, b, r);
        }
        if (st == KN_OK && s == kn_trainer_gan_step(t))
            st = kn_trainer_real_fake(t, bs->step[s], s, b, r, err);
    }
    free(zeros);
    if (st == KN_OK && t->comm) { /* the global batch's loss and metrics on every rank */
        t->stats_stale = true;
        st = kn_train_report_reduce(t->comm, r, b, gb, err);
    }
    if (st == KN_OK)
        t->steps++;
    return st;
}

kn_status kn_trainer_evaluate_batch(kn_trainer_t *t, const kn_tensor *images, const kn_tensor *labels,
                                    kn_train_report *r, kn_error *err)
{
    kn_train_report unused;
    if (!r)
        r = &unused;
    memset(r, 0, sizeof *r);
    if (!t || !images || images->dtype != KN_F32 || images->shape.rank < 1)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_evaluate_batch: float32 images are required");
    const int64_t gb = images->shape.dims[0];
    if (gb < 1 || gb > t->batch_size)
        return kn_error_set(err, KN_ERR_SHAPE, "a batch of %lld samples (the batch size is %lld)", (long long)gb,
                            (long long)t->batch_size);
    kn_tensor x, y;
    int64_t first;
    kn_status st = kn_trainer_shard(t, images, labels, &x, &y, &first, err);
    if (st == KN_OK && t->comm && t->stats_stale) { /* every rank evaluates with rank 0's running statistics */
        st = kn_trainer_broadcast(t, true, err);
        t->stats_stale = st != KN_OK;
    }
    if (st != KN_OK)
        return st;
    const int64_t b = x.shape.dims[0];
    kn_batch_sessions *bs;
    if ((st = kn_trainer_sessions(t, b, true, &bs, err)) != KN_OK)
        return st;
    int64_t stepv = t->steps, *zeros = NULL;
    kn_tensor lab;
    if (labels) {
        lab = y;
    } else {
        if (!(zeros = calloc((size_t)b, sizeof *zeros)))
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        lab = (kn_tensor){.dtype = KN_I64, .shape = {.rank = 1, .dims = {b}}, .data = zeros};
    }
    float scale = 1.0f, share = (float)((double)b / (double)gb);
    kn_tensor in[7] = {x, lab, {.dtype = KN_I64, .shape = {.rank = 0}, .data = &stepv},
                       {.dtype = KN_F32, .shape = {.rank = 0}, .data = &scale}, {.dtype = KN_F32},
                       {.dtype = KN_I64, .shape = {.rank = 0}, .data = &first},
                       {.dtype = KN_F32, .shape = {.rank = 0}, .data = &share}};
    const char *names[7] = {"images", "labels", "step", "lr_scale", "", "first_sample", "grad_scale"};
    if (t->io[0].has_noise) {
        kn_trainer_draw_noise(t, first, b);
        kn_trainer_noise_input(t, b, &in[4]);
        names[4] = "noise";
    }
    /* inputs the evaluation graph does not read were dropped with their readers: feed only those it has */
    st = kn_trainer_run(bs->eval, names, in, 7, err);
    kn_tensor loss, pred;
    if (st == KN_OK && (st = kn_session_get_output(bs->eval, 0, &loss, err)) == KN_OK) {
        r->num_steps = 1;
        r->loss[0] = *(const float *)loss.data;
        if (kn_session_num_outputs(bs->eval) > 1 && (st = kn_session_get_output(bs->eval, 1, &pred, err)) == KN_OK)
            kn_trainer_metrics(t, &pred, labels ? &y : NULL, b, r);
        if (st == KN_OK && kn_trainer_gan_step(t) == 0) /* the discriminator's step is the one evaluated */
            st = kn_trainer_real_fake(t, bs->eval, 0, b, r, err);
    }
    free(zeros);
    if (st == KN_OK && t->comm)
        st = kn_train_report_reduce(t->comm, r, b, gb, err);
    return st;
}

/* Write tensor `x` as dir/<name>.npy, '/' in the name as '.'. */
static kn_status kn_dump_npy(const char *dir, const char *name, const char *suffix, const kn_tensor *x, kn_error *err)
{
    char path[1400];
    int n = snprintf(path, sizeof path, "%s/", dir);
    if (n < 0 || n >= (int)sizeof path - 16)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "the directory name is too long: %.60s...", dir);
    for (const char *c = name; *c && n < (int)sizeof path - 16; c++)
        path[n++] = *c == '/' ? '.' : *c == ':' ? '.' : *c;
    snprintf(path + n, sizeof path - (size_t)n, "%s.npy", suffix);
    return kn_npy_write(path, x, err);
}

kn_status kn_trainer_dump_step(kn_trainer_t *t, const kn_tensor *images, const kn_tensor *labels, const char *dir,
                               kn_error *err)
{
    if (!t || !images || !dir)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_dump_step: trainer, images and dir are required");
    kn_status st = kn_dump_npy(dir, "images", "", images, err);
    if (st == KN_OK && labels)
        st = kn_dump_npy(dir, "labels", "", labels, err);
    for (int i = 0; st == KN_OK && i < t->num_vars; i++) {
        kn_tensor x = {.dtype = t->vars[i].dtype, .shape = t->vars[i].shape, .data = t->vars[i].data};
        st = kn_dump_npy(dir, t->vars[i].key, ".before", &x, err);
    }
    if (st == KN_OK)
        st = kn_trainer_train_batch(t, images, labels, NULL, err);
    for (int i = 0; st == KN_OK && i < t->num_vars; i++) {
        kn_tensor x = {.dtype = t->vars[i].dtype, .shape = t->vars[i].shape, .data = t->vars[i].data};
        st = kn_dump_npy(dir, t->vars[i].key, ".after", &x, err);
    }
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    const int64_t b = images->shape.dims[0];
    if (st == KN_OK && t->io[0].has_noise) { /* the batch's noise (every step of a batch draws the same) */
        kn_tensor z;
        kn_trainer_noise_input(t, b, &z);
        st = kn_dump_npy(dir, "noise", "", &z, err);
    }
    /* every step's outputs (loss, predictions, gradients, masks; the step that makes a shared model(noise): its
     * prefix's too); with several steps, "step<k>." first */
    for (int j = 0; j < 2 * tr->num_steps && j < 2 * KN_TRAIN_MAX_STEPS; j++) {
        const int k = j / 2;
        const bool prefix = j % 2 == 1;
        kn_session_t *s = NULL;
        for (int i = 0; i < t->num_sizes && (!prefix || k == t->share_step); i++)
            if (t->sizes[i].batch == b)
                s = prefix ? t->sizes[i].share : t->sizes[i].step[k];
        for (int o = 0; st == KN_OK && s && o < kn_session_num_outputs(s); o++) {
            kn_io_info io;
            kn_tensor x;
            char name[600];
            if ((st = kn_session_output(s, o, &io)) != KN_OK || (st = kn_session_get_output(s, o, &x, err)) != KN_OK)
                break;
            if (tr->num_steps > 1)
                snprintf(name, sizeof name, "step%d/%s", k, io.name);
            else
                snprintf(name, sizeof name, "%s", io.name);
            st = kn_dump_npy(dir, name, "", &x, err);
        }
    }
    return st;
}

kn_status kn_trainer_memory_plan(const kn_trainer_t *t, int step, kn_memory_plan *plan, size_t *persistent,
                                 kn_error *err)
{
    if (!t || !plan || step < KN_TRAIN_SHARED_PREFIX || step >= t->spec.trainings[t->train].num_steps)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_memory_plan: no step %d", step);
    const kn_session_t *s = NULL;
    for (int i = 0; i < t->num_sizes; i++)
        if (t->sizes[i].batch == t->batch_size)
            s = step == KN_TRAIN_SHARED_PREFIX ? t->sizes[i].share : t->sizes[i].step[step];
    if (!s && step == KN_TRAIN_SHARED_PREFIX)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "train block '%s' has no shared prefix (%s)",
                            t->spec.trainings[t->train].name, t->share_note);
    if (!s)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "the training graph of step %d is not compiled", step);
    size_t total = 0;
    for (int i = 0; i < t->num_vars; i++)
        total += t->vars[i].bytes;
    if (persistent)
        *persistent = total;
    return kn_session_memory_plan(s, plan, err);
}

size_t kn_trainer_arena_bytes(const kn_trainer_t *t)
{
    size_t total = 0;
    for (int i = 0; t && i < t->num_sizes; i++) {
        if (t->sizes[i].batch != t->batch_size)
            continue;
        for (int s = KN_TRAIN_SHARED_PREFIX; s < t->spec.trainings[t->train].num_steps; s++) {
            kn_memory_plan plan = {0};
            kn_error err;
            if (kn_trainer_memory_plan(t, s, &plan, NULL, &err) == KN_OK)
                total += plan.arena_bytes;
            kn_memory_plan_free(&plan);
        }
    }
    return total;
}

/* ------------------------------------------------------------ weights: hash, export */

static int kn_var_cmp(const void *a, const void *b)
{
    return strcmp((*(const kn_var *const *)a)->key, (*(const kn_var *const *)b)->key);
}

const kn_var **kn_store_sorted(const kn_trainer_t *t)
{
    const kn_var **p = malloc(sizeof *p * (size_t)(t->num_vars ? t->num_vars : 1));
    for (int i = 0; p && i < t->num_vars; i++)
        p[i] = &t->vars[i];
    if (p)
        qsort(p, (size_t)t->num_vars, sizeof *p, kn_var_cmp);
    return p;
}

uint64_t kn_trainer_weights_hash(const kn_trainer_t *t)
{
    uint64_t h = KN_FNV1A_BASIS;
    const kn_var **v = kn_store_sorted(t);
    for (int i = 0; v && i < t->num_vars; i++) {
        if (!v[i]->trained && strncmp(v[i]->key, "ema:", 4) != 0)
            continue;
        h = kn_fnv1a_bytes(kn_fnv1a(h, v[i]->key), v[i]->data, v[i]->bytes);
    }
    free(v);
    return h;
}

kn_status kn_trainer_model(const kn_trainer_t *t, const char *model, kn_model_t **model_out, kn_error *err)
{
    if (!t || !model_out)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_model: trainer and model are required");
    *model_out = NULL;
    int m = -1;
    if (model) {
        m = kn_spec_find_model(&t->spec, model);
        if (m < 0) {
            char names[512] = "";
            size_t used = 0;
            for (int i = 0; i < t->spec.num_models && used < sizeof names; i++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
                                         t->spec.models[i].name);
            return kn_error_set(err, KN_ERR_NOT_FOUND, "no model named '%s' (models: %s)", model, names);
        }
    } else {
        const kn_spec_step *s = &t->spec.trainings[t->train].steps[0];
        m = s->num_update > 0 ? s->update[0] : 0;
    }
    kn_model_t *out = calloc(1, sizeof *out);
    if (!out)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_status st = kn_graph_clone(&t->models[m], &out->graph, err);
    /* the trained values over the initial ones */
    for (int v = 0; st == KN_OK && v < out->graph.num_values; v++) {
        kn_value *val = &out->graph.values[v];
        if (!val->data || (val->kind != KN_VALUE_PARAM && val->kind != KN_VALUE_STATE))
            continue;
        char key[600];
        snprintf(key, sizeof key, "ema:%s/%s", t->spec.models[m].name, val->name);
        const kn_var *var = kn_store_find(t, key); /* the moving average, when there is one */
        if (!var)
            var = kn_store_find(t, key + 4);
        if (var && var->dtype == val->dtype && kn_shape_equal(&var->shape, &val->shape))
            memcpy(val->data, var->data, var->bytes);
    }
    if (st != KN_OK) {
        kn_model_free(out);
        return st;
    }
    *model_out = out;
    return KN_OK;
}

kn_status kn_trainer_export_onnx(const kn_trainer_t *t, const char *model, const char *path, kn_error *err)
{
    if (!t || !path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_export_onnx: trainer and path are required");
    kn_model_t *out;
    kn_status st = kn_trainer_model(t, model, &out, err);
    if (st == KN_OK)
        st = kn_model_save_onnx(out, path, err);
    kn_model_free(out);
    return st;
}

kn_status kn_trainer_generate(const kn_trainer_t *t, int64_t count, uint64_t seed, kn_tensor *noise_out,
                              kn_tensor *samples_out, kn_error *err)
{
    if (!t || !samples_out || count < 1 || count > 100000)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_generate: between 1 and 100000 samples");
    memset(samples_out, 0, sizeof *samples_out);
    if (noise_out)
        memset(noise_out, 0, sizeof *noise_out);
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    int gen = -1; /* the model the noise goes into first */
    for (int s = 0; s < tr->num_steps && gen < 0; s++)
        for (int k = 0; k < tr->steps[s].num_terms && gen < 0; k++)
            if (tr->steps[s].terms[k].source == KN_SPEC_SRC_NOISE && tr->steps[s].terms[k].chain_len > 0)
                gen = tr->steps[s].terms[k].chain[0];
    if (!tr->has_noise || gen < 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "train block '%s' has no model that reads noise (a generator)",
                            tr->name ? tr->name : "?");
    kn_model_t *m = NULL;
    kn_session_t *s = NULL;
    kn_options opts = {0};
    opts.backend = t->backend;
    opts.batch = count;
    opts.threads = t->opts.threads;
    kn_status st = kn_trainer_model(t, t->spec.models[gen].name, &m, err);
    if (st == KN_OK)
        st = kn_session_create(m, &opts, &s, err);
    kn_model_free(m);
    if (st != KN_OK)
        return st;
    kn_io_info in;
    size_t n = 0;
    float *z = NULL;
    if ((st = kn_session_input(s, 0, &in)) != KN_OK || (st = kn_shape_numel(&in.shape, &n)) != KN_OK)
        st = kn_error_set(err, st, "the generator's input has no usable shape");
    else if (!(z = malloc(sizeof *z * (n ? n : 1))))
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_tensor x = {.dtype = KN_F32, .shape = in.shape, .data = z}, y;
    if (st == KN_OK) {
        kn_noise_fill(tr, seed, UINT64_MAX, 0, z, n); /* a counter no batch uses: the same noise every call */
        if ((st = kn_session_run(s, 1, &in.name, &x, err)) == KN_OK &&
            (st = kn_session_get_output(s, 0, &y, err)) == KN_OK) {
            size_t bytes;
            void *copy = kn_tensor_nbytes(y.dtype, &y.shape, &bytes) == KN_OK ? malloc(bytes ? bytes : 1) : NULL;
            if (!copy) {
                st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
            } else {
                memcpy(copy, y.data, bytes);
                *samples_out = (kn_tensor){.dtype = y.dtype, .shape = y.shape, .data = copy};
            }
        }
    }
    if (st == KN_OK && noise_out) {
        *noise_out = x;
        z = NULL;
    }
    free(z);
    kn_session_free(s);
    return st;
}

int kn_trainer_num_trained(const kn_trainer_t *t, const char **names, int max)
{
    const kn_spec_training *tr = &t->spec.trainings[t->train];
    int n = 0;
    for (int m = 0; m < t->spec.num_models; m++) {
        bool trained = false;
        for (int s = 0; s < tr->num_steps; s++)
            for (int k = 0; k < tr->steps[s].num_update; k++)
                trained |= tr->steps[s].update[k] == m;
        if (!trained)
            continue;
        if (names && n < max)
            names[n] = t->spec.models[m].name;
        n++;
    }
    return n;
}

kn_status kn_trainer_load_checkpoint(kn_trainer_t *t, const char *path, int64_t *epoch, kn_error *err)
{
    if (!t || !path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_load_checkpoint: trainer and path are required");
    if (!t->comm)
        return kn_train_load_file(t, path, epoch, err);
    /* data-parallel: rank 0 reads the file, every rank takes its outcome, step, epoch and variables */
    int64_t head[3] = {KN_OK, 0, 0};
    kn_error local = {0};
    if (t->comm->rank == 0) {
        head[0] = kn_train_load_file(t, path, &head[2], err);
        head[1] = t->steps;
    }
    kn_status st = kn_collective_run(t->comm, KN_COLL_BROADCAST, head, 3, KN_I64, t->comm->rank == 0 ? &local : err);
    if (st == KN_OK && head[0] != KN_OK)
        return t->comm->rank == 0 ? (kn_status)head[0]
                                  : kn_error_set(err, (kn_status)head[0], "rank 0 could not load checkpoint %s", path);
    if (st == KN_OK)
        st = kn_trainer_broadcast(t, false, err);
    if (st != KN_OK)
        return t->comm->rank == 0 && local.message[0] ? kn_error_set(err, st, "%s", local.message) : st;
    t->steps = head[1];
    t->stats_stale = false;
    if (epoch)
        *epoch = head[2];
    return KN_OK;
}

kn_status kn_trainer_rank_hashes(const kn_trainer_t *t, uint64_t *hashes, kn_error *err)
{
    if (!t || !hashes)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_rank_hashes: trainer and hashes are required");
    const int rank = t->comm ? t->comm->rank : 0;
    hashes[rank] = kn_trainer_weights_hash(t);
    return t->comm ? kn_collective_run(t->comm, KN_COLL_GATHER, hashes, 1, KN_I64, err) : KN_OK;
}

kn_status kn_trainer_save_weights(const kn_trainer_t *t, const char *dir, kn_error *err)
{
    if (!t || !dir)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_save_weights: trainer and dir are required");
    kn_status st = KN_OK;
    for (int i = 0; i < t->num_vars && st == KN_OK; i++) {
        if (!t->vars[i].trained)
            continue;
        kn_tensor x = {.dtype = t->vars[i].dtype, .shape = t->vars[i].shape, .data = t->vars[i].data};
        st = kn_dump_npy(dir, t->vars[i].key, "", &x, err);
    }
    return st;
}

void kn_trainer_comm_stats(const kn_trainer_t *t, size_t *bytes, int *buckets)
{
    size_t total = 0;
    int nb = 0;
    for (int s = 0; t && t->comm && s < t->spec.trainings[t->train].num_steps; s++) {
        total += t->sync_bytes[s];
        nb += t->sync_buckets[s];
    }
    if (bytes)
        *bytes = total;
    if (buckets)
        *buckets = nb;
}
