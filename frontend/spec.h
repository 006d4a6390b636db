/*
 * spec.h - the .kiln model spec language (docs/spec-language.md).
 *
 * A spec file holds one or more `model NAME { ... }` blocks (layers, one per
 * line, Keras names and defaults) and optional `train { ... }` blocks
 * (dataset, loss, optimizer, batch size, epochs, metrics, training steps).
 *
 * The pipeline, all inside frontend/:
 *   text -> lexer/parser (spec_parse.c) -> syntax tree
 *        -> checker (spec_check.c, spec_layers.c, spec_train.c): resolved
 *           layers with symbolic output shapes and parameter counts, and
 *           validated training sections
 *        -> graph builder (spec_build.c): a kn_graph per model, weights
 *           drawn from seeded initializers (spec_init.c).
 *
 * Problems are collected as diagnostics (file:line:col, message, the source
 * line and a caret), every one of a file up to KN_SPEC_MAX_ERRORS; the parser
 * recovers at the next statement. Nothing here exits or aborts on bad input.
 */
#ifndef KN_FRONTEND_SPEC_H
#define KN_FRONTEND_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Errors reported per file before the checker stops. */
#define KN_SPEC_MAX_ERRORS 20
/** Largest spec file accepted (bytes). */
#define KN_SPEC_MAX_FILE_SIZE ((size_t)4 << 20)
/** Deepest nesting of parentheses/brackets in an expression. */
#define KN_SPEC_MAX_DEPTH 32
/** Largest element count of one weight tensor a spec may ask for (1 GiB of float32). */
#define KN_SPEC_MAX_PARAM_ELEMENTS ((int64_t)1 << 28)
/** Most statements (layers) in one model or train block, and most blocks in one file. */
#define KN_SPEC_MAX_LAYERS 10000
#define KN_SPEC_MAX_BLOCKS 256
/** Largest parameter count of one model (4 GiB of float32). */
#define KN_SPEC_MAX_MODEL_PARAMS ((int64_t)1 << 30)

/** A place in the source: 1-based line and column (bytes), and the length to underline. */
typedef struct kn_spec_loc {
    int line, col, len;
} kn_spec_loc;

typedef enum kn_spec_severity { KN_SPEC_ERROR = 0, KN_SPEC_WARNING } kn_spec_severity;

/** One diagnostic. */
typedef struct kn_spec_diag {
    kn_spec_severity severity;
    kn_status status;       /**< the cause (KN_ERR_PARSE for syntax, KN_ERR_SHAPE, ...) */
    kn_spec_loc loc;
    char *message;          /**< one line, without the "file:line:col: error: " prefix */
} kn_spec_diag;

/* ------------------------------------------------------------ layers */

typedef enum kn_spec_layer_kind {
    KN_SPEC_INPUT = 0,
    KN_SPEC_DENSE,
    KN_SPEC_CONV2D,
    KN_SPEC_CONV2D_TRANSPOSE,
    KN_SPEC_MAXPOOL2D,
    KN_SPEC_AVGPOOL2D,
    KN_SPEC_GLOBAL_AVGPOOL,
    KN_SPEC_FLATTEN,
    KN_SPEC_RESHAPE,
    KN_SPEC_CONCAT,
    KN_SPEC_ADD,
    KN_SPEC_MULTIPLY,
    KN_SPEC_BATCHNORM,
    KN_SPEC_DROPOUT,
    KN_SPEC_ACTIVATION,     /**< relu, leaky_relu, sigmoid, tanh, softmax, elu, hard_swish, activation(...) */
    KN_SPEC_GLOBAL_MAXPOOL,
    KN_SPEC_ZERO_PADDING2D,
    KN_SPEC_CROPPING2D,
    KN_SPEC_DEPTHWISE_CONV2D,
    KN_SPEC_SEPARABLE_CONV2D,
    KN_SPEC_PRELU,
    KN_SPEC_UPSAMPLING2D,
    KN_SPEC_LAYER_NORM,
    KN_SPEC_LAYER_KIND_COUNT
} kn_spec_layer_kind;

typedef enum kn_spec_act_kind {
    KN_SPEC_ACT_LINEAR = 0,   /**< none */
    KN_SPEC_ACT_RELU,
    KN_SPEC_ACT_LEAKY_RELU,   /**< alpha: negative slope, Keras default 0.3 */
    KN_SPEC_ACT_SIGMOID,
    KN_SPEC_ACT_TANH,
    KN_SPEC_ACT_SOFTMAX,      /**< axis: default -1 (last) */
    KN_SPEC_ACT_ELU,          /**< alpha: default 1.0 */
    KN_SPEC_ACT_HARD_SWISH,
    KN_SPEC_ACT_SWISH,        /**< x * sigmoid(x) (SiLU) */
    KN_SPEC_ACT_RELU6,        /**< min(max(x, 0), alpha): relu6 (alpha 6) and relu(max_value=alpha) */
    KN_SPEC_ACT_HARD_SIGMOID, /**< Keras 3: relu6(x + 3) / 6 */
    KN_SPEC_ACT_GELU          /**< x Phi(x), the exact (erf) form: Keras's approximate=False */
} kn_spec_act_kind;

typedef struct kn_spec_activation {
    kn_spec_act_kind kind;
    float alpha;
    int64_t axis;
    bool approximate;         /**< gelu: the tanh form was asked for (refused: kiln's Gelu is the erf form) */
} kn_spec_activation;

/** Name of an activation ("relu", ...); "linear" for none. */
const char *kn_spec_act_name(kn_spec_act_kind kind);

typedef enum kn_spec_init_kind {
    KN_SPEC_INIT_GLOROT_UNIFORM = 0,   /**< U(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
    KN_SPEC_INIT_GLOROT_NORMAL,        /**< truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / .8796 */
    KN_SPEC_INIT_HE_NORMAL,            /**< truncated normal, stddev sqrt(2 / fan_in) / .8796 */
    KN_SPEC_INIT_HE_UNIFORM,           /**< U(-l, l), l = sqrt(6 / fan_in) */
    KN_SPEC_INIT_LECUN_NORMAL,         /**< truncated normal, stddev sqrt(1 / fan_in) / .8796 */
    KN_SPEC_INIT_LECUN_UNIFORM,        /**< U(-l, l), l = sqrt(3 / fan_in) */
    KN_SPEC_INIT_ZEROS,
    KN_SPEC_INIT_ONES,
    KN_SPEC_INIT_CONSTANT,             /**< a = value */
    KN_SPEC_INIT_NORMAL,               /**< N(a, b): a = mean, b = stddev (default 0, 0.05) */
    KN_SPEC_INIT_UNIFORM,              /**< U(a, b): a = minval, b = maxval (default -0.05, 0.05) */
    KN_SPEC_INIT_KIND_COUNT
} kn_spec_init_kind;

typedef struct kn_spec_init {
    kn_spec_init_kind kind;
    double a, b;
} kn_spec_init;

/** Name of an initializer kind ("glorot_uniform", ...). */
const char *kn_spec_init_name(kn_spec_init_kind kind);

typedef enum kn_spec_padding { KN_SPEC_PAD_VALID = 0, KN_SPEC_PAD_SAME } kn_spec_padding;

/** dense. The kernel is [units, in] (Gemm, transB) for a 2-D input, [in, units] (MatMul) otherwise. */
typedef struct kn_spec_dense {
    int64_t units;
    bool use_bias;
    kn_spec_activation activation;
    kn_spec_init kernel_init, bias_init;
} kn_spec_dense;

/**
 * conv2d and conv2d_transpose. pad_begin/pad_end/output_padding are the
 * explicit values the checker resolved from `padding` (Keras/TensorFlow
 * rules: odd padding goes at the end).
 */
typedef struct kn_spec_conv {
    int64_t filters;
    int64_t kernel[2], strides[2], dilation[2];
    int64_t groups;
    kn_spec_padding padding;
    int64_t depth_multiplier;       /**< depthwise_conv2d, separable_conv2d: output channels per input channel */
    kn_spec_init pointwise_init;    /**< separable_conv2d: the 1x1 kernel's */
    bool has_output_padding;        /**< conv2d_transpose: given by the user */
    int64_t output_padding[2];      /**< resolved (conv2d_transpose) */
    int64_t pad_begin[2], pad_end[2];
    bool use_bias;
    kn_spec_activation activation;
    kn_spec_init kernel_init, bias_init;
} kn_spec_conv;

/** maxpool2d, avgpool2d: strides default to the pool size. */
typedef struct kn_spec_pool {
    int64_t pool[2], strides[2];
    kn_spec_padding padding;
    int64_t pad_begin[2], pad_end[2];
} kn_spec_pool;

typedef struct kn_spec_batchnorm {
    int64_t axis;              /**< must be the channels, 1 (Keras's -1 is channels-last) */
    float momentum, epsilon;   /**< Keras: 0.99, 0.001 */
    bool center, scale;
    kn_spec_init beta_init, gamma_init, mean_init, variance_init;
} kn_spec_batchnorm;

/** reshape: the target shape without the batch dimension; at most one -1. */
typedef struct kn_spec_reshape {
    int rank;
    int64_t dims[KN_MAX_RANK];
} kn_spec_reshape;

/** prelu: one slope per element of a sample, shared along shared_axes (1-based, not the batch). */
typedef struct kn_spec_prelu {
    kn_spec_init alpha_init;
    kn_spec_reshape shared_axes;     /**< rank 0: none */
} kn_spec_prelu;

/** upsampling2d: rows and columns repeated (nearest) or interpolated (bilinear, half-pixel) by an integer factor. */
typedef struct kn_spec_upsampling {
    int64_t size[2];
    int interpolation;           /**< 0 nearest, 1 bilinear */
} kn_spec_upsampling;

/**
 * layer_norm: each sample normalised over the axes from `axis` to the last (ONNX LayerNormalization, PyTorch's
 * LayerNorm(normalized_shape)); gamma and beta have those axes' shape. axis -1 (the default) on (N, F) is Keras's.
 */
typedef struct kn_spec_layer_norm {
    int64_t axis;                /**< as given (or -1); normalised by the checker to 1..rank-1 */
    bool axis_given;
    float epsilon;               /**< Keras: 0.001 */
    bool center, scale;
    kn_spec_init beta_init, gamma_init;
} kn_spec_layer_norm;

/** A resolved layer. */
typedef struct kn_spec_layer {
    char *name;                  /**< given (`name = ...`) or automatic ("dense", "dense_1", ...) */
    kn_spec_layer_kind kind;
    const char *type;            /**< the layer name as written in specs ("conv2d", "relu", ...) */
    kn_spec_loc loc;
    int *inputs;                 /**< indices of earlier layers of the model */
    int num_inputs;
    bool ok;                     /**< false after an error: shape unknown, no graph */
    kn_dtype dtype;
    kn_shape shape;              /**< output shape; dims[0] is KN_DIM_BATCH */
    int64_t params;              /**< parameter elements */
    int64_t trainable_params;    /**< 0 when frozen */
    bool frozen;                 /**< trainable=false: the weights are constants, never trained */
    union {
        kn_spec_dense dense;
        kn_spec_conv conv;
        kn_spec_pool pool;
        kn_spec_batchnorm batchnorm;
        kn_spec_reshape reshape;
        kn_spec_activation activation;   /**< KN_SPEC_ACTIVATION */
        float dropout_rate;
        int64_t concat_axis;             /**< normalised, >= 1 */
        bool keepdims;                   /**< global_avgpool, global_maxpool */
        int64_t pads[4];                 /**< zero_padding2d, cropping2d: top, bottom, left, right */
        kn_spec_prelu prelu;
        kn_spec_upsampling upsampling;
        kn_spec_layer_norm layer_norm;
    } p;
} kn_spec_layer;

/** A checked model. */
typedef struct kn_spec_model {
    char *name;
    kn_spec_loc loc;
    uint64_t seed;               /**< initializer seed (`model NAME(seed=...)`, default 0) */
    kn_spec_layer *layers;
    int num_layers;
    int *outputs;                /**< layer indices */
    int num_outputs;
    bool ok;                     /**< no error inside the model */
} kn_spec_model;

/* ---------------------------------------------------------- training */

typedef enum kn_spec_dataset_kind {
    KN_SPEC_DATA_IDX = 0,        /**< MNIST-style IDX files in a directory */
    KN_SPEC_DATA_CIFAR10,        /**< CIFAR-10 binary batches in a directory */
    KN_SPEC_DATA_SYNTHETIC,      /**< seeded random images and labels */
    KN_SPEC_DATA_NPY,            /**< x_train.npy, y_train.npy, x_test.npy, y_test.npy in a directory */
    KN_SPEC_DATA_IMAGES          /**< PNG and JPEG files, one subfolder per class (Keras image_dataset_from_directory) */
} kn_spec_dataset_kind;

/** The spec name of a dataset kind ("idx", "cifar10", "synthetic", "npy", "images"). */
const char *kn_spec_dataset_name(kn_spec_dataset_kind kind);

typedef struct kn_spec_dataset {
    kn_spec_dataset_kind kind;
    char *dir;                   /**< IDX / CIFAR-10 / npy: the directory, relative to the spec file's */
    bool train_split;            /**< split=train (default) or test */
    kn_shape image_shape;        /**< without the batch: [C, H, W] */
    int64_t num_classes;
    int64_t samples;             /**< synthetic: number of samples (default 1024) */
    uint64_t seed;               /**< synthetic and shuffling */
    bool shuffle;                /**< default true */
    /** range=(lo, hi): 8-bit pixels p become lo + (hi - lo) * p / 255 (default (0, 1); (-1, 1) for a tanh GAN;
     *  lo >= hi, as in a zeroed struct, leaves the images as loaded) */
    double range_lo, range_hi;
    /** images: the fraction of each class (its last files by name) that forms the test split when `dir` has no
     *  train/ and test/ subfolders (default 0.2) */
    double validation_split;
    bool shape_given;            /**< shape= was written (images: otherwise the trained model's input) */
    kn_spec_loc loc;
} kn_spec_dataset;

/**
 * Whether the files dataset `ds` reads are in `dir` (the spec's directory or
 * `kiln train --data`'s): the IDX, CIFAR-10 or .npy files of the split it
 * trains on (of both with `both_splits`), or for images(dir) its class
 * subfolders, each holding a picture (in dir, or in dir/train and dir/test).
 * False with a message naming the missing file or directory.
 */
bool kn_spec_dataset_files_ok(const kn_spec_dataset *ds, const char *dir, bool both_splits, char *msg, size_t len);

/**
 * images(dir): the directory holding the class subfolders of one split: dir/train or dir/test when dir has a
 * train/ subfolder, else dir itself (both splits, told apart by validation_split), into buf.
 */
const char *kn_spec_images_split_dir(const char *dir, bool test, char *buf, size_t len);

/** A file name images(dir) reads: .png, .jpg or .jpeg, any case. */
bool kn_spec_is_image_name(const char *name);

typedef enum kn_spec_loss_kind {
    KN_SPEC_LOSS_CROSS_ENTROPY = 0,   /**< categorical, integer labels */
    KN_SPEC_LOSS_BINARY_CROSS_ENTROPY,
    KN_SPEC_LOSS_MSE
} kn_spec_loss_kind;

typedef enum kn_spec_opt_kind {
    KN_SPEC_OPT_SGD = 0, KN_SPEC_OPT_MOMENTUM, KN_SPEC_OPT_ADAM, KN_SPEC_OPT_RMSPROP
} kn_spec_opt_kind;

/** Optimizer with Keras defaults (see docs/spec-language.md). */
typedef struct kn_spec_optimizer {
    kn_spec_opt_kind kind;
    double learning_rate;        /**< sgd/momentum 0.01, adam 0.001 */
    double momentum;             /**< momentum: 0.9 */
    bool nesterov;
    double beta_1, beta_2;       /**< adam: 0.9, 0.999 */
    double epsilon;              /**< adam, rmsprop: 1e-7 (Keras) */
    double rho;                  /**< rmsprop: 0.9 */
    double weight_decay;         /**< 0 */
    kn_spec_loc loc;
} kn_spec_optimizer;

/** Where a loss term's data comes from. */
typedef enum kn_spec_source { KN_SPEC_SRC_IMAGES = 0, KN_SPEC_SRC_LABELS, KN_SPEC_SRC_NOISE } kn_spec_source;
/** What a loss term compares the prediction with. */
typedef enum kn_spec_target {
    KN_SPEC_TARGET_LABELS = 0, KN_SPEC_TARGET_ONES, KN_SPEC_TARGET_ZEROS, KN_SPEC_TARGET_IMAGES
} kn_spec_target;

#define KN_SPEC_MAX_CHAIN 8

/** loss(model_k(...model_1(source)), target) times weight. */
typedef struct kn_spec_loss_term {
    kn_spec_loss_kind loss;
    bool from_logits;            /**< Keras default false: the prediction is a probability */
    double weight;               /**< default 1 */
    kn_spec_source source;
    int chain[KN_SPEC_MAX_CHAIN];  /**< model indices, applied first to last */
    int chain_len;
    kn_spec_target target;
    kn_spec_loc loc;             /**< the loss name */
    kn_spec_loc chain_loc[KN_SPEC_MAX_CHAIN];  /**< each model's name in the expression */
} kn_spec_loss_term;

/** One optimisation step: the summed loss terms update the parameters of `update` only. */
typedef struct kn_spec_step {
    char *name;
    int *update;                 /**< model indices; every other model is frozen in this step */
    int num_update;
    kn_spec_loss_term *terms;
    int num_terms;
    kn_spec_optimizer optimizer;
    kn_spec_loc loc;
} kn_spec_step;

enum {
    KN_SPEC_METRIC_ACCURACY = 1 << 0,
    KN_SPEC_METRIC_BINARY_ACCURACY = 1 << 1,
    KN_SPEC_METRIC_MSE = 1 << 2,
    KN_SPEC_METRIC_MAE = 1 << 3
};

/** A `train` block, validated (not executed yet). Steps run in order for every batch. */
typedef struct kn_spec_training {
    char *name;                  /**< the block's name, or "train" */
    kn_spec_dataset dataset;
    int64_t batch_size;          /**< default 32 (Keras) */
    int64_t epochs;              /**< default 1 */
    unsigned metrics;            /**< KN_SPEC_METRIC_* bits */
    bool has_noise;              /**< `noise = normal(...)` was declared */
    kn_shape noise_shape;        /**< without the batch */
    kn_spec_init noise;          /**< KN_SPEC_INIT_NORMAL or KN_SPEC_INIT_UNIFORM */
    int64_t augment_shift;       /**< `augment = shift(N)`: training images moved by up to N pixels (0: none) */
    bool cosine;                 /**< `schedule = cosine(final=F)`: the learning rate decays along a half cosine */
    double cosine_final;         /**< ... to this fraction of itself at the last step (default 0) */
    double ema;                  /**< `ema = D`: decay of the trained models' moving averages (0: none) */
    kn_spec_step *steps;
    int num_steps;
    kn_spec_loc loc;
} kn_spec_training;

/* -------------------------------------------------------------- spec */

struct kn_spec_arena;

/** A parsed and checked spec file. */
typedef struct kn_spec {
    char *name;                  /**< file name used in messages */
    char *text;                  /**< the source (for diagnostics), NUL-terminated copy */
    size_t size;
    kn_spec_model *models;
    int num_models;
    kn_spec_training *trainings;
    int num_trainings;
    kn_spec_diag *diags;
    int num_diags, cap_diags;
    int num_errors, num_warnings;
    bool stopped;                /**< too many errors: checking stopped early */
    struct kn_spec_arena *arena; /**< owns every model, layer, string and syntax node */
} kn_spec;

/**
 * Parse and check `size` bytes of spec text. `name` (the file name) prefixes
 * diagnostics. On return *spec always holds what was found (models,
 * trainings, diagnostics) and must be released with kn_spec_free. Returns
 * KN_OK when there is no error (warnings allowed); otherwise the status of
 * the first error, with err's message holding as many formatted diagnostics
 * as fit (see kn_spec_format_diag).
 */
kn_status kn_spec_parse(const char *text, size_t size, const char *name, kn_spec *spec, kn_error *err);

/** Read the file at `path` and parse it like kn_spec_parse (the path names it in messages). */
kn_status kn_spec_parse_file(const char *path, kn_spec *spec, kn_error *err);

void kn_spec_free(kn_spec *spec);

/**
 * Format one diagnostic, clang style, into buf (always terminated):
 *
 *     file.kiln:3:5: error: unknown layer 'dens' (did you mean 'dense'?)
 *         3 |     dens(10)
 *           |     ^~~~
 *
 * Returns the length the full text needs (like snprintf).
 */
size_t kn_spec_format_diag(const kn_spec *spec, const kn_spec_diag *d, char *buf, size_t len);

/** Write every diagnostic to `f` (a FILE *), each followed by a newline. */
void kn_spec_print_diags(const kn_spec *spec, void *f);

/** Index of the model named `name`, or -1. */
int kn_spec_find_model(const kn_spec *spec, const char *name);

/**
 * Build model `index` of a spec without errors into `graph` (initialised by
 * this call; kn_graph_free is always safe afterwards): one input value per
 * input layer (batch KN_DIM_BATCH), weights as KN_VALUE_PARAM drawn from the
 * layers' initializers with the model's seed, one or more nodes per layer
 * (the layer's output value carries the layer's name), symbolic shapes on
 * every value, and the model's outputs as graph outputs.
 */
kn_status kn_spec_build_graph(const kn_spec *spec, int index, kn_graph *graph, kn_error *err);

/**
 * Fill `count` floats with initializer `init` for the weight named `param`
 * of model `model` (fans as Keras computes them). The stream depends only on
 * (seed, model, param), so one seed gives the same weights on every machine
 * and backend, and adding a layer does not change the other layers' weights.
 */
void kn_spec_init_fill(const kn_spec_init *init, uint64_t seed, const char *model, const char *param,
                       int64_t fan_in, int64_t fan_out, float *data, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* KN_FRONTEND_SPEC_H */
