/*
 * spec_layers.c - the layer table of the .kiln language: every layer with
 * its parameters (name, Keras alias, type, default), parameter resolution
 * for one layer call, and the layer shape rules (symbolic batch) with
 * parameter counts. Defaults follow Keras; docs/spec-language.md lists them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_priv.h"

typedef enum kn_ptype {
    KN_P_INT = 0,    /* int64_t, >= min */
    KN_P_FLOAT,      /* float, in [min, max] */
    KN_P_FRACTION,   /* float, in [0, 1) */
    KN_P_BOOL,       /* bool */
    KN_P_PAIR,       /* int64_t[2]: 3 or (3, 3), >= min */
    KN_P_PADDING,    /* kn_spec_padding */
    KN_P_ACT,        /* kn_spec_activation */
    KN_P_INIT,       /* kn_spec_init */
    KN_P_SHAPE,      /* kn_spec_reshape (rank, dims) */
    KN_P_DTYPE,      /* kn_dtype */
    KN_P_AXIS,       /* int64_t, may be negative */
    KN_P_PADS4,      /* int64_t[4] top, bottom, left, right: 1, (1, 2) (rows, columns) or ((1, 2), (3, 4)) */
    KN_P_INTERP      /* int: 0 nearest, 1 bilinear */
} kn_ptype;

typedef struct kn_param_def {
    const char *name;
    const char *alias;     /* the Keras spelling, accepted too */
    kn_ptype type;
    size_t offset;         /* into kn_spec_layer */
    const char *def;       /* default as written in a spec; NULL: required, or derived (see `derived`) */
    double min, max;
    bool derived;          /* no default text, but not required either */
    const char *help;      /* what it is, for "missing parameter" messages */
} kn_param_def;

typedef struct kn_layer_def {
    const char *name;
    kn_spec_layer_kind kind;
    kn_spec_act_kind act;  /* standalone activation layers */
    int positional;        /* leading parameters that may be given without a name */
    int min_inputs, max_inputs;   /* max -1: any */
    const kn_param_def *params;
    int num_params;
    const char *example;
} kn_layer_def;

#define OFF(member) offsetof(kn_spec_layer, member)
#define BIG 1e30

static const kn_param_def kn_p_input[] = {
    {"shape", NULL, KN_P_SHAPE, OFF(p.reshape), NULL, 1, 1 << 30, false, "the shape of one sample, without the batch"},
    {"dtype", NULL, KN_P_DTYPE, OFF(dtype), "float32", 0, 0, false, NULL},
};

static const kn_param_def kn_p_dense[] = {
    {"units", NULL, KN_P_INT, OFF(p.dense.units), NULL, 1, 1 << 30, false, "the number of output features"},
    {"activation", NULL, KN_P_ACT, OFF(p.dense.activation), "linear", 0, 0, false, NULL},
    {"use_bias", NULL, KN_P_BOOL, OFF(p.dense.use_bias), "true", 0, 0, false, NULL},
    {"kernel_initializer", NULL, KN_P_INIT, OFF(p.dense.kernel_init), "glorot_uniform", 0, 0, false, NULL},
    {"bias_initializer", NULL, KN_P_INIT, OFF(p.dense.bias_init), "zeros", 0, 0, false, NULL},
};

#define KN_CONV_COMMON                                                                                          \
    {"filters", NULL, KN_P_INT, OFF(p.conv.filters), NULL, 1, 1 << 20, false, "the number of output channels"},  \
    {"kernel", "kernel_size", KN_P_PAIR, OFF(p.conv.kernel), NULL, 1, 1 << 16, false, \
     "the kernel size"},                                                                                         \
    {"strides", "stride", KN_P_PAIR, OFF(p.conv.strides), "1", 1, 1 << 16, false, NULL},                         \
    {"padding", NULL, KN_P_PADDING, OFF(p.conv.padding), "valid", 0, 0, false, NULL}

static const kn_param_def kn_p_conv2d[] = {
    KN_CONV_COMMON,
    {"dilation", "dilation_rate", KN_P_PAIR, OFF(p.conv.dilation), "1", 1, 1 << 16, false, NULL},
    {"groups", NULL, KN_P_INT, OFF(p.conv.groups), "1", 1, 1 << 20, false, NULL},
    {"use_bias", NULL, KN_P_BOOL, OFF(p.conv.use_bias), "true", 0, 0, false, NULL},
    {"activation", NULL, KN_P_ACT, OFF(p.conv.activation), "linear", 0, 0, false, NULL},
    {"kernel_initializer", NULL, KN_P_INIT, OFF(p.conv.kernel_init), "glorot_uniform", 0, 0, false, NULL},
    {"bias_initializer", NULL, KN_P_INIT, OFF(p.conv.bias_init), "zeros", 0, 0, false, NULL},
};

static const kn_param_def kn_p_conv2d_transpose[] = {
    KN_CONV_COMMON,
    {"output_padding", NULL, KN_P_PAIR, OFF(p.conv.output_padding), NULL, 0, 1 << 16, true, NULL},
    {"dilation", "dilation_rate", KN_P_PAIR, OFF(p.conv.dilation), "1", 1, 1 << 16, false, NULL},
    {"use_bias", NULL, KN_P_BOOL, OFF(p.conv.use_bias), "true", 0, 0, false, NULL},
    {"activation", NULL, KN_P_ACT, OFF(p.conv.activation), "linear", 0, 0, false, NULL},
    {"kernel_initializer", NULL, KN_P_INIT, OFF(p.conv.kernel_init), "glorot_uniform", 0, 0, false, NULL},
    {"bias_initializer", NULL, KN_P_INIT, OFF(p.conv.bias_init), "zeros", 0, 0, false, NULL},
};

#define KN_DEPTHWISE_COMMON                                                                                     \
    {"strides", "stride", KN_P_PAIR, OFF(p.conv.strides), "1", 1, 1 << 16, false, NULL},                         \
    {"padding", NULL, KN_P_PADDING, OFF(p.conv.padding), "valid", 0, 0, false, NULL},                            \
    {"depth_multiplier", NULL, KN_P_INT, OFF(p.conv.depth_multiplier), "1", 1, 1 << 16, false, NULL},           \
    {"dilation", "dilation_rate", KN_P_PAIR, OFF(p.conv.dilation), "1", 1, 1 << 16, false, NULL},               \
    {"use_bias", NULL, KN_P_BOOL, OFF(p.conv.use_bias), "true", 0, 0, false, NULL},                              \
    {"activation", NULL, KN_P_ACT, OFF(p.conv.activation), "linear", 0, 0, false, NULL},                         \
    {"depthwise_initializer", NULL, KN_P_INIT, OFF(p.conv.kernel_init), "glorot_uniform", 0, 0, false, NULL},    \
    {"bias_initializer", NULL, KN_P_INIT, OFF(p.conv.bias_init), "zeros", 0, 0, false, NULL}

static const kn_param_def kn_p_depthwise_conv2d[] = {
    {"kernel", "kernel_size", KN_P_PAIR, OFF(p.conv.kernel), NULL, 1, 1 << 16, false, "the kernel size"},
    KN_DEPTHWISE_COMMON,
};

static const kn_param_def kn_p_separable_conv2d[] = {
    {"filters", NULL, KN_P_INT, OFF(p.conv.filters), NULL, 1, 1 << 20, false, "the number of output channels"},
    {"kernel", "kernel_size", KN_P_PAIR, OFF(p.conv.kernel), NULL, 1, 1 << 16, false, "the kernel size"},
    KN_DEPTHWISE_COMMON,
    {"pointwise_initializer", NULL, KN_P_INIT, OFF(p.conv.pointwise_init), "glorot_uniform", 0, 0, false, NULL},
};

static const kn_param_def kn_p_zero_padding2d[] = {
    {"padding", NULL, KN_P_PADS4, OFF(p.pads), "1", 0, 1 << 16, false, NULL},
};

static const kn_param_def kn_p_cropping2d[] = {
    {"cropping", NULL, KN_P_PADS4, OFF(p.pads), "0", 0, 1 << 16, false, NULL},
};

static const kn_param_def kn_p_prelu[] = {
    {"alpha_initializer", NULL, KN_P_INIT, OFF(p.prelu.alpha_init), "zeros", 0, 0, false, NULL},
    {"shared_axes", NULL, KN_P_SHAPE, OFF(p.prelu.shared_axes), NULL, 1, KN_MAX_RANK - 1, true, NULL},
};

static const kn_param_def kn_p_relu[] = {
    {"max_value", NULL, KN_P_FLOAT, OFF(p.activation.alpha), NULL, 0, BIG, true, NULL},
};

static const kn_param_def kn_p_pool[] = {
    {"pool", "pool_size", KN_P_PAIR, OFF(p.pool.pool), "2", 1, 1 << 16, false, NULL},
    {"strides", "stride", KN_P_PAIR, OFF(p.pool.strides), NULL, 1, 1 << 16, true, NULL},
    {"padding", NULL, KN_P_PADDING, OFF(p.pool.padding), "valid", 0, 0, false, NULL},
};

static const kn_param_def kn_p_global_avgpool[] = {
    {"keepdims", NULL, KN_P_BOOL, OFF(p.keepdims), "false", 0, 0, false, NULL},
};

static const kn_param_def kn_p_reshape[] = {
    {"shape", "target_shape", KN_P_SHAPE, OFF(p.reshape), NULL, -1, 1 << 30, false,
     "the target shape without the batch, e.g. (7, 7, 256)"},
};

static const kn_param_def kn_p_concat[] = {
    {"axis", NULL, KN_P_AXIS, OFF(p.concat_axis), "1", -KN_MAX_RANK, KN_MAX_RANK - 1, false, NULL},
};

static const kn_param_def kn_p_batchnorm[] = {
    {"axis", NULL, KN_P_AXIS, OFF(p.batchnorm.axis), "1", -KN_MAX_RANK, KN_MAX_RANK - 1, false, NULL},
    {"momentum", NULL, KN_P_FRACTION, OFF(p.batchnorm.momentum), "0.99", 0, 1, false, NULL},
    {"epsilon", NULL, KN_P_FLOAT, OFF(p.batchnorm.epsilon), "0.001", 0, 1, false, NULL},
    {"center", NULL, KN_P_BOOL, OFF(p.batchnorm.center), "true", 0, 0, false, NULL},
    {"scale", NULL, KN_P_BOOL, OFF(p.batchnorm.scale), "true", 0, 0, false, NULL},
    {"beta_initializer", NULL, KN_P_INIT, OFF(p.batchnorm.beta_init), "zeros", 0, 0, false, NULL},
    {"gamma_initializer", NULL, KN_P_INIT, OFF(p.batchnorm.gamma_init), "ones", 0, 0, false, NULL},
    {"moving_mean_initializer", NULL, KN_P_INIT, OFF(p.batchnorm.mean_init), "zeros", 0, 0, false, NULL},
    {"moving_variance_initializer", NULL, KN_P_INIT, OFF(p.batchnorm.variance_init), "ones", 0, 0, false, NULL},
};

static const kn_param_def kn_p_dropout[] = {
    {"rate", NULL, KN_P_FRACTION, OFF(p.dropout_rate), NULL, 0, 1, false, "the fraction of inputs to drop"},
};

static const kn_param_def kn_p_leaky_relu[] = {
    {"alpha", "negative_slope", KN_P_FLOAT, OFF(p.activation.alpha), "0.3", 0, BIG, false, NULL},
};

static const kn_param_def kn_p_elu[] = {
    {"alpha", NULL, KN_P_FLOAT, OFF(p.activation.alpha), "1.0", 0, BIG, false, NULL},
};

static const kn_param_def kn_p_softmax[] = {
    {"axis", NULL, KN_P_AXIS, OFF(p.activation.axis), "-1", -KN_MAX_RANK, KN_MAX_RANK - 1, false, NULL},
};

static const kn_param_def kn_p_gelu[] = {
    {"approximate", NULL, KN_P_BOOL, OFF(p.activation.approximate), "false", 0, 0, false, NULL},
};

static const kn_param_def kn_p_upsampling2d[] = {
    {"size", NULL, KN_P_PAIR, OFF(p.upsampling.size), "2", 1, 1 << 16, false, NULL},
    {"interpolation", NULL, KN_P_INTERP, OFF(p.upsampling.interpolation), "nearest", 0, 0, false, NULL},
};

static const kn_param_def kn_p_layer_norm[] = {
    {"axis", NULL, KN_P_AXIS, OFF(p.layer_norm.axis), NULL, -KN_MAX_RANK, KN_MAX_RANK - 1, true, NULL},
    {"epsilon", NULL, KN_P_FLOAT, OFF(p.layer_norm.epsilon), "0.001", 0, 1, false, NULL},
    {"center", NULL, KN_P_BOOL, OFF(p.layer_norm.center), "true", 0, 0, false, NULL},
    {"scale", NULL, KN_P_BOOL, OFF(p.layer_norm.scale), "true", 0, 0, false, NULL},
    {"beta_initializer", NULL, KN_P_INIT, OFF(p.layer_norm.beta_init), "zeros", 0, 0, false, NULL},
    {"gamma_initializer", NULL, KN_P_INIT, OFF(p.layer_norm.gamma_init), "ones", 0, 0, false, NULL},
};

static const kn_param_def kn_p_activation[] = {
    {"activation", NULL, KN_P_ACT, OFF(p.activation), NULL, 0, 0, false, "the activation, e.g. activation(relu)"},
};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))
static const kn_layer_def kn_layers[] = {
    {"input", KN_SPEC_INPUT, 0, 1, 0, 0, kn_p_input, N(kn_p_input), "x = input(shape=(1, 28, 28))"},
    {"dense", KN_SPEC_DENSE, 0, 1, 1, 1, kn_p_dense, N(kn_p_dense), "dense(128, activation=relu)"},
    {"conv2d", KN_SPEC_CONV2D, 0, 2, 1, 1, kn_p_conv2d, N(kn_p_conv2d), "conv2d(32, 3, activation=relu)"},
    {"conv2d_transpose", KN_SPEC_CONV2D_TRANSPOSE, 0, 2, 1, 1, kn_p_conv2d_transpose, N(kn_p_conv2d_transpose),
     "conv2d_transpose(64, 5, strides=2, padding=same)"},
    {"maxpool2d", KN_SPEC_MAXPOOL2D, 0, 1, 1, 1, kn_p_pool, N(kn_p_pool), "maxpool2d(2)"},
    {"avgpool2d", KN_SPEC_AVGPOOL2D, 0, 1, 1, 1, kn_p_pool, N(kn_p_pool), "avgpool2d(2)"},
    {"global_avgpool", KN_SPEC_GLOBAL_AVGPOOL, 0, 0, 1, 1, kn_p_global_avgpool, N(kn_p_global_avgpool),
     "global_avgpool()"},
    {"flatten", KN_SPEC_FLATTEN, 0, 0, 1, 1, NULL, 0, "flatten()"},
    {"reshape", KN_SPEC_RESHAPE, 0, 1, 1, 1, kn_p_reshape, N(kn_p_reshape), "reshape((256, 7, 7))"},
    {"concat", KN_SPEC_CONCAT, 0, 0, 2, -1, kn_p_concat, N(kn_p_concat), "concat(a, b)"},
    {"add", KN_SPEC_ADD, 0, 0, 2, -1, NULL, 0, "add(a, b)"},
    {"multiply", KN_SPEC_MULTIPLY, 0, 0, 2, -1, NULL, 0, "multiply(a, b)"},
    {"batchnorm", KN_SPEC_BATCHNORM, 0, 0, 1, 1, kn_p_batchnorm, N(kn_p_batchnorm), "batchnorm()"},
    {"dropout", KN_SPEC_DROPOUT, 0, 1, 1, 1, kn_p_dropout, N(kn_p_dropout), "dropout(0.25)"},
    {"relu", KN_SPEC_ACTIVATION, KN_SPEC_ACT_RELU, 1, 1, 1, kn_p_relu, N(kn_p_relu), "relu(max_value=6)"},
    {"leaky_relu", KN_SPEC_ACTIVATION, KN_SPEC_ACT_LEAKY_RELU, 1, 1, 1, kn_p_leaky_relu, N(kn_p_leaky_relu),
     "leaky_relu(0.2)"},
    {"sigmoid", KN_SPEC_ACTIVATION, KN_SPEC_ACT_SIGMOID, 0, 1, 1, NULL, 0, "sigmoid()"},
    {"tanh", KN_SPEC_ACTIVATION, KN_SPEC_ACT_TANH, 0, 1, 1, NULL, 0, "tanh()"},
    {"softmax", KN_SPEC_ACTIVATION, KN_SPEC_ACT_SOFTMAX, 0, 1, 1, kn_p_softmax, N(kn_p_softmax), "softmax()"},
    {"elu", KN_SPEC_ACTIVATION, KN_SPEC_ACT_ELU, 1, 1, 1, kn_p_elu, N(kn_p_elu), "elu()"},
    {"hard_swish", KN_SPEC_ACTIVATION, KN_SPEC_ACT_HARD_SWISH, 0, 1, 1, NULL, 0, "hard_swish()"},
    {"activation", KN_SPEC_ACTIVATION, KN_SPEC_ACT_LINEAR, 1, 1, 1, kn_p_activation, N(kn_p_activation),
     "activation(relu)"},
    {"swish", KN_SPEC_ACTIVATION, KN_SPEC_ACT_SWISH, 0, 1, 1, NULL, 0, "swish()"},
    {"relu6", KN_SPEC_ACTIVATION, KN_SPEC_ACT_RELU6, 0, 1, 1, NULL, 0, "relu6()"},
    {"hard_sigmoid", KN_SPEC_ACTIVATION, KN_SPEC_ACT_HARD_SIGMOID, 0, 1, 1, NULL, 0, "hard_sigmoid()"},
    {"global_maxpool", KN_SPEC_GLOBAL_MAXPOOL, 0, 0, 1, 1, kn_p_global_avgpool, N(kn_p_global_avgpool),
     "global_maxpool()"},
    {"zero_padding2d", KN_SPEC_ZERO_PADDING2D, 0, 1, 1, 1, kn_p_zero_padding2d, N(kn_p_zero_padding2d),
     "zero_padding2d((1, 2))"},
    {"cropping2d", KN_SPEC_CROPPING2D, 0, 1, 1, 1, kn_p_cropping2d, N(kn_p_cropping2d), "cropping2d(((2, 2), (4, 4)))"},
    {"depthwise_conv2d", KN_SPEC_DEPTHWISE_CONV2D, 0, 1, 1, 1, kn_p_depthwise_conv2d, N(kn_p_depthwise_conv2d),
     "depthwise_conv2d(3, padding=same)"},
    {"separable_conv2d", KN_SPEC_SEPARABLE_CONV2D, 0, 2, 1, 1, kn_p_separable_conv2d, N(kn_p_separable_conv2d),
     "separable_conv2d(64, 3, padding=same)"},
    {"prelu", KN_SPEC_PRELU, 0, 0, 1, 1, kn_p_prelu, N(kn_p_prelu), "prelu(shared_axes=(2, 3))"},
    {"gelu", KN_SPEC_ACTIVATION, KN_SPEC_ACT_GELU, 0, 1, 1, kn_p_gelu, N(kn_p_gelu), "gelu()"},
    {"upsampling2d", KN_SPEC_UPSAMPLING2D, 0, 1, 1, 1, kn_p_upsampling2d, N(kn_p_upsampling2d),
     "upsampling2d((2, 2), interpolation=bilinear)"},
    {"layer_norm", KN_SPEC_LAYER_NORM, 0, 0, 1, 1, kn_p_layer_norm, N(kn_p_layer_norm), "layer_norm()"},
};
#define KN_NUM_LAYERS N(kn_layers)

const char *const kn_spec_layer_names[] = {
    "input",   "dense",  "conv2d",    "conv2d_transpose", "maxpool2d", "avgpool2d", "global_avgpool", "flatten",
    "reshape", "concat", "add",       "multiply",         "batchnorm", "dropout",   "relu",           "leaky_relu",
    "sigmoid", "tanh",   "softmax",   "elu",              "hard_swish", "activation", "swish", "relu6",
    "hard_sigmoid", "global_maxpool", "zero_padding2d", "cropping2d", "depthwise_conv2d", "separable_conv2d", "prelu",
    "gelu", "upsampling2d", "layer_norm", NULL};

/* Keras and PyTorch spellings, suggested when a spec uses them. */
static const struct {
    const char *other, *kiln;
} kn_layer_hints[] = {
    {"Dense", "dense"},
    {"Linear", "dense"},
    {"Conv2D", "conv2d"},
    {"Conv2d", "conv2d"},
    {"Conv2DTranspose", "conv2d_transpose"},
    {"ConvTranspose2d", "conv2d_transpose"},
    {"deconv2d", "conv2d_transpose"},
    {"MaxPooling2D", "maxpool2d"},
    {"MaxPool2d", "maxpool2d"},
    {"max_pooling2d", "maxpool2d"},
    {"AveragePooling2D", "avgpool2d"},
    {"AvgPool2d", "avgpool2d"},
    {"GlobalAveragePooling2D", "global_avgpool"},
    {"AdaptiveAvgPool2d", "global_avgpool"},
    {"global_average_pooling2d", "global_avgpool"},
    {"Flatten", "flatten"},
    {"Reshape", "reshape"},
    {"view", "reshape"},
    {"Concatenate", "concat"},
    {"concatenate", "concat"},
    {"cat", "concat"},
    {"Add", "add"},
    {"Multiply", "multiply"},
    {"mul", "multiply"},
    {"BatchNormalization", "batchnorm"},
    {"BatchNorm2d", "batchnorm"},
    {"BatchNorm1d", "batchnorm"},
    {"batch_normalization", "batchnorm"},
    {"Dropout", "dropout"},
    {"ReLU", "relu"},
    {"LeakyReLU", "leaky_relu"},
    {"Sigmoid", "sigmoid"},
    {"Tanh", "tanh"},
    {"Softmax", "softmax"},
    {"ELU", "elu"},
    {"Hardswish", "hard_swish"},
    {"Input", "input"},
    {"InputLayer", "input"},
    {"Activation", "activation"},
    {"GlobalMaxPooling2D", "global_maxpool"},
    {"global_max_pooling2d", "global_maxpool"},
    {"AdaptiveMaxPool2d", "global_maxpool"},
    {"ZeroPadding2D", "zero_padding2d"},
    {"ZeroPad2d", "zero_padding2d"},
    {"Cropping2D", "cropping2d"},
    {"DepthwiseConv2D", "depthwise_conv2d"},
    {"SeparableConv2D", "separable_conv2d"},
    {"PReLU", "prelu"},
    {"ReLU6", "relu6"},
    {"silu", "swish"},
    {"SiLU", "swish"},
    {"Hardsigmoid", "hard_sigmoid"},
    {"GELU", "gelu"},
    {"LayerNormalization", "layer_norm"},
    {"LayerNorm", "layer_norm"},
    {"layer_normalization", "layer_norm"},
    {"UpSampling2D", "upsampling2d"},
    {"Upsample", "upsampling2d"},
    {"up_sampling2d", "upsampling2d"},
};

/* Keras layers and activations kiln does not have (yet), with the nearest thing it has. */
static const struct {
    const char *name, *instead;
} kn_unsupported[] = {
    {"LSTM", "kiln has no recurrent layers (no LSTM, GRU or SimpleRNN op)"},
    {"GRU", "kiln has no recurrent layers (no LSTM, GRU or SimpleRNN op)"},
    {"SimpleRNN", "kiln has no recurrent layers (no LSTM, GRU or SimpleRNN op)"},
};

/* What to use instead of a Keras layer or activation kiln does not have; NULL for another name. */
static const char *kn_unsupported_hint(const char *name)
{
    for (size_t i = 0; i < sizeof kn_unsupported / sizeof kn_unsupported[0]; i++)
        if (strcmp(name, kn_unsupported[i].name) == 0)
            return kn_unsupported[i].instead;
    return NULL;
}

static const kn_layer_def *kn_layer_find(const char *name)
{
    for (int i = 0; i < KN_NUM_LAYERS; i++)
        if (strcmp(kn_layers[i].name, name) == 0)
            return &kn_layers[i];
    return NULL;
}

bool kn_spec_is_layer(const char *name)
{
    return name && kn_layer_find(name) != NULL;
}

bool kn_spec_layer_is_merge(const char *name)
{
    const kn_layer_def *d = name ? kn_layer_find(name) : NULL;
    return d && d->max_inputs < 0;
}

/* " (did you mean 'conv2d'?)" for an unknown layer name. */
static const char *kn_layer_hint(const char *name, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof kn_layer_hints / sizeof kn_layer_hints[0]; i++)
        if (strcmp(name, kn_layer_hints[i].other) == 0) {
            snprintf(buf, len, " (did you mean '%s'?)", kn_layer_hints[i].kiln);
            return buf;
        }
    return kn_spec_did_you_mean(name, kn_spec_layer_names, buf, len);
}

/* ------------------------------------------------------- activations */

static const char *const kn_act_names[] = {"linear", "relu",       "leaky_relu", "sigmoid",      "tanh", "softmax",
                                           "elu",    "hard_swish", "swish",      "relu6",        "hard_sigmoid",
                                           "gelu",   NULL};
static const char *const kn_act_hints[] = {"silu", "swish", "SiLU", "swish", "ReLU6", "relu6", "hardsigmoid",
                                           "hard_sigmoid", "hard_silu", "hard_swish", "GELU", "gelu", NULL};

const char *kn_spec_act_name(kn_spec_act_kind kind)
{
    return kind <= KN_SPEC_ACT_GELU ? kn_act_names[kind] : "?";
}

static void kn_act_defaults(kn_spec_activation *a)
{
    a->alpha = a->kind == KN_SPEC_ACT_LEAKY_RELU ? 0.3f : a->kind == KN_SPEC_ACT_RELU6 ? 6.0f : 1.0f;
    a->axis = -1;
}

static bool kn_get_activation(kn_spec *spec, const kn_ast *v, const char *what, kn_spec_activation *out)
{
    const char *name = v->kind == KN_AST_STRING ? v->text : kn_ast_call_name(v);
    char b[128];
    if (!name) {
        KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected an activation such as relu for '%s', got %s", what,
                    kn_ast_describe(v, b, sizeof b));
        return false;
    }
    kn_spec_loc loc = v->kind == KN_AST_CALL ? v->callee->loc : v->loc;
    int kind = -1;
    if (strcmp(name, "none") == 0 || strcmp(name, "None") == 0)
        kind = KN_SPEC_ACT_LINEAR;
    for (int i = 0; kind < 0 && kn_act_names[i]; i++)
        if (strcmp(name, kn_act_names[i]) == 0)
            kind = i;
    if (kind < 0) {
        char hint[96];
        const char *instead = kn_unsupported_hint(name);
        if (instead) {
            KN_SPEC_ERR(spec, KN_ERR_UNSUPPORTED, loc, "activation '%.60s' is not supported; %s", name, instead);
            return false;
        }
        hint[0] = '\0';
        for (int i = 0; kn_act_hints[i]; i += 2)
            if (strcmp(name, kn_act_hints[i]) == 0)
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", kn_act_hints[i + 1]);
        KN_SPEC_ERR(spec, KN_ERR_PARSE, loc,
                    "unknown activation '%.60s'%s; expected linear, relu, leaky_relu, sigmoid, tanh, softmax, elu, "
                    "hard_swish, swish, relu6, hard_sigmoid or gelu",
                    name, hint[0] ? hint : kn_spec_did_you_mean(name, kn_act_names, hint, sizeof hint));
        return false;
    }
    kn_spec_activation a = {.kind = (kn_spec_act_kind)kind};
    kn_act_defaults(&a);
    if (v->kind == KN_AST_CALL) {
        const char *pname = kind == KN_SPEC_ACT_SOFTMAX ? "axis"
                            : kind == KN_SPEC_ACT_GELU ? "approximate"
                            : (kind == KN_SPEC_ACT_LEAKY_RELU || kind == KN_SPEC_ACT_ELU) ? "alpha"
                                                                                           : NULL;
        for (int i = 0; i < v->nargs; i++) {
            const kn_ast_arg *arg = &v->args[i];
            bool match = pname && (!arg->name || strcmp(arg->name, pname) == 0 ||
                                   (kind == KN_SPEC_ACT_LEAKY_RELU && strcmp(arg->name, "negative_slope") == 0));
            if (!match || i > 0) {
                if (!pname)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, arg->name ? arg->name_loc : arg->value->loc,
                                "activation '%s' takes no parameters", name);
                else
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, arg->name ? arg->name_loc : arg->value->loc,
                                "activation '%s' takes one parameter, '%s'", name, pname);
                return false;
            }
            if (kind == KN_SPEC_ACT_SOFTMAX) {
                if (!kn_spec_get_int(spec, arg->value, "axis", -KN_MAX_RANK, KN_MAX_RANK - 1, &a.axis))
                    return false;
            } else if (kind == KN_SPEC_ACT_GELU) {
                if (!kn_spec_get_bool(spec, arg->value, "approximate", &a.approximate))
                    return false;
                if (a.approximate) {
                    KN_SPEC_ERR(spec, KN_ERR_UNSUPPORTED, arg->value->loc,
                                "gelu(approximate=true), the tanh form, is not supported: kiln's gelu is the exact "
                                "erf form, Keras's default (approximate=False); remove approximate=");
                    return false;
                }
            } else {
                double x;
                if (!kn_spec_get_float(spec, arg->value, pname, 0, BIG, &x))
                    return false;
                a.alpha = (float)x;
            }
        }
    }
    *out = a;
    return true;
}

/* ------------------------------------------------------- parameters */

static const char *const kn_padding_names[] = {"valid", "same", NULL};
static const char *const kn_dtype_names[] = {"float32", NULL};

/* Store value v of parameter pd into the layer. */
static bool kn_param_set(kn_spec *spec, const kn_param_def *pd, const kn_ast *v, kn_spec_layer *layer)
{
    void *dst = (char *)layer + pd->offset;
    switch (pd->type) {
    case KN_P_INT: {
        int64_t x;
        if (!kn_spec_get_int(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, &x))
            return false;
        *(int64_t *)dst = x;
        return true;
    }
    case KN_P_AXIS: {
        int64_t x;
        if (!kn_spec_get_int(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, &x))
            return false;
        *(int64_t *)dst = x;
        return true;
    }
    case KN_P_FLOAT: {
        double x;
        if (!kn_spec_get_float(spec, v, pd->name, pd->min, pd->max, &x))
            return false;
        *(float *)dst = (float)x;
        return true;
    }
    case KN_P_FRACTION: {
        double x;
        if (!kn_spec_get_fraction(spec, v, pd->name, &x))
            return false;
        *(float *)dst = (float)x;
        return true;
    }
    case KN_P_BOOL: return kn_spec_get_bool(spec, v, pd->name, (bool *)dst);
    case KN_P_PAIR: {
        int64_t dims[2];
        int rank = 0;
        if (v->kind == KN_AST_TUPLE && v->nargs != 2) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected an integer or a pair like (3, 3) for '%s', got %d values",
                        pd->name, v->nargs);
            return false;
        }
        if (v->kind != KN_AST_TUPLE && v->kind != KN_AST_NUMBER) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected an integer or a pair like (3, 3) for '%s', got %s",
                        pd->name, kn_ast_describe(v, b, sizeof b));
            return false;
        }
        if (!kn_spec_get_shape(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, 2, dims, &rank))
            return false;
        int64_t *out = dst;
        out[0] = dims[0];
        out[1] = rank == 2 ? dims[1] : dims[0];
        return true;
    }
    case KN_P_INTERP: {
        static const char *const names[] = {"nearest", "bilinear", NULL};
        return kn_spec_get_enum(spec, v, pd->name, names, (int *)dst);
    }
    case KN_P_PADDING: {
        int idx;
        if (!kn_spec_get_enum(spec, v, pd->name, kn_padding_names, &idx))
            return false;
        *(kn_spec_padding *)dst = (kn_spec_padding)idx;
        return true;
    }
    case KN_P_DTYPE: {
        int idx;
        if (!kn_spec_get_enum(spec, v, pd->name, kn_dtype_names, &idx))
            return false;
        *(kn_dtype *)dst = KN_F32;
        return true;
    }
    case KN_P_ACT: return kn_get_activation(spec, v, pd->name, (kn_spec_activation *)dst);
    case KN_P_INIT: return kn_spec_get_init(spec, v, pd->name, (kn_spec_init *)dst);
    case KN_P_PADS4: {
        /* 1 | (rows, columns) | ((top, bottom), (left, right)), as Keras's ZeroPadding2D and Cropping2D */
        int64_t *out = dst, dims[2];
        int rank = 0;
        if (v->kind == KN_AST_TUPLE && v->nargs == 2 && v->args[0].value->kind == KN_AST_TUPLE) {
            for (int k = 0; k < 2; k++) {
                const kn_ast *e = v->args[k].value;
                if (e->kind != KN_AST_TUPLE || e->nargs != 2 ||
                    !kn_spec_get_shape(spec, e, pd->name, (int64_t)pd->min, (int64_t)pd->max, 2, dims, &rank)) {
                    if (e->kind != KN_AST_TUPLE || e->nargs != 2)
                        KN_SPEC_ERR(spec, KN_ERR_PARSE, e->loc, "'%s' takes ((top, bottom), (left, right))", pd->name);
                    return false;
                }
                out[2 * k] = dims[0];
                out[2 * k + 1] = dims[1];
            }
            return true;
        }
        if ((v->kind == KN_AST_TUPLE && v->nargs != 2) || (v->kind != KN_AST_TUPLE && v->kind != KN_AST_NUMBER)) {
            char b[128];
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "expected an integer, (rows, columns) or ((top, bottom), (left, "
                        "right)) for '%s', got %s", pd->name, kn_ast_describe(v, b, sizeof b));
            return false;
        }
        if (!kn_spec_get_shape(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, 2, dims, &rank))
            return false;
        out[0] = out[1] = dims[0];
        out[2] = out[3] = rank == 2 ? dims[1] : dims[0];
        return true;
    }
    case KN_P_SHAPE: {
        kn_spec_reshape *r = dst;
        int64_t dims[KN_MAX_RANK];
        int rank = 0;
        if (v->kind == KN_AST_NUMBER) {
            if (!kn_spec_get_shape(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, 1, dims, &rank))
                return false;
        } else if (!kn_spec_get_shape(spec, v, pd->name, (int64_t)pd->min, (int64_t)pd->max, KN_MAX_RANK - 1, dims,
                                      &rank)) {
            return false;
        }
        int unknown = 0;
        for (int i = 0; i < rank; i++)
            unknown += dims[i] == -1;
        if (unknown > 1) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, v->loc, "'%s' may contain at most one -1, got %d", pd->name, unknown);
            return false;
        }
        r->rank = rank;
        memcpy(r->dims, dims, sizeof(int64_t) * (size_t)rank);
        return true;
    }
    }
    return false;
}

/* Apply the default text of pd (a number, true/false or a name). */
static void kn_param_default(const kn_param_def *pd, kn_spec_layer *layer)
{
    void *dst = (char *)layer + pd->offset;
    const char *d = pd->def;
    switch (pd->type) {
    case KN_P_INT:
    case KN_P_AXIS: *(int64_t *)dst = strtoll(d, NULL, 10); break;
    case KN_P_FLOAT:
    case KN_P_FRACTION: *(float *)dst = strtof(d, NULL); break;
    case KN_P_BOOL: *(bool *)dst = strcmp(d, "true") == 0; break;
    case KN_P_PAIR: ((int64_t *)dst)[0] = ((int64_t *)dst)[1] = strtoll(d, NULL, 10); break;
    case KN_P_PADS4:
        for (int k = 0; k < 4; k++)
            ((int64_t *)dst)[k] = strtoll(d, NULL, 10);
        break;
    case KN_P_PADDING: *(kn_spec_padding *)dst = strcmp(d, "same") == 0 ? KN_SPEC_PAD_SAME : KN_SPEC_PAD_VALID; break;
    case KN_P_DTYPE: *(kn_dtype *)dst = KN_F32; break;
    case KN_P_INTERP: *(int *)dst = strcmp(d, "bilinear") == 0; break;
    case KN_P_ACT: {
        kn_spec_activation *a = dst;
        memset(a, 0, sizeof *a);
        for (int i = 0; kn_act_names[i]; i++)
            if (strcmp(d, kn_act_names[i]) == 0)
                a->kind = (kn_spec_act_kind)i;
        kn_act_defaults(a);
        break;
    }
    case KN_P_INIT: {
        kn_spec_init *in = dst;
        memset(in, 0, sizeof *in);
        for (int i = 0; i < KN_SPEC_INIT_KIND_COUNT; i++)
            if (strcmp(d, kn_spec_init_name((kn_spec_init_kind)i)) == 0)
                in->kind = (kn_spec_init_kind)i;
        break;
    }
    case KN_P_SHAPE: break;
    }
}

/* "units, activation, use_bias, ..." */
static const char *kn_param_list(const kn_layer_def *def, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < def->num_params && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", def->params[i].name);
    return buf;
}

bool kn_spec_layer_resolve(kn_spec_layer_ctx *ctx, const kn_ast *call, kn_spec_layer *layer)
{
    kn_spec *spec = ctx->spec;
    const char *name = kn_ast_call_name(call);
    kn_spec_loc loc = call->kind == KN_AST_CALL ? call->callee->loc : call->loc;
    const kn_layer_def *def = name ? kn_layer_find(name) : NULL;
    const char *instead = name && !def ? kn_unsupported_hint(name) : NULL;
    if (instead) {
        KN_SPEC_ERR(spec, KN_ERR_UNSUPPORTED, loc, "layer '%.60s' is not supported; %s", name, instead);
        return false;
    }
    if (!def) {
        char hint[96];
        KN_SPEC_ERR(spec, KN_ERR_PARSE, loc, "unknown layer '%.60s'%s", name ? name : "?",
                    kn_layer_hint(name ? name : "", hint, sizeof hint));
        return false;
    }
    layer->kind = def->kind;
    layer->type = def->name;
    layer->dtype = KN_F32;
    if (def->kind == KN_SPEC_ACTIVATION) {
        layer->p.activation.kind = def->act;
        kn_act_defaults(&layer->p.activation);
    }
    bool ok = true, named_seen = false, unknown_param = false, late_positional = false;
    int pos = 0;
    unsigned given = 0;
    const kn_param_def *pd;
    char list[512], hint[96];
    for (int i = 0; call->kind == KN_AST_CALL && i < call->nargs; i++) {
        const kn_ast_arg *a = &call->args[i];
        int idx = -1;
        if (!a->name) {
            if (def->max_inputs < 0) {
                bool names_only = a->value->kind == KN_AST_IDENT;
                if (a->value->kind == KN_AST_TUPLE) { /* the list form, add([a, b]) */
                    names_only = a->value->nargs > 0;
                    for (int k = 0; k < a->value->nargs; k++)
                        names_only &= a->value->args[k].value->kind == KN_AST_IDENT;
                }
                if (!names_only) {
                    char b[128];
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                                "%s takes the names of the layers it combines, e.g. %s; got %s", def->name,
                                def->example, kn_ast_describe(a->value, b, sizeof b));
                    ok = false;
                }
                continue; /* an input: the model checker resolves it */
            }
            if (named_seen) {
                KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                            "a positional argument cannot follow named ones; write it as name=value");
                ok = false;
                late_positional = true;
                continue;
            }
            if (pos >= def->positional) {
                if (def->num_params == 0)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc, "%s takes no arguments, e.g. %s", def->name,
                                def->example);
                else if (def->positional == 0)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                                "%s takes no positional arguments; name them, e.g. %s=...", def->name,
                                def->params[0].name);
                else if (def->positional == 1)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                                "%s takes 1 positional argument (%s); name the others, e.g. %s", def->name,
                                def->params[0].name, def->example);
                else
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->value->loc,
                                "%s takes %d positional arguments (%s, %s); name the others, e.g. %s", def->name,
                                def->positional, def->params[0].name, def->params[1].name, def->example);
                ok = false;
                continue;
            }
            idx = pos++;
        } else {
            named_seen = true;
            for (int k = 0; k < def->num_params; k++)
                if (strcmp(a->name, def->params[k].name) == 0 ||
                    (def->params[k].alias && strcmp(a->name, def->params[k].alias) == 0))
                    idx = k;
            if (idx < 0) {
                const char *cands[24];
                int nc = 0;
                for (int k = 0; k < def->num_params && nc < 22; k++) {
                    cands[nc++] = def->params[k].name;
                    if (def->params[k].alias)
                        cands[nc++] = def->params[k].alias;
                }
                cands[nc] = NULL;
                const char *s = kn_spec_suggest(a->name, cands);
                /* map an alias suggestion back to the canonical name */
                for (int k = 0; s && k < def->num_params; k++)
                    if (def->params[k].alias && strcmp(s, def->params[k].alias) == 0)
                        s = def->params[k].name;
                if (s)
                    snprintf(hint, sizeof hint, " (did you mean '%s'?)", s);
                else
                    hint[0] = '\0';
                if (def->num_params == 0)
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "unknown parameter '%s': %s takes no parameters",
                                a->name, def->name);
                else
                    KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name_loc, "unknown parameter '%s' for %s%s; expected one of: %s",
                                a->name, def->name, hint, kn_param_list(def, list, sizeof list));
                ok = false;
                unknown_param = true;
                continue;
            }
        }
        pd = &def->params[idx];
        if (given & (1u << idx)) {
            KN_SPEC_ERR(spec, KN_ERR_PARSE, a->name ? a->name_loc : a->value->loc, "parameter '%s' is given twice",
                        pd->name);
            ok = false;
            continue;
        }
        given |= 1u << idx;
        if (!kn_param_set(spec, pd, a->value, layer))
            ok = false;
    }
    for (int k = 0; k < def->num_params; k++) {
        pd = &def->params[k];
        if (given & (1u << k))
            continue;
        if (pd->def)
            kn_param_default(pd, layer);
        else if (!pd->derived && !unknown_param && !late_positional) {
            /* not after a misspelt name or a misplaced positional argument: that error was reported */
            KN_SPEC_ERR(spec, KN_ERR_PARSE, loc, "%s needs '%s' (%s), e.g. %s", def->name, pd->name,
                        pd->help ? pd->help : "required", def->example);
            ok = false;
        }
    }
    /* derived defaults */
    if (def->kind == KN_SPEC_MAXPOOL2D || def->kind == KN_SPEC_AVGPOOL2D) {
        if (!(given & 2u)) {
            layer->p.pool.strides[0] = layer->p.pool.pool[0];
            layer->p.pool.strides[1] = layer->p.pool.pool[1];
        }
    }
    if (def->kind == KN_SPEC_CONV2D_TRANSPOSE)
        layer->p.conv.has_output_padding = (given & (1u << 4)) != 0;
    if (def->kind == KN_SPEC_CONV2D_TRANSPOSE)
        layer->p.conv.groups = 1;
    if (def->kind == KN_SPEC_CONV2D)
        layer->p.conv.depth_multiplier = 1;
    if (def->kind == KN_SPEC_LAYER_NORM) {
        layer->p.layer_norm.axis_given = (given & 1u) != 0;
        if (!layer->p.layer_norm.axis_given)
            layer->p.layer_norm.axis = -1;
    }
    if (def->kind == KN_SPEC_ACTIVATION && def->act == KN_SPEC_ACT_RELU && (given & 1u))
        layer->p.activation.kind = KN_SPEC_ACT_RELU6; /* relu(max_value=m): min(max(x, 0), m) */
    return ok;
}

/* --------------------------------------------------------- shapes */

#define KN_MAX_DIM ((int64_t)1 << 31)

static const kn_spec_layer *kn_in(kn_spec_layer_ctx *ctx, const kn_spec_layer *l, int i)
{
    return &ctx->model->layers[l->inputs[i]];
}

/* Check that every dimension and the per-sample size are sane. */
static bool kn_shape_check(kn_spec_layer_ctx *ctx, kn_spec_layer *l)
{
    int64_t total = 1;
    for (int i = 1; i < l->shape.rank; i++) {
        int64_t d = l->shape.dims[i];
        if (d > KN_MAX_DIM || (d > 0 && total > ((int64_t)1 << 40) / d)) {
            char b[200];
            KN_SPEC_ERR(ctx->spec, KN_ERR_OVERFLOW, l->loc, "%s '%s': the output shape %s is too large", l->type,
                        l->name, kn_spec_shape_str(&l->shape, b, sizeof b));
            return false;
        }
        total *= d;
    }
    return true;
}

/* Elements per sample (all but the batch). */
static int64_t kn_sample_numel(const kn_shape *s)
{
    int64_t n = 1;
    for (int i = 1; i < s->rank; i++)
        n *= s->dims[i];
    return n;
}

static bool kn_need_rank(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in, int rank,
                         const char *layout)
{
    if (in->shape.rank == rank)
        return true;
    char b[200];
    KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "%s '%s' needs a %d-D input %s, but '%s' has shape %s%s", l->type,
                l->name, rank, layout, in->name, kn_spec_shape_str(&in->shape, b, sizeof b),
                in->shape.rank == 2 && rank == 4 ? "; reshape it first, e.g. reshape((C, H, W))" : "");
    return false;
}

/* Weight elements, with the per-tensor limit. */
static bool kn_weight_count(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const char *what, int64_t a, int64_t b,
                            int64_t c, int64_t *out)
{
    int64_t dims[3] = {a, b, c};
    int64_t n = 1;
    for (int i = 0; i < 3; i++) {
        if (dims[i] > 0 && n > KN_SPEC_MAX_PARAM_ELEMENTS / dims[i] + 1) {
            n = KN_SPEC_MAX_PARAM_ELEMENTS + 1;
            break;
        }
        n *= dims[i];
    }
    if (n > KN_SPEC_MAX_PARAM_ELEMENTS) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_OVERFLOW, l->loc,
                    "%s '%s': the %s would have more than %lld elements; make the layer smaller", l->type, l->name,
                    what, (long long)KN_SPEC_MAX_PARAM_ELEMENTS);
        return false;
    }
    *out = n;
    return true;
}

/* Output size and explicit pads of one spatial axis, Keras/TensorFlow rules. */
static bool kn_window_axis(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in, int axis,
                           int64_t size, int64_t k, int64_t s, int64_t d, kn_spec_padding pad, int64_t *out,
                           int64_t *pb, int64_t *pe)
{
    int64_t ek = (k - 1) * d + 1;
    if (pad == KN_SPEC_PAD_SAME) {
        int64_t o = (size + s - 1) / s;
        int64_t total = (o - 1) * s + ek - size;
        if (total < 0)
            total = 0;
        *pb = total / 2;
        *pe = total - *pb;
        *out = o;
        return true;
    }
    *pb = *pe = 0;
    if (size < ek) {
        char b[200];
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                    "%s '%s': the window of size %lld (kernel %lld, dilation %lld) does not fit dimension %d of '%s' "
                    "with shape %s (padding=valid); use padding=same or a smaller kernel",
                    l->type, l->name, (long long)ek, (long long)k, (long long)d, axis, in->name,
                    kn_spec_shape_str(&in->shape, b, sizeof b));
        return false;
    }
    *out = (size - ek) / s + 1;
    return true;
}

/* A softmax activation's axis must name a non-batch axis of the output. */
static bool kn_check_act(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_activation *act)
{
    int64_t axis = act->axis;
    if (act->kind == KN_SPEC_ACT_GELU && act->approximate) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_UNSUPPORTED, l->loc,
                    "%s '%s': gelu(approximate=true), the tanh form, is not supported: kiln's gelu is the exact erf "
                    "form, Keras's default (approximate=False); remove approximate=", l->type, l->name);
        return false;
    }
    if (act->kind != KN_SPEC_ACT_SOFTMAX)
        return true;
    char b[200];
    if (axis < -l->shape.rank || axis >= l->shape.rank) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "%s '%s': softmax axis %lld is out of range for shape %s",
                    l->type, l->name, (long long)axis, kn_spec_shape_str(&l->shape, b, sizeof b));
        return false;
    }
    if (axis == 0 || axis == -l->shape.rank) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "%s '%s': softmax axis %lld is the batch", l->type, l->name,
                    (long long)axis);
        return false;
    }
    return true;
}

/*
 * A Keras user's channels-last shape, (H, W, C) written in an input or reshape, reaches a layer that reads
 * (N, C, H, W): (28, 28, 1) is 28 channels of 28x1 pictures here. Said at the line that wrote the shape: an error
 * when the window of the layer reading it (width `window`, padding `pad`) does not fit, else a warning (the model
 * builds, but not the one meant). False after an error.
 */
static bool kn_channels_last(kn_spec_layer_ctx *ctx, const kn_spec_layer *l, const kn_spec_layer *in, int64_t window,
                             kn_spec_padding pad)
{
    const int64_t *d = in->shape.dims;
    if ((in->kind != KN_SPEC_INPUT && in->kind != KN_SPEC_RESHAPE) || in->shape.rank != 4)
        return true;
    const bool small_last = (d[3] == 1 || d[3] == 3) && d[1] > 4 && d[2] > 4; /* (28, 28, 1), (32, 32, 3) */
    const bool square_first = d[1] == d[2] && d[3] > 2 * d[1];                /* (7, 7, 256) */
    if (!small_last && !square_first)
        return true;
    const bool fails = pad == KN_SPEC_PAD_VALID && d[3] < window;
    char b[200];
    kn_spec_diag_add(ctx->spec, fails ? KN_SPEC_ERROR : KN_SPEC_WARNING, fails ? KN_ERR_SHAPE : KN_OK, in->loc,
                     "%s '%s' gives %s, which %s '%s' (line %d) reads as %lld channels of %lldx%lld pictures: kiln's "
                     "tensors are channels first, (N, C, H, W); Keras's channels-last (%lld, %lld, %lld) is written "
                     "%s%lld, %lld, %lld)) here",
                     in->type, in->name, kn_spec_shape_str(&in->shape, b, sizeof b), l->type, l->name, l->loc.line,
                     (long long)d[1], (long long)d[2], (long long)d[3], (long long)d[1], (long long)d[2],
                     (long long)d[3], in->kind == KN_SPEC_INPUT ? "input(shape=(" : "reshape((", (long long)d[3],
                     (long long)d[1], (long long)d[2]);
    return !fails;
}

static bool kn_infer_conv(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    kn_spec_conv *c = &l->p.conv;
    if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)"))
        return false;
    if (l->kind != KN_SPEC_CONV2D_TRANSPOSE &&
        !kn_channels_last(ctx, l, in, (c->kernel[1] - 1) * c->dilation[1] + 1, c->padding))
        return false;
    int64_t ch = in->shape.dims[1];
    char b[200];
    bool transpose = l->kind == KN_SPEC_CONV2D_TRANSPOSE;
    if (!transpose && (ch % c->groups != 0 || c->filters % c->groups != 0)) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                    "%s '%s': groups=%lld must divide both the %lld input channels of '%s' %s and filters=%lld",
                    l->type, l->name, (long long)c->groups, (long long)ch, in->name,
                    kn_spec_shape_str(&in->shape, b, sizeof b), (long long)c->filters);
        return false;
    }
    l->shape.rank = 4;
    l->shape.dims[0] = KN_DIM_BATCH;
    l->shape.dims[1] = c->filters;
    for (int i = 0; i < 2; i++) {
        int64_t size = in->shape.dims[2 + i], k = c->kernel[i], s = c->strides[i], d = c->dilation[i];
        if (!transpose) {
            if (!kn_window_axis(ctx, l, in, 2 + i, size, k, s, d, c->padding, &l->shape.dims[2 + i], &c->pad_begin[i],
                                &c->pad_end[i]))
                return false;
            continue;
        }
        /* Keras deconv_output_length, then pads/output_padding that give it. */
        int64_t ek = (k - 1) * d + 1, o;
        if (c->has_output_padding) {
            if (c->output_padding[i] >= s) {
                KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                            "%s '%s': output_padding %lld must be smaller than the stride %lld", l->type, l->name,
                            (long long)c->output_padding[i], (long long)s);
                return false;
            }
            int64_t pad = c->padding == KN_SPEC_PAD_SAME ? ek / 2 : 0;
            o = (size - 1) * s + ek - 2 * pad + c->output_padding[i];
        } else {
            o = c->padding == KN_SPEC_PAD_SAME ? size * s : size * s + (ek - s > 0 ? ek - s : 0);
        }
        int64_t full = (size - 1) * s + ek;
        int64_t total = full - o;
        if (total >= 0) {
            c->pad_begin[i] = total / 2;
            c->pad_end[i] = total - total / 2;
            c->output_padding[i] = 0;
        } else {
            c->pad_begin[i] = c->pad_end[i] = 0;
            c->output_padding[i] = -total;
        }
        if (o < 1) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "%s '%s': the output would be empty", l->type, l->name);
            return false;
        }
        l->shape.dims[2 + i] = o;
    }
    if (!kn_shape_check(ctx, l))
        return false;
    int64_t kw, cin = transpose ? ch : ch / c->groups;
    if (!kn_weight_count(ctx, l, "kernel", c->filters, cin, c->kernel[0] * c->kernel[1], &kw))
        return false;
    l->params = kw + (c->use_bias ? c->filters : 0);
    l->trainable_params = l->params;
    return kn_check_act(ctx, l, &c->activation);
}

static bool kn_infer_pool(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    kn_spec_pool *p = &l->p.pool;
    if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)") || !kn_channels_last(ctx, l, in, p->pool[1], p->padding))
        return false;
    l->shape = in->shape;
    for (int i = 0; i < 2; i++)
        if (!kn_window_axis(ctx, l, in, 2 + i, in->shape.dims[2 + i], p->pool[i], p->strides[i], 1, p->padding,
                            &l->shape.dims[2 + i], &p->pad_begin[i], &p->pad_end[i]))
            return false;
    return true;
}

/* Shapes of all inputs must be equal (add, multiply). */
static bool kn_infer_same(kn_spec_layer_ctx *ctx, kn_spec_layer *l)
{
    const kn_spec_layer *a = kn_in(ctx, l, 0);
    for (int i = 1; i < l->num_inputs; i++) {
        const kn_spec_layer *b = kn_in(ctx, l, i);
        if (!kn_shape_equal(&a->shape, &b->shape)) {
            char sa[200], sb[200];
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                        "%s '%s': input shapes differ: '%s' has shape %s but '%s' has shape %s", l->type, l->name,
                        a->name, kn_spec_shape_str(&a->shape, sa, sizeof sa), b->name,
                        kn_spec_shape_str(&b->shape, sb, sizeof sb));
            return false;
        }
    }
    l->shape = a->shape;
    return true;
}

static bool kn_infer_concat(kn_spec_layer_ctx *ctx, kn_spec_layer *l)
{
    const kn_spec_layer *a = kn_in(ctx, l, 0);
    int rank = a->shape.rank;
    int64_t axis = l->p.concat_axis;
    char sa[200], sb[200];
    if (axis < -rank || axis >= rank) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "concat '%s': axis %lld is out of range for '%s' of shape %s",
                    l->name, (long long)axis, a->name, kn_spec_shape_str(&a->shape, sa, sizeof sa));
        return false;
    }
    if (axis < 0)
        axis += rank;
    if (axis == 0) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                    "concat '%s': axis 0 is the batch; concatenate along 1 (channels/features) or a later axis",
                    l->name);
        return false;
    }
    l->p.concat_axis = axis;
    l->shape = a->shape;
    for (int i = 1; i < l->num_inputs; i++) {
        const kn_spec_layer *b = kn_in(ctx, l, i);
        bool ok = b->shape.rank == rank;
        for (int d = 0; ok && d < rank; d++)
            ok = d == axis || b->shape.dims[d] == a->shape.dims[d];
        if (!ok) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                        "concat '%s': '%s' has shape %s but '%s' has shape %s; only axis %lld may differ", l->name,
                        a->name, kn_spec_shape_str(&a->shape, sa, sizeof sa), b->name,
                        kn_spec_shape_str(&b->shape, sb, sizeof sb), (long long)axis);
            return false;
        }
        l->shape.dims[axis] += b->shape.dims[axis];
    }
    return kn_shape_check(ctx, l);
}

static bool kn_infer_reshape(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    const kn_spec_reshape *r = &l->p.reshape;
    int64_t have = kn_sample_numel(&in->shape), known = 1;
    int unknown = -1;
    l->shape.rank = r->rank + 1;
    l->shape.dims[0] = KN_DIM_BATCH;
    for (int i = 0; i < r->rank; i++) {
        l->shape.dims[i + 1] = r->dims[i];
        if (r->dims[i] == -1)
            unknown = i + 1;
        else if (known <= ((int64_t)1 << 40) / (r->dims[i] ? r->dims[i] : 1))
            known *= r->dims[i];
        else
            known = INT64_MAX;
    }
    char sa[200], sb[200];
    if (unknown > 0) {
        if (known == 0 || have % known != 0) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                        "reshape '%s': cannot reshape '%s' of shape %s (%lld values per sample) to %s: %lld is not a "
                        "multiple of %lld",
                        l->name, in->name, kn_spec_shape_str(&in->shape, sa, sizeof sa), (long long)have,
                        kn_spec_shape_str(&l->shape, sb, sizeof sb), (long long)have, (long long)known);
            return false;
        }
        l->shape.dims[unknown] = have / known;
    } else if (known != have) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                    "reshape '%s': cannot reshape '%s' of shape %s (%lld values per sample) to %s (%lld values)",
                    l->name, in->name, kn_spec_shape_str(&in->shape, sa, sizeof sa), (long long)have,
                    kn_spec_shape_str(&l->shape, sb, sizeof sb), (long long)known);
        return false;
    }
    return true;
}

/*
 * depthwise_conv2d: a Conv with one group per input channel, depth_multiplier outputs each. separable_conv2d: that
 * (without bias) and a 1x1 Conv to `filters` (with the bias): the shape of the depthwise part, `filters` channels.
 */
static bool kn_infer_depthwise(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    kn_spec_conv *c = &l->p.conv;
    if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)"))
        return false;
    const int64_t ch = in->shape.dims[1], filters = c->filters;
    const bool separable = l->kind == KN_SPEC_SEPARABLE_CONV2D, use_bias = c->use_bias;
    int64_t depth;
    if (!kn_weight_count(ctx, l, "depthwise kernel", ch, c->depth_multiplier, 1, &depth))
        return false;
    c->groups = ch;
    c->filters = depth;
    if (separable)
        c->use_bias = false;
    bool ok = kn_infer_conv(ctx, l, in);
    c->use_bias = use_bias;
    if (!separable || !ok)
        return ok;
    c->filters = filters;
    int64_t pw;
    if (!kn_weight_count(ctx, l, "pointwise kernel", filters, depth, 1, &pw))
        return false;
    l->shape.dims[1] = filters;
    l->params += pw + (use_bias ? filters : 0);
    l->trainable_params = l->params;
    return kn_shape_check(ctx, l) && kn_check_act(ctx, l, &c->activation);
}

/* zero_padding2d adds rows and columns of zeros; cropping2d removes them. */
static bool kn_infer_pad_crop(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)"))
        return false;
    const int64_t *p = l->p.pads;
    const int sign = l->kind == KN_SPEC_CROPPING2D ? -1 : 1;
    l->shape = in->shape;
    l->shape.dims[2] += sign * (p[0] + p[1]);
    l->shape.dims[3] += sign * (p[2] + p[3]);
    if (l->shape.dims[2] < 1 || l->shape.dims[3] < 1) {
        char b[200];
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                    "%s '%s': cropping (%lld, %lld) rows and (%lld, %lld) columns of '%s' %s leaves nothing", l->type,
                    l->name, (long long)p[0], (long long)p[1], (long long)p[2], (long long)p[3], in->name,
                    kn_spec_shape_str(&in->shape, b, sizeof b));
        return false;
    }
    return kn_shape_check(ctx, l);
}

/* The shape of prelu's slopes: a sample's, 1 along shared_axes. */
bool kn_spec_prelu_alpha_shape(const kn_spec_layer *l, const kn_shape *in, kn_shape *alpha)
{
    alpha->rank = in->rank - 1;
    for (int i = 1; i < in->rank; i++)
        alpha->dims[i - 1] = in->dims[i];
    const kn_spec_reshape *s = &l->p.prelu.shared_axes;
    for (int k = 0; k < s->rank; k++) {
        if (s->dims[k] < 1 || s->dims[k] >= in->rank)
            return false;
        alpha->dims[s->dims[k] - 1] = 1;
    }
    return true;
}

/*
 * layer_norm: the axes from `axis` on, normalised per sample; gamma and beta of their shape. Not given, axis is
 * -1, which on (N, F) is Keras's features; on a higher rank it must be given, because Keras's default there
 * normalises each position's channels (channels last), which one LayerNormalization over channels-first trailing
 * axes cannot express.
 */
static bool kn_infer_layer_norm(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    kn_spec_layer_norm *ln = &l->p.layer_norm;
    const int r = in->shape.rank;
    char b[200];
    if (r < 2) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "layer_norm '%s' needs features, but '%s' has shape %s", l->name,
                    in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
        return false;
    }
    if (!ln->axis_given && r > 2) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_UNSUPPORTED, l->loc,
                    "layer_norm '%s': '%s' has shape %s: give axis=, the first of the axes each sample is normalised "
                    "over (axis=1: all of (C, H, W), like PyTorch's LayerNorm([C, H, W])). Keras's default axis=-1 "
                    "normalises each pixel's channels in its channels-last layout, which kiln (channels first) "
                    "does not have",
                    l->name, in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
        return false;
    }
    if (ln->axis < -r || ln->axis >= r || ln->axis == 0 || ln->axis == -r) {
        KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "layer_norm '%s': axis %lld %s for '%s' %s", l->name,
                    (long long)ln->axis, ln->axis == 0 || ln->axis == -r ? "is the batch" : "is out of range",
                    in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
        return false;
    }
    if (ln->axis < 0)
        ln->axis += r;
    l->shape = in->shape;
    int64_t n = 1;
    for (int d = (int)ln->axis; d < r; d++)
        n *= in->shape.dims[d]; /* at most the sample's size, checked already */
    l->trainable_params = n * ((ln->center ? 1 : 0) + (ln->scale ? 1 : 0));
    l->params = 2 * n;
    return true;
}

/* upsampling2d: (N, C, H * size[0], W * size[1]). */
static bool kn_infer_upsampling(kn_spec_layer_ctx *ctx, kn_spec_layer *l, const kn_spec_layer *in)
{
    if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)"))
        return false;
    l->shape = in->shape;
    for (int i = 0; i < 2; i++) /* no overflow: dims <= KN_MAX_DIM (2^31, checked), size <= 2^16 */
        l->shape.dims[2 + i] = in->shape.dims[2 + i] * l->p.upsampling.size[i];
    return kn_shape_check(ctx, l);
}

bool kn_spec_layer_infer(kn_spec_layer_ctx *ctx, kn_spec_layer *l)
{
    const kn_spec_layer *in = l->num_inputs > 0 ? kn_in(ctx, l, 0) : NULL;
    char b[200];
    l->params = l->trainable_params = 0;
    switch (l->kind) {
    case KN_SPEC_INPUT: {
        const kn_spec_reshape *r = &l->p.reshape;
        l->shape.rank = r->rank + 1;
        l->shape.dims[0] = KN_DIM_BATCH;
        for (int i = 0; i < r->rank; i++)
            l->shape.dims[i + 1] = r->dims[i];
        return kn_shape_check(ctx, l);
    }
    case KN_SPEC_DENSE: {
        if (in->shape.rank < 2) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "dense '%s' needs features, but '%s' has shape %s", l->name,
                        in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
            return false;
        }
        l->shape = in->shape;
        int64_t fin = in->shape.dims[in->shape.rank - 1];
        l->shape.dims[l->shape.rank - 1] = l->p.dense.units;
        int64_t kw;
        if (!kn_shape_check(ctx, l) || !kn_weight_count(ctx, l, "kernel", fin, l->p.dense.units, 1, &kw))
            return false;
        l->params = kw + (l->p.dense.use_bias ? l->p.dense.units : 0);
        l->trainable_params = l->params;
        return kn_check_act(ctx, l, &l->p.dense.activation);
    }
    case KN_SPEC_CONV2D:
    case KN_SPEC_CONV2D_TRANSPOSE: return kn_infer_conv(ctx, l, in);
    case KN_SPEC_MAXPOOL2D:
    case KN_SPEC_AVGPOOL2D: return kn_infer_pool(ctx, l, in);
    case KN_SPEC_DEPTHWISE_CONV2D:
    case KN_SPEC_SEPARABLE_CONV2D: return kn_infer_depthwise(ctx, l, in);
    case KN_SPEC_ZERO_PADDING2D:
    case KN_SPEC_CROPPING2D: return kn_infer_pad_crop(ctx, l, in);
    case KN_SPEC_PRELU: {
        kn_shape alpha;
        if (in->shape.rank < 2 || !kn_spec_prelu_alpha_shape(l, &in->shape, &alpha)) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc,
                        "prelu '%s': shared_axes must name axes 1 to %d of '%s' %s (the batch is axis 0)", l->name,
                        in->shape.rank - 1, in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
            return false;
        }
        l->shape = in->shape;
        int64_t n = 1;
        for (int i = 0; i < alpha.rank; i++)
            n *= alpha.dims[i]; /* at most the sample's size, checked already */
        l->params = l->trainable_params = n;
        return true;
    }
    case KN_SPEC_GLOBAL_AVGPOOL:
    case KN_SPEC_GLOBAL_MAXPOOL:
        if (!kn_need_rank(ctx, l, in, 4, "(N, C, H, W)"))
            return false;
        l->shape = in->shape;
        if (l->p.keepdims)
            l->shape.dims[2] = l->shape.dims[3] = 1;
        else
            l->shape.rank = 2;
        return true;
    case KN_SPEC_FLATTEN:
        l->shape.rank = 2;
        l->shape.dims[0] = KN_DIM_BATCH;
        l->shape.dims[1] = kn_sample_numel(&in->shape);
        return true;
    case KN_SPEC_RESHAPE: return kn_infer_reshape(ctx, l, in);
    case KN_SPEC_CONCAT: return kn_infer_concat(ctx, l);
    case KN_SPEC_ADD:
    case KN_SPEC_MULTIPLY: return kn_infer_same(ctx, l);
    case KN_SPEC_BATCHNORM: {
        if (in->shape.rank < 2) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_SHAPE, l->loc, "batchnorm '%s' needs channels, but '%s' has shape %s",
                        l->name, in->name, kn_spec_shape_str(&in->shape, b, sizeof b));
            return false;
        }
        l->shape = in->shape;
        int64_t c = in->shape.dims[1];
        kn_spec_batchnorm *bn = &l->p.batchnorm;
        if (bn->axis != 1 && bn->axis != 1 - in->shape.rank) {
            KN_SPEC_ERR(ctx->spec, KN_ERR_UNSUPPORTED, l->loc,
                        "batchnorm '%s': axis=%lld is not supported: kiln normalises the channels, axis 1, because its "
                        "tensors are channels first (N, C, H, W) (Keras's axis=-1 is the channel axis of its "
                        "channels-last layout); remove axis=",
                        l->name, (long long)bn->axis);
            return false;
        }
        l->trainable_params = c * ((bn->center ? 1 : 0) + (bn->scale ? 1 : 0));
        l->params = l->trainable_params + 2 * c;
        return true;
    }
    case KN_SPEC_UPSAMPLING2D: return kn_infer_upsampling(ctx, l, in);
    case KN_SPEC_LAYER_NORM: return kn_infer_layer_norm(ctx, l, in);
    case KN_SPEC_DROPOUT: l->shape = in->shape; return true;
    case KN_SPEC_ACTIVATION: l->shape = in->shape; return kn_check_act(ctx, l, &l->p.activation);
    case KN_SPEC_LAYER_KIND_COUNT: break;
    }
    return false;
}

bool kn_spec_layer_arity(const char *type, int *min_inputs, int *max_inputs, const char **example)
{
    const kn_layer_def *d = kn_layer_find(type);
    if (!d)
        return false;
    *min_inputs = d->min_inputs;
    *max_inputs = d->max_inputs;
    *example = d->example;
    return true;
}
