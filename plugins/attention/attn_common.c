/* plugins/attention/attn_common.c - checks and launch helpers shared by the
 * attention ops. */
#include "attn_internal.h"

static const char *device_name(const ttml_device *device)
{
    const ttml_device_info *info = device ? ttml_device_get_info(device) : NULL;
    return info ? info->name : "(none)";
}

gboolean attn_check_inputs(const char *op, ttml_tensor *const *in, int n_in, int want,
                           GError **error)
{
    if (n_in != want || (n_in > 0 && !in)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: takes %d input%s, got %d", op,
                    want, want == 1 ? "" : "s", in ? n_in : 0);
        return FALSE;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: input %d is NULL", op, i);
            return FALSE;
        }
        if (in[i]->dtype != TTML_DTYPE_F32) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE,
                        "%s: input %d has dtype %s; this op supports f32 only (convert the "
                        "tensor to f32 first)",
                        op, i, ttml_dtype_name(in[i]->dtype));
            return FALSE;
        }
        if (in[i]->device != in[0]->device) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE,
                        "%s: input %d lives on device '%s' but input 0 on '%s'; create all "
                        "inputs on one device",
                        op, i, device_name(in[i]->device), device_name(in[0]->device));
            return FALSE;
        }
    }
    return TRUE;
}

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
