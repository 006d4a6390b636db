/*
 * npy.c - reading and writing NumPy .npy files (the public kn_npy_* API).
 *
 * Format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor
 * version byte, a little-endian header length (2 bytes for version 1.x, 4
 * bytes for 2.x and 3.x), then the header itself: a Python dict literal
 * with exactly the keys 'descr', 'fortran_order' and 'shape', padded with
 * spaces and ended by a newline so that the data starts on an aligned
 * offset. The array data follows in the order the header describes.
 *
 * The reader parses the dict itself (any key order, any whitespace, an
 * optional trailing comma), accepts little-endian (or byte-order-free)
 * float32/float64/int64/int32/uint8/int8/bool in C order, checks every size
 * computation, and compares the data length against the file size before
 * allocating, so a corrupt header cannot make it allocate absurd amounts.
 * Every error message starts with the file name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"
#include "kiln.h"

/** Longest header accepted. Real headers of supported arrays are < 200 bytes. */
#define KN_NPY_MAX_HEADER ((size_t)1 << 20)

/**
 * Alignment of the data a header must end on. NumPy pads the header with
 * spaces and a final newline so that the data starts on a multiple of 64
 * bytes (16 in older releases, and in writers such as cnpy), so every such
 * file passes a 16-byte check; a header length field that is off by a few
 * bytes, which would shift the data, does not.
 */
#define KN_NPY_ALIGN 16

static const unsigned char kn_npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ------------------------------------------------------------ dtype codes */

typedef struct kn_npy_type {
    const char *code;   /* type character and size, without the byte-order mark */
    kn_dtype dtype;
} kn_npy_type;

static const kn_npy_type kn_npy_types[] = {
    {"f4", KN_F32}, {"f8", KN_F64}, {"i8", KN_I64}, {"i4", KN_I32},
    {"u1", KN_U8},  {"i1", KN_I8},  {"b1", KN_BOOL},
};

static const char *kn_npy_code(kn_dtype dtype)
{
    for (size_t i = 0; i < sizeof kn_npy_types / sizeof kn_npy_types[0]; i++)
        if (kn_npy_types[i].dtype == dtype)
            return kn_npy_types[i].code;
    return NULL;
}

/* Map a descr string to a kiln dtype, or explain why it is not supported. */
static kn_status kn_npy_parse_descr(const char *path, const char *descr, kn_dtype *dtype,
                                    kn_error *err)
{
    char order = descr[0];
    const char *code = descr;
    if (order == '<' || order == '>' || order == '|' || order == '=')
        code = descr + 1;
    else
        order = '=';
    if (code[0] == 'O')
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "%s: object arrays (dtype '%s') are not supported", path, descr);
    if (strcmp(code, "?") == 0)
        code = "b1";
    for (size_t i = 0; i < sizeof kn_npy_types / sizeof kn_npy_types[0]; i++) {
        if (strcmp(code, kn_npy_types[i].code) != 0)
            continue;
        size_t size = kn_dtype_size(kn_npy_types[i].dtype);
        if (size > 1 && order == '>')
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "%s: big-endian data (dtype '%s') is not supported", path, descr);
        if (size > 1 && order != '<')
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "%s: dtype '%s' has no explicit byte order; expected '<%s'",
                                path, descr, code);
        *dtype = kn_npy_types[i].dtype;
        return KN_OK;
    }
    return kn_error_set(err, KN_ERR_UNSUPPORTED,
                        "%s: dtype '%s' is not supported (expected one of <f4 <f8 <i8 <i4 "
                        "|u1 |i1 |b1)", path, descr);
}

/* ------------------------------------------------------- header parsing */

/* A cursor over the header text; `end` is one past its last byte. */
typedef struct kn_npy_lex {
    const char *p, *end;
    const char *path;
    kn_error *err;
} kn_npy_lex;

static void kn_npy_skip_ws(kn_npy_lex *lx)
{
    while (lx->p < lx->end &&
           (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r'))
        lx->p++;
}

static kn_status kn_npy_bad(kn_npy_lex *lx, const char *what)
{
    return kn_error_set(lx->err, KN_ERR_PARSE, "%s: malformed .npy header: %s", lx->path, what);
}

/* Consume `c` (after whitespace) or fail saying `what` was expected. */
static kn_status kn_npy_expect(kn_npy_lex *lx, char c, const char *what)
{
    kn_npy_skip_ws(lx);
    if (lx->p >= lx->end || *lx->p != c)
        return kn_npy_bad(lx, what);
    lx->p++;
    return KN_OK;
}

/* Parse a quoted Python string without escapes into buf. */
static kn_status kn_npy_string(kn_npy_lex *lx, char *buf, size_t cap, const char *what)
{
    kn_npy_skip_ws(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
        return kn_npy_bad(lx, what);
    char quote = *lx->p++;
    size_t n = 0;
    while (lx->p < lx->end && *lx->p != quote) {
        if (*lx->p == '\\' || *lx->p == '\n' || *lx->p == '\0')
            return kn_npy_bad(lx, "unexpected character in a string");
        if (n + 1 >= cap)
            return kn_npy_bad(lx, "string too long");
        buf[n++] = *lx->p++;
    }
    if (lx->p >= lx->end)
        return kn_npy_bad(lx, "unterminated string");
    lx->p++;
    buf[n] = '\0';
    return KN_OK;
}

static kn_status kn_npy_bool(kn_npy_lex *lx, bool *out)
{
    kn_npy_skip_ws(lx);
    size_t left = (size_t)(lx->end - lx->p);
    if (left >= 4 && memcmp(lx->p, "True", 4) == 0) {
        lx->p += 4;
        *out = true;
    } else if (left >= 5 && memcmp(lx->p, "False", 5) == 0) {
        lx->p += 5;
        *out = false;
    } else {
        return kn_npy_bad(lx, "'fortran_order' must be True or False");
    }
    return KN_OK;
}

/* Parse one non-negative dimension; an optional Python 2 'L' suffix is allowed. */
static kn_status kn_npy_dim(kn_npy_lex *lx, int64_t *out)
{
    kn_npy_skip_ws(lx);
    bool negative = false;
    if (lx->p < lx->end && (*lx->p == '-' || *lx->p == '+')) {
        negative = *lx->p == '-';
        lx->p++;
    }
    if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9')
        return kn_npy_bad(lx, "'shape' must be a tuple of integers");
    uint64_t v = 0;
    bool big = false;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        unsigned d = (unsigned)(*lx->p - '0');
        if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10)
            big = true;
        else
            v = v * 10 + d;
        lx->p++;
    }
    if (lx->p < lx->end && (*lx->p == 'L' || *lx->p == 'l'))
        lx->p++;
    if (negative && (v != 0 || big))
        return kn_error_set(lx->err, KN_ERR_PARSE, "%s: negative dimension in .npy shape",
                            lx->path);
    if (big)
        return kn_error_set(lx->err, KN_ERR_OVERFLOW,
                            "%s: dimension in .npy shape does not fit in 64 bits", lx->path);
    *out = (int64_t)v;
    return KN_OK;
}

static kn_status kn_npy_shape(kn_npy_lex *lx, kn_shape *shape)
{
    kn_status st = kn_npy_expect(lx, '(', "'shape' must be a tuple");
    if (st)
        return st;
    shape->rank = 0;
    int count = 0;
    for (;;) {
        kn_npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ')') {
            lx->p++;
            break;
        }
        int64_t d = 0;
        if ((st = kn_npy_dim(lx, &d)))
            return st;
        if (count < KN_MAX_RANK)
            shape->dims[count] = d;
        count++;
        kn_npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            continue;
        }
        if ((st = kn_npy_expect(lx, ')', "unterminated 'shape' tuple")))
            return st;
        if (count == 1)  /* "(3)" is an int in Python, not a tuple */
            return kn_npy_bad(lx, "'shape' must be a tuple");
        break;
    }
    if (count > KN_MAX_RANK)
        return kn_error_set(lx->err, KN_ERR_UNSUPPORTED,
                            "%s: rank %d exceeds kiln's maximum rank of %d", lx->path, count,
                            KN_MAX_RANK);
    shape->rank = count;
    return KN_OK;
}

/* Parse the header dict into dtype, fortran flag and shape. */
static kn_status kn_npy_parse_header(const char *path, const char *text, size_t len,
                                     kn_dtype *dtype, kn_shape *shape, kn_error *err)
{
    kn_npy_lex lx = {text, text + len, path, err};
    bool have_descr = false, have_fortran = false, have_shape = false;
    bool fortran = false;
    char descr[32];
    kn_status st = kn_npy_expect(&lx, '{', "expected a dict");
    if (st)
        return st;
    for (;;) {
        kn_npy_skip_ws(&lx);
        if (lx.p < lx.end && *lx.p == '}') {
            lx.p++;
            break;
        }
        char key[32];
        if ((st = kn_npy_string(&lx, key, sizeof key, "expected a quoted key")))
            return st;
        if ((st = kn_npy_expect(&lx, ':', "expected ':' after a key")))
            return st;
        if (strcmp(key, "descr") == 0 && !have_descr) {
            kn_npy_skip_ws(&lx);
            if (lx.p < lx.end && (*lx.p == '[' || *lx.p == '('))
                return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                    "%s: structured dtypes are not supported", path);
            if ((st = kn_npy_string(&lx, descr, sizeof descr, "'descr' must be a string")))
                return st;
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if ((st = kn_npy_bool(&lx, &fortran)))
                return st;
            have_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if ((st = kn_npy_shape(&lx, shape)))
                return st;
            have_shape = true;
        } else if (strcmp(key, "descr") == 0 || strcmp(key, "fortran_order") == 0 ||
                   strcmp(key, "shape") == 0) {
            return kn_error_set(err, KN_ERR_PARSE, "%s: malformed .npy header: duplicate key '%s'",
                                path, key);
        } else {
            return kn_error_set(err, KN_ERR_PARSE, "%s: malformed .npy header: unknown key '%s'",
                                path, key);
        }
        kn_npy_skip_ws(&lx);
        if (lx.p < lx.end && *lx.p == ',') {
            lx.p++;
            continue;
        }
        if ((st = kn_npy_expect(&lx, '}', "expected ',' or '}' after a value")))
            return st;
        break;
    }
    kn_npy_skip_ws(&lx);
    if (lx.p != lx.end)
        return kn_npy_bad(&lx, "unexpected text after the dict");
    if (!have_descr || !have_fortran || !have_shape)
        return kn_error_set(err, KN_ERR_PARSE, "%s: malformed .npy header: missing key '%s'", path,
                            !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if ((st = kn_npy_parse_descr(path, descr, dtype, err)))
        return st;
    if (fortran) {
        /* Fortran order equals C order when at most one dimension exceeds 1. */
        int big = 0;
        for (int i = 0; i < shape->rank; i++)
            big += shape->dims[i] > 1;
        if (big > 1)
            return kn_error_set(err, KN_ERR_UNSUPPORTED,
                                "%s: Fortran-order arrays are not supported "
                                "(save with numpy.ascontiguousarray)", path);
    }
    return KN_OK;
}

/* ---------------------------------------------------------------- reader */

/* Read exactly n bytes; false on a short read (errno-free EOF or error). */
static bool kn_npy_fread(FILE *f, void *buf, size_t n)
{
    return n == 0 || fread(buf, 1, n, f) == n;
}

static kn_status kn_npy_read_error(FILE *f, const char *path, const char *what, kn_error *err)
{
    if (ferror(f))
        return kn_error_set(err, KN_ERR_IO, "%s: read error in %s: %s", path, what,
                            strerror(errno));
    return kn_error_set(err, KN_ERR_PARSE, "%s: truncated .npy file (ends inside the %s)", path,
                        what);
}

static kn_status kn_npy_read_file(FILE *f, const char *path, kn_tensor *out, kn_error *err)
{
    unsigned char pre[8];
    size_t got = fread(pre, 1, sizeof pre, f);
    if (got < sizeof pre) {
        if (ferror(f))
            return kn_error_set(err, KN_ERR_IO, "%s: read error: %s", path, strerror(errno));
        if (got == 0)
            return kn_error_set(err, KN_ERR_PARSE, "%s: not a .npy file (the file is empty)", path);
        if (memcmp(pre, kn_npy_magic, got < 6 ? got : 6) != 0)
            return kn_error_set(err, KN_ERR_PARSE, "%s: not a .npy file (bad magic)", path);
        return kn_error_set(err, KN_ERR_PARSE, "%s: truncated .npy file (ends inside the preamble)",
                            path);
    }
    if (memcmp(pre, kn_npy_magic, sizeof kn_npy_magic) != 0)
        return kn_error_set(err, KN_ERR_PARSE, "%s: not a .npy file (bad magic)", path);
    unsigned major = pre[6], minor = pre[7];
    size_t header_len;
    size_t prefix;
    if (major == 1) {
        unsigned char b[2];
        if (!kn_npy_fread(f, b, 2))
            return kn_npy_read_error(f, path, "header length", err);
        header_len = (size_t)b[0] | (size_t)b[1] << 8;
        prefix = 10;
    } else if (major == 2 || major == 3) {
        unsigned char b[4];
        if (!kn_npy_fread(f, b, 4))
            return kn_npy_read_error(f, path, "header length", err);
        uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        if (v > KN_NPY_MAX_HEADER)
            return kn_error_set(err, KN_ERR_PARSE,
                                "%s: .npy header length %lu exceeds the limit of %lu bytes", path,
                                (unsigned long)v, (unsigned long)KN_NPY_MAX_HEADER);
        header_len = v;
        prefix = 12;
    } else {
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "%s: unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)",
                            path, major, minor);
    }
    if (minor != 0)
        return kn_error_set(err, KN_ERR_UNSUPPORTED,
                            "%s: unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)",
                            path, major, minor);
    if (header_len == 0)
        return kn_error_set(err, KN_ERR_PARSE, "%s: .npy header length is zero", path);

    char *header = malloc(header_len);
    if (!header)
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory for the .npy header", path);
    if (!kn_npy_fread(f, header, header_len)) {
        free(header);
        return kn_npy_read_error(f, path, "header", err);
    }
    if (header[header_len - 1] != '\n') {
        free(header);
        return kn_error_set(err, KN_ERR_PARSE,
                            "%s: malformed .npy header: the %zu bytes its length field gives do not end "
                            "with a newline, as NumPy's padded headers do (a wrong length would shift "
                            "the data)", path, header_len);
    }
    if ((prefix + header_len) % KN_NPY_ALIGN != 0) {
        free(header);
        return kn_error_set(err, KN_ERR_PARSE,
                            "%s: malformed .npy header: its length field (%zu) puts the data at byte "
                            "%zu, not on a %d-byte boundary as NumPy aligns it (a wrong length would "
                            "shift the data)", path, header_len, prefix + header_len, KN_NPY_ALIGN);
    }
    if (memchr(header, '\0', header_len)) {
        free(header);
        return kn_error_set(err, KN_ERR_PARSE, "%s: malformed .npy header: contains a NUL byte",
                            path);
    }
    kn_tensor t = {0};
    kn_status st = kn_npy_parse_header(path, header, header_len, &t.dtype, &t.shape, err);
    free(header);
    if (st)
        return st;

    size_t nbytes;
    if (kn_tensor_nbytes(t.dtype, &t.shape, &nbytes) != KN_OK) {
        char buf[160];
        return kn_error_set(err, KN_ERR_OVERFLOW, "%s: .npy shape %s of %s is too large", path,
                            kn_shape_str(&t.shape, buf, sizeof buf), kn_dtype_name(t.dtype));
    }

    /* Compare with the file size before allocating, when the size is known. */
    struct stat sb;
    size_t data_start = prefix + header_len;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        size_t fsize = (size_t)sb.st_size;
        size_t have = fsize > data_start ? fsize - data_start : 0;
        if (have < nbytes)
            return kn_error_set(err, KN_ERR_PARSE,
                                "%s: truncated .npy file: the header promises %zu data bytes, "
                                "the file holds %zu", path, nbytes, have);
    }

    t.data = malloc(nbytes ? nbytes : 1);
    if (!t.data)
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory for %zu bytes of .npy data",
                            path, nbytes);
    if (!kn_npy_fread(f, t.data, nbytes)) {
        free(t.data);
        return kn_npy_read_error(f, path, "data", err);
    }
    if (t.dtype == KN_BOOL) {
        unsigned char *b = t.data;
        for (size_t i = 0; i < nbytes; i++)
            b[i] = b[i] != 0;
    }
    *out = t;
    return KN_OK;
}

kn_status kn_npy_read(const char *path, kn_tensor *out, kn_error *err)
{
    if (!path || !out)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return kn_error_set(err, KN_ERR_IO, "%s: is a directory, not a .npy file", path);
    }
    kn_status st = kn_npy_read_file(f, path, out, err);
    fclose(f);
    return st;
}

void kn_tensor_free_data(kn_tensor *tensor)
{
    if (!tensor)
        return;
    free(tensor->data);
    tensor->data = NULL;
}

/* ---------------------------------------------------------------- writer */

/* Build the padded version 1.0 preamble + header into buf (cap >= 256); returns its length. */
static size_t kn_npy_build_header(const kn_tensor *t, const char *code, char *buf, size_t cap)
{
    char dict[400];
    int n = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     kn_dtype_size(t->dtype) > 1 ? '<' : '|', code);
    for (int i = 0; i < t->shape.rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "",
                      (long long)t->shape.dims[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->shape.rank == 1 ? "," : "");
    /* 10 bytes of preamble + dict + padding + '\n' is a multiple of 64. */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap)
        return 0;
    size_t hlen = total - 10;
    memcpy(buf, kn_npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

kn_status kn_npy_write(const char *path, const kn_tensor *tensor, kn_error *err)
{
    if (!path || !tensor)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_npy_write: NULL argument");
    const char *code = kn_npy_code(tensor->dtype);
    if (!code)
        return kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: cannot write dtype %s as .npy", path,
                            kn_dtype_name(tensor->dtype));
    if (tensor->shape.rank < 0 || tensor->shape.rank > KN_MAX_RANK)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: invalid tensor rank %d", path,
                            tensor->shape.rank);
    for (int i = 0; i < tensor->shape.rank; i++)
        if (tensor->shape.dims[i] < 0)
            return kn_error_set(err, KN_ERR_INVALID_ARG,
                                "%s: cannot write a tensor with an unbound dimension %d", path, i);
    size_t nbytes;
    if (kn_tensor_nbytes(tensor->dtype, &tensor->shape, &nbytes) != KN_OK)
        return kn_error_set(err, KN_ERR_OVERFLOW, "%s: tensor is too large", path);
    if (nbytes && !tensor->data)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: tensor has no data", path);

    char header[512];
    size_t hsize = kn_npy_build_header(tensor, code, header, sizeof header);
    if (!hsize)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s: .npy header too long", path);

    const void *chunks[2] = {header, tensor->data};
    size_t sizes[2] = {hsize, nbytes};
    return kn_file_write_atomic(path, chunks, sizes, 2, err);
}
