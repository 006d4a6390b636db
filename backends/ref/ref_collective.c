/*
 * ref_collective.c - the kernels of data-parallel training (ir/ops.def:
 * GradSyncStart, GradSyncWait). They run on plain buffers and talk to the
 * other ranks only through the node's kn_collective (kn_train_options), so
 * any backend that runs them as reference kernels trains data-parallel.
 *
 * GradSyncStart copies its gradients, scaled by the rank's share of the
 * global batch, into the bucket (an arena tensor: planned with the rest of
 * the step) and starts the bucket's reduction without waiting, so that it
 * travels while the backward pass goes on; GradSyncWait, placed before the
 * optimizer updates, waits for it and splits the sum into the averaged
 * gradients. Deterministic mode gathers every rank's bucket side by side
 * and sums them here in rank order: the same bits on every rank and in
 * every run, whatever the transport does.
 */
#include <string.h>

#include "ref_nn.h"

/* Elements of the bucket that one rank contributes, and where this rank's part starts. */
static size_t kn_sync_part(const kn_node *node, const kn_tensor *bucket, size_t *offset)
{
    const kn_collective *c = node->attrs.grad_sync.comm;
    const size_t total = kn_numel_of(bucket);
    if (!node->attrs.grad_sync.deterministic) {
        *offset = 0;
        return total;
    }
    const size_t part = total / (size_t)c->size;
    *offset = part * (size_t)c->rank;
    return part;
}

kn_status kn_ref_grad_sync_start(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                 const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_collective *c = node->attrs.grad_sync.comm;
    if (!c || !c->start || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (GradSyncStart): no collective", node->name);
    const float scale = *(const float *)in[0].data;
    size_t offset;
    const size_t part = kn_sync_part(node, &out[0], &offset);
    float *dst = (float *)out[0].data + offset;
    size_t at = 0;
    for (int k = 1; k < node->num_inputs; k++) {
        const size_t n = kn_numel_of(&in[k]);
        const float *g = in[k].data;
        for (size_t i = 0; i < n && at + i < part; i++)
            dst[at + i] = g[i] * scale;
        at += n;
    }
    if (at != part)
        return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (GradSyncStart): %zu gradient elements for a bucket of %zu",
                            node->name, at, part);
    kn_status st = c->start(c->ctx, node->attrs.grad_sync.deterministic ? KN_COLL_GATHER : KN_COLL_SUM, out[0].data,
                            part, KN_F32, err);
    if (st != KN_OK)
        kn_error_prefix(err, "node '%s' (GradSyncStart)", node->name);
    return st;
}

kn_status kn_ref_grad_sync_wait(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                const kn_ref_scratch *scratch, kn_error *err)
{
    (void)scratch;
    const kn_collective *c = node->attrs.grad_sync.comm;
    if (!c || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "node '%s' (GradSyncWait): no collective", node->name);
    kn_status st = c->wait(c->ctx, in[0].data, err);
    if (st != KN_OK) {
        kn_error_prefix(err, "node '%s' (GradSyncWait)", node->name);
        return st;
    }
    size_t offset;
    const size_t part = kn_sync_part(node, &in[0], &offset);
    const float *b = in[0].data;
    const int ranks = node->attrs.grad_sync.deterministic ? c->size : 1;
    size_t at = 0;
    for (int k = 0; k < node->num_outputs; k++) {
        const size_t n = kn_numel_of(&out[k]);
        float *g = out[k].data;
        if (n > part - at)
            return kn_error_set(err, KN_ERR_SHAPE, "node '%s' (GradSyncWait): the outputs overflow the bucket",
                                node->name);
        for (size_t i = 0; i < n; i++) {
            float s = b[at + i];
            for (int r = 1; r < ranks; r++) /* rank order: the same sum everywhere */
                s += b[(size_t)r * part + at + i];
            g[i] = s;
        }
        at += n;
    }
    return KN_OK;
}
