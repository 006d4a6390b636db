/* backend.c - the list of backends. */
#include <string.h>

#include "ref.h"

static const kn_backend *const kn_backends[] = {
    &kn_ref_backend,
};

const kn_backend *kn_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof kn_backends / sizeof kn_backends[0]; i++)
        if (strcmp(kn_backends[i]->name, name) == 0)
            return kn_backends[i];
    return NULL;
}

const char *kn_backend_names(void)
{
    return "ref";
}
