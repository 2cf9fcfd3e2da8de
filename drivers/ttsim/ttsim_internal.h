/* drivers/ttsim/ttsim_internal.h - private declarations shared by the ttsim
 * driver's files (the plugin is built with -fvisibility=hidden: only
 * ttml_plugin_ttsim_get_desc is exported).
 *
 * ttsim simulates a Tenstorrent Tensix device: architectures as data
 * (ttsim_arch.c), DRAM-bank / L1 accounting (ttsim_memory.c), row-major <->
 * tile layout (ttsim_layout.c), storage formats and math fidelity
 * (ttsim_numerics.c), a per-launch timing model (ttsim_timing.c), kernels
 * run natively on the tile images over the core grid (ttsim_tiles.c,
 * ttsim_grid.c, ttsim_native*.c, ttsim_blas.c) and launches and the
 * converted fallback (ttsim_kernels.c). See docs/ttsim.md.
 */
#ifndef TTML_TTSIM_INTERNAL_H
#define TTML_TTSIM_INTERNAL_H

#include <ttml/ttml.h>

#include <string.h>

G_BEGIN_DECLS

#define TTSIM_TILE 32            /* tile edge                         */
#define TTSIM_FACE 16            /* face edge: a tile is 2x2 faces    */
#define TTSIM_TILE_ELEMS 1024

typedef struct ttsim_shape ttsim_shape;
typedef struct ttsim_buf ttsim_buf;

/* ---- numerics (ttsim_numerics.c) ---- */
typedef enum {
    TTSIM_FMT_FP32 = 0,   /* Float32                                            */
    TTSIM_FMT_BF16,       /* BFloat16, round to nearest even                     */
    TTSIM_FMT_BFP8B,      /* Bfp8_b: 16 values share an 8-bit exponent, 7-bit mantissas */
    TTSIM_FMT_U32,        /* 32-bit integers, exact (ids), row-major pages       */
    TTSIM_FMT_BFP4B,      /* Bfp4_b: 16 values share an 8-bit exponent, 3-bit mantissas */
    TTSIM_FMT_COUNT
} ttsim_format;

const char *ttsim_format_name(ttsim_format fmt);
/* Bytes of one 32x32 tile (fp32 4096, bf16 2048, bfp8_b 1088 = 64 exponents
 * + 1024 sign/mantissa bytes, bfp4_b 576 = 64 exponents + 512 bytes of two
 * sign/mantissa nibbles; u32: 4096 bytes per page of 1024 values). */
size_t ttsim_format_tile_bytes(ttsim_format fmt);
/* TRUE for the block-float formats (bfp8_b, bfp4_b): 16 values per exponent. */
gboolean ttsim_format_is_block(ttsim_format fmt);
/* Mantissa bits below the leading one that a stored value keeps at most
 * (fp32 23, bf16 7, bfp8_b 6, bfp4_b 2; the block's largest value keeps
 * them, smaller ones fewer). */
int ttsim_format_stored_bits(ttsim_format fmt);

/* Math fidelity; the value is the number of multiplier phases. */
typedef enum { TTSIM_LOFI = 1, TTSIM_HIFI2 = 2, TTSIM_HIFI3 = 3, TTSIM_HIFI4 = 4 } ttsim_fidelity;
const char *ttsim_fidelity_name(ttsim_fidelity f);
/* Mantissa bits of operand A (in[0], the 5-bit multiplier side) and operand
 * B (in[1], the 7-bit side) that take part in a product at fidelity f. */
void ttsim_fidelity_bits(ttsim_fidelity f, int *a_bits, int *b_bits);

/* Round row-major values in place to what `fmt` stores (bf16: nearest even;
 * bfp8_b / bfp4_b: blocks of 16 consecutive columns of each row of `s`, i.e.
 * the face rows of the tiles; fp32 / u32: unchanged). */
void ttsim_round_storage(float *x, const ttsim_shape *s, int fmt);
/* Keep the top `bits` mantissa bits of x (truncation, as the multiplier
 * takes the most significant bits); bits >= 23 returns x. */
float ttsim_truncate_mantissa(float x, int bits);
void ttsim_truncate_array(float *x, size_t n, int bits);
/* One Bfp8_b block of 16 values: *exp = the largest biased exponent,
 * mant[i] = sign << 7 | round-to-nearest-even(|x| * 2^(133 - exp)) clamped to
 * 127. Decoding: (-1)^s * m * 2^(exp - 133). */
void ttsim_bfp8_encode_block(const float in[16], guint8 *exp, guint8 mant[16]);
void ttsim_bfp8_decode_block(guint8 exp, const guint8 mant[16], float out[16]);
/* One Bfp4_b block of 16 values: *exp as Bfp8_b; value i is the nibble
 * sign << 3 | round-to-nearest-even(|x| * 2^(129 - exp)) clamped to 7 (a
 * zero magnitude drops the sign), packed two per byte, value 2j in the low
 * nibble of nib[j] (tt-metal's order: value 0 in the least significant bits
 * of the little-endian word). Decoding: (-1)^s * m * 2^(exp - 129). */
void ttsim_bfp4_encode_block(const float in[16], guint8 *exp, guint8 nib[8]);
void ttsim_bfp4_decode_block(guint8 exp, const guint8 nib[8], float out[16]);

/* ---- layout (ttsim_layout.c) ----
 * A tensor [..., R, C] is `batch` matrices of R x C; in TILE layout each is
 * padded to ceil(R/32) x ceil(C/32) tiles stored row-major, each tile four
 * 16x16 faces (f0 top-left, f1 top-right, f2 bottom-left, f3 bottom-right),
 * each face row-major. Padding is zero. Bfp8_b / Bfp4_b blocks are the face rows. */
struct ttsim_shape {
    gint64 batch, rows, cols;
};

void ttsim_shape_from(int ndim, const int64_t *shape, ttsim_shape *out);
gint64 ttsim_shape_tiles(const ttsim_shape *s);
/* Bytes the shape takes in `fmt` (tiles x tile bytes; u32: dense pages). */
size_t ttsim_shape_bytes(const ttsim_shape *s, ttsim_format fmt);
/* Row-major f32 `src` (batch x rows x cols) -> tiles in fmt at `dst`
 * (ttsim_shape_bytes bytes). fmt must not be U32. */
void ttsim_tilize(const float *src, const ttsim_shape *s, ttsim_format fmt, void *dst);
/* Round x in place to fmt (as ttsim_round_storage) and tilize it, fused. */
void ttsim_round_and_tilize(float *x, const ttsim_shape *s, ttsim_format fmt, void *dst);
/* Tiles -> row-major f32 (the logical elements only). */
void ttsim_untilize(const void *src, const ttsim_shape *s, ttsim_format fmt, float *dst);

/* BFloat16: round to nearest even, NaN kept quiet (the same as the core's
 * ttml_f32_to_bf16, inline and branch-free so the tile loops vectorise). */
static inline guint16 ttsim_bf16_enc(float f)
{
    guint32 u;
    memcpy(&u, &f, 4);
    const guint32 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const guint32 quiet_nan = (u >> 16) | 0x40u;
    return (guint16)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

static inline float ttsim_bf16_dec(guint16 b)
{
    guint32 u = (guint32)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Store / load the 16 values of block `blk` (0..63: face * 16 + face row)
 * of one tile image in fmt (FP32, BF16, BFP8B or BFP4B). */
static inline void ttsim_put16(ttsim_format fmt, guint8 *tile, int blk, const float v[16])
{
    switch (fmt) {
    case TTSIM_FMT_FP32: memcpy(tile + (size_t)blk * 64, v, 64); break;
    case TTSIM_FMT_BF16: {
        guint16 *o = (guint16 *)(tile + (size_t)blk * 32);
        for (int i = 0; i < 16; i++) o[i] = ttsim_bf16_enc(v[i]);
        break;
    }
    case TTSIM_FMT_BFP4B: ttsim_bfp4_encode_block(v, tile + blk, tile + 64 + (size_t)blk * 8); break;
    default: ttsim_bfp8_encode_block(v, tile + blk, tile + 64 + (size_t)blk * 16); break;
    }
}

static inline void ttsim_get16(ttsim_format fmt, const guint8 *tile, int blk, float v[16])
{
    switch (fmt) {
    case TTSIM_FMT_FP32: memcpy(v, tile + (size_t)blk * 64, 64); break;
    case TTSIM_FMT_BF16: {
        const guint16 *o = (const guint16 *)(tile + (size_t)blk * 32);
        for (int i = 0; i < 16; i++) v[i] = ttsim_bf16_dec(o[i]);
        break;
    }
    case TTSIM_FMT_BFP4B: ttsim_bfp4_decode_block(tile[blk], tile + 64 + (size_t)blk * 8, v); break;
    default: ttsim_bfp8_decode_block(tile[blk], tile + 64 + (size_t)blk * 16, v); break;
    }
}

/* ---- architectures and options (ttsim_arch.c) ---- */
typedef struct ttsim_arch {
    const char *name;           /* "wormhole_b0"                                 */
    const char *board;          /* "n150"                                        */
    int n_chips;
    int grid_x, grid_y;         /* worker grid per chip                          */
    guint64 l1_bytes;           /* per core                                      */
    guint64 dram_bytes;         /* per chip                                      */
    int dram_banks;             /* per chip                                      */
    double dram_bytes_per_s;    /* per chip                                      */
    double clock_hz;
    int noc_bytes_per_cycle;    /* per NoC link, per core                        */
    double eth_link_bytes_per_s; /* one Ethernet link, per direction (0: none)   */
    double eth_hop_latency_s;   /* one chip-to-chip hop                          */
    const char *source;         /* where the figures come from                   */
} ttsim_arch;

const ttsim_arch *ttsim_arch_find(const char *name);
/* "wormhole_b0, n300, blackhole" (g_free). */
char *ttsim_arch_list(void);

typedef struct ttsim_config {
    const ttsim_arch *arch;
    int n_cores;                 /* worker cores over all chips               */
    int n_banks;                 /* DRAM banks over all chips                 */
    guint64 dram_bytes;          /* total over all chips                      */
    guint64 l1_bytes;            /* per core                                  */
    double dram_bytes_per_s;     /* aggregate                                 */
    double clock_hz;
    int noc_bytes_per_cycle;
    ttsim_fidelity fidelity;
    ttsim_format storage;        /* format of f32 tensors on the device       */
    gboolean report;             /* print the per-kernel table at close       */
    gboolean fallback;           /* FALSE: a launch that cannot run natively is
                                    an error instead of running converted     */
    int threads;                 /* host threads running the grid (0: auto)   */
} ttsim_config;

/* Parse "ARCH[,dram=64M][,l1=256K][,fidelity=HiFi4][,storage=bf16][,report=0]"
 * (every part optional). Errors: TTML_ERROR_INVALID_ARG naming the bad item
 * and the accepted values. */
gboolean ttsim_config_parse(const char *options, ttsim_config *cfg, GError **error);
/* Parse "64M", "256K", "12G", "1024" (binary multiples). */
gboolean ttsim_parse_size(const char *text, guint64 *out);

/* ---- memory accounting (ttsim_memory.c) ---- */
typedef struct ttsim_memory {
    int n_banks;
    guint64 bank_budget;
    guint64 *bank_used;          /* [n_banks]  */
    int n_cores;
    guint64 core_budget;
    guint64 *core_used;          /* [n_cores]  */
    gboolean oom;                /* a charge failed: the run is cut short, so
                                    close() prints no kernel report     */
} ttsim_memory;

void ttsim_memory_init(ttsim_memory *m, const ttsim_config *cfg);
void ttsim_memory_clear(ttsim_memory *m);
/* Charge `pages` pages of `page_bytes` interleaved round-robin from bank
 * (core) 0. Fails with TTML_ERROR_OOM when a bank (core) would exceed its
 * budget (one line: the request, the use and the capacity in one unit, and
 * the fix; sets m->oom); nothing is charged then. kind is DRAM or L1 (HOST: no-op). */
gboolean ttsim_memory_charge(ttsim_memory *m, const char *arch, ttml_mem_kind kind, guint64 pages,
                             size_t page_bytes, GError **error);
void ttsim_memory_release(ttsim_memory *m, ttml_mem_kind kind, guint64 pages, size_t page_bytes);

/* ---- timing calibration (ttsim_calib.c) ---- */
#define TTSIM_TIMING_VERSION "2"
typedef struct ttsim_calib {
    const char *arch;            /* calibration row ("wormhole_b0", "blackhole") */
    double fixed_cycles;         /* matmul: fixed cost per launch (L)           */
    double cycles_per_tp;        /* matmul: cycles per 32x32x32 tile product (c) */
    double in1_bpc;              /* matmul: in1 panel bytes per cycle (r)       */
    gboolean published;          /* (format, fidelity) fitted to published rows */
    double other_fixed_cycles;   /* fixed cost of any other launch              */
    double dram_latency_cycles;  /* one DRAM round trip (inside both fixed costs) */
    double dram_efficiency;      /* achieved / spec DRAM bandwidth              */
    double dram_read_bpc, dram_write_bpc;   /* one core <-> DRAM, bytes/cycle   */
    double noc_bpc;              /* core to core, bytes per cycle               */
} ttsim_calib;
/* The calibration for the device's architecture, storage and fidelity. */
void ttsim_calib_get(const ttsim_config *c, ttsim_calib *out);
/* "ttsim timing model 2" and where its figures come from (static strings). */
const char *ttsim_calib_version(void);
const char *ttsim_calib_source(void);

/* ---- timing model (ttsim_timing.c) ---- */
typedef struct ttsim_timing {
    double fixed_cycles;         /* per-launch fixed cost, less the DRAM latency */
    double latency_cycles;       /* one DRAM round trip when the launch touches DRAM */
    double compute_cycles;       /* busiest core (matmul: incl. in1 streaming)  */
    double dram_cycles;          /* DRAM bytes over the achieved bandwidth      */
    double noc_cycles;           /* busiest core's DRAM / NoC traffic           */
    double cycles;               /* fixed + latency + max(compute, dram, noc)   */
    double ideal_cycles;         /* the roofline: tt-metal's ideal cycles       */
    double seconds;
    double ideal_seconds;
    double flops;
    gint64 tiles;                /* output tiles (matmul) / tiles processed    */
    int cores_used;
} ttsim_timing;

/* Bytes a launch moves: DRAM-resident operands read / written, and the
 * L1-resident ones (moved core to core, no DRAM traffic). */
typedef struct ttsim_traffic {
    double dram_read, dram_written;
    double l1_read, l1_written;
} ttsim_traffic;

/* batch x (M x K) @ (K x N) on the grid. */
void ttsim_timing_matmul(const ttsim_config *c, gint64 batch, gint64 m, gint64 n, gint64 k,
                         const ttsim_traffic *bytes, ttsim_timing *t);
/* `tiles` tiles of an element-wise (SFPU/FPU) op costing `factor` passes of
 * 1024/128 = 8 cycles per tile, of which `fid_passes` use the multiplier
 * (element-wise multiply, reduce sum/average) and take one pass per fidelity
 * phase; `flops` counted for the totals. */
void ttsim_timing_eltwise(const ttsim_config *c, gint64 tiles, double factor, double fid_passes,
                          double flops, const ttsim_traffic *bytes, ttsim_timing *t);
/* The device's peak FLOP/s at its fidelity: cores x 2048 MAC x 2 x clock / phases. */
double ttsim_peak_flops(const ttsim_config *c);

/* ---- tiled operands (ttsim_tiles.c) ----
 * A tensor image seen as tiles: `batch` matrices of rows x cols, each
 * rt x ct tiles, tiles stored in order (batch, tile row, tile col). A
 * tile unpacked for math is 32 x 32 f32 row-major (the faces put back
 * together, as the unpacker hands them to the source registers). */
typedef struct ttsim_tiled {
    guint8 *data;
    ttsim_format fmt;            /* FP32 / BF16 / BFP8B / BFP4B                  */
    size_t tile_bytes;
    ttsim_shape s;               /* logical shape                               */
    gint64 rt, ct;               /* tiles per matrix along rows / cols          */
} ttsim_tiled;

void ttsim_tiled_init(ttsim_tiled *t, void *data, ttsim_format fmt, const ttsim_shape *s);
static inline gint64 ttsim_tiled_count(const ttsim_tiled *t) { return t->s.batch * t->rt * t->ct; }
/* Tile-rows over all matrices (the unit of row-wise kernels): g = b * rt + tr. */
static inline gint64 ttsim_tiled_tilerows(const ttsim_tiled *t) { return t->s.batch * t->rt; }
/* Unpack tile `tile` (index in storage order) to 32x32 row-major f32. */
void ttsim_tile_get(const ttsim_tiled *t, gint64 tile, float *out);
/* Pack 32x32 row-major f32 into tile `tile`: elements outside the logical
 * rows / cols (the padding) are stored as 0, the rest rounded to the format;
 * `in` is not modified. */
void ttsim_tile_put(const ttsim_tiled *t, gint64 tile, float *in);
/* The same with a row stride `ld` (>= 32) in the f32 matrix. */
void ttsim_tile_get_ld(const ttsim_tiled *t, gint64 tile, float *out, size_t ld);
void ttsim_tile_put_ld(const ttsim_tiled *t, gint64 tile, const float *in, size_t ld);
/* Tile-row g (32 rows of ct tiles) <-> f32 rows of stride ct*32 (32 rows;
 * rows past the logical end read as 0 and are not stored). */
void ttsim_tilerow_get(const ttsim_tiled *t, gint64 g, float *out);
void ttsim_tilerow_put(const ttsim_tiled *t, gint64 g, float *in);
/* Logical row r (0 <= r < batch*rows) -> f32[cols]. */
void ttsim_row_get(const ttsim_tiled *t, gint64 r, float *out);
/* Logical row r (over batch * rows) of t: its tile-row g and row i in the tile. */
void ttsim_row_loc(const ttsim_tiled *t, gint64 r, gint64 *g, int *i);
/* One element (b * rows + r, c): slow path for odd broadcasts. */
float ttsim_elem_get(const ttsim_tiled *t, gint64 row, gint64 col);
/* Whole tensor <-> row-major host f32 (x is rounded in place by from_host). */
void ttsim_tiled_to_host(const ttsim_tiled *t, float *x);
void ttsim_tiled_from_host(const ttsim_tiled *t, float *x);

/* ---- the core grid on host threads (ttsim_grid.c) ----
 * Work is split over the simulated cores as tt-metal's split_work_to_cores
 * does: `units` (tiles, tile-rows, blocks) over n cores, the first cores_g1
 * cores take units_g1 each, the others units_g1 - 1. The simulated cores are
 * run by the device's host threads, each taking a contiguous range of cores;
 * every unit is processed by exactly one core, so results do not depend on
 * the number of host threads. */
typedef struct ttsim_split {
    int cores_used;
    int cores_g1;
    gint64 units_g1;             /* units per core of group 1 (group 2: one less) */
} ttsim_split;

void ttsim_split_work(int n_cores, gint64 units, ttsim_split *s);
void ttsim_split_range(const ttsim_split *s, int core, gint64 *begin, gint64 *end);

/* Per core: process units [begin, end). `worker` is the host thread
 * (0 .. ttsim_grid_workers - 1), for ttsim_worker_scratch. */
typedef void (*ttsim_core_fn)(void *ctx, int core, gint64 begin, gint64 end, int worker);

typedef struct ttsim_hosts ttsim_hosts;
ttsim_hosts *ttsim_hosts_new(int n_threads);
void ttsim_hosts_free(ttsim_hosts *h);
int ttsim_hosts_count(const ttsim_hosts *h);

/* Split `units` over the device's cores and run fn for each used core on
 * the host threads; returns when all are done. `elems_per_unit` estimates
 * the work of a unit: tiny launches run on the calling thread. The split is
 * stored in *split when not NULL. */
struct ttsim_device;
void ttsim_grid_run(struct ttsim_device *d, gint64 units, gint64 elems_per_unit, ttsim_core_fn fn, void *ctx,
                    ttsim_split *split);
/* Scratch of host thread `worker`, slot 0..TTSIM_WORKER_SLOTS-1, at least
 * `bytes` (64-byte aligned, grows, kept for the device's life). */
#define TTSIM_WORKER_SLOTS 8
void *ttsim_worker_scratch(struct ttsim_device *d, int worker, int slot, size_t bytes);

/* Per-launch scratch of the device: slot 0..TTSIM_SCRATCH_SLOTS-1, at least
 * `bytes` (grows, kept for the device's life; the converted path and the
 * native kernels use the slots, never both in one launch). */
void *ttsim_launch_scratch(struct ttsim_device *d, int slot, size_t bytes);

/* ---- OpenBLAS for per-core block products (ttsim_blas.c) ---- */
gboolean ttsim_blas_load(void);   /* FALSE: no libopenblas.so.0 */
/* Row-major C = alpha op(A) op(B) + beta C (cblas_sgemm). */
void ttsim_sgemm(int ta, int tb, gint64 m, gint64 n, gint64 k, float alpha, const float *a, gint64 lda,
                 const float *b, gint64 ldb, float beta, float *c, gint64 ldc);
/* One OpenBLAS thread per call around a grid run; returns the previous count. */
int ttsim_blas_single_begin(void);
void ttsim_blas_single_end(int prev);

/* ---- native kernels (ttsim_native*.c) ----
 * A native kernel works on the tile images directly, split over the grid.
 * The dispatcher (ttsim_native.c) hands it the launch's operands once they
 * qualify: f32 views at offset 0 covering their whole buffer, stored in the
 * storage format with a tile geometry equal to the view's (or the same tile
 * sequence), u32 views as exact row-major values. */
typedef struct ttsim_operand {
    const ttml_view *view;
    ttml_buffer *buf;
    ttsim_buf *tb;
    ttsim_shape s;               /* the view's batch x rows x cols              */
    gint64 numel;
    ttsim_tiled t;               /* f32 operands (outputs: after prepare)       */
    guint32 *ids;                /* u32 operands                                */
} ttsim_operand;

typedef struct ttsim_native_ctx {
    struct ttsim_device *d;
    const ttml_launch *l;
    ttsim_operand in[TTML_LAUNCH_MAX_IN];
    ttsim_operand out[TTML_LAUNCH_MAX_OUT];
    gboolean outputs_ready;
    const char *decline;         /* why the kernel declined (for fallback=off)  */
} ttsim_native_ctx;

typedef enum {
    TTSIM_NATIVE_DONE = 0,       /* outputs written                              */
    TTSIM_NATIVE_DECLINE,        /* this launch's shapes / params are not
                                    handled: nothing was touched, use the
                                    converted path (set ctx->decline)           */
    TTSIM_NATIVE_ERROR           /* *error set                                   */
} ttsim_native_status;

typedef ttsim_native_status (*ttsim_native_fn)(ttsim_native_ctx *c, GError **error);

/* Make the outputs' images ready for their views' shapes (charging device
 * memory; may fail with TTML_ERROR_OOM). Outputs that the kernel also reads
 * (in-place updates, beta != 0) keep their values. Call once, after the
 * kernel has decided not to decline and before writing any output. */
gboolean ttsim_native_outputs(ttsim_native_ctx *c, GError **error);

/* Facts about a launch's views (ttsim_views.c). */
/* a and b hold the same tile sequence: equal shapes, or equal columns and
 * whole tile-rows with the same number of rows in all ([4, 128, C], [512, C]). */
gboolean ttsim_same_tiles(const ttsim_shape *a, const ttsim_shape *b);
gint64 ttsim_view_numel(const ttml_view *v);
/* "[2, 3, 4]" for a view (ndim clamped to 0..TTML_MAX_DIMS); returns buf. */
char *ttsim_view_shape_str(const ttml_view *v, char *buf, size_t size);
/* Does the kernel read out[] before writing it (beta != 0, in-place state)? */
gboolean ttsim_reads_outputs(const ttml_launch *l);
/* Errors of the native kernels (ttsim_native_common.c, as ttsim_native_outputs). */
/* Set *error to "ttsim kernel 'NAME': <fmt>" with `code`; returns ERROR. */
ttsim_native_status ttsim_native_fail(const ttsim_native_ctx *c, GError **error, int code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* The cpu kernels' TTML_ERROR_SHAPE for a view of the wrong element count. */
ttsim_native_status ttsim_native_count_error(const ttsim_native_ctx *c, const ttml_view *v, const char *name,
                                             gint64 want, const char *what, GError **error);
/* Every id < limit, else the cpu kernels' TTML_ERROR_INVALID_ARG naming the
 * first bad one ("<kind> id N at row R is out of range ..."); checked before
 * anything is written. */
gboolean ttsim_native_ids_ok(const ttsim_native_ctx *c, const guint32 *ids, gint64 n, gint64 limit,
                             const char *kind, GError **error);

/* Native kernel lookup by name (NULL: none). */
ttsim_native_fn ttsim_native_find(const char *kernel);
/* Try to run the launch natively. Returns DECLINE when an operand does not
 * qualify or the kernel declines (*why says which). */
ttsim_native_status ttsim_native_run(struct ttsim_device *d, const ttml_launch *l, const char **why,
                                     GError **error);

/* Kernel families: name -> fn tables, NULL-terminated. */
typedef struct ttsim_native_entry {
    const char *name;
    ttsim_native_fn fn;
} ttsim_native_entry;
extern const ttsim_native_entry ttsim_native_matmul_kernels[];
extern const ttsim_native_entry ttsim_native_eltwise_kernels[];
extern const ttsim_native_entry ttsim_native_rows_kernels[];
extern const ttsim_native_entry ttsim_native_data_kernels[];
extern const ttsim_native_entry ttsim_native_attn_kernels[];

/* ---- the device (ttsim_plugin.c / ttsim_kernels.c) ---- */
struct ttsim_buf {
    ttsim_format fmt;
    gboolean shaped;             /* data holds a tiled image of `shape`        */
    ttsim_shape shape;
    size_t numel;                /* logical elements of the image              */
    void *data;                  /* host bytes of the device image             */
    size_t cap;
    guint64 pages;               /* pages charged                              */
    size_t page_bytes;
    /* The unpacker's view of the image: its values (storage-rounded) as
     * row-major f32, size/4 elements, kept in step with the image so kernels
     * read and write it without converting (see storage/ttsim_buffer.c). */
    float *shadow;
    gboolean shadow_valid;
};

typedef struct ttsim_kstat {
    guint64 calls;
    guint64 native_calls;        /* launches run natively on the tile images    */
    const char *converted_why;   /* why the last converted launch was not native */
    double seconds, flops;
    double ideal_seconds;        /* the roofline time of the same launches      */
} ttsim_kstat;

#define TTSIM_SCRATCH_SLOTS (TTML_LAUNCH_MAX_IN + TTML_LAUNCH_MAX_OUT)

typedef struct ttsim_device {
    ttsim_config cfg;
    char name[64];
    ttsim_memory mem;
    GMutex lock;
    /* scratch pool: one growing host buffer per launch slot */
    void *scratch[TTSIM_SCRATCH_SLOTS];
    size_t scratch_cap[TTSIM_SCRATCH_SLOTS];
    void *tmp;                   /* write/read staging                         */
    size_t tmp_cap;
    GHashTable *cpu_fns;         /* kernel name -> cpu ttml_kernel_fn          */
    gboolean cpu_opened;
    /* totals */
    guint64 launches;
    double sim_s, sim_last_s, flops;
    guint64 collectives;         /* charged by ttsim_charge_collective          */
    double comm_s;               /* their simulated time (part of sim_s)        */
    double ideal_s;              /* roofline time of all launches               */
    GHashTable *kstats;          /* kernel name -> ttsim_kstat*                */
    /* the core grid's host threads and their scratch */
    ttsim_hosts *hosts;
    void *relayout[TTML_LAUNCH_MAX_IN];   /* inputs re-tiled for a launch       */
    size_t relayout_cap[TTML_LAUNCH_MAX_IN];
    guint64 relayouts;                    /* how many times (the report)        */
    void **wscratch;             /* [workers * TTSIM_WORKER_SLOTS]              */
    size_t *wscratch_cap;
} ttsim_device;

/* ---- buffers in the storage format (storage/ttsim_buffer.c) ---- */
/* The storage format of a `dtype` tensor on this device. */
ttsim_format ttsim_format_for(const ttsim_device *d, ttml_dtype dtype);
/* Device pages (and their size) an image of `s` in fmt is charged for. */
void ttsim_charge_of(const ttsim_shape *s, ttsim_format fmt, guint64 *pages, size_t *page_bytes);
/* Read the whole buffer as row-major host values of `dtype` into dst
 * (`numel` elements; elements past the image are zero). */
gboolean ttsim_buf_decode(ttsim_device *d, ttml_buffer *buf, ttml_dtype dtype, void *dst, size_t numel,
                          GError **error);
/* Replace the buffer's image by host row-major `src` of `dtype` with the
 * given logical shape (tilized in the device's storage format). */
gboolean ttsim_buf_encode(ttsim_device *d, ttml_buffer *buf, ttml_dtype dtype, int ndim,
                          const int64_t *shape, const void *src, GError **error);
/* The buffer's f32 shadow (allocated; filled from the image when `fill`
 * and it is stale). */
float *ttsim_buf_shadow(ttsim_device *d, ttml_buffer *buf, gboolean fill);
/* The shadow holds new values for `shape`: round them to the storage format
 * and store the tile image (charging memory; may fail with OOM). */
gboolean ttsim_buf_commit_f32(ttsim_device *d, ttml_buffer *buf, int ndim, const int64_t *shape,
                              GError **error);
/* tb->data holds new u32 values (row-major) for `shape`. */
gboolean ttsim_buf_commit_u32(ttsim_device *d, ttml_buffer *buf, int ndim, const int64_t *shape,
                              GError **error);
/* Make room for an image of `s` in fmt (the buffer's bytes may move) and
 * charge it; on OOM the old charge and image stay. */
gboolean ttsim_buf_prepare(ttsim_device *d, ttml_buffer *buf, ttsim_format fmt, const ttsim_shape *s,
                           GError **error);
/* Bytes the view takes on the device (its padded image). */
double ttsim_view_bytes(const ttsim_device *d, const ttml_view *v);

/* ---- inter-chip Ethernet (timing/ttsim_eth.c) ---- */
/* The driver's charge_collective entry: c->seconds = steps x (hop latency +
 * bytes_per_step / (links x link bandwidth)), added to the device's simulated
 * time and its communication time. Errors: TTML_ERROR_UNSUPPORTED for an
 * architecture without Ethernet figures, TTML_ERROR_INVALID_ARG for bad counts. */
gboolean ttsim_charge_collective(void *dev, ttml_collective_cost *c, GError **error);

/* ---- launches (ttsim_kernels.c) ---- */
/* Run a launch on device `d`: natively, else on converted data (unless
 * fallback=off); adds its modelled time to the totals. */
gboolean ttsim_execute(ttsim_device *d, ttml_device *device, const ttml_launch *l, GError **error);
/* The generic kernel registered for every name (ttsim_kernels.c). */
gboolean ttsim_kernel_run(ttml_device *device, const ttml_launch *launch, GError **error);
/* Every kernel name ttsim registers (NULL-terminated). */
extern const char *const ttsim_kernel_names[];
/* Model the launch's time on the device (ttsim_kernels.c). */
void ttsim_model_launch(const ttsim_device *d, const ttml_launch *l, gboolean outputs_read,
                        ttsim_timing *t);

G_END_DECLS

#endif
