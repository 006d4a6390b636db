/* backend.c - the list of backends. */
#include <string.h>
#include <time.h>

#include "ref.h"
#ifdef KILN_WITH_ONEDNN
#include "dnnl_backend.h"
#endif

static const kn_backend *const kn_backends[] = {
    &kn_ref_backend,
#ifdef KILN_WITH_ONEDNN
    &kn_dnnl_backend,
#endif
};

const kn_backend *kn_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof kn_backends / sizeof kn_backends[0]; i++)
        if (strcmp(kn_backends[i]->name, name) == 0)
            return kn_backends[i];
    return NULL;
}

const kn_backend *kn_backend_at(int i)
{
    return i >= 0 && i < (int)(sizeof kn_backends / sizeof kn_backends[0]) ? kn_backends[i] : NULL;
}

const char *kn_backend_names(void)
{
#ifdef KILN_WITH_ONEDNN
    return "ref, dnnl";
#else
    return "ref";
#endif
}

double kn_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kn_status kn_deadline_error(kn_error *err, const kn_graph *g, const kn_node *next, int done, int total)
{
    if (total < 0) {
        total = 0;
        for (int i = 0; i < g->num_nodes; i++)
            total += !g->nodes[i].dead;
    }
    return kn_error_set(err, KN_ERR_TIMEOUT, "stopped before node '%s' (%s), %d of %d nodes done", next->name,
                        kn_op_get(next->op)->name, done, total);
}
