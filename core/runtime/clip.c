/* core/runtime/clip.c - clip_grad_norm with PyTorch semantics, from the "sum_sq"
 * and "affine" kernels so it runs on every driver; over tensor-parallel
 * shards, the sharded squared norms are all-reduced over the TP group, and
 * over pipeline stages every stage's squared norm is summed. */
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

/* Sum a double over `comm` (which reduces f32: hi + lo keep ~48 bits). */
static gboolean allreduce_double(ttml_comm *comm, double *v, const char *what, GError **error)
{
    float part[2] = {(float)*v, 0.0f};
    part[1] = (float)(*v - (double)part[0]);
    if (!ttml_comm_allreduce(comm, part, 2, TTML_DTYPE_F32, TTML_COMM_SUM, error)) {
        g_prefix_error(error, "clip_grad_norm over %s: ", what);
        return FALSE;
    }
    *v = (double)part[0] + (double)part[1];
    return TRUE;
}

gboolean ttml_clip_grad_norm_mesh(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, ttml_comm *tp,
                                  ttml_comm *stages, double *total_norm, GError **error)
{
    gboolean split = tp && ttml_comm_size(tp) > 1, staged = stages && ttml_comm_size(stages) > 1;
    if (!split && !staged) return ttml_clip_grad_norm(params, max_norm, error_if_nonfinite, total_norm, error);
    double sharded = 0.0, replicated = 0.0;
    if (!check_max(params, max_norm, total_norm, error) ||
        !sum_squares(params, split ? CLIP_SHARDED : CLIP_ALL, &sharded, error) ||
        (split && !sum_squares(params, CLIP_REPLICATED, &replicated, error)))
        return FALSE;
    /* the stage's squared norm (the TP group's shards summed, the replicated
     * parameters once), then every stage's (each holds other parameters) */
    if (split && !allreduce_double(tp, &sharded, "tensor-parallel shards", error)) return FALSE;
    double sum = sharded + replicated;
    if (staged && !allreduce_double(stages, &sum, "pipeline stages", error)) return FALSE;
    return clip_to(params, max_norm, error_if_nonfinite, sqrt(sum), total_norm, error);
}

gboolean ttml_clip_grad_norm_tp(GPtrArray *params, double max_norm, gboolean error_if_nonfinite, ttml_comm *tp,
                                double *total_norm, GError **error)
{
    return ttml_clip_grad_norm_mesh(params, max_norm, error_if_nonfinite, tp, NULL, total_norm, error);
}
