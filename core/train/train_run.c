/* core/train/train_run.c - helpers both training loops share: config
 * sections and range errors with the user's file and line, the metrics file
 * (JSON Lines), the peak RSS, and the start of a run (metrics file + ttml_init).
 * Declared in train_app.h. */
#include "train_app.h"

#include <ttml/profiler_outputs.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- config */

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
                    ttml_config_where(node, buf, sizeof buf), key, example);
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
                ttml_config_where(node ? node : map, buf, sizeof buf), key, rule, value);
    return FALSE;
}

gboolean ttml_train_check_unused_but(ttml_config *root, ttml_config *const *built, int n, GError **error)
{
    for (int i = 0; i < n; i++) ttml_config_mark_used(built[i]);
    return ttml_config_check_unused(root, error);
}

/* Prefix a not-found error with where the name was written. */
void ttml_train_locate_not_found(GError **error, ttml_config *map, const char *key)
{
    ttml_config *node = ttml_config_peek(map, key);
    char buf[512];
    if (node && error && *error && g_error_matches(*error, TTML_ERROR, TTML_ERROR_NOT_FOUND))
        g_prefix_error(error, "%s: ", ttml_config_where(node, buf, sizeof buf));
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

gboolean ttml_train_metrics_open(const ttml_run_options *o, FILE **metrics, GError **error)
{
    if (o->metrics_path) {
        /* A resumed run continues the earlier run's file. */
        *metrics = fopen(o->metrics_path, o->resume ? "a" : "w");
        if (!*metrics) {
            int e = errno;
            g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot open metrics file '%s': %s",
                        o->metrics_path, g_strerror(e));
            return FALSE;
        }
    }
    return TRUE;
}

gboolean ttml_train_begin(const ttml_run_options *o, FILE **metrics, gboolean *initialised, GError **error)
{
    if (!ttml_train_metrics_open(o, metrics, error)) return FALSE;
    ttml_init_options init = {.struct_size = sizeof init, .plugin_paths = o->plugin_paths,
                              .plugin_files = o->plugin_files};
    *initialised = ttml_init(&init, error);
    if (!*initialised) return FALSE;
    /* every run tells about bad plugin files; an explicit --plugin must load */
    ttml_registry_report_problems(stderr, "ttml: ");
    return ttml_registry_check_explicit(error);
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

/* ---------------------------------------------------------- run output */

void ttml_train_memory_capture_end(void)
{
    ttml_memory_end_capture("optimizer");
    ttml_memory_print_usage(stdout);
    fflush(stdout);
    ttml_profiler_keep_memory_snapshots(ttml_memory_snapshots());
}

gboolean ttml_train_step_end(ttml_optimizer *opt, double loss, double lr_cfg, float lr, const char *hint,
                             ttml_train_clip_fn clip, void *clip_data, gboolean capture, GError **error)
{
    gboolean ok = isfinite(loss);
    if (!ok)
        g_set_error(error, TTML_ERROR, TTML_ERROR_NUMERIC,
                    "the loss became %f at step %" G_GINT64_FORMAT "; lower training_config.learning_rate (now %g)%s",
                    loss, opt->steps + 1, lr_cfg, hint);
    if (ok) {
        ttml_zone_begin("optimizer", "phase");
        ok = !clip || clip(clip_data, error);
        ttml_optimizer_set_lr(opt, lr);
        ok = ok && ttml_optimizer_step(opt, error);
        ttml_zone_end();
    }
    if (ok && capture) ttml_train_memory_capture_end();
    ttml_reset_graph();
    return ok;
}

gboolean ttml_train_summary_write(GString *line, ttml_device *device, const char *spec,
                                  const char *model_type, FILE *f, const char *path, GError **error)
{
    g_string_append(line, ",\"device\":");
    const ttml_device_info *info = ttml_device_get_info(device);
    ttml_json_append_string(line, info && info->name[0] ? info->name : spec);
    g_string_append(line, ",\"model\":");
    ttml_json_append_string(line, model_type);
    g_string_append_c(line, '}');
    gboolean ok = ttml_train_metrics_write(f, path, line->str, error);
    g_string_free(line, TRUE);
    return ok;
}
