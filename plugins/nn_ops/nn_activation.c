/* plugins/nn_ops/nn_activation.c - gelu (tanh approximation), silu, swiglu
 * (fused silu(gate) * up), softmax and log_softmax over the last dim.
 * gelu / silu / swiglu backwards read the inputs; the softmax backwards read
 * the forward's output (node->out), so nothing extra is saved. */
#include "nn_internal.h"

/* y = kernel(x); node with `backward`. */
static ttml_tensor *unary_forward(const char *op, const char *kernel, ttml_backward_fn backward,
                                  ttml_tensor *const *in, int n_in, GError **error)
{
    if (!ttml_op_check_inputs(op, in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *y = nn_launch_new(kernel, in, 1, in[0], in[0]->ndim, in[0]->shape, NULL, 0, error);
    if (y) ttml_graph_record(op, y, in, 1, backward);
    return y;
}

/* dx = kernel(a, dy) accumulated into node->in[0]. */
static gboolean unary_backward(ttml_node *node, const char *kernel, ttml_tensor *a, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    ttml_tensor *in[2] = {a, dy};
    ttml_tensor *x = node->in[0];
    return nn_accumulate(x, nn_launch_new(kernel, in, 2, x, x->ndim, x->shape, NULL, 0, error), error);
}

static gboolean gelu_backward(ttml_node *node, GError **error)
{
    return unary_backward(node, "gelu_bwd", node->in[0], error);
}

static gboolean silu_backward(ttml_node *node, GError **error)
{
    return unary_backward(node, "silu_bwd", node->in[0], error);
}

static gboolean softmax_backward(ttml_node *node, GError **error)
{
    return unary_backward(node, "softmax_bwd", node->out, error);
}

static gboolean log_softmax_backward(ttml_node *node, GError **error)
{
    return unary_backward(node, "log_softmax_bwd", node->out, error);
}

ttml_tensor *nn_gelu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    return unary_forward("gelu", "gelu_fwd", gelu_backward, in, n_in, error);
}

ttml_tensor *nn_silu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    return unary_forward("silu", "silu_fwd", silu_backward, in, n_in, error);
}

ttml_tensor *nn_softmax_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    return unary_forward("softmax", "softmax_fwd", softmax_backward, in, n_in, error);
}

ttml_tensor *nn_log_softmax_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    return unary_forward("log_softmax", "log_softmax_fwd", log_softmax_backward, in, n_in, error);
}

/* ---- swiglu ---- */

static gboolean swiglu_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy) return TRUE;
    gboolean need_g = nn_needs_grad(node, 0), need_u = nn_needs_grad(node, 1);
    if (!need_g && !need_u) return TRUE;
    ttml_tensor *gate = node->in[0], *up = node->in[1];
    ttml_tensor *dg = nn_new_like(gate, error);
    ttml_tensor *du = dg ? nn_new_like(up, error) : NULL;
    gboolean ok = du != NULL;
    if (ok) {
        ttml_tensor *in[3] = {gate, up, dy};
        ttml_tensor *out[2] = {dg, du};
        ok = ttml_launch_tensors("swiglu_bwd", in, 3, out, 2, NULL, 0, error);
    }
    if (ok && need_g) ok = ttml_tensor_accumulate_grad(gate, dg, error);
    if (ok && need_u) ok = ttml_tensor_accumulate_grad(up, du, error);
    ttml_tensor_unref(dg);
    ttml_tensor_unref(du);
    return ok;
}

ttml_tensor *nn_swiglu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("swiglu", in, n_in, 2, 2, 0, error)) return NULL;
    if (!ttml_shape_equal(in[0], in[1])) {
        ttml_op_shape_error(error, "swiglu", in[0], in[1], "differ (gate and up must have the same shape)");
        return NULL;
    }
    ttml_tensor *y = nn_launch_new("swiglu_fwd", in, 2, in[0], in[0]->ndim, in[0]->shape, NULL, 0, error);
    if (y) ttml_graph_record("swiglu", y, in, 2, swiglu_backward);
    return y;
}
