/* drivers/cpu/cpu_wcache.c - fp32 -> bf16 conversion and the bf16 weight
 * cache of precision bf16.
 *
 * A linear layer's weight is the B operand of three products per
 * micro-batch (forward, dX; dW has it nowhere) but changes only when the
 * optimizer writes it, so its bf16 copy is made once and reused until the
 * fp32 data is written again. The cache is keyed by the buffer (and the
 * view's offset and element count inside it). Invalidation: every path that
 * writes a cpu buffer goes through the driver, which drops the buffer's
 * entry: host uploads (write), every kernel launch for each of its out[]
 * slots (optimizer steps, fill, copy, third-party kernels alike: kernels
 * write only their out[] slots, the kernel ABI's rule) and free. So a hit
 * can never return bf16 data older than the fp32 data.
 *
 * Memory: only B operands of the products that fold a batch into M (linear
 * layers and the head: a 2-D weight shared by the batch) are cached, half
 * the size of their fp32 data. A write only marks the copy stale: the next
 * product converts into the same memory, so a training step does not map
 * (and page-fault in) fresh pages for every weight it re-converts (GPT-2
 * 124M: 236 MiB, 60k faults per step). The memory is freed with the buffer.
 * TTML_CPU_BF16_CACHE=0 turns the cache off (every product converts).
 * Fused refresh: a kernel that rewrites a whole weight (the AdamW step)
 * writes its bf16 copy in the same pass (ttml_cpu_wcache_refresh_begin/done,
 * rounded by ttml_cpu_bf16_round like every conversion here), so the copy
 * stays valid across the optimizer step and nothing reads the 124 M fp32
 * weights of GPT-2 a second time to convert them.
 * Thread safety: one mutex; a buffer must not be written while a product
 * reads it (already a data race on the fp32 data).
 */
#include "cpu_internal.h"

#include <string.h>

#define WC_SPARE 128

/* ---- fp32 -> bf16 ---- */

TTML_CPU_VEC
static void to_bf16_range(guint16 *dst, const float *src, size_t begin, size_t end)
{
    for (size_t i = begin; i < end; i++) dst[i] = ttml_cpu_bf16_round(src[i]);
}

typedef struct {
    guint16 *dst;
    const float *src;
} convert_job;

static void convert_items(void *ctx, size_t begin, size_t end)
{
    const convert_job *j = ctx;
    to_bf16_range(j->dst, j->src, begin, end);
}

void ttml_cpu_to_bf16(guint16 *dst, const float *src, size_t n)
{
    convert_job j = {dst, src};
    ttml_cpu_parallel_for(n, 1 << 15, convert_items, &j);
}

/* ---- the cache ---- */

typedef struct {
    size_t offset, n;   /* elements [offset / 4, + n) of the buffer */
    guint16 *data;      /* cap >= n elements, owned by the entry       */
    size_t cap;
    gboolean valid;     /* FALSE once the buffer was written (stale)   */
    gboolean refreshed; /* written by the kernel now launched: the
                         * launch's invalidation keeps it valid, once  */
} wcache_entry;

static struct {
    GMutex lock;
    GHashTable *map;    /* ttml_buffer * -> wcache_entry * */
    gint n_entries;     /* atomic: lets writes skip the lock when empty */
    int enabled;        /* -1 = not read yet */
    ttml_cpu_wcache_stats stats;
    /* blocks of freed entries, reused by the next entries of a similar size
     * (activations come and go every step with the same shapes): no fresh
     * pages, so no page faults, for them after the first step */
    guint16 *spare[WC_SPARE];
    size_t spare_cap[WC_SPARE];
    int n_spare;
} wc = {.enabled = -1};

static void entry_free(gpointer p)   /* called with wc.lock held */
{
    wcache_entry *e = p;
    if (wc.n_spare < WC_SPARE) {
        wc.spare[wc.n_spare] = e->data;
        wc.spare_cap[wc.n_spare++] = e->cap;
    } else {
        g_free(e->data);
    }
    g_free(e);
}

/* A block for n elements: the smallest spare one that fits without wasting
 * more than half of it, else a new one. Call with wc.lock held. */
static guint16 *block_take(size_t n, size_t *cap)
{
    int best = -1;
    for (int i = 0; i < wc.n_spare; i++)
        if (wc.spare_cap[i] >= n && wc.spare_cap[i] / 2 <= n &&
            (best < 0 || wc.spare_cap[i] < wc.spare_cap[best]))
            best = i;
    if (best < 0) {
        *cap = n;
        return g_malloc(MAX(n, 1) * sizeof(guint16));
    }
    guint16 *data = wc.spare[best];
    *cap = wc.spare_cap[best];
    wc.spare[best] = wc.spare[--wc.n_spare];
    wc.spare_cap[best] = wc.spare_cap[wc.n_spare];
    return data;
}

static gboolean wcache_enabled(void)
{
    if (wc.enabled < 0) {
        const char *v = g_getenv("TTML_CPU_BF16_CACHE");
        wc.enabled = !(v && (strcmp(v, "0") == 0 || g_ascii_strcasecmp(v, "off") == 0));
    }
    return wc.enabled;
}

static void drop_locked(const ttml_buffer *buf)
{
    wcache_entry *e = wc.map ? g_hash_table_lookup(wc.map, buf) : NULL;
    if (!e) return;
    wc.stats.live_bytes -= e->n * sizeof(guint16);
    g_hash_table_remove(wc.map, buf);
    g_atomic_int_add(&wc.n_entries, -1);
}

static const guint16 *wcache_get(const ttml_buffer *buf, size_t offset, const float *src, size_t n,
                                 guint16 *scratch, gboolean act)
{
    g_mutex_lock(&wc.lock);
    guint64 *lookups = act ? &wc.stats.act_lookups : &wc.stats.lookups;
    guint64 *hits = act ? &wc.stats.act_hits : &wc.stats.hits;
    (*lookups)++;
    if (!buf || !wcache_enabled()) {
        if (!act) wc.stats.conversions++;
        if (!act) wc.stats.converted_bytes += n * sizeof(guint16);
        g_mutex_unlock(&wc.lock);
        ttml_cpu_to_bf16(scratch, src, n);
        return scratch;
    }
    if (!wc.map) wc.map = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, entry_free);
    wcache_entry *e = g_hash_table_lookup(wc.map, buf);
    if (e && e->valid && e->offset == offset && e->n == n) {
        (*hits)++;
        if (!act) wc.stats.saved_bytes += n * sizeof(guint16);
        g_mutex_unlock(&wc.lock);
        return e->data;
    }
    if (e && e->n != n) {
        drop_locked(buf);   /* another view of the buffer: keep one entry per buffer */
        e = NULL;
    }
    if (e) {
        if (!act) wc.stats.reuses++;   /* stale, or another view of the same size: in place */
    } else {
        e = g_new(wcache_entry, 1);
        e->n = n;
        e->data = block_take(n, &e->cap);
        g_hash_table_insert(wc.map, (gpointer)buf, e);
        g_atomic_int_inc(&wc.n_entries);
        wc.stats.live_bytes += n * sizeof(guint16);
        wc.stats.peak_live_bytes = MAX(wc.stats.peak_live_bytes, wc.stats.live_bytes);
    }
    e->offset = offset;
    e->valid = TRUE;
    e->refreshed = FALSE;
    ttml_cpu_to_bf16(e->data, src, n);
    if (!act) wc.stats.conversions++;
    if (!act) wc.stats.converted_bytes += n * sizeof(guint16);
    g_mutex_unlock(&wc.lock);
    return e->data;
}

const guint16 *ttml_cpu_wcache_get(const ttml_buffer *buf, size_t offset, const float *src, size_t n,
                                   guint16 *scratch)
{
    return wcache_get(buf, offset, src, n, scratch, FALSE);
}

const guint16 *ttml_cpu_wcache_get_act(const ttml_buffer *buf, size_t offset, const float *src, size_t n,
                                       guint16 *scratch)
{
    return wcache_get(buf, offset, src, n, scratch, TRUE);
}

void ttml_cpu_wcache_invalidate(const ttml_buffer *buf)
{
    if (!buf || g_atomic_int_get(&wc.n_entries) == 0) return;
    g_mutex_lock(&wc.lock);
    wcache_entry *e = wc.map ? g_hash_table_lookup(wc.map, buf) : NULL;
    if (e && e->refreshed) {
        e->refreshed = FALSE;   /* written with its fp32 data: still valid */
    } else if (e && e->valid) {
        e->valid = FALSE;   /* keep the memory for the next conversion */
        wc.stats.invalidations++;
    }
    g_mutex_unlock(&wc.lock);
}

guint16 *ttml_cpu_wcache_refresh_begin(const ttml_buffer *buf, size_t offset, size_t n)
{
    if (!buf || g_atomic_int_get(&wc.n_entries) == 0) return NULL;
    g_mutex_lock(&wc.lock);
    wcache_entry *e = wc.map ? g_hash_table_lookup(wc.map, buf) : NULL;
    guint16 *data = NULL;
    if (e && e->offset == offset && e->n == n) {
        e->valid = FALSE;   /* until the kernel has written every element */
        e->refreshed = FALSE;
        data = e->data;
    }
    g_mutex_unlock(&wc.lock);
    return data;
}

void ttml_cpu_wcache_refresh_done(const ttml_buffer *buf, const guint16 *data)
{
    g_mutex_lock(&wc.lock);
    wcache_entry *e = wc.map ? g_hash_table_lookup(wc.map, buf) : NULL;
    if (e && e->data == data) {
        e->valid = TRUE;
        e->refreshed = TRUE;
        wc.stats.refreshes++;
        wc.stats.refreshed_bytes += e->n * sizeof(guint16);
    }
    g_mutex_unlock(&wc.lock);
}

void ttml_cpu_wcache_release(const ttml_buffer *buf)
{
    if (!buf || g_atomic_int_get(&wc.n_entries) == 0) return;
    g_mutex_lock(&wc.lock);
    drop_locked(buf);
    g_mutex_unlock(&wc.lock);
}

void ttml_cpu_wcache_trim(void)
{
    g_mutex_lock(&wc.lock);
    while (wc.n_spare > 0) g_free(wc.spare[--wc.n_spare]);
    g_mutex_unlock(&wc.lock);
}

void ttml_cpu_wcache_get_stats(ttml_cpu_wcache_stats *stats)
{
    g_mutex_lock(&wc.lock);
    *stats = wc.stats;
    g_mutex_unlock(&wc.lock);
}
