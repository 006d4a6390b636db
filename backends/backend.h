/*
 * backend.h - the one small interface every backend implements.
 *
 * A backend compiles a graph whose shapes are all concrete (the batch is
 * bound and shape inference has run) into an opaque executable, and runs it.
 * Graph inputs are written, and outputs read, through value_data(), which
 * returns the dense C-order buffer of a value.
 */
#ifndef KN_BACKEND_H
#define KN_BACKEND_H

#include "ir.h"

typedef struct kn_backend {
    const char *name;
    /** Whether the backend can run `node`; when not, a reason into why[len]. */
    bool (*supports)(const kn_graph *g, const kn_node *node, char *why, size_t len);
    /** Compile `g` (which must outlive the executable) into *exe. */
    kn_status (*compile)(const kn_graph *g, int threads, void **exe, kn_error *err);
    /** Run once: graph inputs must have been written via value_data. */
    kn_status (*run)(void *exe, kn_error *err);
    /** The buffer of value `id` (inputs, outputs, any intermediate the backend keeps). */
    void *(*value_data)(void *exe, int id);
    void (*free)(void *exe);
} kn_backend;

/** Find a backend by name ("ref"); NULL when unknown. */
const kn_backend *kn_backend_find(const char *name);
/** Comma-separated list of backend names, for help and messages. */
const char *kn_backend_names(void);

#endif /* KN_BACKEND_H */
