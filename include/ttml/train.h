/* ttml/train.h - the training loop behind `ttml-run` (after TT-Train's
 * examples), driven by a YAML config.
 *
 * Config keys (unknown keys anywhere are rejected with their line):
 *
 *   training_config:
 *     seed: 42                  RNG seed (dataset, initial weights, shuffling)
 *     batch_size: 32            samples per step; only full batches are used
 *     num_epochs: 10            passes over the dataset
 *     max_steps: 0              stop after this many steps (0 = no limit)
 *     learning_rate: 0.1        base learning rate
 *     weight_decay: 0.0         handed to the optimizer
 *     optimizer_type: sgd       any registered optimizer (sgd, adamw, ...)
 *     optimizer_config: {}      optional, read by the optimizer plugin
 *                               (sgd: momentum, dampening, nesterov; ...)
 *     scheduler_type: identity  any registered scheduler; lr at step s is
 *                               learning_rate * factor(s)
 *     scheduler_config: {}      optional, read by the scheduler plugin
 *     model_type: linear_regression   required; any registered model
 *     model_config: {...}       read by the model plugin (linear_regression:
 *                               in_features, out_features; mlp: input_features,
 *                               hidden_features, output_features, optional
 *                               activation: any one-input op, default relu)
 *     log_interval: 1           steps between metrics lines (--metrics)
 *   device_config:
 *     device: cpu               driver spec ("cpu", "ttsim:n300", ...)
 *   data_config:                a synthetic dataset (see ttml/data.h)
 *     type: linear              linear | product
 *     num_samples: 256
 *     weights: [2.0, -1.0]      linear: in or out*in values (absent: random)
 *     bias: 0.0                 linear: a number or out values
 *     noise: 0.0                std of Gaussian noise on the targets
 *     in_features / out_features   optional; default: the model_config's
 *                               in_features/input_features and
 *                               out_features/output_features
 *   eval_config:
 *     predict: [[1.0, 1.0]]     rows run through the trained model (eval mode,
 *                               no grad); printed as "Prediction for [1, 1]: 0.9998"
 *
 * Output on stdout (unless quiet): "Epoch 1/10, Loss: 0.123456" per epoch (the
 * mean loss of the epoch's steps), then the predictions (printed even when
 * quiet: they are the result).
 *
 * Metrics (JSON Lines, one object per line, flushed per line):
 *   {"step":N,"epoch":E,"loss":L,"lr":LR,"step_ms":MS}   every log_interval steps
 *     (N counts completed steps from 1; LR is the rate that step used)
 *   {"event":"summary","final_loss":L,"steps":N,"wall_s":S,"device":"cpu","model":"..."}
 *     final_loss is the mean loss of the last (possibly partial) epoch.
 *
 * ---------------------------------------------------------------------------
 * Language models (TT-Train's example 2). A config whose training_config has
 * a `transformer_config` map, or whose data_config has `type: text`, trains a
 * language model instead; TT-Train's keys are accepted:
 *
 *   training_config:
 *     project_name: name        accepted, printed
 *     seed: 42                  data windows, initial weights, dropout
 *     batch_size: 4             sequences per micro-batch (B)
 *     gradient_accumulation_steps: 1   micro-batches per optimizer step; each
 *                               micro-batch loss is scaled by 1/accum; one
 *                               "step" is one optimizer step
 *     max_steps: 0              optimizer steps (0: num_epochs passes over the
 *                               train tokens, n_train / (B * S * accum) steps each)
 *     num_epochs: 1
 *     learning_rate: 3.0e-4     base rate; the scheduler multiplies it
 *     weight_decay: (optimizer's default: adamw 0.01)
 *     optimizer_type: adamw     sgd | adamw | moreh_adamw | any registered
 *     use_moreh_adamw: false    TT-Train: true selects moreh_adamw when no
 *                               optimizer_type is given
 *     optimizer_config: {}      read by the optimizer (beta1, beta2, ...)
 *     scheduler_type: identity  identity | warmup_linear | cosine
 *     scheduler_config: {}      warmup_steps / warmup_fraction, end/min_factor
 *     clip_grad_norm_max_norm: 0   > 0: clip the global L2 norm of all
 *                               gradients to this (PyTorch clip_grad_norm_)
 *     use_clip_grad_norm: false    TT-Train: true with no max norm = 1.0
 *     model_type: nanogpt       gpt2 | nanogpt | llama (required)
 *     transformer_config: {...} handed to the model (see the model plugin:
 *                               num_heads, embedding_dim, num_blocks,
 *                               max_sequence_length = the training sequence
 *                               length S (default 256), dropout_prob, ...).
 *                               vocab_size: absent -> the tokenizer's padded
 *                               vocabulary; smaller than the tokenizer's
 *                               vocabulary -> error; otherwise rounded up to a
 *                               multiple of 32
 *     model_path: ""            training-state checkpoint (safetensors),
 *                               relative to the current directory; "" = none
 *     model_save_interval: 0    save every N steps (0: only at the end)
 *     eval_every: 0             validation loss every N steps (alias
 *                               val_every; 0: only at the end)
 *     val_batches: 8            batches of B fixed windows of the validation split
 *     log_interval: 10          steps between progress lines / metrics lines
 *     data_path: FILE           TT-Train: same as data_config.path
 *     tokenizer_type: char      only the character tokenizer exists
 *     use_kahan_summation: false   accepted when false
 *   data_config:
 *     type: text
 *     path: FILE or [FILE, ...] the first existing file is the corpus (relative
 *                               paths resolve against the config file's
 *                               directory; --data FILE overrides)
 *     val_fraction: 0.1         the last 10% of the tokens are the validation split
 *   eval_config:                defaults for `ttml-run generate` (see below)
 *     prompt, max_tokens, temperature, top_k, top_p, repetition_penalty, seed
 *   device_config: {device: cpu}  (device ttsim:n300 / ttsim:t3k with
 *                  mesh_shape [2, 1] / [8, 1] and enable_ddp: a simulated
 *                  mesh, one rank thread per chip; ttml/distributed.h)
 *     enable_ddp: false         data parallel (mpirun -np N ttml-run ...): batch_size
 *                               is the global batch, each rank trains on its
 *                               batch_size / N rows; other keys: ttml/distributed.h
 *     enable_tp: false          tensor parallel over mesh_shape [dp, tp]'s tp ranks
 *                               (Megatron; the logits are vocab-sharded and the
 *                               loss is ttml_vocab_parallel_cross_entropy;
 *                               checkpoints: a shard per rank + an index,
 *                               format "ttml-sharded-2" as with pipeline
 *                               stages; resumes in any layout;
 *                               `ttml-run consolidate` makes one file)
 *   transformer_config.embedding_placement: vocab_parallel | replicated (TP only)
 *   multihost_config:           enabled, num_workers, socket_type: ttml/distributed.h
 *     pipeline_parallel_config: pipeline stages by blocks (mpirun -np stages x dp)
 *       num_blocks: N           = transformer_config.num_blocks
 *       blocks_per_rank: {0: n0, 1: n1, ...}   (or [n0, n1, ...]) blocks per stage
 *       schedule: 1f1b          or gpipe; micro-batches = gradient_accumulation_steps
 *                               (README "Pipeline parallelism")
 *
 * Batches are B windows of S+1 tokens at offsets drawn from the context RNG
 * (all B*accum windows of a step are drawn before its first micro-batch);
 * inputs are u32 [B,1,1,S], targets the same windows shifted by one. The loss
 * is ttml_cross_entropy_loss(logits, targets, tokenizer vocab size, mean).
 *
 * Progress: on a terminal a live line (step/total, loss, lr, tokens/s, ETA,
 * val loss) rewritten in place; otherwise "step N/T loss L lr R tok/s X eta E"
 * every log_interval steps and "step N/T val_loss V" after each validation.
 * Metrics lines add "tokens_per_s", "val_loss" (steps that validated),
 * "peak_mem_bytes" (device DRAM peak) and "rss" (peak resident bytes), on a
 * simulator "sim_ms" (simulated device time of the step) and on a simulated
 * mesh "sim_comm_ms" (its collectives' part); a
 * line is written every log_interval steps and on every validation step. The
 * summary adds "final_val_loss". With --resume the metrics file is appended
 * to (the resumed steps follow the earlier ones).
 *
 * Checkpoints (model_path, atomic): every parameter under its name, the
 * optimizer state as "optim.<param>.<state>", and metadata "format",
 * "ttml_version", "step", "optimizer_steps", "rng_seed", "rng_counter",
 * "scheduler_type", "scheduler_step", "total_steps", "model_type",
 * "optimizer_type", "vocab_size", "max_sequence_length", "tokenizer",
 * "config" (the YAML text), "config_path", "data_path", "val_loss". --resume
 * restores all of it and continues at the next step with losses identical to
 * an uninterrupted run. Without a --max-steps override a resumed run keeps
 * the checkpoint's "total_steps" (and so its schedule); a different total is
 * announced. A fresh run (no --resume) refuses to replace an existing
 * model_path unless `overwrite` is set; every checkpoint written prints
 * "checkpoint: step N -> PATH".
 *
 * Interruption: after ttml_train_request_stop(SIGNO) (async-signal-safe, for
 * a SIGINT/SIGTERM handler) the loop finishes the current step, writes the
 * checkpoint (model_path, else "<config name>.interrupted.safetensors" in
 * the working directory), prints where it is and how to resume, and
 * ttml_train_run returns FALSE with TTML_ERROR_INTERRUPTED.
 */
#ifndef TTML_TRAIN_H
#define TTML_TRAIN_H

#include <ttml/types.h>
#include <ttml/error.h>
#include <ttml/module.h>
#include <ttml/tokenizer.h>

G_BEGIN_DECLS

typedef struct ttml_run_options {
    size_t struct_size;                /* sizeof(ttml_run_options)                   */
    const char *config_path;           /* the YAML config (required)                 */
    const char *device;                /* NULL: device_config.device, else "cpu"     */
    const char *const *plugin_paths;   /* NULL-terminated dirs searched first, or NULL */
    const char *const *plugin_files;   /* NULL-terminated .so files, or NULL         */
    gint64 seed;                       /* -1: training_config.seed                   */
    gint64 max_steps;                  /* -1: training_config.max_steps              */
    const char *metrics_path;          /* JSON Lines file, or NULL (one per rank: ttml_dist_rank_path) */
    gboolean quiet;                    /* no per-epoch lines                         */
    /* Language models (callers whose struct_size ends before here get 0s): */
    gboolean resume;                   /* continue from a training-state checkpoint  */
    const char *resume_path;           /* NULL: training_config.model_path           */
    const char *data_path;             /* NULL: data_config.path                     */
    /* Memory snapshots after the forward, backward and optimizer of the
     * first step, printed and kept for the report
     * (ttml/profiler_outputs.h). Every step opens zones "step" (category "step") and
     * "data", "forward", "backward", "optimizer" (category "phase"), and adds
     * train_loss / val_loss / step_ms points to the report series. */
    gboolean memory_report;
    gboolean overwrite;                /* a fresh run may replace model_path         */
    /* --resume of a checkpoint with NaN/Inf parameters: load it anyway, a
     * warning per tensor (ttml_checkpoint_allow_nonfinite) instead of the
     * TTML_ERROR_NUMERIC naming the tensor. */
    gboolean allow_nonfinite;
} ttml_run_options;

/* Run the whole job: parse the config (errors stop before any plugin loads),
 * ttml_init, open the device, build data, model, optimizer and scheduler,
 * reject unknown keys, train, evaluate, then ttml_shutdown. The caller must
 * not have called ttml_init. FALSE with `error` set on any failure (the core
 * is shut down in every case). */
TTML_API gboolean ttml_train_run(const ttml_run_options *options, GError **error);

/* Check a config without training (`ttml-run CONFIG --check`): parse `text`
 * (named `name` in errors, e.g. the file's path) and run every reader of the
 * training application on it, with the same errors ttml_train_run gives:
 * types and ranges of training_config, device_config (device, DDP),
 * multihost_config, data_config and eval_config, the corpus candidates, and
 * unknown keys (the transformer_config, model_config, optimizer_config and
 * scheduler_config maps are read by their plugins when built, so only the
 * run checks their keys). `options` (may be NULL) gives the overrides that
 * change what is required (data_path, resume). Loads no plugin, opens no
 * device or file. */
TTML_API gboolean ttml_train_check_config(const char *text, const char *name, const ttml_run_options *options,
                                          GError **error);

/* Ask the running (or next) ttml_train_run to stop after its current step
 * (see "Interruption" above); `signo` names the cause in messages (0 clears
 * the request). Async-signal-safe. */
TTML_API void ttml_train_request_stop(int signo);
/* The pending request's signo, 0 when none. */
TTML_API int ttml_train_stop_requested(void);

/* ---- generation from a language-model checkpoint ----
 *
 * Sampling on the host from the last row of logits restricted to the valid
 * vocabulary, in this order (Hugging Face's): repetition penalty (CTRL rule:
 * for every token already in the context, prompt included, a positive logit
 * is divided by R and a negative one multiplied by R), then greedy (argmax,
 * lowest id on ties) when `greedy` or temperature == 0, else temperature,
 * top-k, top-p (the smallest set of most likely tokens whose probability
 * reaches P) and a draw from the context RNG.
 */
typedef struct ttml_sampling_params {
    size_t struct_size;          /* sizeof(ttml_sampling_params)              */
    gint64 max_tokens;           /* tokens to generate                        */
    double temperature;          /* > 0; 0 = greedy                           */
    gint64 top_k;                /* 0 = off                                   */
    double top_p;                /* (0, 1]; 1 = off                           */
    double repetition_penalty;   /* > 0; 1 = off                              */
    gboolean greedy;
} ttml_sampling_params;

/* A language model rebuilt from a training-state checkpoint (ttml_init done
 * and a device open: the default device is used). */
typedef struct ttml_lm {
    ttml_module *model;
    ttml_tokenizer *tokenizer;
    char *model_type;
    char *config_text;           /* the YAML config stored in the checkpoint  */
    gint64 vocab_size;           /* valid (tokenizer) vocabulary              */
    gint64 padded_vocab_size;    /* the model's                               */
    gint64 max_seq_len;          /* context length                            */
} ttml_lm;

TTML_API ttml_lm *ttml_lm_load(const char *checkpoint_path, GError **error);
/* The same; allow_nonfinite loads NaN/Inf parameters with a warning per
 * tensor instead of failing with TTML_ERROR_NUMERIC. */
TTML_API ttml_lm *ttml_lm_load_full(const char *checkpoint_path, gboolean allow_nonfinite, GError **error);
TTML_API void ttml_lm_free(ttml_lm *lm);

/* Called with each generated piece of text (may be NULL). */
typedef void (*ttml_text_fn)(const char *piece, void *user);

/* Generate p->max_tokens tokens after `prompt` with the model's KV cache
 * (prefill once, then one position per token; when the context is full the
 * cache is rebuilt from the last half of it). Uses the context RNG as it is
 * (seed it first). Returns the generated text (without the prompt; g_free).
 * A model without decode hooks is a TTML_ERROR_UNSUPPORTED. */
TTML_API char *ttml_lm_generate(ttml_lm *lm, const char *prompt, const ttml_sampling_params *p,
                                ttml_text_fn on_text, void *user, GError **error);

/* `ttml-run generate`. Negative / NAN fields mean "not given": the value
 * comes from the checkpoint config's eval_config, else the default. */
typedef struct ttml_generate_options {
    size_t struct_size;                /* sizeof(ttml_generate_options)            */
    const char *checkpoint_path;       /* required                                 */
    const char *prompt;                /* NULL: eval_config.prompt, else "\n"     */
    const char *device;                /* NULL: cpu                                */
    const char *const *plugin_paths;
    const char *const *plugin_files;
    gint64 max_tokens;                 /* -1: eval_config.max_tokens, else 200     */
    double temperature;                /* NAN: eval_config, else 1.0               */
    gint64 top_k;                      /* -1: eval_config, else 0 (off)            */
    double top_p;                      /* NAN: eval_config, else 1.0 (off)         */
    double repetition_penalty;         /* NAN: eval_config, else 1.0 (off)         */
    gint64 seed;                       /* -1: eval_config.seed, else the training seed */
    gboolean greedy;
    /* Load a checkpoint with NaN/Inf parameters anyway (a warning per tensor);
     * callers whose struct_size ends before here get FALSE. */
    gboolean allow_nonfinite;
} ttml_generate_options;

/* Print prompt + generated text on stdout (streamed), then a newline. */
TTML_API gboolean ttml_generate_run(const ttml_generate_options *options, GError **error);

/* `ttml-run consolidate IN OUT`: the training state IN (the index of a
 * sharded checkpoint of any layout - TP, PP, both, with DP replicas, or the
 * earlier TP index - whose shard files it names, or an ordinary one) as one
 * ordinary safetensors file OUT with the unsharded tensors (optimizer state
 * too) and the same metadata, which `generate`, --resume and PyTorch read.
 * Errors: a missing or unreadable shard (named), a damaged index. */
TTML_API gboolean ttml_consolidate_run(const char *in, const char *out, GError **error);

G_END_DECLS

#endif
