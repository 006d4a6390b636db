/*
 * onnx_wire.c - where a protobuf message fails to parse.
 *
 * protobuf-c unpacks a whole ModelProto at once and says only that it
 * failed. After a failure, kn_onnx_parse_failure walks the protobuf wire
 * format of the buffer against the generated message descriptors: at each
 * level it checks every field (tag, wire type against the field's type,
 * lengths, packed data) and unpacks every nested message of a known field
 * with protobuf-c on its own; the first one that fails is where it descends
 * (graph, then node 3, then attribute 1...), up to KN_WIRE_MAX_DEPTH levels.
 * Each level is one pass over its bytes plus one protobuf-c unpack of each
 * child, so the walk is linear in the size times the depth; it only runs on
 * a buffer that has failed, and it recurses at most KN_WIRE_MAX_DEPTH deep.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "onnx_priv.h"

/** Levels of nested messages the walk descends into. */
#define KN_WIRE_MAX_DEPTH 8

typedef struct kn_wire_out {
    char *buf;
    size_t len, used;
} kn_wire_out;

static void kn_wire_add(kn_wire_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kn_wire_add(kn_wire_out *o, const char *fmt, ...)
{
    if (o->used >= o->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

static const char *kn_wire_type_name(unsigned wt)
{
    static const char *const names[8] = {"varint", "64-bit", "length-delimited", "group start",
                                         "group end", "32-bit", "invalid (6)", "invalid (7)"};
    return names[wt & 7];
}

/* The wire type a field of type `t` is written with (length-delimited: packed, for a repeated number). */
static unsigned kn_wire_expected(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT: return 5;
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE: return 2;
    default: return 0;
    }
}

/* A printable copy of the string field `name` of the message at [p, end), or "" (for naming a failing message). */
static void kn_wire_name_of(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end, char *buf,
                            size_t len)
{
    buf[0] = '\0';
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "name");
    if (!f || f->type != PROTOBUF_C_TYPE_STRING)
        return;
    while (p < end) {
        uint64_t key, v;
        if (!kn_pb_varint(&p, end, &key))
            return;
        unsigned wt = key & 7;
        if (wt == 0) {
            if (!kn_pb_varint(&p, end, &v))
                return;
        } else if (wt == 1 || wt == 5) {
            if ((size_t)(end - p) < (wt == 1 ? 8u : 4u))
                return;
            p += wt == 1 ? 8 : 4;
        } else if (wt == 2) {
            if (!kn_pb_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return;
            if (key >> 3 == f->id) {
                size_t n = v < len - 1 ? (size_t)v : len - 1, k = 0;
                for (size_t i = 0; i < n; i++)
                    buf[k++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' ? (char)p[i] : '?';
                buf[k] = '\0';
                return;
            }
            p += v;
        } else {
            return;
        }
    }
}

/* Whether the packed data [p, p + n) of a field of type t holds whole elements; *why on failure. */
static bool kn_wire_packed_ok(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t n, kn_wire_out *why)
{
    unsigned wt = kn_wire_expected(f->type);
    size_t size = wt == 5 ? 4 : wt == 1 ? 8 : 0;
    if (size && n % size != 0) {
        kn_wire_add(why, "packed field '%s' is %zu bytes, not a multiple of %zu", f->name, n, size);
        return false;
    }
    const uint8_t *end = p + n;
    while (!size && p < end) {
        uint64_t v;
        if (!kn_pb_varint(&p, end, &v)) {
            kn_wire_add(why, "packed field '%s' ends inside a varint", f->name);
            return false;
        }
    }
    return true;
}

/*
 * Walk the message of type d at [p, end) (at byte offset `base` of the
 * buffer). True when nothing wrong was found. On a finding, appends to
 * `where` the path below this message and to `why` what is wrong.
 */
static bool kn_wire_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end, size_t base,
                         int depth, kn_wire_out *where, kn_wire_out *why)
{
    const uint8_t *start = p;
    unsigned counts[64] = {0}; /* occurrences of each field so far, by index in d->fields */
    while (p < end) {
        size_t at = base + (size_t)(p - start);
        uint64_t key, v = 0;
        if (!kn_pb_varint(&p, end, &key)) {
            kn_wire_add(why, "a field tag at byte %zu is cut off or malformed", at);
            return false;
        }
        unsigned wt = key & 7;
        uint64_t number = key >> 3;
        if (number == 0 || number > 536870911u) {
            kn_wire_add(why, "invalid field number %llu at byte %zu", (unsigned long long)number, at);
            return false;
        }
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)number);
        unsigned index = 0;
        if (f) {
            size_t fi = (size_t)(f - d->fields);
            index = fi < 64 ? counts[fi]++ : 0;
        }
        const uint8_t *payload = p;
        switch (wt) {
        case 0:
            if (!kn_pb_varint(&p, end, &v)) {
                kn_wire_add(why, "field %llu%s%s%s (varint) at byte %zu is cut off or malformed",
                            (unsigned long long)number, f ? " '" : "", f ? f->name : "", f ? "'" : "", at);
                return false;
            }
            break;
        case 1:
        case 5:
            if ((size_t)(end - p) < (wt == 1 ? 8u : 4u)) {
                kn_wire_add(why, "field %llu%s%s%s (%s) at byte %zu runs past the end of %s",
                            (unsigned long long)number, f ? " '" : "", f ? f->name : "", f ? "'" : "",
                            kn_wire_type_name(wt), at, depth ? "its message" : "the file");
                return false;
            }
            p += wt == 1 ? 8 : 4;
            break;
        case 2:
            if (!kn_pb_varint(&p, end, &v) || v > (uint64_t)(end - p)) {
                kn_wire_add(why, "field %llu%s%s%s at byte %zu claims %llu bytes, more than the %zu left in %s",
                            (unsigned long long)number, f ? " '" : "", f ? f->name : "", f ? "'" : "", at,
                            (unsigned long long)v, (size_t)(end - p), depth ? "its message" : "the file");
                if (!depth)
                    kn_wire_add(why, " (is the file cut short?)");
                return false;
            }
            payload = p;
            p += v;
            break;
        default:
            kn_wire_add(why, "field %llu at byte %zu has wire type %u (%s), which kiln's protobuf reader does not "
                             "accept", (unsigned long long)number, at, wt, kn_wire_type_name(wt));
            return false;
        }
        if (!f)
            continue; /* an unknown field: skipped, as protobuf-c does */
        unsigned want = kn_wire_expected(f->type);
        bool packed = wt == 2 && want != 2 && f->label == PROTOBUF_C_LABEL_REPEATED;
        if (wt != want && !packed) {
            kn_wire_add(why, "field '%s' has wire type %u (%s), expected %u (%s)", f->name, wt, kn_wire_type_name(wt),
                        want, kn_wire_type_name(want));
            return false;
        }
        if (packed && !kn_wire_packed_ok(f, payload, (size_t)v, why))
            return false;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        ProtobufCMessage *m = protobuf_c_message_unpack(sub, NULL, (size_t)v, payload);
        if (m) {
            protobuf_c_message_free_unpacked(m, NULL);
            continue;
        }
        char name[64];
        kn_wire_name_of(sub, payload, payload + v, name, sizeof name);
        kn_wire_add(where, "%s%s", where->used ? ", " : "", f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            kn_wire_add(where, " %u", index);
        if (name[0])
            kn_wire_add(where, " ('%s')", name);
        if (depth + 1 >= KN_WIRE_MAX_DEPTH)
            return false;
        if (kn_wire_walk(sub, payload, payload + v, base + (size_t)(payload - start), depth + 1, where, why))
            kn_wire_add(why, "its contents do not decode"); /* protobuf-c failed where the walk saw nothing */
        return false;
    }
    return true;
}

void kn_onnx_parse_failure(const ProtobufCMessageDescriptor *desc, const void *data, size_t size, char *buf,
                           size_t len)
{
    if (!len)
        return;
    buf[0] = '\0';
    char where[300] = "", why[300] = "";
    kn_wire_out w = {where, sizeof where, 0}, y = {why, sizeof why, 0};
    if (kn_wire_walk(desc, data, (const uint8_t *)data + size, 0, 0, &w, &y))
        return;
    if (where[0])
        snprintf(buf, len, "in %s: %s", where, why);
    else
        snprintf(buf, len, "at the top level: %s", why);
}
