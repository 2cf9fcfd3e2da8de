/* plugins/nn_ops/nn_loss.c - cross_entropy_loss (fused log-softmax + NLL, padding
 * columns ignored; saves the per-row log-sum-exp) and nll_loss. Targets are
 * u32 tensors with one id per row of the [..., V] input (the kernels check
 * every id). Both return [1]. */
#include "nn_internal.h"

static gboolean check_reduction(const char *op, ttml_reduction r, GError **error)
{
    if (r == TTML_REDUCE_MEAN || r == TTML_REDUCE_SUM) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "%s: unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)", op, (int)r);
    return FALSE;
}

static gboolean check_targets(const char *op, const ttml_tensor *x, const ttml_tensor *t, GError **error)
{
    int64_t rows, f;
    nn_rows(x, &rows, &f);
    if ((int64_t)t->numel == rows) return TRUE;
    ttml_op_shape_error(error, op, x, t,
                        "do not fit: the targets must hold one id per row of the input (%" G_GINT64_FORMAT
                        " rows of %" G_GINT64_FORMAT "), e.g. [B, 1, 1, S] ids for [B, 1, S, V] logits",
                        rows, f);
    return FALSE;
}

/* ---- cross entropy ---- */

static gboolean cross_entropy_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    ttml_tensor *logits = node->in[0];
    ttml_cross_entropy_params p = {node->state.i[0], (ttml_reduction)node->state.i[1]};
    ttml_tensor *in[4] = {logits, node->in[1], node->saved[0], dy};
    /* When nothing but this node and the node that produced the logits
     * holds them (a language model's head: [B, S, V] floats, 103 MB for
     * GPT-2) and they have no gradient yet, dlogits overwrites the logits in
     * place: the kernel reads each element before writing it, and the head's
     * backward needs only dlogits. Saves one logits-sized tensor at the top
     * of the backward's memory peak. */
    gboolean alone = logits->ref == (logits->node ? 2 : 1) && logits->buf->ref == 1;
    if (alone && !logits->grad && logits->dtype == TTML_DTYPE_F32) {
        ttml_tensor *g = ttml_tensor_view_as(logits, logits->ndim, logits->shape, error);
        if (!g || !nn_launch("cross_entropy_bwd", in, 4, g, &p, sizeof p, error)) {
            ttml_tensor_unref(g);
            return FALSE;
        }
        return nn_accumulate(logits, g, error);
    }
    return nn_accumulate(logits, nn_launch_new("cross_entropy_bwd", in, 4, logits, logits->ndim, logits->shape,
                                               &p, sizeof p, error),
                         error);
}

ttml_tensor *nn_cross_entropy_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    const char *op = "cross_entropy_loss";
    if (!ttml_op_check_inputs(op, in, n_in, 2, 2, 1u << 1, error) ||
        !nn_need_params(op, params, "ttml_cross_entropy_op_params", error))
        return NULL;
    const ttml_cross_entropy_op_params *op_p = params;
    if (!check_reduction(op, op_p->reduction, error) || !check_targets(op, in[0], in[1], error)) return NULL;
    int64_t rows, v;
    nn_rows(in[0], &rows, &v);
    if (op_p->valid_vocab > v) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: valid_vocab %" G_GINT64_FORMAT " exceeds the %" G_GINT64_FORMAT
                    " columns of the logits %s",
                    op, op_p->valid_vocab, v, ttml_shape_str(in[0]->ndim, in[0]->shape, s, sizeof s));
        return NULL;
    }
    ttml_cross_entropy_params p = {op_p->valid_vocab > 0 ? op_p->valid_vocab : v, op_p->reduction};
    ttml_tensor *loss = ttml_op_output(in[0], 1, (const int64_t[]){1}, error);
    ttml_tensor *lse = loss ? ttml_op_output(in[0], 1, &rows, error) : NULL;
    ttml_tensor *out[2] = {loss, lse};
    if (!lse || !ttml_launch_tensors("cross_entropy_fwd", in, 2, out, 2, &p, sizeof p, error)) {
        ttml_tensor_unref(loss);
        ttml_tensor_unref(lse);
        return NULL;
    }
    ttml_node *node = ttml_graph_record(op, loss, in, 2, cross_entropy_backward);
    if (node) {
        ttml_node_save(node, lse);
        node->state.i[0] = p.valid_vocab;
        node->state.i[1] = p.reduction;
    }
    ttml_tensor_unref(lse);
    return loss;
}

/* ---- nll ---- */

static gboolean nll_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    ttml_tensor *logp = node->in[0];
    ttml_loss_params p = {(ttml_reduction)node->state.i[0]};
    ttml_tensor *in[2] = {node->in[1], dy};
    return nn_accumulate(logp, nn_launch_new("nll_bwd", in, 2, logp, logp->ndim, logp->shape, &p, sizeof p, error),
                         error);
}

ttml_tensor *nn_nll_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    const char *op = "nll_loss";
    if (!ttml_op_check_inputs(op, in, n_in, 2, 2, 1u << 1, error) ||
        !nn_need_params(op, params, "ttml_nll_op_params", error))
        return NULL;
    ttml_loss_params p = {((const ttml_nll_op_params *)params)->reduction};
    if (!check_reduction(op, p.reduction, error) || !check_targets(op, in[0], in[1], error)) return NULL;
    ttml_tensor *loss = nn_launch_new("nll_fwd", in, 2, in[0], 1, (const int64_t[]){1}, &p, sizeof p, error);
    if (!loss) return NULL;
    ttml_node *node = ttml_graph_record(op, loss, in, 2, nll_backward);
    if (node) node->state.i[0] = p.reduction;
    return loss;
}
