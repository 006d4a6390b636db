/*
 * train_dist.c - what data-parallel training (kn_train_options.collective)
 * needs besides the graph's GradSyncStart/GradSyncWait buckets
 * (passes/autodiff.c, backends/ref/ref_collective.c): checking the
 * collective, blocking collectives, and reports summed over the ranks.
 * The trainer (train.c) shards each global batch, broadcasts rank 0's
 * variables and feeds each rank's share of the batch to the buckets.
 */
#include <math.h>
#include <string.h>

#include "train_internal.h"

kn_status kn_train_check_collective(const kn_collective *c, int64_t batch, kn_error *err)
{
    if (!c || c->size == 1)
        return KN_OK;
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size || !c->start || !c->wait)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "collective: rank %d of %d, or no start/wait", c->rank, c->size);
    if (batch % c->size != 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG,
                            "the batch size %lld is not a multiple of the %d ranks: each rank takes an equal shard of "
                            "every batch (choose --batch-size or the number of ranks so that it divides)",
                            (long long)batch, c->size);
    return KN_OK;
}

kn_status kn_train_report_reduce(const kn_collective *c, kn_train_report *r, int64_t b, int64_t total, kn_error *err)
{
    double v[KN_TRAIN_MAX_STEPS + 9];
    int n = 0;
    for (int s = 0; s < KN_TRAIN_MAX_STEPS; s++)
        v[n++] = r->loss[s] * (double)b;
    const int64_t counts[] = {r->samples, r->correct, r->elements, r->real_samples, r->real_correct, r->fake_samples,
                              r->fake_correct};
    for (int k = 0; k < 7; k++)
        v[n++] = (double)counts[k];
    v[n++] = r->sq_err;
    v[n++] = r->abs_err;
    kn_status st = kn_collective_run(c, KN_COLL_SUM, v, (size_t)n, KN_F64, err);
    if (st != KN_OK)
        return st;
    for (int s = 0; s < KN_TRAIN_MAX_STEPS; s++)
        r->loss[s] = v[s] / (double)total;
    int64_t *dst[] = {&r->samples, &r->correct, &r->elements, &r->real_samples, &r->real_correct, &r->fake_samples,
                      &r->fake_correct};
    for (int k = 0; k < 7; k++)
        *dst[k] = (int64_t)llround(v[KN_TRAIN_MAX_STEPS + k]);
    r->sq_err = v[KN_TRAIN_MAX_STEPS + 7];
    r->abs_err = v[KN_TRAIN_MAX_STEPS + 8];
    return KN_OK;
}
