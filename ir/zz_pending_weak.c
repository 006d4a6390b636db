/* TEMPORARY during parallel development: weak fallbacks, removed before landing. */
#include "shape.h"
__attribute__((weak)) kn_status kn_shape_batch_norm(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_broadcast(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_cast(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_concat(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_constant_of_shape(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_conv(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_conv_transpose(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_dropout(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_flatten(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_gather(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_gemm(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_global_pool(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_matmul(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_pad(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_pool(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_reduce(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_reshape(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_same(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_shape(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_slice(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_split(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_squeeze(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_transpose(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_shape_unsqueeze(kn_graph *g, kn_node *n, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: shape rule pending", n->name); }
__attribute__((weak)) kn_status kn_window_resolve(const kn_node *n, const kn_window_attrs *a, const int64_t *in, const int64_t *kernel, bool transpose, int64_t *pb, int64_t *pe, int64_t *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "pending"); }
