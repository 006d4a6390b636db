/*
 * fold_bn.c - fold an inference BatchNormalization into the Conv,
 * ConvTranspose or Gemm that feeds it.
 *
 * BatchNormalization computes y = s[c] * (x - mean[c]) + b[c] with
 * s[c] = scale[c] / sqrt(var[c] + epsilon) over channel c (axis 1). When x
 * is W * input + bias, scaling the weights of output channel c by s[c] and
 * setting bias'[c] = s[c] * (bias[c] - mean[c]) + b[c] gives the same y.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pass_util.h"
#include "passes.h"

/* Copy of float constant `id` into a new buffer; NULL when out of memory. */
static float *kn_copy_floats(const kn_graph *g, int id, size_t n)
{
    float *p = malloc(n ? n * sizeof(float) : sizeof(float));
    if (p && n)
        memcpy(p, g->values[id].data, n * sizeof(float));
    return p;
}

static size_t kn_numel_of(const kn_value *v)
{
    size_t n = 0;
    return kn_shape_numel(&v->shape, &n) == KN_OK ? n : 0;
}

/*
 * Why BatchNormalization `bn` cannot fold into producer `p` (NULL: it can).
 * `channels` receives the channel count.
 */
static const char *kn_fold_bn_blocker(const kn_edit *e, const kn_node *bn, const kn_node *p, int64_t *channels)
{
    const kn_graph *g = e->g;
    const kn_value *x = &g->values[bn->inputs[0]];
    if (x->dtype != KN_F32 || x->shape.rank < 2)
        return "its input is not a float32 tensor with channels";
    *channels = x->shape.dims[1];
    for (int k = 1; k < 5; k++) {
        const kn_value *v = &g->values[bn->inputs[k]];
        if (!kn_value_is_constant(g, bn->inputs[k]) || v->dtype != KN_F32 || (int64_t)kn_numel_of(v) != *channels)
            return "its scale, bias, mean and variance are not float32 constants, one per channel";
    }
    if (kn_edit_readers(e, bn->inputs[0]) != 1 || kn_value_is_graph_output(g, bn->inputs[0]))
        return "the producer's output has other readers";
    if (p->fused.activation != KN_OP_COUNT || p->fused.residual >= 0)
        return "the producer already has a fused post-op";
    const kn_value *w = &g->values[p->inputs[1]];
    if (!kn_value_is_constant(g, p->inputs[1]) || w->dtype != KN_F32)
        return "the producer's weights are not float32 constants";
    int bias = p->num_inputs > 2 ? p->inputs[2] : -1;
    if (bias >= 0 && (!kn_value_is_constant(g, bias) || g->values[bias].dtype != KN_F32))
        return "the producer's bias is not a float32 constant";
    if (p->op == KN_OP_GEMM) {
        if (x->shape.rank != 2 || w->shape.rank != 2)
            return "the Gemm's operands are not matrices";
        if (bias >= 0 && g->values[bias].shape.rank > 2)
            return "the Gemm's C has more than two dimensions";
    } else {
        if (w->shape.rank < 3)
            return "the weights have no spatial dimensions";
        if (bias >= 0 && (int64_t)kn_numel_of(&g->values[bias]) != *channels)
            return "the bias does not have one value per channel";
    }
    return NULL;
}

/* Per-channel factor s and shift t: y = s * x + t. */
static kn_status kn_bn_factors(const kn_graph *g, const kn_node *bn, int64_t c, float **s_out, float **t_out,
                               kn_error *err)
{
    float *s = malloc((size_t)c * sizeof(float)), *t = malloc((size_t)c * sizeof(float));
    if (!s || !t) {
        free(s);
        free(t);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in fold_bn");
    }
    const float *scale = g->values[bn->inputs[1]].data, *b = g->values[bn->inputs[2]].data;
    const float *mean = g->values[bn->inputs[3]].data, *var = g->values[bn->inputs[4]].data;
    for (int64_t i = 0; i < c; i++) {
        s[i] = (float)((double)scale[i] / sqrt((double)var[i] + (double)bn->attrs.batch_norm.epsilon));
        t[i] = b[i] - s[i] * mean[i];
    }
    *s_out = s;
    *t_out = t;
    return KN_OK;
}

/* New weights and bias for a Conv or ConvTranspose. */
/* Producer `pid` reads weight `wid` and bias `bid` (values just added). */
static kn_status kn_fold_rewire(kn_edit *e, int pid, int wid, int bid, kn_error *err)
{
    kn_status st = kn_edit_grow(e, err);
    if (st != KN_OK)
        return st;
    kn_node *p = &e->g->nodes[pid];
    kn_edit_set_input(e, p, 1, wid);
    if (p->num_inputs < 3) {
        p->inputs[2] = -1;
        p->num_inputs = 3;
    }
    kn_edit_set_input(e, p, 2, bid);
    return KN_OK;
}

static kn_status kn_fold_conv(kn_edit *e, int pid, const float *s, const float *t, int64_t c, kn_error *err)
{
    kn_graph *g = e->g;
    kn_node *p = &g->nodes[pid];
    const kn_value *w = &g->values[p->inputs[1]];
    kn_shape wshape = w->shape;
    size_t wn = kn_numel_of(w);
    int bias = p->num_inputs > 2 ? p->inputs[2] : -1;
    float *nw = kn_copy_floats(g, p->inputs[1], wn);
    float *nb = malloc((size_t)c * sizeof(float));
    if (!nw || !nb) {
        free(nw);
        free(nb);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in fold_bn");
    }
    size_t inner = 1;
    for (int d = 2; d < wshape.rank; d++)
        inner *= (size_t)wshape.dims[d];
    if (p->op == KN_OP_CONV) {
        /* W: [C_out, C_in / group, k...]: output channel o is row o. */
        size_t row = wn / (size_t)wshape.dims[0];
        for (int64_t o = 0; o < wshape.dims[0]; o++)
            for (size_t k = 0; k < row; k++)
                nw[(size_t)o * row + k] *= s[o];
    } else {
        /* W: [C_in, C_out / group, k...]: input channel i of group i / (C_in / group)
         * feeds output channels grp * (C_out / group) + j. */
        int64_t group = p->attrs.window.group > 0 ? p->attrs.window.group : 1;
        int64_t cin = wshape.dims[0], cout_g = wshape.dims[1], cin_g = cin / group;
        for (int64_t i = 0; i < cin; i++)
            for (int64_t j = 0; j < cout_g; j++) {
                int64_t o = (i / cin_g) * cout_g + j;
                float *row = nw + ((size_t)i * (size_t)cout_g + (size_t)j) * inner;
                for (size_t k = 0; k < inner; k++)
                    row[k] *= s[o];
            }
    }
    const float *ob = bias >= 0 ? g->values[bias].data : NULL;
    for (int64_t o = 0; o < c; o++)
        nb[o] = s[o] * (ob ? ob[o] : 0.0f) + t[o];
    char *pname = p->name;
    int wid, bid;
    kn_shape bshape = {1, {c}};
    kn_status st = kn_pass_add_float_const(g, pname, "_weight_bnfold", &wshape, nw, &wid, err);
    if (st != KN_OK) {
        free(nb);
        return st;
    }
    if ((st = kn_pass_add_float_const(g, pname, "_bias_bnfold", &bshape, nb, &bid, err)) != KN_OK)
        return st;
    return kn_fold_rewire(e, pid, wid, bid, err);
}

/* New B and C for a Gemm (Y = alpha * A * B' + beta * C, output [M, N]). */
static kn_status kn_fold_gemm(kn_edit *e, int pid, const float *s, const float *t, int64_t n, kn_error *err)
{
    kn_graph *g = e->g;
    kn_node *p = &g->nodes[pid];
    const kn_value *w = &g->values[p->inputs[1]];
    kn_shape wshape = w->shape;
    size_t wn = kn_numel_of(w);
    int64_t m = g->values[p->outputs[0]].shape.dims[0];
    int cid = p->num_inputs > 2 ? p->inputs[2] : -1;
    const kn_value *cv = cid >= 0 ? &g->values[cid] : NULL;
    /* C keeps its rows when it has some (shape [M, N]); otherwise one row [N]. */
    int64_t crows = cv && cv->shape.rank == 2 ? cv->shape.dims[0] : 1;
    int64_t ccols = cv && cv->shape.rank >= 1 ? cv->shape.dims[cv->shape.rank - 1] : 1;
    if (crows != 1 && crows != m)
        crows = 1;
    kn_shape cshape = crows > 1 ? (kn_shape){2, {crows, n}} : (kn_shape){1, {n}};
    float *nw = kn_copy_floats(g, p->inputs[1], wn);
    float *nc = malloc((size_t)(crows * n) * sizeof(float));
    if (!nw || !nc) {
        free(nw);
        free(nc);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in fold_bn");
    }
    if (p->attrs.gemm.trans_b) {
        /* B: [N, K]: row j is output column j. */
        size_t k = wn / (size_t)n;
        for (int64_t j = 0; j < n; j++)
            for (size_t q = 0; q < k; q++)
                nw[(size_t)j * k + q] *= s[j];
    } else {
        /* B: [K, N]: column j is output column j. */
        size_t k = wn / (size_t)n;
        for (size_t q = 0; q < k; q++)
            for (int64_t j = 0; j < n; j++)
                nw[q * (size_t)n + (size_t)j] *= s[j];
    }
    const float *c = cv ? cv->data : NULL;
    float beta = p->attrs.gemm.beta;
    for (int64_t r = 0; r < crows; r++)
        for (int64_t j = 0; j < n; j++) {
            float cval = c ? c[(cv->shape.rank == 2 && cv->shape.dims[0] != 1 ? r * ccols : 0) +
                               (ccols == 1 ? 0 : j)]
                           : 0.0f;
            nc[r * n + j] = s[j] * beta * cval + t[j];
        }
    char *pname = p->name;
    int wid, ncid;
    kn_status st = kn_pass_add_float_const(g, pname, "_B_bnfold", &wshape, nw, &wid, err);
    if (st != KN_OK) {
        free(nc);
        return st;
    }
    if ((st = kn_pass_add_float_const(g, pname, "_C_bnfold", &cshape, nc, &ncid, err)) != KN_OK)
        return st;
    g->nodes[pid].attrs.gemm.beta = 1.0f;
    return kn_fold_rewire(e, pid, wid, ncid, err);
}

kn_status kn_pass_fold_bn(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    FILE *ex = ctx ? ctx->explain : NULL;
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *bn = &g->nodes[i];
        if (bn->dead)
            continue;
        kn_edit_visit(&e, bn);
        if (bn->op != KN_OP_BATCH_NORM || bn->num_outputs != 1)
            continue;
        int pid = g->values[bn->inputs[0]].producer;
        if (pid < 0 || g->nodes[pid].dead)
            continue;
        kn_node *p = &g->nodes[pid];
        if (p->op != KN_OP_CONV && p->op != KN_OP_CONV_TRANSPOSE && p->op != KN_OP_GEMM)
            continue;
        int64_t c = 0;
        const char *why = kn_fold_bn_blocker(&e, bn, p, &c);
        if (why) {
            if (ex)
                fprintf(ex, "fold_bn: kept BatchNormalization '%s' after %s '%s': %s\n", bn->name,
                        kn_op_get(p->op)->name, p->name, why);
            continue;
        }
        float *s = NULL, *t = NULL;
        st = kn_bn_factors(g, bn, c, &s, &t, err);
        if (st == KN_OK)
            st = p->op == KN_OP_GEMM ? kn_fold_gemm(&e, pid, s, t, c, err) : kn_fold_conv(&e, pid, s, t, c, err);
        free(s);
        free(t);
        if (st != KN_OK)
            break;
        /* The producer now writes the BatchNormalization's output (names stay). */
        bn = &g->nodes[i];
        p = &g->nodes[pid];
        int old = p->outputs[0], out = bn->outputs[0];
        kn_edit_kill(&e, bn);
        p->outputs[0] = out;
        g->values[out].producer = pid;
        g->values[old].producer = -1;
        *changed = true;
        if (ex)
            fprintf(ex, "fold_bn: folded BatchNormalization '%s' into %s '%s'\n", bn->name, kn_op_get(p->op)->name,
                    p->name);
    }
    kn_edit_end(&e);
    return st;
}
