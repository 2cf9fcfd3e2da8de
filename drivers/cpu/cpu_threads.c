/* drivers/cpu/cpu_threads.c - machine topology (hwloc), thread count and the
 * driver's thread pool.
 *
 * The driver uses one thread per physical core (hyperthreads share the FMA
 * units, so GEMM gains nothing from them); TTML_CPU_THREADS overrides.
 *
 * Thread pool: (T - 1) persistent workers started when the first cpu device
 * is opened and joined when the last one is closed; the calling thread runs
 * chunk 0. [0, n) is cut into K = min(T, n / grain) contiguous chunks (at
 * least 1), chunk c = [n*c/K, n*(c+1)/K): the cut depends only on n, grain
 * and T, never on timing, so per-chunk partial results are reproducible.
 * Chunks 1..K-1 are claimed (one atomic word: generation, K, next chunk) by
 * whichever thread gets there first: the workers as they wake, and the
 * caller once its own chunk is done. So a worker that the OS has not
 * scheduled yet (another process busy on its core) does not stall the
 * kernel: the caller runs that chunk itself, and the worker, when it runs,
 * finds nothing left (a static one-chunk-per-worker split waited a time
 * slice for it, per kernel: ttml degraded more than PyTorch under
 * contention, issue 14). Which thread runs a chunk never changes its result.
 * TTML_CPU_STEAL=0: the caller runs only chunk 0 and waits for the workers.
 *
 * Wake-up: the caller publishes the job and bumps a generation counter;
 * workers spin on it for TTML_CPU_SPIN_US microseconds (default 50) after
 * their last job, then sleep on a futex. The caller spins (same bound) for
 * the count of finished chunks to reach K, then sleeps on a futex. The spin is short
 * because OpenBLAS has its own threads: a worker spinning through an sgemm
 * would steal a core from it; and the matmul kernel parks the workers
 * (ttml_cpu_threads_park: spinning ones go to sleep at once) before a
 * threaded sgemm. No allocation per call; n < 2*grain runs inline without
 * touching the pool.
 *
 * Nesting and concurrency: a parallel_for called from inside a chunk (or
 * while another thread owns the pool) runs its chunks inline, in order, on
 * the calling thread (same cut, same results); chunk functions may call
 * OpenBLAS (its pthread build serialises concurrent level-3 calls).
 */
#include "cpu_internal.h"

#include <hwloc.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int ttml_cpu_n_threads = 1;

static guint64 first_cache_size(hwloc_topology_t topo, hwloc_obj_type_t type, int *count)
{
    int n = hwloc_get_nbobjs_by_type(topo, type);
    if (count) *count = n > 0 ? n : 0;
    if (n <= 0) return 0;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, 0);
    return obj && obj->attr ? (guint64)obj->attr->cache.size : 0;
}

static guint64 sysconf_mem(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (guint64)pages * (guint64)page : 0;
}

void ttml_cpu_topology_probe(ttml_cpu_topology *topo)
{
    memset(topo, 0, sizeof *topo);
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) == 0) {
        if (hwloc_topology_load(t) == 0) {
            topo->from_hwloc = TRUE;
            topo->n_packages = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
            topo->n_cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
            topo->n_pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
            topo->l1d_bytes = first_cache_size(t, HWLOC_OBJ_L1CACHE, NULL);
            topo->l2_bytes = first_cache_size(t, HWLOC_OBJ_L2CACHE, NULL);
            topo->l3_bytes = first_cache_size(t, HWLOC_OBJ_L3CACHE, &topo->n_l3);
        }
        hwloc_topology_destroy(t);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (topo->n_pus <= 0) topo->n_pus = online > 0 ? (int)online : 1;
    if (topo->n_cores <= 0) topo->n_cores = topo->n_pus;
    if (topo->n_packages <= 0) topo->n_packages = 1;
    /* physical RAM from the kernel: hwloc's NUMA figures can be partial in VMs */
    topo->mem_bytes = sysconf_mem();
}

static void append_size(GString *s, const char *label, guint64 bytes)
{
    if (!bytes) return;
    if (bytes % (1024 * 1024) == 0)
        g_string_append_printf(s, ", %s %" G_GUINT64_FORMAT " MiB", label, bytes >> 20);
    else if (bytes >= 1024 * 1024)
        g_string_append_printf(s, ", %s %.2f MiB", label, (double)bytes / (1024.0 * 1024.0));
    else
        g_string_append_printf(s, ", %s %" G_GUINT64_FORMAT " KiB", label, bytes >> 10);
}

void ttml_cpu_topology_summary(const ttml_cpu_topology *topo, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%d package%s, %d core%s, %d PU%s", topo->n_packages,
                           topo->n_packages == 1 ? "" : "s", topo->n_cores,
                           topo->n_cores == 1 ? "" : "s", topo->n_pus, topo->n_pus == 1 ? "" : "s");
    append_size(s, "L1d", topo->l1d_bytes);
    append_size(s, "L2", topo->l2_bytes);
    if (topo->l3_bytes && topo->n_l3 > 1) {
        append_size(s, "L3", topo->l3_bytes);
        g_string_append_printf(s, " x%d", topo->n_l3);
    } else {
        append_size(s, "L3", topo->l3_bytes);
    }
    if (!topo->from_hwloc) g_string_append(s, " (hwloc unavailable: sysconf)");
    g_strlcpy(buf, s->str, size);
    g_string_free(s, TRUE);
}

int ttml_cpu_threads_choose(const ttml_cpu_topology *topo, gboolean *env_error)
{
    *env_error = FALSE;
    const char *env = g_getenv("TTML_CPU_THREADS");
    if (env && *env) {
        char *end = NULL;
        gint64 v = g_ascii_strtoll(env, &end, 10);
        if (end && *end == '\0' && v >= 1 && v <= 4096) return (int)v;
        *env_error = TRUE;
    }
    return topo->n_cores >= 1 ? topo->n_cores : 1;
}

/* ---- thread pool ---- */

typedef struct {
    ttml_cpu_range_fn fn;   /* one of fn / cfn */
    ttml_cpu_chunk_fn cfn;
    void *ctx;
    size_t n, n_chunks;
} pool_job;

static struct {
    pthread_t *threads;          /* n_threads - 1 workers                     */
    int n_threads;               /* 0 = not running                           */
    int opens;                   /* open cpu devices                          */
    gint64 spin_ns;
    gboolean steal;              /* the caller runs unclaimed chunks (TTML_CPU_STEAL) */
    pool_job job;
    _Atomic guint32 gen;         /* futex word: bumped per job and at stop    */
    _Atomic guint64 claim;       /* job gen << 32 | K << 16 | next chunk       */
    _Atomic gint32 done;         /* futex word: chunks of the job finished    */
    _Atomic int workers_sleeping;
    _Atomic int caller_sleeping;
    _Atomic int stop;
    _Atomic int park;            /* spinning workers: sleep now               */
    _Atomic int busy;            /* a thread is inside a parallel region      */
    guint32 start_gen;           /* gen when the workers were created         */
} pool;

static _Thread_local int in_region; /* this thread runs a chunk or owns the pool */

/* The futex words are 32-bit atomics; the kernel sees plain addresses. */
#define futex_wait(addr, expected) \
    syscall(SYS_futex, (void *)(addr), FUTEX_WAIT_PRIVATE, (guint32)(expected), NULL, NULL, 0)
#define futex_wake(addr, n) syscall(SYS_futex, (void *)(addr), FUTEX_WAKE_PRIVATE, (int)(n), NULL, NULL, 0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static gint64 now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void chunk_bounds(size_t n, size_t n_chunks, size_t c, size_t *begin, size_t *end)
{
    /* n * c cannot overflow in practice (n < 2^48 elements, c < 2^8); use
     * 128-bit arithmetic anyway so the cut is exact for any size_t */
    *begin = (size_t)((unsigned __int128)n * c / n_chunks);
    *end = (size_t)((unsigned __int128)n * (c + 1) / n_chunks);
}

static void run_chunk(const pool_job *j, size_t c)
{
    size_t b, e;
    chunk_bounds(j->n, j->n_chunks, c, &b, &e);
    if (b >= e) return;
    if (j->cfn)
        j->cfn(j->ctx, c, b, e);
    else
        j->fn(j->ctx, b, e);
}

/* Claim and run chunks of the job of generation `gen` until none is left
 * (the job, read only after a successful claim, stays published until all
 * its chunks are done); each finished chunk counts in pool.done. */
static void run_claimed(guint32 gen)
{
    guint64 w = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        const guint64 k = (w >> 16) & 0xffff, next = w & 0xffff;
        if ((guint32)(w >> 32) != gen || next >= k) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        const pool_job j = pool.job;
        run_chunk(&j, (size_t)next);
        if (atomic_fetch_add(&pool.done, 1) + 1 == (gint32)k && atomic_load(&pool.caller_sleeping))
            futex_wake(&pool.done, 1);
        w = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg)
{
    (void)arg;
    in_region = 1; /* anything a chunk calls runs inline */
    /* not the current gen: a stop may come before this thread first runs */
    guint32 seen = pool.start_gen;
    for (;;) {
        guint32 g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g == seen) {
            gint64 until = now_ns() + pool.spin_ns;
            for (int i = 0; g == seen; i++) {
                cpu_relax();
                g = atomic_load_explicit(&pool.gen, memory_order_acquire);
                if ((i & 63) == 63 &&
                    (now_ns() >= until || atomic_load_explicit(&pool.park, memory_order_relaxed)))
                    break;
            }
            while (g == seen) {
                atomic_fetch_add(&pool.workers_sleeping, 1);
                g = atomic_load(&pool.gen);
                if (g == seen) futex_wait(&pool.gen, seen);
                atomic_fetch_sub(&pool.workers_sleeping, 1);
                g = atomic_load_explicit(&pool.gen, memory_order_acquire);
            }
        }
        seen = g;
        if (atomic_load_explicit(&pool.stop, memory_order_acquire)) break;
        run_claimed(g);
    }
    return NULL;
}

static gint64 spin_ns_from_env(void)
{
    const char *env = g_getenv("TTML_CPU_SPIN_US");
    if (env && *env) {
        char *end = NULL;
        gint64 v = g_ascii_strtoll(env, &end, 10);
        if (end && *end == '\0' && v >= 0 && v <= 1000000) return v * 1000;
    }
    return 50 * 1000;
}

static void pool_stop(void)
{
    if (pool.n_threads == 0) return;
    atomic_store(&pool.stop, 1);
    atomic_fetch_add(&pool.gen, 1);
    futex_wake(&pool.gen, INT_MAX);
    for (int i = 0; i < pool.n_threads - 1; i++) pthread_join(pool.threads[i], NULL);
    g_free(pool.threads);
    pool.threads = NULL;
    pool.n_threads = 0;
    atomic_store(&pool.stop, 0);
}

/* A forked child has no workers: run everything inline there (same chunks,
 * same results) instead of waiting for threads that do not exist. */
static void pool_atfork_child(void)
{
    g_free(pool.threads);
    pool.threads = NULL;
    pool.n_threads = 0;
    atomic_store(&pool.claim, 0);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.workers_sleeping, 0);
    atomic_store(&pool.caller_sleeping, 0);
    atomic_store(&pool.busy, 0);
    in_region = 0;
}

static void pool_register_atfork(void)
{
    pthread_atfork(NULL, NULL, pool_atfork_child);
}

/* Start T - 1 workers. On failure to create a thread, keeps the ones made
 * (fewer threads: chunks then run inline, results unchanged). */
static void pool_start(int t)
{
    t = CLAMP(t, 1, TTML_CPU_MAX_THREADS);
    pool.spin_ns = spin_ns_from_env();
    const char *steal = g_getenv("TTML_CPU_STEAL");
    pool.steal = !(steal && strcmp(steal, "0") == 0);
    if (t <= 1) return;
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, pool_register_atfork);
    pool.threads = g_new0(pthread_t, t - 1);
    atomic_store(&pool.stop, 0);
    atomic_store(&pool.claim, 0);
    pool.start_gen = atomic_load(&pool.gen);
    /* workers take no signals: they go to the application's threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int made = 0;
    for (int i = 0; i < t - 1; i++) {
        if (pthread_create(&pool.threads[i], NULL, worker_main, (void *)(intptr_t)(i + 1)) != 0) break;
        char name[16];
        g_snprintf(name, sizeof name, "ttml-cpu-%d", i + 1);
        pthread_setname_np(pool.threads[i], name);
        made++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (made < t - 1) {
        g_warning("cpu driver: could only start %d of %d worker threads; the rest of the work runs "
                  "on the calling thread", made, t - 1);
        /* stop the partial pool: a pool must have exactly T - 1 workers */
        pool.n_threads = made + 1;
        pool_stop();
        return;
    }
    pool.n_threads = t;
}

void ttml_cpu_threads_open(int n_threads)
{
    pool.opens++;
    int t = CLAMP(n_threads, 1, TTML_CPU_MAX_THREADS);
    if (pool.n_threads == t || (t == 1 && pool.n_threads == 0)) return;
    pool_stop();
    pool_start(t);
}

int ttml_cpu_threads_close(void)
{
    if (pool.opens > 0) pool.opens--;
    if (pool.opens == 0) pool_stop();
    return pool.opens;
}

int ttml_cpu_threads_running(void)
{
    return pool.n_threads;
}

static int chunk_threads(void)
{
    return CLAMP(ttml_cpu_n_threads, 1, TTML_CPU_MAX_THREADS);
}

size_t ttml_cpu_parallel_chunks(size_t n, size_t grain)
{
    if (n == 0) return 0;
    if (grain == 0) grain = 1;
    size_t k = n / grain;
    size_t t = (size_t)chunk_threads();
    if (k > t) k = t;
    return k ? k : 1;
}

static void parallel_run(size_t n, size_t grain, ttml_cpu_range_fn fn, ttml_cpu_chunk_fn cfn, void *ctx)
{
    const size_t k = ttml_cpu_parallel_chunks(n, grain);
    if (k == 0) return;
    pool_job job = {fn, cfn, ctx, n, k};
    if (k == 1) { /* fast path: no synchronisation */
        run_chunk(&job, 0);
        return;
    }
    int expected = 0;
    if (in_region || pool.n_threads != chunk_threads() ||
        !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        /* nested, pool not running (or resized) or owned by another thread:
         * the same chunks, inline and in order */
        for (size_t c = 0; c < k; c++) run_chunk(&job, c);
        return;
    }
    in_region = 1;
    atomic_store_explicit(&pool.park, 0, memory_order_relaxed);
    pool.job = job;
    const guint32 gen = atomic_load(&pool.gen) + 1;
    const gint32 kk = (gint32)k;
    atomic_store_explicit(&pool.done, 1, memory_order_relaxed); /* chunk 0: the caller's */
    atomic_store(&pool.claim, (guint64)gen << 32 | (guint64)k << 16 | 1u);
    atomic_fetch_add(&pool.gen, 1); /* seq_cst: publishes job and claim */
    if (atomic_load(&pool.workers_sleeping)) futex_wake(&pool.gen, INT_MAX);

    run_chunk(&job, 0);
    if (pool.steal) run_claimed(gen); /* chunks no worker has started yet */
    if (atomic_load_explicit(&pool.done, memory_order_acquire) != kk) {
        gint64 until = now_ns() + MAX(pool.spin_ns, 20000);
        for (int i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) != kk; i++) {
            cpu_relax();
            if ((i & 63) == 63 && now_ns() >= until) break;
        }
        for (;;) {
            gint32 d = atomic_load(&pool.done);
            if (d == kk) break;
            atomic_store(&pool.caller_sleeping, 1);
            d = atomic_load(&pool.done);
            if (d != kk) futex_wait(&pool.done, (guint32)d);
            atomic_store(&pool.caller_sleeping, 0);
        }
    }
    in_region = 0;
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
}

void ttml_cpu_threads_park(void)
{
    if (pool.n_threads > 1) atomic_store_explicit(&pool.park, 1, memory_order_relaxed);
}

void ttml_cpu_parallel_for(size_t n, size_t grain, ttml_cpu_range_fn fn, void *ctx)
{
    parallel_run(n, grain, fn, NULL, ctx);
}

void ttml_cpu_parallel_for_chunks(size_t n, size_t grain, ttml_cpu_chunk_fn fn, void *ctx)
{
    parallel_run(n, grain, NULL, fn, ctx);
}
