/* drivers/cpu/kernels/cpu_kernels_nn_act.c - activations (gelu, silu, swiglu), the
 * row-wise softmax / log_softmax and dropout (ttml/kernels_nn.h).
 *
 * Elementwise kernels run flat ranges; softmax kernels run rows, each row
 * max-subtracted (numerically stable) and kept in cache between its passes.
 */
#include "cpu_kernels_nn.h"

#define GELU_K 0.7978845608028654f   /* sqrt(2 / pi) */
#define GELU_C 0.044715f

typedef struct {
    const float *a, *b, *c;
    float *o0, *o1;
    size_t f;                 /* row length for row-wise kernels */
    ttml_dropout_params drop;
} act_ctx;

/* Fetch in[0..n_in) and out[0..n_out) as f32 and check that all have the
 * same numel as in[0]. */
static gboolean act_args(const ttml_launch *l, int n_in, int n_out, size_t params_size, act_ctx *c,
                         size_t *n, GError **error)
{
    if (!ttml_cpu_check_launch(l, n_in, n_out, params_size, error)) return FALSE;
    const float **ins[3] = {&c->a, &c->b, &c->c};
    float **outs[2] = {&c->o0, &c->o1};
    static const char *in_names[] = {"in[0]", "in[1]", "in[2]"};
    static const char *out_names[] = {"out[0]", "out[1]"};
    for (int i = 0; i < n_in; i++) {
        if (!(*ins[i] = ttml_cpu_in(l, i, TTML_DTYPE_F32, error))) return FALSE;
        if (i > 0 && !ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->in[i], in_names[i], error))
            return FALSE;
    }
    for (int i = 0; i < n_out; i++) {
        if (!(*outs[i] = ttml_cpu_out(l, i, TTML_DTYPE_F32, error))) return FALSE;
        if (!ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->out[i], out_names[i], error))
            return FALSE;
    }
    *n = ttml_cpu_numel(&l->in[0]);
    return TRUE;
}

/* Fetch the arguments and run `fn` over flat ranges of in[0]'s elements. */
static gboolean elementwise_kernel(const ttml_launch *l, int n_in, int n_out, ttml_cpu_range_fn fn,
                                   GError **error)
{
    act_ctx c = {0};
    size_t n;
    if (!act_args(l, n_in, n_out, 0, &c, &n, error)) return FALSE;
    ttml_cpu_parallel_for(n, NN_GRAIN_ELEMS, fn, &c);
    return TRUE;
}

/* ---- gelu (tanh approximation) ---- */

TTML_CPU_VEC static void gelu_fwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *x = c->a;
    float *y = c->o0;
    for (size_t i = begin; i < end; i++) {
        const float v = x[i];
        const float t = ttml_km_tanhf(GELU_K * (v + GELU_C * v * v * v));
        y[i] = 0.5f * v * (1.0f + t);
    }
}

TTML_CPU_VEC static void gelu_bwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *x = c->a, *dy = c->b;
    float *dx = c->o0;
    for (size_t i = begin; i < end; i++) {
        const float v = x[i];
        const float t = ttml_km_tanhf(GELU_K * (v + GELU_C * v * v * v));
        const float du = GELU_K * (1.0f + 3.0f * GELU_C * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

gboolean ttml_cpu_gelu_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 1, 1, gelu_fwd_range, error);
}

gboolean ttml_cpu_gelu_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 2, 1, gelu_bwd_range, error);
}

/* ---- silu ---- */

TTML_CPU_VEC static void silu_fwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *x = c->a;
    float *y = c->o0;
    for (size_t i = begin; i < end; i++) y[i] = x[i] * ttml_km_sigmoidf(x[i]);
}

TTML_CPU_VEC static void silu_bwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *x = c->a, *dy = c->b;
    float *dx = c->o0;
    for (size_t i = begin; i < end; i++) {
        const float s = ttml_km_sigmoidf(x[i]);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

gboolean ttml_cpu_silu_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 1, 1, silu_fwd_range, error);
}

gboolean ttml_cpu_silu_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 2, 1, silu_bwd_range, error);
}

/* ---- swiglu: silu(gate) * up ---- */

TTML_CPU_VEC static void swiglu_fwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *g = c->a, *u = c->b;
    float *y = c->o0;
    for (size_t i = begin; i < end; i++) y[i] = g[i] * ttml_km_sigmoidf(g[i]) * u[i];
}

TTML_CPU_VEC static void swiglu_bwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *g = c->a, *u = c->b, *dy = c->c;
    float *dg = c->o0, *du = c->o1;
    for (size_t i = begin; i < end; i++) {
        const float s = ttml_km_sigmoidf(g[i]);
        const float d = dy[i];
        dg[i] = d * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = d * g[i] * s;
    }
}

gboolean ttml_cpu_swiglu_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 2, 1, swiglu_fwd_range, error);
}

gboolean ttml_cpu_swiglu_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return elementwise_kernel(l, 3, 2, swiglu_bwd_range, error);
}

/* ---- softmax / log_softmax over the last dim ---- */

TTML_CPU_VEC static void softmax_fwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const size_t f = c->f;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->a + r * f;
        float *y = c->o0 + r * f;
        const float m = ttml_km_row_max(x, f);
        const float inv = 1.0f / ttml_km_row_exp_sum(x, y, f, m);
        for (size_t j = 0; j < f; j++) y[j] *= inv;
    }
}

TTML_CPU_VEC static void softmax_bwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const size_t f = c->f;
    for (size_t r = begin; r < end; r++) {
        const float *y = c->a + r * f, *dy = c->b + r * f;
        float *dx = c->o0 + r * f;
        const float s = ttml_km_row_dot(dy, y, f);
        for (size_t j = 0; j < f; j++) dx[j] = y[j] * (dy[j] - s);
    }
}

TTML_CPU_VEC static void log_softmax_fwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const size_t f = c->f;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->a + r * f;
        float *y = c->o0 + r * f;
        const float m = ttml_km_row_max(x, f);
        const float shift = m + logf(ttml_km_row_exp_sum_only(x, f, m));
        for (size_t j = 0; j < f; j++) y[j] = x[j] - shift;
    }
}

TTML_CPU_VEC static void log_softmax_bwd_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const size_t f = c->f;
    for (size_t r = begin; r < end; r++) {
        const float *y = c->a + r * f, *dy = c->b + r * f;
        float *dx = c->o0 + r * f;
        const float s = ttml_km_row_sum(dy, f);
        for (size_t j = 0; j < f; j++) dx[j] = dy[j] - ttml_km_expf(y[j]) * s;
    }
}

static gboolean row_kernel(const ttml_launch *l, int n_in, ttml_cpu_range_fn fn, GError **error)
{
    act_ctx c = {0};
    size_t n, rows;
    if (!act_args(l, n_in, 1, 0, &c, &n, error)) return FALSE;
    nn_rows_of(&l->in[0], &rows, &c.f);
    ttml_cpu_parallel_for(rows, nn_row_grain(c.f), fn, &c);
    return TRUE;
}

gboolean ttml_cpu_softmax_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return row_kernel(l, 1, softmax_fwd_range, error);
}

gboolean ttml_cpu_softmax_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return row_kernel(l, 2, softmax_bwd_range, error);
}

gboolean ttml_cpu_log_softmax_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return row_kernel(l, 1, log_softmax_fwd_range, error);
}

gboolean ttml_cpu_log_softmax_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return row_kernel(l, 2, log_softmax_bwd_range, error);
}

/* ---- dropout: the mask is a hash of (seed, counter + i), never stored ---- */


TTML_CPU_VEC static void dropout_range(void *vctx, size_t begin, size_t end)
{
    const act_ctx *c = vctx;
    const float *x = c->a;
    float *y = c->o0;
    const guint64 seed = c->drop.seed, counter = c->drop.counter;
    const float p = c->drop.p, scale = 1.0f / (1.0f - c->drop.p);
    for (size_t i = begin; i < end; i++) {
        const guint64 h = ttml_km_mix64(seed ^ ttml_km_mix64(counter + (guint64)i));
        const float u = (float)(h >> 40) * (1.0f / 16777216.0f);
        y[i] = u >= p ? x[i] * scale : 0.0f;
    }
}

static gboolean dropout_kernel(const ttml_launch *l, GError **error)
{
    act_ctx c = {0};
    size_t n;
    if (!act_args(l, 1, 1, sizeof(ttml_dropout_params), &c, &n, error)) return FALSE;
    c.drop = *(const ttml_dropout_params *)l->params;
    if (!(c.drop.p >= 0.0f && c.drop.p < 1.0f)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': dropout probability p = %g must be in [0, 1)",
                    l->kernel ? l->kernel : "?", (double)c.drop.p);
        return FALSE;
    }
    ttml_cpu_parallel_for(n, NN_GRAIN_ELEMS / 4, dropout_range, &c);
    return TRUE;
}

gboolean ttml_cpu_dropout_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return dropout_kernel(l, error);
}

gboolean ttml_cpu_dropout_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    return dropout_kernel(l, error);
}
