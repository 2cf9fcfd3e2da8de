/* core/runtime/tensor.c - refcounted tensors on devices. */
#include "internal.h"

#include <math.h>
#include <string.h>

static gboolean check_shape(int ndim, const int64_t *shape, ttml_dtype dtype, size_t *numel, GError **error)
{
    if (ndim < 1 || ndim > TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "tensors have 1 to %d dims, got %d",
                    TTML_MAX_DIMS, ndim);
        return FALSE;
    }
    if ((unsigned)dtype >= TTML_DTYPE_COUNT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE, "invalid dtype %d", (int)dtype);
        return FALSE;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            char buf[96];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "shape %s has a non-positive extent",
                        ttml_shape_str(ndim, shape, buf, sizeof buf));
            return FALSE;
        }
        n *= (size_t)shape[i];
    }
    *numel = n;
    return TRUE;
}

static ttml_tensor *tensor_alloc(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                                 GError **error)
{
    size_t numel;
    if (!check_shape(ndim, shape, dtype, &numel, error)) return NULL;
    if (!device) device = ttml_context_get_device();
    if (!device) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE,
                    "no device is open: call ttml_context_open_device(\"cpu\") first");
        return NULL;
    }
    ttml_buffer *buf = ttml_buffer_new_shaped(device, ndim, shape, dtype, TTML_MEM_DRAM, error);
    if (!buf) return NULL;
    ttml_tensor *t = g_new0(ttml_tensor, 1);
    t->ref = 1;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->numel = numel;
    t->dtype = dtype;
    t->device = device;
    t->buf = buf;
    return t;
}

ttml_tensor *ttml_tensor_empty(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                               GError **error)
{
    return tensor_alloc(device, ndim, shape, dtype, error);
}

ttml_tensor *ttml_tensor_full(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                              float value, GError **error)
{
    ttml_tensor *t = tensor_alloc(device, ndim, shape, dtype, error);
    if (!t) return NULL;
    ttml_fill_params p = {value};
    ttml_launch l = {.kernel = "fill", .n_out = 1, .params = &p, .params_size = sizeof p};
    l.out[0] = ttml_tensor_view(t);
    if (!ttml_kernel_launch(t->device, &l, error)) {
        ttml_tensor_unref(t);
        return NULL;
    }
    return t;
}

ttml_tensor *ttml_tensor_zeros(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                               GError **error)
{
    return ttml_tensor_full(device, ndim, shape, dtype, 0.0f, error);
}

ttml_tensor *ttml_tensor_from_data(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                                   const void *data, GError **error)
{
    ttml_tensor *t = tensor_alloc(device, ndim, shape, dtype, error);
    if (t && !ttml_tensor_write(t, data, error)) g_clear_pointer(&t, ttml_tensor_unref);
    return t;
}

ttml_tensor *ttml_tensor_from_floats(ttml_device *device, int ndim, const int64_t *shape, const float *data,
                                     GError **error)
{
    return ttml_tensor_from_data(device, ndim, shape, TTML_DTYPE_F32, data, error);
}

ttml_tensor *ttml_tensor_scalar(ttml_device *device, float value, GError **error)
{
    int64_t one = 1;
    return ttml_tensor_from_floats(device, 1, &one, &value, error);
}

ttml_tensor *ttml_tensor_empty_like(const ttml_tensor *like, GError **error)
{
    return tensor_alloc(like->device, like->ndim, like->shape, like->dtype, error);
}

ttml_tensor *ttml_tensor_zeros_like(const ttml_tensor *like, GError **error)
{
    return ttml_tensor_zeros(like->device, like->ndim, like->shape, like->dtype, error);
}

ttml_tensor *ttml_tensor_clone(const ttml_tensor *src, GError **error)
{
    ttml_tensor *t = ttml_tensor_empty_like(src, error);
    if (!t) return NULL;
    ttml_launch l = {.kernel = "copy", .n_in = 1, .n_out = 1};
    l.in[0] = ttml_tensor_view(src);
    l.out[0] = ttml_tensor_view(t);
    if (!ttml_kernel_launch(t->device, &l, error)) g_clear_pointer(&t, ttml_tensor_unref);
    return t;
}

ttml_tensor *ttml_tensor_view_as(ttml_tensor *src, int ndim, const int64_t *shape, GError **error)
{
    size_t numel;
    if (!check_shape(ndim, shape, src->dtype, &numel, error)) return NULL;
    if (numel != src->numel) {
        char a[96], b[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "cannot view %s (%zu elements) as %s (%zu elements)",
                    ttml_shape_str(src->ndim, src->shape, a, sizeof a), src->numel,
                    ttml_shape_str(ndim, shape, b, sizeof b), numel);
        return NULL;
    }
    return ttml_tensor_view_at(src, 0, ndim, shape, error);
}

ttml_tensor *ttml_tensor_view_at(ttml_tensor *src, size_t start, int ndim, const int64_t *shape, GError **error)
{
    size_t numel;
    if (!check_shape(ndim, shape, src->dtype, &numel, error)) return NULL;
    if (start > src->numel || numel > src->numel - start) {
        char a[96], b[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cannot view %s (%zu elements) from element %zu as %s (%zu elements): past the end",
                    ttml_shape_str(src->ndim, src->shape, a, sizeof a), src->numel, start,
                    ttml_shape_str(ndim, shape, b, sizeof b), numel);
        return NULL;
    }
    ttml_tensor *t = g_new0(ttml_tensor, 1);
    t->ref = 1;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->numel = numel;
    t->dtype = src->dtype;
    t->device = src->device;
    t->buf = ttml_buffer_ref(src->buf);
    t->offset = src->offset + start * ttml_dtype_size(src->dtype);
    return t;
}

ttml_tensor *ttml_tensor_ref(ttml_tensor *t)
{
    if (t) g_atomic_int_inc(&t->ref);
    return t;
}

void ttml_tensor_unref(ttml_tensor *t)
{
    if (!t || !g_atomic_int_dec_and_test(&t->ref)) return;
    ttml_buffer_unref(t->buf);
    ttml_tensor_unref(t->grad);
    g_free(t->name);
    g_free(t->shard);
    g_free(t);
}

static ttml_transfer transfer_of(const ttml_tensor *t)
{
    ttml_transfer x = {t->buf, t->offset, t->ndim, {0}, t->dtype};
    memcpy(x.shape, t->shape, sizeof x.shape);
    return x;
}

gboolean ttml_tensor_read(const ttml_tensor *t, void *out, GError **error)
{
    ttml_transfer x = transfer_of(t);
    return t->device->iface->read(t->device->state, &x, out, error);
}

gboolean ttml_tensor_write(ttml_tensor *t, const void *data, GError **error)
{
    ttml_transfer x = transfer_of(t);
    return t->device->iface->write(t->device->state, &x, data, error);
}

gboolean ttml_tensor_to_floats(const ttml_tensor *t, float *out, GError **error)
{
    if (t->dtype == TTML_DTYPE_F32) return ttml_tensor_read(t, out, error);
    /* bf16 and u32 are at most 4 bytes: read into the tail-safe output itself */
    void *raw = g_malloc(t->numel * ttml_dtype_size(t->dtype));
    gboolean ok = ttml_tensor_read(t, raw, error);
    for (size_t i = 0; ok && i < t->numel; i++)
        out[i] = t->dtype == TTML_DTYPE_BF16 ? ttml_bf16_to_f32(((guint16 *)raw)[i])
                                             : (float)((guint32 *)raw)[i];
    g_free(raw);
    return ok;
}

float ttml_tensor_item(const ttml_tensor *t, GError **error)
{
    if (t->numel != 1) {
        char buf[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "item() needs a 1-element tensor, got %s",
                    ttml_shape_str(t->ndim, t->shape, buf, sizeof buf));
        return NAN;
    }
    float v = NAN;
    if (!ttml_tensor_to_floats(t, &v, error)) return NAN;
    return v;
}

void ttml_tensor_set_requires_grad(ttml_tensor *t, gboolean requires_grad) { t->requires_grad = requires_grad; }

void ttml_tensor_set_name(ttml_tensor *t, const char *name)
{
    g_free(t->name);
    t->name = g_strdup(name);
}

void ttml_tensor_zero_grad(ttml_tensor *t) { g_clear_pointer(&t->grad, ttml_tensor_unref); }

gboolean ttml_tensor_accumulate_grad(ttml_tensor *t, ttml_tensor *g, GError **error)
{
    if (g->numel != t->numel) {
        char a[96], b[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "gradient of shape %s does not fit tensor %s%s%s",
                    ttml_shape_str(g->ndim, g->shape, a, sizeof a), ttml_shape_str(t->ndim, t->shape, b, sizeof b),
                    t->name ? " " : "", t->name ? t->name : "");
        return FALSE;
    }
    if (!t->grad) {
        /* share g; it is copied before anything is added into it */
        if (g->ndim == t->ndim && memcmp(g->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) == 0)
            t->grad = ttml_tensor_ref(g);
        else
            t->grad = ttml_tensor_view_as(g, t->ndim, t->shape, error);
        return t->grad != NULL;
    }
    if ((t->grad->ref > 1 || t->grad->buf->ref > 1) && t->grad->dtype == TTML_DTYPE_F32 &&
        g->dtype == TTML_DTYPE_F32) {
        /* shared: the sum goes to a new tensor, one pass (not a copy, then
         * an add into the copy) */
        ttml_tensor *sum = ttml_tensor_empty_like(t->grad, error);
        if (!sum) return FALSE;
        ttml_binary_params p = {TTML_BINARY_ADD};
        ttml_launch l = {.kernel = "binary", .n_in = 2, .n_out = 1, .params = &p, .params_size = sizeof p};
        l.in[0] = ttml_tensor_view(t->grad);
        l.in[1] = ttml_tensor_view(g);
        l.out[0] = ttml_tensor_view(sum);
        l.in[1].ndim = l.out[0].ndim;
        memcpy(l.in[1].shape, l.out[0].shape, sizeof l.in[1].shape);
        if (!ttml_kernel_launch(t->device, &l, error)) {
            ttml_tensor_unref(sum);
            return FALSE;
        }
        ttml_tensor_unref(t->grad);
        t->grad = sum;
        return TRUE;
    }
    if (t->grad->ref > 1 || t->grad->buf->ref > 1) {
        ttml_tensor *own = ttml_tensor_clone(t->grad, error);
        if (!own) return FALSE;
        ttml_tensor_unref(t->grad);
        t->grad = own;
    }
    ttml_axpby_params p = {1.0f, 1.0f};
    ttml_launch l = {.kernel = "axpby", .n_in = 1, .n_out = 1, .params = &p, .params_size = sizeof p};
    l.in[0] = ttml_tensor_view(g);
    l.out[0] = ttml_tensor_view(t->grad);
    l.in[0].ndim = l.out[0].ndim;
    memcpy(l.in[0].shape, l.out[0].shape, sizeof l.in[0].shape);
    return ttml_kernel_launch(t->device, &l, error);
}

ttml_view ttml_tensor_view(const ttml_tensor *t)
{
    ttml_view v;
    v.buf = t->buf;
    v.offset = t->offset;
    v.ndim = t->ndim;
    memcpy(v.shape, t->shape, sizeof v.shape);
    for (int i = t->ndim; i < TTML_MAX_DIMS; i++) v.shape[i] = 1;
    v.dtype = t->dtype;
    return v;
}

char *ttml_shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)g_snprintf(buf + n, size - n, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)g_snprintf(buf + n, size - n, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    if (n < size) g_snprintf(buf + n, size - n, "]");
    return buf;
}

gboolean ttml_shape_equal(const ttml_tensor *a, const ttml_tensor *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0;
}
