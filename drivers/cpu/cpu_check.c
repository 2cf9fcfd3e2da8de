/* drivers/cpu/cpu_check.c - argument checks shared by the cpu kernels.
 *
 * A kernel never trusts its launch: slot counts, params size, dtypes, shapes
 * and the extent of each view inside its buffer are checked first, and a
 * mismatch becomes a GError instead of an out-of-bounds access.
 */
#include "cpu_internal.h"

#include <string.h>

static const char *kname(const ttml_launch *l)
{
    return l && l->kernel ? l->kernel : "?";
}

size_t ttml_cpu_numel(const ttml_view *v)
{
    size_t n = 1;
    for (int d = 0; d < v->ndim && d < TTML_MAX_DIMS; d++) n *= v->shape[d] > 0 ? (size_t)v->shape[d] : 0;
    return n;
}

static char *view_shape(const ttml_view *v, char *buf, size_t size)
{
    int nd = v->ndim < 0 ? 0 : v->ndim > TTML_MAX_DIMS ? TTML_MAX_DIMS : v->ndim;
    return ttml_shape_str(nd, v->shape, buf, size);
}

gboolean ttml_cpu_check_launch(const ttml_launch *l, int n_in, int n_out, size_t params_size,
                               GError **error)
{
    if (!l) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cpu kernel called with a NULL launch");
        return FALSE;
    }
    if (l->n_in < n_in || l->n_in > TTML_LAUNCH_MAX_IN || l->n_out < n_out ||
        l->n_out > TTML_LAUNCH_MAX_OUT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': got %d input(s) and %d output(s), needs %d input(s) and "
                    "%d output(s) (see ttml/kernels.h)",
                    kname(l), l->n_in, l->n_out, n_in, n_out);
        return FALSE;
    }
    if (params_size && (!l->params || l->params_size < params_size)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': params of %zu bytes%s, needs its params struct of %zu "
                    "bytes (see ttml/kernels.h)",
                    kname(l), l->params_size, l->params ? "" : " (NULL)", params_size);
        return FALSE;
    }
    return TRUE;
}

static void *check_view(const ttml_launch *l, const ttml_view *v, const char *slot, int i,
                        int dtype, GError **error)
{
    char sb[80];
    if (v->ndim < 0 || v->ndim > TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': %s[%d] has %d dims; tensors have 1..%d", kname(l), slot, i,
                    v->ndim, TTML_MAX_DIMS);
        return NULL;
    }
    for (int d = 0; d < v->ndim; d++) {
        if (v->shape[d] < 0) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "cpu kernel '%s': %s[%d] has a negative extent in shape %s", kname(l),
                        slot, i, view_shape(v, sb, sizeof sb));
            return NULL;
        }
    }
    if ((unsigned)v->dtype >= TTML_DTYPE_COUNT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE, "cpu kernel '%s': %s[%d] has invalid dtype %d",
                    kname(l), slot, i, (int)v->dtype);
        return NULL;
    }
    if (dtype >= 0 && (int)v->dtype != dtype) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE,
                    "cpu kernel '%s': %s[%d] is %s, but the kernel takes %s; convert it with the "
                    "'copy' kernel first",
                    kname(l), slot, i, ttml_dtype_name(v->dtype), ttml_dtype_name((ttml_dtype)dtype));
        return NULL;
    }
    if (!v->buf) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cpu kernel '%s': %s[%d] has no buffer",
                    kname(l), slot, i);
        return NULL;
    }
    size_t bytes = ttml_cpu_numel(v) * ttml_dtype_size(v->dtype);
    if (v->offset > v->buf->size || bytes > v->buf->size - v->offset) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': %s[%d] of shape %s (%zu bytes at offset %zu) does not fit "
                    "its buffer of %zu bytes",
                    kname(l), slot, i, view_shape(v, sb, sizeof sb), bytes, v->offset, v->buf->size);
        return NULL;
    }
    if (!v->buf->data) {
        static float empty[1];
        if (bytes == 0) return empty;
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': %s[%d] buffer has no host data (not a cpu buffer?)",
                    kname(l), slot, i);
        return NULL;
    }
    return (char *)v->buf->data + v->offset;
}

void *ttml_cpu_in(const ttml_launch *l, int i, int dtype, GError **error)
{
    return check_view(l, &l->in[i], "in", i, dtype, error);
}

void *ttml_cpu_out(const ttml_launch *l, int i, int dtype, GError **error)
{
    return check_view(l, &l->out[i], "out", i, dtype, error);
}

gboolean ttml_cpu_check_numel(const ttml_launch *l, const ttml_view *a, const char *a_name,
                              const ttml_view *b, const char *b_name, GError **error)
{
    if (ttml_cpu_numel(a) == ttml_cpu_numel(b)) return TRUE;
    char sa[80], sb[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "cpu kernel '%s': %s of shape %s and %s of shape %s must have the same number "
                "of elements (%zu vs %zu)",
                kname(l), a_name, view_shape(a, sa, sizeof sa), b_name, view_shape(b, sb, sizeof sb),
                ttml_cpu_numel(a), ttml_cpu_numel(b));
    return FALSE;
}

void ttml_cpu_shape4(const ttml_view *v, int64_t shape4[4])
{
    int pad = 4 - v->ndim;
    for (int d = 0; d < 4; d++) shape4[d] = d < pad ? 1 : v->shape[d - pad];
}

gboolean ttml_cpu_broadcast_strides(const ttml_launch *l, const ttml_view *v, const char *v_name,
                                    const ttml_view *to, const char *to_name, int64_t strides[4],
                                    GError **error)
{
    int64_t vs[4], ts[4];
    ttml_cpu_shape4(v, vs);
    ttml_cpu_shape4(to, ts);
    int64_t stride = 1;
    for (int d = 3; d >= 0; d--) {
        if (vs[d] != ts[d] && vs[d] != 1) {
            char sa[80], sb[80];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "cpu kernel '%s': %s of shape %s does not broadcast to %s of shape %s "
                        "(each dim, right-aligned, must be 1 or equal)",
                        kname(l), v_name, view_shape(v, sa, sizeof sa), to_name,
                        view_shape(to, sb, sizeof sb));
            return FALSE;
        }
        strides[d] = vs[d] == 1 ? 0 : stride;
        stride *= vs[d];
    }
    return TRUE;
}
