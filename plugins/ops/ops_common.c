/* plugins/ops/ops_common.c - checks and small kernel compositions shared by
 * the core ops. */
#include "ops_internal.h"

#include <stdarg.h>

static const char *device_name(const ttml_device *device)
{
    const ttml_device_info *info = device ? ttml_device_get_info(device) : NULL;
    return info ? info->name : "(none)";
}

gboolean ops_check_inputs(const char *op, ttml_tensor *const *in, int n_in, int min_in, int max_in,
                          GError **error)
{
    if (n_in < min_in || n_in > max_in) {
        if (min_in == max_in)
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "%s: takes %d input%s, got %d", op, min_in, min_in == 1 ? "" : "s", n_in);
        else
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "%s: takes %d to %d inputs, got %d", op, min_in, max_in, n_in);
        return FALSE;
    }
    if (n_in > 0 && in == NULL) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: the input array is NULL", op);
        return FALSE;
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i] == NULL) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: input %d is NULL", op, i);
            return FALSE;
        }
        if (in[i]->dtype != TTML_DTYPE_F32) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE,
                        "%s: input %d has dtype %s; this op supports f32 only "
                        "(convert the tensor to f32 first)",
                        op, i, ttml_dtype_name(in[i]->dtype));
            return FALSE;
        }
        if (in[i]->device != in[0]->device) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE,
                        "%s: input %d lives on device '%s' but input 0 on '%s'; "
                        "create all inputs on one device",
                        op, i, device_name(in[i]->device), device_name(in[0]->device));
            return FALSE;
        }
    }
    return TRUE;
}

void ops_shape_error(GError **error, const char *op, const ttml_tensor *a, const ttml_tensor *b,
                     const char *format, ...)
{
    char sa[96], sb[96];
    ttml_shape_str(a->ndim, a->shape, sa, sizeof sa);
    ttml_shape_str(b->ndim, b->shape, sb, sizeof sb);
    va_list ap;
    va_start(ap, format);
    char *detail = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "%s: shapes %s and %s %s", op, sa, sb, detail);
    g_free(detail);
}

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
