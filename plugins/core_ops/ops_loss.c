/* plugins/core_ops/ops_loss.c - mse_loss(pred, target) with mean or sum
 * reduction, from the fused "mse_fwd" / "mse_bwd" kernels. */
#include "ops_internal.h"

static gboolean mse_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    gboolean need_pred = ops_needs_grad(node, 0), need_target = ops_needs_grad(node, 1);
    if (!need_pred && !need_target) return TRUE;
    ttml_tensor *pred = node->in[0], *target = node->in[1];
    ttml_loss_params p = {(ttml_reduction)node->state.i[0]};
    ttml_tensor *dpred = ttml_op_output(pred, pred->ndim, pred->shape, error);
    if (!dpred) return FALSE;
    ttml_tensor *in[3] = {pred, target, dy};
    gboolean ok = ops_launch("mse_bwd", in, 3, dpred, &p, sizeof p, error);
    if (ok && need_pred) ok = ttml_tensor_accumulate_grad(pred, dpred, error);
    if (ok && need_target) {
        /* d/dtarget = -d/dpred (a separate tensor: dpred may now be pred's grad) */
        ttml_tensor *dtarget = ttml_op_output(target, target->ndim, target->shape, error);
        ttml_affine_params neg = {-1.0f, 0.0f};
        ok = dtarget && ops_launch("affine", &dpred, 1, dtarget, &neg, sizeof neg, error) &&
             ttml_tensor_accumulate_grad(target, dtarget, error);
        ttml_tensor_unref(dtarget);
    }
    ttml_tensor_unref(dpred);
    return ok;
}

ttml_tensor *ops_mse_loss_forward(ttml_tensor *const *in, int n_in, const void *params,
                                  GError **error)
{
    if (!ttml_op_check_inputs("mse_loss", in, n_in, 2, 2, 0, error)) return NULL;
    ttml_reduction reduction = params ? ((const ttml_mse_op_params *)params)->reduction
                                      : TTML_REDUCE_MEAN;
    if (reduction != TTML_REDUCE_MEAN && reduction != TTML_REDUCE_SUM) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "mse_loss: unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)",
                    (int)reduction);
        return NULL;
    }
    if (!ttml_shape_equal(in[0], in[1])) {
        ttml_op_shape_error(error, "mse_loss", in[0], in[1],
                            "differ (prediction and target must have the same shape)");
        return NULL;
    }
    ttml_tensor *out = ttml_op_output(in[0], 1, (const int64_t[]){1}, error);
    if (!out) return NULL;
    ttml_loss_params p = {reduction};
    if (!ops_launch("mse_fwd", in, 2, out, &p, sizeof p, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    ttml_node *node = ttml_graph_record("mse_loss", out, in, 2, mse_backward);
    if (node) node->state.i[0] = reduction;
    return out;
}
