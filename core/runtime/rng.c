/* core/runtime/rng.c - the context RNG: counter-based splitmix64, so its whole state
 * is (seed, counter) and can be checkpointed and restored exactly. GLib's
 * GRand cannot export its state, hence this small generator. The state is
 * per thread. */
#include "internal.h"

#include <math.h>

/* Per thread: ranks of a mesh (threads) each draw from their own generator,
 * seeded as an MPI rank's process would be. A new thread starts at seed 5489. */
static _Thread_local ttml_rng_state rng = {5489u, 0u};

void ttml_rng_thread_reset(void) { rng = (ttml_rng_state){5489u, 0u}; }
/* This thread's rows of the global batch (ttml_set_batch_shard). */
static _Thread_local int64_t shard_offset, shard_global;

static inline guint64 splitmix64(guint64 x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline guint64 draw(guint64 counter)
{
    return splitmix64(rng.seed * 0xd1b54a32d192ed03ull + splitmix64(counter));
}

static inline float to_unit(guint64 x) { return (float)(x >> 40) * (1.0f / 16777216.0f); }

void ttml_set_seed(guint64 seed)
{
    rng.seed = seed;
    rng.counter = 0;
}

ttml_rng_state ttml_get_rng_state(void) { return rng; }
void ttml_set_rng_state(ttml_rng_state state) { rng = state; }
guint64 ttml_rng_u64(void) { return draw(rng.counter++); }
float ttml_rng_uniform(void) { return to_unit(draw(rng.counter++)); }

float ttml_rng_normal(void)
{
    float z;
    ttml_rng_fill_normal(&z, 1, 0.0f, 1.0f);
    return z;
}

void ttml_rng_fill_uniform(float *out, size_t n, float lo, float hi)
{
    float span = hi - lo;
    for (size_t i = 0; i < n; i++)
        out[i] = lo + span * to_unit(draw(rng.counter + i));
    rng.counter += n;
}

/* Box-Muller: each pair of values (out[2j], out[2j+1]) uses the two draws
 * counter + 2j and counter + 2j + 1 and both of the transform's outputs
 * (cosine, sine), so a pair depends only on the counter; the counter advances
 * by n rounded up to even (an odd n discards the last sine). */
static void fill_normal_range(float *out, size_t begin, size_t end, size_t n, guint64 c0, float mean,
                              float std)
{
    for (size_t i = begin; i < end; i += 2) {
        const guint64 c = c0 + i;
        /* 53-bit u1 in (0, 1] (the radius, in double: the tails need it);
         * the angle needs no more than float. (gint64) conversions: < 2^53. */
        const double u1 = ((double)(gint64)(draw(c) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        const float a = (float)(gint64)(draw(c + 1) >> 40) * (float)(2.0 * G_PI / 16777216.0);
        const double r = sqrt(-2.0 * log(u1));
        out[i] = mean + std * (float)(r * (double)cosf(a));
        if (i + 1 < n) out[i + 1] = mean + std * (float)(r * (double)sinf(a));
    }
}

typedef struct {
    float *out;
    size_t begin, end, n;
    guint64 c0;
    float mean, std;
} fill_job;

static gpointer fill_normal_thread(gpointer data)
{
    const fill_job *j = data;
    fill_normal_range(j->out, j->begin, j->end, j->n, j->c0, j->mean, j->std);
    return NULL;
}

#define FILL_THREAD_MIN ((size_t)1 << 20) /* values per helper thread, at least */
#define FILL_MAX_THREADS 8

/* Large fills (model initialisation: ~1 s per 10M values on one core) are cut
 * into even-aligned ranges on short-lived threads; every value depends only
 * on its index, so the result is the same for any cut. */
void ttml_rng_fill_normal(float *out, size_t n, float mean, float std)
{
    const guint64 c0 = rng.counter;
    size_t t = MIN((size_t)g_get_num_processors(), (size_t)FILL_MAX_THREADS);
    t = MIN(t, n / FILL_THREAD_MIN);
    if (t <= 1) {
        fill_normal_range(out, 0, n, n, c0, mean, std);
    } else {
        fill_job jobs[FILL_MAX_THREADS];
        GThread *threads[FILL_MAX_THREADS] = {NULL};
        for (size_t k = 0; k < t; k++) {
            jobs[k] = (fill_job){out, (n * k / t) & ~(size_t)1, k + 1 == t ? n : (n * (k + 1) / t) & ~(size_t)1,
                                 n, c0, mean, std};
            if (k > 0) threads[k] = g_thread_try_new("ttml-rng", fill_normal_thread, &jobs[k], NULL);
        }
        fill_normal_thread(&jobs[0]);
        for (size_t k = 1; k < t; k++) {
            if (threads[k])
                g_thread_join(threads[k]);
            else
                fill_normal_thread(&jobs[k]); /* could not start a thread: here */
        }
    }
    rng.counter += n + (n & 1);
}

void ttml_set_batch_shard(int64_t row_offset, int64_t global_rows)
{
    shard_offset = row_offset > 0 ? row_offset : 0;
    shard_global = global_rows > 0 ? global_rows : 0;
}

void ttml_get_batch_shard(int64_t *row_offset, int64_t *global_rows)
{
    if (row_offset) *row_offset = shard_offset;
    if (global_rows) *global_rows = shard_global;
}

guint64 ttml_rng_position_base(int ndim, const int64_t *shape)
{
    if (shard_offset == 0 || ndim < 1 || !shape || shape[0] <= 0) return 0;
    guint64 per_row = 1;
    for (int d = 1; d < ndim; d++) per_row *= (guint64)(shape[d] > 0 ? shape[d] : 0);
    return (guint64)shard_offset * per_row;
}
