/* drivers/cpu/kernels/cpu_kernels_nn_data.c - embedding gather / scatter-add,
 * transpose of the last two dims, strided copy (concat / narrow), and the
 * fused cross-entropy and NLL losses (ttml/kernels_nn.h).
 *
 * Every id / target is checked against its range before anything is written.
 * Loss sums are per fixed block of rows in double, added in block order
 * (independent of the thread count).
 */
#include "cpu_kernels_nn.h"

#define LOSS_BLOCK 8
#define TRANSPOSE_TILE 32

/* ---- embedding ---- */

typedef struct {
    const guint32 *ids;
    const float *w, *dy;
    float *out;
    size_t n, e;
} emb_ctx;

TTML_CPU_VEC static void embedding_fwd_range(void *vctx, size_t begin, size_t end)
{
    const emb_ctx *c = vctx;
    for (size_t r = begin; r < end; r++)
        memcpy(c->out + r * c->e, c->w + (size_t)c->ids[r] * c->e, c->e * sizeof(float));
}

static gboolean check_weight(const ttml_launch *l, const ttml_view *w, const char *name, size_t *v,
                             size_t *e, GError **error)
{
    if (w->ndim != 2) {
        char s[80];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': %s must be 2-D [V, E], got shape %s", l->kernel ? l->kernel : "?",
                    name, ttml_shape_str(w->ndim, w->shape, s, sizeof s));
        return FALSE;
    }
    *v = (size_t)w->shape[0];
    *e = (size_t)w->shape[1];
    return TRUE;
}

gboolean ttml_cpu_embedding_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, 0, error)) return FALSE;
    emb_ctx c = {0};
    size_t v;
    if (!(c.ids = ttml_cpu_in(l, 0, TTML_DTYPE_U32, error))) return FALSE;
    if (!(c.w = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!check_weight(l, &l->in[1], "in[1] (weight)", &v, &c.e, error)) return FALSE;
    c.n = ttml_cpu_numel(&l->in[0]);
    if (!ttml_cpu_nn_check_count(l, &l->out[0], "out[0]", c.n * c.e, "ids x embedding dim", error) ||
        !ttml_cpu_nn_check_ids(l, c.ids, c.n, v, "token id", error))
        return FALSE;
    ttml_cpu_parallel_for(c.n, nn_row_grain(c.e), embedding_fwd_range, &c);
    return TRUE;
}

TTML_CPU_VEC static void zero_range(void *vctx, size_t begin, size_t end)
{
    float *p = vctx;
    memset(p + begin, 0, (end - begin) * sizeof(float));
}

/* Columns [begin, end) of every row: race-free across chunks. */
TTML_CPU_VEC static void embedding_bwd_range(void *vctx, size_t begin, size_t end)
{
    const emb_ctx *c = vctx;
    const size_t e = c->e, len = end - begin;
    for (size_t r = 0; r < c->n; r++) {
        float *dst = c->out + (size_t)c->ids[r] * e + begin;
        const float *src = c->dy + r * e + begin;
        for (size_t j = 0; j < len; j++) dst[j] += src[j];
    }
}

gboolean ttml_cpu_embedding_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, 0, error)) return FALSE;
    emb_ctx c = {0};
    size_t v;
    if (!(c.ids = ttml_cpu_in(l, 0, TTML_DTYPE_U32, error))) return FALSE;
    if (!(c.dy = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!check_weight(l, &l->out[0], "out[0] (dweight)", &v, &c.e, error)) return FALSE;
    c.n = ttml_cpu_numel(&l->in[0]);
    if (!ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (dy)", c.n * c.e, "ids x embedding dim", error) ||
        !ttml_cpu_nn_check_ids(l, c.ids, c.n, v, "token id", error))
        return FALSE;
    ttml_cpu_parallel_for(v * c.e, NN_GRAIN_ELEMS * 4, zero_range, c.out);
    size_t grain = MAX((size_t)16, NN_GRAIN_ELEMS / MAX((size_t)1, c.n));
    ttml_cpu_parallel_for(c.e, grain, embedding_bwd_range, &c);
    return TRUE;
}

/* ---- transpose of the last two dims ---- */

typedef struct {
    const float *x;
    float *y;
    size_t m, n, row_tiles;
} transpose_ctx;

/* Unit t = (batch, tile of TRANSPOSE_TILE input rows). */
TTML_CPU_VEC static void transpose_range(void *vctx, size_t begin, size_t end)
{
    const transpose_ctx *c = vctx;
    const size_t m = c->m, n = c->n;
    for (size_t t = begin; t < end; t++) {
        const size_t b = t / c->row_tiles, i0 = (t % c->row_tiles) * TRANSPOSE_TILE;
        const size_t i1 = MIN(m, i0 + TRANSPOSE_TILE);
        const float *x = c->x + b * m * n;
        float *y = c->y + b * m * n;
        for (size_t j0 = 0; j0 < n; j0 += TRANSPOSE_TILE) {
            const size_t j1 = MIN(n, j0 + TRANSPOSE_TILE);
            for (size_t i = i0; i < i1; i++)
                for (size_t j = j0; j < j1; j++) y[j * m + i] = x[i * n + j];
        }
    }
}

gboolean ttml_cpu_transpose_last2(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, 0, error)) return FALSE;
    transpose_ctx c = {0};
    if (!(c.x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.y = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    const ttml_view *in = &l->in[0], *out = &l->out[0];
    char sa[80], sb[80];
    if (in->ndim < 2 || out->ndim < 2 || in->shape[in->ndim - 1] != out->shape[out->ndim - 2] ||
        in->shape[in->ndim - 2] != out->shape[out->ndim - 1] ||
        ttml_cpu_numel(in) != ttml_cpu_numel(out)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': in[0] of shape %s and out[0] of shape %s do not fit: out must "
                    "be in with its last two dims swapped",
                    l->kernel ? l->kernel : "?", ttml_shape_str(in->ndim, in->shape, sa, sizeof sa),
                    ttml_shape_str(out->ndim, out->shape, sb, sizeof sb));
        return FALSE;
    }
    c.m = (size_t)in->shape[in->ndim - 2];
    c.n = (size_t)in->shape[in->ndim - 1];
    if (c.m == 0 || c.n == 0) return TRUE;
    const size_t batch = ttml_cpu_numel(in) / (c.m * c.n);
    c.row_tiles = (c.m + TRANSPOSE_TILE - 1) / TRANSPOSE_TILE;
    size_t tile_elems = TRANSPOSE_TILE * c.n;
    ttml_cpu_parallel_for(batch * c.row_tiles, MAX((size_t)1, NN_GRAIN_ELEMS / tile_elems),
                          transpose_range, &c);
    return TRUE;
}

/* ---- strided copy ---- */

typedef struct {
    const float *in;
    float *out;
    ttml_strided_copy_params p;
} scopy_ctx;

TTML_CPU_VEC static void strided_copy_range(void *vctx, size_t begin, size_t end)
{
    const scopy_ctx *c = vctx;
    const size_t len = (size_t)c->p.len;
    for (size_t o = begin; o < end; o++)
        memcpy(c->out + o * (size_t)c->p.out_stride + (size_t)c->p.out_offset,
               c->in + o * (size_t)c->p.in_stride + (size_t)c->p.in_offset, len * sizeof(float));
}

/* TRUE when every index o * stride + offset + j (o < outer, j < len) lies
 * in [0, numel). */
static gboolean strided_fits(gint64 outer, gint64 len, gint64 stride, gint64 offset, size_t numel)
{
    if (outer <= 0 || len <= 0) return TRUE;
    if (stride < 0 || offset < 0 || len > G_MAXINT64 - offset) return FALSE;
    if (stride > 0 && outer - 1 > (G_MAXINT64 - offset - len) / stride) return FALSE;
    guint64 end = (guint64)((outer - 1) * stride + offset + len);   /* one past the last */
    return end <= (guint64)numel;
}

gboolean ttml_cpu_strided_copy(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 1, 1, sizeof(ttml_strided_copy_params), error)) return FALSE;
    scopy_ctx c = {0};
    c.p = *(const ttml_strided_copy_params *)l->params;
    if (!(c.in = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c.out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    const ttml_strided_copy_params *p = &c.p;
    if (p->outer < 0 || p->len < 0 ||
        !strided_fits(p->outer, p->len, p->in_stride, p->in_offset, ttml_cpu_numel(&l->in[0])) ||
        !strided_fits(p->outer, p->len, p->out_stride, p->out_offset, ttml_cpu_numel(&l->out[0]))) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': outer %" G_GINT64_FORMAT " x len %" G_GINT64_FORMAT
                    " with in stride/offset %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                    " and out stride/offset %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                    " reaches outside in[0] (%zu elements) or out[0] (%zu elements)",
                    l->kernel ? l->kernel : "?", p->outer, p->len, p->in_stride, p->in_offset,
                    p->out_stride, p->out_offset, ttml_cpu_numel(&l->in[0]), ttml_cpu_numel(&l->out[0]));
        return FALSE;
    }
    if (p->outer == 0 || p->len == 0) return TRUE;
    ttml_cpu_parallel_for((size_t)p->outer, MAX((size_t)1, NN_GRAIN_ELEMS * 4 / (size_t)p->len),
                          strided_copy_range, &c);
    return TRUE;
}

/* ---- cross entropy (fused log-softmax + NLL) ---- */

typedef struct {
    const float *x, *lse_in;
    const guint32 *t;
    float *lse, *dx;
    double *partial;
    size_t rows, v, valid;
    float scale;
} ce_ctx;

static gboolean check_reduction(const ttml_launch *l, ttml_reduction r, GError **error)
{
    if (r == TTML_REDUCE_MEAN || r == TTML_REDUCE_SUM) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "cpu kernel '%s': unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)",
                l->kernel ? l->kernel : "?", (int)r);
    return FALSE;
}

/* rows x V logits, targets with one id per row (< limit); valid columns. */
static gboolean ce_args(const ttml_launch *l, gint64 valid_vocab, ce_ctx *c, GError **error)
{
    if (!(c->x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!(c->t = ttml_cpu_in(l, 1, TTML_DTYPE_U32, error))) return FALSE;
    nn_rows_of(&l->in[0], &c->rows, &c->v);
    if (valid_vocab > (gint64)c->v) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': valid_vocab %" G_GINT64_FORMAT " exceeds the %zu logit columns",
                    l->kernel ? l->kernel : "?", valid_vocab, c->v);
        return FALSE;
    }
    c->valid = valid_vocab > 0 ? (size_t)valid_vocab : c->v;
    return ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (targets)", c->rows, "one per logits row", error) &&
           ttml_cpu_nn_check_ids(l, c->t, c->rows, c->valid, "target id", error);
}

TTML_CPU_VEC static void ce_fwd_blocks(void *vctx, size_t begin, size_t end)
{
    const ce_ctx *c = vctx;
    for (size_t b = begin; b < end; b++) {
        double s = 0.0;
        const size_t r_end = MIN(c->rows, (b + 1) * LOSS_BLOCK);
        for (size_t r = b * LOSS_BLOCK; r < r_end; r++) {
            const float *x = c->x + r * c->v;
            const float m = ttml_km_row_max(x, c->valid);
            const float lse = m + logf(ttml_km_row_exp_sum_only(x, c->valid, m));
            c->lse[r] = lse;
            s += (double)lse - (double)x[c->t[r]];
        }
        c->partial[b] = s;
    }
}

gboolean ttml_cpu_cross_entropy_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 2, sizeof(ttml_cross_entropy_params), error)) return FALSE;
    const ttml_cross_entropy_params *p = l->params;
    if (!check_reduction(l, p->reduction, error)) return FALSE;
    ce_ctx c = {0};
    if (!ce_args(l, p->valid_vocab, &c, error)) return FALSE;
    float *loss = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!loss) return FALSE;
    if (!(c.lse = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error))) return FALSE;
    if (!ttml_cpu_nn_check_count(l, &l->out[0], "out[0] (loss)", 1, "a scalar", error) ||
        !ttml_cpu_nn_check_count(l, &l->out[1], "out[1] (lse)", c.rows, "one per logits row", error))
        return FALSE;
    const size_t n_blocks = (c.rows + LOSS_BLOCK - 1) / LOSS_BLOCK;
    double total = 0.0;
    if (n_blocks && c.valid) {
        c.partial = g_new(double, n_blocks);
        ttml_cpu_parallel_for(n_blocks, MAX((size_t)1, nn_row_grain(c.v) / LOSS_BLOCK), ce_fwd_blocks, &c);
        for (size_t b = 0; b < n_blocks; b++) total += c.partial[b];
        g_free(c.partial);
    }
    loss[0] = (float)(p->reduction == TTML_REDUCE_MEAN ? (c.rows ? total / (double)c.rows : NAN) : total);
    return TRUE;
}

TTML_CPU_VEC static void ce_bwd_range(void *vctx, size_t begin, size_t end)
{
    const ce_ctx *c = vctx;
    const float scale = c->scale;
    for (size_t r = begin; r < end; r++) {
        const float *x = c->x + r * c->v;
        float *dx = c->dx + r * c->v;
        const float lse = c->lse_in[r];
        for (size_t j = 0; j < c->valid; j++) dx[j] = ttml_km_expf(x[j] - lse) * scale;
        for (size_t j = c->valid; j < c->v; j++) dx[j] = 0.0f;
        dx[c->t[r]] -= scale;
    }
}

gboolean ttml_cpu_cross_entropy_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 4, 1, sizeof(ttml_cross_entropy_params), error)) return FALSE;
    const ttml_cross_entropy_params *p = l->params;
    if (!check_reduction(l, p->reduction, error)) return FALSE;
    ce_ctx c = {0};
    if (!ce_args(l, p->valid_vocab, &c, error)) return FALSE;
    if (!(c.lse_in = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error))) return FALSE;
    const float *dloss = ttml_cpu_in(l, 3, TTML_DTYPE_F32, error);
    if (!dloss) return FALSE;
    if (!(c.dx = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    if (!ttml_cpu_nn_check_count(l, &l->in[2], "in[2] (lse)", c.rows, "one per logits row", error) ||
        !ttml_cpu_nn_check_count(l, &l->in[3], "in[3] (dloss)", 1, "a scalar", error) ||
        !ttml_cpu_check_numel(l, &l->in[0], "in[0] (logits)", &l->out[0], "out[0] (dlogits)", error))
        return FALSE;
    c.scale = p->reduction == TTML_REDUCE_MEAN ? (c.rows ? dloss[0] / (float)c.rows : 0.0f) : dloss[0];
    ttml_cpu_parallel_for(c.rows, nn_row_grain(c.v), ce_bwd_range, &c);
    return TRUE;
}

/* ---- nll ---- */

gboolean ttml_cpu_nll_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, sizeof(ttml_loss_params), error)) return FALSE;
    const ttml_loss_params *p = l->params;
    if (!check_reduction(l, p->reduction, error)) return FALSE;
    ce_ctx c = {0};
    if (!ce_args(l, 0, &c, error)) return FALSE;
    float *loss = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!loss) return FALSE;
    if (!ttml_cpu_nn_check_count(l, &l->out[0], "out[0] (loss)", 1, "a scalar", error)) return FALSE;
    double s = 0.0;
    for (size_t r = 0; r < c.rows; r++) s -= (double)c.x[r * c.v + c.t[r]];
    loss[0] = (float)(p->reduction == TTML_REDUCE_MEAN ? (c.rows ? s / (double)c.rows : NAN) : s);
    return TRUE;
}

TTML_CPU_VEC static void nll_bwd_range(void *vctx, size_t begin, size_t end)
{
    const ce_ctx *c = vctx;
    for (size_t r = begin; r < end; r++) {
        float *dx = c->dx + r * c->v;
        memset(dx, 0, c->v * sizeof(float));
        dx[c->t[r]] = -c->scale;
    }
}

gboolean ttml_cpu_nll_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, sizeof(ttml_loss_params), error)) return FALSE;
    const ttml_loss_params *p = l->params;
    if (!check_reduction(l, p->reduction, error)) return FALSE;
    ce_ctx c = {0};
    if (!(c.t = ttml_cpu_in(l, 0, TTML_DTYPE_U32, error))) return FALSE;
    const float *dloss = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error);
    if (!dloss) return FALSE;
    if (!(c.dx = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error))) return FALSE;
    nn_rows_of(&l->out[0], &c.rows, &c.v);
    if (!ttml_cpu_nn_check_count(l, &l->in[0], "in[0] (targets)", c.rows, "one per row of out[0]", error) ||
        !ttml_cpu_nn_check_count(l, &l->in[1], "in[1] (dloss)", 1, "a scalar", error) ||
        !ttml_cpu_nn_check_ids(l, c.t, c.rows, c.v, "target id", error))
        return FALSE;
    c.scale = p->reduction == TTML_REDUCE_MEAN ? (c.rows ? dloss[0] / (float)c.rows : 0.0f) : dloss[0];
    ttml_cpu_parallel_for(c.rows, nn_row_grain(c.v), nll_bwd_range, &c);
    return TRUE;
}
