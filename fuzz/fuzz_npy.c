/*
 * fuzz_npy.c - libFuzzer harness of the .npy reader (kn_npy_read).
 *
 * The input is a .npy file, written to the harness's scratch directory
 * (the reader takes a path). A tensor that reads is written back with
 * kn_npy_write and read again: the second read must give the same dtype,
 * shape and bytes (bool data is normalised to 0/1 by the first read), or the
 * harness aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "kiln.h"

/* Round trips only for tensors up to this size, to keep a run cheap. */
#define KN_FUZZ_MAX_ROUND_TRIP ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[1024], back[1024];
    kn_fuzz_write("input.npy", data, size, path, sizeof path);
    kn_tensor t;
    kn_error err;
    if (kn_npy_read(path, &t, &err) != KN_OK)
        return 0;
    size_t bytes;
    if (kn_tensor_nbytes(t.dtype, &t.shape, &bytes) != KN_OK) {
        fprintf(stderr, "kn_npy_read returned a tensor whose size overflows\n");
        abort();
    }
    if (bytes <= KN_FUZZ_MAX_ROUND_TRIP) {
        snprintf(back, sizeof back, "%s/back.npy", kn_fuzz_dir());
        kn_tensor u;
        if (kn_npy_write(back, &t, &err) != KN_OK || kn_npy_read(back, &u, &err) != KN_OK) {
            fprintf(stderr, "a tensor kn_npy_read read does not survive kn_npy_write: %s\n", err.message);
            abort();
        }
        if (u.dtype != t.dtype || u.shape.rank != t.shape.rank ||
            memcmp(u.shape.dims, t.shape.dims, sizeof(int64_t) * (size_t)t.shape.rank) != 0 ||
            (bytes > 0 && memcmp(u.data, t.data, bytes) != 0)) {
            fprintf(stderr, "kn_npy_write + kn_npy_read changed the tensor\n");
            abort();
        }
        kn_tensor_free_data(&u);
    }
    kn_tensor_free_data(&t);
    return 0;
}
