/*
 * fuzz_checkpoint.c - libFuzzer harness of the checkpoint loader
 * (kn_trainer_load_checkpoint).
 *
 * One trainer of fuzz/checkpoint.kiln (a small model with kernels, biases,
 * BatchNorm statistics and Adam's moments) is made at start-up; every input
 * is loaded into it as a checkpoint file. A checkpoint ends with a CRC-32 of
 * everything before it, which a mutated input would almost never match: the
 * harness writes the right CRC over the input's last 4 bytes, so that the
 * fuzzer explores the parser behind the check (the check itself is one
 * comparison). A checkpoint that loads must save and load again.
 *
 * The seed is a checkpoint of the same training: scripts/fuzz.sh makes it
 * with `kiln train fuzz/checkpoint.kiln --checkpoint DIR`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "kiln.h"

static kn_trainer_t *kn_fuzz_trainer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kn_train_options opts = {.threads = 1};
    kn_error err;
    if (kn_trainer_create(KN_FUZZ_CHECKPOINT_SPEC, &opts, &kn_fuzz_trainer, &err) != KN_OK) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", err.message);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    if (size >= 4) {
        const uint32_t crc = (uint32_t)crc32_z(0L, copy, size - 4);
        for (int k = 0; k < 4; k++)
            copy[size - 4 + (size_t)k] = (unsigned char)(crc >> (8 * k));
    }
    char path[1024], back[1024];
    kn_fuzz_write("input.kcpt", copy, size, path, sizeof path);
    free(copy);
    int64_t epoch = -1;
    kn_error err;
    if (kn_trainer_load_checkpoint(kn_fuzz_trainer, path, &epoch, &err) != KN_OK)
        return 0;
    snprintf(back, sizeof back, "%s/back.kcpt", kn_fuzz_dir());
    const uint64_t hash = kn_trainer_weights_hash(kn_fuzz_trainer);
    int64_t epoch2 = -1;
    if (kn_trainer_save_checkpoint(kn_fuzz_trainer, epoch, back, &err) != KN_OK ||
        kn_trainer_load_checkpoint(kn_fuzz_trainer, back, &epoch2, &err) != KN_OK || epoch2 != epoch ||
        kn_trainer_weights_hash(kn_fuzz_trainer) != hash) {
        fprintf(stderr, "a checkpoint that loaded does not save and load again the same: %s\n", err.message);
        abort();
    }
    return 0;
}
