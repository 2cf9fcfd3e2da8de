/* core/train/train_app.h - the functions the files of the training
 * application share: the dispatcher (train.c) runs one of the loops
 * (train_regression.c, train_lm.c), which use the shared run helpers
 * (train_run.c), the LM model builder (lm_model.c), text data (lm_data.c),
 * progress output (progress.c) and training-state checkpoints
 * (train_state.c, also read by generate.c). Public headers only; never
 * installed. */
#ifndef TTML_CORE_TRAIN_APP_H
#define TTML_CORE_TRAIN_APP_H

#include <ttml/ttml.h>

#include <stdio.h>

/* ---- the loops (train_regression.c, train_lm.c) ---- */
/* The whole job (init, train, shutdown); `root` is the parsed config of
 * options->config_path (owned by the caller). */
gboolean ttml_train_regression_run(const ttml_run_options *options, ttml_config *root, GError **error);
gboolean ttml_train_lm_run(const ttml_run_options *options, ttml_config *root, GError **error);
/* Run every reader of the loop on `root` without training (ttml_train_check_config):
 * no plugin, device, corpus or file is touched; keys the model, optimizer,
 * scheduler (and the regression dataset) read when built count as used, so
 * the unknown-key check covers the rest. `options` may be NULL. */
gboolean ttml_train_lm_check(const ttml_run_options *options, ttml_config *root, GError **error);
gboolean ttml_train_regression_check(ttml_config *root, GError **error);
/* One rank of a language-model job inside an initialised ttml (the mesh
 * runner's rank threads, mesh.c): `root` parsed by this rank, `device` its
 * chip (becomes the thread's default device), `world` its rank of the world
 * (borrowed; DDP over it). Everything of ttml_train_lm_run but init and
 * shutdown; ranks > 0 get options with quiet set and no metrics file. */
gboolean ttml_train_lm_rank(const ttml_run_options *options, ttml_config *root, ttml_device *device,
                            ttml_comm *world, GError **error);

/* ---- the simulated multi-chip mesh (mesh.c) ---- */
/* The number of chips when the run is a mesh run (device_config.device, or
 * options->device, naming a mesh board such as ttsim:n300 or ttsim:t3k, and
 * device_config.mesh_shape asking for more than one device); 0 otherwise. */
int ttml_train_mesh_chips(const ttml_run_options *options, ttml_config *root);
/* The whole mesh job: ttml_init, one device per chip, one rank thread per
 * chip (rank 0 on the calling thread) running ttml_train_lm_rank over a
 * `local` world whose collectives are charged to each chip's simulated
 * Ethernet, then ttml_shutdown. */
gboolean ttml_train_mesh_run(const ttml_run_options *options, ttml_config *root, GError **error);

/* ---- shared run helpers (train_run.c) ---- */
/* A section or nested *_config map: absent or empty -> *out = NULL. */
gboolean ttml_train_get_map(ttml_config *parent, const char *key, const char *example,
                            ttml_config **out, GError **error);
/* "file:line:col: 'key' must be RULE, got VALUE"; returns FALSE. */
gboolean ttml_train_range_error(ttml_config *map, const char *key, const char *rule, double value,
                                GError **error);
/* --check: the maps in built[0..n) (NULL ones skipped) are read by plugins
 * when built, so they count as used; then the unknown-key check of root. */
gboolean ttml_train_check_unused_but(ttml_config *root, ttml_config *const *built, int n, GError **error);
/* Prefix a not-found error with where `key` was written in map. */
void ttml_train_locate_not_found(GError **error, ttml_config *map, const char *key);
/* A JSON number ("null" when not finite). */
void ttml_train_json_number(char *buf, size_t size, double v, const char *fmt);
gboolean ttml_train_metrics_write(FILE *f, const char *path, const char *line, GError **error);
/* Peak resident set (VmHWM of /proc/self/status) in bytes, 0 when unknown. */
guint64 ttml_train_peak_rss(void);
/* Open o->metrics_path (when set; appended to on --resume) into *metrics (NULL when not set). */
gboolean ttml_train_metrics_open(const ttml_run_options *o, FILE **metrics, GError **error);
/* Open o->metrics_path (when set; appended to on --resume) into *metrics, then ttml_init with the
 * options' plugin paths and files. *initialised tells the caller to shut down. */
gboolean ttml_train_begin(const ttml_run_options *o, FILE **metrics, gboolean *initialised, GError **error);
/* End a --memory-report capture after the optimizer: print the snapshots
 * and keep them for the profiler's report. */
void ttml_train_memory_capture_end(void);
/* Gradient clipping before the optimizer step (ttml_train_step_end). */
typedef gboolean (*ttml_train_clip_fn)(void *data, GError **error);
/* The end of a training step both loops share, after forward and backward:
 * a non-finite loss is a TTML_ERROR_NUMERIC naming the step, the configured
 * learning rate lr_cfg and then `hint` (more advice, "" for none); else
 * clip (may be NULL) and the optimizer step at lr in the "optimizer" zone,
 * and the --memory-report capture ends (capture). The graph is freed in
 * every case. */
gboolean ttml_train_step_end(ttml_optimizer *opt, double loss, double lr_cfg, float lr, const char *hint,
                             ttml_train_clip_fn clip, void *clip_data, gboolean capture, GError **error);
/* Finish the summary object in `line` (taken and freed) with the device's
 * name (else `spec`) and the model type, and write it to the metrics file. */
gboolean ttml_train_summary_write(GString *line, ttml_device *device, const char *spec,
                                  const char *model_type, FILE *f, const char *path, GError **error);
/* Close the metrics file (NULL-safe); a failed close turns ok into an
 * IO error naming the path. Returns the new ok. */
gboolean ttml_train_metrics_close(FILE *f, const char *path, gboolean ok, GError **error);

/* ---- data parallelism of the LM loop (train_ddp.c) ---- */
typedef struct ttml_train_ddp ttml_train_ddp;
/* Read device_config / multihost_config from root (marks them used). DDP
 * and TP off: TRUE with *out = NULL and *local_batch = global_batch. On: open
 * the world (`world` when not NULL: borrowed, a mesh rank's; else mpirun ->
 * mpi, else one local rank) and its layout (ttml/parallel.h), split the
 * global batch over the DP replicas (error naming both numbers), check the
 * DDP settings and the caller's n_run effective run settings (run_keys[k] =
 * run_values[k], e.g. the seed after --seed) agree on every rank (an error
 * names the rank and key), and key dropout masks by the global batch
 * (ttml_set_batch_shard, by DP rank). The caller owns *out
 * (ttml_train_ddp_free). Every call below is a no-op on NULL (one rank)
 * except ttml_train_ddp_metrics. */
gboolean ttml_train_ddp_open(ttml_config *root, gint64 global_batch, ttml_comm *world, const char *const *run_keys,
                             const char *const *run_values, int n_run, ttml_train_ddp **out, gint64 *local_batch,
                             GError **error);
/* The reducer over params (borrowed; broadcasts them from rank 0). */
gboolean ttml_train_ddp_attach(ttml_train_ddp *d, GPtrArray *params, GError **error);
void ttml_train_ddp_free(ttml_train_ddp *d);
/* This rank among the replicas (the DP group: which slice of the global
 * batch) and their number. */
int ttml_train_ddp_rank(const ttml_train_ddp *d);
int ttml_train_ddp_size(const ttml_train_ddp *d);
/* This rank in the world (rank 0 prints, writes metrics and the checkpoint index). */
int ttml_train_ddp_world_rank(const ttml_train_ddp *d);
/* The pipeline group and its settings (multihost_config.pipeline_parallel_config),
 * borrowed; NULL without pipeline parallelism. */
struct ttml_pp_settings;
ttml_comm *ttml_train_ddp_pipeline(ttml_train_ddp *d, struct ttml_pp_settings *settings);
/* FALSE before the backward of an accumulation micro-step but the last. */
void ttml_train_ddp_set_sync(ttml_train_ddp *d, gboolean sync);
/* Wait for the gradients and write their average over ranks (collective). */
gboolean ttml_train_ddp_finish(ttml_train_ddp *d, GError **error);
/* *v = the mean of *v over ranks (collective). With `stop` (in: this rank
 * was asked to stop), the same all-reduce agrees on it: out TRUE on every
 * rank when any rank was asked, so all ranks stop after the same step. */
gboolean ttml_train_ddp_mean(ttml_train_ddp *d, double *v, gboolean *stop, GError **error);
gboolean ttml_train_ddp_barrier(ttml_train_ddp *d, GError **error);
/* Collective over the world: *ok becomes TRUE on every rank only when it
 * was TRUE on every rank (a sharded checkpoint's shards all written). */
gboolean ttml_train_ddp_agree(ttml_train_ddp *d, gboolean *ok, GError **error);
/* This rank's layout for a sharded checkpoint (sizes 1 without DDP). */
struct ttml_shard_layout;
void ttml_train_ddp_shard_layout(ttml_train_ddp *d, struct ttml_shard_layout *out);
/* Collective: every rank holds the same parameters (a SHA-256 of their
 * values compared across ranks; an error names the first differing rank). */
gboolean ttml_train_ddp_check_params(ttml_train_ddp *d, GPtrArray *params, GError **error);
/* DDP over several ranks after an error on this rank (not an interruption,
 * which every rank gets): the other ranks would wait for this one until their
 * timeout, so print the error (naming the rank) and end the whole job
 * (ttml_comm_abort; does not return). No-op otherwise, and for a mesh
 * rank (borrowed world: the mesh runner reports the first failing rank). */
void ttml_train_ddp_fail_stop(ttml_train_ddp *d, const GError *error);
/* Tests: TTML_TEST_DDP_FAULT=RANK:STEP:kill|hang makes RANK SIGKILL itself
 * or hang after completing STEP. */
void ttml_train_ddp_test_fault(const ttml_train_ddp *d, gint64 step);
/* Append the last step's DDP figures to a metrics object (d not NULL):
 * ,"comm_ms","comm_wait_ms","backward_ms" (given),"comm_bytes",
 * "buckets_overlapped","bucket_bytes":[..],"bucket_ready_ms":[..]. */
void ttml_train_ddp_metrics(const ttml_train_ddp *d, double backward_ms, GString *line);
/* (the simulated communication time is the device's: ttml_device_stats.sim_comm_s) */
/* Tensor parallelism (device_config.enable_tp, mesh_shape [dp, tp]): the
 * TP group (NULL
 * without TP; models created after ttml_train_ddp_open are built for it)
 * and TP rank. The step's loss: vocab-parallel cross-entropy of the
 * vocab-sharded logits under TP, else the plain one (mean). Clipping: the
 * global norm over shards. All NULL-safe (one rank). */
ttml_comm *ttml_train_ddp_tp(const ttml_train_ddp *d);
int ttml_train_ddp_tp_rank(const ttml_train_ddp *d);
ttml_tensor *ttml_train_ddp_loss(const ttml_train_ddp *d, ttml_tensor *logits, ttml_tensor *targets,
                                 gint64 valid_vocab, GError **error);
gboolean ttml_train_ddp_clip(const ttml_train_ddp *d, GPtrArray *params, double max_norm, GError **error);

/* ---- language-model construction (lm_model.c) ---- */
/* Parse the config document `text` (NUL-terminated, named `name` in errors)
 * and create a `model_type` model from its training_config.transformer_config
 * with vocab_size overridden to `vocab_size` (the text is not edited: errors
 * about the other keys name the user's file and line). */
ttml_module *ttml_lm_model_create(const char *model_type, const char *text, const char *name,
                                  gint64 vocab_size, GError **error);

/* The size of that model without building it (the model's estimate hook;
 * TTML_ERROR_UNSUPPORTED without one). */
gboolean ttml_lm_model_estimate(const char *model_type, const char *text, const char *name, gint64 vocab_size,
                                ttml_model_size *out, GError **error);

/* ---- the fits-the-device check (train_fit.c) ---- */
typedef struct ttml_train_fit {
    ttml_device *device;
    const char *spec;                 /* as the user gave it, for the message       */
    const char *model_type, *optimizer_type;
    const char *config_text, *config_name;
    gint64 vocab;                     /* padded                                     */
    gint64 batch, seq;                /* rows of one micro-batch on this rank; positions */
} ttml_train_fit;
/* TTML_ERROR_OOM (one line: the estimate, its parts, the device's memory and
 * the fix) when parameters + gradients + optimizer state + activations
 * exceed the device's memory. TRUE when they fit, when the device reports no
 * memory size, when the model has no estimate hook, or TTML_FIT_CHECK=0. */
gboolean ttml_train_check_fits(const ttml_train_fit *f, GError **error);

/* ---- text data (lm_data.c) ---- */
typedef struct ttml_text_data {
    char *path;                /* the corpus used                          */
    char *skipped;             /* candidates tried before it, or NULL      */
    ttml_tokenizer *tokenizer; /* owned                                    */
    guint32 *ids;              /* all tokens                               */
    gsize n, n_train, n_val;   /* n = n_train + n_val; val = the tail      */
} ttml_text_data;

/* Read the first existing file of `candidates` (NULL-terminated; relative
 * paths resolve against `base_dir` when it is not NULL), tokenize it with
 * `tokenizer` (taken over; NULL: a new character tokenizer built from the
 * corpus) and split off the last val_fraction of the tokens. */
ttml_text_data *ttml_text_data_load(const char *const *candidates, const char *base_dir,
                                    ttml_tokenizer *tokenizer, double val_fraction, GError **error);
void ttml_text_data_free(ttml_text_data *d);
/* Fill rows [B, S] of inputs and targets (shifted by one) from random
 * windows of the train split drawn with the context RNG (one draw per row). */
void ttml_text_data_sample(const ttml_text_data *d, int B, int S, guint32 *inputs, guint32 *targets);
/* Window k of K fixed, evenly spaced windows over the validation split. */
void ttml_text_data_val_window(const ttml_text_data *d, gint64 k, gint64 K, int S, guint32 *inputs,
                               guint32 *targets);

/* ---- progress (progress.c) ---- */
typedef struct ttml_progress {
    gboolean live;             /* stdout is a terminal: one line rewritten with '\r' */
    gboolean quiet;
    gint64 total, first_step, log_interval;
    double tokens_per_step;
    gint64 t_start, t_window;  /* monotonic us                                      */
    gint64 window_step;        /* step at t_window                                  */
    gint64 t_drawn;
    double last_tok_s;
    double val_loss;           /* last known, NAN before                            */
    int width;                 /* chars of the live line on screen                  */
} ttml_progress;

void ttml_progress_init(ttml_progress *p, gint64 first_step, gint64 total, gint64 log_interval,
                        double tokens_per_step, gboolean quiet);
/* After completed step `step` (1-based). val_loss NAN when not computed;
 * host_ms is the step's wall time, sim_ms its simulated device time (NAN when
 * the device is not a simulator). */
void ttml_progress_update(ttml_progress *p, gint64 step, double loss, double lr, double val_loss,
                          double host_ms, double sim_ms);
/* A message on its own line (the live line is redrawn below it later). */
void ttml_progress_message(ttml_progress *p, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void ttml_progress_finish(ttml_progress *p);

/* ---- training state checkpoints (train_state.c) ---- */
#define TTML_TRAIN_STATE_FORMAT "ttml-train-state-1"

typedef struct ttml_train_state_info {
    gint64 step;               /* completed optimizer steps        */
    gint64 optimizer_steps;
    ttml_rng_state rng;
    const char *model_type;
    const char *optimizer_type;
    const char *scheduler_type;
    gint64 total_steps;
    gint64 vocab_size;         /* model vocabulary (padded)        */
    gint64 max_seq_len;
    const ttml_tokenizer *tokenizer;
    const char *config_text;   /* the full YAML config             */
    const char *config_path;
    const char *data_path;
    double val_loss;           /* last validation loss, or NAN     */
    GHashTable *extra;         /* more metadata (char* -> char*) or NULL */
} ttml_train_state_info;

/* Save parameters, optimizer state and `info` atomically to `path` (model
 * NULL: metadata only, e.g. the index of a sharded checkpoint). */
gboolean ttml_train_state_save(const char *path, ttml_module *model, ttml_optimizer *opt,
                               const ttml_train_state_info *info, GError **error);
/* The same for a list of parameters (ttml_param*; a pipeline stage's),
 * with `extra` metadata (string -> string, may be NULL) added. */
gboolean ttml_train_state_save_list(const char *path, GPtrArray *params, ttml_optimizer *opt,
                                    const ttml_train_state_info *info, GHashTable *extra, GError **error);
/* Load the listed parameters (every one must be present with the same
 * numel); with `exact` the checkpoint may hold no other model tensor. */
gboolean ttml_train_state_load_list(ttml_checkpoint *ck, const char *path, GPtrArray *params, gboolean exact,
                                    GError **error);
/* Load parameters from an open checkpoint into model (every parameter must
 * be present with the same numel; errors name the tensor and the file). */
gboolean ttml_train_state_load_params(ttml_checkpoint *ck, const char *path, ttml_module *model,
                                      GError **error);
/* ---- sharded checkpoints of every parallel layout (train_state_sharded.c) ----
 * A run with TP and/or PP (and DP replicas of either) writes one shard file
 * per (stage, TP rank), "<model_path minus .safetensors>.step<N>.pp<s>of<P>
 * .tp<r>of<T>.safetensors" beside model_path: an ordinary training state
 * (train_state.c, atomic: tmp + fsync + rename) of that rank's parameters and
 * optimizer state under the unsharded names (its own slices), plus metadata
 * shard_stage, shard_tp_rank, shard_split ("name=dim,groups;" of its sharded
 * parameters). Replica 0 of every (stage, TP rank) writes; then, once every
 * rank reported success (ttml_train_ddp_agree), world rank 0 writes the
 * index at model_path itself, the commit point: a tensor-less safetensors
 * file with the training state's metadata (step, optimizer_steps, RNG,
 * tokenizer, config, ...) and
 *   format "ttml-sharded-2"; tp, dp, pp (the sizes); blocks_per_rank
 *   ("n0,n1,..." or ""); shard.<k> (k = stage * tp + tp_rank: the file name,
 *   relative to the index); tensors: one line per unsharded tensor
 *   "NAME STAGE DIM GROUPS SHAPE" (DIM -1: whole in every TP file of STAGE;
 *   else split along DIM into GROUPS blocks each cut into tp equal pieces,
 *   TP rank r holding piece r of every block; SHAPE "d0xd1..." unsharded).
 * Shards of earlier saves are removed after the index is in place: a crash
 * before it leaves the previous index and its shards intact. */
#define TTML_SHARDED_FORMAT "ttml-sharded-2"
typedef struct ttml_shard_layout {
    int tp, tp_rank;           /* tensor-parallel size and this rank's      */
    int dp;                    /* data-parallel replicas                    */
    int pp, stage;             /* pipeline stages and this rank's           */
    const gint64 *blocks;      /* pp entries (blocks_per_rank), or NULL     */
} ttml_shard_layout;
/* This rank's shard file (params: the rank's own, borrowed). */
gboolean ttml_sharded_save_shard(const char *path, const ttml_shard_layout *l, GPtrArray *params,
                                 ttml_optimizer *opt, const ttml_train_state_info *info, GError **error);
/* After every shard of info->step is written (one rank): check each opens,
 * write the index at `path`, then remove earlier shards. An error leaves the
 * previous index committed. */
gboolean ttml_sharded_save_index(const char *path, const ttml_shard_layout *l, const ttml_train_state_info *info,
                                 GError **error);
/* Is ck a sharded index (this format or the earlier TP index: tp_shards)? */
gboolean ttml_train_state_is_sharded(ttml_checkpoint *ck);
/* Parameters (ttml_param*, each whole or its tensor's shard) and optimizer
 * state from ck (an ordinary training state or an index of any layout):
 * every tensor is assembled from the shards and cut to the parameter's shard
 * (resharding TP n -> m, PP n -> m, any blocks_per_rank). model_params
 * (the whole model's, e.g. params or, for a pipeline stage, all stages'):
 * ck may hold no model tensor outside them; NULL: not checked. opt NULL:
 * parameters only (generate). */
gboolean ttml_train_state_restore(ttml_checkpoint *ck, const char *path, GPtrArray *params, ttml_optimizer *opt,
                                  gint64 optimizer_steps, GPtrArray *model_params, GError **error);
/* Load optimizer state ("optim.<param>.<state>") and set opt->steps. */
gboolean ttml_train_state_load_optimizer(ttml_checkpoint *ck, const char *path, ttml_optimizer *opt,
                                         gint64 optimizer_steps, GError **error);
/* Open `path` and check it is a training state or the index of a sharded
 * one (its metadata is the training state's; ttml_train_state_restore reads
 * its tensors); reads the integer metadata
 * key `key` into *out (error naming the key and file when absent or bad). */
ttml_checkpoint *ttml_train_state_open(const char *path, GError **error);
gboolean ttml_train_state_int(ttml_checkpoint *ck, const char *path, const char *key, gint64 *out,
                              GError **error);
const char *ttml_train_state_string(ttml_checkpoint *ck, const char *path, const char *key,
                                    GError **error);
/* Compare the config stored in the checkpoint (metadata 'config') with
 * `root`, the config of the resuming run: a transformer_config architecture
 * key that keeps tensor shapes (num_heads, num_groups, weight_tying,
 * positional_embedding_type, theta) set in both to different
 * values is an error naming the key, both values and where it is set.
 * Training keys that differ (learning_rate, batch_size, ...) are returned in
 * *changes ("learning_rate 0.0003 -> 0.001, ..."; g_free; NULL when none)
 * for the caller to announce. Checkpoints without a stored config pass. */
gboolean ttml_train_state_check_config(ttml_checkpoint *ck, const char *path, ttml_config *root, char **changes,
                                       GError **error);

#endif
