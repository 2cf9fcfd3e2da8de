/* ttml/ops_parallel.h - tensor parallelism (after Megatron-LM and TT-Train's
 * modules/distributed and ops/distributed): shard descriptions of
 * parameters, the conjugate collective ops of a tensor-parallel (TP) group
 * with their backward, vocab-parallel cross-entropy, the TP group models are
 * built for, and global-norm clipping over shards.
 *
 * The collective ops run on host copies of the values (every driver) over a
 * ttml_comm (comm.h); every rank of the group must call the same ops in the
 * same order (as every collective). Results are new references; inputs and
 * the communicator are borrowed (the communicator must outlive the graph).
 * Errors: the communicator's (TTML_ERROR_DEVICE, fail-stop) or
 * TTML_ERROR_SHAPE / TTML_ERROR_INVALID_ARG naming the op and the numbers.
 */
#ifndef TTML_OPS_PARALLEL_H
#define TTML_OPS_PARALLEL_H

#include <ttml/ops.h>
#include <ttml/comm.h>

G_BEGIN_DECLS

/* ---- shards ----
 * Which slice of an unsharded tensor of shape full[0..ndim) a tensor holds:
 * dimension `dim` is made of `groups` equal blocks (a fused q|k|v weight: 3;
 * otherwise 1) and each block is cut into `parts` equal pieces; shard `index`
 * holds piece `index` of every block, blocks in order. A parameter carries its
 * shard in ttml_tensor.shard (NULL: the whole, replicated tensor);
 * checkpoints use the unsharded names and shapes. */
struct ttml_shard {
    int dim, groups, parts, index;
    int ndim;
    int64_t full[TTML_MAX_DIMS];
};

/* Describe shard `index` of `parts` of a tensor of shape full along `dim`.
 * FALSE with TTML_ERROR_SHAPE naming the extent, groups and parts when
 * full[dim] is not a multiple of groups * parts (what = the tensor's name). */
TTML_API gboolean ttml_shard_init(ttml_shard *s, const char *what, int ndim, const int64_t *full, int dim, int groups, int parts, int index, GError **error);
/* The shard's own shape (s->ndim extents). */
TTML_API void ttml_shard_shape(const ttml_shard *s, int64_t *shape);
/* Copy 4-byte elements between the unsharded row-major array `full` and the
 * shard's array `part`: to_full FALSE fills part from full, TRUE writes part
 * into its place in full. */
TTML_API void ttml_shard_copy(const ttml_shard *s, void *full, void *part, gboolean to_full);
/* Attach a copy of s to t (NULL detaches). */
TTML_API void ttml_tensor_set_shard(ttml_tensor *t, const ttml_shard *s);

/* ---- the TP group models are built for ----
 * Set by the training application before it creates a model (per thread;
 * borrowed: the caller keeps it alive as long as models built under it);
 * NULL (the default) or a one-rank group = no tensor parallelism. */
TTML_API void ttml_tp_set_group(ttml_comm *tp);
TTML_API ttml_comm *ttml_tp_get_group(void);

/* Communication of the TP ops of this thread since the last reset: bytes
 * moved per rank (all-reduce counted once per element byte) and wall time. */
typedef struct ttml_tp_stats { guint64 bytes; double ms; guint64 calls; } ttml_tp_stats;
TTML_API void ttml_tp_stats_add(guint64 bytes, double ms);
TTML_API ttml_tp_stats ttml_tp_stats_take(void);   /* returns and resets */

/* ---- the conjugate ops (parallel_ops plugin) ---- */
/* Megatron's "copy to TP region": identity forward, all-reduce (sum) of the
 * gradient in backward. Put before a column-parallel linear. */
TTML_API ttml_tensor *ttml_tp_copy(ttml_tensor *x, ttml_comm *tp, GError **error);
/* "reduce from TP region": all-reduce (sum) forward, identity backward. Put
 * after a row-parallel linear (its bias is added after this, once). */
TTML_API ttml_tensor *ttml_tp_reduce(ttml_tensor *x, ttml_comm *tp, GError **error);
/* All-gather along the last dim (rank order) forward; backward keeps this
 * rank's slice of the gradient. */
TTML_API ttml_tensor *ttml_tp_gather(ttml_tensor *x, ttml_comm *tp, GError **error);
/* The conjugate of tp_gather: this rank's slice of the last dim (which must
 * divide by the group size) forward; backward all-gathers the gradient. Put
 * before a row-parallel linear whose input is replicated. */
TTML_API ttml_tensor *ttml_tp_scatter(ttml_tensor *x, ttml_comm *tp, GError **error);
/* Mean cross-entropy of vocab-sharded logits [..., V/tp] (rank r holds
 * columns r*V/tp .. (r+1)*V/tp - 1) against global u32 targets (one per row,
 * as ttml_cross_entropy_loss); columns >= valid_vocab are ignored
 * (valid_vocab <= 0: none). Local max, all-reduced global max, all-reduced
 * sum of exponentials and target logit (TT-Train's losses.cpp). -> [1],
 * the same on every rank. */
TTML_API ttml_tensor *ttml_vocab_parallel_cross_entropy(ttml_tensor *logits, ttml_tensor *targets, ttml_comm *tp, int64_t valid_vocab, GError **error);

/* Op params (for ttml_op_call): "tp_copy", "tp_reduce", "tp_gather", "tp_scatter" take
 * {comm}; "vocab_parallel_cross_entropy" in = {logits, targets (u32)}. */
typedef struct { ttml_comm *comm; } ttml_tp_op_params;
typedef struct { ttml_comm *comm; int64_t valid_vocab; } ttml_vocab_ce_op_params;

/* ---- clipping over shards ----
 * ttml_clip_grad_norm (optimizer.h) when parameters are sharded over `tp`:
 * the global norm is sqrt(all-reduce over tp of the sharded parameters'
 * squared norms + the replicated ones' counted once), so every rank scales by
 * the same factor as an unsharded run. tp NULL = ttml_clip_grad_norm. */
TTML_API gboolean ttml_clip_grad_norm_tp(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, ttml_comm *tp, double *total_norm, GError **error);
/* The same over a TP x PP mesh: `params` are this rank's (its stage's,
 * sharded over tp); the stage's squared norm (as above) is then summed over
 * `stages`, the pipeline group (one rank per stage, the same tp rank), so
 * every rank scales by the factor of clipping the whole unsharded model.
 * tp and stages may be NULL (no TP / one stage). Errors: as
 * ttml_clip_grad_norm, or the communicator's. */
TTML_API gboolean ttml_clip_grad_norm_mesh(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, ttml_comm *tp, ttml_comm *stages, double *total_norm, GError **error);

G_END_DECLS

#endif
