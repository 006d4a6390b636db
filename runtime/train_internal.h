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
} kn_train_io;

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
 * "grad_scale" (kn_train_pass.first_sample, grad_scale).
 */
kn_status kn_train_build_graph(const kn_spec *spec, const kn_graph *models, const kn_spec_training *tr, int step,
                               int64_t batch, bool sharded, kn_graph *g, kn_train_io *io, kn_error *err);

/* Load the dataset `sd` (relative directories from base_dir): its test split or its training split, at most
 * `limit` samples (0: all). */
kn_status kn_dataset_load(const kn_spec_dataset *sd, const char *base_dir, bool test, int64_t limit,
                          kn_dataset_t **out, kn_error *err);

/* ---- data-parallel training (train_dist.c) */

/* Check a collective (NULL: none) for a run at batch size `batch`: its rank and size, the batch a multiple of it. */
kn_status kn_train_check_collective(const kn_collective *c, int64_t batch, kn_error *err);

/* Sum a report of this rank's b samples over the ranks into the report of the global batch of `total` samples
 * (losses: the mean over the global batch). A collective call. */
kn_status kn_train_report_reduce(const kn_collective *c, kn_train_report *r, int64_t b, int64_t total,
                                 kn_error *err);

#endif
