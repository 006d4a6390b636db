/*
 * onnx_import.c - ONNX ModelProto -> kiln graph: parsing, opset and
 * unsupported-op checks, initializers and tensors, graph inputs/outputs and
 * the wiring of nodes. The per-op attribute conversion lives in onnx_ops.c.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx_priv.h"

/* Largest file read: protobuf messages cannot exceed 2 GiB. */
#define KN_ONNX_MAX_FILE ((long)INT32_MAX)

/* ------------------------------------------------------------ name map */

typedef struct kn_onnx_entry {
    const char *key;                  /* NULL: free slot; points into the proto or graph */
    int value;                        /* value id, or -1 while an initializer is not converted */
    const Onnx__TensorProto *init;    /* the initializer behind the name, if any */
} kn_onnx_entry;

typedef struct kn_onnx_importer {
    kn_graph *g;
    const Onnx__GraphProto *graph;
    int64_t opset;
    kn_onnx_entry *map;
    size_t map_cap;                   /* a power of two */
} kn_onnx_importer;

static uint64_t kn_onnx_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static kn_onnx_entry *kn_onnx_map_slot(kn_onnx_importer *imp, const char *key)
{
    size_t mask = imp->map_cap - 1;
    size_t i = (size_t)kn_onnx_hash(key) & mask;
    while (imp->map[i].key && strcmp(imp->map[i].key, key) != 0)
        i = (i + 1) & mask;
    return &imp->map[i];
}

static kn_onnx_entry *kn_onnx_map_find(kn_onnx_importer *imp, const char *key)
{
    kn_onnx_entry *e = kn_onnx_map_slot(imp, key);
    return e->key ? e : NULL;
}

/* Insert key; NULL when it is already present. Capacity is sized up front. */
static kn_onnx_entry *kn_onnx_map_insert(kn_onnx_importer *imp, const char *key)
{
    kn_onnx_entry *e = kn_onnx_map_slot(imp, key);
    if (e->key)
        return NULL;
    e->key = key;
    e->value = -1;
    e->init = NULL;
    return e;
}

/* --------------------------------------------------------------- dtypes */

kn_dtype kn_onnx_dtype(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return KN_F32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return KN_U8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return KN_I8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return KN_I32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return KN_I64;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return KN_BOOL;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return KN_F64;
    default: return KN_DTYPE_UNDEFINED;
    }
}

const char *kn_onnx_dtype_name(int32_t t)
{
    static const char *const names[] = {
        "undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
        "bool", "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
    };
    if (t >= 0 && (size_t)t < sizeof names / sizeof names[0])
        return names[t];
    return "unknown";
}

/* ------------------------------------------------------------- tensors */

static bool kn_onnx_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void kn_onnx_swap_bytes(unsigned char *p, size_t count, size_t elem)
{
    for (size_t i = 0; i < count; i++, p += elem)
        for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

kn_status kn_onnx_tensor_convert(const Onnx__TensorProto *t, const char *what, kn_dtype *dtype,
                                 kn_shape *shape, void **data, kn_error *err)
{
    *data = NULL;
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        t->n_external_data > 0)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s uses external data, which kiln does not load",
                            what);
    if (t->segment)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s is segmented, which kiln does not load", what);
    int32_t onnx_type = t->has_data_type ? t->data_type : 0;
    kn_dtype dt = kn_onnx_dtype(onnx_type);
    if (dt == KN_DTYPE_UNDEFINED)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s has dtype %s, which kiln does not support", what,
                            kn_onnx_dtype_name(onnx_type));
    if (t->n_dims > KN_MAX_RANK)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s has rank %zu; kiln supports at most %d", what,
                            t->n_dims, KN_MAX_RANK);
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return kn_error_set(err, KN_ERR_PARSE, "%s has negative dimension %lld", what,
                                (long long)t->dims[i]);
        s.dims[i] = t->dims[i];
    }
    size_t nbytes, count;
    if (kn_tensor_nbytes(dt, &s, &nbytes) != KN_OK || kn_shape_numel(&s, &count) != KN_OK)
        return kn_error_set(err, KN_ERR_OVERFLOW, "%s is too large (its size overflows)", what);
    size_t esize = kn_dtype_size(dt);

    const void *src = NULL;     /* typed field */
    size_t have = 0;            /* typed: element count */
    size_t typed = t->n_float_data + t->n_int32_data + t->n_int64_data + t->n_double_data + t->n_uint64_data +
                   t->n_string_data;
    if (t->has_raw_data && typed > 0)
        return kn_error_set(err, KN_ERR_PARSE,
                            "%s has both raw_data and %zu values in a typed field; ONNX allows only one of them",
                            what, typed);
    if (t->has_raw_data) {
        if (t->raw_data.len != nbytes)
            return kn_error_set(err, KN_ERR_PARSE, "%s has %zu bytes of data, expected %zu", what,
                                t->raw_data.len, nbytes);
    } else {
        switch (dt) {
        case KN_F32: src = t->float_data; have = t->n_float_data; break;
        case KN_F64: src = t->double_data; have = t->n_double_data; break;
        case KN_I64: src = t->int64_data; have = t->n_int64_data; break;
        default: src = t->int32_data; have = t->n_int32_data; break;
        }
        if (have != count)
            return kn_error_set(err, KN_ERR_PARSE, "%s has %zu values, expected %zu", what, have, count);
    }

    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf)
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
    if (t->has_raw_data) {
        if (nbytes)
            memcpy(buf, t->raw_data.data, nbytes);
        if (esize > 1 && !kn_onnx_host_little_endian())
            kn_onnx_swap_bytes(buf, count, esize);
        if (dt == KN_BOOL) /* kiln's bools are 0 or 1, as the typed field and .npy paths give */
            for (size_t i = 0; i < count; i++)
                buf[i] = buf[i] != 0;
    } else if (dt == KN_F32 || dt == KN_F64 || dt == KN_I64 || dt == KN_I32) {
        if (nbytes)
            memcpy(buf, src, nbytes);
    } else {
        const int32_t *v = src;
        for (size_t i = 0; i < count; i++) {
            if (dt == KN_BOOL)
                buf[i] = v[i] != 0;
            else if (dt == KN_I8)
                ((int8_t *)buf)[i] = (int8_t)v[i];
            else
                buf[i] = (uint8_t)v[i];
        }
    }
    *dtype = dt;
    *shape = s;
    *data = buf;
    return KN_OK;
}

/* -------------------------------------------------------------- nesting */

/*
 * protobuf-c unpacks nested messages recursively with no depth limit, and
 * onnx.proto is recursive (a node's attribute holds a graph of nodes, a type
 * holds a sequence of types), so a small file nesting a graph 100,000 deep
 * overflows the stack. Before unpacking, a walk over the wire format follows
 * only the fields that lead back to a recursive message and refuses a
 * nesting deeper than KN_ONNX_MAX_NESTING messages. It visits each byte
 * once; malformed data is left to protobuf-c to report.
 */
#define KN_ONNX_MAX_NESTING 100

typedef enum kn_pb_msg {
    KN_PB_NONE = 0, KN_PB_MODEL, KN_PB_TRAINING, KN_PB_FUNCTION, KN_PB_GRAPH, KN_PB_NODE, KN_PB_ATTR,
    KN_PB_VALUE_INFO, KN_PB_TYPE, KN_PB_TYPE_ELEM /* Sequence, Optional */, KN_PB_TYPE_MAP
} kn_pb_msg;

/* The recursive paths of onnx.proto: message, field number -> message. */
static const struct {
    kn_pb_msg parent;
    uint32_t field;
    kn_pb_msg child;
} kn_pb_edges[] = {
    {KN_PB_MODEL, 7, KN_PB_GRAPH},         {KN_PB_MODEL, 20, KN_PB_TRAINING},
    {KN_PB_MODEL, 25, KN_PB_FUNCTION},     {KN_PB_TRAINING, 1, KN_PB_GRAPH},
    {KN_PB_TRAINING, 2, KN_PB_GRAPH},      {KN_PB_FUNCTION, 7, KN_PB_NODE},
    {KN_PB_FUNCTION, 11, KN_PB_ATTR},      {KN_PB_GRAPH, 1, KN_PB_NODE},
    {KN_PB_GRAPH, 11, KN_PB_VALUE_INFO},   {KN_PB_GRAPH, 12, KN_PB_VALUE_INFO},
    {KN_PB_GRAPH, 13, KN_PB_VALUE_INFO},   {KN_PB_NODE, 5, KN_PB_ATTR},
    {KN_PB_ATTR, 6, KN_PB_GRAPH},          {KN_PB_ATTR, 11, KN_PB_GRAPH},
    {KN_PB_ATTR, 14, KN_PB_TYPE},          {KN_PB_ATTR, 15, KN_PB_TYPE},
    {KN_PB_VALUE_INFO, 2, KN_PB_TYPE},     {KN_PB_TYPE, 4, KN_PB_TYPE_ELEM},
    {KN_PB_TYPE, 5, KN_PB_TYPE_MAP},       {KN_PB_TYPE, 9, KN_PB_TYPE_ELEM},
    {KN_PB_TYPE_ELEM, 1, KN_PB_TYPE},      {KN_PB_TYPE_MAP, 2, KN_PB_TYPE},
};

bool kn_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* False when the message at [p, end) of type `type` nests deeper than the limit. */
static bool kn_onnx_nesting_ok(const unsigned char *p, const unsigned char *end, kn_pb_msg type, int depth)
{
    if (depth > KN_ONNX_MAX_NESTING)
        return false;
    while (p < end) {
        uint64_t key, v;
        if (!kn_pb_varint(&p, end, &key))
            return true;
        switch (key & 7) {
        case 0: /* varint */
            if (!kn_pb_varint(&p, end, &v))
                return true;
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                return true;
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                return true;
            p += 4;
            break;
        case 2: /* length-delimited */
            if (!kn_pb_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return true;
            for (size_t i = 0; i < sizeof kn_pb_edges / sizeof kn_pb_edges[0]; i++)
                if (kn_pb_edges[i].parent == type && kn_pb_edges[i].field == key >> 3 &&
                    !kn_onnx_nesting_ok(p, p + v, kn_pb_edges[i].child, depth + 1))
                    return false;
            p += v;
            break;
        default:
            return true;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- files */

static kn_status kn_onnx_read_file(const char *path, void **out, size_t *size, kn_error *err)
{
    *out = NULL;
    *size = 0;
    if (!path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "no file path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    kn_status st = KN_OK;
    unsigned char *buf = NULL;
    long len = -1;
    struct stat sb; /* fopen opens a directory, whose "size" ftell gives as LONG_MAX */
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        st = kn_error_set(err, KN_ERR_IO, "%s: is a directory, not an ONNX file", path);
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = kn_error_set(err, KN_ERR_IO, "%s: cannot determine the file size: %s", path,
                          strerror(errno));
        goto done;
    }
    if (len > KN_ONNX_MAX_FILE) {
        st = kn_error_set(err, KN_ERR_UNSUPPORTED,
                          "%s: file is %ld bytes; protobuf files are limited to 2 GiB", path, len);
        goto done;
    }
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf) {
        st = kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, len);
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)len) {
        size_t r = fread(buf + got, 1, (size_t)len - got, f);
        if (r == 0) {
            if (ferror(f))
                st = kn_error_set(err, KN_ERR_IO, "%s: read error after %zu of %ld bytes", path, got, len);
            else
                st = kn_error_set(err, KN_ERR_IO, "%s: file shrank while reading (%zu of %ld bytes)",
                                  path, got, len);
            goto done;
        }
        got += r;
    }
done:
    if (fclose(f) != 0 && st == KN_OK)
        st = kn_error_set(err, KN_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st != KN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *size = (size_t)len;
    return KN_OK;
}

kn_status kn_onnx_read_tensor_buffer(const void *data, size_t size, const char *name, kn_tensor *out,
                                     kn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "<memory>";
    if (!data && size)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: no data", name);
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, data);
    if (!t) {
        char why[640];
        kn_onnx_parse_failure(&onnx__tensor_proto__descriptor, data, size, why, sizeof why);
        return kn_error_set(err, KN_ERR_PARSE, "%s: not a valid ONNX TensorProto (protobuf parse failed%s%s)",
                            name, why[0] ? " " : "", why);
    }
    char what[64];
    if (t->name && t->name[0])
        snprintf(what, sizeof what, "tensor '%.40s'", t->name);
    else
        snprintf(what, sizeof what, "tensor");
    kn_status st = kn_onnx_tensor_convert(t, what, &out->dtype, &out->shape, &out->data, err);
    onnx__tensor_proto__free_unpacked(t, NULL);
    if (st != KN_OK) {
        memset(out, 0, sizeof *out);
        if (err)
            kn_error_prefix(err, "%s", name);
    }
    return st;
}

kn_status kn_onnx_read_tensor_file(const char *path, kn_tensor *out, kn_error *err)
{
    memset(out, 0, sizeof *out);
    void *buf;
    size_t size;
    kn_status st = kn_onnx_read_file(path, &buf, &size, err);
    if (st != KN_OK)
        return st;
    st = kn_onnx_read_tensor_buffer(buf, size, path, out, err);
    free(buf);
    return st;
}

/* ---------------------------------------------------- node-level helpers */

kn_status kn_onnx_node_error(const kn_onnx_node *n, kn_error *err, kn_status status, const char *fmt,
                             ...)
{
    if (!err)
        return status;
    char msg[sizeof err->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kn_error_set(err, status, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

const Onnx__AttributeProto *kn_onnx_attr(const kn_onnx_node *n, const char *name)
{
    for (size_t i = 0; i < n->proto->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->proto->attribute[i];
        if (a && a->name && strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

/* The attribute's type; old writers sometimes leave `type` unset. */
static int kn_onnx_attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return a->type;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

kn_status kn_onnx_attr_int(const kn_onnx_node *n, const char *name, int64_t def, int64_t *out,
                           kn_error *err)
{
    const Onnx__AttributeProto *a = kn_onnx_attr(n, name);
    *out = def;
    if (!a)
        return KN_OK;
    if (kn_onnx_attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute '%s' must be an int", name);
    *out = a->i;
    return KN_OK;
}

kn_status kn_onnx_attr_float(const kn_onnx_node *n, const char *name, float def, float *out,
                             kn_error *err)
{
    const Onnx__AttributeProto *a = kn_onnx_attr(n, name);
    *out = def;
    if (!a)
        return KN_OK;
    int type = kn_onnx_attr_type(a);
    if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        *out = a->f;
    else if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        *out = (float)a->i;
    else
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute '%s' must be a float", name);
    return KN_OK;
}

kn_status kn_onnx_attr_ints(const kn_onnx_node *n, const char *name, int64_t *out, int cap,
                            int *count, kn_error *err)
{
    const Onnx__AttributeProto *a = kn_onnx_attr(n, name);
    *count = -1;
    if (!a)
        return KN_OK;
    int type = kn_onnx_attr_type(a);
    if (type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
        type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute '%s' must be a list of ints", name);
    if (a->n_ints > (size_t)cap)
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED,
                                  "attribute '%s' has %zu values; kiln supports at most %d", name,
                                  a->n_ints, cap);
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    *count = (int)a->n_ints;
    return KN_OK;
}

kn_status kn_onnx_attr_string(const kn_onnx_node *n, const char *name, const char *def, char *buf,
                              size_t cap, kn_error *err)
{
    const Onnx__AttributeProto *a = kn_onnx_attr(n, name);
    if (!a) {
        snprintf(buf, cap, "%s", def);
        return KN_OK;
    }
    if (kn_onnx_attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute '%s' must be a string", name);
    size_t len = a->s.len;
    if (len >= cap || (len && memchr(a->s.data, 0, len)))
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "attribute '%s' has an unexpected value",
                                  name);
    if (len)
        memcpy(buf, a->s.data, len);
    buf[len] = '\0';
    return KN_OK;
}

kn_value *kn_onnx_input(const kn_onnx_node *n, int i)
{
    if (i < 0 || i >= n->num_inputs || n->inputs[i] < 0)
        return NULL;
    return &n->imp->g->values[n->inputs[i]];
}

/* A value name "<base>" or "<base>_<k>" that no ONNX name or graph value uses (malloc'ed). */
static char *kn_onnx_unique_name(kn_onnx_importer *imp, const char *base)
{
    size_t cap = strlen(base) + 24;
    char *name = malloc(cap);
    if (!name)
        return NULL;
    snprintf(name, cap, "%s", base);
    for (int k = 1; kn_onnx_map_find(imp, name) || kn_graph_find_value(imp->g, name) >= 0; k++)
        snprintf(name, cap, "%s_%d", base, k);
    return name;
}

/* Add a value that owns `data` (freed here on failure); shape_known follows the kind. */
static kn_status kn_onnx_add_value(kn_onnx_importer *imp, const char *name, kn_dtype dtype,
                                   const kn_shape *shape, kn_value_kind kind, void *data, int *id,
                                   kn_error *err)
{
    kn_status st = kn_graph_add_value(imp->g, name, dtype, shape, kind, data, id, err);
    if (st != KN_OK) {
        free(data);
        return st;
    }
    imp->g->values[*id].shape_known = kind != KN_VALUE_INTERMEDIATE;
    return KN_OK;
}

/* A fresh value name "<node>/<suffix>" (unique in the import; malloc'd), or NULL when out of memory. */
static char *kn_onnx_step_name(kn_onnx_node *n, const char *suffix)
{
    size_t blen = strlen(n->name) + strlen(suffix) + 2;
    char *base = malloc(blen);
    if (!base)
        return NULL;
    snprintf(base, blen, "%s/%s", n->name, suffix);
    char *name = kn_onnx_unique_name(n->imp, base);
    free(base);
    return name;
}

kn_status kn_onnx_add_const(kn_onnx_node *n, const char *suffix, kn_dtype dtype,
                            const kn_shape *shape, const void *data, int *id, kn_error *err)
{
    size_t nbytes;
    if (kn_tensor_nbytes(dtype, shape, &nbytes) != KN_OK)
        return kn_onnx_node_error(n, err, KN_ERR_OVERFLOW, "constant '%s' is too large", suffix);
    char *name = kn_onnx_step_name(n, suffix);
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!name || !copy) {
        free(name);
        free(copy);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    if (nbytes)
        memcpy(copy, data, nbytes);
    kn_status st = kn_onnx_add_value(n->imp, name, dtype, shape, KN_VALUE_CONST, copy, id, err);
    free(name);
    return st;
}

kn_status kn_onnx_add_step(kn_onnx_node *n, const char *suffix, kn_op op, const int *inputs, int num_inputs,
                           const kn_attrs *attrs, int *out, kn_error *err)
{
    char *name = kn_onnx_step_name(n, suffix);
    if (!name)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    kn_status st = kn_onnx_add_value(n->imp, name, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL, out, err);
    int id;
    if (st == KN_OK)
        st = kn_graph_add_node(n->imp->g, name, op, inputs, num_inputs, out, 1, attrs, &id, err);
    free(name);
    return st;
}

/* -------------------------------------------------------------- the model */

static bool kn_onnx_default_domain(const char *domain)
{
    return !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
}

static const char *kn_onnx_node_name(const Onnx__NodeProto *p, size_t index, char *buf, size_t cap)
{
    if (p->name && p->name[0])
        return p->name;
    snprintf(buf, cap, "%s_%zu", p->op_type ? p->op_type : "node", index);
    return buf;
}

/* Append to a bounded message; returns false once it no longer fits. */
static bool kn_onnx_append(char *buf, size_t cap, size_t reserve, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool kn_onnx_append(char *buf, size_t cap, size_t reserve, const char *fmt, ...)
{
    size_t len = strlen(buf);
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (len + strlen(piece) + reserve >= cap)
        return false;
    memcpy(buf + len, piece, strlen(piece) + 1);
    return true;
}

/* Collect every node kiln cannot import; one message listing all of them. */
static kn_status kn_onnx_check_ops(const Onnx__ModelProto *m, const Onnx__GraphProto *gp,
                                   int64_t opset, kn_error *err)
{
    char list[900] = "";
    size_t bad = 0, listed = 0;
    char namebuf[64];
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *p = gp->node[i];
        if (!p->op_type || !p->op_type[0])
            return kn_error_set(err, KN_ERR_PARSE, "node #%zu has no op_type", i);
        const char *name = kn_onnx_node_name(p, i, namebuf, sizeof namebuf);
        char piece[400];
        if (!kn_onnx_default_domain(p->domain)) {
            int64_t version = 0;
            for (size_t k = 0; k < m->n_opset_import; k++)
                if (m->opset_import[k]->domain && strcmp(m->opset_import[k]->domain, p->domain) == 0)
                    version = m->opset_import[k]->version;
            snprintf(piece, sizeof piece, "%.100s (domain '%.100s', version %lld) at node '%.150s'",
                     p->op_type, p->domain, (long long)version, name);
        } else if (!kn_onnx_find_op(p->op_type, opset)) {
            snprintf(piece, sizeof piece, "%.100s (opset %lld) at node '%.200s'", p->op_type,
                     (long long)opset, name);
        } else {
            continue;
        }
        bad++;
        if (listed == bad - 1 &&
            kn_onnx_append(list, sizeof list, 24, "%s%s", listed ? "; " : "", piece))
            listed++;
    }
    if (!bad)
        return KN_OK;
    if (listed < bad)
        kn_onnx_append(list, sizeof list, 0, "; ... and %zu more", bad - listed);
    return kn_error_set(err, KN_ERR_UNSUPPORTED, "%zu unsupported op%s: %s", bad, bad == 1 ? "" : "s",
                        list);
}

static kn_status kn_onnx_add_graph_input(kn_onnx_importer *imp, const Onnx__ValueInfoProto *vi,
                                         size_t index, kn_error *err)
{
    if (!vi->name || !vi->name[0])
        return kn_error_set(err, KN_ERR_PARSE, "graph input #%zu has no name", index);
    kn_onnx_entry *e = kn_onnx_map_find(imp, vi->name);
    if (e && e->init)
        return KN_OK; /* an initializer listed as input (older exporters): a weight */
    if (e)
        return kn_error_set(err, KN_ERR_GRAPH, "graph input '%s' is listed twice", vi->name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "input '%s' is not a tensor", vi->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int32_t et = tt->has_elem_type ? tt->elem_type : 0;
    kn_dtype dt = kn_onnx_dtype(et);
    if (dt == KN_DTYPE_UNDEFINED)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "input '%s' has dtype %s, which kiln does not support",
                            vi->name, kn_onnx_dtype_name(et));
    if (!tt->shape)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "input '%s' has no shape; kiln needs its rank and non-batch dimensions",
                            vi->name);
    if (tt->shape->n_dim > KN_MAX_RANK)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "input '%s' has rank %zu; kiln supports at most %d",
                            vi->name, tt->shape->n_dim, KN_MAX_RANK);
    kn_shape s;
    memset(&s, 0, sizeof s);
    s.rank = (int)tt->shape->n_dim;
    for (int d = 0; d < s.rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        bool known = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                     dim->dim_value >= 0;
        if (known) {
            s.dims[d] = dim->dim_value;
        } else if (d == 0) {
            s.dims[d] = KN_DIM_BATCH;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "input '%s' dimension %d is symbolic ('%s'); kiln binds only the batch "
                                "dimension",
                                vi->name, d, dim->dim_param ? dim->dim_param : "");
        } else {
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "input '%s' dimension %d is unknown; kiln binds only the batch dimension",
                                vi->name, d);
        }
    }
    e = kn_onnx_map_insert(imp, vi->name);
    int id;
    kn_status st = kn_onnx_add_value(imp, vi->name, dt, &s, KN_VALUE_INPUT, NULL, &id, err);
    if (st != KN_OK)
        return st;
    e->value = id;
    return kn_graph_add_input(imp->g, id, err);
}

/* Convert an initializer on first use. */
static kn_status kn_onnx_use_initializer(kn_onnx_importer *imp, kn_onnx_entry *e, kn_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "initializer '%.250s'", e->key);
    kn_dtype dt;
    kn_shape s;
    void *data;
    kn_status st = kn_onnx_tensor_convert(e->init, what, &dt, &s, &data, err);
    if (st != KN_OK)
        return st;
    return kn_onnx_add_value(imp, e->key, dt, &s, dt == KN_F32 ? KN_VALUE_PARAM : KN_VALUE_CONST, data,
                             &e->value, err);
}

/* A Constant node becomes a KN_VALUE_CONST value named after its output. */
static kn_status kn_onnx_constant(kn_onnx_node *n, kn_error *err)
{
    const Onnx__NodeProto *p = n->proto;
    if (p->n_output != 1 || !p->output[0] || !p->output[0][0])
        return kn_onnx_node_error(n, err, KN_ERR_GRAPH, "a Constant must have exactly one named output");
    if (p->n_input != 0)
        return kn_onnx_node_error(n, err, KN_ERR_GRAPH, "a Constant has no inputs");
    if (p->n_attribute != 1)
        return kn_onnx_node_error(n, err, KN_ERR_PARSE, "a Constant needs exactly one value attribute");
    const Onnx__AttributeProto *a = p->attribute[0];
    const char *an = a->name ? a->name : "";
    kn_dtype dt = KN_DTYPE_UNDEFINED;
    kn_shape s;
    memset(&s, 0, sizeof s);
    void *data = NULL;
    kn_status st = KN_OK;
    if (strcmp(an, "value") == 0) {
        if (!a->t)
            return kn_onnx_node_error(n, err, KN_ERR_PARSE, "attribute 'value' must be a tensor");
        char what[64];
        snprintf(what, sizeof what, "attribute 'value'");
        kn_error sub;
        st = kn_onnx_tensor_convert(a->t, what, &dt, &s, &data, err ? &sub : NULL);
        if (st != KN_OK)
            return kn_onnx_node_error(n, err, st, "%s", sub.message);
    } else if (strcmp(an, "value_float") == 0 || strcmp(an, "value_int") == 0) {
        bool is_float = an[6] == 'f';
        dt = is_float ? KN_F32 : KN_I64;
        data = malloc(8);
        if (!data)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        if (is_float) {
            float f;
            st = kn_onnx_attr_float(n, an, 0, &f, err);
            memcpy(data, &f, sizeof f);
        } else {
            int64_t i;
            st = kn_onnx_attr_int(n, an, 0, &i, err);
            memcpy(data, &i, sizeof i);
        }
    } else if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
        bool is_float = an[6] == 'f';
        size_t count = is_float ? a->n_floats : a->n_ints;
        dt = is_float ? KN_F32 : KN_I64;
        s.rank = 1;
        s.dims[0] = (int64_t)count;
        data = malloc(count ? count * 8 : 1);
        if (!data)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        if (count)
            memcpy(data, is_float ? (const void *)a->floats : (const void *)a->ints,
                   count * (is_float ? sizeof(float) : sizeof(int64_t)));
    } else {
        return kn_onnx_node_error(n, err, KN_ERR_UNSUPPORTED, "attribute '%s' is not supported", an);
    }
    if (st != KN_OK) {
        free(data);
        return st;
    }
    kn_onnx_entry *e = kn_onnx_map_insert(n->imp, p->output[0]);
    if (!e) {
        free(data);
        return kn_onnx_node_error(n, err, KN_ERR_GRAPH, "writes '%s', which is already defined",
                                  p->output[0]);
    }
    return kn_onnx_add_value(n->imp, p->output[0], dt, &s, KN_VALUE_CONST, data, &e->value, err);
}

/* Whether `name` is one of the space-separated words of `list`. */
static bool kn_onnx_word_in(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t wl = end ? (size_t)(end - p) : strlen(p);
        if (wl == len && len && strncmp(p, name, len) == 0)
            return true;
        p = end;
    }
    return false;
}

static void kn_onnx_node_setup(kn_onnx_importer *imp, const Onnx__NodeProto *p, size_t index,
                               char *namebuf, size_t cap, kn_onnx_node *n)
{
    memset(n, 0, sizeof *n);
    n->imp = imp;
    n->proto = p;
    n->name = kn_onnx_node_name(p, index, namebuf, cap);
    n->op_type = p->op_type;
    n->opset = imp->opset;
}

/* Create the values a node writes (before any node reads them, so order does not matter). */
static kn_status kn_onnx_define_outputs(kn_onnx_importer *imp, const Onnx__NodeProto *p, size_t index,
                                        kn_error *err)
{
    char namebuf[64];
    kn_onnx_node n;
    kn_onnx_node_setup(imp, p, index, namebuf, sizeof namebuf, &n);
    const kn_onnx_op_entry *entry = kn_onnx_find_op(p->op_type, imp->opset);
    if (entry->op == KN_OP_COUNT)
        return kn_onnx_constant(&n, err);
    for (size_t i = 0; i < p->n_output; i++) {
        const char *out = p->output[i];
        if (!out || !out[0])
            continue;
        kn_onnx_entry *e = kn_onnx_map_insert(imp, out);
        if (!e)
            return kn_onnx_node_error(&n, err, KN_ERR_GRAPH, "writes '%s', which is already defined", out);
        kn_status st = kn_onnx_add_value(imp, out, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL,
                                         &e->value, err);
        if (st != KN_OK)
            return st;
    }
    return KN_OK;
}

/* Value id behind an ONNX name read by a node or a graph output; -1 with err set when undefined. */
static kn_status kn_onnx_resolve(kn_onnx_importer *imp, const char *name, int *id, kn_error *err)
{
    kn_onnx_entry *e = kn_onnx_map_find(imp, name);
    *id = -1;
    if (!e)
        return KN_ERR_NOT_FOUND;
    if (e->value < 0 && e->init) {
        kn_status st = kn_onnx_use_initializer(imp, e, err);
        if (st != KN_OK)
            return st;
    }
    *id = e->value;
    return *id >= 0 ? KN_OK : KN_ERR_NOT_FOUND;
}

static kn_status kn_onnx_import_node(kn_onnx_importer *imp, const Onnx__NodeProto *p, size_t index,
                                     kn_error *err)
{
    const kn_onnx_op_entry *entry = kn_onnx_find_op(p->op_type, imp->opset);
    if (entry->op == KN_OP_COUNT)
        return KN_OK; /* Constant: already a value */
    char namebuf[64];
    kn_onnx_node n;
    kn_onnx_node_setup(imp, p, index, namebuf, sizeof namebuf, &n);
    n.op = entry->op;
    kn_status st;

    if (p->n_input > KN_MAX_INPUTS)
        return kn_onnx_node_error(&n, err, KN_ERR_UNSUPPORTED, "has %zu inputs; kiln supports at most %d",
                                  p->n_input, KN_MAX_INPUTS);
    n.num_inputs = (int)p->n_input;
    for (int i = 0; i < n.num_inputs; i++) {
        const char *in = p->input[i];
        n.inputs[i] = -1;
        if (!in || !in[0])
            continue;
        st = kn_onnx_resolve(imp, in, &n.inputs[i], err);
        if (st == KN_ERR_NOT_FOUND)
            return kn_error_set(err, KN_ERR_GRAPH,
                                "node '%s' (%s) reads '%s', which is not defined (missing initializer?)",
                                n.name, n.op_type, in);
        if (st != KN_OK)
            return st; /* the message names the initializer */
    }

    int last = -1;
    for (size_t i = 0; i < p->n_output; i++)
        if (p->output[i] && p->output[i][0])
            last = (int)i;
    if (last + 1 > KN_MAX_OUTPUTS)
        return kn_onnx_node_error(&n, err, KN_ERR_UNSUPPORTED, "has %d outputs; kiln supports at most %d",
                                  last + 1, KN_MAX_OUTPUTS);
    n.num_outputs = last + 1;
    for (int i = 0; i < n.num_outputs; i++) {
        const char *out = p->output[i];
        if (out && out[0]) {
            n.outputs[i] = kn_onnx_map_find(imp, out)->value;
            continue;
        }
        /* an unnamed output before a named one: give it a private value */
        char base[128];
        snprintf(base, sizeof base, "%.80s/unused_output_%d", n.name, i);
        char *name = kn_onnx_unique_name(imp, base);
        if (!name)
            return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        st = kn_onnx_add_value(imp, name, KN_DTYPE_UNDEFINED, NULL, KN_VALUE_INTERMEDIATE, NULL,
                               &n.outputs[i], err);
        free(name);
        if (st != KN_OK)
            return st;
    }

    for (size_t i = 0; i < p->n_attribute; i++) {
        const char *an = p->attribute[i]->name ? p->attribute[i]->name : "";
        if (!kn_onnx_word_in(entry->attrs, an))
            return kn_onnx_node_error(&n, err, KN_ERR_UNSUPPORTED, "attribute '%s' is not supported", an);
    }

    kn_attrs_init(n.op, &n.attrs);
    if (entry->fn) {
        st = entry->fn(&n, err);
        if (st != KN_OK)
            return st;
    }

    while (n.num_inputs > 0 && n.inputs[n.num_inputs - 1] < 0)
        n.num_inputs--;
    const kn_op_info *info = kn_op_get(n.op);
    int max_in = info->max_inputs < 0 ? KN_MAX_INPUTS : info->max_inputs;
    int max_out = info->max_outputs < 0 ? KN_MAX_OUTPUTS : info->max_outputs;
    if (n.num_inputs < info->min_inputs || n.num_inputs > max_in)
        return kn_onnx_node_error(&n, err, KN_ERR_GRAPH, "has %d inputs; %s takes %d to %d", n.num_inputs,
                                  n.op_type, info->min_inputs, max_in);
    for (int i = 0; i < info->min_inputs; i++)
        if (n.inputs[i] < 0)
            return kn_onnx_node_error(&n, err, KN_ERR_GRAPH, "input %d is required but empty", i);
    if (n.num_outputs < info->min_outputs || n.num_outputs > max_out)
        return kn_onnx_node_error(&n, err, KN_ERR_GRAPH, "has %d outputs; %s gives %d to %d",
                                  n.num_outputs, n.op_type, info->min_outputs, max_out);
    int id;
    return kn_graph_add_node(imp->g, n.name, n.op, n.inputs, n.num_inputs, n.outputs, n.num_outputs,
                             &n.attrs, &id, err);
}

/* A graph output's declared type (when given) must be one kiln can produce: a tensor of a kiln dtype. */
static kn_status kn_onnx_check_output_type(const Onnx__ValueInfoProto *vi, kn_error *err)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return KN_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type) {
        const char *kind = tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE   ? "a sequence"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE      ? "a map"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? "an optional"
                           : tp->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE ? "a sparse tensor"
                                                                                          : "not a tensor";
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "graph output '%s' is %s; kiln produces dense tensors only",
                            vi->name, kind);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 0 && kn_onnx_dtype(tt->elem_type) == KN_DTYPE_UNDEFINED)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "graph output '%s' has dtype %s, which kiln cannot produce",
                            vi->name, kn_onnx_dtype_name(tt->elem_type));
    return KN_OK;
}

static kn_status kn_onnx_import_model(kn_onnx_importer *imp, const Onnx__ModelProto *m, kn_error *err)
{
    const Onnx__GraphProto *gp = m->graph;
    if (!gp)
        return kn_error_set(err, KN_ERR_PARSE, "not a valid ONNX model (it has no graph)");
    imp->graph = gp;

    int64_t opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!kn_onnx_default_domain(o->domain) || !o->has_version)
            continue;
        if (opset >= 0)
            return kn_error_set(err, KN_ERR_PARSE,
                                "model imports the default ONNX domain twice (opsets %lld and %lld); ONNX allows "
                                "one opset per domain",
                                (long long)opset, (long long)o->version);
        opset = o->version;
    }
    if (opset < 0)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "model has no opset import for the default ONNX domain; kiln supports "
                            "opsets %d to %d",
                            KN_ONNX_MIN_OPSET, KN_ONNX_MAX_OPSET);
    /* Models stamped with an opset below 7 are read when every op they use has
     * kept its semantics since (the op table's ranges decide, node by node). */
    if (opset < 1 || opset > KN_ONNX_MAX_OPSET)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "model uses ONNX opset %lld; kiln supports opsets %d to %d",
                            (long long)opset, KN_ONNX_MIN_OPSET, KN_ONNX_MAX_OPSET);
    imp->opset = opset;
    if (!m->has_ir_version || m->ir_version == 0)
        return kn_error_set(err, KN_ERR_PARSE, "model has no ir_version; kiln reads ONNX IR versions %d to %d",
                            KN_ONNX_MIN_IR_VERSION, KN_ONNX_MAX_IR_VERSION);
    if (m->ir_version < KN_ONNX_MIN_IR_VERSION || m->ir_version > KN_ONNX_MAX_IR_VERSION)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "model has ONNX IR version %lld; kiln reads IR versions %d to %d",
                            (long long)m->ir_version, KN_ONNX_MIN_IR_VERSION, KN_ONNX_MAX_IR_VERSION);

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
            t->n_external_data > 0)
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "initializer '%s' uses external data, which kiln does not load",
                                t->name ? t->name : "");
    }
    if (gp->n_sparse_initializer > 0)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "model has sparse initializers, which kiln does not load");

    kn_status st = kn_onnx_check_ops(m, gp, opset, err);
    if (st != KN_OK)
        return st;

    /* size the name map: every name the model can define, at most half full */
    size_t names = gp->n_initializer + gp->n_input + 16;
    for (size_t i = 0; i < gp->n_node; i++)
        names += gp->node[i]->n_output;
    size_t cap = 64;
    while (cap < 2 * names) {
        if (cap > SIZE_MAX / 4)
            return kn_error_set(err, KN_ERR_OVERFLOW, "model is too large");
        cap *= 2;
    }
    imp->map = kn_xcalloc(cap, sizeof *imp->map);
    if (!imp->map)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    imp->map_cap = cap;

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        if (!t->name || !t->name[0])
            return kn_error_set(err, KN_ERR_PARSE, "initializer #%zu has no name", i);
        kn_onnx_entry *e = kn_onnx_map_insert(imp, t->name);
        if (!e)
            return kn_error_set(err, KN_ERR_GRAPH, "initializer '%s' is defined twice", t->name);
        e->init = t;
    }
    for (size_t i = 0; i < gp->n_input; i++)
        if ((st = kn_onnx_add_graph_input(imp, gp->input[i], i, err)) != KN_OK)
            return st;
    for (size_t i = 0; i < gp->n_node; i++)
        if ((st = kn_onnx_define_outputs(imp, gp->node[i], i, err)) != KN_OK)
            return st;
    for (size_t i = 0; i < gp->n_node; i++)
        if ((st = kn_onnx_import_node(imp, gp->node[i], i, err)) != KN_OK)
            return st;

    if (gp->n_output == 0)
        return kn_error_set(err, KN_ERR_GRAPH, "model has no graph outputs");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name;
        if (!name || !name[0])
            return kn_error_set(err, KN_ERR_PARSE, "graph output #%zu has no name", i);
        if ((st = kn_onnx_check_output_type(gp->output[i], err)) != KN_OK)
            return st;
        int id;
        st = kn_onnx_resolve(imp, name, &id, err);
        if (st == KN_ERR_NOT_FOUND)
            return kn_error_set(err, KN_ERR_GRAPH, "graph output '%s' is not produced by any node", name);
        if (st != KN_OK)
            return st;
        if (imp->g->values[id].is_output)
            return kn_error_set(err, KN_ERR_GRAPH, "graph output '%s' is listed twice", name);
        if ((st = kn_graph_add_output(imp->g, id, err)) != KN_OK)
            return st;
        imp->g->values[id].is_output = true;
    }
    if (imp->g->num_nodes > 0 && (st = kn_graph_sort(imp->g, err)) != KN_OK)
        return st;
    /* BatchNormalization's running mean and variance are state training updates, not trainable weights */
    for (int i = 0; i < imp->g->num_nodes; i++) {
        const kn_node *n = &imp->g->nodes[i];
        for (int k = 3; n->op == KN_OP_BATCH_NORM && k < 5 && k < n->num_inputs; k++)
            if (n->inputs[k] >= 0 && imp->g->values[n->inputs[k]].kind == KN_VALUE_PARAM)
                imp->g->values[n->inputs[k]].kind = KN_VALUE_STATE;
    }
    return kn_graph_verify(imp->g, false, err);
}

/* Parse `data` into a ModelProto (which owns copies of everything it needs). */
static kn_status kn_onnx_unpack(const void *data, size_t size, const char *name, Onnx__ModelProto **out,
                                kn_error *err)
{
    *out = NULL;
    if (!data && size)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: no data", name);
    if (size == 0)
        return kn_error_set(err, KN_ERR_PARSE, "%s: not a valid ONNX model (the file is empty)", name);
    if (!kn_onnx_nesting_ok(data, (const unsigned char *)data + size, KN_PB_MODEL, 0))
        return kn_error_set(err, KN_ERR_PARSE,
                            "%s: not a valid ONNX model (messages nest more than %d deep: subgraphs or types "
                            "inside themselves)",
                            name, KN_ONNX_MAX_NESTING);
    *out = onnx__model_proto__unpack(NULL, size, data);
    if (!*out) {
        char why[640];
        kn_onnx_parse_failure(&onnx__model_proto__descriptor, data, size, why, sizeof why);
        return kn_error_set(err, KN_ERR_PARSE, "%s: not a valid ONNX model (protobuf parse failed%s%s)", name,
                            why[0] ? " " : "", why);
    }
    return KN_OK;
}

/* Convert an unpacked model into `graph`, then free the model. */
static kn_status kn_onnx_import_unpacked(Onnx__ModelProto *m, const char *name, kn_graph *graph, kn_error *err)
{
    kn_onnx_importer imp;
    memset(&imp, 0, sizeof imp);
    imp.g = graph;
    kn_status st = kn_onnx_import_model(&imp, m, err);
    if (st == KN_OK && !graph->name) {
        const char *gname = m->graph->name && m->graph->name[0] ? m->graph->name : name;
        graph->name = kn_strdup(gname);
        if (!graph->name)
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    }
    free(imp.map);
    onnx__model_proto__free_unpacked(m, NULL);
    if (st != KN_OK) {
        kn_graph_free(graph);
        kn_graph_init(graph);
        if (err)
            kn_error_prefix(err, "%s", name);
    }
    return st;
}

kn_status kn_onnx_import_buffer(const void *data, size_t size, const char *name, kn_graph *graph,
                                kn_error *err)
{
    kn_graph_init(graph);
    if (!name)
        name = "<memory>";
    Onnx__ModelProto *m;
    kn_status st = kn_onnx_unpack(data, size, name, &m, err);
    return st == KN_OK ? kn_onnx_import_unpacked(m, name, graph, err) : st;
}

kn_status kn_onnx_import_file(const char *path, kn_graph *graph, kn_error *err)
{
    kn_graph_init(graph);
    void *buf;
    size_t size;
    kn_status st = kn_onnx_read_file(path, &buf, &size, err);
    if (st != KN_OK)
        return st;
    /* The file's bytes are freed as soon as they are parsed, so a big model
     * is held twice at most (parsed, and converted), not three times. */
    Onnx__ModelProto *m;
    st = kn_onnx_unpack(buf, size, path, &m, err);
    free(buf);
    return st == KN_OK ? kn_onnx_import_unpacked(m, path, graph, err) : st;
}
