/*
 * dnnl_backend.h - the oneDNN backend ("dnnl"), built only with the CMake
 * option KILN_WITH_ONEDNN (oneDNN 2.6, Debian's libdnnl-dev, C API).
 *
 * compile() creates every oneDNN primitive (and its memory objects, bound to
 * fixed places in the one tensor arena of the memory plan) once; a run only
 * executes them. oneDNN runs Conv (grouped, depthwise, dilated, padded; bias;
 * a fused residual add as a binary-add post-op and a fused activation as
 * eltwise post-ops), Gemm (as matmul, transA/transB, alpha = beta = 1),
 * 2-D MatMul, MaxPool/AveragePool and the element-wise activations; every
 * other node runs on the reference kernels (backends/ref/ref.h) with its
 * scratch from the memory plan, on the plan's plain NCHW buffers.
 *
 * Layouts: Conv primitives are created with format_tag any for src,
 * weights and dst, so oneDNN picks its blocked layouts (nChw8c/16c...).
 * Constant weights are reordered once, at compile time, into the chosen
 * layout. A value produced in a blocked layout stays blocked for the next
 * oneDNN nodes (Conv, and pooling/eltwise on a blocked input keep it); a
 * fused residual is bound in the Conv's dst layout. Reorder primitives,
 * built at compile time, are inserted only where a layout must change: at
 * graph inputs (plain -> the Conv's src layout), before nodes that run on
 * the reference kernels or in plain layouts (Gemm/MatMul; blocked -> the
 * plain buffer the memory plan gave the value), and before graph outputs.
 * Each value's plain buffer is the plan's; blocked copies live in one
 * second arena allocated at compile time, placed by lifetime (op indices)
 * with a greedy first-fit (next step: place them with passes/memplan.h's
 * planner, which sits above the backends in the link order, and merge the
 * two arenas). Values other than graph inputs and outputs are not
 * guaranteed to be in their plain buffers after a run.
 *
 * A run submits every primitive without waiting; the stream is waited on
 * only before a reference kernel reads results, and once at the end. A
 * profiled run (kn_session_profile; dnnl_profile.c) waits after every
 * primitive to time it; a reorder counts toward the node it was inserted
 * for. --explain lists the nodes left to the reference kernels and why.
 *
 * oneDNN scratchpads are user-managed: one buffer, the largest any primitive
 * needs, allocated at compile time and shared by all (nodes run one at a
 * time). Threads: oneDNN (OpenMP build) uses omp_set_num_threads(threads)
 * set at the start of each run; OpenBLAS is then single-threaded, as in the
 * reference backend.
 */
#ifndef KN_DNNL_BACKEND_H
#define KN_DNNL_BACKEND_H

#include "backend.h"

/** The oneDNN backend's vtable. supports() accepts every node the reference backend can run. */
extern const kn_backend kn_dnnl_backend;

/**
 * Whether `node` runs on a oneDNN primitive (true) or falls back to the
 * reference kernels (false, with the reason in why[len], for --explain).
 * A node that passes this check may still fall back at compile time if
 * oneDNN has no implementation for its exact configuration.
 */
bool kn_dnnl_node_runs(const kn_graph *g, const kn_node *node, char *why, size_t len);

#endif /* KN_DNNL_BACKEND_H */
