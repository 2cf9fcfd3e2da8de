/* plugins/attention_ops/attn_common.c - checks and launch helpers shared by the
 * attention ops. */
#include "attn_internal.h"

gboolean attn_check_4d(const char *op, const char *what, const ttml_tensor *t, const char *expect,
                       GError **error)
{
    if (t->ndim == 4) return TRUE;
    char s[96];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "%s: %s has shape %s; expected 4 dims %s", op,
                what, ttml_shape_str(t->ndim, t->shape, s, sizeof s), expect);
    return FALSE;
}

gboolean attn_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error)
{
    if (!g) return FALSE;
    gboolean ok = ttml_tensor_accumulate_grad(t, g, error);
    ttml_tensor_unref(g);
    return ok;
}

ttml_tensor *attn_launch_new(const char *kernel, ttml_tensor *in, int ndim, const int64_t *shape,
                             const void *params, size_t params_size, GError **error)
{
    ttml_tensor *out = ttml_op_output(in, ndim, shape, error);
    if (!out) return NULL;
    if (!ttml_launch_tensors(kernel, &in, 1, &out, 1, params, params_size, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    return out;
}
