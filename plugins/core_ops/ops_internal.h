/* plugins/core_ops/ops_internal.h - private helpers shared by the core_ops files.
 *
 * Every op is built only from the named kernels of ttml/kernels.h, launched
 * through ttml_launch_tensors, so it runs on any driver. Nothing here is
 * exported (the plugin is built with -fvisibility=hidden).
 */
#ifndef TTML_OPS_INTERNAL_H
#define TTML_OPS_INTERNAL_H

#include <ttml/ttml.h>

G_BEGIN_DECLS

/* Inputs are checked with ttml_op_check_inputs and shape errors set with
 * ttml_op_shape_error (ttml/ops.h). */

/* One-output launch: out = kernel(in...). */
gboolean ops_launch(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *out,
                    const void *params, size_t params_size, GError **error);

/* A new tensor with `like`'s shape holding scale * g summed over the dims
 * that `like` broadcast (the "reduce_to" kernel). */
ttml_tensor *ops_reduce_to(ttml_tensor *g, const ttml_tensor *like, float scale, GError **error);

/* out = binary(op, a, b) into a new tensor of shape (ndim, shape). */
ttml_tensor *ops_binary_new(ttml_binary_op op, ttml_tensor *a, ttml_tensor *b, int ndim,
                            const int64_t *shape, GError **error);

/* Accumulate g into t->grad, then drop g (NULL-safe on g). */
gboolean ops_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error);

/* t's gradient when a backward may add into it in place (a kernel with
 * beta = 1) instead of making a new tensor and accumulating it: it exists,
 * is f32 and nobody else holds it (neither the tensor nor its buffer is
 * shared: ttml_tensor_accumulate_grad shares gradients it is handed). NULL
 * otherwise. */
static inline ttml_tensor *ops_grad_in_place(ttml_tensor *t)
{
    ttml_tensor *g = t->grad;
    return g && g->ref == 1 && g->buf->ref == 1 && g->dtype == TTML_DTYPE_F32 && g->numel == t->numel
               ? g
               : NULL;
}

/* dy of a node, or NULL when no gradient reached its output. */
static inline ttml_tensor *ops_node_dy(ttml_node *node)
{
    return node->out ? node->out->grad : NULL;
}

/* True when backward must produce a gradient for input i. */
static inline gboolean ops_needs_grad(const ttml_node *node, int i)
{
    return i < node->n_in && node->in[i] && node->in[i]->requires_grad;
}

/* ---- forwards (one file per family) ---- */
ttml_tensor *ops_add_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_sub_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_mul_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_div_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_add_scalar_forward(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error);
ttml_tensor *ops_mul_scalar_forward(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error);
ttml_tensor *ops_relu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_leaky_relu_forward(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error);
ttml_tensor *ops_matmul_forward(ttml_tensor *const *in, int n_in, const void *params,
                                GError **error);
ttml_tensor *ops_linear_forward(ttml_tensor *const *in, int n_in, const void *params,
                                GError **error);
ttml_tensor *ops_sum_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_mean_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error);
ttml_tensor *ops_mse_loss_forward(ttml_tensor *const *in, int n_in, const void *params,
                                  GError **error);

G_END_DECLS

#endif
