/*
 * sample.c - `kiln sample GENERATOR -o DIR`: samples from a trained
 * generator (an ONNX file, for example what `kiln train models/dcgan.kiln
 * -o DIR` wrote as DIR/generator.onnx, or a model of a .kiln file) on
 * seeded normal noise, written as a PNG grid and as .npy arrays.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h" /* kn_png_write_grid */
#include "ir.h"    /* kn_splitmix64 */

static const char kn_sample_usage[] =
    "usage: kiln sample [options] GENERATOR -o DIR\n"
    "\n"
    "Run GENERATOR (an .onnx file, or a model of a .kiln file) on N noise\n"
    "vectors drawn from the standard normal distribution and write\n"
    "  DIR/samples.npy  the generated samples [N, ...]\n"
    "  DIR/noise.npy    the noise they came from [N, ...]\n"
    "  DIR/grid.png     the first 64 (at most) as a grid with a thin border,\n"
    "                   scaled to 0-255 from [-1, 1] (tanh outputs) or [0, 1]\n"
    "\n"
    "options:\n"
    "  -o DIR           output directory (created when missing)\n"
    "  --count N        samples (default: 64)\n"
    "  --seed N         the noise's seed (default: 0)\n"
    "  --model NAME     the model of a .kiln file (default: its first)\n"
    "  --backend NAME   backend (default: ref)\n"
    "  --threads N      worker threads (default: 0, all cores)\n"
    "  -h, --help       show this help and exit\n"
    "\n"
    "The generator takes one float32 input with a batch dimension first (the\n"
    "noise, e.g. [N, 100]); its first output is the sample batch.\n";

typedef struct kn_sample_args {
    const char *model, *name, *out, *backend;
    int64_t count, seed, threads;
} kn_sample_args;

static int kn_sample_parse(int argc, char **argv, kn_sample_args *a)
{
    memset(a, 0, sizeof *a);
    a->count = 64;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (kn_cli_is_help(arg)) {
            fputs(kn_sample_usage, stdout);
            return -1;
        }
        static const char *const names[] = {"-o", "--count", "--seed", "--model", "--backend", "--threads"};
        int which = -1;
        for (int k = 0; k < 6 && which < 0; k++) {
            int m = kn_cli_option(argc, argv, &i, names[k], &value);
            if (m < 0)
                return kn_cli_usage_error("sample", kn_sample_usage, "option '%s' needs a value", names[k]);
            if (m > 0)
                which = k;
        }
        switch (which) {
        case 0: a->out = value; break;
        case 1:
            if (!kn_cli_parse_int(value, 1, 100000, &a->count))
                return kn_cli_usage_error("sample", kn_sample_usage,
                                          "--count needs an integer from 1 to 100000, got '%s'", value);
            break;
        case 2:
            if (!kn_cli_parse_int(value, 0, INT64_MAX, &a->seed))
                return kn_cli_usage_error("sample", kn_sample_usage, "--seed needs a non-negative integer, got '%s'",
                                          value);
            break;
        case 3: a->name = value; break;
        case 4: a->backend = value; break;
        case 5:
            if (!kn_cli_parse_int(value, 0, 4096, &a->threads))
                return kn_cli_usage_error("sample", kn_sample_usage,
                                          "--threads needs an integer from 0 to 4096, got '%s'", value);
            break;
        default:
            if (arg[0] == '-' && arg[1])
                return kn_cli_usage_error("sample", kn_sample_usage, "unknown option '%s'", arg);
            if (a->model)
                return kn_cli_usage_error("sample", kn_sample_usage, "unexpected argument '%s'", arg);
            a->model = arg;
        }
    }
    if (!a->model)
        return kn_cli_usage_error("sample", kn_sample_usage, "missing GENERATOR");
    if (!a->out)
        return kn_cli_usage_error("sample", kn_sample_usage, "missing -o DIR");
    return KN_CLI_OK;
}

/* count x numel standard normal values (Box-Muller over splitmix64 of the seed). */
static void kn_sample_noise(float *z, size_t n, uint64_t seed)
{
    uint64_t s = seed ^ 0x853c49e6748fea9bull;
    for (size_t i = 0; i < n; i++) {
        const double u1 = ((double)(kn_splitmix64(&s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        const double u2 = (double)(kn_splitmix64(&s) >> 11) * (1.0 / 9007199254740992.0);
        z[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

static int kn_sample_write(const char *dir, const char *file, const kn_tensor *t)
{
    char path[1200];
    kn_error err = {0};
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return kn_cli_fail("-o %s: the directory name is too long", dir);
    const size_t len = strlen(file);
    kn_status st = len > 4 && strcmp(file + len - 4, ".png") == 0 ? kn_png_write_grid(path, t, 8, 8, &err)
                                                                  : kn_npy_write(path, t, &err);
    if (st != KN_OK)
        return kn_cli_fail("%s", err.message);
    printf("wrote %s\n", path);
    return KN_CLI_OK;
}

int kn_cli_sample(int argc, char **argv);
int kn_cli_sample(int argc, char **argv)
{
    kn_sample_args a;
    int rc = kn_sample_parse(argc, argv, &a);
    if (rc != KN_CLI_OK)
        return rc < 0 ? KN_CLI_OK : rc;
    kn_error err = {0};
    kn_model_t *model = NULL;
    kn_session_t *s = NULL;
    float *z = NULL;
    const size_t mlen = strlen(a.model);
    const bool spec = mlen > 5 && strcmp(a.model + mlen - 5, ".kiln") == 0;
    if (a.name && !spec) {
        rc = kn_cli_fail("--model picks a model of a .kiln file; %s holds one model", a.model);
        goto done;
    }
    if ((spec ? kn_model_load_spec(a.model, a.name, &model, &err) : kn_model_load(a.model, &model, &err)) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    kn_io_info in;
    if (kn_model_num_inputs(model) != 1 || kn_model_input(model, 0, &in) != KN_OK || in.dtype != KN_F32 ||
        in.shape.rank < 2) {
        rc = kn_cli_fail("%s: a generator takes one float32 input [N, ...] (the noise)", a.model);
        goto done;
    }
    kn_options opts = {0};
    opts.backend = a.backend;
    opts.batch = a.count;
    opts.threads = (int)a.threads;
    if (kn_session_create(model, &opts, &s, &err) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    kn_io_info bound;
    size_t n = 0;
    if (kn_session_input(s, 0, &bound) != KN_OK || kn_shape_numel(&bound.shape, &n) != KN_OK ||
        !(z = malloc(sizeof *z * (n ? n : 1)))) {
        rc = kn_cli_fail("out of memory");
        goto done;
    }
    kn_sample_noise(z, n, (uint64_t)a.seed);
    kn_tensor noise = {.dtype = KN_F32, .shape = bound.shape, .data = z}, out;
    if (kn_session_run(s, 1, &bound.name, &noise, &err) != KN_OK ||
        kn_session_get_output(s, 0, &out, &err) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    if (!kn_cli_mkdirs(a.out)) {
        rc = kn_cli_fail("cannot create %s: %s", a.out, strerror(errno));
        goto done;
    }
    if ((rc = kn_sample_write(a.out, "samples.npy", &out)) != KN_CLI_OK ||
        (rc = kn_sample_write(a.out, "noise.npy", &noise)) != KN_CLI_OK)
        goto done;
    if (out.dtype == KN_F32 && (out.shape.rank == 3 || out.shape.rank == 4))
        rc = kn_sample_write(a.out, "grid.png", &out);
    else
        printf("no grid.png: the samples (%s) are not images [N, C, H, W]\n", kn_dtype_name(out.dtype));
done:
    free(z);
    kn_session_free(s);
    kn_model_free(model);
    return rc;
}
