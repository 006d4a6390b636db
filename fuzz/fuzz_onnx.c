/*
 * fuzz_onnx.c - libFuzzer harness of the ONNX importer.
 *
 * The input is an ONNX file. It is imported from memory
 * (kn_model_load_onnx_buffer); a model that loads is described through the
 * public API (inputs, outputs, op counts) and handed to
 * kn_fuzz_exercise_model, which compiles and runs it when it is small
 * (fuzz_util.h), so that shape inference, constant folding, the other
 * passes, the memory planner and the reference kernels see what the
 * importer lets through.
 */
#include <string.h>

#include "fuzz_util.h"
#include "kiln.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kn_model_t *m = NULL;
    kn_error err;
    if (kn_model_load_onnx_buffer(data, size, "fuzz.onnx", &m, &err) != KN_OK)
        return 0;
    for (int i = 0; i < kn_model_num_inputs(m); i++) {
        kn_io_info info;
        if (kn_model_input(m, i, &info) == KN_OK && info.name)
            (void)strlen(info.name);
    }
    for (int i = 0; i < kn_model_num_outputs(m); i++) {
        kn_io_info info;
        if (kn_model_output(m, i, &info) == KN_OK && info.name)
            (void)strlen(info.name);
    }
    kn_fuzz_exercise_model(m);
    kn_model_free(m);
    return 0;
}
