/* sgd.c - stochastic gradient descent with PyTorch's semantics:
 *
 *   g = grad + weight_decay * p
 *   if momentum != 0:
 *       buf = g                                    (first step)
 *       buf = momentum * buf + (1 - dampening) * g (later steps)
 *       g = nesterov ? g + momentum * buf : buf
 *   p -= lr * g
 *
 * Keys: momentum (0), dampening (0), nesterov (false), weight_decay (the
 * training config's, else 0), learning_rate / lr. Nesterov needs momentum > 0
 * and dampening == 0, as in PyTorch. Parameters without a gradient are
 * skipped. The momentum buffer of a parameter is allocated on its device at
 * its first step and exposed as "momentum_buffer" for checkpoints. */
#include "optim_common.h"

#include <math.h>

typedef struct sgd_state {
    float momentum, dampening, weight_decay;
    gboolean nesterov;
    guint n;
    ttml_tensor **buf;      /* [n] momentum buffers, NULL until needed        */
    gboolean *from_state;   /* [n] buf allocated by state() (for a checkpoint
                             * load) and not stepped since                    */
} sgd_state;

/* Allocate parameter i's momentum buffer (zeros, f32, on its device). */
static ttml_tensor *sgd_buffer(sgd_state *s, ttml_tensor *p, guint i, GError **error)
{
    if (!s->buf[i]) s->buf[i] = ttml_tensor_zeros(p->device, p->ndim, p->shape, TTML_DTYPE_F32, error);
    return s->buf[i];
}

static gboolean sgd_step(ttml_optimizer *opt, GError **error)
{
    sgd_state *s = opt->priv;
    for (guint i = 0; i < opt->params->len && i < s->n; i++) {
        ttml_param *param = g_ptr_array_index(opt->params, i);
        ttml_tensor *p = param->tensor;
        if (!p->grad) continue;
        ttml_sgd_params kp = {opt->lr, s->momentum, s->dampening, s->weight_decay, s->nesterov, 0};
        ttml_tensor *out[2] = {p, NULL};
        int n_out = 1;
        if (s->momentum != 0.0f) {
            if (!s->buf[i]) {
                kp.first_step = 1;   /* buf = g, as PyTorch does */
            } else if (s->from_state[i]) {
                /* Allocated by state(): a checkpoint load filled it when
                 * the optimizer has completed steps; else it is zeros. */
                kp.first_step = opt->steps == 0;
            }
            if (!sgd_buffer(s, p, i, error)) {
                g_prefix_error(error, "sgd: momentum buffer of '%s': ", param->name);
                return FALSE;
            }
            out[1] = s->buf[i];
            n_out = 2;
        }
        ttml_tensor *in[1] = {p->grad};
        if (!ttml_launch_tensors("sgd_step", in, 1, out, n_out, &kp, sizeof kp, error)) {
            g_prefix_error(error, "sgd: parameter '%s': ", param->name);
            return FALSE;
        }
        s->from_state[i] = FALSE;
    }
    return TRUE;
}

static void sgd_finalize(ttml_optimizer *opt)
{
    sgd_state *s = opt->priv;
    if (!s) return;
    for (guint i = 0; i < s->n; i++) ttml_tensor_unref(s->buf[i]);
    g_free(s->buf);
    g_free(s->from_state);
    g_free(s);
    opt->priv = NULL;
}

static int sgd_state_fn(ttml_optimizer *opt, guint param_index, const char **names,
                        ttml_tensor **tensors, int max)
{
    sgd_state *s = opt->priv;
    if (s->momentum == 0.0f || param_index >= s->n || max < 1) return 0;
    ttml_param *param = g_ptr_array_index(opt->params, param_index);
    if (!s->buf[param_index]) {
        if (!sgd_buffer(s, param->tensor, param_index, NULL)) return 0;
        s->from_state[param_index] = TRUE;
    }
    names[0] = "momentum_buffer";
    tensors[0] = s->buf[param_index];
    return 1;
}

static const ttml_optimizer_class sgd_class = {"sgd", sgd_step, sgd_finalize, sgd_state_fn};

ttml_optimizer *ttml_sgd_create(GPtrArray *params, ttml_config *cfg, double lr, double weight_decay,
                                GError **error)
{
    double momentum = 0.0, dampening = 0.0;
    double wd = ttml_optim_weight_decay_arg(weight_decay, 0.0);
    gboolean nesterov = FALSE;
    char where[256];

    if (!ttml_optim_read_common(cfg, "sgd", &lr, &wd, error) ||
        !ttml_optim_read_double(cfg, "sgd", "momentum", &momentum, 0, FALSE, INFINITY, TRUE, error) ||
        !ttml_optim_read_double(cfg, "sgd", "dampening", &dampening, -INFINITY, TRUE, INFINITY, TRUE,
                                error))
        return NULL;
    if (cfg) {
        GError *local = NULL;
        nesterov = ttml_config_bool(cfg, "nesterov", FALSE, &local);
        if (local) {
            g_propagate_error(error, local);
            return NULL;
        }
    }
    if (nesterov && (momentum <= 0.0 || dampening != 0.0)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: nesterov needs momentum > 0 and dampening == 0 "
                    "(got momentum %g, dampening %g); set momentum (e.g. 0.9) and dampening: 0, "
                    "or nesterov: false",
                    ttml_optim_where(cfg, "nesterov", where, sizeof where), momentum, dampening);
        return NULL;
    }

    sgd_state *s = g_new0(sgd_state, 1);
    s->momentum = (float)momentum;
    s->dampening = (float)dampening;
    s->weight_decay = (float)wd;
    s->nesterov = nesterov;
    s->n = params ? params->len : 0;
    s->buf = g_new0(ttml_tensor *, s->n ? s->n : 1);
    s->from_state = g_new0(gboolean, s->n ? s->n : 1);
    return ttml_optimizer_new(&sgd_class, params, (float)lr, s);
}
