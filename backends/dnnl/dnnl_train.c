/*
 * dnnl_train.c - the training graph's backward ops as oneDNN primitives:
 * ConvGradWeight as convolution backward-weights (with the bias gradient; 3x3 layers with oneDNN's choice of
 * algorithm, its Winograd on AVX-512),
 * ActivationGrad as eltwise backward (on the forward output where oneDNN
 * has a use_dst_for_bwd algorithm), BatchNormTrain as batch normalization
 * forward training and BatchNormGrad as its backward. Each backward
 * primitive is created with its forward primitive descriptor as the hint
 * oneDNN asks for (kn_dnnl_desc.hint). Activations flow in the blocked
 * layouts the forward pass left them in; gradients of weights come out in
 * oneDNN's layout and are reordered to the plain buffer the optimizer
 * update reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl_internal.h"

/* An activation argument: its blocked copy's layout when there is one and `blocked`, else plain. */
static kn_status kn_dnnl_train_bind(const kn_dnnl_exe *exe, const kn_node *n, bool blocked, kn_dnnl_bind *b, int arg,
                                    int v, kn_error *err)
{
    const dnnl_memory_desc_t *blk = blocked ? kn_dnnl_blocked_md(exe, v) : NULL;
    b->arg = arg;
    b->value = v;
    b->plain = blk == NULL;
    if (blk) {
        b->md = *blk;
        return KN_OK;
    }
    return kn_dnnl_md_value(exe->graph, n, v, &b->md, err);
}

/* Create desc->hint from forward operation descriptor `fwd`; KN_ERR_UNSUPPORTED when oneDNN has none. */
static kn_status kn_dnnl_train_hint(const kn_dnnl_exe *exe, const kn_node *n, const void *fwd, kn_dnnl_desc *desc,
                                    kn_error *err)
{
    kn_status st = KN_OK;
    dnnl_status_t ds = dnnl_primitive_desc_create(&desc->hint, fwd, NULL, exe->engine, NULL);
    if (ds == dnnl_unimplemented) {
        desc->hint = NULL;
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "oneDNN has no forward primitive to derive the backward from");
    }
    KN_DNNL_CHECK(n, ds);
fail:
    return st;
}

bool kn_dnnl_train_wino(const kn_graph *g, const kn_node *n, int64_t c, int64_t k)
{
    const kn_window_attrs *a = &n->attrs.window;
    if (a->nspatial != 2 || a->group > 1 || c < 16 || k < 16)
        return false;
    for (int i = 0; i < 2; i++) {
        const int64_t ks = a->kernel[i] ? a->kernel[i] : g->values[n->inputs[1]].shape.dims[2 + i];
        if (ks != 3 || (a->stride[i] && a->stride[i] != 1) || (a->dilation[i] && a->dilation[i] != 1))
            return false;
    }
    return true;
}

/* ConvGradWeight (x, dy -> dW[, db]) as convolution backward-weights. */
static kn_status kn_dnnl_describe_conv_grad_weight(const kn_dnnl_exe *exe, const kn_node *n,
                                                   const kn_dnnl_request *req, kn_dnnl_desc *desc,
                                                   kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_shape *xs = &g->values[n->inputs[0]].shape, *ys = &g->values[n->inputs[1]].shape;
    const int ns = xs->rank - 2;
    const int64_t group = n->attrs.window.group > 1 ? n->attrs.window.group : 1;
    const int64_t oc = ys->dims[1], ic = xs->dims[1];
    dnnl_dims_t kd, strides, dil, pl, pr;
    kn_status st = kn_dnnl_window_dims(n, xs, ys, NULL, false, kd, strides, dil, pl, pr, err);
    if (st != KN_OK)
        return st;
    kn_dnnl_bind *src = &binds[(*nb)++], *ddst = &binds[(*nb)++], *dw = &binds[(*nb)++], *db = NULL;
    if ((st = kn_dnnl_train_bind(exe, n, req->blocked, src, DNNL_ARG_SRC, n->inputs[0], err)) != KN_OK ||
        (st = kn_dnnl_train_bind(exe, n, req->blocked, ddst, DNNL_ARG_DIFF_DST, n->inputs[1], err)) != KN_OK)
        return st;
    dw->arg = DNNL_ARG_DIFF_WEIGHTS;
    dw->value = n->outputs[0];
    dw->plain = true;
    if ((st = kn_dnnl_conv_weights_md(n, ns, kd, oc, ic, group, false, &dw->md, err)) != KN_OK)
        return st;
    if (n->num_outputs > 1 && n->outputs[1] >= 0) {
        db = &binds[(*nb)++];
        db->arg = DNNL_ARG_DIFF_BIAS;
        db->value = n->outputs[1];
        db->plain = true;
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&db->md, 1, (dnnl_dims_t){oc}, dnnl_f32, dnnl_a));
    }
    /* oneDNN picks the layouts of the activations it reads (a reorder when they are elsewhere: fixing them to
     * the layouts the forward pass left, nhwc input and nChw16c gradient say, leaves only its gemm-based
     * implementation) and of the weight gradient (reordered to the plain buffer the update reads; grouped:
     * plain, its dims differ) */
    dnnl_memory_desc_t smd = src->md, dmd = ddst->md, wmd = dw->md;
    if (req->blocked) {
        if ((st = kn_dnnl_any(n, &src->md, &smd, err)) != KN_OK ||
            (st = kn_dnnl_any(n, &ddst->md, &dmd, err)) != KN_OK ||
            (group == 1 && (st = kn_dnnl_any(n, &dw->md, &wmd, err)) != KN_OK))
            return st;
        src->md = smd;
        src->plain = false;
        ddst->md = dmd;
        ddst->plain = false;
    }
    /* a 3x3 layer: oneDNN's own choice (auto: its Winograd backward-weights on AVX-512, 2x the direct jit kernel
     * on mnist_cnn's 32 -> 64 layer, ten training steps within 1e-7 of the reference losses), else direct */
    const bool try_wino = req->blocked && kn_dnnl_train_wino(exe->graph, n, ic, oc);
    for (int pass = try_wino ? 0 : 1; pass < 2; pass++) {
        const dnnl_alg_kind_t alg = pass == 0 ? dnnl_convolution_auto : dnnl_convolution_direct;
        dnnl_convolution_desc_t fwd;
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_forward_desc_init(&fwd, dnnl_forward_training, alg, &smd, &wmd,
                                                                    db ? &db->md : NULL, &dmd, strides, dil, pl, pr));
        if ((st = kn_dnnl_train_hint(exe, n, &fwd, desc, err)) != KN_OK) {
            if (pass == 0 && st == KN_ERR_UNSUPPORTED)
                continue;
            return st;
        }
        desc->skip_gemm = true;
        KN_DNNL_CHECK(n, dnnl_dilated_convolution_backward_weights_desc_init(&desc->op.conv, alg, &smd, &wmd,
                                                                             db ? &db->md : NULL, &dmd, strides, dil,
                                                                             pl, pr));
        if (pass == 0) { /* keep auto only where oneDNN implements the backward-weights with it */
            dnnl_primitive_desc_t pd = NULL;
            const bool ok = dnnl_primitive_desc_create(&pd, &desc->op, NULL, exe->engine, desc->hint) == dnnl_success;
            if (pd)
                dnnl_primitive_desc_destroy(pd);
            if (!ok) {
                dnnl_primitive_desc_destroy(desc->hint);
                desc->hint = NULL;
                continue;
            }
        }
        return KN_OK;
    }
    return KN_OK;
fail:
    if (desc->hint) {
        dnnl_primitive_desc_destroy(desc->hint);
        desc->hint = NULL;
    }
    return st;
}

bool kn_dnnl_act_grad_alg(const kn_act_grad_attrs *a, dnnl_alg_kind_t *alg, float *alpha, float *beta)
{
    *alpha = 0.0f;
    *beta = 0.0f;
    switch (a->act) {
    case KN_OP_RELU: *alg = a->use_dst ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_relu; return true;
    case KN_OP_LEAKY_RELU:
        /* kiln reads the input here; on the output the sign test holds for a non-negative slope only */
        *alpha = a->p.alpha;
        *alg = a->use_dst ? dnnl_eltwise_relu_use_dst_for_bwd : dnnl_eltwise_relu;
        return !a->use_dst || a->p.alpha >= 0.0f;
    case KN_OP_SIGMOID: *alg = a->use_dst ? dnnl_eltwise_logistic_use_dst_for_bwd : dnnl_eltwise_logistic; return true;
    case KN_OP_TANH: *alg = a->use_dst ? dnnl_eltwise_tanh_use_dst_for_bwd : dnnl_eltwise_tanh; return true;
    case KN_OP_ELU:
        *alpha = a->p.alpha;
        *alg = a->use_dst ? dnnl_eltwise_elu_use_dst_for_bwd : dnnl_eltwise_elu;
        return true;
    case KN_OP_SWISH: *alpha = 1.0f; *alg = dnnl_eltwise_swish; return !a->use_dst;
    case KN_OP_EXP: *alg = a->use_dst ? dnnl_eltwise_exp_use_dst_for_bwd : dnnl_eltwise_exp; return true;
    case KN_OP_SQRT: *alg = a->use_dst ? dnnl_eltwise_sqrt_use_dst_for_bwd : dnnl_eltwise_sqrt; return true;
    default: return false;
    }
}

/* ActivationGrad (dy, y or x -> dx) as eltwise backward, every argument in the layout of the forward value. */
static kn_status kn_dnnl_describe_act_grad(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                           kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const kn_act_grad_attrs *a = &n->attrs.act_grad;
    dnnl_alg_kind_t alg;
    float alpha, beta;
    if (!kn_dnnl_act_grad_alg(a, &alg, &alpha, &beta))
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "no oneDNN eltwise backward for %s",
                            kn_op_get(a->act)->name);
    kn_dnnl_bind *data = &binds[(*nb)++], *ddst = &binds[(*nb)++], *dsrc = &binds[(*nb)++];
    kn_status st = kn_dnnl_train_bind(exe, n, req->blocked, data, a->use_dst ? DNNL_ARG_DST : DNNL_ARG_SRC,
                                      n->inputs[1], err);
    if (st != KN_OK)
        return st;
    *ddst = *data; /* dy and dx in the forward value's layout (dy reordered when it is elsewhere) */
    ddst->arg = DNNL_ARG_DIFF_DST;
    ddst->value = n->inputs[0];
    *dsrc = *data;
    dsrc->arg = DNNL_ARG_DIFF_SRC;
    dsrc->value = n->outputs[0];
    dnnl_eltwise_desc_t fwd;
    KN_DNNL_CHECK(n, dnnl_eltwise_forward_desc_init(&fwd, dnnl_forward_training, alg, &data->md, alpha, beta));
    if ((st = kn_dnnl_train_hint(exe, n, &fwd, desc, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_eltwise_backward_desc_init(&desc->op.eltwise, alg, &ddst->md, &data->md, alpha, beta));
    return KN_OK;
fail:
    if (desc->hint) {
        dnnl_primitive_desc_destroy(desc->hint);
        desc->hint = NULL;
    }
    return st;
}

kn_status kn_dnnl_describe_train(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                 kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    switch (n->op) {
    case KN_OP_CONV_GRAD_WEIGHT: return kn_dnnl_describe_conv_grad_weight(exe, n, req, desc, binds, nb, err);
    case KN_OP_ACTIVATION_GRAD: return kn_dnnl_describe_act_grad(exe, n, req, desc, binds, nb, err);
    case KN_OP_MAX_POOL_GRAD:
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "oneDNN's pooling backward needs the workspace of a forward "
                                                     "primitive; kiln's loop takes tiled 2-D windows of a blocked input");
    default: return kn_error_set(err, KN_ERR_UNSUPPORTED, "no oneDNN mapping yet");
    }
}
