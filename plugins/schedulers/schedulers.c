/* schedulers - learning-rate factors per 0-based step s (PyTorch LambdaLR:
 * the learning rate of step s is base_lr * factor(s)). T = total_steps.
 *
 * identity        factor(s) = 1
 *
 * warmup_linear   (TT-Train's warmup + linear decay; HF's
 *                 get_linear_schedule_with_warmup with an end factor)
 *                 W = warmup_steps, or floor(warmup_fraction * T) with
 *                 warmup_fraction 0.1 by default (TT-Train truncates too:
 *                 T = 100 -> W = 10, T = 7 -> W = 0, no warm-up).
 *                   s <  W       : s / W          (0 at s = 0, reaching 1 at s = W)
 *                   W <= s < T   : 1 + (end_factor - 1) * (s - W) / (T - W)
 *                   s >= T       : end_factor     (end_factor 0.01 by default)
 *                 so the factor is 1 exactly at s = W and would be
 *                 end_factor at s = T; the last step T-1 is one decay
 *                 increment above it.
 *
 * cosine          same warm-up, then
 *                   W <= s < T   : min + (1 - min) * (1 + cos(pi * (s - W) / (T - W))) / 2
 *                   s >= T       : min            (min_factor 0.0 by default)
 *
 * Negative steps are treated as 0. Keys are read from the scheduler's own
 * map (may be absent): warmup_steps (0 <= W <= T) or warmup_fraction
 * (0 <= f <= 1), not both; end_factor / min_factor (finite). */
#include <ttml/ttml.h>

#include <math.h>

typedef struct warmup_params {
    gint64 warmup;
    double end;          /* end_factor or min_factor */
} warmup_params;

static const char *where_of(ttml_config *cfg, const char *key, char *buf, size_t size)
{
    ttml_config *node = cfg && key ? ttml_config_get(cfg, key) : NULL;
    if (!node && !cfg) {
        g_strlcpy(buf, "scheduler config", size);
        return buf;
    }
    return ttml_config_where(node ? node : cfg, buf, size);
}

static ttml_scheduler *scheduler_new(const ttml_scheduler_desc *desc, gint64 total_steps,
                                     double (*factor)(const ttml_scheduler *, gint64), void *priv)
{
    ttml_scheduler *s = ttml_scheduler_new(factor, priv);
    s->desc = desc;
    s->total_steps = total_steps;
    return s;
}

/* ---- identity ---- */

static double identity_factor(const ttml_scheduler *s, gint64 step)
{
    return 1.0;
}

static const ttml_scheduler_desc identity_desc;

static ttml_scheduler *identity_create(ttml_config *cfg, gint64 total_steps, GError **error)
{
    return scheduler_new(&identity_desc, total_steps, identity_factor, NULL);
}

static const ttml_scheduler_desc identity_desc = {
    sizeof(ttml_scheduler_desc), "identity", "constant learning rate (factor 1)", identity_create,
};

/* ---- warm-up shared by warmup_linear and cosine ---- */

/* Read warmup_steps / warmup_fraction and the end factor (`end_key`). */
static warmup_params *warmup_read(const char *name, ttml_config *cfg, gint64 total_steps,
                                  const char *end_key, double end_def, GError **error)
{
    char where[256];
    if (total_steps <= 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "scheduler '%s' needs total_steps > 0, got %" G_GINT64_FORMAT
                    "; set training_config.max_steps (or num_epochs)",
                    name, total_steps);
        return NULL;
    }
    gint64 warmup = (gint64)floor(0.1 * (double)total_steps);
    double end = end_def;
    GError *local = NULL;
    if (cfg) {
        gboolean has_steps = ttml_config_get(cfg, "warmup_steps") != NULL;
        gboolean has_fraction = ttml_config_get(cfg, "warmup_fraction") != NULL;
        if (has_steps && has_fraction) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: %s takes either warmup_steps or warmup_fraction, not both",
                        where_of(cfg, "warmup_fraction", where, sizeof where), name);
            return NULL;
        }
        if (has_steps) {
            warmup = ttml_config_int(cfg, "warmup_steps", warmup, &local);
            if (!local && (warmup < 0 || warmup > total_steps))
                g_set_error(&local, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: %s warmup_steps must be in [0, total_steps = %"
                            G_GINT64_FORMAT "], got %" G_GINT64_FORMAT,
                            where_of(cfg, "warmup_steps", where, sizeof where), name, total_steps,
                            warmup);
        }
        if (!local && has_fraction) {
            double f = ttml_config_double(cfg, "warmup_fraction", 0.1, &local);
            if (!local && !(f >= 0.0 && f <= 1.0))
                g_set_error(&local, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: %s warmup_fraction must be in [0, 1], got %g",
                            where_of(cfg, "warmup_fraction", where, sizeof where), name, f);
            else if (!local)
                warmup = (gint64)floor(f * (double)total_steps);
        }
        if (!local) {
            end = ttml_config_double(cfg, end_key, end_def, &local);
            if (!local && !isfinite(end))
                g_set_error(&local, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: %s %s must be a finite number, got %g",
                            where_of(cfg, end_key, where, sizeof where), name, end_key, end);
        }
        if (local) {
            g_propagate_error(error, local);
            return NULL;
        }
    }
    warmup_params *p = g_new0(warmup_params, 1);
    p->warmup = warmup;
    p->end = end;
    return p;
}

/* Returns TRUE and sets *factor for the warm-up part and s >= T; else sets
 * *progress = (s - W) / (T - W) in [0, 1). */
static gboolean warmup_phase(const ttml_scheduler *s, gint64 step, double *factor, double *progress)
{
    const warmup_params *p = s->priv;
    if (step < 0) step = 0;
    if (step < p->warmup) {
        *factor = (double)step / (double)p->warmup;
        return TRUE;
    }
    if (step >= s->total_steps) {
        *factor = p->warmup >= s->total_steps ? 1.0 : p->end;
        return TRUE;
    }
    *progress = (double)(step - p->warmup) / (double)(s->total_steps - p->warmup);
    return FALSE;
}

/* ---- warmup_linear ---- */

static double warmup_linear_factor(const ttml_scheduler *s, gint64 step)
{
    const warmup_params *p = s->priv;
    double factor, progress;
    if (warmup_phase(s, step, &factor, &progress)) return factor;
    return 1.0 + (p->end - 1.0) * progress;
}

static const ttml_scheduler_desc warmup_linear_desc;

static ttml_scheduler *warmup_linear_create(ttml_config *cfg, gint64 total_steps, GError **error)
{
    warmup_params *p = warmup_read("warmup_linear", cfg, total_steps, "end_factor", 0.01, error);
    if (!p) return NULL;
    return scheduler_new(&warmup_linear_desc, total_steps, warmup_linear_factor, p);
}

static const ttml_scheduler_desc warmup_linear_desc = {
    sizeof(ttml_scheduler_desc), "warmup_linear",
    "linear warm-up 0 -> 1 over warmup_steps (10% of total), then linear decay to end_factor "
    "(0.01)",
    warmup_linear_create,
};

/* ---- cosine ---- */

static double cosine_factor(const ttml_scheduler *s, gint64 step)
{
    const warmup_params *p = s->priv;
    double factor, progress;
    if (warmup_phase(s, step, &factor, &progress)) return factor;
    return p->end + (1.0 - p->end) * 0.5 * (1.0 + cos(G_PI * progress));
}

static const ttml_scheduler_desc cosine_desc;

static ttml_scheduler *cosine_create(ttml_config *cfg, gint64 total_steps, GError **error)
{
    warmup_params *p = warmup_read("cosine", cfg, total_steps, "min_factor", 0.0, error);
    if (!p) return NULL;
    return scheduler_new(&cosine_desc, total_steps, cosine_factor, p);
}

static const ttml_scheduler_desc cosine_desc = {
    sizeof(ttml_scheduler_desc), "cosine",
    "linear warm-up 0 -> 1 over warmup_steps (10% of total), then cosine decay to min_factor (0)",
    cosine_create,
};

/* ---- plugin ---- */

static gboolean schedulers_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_scheduler(plugin, &identity_desc, error) &&
           host->register_scheduler(plugin, &warmup_linear_desc, error) &&
           host->register_scheduler(plugin, &cosine_desc, error);
}

TTML_PLUGIN_DEFINE(schedulers, TTML_PLUGIN_SCHEDULER, "0.1.0",
                   "identity, warmup_linear and cosine learning-rate schedules", "Apache-2.0", NULL,
                   schedulers_init, NULL)
