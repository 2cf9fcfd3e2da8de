/* drivers/ttsim/kernels/ttsim_native_eltwise.c - native element-wise kernels (see
 * ttsim_native.c): fill, copy, affine, axpby, relu(_bwd), gelu / silu /
 * swiglu (fwd, bwd), dropout (fwd, bwd), sgd_step, adamw_step, mse_fwd,
 * mse_bwd, sum_sq and binary.
 *
 * Work split: as tt-metal's eltwise programs, the units are the tiles of
 * one tensor (the output; for the 1-element losses mse_fwd / sum_sq the
 * input), split over the cores with split_work_to_cores. A core unpacks the
 * tiles of each operand at its unit, runs the math on the 32 x 32 f32 tile
 * and packs its output tiles (rounding to the storage format, zeroing the
 * padding). Optimizer state (sgd_step, adamw_step) and axpby's y are read and
 * written tile by tile by the core that owns the tile.
 *
 * Operands of the same numel but another shape than the unit tensor (mse
 * with a [N, 1] prediction and an [N] target, a copy that reshapes) are
 * gathered per unit through the flat row-major element index; outputs must
 * share the unit tensor's tile sequence.
 *
 * binary broadcasts each input NumPy-style (4-D, right-aligned) to the
 * output: for output matrix b the input matrix is found from the batch dims,
 * and inside it the input is a full tile (same shape), a row vector (bcast
 * ROW: [C], [1, C]), a column ([R, 1], bcast COL) or a scalar (bcast SCALAR),
 * unpacked once per output tile and replicated over the tile.
 *
 * The math is the cpu driver's (drivers/cpu/cpu_kernels_*.c), term by term,
 * including its exp / tanh / sigmoid (nn_expf), so results equal the
 * converted path's bit for bit except for the order of the double sums of
 * mse_fwd / sum_sq (one partial per core, combined in core order).
 */
/* As cpu_kernels_nn.h: lets the exp loops vectorise (no result changes). */
#pragma GCC optimize("no-trapping-math")

#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"
#include "../../common/ttml_kernel_math.h"   /* the cpu kernels' exp / tanh / sigmoid */

#include <math.h>
#include <string.h>

/* The tile math is compiled for AVX-512, AVX2 and baseline x86-64 and picked
 * at load time, as the cpu driver's TTML_CPU_VEC (bitwise the same results:
 * no FMA contraction under -std=c11, no reassociation). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define EW_VEC __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EW_VEC
#endif

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f


/* ---- operand access ---- */

#define EW_MAX_SRC 4 /* tiles unpacked per unit (adamw: g, p, m, v) */
#define EW_MAX_DST 3 /* tiles packed per unit (adamw: p, m, v)      */
#define TE TTSIM_TILE_ELEMS

/* Position of tile u of t: matrix b, tile row tr, tile col tc, and the
 * valid rows / cols inside it. */
typedef struct {
    gint64 b, tr, tc;
    int vr, vc;
} tile_pos;

static void tile_pos_of(const ttsim_tiled *t, gint64 u, tile_pos *p)
{
    p->tc = u % t->ct;
    p->tr = (u / t->ct) % t->rt;
    p->b = u / (t->ct * t->rt);
    gint64 r = t->s.rows - p->tr * TTSIM_TILE, c = t->s.cols - p->tc * TTSIM_TILE;
    p->vr = r < TTSIM_TILE ? (int)r : TTSIM_TILE;
    p->vc = c < TTSIM_TILE ? (int)c : TTSIM_TILE;
}

/* Logical elements [col, col + n) of logical row `row` (b * rows + r) of t,
 * read block by block (a block = 16 values of one face row). */
static void seg_get(const ttsim_tiled *t, gint64 row, gint64 col, gint64 n, float *dst)
{
    gint64 b = row / t->s.rows, rr = row % t->s.rows;
    gint64 base = (b * t->rt + rr / TTSIM_TILE) * t->ct;
    int i = (int)(rr % TTSIM_TILE);
    while (n > 0) {
        gint64 tc = col / TTSIM_TILE;
        int cc = (int)(col % TTSIM_TILE), off = cc % TTSIM_FACE;
        int blk = ((i / TTSIM_FACE) * 2 + cc / TTSIM_FACE) * TTSIM_FACE + i % TTSIM_FACE;
        float v[16];
        ttsim_get16(t->fmt, t->data + (size_t)(base + tc) * t->tile_bytes, blk, v);
        int m = TTSIM_FACE - off;
        if (m > n) m = (int)n;
        memcpy(dst, v + off, (size_t)m * sizeof(float));
        dst += m;
        col += m;
        n -= m;
    }
}

/* x's values at the elements of tile u of the unit tensor `ut` (same numel,
 * another shape): element (r, c) of the tile is flat element
 * (b * R + tr * 32 + r) * C + tc * 32 + c of both. Padding is set to 0. */
static void gather_tile(const ttsim_tiled *x, const ttsim_tiled *ut, gint64 u, float *dst)
{
    tile_pos p;
    tile_pos_of(ut, u, &p);
    memset(dst, 0, TE * sizeof(float));
    for (int r = 0; r < p.vr; r++) {
        gint64 flat = (p.b * ut->s.rows + p.tr * TTSIM_TILE + r) * ut->s.cols + p.tc * TTSIM_TILE;
        float *o = dst + r * TTSIM_TILE;
        gint64 left = p.vc;
        while (left > 0) {
            gint64 row = flat / x->s.cols, col = flat % x->s.cols;
            gint64 m = MIN(left, x->s.cols - col);
            seg_get(x, row, col, m, o);
            o += m;
            flat += m;
            left -= m;
        }
    }
}

/* ---- launch checks (the cpu kernels' errors, same domain and code) ---- */

static const char *kname(const ttsim_native_ctx *c)
{
    return c->l->kernel ? c->l->kernel : "?";
}

static gboolean check_launch(ttsim_native_ctx *c, int n_in, int n_out, size_t params_size, GError **error)
{
    const ttml_launch *l = c->l;
    if (l->n_in < n_in || l->n_out < n_out) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s': got %d input(s) and %d output(s), needs %d input(s) and "
                    "%d output(s) (see ttml/kernels.h)",
                    kname(c), l->n_in, l->n_out, n_in, n_out);
        return FALSE;
    }
    if (params_size && (!l->params || l->params_size < params_size)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s': params of %zu bytes%s, needs its params struct of %zu "
                    "bytes (see ttml/kernels.h)",
                    kname(c), l->params_size, l->params ? "" : " (NULL)", params_size);
        return FALSE;
    }
    /* f32 inputs (bf16 operands never reach a native kernel; u32 ones do) */
    for (int i = 0; i < n_in; i++)
        if (l->in[i].dtype != TTML_DTYPE_F32) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE,
                        "ttsim kernel '%s': in[%d] is %s, but the kernel takes %s; convert it with the "
                        "'copy' kernel first",
                        kname(c), i, ttml_dtype_name(l->in[i].dtype), ttml_dtype_name(TTML_DTYPE_F32));
            return FALSE;
        }
    return TRUE;
}

static gboolean check_numel(ttsim_native_ctx *c, const ttml_view *a, const ttsim_operand *oa, const char *a_name,
                            const ttml_view *b, const ttsim_operand *ob, const char *b_name, GError **error)
{
    if (oa->numel == ob->numel) return TRUE;
    char sa[80], sb[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                "ttsim kernel '%s': %s of shape %s and %s of shape %s must have the same number "
                "of elements (%" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT ")",
                kname(c), a_name, ttml_shape_str(a->ndim, a->shape, sa, sizeof sa), b_name,
                ttml_shape_str(b->ndim, b->shape, sb, sizeof sb), oa->numel, ob->numel);
    return FALSE;
}

static gboolean check_one(ttsim_native_ctx *c, const ttml_view *v, const ttsim_operand *o, const char *name,
                          GError **error)
{
    if (o->numel == 1) return TRUE;
    char s[80];
    g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "ttsim kernel '%s': %s must have 1 element, got shape %s",
                kname(c), name, ttml_shape_str(v->ndim, v->shape, s, sizeof s));
    return FALSE;
}

/* ---- the element-wise engine ---- */

typedef enum {
    EW_FILL, EW_COPY, EW_AFFINE, EW_AXPBY, EW_RELU, EW_RELU_BWD, EW_GELU_FWD, EW_GELU_BWD, EW_SILU_FWD,
    EW_SILU_BWD, EW_SWIGLU_FWD, EW_SWIGLU_BWD, EW_DROPOUT, EW_SGD, EW_ADAMW, EW_MSE_FWD, EW_MSE_BWD,
    EW_SUM_SQ,
} ew_kind;

typedef struct {
    ttsim_device *d;
    ew_kind kind;
    const ttsim_tiled *ut;               /* unit u = tile u of this tensor    */
    int n_src, n_dst;
    const ttsim_tiled *src[EW_MAX_SRC];  /* unpacked per unit, in order       */
    gboolean gather[EW_MAX_SRC];         /* another shape: gather_tile        */
    const ttsim_tiled *dst[EW_MAX_DST];  /* packed per unit                   */
    float f[6];                          /* the kernel's scalars              */
    int flags;                           /* sgd: 1 = momentum, 2 = first step, 4 = nesterov */
    guint64 seed, counter;               /* dropout                           */
    double *partial;                     /* [cores]: mse_fwd / sum_sq sums     */
} ew_job;

/* Math on one unit. s = unpacked sources, o = output tiles to pack; returns
 * the unit's double sum for the reductions. */
EW_VEC static double ew_tile(const ew_job *j, gint64 u, float *const *s, float *const *o)
{
    /* the unit's tiles: distinct scratch tiles, never aliased */
    const float *restrict s0 = s[0], *restrict s1 = s[1], *restrict s2 = s[2], *restrict s3 = s[3];
    float *restrict o0 = o[0], *restrict o1 = o[1], *restrict o2 = o[2];
    const int n = TE;
    switch (j->kind) {
    case EW_FILL:
        break; /* o0 holds the value already (ew_core) */
    case EW_COPY:
        memcpy(o0, s0, TE * sizeof(float));
        break;
    case EW_AFFINE: {
        const float mul = j->f[0], add = j->f[1];
        for (int i = 0; i < n; i++) o0[i] = s0[i] * mul + add;
        break;
    }
    case EW_AXPBY: {
        const float alpha = j->f[0], beta = j->f[1];
        if (beta == 0.0f) {
            for (int i = 0; i < n; i++) o0[i] = alpha * s0[i];
        } else if (beta == 1.0f) {
            for (int i = 0; i < n; i++) o0[i] = s1[i] + alpha * s0[i];
        } else {
            for (int i = 0; i < n; i++) o0[i] = alpha * s0[i] + beta * s1[i];
        }
        break;
    }
    case EW_RELU:
        for (int i = 0; i < n; i++) o0[i] = s0[i] > 0.0f ? s0[i] : 0.0f;
        break;
    case EW_RELU_BWD:
        for (int i = 0; i < n; i++) o0[i] = s0[i] > 0.0f ? s1[i] : 0.0f;
        break;
    case EW_GELU_FWD:
        for (int i = 0; i < n; i++) {
            const float v = s0[i];
            const float t = ttml_km_tanhf(GELU_K * (v + GELU_C * v * v * v));
            o0[i] = 0.5f * v * (1.0f + t);
        }
        break;
    case EW_GELU_BWD:
        for (int i = 0; i < n; i++) {
            const float v = s0[i];
            const float t = ttml_km_tanhf(GELU_K * (v + GELU_C * v * v * v));
            const float du = GELU_K * (1.0f + 3.0f * GELU_C * v * v);
            o0[i] = s1[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case EW_SILU_FWD:
        for (int i = 0; i < n; i++) o0[i] = s0[i] * ttml_km_sigmoidf(s0[i]);
        break;
    case EW_SILU_BWD:
        for (int i = 0; i < n; i++) {
            const float x = s0[i], sg = ttml_km_sigmoidf(x);
            o0[i] = s1[i] * sg * (1.0f + x * (1.0f - sg));
        }
        break;
    case EW_SWIGLU_FWD:
        for (int i = 0; i < n; i++) o0[i] = s0[i] * ttml_km_sigmoidf(s0[i]) * s1[i];
        break;
    case EW_SWIGLU_BWD:
        for (int i = 0; i < n; i++) {
            const float g = s0[i], sg = ttml_km_sigmoidf(g), d = s2[i];
            o0[i] = d * s1[i] * sg * (1.0f + g * (1.0f - sg));
            o1[i] = d * g * sg;
        }
        break;
    case EW_DROPOUT: {
        /* keep(i) hashes the flat element index: (b * R + tr * 32 + r) * C + tc * 32 + c */
        const ttsim_tiled *t = j->ut;
        tile_pos p;
        tile_pos_of(t, u, &p);
        const float pr = j->f[0], scale = j->f[1];
        const guint64 seed = j->seed, counter = j->counter;
        const guint64 base = (guint64)((p.b * t->s.rows + p.tr * TTSIM_TILE) * t->s.cols + p.tc * TTSIM_TILE);
        for (int r = 0; r < p.vr; r++)
            for (int cc = 0; cc < p.vc; cc++) {
                const int i = r * TTSIM_TILE + cc;
                const guint64 idx = base + (guint64)r * (guint64)t->s.cols + (guint64)cc;
                const guint64 h = ttml_km_mix64(seed ^ ttml_km_mix64(counter + idx));
                const float uu = (float)(h >> 40) * (1.0f / 16777216.0f);
                o0[i] = uu >= pr ? s0[i] * scale : 0.0f;
            }
        break;
    }
    case EW_SGD: {
        /* s = g, p[, buf]; o = p[, buf] */
        const float lr = j->f[0], mom = j->f[1], keep = j->f[2], wd = j->f[3];
        const float *restrict g = s0, *restrict pp = s1, *restrict bf = s2;
        float *restrict po = o0, *restrict bo = o1;
        const int nesterov = (j->flags & 4) != 0;
        if (!(j->flags & 1)) {
            for (int i = 0; i < n; i++) po[i] = pp[i] - lr * (g[i] + wd * pp[i]);
        } else if (j->flags & 2) {
            for (int i = 0; i < n; i++) {
                const float d = g[i] + wd * pp[i];
                bo[i] = d;
                po[i] = nesterov ? pp[i] - lr * (d + mom * d) : pp[i] - lr * d;
            }
        } else {
            for (int i = 0; i < n; i++) {
                const float d = g[i] + wd * pp[i];
                const float b = mom * bf[i] + keep * d;
                bo[i] = b;
                po[i] = nesterov ? pp[i] - lr * (d + mom * b) : pp[i] - lr * b;
            }
        }
        break;
    }
    case EW_ADAMW: {
        /* s = g, p, m, v; o = p, m, v */
        const float decay = j->f[0], b1 = j->f[1], b2 = j->f[2], step_size = j->f[3], inv_sqrt_bc2 = j->f[4],
                    eps = j->f[5];
        const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
        float sq[TE];
        for (int i = 0; i < n; i++) {
            const float gi = s0[i];
            o1[i] = b1 * s2[i] + omb1 * gi;       /* m */
            o2[i] = b2 * s3[i] + omb2 * gi * gi;  /* v */
        }
        /* sqrtf in its own loop: without -fno-math-errno (not settable per
         * file) it does not vectorise, and would keep the rest scalar */
        for (int i = 0; i < n; i++) sq[i] = sqrtf(o2[i]);
        /* p -= lr*wd*p; p -= lr * mhat / (sqrt(vhat) + eps) */
        for (int i = 0; i < n; i++) o0[i] = s1[i] * decay - step_size * o1[i] / (sq[i] * inv_sqrt_bc2 + eps);
        break;
    }
    case EW_MSE_FWD: {
        tile_pos p;
        tile_pos_of(j->ut, u, &p);
        double acc = 0.0;
        for (int r = 0; r < p.vr; r++)
            for (int cc = 0; cc < p.vc; cc++) {
                const double d = (double)s0[r * TTSIM_TILE + cc] - (double)s1[r * TTSIM_TILE + cc];
                acc += d * d;
            }
        return acc;
    }
    case EW_MSE_BWD: {
        const float kf = j->f[0];
        for (int i = 0; i < n; i++) o0[i] = kf * (s0[i] - s1[i]);
        break;
    }
    case EW_SUM_SQ: {
        tile_pos p;
        tile_pos_of(j->ut, u, &p);
        double acc = 0.0;
        for (int r = 0; r < p.vr; r++)
            for (int cc = 0; cc < p.vc; cc++) {
                const double x = (double)s0[r * TTSIM_TILE + cc];
                acc += x * x;
            }
        return acc;
    }
    }
    return 0.0;
}

static void ew_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    const ew_job *j = ctx;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)(EW_MAX_SRC + EW_MAX_DST) * TE * sizeof(float));
    float *s[EW_MAX_SRC], *o[EW_MAX_DST];
    for (int k = 0; k < EW_MAX_SRC; k++) s[k] = buf + (size_t)k * TE;
    for (int k = 0; k < EW_MAX_DST; k++) o[k] = buf + (size_t)(EW_MAX_SRC + k) * TE;
    if (j->kind == EW_FILL)
        for (int i = 0; i < TE; i++) o[0][i] = j->f[0];
    double acc = 0.0;
    for (gint64 u = begin; u < end; u++) {
        for (int k = 0; k < j->n_src; k++) {
            if (j->gather[k]) gather_tile(j->src[k], j->ut, u, s[k]);
            else ttsim_tile_get(j->src[k], u, s[k]);
        }
        acc += ew_tile(j, u, s, o);
        for (int k = 0; k < j->n_dst; k++) ttsim_tile_put(j->dst[k], u, o[k]);
    }
    if (j->partial) j->partial[core] = acc;
}

/* Start a job whose units are the tiles of `ut`. */
static void ew_init(ew_job *j, ttsim_native_ctx *c, ew_kind kind, const ttsim_tiled *ut)
{
    memset(j, 0, sizeof *j);
    j->d = c->d;
    j->kind = kind;
    j->ut = ut;
}

/* Add a source unpacked per unit (gathered when its tile sequence differs). */
static void ew_src(ew_job *j, const ttsim_tiled *t)
{
    j->gather[j->n_src] = !ttsim_same_tiles(&t->s, &j->ut->s);
    j->src[j->n_src++] = t;
}

static void ew_dst(ew_job *j, const ttsim_tiled *t)
{
    j->dst[j->n_dst++] = t;
}

/* Before ttsim_native_outputs: every output `o` of the launch must share
 * the unit tensor's tile sequence, and an input that is also an output
 * must too (it is read and written tile by tile). unit_shape = the unit
 * tensor's view shape. */
static gboolean ew_layout_ok(ttsim_native_ctx *c, const ttsim_shape *unit, int n_out)
{
    for (int o = 0; o < n_out; o++)
        if (!ttsim_same_tiles(&c->out[o].s, unit)) {
            c->decline = "outputs of different shapes (tile sequences)";
            return FALSE;
        }
    for (int i = 0; i < c->l->n_in; i++)
        for (int o = 0; o < c->l->n_out; o++)
            if (c->l->in[i].buf == c->l->out[o].buf && !ttsim_same_tiles(&c->in[i].s, unit)) {
                c->decline = "an input aliasing an output with another shape";
                return FALSE;
            }
    return TRUE;
}

/* Run over the tiles of j->ut; with `partial`, returns the per-core sums
 * combined in core order. */
static double ew_run(ew_job *j, gboolean reduce)
{
    double total = 0.0;
    if (reduce) j->partial = g_new0(double, j->d->cfg.n_cores);
    ttsim_split split;
    ttsim_grid_run(j->d, ttsim_tiled_count(j->ut), TE, ew_core, j, &split);
    if (reduce) {
        for (int k = 0; k < split.cores_used; k++) total += j->partial[k];
        g_free(j->partial);
        j->partial = NULL;
    }
    return total;
}

/* ---- kernels ---- */

/* fill: every output tile packed from a tile of the value. */
static ttsim_native_status native_fill(ttsim_native_ctx *c, GError **error)
{
    if (!check_launch(c, 0, 1, sizeof(ttml_fill_params), error)) return TTSIM_NATIVE_ERROR;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, EW_FILL, &c->out[0].t);
    j.f[0] = ((const ttml_fill_params *)c->l->params)->value;
    ew_dst(&j, &c->out[0].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

/* The one-input one-output kernels (copy, affine, axpby, relu): units are
 * out[0]'s tiles. */
static ttsim_native_status unary(ttsim_native_ctx *c, ew_kind kind, size_t params_size, GError **error)
{
    if (kind == EW_COPY && c->l->n_in >= 1 && c->l->n_out >= 1 && c->l->in[0].dtype != c->l->out[0].dtype) {
        c->decline = "copy with a dtype conversion";
        return TTSIM_NATIVE_DECLINE;
    }
    if (!check_launch(c, 1, 1, params_size, error)) return TTSIM_NATIVE_ERROR;
    if (!check_numel(c, &c->l->in[0], &c->in[0], "in[0]", &c->l->out[0], &c->out[0], "out[0]", error))
        return TTSIM_NATIVE_ERROR;
    if (!ew_layout_ok(c, &c->out[0].s, 1)) return TTSIM_NATIVE_DECLINE;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, kind, &c->out[0].t);
    ew_src(&j, &c->in[0].t);
    if (kind == EW_AFFINE) {
        const ttml_affine_params *p = c->l->params;
        j.f[0] = p->mul;
        j.f[1] = p->add;
    } else if (kind == EW_AXPBY) {
        const ttml_axpby_params *p = c->l->params;
        j.f[0] = p->alpha;
        j.f[1] = p->beta;
        if (p->beta != 0.0f) ew_src(&j, &c->out[0].t); /* beta == 0 ignores y, even NaN */
    }
    ew_dst(&j, &c->out[0].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_copy(ttsim_native_ctx *c, GError **error)
{
    return unary(c, EW_COPY, 0, error);
}

static ttsim_native_status native_affine(ttsim_native_ctx *c, GError **error)
{
    return unary(c, EW_AFFINE, sizeof(ttml_affine_params), error);
}

static ttsim_native_status native_axpby(ttsim_native_ctx *c, GError **error)
{
    return unary(c, EW_AXPBY, sizeof(ttml_axpby_params), error);
}

static ttsim_native_status native_relu(ttsim_native_ctx *c, GError **error)
{
    return unary(c, EW_RELU, 0, error);
}

/* The activations (and relu_bwd, dropout): n_in inputs and n_out outputs of
 * in[0]'s numel; units are out[0]'s tiles. */
static ttsim_native_status activation(ttsim_native_ctx *c, ew_kind kind, int n_in, int n_out, size_t params_size,
                                      GError **error)
{
    static const char *in_names[] = {"in[0]", "in[1]", "in[2]"};
    static const char *out_names[] = {"out[0]", "out[1]"};
    const ttml_launch *l = c->l;
    if (!check_launch(c, n_in, n_out, params_size, error)) return TTSIM_NATIVE_ERROR;
    for (int i = 1; i < n_in; i++)
        if (!check_numel(c, &l->in[0], &c->in[0], "in[0]", &l->in[i], &c->in[i], in_names[i], error))
            return TTSIM_NATIVE_ERROR;
    for (int o = 0; o < n_out; o++)
        if (!check_numel(c, &l->in[0], &c->in[0], "in[0]", &l->out[o], &c->out[o], out_names[o], error))
            return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, kind, &c->out[0].t);
    if (kind == EW_DROPOUT) {
        const ttml_dropout_params *p = l->params;
        if (!(p->p >= 0.0f && p->p < 1.0f)) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "ttsim kernel '%s': dropout probability p = %g must be in [0, 1)", kname(c), (double)p->p);
            return TTSIM_NATIVE_ERROR;
        }
        j.f[0] = p->p;
        j.f[1] = 1.0f / (1.0f - p->p);
        j.seed = p->seed;
        j.counter = p->counter;
    }
    if (!ew_layout_ok(c, &c->out[0].s, n_out)) return TTSIM_NATIVE_DECLINE;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    for (int i = 0; i < n_in; i++) ew_src(&j, &c->in[i].t);
    for (int o = 0; o < n_out; o++) ew_dst(&j, &c->out[o].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

static ttsim_native_status native_relu_bwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_RELU_BWD, 2, 1, 0, error);
}

static ttsim_native_status native_gelu_fwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_GELU_FWD, 1, 1, 0, error);
}

static ttsim_native_status native_gelu_bwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_GELU_BWD, 2, 1, 0, error);
}

static ttsim_native_status native_silu_fwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_SILU_FWD, 1, 1, 0, error);
}

static ttsim_native_status native_silu_bwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_SILU_BWD, 2, 1, 0, error);
}

static ttsim_native_status native_swiglu_fwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_SWIGLU_FWD, 2, 1, 0, error);
}

static ttsim_native_status native_swiglu_bwd(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_SWIGLU_BWD, 3, 2, 0, error);
}

static ttsim_native_status native_dropout(ttsim_native_ctx *c, GError **error)
{
    return activation(c, EW_DROPOUT, 1, 1, sizeof(ttml_dropout_params), error);
}

/* sgd_step: in[0] = grad; out[0] = param, out[1] = momentum buffer, updated
 * in place tile by tile (units: the param's tiles). */
static ttsim_native_status native_sgd_step(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!check_launch(c, 1, 1, sizeof(ttml_sgd_params), error)) return TTSIM_NATIVE_ERROR;
    const ttml_sgd_params *pr = l->params;
    if (!check_numel(c, &l->in[0], &c->in[0], "in[0] (grad)", &l->out[0], &c->out[0], "out[0] (param)", error))
        return TTSIM_NATIVE_ERROR;
    gboolean mom = pr->momentum != 0.0f;
    if (mom) {
        if (l->n_out < 2) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "ttsim kernel 'sgd_step': momentum %g needs the momentum buffer in out[1]",
                        (double)pr->momentum);
            return TTSIM_NATIVE_ERROR;
        }
        if (!check_numel(c, &l->out[0], &c->out[0], "out[0] (param)", &l->out[1], &c->out[1], "out[1] (momentum)",
                         error))
            return TTSIM_NATIVE_ERROR;
    }
    if (!ew_layout_ok(c, &c->out[0].s, mom ? 2 : 1)) return TTSIM_NATIVE_DECLINE;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, EW_SGD, &c->out[0].t);
    j.f[0] = pr->lr;
    j.f[1] = pr->momentum;
    j.f[2] = 1.0f - pr->dampening;
    j.f[3] = pr->weight_decay;
    j.flags = (mom ? 1 : 0) | (pr->first_step ? 2 : 0) | (pr->nesterov ? 4 : 0);
    ew_src(&j, &c->in[0].t);
    ew_src(&j, &c->out[0].t);
    if (mom && !pr->first_step) ew_src(&j, &c->out[1].t);
    ew_dst(&j, &c->out[0].t);
    if (mom) ew_dst(&j, &c->out[1].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

/* adamw_step: in[0] = grad; out[0] = param, out[1] = exp_avg, out[2] =
 * exp_avg_sq, all updated in place tile by tile (units: the param's tiles). */
static ttsim_native_status native_adamw_step(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!check_launch(c, 1, 3, sizeof(ttml_adamw_params), error)) return TTSIM_NATIVE_ERROR;
    const ttml_adamw_params *pr = l->params;
    if (pr->step < 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel 'adamw_step': step is %" G_GINT64_FORMAT "; it is 1-based (1 on the first update)",
                    pr->step);
        return TTSIM_NATIVE_ERROR;
    }
    if (!check_numel(c, &l->in[0], &c->in[0], "in[0] (grad)", &l->out[0], &c->out[0], "out[0] (param)", error) ||
        !check_numel(c, &l->out[0], &c->out[0], "out[0] (param)", &l->out[1], &c->out[1], "out[1] (exp_avg)",
                     error) ||
        !check_numel(c, &l->out[0], &c->out[0], "out[0] (param)", &l->out[2], &c->out[2], "out[2] (exp_avg_sq)",
                     error))
        return TTSIM_NATIVE_ERROR;
    if (!ew_layout_ok(c, &c->out[0].s, 3)) return TTSIM_NATIVE_DECLINE;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    const double t = (double)pr->step;
    const double bc1 = 1.0 - pow((double)pr->beta1, t);
    const double bc2 = 1.0 - pow((double)pr->beta2, t);
    ew_job j;
    ew_init(&j, c, EW_ADAMW, &c->out[0].t);
    j.f[0] = (float)(1.0 - (double)pr->lr * (double)pr->weight_decay);
    j.f[1] = pr->beta1;
    j.f[2] = pr->beta2;
    j.f[3] = (float)((double)pr->lr / bc1);
    j.f[4] = (float)(1.0 / sqrt(bc2));
    j.f[5] = pr->epsilon;
    ew_src(&j, &c->in[0].t);
    for (int o = 0; o < 3; o++) ew_src(&j, &c->out[o].t);
    for (int o = 0; o < 3; o++) ew_dst(&j, &c->out[o].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

/* The checks mse_fwd and mse_bwd share. */
static gboolean mse_args(ttsim_native_ctx *c, int n_in, GError **error)
{
    if (!check_launch(c, n_in, 1, sizeof(ttml_loss_params), error)) return FALSE;
    const ttml_loss_params *p = c->l->params;
    if (p->reduction != TTML_REDUCE_MEAN && p->reduction != TTML_REDUCE_SUM) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s': unknown reduction %d (use TTML_REDUCE_MEAN or TTML_REDUCE_SUM)", kname(c),
                    (int)p->reduction);
        return FALSE;
    }
    return check_numel(c, &c->l->in[0], &c->in[0], "in[0] (prediction)", &c->l->in[1], &c->in[1],
                       "in[1] (target)", error);
}

/* mse_fwd: units are the prediction's tiles; one double partial per core. */
static ttsim_native_status native_mse_fwd(ttsim_native_ctx *c, GError **error)
{
    if (!mse_args(c, 2, error) || !check_one(c, &c->l->out[0], &c->out[0], "out[0]", error))
        return TTSIM_NATIVE_ERROR;
    const ttml_loss_params *p = c->l->params;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, EW_MSE_FWD, &c->in[0].t);
    ew_src(&j, &c->in[0].t);
    ew_src(&j, &c->in[1].t);
    const double s = ew_run(&j, TRUE);
    const gint64 n = c->in[0].numel;
    /* mean over no elements is NaN, as in PyTorch */
    float loss = (float)(p->reduction == TTML_REDUCE_MEAN ? (n ? s / (double)n : NAN) : s);
    ttsim_tiled_from_host(&c->out[0].t, &loss);
    return TTSIM_NATIVE_DONE;
}

/* mse_bwd: units are dx's tiles. */
static ttsim_native_status native_mse_bwd(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!mse_args(c, 3, error)) return TTSIM_NATIVE_ERROR;
    if (!check_numel(c, &l->in[0], &c->in[0], "in[0] (prediction)", &l->out[0], &c->out[0], "out[0]", error) ||
        !check_one(c, &l->in[2], &c->in[2], "in[2] (dloss)", error))
        return TTSIM_NATIVE_ERROR;
    if (!ew_layout_ok(c, &c->out[0].s, 1)) return TTSIM_NATIVE_DECLINE;
    const ttml_loss_params *p = l->params;
    const float dloss = ttsim_elem_get(&c->in[2].t, 0, 0); /* before the outputs: in[2] may alias out */
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    const gint64 n = c->in[0].numel;
    if (n == 0) return TTSIM_NATIVE_DONE;
    const double k = 2.0 * (double)dloss / (p->reduction == TTML_REDUCE_MEAN ? (double)n : 1.0);
    ew_job j;
    ew_init(&j, c, EW_MSE_BWD, &c->out[0].t);
    j.f[0] = (float)k;
    ew_src(&j, &c->in[0].t);
    ew_src(&j, &c->in[1].t);
    ew_dst(&j, &c->out[0].t);
    ew_run(&j, FALSE);
    return TTSIM_NATIVE_DONE;
}

/* sum_sq: units are the input's tiles; one double partial per core. */
static ttsim_native_status native_sum_sq(ttsim_native_ctx *c, GError **error)
{
    if (!check_launch(c, 1, 1, 0, error) || !check_one(c, &c->l->out[0], &c->out[0], "out[0]", error))
        return TTSIM_NATIVE_ERROR;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    ew_job j;
    ew_init(&j, c, EW_SUM_SQ, &c->in[0].t);
    ew_src(&j, &c->in[0].t);
    float s = (float)ew_run(&j, TRUE);
    ttsim_tiled_from_host(&c->out[0].t, &s);
    return TTSIM_NATIVE_DONE;
}

/* ---- binary: out = a OP b, NumPy broadcasting ----
 *
 * Units are the output's tiles. An input x of 4-D shape [x0, x1, x2, x3]
 * (right-aligned, missing dims 1) broadcast to the output [t0, t1, R, C]:
 * output matrix b = i0 * t1 + i1 reads x's matrix
 * bx = (x0 == 1 ? 0 : i0) * x1 + (x1 == 1 ? 0 : i1), and in it
 *   x2 == R, x3 == C: the tile at the output tile's place;
 *   x2 == 1, x3 == C: row 0 of tile (0, tc), copied to every row (bcast ROW);
 *   x2 == R, x3 == 1: column 0 of tile (tr, 0), copied to every column (COL);
 *   x2 == 1, x3 == 1: element (0, 0), copied everywhere (SCALAR).
 */
typedef enum { BC_FULL, BC_ROW, BC_COL, BC_SCALAR } bcast_mode;

typedef struct {
    const ttsim_tiled *t;
    bcast_mode mode;
    gboolean keep0, keep1; /* batch dims 0 / 1 follow the output's (not broadcast) */
    gint64 x1;             /* extent of dim 1                                     */
} bin_src;

typedef struct {
    ttsim_device *d;
    ttml_binary_op op;
    const ttsim_tiled *out;
    gint64 t1;             /* output dim 1 */
    bin_src a, b;
} bin_job;

static void shape4(const ttml_view *v, gint64 s[4])
{
    int pad = 4 - v->ndim;
    for (int i = 0; i < 4; i++) s[i] = i < pad ? 1 : v->shape[i - pad];
}

/* Is x broadcastable to the output? Fills src (mode, batch mapping). */
static gboolean bin_src_init(bin_src *src, const ttml_view *v, const ttsim_tiled *t, const ttml_view *out)
{
    gint64 xs[4], ts[4];
    shape4(v, xs);
    shape4(out, ts);
    for (int i = 0; i < 4; i++)
        if (xs[i] != ts[i] && xs[i] != 1) return FALSE;
    src->t = t;
    src->keep0 = xs[0] != 1;
    src->keep1 = xs[1] != 1;
    src->x1 = xs[1];
    gboolean rows = xs[2] == ts[2], cols = xs[3] == ts[3];
    src->mode = rows && cols ? BC_FULL : cols ? BC_ROW : rows ? BC_COL : BC_SCALAR;
    return TRUE;
}

/* x's values at output tile (b, tr, tc) into dst; tmp: a tile of scratch. */
static void bin_fetch(const bin_job *j, const bin_src *x, const tile_pos *p, float *dst, float *tmp)
{
    const ttsim_tiled *t = x->t;
    gint64 i0 = p->b / j->t1, i1 = p->b % j->t1;
    gint64 bx = (x->keep0 ? i0 : 0) * x->x1 + (x->keep1 ? i1 : 0);
    gint64 tr = x->mode == BC_FULL || x->mode == BC_COL ? p->tr : 0;
    gint64 tc = x->mode == BC_FULL || x->mode == BC_ROW ? p->tc : 0;
    gint64 tile = (bx * t->rt + tr) * t->ct + tc;
    switch (x->mode) {
    case BC_FULL: ttsim_tile_get(t, tile, dst); break;
    case BC_ROW:
        ttsim_tile_get(t, tile, tmp);
        for (int r = 0; r < TTSIM_TILE; r++) memcpy(dst + r * TTSIM_TILE, tmp, TTSIM_TILE * sizeof(float));
        break;
    case BC_COL:
        ttsim_tile_get(t, tile, tmp);
        for (int r = 0; r < TTSIM_TILE; r++)
            for (int cc = 0; cc < TTSIM_TILE; cc++) dst[r * TTSIM_TILE + cc] = tmp[r * TTSIM_TILE];
        break;
    case BC_SCALAR: {
        const float v = ttsim_elem_get(t, bx * t->s.rows, 0);
        for (int i = 0; i < TE; i++) dst[i] = v;
        break;
    }
    }
}

EW_VEC static void bin_tile(ttml_binary_op op, const float *a, const float *b, float *o)
{
    switch (op) {
    case TTML_BINARY_ADD: for (int i = 0; i < TE; i++) o[i] = a[i] + b[i]; break;
    case TTML_BINARY_SUB: for (int i = 0; i < TE; i++) o[i] = a[i] - b[i]; break;
    case TTML_BINARY_MUL: for (int i = 0; i < TE; i++) o[i] = a[i] * b[i]; break;
    default: for (int i = 0; i < TE; i++) o[i] = a[i] / b[i]; break;
    }
}

static void bin_core(void *ctx, int core, gint64 begin, gint64 end, int worker)
{
    (void)core;
    const bin_job *j = ctx;
    float *buf = ttsim_worker_scratch(j->d, worker, 0, (size_t)4 * TE * sizeof(float));
    float *a = buf, *b = buf + TE, *o = buf + 2 * TE, *tmp = buf + 3 * TE;
    for (gint64 u = begin; u < end; u++) {
        tile_pos p;
        tile_pos_of(j->out, u, &p);
        bin_fetch(j, &j->a, &p, a, tmp);
        bin_fetch(j, &j->b, &p, b, tmp);
        bin_tile(j->op, a, b, o);
        ttsim_tile_put(j->out, u, o);
    }
}

static ttsim_native_status native_binary(ttsim_native_ctx *c, GError **error)
{
    const ttml_launch *l = c->l;
    if (!check_launch(c, 2, 1, sizeof(ttml_binary_params), error)) return TTSIM_NATIVE_ERROR;
    const ttml_binary_params *p = l->params;
    if ((unsigned)p->op > TTML_BINARY_DIV) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel 'binary': unknown op %d (use TTML_BINARY_ADD/SUB/MUL/DIV)", (int)p->op);
        return TTSIM_NATIVE_ERROR;
    }
    bin_job j;
    memset(&j, 0, sizeof j);
    static const char *names[] = {"in[0]", "in[1]"};
    for (int i = 0; i < 2; i++) {
        if (!bin_src_init(i ? &j.b : &j.a, &l->in[i], &c->in[i].t, &l->out[0])) {
            char sa[80], sb[80];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "ttsim kernel 'binary': %s of shape %s does not broadcast to out[0] of shape %s "
                        "(each dim, right-aligned, must be 1 or equal)",
                        names[i], ttml_shape_str(l->in[i].ndim, l->in[i].shape, sa, sizeof sa),
                        ttml_shape_str(l->out[0].ndim, l->out[0].shape, sb, sizeof sb));
            return TTSIM_NATIVE_ERROR;
        }
    }
    /* an input aliasing the output has its numel, hence its shape (BC_FULL,
     * no batch broadcast): tile u is read and written by the same core */
    if (!ew_layout_ok(c, &c->out[0].s, 1)) return TTSIM_NATIVE_DECLINE;
    if (!ttsim_native_outputs(c, error)) return TTSIM_NATIVE_ERROR;
    gint64 ts[4];
    shape4(&l->out[0], ts);
    j.d = c->d;
    j.op = p->op;
    j.out = &c->out[0].t;
    j.t1 = ts[1] > 0 ? ts[1] : 1;
    ttsim_grid_run(c->d, ttsim_tiled_count(j.out), TE, bin_core, &j, NULL);
    return TTSIM_NATIVE_DONE;
}

const ttsim_native_entry ttsim_native_eltwise_kernels[] = {
    {TTML_KERNEL_NAME(fill), native_fill},
    {TTML_KERNEL_NAME(copy), native_copy},
    {TTML_KERNEL_NAME(affine), native_affine},
    {TTML_KERNEL_NAME(binary), native_binary},
    {TTML_KERNEL_NAME(axpby), native_axpby},
    {TTML_KERNEL_NAME(relu), native_relu},
    {TTML_KERNEL_NAME(relu_bwd), native_relu_bwd},
    {TTML_KERNEL_NAME(gelu_fwd), native_gelu_fwd},
    {TTML_KERNEL_NAME(gelu_bwd), native_gelu_bwd},
    {TTML_KERNEL_NAME(silu_fwd), native_silu_fwd},
    {TTML_KERNEL_NAME(silu_bwd), native_silu_bwd},
    {TTML_KERNEL_NAME(swiglu_fwd), native_swiglu_fwd},
    {TTML_KERNEL_NAME(swiglu_bwd), native_swiglu_bwd},
    {TTML_KERNEL_NAME(dropout_fwd), native_dropout},
    {TTML_KERNEL_NAME(dropout_bwd), native_dropout},
    {TTML_KERNEL_NAME(sgd_step), native_sgd_step},
    {TTML_KERNEL_NAME(adamw_step), native_adamw_step},
    {TTML_KERNEL_NAME(mse_fwd), native_mse_fwd},
    {TTML_KERNEL_NAME(mse_bwd), native_mse_bwd},
    {TTML_KERNEL_NAME(sum_sq), native_sum_sq},
    {NULL, NULL},
};
