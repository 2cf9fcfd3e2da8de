/* adamw.c - AdamW (PyTorch's torch.optim.AdamW, decoupled weight decay),
 * one fused "adamw_step" launch per parameter:
 *
 *   t += 1                                   (per parameter, like PyTorch)
 *   p  *= 1 - lr * weight_decay
 *   m   = beta1 * m + (1 - beta1) * g
 *   v   = beta2 * v + (1 - beta2) * g^2
 *   p  -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
 *
 * Keys: beta1 (0.9), beta2 (0.999), epsilon (1e-8), weight_decay (the
 * training config's when given, else 0.01 as in PyTorch), learning_rate / lr.
 * The moments are allocated as zeros (f32, on the parameter's device) at a
 * parameter's first step and exposed as "exp_avg" / "exp_avg_sq". Parameters
 * without a gradient are skipped and keep their step count. */
#include "optim_common.h"

#include <math.h>

typedef struct adamw_state {
    float beta1, beta2, epsilon, weight_decay;
    guint n;
    ttml_tensor **exp_avg;     /* [n] */
    ttml_tensor **exp_avg_sq;  /* [n] */
    gint64 *step;              /* [n] completed steps of each parameter */
    gboolean *from_state;      /* [n] moments allocated by state() (for a
                                * checkpoint load), not stepped since     */
} adamw_state;

static gboolean adamw_moments(adamw_state *s, ttml_tensor *p, guint i, GError **error)
{
    if (!s->exp_avg[i])
        s->exp_avg[i] = ttml_tensor_zeros(p->device, p->ndim, p->shape, TTML_DTYPE_F32, error);
    if (s->exp_avg[i] && !s->exp_avg_sq[i])
        s->exp_avg_sq[i] = ttml_tensor_zeros(p->device, p->ndim, p->shape, TTML_DTYPE_F32, error);
    return s->exp_avg[i] && s->exp_avg_sq[i];
}

static gboolean adamw_step(ttml_optimizer *opt, GError **error)
{
    adamw_state *s = opt->priv;
    for (guint i = 0; i < opt->params->len && i < s->n; i++) {
        ttml_param *param = g_ptr_array_index(opt->params, i);
        ttml_tensor *p = param->tensor;
        if (!p->grad) continue;
        /* Moments allocated by state() were filled by a checkpoint load
         * when the optimizer has completed steps: resume its count. */
        if (s->from_state[i] && s->step[i] == 0) s->step[i] = opt->steps;
        if (!adamw_moments(s, p, i, error)) {
            g_prefix_error(error, "adamw: moments of '%s': ", param->name);
            return FALSE;
        }
        ttml_adamw_params kp = {opt->lr, s->beta1, s->beta2, s->epsilon, s->weight_decay,
                                s->step[i] + 1};
        ttml_tensor *in[1] = {p->grad};
        ttml_tensor *out[3] = {p, s->exp_avg[i], s->exp_avg_sq[i]};
        if (!ttml_launch_tensors("adamw_step", in, 1, out, 3, &kp, sizeof kp, error)) {
            g_prefix_error(error, "adamw: parameter '%s': ", param->name);
            return FALSE;
        }
        s->step[i]++;
        s->from_state[i] = FALSE;
    }
    return TRUE;
}

static void adamw_finalize(ttml_optimizer *opt)
{
    adamw_state *s = opt->priv;
    if (!s) return;
    for (guint i = 0; i < s->n; i++) {
        ttml_tensor_unref(s->exp_avg[i]);
        ttml_tensor_unref(s->exp_avg_sq[i]);
    }
    g_free(s->exp_avg);
    g_free(s->exp_avg_sq);
    g_free(s->step);
    g_free(s->from_state);
    g_free(s);
    opt->priv = NULL;
}

static int adamw_state_fn(ttml_optimizer *opt, guint param_index, const char **names,
                          ttml_tensor **tensors, int max)
{
    adamw_state *s = opt->priv;
    if (param_index >= s->n || max < 2) return 0;
    ttml_param *param = g_ptr_array_index(opt->params, param_index);
    if (!s->exp_avg[param_index] || !s->exp_avg_sq[param_index]) {
        if (!adamw_moments(s, param->tensor, param_index, NULL)) return 0;
        s->from_state[param_index] = s->step[param_index] == 0;
    }
    names[0] = "exp_avg";
    tensors[0] = s->exp_avg[param_index];
    names[1] = "exp_avg_sq";
    tensors[1] = s->exp_avg_sq[param_index];
    return 2;
}

static const ttml_optimizer_class adamw_class = {"adamw", adamw_step, adamw_finalize,
                                                 adamw_state_fn};

ttml_optimizer *ttml_adamw_create(GPtrArray *params, ttml_config *cfg, double lr,
                                  double weight_decay, GError **error)
{
    double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
    double wd = ttml_optim_weight_decay_arg(weight_decay, 0.01);
    if (!ttml_optim_read_common(cfg, "adamw", &lr, &wd, error) ||
        !ttml_optim_read_double(cfg, "adamw", "beta1", &beta1, 0, FALSE, 1, TRUE, error) ||
        !ttml_optim_read_double(cfg, "adamw", "beta2", &beta2, 0, FALSE, 1, TRUE, error) ||
        !ttml_optim_read_double(cfg, "adamw", "epsilon", &epsilon, 0, FALSE, INFINITY, TRUE, error))
        return NULL;

    adamw_state *s = g_new0(adamw_state, 1);
    s->beta1 = (float)beta1;
    s->beta2 = (float)beta2;
    s->epsilon = (float)epsilon;
    s->weight_decay = (float)wd;
    s->n = params ? params->len : 0;
    s->exp_avg = g_new0(ttml_tensor *, s->n ? s->n : 1);
    s->exp_avg_sq = g_new0(ttml_tensor *, s->n ? s->n : 1);
    s->step = g_new0(gint64, s->n ? s->n : 1);
    s->from_state = g_new0(gboolean, s->n ? s->n : 1);
    return ttml_optimizer_new(&adamw_class, params, (float)lr, s);
}
