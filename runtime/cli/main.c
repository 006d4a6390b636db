/*
 * main.c - the `kiln` command line: global options and command dispatch.
 * Each command is implemented in its own file (run.c, info.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h" /* kn_backend_at: the backends of this build, for --version */
#include "cli.h"

typedef struct kn_cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} kn_cli_command;

/* `kiln compile` (compile.c): check a .kiln spec, print its summary or emit IR, DOT or ONNX. */
int kn_cli_compile(int argc, char **argv);
/* `kiln bench` (bench.c): init time and latency per backend and batch size. */
int kn_cli_bench(int argc, char **argv);
/* `kiln train` (train.c): run a .kiln file's train block. */
int kn_cli_train(int argc, char **argv);
/* `kiln sample` (sample.c): samples from a trained generator as PNG and .npy. */
int kn_cli_sample(int argc, char **argv);

static const kn_cli_command kn_cli_commands[] = {
    {"run", kn_cli_run, "run a model on inputs read from .npy files"},
    {"info", kn_cli_info, "describe a model: inputs, outputs, ops, parameters, FLOPs"},
    {"compile", kn_cli_compile, "check a .kiln model spec; print its summary or write IR, DOT or ONNX"},
    {"bench", kn_cli_bench, "measure init time and latency per backend and batch size"},
    {"train", kn_cli_train, "train the models of a .kiln file as its train block says"},
    {"sample", kn_cli_sample, "write samples from a trained generator (a GAN's) as PNG and .npy"},
};
#define KN_CLI_NUM_COMMANDS ((int)(sizeof kn_cli_commands / sizeof kn_cli_commands[0]))

static void kn_cli_print_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln [--help] [--version] <command> [<args>]\n"
            "\n"
            "kiln runs neural networks (ONNX models and .kiln specs) on the CPU.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < KN_CLI_NUM_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", kn_cli_commands[i].name, kn_cli_commands[i].summary);
    fprintf(f,
            "\n"
            "options:\n"
            "  -h, --help     show this help and exit\n"
            "  --version      show the version and exit\n"
            "\n"
            "Run 'kiln <command> --help' for the options of a command.\n");
}

static const kn_cli_command *kn_cli_find(const char *name)
{
    for (int i = 0; i < KN_CLI_NUM_COMMANDS; i++)
        if (strcmp(kn_cli_commands[i].name, name) == 0)
            return &kn_cli_commands[i];
    return NULL;
}

static int kn_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "kiln: missing command\n\n");
        kn_cli_print_usage(stderr);
        return KN_CLI_USAGE;
    }
    const char *arg = argv[1];
    if (kn_cli_is_help(arg)) {
        kn_cli_print_usage(stdout);
        return KN_CLI_OK;
    }
    if (strcmp(arg, "--version") == 0) {
        /* the backends and the instruction sets they run at here (DNNL_MAX_CPU_ISA included) */
        printf("kiln %s\n", KN_CLI_VERSION);
        for (int i = 0; kn_backend_at(i); i++) {
            const char *name = kn_backend_at(i)->name, *isa = kn_backend_isa(name);
            printf("backend %s: %s%s\n", name, strcmp(name, "ref") == 0 ? "OpenBLAS core " : "oneDNN ISA ",
                   isa ? isa : "unknown");
        }
        return KN_CLI_OK;
    }
    if (strcmp(arg, "help") == 0) {
        if (argc < 3) {
            kn_cli_print_usage(stdout);
            return KN_CLI_OK;
        }
        const kn_cli_command *c = kn_cli_find(argv[2]);
        if (!c) {
            fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[2]);
            kn_cli_print_usage(stderr);
            return KN_CLI_USAGE;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->fn(2, help_argv);
    }
    if (arg[0] == '-') {
        fprintf(stderr, "kiln: unknown option '%s'\n\n", arg);
        kn_cli_print_usage(stderr);
        return KN_CLI_USAGE;
    }
    const kn_cli_command *c = kn_cli_find(arg);
    if (!c) {
        fprintf(stderr, "kiln: unknown command '%s'\n\n", arg);
        kn_cli_print_usage(stderr);
        return KN_CLI_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}

/*
 * How long an idle OpenMP thread spins before it sleeps. libgomp spins GOMP_SPINCOUNT times (300,000 unless
 * OMP_WAIT_POLICY says otherwise: milliseconds) and reads it once, when the library is loaded, before main runs.
 * On cores that other processes also use, a spinning thread holds its core while the thread it waits for is not
 * scheduled, at every barrier: measured on 2 cores under load 15 (DenseNet-121, batch 1, dnnl, 2 threads), 4.5 s a
 * run with libgomp's default, 0.14 s with 1,000 spins, 0.10 s with none (ONNX Runtime: 0.22 s); on idle cores
 * of an AMD Zen 4, 1,000 spins ran as fast as the default (SqueezeNet 2.73 / 2.73 ms, MobileNet-V2 3.53 / 3.43 ms)
 * while none (OMP_WAIT_POLICY=passive) is 40% slower. But on an Intel Xeon (Sapphire Rapids, 2 cores) 1,000 spins
 * are too few: batch 1 on idle cores, ShuffleNet-V2 5.8-8.7 ms with 1,000 spins and 3.0 ms with 20,000-100,000
 * (SqueezeNet 3.65 / 3.18 ms, MobileNet-V2 3.75 / 3.45 ms); with 3 busy processes on its 2 cores ShuffleNet
 * took 15.4 ms with 1,000, 11.3 ms with 30,000, 24 ms with the default; under load 15, DenseNet-121 0.49 s with
 * 1,000, 2.1 s with 30,000 and over 9 s with the default. 30,000 (a tenth of the default) is the best of these
 * on idle and moderately loaded cores of both machines. So unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT, kiln sets GOMP_SPINCOUNT and starts itself again, the one way to change it once libgomp is
 * loaded.
 */
#define KN_CLI_GOMP_SPINCOUNT "30000"

static void kn_cli_set_openmp_spin(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("GOMP_SPINCOUNT", KN_CLI_GOMP_SPINCOUNT, 1) != 0)
        return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT"); /* no /proc here: go on with libgomp's default, and do not claim otherwise */
}

int main(int argc, char **argv)
{
    kn_cli_set_openmp_spin(argv);
    int rc = kn_cli_main(argc, argv);
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == KN_CLI_OK) {
        fprintf(stderr, "kiln: error: cannot write to standard output\n");
        rc = KN_CLI_FAIL;
    }
    return rc;
}
