/* grad.c - the helpers gradient rules build with (see grad.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad.h"

int kn_grad_fail(kn_grad_ctx *c, kn_status st, const char *fmt, ...)
{
    if (c->st != KN_OK)
        return -1;
    c->st = st;
    if (c->err) {
        char msg[sizeof c->err->message];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        kn_error_set(c->err, st, "gradient of node '%s' (%s): %s", c->fwd.name, kn_op_get(c->fwd.op)->name, msg);
    }
    return -1;
}

/* A new value named "<fwd>/grad<N>[:k]" (N counts this forward node's additions; a taken name gets _2, _3, ...); -1
 * after an error. */
static int kn_grad_value(kn_grad_ctx *c, kn_dtype dtype, const kn_shape *shape, kn_value_kind kind, void *data,
                         int k)
{
    char base[320], suffix[24] = "";
    int id = -1;
    snprintf(base, sizeof base, "%s/grad%d", c->fwd.name, c->count);
    if (k > 0)
        snprintf(suffix, sizeof suffix, ":%d", k);
    char *name = kn_unique_value_name(c->g, base, suffix);
    if (!name)
        c->st = kn_error_set(c->err, KN_ERR_NOMEM, "out of memory");
    else
        c->st = kn_graph_add_value(c->g, name, dtype, shape, kind, data, &id, c->err);
    free(name);
    if (c->st != KN_OK) {
        free(data);
        return -1;
    }
    return id;
}

int kn_grad_emit(kn_grad_ctx *c, kn_op op, const kn_attrs *attrs, const int *in, int nin, int nout, int *outs)
{
    if (c->st != KN_OK)
        return -1;
    kn_attrs a;
    if (!attrs)
        kn_attrs_init(op, &a);
    for (int k = 0; k < nout; k++)
        if ((outs[k] = kn_grad_value(c, KN_F32, NULL, KN_VALUE_INTERMEDIATE, NULL, k)) < 0)
            return -1;
    char name[320];
    snprintf(name, sizeof name, "%s/grad%d", c->fwd.name, c->count++);
    int id;
    if ((c->st = kn_graph_add_node(c->g, name, op, in, nin, outs, nout, attrs ? attrs : &a, &id, c->err)) != KN_OK)
        return -1;
    if ((c->st = kn_node_infer_shape(c->g, &c->g->nodes[id], c->err)) != KN_OK) {
        kn_error_prefix(c->err, "gradient of node '%s' (%s)", c->fwd.name, kn_op_get(c->fwd.op)->name);
        return -1;
    }
    return nout > 0 ? outs[0] : id;
}

int kn_grad_op(kn_grad_ctx *c, kn_op op, const kn_attrs *attrs, int a, int b, int d)
{
    int in[3] = {a, b, d}, nin = d >= 0 ? 3 : b >= 0 ? 2 : 1, out;
    return kn_grad_emit(c, op, attrs, in, nin, 1, &out);
}

/* A constant value of `shape` and dtype taking over `data` (malloc'ed). */
static int kn_grad_const(kn_grad_ctx *c, kn_dtype dtype, const kn_shape *shape, void *data)
{
    if (c->st != KN_OK || !data) {
        free(data);
        return c->st != KN_OK ? -1 : kn_grad_fail(c, KN_ERR_NOMEM, "out of memory");
    }
    int id = kn_grad_value(c, dtype, shape, KN_VALUE_CONST, data, 0);
    if (id >= 0)
        c->count++;
    return id;
}

int kn_grad_scalar(kn_grad_ctx *c, float v)
{
    float *d = malloc(sizeof *d);
    if (d)
        *d = v;
    const kn_shape s = {.rank = 0};
    return kn_grad_const(c, KN_F32, &s, d);
}

int kn_grad_ints(kn_grad_ctx *c, int n, const int64_t *v)
{
    int64_t *d = malloc(sizeof *d * (size_t)(n > 0 ? n : 1));
    if (d && n > 0)
        memcpy(d, v, sizeof *d * (size_t)n);
    kn_shape s = {.rank = 1};
    s.dims[0] = n;
    return kn_grad_const(c, KN_I64, &s, d);
}

int kn_grad_fill(kn_grad_ctx *c, const kn_shape *shape, float v)
{
    size_t n;
    if (kn_shape_numel(shape, &n) != KN_OK)
        return kn_grad_fail(c, KN_ERR_OVERFLOW, "constant too large");
    float *d = malloc(sizeof *d * (n ? n : 1));
    for (size_t i = 0; d && i < n; i++)
        d[i] = v;
    return kn_grad_const(c, KN_F32, shape, d);
}

int kn_grad_sum_to(kn_grad_ctx *c, int v, const kn_shape *shape)
{
    if (c->st != KN_OK || v < 0)
        return -1;
    if (kn_shape_equal(kn_grad_shape(c, v), shape))
        return v;
    kn_attrs a;
    kn_attrs_init(KN_OP_SUM_TO, &a);
    a.to_shape.shape = *shape;
    return kn_grad_op(c, KN_OP_SUM_TO, &a, v, -1, -1);
}

int kn_grad_reshape_to(kn_grad_ctx *c, int v, const kn_shape *shape)
{
    if (c->st != KN_OK || v < 0)
        return -1;
    if (kn_shape_equal(kn_grad_shape(c, v), shape))
        return v;
    int s = kn_grad_ints(c, shape->rank, shape->dims);
    return kn_grad_op(c, KN_OP_RESHAPE, NULL, v, s, -1);
}

bool kn_grad_refusal(const kn_graph *g, const kn_node *n, char *why, size_t len)
{
    const kn_op_info *info = kn_op_get(n->op);
    const kn_dtype x = n->num_inputs > 0 && n->inputs[0] >= 0 ? g->values[n->inputs[0]].dtype : KN_DTYPE_UNDEFINED;
    const kn_dtype y = n->num_outputs > 0 && n->outputs[0] >= 0 ? g->values[n->outputs[0]].dtype : KN_DTYPE_UNDEFINED;
    if (!info->grad)
        snprintf(why, len, "%s", info->name);
    else if (n->op == KN_OP_MOD && !kn_grad_is_float(x))
        snprintf(why, len, "%s on %s%s: an integer remainder is not differentiable", info->name, kn_dtype_name(x),
                 n->attrs.mod.fmod ? "" : ", fmod=0");
    else if (n->op == KN_OP_MOD && x != KN_F32)
        snprintf(why, len, "%s on %s: the rule covers float32 only", info->name, kn_dtype_name(x));
    else if (n->op == KN_OP_POW && x != KN_F32)
        snprintf(why, len, "%s of a %s base: not differentiable", info->name, kn_dtype_name(x));
    else if (n->op == KN_OP_CAST && (!kn_grad_is_float(x) || !kn_grad_is_float(y)))
        snprintf(why, len, "%s from %s to %s: not differentiable", info->name, kn_dtype_name(x), kn_dtype_name(y));
    else
        return false;
    return true;
}
