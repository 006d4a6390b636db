/*
 * onnx.h - the ONNX importer: an ONNX ModelProto (opsets 7..17 of the default
 * domain) becomes a kiln IR graph.
 *
 * Only kiln types cross this header; the protobuf-c structures generated from
 * onnx.proto stay inside frontend/.
 *
 * What the importer produces:
 *  - graph inputs (those not also listed as initializers) become
 *    KN_VALUE_INPUT values with the dtype and shape of their ValueInfo; a
 *    first dimension that is symbolic (dim_param), missing or 0 becomes
 *    KN_DIM_BATCH; any other symbolic dimension is refused;
 *  - initializers that some node (or a graph output) reads become
 *    KN_VALUE_PARAM (float32) or KN_VALUE_CONST (other dtypes) values with
 *    their data; unused initializers are dropped;
 *  - `Constant` nodes become KN_VALUE_CONST values (no node);
 *  - every other node becomes one kiln node, with its attributes converted to
 *    the typed kn_attrs of the op and older opset forms normalised to the
 *    newest one (attributes that became inputs in later opsets are added as
 *    KN_VALUE_CONST values named "<node>/<attr>");
 *  - node outputs are intermediates with shape_known = false;
 *  - unnamed nodes are named "<op_type>_<index>".
 *
 * Every error message starts with the model's name (the path or the `name`
 * argument) and names the node and op where one is involved. All unsupported
 * ops of a model are reported together in one KN_ERR_UNSUPPORTED message.
 */
#ifndef KN_FRONTEND_ONNX_H
#define KN_FRONTEND_ONNX_H

#include <stdbool.h>
#include <stddef.h>

#include "ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Opsets of the default ONNX domain the importer is made for. Models stamped
 * with an older opset are accepted when each op they use is in the op
 * table's range for that opset (its semantics unchanged since).
 */
#define KN_ONNX_MIN_OPSET 7
#define KN_ONNX_MAX_OPSET 17

/**
 * Import a serialized ONNX ModelProto from memory. `name` (may be NULL) is
 * used as the prefix of error messages. `graph` is initialized by this call
 * (any previous content is not freed, so pass a fresh or freed graph); on
 * failure it is left empty, so kn_graph_free(graph) is always safe.
 */
kn_status kn_onnx_import_buffer(const void *data, size_t size, const char *name, kn_graph *graph,
                                kn_error *err);

/** Read the file at `path` (binary) and import it like kn_onnx_import_buffer. */
kn_status kn_onnx_import_file(const char *path, kn_graph *graph, kn_error *err);

/**
 * Read a file holding one serialized TensorProto (as the ONNX test data's
 * input_0.pb / output_0.pb) into *out. out->data is allocated with malloc
 * (at least one byte, even for an empty tensor); release it with
 * kn_tensor_free_data (or free(out->data)). On failure *out is zeroed.
 */
kn_status kn_onnx_read_tensor_file(const char *path, kn_tensor *out, kn_error *err);

/** Like kn_onnx_read_tensor_file, from memory; `name` is used in messages. */
kn_status kn_onnx_read_tensor_buffer(const void *data, size_t size, const char *name, kn_tensor *out,
                                     kn_error *err);

/**
 * Whether the importer can convert op_type (default domain) at `opset`
 * (false outside KN_ONNX_MIN_OPSET..KN_ONNX_MAX_OPSET). `Constant` counts as
 * supported: it becomes a value.
 */
bool kn_onnx_op_supported(const char *op_type, int opset);

#ifdef __cplusplus
}
#endif
#endif /* KN_FRONTEND_ONNX_H */
