/*
 * shape_train.c - shape rules of the training ops of ir/ops.def: training
 * mode BatchNormalization and Dropout, the explicit gradient ops, losses
 * and optimizer updates.
 */
#include <string.h>

#include "shape.h"

#define KN_OPNAME(n) (kn_op_get((n)->op)->name)

/* Input slot i, which must be present and float32 (or `dtype` when not KN_F32). */
static kn_status kn_train_in(kn_graph *g, kn_node *n, int i, kn_dtype dtype, kn_value **v, kn_error *err)
{
    *v = kn_node_input(g, n, i);
    if (!*v)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): input %d is missing", n->name, KN_OPNAME(n), i);
    if ((*v)->dtype != dtype)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): input %d '%s' is %s, expected %s", n->name,
                            KN_OPNAME(n), i, (*v)->name, kn_dtype_name((*v)->dtype), kn_dtype_name(dtype));
    return KN_OK;
}

/* Whether inputs i and j have the same shape; else a KN_ERR_SHAPE message naming both. */
static kn_status kn_train_same(kn_graph *g, kn_node *n, int i, int j, kn_error *err)
{
    const kn_value *a = kn_node_input(g, n, i), *b = kn_node_input(g, n, j);
    char sa[160], sb[160];
    if (kn_shape_equal(&a->shape, &b->shape))
        return KN_OK;
    return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): '%s' has shape %s but '%s' has %s", n->name,
                        KN_OPNAME(n), a->name, kn_shape_str(&a->shape, sa, sizeof sa), b->name,
                        kn_shape_str(&b->shape, sb, sizeof sb));
}

/* A vector of `c` channels. */
static kn_shape kn_train_vec(int64_t c)
{
    kn_shape s = {.rank = 1};
    s.dims[0] = c;
    return s;
}

/* Input i is [C] for C the channels of x. */
static kn_status kn_train_per_channel(kn_graph *g, kn_node *n, int i, const kn_value *x, kn_error *err)
{
    kn_value *v;
    kn_status st = kn_train_in(g, n, i, KN_F32, &v, err);
    if (st != KN_OK)
        return st;
    if (v->shape.rank != 1 || v->shape.dims[0] != x->shape.dims[1]) {
        char sv[160];
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): '%s' has shape %s, expected [%lld] (channels)",
                            n->name, KN_OPNAME(n), v->name, kn_shape_str(&v->shape, sv, sizeof sv),
                            (long long)x->shape.dims[1]);
    }
    return KN_OK;
}

/* Outputs of the BatchNorm training ops: x's shape, then two per-channel vectors. */
static kn_status kn_train_x_and_channels(kn_graph *g, kn_node *n, const kn_value *x, kn_error *err)
{
    const kn_shape c = kn_train_vec(x->shape.dims[1]);
    kn_status st;
    if ((st = kn_node_set_output(g, n, 0, KN_F32, &x->shape, err)) != KN_OK ||
        (st = kn_node_set_output(g, n, 1, KN_F32, &c, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 2, KN_F32, &c, err);
}

kn_status kn_shape_batch_norm_train(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x;
    kn_status st = kn_train_in(g, n, 0, KN_F32, &x, err);
    if (st != KN_OK)
        return st;
    if (x->shape.rank < 2)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): input '%s' must be N x C x ...", n->name,
                            KN_OPNAME(n), x->name);
    for (int i = 1; i < 5; i++)
        if ((st = kn_train_per_channel(g, n, i, x, err)) != KN_OK)
            return st;
    return kn_train_x_and_channels(g, n, x, err);
}

kn_status kn_shape_batch_norm_grad(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *dy, *x;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &dy, err)) != KN_OK || (st = kn_train_in(g, n, 1, KN_F32, &x, err)) ||
        (st = kn_train_same(g, n, 0, 1, err)) != KN_OK)
        return st;
    for (int i = 2; i < 5; i++)
        if ((st = kn_train_per_channel(g, n, i, x, err)) != KN_OK)
            return st;
    return kn_train_x_and_channels(g, n, x, err);
}

kn_status kn_shape_dropout_train(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x, *step;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &x, err)) != KN_OK ||
        (st = kn_train_in(g, n, 1, KN_I64, &step, err)) != KN_OK)
        return st;
    if (step->shape.rank != 0)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): the step '%s' must be a scalar", n->name,
                            KN_OPNAME(n), step->name);
    if (n->num_inputs > 2 && n->inputs[2] >= 0) {
        kn_value *first;
        if ((st = kn_train_in(g, n, 2, KN_I64, &first, err)) != KN_OK)
            return st;
        if (first->shape.rank != 0 || x->shape.rank < 1)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): the first sample '%s' must be a scalar and the "
                                "input batched", n->name, KN_OPNAME(n), first->name);
    }
    if (!(n->attrs.dropout.ratio >= 0.0f && n->attrs.dropout.ratio < 1.0f))
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (%s): ratio %g is not in [0, 1)", n->name,
                            KN_OPNAME(n), (double)n->attrs.dropout.ratio);
    if ((st = kn_node_set_output(g, n, 0, KN_F32, &x->shape, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 1, KN_BOOL, &x->shape, err);
}

kn_status kn_shape_conv_grad_weight(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *a, *b;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &a, err)) != KN_OK || (st = kn_train_in(g, n, 1, KN_F32, &b, err)))
        return st;
    const kn_window_attrs *w = &n->attrs.window;
    const int ns = a->shape.rank - 2;
    const int64_t group = w->group > 0 ? w->group : 1;
    if (ns < 1 || ns > KN_MAX_SPATIAL || b->shape.rank != a->shape.rank || w->nspatial != ns ||
        b->shape.dims[0] != a->shape.dims[0] || a->shape.dims[1] % group || b->shape.dims[1] % group)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): input and output gradient do not fit together",
                            n->name, KN_OPNAME(n));
    kn_shape dw = {.rank = a->shape.rank};
    dw.dims[0] = b->shape.dims[1];
    dw.dims[1] = a->shape.dims[1] / group;
    for (int i = 0; i < ns; i++) {
        if (w->kernel[i] < 1)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (%s): kernel size not given", n->name,
                                KN_OPNAME(n));
        dw.dims[2 + i] = w->kernel[i];
    }
    if ((st = kn_node_set_output(g, n, 0, KN_F32, &dw, err)) != KN_OK)
        return st;
    if (n->num_outputs > 1) {
        const kn_shape db = kn_train_vec(b->shape.dims[1]);
        return kn_node_set_output(g, n, 1, KN_F32, &db, err);
    }
    return KN_OK;
}

kn_status kn_shape_like_input1(kn_graph *g, kn_node *n, kn_error *err)
{
    const kn_value *x = kn_node_input(g, n, 1), *dy = kn_node_input(g, n, 0);
    if (!x || !dy)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): inputs missing", n->name, KN_OPNAME(n));
    if (dy->dtype != KN_F32)
        return kn_error_set(err, KN_ERR_DTYPE, "node '%s' (%s): gradient '%s' is %s, expected float32", n->name,
                            KN_OPNAME(n), dy->name, kn_dtype_name(dy->dtype));
    return kn_node_set_output(g, n, 0, x->dtype, &x->shape, err);
}

kn_status kn_shape_sum_to(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *x;
    kn_status st = kn_train_in(g, n, 0, KN_F32, &x, err);
    if (st != KN_OK)
        return st;
    const kn_shape *to = &n->attrs.to_shape.shape;
    kn_shape b;
    kn_error ignored;
    if (to->rank > x->shape.rank || kn_shape_broadcast2(n, to, &x->shape, &b, &ignored) != KN_OK ||
        !kn_shape_equal(&b, &x->shape)) {
        char sx[160], st_[160];
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): %s does not broadcast to '%s' of shape %s",
                            n->name, KN_OPNAME(n), kn_shape_str(to, st_, sizeof st_), x->name,
                            kn_shape_str(&x->shape, sx, sizeof sx));
    }
    return kn_node_set_output(g, n, 0, KN_F32, to, err);
}

/* Class labels [N] (int64 or int32) for predictions [N, C]. */
static kn_status kn_train_labels(kn_graph *g, kn_node *n, const kn_value *p, kn_error *err)
{
    const kn_value *l = kn_node_input(g, n, 1);
    char sp[160], sl[160];
    if (p->shape.rank != 2)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): predictions '%s' have shape %s, expected [N, classes]",
                            n->name, KN_OPNAME(n), p->name, kn_shape_str(&p->shape, sp, sizeof sp));
    if (!l || (l->dtype != KN_I64 && l->dtype != KN_I32) || l->shape.rank != 1 || l->shape.dims[0] != p->shape.dims[0])
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): labels '%s' must be %lld integers, got %s%s", n->name,
                            KN_OPNAME(n), l ? l->name : "?", (long long)p->shape.dims[0],
                            l ? kn_dtype_name(l->dtype) : "nothing", l ? kn_shape_str(&l->shape, sl, sizeof sl) : "");
    return KN_OK;
}

kn_status kn_shape_loss_softmax(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *z;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &z, err)) != KN_OK || (st = kn_train_labels(g, n, z, err)) != KN_OK)
        return st;
    const kn_shape scalar = {.rank = 0};
    if ((st = kn_node_set_output(g, n, 0, KN_F32, &scalar, err)) != KN_OK)
        return st;
    return kn_node_set_output(g, n, 1, KN_F32, &z->shape, err);
}

kn_status kn_shape_loss(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *p, *t;
    kn_status st = kn_train_in(g, n, 0, KN_F32, &p, err);
    if (st != KN_OK)
        return st;
    if (n->op == KN_OP_CROSS_ENTROPY)
        st = kn_train_labels(g, n, p, err);
    else if ((st = kn_train_in(g, n, 1, KN_F32, &t, err)) == KN_OK)
        st = kn_train_same(g, n, 0, 1, err);
    if (st != KN_OK)
        return st;
    const kn_shape scalar = {.rank = 0};
    return kn_node_set_output(g, n, 0, KN_F32, &scalar, err);
}

kn_status kn_shape_update(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *v;
    kn_status st;
    const int states = n->op == KN_OP_ADAM_UPDATE                                           ? 4
                       : n->op == KN_OP_MOMENTUM_UPDATE || n->op == KN_OP_RMSPROP_UPDATE ? 3
                                                                                          : 2;
    for (int i = 0; i < states; i++)
        if ((st = kn_train_in(g, n, i, KN_F32, &v, err)) != KN_OK || (st = kn_train_same(g, n, 0, i, err)) != KN_OK)
            return st;
    if (n->op == KN_OP_ADAM_UPDATE && (st = kn_train_in(g, n, 4, KN_I64, &v, err)) != KN_OK)
        return st;
    const int scale = states + (n->op == KN_OP_ADAM_UPDATE);
    if (n->num_inputs > scale && n->inputs[scale] >= 0) {
        if ((st = kn_train_in(g, n, scale, KN_F32, &v, err)) != KN_OK)
            return st;
        if (v->shape.rank != 0)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): the learning-rate scale must be a scalar", n->name,
                                KN_OPNAME(n));
    }
    return KN_OK;
}

kn_status kn_shape_grad_sync_start(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *v;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &v, err)) != KN_OK)
        return st;
    if (v->shape.rank != 0)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): the scale '%s' must be a scalar", n->name,
                            KN_OPNAME(n), v->name);
    const struct kn_collective *c = n->attrs.grad_sync.comm;
    if (!c || c->size < 1)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): no collective", n->name, KN_OPNAME(n));
    size_t total = 0, e;
    for (int i = 1; i < n->num_inputs; i++) {
        if ((st = kn_train_in(g, n, i, KN_F32, &v, err)) != KN_OK)
            return st;
        if (kn_shape_numel(&v->shape, &e) != KN_OK || !kn_size_add(total, e, &total))
            return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the bucket is too large", n->name, KN_OPNAME(n));
    }
    if (n->attrs.grad_sync.deterministic && !kn_size_mul(total, (size_t)c->size, &total))
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the bucket is too large", n->name, KN_OPNAME(n));
    if (total > (size_t)INT64_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the bucket is too large", n->name, KN_OPNAME(n));
    const kn_shape s = {.rank = 1, .dims = {(int64_t)total}};
    return kn_node_set_output(g, n, 0, KN_F32, &s, err);
}

/* The outputs keep the shapes the pass gave them (the gradients'); their elements must fill the bucket. */
kn_status kn_shape_grad_sync_wait(kn_graph *g, kn_node *n, kn_error *err)
{
    kn_value *b;
    kn_status st;
    if ((st = kn_train_in(g, n, 0, KN_F32, &b, err)) != KN_OK)
        return st;
    const struct kn_collective *c = n->attrs.grad_sync.comm;
    if (!c || c->size < 1)
        return kn_error_set(err, KN_ERR_GRAPH, "node '%s' (%s): no collective", n->name, KN_OPNAME(n));
    size_t total = 0, e, have;
    for (int i = 0; i < n->num_outputs; i++) {
        const kn_value *o = n->outputs[i] >= 0 ? &g->values[n->outputs[i]] : NULL;
        if (!o || !o->shape_known || o->dtype != KN_F32 || kn_shape_numel(&o->shape, &e) != KN_OK ||
            !kn_size_add(total, e, &total))
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): output %d has no float32 shape", n->name,
                                KN_OPNAME(n), i);
    }
    if (n->attrs.grad_sync.deterministic && !kn_size_mul(total, (size_t)c->size, &total))
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s' (%s): the bucket is too large", n->name, KN_OPNAME(n));
    if (kn_shape_numel(&b->shape, &have) != KN_OK || have != total)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (%s): the bucket '%s' holds %zu elements, the outputs need %zu",
                            n->name, KN_OPNAME(n), b->name, have, total);
    return KN_OK;
}
