/* plugins/nn_ops/nn_internal.h - private helpers shared by the nn_ops files.
 *
 * Every op is composed of the named kernels of ttml/kernels.h and
 * ttml/kernels_nn.h, launched through ttml_launch_tensors, so it runs on any
 * driver (the core falls back to the cpu kernels). Nothing here is exported
 * (the plugin is built with -fvisibility=hidden).
 */
#ifndef TTML_NN_INTERNAL_H
#define TTML_NN_INTERNAL_H

#include <ttml/ttml.h>

G_BEGIN_DECLS

/* Inputs are checked with ttml_op_check_inputs and shape errors set with
 * ttml_op_shape_error (ttml/ops.h). */

/* ---- shared helpers (nn_common.c) ---- */
/* The params struct of an op, or an error when it is missing. */
gboolean nn_need_params(const char *op, const void *params, const char *type, GError **error);
/* dim in [-ndim, ndim) normalised to [0, ndim), or -1 with an error. */
int nn_norm_dim(const char *op, const ttml_tensor *x, int dim, GError **error);

/* A new f32 tensor on like's device with like's shape. */
static inline ttml_tensor *nn_new_like(ttml_tensor *like, GError **error)
{
    return ttml_op_output(like, like->ndim, like->shape, error);
}

/* One-output launch. */
static inline gboolean nn_launch(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *out,
                                 const void *params, size_t params_size, GError **error)
{
    return ttml_launch_tensors(kernel, in, n_in, &out, 1, params, params_size, error);
}

/* New tensor of shape (ndim, shape) = kernel(in...); NULL on error. */
ttml_tensor *nn_launch_new(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *like_device,
                           int ndim, const int64_t *shape, const void *params, size_t params_size,
                           GError **error);

/* Accumulate g into t->grad, then drop g (FALSE when g is NULL). */
gboolean nn_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error);

/* Along dim d a tensor is outer x extent x inner (outer = product of the dims
 * before d, inner = product of those after), so a slab of the dim is one
 * strided copy of `outer` runs of extent * inner elements. */
void nn_split_dims(const ttml_tensor *x, int dim, int64_t *outer, int64_t *inner);
/* Copy `outer` runs of `len` elements from src (stride, offset) to dst. */
gboolean nn_slab_copy(ttml_tensor *src, ttml_tensor *dst, int64_t outer, int64_t len, int64_t src_stride,
                      int64_t src_offset, int64_t dst_stride, int64_t dst_offset, GError **error);

/* Drop the calling thread's open narrow group (nn_narrow.c; plugin fini). */
void nn_narrow_fini(void);

static inline ttml_tensor *nn_node_dy(ttml_node *node)
{
    return node->out ? node->out->grad : NULL;
}

static inline gboolean nn_needs_grad(const ttml_node *node, int i)
{
    return i < node->n_in && node->in[i] && node->in[i]->requires_grad;
}

/* Rows (numel / last dim) and last dim of x. */
static inline void nn_rows(const ttml_tensor *x, int64_t *rows, int64_t *f)
{
    *f = x->ndim > 0 ? x->shape[x->ndim - 1] : 1;
    *rows = *f > 0 ? (int64_t)x->numel / *f : 0;
}

/* ---- forwards (one file per family) ---- */
#define NN_FORWARD(name) \
    ttml_tensor *nn_##name##_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
NN_FORWARD(embedding);
NN_FORWARD(layernorm);
NN_FORWARD(rmsnorm);
NN_FORWARD(gelu);
NN_FORWARD(silu);
NN_FORWARD(swiglu);
NN_FORWARD(softmax);
NN_FORWARD(log_softmax);
NN_FORWARD(dropout);
NN_FORWARD(reshape);
NN_FORWARD(transpose);
NN_FORWARD(concat);
NN_FORWARD(narrow);
NN_FORWARD(cross_entropy);
NN_FORWARD(nll);

G_END_DECLS

#endif
