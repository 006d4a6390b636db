/* pipeline.c - the inference pipeline: an ordered, commented array of passes. */
#include "passes.h"

static const kn_pass kn_inference_pipeline[] = {
    /* Shapes first: every later pass and every backend needs them. Folding
     * in the same sweep makes shape subgraphs constant, which is what lets
     * data-dependent shape rules (Reshape, Slice, ...) see their inputs. */
    {"infer_and_fold", "infer shapes and fold constant subgraphs", kn_pass_infer_and_fold},
    /* Folding leaves constants and nodes nobody reads. */
    {"dce", "remove dead nodes and values", kn_pass_dce},
};

const kn_pass *kn_pipeline_inference(int *count)
{
    *count = (int)(sizeof kn_inference_pipeline / sizeof kn_inference_pipeline[0]);
    return kn_inference_pipeline;
}

kn_status kn_passes_run(kn_graph *g, const kn_pass_ctx *ctx, kn_error *err)
{
    int count;
    const kn_pass *passes = kn_pipeline_inference(&count);
    for (int i = 0; i < count; i++) {
        bool changed = false;
        kn_status st = passes[i].run(g, ctx, &changed, err);
        if (st != KN_OK)
            return st;
        if (ctx && ctx->verify_each && (st = kn_graph_verify(g, true, err)) != KN_OK) {
            kn_error_prefix(err, "after pass %s", passes[i].name);
            return st;
        }
    }
    return KN_OK;
}
