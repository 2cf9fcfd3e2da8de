/* drivers/cpu/kernels/cpu_kernels_loss.c - mse_fwd, mse_bwd and sum_sq.
 * Sums are accumulated in double.
 */
#include "cpu_internal.h"

#include <math.h>

static gboolean check_one(const ttml_launch *l, const ttml_view *v, const char *name, GError **error)
{
    if (ttml_cpu_numel(v) == 1) return TRUE;
    char s[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "cpu kernel '%s': %s must have 1 element, got shape %s", l->kernel ? l->kernel : "?",
                name, ttml_shape_str(v->ndim, v->shape, s, sizeof s));
    return FALSE;
}

static gboolean check_reduction(const ttml_launch *l, const ttml_loss_params *p, GError **error)
{
    if (p->reduction == TTML_REDUCE_MEAN || p->reduction == TTML_REDUCE_SUM) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "cpu kernel '%s': unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)",
                l->kernel ? l->kernel : "?", (int)p->reduction);
    return FALSE;
}

/* The checks and arguments mse_fwd and mse_bwd share: n_in inputs, one
 * output, loss params with a known reduction, f32 prediction in[0] and
 * target in[1] of one numel, and out[0]. */
static gboolean mse_args(const ttml_launch *l, int n_in, const ttml_loss_params **p, const float **x,
                         const float **y, float **out, GError **error)
{
    if (!ttml_cpu_check_launch(l, n_in, 1, sizeof(ttml_loss_params), error)) return FALSE;
    *p = l->params;
    if (!check_reduction(l, *p, error)) return FALSE;
    if (!(*x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(*y = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(*out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    return ttml_cpu_check_numel(l, &l->in[0], "in[0] (prediction)", &l->in[1], "in[1] (target)",
                                error);
}

gboolean ttml_cpu_mse_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    const ttml_loss_params *p;
    const float *x, *y;
    float *out;
    if (!mse_args(l, 2, &p, &x, &y, &out, error) || !check_one(l, &l->out[0], "out[0]", error))
        return FALSE;
    const size_t n = ttml_cpu_numel(&l->in[0]);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)x[i] - (double)y[i];
        s += d * d;
    }
    /* mean over no elements is NaN, as in PyTorch */
    out[0] = (float)(p->reduction == TTML_REDUCE_MEAN ? (n ? s / (double)n : NAN) : s);
    return TRUE;
}

gboolean ttml_cpu_mse_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    const ttml_loss_params *p;
    const float *x, *y, *dloss;
    float *dx;
    if (!mse_args(l, 3, &p, &x, &y, &dx, error)) return FALSE;
    if (!(dloss = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0] (prediction)", &l->out[0], "out[0]", error) ||
        !check_one(l, &l->in[2], "in[2] (dloss)", error))
        return FALSE;
    const size_t n = ttml_cpu_numel(&l->in[0]);
    if (n == 0) return TRUE;
    const double k = 2.0 * (double)dloss[0] / (p->reduction == TTML_REDUCE_MEAN ? (double)n : 1.0);
    const float kf = (float)k;
    for (size_t i = 0; i < n; i++) dx[i] = kf * (x[i] - y[i]);
    return TRUE;
}

gboolean ttml_cpu_sum_sq(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, 0, error)) return FALSE;
    const float *x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!x) return FALSE;
    float *out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!out) return FALSE;
    if (!check_one(l, &l->out[0], "out[0]", error)) return FALSE;
    const size_t n = ttml_cpu_numel(&l->in[0]);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    out[0] = (float)s;
    return TRUE;
}
