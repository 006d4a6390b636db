/* util.c - errors, checked size arithmetic, dtype and shape helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include "ir.h"

const char *kn_status_name(kn_status status)
{
    switch (status) {
    case KN_OK: return "ok";
    case KN_ERR_IO: return "I/O error";
    case KN_ERR_PARSE: return "parse error";
    case KN_ERR_UNSUPPORTED: return "unsupported";
    case KN_ERR_SHAPE: return "shape error";
    case KN_ERR_DTYPE: return "dtype error";
    case KN_ERR_INVALID_ARG: return "invalid argument";
    case KN_ERR_NOT_FOUND: return "not found";
    case KN_ERR_NOMEM: return "out of memory";
    case KN_ERR_OVERFLOW: return "size overflow";
    case KN_ERR_GRAPH: return "malformed graph";
    case KN_ERR_BACKEND: return "backend error";
    case KN_ERR_TIMEOUT: return "timed out";
    }
    return "unknown error";
}

kn_status kn_error_set(kn_error *err, kn_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

kn_status kn_node_error(kn_error *err, kn_status status, const kn_node *node, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kn_error_set(err, status, "node '%s' (%s): %s", node->name, kn_op_get(node->op)->name, msg);
}

void kn_error_prefix(kn_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    size_t cap = sizeof err->message, used = strlen(prefix);
    if (used > cap - 3)
        used = cap - 3;
    memcpy(err->message, prefix, used);
    memcpy(err->message + used, ": ", 2);
    used += 2;
    size_t rest = strnlen(old, sizeof old);
    if (rest > cap - 1 - used)
        rest = cap - 1 - used;
    memcpy(err->message + used, old, rest);
    err->message[used + rest] = '\0';
}

bool kn_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

bool kn_size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return false;
    *out = a + b;
    return true;
}

void *kn_xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

char *kn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

const char *kn_dtype_name(kn_dtype dtype)
{
    switch (dtype) {
    case KN_F32: return "float32";
    case KN_U8: return "uint8";
    case KN_I8: return "int8";
    case KN_I32: return "int32";
    case KN_I64: return "int64";
    case KN_BOOL: return "bool";
    case KN_F64: return "float64";
    case KN_DTYPE_UNDEFINED: break;
    }
    return "undefined";
}

size_t kn_dtype_size(kn_dtype dtype)
{
    switch (dtype) {
    case KN_F32: return 4;
    case KN_U8: return 1;
    case KN_I8: return 1;
    case KN_I32: return 4;
    case KN_I64: return 8;
    case KN_BOOL: return 1;
    case KN_F64: return 8;
    case KN_DTYPE_UNDEFINED: break;
    }
    return 0;
}

/* Element counts are kept below 2^62 so that int64 index arithmetic in
 * kernels never overflows either. */
#define KN_MAX_ELEMENTS ((size_t)1 << 62)

kn_status kn_shape_numel(const kn_shape *shape, size_t *count)
{
    /* The product of the non-zero dims is bounded too, even when a 0 makes
     * the tensor empty: kernels multiply partial runs of dims ([0,2^40,2^40]
     * would overflow the product of its last two). */
    size_t n = 1;
    bool empty = false;
    if (shape->rank < 0 || shape->rank > KN_MAX_RANK)
        return KN_ERR_SHAPE;
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0)
            return KN_ERR_SHAPE;
        if (shape->dims[i] == 0) {
            empty = true;
            continue;
        }
        if (!kn_size_mul(n, (size_t)shape->dims[i], &n) || n > KN_MAX_ELEMENTS)
            return KN_ERR_OVERFLOW;
    }
    *count = empty ? 0 : n;
    return KN_OK;
}

kn_status kn_tensor_nbytes(kn_dtype dtype, const kn_shape *shape, size_t *bytes)
{
    size_t n;
    kn_status st = kn_shape_numel(shape, &n);
    if (st != KN_OK)
        return st;
    size_t es = kn_dtype_size(dtype);
    if (es == 0)
        return KN_ERR_DTYPE;
    if (!kn_size_mul(n, es, bytes))
        return KN_ERR_OVERFLOW;
    return KN_OK;
}

const char *kn_shape_str(const kn_shape *s, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, len - used, "[");
    for (int i = 0; i < s->rank && used < len; i++) {
        if (s->dims[i] == KN_DIM_BATCH)
            used += (size_t)snprintf(buf + used, len - used, "%sN", i ? "," : "");
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? "," : "",
                                     (long long)s->dims[i]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

bool kn_shape_equal(const kn_shape *a, const kn_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

kn_status kn_file_write_atomic(const char *path, const void *const *data, const size_t *size, int count,
                               kn_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        kn_status st = kn_error_set(err, KN_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    bool ok = true;
    for (int i = 0; ok && i < count; i++)
        ok = size[i] == 0 || fwrite(data[i], 1, size[i], f) == size[i];
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    kn_status st = KN_OK;
    if (!ok) {
        remove(tmp);
        st = kn_error_set(err, KN_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
    free(tmp);
    return st;
}

const char *kn_bytes_str(size_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%zu B", bytes);
    else
        snprintf(buf, len, "%.*f %s", v < 10.0 ? 2 : v < 100.0 ? 1 : 0, v, units[u]);
    return buf;
}

void kn_buf_put(kn_buf *b, const void *data, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

kn_status kn_collective_run(const kn_collective *c, kn_collective_kind kind, void *buf, size_t count, kn_dtype dtype,
                            kn_error *err)
{
    if (!c || !c->start || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_collective_run: no collective");
    if (c->size <= 1)
        return KN_OK;
    kn_status st = c->start(c->ctx, kind, buf, count, dtype, err);
    return st == KN_OK ? c->wait(c->ctx, buf, err) : st;
}

static int kn_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

kn_status kn_dir_list(const char *dir, bool dirs, char ***names, int *count, kn_error *err)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return kn_error_set(err, KN_ERR_IO, "cannot read directory %s: %s", dir, strerror(errno));
    char **list = NULL;
    int n = 0, cap = 0;
    kn_status st = KN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat sb;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &sb) != 0)
            continue;
        if (dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = cap <= (1 << 24) ? realloc(list, (size_t)cap * sizeof *grown) : NULL;
            if (!grown) {
                st = kn_error_set(err, KN_ERR_NOMEM, "%s: too many entries", dir);
                break;
            }
            list = grown;
        }
        if (!(list[n] = strdup(e->d_name))) {
            st = kn_error_set(err, KN_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != KN_OK) {
        kn_dir_list_free(list, n);
        return st;
    }
    if (n > 1)
        qsort(list, (size_t)n, sizeof *list, kn_strcmp_ptr);
    *names = list;
    *count = n;
    return KN_OK;
}

void kn_dir_list_free(char **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
