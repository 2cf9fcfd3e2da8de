/* core/train/train_lm.c - language-model training (TT-Train's example 2): text
 * data, AdamW / SGD through the optimizer registry, gradient accumulation,
 * clip_grad_norm, schedulers, validation, progress and metrics, training
 * state checkpoints with exact --resume. Keys: include/ttml/train.h. */
#include "train_app.h"
#include "pipeline.h"

#include <ttml/distributed.h>
#include <ttml/profiler_outputs.h>

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <string.h>
#include <time.h>

typedef struct {
    ttml_config *root, *train_cfg, *device_cfg, *data_cfg, *eval_cfg;
    ttml_config *optimizer_cfg, *scheduler_cfg, *tf_cfg;
    gint64 seed, batch_size, accum, num_epochs, max_steps, log_interval, save_interval;
    gint64 eval_every, val_batches, vocab_cfg, seq_len;
    double lr, weight_decay, clip, val_fraction;
    const char *optimizer_type, *scheduler_type, *model_type, *project_name, *model_path, *device;
    char **data_paths;
    ttml_precision precision;   /* of the matmuls (training_config.precision) */
    char *config_dir;
    char *config_text;
    gsize config_len;
} lm_settings;

typedef struct {
    ttml_device *device;
    ttml_text_data *data;
    ttml_module *model;
    GPtrArray *params;
    ttml_optimizer *opt;
    ttml_scheduler *sched;
    ttml_tensor *inputs, *targets;
    guint32 *in_host, *tgt_host;     /* B * accum * S */
    FILE *metrics;
    gint64 vocab, vocab_padded;
    gboolean has_val;
    const char *spec;                /* the device spec opened                 */
    ttml_checkpoint *ck;             /* --resume: open until restored          */
    const char *ck_path;
    gint64 ck_vocab;
    gint64 ck_total;                 /* the checkpoint's total_steps           */
    ttml_progress *prog;             /* the loop's progress (NULL outside it)  */
    gint64 total, tokens_per_step;   /* optimizer steps; tokens per step       */
    gint64 step;                     /* completed optimizer steps              */
    ttml_train_ddp *ddp;             /* data parallel (NULL: one rank)         */
    double backward_ms;              /* the last step's backwards (DDP metrics) */
    ttml_pipeline *pp;               /* pipeline stage (NULL: no pipeline)     */
    gint64 batch;                    /* rows per rank (= batch_size / ranks)   */
    ttml_run_options rank_options;   /* ranks > 0: quiet, no metrics           */
    gboolean stop;                   /* DDP: a stop agreed by the ranks (last step) */
    gboolean mesh_follower;          /* a mesh rank > 0: a thread of rank 0's process */
    ttml_tp_stats tp_stats;          /* the last step's TP communication       */
} lm_run;

static gboolean config_error(GError **error, ttml_config *node, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean config_error(GError **error, ttml_config *node, const char *fmt, ...)
{
    char where[512];
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s", ttml_config_where(node, where, sizeof where), msg);
    g_free(msg);
    return FALSE;
}

/* data_config.path (a string or a list of strings) plus training_config.data_path. */
static gboolean read_paths(lm_settings *s, GError **error)
{
    GPtrArray *list = g_ptr_array_new();
    GError *local = NULL;
    const char *tt = ttml_config_string(s->train_cfg, "data_path", NULL, &local);
    if (local) {
        g_propagate_error(error, local);
        g_ptr_array_free(list, TRUE);
        return FALSE;
    }
    ttml_config *node = s->data_cfg ? ttml_config_get(s->data_cfg, "path") : NULL;
    if (node && ttml_config_get_type(node) == TTML_CONFIG_SEQ) {
        for (guint i = 0; i < ttml_config_seq_len(node); i++) {
            ttml_config *item = ttml_config_seq_nth(node, i);
            if (ttml_config_get_type(item) != TTML_CONFIG_SCALAR || ttml_config_is_null(item)) {
                g_ptr_array_free(list, TRUE);
                return config_error(error, item, "data_config.path[%u] must be a file name", i);
            }
            g_ptr_array_add(list, g_strdup(ttml_config_scalar(item)));
        }
    } else if (node && ttml_config_get_type(node) == TTML_CONFIG_SCALAR && !ttml_config_is_null(node)) {
        g_ptr_array_add(list, g_strdup(ttml_config_scalar(node)));
    } else if (node && !ttml_config_is_null(node)) {
        g_ptr_array_free(list, TRUE);
        return config_error(error, node, "data_config.path must be a file name or a list of file "
                                         "names (the first that exists is used)");
    }
    if (tt && *tt) g_ptr_array_add(list, g_strdup(tt));
    g_ptr_array_add(list, NULL);
    s->data_paths = (char **)g_ptr_array_free(list, FALSE);
    return TRUE;
}

/* Keys read before they are checked (TT-Train spellings and switches). */
typedef struct {
    gint64 eval_every, val_every;
    gboolean use_clip, kahan;
    const char *tokenizer_type, *data_type, *precision;
} lm_raw_keys;

/* The training_config, device_config and data_config keys (no checks yet). */
static gboolean read_keys(lm_settings *s, lm_raw_keys *k, GError **error)
{
    ttml_config *t = s->train_cfg;
    GError *local = NULL;
    s->project_name = ttml_config_string(t, "project_name", NULL, &local);
    s->seed = ttml_config_int(t, "seed", 42, &local);
    s->batch_size = ttml_config_int(t, "batch_size", 4, &local);
    s->accum = ttml_config_int(t, "gradient_accumulation_steps", 1, &local);
    s->num_epochs = ttml_config_int(t, "num_epochs", 1, &local);
    s->max_steps = ttml_config_int(t, "max_steps", 0, &local);
    s->lr = ttml_config_double(t, "learning_rate", 3e-4, &local);
    s->weight_decay = ttml_config_double(t, "weight_decay", TTML_WEIGHT_DECAY_DEFAULT, &local);
    gboolean moreh = ttml_config_bool(t, "use_moreh_adamw", FALSE, &local);
    s->optimizer_type = ttml_config_string(t, "optimizer_type", moreh ? "moreh_adamw" : "adamw", &local);
    s->scheduler_type = ttml_config_string(t, "scheduler_type", "identity", &local);
    s->model_type = ttml_config_string(t, "model_type", NULL, &local);
    s->log_interval = ttml_config_int(t, "log_interval", 10, &local);
    s->save_interval = ttml_config_int(t, "model_save_interval", 0, &local);
    s->model_path = ttml_config_string(t, "model_path", "", &local);
    k->eval_every = ttml_config_int(t, "eval_every", -1, &local);
    k->val_every = ttml_config_int(t, "val_every", -1, &local);
    s->val_batches = ttml_config_int(t, "val_batches", 8, &local);
    s->clip = ttml_config_double(t, "clip_grad_norm_max_norm", 0.0, &local);
    k->use_clip = ttml_config_bool(t, "use_clip_grad_norm", FALSE, &local);
    k->tokenizer_type = ttml_config_string(t, "tokenizer_type", "char", &local);
    k->kahan = ttml_config_bool(t, "use_kahan_summation", FALSE, &local);
    k->precision = ttml_config_string(t, "precision", "fp32", &local);
    s->device = ttml_config_string(s->device_cfg, "device", NULL, &local);
    k->data_type = ttml_config_string(s->data_cfg, "type", "text", &local);
    s->val_fraction = ttml_config_double(s->data_cfg, "val_fraction", 0.1, &local);
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    return ttml_train_get_map(t, "optimizer_config", "{beta1: 0.9}", &s->optimizer_cfg, error) &&
           ttml_train_get_map(t, "scheduler_config", "{warmup_steps: 100}", &s->scheduler_cfg, error);
}

/* The numeric training_config settings are in range. */
static gboolean check_ranges(lm_settings *s, GError **error)
{
    ttml_config *t = s->train_cfg;
    if (s->seed < 0) return ttml_train_range_error(t, "seed", ">= 0", (double)s->seed, error);
    if (s->batch_size <= 0 || s->batch_size > (1 << 20))
        return ttml_train_range_error(t, "batch_size", "a positive integer", (double)s->batch_size, error);
    if (s->accum <= 0 || s->accum > (1 << 20))
        return ttml_train_range_error(t, "gradient_accumulation_steps", "a positive integer",
                                      (double)s->accum, error);
    if (s->num_epochs <= 0)
        return ttml_train_range_error(t, "num_epochs", "a positive integer", (double)s->num_epochs, error);
    if (s->max_steps < 0)
        return ttml_train_range_error(t, "max_steps", ">= 0 (0 = num_epochs passes)", (double)s->max_steps, error);
    if (!isfinite(s->lr) || s->lr < 0.0)
        return ttml_train_range_error(t, "learning_rate", "a finite number >= 0", s->lr, error);
    if (s->weight_decay != TTML_WEIGHT_DECAY_DEFAULT && (!isfinite(s->weight_decay) || s->weight_decay < 0.0))
        return ttml_train_range_error(t, "weight_decay", "a finite number >= 0", s->weight_decay, error);
    if (s->log_interval <= 0)
        return ttml_train_range_error(t, "log_interval", "a positive integer", (double)s->log_interval, error);
    if (s->save_interval < 0)
        return ttml_train_range_error(t, "model_save_interval", ">= 0 (0 = only at the end)",
                                      (double)s->save_interval, error);
    return TRUE;
}

/* Validation, clipping, tokenizer and data settings (TT-Train's spellings). */
static gboolean check_options(lm_settings *s, const lm_raw_keys *k, GError **error)
{
    ttml_config *t = s->train_cfg;
    if (k->eval_every >= 0 && k->val_every >= 0)
        return config_error(error, ttml_config_peek(t, "val_every"),
                            "give either 'eval_every' or 'val_every' (the same setting), not both");
    /* -1 is the "absent" default: a negative value written in the config is an error, not unset */
    if (ttml_config_peek(t, "eval_every") && k->eval_every < 0)
        return ttml_train_range_error(t, "eval_every", "an integer >= 0 (0 = off)", (double)k->eval_every, error);
    if (ttml_config_peek(t, "val_every") && k->val_every < 0)
        return ttml_train_range_error(t, "val_every", "an integer >= 0 (0 = off)", (double)k->val_every, error);
    s->eval_every = k->eval_every >= 0 ? k->eval_every : k->val_every >= 0 ? k->val_every : 0;
    if (s->val_batches <= 0)
        return ttml_train_range_error(t, "val_batches", "a positive integer", (double)s->val_batches, error);
    if (!isfinite(s->clip) || s->clip < 0.0)
        return ttml_train_range_error(t, "clip_grad_norm_max_norm", "a finite number >= 0 (0 = off)",
                                      s->clip, error);
    if (k->use_clip && s->clip == 0.0) s->clip = 1.0;
    if (ttml_config_peek(t, "use_clip_grad_norm") && !k->use_clip) s->clip = 0.0;
    if (strcmp(k->tokenizer_type, "char") != 0)
        return config_error(error, ttml_config_peek(t, "tokenizer_type"),
                            "tokenizer_type '%s' is not available; only 'char' (the character "
                            "tokenizer) is", k->tokenizer_type);
    if (k->kahan)
        return config_error(error, ttml_config_peek(t, "use_kahan_summation"),
                            "use_kahan_summation is not supported; set it to false");
    if (strcmp(k->data_type, "text") != 0)
        return config_error(error, ttml_config_peek(s->data_cfg, "type"),
                            "a language model trains on data_config.type 'text', got '%s'", k->data_type);
    if (!(s->val_fraction >= 0.0 && s->val_fraction < 1.0))
        return ttml_train_range_error(s->data_cfg, "val_fraction", "in [0, 1)", s->val_fraction, error);
    if (strcmp(k->precision, "fp32") != 0 && strcmp(k->precision, "bf16") != 0)
        return config_error(error, ttml_config_peek(t, "precision"),
                            "precision '%s' is not known; use 'fp32' (the default) or 'bf16' (bf16 "
                            "matmul operands, fp32 accumulation and master weights)", k->precision);
    s->precision = strcmp(k->precision, "bf16") == 0 ? TTML_PRECISION_BF16 : TTML_PRECISION_FP32;
    return TRUE;
}

/* transformer_config: the model reads it from its own parse of the config
 * (with vocab_size set); here only vocab_size and max_sequence_length. */
static gboolean read_transformer(lm_settings *s, GError **error)
{
    GError *local = NULL;
    ttml_config *tf = ttml_config_get(s->train_cfg, "transformer_config");
    s->seq_len = 256;
    if (tf && !ttml_config_is_null(tf)) {
        if (ttml_config_get_type(tf) != TTML_CONFIG_MAP)
            return config_error(error, tf, "'transformer_config' must be a mapping, e.g. "
                                           "{num_heads: 6, embedding_dim: 384, num_blocks: 6}");
        s->tf_cfg = tf;
        s->vocab_cfg = ttml_config_int(tf, "vocab_size", 0, &local);
        s->seq_len = ttml_config_int(tf, "max_sequence_length", 256, &local);
        if (local) {
            g_propagate_error(error, local);
            return FALSE;
        }
        if (ttml_config_peek(tf, "vocab_size") && (s->vocab_cfg <= 0 || s->vocab_cfg > (1 << 24)))
            return ttml_train_range_error(tf, "vocab_size", "a positive integer <= 16777216",
                                          (double)s->vocab_cfg, error);
        if (s->seq_len <= 0 || s->seq_len > (1 << 20))
            return ttml_train_range_error(tf, "max_sequence_length", "a positive integer",
                                          (double)s->seq_len, error);
    }
    ttml_config_mark_used(tf);
    return TRUE;
}

/* eval_config: generation defaults, checked here so typos surface early. */
static gboolean check_eval_config(lm_settings *s, GError **error)
{
    if (!s->eval_cfg) return TRUE;
    GError *local = NULL;
    (void)ttml_config_string(s->eval_cfg, "prompt", NULL, &local);
    (void)ttml_config_int(s->eval_cfg, "max_tokens", 0, &local);
    (void)ttml_config_double(s->eval_cfg, "temperature", 1.0, &local);
    (void)ttml_config_int(s->eval_cfg, "top_k", 0, &local);
    (void)ttml_config_double(s->eval_cfg, "top_p", 1.0, &local);
    (void)ttml_config_double(s->eval_cfg, "repetition_penalty", 1.0, &local);
    (void)ttml_config_int(s->eval_cfg, "seed", 0, &local);
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    return TRUE;
}

/* The corpus candidates: data_config.path, training_config.data_path or --data. */
static gboolean read_corpus_names(const ttml_run_options *o, lm_settings *s, GError **error)
{
    if (!read_paths(s, error)) return FALSE;
    if (!(o && o->data_path) && !s->data_paths[0]) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: no text corpus: set data_config.path (a file or a list of candidate "
                    "files) or pass --data FILE",
                    ttml_config_file(s->root));
        return FALSE;
    }
    return TRUE;
}

/* The corpus candidates, the config's directory and its text (stored in
 * checkpoints; the model is built from it). */
static gboolean read_sources(const ttml_run_options *o, lm_settings *s, GError **error)
{
    if (!read_corpus_names(o, s, error)) return FALSE;
    s->config_dir = g_path_get_dirname(o->config_path);
    GError *io = NULL;
    if (!g_file_get_contents(o->config_path, &s->config_text, &s->config_len, &io)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot read '%s': %s", o->config_path, io->message);
        g_error_free(io);
        return FALSE;
    }
    return TRUE;
}

/* Every training_config / device_config / data_config / eval_config key the
 * loop reads, checked; no file is opened. */
static gboolean read_settings(lm_settings *s, GError **error)
{
    ttml_config *root = s->root;
    if (!ttml_train_get_map(root, "training_config", "training_config: {batch_size: 4}", &s->train_cfg, error) ||
        !ttml_train_get_map(root, "device_config", "device_config: {device: cpu}", &s->device_cfg, error) ||
        !ttml_train_get_map(root, "data_config", "data_config: {type: text, path: input.txt}", &s->data_cfg, error) ||
        !ttml_train_get_map(root, "eval_config", "eval_config: {temperature: 0.8}", &s->eval_cfg, error))
        return FALSE;
    if (!s->train_cfg) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: no 'training_config' section (see configs/nanogpt_shakespeare.yaml)",
                    ttml_config_file(root));
        return FALSE;
    }
    lm_raw_keys k;
    if (!read_keys(s, &k, error)) return FALSE;
    if (!s->model_type) {
        char w[512];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: training_config has no 'model_type' (gpt2, nanogpt or llama)",
                    ttml_config_where(s->train_cfg, w, sizeof w));
        return FALSE;
    }
    return check_ranges(s, error) && check_options(s, &k, error) && read_transformer(s, error) &&
           check_eval_config(s, error);
}

gboolean ttml_train_lm_check(const ttml_run_options *o, ttml_config *root, GError **error)
{
    lm_settings s = {0};
    s.root = root;
    ttml_dist_settings dist;
    gboolean ok = read_settings(&s, error) && read_corpus_names(o, &s, error) &&
                  ttml_dist_settings_read(root, &dist, error);
    ttml_config *built[] = {s.tf_cfg, s.optimizer_cfg, s.scheduler_cfg};   /* read by the model, optimizer, scheduler */
    ok = ok && ttml_train_check_unused_but(root, built, G_N_ELEMENTS(built), error);
    g_strfreev(s.data_paths);
    return ok;
}

/* ------------------------------------------------------------- the loop */

/* The micro-batches of one step on the whole model: forward, loss and
 * backward of each in turn; *loss = their mean. capture: memory snapshots
 * after the forward and backward of the first micro-batch. */
static gboolean lm_micro_batches(const lm_settings *s, lm_run *r, gboolean capture, double *loss_out,
                                 GError **error)
{
    int B = (int)r->batch, S = (int)s->seq_len;
    gsize rows = (gsize)s->batch_size * S, offset = (gsize)ttml_train_ddp_rank(r->ddp) * B * S;
    double sum = 0.0;
    for (gint64 m = 0; m < s->accum; m++) {
        ttml_zone_begin("data", "phase");
        gboolean data_ok = ttml_tensor_write(r->inputs, r->in_host + (gsize)m * rows + offset, error) &&
                           ttml_tensor_write(r->targets, r->tgt_host + (gsize)m * rows + offset, error);
        ttml_zone_end();
        if (!data_ok) return FALSE;
        ttml_zone_begin("forward", "phase");
        ttml_tensor *logits = ttml_module_forward(r->model, r->inputs, error);
        ttml_tensor *loss = logits ? ttml_train_ddp_loss(r->ddp, logits, r->targets, r->vocab, error) : NULL;
        ttml_tensor_unref(logits);
        ttml_tensor *scaled = !loss ? NULL
                              : s->accum > 1 ? ttml_mul_scalar(loss, 1.0f / (float)s->accum, error)
                                             : ttml_tensor_ref(loss);
        ttml_zone_end();
        if (!loss) return FALSE;
        if (capture && m == 0) ttml_memory_snapshot_take("forward");
        ttml_zone_begin("backward", "phase");
        ttml_train_ddp_set_sync(r->ddp, m == s->accum - 1);
        gint64 tb = g_get_monotonic_time();
        gboolean ok = scaled && ttml_backward(scaled, NULL, FALSE, error);
        r->backward_ms += (double)(g_get_monotonic_time() - tb) / 1000.0;
        ttml_zone_end();
        if (capture && m == 0) ttml_memory_snapshot_take("backward");
        ttml_tensor_unref(scaled);
        float v = ok ? ttml_tensor_item(loss, error) : NAN;
        ttml_tensor_unref(loss);
        ttml_reset_graph();
        if (!ok || (error && *error)) return FALSE;
        sum += (double)v;
    }
    *loss_out = sum / (double)s->accum;
    return TRUE;
}

static void pp_sync(gpointer ddp, gboolean last) { ttml_train_ddp_set_sync(ddp, last); }

/* The micro-batches of one step through the pipeline (this rank's stage). */
static gboolean lm_pipeline_step(const lm_settings *s, lm_run *r, double *loss_out, GError **error)
{
    int B = (int)r->batch, S = (int)s->seq_len;
    gsize rows = (gsize)s->batch_size * S, offset = (gsize)ttml_train_ddp_rank(r->ddp) * B * S;
    ttml_pp_batch b = {.inputs = r->inputs, .targets = r->targets, .in_host = r->in_host + offset,
                       .tgt_host = r->tgt_host + offset, .stride = rows, .micro_batches = s->accum,
                       .vocab = r->vocab, .before_backward = r->ddp ? pp_sync : NULL, .data = r->ddp};
    return ttml_pipeline_train_step(r->pp, &b, loss_out, error);
}

typedef struct {
    const lm_settings *s;
    lm_run *r;
} lm_clip_args;

/* clip_grad_norm_max_norm over the whole model: the stages' or the DDP
 * replicas' gradients (a ttml_train_clip_fn). */
static gboolean lm_clip(void *data, GError **error)
{
    const lm_clip_args *a = data;
    return a->r->pp ? ttml_pipeline_clip(a->r->pp, a->s->clip, error)
                    : ttml_train_ddp_clip(a->r->ddp, a->r->params, a->s->clip, error);
}

/* capture: memory snapshots after the forward and backward of the first
 * micro-batch and after the optimizer (--memory-report, first step). */
static gboolean lm_step(const lm_settings *s, lm_run *r, float lr, double *loss_out, gboolean capture,
                        GError **error)
{
    int S = (int)s->seq_len;
    ttml_optimizer_zero_grad(r->opt);
    r->backward_ms = 0.0;
    if (capture) ttml_memory_begin_capture();
    /* Every window of the step first: the data do not depend on dropout
     * draws, so B x accum and (B * accum) x 1 see the same sequences. */
    ttml_zone_begin("data", "phase");
    ttml_text_data_sample(r->data, (int)s->batch_size * (int)s->accum, S, r->in_host, r->tgt_host);
    ttml_zone_end();
    gboolean ok = r->pp ? lm_pipeline_step(s, r, loss_out, error) : lm_micro_batches(s, r, capture, loss_out, error);
    /* DDP: the averaged gradient of the per-rank slice means is the gradient
     * of the global-batch mean (equal slices); the loss is the mean too */
    /* a stop request (signal) is agreed in the loss's all-reduce: every rank
     * stops after this step, or none does */
    r->stop = ttml_train_stop_requested() != 0;
    if (!ok || !ttml_train_ddp_finish(r->ddp, error) || !ttml_train_ddp_mean(r->ddp, loss_out, &r->stop, error)) {
        ttml_reset_graph();
        return FALSE;
    }
    lm_clip_args clip = {s, r};
    return ttml_train_step_end(r->opt, *loss_out, s->lr, lr, " or set clip_grad_norm_max_norm",
                               s->clip > 0.0 ? lm_clip : NULL, &clip, capture, error);
}

static gboolean lm_validate(const lm_settings *s, lm_run *r, double *out, GError **error)
{
    int B = (int)r->batch, S = (int)s->seq_len;
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_module_train(r->model, FALSE);
    gint64 K = s->val_batches * s->batch_size, first = (gint64)ttml_train_ddp_rank(r->ddp) * B;
    double sum = 0.0;
    gboolean ok = TRUE;
    for (gint64 j = 0; j < s->val_batches && ok; j++) {
        for (int b = 0; b < B; b++)
            ttml_text_data_val_window(r->data, j * s->batch_size + first + b, K, S, r->in_host + (gsize)b * S,
                                      r->tgt_host + (gsize)b * S);
        ok = ttml_tensor_write(r->inputs, r->in_host, error) &&
             ttml_tensor_write(r->targets, r->tgt_host, error);
        double v = NAN;
        if (ok && r->pp) {
            ok = ttml_pipeline_eval(r->pp, r->inputs, r->targets, r->vocab, &v, error);
        } else if (ok) {
            ttml_tensor *logits = ttml_module_forward(r->model, r->inputs, error);
            ttml_tensor *loss = logits ? ttml_train_ddp_loss(r->ddp, logits, r->targets, r->vocab, error) : NULL;
            v = loss ? (double)ttml_tensor_item(loss, error) : NAN;
            ok = loss && !(error && *error);
            ttml_tensor_unref(loss);
            ttml_tensor_unref(logits);
        }
        ttml_reset_graph();
        sum += v;
    }
    ttml_module_train(r->model, TRUE);
    ttml_set_grad_enabled(prev);
    if (ok) *out = sum / (double)s->val_batches;
    ok = ok && ttml_train_ddp_mean(r->ddp, out, NULL, error);
    if (!ok) g_prefix_error(error, "validation: ");
    return ok;
}

static void metrics_number(GString *line, const char *key, double v, const char *fmt)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    ttml_train_json_number(num, sizeof num, v, fmt);
    g_string_append_printf(line, ",\"%s\":%s", key, num);
}

/* Write the training state to `path` and say so ("checkpoint: step N -> PATH"). */
static gboolean save_state(const ttml_run_options *o, const lm_settings *s, lm_run *r, const char *path,
                           gint64 step, gint64 total, double val_loss, GError **error)
{
    /* DDP: every replica holds the same state; rank 0 writes it. TP and/or
     * pipeline: replica 0 of every (stage, TP rank) writes its shard, then,
     * when all succeeded, world rank 0 the index (train_app.h: the format).
     * (ttml_train_ddp_rank is the rank among the replicas.) */
    if (!ttml_train_ddp_barrier(r->ddp, error)) return FALSE;
    ttml_shard_layout lay;
    ttml_train_ddp_shard_layout(r->ddp, &lay);
    gboolean sharded = lay.tp > 1 || lay.pp > 1;
    if (!sharded && ttml_train_ddp_rank(r->ddp) != 0) return TRUE;
    ttml_train_state_info info = {
        .step = step,
        .optimizer_steps = r->opt->steps,
        .rng = ttml_get_rng_state(),
        .model_type = s->model_type,
        .optimizer_type = s->optimizer_type,
        .scheduler_type = s->scheduler_type,
        .total_steps = total,
        .vocab_size = r->vocab_padded,
        .max_seq_len = s->seq_len,
        .tokenizer = r->data->tokenizer,
        .config_text = s->config_text,
        .config_path = o->config_path,
        .data_path = r->data->path,
        .val_loss = val_loss,
    };
    if (sharded) {
        GError *mine = NULL;
        gboolean ok = ttml_train_ddp_rank(r->ddp) != 0 ||
                      ttml_sharded_save_shard(path, &lay, r->params, r->opt, &info, &mine);
        if (!ttml_train_ddp_agree(r->ddp, &ok, error)) {
            g_clear_error(&mine);
            return FALSE;
        }
        if (!ok) {
            if (mine) g_propagate_error(error, mine);
            else g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "another rank could not write its shard of "
                             "the checkpoint '%s' (its error names it); the previous checkpoint stays the committed "
                             "one", path);
            return FALSE;
        }
        if (ttml_train_ddp_world_rank(r->ddp) != 0) return TRUE;
        if (!ttml_sharded_save_index(path, &lay, &info, error)) return FALSE;
    } else if (!ttml_train_state_save(path, r->model, r->opt, &info, error)) {
        return FALSE;
    }
    if (o->quiet) return TRUE;
    if (r->prog) {
        ttml_progress_message(r->prog, "checkpoint: step %" G_GINT64_FORMAT " -> %s", step, path);
    } else {
        printf("checkpoint: step %" G_GINT64_FORMAT " -> %s\n", step, path);
        fflush(stdout);
    }
    return TRUE;
}

/* A fresh run never replaces a checkpoint it did not write: refuse an
 * existing model_path unless --overwrite (--resume continues it). */
static gboolean check_overwrite(const ttml_run_options *o, const lm_settings *s, GError **error)
{
    if (o->resume || o->overwrite || !*s->model_path || !g_file_test(s->model_path, G_FILE_TEST_EXISTS))
        return TRUE;
    GError *local = NULL;
    gint64 step = -1;
    ttml_checkpoint *ck = ttml_train_state_open(s->model_path, &local);
    if (ck && !ttml_train_state_int(ck, s->model_path, "step", &step, &local)) step = -1;
    if (ck) ttml_checkpoint_close(ck);
    g_clear_error(&local);
    char what[64];
    if (step >= 0)
        g_snprintf(what, sizeof what, "a checkpoint at step %" G_GINT64_FORMAT, step);
    else
        g_strlcpy(what, "a file that is not a ttml training state", sizeof what);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                "training_config.model_path '%s' already exists (%s, written by another run); "
                "continue it with --resume, replace it with --overwrite, or set model_path to a "
                "new file",
                s->model_path, what);
    return FALSE;
}

/* ------------------------------------------------------------- set-up */

/* --resume: open the checkpoint into r->ck and its tokenizer into *tok (it
 * encodes the corpus). Nothing to do without --resume. */
static gboolean open_resume(const ttml_run_options *o, const lm_settings *s, lm_run *r,
                            ttml_tokenizer **tok, GError **error)
{
    if (!o->resume) return TRUE;
    r->ck_path = o->resume_path ? o->resume_path : s->model_path;
    if (!r->ck_path || !*r->ck_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "--resume needs a checkpoint: set training_config.model_path in %s or "
                    "pass --resume FILE",
                    o->config_path);
        return FALSE;
    }
    r->ck = ttml_train_state_open(r->ck_path, error);
    if (!r->ck) return FALSE;
    ttml_checkpoint_allow_nonfinite(r->ck, o->allow_nonfinite);
    const char *mt = ttml_train_state_string(r->ck, r->ck_path, "model_type", error);
    const char *ts = mt ? ttml_train_state_string(r->ck, r->ck_path, "tokenizer", error) : NULL;
    if (!ts || !ttml_train_state_int(r->ck, r->ck_path, "vocab_size", &r->ck_vocab, error) ||
        !ttml_train_state_int(r->ck, r->ck_path, "total_steps", &r->ck_total, error))
        return FALSE;
    if (strcmp(mt, s->model_type) != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s' holds a '%s' model but %s trains model_type '%s'; resume "
                    "with the config the checkpoint was written with",
                    r->ck_path, mt, o->config_path, s->model_type);
        return FALSE;
    }
    char *changes = NULL;
    if (!ttml_train_state_check_config(r->ck, r->ck_path, s->root, &changes, error)) return FALSE;
    if (changes && !o->quiet) printf("resuming with changed training settings: %s\n", changes);
    g_free(changes);
    *tok = ttml_tokenizer_deserialize(ts, error);
    if (!*tok) {
        g_prefix_error(error, "checkpoint '%s': tokenizer: ", r->ck_path);
        return FALSE;
    }
    return TRUE;
}

/* The corpus (--data or data_config.path), tokenized with `tok` (taken
 * over; NULL: a new character tokenizer) and split. */
static gboolean load_corpus(const ttml_run_options *o, const lm_settings *s, lm_run *r,
                            ttml_tokenizer *tok, GError **error)
{
    const char *cli_data[2] = {o->data_path, NULL};
    r->data = o->data_path ? ttml_text_data_load(cli_data, NULL, tok, s->val_fraction, error)
                           : ttml_text_data_load((const char *const *)s->data_paths, s->config_dir, tok,
                                                 s->val_fraction, error);
    if (!r->data) return FALSE;
    if (r->data->skipped) {
        fprintf(stderr, "warning: data_config.path: %s not found; training on the fallback "
                "corpus '%s' instead (pass --data FILE to choose the text)\n",
                r->data->skipped, r->data->path);
        fflush(stderr);
    }
    int S = (int)s->seq_len;
    r->vocab = ttml_tokenizer_vocab_size(r->data->tokenizer);
    if (!o->quiet)
        printf("corpus: %s (%" G_GSIZE_FORMAT " tokens, vocabulary %" G_GINT64_FORMAT "; train %"
               G_GSIZE_FORMAT ", validation %" G_GSIZE_FORMAT ")\n",
               r->data->path, r->data->n, r->vocab, r->data->n_train, r->data->n_val);
    fflush(stdout);
    if (r->data->n_train < (gsize)S + 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "corpus '%s' is too small: %" G_GSIZE_FORMAT " training tokens for sequences of "
                    "%d (+1); use a larger text or a smaller transformer_config.max_sequence_length",
                    r->data->path, r->data->n_train, S);
        return FALSE;
    }
    r->has_val = r->data->n_val >= (gsize)S + 1;
    if (!r->has_val && s->val_fraction > 0.0 && !o->quiet)
        printf("note: the validation split (%" G_GSIZE_FORMAT " tokens) is shorter than one sequence; "
               "no validation loss\n", r->data->n_val);
    return TRUE;
}

/* The model's vocabulary: the tokenizer's padded to 32, or the config's
 * (which must hold the corpus' and match a resumed checkpoint's). */
static gboolean choose_vocab(const lm_settings *s, lm_run *r, GError **error)
{
    if (s->vocab_cfg > 0 && s->vocab_cfg < r->vocab) {
        char w[512];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: transformer_config.vocab_size is %" G_GINT64_FORMAT " but the corpus '%s' "
                    "has %" G_GINT64_FORMAT " distinct characters; raise vocab_size or remove it "
                    "(the padded tokenizer size %" G_GINT64_FORMAT " is then used)",
                    ttml_config_where(ttml_config_peek(s->tf_cfg, "vocab_size"), w, sizeof w),
                    s->vocab_cfg, r->data->path, r->vocab,
                    ttml_tokenizer_padded_vocab_size(r->data->tokenizer));
        return FALSE;
    }
    r->vocab_padded = s->vocab_cfg > 0 ? (s->vocab_cfg + 31) / 32 * 32
                                       : ttml_tokenizer_padded_vocab_size(r->data->tokenizer);
    if (r->ck && r->ck_vocab != r->vocab_padded) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s' has a vocabulary of %" G_GINT64_FORMAT " but this config gives %"
                    G_GINT64_FORMAT "; resume with the config the checkpoint was written with",
                    r->ck_path, r->ck_vocab, r->vocab_padded);
        return FALSE;
    }
    return TRUE;
}

/* --resume: the checkpoint's total steps (and so its schedule) win unless
 * --max-steps overrides them; a changed total is announced. */
static void resume_total(const ttml_run_options *o, lm_run *r)
{
    if (r->ck_total <= 0 || r->ck_total == r->total) return;
    if (o->max_steps <= 0) {
        if (!o->quiet)
            printf("resume: keeping the checkpoint's total of %" G_GINT64_FORMAT " steps and its "
                   "schedule (the config now gives %" G_GINT64_FORMAT "; pass --max-steps N to "
                   "change it)\n", r->ck_total, r->total);
        r->total = r->ck_total;
    } else if (!o->quiet) {
        printf("resume: total steps changed from %" G_GINT64_FORMAT " (checkpoint) to %" G_GINT64_FORMAT
               " (--max-steps); the schedule follows the new total\n", r->ck_total, r->total);
    }
}

/* Pipeline parallel: this rank's stage; r->params become its parameters
 * (the optimizer, DDP and clipping see only those). */
static gboolean open_pipeline(const lm_settings *s, lm_run *r, GError **error)
{
    ttml_pp_settings pps;
    ttml_comm *group = ttml_train_ddp_pipeline(r->ddp, &pps);
    if (!group) return TRUE;
    r->pp = ttml_pipeline_new(&pps, group, ttml_train_ddp_tp(r->ddp), r->model, r->batch, s->seq_len, error);
    if (!r->pp) return FALSE;
    g_ptr_array_unref(r->params);
    r->params = g_ptr_array_ref(r->pp->params);
    return TRUE;
}

/* Steps, seed, model, optimizer and scheduler; then no unknown keys. */
static gboolean create_model(const ttml_run_options *o, const lm_settings *s, lm_run *r, GError **error)
{
    int B = (int)s->batch_size, S = (int)s->seq_len;
    gint64 max_steps = o->max_steps >= 0 ? o->max_steps : s->max_steps;
    r->tokens_per_step = (gint64)B * S * s->accum; /* <= 2^20 * 2^20 * 2^20 (check_ranges, read_transformer) */
    gint64 per_epoch = MAX((gint64)1, (gint64)r->data->n_train / r->tokens_per_step);
    if (max_steps <= 0 && __builtin_mul_overflow(s->num_epochs, per_epoch, &r->total)) {
        char w[512];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: num_epochs %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT " steps per epoch overflows the "
                    "step count; use fewer epochs or set max_steps",
                    ttml_config_where(ttml_config_peek(s->train_cfg, "num_epochs"), w, sizeof w), s->num_epochs,
                    per_epoch);
        return FALSE;
    }
    if (max_steps > 0) r->total = max_steps;
    if (r->ck) resume_total(o, r);

    ttml_train_fit fit = {r->device, r->spec, s->model_type, s->optimizer_type, s->config_text, o->config_path,
                          r->vocab_padded, r->batch, s->seq_len};
    if (!ttml_train_check_fits(&fit, error)) return FALSE;
    ttml_set_seed((guint64)(o->seed >= 0 ? o->seed : s->seed));
    r->model = ttml_lm_model_create(s->model_type, s->config_text, o->config_path, r->vocab_padded,
                                    error);
    if (!r->model) {
        ttml_train_locate_not_found(error, s->train_cfg, "model_type");
        return FALSE;
    }
    r->params = ttml_module_parameters(r->model);
    if (!open_pipeline(s, r, error)) return FALSE;
    r->opt = ttml_optimizer_create(s->optimizer_type, r->params, s->optimizer_cfg, s->lr, s->weight_decay, error);
    if (!r->opt) {
        ttml_train_locate_not_found(error, s->train_cfg, "optimizer_type");
        return FALSE;
    }
    r->sched = ttml_scheduler_create(s->scheduler_type, s->scheduler_cfg, r->total, error);
    if (!r->sched) {
        ttml_train_locate_not_found(error, s->train_cfg, "scheduler_type");
        return FALSE;
    }
    if (!ttml_config_check_unused(s->root, error)) return FALSE;
    ttml_comm *tp = ttml_train_ddp_tp(r->ddp);
    if (!o->quiet && tp)
        printf("tensor parallel: %d ranks per model copy; the parameter count below is this rank's shard\n",
               ttml_comm_size(tp));
    if (!o->quiet)
        printf("model: %s, %" G_GSIZE_FORMAT " parameters, vocabulary %" G_GINT64_FORMAT
               " (padded %" G_GINT64_FORMAT "), sequence %d, batch %d x %" G_GINT64_FORMAT
               ", %" G_GINT64_FORMAT " steps\n",
               s->model_type, ttml_module_num_params(r->model), r->vocab, r->vocab_padded, S, B,
               s->accum, r->total);
    return TRUE;
}

/* Parameters and optimizer state: resharded (train_state_sharded.c) when the
 * checkpoint or the run is sharded (TP and/or pipeline; a stage loads its
 * own parameters), else with the exact checks. */
static gboolean restore_tensors(lm_run *r, gint64 opt_steps, GError **error)
{
    if (r->pp || ttml_train_ddp_tp(r->ddp) || ttml_train_state_is_sharded(r->ck)) {
        GPtrArray *all = ttml_module_parameters(r->model); /* a stage loads its own, checked against all */
        gboolean ok = ttml_train_state_restore(r->ck, r->ck_path, r->params, r->opt, opt_steps, all, error);
        g_ptr_array_unref(all);
        return ok;
    }
    return ttml_train_state_load_params(r->ck, r->ck_path, r->model, error) &&
           ttml_train_state_load_optimizer(r->ck, r->ck_path, r->opt, opt_steps, error);
}

/* --resume: parameters, optimizer state, RNG and step from r->ck (closed). */
static gboolean restore_state(const ttml_run_options *o, lm_run *r, GError **error)
{
    if (!r->ck) return TRUE;
    gint64 ck_step = 0, opt_steps = 0, seed = 0, counter = 0;
    if (!ttml_train_state_int(r->ck, r->ck_path, "step", &ck_step, error) ||
        !ttml_train_state_int(r->ck, r->ck_path, "optimizer_steps", &opt_steps, error) ||
        !ttml_train_state_int(r->ck, r->ck_path, "rng_seed", &seed, error) ||
        !ttml_train_state_int(r->ck, r->ck_path, "rng_counter", &counter, error) ||
        !restore_tensors(r, opt_steps, error))
        return FALSE;
    ttml_rng_state rs = {(guint64)seed, (guint64)counter};
    ttml_set_rng_state(rs);
    r->step = ck_step;
    ttml_checkpoint_close(r->ck);
    r->ck = NULL;
    if (!o->quiet) printf("resumed from %s at step %" G_GINT64_FORMAT "\n", r->ck_path, r->step);
    return TRUE;
}

/* Input and target tensors [B, 1, 1, S] and the host windows of a step. */
static gboolean alloc_batch(const lm_settings *s, lm_run *r, GError **error)
{
    int B = (int)r->batch, S = (int)s->seq_len;
    int64_t shape[4] = {B, 1, 1, S};
    r->inputs = ttml_tensor_empty(r->device, 4, shape, TTML_DTYPE_U32, error);
    if (!r->inputs) return FALSE;
    r->targets = ttml_tensor_empty(r->device, 4, shape, TTML_DTYPE_U32, error);
    if (!r->targets) return FALSE;
    r->in_host = g_new(guint32, (gsize)s->batch_size * S * s->accum);
    r->tgt_host = g_new(guint32, (gsize)s->batch_size * S * s->accum);
    return TRUE;
}

/* ------------------------------------------------------ the step loop */

typedef struct {
    ttml_progress prog;
    gint64 t_start, first_step;
    double train_us, window_us, window_loss;   /* window: since the last log_interval */
    gint64 window_steps;
    double last_val, last_loss, final_loss;
    gint64 last_val_step;
    double step_cpu_ms;        /* the process's CPU time in the last step (every thread) */
} lm_loop;

/* CPU time of the whole process (every thread) so far, ms; NAN when the
 * clock is not available. */
static double process_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return NAN;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* sim_comm_ms: the simulated collectives' part of sim_ms (NAN: none charged). */
static gboolean write_step_metrics(const ttml_run_options *o, lm_run *r, const lm_loop *lp, double loss,
                                   double lr, double step_ms, double sim_ms, double sim_comm_ms, double val,
                                   GError **error)
{
    GString *line = g_string_new(NULL);
    g_string_append_printf(line, "{\"step\":%" G_GINT64_FORMAT, r->step);
    metrics_number(line, "loss", loss, "%.9g");
    metrics_number(line, "lr", lr, "%.9g");
    metrics_number(line, "step_ms", step_ms, "%.3f");
    if (isfinite(lp->step_cpu_ms)) metrics_number(line, "cpu_ms", lp->step_cpu_ms, "%.3f");
    if (isfinite(sim_ms)) metrics_number(line, "sim_ms", sim_ms, "%.6f");
    if (isfinite(sim_comm_ms)) metrics_number(line, "sim_comm_ms", sim_comm_ms, "%.6f");
    metrics_number(line, "tokens_per_s",
                   lp->window_us > 0
                       ? (double)r->tokens_per_step * (double)lp->window_steps / (lp->window_us / 1e6)
                       : NAN,
                   "%.1f");
    if (isfinite(val)) metrics_number(line, "val_loss", val, "%.9g");
    if (r->ddp) ttml_train_ddp_metrics(r->ddp, r->backward_ms, line);
    if (ttml_train_ddp_tp(r->ddp)) {
        metrics_number(line, "tp_comm_ms", r->tp_stats.ms, "%.3f");
        g_string_append_printf(line, ",\"tp_comm_bytes\":%" G_GUINT64_FORMAT ",\"tp_comm_calls\":%" G_GUINT64_FORMAT,
                               r->tp_stats.bytes, r->tp_stats.calls);
    }
    if (r->pp) {
        /* this stage's transfers; the bubble is the share of the step spent
         * waiting for a neighbour, beside the ideal (P-1)/(M+P-1) */
        const ttml_pipeline *pl = r->pp;
        metrics_number(line, "pp_comm_ms", pl->comm_ms, "%.3f");
        g_string_append_printf(line, ",\"pp_comm_bytes\":%" G_GUINT64_FORMAT, pl->comm_bytes);
        metrics_number(line, "pp_wait_ms", pl->wait_ms, "%.3f");
        metrics_number(line, "pp_bubble", pl->step_ms > 0 ? pl->wait_ms / pl->step_ms : NAN, "%.4f");
        metrics_number(line, "pp_bubble_ideal",
                       (double)(pl->stages - 1) / (double)(pl->micro_batches + pl->stages - 1), "%.4f");
        g_string_append_printf(line, ",\"pp_max_in_flight\":%" G_GINT64_FORMAT, pl->max_in_flight);
    }
    g_string_append_printf(line, ",\"peak_mem_bytes\":%" G_GUINT64_FORMAT ",\"rss\":%" G_GUINT64_FORMAT "}",
                           ttml_device_mem_peak(r->device, TTML_MEM_DRAM), ttml_train_peak_rss());
    gboolean ok = ttml_train_metrics_write(r->metrics, o->metrics_path, line->str, error);
    g_string_free(line, TRUE);
    return ok;
}

/* A point of the profiler's series (the HTML report's charts): the series are
 * the process's, so only rank 0 of an in-process mesh records. */
static void series_add(const lm_run *r, const char *name, double x, double y)
{
    if (!r->mesh_follower) ttml_profiler_series_add(name, x, y);
}

/* One optimizer step with its validation, progress, metrics and periodic save. */
static gboolean loop_step(const ttml_run_options *o, const lm_settings *s, lm_run *r, lm_loop *lp,
                          GError **error)
{
    ttml_device_stats st0, st1 = {0};
    gboolean sim = ttml_device_get_stats(r->device, &st0) && st0.peak_flops > 0;
    gint64 t0 = g_get_monotonic_time();
    double cpu0 = process_cpu_ms();
    double lr = s->lr * ttml_scheduler_factor(r->sched, r->step);
    double loss = NAN;
    ttml_zone_begin("step", "step");
    (void)ttml_tp_stats_take();
    gboolean step_ok = lm_step(s, r, (float)lr, &loss, o->memory_report && r->step == lp->first_step, error);
    r->tp_stats = ttml_tp_stats_take();
    ttml_zone_end();
    if (!step_ok) return FALSE;
    gint64 t1 = g_get_monotonic_time();
    lp->step_cpu_ms = process_cpu_ms() - cpu0;
    double step_ms = (double)(t1 - t0) / 1000.0;
    double sim_ms = sim && ttml_device_get_stats(r->device, &st1) ? (st1.sim_time_s - st0.sim_time_s) * 1e3 : NAN;
    /* a mesh chip's collectives (charged through the communicator's observer) */
    double sim_comm_ms = isfinite(sim_ms) && st1.sim_comm_s > 0 ? (st1.sim_comm_s - st0.sim_comm_s) * 1e3 : NAN;
    gint64 step = ++r->step;
    series_add(r, "train_loss", (double)step, loss);
    series_add(r, "step_ms", (double)step, step_ms);
    if (isfinite(sim_ms)) series_add(r, "sim_ms", (double)step, sim_ms);   /* simulators */
    lp->train_us += (double)(t1 - t0);
    lp->window_us += (double)(t1 - t0);
    lp->window_loss += loss;
    lp->window_steps++;
    lp->last_loss = loss;

    double val = NAN;
    if (r->has_val && s->eval_every > 0 && step % s->eval_every == 0) {
        if (!lm_validate(s, r, &val, error)) return FALSE;
        lp->last_val = val;
        lp->last_val_step = step;
        series_add(r, "val_loss", (double)step, val);
    }
    ttml_progress_update(&lp->prog, step, loss, lr, val, step_ms, sim_ms);
    if (r->metrics && (step % s->log_interval == 0 || isfinite(val) || step == r->total) &&
        !write_step_metrics(o, r, lp, loss, lr, step_ms, sim_ms, sim_comm_ms, val, error))
        return FALSE;
    if (step % s->log_interval == 0 || step == r->total) {
        lp->final_loss = lp->window_loss / (double)lp->window_steps;
        lp->window_loss = 0.0;
        lp->window_us = 0.0;
        lp->window_steps = 0;
    }
    if (*s->model_path && s->save_interval > 0 && step % s->save_interval == 0 && step < r->total)
        return save_state(o, s, r, s->model_path, step, r->total, lp->last_val, error);
    return TRUE;
}

/* A stop request (SIGINT/SIGTERM) after a completed step: write the
 * checkpoint, say where and how to resume; FALSE with TTML_ERROR_INTERRUPTED. */
static gboolean stop_now(const ttml_run_options *o, const lm_settings *s, lm_run *r, lm_loop *lp,
                         int signo, GError **error)
{
    const char *sig = signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a stop request";
    char *path = NULL;
    if (*s->model_path) {
        path = g_strdup(s->model_path);
    } else {
        char *base = g_path_get_basename(o->config_path);
        char *dot = strrchr(base, '.');
        if (dot && dot != base) *dot = '\0';
        path = g_strdup_printf("%s.interrupted.safetensors", base);
        g_free(base);
    }
    gboolean saved = r->step > lp->first_step || !*s->model_path;
    if (saved && !save_state(o, s, r, path, r->step, r->total, lp->last_val, error)) {
        g_prefix_error(error, "interrupted by %s at step %" G_GINT64_FORMAT ", and the checkpoint "
                       "could not be written: ", sig, r->step);
        g_free(path);
        return FALSE;
    }
    ttml_progress_finish(&lp->prog);
    g_set_error(error, TTML_ERROR, TTML_ERROR_INTERRUPTED,
                "interrupted by %s after step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                "; the checkpoint is %s; continue with: ttml-run %s --resume %s",
                sig, r->step, r->total, path, o->config_path, path);
    g_free(path);
    return FALSE;
}

/* The steps, then a last validation when the loop did not end on one. */
static gboolean train_loop(const ttml_run_options *o, const lm_settings *s, lm_run *r, lm_loop *lp,
                           GError **error)
{
    while (r->step < r->total) {
        if (!loop_step(o, s, r, lp, error)) return FALSE;
        ttml_train_ddp_test_fault(r->ddp, r->step);
        int signo = ttml_train_stop_requested();
        /* DDP: the ranks' agreement (another rank's signal: "a stop request") */
        if (r->ddp) signo = r->stop ? (signo ? signo : -1) : 0;
        if (signo) return stop_now(o, s, r, lp, signo, error);
    }
    if (r->has_val && lp->last_val_step != r->step && r->step > 0) {
        if (!lm_validate(s, r, &lp->last_val, error)) return FALSE;
        series_add(r, "val_loss", (double)r->step, lp->last_val);
        ttml_progress_message(&lp->prog, "step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " val_loss %.4f",
                              r->step, r->total, lp->last_val);
    }
    return TRUE;
}

/* The final checkpoint (when steps were taken) and the closing lines. */
static gboolean save_final(const ttml_run_options *o, const lm_settings *s, lm_run *r, const lm_loop *lp,
                           GError **error)
{
    if (*s->model_path && r->step > lp->first_step) {
        if (!save_state(o, s, r, s->model_path, r->step, r->total, lp->last_val, error)) return FALSE;
    } else if (r->step == lp->first_step && !o->quiet) {
        printf("nothing to do: the checkpoint is at step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT "\n",
               r->step, r->total);
    }
    if (!o->quiet && isfinite(lp->last_val)) printf("final validation loss: %.4f\n", lp->last_val);
    fflush(stdout);
    return TRUE;
}

static gboolean write_summary(const ttml_run_options *o, const lm_settings *s, lm_run *r,
                              const lm_loop *lp, GError **error)
{
    double wall_s = (double)(g_get_monotonic_time() - lp->t_start) / 1e6;
    GString *line = g_string_new("{\"event\":\"summary\"");
    metrics_number(line, "final_loss", isfinite(lp->final_loss) ? lp->final_loss : lp->last_loss, "%.9g");
    metrics_number(line, "final_val_loss", lp->last_val, "%.9g");
    g_string_append_printf(line, ",\"steps\":%" G_GINT64_FORMAT, r->step);
    metrics_number(line, "wall_s", wall_s, "%.6f");
    metrics_number(line, "tokens_per_s",
                   lp->train_us > 0 ? (double)r->tokens_per_step * (double)(r->step - lp->first_step) /
                                          (lp->train_us / 1e6)
                                    : NAN,
                   "%.1f");
    g_string_append_printf(line, ",\"peak_mem_bytes\":%" G_GUINT64_FORMAT ",\"rss\":%" G_GUINT64_FORMAT,
                           ttml_device_mem_peak(r->device, TTML_MEM_DRAM), ttml_train_peak_rss());
    return ttml_train_summary_write(line, r->device, r->spec, s->model_type, r->metrics,
                                    o->metrics_path, error);
}

/* DDP (device_config.enable_ddp / multihost_config.enabled): the world and
 * the per-rank batch; ranks > 0 run with *o quiet (their metrics go to the
 * per-rank file ttml-run names, ttml_dist_rank_path; mesh ranks share the
 * process, so only rank 0 writes metrics and memory snapshots). */
static gboolean ddp_open(const ttml_run_options **o, const lm_settings *s, lm_run *r, ttml_comm *world,
                         GError **error)
{
    /* the effective settings every rank must share (after the command-line overrides) */
    const ttml_run_options *op = *o;
    char seed[32], steps[32], accum[32], lr[G_ASCII_DTOSTR_BUF_SIZE];
    g_snprintf(seed, sizeof seed, "%" G_GINT64_FORMAT, op->seed >= 0 ? op->seed : s->seed);
    g_snprintf(steps, sizeof steps, "%" G_GINT64_FORMAT, op->max_steps >= 0 ? op->max_steps : s->max_steps);
    g_snprintf(accum, sizeof accum, "%" G_GINT64_FORMAT, s->accum);
    g_ascii_dtostr(lr, sizeof lr, s->lr);
    char *text = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)s->config_text, s->config_len);
    const char *keys[] = {"training_config.seed (--seed)", "training_config.max_steps (--max-steps)",
                          "training_config.gradient_accumulation_steps", "training_config.learning_rate",
                          "training_config.model_type", "device_config.device (--device)",
                          "data (--data / data_config.path)", "--resume", "the config file's text (sha256)"};
    const char *values[] = {seed, steps, accum, lr, s->model_type, r->spec,
                            op->data_path ? op->data_path : s->data_paths[0] ? s->data_paths[0] : "",
                            !op->resume ? "no" : op->resume_path ? op->resume_path : "yes", text};
    gboolean opened = ttml_train_ddp_open(s->root, s->batch_size, world, keys, values, (int)G_N_ELEMENTS(keys), &r->ddp,
                                          &r->batch, error);
    g_free(text);
    if (!opened) return FALSE;
    if (ttml_train_ddp_world_rank(r->ddp) == 0) return TRUE;
    r->rank_options = **o;
    r->rank_options.quiet = TRUE;
    if (world) {
        r->mesh_follower = TRUE; /* the process's profiler series are rank 0's */
        r->rank_options.metrics_path = NULL;
        r->rank_options.memory_report = FALSE;
        if (r->metrics) fclose(r->metrics); /* opened by every rank; rank 0 writes it */
        r->metrics = NULL;
    }
    *o = &r->rank_options;
    return TRUE;
}

/* device / world: a mesh rank's chip and world rank (NULL: open the
 * configured device; the world from the settings). */
static gboolean run(const ttml_run_options *o, lm_settings *s, lm_run *r, ttml_device *device, ttml_comm *world,
                    GError **error)
{
    if (device) {
        r->device = device;
        r->spec = ttml_device_get_info(device)->name;
        ttml_context_set_thread_device(device);
    } else {
        /* device_config errors (a mesh board without its mesh_shape) before the device */
        ttml_dist_settings dist;
        if (!ttml_dist_settings_read(s->root, &dist, error)) return FALSE;
        r->spec = o->device ? o->device : s->device ? s->device : "cpu";
        r->device = ttml_context_open_device(r->spec, error);
    }
    if (!r->device) {
        if (!o->device && s->device) ttml_train_locate_not_found(error, s->device_cfg, "device");
        return FALSE;
    }
    if (!ddp_open(&o, s, r, world, error)) return FALSE;
    if (s->project_name && !o->quiet) printf("project: %s\n", s->project_name);
    ttml_set_matmul_precision(s->precision);
    if (!check_overwrite(o, s, error)) return FALSE;

    ttml_tokenizer *tok = NULL;
    if (!open_resume(o, s, r, &tok, error)) {
        ttml_tokenizer_free(tok);
        return FALSE;
    }
    if (!load_corpus(o, s, r, tok, error) || !choose_vocab(s, r, error) || !create_model(o, s, r, error) ||
        !restore_state(o, r, error) || (r->ddp && !ttml_train_ddp_attach(r->ddp, r->params, error)) ||
        !alloc_batch(s, r, error))
        return FALSE;
    ttml_module_train(r->model, TRUE);
    fflush(stdout);

    lm_loop lp = {.first_step = r->step, .last_val = NAN, .last_loss = NAN, .final_loss = NAN,
                  .last_val_step = -1};
    ttml_progress_init(&lp.prog, r->step, r->total, s->log_interval, (double)r->tokens_per_step, o->quiet);
    lp.t_start = g_get_monotonic_time();
    r->prog = &lp.prog;
    gboolean ok = train_loop(o, s, r, &lp, error) && ttml_train_ddp_check_params(r->ddp, r->params, error);
    ttml_progress_finish(&lp.prog);
    r->prog = NULL;
    ok = ok && save_final(o, s, r, &lp, error);
    if (!ok) ttml_progress_finish(&lp.prog);
    return ok && (!r->metrics || write_summary(o, s, r, &lp, error));
}

static gboolean lm_cleanup(const ttml_run_options *o, lm_settings *s, lm_run *r, gboolean ok, GError **error);

gboolean ttml_train_lm_run(const ttml_run_options *o, ttml_config *root, GError **error)
{
    lm_settings s = {0};
    lm_run r = {0};
    gboolean ok = FALSE, initialised = FALSE;
    s.root = root;
    if (read_settings(&s, error) && read_sources(o, &s, error) &&
        ttml_train_begin(o, &r.metrics, &initialised, error))
        ok = run(o, &s, &r, NULL, NULL, error);
    ok = lm_cleanup(o, &s, &r, ok, error);
    if (initialised) ttml_shutdown();
    return ok;
}

gboolean ttml_train_lm_rank(const ttml_run_options *o, ttml_config *root, ttml_device *device, ttml_comm *world,
                            GError **error)
{
    lm_settings s = {0};
    lm_run r = {0};
    gboolean ok = FALSE;
    s.root = root;
    if (read_settings(&s, error) && read_sources(o, &s, error) && ttml_train_metrics_open(o, &r.metrics, error))
        ok = run(o, &s, &r, device, world, error);
    return lm_cleanup(o, &s, &r, ok, error);
}

/* Free what the run holds (the metrics file is closed: a failed close turns
 * ok into an error); returns the new ok. */
static gboolean lm_cleanup(const ttml_run_options *o, lm_settings *s0, lm_run *r0, gboolean ok, GError **error)
{
    lm_settings s = *s0;
    lm_run r = *r0;
    ok = ttml_train_metrics_close(r.metrics, o->metrics_path, ok, error);
    if (!ok) ttml_train_ddp_fail_stop(r.ddp, error ? *error : NULL);
    ttml_tensor_unref(r.inputs);
    ttml_tensor_unref(r.targets);
    g_free(r.in_host);
    g_free(r.tgt_host);
    ttml_pipeline_free(r.pp);
    ttml_train_ddp_free(r.ddp);
    if (r.sched) ttml_scheduler_free(r.sched);
    if (r.opt) ttml_optimizer_free(r.opt);
    if (r.params) g_ptr_array_unref(r.params);
    if (r.model) ttml_module_unref(r.model);
    ttml_text_data_free(r.data);
    if (r.ck) ttml_checkpoint_close(r.ck);
    g_strfreev(s.data_paths);
    g_free(s.config_dir);
    g_free(s.config_text);
    return ok;
}
