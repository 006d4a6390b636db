/*
 * train.c - `kiln train FILE.kiln`: run a spec's train block (a thin client
 * of the training API in kiln.h).
 *
 * Like Keras's fit(): the training split shuffled every epoch from the seed,
 * batches in order (the last one smaller), a progress bar on a terminal
 * (batch count, ETA, running loss and metrics; one line per epoch when not a
 * terminal), evaluation on the test split after every epoch, a checkpoint
 * per epoch (--checkpoint DIR: epoch_NNN.kcpt and latest.kcpt, each written
 * atomically), --resume from the latest one (the same result, bit for bit,
 * as a run that was never stopped: the shuffle of epoch e and the Dropout
 * and noise streams of step t are functions of the seed, e and t), Ctrl-C
 * stopping at the end of the batch with the last checkpoint kept, the
 * trained model written as ONNX (-o), and a hash of the final weights.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image.h" /* sample grids, the loss chart */
#include "ir.h"    /* kn_splitmix64 */

static const char kn_train_usage[] =
    "usage: kiln train [options] FILE.kiln\n"
    "\n"
    "Train the models of FILE.kiln as its train block says (dataset, loss,\n"
    "optimizer, batch size, epochs, metrics), evaluating on the dataset's test\n"
    "split after every epoch.\n"
    "\n"
    "options:\n"
    "  --epochs N         epochs (default: the block's)\n"
    "  --batch-size N     samples per batch (default: the block's)\n"
    "  --seed N           shuffling, Dropout masks and noise (default: 0)\n"
    "  --threads N        worker threads (default: 0, all cores); the result\n"
    "                     is the same for any count on the reference backend\n"
    "  --backend NAME     ref (default) or dnnl: oneDNN primitives for the\n"
    "                     forward and backward ops it maps, reference kernels\n"
    "                     for the rest (--explain lists which and why)\n"
    "  --limit N          use only the first N samples of each split\n"
    "  --stop-after E     stop after epoch E (a checkpoint and --resume carry\n"
    "                     on; the learning-rate schedule still spans --epochs)\n"
    "  --data DIR         read the dataset from DIR instead of the block's\n"
    "                     directory (idx, cifar10)\n"
    "  --train NAME       the train block (default: the file's first)\n"
    "  -o FILE.onnx       write the trained model as ONNX (opset 13); when the\n"
    "                     block trains several models (a GAN), -o DIR writes\n"
    "                     each as DIR/NAME.onnx\n"
    "  --model NAME       the one model -o writes (default: every one trained)\n"
    "  --samples DIR      for a block with noise (a GAN): after every epoch an\n"
    "                     8x8 grid of the generator's samples on a fixed noise\n"
    "                     batch, DIR/epoch_NNN.png; at the end every step's\n"
    "                     loss per epoch, DIR/losses.svg\n"
    "  --checkpoint DIR   write DIR/epoch_NNN.kcpt and DIR/latest.kcpt after\n"
    "                     every epoch (atomically)\n"
    "  --resume [PATH]    continue from a checkpoint (a file, or a directory's\n"
    "                     latest.kcpt; default: --checkpoint's)\n"
    "  --ema DECAY|off    keep an exponential moving average of every trained\n"
    "                     model's weights (and BatchNorm statistics) with this\n"
    "                     decay in (0, 1), e.g. 0.999, instead of the block's\n"
    "                     `ema`; training uses the live weights, while -o, the\n"
    "                     --samples grids, the evaluation and checkpoints hold\n"
    "                     the averages (a checkpoint without them starts them)\n"
    "  --no-eval          skip the evaluation on the test split\n"
    "  --no-share         every step computes its whole loss itself (default: a\n"
    "                     GAN's G(noise), read by the discriminator step with G\n"
    "                     frozen, is computed once per batch by the generator\n"
    "                     step's forward, as PyTorch's fake.detach())\n"
    "  --dump-step DIR    run one training batch (the first of the first\n"
    "                     epoch) and write the batch, every weight before and\n"
    "                     after it, its gradient, the Dropout masks and the\n"
    "                     loss to DIR as .npy files; then stop\n"
    "  --save-weights DIR write every trained weight to DIR as .npy at the end\n"
    "  --explain  --verify-each  --dump-after PASS[=FILE]\n"
    "                     report, check or dump the training graphs' passes\n"
    "  -h, --help         show this help and exit\n"
    "\n"
    "Data-parallel training on MPI: mpirun -np N kiln train FILE.kiln [options]\n"
    "(N ranks, on one machine or many). The batch size stays the global one\n"
    "and must be a multiple of N: each rank trains on its shard of every\n"
    "batch, gradients are averaged over the ranks (bucketed, overlapping the\n"
    "backward pass) before the same update on every rank, so the result is\n"
    "the one process's within rounding. Rank 0 alone prints, writes\n"
    "checkpoints, samples and models; --resume (rank 0 reads, all ranks\n"
    "load) continues exactly with the same N, and with any N that divides\n"
    "the batch. Ctrl-C under mpirun ends the job (the checkpoints stay).\n"
    "  --deterministic    sum the ranks' gradients in rank order: bitwise the\n"
    "                     same weights on every rank and in every run\n"
    "  --sync-batchnorm   BatchNorm statistics over the global batch (all\n"
    "                     ranks) instead of each rank's shard (the default,\n"
    "                     as PyTorch DDP: rank 0's running statistics count)\n"
    "  --bucket-kb N      gradient bytes per allreduce bucket (default 1024)\n"
    "  --comm-timeout S   stop with an error when the other ranks do not\n"
    "                     answer for S seconds (default 300)\n"
    "\n"
    "Images are float32 in [0, 1] (pixel / 255). Ctrl-C stops at the end of\n"
    "the batch and keeps the last checkpoint. The last line is a hash of the\n"
    "trained weights: two runs gave bitwise the same weights when it agrees.\n";

static volatile sig_atomic_t kn_train_stop;

static void kn_train_on_sigint(int sig)
{
    (void)sig;
    kn_train_stop = 1;
}

static double kn_train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The order of epoch e: a Fisher-Yates shuffle from splitmix64 of (seed, e), or 0..n-1. */
static void kn_train_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, bool shuffle)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    uint64_t s = seed * 0x9e3779b97f4a7c15ull ^ (uint64_t)epoch * 0xc2b2ae3d27d4eb4full ^ 0x165667b19e3779f9ull;
    for (int64_t i = n - 1; shuffle && i > 0; i--) {
        const uint64_t z = kn_splitmix64(&s);
        const int64_t j = (int64_t)(z % (uint64_t)(i + 1));
        const int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* "loss 0.1234 - accuracy 0.9650" of a report summed over batches (losses weighted by samples). */
static void kn_train_metrics_str(const kn_train_info *info, const kn_train_report *sum, int64_t samples,
                                 const char *prefix, char *buf, size_t len)
{
    size_t used = 0;
    for (int s = 0; s < sum->num_steps && used < len; s++) {
        const char *name = sum->num_steps > 1 && info->step_names[s] ? info->step_names[s] : NULL;
        used += (size_t)snprintf(buf + used, len - used, "%s%s%s%sloss %.4f", used ? " - " : "", prefix,
                                 name ? name : "", name ? " " : "", samples ? sum->loss[s] / (double)samples : 0.0);
    }
    if (sum->real_samples && sum->fake_samples && used < len) /* a GAN's discriminator, on both kinds */
        snprintf(buf + used, len - used, " - %sreal_accuracy %.4f - %sfake_accuracy %.4f", prefix,
                 (double)sum->real_correct / (double)sum->real_samples, prefix,
                 (double)sum->fake_correct / (double)sum->fake_samples);
    else if ((info->metrics & (KN_METRIC_ACCURACY | KN_METRIC_BINARY_ACCURACY)) && sum->samples && used < len)
        snprintf(buf + used, len - used, " - %s%s %.4f", prefix,
                 info->metrics & KN_METRIC_ACCURACY ? "accuracy" : "binary_accuracy",
                 (double)sum->correct / (double)sum->samples);
}

static void kn_train_accumulate(kn_train_report *sum, const kn_train_report *r, int64_t b)
{
    sum->num_steps = r->num_steps;
    for (int s = 0; s < r->num_steps; s++)
        sum->loss[s] += r->loss[s] * (double)b;
    sum->samples += r->samples;
    sum->correct += r->correct;
    sum->real_samples += r->real_samples;
    sum->real_correct += r->real_correct;
    sum->fake_samples += r->fake_samples;
    sum->fake_correct += r->fake_correct;
}

/* "1:02" or "45s" */
static const char *kn_train_eta(double s, char *buf, size_t len)
{
    if (s >= 60)
        snprintf(buf, len, "%d:%02d", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, len, "%ds", (int)s);
    return buf;
}

typedef struct kn_train_args {
    const char *file, *train, *out, *model, *ckpt_dir, *resume, *data, *dump, *samples, *save_weights;
    bool resume_given, no_eval, deterministic, sync_bn, no_share;
    int64_t epochs, batch, seed, threads, limit, stop_after, bucket_kb, comm_timeout;
    const char *backend;
    double ema;                /* --ema: 0 the block's, -1 off */
    kn_cli_pass_opts pass;
} kn_train_args;

static int kn_train_parse(int argc, char **argv, kn_train_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (kn_cli_is_help(arg)) {
            fputs(kn_train_usage, stdout);
            return -1;
        }
        int rc = kn_cli_pass_option(argc, argv, &i, "train", kn_train_usage, &a->pass);
        if (rc == KN_CLI_USAGE)
            return rc;
        if (rc == 1)
            continue;
        if (strcmp(arg, "--no-share") == 0) {
            a->no_share = true;
            continue;
        }
        if (strcmp(arg, "--no-eval") == 0 || strcmp(arg, "--deterministic") == 0 ||
            strcmp(arg, "--sync-batchnorm") == 0) {
            *(arg[2] == 'n' ? &a->no_eval : arg[2] == 'd' ? &a->deterministic : &a->sync_bn) = true;
            continue;
        }
        if (strcmp(arg, "--ema") == 0) {
            char *end = NULL;
            if (i + 1 >= argc)
                return kn_cli_usage_error("train", kn_train_usage, "option '--ema' needs a value");
            value = argv[++i];
            a->ema = strcmp(value, "off") == 0 ? -1.0 : strtod(value, &end);
            if (a->ema != -1.0 && (!end || *end || !(a->ema > 0.0 && a->ema < 1.0)))
                return kn_cli_usage_error("train", kn_train_usage,
                                          "--ema needs a decay above 0 and below 1 (e.g. 0.999) or off, got '%s'",
                                          value);
            continue;
        }
        if (strcmp(arg, "--resume") == 0) { /* an optional value: the next argument unless it is an option or .kiln */
            a->resume_given = true;
            if (i + 1 < argc && argv[i + 1][0] != '-' && !strstr(argv[i + 1], ".kiln"))
                a->resume = argv[++i];
            continue;
        }
        static const char *const names[] = {"--epochs", "--batch-size", "--seed", "--threads", "--limit",
                                            "--stop-after", "--bucket-kb", "--comm-timeout", "--backend", "--train",
                                            "-o", "--model", "--checkpoint", "--resume", "--data", "--dump-step",
                                            "--samples", "--save-weights"};
        int which = -1;
        for (int k = 0; k < (int)(sizeof names / sizeof names[0]) && which < 0; k++) {
            int m = kn_cli_option(argc, argv, &i, names[k], &value);
            if (m < 0)
                return kn_cli_usage_error("train", kn_train_usage, "option '%s' needs a value", names[k]);
            if (m > 0)
                which = k;
        }
        if (which < 0 && arg[0] == '-' && arg[1])
            return kn_cli_usage_error("train", kn_train_usage, "unknown option '%s'", arg);
        if (which < 0) {
            if (a->file)
                return kn_cli_usage_error("train", kn_train_usage, "unexpected argument '%s'", arg);
            a->file = arg;
            continue;
        }
        int64_t *ints[] = {&a->epochs, &a->batch, &a->seed, &a->threads, &a->limit, &a->stop_after, &a->bucket_kb,
                           &a->comm_timeout};
        const int64_t lo[] = {1, 1, 0, 0, 1, 1, 1, 1},
                      hi[] = {1000000, 1 << 20, INT64_MAX, 4096, INT64_MAX, 1000000, 1 << 20, 1000000};
        if (which < 8) {
            if (!kn_cli_parse_int(value, lo[which], hi[which], ints[which])) {
                if (hi[which] == INT64_MAX)
                    return kn_cli_usage_error("train", kn_train_usage, "%s needs an integer from %lld, got '%s'",
                                              names[which], (long long)lo[which], value);
                return kn_cli_usage_error("train", kn_train_usage, "%s needs an integer from %lld to %lld, got '%s'",
                                          names[which], (long long)lo[which], (long long)hi[which], value);
            }
            continue;
        }
        const char **strs[] = {&a->backend, &a->train, &a->out, &a->model, &a->ckpt_dir, &a->resume, &a->data,
                               &a->dump, &a->samples, &a->save_weights};
        *strs[which - 8] = value;
        if (which == 13)
            a->resume_given = true;
    }
    if (!a->file)
        return kn_cli_usage_error("train", kn_train_usage, "missing FILE.kiln");
    if (a->resume_given && !a->resume && !a->ckpt_dir)
        return kn_cli_usage_error("train", kn_train_usage, "--resume needs a checkpoint file or --checkpoint DIR");
    return KN_CLI_OK;
}

/* Evaluate on the whole test split, in batches (with `ranks` ranks, a last batch of fewer samples than ranks is
 * left out); the summed report. */
static kn_status kn_train_evaluate(kn_trainer_t *t, const kn_dataset_t *test, int64_t batch, int ranks, float *img,
                                   int64_t *lab, int64_t *idx, kn_train_report *sum, kn_error *err)
{
    memset(sum, 0, sizeof *sum);
    const int64_t n = kn_dataset_count(test);
    for (int64_t at = 0; at < n; at += batch) {
        const int64_t b = n - at < batch ? n - at : batch;
        if (b < ranks)
            break;
        for (int64_t k = 0; k < b; k++)
            idx[k] = at + k;
        kn_tensor x, y;
        kn_train_report r;
        kn_status st = kn_dataset_batch(test, idx, b, img, lab, &x, &y, err);
        if (st == KN_OK)
            st = kn_trainer_evaluate_batch(t, &x, &y, &r, err);
        if (st != KN_OK)
            return st;
        kn_train_accumulate(sum, &r, b);
    }
    return KN_OK;
}

/* -o with several trained models and no --model names a directory: refuse FILE.onnx before any training. */
static int kn_train_check_outputs(const kn_train_args *a, const char *const *trained, int n)
{
    if (!a->out || a->model || n < 2)
        return KN_CLI_OK;
    const size_t len = strlen(a->out);
    if (len >= 5 && strcmp(a->out + len - 5, ".onnx") == 0)
        return kn_cli_fail("-o %s: this block trains %d models (%s, %s%s): give -o a directory to write each as "
                           "DIR/NAME.onnx, or --model NAME for one", a->out, n, trained[0], trained[1],
                           n > 2 ? ", ..." : "");
    return KN_CLI_OK;
}

/* -o: the one model (--model, or the only one trained) as FILE, or every trained model as DIR/NAME.onnx. */
static int kn_train_export(const kn_trainer_t *t, const kn_train_args *a, const char *const *trained, int n)
{
    kn_error err = {0};
    if (a->model || n < 2) {
        if (kn_trainer_export_onnx(t, a->model, a->out, &err) != KN_OK)
            return kn_cli_fail("%s", err.message);
        printf("wrote %s\n", a->out);
        return KN_CLI_OK;
    }
    if (!kn_cli_mkdirs(a->out))
        return kn_cli_fail("cannot create %s: %s", a->out, strerror(errno));
    for (int k = 0; k < n && k < 8; k++) {
        char path[1200];
        if (snprintf(path, sizeof path, "%s/%s.onnx", a->out, trained[k]) >= (int)sizeof path)
            return kn_cli_fail("-o %s: the directory name is too long", a->out);
        if (kn_trainer_export_onnx(t, trained[k], path, &err) != KN_OK)
            return kn_cli_fail("%s", err.message);
        printf("wrote %s\n", path);
    }
    return KN_CLI_OK;
}

/* --samples: the generator on a fixed noise batch (the same every epoch) as an 8x8 grid, DIR/epoch_NNN.png. */
static int kn_train_write_samples(const kn_trainer_t *t, const kn_train_args *a, int64_t epoch)
{
    kn_error err = {0};
    kn_tensor samples;
    char path[1200];
    if (snprintf(path, sizeof path, "%s/epoch_%03lld.png", a->samples, (long long)epoch) >= (int)sizeof path)
        return kn_cli_fail("--samples %s: the directory name is too long", a->samples);
    if (kn_trainer_generate(t, 64, (uint64_t)a->seed, NULL, &samples, &err) != KN_OK)
        return kn_cli_fail("samples after epoch %lld: %s", (long long)epoch, err.message);
    kn_status st = kn_png_write_grid(path, &samples, 8, 8, &err);
    free(samples.data);
    return st == KN_OK ? KN_CLI_OK : kn_cli_fail("%s", err.message);
}

/* --model NAME (the model -o writes) must be one of the file's models; the error lists them. */
static int kn_train_check_model(const char *file, const char *name)
{
    kn_error err = {0};
    char **names = NULL;
    int n = 0;
    if (kn_model_names(file, &names, &n, &err) != KN_OK)
        return kn_cli_fail("%s", err.message);
    char list[512] = "";
    size_t used = 0;
    bool found = false;
    for (int i = 0; i < n; i++) {
        found = found || strcmp(names[i], name) == 0;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", names[i]);
    }
    kn_model_names_free(names, n);
    return found ? KN_CLI_OK : kn_cli_fail("%s: --model: no model named '%s' (models: %s)", file, name, list);
}

static int kn_train_main(const kn_train_args *args, const kn_collective *comm);

/* With N ranks: every rank's weights hash; one that differs from rank 0's is reported (a failure with
 * --deterministic, which promises bitwise the same weights). A collective call. */
static int kn_train_compare_ranks(const kn_trainer_t *t, const kn_train_args *a, int ranks)
{
    kn_error err = {0};
    uint64_t *h = calloc((size_t)ranks, sizeof *h);
    if (!h)
        return kn_cli_fail("out of memory");
    if (kn_trainer_rank_hashes(t, h, &err) != KN_OK) {
        free(h);
        return kn_cli_fail("%s", err.message);
    }
    int differ = -1;
    for (int r = 1; r < ranks && differ < 0; r++)
        if (h[r] != h[0])
            differ = r;
    if (differ < 0)
        printf("the same weights on all %d ranks\n", ranks);
    else
        printf("rank %d has other weights (hash %016llx)%s\n", differ, (unsigned long long)h[differ],
               a->deterministic ? "" : ": the transport's sums differ in their last bits between ranks");
    free(h);
    return differ >= 0 && a->deterministic ? kn_cli_fail("--deterministic: the ranks' weights differ") : KN_CLI_OK;
}

int kn_cli_train(int argc, char **argv);
int kn_cli_train(int argc, char **argv)
{
    kn_train_args a;
    int rc = kn_train_parse(argc, argv, &a);
    if (rc != KN_CLI_OK)
        return rc < 0 ? KN_CLI_OK : rc;
    const kn_collective *comm = NULL;
    if ((rc = kn_cli_mpi_init(a.comm_timeout ? (double)a.comm_timeout : 300.0, &comm)) != KN_CLI_OK)
        return rc;
    if (comm && comm->size > 1) {
        snprintf(kn_cli_error_prefix, sizeof kn_cli_error_prefix, "rank %d of %d: ", comm->rank, comm->size);
        if (comm->rank > 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 alone prints */
            rc = kn_cli_fail("cannot silence stdout: %s", strerror(errno));
        if (a.dump && rc == KN_CLI_OK)
            rc = kn_cli_fail("--dump-step runs one process's batch: run it without mpirun");
    } else {
        comm = NULL;
    }
    if (rc == KN_CLI_OK)
        rc = kn_train_main(&a, comm);
    kn_cli_mpi_finish(rc);
    return rc;
}

/* The command after its options (and MPI, when launched by mpirun: comm). */
static int kn_train_main(const kn_train_args *args, const kn_collective *comm)
{
    kn_train_args a = *args;
    int rc = KN_CLI_OK;
    const int ranks = comm ? comm->size : 1;
    const bool lead = !comm || comm->rank == 0; /* the rank that writes files */
    kn_error err = {0};
    char dump_file[512] = "";
    kn_train_options o = {.backend = a.backend, .threads = (int)a.threads, .train = a.train,
                          .batch_size = a.batch, .seed = (uint64_t)a.seed, .data_dir = a.data,
                          .keep_gradients = a.dump != NULL, .no_share = a.no_share,
                          .explain = a.pass.explain ? stdout : NULL,
                          .verify_each = a.pass.verify_each,
                          .collective = comm, .deterministic = a.deterministic, .sync_batch_norm = a.sync_bn,
                          .bucket_bytes = (size_t)a.bucket_kb * 1024, .ema = a.ema};
    if (a.pass.dump_pass[0]) {
        o.dump_after = a.pass.dump_pass;
        if (a.pass.dump_file)
            snprintf(dump_file, sizeof dump_file, "%s", a.pass.dump_file);
        o.dump_path = a.pass.dump_file ? dump_file : NULL;
    }
    kn_trainer_t *t = NULL;
    kn_dataset_t *train = NULL, *test = NULL;
    double *history = NULL; /* --samples: [step][epoch] mean losses, for the chart */
    float *img = NULL;
    int64_t *lab = NULL, *order = NULL, *idx = NULL;
    double t0 = kn_train_now();
    if (kn_trainer_create(a.file, &o, &t, &err) != KN_OK) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    if (a.model && (rc = kn_train_check_model(a.file, a.model)) != KN_CLI_OK)
        goto done; /* a misspelt --model fails now, not after the last epoch */
    kn_train_info info;
    kn_trainer_info(t, &info);
    const int64_t epochs = a.epochs ? a.epochs : info.epochs, batch = info.batch_size;
    const char *trained[8];
    const int ntrained = kn_trainer_num_trained(t, trained, 8);
    if ((rc = kn_train_check_outputs(&a, trained, ntrained)) != KN_CLI_OK)
        goto done;
    if (a.samples) {
        kn_tensor none;
        if (kn_trainer_generate(t, 1, 0, NULL, &none, &err) != KN_OK) { /* no generator: say so before training */
            rc = kn_cli_fail("--samples: %s", err.message);
            goto done;
        }
        free(none.data);
        if (lead && !kn_cli_mkdirs(a.samples)) {
            rc = kn_cli_fail("cannot create %s: %s", a.samples, strerror(errno));
            goto done;
        }
        if (!(history = malloc(sizeof *history * (size_t)(epochs * info.num_steps)))) {
            rc = kn_cli_fail("out of memory");
            goto done;
        }
        for (int64_t k = 0; k < epochs * info.num_steps; k++)
            history[k] = NAN;
    }
    if (kn_trainer_load_dataset(t, false, a.limit, &train, &err) != KN_OK ||
        (!a.no_eval && kn_trainer_load_dataset(t, true, a.limit, &test, &err) != KN_OK)) {
        rc = kn_cli_fail("%s", err.message);
        goto done;
    }
    const int64_t n = kn_dataset_count(train);
    if (n == 0) {
        rc = kn_cli_fail("%s: the training split is empty", a.file);
        goto done;
    }
    size_t sample, floats;
    if (kn_shape_numel(&info.image_shape, &sample) != KN_OK || !kn_size_mul(sample, (size_t)batch, &floats) ||
        floats > SIZE_MAX / sizeof(float)) {
        rc = kn_cli_fail("a batch of %lld samples is too large", (long long)batch);
        goto done;
    }
    img = malloc(sizeof(float) * floats);
    lab = malloc(sizeof(int64_t) * (size_t)batch);
    idx = malloc(sizeof(int64_t) * (size_t)batch);
    order = malloc(sizeof(int64_t) * (size_t)n);
    if (!img || !lab || !idx || !order) {
        rc = kn_cli_fail("out of memory");
        goto done;
    }
    int64_t start = 0;
    char ckpt[1200];
    if (a.resume_given) {
        const char *from = a.resume ? a.resume : a.ckpt_dir;
        struct stat sb;
        if (stat(from, &sb) == 0 && S_ISDIR(sb.st_mode))
            snprintf(ckpt, sizeof ckpt, "%s/latest.kcpt", from);
        else
            snprintf(ckpt, sizeof ckpt, "%s", from);
        if (kn_trainer_load_checkpoint(t, ckpt, &start, &err) != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            goto done;
        }
        printf("resumed from %s: %lld epochs done, step %lld\n", ckpt, (long long)start,
               (long long)kn_trainer_steps(t));
    }
    if (lead && a.ckpt_dir && !kn_cli_mkdirs(a.ckpt_dir)) {
        rc = kn_cli_fail("cannot create %s: %s", a.ckpt_dir, strerror(errno));
        goto done;
    }
    if (a.dump) { /* one batch, every tensor of it written out */
        const int64_t b = n < batch ? n : batch;
        kn_train_order(order, n, (uint64_t)a.seed, start, info.shuffle);
        kn_tensor x, y;
        if (!kn_cli_mkdirs(a.dump)) {
            rc = kn_cli_fail("cannot create %s: %s", a.dump, strerror(errno));
            goto done;
        }
        if (kn_dataset_batch(train, order, b, img, lab, &x, &y, &err) != KN_OK ||
            kn_trainer_dump_step(t, &x, &y, a.dump, &err) != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            goto done;
        }
        printf("wrote one training step (batch of %lld) to %s\n", (long long)b, a.dump);
        goto done;
    }
    const bool tty = isatty(STDOUT_FILENO) == 1;
    /* with N ranks, a last batch of fewer than N samples (one each) is left out */
    const int64_t nbatches = n % batch && n % batch < ranks ? n / batch : (n + batch - 1) / batch;
    if (nbatches == 0) {
        rc = kn_cli_fail("%lld samples cannot be split over %d ranks", (long long)n, ranks);
        goto done;
    }
    kn_trainer_set_total_steps(t, nbatches * epochs); /* a learning-rate schedule spans the whole run */
    printf("train '%s': %lld samples, %lld batches of %lld, %lld epochs%s%s (init %.1f s)\n", info.name, (long long)n,
           (long long)nbatches, (long long)batch, (long long)epochs,
           test ? ", evaluated on " : "", test ? "the test split" : "", kn_train_now() - t0);
    if (info.shared)
        printf("shared forward: %s\n", info.shared);
    if (info.ema > 0)
        printf("moving averages (ema %g, warm-up min(%g, (1 + n) / (10 + n))) of the trained models: the samples, "
               "the evaluation, checkpoints and -o use them\n", info.ema, info.ema);
    if (comm) {
        size_t bytes;
        int buckets;
        kn_trainer_comm_stats(t, &bytes, &buckets);
        printf("data parallel: %d ranks, %lld samples each per batch%s; %d gradient bucket%s, %.1f KiB per rank per "
               "batch%s\n", ranks, (long long)(batch / ranks), a.deterministic ? " (deterministic)" : "", buckets,
               buckets == 1 ? "" : "s", (double)bytes / 1024.0,
               n % batch && n % batch < ranks ? "; the last samples of each epoch, fewer than the ranks, are left out"
                                              : "");
    }
    fflush(stdout);
    struct sigaction sa = {0}, old;
    sa.sa_handler = kn_train_on_sigint;
    sigaction(SIGINT, &sa, &old);
    const int64_t last = a.stop_after && a.stop_after < epochs ? a.stop_after : epochs;
    for (int64_t e = start; e < last && !kn_train_stop; e++) {
        kn_train_order(order, n, (uint64_t)a.seed, e, info.shuffle);
        kn_train_report sum = {0};
        int64_t seen = 0;
        const double te = kn_train_now();
        for (int64_t bi = 0; bi < nbatches; bi++) {
            const int64_t at = bi * batch, b = n - at < batch ? n - at : batch;
            if (b < ranks)
                break;
            kn_tensor x, y;
            kn_train_report r;
            kn_status bst = kn_dataset_batch(train, order + at, b, img, lab, &x, &y, &err);
            if (bst == KN_OK) {
                kn_dataset_shift(&x, order + at, info.augment_shift, (uint64_t)a.seed, e);
                bst = kn_trainer_train_batch(t, &x, &y, &r, &err);
            }
            if (bst != KN_OK) {
                rc = kn_cli_fail("epoch %lld, batch %lld: %s", (long long)e + 1, (long long)bi + 1, err.message);
                goto restore;
            }
            kn_train_accumulate(&sum, &r, b);
            seen += b;
            for (int s = 0; s < r.num_steps; s++)
                if (!isfinite(r.loss[s])) {
                    rc = kn_cli_fail("epoch %lld, batch %lld: the loss is %g (diverged; lower the learning rate)",
                                     (long long)e + 1, (long long)bi + 1, r.loss[s]);
                    goto restore;
                }
            if (tty) {
                char m[256], eta[32];
                const double el = kn_train_now() - te;
                kn_train_metrics_str(&info, &sum, seen, "", m, sizeof m);
                printf("\r\033[Kepoch %lld/%lld %lld/%lld ETA %s - %s", (long long)e + 1, (long long)epochs,
                       (long long)bi + 1, (long long)nbatches,
                       kn_train_eta(el / (double)(bi + 1) * (double)(nbatches - bi - 1), eta, sizeof eta), m);
                fflush(stdout);
            }
            if (kn_train_stop)
                break;
        }
        const double el = kn_train_now() - te;
        if (kn_train_stop && seen < n) {
            printf("%sinterrupted in epoch %lld after %lld of %lld batches; the last checkpoint is kept%s%s\n",
                   tty ? "\r\033[K" : "", (long long)e + 1, (long long)((seen + batch - 1) / batch),
                   (long long)nbatches, a.ckpt_dir ? " in " : "", a.ckpt_dir ? a.ckpt_dir : "");
            rc = 130;
            goto restore;
        }
        char m[256], tm[256] = "";
        kn_train_metrics_str(&info, &sum, seen, "", m, sizeof m);
        if (test && kn_dataset_count(test) > 0) {
            kn_train_report ev;
            if (kn_train_evaluate(t, test, batch, ranks, img, lab, idx, &ev, &err) != KN_OK) {
                rc = kn_cli_fail("evaluation after epoch %lld: %s", (long long)e + 1, err.message);
                goto restore;
            }
            tm[0] = ' ';
            tm[1] = '-';
            tm[2] = ' ';
            kn_train_metrics_str(&info, &ev, ev.samples ? ev.samples : kn_dataset_count(test), "test_", tm + 3,
                                 sizeof tm - 3);
        }
        printf("%sepoch %lld/%lld - %.1f s (%.1f ms/step) - %s%s\n", tty ? "\r\033[K" : "", (long long)e + 1,
               (long long)epochs, el, el * 1e3 / (double)nbatches, m, tm);
        fflush(stdout);
        if (a.samples) {
            for (int s = 0; s < info.num_steps; s++)
                history[s * epochs + e] = seen ? sum.loss[s] / (double)seen : NAN;
            if (lead && (rc = kn_train_write_samples(t, &a, e + 1)) != KN_CLI_OK)
                goto restore;
        }
        if (lead && a.ckpt_dir) {
            char path[1200];
            snprintf(path, sizeof path, "%s/epoch_%03lld.kcpt", a.ckpt_dir, (long long)e + 1);
            snprintf(ckpt, sizeof ckpt, "%s/latest.kcpt", a.ckpt_dir);
            if (kn_trainer_save_checkpoint(t, e + 1, path, &err) != KN_OK ||
                kn_trainer_save_checkpoint(t, e + 1, ckpt, &err) != KN_OK) {
                rc = kn_cli_fail("%s", err.message);
                goto restore;
            }
        }
    }
    if (last < epochs)
        printf("stopped after epoch %lld of %lld (--stop-after)%s\n", (long long)last, (long long)epochs,
               a.ckpt_dir ? "; --resume continues from the checkpoint" : "");
    if (lead && a.samples && last > start) {
        char path[1200];
        snprintf(path, sizeof path, "%s/losses.svg", a.samples);
        char title[300];
        snprintf(title, sizeof title, "%s: mean loss per epoch", info.name);
        if (kn_svg_write_curves(path, title, "epoch", info.step_names, info.num_steps, history, (int)epochs,
                                &err) != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            goto restore;
        }
        printf("wrote %lld sample grids (%s/epoch_NNN.png) and %s\n", (long long)(last - start), a.samples, path);
    }
    if (lead && a.out && (rc = kn_train_export(t, &a, trained, ntrained)) != KN_CLI_OK)
        goto restore;
    if (lead && a.save_weights) {
        if (!kn_cli_mkdirs(a.save_weights)) {
            rc = kn_cli_fail("cannot create %s: %s", a.save_weights, strerror(errno));
            goto restore;
        }
        if (kn_trainer_save_weights(t, a.save_weights, &err) != KN_OK) {
            rc = kn_cli_fail("%s", err.message);
            goto restore;
        }
        printf("wrote the trained weights to %s\n", a.save_weights);
    }
    {
        /* memory: what the process peaked at, next to the planned arena of the step and the bytes kept */
        struct rusage ru;
        kn_memory_plan plan;
        size_t kept = 0;
        getrusage(RUSAGE_SELF, &ru);
        printf("peak RSS %.1f MiB", (double)ru.ru_maxrss / 1024.0);
        if (kn_trainer_memory_plan(t, 0, &plan, &kept, &err) == KN_OK) {
            printf(" (planned: training arenas %.1f MiB + weights and optimizer state %.1f MiB)",
                   (double)kn_trainer_arena_bytes(t) / 1048576.0, (double)kept / 1048576.0);
            kn_memory_plan_free(&plan);
        }
        err.message[0] = '\0';
        printf("\n");
    }
    printf("weights hash %016llx after %lld steps\n", (unsigned long long)kn_trainer_weights_hash(t),
           (long long)kn_trainer_steps(t));
    if (comm && (rc = kn_train_compare_ranks(t, &a, ranks)) != KN_CLI_OK)
        goto restore;
restore:
    sigaction(SIGINT, &old, NULL);
done:
    free(img);
    free(lab);
    free(idx);
    free(order);
    free(history);
    kn_dataset_free(train);
    kn_dataset_free(test);
    kn_trainer_free(t);
    return rc;
}
