/* drivers/cpu/kernels/cpu_kernels_optim.c - fused optimizer steps (PyTorch SGD and
 * AdamW semantics), one pass over the parameter and its state, in place.
 */
#include "cpu_internal.h"

#include <math.h>

#define OPTIM_GRAIN 16384

/* ---- sgd_step: in[0] = grad; out[0] = param, out[1] = momentum buffer ---- */

typedef struct {
    const float *g;
    float *p, *buf;
    float lr, momentum, dampening, wd;
    int nesterov, first;
} sgd_ctx;

TTML_CPU_VEC static void sgd_range(void *vctx, size_t begin, size_t end)
{
    const sgd_ctx *c = vctx;
    const float *g = c->g;
    float *p = c->p, *buf = c->buf;
    const float lr = c->lr, wd = c->wd, mom = c->momentum, keep = 1.0f - c->dampening;
    if (mom == 0.0f) {
        for (size_t i = begin; i < end; i++) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (c->first) {
        if (c->nesterov) {
            for (size_t i = begin; i < end; i++) {
                const float d = g[i] + wd * p[i];
                buf[i] = d;
                p[i] -= lr * (d + mom * d);
            }
        } else {
            for (size_t i = begin; i < end; i++) {
                const float d = g[i] + wd * p[i];
                buf[i] = d;
                p[i] -= lr * d;
            }
        }
    } else if (c->nesterov) {
        for (size_t i = begin; i < end; i++) {
            const float d = g[i] + wd * p[i];
            const float b = mom * buf[i] + keep * d;
            buf[i] = b;
            p[i] -= lr * (d + mom * b);
        }
    } else {
        for (size_t i = begin; i < end; i++) {
            const float d = g[i] + wd * p[i];
            const float b = mom * buf[i] + keep * d;
            buf[i] = b;
            p[i] -= lr * b;
        }
    }
}

gboolean ttml_cpu_sgd_step(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, sizeof(ttml_sgd_params), error)) return FALSE;
    const ttml_sgd_params *pr = l->params;
    const float *g = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!g) return FALSE;
    float *p = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!p) return FALSE;
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0] (grad)", &l->out[0], "out[0] (param)", error))
        return FALSE;
    float *buf = NULL;
    if (pr->momentum != 0.0f) {
        if (l->n_out < 2) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cpu kernel 'sgd_step': momentum %g needs the momentum buffer in out[1]",
                        (double)pr->momentum);
            return FALSE;
        }
        buf = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error);
        if (!buf) return FALSE;
        if (!ttml_cpu_check_numel(l, &l->out[0], "out[0] (param)", &l->out[1], "out[1] (momentum)", error))
            return FALSE;
    }
    sgd_ctx c = {g, p, buf, pr->lr, pr->momentum, pr->dampening, pr->weight_decay,
                 pr->nesterov, pr->first_step};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), OPTIM_GRAIN, sgd_range, &c);
    return TRUE;
}

/* ---- adamw_step: in[0] = grad; out[0] = param, out[1] = m, out[2] = v ----
 * When the parameter has a bf16 copy in the driver's weight cache (precision
 * bf16: the copy its products use), the same pass writes the copy too
 * (ttml_cpu_wcache_refresh_begin): the new weight is rounded as it is
 * stored, and the next step's products find a valid copy instead of reading
 * the fp32 weight again to convert it. The fp32 results do not depend on it. */

typedef struct {
    const float *g;
    float *p, *m, *v;
    guint16 *p16;   /* the parameter's bf16 copy to refresh, or NULL */
    float decay, b1, b2, step_size, inv_sqrt_bc2, eps;
} adamw_ctx;

/* One element: m, v and p updated in place; returns the new p. */
static inline float adamw_elem(const adamw_ctx *c, size_t i)
{
    const float gi = c->g[i];
    const float mi = c->b1 * c->m[i] + (1.0f - c->b1) * gi;
    const float vi = c->b2 * c->v[i] + (1.0f - c->b2) * gi * gi;
    c->m[i] = mi;
    c->v[i] = vi;
    /* p -= lr*wd*p; p -= lr * mhat / (sqrt(vhat) + eps) */
    const float pi = c->p[i] * c->decay - c->step_size * mi / (sqrtf(vi) * c->inv_sqrt_bc2 + c->eps);
    c->p[i] = pi;
    return pi;
}

TTML_CPU_VEC static void adamw_range(void *vctx, size_t begin, size_t end)
{
    const adamw_ctx c = *(const adamw_ctx *)vctx;
    if (c.p16) {
        guint16 *p16 = c.p16;
        for (size_t i = begin; i < end; i++) p16[i] = ttml_cpu_bf16_round(adamw_elem(&c, i));
    } else {
        for (size_t i = begin; i < end; i++) adamw_elem(&c, i);
    }
}

gboolean ttml_cpu_adamw_step(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 3, sizeof(ttml_adamw_params), error)) return FALSE;
    const ttml_adamw_params *pr = l->params;
    if (pr->step < 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel 'adamw_step': step is %" G_GINT64_FORMAT
                    "; it is 1-based (1 on the first update)",
                    pr->step);
        return FALSE;
    }
    const float *g = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!g) return FALSE;
    float *p = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!p) return FALSE;
    float *m = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error);
    if (!m) return FALSE;
    float *v = ttml_cpu_out(l, 2, TTML_DTYPE_F32, error);
    if (!v) return FALSE;
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0] (grad)", &l->out[0], "out[0] (param)", error) ||
        !ttml_cpu_check_numel(l, &l->out[0], "out[0] (param)", &l->out[1], "out[1] (exp_avg)", error) ||
        !ttml_cpu_check_numel(l, &l->out[0], "out[0] (param)", &l->out[2], "out[2] (exp_avg_sq)", error))
        return FALSE;
    const double t = (double)pr->step;
    const double bc1 = 1.0 - pow((double)pr->beta1, t);
    const double bc2 = 1.0 - pow((double)pr->beta2, t);
    const size_t n = ttml_cpu_numel(&l->out[0]);
    adamw_ctx c = {g, p, m, v, ttml_cpu_wcache_refresh_begin(l->out[0].buf, l->out[0].offset, n),
                   (float)(1.0 - (double)pr->lr * (double)pr->weight_decay),
                   pr->beta1, pr->beta2,
                   (float)((double)pr->lr / bc1),
                   (float)(1.0 / sqrt(bc2)),
                   pr->epsilon};
    ttml_cpu_parallel_for(n, OPTIM_GRAIN, adamw_range, &c);
    if (c.p16) ttml_cpu_wcache_refresh_done(l->out[0].buf, c.p16);
    return TRUE;
}
