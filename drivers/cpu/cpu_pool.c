/* drivers/cpu/cpu_pool.c - caching allocator for the cpu driver's buffers.
 *
 * A training step frees and re-allocates the same sizes every step; going to
 * malloc/mmap each time costs system calls and page faults (glibc returns
 * large blocks to the kernel on free). Freed blocks are kept instead in one
 * free list per size class and handed out again:
 *
 *   size <= 4 KiB          multiples of 64 bytes (64 classes)
 *   2^k < size <= 2^(k+1)  2^k * (1 + i/4), i = 1..4 (four classes per octave)
 *
 * Blocks are 64-byte aligned: posix_memalign below 256 KiB, mmap from there
 * (page aligned, and the untouched tail of a rounded-up block costs no RSS);
 * requests of 2 MiB and more get 2 MiB-aligned blocks advised to use
 * transparent huge pages over the request (TTML_CPU_POOL_HUGE=0: not).
 * A free list is intrusive: the first 8 bytes of a cached block hold the next
 * pointer, so caching allocates nothing. Cached bytes are capped
 * (TTML_CPU_POOL_MAX_MB, default min(RAM / 4, 4 GiB), 0 = no caching); a
 * block that would exceed the cap is released. The cache also never makes
 * the pool's footprint (bytes in use + cached) grow past the highest
 * in-use figure seen so far plus 1/16 of it: a cache miss first releases
 * cached blocks of other sizes (largest first). Without that rule the
 * cache of a training step holds the freed activations while the
 * gradients are allocated in other size classes, and the process's peak
 * RSS becomes in-use peak + activations (GPT-2 124M: +0.5 GiB). The
 * slack was 1/32: on the nanogpt bench case that left 7 cache misses and
 * about 3,600 page faults (14 MiB of fresh pages) in every step; 1/16 leaves
 * none (peak RSS 282 -> 288 MiB).
 * A fixed fraction is not enough for every shape: at batch 2 (a DDP rank's
 * half of the nanogpt batch) the step needs about 22% over its peak, and
 * with 1/16 every step evicted blocks the next phase needed again: 15,000
 * page faults (60 MiB of fresh pages) and 3.8x the CPU time of an unbounded
 * cache per step (482 against 114 ms of CPU; GPT-2 124M: 121,000 faults per
 * step).
 * So the slack learns: a block the bound released (evicted, or not cached
 * on free) whose size class then misses is a refault, and the slack grows
 * by that block; it never exceeds half the peak (POOL_SLACK_MAX_DIV). A
 * one-off change of sizes still gets the 1/16 bound; a repeating pattern
 * stops refaulting after a step or two (nanogpt batch 2: footprint 243 MiB
 * for a 199 MiB peak, no page faults per step). Blocks of 2 MiB and more
 * on transparent huge pages (TTML_CPU_POOL_HUGE) do not teach it: they fault
 * back in 2 MiB at a time, and learning them cost GPT-2 124M 0.27 GiB of
 * RSS (2.44 -> 2.71 GiB) for about 5,000 faults per step. What it learns is
 * capped at 64 MiB (POOL_LEARN_MAX): enough for a small model's step, where
 * refaults dominate (nanogpt batch 2 learns ~32 MiB), while a large model's
 * step, seconds long, is not worth more RSS (GPT-2 124M learned 179 MiB from
 * 150 refaults of blocks under 2 MiB: peak RSS 0.81x PyTorch's).
 * Moving pages instead of releasing them: a block of 2 MiB and more that
 * misses while the footprint is over the bound takes its memory from cached
 * blocks of other sizes (over 2 MiB) with mremap, which moves their pages
 * (no copy, no fault, no zeroing) in whole 2 MiB pages, instead of the
 * bound releasing those blocks and the new block faulting in fresh zeroed
 * pages. Donors are picked best fit (the smallest cached block covering
 * what is left, else the largest); a donor's unused rest stays cached, cut
 * into class-sized blocks. Why: a training step frees its gradients at the
 * start (GPT-2 124M: 7, 10 and 160 MiB classes) and its activations in
 * backward (5-6 MiB), so under the bound every step released blocks of one
 * phase's sizes and faulted in fresh ones for the other: GPT-2 124M took
 * 230 MiB (bf16) to 316 MiB (fp32) of fresh pages per step (about 110 huge
 * page faults; clear_page was 3.9% of a bf16 step's CPU time); with moves
 * 13-17 MiB (4 KiB tails of blocks, no huge page), system time per step
 * 143 -> 25 ms (bf16), peak RSS +19 MB (2,443 -> 2,462 MB fp32: the last
 * 2 MiB page of a block moves whole). The mappings stay few (GPT-2 124M:
 * ~830 in /proc/self/maps, flat over the steps). TTML_CPU_POOL_MOVE=0
 * turns it off.
 * TTML_CPU_POOL_BOUND=0 turns the bound off (the cache keeps whatever is
 * freed, up to the cap: a higher peak RSS). When an allocation fails the
 * cache is emptied and the allocation retried. Everything cached is released
 * when the last cpu device closes; blocks freed after that are released
 * directly (buf->handle remembers the class). TTML_CPU_POOL_STATS=1 logs the
 * counters at close.
 */
#include "cpu_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Under AddressSanitizer cached blocks (and the rounded-up tail of a block in
 * use) are poisoned, so use-after-free and overflows are still caught. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define POOL_SMALL_MAX 4096u
#define POOL_SMALL_CLASSES 64
#define POOL_MAX_LOG2 47 /* largest class 2^48 bytes */
#define POOL_CLASSES (POOL_SMALL_CLASSES + 4 * (POOL_MAX_LOG2 - 12 + 1))
#define POOL_MMAP_MIN ((size_t)256 * 1024)
#define POOL_HUGE_PAGE ((size_t)2 << 20) /* x86-64 transparent huge page */
#define POOL_PAGE ((size_t)4096)
#define POOL_SLACK_MAX_DIV 2 /* the learned slack stays <= peak / this */
#define POOL_LEARN_MAX ((guint64)64 << 20) /* and learns at most this much */

typedef struct pool_block {
    struct pool_block *next;
} pool_block;

static struct {
    GMutex lock;
    int opens;
    guint64 cap;
    gboolean bounded;             /* footprint bound on (TTML_CPU_POOL_BOUND) */
    gboolean huge;                /* MADV_HUGEPAGE on big blocks (TTML_CPU_POOL_HUGE) */
    gboolean move;                /* move cached pages into missing blocks (TTML_CPU_POOL_MOVE) */
    pool_block *free_list[POOL_CLASSES];
    guint32 dropped[POOL_CLASSES]; /* blocks the bound released, not needed again yet */
    ttml_cpu_pool_stats stats;
} pool;

/* Class index of a request (size >= 1), or -1 when too large. */
static int size_class(size_t size)
{
    if (size <= POOL_SMALL_MAX) return (int)((size + 63) / 64) - 1;
    int k = 63 - __builtin_clzll((unsigned long long)(size - 1)); /* 2^k < size <= 2^(k+1) */
    if (k > POOL_MAX_LOG2) return -1;
    size_t base = (size_t)1 << k, step = base / 4;
    size_t sub = (size - base + step - 1) / step; /* 1..4 */
    return POOL_SMALL_CLASSES + (k - 12) * 4 + (int)sub - 1;
}

static size_t class_size(int c)
{
    if (c < POOL_SMALL_CLASSES) return (size_t)(c + 1) * 64;
    int k = 12 + (c - POOL_SMALL_CLASSES) / 4, sub = (c - POOL_SMALL_CLASSES) % 4 + 1;
    size_t base = (size_t)1 << k;
    return base + (size_t)sub * (base / 4);
}

/* mmap of `bytes` starting on a huge-page boundary (the slack around it is
 * unmapped again), or NULL. */
static void *map_huge_aligned(size_t bytes)
{
    size_t span = bytes + POOL_HUGE_PAGE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t at = ((uintptr_t)raw + POOL_HUGE_PAGE - 1) & ~(uintptr_t)(POOL_HUGE_PAGE - 1);
    size_t head = at - (uintptr_t)raw, tail = span - head - bytes;
    if (head) munmap(raw, head);
    if (tail) munmap((char *)at + bytes, tail);
    return (void *)at;
}

/* A block of `bytes` (a class size) for a request of `want` bytes. */
static void *block_new(size_t bytes, size_t want)
{
    if (bytes < POOL_MMAP_MIN) {
        void *p = NULL;
        return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
    }
#ifdef MADV_HUGEPAGE
    /* Transparent huge pages where the system grants them on request
     * ("madvise" mode): the block starts on a 2 MiB boundary and the whole
     * 2 MiB pages inside the requested bytes fault in one at a time, not 512
     * small ones each (GPT-2 124M: 117k page faults and 1.1 s of system time
     * per step before, 4.8 -> 2.6 CPU-s per step). The unused tail of the
     * class stays on small pages, so the resident set does not grow past the
     * request. The advice may be refused: that changes nothing else. */
    if (pool.huge && want >= POOL_HUGE_PAGE) {
        void *p = map_huge_aligned(bytes);
        if (p) (void)madvise(p, want & ~(POOL_HUGE_PAGE - 1), MADV_HUGEPAGE);
        return p;
    }
#endif
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void block_release(void *p, size_t bytes)
{
    if (bytes >= POOL_MMAP_MIN)
        munmap(p, bytes);
    else
        free(p);
}

/* Release every cached block (lock held). */
static void trim_locked(void)
{
    for (int c = 0; c < POOL_CLASSES; c++) {
        size_t bytes = class_size(c);
        while (pool.free_list[c]) {
            pool_block *b = pool.free_list[c];
            POOL_UNPOISON(b, bytes);
            pool.free_list[c] = b->next;
            block_release(b, bytes);
        }
    }
    pool.stats.cached_bytes = 0;
}

/* Release cached blocks, largest classes first, until at most `target`
 * bytes stay cached (lock held). */
static void evict_locked(guint64 target)
{
    for (int c = POOL_CLASSES - 1; c >= 0 && pool.stats.cached_bytes > target; c--) {
        size_t bytes = class_size(c);
        while (pool.free_list[c] && pool.stats.cached_bytes > target) {
            pool_block *b = pool.free_list[c];
            POOL_UNPOISON(b, bytes);
            pool.free_list[c] = b->next;
            pool.stats.cached_bytes -= bytes;
            pool.dropped[c]++;
            block_release(b, bytes);
        }
    }
}

/* Footprint the cache may fill: the in-use peak (at least `live`) + the
 * slack: 1/16 of the peak + what refaults taught, at most POOL_SLACK_MAX_DIV
 * (TTML_CPU_POOL_BOUND=0: no bound, only the cap). */
static guint64 footprint_bound(guint64 live)
{
    if (!pool.bounded) return G_MAXUINT64 / 2;
    guint64 peak = MAX(pool.stats.peak_live_bytes, live);
    guint64 learned = MIN(pool.stats.learned_bytes, POOL_LEARN_MAX);
    pool.stats.slack_bytes = MIN(peak / 16 + learned, peak / POOL_SLACK_MAX_DIV);
    return peak + pool.stats.slack_bytes;
}

/* A fresh block of class c is needed: if the bound released one of that
 * class earlier, the step's pattern needs it back (a refault): the slack
 * grows by its size, so the same eviction does not recur next step. */
static void note_refault(int c, size_t bytes)
{
    if (!pool.bounded || !pool.dropped[c]) return;
    pool.dropped[c]--;
    pool.stats.refaults++;
    /* a block on huge pages comes back in a few faults: not worth the RSS
     * (GPT-2 124M learned 0.27 GiB of slack, peak RSS 0.81x PyTorch's) */
    if (pool.huge && bytes >= POOL_HUGE_PAGE) return;
    pool.stats.learned_bytes += bytes;
}

/* mremap [src, src + len) onto dst (a mapping of ours): the pages move, not
 * their contents. A range mremap refuses (it spans two mappings: a block
 * assembled by earlier moves) is moved in halves. Returns the bytes moved. */
static size_t move_pages(char *dst, char *src, size_t len)
{
    size_t done = 0, chunk = len;
    while (done < len) {
        size_t n = MIN(chunk, len - done);
        if (mremap(src + done, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, dst + done) != MAP_FAILED) {
            done += n;
            chunk = len - done;
            continue;
        }
        if (errno != EFAULT || n <= POOL_PAGE) break;
        chunk = ((n / 2) + POOL_PAGE - 1) & ~(POOL_PAGE - 1);
    }
    return done;
}

/* The cached class (blocks of 2 MiB and more) to take pages from for
 * `need` more bytes: the smallest covering it, else the largest; -1: none. */
static int donor_class(size_t need)
{
    int largest = -1;
    for (int c = size_class(POOL_HUGE_PAGE + 1); c < POOL_CLASSES; c++) {
        if (!pool.free_list[c]) continue;
        if ((class_size(c) & ~(POOL_HUGE_PAGE - 1)) >= need) return c;
        largest = c;
    }
    return largest;
}

/* Keep [p, p + n) (the rest of a donor) cached, cut into blocks of the
 * largest classes that fit (2 MiB multiples from 2 MiB up, so that they stay
 * on huge-page boundaries); a rest under 256 KiB is released (lock held). */
static void keep_rest(char *p, size_t n)
{
    while (n >= POOL_MMAP_MIN) {
        int c = size_class(n);
        while (c > 0 && (class_size(c) > n ||
                         (class_size(c) > POOL_HUGE_PAGE && class_size(c) % POOL_HUGE_PAGE != 0)))
            c--;
        const size_t bytes = class_size(c);
        if (bytes < POOL_MMAP_MIN) break;
        pool_block *b = (pool_block *)p;
        b->next = pool.free_list[c];
        pool.free_list[c] = b;
        POOL_POISON((char *)b + sizeof *b, bytes - sizeof *b);
        pool.stats.cached_bytes += bytes;
        p += bytes;
        n -= bytes;
    }
    if (n) munmap(p, n);
}

/* p is a new block (untouched) for `want` bytes and the footprint (`live`
 * with it, plus the cache) is over `bound`: move pages of cached blocks of
 * 2 MiB and more into it until it is covered or the footprint is back under
 * the bound. Returns the bytes moved (lock held). */
static size_t harvest_locked(char *p, size_t bytes, size_t want, guint64 live, guint64 bound)
{
    /* whole 2 MiB pages, so huge pages move as they are (the last one also
     * brings a donor's 4 KiB-paged tail when the block has room for it) */
    const size_t fill = MIN((want + POOL_HUGE_PAGE - 1) & ~(POOL_HUGE_PAGE - 1), bytes & ~(POOL_HUGE_PAGE - 1));
    size_t moved = 0;
    while (moved < fill && live + pool.stats.cached_bytes > bound) {
        int d = donor_class(fill - moved);
        if (d < 0) break;
        const size_t dbytes = class_size(d);
        char *b = (char *)pool.free_list[d];
        POOL_UNPOISON(b, dbytes);
        pool.free_list[d] = ((pool_block *)b)->next;
        pool.stats.cached_bytes -= dbytes;
        pool.dropped[d]++;
        const size_t want_mv = MIN(dbytes & ~(POOL_HUGE_PAGE - 1), fill - moved);
        const size_t mv = move_pages(p + moved, b, want_mv);
        moved += mv;
        pool.stats.moves++;
        pool.stats.moved_bytes += mv;
        if (mv < want_mv) { /* mremap failed: give the rest back and stop */
            munmap(b + mv, dbytes - mv);
            break;
        }
        if (dbytes > mv) keep_rest(b + mv, dbytes - mv);
    }
    return moved;
}

static guint64 cap_from_env(guint64 ram_bytes)
{
    const char *env = g_getenv("TTML_CPU_POOL_MAX_MB");
    if (env && *env) {
        char *end = NULL;
        guint64 v = g_ascii_strtoull(env, &end, 10);
        if (end && *end == '\0' && end != env && v <= ((guint64)1 << 40)) return v << 20;
        g_warning("cpu driver: TTML_CPU_POOL_MAX_MB='%s' is not a number of MiB; using the default "
                  "(a quarter of RAM, at most 4096)", env);
    }
    guint64 cap = ram_bytes ? ram_bytes / 4 : ((guint64)1 << 30);
    return MIN(cap, (guint64)4 << 30);
}

void ttml_cpu_pool_open(guint64 ram_bytes)
{
    g_mutex_lock(&pool.lock);
    if (pool.opens++ == 0) {
        pool.cap = cap_from_env(ram_bytes);
        const char *bound = g_getenv("TTML_CPU_POOL_BOUND");
        pool.bounded = !(bound && strcmp(bound, "0") == 0);
        const char *huge = g_getenv("TTML_CPU_POOL_HUGE");
        pool.huge = !(huge && strcmp(huge, "0") == 0);
        const char *move = g_getenv("TTML_CPU_POOL_MOVE");
        pool.move = !(move && strcmp(move, "0") == 0);
        guint64 cached = pool.stats.cached_bytes; /* 0: closed pools hold nothing */
        memset(&pool.stats, 0, sizeof pool.stats);
        memset(pool.dropped, 0, sizeof pool.dropped);
        pool.stats.cached_bytes = cached;
        pool.stats.cap_bytes = pool.cap;
    }
    g_mutex_unlock(&pool.lock);
}

void ttml_cpu_pool_close(void)
{
    g_mutex_lock(&pool.lock);
    if (pool.opens > 0 && --pool.opens == 0) {
        const char *env = g_getenv("TTML_CPU_POOL_STATS");
        if (env && *env && strcmp(env, "0") != 0)
            g_message("cpu pool: %" G_GUINT64_FORMAT " allocations, %" G_GUINT64_FORMAT
                      " from the cache (%.1f%%), peak %.1f MiB in use, %.1f MiB cached at close, "
                      "cap %.0f MiB, slack %.1f MiB (%" G_GUINT64_FORMAT " refaults), %" G_GUINT64_FORMAT
                      " moves of cached pages (%.1f MiB)",
                      pool.stats.allocs, pool.stats.hits,
                      pool.stats.allocs ? 100.0 * (double)pool.stats.hits / (double)pool.stats.allocs : 0.0,
                      (double)pool.stats.peak_live_bytes / 1048576.0,
                      (double)pool.stats.cached_bytes / 1048576.0, (double)pool.cap / 1048576.0,
                      (double)pool.stats.slack_bytes / 1048576.0, pool.stats.refaults, pool.stats.moves,
                      (double)pool.stats.moved_bytes / 1048576.0);
        trim_locked();
    }
    g_mutex_unlock(&pool.lock);
}

gboolean ttml_cpu_pool_alloc(ttml_buffer *buf, GError **error)
{
    /* at least one cache line, so zero-size buffers still get a valid pointer */
    size_t want = buf->size ? buf->size : 64;
    int c = size_class(want);
    if (c < 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "cpu driver: cannot allocate %zu bytes: larger than the biggest supported buffer "
                    "(256 TiB)",
                    buf->size);
        return FALSE;
    }
    size_t bytes = class_size(c);
    void *p = NULL;
    g_mutex_lock(&pool.lock);
    pool.stats.allocs++;
    if (!pool.free_list[c] && bytes >= POOL_MMAP_MIN) {
        /* no block of this size: a cached one up to 1.5 times as large serves
         * (the block keeps its class); better than a fresh mmap and its
         * page faults, and it keeps the footprint bound below from evicting
         * blocks that the next phase of the step needs */
        for (int k = c + 1; k <= c + 2 && k < POOL_CLASSES; k++)
            if (pool.free_list[k]) {
                c = k;
                bytes = class_size(k);
                break;
            }
    }
    if (pool.free_list[c]) {
        pool_block *b = pool.free_list[c];
        POOL_UNPOISON(b, bytes);
        pool.free_list[c] = b->next;
        pool.stats.cached_bytes -= bytes;
        pool.stats.hits++;
        p = b;
    }
    if (!p) {
        note_refault(c, bytes);
        guint64 live = pool.stats.live_bytes + bytes, bound = footprint_bound(live);
        if (pool.move && want >= POOL_HUGE_PAGE && live + pool.stats.cached_bytes > bound &&
            (p = block_new(bytes, want)))
            harvest_locked(p, bytes, want, live, bound);
        if (live + pool.stats.cached_bytes > bound) evict_locked(bound - live);
        if (!p) p = block_new(bytes, want);
        if (!p && pool.stats.cached_bytes) { /* give the cache back, then retry */
            trim_locked();
            p = block_new(bytes, want);
        }
    }
    if (p) {
        pool.stats.live_bytes += bytes;
        if (pool.stats.live_bytes > pool.stats.peak_live_bytes)
            pool.stats.peak_live_bytes = pool.stats.live_bytes;
    }
    g_mutex_unlock(&pool.lock);
    if (!p) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "cpu driver: allocating %zu bytes (a %zu-byte block) failed: the host is out of "
                    "memory; use a smaller batch or model, or runner_type: memory_efficient",
                    buf->size, bytes);
        return FALSE;
    }
    size_t used = (want + 7) & ~(size_t)7;
    if (used < bytes) POOL_POISON((char *)p + used, bytes - used);
    buf->data = p;
    buf->handle = (void *)(intptr_t)(c + 1);
    buf->layout = TTML_LAYOUT_ROW_MAJOR;
    return TRUE;
}

void ttml_cpu_pool_free(ttml_buffer *buf)
{
    if (!buf || !buf->data) return;
    int c = (int)(intptr_t)buf->handle - 1;
    if (c < 0 || c >= POOL_CLASSES) { /* not one of ours: cannot happen; do not guess */
        g_critical("cpu driver: freeing a buffer of %zu bytes that the cpu pool did not allocate",
                   buf->size);
        return;
    }
    const size_t bytes = class_size(c);
    void *p = buf->data;
    buf->data = NULL;
    buf->handle = NULL;
    g_mutex_lock(&pool.lock);
    pool.stats.live_bytes -= MIN(pool.stats.live_bytes, (guint64)bytes);
    const gboolean room = pool.opens > 0 && pool.stats.cached_bytes + bytes <= pool.cap;
    const gboolean fits = pool.stats.live_bytes + pool.stats.cached_bytes + bytes <= footprint_bound(0);
    if (room && !fits) pool.dropped[c]++; /* the bound releases it: a refault if needed again */
    if (room && fits) {
        pool_block *b = p;
        b->next = pool.free_list[c];
        pool.free_list[c] = b;
        POOL_POISON((char *)b + sizeof *b, bytes - sizeof *b);
        pool.stats.cached_bytes += bytes;
        p = NULL;
    }
    g_mutex_unlock(&pool.lock);
    if (p) {
        POOL_UNPOISON(p, bytes);
        block_release(p, bytes);
    }
}

void ttml_cpu_pool_get_stats(ttml_cpu_pool_stats *stats)
{
    g_mutex_lock(&pool.lock);
    *stats = pool.stats;
    stats->cap_bytes = pool.cap;
    g_mutex_unlock(&pool.lock);
}
