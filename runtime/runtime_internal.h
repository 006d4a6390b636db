/* runtime_internal.h - definitions shared by the runtime's source files. */
#ifndef KN_RUNTIME_INTERNAL_H
#define KN_RUNTIME_INTERNAL_H

#include "ir.h"

/** A loaded model: its graph, with a possibly symbolic batch dimension. */
struct kn_model {
    kn_graph graph;
};

#endif
