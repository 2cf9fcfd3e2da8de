/* plugins/transformer_models/tf_checkpointing.c - the "block_checkpoint" op:
 * gradient checkpointing for runner_type: memory_efficient.
 *
 * Forward runs the block with gradients disabled, so none of its
 * intermediate activations outlive it, and records ONE node that keeps the
 * block input (in[0]), the RNG state from before the block, and the block
 * (borrowed: the model must outlive the step's graph, as it does whenever
 * backward runs).
 *
 * Backward restores that RNG state (so dropout draws the same masks), makes a
 * detached alias of the input (a view of the same buffer, no node, no grad;
 * requires_grad as the input's), re-runs the block with gradients enabled
 * after ttml_graph_mark(), back-propagates dy through just those nodes with
 * ttml_graph_backward_from(), puts the current RNG state back, and adds the
 * alias's gradient into the real input. Parameter gradients accumulate as
 * usual during the inner backward.
 *
 * tf_block_checkpoint() passes the block's first trainable parameter as in[1]:
 * it only makes the node record when the input itself needs no gradient
 * (e.g. a frozen embedding); backward ignores it.
 */
#include "tf_internal.h"

static gboolean checkpoint_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    if (!dy) return TRUE;
    ttml_module *block = (ttml_module *)(intptr_t)node->state.i[2];
    ttml_tensor *x = node->in[0];
    ttml_rng_state saved = {(guint64)node->state.i[0], (guint64)node->state.i[1]};

    ttml_tensor *xd = ttml_tensor_view_as(x, x->ndim, x->shape, error);
    if (!xd) return FALSE;
    ttml_tensor_set_requires_grad(xd, x->requires_grad);

    ttml_rng_state now = ttml_get_rng_state();
    gboolean was_training = block->training;
    gsize mark = ttml_graph_mark();
    ttml_set_rng_state(saved);
    block->training = node->state.i[3] != 0;
    gboolean prev = ttml_set_grad_enabled(TRUE);
    ttml_tensor *y = ttml_module_forward(block, xd, error);
    ttml_set_grad_enabled(prev);
    block->training = was_training;
    ttml_set_rng_state(now);

    gboolean ok = y != NULL;
    if (ok) ok = ttml_graph_backward_from(mark, y, dy, error);
    if (ok && x->requires_grad && xd->grad) ok = ttml_tensor_accumulate_grad(x, xd->grad, error);
    ttml_tensor_unref(y);
    ttml_tensor_unref(xd);
    return ok;
}

static ttml_tensor *checkpoint_forward(ttml_tensor *const *in, int n_in, const void *params,
                                       GError **error)
{
    const tf_checkpoint_op_params *cp = params;
    if (n_in < 1 || !in[0] || !cp || !cp->block || !cp->block->klass ||
        !cp->block->klass->forward) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "block_checkpoint: needs the block input as in[0] and a module with a "
                    "forward in tf_checkpoint_op_params.block");
        return NULL;
    }
    for (int i = 1; i < n_in; i++)
        if (!in[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "block_checkpoint: input %d is NULL", i);
            return NULL;
        }
    ttml_rng_state st = ttml_get_rng_state();
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *y = ttml_module_forward(cp->block, in[0], error);
    ttml_set_grad_enabled(prev);
    if (!y) return NULL;
    ttml_node *node = ttml_graph_record("block_checkpoint", y, in, n_in, checkpoint_backward);
    if (node) {
        node->state.i[0] = (gint64)st.seed;
        node->state.i[1] = (gint64)st.counter;
        node->state.i[2] = (gint64)(intptr_t)cp->block;
        node->state.i[3] = cp->block->training ? 1 : 0;
    }
    return y;
}

const ttml_op_desc tf_checkpoint_op_desc = {
    sizeof(ttml_op_desc), "block_checkpoint",
    "gradient checkpointing: y = block(x) recorded as one node that re-computes the block "
    "(with the saved RNG state) during backward; in = {x, params...}, "
    "params = {ttml_module *block}",
    1, TTML_NODE_MAX_IN, sizeof(tf_checkpoint_op_params), checkpoint_forward,
};

/* First parameter of m (depth first) that requires grad, or NULL. */
static ttml_tensor *first_trainable(ttml_module *m)
{
    for (guint i = 0; i < m->params->len; i++) {
        ttml_tensor *t = g_ptr_array_index(m->params, i);
        if (t->requires_grad) return t;
    }
    for (guint i = 0; i < m->children->len; i++) {
        ttml_tensor *t = first_trainable(g_ptr_array_index(m->children, i));
        if (t) return t;
    }
    return NULL;
}

ttml_tensor *tf_block_checkpoint(ttml_module *block, ttml_tensor *x, GError **error)
{
    tf_checkpoint_op_params p = {block};
    ttml_tensor *in[2] = {x, first_trainable(block)};
    return ttml_op_call("block_checkpoint", in, in[1] ? 2 : 1, &p, sizeof p, error);
}
