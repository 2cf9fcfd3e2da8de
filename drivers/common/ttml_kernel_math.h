/* drivers/common/ttml_kernel_math.h - the scalar math and row reductions of
 * the f32 kernels, shared by the cpu driver (drivers/cpu) and ttsim's native
 * kernels (drivers/ttsim) so that both compute the same values bit for bit.
 * Internal to the drivers (not installed).
 *
 * The row reductions keep TTML_KM_LANES independent partial sums so that GCC
 * vectorises them without -ffast-math (the summation order is fixed: lane
 * sums, then the lanes in order, then the tail). ttml_km_expf is a
 * branch-free exp (Cody-Waite range reduction + degree-6 polynomial,
 * relative error below 2e-7; exp(x) = 0 below -87.34, saturates at exp(88)
 * above 88, NaN for NaN without an undefined float-to-int conversion) that vectorises where expf() from libm would not.
 */
#ifndef TTML_KERNEL_MATH_H
#define TTML_KERNEL_MATH_H

/* Float compares may then be if-converted: without this GCC keeps the
 * branches of the exp's clamps (they could raise FP exceptions) and no loop
 * calling it vectorises. ttml never relies on FP exception flags. Each
 * including .c file gets it for all its functions. */
#pragma GCC optimize("no-trapping-math")

#include <glib.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define TTML_KM_LANES 16

static inline float ttml_km_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float magic = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */
    /* 2^127 at most: n + 127 stays < 255. Written so that NaN clamps too (every
     * compare with NaN is false): n must never be NaN, (gint32)NaN is UB. */
    float xc = x < 88.0f ? x : 88.0f;
    xc = xc > -87.3365478515625f ? xc : -87.3365478515625f;
    float n = (xc * log2e + magic) - magic;
    float r = xc - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    gint32 e = ((gint32)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    float y = p * scale;
    y = x == x ? y : x;                 /* exp(NaN) = NaN */
    return x < -87.3365478515625f ? 0.0f : y;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits +-1, no branches. */
static inline float ttml_km_tanhf(float u)
{
    return 1.0f - 2.0f / (ttml_km_expf(2.0f * u) + 1.0f);
}

static inline float ttml_km_sigmoidf(float x)
{
    return 1.0f / (1.0f + ttml_km_expf(-x));
}

static inline float ttml_km_row_max(const float *x, size_t n)
{
    float m[TTML_KM_LANES];
    for (int l = 0; l < TTML_KM_LANES; l++) m[l] = -INFINITY;
    size_t j = 0;
    for (; j + TTML_KM_LANES <= n; j += TTML_KM_LANES)
        for (int l = 0; l < TTML_KM_LANES; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
    float r = -INFINITY;
    for (int l = 0; l < TTML_KM_LANES; l++) r = m[l] > r ? m[l] : r;
    for (; j < n; j++) r = x[j] > r ? x[j] : r;
    return r;
}

static inline float ttml_km_row_sum(const float *x, size_t n)
{
    float s[TTML_KM_LANES] = {0};
    size_t j = 0;
    for (; j + TTML_KM_LANES <= n; j += TTML_KM_LANES)
        for (int l = 0; l < TTML_KM_LANES; l++) s[l] += x[j + l];
    float r = 0.0f;
    for (int l = 0; l < TTML_KM_LANES; l++) r += s[l];
    for (; j < n; j++) r += x[j];
    return r;
}

static inline float ttml_km_row_dot(const float *a, const float *b, size_t n)
{
    float s[TTML_KM_LANES] = {0};
    size_t j = 0;
    for (; j + TTML_KM_LANES <= n; j += TTML_KM_LANES)
        for (int l = 0; l < TTML_KM_LANES; l++) s[l] += a[j + l] * b[j + l];
    float r = 0.0f;
    for (int l = 0; l < TTML_KM_LANES; l++) r += s[l];
    for (; j < n; j++) r += a[j] * b[j];
    return r;
}

/* y[j] = exp(x[j] - shift) for j < n; returns sum(y). */
static inline float ttml_km_row_exp_sum(const float *x, float *y, size_t n, float shift)
{
    float s[TTML_KM_LANES] = {0};
    size_t j = 0;
    for (; j + TTML_KM_LANES <= n; j += TTML_KM_LANES)
        for (int l = 0; l < TTML_KM_LANES; l++) {
            float e = ttml_km_expf(x[j + l] - shift);
            y[j + l] = e;
            s[l] += e;
        }
    float r = 0.0f;
    for (int l = 0; l < TTML_KM_LANES; l++) r += s[l];
    for (; j < n; j++) {
        y[j] = ttml_km_expf(x[j] - shift);
        r += y[j];
    }
    return r;
}

/* sum_j exp(x[j] - shift) without storing (the same sum as above). */
static inline float ttml_km_row_exp_sum_only(const float *x, size_t n, float shift)
{
    float s[TTML_KM_LANES] = {0};
    size_t j = 0;
    for (; j + TTML_KM_LANES <= n; j += TTML_KM_LANES)
        for (int l = 0; l < TTML_KM_LANES; l++) s[l] += ttml_km_expf(x[j + l] - shift);
    float r = 0.0f;
    for (int l = 0; l < TTML_KM_LANES; l++) r += s[l];
    for (; j < n; j++) r += ttml_km_expf(x[j] - shift);
    return r;
}

/* ---- attention (sdpa): a Cephes exp and 8-lane reductions ---- */

/* expf for x <= 88 (Cephes polynomial, ~1 ulp), branch-free so that the
 * softmax loops vectorise. Arguments below -87 give ~1e-38 instead of 0
 * (irrelevant next to the row maximum's exp(0) = 1); NaN stays NaN. */
static inline __attribute__((always_inline)) float ttml_km_attn_expf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float shifter = 12582912.0f;                 /* 1.5 * 2^23: round to int */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { float f; guint32 u; } tu = {t}, s;
    s.u = (tu.u - 0x4B400000u + 127u) << 23;           /* 2^n */
    return p * s.f;
}

/* Reductions in 8 independent lanes (n >= 1). Always inlined, so that they
 * are compiled for the caller's target clone (AVX-512 / AVX2). */
static inline __attribute__((always_inline)) float ttml_km_row8_max(const float *x, gint64 n)
{
    float m[8];
    for (int k = 0; k < 8; k++) m[k] = x[0];
    gint64 j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) m[k] = x[j + k] > m[k] ? x[j + k] : m[k];
    float r = x[0];
    for (int k = 0; k < 8; k++) r = m[k] > r ? m[k] : r;
    for (; j < n; j++) r = x[j] > r ? x[j] : r;
    return r;
}

static inline __attribute__((always_inline)) float ttml_km_row8_sum(const float *x, gint64 n)
{
    float m[8] = {0};
    gint64 j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) m[k] += x[j + k];
    float r = 0.0f;
    for (int k = 0; k < 8; k++) r += m[k];
    for (; j < n; j++) r += x[j];
    return r;
}

static inline __attribute__((always_inline)) float ttml_km_row8_dot(const float *x, const float *y, gint64 n)
{
    float m[8] = {0};
    gint64 j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) m[k] += x[j + k] * y[j + k];
    float r = 0.0f;
    for (int k = 0; k < 8; k++) r += m[k];
    for (; j < n; j++) r += x[j] * y[j];
    return r;
}

/* ---- rope (ttml/kernels_attn.h): the angle tables ----
 * cosv / sinv [n_pos][D/2]: cos / sin of (pos0 + p) * theta^(-2i/D),
 * computed in double and rounded to float. */
static inline void ttml_km_rope_fill(float *cosv, float *sinv, gint64 D, float theta, gint64 pos0, gint64 n_pos)
{
    const gint64 half = D / 2;
    double *inv = g_new(double, half > 0 ? half : 1);
    for (gint64 i = 0; i < half; i++) inv[i] = pow((double)theta, -2.0 * (double)i / (double)D);
    for (gint64 p = 0; p < n_pos; p++)
        for (gint64 i = 0; i < half; i++) {
            const double a = (double)(pos0 + p) * inv[i];
            cosv[p * half + i] = (float)cos(a);
            sinv[p * half + i] = (float)sin(a);
        }
    g_free(inv);
}

/* ---- dropout's mask hash (ttml/kernels_nn.h): the splitmix64 finaliser ---- */
static inline guint64 ttml_km_mix64(guint64 x)
{
    x ^= x >> 30;
    x *= G_GUINT64_CONSTANT(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= G_GUINT64_CONSTANT(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

#endif
