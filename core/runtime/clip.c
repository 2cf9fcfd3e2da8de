/* core/runtime/clip.c - clip_grad_norm with PyTorch semantics, from the "sum_sq"
 * and "affine" kernels so it runs on every driver. */
#include "internal.h"

#include <math.h>

gboolean ttml_clip_grad_norm(GPtrArray *params, double max_norm, gboolean error_if_nonfinite,
                             double *total_norm, GError **error)
{
    if (total_norm) *total_norm = 0.0;
    if (!params || !(max_norm > 0.0) || !isfinite(max_norm)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "clip_grad_norm: max_norm must be a finite number > 0, got %g", max_norm);
        return FALSE;
    }
    /* One partial sum of squares per gradient, each a 1-element tensor. */
    double sum = 0.0;
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        ttml_tensor *g = p->tensor->grad;
        if (!g) continue;
        int64_t one = 1;
        ttml_tensor *sq = ttml_tensor_empty(g->device, 1, &one, TTML_DTYPE_F32, error);
        if (!sq) return FALSE;
        gboolean ok = ttml_launch_tensors("sum_sq", &g, 1, &sq, 1, NULL, 0, error);
        float v = ok ? ttml_tensor_item(sq, error) : NAN;
        ttml_tensor_unref(sq);
        if (!ok || (error && *error)) {
            g_prefix_error(error, "clip_grad_norm: gradient of '%s': ", p->name);
            return FALSE;
        }
        sum += (double)v;
    }
    double norm = sqrt(sum);
    if (total_norm) *total_norm = norm;
    if (!isfinite(norm) && error_if_nonfinite) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_NUMERIC,
                    "clip_grad_norm: the total norm of the gradients is %g (non-finite); the "
                    "loss diverged: lower the learning rate or check the data",
                    norm);
        return FALSE;
    }
    double coef = max_norm / (norm + 1e-6);
    if (!(coef < 1.0) && !isnan(coef)) return TRUE;   /* within the bound (PyTorch clamps at 1) */
    ttml_affine_params ap = {(float)coef, 0.0f};
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        ttml_tensor *g = p->tensor->grad;
        if (!g) continue;
        if (g->ref > 1 || g->buf->ref > 1) {
            /* The gradient may be shared (ttml_tensor_accumulate_grad keeps
             * references): scale into a new tensor and hand that over. */
            ttml_tensor *scaled = ttml_tensor_empty_like(g, error);
            gboolean ok = scaled && ttml_launch_tensors("affine", &g, 1, &scaled, 1, &ap, sizeof ap, error);
            if (ok) {
                ttml_tensor_zero_grad(p->tensor);
                ok = ttml_tensor_accumulate_grad(p->tensor, scaled, error);
            }
            ttml_tensor_unref(scaled);
            if (!ok) {
                g_prefix_error(error, "clip_grad_norm: gradient of '%s': ", p->name);
                return FALSE;
            }
        } else if (!ttml_launch_tensors("affine", &g, 1, &g, 1, &ap, sizeof ap, error)) {
            g_prefix_error(error, "clip_grad_norm: gradient of '%s': ", p->name);
            return FALSE;
        }
    }
    return TRUE;
}
