/* drivers/cpu/cpu_internal.h - private declarations shared by the cpu driver's
 * files. Nothing here is exported (the plugin is built with
 * -fvisibility=hidden; only ttml_plugin_cpu_get_desc is visible).
 */
#ifndef TTML_CPU_INTERNAL_H
#define TTML_CPU_INTERNAL_H

#include <ttml/ttml.h>

#include <string.h>

G_BEGIN_DECLS

/* TTML_CPU_VEC on a kernel's loop function compiles it three times (AVX-512,
 * AVX2 and baseline x86-64) and picks the best the CPU has when the driver is
 * loaded (GCC target_clones, an ifunc): the loops are written to vectorise,
 * and baseline x86-64 has only 4-wide SSE. The clones compute bitwise the
 * same results (no FMA contraction under -std=c11, no reassociation), so
 * runs stay reproducible across machines. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define TTML_CPU_VEC __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TTML_CPU_VEC
#endif

/* ---- OpenBLAS, loaded with dlopen (cpu_blas.c) ----
 * Not linked: OpenBLAS reads OPENBLAS_CORETYPE only in its ELF constructor,
 * so the driver picks the core type before the library is loaded. */
enum { TTML_CBLAS_ROW_MAJOR = 101, TTML_CBLAS_NO_TRANS = 111, TTML_CBLAS_TRANS = 112 };

typedef struct ttml_cpu_blas {
    void *handle;
    void (*sgemm)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
    void (*set_num_threads)(int n);
    int (*get_num_threads)(void);
    char *(*get_corename)(void);
    char *(*get_config)(void);
    char coretype_set[32];   /* OPENBLAS_CORETYPE chosen by us ("" = left alone) */
    char coretype_env[32];   /* OPENBLAS_CORETYPE found in the environment      */
} ttml_cpu_blas;

extern ttml_cpu_blas ttml_cpu_blas_lib;

/* Load libopenblas.so.0 (once); choose SkylakeX kernels on AVX-512 CPUs when
 * OPENBLAS_CORETYPE is unset. Fails with TTML_ERROR_PLUGIN naming the fix. */
gboolean ttml_cpu_blas_load(GError **error);
/* "SkylakeX" etc. ("unknown" before loading). */
const char *ttml_cpu_blas_corename(void);
const char *ttml_cpu_blas_config(void);

/* ---- bf16 products through oneDNN, loaded with dlopen (cpu_dnnl.c) ---- */
/* Where the driver's warnings go (set at init). */
void ttml_cpu_dnnl_set_log(ttml_plugin *plugin, const ttml_host *host);
/* Row-major C[M, N] = alpha * op(A) @ op(B) + beta * C with bf16 operands and
 * fp32 accumulation. Loads oneDNN on first use. b_buf (with b's byte offset
 * in it) with b_weight marks B as a weight: its bf16 copy comes from the
 * weight cache; without b_weight a B buffer is cached as an activation;
 * NULL converts B for this product only. a_buf (with a's byte offset), when
 * not NULL, caches A's bf16 copy as an activation (used by two products:
 * X by the forward and dW, dY by dX and dW). FALSE (C untouched) when
 * oneDNN is missing or refuses the shape: the caller computes in fp32; a
 * warning saying why is logged once. */
gboolean ttml_cpu_dnnl_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *a, const ttml_buffer *a_buf, size_t a_offset, const float *b,
                            const ttml_buffer *b_buf, size_t b_offset, int b_weight, float beta, float *c);
/* Row-major C[M, N] (f32) = alpha * op(A) @ op(B) + beta * C with A and B
 * already bf16 (contiguous: lda = trans_a ? M : K, ldb = trans_b ? K : N,
 * ldc = N), fp32 accumulation, on the calling thread only: for items of
 * ttml_cpu_parallel_for, which may call it at once (attention's blocks). Call
 * ttml_cpu_dnnl_status() first (it loads oneDNN). FALSE (C untouched) when
 * oneDNN is missing or refuses the shape: the caller computes in fp32. */
gboolean ttml_cpu_dnnl_gemm_st(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const guint16 *a, const guint16 *b, float beta, float *c);
/* Release the per-thread state of ttml_cpu_dnnl_gemm_st (streams, scratchpads,
 * memory objects) when no product can run (the last cpu device closing, after
 * the pool's threads). Primitives stay cached. */
void ttml_cpu_dnnl_st_release(void);
/* "oneDNN 2.6.3 (libdnnl.so.2)" once loaded (loads it), NULL when unavailable. */
const char *ttml_cpu_dnnl_status(void);

/* ---- bf16 conversion and the weight cache (cpu_wcache.c) ---- */
/* f rounded to bf16 (nearest even; a NaN stays a quiet NaN, denormals are
 * kept, unlike AVX512_BF16's vcvtneps2bf16): the one rounding of the driver,
 * so a copy written by a kernel in the same pass as the fp32 data (adamw_step)
 * is bit-identical to one made by ttml_cpu_to_bf16. Written to vectorise. */
static inline guint16 ttml_cpu_bf16_round(float f)
{
    guint32 u;
    memcpy(&u, &f, sizeof u);
    const guint32 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const gboolean nan = (u & 0x7fffffffu) > 0x7f800000u;
    return (guint16)(nan ? ((u >> 16) | 0x40u) : rounded);
}
/* dst[i] = src[i] rounded to bf16 (nearest even), on the driver's pool. */
void ttml_cpu_to_bf16(guint16 *dst, const float *src, size_t n);
typedef struct ttml_cpu_wcache_stats {
    guint64 lookups, hits, conversions, invalidations;
    guint64 reuses;                         /* conversions into a stale copy  */
    guint64 act_lookups, act_hits;          /* activations (A operands)       */
    guint64 converted_bytes, saved_bytes;   /* bf16 bytes made / reused       */
    guint64 live_bytes, peak_live_bytes;    /* held by the cache              */
    guint64 refreshes, refreshed_bytes;     /* copies written by a kernel in the
                                             * same pass as the fp32 data     */
} ttml_cpu_wcache_stats;
/* The bf16 copy of weight `src` (n floats at byte `offset` of `buf`):
 * cached until the buffer is written or freed. With the cache off
 * (TTML_CPU_BF16_CACHE=0) it is converted into `scratch` (n elements), which
 * is returned. The pointer is valid until the buffer is next written. */
const guint16 *ttml_cpu_wcache_get(const ttml_buffer *buf, size_t offset, const float *src, size_t n,
                                   guint16 *scratch);
/* The same for an activation (an A operand): counted apart from weights. */
const guint16 *ttml_cpu_wcache_get_act(const ttml_buffer *buf, size_t offset, const float *src, size_t n,
                                       guint16 *scratch);
/* Mark buf's bf16 copy stale (its memory is kept for the next conversion):
 * called by every path that writes a buffer (host write, each out[] of a
 * kernel launch). A copy the kernel just refreshed in the same pass
 * (ttml_cpu_wcache_refresh_done) stays valid, once. */
void ttml_cpu_wcache_invalidate(const ttml_buffer *buf);
/* Fused refresh, for a kernel that rewrites every element of a view (byte
 * `offset`, n floats) of its out[] buffer `buf` (adamw_step: the parameter):
 * when buf holds a bf16 copy of exactly that view, the copy is marked stale
 * and its memory returned (n elements) for the kernel to write the bf16 of
 * each new value (ttml_cpu_bf16_round) in the same pass; NULL otherwise
 * (no copy, another view, cache off: nothing to do). After writing every
 * element the kernel calls ttml_cpu_wcache_refresh_done(buf, the memory): the copy is
 * valid again and the launch's invalidation of buf (cpu_launch, after the
 * kernel) keeps it once. A kernel that fails in between does not call it:
 * the copy stays stale. */
guint16 *ttml_cpu_wcache_refresh_begin(const ttml_buffer *buf, size_t offset, size_t n);
void ttml_cpu_wcache_refresh_done(const ttml_buffer *buf, const guint16 *data);
/* Drop buf's bf16 copy and free its memory: called when buf is freed. */
void ttml_cpu_wcache_release(const ttml_buffer *buf);
void ttml_cpu_wcache_get_stats(ttml_cpu_wcache_stats *stats);
/* Frees the blocks kept for reuse from dropped entries (a device closes:
 * a long-lived process, e.g. Python, does not keep a finished run's memory). */
void ttml_cpu_wcache_trim(void);

/* ---- topology and threads (cpu_threads.c) ---- */
typedef struct ttml_cpu_topology {
    int n_packages, n_cores, n_pus;
    guint64 l1d_bytes, l2_bytes, l3_bytes;   /* per cache instance, 0 = unknown */
    int n_l3;
    guint64 mem_bytes;                        /* physical RAM                   */
    gboolean from_hwloc;
} ttml_cpu_topology;

/* Probe the machine with hwloc (sysconf as fallback). Never fails. */
void ttml_cpu_topology_probe(ttml_cpu_topology *topo);
/* "1 package, 1 core, 2 PUs; L1d 32 KiB, L2 1 MiB, L3 32 MiB" into buf. */
void ttml_cpu_topology_summary(const ttml_cpu_topology *topo, char *buf, size_t size);
/* Threads to use: TTML_CPU_THREADS when set to a positive integer, else the
 * physical core count. *env_error is set to TRUE when the variable is set but
 * invalid (the caller logs a warning). */
int ttml_cpu_threads_choose(const ttml_cpu_topology *topo, gboolean *env_error);
/* The number of threads chosen at init (>= 1). */
extern int ttml_cpu_n_threads;

/* Run fn(ctx, begin, end) over [0, n) in contiguous chunks of at least
 * `grain` elements (one chunk when n < 2 * grain), concurrently on the
 * driver's thread pool: fn must be safe on disjoint ranges at once. */
typedef void (*ttml_cpu_range_fn)(void *ctx, size_t begin, size_t end);
void ttml_cpu_parallel_for(size_t n, size_t grain, ttml_cpu_range_fn fn, void *ctx);

/* ---- argument checking helpers (cpu_check.c) ---- */
size_t ttml_cpu_numel(const ttml_view *v);
/* Check slot counts and the params struct size (at least `params_size`;
 * 0 = no params needed). */
gboolean ttml_cpu_check_launch(const ttml_launch *l, int n_in, int n_out, size_t params_size,
                               GError **error);
/* Data pointer of in[i] / out[i] after checking ndim, shape, dtype (when
 * `dtype` >= 0) and that the view lies inside its buffer. NULL on error. */
void *ttml_cpu_in(const ttml_launch *l, int i, int dtype, GError **error);
void *ttml_cpu_out(const ttml_launch *l, int i, int dtype, GError **error);
/* Fails with TTML_ERROR_SHAPE showing both shapes unless numel agrees. */
gboolean ttml_cpu_check_numel(const ttml_launch *l, const ttml_view *a, const char *a_name,
                              const ttml_view *b, const char *b_name, GError **error);
/* Pad `v`'s shape on the left to 4 dims. */
void ttml_cpu_shape4(const ttml_view *v, int64_t shape4[4]);
/* Element strides (row-major) of `v` broadcast to `to` (both padded to 4-D):
 * 0 where v has extent 1. Fails with TTML_ERROR_SHAPE (both shapes) when
 * a dim of v is neither 1 nor equal to the one of `to`. */
gboolean ttml_cpu_broadcast_strides(const ttml_launch *l, const ttml_view *v, const char *v_name,
                                    const ttml_view *to, const char *to_name, int64_t strides[4],
                                    GError **error);

/* ---- kernels (cpu_kernels_*.c) ---- */
gboolean ttml_cpu_fill(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_copy(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_affine(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_binary(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_div_bwd_b(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_reduce_to(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_axpby(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_relu(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_relu_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_matmul(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_mse_fwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_mse_bwd(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_sum_sq(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_sgd_step(ttml_device *dev, const ttml_launch *l, GError **error);
gboolean ttml_cpu_adamw_step(ttml_device *dev, const ttml_launch *l, GError **error);

/* Row-major sgemm C = alpha * op(A) @ op(B) + beta * C (contiguous, lda/ldb/
 * ldc from the shapes). One product runs on OpenBLAS's threads (the pool's
 * workers are told to stop spinning first); a batch runs its products as
 * items on the driver's pool with OpenBLAS single-threaded (each product cut
 * into parts when there are fewer products than threads). The _batch form
 * walks up to two batch dims: abat/bbat of extent 1 are broadcast to cbat's
 * (cpu_kernels_matmul.c). */
void ttml_cpu_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *a, const float *b, float beta, float *c);
void ttml_cpu_gemm_batch(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *a, const int64_t abat[2], const float *b, const int64_t bbat[2],
                         float beta, float *c, const int64_t cbat[2]);

/* Register the attention kernels of ttml/kernels_attn.h (cpu_kernels_attn.c). */
gboolean ttml_cpu_register_attn_kernels(ttml_plugin *plugin, const ttml_host *host, GError **error);
/* Register the nn kernels of ttml/kernels_nn.h (cpu_kernels_nn*.c). */
gboolean ttml_cpu_register_nn_kernels(ttml_plugin *plugin, const ttml_host *host, GError **error);

/* Reduction shared by reduce_to and div_bwd_b: out = scale * reduce(x over
 * x_view's shape) + beta * out, out shape from out_view (already checked). */
gboolean ttml_cpu_reduce_into(const ttml_launch *l, const float *x, const ttml_view *x_view,
                              const char *x_name, float *out, const ttml_view *out_view,
                              float scale, float beta, GError **error);

/* ---- thread pool (cpu_threads.c) ----
 * ttml_cpu_parallel_for (above) runs its chunks on a pool of
 * (ttml_cpu_n_threads - 1) workers plus the caller. The cut of [0, n) into
 * chunks depends only on n, grain and ttml_cpu_n_threads. */
#define TTML_CPU_MAX_THREADS 256
/* Number of chunks [0, n) is cut into (0 when n == 0, else 1..TTML_CPU_MAX_THREADS). */
size_t ttml_cpu_parallel_chunks(size_t n, size_t grain);
/* Like ttml_cpu_parallel_for, but fn also gets the chunk index (0..chunks-1):
 * store per-chunk partials in an array of ttml_cpu_parallel_chunks(n, grain)
 * slots and combine them in index order for reproducible reductions. */
typedef void (*ttml_cpu_chunk_fn)(void *ctx, size_t chunk, size_t begin, size_t end);
void ttml_cpu_parallel_for_chunks(size_t n, size_t grain, ttml_cpu_chunk_fn fn, void *ctx);
/* ttml_cpu_parallel_for whose chunks call sgemm: OpenBLAS is set to one
 * thread while they run (concurrent threaded OpenBLAS calls would serialise)
 * and given its threads back afterwards; with one chunk, nothing changes
 * (cpu_kernels_matmul.c). */
void ttml_cpu_parallel_for_blas1(size_t n, size_t grain, ttml_cpu_range_fn fn, void *ctx);
/* Before handing the cores to OpenBLAS's threads: pool workers that are
 * spinning after their last job go to sleep now instead of spinning on
 * (the next job wakes them as usual). */
void ttml_cpu_threads_park(void);
/* Device open/close reference the pool: started at the first open (with
 * n_threads, restarted if that changes), joined at the last close; close
 * returns the cpu devices still open. */
void ttml_cpu_threads_open(int n_threads);
int ttml_cpu_threads_close(void);
/* Threads of the running pool including the caller (0 = not running). */
int ttml_cpu_threads_running(void);

/* ---- caching allocator (cpu_pool.c) ----
 * Freed buffers are kept in per-size-class free lists and reused; 64-byte
 * aligned; blocks of 256 KiB and more are mmap'ed. Cached bytes are capped
 * (TTML_CPU_POOL_MAX_MB, default min(RAM / 4, 4 GiB); 0 disables caching).
 * Everything cached is released when the last cpu device closes. */
/* y = alpha x + beta y over [begin, end) (beta == 0 ignores y, even NaN):
 * the "axpby" kernel's loop, also reduce_to's when nothing is summed. */
typedef struct {
    const float *x;
    float *y;
    float alpha, beta;
} ttml_cpu_axpby_ctx;
void ttml_cpu_axpby_range(void *ctx, size_t begin, size_t end);

typedef struct ttml_cpu_pool_stats {
    guint64 allocs, hits;          /* requests, requests served from the cache */
    guint64 live_bytes, peak_live_bytes; /* in blocks handed out (class sizes)  */
    guint64 cached_bytes, cap_bytes;
    guint64 slack_bytes;           /* the footprint bound's allowance over the peak */
    guint64 learned_bytes, refaults; /* blocks the bound released and needed again */
    guint64 moves, moved_bytes;    /* cached pages moved into a new block (mremap) */
} ttml_cpu_pool_stats;
void ttml_cpu_pool_open(guint64 ram_bytes);
void ttml_cpu_pool_close(void);
/* Sets buf->data (buf->size bytes, at least 64) and buf->handle; fails with
 * TTML_ERROR_OOM. */
gboolean ttml_cpu_pool_alloc(ttml_buffer *buf, GError **error);
void ttml_cpu_pool_free(ttml_buffer *buf);
void ttml_cpu_pool_get_stats(ttml_cpu_pool_stats *stats);

G_END_DECLS

#endif
