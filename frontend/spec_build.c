/*
 * spec_build.c - turns a checked spec model into a kiln IR graph.
 *
 * Layer to op mapping (ONNX semantics, NCHW):
 *   input            graph input [N, ...]
 *   dense            Gemm(transB) with kernel [units, in] on a 2-D input;
 *                    MatMul (kernel [in, units]) + Add on a higher rank
 *   conv2d           Conv with explicit pads (Keras 'same': odd padding at the end)
 *   conv2d_transpose ConvTranspose with pads / output_padding giving the Keras size
 *   maxpool2d        MaxPool;  avgpool2d: AveragePool (padding not counted)
 *   global_avgpool   GlobalAveragePool (+ Flatten unless keepdims)
 *   flatten          Flatten(axis=1);  reshape: Reshape with a constant shape
 *   concat/add/multiply  Concat / chains of Add / Mul
 *   batchnorm        BatchNormalization (inference form; gamma/beta are
 *                    weights, the moving statistics state)
 *   dropout          Dropout(ratio)
 *   activations      Relu, LeakyRelu, Sigmoid, Tanh, Softmax(axis), Elu, HardSwish, Clip (relu6,
 *                    relu(max_value)), HardSigmoid (Keras 3: alpha 1/6, beta 1/2), swish as Sigmoid + Mul
 *                    (the fusion pass makes it Swish)
 *   global_maxpool   GlobalMaxPool (+ Flatten unless keepdims)
 *   zero_padding2d   Pad (constant zeros);  cropping2d: Slice on axes 2, 3
 *   depthwise_conv2d Conv with group = C, kernel [C * depth_multiplier, 1, kh, kw]
 *   separable_conv2d that Conv without bias, then a 1x1 Conv ("pointwise_kernel", bias)
 *   prelu            PRelu with slopes "<layer>/alpha" of a sample's shape (1 along shared_axes)
 *   gelu             Gelu (the erf form; exported as x * 0.5 * (1 + Erf(x / sqrt 2)))
 *   upsampling2d     Resize with scales (1, 1, sh, sw): nearest with asymmetric coordinates and floor rounding
 *                    (each row and column repeated, Keras's nearest), or linear with half_pixel (Keras's bilinear,
 *                    TensorFlow's half-pixel centres; PyTorch's align_corners=False)
 *   layer_norm       LayerNormalization over the axes from `axis` on, gamma and beta of their shape (constants of
 *                    ones and zeros when scale / center are false)
 * A layer with trainable=false has constant weights (not parameters): autodiff computes no gradient for them,
 * the optimizer has no state for them, and a frozen batchnorm keeps its inference form in training (as Keras).
 * The output value of every layer carries the layer's name; weights are
 * named "<layer>/kernel", "<layer>/bias", "<layer>/gamma", ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"

typedef struct kn_builder {
    const kn_spec *spec;
    const kn_spec_model *m;
    kn_graph *g;
    kn_error *err;
    int *value_of;   /* layer index -> value id of its output */
} kn_builder;

static kn_status kn_b_value(kn_builder *b, const char *name, const kn_shape *shape, kn_value_kind kind, void *data,
                            int *id)
{
    kn_status st = kn_graph_add_value(b->g, name, KN_F32, shape, kind, data, id, b->err);
    if (st != KN_OK)
        free(data);
    return st;
}

/* A weight "<layer>/<suffix>" of `shape`, filled by `init`. */
static kn_status kn_b_weight(kn_builder *b, const kn_spec_layer *l, const char *suffix, const kn_shape *shape,
                             const kn_spec_init *init, int64_t fan_in, int64_t fan_out, kn_value_kind kind, int *id)
{
    char name[300];
    snprintf(name, sizeof name, "%s/%s", l->name, suffix);
    if (l->frozen)
        kind = KN_VALUE_CONST;
    size_t count;
    if (kn_shape_numel(shape, &count) != KN_OK || count > (size_t)KN_SPEC_MAX_PARAM_ELEMENTS)
        return kn_error_set(b->err, KN_ERR_OVERFLOW, "weight '%s' is too large", name);
    float *data = malloc((count ? count : 1) * sizeof(float));
    if (!data)
        return kn_error_set(b->err, KN_ERR_NOMEM, "out of memory for weight '%s' (%zu floats)", name, count);
    kn_spec_init_fill(init, b->m->seed, b->m->name, name, fan_in, fan_out, data, count);
    return kn_b_value(b, name, shape, kind, data, id);
}

static kn_status kn_b_node(kn_builder *b, const char *name, kn_op op, const int *ins, int nin, int out,
                           const kn_attrs *attrs)
{
    return kn_graph_add_node(b->g, name, op, ins, nin, &out, 1, attrs, NULL, b->err);
}

/* A named intermediate value. */
static kn_status kn_b_tmp(kn_builder *b, const char *name, const kn_shape *shape, int *id)
{
    return kn_b_value(b, name, shape, KN_VALUE_INTERMEDIATE, NULL, id);
}

/*
 * The last step of a layer: apply `act` to value `in` and name the result
 * after the layer; with no activation the producer's output already is the
 * layer's value (`in` was created under the layer's name).
 */
static kn_status kn_b_activation(kn_builder *b, const kn_spec_layer *l, const kn_spec_activation *act, int in,
                                 const char *node_name, int *out)
{
    kn_op op;
    kn_attrs a;
    switch (act->kind) {
    case KN_SPEC_ACT_RELU: op = KN_OP_RELU; break;
    case KN_SPEC_ACT_LEAKY_RELU: op = KN_OP_LEAKY_RELU; break;
    case KN_SPEC_ACT_SIGMOID: op = KN_OP_SIGMOID; break;
    case KN_SPEC_ACT_TANH: op = KN_OP_TANH; break;
    case KN_SPEC_ACT_SOFTMAX: op = KN_OP_SOFTMAX; break;
    case KN_SPEC_ACT_ELU: op = KN_OP_ELU; break;
    case KN_SPEC_ACT_HARD_SWISH: op = KN_OP_HARD_SWISH; break;
    case KN_SPEC_ACT_RELU6: op = KN_OP_CLIP; break;
    case KN_SPEC_ACT_HARD_SIGMOID: op = KN_OP_HARD_SIGMOID; break;
    case KN_SPEC_ACT_GELU: op = KN_OP_GELU; break;
    case KN_SPEC_ACT_SWISH: op = KN_OP_MUL; break;
    default: *out = in; return KN_OK;
    }
    kn_status st;
    if (op == KN_OP_MUL) { /* swish: x * sigmoid(x) */
        char name[300];
        snprintf(name, sizeof name, "%s/sigmoid", node_name);
        int sig;
        if ((st = kn_b_tmp(b, name, &l->shape, &sig)) != KN_OK ||
            (st = kn_b_node(b, name, KN_OP_SIGMOID, &in, 1, sig, NULL)) != KN_OK ||
            (st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
            return st;
        int ins[2] = {in, sig};
        return kn_b_node(b, node_name, KN_OP_MUL, ins, 2, *out, NULL);
    }
    kn_attrs_init(op, &a);
    if (op == KN_OP_LEAKY_RELU || op == KN_OP_ELU)
        a.scalar.alpha = act->alpha;
    if (op == KN_OP_CLIP) {
        a.scalar.min = 0.0f;
        a.scalar.max = act->alpha;
    }
    if (op == KN_OP_HARD_SIGMOID) { /* Keras 3's hard_sigmoid: relu6(x + 3) / 6 */
        a.scalar.alpha = 1.0f / 6.0f;
        a.scalar.beta = 0.5f;
    }
    if (op == KN_OP_SOFTMAX) {
        a.axis.axis = act->axis;
        a.axis.legacy_2d = false;
    }
    st = kn_b_tmp(b, l->name, &l->shape, out);
    if (st == KN_OK)
        st = kn_b_node(b, node_name, op, &in, 1, *out, &a);
    return st;
}

/* Name of the value a layer's main op produces: the layer's own name, or "<layer>/linear" before an activation. */
static const char *kn_main_name(const kn_spec_layer *l, bool has_act, char *buf, size_t len)
{
    if (!has_act)
        return l->name;
    snprintf(buf, len, "%s/linear", l->name);
    return buf;
}

static kn_status kn_b_dense(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_dense *d = &l->p.dense;
    const kn_spec_layer *in = &b->m->layers[l->inputs[0]];
    int64_t fin = in->shape.dims[in->shape.rank - 1];
    bool has_act = d->activation.kind != KN_SPEC_ACT_LINEAR;
    char vname[300], node[300], act_node[300];
    snprintf(act_node, sizeof act_node, "%s/%s", l->name, kn_spec_act_name(d->activation.kind));
    int w, bias = -1, y;
    kn_status st;
    kn_shape bs = {.rank = 1, .dims = {d->units}};
    if (in->shape.rank == 2) {
        kn_shape ws = {.rank = 2, .dims = {d->units, fin}};
        if ((st = kn_b_weight(b, l, "kernel", &ws, &d->kernel_init, fin, d->units, KN_VALUE_PARAM, &w)) != KN_OK)
            return st;
        if (d->use_bias &&
            (st = kn_b_weight(b, l, "bias", &bs, &d->bias_init, fin, d->units, KN_VALUE_PARAM, &bias)) != KN_OK)
            return st;
        kn_attrs a;
        kn_attrs_init(KN_OP_GEMM, &a);
        a.gemm.trans_b = true;
        int ins[3] = {x, w, bias};
        if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
            (st = kn_b_node(b, l->name, KN_OP_GEMM, ins, d->use_bias ? 3 : 2, y, &a)) != KN_OK)
            return st;
        return kn_b_activation(b, l, &d->activation, y, act_node, out);
    }
    kn_shape ws = {.rank = 2, .dims = {fin, d->units}};
    if ((st = kn_b_weight(b, l, "kernel", &ws, &d->kernel_init, fin, d->units, KN_VALUE_PARAM, &w)) != KN_OK)
        return st;
    int ins[2] = {x, w};
    if (!d->use_bias) {
        if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
            (st = kn_b_node(b, l->name, KN_OP_MATMUL, ins, 2, y, NULL)) != KN_OK)
            return st;
        return kn_b_activation(b, l, &d->activation, y, act_node, out);
    }
    int mm;
    snprintf(node, sizeof node, "%s/matmul", l->name);
    if ((st = kn_b_weight(b, l, "bias", &bs, &d->bias_init, fin, d->units, KN_VALUE_PARAM, &bias)) != KN_OK ||
        (st = kn_b_tmp(b, node, &l->shape, &mm)) != KN_OK || (st = kn_b_node(b, node, KN_OP_MATMUL, ins, 2, mm, NULL)))
        return st;
    int add_in[2] = {mm, bias};
    snprintf(node, sizeof node, "%s/bias_add", l->name);
    if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
        (st = kn_b_node(b, node, KN_OP_ADD, add_in, 2, y, NULL)) != KN_OK)
        return st;
    return kn_b_activation(b, l, &d->activation, y, act_node, out);
}

/* Conv or ConvTranspose attributes from a resolved conv layer (kernel, strides, dilation, pads), `group` groups. */
static void kn_b_conv_attrs(kn_op op, const kn_spec_conv *c, int64_t group, kn_attrs *a)
{
    kn_attrs_init(op, a);
    a->window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        a->window.kernel[i] = c->kernel[i];
        a->window.stride[i] = c->strides[i];
        a->window.dilation[i] = c->dilation[i];
        a->window.pad_begin[i] = c->pad_begin[i];
        a->window.pad_end[i] = c->pad_end[i];
        if (op == KN_OP_CONV_TRANSPOSE)
            a->window.output_padding[i] = c->output_padding[i];
    }
    a->window.group = group;
    a->window.auto_pad = KN_AUTO_PAD_NOTSET;
}

static kn_status kn_b_conv(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_conv *c = &l->p.conv;
    const kn_spec_layer *in = &b->m->layers[l->inputs[0]];
    bool transpose = l->kind == KN_SPEC_CONV2D_TRANSPOSE;
    int64_t cin = in->shape.dims[1], rf = c->kernel[0] * c->kernel[1];
    kn_shape ws = {.rank = 4};
    int64_t fan_in, fan_out;
    if (transpose) { /* ONNX [C_in, M, kh, kw]; Keras kernel (kh, kw, filters, in) */
        ws.dims[0] = cin, ws.dims[1] = c->filters;
        fan_in = rf * c->filters, fan_out = rf * cin;
    } else {
        ws.dims[0] = c->filters, ws.dims[1] = cin / c->groups;
        fan_in = rf * (cin / c->groups), fan_out = rf * c->filters;
    }
    ws.dims[2] = c->kernel[0], ws.dims[3] = c->kernel[1];
    kn_shape bs = {.rank = 1, .dims = {c->filters}};
    int w, bias = -1, y;
    kn_status st;
    if ((st = kn_b_weight(b, l, "kernel", &ws, &c->kernel_init, fan_in, fan_out, KN_VALUE_PARAM, &w)) != KN_OK)
        return st;
    if (c->use_bias &&
        (st = kn_b_weight(b, l, "bias", &bs, &c->bias_init, fan_in, fan_out, KN_VALUE_PARAM, &bias)) != KN_OK)
        return st;
    kn_op op = transpose ? KN_OP_CONV_TRANSPOSE : KN_OP_CONV;
    kn_attrs a;
    kn_b_conv_attrs(op, c, c->groups, &a);
    bool has_act = c->activation.kind != KN_SPEC_ACT_LINEAR;
    char vname[300], act_node[300];
    snprintf(act_node, sizeof act_node, "%s/%s", l->name, kn_spec_act_name(c->activation.kind));
    int ins[3] = {x, w, bias};
    if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
        (st = kn_b_node(b, l->name, op, ins, c->use_bias ? 3 : 2, y, &a)) != KN_OK)
        return st;
    return kn_b_activation(b, l, &c->activation, y, act_node, out);
}

/*
 * depthwise_conv2d: Conv with a group per input channel, kernel "depthwise_kernel" [C * m, 1, kh, kw] (Keras's
 * (kh, kw, C, m), whose fans Keras takes as kh·kw·C in and kh·kw·m out). separable_conv2d: that without bias, then a
 * 1x1 Conv with "pointwise_kernel" [filters, C * m, 1, 1] (fans C·m and filters) and the bias.
 */
static kn_status kn_b_depthwise(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_conv *c = &l->p.conv;
    const kn_spec_layer *in = &b->m->layers[l->inputs[0]];
    const bool separable = l->kind == KN_SPEC_SEPARABLE_CONV2D;
    const int64_t cin = in->shape.dims[1], rf = c->kernel[0] * c->kernel[1], depth = cin * c->depth_multiplier;
    const kn_shape ws = {.rank = 4, .dims = {depth, 1, c->kernel[0], c->kernel[1]}};
    const kn_shape bs = {.rank = 1, .dims = {separable ? c->filters : depth}};
    int w, bias = -1, y;
    kn_status st;
    if ((st = kn_b_weight(b, l, "depthwise_kernel", &ws, &c->kernel_init, rf * cin, rf * c->depth_multiplier,
                          KN_VALUE_PARAM, &w)) != KN_OK)
        return st;
    kn_attrs a;
    kn_b_conv_attrs(KN_OP_CONV, c, cin, &a);
    const bool has_act = c->activation.kind != KN_SPEC_ACT_LINEAR;
    char vname[300], act_node[300], node[300];
    snprintf(act_node, sizeof act_node, "%s/%s", l->name, kn_spec_act_name(c->activation.kind));
    if (!separable) {
        int ins[3] = {x, w, -1};
        if (c->use_bias && (st = kn_b_weight(b, l, "bias", &bs, &c->bias_init, rf * cin, rf * c->depth_multiplier,
                                             KN_VALUE_PARAM, &ins[2])) != KN_OK)
            return st;
        if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
            (st = kn_b_node(b, l->name, KN_OP_CONV, ins, c->use_bias ? 3 : 2, y, &a)) != KN_OK)
            return st;
        return kn_b_activation(b, l, &c->activation, y, act_node, out);
    }
    kn_shape ds = l->shape;
    ds.dims[1] = depth;
    int dw, pw, ins[2] = {x, w};
    snprintf(node, sizeof node, "%s/depthwise", l->name);
    if ((st = kn_b_tmp(b, node, &ds, &dw)) != KN_OK || (st = kn_b_node(b, node, KN_OP_CONV, ins, 2, dw, &a)) != KN_OK)
        return st;
    const kn_shape ps = {.rank = 4, .dims = {c->filters, depth, 1, 1}};
    if ((st = kn_b_weight(b, l, "pointwise_kernel", &ps, &c->pointwise_init, depth, c->filters, KN_VALUE_PARAM,
                          &pw)) != KN_OK ||
        (c->use_bias &&
         (st = kn_b_weight(b, l, "bias", &bs, &c->bias_init, depth, c->filters, KN_VALUE_PARAM, &bias)) != KN_OK))
        return st;
    const kn_spec_conv one = {.kernel = {1, 1}, .strides = {1, 1}, .dilation = {1, 1}};
    kn_b_conv_attrs(KN_OP_CONV, &one, 1, &a);
    int pins[3] = {dw, pw, bias};
    snprintf(node, sizeof node, "%s/pointwise", l->name);
    if ((st = kn_b_tmp(b, kn_main_name(l, has_act, vname, sizeof vname), &l->shape, &y)) != KN_OK ||
        (st = kn_b_node(b, node, KN_OP_CONV, pins, c->use_bias ? 3 : 2, y, &a)) != KN_OK)
        return st;
    return kn_b_activation(b, l, &c->activation, y, act_node, out);
}

/* An int64 constant "<layer>/<suffix>" of n values. */
static kn_status kn_b_ints(kn_builder *b, const kn_spec_layer *l, const char *suffix, const int64_t *v, int n,
                           int *id)
{
    int64_t *data = malloc(sizeof(int64_t) * (size_t)n);
    if (!data)
        return kn_error_set(b->err, KN_ERR_NOMEM, "out of memory");
    memcpy(data, v, sizeof(int64_t) * (size_t)n);
    char name[300];
    snprintf(name, sizeof name, "%s/%s", l->name, suffix);
    kn_shape s = {.rank = 1, .dims = {n}};
    kn_status st = kn_graph_add_value(b->g, name, KN_I64, &s, KN_VALUE_CONST, data, id, b->err);
    if (st != KN_OK)
        free(data);
    return st;
}

/* zero_padding2d: Pad with zeros; cropping2d: Slice of rows top..H-bottom and columns left..W-right. */
static kn_status kn_b_pad_crop(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const int64_t *p = l->p.pads; /* top, bottom, left, right */
    int ins[4] = {x, -1, -1, -1};
    kn_status st;
    if (l->kind == KN_SPEC_ZERO_PADDING2D) {
        const int64_t pads[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
        if ((st = kn_b_ints(b, l, "pads", pads, 8, &ins[1])) != KN_OK || (st = kn_b_tmp(b, l->name, &l->shape, out)))
            return st;
        kn_attrs a;
        kn_attrs_init(KN_OP_PAD, &a);
        return kn_b_node(b, l->name, KN_OP_PAD, ins, 2, *out, &a);
    }
    const kn_spec_layer *in = &b->m->layers[l->inputs[0]];
    const int64_t starts[2] = {p[0], p[2]}, axes[2] = {2, 3};
    const int64_t ends[2] = {in->shape.dims[2] - p[1], in->shape.dims[3] - p[3]};
    if ((st = kn_b_ints(b, l, "starts", starts, 2, &ins[1])) != KN_OK ||
        (st = kn_b_ints(b, l, "ends", ends, 2, &ins[2])) != KN_OK ||
        (st = kn_b_ints(b, l, "axes", axes, 2, &ins[3])) != KN_OK || (st = kn_b_tmp(b, l->name, &l->shape, out)))
        return st;
    return kn_b_node(b, l->name, KN_OP_SLICE, ins, 4, *out, NULL);
}

/* prelu: PRelu with the slopes "<layer>/alpha" (a sample's shape, 1 along shared_axes). */
static kn_status kn_b_prelu(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_layer *in = &b->m->layers[l->inputs[0]];
    kn_shape as;
    if (!kn_spec_prelu_alpha_shape(l, &in->shape, &as))
        return kn_error_set(b->err, KN_ERR_SHAPE, "prelu '%s': bad shared_axes", l->name);
    int ins[2] = {x, -1};
    kn_status st;
    if ((st = kn_b_weight(b, l, "alpha", &as, &l->p.prelu.alpha_init, 1, 1, KN_VALUE_PARAM, &ins[1])) != KN_OK ||
        (st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
        return st;
    return kn_b_node(b, l->name, KN_OP_PRELU, ins, 2, *out, NULL);
}

/* The scale and shift of a normalisation, "<layer>/gamma" and "<layer>/beta" of `shape` (n elements): trained
 * weights, or the constants 1 and 0 without `scale` / `center`. */
static kn_status kn_b_gamma_beta(kn_builder *b, const kn_spec_layer *l, const kn_shape *shape, int64_t n, bool scale,
                                 bool center, const kn_spec_init *gamma_init, const kn_spec_init *beta_init,
                                 int *gamma, int *beta)
{
    const kn_spec_init ones = {.kind = KN_SPEC_INIT_ONES}, zeros = {.kind = KN_SPEC_INIT_ZEROS};
    kn_status st = kn_b_weight(b, l, "gamma", shape, scale ? gamma_init : &ones, n, n,
                               scale ? KN_VALUE_PARAM : KN_VALUE_CONST, gamma);
    if (st == KN_OK)
        st = kn_b_weight(b, l, "beta", shape, center ? beta_init : &zeros, n, n,
                         center ? KN_VALUE_PARAM : KN_VALUE_CONST, beta);
    return st;
}

/* upsampling2d: Resize (X, roi: empty, scales: 1, 1, sh, sw). */
static kn_status kn_b_upsampling(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_upsampling *u = &l->p.upsampling;
    char name[300];
    float *scales = malloc(4 * sizeof *scales), *roi = malloc(sizeof *roi);
    const kn_shape ss = {.rank = 1, .dims = {4}}, rs = {.rank = 1, .dims = {0}};
    int ins[3] = {x, -1, -1};
    kn_status st;
    if (!scales || !roi) {
        free(scales);
        free(roi);
        return kn_error_set(b->err, KN_ERR_NOMEM, "out of memory");
    }
    scales[0] = scales[1] = 1.0f;
    scales[2] = (float)u->size[0];
    scales[3] = (float)u->size[1];
    snprintf(name, sizeof name, "%s/roi", l->name);
    if ((st = kn_b_value(b, name, &rs, KN_VALUE_CONST, roi, &ins[1])) != KN_OK) {
        free(scales);
        return st;
    }
    snprintf(name, sizeof name, "%s/scales", l->name);
    if ((st = kn_b_value(b, name, &ss, KN_VALUE_CONST, scales, &ins[2])) != KN_OK ||
        (st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
        return st;
    kn_attrs a;
    kn_attrs_init(KN_OP_RESIZE, &a);
    if (u->interpolation == 1) {
        a.resize.mode = KN_RESIZE_LINEAR;
        a.resize.coord = KN_COORD_HALF_PIXEL;
    } else {
        a.resize.mode = KN_RESIZE_NEAREST;
        a.resize.coord = KN_COORD_ASYMMETRIC;
        a.resize.nearest = KN_NEAREST_FLOOR;
    }
    return kn_b_node(b, l->name, KN_OP_RESIZE, ins, 3, *out, &a);
}

/* layer_norm: LayerNormalization (X, "<layer>/gamma", "<layer>/beta") over the axes from `axis` on. */
static kn_status kn_b_layer_norm(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_layer_norm *ln = &l->p.layer_norm;
    kn_shape ps = {.rank = l->shape.rank - (int)ln->axis};
    int64_t n = 1;
    for (int d = 0; d < ps.rank; d++)
        n *= ps.dims[d] = l->shape.dims[ln->axis + d];
    int ins[3] = {x, -1, -1};
    kn_status st;
    if ((st = kn_b_gamma_beta(b, l, &ps, n, ln->scale, ln->center, &ln->gamma_init, &ln->beta_init, &ins[1],
                              &ins[2])) != KN_OK ||
        (st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
        return st;
    kn_attrs a;
    kn_attrs_init(KN_OP_LAYER_NORM, &a);
    a.layer_norm.axis = ln->axis;
    a.layer_norm.epsilon = ln->epsilon;
    return kn_b_node(b, l->name, KN_OP_LAYER_NORM, ins, 3, *out, &a);
}

static kn_status kn_b_pool(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_pool *p = &l->p.pool;
    kn_op op = l->kind == KN_SPEC_MAXPOOL2D ? KN_OP_MAX_POOL : KN_OP_AVERAGE_POOL;
    kn_attrs a;
    kn_attrs_init(op, &a);
    a.window.nspatial = 2;
    for (int i = 0; i < 2; i++) {
        a.window.kernel[i] = p->pool[i];
        a.window.stride[i] = p->strides[i];
        a.window.dilation[i] = 1;
        a.window.pad_begin[i] = p->pad_begin[i];
        a.window.pad_end[i] = p->pad_end[i];
    }
    a.window.auto_pad = KN_AUTO_PAD_NOTSET;
    a.window.count_include_pad = false; /* Keras 'same' average pooling ignores the padding */
    kn_status st = kn_b_tmp(b, l->name, &l->shape, out);
    return st == KN_OK ? kn_b_node(b, l->name, op, &x, 1, *out, &a) : st;
}

static kn_status kn_b_reshape(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_reshape *r = &l->p.reshape;
    int64_t *dims = malloc(sizeof(int64_t) * (size_t)(r->rank + 1));
    if (!dims)
        return kn_error_set(b->err, KN_ERR_NOMEM, "out of memory");
    bool has_unknown = false;
    for (int i = 0; i < r->rank; i++) {
        dims[i + 1] = r->dims[i];
        has_unknown |= r->dims[i] == -1;
    }
    /* the batch stays symbolic: -1 (inferred), or 0 (copied) when the target already infers a dimension */
    dims[0] = has_unknown ? 0 : -1;
    char name[300];
    snprintf(name, sizeof name, "%s/shape", l->name);
    kn_shape ss = {.rank = 1, .dims = {r->rank + 1}};
    int shape_id;
    kn_status st = kn_graph_add_value(b->g, name, KN_I64, &ss, KN_VALUE_CONST, dims, &shape_id, b->err);
    if (st != KN_OK) {
        free(dims);
        return st;
    }
    int ins[2] = {x, shape_id};
    if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
        return st;
    return kn_b_node(b, l->name, KN_OP_RESHAPE, ins, 2, *out, NULL);
}

static kn_status kn_b_batchnorm(kn_builder *b, const kn_spec_layer *l, int x, int *out)
{
    const kn_spec_batchnorm *bn = &l->p.batchnorm;
    int64_t c = l->shape.dims[1];
    kn_shape cs = {.rank = 1, .dims = {c}};
    int ins[5];
    kn_status st;
    if ((st = kn_b_gamma_beta(b, l, &cs, c, bn->scale, bn->center, &bn->gamma_init, &bn->beta_init, &ins[1],
                              &ins[2])) != KN_OK ||
        (st = kn_b_weight(b, l, "moving_mean", &cs, &bn->mean_init, c, c, KN_VALUE_STATE, &ins[3])) != KN_OK ||
        (st = kn_b_weight(b, l, "moving_variance", &cs, &bn->variance_init, c, c, KN_VALUE_STATE, &ins[4])) != KN_OK)
        return st;
    ins[0] = x;
    kn_attrs a;
    kn_attrs_init(KN_OP_BATCH_NORM, &a);
    a.batch_norm.epsilon = bn->epsilon;
    a.batch_norm.momentum = bn->momentum; /* ONNX and Keras: running = running * momentum + batch * (1 - momentum) */
    if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
        return st;
    return kn_b_node(b, l->name, KN_OP_BATCH_NORM, ins, 5, *out, &a);
}

/* add / multiply over n inputs: a chain of binary nodes. */
static kn_status kn_b_merge(kn_builder *b, const kn_spec_layer *l, int *out)
{
    kn_op op = l->kind == KN_SPEC_ADD ? KN_OP_ADD : KN_OP_MUL;
    int acc = b->value_of[l->inputs[0]];
    kn_status st = KN_OK;
    for (int i = 1; i < l->num_inputs && st == KN_OK; i++) {
        char name[300];
        bool last = i == l->num_inputs - 1;
        if (last)
            snprintf(name, sizeof name, "%s", l->name);
        else
            snprintf(name, sizeof name, "%s/partial_%d", l->name, i);
        int ins[2] = {acc, b->value_of[l->inputs[i]]}, y;
        if ((st = kn_b_tmp(b, name, &l->shape, &y)) == KN_OK)
            st = kn_b_node(b, name, op, ins, 2, y, NULL);
        acc = y;
    }
    *out = acc;
    return st;
}

static kn_status kn_b_layer(kn_builder *b, const kn_spec_layer *l, int *out)
{
    int x = l->num_inputs > 0 ? b->value_of[l->inputs[0]] : -1;
    kn_attrs a;
    kn_status st;
    switch (l->kind) {
    case KN_SPEC_INPUT:
        if ((st = kn_graph_add_value(b->g, l->name, l->dtype, &l->shape, KN_VALUE_INPUT, NULL, out, b->err)) != KN_OK)
            return st;
        return kn_graph_add_input(b->g, *out, b->err);
    case KN_SPEC_DENSE: return kn_b_dense(b, l, x, out);
    case KN_SPEC_CONV2D:
    case KN_SPEC_CONV2D_TRANSPOSE: return kn_b_conv(b, l, x, out);
    case KN_SPEC_MAXPOOL2D:
    case KN_SPEC_AVGPOOL2D: return kn_b_pool(b, l, x, out);
    case KN_SPEC_DEPTHWISE_CONV2D:
    case KN_SPEC_SEPARABLE_CONV2D: return kn_b_depthwise(b, l, x, out);
    case KN_SPEC_ZERO_PADDING2D:
    case KN_SPEC_CROPPING2D: return kn_b_pad_crop(b, l, x, out);
    case KN_SPEC_PRELU: return kn_b_prelu(b, l, x, out);
    case KN_SPEC_UPSAMPLING2D: return kn_b_upsampling(b, l, x, out);
    case KN_SPEC_LAYER_NORM: return kn_b_layer_norm(b, l, x, out);
    case KN_SPEC_GLOBAL_AVGPOOL:
    case KN_SPEC_GLOBAL_MAXPOOL: {
        const kn_op gop = l->kind == KN_SPEC_GLOBAL_MAXPOOL ? KN_OP_GLOBAL_MAX_POOL : KN_OP_GLOBAL_AVERAGE_POOL;
        if (l->p.keepdims) {
            if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
                return st;
            return kn_b_node(b, l->name, gop, &x, 1, *out, NULL);
        }
        char name[300];
        snprintf(name, sizeof name, "%s/pool", l->name);
        kn_shape ps = l->shape;
        ps.rank = 4;
        ps.dims[2] = ps.dims[3] = 1;
        int pooled;
        if ((st = kn_b_tmp(b, name, &ps, &pooled)) != KN_OK ||
            (st = kn_b_node(b, l->name, gop, &x, 1, pooled, NULL)) != KN_OK)
            return st;
        kn_attrs_init(KN_OP_FLATTEN, &a);
        a.axis.axis = 1;
        snprintf(name, sizeof name, "%s/flatten", l->name);
        if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
            return st;
        return kn_b_node(b, name, KN_OP_FLATTEN, &pooled, 1, *out, &a);
    }
    case KN_SPEC_FLATTEN:
        kn_attrs_init(KN_OP_FLATTEN, &a);
        a.axis.axis = 1;
        if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
            return st;
        return kn_b_node(b, l->name, KN_OP_FLATTEN, &x, 1, *out, &a);
    case KN_SPEC_RESHAPE: return kn_b_reshape(b, l, x, out);
    case KN_SPEC_CONCAT: {
        int ins[KN_MAX_INPUTS];
        if (l->num_inputs > KN_MAX_INPUTS)
            return kn_error_set(b->err, KN_ERR_UNSUPPORTED, "concat '%s' has %d inputs; kiln allows %d", l->name,
                                l->num_inputs, KN_MAX_INPUTS);
        for (int i = 0; i < l->num_inputs; i++)
            ins[i] = b->value_of[l->inputs[i]];
        kn_attrs_init(KN_OP_CONCAT, &a);
        a.axis.axis = l->p.concat_axis;
        if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
            return st;
        return kn_b_node(b, l->name, KN_OP_CONCAT, ins, l->num_inputs, *out, &a);
    }
    case KN_SPEC_ADD:
    case KN_SPEC_MULTIPLY: return kn_b_merge(b, l, out);
    case KN_SPEC_BATCHNORM: return kn_b_batchnorm(b, l, x, out);
    case KN_SPEC_DROPOUT:
        kn_attrs_init(KN_OP_DROPOUT, &a);
        a.scalar.ratio = l->p.dropout_rate;
        if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
            return st;
        return kn_b_node(b, l->name, KN_OP_DROPOUT, &x, 1, *out, &a);
    case KN_SPEC_ACTIVATION:
        if (l->p.activation.kind == KN_SPEC_ACT_LINEAR) {
            kn_attrs_init(KN_OP_IDENTITY, &a);
            if ((st = kn_b_tmp(b, l->name, &l->shape, out)) != KN_OK)
                return st;
            return kn_b_node(b, l->name, KN_OP_IDENTITY, &x, 1, *out, &a);
        }
        return kn_b_activation(b, l, &l->p.activation, x, l->name, out);
    case KN_SPEC_LAYER_KIND_COUNT: break;
    }
    return kn_error_set(b->err, KN_ERR_UNSUPPORTED, "layer '%s': unknown kind", l->name);
}

kn_status kn_spec_build_graph(const kn_spec *spec, int index, kn_graph *graph, kn_error *err)
{
    kn_graph_init(graph);
    if (!spec || index < 0 || index >= spec->num_models)
        return kn_error_set(err, KN_ERR_NOT_FOUND, "%s: no model %d", spec && spec->name ? spec->name : "spec",
                            index);
    const kn_spec_model *m = &spec->models[index];
    if (!m->ok || spec->num_errors > 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: model '%s' has errors", spec->name, m->name);
    kn_builder b = {spec, m, graph, err, NULL};
    b.value_of = kn_xcalloc((size_t)m->num_layers, sizeof(int));
    graph->name = kn_strdup(m->name);
    if (!b.value_of || !graph->name) {
        free(b.value_of);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    kn_status st = KN_OK;
    for (int i = 0; i < m->num_layers && st == KN_OK; i++)
        st = kn_b_layer(&b, &m->layers[i], &b.value_of[i]);
    for (int i = 0; i < m->num_outputs && st == KN_OK; i++)
        st = kn_graph_add_output(graph, b.value_of[m->outputs[i]], err);
    for (int v = 0; v < graph->num_values; v++) /* which model of the file each weight belongs to */
        graph->values[v].model = index;
    if (st == KN_OK)
        st = kn_graph_verify(graph, true, err);
    free(b.value_of);
    if (st != KN_OK) {
        kn_error_prefix(err, "%s: model '%s'", spec->name, m->name);
        kn_graph_free(graph);
        kn_graph_init(graph);
    }
    return st;
}
