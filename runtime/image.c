/* image.c - PNG files through libpng, and sample grids (image.h). */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "ir.h"

/* libpng reports errors by longjmp; its message is kept here for ours. */
typedef struct kn_png_ctx {
    jmp_buf jump;
    char message[160];
} kn_png_ctx;

static void kn_png_error(png_structp png, png_const_charp msg)
{
    kn_png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "libpng error");
    longjmp(ctx->jump, 1);
}

static void kn_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* libpng's output into a growing memory buffer. */
static void kn_png_mem_write(png_structp png, png_bytep data, png_size_t n)
{
    kn_buf_put(png_get_io_ptr(png), data, n);
}

static void kn_png_mem_flush(png_structp png)
{
    (void)png;
}

kn_status kn_png_write(const char *path, const uint8_t *pixels, int64_t width, int64_t height, int channels,
                       kn_error *err)
{
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (!path || !pixels || width < 1 || height < 1 || width > 1000000 || height > 1000000 ||
        (channels != 1 && channels != 3 && channels != 4))
        return kn_error_set(err, KN_ERR_INVALID_ARG, "cannot write a %lldx%lld PNG with %d channels",
                            (long long)width, (long long)height, channels);
    kn_png_ctx ctx = {0};
    kn_buf mem = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, kn_png_error, kn_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    volatile kn_status st = KN_OK;
    if (!png || !info) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory writing %s", path);
    } else if (setjmp(ctx.jump)) {
        st = kn_error_set(err, KN_ERR_IO, "%s: cannot encode the PNG: %s", path, ctx.message);
    } else {
        png_set_write_fn(png, &mem, kn_png_mem_write, kn_png_mem_flush);
        png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, types[channels], PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int64_t y = 0; y < height; y++)
            png_write_row(png, (png_const_bytep)(pixels + (size_t)y * (size_t)width * (size_t)channels));
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (st == KN_OK && mem.failed)
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory writing %s", path);
    if (st == KN_OK) { /* a temporary file renamed into place */
        const void *data = mem.p;
        st = kn_file_write_atomic(path, &data, &mem.len, 1, err);
    }
    free(mem.p);
    return st;
}

kn_status kn_png_read(const char *path, uint8_t **pixels, int64_t *width, int64_t *height, int *channels,
                      kn_error *err)
{
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    kn_png_ctx ctx = {0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, kn_png_error, kn_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile data = NULL;
    volatile kn_status st = KN_OK;
    if (!png || !info) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory reading %s", path);
    } else if (setjmp(ctx.jump)) {
        /* libpng's stdio reader says "Read Error" when the file ends early */
        st = kn_error_set(err, KN_ERR_PARSE, "%s: not a readable PNG: %s", path,
                          strcmp(ctx.message, "Read Error") == 0 ? "the file ends early (truncated)" : ctx.message);
    } else {
        png_init_io(png, f);
        png_set_user_limits(png, 100000, 100000);
        png_read_info(png, info);
        png_set_strip_16(png);
        png_set_packing(png);
        png_set_palette_to_rgb(png);
        png_set_expand_gray_1_2_4_to_8(png);
        png_read_update_info(png, info);
        const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
        const int c = png_get_channels(png, info);
        const size_t row = png_get_rowbytes(png, info);
        size_t bytes;
        if (!kn_size_mul(row, h, &bytes) || !(data = malloc(bytes ? bytes : 1))) {
            st = kn_error_set(err, KN_ERR_NOMEM, "%s: out of memory for a %ux%u PNG", path, (unsigned)w, (unsigned)h);
        } else {
            for (png_uint_32 y = 0; y < h; y++)
                png_read_row(png, (png_bytep)(data + (size_t)y * row), NULL);
            png_read_end(png, NULL);
            *width = w;
            *height = h;
            *channels = c;
        }
    }
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    fclose(f);
    if (st != KN_OK) {
        free(data);
        return st;
    }
    *pixels = data;
    return KN_OK;
}

kn_status kn_png_write_grid(const char *path, const kn_tensor *x, int rows, int cols, kn_error *err)
{
    if (!x || x->dtype != KN_F32 || (x->shape.rank != 3 && x->shape.rank != 4) || rows < 1 || cols < 1 ||
        rows > 64 || cols > 64)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "a sample grid needs float32 [N, C, H, W] or [N, H, W] samples");
    const int rank = x->shape.rank;
    const int64_t n = x->shape.dims[0], c = rank == 4 ? x->shape.dims[1] : 1;
    const int64_t h = x->shape.dims[rank - 2], w = x->shape.dims[rank - 1];
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 4096 || w > 4096)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "samples of %lld channels, %lldx%lld, make no picture",
                            (long long)c, (long long)h, (long long)w);
    const int64_t gw = cols * (w + 1) + 1, gh = rows * (h + 1) + 1;
    const size_t plane = (size_t)(h * w), count = (size_t)n * (size_t)c * plane;
    const float *v = x->data;
    bool tanh_range = false;
    for (size_t i = 0; i < count && !tanh_range; i++)
        tanh_range = v[i] < 0.0f;
    uint8_t *img = malloc((size_t)(gw * gh) * (size_t)c);
    if (!img)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory for a %lldx%lld picture", (long long)gw, (long long)gh);
    memset(img, 128, (size_t)(gw * gh) * (size_t)c);
    for (int64_t k = 0; k < n && k < (int64_t)rows * cols; k++) {
        const int64_t top = 1 + (k / cols) * (h + 1), left = 1 + (k % cols) * (w + 1);
        for (int64_t y = 0; y < h; y++)
            for (int64_t xx = 0; xx < w; xx++)
                for (int64_t ch = 0; ch < c; ch++) {
                    float s = v[(size_t)k * (size_t)c * plane + (size_t)ch * plane + (size_t)(y * w + xx)];
                    s = tanh_range ? (s + 1.0f) * 0.5f : s;
                    s = s != s ? 0.0f : s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
                    img[((top + y) * gw + left + xx) * c + ch] = (uint8_t)(s * 255.0f + 0.5f);
                }
    }
    kn_status st = kn_png_write(path, img, gw, gh, (int)c, err);
    free(img);
    return st;
}

void kn_xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

kn_status kn_svg_write_curves(const char *path, const char *title, const char *xlabel, const char *const *names,
                              int nseries, const double *values, int npoints, kn_error *err)
{
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
    if (!path || nseries < 1 || npoints < 1 || !values)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "a chart needs at least one curve of one point");
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < nseries * npoints; i++)
        if (isfinite(values[i])) {
            lo = values[i] < lo ? values[i] : lo;
            hi = values[i] > hi ? values[i] : hi;
        }
    if (!(lo <= hi))
        lo = 0, hi = 1;
    if (hi - lo < 1e-9)
        hi = lo + 1;
    const double W = 640, H = 400, L = 60, R = 160, T = 40, B = 50, pw = W - L - R, ph = H - T - B;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len); /* the document in memory, then written atomically */
    if (!f)
        return kn_error_set(err, KN_ERR_NOMEM, "out of memory writing %s", path);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%g\" y=\"24\" font-size=\"15\">", L);
    kn_xml_text(f, title);
    fprintf(f, "</text>\n<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", L,
            T, pw, ph);
    for (int k = 0; k <= 4; k++) { /* y ticks */
        const double v = lo + (hi - lo) * k / 4.0, y = T + ph - ph * k / 4.0;
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#eee\"/><text x=\"%g\" y=\"%g\" "
                   "text-anchor=\"end\">%.3g</text>\n", L, y, L + pw, y, L - 6, y + 4, v);
    }
    const int xt = npoints < 10 ? npoints : 10;
    for (int k = 0; k <= xt && npoints > 1; k++) { /* x ticks */
        const int i = (int)((double)(npoints - 1) * k / xt + 0.5);
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%d</text>\n", L + pw * i / (npoints - 1),
                T + ph + 18, i + 1);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">", L + pw / 2, H - 10);
    kn_xml_text(f, xlabel);
    fputs("</text>\n", f);
    for (int s = 0; s < nseries; s++) {
        const char *color = colors[s % 6];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
        for (int i = 0; i < npoints; i++) {
            const double v = values[s * npoints + i];
            if (!isfinite(v))
                continue;
            const double x = npoints > 1 ? L + pw * i / (npoints - 1) : L + pw / 2;
            fprintf(f, "%.1f,%.1f ", x, T + ph - ph * (v - lo) / (hi - lo));
        }
        fprintf(f, "\"/>\n<rect x=\"%g\" y=\"%g\" width=\"12\" height=\"3\" fill=\"%s\"/><text x=\"%g\" y=\"%g\">",
                W - R + 12, T + 10 + 18.0 * s, color, W - R + 30, T + 15 + 18.0 * s);
        kn_xml_text(f, names && names[s] ? names[s] : "");
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    kn_status st = KN_OK;
    if (ferror(f) | (fclose(f) != 0)) {
        st = kn_error_set(err, KN_ERR_NOMEM, "out of memory writing %s", path);
    } else {
        const void *data = text;
        st = kn_file_write_atomic(path, &data, &len, 1, err);
    }
    free(text);
    return st;
}
