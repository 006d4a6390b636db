/* train_internal.h - what the training runtime's files share (train.c, train_graph.c, dataset.c). */
#ifndef KN_TRAIN_INTERNAL_H
#define KN_TRAIN_INTERNAL_H

#include "ir.h"
#include "kiln.h"
#include "spec.h"

/** Loss terms of a step whose predictions a step reports (the real and fake accuracy of a GAN). */
#define KN_TRAIN_MAX_PREDS 8

/* What a step's forward graph reads and reports. Inputs are named "images", "labels", "noise" (when the block
 * declares it), "step" and "lr_scale" (the learning rate's schedule); outputs "loss", the first loss term's
 * prediction (pred_name), then the next terms' predictions (pred_output). */
typedef struct kn_train_io {
    int pred;                  /* value id of the prediction in the built graph (before any pass) */
    char pred_name[400];
    int pred_output[KN_TRAIN_MAX_PREDS]; /* graph output index of term k's prediction, -1: none */
    bool has_noise;
    uint64_t update_models;    /* bit m: the step trains model m */
    int share_output;          /* KN_SHARE_MAKE: graph output index of the shared model(noise), else -1 */
} kn_train_io;

/*
 * A model's forward on the noise computed once per batch (train_split.c). A GAN's discriminator step reads
 * G(noise) with G frozen, and the generator step, which trains G, computes the same G(noise) (same noise, same
 * weights: no step in between writes G): the generator step's graph is split into a prefix (the nodes that
 * depend only on the noise and G's variables: G's forward, BatchNorm in training mode included) run once before
 * the batch's first step, and the rest; the earlier steps take the prefix's output as the input
 * "<model>(noise)" instead of their own copy of G's forward.
 */
typedef enum {
    KN_SHARE_NONE, /* every chain computed by the step itself */
    KN_SHARE_READ, /* model(noise) at the head of a chain is the input "<model>(noise)" */
    KN_SHARE_MAKE  /* the step's one model(noise) is also a graph output (io->share_output) */
} kn_share_role;

typedef struct kn_train_share {
    int model;
    kn_share_role role;
} kn_train_share;

/* The name of the input standing for model(noise): "<model>(noise)". */
void kn_train_share_name(const kn_spec *spec, int model, char *out, size_t size);

/*
 * Whether train block tr can compute one model's forward on the noise once per batch: a step S > 0 applies
 * model m exactly once, to the noise at the head of a chain; every earlier step applies m only that way, with
 * m frozen, and at least one does. *model and *step: m and S; false and `why` (a sentence) otherwise.
 */
bool kn_train_share_plan(const kn_spec *spec, const kn_spec_training *tr, int *model, int *step, char *why,
                         size_t why_size);

/*
 * Split the training graph g of the step that makes the shared value (io->share_output, model m) into `pre`,
 * the nodes that read only the noise (and the other scalar inputs but images and labels), constants, model m's
 * variables and each other, no optimizer update; and `rest`, the others. pre's outputs: the shared value first,
 * then every value of pre that rest reads or that is an output of g; rest reads them as inputs of the same names
 * and keeps g's other outputs in order. g is left unchanged.
 */
kn_status kn_train_split(const kn_graph *g, int model, int share_output, kn_graph *pre, kn_graph *rest,
                         kn_error *err);

/*
 * Build the forward graph of step `step` of train block `tr` at batch
 * `batch`: for every loss term, its chain of models applied to its source
 * (each application a copy of the model's nodes, all of them reading the
 * model's one set of stored values, named "<model>/<name>"; intermediate
 * values "<model>@<k>/<name>"), the loss (cross_entropy on a Softmax output,
 * and binary_cross_entropy on a Sigmoid output, on their logits, as Keras
 * does), term weights and the sum, named "loss". models[m] is model m built
 * by kn_spec_build_graph (its initial weights are copied). g->variables is
 * set: the weights are trained. `sharded` (data-parallel training) adds
 * the int64 scalar input "first_sample" and the float32 scalar input
 * "grad_scale" (kn_train_pass.first_sample, grad_scale). `share` (NULL:
 * none) reads or makes a shared model(noise) (kn_train_share).
 */
kn_status kn_train_build_graph(const kn_spec *spec, const kn_graph *models, const kn_spec_training *tr, int step,
                               int64_t batch, bool sharded, const kn_train_share *share, kn_graph *g, kn_train_io *io,
                               kn_error *err);

/* Load the dataset `sd` (relative directories from base_dir): its test split or its training split, at most
 * `limit` samples (0: all). */
kn_status kn_dataset_load(const kn_spec_dataset *sd, const char *base_dir, bool test, int64_t limit,
                          kn_dataset_t **out, kn_error *err);

/* ---- moving averages of the trained models' variables (train_ema.c) */

/*
 * `ema = D` (or kn_train_options.ema): every float32 variable of every trained model (weights and BatchNorm's
 * moving mean and variance alike) has a copy in the store, "ema:<model>/<name>", updated after each optimizer
 * update of its model by a <- d a + (1 - d) w (in float32, d and 1 - d rounded from double), where
 * d = min(D, (1 + n) / (10 + n)) and n counts the model's earlier averaging updates (the store's int64 vector
 * "ema:updates", one count per model, so that a checkpoint resumes it). Training reads the live variables; the
 * models exported, sampled and evaluated read the averages.
 */
typedef struct kn_train_ema {
    double decay;      /* D; 0: none */
    int num;           /* tensors averaged */
    int *model;        /* [num] the model of tensor i */
    const float **live;/* [num] the variable the optimizer updates */
    float **avg;       /* [num] its average (a store buffer) */
    size_t *count;     /* [num] floats */
    int64_t *updates;  /* [models] averaging updates done so far (a store buffer) */
    int num_models;
} kn_train_ema;

/* The decay of a model's update after n earlier ones: min(decay, (1 + n) / (10 + n)). */
double kn_train_ema_decay(double decay, int64_t n);

/* After a step that updated the models of bit mask `models`: their averages move towards the live values. */
void kn_train_ema_update(kn_train_ema *e, uint64_t models);

/* The averages restart from the live values, no updates counted (a checkpoint written without averages). */
void kn_train_ema_reset(kn_train_ema *e);

/* Free the arrays (not the store's buffers) and zero e. */
void kn_train_ema_free(kn_train_ema *e);

/* ---- the trainer (train.c) */

/* One variable of the store. */
typedef struct kn_var {
    char *key;                 /* "<model>/<value name>" */
    kn_dtype dtype;
    kn_shape shape;
    size_t bytes;
    void *data;
    bool trained;              /* a PARAM (counted in the weights hash) */
} kn_var;

/* Sessions compiled for one batch size: one per step, and the evaluation one. */
typedef struct kn_batch_sessions {
    int64_t batch;
    kn_session_t *step[KN_TRAIN_MAX_STEPS];
    kn_session_t *eval;
    /* a shared model(noise) (kn_train_share): the prefix of the step that makes it, run first in every batch;
     * the names and tensors fed to the steps (the batch's 7, the shared value, the prefix's outputs), sized when
     * compiled so that a step allocates nothing */
    kn_session_t *share;
    int feed_cap;
    const char **feed_names, **fed_names;
    kn_tensor *feed_in, *fed_in;
} kn_batch_sessions;

/* The batch's inputs before the shared ones: images, labels, step, lr_scale, noise, first_sample, grad_scale. */
#define KN_TRAIN_BATCH_INPUTS 7

#define KN_TRAIN_MAX_SIZES 4

struct kn_trainer {
    kn_spec spec;
    int train;                 /* index of the train block */
    kn_graph *models;          /* [spec.num_models]: each model as built, with its initial weights */
    kn_train_options opts;
    const char *backend;
    int64_t batch_size;
    kn_var *vars;
    int num_vars, cap_vars;
    kn_batch_sessions sizes[KN_TRAIN_MAX_SIZES];
    int num_sizes;
    kn_train_io io[KN_TRAIN_MAX_STEPS];
    int64_t steps;             /* batches trained */
    int64_t total_steps;       /* the run's batches (the schedule's length; 0: none) */
    float *noise;              /* a batch of noise, when the block declares it */
    size_t noise_floats;
    bool profiling;            /* kn_trainer_profile_batch: every step's run is timed node by node into prof */
    kn_node_time *prof;
    int prof_n;
    /* data-parallel training (opts.collective with more than one rank) */
    const kn_collective *comm;
    bool stats_stale;          /* trained since rank 0's running statistics were last broadcast */
    size_t sync_bytes[KN_TRAIN_MAX_STEPS];
    int sync_buckets[KN_TRAIN_MAX_STEPS];
    /* one model's forward on the noise computed once per batch (kn_train_share_plan): the model and the step
     * that makes it (-1: none), what the trainer says about it */
    int share_model, share_step;
    char share_note[300];
    char share_name[200];      /* "<model>(noise)": the input the earlier steps read it as */
    kn_train_ema ema;          /* moving averages of the trained models' variables (decay 0: none) */
};

/* The store's variable of this key, or NULL. */
kn_var *kn_store_find(const kn_trainer_t *t, const char *key);

/* The store's variables sorted by key (an array of pointers the caller frees); NULL when out of memory. */
const kn_var **kn_store_sorted(const kn_trainer_t *t);

/* Load a checkpoint file into the store (kn_trainer_load_checkpoint on one rank; train_ckpt.c). */
kn_status kn_train_load_file(kn_trainer_t *t, const char *path, int64_t *epoch, kn_error *err);

/* ---- data-parallel training (train_dist.c) */

/* Check a collective (NULL: none) for a run at batch size `batch`: its rank and size, the batch a multiple of it. */
kn_status kn_train_check_collective(const kn_collective *c, int64_t batch, kn_error *err);

/* Sum a report of this rank's b samples over the ranks into the report of the global batch of `total` samples
 * (losses: the mean over the global batch). A collective call. */
kn_status kn_train_report_reduce(const kn_collective *c, kn_train_report *r, int64_t b, int64_t total,
                                 kn_error *err);

#endif
