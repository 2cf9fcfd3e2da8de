/* plugins/nn_ops/nn_dropout.c - inverted dropout.
 *
 * The mask is not stored: the forward draws one 64-bit seed from the context
 * RNG (ttml_rng_u64) per call and the dropout_fwd kernel derives keep(i) from
 * a counter-based hash of (seed, counter + i) (ttml/kernels_nn.h), counter
 * being the global flat index of x's first element in the data-parallel
 * batch (ttml_rng_position_base: a rank's rows get the mask the same rows
 * get in a one-rank run of the global batch); the
 * backward re-generates the same mask from the seed kept in the node. So a
 * run is deterministic for a seed, and restoring the RNG state (gradient
 * checkpointing, resume) replays the same masks. When not training or p == 0
 * the op is the identity (a new reference to x) and draws nothing.
 */
#include "nn_internal.h"

static gboolean dropout_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    ttml_dropout_params p = {(guint64)node->state.i[0], (guint64)node->state.i[1], (float)node->state.d[2]};
    ttml_tensor *x = node->in[0];
    return nn_accumulate(x, nn_launch_new("dropout_bwd", &dy, 1, x, x->ndim, x->shape, &p, sizeof p, error),
                         error);
}

ttml_tensor *nn_dropout_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("dropout", in, n_in, 1, 1, 0, error) ||
        !nn_need_params("dropout", params, "ttml_dropout_op_params", error))
        return NULL;
    const ttml_dropout_op_params *op = params;
    if (!(op->p >= 0.0f && op->p < 1.0f)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "dropout: probability p = %g must be in [0, 1) (dropout_prob in the config)",
                    (double)op->p);
        return NULL;
    }
    ttml_tensor *x = in[0];
    if (!op->training || op->p == 0.0f) return ttml_tensor_ref(x);
    ttml_dropout_params p = {ttml_rng_u64(), ttml_rng_position_base(x->ndim, x->shape), op->p};
    ttml_tensor *y = nn_launch_new("dropout_fwd", in, 1, x, x->ndim, x->shape, &p, sizeof p, error);
    if (!y) return NULL;
    ttml_node *node = ttml_graph_record("dropout", y, in, 1, dropout_backward);
    if (node) {
        node->state.i[0] = (gint64)p.seed;
        node->state.i[1] = (gint64)p.counter;
        node->state.d[2] = p.p;
    }
    return y;
}
