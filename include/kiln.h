/*
 * kiln.h - the public API of libkiln.
 *
 * A model (an ONNX file or a .kiln spec) is loaded into a kn_model_t,
 * compiled for one backend and one batch size into a kn_session_t, and run
 * with named inputs. Every function that can fail returns a kn_status and,
 * when given a kn_error, fills it with a one-line message that says where the
 * problem is (file, node name and op). Library code never exits or aborts on
 * bad user input.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Marks the functions of the public API. libkiln is built with hidden
 * visibility: the shared library exports these functions and nothing else.
 */
#if defined(__GNUC__) || defined(__clang__)
#define KN_API __attribute__((visibility("default")))
#else
#define KN_API
#endif

/** Status codes, each named for its cause. KN_OK is zero. */
typedef enum kn_status {
    KN_OK = 0,
    KN_ERR_IO,            /**< a file could not be opened, read or written */
    KN_ERR_PARSE,         /**< a file is malformed or truncated */
    KN_ERR_UNSUPPORTED,   /**< an op, attribute, dtype or feature kiln does not implement */
    KN_ERR_SHAPE,         /**< shapes do not fit together */
    KN_ERR_DTYPE,         /**< element types do not fit together */
    KN_ERR_INVALID_ARG,   /**< a caller passed a bad argument (unknown name, bad option) */
    KN_ERR_NOT_FOUND,     /**< a named input, output, value or backend does not exist */
    KN_ERR_NOMEM,         /**< an allocation failed */
    KN_ERR_OVERFLOW,      /**< a size computation overflowed (absurd dimensions) */
    KN_ERR_GRAPH,         /**< the graph is malformed (cycle, dangling value, bad arity) */
    KN_ERR_BACKEND,       /**< a backend library reported a failure */
    KN_ERR_TIMEOUT        /**< a run passed its time limit (kn_options.timeout_s) and stopped */
} kn_status;

/** A status plus a human-readable, single-line message. */
typedef struct kn_error {
    kn_status status;
    char message[1024];
} kn_error;

/** Short name of a status ("shape error", ...). Never NULL. */
KN_API const char *kn_status_name(kn_status status);

/** Element types. The numbering follows ONNX's TensorProto.DataType. */
typedef enum kn_dtype {
    KN_DTYPE_UNDEFINED = 0,
    KN_F32 = 1,
    KN_U8 = 2,
    KN_I8 = 3,
    KN_I32 = 6,
    KN_I64 = 7,
    KN_BOOL = 9,
    KN_F64 = 11
} kn_dtype;

/** Name of a dtype ("float32", "int64", ...). */
KN_API const char *kn_dtype_name(kn_dtype dtype);
/** Bytes per element, 0 for KN_DTYPE_UNDEFINED or an unknown value. */
KN_API size_t kn_dtype_size(kn_dtype dtype);

/** Maximum tensor rank kiln handles. */
#define KN_MAX_RANK 8
/** A dimension that stands for the (symbolic) batch size until compile binds it. */
#define KN_DIM_BATCH (-1)

/** A tensor shape. Dimensions are >= 0, or KN_DIM_BATCH in an unbound model. */
typedef struct kn_shape {
    int rank;
    int64_t dims[KN_MAX_RANK];
} kn_shape;

/** A dense, C-order tensor view. `data` is not owned by the view. */
typedef struct kn_tensor {
    kn_dtype dtype;
    kn_shape shape;
    void *data;
} kn_tensor;

/** Number of elements of `shape` into *count; KN_ERR_OVERFLOW if it does not fit. */
KN_API kn_status kn_shape_numel(const kn_shape *shape, size_t *count);
/** Bytes of a dense tensor of `dtype` and `shape`; KN_ERR_OVERFLOW if it does not fit. */
KN_API kn_status kn_tensor_nbytes(kn_dtype dtype, const kn_shape *shape, size_t *bytes);

/* ---------------------------------------------------------------- models */

/** An imported model: a graph with its weights; the batch dimension may be symbolic. */
typedef struct kn_model kn_model_t;

/**
 * Load a model from a file. The format is chosen by extension: .onnx, or
 * .kiln (a model spec, docs/spec-language.md; its first model, with weights
 * from its seeded initializers). For a spec with errors the message holds
 * the first diagnostics, each as "file:line:col: error: ..." followed by the
 * source line and a caret (so it spans several lines).
 */
KN_API kn_status kn_model_load(const char *path, kn_model_t **model, kn_error *err);
/**
 * Load model `model_name` of a .kiln spec file (NULL: its first model).
 * KN_ERR_NOT_FOUND, listing the file's models, when there is no such model;
 * KN_ERR_INVALID_ARG for a name and an .onnx file (it holds one model).
 */
KN_API kn_status kn_model_load_spec(const char *path, const char *model_name, kn_model_t **model, kn_error *err);
/**
 * The names of the models a .kiln spec file defines, in file order: *names
 * gets a new array of *count strings (release it with kn_model_names_free).
 * KN_ERR_INVALID_ARG for another kind of file (an ONNX file holds one model);
 * a spec with errors fails as kn_model_load_spec does.
 */
KN_API kn_status kn_model_names(const char *path, char ***names, int *count, kn_error *err);
/** Free an array from kn_model_names. NULL is allowed. */
KN_API void kn_model_names_free(char **names, int count);
/** Load an ONNX model from memory; `name` is used in messages. */
KN_API kn_status kn_model_load_onnx_buffer(const void *data, size_t size, const char *name,
                                           kn_model_t **model, kn_error *err);
/** Free a model. Sessions compiled from it stay valid. NULL is allowed. */
KN_API void kn_model_free(kn_model_t *model);

/**
 * Save a model as an ONNX file (opset 13, producer "kiln") at `path`,
 * written atomically (a temporary file renamed into place). Weights are
 * stored as initializers; a symbolic batch dimension is written as the
 * dim_param "N"; op forms opset 13 lacks are spelled with several standard
 * nodes (HardSwish as HardSigmoid and Mul, for example). The file imports
 * back into kiln, passes onnx.checker and runs in ONNX Runtime with the same
 * outputs. KN_ERR_IO when the file cannot be written, KN_ERR_UNSUPPORTED
 * (naming the node) for what opset 13 cannot express.
 */
KN_API kn_status kn_model_save_onnx(const kn_model_t *model, const char *path, kn_error *err);

/** Description of a graph input or output. */
typedef struct kn_io_info {
    const char *name;   /**< owned by the model or session */
    kn_dtype dtype;
    kn_shape shape;     /**< may contain KN_DIM_BATCH for a model */
} kn_io_info;

KN_API int kn_model_num_inputs(const kn_model_t *model);
KN_API int kn_model_num_outputs(const kn_model_t *model);
/** Fill *info for input `index` (0-based); KN_ERR_NOT_FOUND if out of range. */
KN_API kn_status kn_model_input(const kn_model_t *model, int index, kn_io_info *info);
KN_API kn_status kn_model_output(const kn_model_t *model, int index, kn_io_info *info);

/** Summary statistics of a model, computed at batch size 1. */
typedef struct kn_model_stats {
    int64_t num_nodes;
    int64_t num_parameters;     /**< elements of all float weights */
    int64_t flops;              /**< floating-point operations per image (multiply-add = 2) */
} kn_model_stats;
KN_API kn_status kn_model_get_stats(const kn_model_t *model, kn_model_stats *stats, kn_error *err);

/** Call `fn` once per distinct op type with its count, in op-table order. */
KN_API kn_status kn_model_op_counts(const kn_model_t *model,
                                    void (*fn)(const char *op_name, int count, void *user),
                                    void *user, kn_error *err);

/* -------------------------------------------------------------- sessions */

/** A model compiled for one backend and one batch size, ready to run. */
typedef struct kn_session kn_session_t;

/** Options for kn_session_create. Zero-initialise, then set what you need. */
typedef struct kn_options {
    const char *backend;   /**< "ref" (default when NULL) */
    int64_t batch;         /**< binds the symbolic batch dimension; 0 means 1 */
    /** 0 means the number of cores. The backends run OpenMP threads: set GOMP_SPINCOUNT=30000 (or
     *  OMP_WAIT_POLICY) in the environment before the program starts, as the kiln command does, or libgomp's
     *  long default spinning makes runs many times slower on cores other processes use (README, bench/README.md). */
    int threads;
    /**
     * Inputs frozen to constant values at compile time (for example the shape
     * tensor of a Reshape fed as a graph input): they stop being session
     * inputs, and shape inference and folding see their contents.
     */
    int num_frozen;
    const char *const *frozen_names;
    const kn_tensor *frozen_values;
    /*
     * Optimization diagnostics (all optional; leave zero for none).
     */
    /**
     * When non-NULL, every pass writes one line per change here (and why a
     * candidate was left alone); after compile, a backend that runs some
     * nodes on the reference kernels ("dnnl") writes how many nodes it runs
     * itself, then each node it leaves to them with the reason (identical op
     * and reason grouped on one line).
     */
    FILE *explain;
    /** Non-zero: verify the graph after every pass; a failure names the pass. */
    int verify_each;
    /**
     * Name of a pass after which the graph is written to `dump_path` (NULL:
     * standard output) as text, or as Graphviz DOT when the path ends in
     * .dot. An unknown name is KN_ERR_INVALID_ARG listing the passes.
     */
    const char *dump_after;
    const char *dump_path;
    /**
     * Seconds a kn_session_run may take (0: no limit). A run past it stops
     * before its next node with KN_ERR_TIMEOUT, naming the node and how far
     * it got; the outputs are then not valid, but the session is, and the
     * next run starts afresh. A single node is never interrupted.
     */
    double timeout_s;
} kn_options;

/**
 * The instruction set backend `backend` ("ref", "dnnl") uses on this CPU,
 * as its library names it: for "dnnl" oneDNN's effective ISA ("AVX2",
 * "AVX512_CORE", ...; DNNL_MAX_CPU_ISA and kn_backend_set_isa included),
 * for "ref" the OpenBLAS core its matrix products run on. NULL for an
 * unknown backend or one that does not say.
 */
KN_API const char *kn_backend_isa(const char *backend);

/**
 * Cap the instruction set of `backend` at `level` (for "dnnl" the levels of
 * DNNL_MAX_CPU_ISA: "SSE41", "AVX2", "AVX512_CORE", "AVX512_CORE_AMX",
 * "ALL", ...), as the environment variable would. Call it before the first
 * session of that backend is created; a level above the CPU's leaves the
 * CPU's best (kn_backend_isa tells which is in effect). KN_ERR_INVALID_ARG
 * for an unknown level or a call after the first session, KN_ERR_UNSUPPORTED
 * for a backend without such a setting.
 */
KN_API kn_status kn_backend_set_isa(const char *backend, const char *level, kn_error *err);

/**
 * A line on a choice the session's backend made for the whole graph when it
 * compiled it, so that a figure measured on the session can say what it was
 * measured on: for "dnnl" the convolution layout and how it was chosen
 * ("convolution layout nChw8c, the fastest when compiled (one run: any 53 ms,
 * nChw16c 49 ms, nChw8c 45 ms)"; KILN_DNNL_CONV_LAYOUT sets it). NULL when
 * there is none. Valid while the session lives.
 */
KN_API const char *kn_session_backend_note(const kn_session_t *session);

/** Compile `model` for a backend and batch size. The session owns copies of what it needs. */
KN_API kn_status kn_session_create(const kn_model_t *model, const kn_options *options,
                                   kn_session_t **session, kn_error *err);
KN_API void kn_session_free(kn_session_t *session);

KN_API int kn_session_num_inputs(const kn_session_t *session);
KN_API int kn_session_num_outputs(const kn_session_t *session);
/** Bound (concrete) shapes of the session's inputs and outputs. */
KN_API kn_status kn_session_input(const kn_session_t *session, int index, kn_io_info *info);
KN_API kn_status kn_session_output(const kn_session_t *session, int index, kn_io_info *info);

/**
 * Run the session. `inputs[i]` is bound to the graph input named `names[i]`;
 * every graph input must be given exactly once, with the session's dtype and
 * bound shape. Outputs are read afterwards with kn_session_get_output.
 */
KN_API kn_status kn_session_run(kn_session_t *session, int count, const char *const *names,
                                const kn_tensor *inputs, kn_error *err);

/**
 * View of output `index` after a run. The data belongs to the session and is
 * valid until the next run or kn_session_free.
 */
KN_API kn_status kn_session_get_output(const kn_session_t *session, int index, kn_tensor *out,
                                       kn_error *err);

/* ------------------------------------------------------------- profiling */

/** Size of kn_node_time.label, terminator included. */
#define KN_NODE_LABEL_MAX 64

/** The time one node of a session took in a profiled run. */
typedef struct kn_node_time {
    const char *name;              /**< the node's name (owned by the array: valid until kn_node_times_free) */
    const char *op;                /**< its op ("Conv"; static) */
    /**
     * The op with the post-ops fused into it, in the order they run: a fused
     * residual add as "Add", then the activation ("Conv+Add+Relu"); just the
     * op when nothing is fused.
     */
    char label[KN_NODE_LABEL_MAX];
    double seconds;                /**< wall-clock (CLOCK_MONOTONIC); 0 for a node the backend skips */
} kn_node_time;

/**
 * Run the session once, as kn_session_run does (same inputs, same outputs
 * afterwards), timing every node. *times gets a new array of *n entries,
 * one per node of the compiled (optimised) graph in run order; release it
 * with kn_node_times_free. Timing adds two clock reads per node (on "dnnl",
 * also a wait for each primitive to finish; layout reorders count toward the
 * node they feed); for stable numbers, take the median of several calls. KN_ERR_UNSUPPORTED ("per-node
 * profile not available for backend X") when the backend cannot time nodes;
 * *times is then NULL and *n 0.
 */
KN_API kn_status kn_session_profile(kn_session_t *session, int count, const char *const *names,
                                    const kn_tensor *inputs, kn_node_time **times, int *n, kn_error *err);
/** Free an array from kn_session_profile. NULL is allowed. */
KN_API void kn_node_times_free(kn_node_time *times);

/* ---------------------------------------------------------- memory plans */

/** One buffer of a memory plan: a graph input, graph output or intermediate tensor. */
typedef struct kn_memory_buffer {
    const char *name;   /**< the tensor's name (owned by the plan) */
    size_t offset;      /**< byte offset in the arena, a multiple of 64 */
    size_t size;        /**< bytes */
    int first, last;    /**< first and last step that use it (a step is one node, in run order) */
    int reuses;         /**< index of the buffer whose memory it takes over in place, or -1 */
} kn_memory_buffer;

/**
 * How a compiled model keeps the tensors a run writes: one arena, allocated
 * once when the session is created, in which buffers whose lifetimes do not
 * overlap share bytes, and element-wise ops and views whose input dies there
 * write over that input. Weights are not part of it.
 */
typedef struct kn_memory_plan {
    int64_t batch;
    size_t arena_bytes;          /**< the planned peak: size of the one arena */
    size_t bound_bytes;          /**< lower bound for any plan: most bytes live at one step */
    size_t naive_bytes;          /**< sum of all buffers (one allocation each, no reuse) */
    const char *strategy;        /**< the placement heuristic that won (static string) */
    int num_steps;
    char **step_names;           /**< [num_steps] "node (Op)" run at each step */
    int num_buffers;
    kn_memory_buffer *buffers;   /**< [num_buffers], in run order: graph inputs, then node outputs */
} kn_memory_plan;

/**
 * Plan the memory of `model` compiled at `batch` (0 means 1), as
 * kn_session_create would, without allocating the arena. Sizes are rounded
 * up to 64 bytes in the totals. Release with kn_memory_plan_free.
 */
KN_API kn_status kn_model_memory_plan(const kn_model_t *model, int64_t batch, kn_memory_plan *plan, kn_error *err);
/** The memory plan a session runs with. Release with kn_memory_plan_free. */
KN_API kn_status kn_session_memory_plan(const kn_session_t *session, kn_memory_plan *plan, kn_error *err);
/** Free what a memory plan owns and zero it. NULL is allowed. */
KN_API void kn_memory_plan_free(kn_memory_plan *plan);

/* -------------------------------------------------------------- training */

/**
 * A training run of a .kiln file's train block: the trained models' weights,
 * their BatchNorm statistics and the optimizer state, one copy shared by
 * the training graph of every step (and batch size) and by the evaluation
 * graphs. Each training graph is the forward graph of a step with its loss,
 * turned by the autodiff pass into forward + backward + optimizer updates,
 * optimized, memory-planned and compiled like an inference graph.
 */
typedef struct kn_trainer kn_trainer_t;

/**
 * Data-parallel training (kn_train_options.collective): how the ranks of a
 * job talk, supplied by the caller (the `kiln` command implements it on MPI,
 * runtime/cli/mpi.c). Every rank runs the same calls in the same order.
 * Requests are named by their buffer: at most one in flight per buffer.
 */
typedef enum kn_collective_kind {
    KN_COLL_SUM = 0,    /**< sum `count` elements of buf (KN_F32 or KN_F64) over the ranks, in place */
    KN_COLL_GATHER,     /**< buf holds size * count elements: this rank's part at rank * count; gather all parts */
    KN_COLL_BROADCAST   /**< rank 0's `count` elements of buf to every rank */
} kn_collective_kind;

typedef struct kn_collective {
    int rank, size;     /**< this process's rank and the number of ranks (size 1: no communication) */
    void *ctx;
    /** Start a collective on buf (non-blocking); KN_ERR_IO when the transport fails. */
    kn_status (*start)(void *ctx, kn_collective_kind kind, void *buf, size_t count, kn_dtype dtype, kn_error *err);
    /**
     * Wait for the collective started on buf; a transport failure or a rank
     * that does not take part within the transport's timeout is an error
     * (KN_ERR_IO), never a hang.
     */
    kn_status (*wait)(void *ctx, void *buf, kn_error *err);
} kn_collective;

/** Start and wait (a blocking collective). */
KN_API kn_status kn_collective_run(const kn_collective *c, kn_collective_kind kind, void *buf, size_t count,
                                   kn_dtype dtype, kn_error *err);

/** Options for kn_trainer_create. Zero-initialise, then set what you need. */
typedef struct kn_train_options {
    const char *backend;      /**< "ref" (NULL: "ref"; training runs on the reference backend) */
    int threads;              /**< 0: the number of cores */
    const char *train;        /**< name of the train block; NULL: the file's first */
    int64_t batch_size;       /**< 0: the block's */
    uint64_t seed;            /**< Dropout masks and noise draw from it (with the step number) */
    const char *data_dir;     /**< the dataset's directory instead of the block's (NULL: the block's) */
    bool no_dataset;          /**< the caller feeds batches of its own (kiln bench --train): the dataset's files
                                   are not checked when the trainer is created */
    /**
     * Keep every weight's gradient ("<weight>:grad") and every Dropout mask
     * of the training graphs as graph outputs (kn_trainer_dump_step reads
     * them); costs their memory for the whole step.
     */
    int keep_gradients;
    /**
     * Every step computes every chain of its loss itself. By default, when
     * a step trains a model M whose forward on the noise the steps before
     * it read with M frozen (a GAN's generator), M(noise) is computed once
     * per batch, before the first step, and those steps read it (as
     * PyTorch's `fake = G(z)`, `D(fake.detach())`): BatchNorm in M then
     * updates its running statistics once per batch instead of once per
     * step that applies M (kn_train_info.shared says when).
     */
    bool no_share;
    FILE *explain;            /**< as kn_options: what the passes did to the training graphs */
    int verify_each;
    const char *dump_after;   /**< a pass of the training pipeline (kiln train --dump-after) */
    const char *dump_path;
    /**
     * Data-parallel training over collective->size ranks (NULL or size 1:
     * one process). Each rank's kn_trainer_train_batch and
     * kn_trainer_evaluate_batch take the whole global batch and run on the
     * rank's shard of it (rows [B r / N, B (r + 1) / N)); the gradients are
     * averaged over the ranks, weighted by shard size, in buckets started
     * as soon as their gradients are ready and waited on before the
     * optimizer updates; the reports are summed over the ranks, so every
     * rank sees the global batch's loss and metrics. Rank 0's variables are
     * broadcast at creation and by kn_trainer_load_checkpoint. Dropout
     * masks and noise are those of the global batch. The batch size must
     * be a multiple of the ranks. Must outlive the trainer.
     */
    const kn_collective *collective;
    /**
     * With a collective: gather every rank's gradients and sum them in
     * rank order (deterministic: bitwise the same on every rank and from
     * run to run) instead of the transport's allreduce.
     */
    int deterministic;
    /** With a collective: bytes of gradients per bucket (0: 1 MiB). */
    size_t bucket_bytes;
    /**
     * With a collective: BatchNorm's batch statistics (and their gradient)
     * over the global batch, every rank's shard (two small allreduces per
     * layer forward, one backward), instead of each rank's own shard (the
     * default, as PyTorch DDP; rank 0's running statistics are the ones
     * evaluated and saved). The same result as one process.
     */
    int sync_batch_norm;
    /**
     * Exponential moving averages of every trained model's variables with
     * this decay, in (0, 1), instead of the train block's `ema` (0: the
     * block's; negative: none). After each optimizer update of a model its
     * averages a move to d a + (1 - d) w, d = min(decay, (1 + n) / (10 + n))
     * after n earlier updates (a warm-up); BatchNorm's moving statistics
     * are averaged alike. Training reads the live weights; kn_trainer_model,
     * kn_trainer_export_onnx, kn_trainer_generate and
     * kn_trainer_evaluate_batch read the averages; checkpoints hold them.
     */
    double ema;
} kn_train_options;

/** What the train block asks for (kn_trainer_info). */
typedef struct kn_train_info {
    const char *name;             /**< the block's name */
    int64_t batch_size, epochs;
    int num_steps;                /**< steps run on every batch (1 for a classifier) */
    const char *step_names[8];
    unsigned metrics;             /**< KN_METRIC_* bits */
    kn_shape image_shape;         /**< one sample, without the batch */
    int64_t num_classes;
    const char *dataset;          /**< "idx", "cifar10", "synthetic" or "npy" */
    bool shuffle;
    int64_t augment_shift;        /**< training images moved by up to this many pixels (kn_dataset_shift) */
    bool cosine;                  /**< a cosine learning-rate schedule (kn_trainer_set_total_steps) */
    /** A sentence when a model's forward on the noise is computed once per batch (kn_train_options.no_share),
     *  else NULL. Valid while the trainer lives. */
    const char *shared;
    double ema;                   /**< the moving averages' decay (kn_train_options.ema); 0: none */
} kn_train_info;

enum { KN_METRIC_ACCURACY = 1, KN_METRIC_BINARY_ACCURACY = 2, KN_METRIC_MSE = 4, KN_METRIC_MAE = 8 };

/** Most steps a train block may have. */
#define KN_TRAIN_MAX_STEPS 8

/**
 * What one batch gave (kn_trainer_train_batch, kn_trainer_evaluate_batch):
 * the loss of each step (the mean over the batch), and the sums behind the
 * metrics of the first step's prediction over `samples` samples: correct
 * (accuracy: argmax against the label; binary accuracy: > 0.5 against the
 * 0/1 target), squared and absolute errors (against the target).
 */
typedef struct kn_train_report {
    int num_steps;
    double loss[KN_TRAIN_MAX_STEPS];
    int64_t samples, correct;
    double sq_err, abs_err;
    int64_t elements;             /**< elements behind sq_err and abs_err */
    /**
     * A GAN's discriminator (kn_trainer_train_batch): in the first step whose
     * loss scores both real images and generated ones against 0/1 targets,
     * how many of each it got right (probability > 0.5 against the target).
     */
    int64_t real_samples, real_correct, fake_samples, fake_correct;
} kn_train_report;

/**
 * Load `path` (a .kiln file), check its train block and set up training:
 * the models' initial weights (their seeded initializers), the optimizer
 * state (zeros). Graphs are compiled at the first batch of each size.
 * Every backend trains ("dnnl": oneDNN where it maps an op, the reference
 * kernels elsewhere); the variables are read at run time, never packed.
 */
KN_API kn_status kn_trainer_create(const char *path, const kn_train_options *options, kn_trainer_t **trainer,
                                   kn_error *err);
KN_API void kn_trainer_free(kn_trainer_t *trainer);
KN_API kn_status kn_trainer_info(const kn_trainer_t *trainer, kn_train_info *info);

/**
 * One training batch: every step of the block in order, each a forward,
 * backward and optimizer update. images [B, sample shape] float32, labels
 * [B] int64 (NULL when no loss uses labels); B at most the batch size (a
 * smaller last batch compiles its own graphs once). Noise, when the block
 * declares it, is drawn from the seed and the step number. *report (may be
 * NULL) receives the losses and metric sums.
 */
KN_API kn_status kn_trainer_train_batch(kn_trainer_t *trainer, const kn_tensor *images, const kn_tensor *labels,
                                        kn_train_report *report, kn_error *err);

/** The first step's loss and metrics on a batch in evaluation mode (BatchNorm's running statistics, no Dropout). */
/**
 * kn_trainer_train_batch with every step's run timed node by node, as
 * kn_session_profile does: *times gets a new array of *n entries, the nodes
 * of each step's compiled training graph (forward, backward and updates) in
 * run order, named "<step>: <node>" when the block has several steps;
 * release it with kn_node_times_free. The batch trains as any other.
 * KN_ERR_UNSUPPORTED when the backend cannot time nodes.
 */
KN_API kn_status kn_trainer_profile_batch(kn_trainer_t *trainer, const kn_tensor *images, const kn_tensor *labels,
                                          kn_train_report *report, kn_node_time **times, int *n, kn_error *err);
KN_API kn_status kn_trainer_evaluate_batch(kn_trainer_t *trainer, const kn_tensor *images, const kn_tensor *labels,
                                           kn_train_report *report, kn_error *err);

/** Training batches run so far (the step number: Adam's t - 1, the Dropout and noise streams). */
KN_API int64_t kn_trainer_steps(const kn_trainer_t *trainer);

/**
 * The number of training batches of the whole run, which a learning-rate
 * schedule spans (`schedule = cosine(...)`: step t runs at lr * (F + (1 -
 * F)(1 + cos(pi t / total)) / 2)). 0 (the default): no decay.
 */
KN_API void kn_trainer_set_total_steps(kn_trainer_t *trainer, int64_t total);

/**
 * Write every trained weight, running statistic and optimizer state, the
 * step number and `epoch` (the caller's: epochs completed) to `path`
 * atomically (temporary file, then rename), with a checksum.
 */
KN_API kn_status kn_trainer_save_checkpoint(const kn_trainer_t *trainer, int64_t epoch, const char *path,
                                            kn_error *err);

/**
 * Load a checkpoint of this file's train block written by
 * kn_trainer_save_checkpoint: every tensor must be there with its shape
 * (KN_ERR_INVALID_ARG naming the first that is not), the checksum must
 * hold. *epoch receives the epochs it recorded.
 */
KN_API kn_status kn_trainer_load_checkpoint(kn_trainer_t *trainer, const char *path, int64_t *epoch, kn_error *err);

/** Write model `model` (NULL: the first trained one) with its trained weights as ONNX (opset 13): with
 *  moving averages (kn_train_options.ema), the averaged weights and statistics. */
KN_API kn_status kn_trainer_export_onnx(const kn_trainer_t *trainer, const char *model, const char *path,
                                        kn_error *err);
/**
 * Model `model` of the file (NULL: the first one trained) with its trained
 * weights (and BatchNorm statistics), as an inference model: run it with
 * kn_session_create (BatchNorm and Dropout in evaluation mode), for
 * example a GAN's generator on a fixed noise batch. With moving averages
 * (kn_train_options.ema) the model has the averaged values. Free with
 * kn_model_free.
 */
KN_API kn_status kn_trainer_model(const kn_trainer_t *trainer, const char *model, kn_model_t **out, kn_error *err);
/**
 * Run the block's generator (the first model its noise goes into) in
 * evaluation mode on `count` noise samples drawn from the block's noise
 * distribution with `seed` (the same samples for the same seed, whatever
 * the training did): *samples receives the output (data malloc'd: free it),
 * *noise (optional) the noise. KN_ERR_INVALID_ARG when no model reads noise.
 */
KN_API kn_status kn_trainer_generate(const kn_trainer_t *trainer, int64_t count, uint64_t seed, kn_tensor *noise,
                                     kn_tensor *samples, kn_error *err);
/** Number of models the train block trains; their names, in file order, into names[0..max). */
KN_API int kn_trainer_num_trained(const kn_trainer_t *trainer, const char **names, int max);

/**
 * Run one training batch (as kn_trainer_train_batch) and write to directory
 * `dir` (created if needed), as .npy files: the batch (images, labels),
 * every variable before and after the step ("<key>.before.npy",
 * "<key>.after.npy", '/' in keys as '.'), and every output of the first
 * step's training graph: the loss, the prediction and, with
 * keep_gradients, each weight's gradient ("<key>.grad.npy") and each
 * Dropout mask. For comparing a step with another framework
 * (scripts/torch_train_step.py).
 */
KN_API kn_status kn_trainer_dump_step(kn_trainer_t *trainer, const kn_tensor *images, const kn_tensor *labels,
                                      const char *dir, kn_error *err);

/**
 * The memory plan of step `step`'s training graph at the full batch size
 * (forward activations kept for the backward pass, gradients, scratch: one
 * arena), and in *persistent the bytes kept across steps outside it
 * (weights, BatchNorm statistics, optimizer state). Release with
 * kn_memory_plan_free.
 */
KN_API kn_status kn_trainer_memory_plan(const kn_trainer_t *trainer, int step, kn_memory_plan *plan, size_t *persistent,
                                        kn_error *err);

/**
 * The `step` of kn_trainer_memory_plan that names the shared prefix: the
 * graph computing a model's forward on the noise once per batch
 * (kn_train_info.shared; an error when the block has none).
 */
#define KN_TRAIN_SHARED_PREFIX (-1)

/**
 * The training memory planned at the full batch size, outside the bytes
 * kept across steps: the sum of every step's arena and the shared prefix's
 * (each graph is its own session with its own arena, all alive for the
 * whole run). 0 before the training graphs are compiled.
 */
KN_API size_t kn_trainer_arena_bytes(const kn_trainer_t *trainer);

/** A 64-bit hash (FNV-1a) of every trained weight's bytes, in name order: two runs agree bit for bit when equal. */
KN_API uint64_t kn_trainer_weights_hash(const kn_trainer_t *trainer);

/**
 * With a collective: every rank's weights hash (hashes[0..size), the
 * caller's array of collective->size entries); a collective call that
 * every rank makes. Without one, hashes[0] only.
 */
KN_API kn_status kn_trainer_rank_hashes(const kn_trainer_t *trainer, uint64_t *hashes, kn_error *err);

/**
 * Write every trained weight to directory `dir` (created if needed) as
 * "<model>.<name>.npy" ('/' and ':' as '.'), for comparing two runs.
 */
KN_API kn_status kn_trainer_save_weights(const kn_trainer_t *trainer, const char *dir, kn_error *err);

/**
 * Data-parallel traffic so far (with a collective): the bytes of gradients
 * this rank handed to collectives per training batch of the full size, and
 * the number of buckets per batch (all steps together).
 */
KN_API void kn_trainer_comm_stats(const kn_trainer_t *trainer, size_t *bytes_per_batch, int *buckets_per_batch);

/** A loaded dataset: samples as float32 in [0, 1] (pixel / 255) and int64 labels. */
typedef struct kn_dataset kn_dataset_t;

/**
 * Load the train block's dataset: the split it trains on (test false) or
 * the one it evaluates on (test true): the training and test splits, or the
 * other way round when the block says split=test. The first `limit`
 * samples (0: all). Relative directories are
 * relative to the spec file.
 */
KN_API kn_status kn_trainer_load_dataset(const kn_trainer_t *trainer, bool test, int64_t limit, kn_dataset_t **dataset,
                                         kn_error *err);
KN_API void kn_dataset_free(kn_dataset_t *dataset);

/**
 * Augment a batch: move each image [n, C, H, W] of `images` by dy, dx in
 * [-shift, shift] pixels (zeros fill what moves in), drawn from (seed,
 * epoch, id[i]) so that an epoch's batches are the same on every run and
 * after a resume. id[i]: the sample's index in the dataset.
 */
KN_API void kn_dataset_shift(kn_tensor *images, const int64_t *id, int64_t shift, uint64_t seed, int64_t epoch);
KN_API int64_t kn_dataset_count(const kn_dataset_t *dataset);
/**
 * Gather samples index[0..n) into images [n, sample shape] and labels [n]
 * (their data point into `images_buf` and `labels_buf`, which must hold
 * them: n * sample size floats, n int64).
 */
KN_API kn_status kn_dataset_batch(const kn_dataset_t *dataset, const int64_t *index, int64_t n, float *images_buf,
                                  int64_t *labels_buf, kn_tensor *images, kn_tensor *labels, kn_error *err);

/* ---------------------------------------------------------------- images */

/** A decoded picture: 8 bits a channel, rows top to bottom, channels interleaved. */
typedef struct kn_image {
    uint8_t *pixels;          /**< width * height * channels bytes, owned (kn_image_free) */
    int64_t width, height;
    int channels;             /**< 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA */
} kn_image;

/**
 * Decode a PNG (libpng) or JPEG (libjpeg-turbo) file, told apart by its
 * first bytes, whatever its name. 16-bit PNGs are reduced to 8 bits,
 * palettes become RGB, CMYK JPEGs are refused. A file the library cannot
 * decode completely (truncated, corrupt: libjpeg's warnings count as errors)
 * is KN_ERR_PARSE naming the file; a file of another format
 * KN_ERR_UNSUPPORTED; one that cannot be opened KN_ERR_IO.
 */
KN_API kn_status kn_image_read(const char *path, kn_image *image, kn_error *err);
/** Free the pixels of a kn_image and zero it. NULL is allowed. */
KN_API void kn_image_free(kn_image *image);

/** How a picture is brought to the model's height and width. */
typedef enum kn_image_resize {
    KN_RESIZE_STRETCH = 0,    /**< bilinear to exactly height x width (the aspect ratio may change) */
    /**
     * bilinear so that the picture just covers height x width (its shorter
     * side fits), then the centre cut out (offsets rounded down): ImageNet style
     */
    KN_RESIZE_CROP = 1
} kn_image_resize;

/**
 * What kn_image_preprocess makes of a picture: out[c][y][x] =
 * (v * scale - mean[c]) / std[c], where v is the pixel value (0-255,
 * 255 - it with `invert`) after the conversion to `channels` (grey to RGB by
 * copying; RGB to grey by ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B; alpha
 * dropped) and bilinear resampling with half-pixel centres (PyTorch's
 * interpolate(mode="bilinear", align_corners=False), no antialiasing).
 * Fill it with kn_image_prep_init, then change what you need.
 */
typedef struct kn_image_prep {
    int channels;             /**< 1 or 3 */
    int64_t height, width;
    kn_image_resize resize;
    float scale;
    float mean[3], std[3];    /**< per channel; std must be non-zero */
    bool invert;              /**< 255 - v: dark digits on white paper for an MNIST model */
} kn_image_prep;

/**
 * Fill *prep for a `channels` x `height` x `width` input with a preset:
 * NULL or "default" (stretch, scale 1/255: values in [0, 1]), "mnist" (the
 * same: MNIST models are trained on pixel / 255), "imagenet" (crop, scale
 * 1/255, mean 0.485 0.456 0.406, std 0.229 0.224 0.225, torchvision's),
 * "raw" (stretch, values 0-255). KN_ERR_INVALID_ARG for another name or a
 * bad size.
 */
KN_API kn_status kn_image_prep_init(kn_image_prep *prep, const char *preset, int channels, int64_t height,
                                    int64_t width, kn_error *err);

/**
 * Convert, resize, scale and normalise `image` into `out`: prep->channels *
 * height * width float32 values, channels first (one sample of an [N, C,
 * H, W] input). KN_ERR_INVALID_ARG for a bad prep.
 */
KN_API kn_status kn_image_preprocess(const kn_image *image, const kn_image_prep *prep, float *out, kn_error *err);

/** kn_image_read, then kn_image_preprocess into `out`. */
KN_API kn_status kn_image_load(const char *path, const kn_image_prep *prep, float *out, kn_error *err);

/* ------------------------------------------------------------------ .npy */

/**
 * Read a NumPy .npy file (version 1.0-3.0, little-endian float32/float64/
 * int64/int32/uint8/int8/bool, C order) into a newly allocated tensor;
 * release it with kn_tensor_free_data.
 */
KN_API kn_status kn_npy_read(const char *path, kn_tensor *out, kn_error *err);
/** Write a dense tensor as a version 1.0 .npy file (atomically: temp + rename). */
KN_API kn_status kn_npy_write(const char *path, const kn_tensor *tensor, kn_error *err);
/** Free the data of a tensor allocated by kiln (kn_npy_read). */
KN_API void kn_tensor_free_data(kn_tensor *tensor);

#ifdef __cplusplus
}
#endif
#endif /* KILN_H */
