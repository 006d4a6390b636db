/*
 * spec_train.c - checks `train` blocks into kn_spec_training structs:
 * dataset, loss (simple form or an explicit sum of loss terms over chains
 * of models), optimizer with Keras defaults, batch size, epochs, metrics, a
 * latent noise source and training steps that each update a chosen set of
 * models. Training itself is executed elsewhere (not yet).
 */
#include <stdio.h>
#include <string.h>

#include "spec_priv.h"

static const char *const kn_train_keys[] = {"model",  "dataset", "loss",  "optimizer", "batch_size", "epochs",
                                            "metrics", "noise",  "augment", "schedule", "ema", NULL};
static const char *const kn_step_keys[] = {"update", "loss", "optimizer", NULL};
static const char *const kn_loss_names[] = {"cross_entropy", "binary_cross_entropy", "mse", NULL};
static const char *const kn_opt_names[] = {"sgd", "momentum", "adam", "rmsprop", NULL};
static const char *const kn_metric_names[] = {"accuracy", "binary_accuracy", "mse", "mae", NULL};
static const char *const kn_dataset_names[] = {"idx", "cifar10", "synthetic", "npy", "images", NULL};

const char *kn_spec_dataset_name(kn_spec_dataset_kind kind)
{
    return (unsigned)kind <= KN_SPEC_DATA_IMAGES ? kn_dataset_names[kind] : "?";
}
static const char *const kn_split_names[] = {"train", "test", NULL};
static const char *const kn_source_names[] = {"images", "labels", "noise", NULL};
static const char *const kn_target_names[] = {"labels", "ones", "zeros", "images", NULL};

static const char *const kn_loss_hints[] = {
    "bce", "binary_cross_entropy", "binary_crossentropy", "binary_cross_entropy", "BinaryCrossentropy",
    "binary_cross_entropy", "BCELoss", "binary_cross_entropy", "categorical_crossentropy", "cross_entropy",
    "sparse_categorical_crossentropy", "cross_entropy", "SparseCategoricalCrossentropy", "cross_entropy",
    "CrossEntropyLoss", "cross_entropy", "nll", "cross_entropy", "mean_squared_error", "mse", "MSELoss", "mse",
    "l2", "mse", NULL};
static const char *const kn_opt_hints[] = {"SGD", "sgd", "adamw", "adam", "AdamW", "adam", "RMSprop", "rmsprop",
                                           "rms_prop", "rmsprop", NULL};
static const char *const kn_metric_hints[] = {"acc", "accuracy", "sparse_categorical_accuracy", "accuracy",
                                              "categorical_accuracy", "accuracy", "mean_squared_error", "mse",
                                              "mean_absolute_error", "mae", NULL};
static const char *const kn_dataset_hints[] = {"mnist", "idx", "fashion_mnist", "idx", "cifar", "cifar10",
                                               "cifar_10", "cifar10", "random", "synthetic", "numpy",
                                               "npy", "image_folder", "images", "image_dataset_from_directory",
                                               "images", "ImageFolder", "images", "folder", "images", NULL};

/* Named arguments of a call, checked against `keys`; positional ones fill the first `npos` keys. */
typedef struct kn_call_args {
    const kn_ast *values[12];
} kn_call_args;

static bool kn_call_args_get(kn_spec *spec, const kn_ast *call, const char *what, const char *const *keys,
                             const char *const *aliases, int npos, kn_call_args *out)
{
    memset(out, 0, sizeof *out);
    if (call->kind != KN_AST_CALL)
        return true;
    bool ok = true, named_seen = false;
    int pos = 0;
    for (int i = 0; i < call->nargs; i++) {
        const kn_ast_arg *a = &call->args[i];
        int k = -1;
        if (!a->name) {
            if (named_seen) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                            "a positional argument cannot follow named ones; write it as name=value");
                ok = false;
                continue;
            }
            if (pos >= npos) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "%s takes %d positional argument%s; name the others",
                            what, npos, npos == 1 ? "" : "s");
                ok = false;
                continue;
            }
            k = pos++;
        } else {
            named_seen = true;
            for (int j = 0; keys[j]; j++)
                if (strcmp(a->name, keys[j]) == 0 || (aliases && aliases[j] && strcmp(a->name, aliases[j]) == 0))
                    k = j;
            if (k < 0) {
                char hint[96], list[300];
                size_t used = 0;
                list[0] = '\0';
                for (int j = 0; keys[j] && used < sizeof list; j++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", keys[j]);
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "unknown parameter '%s' for %s%s; expected one of: %s",
                            a->name, what, kn_spec_did_you_mean(a->name, keys, hint, sizeof hint), list);
                ok = false;
                continue;
            }
        }
        if (out->values[k]) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name ? a->name_loc : a->value->loc, "parameter '%s' is given twice",
                        keys[k]);
            ok = false;
            continue;
        }
        out->values[k] = a->value;
    }
    return ok;
}

/* A relative path joined with the spec file's directory; leading "./" and "../" fold into it. */
static const char *kn_join_dir(kn_spec *spec, const char *dir)
{
    if (dir[0] == '/' || !spec->name)
        return kn_arena_strdup(spec->arena, dir);
    const char *slash = strrchr(spec->name, '/');
    int base = slash ? (int)(slash - spec->name) : 0; /* length of the spec's directory */
    for (;;) {
        if (strncmp(dir, "./", 2) == 0) {
            dir += 2;
            continue;
        }
        if (strncmp(dir, "../", 3) != 0 || base == 0)
            break;
        int start = base;
        while (start > 0 && spec->name[start - 1] != '/')
            start--;
        if ((base - start == 2 && strncmp(spec->name + start, "..", 2) == 0) ||
            (base - start == 1 && spec->name[start] == '.'))
            break; /* the directory ends in ".." or ".": keep the path as written */
        base = start > 0 ? start - 1 : 0;
        dir += 3;
    }
    if (base == 0)
        return kn_arena_printf(spec->arena, "%s%s", slash && spec->name[0] == '/' && !base ? "/" : "", dir);
    return kn_arena_printf(spec->arena, "%.*s/%s", base, spec->name, dir);
}

static bool kn_check_dataset(kn_spec *spec, const kn_ast *v, kn_spec_dataset *ds)
{
    const char *name = v->kind == KN_AST_STRING ? v->text : kn_ast_call_name(v);
    int kind;
    kn_ast tmp = *v;
    if (v->kind == KN_AST_CALL)
        tmp = *v->callee;
    if (!name) {
        char b[128];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc,
                    "expected a dataset such as idx(\"data/mnist\"), cifar10(\"data/cifar-10\") or synthetic(), got %s",
                    kn_ast_describe(v, b, sizeof b));
        return false;
    }
    if (!kn_spec_get_enum_hinted(spec, &tmp, "dataset", kn_dataset_names, kn_dataset_hints, &kind))
        return false;
    memset(ds, 0, sizeof *ds);
    ds->kind = (kn_spec_dataset_kind)kind;
    ds->loc = tmp.loc;
    ds->train_split = true;
    ds->shuffle = true;
    ds->num_classes = 10;
    ds->samples = 1024;
    ds->range_lo = 0.0;
    ds->range_hi = 1.0;
    ds->image_shape.rank = 3;
    ds->image_shape.dims[0] = kind == KN_SPEC_DATA_CIFAR10 ? 3 : 1;
    ds->image_shape.dims[1] = ds->image_shape.dims[2] = kind == KN_SPEC_DATA_CIFAR10 ? 32 : 28;
    static const char *const idx_keys[] = {"dir", "split", "shape", "classes", "shuffle", "range", NULL};
    static const char *const cifar_keys[] = {"dir", "split", "shuffle", "range", NULL};
    static const char *const syn_keys[] = {"shape", "classes", "samples", "seed", NULL};
    static const char *const img_keys[] = {"dir", "split", "shape", "classes", "shuffle", "range", "validation_split",
                                           NULL};
    const char *const *keys = kind == KN_SPEC_DATA_CIFAR10 ? cifar_keys : kind == KN_SPEC_DATA_SYNTHETIC ? syn_keys
                              : kind == KN_SPEC_DATA_IMAGES ? img_keys : idx_keys;
    ds->validation_split = 0.2;
    kn_call_args args;
    char what[64];
    snprintf(what, sizeof what, "dataset %s", name);
    if (!kn_call_args_get(spec, v, what, keys, NULL, kind == KN_SPEC_DATA_SYNTHETIC ? 0 : 1, &args))
        return false;
    bool ok = true;
    for (int k = 0; keys[k]; k++) {
        const kn_ast *a = args.values[k];
        if (!a)
            continue;
        const char *key = keys[k];
        if (strcmp(key, "dir") == 0) {
            const char *dir;
            if (a->kind != KN_AST_STRING) {
                char b[128];
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->loc, "expected a directory as a string, e.g. \"data/mnist\", got %s",
                            kn_ast_describe(a, b, sizeof b));
                ok = false;
            } else if (kn_spec_get_string(spec, a, key, &dir)) {
                ds->dir = (char *)kn_join_dir(spec, dir);
            }
        } else if (strcmp(key, "split") == 0) {
            int split;
            if (kn_spec_get_enum(spec, a, "split", kn_split_names, &split))
                ds->train_split = split == 0;
            else
                ok = false;
        } else if (strcmp(key, "shape") == 0) {
            int rank;
            if (kn_spec_get_shape(spec, a, "shape", 1, 1 << 16, KN_MAX_RANK - 1, ds->image_shape.dims, &rank)) {
                ds->image_shape.rank = rank;
                ds->shape_given = true;
            } else {
                ok = false;
            }
        } else if (strcmp(key, "validation_split") == 0) {
            ok &= kn_spec_get_float(spec, a, key, 0.0, 0.9, &ds->validation_split);
        } else if (strcmp(key, "classes") == 0) {
            ok &= kn_spec_get_int(spec, a, "classes", 1, 1 << 24, &ds->num_classes);
        } else if (strcmp(key, "samples") == 0) {
            ok &= kn_spec_get_int(spec, a, "samples", 1, (int64_t)1 << 32, &ds->samples);
        } else if (strcmp(key, "seed") == 0) {
            int64_t seed;
            if (kn_spec_get_int(spec, a, "seed", 0, INT64_MAX, &seed))
                ds->seed = (uint64_t)seed;
            else
                ok = false;
        } else if (strcmp(key, "shuffle") == 0) {
            ok &= kn_spec_get_bool(spec, a, "shuffle", &ds->shuffle);
        } else if (strcmp(key, "range") == 0) {
            if (a->kind != KN_AST_TUPLE || a->nargs != 2) {
                char b[128];
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->loc, "range needs two numbers, e.g. range=(-1, 1), got %s",
                            kn_ast_describe(a, b, sizeof b));
                ok = false;
            } else if (kn_spec_get_float(spec, a->args[0].value, "range", -1e6, 1e6, &ds->range_lo) &&
                       kn_spec_get_float(spec, a->args[1].value, "range", -1e6, 1e6, &ds->range_hi)) {
                if (!(ds->range_lo < ds->range_hi)) {
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->loc, "range=(%g, %g): the first must be below the second",
                                ds->range_lo, ds->range_hi);
                    ok = false;
                }
            } else {
                ok = false;
            }
        }
    }
    if (kind != KN_SPEC_DATA_SYNTHETIC && !args.values[0]) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, tmp.loc, "dataset %s needs a directory, e.g. %s(\"data/%s\")", name, name,
                    kind == KN_SPEC_DATA_IDX      ? "mnist"
                    : kind == KN_SPEC_DATA_NPY    ? "my-images"
                    : kind == KN_SPEC_DATA_IMAGES ? "flowers"
                                                  : "cifar-10-batches-bin");
        ok = false;
    }
    if (ok && kind == KN_SPEC_DATA_IMAGES)
        ok = kn_spec_images_classes(spec, args.values[0], args.values[3], ds);
    return ok;
}

static bool kn_check_optimizer(kn_spec *spec, const kn_ast *v, kn_spec_optimizer *opt)
{
    const char *name = v->kind == KN_AST_STRING ? v->text : kn_ast_call_name(v);
    kn_ast tmp = v->kind == KN_AST_CALL ? *v->callee : *v;
    int kind;
    if (!name) {
        char b[128];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected an optimizer such as adam(learning_rate=0.001), got %s",
                    kn_ast_describe(v, b, sizeof b));
        return false;
    }
    if (!kn_spec_get_enum_hinted(spec, &tmp, "optimizer", kn_opt_names, kn_opt_hints, &kind))
        return false;
    memset(opt, 0, sizeof *opt);
    opt->kind = (kn_spec_opt_kind)kind;
    opt->loc = tmp.loc;
    opt->learning_rate = kind == KN_SPEC_OPT_ADAM || kind == KN_SPEC_OPT_RMSPROP ? 0.001 : 0.01;
    opt->rho = 0.9;
    opt->momentum = kind == KN_SPEC_OPT_MOMENTUM ? 0.9 : 0.0;
    opt->beta_1 = 0.9;
    opt->beta_2 = 0.999;
    opt->epsilon = 1e-7;
    static const char *const sgd_keys[] = {"learning_rate", "momentum", "nesterov", "weight_decay", NULL};
    static const char *const sgd_alias[] = {"lr", NULL, NULL, NULL, NULL};
    static const char *const adam_keys[] = {"learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay", NULL};
    static const char *const adam_alias[] = {"lr", "beta1", "beta2", "eps", NULL, NULL};
    /* Keras's RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False) */
    static const char *const rms_keys[] = {"learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay",
                                           NULL};
    static const char *const rms_alias[] = {"lr", "alpha", NULL, "eps", NULL, NULL, NULL};
    bool adam = kind == KN_SPEC_OPT_ADAM, rms = kind == KN_SPEC_OPT_RMSPROP;
    const char *const *keys = adam ? adam_keys : rms ? rms_keys : sgd_keys;
    kn_call_args args;
    char what[64];
    snprintf(what, sizeof what, "optimizer %s", name);
    if (!kn_call_args_get(spec, v, what, keys, adam ? adam_alias : rms ? rms_alias : sgd_alias, 1, &args))
        return false;
    bool ok = true;
    for (int k = 0; keys[k]; k++) {
        const kn_ast *a = args.values[k];
        if (!a)
            continue;
        const char *key = keys[k];
        if (strcmp(key, "learning_rate") == 0)
            ok &= kn_spec_get_float(spec, a, key, 1e-12, 1e3, &opt->learning_rate);
        else if (strcmp(key, "momentum") == 0)
            ok &= kn_spec_get_fraction(spec, a, key, &opt->momentum);
        else if (strcmp(key, "nesterov") == 0)
            ok &= kn_spec_get_bool(spec, a, key, &opt->nesterov);
        else if (strcmp(key, "weight_decay") == 0)
            ok &= kn_spec_get_float(spec, a, key, 0, 1, &opt->weight_decay);
        else if (strcmp(key, "beta_1") == 0)
            ok &= kn_spec_get_fraction(spec, a, key, &opt->beta_1);
        else if (strcmp(key, "beta_2") == 0)
            ok &= kn_spec_get_fraction(spec, a, key, &opt->beta_2);
        else if (strcmp(key, "epsilon") == 0)
            ok &= kn_spec_get_float(spec, a, key, 1e-30, 1, &opt->epsilon);
        else if (strcmp(key, "rho") == 0)
            ok &= kn_spec_get_fraction(spec, a, key, &opt->rho);
        else if (strcmp(key, "centered") == 0) {
            bool centered = false;
            if (kn_spec_get_bool(spec, a, key, &centered) && centered) {
                KN_SPEC_ERR(spec, KN_ERR_UNSUPPORTED, a->loc,
                            "rmsprop(centered=true) is not supported; the nearest kiln has is rmsprop() (uncentered)");
                ok = false;
            }
        }
    }
    if (ok && rms && opt->momentum > 0) {
        KN_SPEC_ERR(spec, KN_ERR_UNSUPPORTED, args.values[2]->loc,
                    "rmsprop(momentum=%g) is not supported; the nearest kiln has is rmsprop() (momentum 0, Keras's "
                    "default) or momentum(...)", opt->momentum);
        ok = false;
    }
    /* Keras spells momentum SGD as SGD(momentum=...) */
    if (ok && opt->kind == KN_SPEC_OPT_SGD && opt->momentum > 0)
        opt->kind = KN_SPEC_OPT_MOMENTUM;
    if (ok && opt->nesterov && opt->momentum == 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, args.values[2]->loc, "nesterov=true needs a momentum above 0");
        ok = false;
    }
    return ok;
}

/* Models a noise/images source passes through: fills term->chain, returns the innermost source. */
static bool kn_check_chain(kn_spec *spec, const kn_ast *v, kn_spec_loss_term *term)
{
    const kn_ast *chain[KN_SPEC_MAX_CHAIN + 1];
    int n = 0;
    while (v->kind == KN_AST_CALL) {
        if (n >= KN_SPEC_MAX_CHAIN) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "too many models in a row (the limit is %d)", KN_SPEC_MAX_CHAIN);
            return false;
        }
        if (v->callee->kind != KN_AST_IDENT || v->nargs != 1 || v->args[0].name) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected a model applied to one value, e.g. discriminator(images)");
            return false;
        }
        chain[n++] = v->callee;
        v = v->args[0].value;
    }
    if (v->kind != KN_AST_IDENT) {
        char b[128];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected images, labels or noise, got %s",
                    kn_ast_describe(v, b, sizeof b));
        return false;
    }
    int src;
    if (!kn_spec_get_enum(spec, v, "data source", kn_source_names, &src))
        return false;
    term->source = (kn_spec_source)src;
    if (n == 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "the prediction must apply a model to '%s', e.g. my_model(%s)",
                    v->text, v->text);
        return false;
    }
    const char **models = kn_arena_alloc(spec->arena, (size_t)spec->num_models + 1, sizeof(char *));
    bool ok = true;
    term->chain_len = n;
    for (int i = 0; i < n; i++) {
        const kn_ast *c = chain[n - 1 - i];
        int m = kn_spec_find_model(spec, c->text);
        if (m < 0) {
            char hint[96] = "";
            for (int k = 0; models && k < spec->num_models; k++)
                models[k] = spec->models[k].name;
            if (models)
                kn_spec_did_you_mean(c->text, models, hint, sizeof hint);
            KN_SPEC_ERR(spec, KN_ERR_PARSE, c->loc, "no model named '%s' in this file%s", c->text, hint);
            ok = false;
            continue;
        }
        term->chain[i] = m;
        term->chain_loc[i] = c->loc;
    }
    return ok;
}

/* Shape checks of one loss term against the models and the training's sources. */
static bool kn_check_term_shapes(kn_spec *spec, const kn_spec_training *t, kn_spec_loss_term *term,
                                 bool noise_given)
{
    kn_shape cur = {0};
    char sa[200], sb[200];
    const char *from = NULL;
    if (term->source == KN_SPEC_SRC_IMAGES) {
        cur = t->dataset.image_shape;
        from = "the dataset's images";
    } else if (term->source == KN_SPEC_SRC_NOISE) {
        if (!t->has_noise) {
            if (noise_given)
                return false; /* its error is reported already */
            KN_SPEC_ERR(spec, KN_ERR_PARSE, term->loc,
                        "'noise' is not declared; add e.g. noise = normal(shape=(100,)) to the train block");
            return false;
        }
        cur = t->noise_shape;
        from = "noise";
    } else {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, term->loc, "labels are a target, not a model input");
        return false;
    }
    /* with the batch in front */
    kn_shape s = {.rank = cur.rank + 1};
    s.dims[0] = KN_DIM_BATCH;
    memcpy(s.dims + 1, cur.dims, sizeof(int64_t) * (size_t)cur.rank);
    for (int i = 0; i < term->chain_len; i++) {
        const kn_spec_model *m = &spec->models[term->chain[i]];
        if (!m->ok)
            return true; /* already reported */
        int ninputs = 0, in = -1;
        for (int k = 0; k < m->num_layers; k++)
            if (m->layers[k].kind == KN_SPEC_INPUT)
                ninputs++, in = in < 0 ? k : in;
        if (ninputs != 1 || m->num_outputs != 1) {
            KN_SPEC_ERR(spec, KN_ERR_SHAPE, term->chain_loc[i],
                        "model '%s' has %d inputs and %d outputs; a training chain needs one of each", m->name,
                        ninputs, m->num_outputs);
            return false;
        }
        if (!kn_shape_equal(&m->layers[in].shape, &s)) {
            KN_SPEC_ERR(spec, KN_ERR_SHAPE, term->chain_loc[i], "model '%s' takes %s but %s has shape %s", m->name,
                        kn_spec_shape_str(&m->layers[in].shape, sa, sizeof sa), from,
                        kn_spec_shape_str(&s, sb, sizeof sb));
            return false;
        }
        s = m->layers[m->outputs[0]].shape;
        from = kn_arena_printf(spec->arena, "the output of model '%s'", m->name);
        if (!from)
            return false;
    }
    const kn_spec_model *last = &spec->models[term->chain[term->chain_len - 1]];
    switch (term->target) {
    case KN_SPEC_TARGET_LABELS:
        if (term->loss == KN_SPEC_LOSS_MSE) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, term->loc, "mse compares with images, ones or zeros, not labels");
            return false;
        }
        if (term->loss == KN_SPEC_LOSS_CROSS_ENTROPY &&
            (s.rank != 2 || s.dims[1] != t->dataset.num_classes)) {
            KN_SPEC_ERR(spec, KN_ERR_SHAPE, term->loc,
                        "cross_entropy with labels needs a prediction of shape (N, %lld) (one score per class of the "
                        "dataset), but model '%s' gives %s",
                        (long long)t->dataset.num_classes, last->name, kn_spec_shape_str(&s, sa, sizeof sa));
            return false;
        }
        if (term->loss == KN_SPEC_LOSS_BINARY_CROSS_ENTROPY && !(s.rank == 2 && s.dims[1] == 1) && s.rank != 1) {
            KN_SPEC_ERR(spec, KN_ERR_SHAPE, term->loc,
                        "binary_cross_entropy with labels needs a prediction of shape (N, 1), but model '%s' gives %s",
                        last->name, kn_spec_shape_str(&s, sa, sizeof sa));
            return false;
        }
        break;
    case KN_SPEC_TARGET_ONES:
    case KN_SPEC_TARGET_ZEROS:
        if (term->loss == KN_SPEC_LOSS_CROSS_ENTROPY) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, term->loc,
                        "cross_entropy compares with labels; use binary_cross_entropy for ones/zeros targets");
            return false;
        }
        break;
    case KN_SPEC_TARGET_IMAGES: {
        kn_shape img = {.rank = t->dataset.image_shape.rank + 1};
        img.dims[0] = KN_DIM_BATCH;
        memcpy(img.dims + 1, t->dataset.image_shape.dims, sizeof(int64_t) * (size_t)t->dataset.image_shape.rank);
        if (term->loss == KN_SPEC_LOSS_CROSS_ENTROPY) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, term->loc, "cross_entropy compares with labels, not images");
            return false;
        }
        if (!kn_shape_equal(&img, &s)) {
            KN_SPEC_ERR(spec, KN_ERR_SHAPE, term->loc, "the target images have shape %s but model '%s' gives %s",
                        kn_spec_shape_str(&img, sb, sizeof sb), last->name, kn_spec_shape_str(&s, sa, sizeof sa));
            return false;
        }
        break;
    }
    }
    return true;
}

/*
 * A loss: `cross_entropy` / `cross_entropy(from_logits=true)` (simple form:
 * loss(model(images), labels) for the training's model), or a sum of
 * `loss(prediction, target[, weight=w][, from_logits=b])` terms.
 */
static bool kn_check_loss(kn_spec *spec, const kn_ast *v, int simple_model, kn_spec_loss_term **terms, int *count)
{
    const kn_ast *single[1] = {v};
    const kn_ast *const *items = single;
    int n = 1;
    const kn_ast **list = NULL;
    if (v->kind == KN_AST_SUM) {
        list = kn_arena_alloc(spec->arena, (size_t)v->nargs, sizeof(kn_ast *));
        if (!list)
            return false;
        for (int i = 0; i < v->nargs; i++)
            list[i] = v->args[i].value;
        items = list;
        n = v->nargs;
    }
    *terms = kn_arena_alloc(spec->arena, (size_t)n, sizeof(kn_spec_loss_term));
    if (!*terms)
        return false;
    *count = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const kn_ast *c = items[i];
        const char *name = c->kind == KN_AST_STRING ? c->text : kn_ast_call_name(c);
        if (!name) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, c->loc,
                        "expected a loss such as cross_entropy or binary_cross_entropy(d(images), ones), got %s",
                        kn_ast_describe(c, b, sizeof b));
            ok = false;
            continue;
        }
        kn_ast tmp = c->kind == KN_AST_CALL ? *c->callee : *c;
        int kind;
        if (!kn_spec_get_enum_hinted(spec, &tmp, "loss", kn_loss_names, kn_loss_hints, &kind)) {
            ok = false;
            continue;
        }
        kn_spec_loss_term *t = &(*terms)[*count];
        memset(t, 0, sizeof *t);
        t->loss = (kn_spec_loss_kind)kind;
        t->weight = 1.0;
        t->loc = tmp.loc;
        static const char *const keys[] = {"prediction", "target", "weight", "from_logits", NULL};
        kn_call_args args;
        if (!kn_call_args_get(spec, c, name, keys, NULL, 2, &args)) {
            ok = false;
            continue;
        }
        if (args.values[2] && !kn_spec_get_float(spec, args.values[2], "weight", 0, 1e6, &t->weight))
            ok = false;
        if (args.values[3] && !kn_spec_get_bool(spec, args.values[3], "from_logits", &t->from_logits))
            ok = false;
        if (!args.values[0] && !args.values[1]) {
            if (simple_model < 0) {
                if (spec->num_models > 1)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, tmp.loc,
                                "the file defines %d models: set 'model = NAME' to train one, or say what '%s' "
                                "compares, e.g. %s(%s(images), labels)",
                                spec->num_models, name, name, spec->models[0].name);
                else
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, tmp.loc, "say what '%s' compares, e.g. %s(my_model(images), labels)",
                                name, name);
                ok = false;
                continue;
            }
            t->source = KN_SPEC_SRC_IMAGES;
            t->chain[0] = simple_model;
            t->chain_loc[0] = tmp.loc;
            t->chain_len = 1;
            t->target = t->loss == KN_SPEC_LOSS_MSE ? KN_SPEC_TARGET_IMAGES : KN_SPEC_TARGET_LABELS;
            (*count)++;
            continue;
        }
        if (!args.values[0] || !args.values[1]) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, tmp.loc, "%s needs a prediction and a target, e.g. %s(d(images), ones)",
                        name, name);
            ok = false;
            continue;
        }
        if (!kn_check_chain(spec, args.values[0], t)) {
            ok = false;
            continue;
        }
        int target;
        const kn_ast *tv = args.values[1];
        if (tv->kind != KN_AST_IDENT) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, tv->loc, "expected a target (labels, ones, zeros or images), got %s",
                        kn_ast_describe(tv, b, sizeof b));
            ok = false;
            continue;
        }
        if (!kn_spec_get_enum(spec, tv, "target", kn_target_names, &target)) {
            ok = false;
            continue;
        }
        t->target = (kn_spec_target)target;
        (*count)++;
    }
    return ok;
}

/* Whether model m appears in any chain of the step. */
static bool kn_step_uses(const kn_spec_step *s, int m)
{
    for (int i = 0; i < s->num_terms; i++)
        for (int k = 0; k < s->terms[i].chain_len; k++)
            if (s->terms[i].chain[k] == m)
                return true;
    return false;
}

static bool kn_check_update(kn_spec *spec, const kn_ast *v, kn_spec_step *st)
{
    const kn_ast *one[1] = {v};
    const kn_ast *const *items = one;
    int n = 1;
    const kn_ast **list = NULL;
    if (v->kind == KN_AST_TUPLE) {
        list = kn_arena_alloc(spec->arena, (size_t)v->nargs + 1, sizeof(kn_ast *));
        if (!list)
            return false;
        for (int i = 0; i < v->nargs; i++)
            list[i] = v->args[i].value;
        items = list;
        n = v->nargs;
    }
    st->update = kn_arena_alloc(spec->arena, (size_t)n + 1, sizeof(int));
    if (!st->update)
        return false;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const kn_ast *e = items[i];
        if (e->kind != KN_AST_IDENT) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, e->loc, "expected a model name for 'update', got %s",
                        kn_ast_describe(e, b, sizeof b));
            ok = false;
            continue;
        }
        int m = kn_spec_find_model(spec, e->text);
        if (m < 0) {
            const char **names = kn_arena_alloc(spec->arena, (size_t)spec->num_models + 1, sizeof(char *));
            char hint[96] = "";
            for (int k = 0; names && k < spec->num_models; k++)
                names[k] = spec->models[k].name;
            if (names)
                kn_spec_did_you_mean(e->text, names, hint, sizeof hint);
            KN_SPEC_ERR(spec, KN_ERR_PARSE, e->loc, "no model named '%s' in this file%s", e->text, hint);
            ok = false;
            continue;
        }
        st->update[st->num_update++] = m;
    }
    if (n == 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'update' names no model; expected e.g. update = discriminator");
        ok = false;
    }
    return ok;
}

/* Settings of a block (train or step) by key; duplicates and unknown keys reported. */
static bool kn_collect_settings(kn_spec *spec, const kn_block *b, const char *const *keys, const kn_stmt **out,
                                const char *where, unsigned *misspelt)
{
    bool ok = true;
    *misspelt = 0;
    for (int i = 0; i < b->num_stmts; i++) {
        const kn_stmt *s = &b->stmts[i];
        if (s->kind == KN_STMT_BLOCK || (s->kind == KN_STMT_EXPR && !s->value && !s->target))
            continue;
        if (s->kind == KN_STMT_OUTPUT) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, s->loc, "'output' belongs in a model block");
            ok = false;
            continue;
        }
        if (!s->target) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, s->value->loc, "expected a setting 'name = value' in %s", where);
            ok = false;
            continue;
        }
        int k = -1;
        for (int j = 0; keys[j]; j++)
            if (strcmp(s->target, keys[j]) == 0)
                k = j;
        if (k < 0) {
            char hint[96];
            const char *near = kn_spec_suggest(s->target, keys);
            for (int j = 0; near && keys[j]; j++)
                if (strcmp(near, keys[j]) == 0)
                    *misspelt |= 1u << j; /* its "missing" error would only repeat this one */
            KN_SPEC_ERR(spec, KN_ERR_PARSE, s->target_loc, "unknown setting '%s' in %s%s", s->target, where,
                        kn_spec_did_you_mean(s->target, keys, hint, sizeof hint));
            ok = false;
            continue;
        }
        if (out[k]) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, s->target_loc, "'%s' is already set at line %d", s->target,
                        out[k]->target_loc.line);
            ok = false;
            continue;
        }
        out[k] = s;
    }
    return ok;
}

enum { K_MODEL, K_DATASET, K_LOSS, K_OPTIMIZER, K_BATCH, K_EPOCHS, K_METRICS, K_NOISE, K_AUGMENT, K_SCHEDULE, K_EMA };

/* augment = shift(N): random translations of the training images by up to N pixels (Keras's RandomTranslation). */
static void kn_check_augment(kn_spec *spec, const kn_ast *v, kn_spec_training *t)
{
    const char *name = kn_ast_call_name(v);
    static const char *const keys[] = {"pixels", NULL};
    kn_call_args args;
    if (!name || v->kind != KN_AST_CALL || strcmp(name, "shift") != 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected augment = shift(N): random shifts of up to N pixels");
        return;
    }
    if (!kn_call_args_get(spec, v, name, keys, NULL, 1, &args))
        return;
    if (!args.values[0]) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->callee->loc, "shift needs a number of pixels, e.g. shift(2)");
        return;
    }
    kn_spec_get_int(spec, args.values[0], "pixels", 1, 1024, &t->augment_shift);
}

/* schedule = cosine(final=F): lr * (F + (1 - F) (1 + cos(pi t / T)) / 2) at step t of T. */
static void kn_check_schedule(kn_spec *spec, const kn_ast *v, kn_spec_training *t)
{
    const char *name = v->kind == KN_AST_IDENT ? v->text : kn_ast_call_name(v);
    static const char *const keys[] = {"final", NULL};
    kn_call_args args;
    if (v->kind == KN_AST_IDENT && strcmp(v->text, "constant") == 0)
        return;
    if (!name || (v->kind != KN_AST_CALL && v->kind != KN_AST_IDENT) || strcmp(name, "cosine") != 0) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected schedule = cosine(final=0.0) or constant");
        return;
    }
    t->cosine = true;
    if (v->kind == KN_AST_CALL && kn_call_args_get(spec, v, name, keys, NULL, 0, &args) && args.values[0])
        kn_spec_get_float(spec, args.values[0], "final", 0.0, 1.0, &t->cosine_final);
}

/* ema = D: an exponential moving average of every trained model's variables, decay D in (0, 1). */
static void kn_check_ema(kn_spec *spec, const kn_ast *v, kn_spec_training *t)
{
    if (v->kind == KN_AST_IDENT && strcmp(v->text, "off") == 0)
        return;
    if (v->kind != KN_AST_NUMBER) {
        char d[128];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected ema = a decay such as 0.999, or off; got %s",
                    kn_ast_describe(v, d, sizeof d));
        return;
    }
    const double x = v->is_int ? (double)v->ival : v->num;
    if (!(x > 0.0 && x < 1.0)) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'ema' is a decay above 0 and below 1 (e.g. 0.999), got %g", x);
        return;
    }
    t->ema = x;
}

static bool kn_check_noise(kn_spec *spec, const kn_ast *v, kn_spec_training *t)
{
    const char *name = kn_ast_call_name(v);
    if (!name || v->kind != KN_AST_CALL || (strcmp(name, "normal") != 0 && strcmp(name, "uniform") != 0)) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc,
                    "expected noise = normal(shape=(100,)) or uniform(shape=(100,), minval=-1, maxval=1)");
        return false;
    }
    bool normal = strcmp(name, "normal") == 0;
    static const char *const nkeys[] = {"shape", "mean", "stddev", NULL};
    static const char *const ukeys[] = {"shape", "minval", "maxval", NULL};
    kn_call_args args;
    if (!kn_call_args_get(spec, v, name, normal ? nkeys : ukeys, NULL, 1, &args))
        return false;
    t->noise.kind = normal ? KN_SPEC_INIT_NORMAL : KN_SPEC_INIT_UNIFORM;
    t->noise.a = normal ? 0.0 : -1.0;
    t->noise.b = 1.0;
    if (!args.values[0]) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->callee->loc, "noise needs a shape, e.g. %s(shape=(100,))", name);
        return false;
    }
    int rank;
    bool ok = kn_spec_get_shape(spec, args.values[0], "shape", 1, 1 << 24, KN_MAX_RANK - 1, t->noise_shape.dims, &rank);
    t->noise_shape.rank = rank;
    if (args.values[1])
        ok &= kn_spec_get_float(spec, args.values[1], normal ? "mean" : "minval", -1e6, 1e6, &t->noise.a);
    if (args.values[2])
        ok &= kn_spec_get_float(spec, args.values[2], normal ? "stddev" : "maxval", normal ? 0 : -1e6, 1e6,
                                &t->noise.b);
    if (ok && !normal && t->noise.a >= t->noise.b) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->callee->loc, "uniform noise: minval %g must be below maxval %g", t->noise.a,
                    t->noise.b);
        ok = false;
    }
    t->has_noise = ok;
    return ok;
}

/*
 * images(dir) without shape=: the pictures take the shape of the first model that reads `images` (Keras's
 * image_size is the model's input). Either way they must be (C, H, W) with C 1 or 3.
 */
static bool kn_images_shape(kn_spec *spec, kn_spec_training *t)
{
    kn_spec_dataset *ds = &t->dataset;
    for (int i = 0; i < t->num_steps && !ds->shape_given; i++)
        for (int k = 0; k < t->steps[i].num_terms && !ds->shape_given; k++) {
            const kn_spec_loss_term *term = &t->steps[i].terms[k];
            if (term->source != KN_SPEC_SRC_IMAGES || term->chain_len < 1)
                continue;
            const kn_spec_model *m = &spec->models[term->chain[0]];
            for (int l = 0; l < m->num_layers && m->ok; l++)
                if (m->layers[l].kind == KN_SPEC_INPUT && m->layers[l].shape.rank >= 2) {
                    ds->image_shape.rank = m->layers[l].shape.rank - 1;
                    memcpy(ds->image_shape.dims, m->layers[l].shape.dims + 1,
                           sizeof(int64_t) * (size_t)ds->image_shape.rank);
                    ds->shape_given = true;
                    break;
                }
        }
    const kn_shape *s = &ds->image_shape;
    if (s->rank != 3 || (s->dims[0] != 1 && s->dims[0] != 3)) {
        char b[200];
        KN_SPEC_ERR(spec, KN_ERR_SHAPE, ds->loc,
                    "images(dir) gives pictures of shape (C, H, W) with C 1 or 3 (channels first), not %s; give "
                    "shape=(C, H, W) and flatten inside the model if it needs vectors",
                    kn_spec_shape_str(s, b, sizeof b));
        return false;
    }
    return true;
}

static void kn_check_training(kn_spec *spec, const kn_block *b, kn_spec_training *t)
{
    t->name = kn_arena_strdup(spec->arena, b->name ? b->name : "train");
    t->loc = b->loc;
    t->batch_size = 32;
    t->epochs = 1;
    if (b->num_params > 0)
        KN_SPEC_ERR(spec, KN_ERR_PARSE, b->params[0].value->loc, "a train block takes no parameters; use settings");
    if (spec->num_models == 0)
        KN_SPEC_ERR(spec, KN_ERR_PARSE, b->loc, "this file defines no model to train; add a 'model NAME { ... }' block");
    if (b->num_stmts > KN_SPEC_MAX_LAYERS) {
        KN_SPEC_ERR(spec, KN_ERR_OVERFLOW, b->loc, "the train block has %d statements; at most %d are allowed",
                    b->num_stmts, KN_SPEC_MAX_LAYERS);
        return;
    }
    const kn_stmt *set[sizeof kn_train_keys / sizeof kn_train_keys[0]] = {0};
    unsigned misspelt;
    kn_collect_settings(spec, b, kn_train_keys, set, "a train block", &misspelt);
    int model = -1;
    if (set[K_MODEL] && set[K_MODEL]->value) {
        const kn_ast *v = set[K_MODEL]->value;
        if (v->kind != KN_AST_IDENT) {
            char d[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected a model name, got %s", kn_ast_describe(v, d, sizeof d));
        } else if ((model = kn_spec_find_model(spec, v->text)) < 0) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "no model named '%s' in this file", v->text);
        }
    }
    bool dataset_ok = false;
    if (set[K_DATASET])
        dataset_ok = set[K_DATASET]->value && kn_check_dataset(spec, set[K_DATASET]->value, &t->dataset);
    else if (!(misspelt & (1u << K_DATASET)))
        KN_SPEC_ERR(spec, KN_ERR_PARSE, b->loc, "the train block needs a dataset, e.g. dataset = idx(\"data/mnist\")");
    kn_spec_optimizer opt = {0};
    bool have_opt = set[K_OPTIMIZER] && set[K_OPTIMIZER]->value && kn_check_optimizer(spec, set[K_OPTIMIZER]->value, &opt);
    if (set[K_BATCH] && set[K_BATCH]->value)
        kn_spec_get_int(spec, set[K_BATCH]->value, "batch_size", 1, 1 << 20, &t->batch_size);
    if (set[K_EPOCHS] && set[K_EPOCHS]->value)
        kn_spec_get_int(spec, set[K_EPOCHS]->value, "epochs", 1, 1000000, &t->epochs);
    if (set[K_METRICS] && set[K_METRICS]->value) {
        const kn_ast *v = set[K_METRICS]->value;
        int n = v->kind == KN_AST_TUPLE ? v->nargs : 1;
        for (int i = 0; i < n; i++) {
            int m;
            if (kn_spec_get_enum_hinted(spec, v->kind == KN_AST_TUPLE ? v->args[i].value : v, "metric", kn_metric_names,
                                        kn_metric_hints, &m))
                t->metrics |= 1u << m;
        }
    }
    if (set[K_NOISE] && set[K_NOISE]->value)
        kn_check_noise(spec, set[K_NOISE]->value, t);
    if (set[K_AUGMENT] && set[K_AUGMENT]->value)
        kn_check_augment(spec, set[K_AUGMENT]->value, t);
    if (set[K_SCHEDULE] && set[K_SCHEDULE]->value)
        kn_check_schedule(spec, set[K_SCHEDULE]->value, t);
    if (set[K_EMA] && set[K_EMA]->value)
        kn_check_ema(spec, set[K_EMA]->value, t);
    int nsteps = 0;
    for (int i = 0; i < b->num_stmts; i++)
        nsteps += b->stmts[i].kind == KN_STMT_BLOCK;
    t->steps = kn_arena_alloc(spec->arena, (size_t)(nsteps ? nsteps : 1), sizeof(kn_spec_step));
    if (!t->steps)
        return;
    if (nsteps == 0) {
        /* simple form: one step training one model */
        if (model < 0 && !set[K_MODEL] && spec->num_models == 1)
            model = 0;
        kn_spec_step *s = &t->steps[0];
        s->name = kn_arena_strdup(spec->arena, t->name);
        s->loc = b->loc;
        if (!set[K_LOSS]) {
            if (!(misspelt & (1u << K_LOSS)))
                KN_SPEC_ERR(spec, KN_ERR_PARSE, b->loc, "the train block needs a loss, e.g. loss = cross_entropy");
        }
        else if ((model >= 0 || !set[K_MODEL]) && set[K_LOSS]->value)
            kn_check_loss(spec, set[K_LOSS]->value, model, &s->terms, &s->num_terms);
        if (!have_opt && !set[K_OPTIMIZER] && !(misspelt & (1u << K_OPTIMIZER)))
            KN_SPEC_ERR(spec, KN_ERR_PARSE, b->loc,
                        "the train block needs an optimizer, e.g. optimizer = adam(learning_rate=0.001)");
        s->optimizer = opt;
        if (model >= 0) {
            s->update = kn_arena_alloc(spec->arena, 1, sizeof(int));
            if (!s->update)
                return;
            s->update[0] = model;
            s->num_update = 1;
        } else {
            /* update every model the loss uses */
            s->update = kn_arena_alloc(spec->arena, (size_t)spec->num_models + 1, sizeof(int));
            for (int m = 0; s->update && m < spec->num_models; m++)
                if (kn_step_uses(s, m))
                    s->update[s->num_update++] = m;
        }
        t->num_steps = 1;
    } else {
        if (set[K_MODEL])
            KN_SPEC_ERR(spec, KN_ERR_PARSE, set[K_MODEL]->target_loc,
                        "with steps, each step says which models it updates (update = NAME); remove 'model'");
        if (set[K_LOSS])
            KN_SPEC_ERR(spec, KN_ERR_PARSE, set[K_LOSS]->target_loc,
                        "with steps, each step has its own loss; move this loss into a step");
        for (int i = 0; i < b->num_stmts; i++) {
            const kn_stmt *st = &b->stmts[i];
            if (st->kind != KN_STMT_BLOCK)
                continue;
            const kn_block *sb = st->block;
            kn_spec_step *s = &t->steps[t->num_steps];
            s->loc = sb->loc;
            if (!sb->name)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->loc, "a step needs a name: step NAME { ... }");
            s->name = kn_arena_strdup(spec->arena, sb->name ? sb->name : "step");
            for (int k = 0; k < t->num_steps; k++)
                if (sb->name && strcmp(t->steps[k].name, sb->name) == 0)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->name_loc, "step '%s' is already defined at line %d",
                                sb->name, t->steps[k].loc.line);
            for (int k = 0; k < sb->num_stmts; k++)
                if (sb->stmts[k].kind == KN_STMT_BLOCK)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->stmts[k].block->loc, "steps cannot be nested");
            const kn_stmt *ss[4] = {0};
            char where[160];
            snprintf(where, sizeof where, "step '%s'", s->name);
            unsigned step_misspelt;
            kn_collect_settings(spec, sb, kn_step_keys, ss, where, &step_misspelt);
            if (ss[1]) {
                if (ss[1]->value)
                        kn_check_loss(spec, ss[1]->value, -1, &s->terms, &s->num_terms);
            } else if (!(step_misspelt & 2u))
                KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->loc,
                            "step '%s' needs a loss, e.g. loss = binary_cross_entropy(discriminator(images), ones)",
                            s->name);
            if (ss[0]) {
                if (ss[0]->value && kn_check_update(spec, ss[0]->value, s))
                    for (int k = 0; k < s->num_update; k++)
                        if (ss[1] && s->num_terms > 0 && !kn_step_uses(s, s->update[k]))
                            KN_SPEC_ERR(spec, KN_ERR_PARSE, ss[0]->value->loc,
                                        "step '%s' updates '%s', but its loss does not use that model", s->name,
                                        spec->models[s->update[k]].name);
            } else if (!(step_misspelt & 1u)) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->loc,
                            "step '%s' needs 'update = MODEL' (the models whose weights it changes)", s->name);
            }
            if (ss[2]) {
                if (ss[2]->value)
                    kn_check_optimizer(spec, ss[2]->value, &s->optimizer);
            } else if (have_opt)
                s->optimizer = opt;
            else if (!set[K_OPTIMIZER] && !(step_misspelt & 4u) && !(misspelt & (1u << K_OPTIMIZER)))
                KN_SPEC_ERR(spec, KN_ERR_PARSE, sb->loc,
                            "step '%s' needs an optimizer (in the step or in the train block), e.g. optimizer = "
                            "adam(learning_rate=0.0002, beta_1=0.5)",
                            s->name);
            t->num_steps++;
        }
    }
    if (dataset_ok && t->dataset.kind == KN_SPEC_DATA_IMAGES)
        dataset_ok = kn_images_shape(spec, t);
    /* shapes of every term, once the sources are known */
    for (int i = 0; i < t->num_steps && dataset_ok; i++)
        for (int k = 0; k < t->steps[i].num_terms; k++)
            kn_check_term_shapes(spec, t, &t->steps[i].terms[k], set[K_NOISE] != NULL);
}

void kn_spec_check_trainings(kn_spec *spec, const kn_spec_file *file)
{
    int count = 0;
    for (int i = 0; i < file->num_blocks; i++)
        count += strcmp(file->blocks[i].keyword, "train") == 0;
    if (count == 0)
        return;
    spec->trainings = kn_arena_alloc(spec->arena, (size_t)count, sizeof(kn_spec_training));
    if (!spec->trainings)
        return;
    for (int i = 0; i < file->num_blocks && !spec->stopped; i++) {
        const kn_block *b = &file->blocks[i];
        if (strcmp(b->keyword, "train") != 0)
            continue;
        kn_spec_training *t = &spec->trainings[spec->num_trainings];
        kn_check_training(spec, b, t);
        for (int k = 0; k < spec->num_trainings; k++)
            if (strcmp(spec->trainings[k].name, t->name) == 0)
                KN_SPEC_ERR(spec, KN_ERR_PARSE, b->name ? b->name_loc : b->loc,
                            "train block '%s' is already defined at line %d", t->name, spec->trainings[k].loc.line);
        spec->num_trainings++;
    }
}
