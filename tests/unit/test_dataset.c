/*
 * test_dataset.c - the training datasets on files written here: .npy pairs
 * (uint8 channels-last, float (N, H, W), int labels as (N, 1)), CIFAR-10
 * binary records (plain and gzip), IDX pairs (plain and gzip; a header
 * that claims more images than the file holds), the refusals of malformed
 * files, and the shift augmentation (each image a translated copy, repeatable per
 * seed, epoch and sample).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "kiln.h"
#include "train_internal.h"

static char kn_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(kn_dir, sizeof kn_dir, "/tmp/kn_test_dataset_XXXXXX");
    return mkdtemp(kn_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", kn_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_npy(const char *name, kn_dtype dtype, int rank, const int64_t *dims, const void *data)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", kn_dir, name);
    kn_tensor t = {.dtype = dtype, .data = (void *)data};
    t.shape.rank = rank;
    memcpy(t.shape.dims, dims, sizeof(int64_t) * (size_t)rank);
    kn_error err = {0};
    assert_int_equal(kn_npy_write(path, &t, &err), KN_OK);
}

static kn_spec_dataset npy_spec(int64_t c, int64_t h, int64_t w, int64_t classes)
{
    kn_spec_dataset sd = {.kind = KN_SPEC_DATA_NPY, .dir = kn_dir, .num_classes = classes, .shuffle = true};
    sd.image_shape.rank = 3;
    sd.image_shape.dims[0] = c;
    sd.image_shape.dims[1] = h;
    sd.image_shape.dims[2] = w;
    return sd;
}

/* Load the whole split and copy sample i's image and label out through kn_dataset_batch. */
static void sample(const kn_dataset_t *d, int64_t i, size_t floats, float *image, int64_t *label)
{
    kn_tensor images, labels;
    kn_error err = {0};
    assert_int_equal(kn_dataset_batch(d, &i, 1, image, label, &images, &labels, &err), KN_OK);
    assert_int_equal(images.shape.dims[0], 1);
    (void)floats;
}

static void test_npy_channels_last_uint8(void **state)
{
    (void)state;
    /* 3 images of 2x2 pixels with 3 channels, channels last: pixel (y, x) channel c = 100 c + 10 y + x + n */
    uint8_t x[3 * 2 * 2 * 3];
    for (int n = 0; n < 3; n++)
        for (int y = 0; y < 2; y++)
            for (int q = 0; q < 2; q++)
                for (int c = 0; c < 3; c++)
                    x[((n * 2 + y) * 2 + q) * 3 + c] = (uint8_t)(100 * c + 10 * y + q + n);
    const int64_t lab[3] = {2, 0, 1};
    write_npy("x_train.npy", KN_U8, 4, (int64_t[]){3, 2, 2, 3}, x);
    write_npy("y_train.npy", KN_I64, 1, (int64_t[]){3}, lab);
    kn_spec_dataset sd = npy_spec(3, 2, 2, 3);
    kn_dataset_t *d = NULL;
    kn_error err = {0};
    assert_int_equal(kn_dataset_load(&sd, NULL, false, 0, &d, &err), KN_OK);
    assert_int_equal(kn_dataset_count(d), 3);
    for (int n = 0; n < 3; n++) {
        float img[12];
        int64_t label;
        sample(d, n, 12, img, &label);
        assert_int_equal(label, lab[n]);
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) /* channels first now */
                assert_float_equal(img[c * 4 + k], (100 * c + 10 * (k / 2) + k % 2 + n) / 255.0f, 1e-7);
    }
    kn_dataset_free(d);
    /* --limit: the first samples only */
    assert_int_equal(kn_dataset_load(&sd, NULL, false, 2, &d, &err), KN_OK);
    assert_int_equal(kn_dataset_count(d), 2);
    kn_dataset_free(d);
}

static void test_npy_float_squeezed(void **state)
{
    (void)state;
    /* float images (N, H, W) for a one-channel shape, taken as they are; labels int32 (N, 1) */
    const float x[2 * 3 * 3] = {0.5f, 0.25f, 1, 0, 0.125f, 0.75f, 0.3f, 0.6f, 0.9f, 1, 0.5f, 0, 0, 0, 0, 0.1f, 0.2f, 0.4f};
    const int32_t lab[2] = {9, 4};
    write_npy("x_test.npy", KN_F32, 3, (int64_t[]){2, 3, 3}, x);
    write_npy("y_test.npy", KN_I32, 2, (int64_t[]){2, 1}, lab);
    kn_spec_dataset sd = npy_spec(1, 3, 3, 10);
    kn_dataset_t *d = NULL;
    kn_error err = {0};
    assert_int_equal(kn_dataset_load(&sd, NULL, true, 0, &d, &err), KN_OK);
    assert_int_equal(kn_dataset_count(d), 2);
    for (int n = 0; n < 2; n++) {
        float img[9];
        int64_t label;
        sample(d, n, 9, img, &label);
        assert_int_equal(label, lab[n]);
        assert_memory_equal(img, x + 9 * n, sizeof img);
    }
    kn_dataset_free(d);
}

/* Loading must fail with `status` and a message containing `needle`. */
static void expect_refused(const kn_spec_dataset *sd, bool test, kn_status status, const char *needle)
{
    kn_dataset_t *d = (kn_dataset_t *)1;
    kn_error err = {0};
    assert_int_equal(kn_dataset_load(sd, NULL, test, 0, &d, &err), status);
    assert_null(d);
    if (!strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
}

static void test_npy_refusals(void **state)
{
    (void)state;
    const uint8_t x[2 * 4 * 4] = {0};
    const int64_t two[2] = {1, 7}, three[3] = {0, 1, 2};
    const float flab[2] = {0, 1};
    kn_spec_dataset sd = npy_spec(1, 4, 4, 5);
    write_npy("x_train.npy", KN_U8, 3, (int64_t[]){2, 4, 4}, x);
    write_npy("y_train.npy", KN_I64, 1, (int64_t[]){2}, two);
    expect_refused(&sd, false, KN_ERR_PARSE, "label 7 of sample 1 is outside 0..4");
    write_npy("y_train.npy", KN_I64, 1, (int64_t[]){3}, three);
    expect_refused(&sd, false, KN_ERR_SHAPE, "has 2 images but");
    write_npy("y_train.npy", KN_F32, 1, (int64_t[]){2}, flab);
    expect_refused(&sd, false, KN_ERR_SHAPE, "expected N integers");
    write_npy("y_train.npy", KN_I64, 1, (int64_t[]){2}, (int64_t[]){0, 1});
    kn_spec_dataset wrong = npy_spec(1, 5, 5, 5);
    expect_refused(&wrong, false, KN_ERR_SHAPE, "images of shape");
    /* a truncated file and a missing one name the file */
    char path[256];
    snprintf(path, sizeof path, "%s/x_train.npy", kn_dir);
    assert_int_equal(truncate(path, 100), 0);
    kn_dataset_t *d = NULL;
    kn_error err = {0};
    assert_int_not_equal(kn_dataset_load(&sd, NULL, false, 0, &d, &err), KN_OK);
    assert_non_null(strstr(err.message, "x_train.npy"));
    assert_int_not_equal(kn_dataset_load(&sd, NULL, true, 0, &d, &err), KN_OK);
    assert_non_null(strstr(err.message, "x_test.npy"));
}

/* CIFAR-10 records: a label byte, then 1,024 red, 1,024 green and 1,024 blue bytes. */
static void write_cifar(const char *name, int records, bool gz)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", kn_dir, name);
    unsigned char rec[3073];
    gzFile g = gz ? gzopen(path, "wb") : NULL;
    FILE *f = gz ? NULL : fopen(path, "wb");
    assert_true(g || f);
    for (int r = 0; r < records; r++) {
        rec[0] = (unsigned char)(r % 10);
        for (int k = 0; k < 3072; k++)
            rec[1 + k] = (unsigned char)((k * 7 + r) % 256);
        if (gz)
            assert_int_equal(gzwrite(g, rec, sizeof rec), (int)sizeof rec);
        else
            assert_int_equal(fwrite(rec, 1, sizeof rec, f), sizeof rec);
    }
    if (gz)
        gzclose(g);
    else
        fclose(f);
}

static void test_cifar10(void **state)
{
    (void)state;
    kn_spec_dataset sd = {.kind = KN_SPEC_DATA_CIFAR10, .dir = kn_dir, .num_classes = 10, .shuffle = true};
    sd.image_shape.rank = 3;
    sd.image_shape.dims[0] = 3;
    sd.image_shape.dims[1] = sd.image_shape.dims[2] = 32;
    for (int gz = 0; gz < 2; gz++) {
        write_cifar("test_batch.bin", 4, gz);
        kn_dataset_t *d = NULL;
        kn_error err = {0};
        assert_int_equal(kn_dataset_load(&sd, NULL, true, 4, &d, &err), KN_OK);
        assert_int_equal(kn_dataset_count(d), 4);
        static float img[3072];
        for (int r = 0; r < 4; r++) {
            int64_t label;
            sample(d, r, 3072, img, &label);
            assert_int_equal(label, r % 10);
            for (int k = 0; k < 3072; k += 97)
                assert_float_equal(img[k], ((k * 7 + r) % 256) / 255.0f, 1e-7);
        }
        kn_dataset_free(d);
        /* the whole split wants 10,000 records: four are a truncated file */
        expect_refused(&sd, true, KN_ERR_IO, "test_batch.bin");
    }
    expect_refused(&sd, false, KN_ERR_IO, "data_batch_1.bin");
}

/* IDX files: a u32 magic (0x0000 08 ndims), big-endian u32 dims, then bytes. Images [n, h, w], pixel (i * 31 + k)
 * % 256; label i % 10. `claim` is the count the headers give (normally n). */
static void write_idx(int64_t n, uint32_t claim, uint32_t h, uint32_t w, bool gz)
{
    char ipath[256], lpath[256];
    snprintf(ipath, sizeof ipath, "%s/train-images-idx3-ubyte%s", kn_dir, gz ? ".gz" : "");
    snprintf(lpath, sizeof lpath, "%s/train-labels-idx1-ubyte%s", kn_dir, gz ? ".gz" : "");
    /* only one form of each may exist: the reader tries the plain name first */
    char other[256];
    snprintf(other, sizeof other, "%s/train-images-idx3-ubyte%s", kn_dir, gz ? "" : ".gz");
    unlink(other);
    snprintf(other, sizeof other, "%s/train-labels-idx1-ubyte%s", kn_dir, gz ? "" : ".gz");
    unlink(other);
    const unsigned char ih[16] = {0, 0, 8, 3, claim >> 24, claim >> 16 & 255, claim >> 8 & 255, claim & 255,
                                  h >> 24, h >> 16 & 255, h >> 8 & 255, h & 255, w >> 24, w >> 16 & 255, w >> 8 & 255,
                                  w & 255};
    const unsigned char lh[8] = {0, 0, 8, 1, claim >> 24, claim >> 16 & 255, claim >> 8 & 255, claim & 255};
    const size_t px = (size_t)h * w;
    unsigned char *img = malloc((size_t)n * px + 16), *lab = malloc((size_t)n + 8);
    assert_non_null(img);
    assert_non_null(lab);
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    for (int64_t i = 0; i < n; i++) {
        lab[8 + i] = (unsigned char)(i % 10);
        for (size_t k = 0; k < px; k++)
            img[16 + (size_t)i * px + k] = (unsigned char)(((size_t)i * 31 + k) % 256);
    }
    const char *paths[2] = {ipath, lpath};
    const unsigned char *bufs[2] = {img, lab};
    const size_t sizes[2] = {(size_t)n * px + 16, (size_t)n + 8};
    for (int f = 0; f < 2; f++) {
        if (gz) {
            gzFile g = gzopen(paths[f], "wb");
            assert_non_null(g);
            assert_int_equal(gzwrite(g, bufs[f], (unsigned)sizes[f]), (int)sizes[f]);
            gzclose(g);
        } else {
            FILE *fp = fopen(paths[f], "wb");
            assert_non_null(fp);
            assert_int_equal(fwrite(bufs[f], 1, sizes[f], fp), sizes[f]);
            fclose(fp);
        }
    }
    free(img);
    free(lab);
}

static void test_idx(void **state)
{
    (void)state;
    /* 4,100 images of 32x32: the arrays grow three times (1,024 samples first), labels cross a 4,096 block */
    enum { N = 4100, H = 32, W = 32 };
    kn_spec_dataset sd = {.kind = KN_SPEC_DATA_IDX, .dir = kn_dir, .num_classes = 10, .shuffle = true};
    sd.image_shape.rank = 3;
    sd.image_shape.dims[0] = 1;
    sd.image_shape.dims[1] = H;
    sd.image_shape.dims[2] = W;
    static float img[H * W];
    for (int gz = 0; gz < 2; gz++) {
        write_idx(N, N, H, W, gz);
        kn_dataset_t *d = NULL;
        kn_error err = {0};
        assert_int_equal(kn_dataset_load(&sd, NULL, false, 0, &d, &err), KN_OK);
        assert_int_equal(kn_dataset_count(d), N);
        const int64_t check[] = {0, 1, 1023, 1024, 2048, 4095, 4096, N - 1};
        for (size_t c = 0; c < sizeof check / sizeof *check; c++) {
            int64_t label;
            sample(d, check[c], H * W, img, &label);
            assert_int_equal(label, check[c] % 10);
            for (size_t k = 0; k < H * W; k += 61)
                assert_float_equal(img[k], (((size_t)check[c] * 31 + k) % 256) / 255.0f, 1e-7);
        }
        kn_dataset_free(d);
        /* a limit reads the first samples only */
        assert_int_equal(kn_dataset_load(&sd, NULL, false, 5, &d, &err), KN_OK);
        assert_int_equal(kn_dataset_count(d), 5);
        kn_dataset_free(d);
    }
    /* Found with fuzz/fuzz_idx (a hand-made input, before any campaign): headers claiming 2^31 - 1 images of
     * 28x28 (6.7 TB of floats) over a file of 2 made kiln allocate the claimed size before reading (out of
     * memory, or an ASan abort). The arrays now grow with what is read: the file is refused as truncated. */
    sd.image_shape.dims[1] = sd.image_shape.dims[2] = 28;
    for (int gz = 0; gz < 2; gz++) {
        write_idx(2, 0x7fffffffu, 28, 28, gz);
        expect_refused(&sd, false, KN_ERR_IO, "ends early");
    }
    /* 2^32 - 1 claimed: more than a dataset may hold, refused before reading */
    write_idx(2, 0xffffffffu, 28, 28, false);
    expect_refused(&sd, false, KN_ERR_OVERFLOW, "too many");
}

static void test_shift(void **state)
{
    (void)state;
    enum { N = 24, S = 6 };
    static float x[N * S * S], y[N * S * S];
    int64_t id[N];
    for (int n = 0; n < N; n++) {
        id[n] = n;
        for (int k = 0; k < S * S; k++)
            x[n * S * S + k] = (float)(1 + k + 100 * n);
    }
    kn_tensor t = {.dtype = KN_F32, .data = y, .shape = {.rank = 4, .dims = {N, 1, S, S}}};
    memcpy(y, x, sizeof x);
    kn_dataset_shift(&t, id, 2, 7, 3);
    int seen[5][5] = {{0}}, distinct = 0;
    for (int n = 0; n < N; n++) {
        /* find the (dy, dx) that explains the image: y[r][c] = x[r - dy][c - dx], 0 outside */
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                bool match = true;
                for (int r = 0; r < S && match; r++)
                    for (int c = 0; c < S && match; c++) {
                        const int sr = r - dy, sc = c - dx;
                        const float want = sr >= 0 && sr < S && sc >= 0 && sc < S ? x[n * S * S + sr * S + sc] : 0.0f;
                        match = y[n * S * S + r * S + c] == want;
                    }
                if (match) {
                    found = 1;
                    distinct += !seen[dy + 2][dx + 2]++;
                }
            }
        assert_true(found);
    }
    assert_true(distinct >= 4); /* the shifts vary from sample to sample */
    /* the same seed, epoch and samples move the same way; another epoch moves them otherwise */
    static float again[N * S * S];
    memcpy(again, x, sizeof x);
    t.data = again;
    kn_dataset_shift(&t, id, 2, 7, 3);
    assert_memory_equal(again, y, sizeof y);
    memcpy(again, x, sizeof x);
    kn_dataset_shift(&t, id, 2, 7, 4);
    assert_memory_not_equal(again, y, sizeof y);
    /* shift 0 leaves the images alone */
    memcpy(again, x, sizeof x);
    kn_dataset_shift(&t, id, 0, 7, 4);
    assert_memory_equal(again, x, sizeof x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_channels_last_uint8),
        cmocka_unit_test(test_npy_float_squeezed),
        cmocka_unit_test(test_npy_refusals),
        cmocka_unit_test(test_cifar10),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_shift),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
