/*
 * bench.c - `kiln bench MODEL`: measure how fast a model runs on each
 * backend and batch size.
 *
 * For every backend x batch it reports the init time (model load + compile)
 * apart from the steady-state latency of kn_session_run (min, median, p90,
 * p99, p99.9 from 1,000 runs, max in ms, after warm-up runs), the throughput in images/s, GFLOP/s
 * from the model's FLOP count (kn_model_get_stats, per image, times the
 * batch, over the median), and the process's peak RSS so far
 * (getrusage ru_maxrss). Before timing, each backend's outputs are compared
 * with the reference backend's on the same seeded random inputs (max abs and
 * max relative difference; ref against itself is 0 by definition).
 * Clock: CLOCK_MONOTONIC. A progress line goes to stderr when it is a
 * terminal, none when it is piped.
 *
 * With --profile, after the timed runs each backend x batch is run again as
 * many times (at most KN_BENCH_PROFILE_MAX_RUNS) through kn_session_profile:
 * every node's median time over those runs, its share of the sum of the
 * medians, sorted by time, the top KN_BENCH_PROFILE_TOP and one line for the
 * others. A backend without per-node timing reports that instead of failing.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "backend.h" /* kn_backend_find: check --backend before a long run starts */
#include "cli.h"

static const char kn_bench_usage[] =
    "usage: kiln bench [options] MODEL\n"
    "\n"
    "Measure MODEL's init time and steady-state latency on each backend and\n"
    "batch size, after checking each backend's outputs against the reference\n"
    "backend on the same seeded random inputs.\n"
    "\n"
    "options:\n"
    "  --model NAME     the model of a .kiln file to measure (default: its first)\n"
    "  --backend LIST   comma-separated backends to measure (default: every\n"
    "                   backend of this build, see the last line)\n"
    "  --batch LIST     comma-separated batch sizes (default: 1)\n"
    "  --threads N      worker threads (default: 0, all cores)\n"
    "  --warmup W       untimed runs before timing (default: 3)\n"
    "  --iters N        timed runs (default: 20)\n"
    "  --time S         time runs for S seconds instead of --iters\n"
    "  --seed N         seed of the random inputs (default: 1)\n"
    "  --timeout S      stop with an error when one run takes more than S\n"
    "                   seconds (checked between nodes)\n"
    "  --isa LEVEL      cap oneDNN's instruction set, as DNNL_MAX_CPU_ISA does\n"
    "                   (SSE41, AVX2, AVX512_CORE, AVX512_CORE_AMX, ALL, ...;\n"
    "                   a level the CPU lacks leaves the CPU's best)\n"
    "  --json           print the results as JSON\n"
    "  --csv            print the results as CSV (one row per backend x batch)\n"
    "  --profile        also time every node (median over as many runs as were\n"
    "                   timed, at most 1000): the slowest 25, with fused ops,\n"
    "                   and their share of the total (not with --csv)\n"
    "  --train          MODEL is a .kiln file with a train block: time training\n"
    "                   steps (every step of the block on one batch: forward,\n"
    "                   backward, optimizer updates) on seeded random images and\n"
    "                   labels; the first batch's losses are checked against the\n"
    "                   reference backend's, and --profile lists forward,\n"
    "                   backward and update nodes\n"
    "  -h, --help       show this help and exit\n"
    "\n"
    "Latencies are in ms (CLOCK_MONOTONIC around kn_session_run); p99.9 is\n"
    "reported from 1,000 timed runs on (JSON: null, CSV: empty below). init is\n"
    "load + compile. peak RSS is the process's peak so far (ru_maxrss). The\n"
    "relative difference is |x - ref| / max(|ref|, 1e-6 * max|ref|, 1e-30).\n"
    "\n"
    "OpenMP reads OMP_WAIT_POLICY and GOMP_SPINCOUNT at start-up. When neither\n"
    "is set, kiln sets GOMP_SPINCOUNT=30000: idle OpenMP threads spin briefly,\n"
    "then sleep. That is as fast as libgomp's default on idle cores, and on\n"
    "cores other processes use it avoids the default's long spinning, which\n"
    "made runs up to 30 times slower there. passive (no spinning) slows small\n"
    "batches down on idle cores. Both backends keep OpenBLAS single-threaded\n"
    "inside their OpenMP regions, so their threads never compete.\n";

#define KN_BENCH_MAX_LIST 16
#define KN_BENCH_MAX_BATCH ((int64_t)1 << 20)
#define KN_BENCH_PROFILE_TOP 25
#define KN_BENCH_PROFILE_MAX_RUNS 1000

enum { KN_BENCH_TEXT, KN_BENCH_JSON, KN_BENCH_CSV };

typedef struct kn_bench_args {
    const char *model;
    const char *model_name; /* --model NAME: a model of a .kiln file, or NULL */
    char *backends[KN_BENCH_MAX_LIST];
    int num_backends;
    int64_t batches[KN_BENCH_MAX_LIST];
    int num_batches;
    int64_t threads, warmup, iters, seed;
    double time_s;     /* > 0: time-based */
    double timeout_s;  /* > 0: each run's time limit (kn_options.timeout_s) */
    int format;
    bool profile;
    bool train;        /* --train: training steps of MODEL's train block */
    const char *isa;   /* --isa: oneDNN's instruction set cap, or NULL */
    char *backend_buf; /* owns the strings of backends[] */
} kn_bench_args;

/** Results of one backend x batch. */
typedef struct kn_bench_result {
    const char *backend;
    int64_t batch;
    double compile_ms, init_ms;
    int64_t iters;
    double min, median, p90, p99, max, mean;   /* ms */
    double p999;                               /* ms; NAN below KN_BENCH_P999_RUNS runs */
    double images_per_s, gflops;
    long peak_rss_kib;
    double max_abs, max_rel;
    /* --profile: per node, sorted by median time descending (prof_times[k].seconds is the median) */
    kn_node_time *prof_times;
    int prof_count;
    int64_t prof_runs;
    char prof_note[sizeof(((kn_error *)0)->message)]; /* why there is no profile, or "" */
    char backend_note[256];                           /* kn_session_backend_note, or "" */
} kn_bench_result;

/** Runs from which the 99.9th percentile is reported (with fewer it says little more than the maximum). */
#define KN_BENCH_P999_RUNS 1000

static double kn_bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static long kn_bench_peak_rss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* KiB on Linux */
}

/* --------------------------------------------------------------- parsing */

static int kn_bench_parse_backends(kn_bench_args *a, const char *value)
{
    free(a->backend_buf);
    a->num_backends = 0;
    a->backend_buf = malloc(strlen(value) + 1);
    if (!a->backend_buf)
        return kn_cli_fail("out of memory");
    strcpy(a->backend_buf, value);
    char *save = NULL;
    for (char *tok = strtok_r(a->backend_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (a->num_backends == KN_BENCH_MAX_LIST)
            return kn_cli_usage_error("bench", kn_bench_usage, "--backend: at most %d backends",
                                      KN_BENCH_MAX_LIST);
        for (int k = 0; k < a->num_backends; k++)
            if (strcmp(a->backends[k], tok) == 0)
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--backend: '%s' is given twice", tok);
        a->backends[a->num_backends++] = tok;
    }
    if (a->num_backends == 0)
        return kn_cli_usage_error("bench", kn_bench_usage, "--backend needs a list of backends");
    return KN_CLI_OK;
}

static int kn_bench_parse_batches(kn_bench_args *a, const char *value)
{
    a->num_batches = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[32];
        int64_t b;
        if (len == 0 || len >= sizeof tok)
            goto bad;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (!kn_cli_parse_int(tok, 1, KN_BENCH_MAX_BATCH, &b))
            goto bad;
        if (a->num_batches == KN_BENCH_MAX_LIST)
            return kn_cli_usage_error("bench", kn_bench_usage, "--batch: at most %d sizes",
                                      KN_BENCH_MAX_LIST);
        a->batches[a->num_batches++] = b;
        if (!comma)
            break;
        p = comma + 1;
    }
    return KN_CLI_OK;
bad:
    return kn_cli_usage_error("bench", kn_bench_usage,
                              "--batch needs a comma-separated list of integers from 1 to %lld, got '%s'",
                              (long long)KN_BENCH_MAX_BATCH, value);
}

/* Returns KN_CLI_OK, an exit code, or -1 after printing the help. */
static int kn_bench_parse(int argc, char **argv, kn_bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->warmup = 3;
    a->iters = 20;
    a->seed = 1;
    a->format = KN_BENCH_TEXT;
    bool iters_given = false, options_done = false;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (a->model)
                return kn_cli_usage_error("bench", kn_bench_usage, "unexpected argument '%s'", arg);
            a->model = arg;
            continue;
        }
        if (kn_cli_is_help(arg)) {
            fputs(kn_bench_usage, stdout);
            printf("\nbackends in this build: %s\n", kn_backend_names());
            return -1;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "--profile") == 0 || strcmp(arg, "--train") == 0) {
            *(arg[2] == 'p' ? &a->profile : &a->train) = true;
            continue;
        }
        if (strcmp(arg, "--json") == 0 || strcmp(arg, "--csv") == 0) {
            int f = arg[2] == 'j' ? KN_BENCH_JSON : KN_BENCH_CSV;
            if (a->format != KN_BENCH_TEXT && a->format != f)
                return kn_cli_usage_error("bench", kn_bench_usage, "--json and --csv exclude each other");
            a->format = f;
            continue;
        }
        static const char *const names[] = {"--backend", "--batch", "--threads", "--warmup",
                                            "--iters", "--time", "--seed", "--isa", "--timeout", "--model"};
        int which = -1;
        for (int k = 0; k < 10 && which < 0; k++) {
            int m = kn_cli_option(argc, argv, &i, names[k], &value);
            if (m < 0)
                return kn_cli_usage_error("bench", kn_bench_usage, "option '%s' needs a value",
                                          names[k]);
            if (m > 0)
                which = k;
        }
        switch (which) {
        case 0:
            if ((rc = kn_bench_parse_backends(a, value)) != KN_CLI_OK)
                return rc;
            break;
        case 1:
            if ((rc = kn_bench_parse_batches(a, value)) != KN_CLI_OK)
                return rc;
            break;
        case 2:
            if (!kn_cli_parse_int(value, 0, 4096, &a->threads))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--threads needs an integer from 0 to 4096, got '%s'", value);
            break;
        case 3:
            if (!kn_cli_parse_int(value, 0, 1000000, &a->warmup))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--warmup needs a non-negative integer, got '%s'", value);
            break;
        case 4:
            if (!kn_cli_parse_int(value, 1, 100000000, &a->iters))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--iters needs an integer from 1 to 100000000, got '%s'", value);
            iters_given = true;
            break;
        case 5:
            if (!kn_cli_parse_seconds(value, 86400, &a->time_s))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--time needs a positive number of seconds (at most 86400), got '%s'",
                                          value);
            break;
        case 8:
            if (!kn_cli_parse_seconds(value, 86400, &a->timeout_s))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--timeout needs a positive number of seconds (at most 86400), got '%s'",
                                          value);
            break;
        case 6:
            if (!kn_cli_parse_int(value, 0, INT64_MAX, &a->seed))
                return kn_cli_usage_error("bench", kn_bench_usage,
                                          "--seed needs a non-negative integer, got '%s'", value);
            break;
        case 7:
            a->isa = value;
            break;
        case 9:
            if (!*value)
                return kn_cli_usage_error("bench", kn_bench_usage, "--model needs a model name");
            a->model_name = value;
            break;
        default:
            return kn_cli_usage_error("bench", kn_bench_usage, "unknown option '%s'", arg);
        }
    }
    if (a->profile && a->format == KN_BENCH_CSV)
        return kn_cli_usage_error("bench", kn_bench_usage, "--profile and --csv exclude each other");
    if (iters_given && a->time_s > 0)
        return kn_cli_usage_error("bench", kn_bench_usage, "--iters and --time exclude each other");
    if (!a->model)
        return kn_cli_usage_error("bench", kn_bench_usage, "missing MODEL");
    if (a->num_backends == 0) { /* every backend of this build, the reference first */
        char all[128] = "";
        for (int i = 0; kn_backend_at(i); i++)
            snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "," : "", kn_backend_at(i)->name);
        if ((rc = kn_bench_parse_backends(a, all)) != KN_CLI_OK)
            return rc;
    }
    if (a->num_batches == 0) {
        a->batches[0] = 1;
        a->num_batches = 1;
    }
    return KN_CLI_OK;
}

/* ---------------------------------------------------------------- inputs */

/**
 * The seeded random inputs of one batch size, bound to a session's inputs;
 * or (--train) a trainer with a batch of random images and labels.
 */
typedef struct kn_bench_inputs {
    int count;
    const char **names;   /* owned by the session they were made for: copied */
    char **name_bufs;
    kn_tensor *tensors;
    kn_trainer_t *trainer; /* --train: each run is kn_trainer_train_batch on images and labels */
    kn_tensor images, labels;
} kn_bench_inputs;

static void kn_bench_inputs_free(kn_bench_inputs *in)
{
    for (int i = 0; i < in->count; i++) {
        if (in->tensors)
            free(in->tensors[i].data);
        if (in->name_bufs)
            free(in->name_bufs[i]);
    }
    free(in->tensors);
    free(in->name_bufs);
    free(in->names);
    kn_trainer_free(in->trainer);
    free(in->images.data);
    free(in->labels.data);
    memset(in, 0, sizeof *in);
}

/*
 * Make inputs for every input of `s`: float32 uniform in [-1, 1) from `seed`
 * (the same for every backend at one batch size); other dtypes zero-filled.
 */
static int kn_bench_make_inputs(const kn_session_t *s, int64_t seed, kn_bench_inputs *in)
{
    memset(in, 0, sizeof *in);
    int n = kn_session_num_inputs(s);
    in->names = calloc((size_t)(n ? n : 1), sizeof *in->names);
    in->name_bufs = calloc((size_t)(n ? n : 1), sizeof *in->name_bufs);
    in->tensors = calloc((size_t)(n ? n : 1), sizeof *in->tensors);
    if (!in->names || !in->name_bufs || !in->tensors)
        return kn_cli_fail("out of memory");
    uint64_t state = (uint64_t)seed * 0x2545F4914F6CDD1Dull + 1;
    for (int i = 0; i < n; i++) {
        kn_io_info io;
        if (kn_session_input(s, i, &io) != KN_OK)
            return kn_cli_fail("cannot describe session input %d", i);
        size_t bytes, count;
        if (kn_tensor_nbytes(io.dtype, &io.shape, &bytes) != KN_OK ||
            kn_shape_numel(&io.shape, &count) != KN_OK)
            return kn_cli_fail("input '%s' is too large", io.name);
        in->count = i + 1;
        in->name_bufs[i] = malloc(strlen(io.name) + 1);
        void *data = calloc(bytes ? bytes : 1, 1);
        if (!in->name_bufs[i] || !data) {
            free(data);
            return kn_cli_fail("out of memory (input '%s', %zu bytes)", io.name, bytes);
        }
        strcpy(in->name_bufs[i], io.name);
        in->names[i] = in->name_bufs[i];
        in->tensors[i].dtype = io.dtype;
        in->tensors[i].shape = io.shape;
        in->tensors[i].data = data;
        if (io.dtype == KN_F32) {
            float *f = data;
            for (size_t k = 0; k < count; k++)
                f[k] = (float)((double)(kn_splitmix64(&state) >> 11) * 0x1.0p-52 - 1.0);
        }
    }
    in->count = n;
    return KN_CLI_OK;
}

static int kn_bench_run(kn_session_t *s, const kn_bench_inputs *in)
{
    kn_error err = {0};
    kn_status st = in->trainer ? kn_trainer_train_batch(in->trainer, &in->images, &in->labels, NULL, &err)
                               : kn_session_run(s, in->count, in->names, in->tensors, &err);
    if (st != KN_OK)
        return kn_cli_fail("%s", err.message);
    return KN_CLI_OK;
}

/* ------------------------------------------------------------ reference */

/** Copies of every output of a reference run, as doubles. */
typedef struct kn_bench_ref {
    int count;
    size_t *numel;
    double **values;
} kn_bench_ref;

static void kn_bench_ref_free(kn_bench_ref *r)
{
    for (int i = 0; i < r->count; i++)
        free(r->values[i]);
    free(r->values);
    free(r->numel);
    memset(r, 0, sizeof *r);
}

static bool kn_bench_value(const kn_tensor *t, size_t k, double *v)
{
    switch (t->dtype) {
    case KN_F32: *v = ((const float *)t->data)[k]; return true;
    case KN_F64: *v = ((const double *)t->data)[k]; return true;
    case KN_I64: *v = (double)((const int64_t *)t->data)[k]; return true;
    case KN_I32: *v = ((const int32_t *)t->data)[k]; return true;
    case KN_I8: *v = ((const int8_t *)t->data)[k]; return true;
    case KN_U8: case KN_BOOL: *v = ((const uint8_t *)t->data)[k]; return true;
    default: return false;
    }
}

/* Copy the outputs of the last run of `s` into *r. */
static int kn_bench_ref_capture(const kn_session_t *s, kn_bench_ref *r)
{
    memset(r, 0, sizeof *r);
    int n = kn_session_num_outputs(s);
    r->numel = calloc((size_t)(n ? n : 1), sizeof *r->numel);
    r->values = calloc((size_t)(n ? n : 1), sizeof *r->values);
    if (!r->numel || !r->values)
        return kn_cli_fail("out of memory");
    r->count = n;
    for (int i = 0; i < n; i++) {
        kn_tensor t;
        kn_error err = {0};
        if (kn_session_get_output(s, i, &t, &err) != KN_OK)
            return kn_cli_fail("%s", err.message);
        size_t count;
        if (kn_shape_numel(&t.shape, &count) != KN_OK)
            return kn_cli_fail("output %d is too large", i);
        r->values[i] = malloc((count ? count : 1) * sizeof(double));
        if (!r->values[i])
            return kn_cli_fail("out of memory");
        r->numel[i] = count;
        for (size_t k = 0; k < count; k++)
            if (!kn_bench_value(&t, k, &r->values[i][k]))
                return kn_cli_fail("output %d has dtype %s, which bench cannot compare", i,
                                   kn_dtype_name(t.dtype));
    }
    return KN_CLI_OK;
}

/* Compare the outputs of the last run of `s` with *r: max abs and max relative difference. */
static int kn_bench_compare(const kn_session_t *s, const kn_bench_ref *r, const char *backend,
                            double *max_abs, double *max_rel)
{
    *max_abs = 0;
    *max_rel = 0;
    if (kn_session_num_outputs(s) != r->count)
        return kn_cli_fail("backend %s: %d outputs, the reference backend has %d", backend,
                           kn_session_num_outputs(s), r->count);
    for (int i = 0; i < r->count; i++) {
        kn_tensor t;
        kn_error err = {0};
        size_t count;
        if (kn_session_get_output(s, i, &t, &err) != KN_OK)
            return kn_cli_fail("%s", err.message);
        if (kn_shape_numel(&t.shape, &count) != KN_OK || count != r->numel[i])
            return kn_cli_fail("backend %s: output %d has %zu elements, the reference backend's has %zu",
                               backend, i, count, r->numel[i]);
        double scale = 0;
        for (size_t k = 0; k < count; k++)
            scale = fmax(scale, fabs(r->values[i][k]));
        double floor = fmax(1e-6 * scale, 1e-30);
        for (size_t k = 0; k < count; k++) {
            double v, ref = r->values[i][k];
            if (!kn_bench_value(&t, k, &v))
                return kn_cli_fail("backend %s: output %d has dtype %s, which bench cannot compare",
                                   backend, i, kn_dtype_name(t.dtype));
            double d = fabs(v - ref);
            if (isnan(v) != isnan(ref))
                d = INFINITY;
            else if (isnan(v) || v == ref)
                d = 0;
            *max_abs = fmax(*max_abs, d);
            *max_rel = fmax(*max_rel, d / fmax(fabs(ref), floor));
        }
    }
    return KN_CLI_OK;
}

/* --------------------------------------------------------------- timing */

static int kn_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile `p` (0-100) of sorted `v[n]`, linearly interpolated between ranks. */
static double kn_bench_percentile(const double *v, int64_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

static void kn_bench_progress(bool tty, const char *backend, int64_t batch, const char *what,
                              int64_t done, int64_t total)
{
    if (!tty)
        return;
    if (total > 0)
        fprintf(stderr, "\r\033[Kbench %s batch %lld: %s %lld/%lld", backend, (long long)batch, what,
                (long long)done, (long long)total);
    else
        fprintf(stderr, "\r\033[Kbench %s batch %lld: %s", backend, (long long)batch, what);
    fflush(stderr);
}

/* Warm up and time `s`; fill the latency fields of *res. */
static int kn_bench_time(kn_session_t *s, const kn_bench_inputs *in, const kn_bench_args *a,
                         bool tty, kn_bench_result *res)
{
    int rc;
    for (int64_t w = 0; w < a->warmup; w++) {
        kn_bench_progress(tty, res->backend, res->batch, "warm-up", w + 1, a->warmup);
        if ((rc = kn_bench_run(s, in)) != KN_CLI_OK)
            return rc;
    }
    int64_t cap = a->time_s > 0 ? 1024 : a->iters, n = 0;
    double *lat = malloc((size_t)cap * sizeof *lat);
    if (!lat)
        return kn_cli_fail("out of memory");
    double start = kn_bench_now_ms(), last_report = start;
    for (;;) {
        if (a->time_s > 0) {
            if (n > 0 && kn_bench_now_ms() - start >= a->time_s * 1e3)
                break;
        } else if (n == a->iters) {
            break;
        }
        if (n == cap) {
            double *grown = cap < (INT64_C(1) << 40) ? realloc(lat, (size_t)cap * 2 * sizeof *lat) : NULL;
            if (!grown) {
                free(lat);
                return kn_cli_fail("out of memory");
            }
            lat = grown;
            cap *= 2;
        }
        double t0 = kn_bench_now_ms();
        if ((rc = kn_bench_run(s, in)) != KN_CLI_OK) {
            free(lat);
            return rc;
        }
        double t1 = kn_bench_now_ms();
        lat[n++] = t1 - t0;
        if (tty && t1 - last_report > 100) {
            kn_bench_progress(tty, res->backend, res->batch, "timing", n, a->time_s > 0 ? 0 : a->iters);
            last_report = t1;
        }
    }
    qsort(lat, (size_t)n, sizeof *lat, kn_bench_cmp_double);
    double sum = 0;
    for (int64_t k = 0; k < n; k++)
        sum += lat[k];
    res->iters = n;
    res->min = lat[0];
    res->max = lat[n - 1];
    res->median = kn_bench_percentile(lat, n, 50);
    res->p90 = kn_bench_percentile(lat, n, 90);
    res->p99 = kn_bench_percentile(lat, n, 99);
    res->p999 = n >= KN_BENCH_P999_RUNS ? kn_bench_percentile(lat, n, 99.9) : NAN;
    res->mean = sum / (double)n;
    free(lat);
    return KN_CLI_OK;
}

/* -------------------------------------------------------------- profile */

static int kn_bench_cmp_node_time(const void *a, const void *b)
{
    const kn_node_time *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

/*
 * Profile `s` over res->iters runs (at most KN_BENCH_PROFILE_MAX_RUNS): the
 * median time of every node into res->prof_times, sorted descending. A
 * backend without per-node timing leaves a note in res->prof_note.
 */
static int kn_bench_profile(kn_session_t *s, const kn_bench_inputs *in, bool tty, kn_bench_result *res)
{
    int64_t runs = res->iters < KN_BENCH_PROFILE_MAX_RUNS ? res->iters : KN_BENCH_PROFILE_MAX_RUNS;
    if (runs < 1)
        runs = 1;
    double *samples = NULL;  /* [node][run] */
    int count = 0;
    int rc = KN_CLI_OK;
    for (int64_t r = 0; r < runs; r++) {
        kn_bench_progress(tty, res->backend, res->batch, "profiling", r + 1, runs);
        kn_node_time *t = NULL;
        int n = 0;
        kn_error err = {0};
        kn_status st = in->trainer ? kn_trainer_profile_batch(in->trainer, &in->images, &in->labels, NULL, &t, &n, &err)
                                   : kn_session_profile(s, in->count, in->names, in->tensors, &t, &n, &err);
        if (st == KN_ERR_UNSUPPORTED && r == 0) {
            snprintf(res->prof_note, sizeof res->prof_note, "%s", err.message);
            return KN_CLI_OK;
        }
        if (st != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            break;
        }
        if (r == 0) {
            count = n;
            res->prof_times = t;
            res->prof_count = n;
            samples = malloc((size_t)(n ? n : 1) * (size_t)runs * sizeof *samples);
            if (!samples) {
                rc = kn_cli_fail("out of memory");
                break;
            }
        } else if (n != count) {
            kn_node_times_free(t);
            rc = kn_cli_fail("backend %s: the profile changed size between runs (%d, then %d nodes)",
                             res->backend, count, n);
            break;
        }
        for (int k = 0; k < n; k++)
            samples[(size_t)k * (size_t)runs + (size_t)r] = t[k].seconds;
        if (r > 0)
            kn_node_times_free(t);
    }
    if (rc == KN_CLI_OK) {
        for (int k = 0; k < count; k++) {
            double *v = &samples[(size_t)k * (size_t)runs];
            qsort(v, (size_t)runs, sizeof *v, kn_bench_cmp_double);
            res->prof_times[k].seconds = kn_bench_percentile(v, runs, 50);
        }
        qsort(res->prof_times, (size_t)count, sizeof *res->prof_times, kn_bench_cmp_node_time);
        res->prof_runs = runs;
    }
    free(samples);
    return rc;
}

static double kn_bench_profile_total(const kn_bench_result *x)
{
    double total = 0;
    for (int k = 0; k < x->prof_count; k++)
        total += x->prof_times[k].seconds;
    return total;
}

/* --------------------------------------------------------------- output */

static void kn_bench_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* A finite number for JSON (which has no inf or nan): null otherwise. */
static void kn_bench_json_number(const char *fmt, double v)
{
    if (isfinite(v))
        printf(fmt, v);
    else
        fputs("null", stdout);
}

/*
 * ,"profile": [{"node", "ops", "op", "median_ms", "share"}...] sorted by time
 * (every node), "profile_runs"; or "profile": null and "profile_note".
 */
static void kn_bench_print_json_profile(const kn_bench_result *x)
{
    if (!x->prof_times) {
        fputs(",\n     \"profile\": null, \"profile_note\": ", stdout);
        kn_bench_json_string(x->prof_note);
        return;
    }
    double total = kn_bench_profile_total(x);
    printf(",\n     \"profile_runs\": %lld, \"profile_total_ms\": %.4f, \"profile\": [", (long long)x->prof_runs,
           total * 1e3);
    for (int k = 0; k < x->prof_count; k++) {
        const kn_node_time *t = &x->prof_times[k];
        printf("%s\n       {\"node\": ", k ? "," : "");
        kn_bench_json_string(t->name);
        fputs(", \"op\": ", stdout);
        kn_bench_json_string(t->op);
        fputs(", \"ops\": ", stdout);
        kn_bench_json_string(t->label);
        printf(", \"median_ms\": %.5f, \"share\": %.5f}", t->seconds * 1e3, total > 0 ? t->seconds / total : 0.0);
    }
    printf("%s]", x->prof_count ? "\n     " : "");
}

/* The instruction set each measured backend ran at: a figure always says what it was measured on. */
static void kn_bench_print_isa(const kn_bench_args *a)
{
    const char *cap = getenv("DNNL_MAX_CPU_ISA");
    printf("instruction sets:");
    for (int i = 0; i < a->num_backends; i++) {
        const char *isa = kn_backend_isa(a->backends[i]);
        if (strcmp(a->backends[i], "dnnl") == 0)
            printf("%s dnnl %s (oneDNN's; cap: %s)", i ? "," : "", isa ? isa : "unknown",
                   a->isa ? a->isa : cap ? cap : "none");
        else
            printf("%s %s %s%s", i ? "," : "", a->backends[i], strcmp(a->backends[i], "ref") == 0 ? "OpenBLAS core " : "",
                   isa ? isa : "unknown");
    }
    printf("\n");
}

static void kn_bench_print_json(const kn_bench_args *a, const kn_model_stats *stats, double load_ms,
                                const kn_model_t *model, const kn_bench_result *r, int n)
{
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("{\n  \"model\": ");
    kn_bench_json_string(a->model);
    fputs(",\n  \"model_name\": ", stdout); /* --model NAME of a .kiln file, or null */
    if (a->model_name)
        kn_bench_json_string(a->model_name);
    else
        fputs("null", stdout);
    printf(",\n  \"flops_per_image\": %lld,\n  \"parameters\": %lld,\n  \"nodes\": %lld,\n",
           (long long)stats->flops, (long long)stats->num_parameters, (long long)stats->num_nodes);
    printf("  \"threads\": %lld,\n  \"warmup\": %lld,\n", (long long)a->threads, (long long)a->warmup);
    if (a->time_s > 0)
        printf("  \"time_s\": %g,\n", a->time_s);
    else
        printf("  \"iters\": %lld,\n", (long long)a->iters);
    printf("  \"seed\": %lld,\n  \"omp_wait_policy\": ", (long long)a->seed);
    if (wait)
        kn_bench_json_string(wait);
    else
        fputs("null", stdout);
    const char *spin = getenv("GOMP_SPINCOUNT");
    fputs(",\n  \"gomp_spincount\": ", stdout);
    if (spin)
        kn_bench_json_string(spin);
    else
        fputs("null", stdout);
    printf(",\n  \"isa\": {");
    for (int i = 0; i < a->num_backends; i++) {
        const char *isa = kn_backend_isa(a->backends[i]);
        printf("%s", i ? ", " : "");
        kn_bench_json_string(a->backends[i]);
        printf(": ");
        if (isa)
            kn_bench_json_string(isa);
        else
            fputs("null", stdout);
    }
    printf("},\n  \"load_ms\": %.3f,\n  \"inputs\": [", load_ms);
    /* the model's inputs; a symbolic batch dimension is -1 */
    int ni = kn_model_num_inputs(model);
    for (int i = 0; i < ni; i++) {
        kn_io_info io;
        if (kn_model_input(model, i, &io) != KN_OK)
            continue;
        printf("%s\n    {\"name\": ", i ? "," : "");
        kn_bench_json_string(io.name);
        printf(", \"dtype\": \"%s\", \"shape\": [", kn_dtype_name(io.dtype));
        for (int d = 0; d < io.shape.rank; d++)
            printf("%s%lld", d ? ", " : "", (long long)io.shape.dims[d]);
        printf("]}");
    }
    printf("%s],\n  \"results\": [", ni ? "\n  " : "");
    for (int i = 0; i < n; i++) {
        const kn_bench_result *x = &r[i];
        printf("%s\n    {\"backend\": ", i ? "," : "");
        kn_bench_json_string(x->backend);
        printf(", \"batch\": %lld, \"compile_ms\": %.3f, \"init_ms\": %.3f, \"iters\": %lld,\n",
               (long long)x->batch, x->compile_ms, x->init_ms, (long long)x->iters);
        printf("     \"min_ms\": %.4f, \"median_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": ",
               x->min, x->median, x->p90, x->p99);
        kn_bench_json_number("%.4f", x->p999);
        printf(", \"max_ms\": %.4f, \"mean_ms\": %.4f,\n", x->max, x->mean);
        printf("     \"images_per_s\": %.3f, \"gflops\": %.3f, \"peak_rss_kib\": %ld, \"max_abs_diff\": ",
               x->images_per_s, x->gflops, x->peak_rss_kib);
        kn_bench_json_number("%.6g", x->max_abs);
        fputs(", \"max_rel_diff\": ", stdout);
        kn_bench_json_number("%.6g", x->max_rel);
        fputs(", \"backend_note\": ", stdout);
        if (x->backend_note[0])
            kn_bench_json_string(x->backend_note);
        else
            fputs("null", stdout);
        if (a->profile)
            kn_bench_print_json_profile(x);
        putchar('}');
    }
    printf("%s]\n}\n", n ? "\n  " : "");
}

static void kn_bench_print_csv(const kn_bench_args *a, const kn_bench_result *r, int n)
{
    puts("model,backend,batch,threads,init_ms,compile_ms,iters,min_ms,median_ms,p90_ms,p99_ms,p999_ms,max_ms,"
         "mean_ms,images_per_s,gflops,peak_rss_kib,max_abs_diff,max_rel_diff");
    const char *file = strrchr(a->model, '/');
    file = file ? file + 1 : a->model;
    /* FILE, or FILE:NAME for --model NAME */
    char base[1024];
    snprintf(base, sizeof base, "%s%s%s", file, a->model_name ? ":" : "", a->model_name ? a->model_name : "");
    for (int i = 0; i < n; i++) {
        const kn_bench_result *x = &r[i];
        /* a model name with a comma or quote is quoted, CSV style */
        if (strpbrk(base, ",\"\n")) {
            putchar('"');
            for (const char *c = base; *c; c++) {
                if (*c == '"')
                    putchar('"');
                putchar(*c);
            }
            putchar('"');
        } else {
            fputs(base, stdout);
        }
        printf(",%s,%lld,%lld,%.3f,%.3f,%lld,%.4f,%.4f,%.4f,%.4f,", x->backend, (long long)x->batch,
               (long long)a->threads, x->init_ms, x->compile_ms, (long long)x->iters, x->min, x->median, x->p90,
               x->p99);
        if (isfinite(x->p999)) /* empty below KN_BENCH_P999_RUNS runs */
            printf("%.4f", x->p999);
        printf(",%.4f,%.4f,%.3f,%.3f,%ld,%.6g,%.6g\n", x->max, x->mean, x->images_per_s, x->gflops,
               x->peak_rss_kib, x->max_abs, x->max_rel);
    }
}

/* The slowest KN_BENCH_PROFILE_TOP nodes of one row, then the others on one line. */
static void kn_bench_print_text_profile(const kn_bench_result *x)
{
    printf("\nprofile: %s batch %lld", x->backend, (long long)x->batch);
    if (!x->prof_times) {
        printf(": %s\n", x->prof_note);
        return;
    }
    double total = kn_bench_profile_total(x);
    printf(" (median per node over %lld runs, sum %.3f ms, %d nodes)\n", (long long)x->prof_runs, total * 1e3,
           x->prof_count);
    printf("%4s %10s %7s  %s\n", "rank", "median ms", "share", "node (ops)");
    int shown = x->prof_count < KN_BENCH_PROFILE_TOP ? x->prof_count : KN_BENCH_PROFILE_TOP;
    for (int k = 0; k < shown; k++) {
        const kn_node_time *t = &x->prof_times[k];
        printf("%4d %10.4f %6.1f%%  %s (%s)\n", k + 1, t->seconds * 1e3,
               total > 0 ? 100.0 * t->seconds / total : 0.0, t->name, t->label);
    }
    if (x->prof_count > shown) {
        double rest = 0;
        for (int k = shown; k < x->prof_count; k++)
            rest += x->prof_times[k].seconds;
        printf("%4s %10.4f %6.1f%%  others (%d nodes)\n", "", rest * 1e3, total > 0 ? 100.0 * rest / total : 0.0,
               x->prof_count - shown);
    }
}

static void kn_bench_print_text(const kn_bench_args *a, const kn_model_stats *stats, double load_ms,
                                const kn_bench_result *r, int n)
{
    char flops[32], params[32];
    printf("model: %s%s%s (%s per image, %s parameters, %lld nodes)\n", a->model, a->model_name ? ":" : "",
           a->model_name ? a->model_name : "",
           kn_cli_human((double)stats->flops, "FLOPs", flops, sizeof flops),
           kn_cli_grouped(stats->num_parameters, params, sizeof params), (long long)stats->num_nodes);
    char threads[32];
    if (a->threads)
        snprintf(threads, sizeof threads, "%lld", (long long)a->threads);
    else
        snprintf(threads, sizeof threads, "all cores");
    if (a->time_s > 0)
        printf("threads: %s, warm-up runs: %lld, timed: %g s per row, load: %.1f ms\n", threads,
               (long long)a->warmup, a->time_s, load_ms);
    else
        printf("threads: %s, warm-up runs: %lld, timed runs: %lld, load: %.1f ms\n", threads,
               (long long)a->warmup, (long long)a->iters, load_ms);
    const char *wait = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    printf("OMP_WAIT_POLICY: %s", wait ? wait : "unset");
    if (spin)
        printf(", GOMP_SPINCOUNT: %s", spin);
    printf("\n");
    kn_bench_print_isa(a);
    /* p99.9 only where some row has the runs for it */
    bool tail = false;
    for (int i = 0; i < n; i++)
        tail = tail || isfinite(r[i].p999);
    printf("\n%-8s %5s %9s %6s %9s %9s %9s %9s ", "backend", "batch", "init ms", "runs", "min ms", "median ms",
           "p90 ms", "p99 ms");
    if (tail)
        printf("%9s ", "p99.9 ms");
    printf("%9s %10s %8s %10s %10s %10s\n", "max ms", "images/s", "GFLOP/s", "peak RSS", "max abs", "max rel");
    for (int i = 0; i < n; i++) {
        const kn_bench_result *x = &r[i];
        char rss[32];
        kn_cli_bytes(x->peak_rss_kib > 0 ? (size_t)x->peak_rss_kib * 1024 : 0, rss, sizeof rss);
        printf("%-8s %5lld %9.1f %6lld %9.3f %9.3f %9.3f %9.3f ", x->backend, (long long)x->batch, x->init_ms,
               (long long)x->iters, x->min, x->median, x->p90, x->p99);
        if (tail && isfinite(x->p999))
            printf("%9.3f ", x->p999);
        else if (tail)
            printf("%9s ", "-");
        printf("%9.3f %10.1f %8.1f %10s %10.3g %10.3g\n", x->max, x->images_per_s, x->gflops, rss, x->max_abs,
               x->max_rel);
    }
    if (a->train)
        printf("\ntimed: training steps (every step of the train block on one batch: forward, backward, updates);\n"
               "GFLOP/s from the forward FLOPs x 3; max abs/max rel: the first batch's losses against the\n"
               "reference backend's, from the same weights and batch\n");
    else
        printf("\nmax abs/max rel: difference from the reference backend's outputs on the same inputs\n");
    for (int i = 0; i < n; i++)
        if (r[i].backend_note[0])
            printf("%s batch %lld: %s\n", r[i].backend, (long long)r[i].batch, r[i].backend_note);
    for (int i = 0; a->profile && i < n; i++)
        kn_bench_print_text_profile(&r[i]);
}

/* ------------------------------------------------------------- command */

static int kn_bench_compile(const kn_model_t *model, const kn_bench_args *a, const char *backend,
                            int64_t batch, kn_session_t **s, double *ms)
{
    kn_options opts = {0};
    opts.backend = backend;
    opts.batch = batch;
    opts.threads = (int)a->threads;
    opts.timeout_s = a->timeout_s;
    kn_error err = {0};
    double t0 = kn_bench_now_ms();
    if (kn_session_create(model, &opts, s, &err) != KN_OK)
        return kn_cli_fail("%s: %s", a->model, err.message);
    *ms = kn_bench_now_ms() - t0;
    return KN_CLI_OK;
}

/* Measure every backend at one batch size, appending to r[*n]. */
static int kn_bench_batch(const kn_model_t *model, const kn_model_stats *stats, const kn_bench_args *a,
                          int64_t batch, double load_ms, bool tty, kn_bench_result *r, int *n)
{
    kn_bench_inputs in = {0};
    kn_bench_ref ref = {0};
    bool have_ref = false;
    int rc = KN_CLI_OK;
    for (int b = 0; b < a->num_backends && rc == KN_CLI_OK; b++) {
        kn_bench_result *res = &r[*n];
        memset(res, 0, sizeof *res);
        res->backend = a->backends[b];
        res->batch = batch;
        kn_bench_progress(tty, res->backend, batch, "compiling", 0, 0);
        kn_session_t *s = NULL;
        if ((rc = kn_bench_compile(model, a, res->backend, batch, &s, &res->compile_ms)) != KN_CLI_OK)
            break;
        res->init_ms = load_ms + res->compile_ms;
        const char *note = kn_session_backend_note(s);
        snprintf(res->backend_note, sizeof res->backend_note, "%s", note ? note : "");
        if (!in.tensors && (rc = kn_bench_make_inputs(s, a->seed, &in)) != KN_CLI_OK)
            goto next;
        /* the check against the reference backend, before timing */
        kn_bench_progress(tty, res->backend, batch, "checking against ref", 0, 0);
        if (strcmp(res->backend, "ref") != 0 && !have_ref) {
            kn_session_t *rs = NULL;
            double ms;
            if ((rc = kn_bench_compile(model, a, "ref", batch, &rs, &ms)) == KN_CLI_OK &&
                (rc = kn_bench_run(rs, &in)) == KN_CLI_OK)
                rc = kn_bench_ref_capture(rs, &ref);
            kn_session_free(rs);
            if (rc != KN_CLI_OK)
                goto next;
            have_ref = true;
        }
        if ((rc = kn_bench_run(s, &in)) != KN_CLI_OK)
            goto next;
        if (strcmp(res->backend, "ref") == 0) {
            res->max_abs = res->max_rel = 0; /* the reference itself */
        } else if ((rc = kn_bench_compare(s, &ref, res->backend, &res->max_abs, &res->max_rel)) != KN_CLI_OK) {
            goto next;
        }
        if ((rc = kn_bench_time(s, &in, a, tty, res)) != KN_CLI_OK)
            goto next;
        if (a->profile && (rc = kn_bench_profile(s, &in, tty, res)) != KN_CLI_OK)
            goto next;
        res->images_per_s = (double)batch / (res->median * 1e-3);
        res->gflops = (double)stats->flops * (double)batch / (res->median * 1e-3) / 1e9;
        res->peak_rss_kib = kn_bench_peak_rss_kib();
        (*n)++;
    next:
        kn_session_free(s);
    }
    kn_bench_ref_free(&ref);
    kn_bench_inputs_free(&in);
    return rc;
}

/*
 * --train: a trainer of a.model on `backend` at batch `batch`, with seeded random images (uniform in [0, 1)) and
 * labels into *in; *compile_ms times its creation and its first batch (which compiles the training graphs), and
 * loss[] receives that batch's losses (one per step).
 */
static int kn_bench_train_setup(const kn_bench_args *a, const char *backend, int64_t batch, kn_bench_inputs *in,
                                double *compile_ms, double *loss)
{
    memset(in, 0, sizeof *in);
    kn_train_options o = {0};
    o.backend = backend;
    o.threads = (int)a->threads;
    o.batch_size = batch;
    o.seed = (uint64_t)a->seed;
    o.no_dataset = true; /* random batches: the spec's dataset need not be on this machine */
    kn_error err = {0};
    kn_train_info info;
    double t0 = kn_bench_now_ms();
    if (kn_trainer_create(a->model, &o, &in->trainer, &err) != KN_OK || kn_trainer_info(in->trainer, &info) != KN_OK)
        return kn_cli_fail("%s: %s", a->model, err.message);
    in->images.dtype = KN_F32;
    in->images.shape.rank = info.image_shape.rank + 1;
    in->images.shape.dims[0] = batch;
    memcpy(in->images.shape.dims + 1, info.image_shape.dims, sizeof(int64_t) * (size_t)info.image_shape.rank);
    size_t count;
    if (kn_shape_numel(&in->images.shape, &count) != KN_OK || count > SIZE_MAX / sizeof(float))
        return kn_cli_fail("%s: a batch of %lld images is too large", a->model, (long long)batch);
    in->images.data = malloc(count * sizeof(float));
    in->labels = (kn_tensor){.dtype = KN_I64, .shape = {.rank = 1, .dims = {batch}}};
    in->labels.data = malloc((size_t)batch * sizeof(int64_t));
    if (!in->images.data || !in->labels.data)
        return kn_cli_fail("out of memory");
    uint64_t state = (uint64_t)a->seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t k = 0; k < count; k++)
        ((float *)in->images.data)[k] = (float)((double)(kn_splitmix64(&state) >> 11) * 0x1.0p-53);
    const int64_t classes = info.num_classes > 0 ? info.num_classes : 1;
    for (int64_t k = 0; k < batch; k++)
        ((int64_t *)in->labels.data)[k] = (int64_t)(kn_splitmix64(&state) % (uint64_t)classes);
    kn_train_report r;
    if (kn_trainer_train_batch(in->trainer, &in->images, &in->labels, &r, &err) != KN_OK)
        return kn_cli_fail("%s: %s", a->model, err.message);
    *compile_ms = kn_bench_now_ms() - t0;
    for (int k = 0; k < r.num_steps; k++)
        loss[k] = r.loss[k];
    return KN_CLI_OK;
}

/* --train: time every backend's training steps at one batch size, appending to r[*n]. */
static int kn_bench_train_batch(const kn_bench_args *a, int64_t flops, int64_t batch, double load_ms, bool tty,
                                kn_bench_result *r, int *n)
{
    double ref_loss[KN_TRAIN_MAX_STEPS], loss[KN_TRAIN_MAX_STEPS], ms;
    bool have_ref = false;
    int rc = KN_CLI_OK;
    for (int b = 0; b < a->num_backends && rc == KN_CLI_OK; b++) {
        kn_bench_result *res = &r[*n];
        memset(res, 0, sizeof *res);
        res->backend = a->backends[b];
        res->batch = batch;
        kn_bench_inputs in;
        if (!have_ref) { /* the reference's first batch, from the same weights and batch, before timing */
            kn_bench_progress(tty, res->backend, batch, "checking against ref", 0, 0);
            if ((rc = kn_bench_train_setup(a, "ref", batch, &in, &ms, ref_loss)) != KN_CLI_OK) {
                kn_bench_inputs_free(&in);
                break;
            }
            have_ref = true;
            kn_bench_inputs_free(&in);
        }
        kn_bench_progress(tty, res->backend, batch, "compiling", 0, 0);
        if ((rc = kn_bench_train_setup(a, res->backend, batch, &in, &res->compile_ms, loss)) == KN_CLI_OK) {
            kn_train_info info;
            kn_trainer_info(in.trainer, &info);
            for (int k = 0; k < info.num_steps; k++) {
                double d = fabs(loss[k] - ref_loss[k]);
                res->max_abs = fmax(res->max_abs, d);
                res->max_rel = fmax(res->max_rel, d / fmax(fabs(ref_loss[k]), 1e-30));
            }
            res->init_ms = load_ms + res->compile_ms;
            if ((rc = kn_bench_time(NULL, &in, a, tty, res)) == KN_CLI_OK && a->profile)
                rc = kn_bench_profile(NULL, &in, tty, res);
            res->images_per_s = (double)batch / (res->median * 1e-3);
            res->gflops = 3.0 * (double)flops * (double)batch / (res->median * 1e-3) / 1e9;
            res->peak_rss_kib = kn_bench_peak_rss_kib();
            if (rc == KN_CLI_OK)
                (*n)++;
        }
        kn_bench_inputs_free(&in);
    }
    return rc;
}

int kn_cli_bench(int argc, char **argv);
int kn_cli_bench(int argc, char **argv)
{
    kn_bench_args a;
    int rc = kn_bench_parse(argc, argv, &a);
    if (rc != KN_CLI_OK) {
        free(a.backend_buf);
        return rc < 0 ? KN_CLI_OK : rc;
    }
    for (int i = 0; i < a.num_backends; i++)
        if (!kn_backend_find(a.backends[i])) {
            rc = kn_cli_fail("unknown backend '%s' (available: %s)", a.backends[i], kn_backend_names());
            free(a.backend_buf);
            return rc;
        }
    kn_error err = {0};
    if (a.isa && kn_backend_set_isa("dnnl", a.isa, &err) != KN_OK) {
        rc = kn_cli_fail("--isa: %s", err.message);
        free(a.backend_buf);
        return rc;
    }
    bool tty = isatty(STDERR_FILENO) == 1;
    kn_model_t *model = NULL;
    kn_bench_result *results = NULL;
    kn_model_stats stats = {0};
    double t0 = kn_bench_now_ms();
    if ((rc = kn_cli_load_model(a.model, a.model_name, &model)) != KN_CLI_OK)
        goto done;
    double load_ms = kn_bench_now_ms() - t0;
    if (kn_model_get_stats(model, &stats, &err) != KN_OK) {
        rc = kn_cli_fail("%s: %s", a.model, err.message);
        goto done;
    }
    results = calloc((size_t)(a.num_backends * a.num_batches), sizeof *results);
    if (!results) {
        rc = kn_cli_fail("out of memory");
        goto done;
    }
    int n = 0;
    for (int i = 0; i < a.num_batches && rc == KN_CLI_OK; i++)
        rc = a.train ? kn_bench_train_batch(&a, stats.flops, a.batches[i], load_ms, tty, results, &n)
                     : kn_bench_batch(model, &stats, &a, a.batches[i], load_ms, tty, results, &n);
    if (tty)
        fputs("\r\033[K", stderr);
    if (rc != KN_CLI_OK)
        goto done;
    if (a.format == KN_BENCH_JSON)
        kn_bench_print_json(&a, &stats, load_ms, model, results, n);
    else if (a.format == KN_BENCH_CSV)
        kn_bench_print_csv(&a, results, n);
    else
        kn_bench_print_text(&a, &stats, load_ms, results, n);
done:
    kn_model_free(model);
    for (int i = 0; results && i < a.num_backends * a.num_batches; i++)
        kn_node_times_free(results[i].prof_times);
    free(results);
    free(a.backend_buf);
    return rc;
}
