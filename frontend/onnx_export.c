/*
 * onnx_export.c - kiln graph -> ONNX ModelProto at opset 13: value infos,
 * initializers, one or a few ONNX nodes per kiln node (attributes from the
 * typed kn_attrs; forms opset 13 lacks and fused post-ops spelled out with
 * extra nodes), protobuf-c packing and the atomic file write.
 *
 * Every protobuf-c structure of one export lives in an arena that is freed
 * as a whole once the model is packed; the graph's own strings and weight
 * data are referenced, not copied (except on big-endian hosts, where raw
 * data is byte-swapped into the arena).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_priv.h"

/* Attributes one ONNX node can get (Conv/ConvTranspose have the most: 8). */
#define KN_EX_MAX_ATTRS 12
/* Nodes, initializers and value infos appended to one export. */
typedef struct kn_ex_list {
    void **items;
    size_t count, cap;
} kn_ex_list;

typedef struct kn_ex_block {
    struct kn_ex_block *next;
    max_align_t data[];
} kn_ex_block;

typedef struct kn_exporter {
    const kn_graph *g;
    kn_error *err;
    kn_ex_block *blocks;          /* arena: every proto structure of this export */
    const char **vname;           /* per value id: its ONNX name */
    const char **names;           /* hash set of names in use (values and generated) */
    size_t names_cap, names_count;
    kn_ex_list nodes, inits, infos;
    const kn_node *cur;           /* node being exported, for messages */
    int64_t opset;                /* KN_ONNX_EXPORT_OPSET, or 14/17 when the graph needs it */
} kn_exporter;

/* ---------------------------------------------------------------- arena */

static kn_status kn_ex_nomem(kn_exporter *ex)
{
    return kn_error_set(ex->err, KN_ERR_NOMEM, "out of memory exporting ONNX");
}

/* Zeroed arena memory; NULL when out of memory. */
static void *kn_ex_alloc(kn_exporter *ex, size_t size)
{
    size_t total;
    if (!kn_size_add(sizeof(kn_ex_block), size, &total))
        return NULL;
    kn_ex_block *b = calloc(1, total);
    if (!b)
        return NULL;
    b->next = ex->blocks;
    ex->blocks = b;
    return b->data;
}

static void *kn_ex_array(kn_exporter *ex, size_t count, size_t elem)
{
    size_t bytes;
    if (!kn_size_mul(count ? count : 1, elem, &bytes))
        return NULL;
    return kn_ex_alloc(ex, bytes);
}

static bool kn_ex_push(kn_ex_list *l, void *item)
{
    if (l->count == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        size_t bytes;
        if (!kn_size_mul(ncap, sizeof(void *), &bytes))
            return false;
        void **p = realloc(l->items, bytes);
        if (!p)
            return false;
        l->items = p;
        l->cap = ncap;
    }
    l->items[l->count++] = item;
    return true;
}

static void kn_ex_free(kn_exporter *ex)
{
    while (ex->blocks) {
        kn_ex_block *next = ex->blocks->next;
        free(ex->blocks);
        ex->blocks = next;
    }
    free(ex->vname);
    free(ex->names);
    free(ex->nodes.items);
    free(ex->inits.items);
    free(ex->infos.items);
}

/* Error about the node being exported: "node 'NAME' (Op): ...". */
static kn_status kn_ex_fail(kn_exporter *ex, kn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kn_status kn_ex_fail(kn_exporter *ex, kn_status status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ex->cur)
        return kn_error_set(ex->err, status, "node '%s' (%s): %s", ex->cur->name,
                            kn_op_get(ex->cur->op)->name, msg);
    return kn_error_set(ex->err, status, "%s", msg);
}

/* ------------------------------------------------------------ name set */

static uint64_t kn_ex_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static const char **kn_ex_name_slot(const char **table, size_t cap, const char *name)
{
    size_t mask = cap - 1, i = (size_t)kn_ex_hash(name) & mask;
    while (table[i] && strcmp(table[i], name) != 0)
        i = (i + 1) & mask;
    return &table[i];
}

static bool kn_ex_name_taken(const kn_exporter *ex, const char *name)
{
    return *kn_ex_name_slot(ex->names, ex->names_cap, name) != NULL;
}

/* Add `name` (not copied) to the set, growing it to stay at most half full. */
static kn_status kn_ex_name_add(kn_exporter *ex, const char *name)
{
    if (2 * (ex->names_count + 1) > ex->names_cap) {
        size_t ncap = ex->names_cap ? 2 * ex->names_cap : 256;
        if (ncap > SIZE_MAX / (4 * sizeof(char *)))
            return kn_ex_nomem(ex);
        const char **t = calloc(ncap, sizeof *t);
        if (!t)
            return kn_ex_nomem(ex);
        for (size_t i = 0; i < ex->names_cap; i++)
            if (ex->names[i])
                *kn_ex_name_slot(t, ncap, ex->names[i]) = ex->names[i];
        free(ex->names);
        ex->names = t;
        ex->names_cap = ncap;
    }
    const char **slot = kn_ex_name_slot(ex->names, ex->names_cap, name);
    if (!*slot) {
        *slot = name;
        ex->names_count++;
    }
    return KN_OK;
}

/* A fresh name "base/suffix" (or "base/suffix_2", ...), reserved; NULL when out of memory. */
static const char *kn_ex_unique(kn_exporter *ex, const char *base, const char *suffix)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *buf = kn_ex_alloc(ex, len);
    if (!buf)
        return NULL;
    snprintf(buf, len, "%s/%s", base, suffix);
    for (unsigned k = 2; kn_ex_name_taken(ex, buf); k++)
        snprintf(buf, len, "%s/%s_%u", base, suffix, k);
    return kn_ex_name_add(ex, buf) == KN_OK ? buf : NULL;
}

/* ------------------------------------------------------- proto builders */

static bool kn_ex_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/*
 * A TensorProto of `dtype` and `shape` whose raw_data is `data`: referenced
 * when `copy` is false on a little-endian host, else copied (and byte-swapped
 * on a big-endian one). `what` names it in messages.
 */
static kn_status kn_ex_tensor(kn_exporter *ex, const char *name, kn_dtype dtype, const kn_shape *shape,
                              const void *data, bool copy, const char *what, Onnx__TensorProto **out)
{
    size_t nbytes, esize = kn_dtype_size(dtype);
    if (esize == 0)
        return kn_ex_fail(ex, KN_ERR_DTYPE, "%s has no dtype kiln can export", what);
    for (int d = 0; d < shape->rank; d++)
        if (shape->dims[d] < 0)
            return kn_ex_fail(ex, KN_ERR_SHAPE, "%s has a symbolic dimension; weights need concrete shapes",
                              what);
    if (kn_tensor_nbytes(dtype, shape, &nbytes) != KN_OK)
        return kn_ex_fail(ex, KN_ERR_OVERFLOW, "%s is too large (its size overflows)", what);
    if (!data && nbytes)
        return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "%s has no data", what);
    Onnx__TensorProto *t = kn_ex_alloc(ex, sizeof *t);
    int64_t *dims = kn_ex_array(ex, (size_t)shape->rank, sizeof(int64_t));
    if (!t || !dims)
        return kn_ex_nomem(ex);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = (int32_t)dtype; /* kiln numbers dtypes as TensorProto.DataType */
    t->n_dims = (size_t)shape->rank;
    t->dims = dims;
    for (int d = 0; d < shape->rank; d++)
        dims[d] = shape->dims[d];
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    bool le = kn_ex_little_endian();
    if (!copy && le) {
        t->raw_data.data = (uint8_t *)data;
    } else {
        unsigned char *buf = kn_ex_alloc(ex, nbytes ? nbytes : 1);
        if (!buf)
            return kn_ex_nomem(ex);
        if (nbytes)
            memcpy(buf, data, nbytes);
        if (!le && esize > 1)
            for (size_t off = 0; off < nbytes; off += esize)
                for (size_t a = off, b = off + esize - 1; a < b; a++, b--) {
                    unsigned char c = buf[a];
                    buf[a] = buf[b];
                    buf[b] = c;
                }
        t->raw_data.data = buf;
    }
    *out = t;
    return KN_OK;
}

/*
 * A new initializer named "base/suffix" (made unique) holding a copy of
 * `data`; *name receives the name.
 */
static kn_status kn_ex_const(kn_exporter *ex, const char *base, const char *suffix, kn_dtype dtype,
                             const kn_shape *shape, const void *data, const char **name)
{
    const char *n = kn_ex_unique(ex, base, suffix);
    if (!n)
        return kn_ex_nomem(ex);
    Onnx__TensorProto *t = NULL;
    KN_TRY(kn_ex_tensor(ex, n, dtype, shape, data, true, n, &t));
    if (!kn_ex_push(&ex->inits, t))
        return kn_ex_nomem(ex);
    *name = n;
    return KN_OK;
}

static kn_status kn_ex_const_ints(kn_exporter *ex, const char *base, const char *suffix, const int64_t *v,
                                  int count, const char **name)
{
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = count;
    return kn_ex_const(ex, base, suffix, KN_I64, &s, v, name);
}

/* A scalar constant of a float dtype (float32 unless `dtype` is float64). */
static kn_status kn_ex_const_float(kn_exporter *ex, const char *base, const char *suffix, kn_dtype dtype,
                                   double v, const char **name)
{
    kn_shape s;
    memset(&s, 0, sizeof s);
    if (dtype == KN_F64)
        return kn_ex_const(ex, base, suffix, KN_F64, &s, &v, name);
    float f = (float)v;
    return kn_ex_const(ex, base, suffix, KN_F32, &s, &f, name);
}

/* Append a node op_type(in) -> out named `name`; *out_node receives it. */
static kn_status kn_ex_node(kn_exporter *ex, const char *op_type, const char *name, const char *const *in,
                            int nin, const char *const *out, int nout, Onnx__NodeProto **out_node)
{
    Onnx__NodeProto *p = kn_ex_alloc(ex, sizeof *p);
    char **ins = kn_ex_array(ex, (size_t)nin, sizeof(char *));
    char **outs = kn_ex_array(ex, (size_t)nout, sizeof(char *));
    Onnx__AttributeProto **attrs = kn_ex_array(ex, KN_EX_MAX_ATTRS, sizeof(Onnx__AttributeProto *));
    if (!p || !ins || !outs || !attrs)
        return kn_ex_nomem(ex);
    onnx__node_proto__init(p);
    p->op_type = (char *)op_type;
    p->name = (char *)name;
    p->domain = (char *)"";
    for (int i = 0; i < nin; i++)
        ins[i] = (char *)in[i];
    for (int i = 0; i < nout; i++)
        outs[i] = (char *)out[i];
    p->n_input = (size_t)nin;
    p->input = ins;
    p->n_output = (size_t)nout;
    p->output = outs;
    p->attribute = attrs;
    if (!kn_ex_push(&ex->nodes, p))
        return kn_ex_nomem(ex);
    *out_node = p;
    return KN_OK;
}

static kn_status kn_ex_attr(kn_exporter *ex, Onnx__NodeProto *p, const char *name,
                            Onnx__AttributeProto__AttributeType type, Onnx__AttributeProto **out)
{
    if (p->n_attribute >= KN_EX_MAX_ATTRS)
        return kn_ex_fail(ex, KN_ERR_UNSUPPORTED, "too many attributes"); /* not reached */
    Onnx__AttributeProto *a = kn_ex_alloc(ex, sizeof *a);
    if (!a)
        return kn_ex_nomem(ex);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = type;
    p->attribute[p->n_attribute++] = a;
    *out = a;
    return KN_OK;
}

static kn_status kn_ex_attr_int(kn_exporter *ex, Onnx__NodeProto *p, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = NULL;
    KN_TRY(kn_ex_attr(ex, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, &a));
    a->has_i = 1;
    a->i = v;
    return KN_OK;
}

static kn_status kn_ex_attr_float(kn_exporter *ex, Onnx__NodeProto *p, const char *name, float v)
{
    Onnx__AttributeProto *a = NULL;
    KN_TRY(kn_ex_attr(ex, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, &a));
    a->has_f = 1;
    a->f = v;
    return KN_OK;
}

static kn_status kn_ex_attr_ints(kn_exporter *ex, Onnx__NodeProto *p, const char *name, const int64_t *v,
                                 int count)
{
    Onnx__AttributeProto *a = NULL;
    KN_TRY(kn_ex_attr(ex, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, &a));
    int64_t *copy = kn_ex_array(ex, (size_t)count, sizeof(int64_t));
    if (!copy)
        return kn_ex_nomem(ex);
    for (int i = 0; i < count; i++)
        copy[i] = v[i];
    a->n_ints = (size_t)count;
    a->ints = copy;
    return KN_OK;
}

static kn_status kn_ex_attr_string(kn_exporter *ex, Onnx__NodeProto *p, const char *name, const char *s)
{
    Onnx__AttributeProto *a = NULL;
    KN_TRY(kn_ex_attr(ex, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, &a));
    a->has_s = 1;
    a->s.data = (uint8_t *)s;
    a->s.len = strlen(s);
    return KN_OK;
}

static kn_status kn_ex_attr_tensor(kn_exporter *ex, Onnx__NodeProto *p, const char *name,
                                   Onnx__TensorProto *t)
{
    Onnx__AttributeProto *a = NULL;
    KN_TRY(kn_ex_attr(ex, p, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR, &a));
    a->t = t;
    return KN_OK;
}

/*
 * A ValueInfo for `name` of `dtype` and, when `shape` is non-NULL, that shape
 * (KN_DIM_BATCH as the symbolic dimension "N").
 */
static kn_status kn_ex_value_info(kn_exporter *ex, const char *name, kn_dtype dtype, const kn_shape *shape,
                                  Onnx__ValueInfoProto **out)
{
    Onnx__ValueInfoProto *vi = kn_ex_alloc(ex, sizeof *vi);
    Onnx__TypeProto *tp = kn_ex_alloc(ex, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = kn_ex_alloc(ex, sizeof *tt);
    if (!vi || !tp || !tt)
        return kn_ex_nomem(ex);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    vi->name = (char *)name;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = (int32_t)dtype;
    if (shape) {
        int rank = shape->rank;
        Onnx__TensorShapeProto *sp = kn_ex_alloc(ex, sizeof *sp);
        Onnx__TensorShapeProto__Dimension **dims = kn_ex_array(ex, (size_t)rank, sizeof *dims);
        Onnx__TensorShapeProto__Dimension *dim = kn_ex_array(ex, (size_t)rank, sizeof *dim);
        if (!sp || !dims || !dim)
            return kn_ex_nomem(ex);
        onnx__tensor_shape_proto__init(sp);
        for (int d = 0; d < rank; d++) {
            onnx__tensor_shape_proto__dimension__init(&dim[d]);
            if (shape->dims[d] >= 0) {
                dim[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim[d].dim_value = shape->dims[d];
            } else if (shape->dims[d] == KN_DIM_BATCH) {
                dim[d].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dim[d].dim_param = (char *)"N";
            }
            dims[d] = &dim[d];
        }
        sp->n_dim = (size_t)rank;
        sp->dim = dims;
        tt->shape = sp;
    }
    *out = vi;
    return KN_OK;
}

/* ------------------------------------------------------------- op forms */

static kn_status kn_ex_window(kn_exporter *ex, Onnx__NodeProto *p, kn_op op, const kn_window_attrs *w)
{
    int ns = w->nspatial;
    bool conv = op == KN_OP_CONV || op == KN_OP_CONV_TRANSPOSE;
    if (ns < 0 || ns > KN_MAX_SPATIAL)
        return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "%d spatial dimensions", ns);
    if (op == KN_OP_AVERAGE_POOL)
        for (int i = 0; i < ns; i++)
            if (w->dilation[i] != 1)
                return kn_ex_fail(ex, KN_ERR_UNSUPPORTED,
                                  "AveragePool with dilations cannot be written at ONNX opset %d",
                                  KN_ONNX_EXPORT_OPSET);
    static const char *const pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    if (w->auto_pad != KN_AUTO_PAD_NOTSET) {
        if ((unsigned)w->auto_pad >= sizeof pad_names / sizeof pad_names[0])
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "unknown auto_pad %d", (int)w->auto_pad);
        KN_TRY(kn_ex_attr_string(ex, p, "auto_pad", pad_names[w->auto_pad]));
    }
    if (ns == 0) {
        if (!conv)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "a pool needs its kernel shape");
    } else {
        bool any_kernel = false, any_pad = false, any_dil = false, any_outpad = false;
        int64_t pads[2 * KN_MAX_SPATIAL];
        for (int i = 0; i < ns; i++) {
            any_kernel |= w->kernel[i] > 0;
            any_dil |= w->dilation[i] != 1;
            any_pad |= w->pad_begin[i] != 0 || w->pad_end[i] != 0;
            any_outpad |= w->output_padding[i] != 0;
            pads[i] = w->pad_begin[i];
            pads[i + ns] = w->pad_end[i];
        }
        if (any_kernel) {
            for (int i = 0; i < ns; i++)
                if (w->kernel[i] <= 0)
                    return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "kernel_shape has a non-positive entry");
            KN_TRY(kn_ex_attr_ints(ex, p, "kernel_shape", w->kernel, ns));
        } else if (!conv) {
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "a pool needs its kernel shape");
        }
        int64_t stride[KN_MAX_SPATIAL];
        for (int i = 0; i < ns; i++)
            stride[i] = w->stride[i] > 0 ? w->stride[i] : 1;
        KN_TRY(kn_ex_attr_ints(ex, p, "strides", stride, ns));
        if (w->auto_pad == KN_AUTO_PAD_NOTSET && any_pad)
            KN_TRY(kn_ex_attr_ints(ex, p, "pads", pads, 2 * ns));
        if (any_dil && op != KN_OP_AVERAGE_POOL)
            KN_TRY(kn_ex_attr_ints(ex, p, "dilations", w->dilation, ns));
        if (op == KN_OP_CONV_TRANSPOSE && any_outpad)
            KN_TRY(kn_ex_attr_ints(ex, p, "output_padding", w->output_padding, ns));
        if (op == KN_OP_CONV_TRANSPOSE && w->has_output_shape)
            KN_TRY(kn_ex_attr_ints(ex, p, "output_shape", w->output_shape, ns));
    }
    if (conv)
        KN_TRY(kn_ex_attr_int(ex, p, "group", w->group > 0 ? w->group : 1));
    if (!conv && w->ceil_mode)
        KN_TRY(kn_ex_attr_int(ex, p, "ceil_mode", 1));
    if (op == KN_OP_AVERAGE_POOL && w->count_include_pad)
        KN_TRY(kn_ex_attr_int(ex, p, "count_include_pad", 1));
    return KN_OK;
}

/* ConstantOfShape's `value`: a one-element tensor of dtype `to`. */
static kn_status kn_ex_constant_of_shape(kn_exporter *ex, Onnx__NodeProto *p, const kn_dtype_attrs *a)
{
    union {
        float f;
        double d;
        int64_t i64;
        int32_t i32;
        int8_t i8;
        uint8_t u8;
    } v;
    memset(&v, 0, sizeof v);
    switch (a->to) {
    case KN_F32: v.f = (float)a->value; break;
    case KN_F64: v.d = a->value; break;
    case KN_I64: v.i64 = (int64_t)a->value; break;
    case KN_I32: v.i32 = (int32_t)a->value; break;
    case KN_I8: v.i8 = (int8_t)a->value; break;
    case KN_U8: v.u8 = (uint8_t)a->value; break;
    case KN_BOOL: v.u8 = a->value != 0.0; break;
    default:
        return kn_ex_fail(ex, KN_ERR_DTYPE, "value dtype %d is not one kiln can export", (int)a->to);
    }
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = 1;
    s.dims[0] = 1;
    Onnx__TensorProto *t = NULL;
    KN_TRY(kn_ex_tensor(ex, "value", a->to, &s, &v, true, "attribute 'value'", &t));
    return kn_ex_attr_tensor(ex, p, "value", t);
}

/*
 * Emit `op` with attributes `a`, reading in[0..nin) and writing
 * out[0..nout) (ONNX names, "" for an absent input). `x` is the value read
 * by input 0 (for its dtype and rank), or NULL. `name` names the node; extra
 * nodes of a multi-node form get "name/<what>".
 */
static kn_status kn_ex_emit(kn_exporter *ex, kn_op op, const kn_attrs *a, const char *name,
                            const char *const *in, int nin, const char *const *out, int nout,
                            const kn_value *x)
{
    const char *opname = kn_op_get(op)->name;
    Onnx__NodeProto *p = NULL;
    while (nin > 0 && in[nin - 1][0] == '\0')
        nin--;
    if ((kn_op_get(op)->flags & KN_OPF_INTERNAL) && op != KN_OP_SWISH && op != KN_OP_GELU && op != KN_OP_MISH)
        return kn_ex_fail(ex, KN_ERR_UNSUPPORTED,
                          "%s is one of kiln's training ops and has no ONNX form (export the model, not its "
                          "training graph)", opname);

    switch (op) {
    case KN_OP_HARD_SWISH: {
        /* HardSwish is opset 14: x * HardSigmoid(x; 1/6, 1/2), its definition */
        if (nin != 1 || nout != 1)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "HardSwish takes 1 input and gives 1 output");
        const char *t = kn_ex_unique(ex, out[0], "hard_sigmoid");
        const char *hs_name = kn_ex_unique(ex, name, "hard_sigmoid");
        if (!t || !hs_name)
            return kn_ex_nomem(ex);
        KN_TRY(kn_ex_node(ex, "HardSigmoid", hs_name, in, 1, &t, 1, &p));
        KN_TRY(kn_ex_attr_float(ex, p, "alpha", 1.0f / 6.0f));
        KN_TRY(kn_ex_attr_float(ex, p, "beta", 0.5f));
        const char *mul_in[2] = {in[0], t};
        return kn_ex_node(ex, "Mul", name, mul_in, 2, out, 1, &p);
    }
    case KN_OP_SWISH: {
        /* kiln's Swish (SiLU) has no ONNX op: x * Sigmoid(x), the pair it was formed from */
        if (nin != 1 || nout != 1)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "Swish takes 1 input and gives 1 output");
        const char *t = kn_ex_unique(ex, out[0], "sigmoid");
        const char *s_name = kn_ex_unique(ex, name, "sigmoid");
        if (!t || !s_name)
            return kn_ex_nomem(ex);
        KN_TRY(kn_ex_node(ex, "Sigmoid", s_name, in, 1, &t, 1, &p));
        const char *mul_in[2] = {in[0], t};
        return kn_ex_node(ex, "Mul", name, mul_in, 2, out, 1, &p);
    }
    case KN_OP_GELU: {
        /* kiln's Gelu has no ONNX op before opset 20: x * 0.5 * (1 + Erf(x / sqrt 2)), the form it was fused from */
        if (nin != 1 || nout != 1)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "Gelu takes 1 input and gives 1 output");
        const char *t[4] = {kn_ex_unique(ex, out[0], "div"), kn_ex_unique(ex, out[0], "erf"),
                            kn_ex_unique(ex, out[0], "add"), kn_ex_unique(ex, out[0], "mul")};
        const char *nm[4] = {kn_ex_unique(ex, name, "div"), kn_ex_unique(ex, name, "erf"),
                             kn_ex_unique(ex, name, "add"), kn_ex_unique(ex, name, "mul")};
        const char *sqrt2, *one, *half;
        for (int i = 0; i < 4; i++)
            if (!t[i] || !nm[i])
                return kn_ex_nomem(ex);
        KN_TRY(kn_ex_const_float(ex, name, "sqrt2", KN_F32, 1.41421356237309505f, &sqrt2));
        KN_TRY(kn_ex_const_float(ex, name, "one", KN_F32, 1.0f, &one));
        KN_TRY(kn_ex_const_float(ex, name, "half", KN_F32, 0.5f, &half));
        const char *div_in[2] = {in[0], sqrt2}, *add_in[2] = {t[1], one}, *mul_in[2] = {in[0], t[2]},
                   *fin_in[2] = {t[3], half};
        KN_TRY(kn_ex_node(ex, "Div", nm[0], div_in, 2, &t[0], 1, &p));
        KN_TRY(kn_ex_node(ex, "Erf", nm[1], &t[0], 1, &t[1], 1, &p));
        KN_TRY(kn_ex_node(ex, "Add", nm[2], add_in, 2, &t[2], 1, &p));
        KN_TRY(kn_ex_node(ex, "Mul", nm[3], mul_in, 2, &t[3], 1, &p));
        return kn_ex_node(ex, "Mul", name, fin_in, 2, out, 1, &p);
    }
    case KN_OP_MISH: {
        /* Mish is ONNX opset 18: x * Tanh(Softplus(x)) */
        if (nin != 1 || nout != 1)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "Mish takes 1 input and gives 1 output");
        const char *sp = kn_ex_unique(ex, out[0], "softplus"), *th = kn_ex_unique(ex, out[0], "tanh");
        const char *n_sp = kn_ex_unique(ex, name, "softplus"), *n_th = kn_ex_unique(ex, name, "tanh");
        if (!sp || !th || !n_sp || !n_th)
            return kn_ex_nomem(ex);
        KN_TRY(kn_ex_node(ex, "Softplus", n_sp, in, 1, &sp, 1, &p));
        KN_TRY(kn_ex_node(ex, "Tanh", n_th, &sp, 1, &th, 1, &p));
        const char *mul_in[2] = {in[0], th};
        return kn_ex_node(ex, "Mul", name, mul_in, 2, out, 1, &p);
    }
    case KN_OP_CLIP: {
        /* Clip-13: min and max are inputs; Clip-6 bounds kept in attrs become constants */
        const char *cin[3] = {in[0], nin > 1 ? in[1] : "", nin > 2 ? in[2] : ""};
        kn_dtype dt = x && x->dtype == KN_F64 ? KN_F64 : KN_F32;
        if (cin[1][0] == '\0' && !(isinf(a->scalar.min) && a->scalar.min < 0))
            KN_TRY(kn_ex_const_float(ex, name, "min", dt, a->scalar.min, &cin[1]));
        if (cin[2][0] == '\0' && !(isinf(a->scalar.max) && a->scalar.max > 0))
            KN_TRY(kn_ex_const_float(ex, name, "max", dt, a->scalar.max, &cin[2]));
        int n = cin[2][0] ? 3 : cin[1][0] ? 2 : 1;
        return kn_ex_node(ex, "Clip", name, cin, n, out, nout, &p);
    }
    case KN_OP_SOFTMAX:
    case KN_OP_LOG_SOFTMAX: {
        int64_t axis = a->axis.axis;
        bool legacy = a->axis.legacy_2d;
        if (legacy && axis == -1)
            legacy = false; /* coerced at the last axis: the same as the new semantics */
        if (legacy && x && x->shape_known) {
            int64_t r = x->shape.rank, ax = axis < 0 ? axis + r : axis;
            if (ax == r - 1) {
                legacy = false; /* the 2-D coercion and the new semantics agree */
                axis = -1;
            }
        }
        if (!legacy) {
            KN_TRY(kn_ex_node(ex, opname, name, in, nin, out, nout, &p));
            return kn_ex_attr_int(ex, p, "axis", axis);
        }
        /* opset < 13 semantics: softmax over the input flattened to 2-D at `axis` */
        if (nin != 1 || nout != 1)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "%s takes 1 input and gives 1 output", opname);
        const char *shape = kn_ex_unique(ex, out[0], "input_shape");
        const char *flat = kn_ex_unique(ex, out[0], "flat");
        const char *soft = kn_ex_unique(ex, out[0], "flat_out");
        const char *n_shape = kn_ex_unique(ex, name, "shape");
        const char *n_flat = kn_ex_unique(ex, name, "flatten");
        const char *n_back = kn_ex_unique(ex, name, "reshape");
        if (!shape || !flat || !soft || !n_shape || !n_flat || !n_back)
            return kn_ex_nomem(ex);
        KN_TRY(kn_ex_node(ex, "Shape", n_shape, in, 1, &shape, 1, &p));
        KN_TRY(kn_ex_node(ex, "Flatten", n_flat, in, 1, &flat, 1, &p));
        KN_TRY(kn_ex_attr_int(ex, p, "axis", axis));
        KN_TRY(kn_ex_node(ex, opname, name, &flat, 1, &soft, 1, &p));
        KN_TRY(kn_ex_attr_int(ex, p, "axis", 1));
        const char *back_in[2] = {soft, shape};
        return kn_ex_node(ex, "Reshape", n_back, back_in, 2, out, 1, &p);
    }
    case KN_OP_SHAPE: {
        const kn_shape_attrs *s = &a->shape;
        if (s->start == 0 && !s->has_end)
            return kn_ex_node(ex, "Shape", name, in, nin, out, nout, &p);
        /* Shape-15 start/end: Shape, then Slice along axis 0 (same clamping rules) */
        const char *full = kn_ex_unique(ex, out[0], "full");
        const char *n_slice = kn_ex_unique(ex, name, "slice");
        if (!full || !n_slice)
            return kn_ex_nomem(ex);
        int64_t start = s->start, end = s->has_end ? s->end : INT64_MAX, zero = 0;
        const char *sl[4] = {full, NULL, NULL, NULL};
        KN_TRY(kn_ex_const_ints(ex, name, "starts", &start, 1, &sl[1]));
        KN_TRY(kn_ex_const_ints(ex, name, "ends", &end, 1, &sl[2]));
        KN_TRY(kn_ex_const_ints(ex, name, "axes", &zero, 1, &sl[3]));
        KN_TRY(kn_ex_node(ex, "Shape", name, in, nin, &full, 1, &p));
        return kn_ex_node(ex, "Slice", n_slice, sl, 4, out, nout, &p);
    }
    case KN_OP_REDUCE_SUM: {
        /* ReduceSum-13: axes is an input; axes kept in attrs become a constant */
        if (a->reduce.naxes < 0 || a->reduce.naxes > KN_MAX_RANK)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "%d reduction axes", a->reduce.naxes);
        const char *rin[2] = {in[0], nin > 1 ? in[1] : ""};
        if (rin[1][0] == '\0' && a->reduce.naxes > 0)
            KN_TRY(kn_ex_const_ints(ex, name, "axes", a->reduce.axes, a->reduce.naxes, &rin[1]));
        KN_TRY(kn_ex_node(ex, "ReduceSum", name, rin, rin[1][0] ? 2 : 1, out, nout, &p));
        KN_TRY(kn_ex_attr_int(ex, p, "keepdims", a->reduce.keepdims ? 1 : 0));
        return a->reduce.noop_empty ? kn_ex_attr_int(ex, p, "noop_with_empty_axes", 1) : KN_OK;
    }
    case KN_OP_DROPOUT: {
        /* Dropout-13: ratio is an input; a ratio kept as an attribute becomes a constant */
        const char *din[3] = {in[0], nin > 1 ? in[1] : "", nin > 2 ? in[2] : ""};
        if (din[1][0] == '\0' && (a->scalar.ratio != 0.5f || din[2][0] != '\0'))
            KN_TRY(kn_ex_const_float(ex, name, "ratio", KN_F32, a->scalar.ratio, &din[1]));
        int n = din[2][0] ? 3 : din[1][0] ? 2 : 1;
        return kn_ex_node(ex, "Dropout", name, din, n, out, nout, &p);
    }
    default:
        break;
    }

    KN_TRY(kn_ex_node(ex, opname, name, in, nin, out, nout, &p));
    switch (op) {
    case KN_OP_CONV:
    case KN_OP_CONV_TRANSPOSE:
    case KN_OP_MAX_POOL:
    case KN_OP_AVERAGE_POOL:
        return kn_ex_window(ex, p, op, &a->window);
    case KN_OP_GEMM:
        KN_TRY(kn_ex_attr_float(ex, p, "alpha", a->gemm.alpha));
        KN_TRY(kn_ex_attr_float(ex, p, "beta", a->gemm.beta));
        KN_TRY(kn_ex_attr_int(ex, p, "transA", a->gemm.trans_a ? 1 : 0));
        return kn_ex_attr_int(ex, p, "transB", a->gemm.trans_b ? 1 : 0);
    case KN_OP_LEAKY_RELU:
    case KN_OP_ELU:
    case KN_OP_THRESHOLDED_RELU:
    case KN_OP_CELU:
        return kn_ex_attr_float(ex, p, "alpha", a->scalar.alpha);
    case KN_OP_SELU:
        KN_TRY(kn_ex_attr_float(ex, p, "alpha", a->scalar.alpha));
        return kn_ex_attr_float(ex, p, "gamma", a->scalar.beta);
    case KN_OP_HARD_SIGMOID:
        KN_TRY(kn_ex_attr_float(ex, p, "alpha", a->scalar.alpha));
        return kn_ex_attr_float(ex, p, "beta", a->scalar.beta);
    case KN_OP_BATCH_NORM:
        KN_TRY(kn_ex_attr_float(ex, p, "epsilon", a->batch_norm.epsilon));
        return kn_ex_attr_float(ex, p, "momentum", a->batch_norm.momentum);
    case KN_OP_LAYER_NORM:
        KN_TRY(kn_ex_attr_int(ex, p, "axis", a->layer_norm.axis));
        return kn_ex_attr_float(ex, p, "epsilon", a->layer_norm.epsilon);
    case KN_OP_INSTANCE_NORM:
        return kn_ex_attr_float(ex, p, "epsilon", a->batch_norm.epsilon);
    case KN_OP_LRN:
        KN_TRY(kn_ex_attr_int(ex, p, "size", a->lrn.size));
        KN_TRY(kn_ex_attr_float(ex, p, "alpha", a->lrn.alpha));
        KN_TRY(kn_ex_attr_float(ex, p, "beta", a->lrn.beta));
        return kn_ex_attr_float(ex, p, "bias", a->lrn.bias);
    case KN_OP_REDUCE_MEAN: case KN_OP_REDUCE_MAX: case KN_OP_REDUCE_MIN: case KN_OP_REDUCE_PROD:
    case KN_OP_REDUCE_L1: case KN_OP_REDUCE_L2: case KN_OP_REDUCE_LOG_SUM: case KN_OP_REDUCE_LOG_SUM_EXP:
    case KN_OP_REDUCE_SUM_SQUARE:
        /* at opset 13 only ReduceSum takes its axes as an input */
        if (nin > 1)
            return kn_ex_fail(ex, KN_ERR_UNSUPPORTED, "%s with an axes input has no ONNX opset 13 form", opname);
        if (a->reduce.noop_empty)
            return kn_ex_fail(ex, KN_ERR_UNSUPPORTED, "%s with noop_with_empty_axes has no ONNX opset 13 form",
                              opname);
        if (a->reduce.naxes < 0 || a->reduce.naxes > KN_MAX_RANK)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "%d reduction axes", a->reduce.naxes);
        if (a->reduce.naxes > 0)
            KN_TRY(kn_ex_attr_ints(ex, p, "axes", a->reduce.axes, a->reduce.naxes));
        return kn_ex_attr_int(ex, p, "keepdims", a->reduce.keepdims ? 1 : 0);
    case KN_OP_RESIZE: {
        static const char *const modes[] = {"nearest", "linear", "cubic"};
        static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                             "tf_half_pixel_for_nn", "tf_crop_and_resize"};
        static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        const kn_resize_attrs *r = &a->resize;
        if ((unsigned)r->mode > KN_RESIZE_CUBIC || (unsigned)r->coord > KN_COORD_TF_CROP_AND_RESIZE ||
            (unsigned)r->nearest > KN_NEAREST_CEIL)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "bad Resize attributes");
        KN_TRY(kn_ex_attr_string(ex, p, "mode", modes[r->mode]));
        KN_TRY(kn_ex_attr_string(ex, p, "coordinate_transformation_mode", coords[r->coord]));
        KN_TRY(kn_ex_attr_string(ex, p, "nearest_mode", nearest[r->nearest]));
        KN_TRY(kn_ex_attr_float(ex, p, "cubic_coeff_a", r->cubic_a));
        KN_TRY(kn_ex_attr_int(ex, p, "exclude_outside", r->exclude_outside ? 1 : 0));
        return kn_ex_attr_float(ex, p, "extrapolation_value", r->extrapolation);
    }
    case KN_OP_MOD:
        return a->mod.fmod ? kn_ex_attr_int(ex, p, "fmod", 1) : KN_OK;
    case KN_OP_SCATTER_ND: {
        static const char *const reds[] = {"none", "add", "mul"};
        if ((unsigned)a->scatter.reduction > KN_SCATTER_MUL)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "bad ScatterND reduction");
        return a->scatter.reduction != KN_SCATTER_NONE ? kn_ex_attr_string(ex, p, "reduction", reds[a->scatter.reduction])
                                                      : KN_OK;
    }
    case KN_OP_GATHER_ND:
        return a->gather_nd.batch_dims ? kn_ex_attr_int(ex, p, "batch_dims", a->gather_nd.batch_dims) : KN_OK;
    case KN_OP_DEPTH_TO_SPACE:
        KN_TRY(kn_ex_attr_string(ex, p, "mode", a->block.crd ? "CRD" : "DCR"));
        return kn_ex_attr_int(ex, p, "blocksize", a->block.blocksize);
    case KN_OP_SPACE_TO_DEPTH:
        if (a->block.crd) /* kiln's own: the inverse of CRD DepthToSpace (a gradient) */
            return kn_ex_fail(ex, KN_ERR_UNSUPPORTED, "SpaceToDepth in CRD order has no ONNX form");
        return kn_ex_attr_int(ex, p, "blocksize", a->block.blocksize);
    case KN_OP_ARG_MAX:
    case KN_OP_ARG_MIN:
        KN_TRY(kn_ex_attr_int(ex, p, "axis", a->reduce.axes[0]));
        KN_TRY(kn_ex_attr_int(ex, p, "keepdims", a->reduce.keepdims ? 1 : 0));
        return kn_ex_attr_int(ex, p, "select_last_index", a->reduce.select_last ? 1 : 0);
    case KN_OP_FLATTEN:
    case KN_OP_CONCAT:
    case KN_OP_SPLIT:
    case KN_OP_GATHER:
        return kn_ex_attr_int(ex, p, "axis", a->axis.axis);
    case KN_OP_TRANSPOSE:
        if (a->transpose.nperm < 0 || a->transpose.nperm > KN_MAX_RANK)
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "perm has %d entries", a->transpose.nperm);
        if (a->transpose.nperm > 0)
            KN_TRY(kn_ex_attr_ints(ex, p, "perm", a->transpose.perm, a->transpose.nperm));
        return KN_OK;
    case KN_OP_PAD: {
        static const char *const modes[] = {"constant", "reflect", "edge"};
        if ((unsigned)a->pad.mode >= sizeof modes / sizeof modes[0])
            return kn_ex_fail(ex, KN_ERR_INVALID_ARG, "unknown pad mode %d", (int)a->pad.mode);
        if (a->pad.mode != KN_PAD_CONSTANT)
            KN_TRY(kn_ex_attr_string(ex, p, "mode", modes[a->pad.mode]));
        return KN_OK;
    }
    case KN_OP_CAST:
        if (kn_dtype_size(a->dtype.to) == 0)
            return kn_ex_fail(ex, KN_ERR_DTYPE, "cast to dtype %d, which kiln cannot export", (int)a->dtype.to);
        return kn_ex_attr_int(ex, p, "to", (int64_t)a->dtype.to);
    case KN_OP_CONSTANT_OF_SHAPE:
        return kn_ex_constant_of_shape(ex, p, &a->dtype);
    default:
        /* MatMul, Add, Sub, Mul, Div, Pow, Relu, Sigmoid, Tanh, Sqrt, Exp, Erf,
         * GlobalAveragePool, GlobalMaxPool, Reshape, Slice, Squeeze, Unsqueeze,
         * Identity: no attributes (parameters are inputs at opset 13) */
        return KN_OK;
    }
}

/* One kiln node: its op, then any fused residual add and activation. */
static kn_status kn_ex_export_node(kn_exporter *ex, const kn_node *n)
{
    const kn_graph *g = ex->g;
    const char *in[KN_MAX_INPUTS], *out[KN_MAX_OUTPUTS];
    for (int i = 0; i < n->num_inputs; i++)
        in[i] = n->inputs[i] >= 0 ? ex->vname[n->inputs[i]] : "";
    for (int i = 0; i < n->num_outputs; i++)
        out[i] = ex->vname[n->outputs[i]];
    const kn_value *x = n->num_inputs > 0 && n->inputs[0] >= 0 ? &g->values[n->inputs[0]] : NULL;
    bool has_act = n->fused.activation != KN_OP_COUNT, has_res = n->fused.residual >= 0;
    if (!has_act && !has_res)
        return kn_ex_emit(ex, n->op, &n->attrs, n->name, in, n->num_inputs, out, n->num_outputs, x);

    /* fused post-ops: main op -> [Add residual] -> [activation] */
    if (n->num_outputs < 1)
        return kn_ex_fail(ex, KN_ERR_GRAPH, "has fused post-ops but no output");
    if (has_act && !kn_op_is_unary_eltwise(n->fused.activation))
        return kn_ex_fail(ex, KN_ERR_UNSUPPORTED,
                          "fused post-op %s is not an element-wise activation; cannot export it",
                          n->fused.activation < KN_OP_COUNT ? kn_op_get(n->fused.activation)->name : "?");
    int nin = n->num_inputs;
    const char *residual = NULL;
    if (has_res) {
        int r = n->fused.residual;
        if (r >= n->num_inputs || n->inputs[r] < 0)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "fused residual slot %d is not one of its %d inputs", r,
                              n->num_inputs);
        if (r != n->num_inputs - 1)
            return kn_ex_fail(ex, KN_ERR_UNSUPPORTED,
                              "fused residual in input slot %d is not the last input; cannot export it", r);
        residual = in[r];
        nin = r;
    }
    const char *final = out[0];
    const char *cur = kn_ex_unique(ex, final, "unfused");
    if (!cur)
        return kn_ex_nomem(ex);
    out[0] = cur;
    KN_TRY(kn_ex_emit(ex, n->op, &n->attrs, n->name, in, nin, out, n->num_outputs, x));
    Onnx__NodeProto *p = NULL;
    if (has_res) {
        const char *sum = has_act ? kn_ex_unique(ex, final, "residual_sum") : final;
        const char *add_name = kn_ex_unique(ex, n->name, "residual_add");
        if (!sum || !add_name)
            return kn_ex_nomem(ex);
        const char *add_in[2] = {cur, residual};
        KN_TRY(kn_ex_node(ex, "Add", add_name, add_in, 2, &sum, 1, &p));
        cur = sum;
    }
    if (has_act) {
        kn_attrs act;
        kn_attrs_init(n->fused.activation, &act);
        act.scalar = n->fused.act;
        const char *act_name = kn_ex_unique(ex, n->name, kn_op_get(n->fused.activation)->name);
        if (!act_name)
            return kn_ex_nomem(ex);
        const kn_value *y = &g->values[n->outputs[0]];
        KN_TRY(kn_ex_emit(ex, n->fused.activation, &act, act_name, &cur, 1, &final, 1, y));
    }
    return KN_OK;
}

/* ----------------------------------------------------------------- model */

static const char *kn_ex_kind(kn_value_kind k)
{
    switch (k) {
    case KN_VALUE_INPUT: return "input";
    case KN_VALUE_PARAM: return "weight";
    case KN_VALUE_CONST: return "constant";
    case KN_VALUE_STATE: return "state";
    default: return "value";
    }
}

/* Topological order of the live nodes (stable); KN_ERR_GRAPH when a value is read but never defined. */
static kn_status kn_ex_order(kn_exporter *ex, int *order, int *count)
{
    const kn_graph *g = ex->g;
    bool *ready = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    bool *placed = kn_xcalloc((size_t)g->num_nodes, sizeof(bool));
    if (!ready || !placed) {
        free(ready);
        free(placed);
        return kn_ex_nomem(ex);
    }
    for (int v = 0; v < g->num_values; v++)
        ready[v] = g->values[v].kind != KN_VALUE_INTERMEDIATE;
    int live = 0, n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        live += !g->nodes[i].dead;
    bool progress = true;
    while (n < live && progress) {
        progress = false;
        for (int i = 0; i < g->num_nodes; i++) {
            const kn_node *nd = &g->nodes[i];
            if (nd->dead || placed[i])
                continue;
            bool ok = true;
            for (int k = 0; k < nd->num_inputs && ok; k++)
                ok = nd->inputs[k] < 0 || ready[nd->inputs[k]];
            if (!ok)
                continue;
            placed[i] = true;
            order[n++] = i;
            for (int k = 0; k < nd->num_outputs; k++)
                ready[nd->outputs[k]] = true;
            progress = true;
        }
    }
    kn_status st = KN_OK;
    for (int i = 0; n < live && i < g->num_nodes && st == KN_OK; i++) {
        const kn_node *nd = &g->nodes[i];
        if (nd->dead || placed[i])
            continue;
        for (int k = 0; k < nd->num_inputs; k++)
            if (nd->inputs[k] >= 0 && !ready[nd->inputs[k]]) {
                const kn_value *v = &g->values[nd->inputs[k]];
                const kn_node *pn = v->producer >= 0 && v->producer < g->num_nodes ? &g->nodes[v->producer] : NULL;
                if (pn && !pn->dead)
                    st = kn_error_set(ex->err, KN_ERR_GRAPH, "node '%s' (%s) is on a cycle (through '%s')",
                                      nd->name, kn_op_get(nd->op)->name, v->name);
                else
                    st = kn_error_set(ex->err, KN_ERR_GRAPH,
                                      "node '%s' (%s) reads '%s', which no node produces", nd->name,
                                      kn_op_get(nd->op)->name, v->name);
                break;
            }
    }
    free(ready);
    free(placed);
    *count = n;
    return st;
}

/* Check ids and kinds of the graph's inputs, outputs and node operands. */
static kn_status kn_ex_check(kn_exporter *ex)
{
    const kn_graph *g = ex->g;
    for (int i = 0; i < g->num_inputs; i++) {
        int id = g->inputs[i];
        if (id < 0 || id >= g->num_values)
            return kn_error_set(ex->err, KN_ERR_GRAPH, "graph input %d is not a value", i);
        const kn_value *v = &g->values[id];
        if (kn_dtype_size(v->dtype) == 0)
            return kn_error_set(ex->err, KN_ERR_DTYPE, "graph input '%s' has no dtype", v->name);
        if (v->shape.rank < 0 || v->shape.rank > KN_MAX_RANK)
            return kn_error_set(ex->err, KN_ERR_SHAPE, "graph input '%s' has rank %d", v->name, v->shape.rank);
    }
    if (g->num_outputs == 0)
        return kn_error_set(ex->err, KN_ERR_GRAPH, "the graph has no outputs");
    for (int i = 0; i < g->num_outputs; i++) {
        int id = g->outputs[i];
        if (id < 0 || id >= g->num_values)
            return kn_error_set(ex->err, KN_ERR_GRAPH, "graph output %d is not a value", i);
        const kn_value *v = &g->values[id];
        if (v->kind == KN_VALUE_INTERMEDIATE &&
            (v->producer < 0 || v->producer >= g->num_nodes || g->nodes[v->producer].dead))
            return kn_error_set(ex->err, KN_ERR_GRAPH, "graph output '%s' is not produced by any node",
                                v->name);
    }
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        ex->cur = n;
        if (n->op >= KN_OP_COUNT)
            return kn_error_set(ex->err, KN_ERR_INVALID_ARG, "node '%s' has unknown op %d", n->name, (int)n->op);
        if (n->num_inputs < 0 || n->num_inputs > KN_MAX_INPUTS || n->num_outputs < 1 ||
            n->num_outputs > KN_MAX_OUTPUTS)
            return kn_ex_fail(ex, KN_ERR_GRAPH, "has %d inputs and %d outputs", n->num_inputs, n->num_outputs);
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] < -1 || n->inputs[k] >= g->num_values)
                return kn_ex_fail(ex, KN_ERR_GRAPH, "input %d is not a value", k);
        for (int k = 0; k < n->num_outputs; k++) {
            int id = n->outputs[k];
            if (id < 0 || id >= g->num_values)
                return kn_ex_fail(ex, KN_ERR_GRAPH, "output %d is not a value", k);
            if (g->values[id].kind != KN_VALUE_INTERMEDIATE)
                return kn_ex_fail(ex, KN_ERR_GRAPH, "writes %s '%s'", kn_ex_kind(g->values[id].kind),
                                  g->values[id].name);
        }
    }
    ex->cur = NULL;
    return KN_OK;
}

/* Weights and constants that a live node or a graph output reads become initializers. */
static kn_status kn_ex_initializers(kn_exporter *ex, bool *used, const bool *is_output)
{
    const kn_graph *g = ex->g;
    for (int i = 0; i < g->num_nodes; i++) {
        const kn_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->num_inputs; k++)
            if (n->inputs[k] >= 0)
                used[n->inputs[k]] = true;
    }
    for (int id = 0; id < g->num_values; id++)
        used[id] = used[id] || is_output[id];
    for (int id = 0; id < g->num_values; id++) {
        const kn_value *v = &g->values[id];
        if (!used[id] || !kn_value_kind_stored(v->kind))
            continue;
        if (!v->data)
            return kn_error_set(ex->err, KN_ERR_INVALID_ARG, "%s '%s' has no data", kn_ex_kind(v->kind), v->name);
        if (is_output[id]) {
            /* an output must be written by a node: keep the data under another name, add an Identity */
            const char *stored = kn_ex_unique(ex, v->name, "value");
            if (!stored)
                return kn_ex_nomem(ex);
            ex->vname[id] = stored;
        }
        char what[300];
        snprintf(what, sizeof what, "%s '%.250s'", kn_ex_kind(v->kind), v->name);
        Onnx__TensorProto *t = NULL;
        KN_TRY(kn_ex_tensor(ex, ex->vname[id], v->dtype, &v->shape, v->data, false, what, &t));
        if (!kn_ex_push(&ex->inits, t))
            return kn_ex_nomem(ex);
    }
    return KN_OK;
}

/*
 * dtype of every value: the graph's where known, else derived along the
 * node order (the ops' dtype rules need no shapes), so that graph outputs
 * of a model whose shapes were never inferred still get a type.
 */
static void kn_ex_dtypes(const kn_graph *g, const int *order, int count, kn_dtype *dt)
{
    for (int id = 0; id < g->num_values; id++)
        dt[id] = kn_dtype_size(g->values[id].dtype) ? g->values[id].dtype : KN_DTYPE_UNDEFINED;
    for (int i = 0; i < count; i++) {
        const kn_node *n = &g->nodes[order[i]];
        kn_dtype first = KN_DTYPE_UNDEFINED;
        for (int k = 0; k < n->num_inputs && first == KN_DTYPE_UNDEFINED; k++)
            if (n->inputs[k] >= 0)
                first = dt[n->inputs[k]];
        for (int k = 0; k < n->num_outputs; k++) {
            int id = n->outputs[k];
            if (dt[id] != KN_DTYPE_UNDEFINED)
                continue;
            if (n->op == KN_OP_CAST || n->op == KN_OP_CONSTANT_OF_SHAPE)
                dt[id] = n->attrs.dtype.to;
            else if (n->op == KN_OP_SHAPE || (n->op == KN_OP_MAX_POOL && k == 1))
                dt[id] = KN_I64;
            else if (n->op == KN_OP_DROPOUT && k == 1)
                dt[id] = KN_BOOL;
            else
                dt[id] = first;
        }
    }
}

static kn_status kn_ex_model(kn_exporter *ex, Onnx__ModelProto *m, Onnx__GraphProto *gp,
                             Onnx__OperatorSetIdProto *opset, Onnx__OperatorSetIdProto **opsets)
{
    const kn_graph *g = ex->g;
    KN_TRY(kn_ex_check(ex));

    ex->vname = kn_xcalloc((size_t)g->num_values, sizeof *ex->vname);
    bool *used = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    bool *is_input = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    bool *is_output = kn_xcalloc((size_t)g->num_values, sizeof(bool));
    int *order = kn_xcalloc((size_t)g->num_nodes, sizeof(int));
    kn_dtype *dt = kn_xcalloc((size_t)g->num_values, sizeof(kn_dtype));
    Onnx__ValueInfoProto **inputs = NULL, **outputs = NULL;
    int count = 0;
    kn_status st = KN_OK;
    if (!ex->vname || !used || !is_input || !is_output || !order || !dt) {
        st = kn_ex_nomem(ex);
        goto done;
    }
    for (int id = 0; id < g->num_values && st == KN_OK; id++) {
        if (!g->values[id].name || !g->values[id].name[0]) {
            st = kn_error_set(ex->err, KN_ERR_GRAPH, "value %d has no name", id);
            break;
        }
        ex->vname[id] = g->values[id].name;
        st = kn_ex_name_add(ex, g->values[id].name);
    }
    for (int i = 0; i < g->num_inputs; i++)
        is_input[g->inputs[i]] = true;
    for (int i = 0; i < g->num_outputs; i++)
        is_output[g->outputs[i]] = true;
    for (int id = 0; id < g->num_values && st == KN_OK; id++)
        if (g->values[id].kind == KN_VALUE_INPUT && !is_input[id])
            st = kn_error_set(ex->err, KN_ERR_GRAPH, "value '%s' is an input but not a graph input",
                              g->values[id].name);
    if (st != KN_OK)
        goto done;

    /* graph inputs */
    inputs = kn_ex_array(ex, (size_t)g->num_inputs, sizeof *inputs);
    outputs = kn_ex_array(ex, (size_t)g->num_outputs, sizeof *outputs);
    if (!inputs || !outputs) {
        st = kn_ex_nomem(ex);
        goto done;
    }
    for (int i = 0; i < g->num_inputs && st == KN_OK; i++) {
        const kn_value *v = &g->values[g->inputs[i]];
        st = kn_ex_value_info(ex, v->name, v->dtype, &v->shape, &inputs[i]);
    }
    if (st == KN_OK)
        st = kn_ex_initializers(ex, used, is_output);
    if (st == KN_OK)
        st = kn_ex_order(ex, order, &count);
    if (st == KN_OK)
        kn_ex_dtypes(g, order, count, dt);
    /* Add/Sub/Mul/Div on 8-bit integers exist from opset 14 on */
    for (int i = 0; i < count && st == KN_OK; i++) {
        const kn_node *n = &g->nodes[order[i]];
        bool arith = n->op == KN_OP_ADD || n->op == KN_OP_SUB || n->op == KN_OP_MUL || n->op == KN_OP_DIV;
        if (arith && n->num_inputs > 0 && n->inputs[0] >= 0 &&
            (dt[n->inputs[0]] == KN_U8 || dt[n->inputs[0]] == KN_I8))
            ex->opset = ex->opset > 14 ? ex->opset : 14;
        if (n->op == KN_OP_LAYER_NORM) /* LayerNormalization exists from opset 17 on */
            ex->opset = 17;
        if (n->op == KN_OP_SCATTER_ND && n->attrs.scatter.reduction != KN_SCATTER_NONE) /* ScatterND-16 */
            ex->opset = ex->opset > 16 ? ex->opset : 16;
    }
    for (int i = 0; i < count && st == KN_OK; i++) {
        ex->cur = &g->nodes[order[i]];
        st = kn_ex_export_node(ex, ex->cur);
    }
    ex->cur = NULL;
    /* graph outputs (a weight or constant output gets an Identity from its stored copy) */
    for (int i = 0; i < g->num_outputs && st == KN_OK; i++) {
        int id = g->outputs[i];
        const kn_value *v = &g->values[id];
        if (ex->vname[id] != v->name) {
            Onnx__NodeProto *p = NULL;
            const char *nm = kn_ex_unique(ex, v->name, "identity");
            const char *src = ex->vname[id], *dst = v->name;
            st = nm ? kn_ex_node(ex, "Identity", nm, &src, 1, &dst, 1, &p) : kn_ex_nomem(ex);
            if (st != KN_OK)
                break;
        }
        if (dt[id] == KN_DTYPE_UNDEFINED) {
            st = kn_error_set(ex->err, KN_ERR_DTYPE, "graph output '%s' has no known dtype", v->name);
            break;
        }
        /* an output's shape is known when inferred (or for inputs and weights) */
        bool shape = v->shape_known || v->kind != KN_VALUE_INTERMEDIATE;
        st = kn_ex_value_info(ex, v->name, dt[id], shape ? &v->shape : NULL, &outputs[i]);
    }
    /* value infos of intermediates whose type is known */
    for (int id = 0; id < g->num_values && st == KN_OK; id++) {
        const kn_value *v = &g->values[id];
        if (v->kind != KN_VALUE_INTERMEDIATE || is_output[id] || !v->shape_known || kn_dtype_size(v->dtype) == 0)
            continue;
        if (v->producer < 0 || v->producer >= g->num_nodes || g->nodes[v->producer].dead)
            continue;
        Onnx__ValueInfoProto *vi;
        st = kn_ex_value_info(ex, v->name, v->dtype, &v->shape, &vi);
        if (st == KN_OK && !kn_ex_push(&ex->infos, vi))
            st = kn_ex_nomem(ex);
    }
    if (st != KN_OK)
        goto done;

    gp->name = (char *)(g->name && g->name[0] ? g->name : "kiln");
    gp->n_node = ex->nodes.count;
    gp->node = (Onnx__NodeProto **)ex->nodes.items;
    gp->n_initializer = ex->inits.count;
    gp->initializer = (Onnx__TensorProto **)ex->inits.items;
    gp->n_input = (size_t)g->num_inputs;
    gp->input = inputs;
    gp->n_output = (size_t)g->num_outputs;
    gp->output = outputs;
    gp->n_value_info = ex->infos.count;
    gp->value_info = (Onnx__ValueInfoProto **)ex->infos.items;

    opset->domain = (char *)"";
    opset->has_version = 1;
    opset->version = ex->opset;
    opsets[0] = opset;
    m->has_ir_version = 1;
    m->ir_version = ex->opset > 13 ? 8 : KN_ONNX_EXPORT_IR_VERSION; /* IR 8 came with opsets 14 to 17 */
    m->n_opset_import = 1;
    m->opset_import = opsets;
    m->producer_name = (char *)"kiln";
    m->producer_version = (char *)"0.1.0";
    m->graph = gp;
done:
    free(used);
    free(is_input);
    free(is_output);
    free(order);
    free(dt);
    return st;
}

kn_status kn_onnx_export_buffer(const kn_graph *g, void **data, size_t *size, kn_error *err)
{
    return kn_onnx_export_buffer_opset(g, data, size, NULL, err);
}

kn_status kn_onnx_export_buffer_opset(const kn_graph *g, void **data, size_t *size, int64_t *opset_out,
                                      kn_error *err)
{
    if (!g || !data || !size)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_onnx_export_buffer: graph, data and size are required");
    *data = NULL;
    *size = 0;
    kn_exporter ex;
    memset(&ex, 0, sizeof ex);
    ex.g = g;
    ex.err = err;
    ex.opset = KN_ONNX_EXPORT_OPSET;
    Onnx__ModelProto m;
    Onnx__GraphProto gp;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    onnx__model_proto__init(&m);
    onnx__graph_proto__init(&gp);
    onnx__operator_set_id_proto__init(&opset);
    kn_status st = kn_ex_model(&ex, &m, &gp, &opset, opsets);
    if (st == KN_OK) {
        size_t len = onnx__model_proto__get_packed_size(&m);
        if (len > (size_t)INT32_MAX) {
            st = kn_error_set(err, KN_ERR_UNSUPPORTED,
                              "the model is %zu bytes; ONNX files are limited to 2 GiB (protobuf)", len);
        } else {
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf) {
                st = kn_error_set(err, KN_ERR_NOMEM, "out of memory (%zu bytes) serializing ONNX", len);
            } else {
                size_t packed = onnx__model_proto__pack(&m, buf);
                if (packed != len) {
                    free(buf);
                    st = kn_error_set(err, KN_ERR_BACKEND, "protobuf packing wrote %zu of %zu bytes", packed, len);
                } else {
                    *data = buf;
                    *size = len;
                    if (opset_out)
                        *opset_out = ex.opset;
                }
            }
        }
    }
    kn_ex_free(&ex);
    if (st != KN_OK && err)
        kn_error_prefix(err, "exporting '%s' to ONNX", g->name ? g->name : "graph");
    return st;
}

kn_status kn_onnx_export_file(const kn_graph *g, const char *path, kn_error *err)
{
    return kn_onnx_export_file_opset(g, path, NULL, err);
}

kn_status kn_onnx_export_file_opset(const kn_graph *g, const char *path, int64_t *opset, kn_error *err)
{
    if (!g || !path || !path[0])
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_onnx_export_file: graph and path are required");
    void *data;
    size_t size;
    KN_TRY(kn_onnx_export_buffer_opset(g, &data, &size, opset, err));
    const void *chunks[1] = {data};
    kn_status st = kn_file_write_atomic(path, chunks, &size, 1, err);
    free(data);
    return st;
}
