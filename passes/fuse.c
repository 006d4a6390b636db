/*
 * fuse.c - producer + activation and Conv + residual Add (+ activation)
 * fusion, recorded as node->fused annotations on the producer.
 *
 * A fused producer writes the value its last absorbed node wrote, so graph
 * output names survive; absorbed nodes are marked dead and the graph is
 * compacted at the end. Every candidate (an activation reading a producer's
 * output, an Add reading a Conv's output) is either fused or explained.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pass_util.h"
#include "passes.h"

typedef struct kn_fuse_state {
    kn_graph *g;
    const kn_pass_ctx *ctx;
    int *readers;   /* [num_values]: live node input slots reading each value */
} kn_fuse_state;


static const char *kn_fuse_opname(kn_op op)
{
    return op < KN_OP_COUNT ? kn_op_get(op)->name : "?";
}

/* "conv", "convtranspose", "gemm", "matmul": the producer as the reasons name it. */
static const char *kn_fuse_lower(kn_op op, char *buf, size_t len)
{
    const char *s = kn_fuse_opname(op);
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = '\0';
    return buf;
}

static kn_status kn_fuse_count_readers(kn_fuse_state *s, kn_error *err)
{
    kn_graph *g = s->g;
    s->readers = kn_xcalloc((size_t)(g->num_values > 0 ? g->num_values : 1), sizeof(int));
    if (!s->readers)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory in fusion");
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                s->readers[n->inputs[k]]++;
    }
    return KN_OK;
}

static void kn_fuse_drop_reads(kn_fuse_state *s, const kn_node *n)
{
    for (int k = 0; k < n->num_inputs; k++)
        if (n->inputs[k] >= 0)
            s->readers[n->inputs[k]]--;
}

/* The one live node reading value v (readers[v] must be 1), or -1. */
static int kn_fuse_sole_reader(const kn_graph *g, int v)
{
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] == v)
                return i;
    }
    return -1;
}

static bool kn_fuse_backend_ok(const kn_pass_ctx *ctx, const kn_graph *g, const kn_node *p, kn_op act,
                               bool residual)
{
    return !ctx || !ctx->can_fuse || ctx->can_fuse(g, p, act, residual, ctx->can_fuse_user);
}

/*
 * The parameters `a` would carry as a fused post-op: its scalar attributes,
 * with Clip's min/max read from constant inputs. False, with the reason in
 * why[len], when they are not known at compile time or `a` is not float32.
 */
static bool kn_fuse_act_params(const kn_graph *g, const kn_node *a, kn_scalar_attrs *out, char *why, size_t len)
{
    *out = a->attrs.scalar;
    int y = a->outputs[0];
    if (g->values[y].dtype != KN_F32) {
        snprintf(why, len, "its output is %s, not float32", kn_dtype_name(g->values[y].dtype));
        return false;
    }
    if (a->op != KN_OP_CLIP)
        return true;
    for (int k = 1; k <= 2 && k < a->num_inputs; k++) {
        int id = a->inputs[k];
        if (id < 0)
            continue;
        const kn_value *v = &g->values[id];
        size_t n;
        if (!kn_value_is_constant(g, id)) {
            snprintf(why, len, "%s '%s' is not a constant", k == 1 ? "min" : "max", v->name);
            return false;
        }
        if (v->dtype != KN_F32 || kn_shape_numel(&v->shape, &n) != KN_OK || n > 1) {
            snprintf(why, len, "%s '%s' is not a float32 scalar", k == 1 ? "min" : "max", v->name);
            return false;
        }
        if (n == 0)   /* an empty bound is absent, as in the kernel */
            continue;
        float f = *(const float *)v->data;
        if (k == 1)
            out->min = f;
        else
            out->max = f;
    }
    return true;
}

/*
 * Make `p` take over activation node `a` (which reads p's output 0): p
 * writes a's output from now on and `a` dies.
 */
static void kn_fuse_absorb_activation(kn_fuse_state *s, kn_node *p, kn_node *a, const kn_scalar_attrs *params)
{
    kn_graph *g = s->g;
    int pid = (int)(p - g->nodes);
    int old = p->outputs[0], y = a->outputs[0];
    p->fused.activation = a->op;
    p->fused.act = *params;
    p->outputs[0] = y;
    g->values[y].producer = pid;
    g->values[old].producer = -1;
    kn_fuse_drop_reads(s, a);
    a->dead = true;
}

/* ------------------------------------------------------------ activation */

/* Why activation `a` cannot be fused into producer `p` (false), or true. */
static bool kn_fuse_activation_ok(kn_fuse_state *s, const kn_node *p, const kn_node *a, kn_scalar_attrs *params,
                                  char *why, size_t len)
{
    const kn_graph *g = s->g;
    int x = a->inputs[0];
    char lower[32];
    kn_fuse_lower(p->op, lower, sizeof lower);
    if (g->values[x].is_output) {
        snprintf(why, len, "%s output '%s' is a graph output", lower, g->values[x].name);
        return false;
    }
    if (s->readers[x] != 1) {
        snprintf(why, len, "%s output has %d readers", lower, s->readers[x]);
        return false;
    }
    if (p->fused.activation != KN_OP_COUNT) {
        snprintf(why, len, "producer already has an activation (%s)", kn_fuse_opname(p->fused.activation));
        return false;
    }
    if (!kn_fuse_act_params(g, a, params, why, len))
        return false;
    if (!kn_fuse_backend_ok(s->ctx, g, p, a->op, p->fused.residual >= 0)) {
        snprintf(why, len, "backend declines");
        return false;
    }
    return true;
}

kn_status kn_pass_fuse_activation(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_fuse_state s = {.g = g, .ctx = ctx};
    kn_status st = kn_fuse_count_readers(&s, err);
    if (st != KN_OK)
        return st;
    bool fused_any = false;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *a = &g->nodes[i];
        if (a->dead || kn_op_get(a->op)->fuse != KN_FUSE_ACTIVATION || a->num_inputs < 1 || a->num_outputs != 1 ||
            a->inputs[0] < 0)
            continue;
        int pid = g->values[a->inputs[0]].producer;
        if (pid < 0 || pid >= g->num_nodes)
            continue;
        kn_node *p = &g->nodes[pid];
        if (p->dead || kn_op_get(p->op)->fuse != KN_FUSE_PRODUCER || p->num_outputs != 1 ||
            p->outputs[0] != a->inputs[0])
            continue;
        kn_scalar_attrs params;
        char why[256];
        if (!kn_fuse_activation_ok(&s, p, a, &params, why, sizeof why)) {
            kn_pass_say(ctx, "fuse_activation: %s '%s' not fused into %s '%s': %s", kn_fuse_opname(a->op), a->name,
                        kn_fuse_opname(p->op), p->name, why);
            continue;
        }
        kn_pass_say(ctx, "fuse_activation: fused %s '%s' into %s '%s'", kn_fuse_opname(a->op), a->name,
                    kn_fuse_opname(p->op), p->name);
        kn_fuse_absorb_activation(&s, p, a, &params);
        fused_any = true;
    }
    free(s.readers);
    if (!fused_any)
        return KN_OK;
    *changed = true;
    return kn_graph_compact(g, err);
}

/* -------------------------------------------------------------- residual */

/* Why Add `add` cannot take Conv `c` (reading c's output from `slot`) as a residual producer. */
static bool kn_fuse_residual_ok(kn_fuse_state *s, const kn_node *c, const kn_node *add, int slot, char *why,
                                size_t len)
{
    const kn_graph *g = s->g;
    int x = add->inputs[slot], r = add->inputs[1 - slot];
    const kn_value *vx = &g->values[x], *vr = &g->values[r];
    char sx[160], sr[160];
    if (vx->is_output) {
        snprintf(why, len, "conv output '%s' is a graph output", vx->name);
        return false;
    }
    if (s->readers[x] != 1) {
        snprintf(why, len, "conv output has %d readers", s->readers[x]);
        return false;
    }
    if (c->fused.residual >= 0) {
        snprintf(why, len, "producer already has a residual");
        return false;
    }
    if (c->fused.activation != KN_OP_COUNT) {
        snprintf(why, len, "producer already has an activation (%s), which must come after the residual",
                 kn_fuse_opname(c->fused.activation));
        return false;
    }
    if (c->num_inputs > 3) {
        snprintf(why, len, "conv already has %d inputs", c->num_inputs);
        return false;
    }
    if (!vx->shape_known || !vr->shape_known) {
        snprintf(why, len, "shapes are not known");
        return false;
    }
    if (vx->dtype != KN_F32 || vr->dtype != KN_F32) {
        snprintf(why, len, "residual '%s' is %s, not float32", vr->name, kn_dtype_name(vr->dtype));
        return false;
    }
    if (!kn_shape_equal(&vx->shape, &vr->shape)) {
        snprintf(why, len, "residual '%s' has shape %s, not the conv output's %s (no broadcasting)", vr->name,
                 kn_shape_str(&vr->shape, sr, sizeof sr), kn_shape_str(&vx->shape, sx, sizeof sx));
        return false;
    }
    return true;
}

/*
 * The activation node that could follow the residual: the sole reader of the
 * Add's output, when that is an activation: its node id, or -1 when none; why[] set
 * when there is one that cannot be fused.
 */
static int kn_fuse_next_activation(kn_fuse_state *s, const kn_node *add, kn_scalar_attrs *params, char *why,
                                   size_t len)
{
    const kn_graph *g = s->g;
    int y = add->outputs[0];
    why[0] = '\0';
    if (s->readers[y] < 1)
        return -1;
    if (s->readers[y] > 1 || g->values[y].is_output) {
        /* explain only when an activation is among the readers */
        for (int i = 0; i < g->num_nodes; i++) {
            const kn_node *n = &g->nodes[i];
            if (!n->dead && kn_op_get(n->op)->fuse == KN_FUSE_ACTIVATION && n->num_inputs >= 1 && n->inputs[0] == y) {
                if (g->values[y].is_output)
                    snprintf(why, len, "add output '%s' is a graph output", g->values[y].name);
                else
                    snprintf(why, len, "add output has %d readers", s->readers[y]);
                return i;
            }
        }
        return -1;
    }
    int a = kn_fuse_sole_reader(g, y);
    if (a < 0)
        return -1;
    const kn_node *an = &g->nodes[a];
    if (kn_op_get(an->op)->fuse != KN_FUSE_ACTIVATION || an->num_inputs < 1 || an->inputs[0] != y ||
        an->num_outputs != 1)
        return -1;
    kn_fuse_act_params(g, an, params, why, len);
    return a;
}

/* Fuse `add` (reading Conv `c`'s output from `slot`) and maybe the activation after it. */
static void kn_fuse_residual_apply(kn_fuse_state *s, kn_node *c, kn_node *add, int slot)
{
    kn_graph *g = s->g;
    const kn_pass_ctx *ctx = s->ctx;
    int cid = (int)(c - g->nodes);
    int x = add->inputs[slot], r = add->inputs[1 - slot], y = add->outputs[0];
    kn_scalar_attrs params;
    char why[256];
    int a = kn_fuse_next_activation(s, add, &params, why, sizeof why);
    bool with_act = a >= 0 && !why[0];
    if (with_act && !kn_fuse_backend_ok(ctx, g, c, g->nodes[a].op, true)) {
        with_act = false;
        snprintf(why, sizeof why, "backend declines");
    }
    /* bias (slot 2) stays, absent or not; the residual goes to slot 3 */
    if (c->num_inputs < 3)
        c->inputs[2] = -1;
    c->inputs[3] = r;
    c->num_inputs = 4;
    c->fused.residual = 3;
    c->outputs[0] = y;
    g->values[y].producer = cid;
    g->values[x].producer = -1;
    s->readers[r]++;
    kn_fuse_drop_reads(s, add);
    add->dead = true;
    kn_pass_say(ctx, "fuse_residual: fused Add '%s' into Conv '%s' (residual '%s')", add->name, c->name,
                g->values[r].name);
    if (a < 0)
        return;
    kn_node *an = &g->nodes[a];
    if (!with_act) {
        kn_pass_say(ctx, "fuse_residual: %s '%s' not fused into Conv '%s' after the residual: %s",
                    kn_fuse_opname(an->op), an->name, c->name, why);
        return;
    }
    kn_pass_say(ctx, "fuse_residual: fused %s '%s' into Conv '%s' after the residual", kn_fuse_opname(an->op),
                an->name, c->name);
    kn_fuse_absorb_activation(s, c, an, &params);
}

kn_status kn_pass_fuse_residual(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_fuse_state s = {.g = g, .ctx = ctx};
    kn_status st = kn_fuse_count_readers(&s, err);
    if (st != KN_OK)
        return st;
    bool fused_any = false;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *add = &g->nodes[i];
        if (add->dead || add->op != KN_OP_ADD || add->num_inputs != 2 || add->num_outputs != 1 ||
            add->inputs[0] < 0 || add->inputs[1] < 0)
            continue;
        char why[2][256];
        int cand[2] = {-1, -1};
        bool done = false;
        for (int slot = 0; slot < 2 && !done; slot++) {
            int pid = g->values[add->inputs[slot]].producer;
            if (pid < 0 || pid >= g->num_nodes || g->nodes[pid].dead || g->nodes[pid].op != KN_OP_CONV ||
                g->nodes[pid].outputs[0] != add->inputs[slot])
                continue;
            kn_node *c = &g->nodes[pid];
            cand[slot] = pid;
            if (!kn_fuse_residual_ok(&s, c, add, slot, why[slot], sizeof why[slot]))
                continue;
            if (!kn_fuse_backend_ok(ctx, g, c, KN_OP_COUNT, true)) {
                snprintf(why[slot], sizeof why[slot], "backend declines");
                continue;
            }
            kn_fuse_residual_apply(&s, c, add, slot);
            done = fused_any = true;
        }
        if (done)
            continue;
        for (int slot = 0; slot < 2; slot++)
            if (cand[slot] >= 0 && (slot == 0 || cand[1] != cand[0]))   /* x + x: say it once */
                kn_pass_say(ctx, "fuse_residual: Add '%s' not fused into Conv '%s': %s", add->name,
                            g->nodes[cand[slot]].name, why[slot]);
    }
    free(s.readers);
    if (!fused_any)
        return KN_OK;
    *changed = true;
    /* the residual may be produced after the Conv in node order */
    if ((st = kn_graph_compact(g, err)) != KN_OK)
        return st;
    return kn_graph_sort(g, err);
}

/* ------------------------------------------------------------ swish */

kn_status kn_pass_fuse_swish(kn_graph *g, const kn_pass_ctx *ctx, bool *changed, kn_error *err)
{
    kn_fuse_state s = {.g = g, .ctx = ctx};
    kn_status st = kn_fuse_count_readers(&s, err);
    if (st != KN_OK)
        return st;
    bool formed = false;
    for (int i = 0; i < g->num_nodes; i++) {
        kn_node *m = &g->nodes[i];
        if (m->dead || m->op != KN_OP_MUL || m->num_inputs != 2 || m->num_outputs != 1 || m->inputs[0] < 0 ||
            m->inputs[1] < 0)
            continue;
        for (int slot = 0; slot < 2; slot++) {
            const int sv = m->inputs[slot], x = m->inputs[1 - slot];
            const int pid = g->values[sv].producer;
            if (pid < 0 || pid >= g->num_nodes)
                continue;
            kn_node *sig = &g->nodes[pid];
            if (sig->dead || sig->op != KN_OP_SIGMOID || sig->inputs[0] != x)
                continue;
            const char *why = NULL;
            if (g->values[sv].is_output)
                why = "the Sigmoid's output is a graph output";
            else if (s.readers[sv] != 1)
                why = "the Sigmoid's output has other readers";
            else if (g->values[x].dtype != KN_F32 || g->values[m->outputs[0]].dtype != KN_F32)
                why = "not float32";
            if (why) {
                kn_pass_say(ctx, "fuse_swish: Mul '%s' and Sigmoid '%s' left alone: %s", m->name, sig->name, why);
                continue;
            }
            kn_pass_say(ctx, "fuse_swish: Mul '%s' and Sigmoid '%s' became Swish '%s'", m->name, sig->name, m->name);
            kn_fuse_drop_reads(&s, sig);
            kn_fuse_drop_reads(&s, m);
            sig->dead = true;
            g->values[sv].producer = -1;
            m->op = KN_OP_SWISH;
            m->num_inputs = 1;
            m->inputs[0] = x;
            m->inputs[1] = -1;
            kn_attrs_init(KN_OP_SWISH, &m->attrs);
            s.readers[x]++;
            formed = true;
            break;
        }
    }
    free(s.readers);
    if (!formed)
        return KN_OK;
    *changed = true;
    return kn_graph_compact(g, err);
}
