/*
 * image_read.c - pictures kiln reads (kiln.h, "images"): PNG through libpng
 * (kn_png_read, image.c) and JPEG through libjpeg-turbo, and their
 * preprocessing into a model's float32 input: channel conversion, bilinear
 * resize (stretch or shorter side + centre crop), scale and normalisation.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image.h"
#include "ir.h"

/* Largest side kiln decodes (as kn_png_read's limit). */
#define KN_IMAGE_MAX_SIDE 100000

/* libjpeg reports errors through error_exit; warnings (corrupt or truncated data, which it would fill with
 * grey) are errors here too. The message is kept for ours. */
typedef struct kn_jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} kn_jpeg_err;

static void kn_jpeg_error_exit(j_common_ptr cinfo)
{
    kn_jpeg_err *e = (kn_jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void kn_jpeg_emit(j_common_ptr cinfo, int level)
{
    if (level < 0) /* a warning: the data is damaged */
        kn_jpeg_error_exit(cinfo);
}

static kn_status kn_jpeg_read(const char *path, FILE *f, kn_image *image, kn_error *err)
{
    struct jpeg_decompress_struct cinfo;
    kn_jpeg_err jerr;
    uint8_t *volatile data = NULL;
    volatile kn_status st = KN_OK;
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = kn_jpeg_error_exit;
    jerr.mgr.emit_message = kn_jpeg_emit;
    jerr.message[0] = '\0';
    if (setjmp(jerr.jump)) {
        st = kn_error_set(err, KN_ERR_PARSE, "%s: not a readable JPEG: %s", path, jerr.message);
    } else {
        jpeg_create_decompress(&cinfo);
        jpeg_stdio_src(&cinfo, f);
        jpeg_read_header(&cinfo, TRUE);
        if (cinfo.image_width > KN_IMAGE_MAX_SIDE || cinfo.image_height > KN_IMAGE_MAX_SIDE) {
            st = kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: a %ux%u JPEG is larger than kiln reads (%d a side)", path,
                              (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, KN_IMAGE_MAX_SIDE);
        } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
            st = kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: a CMYK JPEG (kiln reads grey and RGB JPEGs)", path);
        } else {
            cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
            jpeg_start_decompress(&cinfo);
            const size_t row = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
            size_t bytes;
            if (!kn_size_mul(row, cinfo.output_height, &bytes) || !(data = malloc(bytes ? bytes : 1))) {
                st = kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory for a %ux%u JPEG", path,
                                  (unsigned)cinfo.output_width, (unsigned)cinfo.output_height);
            } else {
                while (cinfo.output_scanline < cinfo.output_height) {
                    JSAMPROW rows[1] = {data + (size_t)cinfo.output_scanline * row};
                    jpeg_read_scanlines(&cinfo, rows, 1);
                }
                jpeg_finish_decompress(&cinfo);
                image->width = cinfo.output_width;
                image->height = cinfo.output_height;
                image->channels = cinfo.output_components;
            }
        }
    }
    jpeg_destroy_decompress(&cinfo);
    if (st != KN_OK) {
        free(data);
        return st;
    }
    image->pixels = data;
    return KN_OK;
}

kn_status kn_image_read(const char *path, kn_image *image, kn_error *err)
{
    if (!image)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_read: no image to fill");
    memset(image, 0, sizeof *image);
    if (!path)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_read: no path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[8] = {0};
    const size_t got = fread(magic, 1, sizeof magic, f);
    kn_status st;
    if (got == sizeof magic && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0) {
        fclose(f);
        st = kn_png_read(path, &image->pixels, &image->width, &image->height, &image->channels, err);
    } else if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
        rewind(f);
        st = kn_jpeg_read(path, f, image, err);
        fclose(f);
    } else {
        fclose(f);
        st = kn_error_set(err, KN_ERR_UNSUPPORTED, "%s: not a PNG or JPEG file (kiln reads PNG and JPEG images)",
                          path);
    }
    if (st == KN_OK && (image->width < 1 || image->height < 1)) {
        kn_image_free(image);
        st = kn_error_set(err, KN_ERR_PARSE, "%s: an empty picture", path);
    }
    return st;
}

void kn_image_free(kn_image *image)
{
    if (!image)
        return;
    free(image->pixels);
    memset(image, 0, sizeof *image);
}

kn_status kn_image_prep_init(kn_image_prep *prep, const char *preset, int channels, int64_t height, int64_t width,
                             kn_error *err)
{
    if (!prep)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_prep_init: no prep to fill");
    memset(prep, 0, sizeof *prep);
    if ((channels != 1 && channels != 3) || height < 1 || width < 1 || height > KN_IMAGE_MAX_SIDE ||
        width > KN_IMAGE_MAX_SIDE)
        return kn_error_set(err, KN_ERR_INVALID_ARG,
                            "images go into inputs of 1 or 3 channels and 1 to %d pixels a side, not %d x %lld x %lld",
                            KN_IMAGE_MAX_SIDE, channels, (long long)height, (long long)width);
    prep->channels = channels;
    prep->height = height;
    prep->width = width;
    prep->resize = KN_RESIZE_STRETCH;
    prep->scale = 1.0f / 255.0f;
    for (int c = 0; c < 3; c++)
        prep->std[c] = 1.0f;
    if (!preset || strcmp(preset, "default") == 0 || strcmp(preset, "mnist") == 0)
        return KN_OK;
    if (strcmp(preset, "raw") == 0) {
        prep->scale = 1.0f;
        return KN_OK;
    }
    if (strcmp(preset, "imagenet") == 0) {
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        prep->resize = KN_RESIZE_CROP;
        for (int c = 0; c < 3; c++) {
            /* a grey model takes the mean of the three */
            prep->mean[c] = channels == 3 ? mean[c] : (mean[0] + mean[1] + mean[2]) / 3.0f;
            prep->std[c] = channels == 3 ? std[c] : (std[0] + std[1] + std[2]) / 3.0f;
        }
        return KN_OK;
    }
    return kn_error_set(err, KN_ERR_INVALID_ARG, "unknown image preset '%s' (presets: default, mnist, imagenet, raw)",
                        preset);
}

/* One source pixel's value in output channel c (0-255, as float). */
static float kn_image_pixel(const kn_image *img, int out_channels, int64_t y, int64_t x, int c)
{
    const uint8_t *p = img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels;
    const bool colour = img->channels >= 3;
    if (out_channels == 3)
        return colour ? (float)p[c] : (float)p[0];
    return colour ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : (float)p[0];
}

/* Source coordinate of destination index i (half-pixel centres, clamped at 0) split into i0, i1 and weight. */
static void kn_image_axis(int64_t i, double ratio, int64_t in, int64_t *i0, int64_t *i1, float *w)
{
    double s = ratio * ((double)i + 0.5) - 0.5;
    if (s < 0)
        s = 0;
    int64_t lo = (int64_t)s;
    if (lo > in - 1)
        lo = in - 1;
    *i0 = lo;
    *i1 = lo + 1 < in ? lo + 1 : in - 1;
    *w = (float)(s - (double)lo);
}

kn_status kn_image_preprocess(const kn_image *img, const kn_image_prep *prep, float *out, kn_error *err)
{
    if (!img || !img->pixels || img->width < 1 || img->height < 1 || img->channels < 1 || img->channels > 4)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_preprocess: no picture");
    if (!prep || !out || (prep->channels != 1 && prep->channels != 3) || prep->height < 1 || prep->width < 1 ||
        prep->height > KN_IMAGE_MAX_SIDE || prep->width > KN_IMAGE_MAX_SIDE)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_preprocess: bad size or channel count");
    for (int c = 0; c < prep->channels; c++)
        if (!(prep->std[c] != 0.0f) || !isfinite(prep->std[c]) || !isfinite(prep->mean[c]))
            return kn_error_set(err, KN_ERR_INVALID_ARG, "image normalisation: std of channel %d is %g (must be "
                                "a non-zero number)", c, (double)prep->std[c]);
    const int64_t oh = prep->height, ow = prep->width, ih = img->height, iw = img->width;
    /* the size the whole picture is resampled to, and where the output's window lies in it */
    int64_t rh = oh, rw = ow, top = 0, left = 0;
    if (prep->resize == KN_RESIZE_CROP) {
        const double s = fmax((double)oh / (double)ih, (double)ow / (double)iw);
        rh = (int64_t)llround((double)ih * s);
        rw = (int64_t)llround((double)iw * s);
        rh = rh < oh ? oh : rh;
        rw = rw < ow ? ow : rw;
        top = (rh - oh) / 2;
        left = (rw - ow) / 2;
    } else if (prep->resize != KN_RESIZE_STRETCH) {
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_image_preprocess: unknown resize mode %d", (int)prep->resize);
    }
    const double ry = (double)ih / (double)rh, rx = (double)iw / (double)rw;
    const size_t plane = (size_t)oh * (size_t)ow;
    for (int64_t y = 0; y < oh; y++) {
        int64_t y0, y1;
        float wy;
        kn_image_axis(y + top, ry, ih, &y0, &y1, &wy);
        for (int64_t x = 0; x < ow; x++) {
            int64_t x0, x1;
            float wx;
            kn_image_axis(x + left, rx, iw, &x0, &x1, &wx);
            for (int c = 0; c < prep->channels; c++) {
                const float a = kn_image_pixel(img, prep->channels, y0, x0, c);
                const float b = kn_image_pixel(img, prep->channels, y0, x1, c);
                const float d = kn_image_pixel(img, prep->channels, y1, x0, c);
                const float e = kn_image_pixel(img, prep->channels, y1, x1, c);
                const float top_row = a + (b - a) * wx, bottom_row = d + (e - d) * wx;
                float v = top_row + (bottom_row - top_row) * wy;
                if (prep->invert)
                    v = 255.0f - v;
                out[(size_t)c * plane + (size_t)y * (size_t)ow + (size_t)x] =
                    (v * prep->scale - prep->mean[c]) / prep->std[c];
            }
        }
    }
    return KN_OK;
}

kn_status kn_image_load(const char *path, const kn_image_prep *prep, float *out, kn_error *err)
{
    kn_image img;
    kn_status st = kn_image_read(path, &img, err);
    if (st == KN_OK)
        st = kn_image_preprocess(&img, prep, out, err);
    kn_image_free(&img);
    return st;
}
