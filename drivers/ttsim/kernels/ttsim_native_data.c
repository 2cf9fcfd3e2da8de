/* drivers/ttsim/kernels/ttsim_native_data.c - native data-movement kernels on the
 * tile images: embedding_fwd, embedding_bwd, transpose_last2, strided_copy
 * (ttml/kernels_nn.h), heads_split, heads_merge (ttml/kernels_attn.h). The
 * semantics are the cpu driver's (drivers/cpu/kernels/cpu_kernels_nn_data.c,
 * cpu_kernels_attn.c), including their error checks.
 *
 * How each splits its work over the grid:
 *   embedding_fwd    units = output tile-rows: a core gathers the 32 weight
 *                    rows of its tile-row (ttsim_row_get) and packs it.
 *   embedding_bwd    units = column tiles of dweight: a core owns whole
 *                    columns of dweight for all V rows, accumulates the dy
 *                    rows into an f32 scratch in token order (the cpu
 *                    kernel's order, so the sums are identical) and packs
 *                    its column of tiles. Race-free without atomics.
 *   transpose_last2  units = output tiles: output tile (b, j, i) is the
 *                    transpose of input tile (b, i, j).
 *   strided_copy     units = output rows touched by the copy: a core gathers
 *                    the source elements of each of its rows and stores the
 *                    face rows (block-float blocks) the copy touches; the others
 *                    keep their values.
 *   heads_split      units = output tile-rows of [B, H, S, D]: each row is
 *                    the columns [h*D, h*D + D) of an input row.
 *   heads_merge      units = output tile-rows of [B, 1, S, H*D]: each row
 *                    is the concatenation of H input rows.
 * Copies move stored values: they are exact in every storage format (a
 * Bfp8_b / Bfp4_b block regrouped with other values is rounded again, as the
 * converted path does).
 */
#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"

#include <stdarg.h>

/* ---- shared helpers ---- */

/* Decline unless the launch has n_in / n_out slots of the given dtypes
 * (in_u32: bit i set = in[i] is u32) and, when params_size > 0, params. */
static gboolean slots_ok(ttsim_native_ctx *c, int n_in, int n_out, unsigned in_u32, size_t params_size)
{
    const ttml_launch *l = c->l;
    if (l->n_in != n_in || l->n_out != n_out || (params_size && (!l->params || l->params_size < params_size))) {
        c->decline = "unexpected slot counts or params";
        return FALSE;
    }
    for (int i = 0; i < n_in; i++) {
        ttml_dtype want = (in_u32 >> i) & 1u ? TTML_DTYPE_U32 : TTML_DTYPE_F32;
        if (l->in[i].dtype != want) {
            c->decline = "an input of an unexpected dtype";
            return FALSE;
        }
    }
    return TRUE;
}

/* dst[k] = t[row r, column c0 + k] for k < n: unpacks only the face rows
 * (blocks of 16 columns) that hold those columns. */
static void row_get_cols(const ttsim_tiled *t, gint64 r, gint64 c0, gint64 n, float *dst)
{
    gint64 g;
    int i;
    ttsim_row_loc(t, r, &g, &i);
    const int f0 = (i / TTSIM_FACE) * 2, fr = i % TTSIM_FACE;
    for (gint64 cb = c0 / TTSIM_FACE * TTSIM_FACE; cb < c0 + n; cb += TTSIM_FACE) {
        const guint8 *p = t->data + (size_t)(g * t->ct + cb / TTSIM_TILE) * t->tile_bytes;
        const int h = (int)(cb % TTSIM_TILE) / TTSIM_FACE;
        float v[16];
        ttsim_get16(t->fmt, p, (f0 + h) * TTSIM_FACE + fr, v);
        const gint64 lo = MAX(cb, c0), hi = MIN(cb + TTSIM_FACE, c0 + n);
        memcpy(dst + (lo - c0), v + (lo - cb), (size_t)(hi - lo) * sizeof(float));
    }
}

/* Store the blocks of row r that overlap columns [c0, c1) from row[]
 * (indexed by column; columns past the logical end are stored as 0). */
static void row_put_cols(const ttsim_tiled *t, gint64 r, gint64 c0, gint64 c1, const float *row)
{
    gint64 g;
    int i;
    ttsim_row_loc(t, r, &g, &i);
    const int f0 = (i / TTSIM_FACE) * 2, fr = i % TTSIM_FACE;
    for (gint64 cb = c0 / TTSIM_FACE * TTSIM_FACE; cb < c1; cb += TTSIM_FACE) {
        guint8 *p = t->data + (size_t)(g * t->ct + cb / TTSIM_TILE) * t->tile_bytes;
        const int h = (int)(cb % TTSIM_TILE) / TTSIM_FACE;
        float v[16] = {0};
        memcpy(v, row + cb, (size_t)MIN((gint64)TTSIM_FACE, t->s.cols - cb) * sizeof(float));
        ttsim_put16(t->fmt, p, (f0 + h) * TTSIM_FACE + fr, v);
    }
}

/* ---- output tile-rows filled row by row ---- */

/* fill(job, n, row): logical row n (b * rows + r) of the output into row. */
typedef void (*row_fill_fn)(const void *job, gint64 n, float *row);

/* Output tile-rows [begin, end) of o: each valid row filled by fill(),
 * then the tile-row packed (scratch slot 0 of the worker). */
static void put_rows(ttsim_device *d, const ttsim_tiled *o, gint64 begin, gint64 end, int worker, row_fill_fn fill,
                     const void *job)
{
    const gint64 ld = o->ct * TTSIM_TILE;
    float *buf = ttsim_worker_scratch(d, worker, 0, (size_t)(TTSIM_TILE * ld) * sizeof(float));
    for (gint64 g = begin; g < end; g++) {
        const gint64 r0 = (g % o->rt) * TTSIM_TILE, base = (g / o->rt) * o->s.rows;
        const gint64 rows = MIN((gint64)TTSIM_TILE, o->s.rows - r0);
        for (gint64 i = 0; i < rows; i++) fill(job, base + r0 + i, buf + i * ld);
        ttsim_tilerow_put(o, g, buf);
    }
}

/* ---- embedding ---- */

typedef struct {
    ttsim_device *d;
    const guint32 *ids;
    const ttsim_tiled *w, *dy, *out;
} emb_job;

/* output row n = the weight row of token n */
static void emb_fwd_row(const void *job, gint64 n, float *row)
{
    const emb_job *j = job;
    ttsim_row_get(j->w, j->ids[n], row);
}

/* unit = output tile-row g: 32 tokens, each a weight row */
static void emb_fwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const emb_job *j = ctx;
    put_rows(j->d, j->out, begin, end, worker, emb_fwd_row, j);
}

/* The cpu kernels' weight check: a 2-D [V, E] view. */
static gboolean weight_ok(ttsim_native_ctx *c, const ttml_view *w, const char *name, GError **error)
{
    if (w->ndim == 2) return TRUE;
    char s[80];
    ttsim_native_fail(c, error, TTML_ERROR_SHAPE, "%s must be 2-D [V, E], got shape %s", name, ttsim_view_shape_str(w, s, sizeof s));
    return FALSE;
}

/* The checks embedding_fwd and embedding_bwd share: the weight (fwd: in[1];
 * bwd: out[0], dweight) is a 2-D [V, E] view, the rows tensor (fwd: out[0];
 * bwd: in[1], dy) holds N x E elements (N = ids) with last dim E, every id
 * is < V. DONE with *V, *E set when they pass; else DECLINE or ERROR. */
static ttsim_native_status emb_check(ttsim_native_ctx *c, gboolean bwd, gint64 *V, gint64 *E, GError **error)
{
    if (!slots_ok(c, 2, 1, 1u, 0)) return TTSIM_NATIVE_DECLINE;
    const ttml_launch *l = c->l;
    const ttml_view *w = bwd ? &l->out[0] : &l->in[1], *rv = bwd ? &l->in[1] : &l->out[0];
    const ttsim_operand *r = bwd ? &c->in[1] : &c->out[0];
    if (!weight_ok(c, w, bwd ? "out[0] (dweight)" : "in[1] (weight)", error)) return TTSIM_NATIVE_ERROR;
    const gint64 N = c->in[0].numel;
    *V = w->shape[0];
    *E = w->shape[1];
    if (r->numel != N * *E)
        return ttsim_native_count_error(c, rv, bwd ? "in[1] (dy)" : "out[0]", N * *E, "ids x embedding dim", error);
    if (!ttsim_native_ids_ok(c, c->in[0].ids, N, *V, "token", error)) return TTSIM_NATIVE_ERROR;
    if (r->s.cols != *E && N * *E > 0) {
        c->decline = bwd ? "a dy whose last dim is not the embedding dim"
                         : "an output whose last dim is not the embedding dim";
        return TTSIM_NATIVE_DECLINE;
    }
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_embedding_fwd(ttsim_native_ctx *c, GError **error)
{
    gint64 V, E;
    const gint64 N = c->in[0].numel;
    ttsim_native_status st = emb_check(c, FALSE, &V, &E, error);
    if (st != TTSIM_NATIVE_DONE) return st;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    if (N * E == 0) return TTSIM_NATIVE_DONE;
    emb_job j = {c->d, c->in[0].ids, &c->in[1].t, NULL, &c->out[0].t};
    ttsim_grid_run(c->d, ttsim_tiled_tilerows(j.out), TTSIM_TILE * E, emb_fwd_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

/* unit = column tile tc of dweight: rows of dy (32 columns each) added
 * into the rows ids[n] of a [V, 32] f32 scratch, in token order */
static void emb_bwd_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const emb_job *j = ctx;
    const ttsim_tiled *dy = j->dy, *o = j->out;
    const size_t acc_n = (size_t)(o->rt * TTSIM_TILE * TTSIM_TILE);
    float *acc = ttsim_worker_scratch(j->d, worker, 0, acc_n * sizeof(float));
    float *tile = ttsim_worker_scratch(j->d, worker, 1, TTSIM_TILE_ELEMS * sizeof(float));
    for (gint64 tc = begin; tc < end; tc++) {
        memset(acc, 0, acc_n * sizeof(float));
        for (gint64 g = 0; g < ttsim_tiled_tilerows(dy); g++) {
            const gint64 b = g / dy->rt, r0 = (g % dy->rt) * TTSIM_TILE;
            const gint64 rows = MIN((gint64)TTSIM_TILE, dy->s.rows - r0);
            ttsim_tile_get(dy, g * dy->ct + tc, tile);
            for (gint64 i = 0; i < rows; i++) {
                float *dst = acc + (size_t)j->ids[b * dy->s.rows + r0 + i] * TTSIM_TILE;
                const float *src = tile + i * TTSIM_TILE;
                for (int k = 0; k < TTSIM_TILE; k++) dst[k] += src[k];
            }
        }
        for (gint64 tr = 0; tr < o->rt; tr++)
            ttsim_tile_put_ld(o, tr * o->ct + tc, acc + tr * TTSIM_TILE * TTSIM_TILE, TTSIM_TILE);
    }
}

static ttsim_native_status native_embedding_bwd(ttsim_native_ctx *c, GError **error)
{
    gint64 V, E;
    const gint64 N = c->in[0].numel;
    ttsim_native_status st = emb_check(c, TRUE, &V, &E, error);
    if (st != TTSIM_NATIVE_DONE) return st;
    const ttml_launch *l = c->l;
    if (l->in[1].buf == l->out[0].buf) {
        c->decline = "dweight aliasing dy";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    emb_job j = {c->d, c->in[0].ids, NULL, &c->in[1].t, &c->out[0].t};
    ttsim_grid_run(c->d, j.out->ct, (N + V) * TTSIM_TILE, emb_bwd_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

/* ---- transpose of the last two dims ---- */

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *x, *out;
} tr_job;

/* unit = output tile u = (b, j, i) <- input tile (b, i, j) transposed */
static void transpose_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const tr_job *j = ctx;
    const ttsim_tiled *x = j->x, *o = j->out;
    float *in = ttsim_worker_scratch(j->d, worker, 0, 2 * TTSIM_TILE_ELEMS * sizeof(float));
    float *t = in + TTSIM_TILE_ELEMS;
    const gint64 per = o->rt * o->ct;
    for (gint64 u = begin; u < end; u++) {
        const gint64 b = u / per, tj = (u % per) / o->ct, ti = u % o->ct;
        ttsim_tile_get(x, b * per + ti * x->ct + tj, in);
        for (int r = 0; r < TTSIM_TILE; r++)
            for (int k = 0; k < TTSIM_TILE; k++) t[r * TTSIM_TILE + k] = in[k * TTSIM_TILE + r];
        ttsim_tile_put(o, u, t);
    }
}

static ttsim_native_status native_transpose_last2(ttsim_native_ctx *c, GError **error)
{
    if (!slots_ok(c, 1, 1, 0u, 0)) return TTSIM_NATIVE_DECLINE;
    const ttml_view *in = &c->l->in[0], *out = &c->l->out[0];
    if (in->ndim < 2 || out->ndim < 2 || in->shape[in->ndim - 1] != out->shape[out->ndim - 2] ||
        in->shape[in->ndim - 2] != out->shape[out->ndim - 1] || c->in[0].numel != c->out[0].numel) {
        char sa[80], sb[80];
        return ttsim_native_fail(c, error, TTML_ERROR_SHAPE,
                    "in[0] of shape %s and out[0] of shape %s do not fit: out must be in with its last two "
                    "dims swapped",
                    ttsim_view_shape_str(in, sa, sizeof sa), ttsim_view_shape_str(out, sb, sizeof sb));
    }
    if (in->buf == out->buf) {
        c->decline = "an in-place transpose";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    if (c->out[0].numel == 0) return TTSIM_NATIVE_DONE;
    tr_job j = {c->d, &c->in[0].t, &c->out[0].t};
    ttsim_grid_run(c->d, ttsim_tiled_count(j.out), TTSIM_TILE_ELEMS, transpose_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

/* ---- strided copy ---- */

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *x, *out;
    ttml_strided_copy_params p;  /* out_stride >= len (runs do not overlap)    */
    gint64 row0;                 /* first output row touched                   */
} sc_job;

/* unit = output row r = row0 + u: gather its runs from the source (which
 * may cross source rows), keep the other columns, store the touched blocks */
static void scopy_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const sc_job *j = ctx;
    const ttml_strided_copy_params *p = &j->p;
    const gint64 C = j->out->s.cols, Cin = j->x->s.cols;
    float *row = ttsim_worker_scratch(j->d, worker, 0, (size_t)(C + TTSIM_TILE) * sizeof(float));
    for (gint64 u = begin; u < end; u++) {
        const gint64 r = j->row0 + u, R0 = r * C, R1 = R0 + C;
        /* runs o in [o_lo, o_hi) overlap [R0, R1) */
        const gint64 lo_num = R0 - p->out_offset - p->len, hi_num = R1 - p->out_offset;
        gint64 o_lo = lo_num < 0 ? 0 : lo_num / p->out_stride + 1;
        gint64 o_hi = hi_num <= 0 ? 0 : (hi_num + p->out_stride - 1) / p->out_stride;
        o_hi = MIN(o_hi, p->outer);
        if (o_lo >= o_hi) continue;
        const gint64 c0 = MAX(o_lo * p->out_stride + p->out_offset, R0) - R0;
        const gint64 c1 = MIN((o_hi - 1) * p->out_stride + p->out_offset + p->len, R1) - R0;
        /* the columns of [c0, c1) between runs and the edges of partly
         * covered blocks keep their values */
        const gboolean covered = p->out_stride == p->len || o_hi - o_lo == 1;
        const gint64 b0 = c0 / TTSIM_FACE * TTSIM_FACE, b1 = MIN(C, (c1 + TTSIM_FACE - 1) / TTSIM_FACE * TTSIM_FACE);
        if (!covered || b0 != c0 || b1 != c1) row_get_cols(j->out, r, b0, b1 - b0, row + b0);
        for (gint64 o = o_lo; o < o_hi; o++) {
            const gint64 run = o * p->out_stride + p->out_offset;
            const gint64 a = MAX(run, R0), e = MIN(run + p->len, R1);
            gint64 s = o * p->in_stride + p->in_offset + (a - run), n = e - a;
            float *dst = row + (a - R0);
            while (n > 0) {
                const gint64 sc = s % Cin, k = MIN(n, Cin - sc);
                row_get_cols(j->x, s / Cin, sc, k, dst);
                dst += k;
                s += k;
                n -= k;
            }
        }
        row_put_cols(j->out, r, c0, c1, row);
    }
}

/* TRUE when every index o * stride + offset + j (o < outer, j < len) lies
 * in [0, numel) (the cpu kernel's check). */
static gboolean strided_fits(gint64 outer, gint64 len, gint64 stride, gint64 offset, gint64 numel)
{
    if (outer <= 0 || len <= 0) return TRUE;
    if (stride < 0 || offset < 0 || len > G_MAXINT64 - offset) return FALSE;
    if (stride > 0 && outer - 1 > (G_MAXINT64 - offset - len) / stride) return FALSE;
    return (outer - 1) * stride + offset + len <= numel;
}

static ttsim_native_status native_strided_copy(ttsim_native_ctx *c, GError **error)
{
    if (!slots_ok(c, 1, 1, 0u, sizeof(ttml_strided_copy_params))) return TTSIM_NATIVE_DECLINE;
    ttml_strided_copy_params p = *(const ttml_strided_copy_params *)c->l->params;
    const gint64 n_in = c->in[0].numel, n_out = c->out[0].numel;
    if (p.outer < 0 || p.len < 0 || !strided_fits(p.outer, p.len, p.in_stride, p.in_offset, n_in) ||
        !strided_fits(p.outer, p.len, p.out_stride, p.out_offset, n_out))
        return ttsim_native_fail(c, error, TTML_ERROR_INVALID_ARG,
                    "outer %" G_GINT64_FORMAT " x len %" G_GINT64_FORMAT " with in stride/offset %" G_GINT64_FORMAT
                    "/%" G_GINT64_FORMAT " and out stride/offset %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                    " reaches outside in[0] (%" G_GINT64_FORMAT " elements) or out[0] (%" G_GINT64_FORMAT
                    " elements)",
                    p.outer, p.len, p.in_stride, p.in_offset, p.out_stride, p.out_offset, n_in, n_out);
    if (p.outer > 1 && p.out_stride < p.len) {
        c->decline = "output runs that overlap (out_stride < len)";
        return TTSIM_NATIVE_DECLINE;
    }
    if (c->l->in[0].buf == c->l->out[0].buf) {
        c->decline = "a copy inside one buffer";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    if (p.outer == 0 || p.len == 0) return TTSIM_NATIVE_DONE;
    if (p.outer == 1) p.out_stride = p.len;   /* one run: the stride is never used */
    const gint64 C = c->out[0].s.cols;
    sc_job j = {c->d, &c->in[0].t, &c->out[0].t, p, p.out_offset / C};
    const gint64 last = ((p.outer - 1) * p.out_stride + p.out_offset + p.len - 1) / C;
    ttsim_grid_run(c->d, last - j.row0 + 1, C, scopy_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

/* ---- heads_split / heads_merge ---- */

typedef struct {
    ttsim_device *d;
    const ttsim_tiled *x, *out;
    gint64 H, S, D;
} heads_job;

/* split: output row n = (b*H + h)*S + s of [B*H, S, D] is columns
 * [h*D, h*D + D) of input row b*S + s */
static void heads_split_row(const void *job, gint64 n, float *row)
{
    const heads_job *j = job;
    const gint64 bh = n / j->S, s = n % j->S, b = bh / j->H, h = bh % j->H;
    row_get_cols(j->x, b * j->S + s, h * j->D, j->D, row);
}

/* merge: output row n = b*S + s of the B*S rows of H*D is the rows s of the
 * H heads of batch b side by side */
static void heads_merge_row(const void *job, gint64 n, float *row)
{
    const heads_job *j = job;
    const gint64 b = n / j->S, s = n % j->S;
    for (gint64 h = 0; h < j->H; h++) row_get_cols(j->x, (b * j->H + h) * j->S + s, 0, j->D, row + h * j->D);
}

/* unit = output tile-row g (split: of [B*H, S, D]; merge: of [B*S, H*D]) */
static void heads_split_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const heads_job *j = ctx;
    put_rows(j->d, j->out, begin, end, worker, heads_split_row, j);
}

static void heads_merge_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const heads_job *j = ctx;
    put_rows(j->d, j->out, begin, end, worker, heads_merge_row, j);
}

static ttsim_native_status native_heads(ttsim_native_ctx *c, gboolean split, GError **error)
{
    if (!slots_ok(c, 1, 1, 0u, 0)) return TTSIM_NATIVE_DECLINE;
    const ttml_launch *l = c->l;
    const ttml_view *heads = split ? &l->out[0] : &l->in[0];
    const ttml_view *flat = split ? &l->in[0] : &l->out[0];
    if (heads->ndim != 4 || flat->ndim < 1 || flat->shape[flat->ndim - 1] != heads->shape[1] * heads->shape[3] ||
        c->in[0].numel != c->out[0].numel) {
        char sh[80], sf[80];
        return ttsim_native_fail(c, error, TTML_ERROR_SHAPE,
                    "%s shape %s and %s shape %s do not fit; expected [B, 1, S, H*D] and [B, H, S, D]",
                    split ? "in[0]" : "out[0]", ttsim_view_shape_str(flat, sf, sizeof sf), split ? "out[0]" : "in[0]",
                    ttsim_view_shape_str(heads, sh, sizeof sh));
    }
    if (l->in[0].buf == l->out[0].buf) {
        c->decline = "an in-place head permutation";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    heads_job j = {c->d, &c->in[0].t, &c->out[0].t, heads->shape[1], heads->shape[2], heads->shape[3]};
    if (c->out[0].numel == 0) return TTSIM_NATIVE_DONE;
    ttsim_grid_run(c->d, ttsim_tiled_tilerows(j.out), TTSIM_TILE * j.out->s.cols,
                   split ? heads_split_core : heads_merge_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_heads_split(ttsim_native_ctx *c, GError **error)
{
    return native_heads(c, TRUE, error);
}

static ttsim_native_status native_heads_merge(ttsim_native_ctx *c, GError **error)
{
    return native_heads(c, FALSE, error);
}

const ttsim_native_entry ttsim_native_data_kernels[] = {
    {TTML_KERNEL_NAME(embedding_fwd), native_embedding_fwd},
    {TTML_KERNEL_NAME(embedding_bwd), native_embedding_bwd},
    {TTML_KERNEL_NAME(transpose_last2), native_transpose_last2},
    {TTML_KERNEL_NAME(strided_copy), native_strided_copy},
    {TTML_KERNEL_NAME(heads_split), native_heads_split},
    {TTML_KERNEL_NAME(heads_merge), native_heads_merge},
    {NULL, NULL},
};
