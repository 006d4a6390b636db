/*
 * make_dataset.c - `kn_make_dataset`: write a small dataset of seeded random
 * pixels and labels, for tests that need one kiln can load (tests/train.cmake).
 *
 *   kn_make_dataset idx|cifar10 DIR COUNT [SEED]
 *
 * idx: DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte, 28x28 grayscale;
 * cifar10: DIR/data_batch_{1..5}.bin and DIR/test_batch.bin, COUNT records
 * each (load them with a limit of at most COUNT: the loader expects 10,000
 * per file). Pixels are uniform in 0..255 and labels in 0..9: random pixels make
 * exact ties in max pooling (which real images' saturated strokes produce,
 * and which two backends' roundings may break differently) vanishingly rare.
 * Exit status: 0 written, 2 bad arguments or I/O error.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t kn_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void kn_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write `header` (hlen bytes) and then n bytes drawn by `draw` (pixels: 0..255, labels: 0..9) to dir/name. */
static int kn_write(const char *dir, const char *name, const unsigned char *header, size_t hlen, size_t n,
                    int record, uint64_t *state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (hlen > 0 && fwrite(header, 1, hlen, f) != hlen)) {
        fprintf(stderr, "kn_make_dataset: cannot write %s\n", path);
        if (f)
            fclose(f);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        /* record > 0: a CIFAR record of `record` bytes whose first is the label; record 0: pixels; -1: labels */
        const bool label = record < 0 || (record > 0 && i % (size_t)record == 0);
        const uint64_t r = kn_next(state);
        fputc(label ? (int)(r % 10) : (int)(r & 255), f);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "kn_make_dataset: cannot write %s\n", path);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "idx") && strcmp(argv[1], "cifar10"))) {
        fprintf(stderr, "usage: kn_make_dataset idx|cifar10 DIR COUNT [SEED]\n");
        return 2;
    }
    const long count = strtol(argv[3], NULL, 10);
    if (count < 1 || count > 10000) {
        fprintf(stderr, "kn_make_dataset: COUNT must be 1 to 10000\n");
        return 2;
    }
    uint64_t state = argc == 5 ? strtoull(argv[4], NULL, 10) : 1;
    const size_t n = (size_t)count;
    int rc = 0;
    if (!strcmp(argv[1], "idx")) {
        const char *split[2] = {"train", "t10k"};
        for (int s = 0; s < 2 && rc == 0; s++) {
            unsigned char ih[16] = {0, 0, 8, 3}, lh[8] = {0, 0, 8, 1};
            kn_be32(ih + 4, (uint32_t)n);
            kn_be32(ih + 8, 28);
            kn_be32(ih + 12, 28);
            kn_be32(lh + 4, (uint32_t)n);
            char iname[64], lname[64];
            snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", split[s]);
            snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", split[s]);
            rc = kn_write(argv[2], iname, ih, sizeof ih, n * 28 * 28, 0, &state);
            if (rc == 0)
                rc = kn_write(argv[2], lname, lh, sizeof lh, n, -1, &state);
        }
    } else {
        const char *files[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
        for (int f = 0; f < 6 && rc == 0; f++)
            rc = kn_write(argv[2], files[f], NULL, 0, n * 3073, 3073, &state);
    }
    return rc;
}
