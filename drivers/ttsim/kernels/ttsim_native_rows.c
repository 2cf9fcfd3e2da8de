/* drivers/ttsim/kernels/ttsim_native_rows.c - native row-wise kernels (norms,
 * softmax family, losses) and the sums reduce_to / div_bwd_b, on the tile
 * images (see ttsim_native.c).
 *
 * Row-wise kernels split the tile-rows of their main tensor over the cores
 * (tt-metal's layernorm / softmax programs do the same): a core unpacks a
 * tile-row (32 rows x all column tiles) into its scratch, computes each
 * valid row and packs the result tile-row. Per-row statistics (mean, rstd,
 * lse) and 1-element losses are collected into host arrays and written once
 * after the grid run; layernorm_bwd / rmsnorm_bwd keep one dgamma (dbeta)
 * partial per core, combined in core order.
 *
 * The row math is the cpu driver's (drivers/cpu/cpu_kernels_nn*.c) line by
 * line: the same 16-lane partial sums, the same polynomial exp, double
 * accumulation where the cpu uses it, so results differ from cpu only by the
 * storage rounding of inputs and outputs.
 */
#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"
#include "../../common/ttml_kernel_math.h"

#include <math.h>
#include <string.h>

/* ---- the cpu driver's row helpers (cpu_kernels_nn.h), copied ---- */

#define RW_LANES TTML_KM_LANES

/* ---- launch checks ---- */

static ttsim_native_status decline(ttsim_native_ctx *c, const char *why)
{
    c->decline = why;
    return TTSIM_NATIVE_DECLINE;
}

static gboolean is_f32(const ttml_view *v) { return v->dtype == TTML_DTYPE_F32; }

/* Slot counts (n_out_min..n_out_max outputs) and a params struct of at
 * least params_size bytes (0: none needed). */
static gboolean slots_ok(const ttsim_native_ctx *c, int n_in_min, int n_in_max, int n_out_min, int n_out_max,
                         size_t params_size)
{
    const ttml_launch *l = c->l;
    if (l->n_in < n_in_min || l->n_in > n_in_max || l->n_out < n_out_min || l->n_out > n_out_max) return FALSE;
    return params_size == 0 || (l->params && l->params_size >= params_size);
}

/* The cpu's TTML_ERROR_SHAPE when two operands differ in numel. */
static ttsim_native_status numel_error(const ttsim_native_ctx *c, const ttml_view *a, const char *a_name,
                                       const ttml_view *b, const char *b_name, GError **error)
{
    char sa[80], sb[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "ttsim kernel '%s': %s of shape %s and %s of shape %s must have the same number of elements "
                "(%" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT ")",
                c->l->kernel, a_name, ttml_shape_str(a->ndim, a->shape, sa, sizeof sa), b_name,
                ttml_shape_str(b->ndim, b->shape, sb, sizeof sb), ttsim_view_numel(a), ttsim_view_numel(b));
    return TTSIM_NATIVE_ERROR;
}

/* FALSE with the cpu's error unless r is TTML_REDUCE_MEAN or _SUM. */
static gboolean reduction_ok(const ttsim_native_ctx *c, ttml_reduction r, GError **error)
{
    if (r == TTML_REDUCE_MEAN || r == TTML_REDUCE_SUM) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "ttsim kernel '%s': unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)", c->l->kernel,
                (int)r);
    return FALSE;
}

/* The gradient scale of a loss: dloss / rows for a mean, dloss for a sum. */
static float loss_scale(ttml_reduction r, float dloss, gint64 rows)
{
    return r == TTML_REDUCE_MEAN ? dloss / (float)rows : dloss;
}

/* out[0] = the loss of the summed terms: total / rows for a mean. */
static void put_loss(ttsim_native_ctx *c, ttml_reduction r, double total, gint64 rows)
{
    float loss = (float)(r == TTML_REDUCE_MEAN ? total / (double)rows : total);
    ttsim_tiled_from_host(&c->out[0].t, &loss);
}

/* Inputs 0..n-1 are all f32. */
static gboolean inputs_f32(const ttsim_native_ctx *c, int n)
{
    for (int i = 0; i < n; i++)
        if (!is_f32(&c->l->in[i])) return FALSE;
    return TRUE;
}

/* A whole small f32 operand (gamma, stats, dloss) as row-major host values
 * (g_free). */
static float *host_copy(const ttsim_operand *o)
{
    float *h = g_new(float, o->numel > 0 ? o->numel : 1);
    if (o->numel > 0) ttsim_tiled_to_host(&o->t, h);
    return h;
}

/* ---- row-wise kernels ---- */

/* Tile-row g of x: its first logical row (b * rows + r) and how many of
 * its 32 rows are valid. */
static void tilerow_rows(const ttsim_tiled *x, gint64 g, gint64 *row0, int *nv)
{
    gint64 b = g / x->rt, tr = g % x->rt;
    gint64 left = x->s.rows - tr * TTSIM_TILE;
    *row0 = b * x->s.rows + tr * TTSIM_TILE;
    *nv = left < TTSIM_TILE ? (int)left : TTSIM_TILE;
}

/* Tile-row g of x into buf (rows of x->ct * 32 floats); returns how many
 * of its rows are valid, *row0 its first logical row. */
static int tilerow_load(const ttsim_tiled *x, gint64 g, float *buf, gint64 *row0)
{
    int nv;
    tilerow_rows(x, g, row0, &nv);
    ttsim_tilerow_get(x, g, buf);
    return nv;
}

/* A row input read along the main operand's tile-rows: directly when it
 * has the same tile sequence, else row by row (same columns, same logical
 * rows). */
typedef struct {
    const ttsim_tiled *t;
    gboolean same;
} row_src;

static void src_get(const row_src *s, const ttsim_tiled *x, gint64 g, float *buf)
{
    if (s->same) {
        ttsim_tilerow_get(s->t, g, buf);
        return;
    }
    gint64 row0;
    int nv;
    tilerow_rows(x, g, &row0, &nv);
    size_t ld = (size_t)x->ct * TTSIM_TILE;
    for (int i = 0; i < nv; i++) ttsim_row_get(s->t, row0 + i, buf + (size_t)i * ld);
}

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *x;        /* main operand: its tile-rows are the units   */
    row_src in2;                 /* dy (norm bwd), dy (softmax bwd)             */
    const ttsim_tiled *y;        /* row output (same tile sequence as x)        */
    gint64 f;                    /* row length                                  */
    size_t ld;                   /* floats per scratch row (ct * 32)            */
    const float *gamma, *beta;   /* [f] host copies                             */
    const float *st0, *st1;      /* per-row statistics in (host)                */
    float *so0, *so1;            /* per-row statistics out (host)               */
    const guint32 *ids;          /* targets, one per row                        */
    double *terms;               /* per-row loss terms (double)                 */
    float *part;                 /* per-core partials, pstride floats each      */
    gint64 pstride;
    gint64 valid;                /* cross entropy: columns taking part          */
    float eps, scale;
} rows_job;

static float *scratch_rows(const rows_job *j, int worker, int slot)
{
    return ttsim_worker_scratch(j->d, worker, slot, (size_t)TTSIM_TILE * j->ld * sizeof(float));
}

/* Check a row operand against the main one x: f32, same numel (else the
 * cpu's shape error), same columns; *same = same tile sequence. Returns a
 * decline reason, or NULL. */
static const char *row_operand(const ttsim_operand *x, const ttsim_operand *o, gboolean *same)
{
    if (o->ids || !is_f32(o->view)) return "a row operand that is not f32";
    if (o->s.cols != x->s.cols) return "row operands with different last dims";
    *same = ttsim_same_tiles(&x->s, &o->s);
    return NULL;
}

/* A zeroed job over the tile-rows of x (row length x's last dim). */
static void rows_job_init(rows_job *j, ttsim_device *d, const ttsim_operand *x)
{
    memset(j, 0, sizeof *j);
    j->d = d;
    j->x = &x->t;
    j->f = x->s.cols;
    j->ld = (size_t)x->t.ct * TTSIM_TILE;
}

/* Run fn over the tile-rows of j->x. */
static void rows_run(rows_job *j, ttsim_core_fn fn, ttsim_split *split)
{
    ttsim_grid_run(j->d, ttsim_tiled_tilerows(j->x), (gint64)TTSIM_TILE * j->f, fn, j, split);
}

/* A kernel entry that is one variant (arg) of a shared kernel family:
 * name(c, error) = family(c, arg, error). */
#define VARIANT(name, family, arg)                                             \
    static ttsim_native_status name(ttsim_native_ctx *c, GError **error)       \
    {                                                                          \
        return family(c, arg, error);                                          \
    }

/* -- layernorm -- */

static void layernorm_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rows_job *j = ctx;
    const gint64 f = j->f;
    const float inv_f = 1.0f / (float)f;
    float *xb = scratch_rows(j, worker, 0), *yb = scratch_rows(j, worker, 1);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld;
            float *y = yb + (size_t)i * j->ld;
            const float mean = ttml_km_row_sum(x, f) * inv_f;
            float s[RW_LANES] = {0};
            gint64 c = 0;
            for (; c + RW_LANES <= f; c += RW_LANES)
                for (int k = 0; k < RW_LANES; k++) {
                    const float d = x[c + k] - mean;
                    s[k] += d * d;
                }
            float var = 0.0f;
            for (int k = 0; k < RW_LANES; k++) var += s[k];
            for (; c < f; c++) var += (x[c] - mean) * (x[c] - mean);
            var *= inv_f;
            const float rstd = 1.0f / sqrtf(var + j->eps);
            if (j->beta)
                for (c = 0; c < f; c++) y[c] = (x[c] - mean) * rstd * j->gamma[c] + j->beta[c];
            else
                for (c = 0; c < f; c++) y[c] = (x[c] - mean) * rstd * j->gamma[c];
            j->so0[row0 + i] = mean;
            j->so1[row0 + i] = rstd;
        }
        ttsim_tilerow_put(j->y, g, yb);
    }
}

static ttsim_native_status check_eps(const ttsim_native_ctx *c, float eps, GError **error)
{
    if (eps >= 0.0f && isfinite(eps)) return TTSIM_NATIVE_DONE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttsim kernel '%s': eps must be finite and >= 0, got %g",
                c->l->kernel, (double)eps);
    return TTSIM_NATIVE_ERROR;
}

/* The checks both norm forwards share: x = in[0] with f > 0 and rows > 0,
 * gamma = in[1] of f elements, y = out[0] like x; n_stats per-row outputs
 * out[1..n_stats]. */
static ttsim_native_status norm_fwd_setup(ttsim_native_ctx *c, int n_in_max, int n_stats, rows_job *j,
                                          GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, 2, n_in_max, 1 + n_stats, 1 + n_stats, sizeof(ttml_norm_params)))
        return decline(c, "unexpected slot counts or params");
    const ttml_norm_params *p = l->params;
    if (check_eps(c, p->eps, error) != TTSIM_NATIVE_DONE) return TTSIM_NATIVE_ERROR;
    if (!inputs_f32(c, l->n_in)) return decline(c, "a non-f32 input");
    const ttsim_operand *x = &c->in[0];
    if (x->numel == 0) return decline(c, "an empty x");
    const gint64 f = x->s.cols, rows = x->numel / f;
    if (c->in[1].numel != f) return ttsim_native_count_error(c, &l->in[1], "in[1] (gamma)", f, "the last dim of in[0]", error);
    if (l->n_in > 2 && c->in[2].numel != f)
        return ttsim_native_count_error(c, &l->in[2], "in[2] (beta)", f, "the last dim of in[0]", error);
    if (c->out[0].numel != x->numel) return numel_error(c, &l->in[0], "in[0] (x)", &l->out[0], "out[0] (y)", error);
    static const char *const stat_names[2][2] = {{"out[1] (rstd)", NULL}, {"out[1] (mean)", "out[2] (rstd)"}};
    for (int k = 1; k <= n_stats; k++)
        if (c->out[k].numel != rows)
            return ttsim_native_count_error(c, &l->out[k], stat_names[n_stats - 1][k - 1], rows, "one per row of in[0]", error);
    gboolean same;
    const char *why = row_operand(x, &c->out[0], &same);
    if (why || !same) return decline(c, why ? why : "y stored with another tile geometry than x");
    rows_job_init(j, c->d, x);
    j->eps = p->eps;
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_layernorm_fwd(ttsim_native_ctx *c, GError **error)
{
    rows_job j;
    ttsim_native_status st = norm_fwd_setup(c, 3, 2, &j, error);
    if (st != TTSIM_NATIVE_DONE) return st;
    float *gamma = host_copy(&c->in[1]);
    float *beta = c->l->n_in > 2 ? host_copy(&c->in[2]) : NULL;
    gint64 rows = c->in[0].numel / j.f;
    float *mean = g_new(float, rows), *rstd = g_new(float, rows);
    if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
    if (st == TTSIM_NATIVE_DONE) {
        j.y = &c->out[0].t;
        j.gamma = gamma;
        j.beta = beta;
        j.so0 = mean;
        j.so1 = rstd;
        rows_run(&j, layernorm_fwd_core, NULL);
        ttsim_tiled_from_host(&c->out[1].t, mean);
        ttsim_tiled_from_host(&c->out[2].t, rstd);
    }
    g_free(gamma);
    g_free(beta);
    g_free(mean);
    g_free(rstd);
    return st;
}

/* Per core: dx rows, and dgamma (then dbeta) summed over the core's rows
 * into its partial j->part + core * pstride. */
static void layernorm_bwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    const rows_job *j = ctx;
    const gint64 f = j->f;
    const float inv_f = 1.0f / (float)f;
    const float *gamma = j->gamma;
    float *pg = j->part + core * j->pstride;
    float *pb = j->pstride > f ? pg + f : NULL;
    float *xb = scratch_rows(j, worker, 0), *db = scratch_rows(j, worker, 1), *ob = scratch_rows(j, worker, 2);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        src_get(&j->in2, j->x, g, db);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld, *dy = db + (size_t)i * j->ld;
            float *dx = ob + (size_t)i * j->ld;
            const float mean = j->st0[row0 + i], rstd = j->st1[row0 + i];
            float sg[RW_LANES] = {0}, sgx[RW_LANES] = {0};
            gint64 c = 0;
            for (; c + RW_LANES <= f; c += RW_LANES)
                for (int k = 0; k < RW_LANES; k++) {
                    const float xh = (x[c + k] - mean) * rstd;
                    const float gg = dy[c + k] * gamma[c + k];
                    sg[k] += gg;
                    sgx[k] += gg * xh;
                }
            float sum_g = 0.0f, sum_gx = 0.0f;
            for (int k = 0; k < RW_LANES; k++) {
                sum_g += sg[k];
                sum_gx += sgx[k];
            }
            for (; c < f; c++) {
                const float xh = (x[c] - mean) * rstd;
                const float gg = dy[c] * gamma[c];
                sum_g += gg;
                sum_gx += gg * xh;
            }
            const float mg = sum_g * inv_f, mgx = sum_gx * inv_f;
            for (c = 0; c < f; c++) {
                const float xh = (x[c] - mean) * rstd;
                dx[c] = rstd * (dy[c] * gamma[c] - mg - xh * mgx);
                pg[c] += dy[c] * xh;
                if (pb) pb[c] += dy[c];
            }
        }
        ttsim_tilerow_put(j->y, g, ob);
    }
}

static void rmsnorm_bwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    const rows_job *j = ctx;
    const gint64 f = j->f;
    const float inv_f = 1.0f / (float)f;
    const float *gamma = j->gamma;
    float *pg = j->part + core * j->pstride;
    float *xb = scratch_rows(j, worker, 0), *db = scratch_rows(j, worker, 1), *ob = scratch_rows(j, worker, 2);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        src_get(&j->in2, j->x, g, db);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld, *dy = db + (size_t)i * j->ld;
            float *dx = ob + (size_t)i * j->ld;
            const float rstd = j->st1[row0 + i];
            float sgx[RW_LANES] = {0};
            gint64 c = 0;
            for (; c + RW_LANES <= f; c += RW_LANES)
                for (int k = 0; k < RW_LANES; k++) sgx[k] += dy[c + k] * gamma[c + k] * x[c + k];
            float sum_gx = 0.0f;
            for (int k = 0; k < RW_LANES; k++) sum_gx += sgx[k];
            for (; c < f; c++) sum_gx += dy[c] * gamma[c] * x[c];
            /* mean_F(g * xhat) = rstd * sum(g * x) / F */
            const float mgx = sum_gx * rstd * inv_f;
            for (c = 0; c < f; c++) {
                const float xh = x[c] * rstd;
                dx[c] = rstd * (dy[c] * gamma[c] - xh * mgx);
                pg[c] += dy[c] * xh;
            }
        }
        ttsim_tilerow_put(j->y, g, ob);
    }
}

/* layernorm_bwd (rms = FALSE): in x, gamma, mean, rstd, dy; out dx, dgamma
 * [, dbeta]. rmsnorm_bwd (rms = TRUE): in x, gamma, rstd, dy; out dx,
 * dgamma. dgamma / dbeta: per-core partials summed in core order. */
static ttsim_native_status norm_bwd(ttsim_native_ctx *c, gboolean rms, GError **error)
{
    const ttml_launch *l = c->l;
    const int n_in = rms ? 4 : 5;
    if (!slots_ok(c, n_in, n_in, 2, rms ? 2 : 3, 0)) return decline(c, "unexpected slot counts");
    if (!inputs_f32(c, l->n_in)) return decline(c, "a non-f32 input");
    const ttsim_operand *x = &c->in[0];
    if (x->numel == 0) return decline(c, "an empty x");
    const gint64 f = x->s.cols, rows = x->numel / f;
    const int i_rstd = rms ? 2 : 3, i_dy = rms ? 3 : 4;
    const gboolean has_beta = l->n_out > 2;
    if (c->in[1].numel != f) return ttsim_native_count_error(c, &l->in[1], "in[1] (gamma)", f, "the last dim of in[0]", error);
    if (!rms && c->in[2].numel != rows)
        return ttsim_native_count_error(c, &l->in[2], "in[2] (mean)", rows, "one per row of in[0]", error);
    if (c->in[i_rstd].numel != rows)
        return ttsim_native_count_error(c, &l->in[i_rstd], rms ? "in[2] (rstd)" : "in[3] (rstd)", rows, "one per row of in[0]",
                           error);
    if (c->in[i_dy].numel != x->numel)
        return numel_error(c, &l->in[0], "in[0] (x)", &l->in[i_dy], rms ? "in[3] (dy)" : "in[4] (dy)", error);
    if (c->out[0].numel != x->numel)
        return numel_error(c, &l->in[0], "in[0] (x)", &l->out[0], "out[0] (dx)", error);
    if (c->out[1].numel != f)
        return ttsim_native_count_error(c, &l->out[1], "out[1] (dgamma)", f, "the last dim of in[0]", error);
    if (has_beta && c->out[2].numel != f)
        return ttsim_native_count_error(c, &l->out[2], "out[2] (dbeta)", f, "the last dim of in[0]", error);
    rows_job j;
    rows_job_init(&j, c->d, x);
    gboolean same;
    const char *why = row_operand(x, &c->in[i_dy], &j.in2.same);
    if (!why) why = row_operand(x, &c->out[0], &same);
    if (!why && !same) why = "dx stored with another tile geometry than x";
    if (why) return decline(c, why);
    j.in2.t = &c->in[i_dy].t;
    float *gamma = host_copy(&c->in[1]);
    float *mean = rms ? NULL : host_copy(&c->in[2]);
    float *rstd = host_copy(&c->in[i_rstd]);
    j.pstride = has_beta ? 2 * f : f;
    const int n_cores = c->d->cfg.n_cores;
    float *part = g_new0(float, (gsize)n_cores * (gsize)j.pstride);
    float *sums = g_new0(float, (gsize)j.pstride);
    ttsim_native_status st = TTSIM_NATIVE_DONE;
    if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
    if (st == TTSIM_NATIVE_DONE) {
        j.y = &c->out[0].t;
        j.gamma = gamma;
        j.st0 = mean;
        j.st1 = rstd;
        j.part = part;
        ttsim_split split;
        rows_run(&j, rms ? rmsnorm_bwd_core : layernorm_bwd_core, &split);
        for (int core = 0; core < split.cores_used; core++) {
            const float *p = part + (gsize)core * (gsize)j.pstride;
            for (gint64 k = 0; k < j.pstride; k++) sums[k] += p[k];
        }
        ttsim_tiled_from_host(&c->out[1].t, sums);
        if (has_beta) ttsim_tiled_from_host(&c->out[2].t, sums + f);
    }
    g_free(gamma);
    g_free(mean);
    g_free(rstd);
    g_free(part);
    g_free(sums);
    return st;
}

VARIANT(native_layernorm_bwd, norm_bwd, FALSE)

VARIANT(native_rmsnorm_bwd, norm_bwd, TRUE)

/* -- rmsnorm forward -- */

static void rmsnorm_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rows_job *j = ctx;
    const gint64 f = j->f;
    float *xb = scratch_rows(j, worker, 0), *yb = scratch_rows(j, worker, 1);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld;
            float *y = yb + (size_t)i * j->ld;
            const float ms = ttml_km_row_dot(x, x, f) / (float)f;
            const float rstd = 1.0f / sqrtf(ms + j->eps);
            for (gint64 c = 0; c < f; c++) y[c] = x[c] * rstd * j->gamma[c];
            j->so1[row0 + i] = rstd;
        }
        ttsim_tilerow_put(j->y, g, yb);
    }
}

static ttsim_native_status native_rmsnorm_fwd(ttsim_native_ctx *c, GError **error)
{
    rows_job j;
    ttsim_native_status st = norm_fwd_setup(c, 2, 1, &j, error);
    if (st != TTSIM_NATIVE_DONE) return st;
    float *gamma = host_copy(&c->in[1]);
    float *rstd = g_new(float, c->in[0].numel / j.f);
    if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
    if (st == TTSIM_NATIVE_DONE) {
        j.y = &c->out[0].t;
        j.gamma = gamma;
        j.so1 = rstd;
        rows_run(&j, rmsnorm_fwd_core, NULL);
        ttsim_tiled_from_host(&c->out[1].t, rstd);
    }
    g_free(gamma);
    g_free(rstd);
    return st;
}

/* -- softmax family: in[0] (x or y) [, in[1] = dy]; out[0] like in[0] -- */

/* log(sum(exp(x[0..n)))) the cpu's way: the max, then the shifted sum. */
static float row_lse(const float *x, gint64 n)
{
    const float m = ttml_km_row_max(x, n);
    return m + logf(ttml_km_row_exp_sum_only(x, (size_t)n, m));
}

typedef enum { SM_FWD, SM_BWD, LSM_FWD, LSM_BWD } sm_kind;

typedef struct {
    rows_job r;
    sm_kind kind;
} sm_job;

static void softmax_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sm_job *s = ctx;
    const rows_job *j = &s->r;
    const gint64 f = j->f;
    float *xb = scratch_rows(j, worker, 0), *db = scratch_rows(j, worker, 1), *ob = scratch_rows(j, worker, 2);
    const gboolean bwd = s->kind == SM_BWD || s->kind == LSM_BWD;
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        if (bwd) src_get(&j->in2, j->x, g, db);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld, *dy = db + (size_t)i * j->ld;
            float *o = ob + (size_t)i * j->ld;
            switch (s->kind) {
            case SM_FWD: {
                const float m = ttml_km_row_max(x, f);
                const float inv = 1.0f / ttml_km_row_exp_sum(x, o, (size_t)f, m);
                for (gint64 c = 0; c < f; c++) o[c] *= inv;
                break;
            }
            case SM_BWD: {   /* x = y */
                const float sdot = ttml_km_row_dot(dy, x, f);
                for (gint64 c = 0; c < f; c++) o[c] = x[c] * (dy[c] - sdot);
                break;
            }
            case LSM_FWD: {
                const float shift = row_lse(x, f);
                for (gint64 c = 0; c < f; c++) o[c] = x[c] - shift;
                break;
            }
            case LSM_BWD: {  /* x = y */
                const float ssum = ttml_km_row_sum(dy, f);
                for (gint64 c = 0; c < f; c++) o[c] = dy[c] - ttml_km_expf(x[c]) * ssum;
                break;
            }
            }
        }
        ttsim_tilerow_put(j->y, g, ob);
    }
}

static ttsim_native_status softmax_family(ttsim_native_ctx *c, sm_kind kind, GError **error)
{
    const ttml_launch *l = c->l;
    const gboolean bwd = kind == SM_BWD || kind == LSM_BWD;
    const int n_in = bwd ? 2 : 1;
    if (!slots_ok(c, n_in, n_in, 1, 1, 0)) return decline(c, "unexpected slot counts");
    if (!inputs_f32(c, n_in)) return decline(c, "a non-f32 input");
    const ttsim_operand *x = &c->in[0];
    if (x->numel == 0) return decline(c, "an empty input");
    if (bwd && c->in[1].numel != x->numel)
        return numel_error(c, &l->in[0], "in[0]", &l->in[1], "in[1]", error);
    if (c->out[0].numel != x->numel) return numel_error(c, &l->in[0], "in[0]", &l->out[0], "out[0]", error);
    sm_job s;
    rows_job_init(&s.r, c->d, x);
    s.kind = kind;
    gboolean same;
    const char *why = row_operand(x, &c->out[0], &same);
    if (!why && !same) why = "the output stored with another tile geometry than the input";
    if (!why && bwd) why = row_operand(x, &c->in[1], &s.r.in2.same);
    if (why) return decline(c, why);
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    s.r.in2.t = bwd ? &c->in[1].t : NULL;
    s.r.y = &c->out[0].t;
    ttsim_grid_run(c->d, ttsim_tiled_tilerows(&x->t), (gint64)TTSIM_TILE * s.r.f, softmax_core, &s, NULL);
    return TTSIM_NATIVE_DONE;
}

VARIANT(native_softmax_fwd, softmax_family, SM_FWD)

VARIANT(native_softmax_bwd, softmax_family, SM_BWD)

VARIANT(native_log_softmax_fwd, softmax_family, LSM_FWD)

VARIANT(native_log_softmax_bwd, softmax_family, LSM_BWD)

/* -- cross entropy / nll -- */

/* cpu_kernels_nn_data.c sums the per-row loss terms in blocks of this many
 * rows, then the blocks in order: the same sums, exactly. */
#define LOSS_BLOCK 8

static double sum_terms(const double *t, gint64 rows)
{
    double total = 0.0;
    for (gint64 b0 = 0; b0 < rows; b0 += LOSS_BLOCK) {
        double s = 0.0;
        for (gint64 r = b0; r < MIN(rows, b0 + LOSS_BLOCK); r++) s += t[r];
        total += s;
    }
    return total;
}

static void ce_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rows_job *j = ctx;
    float *xb = scratch_rows(j, worker, 0);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld;
            const gint64 r = row0 + i;
            const float lse = row_lse(x, j->valid);
            j->so0[r] = lse;
            j->terms[r] = (double)lse - (double)x[j->ids[r]];
        }
    }
}

static void ce_bwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rows_job *j = ctx;
    const float scale = j->scale;
    float *xb = scratch_rows(j, worker, 0), *ob = scratch_rows(j, worker, 1);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        const int nv = tilerow_load(j->x, g, xb, &row0);
        for (int i = 0; i < nv; i++) {
            const float *x = xb + (size_t)i * j->ld;
            float *dx = ob + (size_t)i * j->ld;
            const float lse = j->st0[row0 + i];
            gint64 c = 0;
            for (; c < j->valid; c++) dx[c] = ttml_km_expf(x[c] - lse) * scale;
            for (; c < j->f; c++) dx[c] = 0.0f;
            dx[j->ids[row0 + i]] -= scale;
        }
        ttsim_tilerow_put(j->y, g, ob);
    }
}

/* The scalar dloss (1 element). */
static float scalar_of(const ttsim_operand *o)
{
    return ttsim_elem_get(&o->t, 0, 0);
}

/* cross_entropy_fwd / _bwd: in[0] = logits, in[1] = targets (u32, one per
 * row, < valid_vocab); fwd: out loss [1], lse [rows]; bwd: in[2] = lse,
 * in[3] = dloss, out dlogits. */
static ttsim_native_status cross_entropy(ttsim_native_ctx *c, gboolean bwd, GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, bwd ? 4 : 2, bwd ? 4 : 2, bwd ? 1 : 2, bwd ? 1 : 2, sizeof(ttml_cross_entropy_params)))
        return decline(c, "unexpected slot counts or params");
    const ttml_cross_entropy_params *p = l->params;
    if (!reduction_ok(c, p->reduction, error)) return TTSIM_NATIVE_ERROR;
    if (!is_f32(&l->in[0]) || c->in[1].ids == NULL || (bwd && (!is_f32(&l->in[2]) || !is_f32(&l->in[3]))))
        return decline(c, "unexpected operand dtypes");
    const ttsim_operand *x = &c->in[0];
    if (x->numel == 0) return decline(c, "empty logits");
    const gint64 v = x->s.cols, rows = x->numel / v;
    if (p->valid_vocab > v) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s': valid_vocab %" G_GINT64_FORMAT " exceeds the %" G_GINT64_FORMAT
                    " logit columns",
                    l->kernel, p->valid_vocab, v);
        return TTSIM_NATIVE_ERROR;
    }
    const gint64 valid = p->valid_vocab > 0 ? p->valid_vocab : v;
    if (c->in[1].numel != rows)
        return ttsim_native_count_error(c, &l->in[1], "in[1] (targets)", rows, "one per logits row", error);
    if (!ttsim_native_ids_ok(c, c->in[1].ids, rows, valid, "target", error)) return TTSIM_NATIVE_ERROR;
    if (bwd) {
        if (c->in[2].numel != rows)
            return ttsim_native_count_error(c, &l->in[2], "in[2] (lse)", rows, "one per logits row", error);
        if (c->in[3].numel != 1) return ttsim_native_count_error(c, &l->in[3], "in[3] (dloss)", 1, "a scalar", error);
        if (c->out[0].numel != x->numel)
            return numel_error(c, &l->in[0], "in[0] (logits)", &l->out[0], "out[0] (dlogits)", error);
        gboolean same;
        const char *why = row_operand(x, &c->out[0], &same);
        if (!why && !same) why = "dlogits stored with another tile geometry than the logits";
        if (why) return decline(c, why);
    } else {
        if (c->out[0].numel != 1) return ttsim_native_count_error(c, &l->out[0], "out[0] (loss)", 1, "a scalar", error);
        if (c->out[1].numel != rows)
            return ttsim_native_count_error(c, &l->out[1], "out[1] (lse)", rows, "one per logits row", error);
    }
    rows_job j;
    rows_job_init(&j, c->d, x);
    j.ids = c->in[1].ids;
    j.valid = valid;
    ttsim_native_status st = TTSIM_NATIVE_DONE;
    if (bwd) {
        float *lse = host_copy(&c->in[2]);
        const float dloss = scalar_of(&c->in[3]);
        j.scale = loss_scale(p->reduction, dloss, rows);
        j.st0 = lse;
        if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
        if (st == TTSIM_NATIVE_DONE) {
            j.y = &c->out[0].t;
            rows_run(&j, ce_bwd_core, NULL);
        }
        g_free(lse);
        return st;
    }
    float *lse = g_new(float, rows);
    double *terms = g_new(double, rows);
    if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
    if (st == TTSIM_NATIVE_DONE) {
        j.so0 = lse;
        j.terms = terms;
        rows_run(&j, ce_fwd_core, NULL);
        put_loss(c, p->reduction, sum_terms(terms, rows), rows);
        ttsim_tiled_from_host(&c->out[1].t, lse);
    }
    g_free(lse);
    g_free(terms);
    return st;
}

VARIANT(native_cross_entropy_fwd, cross_entropy, FALSE)

VARIANT(native_cross_entropy_bwd, cross_entropy, TRUE)

/* nll_fwd gathers one element per row: x[r, t[r]] into terms[r]. */
static void nll_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    (void)worker;
    const rows_job *j = ctx;
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        int nv;
        tilerow_rows(j->x, g, &row0, &nv);
        for (int i = 0; i < nv; i++) j->terms[row0 + i] = (double)ttsim_elem_get(j->x, row0 + i, j->ids[row0 + i]);
    }
}

static ttsim_native_status native_nll_fwd(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, 2, 2, 1, 1, sizeof(ttml_loss_params))) return decline(c, "unexpected slot counts or params");
    const ttml_loss_params *p = l->params;
    if (!reduction_ok(c, p->reduction, error)) return TTSIM_NATIVE_ERROR;
    if (!is_f32(&l->in[0]) || c->in[1].ids == NULL) return decline(c, "unexpected operand dtypes");
    const ttsim_operand *x = &c->in[0];
    if (x->numel == 0) return decline(c, "empty logp");
    const gint64 v = x->s.cols, rows = x->numel / v;
    if (c->in[1].numel != rows)
        return ttsim_native_count_error(c, &l->in[1], "in[1] (targets)", rows, "one per logits row", error);
    if (!ttsim_native_ids_ok(c, c->in[1].ids, rows, v, "target", error)) return TTSIM_NATIVE_ERROR;
    if (c->out[0].numel != 1) return ttsim_native_count_error(c, &l->out[0], "out[0] (loss)", 1, "a scalar", error);
    rows_job j;
    rows_job_init(&j, c->d, x);
    j.ids = c->in[1].ids;
    j.terms = g_new(double, rows);
    ttsim_native_status st = TTSIM_NATIVE_DONE;
    if (!ttsim_native_outputs(c, error)) st = TTSIM_NATIVE_ERROR;
    if (st == TTSIM_NATIVE_DONE) {
        ttsim_grid_run(c->d, ttsim_tiled_tilerows(j.x), TTSIM_TILE, nll_fwd_core, &j, NULL);
        double s = 0.0;
        for (gint64 r = 0; r < rows; r++) s -= j.terms[r];
        put_loss(c, p->reduction, s, rows);
    }
    g_free(j.terms);
    return st;
}

/* nll_bwd: dlogp rows are zero except -scale at the target; split over
 * the tile-rows of dlogp (out[0]). */
static void nll_bwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rows_job *j = ctx;
    float *ob = scratch_rows(j, worker, 0);
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        int nv;
        tilerow_rows(j->x, g, &row0, &nv);
        for (int i = 0; i < nv; i++) {
            float *dx = ob + (size_t)i * j->ld;
            memset(dx, 0, (size_t)j->f * sizeof(float));
            dx[j->ids[row0 + i]] = -j->scale;
        }
        ttsim_tilerow_put(j->x, g, ob);
    }
}

static ttsim_native_status native_nll_bwd(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, 2, 2, 1, 1, sizeof(ttml_loss_params))) return decline(c, "unexpected slot counts or params");
    const ttml_loss_params *p = l->params;
    if (!reduction_ok(c, p->reduction, error)) return TTSIM_NATIVE_ERROR;
    if (c->in[0].ids == NULL || !is_f32(&l->in[1])) return decline(c, "unexpected operand dtypes");
    const ttsim_operand *o = &c->out[0];
    if (o->numel == 0) return decline(c, "empty dlogp");
    const gint64 v = o->s.cols, rows = o->numel / v;
    if (c->in[0].numel != rows)
        return ttsim_native_count_error(c, &l->in[0], "in[0] (targets)", rows, "one per row of out[0]", error);
    if (c->in[1].numel != 1) return ttsim_native_count_error(c, &l->in[1], "in[1] (dloss)", 1, "a scalar", error);
    if (!ttsim_native_ids_ok(c, c->in[0].ids, rows, v, "target", error)) return TTSIM_NATIVE_ERROR;
    const float dloss = scalar_of(&c->in[1]);
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    rows_job j;
    rows_job_init(&j, c->d, o);
    j.ids = c->in[0].ids;
    j.scale = loss_scale(p->reduction, dloss, rows);
    rows_run(&j, nll_bwd_core, NULL);
    return TTSIM_NATIVE_DONE;
}

/* ---- reduce_to and div_bwd_b ----
 *
 * out = scale * (sum of t over the dims where out has extent 1) + beta * out,
 * t = in[0] (reduce_to) or -dy * a / (b * b) with a, b broadcast to dy
 * (div_bwd_b: scale 1, beta 0). Sums in double, as the cpu. Shapes are
 * right-aligned to 4 dims: t is (i0, i1) batches of i2 x i3 matrices.
 *   FULL (out has 1 element): per-core double partial over t's tile-rows.
 *   COLS (out = t's last dim, e.g. bias gradients): per-core [C] double
 *        partials over t's tile-rows, combined in core order.
 *   otherwise (same shape, sums over batch dims, rows or columns): split
 *        over out's tile-rows; each sums the tile-rows of t that map to it,
 *        in t's row-major order (the cpu's order).
 */
typedef enum { RED_FULL, RED_COLS, RED_TILEROWS } red_mode;

typedef struct {
    ttsim_device *d;
    red_mode mode;
    const ttsim_tiled *x;        /* t's geometry (x or dy)                       */
    size_t ld;
    gint64 xs[4], os[4];
    /* div_bwd_b: a / b either with dy's tiles or host copies + strides */
    gboolean div;
    const ttsim_tiled *ta, *tb;
    const float *ha, *hb;
    gint64 sa[4], sb[4];
    const ttsim_tiled *o;
    size_t ldo;
    gboolean same;               /* out has t's shape: out = scale * t (float)  */
    float scale, beta;
    double *part;                /* FULL: [core]; COLS: [core][C]                */
} red_job;

static void shape4(const ttml_view *v, gint64 s[4])
{
    int pad = 4 - v->ndim;
    for (int d = 0; d < 4; d++) s[d] = d < pad ? 1 : v->shape[d - pad];
}

/* Tile-row g of t into buf (rows of stride j->ld). */
static void red_fetch(const red_job *j, gint64 g, float *buf, int worker)
{
    ttsim_tilerow_get(j->x, g, buf);
    if (!j->div) return;
    const size_t ld = j->ld;
    float *ab = NULL, *bb = NULL;
    if (j->ta) {
        ab = ttsim_worker_scratch(j->d, worker, 4, (size_t)TTSIM_TILE * ld * sizeof(float));
        ttsim_tilerow_get(j->ta, g, ab);
    }
    if (j->tb) {
        bb = ttsim_worker_scratch(j->d, worker, 5, (size_t)TTSIM_TILE * ld * sizeof(float));
        ttsim_tilerow_get(j->tb, g, bb);
    }
    gint64 row0;
    int nv;
    tilerow_rows(j->x, g, &row0, &nv);
    const gint64 xb = g / j->x->rt, tr = g % j->x->rt, i0 = xb / j->xs[1], i1 = xb % j->xs[1];
    const gint64 cols = j->x->s.cols;
    for (int i = 0; i < nv; i++) {
        const gint64 r = tr * TTSIM_TILE + i;
        const float *ar = ab ? ab + (size_t)i * ld : j->ha + i0 * j->sa[0] + i1 * j->sa[1] + r * j->sa[2];
        const float *br = bb ? bb + (size_t)i * ld : j->hb + i0 * j->sb[0] + i1 * j->sb[1] + r * j->sb[2];
        const gint64 s3a = ab ? 1 : j->sa[3], s3b = bb ? 1 : j->sb[3];
        float *t = buf + (size_t)i * ld;
        for (gint64 k = 0; k < cols; k++) {
            const float bv = br[k * s3b];
            t[k] = -t[k] * ar[k * s3a] / (bv * bv);
        }
    }
}

static void red_full_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    const red_job *j = ctx;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)TTSIM_TILE * j->ld * sizeof(float));
    const gint64 cols = j->x->s.cols;
    double s = 0.0;
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        int nv;
        tilerow_rows(j->x, g, &row0, &nv);
        red_fetch(j, g, buf, worker);
        for (int i = 0; i < nv; i++)
            for (gint64 k = 0; k < cols; k++) s += buf[(size_t)i * j->ld + k];
    }
    j->part[core] = s;
}

static void red_cols_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    const red_job *j = ctx;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)TTSIM_TILE * j->ld * sizeof(float));
    const gint64 cols = j->x->s.cols;
    double *acc = j->part + (gint64)core * cols;
    for (gint64 k = 0; k < cols; k++) acc[k] = 0.0;
    for (gint64 g = begin; g < end; g++) {
        gint64 row0;
        int nv;
        tilerow_rows(j->x, g, &row0, &nv);
        red_fetch(j, g, buf, worker);
        for (int i = 0; i < nv; i++) {
            const float *xr = buf + (size_t)i * j->ld;
            for (gint64 k = 0; k < cols; k++) acc[k] += xr[k];
        }
    }
}

/* out value from its double sum (the cpu's write_out; `same`: scale_range). */
static inline float red_value(const red_job *j, double acc, float old)
{
    if (j->same) return j->beta == 0.0f ? j->scale * (float)acc : j->scale * (float)acc + j->beta * old;
    return j->beta == 0.0f ? (float)(j->scale * acc) : (float)(j->scale * acc + (double)j->beta * old);
}

/* Unit u = a tile-row of out: sum the tile-rows of t mapping to it. */
static void red_tilerows_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const red_job *j = ctx;
    const ttsim_tiled *o = j->o, *x = j->x;
    const gint64 *xs = j->xs, *os = j->os;
    const gboolean rows_kept = os[2] == xs[2], cols_kept = os[3] == xs[3];
    const gint64 cols = x->s.cols;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)TTSIM_TILE * j->ld * sizeof(float));
    double *acc = ttsim_worker_scratch(j->d, worker, 1, (size_t)TTSIM_TILE * j->ldo * sizeof(double));
    float *ob = ttsim_worker_scratch(j->d, worker, 2, (size_t)TTSIM_TILE * j->ldo * sizeof(float));
    for (gint64 u = begin; u < end; u++) {
        const gint64 obat = u / o->rt, otr = u % o->rt;
        const gint64 o0 = obat / os[1], o1 = obat % os[1];
        memset(acc, 0, (size_t)TTSIM_TILE * j->ldo * sizeof(double));
        /* t's batches (i0, i1) that land on out batch (o0, o1), in order */
        const gint64 a0 = os[0] == 1 ? 0 : o0, e0 = os[0] == 1 ? xs[0] : o0 + 1;
        const gint64 a1 = os[1] == 1 ? 0 : o1, e1 = os[1] == 1 ? xs[1] : o1 + 1;
        for (gint64 i0 = a0; i0 < e0; i0++)
            for (gint64 i1 = a1; i1 < e1; i1++) {
                const gint64 xb = i0 * xs[1] + i1;
                const gint64 g0 = rows_kept ? xb * x->rt + otr : xb * x->rt;
                const gint64 g1 = rows_kept ? g0 + 1 : g0 + x->rt;
                for (gint64 g = g0; g < g1; g++) {
                    gint64 row0;
                    int nv;
                    tilerow_rows(x, g, &row0, &nv);
                    red_fetch(j, g, buf, worker);
                    for (int i = 0; i < nv; i++) {
                        double *ar = acc + (size_t)(rows_kept ? i : 0) * j->ldo;
                        const float *xr = buf + (size_t)i * j->ld;
                        if (cols_kept) {
                            for (gint64 k = 0; k < cols; k++) ar[k] += xr[k];
                        } else {
                            double s = 0.0;
                            for (gint64 k = 0; k < cols; k++) s += xr[k];
                            ar[0] += s;
                        }
                    }
                }
            }
        gint64 row0;
        int nvo;
        tilerow_rows(o, u, &row0, &nvo);
        if (j->beta != 0.0f) ttsim_tilerow_get(o, u, ob);
        for (int i = 0; i < nvo; i++)
            for (gint64 k = 0; k < o->s.cols; k++) {
                const size_t at = (size_t)i * j->ldo + (size_t)k;
                ob[at] = red_value(j, acc[at], j->beta != 0.0f ? ob[at] : 0.0f);
            }
        ttsim_tilerow_put(o, u, ob);
    }
}

/* Shared by reduce_to (t = in[0]) and div_bwd_b (t from in[0..2]); x_op is
 * t's geometry operand. */
static ttsim_native_status reduce_run(ttsim_native_ctx *c, red_job *j, const ttsim_operand *x_op, GError **error)
{
    const ttml_launch *l = c->l;
    const ttsim_operand *o = &c->out[0];
    const gint64 n = x_op->numel, no = o->numel;
    shape4(x_op->view, j->xs);
    shape4(o->view, j->os);
    for (int d = 0; d < 4; d++)
        if (j->os[d] != j->xs[d] && j->os[d] != 1) {
            char sa[80], sb[80];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "ttsim kernel '%s': out[0] of shape %s does not broadcast to %s of shape %s "
                        "(each dim, right-aligned, must be 1 or equal)",
                        l->kernel, ttml_shape_str(o->view->ndim, o->view->shape, sa, sizeof sa),
                        j->div ? "in[0] (dy)" : "in[0]",
                        ttml_shape_str(x_op->view->ndim, x_op->view->shape, sb, sizeof sb));
            return TTSIM_NATIVE_ERROR;
        }
    if (n == 0 || no == 0) return decline(c, "an empty operand");
    for (int i = 0; i < l->n_in; i++)
        if (l->in[i].buf == l->out[0].buf && no != n) return decline(c, "a sum into its own input");
    j->same = no == n;
    j->mode = no == 1 && n > 1 ? RED_FULL
              : !j->same && no == j->xs[3] && j->os[3] == j->xs[3] ? RED_COLS
                                                                   : RED_TILEROWS;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    j->d = c->d;
    j->x = &x_op->t;
    j->ld = (size_t)x_op->t.ct * TTSIM_TILE;
    j->o = &o->t;
    j->ldo = (size_t)o->t.ct * TTSIM_TILE;
    const gint64 units = ttsim_tiled_tilerows(j->x), per_unit = (gint64)TTSIM_TILE * x_op->s.cols;
    ttsim_split split;
    if (j->mode == RED_FULL) {
        j->part = g_new0(double, c->d->cfg.n_cores);
        ttsim_grid_run(c->d, units, per_unit, red_full_core, j, &split);
        double s = 0.0;
        for (int core = 0; core < split.cores_used; core++) s += j->part[core];
        float v = red_value(j, s, j->beta != 0.0f ? ttsim_elem_get(j->o, 0, 0) : 0.0f);
        ttsim_tiled_from_host(j->o, &v);
    } else if (j->mode == RED_COLS) {
        const gint64 cols = x_op->s.cols;
        j->part = g_new0(double, (gsize)c->d->cfg.n_cores * (gsize)cols);
        ttsim_grid_run(c->d, units, per_unit, red_cols_core, j, &split);
        float *out = g_new(float, cols);
        if (j->beta != 0.0f) ttsim_tiled_to_host(j->o, out);
        for (gint64 k = 0; k < cols; k++) {
            double s = 0.0;
            for (int core = 0; core < split.cores_used; core++) s += j->part[(gint64)core * cols + k];
            out[k] = red_value(j, s, j->beta != 0.0f ? out[k] : 0.0f);
        }
        ttsim_tiled_from_host(j->o, out);
        g_free(out);
    } else {
        const gint64 o_units = ttsim_tiled_tilerows(j->o);
        ttsim_grid_run(c->d, o_units, MAX((gint64)1, n / MAX((gint64)1, o_units)), red_tilerows_core, j, NULL);
    }
    g_free(j->part);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_reduce_to(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, 1, 1, 1, 1, sizeof(ttml_reduce_params))) return decline(c, "unexpected slot counts or params");
    if (!is_f32(&l->in[0])) return decline(c, "a non-f32 input");
    const ttml_reduce_params *p = l->params;
    red_job j;
    memset(&j, 0, sizeof j);
    j.scale = p->scale;
    j.beta = p->beta;
    return reduce_run(c, &j, &c->in[0], error);
}

/* div_bwd_b: in[0] = dy, in[1] = a, in[2] = b (both broadcast to dy);
 * out[0] = reduce_to(out shape, -dy * a / (b * b)). */
static ttsim_native_status native_div_bwd_b(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!slots_ok(c, 3, 3, 1, 1, 0)) return decline(c, "unexpected slot counts");
    if (!inputs_f32(c, 3)) return decline(c, "a non-f32 input");
    red_job j;
    memset(&j, 0, sizeof j);
    j.div = TRUE;
    j.scale = 1.0f;
    j.beta = 0.0f;
    gint64 ds[4];
    shape4(&l->in[0], ds);
    const char *names[2] = {"in[1] (a)", "in[2] (b)"};
    float *host[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        const ttsim_operand *op = &c->in[1 + k];
        gint64 s[4], *st = k == 0 ? j.sa : j.sb, stride = 1;
        shape4(op->view, s);
        for (int d = 3; d >= 0; d--) {
            if (s[d] != ds[d] && s[d] != 1) {
                char sa[80], sb[80];
                g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                            "ttsim kernel '%s': %s of shape %s does not broadcast to in[0] (dy) of shape %s "
                            "(each dim, right-aligned, must be 1 or equal)",
                            l->kernel, names[k], ttml_shape_str(op->view->ndim, op->view->shape, sa, sizeof sa),
                            ttml_shape_str(l->in[0].ndim, l->in[0].shape, sb, sizeof sb));
                return TTSIM_NATIVE_ERROR;
            }
            st[d] = s[d] == 1 ? 0 : stride;
            stride *= s[d];
        }
    }
    /* operands with dy's shape are read by tile-rows, broadcast ones as
     * host copies (they are no larger than dy) */
    for (int k = 0; k < 2; k++) {
        const ttsim_operand *op = &c->in[1 + k];
        if (op->numel == c->in[0].numel && c->in[0].numel > 0) {
            if (k == 0) j.ta = &op->t;
            else j.tb = &op->t;
        } else {
            host[k] = host_copy(op);
        }
    }
    j.ha = host[0];
    j.hb = host[1];
    ttsim_native_status st = reduce_run(c, &j, &c->in[0], error);
    g_free(host[0]);
    g_free(host[1]);
    return st;
}

const ttsim_native_entry ttsim_native_rows_kernels[] = {
    {TTML_KERNEL_NAME(layernorm_fwd), native_layernorm_fwd},
    {TTML_KERNEL_NAME(layernorm_bwd), native_layernorm_bwd},
    {TTML_KERNEL_NAME(rmsnorm_fwd), native_rmsnorm_fwd},
    {TTML_KERNEL_NAME(rmsnorm_bwd), native_rmsnorm_bwd},
    {TTML_KERNEL_NAME(softmax_fwd), native_softmax_fwd},
    {TTML_KERNEL_NAME(softmax_bwd), native_softmax_bwd},
    {TTML_KERNEL_NAME(log_softmax_fwd), native_log_softmax_fwd},
    {TTML_KERNEL_NAME(log_softmax_bwd), native_log_softmax_bwd},
    {TTML_KERNEL_NAME(cross_entropy_fwd), native_cross_entropy_fwd},
    {TTML_KERNEL_NAME(cross_entropy_bwd), native_cross_entropy_bwd},
    {TTML_KERNEL_NAME(nll_fwd), native_nll_fwd},
    {TTML_KERNEL_NAME(nll_bwd), native_nll_bwd},
    {TTML_KERNEL_NAME(reduce_to), native_reduce_to},
    {TTML_KERNEL_NAME(div_bwd_b), native_div_bwd_b},
    {NULL, NULL},
};
