/* drivers/cpu/kernels/cpu_kernels_attn.c - attention kernels (ttml/kernels_attn.h):
 * heads_split, heads_merge, rope_fwd, rope_bwd, sdpa_fwd, sdpa_bwd.
 *
 * sdpa is fused in the FlashAttention-2 manner, without key tiling: for each
 * (batch, head, block of up to ATTN_QBLOCK query rows) the scores
 * scale * Q_blk K^T are computed with one sgemm into a per-call scratch of
 * [block, Skv] floats, soft-maxed in place (causal blocks stop at the last
 * visible key, so about half of the causal work is skipped), multiplied by V
 * with a second sgemm, and only the per-row log-sum-exp is kept. Backward
 * recomputes P from the LSE and does five sgemms per block. Work items are
 * (b, h, query block) forward and (b, kv head) backward, the latter looping
 * over the query heads of the group so that dK / dV of a kv head are written
 * by one item only (race-free without atomics).
 *
 * Threading: the items run through ttml_cpu_parallel_for_blas1, OpenBLAS set
 * to one thread for the duration (each item's GEMMs are small: 64 x Skv x D;
 * splitting items across cores beats splitting each small GEMM, measured on
 * 2 cores, see attn_parallel()).
 */
#include "cpu_internal.h"
#include "../../common/ttml_kernel_checks.h"
#include "../../common/ttml_kernel_list.h"
#include "../../common/ttml_kernel_math.h"   /* exp and 8-lane reductions, shared with ttsim */

#include <limits.h>
#include <math.h>
#include <string.h>

#define ATTN_QBLOCK 64          /* query rows per sdpa work item               */
#define ROPE_CACHE_SLOTS 4      /* (D, theta) tables kept                      */
#define ROPE_CACHE_MAX_POS 65536 /* beyond this, per-call tables (no caching)  */

/* ---- shared helpers ---- */

static char *vshape(const ttml_view *v, char *buf, size_t size)
{
    int nd = v->ndim < 0 ? 0 : v->ndim > TTML_MAX_DIMS ? TTML_MAX_DIMS : v->ndim;
    return ttml_shape_str(nd, v->shape, buf, size);
}

static gboolean blas_ready(const char *kernel, GError **error)
{
    if (ttml_cpu_blas_lib.sgemm) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                "cpu kernel '%s': OpenBLAS is not loaded (the cpu driver's init failed or did "
                "not run); install libopenblas0",
                kernel);
    return FALSE;
}

/* Run items [0, n) through the thread pool with OpenBLAS single-threaded
 * (the items call sgemm concurrently), then give OpenBLAS its threads back.
 * With one item (e.g. backward with B*G == 1) OpenBLAS keeps its threads.
 * Measured on 2 cores, causal forward + backward: items across threads with
 * 1-thread sgemm take about 3.2 ms (B=4, H=6, S=128, D=64) and 8-11 ms (B=2,
 * H=12, S=256, D=64); items in sequence with 2-thread sgemm 6.5 and 21.5 ms
 * (slower than one thread: each GEMM is too small to split). */
static void attn_parallel(size_t n, ttml_cpu_range_fn fn, void *ctx)
{
    ttml_cpu_parallel_for_blas1(n, 1, fn, ctx);
}

static void sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    ttml_cpu_blas_lib.sgemm(TTML_CBLAS_ROW_MAJOR, ta ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS,
                            tb ? TTML_CBLAS_TRANS : TTML_CBLAS_NO_TRANS, (int)m, (int)n, (int)k,
                            alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* x[j] = exp(x[j] - sub) for j < n. */
static inline __attribute__((always_inline)) void row_exp(float *x, int64_t n, float sub)
{
    for (int64_t j = 0; j < n; j++) x[j] = ttml_km_attn_expf(x[j] - sub);
}

/* ---- heads_split / heads_merge ---- */

typedef struct {
    const float *src;
    float *dst;
    int64_t H, S, D;
    int split;
} heads_ctx;

TTML_CPU_VEC static void heads_range(void *vctx, size_t begin, size_t end)
{
    const heads_ctx *c = vctx;
    const int64_t H = c->H, S = c->S, D = c->D;
    for (size_t it = begin; it < end; it++) {
        const int64_t b = (int64_t)it / H, h = (int64_t)it % H;
        for (int64_t s = 0; s < S; s++) {
            const size_t flat = (size_t)(((b * S + s) * H + h) * D);   /* [B, S, H, D] */
            const size_t head = (size_t)((((b * H + h) * S) + s) * D); /* [B, H, S, D] */
            if (c->split)
                memcpy(c->dst + head, c->src + flat, (size_t)D * sizeof(float));
            else
                memcpy(c->dst + flat, c->src + head, (size_t)D * sizeof(float));
        }
    }
}

static gboolean heads_kernel(const ttml_launch *l, int split, GError **error)
{
    const char *name = split ? "heads_split" : "heads_merge";
    if (!ttml_cpu_check_launch(l, 1, 1, 0, error)) return FALSE;
    const float *src = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!src) return FALSE;
    float *dst = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!dst) return FALSE;
    const ttml_view *heads = split ? &l->out[0] : &l->in[0];
    const ttml_view *flat = split ? &l->in[0] : &l->out[0];
    char sh[80], sf[80];
    if (heads->ndim != 4 || flat->ndim < 1 ||
        flat->shape[flat->ndim - 1] != heads->shape[1] * heads->shape[3] ||
        ttml_cpu_numel(flat) != ttml_cpu_numel(heads)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': %s shape %s and %s shape %s do not fit; expected "
                    "[B, 1, S, H*D] and [B, H, S, D]",
                    name, split ? "in[0]" : "out[0]", vshape(flat, sf, sizeof sf),
                    split ? "out[0]" : "in[0]", vshape(heads, sh, sizeof sh));
        return FALSE;
    }
    heads_ctx c = {src, dst, heads->shape[1], heads->shape[2], heads->shape[3], split};
    const size_t n = (size_t)(heads->shape[0] * heads->shape[1]);
    const size_t per = (size_t)(c.S * c.D);
    if (n == 0 || per == 0) return TRUE;
    ttml_cpu_parallel_for(n, per >= 16384 ? 1 : 16384 / per, heads_range, &c);
    return TRUE;
}

static gboolean ttml_cpu_heads_split(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    return heads_kernel(l, 1, error);
}

static gboolean ttml_cpu_heads_merge(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    return heads_kernel(l, 0, error);
}

/* ---- rope ---- */

/* cos / sin of pos * theta^(-2i/D) for pos in [pos0, pos0 + n_pos), i < D/2,
 * as [n_pos][half] arrays (cs = cos then sin, 2 * n_pos * half floats). */
typedef struct {
    int64_t D;
    float theta;
    int64_t pos0, n_pos;
    float *cs;
} rope_table;

static void rope_table_fill(rope_table *t)
{
    ttml_km_rope_fill(t->cs, t->cs + t->n_pos * (t->D / 2), t->D, t->theta, t->pos0, t->n_pos);
}

/* Tables per (D, theta) covering positions [0, n_pos), grown on demand and
 * kept for the life of the process (a few KiB each). The lock is held for
 * the whole kernel call, so a table is never regrown while in use. */
static GMutex rope_lock;
static rope_table rope_cache[ROPE_CACHE_SLOTS];
static int rope_next_slot;

static const rope_table *rope_cached(int64_t D, float theta, int64_t need_pos)
{
    rope_table *t = NULL;
    for (int i = 0; i < ROPE_CACHE_SLOTS; i++)
        if (rope_cache[i].cs && rope_cache[i].D == D && rope_cache[i].theta == theta)
            t = &rope_cache[i];
    if (t && t->n_pos >= need_pos) return t;
    if (!t) {
        t = &rope_cache[rope_next_slot];
        rope_next_slot = (rope_next_slot + 1) % ROPE_CACHE_SLOTS;
    }
    g_free(t->cs);
    t->D = D;
    t->theta = theta;
    t->pos0 = 0;
    t->n_pos = MAX(need_pos, MIN((int64_t)ROPE_CACHE_MAX_POS, MAX(need_pos * 2, 256)));
    t->cs = g_new(float, 2 * t->n_pos * (D / 2));
    rope_table_fill(t);
    return t;
}

typedef struct {
    const float *x;
    float *out;
    const float *cosv, *sinv;   /* row p of the table: position pos_offset + p */
    int64_t S, D;
    float sign;                 /* +1 forward, -1 backward                      */
} rope_ctx;

TTML_CPU_VEC static void rope_range(void *vctx, size_t begin, size_t end)
{
    const rope_ctx *c = vctx;
    const int64_t half = c->D / 2;
    const float sg = c->sign;
    for (size_t row = begin; row < end; row++) {
        const int64_t s = (int64_t)row % c->S;
        const float *x = c->x + row * (size_t)c->D;
        float *o = c->out + row * (size_t)c->D;
        const float *cs = c->cosv + s * half, *sn = c->sinv + s * half;
        for (int64_t i = 0; i < half; i++) {
            const float a = x[i], b = x[i + half], cv = cs[i], sv = sg * sn[i];
            o[i] = a * cv - b * sv;
            o[i + half] = b * cv + a * sv;
        }
    }
}

static gboolean rope_kernel(const ttml_launch *l, float sign, GError **error)
{
    const char *name = sign > 0 ? "rope_fwd" : "rope_bwd";
    if (!ttml_cpu_check_launch(l, 1, 1, sizeof(ttml_rope_params), error)) return FALSE;
    const ttml_rope_params *p = l->params;
    const float *x = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error);
    if (!x) return FALSE;
    float *out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error);
    if (!out) return FALSE;
    const ttml_view *v = &l->in[0];
    char sa[80], sb[80];
    if (v->ndim < 2 || v->shape[v->ndim - 1] % 2 != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': in[0] shape %s must be [..., S, D] with D even "
                    "(out[0] shape %s)",
                    name, vshape(v, sa, sizeof sa), vshape(&l->out[0], sb, sizeof sb));
        return FALSE;
    }
    if (!ttml_cpu_check_numel(l, &l->in[0], "in[0]", &l->out[0], "out[0]", error)) return FALSE;
    if (p->pos_offset < 0 || !(p->theta > 0.0f) || !isfinite(p->theta)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': theta %g and pos_offset %" G_GINT64_FORMAT
                    " must be positive and non-negative",
                    name, (double)p->theta, (gint64)p->pos_offset);
        return FALSE;
    }
    const int64_t S = v->shape[v->ndim - 2], D = v->shape[v->ndim - 1];
    const size_t rows = ttml_cpu_numel(v) / (size_t)(D > 0 ? D : 1);
    if (rows == 0 || D == 0) return TRUE;
    rope_ctx c = {x, out, NULL, NULL, S, D, sign};
    const size_t grain = (size_t)MAX(1, 8192 / D);
    const int64_t half = D / 2;
    if (p->pos_offset + S <= ROPE_CACHE_MAX_POS) {
        g_mutex_lock(&rope_lock);
        const rope_table *t = rope_cached(D, p->theta, p->pos_offset + S);
        c.cosv = t->cs + p->pos_offset * half;
        c.sinv = t->cs + t->n_pos * half + p->pos_offset * half;
        ttml_cpu_parallel_for(rows, grain, rope_range, &c);
        g_mutex_unlock(&rope_lock);
    } else {
        rope_table t = {D, p->theta, p->pos_offset, S, g_new(float, 2 * S * half)};
        rope_table_fill(&t);
        c.cosv = t.cs;
        c.sinv = t.cs + S * half;
        ttml_cpu_parallel_for(rows, grain, rope_range, &c);
        g_free(t.cs);
    }
    return TRUE;
}

static gboolean ttml_cpu_rope_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    return rope_kernel(l, 1.0f, error);
}

static gboolean ttml_cpu_rope_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    return rope_kernel(l, -1.0f, error);
}

/* ---- sdpa ---- */

typedef struct {
    const float *q, *k, *v, *o, *lse, *dout;
    const guint16 *q16, *k16, *v16;   /* bf16 copies (precision bf16, forward) */
    float *out, *out_lse, *dq, *dk, *dv;
    int64_t B, H, G, Sq, Skv, D, off, n_qblk;
    float scale;
    int causal;
} sdpa_ctx;

/* Keys visible to rows [i0, i1) of a query block (a prefix of the keys). */
static inline int64_t block_kv_len(const sdpa_ctx *c, int64_t i1)
{
    return c->causal ? MIN(c->Skv, i1 + c->off) : c->Skv;
}

/* Keys visible to row i. */
static inline int64_t row_kv_len(const sdpa_ctx *c, int64_t i)
{
    return c->causal ? MIN(c->Skv, i + c->off + 1) : c->Skv;
}

/* Rows [i0, i0 + m) of scores sc [m, kv] soft-maxed in place (masked
 * entries 0), their log-sum-exp to lse[0..m); with p16, also P in bf16. */
static inline __attribute__((always_inline)) void block_softmax(const sdpa_ctx *c, float *sc, guint16 *p16,
                                                                 int64_t m, int64_t kv, int64_t i0, float *lse)
{
    for (int64_t r = 0; r < m; r++) {
        float *row = sc + r * kv;
        const int64_t n = row_kv_len(c, i0 + r);
        const float mx = ttml_km_row8_max(row, n);
        row_exp(row, n, mx);
        const float sum = ttml_km_row8_sum(row, n);
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < n; j++) row[j] *= inv;
        for (int64_t j = n; j < kv; j++) row[j] = 0.0f;
        lse[r] = mx + logf(sum);
        if (p16)
            for (int64_t j = 0; j < kv; j++) p16[r * kv + j] = ttml_cpu_bf16_round(row[j]);
    }
}

/* P = exp(S - lse) in place for rows [i0, i0 + m) of S [m, kv], masked
 * entries 0; with p16, also P in bf16. */
static inline __attribute__((always_inline)) void block_recompute_p(const sdpa_ctx *c, float *P, guint16 *p16,
                                                                     int64_t m, int64_t kv, int64_t i0,
                                                                     const float *lse)
{
    for (int64_t r = 0; r < m; r++) {
        float *row = P + r * kv;
        const int64_t n = row_kv_len(c, i0 + r);
        row_exp(row, n, lse[r]);
        for (int64_t j = n; j < kv; j++) row[j] = 0.0f;
        if (p16)
            for (int64_t j = 0; j < kv; j++) p16[r * kv + j] = ttml_cpu_bf16_round(row[j]);
    }
}

/* dS = P * (dP - rowsum(dO * O)) in place of dP [m, kv]; with ds16, also dS in bf16. */
static inline __attribute__((always_inline)) void block_ds(const float *P, float *dP, guint16 *ds16, int64_t m,
                                                            int64_t kv, int64_t D, const float *dop,
                                                            const float *op)
{
    for (int64_t r = 0; r < m; r++) {
        const float di = ttml_km_row8_dot(dop + r * D, op + r * D, D);
        const float *pr = P + r * kv;
        float *ds = dP + r * kv;
        for (int64_t j = 0; j < kv; j++) ds[j] = pr[j] * (ds[j] - di);
        if (ds16)
            for (int64_t j = 0; j < kv; j++) ds16[r * kv + j] = ttml_cpu_bf16_round(ds[j]);
    }
}

TTML_CPU_VEC static void sdpa_fwd_range(void *vctx, size_t begin, size_t end)
{
    const sdpa_ctx *c = vctx;
    const int64_t D = c->D, Sq = c->Sq, Skv = c->Skv, rep = c->H / c->G;
    float *sc = g_new(float, (size_t)(MIN(Sq, ATTN_QBLOCK) * Skv));
    for (size_t it = begin; it < end; it++) {
        const int64_t bh = (int64_t)it / c->n_qblk, blk = (int64_t)it % c->n_qblk;
        const int64_t b = bh / c->H, h = bh % c->H, g = h / rep;
        const int64_t i0 = blk * ATTN_QBLOCK, i1 = MIN(Sq, i0 + ATTN_QBLOCK), m = i1 - i0;
        const int64_t kv = block_kv_len(c, i1);
        const float *qp = c->q + (bh * Sq + i0) * D;
        const float *kp = c->k + (b * c->G + g) * Skv * D;
        const float *vp = c->v + (b * c->G + g) * Skv * D;
        sgemm(0, 1, m, kv, D, c->scale, qp, D, kp, D, 0.0f, sc, kv);
        block_softmax(c, sc, NULL, m, kv, i0, c->out_lse + bh * Sq + i0);
        sgemm(0, 0, m, D, kv, 1.0f, sc, kv, vp, D, 0.0f, c->out + (bh * Sq + i0) * D, D);
    }
    g_free(sc);
}

TTML_CPU_VEC static void sdpa_bwd_range(void *vctx, size_t begin, size_t end)
{
    const sdpa_ctx *c = vctx;
    const int64_t D = c->D, Sq = c->Sq, Skv = c->Skv, rep = c->H / c->G;
    const size_t scratch = (size_t)(MIN(Sq, ATTN_QBLOCK) * Skv);
    float *P = g_new(float, scratch), *dP = g_new(float, scratch);
    for (size_t it = begin; it < end; it++) {
        const int64_t b = (int64_t)it / c->G, g = (int64_t)it % c->G;
        const float *kp = c->k + (b * c->G + g) * Skv * D;
        const float *vp = c->v + (b * c->G + g) * Skv * D;
        float *dkp = c->dk + (b * c->G + g) * Skv * D;
        float *dvp = c->dv + (b * c->G + g) * Skv * D;
        memset(dkp, 0, (size_t)(Skv * D) * sizeof(float));
        memset(dvp, 0, (size_t)(Skv * D) * sizeof(float));
        for (int64_t h = g * rep; h < (g + 1) * rep; h++) {
            const int64_t bh = b * c->H + h;
            for (int64_t blk = 0; blk < c->n_qblk; blk++) {
                const int64_t i0 = blk * ATTN_QBLOCK, i1 = MIN(Sq, i0 + ATTN_QBLOCK);
                const int64_t m = i1 - i0, kv = block_kv_len(c, i1);
                const size_t rows = (size_t)(bh * Sq + i0);
                const float *qp = c->q + rows * D, *op = c->o + rows * D;
                const float *dop = c->dout + rows * D;
                const float *lse = c->lse + rows;
                /* P = exp(scale * Q K^T - lse), masked entries 0 */
                sgemm(0, 1, m, kv, D, c->scale, qp, D, kp, D, 0.0f, P, kv);
                block_recompute_p(c, P, NULL, m, kv, i0, lse);
                /* dV += P^T dO;  dP = dO V^T */
                sgemm(1, 0, kv, D, m, 1.0f, P, kv, dop, D, 1.0f, dvp, D);
                sgemm(0, 1, m, kv, D, 1.0f, dop, D, vp, D, 0.0f, dP, kv);
                /* dS = P * (dP - rowsum(dO * O)) */
                block_ds(P, dP, NULL, m, kv, D, dop, op);
                /* dQ = scale * dS K;  dK += scale * dS^T Q */
                sgemm(0, 0, m, D, kv, c->scale, dP, kv, kp, D, 0.0f, c->dq + rows * D, D);
                sgemm(1, 0, kv, D, m, c->scale, dP, kv, qp, D, 1.0f, dkp, D);
            }
        }
    }
    g_free(P);
    g_free(dP);
}

/* ---- sdpa, precision bf16 ----
 * The same blocks, with the products through oneDNN on the calling thread
 * (ttml_cpu_dnnl_gemm_st: bf16 operands, fp32 accumulation): q, k, v and do
 * are converted to bf16 once per call, P and dS per block as they are made;
 * scores, softmax, log-sum-exp, dS and every output stay fp32. A product
 * oneDNN refuses is computed by sgemm from the fp32 operands. */

static void mm_bf16(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const guint16 *a16,
                    const float *a, const guint16 *b16, const float *b, float beta, float *c)
{
    if (!ttml_cpu_dnnl_gemm_st(ta, tb, m, n, k, alpha, a16, b16, beta, c))
        sgemm(ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

TTML_CPU_VEC static void sdpa_fwd_range_bf16(void *vctx, size_t begin, size_t end)
{
    const sdpa_ctx *c = vctx;
    const int64_t D = c->D, Sq = c->Sq, Skv = c->Skv, rep = c->H / c->G;
    const size_t scratch = (size_t)(MIN(Sq, ATTN_QBLOCK) * Skv);
    float *sc = g_new(float, scratch);
    guint16 *p16 = g_new(guint16, scratch);
    for (size_t it = begin; it < end; it++) {
        const int64_t bh = (int64_t)it / c->n_qblk, blk = (int64_t)it % c->n_qblk;
        const int64_t b = bh / c->H, h = bh % c->H, g = h / rep;
        const int64_t i0 = blk * ATTN_QBLOCK, i1 = MIN(Sq, i0 + ATTN_QBLOCK), m = i1 - i0;
        const int64_t kv = block_kv_len(c, i1);
        const size_t qo = (size_t)((bh * Sq + i0) * D), ko = (size_t)((b * c->G + g) * Skv * D);
        mm_bf16(0, 1, m, kv, D, c->scale, c->q16 + qo, c->q + qo, c->k16 + ko, c->k + ko, 0.0f, sc);
        block_softmax(c, sc, p16, m, kv, i0, c->out_lse + bh * Sq + i0);
        mm_bf16(0, 0, m, D, kv, 1.0f, p16, sc, c->v16 + ko, c->v + ko, 0.0f, c->out + qo);
    }
    g_free(sc);
    g_free(p16);
}

/* dst[i] = src[i] rounded to bf16, i < n (on the calling thread). */
static inline __attribute__((always_inline)) void round_bf16(guint16 *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = ttml_cpu_bf16_round(src[i]);
}

/* Per-thread scratch of the bf16 backward: P, dP [block, Skv] fp32; P, dS
 * [block, Skv], K, V [Skv, D], Q, dO [block, D] bf16 (K to dO of the item
 * and block at hand, converted as they are used). */
typedef struct {
    float *P, *dP;
    guint16 *p16, *ds16, *k16, *v16, *q16, *do16;
} bwd_scratch;

/* One query block of the backward (rows i0..i1 of head bh against the kv
 * head at element offset ko, whose K and V are in w->k16, w->v16). */
static inline __attribute__((always_inline)) void sdpa_bwd_block_bf16(const sdpa_ctx *c, int64_t bh, int64_t i0,
                                                                       int64_t i1, size_t ko, const bwd_scratch *w)
{
    const int64_t D = c->D, m = i1 - i0, kv = block_kv_len(c, i1);
    const size_t rows = (size_t)(bh * c->Sq + i0), qo = rows * (size_t)D;
    const float *q = c->q + qo, *dout = c->dout + qo, *k = c->k + ko, *v = c->v + ko;
    round_bf16(w->q16, q, m * D);
    round_bf16(w->do16, dout, m * D);
    /* P = exp(scale * Q K^T - lse), masked entries 0 */
    mm_bf16(0, 1, m, kv, D, c->scale, w->q16, q, w->k16, k, 0.0f, w->P);
    block_recompute_p(c, w->P, w->p16, m, kv, i0, c->lse + rows);
    /* dV += P^T dO;  dP = dO V^T */
    mm_bf16(1, 0, kv, D, m, 1.0f, w->p16, w->P, w->do16, dout, 1.0f, c->dv + ko);
    mm_bf16(0, 1, m, kv, D, 1.0f, w->do16, dout, w->v16, v, 0.0f, w->dP);
    /* dS = P * (dP - rowsum(dO * O)) */
    block_ds(w->P, w->dP, w->ds16, m, kv, D, dout, c->o + qo);
    /* dQ = scale * dS K;  dK += scale * dS^T Q */
    mm_bf16(0, 0, m, D, kv, c->scale, w->ds16, w->dP, w->k16, k, 0.0f, c->dq + qo);
    mm_bf16(1, 0, kv, D, m, c->scale, w->ds16, w->dP, w->q16, q, 1.0f, c->dk + ko);
}

TTML_CPU_VEC static void sdpa_bwd_range_bf16(void *vctx, size_t begin, size_t end)
{
    const sdpa_ctx *c = vctx;
    const int64_t D = c->D, Sq = c->Sq, Skv = c->Skv, rep = c->H / c->G;
    const size_t blk = (size_t)MIN(Sq, ATTN_QBLOCK), scratch = blk * (size_t)Skv;
    const size_t kvd = (size_t)(Skv * D), bd = blk * (size_t)D;
    float *f = g_new(float, 2 * scratch);
    guint16 *h = g_new(guint16, 2 * scratch + 2 * kvd + 2 * bd);
    const bwd_scratch w = {f, f + scratch, h, h + scratch, h + 2 * scratch, h + 2 * scratch + kvd,
                           h + 2 * scratch + 2 * kvd, h + 2 * scratch + 2 * kvd + bd};
    for (size_t it = begin; it < end; it++) {
        const int64_t b = (int64_t)it / c->G, g = (int64_t)it % c->G;
        const size_t ko = (size_t)((b * c->G + g) * Skv * D);
        memset(c->dk + ko, 0, kvd * sizeof(float));
        memset(c->dv + ko, 0, kvd * sizeof(float));
        round_bf16(w.k16, c->k + ko, (int64_t)kvd);
        round_bf16(w.v16, c->v + ko, (int64_t)kvd);
        for (int64_t hh = g * rep; hh < (g + 1) * rep; hh++)
            for (int64_t qb = 0; qb < c->n_qblk; qb++) {
                const int64_t i0 = qb * ATTN_QBLOCK, i1 = MIN(Sq, i0 + ATTN_QBLOCK);
                sdpa_bwd_block_bf16(c, b * c->H + hh, i0, i1, ko, &w);
            }
    }
    g_free(f);
    g_free(h);
}

/* Precision bf16 asked for by the launch (params_size covers the tail
 * field) and oneDNN available (loaded here); else the kernel computes in fp32. */
static gboolean sdpa_bf16(const ttml_launch *l)
{
    const ttml_sdpa_params *p = l->params;
    return l->params_size >= G_STRUCT_OFFSET(ttml_sdpa_params, precision) + sizeof(int) &&
           p->precision == TTML_PRECISION_BF16 && ttml_cpu_dnnl_status() != NULL;
}

/* Check q, k, v (slots 0..2) and fill the sizes of c. */
static gboolean sdpa_check(const ttml_launch *l, const char *name, const ttml_sdpa_params *p,
                           sdpa_ctx *c, GError **error)
{
    const ttml_view *q = &l->in[0], *k = &l->in[1], *v = &l->in[2];
    char sq[80], sk[80], sv[80];
    vshape(q, sq, sizeof sq);
    vshape(k, sk, sizeof sk);
    vshape(v, sv, sizeof sv);
    const char *why = ttml_kc_sdpa_problem(q, k, v, p->causal);
    if (why) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu kernel '%s': q %s, k %s, v %s: %s", name, sq, sk, sv, why);
        return FALSE;
    }
    memset(c, 0, sizeof *c);
    c->B = q->shape[0];
    c->H = q->shape[1];
    c->Sq = q->shape[2];
    c->D = q->shape[3];
    c->G = k->shape[1];
    c->Skv = k->shape[2];
    c->off = c->Skv - c->Sq;
    c->n_qblk = (c->Sq + ATTN_QBLOCK - 1) / ATTN_QBLOCK;
    c->scale = p->scale;
    c->causal = p->causal != 0;
    return TRUE;
}

/* out view `v` must have exactly the dims (n, shape). */
static gboolean sdpa_check_out(const char *name, const char *slot, const ttml_view *v, int n,
                               const int64_t *shape, GError **error)
{
    gboolean ok = v->ndim == n;
    for (int d = 0; ok && d < n; d++) ok = v->shape[d] == shape[d];
    if (ok) return TRUE;
    char sa[80], sb[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "cpu kernel '%s': %s has shape %s, expected %s",
                name, slot, vshape(v, sa, sizeof sa), ttml_shape_str(n, shape, sb, sizeof sb));
    return FALSE;
}

static gboolean ttml_cpu_sdpa_fwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    if (!ttml_cpu_check_launch(l, 3, 2, G_STRUCT_OFFSET(ttml_sdpa_params, precision), error)) return FALSE;
    sdpa_ctx c;
    if (!sdpa_check(l, "sdpa_fwd", l->params, &c, error)) return FALSE;
    const int64_t lse_shape[3] = {c.B, c.H, c.Sq};
    if (!sdpa_check_out("sdpa_fwd", "out[0] (o)", &l->out[0], 4, l->in[0].shape, error) ||
        !sdpa_check_out("sdpa_fwd", "out[1] (lse)", &l->out[1], 3, lse_shape, error))
        return FALSE;
    if (!(c.q = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error)) ||
        !(c.k = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error)) ||
        !(c.v = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error)) ||
        !(c.out = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error)) ||
        !(c.out_lse = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error)))
        return FALSE;
    if (c.B == 0 || c.H == 0 || c.Sq == 0) return TRUE;
    if (!blas_ready("sdpa_fwd", error)) return FALSE;
    if (sdpa_bf16(l)) {
        /* q, k, v in bf16 once (the items share K and V) */
        const size_t nq = (size_t)(c.B * c.H * c.Sq * c.D), nk = (size_t)(c.B * c.G * c.Skv * c.D);
        guint16 *copies = g_new(guint16, nq + 2 * nk);
        ttml_cpu_to_bf16(copies, c.q, nq);
        ttml_cpu_to_bf16(copies + nq, c.k, nk);
        ttml_cpu_to_bf16(copies + nq + nk, c.v, nk);
        c.q16 = copies, c.k16 = copies + nq, c.v16 = copies + nq + nk;
        attn_parallel((size_t)(c.B * c.H * c.n_qblk), sdpa_fwd_range_bf16, &c);
        g_free(copies);
        return TRUE;
    }
    attn_parallel((size_t)(c.B * c.H * c.n_qblk), sdpa_fwd_range, &c);
    return TRUE;
}

static gboolean ttml_cpu_sdpa_bwd(ttml_device *dev, const ttml_launch *l, GError **error)
{
    (void)dev;
    if (!ttml_cpu_check_launch(l, 6, 3, G_STRUCT_OFFSET(ttml_sdpa_params, precision), error)) return FALSE;
    sdpa_ctx c;
    if (!sdpa_check(l, "sdpa_bwd", l->params, &c, error)) return FALSE;
    const int64_t lse_shape[3] = {c.B, c.H, c.Sq};
    if (!sdpa_check_out("sdpa_bwd", "in[3] (o)", &l->in[3], 4, l->in[0].shape, error) ||
        !sdpa_check_out("sdpa_bwd", "in[4] (lse)", &l->in[4], 3, lse_shape, error) ||
        !sdpa_check_out("sdpa_bwd", "in[5] (do)", &l->in[5], 4, l->in[0].shape, error) ||
        !sdpa_check_out("sdpa_bwd", "out[0] (dq)", &l->out[0], 4, l->in[0].shape, error) ||
        !sdpa_check_out("sdpa_bwd", "out[1] (dk)", &l->out[1], 4, l->in[1].shape, error) ||
        !sdpa_check_out("sdpa_bwd", "out[2] (dv)", &l->out[2], 4, l->in[2].shape, error))
        return FALSE;
    if (!(c.q = ttml_cpu_in(l, 0, TTML_DTYPE_F32, error)) ||
        !(c.k = ttml_cpu_in(l, 1, TTML_DTYPE_F32, error)) ||
        !(c.v = ttml_cpu_in(l, 2, TTML_DTYPE_F32, error)) ||
        !(c.o = ttml_cpu_in(l, 3, TTML_DTYPE_F32, error)) ||
        !(c.lse = ttml_cpu_in(l, 4, TTML_DTYPE_F32, error)) ||
        !(c.dout = ttml_cpu_in(l, 5, TTML_DTYPE_F32, error)) ||
        !(c.dq = ttml_cpu_out(l, 0, TTML_DTYPE_F32, error)) ||
        !(c.dk = ttml_cpu_out(l, 1, TTML_DTYPE_F32, error)) ||
        !(c.dv = ttml_cpu_out(l, 2, TTML_DTYPE_F32, error)))
        return FALSE;
    if (c.B == 0) return TRUE;   /* (Sq == 0 still zeroes dk and dv below) */
    if (!blas_ready("sdpa_bwd", error)) return FALSE;
    if (c.Sq > 0 && sdpa_bf16(l)) {   /* (the items convert their operands) */
        attn_parallel((size_t)(c.B * c.G), sdpa_bwd_range_bf16, &c);
        return TRUE;
    }
    attn_parallel((size_t)(c.B * c.G), sdpa_bwd_range, &c);
    return TRUE;
}

/* ---- registration ---- */

gboolean ttml_cpu_register_attn_kernels(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    static const struct {
        const char *name;
        ttml_kernel_fn fn;
    } kernels[] = {
#define CPU_KERNEL(name) {#name, ttml_cpu_##name},
        TTML_KERNELS_ATTN(CPU_KERNEL)
#undef CPU_KERNEL
    };
    for (size_t i = 0; i < G_N_ELEMENTS(kernels); i++)
        if (!host->register_kernel(plugin, "cpu", kernels[i].name, kernels[i].fn, error))
            return FALSE;
    return TRUE;
}
