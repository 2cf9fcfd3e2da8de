/* drivers/ttsim/kernels/ttsim_native_matmul.c - "matmul" on the tile images.
 *
 * As tt-metal's 2-D multi-core matmul: the output of each batch element
 * (Mt x Nt tiles) is cut into blocks of pm x pn tiles, one block per core
 * (ttsim_split_work over batch x blocks). A launch runs in two grid passes:
 *   1. unpack: every tile of A and B is unpacked once to f32 (the source
 *      registers' view) and truncated to the mantissa bits the math
 *      fidelity uses (operand A = in[0], B = in[1]);
 *   2. math + pack: each core multiplies its A row-panel by its B
 *      column-panel with fp32 accumulation (the host's single-threaded
 *      sgemm on that block: same products and fp32 sums as the FPU's tile
 *      by tile accumulation, in another summation order), scales by alpha,
 *      adds beta times its unpacked output tiles, and packs its output
 *      tiles, rounding to the storage format.
 * Padding is zero in every image, so the products run over whole tiles.
 * sgemm is OpenBLAS's cblas_sgemm (ttsim_blas.c); without it the launch
 * takes the converted path.
 */
#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"

typedef struct {
    ttsim_device *d;
    const ttml_matmul_params *p;
    const ttsim_tiled *ta, *tb, *to;
    float *fa, *fb;              /* unpacked A / B, padded, stored orientation */
    gint64 lda, ldb;             /* padded columns of the stored A / B         */
    gint64 mat_a, mat_b;         /* floats per batch element of fa / fb (0: shared) */
    int bits_a, bits_b;
    gint64 mt, nt, kt;           /* output tiles, reduction tiles              */
    gint64 pm, pn, bm, bn;       /* block size and blocks along M / N          */
    gint64 a_tiles;
} mm_job;

/* pass 1: unit u < a_tiles is a tile of A, the rest tiles of B */
static void unpack_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    (void)worker;
    const mm_job *j = ctx;
    for (gint64 u = begin; u < end; u++) {
        gboolean is_a = u < j->a_tiles;
        const ttsim_tiled *t = is_a ? j->ta : j->tb;
        gint64 tile = is_a ? u : u - j->a_tiles;
        gint64 ld = is_a ? j->lda : j->ldb;
        gint64 per = t->rt * t->ct;
        gint64 b = tile / per, tr = (tile % per) / t->ct, tc = tile % t->ct;
        float *dst = (is_a ? j->fa : j->fb) + b * t->rt * TTSIM_TILE * ld + tr * TTSIM_TILE * ld + tc * TTSIM_TILE;
        ttsim_tile_get_ld(t, tile, dst, (size_t)ld);
        int bits = is_a ? j->bits_a : j->bits_b;
        if (bits < 23)
            for (int r = 0; r < TTSIM_TILE; r++) ttsim_truncate_array(dst + r * ld, TTSIM_TILE, bits);
    }
}

/* pass 2: unit u = (batch, block row, block col) */
static void block_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const mm_job *j = ctx;
    const gint64 blocks = j->bm * j->bn;
    const gint64 ldc = j->pn * TTSIM_TILE;
    float *c = ttsim_worker_scratch(j->d, worker, 0, (size_t)(j->pm * TTSIM_TILE * ldc) * sizeof(float));
    for (gint64 u = begin; u < end; u++) {
        gint64 b = u / blocks, m0 = (u % blocks) / j->bn * j->pm, n0 = (u % blocks) % j->bn * j->pn;
        gint64 m1 = MIN(m0 + j->pm, j->mt), n1 = MIN(n0 + j->pn, j->nt);
        int rows = (int)((m1 - m0) * TTSIM_TILE), cols = (int)((n1 - n0) * TTSIM_TILE);
        int k = (int)(j->kt * TTSIM_TILE);
        const float *a = j->fa + b * j->mat_a, *bb = j->fb + b * j->mat_b;
        a += j->p->trans_a ? m0 * TTSIM_TILE : m0 * TTSIM_TILE * j->lda;
        bb += j->p->trans_b ? n0 * TTSIM_TILE * j->ldb : n0 * TTSIM_TILE;
        gint64 out_base = b * j->mt * j->nt;
        if (j->p->beta != 0.0f)
            for (gint64 mi = m0; mi < m1; mi++)
                for (gint64 ni = n0; ni < n1; ni++)
                    ttsim_tile_get_ld(j->to, out_base + mi * j->nt + ni,
                                      c + (mi - m0) * TTSIM_TILE * ldc + (ni - n0) * TTSIM_TILE, (size_t)ldc);
        ttsim_sgemm(j->p->trans_a, j->p->trans_b, rows, cols, k, j->p->alpha, a, j->lda, bb, j->ldb, j->p->beta,
                    c, ldc);
        for (gint64 mi = m0; mi < m1; mi++)
            for (gint64 ni = n0; ni < n1; ni++)
                ttsim_tile_put_ld(j->to, out_base + mi * j->nt + ni,
                                  c + (mi - m0) * TTSIM_TILE * ldc + (ni - n0) * TTSIM_TILE, (size_t)ldc);
    }
}

/* Blocks per batch element: as many cores as the batch leaves, in a grid
 * gy x gx that keeps the busiest core's tile count smallest. */
static void choose_blocks(int cores, gint64 batch, gint64 mt, gint64 nt, gint64 *pm, gint64 *pn)
{
    gint64 per = MAX(1, cores / MAX(1, batch));
    gint64 best = G_MAXINT64;
    *pm = mt;
    *pn = nt;
    for (gint64 gy = 1; gy <= MIN(mt, per); gy++) {
        gint64 gx = MIN(nt, MAX(1, per / gy));
        gint64 m = (mt + gy - 1) / gy, n = (nt + gx - 1) / gx;
        gint64 cost = m * n * 4 + m + n;   /* tiles on the core, then panel sizes */
        if (cost < best) {
            best = cost;
            *pm = m;
            *pn = n;
        }
    }
}

static ttsim_native_status native_matmul(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (l->n_in != 2 || l->n_out != 1 || !l->params || l->params_size < sizeof(ttml_matmul_params)) {
        c->decline = "matmul needs 2 inputs, 1 output and ttml_matmul_params";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_blas_load()) {
        c->decline = "OpenBLAS (libopenblas.so.0) is not available";
        return TTSIM_NATIVE_DECLINE;
    }
    const ttml_matmul_params *p = l->params;
    ttsim_operand *A = &c->in[0], *B = &c->in[1], *O = &c->out[0];
    if (l->in[0].ndim < 2 || l->in[1].ndim < 2 || l->out[0].ndim < 2) {
        c->decline = "matmul operands of fewer than 2 dims";
        return TTSIM_NATIVE_DECLINE;
    }
    gint64 m = p->trans_a ? A->s.cols : A->s.rows, k = p->trans_a ? A->s.rows : A->s.cols;
    gint64 kb = p->trans_b ? B->s.cols : B->s.rows, n = p->trans_b ? B->s.rows : B->s.cols;
    gint64 bo = O->s.batch;
    if (k != kb || O->s.rows != m || O->s.cols != n || (A->s.batch != bo) ||
        (B->s.batch != bo && B->s.batch != 1)) {
        c->decline = "matmul shapes the native kernel does not take (A's batch must equal the output's)";
        return TTSIM_NATIVE_DECLINE;
    }
    ttsim_device *d = c->d;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;

    mm_job j = {0};
    j.d = d;
    j.p = p;
    j.ta = &A->t;
    j.tb = &B->t;
    j.to = &O->t;
    j.lda = A->t.ct * TTSIM_TILE;
    j.ldb = B->t.ct * TTSIM_TILE;
    j.mat_a = A->t.rt * TTSIM_TILE * j.lda;
    j.mat_b = B->s.batch == 1 ? 0 : B->t.rt * TTSIM_TILE * j.ldb;
    int stored = ttsim_format_stored_bits(d->cfg.storage);
    ttsim_fidelity_bits(d->cfg.fidelity, &j.bits_a, &j.bits_b);
    if (j.bits_a >= stored) j.bits_a = 23;
    if (j.bits_b >= stored) j.bits_b = 23;
    j.mt = O->t.rt;
    j.nt = O->t.ct;
    j.kt = (k + TTSIM_TILE - 1) / TTSIM_TILE;
    size_t na = (size_t)(A->s.batch * j.mat_a), nb = (size_t)(B->s.batch * B->t.rt * TTSIM_TILE * j.ldb);
    j.fa = ttsim_launch_scratch(d, 0, na * 4 + 64);
    j.fb = ttsim_launch_scratch(d, 1, nb * 4 + 64);
    j.a_tiles = ttsim_tiled_count(&A->t);
    int prev = ttsim_blas_single_begin();
    ttsim_grid_run(d, j.a_tiles + ttsim_tiled_count(&B->t), TTSIM_TILE_ELEMS, unpack_core, &j, NULL);
    if (m > 0 && n > 0 && bo > 0) {
        choose_blocks(d->cfg.n_cores, bo, j.mt, j.nt, &j.pm, &j.pn);
        j.bm = (j.mt + j.pm - 1) / j.pm;
        j.bn = (j.nt + j.pn - 1) / j.pn;
        ttsim_grid_run(d, bo * j.bm * j.bn, j.pm * j.pn * j.kt * TTSIM_TILE_ELEMS, block_core, &j, NULL);
    }
    ttsim_blas_single_end(prev);
    return TTSIM_NATIVE_DONE;
}

const ttsim_native_entry ttsim_native_matmul_kernels[] = {
    {TTML_KERNEL_NAME(matmul), native_matmul},
    {NULL, NULL},
};
