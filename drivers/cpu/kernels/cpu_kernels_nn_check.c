/* drivers/cpu/kernels/cpu_kernels_nn_check.c - checks the nn kernels share:
 * per-row operand sizes and token ids in range, with errors that name the
 * operand, the offending value and the valid range. */
#include "cpu_kernels_nn.h"

gboolean ttml_cpu_nn_check_count(const ttml_launch *l, const ttml_view *v, const char *name,
                                 size_t want, const char *what, GError **error)
{
    if (ttml_cpu_numel(v) == want) return TRUE;
    char s[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "cpu kernel '%s': %s of shape %s has %zu elements but must have %zu (%s)",
                l->kernel ? l->kernel : "?", name, ttml_shape_str(v->ndim, v->shape, s, sizeof s),
                ttml_cpu_numel(v), want, what);
    return FALSE;
}

gboolean ttml_cpu_nn_check_ids(const ttml_launch *l, const guint32 *ids, size_t n, size_t limit,
                               const char *what, GError **error)
{
    for (size_t i = 0; i < n; i++) {
        if ((size_t)ids[i] >= limit) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cpu kernel '%s': %s %u at row %zu is out of range: the vocabulary size is "
                        "%zu (valid ids are 0..%zu)",
                        l->kernel ? l->kernel : "?", what, ids[i], i, limit,
                        limit ? limit - 1 : 0);
            return FALSE;
        }
    }
    return TRUE;
}
