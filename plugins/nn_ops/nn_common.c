/* plugins/nn_ops/nn_common.c - what the nn_ops files share: parameter and dim
 * checks, one-output launches into a new tensor, gradient accumulation, slab
 * copies along a dim. */
#include "nn_internal.h"

gboolean nn_need_params(const char *op, const void *params, const char *type, GError **error)
{
    if (params) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: params (%s) are required", op, type);
    return FALSE;
}

int nn_norm_dim(const char *op, const ttml_tensor *x, int dim, GError **error)
{
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d < 0 || d >= x->ndim) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: dim %d is out of range for a tensor of shape %s (use -%d..%d)", op, dim,
                    ttml_shape_str(x->ndim, x->shape, s, sizeof s), x->ndim, x->ndim - 1);
        return -1;
    }
    return d;
}

ttml_tensor *nn_launch_new(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *like_device,
                           int ndim, const int64_t *shape, const void *params, size_t params_size,
                           GError **error)
{
    ttml_tensor *out = ttml_op_output(like_device, ndim, shape, error);
    if (!out) return NULL;
    if (!nn_launch(kernel, in, n_in, out, params, params_size, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    return out;
}

gboolean nn_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error)
{
    if (!g) return FALSE;
    gboolean ok = ttml_tensor_accumulate_grad(t, g, error);
    ttml_tensor_unref(g);
    return ok;
}

void nn_split_dims(const ttml_tensor *x, int dim, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) *inner *= x->shape[d];
}

gboolean nn_slab_copy(ttml_tensor *src, ttml_tensor *dst, int64_t outer, int64_t len, int64_t src_stride,
                      int64_t src_offset, int64_t dst_stride, int64_t dst_offset, GError **error)
{
    ttml_strided_copy_params p = {outer, len, src_stride, src_offset, dst_stride, dst_offset};
    return nn_launch("strided_copy", &src, 1, dst, &p, sizeof p, error);
}
