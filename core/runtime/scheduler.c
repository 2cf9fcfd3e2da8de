/* core/runtime/scheduler.c - learning-rate schedulers by name. */
#include "internal.h"

ttml_scheduler *ttml_scheduler_new(double (*factor)(const ttml_scheduler *s, gint64 step), void *priv)
{
    ttml_scheduler *s = g_new0(ttml_scheduler, 1);
    s->factor = factor;
    s->priv = priv;
    return s;
}

ttml_scheduler *ttml_scheduler_create(const char *name, ttml_config *cfg, gint64 total_steps, GError **error)
{
    const ttml_scheduler_desc *d = ttml_scheduler_find(name);
    if (!d) {
        ttml_set_not_found(error, TTML_FEATURE_SCHEDULER, "scheduler", name);
        return NULL;
    }
    if (total_steps < 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "scheduler '%s': the run has %" G_GINT64_FORMAT " steps; it needs at least one "
                    "(check num_epochs, batch_size, num_samples and max_steps)", name, total_steps);
        return NULL;
    }
    ttml_scheduler *s = d->create(cfg, total_steps, error);
    if (!s) {
        if (error && *error) g_prefix_error(error, "scheduler '%s': ", name);
        return NULL;
    }
    s->desc = d;
    s->total_steps = total_steps;
    if (cfg && !ttml_config_check_unused(cfg, error)) {
        g_prefix_error(error, "scheduler '%s': ", name);
        ttml_scheduler_free(s);
        return NULL;
    }
    return s;
}

double ttml_scheduler_factor(const ttml_scheduler *s, gint64 step) { return s->factor(s, step); }

void ttml_scheduler_free(ttml_scheduler *s)
{
    if (!s) return;
    g_free(s->priv);
    g_free(s);
}
