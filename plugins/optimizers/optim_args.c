/* optim_args - reading the optimizers' arguments: the common keys of the
 * optimizer's own map (learning_rate or lr, weight_decay), bounded doubles,
 * and the locations their errors name. Shared by sgd.c and adamw.c. */
#include "optim_common.h"

#include <math.h>

const char *ttml_optim_where(ttml_config *cfg, const char *key, char *buf, size_t size)
{
    if (!cfg) {
        g_strlcpy(buf, "optimizer config", size);
        return buf;
    }
    ttml_config *node = key ? ttml_config_get(cfg, key) : NULL;
    return ttml_config_where(node ? node : cfg, buf, size);
}

gboolean ttml_optim_read_double(ttml_config *cfg, const char *opt, const char *key, double *value,
                                double lo, gboolean lo_open, double hi, gboolean hi_open,
                                GError **error)
{
    if (!cfg || !ttml_config_get(cfg, key)) return TRUE;
    GError *local = NULL;
    double v = ttml_config_double(cfg, key, *value, &local);
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    gboolean ok = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (!ok) {
        char where[256], range[96];
        if (isinf(lo) && isinf(hi))
            g_strlcpy(range, "a finite number", sizeof range);
        else if (isinf(hi))
            g_snprintf(range, sizeof range, "a finite number %s %g", lo_open ? ">" : ">=", lo);
        else
            g_snprintf(range, sizeof range, "in %c%g, %g%c", lo_open ? '(' : '[', lo, hi,
                       hi_open ? ')' : ']');
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s '%s' must be %s, got %g",
                    ttml_optim_where(cfg, key, where, sizeof where), opt, key, range, v);
        return FALSE;
    }
    *value = v;
    return TRUE;
}

double ttml_optim_weight_decay_arg(double weight_decay, double def)
{
    return (isnan(weight_decay) || weight_decay < 0) ? def : weight_decay;
}

gboolean ttml_optim_read_common(ttml_config *cfg, const char *opt, double *lr, double *weight_decay,
                                GError **error)
{
    if (cfg && ttml_config_get(cfg, "learning_rate") && ttml_config_get(cfg, "lr")) {
        char where[256];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: %s takes either 'learning_rate' or 'lr', not both",
                    ttml_optim_where(cfg, "lr", where, sizeof where), opt);
        return FALSE;
    }
    if (!ttml_optim_read_double(cfg, opt, "learning_rate", lr, 0, FALSE, INFINITY, TRUE, error) ||
        !ttml_optim_read_double(cfg, opt, "lr", lr, 0, FALSE, INFINITY, TRUE, error) ||
        !ttml_optim_read_double(cfg, opt, "weight_decay", weight_decay, 0, FALSE, INFINITY, TRUE,
                                error))
        return FALSE;
    if (!isfinite(*lr) || *lr < 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s learning_rate must be a finite number >= 0, got %g", opt, *lr);
        return FALSE;
    }
    if (!isfinite(*weight_decay) || *weight_decay < 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s weight_decay must be a finite number >= 0, got %g", opt,
                    *weight_decay);
        return FALSE;
    }
    return TRUE;
}
