/*
 * classify.c - classify images with an ONNX classifier through libkiln's
 * public API (kiln.h): load the model, read the input from a NumPy .npy
 * file, compile a session for the input's batch, run it and print the most
 * likely class of each image.
 *
 *   classify MODEL.onnx INPUT.npy
 *
 * INPUT.npy holds float32 images shaped like the model's input, with or
 * without the batch dimension: [N, 1, 28, 28] or [1, 28, 28] for
 * models/mnist_small.onnx. Exit status: 0 on success, 1 on an error (the
 * message names the cause), 2 on bad usage.
 */
#include <stdio.h>

#include <kiln.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.onnx INPUT.npy\n", argv[0]);
        return 2;
    }
    kn_error err = {0};
    kn_model_t *model = NULL;
    kn_session_t *session = NULL;
    kn_tensor input = {0};
    int rc = 1;

    if (kn_model_load(argv[1], &model, &err) != KN_OK || kn_npy_read(argv[2], &input, &err) != KN_OK)
        goto done;
    kn_io_info in;
    if (kn_model_num_inputs(model) != 1 || kn_model_input(model, 0, &in) != KN_OK) {
        fprintf(stderr, "classify: %s: expected a model with one input\n", argv[1]);
        goto done;
    }
    /* one image without its batch dimension: make it a batch of one */
    if (input.shape.rank == in.shape.rank - 1) {
        for (int d = input.shape.rank; d > 0; d--)
            input.shape.dims[d] = input.shape.dims[d - 1];
        input.shape.dims[0] = 1;
        input.shape.rank++;
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
