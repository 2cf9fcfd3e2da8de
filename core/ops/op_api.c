/* core/ops/op_api.c - typed wrappers around the registered core ops and the
 * helpers op plugins use (output allocation, broadcasting, tensor launches).
 * Calling an op by name (ttml_op_call) lives in op_call.c, ttml_op_find in registry.c.
 */
#include <ttml/ttml.h>

#include <stdarg.h>

/* ---- typed wrappers: one registry call each ---- */

static ttml_tensor *call2(const char *name, ttml_tensor *a, ttml_tensor *b, GError **error)
{
    ttml_tensor *in[2] = {a, b};
    return ttml_op_call(name, in, 2, NULL, 0, error);
}

ttml_tensor *ttml_add(ttml_tensor *a, ttml_tensor *b, GError **error)
{
    return call2("add", a, b, error);
}

ttml_tensor *ttml_sub(ttml_tensor *a, ttml_tensor *b, GError **error)
{
    return call2("sub", a, b, error);
}

ttml_tensor *ttml_mul(ttml_tensor *a, ttml_tensor *b, GError **error)
{
    return call2("mul", a, b, error);
}

ttml_tensor *ttml_div(ttml_tensor *a, ttml_tensor *b, GError **error)
{
    return call2("div", a, b, error);
}

ttml_tensor *ttml_add_scalar(ttml_tensor *a, float s, GError **error)
{
    ttml_scalar_op_params p = {s};
    return ttml_op_call("add_scalar", &a, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_mul_scalar(ttml_tensor *a, float s, GError **error)
{
    ttml_scalar_op_params p = {s};
    return ttml_op_call("mul_scalar", &a, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_matmul(ttml_tensor *a, ttml_tensor *b, gboolean trans_a, gboolean trans_b,
                         GError **error)
{
    ttml_matmul_op_params p = {trans_a ? 1 : 0, trans_b ? 1 : 0};
    ttml_tensor *in[2] = {a, b};
    return ttml_op_call("matmul", in, 2, &p, sizeof p, error);
}

ttml_tensor *ttml_linear(ttml_tensor *x, ttml_tensor *weight, ttml_tensor *bias, GError **error)
{
    ttml_tensor *in[3] = {x, weight, bias};
    return ttml_op_call("linear", in, bias ? 3 : 2, NULL, 0, error);
}

ttml_tensor *ttml_relu(ttml_tensor *x, GError **error)
{
    return ttml_op_call("relu", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_leaky_relu(ttml_tensor *x, float slope, GError **error)
{
    ttml_leaky_relu_op_params p = {slope};
    return ttml_op_call("leaky_relu", &x, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_sum(ttml_tensor *x, GError **error)
{
    return ttml_op_call("sum", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_mean(ttml_tensor *x, GError **error)
{
    return ttml_op_call("mean", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_mse_loss(ttml_tensor *pred, ttml_tensor *target, ttml_reduction reduction,
                           GError **error)
{
    ttml_mse_op_params p = {reduction};
    ttml_tensor *in[2] = {pred, target};
    return ttml_op_call("mse_loss", in, 2, &p, sizeof p, error);
}

/* ---- helpers for op authors ---- */

ttml_tensor *ttml_op_output(ttml_tensor *like_device, int ndim, const int64_t *shape,
                            GError **error)
{
    if (!like_device) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_op_output: no tensor given to take the device from");
        return NULL;
    }
    return ttml_tensor_empty(like_device->device, ndim, shape, TTML_DTYPE_F32, error);
}

gboolean ttml_broadcast_shapes(const char *op, const ttml_tensor *a, const ttml_tensor *b,
                               int *ndim,
                               int64_t *shape, GError **error)
{
    int n = MAX(a->ndim, b->ndim);
    for (int k = 1; k <= n; k++) {            /* k-th dim from the right */
        int64_t da = k <= a->ndim ? a->shape[a->ndim - k] : 1;
        int64_t db = k <= b->ndim ? b->shape[b->ndim - k] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[96], sb[96];
            ttml_shape_str(a->ndim, a->shape, sa, sizeof sa);
            ttml_shape_str(b->ndim, b->shape, sb, sizeof sb);
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "%s: shapes %s and %s cannot be broadcast (dim -%d: %" G_GINT64_FORMAT
                        " vs %" G_GINT64_FORMAT "); each dim must match or be 1",
                        op ? op : "broadcast", sa, sb, k, da, db);
            return FALSE;
        }
        shape[n - k] = da == 1 ? db : da;
    }
    *ndim = n;
    return TRUE;
}

gboolean ttml_launch_tensors(const char *kernel, ttml_tensor *const *in, int n_in,
                             ttml_tensor *const *out,
                             int n_out, const void *params, size_t params_size, GError **error)
{
    if (n_in < 0 || n_in > TTML_LAUNCH_MAX_IN || n_out < 1 || n_out > TTML_LAUNCH_MAX_OUT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "kernel '%s': %d inputs and %d outputs given; a launch takes 0..%d inputs "
                    "and 1..%d outputs",
                    kernel, n_in, n_out, TTML_LAUNCH_MAX_IN, TTML_LAUNCH_MAX_OUT);
        return FALSE;
    }
    ttml_launch launch = {0};
    launch.kernel = kernel;
    launch.n_in = n_in;
    launch.n_out = n_out;
    launch.params = params;
    launch.params_size = params_size;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "kernel '%s': input %d is NULL",
                        kernel, i);
            return FALSE;
        }
        launch.in[i] = ttml_tensor_view(in[i]);
    }
    for (int i = 0; i < n_out; i++) {
        if (!out[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "kernel '%s': output %d is NULL",
                        kernel, i);
            return FALSE;
        }
        launch.out[i] = ttml_tensor_view(out[i]);
    }
    return ttml_kernel_launch(out[0]->device, &launch, error);
}

static const char *device_name(const ttml_device *device)
{
    const ttml_device_info *info = device ? ttml_device_get_info(device) : NULL;
    return info ? info->name : "(none)";
}

gboolean ttml_op_check_inputs(const char *op, ttml_tensor *const *in, int n_in, int min_in,
                              int max_in, guint u32_mask, GError **error)
{
    if (n_in < min_in || n_in > max_in) {
        if (min_in == max_in)
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: takes %d input%s, got %d",
                        op, min_in, min_in == 1 ? "" : "s", n_in);
        else
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "%s: takes %d to %d inputs, got %d", op, min_in, max_in, n_in);
        return FALSE;
    }
    if (n_in > 0 && !in) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: the input array is NULL", op);
        return FALSE;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: input %d is NULL", op, i);
            return FALSE;
        }
        gboolean ids = i < 32 && ((u32_mask >> i) & 1u);
        ttml_dtype want = ids ? TTML_DTYPE_U32 : TTML_DTYPE_F32;
        if (in[i]->dtype != want) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE, "%s: input %d has dtype %s; %s", op, i,
                        ttml_dtype_name(in[i]->dtype),
                        ids ? "it must be u32 (token ids)"
                            : "this op supports f32 only (convert the tensor to f32 first)");
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

void ttml_op_shape_error(GError **error, const char *op, const ttml_tensor *a, const ttml_tensor *b,
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
