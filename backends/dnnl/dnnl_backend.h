/*
 * dnnl_backend.h - the oneDNN backend ("dnnl"), built only with the CMake
 * option KILN_WITH_ONEDNN (oneDNN 2.6, Debian's libdnnl-dev, C API).
 *
 * compile() creates every oneDNN primitive (and its memory objects, bound to
 * fixed places in the one tensor arena of the memory plan) once; a run only
 * executes them. oneDNN runs (dnnl_decide.c says which, dnnl_describe.c how):
 *   - Conv (grouped, depthwise, dilated, padded; bias; a fused residual add as
 *     a binary-add post-op, a fused activation as eltwise post-ops) and
 *     ConvTranspose (deconvolution, stride 1; groups, dilations, fused
 *     activation);
 *   - Gemm (as matmul: transA/transB, alpha = beta = 1) and 2-D MatMul;
 *   - MaxPool/AveragePool (ceil_mode, count_include_pad), GlobalAveragePool,
 *     GlobalMaxPool (pooling over the whole spatial extent);
 *   - the element-wise activations (eltwise), BatchNormalization (inference:
 *     global statistics, scale and shift), LRN (odd sizes), Softmax and
 *     LogSoftmax (opset < 13's 2-D coercion included);
 *   - Add/Sub/Mul/Div with numpy broadcasting (binary: oneDNN broadcasts its
 *     second source only, so a broadcast first input of Add/Mul is swapped and
 *     of Sub/Div falls back), Add of two same-shape tensors as a sum, Concat.
 * Two ops run as kiln's own loops on oneDNN's layouts where oneDNN 2.6
 * measured slow: Concat as a parallel copy list (any dense layout in which
 * every source is runs of contiguous bytes: plain, nhwc, channel blocks with
 * no padded block before the last source; dnnl_concat.c; at batch 1 a
 * Concat whose first sources are an earlier Concat's is appended in place to
 * that one's copy, as in a DenseNet block: 1.6-2.0 -> 0.4 ms of copies for
 * DenseNet-121) and 2-D Max/AveragePool on 8-channel views of nChw8c,
 * nChw16c or nhwc (dnnl_pool.c);
 * oneDNN's primitives cover the other configurations. In training graphs,
 * BatchNormGrad runs as oneDNN's batch normalization backward (packed
 * scale-shift; a 2-D [N, C] as [N, C, 1, 1] nhwc, for its jit kernel) and
 * BatchNormTrain as kiln's own loop on the 8-channel view of its input
 * (dnnl_bn.c): the reference kernel's double statistics, bitwise its y,
 * mean and invstd, because oneDNN's float statistics (~1e-6 away) flipped a
 * later ReLU/MaxPool near-tie in fashion_cnn's step and moved a channel's
 * gradient by 1% (KILN_DNNL_BN_TRAIN=1: oneDNN's forward training instead). 3x3 stride-1 Convs
 * (one group, 16+ input and output channels) run as kiln's Winograd
 * F(4x4, 3x3) on the same views (dnnl_wino.c; AVX2 + FMA CPUs only): oneDNN 2.6 has
 * Winograd only for AVX-512, and its direct AVX2 kernels reach ~170 GFLOP/s
 * here (ResNet-18 at batch 8: 166 -> 90 ms). So do KxK Convs of stride s with
 * 2s < K <= 3s (5x5 stride 2: split into s*s input phases of 3x3 taps) and
 * ConvTranspose of the same shapes (s*s output phases; DCGAN's generator at
 * batch 8: 11.4 -> 6.8 ms). A cost rule keeps oneDNN's
 * direct conv where streaming the transformed weights (4x the weights) would
 * cost more than it saves (512 channels at 7x7, batch 1). Where the layout
 * is timed (AVX-512), each Conv the kernel could take is also timed against
 * oneDNN's convolution and runs on the faster (dnnl_tune.c: on an Intel Xeon
 * SPR oneDNN's AVX-512 kernels win at 28x28 and below, DenseNet-121 at batch
 * 1: 26.5 -> 21.6 ms); KILN_DNNL_WINOGRAD=1 takes the kernel wherever it can,
 * =0 turns it off. By measurement, too,
 * first-layer convolutions oneDNN would run as im2col + gemm, convolutions
 * with 1-3 output channels (a generator's image layer: the reference
 * kernel's direct rows) and other strided ConvTranspose stay on the reference
 * kernels (faster there; dnnl_decide.c, dnnl_build.c carry the figures).
 * Every other node (and any configuration oneDNN has no implementation for)
 * runs on the reference kernels (backends/ref/ref.h) with its scratch from
 * the memory plan, on the plan's plain C-order buffers.
 *
 * Every CPU: oneDNN picks other layouts at each instruction set (nChw8c on
 * SSE4.1 and AVX2; nChw16c, nhwc, Acdb32a weights on AVX-512), so nothing
 * here assumes one. kiln's kernels read the layout off the memory
 * descriptor (block size, padded dims, strides: kn_dnnl_view,
 * kn_dnnl_concat_geometry in dnnl_layout.c) and take it or reorder; they
 * keep blocked padding zero, as oneDNN's primitives do, and never let it
 * reach a real channel (KILN_DNNL_CHECK_PADDING=1 checks every output).
 * After creating a primitive descriptor, kiln asks oneDNN which
 * implementation it got: a reference one ("ref:any", "bnorm_ref:any"...,
 * orders of magnitude slower: 3.7 s for one of ResNet-18's convs with a
 * residual post-op in nhwc) is refused; a Conv with a fused residual is
 * then retried as the conv alone plus a binary add carrying the
 * activation, and anything else runs on the reference kernels, the reason
 * ("on this CPU ...") in --explain. kiln's own AVX2 kernels follow oneDNN's
 * ISA, so DNNL_MAX_CPU_ISA (or kiln bench --isa) makes a run behave as on
 * the smaller CPU; KILN_DNNL_LAYOUT (nChw8c, nChw16c, nhwc) forces the
 * layout kiln's kernels run on, so that the tests cover every layout on any
 * CPU.
 *
 * Layouts: Conv/ConvTranspose primitives are created with format_tag any for
 * weights, and for src and dst either any (oneDNN picks: nChw8c on AVX2,
 * nhwc or nChw16c on AVX-512) or the layout compile chose for every
 * convolution: on AVX-512 CPUs the whole inference graph is compiled and
 * timed with oneDNN's choice, nChw16c and nChw8c, and the fastest kept
 * (dnnl_tune.c; KILN_DNNL_CONV_LAYOUT fixes it; a convolution oneDNN cannot
 * serve in it takes dst alone in it, then oneDNN's choice).
 * Constant weights are reordered once, at compile time, into the chosen
 * layout. A value produced in a blocked layout stays blocked for the next
 * oneDNN nodes: pooling, eltwise, batch norm, LRN, binary and sum read and
 * write it in that layout, Concat concatenates in it (every source and the
 * destination in the first blocked source's format), and a broadcast
 * operand is read in the same format; a fused residual is bound in the
 * Conv's dst layout. Each argument is bound in the layout the primitive
 * reports for it (dnnl_query_exec_arg_md). Reorder primitives, built at
 * compile time, are inserted only where a layout must change: at graph
 * inputs, before nodes that run on the reference kernels or only in plain
 * layouts (Gemm/MatMul, Softmax), and before graph outputs. A Flatten (or
 * Reshape to [N, rest]) of a blocked value read only by Gemms runs as no op:
 * those Gemms read its N-D input in the blocked layout as a oneDNN inner
 * product, with the weights reordered to match at compile time
 * (dnnl_flatten.c). Each value's
 * plain buffer is the plan's; blocked copies live in a second arena
 * allocated at compile time. Values other than graph inputs and outputs are
 * not guaranteed to be in their plain buffers after a run.
 *
 * Scratchpads are user-managed (dnnl_scratchpad_mode_user): each primitive's
 * scratchpad (and each Winograd op's transform buffers) is planned with the blocked copies in the second arena, live
 * during its own op only, so it reuses bytes of copies dead at that point
 * (kn_dnnl_place_blocked: greedy by size over op lifetimes, the memory
 * planner's rule; passes/memplan.h itself sits above the backends in the
 * link order). Reference-kernel scratch comes from the memory plan.
 *
 * A run submits every primitive without waiting; the stream is waited on
 * only before a reference kernel reads results, and once at the end. A
 * profiled run (kn_session_profile; dnnl_profile.c) waits after every
 * primitive to time it; a reorder counts toward the node it was inserted
 * for. --explain lists the nodes left to the reference kernels and why,
 * and the nodes run on kiln's own kernels.
 *
 * Threads: oneDNN (OpenMP build) uses omp_set_num_threads(threads), set at
 * the start of each run; OpenBLAS is then single-threaded (reference
 * kernels call it inside OpenMP regions), as in the reference backend, so
 * the two libraries never run two thread pools on the same cores.
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

/**
 * Whether compile runs eligible convolutions (3x3 stride 1, KxK stride s
 * with 2s < K <= 3s, and such ConvTranspose) on kiln's Winograd kernel:
 * an AVX2 + FMA CPU and the environment variable KILN_DNNL_WINOGRAD not "0".
 */
bool kn_dnnl_wino_available(void);

/** The instruction set oneDNN uses on this CPU ("AVX2", "AVX512_CORE", ...; DNNL_MAX_CPU_ISA included). */
const char *kn_dnnl_isa_name(void);

/**
 * Cap oneDNN's instruction set at `name` (as DNNL_MAX_CPU_ISA: "SSE41",
 * "AVX2", "AVX512_CORE", "AVX512_CORE_AMX", "ALL", ...; case ignored).
 * Only before the first primitive is created; a level the CPU lacks leaves
 * the CPU's best (kn_dnnl_isa_name tells). KN_ERR_INVALID_ARG for an
 * unknown name or a call after the first primitive.
 */
kn_status kn_dnnl_isa_set(const char *name, kn_error *err);

#endif /* KN_DNNL_BACKEND_H */
