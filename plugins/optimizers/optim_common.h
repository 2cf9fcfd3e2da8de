/* optim_common.h - helpers shared by the optimizers plugin's files (private). */
#ifndef TTML_OPTIM_COMMON_H
#define TTML_OPTIM_COMMON_H

#include <ttml/ttml.h>

/* ---- arguments (optim_args.c) ---- */
/* Read an optional double field of the optimizer's own map (cfg may be
 * NULL); an out-of-range value is a TTML_ERROR_CONFIG naming the key and
 * its location. lo/hi are inclusive unless *_open is set. */
gboolean ttml_optim_read_double(ttml_config *cfg, const char *opt, const char *key, double *value,
                                double lo, gboolean lo_open, double hi, gboolean hi_open,
                                GError **error);
/* The training config's weight_decay argument counts as "not given" when it
 * is NaN or negative; then `def` applies. */
double ttml_optim_weight_decay_arg(double weight_decay, double def);
/* Location text of `key` in cfg (or of cfg, or "optimizer config"). */
const char *ttml_optim_where(ttml_config *cfg, const char *key, char *buf, size_t size);

/* The common keys of the optimizer's own map: `learning_rate` (alias `lr`)
 * and `weight_decay` override *lr / *weight_decay; then both are checked
 * (finite, >= 0). */
gboolean ttml_optim_read_common(ttml_config *cfg, const char *opt, double *lr, double *weight_decay,
                                GError **error);

/* ---- the optimizers (sgd.c, adamw.c) ---- */
ttml_optimizer *ttml_sgd_create(GPtrArray *params, ttml_config *cfg, double lr, double weight_decay,
                                GError **error);
ttml_optimizer *ttml_adamw_create(GPtrArray *params, ttml_config *cfg, double lr,
                                  double weight_decay, GError **error);

#endif
