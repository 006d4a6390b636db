/* ops.c - the op table built from ops.def, and attribute defaults. */
#include <math.h>
#include <string.h>

#include "shape.h"

static const kn_op_info kn_op_table[KN_OP_COUNT] = {
#define KN_OP(e, nm, imin, imax, omin, omax, fz, sh) \
    [KN_OP_##e] = {.name = nm, .min_inputs = imin, .max_inputs = imax, .min_outputs = omin, \
                   .max_outputs = omax, .fuse = fz, .shape = sh},
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
    switch (op) {
    case KN_OP_RELU: case KN_OP_LEAKY_RELU: case KN_OP_SIGMOID: case KN_OP_TANH: case KN_OP_CLIP:
    case KN_OP_HARD_SIGMOID: case KN_OP_HARD_SWISH: case KN_OP_SWISH: case KN_OP_ELU: case KN_OP_SQRT:
    case KN_OP_EXP: case KN_OP_ERF:
        return true;
    default:
        return false;
    }
}

void kn_attrs_init(kn_op op, kn_attrs *a)
{
    memset(a, 0, sizeof *a);
    switch (op) {
    case KN_OP_CONV:
    case KN_OP_CONV_TRANSPOSE:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
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
        a->batch_norm.epsilon = 1e-5f;
        a->batch_norm.momentum = 0.9f;
        break;
    case KN_OP_LRN:
        a->lrn.alpha = 1e-4f;
        a->lrn.beta = 0.75f;
        a->lrn.bias = 1.0f;
        break;
    case KN_OP_REDUCE_MEAN:
        a->reduce.keepdims = true;
        break;
    case KN_OP_CONSTANT_OF_SHAPE:
        a->dtype.to = KN_F32;
        a->dtype.value = 0.0;
        break;
    default:
        break;
    }
}
