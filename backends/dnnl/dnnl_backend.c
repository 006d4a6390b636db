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

/* One node of the run: a primitive with its arguments, or (prim NULL) a reference kernel. */
typedef struct kn_dnnl_step {
    dnnl_primitive_t prim;
    int nargs;
    dnnl_exec_arg_t args[KN_DNNL_MAX_ARGS];
    dnnl_memory_desc_t scratch_md; /* valid when scratch_bytes > 0 */
    size_t scratch_bytes;
} kn_dnnl_step;

typedef struct kn_dnnl_exe {
    const kn_graph *graph;
    int threads, kthreads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *arena;                /* the one tensor arena (the memory plan's) */
    void **buffers;             /* per value: graph data or arena slot */
    void **scratch;             /* per node: reference-kernel scratch, or NULL */
    size_t *scratch_size;
    void *ref_scratch;          /* reference scratch the plan did not hold (compile-time fallbacks) */
    void *dnnl_scratch;         /* shared oneDNN scratchpad */
    size_t dnnl_scratch_bytes;
    kn_dnnl_step *steps;        /* per node */
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

/* Create a memory object on `data` and add it to step `sp` as argument `arg`. */
static kn_status kn_dnnl_arg(kn_dnnl_exe *exe, kn_dnnl_step *sp, const kn_node *node, int arg,
                             const dnnl_memory_desc_t *md, void *data, kn_error *err)
{
    kn_status st = KN_OK;
    if (sp->nargs >= KN_DNNL_MAX_ARGS)
        return kn_error_set(err, KN_ERR_BACKEND, "node '%s': too many oneDNN arguments", node->name);
    if (exe->num_mems == exe->cap_mems) {
        int cap = exe->cap_mems ? exe->cap_mems * 2 : 64;
        dnnl_memory_t *m = realloc(exe->mems, (size_t)cap * sizeof *m);
        if (!m)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        exe->mems = m;
        exe->cap_mems = cap;
    }
    dnnl_memory_t mem;
    KN_DNNL_CHECK(node, dnnl_memory_create(&mem, md, exe->engine, data));
    exe->mems[exe->num_mems++] = mem;
    sp->args[sp->nargs].arg = arg;
    sp->args[sp->nargs].memory = mem;
    sp->nargs++;
fail:
    return st;
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

/*
 * Create the primitive of node i. KN_OK with sp->prim set; KN_OK with
 * sp->prim NULL when oneDNN has no implementation (the node falls back to
 * the reference kernels); an error otherwise.
 */
static kn_status kn_dnnl_build_step(kn_dnnl_exe *exe, int i, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_dnnl_step *sp = &exe->steps[i];
    kn_dnnl_desc desc;
    kn_dnnl_bind binds[KN_DNNL_MAX_ARGS];
    int nb = 0;
    bool has_res = false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
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
    KN_DNNL_CHECK(n, dnnl_primitive_attr_create(&attr));
    KN_DNNL_CHECK(n, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (n->fused.residual >= 0 || n->fused.activation != KN_OP_COUNT) {
        KN_DNNL_CHECK(n, dnnl_post_ops_create(&po));
        const dnnl_memory_desc_t *res_md = NULL;
        for (int k = 0; k < nb; k++)
            if (binds[k].arg == (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1))
                res_md = &binds[k].md;
        if (n->fused.residual >= 0 && !res_md) {
            st = kn_error_set(err, KN_ERR_BACKEND, "node '%s': residual without a descriptor", n->name);
            goto fail;
        }
        if ((st = kn_dnnl_post_ops(n, res_md, po, err)) != KN_OK)
            goto fail;
        KN_DNNL_CHECK(n, dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_status_t ds = dnnl_primitive_desc_create(&pd, &desc, attr, exe->engine, NULL);
    if (ds == dnnl_unimplemented) {
        pd = NULL;
        goto fail; /* st is KN_OK: reference fallback */
    }
    KN_DNNL_CHECK(n, ds);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd) {
        sp->scratch_md = *smd;
        sp->scratch_bytes = dnnl_memory_desc_get_size(smd);
    }
    KN_DNNL_CHECK(n, dnnl_primitive_create(&sp->prim, pd));
    for (int k = 0; k < nb; k++)
        if ((st = kn_dnnl_arg(exe, sp, n, binds[k].arg, &binds[k].md, exe->buffers[binds[k].value], err)) != KN_OK)
            goto fail;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st != KN_OK && sp->prim) {
        dnnl_primitive_destroy(sp->prim);
        sp->prim = NULL;
    }
    return st;
}

/* ------------------------------------------------------------ executable */

static void kn_dnnl_free(void *p)
{
    kn_dnnl_exe *exe = p;
    if (!exe)
        return;
    if (exe->steps)
        for (int i = 0; i < exe->graph->num_nodes; i++)
            if (exe->steps[i].prim)
                dnnl_primitive_destroy(exe->steps[i].prim);
    for (int i = 0; i < exe->num_mems; i++)
        dnnl_memory_destroy(exe->mems[i]);
    if (exe->stream)
        dnnl_stream_destroy(exe->stream);
    if (exe->engine)
        dnnl_engine_destroy(exe->engine);
    free(exe->mems);
    free(exe->steps);
    free(exe->arena);
    free(exe->buffers);
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
        if (n->dead || exe->steps[i].prim)
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
        if (!g->nodes[i].dead && !exe->steps[i].prim && exe->scratch_size[i] && !exe->scratch[i])
            exe->scratch[i] = exe->ref_scratch;
    return KN_OK;
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
    exe->buffers = kn_xcalloc((size_t)(g->num_values ? g->num_values : 1), sizeof(void *));
    exe->scratch = kn_xcalloc(nn, sizeof(void *));
    exe->scratch_size = kn_xcalloc(nn, sizeof(size_t));
    exe->steps = kn_xcalloc(nn, sizeof(kn_dnnl_step));
    kn_status st = KN_OK;
    const kn_node *n0 = g->num_nodes ? &g->nodes[0] : NULL;
    if (!exe->buffers || !exe->scratch || !exe->scratch_size || !exe->steps) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto fail;
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
        if (g->nodes[i].dead || !kn_dnnl_node_runs(g, &g->nodes[i], why, sizeof why))
            continue;
        if ((st = kn_dnnl_build_step(exe, i, err)) != KN_OK)
            goto fail;
        if (exe->steps[i].scratch_bytes > exe->dnnl_scratch_bytes)
            exe->dnnl_scratch_bytes = exe->steps[i].scratch_bytes;
    }
    /* One shared oneDNN scratchpad (TODO next session: plan it into the arena via scratch_bytes). */
    if (exe->dnnl_scratch_bytes) {
        size_t bytes = kn_ref_scratch_align(exe->dnnl_scratch_bytes);
        if (bytes == SIZE_MAX || posix_memalign(&exe->dnnl_scratch, 64, bytes) != 0) {
            exe->dnnl_scratch = NULL;
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory for the %zu-byte oneDNN scratchpad",
                              exe->dnnl_scratch_bytes);
            goto fail;
        }
        for (int i = 0; i < g->num_nodes; i++) {
            kn_dnnl_step *sp = &exe->steps[i];
            if (sp->prim && sp->scratch_bytes &&
                (st = kn_dnnl_arg(exe, sp, &g->nodes[i], DNNL_ARG_SCRATCHPAD, &sp->scratch_md, exe->dnnl_scratch,
                                  err)) != KN_OK)
                goto fail;
        }
    }
    if ((st = kn_dnnl_ref_scratch(exe, plan, tensor_bytes, err)) != KN_OK)
        goto fail;
    (void)n0;
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
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *node = &g->nodes[i];
        if (node->dead)
            continue;
        kn_dnnl_step *sp = &exe->steps[i];
        if (sp->prim) {
            KN_DNNL_CHECK(node, dnnl_primitive_execute(sp->prim, exe->stream, sp->nargs, sp->args));
            KN_DNNL_CHECK(node, dnnl_stream_wait(exe->stream));
            continue;
        }
        kn_ref_kernel k = kn_ref_kernel_for(node->op);
        if (!k)
            return kn_error_set(err, KN_ERR_UNSUPPORTED, "node '%s': no kernel for %s", node->name,
                                kn_op_get(node->op)->name);
        for (int j = 0; j < node->num_inputs; j++)
            kn_dnnl_bind_tensor(g, node->inputs[j], node->inputs[j] >= 0 ? exe->buffers[node->inputs[j]] : NULL,
                                &in[j]);
        for (int j = 0; j < node->num_outputs; j++)
            kn_dnnl_bind_tensor(g, node->outputs[j], exe->buffers[node->outputs[j]], &out[j]);
        const kn_ref_scratch sc = {exe->scratch[i], exe->scratch_size[i], exe->kthreads};
        if ((st = k(node, in, out, &sc, err)) != KN_OK)
            return st;
        if ((node->fused.activation != KN_OP_COUNT || node->fused.residual >= 0) &&
            (st = kn_ref_apply_fused(node, in, &out[0], err)) != KN_OK)
            return st;
    }
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
