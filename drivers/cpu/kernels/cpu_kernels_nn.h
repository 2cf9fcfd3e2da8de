/* drivers/cpu/kernels/cpu_kernels_nn.h - private helpers and declarations of the cpu
 * driver's nn kernels (ttml/kernels_nn.h), split over cpu_kernels_nn*.c.
 *
 * The scalar math and row reductions (ttml_km_*) live in
 * drivers/common/ttml_kernel_math.h, shared with ttsim's native kernels.
 */
#ifndef TTML_CPU_KERNELS_NN_H
#define TTML_CPU_KERNELS_NN_H

#include "cpu_internal.h"
#include "../../common/ttml_kernel_math.h"   /* exp, tanh, sigmoid, row sums */

#include <math.h>
#include <string.h>

G_BEGIN_DECLS

#define NN_LANES TTML_KM_LANES
/* Work per chunk for the threaded loops, in elements. */
#define NN_GRAIN_ELEMS 16384

/* Rows per chunk so a chunk holds about NN_GRAIN_ELEMS elements. */
static inline size_t nn_row_grain(size_t f)
{
    return f >= NN_GRAIN_ELEMS ? 1 : NN_GRAIN_ELEMS / (f ? f : 1);
}

/* Rows and last dim of a row-wise view (F = last extent, rows = numel / F). */
static inline void nn_rows_of(const ttml_view *v, size_t *rows, size_t *f)
{
    size_t n = ttml_cpu_numel(v);
    size_t last = v->ndim > 0 && v->shape[v->ndim - 1] > 0 ? (size_t)v->shape[v->ndim - 1] : 0;
    *f = last;
    *rows = last ? n / last : 0;
}

/* ---- shared checks (cpu_kernels_nn_check.c) ---- */
/* A TTML_ERROR_SHAPE for a per-row / per-column operand whose numel is wrong. */
gboolean ttml_cpu_nn_check_count(const ttml_launch *l, const ttml_view *v, const char *name,
                                 size_t want, const char *what, GError **error);
/* Check every id of a u32 view is < limit; the error names the id, its
 * position and the limit. */
gboolean ttml_cpu_nn_check_ids(const ttml_launch *l, const guint32 *ids, size_t n, size_t limit,
                               const char *what, GError **error);

/* cpu_kernels_nn.c */
gboolean ttml_cpu_layernorm_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_layernorm_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_rmsnorm_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_rmsnorm_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
/* cpu_kernels_nn_act.c */
gboolean ttml_cpu_gelu_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_gelu_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_silu_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_silu_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_swiglu_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_swiglu_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_softmax_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_softmax_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_log_softmax_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_log_softmax_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_dropout_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_dropout_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
/* cpu_kernels_nn_data.c */
gboolean ttml_cpu_embedding_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_embedding_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_transpose_last2(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_strided_copy(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_cross_entropy_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_cross_entropy_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_nll_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_nll_bwd(ttml_device *dev, const ttml_launch *l, GError **error);

G_END_DECLS

#endif
