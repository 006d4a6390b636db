/*
 * dnnl_tune.c - the convolutions' activation layout, chosen by timing the
 * whole graph at compile time (kn_dnnl_backend.compile).
 *
 * Why: on AVX-512 CPUs oneDNN 2.6 ranks its brgconv kernels on nhwc first,
 * and which of its implementations is fastest depends on the CPU, the model
 * and the batch. Measured on an AMD EPYC (Zen 4, 2 threads; oneDNN's ISA
 * AVX512_CORE_BF16), per run: MobileNet-V2 at batch 8 53 ms with oneDNN's
 * choice (nhwc), 49 ms on nChw16c (its AVX-512 blocked kernels), 45 ms on
 * nChw8c (its AVX2 kernels); EfficientNet-B0 at batch 1 13.8 / 9.7 / 10.9 ms;
 * ResNet-18 at batch 8 104 / 111 / 114 ms (oneDNN's choice best);
 * DenseNet-121 at batch 1 50 / 46 / 35 ms. No fixed rule picks the best of
 * each row, so the backend times them.
 *
 * How: on a CPU where the choice exists (oneDNN's ISA AVX512_CORE or
 * above), for an inference graph (no variables, no side-effect node: a run
 * changes nothing) with at least one Conv/ConvTranspose, the graph is
 * compiled once per candidate (oneDNN's choice, nChw16c, nChw8c as the src
 * and dst of every convolution primitive; other nodes follow their
 * producers as always), each executable runs once to warm up and three
 * times timed (the fastest counts: the machine's noise only slows
 * runs down), and freed before the next is compiled (the peak memory is
 * one executable's); the fastest is compiled again (unless it was the
 * last). Then, when kiln's Winograd kernel could take some of the Convs,
 * each of those is timed against oneDNN's convolution in that layout and
 * runs on the faster (below: "Winograd or oneDNN, per convolution"). A candidate whose first timed run takes more than
 * KN_DNNL_TUNE_SHORT_RUN_S is timed by that one run (a run that long
 * averages the noise of its parts; DenseNet-121 at batch 8, 0.28 s a run,
 * is 267 ms on nChw16c against 284 on oneDNN's choice, so it is worth 1.7 s
 * of timing once); when the first timed run of oneDNN's choice (timed
 * first) takes more than KN_DNNL_TUNE_MAX_RUN_S, the timing stops there (a
 * big model would pay seconds at every start) and oneDNN's choice is kept. The choice is remembered for the process, keyed by the graph's
 * structure (ops, attributes, shapes), the thread count and the ISA, so a
 * second session of the same model compiles once.
 *
 * The choice (the layout and the per-node Winograd choice) is also kept on disk, so that the next process (a second
 * `kiln run` of the model) does not time it again: one line per graph in
 * $KILN_CACHE_DIR/dnnl-conv-layout.txt (default $XDG_CACHE_HOME/kiln, else
 * ~/.cache/kiln), keyed as above plus the CPU's model name and oneDNN's
 * version, rewritten atomically (temp file + rename), at most
 * KN_DNNL_TUNE_FILE_LINES lines (the oldest dropped). A line that does not
 * parse is ignored; a directory that cannot be made or written only means
 * no cache. KILN_CACHE_DIR= (empty) turns it off.
 *
 * KILN_DNNL_CONV_LAYOUT=auto (default) | any | nChw16c | nChw8c fixes it
 * (tests use it to run every candidate on any CPU). --explain prints the
 * timings and the choice (kn_dnnl_backend.note).
 */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/** A candidate whose first timed run takes longer than this many seconds is timed by that run alone. */
#define KN_DNNL_TUNE_SHORT_RUN_S 0.25
/** oneDNN's choice taking longer than this many seconds a run ends the timing. */
#define KN_DNNL_TUNE_MAX_RUN_S 0.5

int kn_dnnl_tune_timed_runs(double warmup_s, double first_run_s)
{
    /* the faster of the two: a stall of the machine in one of them (seen on a VM: 335 ms for a 3 ms run) must not
     * make a fast candidate look slow and then time it by that one run */
    const double t = warmup_s < first_run_s ? warmup_s : first_run_s;
    return t > KN_DNNL_TUNE_MAX_RUN_S ? 0 : t > KN_DNNL_TUNE_SHORT_RUN_S ? 1 : 3;
}

static const char *const kn_dnnl_conv_layout_names[KN_DNNL_CONV_LAYOUTS] = {"any", "nChw16c", "nChw8c"};

dnnl_format_tag_t kn_dnnl_conv_tag(kn_dnnl_conv_layout layout, int rank)
{
    static const dnnl_format_tag_t b16[6] = {0, 0, 0, dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b};
    static const dnnl_format_tag_t b8[6] = {0, 0, 0, dnnl_aBc8b, dnnl_aBcd8b, dnnl_aBcde8b};
    if (rank < 3 || rank > 5)
        return dnnl_format_tag_undef;
    switch (layout) {
    case KN_DNNL_CONV_16: return b16[rank];
    case KN_DNNL_CONV_8: return b8[rank];
    default: return dnnl_format_tag_undef;
    }
}

/* KILN_DNNL_CONV_LAYOUT: *fixed the layout it names, or -1 for auto (unset). */
static kn_status kn_dnnl_conv_layout_env(int *fixed, kn_error *err)
{
    const char *env = getenv("KILN_DNNL_CONV_LAYOUT");
    *fixed = -1;
    if (!env || !env[0] || strcmp(env, "auto") == 0)
        return KN_OK;
    for (int k = 0; k < KN_DNNL_CONV_LAYOUTS; k++)
        if (strcmp(env, kn_dnnl_conv_layout_names[k]) == 0) {
            *fixed = k;
            return KN_OK;
        }
    return kn_error_set(err, KN_ERR_INVALID_ARG, "KILN_DNNL_CONV_LAYOUT=%s: not auto, any, nChw16c or nChw8c", env);
}

/* Whether timing the candidates applies to g on this CPU; why[len] says why not. */
static bool kn_dnnl_tune_applies(const kn_graph *g, char *why, size_t len)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) != dnnl_cpu_isa_avx512_core) {
        snprintf(why, len, "oneDNN's choice (nChw8c below AVX-512: nothing to time)");
        return false;
    }
    const char *trained = getenv("KILN_DNNL_TRAINED_WEIGHTS");
    if (trained && strcmp(trained, "0") != 0) {
        snprintf(why, len, "oneDNN's choice (KILN_DNNL_TRAINED_WEIGHTS: weights as a training graph has them)");
        return false;
    }
    bool conv = false;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        if (kn_op_get(n->op)->flags & KN_OPF_EFFECT) {
            snprintf(why, len, "oneDNN's choice (a graph that writes state is not run at compile time)");
            return false;
        }
        conv = conv || n->op == KN_OP_CONV || n->op == KN_OP_CONV_TRANSPOSE;
    }
    for (int v = 0; v < g->num_values; v++)
        if (g->values[v].data && !kn_value_is_constant(g, v)) {
            snprintf(why, len, "oneDNN's choice (a graph with variables is not run at compile time)");
            return false;
        }
    if (!conv)
        why[0] = '\0'; /* nothing to say: no convolution */
    return conv;
}

/* ------------------------------------------------------------ the cache file */

#define KN_DNNL_TUNE_FILE_LINES 512
/* The per-node choice kept with a layout: a hex digit per 4 Winograd candidates (at most 4 x this many), "-" none. */
#define KN_DNNL_TUNE_MASK_LEN 1024
#define KN_DNNL_TUNE_MASK_SCAN "1024"
#define KN_DNNL_TUNE_LINE (KN_DNNL_TUNE_MASK_LEN + 128)

/* What else a cached choice depends on: the CPU's model name and oneDNN's version. */
static uint64_t kn_dnnl_machine_key(void)
{
    uint64_t h = KN_FNV1A_BASIS;
    const dnnl_version_t *v = dnnl_version();
    if (v)
        h = kn_fnv1a_bytes(kn_fnv1a(h, v->hash), &v->major, 3 * sizeof v->major);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            h = kn_fnv1a(h, line);
            break;
        }
    if (f)
        fclose(f);
    return h;
}

/* The cache file's path into path[len]; false when the cache is off or there is no place for it. */
static bool kn_dnnl_tune_path(char *path, size_t len, bool make)
{
    const char *dir = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[4096];
    if (dir) {
        if (!dir[0])
            return false;
        snprintf(base, sizeof base, "%s", dir);
    } else if (xdg && xdg[0]) {
        snprintf(base, sizeof base, "%s/kiln", xdg);
    } else if (home && home[0]) {
        snprintf(base, sizeof base, "%s/.cache", home);
        if (make && mkdir(base, 0755) != 0 && errno != EEXIST)
            return false;
        snprintf(base, sizeof base, "%s/.cache/kiln", home);
    } else {
        return false;
    }
    if (make && mkdir(base, 0755) != 0 && errno != EEXIST)
        return false;
    return snprintf(path, len, "%s/dnnl-conv-layout.txt", base) < (int)len;
}

/* Look key up in the cache file: its layout and timings. */
static bool kn_dnnl_tune_file_recall(uint64_t key, int *layout, double *ms, char *mask)
{
    char path[4200], line[KN_DNNL_TUNE_LINE], m[KN_DNNL_TUNE_MASK_LEN + 1];
    if (!kn_dnnl_tune_path(path, sizeof path, false))
        return false;
    FILE *f = fopen(path, "r");
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long long k;
        int l;
        double t[KN_DNNL_CONV_LAYOUTS];
        if (sscanf(line, "%llx %d %lf %lf %lf %" KN_DNNL_TUNE_MASK_SCAN "s", &k, &l, &t[0], &t[1], &t[2], m) == 6 &&
            k == key && l >= 0 && l < KN_DNNL_CONV_LAYOUTS) {
            *layout = l;
            memcpy(ms, t, sizeof t);
            memcpy(mask, m, sizeof m);
            found = true;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Add key's line to the cache file (the newest KN_DNNL_TUNE_FILE_LINES kept); any failure leaves no cache. */
static void kn_dnnl_tune_file_remember(uint64_t key, int layout, const double *ms, const char *mask)
{
    char path[4200], line[KN_DNNL_TUNE_LINE];
    if (!kn_dnnl_tune_path(path, sizeof path, true))
        return;
    kn_buf kept = {0};
    FILE *f = fopen(path, "r");
    char (*lines)[KN_DNNL_TUNE_LINE] = calloc(KN_DNNL_TUNE_FILE_LINES, sizeof *lines);
    int n = 0;
    while (f && lines && fgets(line, sizeof line, f)) {
        unsigned long long k;
        if (sscanf(line, "%llx ", &k) != 1 || k == key || !strchr(line, '\n'))
            continue; /* unreadable, replaced, or cut short */
        memcpy(lines[n++ % KN_DNNL_TUNE_FILE_LINES], line, sizeof line);
    }
    if (f)
        fclose(f);
    if (!lines)
        return;
    const int first = n > KN_DNNL_TUNE_FILE_LINES - 1 ? n - (KN_DNNL_TUNE_FILE_LINES - 1) : 0;
    for (int i = first; i < n; i++)
        kn_buf_put(&kept, lines[i % KN_DNNL_TUNE_FILE_LINES], strlen(lines[i % KN_DNNL_TUNE_FILE_LINES]));
    snprintf(line, sizeof line, "%016llx %d %.4f %.4f %.4f %s\n", (unsigned long long)key, layout, ms[0], ms[1], ms[2],
             mask);
    kn_buf_put(&kept, line, strlen(line));
    if (!kept.failed) {
        const void *data = kept.p;
        kn_error err;
        (void)kn_file_write_atomic(path, &data, &kept.len, 1, &err);
    }
    free(lines);
    free(kept.p);
}

/* The graph's structure (not its weights): ops, attributes, fused post-ops, value shapes. */
static uint64_t kn_dnnl_graph_key(const kn_graph *g, int threads)
{
    uint64_t h = kn_dnnl_machine_key();
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    h = kn_fnv1a_bytes(h, &isa, sizeof isa);
    h = kn_fnv1a_bytes(h, &threads, sizeof threads);
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        h = kn_fnv1a_bytes(h, &n->op, sizeof n->op);
        h = kn_fnv1a_bytes(h, &n->attrs, sizeof n->attrs);
        h = kn_fnv1a_bytes(h, &n->fused, sizeof n->fused);
        for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
            int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
            h = kn_fnv1a_bytes(h, &v, sizeof v);
            if (v >= 0)
                h = kn_fnv1a_bytes(h, g->values[v].shape.dims, sizeof(int64_t) * (size_t)g->values[v].shape.rank);
        }
    }
    return h;
}

/* The process's memory of earlier choices (a small ring; a forgotten graph is timed again). */
#define KN_DNNL_TUNE_CACHE 64
static struct {
    uint64_t key;
    int layout;
    double ms[KN_DNNL_CONV_LAYOUTS];
    char mask[KN_DNNL_TUNE_MASK_LEN + 1];
} kn_dnnl_tune_cache[KN_DNNL_TUNE_CACHE];
static unsigned kn_dnnl_tune_cached; /* sessions remembered so far (the ring wraps) */
static pthread_mutex_t kn_dnnl_tune_lock = PTHREAD_MUTEX_INITIALIZER;

/* mask[KN_DNNL_TUNE_MASK_LEN + 1] receives the per-node choice's text (kn_dnnl_mask_text). */
static bool kn_dnnl_tune_recall(uint64_t key, int *layout, double *ms, char *mask, bool *from_file)
{
    *from_file = false;
    bool found = false;
    pthread_mutex_lock(&kn_dnnl_tune_lock);
    for (unsigned k = 0; k < kn_dnnl_tune_cached && k < KN_DNNL_TUNE_CACHE && !found; k++)
        if (kn_dnnl_tune_cache[k].key == key) {
            *layout = kn_dnnl_tune_cache[k].layout;
            memcpy(ms, kn_dnnl_tune_cache[k].ms, sizeof kn_dnnl_tune_cache[k].ms);
            memcpy(mask, kn_dnnl_tune_cache[k].mask, sizeof kn_dnnl_tune_cache[k].mask);
            found = true;
        }
    pthread_mutex_unlock(&kn_dnnl_tune_lock);
    if (!found && kn_dnnl_tune_file_recall(key, layout, ms, mask))
        found = *from_file = true;
    return found;
}

static void kn_dnnl_tune_remember(uint64_t key, int layout, const double *ms, const char *mask, bool to_file)
{
    pthread_mutex_lock(&kn_dnnl_tune_lock);
    unsigned slot = kn_dnnl_tune_cached++ % KN_DNNL_TUNE_CACHE;
    kn_dnnl_tune_cache[slot].key = key;
    kn_dnnl_tune_cache[slot].layout = layout;
    memcpy(kn_dnnl_tune_cache[slot].ms, ms, sizeof kn_dnnl_tune_cache[slot].ms);
    snprintf(kn_dnnl_tune_cache[slot].mask, sizeof kn_dnnl_tune_cache[slot].mask, "%s", mask);
    if (to_file)
        kn_dnnl_tune_file_remember(key, layout, ms, mask); /* under the lock: one writer per process */
    pthread_mutex_unlock(&kn_dnnl_tune_lock);
}

/* Free a timed candidate and hand its memory back to the system (glibc keeps freed arenas otherwise). */
static void kn_dnnl_drop(kn_dnnl_exe *exe)
{
    if (!exe)
        return;
    kn_dnnl_free_exe(exe);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/*
 * Zero the graph inputs, as a session writes its inputs before every run: the memory plan may have put another
 * value in an input's bytes once the input was read, and a second run would read that value's last bytes.
 */
static void kn_dnnl_zero_inputs(kn_dnnl_exe *exe)
{
    const kn_graph *g = exe->graph;
    for (int k = 0; k < g->num_inputs; k++) {
        int v = g->inputs[k];
        size_t bytes;
        if (v >= 0 && exe->buffers[v] && !g->values[v].data &&
            kn_tensor_nbytes(g->values[v].dtype, &g->values[v].shape, &bytes) == KN_OK)
            memset(exe->buffers[v], 0, bytes);
    }
}

/*
 * Run exe once to warm up (its first run pays one-time costs), then as many times as kn_dnnl_tune_timed_runs says
 * for the warm-up and first timed runs; *ms the fastest timed run, and *over when the first timed run took longer than
 * KN_DNNL_TUNE_MAX_RUN_S (then it is the only one).
 */
static kn_status kn_dnnl_time_exe(kn_dnnl_exe *exe, double *ms, bool *over, kn_error *err)
{
    kn_status st;
    double best = 0, warmup = 0;
    int runs = 3;
    *over = false;
    for (int r = 0; r <= runs; r++) {
        kn_dnnl_zero_inputs(exe);
        const double t0 = kn_now_s();
        if ((st = kn_dnnl_run_exe(exe, 0, err)) != KN_OK)
            return st;
        const double t = kn_now_s() - t0;
        if (r == 0) {
            warmup = t;
            continue;
        }
        best = r == 1 || t < best ? t : best;
        if (r == 1 && (runs = kn_dnnl_tune_timed_runs(warmup, t)) == 0) {
            *over = true;
            break;
        }
    }
    *ms = best * 1e3;
    return KN_OK;
}

/* ------------------------------------------------------------ Winograd or oneDNN, per convolution */

/*
 * Which of the Conv nodes kiln's Winograd kernel could take (dnnl_wino.c) run on oneDNN's convolution instead.
 * The Winograd kernel (AVX2 code) was faster than oneDNN's direct convolution on every 3x3 layer measured on an
 * AMD Zen 4, but not on an Intel Xeon (Sapphire Rapids, oneDNN's AVX-512 kernels): DenseNet-121 at batch 1, 2
 * threads, its 3x3 layers took 3.52 / 2.53 / 2.56 / 0.95 ms per dense block (56, 28, 14, 7 pixels a side) with
 * Winograd against 4.60 / 2.27 / 1.25 / 0.31 ms on oneDNN, and the whole run 25.5 against 22.6 ms. So with the
 * layout chosen, the tuner profiles the graph with Winograd wherever it takes and with none, takes per node the
 * faster of the two, and keeps the fastest whole run of the three (all, none, the mix). The choice is cached with
 * the layout. KILN_DNNL_WINOGRAD=1 takes Winograd wherever it can without timing (tests of the kernel), =0 never.
 */
typedef struct kn_dnnl_wino_choice {
    bool *cand;   /* per node: a Winograd candidate */
    bool *direct; /* per node: runs on oneDNN's convolution (NULL: Winograd wherever it takes) */
    int count;    /* candidates */
    int ndirect;  /* of them on oneDNN */
    double ms[3]; /* whole-run ms with Winograd everywhere, nowhere, per node (0: not timed) */
} kn_dnnl_wino_choice;

static void kn_dnnl_wino_choice_free(kn_dnnl_wino_choice *c)
{
    free(c->cand);
    free(c->direct);
    memset(c, 0, sizeof *c);
}

/* The candidates of g into c (false: out of memory); none with KILN_DNNL_WINOGRAD=1 (Winograd wherever it takes). */
static bool kn_dnnl_wino_choice_init(const kn_graph *g, kn_dnnl_wino_choice *c)
{
    memset(c, 0, sizeof *c);
    const size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    c->cand = calloc(nn, sizeof(bool));
    if (!c->cand)
        return false;
    const char *env = getenv("KILN_DNNL_WINOGRAD");
    for (int i = 0; i < g->num_nodes && !(env && strcmp(env, "1") == 0); i++) {
        const kn_node *n = &g->nodes[i];
        c->cand[i] = !n->dead && n->op == KN_OP_CONV && kn_dnnl_wino_takes(g, n);
        c->count += c->cand[i];
    }
    return true;
}

/* The per-node choice as text: a hex digit per 4 candidates in node order (bit k of digit j: candidate 4j + k on
 * oneDNN), or "-" for none to choose (or too many to keep). */
static void kn_dnnl_mask_text(const kn_graph *g, const kn_dnnl_wino_choice *c, char *out)
{
    static const char hex[] = "0123456789abcdef";
    if (c->count == 0 || c->count > 4 * KN_DNNL_TUNE_MASK_LEN) {
        strcpy(out, "-");
        return;
    }
    int j = 0, digit = 0;
    for (int i = 0; i < g->num_nodes; i++)
        if (c->cand[i]) {
            digit |= (c->direct && c->direct[i]) << (j % 4);
            if (++j % 4 == 0) {
                out[j / 4 - 1] = hex[digit];
                digit = 0;
            }
        }
    if (j % 4)
        out[j / 4] = hex[digit];
    out[(j + 3) / 4] = '\0';
}

/* c->direct from kn_dnnl_mask_text's text; false (c->direct NULL) when it does not fit the candidates. */
static bool kn_dnnl_mask_read(const kn_graph *g, const char *text, kn_dnnl_wino_choice *c)
{
    if (strcmp(text, "-") == 0)
        return c->count == 0 || c->count > 4 * KN_DNNL_TUNE_MASK_LEN;
    if (strlen(text) != (size_t)(c->count + 3) / 4 || strspn(text, "0123456789abcdef") != strlen(text))
        return false;
    c->direct = calloc((size_t)(g->num_nodes > 0 ? g->num_nodes : 1), sizeof(bool));
    if (!c->direct)
        return false;
    int j = 0;
    for (int i = 0; i < g->num_nodes; i++)
        if (c->cand[i]) {
            const char h = text[j / 4];
            const int digit = h <= '9' ? h - '0' : h - 'a' + 10;
            c->direct[i] = (digit >> (j % 4)) & 1;
            c->ndirect += c->direct[i];
            j++;
        }
    return true;
}

/* Per-node seconds of exe, the fastest of `runs` profiled runs. */
static kn_status kn_dnnl_profile_best(kn_dnnl_exe *exe, int runs, double *best, double *scratch, kn_error *err)
{
    const int nn = exe->graph->num_nodes;
    for (int r = 0; r < runs; r++) {
        kn_dnnl_zero_inputs(exe);
        kn_status st = kn_dnnl_run_profiled(exe, scratch, err);
        if (st != KN_OK)
            return st;
        for (int i = 0; i < nn; i++)
            best[i] = r == 0 || scratch[i] < best[i] ? scratch[i] : best[i];
    }
    return KN_OK;
}

/* g compiled in `layout` with the Convs `direct` marks on oneDNN, timed (*ms); NULL when it does not compile or run. */
static kn_dnnl_exe *kn_dnnl_compile_timed(const kn_graph *g, const kn_buffer_plan *plan, int threads, int layout,
                                          const bool *direct, double *ms)
{
    void *p = NULL;
    kn_error terr = {0};
    bool over;
    if (kn_dnnl_compile_layout(g, plan, threads, layout, direct, &p, &terr) != KN_OK)
        return NULL;
    if (kn_dnnl_time_exe(p, ms, &over, &terr) != KN_OK) {
        kn_dnnl_drop(p);
        return NULL;
    }
    return p;
}

/*
 * *exe: g compiled in `layout` with Winograd wherever it takes, whose fastest run took wino_ms. Profile it and the
 * same layout with every candidate on oneDNN; c->direct: the nodes where oneDNN was faster. *exe becomes the fastest
 * whole run of the three (c->direct NULL when that is Winograd everywhere). A variant that does not compile or run
 * is left out (the error is not the user's: Winograd everywhere still works).
 */
static kn_status kn_dnnl_tune_wino(const kn_graph *g, const kn_buffer_plan *plan, int threads, int layout,
                                   kn_dnnl_exe **exe, double wino_ms, kn_dnnl_wino_choice *c, kn_error *err)
{
    const size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    double *t_wino = calloc(nn, sizeof(double)), *t_direct = calloc(nn, sizeof(double));
    double *scratch = calloc(nn, sizeof(double));
    bool *all = malloc(nn * sizeof(bool)), *mix = calloc(nn, sizeof(bool));
    kn_status st = KN_OK;
    if (!t_wino || !t_direct || !scratch || !all || !mix) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    c->ms[0] = wino_ms;
    kn_error terr = {0};
    const int runs = kn_dnnl_tune_timed_runs(wino_ms / 1e3, wino_ms / 1e3); /* 1 for a long run */
    if (kn_dnnl_profile_best(*exe, runs, t_wino, scratch, &terr) != KN_OK)
        goto done;
    /* one executable at a time: the peak memory stays one compile's */
    memcpy(all, c->cand, nn * sizeof(bool));
    kn_dnnl_drop(*exe);
    *exe = NULL;
    kn_dnnl_exe *d = kn_dnnl_compile_timed(g, plan, threads, layout, all, &c->ms[1]);
    const bool *d_has = all; /* what d was compiled with */
    if (d && kn_dnnl_profile_best(d, runs, t_direct, scratch, &terr) == KN_OK) {
        for (int i = 0; i < g->num_nodes; i++) {
            mix[i] = c->cand[i] && t_direct[i] < t_wino[i];
            c->ndirect += mix[i];
        }
    } else {
        kn_dnnl_drop(d);
        d = NULL;
        c->ms[1] = 0;
    }
    const bool *best = NULL; /* Winograd everywhere */
    double best_ms = c->ms[0];
    if (d && c->ms[1] < best_ms) {
        best = all;
        best_ms = c->ms[1];
    }
    if (c->ndirect > 0 && c->ndirect < c->count) {
        kn_dnnl_drop(d);
        d = kn_dnnl_compile_timed(g, plan, threads, layout, mix, &c->ms[2]);
        d_has = mix;
        if (d && c->ms[2] < best_ms) {
            best = mix;
            best_ms = c->ms[2];
        }
    }
    if (d && best == d_has) { /* the winner is compiled already */
        *exe = d;
        d = NULL;
    }
    kn_dnnl_drop(d);
    c->ndirect = 0;
    if (best) {
        c->direct = calloc(nn, sizeof(bool));
        if (!c->direct) {
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(c->direct, best, nn * sizeof(bool));
        for (int i = 0; i < g->num_nodes; i++)
            c->ndirect += c->direct[i];
    }
done:
    if (st == KN_OK && !*exe) {
        void *p = NULL;
        st = kn_dnnl_compile_layout(g, plan, threads, layout, c->direct, &p, err);
        *exe = p;
    }
    free(t_wino);
    free(t_direct);
    free(scratch);
    free(all);
    free(mix);
    return st;
}

/* The --explain line of a timed choice. */
static void kn_dnnl_tune_say(kn_dnnl_exe *exe, int layout, const double *ms, const kn_dnnl_wino_choice *c,
                             const char *how)
{
    size_t len = sizeof exe->note, at;
    snprintf(exe->note, len, "convolution layout %s, %s (one run:", kn_dnnl_conv_layout_names[layout], how);
    for (int k = 0; k < KN_DNNL_CONV_LAYOUTS; k++) {
        at = strlen(exe->note);
        if (ms[k] > 0)
            snprintf(exe->note + at, len - at, " %s %.3g ms%s", kn_dnnl_conv_layout_names[k], ms[k],
                     k + 1 < KN_DNNL_CONV_LAYOUTS ? "," : ")");
        else
            snprintf(exe->note + at, len - at, " %s not timed%s", kn_dnnl_conv_layout_names[k],
                     k + 1 < KN_DNNL_CONV_LAYOUTS ? "," : ")");
    }
    if (c->count == 0)
        return;
    at = strlen(exe->note);
    snprintf(exe->note + at, len - at, "; %d of %d Winograd-able convolutions on oneDNN's kernel", c->ndirect,
             c->count);
    at = strlen(exe->note);
    if (c->ms[0] > 0 && c->ms[1] > 0)
        snprintf(exe->note + at, len - at, " (timed per node; one run: Winograd on all %.3g ms, on none %.3g ms%s",
                 c->ms[0], c->ms[1], c->ms[2] > 0 ? "" : ")");
    at = strlen(exe->note);
    if (c->ms[0] > 0 && c->ms[1] > 0 && c->ms[2] > 0)
        snprintf(exe->note + at, len - at, ", per node %.3g ms)", c->ms[2]);
}

kn_status kn_dnnl_compile_tuned(const kn_graph *g, const kn_buffer_plan *plan, int threads, void **out,
                                kn_error *err)
{
    int fixed;
    char why[KN_DNNL_WHY_LEN];
    kn_status st;
    *out = NULL;
    if ((st = kn_dnnl_conv_layout_env(&fixed, err)) != KN_OK)
        return st;
    if (fixed >= 0 || !kn_dnnl_tune_applies(g, why, sizeof why)) {
        if ((st = kn_dnnl_compile_layout(g, plan, threads, fixed >= 0 ? fixed : KN_DNNL_CONV_ANY, NULL, out, err)) !=
            KN_OK)
            return st;
        kn_dnnl_exe *exe = *out;
        if (fixed >= 0)
            snprintf(exe->note, sizeof exe->note, "convolution layout %s (KILN_DNNL_CONV_LAYOUT)",
                     kn_dnnl_conv_layout_names[fixed]);
        else if (why[0])
            snprintf(exe->note, sizeof exe->note, "convolution layout %.200s", why);
        return KN_OK;
    }
    kn_dnnl_wino_choice choice;
    if (!kn_dnnl_wino_choice_init(g, &choice))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    const uint64_t key = kn_dnnl_graph_key(g, threads);
    double ms[KN_DNNL_CONV_LAYOUTS] = {0};
    int layout;
    bool from_file;
    char mask[KN_DNNL_TUNE_MASK_LEN + 1];
    if (kn_dnnl_tune_recall(key, &layout, ms, mask, &from_file) && kn_dnnl_mask_read(g, mask, &choice)) {
        st = kn_dnnl_compile_layout(g, plan, threads, layout, choice.direct, out, err);
        if (st == KN_OK) {
            if (from_file)
                kn_dnnl_tune_remember(key, layout, ms, mask, false);
            kn_dnnl_tune_say(*out, layout, ms, &choice, from_file ? "timed by an earlier process (KILN_CACHE_DIR)"
                                                                  : "timed by an earlier session of this process");
        }
        kn_dnnl_wino_choice_free(&choice);
        return st;
    }
    /* one executable at a time (the peak memory stays one compile's); the winner is compiled again unless it was
     * the last one timed. A candidate that cannot be compiled or run (a run on zeroed inputs that fails) ends the
     * timing: the fastest of those timed is kept, and the note says why the others were not. */
    kn_dnnl_exe *last = NULL;
    int best = KN_DNNL_CONV_ANY, timed = -1;
    bool over = false;
    char stopped[KN_DNNL_WHY_LEN] = "";
    for (int k = 0; k < KN_DNNL_CONV_LAYOUTS && !over && !stopped[0]; k++) {
        kn_dnnl_drop(last);
        last = NULL;
        void *p = NULL;
        kn_error terr = {0};
        if ((st = kn_dnnl_compile_layout(g, plan, threads, k, NULL, &p, k == 0 ? err : &terr)) != KN_OK) {
            if (k == 0)
                goto done;
            snprintf(stopped, sizeof stopped, "%s does not compile: %.200s", kn_dnnl_conv_layout_names[k], terr.message);
            break;
        }
        last = p;
        if (kn_dnnl_time_exe(last, &ms[k], &over, &terr) != KN_OK) {
            ms[k] = 0;
            snprintf(stopped, sizeof stopped, "a run on zeroed inputs failed: %.200s", terr.message);
            break;
        }
        over = over && k == 0; /* a later candidate over the limit is only slow */
        timed = k;
        if (ms[k] < ms[best])
            best = k;
    }
    if (best != timed || !last) {
        kn_dnnl_drop(last);
        void *p = NULL;
        if ((st = kn_dnnl_compile_layout(g, plan, threads, best, NULL, &p, err)) != KN_OK)
            goto done;
        last = p;
    }
    if (over)
        snprintf(last->note, sizeof last->note,
                 "convolution layout any (oneDNN's choice): not timed, one run takes %.3g s (KILN_DNNL_CONV_LAYOUT "
                 "sets one)", ms[KN_DNNL_CONV_ANY] / 1e3);
    else if (stopped[0])
        snprintf(last->note, sizeof last->note, "convolution layout %s; timing stopped: %.180s",
                 kn_dnnl_conv_layout_names[best], stopped);
    else {
        if (choice.count > 0 && (st = kn_dnnl_tune_wino(g, plan, threads, best, &last, ms[best], &choice, err)) != KN_OK)
            goto done;
        kn_dnnl_mask_text(g, &choice, mask);
        kn_dnnl_tune_remember(key, best, ms, mask, true);
        kn_dnnl_tune_say(last, best, ms, &choice, "the fastest when compiled");
    }
    *out = last;
    last = NULL;
done:
    kn_dnnl_drop(last);
    kn_dnnl_wino_choice_free(&choice);
    return st;
}

const char *kn_dnnl_note(void *p)
{
    const kn_dnnl_exe *exe = p;
    return exe && exe->note[0] ? exe->note : NULL;
}
