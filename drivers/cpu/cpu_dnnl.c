/* drivers/cpu/cpu_dnnl.c - bf16 matrix products through oneDNN, loaded at run
 * time (like OpenBLAS in cpu_blas.c), so that a machine without oneDNN still
 * trains in fp32 and says so.
 *
 * C[M, N] (f32) = alpha * op(A) @ op(B) + beta * C with op(A), op(B) rounded
 * to bf16 (round to nearest even) and the products accumulated in fp32: the
 * `dnnl_matmul` primitive with bf16 src/weights and an f32 dst (beta through
 * a sum post-op, alpha through the output scale). Transposes are strides of
 * the memory descriptors, never copies. Primitives are cached per shape
 * (trans_a, trans_b, M, N, K, alpha, beta); the bf16 copy of A and of a B
 * that is not a weight live in two scratch buffers owned here that only grow;
 * a weight's bf16 copy (B given with its buffer) comes from the weight cache
 * (cpu_wcache.c): converted once per write of the fp32 data, not per product.
 *
 * Loading: TTML_DNNL_LIBRARY (a file name or path) or libdnnl.so.2 is opened
 * on the first bf16 product with RTLD_LOCAL. Debian's oneDNN threads with
 * OpenMP (libgomp), whose workers spin after every parallel region unless
 * OMP_WAIT_POLICY=passive: so unless the user set them, OMP_WAIT_POLICY is
 * set to passive and OMP_NUM_THREADS to the driver's thread count while the
 * library (and libgomp's constructor) loads, then restored. Thread policy:
 * at any moment only one of the three thread sets runs: the driver's pool
 * workers are parked before a product (as for OpenBLAS), OpenBLAS's workers
 * sleep between its GEMMs (cpu_blas.c) and the OpenMP workers sleep between
 * oneDNN calls; each set has at most the driver's thread count.
 *
 * Failure to load, or a primitive oneDNN refuses, is not an error: the
 * caller falls back to sgemm, and a warning is logged once.
 */
#include "cpu_internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<dnnl.h>)
#include <dnnl.h>
#define TTML_HAVE_DNNL_H 1
#endif
#endif

#define TTML_DNNL_SONAME "libdnnl.so.2"
#define DNNL_CACHE_SIZE 64

static const ttml_host *dnnl_host;
static ttml_plugin *dnnl_plugin;

void ttml_cpu_dnnl_set_log(ttml_plugin *plugin, const ttml_host *host)
{
    dnnl_plugin = plugin;
    dnnl_host = host;
}

#define DNNL_LOG(level, ...)                                                                     \
    do {                                                                                         \
        if (dnnl_host && dnnl_host->log) dnnl_host->log(dnnl_plugin, level, __VA_ARGS__);        \
        else g_log("ttml", level, __VA_ARGS__);                                                  \
    } while (0)

#ifdef TTML_HAVE_DNNL_H

typedef struct {
    dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
    dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
    dnnl_status_t (*stream_wait)(dnnl_stream_t);
    dnnl_status_t (*md_init_by_strides)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t,
                                        const dnnl_dims_t);
    dnnl_status_t (*matmul_desc_init)(dnnl_matmul_desc_t *, const dnnl_memory_desc_t *,
                                      const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                      const dnnl_memory_desc_t *);
    dnnl_status_t (*attr_create)(dnnl_primitive_attr_t *);
    dnnl_status_t (*attr_destroy)(dnnl_primitive_attr_t);
    dnnl_status_t (*attr_set_output_scales)(dnnl_primitive_attr_t, dnnl_dim_t, int, const float *);
    dnnl_status_t (*attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
    dnnl_status_t (*post_ops_create)(dnnl_post_ops_t *);
    dnnl_status_t (*post_ops_destroy)(dnnl_post_ops_t);
    dnnl_status_t (*post_ops_append_sum)(dnnl_post_ops_t, float);
    dnnl_status_t (*pd_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t,
                               dnnl_engine_t, const_dnnl_primitive_desc_t);
    dnnl_status_t (*pd_destroy)(dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
    dnnl_status_t (*primitive_execute)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
    dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
    dnnl_status_t (*memory_destroy)(dnnl_memory_t);
    const dnnl_version_t *(*version)(void);
    void (*omp_set_num_threads)(int);   /* libgomp's, when found */
    int (*omp_get_max_threads)(void);   /* libgomp's, when found */
    dnnl_status_t (*attr_set_scratchpad_mode)(dnnl_primitive_attr_t, dnnl_scratchpad_mode_t);
    const dnnl_memory_desc_t *(*pd_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
    size_t (*md_get_size)(const dnnl_memory_desc_t *);
    dnnl_status_t (*memory_set_data_handle)(dnnl_memory_t, void *);
    dnnl_status_t (*stream_destroy)(dnnl_stream_t);
} dnnl_api;

typedef struct {
    int ta, tb;
    gint64 M, N, K;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md_a, md_b, md_c;
} dnnl_entry;

static struct {
    GMutex lock;
    gboolean tried, ok;
    char status[256];
    dnnl_api api;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_entry cache[DNNL_CACHE_SIZE];
    int n_cache, next_evict;
    guint16 *scratch[2];
    size_t scratch_n[2];
    gboolean warned_fallback;
} dn = {.status = "not loaded yet"};

/* Set name=value for the load unless the user set it; returns TRUE when set. */
static gboolean env_default(const char *name, const char *value)
{
    if (g_getenv(name)) return FALSE;
    setenv(name, value, 1);
    return TRUE;
}

static gboolean dnnl_resolve(void *h, GString *missing)
{
    dnnl_api *a = &dn.api;
#define SYM(field, name)                                                                         \
    do {                                                                                         \
        *(void **)&a->field = dlsym(h, name);                                                    \
        if (!a->field) g_string_append_printf(missing, "%s%s", missing->len ? ", " : "", name);  \
    } while (0)
    SYM(engine_create, "dnnl_engine_create");
    SYM(stream_create, "dnnl_stream_create");
    SYM(stream_wait, "dnnl_stream_wait");
    SYM(md_init_by_strides, "dnnl_memory_desc_init_by_strides");
    SYM(matmul_desc_init, "dnnl_matmul_desc_init");
    SYM(attr_create, "dnnl_primitive_attr_create");
    SYM(attr_destroy, "dnnl_primitive_attr_destroy");
    SYM(attr_set_output_scales, "dnnl_primitive_attr_set_output_scales");
    SYM(attr_set_post_ops, "dnnl_primitive_attr_set_post_ops");
    SYM(post_ops_create, "dnnl_post_ops_create");
    SYM(post_ops_destroy, "dnnl_post_ops_destroy");
    SYM(post_ops_append_sum, "dnnl_post_ops_append_sum");
    SYM(pd_create, "dnnl_primitive_desc_create");
    SYM(pd_destroy, "dnnl_primitive_desc_destroy");
    SYM(primitive_create, "dnnl_primitive_create");
    SYM(primitive_execute, "dnnl_primitive_execute");
    SYM(memory_create, "dnnl_memory_create");
    SYM(memory_destroy, "dnnl_memory_destroy");
    SYM(version, "dnnl_version");
    SYM(attr_set_scratchpad_mode, "dnnl_primitive_attr_set_scratchpad_mode");
    SYM(pd_query_md, "dnnl_primitive_desc_query_md");
    SYM(md_get_size, "dnnl_memory_desc_get_size");
    SYM(memory_set_data_handle, "dnnl_memory_set_data_handle");
    SYM(stream_destroy, "dnnl_stream_destroy");
#undef SYM
    *(void **)&a->omp_set_num_threads = dlsym(h, "omp_set_num_threads");
    *(void **)&a->omp_get_max_threads = dlsym(h, "omp_get_max_threads");
    return missing->len == 0;
}

/* Open oneDNN (once); dn.status says what happened. Call with dn.lock held. */
static void dnnl_load(void)
{
    dn.tried = TRUE;
    const char *lib = g_getenv("TTML_DNNL_LIBRARY");
    if (!lib || !*lib) lib = TTML_DNNL_SONAME;
    char nthreads[16];
    g_snprintf(nthreads, sizeof nthreads, "%d", ttml_cpu_n_threads);
    const gboolean set_wait = env_default("OMP_WAIT_POLICY", "passive");
    const gboolean set_num = env_default("OMP_NUM_THREADS", nthreads);
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (set_wait) unsetenv("OMP_WAIT_POLICY");
    if (set_num) unsetenv("OMP_NUM_THREADS");
    if (!h) {
        g_snprintf(dn.status, sizeof dn.status,
                   "cannot load oneDNN (%s): %s; install 'libdnnl2' (Debian/Ubuntu) or set "
                   "TTML_DNNL_LIBRARY to its path", lib, dlerror());
        return;
    }
    GString *missing = g_string_new(NULL);
    gboolean ok = dnnl_resolve(h, missing);
    if (!ok)
        g_snprintf(dn.status, sizeof dn.status, "%s lacks %s (oneDNN 2.x is needed)", lib, missing->str);
    g_string_free(missing, TRUE);
    if (!ok) return;   /* never dlclose: libgomp may have started threads */
    if (dn.api.engine_create(&dn.engine, dnnl_cpu, 0) != dnnl_success ||
        dn.api.stream_create(&dn.stream, dn.engine, dnnl_stream_default_flags) != dnnl_success) {
        g_snprintf(dn.status, sizeof dn.status, "oneDNN (%s) could not create a CPU engine", lib);
        return;
    }
    /* libgomp may have been loaded (and read its environment) before us */
    if (set_num && dn.api.omp_set_num_threads) dn.api.omp_set_num_threads(ttml_cpu_n_threads);
    const dnnl_version_t *v = dn.api.version();
    g_snprintf(dn.status, sizeof dn.status, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, lib);
    dn.ok = TRUE;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16"))
        DNNL_LOG(G_LOG_LEVEL_WARNING,
                 "precision bf16: this CPU lacks AVX512_BF16, so oneDNN converts bf16 in software: "
                 "correct but slower than fp32 may be; use precision: fp32 for speed");
    else
        DNNL_LOG(G_LOG_LEVEL_DEBUG, "precision bf16: %s", dn.status);
}

/* The cached primitive for this shape, created on first use (NULL when
 * oneDNN refuses it). Call with dn.lock held. */
static dnnl_entry *dnnl_lookup(int ta, int tb, gint64 M, gint64 N, gint64 K, float alpha, float beta)
{
    for (int i = 0; i < dn.n_cache; i++) {
        dnnl_entry *e = &dn.cache[i];
        if (e->ta == ta && e->tb == tb && e->M == M && e->N == N && e->K == K && e->alpha == alpha &&
            e->beta == beta)
            return e;
    }
    const dnnl_api *a = &dn.api;
    dnnl_entry e = {ta, tb, M, N, K, alpha, beta, NULL, {0}, {0}, {0}};
    dnnl_dims_t da = {M, K}, sa = {ta ? 1 : K, ta ? M : 1};
    dnnl_dims_t db = {K, N}, sb = {tb ? 1 : N, tb ? K : 1};
    dnnl_dims_t dc = {M, N}, sc = {N, 1};
    if (a->md_init_by_strides(&e.md_a, 2, da, dnnl_bf16, sa) != dnnl_success ||
        a->md_init_by_strides(&e.md_b, 2, db, dnnl_bf16, sb) != dnnl_success ||
        a->md_init_by_strides(&e.md_c, 2, dc, dnnl_f32, sc) != dnnl_success)
        return NULL;
    dnnl_matmul_desc_t desc;
    if (a->matmul_desc_init(&desc, &e.md_a, &e.md_b, NULL, &e.md_c) != dnnl_success) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    gboolean ok = a->attr_create(&attr) == dnnl_success;
    if (ok && alpha != 1.0f) ok = a->attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success;
    if (ok && beta != 0.0f)
        ok = a->post_ops_create(&po) == dnnl_success && a->post_ops_append_sum(po, beta) == dnnl_success &&
             a->attr_set_post_ops(attr, po) == dnnl_success;
    if (ok) ok = a->pd_create(&pd, &desc, attr, dn.engine, NULL) == dnnl_success;
    if (ok) ok = a->primitive_create(&e.prim, pd) == dnnl_success;
    if (pd) a->pd_destroy(pd);
    if (po) a->post_ops_destroy(po);
    if (attr) a->attr_destroy(attr);
    if (!ok) return NULL;
    int slot = dn.n_cache < DNNL_CACHE_SIZE ? dn.n_cache++ : dn.next_evict++ % DNNL_CACHE_SIZE;
    /* evicted primitives are leaked on purpose: a few KiB, and a shape
     * mix wider than the cache is not a training loop */
    dn.cache[slot] = e;
    return &dn.cache[slot];
}

static guint16 *scratch(int i, size_t n)
{
    if (dn.scratch_n[i] < n) {
        g_free(dn.scratch[i]);
        dn.scratch[i] = g_malloc(n * sizeof(guint16));
        dn.scratch_n[i] = n;
    }
    return dn.scratch[i];
}

static gboolean dnnl_run(const dnnl_entry *e, const float *a, const ttml_buffer *a_buf, size_t a_offset,
                         const float *b, const ttml_buffer *b_buf, size_t b_offset, int b_weight, float *c)
{
    const dnnl_api *api = &dn.api;
    const size_t na = (size_t)(e->M * e->K), nb = (size_t)(e->K * e->N);
    const guint16 *a16;
    if (a_buf && a_buf != b_buf) {   /* one entry per buffer: B's lookup must not overwrite A's */
        a16 = ttml_cpu_wcache_get_act(a_buf, a_offset, a, na, scratch(0, na));
    } else {
        guint16 *s = scratch(0, na);
        ttml_cpu_to_bf16(s, a, na);
        a16 = s;
    }
    const guint16 *b16;
    if (b_buf && b_weight) {
        b16 = ttml_cpu_wcache_get(b_buf, b_offset, b, nb, scratch(1, nb));
    } else if (b_buf && b_buf != a_buf) {   /* an activation (X of dW) */
        b16 = ttml_cpu_wcache_get_act(b_buf, b_offset, b, nb, scratch(1, nb));
    } else {
        guint16 *s = scratch(1, nb);
        ttml_cpu_to_bf16(s, b, nb);
        b16 = s;
    }
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    gboolean ok = api->memory_create(&ma, &e->md_a, dn.engine, (void *)a16) == dnnl_success &&
                  api->memory_create(&mb, &e->md_b, dn.engine, (void *)b16) == dnnl_success &&
                  api->memory_create(&mc, &e->md_c, dn.engine, c) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        if (ttml_cpu_n_threads > 1) ttml_cpu_threads_park();
        ok = api->primitive_execute(e->prim, dn.stream, 3, args) == dnnl_success &&
             api->stream_wait(dn.stream) == dnnl_success;
    }
    if (ma) api->memory_destroy(ma);
    if (mb) api->memory_destroy(mb);
    if (mc) api->memory_destroy(mc);
    return ok;
}

gboolean ttml_cpu_dnnl_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *a, const ttml_buffer *a_buf, size_t a_offset, const float *b,
                            const ttml_buffer *b_buf, size_t b_offset, int b_weight, float beta, float *c)
{
    g_mutex_lock(&dn.lock);
    if (!dn.tried) dnnl_load();
    gboolean ok = FALSE;
    if (dn.ok) {
        const dnnl_entry *e = dnnl_lookup(trans_a, trans_b, M, N, K, alpha, beta);
        ok = e && dnnl_run(e, a, a_buf, a_offset, b, b_buf, b_offset, b_weight, c);
    }
    if (!ok && !dn.warned_fallback) {
        dn.warned_fallback = TRUE;
        DNNL_LOG(G_LOG_LEVEL_WARNING,
                 "precision bf16 is not available, computing matmul in fp32 (OpenBLAS): %s",
                 dn.ok ? "oneDNN refused a bf16 matmul primitive" : dn.status);
    }
    g_mutex_unlock(&dn.lock);
    return ok;
}

const char *ttml_cpu_dnnl_status(void)
{
    g_mutex_lock(&dn.lock);
    if (!dn.tried) dnnl_load();
    const char *s = dn.ok ? dn.status : NULL;
    g_mutex_unlock(&dn.lock);
    return s;
}

/* ---- single-threaded products for the pool's threads (attention) ----
 *
 * ttml_cpu_dnnl_gemm_st runs one product on the calling thread: callers are
 * items of ttml_cpu_parallel_for running at once, so nothing here is shared
 * while a product runs. Primitives are created with OpenMP's thread count
 * set to 1 on the calling thread (oneDNN then runs them inline, without an
 * OpenMP team) and a user scratchpad, which lives in the calling thread's
 * slot with its stream and, per cached shape, its memory objects (pointed
 * at each call's operands: no allocation per product; oneDNN's own
 * scratchpad would be shared between the threads). The primitive cache
 * (st.cache) only grows, so an entry found under the lock stays valid
 * after it is released; once full, a new shape is refused (the caller
 * computes in fp32). The cache lives until the process exits; the slots
 * (streams, scratchpads, memory objects) are released when the last cpu
 * device closes (ttml_cpu_dnnl_st_release), since the threads go with it: a
 * long-lived process (Python) opening devices again does not run out of
 * slots. A thread whose slot was released takes a new one (st.gen). */

#define DNNL_ST_CACHE 256
#define DNNL_ST_SLOTS 64

typedef struct {
    int ta, tb;
    gint64 M, N, K;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md_a, md_b, md_c, md_s;
    size_t scratch;   /* bytes of md_s, 0 when none */
} dnnl_st_entry;

typedef struct {
    dnnl_stream_t stream;
    void *scratch;    /* scratch_n bytes, only grows */
    size_t scratch_n;
    dnnl_memory_t (*mem)[4];   /* per cache entry: A, B, C, scratchpad (made
                                * on first use, pointed at each call's data) */
} dnnl_st_slot;

static struct {
    GMutex lock;
    dnnl_st_entry cache[DNNL_ST_CACHE];
    int n_cache;
    dnnl_st_slot slots[DNNL_ST_SLOTS];   /* one per thread that ran a product */
    int n_slots;
    int gen;                             /* bumped by each release of the slots */
} st;

static __thread int st_slot_index = -1, st_slot_gen;

/* OpenMP's thread count of the calling thread set to n; returns the old one (0: no OpenMP). */
static int st_omp_threads(int n)
{
    if (!dn.api.omp_set_num_threads || !dn.api.omp_get_max_threads) return 0;
    const int old = dn.api.omp_get_max_threads();
    if (old != n) dn.api.omp_set_num_threads(n);
    return old;
}

static void st_omp_restore(int old)
{
    if (old > 1) dn.api.omp_set_num_threads(old);
}

/* Create the primitive of e's shape (one thread, user scratchpad). */
static gboolean st_create(dnnl_st_entry *e)
{
    const dnnl_api *a = &dn.api;
    dnnl_dims_t da = {e->M, e->K}, sa = {e->ta ? 1 : e->K, e->ta ? e->M : 1};
    dnnl_dims_t db = {e->K, e->N}, sb = {e->tb ? 1 : e->N, e->tb ? e->K : 1};
    dnnl_dims_t dc = {e->M, e->N}, sc = {e->N, 1};
    dnnl_matmul_desc_t desc;
    if (a->md_init_by_strides(&e->md_a, 2, da, dnnl_bf16, sa) != dnnl_success ||
        a->md_init_by_strides(&e->md_b, 2, db, dnnl_bf16, sb) != dnnl_success ||
        a->md_init_by_strides(&e->md_c, 2, dc, dnnl_f32, sc) != dnnl_success ||
        a->matmul_desc_init(&desc, &e->md_a, &e->md_b, NULL, &e->md_c) != dnnl_success)
        return FALSE;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    gboolean ok = a->attr_create(&attr) == dnnl_success &&
                  a->attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && e->alpha != 1.0f) ok = a->attr_set_output_scales(attr, 1, 0, &e->alpha) == dnnl_success;
    if (ok && e->beta != 0.0f)
        ok = a->post_ops_create(&po) == dnnl_success && a->post_ops_append_sum(po, e->beta) == dnnl_success &&
             a->attr_set_post_ops(attr, po) == dnnl_success;
    const int old = st_omp_threads(1);
    if (ok) ok = a->pd_create(&pd, &desc, attr, dn.engine, NULL) == dnnl_success;
    const dnnl_memory_desc_t *ms = ok ? a->pd_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    e->scratch = ms ? a->md_get_size(ms) : 0;
    if (ms) e->md_s = *ms;
    if (ok) ok = a->primitive_create(&e->prim, pd) == dnnl_success;
    st_omp_restore(old);
    if (pd) a->pd_destroy(pd);
    if (po) a->post_ops_destroy(po);
    if (attr) a->attr_destroy(attr);
    return ok;
}

/* The entry of this shape among the first n of the cache, or NULL. */
static const dnnl_st_entry *st_find(int n, int ta, int tb, gint64 M, gint64 N, gint64 K, float alpha, float beta)
{
    for (int i = 0; i < n; i++) {
        const dnnl_st_entry *e = &st.cache[i];
        if (e->ta == ta && e->tb == tb && e->M == M && e->N == N && e->K == K && e->alpha == alpha &&
            e->beta == beta)
            return e;
    }
    return NULL;
}

/* The cached entry of this shape, created on first use; NULL when oneDNN
 * refuses it or the cache is full. Hits take no lock: entries are written
 * before n_cache (atomic) counts them and never change after. */
static const dnnl_st_entry *st_lookup(int ta, int tb, gint64 M, gint64 N, gint64 K, float alpha, float beta)
{
    const dnnl_st_entry *found = st_find(g_atomic_int_get(&st.n_cache), ta, tb, M, N, K, alpha, beta);
    if (found) return found;
    g_mutex_lock(&st.lock);
    found = st_find(st.n_cache, ta, tb, M, N, K, alpha, beta);
    if (!found && st.n_cache < DNNL_ST_CACHE) {
        dnnl_st_entry *e = &st.cache[st.n_cache];
        *e = (dnnl_st_entry){ta, tb, M, N, K, alpha, beta, NULL, {0}, {0}, {0}, {0}, 0};
        if (st_create(e)) {
            found = e;
            g_atomic_int_set(&st.n_cache, st.n_cache + 1);
        }
    }
    g_mutex_unlock(&st.lock);
    return found;
}

/* The calling thread's slot (stream and scratchpad), NULL when none is left. */
static dnnl_st_slot *st_slot(void)
{
    if (st_slot_index >= 0 && st_slot_gen == g_atomic_int_get(&st.gen)) return &st.slots[st_slot_index];
    g_mutex_lock(&st.lock);
    dnnl_st_slot *s = NULL;
    if (st.n_slots < DNNL_ST_SLOTS &&
        dn.api.stream_create(&st.slots[st.n_slots].stream, dn.engine, dnnl_stream_default_flags) ==
            dnnl_success) {
        st_slot_index = st.n_slots++;
        st_slot_gen = st.gen;
        s = &st.slots[st_slot_index];
    }
    g_mutex_unlock(&st.lock);
    return s;
}

/* The slot's memory objects for entry e (created on first use), NULL on failure. */
static dnnl_memory_t *st_memories(dnnl_st_slot *s, const dnnl_st_entry *e)
{
    if (!s->mem) s->mem = g_malloc0(sizeof(*s->mem) * DNNL_ST_CACHE);
    dnnl_memory_t *m = s->mem[e - st.cache];
    if (m[0]) return m;
    const dnnl_memory_desc_t *md[4] = {&e->md_a, &e->md_b, &e->md_c, &e->md_s};
    for (int i = 0; i < (e->scratch ? 4 : 3); i++)
        if (dn.api.memory_create(&m[i], md[i], dn.engine, DNNL_MEMORY_NONE) != dnnl_success) {
            for (int j = 0; j < 4; j++)
                if (m[j]) dn.api.memory_destroy(m[j]);
            memset(m, 0, 4 * sizeof m[0]);
            return NULL;
        }
    return m;
}

void ttml_cpu_dnnl_st_release(void)
{
    g_mutex_lock(&st.lock);
    for (int i = 0; i < st.n_slots; i++) {
        dnnl_st_slot *s = &st.slots[i];
        for (int e = 0; s->mem && e < DNNL_ST_CACHE; e++)
            for (int j = 0; j < 4; j++)
                if (s->mem[e][j]) dn.api.memory_destroy(s->mem[e][j]);
        if (s->stream) dn.api.stream_destroy(s->stream);
        g_free(s->mem);
        g_free(s->scratch);
        memset(s, 0, sizeof *s);
    }
    st.n_slots = 0;
    g_atomic_int_inc(&st.gen);
    g_mutex_unlock(&st.lock);
}

gboolean ttml_cpu_dnnl_gemm_st(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const guint16 *a, const guint16 *b, float beta, float *c)
{
    if (!g_atomic_int_get(&dn.ok)) return FALSE;   /* set before the pool's items start */
    dnnl_st_slot *s = st_slot();
    const dnnl_st_entry *e = s ? st_lookup(trans_a, trans_b, M, N, K, alpha, beta) : NULL;
    if (!e) return FALSE;
    if (s->scratch_n < e->scratch) {
        g_free(s->scratch);
        s->scratch = g_malloc(e->scratch);
        s->scratch_n = e->scratch;
    }
    const dnnl_api *api = &dn.api;
    dnnl_memory_t *m = st_memories(s, e);
    void *data[4] = {(void *)a, (void *)b, c, s->scratch};
    gboolean ok = m != NULL;
    for (int i = 0; ok && i < (e->scratch ? 4 : 3); i++)
        ok = api->memory_set_data_handle(m[i], data[i]) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DST, m[2]},
                                   {DNNL_ARG_SCRATCHPAD, m[3]}};
        const int old = st_omp_threads(1);
        ok = api->primitive_execute(e->prim, s->stream, e->scratch ? 4 : 3, args) == dnnl_success &&
             api->stream_wait(s->stream) == dnnl_success;
        st_omp_restore(old);
    }
    return ok;
}

#else /* no <dnnl.h> at build time */

gboolean ttml_cpu_dnnl_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *a, const ttml_buffer *a_buf, size_t a_offset, const float *b,
                            const ttml_buffer *b_buf, size_t b_offset, int b_weight, float beta, float *c)
{
    (void)b_weight, (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)a, (void)a_buf, (void)a_offset,
        (void)b, (void)b_buf, (void)b_offset, (void)beta, (void)c;
    static gboolean warned;
    if (!warned)
        DNNL_LOG(G_LOG_LEVEL_WARNING,
                 "precision bf16 is not available, computing matmul in fp32: the cpu driver was "
                 "built without oneDNN's headers (install libdnnl-dev and rebuild)");
    warned = TRUE;
    return FALSE;
}

const char *ttml_cpu_dnnl_status(void) { return NULL; }

void ttml_cpu_dnnl_st_release(void) {}

gboolean ttml_cpu_dnnl_gemm_st(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const guint16 *a, const guint16 *b, float beta, float *c)
{
    (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K, (void)alpha, (void)a, (void)b, (void)beta,
        (void)c;
    return FALSE;
}

#endif
