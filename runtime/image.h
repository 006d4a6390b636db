/*
 * image.h - pictures kiln writes: PNG files through libpng (Debian's
 * libpng-dev; kiln has no encoder of its own) and grids of samples, as a
 * GAN's progress and `kiln sample` show them.
 */
#ifndef KN_RUNTIME_IMAGE_H
#define KN_RUNTIME_IMAGE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "kiln.h"

/**
 * Write an 8-bit PNG of `width` x `height` pixels with `channels` 1 (grey),
 * 3 (RGB) or 4 (RGBA), rows top to bottom, channels interleaved, atomically
 * (kn_file_write_atomic: a temporary file renamed into place). KN_ERR_IO naming the path when it
 * cannot be written, KN_ERR_INVALID_ARG for a bad size or channel count.
 */
kn_status kn_png_write(const char *path, const uint8_t *pixels, int64_t width, int64_t height, int channels,
                       kn_error *err);

/**
 * Read an 8-bit or 16-bit PNG into *pixels (malloc'd, 8 bits a channel),
 * with its size and channel count (1, 2, 3 or 4; palettes become RGB).
 * For tests and tools; KN_ERR_PARSE for a file libpng refuses.
 */
kn_status kn_png_read(const char *path, uint8_t **pixels, int64_t *width, int64_t *height, int *channels,
                      kn_error *err);

/**
 * Lay the first rows x cols samples of `samples` (float32 [N, C, H, W] with
 * C 1 or 3, or [N, H, W]) out as one picture with a one-pixel border around
 * and between them, mid-grey, and write it as a PNG. Values map to 0-255
 * from [-1, 1] when any is negative (a tanh output), else from [0, 1] (a
 * sigmoid output), clamped. Fewer samples than cells leave the rest grey.
 */
kn_status kn_png_write_grid(const char *path, const kn_tensor *samples, int rows, int cols, kn_error *err);

/**
 * Write a line chart as SVG, atomically: `nseries` curves of `npoints`
 * values each (values[s * npoints + i] is curve s at x = i + 1; a NaN
 * leaves a gap), named names[s], under `title`, with the x axis labelled
 * `xlabel` and the y range from the data. Text format; no library needed.
 */
kn_status kn_svg_write_curves(const char *path, const char *title, const char *xlabel, const char *const *names,
                              int nseries, const double *values, int npoints, kn_error *err);

/** Write `s` to f with the five XML specials escaped and control characters (but tab) left out. */
void kn_xml_text(FILE *f, const char *s);

#endif
