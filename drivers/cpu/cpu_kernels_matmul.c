/* drivers/cpu/cpu_kernels_matmul.c - matmul through OpenBLAS cblas_sgemm.
 *
 * out[..., M, N] = alpha * op(a)[..., M, K] @ op(b)[..., K, N] + beta * out.
 * Batch dims (all but the last two, at most two of them) broadcast: a dim of
 * 1 in a or b is shared across out's batch. When b has batch 1 (shared
 * weights) and a is not transposed, a's batch dims fold into M and one sgemm
 * does the whole product.
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
    const int ta = p->trans_a ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS;
    const int tb = p->trans_b ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS;
    const int lda = (int)(p->trans_a ? M : K), ldb = (int)(p->trans_b ? K : N), ldc = (int)N;

    if (b_batch == 1 && !p->trans_a && a_batch == n_batch) {
        /* shared weights: [batch*M, K] @ [K, N] in one call */
        blas->sgemm(TTML_CBLAS_ROW_MAJOR, ta, tb, (int)(n_batch * M), (int)N, (int)K, p->alpha, a,
                    lda, b, ldb, p->beta, c, ldc);
        return TRUE;
    }
    for (int64_t b0 = 0; b0 < cbat[0]; b0++)
        for (int64_t b1 = 0; b1 < cbat[1]; b1++) {
            const int64_t ia = (abat[0] > 1 ? b0 : 0) * abat[1] + (abat[1] > 1 ? b1 : 0);
            const int64_t ib = (bbat[0] > 1 ? b0 : 0) * bbat[1] + (bbat[1] > 1 ? b1 : 0);
            const int64_t ic = b0 * cbat[1] + b1;
            blas->sgemm(TTML_CBLAS_ROW_MAJOR, ta, tb, (int)M, (int)N, (int)K, p->alpha,
                        a + ia * M * K, lda, b + ib * K * N, ldb, p->beta, c + ic * M * N, ldc);
        }
    return TRUE;
}
