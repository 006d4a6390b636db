/*
 * classify.c - classify pictures with an ONNX (or .kiln) classifier through
 * libkiln's public API (kiln.h): load the model, decode each PNG or JPEG
 * and bring it to the model's input (channels, size, pixel / 255:
 * kn_image_prep_init, kn_image_load), compile a session for the batch, run
 * it and print the most likely class of each picture.
 *
 *   classify MODEL.onnx IMAGE.png [IMAGE.jpg ...]
 *   classify MODEL.onnx INPUT.npy
 *
 * The model's input is [N, C, H, W] with C 1 or 3 (models/mnist_small.onnx:
 * [N, 1, 28, 28], trained on pixel / 255, white digits on black). A .npy
 * file holds float32 images already shaped and scaled like the model's
 * input, with or without the batch dimension. Exit status: 0 on success, 1
 * on an error (the message names the cause), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kiln.h>

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Decode and preprocess the pictures files[0..count) into one float32 batch for input `in`. */
static kn_status load_pictures(const kn_io_info *in, char **files, int count, kn_tensor *batch, kn_error *err)
{
    if (in->shape.rank != 4) {
        err->status = KN_ERR_INVALID_ARG;
        snprintf(err->message, sizeof err->message, "the model's input '%s' is not [N, C, H, W]", in->name);
        return err->status;
    }
    kn_image_prep prep;
    kn_status st = kn_image_prep_init(&prep, "default", (int)in->shape.dims[1], in->shape.dims[2],
                                      in->shape.dims[3], err);
    if (st != KN_OK)
        return st;
    const size_t sample = (size_t)prep.channels * (size_t)prep.height * (size_t)prep.width;
    float *data = malloc(sample * sizeof(float) * (size_t)count);
    if (!data) {
        err->status = KN_ERR_NOMEM;
        snprintf(err->message, sizeof err->message, "out of memory for %d pictures", count);
        return err->status;
    }
    for (int i = 0; i < count && st == KN_OK; i++)
        st = kn_image_load(files[i], &prep, data + (size_t)i * sample, err);
    if (st != KN_OK) {
        free(data);
        return st;
    }
    batch->dtype = KN_F32;
    batch->shape = in->shape;
    batch->shape.dims[0] = count;
    batch->data = data;
    return KN_OK;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.onnx IMAGE.png|IMAGE.jpg [...]\n       %s MODEL.onnx INPUT.npy\n", argv[0],
                argv[0]);
        return 2;
    }
    kn_error err = {0};
    kn_model_t *model = NULL;
    kn_session_t *session = NULL;
    kn_tensor input = {0};
    int rc = 1;

    if (kn_model_load(argv[1], &model, &err) != KN_OK)
        goto done;
    kn_io_info in;
    if (kn_model_num_inputs(model) != 1 || kn_model_input(model, 0, &in) != KN_OK) {
        fprintf(stderr, "classify: %s: expected a model with one input\n", argv[1]);
        goto done;
    }
    if (has_suffix(argv[2], ".npy")) {
        if (argc != 3) {
            fprintf(stderr, "classify: give one .npy file, or pictures\n");
            rc = 2;
            goto done;
        }
        if (kn_npy_read(argv[2], &input, &err) != KN_OK)
            goto done;
        /* one image without its batch dimension: make it a batch of one */
        if (input.shape.rank == in.shape.rank - 1) {
            for (int d = input.shape.rank; d > 0; d--)
                input.shape.dims[d] = input.shape.dims[d - 1];
            input.shape.dims[0] = 1;
            input.shape.rank++;
        }
    } else if (load_pictures(&in, argv + 2, argc - 2, &input, &err) != KN_OK) {
        goto done;
    }
    if (input.shape.rank != in.shape.rank || input.dtype != KN_F32) {
        fprintf(stderr, "classify: %s: expected float32 images of rank %d\n", argv[2], in.shape.rank);
        goto done;
    }

    kn_options options = {0};       /* the reference backend, all cores */
    options.batch = input.shape.dims[0];
    if (kn_session_create(model, &options, &session, &err) != KN_OK)
        goto done;
    const char *names[] = {in.name};
    if (kn_session_run(session, 1, names, &input, &err) != KN_OK)
        goto done;

    kn_tensor out;
    if (kn_session_get_output(session, 0, &out, &err) != KN_OK)
        goto done;
    if (out.dtype != KN_F32 || out.shape.rank != 2) {
        fprintf(stderr, "classify: %s: expected a [batch, classes] float32 output\n", argv[1]);
        goto done;
    }
    const float *scores = out.data;
    int64_t classes = out.shape.dims[1];
    for (int64_t i = 0; i < out.shape.dims[0]; i++) {
        const float *row = scores + i * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (row[c] > row[best])
                best = c;
        printf("image %lld: class %lld (score %.4f)\n", (long long)i, (long long)best, row[best]);
    }
    rc = 0;
done:
    if (rc != 0 && err.status != KN_OK)
        fprintf(stderr, "classify: %s\n", err.message);
    kn_session_free(session);
    kn_model_free(model);
    kn_tensor_free_data(&input);
    return rc;
}
