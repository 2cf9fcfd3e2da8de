/* drivers/cpu/cpu_kernels_nn.h - private helpers and declarations of the cpu
 * driver's nn kernels (ttml/kernels_nn.h), split over cpu_kernels_nn*.c.
 *
 * The row helpers keep NN_LANES independent partial sums so that GCC
 * vectorises the reductions without -ffast-math; nn_expf is a branch-free
 * exp (Cody-Waite range reduction + degree-6 polynomial, relative error
 * below 2e-7; exp(x) = 0 below -87.34, saturates at exp(88) above 88) that vectorises where expf() from libm would not.
 */
#ifndef TTML_CPU_KERNELS_NN_H
#define TTML_CPU_KERNELS_NN_H

/* Float compares may then be if-converted: without this GCC keeps the
 * branches of nn_expf's clamps (they could raise FP exceptions) and no loop
 * calling it vectorises. ttml never relies on FP exception flags. Each
 * including .c file gets it for all its functions. */
#pragma GCC optimize("no-trapping-math")

#include "cpu_internal.h"

#include <math.h>
#include <string.h>

G_BEGIN_DECLS

#define NN_LANES 16
/* Work per chunk for the threaded loops, in elements. */
#define NN_GRAIN_ELEMS 16384

/* Rows per chunk so a chunk holds about NN_GRAIN_ELEMS elements. */
static inline size_t nn_row_grain(size_t f)
{
    return f >= NN_GRAIN_ELEMS ? 1 : NN_GRAIN_ELEMS / (f ? f : 1);
}

static inline float nn_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float magic = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > 88.0f ? 88.0f : x;   /* 2^127 at most: n + 127 stays < 255 */
    xc = xc < -87.3365478515625f ? -87.3365478515625f : xc;
    float n = (xc * log2e + magic) - magic;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    gint32 e = ((gint32)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    float y = p * scale;
    return x < -87.3365478515625f ? 0.0f : y;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits +-1, no branches. */
static inline float nn_tanhf(float u)
{
    return 1.0f - 2.0f / (nn_expf(2.0f * u) + 1.0f);
}

static inline float nn_sigmoidf(float x)
{
    return 1.0f / (1.0f + nn_expf(-x));
}

static inline float nn_row_max(const float *x, size_t n)
{
    float m[NN_LANES];
    for (int l = 0; l < NN_LANES; l++) m[l] = -INFINITY;
    size_t j = 0;
    for (; j + NN_LANES <= n; j += NN_LANES)
        for (int l = 0; l < NN_LANES; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
    float r = -INFINITY;
    for (int l = 0; l < NN_LANES; l++) r = m[l] > r ? m[l] : r;
    for (; j < n; j++) r = x[j] > r ? x[j] : r;
    return r;
}

static inline float nn_row_sum(const float *x, size_t n)
{
    float s[NN_LANES] = {0};
    size_t j = 0;
    for (; j + NN_LANES <= n; j += NN_LANES)
        for (int l = 0; l < NN_LANES; l++) s[l] += x[j + l];
    float r = 0.0f;
    for (int l = 0; l < NN_LANES; l++) r += s[l];
    for (; j < n; j++) r += x[j];
    return r;
}

static inline float nn_row_dot(const float *a, const float *b, size_t n)
{
    float s[NN_LANES] = {0};
    size_t j = 0;
    for (; j + NN_LANES <= n; j += NN_LANES)
        for (int l = 0; l < NN_LANES; l++) s[l] += a[j + l] * b[j + l];
    float r = 0.0f;
    for (int l = 0; l < NN_LANES; l++) r += s[l];
    for (; j < n; j++) r += a[j] * b[j];
    return r;
}

/* y[j] = exp(x[j] - shift) for j < n; returns sum(y). */
static inline float nn_row_exp_sum(const float *x, float *y, size_t n, float shift)
{
    float s[NN_LANES] = {0};
    size_t j = 0;
    for (; j + NN_LANES <= n; j += NN_LANES)
        for (int l = 0; l < NN_LANES; l++) {
            float e = nn_expf(x[j + l] - shift);
            y[j + l] = e;
            s[l] += e;
        }
    float r = 0.0f;
    for (int l = 0; l < NN_LANES; l++) r += s[l];
    for (; j < n; j++) {
        y[j] = nn_expf(x[j] - shift);
        r += y[j];
    }
    return r;
}

/* sum_j exp(x[j] - shift) without storing. */
static inline float nn_row_exp_sum_only(const float *x, size_t n, float shift)
{
    float s[NN_LANES] = {0};
    size_t j = 0;
    for (; j + NN_LANES <= n; j += NN_LANES)
        for (int l = 0; l < NN_LANES; l++) s[l] += nn_expf(x[j + l] - shift);
    float r = 0.0f;
    for (int l = 0; l < NN_LANES; l++) r += s[l];
    for (; j < n; j++) r += nn_expf(x[j] - shift);
    return r;
}

/* Rows and last dim of a row-wise view (F = last extent, rows = numel / F). */
static inline void nn_rows_of(const ttml_view *v, size_t *rows, size_t *f)
{
    size_t n = ttml_cpu_numel(v);
    size_t last = v->ndim > 0 && v->shape[v->ndim - 1] > 0 ? (size_t)v->shape[v->ndim - 1] : 0;
    *f = last;
    *rows = last ? n / last : 0;
}

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
