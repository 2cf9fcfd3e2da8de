/* plugins/core_ops/ops_common.c - checks and small kernel compositions shared by
 * the core ops. */
#include "ops_internal.h"

gboolean ops_launch(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *out,
                    const void *params, size_t params_size, GError **error)
{
    return ttml_launch_tensors(kernel, in, n_in, &out, 1, params, params_size, error);
}

ttml_tensor *ops_reduce_to(ttml_tensor *g, const ttml_tensor *like, float scale, GError **error)
{
    ttml_tensor *out = ttml_op_output(g, like->ndim, like->shape, error);
    if (!out) return NULL;
    ttml_reduce_params p = {scale, 0.0f};
    if (!ops_launch("reduce_to", &g, 1, out, &p, sizeof p, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    return out;
}

ttml_tensor *ops_binary_new(ttml_binary_op op, ttml_tensor *a, ttml_tensor *b, int ndim,
                            const int64_t *shape, GError **error)
{
    ttml_tensor *out = ttml_op_output(a, ndim, shape, error);
    if (!out) return NULL;
    ttml_binary_params p = {op};
    ttml_tensor *in[2] = {a, b};
    if (!ops_launch("binary", in, 2, out, &p, sizeof p, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    return out;
}

gboolean ops_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error)
{
    if (!g) return FALSE;
    gboolean ok = ttml_tensor_accumulate_grad(t, g, error);
    ttml_tensor_unref(g);
    return ok;
}
