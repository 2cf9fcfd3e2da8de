/* drivers/cpu/kernels/cpu_kernels_elementwise.c - fill, copy, affine, axpby, relu,
 * relu_bwd.
 *
 * Each kernel checks its launch, then runs a *_range(ctx, begin, end) helper
 * through ttml_cpu_parallel_for, so the loops can later be split across
 * threads without change. The loops are plain and branch-free so that the
 * compiler vectorises them.
 */
#include "cpu_internal.h"

#include <string.h>

#define ELEMENTWISE_GRAIN 16384

/* ---- fill ---- */

typedef struct {
    void *out;
    ttml_dtype dtype;
    float f;
    guint16 h;
    guint32 u;
} fill_ctx;

static guint32 f32_to_u32(float x)
{
    if (!(x > 0.0f)) return 0;                 /* negatives and NaN */
    if (x >= 4294967295.0f) return G_MAXUINT32;
    return (guint32)x;                         /* truncation toward zero */
}

TTML_CPU_VEC static void fill_range(void *vctx, size_t begin, size_t end)
{
    const fill_ctx *c = vctx;
    switch (c->dtype) {
    case TTML_DTYPE_F32: {
        float *o = c->out;
        for (size_t i = begin; i < end; i++) o[i] = c->f;
        break;
    }
    case TTML_DTYPE_BF16: {
        guint16 *o = c->out;
        for (size_t i = begin; i < end; i++) o[i] = c->h;
        break;
    }
    default: {
        guint32 *o = c->out;
        for (size_t i = begin; i < end; i++) o[i] = c->u;
        break;
    }
    }
}

gboolean ttml_cpu_fill(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 0, 1, sizeof(ttml_fill_params), error)) return FALSE;
    void *out = ttml_cpu_out(l, 0, -1, error);
    if (!out) return FALSE;
    const ttml_fill_params *p = l->params;
    fill_ctx c = {out, l->out[0].dtype, p->value, ttml_f32_to_bf16(p->value), f32_to_u32(p->value)};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, fill_range, &c);
    return TRUE;
}

/* ---- copy (with dtype conversion) ---- */

typedef struct {
    const void *src;
    void *dst;
    ttml_dtype from, to;
} copy_ctx;

TTML_CPU_VEC static void copy_range(void *vctx, size_t begin, size_t end)
{
    const copy_ctx *c = vctx;
    const float *sf = c->src;
    const guint16 *sh = c->src;
    const guint32 *su = c->src;
    float *df = c->dst;
    guint16 *dh = c->dst;
    guint32 *du = c->dst;
    if (c->from == c->to) {
        size_t es = ttml_dtype_size(c->from);
        memmove((char *)c->dst + begin * es, (const char *)c->src + begin * es, (end - begin) * es);
        return;
    }
    switch (c->from * TTML_DTYPE_COUNT + c->to) {
    case TTML_DTYPE_F32 * TTML_DTYPE_COUNT + TTML_DTYPE_BF16:
        for (size_t i = begin; i < end; i++) dh[i] = ttml_f32_to_bf16(sf[i]);
        break;
    case TTML_DTYPE_F32 * TTML_DTYPE_COUNT + TTML_DTYPE_U32:
        for (size_t i = begin; i < end; i++) du[i] = f32_to_u32(sf[i]);
        break;
    case TTML_DTYPE_BF16 * TTML_DTYPE_COUNT + TTML_DTYPE_F32:
        for (size_t i = begin; i < end; i++) df[i] = ttml_bf16_to_f32(sh[i]);
        break;
    case TTML_DTYPE_BF16 * TTML_DTYPE_COUNT + TTML_DTYPE_U32:
        for (size_t i = begin; i < end; i++) du[i] = f32_to_u32(ttml_bf16_to_f32(sh[i]));
        break;
    case TTML_DTYPE_U32 * TTML_DTYPE_COUNT + TTML_DTYPE_F32:
        for (size_t i = begin; i < end; i++) df[i] = (float)su[i];
        break;
    case TTML_DTYPE_U32 * TTML_DTYPE_COUNT + TTML_DTYPE_BF16:
        for (size_t i = begin; i < end; i++) dh[i] = ttml_f32_to_bf16((float)su[i]);
        break;
    default:
        break;
    }
}

gboolean ttml_cpu_copy(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, 0, error)) return FALSE;
    const void *src = ttml_cpu_in(l, 0, -1, error);
    if (!src) return FALSE;
    void *dst = ttml_cpu_out(l, 0, -1, error);
    if (!dst) return FALSE;
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->out[0], "out[0]", error)) return FALSE;
    copy_ctx c = {src, dst, l->in[0].dtype, l->out[0].dtype};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, copy_range, &c);
    return TRUE;
}

/* The launch of a one-input one-output f32 kernel (affine, axpby, relu):
 * `params_size` bytes of params, x = in[0] and y = out[0] of one numel. */
static gboolean unary_f32_args(const ttml_launch *l, size_t params_size, const float **x, float **y,
                               GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, params_size, error)) return FALSE;
    if (!(*x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(*y = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    return ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->out[0], "out[0]", error);
}

/* ---- affine: y = x * mul + add (y may alias x) ---- */

typedef struct {
    const float *x;
    float *y;
    float mul, add;
} affine_ctx;

TTML_CPU_VEC static void affine_range(void *vctx, size_t begin, size_t end)
{
    const affine_ctx *c = vctx;
    const float *x = c->x;
    float *y = c->y;
    const float mul = c->mul, add = c->add;
    for (size_t i = begin; i < end; i++) y[i] = x[i] * mul + add;
}

gboolean ttml_cpu_affine(ttml_device *dev, const ttml_launch *l, GError **error)
{
    const float *x;
    float *y;
    if (!unary_f32_args(l, sizeof(ttml_affine_params), &x, &y, error)) return FALSE;
    const ttml_affine_params *p = l->params;
    affine_ctx c = {x, y, p->mul, p->add};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, affine_range, &c);
    return TRUE;
}

/* ---- axpby: y = alpha * x + beta * y (beta == 0 ignores y, even NaN) ---- */

TTML_CPU_VEC static void axpby_range(void *vctx, size_t begin, size_t end)
{
    const ttml_cpu_axpby_ctx *c = vctx;
    const float *x = c->x;
    float *y = c->y;
    const float alpha = c->alpha, beta = c->beta;
    if (beta == 0.0f) {
        for (size_t i = begin; i < end; i++) y[i] = alpha * x[i];
    } else if (beta == 1.0f) {
        for (size_t i = begin; i < end; i++) y[i] += alpha * x[i];
    } else {
        for (size_t i = begin; i < end; i++) y[i] = alpha * x[i] + beta * y[i];
    }
}

/* Not cloned itself: GCC 12 exports a non-static target_clones function (its
 * ifunc) despite -fvisibility=hidden, and a plugin exports only its entry. */
void ttml_cpu_axpby_range(void *vctx, size_t begin, size_t end) { axpby_range(vctx, begin, end); }

gboolean ttml_cpu_axpby(ttml_device *dev, const ttml_launch *l, GError **error)
{
    const float *x;
    float *y;
    if (!unary_f32_args(l, sizeof(ttml_axpby_params), &x, &y, error)) return FALSE;
    const ttml_axpby_params *p = l->params;
    ttml_cpu_axpby_ctx c = {x, y, p->alpha, p->beta};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, axpby_range, &c);
    return TRUE;
}

/* ---- relu / relu_bwd ---- */

typedef struct {
    const float *x, *dy;
    float *y;
} relu_ctx;

TTML_CPU_VEC static void relu_range(void *vctx, size_t begin, size_t end)
{
    const relu_ctx *c = vctx;
    const float *x = c->x;
    float *y = c->y;
    for (size_t i = begin; i < end; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

TTML_CPU_VEC static void relu_bwd_range(void *vctx, size_t begin, size_t end)
{
    const relu_ctx *c = vctx;
    const float *x = c->x, *dy = c->dy;
    float *dx = c->y;
    for (size_t i = begin; i < end; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

gboolean ttml_cpu_relu(ttml_device *dev, const ttml_launch *l, GError **error)
{
    const float *x;
    float *y;
    if (!unary_f32_args(l, 0, &x, &y, error)) return FALSE;
    relu_ctx c = {x, NULL, y};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, relu_range, &c);
    return TRUE;
}

gboolean ttml_cpu_relu_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, 0, error)) return FALSE;
    const float *x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!x) return FALSE;
    const float *dy = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error);
    if (!dy) return FALSE;
    float *dx = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!dx) return FALSE;
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->in[1], "in[1]", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->out[0], "out[0]", error))
        return FALSE;
    relu_ctx c = {x, dy, dx};
    ttml_cpu_parallel_for(ttml_cpu_numel(&l->out[0]), ELEMENTWISE_GRAIN, relu_bwd_range, &c);
    return TRUE;
}
