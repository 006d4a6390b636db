/*
 * onnx_priv.h - internals shared by the ONNX importer's files
 * (onnx_import.c: model, tensors, graph wiring; onnx_ops.c: the op table and
 * per-op attribute conversion). This header includes the protobuf-c types and
 * must not be included from outside frontend/ (use onnx.h there).
 */
#ifndef KN_FRONTEND_ONNX_PRIV_H
#define KN_FRONTEND_ONNX_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "onnx.h"
#include "onnx.pb-c.h"

/* Return from the enclosing function with expr's status when it is not KN_OK. */
#define KN_TRY(expr)                   \
    do {                               \
        kn_status kn_try_st_ = (expr); \
        if (kn_try_st_ != KN_OK)       \
            return kn_try_st_;         \
    } while (0)

struct kn_onnx_importer;

/**
 * One ONNX node being converted. The common code fills name, opset, op,
 * default attrs (kn_attrs_init), inputs (value ids, -1 for an empty name) and
 * outputs; the op's import function converts attributes into `attrs` and may
 * rewrite inputs (e.g. add constants made from old-opset attributes, drop an
 * input that is known to be inert) and outputs. Trailing absent inputs are
 * dropped and arity is checked against ir/ops.def afterwards.
 */
typedef struct kn_onnx_node {
    struct kn_onnx_importer *imp;
    const Onnx__NodeProto *proto;
    const char *name;        /**< node name (generated when the model has none) */
    const char *op_type;
    int64_t opset;           /**< the model's default-domain opset */
    kn_op op;
    kn_attrs attrs;
    int num_inputs;
    int inputs[KN_MAX_INPUTS];
    int num_outputs;
    int outputs[KN_MAX_OUTPUTS];
} kn_onnx_node;

/** Converts one node's attributes (and legacy forms); errors name the node. */
typedef kn_status (*kn_onnx_import_fn)(kn_onnx_node *n, kn_error *err);

/** One row of the importer table: op_type at opsets [min_opset, max_opset]. */
typedef struct kn_onnx_op_entry {
    const char *op_type;
    int min_opset, max_opset;
    kn_op op;                /**< KN_OP_COUNT for Constant (becomes a value, not a node) */
    kn_onnx_import_fn fn;    /**< NULL: the op has no attributes */
    const char *attrs;       /**< space-separated attribute names the row accepts */
} kn_onnx_op_entry;

/** Table row for op_type at opset, or NULL when kiln cannot import it. */
const kn_onnx_op_entry *kn_onnx_find_op(const char *op_type, int64_t opset);

/* ---------------------------------------------- helpers (onnx_import.c) */

/** Set err to "node 'NAME' (OP): <message>" with `status`; returns status. */
kn_status kn_onnx_node_error(const kn_onnx_node *n, kn_error *err, kn_status status,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** The attribute called `name`, or NULL. */
const Onnx__AttributeProto *kn_onnx_attr(const kn_onnx_node *n, const char *name);
/** Int attribute (*out = def when absent); KN_ERR_PARSE if it has another type. */
kn_status kn_onnx_attr_int(const kn_onnx_node *n, const char *name, int64_t def, int64_t *out,
                           kn_error *err);
/** Float attribute (*out = def when absent; an int attribute is accepted). */
kn_status kn_onnx_attr_float(const kn_onnx_node *n, const char *name, float def, float *out,
                             kn_error *err);
/**
 * Ints attribute into out[0..cap); *count receives the number, or -1 when the
 * attribute is absent. More than `cap` values is KN_ERR_UNSUPPORTED.
 */
kn_status kn_onnx_attr_ints(const kn_onnx_node *n, const char *name, int64_t *out, int cap,
                            int *count, kn_error *err);
/** String attribute copied (NUL-terminated) into buf (def when absent). */
kn_status kn_onnx_attr_string(const kn_onnx_node *n, const char *name, const char *def, char *buf,
                              size_t cap, kn_error *err);

/** The value read by input slot i, or NULL when absent. */
kn_value *kn_onnx_input(const kn_onnx_node *n, int i);

/**
 * Add a KN_VALUE_CONST value named "<node>/<suffix>" (made unique if taken)
 * holding a copy of `data`; *id receives its id.
 */
kn_status kn_onnx_add_const(kn_onnx_node *n, const char *suffix, kn_dtype dtype,
                            const kn_shape *shape, const void *data, int *id, kn_error *err);

/**
 * Add an intermediate kiln node "<node>/<suffix>" (made unique if taken) of
 * `op` with `attrs`, reading `inputs` and writing one new value, whose id
 * *out receives. For import functions that lower one ONNX node into several
 * kiln nodes (Einsum): the last node stays in `n` for the common code to add.
 * Value pointers taken before the call may move.
 */
kn_status kn_onnx_add_step(kn_onnx_node *n, const char *suffix, kn_op op, const int *inputs, int num_inputs,
                           const kn_attrs *attrs, int *out, kn_error *err);

/**
 * Einsum's import function (onnx_einsum.c): lowers the equation to kiln ops
 * (kn_onnx_add_step), leaving the last one in `n`; refuses what it cannot
 * lower (a diagonal, three or more operands) with an error naming the node.
 */
kn_status kn_onnx_einsum(kn_onnx_node *n, kn_error *err);

/** kiln dtype of an ONNX TensorProto.DataType, or KN_DTYPE_UNDEFINED when kiln lacks it. */
kn_dtype kn_onnx_dtype(int32_t onnx_type);
/** Readable name of an ONNX data type ("float16", "string", ...). */
const char *kn_onnx_dtype_name(int32_t onnx_type);

/**
 * Convert a TensorProto into dense kiln data (malloc'ed, at least one byte).
 * `what` names it in messages ("initializer 'w'"). Refuses external data,
 * unsupported dtypes, negative or overflowing dims and a data size that does
 * not match the dims.
 */
kn_status kn_onnx_tensor_convert(const Onnx__TensorProto *t, const char *what, kn_dtype *dtype,
                                 kn_shape *shape, void **data, kn_error *err);

/**
 * Read a protobuf varint at *p (not past `end`), advancing *p. False when it
 * is cut off or longer than 10 bytes.
 */
bool kn_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/**
 * After protobuf-c failed to unpack `data` as a message of type `desc`: say
 * where and why (onnx_wire.c), e.g. "in graph, node 3 ('conv1'), attribute
 * 0 ('strides'): field 'ints' has wire type 5 (32-bit), expected 0
 * (varint)". buf[0] is '\0' when the walk finds nothing wrong.
 */
void kn_onnx_parse_failure(const ProtobufCMessageDescriptor *desc, const void *data, size_t size, char *buf,
                           size_t len);

#endif /* KN_FRONTEND_ONNX_PRIV_H */
