/* ops.c - the op table built from ops.def, and attribute defaults. */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "shape.h"

static const kn_op_info kn_op_table[KN_OP_COUNT] = {
#define KN_OP(e, nm, imin, imax, omin, omax, fz, sh, gr, fl) \
    [KN_OP_##e] = {.name = nm, .min_inputs = imin, .max_inputs = imax, .min_outputs = omin, \
                   .max_outputs = omax, .fuse = fz, .shape = sh, .grad = gr, .flags = fl},
#include "ops.def"
#undef KN_OP
};

const kn_op_info *kn_op_get(kn_op op)
{
    return &kn_op_table[op];
}

kn_op kn_op_from_name(const char *name)
{
    for (int i = 0; i < KN_OP_COUNT; i++)
        if (strcmp(kn_op_table[i].name, name) == 0)
            return (kn_op)i;
    return KN_OP_COUNT;
}

bool kn_op_is_unary_eltwise(kn_op op)
{
    return op < KN_OP_COUNT && (kn_op_table[op].flags & KN_OPF_UNARY_ELTWISE);
}

bool kn_op_writes_input(kn_op op, int slot)
{
    switch (op) {
    case KN_OP_BATCH_NORM_TRAIN: return slot == 3 || slot == 4;
    case KN_OP_SGD_UPDATE: return slot == 0;
    case KN_OP_MOMENTUM_UPDATE: return slot == 0 || slot == 2;
    case KN_OP_ADAM_UPDATE: return slot == 0 || slot == 2 || slot == 3;
    case KN_OP_RMSPROP_UPDATE: return slot == 0 || slot == 2;
    default: return false;
    }
}

bool kn_value_is_constant(const kn_graph *g, int id)
{
    if (id < 0 || id >= g->num_values)
        return false;
    const kn_value *v = &g->values[id];
    if (!v->data)
        return false;
    return v->kind == KN_VALUE_CONST || ((v->kind == KN_VALUE_PARAM || v->kind == KN_VALUE_STATE) && !g->variables);
}

void kn_attrs_init(kn_op op, kn_attrs *a)
{
    memset(a, 0, sizeof *a);
    switch (op) {
    case KN_OP_CONV:
    case KN_OP_CONV_TRANSPOSE:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
    case KN_OP_CONV_GRAD_WEIGHT:
    case KN_OP_MAX_POOL_GRAD:
    case KN_OP_AVERAGE_POOL_GRAD:
        for (int i = 0; i < KN_MAX_SPATIAL; i++) {
            a->window.stride[i] = 1;
            a->window.dilation[i] = 1;
        }
        a->window.group = 1;
        break;
    case KN_OP_GEMM:
        a->gemm.alpha = 1.0f;
        a->gemm.beta = 1.0f;
        break;
    case KN_OP_LEAKY_RELU:
        a->scalar.alpha = 0.01f;
        break;
    case KN_OP_ELU:
        a->scalar.alpha = 1.0f;
        break;
    case KN_OP_SELU: /* ONNX's defaults, to float32 */
        a->scalar.alpha = 1.67326319217681884765625f;
        a->scalar.beta = 1.05070102214813232421875f; /* gamma */
        break;
    case KN_OP_THRESHOLDED_RELU:
    case KN_OP_CELU:
        a->scalar.alpha = 1.0f;
        break;
    case KN_OP_HARD_SIGMOID:
        a->scalar.alpha = 0.2f;
        a->scalar.beta = 0.5f;
        break;
    case KN_OP_CLIP:
        a->scalar.min = -INFINITY;
        a->scalar.max = INFINITY;
        break;
    case KN_OP_DROPOUT:
        a->scalar.ratio = 0.5f;
        break;
    case KN_OP_SOFTMAX:
    case KN_OP_LOG_SOFTMAX:
        a->axis.axis = -1;
        break;
    case KN_OP_FLATTEN:
        a->axis.axis = 1;
        break;
    case KN_OP_BATCH_NORM:
    case KN_OP_BATCH_NORM_TRAIN:
        a->batch_norm.epsilon = 1e-5f;
        a->batch_norm.momentum = 0.9f;
        break;
    case KN_OP_LAYER_NORM:
        a->layer_norm.axis = -1;
        a->layer_norm.epsilon = 1e-5f;
        break;
    case KN_OP_INSTANCE_NORM:
        a->batch_norm.epsilon = 1e-5f;
        break;
    case KN_OP_LRN:
        a->lrn.alpha = 1e-4f;
        a->lrn.beta = 0.75f;
        a->lrn.bias = 1.0f;
        break;
    case KN_OP_REDUCE_MEAN: case KN_OP_REDUCE_SUM: case KN_OP_REDUCE_MAX: case KN_OP_REDUCE_MIN:
    case KN_OP_REDUCE_PROD: case KN_OP_REDUCE_L1: case KN_OP_REDUCE_L2: case KN_OP_REDUCE_LOG_SUM:
    case KN_OP_REDUCE_LOG_SUM_EXP: case KN_OP_REDUCE_SUM_SQUARE:
        a->reduce.keepdims = true;
        break;
    case KN_OP_ARG_MAX: case KN_OP_ARG_MIN:
        a->reduce.keepdims = true;
        a->reduce.naxes = 1;
        break;
    case KN_OP_DEPTH_TO_SPACE:
    case KN_OP_SPACE_TO_DEPTH:
        a->block.blocksize = 1;
        break;
    case KN_OP_RESIZE:
        a->resize.cubic_a = -0.75f;
        break;
    case KN_OP_CONSTANT_OF_SHAPE:
        a->dtype.to = KN_F32;
        a->dtype.value = 0.0;
        break;
    case KN_OP_DROPOUT_TRAIN:
    case KN_OP_DROPOUT_GRAD:
        a->dropout.ratio = 0.5f;
        break;
    case KN_OP_SOFTMAX_GRAD:
    case KN_OP_LOG_SOFTMAX_GRAD:
        a->axis.axis = -1;
        break;
    case KN_OP_SOFTMAX_CROSS_ENTROPY:
    case KN_OP_CROSS_ENTROPY:
    case KN_OP_BINARY_CROSS_ENTROPY:
    case KN_OP_BCE_WITH_LOGITS:
    case KN_OP_MSE_LOSS:
        a->loss.kind = op;
        a->loss.epsilon = 1e-7f;
        break;
    case KN_OP_LOSS_GRAD:
        a->loss.kind = KN_OP_MSE_LOSS;
        a->loss.epsilon = 1e-7f;
        break;
    case KN_OP_SGD_UPDATE:
    case KN_OP_MOMENTUM_UPDATE:
    case KN_OP_ADAM_UPDATE:
    case KN_OP_RMSPROP_UPDATE:
        a->optim.lr = op == KN_OP_ADAM_UPDATE || op == KN_OP_RMSPROP_UPDATE ? 1e-3f : 1e-2f;
        a->optim.rho = 0.9f;
        a->optim.momentum = 0.9f;
        a->optim.beta1 = 0.9f;
        a->optim.beta2 = 0.999f;
        a->optim.epsilon = 1e-7f;
        break;
    default:
        break;
    }
}
