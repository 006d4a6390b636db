/*
 * fuzz_spec.c - libFuzzer harness of the .kiln spec language: lexer,
 * parser, model checker and train-block checker (kn_spec_parse), the
 * diagnostics formatter, and the graph builder.
 *
 * The input is a spec file. Every diagnostic is formatted (it quotes the
 * source line under a caret, so its location must be inside the text).
 * Each model the checker accepts whose weights are small (at most
 * KN_FUZZ_MAX_PARAMS elements; building draws every weight from its
 * initializer) is built into a graph, loaded as a kn_model the way
 * kn_model_load_spec loads one, and handed to kn_fuzz_exercise_model
 * (compiled and run when small, fuzz_util.h). Dictionary: fuzz/spec.dict.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "kiln.h"
#include "runtime_internal.h"
#include "spec.h"

#define KN_FUZZ_MAX_PARAMS ((int64_t)1 << 18)

/* Build model `index` of `spec` and exercise it. */
static void kn_fuzz_model(const kn_spec *spec, int index)
{
    const kn_spec_model *sm = &spec->models[index];
    int64_t params = 0;
    for (int l = 0; l < sm->num_layers; l++) {
        if (sm->layers[l].params < 0 || sm->layers[l].params > KN_FUZZ_MAX_PARAMS - params)
            return;
        params += sm->layers[l].params;
    }
    kn_error err;
    kn_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return;
    kn_graph_init(&m->graph);
    if (kn_spec_build_graph(spec, index, &m->graph, &err) == KN_OK && kn_graph_sort(&m->graph, &err) == KN_OK &&
        kn_graph_verify(&m->graph, false, &err) == KN_OK) {
        kn_graph_infer_output_shapes(&m->graph);
        kn_fuzz_exercise_model(m);
    }
    kn_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kn_spec spec;
    kn_error err;
    kn_status st = kn_spec_parse((const char *)data, size, "fuzz.kiln", &spec, &err);
    char buf[2048];
    for (int i = 0; i < spec.num_diags; i++)
        kn_spec_format_diag(&spec, &spec.diags[i], buf, sizeof buf);
    if (st == KN_OK)
        for (int i = 0; i < spec.num_models; i++)
            if (spec.models[i].ok)
                kn_fuzz_model(&spec, i);
    kn_spec_free(&spec);
    return 0;
}
