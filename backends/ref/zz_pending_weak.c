/* TEMPORARY during parallel development: weak fallbacks, removed before landing. */
#include "ref.h"
__attribute__((weak)) kn_status kn_ref_conv(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_conv_transpose(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_gemm(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_matmul(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_binary(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_unary(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_softmax(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_pool(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_global_pool(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_batch_norm(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_lrn(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_reduce_mean(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_copy(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_transpose(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_concat(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_split(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_slice(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_pad(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_gather(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_shape(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_constant_of_shape(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) kn_status kn_ref_cast(const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err) { return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: kernel pending", node->name); }
__attribute__((weak)) void kn_ref_activation(kn_op op, const kn_scalar_attrs *p, float *x, size_t n) {}
