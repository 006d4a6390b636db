/*
 * onnx.h - the ONNX importer: an ONNX ModelProto (opsets 7..17 of the default
 * domain) becomes a kiln IR graph; and the exporter (onnx_export.c): a kiln
 * graph becomes an opset-13 ModelProto.
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
 * ONNX IR versions (ModelProto.ir_version) kiln reads: 3 introduced
 * opset_import; 9 and 10 only added element types (float8, int4) and
 * function fields, which kiln refuses by dtype or op or skips.
 */
#define KN_ONNX_MIN_IR_VERSION 3
#define KN_ONNX_MAX_IR_VERSION 10

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

/* ------------------------------------------------------------- export */

/**
 * The ONNX default-domain opset and IR version the exporter writes. The
 * opset is 14 instead only for a graph that does Add/Sub/Mul/Div on 8-bit
 * integers (opset 13 lacks those types); nothing else changes between them
 * for kiln's ops.
 */
#define KN_ONNX_EXPORT_OPSET 13
#define KN_ONNX_EXPORT_IR_VERSION 7

/**
 * Serialize `g` as an ONNX ModelProto (opset KN_ONNX_EXPORT_OPSET, 14 for 8-bit
 * integer arithmetic, 17 with LayerNormalization; IR version
 * KN_ONNX_EXPORT_IR_VERSION, 8 above opset 13; producer "kiln") into a malloc'ed
 * buffer: *data (release with free) and *size. The graph is not modified.
 *
 * What the exporter writes:
 *  - graph inputs as ValueInfos with dtype and shape; KN_DIM_BATCH becomes
 *    the symbolic dimension "N";
 *  - every weight and constant that a node or graph output reads as an
 *    initializer in raw_data (little-endian);
 *  - one ONNX node per kiln node in topological order, in the opset-13 form
 *    of its op: attributes from kn_attrs, and where kiln keeps a parameter
 *    that opset 13 takes as an input (Clip min/max from Clip-6, the Dropout
 *    ratio) a constant initializer "<node>/<name>";
 *  - forms opset 13 lacks are spelled with several nodes: HardSwish as
 *    HardSigmoid(alpha 1/6, beta 1/2) and Mul; Shape with start/end as
 *    Shape and Slice; Softmax/LogSoftmax with legacy_2d (opset < 13
 *    semantics) as Flatten, Softmax and Reshape to the input's shape unless
 *    the axis is known to be the last one;
 *  - fused post-ops (node->fused) expanded back into an Add of the residual
 *    and a separate activation node;
 *  - graph outputs with dtype and (when known) shape, and ValueInfos for
 *    intermediate values whose dtype and shape are known.
 * Refused with a message naming the node: AveragePool with dilations (not in
 * opset 13), a fused activation that is not an element-wise activation, a
 * fused residual that is not the node's last input. Also refused: a weight
 * without data, an input or output without a dtype, a value read before it
 * is produced, and a model over protobuf's 2 GiB limit.
 */
kn_status kn_onnx_export_buffer(const kn_graph *g, void **data, size_t *size, kn_error *err);

/**
 * Export `g` like kn_onnx_export_buffer and write it to `path` atomically
 * (a temporary file in the same directory, renamed over `path` once fully
 * written and synced); on failure `path` is left as it was.
 */
kn_status kn_onnx_export_file(const kn_graph *g, const char *path, kn_error *err);

/** kn_onnx_export_buffer / kn_onnx_export_file that also give the opset written (*opset; NULL: not wanted). */
kn_status kn_onnx_export_buffer_opset(const kn_graph *g, void **data, size_t *size, int64_t *opset, kn_error *err);
kn_status kn_onnx_export_file_opset(const kn_graph *g, const char *path, int64_t *opset, kn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* KN_FRONTEND_ONNX_H */
