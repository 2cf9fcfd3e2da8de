/* plugins/core_ops/ops_reduce.c - sum and mean of all elements (shape [1]).
 *
 * Forward is one "reduce_to" into a [1] tensor; backward broadcasts
 * dy * scale back to the input's shape with one "binary" multiply. */
#include "ops_internal.h"

static gboolean reduce_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy || !ops_needs_grad(node, 0)) return TRUE;
    ttml_tensor *x = node->in[0];
    ttml_tensor *scale = ttml_tensor_full(x->device, 1, (const int64_t[]){1}, TTML_DTYPE_F32,
                                          (float)node->state.d[0], error);
    if (!scale) return FALSE;
    ttml_tensor *dx = ops_binary_new(TTML_BINARY_MUL, dy, scale, x->ndim, x->shape, error);
    ttml_tensor_unref(scale);
    return ops_accumulate(x, dx, error);
}

static ttml_tensor *reduce_forward(const char *name, gboolean mean, ttml_tensor *const *in,
                                   int n_in,
                                   GError **error)
{
    if (!ttml_op_check_inputs(name, in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *x = in[0];
    float scale = mean ? (float)(1.0 / (double)x->numel) : 1.0f;
    ttml_tensor *out = ttml_op_output(x, 1, (const int64_t[]){1}, error);
    if (!out) return NULL;
    ttml_reduce_params p = {scale, 0.0f};
    if (!ops_launch("reduce_to", &x, 1, out, &p, sizeof p, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    ttml_node *node = ttml_graph_record(name, out, in, 1, reduce_backward);
    if (node) node->state.d[0] = scale;
    return out;
}

ttml_tensor *ops_sum_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                             GError **error)
{
    return reduce_forward("sum", FALSE, in, n_in, error);
}

ttml_tensor *ops_mean_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                              GError **error)
{
    return reduce_forward("mean", TRUE, in, n_in, error);
}
