/*
 * ir.h - kiln's intermediate representation: values, nodes, graphs and the
 * op table.
 *
 * A graph owns flat arrays of values and nodes, both addressed by int ids.
 * A value is a tensor: dtype, shape (the batch dimension may be the symbolic
 * KN_DIM_BATCH until a compile binds it), kind, producer node and, for
 * parameters and constants, its data. A node has an op from ir/ops.def,
 * fixed-size input/output id arrays (-1 marks an absent optional input), and
 * a typed attribute union chosen by the op.
 *
 * Nodes are kept in topological order once kn_graph_verify (or
 * kn_graph_sort) has succeeded; passes that add nodes call kn_graph_sort.
 */
#ifndef KN_IR_H
#define KN_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/** Set *err (when non-NULL) to `status` and a printf-style message; returns `status`. */
kn_status kn_error_set(kn_error *err, kn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
struct kn_node;
/** Set *err to `status` and "node 'NAME' (Op): <message>"; returns `status`. */
kn_status kn_node_error(kn_error *err, kn_status status, const struct kn_node *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Prepend "prefix: " to err's message (for adding context on the way up). */
void kn_error_prefix(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * The entries of directory `dir`, sorted by strcmp (byte order, as Keras sorts class folders), without those
 * starting with '.': its subdirectories (`dirs` true) or its regular files. *names gets a new array of *count
 * strings (kn_dir_list_free). KN_ERR_IO naming the directory when it cannot be read.
 */
kn_status kn_dir_list(const char *dir, bool dirs, char ***names, int *count, kn_error *err);
void kn_dir_list_free(char **names, int count);

/**
 * Write `count` chunks (data[i], size[i]) to `path` atomically: into
 * "path.tmp.<pid>", flushed and fsynced, then renamed over `path`; on any
 * failure the temporary file is removed and `path` is left as it was.
 */
kn_status kn_file_write_atomic(const char *path, const void *const *data, const size_t *size, int count,
                               kn_error *err);

/**
 * splitmix64: advance *state by the golden-ratio increment and return the
 * next 64 mixed bits. Every seeded stream in kiln (initial weights, dropout
 * masks, shuffles, shifts, noise, benchmark inputs) draws from it, so a seed
 * gives the same numbers on every machine.
 */
static inline uint64_t kn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/** FNV-1a's offset basis: the h to start kn_fnv1a / kn_fnv1a_bytes from. */
#define KN_FNV1A_BASIS 0xcbf29ce484222325ull

/** FNV-1a (64-bit) of `n` bytes, continuing from h. */
static inline uint64_t kn_fnv1a_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/** FNV-1a (64-bit) of a NUL-terminated string (NULL: none), continuing from h. */
static inline uint64_t kn_fnv1a(uint64_t h, const char *s)
{
    return s ? kn_fnv1a_bytes(h, s, strlen(s)) : h;
}

/** Checked size arithmetic: false on overflow. */
bool kn_size_mul(size_t a, size_t b, size_t *out);
bool kn_size_add(size_t a, size_t b, size_t *out);

/** malloc/calloc/realloc wrappers that return NULL on a zero-size or overflowing request's failure only. */
void *kn_xcalloc(size_t count, size_t size);
char *kn_strdup(const char *s);

/* ----------------------------------------------------------------- ops */

/** Fusion classes used by the fusion passes. */
typedef enum kn_fuse_class {
    KN_FUSE_NONE = 0,
    KN_FUSE_PRODUCER,    /**< conv/gemm-like (and batch norm): may carry a post-activation */
    KN_FUSE_ACTIVATION,  /**< element-wise unary activation */
    KN_FUSE_BINARY       /**< element-wise binary op (residual add) */
} kn_fuse_class;

/** Op flags (the last column of ops.def). */
enum {
    KN_OPF_UNARY_ELTWISE = 1 << 0, /**< element-wise unary float op: same shape in and out, safe in place */
    KN_OPF_INTERNAL = 1 << 1,      /**< kiln's own op (a pass forms it): no ONNX import or export */
    KN_OPF_EFFECT = 1 << 2,        /**< writes inputs in place (optimizer updates, running statistics):
                                        never removed, merged, folded or moved before a reader of them */
};

struct kn_graph;
struct kn_node;
struct kn_grad_ctx;

/** Shape rule: set dtype and shape of every output of `node` from its inputs. */
typedef kn_status (*kn_shape_fn)(struct kn_graph *graph, struct kn_node *node, kn_error *err);

/**
 * Gradient rule: build the backward part of the forward node ctx->fwd in
 * ctx's graph, from the gradients of its outputs, setting the gradient of
 * each input that needs one (ir/grad.h).
 */
typedef kn_status (*kn_grad_fn)(struct kn_grad_ctx *ctx);

typedef enum kn_op {
#define KN_OP(e, name, imin, imax, omin, omax, fuse, shape, grad, flags) KN_OP_##e,
#include "ops.def"
#undef KN_OP
    KN_OP_COUNT
} kn_op;

/** One row of the op table. */
typedef struct kn_op_info {
    const char *name;
    int min_inputs, max_inputs;    /**< max -1: unbounded (up to KN_MAX_INPUTS) */
    int min_outputs, max_outputs;  /**< max -1: unbounded (up to KN_MAX_OUTPUTS) */
    kn_fuse_class fuse;
    kn_shape_fn shape;
    kn_grad_fn grad;               /**< NULL: no gradient rule */
    unsigned flags;                /**< KN_OPF_* */
} kn_op_info;

/** Table row of `op`; op must be < KN_OP_COUNT. */
const kn_op_info *kn_op_get(kn_op op);
/** Look an op up by its ONNX name; returns KN_OP_COUNT when unknown. */
kn_op kn_op_from_name(const char *name);

/* ------------------------------------------------------------ attributes */

#define KN_MAX_SPATIAL 3
#define KN_MAX_INPUTS 64
#define KN_MAX_OUTPUTS 16

typedef enum kn_auto_pad {
    KN_AUTO_PAD_NOTSET = 0,
    KN_AUTO_PAD_SAME_UPPER,
    KN_AUTO_PAD_SAME_LOWER,
    KN_AUTO_PAD_VALID
} kn_auto_pad;

/** Conv, ConvTranspose, MaxPool, AveragePool. Zeros mean "not given". */
typedef struct kn_window_attrs {
    int nspatial;                               /**< spatial rank (input rank - 2) */
    int64_t kernel[KN_MAX_SPATIAL];             /**< 0: infer from the weight shape (conv) */
    int64_t stride[KN_MAX_SPATIAL];             /**< default 1 */
    int64_t dilation[KN_MAX_SPATIAL];           /**< default 1 */
    int64_t pad_begin[KN_MAX_SPATIAL];
    int64_t pad_end[KN_MAX_SPATIAL];
    int64_t output_padding[KN_MAX_SPATIAL];     /**< ConvTranspose */
    int64_t output_shape[KN_MAX_SPATIAL];       /**< ConvTranspose, when has_output_shape */
    bool has_output_shape;
    int64_t group;                              /**< default 1 */
    kn_auto_pad auto_pad;
    bool ceil_mode;                             /**< pools */
    bool count_include_pad;                     /**< AveragePool */
} kn_window_attrs;

/** Gemm. */
typedef struct kn_gemm_attrs {
    float alpha, beta;   /**< defaults 1, 1 */
    bool trans_a, trans_b;
} kn_gemm_attrs;

/**
 * Scalar parameters of element-wise ops: LeakyRelu (alpha 0.01), Elu (alpha
 * 1), HardSigmoid (alpha 0.2, beta 0.5), Clip (min, max when not inputs:
 * -inf/+inf), Dropout (ratio).
 */
typedef struct kn_scalar_attrs {
    float alpha, beta;
    float min, max;
    float ratio;
} kn_scalar_attrs;

/**
 * Ops with an axis: Softmax/LogSoftmax (`legacy_2d` for opset < 13, where the
 * input is coerced to 2-D at `axis`), Concat, Flatten, Gather, Split.
 */
typedef struct kn_axis_attrs {
    int64_t axis;
    bool legacy_2d;
} kn_axis_attrs;

typedef struct kn_transpose_attrs {
    int nperm;                   /**< 0: reverse the dimensions */
    int64_t perm[KN_MAX_RANK];
} kn_transpose_attrs;

typedef struct kn_batch_norm_attrs {
    float epsilon;               /**< default 1e-5 */
    float momentum;              /**< default 0.9 */
    /**
     * BatchNormTrain and BatchNormGrad in data-parallel training with
     * synchronised statistics: the ranks' transport (NULL: this rank's
     * batch alone); the sums go over every rank's shard, in rank order
     * when `deterministic`.
     */
    const struct kn_collective *sync;
    bool deterministic;
} kn_batch_norm_attrs;

/** LayerNormalization: normalise over the dimensions from `axis` on (default -1); epsilon default 1e-5. */
typedef struct kn_layer_norm_attrs {
    int64_t axis;
    float epsilon;
} kn_layer_norm_attrs;

typedef struct kn_lrn_attrs {
    int64_t size;
    float alpha, beta, bias;     /**< defaults 1e-4, 0.75, 1 */
} kn_lrn_attrs;

/**
 * Reductions (ReduceSum ... ReduceMean) and ArgMax/ArgMin. The axes are
 * attrs.axes, or, when the node has input 1 (ReduceSum-13's form), that
 * constant int64 input (kn_reduce_resolve in ir/shape.h). No axes means all
 * axes, or none when noop_empty (ReduceSum-13's noop_with_empty_axes: the
 * node is then an identity). ArgMax/ArgMin: naxes 1, axes[0] the axis;
 * select_last takes the last of equal extremes.
 */
typedef struct kn_reduce_attrs {
    int naxes;                   /**< 0: all axes (or none, with noop_empty) */
    int64_t axes[KN_MAX_RANK];
    bool keepdims;               /**< default true */
    bool noop_empty;             /**< default false */
    bool select_last;            /**< ArgMax/ArgMin; default false */
} kn_reduce_attrs;

typedef enum kn_resize_mode { KN_RESIZE_NEAREST = 0, KN_RESIZE_LINEAR, KN_RESIZE_CUBIC } kn_resize_mode;

/** How an output coordinate maps to an input coordinate (ONNX Resize's coordinate_transformation_mode). */
typedef enum kn_resize_coord {
    KN_COORD_HALF_PIXEL = 0,
    KN_COORD_PYTORCH_HALF_PIXEL,
    KN_COORD_ALIGN_CORNERS,
    KN_COORD_ASYMMETRIC,
    KN_COORD_TF_HALF_PIXEL_FOR_NN,
    KN_COORD_TF_CROP_AND_RESIZE
} kn_resize_coord;

typedef enum kn_nearest_mode {
    KN_NEAREST_ROUND_PREFER_FLOOR = 0,
    KN_NEAREST_ROUND_PREFER_CEIL,
    KN_NEAREST_FLOOR,
    KN_NEAREST_CEIL
} kn_nearest_mode;

/**
 * Resize (opset 11-13 semantics; Upsample and Resize-10 import as asymmetric
 * Resize). Inputs X, roi, scales, sizes, the last three optional and
 * constant once shapes are inferred (kn_resize_resolve in ir/shape.h).
 */
typedef struct kn_resize_attrs {
    kn_resize_mode mode;           /**< default nearest */
    kn_resize_coord coord;         /**< default half_pixel */
    kn_nearest_mode nearest;       /**< default round_prefer_floor */
    float cubic_a;                 /**< default -0.75 */
    bool exclude_outside;
    float extrapolation;           /**< tf_crop_and_resize: the value outside the roi (default 0) */
} kn_resize_attrs;

/** DepthToSpace / SpaceToDepth: the block size; DepthToSpace's mode (DCR: depth-column-row, the default; CRD). */
typedef struct kn_block_attrs {
    int64_t blocksize;
    bool crd;
} kn_block_attrs;

/** Mod: fmod 1 takes the sign of the dividend (C's fmod), 0 that of the divisor (Python's %; integers only). */
typedef struct kn_mod_attrs {
    bool fmod;
} kn_mod_attrs;

/** ScatterND: how an update meets the element it lands on (opset 16's reduction; none before). */
typedef enum kn_scatter_reduction { KN_SCATTER_NONE = 0, KN_SCATTER_ADD, KN_SCATTER_MUL } kn_scatter_reduction;

typedef struct kn_scatter_attrs {
    kn_scatter_reduction reduction;
} kn_scatter_attrs;

/** GatherND: the leading dimensions data and indices share (ONNX's batch_dims, 0 before opset 12). */
typedef struct kn_gather_nd_attrs {
    int64_t batch_dims;
} kn_gather_nd_attrs;

typedef enum kn_pad_mode { KN_PAD_CONSTANT = 0, KN_PAD_REFLECT, KN_PAD_EDGE } kn_pad_mode;

typedef struct kn_pad_attrs {
    kn_pad_mode mode;
} kn_pad_attrs;

/** Cast (to), ConstantOfShape (dtype and value; default float32 0). */
typedef struct kn_dtype_attrs {
    kn_dtype to;
    double value;
} kn_dtype_attrs;

/** Shape (opset 15 start/end; has_end false means "to the end"). */
typedef struct kn_shape_attrs {
    int64_t start, end;
    bool has_end;
} kn_shape_attrs;

/**
 * ActivationGrad: the gradient of activation `act` (with its parameters p;
 * Clip's bounds in p.min/p.max) from dy and, when use_dst, the activation's
 * output y, else its input x.
 */
typedef struct kn_act_grad_attrs {
    kn_op act;
    kn_scalar_attrs p;
    bool use_dst;
} kn_act_grad_attrs;

/**
 * DropoutTrain, DropoutGrad: drop probability; the mask of step t is a
 * function of (seed, t, element). DropoutTrain's optional third input, an
 * int64 scalar, is the index of the first sample of the batch within a
 * larger one (a rank's shard of a global batch): its elements are numbered
 * from that sample's, so the shards' masks are the global batch's.
 */
typedef struct kn_dropout_attrs {
    float ratio;
    uint64_t seed;
} kn_dropout_attrs;

/**
 * GradSyncStart, GradSyncWait (data-parallel training): the ranks'
 * transport (kn_train_options.collective, owned by the caller) and whether
 * the bucket is gathered and summed in rank order (deterministic) rather
 * than summed by the transport.
 */
typedef struct kn_grad_sync_attrs {
    const struct kn_collective *comm;
    bool deterministic;
} kn_grad_sync_attrs;

/** SumTo: the shape to sum down to. */
typedef struct kn_to_shape_attrs {
    kn_shape shape;
} kn_to_shape_attrs;

/**
 * Losses and LossGrad: `kind` the loss op (LossGrad: the loss whose
 * gradient it is); epsilon clips probabilities to [eps, 1 - eps] (Keras:
 * 1e-7) for CrossEntropy and BinaryCrossEntropy.
 */
typedef struct kn_loss_attrs {
    kn_op kind;
    float epsilon;
} kn_loss_attrs;

/**
 * Optimizer updates (docs/spec-language.md): learning rate, decoupled
 * weight decay (w -= lr * wd * w first), SGD momentum and Nesterov, Adam's
 * betas and epsilon (Keras's form: lr * sqrt(1 - b2^t) / (1 - b1^t) * m /
 * (sqrt(v) + eps), t the step input).
 */
typedef struct kn_optim_attrs {
    float lr, weight_decay;
    float momentum;
    bool nesterov;
    float beta1, beta2, epsilon;
    float rho;                 /**< RMSprop's decay of the mean square */
} kn_optim_attrs;

/** Typed attributes; which member is live follows from the node's op. */
typedef union kn_attrs {
    kn_window_attrs window;
    kn_gemm_attrs gemm;
    kn_scalar_attrs scalar;
    kn_axis_attrs axis;
    kn_transpose_attrs transpose;
    kn_batch_norm_attrs batch_norm;
    kn_lrn_attrs lrn;
    kn_layer_norm_attrs layer_norm;
    kn_reduce_attrs reduce;
    kn_resize_attrs resize;
    kn_block_attrs block;
    kn_mod_attrs mod;
    kn_scatter_attrs scatter;
    kn_gather_nd_attrs gather_nd;
    kn_pad_attrs pad;
    kn_dtype_attrs dtype;
    kn_shape_attrs shape;
    kn_act_grad_attrs act_grad;
    kn_dropout_attrs dropout;
    kn_to_shape_attrs to_shape;
    kn_loss_attrs loss;
    kn_optim_attrs optim;
    kn_grad_sync_attrs grad_sync;
} kn_attrs;

/** Whether `op` is an element-wise unary float op (Relu ... Erf): same shape in and out, safe in place. */
bool kn_op_is_unary_eltwise(kn_op op);


/** Set the defaults of `op`'s attributes (what ONNX says when an attribute is absent). */
void kn_attrs_init(kn_op op, kn_attrs *attrs);

/**
 * A post-operation fused into a producer node (set by fusion passes; the
 * reference backend applies it after the main computation).
 */
typedef struct kn_fused {
    kn_op activation;        /**< KN_OP_COUNT: none */
    kn_scalar_attrs act;     /**< the activation's parameters */
    int residual;            /**< input slot holding a tensor added before the activation, or -1 */
} kn_fused;

/* --------------------------------------------------------- values, nodes */

typedef enum kn_value_kind {
    KN_VALUE_INTERMEDIATE = 0,  /**< produced by a node */
    KN_VALUE_INPUT,             /**< a graph input, fed at run time */
    KN_VALUE_PARAM,             /**< a trainable weight (has data) */
    KN_VALUE_CONST,             /**< a constant (has data) */
    KN_VALUE_STATE              /**< non-trainable state that training updates (has data): BatchNorm's running
                                     statistics, optimizer moments, ... */
} kn_value_kind;

/**
 * Whether a node of side-effect op `op` (KN_OPF_EFFECT) writes its input
 * `slot` in place: the weight and moments of an optimizer update,
 * BatchNormTrain's running mean and variance.
 */
bool kn_op_writes_input(kn_op op, int slot);

/** Whether value kind k holds data of its own (PARAM, CONST, STATE). */
static inline bool kn_value_kind_stored(kn_value_kind k)
{
    return k == KN_VALUE_PARAM || k == KN_VALUE_CONST || k == KN_VALUE_STATE;
}

typedef struct kn_value {
    char *name;
    kn_dtype dtype;
    kn_shape shape;
    bool shape_known;           /**< false until shape inference has set it */
    kn_value_kind kind;
    int producer;               /**< node id, or -1 */
    bool is_output;             /**< a graph output */
    void *data;                 /**< PARAM/CONST/STATE: dense C-order data, owned by the graph */
    bool data_borrowed;         /**< data belongs to another graph (kn_graph_clone_view); never written or freed */
    int model;                  /**< PARAM/STATE: which model of its file it belongs to (0: the first or only) */
} kn_value;

typedef struct kn_node {
    char *name;
    kn_op op;
    int num_inputs, num_outputs;
    int inputs[KN_MAX_INPUTS];   /**< value ids; -1: optional input absent */
    int outputs[KN_MAX_OUTPUTS];
    kn_attrs attrs;
    kn_fused fused;
    bool dead;                   /**< removed by a pass; dropped by kn_graph_compact */
} kn_node;

typedef struct kn_graph {
    char *name;
    kn_value *values;
    int num_values, cap_values;
    kn_node *nodes;
    int num_nodes, cap_nodes;
    int *inputs;                 /**< graph input value ids, in order */
    int num_inputs;
    int *outputs;                /**< graph output value ids, in order */
    int num_outputs;
    /**
     * Weights (PARAM) and state (STATE) are variables: training changes
     * them between runs, so no pass may fold them into constants or rewrite
     * them (kn_value_is_constant). Set for training graphs and for the
     * evaluation graphs that share their weights.
     */
    bool variables;
    /**
     * Index of the values by name (ir/graph.c): an open-addressing table of
     * value ids, kept up to date by kn_graph_add_value, the copies,
     * kn_graph_compact and kn_graph_rename_value, so that kn_graph_find_value
     * takes constant time. Nothing else may rename or remove values.
     */
    int *name_slots;
    int name_cap;                /**< slots: 0 or a power of two, at least twice num_values */
} kn_graph;

/* ---------------------------------------------------------------- graph */

void kn_graph_init(kn_graph *g);
void kn_graph_free(kn_graph *g);
/** Deep copy (names, data, nodes). */
kn_status kn_graph_clone(const kn_graph *src, kn_graph *dst, kn_error *err);
/**
 * Copy whose weights and constants borrow src's data instead of copying it:
 * for short-lived work (inferring output shapes, statistics) on big models.
 * src must outlive dst and its data must not change meanwhile; passes replace
 * data rather than writing into it, so running the pipeline on dst is fine.
 */
kn_status kn_graph_clone_view(const kn_graph *src, kn_graph *dst, kn_error *err);

/**
 * Add a value named `name` (copied; must be unique). *id receives its id.
 * `data`, when non-NULL, is taken over by the graph (it must come from malloc).
 */
kn_status kn_graph_add_value(kn_graph *g, const char *name, kn_dtype dtype, const kn_shape *shape,
                             kn_value_kind kind, void *data, int *id, kn_error *err);
/** Rename value `id` to a copy of `name` (which no other value may have). */
kn_status kn_graph_rename_value(kn_graph *g, int id, const char *name, kn_error *err);
/** Add a node; inputs/outputs are value ids; sets each output's producer. */
kn_status kn_graph_add_node(kn_graph *g, const char *name, kn_op op, const int *inputs, int num_inputs,
                            const int *outputs, int num_outputs, const kn_attrs *attrs, int *id,
                            kn_error *err);
/** Mark value ids as graph inputs / outputs (appends). */
kn_status kn_graph_add_input(kn_graph *g, int value, kn_error *err);
kn_status kn_graph_add_output(kn_graph *g, int value, kn_error *err);
/** Find a value by name; -1 when absent. Linear unless an index was built. */
int kn_graph_find_value(const kn_graph *g, const char *name);
/** A value name "<base><suffix>" (or with _2, _3, ...) not used in `g`; malloc'd, NULL when out of memory. */
char *kn_unique_value_name(const kn_graph *g, const char *base, const char *suffix);

/** Sort nodes topologically (stable); KN_ERR_GRAPH naming a node on a cycle. */
kn_status kn_graph_sort(kn_graph *g, kn_error *err);
/**
 * Put the nodes in the order `order` gives (order[i]: the current index of
 * the node that goes to position i; a permutation), updating producers.
 * The caller keeps the order topological.
 */
kn_status kn_graph_reorder(kn_graph *g, const int *order, kn_error *err);
/** Drop dead nodes and values no node or graph output refers to; renumbers ids. */
kn_status kn_graph_compact(kn_graph *g, kn_error *err);

/**
 * Verify: arities against the op table, every input defined (a graph input,
 * weight, constant, or produced earlier), a single producer per value,
 * topological order, outputs produced. With `check_shapes`, also that every
 * value has a known shape and dtype.
 */
kn_status kn_graph_verify(const kn_graph *g, bool check_shapes, kn_error *err);

/** Write a readable text dump of the graph to `f` (a FILE *). */
void kn_graph_dump(const kn_graph *g, void *f);

/**
 * Write the graph in Graphviz DOT to `file` (a FILE *): one box per live
 * node labelled with its op (and fused post-ops) and name; graph inputs,
 * weights/constants and graph outputs as distinctly shaped and coloured
 * nodes; edges labelled with the value's dtype and shape when known (the
 * batch dimension as N). Names are escaped, so any value or node name is
 * safe. Render with `dot -Tsvg`.
 */
void kn_graph_dump_dot(const kn_graph *g, void *file);

/**
 * The one answer to "may a pass treat value `id` as a constant (fold it,
 * read its contents to rewrite a node, merge it)?": a CONST with data
 * always; a PARAM or STATE with data only when the graph's weights are not
 * variables (inference). Never an input or intermediate.
 */
bool kn_value_is_constant(const kn_graph *g, int id);

/** Number of nodes that read value `id` (plus 1 if it is a graph output). */
int kn_graph_value_readers(const kn_graph *g, int id);

/* --------------------------------------------------------------- shapes */

/** Format a shape as "[N,3,224,224]" into buf (always terminated). */
const char *kn_shape_str(const kn_shape *s, char *buf, size_t len);
/** qsort/bsearch comparison of two int64_t, ascending. */
int kn_cmp_i64(const void *a, const void *b);

/** A buffer of `size` bytes live over the steps [first, last] (kn_interval_place). */
typedef struct kn_interval {
    size_t size;
    int64_t first, last;
} kn_interval;

/**
 * Offsets for the items order[0..norder) of items[0..count) (the others, and
 * items of size 0, get 0): in that order, each at the lowest offset free of
 * every placed item whose life overlaps its own, or with best_fit into the
 * smallest such gap that fits (else on top). offs[count] receives the
 * offsets, *peak the largest end. Time: each item costs the items it
 * overlaps and its life in steps (ir/place.c), not all the items before it.
 */
kn_status kn_interval_place(const kn_interval *items, int count, const int *order, int norder, bool best_fit,
                            size_t *offs, size_t *peak, kn_error *err);

/** A growing byte buffer (checkpoints, encoded pictures); `failed` is set when it ran out of memory. */
typedef struct kn_buf {
    unsigned char *p;            /**< malloc'd; free it */
    size_t len, cap;
    bool failed;
} kn_buf;

/** Append n bytes (nothing once b->failed, or when n would overflow: then b->failed is set). */
void kn_buf_put(kn_buf *b, const void *data, size_t n);

/** `bytes` for people ("512 B", "3.25 MiB", "1.2 TiB") into buf; returns buf. */
const char *kn_bytes_str(size_t bytes, char *buf, size_t len);
bool kn_shape_equal(const kn_shape *a, const kn_shape *b);

/**
 * Run `node`'s shape rule (from the op table), after checking that every
 * present input has a known shape. Sets shape_known on the outputs.
 */
kn_status kn_node_infer_shape(kn_graph *g, kn_node *node, kn_error *err);

/**
 * Read a constant integer tensor (int64 or int32) of value `id` into out[],
 * at most `cap` elements; *count receives the number. KN_ERR_UNSUPPORTED if
 * the value is not a constant (its content is only known at run time).
 */
kn_status kn_value_read_ints(const kn_graph *g, int id, int64_t *out, int cap, int *count,
                             kn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* KN_IR_H */
