/* drivers/ttsim/kernels/ttsim_native_attn.c - native attention kernels on the tile
 * images: rope_fwd, rope_bwd, sdpa_fwd, sdpa_bwd (ttml/kernels_attn.h; the
 * formulas are the cpu driver's, drivers/cpu/kernels/cpu_kernels_attn.c).
 *
 * rope: units = tile-rows of x seen as [batch*heads, S, D]; a core unpacks
 * its tile-row, rotates each row with the cos / sin of its position (a
 * table per (D, theta, pos_offset, S), computed in double as the cpu does
 * and kept in a small cache) and packs the tile-row of out (which may be x).
 *
 * sdpa_fwd, as tt-metal's SDPA: units = (batch, head, q tile-row of 32
 * query rows). A core unpacks its Q rows (operand A: truncated to the math
 * fidelity's mantissa bits, as the converted path did) and the K / V rows of
 * the head's kv head (operand B; causal: only up to the last visible key;
 * consecutive units of the same kv head reuse what is unpacked), computes
 * S = scale Q K^T, the softmax and O = P V in f32 with the host's
 * single-threaded sgemm (fp32 products and sums, like the FPU's), packs its
 * O tile-row and keeps each row's log-sum-exp in a host array that is
 * written to out[1] once after the grid run.
 *
 * sdpa_bwd in three grid passes, race-free (every output tile-row and every
 * host array entry is written by one unit):
 *   1. units = (batch, head, q tile-row): D_i = rowsum(dO O) per query row.
 *   2. units = (batch, kv head, kv tile-row of 32 keys): for every query
 *      head of the group and the query rows that see these keys, unpack Q
 *      and dO, recompute P^T = exp(scale K Q^T - lse) (keys x queries),
 *      dS^T = P^T (V dO^T - D), accumulate dV = P^T dO, dK = scale dS^T Q
 *      -> pack the dK / dV tile-rows, and keep dS in a host array.
 *   3. units = (batch, head, q tile-row): dQ = scale dS K (K rows up to the
 *      last visible key) -> pack the dQ tile-row.
 *   dS is kept for whole kv-head groups at a time (passes 2 and 3 run per
 *   chunk of groups when dS would exceed SDPA_DS_FLOATS). Five products per
 *   score, as the cpu kernel.
 * sgemm is OpenBLAS's cblas_sgemm (ttsim_blas.c, one OpenBLAS thread per
 * call inside the grid run); without it sdpa declines.
 */
#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"
#include "../../common/ttml_kernel_checks.h"
#include "../../common/ttml_kernel_math.h"   /* the cpu kernel's exp and reductions */

#include <limits.h>
#include <math.h>

/* ---- shared helpers ---- */

/* ATTN_VEC on a core function compiles it for AVX-512, AVX2 and baseline
 * x86-64 and picks the best at load time (as the cpu driver's TTML_CPU_VEC):
 * the softmax / exp loops vectorise; no FMA contraction under -std=c11, so
 * the clones compute the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define ATTN_VEC __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATTN_VEC
#endif

static gint64 view_numel(const ttml_view *v)
{
    gint64 n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i] > 0 ? v->shape[i] : 0;
    return n;
}

/* Mantissa bits of operand A / B at the device's fidelity; 23 (no
 * truncation) when the storage format has no more bits than that. */
static void fidelity_bits(const ttsim_device *d, int *bits_a, int *bits_b)
{
    int stored = ttsim_format_stored_bits(d->cfg.storage);
    ttsim_fidelity_bits(d->cfg.fidelity, bits_a, bits_b);
    if (*bits_a >= stored) *bits_a = 23;
    if (*bits_b >= stored) *bits_b = 23;
}

/* Unpack tile-row g of t into dst (32 rows of t->ct * 32 floats) and
 * truncate it to `bits` mantissa bits (bits < 23). */
static void tilerow_get_bits(const ttsim_tiled *t, gint64 g, float *dst, int bits)
{
    ttsim_tilerow_get(t, g, dst);
    if (bits < 23) ttsim_truncate_array(dst, (size_t)(t->ct * TTSIM_TILE * TTSIM_TILE), bits);
}

/* A growing per-device buffer of `floats` floats in launch scratch slot `slot`. */
static float *dev_scratch(ttsim_device *d, int slot, size_t floats)
{
    return ttsim_launch_scratch(d, slot, floats * sizeof(float) + 64);
}

/* ---- rope ---- */

/* cos / sin of (pos0 + p) * theta^(-2i/D) for p < S, i < D/2, computed in
 * double and rounded to float exactly as the cpu kernel's tables. A few
 * tables are kept (one per layer shape), guarded by rope_lock, which is
 * held while a launch uses its table. */
#define ROPE_SLOTS 4

typedef struct {
    gint64 D, pos0, S;
    float theta;
    float *cs;                   /* [S][half] cos, then [S][half] sin         */
} rope_table;

static GMutex rope_lock;
static rope_table rope_cache[ROPE_SLOTS];
static int rope_next;

static const rope_table *rope_table_get(gint64 D, float theta, gint64 pos0, gint64 S)
{
    for (int i = 0; i < ROPE_SLOTS; i++) {
        rope_table *t = &rope_cache[i];
        if (t->cs && t->D == D && t->theta == theta && t->pos0 == pos0 && t->S == S) return t;
    }
    rope_table *t = &rope_cache[rope_next];
    rope_next = (rope_next + 1) % ROPE_SLOTS;
    g_free(t->cs);
    t->D = D;
    t->theta = theta;
    t->pos0 = pos0;
    t->S = S;
    t->cs = g_new(float, 2 * S * (D / 2) + 1);
    ttml_km_rope_fill(t->cs, t->cs + S * (D / 2), D, theta, pos0, S);
    return t;
}

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *x, *out;
    const float *cosv, *sinv;    /* [S][half]                                  */
    gint64 S, D;
    float sign;                  /* +1 forward, -1 backward                    */
} rope_job;

/* One row: o[i] = x[i] cos - x[i + half] sin, o[i + half] = x[i + half] cos + x[i] sin. */
static inline __attribute__((always_inline)) void rope_row(const float *restrict x, const float *restrict cs,
                                                           const float *restrict sn, float *restrict o,
                                                           gint64 half, float sign)
{
    for (gint64 i = 0; i < half; i++) {
        const float a = x[i], b = x[i + half], cv = cs[i], sv = sign * sn[i];
        o[i] = a * cv - b * sv;
        o[i + half] = b * cv + a * sv;
    }
}

/* unit = tile-row g of x: 32 positions of one (batch, head) */
ATTN_VEC static void rope_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const rope_job *j = ctx;
    const gint64 ld = j->x->ct * TTSIM_TILE, half = j->D / 2;
    float *xb = ttsim_worker_scratch(j->d, worker, 0, (size_t)(2 * TTSIM_TILE * ld) * sizeof(float));
    float *ob = xb + TTSIM_TILE * ld;
    for (gint64 g = begin; g < end; g++) {
        const gint64 s0 = (g % j->x->rt) * TTSIM_TILE;
        const gint64 rows = MIN((gint64)TTSIM_TILE, j->S - s0);
        ttsim_tilerow_get(j->x, g, xb);
        for (gint64 r = 0; r < rows; r++)
            rope_row(xb + r * ld, j->cosv + (s0 + r) * half, j->sinv + (s0 + r) * half, ob + r * ld, half, j->sign);
        ttsim_tilerow_put(j->out, g, ob);
    }
}

static ttsim_native_status native_rope(ttsim_native_ctx *c, float sign, GError **error)
{
    const ttml_launch *l = c->l;
    const char *name = l->kernel;
    if (l->n_in != 1 || l->n_out != 1 || !l->params || l->params_size < sizeof(ttml_rope_params)) {
        c->decline = "rope needs 1 input, 1 output and ttml_rope_params";
        return TTSIM_NATIVE_DECLINE;
    }
    const ttml_rope_params *p = l->params;
    const ttml_view *v = &l->in[0];
    char sa[80], sb[80];
    if (v->ndim < 2 || v->shape[v->ndim - 1] % 2 != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "ttsim kernel '%s': in[0] shape %s must be [..., S, D] with D even (out[0] shape %s)", name,
                    ttsim_view_shape_str(v, sa, sizeof sa), ttsim_view_shape_str(&l->out[0], sb, sizeof sb));
        return TTSIM_NATIVE_ERROR;
    }
    if (view_numel(v) != view_numel(&l->out[0])) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "ttsim kernel '%s': in[0] of shape %s and out[0] of shape %s must have the same number "
                    "of elements (%" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT ")",
                    name, ttsim_view_shape_str(v, sa, sizeof sa), ttsim_view_shape_str(&l->out[0], sb, sizeof sb), view_numel(v),
                    view_numel(&l->out[0]));
        return TTSIM_NATIVE_ERROR;
    }
    if (p->pos_offset < 0 || !(p->theta > 0.0f) || !isfinite(p->theta)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s': theta %g and pos_offset %" G_GINT64_FORMAT
                    " must be positive and non-negative",
                    name, (double)p->theta, (gint64)p->pos_offset);
        return TTSIM_NATIVE_ERROR;
    }
    const ttsim_shape *si = &c->in[0].s, *so = &c->out[0].s;
    if (si->batch != so->batch || si->rows != so->rows || si->cols != so->cols) {
        c->decline = "rope output of another shape than its input";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    const gint64 S = si->rows, D = si->cols;
    if (c->in[0].numel == 0) return TTSIM_NATIVE_DONE;
    rope_job j = {c->d, &c->in[0].t, &c->out[0].t, NULL, NULL, S, D, sign};
    g_mutex_lock(&rope_lock);
    const rope_table *t = rope_table_get(D, p->theta, p->pos_offset, S);
    j.cosv = t->cs;
    j.sinv = t->cs + S * (D / 2);
    ttsim_grid_run(c->d, ttsim_tiled_tilerows(j.x), TTSIM_TILE * D, rope_core, &j, NULL);
    g_mutex_unlock(&rope_lock);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_rope_fwd(ttsim_native_ctx *c, GError **error)
{
    return native_rope(c, 1.0f, error);
}

static ttsim_native_status native_rope_bwd(ttsim_native_ctx *c, GError **error)
{
    return native_rope(c, -1.0f, error);
}

/* ---- sdpa ---- */

/* sdpa_bwd keeps dS of up to this many floats (whole kv-head groups, at
 * least one group) between its dK / dV and dQ passes. */
#define SDPA_DS_FLOATS ((gint64)16 << 20)

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *q, *k, *v, *o, *dout;   /* inputs                       */
    const ttsim_tiled *out, *dq, *dk, *dv;     /* outputs                      */
    float *lse;                  /* [B*H*Sq]: fwd writes it, bwd reads it      */
    float *di;                   /* bwd: rowsum(dO * O) [B*H*Sq]               */
    float *ds;                   /* bwd: dS [heads of the chunk][Sq][Skv]      */
    gint64 g0;                   /* bwd: first kv head (b * G + g) of the chunk */
    gint64 B, H, G, Sq, Skv, D;
    gint64 Dp;                   /* padded head size: row stride of the tile-rows */
    gint64 off;                  /* Skv - Sq                                   */
    gint64 n_qt, n_kt;           /* tile-rows of q / k per head                */
    float scale;
    int causal;
    int bits_q, bits_kv;         /* operand A / B mantissa bits (23: all)      */
} sdpa_job;

/* Keys visible to query row i (a prefix of the keys). */
static inline gint64 row_kv_len(const sdpa_job *j, gint64 i)
{
    return j->causal ? MIN(j->Skv, i + j->off + 1) : j->Skv;
}

/* K / V of kv head bg in a core's scratch: tile-rows [0, have) unpacked.
 * Units of the same kv head follow each other on a core, so each K / V
 * tile-row is unpacked about once per core. */
typedef struct {
    gint64 bg, have;
    float *kb, *vb;              /* n_kt * 32 rows of Dp (vb NULL: K only)     */
} kv_cache;

static void kv_need(const sdpa_job *j, kv_cache *kc, gint64 bg, gint64 kv)
{
    const gint64 need = (kv + TTSIM_TILE - 1) / TTSIM_TILE;
    if (kc->bg != bg) {
        kc->bg = bg;
        kc->have = 0;
    }
    for (gint64 t = kc->have; t < need; t++) {
        tilerow_get_bits(j->k, bg * j->n_kt + t, kc->kb + t * TTSIM_TILE * j->Dp, j->bits_kv);
        if (kc->vb) tilerow_get_bits(j->v, bg * j->n_kt + t, kc->vb + t * TTSIM_TILE * j->Dp, j->bits_kv);
    }
    kc->have = MAX(kc->have, need);
}

/* forward: unit u = (b, h, q tile-row) */
ATTN_VEC static void sdpa_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sdpa_job *j = ctx;
    const gint64 Dp = j->Dp, T = TTSIM_TILE, kvp = j->n_kt * T;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)(2 * kvp * Dp + 2 * T * Dp + T * kvp) * sizeof(float));
    kv_cache kc = {-1, 0, buf, buf + kvp * Dp};
    float *qb = kc.vb + kvp * Dp, *ob = qb + T * Dp, *sc = ob + T * Dp;
    for (gint64 u = begin; u < end; u++) {
        const gint64 bh = u / j->n_qt, qt = u % j->n_qt;
        const gint64 b = bh / j->H, h = bh % j->H, bg = b * j->G + h / (j->H / j->G);
        const gint64 i0 = qt * T, m = MIN(T, j->Sq - i0);
        const gint64 kv = j->causal ? MIN(j->Skv, i0 + m + j->off) : j->Skv;
        kv_need(j, &kc, bg, kv);
        tilerow_get_bits(j->q, bh * j->n_qt + qt, qb, j->bits_q);
        ttsim_sgemm(0, 1, m, kv, Dp, j->scale, qb, Dp, kc.kb, Dp, 0.0f, sc, kv);
        for (gint64 r = 0; r < m; r++) {
            float *row = sc + r * kv;
            const gint64 n = row_kv_len(j, i0 + r);
            const float mx = ttml_km_row8_max(row, n);
            for (gint64 c = 0; c < n; c++) row[c] = ttml_km_attn_expf(row[c] - mx);
            const float sum = ttml_km_row8_sum(row, n);
            const float inv = 1.0f / sum;
            for (gint64 c = 0; c < n; c++) row[c] *= inv;
            for (gint64 c = n; c < kv; c++) row[c] = 0.0f;
            j->lse[bh * j->Sq + i0 + r] = mx + logf(sum);
        }
        ttsim_sgemm(0, 0, m, Dp, kv, 1.0f, sc, kv, kc.vb, Dp, 0.0f, ob, Dp);
        ttsim_tilerow_put(j->out, bh * j->n_qt + qt, ob);
    }
}

/* backward pass 1: unit u = (b, h, q tile-row) -> rowsum(dO O) */
ATTN_VEC static void sdpa_di_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sdpa_job *j = ctx;
    const gint64 Dp = j->Dp, T = TTSIM_TILE;
    float *dob = ttsim_worker_scratch(j->d, worker, 0, (size_t)(2 * T * Dp) * sizeof(float));
    float *ob = dob + T * Dp;
    for (gint64 u = begin; u < end; u++) {
        const gint64 bh = u / j->n_qt, i0 = (u % j->n_qt) * T, m = MIN(T, j->Sq - i0);
        ttsim_tilerow_get(j->dout, u, dob);
        ttsim_tilerow_get(j->o, u, ob);
        for (gint64 r = 0; r < m; r++) j->di[bh * j->Sq + i0 + r] = ttml_km_row8_dot(dob + r * Dp, ob + r * Dp, j->D);
    }
}

/* backward pass 2: unit u = (b, kv head, kv tile-row) of the chunk -> dK, dV
 * rows and the dS columns of these keys */
ATTN_VEC static void sdpa_dkv_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sdpa_job *j = ctx;
    const gint64 Dp = j->Dp, T = TTSIM_TILE, sqp = j->n_qt * T, rep = j->H / j->G;
    float *buf = ttsim_worker_scratch(j->d, worker, 0,
                                      (size_t)(4 * T * Dp + 2 * sqp * Dp + 2 * sqp * T) * sizeof(float));
    float *kb = buf, *vb = kb + T * Dp, *dkb = vb + T * Dp, *dvb = dkb + T * Dp;
    float *qb = dvb + T * Dp, *dob = qb + sqp * Dp, *Pt = dob + sqp * Dp, *dSt = Pt + sqp * T;
    for (gint64 u = j->g0 * j->n_kt + begin; u < j->g0 * j->n_kt + end; u++) {
        const gint64 bg = u / j->n_kt, kt = u % j->n_kt, b = bg / j->G, g = bg % j->G;
        const gint64 j0 = kt * T, kvb = MIN(T, j->Skv - j0);
        /* the first query tile-row with a query that sees key j0 */
        const gint64 qt0 = j->causal ? MAX((gint64)0, j0 - j->off) / T : 0;
        const gint64 r0 = qt0 * T, nq = j->Sq - r0;
        tilerow_get_bits(j->k, u, kb, j->bits_kv);
        tilerow_get_bits(j->v, u, vb, j->bits_kv);
        memset(dkb, 0, (size_t)(2 * T * Dp) * sizeof(float));
        for (gint64 h = g * rep; nq > 0 && h < (g + 1) * rep; h++) {
            const gint64 bh = b * j->H + h;
            const float *lse = j->lse + bh * j->Sq + r0, *di = j->di + bh * j->Sq + r0;
            float *ds = j->ds + (bh - j->g0 * rep) * j->Sq * j->Skv;
            for (gint64 qt = qt0; qt < j->n_qt; qt++) {
                tilerow_get_bits(j->q, bh * j->n_qt + qt, qb + (qt - qt0) * T * Dp, j->bits_q);
                ttsim_tilerow_get(j->dout, bh * j->n_qt + qt, dob + (qt - qt0) * T * Dp);
            }
            /* transposed blocks (keys x queries), so that every product is
             * NN or NT: P^T = exp(scale K_blk Q^T - lse), masked entries 0 */
            ttsim_sgemm(0, 1, kvb, nq, Dp, j->scale, kb, Dp, qb, Dp, 0.0f, Pt, nq);
            for (gint64 c = 0; c < kvb; c++) {
                float *row = Pt + c * nq;
                /* key j0 + c is seen by queries i >= j0 + c - off */
                const gint64 rs = j->causal ? MIN(nq, MAX((gint64)0, j0 + c - j->off - r0)) : 0;
                for (gint64 r = 0; r < rs; r++) row[r] = 0.0f;
                for (gint64 r = rs; r < nq; r++) row[r] = ttml_km_attn_expf(row[r] - lse[r]);
            }
            /* dV += P^T dO;  dP^T = V_blk dO^T;  dS^T = P^T (dP^T - rowsum(dO O));  dK += scale dS^T Q */
            ttsim_sgemm(0, 0, kvb, Dp, nq, 1.0f, Pt, nq, dob, Dp, 1.0f, dvb, Dp);
            ttsim_sgemm(0, 1, kvb, nq, Dp, 1.0f, vb, Dp, dob, Dp, 0.0f, dSt, nq);
            for (gint64 c = 0; c < kvb; c++) {
                const float *pr = Pt + c * nq;
                float *dsr = dSt + c * nq;
                for (gint64 r = 0; r < nq; r++) dsr[r] = pr[r] * (dsr[r] - di[r]);
            }
            ttsim_sgemm(0, 0, kvb, Dp, nq, j->scale, dSt, nq, qb, Dp, 1.0f, dkb, Dp);
            /* keep dS (queries x keys) for pass 3 */
            for (gint64 r = 0; r < nq; r++)
                for (gint64 c = 0; c < kvb; c++) ds[(r0 + r) * j->Skv + j0 + c] = dSt[c * nq + r];
        }
        ttsim_tilerow_put(j->dk, u, dkb);
        ttsim_tilerow_put(j->dv, u, dvb);
    }
}

/* backward pass 3: unit u = (b, h, q tile-row) of the chunk -> dQ = scale dS K */
ATTN_VEC static void sdpa_dq_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sdpa_job *j = ctx;
    const gint64 Dp = j->Dp, T = TTSIM_TILE, kvp = j->n_kt * T, rep = j->H / j->G;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)(kvp * Dp + T * Dp) * sizeof(float));
    kv_cache kc = {-1, 0, buf, NULL};
    float *dqb = buf + kvp * Dp;
    for (gint64 u = j->g0 * rep * j->n_qt + begin; u < j->g0 * rep * j->n_qt + end; u++) {
        const gint64 bh = u / j->n_qt, qt = u % j->n_qt;
        const gint64 i0 = qt * T, m = MIN(T, j->Sq - i0);
        const gint64 kv = j->causal ? MIN(j->Skv, i0 + m + j->off) : j->Skv;
        kv_need(j, &kc, bh / rep, kv);
        const float *ds = j->ds + ((bh - j->g0 * rep) * j->Sq + i0) * j->Skv;
        ttsim_sgemm(0, 0, m, Dp, kv, j->scale, ds, j->Skv, kc.kb, Dp, 0.0f, dqb, Dp);
        ttsim_tilerow_put(j->dq, u, dqb);
    }
}

/* The cpu kernel's shape checks of q, k, v; fills the sizes of j. */
static gboolean sdpa_check(const ttml_launch *l, const ttml_sdpa_params *p, sdpa_job *j, GError **error)
{
    const ttml_view *q = &l->in[0], *k = &l->in[1], *v = &l->in[2];
    const char *why = ttml_kc_sdpa_problem(q, k, v, p->causal);
    if (why) {
        char sq[80], sk[80], sv[80];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "ttsim kernel '%s': q %s, k %s, v %s: %s", l->kernel,
                    ttsim_view_shape_str(q, sq, sizeof sq), ttsim_view_shape_str(k, sk, sizeof sk), ttsim_view_shape_str(v, sv, sizeof sv), why);
        return FALSE;
    }
    memset(j, 0, sizeof *j);
    j->B = q->shape[0];
    j->H = q->shape[1];
    j->Sq = q->shape[2];
    j->D = q->shape[3];
    j->G = k->shape[1];
    j->Skv = k->shape[2];
    j->off = j->Skv - j->Sq;
    j->Dp = (j->D + TTSIM_TILE - 1) / TTSIM_TILE * TTSIM_TILE;
    j->n_qt = (j->Sq + TTSIM_TILE - 1) / TTSIM_TILE;
    j->n_kt = (j->Skv + TTSIM_TILE - 1) / TTSIM_TILE;
    j->scale = p->scale;
    j->causal = p->causal != 0;
    return TRUE;
}

/* View `v` must have exactly the dims (n, shape). */
static gboolean sdpa_check_out(const ttml_launch *l, const char *slot, const ttml_view *v, int n,
                               const int64_t *shape, GError **error)
{
    gboolean ok = v->ndim == n;
    for (int d = 0; ok && d < n; d++) ok = v->shape[d] == shape[d];
    if (ok) return TRUE;
    char sa[80], sb[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "ttsim kernel '%s': %s has shape %s, expected %s", l->kernel,
                slot, ttsim_view_shape_str(v, sa, sizeof sa), ttml_shape_str(n, shape, sb, sizeof sb));
    return FALSE;
}

static ttsim_native_status native_sdpa_fwd(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (l->n_in != 3 || l->n_out != 2 || !l->params || l->params_size < G_STRUCT_OFFSET(ttml_sdpa_params, precision)) {
        c->decline = "sdpa_fwd needs 3 inputs, 2 outputs and ttml_sdpa_params";
        return TTSIM_NATIVE_DECLINE;
    }
    sdpa_job j;
    if (!sdpa_check(l, l->params, &j, error)) return TTSIM_NATIVE_ERROR;
    const int64_t lse_shape[3] = {j.B, j.H, j.Sq};
    if (!sdpa_check_out(l, "out[0] (o)", &l->out[0], 4, l->in[0].shape, error) ||
        !sdpa_check_out(l, "out[1] (lse)", &l->out[1], 3, lse_shape, error))
        return TTSIM_NATIVE_ERROR;
    if (!ttsim_blas_load()) {
        c->decline = "OpenBLAS (libopenblas.so.0) is not available";
        return TTSIM_NATIVE_DECLINE;
    }
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 2; o++)
            if (l->in[i].buf == l->out[o].buf) {
                c->decline = "sdpa_fwd with an output aliasing an input";
                return TTSIM_NATIVE_DECLINE;
            }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    if (j.B == 0 || j.H == 0 || j.Sq == 0) return TTSIM_NATIVE_DONE;
    ttsim_device *d = c->d;
    j.d = d;
    j.q = &c->in[0].t;
    j.k = &c->in[1].t;
    j.v = &c->in[2].t;
    j.out = &c->out[0].t;
    fidelity_bits(d, &j.bits_q, &j.bits_kv);
    j.lse = dev_scratch(d, 0, (size_t)(j.B * j.H * j.Sq));
    int prev = ttsim_blas_single_begin();
    ttsim_grid_run(d, j.B * j.H * j.n_qt, TTSIM_TILE * j.Skv * j.Dp, sdpa_fwd_core, &j, NULL);
    ttsim_blas_single_end(prev);
    ttsim_tiled_from_host(&c->out[1].t, j.lse);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_sdpa_bwd(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (l->n_in != 6 || l->n_out != 3 || !l->params || l->params_size < G_STRUCT_OFFSET(ttml_sdpa_params, precision)) {
        c->decline = "sdpa_bwd needs 6 inputs, 3 outputs and ttml_sdpa_params";
        return TTSIM_NATIVE_DECLINE;
    }
    sdpa_job j;
    if (!sdpa_check(l, l->params, &j, error)) return TTSIM_NATIVE_ERROR;
    const int64_t lse_shape[3] = {j.B, j.H, j.Sq};
    if (!sdpa_check_out(l, "in[3] (o)", &l->in[3], 4, l->in[0].shape, error) ||
        !sdpa_check_out(l, "in[4] (lse)", &l->in[4], 3, lse_shape, error) ||
        !sdpa_check_out(l, "in[5] (do)", &l->in[5], 4, l->in[0].shape, error) ||
        !sdpa_check_out(l, "out[0] (dq)", &l->out[0], 4, l->in[0].shape, error) ||
        !sdpa_check_out(l, "out[1] (dk)", &l->out[1], 4, l->in[1].shape, error) ||
        !sdpa_check_out(l, "out[2] (dv)", &l->out[2], 4, l->in[2].shape, error))
        return TTSIM_NATIVE_ERROR;
    if (!ttsim_blas_load()) {
        c->decline = "OpenBLAS (libopenblas.so.0) is not available";
        return TTSIM_NATIVE_DECLINE;
    }
    for (int i = 0; i < 6; i++)
        for (int o = 0; o < 3; o++)
            if (l->in[i].buf == l->out[o].buf) {
                c->decline = "sdpa_bwd with an output aliasing an input";
                return TTSIM_NATIVE_DECLINE;
            }
    if (l->out[1].buf == l->out[0].buf || l->out[2].buf == l->out[0].buf || l->out[2].buf == l->out[1].buf) {
        c->decline = "sdpa_bwd with outputs sharing a buffer";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    if (j.B == 0) return TTSIM_NATIVE_DONE;
    ttsim_device *d = c->d;
    j.d = d;
    j.q = &c->in[0].t;
    j.k = &c->in[1].t;
    j.v = &c->in[2].t;
    j.o = &c->in[3].t;
    j.dout = &c->in[5].t;
    j.dq = &c->out[0].t;
    j.dk = &c->out[1].t;
    j.dv = &c->out[2].t;
    fidelity_bits(d, &j.bits_q, &j.bits_kv);
    const size_t rows = (size_t)(j.B * j.H * j.Sq);
    j.lse = dev_scratch(d, 0, rows);
    j.di = dev_scratch(d, 1, rows);
    const gint64 rep = j.H / j.G, n_groups = j.B * j.G;
    /* dS of whole kv-head groups, at most about SDPA_DS_FLOATS at a time */
    const gint64 group_floats = MAX((gint64)1, rep * j.Sq * j.Skv);
    const gint64 chunk = MAX((gint64)1, MIN(n_groups, SDPA_DS_FLOATS / group_floats));
    j.ds = dev_scratch(d, 2, (size_t)(chunk * group_floats));
    if (rows > 0) ttsim_tiled_to_host(&c->in[4].t, j.lse);
    int prev = ttsim_blas_single_begin();
    if (rows > 0) ttsim_grid_run(d, j.B * j.H * j.n_qt, 2 * TTSIM_TILE * j.Dp, sdpa_di_core, &j, NULL);
    for (j.g0 = 0; j.g0 < n_groups; j.g0 += chunk) {
        const gint64 ng = MIN(chunk, n_groups - j.g0);
        ttsim_grid_run(d, ng * j.n_kt, 4 * TTSIM_TILE * MAX(j.Sq, (gint64)1) * j.Dp * rep + 1, sdpa_dkv_core, &j,
                       NULL);
        if (rows > 0)
            ttsim_grid_run(d, ng * rep * j.n_qt, TTSIM_TILE * j.Skv * j.Dp, sdpa_dq_core, &j, NULL);
    }
    ttsim_blas_single_end(prev);
    return TTSIM_NATIVE_DONE;
}

const ttsim_native_entry ttsim_native_attn_kernels[] = {
    {TTML_KERNEL_NAME(rope_fwd), native_rope_fwd},
    {TTML_KERNEL_NAME(rope_bwd), native_rope_bwd},
    {TTML_KERNEL_NAME(sdpa_fwd), native_sdpa_fwd},
    {TTML_KERNEL_NAME(sdpa_bwd), native_sdpa_bwd},
    {NULL, NULL},
};
