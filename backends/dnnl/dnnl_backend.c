/* dnnl_backend.c - the oneDNN backend: primitives built at compile time, reference fallback. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#else
#include <dnnl.h>
#endif
#else
#include <dnnl.h>
#endif

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dnnl_backend.h"
#include "ref.h"
#include "shape.h"

/* Turn a failed oneDNN call into KN_ERR_BACKEND naming the node; `st` and `err` in scope, jumps to fail. */
#define KN_DNNL_CHECK(node, call)                                                                            \
    do {                                                                                                     \
        dnnl_status_t kn_dnnl_s_ = (call);                                                                   \
        if (kn_dnnl_s_ != dnnl_success) {                                                                    \
            st = kn_error_set(err, KN_ERR_BACKEND, "node '%s' (%s): oneDNN: %s failed (status %d)",        \
                              (node)->name, kn_op_get((node)->op)->name, #call, (int)kn_dnnl_s_);            \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

#define KN_DNNL_MAX_ARGS 8

/*
 * One operation of the run, in order: a primitive with its arguments (a
 * node's, or a reorder inserted before a consumer), or (prim NULL) the
 * reference kernel of node `node`. `node` also names the node in errors.
 */
typedef struct kn_dnnl_op {
    dnnl_primitive_t prim;
    int node;
    int nargs;
    dnnl_exec_arg_t args[KN_DNNL_MAX_ARGS];
    dnnl_memory_desc_t scratch_md; /* valid when scratch_bytes > 0 */
    size_t scratch_bytes;
} kn_dnnl_op;

/*
 * A copy of a value in a oneDNN-chosen (blocked) layout, in the blocked
 * arena: written by op first_op (the producer, or a reorder), read up to op
 * last_op. `mem` gets its data handle once the arena is placed.
 */
typedef struct kn_dnnl_rep {
    int value, next;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    size_t bytes;
    int first_op, last_op;
} kn_dnnl_rep;

typedef struct kn_dnnl_exe {
    const kn_graph *graph;
    int threads, kthreads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *arena;                /* the one tensor arena (the memory plan's): plain layouts */
    void **buffers;             /* per value: graph data or arena slot (plain layout) */
    bool *plain_ok;             /* per value: the plain buffer holds the value once its producer ran */
    int *rep_head;              /* per value: first blocked copy, or -1 */
    kn_dnnl_rep *reps;
    int num_reps, cap_reps;
    void *blocked;              /* the blocked arena: every rep, placed by the memory planner */
    bool *on_dnnl;              /* per node: runs as a oneDNN primitive */
    void **scratch;             /* per node: reference-kernel scratch, or NULL */
    size_t *scratch_size;
    void *ref_scratch;          /* reference scratch the plan did not hold (compile-time fallbacks) */
    void *dnnl_scratch;         /* shared oneDNN scratchpad */
    size_t dnnl_scratch_bytes;
    kn_dnnl_op *ops;
    int num_ops, cap_ops;
    void **wbufs;               /* weights reordered at compile time */
    int num_wbufs, cap_wbufs;
    dnnl_memory_t *mems;        /* every memory object created, for free */
    int num_mems, cap_mems;
} kn_dnnl_exe;

/* ------------------------------------------------------------ decisions */

static const dnnl_format_tag_t kn_dnnl_plain_tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc,
                                                        dnnl_abcd, dnnl_abcde, dnnl_abcdef};

/* The eltwise algorithm (and alpha/beta) of an activation; false when oneDNN has none in one step. */
static bool kn_dnnl_eltwise_alg(kn_op op, const kn_scalar_attrs *p, dnnl_alg_kind_t *alg, float *alpha,
                                float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    switch (op) {
    case KN_OP_RELU: *alg = dnnl_eltwise_relu; return true;
    case KN_OP_LEAKY_RELU: *alg = dnnl_eltwise_relu; *alpha = p->alpha; return true;
    case KN_OP_SIGMOID: *alg = dnnl_eltwise_logistic; return true;
    case KN_OP_TANH: *alg = dnnl_eltwise_tanh; return true;
    case KN_OP_CLIP: *alg = dnnl_eltwise_clip_v2; *alpha = p->min; *beta = p->max; return true;
    case KN_OP_HARD_SWISH: *alg = dnnl_eltwise_hardswish; return true;
    case KN_OP_ELU: *alg = dnnl_eltwise_elu; *alpha = p->alpha; return true;
    case KN_OP_SQRT: *alg = dnnl_eltwise_sqrt; return true;
    case KN_OP_EXP: *alg = dnnl_eltwise_exp; return true;
    default: return false;
    }
}

/* Whether `act` can be a chain of eltwise post-ops (HardSigmoid: linear then clip). */
static bool kn_dnnl_post_act_ok(kn_op act)
{
    dnnl_alg_kind_t alg;
    float a, b;
    kn_scalar_attrs p = {0};
    return act == KN_OP_COUNT || act == KN_OP_HARD_SIGMOID || kn_dnnl_eltwise_alg(act, &p, &alg, &a, &b);
}

static bool kn_dnnl_f32(const kn_graph *g, int id)
{
    return id < 0 || (g->values[id].dtype == KN_F32 && g->values[id].shape_known);
}

/* Read a float scalar constant (Clip bounds) of input slot i; *present false when absent. */
static bool kn_dnnl_const_scalar(const kn_graph *g, const kn_node *n, int i, float *v, bool *present)
{
    *present = false;
    if (i >= n->num_inputs || n->inputs[i] < 0)
        return true;
    const kn_value *val = &g->values[n->inputs[i]];
    size_t c = 0;
    if (!val->data || val->dtype != KN_F32 || kn_shape_numel(&val->shape, &c) != KN_OK || c > 1)
        return false;
    if (c == 1) {
        *v = *(const float *)val->data;
        *present = true;
    }
    return true;
}

bool kn_dnnl_node_runs(const kn_graph *g, const kn_node *n, char *why, size_t len)
{
    for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
        int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
        if (v >= 0 && !g->values[v].shape_known) {
            snprintf(why, len, "value '%s' has no known shape", g->values[v].name);
            return false;
        }
    }
    if (!kn_dnnl_post_act_ok(n->fused.activation)) {
        snprintf(why, len, "fused %s has no oneDNN post-op", kn_op_get(n->fused.activation)->name);
        return false;
    }
    switch (n->op) {
    case KN_OP_CONV: {
        for (int k = 0; k < n->num_inputs; k++)
            if (!kn_dnnl_f32(g, n->inputs[k])) {
                snprintf(why, len, "input %d is not float32", k);
                return false;
            }
        if (n->attrs.window.nspatial < 1 || n->attrs.window.nspatial > 3) {
            snprintf(why, len, "%d spatial dimensions", n->attrs.window.nspatial);
            return false;
        }
        if (n->fused.residual >= 0 && n->fused.residual != 3) {
            snprintf(why, len, "residual in input slot %d", n->fused.residual);
            return false;
        }
        return true;
    }
    case KN_OP_GEMM: {
        const kn_gemm_attrs *a = &n->attrs.gemm;
        bool has_c = n->num_inputs > 2 && n->inputs[2] >= 0;
        if (a->alpha != 1.0f || (has_c && a->beta != 1.0f)) {
            snprintf(why, len, "alpha %g, beta %g (only 1, 1 mapped to matmul yet)", a->alpha, a->beta);
            return false;
        }
        if (n->fused.residual >= 0) {
            snprintf(why, len, "fused residual on Gemm");
            return false;
        }
        for (int k = 0; k < n->num_inputs; k++)
            if (!kn_dnnl_f32(g, n->inputs[k]) || (n->inputs[k] >= 0 && g->values[n->inputs[k]].shape.rank > 2)) {
                snprintf(why, len, "input %d is not a float32 matrix", k);
                return false;
            }
        if (g->values[n->inputs[0]].shape.rank != 2 || g->values[n->inputs[1]].shape.rank != 2) {
            snprintf(why, len, "A and B must be matrices");
            return false;
        }
        return true;
    }
    case KN_OP_MATMUL:
        if (!kn_dnnl_f32(g, n->inputs[0]) || !kn_dnnl_f32(g, n->inputs[1]) ||
            g->values[n->inputs[0]].shape.rank != 2 || g->values[n->inputs[1]].shape.rank != 2 ||
            n->fused.residual >= 0) {
            snprintf(why, len, "only 2-D float32 MatMul without residual (batched MatMul: next step)");
            return false;
        }
        return true;
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
        if (n->num_outputs > 1 && n->outputs[1] >= 0) {
            snprintf(why, len, "MaxPool Indices output");
            return false;
        }
        if (!kn_dnnl_f32(g, n->inputs[0]) || n->attrs.window.nspatial < 1 || n->attrs.window.nspatial > 3) {
            snprintf(why, len, "input is not float32 with 1 to 3 spatial dimensions");
            return false;
        }
        return true;
    case KN_OP_RELU: case KN_OP_LEAKY_RELU: case KN_OP_SIGMOID: case KN_OP_TANH: case KN_OP_CLIP:
    case KN_OP_HARD_SWISH: case KN_OP_ELU: case KN_OP_SQRT: case KN_OP_EXP: {
        if (!kn_dnnl_f32(g, n->inputs[0])) {
            snprintf(why, len, "input is not float32");
            return false;
        }
        if (n->op == KN_OP_CLIP) {
            float v;
            bool present;
            if (!kn_dnnl_const_scalar(g, n, 1, &v, &present) || !kn_dnnl_const_scalar(g, n, 2, &v, &present)) {
                snprintf(why, len, "min/max are not float32 constant scalars");
                return false;
            }
        }
        if (n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0) {
            snprintf(why, len, "element-wise op with fused post-ops");
            return false;
        }
        return true;
    }
    default:
        snprintf(why, len, "no oneDNN mapping yet");
        return false;
    }
}

/* ------------------------------------------------------------ building */

static kn_status kn_dnnl_md(const kn_node *node, dnnl_memory_desc_t *md, int nd, const int64_t *dims,
                            kn_error *err)
{
    kn_status st = KN_OK;
    if (nd < 1 || nd > 6)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': rank %d has no plain oneDNN format", node->name, nd);
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    KN_DNNL_CHECK(node, dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, kn_dnnl_plain_tags[nd]));
fail:
    return st;
}

static kn_status kn_dnnl_md_value(const kn_graph *g, const kn_node *node, int id, dnnl_memory_desc_t *md,
                                  kn_error *err)
{
    const kn_shape *s = &g->values[id].shape;
    return kn_dnnl_md(node, md, s->rank, s->dims, err);
}

/* Grow a dynamic array of `*cap` elements of `size` bytes to hold one more; false when out of memory. */
static bool kn_dnnl_grow(void **arr, int *cap, int count, size_t size)
{
    if (count < *cap)
        return true;
    if (*cap > INT32_MAX / 2)
        return false;
    int ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* Create a memory object (freed with the executable) on `data` (DNNL_MEMORY_NONE: set later). */
static kn_status kn_dnnl_new_mem(kn_dnnl_exe *exe, const kn_node *node, const dnnl_memory_desc_t *md, void *data,
                                 dnnl_memory_t *out, kn_error *err)
{
    kn_status st = KN_OK;
    *out = NULL;
    if (!kn_dnnl_grow((void **)&exe->mems, &exe->cap_mems, exe->num_mems, sizeof *exe->mems))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    dnnl_memory_t mem;
    KN_DNNL_CHECK(node, dnnl_memory_create(&mem, md, exe->engine, data));
    exe->mems[exe->num_mems++] = mem;
    *out = mem;
fail:
    return st;
}

static kn_status kn_dnnl_add_arg(kn_dnnl_op *op, const kn_node *node, int arg, dnnl_memory_t mem, kn_error *err)
{
    if (op->nargs >= KN_DNNL_MAX_ARGS)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': too many oneDNN arguments", node->name);
    op->args[op->nargs].arg = arg;
    op->args[op->nargs].memory = mem;
    op->nargs++;
    return KN_OK;
}

/* Append an empty op for node `node`; *idx receives its index. */
static kn_status kn_dnnl_push_op(kn_dnnl_exe *exe, int node, int *idx, kn_error *err)
{
    if (!kn_dnnl_grow((void **)&exe->ops, &exe->cap_ops, exe->num_ops, sizeof *exe->ops))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    memset(&exe->ops[exe->num_ops], 0, sizeof exe->ops[0]);
    exe->ops[exe->num_ops].node = node;
    *idx = exe->num_ops++;
    return KN_OK;
}

/* Post-ops of `node`: residual add (binary, src1 md `res_md`) then activation. */
static kn_status kn_dnnl_post_ops(const kn_node *node, const dnnl_memory_desc_t *res_md, dnnl_post_ops_t po,
                                  kn_error *err)
{
    kn_status st = KN_OK;
    if (node->fused.residual >= 0)
        KN_DNNL_CHECK(node, dnnl_post_ops_append_binary(po, dnnl_binary_add, res_md));
    kn_op act = node->fused.activation;
    if (act == KN_OP_HARD_SIGMOID) {
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, node->fused.act.alpha,
                                                         node->fused.act.beta));
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip_v2, 0.0f, 1.0f));
    } else if (act != KN_OP_COUNT) {
        dnnl_alg_kind_t alg;
        float a, b;
        if (!kn_dnnl_eltwise_alg(act, &node->fused.act, &alg, &a, &b))
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': fused %s has no oneDNN post-op", node->name,
                                kn_op_get(act)->name);
        KN_DNNL_CHECK(node, dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, b));
    }
fail:
    return st;
}

/*
 * Build the operation descriptor of `node` into `desc` (a union large enough
 * for every kind) and its memory descriptors. Returns KN_OK, or an error.
 */
typedef union kn_dnnl_desc {
    dnnl_convolution_desc_t conv;
    dnnl_pooling_v2_desc_t pool;
    dnnl_eltwise_desc_t eltwise;
    dnnl_matmul_desc_t matmul;
} kn_dnnl_desc;

/* Argument slots: which value (or buffer) binds to which oneDNN argument. */
typedef struct kn_dnnl_bind {
    int arg;
    int value;
    dnnl_memory_desc_t md;
} kn_dnnl_bind;

static kn_status kn_dnnl_describe(const kn_dnnl_exe *exe, const kn_node *n, kn_dnnl_desc *desc,
                                  kn_dnnl_bind *binds, int *nbinds, bool *has_residual, kn_error *err)
{
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    *nbinds = 0;
    *has_residual = false;
    const kn_shape *xs = &g->values[n->inputs[0]].shape;
    const kn_shape *ys = &g->values[n->outputs[0]].shape;
    kn_dnnl_bind *src = &binds[(*nbinds)++], *dst = &binds[(*nbinds)++];
    src->arg = DNNL_ARG_SRC;
    src->value = n->inputs[0];
    dst->arg = DNNL_ARG_DST;
    dst->value = n->outputs[0];
    switch (n->op) {
    case KN_OP_CONV:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL: {
        const kn_window_attrs *a = &n->attrs.window;
        const int ns = a->nspatial;
        if (xs->rank != ns + 2 || ys->rank != ns + 2)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': rank does not match the spatial dimensions",
                                n->name);
        int64_t kernel[KN_MAX_SPATIAL] = {0}, pb[KN_MAX_SPATIAL], pe[KN_MAX_SPATIAL], o[KN_MAX_SPATIAL];
        const kn_shape *ws = n->op == KN_OP_CONV ? &g->values[n->inputs[1]].shape : NULL;
        for (int i = 0; i < ns; i++)
            kernel[i] = a->kernel[i] ? a->kernel[i] : (ws ? ws->dims[2 + i] : 0);
        if ((st = kn_window_resolve(n, a, xs->dims + 2, kernel, false, pb, pe, o, err)) != KN_OK)
            return st;
        dnnl_dims_t strides, dil, pl, pr;
        for (int i = 0; i < ns; i++) {
            int64_t s = a->stride[i] ? a->stride[i] : 1, d = a->dilation[i] ? a->dilation[i] : 1;
            int64_t ek = (kernel[i] - 1) * d + 1;
            if (o[i] != ys->dims[2 + i])
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': output size disagrees with the shape rule",
                                    n->name);
            strides[i] = s;
            dil[i] = d - 1;
            pl[i] = pb[i];
            /* ceil_mode: the right padding that makes oneDNN's output size the shape rule's */
            pr[i] = (o[i] - 1) * s + ek - xs->dims[2 + i] - pb[i];
            if (n->op == KN_OP_AVERAGE_POOL && a->count_include_pad && pr[i] > pe[i])
                return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                    "node '%s': ceil_mode window overhang with count_include_pad", n->name);
            if (pr[i] < 0)
                pr[i] = 0; /* the last input rows/cols are not read; oneDNN accepts a smaller right pad */
        }
        if ((st = kn_dnnl_md_value(g, n, src->value, &src->md, err)) != KN_OK ||
            (st = kn_dnnl_md_value(g, n, dst->value, &dst->md, err)) != KN_OK)
            return st;
        if (n->op != KN_OP_CONV) {
            dnnl_alg_kind_t alg = n->op == KN_OP_MAX_POOL ? dnnl_pooling_max
                                  : a->count_include_pad   ? dnnl_pooling_avg_include_padding
                                                           : dnnl_pooling_avg_exclude_padding;
            dnnl_dims_t k;
            for (int i = 0; i < ns; i++)
                k[i] = kernel[i];
            KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&desc->pool, dnnl_forward_inference, alg, &src->md,
                                                               &dst->md, strides, k, dil, pl, pr));
            return KN_OK;
        }
        /* weights: oihw, or goihw when grouped (the same bytes: O = G * O/G) */
        int64_t group = a->group ? a->group : 1;
        kn_dnnl_bind *w = &binds[(*nbinds)++];
        w->arg = DNNL_ARG_WEIGHTS;
        w->value = n->inputs[1];
        int64_t wd[KN_MAX_SPATIAL + 3];
        int wn = 0;
        if (group > 1) {
            if (ws->dims[0] % group != 0)
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': %lld output channels not divisible by group %lld",
                                    n->name, (long long)ws->dims[0], (long long)group);
            wd[wn++] = group;
            wd[wn++] = ws->dims[0] / group;
        } else {
            wd[wn++] = ws->dims[0];
        }
        for (int i = 1; i < ws->rank; i++)
            wd[wn++] = ws->dims[i];
        if ((st = kn_dnnl_md(n, &w->md, wn, wd, err)) != KN_OK)
            return st;
        const dnnl_memory_desc_t *bias_md = NULL;
        if (n->num_inputs > 2 && n->inputs[2] >= 0) {
            kn_dnnl_bind *b = &binds[(*nbinds)++];
            b->arg = DNNL_ARG_BIAS;
            b->value = n->inputs[2];
            int64_t bd = ws->dims[0];
            if ((st = kn_dnnl_md(n, &b->md, 1, &bd, err)) != KN_OK)
                return st;
            bias_md = &b->md;
        }
        if (n->fused.residual >= 0) {
            kn_dnnl_bind *r = &binds[(*nbinds)++];
            r->arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1;
            r->value = n->inputs[n->fused.residual];
            r->md = dst->md;
            *has_residual = true;
        }
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&desc->conv, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, &src->md, &w->md,
                                                                    bias_md, &dst->md, strides, dil, pl, pr));
        return KN_OK;
    }
    case KN_OP_GEMM:
    case KN_OP_MATMUL: {
        const kn_shape *bs = &g->values[n->inputs[1]].shape;
        bool ta = n->op == KN_OP_GEMM && n->attrs.gemm.trans_a;
        bool tb = n->op == KN_OP_GEMM && n->attrs.gemm.trans_b;
        int64_t M = ys->dims[0], N = ys->dims[1];
        int64_t K = ta ? xs->dims[0] : xs->dims[1];
        dnnl_dims_t ad = {M, K}, as = {ta ? 1 : K, ta ? M : 1};
        dnnl_dims_t bd = {K, N}, bstr = {tb ? 1 : N, tb ? K : 1};
        if ((tb ? bs->dims[1] : bs->dims[0]) != K)
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': inner dimensions disagree", n->name);
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&src->md, 2, ad, dnnl_f32, as));
        kn_dnnl_bind *w = &binds[(*nbinds)++];
        w->arg = DNNL_ARG_WEIGHTS;
        w->value = n->inputs[1];
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_strides(&w->md, 2, bd, dnnl_f32, bstr));
        int64_t yd[2] = {M, N};
        if ((st = kn_dnnl_md(n, &dst->md, 2, yd, err)) != KN_OK)
            return st;
        const dnnl_memory_desc_t *bias_md = NULL;
        if (n->num_inputs > 2 && n->inputs[2] >= 0) {
            const kn_shape *cs = &g->values[n->inputs[2]].shape;
            /* C broadcasts to [M, N]: as a 2-D [1 or M, 1 or N] bias */
            int64_t cd[2] = {1, 1};
            if (cs->rank == 1)
                cd[1] = cs->dims[0];
            else if (cs->rank == 2) {
                cd[0] = cs->dims[0];
                cd[1] = cs->dims[1];
            }
            if ((cd[0] != 1 && cd[0] != M) || (cd[1] != 1 && cd[1] != N))
                return kn_error_set(err, KN_ERR_BACKEND, "node '%s': C does not broadcast to [M, N]", n->name);
            kn_dnnl_bind *b = &binds[(*nbinds)++];
            b->arg = DNNL_ARG_BIAS;
            b->value = n->inputs[2];
            if ((st = kn_dnnl_md(n, &b->md, 2, cd, err)) != KN_OK)
                return st;
            bias_md = &b->md;
        }
        KN_DNNL_CHECK(n, dnnl_matmul_desc_init(&desc->matmul, &src->md, &w->md, bias_md, &dst->md));
        return KN_OK;
    }
    default: {
        /* element-wise: the tensor as one flat vector (any rank, plain layout) */
        size_t numel;
        if (kn_shape_numel(xs, &numel) != KN_OK || numel > INT64_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': tensor too large", n->name);
        int64_t d = numel ? (int64_t)numel : 1;
        if ((st = kn_dnnl_md(n, &src->md, 1, &d, err)) != KN_OK)
            return st;
        dst->md = src->md;
        kn_scalar_attrs p = n->attrs.scalar;
        if (n->op == KN_OP_CLIP) {
            bool present;
            p.min = -INFINITY;
            p.max = INFINITY;
            float v;
            if (kn_dnnl_const_scalar(g, n, 1, &v, &present) && present)
                p.min = v;
            if (kn_dnnl_const_scalar(g, n, 2, &v, &present) && present)
                p.max = v;
        }
        dnnl_alg_kind_t alg;
        float alpha, beta;
        if (!kn_dnnl_eltwise_alg(n->op, &p, &alg, &alpha, &beta))
            return kn_error_set(err, KN_ERR_BACKEND, "node '%s': no oneDNN eltwise", n->name);
        KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&desc->eltwise, dnnl_forward_inference, alg, &src->md,
                                                        alpha, beta));
        return KN_OK;
    }
    }
fail:
    return st;
}

/* ------------------------------------------------------------ layouts */

/* Append a reorder op (primitive built now) from src_mem to dst_mem for node `ni`; *idx receives its index. */
static kn_status kn_dnnl_reorder_op(kn_dnnl_exe *exe, int ni, dnnl_memory_t src_mem, const dnnl_memory_desc_t *src_md,
                                    dnnl_memory_t dst_mem, const dnnl_memory_desc_t *dst_md, int *idx, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    kn_status st = KN_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(&attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    KN_DNNL_CHECK(n, dnnl_reorder_primitive_desc_create(&pd, src_md, exe->engine, dst_md, exe->engine, attr));
    KN_DNNL_CHECK(n, dnnl_primitive_create(&prim, pd));
    if ((st = kn_dnnl_push_op(exe, ni, idx, err)) != KN_OK)
        goto fail;
    kn_dnnl_op *op = &exe->ops[*idx];
    op->prim = prim;
    prim = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    if ((st = kn_dnnl_add_arg(op, n, DNNL_ARG_FROM, src_mem, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_TO, dst_mem, err)) != KN_OK)
        goto fail;
fail:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Make the plain buffer of value v hold it before node ni: a reorder from its blocked copy if needed. */
static kn_status kn_dnnl_ensure_plain(kn_dnnl_exe *exe, int ni, int v, kn_error *err)
{
    if (v < 0 || exe->plain_ok[v])
        return KN_OK;
    const kn_node *n = &exe->graph->nodes[ni];
    int r = exe->rep_head[v];
    if (r < 0)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': value '%s' has no layout", n->name,
                            exe->graph->values[v].name);
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    kn_status st;
    int idx;
    if ((st = kn_dnnl_md_value(exe->graph, n, v, &md, err)) != KN_OK ||
        (st = kn_dnnl_new_mem(exe, n, &md, exe->buffers[v], &mem, err)) != KN_OK ||
        (st = kn_dnnl_reorder_op(exe, ni, exe->reps[r].mem, &exe->reps[r].md, mem, &md, &idx, err)) != KN_OK)
        return st;
    exe->reps[r].last_op = idx;
    exe->plain_ok[v] = true;
    return KN_OK;
}

/* A new blocked copy of value v in layout md, written by op first_op; *out receives its index. */
static kn_status kn_dnnl_new_rep(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, int first_op,
                                 int *out, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    if (!kn_dnnl_grow((void **)&exe->reps, &exe->cap_reps, exe->num_reps, sizeof *exe->reps))
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_dnnl_rep *rp = &exe->reps[exe->num_reps];
    memset(rp, 0, sizeof *rp);
    rp->value = v;
    rp->md = *md;
    rp->bytes = dnnl_memory_desc_get_size(md);
    rp->first_op = rp->last_op = first_op;
    kn_status st = kn_dnnl_new_mem(exe, n, md, DNNL_MEMORY_NONE, &rp->mem, err);
    if (st != KN_OK)
        return st;
    /* appended after the head: the head stays the first copy (the producer's) */
    int h = exe->rep_head[v];
    if (h < 0) {
        rp->next = -1;
        exe->rep_head[v] = exe->num_reps;
    } else {
        rp->next = exe->reps[h].next;
        exe->reps[h].next = exe->num_reps;
    }
    *out = exe->num_reps++;
    return KN_OK;
}

/*
 * The memory object holding value v in layout md for node ni: its plain
 * buffer, a blocked copy, or a new copy written by a reorder inserted now.
 * *rep receives the copy's index (to extend its life), or -1 for the plain buffer.
 */
static kn_status kn_dnnl_layout(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *mem,
                                int *rep, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[ni];
    dnnl_memory_desc_t plain;
    kn_status st = kn_dnnl_md_value(exe->graph, n, v, &plain, err);
    if (st != KN_OK)
        return st;
    *rep = -1;
    if (dnnl_memory_desc_equal(md, &plain)) {
        if ((st = kn_dnnl_ensure_plain(exe, ni, v, err)) != KN_OK)
            return st;
        return kn_dnnl_new_mem(exe, n, md, exe->buffers[v], mem, err);
    }
    for (int r = exe->rep_head[v]; r >= 0; r = exe->reps[r].next)
        if (dnnl_memory_desc_equal(md, &exe->reps[r].md)) {
            *rep = r;
            *mem = exe->reps[r].mem;
            return KN_OK;
        }
    /* reorder from the plain buffer when it holds the value, else from the first blocked copy */
    dnnl_memory_t src;
    const dnnl_memory_desc_t *src_md;
    int from = exe->plain_ok[v] ? -1 : exe->rep_head[v];
    if (from < 0 && !exe->plain_ok[v])
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': value '%s' has no layout", n->name,
                            exe->graph->values[v].name);
    if (from < 0) {
        if ((st = kn_dnnl_new_mem(exe, n, &plain, exe->buffers[v], &src, err)) != KN_OK)
            return st;
        src_md = &plain;
    } else {
        src = exe->reps[from].mem;
        src_md = &exe->reps[from].md;
    }
    dnnl_memory_desc_t src_md_copy = *src_md; /* reps may move when the array grows */
    int r, idx = exe->num_ops;
    if ((st = kn_dnnl_new_rep(exe, ni, v, md, idx, &r, err)) != KN_OK ||
        (st = kn_dnnl_reorder_op(exe, ni, src, &src_md_copy, exe->reps[r].mem, md, &idx, err)) != KN_OK)
        return st;
    exe->reps[r].first_op = idx;
    if (from >= 0)
        exe->reps[from].last_op = idx;
    *rep = r;
    *mem = exe->reps[r].mem;
    return KN_OK;
}

/* Reorder constant weights `data` (plain md `from`) once, now, into layout `to`; *mem receives the copy. */
static kn_status kn_dnnl_reorder_weights(kn_dnnl_exe *exe, const kn_node *n, const dnnl_memory_desc_t *from,
                                         const void *data, const dnnl_memory_desc_t *to, dnnl_memory_t *mem,
                                         kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    void *buf = NULL;
    size_t bytes = dnnl_memory_desc_get_size(to);
    if (!kn_dnnl_grow((void **)&exe->wbufs, &exe->cap_wbufs, exe->num_wbufs, sizeof *exe->wbufs) ||
        posix_memalign(&buf, 64, bytes ? bytes : 64) != 0)
        return kn_error_set(err, KN_ERR_NOMEM, "node '%s': out of memory for reordered weights", n->name);
    exe->wbufs[exe->num_wbufs++] = buf;
    if ((st = kn_dnnl_new_mem(exe, n, to, buf, &dst, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_memory_create(&src, from, exe->engine, (void *)data));
    KN_DNNL_CHECK(n, dnnl_reorder_primitive_desc_create(&pd, from, exe->engine, to, exe->engine, NULL));
    KN_DNNL_CHECK(n, dnnl_primitive_create(&prim, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    KN_DNNL_CHECK(n, dnnl_primitive_execute(prim, exe->stream, 2, args));
    KN_DNNL_CHECK(n, dnnl_stream_wait(exe->stream));
    *mem = dst;
fail:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    return st;
}

/* ------------------------------------------------------------ primitives */

#define KN_DNNL_RES_ARG (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1)

/* Attributes of node n: user scratchpad; post-ops (the residual add only when with_res). */
static kn_status kn_dnnl_attr(const kn_node *n, const dnnl_memory_desc_t *res_md, bool with_res,
                              dnnl_primitive_attr_t *attr, kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_post_ops_t po = NULL;
    *attr = NULL;
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
    if ((with_res && n->fused.residual >= 0) || n->fused.activation != KN_OP_COUNT) {
        kn_node tmp = *n;
        if (!with_res)
            tmp.fused.residual = -1;
        KN_DNNL_CHECK(n, dnnl_post_ops_create(&po));
        if (tmp.fused.residual >= 0 && !res_md) {
            st = kn_error_set(err, KN_ERR_BACKEND, "node '%s': residual without a descriptor", n->name);
            goto fail;
        }
        if ((st = kn_dnnl_post_ops(&tmp, res_md, po, err)) != KN_OK)
            goto fail;
        KN_DNNL_CHECK(n, dnnl_primitive_attr_set_post_ops(*attr, po));
    }
fail:
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != KN_OK && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

static kn_status kn_dnnl_reinit_desc(const kn_node *n, kn_dnnl_desc *desc, const dnnl_memory_desc_t *src,
                                     const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *bias,
                                     const dnnl_memory_desc_t *dst, kn_error *err)
{
    kn_status st = KN_OK;
    if (n->op == KN_OP_CONV) {
        dnnl_convolution_desc_t c = desc->conv;
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&desc->conv, dnnl_forward_inference,
                                                                    dnnl_convolution_direct, src, w, bias, dst,
                                                                    c.strides, c.dilates, c.padding[0],
                                                                    c.padding[1]));
    } else if (n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL) {
        dnnl_pooling_v2_desc_t p = desc->pool;
        KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&desc->pool, dnnl_forward_inference, p.alg_kind, src, dst,
                                                           p.strides, p.kernel, p.dilation, p.padding[0],
                                                           p.padding[1]));
    } else {
        dnnl_eltwise_desc_t e = desc->eltwise;
        KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&desc->eltwise, dnnl_forward_inference, e.alg_kind, src,
                                                        e.alpha, e.beta));
    }
fail:
    return st;
}

/*
 * Try to build node i as a primitive: in oneDNN's chosen layouts (blocked:
 * Conv always, pooling and eltwise when their input is blocked) or in plain
 * layouts. *built false (and KN_OK) when oneDNN has no implementation; no
 * op is appended then.
 */
static kn_status kn_dnnl_try_node(kn_dnnl_exe *exe, int i, bool blocked, bool *built, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_dnnl_desc desc;
    kn_dnnl_bind binds[KN_DNNL_MAX_ARGS];
    int nb = 0;
    bool has_res = false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    *built = false;
    memset(&desc, 0, sizeof desc);
    kn_error derr;
    kn_status st = kn_dnnl_describe(exe, n, &desc, binds, &nb, &has_res, &derr);
    if (st == KN_ERR_UNSUPPORTED)
        return KN_OK; /* a configuration this slice does not map: reference kernels */
    if (st != KN_OK) {
        if (err)
            *err = derr;
        return st;
    }
    kn_dnnl_bind *src = NULL, *dst = NULL, *wb = NULL, *bias = NULL, *res = NULL;
    for (int k = 0; k < nb; k++) {
        if (binds[k].arg == DNNL_ARG_SRC) src = &binds[k];
        else if (binds[k].arg == DNNL_ARG_DST) dst = &binds[k];
        else if (binds[k].arg == DNNL_ARG_WEIGHTS) wb = &binds[k];
        else if (binds[k].arg == DNNL_ARG_BIAS) bias = &binds[k];
        else if (binds[k].arg == KN_DNNL_RES_ARG) res = &binds[k];
    }
    const bool is_conv = n->op == KN_OP_CONV;
    const bool is_pool = n->op == KN_OP_MAX_POOL || n->op == KN_OP_AVERAGE_POOL;
    const bool is_elt = !is_conv && !is_pool && n->op != KN_OP_GEMM && n->op != KN_OP_MATMUL;
    const int x = n->inputs[0];
    if (blocked && !is_conv && !((is_pool || is_elt) && !exe->plain_ok[x]))
        blocked = false;
    if (blocked) {
        const kn_shape *xs = &g->values[x].shape, *ys = &g->values[n->outputs[0]].shape;
        dnnl_dims_t xd, yd;
        for (int k = 0; k < xs->rank; k++)
            xd[k] = xs->dims[k];
        for (int k = 0; k < ys->rank; k++)
            yd[k] = ys->dims[k];
        if (is_conv) {
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src->md, xs->rank, xd, dnnl_f32, dnnl_format_tag_any));
            KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst->md, ys->rank, yd, dnnl_f32, dnnl_format_tag_any));
            if (g->values[wb->value].data) {
                dnnl_memory_desc_t w = wb->md;
                KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&w, wb->md.ndims, wb->md.dims, dnnl_f32,
                                                              dnnl_format_tag_any));
                /* keep the plain md in the bind (the source of the weight reorder) */
                if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, &w, bias ? &bias->md : NULL, &dst->md, err)) !=
                    KN_OK)
                    return st;
            } else if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, &wb->md, bias ? &bias->md : NULL, &dst->md,
                                                 err)) != KN_OK)
                return st;
            if (res) {
                /* the residual's layout is the output's: find it without the binary post-op first */
                if ((st = kn_dnnl_attr(n, NULL, false, &attr, err)) != KN_OK)
                    goto fail;
                dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
                if (ds == dnnl_unimplemented) {
                    pd = NULL;
                    goto fail; /* KN_OK, not built */
                }
                KN_DNNL_CHECK(n, ds);
                dnnl_memory_desc_t s = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
                dnnl_memory_desc_t w = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
                dnnl_memory_desc_t d = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
                dnnl_primitive_desc_destroy(pd);
                pd = NULL;
                dnnl_primitive_attr_destroy(attr);
                attr = NULL;
                src->md = s;
                dst->md = d;
                res->md = d;
                if ((st = kn_dnnl_reinit_desc(n, &desc, &s, &w, bias ? &bias->md : NULL, &d, err)) != KN_OK)
                    return st;
            }
        } else {
            int r = exe->rep_head[x];
            src->md = exe->reps[r].md;
            if (is_pool)
                KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&dst->md, ys->rank, yd, dnnl_f32, dnnl_format_tag_any));
            else
                dst->md = src->md;
            if ((st = kn_dnnl_reinit_desc(n, &desc, &src->md, NULL, NULL, &dst->md, err)) != KN_OK)
                return st;
        }
    }
    if ((st = kn_dnnl_attr(n, res ? &res->md : NULL, true, &attr, err)) != KN_OK)
        goto fail;
    dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
    if (ds == dnnl_unimplemented) {
        pd = NULL;
        goto fail; /* st is KN_OK, not built */
    }
    KN_DNNL_CHECK(n, ds);
    /* bind the inputs (reorders go before the node's op), then the op itself */
    int touched[KN_DNNL_MAX_ARGS], nt = 0;
    dnnl_memory_t mems[KN_DNNL_MAX_ARGS] = {0};
    for (int k = 0; k < nb; k++) {
        kn_dnnl_bind *b = &binds[k];
        if (b == dst)
            continue;
        if (blocked && (b == src || b == res)) {
            const dnnl_memory_desc_t *want = b == src ? dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0) : &b->md;
            int r;
            if ((st = kn_dnnl_layout(exe, i, b->value, want, &mems[k], &r, err)) != KN_OK)
                goto fail;
            if (r >= 0)
                touched[nt++] = r;
            continue;
        }
        if (blocked && b == wb && g->values[b->value].data) {
            const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            if (!dnnl_memory_desc_equal(want, &b->md)) {
                if ((st = kn_dnnl_reorder_weights(exe, n, &b->md, g->values[b->value].data, want, &mems[k], err)) !=
                    KN_OK)
                    goto fail;
                continue;
            }
        }
        if ((st = kn_dnnl_ensure_plain(exe, i, b->value, err)) != KN_OK ||
            (st = kn_dnnl_new_mem(exe, n, &b->md, exe->buffers[b->value], &mems[k], err)) != KN_OK)
            goto fail;
    }
    int idx = exe->num_ops;
    int y = dst->value;
    {
        const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        dnnl_memory_desc_t plain;
        if (blocked && (st = kn_dnnl_md_value(g, n, y, &plain, err)) != KN_OK)
            goto fail;
        if (blocked && !dnnl_memory_desc_equal(dmd, &plain)) {
            int r;
            if ((st = kn_dnnl_new_rep(exe, i, y, dmd, idx, &r, err)) != KN_OK)
                goto fail;
            exe->plain_ok[y] = false;
            for (int k = 0; k < nb; k++)
                if (&binds[k] == dst)
                    mems[k] = exe->reps[r].mem;
        } else {
            exe->plain_ok[y] = true;
            for (int k = 0; k < nb; k++)
                if (&binds[k] == dst &&
                    (st = kn_dnnl_new_mem(exe, n, blocked ? dmd : &dst->md, exe->buffers[y], &mems[k], err)) != KN_OK)
                    goto fail;
        }
    }
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        goto fail;
    kn_dnnl_op *op = &exe->ops[idx];
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && (op->scratch_bytes = dnnl_memory_desc_get_size(smd)) > 0)
        op->scratch_md = *smd;
    for (int k = 0; k < nb; k++)
        if ((st = kn_dnnl_add_arg(op, n, binds[k].arg, mems[k], err)) != KN_OK)
            goto fail;
    for (int t = 0; t < nt; t++)
        exe->reps[touched[t]].last_op = idx;
    KN_DNNL_CHECK(n, dnnl_primitive_create(&op->prim, pd));
    *built = true;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Node i on the reference kernels: its inputs in plain layout first. */
static kn_status kn_dnnl_ref_node(kn_dnnl_exe *exe, int i, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    kn_status st;
    for (int k = 0; k < n->num_inputs; k++)
        if ((st = kn_dnnl_ensure_plain(exe, i, n->inputs[k], err)) != KN_OK)
            return st;
    int idx;
    if ((st = kn_dnnl_push_op(exe, i, &idx, err)) != KN_OK)
        return st;
    for (int k = 0; k < n->num_outputs; k++)
        if (n->outputs[k] >= 0)
            exe->plain_ok[n->outputs[k]] = true;
    return KN_OK;
}

/* ------------------------------------------------------------ executable */

static void kn_dnnl_free(void *p)
{
    kn_dnnl_exe *exe = p;
    if (!exe)
        return;
    for (int i = 0; i < exe->num_ops; i++)
        if (exe->ops[i].prim)
            dnnl_primitive_destroy(exe->ops[i].prim);
    for (int i = 0; i < exe->num_mems; i++)
        dnnl_memory_destroy(exe->mems[i]);
    for (int i = 0; i < exe->num_wbufs; i++)
        free(exe->wbufs[i]);
    if (exe->stream)
        dnnl_stream_destroy(exe->stream);
    if (exe->engine)
        dnnl_engine_destroy(exe->engine);
    free(exe->mems);
    free(exe->ops);
    free(exe->reps);
    free(exe->wbufs);
    free(exe->arena);
    free(exe->blocked);
    free(exe->buffers);
    free(exe->plain_ok);
    free(exe->rep_head);
    free(exe->on_dnnl);
    free(exe->scratch);
    free(exe->scratch_size);
    free(exe->ref_scratch);
    free(exe->dnnl_scratch);
    free(exe);
}

static void kn_dnnl_set_threads(int threads)
{
#ifdef _OPENMP
    if (threads > 0)
        omp_set_num_threads(threads);
    openblas_set_num_threads(1);
#else
    if (threads > 0)
        openblas_set_num_threads(threads);
#endif
}

/* Place every value: the plan's offsets (or one slot each without a plan) in one arena. */
static kn_status kn_dnnl_place(kn_dnnl_exe *exe, const kn_buffer_plan *plan, size_t *tensor_bytes, kn_error *err)
{
    const kn_graph *g = exe->graph;
    size_t *naive = NULL, total = 0;
    const size_t *offsets;
    if (plan) {
        if (!plan->offsets && g->num_values > 0)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "memory plan without offsets");
        offsets = plan->offsets;
        total = plan->arena_bytes;
    } else {
        naive = kn_xcalloc((size_t)(g->num_values ? g->num_values : 1), sizeof(size_t));
        if (!naive)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        for (int v = 0; v < g->num_values; v++) {
            const kn_value *val = &g->values[v];
            naive[v] = KN_BUFFER_NONE;
            size_t bytes;
            if (val->data)
                continue;
            if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &bytes) != KN_OK ||
                bytes > SIZE_MAX - 63) {
                free(naive);
                return kn_error_set(err, KN_ERR_SHAPE, "value '%s' has no concrete shape", val->name);
            }
            naive[v] = total;
            if (!kn_size_add(total, (bytes + 63) & ~(size_t)63, &total)) {
                free(naive);
                return kn_error_set(err, KN_ERR_OVERFLOW, "the tensors of the graph do not fit in memory");
            }
        }
        offsets = naive;
    }
    size_t bytes = total > 64 ? total : 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes < total || posix_memalign(&exe->arena, 64, bytes) != 0) {
        exe->arena = NULL;
        free(naive);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory allocating the %zu-byte tensor arena", total);
    }
    memset(exe->arena, 0, bytes);
    for (int v = 0; v < g->num_values; v++) {
        const kn_value *val = &g->values[v];
        if (val->data) {
            exe->buffers[v] = val->data;
            continue;
        }
        if (offsets[v] == KN_BUFFER_NONE)
            continue;
        size_t need;
        if (!val->shape_known || kn_tensor_nbytes(val->dtype, &val->shape, &need) != KN_OK || offsets[v] % 64 ||
            offsets[v] > total || need > total - offsets[v]) {
            free(naive);
            return kn_error_set(err, KN_ERR_INVALID_ARG, "memory plan puts '%s' outside the %zu-byte arena",
                                val->name, total);
        }
        exe->buffers[v] = (char *)exe->arena + offsets[v];
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs + n->num_outputs; k++) {
            int v = k < n->num_inputs ? n->inputs[k] : n->outputs[k - n->num_inputs];
            if (v >= 0 && !exe->buffers[v]) {
                free(naive);
                return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): value '%s' has no buffer in the plan",
                                    n->name, kn_op_get(n->op)->name, g->values[v].name);
            }
        }
    }
    *tensor_bytes = total;
    free(naive);
    return KN_OK;
}

/* Reference scratch of the nodes that run on reference kernels: from the plan, or one private region. */
static kn_status kn_dnnl_ref_scratch(kn_dnnl_exe *exe, const kn_buffer_plan *plan, size_t tensor_bytes,
                                     kn_error *err)
{
    const kn_graph *g = exe->graph;
    const bool planned = plan && plan->scratch_offsets && plan->scratch_bytes;
    size_t shared = 0;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead || exe->on_dnnl[i])
            continue;
        size_t need = kn_ref_scratch_bytes(g, n, exe->kthreads);
        if (need == SIZE_MAX)
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): scratch size overflows", n->name,
                                kn_op_get(n->op)->name);
        exe->scratch_size[i] = need;
        if (need == 0)
            continue;
        if (planned && plan->scratch_offsets[i] != KN_BUFFER_NONE && plan->scratch_bytes[i] >= need &&
            plan->scratch_offsets[i] <= tensor_bytes && need <= tensor_bytes - plan->scratch_offsets[i])
            exe->scratch[i] = (char *)exe->arena + plan->scratch_offsets[i];
        else if (need > shared)
            shared = need;
    }
    if (shared == 0)
        return KN_OK;
    size_t bytes = kn_ref_scratch_align(shared);
    if (bytes == SIZE_MAX || posix_memalign(&exe->ref_scratch, KN_REF_SCRATCH_ALIGN, bytes) != 0) {
        exe->ref_scratch = NULL;
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for %zu bytes of kernel scratch", shared);
    }
    for (int i = 0; i < g->num_nodes; i++)
        if (!g->nodes[i].dead && !exe->on_dnnl[i] && exe->scratch_size[i] && !exe->scratch[i])
            exe->scratch[i] = exe->ref_scratch;
    return KN_OK;
}

/*
 * Place the blocked copies in one arena: greedy by size (largest first), each
 * at the lowest 64-byte-aligned offset free of every placed copy whose life
 * (op indices [first_op, last_op]) overlaps its own. (passes/memplan.h's
 * planner sits above the backends in the link order; sharing it is a next step.)
 */
static kn_status kn_dnnl_place_blocked(kn_dnnl_exe *exe, kn_error *err)
{
    const int nr = exe->num_reps;
    if (nr == 0)
        return KN_OK;
    kn_status st = KN_OK;
    int *order = calloc((size_t)nr, sizeof *order);
    size_t *offs = calloc((size_t)nr, sizeof *offs), *size = calloc((size_t)nr, sizeof *size);
    bool *placed = calloc((size_t)nr, sizeof *placed);
    size_t peak = 0;
    if (!order || !offs || !size || !placed) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int r = 0; r < nr; r++) {
        order[r] = r;
        size[r] = exe->reps[r].bytes;
        if (size[r] > SIZE_MAX - 63) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "a blocked tensor does not fit in memory");
            goto done;
        }
        size[r] = size[r] ? (size[r] + 63) & ~(size_t)63 : 64;
    }
    for (int a = 1; a < nr; a++) /* insertion sort, largest first (stable) */
        for (int b = a; b > 0 && size[order[b]] > size[order[b - 1]]; b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    for (int a = 0; a < nr; a++) {
        const int r = order[a];
        const kn_dnnl_rep *rp = &exe->reps[r];
        size_t off = 0;
        for (bool moved = true; moved;) {
            moved = false;
            for (int q = 0; q < nr; q++) {
                const kn_dnnl_rep *qp = &exe->reps[q];
                if (!placed[q] || qp->last_op < rp->first_op || qp->first_op > rp->last_op)
                    continue;
                if (off < offs[q] + size[q] && offs[q] < off + size[r]) {
                    off = offs[q] + size[q];
                    moved = true;
                }
            }
        }
        if (off > SIZE_MAX - size[r]) {
            st = kn_error_set(err, KN_ERR_OVERFLOW, "the blocked tensors do not fit in memory");
            goto done;
        }
        offs[r] = off;
        placed[r] = true;
        if (off + size[r] > peak)
            peak = off + size[r];
    }
    if (posix_memalign(&exe->blocked, 64, peak) != 0) {
        exe->blocked = NULL;
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory for the %zu-byte blocked-layout arena", peak);
        goto done;
    }
    for (int r = 0; r < nr; r++) {
        const kn_node *n = &exe->graph->nodes[exe->ops[exe->reps[r].first_op].node];
        KN_DNNL_CHECK(n, dnnl_memory_set_data_handle(exe->reps[r].mem, (char *)exe->blocked + offs[r]));
    }
fail:
done:
    free(order);
    free(offs);
    free(size);
    free(placed);
    return st;
}

static kn_status kn_dnnl_compile(const kn_graph *g, const kn_buffer_plan *plan, int threads, void **out,
                                 kn_error *err)
{
    *out = NULL;
    kn_dnnl_exe *exe = calloc(1, sizeof *exe);
    if (!exe)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    exe->graph = g;
#ifdef _OPENMP
    exe->threads = threads > 0 ? threads : omp_get_max_threads();
#else
    exe->threads = threads;
#endif
    exe->kthreads = kn_ref_kernel_threads(exe->threads);
    size_t nn = (size_t)(g->num_nodes > 0 ? g->num_nodes : 1);
    size_t nv = (size_t)(g->num_values ? g->num_values : 1);
    exe->buffers = kn_xcalloc(nv, sizeof(void *));
    exe->plain_ok = kn_xcalloc(nv, sizeof(bool));
    exe->rep_head = kn_xcalloc(nv, sizeof(int));
    exe->on_dnnl = kn_xcalloc(nn, sizeof(bool));
    exe->scratch = kn_xcalloc(nn, sizeof(void *));
    exe->scratch_size = kn_xcalloc(nn, sizeof(size_t));
    kn_status st = KN_OK;
    if (!exe->buffers || !exe->plain_ok || !exe->rep_head || !exe->on_dnnl || !exe->scratch || !exe->scratch_size) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int v = 0; v < g->num_values; v++) {
        exe->rep_head[v] = -1;
        exe->plain_ok[v] = g->values[v].data != NULL || g->values[v].producer < 0;
    }
    size_t tensor_bytes = 0;
    if ((st = kn_dnnl_place(exe, plan, &tensor_bytes, err)) != KN_OK)
        goto fail;
    {
        dnnl_status_t ds = dnnl_engine_create(&exe->engine, dnnl_cpu, 0);
        if (ds == dnnl_success)
            ds = dnnl_stream_create(&exe->stream, exe->engine, dnnl_stream_default_flags);
        if (ds != dnnl_success) {
            st = kn_error_set(err, KN_ERR_BACKEND, "oneDNN: cannot create the CPU engine/stream (status %d)",
                              (int)ds);
            goto fail;
        }
    }
    /* Primitives are created with the run's thread count in effect. */
    kn_dnnl_set_threads(exe->threads);
    for (int i = 0; i < g->num_nodes; i++) {
        char why[256];
        if (g->nodes[i].dead)
            continue;
        bool built = false;
        if (kn_dnnl_node_runs(g, &g->nodes[i], why, sizeof why)) {
            if ((st = kn_dnnl_try_node(exe, i, true, &built, err)) != KN_OK)
                goto fail;
            if (!built && (st = kn_dnnl_try_node(exe, i, false, &built, err)) != KN_OK)
                goto fail;
        }
        exe->on_dnnl[i] = built;
        if (!built && (st = kn_dnnl_ref_node(exe, i, err)) != KN_OK)
            goto fail;
    }
    /* graph outputs are read in plain layout */
    for (int k = 0; k < g->num_outputs; k++) {
        int v = g->outputs[k];
        if (v >= 0 && !exe->plain_ok[v] && (st = kn_dnnl_ensure_plain(exe, g->values[v].producer, v, err)) != KN_OK)
            goto fail;
    }
    if ((st = kn_dnnl_place_blocked(exe, err)) != KN_OK)
        goto fail;
    /* One shared oneDNN scratchpad (TODO: plan it into the arena via scratch_bytes). */
    for (int k = 0; k < exe->num_ops; k++)
        if (exe->ops[k].scratch_bytes > exe->dnnl_scratch_bytes)
            exe->dnnl_scratch_bytes = exe->ops[k].scratch_bytes;
    if (exe->dnnl_scratch_bytes) {
        size_t bytes = kn_ref_scratch_align(exe->dnnl_scratch_bytes);
        if (bytes == SIZE_MAX || posix_memalign(&exe->dnnl_scratch, 64, bytes) != 0) {
            exe->dnnl_scratch = NULL;
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory for the %zu-byte oneDNN scratchpad",
                              exe->dnnl_scratch_bytes);
            goto fail;
        }
        for (int k = 0; k < exe->num_ops; k++) {
            kn_dnnl_op *op = &exe->ops[k];
            const kn_node *n = &g->nodes[op->node];
            dnnl_memory_t mem;
            if (op->prim && op->scratch_bytes &&
                ((st = kn_dnnl_new_mem(exe, n, &op->scratch_md, exe->dnnl_scratch, &mem, err)) != KN_OK ||
                 (st = kn_dnnl_add_arg(op, n, DNNL_ARG_SCRATCHPAD, mem, err)) != KN_OK))
                goto fail;
        }
    }
    if ((st = kn_dnnl_ref_scratch(exe, plan, tensor_bytes, err)) != KN_OK)
        goto fail;
    *out = exe;
    return KN_OK;
fail:
    kn_dnnl_free(exe);
    return st;
}

static void kn_dnnl_bind_tensor(const kn_graph *g, int id, void *data, kn_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (id < 0)
        return;
    t->dtype = g->values[id].dtype;
    t->shape = g->values[id].shape;
    t->data = data;
}

static kn_status kn_dnnl_run(void *p, kn_error *err)
{
    kn_dnnl_exe *exe = p;
    const kn_graph *g = exe->graph;
    kn_status st = KN_OK;
    kn_dnnl_set_threads(exe->threads);
    kn_tensor in[KN_MAX_INPUTS], out[KN_MAX_OUTPUTS];
    bool pending = false; /* primitives submitted since the last wait */
    const kn_node *node = NULL;
    for (int k = 0; k < exe->num_ops; k++) {
        const kn_dnnl_op *op = &exe->ops[k];
        node = &g->nodes[op->node];
        if (op->prim) {
            KN_DNNL_CHECK(node, dnnl_primitive_execute(op->prim, exe->stream, op->nargs, op->args));
            pending = true;
            continue;
        }
        if (pending) {
            KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
            pending = false;
        }
        kn_ref_kernel kern = kn_ref_kernel_for(node->op);
        if (!kern)
            return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': no kernel for %s", node->name,
                                kn_op_get(node->op)->name);
        for (int j = 0; j < node->num_inputs; j++)
            kn_dnnl_bind_tensor(g, node->inputs[j], node->inputs[j] >= 0 ? exe->buffers[node->inputs[j]] : NULL,
                                &in[j]);
        for (int j = 0; j < node->num_outputs; j++)
            kn_dnnl_bind_tensor(g, node->outputs[j], node->outputs[j] >= 0 ? exe->buffers[node->outputs[j]] : NULL,
                                &out[j]);
        const kn_ref_scratch sc = {exe->scratch[op->node], exe->scratch_size[op->node], exe->kthreads};
        if ((st = kern(node, in, out, &sc, err)) != KN_OK)
            return st;
        if ((node->fused.activation != KN_OP_COUNT || node->fused.residual >= 0) &&
            (st = kn_ref_apply_fused(node, in, &out[0], err)) != KN_OK)
            return st;
    }
    if (pending && node)
        KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
fail:
    return st;
}

static void *kn_dnnl_value_data(void *p, int id)
{
    kn_dnnl_exe *exe = p;
    return id >= 0 && id < exe->graph->num_values ? exe->buffers[id] : NULL;
}

/*
 * Every node the reference backend runs is accepted (declined nodes fall
 * back to it); why[] receives the reason a node falls back, if it does.
 */
static bool kn_dnnl_supports(const kn_graph *g, const kn_node *node, char *why, size_t len)
{
    if (!kn_ref_backend.supports(g, node, why, len))
        return false;
    if (!kn_dnnl_node_runs(g, node, why, len))
        return true; /* runs on the reference kernels; why[] says why */
    if (len)
        why[0] = '\0';
    return true;
}

/* Fusions are accepted when the producer runs on reference kernels anyway, or the activation maps to post-ops. */
static bool kn_dnnl_can_fuse(const kn_graph *g, const kn_node *producer, kn_op activation, bool residual)
{
    if (producer->op != KN_OP_CONV && producer->op != KN_OP_GEMM && producer->op != KN_OP_MATMUL)
        return true;
    if (residual && producer->op != KN_OP_CONV)
        return producer->op == KN_OP_CONV_TRANSPOSE;
    return kn_dnnl_post_act_ok(activation);
}

/* Only nodes that run on reference kernels need planned scratch; oneDNN's scratchpad is separate for now. */
static size_t kn_dnnl_scratch_bytes(const kn_graph *g, const kn_node *node, int threads)
{
    char why[256];
    if (kn_dnnl_node_runs(g, node, why, sizeof why))
        return 0;
    return kn_ref_scratch_bytes(g, node, kn_ref_kernel_threads(threads));
}

const kn_backend kn_dnnl_backend = {
    .name = "dnnl",
    .supports = kn_dnnl_supports,
    .compile = kn_dnnl_compile,
    .run = kn_dnnl_run,
    .value_data = kn_dnnl_value_data,
    .free = kn_dnnl_free,
    .can_fuse = kn_dnnl_can_fuse,
    .scratch_bytes = kn_dnnl_scratch_bytes,
};
