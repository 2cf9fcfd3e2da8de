/* core/train/train.c - the config-driven training loop (TT-Train's example 1 in C).
 * The keys and outputs are documented in include/ttml/train.h. */
#include "train_internal.h"

#include <ttml/profiler_outputs.h>

#include <errno.h>
#include <math.h>
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

/* A top-level section or a nested *_config map: absent or empty -> NULL. */
gboolean ttml_train_get_map(ttml_config *parent, const char *key, const char *example,
                        ttml_config **out, GError **error)
{
    *out = NULL;
    ttml_config *node = ttml_config_get(parent, key);
    if (!node || ttml_config_is_null(node)) {
        ttml_config_mark_used(node);
        return TRUE;
    }
    if (ttml_config_get_type(node) != TTML_CONFIG_MAP) {
        char buf[512];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: '%s' must be a mapping, e.g. %s",
                    where(node, buf, sizeof buf), key, example);
        return FALSE;
    }
    *out = node;
    return TRUE;
}

gboolean ttml_train_range_error(ttml_config *map, const char *key, const char *rule, double value,
                            GError **error)
{
    char buf[512];
    ttml_config *node = ttml_config_peek(map, key);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: '%s' must be %s, got %g",
                where(node ? node : map, buf, sizeof buf), key, rule, value);
    return FALSE;
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

/* Prefix a not-found error with where the name was written. */
void ttml_train_locate_not_found(GError **error, ttml_config *map, const char *key)
{
    ttml_config *node = ttml_config_peek(map, key);
    char buf[512];
    if (node && error && *error && g_error_matches(*error, TTML_ERROR, TTML_ERROR_NOT_FOUND))
        g_prefix_error(error, "%s: ", where(node, buf, sizeof buf));
}

/* ---------------------------------------------------------------- metrics */

void ttml_train_json_number(char *buf, size_t size, double v, const char *fmt)
{
    if (!isfinite(v))
        g_strlcpy(buf, "null", size);
    else
        g_ascii_formatd(buf, (gint)size, fmt, v);
}

gboolean ttml_train_metrics_write(FILE *f, const char *path, const char *line, GError **error)
{
    if (fputs(line, f) == EOF || fputc('\n', f) == EOF || fflush(f) != 0) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot write metrics file '%s': %s", path,
                    g_strerror(e));
        return FALSE;
    }
    return TRUE;
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
    if (!isfinite(value)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_NUMERIC,
                    "the loss became %f at step %" G_GINT64_FORMAT
                    "; lower training_config.learning_rate (now %g)",
                    (double)value, st->opt->steps + 1, s->lr);
        goto fail;
    }
    ttml_optimizer_set_lr(st->opt, lr);
    ttml_zone_begin("optimizer", "phase");
    gboolean opt_ok = ttml_optimizer_step(st->opt, error);
    ttml_zone_end();
    if (!opt_ok) goto fail;
    if (capture) {
        ttml_memory_end_capture("optimizer");
        ttml_memory_print_usage(stdout);
        fflush(stdout);
        ttml_profiler_keep_memory_snapshots(ttml_memory_snapshots());
    }
    ttml_reset_graph();
    return TRUE;
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

static gboolean run_training(const ttml_run_options *o, run_settings *s, run_state *st,
                             GError **error)
{
    char buf[512];
    ttml_config *root = s->root;
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
    gint64 steps_per_epoch = st->data->n / s->batch_size;
    if (steps_per_epoch == 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: batch_size (%" G_GINT64_FORMAT ") is larger than the dataset (%"
                    G_GINT64_FORMAT " samples); lower batch_size or raise data_config.num_samples",
                    ttml_config_file(root), s->batch_size, st->data->n);
        return FALSE;
    }
    gint64 total_steps = s->num_epochs * steps_per_epoch;
    if (max_steps > 0 && max_steps < total_steps) total_steps = max_steps;

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
    st->sched = ttml_scheduler_create(s->scheduler_type, s->scheduler_cfg, total_steps, error);
    if (!st->sched) {
        ttml_train_locate_not_found(error, s->train_cfg, "scheduler_type");
        return FALSE;
    }
    if (!ttml_config_check_unused(root, error)) return FALSE;

    /* Inputs and targets: allocated once, refilled every step. */
    int B = (int)s->batch_size, in = s->in_features, out = s->out_features;
    int64_t xshape[4] = {B, 1, 1, in}, yshape[4] = {B, 1, 1, out};
    st->x = ttml_tensor_empty(st->device, 4, xshape, TTML_DTYPE_F32, error);
    if (!st->x) return FALSE;
    st->y = ttml_tensor_empty(st->device, 4, yshape, TTML_DTYPE_F32, error);
    if (!st->y) return FALSE;
    st->xb = g_new(float, (gsize)B * in);
    st->yb = g_new(float, (gsize)B * out);
    st->idx = g_new(gint64, st->data->n);
    ttml_module_train(st->model, TRUE);

    gint64 t_start = g_get_monotonic_time();
    gint64 step = 0;                    /* completed steps */
    double last_epoch_loss = NAN;
    for (gint64 epoch = 0; epoch < s->num_epochs && step < total_steps; epoch++) {
        ttml_shuffle_indices(st->idx, st->data->n);
        double sum = 0.0;
        gint64 count = 0;
        for (gint64 b = 0; b < steps_per_epoch && step < total_steps; b++) {
            gint64 t0 = g_get_monotonic_time();
            ttml_zone_begin("step", "step");
            ttml_zone_begin("data", "phase");
            ttml_dataset_gather(st->data, st->idx + b * B, B, st->xb, st->yb);
            gboolean data_ok = ttml_tensor_write(st->x, st->xb, error) && ttml_tensor_write(st->y, st->yb, error);
            ttml_zone_end();
            if (!data_ok) return FALSE;
            double lr = s->lr * ttml_scheduler_factor(st->sched, step);
            float loss = NAN;
            gboolean step_ok = train_step(s, st, (float)lr, &loss, o->memory_report && step == 0, error);
            ttml_zone_end();
            if (!step_ok) return FALSE;
            gint64 t1 = g_get_monotonic_time();
            step++;
            ttml_profiler_series_add("train_loss", (double)step, loss);
            ttml_profiler_series_add("step_ms", (double)step, (double)(t1 - t0) / 1000.0);
            sum += loss;
            count++;
            if (st->metrics && step % s->log_interval == 0) {
                char l[G_ASCII_DTOSTR_BUF_SIZE], r[G_ASCII_DTOSTR_BUF_SIZE],
                    ms[G_ASCII_DTOSTR_BUF_SIZE];
                ttml_train_json_number(l, sizeof l, loss, "%.9g");
                ttml_train_json_number(r, sizeof r, lr, "%.9g");
                ttml_train_json_number(ms, sizeof ms, (double)(t1 - t0) / 1000.0, "%.3f");
                g_snprintf(buf, sizeof buf,
                           "{\"step\":%" G_GINT64_FORMAT ",\"epoch\":%" G_GINT64_FORMAT
                           ",\"loss\":%s,\"lr\":%s,\"step_ms\":%s}",
                           step, epoch + 1, l, r, ms);
                if (!ttml_train_metrics_write(st->metrics, o->metrics_path, buf, error)) return FALSE;
            }
        }
        last_epoch_loss = sum / (double)count;
        if (!o->quiet) {
            printf("Epoch %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT ", Loss: %.6f\n", epoch + 1,
                   s->num_epochs, last_epoch_loss);
            fflush(stdout);
        }
    }
    double wall_s = (double)(g_get_monotonic_time() - t_start) / 1e6;
    if (step < s->num_epochs * steps_per_epoch && !o->quiet) {
        printf("Stopped after %" G_GINT64_FORMAT " steps (max_steps)\n", step);
        fflush(stdout);
    }

    if (!predict(s, st, error)) return FALSE;

    if (st->metrics) {
        GString *line = g_string_new("{\"event\":\"summary\",\"final_loss\":");
        char num[G_ASCII_DTOSTR_BUF_SIZE];
        ttml_train_json_number(num, sizeof num, last_epoch_loss, "%.9g");
        g_string_append_printf(line, "%s,\"steps\":%" G_GINT64_FORMAT ",\"wall_s\":", num, step);
        ttml_train_json_number(num, sizeof num, wall_s, "%.6f");
        g_string_append(line, num);
        g_string_append(line, ",\"device\":");
        const ttml_device_info *info = ttml_device_get_info(st->device);
        ttml_json_append_string(line, info && info->name[0] ? info->name : spec);
        g_string_append(line, ",\"model\":");
        ttml_json_append_string(line, s->model_type);
        g_string_append_c(line, '}');
        gboolean ok = ttml_train_metrics_write(st->metrics, o->metrics_path, line->str, error);
        g_string_free(line, TRUE);
        if (!ok) return FALSE;
    }
    return TRUE;
}

guint64 ttml_train_peak_rss(void)
{
    char *text = NULL;
    guint64 kb = 0;
    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL)) return 0;
    const char *p = strstr(text, "VmHWM:");
    if (p) kb = g_ascii_strtoull(p + 6, NULL, 10);
    g_free(text);
    return kb * 1024;
}

gboolean ttml_train_begin(const ttml_run_options *o, FILE **metrics, gboolean *initialised, GError **error)
{
    if (o->metrics_path) {
        *metrics = fopen(o->metrics_path, "w");
        if (!*metrics) {
            int e = errno;
            g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot open metrics file '%s': %s",
                        o->metrics_path, g_strerror(e));
            return FALSE;
        }
    }
    ttml_init_options init = {.struct_size = sizeof init, .plugin_paths = o->plugin_paths,
                              .plugin_files = o->plugin_files};
    *initialised = ttml_init(&init, error);
    return *initialised;
}

gboolean ttml_train_metrics_close(FILE *f, const char *path, gboolean ok, GError **error)
{
    if (f && fclose(f) != 0 && ok) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot write metrics file '%s': %s", path, g_strerror(e));
        return FALSE;
    }
    return ok;
}

gboolean ttml_train_run(const ttml_run_options *options, GError **error)
{
    g_return_val_if_fail(options != NULL, FALSE);
    /* Callers built against an older, shorter struct: the new tail is 0. */
    ttml_run_options opts = {0};
    if (options->struct_size < G_STRUCT_OFFSET(ttml_run_options, quiet) + sizeof(gboolean) ||
        !options->config_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_train_run: options need struct_size = sizeof(ttml_run_options) and a "
                    "config_path");
        return FALSE;
    }
    memcpy(&opts, options, MIN(options->struct_size, sizeof opts));
    opts.struct_size = sizeof opts;
    const ttml_run_options *o = &opts;
    run_settings s = {0};
    run_state st = {0};
    gboolean ok = FALSE, initialised = FALSE;

    s.root = ttml_config_load_file(o->config_path, error);
    if (!s.root) return FALSE;
    if (ttml_train_is_lm_config(s.root)) {
        ok = ttml_train_lm_run(o, s.root, error);
        ttml_config_free(s.root);
        return ok;
    }
    if (o->resume || o->data_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: %s is only supported for language models (a config with "
                    "training_config.transformer_config and data_config.type: text)",
                    o->config_path, o->resume ? "--resume" : "--data");
        goto out;
    }
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
    ttml_config_free(s.root);
    if (initialised) ttml_shutdown();
    return ok;
}
