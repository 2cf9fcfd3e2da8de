/* ttml/comm.h - communicators (after MPI and TT-Train's distributed ops).
 *
 * A communicator is a group of ranks that run collectives together. The
 * backends are plugins of kind TTML_PLUGIN_COMM (ABI 1.2) registered through
 * host->register_comm:
 *   "mpi"    Open MPI between processes and hosts (its own .so links libmpi;
 *            one rank per process, the world comes from mpirun's environment,
 *            or a one-rank world without it);
 *   "local"  ranks as threads of one process over shared memory (the devices
 *            of one host's mesh; fast tests). Not a network transport.
 *
 * Rules (as MPI's): every rank of a communicator calls the same collectives in
 * the same order with the same counts and dtypes; buffers are host memory;
 * a non-blocking call's buffer must stay valid and untouched until its
 * ttml_comm_wait(). Reductions: fp32 and bf16, sum or max; bf16 sums are
 * accumulated in fp32 per step and rounded to nearest even.
 *
 * Errors: every call returns FALSE / NULL and sets a GError naming the
 * backend, this rank and the call ("mpi rank 1/2: MPI_Iallreduce failed:
 * ..."): TTML_ERROR_DEVICE for communication failures, TTML_ERROR_INVALID_ARG
 * / TTML_ERROR_DTYPE for bad arguments. A wait that exceeds the world's
 * timeout fails (local: naming the rank or ranks that did not arrive; mpi:
 * the call that did not complete, as MPI cannot tell which peer died). Failures are fail-stop: after an error the
 * communicator is only good for ttml_comm_abort() and ttml_comm_free().
 */
#ifndef TTML_COMM_H
#define TTML_COMM_H

#include <ttml/types.h>
#include <ttml/error.h>

G_BEGIN_DECLS

typedef struct ttml_comm ttml_comm;                 /* core-owned handle       */
typedef struct ttml_comm_request ttml_comm_request; /* a pending operation     */

typedef enum { TTML_COMM_SUM = 0, TTML_COMM_MAX = 1 } ttml_comm_op;

/* Options of a world (NULL = defaults). */
typedef struct ttml_comm_options {
    size_t struct_size;
    /* A wait that takes longer fails naming the missing rank(s); <= 0 = 300 s. */
    double timeout_s;
} ttml_comm_options;

/* ---- the backend vtable (plugins implement it) ----
 *
 * `s` is the backend's per-rank state. Non-blocking entries return a request
 * handle (never NULL on success; it may already be complete) that the core
 * passes to exactly one wait(), which frees it. Entries after `free` are
 * optional tail entries (NULL or beyond struct_size = not supported). */
typedef struct ttml_comm_iface {
    size_t struct_size;
    const char *name;          /* "mpi", "local"                                */
    const char *description;
    /* Create the world. `n` is the number of ranks to create in this process:
     * the local backend creates n (>= 1) ranks and writes their states to
     * states[0..n-1]; a process backend (mpi) accepts only n == 1 and writes
     * this process's rank. */
    gboolean (*create_world)(int n, const ttml_comm_options *options, void **states, GError **error);
    int (*rank)(void *s);
    int (*size)(void *s);
    /* Collective: ranks with the same color form a new communicator, ordered
     * by (key, rank). Returns the new state. */
    void *(*split)(void *s, int color, int key, GError **error);
    void *(*ibarrier)(void *s, GError **error);
    void *(*iallreduce)(void *s, void *buf, size_t count, ttml_dtype dtype, ttml_comm_op op,
                        GError **error);
    /* recv holds size * count elements, rank r's block at r * count. */
    void *(*iallgather)(void *s, const void *send, void *recv, size_t count, ttml_dtype dtype,
                        GError **error);
    /* send holds size * count elements; recv gets this rank's reduced block. */
    void *(*ireduce_scatter)(void *s, const void *send, void *recv, size_t count, ttml_dtype dtype,
                             ttml_comm_op op, GError **error);
    void *(*ibroadcast)(void *s, void *buf, size_t bytes, int root, GError **error);
    void *(*isend)(void *s, const void *buf, size_t bytes, int peer, int tag, GError **error);
    void *(*irecv)(void *s, void *buf, size_t bytes, int peer, int tag, GError **error);
    /* Complete and free `req` (blocking, bounded by the world's timeout). */
    gboolean (*wait)(void *s, void *req, GError **error);
    /* End every rank of the job (mpi: MPI_Abort; local: every waiter fails). */
    void (*abort)(void *s, int code);
    void (*free)(void *s);
    /* Optional: drive progress; *done = TRUE when `req` completed (it stays
     * valid until wait()). */
    gboolean (*test)(void *s, void *req, gboolean *done, GError **error);
} ttml_comm_iface;

/* ---- observing collectives (simulated timing) ----
 * An observer set on a communicator is called on the calling thread when any
 * collective or point-to-point call starts on it (before the backend runs
 * it), with what it moves; communicators split from it inherit it. The mesh
 * runner uses it to charge each chip's simulated device the collective's
 * Ethernet time. */
typedef enum {
    TTML_COMM_KIND_ALLREDUCE = 0,
    TTML_COMM_KIND_ALLGATHER,
    TTML_COMM_KIND_REDUCE_SCATTER,
    TTML_COMM_KIND_BROADCAST,
    TTML_COMM_KIND_BARRIER,
    TTML_COMM_KIND_SEND,
    TTML_COMM_KIND_RECV
} ttml_comm_kind;

typedef struct ttml_comm_event {
    size_t struct_size;
    ttml_comm_kind kind;
    const char *name;  /* "all-reduce", "all-gather", "reduce-scatter", "broadcast", "barrier", "send", "recv" */
    /* all-reduce / broadcast: the buffer; all-gather: this rank's block;
     * reduce-scatter: the whole send buffer; send / recv: the message;
     * barrier: 0 */
    guint64 bytes;
    int size;          /* ranks in the communicator */
    int rank;
} ttml_comm_event;

typedef void (*ttml_comm_observer_fn)(const ttml_comm_event *event, gpointer user_data);

/* ---- the public calls ---- */

/* Create the world of backend `name` ("mpi" or "local"). `n` ranks are
 * created in this process (local: n threads' handles in ranks[0..n-1], each
 * to be used by one thread; mpi: n must be 1 and ranks[0] is this process's
 * rank of the mpirun job, or a one-rank world without mpirun). The caller
 * owns the handles (ttml_comm_free). Unknown backend: TTML_ERROR_NOT_FOUND
 * listing the registered ones and the rejected plugin files (libmpi missing). */
TTML_API gboolean ttml_comm_world(const char *name, int n, const ttml_comm_options *options, ttml_comm **ranks,
                         GError **error);
/* Shorthand for tests and the multi-chip mesh: n ranks of the local backend. */
TTML_API gboolean ttml_comm_local_world(int n, ttml_comm **ranks, GError **error);
/* Set (fn NULL: remove) the observer of `comm` (user_data borrowed; it must
 * outlive the communicator and the ones split from it). */
TTML_API void ttml_comm_set_observer(ttml_comm *comm, ttml_comm_observer_fn fn, gpointer user_data);
/* Free a handle (not collective). NULL-safe. */
TTML_API void ttml_comm_free(ttml_comm *comm);

TTML_API int ttml_comm_rank(const ttml_comm *comm);
TTML_API int ttml_comm_size(const ttml_comm *comm);
TTML_API const char *ttml_comm_backend(const ttml_comm *comm);
/* Collective; the caller owns the new communicator. */
TTML_API ttml_comm *ttml_comm_split(ttml_comm *comm, int color, int key, GError **error);

TTML_API gboolean ttml_comm_barrier(ttml_comm *comm, GError **error);
/* In place over `count` elements of `buf` (f32 or bf16). */
TTML_API gboolean ttml_comm_allreduce(ttml_comm *comm, void *buf, size_t count, ttml_dtype dtype,
                             ttml_comm_op op, GError **error);
TTML_API ttml_comm_request *ttml_comm_iallreduce(ttml_comm *comm, void *buf, size_t count, ttml_dtype dtype,
                                        ttml_comm_op op, GError **error);
TTML_API gboolean ttml_comm_allgather(ttml_comm *comm, const void *send, void *recv, size_t count,
                             ttml_dtype dtype, GError **error);
TTML_API gboolean ttml_comm_reduce_scatter(ttml_comm *comm, const void *send, void *recv, size_t count,
                                  ttml_dtype dtype, ttml_comm_op op, GError **error);
TTML_API gboolean ttml_comm_broadcast(ttml_comm *comm, void *buf, size_t bytes, int root, GError **error);
TTML_API gboolean ttml_comm_send(ttml_comm *comm, const void *buf, size_t bytes, int peer, int tag, GError **error);
TTML_API gboolean ttml_comm_recv(ttml_comm *comm, void *buf, size_t bytes, int peer, int tag, GError **error);
TTML_API ttml_comm_request *ttml_comm_isend(ttml_comm *comm, const void *buf, size_t bytes, int peer, int tag,
                                   GError **error);
TTML_API ttml_comm_request *ttml_comm_irecv(ttml_comm *comm, void *buf, size_t bytes, int peer, int tag,
                                   GError **error);
/* Drive progress of a pending request (MPI progresses non-blocking
 * collectives only inside MPI calls): *done = TRUE when it has completed.
 * The request stays valid until ttml_comm_wait(). */
TTML_API gboolean ttml_comm_test(ttml_comm_request *req, gboolean *done, GError **error);
/* Complete and free a request (also on failure). */
TTML_API gboolean ttml_comm_wait(ttml_comm_request *req, GError **error);
/* Fail-stop the whole job with `code`. */
TTML_API void ttml_comm_abort(ttml_comm *comm, int code);

G_END_DECLS

#endif
