/*
 * pipeline.c - the inference pipeline (an ordered, commented array of
 * passes) and the pass manager that runs it: fixed-point groups,
 * verification after every pass, graph dumps after a named pass.
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* Fixed-point groups (kn_pass.group). */
enum { KN_ONCE = 0, KN_GROUP_SIMPLIFY = 1 };

static const kn_pass kn_inference_pipeline[] = {
    /* Shapes first: every later pass and every backend needs them. Folding
     * in the same sweep makes shape subgraphs constant, which is what lets
     * data-dependent shape rules (Reshape, Slice, ...) see their inputs. */
    {"infer_and_fold", "infer shapes and fold constant subgraphs", kn_pass_infer_and_fold, KN_ONCE},
    /* Folding leaves constants and nodes nobody reads. */
    {"dce", "remove dead nodes and values", kn_pass_dce, KN_ONCE},

    /* Simplification, repeated until nothing changes: each rewrite can
     * expose another (an Identity between two Transposes hides the pair; a
     * folded BatchNormalization makes two Convs identical for CSE). */
    {"remove_identity", "remove Identity, inference Dropout, all-zero Pad, one-input Concat and whole-tensor Slice",
     kn_pass_remove_identity, KN_GROUP_SIMPLIFY},
    {"cse", "merge identical constants and nodes", kn_pass_cse, KN_GROUP_SIMPLIFY},
    {"cancel_pairs", "cancel or merge Transpose/Transpose and Reshape/Reshape pairs", kn_pass_cancel_pairs,
     KN_GROUP_SIMPLIFY},
    /* Before fold_bn, so a BatchNormalization after MatMul+Add folds into the Gemm. */
    {"matmul_add_to_gemm", "turn MatMul + Add into Gemm", kn_pass_matmul_add_to_gemm, KN_GROUP_SIMPLIFY},
    {"fold_bn", "fold BatchNormalization into Conv, ConvTranspose or Gemm", kn_pass_fold_bn, KN_GROUP_SIMPLIFY},
    /* Rewrites leave the bypassed nodes and old weights behind. */
    {"simplify_dce", "remove what simplification left unused", kn_pass_dce, KN_GROUP_SIMPLIFY},

    /* Fusion last: annotations describe the final producers (a folded
     * BatchNormalization's Conv, a MatMul+Add's Gemm), and no later pass
     * rewrites a node that carries one. Residual first: a Conv that already
     * carries an activation cannot take an Add (it would come after it), and
     * the residual pass fuses the activation after the Add itself. */
    /* After fold_bn (a Conv + BatchNormalization is one Conv by then). */
    {"pool_first", "average before a 1x1 Conv instead of after it", kn_pass_pool_first, KN_ONCE},
    /* Before residual fusion, which turns its sums into post-ops. */
    {"distribute_concat", "move poolings before a channel Concat; split a Conv over one into summed Convs",
     kn_pass_distribute_concat, KN_ONCE},
    {"fuse_swish", "turn Mul(x, Sigmoid(x)) into Swish(x)", kn_pass_fuse_swish, KN_ONCE},
    {"fuse_gelu", "turn x * 0.5 * (1 + Erf(x / sqrt 2)) into Gelu(x)", kn_pass_fuse_gelu, KN_ONCE},
    {"fuse_mish", "turn Mul(x, Tanh(Softplus(x))) into Mish(x)", kn_pass_fuse_mish, KN_ONCE},
    {"fuse_layer_norm", "turn ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div (Mul, Add) into LayerNormalization",
     kn_pass_fuse_layer_norm, KN_ONCE},
    {"fuse_residual", "fuse Conv + Add (+ activation)", kn_pass_fuse_residual, KN_ONCE},
    {"fuse_activation", "fuse activations into Conv, ConvTranspose, Gemm, MatMul, BatchNormalization", kn_pass_fuse_activation,
     KN_ONCE},
    /* Fusion bypasses the Add and activation nodes it absorbs. */
    {"fuse_dce", "remove what fusion left unused", kn_pass_dce, KN_ONCE},
};

#define KN_PIPELINE_LEN ((int)(sizeof kn_inference_pipeline / sizeof kn_inference_pipeline[0]))

/*
 * Training: the forward graph of the models with the loss built on it
 * becomes forward + backward + optimizer updates, then goes through the
 * inference passes that stay valid when weights change every step.
 */
static const kn_pass kn_training_pipeline[] = {
    /* Shapes first: gradient rules build on concrete shapes. Only true
     * constants fold: the graph's weights are variables. */
    {"infer_and_fold", "infer shapes and fold constant subgraphs", kn_pass_infer_and_fold, KN_ONCE},
    {"dce", "remove dead nodes and values", kn_pass_dce, KN_ONCE},
    /* Before autodiff: the gradients are those of the training-mode ops. */
    {"training_mode", "BatchNormalization on batch statistics, Dropout with a seeded mask", kn_pass_training_mode,
     KN_ONCE},
    /* Adjacent: autodiff hands the weights and gradients (value ids) to the optimizer pass. */
    {"autodiff", "the backward graph from the loss to every trained weight", kn_pass_autodiff, KN_ONCE},
    {"optimizer", "one update of each trained weight from its gradient", kn_pass_optimizer, KN_ONCE},
    /* Simplification without BatchNorm folding (statistics change every step). */
    {"remove_identity", "remove Identity, all-zero Pad, one-input Concat and whole-tensor Slice",
     kn_pass_remove_identity, KN_GROUP_SIMPLIFY},
    {"cse", "merge identical constants and nodes", kn_pass_cse, KN_GROUP_SIMPLIFY},
    {"cancel_pairs", "cancel or merge Transpose/Transpose and Reshape/Reshape pairs", kn_pass_cancel_pairs,
     KN_GROUP_SIMPLIFY},
    {"simplify_dce", "remove what simplification left unused", kn_pass_dce, KN_GROUP_SIMPLIFY},
    /* Fusion last, as for inference: a producer takes an activation or residual only when its output has no
     * other reader, so a pre-activation value the backward graph reads is never fused away. */
    {"fuse_residual", "fuse Conv + Add (+ activation)", kn_pass_fuse_residual, KN_ONCE},
    {"fuse_activation", "fuse activations into Conv, ConvTranspose, Gemm, MatMul, BatchNormalization",
     kn_pass_fuse_activation, KN_ONCE},
    {"fuse_dce", "remove what fusion left unused", kn_pass_dce, KN_ONCE},
};

#define KN_TRAIN_PIPELINE_LEN ((int)(sizeof kn_training_pipeline / sizeof kn_training_pipeline[0]))

const kn_pass *kn_pipeline_inference(int *count)
{
    *count = KN_PIPELINE_LEN;
    return kn_inference_pipeline;
}

const kn_pass *kn_pipeline_training(int *count)
{
    *count = KN_TRAIN_PIPELINE_LEN;
    return kn_training_pipeline;
}

void kn_train_pass_free(kn_train_pass *t)
{
    if (!t)
        return;
    free(t->params);
    free(t->grads);
    t->params = t->grads = NULL;
    t->num_params = 0;
}

int kn_graph_live_nodes(const kn_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->num_nodes; i++)
        n += !g->nodes[i].dead;
    return n;
}

/* Check that `name` names a pass of pipeline[0..count). */
static kn_status kn_pipeline_check_name(const kn_pass *pipeline, int count, const char *name, kn_error *err)
{
    char names[1024] = "";
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        if (name && strcmp(name, pipeline[i].name) == 0)
            return KN_OK;
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", pipeline[i].name);
    }
    return kn_error_set(err, KN_ERR_INVALID_ARG, "unknown pass '%s' (passes: %s)", name ? name : "(null)", names);
}

kn_status kn_pipeline_check_pass_name(const char *name, kn_error *err)
{
    return kn_pipeline_check_name(kn_inference_pipeline, KN_PIPELINE_LEN, name, err);
}

static bool kn_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Write the graph after pass `p` (ctx->dump_after) to ctx->dump_path or stdout. */
static kn_status kn_pipeline_dump(const kn_graph *g, const kn_pass *p, int round, const kn_pass_ctx *ctx,
                                  kn_error *err)
{
    const char *path = ctx->dump_path;
    bool dot = path && kn_ends_with(path, ".dot");
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f)
        return kn_error_set(err, KN_ERR_IO, "cannot write the graph after pass %s to %s", p->name, path);
    if (!dot && round > 0)
        fprintf(f, "# graph after pass %s (round %d)\n", p->name, round + 1);
    else if (!dot)
        fprintf(f, "# graph after pass %s\n", p->name);
    if (dot)
        kn_graph_dump_dot(g, f);
    else
        kn_graph_dump(g, f);
    if (path ? fclose(f) != 0 : fflush(f) != 0)
        return kn_error_set(err, KN_ERR_IO, "cannot write the graph after pass %s to %s", p->name,
                            path ? path : "standard output");
    return KN_OK;
}

/* Run one pass, then verify and dump as the context asks. */
static kn_status kn_pipeline_step(kn_graph *g, const kn_pass *p, int round, const kn_pass_ctx *ctx,
                                  bool *changed, kn_error *err)
{
    bool c = false;
    kn_status st = p->run(g, ctx, &c, err);
    if (st != KN_OK) {
        kn_error_prefix(err, "pass %s", p->name);
        return st;
    }
    *changed |= c;
    if (ctx->verify_each && (st = kn_graph_verify(g, true, err)) != KN_OK) {
        kn_error_prefix(err, "verification after pass %s", p->name);
        return st;
    }
    if (ctx->dump_after && strcmp(ctx->dump_after, p->name) == 0)
        return kn_pipeline_dump(g, p, round, ctx, err);
    return KN_OK;
}

kn_status kn_passes_run(kn_graph *g, const kn_pass_ctx *ctx_in, kn_error *err)
{
    return kn_passes_run_pipeline(g, kn_inference_pipeline, KN_PIPELINE_LEN, ctx_in, err);
}

kn_status kn_passes_run_pipeline(kn_graph *g, const kn_pass *pipeline, int count, const kn_pass_ctx *ctx_in,
                                 kn_error *err)
{
    kn_pass_ctx ctx = {0};
    if (ctx_in)
        ctx = *ctx_in;
    kn_status st;
    if (ctx.dump_after && (st = kn_pipeline_check_name(pipeline, count, ctx.dump_after, err)) != KN_OK)
        return st;
    int before = kn_graph_live_nodes(g);
    for (int i = 0; i < count;) {
        const kn_pass *p = &pipeline[i];
        if (p->group == KN_ONCE) {
            bool changed = false;
            if ((st = kn_pipeline_step(g, p, 0, &ctx, &changed, err)) != KN_OK)
                return st;
            i++;
            continue;
        }
        int end = i;
        while (end < count && pipeline[end].group == p->group)
            end++;
        for (int round = 0; round < KN_PASS_MAX_ROUNDS; round++) {
            bool changed = false;
            for (int k = i; k < end; k++)
                if ((st = kn_pipeline_step(g, &pipeline[k], round, &ctx, &changed, err)) != KN_OK)
                    return st;
            if (!changed)
                break;
        }
        i = end;
    }
    if (ctx.explain)
        fprintf(ctx.explain, "passes: %d nodes before, %d after\n", before, kn_graph_live_nodes(g));
    return KN_OK;
}
