/*
 * mpi.c - `mpirun -np N kiln train`: the kn_collective of kiln.h on MPI, for
 * the train command (cli/train.c). MPI starts only when the process was
 * launched by an MPI launcher (Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE;
 * MPICH and others PMI_SIZE): plain `kiln train` never touches MPI.
 *
 * Every collective is non-blocking (MPI_Iallreduce, MPI_Iallgather,
 * MPI_Ibcast on a duplicate of MPI_COMM_WORLD whose errors are returned, not
 * fatal). Waiting polls MPI_Test against a deadline (--comm-timeout), so a
 * rank that died or hangs makes the others stop with an error naming the
 * timeout instead of blocking forever. Starting a collective also tests the
 * ones in flight: Open MPI advances a non-blocking collective only inside
 * MPI calls, so each bucket's start pushes the earlier buckets along while
 * the backward pass runs.
 *
 * Built without MPI (-DKILN_WITH_MPI=OFF), a launch on several ranks is an
 * error rather than N copies training alone.
 */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ir.h" /* kn_error_set */
#ifdef KILN_WITH_MPI
#include <mpi.h>
#endif

/* The ranks the launcher says this process has (1: not launched by one). */
static int kn_mpi_env_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v) > 0 ? atoi(v) : 1;
    }
    return 1;
}

#ifdef KILN_WITH_MPI

#define KN_MPI_MAX_PENDING 256

typedef struct kn_mpi {
    kn_collective coll;
    MPI_Comm comm;
    double timeout_s;
    struct {
        void *buf;
        MPI_Request req;
        bool done;
    } pending[KN_MPI_MAX_PENDING];
    int npending;
} kn_mpi;

static kn_mpi kn_mpi_state;
static bool kn_mpi_started;

static double kn_mpi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static kn_status kn_mpi_fail(kn_error *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return kn_error_set(err, KN_ERR_IO, "rank %d: %s failed: %s", kn_mpi_state.coll.rank, what, msg);
}

static kn_status kn_mpi_start(void *ctx, kn_collective_kind kind, void *buf, size_t count, kn_dtype dtype,
                              kn_error *err)
{
    kn_mpi *m = ctx;
    if (count > INT_MAX)
        return kn_error_set(err, KN_ERR_OVERFLOW, "a collective of %zu elements is more than MPI's int count", count);
    MPI_Datatype type = dtype == KN_F32 ? MPI_FLOAT : dtype == KN_F64 ? MPI_DOUBLE : dtype == KN_I64 ? MPI_INT64_T
                                                                                                       : MPI_BYTE;
    if (kind == KN_COLL_SUM && dtype != KN_F32 && dtype != KN_F64)
        return kn_error_set(err, KN_ERR_DTYPE, "a sum over the ranks of %s", kn_dtype_name(dtype));
    /* progress for the collectives in flight, and a slot for this one */
    int slot = -1;
    for (int i = 0; i < m->npending; i++) {
        if (!m->pending[i].buf) {
            slot = slot < 0 ? i : slot;
            continue;
        }
        if (m->pending[i].buf == buf)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "rank %d: a collective on this buffer is already in flight",
                                m->coll.rank);
        int flag = 0;
        if (!m->pending[i].done) {
            const int rc = MPI_Test(&m->pending[i].req, &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                return kn_mpi_fail(err, rc, "MPI_Test");
            m->pending[i].done = flag != 0;
        }
    }
    if (slot < 0) {
        if (m->npending == KN_MPI_MAX_PENDING)
            return kn_error_set(err, KN_ERR_INVALID_ARG, "more than %d collectives in flight", KN_MPI_MAX_PENDING);
        slot = m->npending++;
    }
    MPI_Request req;
    int rc;
    const char *what;
    if (kind == KN_COLL_SUM) {
        what = "MPI_Iallreduce";
        rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, type, MPI_SUM, m->comm, &req);
    } else if (kind == KN_COLL_GATHER) {
        what = "MPI_Iallgather";
        rc = MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, (int)count, type, m->comm, &req);
    } else {
        what = "MPI_Ibcast";
        rc = MPI_Ibcast(buf, (int)count, type, 0, m->comm, &req);
    }
    if (rc != MPI_SUCCESS)
        return kn_mpi_fail(err, rc, what);
    m->pending[slot].buf = buf;
    m->pending[slot].req = req;
    m->pending[slot].done = false;
    return KN_OK;
}

static kn_status kn_mpi_wait(void *ctx, void *buf, kn_error *err)
{
    kn_mpi *m = ctx;
    int slot = -1;
    for (int i = 0; i < m->npending && slot < 0; i++)
        if (m->pending[i].buf == buf)
            slot = i;
    if (slot < 0)
        return kn_error_set(err, KN_ERR_INVALID_ARG, "rank %d: no collective in flight on this buffer", m->coll.rank);
    const double deadline = kn_mpi_now() + m->timeout_s;
    kn_status st = KN_OK;
    for (long polls = 0; !m->pending[slot].done; polls++) {
        int flag = 0;
        const int rc = MPI_Test(&m->pending[slot].req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            st = kn_mpi_fail(err, rc, "MPI_Test");
            break;
        }
        if (flag)
            break;
        if (kn_mpi_now() > deadline) {
            st = kn_error_set(err, KN_ERR_IO, /* not KN_ERR_TIMEOUT: that one is a session's run time limit */
                              "rank %d of %d: the other ranks did not answer for %g s (one of them died, hangs or "
                              "failed; see its message, and --comm-timeout)",
                              m->coll.rank, m->coll.size, m->timeout_s);
            break;
        }
        if (polls < 1000) {
            sched_yield();
        } else { /* a long wait (another rank's slower step): poll every 50 us */
            const struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
    m->pending[slot].buf = NULL;
    while (m->npending > 0 && !m->pending[m->npending - 1].buf)
        m->npending--;
    return st;
}

int kn_cli_mpi_init(double timeout_s, const kn_collective **out)
{
    *out = NULL;
    if (kn_mpi_env_size() <= 1 && !kn_mpi_started)
        return KN_CLI_OK;
    if (!kn_mpi_started) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return kn_cli_fail("MPI_Init failed");
        kn_mpi_started = true;
    }
    kn_mpi *m = &kn_mpi_state;
    memset(m, 0, sizeof *m);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(m->comm, &m->coll.rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(m->comm, &m->coll.size);
    if (rc != MPI_SUCCESS)
        return kn_cli_fail("MPI: cannot set up the communicator");
    m->coll.ctx = m;
    m->coll.start = kn_mpi_start;
    m->coll.wait = kn_mpi_wait;
    m->timeout_s = timeout_s;
    *out = &m->coll;
    return KN_CLI_OK;
}

void kn_cli_mpi_finish(int rc)
{
    if (!kn_mpi_started)
        return;
    fflush(stdout);
    fflush(stderr);
    if (rc != KN_CLI_OK && kn_mpi_state.coll.size > 1) /* the other ranks may be waiting for this one: stop them */
        MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Comm_free(&kn_mpi_state.comm);
    MPI_Finalize();
    kn_mpi_started = false;
}

bool kn_cli_mpi_built(void)
{
    return true;
}

#else /* !KILN_WITH_MPI */

int kn_cli_mpi_init(double timeout_s, const kn_collective **out)
{
    (void)timeout_s;
    *out = NULL;
    const int n = kn_mpi_env_size();
    if (n > 1)
        return kn_cli_fail("launched on %d MPI ranks, but this kiln was built without MPI (KILN_WITH_MPI=OFF; install "
                           "libopenmpi-dev and rebuild)", n);
    return KN_CLI_OK;
}

void kn_cli_mpi_finish(int rc)
{
    (void)rc;
}

bool kn_cli_mpi_built(void)
{
    return false;
}

#endif
