/*
 * shape.h - the shape rules named in ir/ops.def. Each sets the dtype and
 * shape of every output of a node from its inputs' dtypes, shapes and (for
 * data-dependent rules such as Reshape) constant input contents, and returns
 * a KN_ERR_SHAPE/KN_ERR_DTYPE/KN_ERR_UNSUPPORTED message naming the node.
 * Inputs may be assumed to have known shapes (kn_node_infer_shape checks).
 */
#ifndef KN_IR_SHAPE_H
#define KN_IR_SHAPE_H

#include "ir.h"

/**
 * Largest size attribute (kernel, stride, dilation, pads, output padding,
 * a Pad's pads) the shape rules accept: the same range for every op, so that
 * an absurd value is refused by name at shape inference, not by malloc.
 */
#define KN_SIZE_ATTR_MAX ((int64_t)1 << 31)

#define KN_SHAPE_RULE(fn) kn_status fn(kn_graph *g, kn_node *n, kn_error *err);
KN_SHAPE_RULE(kn_shape_conv)
KN_SHAPE_RULE(kn_shape_conv_transpose)
KN_SHAPE_RULE(kn_shape_gemm)
KN_SHAPE_RULE(kn_shape_matmul)
KN_SHAPE_RULE(kn_shape_broadcast)
KN_SHAPE_RULE(kn_shape_same)
/* Min/Max/Sum/Mean: every input of one dtype, all broadcast together (Mean: float32) */
KN_SHAPE_RULE(kn_shape_variadic)
/* Equal/Less/...: two inputs of one dtype (float32, float64, integers; Equal also bool) -> broadcast bool */
KN_SHAPE_RULE(kn_shape_compare)
/* PRelu: float32 x and a slope that broadcasts to x's shape (unidirectionally) -> x's shape */
KN_SHAPE_RULE(kn_shape_prelu)
/* Not/And/Or/Xor: bool inputs -> broadcast bool */
KN_SHAPE_RULE(kn_shape_logical)
/* Where: bool condition, X and Y of one dtype, all three broadcast together */
KN_SHAPE_RULE(kn_shape_where)
KN_SHAPE_RULE(kn_shape_pool)
KN_SHAPE_RULE(kn_shape_global_pool)
KN_SHAPE_RULE(kn_shape_batch_norm)
/* Reduce*: data[, constant int64 axes] -> the reduced shape (ir/shape_reduce.c) */
KN_SHAPE_RULE(kn_shape_layer_norm)
KN_SHAPE_RULE(kn_shape_instance_norm)
KN_SHAPE_RULE(kn_shape_reduce)
/* ArgMax/ArgMin: int64 indices, the axis kept as 1 or dropped */
KN_SHAPE_RULE(kn_shape_arg)
/* Resize: float32 X, constant roi/scales/sizes (ir/shape_image.c) */
KN_SHAPE_RULE(kn_shape_resize)
KN_SHAPE_RULE(kn_shape_flatten)
/* Expand, Tile, Range, DepthToSpace/SpaceToDepth, Mod (ir/shape_image.c) */
KN_SHAPE_RULE(kn_shape_expand)
KN_SHAPE_RULE(kn_shape_tile)
KN_SHAPE_RULE(kn_shape_range)
KN_SHAPE_RULE(kn_shape_depth_space)
KN_SHAPE_RULE(kn_shape_mod)
KN_SHAPE_RULE(kn_shape_reshape)
KN_SHAPE_RULE(kn_shape_transpose)
KN_SHAPE_RULE(kn_shape_concat)
KN_SHAPE_RULE(kn_shape_split)
KN_SHAPE_RULE(kn_shape_slice)
KN_SHAPE_RULE(kn_shape_pad)
KN_SHAPE_RULE(kn_shape_squeeze)
KN_SHAPE_RULE(kn_shape_unsqueeze)
KN_SHAPE_RULE(kn_shape_gather)
KN_SHAPE_RULE(kn_shape_scatter_nd)
KN_SHAPE_RULE(kn_shape_gather_nd)
KN_SHAPE_RULE(kn_shape_shape)
KN_SHAPE_RULE(kn_shape_constant_of_shape)
KN_SHAPE_RULE(kn_shape_dropout)
KN_SHAPE_RULE(kn_shape_cast)
/* training (shape_train.c) */
KN_SHAPE_RULE(kn_shape_batch_norm_train)
KN_SHAPE_RULE(kn_shape_batch_norm_grad)
KN_SHAPE_RULE(kn_shape_dropout_train)
KN_SHAPE_RULE(kn_shape_conv_grad_weight)
KN_SHAPE_RULE(kn_shape_like_input1)
KN_SHAPE_RULE(kn_shape_sum_to)
KN_SHAPE_RULE(kn_shape_loss_softmax)
KN_SHAPE_RULE(kn_shape_loss)
KN_SHAPE_RULE(kn_shape_update)
KN_SHAPE_RULE(kn_shape_grad_sync_start)
KN_SHAPE_RULE(kn_shape_grad_sync_wait)
#undef KN_SHAPE_RULE

/* Helpers shared by the rules. */

/** The value behind input slot i (NULL when absent). */
kn_value *kn_node_input(kn_graph *g, const kn_node *n, int i);
/** The value behind output slot i. */
kn_value *kn_node_output(kn_graph *g, const kn_node *n, int i);
/** Set output slot i's dtype and shape, checking the element count fits size_t. */
kn_status kn_node_set_output(kn_graph *g, kn_node *n, int i, kn_dtype dtype, const kn_shape *shape,
                             kn_error *err);
/** NumPy broadcast of a and b into out; KN_ERR_SHAPE message naming node n on mismatch. */
kn_status kn_shape_broadcast2(const kn_node *n, const kn_shape *a, const kn_shape *b, kn_shape *out,
                              kn_error *err);
/** Normalise axis (negative counts from the end) for `rank`; KN_ERR_SHAPE if out of range. */
kn_status kn_axis_normalize(const kn_node *n, int64_t axis, int rank, int64_t *out, kn_error *err);
/**
 * Resolve a window op's explicit padding for input spatial dims `in` and
 * kernel `k` (auto_pad, ceil_mode): fills pad_begin/pad_end and output dims.
 * Used by shape rules and kernels so both agree.
 */
kn_status kn_window_resolve(const kn_node *n, const kn_window_attrs *a, const int64_t *in,
                            const int64_t *kernel, bool transpose, int64_t *pad_begin,
                            int64_t *pad_end, int64_t *out, kn_error *err);

/**
 * Resolve Slice parameters with ONNX semantics for input shape `in`:
 * `count` entries of starts/ends (negative counts from the end; clamped),
 * axes (NULL: 0..count-1; negative allowed; no repeats) and steps (NULL: all
 * 1; non-zero, may be negative). Fills start[d]/step[d] for every dimension d
 * of `in` (0 and 1 where not sliced) and the output shape. Shared by the
 * shape rule and the reference kernel (ir/shape_tensor.c).
 */
kn_status kn_slice_resolve(const kn_node *n, const kn_shape *in, const int64_t *starts,
                           const int64_t *ends, const int64_t *axes, const int64_t *steps, int count,
                           int64_t *start, int64_t *step, kn_shape *out, kn_error *err);

/**
 * Which dimensions of a rank-`rank` input reduction node n reduces:
 * red[d] for each d. The axes are axes_in[0..naxes_in) when the node has an
 * axes input (naxes_in >= 0), else n->attrs.reduce.axes; none listed means
 * every axis, or none at all when noop_empty (*identity is then true: the
 * output is the input). Negative axes count from the end; a repeated or
 * out-of-range axis is a KN_ERR_SHAPE naming the node. Shared by the shape
 * rule, the reference kernels and the oneDNN mapping.
 */
kn_status kn_reduce_resolve(const kn_node *n, int rank, const int64_t *axes_in, int naxes_in, bool *red,
                            bool *identity, kn_error *err);

/**
 * Resolve a Resize of input shape `in`: scales (nscales values, 0 when
 * absent or empty) or sizes (nsizes, 0 when absent or empty), exactly one of
 * them given for every dimension. Fills the output shape and, per
 * dimension, the scale the coordinate transformation divides by (the given
 * scale, or out/in when sizes are given). Shared by the shape rule, the
 * reference kernel and the oneDNN mapping.
 */
kn_status kn_resize_resolve(const kn_node *n, const kn_shape *in, const float *scales, int nscales,
                            const int64_t *sizes, int nsizes, double *scale, kn_shape *out, kn_error *err);

/**
 * The float32 contents of constant value `id` into out[0..cap): *count
 * receives the number (KN_ERR_UNSUPPORTED when not a constant, KN_ERR_DTYPE
 * when not float32, KN_ERR_SHAPE when more than cap).
 */
kn_status kn_value_read_floats(const kn_graph *g, int id, float *out, int cap, int *count, kn_error *err);

/**
 * LayerNormalization of input shape x at `axis`: *outer rows of *inner
 * elements each; *normalized_axis the normalised axis in [0, rank).
 * KN_ERR_SHAPE naming the node when the axis is out of range.
 */
kn_status kn_layer_norm_split(const kn_node *n, const kn_shape *x, int *normalized_axis, int64_t *outer,
                              int64_t *inner, kn_error *err);

/**
 * Range's element count from start, limit, delta (as doubles):
 * max(ceil((limit - start) / delta), 0); KN_ERR_SHAPE for delta 0 or a
 * count beyond KN_SIZE_ATTR_MAX.
 */
kn_status kn_range_count(const kn_node *n, double start, double limit, double delta, int64_t *count, kn_error *err);

#endif /* KN_IR_SHAPE_H */
