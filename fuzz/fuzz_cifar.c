/*
 * fuzz_cifar.c - libFuzzer harness of the CIFAR-10 dataset reader (binary
 * batches of 1 + 3 * 32 * 32 byte records: label, then the red, green and
 * blue planes; plain or gzip), through kn_dataset_load as a train block's
 * `dataset = cifar10(dir, split=test)` does.
 *
 * The input is a batch file, written to the harness's scratch directory as
 * test_batch.bin; at most KN_FUZZ_RECORDS records are read (a whole split
 * is 10,000 records, 120 MiB of floats: the fuzzer would spend its time in
 * malloc). A dataset that loads is read back (kn_fuzz_read_dataset).
 */
#include "fuzz_util.h"
#include "kiln.h"
#include "train_internal.h"

#define KN_FUZZ_RECORDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[1024];
    kn_fuzz_write("test_batch.bin", data, size, path, sizeof path);
    kn_spec_dataset sd = {.kind = KN_SPEC_DATA_CIFAR10, .dir = (char *)kn_fuzz_dir(), .num_classes = 10,
                          .image_shape = {.rank = 3, .dims = {3, 32, 32}}};
    kn_dataset_t *d = NULL;
    kn_error err;
    if (kn_dataset_load(&sd, NULL, true, KN_FUZZ_RECORDS, &d, &err) == KN_OK)
        kn_fuzz_read_dataset(d, &sd.image_shape);
    kn_dataset_free(d);
    return 0;
}
