/*
 * fuzz_idx.c - libFuzzer harness of the IDX dataset reader (MNIST-style
 * train-images-idx3-ubyte + train-labels-idx1-ubyte, plain or gzip: zlib
 * reads both), through kn_dataset_load as a train block's
 * `dataset = idx(dir)` does.
 *
 * The input holds both files (kn_fuzz_split: u32 little-endian length of
 * the images file, the images file, then the labels file); they are written
 * to the harness's scratch directory. The dataset's sample shape is
 * (1, H, W) with H and W from the images file's header when it has one and
 * H * W is at most 64 Ki (so the fuzzer gets past the shape check),
 * otherwise (1, 28, 28); 10 classes. A dataset that loads is read back
 * through kn_dataset_batch and kn_dataset_shift.
 */
#include <stdlib.h>

#include "fuzz_util.h"
#include "kiln.h"
#include "train_internal.h"

static uint32_t kn_fuzz_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *img, *lab;
    size_t nimg, nlab;
    if (!kn_fuzz_split(data, size, &img, &nimg, &lab, &nlab))
        return 0;
    char path[1024];
    kn_fuzz_write("train-images-idx3-ubyte", img, nimg, path, sizeof path);
    kn_fuzz_write("train-labels-idx1-ubyte", lab, nlab, path, sizeof path);
    kn_spec_dataset sd = {.kind = KN_SPEC_DATA_IDX, .dir = (char *)kn_fuzz_dir(), .num_classes = 10,
                          .image_shape = {.rank = 3, .dims = {1, 28, 28}}};
    if (nimg >= 16) {
        const uint32_t h = kn_fuzz_be32(img + 8), w = kn_fuzz_be32(img + 12);
        if (h > 0 && w > 0 && (uint64_t)h * w <= 65536) {
            sd.image_shape.dims[1] = h;
            sd.image_shape.dims[2] = w;
        }
    }
    kn_dataset_t *d = NULL;
    kn_error err;
    if (kn_dataset_load(&sd, NULL, false, 0, &d, &err) == KN_OK)
        kn_fuzz_read_dataset(d, &sd.image_shape);
    kn_dataset_free(d);
    return 0;
}
