/*
 * test_image.c - the pictures kiln writes (runtime/image.c): PNG files
 * through libpng read back with libpng, the layout and scaling of sample
 * grids, and the SVG loss chart; and the preprocessing of pictures it reads
 * (runtime/image_read.c) on cases worked by hand (tests/image/ checks
 * decoding and preprocessing against PIL and PyTorch).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "image.h"

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/kn_test_image_%ld_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(),
             name);
}

/* A grey and an RGB picture come back from libpng pixel for pixel. */
static void test_png_round_trip(void **state)
{
    (void)state;
    const int channels[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        const int w = 7, h = 5, c = channels[k];
        uint8_t px[7 * 5 * 3];
        for (int i = 0; i < w * h * c; i++)
            px[i] = (uint8_t)(i * 37 + 11);
        char path[512];
        tmp_path(path, sizeof path, "rt.png");
        kn_error err = {0};
        assert_int_equal(kn_png_write(path, px, w, h, c, &err), KN_OK);
        uint8_t *back = NULL;
        int64_t bw, bh;
        int bc;
        assert_int_equal(kn_png_read(path, &back, &bw, &bh, &bc, &err), KN_OK);
        assert_int_equal(bw, w);
        assert_int_equal(bh, h);
        assert_int_equal(bc, c);
        assert_memory_equal(back, px, (size_t)(w * h * c));
        free(back);
        remove(path);
    }
}

/* A grid of [N, 1, H, W] samples: borders mid-grey, [0, 1] to 0-255, cells in row order, the rest grey. */
static void test_grid_layout(void **state)
{
    (void)state;
    enum { N = 3, H = 2, W = 3 };
    float x[N * H * W];
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H * W; i++)
            x[n * H * W + i] = (float)n / 2.0f; /* sample n: all 0, 0.5 or 1 */
    x[1] = 7.0f;                                /* clamped to 255 */
    kn_tensor t = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {N, 1, H, W}}, .data = x};
    char path[512];
    tmp_path(path, sizeof path, "grid.png");
    kn_error err = {0};
    assert_int_equal(kn_png_write_grid(path, &t, 2, 2, &err), KN_OK);
    uint8_t *px;
    int64_t w, h;
    int c;
    assert_int_equal(kn_png_read(path, &px, &w, &h, &c, &err), KN_OK);
    assert_int_equal(w, 2 * (W + 1) + 1);
    assert_int_equal(h, 2 * (H + 1) + 1);
    assert_int_equal(c, 1);
    assert_int_equal(px[0], 128);                 /* the border */
    assert_int_equal(px[1 * w + 1], 0);           /* sample 0, first pixel */
    assert_int_equal(px[1 * w + 2], 255);         /* sample 0's 7.0, clamped */
    assert_int_equal(px[1 * w + 1 + W + 1], 128); /* sample 1: 0.5 -> 128 (rounded) */
    assert_int_equal(px[(1 + H + 1) * w + 1], 255); /* sample 2, second row */
    assert_int_equal(px[(1 + H + 1) * w + 1 + W + 1], 128); /* no fourth sample: grey */
    free(px);
    /* tanh outputs: any negative value maps [-1, 1] to 0-255 */
    x[0] = -1.0f;
    assert_int_equal(kn_png_write_grid(path, &t, 1, 1, &err), KN_OK);
    assert_int_equal(kn_png_read(path, &px, &w, &h, &c, &err), KN_OK);
    assert_int_equal(w, W + 2);
    assert_int_equal(px[1 * w + 1], 0);   /* -1 */
    assert_int_equal(px[1 * w + 3], 128); /* 0 -> 127.5, rounded */
    free(px);
    remove(path);
    /* what is no picture is refused */
    kn_tensor bad = {.dtype = KN_F32, .shape = {.rank = 4, .dims = {1, 2, H, W}}, .data = x};
    assert_int_equal(kn_png_write_grid(path, &bad, 1, 1, &err), KN_ERR_INVALID_ARG);
}

/* A file that is no PNG, and a directory that does not exist, are errors that name the path. */
static void test_png_errors(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "not.png");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("not a png at all", f);
    fclose(f);
    uint8_t *px = NULL;
    int64_t w, h;
    int c;
    kn_error err = {0};
    assert_int_equal(kn_png_read(path, &px, &w, &h, &c, &err), KN_ERR_PARSE);
    assert_non_null(strstr(err.message, path));
    assert_null(px);
    remove(path);
    const uint8_t one = 0;
    assert_int_equal(kn_png_write("/nonexistent-dir/x.png", &one, 1, 1, 1, &err), KN_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.png"));
}

/* The chart: an SVG document with one polyline per curve, names escaped, a NaN left out. */
static void test_svg_curves(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "loss.svg");
    const double v[6] = {1.0, 0.5, 0.25, 2.0, NAN, 3.0};
    const char *names[2] = {"d<loss>", "g & loss"};
    kn_error err = {0};
    assert_int_equal(kn_svg_write_curves(path, "gan", "epoch", names, 2, v, 3, &err), KN_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    remove(path);
    assert_non_null(strstr(text, "<svg "));
    assert_non_null(strstr(text, "</svg>"));
    assert_non_null(strstr(text, "d&lt;loss&gt;"));
    assert_non_null(strstr(text, "g &amp; loss"));
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "<polyline")); p++)
        lines++;
    assert_int_equal(lines, 2);
}

/* Bilinear with half-pixel centres, worked by hand: a 2x2 grey picture stretched to 4x4 samples source rows and
 * columns at -0.25 (clamped to 0), 0.25, 0.75 and 1.25 (clamped to 1). */
static void test_preprocess_by_hand(void **state)
{
    (void)state;
    uint8_t px[4] = {0, 100, 200, 255};
    kn_image img = {.pixels = px, .width = 2, .height = 2, .channels = 1};
    kn_image_prep prep;
    kn_error err = {0};
    assert_int_equal(kn_image_prep_init(&prep, "raw", 1, 4, 4, &err), KN_OK);
    float out[16];
    assert_int_equal(kn_image_preprocess(&img, &prep, out, &err), KN_OK);
    assert_float_equal(out[0], 0.0f, 1e-4);                 /* (0, 0) */
    assert_float_equal(out[1], 25.0f, 1e-4);                /* (0, 0.25) */
    assert_float_equal(out[3], 100.0f, 1e-4);               /* (0, 1) */
    assert_float_equal(out[5], 0.75f * 25.0f + 0.25f * (200.0f + 0.25f * 55.0f), 1e-3); /* (0.25, 0.25) */
    assert_float_equal(out[15], 255.0f, 1e-4);
    /* grey to RGB copies, the default preset divides by 255, invert and normalise */
    assert_int_equal(kn_image_prep_init(&prep, NULL, 3, 2, 2, &err), KN_OK);
    prep.invert = true;
    prep.mean[1] = 0.5f;
    prep.std[2] = 0.5f;
    float rgb[12];
    assert_int_equal(kn_image_preprocess(&img, &prep, rgb, &err), KN_OK);
    assert_float_equal(rgb[0], 1.0f, 1e-6);                 /* R (0, 0): 255 - 0 */
    assert_float_equal(rgb[4 + 1], 155.0f / 255.0f - 0.5f, 1e-6);
    assert_float_equal(rgb[8 + 3], 0.0f, 1e-6);
    assert_float_equal(rgb[8 + 2], 2.0f * 55.0f / 255.0f, 1e-6);
    /* RGB to grey: ITU-R 601 luma; alpha dropped */
    uint8_t rgba[4] = {10, 20, 30, 0};
    kn_image c = {.pixels = rgba, .width = 1, .height = 1, .channels = 4};
    assert_int_equal(kn_image_prep_init(&prep, "raw", 1, 1, 1, &err), KN_OK);
    assert_int_equal(kn_image_preprocess(&c, &prep, out, &err), KN_OK);
    assert_float_equal(out[0], 0.299f * 10 + 0.587f * 20 + 0.114f * 30, 1e-4);
    /* crop: a 2x4 picture into 2x2 keeps the middle columns */
    uint8_t wide[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    kn_image w = {.pixels = wide, .width = 4, .height = 2, .channels = 1};
    assert_int_equal(kn_image_prep_init(&prep, "raw", 1, 2, 2, &err), KN_OK);
    prep.resize = KN_RESIZE_CROP;
    assert_int_equal(kn_image_preprocess(&w, &prep, out, &err), KN_OK);
    assert_float_equal(out[0], 2.0f, 1e-5);
    assert_float_equal(out[3], 7.0f, 1e-5);
}

/* Bad arguments are errors, never crashes. */
static void test_preprocess_errors(void **state)
{
    (void)state;
    kn_image_prep prep;
    kn_error err = {0};
    assert_int_equal(kn_image_prep_init(&prep, "cifar", 3, 32, 32, &err), KN_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "unknown image preset 'cifar'"));
    assert_int_equal(kn_image_prep_init(&prep, NULL, 2, 32, 32, &err), KN_ERR_INVALID_ARG);
    assert_int_equal(kn_image_prep_init(&prep, NULL, 3, 0, 32, &err), KN_ERR_INVALID_ARG);
    assert_int_equal(kn_image_prep_init(&prep, NULL, 1, 4, 4, &err), KN_OK);
    uint8_t px[1] = {7};
    kn_image img = {.pixels = px, .width = 1, .height = 1, .channels = 1};
    float out[16];
    prep.std[0] = 0.0f;
    assert_int_equal(kn_image_preprocess(&img, &prep, out, &err), KN_ERR_INVALID_ARG);
    kn_image empty = {0};
    assert_int_equal(kn_image_preprocess(&empty, &prep, out, &err), KN_ERR_INVALID_ARG);
    kn_image got;
    assert_int_equal(kn_image_read("/nonexistent/kiln/x.png", &got, &err), KN_ERR_IO);
    assert_null(got.pixels);
    char path[512];
    tmp_path(path, sizeof path, "not_a_picture.png");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("GIF89a not a png", f);
    fclose(f);
    assert_int_equal(kn_image_read(path, &got, &err), KN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "not a PNG or JPEG file"));
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_round_trip),
        cmocka_unit_test(test_grid_layout),
        cmocka_unit_test(test_png_errors),
        cmocka_unit_test(test_svg_curves),
        cmocka_unit_test(test_preprocess_by_hand),
        cmocka_unit_test(test_preprocess_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
