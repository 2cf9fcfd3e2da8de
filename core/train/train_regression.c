/* core/train/train_regression.c - the regression loop (TT-Train's example 1
 * in C): a synthetic dataset, a model, an optimizer and a scheduler from the
 * registry, epochs of shuffled batches, predictions at the end. The keys and
 * outputs are documented in include/ttml/train.h. */
#include "train_app.h"

#include <ttml/profiler_outputs.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ttml_config *root;
    /* training_config */
    gint64 seed, batch_size, num_epochs, max_steps, log_interval;
    double lr, weight_decay;
    const char *optimizer_type, *scheduler_type, *model_type;
    ttml_config *train_cfg, *device_cfg;     /* for error locations */
    ttml_config *optimizer_cfg, *scheduler_cfg, *model_cfg;
    /* other sections */
    const char *device;
    ttml_config *data_cfg;
    int in_features, out_features;
    int n_predict;
    float *predict;                 /* n_predict * in_features */
} run_settings;

/* ---------------------------------------------------------------- config */

static const char *where(const ttml_config *node, char *buf, size_t size)
{
    return ttml_config_where(node, buf, size);
}

/* The feature count from data_config.KEY, else model_config's KEY or ALT. */
static int feature_count(run_settings *s, const char *key, const char *alt, GError **error)
{
    GError *local = NULL;
    ttml_config *src = NULL;
    const char *name = NULL;
    if (ttml_config_peek(s->data_cfg, key)) {
        src = s->data_cfg;
        name = key;
    } else if (ttml_config_peek(s->model_cfg, key)) {
        src = s->model_cfg;
        name = key;
    } else if (ttml_config_peek(s->model_cfg, alt)) {
        src = s->model_cfg;
        name = alt;
    }
    if (!src) {
        char buf[512];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: cannot tell the dataset's %s: set model_config.%s (or .%s) or "
                    "data_config.%s",
                    where(s->model_cfg ? s->model_cfg : s->root, buf, sizeof buf), key, key, alt,
                    key);
        return -1;
    }
    gint64 v = ttml_config_int(src, name, 0, &local);
    if (local) {
        g_propagate_error(error, local);
        return -1;
    }
    if (v <= 0 || v > 1 << 20) {
        ttml_train_range_error(src, name, "a positive integer (at most 2^20)", (double)v, error);
        return -1;
    }
    return (int)v;
}

static gboolean read_predict(run_settings *s, ttml_config *eval, GError **error)
{
    char buf[512];
    ttml_config *rows = ttml_config_get(eval, "predict");
    if (!rows || ttml_config_is_null(rows)) return TRUE;
    if (ttml_config_get_type(rows) != TTML_CONFIG_SEQ) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: 'predict' must be a list of input rows, e.g. [[1.0, 1.0]]",
                    where(rows, buf, sizeof buf));
        return FALSE;
    }
    guint n = ttml_config_seq_len(rows);
    s->n_predict = (int)n;
    s->predict = g_new0(float, (gsize)n * s->in_features + 1);
    for (guint r = 0; r < n; r++) {
        ttml_config *row = ttml_config_seq_nth(rows, r);
        guint len = ttml_config_seq_len(row);
        if (ttml_config_get_type(row) != TTML_CONFIG_SEQ || len != (guint)s->in_features) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: predict[%u] must be a list of %d numbers (the model's inputs)",
                        where(row, buf, sizeof buf), r, s->in_features);
            return FALSE;
        }
        for (guint i = 0; i < len; i++) {
            ttml_config *item = ttml_config_seq_nth(row, i);
            const char *text = ttml_config_scalar(item);
            char *end = NULL;
            double v = text ? g_ascii_strtod(text, &end) : 0.0;
            if (!text || !*text || *end != '\0' || !isfinite(v)) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: predict[%u][%u] must be a number, got '%s'",
                            where(item, buf, sizeof buf), r, i, text ? text : "a list or mapping");
                return FALSE;
            }
            s->predict[r * s->in_features + i] = (float)v;
        }
    }
    return TRUE;
}

/* Everything read before any plugin loads. */
static gboolean read_settings(run_settings *s, GError **error)
{
    char buf[512];
    ttml_config *root = s->root;
    GError *local = NULL;
    if (ttml_config_get_type(root) != TTML_CONFIG_MAP) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: a config is a mapping with training_config, device_config, data_config "
                    "and eval_config sections",
                    where(root, buf, sizeof buf));
        return FALSE;
    }
    ttml_config *train = NULL, *device = NULL, *eval = NULL;
    if (!ttml_train_get_map(root, "training_config", "training_config: {batch_size: 32}", &train, error) ||
        !ttml_train_get_map(root, "device_config", "device_config: {device: cpu}", &device, error) ||
        !ttml_train_get_map(root, "data_config", "data_config: {type: linear}", &s->data_cfg, error) ||
        !ttml_train_get_map(root, "eval_config", "eval_config: {predict: [[1.0, 1.0]]}", &eval, error))
        return FALSE;
    s->train_cfg = train;
    s->device_cfg = device;
    if (!train) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: no 'training_config' section (see configs/linear_regression.yaml for "
                    "a complete example)",
                    ttml_config_file(root));
        return FALSE;
    }

    s->seed = ttml_config_int(train, "seed", 42, &local);
    s->batch_size = ttml_config_int(train, "batch_size", 32, &local);
    s->num_epochs = ttml_config_int(train, "num_epochs", 10, &local);
    s->max_steps = ttml_config_int(train, "max_steps", 0, &local);
    s->lr = ttml_config_double(train, "learning_rate", 0.1, &local);
    /* absent: each optimizer's own default (sgd 0, adamw 0.01, as in PyTorch) */
    s->weight_decay = ttml_config_double(train, "weight_decay", TTML_WEIGHT_DECAY_DEFAULT, &local);
    s->optimizer_type = ttml_config_string(train, "optimizer_type", "sgd", &local);
    s->scheduler_type = ttml_config_string(train, "scheduler_type", "identity", &local);
    s->model_type = ttml_config_string(train, "model_type", NULL, &local);
    s->log_interval = ttml_config_int(train, "log_interval", 1, &local);
    s->device = ttml_config_string(device, "device", NULL, &local);
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    if (!ttml_train_get_map(train, "optimizer_config", "{momentum: 0.9}", &s->optimizer_cfg, error) ||
        !ttml_train_get_map(train, "scheduler_config", "{warmup_steps: 10}", &s->scheduler_cfg, error) ||
        !ttml_train_get_map(train, "model_config", "{in_features: 2, out_features: 1}", &s->model_cfg,
                 error))
        return FALSE;

    if (s->seed < 0) return ttml_train_range_error(train, "seed", ">= 0", (double)s->seed, error);
    if (s->batch_size <= 0 || s->batch_size > (1 << 24))
        return ttml_train_range_error(train, "batch_size", "a positive integer", (double)s->batch_size,
                           error);
    if (s->num_epochs <= 0)
        return ttml_train_range_error(train, "num_epochs", "a positive integer", (double)s->num_epochs,
                           error);
    if (s->max_steps < 0)
        return ttml_train_range_error(train, "max_steps", ">= 0 (0 = no limit)", (double)s->max_steps,
                           error);
    if (!isfinite(s->lr) || s->lr < 0.0)
        return ttml_train_range_error(train, "learning_rate", "a finite number >= 0", s->lr, error);
    if (s->weight_decay != TTML_WEIGHT_DECAY_DEFAULT && (!isfinite(s->weight_decay) || s->weight_decay < 0.0))
        return ttml_train_range_error(train, "weight_decay", "a finite number >= 0", s->weight_decay, error);
    if (s->log_interval <= 0)
        return ttml_train_range_error(train, "log_interval", "a positive integer", (double)s->log_interval,
                           error);
    if (!s->model_type) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: training_config has no 'model_type' (e.g. model_type: "
                    "linear_regression)",
                    where(train, buf, sizeof buf));
        return FALSE;
    }

    s->in_features = feature_count(s, "in_features", "input_features", error);
    if (s->in_features < 0) return FALSE;
    s->out_features = feature_count(s, "out_features", "output_features", error);
    if (s->out_features < 0) return FALSE;
    /* in_features / out_features in data_config were read above if present. */
    return read_predict(s, eval, error);
}

/* -------------------------------------------------------------- the loop */

typedef struct {
    ttml_device *device;
    ttml_dataset *data;
    ttml_module *model;
    ttml_optimizer *opt;
    ttml_scheduler *sched;
    ttml_tensor *x, *y;
    float *xb, *yb;
    gint64 *idx;
    FILE *metrics;
    gint64 steps_per_epoch, total_steps;
    gint64 step;                    /* completed steps */
} run_state;

static gboolean train_step(run_settings *s, run_state *st, float lr, float *loss_out,
                           gboolean capture, GError **error)
{
    ttml_optimizer_zero_grad(st->opt);
    if (capture) ttml_memory_begin_capture();
    ttml_zone_begin("forward", "phase");
    ttml_tensor *pred = ttml_module_forward(st->model, st->x, error);
    ttml_tensor *loss = pred ? ttml_mse_loss(pred, st->y, TTML_REDUCE_MEAN, error) : NULL;
    ttml_tensor_unref(pred);
    ttml_zone_end();
    if (!loss) goto fail;
    if (capture) ttml_memory_snapshot_take("forward");
    ttml_zone_begin("backward", "phase");
    gboolean backward_ok = ttml_backward(loss, NULL, FALSE, error);
    ttml_zone_end();
    if (!backward_ok) {
        ttml_tensor_unref(loss);
        goto fail;
    }
    if (capture) ttml_memory_snapshot_take("backward");
    GError *local = NULL;
    float value = ttml_tensor_item(loss, &local);
    ttml_tensor_unref(loss);
    if (local) {
        g_propagate_error(error, local);
        goto fail;
    }
    *loss_out = value;
    return ttml_train_step_end(st->opt, (double)value, s->lr, lr, "", NULL, NULL, capture, error);
fail:
    ttml_reset_graph();
    return FALSE;
}

static gboolean predict(run_settings *s, run_state *st, GError **error)
{
    if (s->n_predict == 0) return TRUE;
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_module_train(st->model, FALSE);
    gboolean ok = FALSE;
    int64_t shape[4] = {s->n_predict, 1, 1, s->in_features};
    ttml_tensor *x = ttml_tensor_from_floats(st->device, 4, shape, s->predict, error);
    ttml_tensor *out = x ? ttml_module_forward(st->model, x, error) : NULL;
    if (out) {
        if ((gint64)out->numel != (gint64)s->n_predict * s->out_features) {
            char sh[64];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "model '%s' returned shape %s for %d prediction rows; expected %d "
                        "values per row",
                        s->model_type, ttml_shape_str(out->ndim, out->shape, sh, sizeof sh),
                        s->n_predict, s->out_features);
        } else {
            float *vals = g_new(float, out->numel);
            if (ttml_tensor_to_floats(out, vals, error)) {
                GString *line = g_string_new(NULL);
                for (int r = 0; r < s->n_predict; r++) {
                    g_string_assign(line, "Prediction for [");
                    for (int i = 0; i < s->in_features; i++)
                        g_string_append_printf(line, "%s%g", i ? ", " : "",
                                               (double)s->predict[r * s->in_features + i]);
                    g_string_append(line, "]: ");
                    if (s->out_features > 1) g_string_append_c(line, '[');
                    for (int o = 0; o < s->out_features; o++)
                        g_string_append_printf(line, "%s%.4f", o ? ", " : "",
                                               (double)vals[r * s->out_features + o]);
                    if (s->out_features > 1) g_string_append_c(line, ']');
                    printf("%s\n", line->str);
                }
                g_string_free(line, TRUE);
                fflush(stdout);
                ok = TRUE;
            }
            g_free(vals);
        }
    }
    ttml_tensor_unref(out);
    ttml_tensor_unref(x);
    ttml_reset_graph();
    ttml_module_train(st->model, TRUE);
    ttml_set_grad_enabled(prev);
    return ok;
}

/* Device, seed, dataset and the number of steps. */
static gboolean setup_data(const ttml_run_options *o, run_settings *s, run_state *st, GError **error)
{
    const char *spec = o->device ? o->device : s->device ? s->device : "cpu";
    st->device = ttml_context_open_device(spec, error);
    if (!st->device) {
        if (!o->device && s->device) ttml_train_locate_not_found(error, s->device_cfg, "device");
        return FALSE;
    }
    ttml_set_seed((guint64)(o->seed >= 0 ? o->seed : s->seed));
    gint64 max_steps = o->max_steps >= 0 ? o->max_steps : s->max_steps;

    st->data = ttml_dataset_synthetic(s->data_cfg, s->in_features, s->out_features, error);
    if (!st->data) return FALSE;
    st->steps_per_epoch = st->data->n / s->batch_size;
    if (st->steps_per_epoch == 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: batch_size (%" G_GINT64_FORMAT ") is larger than the dataset (%"
                    G_GINT64_FORMAT " samples); lower batch_size or raise data_config.num_samples",
                    ttml_config_file(s->root), s->batch_size, st->data->n);
        return FALSE;
    }
    st->total_steps = s->num_epochs * st->steps_per_epoch;
    if (max_steps > 0 && max_steps < st->total_steps) st->total_steps = max_steps;
    return TRUE;
}


/* training_config keys that only language-model configs read: explained as
 * such (with "did you mean" for near-misses) instead of plain unknown keys. */
static void note_lm_keys(ttml_config *train_cfg)
{
    static const char *const lm_keys[] = {
        "gradient_accumulation_steps", "clip_grad_norm_max_norm", "use_clip_grad_norm", "model_path",
        "model_save_interval", "eval_every", "val_every", "val_batches", "tokenizer_type",
        "use_moreh_adamw", "use_kahan_summation", "transformer_config", "data_path", "project_name",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(lm_keys); i++)
        ttml_config_note_elsewhere(train_cfg, lm_keys[i],
                                   "a language-model key: it applies only to configs with "
                                   "training_config.transformer_config and data_config.type: text; "
                                   "remove it from this config");
}
/* Model, optimizer and scheduler from the registry; then no unknown keys. */
static gboolean create_model(run_settings *s, run_state *st, GError **error)
{
    st->model = ttml_model_create(s->model_type, s->model_cfg, error);
    if (!st->model) {
        ttml_train_locate_not_found(error, s->train_cfg, "model_type");
        return FALSE;
    }
    GPtrArray *params = ttml_module_parameters(st->model);
    st->opt = ttml_optimizer_create(s->optimizer_type, params, s->optimizer_cfg, s->lr,
                                    s->weight_decay, error);
    g_ptr_array_unref(params);
    if (!st->opt) {
        ttml_train_locate_not_found(error, s->train_cfg, "optimizer_type");
        return FALSE;
    }
    st->sched = ttml_scheduler_create(s->scheduler_type, s->scheduler_cfg, st->total_steps, error);
    if (!st->sched) {
        ttml_train_locate_not_found(error, s->train_cfg, "scheduler_type");
        return FALSE;
    }
    note_lm_keys(s->train_cfg);
    return ttml_config_check_unused(s->root, error);
}

/* Inputs and targets: allocated once, refilled every step. */
static gboolean alloc_batch(run_settings *s, run_state *st, GError **error)
{
    int B = (int)s->batch_size, in = s->in_features, out = s->out_features;
    int64_t xshape[4] = {B, 1, 1, in}, yshape[4] = {B, 1, 1, out};
    st->x = ttml_tensor_empty(st->device, 4, xshape, TTML_DTYPE_F32, error);
    if (!st->x) return FALSE;
    st->y = ttml_tensor_empty(st->device, 4, yshape, TTML_DTYPE_F32, error);
    if (!st->y) return FALSE;
    st->xb = g_new(float, (gsize)B * in);
    st->yb = g_new(float, (gsize)B * out);
    st->idx = g_new(gint64, st->data->n);
    return TRUE;
}

static gboolean write_step_metrics(const ttml_run_options *o, run_state *st, gint64 step,
                                   gint64 epoch, float loss, double lr, double step_ms,
                                   GError **error)
{
    char buf[512];
    char l[G_ASCII_DTOSTR_BUF_SIZE], r[G_ASCII_DTOSTR_BUF_SIZE], ms[G_ASCII_DTOSTR_BUF_SIZE];
    ttml_train_json_number(l, sizeof l, loss, "%.9g");
    ttml_train_json_number(r, sizeof r, lr, "%.9g");
    ttml_train_json_number(ms, sizeof ms, step_ms, "%.3f");
    g_snprintf(buf, sizeof buf,
               "{\"step\":%" G_GINT64_FORMAT ",\"epoch\":%" G_GINT64_FORMAT
               ",\"loss\":%s,\"lr\":%s,\"step_ms\":%s}",
               step, epoch + 1, l, r, ms);
    return ttml_train_metrics_write(st->metrics, o->metrics_path, buf, error);
}

/* Batch b of the epoch's shuffled order: one step. Adds its loss to *sum. */
static gboolean batch_step(const ttml_run_options *o, run_settings *s, run_state *st, gint64 epoch,
                           gint64 b, double *sum, GError **error)
{
    int B = (int)s->batch_size;
    gint64 t0 = g_get_monotonic_time();
    ttml_zone_begin("step", "step");
    ttml_zone_begin("data", "phase");
    ttml_dataset_gather(st->data, st->idx + b * B, B, st->xb, st->yb);
    gboolean data_ok = ttml_tensor_write(st->x, st->xb, error) && ttml_tensor_write(st->y, st->yb, error);
    ttml_zone_end();
    if (!data_ok) return FALSE;
    double lr = s->lr * ttml_scheduler_factor(st->sched, st->step);
    float loss = NAN;
    gboolean step_ok = train_step(s, st, (float)lr, &loss, o->memory_report && st->step == 0, error);
    ttml_zone_end();
    if (!step_ok) return FALSE;
    gint64 t1 = g_get_monotonic_time();
    st->step++;
    ttml_profiler_series_add("train_loss", (double)st->step, loss);
    ttml_profiler_series_add("step_ms", (double)st->step, (double)(t1 - t0) / 1000.0);
    *sum += loss;
    if (st->metrics && st->step % s->log_interval == 0)
        return write_step_metrics(o, st, st->step, epoch, loss, lr, (double)(t1 - t0) / 1000.0, error);
    return TRUE;
}

/* The epochs; *last_epoch_loss is the mean loss of the last (partial) epoch. */
static gboolean train_epochs(const ttml_run_options *o, run_settings *s, run_state *st,
                             double *last_epoch_loss, GError **error)
{
    for (gint64 epoch = 0; epoch < s->num_epochs && st->step < st->total_steps; epoch++) {
        ttml_shuffle_indices(st->idx, st->data->n);
        double sum = 0.0;
        gint64 count = 0;
        for (gint64 b = 0; b < st->steps_per_epoch && st->step < st->total_steps; b++) {
            if (!batch_step(o, s, st, epoch, b, &sum, error)) return FALSE;
            count++;
            int signo = ttml_train_stop_requested();
            if (signo) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_INTERRUPTED,
                            "interrupted by %s after step %" G_GINT64_FORMAT " (epoch %" G_GINT64_FORMAT
                            "); regression runs write no checkpoint: start the run again",
                            signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a stop request",
                            st->step, epoch + 1);
                return FALSE;
            }
        }
        *last_epoch_loss = sum / (double)count;
        if (!o->quiet) {
            printf("Epoch %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT ", Loss: %.6f\n", epoch + 1,
                   s->num_epochs, *last_epoch_loss);
            fflush(stdout);
        }
    }
    return TRUE;
}

static gboolean write_summary(const ttml_run_options *o, run_settings *s, run_state *st,
                              double last_epoch_loss, double wall_s, GError **error)
{
    const char *spec = o->device ? o->device : s->device ? s->device : "cpu";
    GString *line = g_string_new("{\"event\":\"summary\",\"final_loss\":");
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    ttml_train_json_number(num, sizeof num, last_epoch_loss, "%.9g");
    g_string_append_printf(line, "%s,\"steps\":%" G_GINT64_FORMAT ",\"wall_s\":", num, st->step);
    ttml_train_json_number(num, sizeof num, wall_s, "%.6f");
    g_string_append(line, num);
    return ttml_train_summary_write(line, st->device, spec, s->model_type, st->metrics,
                                    o->metrics_path, error);
}

static gboolean run_training(const ttml_run_options *o, run_settings *s, run_state *st,
                             GError **error)
{
    if (!setup_data(o, s, st, error) || !create_model(s, st, error) || !alloc_batch(s, st, error))
        return FALSE;
    ttml_module_train(st->model, TRUE);

    gint64 t_start = g_get_monotonic_time();
    double last_epoch_loss = NAN;
    if (!train_epochs(o, s, st, &last_epoch_loss, error)) return FALSE;
    double wall_s = (double)(g_get_monotonic_time() - t_start) / 1e6;
    if (st->step < s->num_epochs * st->steps_per_epoch && !o->quiet) {
        printf("Stopped after %" G_GINT64_FORMAT " steps (max_steps)\n", st->step);
        fflush(stdout);
    }

    if (!predict(s, st, error)) return FALSE;
    if (st->metrics) return write_summary(o, s, st, last_epoch_loss, wall_s, error);
    return TRUE;
}

gboolean ttml_train_regression_check(ttml_config *root, GError **error)
{
    run_settings s = {0};
    s.root = root;
    gboolean ok = read_settings(&s, error);
    /* read by the model, optimizer, scheduler and dataset when they are built */
    ttml_config *built[] = {s.model_cfg, s.optimizer_cfg, s.scheduler_cfg, s.data_cfg};
    ok = ok && ttml_train_check_unused_but(root, built, G_N_ELEMENTS(built), error);
    g_free(s.predict);
    return ok;
}

gboolean ttml_train_regression_run(const ttml_run_options *o, ttml_config *root, GError **error)
{
    run_settings s = {0};
    run_state st = {0};
    gboolean ok = FALSE, initialised = FALSE;
    s.root = root;
    if (!read_settings(&s, error)) goto out;
    if (!ttml_train_begin(o, &st.metrics, &initialised, error)) goto out;
    ok = run_training(o, &s, &st, error);

out:
    ok = ttml_train_metrics_close(st.metrics, o->metrics_path, ok, error);
    ttml_tensor_unref(st.x);
    ttml_tensor_unref(st.y);
    g_free(st.xb);
    g_free(st.yb);
    g_free(st.idx);
    if (st.sched) ttml_scheduler_free(st.sched);
    if (st.opt) ttml_optimizer_free(st.opt);
    if (st.model) ttml_module_unref(st.model);
    ttml_dataset_free(st.data);
    g_free(s.predict);
    if (initialised) ttml_shutdown();
    return ok;
}
