/*
 * dnnl_internal.h - what the files of the oneDNN backend share: the executable
 * being built (ops, blocked copies, arenas), the error macro, and the helpers
 * that decide, describe and build nodes. Not a public header.
 *
 *   dnnl_decide.c    which nodes oneDNN runs (and why not: --explain)
 *   dnnl_util.c      memory descriptors, memory objects, ops, layouts and reorders
 *   dnnl_layout.c    what kiln's own kernels read off a memory descriptor; implementations and ISA
 *   dnnl_describe.c  oneDNN operation descriptors and attributes of a node
 *   dnnl_build.c     a node as a primitive (blocked or plain) or a reference fallback
 *   dnnl_concat.c    Concat as kiln's own parallel copy list
 *   dnnl_pool.c      2-D Max/AveragePool as kiln's own loop on 8-channel views (nChw8c, nChw16c, nhwc)
 *   dnnl_pool_grad.c MaxPool's gradient for tiled 2-D windows, kiln's own loop on the same views
 *   dnnl_flatten.c   Flatten -> Gemm as an inner product on the blocked N-D input (no copy)
 *   dnnl_wino.c      3x3 stride-1 (and 5x5 stride-2 ...) Conv and ConvTranspose as kiln's own Winograd on
 *                    8-channel views
 *   dnnl_train.c     backward ops of training graphs: conv backward-weights, eltwise backward, batch norm
 *   dnnl_bn.c        BatchNormTrain as kiln's own loop on 8-channel views (the reference kernel's arithmetic)
 *   dnnl_backend.c   compile (arenas, scratchpads), run, the vtable
 *   dnnl_profile.c   per-node timing (bench --profile) and placement (--explain)
 */
#ifndef KN_DNNL_INTERNAL_H
#define KN_DNNL_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>

#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#else
#include <dnnl.h>
#endif
#else
#include <dnnl.h>
#endif

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dnnl_backend.h"
#include "ref.h"
#include "shape.h"

/* Turn a failed oneDNN call into KN_ERR_BACKEND naming the node; `st` and `err` in scope, jumps to fail. */
#define KN_DNNL_CHECK(node, call)                                                                            \
    do {                                                                                                     \
        dnnl_status_t kn_dnnl_s_ = (call);                                                                   \
        if (kn_dnnl_s_ != dnnl_success) {                                                                    \
            st = kn_error_set(err, KN_ERR_BACKEND, "node '%s' (%s): oneDNN: %s failed (status %d)",        \
                              (node)->name, kn_op_get((node)->op)->name, #call, (int)kn_dnnl_s_);            \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

/* Arguments of one primitive: a concat binds every source, its destination and a scratchpad. */
#define KN_DNNL_MAX_ARGS 40

/* Bytes of one node's fallback reason (kn_dnnl_exe.fallback_why). */
#define KN_DNNL_WHY_LEN 256

/*
 * One operation of the run, in order: a primitive with its arguments (a
 * node's, or a reorder inserted before a consumer), or (prim NULL) the
 * reference kernel of node `node`. `node` also names the node in errors.
 */
/*
 * Copies of a concat run as kiln's own copy: `rows` runs of `bytes` from
 * source `src` (an argument index), the r-th at src_off + r * src_pitch, to
 * dst_off + r * dst_pitch.
 */
typedef struct kn_dnnl_copy {
    int src;
    size_t src_off, dst_off, bytes, rows, src_pitch, dst_pitch;
} kn_dnnl_copy;

/* A concat run as a parallel list of copies (dnnl_concat.c); the op's args are the sources, then the destination. */
typedef struct kn_dnnl_concat {
    int nsrc, ncopies;
    kn_dnnl_copy *copies;
    int in_place; /* leading sources already in place: the prefix concat's copy this one extends (0: none) */
} kn_dnnl_concat;

/*
 * How kiln's own kernels address a 4-D float32 activation [N, C, H, W] in a
 * oneDNN layout: as groups of 8 channels whose 8 values are contiguous.
 * Element (n, 8g + l, y, x) lies at n*sn + kn_dnnl_view_group(v, g) + y*sh
 * + x*sw + l floats from the start. Read off the memory descriptor by
 * kn_dnnl_view_of: channel blocks of any multiple of 8 (nChw8c, nChw16c, in
 * any order of the outer dims), or channels innermost (nhwc) with C a
 * multiple of 8. Lanes past C (a padded block) are padding: kiln's kernels
 * write them as zero and never let what they hold reach a real channel.
 */
typedef struct kn_dnnl_view {
    int64_t n, c, h, w; /* dims */
    int64_t groups;     /* 8-channel groups in the layout, padding included */
    int64_t sn, sh, sw; /* strides in floats */
    int64_t blk, sb;    /* channels per block (1: not blocked) and the stride of one block */
} kn_dnnl_view;

/* Offset (floats) of 8-channel group g in view v, from an image's start. */
static inline int64_t kn_dnnl_view_group(const kn_dnnl_view *v, int64_t g)
{
    return 8 * g / v->blk * v->sb + 8 * g % v->blk;
}

/* A 2-D Max/AveragePool run by kiln's own loop on an 8-channel view (dnnl_pool.c); args: src, then dst. */
typedef struct kn_dnnl_pool {
    kn_dnnl_view in, out;
    int64_t oh, ow, kh, kw, sh, sw, pt, pl;
    bool avg, include_pad;
    bool grad;         /* MaxPoolGrad (dnnl_pool_grad.c): args x, dy, dx; in: x, out: dx */
    kn_dnnl_view dy;   /* grad: the layout of dy */
} kn_dnnl_pool;

/*
 * A 3x3 stride-1 Conv (or a strided one split into s*s input phases of 3x3
 * taps, or a ConvTranspose split into os*os output phases) run as Winograd
 * F(4x4, 3x3) on 8-channel views (dnnl_wino.c); args: src, dst, the residual
 * (KN_DNNL_RES_ARG) when fused, the scratchpad, and for trained weights (a
 * training graph's variables) the weights and bias, transformed at every run.
 */
typedef struct kn_dnnl_wino {
    int64_t n, cb, kb, h, w, oh, ow;         /* cb, kb: 8-channel groups with real channels, input and output */
    kn_dnnl_view in, out;                    /* the layouts of the input (and residual) and output */
    int64_t s;                               /* Conv stride (1, or 2..4: s*s phases, s*s*cb*8 product rows) */
    int64_t iy0, ix0;                        /* input row/column of tile (0, 0)'s first element (Conv: -pads) */
    int64_t os;                              /* ConvTranspose stride: os*os output phases (Conv: 1) */
    int64_t kq;                              /* output channels of one phase in the products: kb * 8 */
    int64_t qy0, qx0, dpt, dpl;              /* ConvTranspose: first phase position q, leading pads */
    int64_t kp;                              /* output channels of the products: os*os*kq rounded up to 16 */
    int64_t th, tw, tiles;                   /* 4x4 output tiles per column, per row, in all */
    int64_t tc, nchunks;                     /* tiles per chunk, chunks */
    int64_t ks, nslices;                     /* output channels per slice (a multiple of 16), slices */
    int64_t shared_floats;                   /* scratch floats all threads share: V of one chunk (slices only) */
    int64_t thread_floats;                   /* scratch floats per thread: V and M of one chunk (M: slices) */
    int threads;
    float *u;                                /* transformed weights [36][kp/16][cb*8][16] */
    float *bias;                             /* [kp], zero-padded */
    bool trained;                            /* weights written between runs: u and bias remade at each run */
    bool deconv;                             /* ConvTranspose weights [c][k] (else Conv's [k][c]) */
    int64_t wc, wk, wks;                     /* the weights' input and output channels and kernel size */
    kn_op act;                               /* fused activation, KN_OP_COUNT: none */
    kn_scalar_attrs act_attrs;
} kn_dnnl_wino;

/*
 * The per-channel step of a batch norm in training (dnnl_train.c): after BatchNormTrain's primitive, invstd from
 * its variance and the running statistics' update; before BatchNormGrad's, its variance and packed scale-shift
 * (into buf) from invstd and scale, after it dscale and dbias out of the packed gradient.
 */
typedef struct kn_dnnl_bn_stats {
    int64_t c;  /* channels */
    bool after; /* runs after the primitive */
    float *buf; /* BatchNormGrad: variance [c], scale-shift [2][c], its gradient [2][c] */
    bool owns;  /* buf is this op's to free */
    bool native;        /* BatchNormTrain as kiln's own loop (dnnl_bn.c): args src, dst */
    kn_dnnl_view in, out; /* native: the layouts of x and y */
    double *acc;          /* native: 24 doubles a group: sums, means, squared deviations (owned) */
    float *kb;            /* native: 16 floats a group: the k and b of y = x * k + b (owned) */
    int64_t *off;         /* native: each group's offset in x, then in y (owned) */
} kn_dnnl_bn_stats;

typedef struct kn_dnnl_op {
    dnnl_primitive_t prim;
    kn_dnnl_concat *concat; /* prim NULL and concat set: kiln's own concat copy */
    kn_dnnl_pool *pool;     /* prim NULL and pool set: kiln's own pooling loop */
    kn_dnnl_wino *wino;     /* prim NULL and wino set: kiln's own Winograd conv */
    kn_dnnl_bn_stats *bn;   /* prim NULL and bn set: a batch norm's per-channel step; none set: a reference kernel */
    int node;
    int nargs;
    dnnl_exec_arg_t args[KN_DNNL_MAX_ARGS];
    dnnl_memory_desc_t scratch_md; /* valid when scratch_bytes > 0 */
    size_t scratch_bytes;
} kn_dnnl_op;

/*
 * A copy of a value in a oneDNN-chosen (blocked) layout, in the blocked
 * arena: written by op first_op (the producer, or a reorder), read up to op
 * last_op. `mem` gets its data handle once the arena is placed.
 */
typedef struct kn_dnnl_rep {
    int value, next;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    size_t bytes;
    int first_op, last_op;
    int alias;     /* -1, or the copy whose storage this one starts at (a concat appended in place) */
    bool extended; /* another copy aliases this one's storage past its end */
} kn_dnnl_rep;

/* The layout of every convolution primitive's src and dst (dnnl_tune.c): oneDNN's choice, nChw16c or nChw8c. */
typedef enum kn_dnnl_conv_layout {
    KN_DNNL_CONV_ANY = 0,
    KN_DNNL_CONV_16,
    KN_DNNL_CONV_8,
    KN_DNNL_CONV_LAYOUTS
} kn_dnnl_conv_layout;

typedef struct kn_dnnl_exe {
    const kn_graph *graph;
    kn_dnnl_conv_layout conv_layout; /* what describe asks for a convolution's src and dst */
    const bool *direct_conv;    /* during compile, per node or NULL: a Conv kiln's Winograd kernel could take that
                                   runs as oneDNN's convolution instead (the per-node timing, dnnl_tune.c) */
    int conv_force;             /* per node attempt: 2 src and dst in conv_layout, 1 dst only, 0 neither */
    char note[2 * KN_DNNL_WHY_LEN]; /* --explain: how conv_layout (and Winograd or not) was chosen, or empty */
    int threads, kthreads;
    bool check_padding;         /* KILN_DNNL_CHECK_PADDING: check every output's padding after its op */
    dnnl_format_tag_t force_tag; /* KILN_DNNL_LAYOUT (kn_dnnl_forced_layout), or undef */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *arena;                /* the one tensor arena (the memory plan's): plain layouts */
    void **buffers;             /* per value: graph data or arena slot (plain layout) */
    bool *plain_ok;             /* per value: the plain buffer holds the value once its producer ran */
    bool *written;              /* per value: data that changes between runs (a variable of a training or
                                   evaluation graph: weights, optimizer state, running statistics; or one a
                                   side-effect node of this graph writes): read at run time, never packed at
                                   compile time */
    int *rep_head;              /* per value: first blocked copy, or -1 */
    kn_dnnl_rep *reps;
    int num_reps, cap_reps;
    void *blocked;              /* the second arena: blocked copies and scratchpads (kn_dnnl_place_blocked) */
    bool *on_dnnl;              /* per node: runs as a oneDNN primitive */
    bool *folded;               /* per node: a Flatten that runs as no op (kn_dnnl_fold_flatten) */
    char *fallback_why;         /* per node, KN_DNNL_WHY_LEN bytes: why it runs on reference kernels, or NULL */
    void **scratch;             /* per node: reference-kernel scratch, or NULL */
    size_t *scratch_size;
    void *ref_scratch;          /* reference scratch the plan did not hold (compile-time fallbacks) */
    kn_dnnl_op *ops;
    int num_ops, cap_ops;
    void **wbufs;               /* weights reordered at compile time */
    int num_wbufs, cap_wbufs;
    dnnl_memory_t *mems;        /* every memory object created, for free */
    int num_mems, cap_mems;
} kn_dnnl_exe;

/*
 * Compile g with every convolution's src and dst in `layout` (a node oneDNN
 * serves only otherwise gets dst alone in it, then oneDNN's choice), and
 * the Conv nodes `direct` marks (per node; NULL: none) on oneDNN's
 * convolution even where kiln's Winograd kernel could take them; the
 * backend's compile (kn_dnnl_compile_tuned, dnnl_tune.c) picks both.
 */
kn_status kn_dnnl_compile_layout(const kn_graph *g, const kn_buffer_plan *plan, int threads,
                                 kn_dnnl_conv_layout layout, const bool *direct, void **out, kn_error *err);

/* The backend's compile: the convolution layout timed (or set by KILN_DNNL_CONV_LAYOUT), see dnnl_tune.c. */
kn_status kn_dnnl_compile_tuned(const kn_graph *g, const kn_buffer_plan *plan, int threads, void **out,
                                kn_error *err);

/* One run of a compiled executable (the backend's run). */
kn_status kn_dnnl_run_exe(void *exe, double deadline, kn_error *err);

/* Free a compiled executable (NULL: nothing). */
void kn_dnnl_free_exe(void *exe);

/*
 * How many timed runs a layout candidate gets, from the seconds of its warm-up run and of its first timed run,
 * the faster of the two (a stall of the machine in one run does not count) (dnnl_tune.c): 3 for a short run, 1
 * for a longer one, 0 when it is too long to time the candidates at all.
 */
int kn_dnnl_tune_timed_runs(double warmup_s, double first_run_s);

/* The format tag of `layout` at activation rank 3-5 (undef for oneDNN's choice or another rank). */
dnnl_format_tag_t kn_dnnl_conv_tag(kn_dnnl_conv_layout layout, int rank);

/* The backend's --explain note: the convolution layout and how it was chosen; NULL when none. */
const char *kn_dnnl_note(void *exe);

/** Plain (C-order) format tag of each rank 0..6. */
extern const dnnl_format_tag_t kn_dnnl_plain_tags[7];

#define KN_DNNL_RES_ARG (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1)

/*
 * How a node's primitive is created: from an operation descriptor, as concat/sum of its sources, or as a
 * reorder from its DNNL_ARG_SRC bind to its DNNL_ARG_DST bind (Transpose: a strided view of the input).
 */
typedef enum kn_dnnl_kind { KN_DNNL_OPDESC = 0, KN_DNNL_CONCAT, KN_DNNL_SUM, KN_DNNL_REORDER } kn_dnnl_kind;

/* The operation descriptor of a node, whichever its kind. */
typedef struct kn_dnnl_desc {
    kn_dnnl_kind kind;
    int axis;        /* KN_DNNL_CONCAT: the concatenation axis */
    bool dst_any;    /* KN_DNNL_CONCAT/SUM: let oneDNN choose the destination layout */
    dnnl_primitive_desc_t hint; /* a backward op's forward primitive descriptor (owned; NULL: none) */
    bool skip_gemm;  /* take oneDNN's first implementation that is not gemm-based (kn_dnnl_create_pd) */
    union {
        dnnl_convolution_desc_t conv;
        dnnl_deconvolution_desc_t deconv;
        dnnl_pooling_v2_desc_t pool;
        dnnl_eltwise_desc_t eltwise;
        dnnl_matmul_desc_t matmul;
        dnnl_binary_desc_t binary;
        dnnl_batch_normalization_desc_t bnorm;
        dnnl_lrn_desc_t lrn;
        dnnl_softmax_v2_desc_t softmax;
        dnnl_reduction_desc_t reduction;
        dnnl_resampling_desc_t resampling;
        dnnl_layer_normalization_desc_t lnorm;
    } op;
} kn_dnnl_desc;

/*
 * Argument slots: which value binds to which oneDNN argument, in memory
 * descriptor `md`. `plain`: md describes the value's plain buffer (possibly
 * flattened or with leading 1s); otherwise it is a layout a copy must have.
 */
typedef struct kn_dnnl_bind {
    int arg;
    int value;
    bool plain;
    dnnl_memory_desc_t md;
} kn_dnnl_bind;

/*
 * Layout request for kn_dnnl_describe. blocked: activations already in a
 * blocked copy are read in it, Conv/ConvTranspose (and the destinations of
 * pools and concat) let oneDNN choose (format_tag any). fix_*: exact layouts
 * for a convolution's src, weights and dst (second pass of a fused residual,
 * whose src1 must be in the dst layout); no_residual: leave the residual
 * post-op out (first pass).
 */
typedef struct kn_dnnl_request {
    bool blocked;
    bool no_residual;
    const dnnl_memory_desc_t *fix_src, *fix_wei, *fix_dst;
} kn_dnnl_request;

/* The eltwise algorithm (and alpha/beta) of an activation; false when oneDNN has none in one step. */
bool kn_dnnl_eltwise_alg(kn_op op, const kn_scalar_attrs *p, dnnl_alg_kind_t *alg, float *alpha,
                         float *beta);

/* The eltwise backward algorithm of ActivationGrad attrs `a` (and alpha/beta); false when oneDNN has none. */
bool kn_dnnl_act_grad_alg(const kn_act_grad_attrs *a, dnnl_alg_kind_t *alg, float *alpha, float *beta);

/*
 * Whether window node n is a 3x3 stride-1 undilated ungrouped layer from c to k channels (16 or more each): a
 * ConvGradWeight that may take oneDNN's choice of algorithm (its Winograd backward-weights on AVX-512).
 */
bool kn_dnnl_train_wino(const kn_graph *g, const kn_node *n, int64_t c, int64_t k);

/* The descriptor and arguments of a training op (dnnl_train.c), as kn_dnnl_describe. */
kn_status kn_dnnl_describe_train(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req,
                                 kn_dnnl_desc *desc, kn_dnnl_bind *binds, int *nbinds, kn_error *err);

/* Whether `act` can be a chain of eltwise post-ops (HardSigmoid: linear then clip). */
bool kn_dnnl_post_act_ok(kn_op act);

/* Whether value id (or an absent input, id < 0) is a float32 tensor of known shape. */
bool kn_dnnl_f32(const kn_graph *g, int id);

/* Read a float scalar constant (Clip bounds) of input slot i; *present false when absent. */
bool kn_dnnl_const_scalar(const kn_graph *g, const kn_node *n, int i, float *v, bool *present);

/* The blocked copy value v is read from (its producer's), or NULL when its plain buffer holds it. */
const dnnl_memory_desc_t *kn_dnnl_blocked_md(const kn_dnnl_exe *exe, int v);

/*
 * Whether value v is a constant now, at compile time: it has data and no
 * node writes it (a trained weight does not qualify: the optimizer updates
 * it every step, so it is reordered at run time, never packed once).
 */
bool kn_dnnl_constant(const kn_dnnl_exe *exe, int v);

/* md with the dims of `like` and format_tag any (oneDNN chooses). */
kn_status kn_dnnl_any(const kn_node *n, const dnnl_memory_desc_t *like, dnnl_memory_desc_t *md, kn_error *err);

/* Plain (C-order) float32 memory descriptor of dims[nd]. */
kn_status kn_dnnl_md(const kn_node *node, dnnl_memory_desc_t *md, int nd, const int64_t *dims,
                     kn_error *err);

/* Plain float32 memory descriptor of value id. */
kn_status kn_dnnl_md_value(const kn_graph *g, const kn_node *node, int id, dnnl_memory_desc_t *md,
                           kn_error *err);

/* Grow a dynamic array of `*cap` elements of `size` bytes to hold one more; false when out of memory. */
bool kn_dnnl_grow(void **arr, int *cap, int count, size_t size);

/* Create a memory object (freed with the executable) on `data` (DNNL_MEMORY_NONE: set later). */
kn_status kn_dnnl_new_mem(kn_dnnl_exe *exe, const kn_node *node, const dnnl_memory_desc_t *md, void *data,
                          dnnl_memory_t *out, kn_error *err);

/* Bind memory object `mem` to argument `arg` of op. */
kn_status kn_dnnl_add_arg(kn_dnnl_op *op, const kn_node *node, int arg, dnnl_memory_t mem, kn_error *err);

/* Append an empty op for node `node`; *idx receives its index. */
kn_status kn_dnnl_push_op(kn_dnnl_exe *exe, int node, int *idx, kn_error *err);

/*
 * The oneDNN geometry of window node n (Conv, ConvTranspose, pools; or a
 * training op with the same window attrs) on input shape xs and output
 * shape ys: kernel, strides, dilations (oneDNN's: minus 1), left and right
 * padding. ws: the weights' shape where the kernel is not in the attrs.
 * KN_ERR_UNSUPPORTED for a geometry oneDNN cannot express.
 */
kn_status kn_dnnl_window_dims(const kn_node *n, const kn_shape *xs, const kn_shape *ys, const kn_shape *ws, bool global,
                              dnnl_dims_t kd, dnnl_dims_t strides, dnnl_dims_t dil, dnnl_dims_t pl, dnnl_dims_t pr,
                              kn_error *err);

/*
 * The memory descriptor of a convolution's (deconv: a deconvolution's)
 * weights as ONNX stores them, for oneDNN: oihw-like strides ([oc, ic/G, k..];
 * deconv [ic, oc/G, k..]), with a leading group dimension when group > 1.
 */
kn_status kn_dnnl_conv_weights_md(const kn_node *n, int ns, const dnnl_dims_t kd, int64_t oc, int64_t ic,
                                  int64_t group, bool deconv, dnnl_memory_desc_t *md, kn_error *err);

/* Post-ops of `node`: residual add (binary, src1 md `res_md`) then activation. */
kn_status kn_dnnl_post_ops(const kn_node *node, const dnnl_memory_desc_t *res_md, dnnl_post_ops_t po,
                           kn_error *err);

/*
 * Build the operation descriptor of `n` into `desc` and its arguments into
 * binds[*nbinds] (plain layouts unless `req` asks otherwise; the residual's
 * md is the dst's). KN_ERR_UNSUPPORTED (message in err): a configuration
 * the backend leaves to the reference kernels.
 */
/*
 * The dimensions reduction node n reduces (red[d]) and whether it is an
 * identity (kn_reduce_resolve); false when its axes input is not a constant.
 */
bool kn_dnnl_reduce_axes(const kn_graph *g, const kn_node *n, bool *red, bool *identity);

/*
 * Whether Resize node n maps to oneDNN's resampling (nearest or linear over
 * the spatial dimensions, batch and channels kept, the coordinate modes
 * oneDNN's formulas match); fills the spatial factors when it does, else
 * says why in why[len].
 */
bool kn_dnnl_resize_maps(const kn_graph *g, const kn_node *n, float *factors, char *why, size_t len);

kn_status kn_dnnl_describe(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_request *req, kn_dnnl_desc *desc,
                           kn_dnnl_bind *binds, int *nbinds, kn_error *err);

/*
 * The memory object of argument bind b for node i in layout `want`: the
 * plain buffer, a constant (reordered once), or a blocked copy (a reorder
 * inserted now when needed); *rep receives the copy's index, or -1.
 */
kn_status kn_dnnl_bind_mem(kn_dnnl_exe *exe, int i, const kn_dnnl_bind *b, const dnnl_memory_desc_t *want,
                           dnnl_memory_t *mem, int *rep, kn_error *err);

/*
 * Create the primitive descriptor of a described node (opdesc, concat or
 * sum) with `attr`. *pd NULL (KN_OK), with the reason in why[len], when
 * oneDNN has no implementation for it or only its reference one
 * (kn_dnnl_pd_is_ref): the caller tries another layout, splits post-ops
 * off, or leaves the node to the reference kernels. Reasons that depend on
 * the CPU (what oneDNN offers at its ISA) start "on this CPU".
 */
kn_status kn_dnnl_create_pd(const kn_dnnl_exe *exe, const kn_node *n, const kn_dnnl_desc *desc,
                            const kn_dnnl_bind *binds, int nbinds, const dnnl_primitive_attr_t attr,
                            dnnl_primitive_desc_t *pd, char *why, size_t len, kn_error *err);

/* Append a reorder op (primitive built now) from src_mem to dst_mem for node `ni`; *idx receives its index. */
kn_status kn_dnnl_reorder_op(kn_dnnl_exe *exe, int ni, dnnl_memory_t src_mem, const dnnl_memory_desc_t *src_md,
                             dnnl_memory_t dst_mem, const dnnl_memory_desc_t *dst_md, int *idx, kn_error *err);

/* Make the plain buffer of value v hold it before node ni: a reorder from its blocked copy if needed. */
kn_status kn_dnnl_ensure_plain(kn_dnnl_exe *exe, int ni, int v, kn_error *err);

/* A new blocked copy of value v in layout md, written by op first_op; *out receives its index. */
kn_status kn_dnnl_new_rep(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, int first_op,
                          int *out, kn_error *err);

/*
 * The memory object holding value v in layout md for node ni: its plain
 * buffer, a blocked copy, or a new copy written by a reorder inserted now.
 * *rep receives the copy's index (to extend its life), or -1 for the plain buffer.
 */
kn_status kn_dnnl_layout(kn_dnnl_exe *exe, int ni, int v, const dnnl_memory_desc_t *md, dnnl_memory_t *mem,
                         int *rep, kn_error *err);

/* Reorder constant weights `data` (plain md `from`) once, now, into layout `to`; *mem receives the copy. */
kn_status kn_dnnl_reorder_weights(kn_dnnl_exe *exe, const kn_node *n, const dnnl_memory_desc_t *from,
                                  const void *data, const dnnl_memory_desc_t *to, dnnl_memory_t *mem,
                                         kn_error *err);

/* Attributes of node n: user scratchpad; post-ops (the residual add only when with_res). */
kn_status kn_dnnl_attr(const kn_node *n, const dnnl_memory_desc_t *res_md, bool with_res,
                       dnnl_primitive_attr_t *attr, kn_error *err);


/*
 * Try to build node i as a primitive: in oneDNN's chosen layouts (blocked)
 * or in plain layouts. *built false (and KN_OK) when oneDNN has no
 * implementation, with the reason in why[len]; no op is appended then.
 */
kn_status kn_dnnl_try_node(kn_dnnl_exe *exe, int i, bool blocked, bool *built, char *why, size_t len,
                           kn_error *err);

/* Node i on the reference kernels: its inputs in plain layout first. */
kn_status kn_dnnl_ref_node(kn_dnnl_exe *exe, int i, kn_error *err);

/* Threads for a run (or a compile): OpenMP (oneDNN) gets `threads`, OpenBLAS one. Called before each run. */
void kn_dnnl_set_threads(int threads);

/*
 * Run op (prim NULL: a reference-kernel fallback) on the reference kernels:
 * its node's kernel on the plain buffers, then the node's fused post-ops.
 * Primitives submitted before it must have been waited for.
 */
kn_status kn_dnnl_run_ref_op(kn_dnnl_exe *exe, const kn_dnnl_op *op, kn_error *err);

/*
 * Concat node i (described into desc/binds by kn_dnnl_describe) as kiln's
 * own parallel copy, when in the layouts chosen every source is `outer`
 * contiguous chunks that land contiguously in the destination: plain
 * layouts (any axis), or channel blocks (nCx8c, axis 1, no padded block).
 * oneDNN 2.6's simple concat measured ~10x slower than memcpy on the same
 * bytes (0.4 ms for SqueezeNet's 55x55x128 concat, 0.045 ms as copies).
 * One image, channel blocks, and an earlier Concat (built this way) whose
 * sources are our first ones: our copy starts at that one's storage (a rep
 * alias, kn_dnnl_place_blocked keeps the storage for all of the chain) and
 * only the further sources are copied, once per storage (a second extension
 * of the same prefix copies everything).
 * *built false (nothing appended) when the layouts do not allow it.
 */
kn_status kn_dnnl_try_concat_copy(kn_dnnl_exe *exe, int i, const kn_dnnl_desc *desc, const kn_dnnl_bind *binds,
                                  int nb, bool *built, kn_error *err);

/* Run a concat copy op (the stream must have been waited for). */
void kn_dnnl_run_concat(const kn_dnnl_op *op);

/*
 * A 2-D MaxPool/AveragePool node i (no dilation) as kiln's own loop over
 * 8-channel groups (kn_dnnl_view): its input read in the layout its
 * producer wrote when the loop can address it (nChw8c, nChw16c, nhwc with
 * C % 8 == 0; else nChw8c, a reorder inserted), its output a blocked copy in
 * the same format, padded lanes zero: oneDNN 2.6's AVX2 jit pooling measured
 * slower than the reference backend's plain loop (8x32x28x28, 2x2 stride 2:
 * 0.175 ms against 0.116 ms on one thread). *built false when the
 * configuration is not one it handles (AveragePool counting padding past a
 * ceil_mode overhang).
 */
kn_status kn_dnnl_try_pool_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err);

/* Run a native pooling op (the stream must have been waited for). */
void kn_dnnl_run_pool(const kn_dnnl_op *op);

/* MaxPoolGrad node i as kiln's own loop on its input's 8-channel view (dnnl_pool_grad.c); *built false when the
 * windows do not tile the input or x is plain (the reference kernel then). */
kn_status kn_dnnl_try_pool_grad_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err);

/*
 * Append node i as kiln's own pooling op `p` (copied): inputs ins[0..nin) (at most 3) bound in their mds, the
 * output (value `out`, argument out_arg) a new blocked copy in out_md.
 */
kn_status kn_dnnl_push_pool_op(kn_dnnl_exe *exe, int i, const kn_dnnl_pool *p, const kn_dnnl_bind *ins, int nin,
                               int out_arg, int out, const dnnl_memory_desc_t *out_md, kn_error *err);

/* BatchNormGrad node i: append its stats op that runs before its input reorders and primitive. */
kn_status kn_dnnl_bn_before(kn_dnnl_exe *exe, int i, kn_error *err);

/*
 * After node i's primitive (the last op): BatchNormTrain's stats op; for BatchNormGrad (stats op before_op) the
 * primitive's variance and scale-shift arguments and the stats op that copies its gradients out.
 */
kn_status kn_dnnl_bn_after(kn_dnnl_exe *exe, int i, int before_op, kn_error *err);

/* Whether KILN_DNNL_BN_TRAIN=1 asks for oneDNN's forward-training primitive for BatchNormTrain. */
bool kn_dnnl_bn_train_primitive(void);

/*
 * BatchNormTrain node i as kiln's own loop (dnnl_bn.c), the reference kernel's arithmetic on an 8-channel view of
 * x (its producer's blocked layout, or nChw8c; a 2-D x with C % 8 == 0 as [N, C, 1, 1] nhwc), y in the same
 * format. *built false when x has no such view.
 */
kn_status kn_dnnl_try_bn_train_native(kn_dnnl_exe *exe, int i, bool *built, kn_error *err);

/* Run a native BatchNormTrain op (the stream must have been waited for). */
void kn_dnnl_run_bn_train(const kn_dnnl_exe *exe, const kn_dnnl_op *op);

/* Run a batch norm's per-channel op (the stream must have been waited for). */
void kn_dnnl_run_bn_stats(const kn_dnnl_exe *exe, const kn_dnnl_op *op);

/* Run a MaxPoolGrad op built by kn_dnnl_try_pool_grad_native. */
void kn_dnnl_run_pool_grad(const kn_dnnl_op *op);

/*
 * The Winograd plan of Conv/ConvTranspose node i (weights transformed now), or *out NULL
 * when the node is not one it runs: 2-D, 3x3 stride 1 with pads of at most
 * 2, or KxK stride s (both axes) with 2s < K <= 3s and s <= 4 (split into
 * s*s phases of 3x3 taps); no dilation, one group, constant weights (and
 * bias), at least 16 input channels and 16 product columns (output channels
 * times phases), no residual on a ConvTranspose, an AVX2 + FMA CPU,
 * KILN_DNNL_WINOGRAD not "0"; and not when the cost rule says oneDNN's
 * direct conv is faster (the transformed weights streamed from memory).
 */
kn_status kn_dnnl_wino_plan(const kn_dnnl_exe *exe, int i, kn_dnnl_wino **out, kn_error *err);

/*
 * Conv node i as kiln's Winograd kernel when kn_dnnl_wino_plan gives a plan:
 * its input read in its producer's layout when the kernel can address it
 * (kn_dnnl_view; else nChw8c), its output a new copy in the same format and
 * the residual read in that one,
 * its scratch planned like a primitive's scratchpad. *built false otherwise.
 */
kn_status kn_dnnl_try_wino(kn_dnnl_exe *exe, int i, bool *built, kn_error *err);

/* Whether kn_dnnl_wino_plan would give node n a plan (for the decision on strided ConvTranspose). */
bool kn_dnnl_wino_takes(const kn_graph *g, const kn_node *n);

/* Run a Winograd op (the stream must have been waited for). */
void kn_dnnl_run_wino(const kn_dnnl_op *op);

/* Free a Winograd plan (NULL is fine). */
void kn_dnnl_wino_free(kn_dnnl_wino *p);


/*
 * Whether Flatten (or a Reshape to [N, rest]) node i runs as no op: its input
 * is only in a blocked copy, its output is no graph output and every
 * consumer is a oneDNN Gemm reading it as A with constant B and C (those
 * then read the input through kn_dnnl_try_inner_product). Sets folded[i].
 */
bool kn_dnnl_fold_flatten(kn_dnnl_exe *exe, int i);

/*
 * Gemm node i whose A comes from a folded Flatten as a oneDNN inner product
 * on the Flatten's blocked input, B reordered to match at compile time.
 * *built false (KN_OK) when A is no folded Flatten's; when oneDNN has no
 * such inner product, the Flatten runs after all (a reference op appended
 * now) and *built is false.
 */
kn_status kn_dnnl_try_inner_product(kn_dnnl_exe *exe, int i, bool *built, kn_error *err);

/*
 * Whether Flatten (or Reshape to [N, rest]) node i is one kn_dnnl_fold_flatten
 * would fold but for its input, which a oneDNN primitive wrote in plain
 * layout: the reason into why[len] (the reference Flatten is a free view).
 */
bool kn_dnnl_flatten_plain_note(const kn_dnnl_exe *exe, int i, char *why, size_t len);

/* The --explain note of a folded Flatten (false when node is none). */
bool kn_dnnl_folded_note(const kn_dnnl_exe *exe, int node, char *why, size_t len);

/*
 * The backend's run_profiled (backend.h): every op, waiting for each
 * primitive, its time added to node_seconds[op->node]. A reorder op is
 * attributed to its node (the consumer; a graph output's reorder to the
 * producer): the profile has one entry per node, none for reorders.
 */
kn_status kn_dnnl_run_profiled(void *exe, double *node_seconds, kn_error *err);

/*
 * Record, at compile time, why node i runs on the reference kernels:
 * kn_dnnl_node_runs's reason or kn_dnnl_try_node's ("" or NULL: oneDNN has
 * no implementation for the configuration). Allocates exe->fallback_why on
 * first use.
 */
kn_status kn_dnnl_note_fallback(kn_dnnl_exe *exe, int i, const char *why, kn_error *err);

/*
 * The backend's placement (backend.h): true when node runs natively (a
 * oneDNN primitive, or kiln's own kernel on oneDNN's layouts: then why
 * names it); else false with the reason compile recorded.
 */
bool kn_dnnl_placement(void *exe, int node, char *why, size_t len);

/* ------------------------------------------------------------ layouts (dnnl_layout.c) */

/* The 8-channel view of md (see kn_dnnl_view); false when md is not a layout kiln's kernels can address. */
bool kn_dnnl_view_of(const dnnl_memory_desc_t *md, kn_dnnl_view *v);

/* Real channels in 8-channel group g of v: 8, fewer in the last group of a padded block, 0 past C. */
int kn_dnnl_view_lanes(const kn_dnnl_view *v, int64_t g);

/*
 * A layout for 4-D value `value` that kiln's kernels can address: the
 * forced one (KILN_DNNL_LAYOUT) when it gives a view, else the format of
 * `like` (nChw8c, nChw16c or nhwc) at the value's dims when that does, else
 * nChw8c. false when the value is not 4-D.
 */
bool kn_dnnl_view_md(const kn_dnnl_exe *exe, int value, const dnnl_memory_desc_t *like, dnnl_memory_desc_t *md);

/*
 * The layout KILN_DNNL_LAYOUT forces (nChw8c, nChw16c or nhwc; undef when
 * unset): kiln's own kernels (pooling loop, Winograd, concat copies) read
 * and write 4-D activations in it whatever oneDNN's convolutions picked
 * (reorders between), so that the tests run every kernel on every layout on
 * any CPU. A testing knob; KN_ERR_INVALID_ARG for another value.
 */
kn_status kn_dnnl_forced_layout(dnnl_format_tag_t *tag, kn_error *err);

/* A short name of md's layout for --explain ("nChw8c", "nChw16c", "nhwc", "nchw", ...). */
const char *kn_dnnl_layout_name(const dnnl_memory_desc_t *md);

/*
 * The copy geometry of a concat along `axis` of sources src[0..nsrc) into
 * dst, each in the layout its descriptor gives: source s is `outer` runs of
 * chunk[s] contiguous bytes, the r-th at r * chunk[s] in the source and at
 * r * (sum of chunks) + (chunks of sources before s) in the destination.
 * False when the layouts do not allow it (other blocks, gaps, offsets, a
 * padded block before the last source, another order of dimensions).
 */
bool kn_dnnl_concat_geometry(int nsrc, const dnnl_memory_desc_t *const *src, const dnnl_memory_desc_t *dst,
                             int axis, size_t *outer, size_t *chunk);

/*
 * Whether the padding of blocked layout md (elements past its dims in its
 * padded dims) holds anything but zeros in `data`; *where gets the first
 * offending element's offset (floats). The invariant every writer keeps:
 * oneDNN's primitives zero their outputs' padding, kiln's kernels too
 * (checked after every op when KILN_DNNL_CHECK_PADDING=1, see dnnl_backend.c).
 */
bool kn_dnnl_padding_nonzero(const dnnl_memory_desc_t *md, const void *data, int64_t *where);

/*
 * Whether oneDNN picked one of its reference implementations for pd
 * (impl_info_str "ref:any", "bnorm_ref:any", "lrn_ref:any", ...): orders of magnitude slower than its jit
 * kernels, so never chosen; the reason into why[len].
 */
bool kn_dnnl_pd_is_ref(const_dnnl_primitive_desc_t pd, char *why, size_t len);

/* Whether oneDNN may use AVX2 (its effective ISA, DNNL_MAX_CPU_ISA included): kiln's AVX2 kernels follow it. */
bool kn_dnnl_isa_at_least_avx2(void);

#endif /* KN_DNNL_INTERNAL_H */
