/* fuzz_util.c - the harnesses' scratch directory (fuzz_util.h). */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

static char kn_fuzz_path[512];

/* Remove the directory and the files in it (the harnesses write no subdirectories). */
static void kn_fuzz_cleanup(void)
{
    DIR *d = opendir(kn_fuzz_path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", kn_fuzz_path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(kn_fuzz_path);
}

const char *kn_fuzz_dir(void)
{
    if (kn_fuzz_path[0])
        return kn_fuzz_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(kn_fuzz_path, sizeof kn_fuzz_path, "%s/kiln-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(kn_fuzz_path)) {
        perror("kiln fuzz harness: mkdtemp");
        abort();
    }
    atexit(kn_fuzz_cleanup);
    return kn_fuzz_path;
}

void kn_fuzz_write(const char *name, const void *data, size_t size, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", kn_fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("kiln fuzz harness: writing the input");
        abort();
    }
}

void kn_fuzz_remove(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", kn_fuzz_dir(), name);
    unlink(path);
}

bool kn_fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *na, const uint8_t **b, size_t *nb)
{
    if (size < 4)
        return false;
    size_t l = kn_fuzz_le32(data);
    if (l > size - 4)
        l = size - 4;
    *a = data + 4;
    *na = l;
    *b = data + 4 + l;
    *nb = size - 4 - l;
    return true;
}

/* --------------------------------------------------------------- models */

#define KN_FUZZ_MAX_FLOPS ((int64_t)1 << 22)
#define KN_FUZZ_MAX_ARENA ((size_t)64 << 20)
#define KN_FUZZ_MAX_INPUT_BYTES ((size_t)16 << 20)

static void kn_fuzz_count_op(const char *op, int count, void *user)
{
    (void)op;
    *(int64_t *)user += count;
}

/* Compile `m` at batch 1 on "ref" (one thread), run it once on zeros and read every output. */
static void kn_fuzz_run(const kn_model_t *m)
{
    kn_error err;
    kn_options opts = {.backend = "ref", .batch = 1, .threads = 1};
    kn_session_t *s = NULL;
    if (kn_session_create(m, &opts, &s, &err) != KN_OK)
        return;
    const int n = kn_session_num_inputs(s);
    const char **names = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
    kn_tensor *in = calloc((size_t)(n > 0 ? n : 1), sizeof *in);
    size_t total = 0;
    bool ok = names && in;
    for (int i = 0; ok && i < n; i++) {
        kn_io_info info;
        size_t bytes;
        ok = kn_session_input(s, i, &info) == KN_OK && kn_tensor_nbytes(info.dtype, &info.shape, &bytes) == KN_OK &&
             bytes <= KN_FUZZ_MAX_INPUT_BYTES - total;
        if (!ok)
            break;
        total += bytes;
        names[i] = info.name;
        in[i] = (kn_tensor){.dtype = info.dtype, .shape = info.shape, .data = calloc(1, bytes ? bytes : 1)};
        ok = in[i].data != NULL;
    }
    if (ok && kn_session_run(s, n, names, in, &err) == KN_OK) {
        for (int i = 0; i < kn_session_num_outputs(s); i++) {
            kn_tensor out;
            size_t bytes;
            if (kn_session_get_output(s, i, &out, &err) == KN_OK &&
                kn_tensor_nbytes(out.dtype, &out.shape, &bytes) == KN_OK && bytes > 0) {
                /* read the output's first and last bytes: ASan checks they are inside the session's memory */
                volatile unsigned char sink = ((const unsigned char *)out.data)[0];
                sink ^= ((const unsigned char *)out.data)[bytes - 1];
                (void)sink;
            }
        }
    }
    for (int i = 0; in && i < n; i++)
        free(in[i].data);
    free(in);
    free(names);
    kn_session_free(s);
}

void kn_fuzz_exercise_model(const kn_model_t *m)
{
    kn_error err;
    int64_t ops = 0;
    kn_model_op_counts(m, kn_fuzz_count_op, &ops, &err);
    kn_model_stats stats;
    if (kn_model_get_stats(m, &stats, &err) != KN_OK || stats.flops < 0 || stats.flops > KN_FUZZ_MAX_FLOPS)
        return;
    kn_memory_plan plan = {0};
    if (kn_model_memory_plan(m, 1, &plan, &err) == KN_OK && plan.arena_bytes <= KN_FUZZ_MAX_ARENA)
        kn_fuzz_run(m);
    kn_memory_plan_free(&plan);
}

/* ------------------------------------------------------------- datasets */

/* Gather up to 4 samples (the first, the last, and two in between) into a batch and shift it. */
void kn_fuzz_read_dataset(const kn_dataset_t *d, const kn_shape *sample)
{
    const int64_t n = kn_dataset_count(d);
    if (n <= 0)
        return;
    size_t floats;
    if (kn_shape_numel(sample, &floats) != KN_OK || floats > ((size_t)1 << 20))
        return;
    int64_t index[4] = {0, n - 1, n / 2, n / 3};
    float *images = malloc(sizeof(float) * 4 * floats);
    int64_t labels[4];
    kn_tensor ti, tl;
    kn_error err;
    if (images && kn_dataset_batch(d, index, 4, images, labels, &ti, &tl, &err) == KN_OK)
        kn_dataset_shift(&ti, index, 2, 1, 0);
    free(images);
}
