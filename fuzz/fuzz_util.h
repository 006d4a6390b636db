/*
 * fuzz_util.h - what the libFuzzer harnesses of fuzz/ share.
 *
 * Some of kiln's readers take a path, not a buffer (the .npy reader, the
 * datasets, checkpoints): a harness writes its input to a file in a
 * directory of its own, made once per process under $TMPDIR (the scripts
 * point it into the build folder) and removed at a normal exit.
 */
#ifndef KN_FUZZ_UTIL_H
#define KN_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/** libFuzzer's entry points (defined by each harness; the second one is optional). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/**
 * The harness's scratch directory (created at the first call; aborts when it
 * cannot be made, which is the harness's failure, not kiln's).
 */
const char *kn_fuzz_dir(void);

/** Write `size` bytes to `name` inside kn_fuzz_dir(), replacing it; the full path into path[len]. Aborts on failure. */
void kn_fuzz_write(const char *name, const void *data, size_t size, char *path, size_t len);

/** Remove `name` inside kn_fuzz_dir() when it exists. */
void kn_fuzz_remove(const char *name);

/**
 * Describe a loaded model through the public API (op counts, statistics and
 * the memory plan at batch 1: each runs the inference pipeline) and, when it
 * is small, compile it on the reference backend at batch 1 (one thread), run
 * it once on zero inputs and read every output. "Small" keeps a run of the
 * harness cheap and its memory bounded (the fuzzer's -malloc_limit_mb flags
 * any larger allocation as a finding): at most 2^22 floating-point
 * operations per image and 64 MiB of planned memory. Those are the
 * harness's limits, not kiln's.
 */
void kn_fuzz_exercise_model(const kn_model_t *m);

/**
 * Read a loaded dataset back through the public API: up to 4 samples (the
 * first, the last, two in between) gathered by kn_dataset_batch, then moved
 * by kn_dataset_shift. `sample` is the dataset's sample shape.
 */
void kn_fuzz_read_dataset(const kn_dataset_t *d, const kn_shape *sample);

/** Little-endian u32 at p. */
static inline uint32_t kn_fuzz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/**
 * Split an input holding two files, as the two-file harnesses take it:
 * u32 little-endian length L of the first, its L bytes, then the second
 * (L is clamped to what there is). False when the input is under 4 bytes.
 */
bool kn_fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *na, const uint8_t **b, size_t *nb);

#endif
