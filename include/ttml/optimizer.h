/* ttml/optimizer.h - optimizers (plugins) with PyTorch semantics. */
#ifndef TTML_OPTIMIZER_H
#define TTML_OPTIMIZER_H

#include <ttml/module.h>

G_BEGIN_DECLS

typedef struct ttml_optimizer_class {
    const char *name;
    gboolean (*step)(ttml_optimizer *opt, GError **error);
    void (*finalize)(ttml_optimizer *opt);     /* free opt->priv */
    /* Optional: named state tensors for checkpoints ("exp_avg", ...): fills
     * `names`/`tensors` (borrowed) for parameter i; returns the count. */
    int (*state)(ttml_optimizer *opt, guint param_index, const char **names, ttml_tensor **tensors,
                 int max);
} ttml_optimizer_class;

struct ttml_optimizer {
    const ttml_optimizer_class *klass;
    GPtrArray *params;      /* ttml_param*, shared with the module list (owned ref) */
    float lr;               /* current learning rate (schedulers set it)   */
    gint64 steps;           /* completed steps                             */
    void *priv;
};

/* Common fields read from the config by ttml_optimizer_create: lr comes from
 * `learning_rate` and weight_decay from `weight_decay` unless the optimizer's
 * own map overrides them. */
struct ttml_optimizer_desc {
    size_t struct_size;
    const char *name;          /* "sgd", "adamw"               */
    const char *description;
    ttml_optimizer *(*create)(GPtrArray *params, ttml_config *cfg, double lr, double weight_decay,
                              GError **error);
};

TTML_API ttml_optimizer *ttml_optimizer_new(const ttml_optimizer_class *klass, GPtrArray *params, float lr,
                                            void *priv);
/* By name; unknown names list the registered optimizers. cfg may be NULL. */
TTML_API ttml_optimizer *ttml_optimizer_create(const char *name, GPtrArray *params, ttml_config *cfg,
                                               double lr, double weight_decay, GError **error);
TTML_API gboolean ttml_optimizer_step(ttml_optimizer *opt, GError **error);
TTML_API void ttml_optimizer_zero_grad(ttml_optimizer *opt);
TTML_API void ttml_optimizer_set_lr(ttml_optimizer *opt, float lr);
TTML_API float ttml_optimizer_get_lr(const ttml_optimizer *opt);
TTML_API void ttml_optimizer_free(ttml_optimizer *opt);
TTML_API const ttml_optimizer_desc *ttml_optimizer_find(const char *name);

/* Pass as ttml_optimizer_create's weight_decay when the training config
 * gives none: each optimizer then applies its own default (sgd 0, adamw 0.01
 * as in PyTorch). Optimizers treat any negative or NaN value this way. */
#define TTML_WEIGHT_DECAY_DEFAULT (-1.0)

/* PyTorch's torch.nn.utils.clip_grad_norm_: the global L2 norm of the
 * gradients of `params` (ttml_param*; parameters without a gradient are skipped) is stored in
 * *total_norm (may be NULL); when it exceeds max_norm every gradient is
 * scaled by max_norm / (norm + 1e-6). A non-finite norm is a
 * TTML_ERROR_NUMERIC when error_if_nonfinite (gradients untouched), else the
 * gradients are scaled as PyTorch does. max_norm must be > 0. */
TTML_API gboolean ttml_clip_grad_norm(GPtrArray *params, double max_norm, gboolean error_if_nonfinite,
                                      double *total_norm, GError **error);

G_END_DECLS

#endif
