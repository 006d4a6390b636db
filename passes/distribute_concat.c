/*
 * distribute_concat.c - make a channel Concat's copy disappear when its
 * readers are linear in the channels: a convolution over the concatenation
 * of a and b is the sum of a convolution over a (the weights' first input
 * channels) and one over b (the rest), and a pooling of the concatenation is
 * the concatenation of the poolings. SqueezeNet's Fire modules concatenate
 * two expand convolutions and feed the result to the next squeeze
 * convolution or a max pool: after this pass every one of those copies is
 * gone and the sums become residual post-ops (fuse_residual), so a backend
 * writes each expand output once and reads it once.
 */
#include <stdlib.h>
#include <string.h>

#include "pass_util.h"
#include "passes.h"

/* At most this many sources: each one is a convolution per reader. */
#define KN_DISTRIBUTE_MAX_SOURCES 4

/* Elements of value v (0 when unknown). */
static size_t kn_dc_numel(const kn_graph *g, int v)
{
    size_t n = 0;
    return g->values[v].shape_known && kn_shape_numel(&g->values[v].shape, &n) == KN_OK ? n : 0;
}

/*
 * Whether node c is a Concat of 2..KN_DISTRIBUTE_MAX_SOURCES float32 4-D
 * sources along the channels, whose output is no graph output: what this
 * pass may take apart.
 */
static bool kn_dc_channel_concat(const kn_graph *g, const kn_node *c)
{
    if (c->dead || c->op != KN_OP_CONCAT || c->num_outputs != 1 || c->num_inputs < 2 ||
        c->num_inputs > KN_DISTRIBUTE_MAX_SOURCES)
        return false;
    const kn_value *out = &g->values[c->outputs[0]];
    if (out->is_output || !out->shape_known || out->dtype != KN_F32 || out->shape.rank != 4)
        return false;
    int64_t axis = c->attrs.axis.axis < 0 ? c->attrs.axis.axis + 4 : c->attrs.axis.axis;
    if (axis != 1)
        return false;
    for (int k = 0; k < c->num_inputs; k++)
        if (c->inputs[k] < 0 || !g->values[c->inputs[k]].shape_known || g->values[c->inputs[k]].shape.rank != 4)
            return false;
    return true;
}

/* A new intermediate float32 value named after value `base` + suffix, of `shape`. */
static kn_status kn_dc_value(kn_graph *g, int base, const char *suffix, const kn_shape *shape, int *id,
                             kn_error *err)
{
    char *name = kn_unique_value_name(g, g->values[base].name, suffix);
    if (!name)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in distribute_concat");
    kn_shape s = *shape; /* the value array may move */
    kn_status st = kn_graph_add_value(g, name, KN_F32, &s, KN_VALUE_INTERMEDIATE, NULL, id, err);
    free(name);
    if (st == KN_OK)
        g->values[*id].shape_known = true;
    return st;
}

/* A node named `base` + suffix (node names need not be unique, but readable ones help --explain). */
static kn_status kn_dc_node(kn_graph *g, const char *base, const char *suffix, kn_op op, const int *in, int nin,
                            int out, const kn_attrs *a, kn_error *err)
{
    size_t len = strlen(base) + strlen(suffix) + 1;
    char *name = malloc(len);
    if (!name)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in distribute_concat");
    memcpy(name, base, strlen(base));
    memcpy(name + strlen(base), suffix, strlen(suffix) + 1);
    kn_status st = kn_graph_add_node(g, name, op, in, nin, &out, 1, a, NULL, err);
    free(name);
    return st;
}

/* ------------------------------------------------------------ pooling */

/*
 * Pool node p reads Concat c, which nothing else reads: pool each source
 * instead and concatenate the (smaller) results into p's output value.
 */
static kn_status kn_dc_pool(kn_graph *g, int pi, int ci, const kn_pass_ctx *ctx, kn_error *err)
{
    kn_node p = g->nodes[pi], c = g->nodes[ci]; /* copies: adding nodes may move the array */
    int out = p.outputs[0], parts[KN_DISTRIBUTE_MAX_SOURCES];
    g->nodes[pi].dead = g->nodes[ci].dead = true;
    g->values[out].producer = -1;
    for (int k = 0; k < c.num_inputs; k++) {
        kn_shape s = g->values[out].shape;
        s.dims[1] = g->values[c.inputs[k]].shape.dims[1];
        char suffix[32];
        snprintf(suffix, sizeof suffix, "/part%d", k);
        kn_status st = kn_dc_value(g, out, suffix, &s, &parts[k], err);
        if (st == KN_OK)
            st = kn_dc_node(g, p.name, suffix, p.op, &c.inputs[k], 1, parts[k], &p.attrs, err);
        if (st != KN_OK)
            return st;
    }
    kn_pass_say(ctx, "distribute_concat: %s '%s' moved before Concat '%s' (%d poolings, the concat copies their "
                "outputs)", kn_op_get(p.op)->name, p.name, c.name, c.num_inputs);
    return kn_dc_node(g, c.name, "/pooled", KN_OP_CONCAT, parts, c.num_inputs, out, &c.attrs, err);
}

/* Pooling nodes with one output that read a channel Concat nothing else reads. */
static kn_status kn_dc_pools(kn_graph *g, const int *readers, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_status st = KN_OK;
    const int count = g->num_nodes;
    for (int i = 0; i < count && st == KN_OK; i++) {
        const kn_node *p = &g->nodes[i];
        if (p->dead || (p->op != KN_OP_MAX_POOL && p->op != KN_OP_AVERAGE_POOL) || p->num_inputs != 1 ||
            p->num_outputs != 1 || p->inputs[0] < 0 || p->fused.activation != KN_OP_COUNT)
            continue;
        int cv = p->inputs[0], ci = g->values[cv].producer;
        if (ci < 0 || !kn_dc_channel_concat(g, &g->nodes[ci]) || readers[cv] != 1 ||
            kn_dc_numel(g, p->outputs[0]) >= kn_dc_numel(g, cv))
            continue;
        st = kn_dc_pool(g, i, ci, ctx, err);
        *changed = true;
    }
    return st;
}

/* ------------------------------------------------------------ convolutions */

/* Why Conv node n cannot read Concat output cv as a sum over its sources (NULL: it can). */
static const char *kn_dc_conv_blocker(const kn_graph *g, const kn_node *n, int cv, const kn_pass_ctx *ctx)
{
    if (n->op != KN_OP_CONV)
        return "a reader is not a Conv";
    if (n->inputs[0] != cv || n->num_inputs < 2 || (n->num_inputs > 2 && n->inputs[2] == cv))
        return "the Conv reads it as more than its data input";
    if (n->attrs.window.group != 1)
        return "a grouped Conv reads it";
    if (n->fused.activation != KN_OP_COUNT || n->fused.residual >= 0 || n->num_inputs > 3 || n->num_outputs != 1)
        return "a Conv with fused post-ops reads it";
    if (!kn_value_is_constant(g, n->inputs[1]) || g->values[n->inputs[1]].dtype != KN_F32 ||
        g->values[n->inputs[1]].shape.rank != 4)
        return "a Conv's weights are not float32 constants";
    if (ctx->can_fuse && !ctx->can_fuse(g, n, KN_OP_COUNT, true, ctx->can_fuse_user))
        return "the backend cannot add a residual to the Conv";
    return NULL;
}

/* Input channels [c0, c0 + cn) of constant weights w (O, I, kh, kw) as a new constant. */
static kn_status kn_dc_weight_slice(kn_graph *g, int w, int64_t c0, int64_t cn, const char *suffix, int *id,
                                    kn_error *err)
{
    const kn_shape ws = g->values[w].shape;
    const size_t o = (size_t)ws.dims[0], in = (size_t)ws.dims[1], taps = (size_t)(ws.dims[2] * ws.dims[3]);
    size_t n;
    if (!kn_size_mul(o, (size_t)cn, &n) || !kn_size_mul(n, taps, &n))
        return kn_error_set(err, KN_ERR_OVERFLOW, "distribute_concat: weights too large");
    float *d = malloc(n ? n * sizeof(float) : sizeof(float));
    if (!d)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in distribute_concat");
    const float *src = g->values[w].data;
    for (size_t r = 0; r < o; r++)
        memcpy(d + r * (size_t)cn * taps, src + (r * in + (size_t)c0) * taps, sizeof(float) * (size_t)cn * taps);
    kn_shape s = ws;
    s.dims[1] = cn;
    return kn_pass_add_float_const(g, g->values[w].name, suffix, &s, d, id, err);
}

/*
 * Conv node ni reads Concat c: one Conv per source over its slice of the
 * weights (the bias on the last), summed by Adds into ni's output value.
 */
static kn_status kn_dc_split_conv(kn_graph *g, int ni, const kn_node *c, kn_error *err)
{
    kn_node n = g->nodes[ni];
    int out = n.outputs[0], sum = -1;
    g->nodes[ni].dead = true;
    g->values[out].producer = -1;
    int64_t c0 = 0;
    for (int k = 0; k < c->num_inputs; k++) {
        const int64_t cn = g->values[c->inputs[k]].shape.dims[1];
        const bool last = k == c->num_inputs - 1;
        char suffix[32];
        snprintf(suffix, sizeof suffix, "/part%d", k);
        int w, part, in[3];
        kn_status st = kn_dc_weight_slice(g, n.inputs[1], c0, cn, suffix, &w, err);
        if (st == KN_OK)
            st = kn_dc_value(g, out, suffix, &g->values[out].shape, &part, err);
        if (st != KN_OK)
            return st;
        in[0] = c->inputs[k];
        in[1] = w;
        in[2] = last && n.num_inputs > 2 ? n.inputs[2] : -1;
        if ((st = kn_dc_node(g, n.name, suffix, KN_OP_CONV, in, in[2] >= 0 ? 3 : 2, part, &n.attrs, err)) != KN_OK)
            return st;
        if (sum >= 0) {
            int add_in[2] = {sum, part}, to = out;
            if (!last && (st = kn_dc_value(g, out, "/sum", &g->values[out].shape, &to, err)) != KN_OK)
                return st;
            snprintf(suffix, sizeof suffix, "/sum%d", k);
            if ((st = kn_dc_node(g, n.name, suffix, KN_OP_ADD, add_in, 2, to, NULL, err)) != KN_OK)
                return st;
            part = to;
        }
        sum = part;
        c0 += cn;
    }
    return KN_OK;
}

/* Channel Concats whose every reader is a Conv that can take the sum, when that moves fewer bytes. */
static kn_status kn_dc_convs(kn_graph *g, const int *readers, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_status st = KN_OK;
    const int count = g->num_nodes;
    for (int i = 0; i < count && st == KN_OK; i++) {
        if (!kn_dc_channel_concat(g, &g->nodes[i]))
            continue;
        const int cv = g->nodes[i].outputs[0], parts = g->nodes[i].num_inputs;
        /* every reader: a copy of the concat (2 x its bytes) against one more read of each sum per source */
        const char *why = readers[cv] ? NULL : "nothing reads it";
        size_t added = 0, saved = 2 * kn_dc_numel(g, cv);
        int who[KN_MAX_INPUTS], nwho = 0;
        for (int j = i + 1; j < count && !why && nwho < readers[cv]; j++) {
            const kn_node *r = &g->nodes[j];
            bool reads = false;
            for (int k = 0; k < r->num_inputs && !r->dead; k++)
                reads |= r->inputs[k] == cv;
            if (!reads)
                continue;
            if (nwho == KN_MAX_INPUTS)
                why = "too many readers";
            else if (!(why = kn_dc_conv_blocker(g, r, cv, ctx)))
                who[nwho++] = j;
            added += 2 * (size_t)(parts - 1) * kn_dc_numel(g, r->outputs[0]);
        }
        if (!why && nwho != readers[cv])
            why = "a reader comes before it";
        if (!why && added >= saved)
            why = "the sums would move more bytes than the copy";
        if (why) {
            if (readers[cv])
                kn_pass_say(ctx, "distribute_concat: Concat '%s' kept: %s", g->nodes[i].name, why);
            continue;
        }
        kn_node c = g->nodes[i];
        for (int k = 0; k < nwho && st == KN_OK; k++) {
            kn_pass_say(ctx, "distribute_concat: Conv '%s' over Concat '%s' split into %d convolutions summed",
                        g->nodes[who[k]].name, c.name, parts);
            st = kn_dc_split_conv(g, who[k], &c, err);
        }
        g->nodes[i].dead = true;
        *changed = true;
    }
    return st;
}

kn_status kn_pass_distribute_concat(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    if (g->variables)
        return KN_OK; /* weights change every step: nothing to slice */
    /* pools first: the concatenations they leave (sorted into place) may then feed convolutions */
    kn_status (*const steps[2])(kn_graph *, const int *, const kn_pass_ctx *, bool *, kn_error *) = {kn_dc_pools,
                                                                                                    kn_dc_convs};
    for (int s = 0; s < 2; s++) {
        bool any = false;
        int *readers = kn_pass_count_readers(g);
        if (!readers)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory in distribute_concat");
        kn_status st = steps[s](g, readers, ctx, &any, err);
        free(readers);
        if (st != KN_OK)
            return st;
        if (!any)
            continue;
        *changed = true;
        if ((st = kn_graph_compact(g, err)) != KN_OK || (st = kn_graph_sort(g, err)) != KN_OK)
            return st;
    }
    return KN_OK;
}
