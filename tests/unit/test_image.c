/*
 * test_image.c - the pictures kiln writes (runtime/image.c): PNG files
 * through libpng read back with libpng, the layout and scaling of sample
 * grids, and the SVG loss chart.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_round_trip),
        cmocka_unit_test(test_grid_layout),
        cmocka_unit_test(test_png_errors),
        cmocka_unit_test(test_svg_curves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
