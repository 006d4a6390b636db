/*
 * ref.h - the reference backend: plain C float32 kernels, OpenBLAS sgemm for
 * Conv (im2col), Gemm and MatMul, OpenMP over batch and channels. It
 * implements every op and is the oracle for other backends.
 *
 * Kernels share one signature. `in[i]` is the tensor bound to input slot i
 * (data NULL when the optional input is absent); `out[i]` has dtype, shape
 * and a buffer already allocated to the size shape inference gave. A kernel
 * may assume the shape rule accepted the node; it still returns a status
 * (naming the node) for anything it cannot do (an unsupported dtype, mode).
 *
 * Kernels allocate nothing: a kernel that needs working memory (im2col
 * tiles, depthwise phase planes, col2im columns, pool tap tables) takes it
 * from `scratch`, whose size the same kernel's kn_ref_scratch_bytes query
 * gave for the same tensors and thread count. The executor plans every
 * node's scratch into the one arena at compile time (a buffer live for that
 * node's step only), so a run makes no allocation at all.
 */
#ifndef KN_REF_H
#define KN_REF_H

#include "backend.h"

/** Alignment of every per-thread piece a kernel carves from its scratch, in bytes. */
#define KN_REF_SCRATCH_ALIGN 64

/**
 * A kernel's working memory: `size` bytes at `data` (64-byte aligned; NULL
 * when size is 0), and `threads`, the number of OpenMP threads the kernel
 * splits its work over (each with its own piece of scratch). The kernel
 * sizes its tiling from `threads`, never from the OpenMP runtime, so that
 * the scratch query made at compile time and the run agree.
 */
typedef struct kn_ref_scratch {
    void *data;
    size_t size;
    int threads;
} kn_ref_scratch;

typedef kn_status (*kn_ref_kernel)(const kn_node *node, const kn_tensor *in, kn_tensor *out,
                                   const kn_ref_scratch *scratch, kn_error *err);

/**
 * Bytes of scratch `node` needs when run on `threads` threads (see
 * kn_ref_scratch), from the dtypes and shapes in g (0 for most ops, and for
 * a node whose shapes its kernel would reject anyway); SIZE_MAX when the size
 * overflows. The executor's `threads` maps to kernel threads through
 * kn_ref_kernel_threads.
 */
size_t kn_ref_scratch_bytes(const kn_graph *g, const kn_node *node, int threads);

/** The same from tensors bound to the node's inputs and outputs (data unused). */
size_t kn_ref_scratch_bytes_for(const kn_node *node, const kn_tensor *in, const kn_tensor *out, int threads);

/**
 * The kernel thread count of an executable compiled for `threads` (0: the
 * OpenMP default): `threads` with OpenMP (OpenBLAS is then single-threaded
 * inside the kernels), 1 without.
 */
int kn_ref_kernel_threads(int threads);

/**
 * Give a run `threads` threads (<= 0: leave the count as it is), with
 * OpenBLAS single-threaded wherever kiln's OpenMP regions call it, so that
 * one thread pool drives the cores. With OpenMP: the OpenMP thread count;
 * OpenBLAS's OpenMP build (preferred at configure time: it has no threads of
 * its own, and follows the OpenMP count outside kiln's regions) is left as
 * it is, its pthreads build is limited to one thread (two pools spinning on
 * the same cores measured 1.3-2x slower on the classifier set on 2 cores, and
 * the pthreads pool's start-up spin stalls the first runs). Without OpenMP,
 * OpenBLAS gets the threads. Both backends call it before each run.
 */
void kn_ref_blas_set_threads(int threads);

/**
 * Run kernel `k` on `node` outside an executable (constant folding, tests):
 * sizes the scratch for the threads the OpenMP/OpenBLAS setup of the moment
 * allows, allocates it around the call and frees it. Fused post-ops are not
 * applied.
 */
kn_status kn_ref_invoke(kn_ref_kernel k, const kn_node *node, const kn_tensor *in, kn_tensor *out, kn_error *err);

/**
 * Check that `scratch` holds `need` bytes: KN_ERR_BACKEND naming the node
 * otherwise (the query and the kernel disagree, an internal error).
 */
kn_status kn_ref_scratch_check(const kn_node *node, const kn_ref_scratch *scratch, size_t need, kn_error *err);

/** Round `bytes` up to KN_REF_SCRATCH_ALIGN; SIZE_MAX on overflow (or when bytes is SIZE_MAX). */
static inline size_t kn_ref_scratch_align(size_t bytes)
{
    return bytes > SIZE_MAX - (KN_REF_SCRATCH_ALIGN - 1)
               ? SIZE_MAX
               : (bytes + KN_REF_SCRATCH_ALIGN - 1) & ~(size_t)(KN_REF_SCRATCH_ALIGN - 1);
}

/** The reference kernel of `op` (never NULL for op < KN_OP_COUNT). */
kn_ref_kernel kn_ref_kernel_for(kn_op op);

/**
 * Evaluate one node of `g` whose inputs all have data (used by constant
 * folding): allocates each output's data (malloc, caller owns) into outputs[].
 */
kn_status kn_ref_eval_node(const kn_graph *g, const kn_node *node, void **outputs, kn_error *err);

/** Apply a fused post-op (residual add, then activation) in place on `t`. */
kn_status kn_ref_apply_fused(const kn_node *node, const kn_tensor *in, kn_tensor *t, kn_error *err);

/** The reference backend's vtable. */
extern const kn_backend kn_ref_backend;

/* Kernels, one per op, grouped by file (ref_conv.c, ref_eltwise.c, ...). */
#define KN_REF_KERNEL(fn)                                                                            \
    kn_status fn(const kn_node *node, const kn_tensor *in, kn_tensor *out, const kn_ref_scratch *scratch, \
                 kn_error *err);
KN_REF_KERNEL(kn_ref_conv)
KN_REF_KERNEL(kn_ref_conv_transpose)
KN_REF_KERNEL(kn_ref_gemm)
KN_REF_KERNEL(kn_ref_matmul)
KN_REF_KERNEL(kn_ref_binary)          /* Add Sub Mul Div Pow PRelu, by node->op */
KN_REF_KERNEL(kn_ref_variadic)        /* Min Max Sum Mean (1 or more inputs, broadcast), by node->op */
KN_REF_KERNEL(kn_ref_compare)         /* Equal Less LessOrEqual Greater GreaterOrEqual (ref_logic.c) */
KN_REF_KERNEL(kn_ref_logical)         /* Not And Or Xor (ref_logic.c) */
KN_REF_KERNEL(kn_ref_where)           /* Where (ref_logic.c) */
KN_REF_KERNEL(kn_ref_unary)           /* Relu ... Erf, by node->op */
KN_REF_KERNEL(kn_ref_softmax)         /* Softmax, LogSoftmax */
KN_REF_KERNEL(kn_ref_pool)            /* MaxPool, AveragePool */
KN_REF_KERNEL(kn_ref_global_pool)     /* GlobalAveragePool, GlobalMaxPool */
KN_REF_KERNEL(kn_ref_batch_norm)
KN_REF_KERNEL(kn_ref_lrn)
KN_REF_KERNEL(kn_ref_layer_norm)     /* ref_norm.c */
KN_REF_KERNEL(kn_ref_instance_norm)  /* ref_norm.c */
KN_REF_KERNEL(kn_ref_reduce)          /* ReduceSum ... ReduceMean, by node->op (ref_reduce.c) */
KN_REF_KERNEL(kn_ref_arg)             /* ArgMax, ArgMin (ref_reduce.c) */
KN_REF_KERNEL(kn_ref_mod)             /* ref_logic.c */
KN_REF_KERNEL(kn_ref_expand)          /* ref_logic.c */
KN_REF_KERNEL(kn_ref_tile)            /* ref_tensor.c */
KN_REF_KERNEL(kn_ref_range)           /* ref_tensor.c */
KN_REF_KERNEL(kn_ref_depth_space)     /* DepthToSpace, SpaceToDepth (ref_tensor.c) */
KN_REF_KERNEL(kn_ref_resize)          /* Resize (ref_resize.c) */
KN_REF_KERNEL(kn_ref_resize_grad)     /* ResizeGrad: Resize's adjoint (ref_resize.c) */
KN_REF_KERNEL(kn_ref_copy)            /* Flatten Reshape Squeeze Unsqueeze Identity Dropout */
KN_REF_KERNEL(kn_ref_transpose)
KN_REF_KERNEL(kn_ref_concat)
KN_REF_KERNEL(kn_ref_split)
KN_REF_KERNEL(kn_ref_slice)
KN_REF_KERNEL(kn_ref_pad)
KN_REF_KERNEL(kn_ref_gather)
KN_REF_KERNEL(kn_ref_scatter_nd)
KN_REF_KERNEL(kn_ref_gather_nd)
KN_REF_KERNEL(kn_ref_shape)
KN_REF_KERNEL(kn_ref_constant_of_shape)
KN_REF_KERNEL(kn_ref_cast)
/* training (ref_train.c; ConvGradWeight in ref_conv.c, SliceGrad in ref_tensor.c) */
KN_REF_KERNEL(kn_ref_batch_norm_train)
KN_REF_KERNEL(kn_ref_batch_norm_grad)
KN_REF_KERNEL(kn_ref_dropout_train)
KN_REF_KERNEL(kn_ref_dropout_grad)
KN_REF_KERNEL(kn_ref_conv_grad_weight)
KN_REF_KERNEL(kn_ref_pool_grad)             /* MaxPoolGrad, AveragePoolGrad */
KN_REF_KERNEL(kn_ref_global_average_pool_grad)
KN_REF_KERNEL(kn_ref_gather_grad)           /* GatherGrad: Gather's adjoint (ref_tensor.c) */
KN_REF_KERNEL(kn_ref_lrn_grad)              /* LRNGrad (ref_norm.c) */
KN_REF_KERNEL(kn_ref_activation_grad)
KN_REF_KERNEL(kn_ref_softmax_grad)          /* SoftmaxGrad, LogSoftmaxGrad */
KN_REF_KERNEL(kn_ref_sum_to)
KN_REF_KERNEL(kn_ref_slice_grad)
KN_REF_KERNEL(kn_ref_loss)                  /* SoftmaxCrossEntropy ... MeanSquaredError */
KN_REF_KERNEL(kn_ref_loss_grad)
KN_REF_KERNEL(kn_ref_update)                /* SgdUpdate, MomentumUpdate, AdamUpdate */
KN_REF_KERNEL(kn_ref_grad_sync_start)       /* data-parallel training (ref_collective.c) */
KN_REF_KERNEL(kn_ref_grad_sync_wait)
/**
 * Synchronised BatchNorm (attrs.batch_norm.sync; ref_collective.c): the
 * mean [C] then the biased variance [C] of x over every rank's shard
 * (*stats points into the scratch), for BatchNormTrain.
 */
kn_status kn_ref_bn_sync_stats(const kn_node *node, const kn_tensor *x, const kn_ref_scratch *scratch,
                               const double **stats, kn_error *err);
/**
 * For BatchNormGrad (its inputs): the global batch's sum of dy [C] and of
 * dy xhat [C], weighted so that they stand in for this rank's own sums in
 * its dx formula (each rank's loss is the mean over its shard).
 */
kn_status kn_ref_bn_sync_grad(const kn_node *node, const kn_tensor *in, const kn_ref_scratch *scratch,
                              const double **sums, kn_error *err);
/** Scratch bytes of a synchronised BatchNormTrain or BatchNormGrad over C channels (0: not synchronised). */
size_t kn_ref_bn_sync_scratch_bytes(const kn_node *node, int64_t C);
#undef KN_REF_KERNEL

/** Number of elements of t (0 when its shape is invalid). */
static inline size_t kn_numel_of(const kn_tensor *t)
{
    size_t c = 0;
    return kn_shape_numel(&t->shape, &c) == KN_OK ? c : 0;
}

/** Product of dims [lo, hi) of s (within a tensor already known to fit). */
static inline int64_t kn_dims_prod(const kn_shape *s, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++)
        p *= s->dims[i];
    return p;
}

/** Apply an element-wise activation `op` with parameters `p` to n floats in place. */
void kn_ref_activation(kn_op op, const kn_scalar_attrs *p, float *x, size_t n);

#endif /* KN_REF_H */
