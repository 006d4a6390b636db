/*
 * fuse_patterns.c - passes that recognise ops older exporters spell as
 * several nodes and turn them into one: GELU (x * 0.5 * (1 + Erf(x /
 * sqrt 2))), Mish (x * Tanh(Softplus(x))) and layer normalisation
 * (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div[, Mul gamma[, Add
 * beta]]). Each rewrites the chain's last node in place (its output keeps
 * its name) and kills the others; every intermediate value must be read by
 * the chain only and not be a graph output. With ctx->explain each pass
 * says what it formed and why a candidate was left alone.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "pass_util.h"
#include "passes.h"
#include "shape.h"


/* The live node producing v when its op is `op`, else NULL. */
static kn_node *kn_pat_producer(kn_graph *g, int v, kn_op op)
{
    if (v < 0)
        return NULL;
    int p = g->values[v].producer;
    if (p < 0 || p >= g->num_nodes || g->nodes[p].dead || g->nodes[p].op != op || g->nodes[p].num_outputs != 1)
        return NULL;
    return &g->nodes[p];
}

/* Whether v is a float32 constant of one element within 1e-4 (relative) of `want`. */
static bool kn_pat_const(const kn_graph *g, int v, float want)
{
    if (v < 0 || !kn_value_is_constant(g, v) || g->values[v].dtype != KN_F32 || !g->values[v].data)
        return false;
    size_t c = 0;
    if (kn_shape_numel(&g->values[v].shape, &c) != KN_OK || c != 1)
        return false;
    float f = *(const float *)g->values[v].data;
    return fabsf(f - want) <= 1e-4f * fabsf(want);
}

/* Whether v is read by exactly `uses` node input slots and is not a graph output. */
static bool kn_pat_private(const kn_edit *e, int v, int uses)
{
    return kn_edit_readers(e, v) == uses && !kn_value_is_graph_output(e->g, v);
}

/* The input of binary node n other than v (n has two inputs). */
static int kn_pat_other(const kn_node *n, int v)
{
    return n->inputs[0] == v ? n->inputs[1] : n->inputs[0];
}

/* Binary node n's input that is the constant `want`'s other operand, or -1 (either order). */
static int kn_pat_with_const(const kn_graph *g, const kn_node *n, float want)
{
    if (n->num_inputs != 2)
        return -1;
    if (kn_pat_const(g, n->inputs[1], want))
        return n->inputs[0];
    if (kn_pat_const(g, n->inputs[0], want))
        return n->inputs[1];
    return -1;
}

/* Turn `last` into a one-input `op` node reading x, killing `dead[0..ndead)`. */
static void kn_pat_rewrite(kn_edit *e, kn_node *last, kn_op op, int x, kn_node **dead, int ndead)
{
    for (int i = 0; i < ndead; i++)
        kn_edit_kill(e, dead[i]);
    for (int k = 1; k < last->num_inputs; k++)
        kn_edit_set_input(e, last, k, -1);
    kn_edit_set_input(e, last, 0, x);
    last->num_inputs = 1;
    last->op = op;
    kn_attrs_init(op, &last->attrs);
}

/* ------------------------------------------------------------ GELU */

/* add = Add(Erf(x / sqrt 2), 1) with private intermediates: its x, or -1; the Erf and scaling nodes in n[0..1]. */
static int kn_pat_erf_term(kn_edit *e, int add_v, kn_node **n)
{
    kn_graph *g = e->g;
    kn_node *add = kn_pat_producer(g, add_v, KN_OP_ADD);
    if (!add || !kn_pat_private(e, add_v, 1))
        return -1;
    int erf_v = kn_pat_with_const(g, add, 1.0f);
    kn_node *erf = kn_pat_producer(g, erf_v, KN_OP_ERF);
    if (!erf || !kn_pat_private(e, erf_v, 1))
        return -1;
    int t = erf->inputs[0];
    kn_node *div = kn_pat_producer(g, t, KN_OP_DIV), *mul = kn_pat_producer(g, t, KN_OP_MUL);
    int x = -1;
    if (div && kn_pat_const(g, div->inputs[1], 1.41421356f))
        x = div->inputs[0];
    else if (mul)
        x = kn_pat_with_const(g, mul, 0.70710678f);
    if (x < 0 || !kn_pat_private(e, t, 1))
        return -1;
    n[0] = add;
    n[1] = erf;
    n[2] = div ? div : mul;
    return x;
}

kn_status kn_pass_fuse_gelu(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    bool formed = false;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *m = &g->nodes[i];
        if (m->dead)
            continue;
        kn_edit_visit(&e, m);
        if (m->op != KN_OP_MUL || m->num_inputs != 2 || m->num_outputs != 1)
            continue;
        kn_node *chain[5];
        int x = -1;
        /* x * 0.5 * (1 + erf): Mul(Mul(x, add), 0.5) or Mul(Mul(x, 0.5), add) */
        int inner = kn_pat_with_const(g, m, 0.5f);
        kn_node *p = kn_pat_producer(g, inner, KN_OP_MUL);
        if (p && kn_pat_private(&e, inner, 1) && p->num_inputs == 2) {
            for (int s = 0; s < 2 && x < 0; s++) {
                x = kn_pat_erf_term(&e, p->inputs[1 - s], chain);
                if (x >= 0 && x != p->inputs[s])
                    x = -1;
            }
            chain[3] = p;
        }
        for (int s = 0; s < 2 && x < 0 && inner < 0; s++) {
            kn_node *h = kn_pat_producer(g, m->inputs[s], KN_OP_MUL);
            int hx = h ? kn_pat_with_const(g, h, 0.5f) : -1;
            if (hx < 0 || !kn_pat_private(&e, m->inputs[s], 1))
                continue;
            x = kn_pat_erf_term(&e, m->inputs[1 - s], chain);
            if (x != hx)
                x = -1;
            chain[3] = h;
        }
        if (x < 0)
            continue;
        if (g->values[x].dtype != KN_F32) {
            kn_pass_say(ctx, "fuse_gelu: the Erf form ending at Mul '%s' left alone: not float32", m->name);
            continue;
        }
        kn_pass_say(ctx, "fuse_gelu: Mul '%s' and the Erf, Add, Mul and scaling before it became Gelu '%s'", m->name,
                   m->name);
        kn_pat_rewrite(&e, m, KN_OP_GELU, x, chain, 4);
        formed = true;
    }
    kn_edit_end(&e);
    if (!formed)
        return KN_OK;
    *changed = true;
    return kn_graph_compact(g, err);
}

/* ------------------------------------------------------------ Mish */

kn_status kn_pass_fuse_mish(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    bool formed = false;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *m = &g->nodes[i];
        if (m->dead)
            continue;
        kn_edit_visit(&e, m);
        if (m->op != KN_OP_MUL || m->num_inputs != 2 || m->num_outputs != 1)
            continue;
        for (int s = 0; s < 2; s++) {
            int x = m->inputs[s], tv = m->inputs[1 - s];
            kn_node *th = kn_pat_producer(g, tv, KN_OP_TANH);
            kn_node *sp = th ? kn_pat_producer(g, th->inputs[0], KN_OP_SOFTPLUS) : NULL;
            if (!sp || sp->inputs[0] != x || g->values[x].dtype != KN_F32)
                continue;
            if (!kn_pat_private(&e, tv, 1) || !kn_pat_private(&e, th->inputs[0], 1)) {
                kn_pass_say(ctx, "fuse_mish: Mul '%s', Tanh '%s' and Softplus '%s' left alone: an intermediate has "
                           "other readers or is a graph output", m->name, th->name, sp->name);
                break;
            }
            kn_pass_say(ctx, "fuse_mish: Mul '%s', Tanh '%s' and Softplus '%s' became Mish '%s'", m->name, th->name,
                       sp->name, m->name);
            kn_node *dead[2] = {th, sp};
            kn_pat_rewrite(&e, m, KN_OP_MISH, x, dead, 2);
            formed = true;
            break;
        }
    }
    kn_edit_end(&e);
    if (!formed)
        return KN_OK;
    *changed = true;
    return kn_graph_compact(g, err);
}

/* ------------------------------------------------------------ LayerNorm */

/* ReduceMean node r keeps dims and reduces exactly the last k dims of a rank-`rank` input: k, else 0. */
static int kn_pat_trailing_mean(const kn_graph *g, const kn_node *r, int rank)
{
    if (!r->attrs.reduce.keepdims || r->attrs.reduce.noop_empty || r->num_inputs > 1 || rank < 1)
        return 0;
    bool red[KN_MAX_RANK], identity;
    if (kn_reduce_resolve(r, rank, NULL, -1, red, &identity, NULL) != KN_OK || identity)
        return 0;
    int k = 0;
    while (k < rank && red[rank - 1 - k])
        k++;
    for (int d = 0; d < rank - k; d++)
        if (red[d])
            return 0;
    (void)g;
    return k;
}

/* Whether v is a float32 constant whose shape is the last `k` dims of `x` (leading 1s allowed). */
static bool kn_pat_norm_param(const kn_graph *g, int v, const kn_shape *x, int k)
{
    if (v < 0 || !kn_value_is_constant(g, v) || g->values[v].dtype != KN_F32)
        return false;
    const kn_shape *p = &g->values[v].shape;
    if (p->rank < k)
        return false;
    for (int i = 0; i < p->rank - k; i++)
        if (p->dims[i] != 1)
            return false;
    for (int i = 0; i < k; i++)
        if (p->dims[p->rank - k + i] != x->dims[x->rank - k + i])
            return false;
    return true;
}

/* The epsilon of e = Add(v, eps) when eps is a float32 scalar constant; v into *v. */
static bool kn_pat_eps(const kn_graph *g, const kn_node *e, int *v, float *eps)
{
    for (int s = 0; s < 2; s++) {
        int c = e->inputs[s];
        size_t n = 0;
        if (c >= 0 && kn_value_is_constant(g, c) && g->values[c].dtype == KN_F32 && g->values[c].data &&
            kn_shape_numel(&g->values[c].shape, &n) == KN_OK && n == 1) {
            *eps = *(const float *)g->values[c].data;
            *v = e->inputs[1 - s];
            return *eps >= 0.0f;
        }
    }
    return false;
}

/* A ones tensor of x's last k dims as a new constant (the gamma of a LayerNorm written without one). */
static int kn_pat_ones(kn_graph *g, const kn_node *n, const kn_shape *x, int k, kn_error *err)
{
    kn_shape s = {.rank = k};
    size_t count = 1;
    for (int i = 0; i < k; i++) {
        s.dims[i] = x->dims[x->rank - k + i];
        count *= (size_t)s.dims[i];
    }
    float *d = malloc(sizeof(float) * (count ? count : 1));
    if (!d)
        return -1;
    for (size_t i = 0; i < count; i++)
        d[i] = 1.0f;
    char name[256];
    snprintf(name, sizeof name, "%s/ones", n->name);
    for (int t = 0; kn_graph_find_value(g, name) >= 0; t++)
        snprintf(name, sizeof name, "%s/ones%d", n->name, t);
    int id;
    if (kn_graph_add_value(g, name, KN_F32, &s, KN_VALUE_CONST, d, &id, err) != KN_OK) {
        free(d);
        return -1;
    }
    return id;
}

kn_status kn_pass_fuse_layer_norm(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_edit e;
    kn_status st = kn_edit_begin(&e, g, err);
    if (st != KN_OK)
        return st;
    bool formed = false;
    for (int i = 0; i < g->num_nodes && st == KN_OK; i++) {
        kn_node *dv = &g->nodes[i];
        if (dv->dead)
            continue;
        kn_edit_visit(&e, dv);
        if (dv->op != KN_OP_DIV || dv->num_inputs != 2)
            continue;
        /* Div(d, Sqrt(Add(ReduceMean(Pow(d, 2) | Mul(d, d)), eps))), d = Sub(x, ReduceMean(x)) */
        int d = dv->inputs[0], sv = dv->inputs[1], ev, vv;
        float eps;
        kn_node *sq = kn_pat_producer(g, sv, KN_OP_SQRT);
        kn_node *ad = sq ? kn_pat_producer(g, sq->inputs[0], KN_OP_ADD) : NULL;
        if (!ad || !kn_pat_eps(g, ad, &vv, &eps))
            continue;
        ev = sq->inputs[0];
        kn_node *var = kn_pat_producer(g, vv, KN_OP_REDUCE_MEAN);
        kn_node *sub = kn_pat_producer(g, d, KN_OP_SUB);
        if (!var || !sub)
            continue;
        int pv = var->inputs[0];
        kn_node *pw = kn_pat_producer(g, pv, KN_OP_POW), *mm = kn_pat_producer(g, pv, KN_OP_MUL);
        bool square = (pw && pw->inputs[0] == d && kn_pat_const(g, pw->inputs[1], 2.0f)) ||
                      (mm && mm->inputs[0] == d && mm->inputs[1] == d);
        int x = sub->inputs[0];
        kn_node *mean = kn_pat_producer(g, sub->inputs[1], KN_OP_REDUCE_MEAN);
        if (!square || !mean || mean->inputs[0] != x || !g->values[x].shape_known || g->values[x].dtype != KN_F32)
            continue;
        const kn_shape xshape = g->values[x].shape; /* a copy: adding the ones gamma may move g->values */
        const kn_shape *xs = &xshape;
        int k = kn_pat_trailing_mean(g, mean, xs->rank);
        const char *why = NULL;
        if (k == 0 || kn_pat_trailing_mean(g, var, xs->rank) != k)
            why = "the ReduceMeans do not both average the same trailing dimensions with keepdims";
        else if (!kn_pat_private(&e, sub->inputs[1], 1) || !kn_pat_private(&e, d, pw ? 2 : 3) ||
                 !kn_pat_private(&e, pv, 1) || !kn_pat_private(&e, vv, 1) || !kn_pat_private(&e, ev, 1) ||
                 !kn_pat_private(&e, sv, 1))
            why = "an intermediate has other readers or is a graph output";
        if (why) {
            kn_pass_say(ctx, "fuse_layer_norm: the chain ending at Div '%s' left alone: %s", dv->name, why);
            continue;
        }
        /* then Mul by gamma and Add beta, when they are constants of the normalised dims */
        kn_node *last = dv, *gm = NULL, *bt = NULL;
        int gamma = -1, beta = -1;
        if (kn_pat_private(&e, dv->outputs[0], 1)) {
            for (int j = i + 1; j < g->num_nodes && !gm; j++) {
                kn_node *c = &g->nodes[j];
                if (!c->dead && c->op == KN_OP_MUL && c->num_inputs == 2 &&
                    (c->inputs[0] == dv->outputs[0] || c->inputs[1] == dv->outputs[0]) &&
                    kn_pat_norm_param(g, kn_pat_other(c, dv->outputs[0]), xs, k))
                    gm = c;
            }
        }
        if (gm) {
            gamma = kn_pat_other(gm, dv->outputs[0]);
            last = gm;
            if (kn_pat_private(&e, gm->outputs[0], 1))
                for (int j = (int)(gm - g->nodes) + 1; j < g->num_nodes && !bt; j++) {
                    kn_node *c = &g->nodes[j];
                    if (!c->dead && c->op == KN_OP_ADD && c->num_inputs == 2 &&
                        (c->inputs[0] == gm->outputs[0] || c->inputs[1] == gm->outputs[0]) &&
                        kn_pat_norm_param(g, kn_pat_other(c, gm->outputs[0]), xs, k))
                        bt = c;
                }
            if (bt) {
                beta = kn_pat_other(bt, gm->outputs[0]);
                last = bt;
            }
        }
        if (gamma < 0) {
            if ((gamma = kn_pat_ones(g, dv, xs, k, err)) < 0) {
                st = kn_error_set(err, KN_ERR_NOMEM, "fuse_layer_norm: no memory for the gamma of '%s'", dv->name);
                break;
            }
            if ((st = kn_edit_grow(&e, err)) != KN_OK)
                break;
            dv = &g->nodes[i];
        }
        kn_pass_say(ctx, "fuse_layer_norm: ReduceMean '%s' ... Div '%s'%s%s became LayerNormalization '%s' (axis %d, "
                   "epsilon %g)", mean->name, dv->name, gm ? ", Mul (gamma)" : "", bt ? ", Add (beta)" : "",
                   last->name, xs->rank - k, (double)eps);
        kn_node *dead[9] = {mean, sub, pw ? pw : mm, var, ad, sq};
        int nd = 6;
        if (last != dv)
            dead[nd++] = dv;
        if (bt)
            dead[nd++] = gm;
        kn_pat_rewrite(&e, last, KN_OP_LAYER_NORM, x, dead, nd);
        last->num_inputs = beta >= 0 ? 3 : 2;
        kn_edit_set_input(&e, last, 1, gamma);
        if (beta >= 0)
            kn_edit_set_input(&e, last, 2, beta);
        last->attrs.layer_norm.axis = -k;
        last->attrs.layer_norm.epsilon = eps;
        formed = true;
    }
    kn_edit_end(&e);
    if (st != KN_OK || !formed)
        return st;
    *changed = true;
    return kn_graph_compact(g, err);
}
