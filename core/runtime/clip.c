/* core/runtime/clip.c - clip_grad_norm with PyTorch semantics, from the "sum_sq"
 * and "affine" kernels so it runs on every driver; over tensor-parallel
 * shards, the sharded squared norms are all-reduced over the TP group. */
#include "internal.h"

#include <math.h>

typedef enum { CLIP_ALL, CLIP_SHARDED, CLIP_REPLICATED } clip_which;

/* Sum of the squared gradients of the selected parameters into *sum. */
static gboolean sum_squares(GPtrArray *params, clip_which which, double *sum, GError **error)
{
    *sum = 0.0;
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        ttml_tensor *g = p->tensor->grad;
        gboolean sharded = p->tensor->shard != NULL;
        if (!g || (which == CLIP_SHARDED && !sharded) || (which == CLIP_REPLICATED && sharded)) continue;
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
        *sum += (double)v;
    }
    return TRUE;
}

/* Multiply every gradient by coef. */
static gboolean scale_grads(GPtrArray *params, double coef, GError **error)
{
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

/* Check the norm and scale when it exceeds max_norm. */
static gboolean clip_to(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, double norm,
                        double *total_norm, GError **error)
{
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
    return scale_grads(params, coef, error);
}

static gboolean check_max(GPtrArray *params, double max_norm, double *total_norm, GError **error)
{
    if (total_norm) *total_norm = 0.0;
    if (!params || !(max_norm > 0.0) || !isfinite(max_norm)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "clip_grad_norm: max_norm must be a finite number > 0, got %g", max_norm);
        return FALSE;
    }
    return TRUE;
}

gboolean ttml_clip_grad_norm(GPtrArray *params, double max_norm, gboolean error_if_nonfinite,
                             double *total_norm, GError **error)
{
    double sum = 0.0;
    if (!check_max(params, max_norm, total_norm, error) || !sum_squares(params, CLIP_ALL, &sum, error))
        return FALSE;
    return clip_to(params, max_norm, error_if_nonfinite, sqrt(sum), total_norm, error);
}

gboolean ttml_clip_grad_norm_tp(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, ttml_comm *tp,
                                double *total_norm, GError **error)
{
    if (!tp || ttml_comm_size(tp) == 1)
        return ttml_clip_grad_norm(params, max_norm, error_if_nonfinite, total_norm, error);
    double sharded = 0.0, replicated = 0.0;
    if (!check_max(params, max_norm, total_norm, error) || !sum_squares(params, CLIP_SHARDED, &sharded, error) ||
        !sum_squares(params, CLIP_REPLICATED, &replicated, error))
        return FALSE;
    /* the communicator reduces f32: a double as hi + lo keeps ~48 bits */
    float part[2] = {(float)sharded, 0.0f};
    part[1] = (float)(sharded - (double)part[0]);
    if (!ttml_comm_allreduce(tp, part, 2, TTML_DTYPE_F32, TTML_COMM_SUM, error)) {
        g_prefix_error(error, "clip_grad_norm over tensor-parallel shards: ");
        return FALSE;
    }
    return clip_to(params, max_norm, error_if_nonfinite, sqrt((double)part[0] + (double)part[1] + replicated), total_norm, error);
}
