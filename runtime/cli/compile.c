/*
 * compile.c - `kiln compile MODEL.kiln`: check a model spec, print every
 * diagnostic, and print a Keras-style summary of its models and training
 * sections, or write one model as IR text, Graphviz DOT or ONNX.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "onnx.h"
#include "passes.h"
#include "spec.h"

static const char kn_compile_usage[] =
    "usage: kiln compile [options] MODEL.kiln\n"
    "\n"
    "Check a model spec (.kiln) and print a summary of its models (layer,\n"
    "output shape with N for the batch, parameter count, totals) and training\n"
    "sections, or write one model as IR text, Graphviz DOT or ONNX.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  write the result to FILE instead of standard output;\n"
    "                     a FILE ending in .onnx implies --emit onnx\n"
    "  --emit WHAT        summary (default), ir, dot or onnx (opset 13, or 14/17 when an op needs it; needs -o)\n"
    "  --batch N          bind the batch dimension to N (default: symbolic)\n"
    "  --model NAME       the model to emit (needed for ir, dot and onnx when the\n"
    "                     file defines several; summary: only this model)\n"
    "  --explain          run the optimization passes (at --batch, default 1) and\n"
    "                     print to stderr what each changed, why fusion\n"
    "                     candidates were left alone, and the node counts\n"
    "  --verify-each      run the passes, verifying the graph after each one\n"
    "  --dump-after PASS[=FILE]  run the passes and write the graph after PASS\n"
    "                     to FILE (.dot: Graphviz DOT, otherwise text; default:\n"
    "                     stdout)\n"
    "  --train [NAME]     with --emit ir or dot: the training graph of the train\n"
    "                     block (its first step: forward, loss, backward,\n"
    "                     optimizer updates) at --batch (default: the block's);\n"
    "                     dot needs -o FILE.dot\n"
    "  -h, --help         show this help and exit\n";

typedef enum { KN_EMIT_SUMMARY = 0, KN_EMIT_IR, KN_EMIT_DOT, KN_EMIT_ONNX } kn_emit;

typedef struct kn_compile_args {
    const char *path;
    const char *output;
    const char *model;
    kn_emit emit;
    bool emit_given;
    int64_t batch;      /* 0: symbolic */
    kn_cli_pass_opts passes;
    bool train;         /* --train: the training graph */
    const char *train_name;
} kn_compile_args;

/* Whether an option asks for the optimization passes to run. */
static bool kn_compile_wants_passes(const kn_compile_args *a)
{
    return a->passes.explain || a->passes.verify_each || a->passes.dump_pass[0];
}

static bool kn_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Returns KN_CLI_OK, an exit code, or -1 after printing help. */
static int kn_compile_parse(int argc, char **argv, kn_compile_args *a)
{
    memset(a, 0, sizeof *a);
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int m;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (a->path)
                return kn_cli_usage_error("compile", kn_compile_usage, "unexpected argument '%s'", arg);
            a->path = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "--train") == 0) { /* an optional block name */
            a->train = true;
            if (i + 1 < argc && argv[i + 1][0] != '-' && !strstr(argv[i + 1], ".kiln"))
                a->train_name = argv[++i];
            continue;
        }
        if (kn_cli_is_help(arg)) {
            fputs(kn_compile_usage, stdout);
            return -1;
        }
        if ((m = kn_cli_option(argc, argv, &i, "--output", &value)) != 0 ||
            (m = kn_cli_option(argc, argv, &i, "-o", &value)) != 0) {
            if (m < 0)
                return kn_cli_usage_error("compile", kn_compile_usage, "option '%s' needs a value", arg);
            a->output = value;
            continue;
        }
        if ((m = kn_cli_option(argc, argv, &i, "--emit", &value)) != 0) {
            if (m < 0)
                return kn_cli_usage_error("compile", kn_compile_usage, "option '--emit' needs a value");
            static const char *const names[] = {"summary", "ir", "dot", "onnx"};
            int k = -1;
            for (int j = 0; j < 4; j++)
                if (strcmp(value, names[j]) == 0)
                    k = j;
            if (k < 0)
                return kn_cli_usage_error("compile", kn_compile_usage,
                                          "--emit takes summary, ir, dot or onnx, not '%s'", value);
            a->emit = (kn_emit)k;
            a->emit_given = true;
            continue;
        }
        if ((m = kn_cli_option(argc, argv, &i, "--batch", &value)) != 0) {
            if (m < 0)
                return kn_cli_usage_error("compile", kn_compile_usage, "option '--batch' needs a value");
            if (!kn_cli_parse_int(value, 1, (int64_t)1 << 40, &a->batch))
                return kn_cli_usage_error("compile", kn_compile_usage, "--batch needs an integer from 1 to %lld, got '%s'",
                                          (long long)1 << 40, value);
            continue;
        }
        if ((m = kn_cli_pass_option(argc, argv, &i, "compile", kn_compile_usage, &a->passes)) != 0) {
            if (m != 1)
                return m;
            continue;
        }
        if ((m = kn_cli_option(argc, argv, &i, "--model", &value)) != 0) {
            if (m < 0)
                return kn_cli_usage_error("compile", kn_compile_usage, "option '--model' needs a value");
            a->model = value;
            continue;
        }
        return kn_cli_usage_error("compile", kn_compile_usage, "unknown option '%s'", arg);
    }
    if (!a->path)
        return kn_cli_usage_error("compile", kn_compile_usage, "missing MODEL.kiln");
    if (!a->emit_given && a->output && kn_ends_with(a->output, ".onnx"))
        a->emit = KN_EMIT_ONNX;
    if (a->emit == KN_EMIT_ONNX && !a->output)
        return kn_cli_usage_error("compile", kn_compile_usage, "--emit onnx needs -o FILE.onnx");
    if (a->train && a->emit != KN_EMIT_IR && a->emit != KN_EMIT_DOT)
        return kn_cli_usage_error("compile", kn_compile_usage, "--train goes with --emit ir or --emit dot");
    if (a->train && a->emit == KN_EMIT_DOT && (!a->output || !kn_ends_with(a->output, ".dot")))
        return kn_cli_usage_error("compile", kn_compile_usage, "--train --emit dot needs -o FILE.dot");
    return KN_CLI_OK;
}

/* ------------------------------------------------------------ summary */

/* Shape as "(N, 1, 28, 28)", or with the batch bound. */
static const char *kn_summary_shape(const kn_shape *s, int64_t batch, char *buf, size_t len)
{
    kn_shape b = *s;
    if (batch > 0)
        for (int i = 0; i < b.rank; i++)
            if (b.dims[i] == KN_DIM_BATCH)
                b.dims[i] = batch;
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < b.rank && used < len; i++) {
        if (b.dims[i] == KN_DIM_BATCH)
            used += (size_t)snprintf(buf + used, len - used, "%sN", i ? ", " : "");
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)b.dims[i]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "%s)", b.rank == 1 ? "," : "");
    return buf;
}

/* Whether every layer reads exactly the one before it (a Keras Sequential model). */
static bool kn_is_sequential(const kn_spec_model *m)
{
    for (int i = 0; i < m->num_layers; i++) {
        const kn_spec_layer *l = &m->layers[i];
        if (i == 0 ? l->num_inputs != 0 : (l->num_inputs != 1 || l->inputs[0] != i - 1))
            return false;
    }
    return m->num_outputs == 1 && m->outputs[0] == m->num_layers - 1;
}

static void kn_rule(FILE *f, char c, int width)
{
    for (int i = 0; i < width; i++)
        fputc(c, f);
    fputc('\n', f);
}

static void kn_print_summary(FILE *f, const kn_spec_model *m, int64_t batch)
{
    bool seq = kn_is_sequential(m);
    int wl = (int)strlen("Layer (type)"), ws = (int)strlen("Output Shape"), wp = (int)strlen("Param #");
    char buf[256], num[48];
    for (int i = 0; i < m->num_layers; i++) {
        const kn_spec_layer *l = &m->layers[i];
        int n = snprintf(buf, sizeof buf, "%s (%s)", l->name, l->type);
        if (n > wl)
            wl = n;
        n = (int)strlen(kn_summary_shape(&l->shape, batch, buf, sizeof buf));
        if (n > ws)
            ws = n;
        n = (int)strlen(kn_cli_grouped(l->params, num, sizeof num));
        if (n > wp)
            wp = n;
    }
    wl = wl < 28 ? 28 : wl > 60 ? 60 : wl;
    ws = ws < 25 ? 25 : ws;
    wp = wp < 10 ? 10 : wp;
    int width = 1 + wl + 2 + ws + 2 + wp + (seq ? 0 : 2 + 24);
    fprintf(f, "Model: \"%s\"\n", m->name);
    kn_rule(f, '_', width);
    if (seq)
        fprintf(f, " %-*s  %-*s  %s\n", wl, "Layer (type)", ws, "Output Shape", "Param #");
    else
        fprintf(f, " %-*s  %-*s  %-*s  Connected to\n", wl, "Layer (type)", ws, "Output Shape", wp, "Param #");
    kn_rule(f, '=', width);
    int64_t total = 0, trainable = 0;
    for (int i = 0; i < m->num_layers; i++) {
        const kn_spec_layer *l = &m->layers[i];
        char name[256], shape[256];
        snprintf(name, sizeof name, "%s (%s)", l->name, l->type);
        char row[1024];
        int used = snprintf(row, sizeof row, " %-*s  %-*s  %-*s  ", wl, name, ws,
                            kn_summary_shape(&l->shape, batch, shape, sizeof shape), wp,
                            kn_cli_grouped(l->params, num, sizeof num));
        for (int k = 0; !seq && k < l->num_inputs && used > 0 && (size_t)used < sizeof row; k++)
            used += snprintf(row + used, sizeof row - (size_t)used, "%s%s", k ? ", " : "",
                             m->layers[l->inputs[k]].name);
        size_t end = strlen(row);
        while (end > 0 && row[end - 1] == ' ')
            row[--end] = '\0';
        fprintf(f, "%s\n", row);
        total += l->params;
        trainable += l->trainable_params;
    }
    kn_rule(f, '=', width);
    fprintf(f, "Total params: %s\n", kn_cli_grouped(total, num, sizeof num));
    fprintf(f, "Trainable params: %s\n", kn_cli_grouped(trainable, num, sizeof num));
    fprintf(f, "Non-trainable params: %s\n", kn_cli_grouped(total - trainable, num, sizeof num));
    if (m->num_outputs > 1 || !seq) {
        fprintf(f, "Outputs: ");
        for (int k = 0; k < m->num_outputs; k++)
            fprintf(f, "%s%s", k ? ", " : "", m->layers[m->outputs[k]].name);
        fputc('\n', f);
    }
    kn_rule(f, '_', width);
}

static const char *kn_loss_name(kn_spec_loss_kind k)
{
    return k == KN_SPEC_LOSS_CROSS_ENTROPY ? "cross_entropy"
           : k == KN_SPEC_LOSS_BINARY_CROSS_ENTROPY ? "binary_cross_entropy"
                                                     : "mse";
}

static void kn_print_optimizer(FILE *f, const kn_spec_optimizer *o)
{
    switch (o->kind) {
    case KN_SPEC_OPT_SGD: fprintf(f, "sgd(learning_rate=%g", o->learning_rate); break;
    case KN_SPEC_OPT_MOMENTUM:
        fprintf(f, "momentum(learning_rate=%g, momentum=%g%s", o->learning_rate, o->momentum,
                o->nesterov ? ", nesterov=true" : "");
        break;
    case KN_SPEC_OPT_ADAM:
        fprintf(f, "adam(learning_rate=%g, beta_1=%g, beta_2=%g, epsilon=%g", o->learning_rate, o->beta_1, o->beta_2,
                o->epsilon);
        break;
    case KN_SPEC_OPT_RMSPROP:
        fprintf(f, "rmsprop(learning_rate=%g, rho=%g, epsilon=%g", o->learning_rate, o->rho, o->epsilon);
        break;
    }
    if (o->weight_decay > 0)
        fprintf(f, ", weight_decay=%g", o->weight_decay);
    fputs(")", f);
}

static void kn_print_training(FILE *f, const kn_spec *spec, const kn_spec_training *t)
{
    static const char *const sources[] = {"images", "labels", "noise"};
    static const char *const targets[] = {"labels", "ones", "zeros", "images"};
    static const char *const metrics[] = {"accuracy", "binary_accuracy", "mse", "mae"};
    char shape[160];
    const kn_spec_dataset *d = &t->dataset;
    fprintf(f, "Training \"%s\"\n", t->name);
    kn_shape img = d->image_shape;
    fprintf(f, "  dataset:    %s(", kn_spec_dataset_name(d->kind));
    if (d->kind == KN_SPEC_DATA_SYNTHETIC)
        fprintf(f, "samples=%lld, seed=%llu", (long long)d->samples, (unsigned long long)d->seed);
    else
        fprintf(f, "\"%s\", split=%s", d->dir ? d->dir : "", d->train_split ? "train" : "test");
    fprintf(f, "): images %s, %lld classes%s\n", kn_summary_shape(&img, 0, shape, sizeof shape),
            (long long)d->num_classes, d->shuffle ? ", shuffled" : "");
    char missing[1536];
    if (d->dir && !kn_spec_dataset_files_ok(d, d->dir, true, missing, sizeof missing)) /* kiln train stops here */
        fprintf(stderr, "%s:%d:%d: warning: %s (kiln train needs it, or --data DIR)\n", spec->name, d->loc.line,
                d->loc.col, missing);
    fprintf(f, "  batch size: %lld\n  epochs:     %lld\n", (long long)t->batch_size, (long long)t->epochs);
    fprintf(f, "  metrics:   ");
    bool any = false;
    for (int i = 0; i < 4; i++)
        if (t->metrics & (1u << i)) {
            fprintf(f, "%s%s", any ? ", " : " ", metrics[i]);
            any = true;
        }
    fprintf(f, "%s\n", any ? "" : " none");
    if (t->augment_shift > 0)
        fprintf(f, "  augment:    shift(%lld)\n", (long long)t->augment_shift);
    if (t->cosine)
        fprintf(f, "  schedule:   cosine(final=%g)\n", t->cosine_final);
    if (t->has_noise)
        fprintf(f, "  noise:      %s%s\n", t->noise.kind == KN_SPEC_INIT_NORMAL ? "normal" : "uniform",
                kn_summary_shape(&t->noise_shape, 0, shape, sizeof shape));
    for (int i = 0; i < t->num_steps; i++) {
        const kn_spec_step *s = &t->steps[i];
        fprintf(f, "  step %s: update", s->name);
        for (int k = 0; k < s->num_update; k++)
            fprintf(f, "%s%s", k ? ", " : " ", spec->models[s->update[k]].name);
        bool frozen = false;
        for (int m = 0; m < spec->num_models; m++) {
            bool updated = false, used = false;
            for (int k = 0; k < s->num_update; k++)
                updated |= s->update[k] == m;
            for (int k = 0; k < s->num_terms; k++)
                for (int c = 0; c < s->terms[k].chain_len; c++)
                    used |= s->terms[k].chain[c] == m;
            if (used && !updated) {
                fprintf(f, "%s%s", frozen ? ", " : " (frozen: ", spec->models[m].name);
                frozen = true;
            }
        }
        fprintf(f, "%s\n    loss: ", frozen ? ")" : "");
        for (int k = 0; k < s->num_terms; k++) {
            const kn_spec_loss_term *term = &s->terms[k];
            fprintf(f, "%s%s(", k ? " + " : "", kn_loss_name(term->loss));
            for (int c = term->chain_len - 1; c >= 0; c--)
                fprintf(f, "%s(", spec->models[term->chain[c]].name);
            fprintf(f, "%s", sources[term->source]);
            for (int c = 0; c < term->chain_len; c++)
                fputc(')', f);
            fprintf(f, ", %s", targets[term->target]);
            if (term->weight != 1.0)
                fprintf(f, ", weight=%g", term->weight);
            if (term->from_logits)
                fprintf(f, ", from_logits=true");
            fputc(')', f);
        }
        fprintf(f, "\n    optimizer: ");
        kn_print_optimizer(f, &s->optimizer);
        fputc('\n', f);
    }
}

/* ------------------------------------------------------------ emitters */

/*
 * Build model `index`, optimized at --batch when given (or at batch 1 when
 * an option asks for the passes); the graph is left for the caller to free.
 */
static int kn_compile_graph(const kn_compile_args *a, const kn_spec *spec, int index, kn_graph *g)
{
    kn_error err = {0};
    int64_t batch = a->batch > 0 ? a->batch : kn_compile_wants_passes(a) ? 1 : 0;
    if (kn_spec_build_graph(spec, index, g, &err) != KN_OK)
        return kn_cli_fail("%s", err.message);
    if (batch > 0) {
        kn_pass_ctx ctx = {0};
        ctx.explain = a->passes.explain ? stderr : NULL;
        ctx.verify_each = a->passes.verify_each;
        ctx.dump_after = a->passes.dump_pass[0] ? a->passes.dump_pass : NULL;
        ctx.dump_path = a->passes.dump_file;
        if (ctx.explain)
            fprintf(stderr, "model '%s' at batch %lld:\n", spec->models[index].name, (long long)batch);
        if (kn_graph_bind_batch(g, batch, &err) != KN_OK || kn_passes_run(g, &ctx, &err) != KN_OK) {
            kn_graph_free(g);
            kn_graph_init(g);
            return kn_cli_fail("%s: model '%s' at batch %lld: %s", spec->name, spec->models[index].name,
                               (long long)batch, err.message);
        }
    }
    return KN_CLI_OK;
}

/* --train: build the trainer, which writes its first step's training graph after the last pass. */
static int kn_compile_train(const kn_compile_args *a)
{
    kn_train_options o = {.train = a->train_name, .batch_size = a->batch, .dump_after = "fuse_dce",
                          .dump_path = a->output, .verify_each = a->passes.verify_each,
                          .explain = a->passes.explain ? stderr : NULL};
    kn_trainer_t *t;
    kn_error err;
    if (kn_trainer_create(a->path, &o, &t, &err) != KN_OK)
        return kn_cli_fail("%s", err.message);
    kn_trainer_free(t);
    return KN_CLI_OK;
}

static int kn_compile_emit(const kn_compile_args *a, const kn_spec *spec, int index, FILE *out)
{
    kn_graph g;
    kn_graph_init(&g);
    int rc = kn_compile_graph(a, spec, index, &g);
    if (rc != KN_CLI_OK)
        return rc;
    kn_error err = {0};
    int64_t opset = 0;
    switch (a->emit) {
    case KN_EMIT_IR: kn_graph_dump(&g, out); break;
    case KN_EMIT_DOT: kn_graph_dump_dot(&g, out); break;
    case KN_EMIT_ONNX:
        if (kn_onnx_export_file_opset(&g, a->output, &opset, &err) != KN_OK)
            rc = kn_cli_fail("%s", err.message);
        else
            printf("wrote %s (model '%s', ONNX opset %lld)\n", a->output, spec->models[index].name,
                   (long long)opset);
        break;
    case KN_EMIT_SUMMARY: break;
    }
    kn_graph_free(&g);
    return rc;
}

int kn_cli_compile(int argc, char **argv)
{
    kn_compile_args a;
    int rc = kn_compile_parse(argc, argv, &a);
    if (rc != KN_CLI_OK)
        return rc < 0 ? KN_CLI_OK : rc;
    if (!kn_ends_with(a.path, ".kiln"))
        return kn_cli_fail("%s: kiln compile reads model specs (.kiln files)", a.path);
    kn_spec spec;
    kn_error err = {0};
    kn_status st = kn_spec_parse_file(a.path, &spec, &err);
    if (spec.num_diags > 0 || spec.stopped)
        kn_spec_print_diags(&spec, stderr);
    if (st != KN_OK) {
        if (spec.num_errors > 0)
            rc = kn_cli_fail("%s: %d error%s", a.path, spec.num_errors, spec.num_errors == 1 ? "" : "s");
        else
            rc = kn_cli_fail("%s", err.message);
        kn_spec_free(&spec);
        return rc;
    }
    if (a.train) {
        kn_spec_free(&spec);
        return kn_compile_train(&a);
    }
    int index = -1;
    if (a.model) {
        index = kn_spec_find_model(&spec, a.model);
        if (index < 0) {
            char names[512] = "";
            size_t used = 0;
            for (int i = 0; i < spec.num_models && used < sizeof names; i++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
                                         spec.models[i].name);
            rc = kn_cli_fail("%s: no model named '%s' (models: %s)", a.path, a.model, names);
            kn_spec_free(&spec);
            return rc;
        }
    } else if (a.emit != KN_EMIT_SUMMARY) {
        if (spec.num_models > 1) {
            char names[512] = "";
            size_t used = 0;
            for (int i = 0; i < spec.num_models && used < sizeof names; i++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                         spec.models[i].name);
            rc = kn_cli_fail("%s defines %d models (%s); choose one with --model NAME", a.path, spec.num_models,
                             names);
            kn_spec_free(&spec);
            return rc;
        }
        index = 0;
    }
    FILE *out = stdout;
    if (a.output && a.emit != KN_EMIT_ONNX) {
        out = fopen(a.output, "w");
        if (!out) {
            rc = kn_cli_fail("cannot write %s", a.output);
            kn_spec_free(&spec);
            return rc;
        }
    }
    if (a.emit == KN_EMIT_SUMMARY) {
        for (int i = 0; i < spec.num_models; i++) {
            if (index >= 0 && i != index)
                continue;
            if (i != (index >= 0 ? index : 0))
                fputc('\n', out);
            kn_print_summary(out, &spec.models[i], a.batch);
            if (kn_compile_wants_passes(&a) && rc == KN_CLI_OK) {
                kn_graph g;
                kn_graph_init(&g);
                fflush(out);
                rc = kn_compile_graph(&a, &spec, i, &g);
                kn_graph_free(&g);
            }
        }
        for (int i = 0; index < 0 && i < spec.num_trainings; i++) {
            fputc('\n', out);
            kn_print_training(out, &spec, &spec.trainings[i]);
        }
    } else {
        rc = kn_compile_emit(&a, &spec, index, out);
    }
    if (out != stdout && fclose(out) != 0 && rc == KN_CLI_OK)
        rc = kn_cli_fail("cannot write %s", a.output);
    kn_spec_free(&spec);
    return rc;
}
