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

/* A copy of `src` bound to `batch` and run through the inference pipeline (shapes inferred). */
static kn_status kn_export_bound(const kn_graph *src, int64_t batch, kn_graph *g, kn_error *err)
{
    kn_status st = kn_graph_clone(src, g, err);
    if (st != KN_OK)
        return st;
    kn_pass_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    st = kn_graph_bind_batch(g, batch, err);
    if (st == KN_OK)
        st = kn_passes_run(g, &ctx, err);
    if (st != KN_OK)
        kn_graph_free(g);
    return st;
}

/*
 * Fill in the dtype and shape of every output of `g` that lacks them:
 * inferred at batch 1 and 2, a dimension that follows the batch becomes
 * KN_DIM_BATCH. When shapes cannot be inferred (they depend on run-time
 * inputs) the outputs are left as they are; the exporter then writes them
 * without a shape.
 */
static void kn_export_output_shapes(kn_graph *g)
{
    kn_graph one, two;
    kn_error ignored;
    if (kn_export_bound(g, 1, &one, &ignored) != KN_OK)
        return;
    bool have_two = kn_export_bound(g, 2, &two, &ignored) == KN_OK;
    for (int i = 0; i < g->num_outputs && i < one.num_outputs; i++) {
        kn_value *v = &g->values[g->outputs[i]];
        const kn_value *a = &one.values[one.outputs[i]];
        if (v->shape_known || !a->shape_known)
            continue;
        v->dtype = a->dtype;
        v->shape = a->shape;
        v->shape_known = true;
        if (!have_two || i >= two.num_outputs)
            continue;
        const kn_value *b = &two.values[two.outputs[i]];
        for (int d = 0; d < v->shape.rank && b->shape.rank == a->shape.rank; d++)
            if (a->shape.dims[d] == 1 && b->shape.dims[d] == 2)
                v->shape.dims[d] = KN_DIM_BATCH;
    }
    kn_graph_free(&one);
    if (have_two)
        kn_graph_free(&two);
}

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
    kn_status st = kn_graph_clone(g, &copy, err);
    if (st != KN_OK)
        return st;
    kn_export_output_shapes(&copy);
    st = kn_onnx_export_file(&copy, path, err);
    kn_graph_free(&copy);
    return st;
}
