/*
 * dnnl_train.c - the training graph's backward ops as oneDNN primitives:
 * ConvGradWeight as convolution backward-weights (with the bias gradient; 3x3 layers with oneDNN's choice of
 * algorithm, its Winograd on AVX-512),
 * ActivationGrad as eltwise backward (on the forward output where oneDNN
 * has a use_dst_for_bwd algorithm), BatchNormTrain as batch normalization
 * forward training and BatchNormGrad as its backward, AveragePoolGrad and
 * GlobalAveragePoolGrad as pooling backward. Each backward
 * primitive is created with its forward primitive descriptor as the hint
 * oneDNN asks for (kn_dnnl_desc.hint). Activations flow in the blocked
 * layouts the forward pass left them in; gradients of weights come out in
 * oneDNN's layout and are reordered to the plain buffer the optimizer
 * update reads.
 */
#include <math.h>
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

/* A failed describe: free desc->hint (NULL after), return st. */
static kn_status kn_dnnl_drop_hint(kn_dnnl_desc *desc, kn_status st)
{
    if (desc->hint) {
        dnnl_primitive_desc_destroy(desc->hint);
        desc->hint = NULL;
    }
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
    return kn_dnnl_drop_hint(desc, st);
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
    return kn_dnnl_drop_hint(desc, st);
}

/*
 * BatchNormTrain (x, scale, bias, running mean, running variance -> y, mean, invstd) as batch normalization
 * forward training with scale and shift: y in x's layout, the batch mean into output 1 and oneDNN's (biased)
 * variance into output 2, which the op after it (kn_dnnl_run_bn_stats) turns into 1/sqrt(var + eps) while it
 * updates the running statistics. BatchNormGrad (dy, x, scale, mean, invstd -> dx, dscale, dbias) as its
 * backward, dy and dx in x's layout; its variance (1/invstd^2, epsilon 0), scale and shift and their gradients
 * are the stats ops' buffers (kn_dnnl_bn_after binds them): oneDNN 2.6's backward with separate scale and shift
 * arguments fails at execution (invalid arguments), the packed scale-shift form works.
 */
static kn_status kn_dnnl_describe_bnorm(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                        kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    const bool train = n->op == KN_OP_BATCH_NORM_TRAIN;
    const int x = train ? n->inputs[0] : n->inputs[1];
    const int64_t C = exe->graph->values[x].shape.dims[1];
    kn_dnnl_bind *src = &binds[(*nb)++];
    kn_status st = kn_dnnl_train_bind(exe, n, req->blocked, src, DNNL_ARG_SRC, x, err);
    if (st != KN_OK)
        return st;
    if (src->plain && src->md.ndims == 2) {
        /* a dense layer's [N, C] as [N, C, 1, 1] channels-last, the same bytes: oneDNN's jit kernel (on 2-D "ab"
         * it takes its plain C loop over channels, ncsp_bnorm) */
        const int64_t N = src->md.dims[0];
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src->md, 4, (dnnl_dims_t){N, C, 1, 1}, dnnl_f32, dnnl_acdb));
    } else if (src->plain && src->md.ndims == 4) {
        /* a plain nchw x (a reference-kernel producer) read as an nhwc copy: on nchw oneDNN 2.6 has only ncsp_bnorm,
         * a plain C loop (measured: 40-100 ms for DCGAN's 64x64x28x28 backward, 1 ms for the reorders) */
        KN_DNNL_CHECK(n, dnnl_memory_desc_init_by_tag(&src->md, 4, src->md.dims, dnnl_f32, dnnl_acdb));
        src->plain = false;
    }
    /* the per-channel arguments bound here: plain [C] buffers */
    const int cargs[2][4] = {{DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE}, {DNNL_ARG_MEAN}};
    const int cvals[2][4] = {{n->inputs[1], n->inputs[2], n->outputs[1], n->outputs[2]}, {n->inputs[3]}};
    for (int k = 0; k < (train ? 4 : 1); k++) {
        kn_dnnl_bind *b = &binds[(*nb)++];
        b->arg = cargs[!train][k];
        b->value = cvals[!train][k];
        b->plain = true;
        if ((st = kn_dnnl_md(n, &b->md, 1, &C, err)) != KN_OK)
            return st;
    }
    /* y (forward), dy and dx (backward) in x's layout (dy reordered when it is elsewhere) */
    for (int k = 0; k < (train ? 1 : 2); k++) {
        kn_dnnl_bind *b = &binds[(*nb)++];
        *b = *src;
        b->arg = train ? DNNL_ARG_DST : k == 0 ? DNNL_ARG_DIFF_DST : DNNL_ARG_DIFF_SRC;
        b->value = train ? n->outputs[0] : k == 0 ? n->inputs[0] : n->outputs[0];
    }
    if (train) {
        KN_DNNL_CHECK(n, dnnl_batch_normalization_forward_desc_init(&desc->op.bnorm, dnnl_forward_training, &src->md,
                                                                    n->attrs.batch_norm.epsilon,
                                                                    dnnl_use_scale | dnnl_use_shift));
        return KN_OK;
    }
    dnnl_batch_normalization_desc_t fwd;
    KN_DNNL_CHECK(n, dnnl_batch_normalization_forward_desc_init(&fwd, dnnl_forward_training, &src->md, 0.0f,
                                                                dnnl_use_scaleshift));
    if ((st = kn_dnnl_train_hint(exe, n, &fwd, desc, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_batch_normalization_backward_desc_init(&desc->op.bnorm, dnnl_backward, &src->md, &src->md,
                                                                 0.0f, dnnl_use_scaleshift));
    return KN_OK;
fail:
    return kn_dnnl_drop_hint(desc, st);
}

/* Append a stats op for node i running after (or before) its primitive on buffer buf (owned when `owns`). */
static kn_status kn_dnnl_push_bn_stats(kn_dnnl_exe *exe, int i, int64_t c, bool after, float *buf, bool owns,
                                       kn_error *err)
{
    kn_dnnl_bn_stats *bn = calloc(1, sizeof *bn);
    int idx;
    kn_status st;
    if (!bn)
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    else if ((st = kn_dnnl_push_op(exe, i, &idx, err)) == KN_OK) {
        *bn = (kn_dnnl_bn_stats){.c = c, .after = after, .buf = buf, .owns = owns};
        exe->ops[idx].bn = bn;
        return KN_OK;
    }
    free(bn);
    if (owns)
        free(buf);
    return st;
}

kn_status kn_dnnl_bn_before(kn_dnnl_exe *exe, int i, kn_error *err)
{
    const kn_node *n = &exe->graph->nodes[i];
    const int64_t C = exe->graph->values[n->inputs[1]].shape.dims[1];
    kn_status st;
    /* it reads scale and invstd from their plain buffers */
    if ((st = kn_dnnl_ensure_plain(exe, i, n->inputs[2], err)) != KN_OK ||
        (st = kn_dnnl_ensure_plain(exe, i, n->inputs[4], err)) != KN_OK)
        return st;
    size_t count;
    if (!kn_size_mul((size_t)C, 5, &count))
        return kn_error_set(err, KN_ERR_OVERFLOW, "node '%s': %lld channels", n->name, (long long)C);
    float *buf = kn_xcalloc(count, sizeof *buf); /* variance [C], scale and shift [2][C], their gradients [2][C] */
    if (!buf)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    return kn_dnnl_push_bn_stats(exe, i, C, false, buf, true, err);
}

kn_status kn_dnnl_bn_after(kn_dnnl_exe *exe, int i, int before_op, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const kn_node *n = &g->nodes[i];
    kn_status st = KN_OK;
    if (n->op == KN_OP_BATCH_NORM_TRAIN)
        return kn_dnnl_push_bn_stats(exe, i, g->values[n->inputs[0]].shape.dims[1], true, NULL, false, err);
    const kn_dnnl_bn_stats *pre = exe->ops[before_op].bn;
    kn_dnnl_op *op = &exe->ops[exe->num_ops - 1];
    const int64_t C = pre->c, C2[2] = {2, pre->c};
    dnnl_memory_desc_t var_md, ss_md;
    dnnl_memory_t var, ss, dss;
    if ((st = kn_dnnl_md(n, &var_md, 1, &C, err)) != KN_OK || (st = kn_dnnl_md(n, &ss_md, 2, C2, err)) != KN_OK ||
        (st = kn_dnnl_new_mem(exe, n, &var_md, pre->buf, &var, err)) != KN_OK ||
        (st = kn_dnnl_new_mem(exe, n, &ss_md, pre->buf + C, &ss, err)) != KN_OK ||
        (st = kn_dnnl_new_mem(exe, n, &ss_md, pre->buf + 3 * C, &dss, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_VARIANCE, var, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_SCALE_SHIFT, ss, err)) != KN_OK ||
        (st = kn_dnnl_add_arg(op, n, DNNL_ARG_DIFF_SCALE_SHIFT, dss, err)) != KN_OK)
        return st;
    exe->plain_ok[n->outputs[1]] = true; /* dscale and dbias: written to their plain buffers after it */
    exe->plain_ok[n->outputs[2]] = true;
    return kn_dnnl_push_bn_stats(exe, i, C, true, pre->buf, false, err);
}

void kn_dnnl_run_bn_stats(const kn_dnnl_exe *exe, const kn_dnnl_op *op)
{
    const kn_node *n = &exe->graph->nodes[op->node];
    const kn_dnnl_bn_stats *bn = op->bn;
    const int64_t C = bn->c;
    if (bn->native) {
        kn_dnnl_run_bn_train(exe, op);
    } else if (n->op == KN_OP_BATCH_NORM_TRAIN) {
        /* output 2 holds oneDNN's biased variance: invstd, and the running statistics as the reference kernel
         * updates them (momentum on the old value, Keras's convention) */
        const float *mean = exe->buffers[n->outputs[1]];
        float *invstd = exe->buffers[n->outputs[2]];
        float *rmean = exe->buffers[n->inputs[3]], *rvar = exe->buffers[n->inputs[4]];
        const double eps = n->attrs.batch_norm.epsilon, mom = n->attrs.batch_norm.momentum;
        for (int64_t c = 0; c < C; c++) {
            const double var = invstd[c];
            invstd[c] = (float)(1.0 / sqrt(var + eps));
            rmean[c] = (float)(mom * rmean[c] + (1.0 - mom) * mean[c]);
            rvar[c] = (float)(mom * rvar[c] + (1.0 - mom) * var);
        }
    } else if (!bn->after) {
        const float *invstd = exe->buffers[n->inputs[4]];
        for (int64_t c = 0; c < C; c++)
            bn->buf[c] = (float)(1.0 / ((double)invstd[c] * invstd[c]));
        memcpy(bn->buf + C, exe->buffers[n->inputs[2]], (size_t)C * sizeof(float));
    } else {
        memcpy(exe->buffers[n->outputs[1]], bn->buf + 3 * C, (size_t)C * sizeof(float));
        memcpy(exe->buffers[n->outputs[2]], bn->buf + 4 * C, (size_t)C * sizeof(float));
    }
}

/*
 * AveragePoolGrad and GlobalAveragePoolGrad (dy, x -> dx) as pooling backward (average, with or without the
 * padding): dy in the layout its producer left, dx in the same format at x's dims (x itself only gives the shape).
 */
static kn_status kn_dnnl_describe_avg_pool_grad(const kn_dnnl_exe *exe, const kn_node *n,
                                                const kn_dnnl_request *req, kn_dnnl_desc *desc, kn_dnnl_bind *binds,
                                                int *nb, kn_error *err)
{
    const kn_graph *g = exe->graph;
    const bool global = n->op == KN_OP_GLOBAL_AVERAGE_POOL_GRAD;
    const kn_shape *xs = &g->values[n->inputs[1]].shape, *ys = &g->values[n->inputs[0]].shape;
    dnnl_dims_t kd, strides, dil, pl, pr;
    kn_status st = kn_dnnl_window_dims(n, xs, ys, NULL, global, kd, strides, dil, pl, pr, err);
    if (st != KN_OK)
        return st;
    kn_dnnl_bind *ddst = &binds[(*nb)++], *dsrc = &binds[(*nb)++];
    if ((st = kn_dnnl_train_bind(exe, n, req->blocked, ddst, DNNL_ARG_DIFF_DST, n->inputs[0], err)) != KN_OK ||
        (st = kn_dnnl_md_value(g, n, n->outputs[0], &dsrc->md, err)) != KN_OK)
        return st;
    dsrc->arg = DNNL_ARG_DIFF_SRC;
    dsrc->value = n->outputs[0];
    dsrc->plain = true;
    if (!ddst->plain && kn_dnnl_view_md(exe, n->outputs[0], &ddst->md, &dsrc->md))
        dsrc->plain = false; /* 4-D: dy's format (nChw8c, nChw16c, nhwc) at x's dims */
    const dnnl_alg_kind_t alg = !global && n->attrs.window.count_include_pad ? dnnl_pooling_avg_include_padding
                                                                             : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t fwd;
    KN_DNNL_CHECK(n, dnnl_pooling_v2_forward_desc_init(&fwd, dnnl_forward_training, alg, &dsrc->md, &ddst->md,
                                                       strides, kd, dil, pl, pr));
    if ((st = kn_dnnl_train_hint(exe, n, &fwd, desc, err)) != KN_OK)
        return st;
    KN_DNNL_CHECK(n, dnnl_pooling_v2_backward_desc_init(&desc->op.pool, alg, &dsrc->md, &ddst->md, strides, kd, dil,
                                                        pl, pr));
    return KN_OK;
fail:
    return kn_dnnl_drop_hint(desc, st);
}

kn_status kn_dnnl_describe_train(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                 kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nb, kn_error *err)
{
    switch (n->op) {
    case KN_OP_CONV_GRAD_WEIGHT: return kn_dnnl_describe_conv_grad_weight(exe, n, req, desc, binds, nb, err);
    case KN_OP_ACTIVATION_GRAD: return kn_dnnl_describe_act_grad(exe, n, req, desc, binds, nb, err);
    case KN_OP_BATCH_NORM_TRAIN:
    case KN_OP_BATCH_NORM_GRAD: return kn_dnnl_describe_bnorm(exe, n, req, desc, binds, nb, err);
    case KN_OP_AVERAGE_POOL_GRAD:
    case KN_OP_GLOBAL_AVERAGE_POOL_GRAD: return kn_dnnl_describe_avg_pool_grad(exe, n, req, desc, binds, nb, err);
    case KN_OP_MAX_POOL_GRAD:
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "oneDNN's pooling backward needs the workspace of a forward "
                                                     "primitive; kiln's loop takes tiled 2-D windows of a blocked input");
    default: return kn_error_set(err, KN_ERR_UNSUPPORTED, "no oneDNN mapping yet");
    }
}
