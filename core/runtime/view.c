/* core/runtime/view.c - helpers for kernels: the element count of a view and
 * its checked host address (ttml/driver.h). */
#include "internal.h"

size_t ttml_view_numel(const ttml_view *v)
{
    size_t n = 1;
    for (int d = 0; v && d < v->ndim; d++) n *= (size_t)v->shape[d];
    return n;
}

void *ttml_view_data(const ttml_launch *l, const ttml_view *v, const char *slot, ttml_dtype dtype, size_t numel,
                     GError **error)
{
    const char *kernel = l && l->kernel ? l->kernel : "?";
    if (v->dtype != dtype) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE, "kernel '%s': %s is %s but the kernel takes %s", kernel,
                    slot, ttml_dtype_name(v->dtype), ttml_dtype_name(dtype));
        return NULL;
    }
    if (ttml_view_numel(v) != numel) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "kernel '%s': %s has %zu elements, expected %zu", kernel,
                    slot, ttml_view_numel(v), numel);
        return NULL;
    }
    size_t bytes = numel * ttml_dtype_size(dtype);
    if (!v->buf || !v->buf->data || v->offset > v->buf->size || bytes > v->buf->size - v->offset) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "kernel '%s': %s has no host buffer of %zu bytes (is it a cpu tensor?)", kernel, slot, bytes);
        return NULL;
    }
    return (char *)v->buf->data + v->offset;
}
