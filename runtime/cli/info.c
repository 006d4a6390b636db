/*
 * info.c - `kiln info MODEL`: a model's inputs and outputs, op counts,
 * parameter count and FLOPs per image; with --memory or --memory-svg, its
 * memory plan (info_memory.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char kn_info_usage[] =
    "usage: kiln info [--help] [--model NAME] [--memory] [--memory-svg FILE] [--batch N] [--train] MODEL\n"
    "\n"
    "Print a model's inputs and outputs (name, dtype, shape; N is the batch\n"
    "dimension), the number of nodes of each op type, the number of\n"
    "parameters and the floating-point operations per image. For a .kiln\n"
    "file, first the names of all its models; the rest describes one of them.\n"
    "\n"
    "options:\n"
    "  --model NAME      the model of a .kiln file to describe (default: its\n"
    "                    first)\n"
    "  --memory          also print the memory plan of the model compiled at\n"
    "                    the batch size: the arena a run allocates (planned\n"
    "                    peak), the lower bound (most bytes live at one step),\n"
    "                    the naive sum of all tensors, the efficiency (bound /\n"
    "                    arena) and a lifetime chart of every buffer\n"
    "  --memory-svg FILE write the lifetime chart as an SVG picture (x: step,\n"
    "                    y: arena offset; one rectangle per buffer)\n"
    "  --batch N         batch size of the memory plan (default 1; with --train:\n"
    "                    the train block's)\n"
    "  --train           with --memory, for a .kiln file with a train block:\n"
    "                    also the plan of every step's training graph (forward\n"
    "                    activations kept for the backward pass, gradients)\n"
    "                    and of a GAN's shared prefix (the generator's forward\n"
    "                    on the noise, once per batch); each is its own arena,\n"
    "                    all alive at once: their sum is the training peak,\n"
    "                    shown next to the inference peak at the same batch and\n"
    "                    the bytes kept across steps (weights, optimizer state)\n"
    "  -h, --help        show this help and exit\n";

/* Largest --batch accepted (the plan is only arithmetic, but keep sizes sane). */
#define KN_INFO_MAX_BATCH 1000000

typedef struct kn_info_ops {
    int distinct;
} kn_info_ops;

static void kn_info_print_op(const char *op_name, int count, void *user)
{
    kn_info_ops *ops = user;
    ops->distinct++;
    printf("  %-20s %d\n", op_name, count);
}

/* Print the inputs or outputs of `model`. */
static int kn_info_print_io(const kn_model_t *model, bool outputs)
{
    int n = outputs ? kn_model_num_outputs(model) : kn_model_num_inputs(model);
    size_t width = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("%s (%d):\n", outputs ? "outputs" : "inputs", n);
        for (int i = 0; i < n; i++) {
            kn_io_info io;
            kn_status st = outputs ? kn_model_output(model, i, &io) : kn_model_input(model, i, &io);
            if (st != KN_OK)
                return kn_cli_fail("cannot describe %s %d: %s", outputs ? "output" : "input", i,
                                   kn_status_name(st));
            const char *name = io.name ? io.name : "?";
            if (pass == 0) {
                size_t len = strlen(name);
                if (len > width && len <= 40)
                    width = len;
                continue;
            }
            char shape[160];
            if (io.dtype == KN_DTYPE_UNDEFINED)   /* not declared by the model file */
                printf("  %-*s  ?        ?\n", (int)width, name);
            else
                printf("  %-*s  %-8s %s\n", (int)width, name, kn_dtype_name(io.dtype),
                       kn_cli_shape_str(&io.shape, shape, sizeof shape));
        }
    }
    return KN_CLI_OK;
}

int kn_cli_info(int argc, char **argv)
{
    const char *path = NULL, *svg = NULL, *model_name = NULL;
    bool options_done = false, memory = false, train = false, batch_given = false;
    int64_t batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && kn_cli_is_help(arg)) {
            fputs(kn_info_usage, stdout);
            return KN_CLI_OK;
        }
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && strcmp(arg, "--train") == 0) {
            train = true;
            continue;
        }
        if (!options_done && strcmp(arg, "--memory") == 0) {
            memory = true;
            continue;
        }
        const char *value = NULL;
        int m = 0;
        if (!options_done && (m = kn_cli_option(argc, argv, &i, "--model", &value)) != 0) {
            if (m < 0 || !*value)
                return kn_cli_usage_error("info", kn_info_usage, "--model needs a model name");
            model_name = value;
            continue;
        }
        if (!options_done && ((m = kn_cli_option(argc, argv, &i, "--memory-svg", &value)) != 0 ||
                              (m = kn_cli_option(argc, argv, &i, "--batch", &value)) != 0)) {
            bool is_svg = strncmp(arg, "--memory-svg", 12) == 0;
            if (m < 0)
                return kn_cli_usage_error("info", kn_info_usage, "option '%s' needs a value", arg);
            if (is_svg) {
                if (!*value)
                    return kn_cli_usage_error("info", kn_info_usage, "--memory-svg needs a file name");
                svg = value;
            } else if (!kn_cli_parse_int(value, 1, KN_INFO_MAX_BATCH, &batch)) {
                return kn_cli_usage_error("info", kn_info_usage, "--batch needs an integer from 1 to %d, got '%s'",
                                          KN_INFO_MAX_BATCH, value);
            } else {
                batch_given = true;
            }
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0')
            return kn_cli_usage_error("info", kn_info_usage, "unknown option '%s'", arg);
        if (path)
            return kn_cli_usage_error("info", kn_info_usage, "unexpected argument '%s'", arg);
        path = arg;
    }
    if (!path)
        return kn_cli_usage_error("info", kn_info_usage, "missing MODEL");

    kn_error err = {0};
    kn_model_t *model = NULL;
    /* a spec's models, listed before the one described (whose loading reports a --model it lacks) */
    char **names = NULL;
    int num_names = 0;
    if (kn_cli_has_suffix(path, ".kiln") && kn_model_names(path, &names, &num_names, &err) != KN_OK)
        return kn_cli_fail("%s", err.message);
    int rc = kn_cli_load_model(path, model_name, &model);
    if (rc != KN_CLI_OK) {
        kn_model_names_free(names, num_names);
        return rc;
    }

    printf("model: %s\n", path);
    if (names) {
        printf("models (%d):", num_names);
        for (int i = 0; i < num_names; i++)
            printf("%s %s", i ? "," : "", names[i]);
        printf("\n");
        if (num_names > 1)
            printf("showing: %s%s\n", model_name ? model_name : names[0],
                   model_name ? "" : " (the first; --model NAME shows another)");
    }
    kn_model_names_free(names, num_names);
    if ((rc = kn_info_print_io(model, false)) != KN_CLI_OK)
        goto done;
    if ((rc = kn_info_print_io(model, true)) != KN_CLI_OK)
        goto done;
    printf("ops:\n");
    kn_info_ops ops = {0};
    if (kn_model_op_counts(model, kn_info_print_op, &ops, &err) != KN_OK) {
        fflush(stdout);
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    /* Statistics need shape inference (at batch 1), which may fail where listing did not. */
    kn_model_stats stats = {0};
    if (kn_model_get_stats(model, &stats, &err) != KN_OK) {
        fflush(stdout);
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    printf("nodes: %lld\n", (long long)stats.num_nodes);
    char grouped[48], human[48];
    printf("parameters: %s", kn_cli_grouped(stats.num_parameters, grouped, sizeof grouped));
    if (stats.num_parameters >= 1000)
        printf(" (%s)", kn_cli_human((double)stats.num_parameters, "", human, sizeof human));
    printf("\n");
    printf("FLOPs per image: %s\n", kn_cli_human((double)stats.flops, "FLOPs", human, sizeof human));
    size_t train_peak = 0, train_kept = 0;
    bool train_shared = false;
    if (train) {
        /* the training graph of the file's train block, at its batch size unless --batch says otherwise */
        kn_train_options to = {.batch_size = batch_given ? batch : 0};
        kn_trainer_t *t = NULL;
        kn_train_info ti;
        if (kn_trainer_create(path, &to, &t, &err) != KN_OK) {
            fflush(stdout);
            rc = kn_cli_fail("%s", err.message);
            goto done;
        }
        kn_trainer_info(t, &ti);
        batch = ti.batch_size;
        batch_given = true;
        train_shared = ti.shared != NULL;
        /* the shared prefix first (it runs first in every batch), then each step's graph */
        for (int s = ti.shared ? KN_TRAIN_SHARED_PREFIX : 0; s < ti.num_steps; s++) {
            kn_memory_plan tp;
            if (kn_trainer_memory_plan(t, s, &tp, &train_kept, &err) != KN_OK) {
                kn_trainer_free(t);
                fflush(stdout);
                rc = kn_cli_fail("%s", err.message);
                goto done;
            }
            if (memory && s == KN_TRAIN_SHARED_PREFIX)
                printf("\nshared prefix of train block '%s' (%s):\n", ti.name, ti.shared);
            else if (memory)
                printf("\ntraining graph (train block '%s', step '%s': forward, backward, optimizer updates):\n",
                       ti.name, ti.step_names[s] ? ti.step_names[s] : "?");
            if (memory)
                kn_cli_print_memory_plan(&tp);
            kn_memory_plan_free(&tp);
        }
        train_peak = kn_trainer_arena_bytes(t);
        kn_trainer_free(t);
    }
    if (memory || svg) {
        kn_memory_plan plan;
        if (kn_model_memory_plan(model, batch, &plan, &err) != KN_OK) {
            fflush(stdout);
            rc = kn_cli_fail("%s", err.message);
            goto done;
        }
        if (memory) {
            printf("\n");
            kn_cli_print_memory_plan(&plan);
        }
        if (svg && (rc = kn_cli_write_memory_svg(&plan, path, svg)) == KN_CLI_OK)
            printf("%swrote the memory chart to %s\n", memory ? "\n" : "", svg);
        if (train) {
            char x[32], y[32], z[32];
            printf("\npeak at batch %lld: inference %s, training %s (%.1fx; every step's arena%s); kept across "
                   "steps: %s of weights, statistics and optimizer state\n",
                   (long long)batch, kn_cli_bytes(plan.arena_bytes, x, sizeof x), kn_cli_bytes(train_peak, y, sizeof y),
                   plan.arena_bytes ? (double)train_peak / (double)plan.arena_bytes : 0.0,
                   train_shared ? " and the shared prefix's" : "", kn_cli_bytes(train_kept, z, sizeof z));
        }
        kn_memory_plan_free(&plan);
    }
done:
    kn_model_free(model);
    return rc;
}
