/* drivers/ttsim/dispatch/ttsim_views.c - facts about a launch and its views
 * that the dispatcher, the cost model and the native kernels all ask:
 * element counts, shapes as text, tile sequences, outputs read in place. */
#include "ttsim_internal.h"

#include <string.h>

/* Does the kernel read out[] before writing it? */
gboolean ttsim_reads_outputs(const ttml_launch *l)
{
    const char *k = l->kernel;
    if (strcmp(k, "matmul") == 0)
        return l->params && l->params_size >= sizeof(ttml_matmul_params) &&
               ((const ttml_matmul_params *)l->params)->beta != 0.0f;
    if (strcmp(k, "reduce_to") == 0)
        return l->params && l->params_size >= sizeof(ttml_reduce_params) &&
               ((const ttml_reduce_params *)l->params)->beta != 0.0f;
    return strcmp(k, "axpby") == 0 || strcmp(k, "strided_copy") == 0 || strcmp(k, "sgd_step") == 0 ||
           strcmp(k, "adamw_step") == 0;
}

gboolean ttsim_same_tiles(const ttsim_shape *a, const ttsim_shape *b)
{
    if (a->cols != b->cols) return FALSE;
    if (a->batch == b->batch && a->rows == b->rows) return TRUE;
    return a->rows % TTSIM_TILE == 0 && b->rows % TTSIM_TILE == 0 && a->batch * a->rows == b->batch * b->rows;
}

gint64 ttsim_view_numel(const ttml_view *v)
{
    gint64 n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i] > 0 ? v->shape[i] : 0;
    return n;
}

char *ttsim_view_shape_str(const ttml_view *v, char *buf, size_t size)
{
    int nd = v->ndim < 0 ? 0 : v->ndim > TTML_MAX_DIMS ? TTML_MAX_DIMS : v->ndim;
    return ttml_shape_str(nd, v->shape, buf, size);
}
