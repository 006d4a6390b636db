/*
 * train_ckpt.c - checkpoints of a trainer's store (kn_trainer_save_checkpoint; the file read of
 * kn_trainer_load_checkpoint): every variable by name, the step and the epoch, a CRC-32. With moving averages
 * (kn_train_ema) a checkpoint written without them starts them from its weights, and one written with them is
 * read by a training without them leaving them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "runtime_internal.h"
#include "train_internal.h"

/* ------------------------------------------------------------ checkpoints */

/*
 * Format (little-endian): "KILNCKPT", u32 version 1, i64 steps, i64 epoch, u32 count; per variable u32 key length,
 * key, u32 dtype, u32 rank, i64 dims[rank], u64 bytes, data; then u32 CRC-32 of everything before it.
 */
#define KN_CKPT_MAGIC "KILNCKPT"

kn_status kn_trainer_save_checkpoint(const kn_trainer_t *t, int64_t epoch, const char *path, kn_error *err)
{
    if (!t || !path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_trainer_save_checkpoint: trainer and path are required");
    kn_buf b = {0};
    const uint32_t version = 1, count = (uint32_t)t->num_vars;
    kn_buf_put(&b, KN_CKPT_MAGIC, 8);
    kn_buf_put(&b, &version, 4);
    kn_buf_put(&b, &t->steps, 8);
    kn_buf_put(&b, &epoch, 8);
    kn_buf_put(&b, &count, 4);
    const kn_var **v = kn_store_sorted(t);
    if (!v)
        b.failed = true;
    for (int i = 0; v && i < t->num_vars; i++) {
        const uint32_t klen = (uint32_t)strlen(v[i]->key), dt = (uint32_t)v[i]->dtype, rank = (uint32_t)v[i]->shape.rank;
        const uint64_t bytes = v[i]->bytes;
        kn_buf_put(&b, &klen, 4);
        kn_buf_put(&b, v[i]->key, klen);
        kn_buf_put(&b, &dt, 4);
        kn_buf_put(&b, &rank, 4);
        kn_buf_put(&b, v[i]->shape.dims, sizeof(int64_t) * rank);
        kn_buf_put(&b, &bytes, 8);
        kn_buf_put(&b, v[i]->data, v[i]->bytes);
    }
    free(v);
    const uint32_t crc = b.failed ? 0 : (uint32_t)crc32_z(0L, b.p, b.len);
    kn_buf_put(&b, &crc, 4);
    if (b.failed) {
        free(b.p);
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory writing checkpoint %s", path);
    }
    const void *chunks[1] = {b.p};
    const size_t sizes[1] = {b.len};
    kn_status st = kn_file_write_atomic(path, chunks, sizes, 1, err);
    free(b.p);
    return st;
}

/* A reader over a loaded checkpoint; any read past its end sets `short_`. */
typedef struct kn_rd {
    const unsigned char *p;
    size_t len, at;
    bool short_;
} kn_rd;

static bool kn_get(kn_rd *r, void *out, size_t n)
{
    if (r->short_ || n > r->len - r->at) {
        r->short_ = true;
        return false;
    }
    memcpy(out, r->p + r->at, n);
    r->at += n;
    return true;
}

kn_status kn_train_load_file(kn_trainer_t *t, const char *path, int64_t *epoch, kn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "cannot open checkpoint %s", path);
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) { /* the whole file: its size is checked piece by piece below */
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *p = realloc(data, cap);
            if (!p) {
                fclose(f);
                free(data);
                return kn_error_set(err, KN_ERR_NOMEM, "out of memory reading %s", path);
            }
            data = p;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    const bool rerr = ferror(f) != 0;
    fclose(f);
    kn_status st = KN_OK;
    kn_rd r = {data, len, 0, false};
    char magic[8];
    uint32_t version = 0, count = 0, crc = 0;
    int64_t steps = 0, ep = 0;
    if (rerr) {
        st = kn_error_set(err, KN_ERR_IO, "cannot read checkpoint %s", path);
        goto done;
    }
    if (len < 12 || memcmp(data, KN_CKPT_MAGIC, 8) != 0) {
        st = kn_error_set(err, KN_ERR_PARSE, "%s is not a kiln checkpoint", path);
        goto done;
    }
    memcpy(&crc, data + len - 4, 4);
    if ((uint32_t)crc32_z(0L, data, len - 4) != crc) {
        st = kn_error_set(err, KN_ERR_PARSE, "%s: checksum mismatch (truncated or damaged checkpoint)", path);
        goto done;
    }
    r.len = len - 4;
    kn_get(&r, magic, 8);
    kn_get(&r, &version, 4);
    kn_get(&r, &steps, 8);
    kn_get(&r, &ep, 8);
    kn_get(&r, &count, 4);
    if (r.short_ || version != 1 || steps < 0 || ep < 0) {
        st = kn_error_set(err, KN_ERR_PARSE, "%s: unsupported checkpoint (version %u)", path, version);
        goto done;
    }
    /* a checkpoint written without moving averages (ema) may start them: from its weights; one with them,
     * read by a training without them, leaves them out */
    const int averages = t->ema.num ? t->ema.num + 1 : 0;
    const bool no_averages = averages && (int)count == t->num_vars - averages;
    const bool drop_averages = !averages && (int)count > t->num_vars;
    if ((int)count != t->num_vars && !no_averages && !drop_averages) {
        st = kn_error_set(err, KN_ERR_INVALID_ARG, "%s holds %u tensors but this training has %d: another model or train "
                          "block%s", path, count, t->num_vars,
                          averages ? " (or a checkpoint with moving averages of other models)"
                                   : " (a checkpoint with moving averages needs ema on)");
        goto done;
    }
    /* two passes: check everything (each of this training's tensors exactly once), then copy, so a bad file
     * changes nothing */
    bool *seen = calloc((size_t)(t->num_vars > 0 ? t->num_vars : 1), sizeof *seen);
    if (!seen) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int pass = 0; pass < 2 && st == KN_OK; pass++) {
        r.at = 8 + 4 + 8 + 8 + 4;
        uint32_t dropped = 0;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t klen = 0, dt = 0, rank = 0;
            uint64_t bytes = 0;
            char key[600];
            int64_t dims[KN_MAX_RANK] = {0};
            if (!kn_get(&r, &klen, 4) || klen >= sizeof key || !kn_get(&r, key, klen) || !kn_get(&r, &dt, 4) ||
                !kn_get(&r, &rank, 4) || rank > KN_MAX_RANK || !kn_get(&r, dims, sizeof(int64_t) * rank) ||
                !kn_get(&r, &bytes, 8) || bytes > r.len - r.at) {
                st = kn_error_set(err, KN_ERR_PARSE, "%s: tensor %u is cut short", path, i);
                break;
            }
            key[klen] = '\0';
            if (drop_averages && strncmp(key, "ema:", 4) == 0) {
                dropped++;
                r.at += bytes;
                continue;
            }
            kn_var *v = kn_store_find(t, key);
            kn_shape s = {.rank = (int)rank};
            memcpy(s.dims, dims, sizeof(int64_t) * rank);
            if (!v || v->dtype != (kn_dtype)dt || !kn_shape_equal(&v->shape, &s) || v->bytes != bytes ||
                (no_averages && strncmp(key, "ema:", 4) == 0)) {
                st = kn_error_set(err, KN_ERR_INVALID_ARG, "%s: '%s' %s this training's", path, key,
                                  v ? "does not have the shape of" : "is not one of");
                break;
            }
            if (pass == 0 && seen[v - t->vars]) {
                st = kn_error_set(err, KN_ERR_PARSE, "%s: '%s' is in it twice", path, key);
                break;
            }
            seen[v - t->vars] = true;
            if (pass == 1)
                memcpy(v->data, r.p + r.at, bytes);
            r.at += bytes;
        }
        if (st == KN_OK && drop_averages && (int)(count - dropped) != t->num_vars)
            st = kn_error_set(err, KN_ERR_INVALID_ARG, "%s holds %u tensors (%u of them moving averages) but this "
                              "training has %d: another model or train block", path, count, dropped, t->num_vars);
    }
    if (st == KN_OK) {
        t->steps = steps;
        if (epoch)
            *epoch = ep;
        if (no_averages)
            kn_train_ema_reset(&t->ema);
    }
    free(seen);
done:
    free(data);
    return st;
}
