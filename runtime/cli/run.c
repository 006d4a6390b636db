/*
 * run.c - `kiln run MODEL --input NAME=FILE.npy ...` or `--image FILE...`:
 * load a model and its inputs (arrays, or pictures decoded and preprocessed
 * through kiln.h's kn_image_* functions), compile a session, run it, write
 * the outputs as .npy files and show the top classes of classifier-like
 * outputs (by name with --labels) or the probability of a one-unit sigmoid.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ir.h"

static const char kn_run_usage[] =
    "usage: kiln run [options] MODEL --input NAME=FILE.npy [--input NAME=FILE.npy ...]\n"
    "       kiln run [options] MODEL --image FILE [FILE...]\n"
    "\n"
    "Run MODEL on inputs read from .npy files, or on PNG and JPEG pictures\n"
    "(one batch of them), and show the top classes of classifier-like outputs\n"
    "([batch, classes]) or the probability of a one-unit sigmoid output.\n"
    "\n"
    "options:\n"
    "  --image FILE [FILE...] pictures (PNG, JPEG) for the model's one input,\n"
    "                         [N, C, H, W] with C 1 or 3 (or [N, H, W]): each\n"
    "                         converted to C channels, resized to H x W,\n"
    "                         scaled and normalised; the pictures are the batch\n"
    "  --preset NAME          default (stretch, pixel / 255), mnist (the same),\n"
    "                         imagenet (crop; mean and std of torchvision),\n"
    "                         raw (pixel values 0-255)\n"
    "  --resize stretch|crop  stretch: bilinear to H x W; crop: bilinear so the\n"
    "                         shorter side fits, then the centre (default: the\n"
    "                         preset's)\n"
    "  --scale S              multiply pixel values (0-255) by S (default 1/255)\n"
    "  --mean M[,M,M]         subtract per channel after scaling (default 0)\n"
    "  --std S[,S,S]          then divide per channel (default 1)\n"
    "  --invert               255 - pixel first (dark digits on white paper for\n"
    "                         an MNIST model, trained on white on black)\n"
    "  --labels FILE          class names, one a line, for the top classes\n"
    "  --model NAME           the model of a .kiln file to run (default: its\n"
    "                         first; `kiln info FILE.kiln` lists them)\n"
    "  --input NAME=FILE.npy  bind the model input NAME to an array; a model\n"
    "                         with a single input also accepts --input FILE.npy\n"
    "  --output DIR           write each output to DIR/<output name>.npy\n"
    "                         (DIR is created when missing)\n"
    "  --backend NAME         backend to run on (default: ref)\n"
    "  --batch N              batch size (default: the leading dimension of\n"
    "                         the first input)\n"
    "  --threads N            worker threads (default: 0, all cores)\n"
    "  --top K                classes to show per image (default: 5; 0: none)\n"
    "  --timeout S            stop with an error when the run takes more than\n"
    "                         S seconds (checked between nodes)\n"
    "  --explain              print to stderr what every optimization pass\n"
    "                         changed, why fusion candidates were left alone,\n"
    "                         and the node count before and after; then which\n"
    "                         nodes the backend leaves to the reference\n"
    "                         kernels, and why, and which run on kiln's own\n"
    "                         kernels (dnnl: Winograd, pooling, concat)\n"
    "  --verify-each          verify the graph after every pass\n"
    "  --dump-after PASS[=FILE]  write the graph after pass PASS to FILE (.dot:\n"
    "                         Graphviz DOT, otherwise text; default: stdout)\n"
    "  -h, --help             show this help and exit\n";

#define KN_RUN_MAX_BATCH ((int64_t)1 << 40)

/** Most values --mean and --std take (one per channel). */
#define KN_RUN_MAX_CHANNELS 3

/** One --input argument and the array read for it. */
typedef struct kn_run_input {
    const char *spec;   /* the argument as given */
    const char *file;   /* points into spec */
    char *name;         /* the model input it binds (owned) */
    int model_index;    /* index among the model's inputs */
    kn_tensor tensor;   /* data owned, from kn_npy_read */
} kn_run_input;

typedef struct kn_run_args {
    const char *model;
    const char *model_name; /* --model NAME: a model of a .kiln file, or NULL */
    const char *output_dir;
    const char *backend;
    int64_t batch;      /* 0: not given */
    double timeout_s;   /* > 0: the run's time limit (kn_options.timeout_s) */
    int64_t threads;
    int64_t top;
    kn_cli_pass_opts passes;
    kn_run_input *inputs;
    int num_inputs;
    /* --image and its preprocessing */
    const char **images;
    int num_images;
    const char *preset, *resize, *labels_path;
    double scale;       /* NaN: the preset's */
    float mean[KN_RUN_MAX_CHANNELS], std[KN_RUN_MAX_CHANNELS];
    int num_mean, num_std; /* 0: the preset's */
    bool invert;
    char **labels;      /* --labels: the class names, owned */
    int num_labels;
} kn_run_args;

static void kn_run_args_free(kn_run_args *a)
{
    for (int i = 0; i < a->num_inputs; i++) {
        free(a->inputs[i].name);
        kn_tensor_free_data(&a->inputs[i].tensor);
    }
    free(a->inputs);
    a->inputs = NULL;
    a->num_inputs = 0;
    free(a->images);
    a->images = NULL;
    for (int i = 0; i < a->num_labels; i++)
        free(a->labels[i]);
    free(a->labels);
    a->labels = NULL;
    a->num_labels = 0;
}

/* "M" or "M,M,M" into v[]; the count into *n. */
static bool kn_run_parse_floats(const char *s, float *v, int *n)
{
    *n = 0;
    while (*n < KN_RUN_MAX_CHANNELS) {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (end == s || errno || !isfinite(d))
            return false;
        v[(*n)++] = (float)d;
        if (*end == '\0')
            return *n == 1 || *n == 3;
        if (*end != ',')
            return false;
        s = end + 1;
    }
    return false;
}

/* Parse the command line into *a. Returns KN_CLI_OK, or an exit code (help printed: -1). */
static int kn_run_parse(int argc, char **argv, kn_run_args *a)
{
    memset(a, 0, sizeof *a);
    a->top = 5;
    a->scale = NAN;
    a->inputs = calloc((size_t)argc, sizeof *a->inputs);
    a->images = calloc((size_t)argc, sizeof *a->images);
    if (!a->inputs || !a->images)
        return kn_cli_fail("out of memory");
    bool options_done = false, in_images = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int m;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            /* after --image FILE, more pictures; the model is the one argument named like one */
            bool model_like = kn_cli_has_suffix(arg, ".onnx") || kn_cli_has_suffix(arg, ".kiln");
            if (in_images && !(model_like && !a->model)) {
                a->images[a->num_images++] = arg;
                continue;
            }
            if (a->model)
                return kn_cli_usage_error("run", kn_run_usage, "unexpected argument '%s'", arg);
            a->model = arg;
            continue;
        }
        in_images = false;
        if (strcmp(arg, "--invert") == 0) {
            a->invert = true;
            continue;
        }
        if (kn_cli_is_help(arg)) {
            fputs(kn_run_usage, stdout);
            return -1;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if ((m = kn_cli_pass_option(argc, argv, &i, "run", kn_run_usage, &a->passes)) != 0) {
            if (m != 1)
                return m;
            continue;
        }
        static const char *const names[] = {"--input", "--output", "--backend", "--batch",
                                            "--threads", "--top", "--timeout", "--model",
                                            "--image", "--preset", "--resize", "--scale",
                                            "--mean", "--std", "--labels"};
        int which = -1;
        for (int k = 0; k < (int)(sizeof names / sizeof names[0]) && which < 0; k++) {
            m = kn_cli_option(argc, argv, &i, names[k], &value);
            if (m < 0)
                return kn_cli_usage_error("run", kn_run_usage, "option '%s' needs a value",
                                          names[k]);
            if (m > 0)
                which = k;
        }
        switch (which) {
        case 0:
            if (!*value)
                return kn_cli_usage_error("run", kn_run_usage, "--input needs NAME=FILE.npy");
            a->inputs[a->num_inputs].spec = value;
            a->inputs[a->num_inputs].model_index = -1;
            a->num_inputs++;
            break;
        case 1:
            if (!*value)
                return kn_cli_usage_error("run", kn_run_usage, "--output needs a directory");
            a->output_dir = value;
            break;
        case 2:
            a->backend = value;
            break;
        case 3:
            if (!kn_cli_parse_int(value, 1, KN_RUN_MAX_BATCH, &a->batch))
                return kn_cli_usage_error("run", kn_run_usage,
                                          "--batch needs an integer from 1 to %lld, got '%s'",
                                          (long long)KN_RUN_MAX_BATCH, value);
            break;
        case 4:
            if (!kn_cli_parse_int(value, 0, 4096, &a->threads))
                return kn_cli_usage_error("run", kn_run_usage,
                                          "--threads needs an integer from 0 to 4096, got '%s'",
                                          value);
            break;
        case 5:
            if (!kn_cli_parse_int(value, 0, 1000000, &a->top))
                return kn_cli_usage_error("run", kn_run_usage,
                                          "--top needs a non-negative integer, got '%s'", value);
            break;
        case 6:
            if (!kn_cli_parse_seconds(value, 86400, &a->timeout_s))
                return kn_cli_usage_error("run", kn_run_usage,
                                          "--timeout needs a positive number of seconds (at most 86400), got '%s'",
                                          value);
            break;
        case 7:
            if (!*value)
                return kn_cli_usage_error("run", kn_run_usage, "--model needs a model name");
            a->model_name = value;
            break;
        case 8:
            if (!*value)
                return kn_cli_usage_error("run", kn_run_usage, "--image needs a file name");
            a->images[a->num_images++] = value;
            in_images = true;
            break;
        case 9:
            a->preset = value;
            break;
        case 10:
            if (strcmp(value, "stretch") != 0 && strcmp(value, "crop") != 0)
                return kn_cli_usage_error("run", kn_run_usage, "--resize needs stretch or crop, got '%s'", value);
            a->resize = value;
            break;
        case 11: {
            char *end;
            errno = 0;
            a->scale = strtod(value, &end);
            if (end == value || *end || errno || !isfinite(a->scale))
                return kn_cli_usage_error("run", kn_run_usage, "--scale needs a number, got '%s'", value);
            break;
        }
        case 12:
        case 13: {
            float *v = which == 12 ? a->mean : a->std;
            int *n = which == 12 ? &a->num_mean : &a->num_std;
            if (!kn_run_parse_floats(value, v, n))
                return kn_cli_usage_error("run", kn_run_usage, "%s needs one number or three separated by "
                                          "commas (one per channel), got '%s'", names[which], value);
            for (int c = 0; which == 13 && c < *n; c++)
                if (v[c] == 0.0f)
                    return kn_cli_usage_error("run", kn_run_usage, "--std must not be 0, got '%s'", value);
            break;
        }
        case 14:
            if (!*value)
                return kn_cli_usage_error("run", kn_run_usage, "--labels needs a file name");
            a->labels_path = value;
            break;
        default:
            return kn_cli_usage_error("run", kn_run_usage, "unknown option '%s'", arg);
        }
    }
    if (!a->model)
        return kn_cli_usage_error("run", kn_run_usage, "missing MODEL");
    if (a->num_inputs == 0 && a->num_images == 0)
        return kn_cli_usage_error("run", kn_run_usage, "missing --input NAME=FILE.npy or --image FILE");
    if (a->num_inputs > 0 && a->num_images > 0)
        return kn_cli_usage_error("run", kn_run_usage, "--image and --input cannot be mixed (--image feeds a "
                                  "model's one input)");
    if (a->num_images == 0 && (a->preset || a->resize || !isnan(a->scale) || a->num_mean || a->num_std || a->invert))
        return kn_cli_usage_error("run", kn_run_usage, "--preset, --resize, --scale, --mean, --std and --invert "
                                  "apply to --image pictures");
    return KN_CLI_OK;
}

/* "a, b, c": the model's input names, for messages. */
static void kn_run_input_names(const kn_model_t *model, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    int n = kn_model_num_inputs(model);
    for (int i = 0; i < n && used < len; i++) {
        kn_io_info io;
        if (kn_model_input(model, i, &io) != KN_OK)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s'%s'", i ? ", " : "", io.name);
    }
}

/* Find the model input called `name`; -1 when absent. */
static int kn_run_find_input(const kn_model_t *model, const char *name, size_t len)
{
    int n = kn_model_num_inputs(model);
    for (int i = 0; i < n; i++) {
        kn_io_info io;
        if (kn_model_input(model, i, &io) == KN_OK && strlen(io.name) == len &&
            strncmp(io.name, name, len) == 0)
            return i;
    }
    return -1;
}

/* Bind every --input to a model input by name; check that all are given once. */
static int kn_run_bind_inputs(const kn_model_t *model, kn_run_args *a)
{
    int n = kn_model_num_inputs(model);
    char names[512];
    kn_run_input_names(model, names, sizeof names);
    for (int i = 0; i < a->num_inputs; i++) {
        kn_run_input *in = &a->inputs[i];
        const char *eq = strchr(in->spec, '=');
        int idx = eq ? kn_run_find_input(model, in->spec, (size_t)(eq - in->spec)) : -1;
        if (idx >= 0) {
            in->file = eq + 1;
        } else if (n == 1 && a->num_inputs == 1 && (!eq || access(in->spec, F_OK) == 0)) {
            /* the single input's file; a name with '=' only when that file exists */
            idx = 0;
            in->file = in->spec;
        } else if (eq == in->spec) {
            return kn_cli_fail("--input '%s': missing input name before '=' (inputs: %s)", in->spec,
                               names);
        } else if (eq) {
            return kn_cli_fail("--input '%s': the model has no input named '%.*s' (inputs: %s)",
                               in->spec, (int)(eq - in->spec), in->spec, names);
        } else {
            return kn_cli_fail("--input '%s': the model has %d inputs; name the one this file is "
                               "for as NAME=FILE.npy (inputs: %s)", in->spec, n, names);
        }
        if (!*in->file)
            return kn_cli_fail("--input '%s': missing file name after '='", in->spec);
        kn_io_info io;
        if (kn_model_input(model, idx, &io) != KN_OK)
            return kn_cli_fail("cannot describe model input %d", idx);
        for (int j = 0; j < i; j++)
            if (a->inputs[j].model_index == idx)
                return kn_cli_fail("input '%s' is given twice (--input '%s' and --input '%s')",
                                   io.name, a->inputs[j].spec, in->spec);
        in->model_index = idx;
        in->name = malloc(strlen(io.name) + 1);
        if (!in->name)
            return kn_cli_fail("out of memory");
        strcpy(in->name, io.name);
    }
    for (int idx = 0; idx < n; idx++) {
        bool given = false;
        for (int i = 0; i < a->num_inputs; i++)
            given |= a->inputs[i].model_index == idx;
        if (!given) {
            kn_io_info io;
            if (kn_model_input(model, idx, &io) != KN_OK)
                return kn_cli_fail("cannot describe model input %d", idx);
            return kn_cli_fail("input '%s' is not given (use --input %s=FILE.npy)", io.name,
                               io.name);
        }
    }
    return KN_CLI_OK;
}

/* Compare an array with an expected dtype and shape (KN_DIM_BATCH matches any size). */
static bool kn_run_matches(const kn_tensor *t, kn_dtype dtype, const kn_shape *shape)
{
    if (t->dtype != dtype || t->shape.rank != shape->rank)
        return false;
    for (int d = 0; d < shape->rank; d++)
        if (shape->dims[d] != KN_DIM_BATCH && shape->dims[d] != t->shape.dims[d])
            return false;
    return true;
}

static int kn_run_mismatch(const kn_run_input *in, kn_dtype dtype, const kn_shape *shape,
                           const char *note)
{
    char want[160], got[160];
    return kn_cli_fail("input '%s': expected %s %s%s, got %s %s from %s", in->name,
                       kn_dtype_name(dtype), kn_cli_shape_str(shape, want, sizeof want), note,
                       kn_dtype_name(in->tensor.dtype),
                       kn_cli_shape_str(&in->tensor.shape, got, sizeof got), in->file);
}

/* Read every input file and check it against the model's declared input. */
static int kn_run_load_inputs(const kn_model_t *model, kn_run_args *a)
{
    for (int i = 0; i < a->num_inputs; i++) {
        kn_run_input *in = &a->inputs[i];
        kn_error err = {0};
        if (kn_npy_read(in->file, &in->tensor, &err) != KN_OK)
            return kn_cli_fail("input '%s': %s", in->name, err.message);
        kn_io_info io;
        if (kn_model_input(model, in->model_index, &io) != KN_OK)
            return kn_cli_fail("cannot describe model input %d", in->model_index);
        if (!kn_run_matches(&in->tensor, io.dtype, &io.shape))
            return kn_run_mismatch(in, io.dtype, &io.shape, "");
    }
    return KN_CLI_OK;
}

/*
 * --image: decode and preprocess every picture into one float32 batch for
 * the model's single input ([N, C, H, W], C 1 or 3, or [N, H, W]); it
 * becomes the run's one input, as if read from a .npy file.
 */
static int kn_run_load_images(const kn_model_t *model, kn_run_args *a)
{
    char names[512];
    kn_run_input_names(model, names, sizeof names);
    if (kn_model_num_inputs(model) != 1)
        return kn_cli_fail("--image feeds a model's one input, and %s has %d (%s); use --input NAME=FILE.npy",
                           a->model, kn_model_num_inputs(model), names);
    kn_io_info io;
    if (kn_model_input(model, 0, &io) != KN_OK)
        return kn_cli_fail("cannot describe model input 0");
    const kn_shape *s = &io.shape;
    const int r = s->rank;
    const int64_t c = r == 4 ? s->dims[1] : 1;
    char shape[160];
    if (io.dtype != KN_F32 || (r != 3 && r != 4) || (c != 1 && c != 3) || s->dims[r - 1] == KN_DIM_BATCH ||
        s->dims[r - 2] == KN_DIM_BATCH || (r == 4 && s->dims[1] == KN_DIM_BATCH))
        return kn_cli_fail("input '%s' is %s %s: --image needs a float32 image input [N, C, H, W] with C 1 or 3 "
                           "(channels first) or [N, H, W]", io.name, kn_dtype_name(io.dtype),
                           kn_cli_shape_str(s, shape, sizeof shape));
    kn_error err = {0};
    kn_image_prep prep;
    if (kn_image_prep_init(&prep, a->preset, (int)c, s->dims[r - 2], s->dims[r - 1], &err) != KN_OK)
        return kn_cli_fail("%s", err.message);
    if (a->resize)
        prep.resize = strcmp(a->resize, "crop") == 0 ? KN_RESIZE_CROP : KN_RESIZE_STRETCH;
    if (!isnan(a->scale))
        prep.scale = (float)a->scale;
    for (int k = 0; k < 2; k++) {
        const float *v = k ? a->std : a->mean;
        int n = k ? a->num_std : a->num_mean;
        float *to = k ? prep.std : prep.mean;
        if (n == 3 && c == 1)
            return kn_cli_fail("%s has 3 values, but input '%s' has 1 channel", k ? "--std" : "--mean", io.name);
        for (int ch = 0; n > 0 && ch < c; ch++)
            to[ch] = v[n == 1 ? 0 : ch];
    }
    prep.invert = a->invert;

    kn_run_input *in = &a->inputs[0];
    in->spec = "--image";
    in->file = a->images[0];
    in->model_index = 0;
    in->name = malloc(strlen(io.name) + 1);
    if (!in->name)
        return kn_cli_fail("out of memory");
    strcpy(in->name, io.name);
    a->num_inputs = 1;
    kn_tensor *t = &in->tensor;
    t->dtype = KN_F32;
    t->shape = *s;
    t->shape.dims[0] = a->num_images;
    const size_t sample = (size_t)c * (size_t)prep.height * (size_t)prep.width; /* bounded by kn_image_prep_init */
    size_t bytes;
    if (!kn_size_mul(sample * sizeof(float), (size_t)a->num_images, &bytes) || !(t->data = malloc(bytes)))
        return kn_cli_fail("out of memory for %d pictures", a->num_images);
    for (int i = 0; i < a->num_images; i++)
        if (kn_image_load(a->images[i], &prep, (float *)t->data + (size_t)i * sample, &err) != KN_OK)
            return kn_cli_fail("--image: %s", err.message);
    return KN_CLI_OK;
}

/* --labels FILE: one class name a line (a trailing carriage return dropped). */
static int kn_run_read_labels(kn_run_args *a)
{
    FILE *f = fopen(a->labels_path, "r");
    if (!f)
        return kn_cli_fail("--labels %s: cannot open: %s", a->labels_path, strerror(errno));
    char line[1024];
    int cap = 0, rc = KN_CLI_OK;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = kn_cli_fail("--labels %s: line %d is longer than %d characters", a->labels_path,
                             a->num_labels + 1, (int)sizeof line - 2);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (a->num_labels == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = cap <= 1000000 ? realloc(a->labels, (size_t)cap * sizeof *grown) : NULL;
            if (!grown) {
                rc = kn_cli_fail("--labels %s: too many lines", a->labels_path);
                break;
            }
            a->labels = grown;
        }
        if (!(a->labels[a->num_labels] = malloc(n + 1))) {
            rc = kn_cli_fail("out of memory");
            break;
        }
        memcpy(a->labels[a->num_labels++], line, n + 1);
    }
    if (rc == KN_CLI_OK && ferror(f))
        rc = kn_cli_fail("--labels %s: cannot read: %s", a->labels_path, strerror(errno));
    fclose(f);
    if (rc == KN_CLI_OK && a->num_labels == 0)
        rc = kn_cli_fail("--labels %s: the file is empty (one class name a line)", a->labels_path);
    return rc;
}

/*
 * Every input against the shape it will have at `batch`, before the session
 * (and its arena) exists: a mismatch is said at once, whatever the batch
 * (issue 15: --batch 100000 allocated 3 GB before saying so).
 */
static int kn_run_check_batch(const kn_model_t *model, const kn_run_args *a, int64_t batch)
{
    for (int i = 0; i < a->num_inputs; i++) {
        const kn_run_input *in = &a->inputs[i];
        kn_io_info io;
        if (kn_model_input(model, in->model_index, &io) != KN_OK)
            return kn_cli_fail("cannot describe model input %d", in->model_index);
        kn_shape bound = io.shape;
        for (int d = 0; d < bound.rank; d++)
            if (bound.dims[d] == KN_DIM_BATCH)
                bound.dims[d] = batch;
        if (!kn_run_matches(&in->tensor, io.dtype, &bound)) {
            char note[64];
            snprintf(note, sizeof note, " (batch %lld%s)", (long long)batch, a->batch ? " from --batch" : "");
            return kn_run_mismatch(in, io.dtype, &bound, note);
        }
    }
    return KN_CLI_OK;
}

/* The batch size: the size of the first batch dimension among the inputs, in the given order. */
static int64_t kn_run_pick_batch(const kn_model_t *model, const kn_run_args *a)
{
    for (int i = 0; i < a->num_inputs; i++) {
        kn_io_info io;
        if (kn_model_input(model, a->inputs[i].model_index, &io) != KN_OK)
            continue;
        for (int d = 0; d < io.shape.rank; d++)
            if (io.shape.dims[d] == KN_DIM_BATCH)
                return a->inputs[i].tensor.shape.dims[d];
    }
    /* No symbolic batch: follow the first input's leading dimension (binding is a no-op
     * then, so an empty leading dimension is no reason to refuse the run). */
    if (a->num_inputs > 0 && a->inputs[0].tensor.shape.rank > 0 && a->inputs[0].tensor.shape.dims[0] > 0)
        return a->inputs[0].tensor.shape.dims[0];
    return 1;
}

/* ------------------------------------------------------------- outputs */

/* A file name for output `name`: '/' and '\' become '_', "." and ".." are escaped. */
static char *kn_run_output_path(const char *dir, const char *name, int index)
{
    char base[256];
    if (!name || !*name)
        snprintf(base, sizeof base, "output_%d", index);
    else
        snprintf(base, sizeof base, "%s", name);
    for (char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            *p = '_';
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        snprintf(base, sizeof base, "output_%d", index);
    size_t len = strlen(dir) + strlen(base) + 16;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s.npy", dir, base);
    return path;
}

static double kn_run_value(const kn_tensor *t, size_t i)
{
    return t->dtype == KN_F64 ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
}

/* "image R" and, for --image, " (FILE)". */
static void kn_run_print_row(const kn_run_args *a, int64_t r)
{
    printf("  image %lld", (long long)r);
    if (r < a->num_images)
        printf(" (%s)", a->images[r]);
    printf(":");
}

/* The class name (with --labels) or number of class c. */
static void kn_run_print_class(const kn_run_args *a, int64_t c)
{
    if (a->num_labels > 0 && c >= 0 && c < a->num_labels)
        printf("%s", a->labels[c]);
    else
        printf("%lld", (long long)c);
}

/*
 * A one-unit output [batch, 1]: a sigmoid's probability of class 1 (a logit,
 * when some value lies outside [0, 1], goes through the sigmoid for display).
 */
static int kn_run_print_binary(const char *name, const kn_tensor *t, const kn_run_args *a)
{
    const int64_t rows = t->shape.dims[0];
    if (a->num_labels > 2)
        return kn_cli_fail("--labels %s has %d names, but output '%s' is one unit (a probability of class 1: one "
                           "or two names)", a->labels_path, a->num_labels, name);
    bool probs = true;
    for (int64_t r = 0; r < rows; r++) {
        double v = kn_run_value(t, (size_t)r);
        probs &= v >= -1e-6 && v <= 1 + 1e-6;
    }
    const char *positive = a->num_labels == 2 ? a->labels[1] : a->num_labels == 1 ? a->labels[0] : "class 1";
    printf("probability of %s from '%s' (one sigmoid unit%s):\n", positive, name,
           probs ? "" : "; not probabilities: sigmoid applied for display");
    for (int64_t r = 0; r < rows; r++) {
        double v = kn_run_value(t, (size_t)r);
        double p = probs ? v : 1.0 / (1.0 + exp(-v));
        kn_run_print_row(a, r);
        printf(" %.4f -> ", p);
        if (a->num_labels == 2)
            printf("%s", a->labels[p > 0.5 ? 1 : 0]);
        else if (a->num_labels == 1)
            printf("%s%s", p > 0.5 ? "" : "not ", a->labels[0]);
        else
            printf("class %d", p > 0.5 ? 1 : 0);
        printf("\n");
    }
    return KN_CLI_OK;
}

/* Print the top-k classes of each row of a rank-2 float output. */
static int kn_run_print_top(const char *name, const kn_tensor *t, const kn_run_args *a)
{
    const int64_t top = a->top;
    int64_t rows = t->shape.dims[0], cols = t->shape.dims[1];
    if (rows <= 0 || cols <= 0)
        return KN_CLI_OK;
    if (cols == 1)
        return kn_run_print_binary(name, t, a);
    if (a->num_labels > 0 && a->num_labels != cols)
        return kn_cli_fail("--labels %s has %d names, but output '%s' has %lld classes", a->labels_path,
                           a->num_labels, name, (long long)cols);
    /* Probabilities already? Every value in [0,1], each row summing to ~1. */
    bool probs = true;
    for (int64_t r = 0; r < rows && probs; r++) {
        double sum = 0;
        for (int64_t c = 0; c < cols; c++) {
            double v = kn_run_value(t, (size_t)(r * cols + c));
            if (!(v >= -1e-6 && v <= 1 + 1e-6)) {
                probs = false;
                break;
            }
            sum += v;
        }
        if (probs && fabs(sum - 1.0) > 1e-3)
            probs = false;
    }
    int64_t k = top < cols ? top : cols;
    double *p = malloc((size_t)cols * sizeof *p);
    int64_t *order = malloc((size_t)k * sizeof *order);
    if (!p || !order) {
        free(p);
        free(order);
        return kn_cli_fail("out of memory");
    }
    printf("top %lld of %lld classes of '%s'%s:\n", (long long)k, (long long)cols, name,
           probs ? "" : " (not probabilities: softmax applied for display)");
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY;
        for (int64_t c = 0; c < cols; c++) {
            p[c] = kn_run_value(t, (size_t)(r * cols + c));
            if (p[c] > mx)
                mx = p[c];
        }
        if (!probs) {
            double sum = 0;
            for (int64_t c = 0; c < cols; c++) {
                p[c] = isfinite(mx) ? exp(p[c] - mx) : (p[c] == mx ? 1.0 : 0.0);
                sum += p[c];
            }
            for (int64_t c = 0; c < cols; c++)
                p[c] /= sum;
        }
        /* Selection of the k largest; NaN sorts last, ties keep the lower class. */
        for (int64_t j = 0; j < k; j++) {
            int64_t best = -1;
            for (int64_t c = 0; c < cols; c++) {
                bool used = false;
                for (int64_t q = 0; q < j && !used; q++)
                    used = order[q] == c;
                if (used)
                    continue;
                if (best < 0 || (!isnan(p[c]) && (isnan(p[best]) || p[c] > p[best])))
                    best = c;
            }
            order[j] = best;
        }
        kn_run_print_row(a, r);
        for (int64_t j = 0; j < k; j++) {
            printf("%s ", j ? "," : "");
            kn_run_print_class(a, order[j]);
            printf(" (%.4f)", p[order[j]]);
        }
        printf("\n");
    }
    free(p);
    free(order);
    return KN_CLI_OK;
}

/* Write, describe and (for classifiers) show every output of the session. */
static int kn_run_outputs(const kn_session_t *session, const kn_run_args *a)
{
    int n = kn_session_num_outputs(session);
    if (a->output_dir && !kn_cli_mkdirs(a->output_dir))
        return kn_cli_fail("cannot create output directory %s: %s", a->output_dir,
                           strerror(errno));
    char **written = calloc((size_t)(n > 0 ? n : 1), sizeof *written);
    if (!written)
        return kn_cli_fail("out of memory");
    int rc = KN_CLI_OK;
    for (int i = 0; i < n && rc == KN_CLI_OK; i++) {
        kn_io_info io;
        kn_tensor t;
        kn_error err = {0};
        if (kn_session_output(session, i, &io) != KN_OK) {
            rc = kn_cli_fail("cannot describe output %d", i);
            break;
        }
        if (kn_session_get_output(session, i, &t, &err) != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            break;
        }
        char shape[160];
        printf("output '%s': %s %s", io.name, kn_dtype_name(t.dtype),
               kn_cli_shape_str(&t.shape, shape, sizeof shape));
        if (a->output_dir) {
            char *path = kn_run_output_path(a->output_dir, io.name, i);
            if (!path) {
                rc = kn_cli_fail("out of memory");
                break;
            }
            for (int j = 0; j < i && path; j++) {
                if (written[j] && strcmp(written[j], path) == 0) {
                    free(path);   /* two names that sanitize alike */
                    char alt[64];
                    snprintf(alt, sizeof alt, "output_%d", i);
                    path = kn_run_output_path(a->output_dir, alt, i);
                }
            }
            if (!path) {
                rc = kn_cli_fail("out of memory");
                break;
            }
            written[i] = path;
            if (kn_npy_write(path, &t, &err) != KN_OK) {
                printf("\n");
                fflush(stdout);
                rc = kn_cli_fail("output '%s': %s", io.name, err.message);
                break;
            }
            printf(" -> %s", path);
        }
        printf("\n");
        if (a->top > 0 && t.shape.rank == 2 && (t.dtype == KN_F32 || t.dtype == KN_F64))
            rc = kn_run_print_top(io.name, &t, a);
    }
    for (int i = 0; i < n; i++)
        free(written[i]);
    free(written);
    return rc;
}

/* ---------------------------------------------------------------- main */

int kn_cli_run(int argc, char **argv)
{
    kn_run_args a;
    int rc = kn_run_parse(argc, argv, &a);
    if (rc != KN_CLI_OK) {
        kn_run_args_free(&a);
        return rc < 0 ? KN_CLI_OK : rc;
    }

    kn_error err = {0};
    kn_model_t *model = NULL;
    kn_session_t *session = NULL;
    const char **names = NULL;
    kn_tensor *tensors = NULL;
    if ((rc = kn_cli_load_model(a.model, a.model_name, &model)) != KN_CLI_OK)
        goto done;
    if (a.labels_path && (rc = kn_run_read_labels(&a)) != KN_CLI_OK)
        goto done;
    if (a.num_images > 0) {
        if ((rc = kn_run_load_images(model, &a)) != KN_CLI_OK)
            goto done;
    } else {
        if ((rc = kn_run_bind_inputs(model, &a)) != KN_CLI_OK)
            goto done;
        if ((rc = kn_run_load_inputs(model, &a)) != KN_CLI_OK)
            goto done;
    }

    kn_options opt = {0};
    opt.backend = a.backend;
    opt.threads = (int)a.threads;
    opt.timeout_s = a.timeout_s;
    opt.explain = a.passes.explain ? stderr : NULL;
    opt.verify_each = a.passes.verify_each;
    opt.dump_after = a.passes.dump_pass[0] ? a.passes.dump_pass : NULL;
    opt.dump_path = a.passes.dump_file;
    opt.batch = a.batch ? a.batch : kn_run_pick_batch(model, &a);
    if (opt.batch <= 0) {
        rc = kn_cli_fail("the inputs have an empty batch (size 0); nothing to run");
        goto done;
    }
    if ((rc = kn_run_check_batch(model, &a, opt.batch)) != KN_CLI_OK)
        goto done;
    if (kn_session_create(model, &opt, &session, &err) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    kn_model_free(model);
    model = NULL;

    /* Check against the bound shapes, so a mismatch names the input and both shapes. */
    names = calloc((size_t)a.num_inputs, sizeof *names);
    tensors = calloc((size_t)a.num_inputs, sizeof *tensors);
    if (!names || !tensors) {
        rc = kn_cli_fail("out of memory");
        goto done;
    }
    int ns = kn_session_num_inputs(session);
    for (int i = 0; i < a.num_inputs; i++) {
        const kn_run_input *in = &a.inputs[i];
        for (int s = 0; s < ns; s++) {
            kn_io_info io;
            if (kn_session_input(session, s, &io) != KN_OK || strcmp(io.name, in->name) != 0)
                continue;
            if (!kn_run_matches(&in->tensor, io.dtype, &io.shape)) {
                char note[64];
                snprintf(note, sizeof note, " (batch %lld%s)", (long long)opt.batch,
                         a.batch ? " from --batch" : "");
                rc = kn_run_mismatch(in, io.dtype, &io.shape, note);
                goto done;
            }
        }
        names[i] = in->name;
        tensors[i] = in->tensor;
    }
    if (kn_session_run(session, a.num_inputs, names, tensors, &err) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    rc = kn_run_outputs(session, &a);

done:
    free(names);
    free(tensors);
    kn_session_free(session);
    kn_model_free(model);
    kn_run_args_free(&a);
    return rc;
}
