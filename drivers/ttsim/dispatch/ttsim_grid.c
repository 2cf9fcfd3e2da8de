/* drivers/ttsim/dispatch/ttsim_grid.c - the core grid on host threads.
 *
 * tt-metal splits a kernel's work (tiles, tile-rows, output blocks) over
 * the worker cores with split_work_to_cores: with U units on N cores, the
 * first U mod N cores take ceil(U / N) units and the rest floor(U / N)
 * (fewer cores than N when U < N). ttsim does the same and then runs the
 * simulated cores on a small set of host threads (GThread, one job at a
 * time): host thread w takes the contiguous range of cores
 * [w * used / W, (w + 1) * used / W). Each unit belongs to exactly one
 * core, and reductions keep one partial per core combined in core order,
 * so results never depend on the number of host threads.
 */
#include "ttsim_internal.h"

#include <string.h>

void ttsim_split_work(int n_cores, gint64 units, ttsim_split *s)
{
    memset(s, 0, sizeof *s);
    if (units <= 0 || n_cores <= 0) return;
    if (units <= n_cores) {
        s->cores_used = (int)units;
        s->cores_g1 = (int)units;
        s->units_g1 = 1;
        return;
    }
    s->cores_used = n_cores;
    s->units_g1 = (units + n_cores - 1) / n_cores;
    gint64 rem = units % n_cores;
    s->cores_g1 = rem == 0 ? n_cores : (int)rem;
}

void ttsim_split_range(const ttsim_split *s, int core, gint64 *begin, gint64 *end)
{
    if (core < 0 || core >= s->cores_used) {
        *begin = *end = 0;
        return;
    }
    gint64 g1 = s->cores_g1, u1 = s->units_g1;
    if (core < g1) {
        *begin = core * u1;
        *end = *begin + u1;
    } else {
        *begin = g1 * u1 + (core - g1) * (u1 - 1);
        *end = *begin + (u1 - 1);
    }
}

/* ---- host threads ---- */

typedef struct {
    ttsim_core_fn fn;
    void *ctx;
    const ttsim_split *split;
    int workers;
} grid_job;

struct ttsim_hosts {
    int n;                       /* host threads including the caller */
    GThread **threads;           /* n - 1 helpers                      */
    GMutex m;
    GCond start, done;
    guint64 gen;
    int pending;
    gboolean quit;
    grid_job job;
};

typedef struct {
    ttsim_hosts *h;
    int index;
} worker_arg;

static void run_share(const grid_job *j, int w)
{
    int used = j->split->cores_used;
    int c0 = (int)((gint64)w * used / j->workers), c1 = (int)((gint64)(w + 1) * used / j->workers);
    for (int c = c0; c < c1; c++) {
        gint64 b, e;
        ttsim_split_range(j->split, c, &b, &e);
        if (e > b) j->fn(j->ctx, c, b, e, w);
    }
}

static gpointer worker_main(gpointer data)
{
    worker_arg *a = data;
    ttsim_hosts *h = a->h;
    guint64 seen = 0;
    for (;;) {
        g_mutex_lock(&h->m);
        while (h->gen == seen && !h->quit) g_cond_wait(&h->start, &h->m);
        if (h->quit) {
            g_mutex_unlock(&h->m);
            break;
        }
        seen = h->gen;
        grid_job j = h->job;
        g_mutex_unlock(&h->m);
        if (a->index < j.workers) run_share(&j, a->index);
        g_mutex_lock(&h->m);
        if (--h->pending == 0) g_cond_signal(&h->done);
        g_mutex_unlock(&h->m);
    }
    g_free(a);
    return NULL;
}

ttsim_hosts *ttsim_hosts_new(int n_threads)
{
    ttsim_hosts *h = g_new0(ttsim_hosts, 1);
    h->n = n_threads < 1 ? 1 : n_threads;
    g_mutex_init(&h->m);
    g_cond_init(&h->start);
    g_cond_init(&h->done);
    h->threads = g_new0(GThread *, h->n);
    for (int i = 1; i < h->n; i++) {
        worker_arg *a = g_new(worker_arg, 1);
        a->h = h;
        a->index = i;
        h->threads[i] = g_thread_new("ttsim-core", worker_main, a);
    }
    return h;
}

void ttsim_hosts_free(ttsim_hosts *h)
{
    if (!h) return;
    g_mutex_lock(&h->m);
    h->quit = TRUE;
    g_cond_broadcast(&h->start);
    g_mutex_unlock(&h->m);
    for (int i = 1; i < h->n; i++) g_thread_join(h->threads[i]);
    g_free(h->threads);
    g_mutex_clear(&h->m);
    g_cond_clear(&h->start);
    g_cond_clear(&h->done);
    g_free(h);
}

int ttsim_hosts_count(const ttsim_hosts *h)
{
    return h ? h->n : 1;
}

/* Below this much work a launch runs on the calling thread (waking the
 * host threads costs more than it saves). */
#define GRID_INLINE_ELEMS 32768

void ttsim_grid_run(ttsim_device *d, gint64 units, gint64 elems_per_unit, ttsim_core_fn fn, void *ctx,
                    ttsim_split *split_out)
{
    ttsim_split split;
    ttsim_split_work(d->cfg.n_cores, units, &split);
    if (split_out) *split_out = split;
    if (split.cores_used == 0) return;
    ttsim_hosts *h = d->hosts;
    int workers = h ? h->n : 1;
    if (workers > split.cores_used) workers = split.cores_used;
    grid_job j = {fn, ctx, &split, workers};
    if (workers <= 1 || units * (elems_per_unit > 0 ? elems_per_unit : 1) < GRID_INLINE_ELEMS) {
        j.workers = 1;
        run_share(&j, 0);
        return;
    }
    g_mutex_lock(&h->m);
    h->job = j;
    h->pending = h->n - 1;
    h->gen++;
    g_cond_broadcast(&h->start);
    g_mutex_unlock(&h->m);
    run_share(&j, 0);
    g_mutex_lock(&h->m);
    while (h->pending > 0) g_cond_wait(&h->done, &h->m);
    g_mutex_unlock(&h->m);
}

void *ttsim_worker_scratch(ttsim_device *d, int worker, int slot, size_t bytes)
{
    size_t i = (size_t)worker * TTSIM_WORKER_SLOTS + (size_t)slot;
    if (d->wscratch_cap[i] < bytes) {
        g_aligned_free(d->wscratch[i]);
        /* grow by half again so a slowly growing request does not realloc every launch */
        size_t cap = bytes + bytes / 2 + 64;
        d->wscratch[i] = g_aligned_alloc(1, cap, 64);
        d->wscratch_cap[i] = cap;
    }
    return d->wscratch[i];
}

void *ttsim_launch_scratch(ttsim_device *d, int slot, size_t bytes)
{
    if (d->scratch_cap[slot] < bytes) {
        g_free(d->scratch[slot]);
        d->scratch[slot] = g_malloc(bytes ? bytes : 1);
        d->scratch_cap[slot] = bytes;
    }
    return d->scratch[slot];
}
