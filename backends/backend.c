/* backend.c - the list of backends. */
#include <string.h>

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
