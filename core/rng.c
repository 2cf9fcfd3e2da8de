/* core/rng.c - the context RNG: counter-based splitmix64, so its whole state
 * is (seed, counter) and can be checkpointed and restored exactly. GLib's
 * GRand cannot export its state, hence this small generator. */
#include "internal.h"

#include <math.h>

static ttml_rng_state rng = {5489u, 0u};

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

/* Box-Muller: each value uses two draws (the sine partner is discarded so
 * that value i depends only on the counter). */
void ttml_rng_fill_normal(float *out, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i++) {
        guint64 c = rng.counter + 2 * i;
        double u1 = ((double)(draw(c) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
        double u2 = (double)(draw(c + 1) >> 11) * (1.0 / 9007199254740992.0);
        out[i] = mean + std * (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * G_PI * u2));
    }
    rng.counter += 2 * n;
}
