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
 * scratch from the memory plan, on the same plain NCHW buffers.
 *
 * First slice: every tensor is in plain layout (format tags nchw/oihw, i.e.
 * abcd...). The next step is format_tag any for convolution chains, with
 * weights reordered once at compile time and reorders only at the
 * boundaries with declined nodes and graph inputs/outputs.
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
