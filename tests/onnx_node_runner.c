/*
 * onnx_node_runner.c - run one ONNX node test (the directories of the
 * Debian package libonnx-testdata, data/node/test_*) through kiln.
 *
 *   kn_onnx_node_runner [--expect-unsupported] [--rtol R] [--atol A]
 *                       [--backend NAME] TEST_DIR
 *
 * For every TEST_DIR/test_data_set_N: loads TEST_DIR/model.onnx, feeds
 * input_K.pb to the K-th model input (positional, as ONNX's own backend test
 * does), compiles for the reference backend (a symbolic batch dimension is
 * bound to the data's leading dimension), runs, and compares output_K.pb with
 * the K-th output: |kiln - expected| <= atol + rtol * |expected|, rtol 1e-3
 * and atol 1e-7 by default (ONNX's backend-test defaults), integers and
 * booleans exactly. Tests that need another tolerance are in the table
 * below, each with its reason.
 *
 * Shape parameters given as graph inputs. Many node tests feed the
 * parameters of Reshape, Slice, Squeeze, Unsqueeze, Split, Pad and
 * ConstantOfShape as run-time inputs. kiln, a compiler, needs them at
 * compile time and refuses such graphs cleanly (KN_ERR_UNSUPPORTED); in real
 * models they are constants or folded shape computations. When the plain
 * attempt is refused at load or compile time and the test has integer
 * (int64/int32) inputs, float scalars (Range), or float32 vectors after the
 * first input of at most 2 * KN_MAX_RANK values (Resize's scales and roi), the runner tries again
 * with those inputs bound as constants of the test's values (as TVM's ONNX tests do with
 * freeze_params) through kn_options' frozen inputs, and says so. The op
 * then still runs, now with its parameters known at compile time.
 *
 * With --expect-unsupported the test is one kiln should refuse: it passes
 * only when kiln stops with a clean KN_ERR_UNSUPPORTED or KN_ERR_DTYPE error
 * (printed), and fails when the test runs to the end (then it should leave
 * tests/onnx_node_expected_failures.txt), when another error comes up, or
 * when outputs are compared and differ.
 *
 * Exit status: 0 pass, 1 fail, 2 usage error.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln.h"
#include "onnx.h"
#include "tensor_compare.h"

#define KN_NODE_MAX_IO 64
#define KN_NODE_MAX_SETS 64

/* Per-test tolerance overrides. Keep each reason next to its entry. */
typedef struct kn_node_tolerance {
    const char *test;
    double rtol, atol;
    const char *reason;
} kn_node_tolerance;

static const kn_node_tolerance kn_node_tolerances[] = {
    {NULL, 0, 0, NULL}
};

typedef struct kn_node_opts {
    int expect_unsupported;
    double rtol, atol;
    int rtol_set, atol_set;
    const char *backend;
    const char *dir;
    const char *test;    /* basename of dir */
} kn_node_opts;

/* How an attempt at one data set ended. */
typedef enum kn_node_outcome {
    KN_NODE_PASS = 0,
    KN_NODE_REFUSED,     /* a clean KN_ERR_UNSUPPORTED / KN_ERR_DTYPE */
    KN_NODE_ERROR,       /* any other error */
    KN_NODE_MISMATCH     /* ran, but outputs differ (or have the wrong count) */
} kn_node_outcome;

/* The test data of one data set. */
typedef struct kn_node_data {
    int loaded;          /* 1: read; -1: reading failed (outcome in `read`) */
    kn_node_outcome read;
    int nin, nout;
    kn_tensor inputs[KN_NODE_MAX_IO], expected[KN_NODE_MAX_IO];
} kn_node_data;

typedef struct kn_node_attempt {
    kn_node_outcome outcome;
    int early;           /* refused/failed while loading or compiling */
    int compared;        /* outputs compared */
    char message[2048];  /* why it did not pass */
} kn_node_attempt;

/* snprintf into a path buffer; 0 (and an empty path, which no stat finds) when it does not fit. */
static int kn_node_path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int kn_node_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return 0;
    }
    return 1;
}

/* Record a failed step in *a; returns 1 when `st` is a failure. */
static int kn_node_failed(kn_node_attempt *a, kn_status st, const kn_error *err, const char *what)
{
    if (st == KN_OK)
        return 0;
    a->outcome = (st == KN_ERR_UNSUPPORTED || st == KN_ERR_DTYPE) ? KN_NODE_REFUSED : KN_NODE_ERROR;
    snprintf(a->message, sizeof a->message, "%s: %s: %s", what, kn_status_name(st), err->message);
    return 1;
}

static int kn_node_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int kn_node_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int kn_node_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of TEST_DIR/test_data_set_* in order; returns the count, -1 on error. */
static int kn_node_list_sets(const char *dir, char **names, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "test_data_set_", 14) != 0 || n >= cap)
            continue;
        names[n] = strdup(e->d_name);
        if (!names[n])
            break;
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, kn_node_cmp_names);
    return n;
}

static int kn_node_count_files(const char *set_dir, const char *prefix)
{
    char path[4096];
    int k = 0;
    for (; k < KN_NODE_MAX_IO; k++) {
        kn_node_path(path, sizeof path, "%s/%s_%d.pb", set_dir, prefix, k);
        if (!kn_node_is_file(path))
            break;
    }
    return k;
}

static void kn_node_data_free(kn_node_data *d)
{
    for (int i = 0; i < KN_NODE_MAX_IO; i++) {
        kn_tensor_free_data(&d->inputs[i]);
        kn_tensor_free_data(&d->expected[i]);
    }
}

/* Read the data set's .pb files once; on failure record it in *a and return 0. */
static int kn_node_data_load(const kn_node_opts *o, const char *set_name, kn_node_data *d,
                             kn_node_attempt *a)
{
    if (d->loaded > 0)
        return 1;
    if (d->loaded < 0) {
        a->outcome = d->read;
        snprintf(a->message, sizeof a->message, "reading %s failed", set_name);
        return 0;
    }
    char set_dir[4096], path[4096], what[256];
    kn_node_path(set_dir, sizeof set_dir, "%s/%s", o->dir, set_name);
    d->nin = kn_node_count_files(set_dir, "input");
    d->nout = kn_node_count_files(set_dir, "output");
    kn_error err;
    memset(&err, 0, sizeof err);
    for (int k = 0; k < 2; k++) {
        int n = k ? d->nout : d->nin;
        for (int i = 0; i < n; i++) {
            const char *kind = k ? "output" : "input";
            kn_node_path(path, sizeof path, "%s/%s_%d.pb", set_dir, kind, i);
            snprintf(what, sizeof what, "reading %s/%s_%d.pb", set_name, kind, i);
            kn_tensor *t = k ? &d->expected[i] : &d->inputs[i];
            if (kn_node_failed(a, kn_onnx_read_tensor_file(path, t, &err), &err, what)) {
                d->loaded = -1;
                d->read = a->outcome;
                return 0;
            }
        }
    }
    d->loaded = 1;
    return 1;
}

static int kn_node_is_int(kn_dtype dt)
{
    return dt == KN_I64 || dt == KN_I32;
}

/* Whether input k of a test is a parameter to freeze: an integer tensor, a float scalar (Range's start, limit,
 * delta) or, after the first input, a short float32 vector (Resize's scales and roi: at most 2 values per
 * dimension). */
static int kn_node_is_param(int k, const kn_tensor *t)
{
    bool flt = t->dtype == KN_F32 || t->dtype == KN_F64;
    return kn_node_is_int(t->dtype) || (flt && t->shape.rank == 0) ||
           (k > 0 && t->dtype == KN_F32 && t->shape.rank == 1 && t->shape.dims[0] <= 2 * KN_MAX_RANK);
}

/* One attempt at one data set, plain or with integer inputs frozen. */
static void kn_node_attempt_set(const kn_node_opts *o, const char *set_name, kn_node_data *d, int freeze,
                                kn_node_attempt *a)
{
    memset(a, 0, sizeof *a);
    a->early = 1;
    char path[4096], what[512];
    kn_node_path(path, sizeof path, "%s/model.onnx", o->dir);
    kn_error err;
    memset(&err, 0, sizeof err);
    kn_model_t *model = NULL;
    kn_session_t *session = NULL;
    const char *names[KN_NODE_MAX_IO];
    kn_tensor feeds[KN_NODE_MAX_IO];
    int nfeeds = 0;

    if (kn_node_failed(a, kn_model_load(path, &model, &err), &err, "loading model.onnx"))
        goto done;
    if (!kn_node_data_load(o, set_name, d, a))
        goto done;
    if (d->nin != kn_model_num_inputs(model)) {
        a->outcome = KN_NODE_ERROR;
        snprintf(a->message, sizeof a->message, "%s has %d input files, the model has %d inputs", set_name,
                 d->nin, kn_model_num_inputs(model));
        goto done;
    }

    /* Feeds by name; with `freeze`, integer inputs are frozen to the test's values instead. */
    kn_options opts;
    memset(&opts, 0, sizeof opts);
    opts.backend = o->backend;
    const char *frozen_names[KN_NODE_MAX_IO];
    kn_tensor frozen_values[KN_NODE_MAX_IO];
    for (int k = 0; k < d->nin; k++) {
        kn_io_info info;
        if (kn_model_input(model, k, &info) != KN_OK) {
            a->outcome = KN_NODE_ERROR;
            snprintf(a->message, sizeof a->message, "cannot describe model input %d", k);
            goto done;
        }
        if (freeze && kn_node_is_param(k, &d->inputs[k]) && d->inputs[k].dtype == info.dtype) {
            frozen_names[opts.num_frozen] = info.name;
            frozen_values[opts.num_frozen++] = d->inputs[k];
            continue;
        }
        if (!opts.batch && info.shape.rank > 0 && info.shape.dims[0] == KN_DIM_BATCH &&
            d->inputs[k].shape.rank > 0)
            opts.batch = d->inputs[k].shape.dims[0];
        names[nfeeds] = info.name;
        feeds[nfeeds++] = d->inputs[k];
    }
    opts.frozen_names = frozen_names;
    opts.frozen_values = frozen_values;
    snprintf(what, sizeof what, "compiling for %s", set_name);
    if (kn_node_failed(a, kn_session_create(model, &opts, &session, &err), &err, what))
        goto done;
    a->early = 0;
    snprintf(what, sizeof what, "running %s", set_name);
    if (kn_node_failed(a, kn_session_run(session, nfeeds, names, feeds, &err), &err, what))
        goto done;
    if (d->nout != kn_session_num_outputs(session)) {
        a->outcome = KN_NODE_MISMATCH;
        snprintf(a->message, sizeof a->message, "%s has %d output files, the session has %d outputs",
                 set_name, d->nout, kn_session_num_outputs(session));
        goto done;
    }
    for (int i = 0; i < d->nout; i++) {
        kn_tensor got;
        snprintf(what, sizeof what, "reading output %d of %s", i, set_name);
        if (kn_node_failed(a, kn_session_get_output(session, i, &got, &err), &err, what))
            goto done;
        kn_io_info info;
        const char *oname = kn_session_output(session, i, &info) == KN_OK ? info.name : "?";
        kn_cmp_result r;
        int ok = kn_tensor_compare(&got, &d->expected[i], o->rtol, o->atol, &r);
        printf("%s: %s%s output %d '%s': %s\n", o->test, ok ? "" : "FAIL: ", set_name, i, oname,
               r.message);
        if (!ok && a->outcome == KN_NODE_PASS) {
            a->outcome = KN_NODE_MISMATCH;
            snprintf(a->message, sizeof a->message, "output %d '%s' differs", i, oname);
        }
        a->compared++;
    }

done:
    kn_session_free(session);
    kn_model_free(model);
}

static int kn_node_usage(void)
{
    fprintf(stderr, "usage: kn_onnx_node_runner [--expect-unsupported] [--rtol R] [--atol A] "
                    "[--backend NAME] TEST_DIR\n");
    return 2;
}

static int kn_node_parse(int argc, char **argv, kn_node_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rtol = 1e-3;
    o->atol = 1e-7;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--expect-unsupported")) {
            o->expect_unsupported = 1;
        } else if (!strcmp(a, "--rtol") || !strcmp(a, "--atol")) {
            if (i + 1 >= argc)
                return 0;
            char *end = NULL;
            double v = strtod(argv[++i], &end);
            if (!end || *end || !(v >= 0))
                return 0;
            if (a[2] == 'r') {
                o->rtol = v;
                o->rtol_set = 1;
            } else {
                o->atol = v;
                o->atol_set = 1;
            }
        } else if (!strcmp(a, "--backend")) {
            if (i + 1 >= argc)
                return 0;
            o->backend = argv[++i];
        } else if (a[0] == '-' || o->dir) {
            return 0;
        } else {
            o->dir = a;
        }
    }
    if (!o->dir)
        return 0;
    const char *slash = strrchr(o->dir, '/');
    o->test = slash && slash[1] ? slash + 1 : o->dir;
    for (const kn_node_tolerance *t = kn_node_tolerances; t->test; t++) {
        if (strcmp(t->test, o->test) != 0)
            continue;
        if (!o->rtol_set)
            o->rtol = t->rtol;
        if (!o->atol_set)
            o->atol = t->atol;
        printf("%s: tolerance rtol %g atol %g (%s)\n", o->test, o->rtol, o->atol, t->reason);
    }
    return 1;
}

int main(int argc, char **argv)
{
    kn_node_opts o;
    if (!kn_node_parse(argc, argv, &o))
        return kn_node_usage();
    char path[4096];
    kn_node_path(path, sizeof path, "%s/model.onnx", o.dir);
    if (!kn_node_is_dir(o.dir) || !kn_node_is_file(path)) {
        printf("%s: FAIL: %s is not an ONNX node test directory\n", o.test, o.dir);
        return 1;
    }
    char *sets[KN_NODE_MAX_SETS];
    int nsets = kn_node_list_sets(o.dir, sets, KN_NODE_MAX_SETS);
    if (nsets <= 0) {
        printf("%s: FAIL: no test_data_set_* in %s\n", o.test, o.dir);
        return 1;
    }

    kn_node_attempt a;
    memset(&a, 0, sizeof a);
    int compared = 0, froze = 0;
    for (int s = 0; s < nsets && a.outcome == KN_NODE_PASS; s++) {
        kn_node_data *d = calloc(1, sizeof *d);
        if (!d) {
            printf("%s: FAIL: out of memory\n", o.test);
            return 1;
        }
        kn_node_attempt_set(&o, sets[s], d, 0, &a);
        kn_node_attempt readout;
        memset(&readout, 0, sizeof readout);
        if (a.outcome == KN_NODE_REFUSED && a.early && kn_node_data_load(&o, sets[s], d, &readout)) {
            int has_int = 0;
            for (int k = 0; k < d->nin; k++)
                has_int |= kn_node_is_param(k, &d->inputs[k]);
            if (has_int) {
                printf("%s: %s: plain attempt refused (%s); trying again with the parameter inputs "
                       "bound as constants\n", o.test, sets[s], a.message);
                kn_node_attempt_set(&o, sets[s], d, 1, &a);
                froze = 1;
            }
        }
        compared += a.compared;
        kn_node_data_free(d);
        free(d);
    }
    for (int s = 0; s < nsets; s++)
        free(sets[s]);

    if (o.expect_unsupported) {
        switch (a.outcome) {
        case KN_NODE_REFUSED:
            printf("%s: expected failure, refused cleanly: %s\n", o.test, a.message);
            return 0;
        case KN_NODE_PASS:
            printf("%s: FAIL: listed in tests/onnx_node_expected_failures.txt but ran and matched "
                   "(%d outputs); remove it from that list\n", o.test, compared);
            return 1;
        default:
            printf("%s: FAIL: listed as an expected failure, but kiln did not refuse it with a clean "
                   "KN_ERR_UNSUPPORTED/KN_ERR_DTYPE: %s\n", o.test, a.message);
            return 1;
        }
    }
    if (a.outcome != KN_NODE_PASS) {
        printf("%s: FAIL: %s\n", o.test, a.message);
        return 1;
    }
    printf("%s: pass (%d data sets, %d outputs%s)\n", o.test, nsets, compared,
           froze ? ", parameter inputs bound as constants" : "");
    return 0;
}
