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
 *                               hidden_features, output_features)
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
 */
#ifndef TTML_TRAIN_H
#define TTML_TRAIN_H

#include <ttml/types.h>
#include <ttml/error.h>

G_BEGIN_DECLS

typedef struct ttml_run_options {
    size_t struct_size;                /* sizeof(ttml_run_options)                   */
    const char *config_path;           /* the YAML config (required)                 */
    const char *device;                /* NULL: device_config.device, else "cpu"     */
    const char *const *plugin_paths;   /* NULL-terminated dirs searched first, or NULL */
    const char *const *plugin_files;   /* NULL-terminated .so files, or NULL         */
    gint64 seed;                       /* -1: training_config.seed                   */
    gint64 max_steps;                  /* -1: training_config.max_steps              */
    const char *metrics_path;          /* JSON Lines file, or NULL                   */
    gboolean quiet;                    /* no per-epoch lines                         */
} ttml_run_options;

/* Run the whole job: parse the config (errors stop before any plugin loads),
 * ttml_init, open the device, build data, model, optimizer and scheduler,
 * reject unknown keys, train, evaluate, then ttml_shutdown. The caller must
 * not have called ttml_init. FALSE with `error` set on any failure (the core
 * is shut down in every case). */
gboolean ttml_train_run(const ttml_run_options *options, GError **error);

G_END_DECLS

#endif
