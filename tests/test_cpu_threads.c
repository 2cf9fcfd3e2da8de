/* tests/test_cpu_threads.c - the cpu driver's thread pool and caching
 * allocator, seen through kernels and /proc.
 *
 * Kernels large enough to be split ("binary", "affine", "adamw_step" on 1e6
 * elements) are compared against serial double reference loops, repeated for
 * races (results bitwise identical across repeats), and run with 1 and with
 * 3 threads (TTML_CPU_THREADS, re-read at each ttml_init): element-wise
 * results must not depend on the thread count. /proc/self/task shows the
 * workers ("ttml-cpu-N") while a device is open and none after shutdown; the
 * per-thread CPU clock shows that the worker really computes.
 */
#include "test_util.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_BIG 1000000
#define REPEATS 50

static guint64 rng_state = 0x9E3779B97F4A7C15ULL;

static float urand(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(rng_state >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

/* (Re)start ttml with TTML_CPU_THREADS = threads (NULL = unset: one per core). */
static void restart(const char *threads)
{
    ttml_shutdown();
    if (threads)
        g_setenv("TTML_CPU_THREADS", threads, TRUE);
    else
        g_unsetenv("TTML_CPU_THREADS");
    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
}

static ttml_tensor *tensor_of(const float *data, int ndim, const int64_t *shape)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(ttml_context_get_device(), ndim, shape, data, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

static float *random_floats(size_t n, float lo, float hi)
{
    float *d = g_new(float, n);
    for (size_t i = 0; i < n; i++) d[i] = urand(lo, hi);
    return d;
}

static void launch(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *const *out, int n_out,
                   const void *params, size_t params_size)
{
    GError *err = NULL;
    gboolean ok = ttml_launch_tensors(kernel, in, n_in, out, n_out, params, params_size, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE_FATAL(ok);
}

static float *read_all(const ttml_tensor *t, size_t n)
{
    GError *err = NULL;
    float *h = g_new(float, n);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, h, &err));
    TTML_ASSERT_NO_ERROR(err);
    return h;
}

/* Worker threads of the pool: tids of /proc/self/task/N whose comm starts
 * with "ttml-cpu" (up to max; returns the count). */
static int pool_workers(pid_t *tids, int max)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[96], comm[64] = "";
        g_snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f) && g_str_has_prefix(comm, "ttml-cpu")) {
            if (tids && n < max) tids[n] = (pid_t)atoi(e->d_name);
            n++;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* CPU time of thread `tid` of this process in seconds (Linux per-thread
 * CPU clock: ~tid << 3 | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED). */
static double thread_cpu_seconds(pid_t tid)
{
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6);
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return -1.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- tests ---- */

static void test_workers_started_and_joined(void)
{
    restart("3");
    const ttml_device_info *info = ttml_device_get_info(ttml_context_get_device());
    CU_ASSERT_EQUAL(info->n_threads, 3);
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), 2);

    restart("1");
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), 0);

    restart(NULL); /* one per physical core */
    info = ttml_device_get_info(ttml_context_get_device());
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), info->n_threads - 1);

    ttml_shutdown(); /* no thread may outlive the driver */
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), 0);
    /* restart quickly, many times: a stop that comes before a worker first
     * runs must not hang (or leak it) */
    for (int i = 0; i < 20; i++) restart("4");
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), 3);
    ttml_shutdown();
    CU_ASSERT_EQUAL(pool_workers(NULL, 0), 0);
    restart(NULL);
}

/* out = a * b + a (binary mul, then binary add with b broadcast as rows) on
 * 1e6 elements, REPEATS times; every repeat bitwise equal to the first and to
 * the float reference (each element is one float op: exact to the bit). */
static float *binary_run(int repeats)
{
    const int64_t shape[2] = {1000, 1000}, row[1] = {1000};
    rng_state = 42;
    float *a = random_floats(N_BIG, -2.0f, 2.0f), *b = random_floats(N_BIG, -2.0f, 2.0f);
    float *r = random_floats(1000, -1.0f, 1.0f);
    ttml_tensor *ta = tensor_of(a, 2, shape), *tb = tensor_of(b, 2, shape), *tr = tensor_of(r, 1, row);
    GError *err = NULL;
    ttml_tensor *out = ttml_tensor_empty(ttml_context_get_device(), 2, shape, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *first = NULL;
    for (int rep = 0; rep < repeats; rep++) {
        ttml_binary_params mul = {TTML_BINARY_MUL}, add = {TTML_BINARY_ADD};
        launch("binary", (ttml_tensor *[]){ta, tb}, 2, &out, 1, &mul, sizeof mul);
        launch("binary", (ttml_tensor *[]){out, tr}, 2, &out, 1, &add, sizeof add);
        float *h = read_all(out, N_BIG);
        if (!first) {
            size_t bad = 0;
            for (size_t i = 0; i < N_BIG; i++) {
                float want = a[i] * b[i] + r[i % 1000];
                if (memcmp(&want, &h[i], sizeof want) != 0 && bad++ < 3)
                    fprintf(stderr, "\nbinary[%zu] = %.9g, want %.9g\n", i, h[i], want);
            }
            CU_ASSERT_EQUAL(bad, 0);
            first = h;
        } else {
            CU_ASSERT_EQUAL(memcmp(first, h, N_BIG * sizeof(float)), 0);
            g_free(h);
        }
    }
    ttml_tensor_unref(out);
    ttml_tensor_unref(ta);
    ttml_tensor_unref(tb);
    ttml_tensor_unref(tr);
    g_free(a);
    g_free(b);
    g_free(r);
    return first;
}

/* Fused AdamW on 1e6 parameters, 3 steps, against a double reference of
 * PyTorch's update; returns the parameters after the steps. */
static float *adamw_run(void)
{
    const int64_t shape[1] = {N_BIG};
    rng_state = 7;
    float *p0 = random_floats(N_BIG, -1.0f, 1.0f);
    float *g = random_floats(N_BIG, -0.1f, 0.1f);
    ttml_tensor *tp = tensor_of(p0, 1, shape), *tg = tensor_of(g, 1, shape);
    GError *err = NULL;
    ttml_tensor *m = ttml_tensor_zeros(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, &err);
    ttml_tensor *v = ttml_tensor_zeros(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;
    for (gint64 step = 1; step <= 3; step++) {
        ttml_adamw_params ap = {(float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step};
        launch("adamw_step", &tg, 1, (ttml_tensor *[]){tp, m, v}, 3, &ap, sizeof ap);
    }
    float *h = read_all(tp, N_BIG);
    double max_err = 0.0;
    for (size_t i = 0; i < N_BIG; i++) {
        double p = p0[i], mm = 0.0, vv = 0.0;
        for (int step = 1; step <= 3; step++) {
            p -= lr * wd * p;
            mm = b1 * mm + (1.0 - b1) * g[i];
            vv = b2 * vv + (1.0 - b2) * (double)g[i] * g[i];
            double mh = mm / (1.0 - pow(b1, step)), vh = vv / (1.0 - pow(b2, step));
            p -= lr * mh / (sqrt(vh) + eps);
        }
        max_err = fmax(max_err, fabs(p - h[i]));
    }
    CU_ASSERT(max_err < 1e-6);
    if (max_err >= 1e-6) fprintf(stderr, "\nadamw max error %g\n", max_err);
    ttml_tensor_unref(tp);
    ttml_tensor_unref(tg);
    ttml_tensor_unref(m);
    ttml_tensor_unref(v);
    g_free(p0);
    g_free(g);
    return h;
}

/* Column sums of [1000, 1000] (reduce_to onto [1, 1000]) and the full sum,
 * against a double reference; REPEATS times, bitwise identical. */
static void reduce_run(float *cols_out, float *total_out, int repeats)
{
    const int64_t shape[2] = {1000, 1000}, cshape[2] = {1, 1000}, one[1] = {1};
    rng_state = 99;
    float *x = random_floats(N_BIG, -1.0f, 1.0f);
    ttml_tensor *tx = tensor_of(x, 2, shape);
    GError *err = NULL;
    ttml_tensor *cols = ttml_tensor_empty(ttml_context_get_device(), 2, cshape, TTML_DTYPE_F32, &err);
    ttml_tensor *total = ttml_tensor_empty(ttml_context_get_device(), 1, one, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    double ref_cols[1000] = {0}, ref_total = 0.0;
    for (size_t i = 0; i < N_BIG; i++) {
        ref_cols[i % 1000] += x[i];
        ref_total += x[i];
    }
    for (int rep = 0; rep < repeats; rep++) {
        ttml_reduce_params rp = {0.5f, 0.0f};
        launch("reduce_to", &tx, 1, &cols, 1, &rp, sizeof rp);
        launch("reduce_to", &tx, 1, &total, 1, &rp, sizeof rp);
        float *hc = read_all(cols, 1000), *ht = read_all(total, 1);
        if (rep == 0) {
            double worst = 0.0;
            for (int j = 0; j < 1000; j++) worst = fmax(worst, fabs(hc[j] - 0.5 * ref_cols[j]));
            CU_ASSERT(worst < 1e-4);
            CU_ASSERT(fabs(ht[0] - 0.5 * ref_total) < 1e-2);
            memcpy(cols_out, hc, sizeof(float) * 1000);
            *total_out = ht[0];
        } else {
            CU_ASSERT_EQUAL(memcmp(cols_out, hc, sizeof(float) * 1000), 0);
            CU_ASSERT_EQUAL(memcmp(total_out, ht, sizeof(float)), 0);
        }
        g_free(hc);
        g_free(ht);
    }
    ttml_tensor_unref(tx);
    ttml_tensor_unref(cols);
    ttml_tensor_unref(total);
    g_free(x);
}

static void test_large_kernels_repeatable(void)
{
    restart("3"); /* more threads than cores on small machines: races show */
    float *bin = binary_run(REPEATS);
    float *adam = adamw_run();
    float cols[1000], total;
    reduce_run(cols, &total, REPEATS);
    g_free(bin);
    g_free(adam);
    restart(NULL);
}

/* The caller runs the chunks no worker has claimed yet (default) or waits
 * for the workers (TTML_CPU_STEAL=0): the same chunks either way, so the
 * same bits, reductions included. Four threads that sleep at once (no spin)
 * on a smaller machine: workers are often late and their chunks taken. */
static void test_steal_same_results(void)
{
    float *bin[2], *adam[2], cols[2][1000], total[2];
    g_setenv("TTML_CPU_SPIN_US", "0", TRUE);
    for (int steal = 0; steal < 2; steal++) {
        g_setenv("TTML_CPU_STEAL", steal ? "1" : "0", TRUE);
        restart("4");
        bin[steal] = binary_run(REPEATS);
        adam[steal] = adamw_run();
        reduce_run(cols[steal], &total[steal], REPEATS);
    }
    CU_ASSERT_EQUAL(memcmp(bin[0], bin[1], N_BIG * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(adam[0], adam[1], N_BIG * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(cols[0], cols[1], sizeof cols[0]), 0);
    CU_ASSERT_EQUAL(memcmp(&total[0], &total[1], sizeof total[0]), 0);
    for (int i = 0; i < 2; i++) {
        g_free(bin[i]);
        g_free(adam[i]);
    }
    g_unsetenv("TTML_CPU_STEAL");
    g_unsetenv("TTML_CPU_SPIN_US");
    restart(NULL);
}

static void test_one_thread_equals_many(void)
{
    restart("1");
    float *bin1 = binary_run(2);
    float *adam1 = adamw_run();
    float cols1[1000], total1;
    reduce_run(cols1, &total1, 2);

    restart("3");
    float *bin3 = binary_run(2);
    float *adam3 = adamw_run();
    float cols3[1000], total3;
    reduce_run(cols3, &total3, 2);

    /* element-wise kernels: the same bits whatever the thread count */
    CU_ASSERT_EQUAL(memcmp(bin1, bin3, N_BIG * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(adam1, adam3, N_BIG * sizeof(float)), 0);
    /* reductions: both close to the reference (checked in reduce_run) and to
     * each other */
    for (int j = 0; j < 1000; j++) CU_ASSERT(fabsf(cols1[j] - cols3[j]) < 1e-4f);
    CU_ASSERT(fabsf(total1 - total3) < 1e-2f);
    g_free(bin1);
    g_free(bin3);
    g_free(adam1);
    g_free(adam3);
    restart(NULL);
}

/* With two threads and no spinning, the worker's CPU time grows by a good
 * share of the caller's while large kernels run: the work is split. (The
 * caller does not take the worker's chunk: TTML_CPU_STEAL=0, so a worker
 * that a loaded machine wakes late still runs its chunk.) */
static void test_worker_computes(void)
{
    g_setenv("TTML_CPU_SPIN_US", "0", TRUE);
    g_setenv("TTML_CPU_STEAL", "0", TRUE);
    restart("2");
    pid_t tid = 0;
    CU_ASSERT_EQUAL_FATAL(pool_workers(&tid, 1), 1);
    const int64_t shape[1] = {4 * N_BIG};
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_full(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, 1.0f, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_affine_params ap = {1.0001f, 0.5f};
    double w0 = thread_cpu_seconds(tid);
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double c0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    for (int i = 0; i < 40; i++) launch("affine", &t, 1, &t, 1, &ap, sizeof ap);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double c1 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec, w1 = thread_cpu_seconds(tid);
    CU_ASSERT(w0 >= 0.0 && w1 >= 0.0);
    double worker = w1 - w0, caller = c1 - c0;
    if (!(worker > 0.25 * caller))
        fprintf(stderr, "\nworker cpu %.4f s, caller cpu %.4f s\n", worker, caller);
    CU_ASSERT(worker > 0.25 * caller);
    /* and the result is right: x_{k+1} = 1.0001 x_k + 0.5 from 1, in float */
    float want = 1.0f;
    for (int i = 0; i < 40; i++) want = want * 1.0001f + 0.5f;
    float *h = read_all(t, 4 * N_BIG);
    size_t bad = 0;
    for (size_t i = 0; i < 4 * (size_t)N_BIG; i++) bad += h[i] != want;
    CU_ASSERT_EQUAL(bad, 0);
    g_free(h);
    ttml_tensor_unref(t);
    g_unsetenv("TTML_CPU_SPIN_US");
    g_unsetenv("TTML_CPU_STEAL");
    restart(NULL);
}

/* Allocator: a freed buffer is handed out again for the same size class,
 * with fresh data written correctly; small, zero-size and large blocks. */
static void test_pool_reuses_buffers(void)
{
    restart(NULL);
    const size_t sizes[] = {1, 15, 16, 1000, 1025, 65536, 300000, 3000000};
    for (size_t k = 0; k < G_N_ELEMENTS(sizes); k++) {
        int64_t shape[1] = {(int64_t)sizes[k]};
        GError *err = NULL;
        ttml_tensor *a = ttml_tensor_full(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, 3.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_view va = ttml_tensor_view(a);
        void *pa = va.buf->data;
        CU_ASSERT_PTR_NOT_NULL(pa);
        CU_ASSERT_EQUAL((uintptr_t)pa % 64, 0);
        ttml_tensor_unref(a);
        ttml_tensor *b = ttml_tensor_full(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, -2.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_view vb = ttml_tensor_view(b);
        CU_ASSERT_PTR_EQUAL(vb.buf->data, pa); /* same class: the cached block */
        {
            float *h = read_all(b, sizes[k]);
            size_t bad = 0;
            for (size_t i = 0; i < sizes[k]; i++) bad += h[i] != -2.0f;
            CU_ASSERT_EQUAL(bad, 0);
            g_free(h);
        }
        ttml_tensor_unref(b);
    }
    /* a different size class does not get a block of the wrong size: 1000
     * floats (4000 bytes) then 1200 floats (4800 bytes) */
    int64_t s1[1] = {1000}, s2[1] = {1200};
    GError *err = NULL;
    ttml_tensor *a = ttml_tensor_zeros(ttml_context_get_device(), 1, s1, TTML_DTYPE_F32, &err);
    void *pa = ttml_tensor_view(a).buf->data;
    ttml_tensor_unref(a);
    ttml_tensor *b = ttml_tensor_zeros(ttml_context_get_device(), 1, s2, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_EQUAL(ttml_tensor_view(b).buf->data, pa);
    ttml_tensor_unref(b);
}

static void append_message(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer log)
{
    (void)domain;
    (void)level;
    g_string_append_printf(log, "%s\n", message);
}

/* ttml_shutdown() with TTML_CPU_POOL_STATS set: the pool's statistics line
 * ("cpu pool: ...") it logs at close, or NULL (the caller frees `*log`). */
static const char *shutdown_pool_stats(GString **log)
{
    *log = g_string_new(NULL);
    guint handler = g_log_set_handler(NULL, G_LOG_LEVEL_MESSAGE, append_message, *log);
    ttml_shutdown();
    g_log_remove_handler(NULL, handler);
    g_unsetenv("TTML_CPU_POOL_STATS");
    return strstr((*log)->str, "cpu pool: ");
}

/* TTML_CPU_POOL_MAX_MB=0: nothing is cached, everything still works. The
 * pool's statistics at close (TTML_CPU_POOL_STATS=1) show that a freed
 * block was never handed out again and nothing was cached. */
static void test_pool_disabled(void)
{
    g_setenv("TTML_CPU_POOL_MAX_MB", "0", TRUE);
    g_setenv("TTML_CPU_POOL_STATS", "1", TRUE);
    restart(NULL);
    float *bin = binary_run(2);
    g_free(bin);
    const int64_t shape[1] = {1000};
    for (int i = 0; i < 2; i++) { /* the same size class twice: a cache would serve the second */
        GError *err = NULL;
        ttml_tensor *t = ttml_tensor_zeros(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(t);
    }
    GString *log = NULL;
    const char *line = shutdown_pool_stats(&log);
    g_unsetenv("TTML_CPU_POOL_MAX_MB");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    guint64 allocs = 0, hits = 1;
    CU_ASSERT_EQUAL(sscanf(line, "cpu pool: %" G_GUINT64_FORMAT " allocations, %" G_GUINT64_FORMAT, &allocs, &hits), 2);
    CU_ASSERT_TRUE(allocs >= 2);
    CU_ASSERT_EQUAL(hits, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " 0.0 MiB cached at close, cap 0 MiB"));
    if (hits != 0 || !strstr(line, " 0.0 MiB cached at close")) fprintf(stderr, "\n%s", line);
    g_string_free(log, TRUE);
    restart(NULL);
}

/* Resident set of this process in MiB (/proc/self/statm). */
static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Footprint bound: a 64 MiB block is freed (cached), then a 24 MiB one of
 * another size class is needed. The cache must not keep the whole 64 MiB
 * while the 24 MiB are allocated (in use + cached would pass the in-use peak
 * + 1/16, 68 MiB): with TTML_CPU_POOL_MOVE=0 the 64 MiB block is released
 * and the resident set grows by about 24 MiB, not 88; by default 24 MiB of
 * its pages move into the new block and 40 stay cached, so the resident set
 * stays at the 64 MiB (under the 68 MiB bound, far from 88); with
 * TTML_CPU_POOL_BOUND=0 the block stays cached. */
static void test_pool_footprint_bound(void)
{
    static const struct { const char *bound, *move; double lo, hi; } modes[] = {
        {"0", "1", 80.0, 1e9}, {"1", "0", 0.0, 50.0}, {"1", "1", 0.0, 68.5}};
    for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
        g_setenv("TTML_CPU_POOL_BOUND", modes[m].bound, TRUE);
        g_setenv("TTML_CPU_POOL_MOVE", modes[m].move, TRUE);
        restart(NULL);
        GError *err = NULL;
        const int64_t big[1] = {16 << 20}, mid[1] = {6 << 20};   /* 64 MiB, 24 MiB of floats */
        double base = rss_mib();
        ttml_tensor *a = ttml_tensor_full(ttml_context_get_device(), 1, big, TTML_DTYPE_F32, 1.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(a);
        ttml_tensor *b = ttml_tensor_full(ttml_context_get_device(), 1, mid, TTML_DTYPE_F32, 2.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        double grown = rss_mib() - base;
        CU_ASSERT(grown > modes[m].lo && grown < modes[m].hi);
        if (g_getenv("TTML_TEST_VERBOSE") || !(grown > modes[m].lo && grown < modes[m].hi))
            fprintf(stderr, "\nbound %s, move %s: RSS +%.1f MiB\n", modes[m].bound, modes[m].move, grown);
        ttml_tensor_unref(b);
    }
    g_unsetenv("TTML_CPU_POOL_BOUND");
    g_unsetenv("TTML_CPU_POOL_MOVE");
    restart(NULL);
}

/* Minor page faults of this process so far. */
static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
}

/* Moving cached pages: under the bound, a 24 MiB block that misses takes
 * its pages from the cached 64 MiB block (mremap) instead of faulting in
 * fresh ones. On 4 KiB pages (TTML_CPU_POOL_HUGE=0) writing the 24 MiB
 * faults ~6,144 times when the pages are fresh (TTML_CPU_POOL_MOVE=0) and
 * almost never when they moved; the values written are right either way,
 * and the 40 MiB rest of the donor serves a 40 MiB block from the cache. */
static void test_pool_moves_pages(void)
{
    g_setenv("TTML_CPU_POOL_HUGE", "0", TRUE);
    for (int move = 1; move >= 0; move--) {
        g_setenv("TTML_CPU_POOL_MOVE", move ? "1" : "0", TRUE);
        restart(NULL);
        GError *err = NULL;
        const int64_t big[1] = {16 << 20}, mid[1] = {6 << 20}, rest[1] = {10 << 20}; /* 64, 24, 40 MiB */
        ttml_tensor *a = ttml_tensor_full(ttml_context_get_device(), 1, big, TTML_DTYPE_F32, 1.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(a);
        long f0 = minor_faults();
        ttml_tensor *b = ttml_tensor_full(ttml_context_get_device(), 1, mid, TTML_DTYPE_F32, 2.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        long faults = minor_faults() - f0;
        float *h = read_all(b, (size_t)mid[0]);
        size_t bad = 0;
        for (int64_t i = 0; i < mid[0]; i++) bad += h[i] != 2.0f;
        CU_ASSERT_EQUAL(bad, 0);
        g_free(h);
        CU_ASSERT(move ? faults < 600 : faults > 5000);
        if (g_getenv("TTML_TEST_VERBOSE") || (move ? faults >= 600 : faults <= 5000))
            fprintf(stderr, "\nmove %d: %ld minor faults writing 24 MiB\n", move, faults);
        if (move) { /* the donor's 40 MiB rest is cached: no fresh pages for it */
            f0 = minor_faults();
            ttml_tensor *c = ttml_tensor_full(ttml_context_get_device(), 1, rest, TTML_DTYPE_F32, 3.0f, &err);
            TTML_ASSERT_NO_ERROR(err);
            faults = minor_faults() - f0;
            CU_ASSERT(faults < 600);
            h = read_all(c, (size_t)rest[0]);
            bad = 0;
            for (int64_t i = 0; i < rest[0]; i++) bad += h[i] != 3.0f;
            CU_ASSERT_EQUAL(bad, 0);
            g_free(h);
            ttml_tensor_unref(c);
        }
        ttml_tensor_unref(b);
    }
    g_unsetenv("TTML_CPU_POOL_MOVE");
    g_unsetenv("TTML_CPU_POOL_HUGE");
    restart(NULL);
}

/* AnonHugePages (kB) of the mapping that holds `p` (/proc/self/smaps), or -1. */
static long anon_huge_kb_at(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    gboolean inside = FALSE;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Blocks of 2 MiB and more start on a 2 MiB boundary and, where the kernel
 * grants transparent huge pages on request, are backed by them once written;
 * with TTML_CPU_POOL_HUGE=0 neither is asked for. The values are right in
 * both cases. */
static void test_pool_huge_pages(void)
{
    char mode[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(mode, sizeof mode, f)) mode[0] = 0;
        fclose(f);
    }
    gboolean thp = strstr(mode, "[madvise]") || strstr(mode, "[always]");
    for (int huge = 1; huge >= 0; huge--) {
        if (!huge) g_setenv("TTML_CPU_POOL_HUGE", "0", TRUE);
        restart(NULL);
        GError *err = NULL;
        const int64_t n[1] = {(5 << 20) / 4 + 123};   /* 5 MiB and a bit of floats */
        ttml_tensor *t = ttml_tensor_full(ttml_context_get_device(), 1, n, TTML_DTYPE_F32, 3.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        const float *data = ttml_tensor_view(t).buf->data;
        if (huge) CU_ASSERT_EQUAL((uintptr_t)data % (2u << 20), 0);
        gboolean ok = TRUE;
        for (int64_t i = 0; i < n[0]; i++) ok = ok && data[i] == 3.0f;
        CU_ASSERT_TRUE(ok);
        long kb = anon_huge_kb_at(data);
        if (g_getenv("TTML_TEST_VERBOSE")) fprintf(stderr, "\nhuge %d (THP '%.*s'): AnonHugePages %ld kB\n",
                                                 huge, (int)strcspn(mode, "\n"), mode, kb);
        /* the kernel may find no free huge page (fragmented memory): only
         * "none asked for" is certain */
        if (!huge && strstr(mode, "[madvise]")) CU_ASSERT_EQUAL(kb, 0);
        if (huge && thp && kb == 0)
            fprintf(stderr, "\nnote: no transparent huge page granted (memory fragmented?)\n");
        ttml_tensor_unref(t);
        g_unsetenv("TTML_CPU_POOL_HUGE");
    }
    restart(NULL);
}

/* One pool session: a 64 MiB tensor stays alive while `cycles` times an
 * 8 MiB one and then a 24 MiB one (classes more than 1.5x apart, so neither
 * block serves the other) are made and dropped, the allocation pattern of a
 * training step in miniature. Returns the fresh blocks (allocations - cache
 * hits) and the refaults from the pool's statistics at close. */
static void pool_cycles(int cycles, guint64 *misses, guint64 *refaults)
{
    ttml_shutdown(); /* the statistics of this session only */
    g_setenv("TTML_CPU_POOL_STATS", "1", TRUE);
    g_setenv("TTML_CPU_POOL_HUGE", "0", TRUE); /* blocks on huge pages do not teach the slack */
    restart(NULL);
    GError *err = NULL;
    const int64_t x[1] = {16 << 20}, a[1] = {2 << 20}, b[1] = {6 << 20}; /* floats: 64, 8, 24 MiB */
    ttml_tensor *keep = ttml_tensor_full(ttml_context_get_device(), 1, x, TTML_DTYPE_F32, 1.0f, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < cycles; i++) {
        ttml_tensor *t = ttml_tensor_full(ttml_context_get_device(), 1, a, TTML_DTYPE_F32, 2.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(t);
        t = ttml_tensor_full(ttml_context_get_device(), 1, b, TTML_DTYPE_F32, 3.0f, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(t);
    }
    ttml_tensor_unref(keep);
    GString *log = NULL;
    const char *line = shutdown_pool_stats(&log);
    g_unsetenv("TTML_CPU_POOL_HUGE");
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    guint64 allocs = 0, hits = 0;
    CU_ASSERT_EQUAL(sscanf(line, "cpu pool: %" G_GUINT64_FORMAT " allocations, %" G_GUINT64_FORMAT, &allocs, &hits), 2);
    const char *slack = strstr(line, " MiB (");
    CU_ASSERT_PTR_NOT_NULL_FATAL(slack);
    CU_ASSERT_EQUAL(sscanf(slack, " MiB (%" G_GUINT64_FORMAT " refaults)", refaults), 1);
    *misses = allocs - hits;
    if (g_getenv("TTML_TEST_VERBOSE")) fprintf(stderr, "\n%d cycles: %s", cycles, line);
    g_string_free(log, TRUE);
}

/* The footprint bound must not thrash: with the 64 MiB tensor alive the
 * in-use peak is 88 MiB and the fixed bound (peak + 1/16 = 93.5 MiB) cannot
 * hold both cached blocks (64 + 8 + 24 = 96), so every cycle evicted the one
 * the next allocation needs: two fresh blocks (mmap, page faults) per cycle.
 * The bound learns from that refault (the 8 MiB block, released by the bound
 * in cycle 1 and needed again in cycle 2): from cycle 2 on both come from the
 * cache, so 8 cycles make no more fresh blocks than 2, after one refault. */
static void test_pool_bound_learns_refaults(void)
{
    guint64 m2 = 0, m8 = 0, r2 = 0, r8 = 0;
    pool_cycles(2, &m2, &r2);
    pool_cycles(8, &m8, &r8);
    CU_ASSERT_EQUAL(m8, m2);
    CU_ASSERT_EQUAL(r2, 1);
    CU_ASSERT_EQUAL(r8, 1);
    if (m8 != m2 || r8 != 1) fprintf(stderr, "\nfresh blocks: %" G_GUINT64_FORMAT " after 2 cycles, %" G_GUINT64_FORMAT
                                     " after 8; refaults %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "\n", m2, m8, r2, r8);
    restart(NULL);
}

/* A forked child (no worker threads) still runs large kernels, inline. */
static void test_fork_child_runs_inline(void)
{
    restart("3");
    const int64_t shape[1] = {N_BIG};
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_full(ttml_context_get_device(), 1, shape, TTML_DTYPE_F32, 2.0f, &err);
    TTML_ASSERT_NO_ERROR(err);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        alarm(20); /* a hang kills the child: the parent sees a signal */
        ttml_affine_params ap = {3.0f, 1.0f};
        gboolean ok = ttml_launch_tensors("affine", &t, 1, &t, 1, &ap, sizeof ap, NULL);
        float *h = g_new(float, N_BIG);
        ok = ok && ttml_tensor_to_floats(t, h, NULL);
        for (size_t i = 0; ok && i < N_BIG; i++) ok = h[i] == 7.0f;
        _exit(ok && pool_workers(NULL, 0) == 0 ? 0 : 1);
    }
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status));
    CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
    ttml_tensor_unref(t);
    restart(NULL);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"workers started and joined", test_workers_started_and_joined},
        {"large kernels repeatable", test_large_kernels_repeatable},
        {"one thread equals many", test_one_thread_equals_many},
        {"stealing chunks keeps the results", test_steal_same_results},
        {"worker computes", test_worker_computes},
        {"pool reuses buffers", test_pool_reuses_buffers},
        {"pool disabled", test_pool_disabled},
        {"pool cache stays under the in-use peak", test_pool_footprint_bound},
        {"pool moves cached pages into a missing block", test_pool_moves_pages},
        {"pool big blocks on huge pages", test_pool_huge_pages},
        {"pool bound learns from refaults", test_pool_bound_learns_refaults},
        {"fork child runs inline", test_fork_child_runs_inline},
        CU_TEST_INFO_NULL,
    };
    g_unsetenv("TTML_CPU_THREADS");
    return ttml_test_run("cpu_threads", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
