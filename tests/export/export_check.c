/*
 * export_check.c - ONNX export round trips for the ctest cases of
 * tests/export.cmake.
 *
 *   kn_export_check roundtrip IN.onnx OUT.onnx [--batch N]
 *                   [--input NAME=FILE.npy ...] [--random-inputs DIR]
 *                   [--output-dir DIR] [--atol A]
 *       Load IN.onnx, save it with kn_model_save_onnx as OUT.onnx, load
 *       that, and check that both models have the same inputs and outputs
 *       (names, dtypes, shapes; a symbolic batch must stay symbolic). With
 *       inputs (given as .npy files, or random ones written to
 *       DIR/<input>.npy), run both on the reference backend and require
 *       every output to agree within A (default 1e-6; integers exactly).
 *       --output-dir writes the re-imported model's outputs as
 *       DIR/<output name>.npy (for scripts/check_export_ort.js).
 *
 *   kn_export_check nodetests DATA_DIR LIST XFAIL OUT_DIR
 *       For every ONNX node test named in LIST (tests/onnx_node_tests.txt)
 *       and not in XFAIL: export DATA_DIR/<test>/model.onnx as
 *       OUT_DIR/<test>.onnx, and run both on test_data_set_0 (integer
 *       inputs frozen when the plain compile is refused, as the node
 *       runner does); outputs must agree within 1e-6 (+1e-6 relative).
 *
 *   kn_export_check synthetic OUT_DIR
 *       Graphs built here with the IR API, for what no fixture has: the op
 *       forms opset 13 spells with several nodes (Clip-6 bounds, Dropout
 *       ratio attribute, HardSwish, legacy Softmax/LogSoftmax, Shape
 *       start/end) and fused post-ops (residual add + activation on MatMul,
 *       LeakyRelu on Conv). Each is saved as OUT_DIR/<name>.onnx, reloaded
 *       and run against the original (the fused one against the same graph
 *       written without fusion) on random inputs (OUT_DIR/<name>_in), and the
 *       outputs go to OUT_DIR/<name>_out; OUT_DIR/manifest.txt lists them
 *       for scripts/check_export_ort.js.
 *
 *   kn_export_check dot MODEL OUT.dot HOSTILE.dot
 *       Write MODEL's graph (kn_graph_dump_dot) to OUT.dot, and a small
 *       graph whose names hold quotes, backslashes, newlines, braces and
 *       UTF-8 to HOSTILE.dot (for rendering with Graphviz).
 *
 * Exit status: 0 pass, 1 a check failed, 2 usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir.h"
#include "kiln.h"
#include "onnx.h"
#include "runtime_internal.h"
#include "tensor_compare.h"

#define KN_EC_MAX_IO 64

typedef struct kn_ec_feeds {
    int count;
    const char *names[KN_EC_MAX_IO];
    kn_tensor values[KN_EC_MAX_IO];
} kn_ec_feeds;

static void kn_ec_feeds_free(kn_ec_feeds *f)
{
    for (int i = 0; i < f->count; i++)
        kn_tensor_free_data(&f->values[i]);
    f->count = 0;
}

static const char *kn_ec_shape(const kn_shape *s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, s->dims[i] == KN_DIM_BATCH ? "%sN" : "%s%lld",
                                 i ? "," : "", (long long)s->dims[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* Same inputs and outputs (names, dtypes, shapes). */
static int kn_ec_same_io(const kn_model_t *a, const kn_model_t *b, char *msg, size_t cap)
{
    for (int k = 0; k < 2; k++) {
        int na = k ? kn_model_num_outputs(a) : kn_model_num_inputs(a);
        int nb = k ? kn_model_num_outputs(b) : kn_model_num_inputs(b);
        const char *what = k ? "output" : "input";
        if (na != nb) {
            snprintf(msg, cap, "%d %ss before export, %d after", na, what, nb);
            return 0;
        }
        for (int i = 0; i < na; i++) {
            kn_io_info x, y;
            if ((k ? kn_model_output(a, i, &x) : kn_model_input(a, i, &x)) != KN_OK ||
                (k ? kn_model_output(b, i, &y) : kn_model_input(b, i, &y)) != KN_OK) {
                snprintf(msg, cap, "cannot describe %s %d", what, i);
                return 0;
            }
            char sx[160], sy[160];
            bool same_shape = x.shape.rank == y.shape.rank;
            for (int d = 0; same_shape && d < x.shape.rank; d++)
                same_shape = x.shape.dims[d] == y.shape.dims[d];
            if (strcmp(x.name, y.name) != 0 || x.dtype != y.dtype || !same_shape) {
                snprintf(msg, cap, "%s %d: '%s' %s%s before export, '%s' %s%s after", what, i, x.name,
                         kn_dtype_name(x.dtype), kn_ec_shape(&x.shape, sx, sizeof sx), y.name,
                         kn_dtype_name(y.dtype), kn_ec_shape(&y.shape, sy, sizeof sy));
                return 0;
            }
        }
    }
    return 1;
}

static uint64_t kn_ec_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random data for every model input (batch `batch`), written to DIR/<name>.npy. */
static int kn_ec_random_inputs(const kn_model_t *m, int64_t batch, const char *dir, kn_ec_feeds *f)
{
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < kn_model_num_inputs(m) && i < KN_EC_MAX_IO; i++) {
        kn_io_info info;
        if (kn_model_input(m, i, &info) != KN_OK)
            return 0;
        kn_tensor *t = &f->values[f->count];
        memset(t, 0, sizeof *t);
        t->dtype = info.dtype;
        t->shape = info.shape;
        for (int d = 0; d < t->shape.rank; d++)
            if (t->shape.dims[d] == KN_DIM_BATCH)
                t->shape.dims[d] = batch;
        size_t n, bytes;
        if (kn_shape_numel(&t->shape, &n) != KN_OK || kn_tensor_nbytes(t->dtype, &t->shape, &bytes) != KN_OK)
            return 0;
        t->data = malloc(bytes ? bytes : 1);
        if (!t->data)
            return 0;
        f->names[f->count++] = info.name;
        for (size_t j = 0; j < n; j++) {
            uint64_t r = kn_ec_next(&state);
            double u = (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0;
            switch (t->dtype) {
            case KN_F32: ((float *)t->data)[j] = (float)u; break;
            case KN_F64: ((double *)t->data)[j] = u; break;
            case KN_I64: ((int64_t *)t->data)[j] = (int64_t)(r % 3); break;
            case KN_I32: ((int32_t *)t->data)[j] = (int32_t)(r % 3); break;
            default: ((uint8_t *)t->data)[j] = (uint8_t)(r % 2); break;
            }
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, info.name);
        for (char *p = path + strlen(dir) + 1; *p; p++)
            if (*p == '/')
                *p = '_';
        kn_error err;
        if (kn_npy_write(path, t, &err) != KN_OK) {
            fprintf(stderr, "export_check: %s\n", err.message);
            return 0;
        }
        printf("random input '%s' -> %s\n", info.name, path);
    }
    return 1;
}

/* Compile `m` for the feeds' batch; integer inputs frozen when `freeze`. */
static kn_status kn_ec_session(const kn_model_t *m, const kn_ec_feeds *f, int64_t batch, bool freeze,
                               kn_session_t **s, kn_ec_feeds *run, kn_error *err)
{
    kn_options opts;
    memset(&opts, 0, sizeof opts);
    opts.threads = 2;
    const char *fn[KN_EC_MAX_IO];
    kn_tensor fv[KN_EC_MAX_IO];
    run->count = 0;
    for (int i = 0; i < f->count; i++) {
        kn_io_info info;
        bool is_int = f->values[i].dtype == KN_I64 || f->values[i].dtype == KN_I32;
        if (freeze && is_int) {
            fn[opts.num_frozen] = f->names[i];
            fv[opts.num_frozen++] = f->values[i];
            continue;
        }
        for (int k = 0; k < kn_model_num_inputs(m); k++)
            if (kn_model_input(m, k, &info) == KN_OK && strcmp(info.name, f->names[i]) == 0 && !batch &&
                info.shape.rank > 0 && info.shape.dims[0] == KN_DIM_BATCH && f->values[i].shape.rank > 0)
                batch = f->values[i].shape.dims[0];
        run->names[run->count] = f->names[i];
        run->values[run->count++] = f->values[i];
    }
    opts.batch = batch;
    opts.frozen_names = fn;
    opts.frozen_values = fv;
    return kn_session_create(m, &opts, s, err);
}

/*
 * Run `a` and `b` on the feeds and compare their outputs. Returns 1 when
 * they agree, 0 when not, -1 when `a` itself cannot be compiled or run.
 */
static int kn_ec_compare_runs(const kn_model_t *a, const kn_model_t *b, const kn_ec_feeds *f, int64_t batch,
                              double rtol, double atol, const char *output_dir, const char *label)
{
    kn_error err;
    kn_session_t *sa = NULL, *sb = NULL;
    kn_ec_feeds ra, rb;
    bool freeze = false;
    kn_status st = kn_ec_session(a, f, batch, false, &sa, &ra, &err);
    if (st != KN_OK) {
        freeze = true;
        st = kn_ec_session(a, f, batch, true, &sa, &ra, &err);
    }
    if (st == KN_OK)
        st = kn_session_run(sa, ra.count, ra.names, ra.values, &err);
    if (st != KN_OK) {
        printf("%s: the original model does not run: %s\n", label, err.message);
        kn_session_free(sa);
        return -1;
    }
    int ok = 1;
    st = kn_ec_session(b, f, batch, freeze, &sb, &rb, &err);
    if (st == KN_OK)
        st = kn_session_run(sb, rb.count, rb.names, rb.values, &err);
    if (st != KN_OK) {
        printf("%s: FAIL: the exported model does not run: %s\n", label, err.message);
        ok = 0;
    }
    for (int i = 0; ok && i < kn_session_num_outputs(sa); i++) {
        kn_tensor ta, tb;
        kn_io_info info;
        kn_session_output(sa, i, &info);
        if (kn_session_get_output(sa, i, &ta, &err) != KN_OK || kn_session_get_output(sb, i, &tb, &err) != KN_OK) {
            printf("%s: FAIL: output %d: %s\n", label, i, err.message);
            ok = 0;
            break;
        }
        kn_cmp_result r;
        bool same = kn_tensor_compare(&tb, &ta, rtol, atol, &r);
        printf("%s: %soutput '%s': max abs diff %.3g (%s)\n", label, same ? "" : "FAIL: ", info.name, r.max_abs,
               r.message);
        if (!same)
            ok = 0;
        if (ok && output_dir) {
            char path[4096];
            int len = snprintf(path, sizeof path, "%s/", output_dir);
            snprintf(path + len, sizeof path - (size_t)len, "%s.npy", info.name);
            for (char *p = path + len; *p; p++)
                if (*p == '/' || *p == '\\')
                    *p = '_';
            if (kn_npy_write(path, &tb, &err) != KN_OK) {
                printf("%s: FAIL: %s\n", label, err.message);
                ok = 0;
            }
        }
    }
    kn_session_free(sa);
    kn_session_free(sb);
    return ok;
}

/* Load in, save as out, reload; *a and *b receive the two models. */
static int kn_ec_export(const char *in, const char *out, kn_model_t **a, kn_model_t **b, const char *label)
{
    kn_error err;
    char msg[1024];
    *a = *b = NULL;
    if (kn_model_load(in, a, &err) != KN_OK) {
        printf("%s: the original model does not load: %s\n", label, err.message);
        return -1;
    }
    if (kn_model_save_onnx(*a, out, &err) != KN_OK) {
        printf("%s: FAIL: export: %s\n", label, err.message);
        return 0;
    }
    if (kn_model_load(out, b, &err) != KN_OK) {
        printf("%s: FAIL: re-import: %s\n", label, err.message);
        return 0;
    }
    if (!kn_ec_same_io(*a, *b, msg, sizeof msg)) {
        printf("%s: FAIL: %s\n", label, msg);
        return 0;
    }
    return 1;
}

static int kn_ec_usage(void)
{
    fprintf(stderr,
            "usage: kn_export_check roundtrip IN.onnx OUT.onnx [--batch N] [--input NAME=FILE.npy ...]\n"
            "                       [--random-inputs DIR] [--output-dir DIR] [--atol A]\n"
            "       kn_export_check nodetests DATA_DIR LIST XFAIL OUT_DIR\n"
            "       kn_export_check synthetic OUT_DIR\n"
            "       kn_export_check dot MODEL OUT.dot HOSTILE.dot\n");
    return 2;
}

static int kn_ec_roundtrip(int argc, char **argv)
{
    if (argc < 4)
        return kn_ec_usage();
    const char *in = argv[2], *out = argv[3], *random_dir = NULL, *output_dir = NULL;
    int64_t batch = 0;
    double atol = 1e-6;
    kn_ec_feeds f;
    memset(&f, 0, sizeof f);
    int rc = 1;
    for (int i = 4; i < argc; i++) {
        if (i + 1 >= argc)
            return kn_ec_usage();
        const char *opt = argv[i], *val = argv[++i];
        if (strcmp(opt, "--batch") == 0) {
            batch = strtoll(val, NULL, 10);
        } else if (strcmp(opt, "--atol") == 0) {
            atol = strtod(val, NULL);
        } else if (strcmp(opt, "--random-inputs") == 0) {
            random_dir = val;
        } else if (strcmp(opt, "--output-dir") == 0) {
            output_dir = val;
        } else if (strcmp(opt, "--input") == 0 && strchr(val, '=') && f.count < KN_EC_MAX_IO) {
            const char *eq = strchr(val, '=');
            kn_error err;
            char *name = strndup(val, (size_t)(eq - val));
            if (!name || kn_npy_read(eq + 1, &f.values[f.count], &err) != KN_OK) {
                printf("FAIL: %s\n", name ? err.message : "out of memory");
                free(name);
                goto done;
            }
            f.names[f.count++] = name;
        } else {
            return kn_ec_usage();
        }
    }
    kn_model_t *a, *b;
    int r = kn_ec_export(in, out, &a, &b, in);
    if (r == 1 && random_dir) {
        mkdir(random_dir, 0777);
        if (!kn_ec_random_inputs(a, batch ? batch : 2, random_dir, &f)) {
            printf("%s: FAIL: cannot make random inputs\n", in);
            r = 0;
        }
    }
    if (r == 1 && output_dir)
        mkdir(output_dir, 0777);
    if (r == 1 && f.count > 0)
        r = kn_ec_compare_runs(a, b, &f, batch, 0.0, atol, output_dir, in);
    if (r == 1)
        printf("%s: round trip through %s OK\n", in, out);
    rc = r == 1 ? 0 : 1;
    kn_model_free(a);
    kn_model_free(b);
done:
    if (!random_dir)
        for (int i = 0; i < f.count; i++)
            free((char *)f.names[i]);
    kn_ec_feeds_free(&f);
    return rc;
}

/* Whether `name` starts a line of the file (as "name" followed by a blank or the end). */
static bool kn_ec_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        if (strncmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == ' ' || p[n] == '\t' || p[n] == '\n'))
            return true;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static char *kn_ec_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (len + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(fp);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int kn_ec_nodetests(int argc, char **argv)
{
    if (argc != 6)
        return kn_ec_usage();
    const char *data = argv[2], *out_dir = argv[5];
    char *list = kn_ec_slurp(argv[3]), *xfail = kn_ec_slurp(argv[4]);
    if (!list) {
        fprintf(stderr, "export_check: cannot read %s: %s\n", argv[3], strerror(errno));
        free(xfail);
        return 1;
    }
    mkdir(out_dir, 0777);
    int passed = 0, failed = 0, skipped = 0;
    for (char *line = list; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char name[256];
        if (sscanf(line, "%255s", name) != 1 || strncmp(name, "test_", 5) != 0 || kn_ec_listed(xfail, name)) {
            line = next;
            continue;
        }
        line = next;
        char in[4096], out[4096];
        snprintf(in, sizeof in, "%s/%s/model.onnx", data, name);
        snprintf(out, sizeof out, "%s/%s.onnx", out_dir, name);
        kn_model_t *a, *b;
        int r = kn_ec_export(in, out, &a, &b, name);
        kn_ec_feeds f;
        memset(&f, 0, sizeof f);
        for (int k = 0; r == 1 && k < kn_model_num_inputs(a) && k < KN_EC_MAX_IO; k++) {
            char path[4096];
            kn_error err;
            kn_io_info info;
            snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", data, name, k);
            if (kn_model_input(a, k, &info) != KN_OK ||
                kn_onnx_read_tensor_file(path, &f.values[k], &err) != KN_OK) {
                printf("%s: cannot read input %d\n", name, k);
                r = -1;
                break;
            }
            f.names[k] = info.name;
            f.count = k + 1;
        }
        if (r == 1)
            r = kn_ec_compare_runs(a, b, &f, 0, 1e-6, 1e-6, NULL, name);
        kn_ec_feeds_free(&f);
        kn_model_free(a);
        kn_model_free(b);
        if (r == 1)
            passed++;
        else if (r == 0)
            failed++;
        else
            skipped++;
    }
    printf("node tests through export: %d passed, %d failed, %d skipped (kiln does not run the original)\n",
           passed, failed, skipped);
    free(list);
    free(xfail);
    return failed || passed == 0 ? 1 : 0;
}

/* ------------------------------------------------------------ synthetic */

typedef struct kn_ec_builder {
    kn_graph g;
    kn_error err;
    bool ok;
} kn_ec_builder;

static int kn_ec_value(kn_ec_builder *b, const char *name, kn_dtype dt, int rank, const int64_t *dims,
                       kn_value_kind kind)
{
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.dims[i] = dims[i];
    int id = -1;
    void *data = NULL;
    if (kind == KN_VALUE_PARAM) {
        size_t n = 0;
        kn_shape_numel(&s, &n);
        float *w = malloc((n ? n : 1) * sizeof(float));
        uint64_t state = 0x2545f4914f6cdd1dULL + (uint64_t)b->g.num_values;
        for (size_t i = 0; w && i < n; i++)
            w[i] = (float)((double)(kn_ec_next(&state) >> 11) / 9007199254740992.0 - 0.5);
        data = w;
        if (!w)
            b->ok = false;
    }
    if (b->ok && kn_graph_add_value(&b->g, name, kind == KN_VALUE_INTERMEDIATE ? KN_DTYPE_UNDEFINED : dt,
                                    kind == KN_VALUE_INTERMEDIATE ? NULL : &s, kind, data, &id, &b->err) != KN_OK) {
        free(data);
        b->ok = false;
    }
    if (b->ok && kind == KN_VALUE_INTERMEDIATE)
        b->g.values[id].dtype = dt;
    if (b->ok && kind == KN_VALUE_INPUT && kn_graph_add_input(&b->g, id, &b->err) != KN_OK)
        b->ok = false;
    return id;
}

static int kn_ec_node(kn_ec_builder *b, const char *name, kn_op op, const int *in, int nin, int out,
                      const kn_attrs *attrs, bool is_output)
{
    int id = -1;
    if (b->ok && kn_graph_add_node(&b->g, name, op, in, nin, &out, 1, attrs, &id, &b->err) != KN_OK)
        b->ok = false;
    if (b->ok && is_output && kn_graph_add_output(&b->g, out, &b->err) != KN_OK)
        b->ok = false;
    return id;
}

/* The op forms opset 13 spells differently, all reading x[N,3,4,5]. */
static void kn_ec_build_forms(kn_ec_builder *b)
{
    const int64_t xd[4] = {KN_DIM_BATCH, 3, 4, 5};
    int x = kn_ec_value(b, "x", KN_F32, 4, xd, KN_VALUE_INPUT);
    static const struct {
        const char *name;
        kn_op op;
        int64_t axis;
        bool legacy;
    } forms[] = {{"clip", KN_OP_CLIP, 0, false},          {"drop", KN_OP_DROPOUT, 0, false},
                 {"hswish", KN_OP_HARD_SWISH, 0, false},   {"sm_legacy1", KN_OP_SOFTMAX, 1, true},
                 {"sm_legacy0", KN_OP_SOFTMAX, 0, true},   {"lsm_legacy2", KN_OP_LOG_SOFTMAX, 2, true},
                 {"lsm_last", KN_OP_LOG_SOFTMAX, -1, true}, {"sm_new", KN_OP_SOFTMAX, 2, false}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        kn_attrs a;
        kn_attrs_init(forms[i].op, &a);
        if (forms[i].op == KN_OP_CLIP)
            a.scalar.min = -0.3f, a.scalar.max = 0.4f;
        if (forms[i].op == KN_OP_DROPOUT)
            a.scalar.ratio = 0.3f;
        if (forms[i].op == KN_OP_SOFTMAX || forms[i].op == KN_OP_LOG_SOFTMAX)
            a.axis.axis = forms[i].axis, a.axis.legacy_2d = forms[i].legacy;
        char out[64];
        snprintf(out, sizeof out, "%s_y", forms[i].name);
        int y = kn_ec_value(b, out, KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
        kn_ec_node(b, forms[i].name, forms[i].op, &x, 1, y, &a, true);
    }
    kn_attrs a;
    kn_attrs_init(KN_OP_SHAPE, &a);
    a.shape.start = 1, a.shape.end = -1, a.shape.has_end = true;
    int s = kn_ec_value(b, "shape_y", KN_I64, 0, NULL, KN_VALUE_INTERMEDIATE);
    kn_ec_node(b, "shape", KN_OP_SHAPE, &x, 1, s, &a, true);
}

/* MatMul + residual + Relu and Conv + LeakyRelu, fused (as a fusion pass leaves them) or not. */
static void kn_ec_build_fused(kn_ec_builder *b, bool fused)
{
    int x = kn_ec_value(b, "x", KN_F32, 2, (const int64_t[]){KN_DIM_BATCH, 4}, KN_VALUE_INPUT);
    int r = kn_ec_value(b, "r", KN_F32, 2, (const int64_t[]){KN_DIM_BATCH, 3}, KN_VALUE_INPUT);
    int img = kn_ec_value(b, "img", KN_F32, 4, (const int64_t[]){KN_DIM_BATCH, 2, 5, 5}, KN_VALUE_INPUT);
    int w = kn_ec_value(b, "w", KN_F32, 2, (const int64_t[]){4, 3}, KN_VALUE_PARAM);
    int cw = kn_ec_value(b, "cw", KN_F32, 4, (const int64_t[]){3, 2, 3, 3}, KN_VALUE_PARAM);
    int cb = kn_ec_value(b, "cb", KN_F32, 1, (const int64_t[]){3}, KN_VALUE_PARAM);
    int y = kn_ec_value(b, "y", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    int c = kn_ec_value(b, "c", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    kn_attrs conv, lr;
    kn_attrs_init(KN_OP_CONV, &conv);
    conv.window.nspatial = 2;
    conv.window.kernel[0] = conv.window.kernel[1] = 3;
    conv.window.pad_begin[0] = conv.window.pad_end[1] = 1;
    kn_attrs_init(KN_OP_LEAKY_RELU, &lr);
    lr.scalar.alpha = 0.2f;
    if (fused) {
        int mm = kn_ec_node(b, "mm", KN_OP_MATMUL, (const int[]){x, w, r}, 3, y, NULL, true);
        int cv = kn_ec_node(b, "conv", KN_OP_CONV, (const int[]){img, cw, cb}, 3, c, &conv, true);
        if (b->ok) {
            b->g.nodes[mm].fused.residual = 2;
            b->g.nodes[mm].fused.activation = KN_OP_RELU;
            b->g.nodes[cv].fused.activation = KN_OP_LEAKY_RELU;
            b->g.nodes[cv].fused.act = lr.scalar;
        }
        return;
    }
    int m = kn_ec_value(b, "m", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    int sum = kn_ec_value(b, "s", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    int c0 = kn_ec_value(b, "c0", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    kn_ec_node(b, "mm", KN_OP_MATMUL, (const int[]){x, w}, 2, m, NULL, false);
    kn_ec_node(b, "add", KN_OP_ADD, (const int[]){m, r}, 2, sum, NULL, false);
    kn_ec_node(b, "relu", KN_OP_RELU, &sum, 1, y, NULL, true);
    kn_ec_node(b, "conv", KN_OP_CONV, (const int[]){img, cw, cb}, 3, c0, &conv, false);
    kn_ec_node(b, "lrelu", KN_OP_LEAKY_RELU, &c0, 1, c, &lr, true);
}

static kn_model_t *kn_ec_model(kn_ec_builder *b, const char *name)
{
    kn_model_t *m = b->ok ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        printf("%s: FAIL: building the graph: %s\n", name, b->ok ? "out of memory" : b->err.message);
        kn_graph_free(&b->g);
        return NULL;
    }
    b->g.name = strdup(name);
    m->graph = b->g;
    return m;
}

static int kn_ec_synthetic(int argc, char **argv)
{
    if (argc != 3)
        return kn_ec_usage();
    const char *dir = argv[2];
    mkdir(dir, 0777);
    FILE *manifest = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    manifest = fopen(path, "w");
    if (!manifest) {
        printf("FAIL: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "fused" : "forms";
        kn_ec_builder ref, exp;
        memset(&ref, 0, sizeof ref);
        memset(&exp, 0, sizeof exp);
        ref.ok = exp.ok = true;
        kn_graph_init(&ref.g);
        kn_graph_init(&exp.g);
        if (k) {
            kn_ec_build_fused(&ref, false);
            kn_ec_build_fused(&exp, true);
        } else {
            kn_ec_build_forms(&ref);
            kn_ec_build_forms(&exp);
        }
        kn_model_t *a = kn_ec_model(&ref, name), *e = kn_ec_model(&exp, name), *b = NULL;
        char out[4096], in_dir[4096], out_dir[4096];
        snprintf(out, sizeof out, "%s/%s.onnx", dir, name);
        snprintf(in_dir, sizeof in_dir, "%s/%s_in", dir, name);
        snprintf(out_dir, sizeof out_dir, "%s/%s_out", dir, name);
        kn_error err;
        int r = a && e ? 1 : 0;
        if (r && kn_model_save_onnx(e, out, &err) != KN_OK) {
            printf("%s: FAIL: export: %s\n", name, err.message);
            r = 0;
        }
        if (r && kn_model_load(out, &b, &err) != KN_OK) {
            printf("%s: FAIL: re-import: %s\n", name, err.message);
            r = 0;
        }
        kn_ec_feeds f;
        memset(&f, 0, sizeof f);
        if (r) {
            mkdir(in_dir, 0777);
            mkdir(out_dir, 0777);
            r = kn_ec_random_inputs(a, 2, in_dir, &f);
        }
        if (r)
            r = kn_ec_compare_runs(a, b, &f, 0, 0.0, 1e-6, out_dir, name) == 1;
        if (r) {
            fprintf(manifest, "%s %s", out, out_dir);
            for (int i = 0; i < f.count; i++)
                fprintf(manifest, " %s=%s/%s.npy", f.names[i], in_dir, f.names[i]);
            fprintf(manifest, "\n");
            printf("%s: round trip through %s OK\n", name, out);
        }
        failed += !r;
        kn_ec_feeds_free(&f);
        kn_model_free(a);
        kn_model_free(e);
        kn_model_free(b);
    }
    if (fclose(manifest) != 0)
        failed++;
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ dot */

static int kn_ec_write_dot(const kn_graph *g, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("FAIL: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    kn_graph_dump_dot(g, f);
    if (fclose(f) != 0) {
        printf("FAIL: cannot write %s\n", path);
        return 0;
    }
    printf("wrote %s\n", path);
    return 1;
}

static int kn_ec_dot(int argc, char **argv)
{
    if (argc != 5)
        return kn_ec_usage();
    kn_model_t *m;
    kn_error err;
    if (kn_model_load(argv[2], &m, &err) != KN_OK) {
        printf("FAIL: %s\n", err.message);
        return 1;
    }
    int ok = kn_ec_write_dot(&m->graph, argv[3]);
    kn_model_free(m);

    kn_ec_builder b;
    memset(&b, 0, sizeof b);
    b.ok = true;
    kn_graph_init(&b.g);
    int x = kn_ec_value(&b, "in\"put\\ {x}", KN_F32, 2, (const int64_t[]){KN_DIM_BATCH, 4}, KN_VALUE_INPUT);
    int w = kn_ec_value(&b, "w\nline two; -> [label=\"x\"]", KN_F32, 2, (const int64_t[]){4, 3},
                        KN_VALUE_PARAM);
    int y = kn_ec_value(&b, "\xc3\xa9t\xc3\xa9 \\\"}", KN_F32, 0, NULL, KN_VALUE_INTERMEDIATE);
    int n = kn_ec_node(&b, "node \"1\" \\n {digraph}", KN_OP_MATMUL, (const int[]){x, w}, 2, y, NULL, true);
    if (b.ok)
        b.g.nodes[n].fused.activation = KN_OP_RELU;
    b.g.name = strdup("graph \"with\" {braces}\\");
    if (!b.ok) {
        printf("FAIL: %s\n", b.err.message);
        ok = 0;
    } else {
        ok &= kn_ec_write_dot(&b.g, argv[4]);
    }
    kn_graph_free(&b.g);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return kn_ec_usage();
    if (strcmp(argv[1], "roundtrip") == 0)
        return kn_ec_roundtrip(argc, argv);
    if (strcmp(argv[1], "nodetests") == 0)
        return kn_ec_nodetests(argc, argv);
    if (strcmp(argv[1], "synthetic") == 0)
        return kn_ec_synthetic(argc, argv);
    if (strcmp(argv[1], "dot") == 0)
        return kn_ec_dot(argc, argv);
    return kn_ec_usage();
}
