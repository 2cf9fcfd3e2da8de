/* plugins/nn_ops/nn_norm.c - layernorm and rmsnorm over the last dim, from the
 * fused layernorm_fwd/bwd and rmsnorm_fwd/bwd kernels. The forward saves the
 * per-row statistics (mean and rstd, or rstd) for the backward, which
 * produces dx, dgamma (and dbeta) in one kernel. */
#include "nn_internal.h"

#include <math.h>

/* gamma (and beta) must hold exactly F = last dim of x elements. */
static gboolean check_affine(const char *op, const ttml_tensor *x, const ttml_tensor *p, const char *what,
                             GError **error)
{
    int64_t rows, f;
    nn_rows(x, &rows, &f);
    if ((int64_t)p->numel == f) return TRUE;
    ttml_op_shape_error(error, op, x, p,
                        "do not fit: %s must have %" G_GINT64_FORMAT " elements (the last dim of x)", what, f);
    return FALSE;
}

static gboolean check_eps(const char *op, const void *params, float *eps, GError **error)
{
    if (!nn_need_params(op, params, "ttml_norm_op_params", error)) return FALSE;
    *eps = ((const ttml_norm_op_params *)params)->eps;
    if (*eps >= 0.0f && isfinite(*eps)) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: eps must be finite and >= 0, got %g",
                op, (double)*eps);
    return FALSE;
}

/* ---- layernorm ---- */

static gboolean layernorm_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *x = node->in[0], *gamma = node->in[1], *beta = node->n_in > 2 ? node->in[2] : NULL;
    gboolean need_x = nn_needs_grad(node, 0), need_g = nn_needs_grad(node, 1),
             need_b = beta && nn_needs_grad(node, 2);
    if (!need_x && !need_g && !need_b) return TRUE;
    ttml_tensor *dx = nn_new_like(x, error);
    ttml_tensor *dg = dx ? nn_new_like(gamma, error) : NULL;
    ttml_tensor *db = dg && beta ? nn_new_like(beta, error) : NULL;
    gboolean ok = dg && (!beta || db);
    if (ok) {
        ttml_tensor *in[5] = {x, gamma, node->saved[0], node->saved[1], dy};
        ttml_tensor *out[3] = {dx, dg, db};
        ok = ttml_launch_tensors("layernorm_bwd", in, 5, out, beta ? 3 : 2, NULL, 0, error);
    }
    if (ok && need_x) ok = ttml_tensor_accumulate_grad(x, dx, error);
    if (ok && need_g) ok = ttml_tensor_accumulate_grad(gamma, dg, error);
    if (ok && need_b) ok = ttml_tensor_accumulate_grad(beta, db, error);
    ttml_tensor_unref(dx);
    ttml_tensor_unref(dg);
    ttml_tensor_unref(db);
    return ok;
}

ttml_tensor *nn_layernorm_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    const char *op = "layernorm";
    float eps;
    if (!ttml_op_check_inputs(op, in, n_in, 2, 3, 0, error) || !check_eps(op, params, &eps, error) ||
        !check_affine(op, in[0], in[1], "gamma", error) ||
        (n_in > 2 && !check_affine(op, in[0], in[2], "beta", error)))
        return NULL;
    ttml_tensor *x = in[0];
    int64_t rows, f;
    nn_rows(x, &rows, &f);
    ttml_tensor *y = nn_new_like(x, error);
    ttml_tensor *mean = y ? ttml_op_output(x, 1, &rows, error) : NULL;
    ttml_tensor *rstd = mean ? ttml_op_output(x, 1, &rows, error) : NULL;
    ttml_norm_params p = {eps};
    ttml_tensor *out[3] = {y, mean, rstd};
    if (!rstd || !ttml_launch_tensors("layernorm_fwd", in, n_in, out, 3, &p, sizeof p, error)) {
        ttml_tensor_unref(y);
        ttml_tensor_unref(mean);
        ttml_tensor_unref(rstd);
        return NULL;
    }
    ttml_node *node = ttml_graph_record(op, y, in, n_in, layernorm_backward);
    if (node) {
        ttml_node_save(node, mean);
        ttml_node_save(node, rstd);
    }
    ttml_tensor_unref(mean);
    ttml_tensor_unref(rstd);
    return y;
}

/* ---- rmsnorm ---- */

static gboolean rmsnorm_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *x = node->in[0], *gamma = node->in[1];
    gboolean need_x = nn_needs_grad(node, 0), need_g = nn_needs_grad(node, 1);
    if (!need_x && !need_g) return TRUE;
    ttml_tensor *dx = nn_new_like(x, error);
    ttml_tensor *dg = dx ? nn_new_like(gamma, error) : NULL;
    gboolean ok = dg != NULL;
    if (ok) {
        ttml_tensor *in[4] = {x, gamma, node->saved[0], dy};
        ttml_tensor *out[2] = {dx, dg};
        ok = ttml_launch_tensors("rmsnorm_bwd", in, 4, out, 2, NULL, 0, error);
    }
    if (ok && need_x) ok = ttml_tensor_accumulate_grad(x, dx, error);
    if (ok && need_g) ok = ttml_tensor_accumulate_grad(gamma, dg, error);
    ttml_tensor_unref(dx);
    ttml_tensor_unref(dg);
    return ok;
}

ttml_tensor *nn_rmsnorm_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    const char *op = "rmsnorm";
    float eps;
    if (!ttml_op_check_inputs(op, in, n_in, 2, 2, 0, error) || !check_eps(op, params, &eps, error) ||
        !check_affine(op, in[0], in[1], "gamma", error))
        return NULL;
    ttml_tensor *x = in[0];
    int64_t rows, f;
    nn_rows(x, &rows, &f);
    ttml_tensor *y = nn_new_like(x, error);
    ttml_tensor *rstd = y ? ttml_op_output(x, 1, &rows, error) : NULL;
    ttml_norm_params p = {eps};
    ttml_tensor *out[2] = {y, rstd};
    if (!rstd || !ttml_launch_tensors("rmsnorm_fwd", in, 2, out, 2, &p, sizeof p, error)) {
        ttml_tensor_unref(y);
        ttml_tensor_unref(rstd);
        return NULL;
    }
    ttml_node *node = ttml_graph_record(op, y, in, 2, rmsnorm_backward);
    if (node) ttml_node_save(node, rstd);
    ttml_tensor_unref(rstd);
    return y;
}
