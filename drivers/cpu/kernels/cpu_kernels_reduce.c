/* drivers/cpu/kernels/cpu_kernels_reduce.c - reduce_to: sum over broadcast dims.
 *
 * out = scale * sum(x over the dims where out has extent 1) + beta * out.
 * Fast paths: no reduction (numel equal), full reduction to one element
 * (double accumulator), and reduction of leading dims onto trailing ones
 * (bias gradient: [..., N] -> [N], columns split across the pool). Otherwise
 * a 4-D walk with 0 strides.
 * Sums are accumulated in double; beta == 0 ignores the old out (even NaN).
 */
#include "cpu_internal.h"

static void write_out(float *out, const double *acc, size_t no, float scale, float beta)
{
    if (beta == 0.0f) {
        for (size_t j = 0; j < no; j++) out[j] = (float)(scale * acc[j]);
    } else {
        for (size_t j = 0; j < no; j++) out[j] = (float)(scale * acc[j] + (double)beta * out[j]);
    }
}

/* TRUE when out's shape (right-aligned) is 1s then x's trailing dims. */
static gboolean is_trailing(const ttml_view *out, const ttml_view *x)
{
    int64_t os[4], xs[4];
    ttml_cpu_shape4(out, os);
    ttml_cpu_shape4(x, xs);
    int d = 0;
    while (d < 4 && os[d] == 1) d++;
    for (; d < 4; d++)
        if (os[d] != xs[d]) return FALSE;
    return TRUE;
}

#define REDUCE_GRAIN 16384

/* Sum of the rows of x [rows, no] into out [no], columns [begin, end) per
 * chunk (each column summed in row order, in double: the same result for
 * any cut). */
typedef struct {
    const float *x;
    float *out;
    size_t rows, no;
    float scale, beta;
} reduce_rows_ctx;

TTML_CPU_VEC static void reduce_rows_range(void *vctx, size_t begin, size_t end)
{
    const reduce_rows_ctx *c = vctx;
    double acc[256];
    for (size_t j0 = begin; j0 < end; j0 += G_N_ELEMENTS(acc)) {
        const size_t w = MIN(end - j0, G_N_ELEMENTS(acc));
        for (size_t j = 0; j < w; j++) acc[j] = 0.0;
        for (size_t r = 0; r < c->rows; r++) {
            const float *xr = c->x + r * c->no + j0;
            for (size_t j = 0; j < w; j++) acc[j] += xr[j];
        }
        write_out(c->out + j0, acc, w, c->scale, c->beta);
    }
}

gboolean ttml_cpu_reduce_into(const ttml_launch *l, const float *x, const ttml_view *x_view,
                              const char *x_name, float *out, const ttml_view *out_view,
                              float scale, float beta, GError **error)
{
    int64_t so[4], xs[4];
    if (!ttml_cpu_broadcast_strides(l, out_view, "out[0]", x_view, x_name, so, error)) return FALSE;
    ttml_cpu_shape4(x_view, xs);
    const size_t n = ttml_cpu_numel(x_view), no = ttml_cpu_numel(out_view);
    if (no == 0) return TRUE;

    if (no == n) {
        ttml_cpu_axpby_ctx c = {x, out, scale, beta};   /* nothing to sum: out = scale x + beta out */
        ttml_cpu_parallel_for(n, REDUCE_GRAIN, ttml_cpu_axpby_range, &c);
        return TRUE;
    }
    if (no == 1) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += x[i];
        write_out(out, &s, 1, scale, beta);
        return TRUE;
    }
    if (is_trailing(out_view, x_view)) {
        /* bias gradients: [..., N] -> [N], columns across the threads */
        reduce_rows_ctx c = {x, out, n / no, no, scale, beta};
        ttml_cpu_parallel_for(no, MAX((size_t)16, REDUCE_GRAIN / MAX((size_t)1, n / no)),
                              reduce_rows_range, &c);
        return TRUE;
    }
    double *acc = g_try_new0(double, no);
    if (!acc) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "cpu kernel '%s': cannot allocate %zu bytes of scratch memory",
                    l->kernel ? l->kernel : "reduce_to", no * sizeof(double));
        return FALSE;
    }
    {
        size_t i = 0;
        for (int64_t i0 = 0; i0 < xs[0]; i0++)
            for (int64_t i1 = 0; i1 < xs[1]; i1++)
                for (int64_t i2 = 0; i2 < xs[2]; i2++) {
                    double *ar = acc + i0 * so[0] + i1 * so[1] + i2 * so[2];
                    if (so[3]) {
                        for (int64_t i3 = 0; i3 < xs[3]; i3++) ar[i3] += x[i + (size_t)i3];
                    } else {
                        double s = 0.0;
                        for (int64_t i3 = 0; i3 < xs[3]; i3++) s += x[i + (size_t)i3];
                        ar[0] += s;
                    }
                    i += (size_t)xs[3];
                }
    }
    write_out(out, acc, no, scale, beta);
    g_free(acc);
    return TRUE;
}

gboolean ttml_cpu_reduce_to(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, sizeof(ttml_reduce_params), error)) return FALSE;
    const float *x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!x) return FALSE;
    float *out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!out) return FALSE;
    const ttml_reduce_params *p = l->params;
    return ttml_cpu_reduce_into(l, x, &l->in[0], "in[0]", out, &l->out[0], p->scale, p->beta, error);
}
