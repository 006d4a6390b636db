/*
 * train_ema.c - exponential moving averages of the trained models' variables (kn_train_ema in
 * train_internal.h): the update after each optimizer step of a model, one fused loop over its tensors that
 * allocates nothing, and the reset of a resumed run whose checkpoint had none.
 */
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

double kn_train_ema_decay(double decay, int64_t n)
{
    const double warm = (1.0 + (double)n) / (10.0 + (double)n);
    return warm < decay ? warm : decay;
}

void kn_train_ema_update(kn_train_ema *e, uint64_t models)
{
    for (int i = 0; i < e->num; i++) {
        const int m = e->model[i];
        if (m >= 64 || !((models >> m) & 1u))
            continue;
        const double d = kn_train_ema_decay(e->decay, e->updates[m]);
        const float keep = (float)d, take = (float)(1.0 - d);
        float *restrict a = e->avg[i];
        const float *restrict w = e->live[i];
        const size_t n = e->count[i];
        for (size_t k = 0; k < n; k++)
            a[k] = keep * a[k] + take * w[k];
    }
    for (int m = 0; m < e->num_models && m < 64; m++)
        if ((models >> m) & 1u)
            for (int i = 0; i < e->num; i++)
                if (e->model[i] == m) { /* counted only for a model that has averages */
                    e->updates[m]++;
                    break;
                }
}

void kn_train_ema_reset(kn_train_ema *e)
{
    for (int i = 0; i < e->num; i++)
        memcpy(e->avg[i], e->live[i], sizeof(float) * e->count[i]);
    for (int m = 0; e->updates && m < e->num_models; m++)
        e->updates[m] = 0;
}

void kn_train_ema_free(kn_train_ema *e)
{
    free(e->model);
    free(e->live);
    free(e->avg);
    free(e->count);
    memset(e, 0, sizeof *e);
}
