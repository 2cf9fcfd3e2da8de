/* ttml/ddp.h - the data-parallel gradient reducer (after PyTorch's DDP
 * Reducer and TT-Train's synchronize_gradients).
 *
 * One reducer per rank, over the same parameter list on every rank:
 *   - ttml_ddp_new() broadcasts every parameter from rank 0 (collective);
 *   - parameters are packed into buckets of at most bucket_cap_mb (f32
 *     gradients; one larger parameter gets a bucket of its own) in reverse
 *     parameter order, which is roughly the order backward finishes them;
 *   - during a synchronising backward (ttml_ddp_set_sync(TRUE), the default)
 *     a gradient-ready hook (ttml_set_grad_ready_hook) copies each final
 *     gradient into its bucket and starts the bucket's non-blocking
 *     all-reduce as soon as its last gradient is in, buckets in index order
 *     on every rank, so communication overlaps the rest of backward;
 *   - ttml_ddp_finish() (= ttml_ddp_wait() + ttml_ddp_apply()) starts what
 *     is left, waits for every bucket and writes the average (the sum of
 *     each rank's gradient / N, scaled as it is packed) back
 *     into each parameter's ->grad, so every rank holds identical gradients
 *     and a global-norm clip gives the same result everywhere.
 * With gradient accumulation, call ttml_ddp_set_sync(FALSE) before the
 * backward of every micro-step but the last: gradients then accumulate
 * locally and are all-reduced once per optimizer step.
 *
 * Threads: ranks that are threads of one process (the local communicator,
 * a simulated mesh) each use their own reducer, model and per-thread context
 * (autograd.h) concurrently; a reducer belongs to one thread.
 * Errors: GErrors from the communicator, prefixed with "DDP".
 */
#ifndef TTML_DDP_H
#define TTML_DDP_H

#include <ttml/comm.h>
#include <ttml/tensor.h>

G_BEGIN_DECLS

typedef struct ttml_ddp ttml_ddp;

#define TTML_DDP_BUCKET_CAP_MB_DEFAULT 25.0

typedef struct ttml_ddp_stats {
    double comm_ms;        /* time spent in communication calls (starting + waiting), last step */
    double wait_ms;        /* of which waiting in ttml_ddp_wait(), last step                   */
    guint64 comm_bytes;    /* bytes all-reduced per rank, last step                             */
    guint n_buckets;
    guint64 bucket_bytes_max;
    guint n_overlapped;    /* buckets started from backward hooks, last step                   */
} ttml_ddp_stats;

/* `params` is a GPtrArray of ttml_param* (module.h; borrowed, kept alive by
 * the caller; its order must be the same on every rank). `comm` is borrowed.
 * bucket_cap_mb <= 0 means the default (25). Collective: broadcasts the
 * parameters from rank 0. */
TTML_API ttml_ddp *ttml_ddp_new(ttml_comm *comm, GPtrArray *params, double bucket_cap_mb, GError **error);
/* Removes the hooks. NULL-safe. */
TTML_API void ttml_ddp_free(ttml_ddp *ddp);
/* FALSE: the next backwards only accumulate locally (micro-steps). */
TTML_API void ttml_ddp_set_sync(ttml_ddp *ddp, gboolean sync);
/* FALSE: buckets are only started in ttml_ddp_wait() (to measure overlap). */
TTML_API void ttml_ddp_set_overlap(ttml_ddp *ddp, gboolean overlap);
/* After the synchronising backward: start the buckets not started yet
 * (parameters the graph did not reach count as zero gradients) and wait. */
TTML_API gboolean ttml_ddp_wait(ttml_ddp *ddp, GError **error);
/* Write the averaged gradients into the parameters' ->grad. */
TTML_API gboolean ttml_ddp_apply(ttml_ddp *ddp, GError **error);
TTML_API gboolean ttml_ddp_finish(ttml_ddp *ddp, GError **error);
TTML_API ttml_ddp_stats ttml_ddp_get_stats(const ttml_ddp *ddp);
/* Bucket k (0 = the last parameters, all-reduced first): its size and when
 * its last gradient was final in the last synchronising step, in ms after
 * that step's first final gradient (for overlap and scaling estimates).
 * FALSE when k >= n_buckets. */
TTML_API gboolean ttml_ddp_bucket_info(const ttml_ddp *ddp, guint k, guint64 *bytes, double *ready_ms);

G_END_DECLS

#endif
