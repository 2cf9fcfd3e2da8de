/* tests/test_ttsim_fuzz.c - ttsim's native data-movement kernels against the
 * cpu driver on random shapes (odd sizes, several tiles, partial tiles).
 *
 * The device is opened with fallback=off, so every launch runs natively on
 * the tile images. For each launch the cpu kernel runs on the values ttsim
 * stores (read back from the device), and its result is stored on ttsim
 * again (rounded to the storage format the same way): these kernels only
 * move values, so the two must agree bit for bit in every storage format,
 * including strided_copy's partially written Bfp8_b / Bfp4_b blocks.
 */
#include "test_util.h"

static ttml_device *cpu, *sim;
static guint64 rs;
static guint32 rnd(guint32 n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (guint32)(rs % n);
}

static size_t numel(int nd, const int64_t *s)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)s[i];
    return n;
}

static ttml_tensor *rand_on(ttml_device *d, int nd, const int64_t *s)
{
    size_t n = numel(nd, s);
    float *x = g_new(float, n + 1);
    for (size_t i = 0; i < n; i++)
        x[i] = ((float)rnd(2000000) / 1000000.0f - 1.0f) * (rnd(4) == 0 ? 100.0f : 1.0f);
    GError *e = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(d, nd, s, x, &e);
    TTML_ASSERT_NO_ERROR(e);
    g_free(x);
    return t;
}

static float *readf(ttml_tensor *t)
{
    float *x = g_new(float, t->numel + 1);
    GError *e = NULL;
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, x, &e));
    TTML_ASSERT_NO_ERROR(e);
    return x;
}

static ttml_tensor *copy_to(ttml_device *d, ttml_tensor *t)
{
    GError *e = NULL;
    ttml_tensor *r;
    if (t->dtype == TTML_DTYPE_U32) {
        guint32 *v = g_new(guint32, t->numel + 1);
        CU_ASSERT_TRUE(ttml_tensor_read(t, v, &e));
        r = ttml_tensor_from_data(d, t->ndim, t->shape, TTML_DTYPE_U32, v, &e);
        g_free(v);
    } else {
        float *x = readf(t);
        r = ttml_tensor_from_floats(d, t->ndim, t->shape, x, &e);
        g_free(x);
    }
    TTML_ASSERT_NO_ERROR(e);
    return r;
}

/* Run kernel k natively on sim (out prefilled: strided_copy keeps what it
 * does not write) and on cpu with the stored values; compare bit for bit. */
static void check(const char *what, const char *k, ttml_tensor **in, int n_in, ttml_tensor *out, const void *p,
                  size_t ps)
{
    GError *e = NULL;
    ttml_tensor *cin[4], *cout = copy_to(cpu, out);
    for (int i = 0; i < n_in; i++) cin[i] = copy_to(cpu, in[i]);
    CU_ASSERT_TRUE(ttml_launch_tensors(k, in, n_in, &out, 1, p, ps, &e));
    TTML_ASSERT_NO_ERROR(e);
    CU_ASSERT_TRUE(ttml_launch_tensors(k, cin, n_in, &cout, 1, p, ps, &e));
    TTML_ASSERT_NO_ERROR(e);
    ttml_tensor *ref = copy_to(sim, cout);
    float *a = readf(out), *b = readf(ref);
    for (size_t i = 0; i < out->numel; i++)
        if (memcmp(&a[i], &b[i], 4) != 0) {
            fprintf(stderr, "\n%s: element %zu is %g on ttsim, %g on cpu\n", what, i, a[i], b[i]);
            CU_FAIL("native kernel differs from cpu");
            break;
        }
    g_free(a);
    g_free(b);
    ttml_tensor_unref(ref);
    ttml_tensor_unref(cout);
    for (int i = 0; i < n_in; i++) ttml_tensor_unref(cin[i]);
}

static ttml_tensor *ids_on(int nd, const int64_t *s, guint32 v_range)
{
    size_t n = numel(nd, s);
    guint32 *v = g_new(guint32, n + 1);
    for (size_t i = 0; i < n; i++) v[i] = rnd(v_range);
    GError *e = NULL;
    ttml_tensor *t = ttml_tensor_from_data(sim, nd, s, TTML_DTYPE_U32, v, &e);
    TTML_ASSERT_NO_ERROR(e);
    g_free(v);
    return t;
}

static void fuzz_on(const char *spec, guint64 seed, int iters)
{
    GError *e = NULL;
    rs = seed;
    cpu = ttml_device_open("cpu", &e);
    sim = ttml_device_open(spec, &e);
    TTML_ASSERT_NO_ERROR(e);
    char w[256];
    for (int it = 0; it < iters; it++) {
        int big = rnd(5) == 0;
        { /* embedding forward and backward, repeated ids */
            int64_t V = 1 + rnd(big ? 300 : 70), E = 1 + rnd(big ? 200 : 70), B = 1 + rnd(3), S = 1 + rnd(big ? 200 : 70);
            int64_t is[4] = {B, 1, 1, S}, os[4] = {B, 1, S, E}, ws[2] = {V, E};
            ttml_tensor *ids = ids_on(4, is, (guint32)(rnd(2) ? V : 1 + rnd((guint32)V)));
            ttml_tensor *wt = rand_on(sim, 2, ws), *out = rand_on(sim, 4, os);
            ttml_tensor *in[2] = {ids, wt};
            g_snprintf(w, sizeof w, "%s embedding_fwd V%ld E%ld B%ld S%ld", spec, (long)V, (long)E, (long)B, (long)S);
            check(w, "embedding_fwd", in, 2, out, NULL, 0);
            ttml_tensor *dy = rand_on(sim, 4, os), *dw = rand_on(sim, 2, ws);
            ttml_tensor *in2[2] = {ids, dy};
            g_snprintf(w, sizeof w, "%s embedding_bwd V%ld E%ld B%ld S%ld", spec, (long)V, (long)E, (long)B, (long)S);
            check(w, "embedding_bwd", in2, 2, dw, NULL, 0);
            ttml_tensor *list[] = {ids, wt, out, dy, dw};
            for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
        }
        { /* transpose of the last two dims */
            int64_t B = 1 + rnd(3), M = 1 + rnd(big ? 300 : 70), N = 1 + rnd(big ? 300 : 70);
            int64_t xs[3] = {B, M, N}, ys[3] = {B, N, M};
            ttml_tensor *x = rand_on(sim, 3, xs), *y = rand_on(sim, 3, ys);
            g_snprintf(w, sizeof w, "%s transpose %ld %ld %ld", spec, (long)B, (long)M, (long)N);
            check(w, "transpose_last2", &x, 1, y, NULL, 0);
            ttml_tensor_unref(x);
            ttml_tensor_unref(y);
        }
        { /* heads split / merge */
            int64_t B = 1 + rnd(3), H = 1 + rnd(6), S = 1 + rnd(big ? 150 : 50), D = 1 + rnd(big ? 70 : 40);
            int64_t fs[4] = {B, 1, S, H * D}, hs[4] = {B, H, S, D};
            ttml_tensor *f = rand_on(sim, 4, fs), *h = rand_on(sim, 4, hs);
            g_snprintf(w, sizeof w, "%s heads_split B%ld H%ld S%ld D%ld", spec, (long)B, (long)H, (long)S, (long)D);
            check(w, "heads_split", &f, 1, h, NULL, 0);
            g_snprintf(w, sizeof w, "%s heads_merge B%ld H%ld S%ld D%ld", spec, (long)B, (long)H, (long)S, (long)D);
            check(w, "heads_merge", &h, 1, f, NULL, 0);
            ttml_tensor_unref(f);
            ttml_tensor_unref(h);
        }
        for (int rep = 0; rep < 3; rep++) { /* strided copies that fit, 3-D or flat source */
            int64_t xs[3] = {1 + rnd(3), 1 + rnd(big ? 200 : 60), 1 + rnd(big ? 200 : 60)};
            int64_t ys[3] = {1 + rnd(3), 1 + rnd(big ? 200 : 60), 1 + rnd(big ? 200 : 60)};
            int64_t nx = (int64_t)numel(3, xs), ny = (int64_t)numel(3, ys);
            ttml_strided_copy_params p;
            for (int tries = 0;; tries++) {
                p.len = 1 + rnd((guint32)MIN(nx, ny));
                if (rnd(3) == 0) p.len = MIN(MIN(nx, ny), (int64_t)(16 * (1 + rnd(8))));
                p.outer = 1 + rnd(8);
                p.out_stride = p.len + (rnd(2) ? 0 : rnd(40));
                p.in_stride = rnd(2) ? p.len : rnd((guint32)(p.len + 40));
                p.out_offset = rnd(40);
                p.in_offset = rnd(40);
                int64_t oe = (p.outer - 1) * p.out_stride + p.out_offset + p.len;
                int64_t ie = (p.outer - 1) * p.in_stride + p.in_offset + p.len;
                if (oe <= ny && ie <= nx) break;
                if (tries > 1000) {
                    p = (ttml_strided_copy_params){1, 1, 1, 0, 1, 0};
                    break;
                }
            }
            int64_t xs2[2] = {1, nx};
            ttml_tensor *x = rnd(2) ? rand_on(sim, 3, xs) : rand_on(sim, 2, xs2);
            ttml_tensor *y = rand_on(sim, 3, ys);
            g_snprintf(w, sizeof w, "%s strided_copy x %ld y [%ld,%ld,%ld] outer %ld len %ld in %ld/%ld out %ld/%ld",
                       spec, (long)nx, (long)ys[0], (long)ys[1], (long)ys[2], (long)p.outer, (long)p.len,
                       (long)p.in_stride, (long)p.in_offset, (long)p.out_stride, (long)p.out_offset);
            check(w, "strided_copy", &x, 1, y, &p, sizeof p);
            ttml_tensor_unref(x);
            ttml_tensor_unref(y);
        }
        { /* narrow / concat along the last dim of [B, S, 3E] */
            int64_t B = 1 + rnd(4), S = 1 + rnd(100), E = 16 * (1 + rnd(6)), K = 3;
            int64_t xs[3] = {B, S, K * E}, ys[3] = {B, S, E};
            ttml_tensor *x = rand_on(sim, 3, xs), *y = rand_on(sim, 3, ys);
            int64_t k = rnd(3);
            ttml_strided_copy_params p = {B * S, E, K * E, k * E, E, 0};
            g_snprintf(w, sizeof w, "%s narrow [%ld,%ld,%ld] k%ld", spec, (long)B, (long)S, (long)(K * E), (long)k);
            check(w, "strided_copy", &x, 1, y, &p, sizeof p);
            ttml_strided_copy_params q = {B * S, E, E, 0, K * E, k * E};
            g_snprintf(w, sizeof w, "%s concat [%ld,%ld,%ld] k%ld", spec, (long)B, (long)S, (long)(K * E), (long)k);
            check(w, "strided_copy", &y, 1, x, &q, sizeof q);
            ttml_tensor_unref(x);
            ttml_tensor_unref(y);
        }
    }
    /* errors are found before anything is written: an id out of range, a
     * strided range outside the output */
    int64_t is[1] = {4}, ws[2] = {5, 8}, os[2] = {4, 8};
    const guint32 v[4] = {0, 1, 7, 2};
    ttml_tensor *ids = ttml_tensor_from_data(sim, 1, is, TTML_DTYPE_U32, v, &e);
    ttml_tensor *wt = rand_on(sim, 2, ws), *out = rand_on(sim, 2, os);
    float *before = readf(out);
    ttml_tensor *in[2] = {ids, wt};
    CU_ASSERT_FALSE(ttml_launch_tensors("embedding_fwd", in, 2, &out, 1, NULL, 0, &e));
    TTML_ASSERT_ERROR(e, TTML_ERROR_INVALID_ARG, "out of range");
    ttml_strided_copy_params p = {2, 3, 3, 1, 2, 30};
    CU_ASSERT_FALSE(ttml_launch_tensors("strided_copy", &wt, 1, &out, 1, &p, sizeof p, &e));
    TTML_ASSERT_ERROR(e, TTML_ERROR_INVALID_ARG, NULL);
    float *after = readf(out);
    CU_ASSERT_EQUAL(memcmp(before, after, out->numel * sizeof(float)), 0);
    g_free(before);
    g_free(after);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(wt);
    ttml_tensor_unref(out);
}

static void test_fuzz_bf16(void) { fuzz_on("ttsim:wormhole_b0,fallback=off,report=off", 88172645463325252ull, 30); }
static void test_fuzz_fp32(void) { fuzz_on("ttsim:blackhole,storage=fp32,fallback=off,report=off", 7, 30); }
static void test_fuzz_bfp8(void) { fuzz_on("ttsim:n300,storage=bfp8_b,fallback=off,threads=3,report=off", 12345, 30); }
static void test_fuzz_bfp4(void) { fuzz_on("ttsim:wormhole_b0,storage=bfp4_b,fallback=off,threads=2,report=off", 4242, 30); }

int main(void)
{
    CU_TestInfo tests[] = {
        {"data movement, bf16: native = cpu, bit for bit", test_fuzz_bf16},
        {"data movement, fp32: native = cpu, bit for bit", test_fuzz_fp32},
        {"data movement, bfp8_b, 3 host threads: native = cpu, bit for bit", test_fuzz_bfp8},
        {"data movement, bfp4_b, 2 host threads: native = cpu, bit for bit", test_fuzz_bfp4},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("ttsim_fuzz", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
