/* drivers/cpu/kernels/cpu_kernels_nn.c - registration of the nn kernels
 * (ttml/kernels_nn.h) and the fused normalisation kernels
 * layernorm_fwd/bwd and rmsnorm_fwd/bwd.
 *
 * Forward: one row per iteration (statistics, then the normalised row while
 * it is in cache). Backward: rows are cut into fixed blocks of NORM_BLOCK
 * rows; each block computes dx and its own partial dgamma/dbeta (so blocks
 * can run on different threads), and the partials are reduced afterwards in
 * block order (results do not depend on the thread count).
 */
#include "cpu_kernels_nn.h"
#include "../../common/ttml_kernel_list.h"

#define NORM_BLOCK 32

static gboolean check_eps(const ttml_launch *l, const ttml_norm_params *p, GError **error)
{
    if (p->eps >= 0.0f && isfinite(p->eps)) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "cpu kernel '%s': eps must be finite and >= 0, got %g", l->kernel ? l->kernel : "?",
                (double)p->eps);
    return FALSE;
}

/* ---- layernorm ---- */

typedef struct {
    const float *x, *gamma, *beta, *dy, *mean, *rstd;
    float *y, *dx, *out_mean, *out_rstd;
    float *partial;      /* [n_blocks][2F]: dgamma then dbeta */
    float *dgamma, *dbeta;
    size_t rows, f, n_blocks;
    float eps;
} norm_ctx;

TTML_CPU_VEC static void layernorm_fwd_range(void *vctx, size_t begin, size_t end)
{
    const norm_ctx *c = vctx;
    const size_t f = c->f;
    const float inv_f = 1.0f / (float)f;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->x + r * f;
        float *y = c->y + r * f;
        const float mean = ttml_km_row_sum(x, f) * inv_f;
        float s[NN_LANES] = {0};
        size_t j = 0;
        for (; j + NN_LANES <= f; j += NN_LANES)
            for (int k = 0; k < NN_LANES; k++) {
                const float d = x[j + k] - mean;
                s[k] += d * d;
            }
        float var = 0.0f;
        for (int k = 0; k < NN_LANES; k++) var += s[k];
        for (; j < f; j++) var += (x[j] - mean) * (x[j] - mean);
        var *= inv_f;
        const float rstd = 1.0f / sqrtf(var + c->eps);
        const float *g = c->gamma, *b = c->beta;
        if (b)
            for (j = 0; j < f; j++) y[j] = (x[j] - mean) * rstd * g[j] + b[j];
        else
            for (j = 0; j < f; j++) y[j] = (x[j] - mean) * rstd * g[j];
        c->out_mean[r] = mean;
        c->out_rstd[r] = rstd;
    }
}

/* The launch checks and arguments both norm forwards share: n_out outputs,
 * norm params with a valid eps, x = in[0], gamma = in[1] of the last dim of
 * x, y = out[0] like x; rows and f of x. */
static gboolean norm_fwd_args(const ttml_launch *l, int n_out, norm_ctx *c, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, n_out, sizeof(ttml_norm_params), error)) return FALSE;
    const ttml_norm_params *p = l->params;
    if (!check_eps(l, p, error)) return FALSE;
    if (!(c->x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c->gamma = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c->y = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    nn_rows_of(&l->in[0], &c->rows, &c->f);
    c->eps = p->eps;
    return ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (gamma)", c->f, "the last dim of in[0]", error) &&
           ttml_cpu_check_numel(l, &l->in[0], "in[0] (x)", &l->out[0], "out[0] (y)", error);
}

gboolean ttml_cpu_layernorm_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    norm_ctx c = {0};
    if (!norm_fwd_args(l, 3, &c, error)) return FALSE;
    if (l->n_in > 2 && !(c.beta = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.out_mean = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.out_rstd = ttml_cpu_out(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    if ((c.beta && !ttml_cpu_nn_check_count(l, &l->in[2], "in[2] (beta)", c.f,
                                            "the last dim of in[0]", error)) ||
        !ttml_cpu_nn_check_count(l, &l->out[1], "out[1] (mean)", c.rows, "one per row of in[0]", error) ||
        !ttml_cpu_nn_check_count(l, &l->out[2], "out[2] (rstd)", c.rows, "one per row of in[0]", error))
        return FALSE;
    ttml_cpu_parallel_for(c.rows, nn_row_grain(c.f), layernorm_fwd_range, &c);
    return TRUE;
}

TTML_CPU_VEC static void layernorm_bwd_blocks(void *vctx, size_t begin, size_t end)
{
    const norm_ctx *c = vctx;
    const size_t f = c->f;
    const float inv_f = 1.0f / (float)f;
    const float *restrict gamma = c->gamma;
    for (size_t b = begin; b < end; b++) {
        /* the op allocates dx; the partials are this block's own scratch */
        float *restrict pg = c->partial + b * 2 * f;
        float *restrict pb = pg + f;
        for (size_t j = 0; j < f; j++) pg[j] = pb[j] = 0.0f;
        const size_t r_end = MIN(c->rows, (b + 1) * NORM_BLOCK);
        for (size_t r = b * NORM_BLOCK; r < r_end; r++) {
            const float *restrict x = c->x + r * f, *restrict dy = c->dy + r * f;
            float *restrict dx = c->dx + r * f;
            const float mean = c->mean[r], rstd = c->rstd[r];
            float sg[NN_LANES] = {0}, sgx[NN_LANES] = {0};
            size_t j = 0;
            for (; j + NN_LANES <= f; j += NN_LANES)
                for (int k = 0; k < NN_LANES; k++) {
                    const float xh = (x[j + k] - mean) * rstd;
                    const float g = dy[j + k] * gamma[j + k];
                    sg[k] += g;
                    sgx[k] += g * xh;
                }
            float sum_g = 0.0f, sum_gx = 0.0f;
            for (int k = 0; k < NN_LANES; k++) {
                sum_g += sg[k];
                sum_gx += sgx[k];
            }
            for (; j < f; j++) {
                const float xh = (x[j] - mean) * rstd;
                const float g = dy[j] * gamma[j];
                sum_g += g;
                sum_gx += g * xh;
            }
            const float mg = sum_g * inv_f, mgx = sum_gx * inv_f;
#pragma GCC ivdep
            for (j = 0; j < f; j++) {
                const float xh = (x[j] - mean) * rstd;
                dx[j] = rstd * (dy[j] * gamma[j] - mg - xh * mgx);
                pg[j] += dy[j] * xh;
                pb[j] += dy[j];
            }
        }
    }
}

/* out[j] = sum over blocks of partial[b][offset + j], for columns [begin, end). */
typedef struct {
    const float *partial;
    float *out_g, *out_b;
    size_t f, n_blocks, stride;
} reduce_ctx;

TTML_CPU_VEC static void reduce_blocks_range(void *vctx, size_t begin, size_t end)
{
    const reduce_ctx *c = vctx;
    for (size_t j = begin; j < end; j++) {
        float g = 0.0f, bsum = 0.0f;
        for (size_t b = 0; b < c->n_blocks; b++) {
            g += c->partial[b * c->stride + j];
            if (c->out_b) bsum += c->partial[b * c->stride + c->f + j];
        }
        c->out_g[j] = g;
        if (c->out_b) c->out_b[j] = bsum;
    }
}

static void reduce_blocks(const float *partial, size_t n_blocks, size_t stride, size_t f,
                          float *out_g, float *out_b)
{
    reduce_ctx rc = {partial, out_g, out_b, f, n_blocks, stride};
    ttml_cpu_parallel_for(f, MAX((size_t)1, NN_GRAIN_ELEMS / MAX((size_t)1, n_blocks)),
                          reduce_blocks_range, &rc);
}

static size_t block_grain(size_t f)
{
    size_t g = nn_row_grain(f) / NORM_BLOCK;
    return g ? g : 1;
}

/* The backward driver both norms share: run `blocks_fn` over the blocks of
 * NORM_BLOCK rows (each writes its rows of dx and its partial dgamma, then
 * dbeta when c->dbeta, `stride` floats per block), then sum the partials in
 * block order into c->dgamma (and c->dbeta). */
static gboolean norm_bwd_run(norm_ctx *c, size_t stride, ttml_cpu_range_fn blocks_fn)
{
    if (c->f == 0) return TRUE;
    c->n_blocks = (c->rows + NORM_BLOCK - 1) / NORM_BLOCK;
    if (c->n_blocks == 0) {
        memset(c->dgamma, 0, c->f * sizeof(float));
        if (c->dbeta) memset(c->dbeta, 0, c->f * sizeof(float));
        return TRUE;
    }
    c->partial = g_new(float, c->n_blocks * stride);
    ttml_cpu_parallel_for(c->n_blocks, block_grain(c->f), blocks_fn, c);
    reduce_blocks(c->partial, c->n_blocks, stride, c->f, c->dgamma, c->dbeta);
    g_free(c->partial);
    return TRUE;
}

gboolean ttml_cpu_layernorm_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 5, 2, 0, error)) return FALSE;
    norm_ctx c = {0};
    if (!(c.x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.gamma = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.mean = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.rstd = ttml_cpu_in(l, 3, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dy = ttml_cpu_in(l, 4, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dx = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dgamma = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (l->n_out > 2 && !(c.dbeta = ttml_cpu_out(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    nn_rows_of(&l->in[0], &c.rows, &c.f);
    if (!ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (gamma)", c.f, "the last dim of in[0]", error) ||
        !ttml_cpu_nn_check_count(l, &l->in[2], "in[2] (mean)", c.rows, "one per row of in[0]", error) ||
        !ttml_cpu_nn_check_count(l, &l->in[3], "in[3] (rstd)", c.rows, "one per row of in[0]", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0] (x)", &l->in[4], "in[4] (dy)", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0] (x)", &l->out[0], "out[0] (dx)", error) ||
        !ttml_cpu_nn_check_count(l, &l->out[1], "out[1] (dgamma)", c.f, "the last dim of in[0]", error) ||
        (c.dbeta && !ttml_cpu_nn_check_count(l, &l->out[2], "out[2] (dbeta)", c.f,
                                             "the last dim of in[0]", error)))
        return FALSE;
    return norm_bwd_run(&c, 2 * c.f, layernorm_bwd_blocks);
}

/* ---- rmsnorm ---- */

TTML_CPU_VEC static void rmsnorm_fwd_range(void *vctx, size_t begin, size_t end)
{
    const norm_ctx *c = vctx;
    const size_t f = c->f;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->x + r * f;
        float *y = c->y + r * f;
        const float ms = ttml_km_row_dot(x, x, f) / (float)f;
        const float rstd = 1.0f / sqrtf(ms + c->eps);
        for (size_t j = 0; j < f; j++) y[j] = x[j] * rstd * c->gamma[j];
        c->out_rstd[r] = rstd;
    }
}

gboolean ttml_cpu_rmsnorm_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    norm_ctx c = {0};
    if (!norm_fwd_args(l, 2, &c, error)) return FALSE;
    if (!(c.out_rstd = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!ttml_cpu_nn_check_count(l, &l->out[1], "out[1] (rstd)", c.rows, "one per row of in[0]", error))
        return FALSE;
    ttml_cpu_parallel_for(c.rows, nn_row_grain(c.f), rmsnorm_fwd_range, &c);
    return TRUE;
}

TTML_CPU_VEC static void rmsnorm_bwd_blocks(void *vctx, size_t begin, size_t end)
{
    const norm_ctx *c = vctx;
    const size_t f = c->f;
    const float inv_f = 1.0f / (float)f;
    const float *restrict gamma = c->gamma;
    for (size_t b = begin; b < end; b++) {
        float *restrict pg = c->partial + b * f;
        for (size_t j = 0; j < f; j++) pg[j] = 0.0f;
        const size_t r_end = MIN(c->rows, (b + 1) * NORM_BLOCK);
        for (size_t r = b * NORM_BLOCK; r < r_end; r++) {
            const float *restrict x = c->x + r * f, *restrict dy = c->dy + r * f;
            float *restrict dx = c->dx + r * f;
            const float rstd = c->rstd[r];
            float sgx[NN_LANES] = {0};
            size_t j = 0;
            for (; j + NN_LANES <= f; j += NN_LANES)
                for (int k = 0; k < NN_LANES; k++)
                    sgx[k] += dy[j + k] * gamma[j + k] * x[j + k];
            float sum_gx = 0.0f;
            for (int k = 0; k < NN_LANES; k++) sum_gx += sgx[k];
            for (; j < f; j++) sum_gx += dy[j] * gamma[j] * x[j];
            /* mean_F(g * xhat) = rstd * sum(g * x) / F */
            const float mgx = sum_gx * rstd * inv_f;
#pragma GCC ivdep
            for (j = 0; j < f; j++) {
                const float xh = x[j] * rstd;
                dx[j] = rstd * (dy[j] * gamma[j] - xh * mgx);
                pg[j] += dy[j] * xh;
            }
        }
    }
}

gboolean ttml_cpu_rmsnorm_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 4, 2, 0, error)) return FALSE;
    norm_ctx c = {0};
    if (!(c.x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.gamma = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.rstd = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dy = ttml_cpu_in(l, 3, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dx = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.dgamma = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    nn_rows_of(&l->in[0], &c.rows, &c.f);
    if (!ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (gamma)", c.f, "the last dim of in[0]", error) ||
        !ttml_cpu_nn_check_count(l, &l->in[2], "in[2] (rstd)", c.rows, "one per row of in[0]", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0] (x)", &l->in[3], "in[3] (dy)", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0] (x)", &l->out[0], "out[0] (dx)", error) ||
        !ttml_cpu_nn_check_count(l, &l->out[1], "out[1] (dgamma)", c.f, "the last dim of in[0]", error))
        return FALSE;
    return norm_bwd_run(&c, c.f, rmsnorm_bwd_blocks);
}

/* ---- registration ---- */

static const struct {
    const char *name;
    ttml_kernel_fn fn;
} nn_kernels[] = {
#define CPU_KERNEL(name) {#name, ttml_cpu_##name},
    TTML_KERNELS_NN(CPU_KERNEL)
#undef CPU_KERNEL
};

gboolean ttml_cpu_register_nn_kernels(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(nn_kernels); i++)
        if (!host->register_kernel(plugin, "cpu", nn_kernels[i].name, nn_kernels[i].fn, error))
            return FALSE;
    return TRUE;
}
