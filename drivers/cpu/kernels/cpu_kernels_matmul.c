/* drivers/cpu/kernels/cpu_kernels_matmul.c - matmul through OpenBLAS cblas_sgemm.
 *
 * out[..., M, N] = alpha * op(a)[..., M, K] @ op(b)[..., K, N] + beta * out.
 * Batch dims (all but the last two, at most two of them) broadcast: a dim of
 * 1 in a or b is shared across out's batch. When b has batch 1 (shared
 * weights) and a is not transposed, a's batch dims fold into M and one sgemm
 * does the whole product.
 *
 * Threading: one product (the common case: linear layers fold their batch
 * into M) runs on OpenBLAS's own threads, whose threaded GEMM shares packed
 * panels between threads (measured on 2 cores, 512 x 1536 x 384 and the like:
 * ~185 GFLOP/s against ~155 for two independent single-threaded halves);
 * the driver's pool workers are parked first so that they do not spin on the
 * cores OpenBLAS needs. A batch of products runs as items on the driver's
 * pool with OpenBLAS single-threaded; when there are fewer products than
 * threads, each is also cut along the larger of M and N (at multiples of 16
 * rows or columns; the K loop is never split, so every element of C is
 * computed the same way whatever the cut).
 *
 * Precision bf16 (params.precision): the products go to oneDNN with bf16
 * operands and fp32 accumulation (cpu_dnnl.c), one product at a time; the
 * weight of a folded product (b with batch 1) is converted once per write,
 * not per product (cpu_wcache.c).
 */
#include "cpu_internal.h"

#include <limits.h>

static void batch2(const ttml_view *v, int64_t bat[2])
{
    int nb = v->ndim - 2;
    bat[0] = nb >= 2 ? v->shape[nb - 2] : 1;
    bat[1] = nb >= 1 ? v->shape[nb - 1] : 1;
}

static gboolean shape_error(const ttml_launch *l, const char *what, GError **error)
{
    char sa[80], sb[80], so[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "cpu kernel 'matmul': %s: in[0] shape %s, in[1] shape %s, out[0] shape %s "
                "(trans_a=%d, trans_b=%d)",
                what, ttml_shape_str(l->in[0].ndim, l->in[0].shape, sa, sizeof sa),
                ttml_shape_str(l->in[1].ndim, l->in[1].shape, sb, sizeof sb),
                ttml_shape_str(l->out[0].ndim, l->out[0].shape, so, sizeof so),
                ((const ttml_matmul_params *)l->params)->trans_a,
                ((const ttml_matmul_params *)l->params)->trans_b);
    return FALSE;
}

static void scale_out(float *c, size_t n, float beta)
{
    if (beta == 0.0f) {
        for (size_t i = 0; i < n; i++) c[i] = 0.0f;
    } else {
        for (size_t i = 0; i < n; i++) c[i] *= beta;
    }
}

/* ---- sgemm on the driver's pool ---- */

#define GEMM_ALIGN 16                       /* rows / columns per part, multiple of   */
#define GEMM_MIN_PART_MACS (1 << 20)        /* smaller parts are not worth a wake-up  */
#define GEMM_BLAS_THREADED_MACS 262144.0    /* OpenBLAS threads products from here on */

typedef struct {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t abat[2], bbat[2], cbat[2];   /* batch dims ({1, 1} = one product)  */
    int64_t parts;                        /* parts per product                  */
    gboolean split_m;                     /* else split N                       */
} gemm_job;

static void gemm_part_bounds(int64_t d, int64_t parts, int64_t p, int64_t *lo, int64_t *hi)
{
    int64_t unit = (d + GEMM_ALIGN - 1) / GEMM_ALIGN;   /* in GEMM_ALIGN blocks */
    *lo = MIN(d, unit * p / parts * GEMM_ALIGN);
    *hi = p == parts - 1 ? d : MIN(d, unit * (p + 1) / parts * GEMM_ALIGN);
}

static void gemm_items(void *vctx, size_t begin, size_t end)
{
    const gemm_job *j = vctx;
    const ttml_cpu_blas *blas = &ttml_cpu_blas_lib;
    const int64_t M = j->M, N = j->N, K = j->K;
    const int64_t lda = j->ta ? M : K, ldb = j->tb ? K : N;
    for (size_t item = begin; item < end; item++) {
        const int64_t bi = (int64_t)item / j->parts, p = (int64_t)item % j->parts;
        const int64_t b0 = bi / j->cbat[1], b1 = bi % j->cbat[1];
        const int64_t ia = (j->abat[0] > 1 ? b0 : 0) * j->abat[1] + (j->abat[1] > 1 ? b1 : 0);
        const int64_t ib = (j->bbat[0] > 1 ? b0 : 0) * j->bbat[1] + (j->bbat[1] > 1 ? b1 : 0);
        const float *a = j->a + ia * M * K, *b = j->b + ib * K * N;
        float *c = j->c + bi * M * N;
        int64_t lo, hi;
        if (j->split_m) {
            gemm_part_bounds(M, j->parts, p, &lo, &hi);
            if (lo >= hi) continue;
            /* rows lo..hi of op(A): row offset, or column offset when A^T */
            blas->sgemm(TTML_CBLAS_ROW_MAJOR, j->ta ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS,
                        j->tb ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS, (int)(hi - lo), (int)N, (int)K,
                        j->alpha, j->ta ? a + lo : a + lo * K, (int)lda, b, (int)ldb, j->beta,
                        c + lo * N, (int)N);
        } else {
            gemm_part_bounds(N, j->parts, p, &lo, &hi);
            if (lo >= hi) continue;
            /* columns lo..hi of op(B): column offset, or row offset when B^T */
            blas->sgemm(TTML_CBLAS_ROW_MAJOR, j->ta ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS,
                        j->tb ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS, (int)M, (int)(hi - lo), (int)K,
                        j->alpha, a, (int)lda, j->tb ? b + lo * K : b + lo, (int)ldb, j->beta,
                        c + lo, (int)N);
        }
    }
}

void ttml_cpu_parallel_for_blas1(size_t n, size_t grain, ttml_cpu_range_fn fn, void *ctx)
{
    const ttml_cpu_blas *blas = &ttml_cpu_blas_lib;
    gboolean single = ttml_cpu_n_threads > 1 && ttml_cpu_parallel_chunks(n, grain) > 1 &&
                      blas->set_num_threads;
    if (single) blas->set_num_threads(1);
    ttml_cpu_parallel_for(n, grain, fn, ctx);
    if (single) blas->set_num_threads(ttml_cpu_n_threads);
}

void ttml_cpu_gemm_batch(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *a, const int64_t abat[2], const float *b, const int64_t bbat[2],
                         float beta, float *c, const int64_t cbat[2])
{
    gemm_job j = {trans_a, trans_b, M, N, K, alpha, beta, a, b, c,
                  {abat[0], abat[1]}, {bbat[0], bbat[1]}, {cbat[0], cbat[1]}, 1, M >= N};
    const int64_t n_batch = cbat[0] * cbat[1];
    if (n_batch == 1) {
        /* one product: OpenBLAS's threads (the pool's workers make way) */
        if (ttml_cpu_n_threads > 1 && (double)M * (double)N * (double)K >= GEMM_BLAS_THREADED_MACS)
            ttml_cpu_threads_park();
        gemm_items(&j, 0, 1);
        return;
    }
    const int64_t threads = ttml_cpu_n_threads;
    if (n_batch < threads) {
        /* split each product so that every thread gets work, but not into
         * parts too small to pay for waking a thread */
        const int64_t d = j.split_m ? M : N;
        int64_t parts = (threads + n_batch - 1) / n_batch;
        const double macs = (double)M * (double)N * (double)K;
        parts = MIN(parts, (int64_t)(macs / GEMM_MIN_PART_MACS));
        parts = MIN(parts, (d + GEMM_ALIGN - 1) / GEMM_ALIGN);
        j.parts = MAX(parts, 1);
    }
    ttml_cpu_parallel_for_blas1((size_t)(n_batch * j.parts), 1, gemm_items, &j);
}

void ttml_cpu_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *a, const float *b, float beta, float *c)
{
    static const int64_t one[2] = {1, 1};
    ttml_cpu_gemm_batch(trans_a, trans_b, M, N, K, alpha, a, one, b, one, beta, c, one);
}

/* precision bf16: each product through oneDNN (bf16 operands, fp32
 * accumulation); a product oneDNN cannot do is computed in fp32. */
static void matmul_bf16(const ttml_matmul_params *p, int64_t M, int64_t N, int64_t K, const float *a,
                        const ttml_view *va, const int64_t abat[2], const float *b, const ttml_view *vb,
                        const ttml_view *weight, const int64_t bbat[2], float *c, const int64_t cbat[2])
{
    const ttml_buffer *wbuf = weight ? weight->buf : NULL;
    const size_t woff = weight ? weight->offset : 0;
    /* a single product's A (an activation: X of the forward and dW, dY of
     * dX and dW) keeps its bf16 copy until written; batches convert per product */
    const gboolean one = cbat[0] * cbat[1] == 1;
    const ttml_buffer *abuf = one ? va->buf : NULL;
    const size_t aoff = one ? va->offset : 0;
    const ttml_buffer *bbuf = weight ? wbuf : one ? vb->buf : NULL;
    const size_t boff = weight ? woff : one ? vb->offset : 0;
    for (int64_t b0 = 0; b0 < cbat[0]; b0++)
        for (int64_t b1 = 0; b1 < cbat[1]; b1++) {
            const int64_t ia = (abat[0] > 1 ? b0 : 0) * abat[1] + (abat[1] > 1 ? b1 : 0);
            const int64_t ib = (bbat[0] > 1 ? b0 : 0) * bbat[1] + (bbat[1] > 1 ? b1 : 0);
            const float *pa = a + ia * M * K, *pb = b + ib * K * N;
            float *pc = c + (b0 * cbat[1] + b1) * M * N;
            if (!ttml_cpu_dnnl_gemm(p->trans_a, p->trans_b, M, N, K, p->alpha, pa, abuf, aoff, pb, bbuf, boff,
                                    weight != NULL, p->beta, pc))
                ttml_cpu_gemm(p->trans_a, p->trans_b, M, N, K, p->alpha, pa, pb, p->beta, pc);
        }
}

gboolean ttml_cpu_matmul(ttml_device *dev, const ttml_launch *l, GError **error)
{
    if (!ttml_cpu_check_launch(l, 2, 1, sizeof(ttml_matmul_params), error)) return FALSE;
    const ttml_matmul_params *p = l->params;
    const float *a = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!a) return FALSE;
    const float *b = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error);
    if (!b) return FALSE;
    float *c = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!c) return FALSE;
    const ttml_view *va = &l->in[0], *vb = &l->in[1], *vc = &l->out[0];
    if (va->ndim < 2 || vb->ndim < 2 || vc->ndim < 2)
        return shape_error(l, "every operand needs at least 2 dims", error);

    const int64_t ar = va->shape[va->ndim - 2], ac = va->shape[va->ndim - 1];
    const int64_t br = vb->shape[vb->ndim - 2], bc = vb->shape[vb->ndim - 1];
    const int64_t M = p->trans_a ? ac : ar, K = p->trans_a ? ar : ac;
    const int64_t Kb = p->trans_b ? bc : br, N = p->trans_b ? br : bc;
    if (K != Kb) return shape_error(l, "inner dims (K) differ", error);
    if (vc->shape[vc->ndim - 2] != M || vc->shape[vc->ndim - 1] != N)
        return shape_error(l, "out[0] must be [..., M, N]", error);

    int64_t abat[2], bbat[2], cbat[2];
    batch2(va, abat);
    batch2(vb, bbat);
    batch2(vc, cbat);
    for (int d = 0; d < 2; d++)
        if ((abat[d] != 1 && abat[d] != cbat[d]) || (bbat[d] != 1 && bbat[d] != cbat[d]))
            return shape_error(l, "batch dims do not broadcast to out[0]'s", error);
    const int64_t n_batch = cbat[0] * cbat[1];
    const int64_t a_batch = abat[0] * abat[1], b_batch = bbat[0] * bbat[1];

    if (M == 0 || N == 0 || n_batch == 0) return TRUE;
    if (K == 0) {
        scale_out(c, (size_t)(n_batch * M * N), p->beta);
        return TRUE;
    }
    if (M * n_batch > INT_MAX || N > INT_MAX || K > INT_MAX)
        return shape_error(l, "dims exceed the BLAS int range", error);

    const ttml_cpu_blas *blas = &ttml_cpu_blas_lib;
    if (!blas->sgemm) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "cpu kernel 'matmul': OpenBLAS is not loaded (the cpu driver's init failed "
                    "or did not run); install libopenblas0");
        return FALSE;
    }
    const gboolean bf16 = l->params_size >= G_STRUCT_OFFSET(ttml_matmul_params, precision) + sizeof(int) &&
                          p->precision == TTML_PRECISION_BF16;
    if (bf16 && b_batch == 1 && !p->trans_a && a_batch == n_batch) {
        static const int64_t one[2] = {1, 1};
        /* b is a weight shared by the batch: its bf16 copy is cached */
        matmul_bf16(p, n_batch * M, N, K, a, va, one, b, vb, vb, one, c, one);
        return TRUE;
    }
    if (bf16) {
        matmul_bf16(p, M, N, K, a, va, abat, b, vb, NULL, bbat, c, cbat);
        return TRUE;
    }
    if (b_batch == 1 && !p->trans_a && a_batch == n_batch) {
        /* shared weights: [batch*M, K] @ [K, N] as one product */
        ttml_cpu_gemm(0, p->trans_b, n_batch * M, N, K, p->alpha, a, b, p->beta, c);
        return TRUE;
    }
    ttml_cpu_gemm_batch(p->trans_a, p->trans_b, M, N, K, p->alpha, a, abat, b, bbat, p->beta, c, cbat);
    return TRUE;
}
