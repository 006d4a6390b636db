/* runtime.c - the public API: models, sessions, statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "kiln.h"
#include "memplan.h"
#include "onnx.h"
#include "passes.h"
#include "spec.h"
#include "runtime_internal.h"


struct kn_session {
    kn_graph graph;              /* bound, optimised copy */
    const kn_backend *backend;
    void *exe;
    bool *fed;                   /* per graph input, during kn_session_run */
    kn_graph_mem_plan mem;       /* where the backend keeps every tensor a run writes */
    int64_t batch;
    double timeout_s;            /* kn_options.timeout_s: a run's time limit, 0 for none */
};

static bool kn_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A view of `src` (weights borrowed) bound to `batch` and run through the inference pipeline. */
static kn_status kn_graph_bound_view(const kn_graph *src, int64_t batch, kn_graph *g, kn_error *err)
{
    kn_status st = kn_graph_clone_view(src, g, err);
    if (st != KN_OK)
        return st;
    kn_pass_ctx ctx = {0};
    st = kn_graph_bind_batch(g, batch, err);
    if (st == KN_OK)
        st = kn_passes_run(g, &ctx, err);
    if (st != KN_OK)
        kn_graph_free(g);
    return st;
}

void kn_graph_infer_output_shapes(kn_graph *g)
{
    bool needed = false;
    for (int i = 0; i < g->num_outputs; i++)
        if (!g->values[g->outputs[i]].shape_known)
            needed = true;
    if (!needed)
        return;
    kn_graph one, two;
    kn_error ignored;
    if (kn_graph_bound_view(g, 1, &one, &ignored) != KN_OK)
        return;
    bool have_two = kn_graph_bound_view(g, 2, &two, &ignored) == KN_OK;
    for (int i = 0; i < g->num_outputs && i < one.num_outputs; i++) {
        kn_value *v = &g->values[g->outputs[i]];
        const kn_value *a = &one.values[one.outputs[i]];
        if (v->shape_known || !a->shape_known)
            continue;
        v->dtype = a->dtype;
        v->shape = a->shape;
        v->shape_known = true;
        if (!have_two || i >= two.num_outputs)
            continue;
        const kn_value *b = &two.values[two.outputs[i]];
        for (int d = 0; d < v->shape.rank && b->shape.rank == a->shape.rank; d++)
            if (a->shape.dims[d] == 1 && b->shape.dims[d] == 2)
                v->shape.dims[d] = KN_DIM_BATCH;
    }
    kn_graph_free(&one);
    if (have_two)
        kn_graph_free(&two);
}

static kn_status kn_model_finish(kn_model_t *m, kn_model_t **out, const char *name, kn_error *err)
{
    kn_status st = kn_graph_sort(&m->graph, err);
    if (st == KN_OK)
        st = kn_graph_verify(&m->graph, false, err);
    if (st == KN_OK)
        kn_graph_infer_output_shapes(&m->graph);
    if (st != KN_OK) {
        kn_error_prefix(err, "%s", name);
        kn_model_free(m);
        return st;
    }
    *out = m;
    return KN_OK;
}

kn_status kn_model_load_spec(const char *path, const char *model_name, kn_model_t **model, kn_error *err)
{
    if (!path || !model)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_load_spec: path and model are required");
    *model = NULL;
    if (model_name && kn_has_suffix(path, ".onnx"))
        return kn_error_set(err, KN_ERR_INVALID_ARG,
                            "%s: no model '%s' to choose: an ONNX file holds one model (names choose among the "
                            "models of a .kiln file)", path, model_name);
    kn_spec spec;
    kn_status st = kn_spec_parse_file(path, &spec, err);
    if (st != KN_OK) {
        kn_spec_free(&spec);
        return st;
    }
    int index = 0;
    if (model_name) {
        index = kn_spec_find_model(&spec, model_name);
        if (index < 0) {
            char names[512] = "";
            size_t used = 0;
            for (int i = 0; i < spec.num_models && used < sizeof names; i++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
                                         spec.models[i].name);
            kn_spec_free(&spec);
            return kn_error_set(err, KN_ERR_NOT_FOUND, "%s: no model named '%s' (models: %s)", path, model_name,
                                names);
        }
    }
    kn_model_t *m = calloc(1, sizeof *m);
    if (!m) {
        kn_spec_free(&spec);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    st = kn_spec_build_graph(&spec, index, &m->graph, err);
    kn_spec_free(&spec);
    if (st != KN_OK) {
        kn_model_free(m);
        return st;
    }
    return kn_model_finish(m, model, path, err);
}

kn_status kn_model_names(const char *path, char ***names, int *count, kn_error *err)
{
    if (!path || !names || !count)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_names: path, names and count are required");
    *names = NULL;
    *count = 0;
    if (!kn_has_suffix(path, ".kiln"))
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: not a .kiln file (an ONNX file holds one model)", path);
    kn_spec spec;
    kn_status st = kn_spec_parse_file(path, &spec, err);
    if (st != KN_OK) {
        kn_spec_free(&spec);
        return st;
    }
    char **list = calloc((size_t)(spec.num_models > 0 ? spec.num_models : 1), sizeof *list);
    for (int i = 0; list && i < spec.num_models; i++) {
        size_t len = strlen(spec.models[i].name);
        if (!(list[i] = malloc(len + 1))) {
            kn_model_names_free(list, i);
            list = NULL;
            break;
        }
        memcpy(list[i], spec.models[i].name, len + 1);
    }
    int n = spec.num_models;
    kn_spec_free(&spec);
    if (!list)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    *names = list;
    *count = n;
    return KN_OK;
}

void kn_model_names_free(char **names, int count)
{
    for (int i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

kn_status kn_model_load(const char *path, kn_model_t **model, kn_error *err)
{
    if (!path || !model)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_load: path and model are required");
    *model = NULL;
    if (kn_has_suffix(path, ".kiln"))
        return kn_model_load_spec(path, NULL, model, err);
    if (!kn_has_suffix(path, ".onnx"))
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: unknown model format (kiln reads .onnx and .kiln files)",
                            path);
    kn_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_graph_init(&m->graph);
    kn_status st = kn_onnx_import_file(path, &m->graph, err);
    if (st != KN_OK) {
        kn_model_free(m);
        return st;
    }
    return kn_model_finish(m, model, path, err);
}

kn_status kn_model_load_onnx_buffer(const void *data, size_t size, const char *name, kn_model_t **model,
                                    kn_error *err)
{
    if (!data || !model)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_load_onnx_buffer: data and model are required");
    *model = NULL;
    kn_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_graph_init(&m->graph);
    kn_status st = kn_onnx_import_buffer(data, size, name ? name : "<buffer>", &m->graph, err);
    if (st != KN_OK) {
        kn_model_free(m);
        return st;
    }
    return kn_model_finish(m, model, name ? name : "<buffer>", err);
}

void kn_model_free(kn_model_t *model)
{
    if (!model)
        return;
    kn_graph_free(&model->graph);
    free(model);
}

static kn_status kn_io(const kn_graph *g, const int *ids, int count, int index, kn_io_info *info)
{
    if (index < 0 || index >= count)
        return KN_ERR_NOT_FOUND;
    const kn_value *v = &g->values[ids[index]];
    info->name = v->name;
    info->dtype = v->dtype;
    info->shape = v->shape;
    return KN_OK;
}

int kn_model_num_inputs(const kn_model_t *m) { return m->graph.num_inputs; }
int kn_model_num_outputs(const kn_model_t *m) { return m->graph.num_outputs; }
kn_status kn_model_input(const kn_model_t *m, int i, kn_io_info *info)
{
    return kn_io(&m->graph, m->graph.inputs, m->graph.num_inputs, i, info);
}
kn_status kn_model_output(const kn_model_t *m, int i, kn_io_info *info)
{
    return kn_io(&m->graph, m->graph.outputs, m->graph.num_outputs, i, info);
}

/* Turn graph input `name` of a bound graph into a constant holding `t`. */
static kn_status kn_freeze_input(kn_graph *g, const char *name, const kn_tensor *t, kn_error *err)
{
    char want[160], got[160];
    int slot = -1;
    for (int k = 0; k < g->num_inputs; k++)
        if (name && strcmp(g->values[g->inputs[k]].name, name) == 0)
            slot = k;
    if (slot < 0)
        return kn_error_set(err, KN_ERR_NOT_FOUND, "cannot freeze '%s': the model has no such input",
                            name ? name : "(null)");
    kn_value *v = &g->values[g->inputs[slot]];
    if (t->dtype != v->dtype || !kn_shape_equal(&t->shape, &v->shape))
        return kn_error_set(err, KN_ERR_SHAPE, "cannot freeze input '%s': expected %s%s, got %s%s", name,
                            kn_dtype_name(v->dtype), kn_shape_str(&v->shape, want, sizeof want),
                            kn_dtype_name(t->dtype), kn_shape_str(&t->shape, got, sizeof got));
    size_t bytes;
    if (kn_tensor_nbytes(t->dtype, &t->shape, &bytes) != KN_OK)
        return kn_error_set(err, KN_ERR_OVERFLOW, "input '%s' is too large", name);
    void *data = malloc(bytes ? bytes : 1);
    if (!data)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    if (bytes)
        memcpy(data, t->data, bytes);
    v->data = data;
    v->kind = KN_VALUE_CONST;
    memmove(&g->inputs[slot], &g->inputs[slot + 1], sizeof(int) * (size_t)(g->num_inputs - slot - 1));
    g->num_inputs--;
    return KN_OK;
}

/* kn_pass_ctx.can_fuse for a backend (`user`). */
static bool kn_backend_can_fuse(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual,
                                void *user)
{
    const kn_backend *backend = user;
    return backend->can_fuse(g, producer, activation, residual);
}

kn_status kn_prepare_graph_frozen(const kn_model_t *model, int64_t batch, const kn_options *opts,
                                         kn_graph *g, kn_error *err)
{
    /* Without options the result is short-lived work on the side (output
     * shapes, memory plans): it borrows the model's weights. A session owns its copy. */
    kn_status st = opts ? kn_graph_clone(&model->graph, g, err) : kn_graph_clone_view(&model->graph, g, err);
    if (st != KN_OK)
        return st;
    kn_pass_ctx ctx = {0};
    if (opts) {
        ctx.explain = opts->explain;
        ctx.verify_each = opts->verify_each != 0;
        ctx.dump_after = opts->dump_after;
        ctx.dump_path = opts->dump_path;
        const kn_backend *backend = kn_backend_find(opts->backend ? opts->backend : "ref");
        if (backend && backend->can_fuse) {
            ctx.can_fuse = kn_backend_can_fuse;
            ctx.can_fuse_user = (void *)backend;
        }
    }
    st = kn_graph_bind_batch(g, batch, err);
    for (int i = 0; st == KN_OK && opts && i < opts->num_frozen; i++)
        st = kn_freeze_input(g, opts->frozen_names[i], &opts->frozen_values[i], err);
    if (st == KN_OK && (st = kn_passes_run(g, &ctx, err)) == KN_OK)
        st = kn_graph_verify(g, true, err);
    if (st != KN_OK)
        kn_graph_free(g);
    return st;
}

int kn_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#define KN_EXPLAIN_WHY 256  /* bytes of one fallback reason */
#define KN_EXPLAIN_NAMES 3  /* node names shown for a group of fallbacks with the same op and reason */

/*
 * Print the nodes i with leader[i] >= 0, one line per group (leader[i]: the
 * first node of i's group, same op and same text in why): "  node 'x' (Op):
 * why", or for several "  N nodes (Op) 'a', 'b', 'c' and M more: why".
 */
static void kn_explain_groups(const kn_graph *g, const char *why, const int *leader, FILE *out)
{
    for (int i = 0; i < g->num_nodes; i++) {
        if (leader[i] != i)
            continue;
        const char *op = kn_op_get(g->nodes[i].op)->name, *wi = why + (size_t)i * KN_EXPLAIN_WHY;
        int count = 0;
        for (int j = i; j < g->num_nodes; j++)
            count += leader[j] == i;
        if (count == 1) {
            fprintf(out, "  node '%s' (%s): %s\n", g->nodes[i].name, op, wi);
            continue;
        }
        fprintf(out, "  %d nodes (%s)", count, op);
        int shown = 0;
        for (int j = i; j < g->num_nodes && shown < KN_EXPLAIN_NAMES; j++)
            if (leader[j] == i)
                fprintf(out, "%s '%s'", shown++ ? "," : "", g->nodes[j].name);
        if (count > shown)
            fprintf(out, " and %d more", count - shown);
        fprintf(out, ": %s\n", wi);
    }
}

/* Put node i in a group of leader[] (see kn_explain_groups): the first earlier member with its op and text. */
static void kn_explain_join(const kn_graph *g, const char *why, int *leader, int i)
{
    leader[i] = i;
    for (int j = 0; j < i; j++)
        if (leader[j] == j && g->nodes[j].op == g->nodes[i].op &&
            strcmp(why + (size_t)j * KN_EXPLAIN_WHY, why + (size_t)i * KN_EXPLAIN_WHY) == 0) {
            leader[i] = j;
            return;
        }
}

/*
 * --explain after compile, for a backend with a placement hook: how many
 * live nodes run natively, then the nodes that fall back to the reference
 * kernels, one line per op and reason; then, when the backend runs some
 * nodes on kiln's own kernels (a placement note), "kiln's own kernels for N
 * of them:" and one line per op and kernel; last, the backend's note on a
 * choice it made for the whole graph (oneDNN: the convolution layout).
 */
static kn_status kn_explain_placement(const kn_graph *g, const kn_backend *backend, void *exe, FILE *out,
                                      kn_error *err)
{
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    char *why = kn_xcalloc(nn, KN_EXPLAIN_WHY);
    int *leader = kn_xcalloc(nn, sizeof *leader); /* per fallback node: the first of its group; -1 otherwise */
    int *own = kn_xcalloc(nn, sizeof *own);       /* the same for native nodes with a note (kiln's kernels) */
    if (!why || !leader || !own) {
        free(why);
        free(leader);
        free(own);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    int live = 0, native = 0, noted = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        char *wi = why + (size_t)i * KN_EXPLAIN_WHY;
        leader[i] = own[i] = -1;
        if (n->dead)
            continue;
        live++;
        if (backend->placement(exe, i, wi, KN_EXPLAIN_WHY)) {
            native++;
            if (wi[0]) {
                noted++;
                kn_explain_join(g, why, own, i);
            }
            continue;
        }
        kn_explain_join(g, why, leader, i);
    }
    fprintf(out, "backend %s: %d of %d nodes run natively", backend->name, native, live);
    if (native < live)
        fprintf(out, ", %d on the reference kernels:", live - native);
    fputc('\n', out);
    kn_explain_groups(g, why, leader, out);
    if (noted) {
        fprintf(out, "kiln's own kernels for %d of them:\n", noted);
        kn_explain_groups(g, why, own, out);
    }
    const char *note = backend->note ? backend->note(exe) : NULL;
    if (note)
        fprintf(out, "backend %s: %s\n", backend->name, note);
    free(why);
    free(leader);
    free(own);
    return KN_OK;
}

const char *kn_backend_isa(const char *name)
{
    const kn_backend *backend = name ? kn_backend_find(name) : NULL;
    return backend && backend->isa ? backend->isa() : NULL;
}

kn_status kn_backend_set_isa(const char *name, const char *level, kn_error *err)
{
    const kn_backend *backend = name ? kn_backend_find(name) : NULL;
    if (!backend)
        return kn_error_set(err, KN_ERR_NOT_FOUND, "unknown backend '%s' (available: %s)", name ? name : "(null)",
                            kn_backend_names());
    if (!backend->set_isa)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "backend '%s' has no instruction-set setting", name);
    if (!level)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_backend_set_isa: no level");
    return backend->set_isa(level, err);
}

kn_status kn_session_create(const kn_model_t *model, const kn_options *options, kn_session_t **session,
                            kn_error *err)
{
    if (!model || !session)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_session_create: model and session are required");
    *session = NULL;
    kn_options opts = {0};
    if (options)
        opts = *options;
    const char *bname = opts.backend ? opts.backend : "ref";
    const kn_backend *backend = kn_backend_find(bname);
    if (!backend)
        return kn_error_set(err, KN_ERR_NOT_FOUND, "unknown backend '%s' (available: %s)", bname,
                            kn_backend_names());
    if (opts.batch < 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "batch size must be positive, not %lld",
                            (long long)opts.batch);
    if (opts.threads < 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "thread count must be positive, not %d", opts.threads);
    if (!(opts.timeout_s >= 0) || opts.timeout_s > 1e9) /* NaN too */
        return kn_error_set(err, KN_ERR_INVALID_ARG, "timeout must be 0 (none) or a positive number of seconds "
                            "up to 1e9, not %g", opts.timeout_s);
    if (opts.num_frozen < 0 || (opts.num_frozen > 0 && (!opts.frozen_names || !opts.frozen_values)))
        return kn_error_set(err, KN_ERR_INVALID_ARG, "frozen inputs need names and values");
    kn_graph g;
    kn_status st = kn_prepare_graph_frozen(model, opts.batch ? opts.batch : 1, &opts, &g, err);
    if (st != KN_OK)
        return st;
    return kn_session_from_graph(&g, opts.batch ? opts.batch : 1, &opts, session, err);
}

/* Bytes of physical memory of this machine (SIZE_MAX when unknown). */
static size_t kn_machine_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t bytes;
    if (pages <= 0 || page <= 0 || !kn_size_mul((size_t)pages, (size_t)page, &bytes))
        return SIZE_MAX;
    return bytes;
}

/*
 * Refuse, before anything is allocated, an arena larger than the machine's
 * memory (issue 15: a Pad of 2^40 asked for 112 TiB and only malloc said
 * no), naming the largest tensor or scratch and the node behind it.
 */
static kn_status kn_session_check_memory(const kn_graph *g, const kn_graph_mem_plan *mem, kn_error *err)
{
    const size_t machine = kn_machine_memory(), need = mem->summary.peak;
    if (need <= machine)
        return KN_OK;
    int big = -1, big_scratch = -1;
    size_t big_bytes = 0, bytes;
    for (int v = 0; v < g->num_values; v++)
        if (!g->values[v].data && kn_tensor_nbytes(g->values[v].dtype, &g->values[v].shape, &bytes) == KN_OK &&
            bytes > big_bytes) {
            big = v;
            big_bytes = bytes;
        }
    for (int i = 0; mem->scratch_bytes && i < mem->num_nodes; i++)
        if (mem->scratch_bytes[i] > big_bytes) {
            big_scratch = i;
            big_bytes = mem->scratch_bytes[i];
        }
    char need_s[32], machine_s[32], big_s[32], shape[160], what[512] = "";
    kn_bytes_str(need, need_s, sizeof need_s);
    kn_bytes_str(machine, machine_s, sizeof machine_s);
    kn_bytes_str(big_bytes, big_s, sizeof big_s);
    if (big_scratch >= 0) {
        const kn_node *n = &g->nodes[big_scratch];
        snprintf(what, sizeof what, "; the largest part is the scratch of node '%s' (%s), %s", n->name,
                 kn_op_get(n->op)->name, big_s);
    } else if (big >= 0) {
        const kn_value *v = &g->values[big];
        const int p = v->producer;
        char by[320] = " (a graph input)";
        if (p >= 0)
            snprintf(by, sizeof by, ", the output of node '%s' (%s)", g->nodes[p].name,
                     kn_op_get(g->nodes[p].op)->name);
        snprintf(what, sizeof what, "; the largest tensor is '%s' %s %s%s, %s", v->name,
                 kn_dtype_name(v->dtype), kn_shape_str(&v->shape, shape, sizeof shape), by, big_s);
    }
    return kn_error_set(err, KN_ERR_NOMEM, "the session needs %s for its tensors, more than this machine's %s of memory%s",
                        need_s, machine_s, what);
}

kn_status kn_session_from_graph(kn_graph *g, int64_t batch, const kn_options *options, kn_session_t **session,
                                kn_error *err)
{
    kn_options opts = {0};
    if (options)
        opts = *options;
    *session = NULL;
    const kn_backend *backend = kn_backend_find(opts.backend ? opts.backend : "ref");
    kn_session_t *s = calloc(1, sizeof *s);
    if (!s || !backend) {
        kn_graph_free(g);
        free(s);
        return kn_error_set(err, backend ? KN_ERR_NOMEM : KN_ERR_NOT_FOUND, backend ? "out of memory" : "unknown backend");
    }
    s->graph = *g; /* taken over */
    kn_graph_init(g);
    kn_status st = KN_OK;
    s->backend = backend;
    s->batch = batch;
    s->timeout_s = opts.timeout_s > 0 ? opts.timeout_s : 0;
    s->fed = kn_xcalloc((size_t)s->graph.num_inputs, sizeof(bool));
    if (!s->fed) {
        kn_session_free(s);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < s->graph.num_nodes; i++) {
        char why[256] = "";
        const kn_node *n = &s->graph.nodes[i];
        if (!backend->supports(&s->graph, n, why, sizeof why)) {
            st = kn_error_set(err, KN_ERR_UNSUPPORTED, "backend %s cannot run node '%s' (%s): %s", backend->name,
                              n->name, kn_op_get(n->op)->name, why);
            kn_session_free(s);
            return st;
        }
    }
    /* the scratch is planned for the threads the executable runs with */
    const int threads = opts.threads ? opts.threads : kn_default_threads();
    if ((st = kn_plan_backend_memory(&s->graph, backend, threads, &s->mem, err)) != KN_OK ||
        (st = kn_session_check_memory(&s->graph, &s->mem, err)) != KN_OK) {
        kn_session_free(s);
        return st;
    }
    kn_buffer_plan plan = {s->mem.summary.peak, s->mem.value_offset, s->mem.scratch_offset, s->mem.scratch_bytes};
    st = backend->compile(&s->graph, &plan, threads, &s->exe, err);
    if (st != KN_OK) {
        kn_session_free(s);
        return st;
    }
    if (opts.explain && backend->placement &&
        (st = kn_explain_placement(&s->graph, backend, s->exe, opts.explain, err)) != KN_OK) {
        kn_session_free(s);
        return st;
    }
    *session = s;
    return KN_OK;
}

void kn_session_free(kn_session_t *s)
{
    if (!s)
        return;
    if (s->exe)
        s->backend->free(s->exe);
    kn_graph_free(&s->graph);
    kn_graph_mem_plan_free(&s->mem);
    free(s->fed);
    free(s);
}

int kn_session_num_inputs(const kn_session_t *s) { return s->graph.num_inputs; }
int kn_session_num_outputs(const kn_session_t *s) { return s->graph.num_outputs; }
kn_status kn_session_input(const kn_session_t *s, int i, kn_io_info *info)
{
    return kn_io(&s->graph, s->graph.inputs, s->graph.num_inputs, i, info);
}
kn_status kn_session_output(const kn_session_t *s, int i, kn_io_info *info)
{
    return kn_io(&s->graph, s->graph.outputs, s->graph.num_outputs, i, info);
}

/* Check and copy the inputs of a run into the backend's buffers. */
static kn_status kn_session_feed(kn_session_t *s, int count, const char *const *names, const kn_tensor *inputs,
                                 kn_error *err)
{
    char want[160], got[160];
    const kn_graph *g = &s->graph;
    memset(s->fed, 0, sizeof(bool) * (size_t)g->num_inputs);
    for (int i = 0; i < count; i++) {
        int slot = -1;
        for (int k = 0; k < g->num_inputs; k++)
            if (names[i] && strcmp(g->values[g->inputs[k]].name, names[i]) == 0)
                slot = k;
        if (slot < 0)
            return kn_error_set(err, KN_ERR_NOT_FOUND, "the model has no input named '%s'",
                                names[i] ? names[i] : "(null)");
        if (s->fed[slot])
            return kn_error_set(err, KN_ERR_INVALID_ARG, "input '%s' is given twice", names[i]);
        const kn_value *v = &g->values[g->inputs[slot]];
        if (inputs[i].dtype != v->dtype)
            return kn_error_set(err, KN_ERR_DTYPE, "input '%s' must be %s, not %s", v->name,
                                kn_dtype_name(v->dtype), kn_dtype_name(inputs[i].dtype));
        if (!kn_shape_equal(&inputs[i].shape, &v->shape))
            return kn_error_set(err, KN_ERR_SHAPE, "input '%s' must have shape %s, not %s", v->name,
                                kn_shape_str(&v->shape, want, sizeof want),
                                kn_shape_str(&inputs[i].shape, got, sizeof got));
        size_t bytes;
        if (kn_tensor_nbytes(v->dtype, &v->shape, &bytes) != KN_OK)
            return kn_error_set(err, KN_ERR_OVERFLOW, "input '%s' is too large", v->name);
        if (!inputs[i].data && bytes)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "input '%s' has no data", v->name);
        void *dst = s->backend->value_data(s->exe, g->inputs[slot]);
        if (bytes)
            memcpy(dst, inputs[i].data, bytes);
        s->fed[slot] = true;
    }
    for (int k = 0; k < g->num_inputs; k++)
        if (!s->fed[k])
            return kn_error_set(err, KN_ERR_INVALID_ARG, "input '%s' was not given",
                                g->values[g->inputs[k]].name);
    return KN_OK;
}

kn_status kn_session_run(kn_session_t *s, int count, const char *const *names, const kn_tensor *inputs,
                         kn_error *err)
{
    if (!s || (count > 0 && (!names || !inputs)))
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_session_run: session, names and inputs are required");
    kn_status st = kn_session_feed(s, count, names, inputs, err);
    if (st != KN_OK)
        return st;
    st = s->backend->run(s->exe, s->timeout_s > 0 ? kn_now_s() + s->timeout_s : 0, err);
    if (st == KN_ERR_TIMEOUT && err) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err->message);
        kn_error_set(err, st, "the run took longer than its time limit of %g s: %s", s->timeout_s, why);
    }
    return st;
}

/* "Conv+Add+Relu": the op, then its fused residual add and activation. */
static void kn_node_label(const kn_node *node, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", kn_op_get(node->op)->name, node->fused.residual >= 0 ? "+Add" : "",
             node->fused.activation != KN_OP_COUNT ? "+" : "",
             node->fused.activation != KN_OP_COUNT ? kn_op_get(node->fused.activation)->name : "");
}

kn_status kn_session_profile(kn_session_t *s, int count, const char *const *names, const kn_tensor *inputs,
                             kn_node_time **times, int *n, kn_error *err)
{
    if (!s || !times || !n || (count > 0 && (!names || !inputs)))
        return kn_error_set(err, KN_ERR_INVALID_ARG,
                            "kn_session_profile: session, names, inputs, times and n are required");
    *times = NULL;
    *n = 0;
    if (!s->backend->run_profiled)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "per-node profile not available for backend %s",
                            s->backend->name);
    const kn_graph *g = &s->graph;
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    /* one block: the entries, then their names (so they outlive the session) */
    size_t bytes = 0;
    bool ok = kn_size_mul(nn, sizeof(kn_node_time), &bytes);
    for (int i = 0; ok && i < g->num_nodes; i++)
        ok = g->nodes[i].dead || kn_size_add(bytes, strlen(g->nodes[i].name) + 1, &bytes);
    if (!ok)
        return kn_error_set(err, KN_ERR_OVERFLOW, "kn_session_profile: the node names do not fit in memory");
    double *secs = kn_xcalloc(nn, sizeof *secs);
    kn_node_time *out = kn_xcalloc(1, bytes);
    if (!secs || !out) {
        free(secs);
        free(out);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    kn_status st = kn_session_feed(s, count, names, inputs, err);
    if (st == KN_OK)
        st = s->backend->run_profiled(s->exe, secs, err);
    if (st != KN_OK) {
        free(secs);
        free(out);
        return st;
    }
    int k = 0;
    char *names_at = (char *)(out + nn);
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *node = &g->nodes[i];
        if (node->dead)
            continue;
        size_t len = strlen(node->name) + 1;
        memcpy(names_at, node->name, len);
        out[k].name = names_at;
        names_at += len;
        out[k].op = kn_op_get(node->op)->name;
        kn_node_label(node, out[k].label, sizeof out[k].label);
        out[k].seconds = secs[i] > 0 ? secs[i] : 0;
        k++;
    }
    free(secs);
    *times = out;
    *n = k;
    return KN_OK;
}

void kn_node_times_free(kn_node_time *times)
{
    free(times);
}

kn_status kn_session_get_output(const kn_session_t *s, int index, kn_tensor *out, kn_error *err)
{
    if (!s || !out || index < 0 || index >= s->graph.num_outputs)
        return kn_error_set(err, KN_ERR_NOT_FOUND, "the session has no output %d", index);
    const kn_value *v = &s->graph.values[s->graph.outputs[index]];
    out->dtype = v->dtype;
    out->shape = v->shape;
    out->data = s->backend->value_data(s->exe, s->graph.outputs[index]);
    return KN_OK;
}

const char *kn_session_backend_note(const kn_session_t *s)
{
    return s && s->backend->note ? s->backend->note(s->exe) : NULL;
}

const kn_graph *kn_session_graph(const kn_session_t *s)
{
    return &s->graph;
}

const kn_graph_mem_plan *kn_session_mem_plan(const kn_session_t *s)
{
    return &s->mem;
}

int64_t kn_session_batch(const kn_session_t *s)
{
    return s->batch;
}
