/* core/train/pipeline.h - pipeline parallelism of the LM loop (TT-Train's
 * multihost_config.pipeline_parallel_config): the settings and the rank
 * layout (pipeline.c), the schedules and the point-to-point transfers of
 * activations and their gradients (pipeline_step.c). Never installed.
 *
 * Keys (multihost_config.pipeline_parallel_config):
 *   num_blocks: N              the model's transformer_config.num_blocks
 *   blocks_per_rank: {0: n0, 1: n1, ...}   (or a list [n0, n1, ...]) blocks
 *                              of each stage, in order; sum = num_blocks. The
 *                              first stage also runs the embeddings, the last
 *                              the final norm, head and loss.
 *   schedule: 1f1b | gpipe     ttml's own key: gpipe runs every micro-batch's
 *                              forward, then every backward (M activations
 *                              alive per stage); 1f1b (PipeDream-Flush, the
 *                              default) at most P.
 * Micro-batches = training_config.gradient_accumulation_steps.
 *
 * Rank layout (DESIGN.md, include/ttml/parallel.h): tp_rank = r % tp,
 * dp_rank = (r / tp) % dp, pp_rank = r / (tp * dp); the pipeline group holds
 * the ranks of one (tp_rank, dp_rank) (split color r % (tp * dp), key
 * pp_rank), so a TP rank exchanges activations with the same TP rank of the
 * neighbouring stages; the data-parallel group holds the replicas of one
 * stage's shard, the TP group the shards of one stage. */
#ifndef TTML_CORE_TRAIN_PIPELINE_H
#define TTML_CORE_TRAIN_PIPELINE_H

#include <ttml/ttml.h>
#include <ttml/comm.h>

#define TTML_PP_MAX_STAGES 64

typedef struct ttml_pp_settings {
    gboolean enabled;            /* pipeline_parallel_config present         */
    gint64 num_blocks;
    int stages;                  /* number of entries of blocks_per_rank     */
    gint64 blocks[TTML_PP_MAX_STAGES];
    gboolean gpipe;              /* schedule: gpipe (else 1f1b)              */
} ttml_pp_settings;

/* Read multihost_config.pipeline_parallel_config from the config root (marks
 * its keys used). Absent: enabled = FALSE. Errors: TTML_ERROR_CONFIG with
 * file:line:col. */
gboolean ttml_pp_settings_read(ttml_config *root, ttml_pp_settings *out, GError **error);

/* One rank's stage. */
typedef struct ttml_pipeline {
    int stages, stage;           /* P and this rank's stage (pp_rank)        */
    gint64 first, end;           /* blocks [first, end) run here             */
    gboolean gpipe;
    ttml_comm *comm;             /* the pipeline group (borrowed)            */
    ttml_comm *tp;               /* the stage's TP group (borrowed; NULL: no TP) */
    ttml_module *model;          /* the whole model (borrowed)               */
    GPtrArray *params;           /* this stage's parameters (ttml_param*, owned; tensors are the model's) */
    int64_t act_shape[4];        /* activations between stages [B, 1, S, E] */
    /* the last step: bytes sent, time in transfers and time blocked waiting
     * for a peer (ms), the step's wall time (ms) */
    guint64 comm_bytes;
    double comm_ms, wait_ms, step_ms;
    gint64 micro_batches;        /* M of the last step                       */
    gint64 max_in_flight;        /* most micro-batches with activations alive */
    /* RNG draws of one micro-batch's forward (dropout masks): all stages'
     * and those of the stages before this one; counted once, at the first
     * step, so every stage draws at the positions a one-stage run would */
    gboolean draws_counted;
    guint64 draws_total, draws_before;
} ttml_pipeline;

/* The stage of this rank in `comm` (the pipeline group) of the whole model
 * `model` (built identically on every rank; under tensor parallelism, `tp`
 * (else NULL) is the stage's TP group the model was sharded over: the
 * activations between stages are the replicated ones, every TP rank sends
 * to the rank of its tp_rank in the next stage, and the last stage's loss is
 * the vocab-parallel cross-entropy). Errors: a model without
 * stage_forward, weight tying (the embedding and the head would live on
 * different stages), num_blocks that differ from the model's. Free with
 * ttml_pipeline_free. */
ttml_pipeline *ttml_pipeline_new(const ttml_pp_settings *s, ttml_comm *comm, ttml_comm *tp, ttml_module *model,
                                 gint64 batch, gint64 seq_len, GError **error);
void ttml_pipeline_free(ttml_pipeline *pl);

/* ---- the step (pipeline_step.c) ---- */

/* One micro-batch's data: ids and targets, host rows [B, S] each. */
typedef struct ttml_pp_batch {
    ttml_tensor *inputs, *targets;       /* device tensors [B,1,1,S] u32 (borrowed) */
    const guint32 *in_host, *tgt_host;   /* micro-batch m at + m * stride           */
    gsize stride;
    gint64 micro_batches, vocab;
    /* Called before each backward with last = TRUE before the stage's last
     * one (DDP syncs its buckets then); may be NULL. */
    void (*before_backward)(gpointer data, gboolean last);
    gpointer data;
} ttml_pp_batch;

/* Forward and backward of every micro-batch through the pipeline with the
 * configured schedule; gradients accumulate into the stage's parameters.
 * *loss = the mean loss over micro-batches on every stage. Micro-batch m's
 * forward on each stage draws from the RNG position a one-stage run would
 * (so dropout masks are the same), and the step leaves every stage at the
 * RNG state of a one-stage run. The first step first runs one forward with
 * gradients off through the pipeline to count each stage's draws. */
gboolean ttml_pipeline_train_step(ttml_pipeline *pl, const ttml_pp_batch *b, double *loss, GError **error);
/* Forward only (gradients off): the loss of one batch on every stage. */
gboolean ttml_pipeline_eval(ttml_pipeline *pl, ttml_tensor *inputs, ttml_tensor *targets, gint64 vocab,
                            double *loss, GError **error);
/* clip_grad_norm over the whole model: the squared norms of every stage's
 * gradients (summed over its TP shards) are summed over the pipeline group. */
gboolean ttml_pipeline_clip(ttml_pipeline *pl, double max_norm, GError **error);

#endif
