/*
 * export.c - saving a model as ONNX: the public side of
 * frontend/onnx_export.c. A model built in memory (rather than loaded) may
 * not know its output shapes yet; ONNX wants them on the graph outputs, so
 * they are inferred here first (on a copy), as loading does.
 */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "onnx.h"
#include "passes.h"
#include "runtime_internal.h"

kn_status kn_model_save_onnx(const kn_model_t *model, const char *path, kn_error *err)
{
    if (!model || !path || !path[0])
        return kn_error_set(err, KN_ERR_INVALID_ARG, "kn_model_save_onnx: model and path are required");
    const kn_graph *g = &model->graph;
    bool complete = true;
    for (int i = 0; i < g->num_outputs; i++)
        if (g->outputs[i] >= 0 && g->outputs[i] < g->num_values && !g->values[g->outputs[i]].shape_known)
            complete = false;
    if (complete)
        return kn_onnx_export_file(g, path, err);
    kn_graph copy;
    kn_status st = kn_graph_clone_view(g, &copy, err);
    if (st != KN_OK)
        return st;
    kn_graph_infer_output_shapes(&copy);
    st = kn_onnx_export_file(&copy, path, err);
    kn_graph_free(&copy);
    return st;
}
