/*
 * dataset.c - the datasets a train block names (docs/spec-language.md):
 * MNIST-style IDX files (plain or gzip: zlib reads both), CIFAR-10's
 * binary batches, NumPy .npy pairs (x_train.npy + y_train.npy), folders of
 * PNG and JPEG pictures (one per class) and seeded synthetic data. Images become float32 in
 * [0, 1] (pixel / 255, as the Keras examples scale them), so a trained
 * model takes what `kiln run` users give it; labels int64.
 *
 * Every size read from a file is checked against the spec's shape and
 * against overflow before anything is allocated, and a short read is an
 * error naming the file: a truncated download fails cleanly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "image.h"
#include "train_internal.h"

struct kn_dataset {
    int64_t count, classes;
    kn_shape sample;          /* one image, no batch */
    size_t sample_floats;
    float *images;            /* count * sample_floats */
    int64_t *labels;          /* count */
};

/* Most samples a dataset may hold (the pixels must fit in memory; 2^31 keeps every count an int). */
#define KN_DATASET_MAX_SAMPLES ((int64_t)1 << 31)

void kn_dataset_free(kn_dataset_t *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->labels);
    free(d);
}

int64_t kn_dataset_count(const kn_dataset_t *d)
{
    return d ? d->count : 0;
}

/* Allocate the arrays of n samples. */
static kn_status kn_dataset_alloc(kn_dataset_t *d, int64_t n, kn_error *err)
{
    size_t floats;
    if (n < 0 || n > KN_DATASET_MAX_SAMPLES || !kn_size_mul((size_t)n, d->sample_floats, &floats) ||
        floats > SIZE_MAX / sizeof(float))
        return kn_error_set(err, KN_ERR_OVERFLOW, "a dataset of %lld samples is too large", (long long)n);
    d->images = malloc(sizeof(float) * (floats ? floats : 1));
    d->labels = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!d->images || !d->labels)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for %lld samples", (long long)n);
    d->count = n;
    return KN_OK;
}

/*
 * Make room for `need` samples of a dataset whose file claims `total` (need <= total): the arrays start at
 * about 4 MiB of images and grow by doubling, never past `total`, so memory follows what a file really holds,
 * not what its header claims. d->count is left as it is (the samples read so far).
 */
static kn_status kn_dataset_grow(kn_dataset_t *d, int64_t need, int64_t total, int64_t *cap, kn_error *err)
{
    if (need <= *cap)
        return KN_OK;
    const size_t first = ((size_t)4 << 20) / sizeof(float) / (d->sample_floats ? d->sample_floats : 1);
    int64_t c = *cap > 0 ? *cap : first > 0 ? (int64_t)first : 1;
    while (c < need)
        c *= 2;
    if (c > total)
        c = total;
    size_t floats;
    if (c > KN_DATASET_MAX_SAMPLES || !kn_size_mul((size_t)c, d->sample_floats, &floats) ||
        floats > SIZE_MAX / sizeof(float))
        return kn_error_set(err, KN_ERR_OVERFLOW, "a dataset of %lld samples is too large", (long long)total);
    float *images = realloc(d->images, sizeof(float) * (floats ? floats : 1));
    if (images)
        d->images = images;
    int64_t *labels = images ? realloc(d->labels, sizeof(int64_t) * (size_t)c) : NULL;
    if (labels)
        d->labels = labels;
    if (!images || !labels)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for %lld samples", (long long)c);
    *cap = c;
    return KN_OK;
}

/* ------------------------------------------------------------ IDX */

/* Open dir/name, or dir/name.gz; NULL when neither opens (the path tried into path[len]). */
static gzFile kn_idx_open(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    gzFile f = gzopen(path, "rb");
    if (f)
        return f;
    snprintf(path, len, "%s/%s.gz", dir, name);
    return gzopen(path, "rb");
}

static kn_status kn_idx_read(gzFile f, const char *path, void *buf, size_t bytes, kn_error *err)
{
    unsigned char *p = buf;
    while (bytes > 0) { /* gzread takes an unsigned int count */
        unsigned chunk = bytes > (1u << 30) ? (1u << 30) : (unsigned)bytes;
        int n = gzread(f, p, chunk);
        if (n <= 0)
            return kn_error_set(err, KN_ERR_IO, "%s: the file ends early (truncated or not an IDX file)", path);
        p += n;
        bytes -= (size_t)n;
    }
    return KN_OK;
}

/* An IDX header: magic 0x0000 08 ndims, then ndims big-endian u32 dims. */
static kn_status kn_idx_header(gzFile f, const char *path, int ndims, uint32_t *dims, kn_error *err)
{
    unsigned char h[4 + 4 * 4];
    kn_status st = kn_idx_read(f, path, h, 4 + 4 * (size_t)ndims, err);
    if (st != KN_OK)
        return st;
    if (h[0] != 0 || h[1] != 0 || h[2] != 0x08 || h[3] != ndims)
        return kn_error_set(err, KN_ERR_PARSE, "%s: not an IDX file of unsigned bytes with %d dimensions", path, ndims);
    for (int i = 0; i < ndims; i++)
        dims[i] = (uint32_t)h[4 + 4 * i] << 24 | (uint32_t)h[5 + 4 * i] << 16 | (uint32_t)h[6 + 4 * i] << 8 |
                  h[7 + 4 * i];
    return KN_OK;
}

static kn_status kn_dataset_idx(const char *dir, bool test, int64_t limit, kn_dataset_t *d, kn_error *err)
{
    char ipath[1200], lpath[1200];
    const char *prefix = test ? "t10k" : "train";
    char iname[64], lname[64];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", prefix);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", prefix);
    gzFile fi = kn_idx_open(dir, iname, ipath, sizeof ipath), fl = NULL;
    kn_status st = KN_OK;
    unsigned char *pix = NULL, *lab = NULL;
    if (!fi)
        return kn_error_set(err, KN_ERR_IO, "cannot open %s (or %s.gz)", ipath, iname);
    if (!(fl = kn_idx_open(dir, lname, lpath, sizeof lpath))) {
        st = kn_error_set(err, KN_ERR_IO, "cannot open %s/%s (or .gz)", dir, lname);
        goto done;
    }
    uint32_t idims[3] = {0}, ldims[1] = {0};
    if ((st = kn_idx_header(fi, ipath, 3, idims, err)) != KN_OK || (st = kn_idx_header(fl, lpath, 1, ldims, err)))
        goto done;
    const kn_shape *s = &d->sample;
    if (s->rank != 3 || s->dims[0] != 1 || s->dims[1] != idims[1] || s->dims[2] != idims[2]) {
        st = kn_error_set(err, KN_ERR_SHAPE, "%s: images are %ux%u, but the dataset's shape is (1, %lld, %lld)", ipath,
                          idims[1], idims[2], (long long)(s->rank == 3 ? s->dims[1] : 0),
                          (long long)(s->rank == 3 ? s->dims[2] : 0));
        goto done;
    }
    if (idims[0] != ldims[0]) {
        st = kn_error_set(err, KN_ERR_SHAPE, "%s has %u images but %s has %u labels", ipath, idims[0], lpath, ldims[0]);
        goto done;
    }
    int64_t n = idims[0];
    if (limit > 0 && limit < n)
        n = limit;
    if (n > KN_DATASET_MAX_SAMPLES) {
        st = kn_error_set(err, KN_ERR_OVERFLOW, "%s: %lld images are too many (at most %lld)", ipath, (long long)n,
                          (long long)KN_DATASET_MAX_SAMPLES);
        goto done;
    }
    /* The header's count is not trusted with memory (a 30-byte file may claim 2^31 images, and a gzip file's
     * length says nothing): labels are read in blocks, and the arrays grow with the images read. */
    enum { BLOCK = 4096 };
    const size_t px = d->sample_floats;
    pix = malloc(px ? px : 1);
    lab = malloc(BLOCK);
    if (!pix || !lab) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t cap = 0;
    for (int64_t i = 0; i < n;) {
        const int64_t m = n - i < BLOCK ? n - i : BLOCK;
        if ((st = kn_idx_read(fl, lpath, lab, (size_t)m, err)) != KN_OK)
            goto done;
        for (int64_t j = 0; j < m; j++, i++) {
            if ((st = kn_dataset_grow(d, i + 1, n, &cap, err)) != KN_OK ||
                (st = kn_idx_read(fi, ipath, pix, px, err)) != KN_OK)
                goto done;
            for (size_t k = 0; k < px; k++)
                d->images[(size_t)i * px + k] = pix[k] / 255.0f;
            if (lab[j] >= d->classes) {
                st = kn_error_set(err, KN_ERR_PARSE, "%s: label %u of sample %lld is outside 0..%lld", lpath, lab[j],
                                  (long long)i, (long long)(d->classes - 1));
                goto done;
            }
            d->labels[i] = lab[j];
        }
    }
    d->count = n;
done:
    free(pix);
    free(lab);
    if (fi)
        gzclose(fi);
    if (fl)
        gzclose(fl);
    return st;
}

/* ------------------------------------------------------------ .npy pairs */

/* Element i of a numeric tensor read by kn_npy_read, as a double. */
static double kn_npy_at(const kn_tensor *t, size_t i)
{
    switch (t->dtype) {
    case KN_F32: return ((const float *)t->data)[i];
    case KN_F64: return ((const double *)t->data)[i];
    case KN_U8: return ((const uint8_t *)t->data)[i];
    case KN_I8: return ((const int8_t *)t->data)[i];
    case KN_I32: return ((const int32_t *)t->data)[i];
    case KN_I64: return (double)((const int64_t *)t->data)[i];
    case KN_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    default: return 0.0;
    }
}

/*
 * x_<split>.npy holds the images: (N, C, H, W) as the dataset's shape says, (N, H, W) when C is 1, or
 * channels-last (N, H, W, C) as Keras keeps them (transposed here). uint8 pixels are divided by 255;
 * float pixels are taken as they are. y_<split>.npy holds N integer labels ((N,) or (N, 1)).
 */
static kn_status kn_dataset_npy(const char *dir, bool test, int64_t limit, kn_dataset_t *d, kn_error *err)
{
    char xpath[1200], ypath[1200];
    snprintf(xpath, sizeof xpath, "%s/x_%s.npy", dir, test ? "test" : "train");
    snprintf(ypath, sizeof ypath, "%s/y_%s.npy", dir, test ? "test" : "train");
    kn_tensor x = {0}, y = {0};
    kn_status st;
    if ((st = kn_npy_read(xpath, &x, err)) != KN_OK || (st = kn_npy_read(ypath, &y, err)) != KN_OK)
        goto done;
    const kn_shape *s = &d->sample;
    const int64_t c = s->dims[0], n = x.shape.rank > 0 ? x.shape.dims[0] : 0;
    bool exact = x.shape.rank == s->rank + 1, squeezed = false, last = false;
    for (int k = 0; exact && k < s->rank; k++)
        exact = x.shape.dims[k + 1] == s->dims[k];
    if (!exact && s->rank == 3 && x.shape.rank == 3 && c == 1)
        squeezed = x.shape.dims[1] == s->dims[1] && x.shape.dims[2] == s->dims[2];
    if (!exact && !squeezed && s->rank == 3 && x.shape.rank == 4)
        last = x.shape.dims[1] == s->dims[1] && x.shape.dims[2] == s->dims[2] && x.shape.dims[3] == c;
    if (!exact && !squeezed && !last) {
        char got[160], want[160];
        st = kn_error_set(err, KN_ERR_SHAPE,
                          "%s: images of shape %s, but the dataset's samples are %s: expected (N, C, H, W), (N, H, W) "
                          "for one channel or channels-last (N, H, W, C)",
                          xpath, kn_shape_str(&x.shape, got, sizeof got), kn_shape_str(s, want, sizeof want));
        goto done;
    }
    if (x.dtype == KN_BOOL || kn_dtype_size(x.dtype) == 0) {
        st = kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: images of type %s: expected uint8 pixels or floats", xpath,
                          kn_dtype_name(x.dtype));
        goto done;
    }
    if (!(y.shape.rank == 1 || (y.shape.rank == 2 && y.shape.dims[1] == 1)) || y.dtype == KN_F32 ||
        y.dtype == KN_F64) {
        char got[160];
        st = kn_error_set(err, KN_ERR_SHAPE, "%s: labels of type %s and shape %s: expected N integers", ypath,
                          kn_dtype_name(y.dtype), kn_shape_str(&y.shape, got, sizeof got));
        goto done;
    }
    if (y.shape.dims[0] != n) {
        st = kn_error_set(err, KN_ERR_SHAPE, "%s has %lld images but %s has %lld labels", xpath, (long long)n, ypath,
                          (long long)y.shape.dims[0]);
        goto done;
    }
    const int64_t count = limit > 0 && limit < n ? limit : n;
    if ((st = kn_dataset_alloc(d, count, err)) != KN_OK)
        goto done;
    const size_t px = d->sample_floats, plane = last ? px / (size_t)c : px;
    const double scale = x.dtype == KN_U8 ? 1.0 / 255.0 : 1.0;
    for (int64_t i = 0; i < count; i++) {
        float *dst = d->images + (size_t)i * px;
        const size_t base = (size_t)i * px;
        for (size_t k = 0; k < px; k++) {
            /* channels-last source element of destination (channel k / plane, pixel k % plane) */
            const size_t src = last ? base + (k % plane) * (size_t)c + k / plane : base + k;
            dst[k] = (float)(kn_npy_at(&x, src) * scale);
        }
        const double label = kn_npy_at(&y, (size_t)i);
        if (label < 0 || label >= (double)d->classes) {
            st = kn_error_set(err, KN_ERR_PARSE, "%s: label %.0f of sample %lld is outside 0..%lld", ypath, label,
                              (long long)i, (long long)(d->classes - 1));
            goto done;
        }
        d->labels[i] = (int64_t)label;
    }
done:
    kn_tensor_free_data(&x);
    kn_tensor_free_data(&y);
    return st;
}

/* ------------------------------------------------------------ CIFAR-10 */

static kn_status kn_dataset_cifar(const char *dir, bool test, int64_t limit, kn_dataset_t *d, kn_error *err)
{
    enum { REC = 1 + 3 * 32 * 32, PER_FILE = 10000 };
    const kn_shape *s = &d->sample;
    if (s->rank != 3 || s->dims[0] != 3 || s->dims[1] != 32 || s->dims[2] != 32)
        return kn_error_set(err, KN_ERR_SHAPE, "cifar10 images are (3, 32, 32)");
    const int files = test ? 1 : 5;
    int64_t want = (int64_t)files * PER_FILE;
    if (limit > 0 && limit < want)
        want = limit;
    kn_status st = kn_dataset_alloc(d, want, err);
    if (st != KN_OK)
        return st;
    unsigned char rec[REC];
    int64_t n = 0;
    for (int f = 0; f < files && n < want; f++) {
        char path[1200];
        if (test)
            snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        else
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
        gzFile fp = gzopen(path, "rb");
        if (!fp)
            return kn_error_set(err, KN_ERR_IO, "cannot open %s", path);
        for (int r = 0; r < PER_FILE && n < want; r++, n++) {
            if ((st = kn_idx_read(fp, path, rec, REC, err)) != KN_OK) {
                gzclose(fp);
                kn_error_prefix(err, "CIFAR-10 record %d", r);
                return st;
            }
            if (rec[0] >= d->classes) {
                gzclose(fp);
                return kn_error_set(err, KN_ERR_PARSE, "%s: label %u of record %d is outside 0..%lld", path, rec[0], r,
                                    (long long)(d->classes - 1));
            }
            d->labels[n] = rec[0];
            for (int k = 0; k < REC - 1; k++) /* red, green, blue planes: already channels-first */
                d->images[n * (REC - 1) + k] = rec[1 + k] / 255.0f;
        }
        gzclose(fp);
    }
    return KN_OK;
}

/* ------------------------------------------------------------ images */

/*
 * images(dir): the PNG and JPEG files of each class folder (classes and files in byte order of their names),
 * decoded and resized (bilinear, stretched) to the sample shape, pixel / 255 (kn_image_load). With dir/train and
 * dir/test, those are the splits; otherwise each class's last validation_split of its files is the test split.
 */
static kn_status kn_dataset_images(const kn_spec_dataset *sd, const char *dir, bool test, int64_t limit,
                                   kn_dataset_t *d, kn_error *err)
{
    kn_image_prep prep;
    kn_status st = kn_image_prep_init(&prep, "default", (int)d->sample.dims[0], d->sample.dims[1],
                                      d->sample.dims[2], err);
    if (st != KN_OK)
        return st;
    char split[2048];
    kn_spec_images_split_dir(dir, test, split, sizeof split);
    const bool own_dirs = strcmp(split, dir) != 0;
    char **classes;
    int nclasses;
    if ((st = kn_dir_list(split, true, &classes, &nclasses, err)) != KN_OK)
        return st;
    if (nclasses != d->classes) {
        kn_dir_list_free(classes, nclasses);
        return kn_error_set(err, KN_ERR_INVALID_ARG, "%s has %d class folders, but the model was checked against %lld",
                            split, nclasses, (long long)d->classes);
    }
    int64_t cap = 0, n = 0;
    for (int c = 0; c < nclasses && st == KN_OK && (limit <= 0 || n < limit); c++) {
        char sub[4096], **files;
        int nfiles, pictures = 0;
        snprintf(sub, sizeof sub, "%s/%s", split, classes[c]);
        if ((st = kn_dir_list(sub, false, &files, &nfiles, err)) != KN_OK)
            break;
        for (int i = 0; i < nfiles; i++)
            pictures += kn_spec_is_image_name(files[i]);
        /* the split of this class: all its pictures, or the first (train) or last (test) ones */
        int from = 0, to = pictures;
        if (!own_dirs) {
            const int held = (int)floor(sd->validation_split * pictures + 0.5);
            from = test ? pictures - held : 0;
            to = test ? pictures : pictures - held;
        }
        for (int i = 0, k = 0; i < nfiles && st == KN_OK && (limit <= 0 || n < limit); i++) {
            if (!kn_spec_is_image_name(files[i]))
                continue;
            if (k++ < from || k > to)
                continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", sub, files[i]);
            if ((st = kn_dataset_grow(d, n + 1, KN_DATASET_MAX_SAMPLES, &cap, err)) == KN_OK &&
                (st = kn_image_load(path, &prep, d->images + (size_t)n * d->sample_floats, err)) == KN_OK)
                d->labels[n++] = c;
            d->count = n;
        }
        kn_dir_list_free(files, nfiles);
    }
    kn_dir_list_free(classes, nclasses);
    d->count = n;
    return st;
}

/* ------------------------------------------------------------ synthetic */

static float kn_unit(uint64_t *s)
{
    return (float)((double)(kn_splitmix64(s) >> 40) * (1.0 / 16777216.0));
}

/*
 * Seeded samples that can be learnt: each class has a random prototype image, and a sample is half its class's
 * prototype and half uniform noise, labels uniform over the classes. The test split uses another stream.
 */
static kn_status kn_dataset_synthetic(const kn_spec_dataset *sd, bool test, int64_t limit, kn_dataset_t *d,
                                      kn_error *err)
{
    int64_t n = test ? (sd->samples + 4) / 5 : sd->samples;
    if (limit > 0 && limit < n)
        n = limit;
    kn_status st = kn_dataset_alloc(d, n, err);
    if (st != KN_OK)
        return st;
    const size_t px = d->sample_floats;
    size_t pfloats;
    if (!kn_size_mul(px, (size_t)d->classes, &pfloats))
        return kn_error_set(err, KN_ERR_OVERFLOW, "synthetic prototypes too large");
    float *proto = malloc(sizeof(float) * (pfloats ? pfloats : 1));
    if (!proto)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    uint64_t s = sd->seed * 0x2545f4914f6cdd1dull + 1;
    for (size_t k = 0; k < pfloats; k++)
        proto[k] = kn_unit(&s);
    s ^= test ? 0x7f4a7c159e3779b9ull : 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t l = (int64_t)(kn_splitmix64(&s) % (uint64_t)d->classes);
        d->labels[i] = l;
        for (size_t k = 0; k < px; k++)
            d->images[(size_t)i * px + k] = 0.5f * proto[(size_t)l * px + k] + 0.5f * kn_unit(&s);
    }
    free(proto);
    return KN_OK;
}

kn_status kn_dataset_load(const kn_spec_dataset *sd, const char *base_dir, bool test, int64_t limit,
                          kn_dataset_t **out, kn_error *err)
{
    *out = NULL;
    kn_dataset_t *d = calloc(1, sizeof *d);
    if (!d)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory");
    d->sample = sd->image_shape;
    d->classes = sd->num_classes > 0 ? sd->num_classes : 1;
    size_t px;
    kn_status st = kn_shape_numel(&d->sample, &px);
    if (st != KN_OK || px == 0) {
        kn_dataset_free(d);
        return kn_error_set(err, KN_ERR_SHAPE, "the dataset's samples have no elements");
    }
    d->sample_floats = px;
    char dir[1024];
    if (sd->dir && sd->dir[0] != '/' && base_dir && base_dir[0])
        snprintf(dir, sizeof dir, "%s/%s", base_dir, sd->dir);
    else
        snprintf(dir, sizeof dir, "%s", sd->dir ? sd->dir : ".");
    switch (sd->kind) {
    case KN_SPEC_DATA_IDX: st = kn_dataset_idx(dir, test, limit, d, err); break;
    case KN_SPEC_DATA_CIFAR10: st = kn_dataset_cifar(dir, test, limit, d, err); break;
    case KN_SPEC_DATA_NPY: st = kn_dataset_npy(dir, test, limit, d, err); break;
    case KN_SPEC_DATA_IMAGES: st = kn_dataset_images(sd, dir, test, limit, d, err); break;
    default: st = kn_dataset_synthetic(sd, test, limit, d, err); break;
    }
    if (st != KN_OK) {
        kn_dataset_free(d);
        return st;
    }
    if (sd->kind != KN_SPEC_DATA_SYNTHETIC && sd->range_lo < sd->range_hi &&
        (sd->range_lo != 0.0 || sd->range_hi != 1.0)) {
        /* range=(lo, hi): [0, 1] (8-bit pixels / 255) onto [lo, hi]; none given (0, 0): as loaded */
        const float lo = (float)sd->range_lo, span = (float)(sd->range_hi - sd->range_lo);
        const size_t n = (size_t)d->count * d->sample_floats;
        for (size_t i = 0; i < n; i++)
            d->images[i] = lo + span * d->images[i];
    }
    *out = d;
    return KN_OK;
}

void kn_dataset_shift(kn_tensor *images, const int64_t *id, int64_t shift, uint64_t seed, int64_t epoch)
{
    const kn_shape *s = &images->shape;
    if (shift <= 0 || s->rank != 4)
        return;
    const int64_t n = s->dims[0], c = s->dims[1], h = s->dims[2], w = s->dims[3];
    float *x = images->data;
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)epoch * 0xbf58476d1ce4e5b9ull ^ (uint64_t)id[i] *
                     0x94d049bb133111ebull;
        const int64_t dy = (int64_t)(kn_splitmix64(&z) % (uint64_t)(2 * shift + 1)) - shift;
        const int64_t dx = (int64_t)(kn_splitmix64(&z) % (uint64_t)(2 * shift + 1)) - shift;
        const int64_t ady = dy < 0 ? -dy : dy, adx = dx < 0 ? -dx : dx;
        for (int64_t p = 0; p < c; p++) {
            float *img = x + (i * c + p) * h * w;
            /* rows: y takes y - dy (memmove handles the overlap), the rows shifted in are zeros */
            if (ady >= h) {
                memset(img, 0, sizeof(float) * (size_t)(h * w));
                continue;
            }
            if (dy > 0) {
                memmove(img + dy * w, img, sizeof(float) * (size_t)((h - dy) * w));
                memset(img, 0, sizeof(float) * (size_t)(dy * w));
            } else if (dy < 0) {
                memmove(img, img - dy * w, sizeof(float) * (size_t)((h + dy) * w));
                memset(img + (h + dy) * w, 0, sizeof(float) * (size_t)(-dy * w));
            }
            /* then each row: column q takes q - dx */
            for (int64_t y = 0; dx && y < h; y++) {
                float *row = img + y * w;
                if (adx >= w)
                    memset(row, 0, sizeof(float) * (size_t)w);
                else if (dx > 0) {
                    memmove(row + dx, row, sizeof(float) * (size_t)(w - dx));
                    memset(row, 0, sizeof(float) * (size_t)dx);
                } else {
                    memmove(row, row - dx, sizeof(float) * (size_t)(w + dx));
                    memset(row + w + dx, 0, sizeof(float) * (size_t)(-dx));
                }
            }
        }
    }
}

kn_status kn_dataset_batch(const kn_dataset_t *d, const int64_t *index, int64_t n, float *images_buf,
                           int64_t *labels_buf, kn_tensor *images, kn_tensor *labels, kn_error *err)
{
    for (int64_t i = 0; i < n; i++) {
        if (index[i] < 0 || index[i] >= d->count)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "sample %lld is outside the dataset's %lld",
                                (long long)index[i], (long long)d->count);
        memcpy(images_buf + (size_t)i * d->sample_floats, d->images + (size_t)index[i] * d->sample_floats,
               sizeof(float) * d->sample_floats);
        labels_buf[i] = d->labels[index[i]];
    }
    memset(images, 0, sizeof *images);
    images->dtype = KN_F32;
    images->shape.rank = d->sample.rank + 1;
    images->shape.dims[0] = n;
    memcpy(images->shape.dims + 1, d->sample.dims, sizeof(int64_t) * (size_t)d->sample.rank);
    images->data = images_buf;
    memset(labels, 0, sizeof *labels);
    labels->dtype = KN_I64;
    labels->shape.rank = 1;
    labels->shape.dims[0] = n;
    labels->data = labels_buf;
    return KN_OK;
}
