/* ttml/scheduler.h - learning-rate schedulers (plugins). A scheduler maps a
 * step (0-based) to a factor of the base learning rate, like PyTorch's
 * LambdaLR. */
#ifndef TTML_SCHEDULER_H
#define TTML_SCHEDULER_H

#include <ttml/config.h>

G_BEGIN_DECLS

struct ttml_scheduler {
    const struct ttml_scheduler_desc *desc;
    gint64 total_steps;
    void *priv;                                    /* freed with g_free */
    double (*factor)(const ttml_scheduler *s, gint64 step);
};

struct ttml_scheduler_desc {
    size_t struct_size;
    const char *name;          /* "identity", "warmup_linear", "cosine" */
    const char *description;
    /* cfg: the scheduler's own map (may be NULL). */
    ttml_scheduler *(*create)(ttml_config *cfg, gint64 total_steps, GError **error);
};

/* For a plugin's create(): a scheduler whose factor(s, step) gives the
 * factor of the base learning rate at `step` (0-based); `priv` (may be NULL)
 * is freed with g_free by ttml_scheduler_free. The core sets desc and
 * total_steps after create() returns. Never NULL. */
TTML_API ttml_scheduler *ttml_scheduler_new(double (*factor)(const ttml_scheduler *s, gint64 step), void *priv);
TTML_API ttml_scheduler *ttml_scheduler_create(const char *name, ttml_config *cfg, gint64 total_steps,
                                               GError **error);
TTML_API double ttml_scheduler_factor(const ttml_scheduler *s, gint64 step);
TTML_API void ttml_scheduler_free(ttml_scheduler *s);
TTML_API const ttml_scheduler_desc *ttml_scheduler_find(const char *name);

G_END_DECLS

#endif
