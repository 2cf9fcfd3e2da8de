/* tests/test_cpu_kernels.c - every standard kernel of the cpu driver against
 * a naive reference loop in double (or hand-computed literals), launched
 * through ttml_kernel_launch on tensors of the default cpu device.
 */
#include "test_util.h"
#include "../drivers/common/ttml_kernel_list.h"

#include <dlfcn.h>
#include <math.h>
#include <string.h>

static gboolean coretype_preset; /* TTML_BLAS_CORETYPE chose the core before ttml_init */

/* ---- helpers ---- */

static guint64 rng_state = 0x2545F4914F6CDD1DULL;

static float urand(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(rng_state >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

static size_t numel_of(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    return n;
}

/* A tensor with its host values. */
typedef struct {
    ttml_tensor *t;
    float *h;
    size_t n;
} ht;

static ht ht_from(int ndim, const int64_t *shape, const float *data)
{
    ht x = {NULL, NULL, numel_of(ndim, shape)};
    GError *err = NULL;
    x.h = g_new(float, x.n ? x.n : 1);
    if (x.n) memcpy(x.h, data, x.n * sizeof(float));
    x.t = ttml_tensor_from_floats(ttml_context_get_device(), ndim, shape, x.h, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x.t);
    return x;
}

static ht ht_rand(int ndim, const int64_t *shape, float lo, float hi)
{
    size_t n = numel_of(ndim, shape);
    float *d = g_new(float, n ? n : 1);
    for (size_t i = 0; i < n; i++) d[i] = urand(lo, hi);
    ht x = ht_from(ndim, shape, d);
    g_free(d);
    return x;
}

/* Random values with |v| in [0.5, 2] (safe divisors). */
static ht ht_rand_nonzero(int ndim, const int64_t *shape)
{
    size_t n = numel_of(ndim, shape);
    float *d = g_new(float, n ? n : 1);
    for (size_t i = 0; i < n; i++) d[i] = urand(0.5f, 2.0f) * (urand(0.0f, 1.0f) < 0.5f ? -1.0f : 1.0f);
    ht x = ht_from(ndim, shape, d);
    g_free(d);
    return x;
}

static void ht_free(ht *x)
{
    ttml_tensor_unref(x->t);
    g_free(x->h);
    x->t = NULL;
    x->h = NULL;
}

/* Current device values of x (g_free). */
static float *ht_read(const ht *x)
{
    GError *err = NULL;
    float *v = g_new(float, x->n ? x->n : 1);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->t, v, &err));
    TTML_ASSERT_NO_ERROR(err);
    return v;
}

static gboolean launch(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *const *out,
                       int n_out, const void *params, size_t params_size, GError **err)
{
    ttml_launch l;
    memset(&l, 0, sizeof l);
    l.kernel = kernel;
    l.n_in = n_in;
    l.n_out = n_out;
    for (int i = 0; i < n_in; i++) l.in[i] = ttml_tensor_view(in[i]);
    for (int i = 0; i < n_out; i++) l.out[i] = ttml_tensor_view(out[i]);
    l.params = params;
    l.params_size = params_size;
    return ttml_kernel_launch(ttml_context_get_device(), &l, err);
}

#define RUN_SIZED(kernel, ins, n_in, outs, n_out, params, size)                               \
    do {                                                                                      \
        GError *run_err_ = NULL;                                                              \
        gboolean run_ok_ = launch(kernel, ins, n_in, outs, n_out, params, size, &run_err_);   \
        TTML_ASSERT_NO_ERROR(run_err_);                                                       \
        CU_ASSERT_TRUE_FATAL(run_ok_);                                                        \
    } while (0)
/* Launch with a params struct pointer / without params; fail the test on error. */
#define RUN(kernel, ins, n_in, outs, n_out, params) \
    RUN_SIZED(kernel, ins, n_in, outs, n_out, params, sizeof *(params))
#define RUN0(kernel, ins, n_in, outs, n_out) RUN_SIZED(kernel, ins, n_in, outs, n_out, NULL, 0)

/* Number of elements with |got - ref| > atol + rtol*|ref|; prints the first. */
static int mismatches(const char *what, const float *got, const double *ref, size_t n, double atol,
                      double rtol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= atol + rtol * fabs(ref[i]))) {
            if (!bad)
                fprintf(stderr, "\n%s: element %zu: got %.9g, want %.9g (n=%zu)\n", what, i,
                        (double)got[i], ref[i], n);
            bad++;
        }
    }
    return bad;
}

/* Compare the device values of x with ref. */
static void expect_close(const char *what, const ht *x, const double *ref, double atol, double rtol)
{
    float *got = ht_read(x);
    CU_ASSERT_EQUAL(mismatches(what, got, ref, x->n, atol, rtol), 0);
    g_free(got);
}

static void pad4(int ndim, const int64_t *shape, int64_t s4[4])
{
    int pad = 4 - ndim;
    for (int d = 0; d < 4; d++) s4[d] = d < pad ? 1 : shape[d - pad];
}

/* Coordinates of flat index i in padded shape s4. */
static void unravel(size_t i, const int64_t s4[4], int64_t c[4])
{
    for (int d = 3; d >= 0; d--) {
        c[d] = (int64_t)(i % (size_t)s4[d]);
        i /= (size_t)s4[d];
    }
}

/* Flat index into a tensor of padded shape s4 broadcast at coordinates c. */
static size_t bidx(const int64_t c[4], const int64_t s4[4])
{
    size_t i = 0;
    for (int d = 0; d < 4; d++) i = i * (size_t)s4[d] + (size_t)(s4[d] == 1 ? 0 : c[d]);
    return i;
}

/* ---- fill / copy ---- */

static void test_fill(void)
{
    GError *err = NULL;
    const int64_t shape[2] = {3, 5};
    ht x = ht_rand(2, shape, -1, 1);
    ttml_fill_params p = {2.5f};
    RUN("fill", NULL, 0, &x.t, 1, &p);
    double ref[15];
    for (int i = 0; i < 15; i++) ref[i] = 2.5;
    expect_close("fill f32", &x, ref, 0, 0);
    ht_free(&x);

    ttml_tensor *h = ttml_tensor_empty(ttml_context_get_device(), 2, shape, TTML_DTYPE_BF16, &err);
    TTML_ASSERT_NO_ERROR(err);
    p.value = -1.5f;
    RUN("fill", NULL, 0, &h, 1, &p);
    guint16 hb[15];
    CU_ASSERT_TRUE(ttml_tensor_read(h, hb, &err));
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < 15; i++) CU_ASSERT_EQUAL(hb[i], 0xBFC0); /* -1.5 in bf16 */
    ttml_tensor_unref(h);

    ttml_tensor *u = ttml_tensor_empty(ttml_context_get_device(), 2, shape, TTML_DTYPE_U32, &err);
    TTML_ASSERT_NO_ERROR(err);
    p.value = 7.0f;
    RUN("fill", NULL, 0, &u, 1, &p);
    guint32 ub[15];
    CU_ASSERT_TRUE(ttml_tensor_read(u, ub, &err));
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < 15; i++) CU_ASSERT_EQUAL(ub[i], 7u);
    ttml_tensor_unref(u);
}

static void test_copy(void)
{
    GError *err = NULL;
    const int64_t shape[1] = {5};
    /* 1 + 2^-8 is a tie between bf16 1.0 and 1.0078125: rounds to even (1.0) */
    const float vals[5] = {1.0f, 1.5f, -2.25f, 1.00390625f, 3.9f};
    ht f = ht_from(1, shape, vals);
    ttml_tensor *h = ttml_tensor_empty(ttml_context_get_device(), 1, shape, TTML_DTYPE_BF16, &err);
    TTML_ASSERT_NO_ERROR(err);
    RUN0("copy", &f.t, 1, &h, 1);
    guint16 hb[5];
    CU_ASSERT_TRUE(ttml_tensor_read(h, hb, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(hb[0], 0x3F80);
    CU_ASSERT_EQUAL(hb[1], 0x3FC0);
    CU_ASSERT_EQUAL(hb[2], 0xC010);
    CU_ASSERT_EQUAL(hb[3], 0x3F80);
    CU_ASSERT_EQUAL(hb[4], 0x407A); /* 3.9 = 0x4079999A: low half 0x999A > 0x8000 rounds up */

    /* bf16 -> f32 */
    ht back = ht_rand(1, shape, -1, 1);
    RUN0("copy", &h, 1, &back.t, 1);
    double ref[5] = {1.0, 1.5, -2.25, 1.0, 3.90625};
    expect_close("copy bf16->f32", &back, ref, 0, 0);

    /* f32 -> u32 truncates toward zero; u32 -> f32 */
    ttml_tensor *u = ttml_tensor_empty(ttml_context_get_device(), 1, shape, TTML_DTYPE_U32, &err);
    TTML_ASSERT_NO_ERROR(err);
    RUN0("copy", &f.t, 1, &u, 1);
    guint32 ub[5];
    CU_ASSERT_TRUE(ttml_tensor_read(u, ub, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ub[0], 1u);
    CU_ASSERT_EQUAL(ub[1], 1u);
    CU_ASSERT_EQUAL(ub[2], 0u); /* negatives clamp to 0 */
    CU_ASSERT_EQUAL(ub[4], 3u);
    const guint32 ids[5] = {0, 1, 42, 65536, 16777216};
    ttml_tensor *u2 = ttml_tensor_from_data(ttml_context_get_device(), 1, shape, TTML_DTYPE_U32, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    RUN0("copy", &u2, 1, &back.t, 1);
    double ref2[5] = {0, 1, 42, 65536, 16777216};
    expect_close("copy u32->f32", &back, ref2, 0, 0);

    /* f32 -> f32 */
    ht g = ht_rand(1, shape, -1, 1);
    RUN0("copy", &f.t, 1, &g.t, 1);
    double ref3[5];
    for (int i = 0; i < 5; i++) ref3[i] = vals[i];
    expect_close("copy f32", &g, ref3, 0, 0);

    ttml_tensor_unref(u);
    ttml_tensor_unref(u2);
    ttml_tensor_unref(h);
    ht_free(&f);
    ht_free(&back);
    ht_free(&g);
}

/* ---- affine / axpby / relu ---- */

static void test_affine_axpby(void)
{
    const int64_t shape[3] = {2, 7, 13};
    ht x = ht_rand(3, shape, -2, 2), y = ht_rand(3, shape, -2, 2);
    double *ref = g_new(double, x.n);

    ttml_affine_params ap = {-1.5f, 0.25f};
    RUN("affine", &x.t, 1, &y.t, 1, &ap);
    for (size_t i = 0; i < x.n; i++) ref[i] = x.h[i] * -1.5 + 0.25;
    expect_close("affine", &y, ref, 1e-6, 1e-6);

    /* in place (out aliases in) */
    RUN("affine", &x.t, 1, &x.t, 1, &ap);
    expect_close("affine in place", &x, ref, 1e-6, 1e-6);

    /* axpby with y's current values (ref) */
    ht z = ht_rand(3, shape, -2, 2);
    ttml_axpby_params bp = {0.5f, -2.0f};
    RUN("axpby", &z.t, 1, &y.t, 1, &bp);
    double *ref2 = g_new(double, x.n);
    for (size_t i = 0; i < x.n; i++) ref2[i] = 0.5 * z.h[i] - 2.0 * ref[i];
    expect_close("axpby", &y, ref2, 1e-5, 1e-6);
    bp.alpha = 3.0f;
    bp.beta = 0.0f;
    RUN("axpby", &z.t, 1, &y.t, 1, &bp);
    for (size_t i = 0; i < x.n; i++) ref2[i] = 3.0 * z.h[i];
    expect_close("axpby beta 0", &y, ref2, 1e-6, 1e-6);
    bp.alpha = -1.0f;
    bp.beta = 1.0f;
    RUN("axpby", &z.t, 1, &y.t, 1, &bp);
    for (size_t i = 0; i < x.n; i++) ref2[i] = 3.0 * z.h[i] - z.h[i];
    expect_close("axpby beta 1", &y, ref2, 1e-6, 1e-6);

    g_free(ref);
    g_free(ref2);
    ht_free(&x);
    ht_free(&y);
    ht_free(&z);
}

static void test_relu(void)
{
    const int64_t shape[2] = {9, 11};
    ht x = ht_rand(2, shape, -1, 1), dy = ht_rand(2, shape, -1, 1), y = ht_rand(2, shape, -1, 1);
    double *ref = g_new(double, x.n);
    RUN0("relu", &x.t, 1, &y.t, 1);
    for (size_t i = 0; i < x.n; i++) ref[i] = x.h[i] > 0 ? x.h[i] : 0.0;
    expect_close("relu", &y, ref, 0, 0);
    ttml_tensor *in[2] = {x.t, dy.t};
    RUN0("relu_bwd", in, 2, &y.t, 1);
    for (size_t i = 0; i < x.n; i++) ref[i] = x.h[i] > 0 ? dy.h[i] : 0.0;
    expect_close("relu_bwd", &y, ref, 0, 0);
    g_free(ref);
    ht_free(&x);
    ht_free(&dy);
    ht_free(&y);
}

/* ---- binary ---- */

static double ref_op(ttml_binary_op op, double a, double b)
{
    switch (op) {
    case TTML_BINARY_ADD: return a + b;
    case TTML_BINARY_SUB: return a - b;
    case TTML_BINARY_MUL: return a * b;
    default: return a / b;
    }
}

static void binary_case(int na, const int64_t *sa, int nb, const int64_t *sb, int no, const int64_t *so)
{
    static const char *names[4] = {"add", "sub", "mul", "div"};
    ht a = ht_rand(na, sa, -2, 2), b = ht_rand_nonzero(nb, sb), o = ht_rand(no, so, -1, 1);
    int64_t a4[4], b4[4], o4[4], c[4];
    pad4(na, sa, a4);
    pad4(nb, sb, b4);
    pad4(no, so, o4);
    double *ref = g_new(double, o.n);
    for (int op = TTML_BINARY_ADD; op <= TTML_BINARY_DIV; op++) {
        ttml_binary_params p = {(ttml_binary_op)op};
        ttml_tensor *in[2] = {a.t, b.t};
        RUN("binary", in, 2, &o.t, 1, &p);
        for (size_t i = 0; i < o.n; i++) {
            unravel(i, o4, c);
            ref[i] = ref_op((ttml_binary_op)op, a.h[bidx(c, a4)], b.h[bidx(c, b4)]);
        }
        char what[128], s1[64], s2[64];
        g_snprintf(what, sizeof what, "binary %s %s %s", ttml_shape_str(na, sa, s1, sizeof s1),
                   names[op], ttml_shape_str(nb, sb, s2, sizeof s2));
        expect_close(what, &o, ref, 1e-6, 1e-6);
    }
    g_free(ref);
    ht_free(&a);
    ht_free(&b);
    ht_free(&o);
}

static void test_binary(void)
{
    const int64_t s234[3] = {2, 3, 4}, s4[1] = {4}, s1[1] = {1}, s31[2] = {3, 1};
    const int64_t s214[3] = {2, 1, 4}, s131[3] = {1, 3, 1}, big[2] = {7, 65}, bigrow[1] = {65};
    binary_case(3, s234, 3, s234, 3, s234);   /* same shape */
    binary_case(2, big, 2, big, 2, big);      /* same shape, vector tail */
    binary_case(3, s234, 1, s4, 3, s234);     /* bias row */
    binary_case(2, big, 1, bigrow, 2, big);   /* bias row, longer */
    binary_case(3, s234, 1, s1, 3, s234);     /* scalar b */
    binary_case(1, s1, 3, s234, 3, s234);     /* scalar a */
    binary_case(1, s4, 3, s234, 3, s234);     /* a periodic, b full */
    binary_case(3, s234, 2, s31, 3, s234);    /* middle-dim broadcast */
    binary_case(2, s31, 3, s234, 3, s234);    /* middle-dim broadcast of a */
    binary_case(3, s214, 3, s131, 3, s234);   /* both broadcast */
    binary_case(1, s4, 1, s1, 3, s234);       /* a periodic, scalar b (bias fill) */
    binary_case(1, bigrow, 1, s1, 2, big);    /* a periodic, scalar b, longer */
}

/* ---- reduce_to / div_bwd_b ---- */

static void reduce_case(int nx, const int64_t *sx, int no, const int64_t *so, float scale, float beta)
{
    ht x = ht_rand(nx, sx, -1, 1), o = ht_rand(no, so, -1, 1);
    int64_t x4[4], o4[4], c[4];
    pad4(nx, sx, x4);
    pad4(no, so, o4);
    double *ref = g_new0(double, o.n);
    for (size_t i = 0; i < x.n; i++) {
        unravel(i, x4, c);
        ref[bidx(c, o4)] += x.h[i];
    }
    for (size_t j = 0; j < o.n; j++) ref[j] = scale * ref[j] + beta * o.h[j];
    ttml_reduce_params p = {scale, beta};
    RUN("reduce_to", &x.t, 1, &o.t, 1, &p);
    char what[128], s1[64], s2[64];
    g_snprintf(what, sizeof what, "reduce_to %s -> %s", ttml_shape_str(nx, sx, s1, sizeof s1),
               ttml_shape_str(no, so, s2, sizeof s2));
    expect_close(what, &o, ref, 1e-5, 1e-5);
    g_free(ref);
    ht_free(&x);
    ht_free(&o);
}

static void test_reduce_to(void)
{
    const int64_t s234[3] = {2, 3, 4}, s4[1] = {4}, s1[1] = {1}, s31[2] = {3, 1}, s214[3] = {2, 1, 4};
    const int64_t big[3] = {5, 17, 33}, big_last[1] = {33};
    reduce_case(3, s234, 1, s4, 1.0f, 0.0f);
    reduce_case(3, s234, 1, s4, 0.5f, 2.0f);
    reduce_case(3, big, 1, big_last, 1.0f, 1.0f);
    reduce_case(3, s234, 1, s1, 1.0f, 0.0f);
    reduce_case(3, big, 1, s1, 1.0f / 2805.0f, 0.0f); /* mean */
    reduce_case(3, s234, 2, s31, 1.0f, 0.0f);
    reduce_case(3, s234, 2, s31, -2.0f, 0.5f);
    reduce_case(3, s234, 3, s214, 1.0f, 0.0f);
    reduce_case(3, s234, 3, s234, 3.0f, 0.0f); /* nothing to reduce */
    /* large enough to be cut across threads: rows onto columns (narrow and
     * more than 256 columns per part), and the scale-only pass */
    const int64_t tall[2] = {300, 700}, tall_last[1] = {700}, wide[2] = {40, 1500}, wide_last[1] = {1500};
    const int64_t same[2] = {300, 120};
    reduce_case(2, tall, 1, tall_last, 1.0f, 0.0f);
    reduce_case(2, tall, 1, tall_last, 0.5f, 1.0f);
    reduce_case(2, wide, 1, wide_last, 1.0f, 1.0f);
    reduce_case(2, same, 2, same, -1.5f, 0.5f);
}

static void test_div_bwd_b(void)
{
    const int64_t s234[3] = {2, 3, 4}, s31[2] = {3, 1}, s4[1] = {4};
    const int64_t *bshapes[3] = {s31, s4, s234};
    const int bnd[3] = {2, 1, 3};
    for (int k = 0; k < 3; k++) {
        ht dy = ht_rand(3, s234, -1, 1), a = ht_rand(3, s234, -1, 1);
        ht b = ht_rand_nonzero(bnd[k], bshapes[k]), o = ht_rand(bnd[k], bshapes[k], -1, 1);
        int64_t x4[4], b4[4], c[4];
        pad4(3, s234, x4);
        pad4(bnd[k], bshapes[k], b4);
        double *ref = g_new0(double, o.n);
        for (size_t i = 0; i < dy.n; i++) {
            unravel(i, x4, c);
            double bv = b.h[bidx(c, b4)];
            ref[bidx(c, b4)] += -(double)dy.h[i] * a.h[i] / (bv * bv);
        }
        ttml_tensor *in[3] = {dy.t, a.t, b.t};
        RUN0("div_bwd_b", in, 3, &o.t, 1);
        expect_close("div_bwd_b", &o, ref, 1e-5, 1e-5);
        g_free(ref);
        ht_free(&dy);
        ht_free(&a);
        ht_free(&b);
        ht_free(&o);
    }
}

/* ---- matmul ---- */

static void matmul_case(int na, const int64_t *sa, int nb, const int64_t *sb, int no, const int64_t *so,
                        int ta, int tb, float alpha, float beta)
{
    ht a = ht_rand(na, sa, -1, 1), b = ht_rand(nb, sb, -1, 1), o = ht_rand(no, so, -1, 1);
    const int64_t M = so[no - 2], N = so[no - 1];
    const int64_t K = ta ? sa[na - 2] : sa[na - 1];
    int64_t a4[4], b4[4], o4[4];
    pad4(na, sa, a4);
    pad4(nb, sb, b4);
    pad4(no, so, o4);
    double *ref = g_new(double, o.n);
    for (int64_t b0 = 0; b0 < o4[0]; b0++)
        for (int64_t b1 = 0; b1 < o4[1]; b1++) {
            const int64_t ia = (a4[0] == 1 ? 0 : b0) * a4[1] + (a4[1] == 1 ? 0 : b1);
            const int64_t ib = (b4[0] == 1 ? 0 : b0) * b4[1] + (b4[1] == 1 ? 0 : b1);
            const int64_t ic = b0 * o4[1] + b1;
            const float *A = a.h + ia * M * K, *B = b.h + ib * K * N;
            const float *C0 = o.h + ic * M * N;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) {
                        double av = ta ? A[k * M + m] : A[m * K + k];
                        double bv = tb ? B[n * K + k] : B[k * N + n];
                        s += av * bv;
                    }
                    ref[ic * M * N + m * N + n] = alpha * s + beta * C0[m * N + n];
                }
        }
    ttml_matmul_params p = {ta, tb, alpha, beta};
    ttml_tensor *in[2] = {a.t, b.t};
    RUN("matmul", in, 2, &o.t, 1, &p);
    char what[200], s1[64], s2[64];
    g_snprintf(what, sizeof what, "matmul %s%s @ %s%s alpha %g beta %g", ttml_shape_str(na, sa, s1, sizeof s1),
               ta ? "^T" : "", ttml_shape_str(nb, sb, s2, sizeof s2), tb ? "^T" : "", alpha, beta);
    expect_close(what, &o, ref, 1e-5, 1e-5);
    g_free(ref);
    ht_free(&a);
    ht_free(&b);
    ht_free(&o);
}

/* [M, K] @ [K, N] with every transpose of a and b, alpha 1 beta 0 and then
 * alpha, beta. */
static void matmul_2d_transposes(int64_t M, int64_t N, int64_t K, float alpha, float beta)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t sa[2] = {ta ? K : M, ta ? M : K};
            const int64_t sb[2] = {tb ? N : K, tb ? K : N};
            const int64_t so[2] = {M, N};
            matmul_case(2, sa, 2, sb, 2, so, ta, tb, 1.0f, 0.0f);
            matmul_case(2, sa, 2, sb, 2, so, ta, tb, alpha, beta);
        }
}

static void test_matmul_2d(void)
{
    matmul_2d_transposes(5, 3, 7, 0.5f, 2.0f);
    /* larger, so that OpenBLAS uses its blocked kernels */
    const int64_t la[2] = {67, 129}, lb[2] = {129, 45}, lo[2] = {67, 45};
    matmul_case(2, la, 2, lb, 2, lo, 0, 0, 1.0f, 0.0f);
}

static void test_matmul_batched(void)
{
    const int64_t M = 5, K = 7, N = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t sa[4] = {2, 3, ta ? K : M, ta ? M : K};
            const int64_t so[4] = {2, 3, M, N};
            /* shared weights (batch 1; one sgemm when !trans_a) */
            const int64_t w[2] = {tb ? N : K, tb ? K : N};
            matmul_case(4, sa, 2, w, 4, so, ta, tb, 1.0f, 0.0f);
            matmul_case(4, sa, 2, w, 4, so, ta, tb, -0.5f, 1.5f);
            /* full batch */
            const int64_t sb[4] = {2, 3, tb ? N : K, tb ? K : N};
            matmul_case(4, sa, 4, sb, 4, so, ta, tb, 1.0f, 0.0f);
            matmul_case(4, sa, 4, sb, 4, so, ta, tb, 2.0f, -1.0f);
            /* b batch [1, 3]: broadcast along dim 0 only */
            const int64_t sb13[4] = {1, 3, tb ? N : K, tb ? K : N};
            matmul_case(4, sa, 4, sb13, 4, so, ta, tb, 1.0f, 0.0f);
        }
    /* a broadcast: a [3, M, K], b [2, 1, K, N] -> [2, 3, M, N] */
    const int64_t sa3[3] = {3, M, K}, sb21[4] = {2, 1, K, N}, so[4] = {2, 3, M, N};
    matmul_case(3, sa3, 4, sb21, 4, so, 0, 0, 1.0f, 0.0f);
    /* shared weights on a 3-D input: [4, M, K] @ [K, N] */
    const int64_t s3a[3] = {4, M, K}, s3w[2] = {K, N}, s3o[3] = {4, M, N};
    matmul_case(3, s3a, 2, s3w, 3, s3o, 0, 0, 1.0f, 0.0f);
}

/* Products big enough for OpenBLAS's threads, every transpose, beta 0 and 1;
 * batches of 2 and 3 products, which run as items on the driver's pool with
 * OpenBLAS single-threaded and, with more threads than products (e.g.
 * TTML_CPU_THREADS=4), are each cut into parts (more than 2^20
 * multiply-adds per part, M or N not a multiple of the 16-row cut): along M
 * (M >= N) and along N. */
static void test_matmul_split(void)
{
    const int64_t shapes[2][3] = {{131, 70, 300}, {40, 203, 290}}; /* M, N, K */
    for (int s = 0; s < 2; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        matmul_2d_transposes(M, N, K, 0.5f, 1.0f);
        for (int64_t nb = 2; nb <= 3; nb++) {
            const int64_t ba[3] = {nb, M, K}, bb[3] = {nb, K, N}, bo[3] = {nb, M, N};
            const int64_t bat[3] = {nb, K, M}, bbt[3] = {nb, N, K};
            matmul_case(3, ba, 3, bb, 3, bo, 0, 0, 1.0f, 0.0f);
            matmul_case(3, bat, 3, bbt, 3, bo, 1, 1, 0.5f, 1.0f);
        }
    }
}

/* ---- matmul, precision bf16 (oneDNN) ---- */

static double bf16_round(float x)
{
    guint32 u;
    memcpy(&u, &x, sizeof u);
    u = ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* [M, K] @ [K, N] (2-D, or shared weights under a [2, M, K] batch) in bf16
 * against (1) a double reference on the bf16-rounded operands: only fp32
 * accumulation error, so the bf16 path really ran; (2) the fp32 kernel:
 * every element within bf16's rounding bound (2^-8 * sum |a_k b_k|) and, over
 * products of at least 256 elements, within 3e-3 relative (root mean
 * square; fewer elements make the rms a noisy statistic). */
static void matmul_bf16_case(int64_t M, int64_t N, int64_t K, int ta, int tb, float beta, int batch)
{
    const int nd = batch > 1 ? 3 : 2;
    const int64_t sa[3] = {batch, ta ? K : M, ta ? M : K}, sb[2] = {tb ? N : K, tb ? K : N};
    const int64_t so[3] = {batch, M, N};
    const int64_t *pa = nd == 3 ? sa : sa + 1, *po = nd == 3 ? so : so + 1;
    ht a = ht_rand(nd, pa, -1, 1), b = ht_rand(2, sb, -1, 1), o32 = ht_rand(nd, po, -1, 1);
    ht o16 = ht_from(nd, po, o32.h);
    double *ref = g_new(double, o32.n), *bound = g_new(double, o32.n);
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                const float *A = a.h + bi * M * K;
                double acc = 0, abs_acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    const float av = ta ? A[k * M + m] : A[m * K + k];
                    const float bv = tb ? b.h[n * K + k] : b.h[k * N + n];
                    acc += bf16_round(av) * bf16_round(bv);
                    abs_acc += fabs((double)av * bv);
                }
                const size_t i = (size_t)(bi * M * N + m * N + n);
                ref[i] = acc + beta * o32.h[i];
                bound[i] = abs_acc / 256.0 + 1e-5;
            }
    ttml_matmul_params p32 = {ta, tb, 1.0f, beta, TTML_PRECISION_FP32};
    ttml_matmul_params p16 = {ta, tb, 1.0f, beta, TTML_PRECISION_BF16};
    ttml_tensor *in[2] = {a.t, b.t};
    RUN("matmul", in, 2, &o32.t, 1, &p32);
    RUN("matmul", in, 2, &o16.t, 1, &p16);
    char what[160];
    g_snprintf(what, sizeof what, "bf16 matmul M %" G_GINT64_FORMAT " N %" G_GINT64_FORMAT
               " K %" G_GINT64_FORMAT " ta %d tb %d beta %g batch %d", M, N, K, ta, tb, beta, batch);
    expect_close(what, &o16, ref, 1e-4, 1e-4);
    float *g16 = ht_read(&o16), *g32 = ht_read(&o32);
    double d2 = 0, r2 = 0;
    int over = 0;
    for (size_t i = 0; i < o32.n; i++) {
        const double d = (double)g16[i] - g32[i];
        d2 += d * d;
        r2 += (double)g32[i] * g32[i];
        over += fabs(d) > bound[i];
    }
    const double rel = sqrt(d2 / (r2 > 0 ? r2 : 1));
    if (over || (o32.n >= 256 && rel > 3e-3))
        printf("\n%s: %d element(s) over the bf16 bound, relative rms error against fp32 %.3g\n",
               what, over, rel);
    CU_ASSERT_EQUAL(over, 0);
    if (o32.n >= 256) CU_ASSERT(rel <= 3e-3);
    g_free(bound);
    g_free(g16);
    g_free(g32);
    g_free(ref);
    ht_free(&a);
    ht_free(&b);
    ht_free(&o32);
    ht_free(&o16);
}

/* out = a @ w^T in bf16 (a [2, 5, 8] folded into M: w is a cached weight)
 * against a double reference on the bf16-rounded values w holds NOW (read
 * back from the device): a stale bf16 copy of w would be far off. */
static void expect_bf16_product(const char *what, const ht *a, ht *w)
{
    const int64_t so[3] = {2, 5, 6};
    ht o = ht_rand(3, so, -1, 1);
    ttml_matmul_params p16 = {0, 1, 1.0f, 0.0f, TTML_PRECISION_BF16};
    ttml_tensor *in[2] = {a->t, w->t};
    RUN("matmul", in, 2, &o.t, 1, &p16);
    float *wv = ht_read(w);
    double ref[60];
    for (int r = 0; r < 10; r++)
        for (int n = 0; n < 6; n++) {
            double acc = 0;
            for (int k = 0; k < 8; k++) acc += bf16_round(a->h[r * 8 + k]) * bf16_round(wv[n * 8 + k]);
            ref[r * 6 + n] = acc;
        }
    expect_close(what, &o, ref, 1e-4, 1e-4);
    g_free(wv);
    ht_free(&o);
}

/* The bf16 weight cache (cpu_wcache.c) never returns a stale copy: after
 * the weight is written through each path (host write, fill, copy, an
 * optimizer step, a generic in-place kernel) the product reflects the new
 * values. (Hits within a step and one conversion per weight per step are
 * checked on a training run by test_lm_train's bf16_weight_cache.) */
static void test_bf16_weight_cache(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    const int64_t sa[3] = {2, 5, 8}, sw[2] = {6, 8};
    ht a = ht_rand(3, sa, -1, 1), w = ht_rand(2, sw, -1, 1), other = ht_rand(2, sw, -2, 2);
    expect_bf16_product("bf16 cache: first product (converts)", &a, &w);
    expect_bf16_product("bf16 cache: second product (hit)", &a, &w);

    float nv[48];
    for (int i = 0; i < 48; i++) nv[i] = urand(-3, 3);
    GError *err = NULL;
    CU_ASSERT_TRUE(ttml_tensor_write(w.t, nv, &err));
    TTML_ASSERT_NO_ERROR(err);
    expect_bf16_product("bf16 cache: after a host write", &a, &w);

    ttml_fill_params fp = {0.75f};
    RUN("fill", NULL, 0, &w.t, 1, &fp);
    expect_bf16_product("bf16 cache: after fill", &a, &w);

    RUN0("copy", &other.t, 1, &w.t, 1);
    expect_bf16_product("bf16 cache: after copy", &a, &w);

    ttml_sgd_params sp = {0.5f, 0.0f, 0.0f, 0.0f, 0, 1};
    RUN("sgd_step", &other.t, 1, &w.t, 1, &sp);   /* w -= 0.5 * other */
    expect_bf16_product("bf16 cache: after an sgd step", &a, &w);

    ttml_axpby_params ap = {1.0f, -3.0f};
    RUN("axpby", &other.t, 1, &w.t, 1, &ap);   /* w = other - 3 w */
    expect_bf16_product("bf16 cache: after axpby into it", &a, &w);
    expect_bf16_product("bf16 cache: hit after axpby", &a, &w);
    ht_free(&a);
    ht_free(&w);
    ht_free(&other);
}

/* Activations (A operands) keep their bf16 copy too (cpu_wcache.c): after
 * A is written (host write, fill, copy) a product must see the new values;
 * expect_bf16_product's reference reads a->h, kept equal to the device. */
static void test_bf16_act_cache(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    const int64_t sa[3] = {2, 5, 8}, sw[2] = {6, 8};
    ht a = ht_rand(3, sa, -1, 1), w = ht_rand(2, sw, -1, 1), other = ht_rand(3, sa, -2, 2);
    expect_bf16_product("act cache: first product (converts A)", &a, &w);
    expect_bf16_product("act cache: second product (A hit)", &a, &w);
    for (size_t i = 0; i < a.n; i++) a.h[i] = urand(-3, 3);
    GError *err = NULL;
    CU_ASSERT_TRUE(ttml_tensor_write(a.t, a.h, &err));
    TTML_ASSERT_NO_ERROR(err);
    expect_bf16_product("act cache: after a host write of A", &a, &w);
    ttml_fill_params fp = {0.75f};
    RUN("fill", NULL, 0, &a.t, 1, &fp);
    for (size_t i = 0; i < a.n; i++) a.h[i] = 0.75f;
    expect_bf16_product("act cache: after fill of A", &a, &w);
    RUN0("copy", &other.t, 1, &a.t, 1);
    memcpy(a.h, other.h, a.n * sizeof(float));
    expect_bf16_product("act cache: after copy into A", &a, &w);
    expect_bf16_product("act cache: hit after copy", &a, &w);
    ht_free(&a);
    ht_free(&w);
    ht_free(&other);
}

/* I[K, K] @ w[K, N] in bf16 reads w's bf16 copy back exactly (one product
 * of 1.0 per element, the rest exact zeros): the bit patterns of the copy
 * the product used, as floats. */
static float *bf16_copy_of(ht *w, int64_t K, int64_t N)
{
    float *eye = g_new0(float, (size_t)(K * K));
    for (int64_t k = 0; k < K; k++) eye[k * K + k] = 1.0f;
    const int64_t se[2] = {K, K}, so[2] = {K, N};
    ht e = ht_from(2, se, eye), o = ht_rand(2, so, -1, 1);
    ttml_matmul_params p16 = {0, 0, 1.0f, 0.0f, TTML_PRECISION_BF16};
    ttml_tensor *in[2] = {e.t, w->t};
    RUN("matmul", in, 2, &o.t, 1, &p16);
    float *got = ht_read(&o);
    ht_free(&e);
    ht_free(&o);
    g_free(eye);
    return got;
}

/* Count of elements whose bits differ from bf16_round(want[i]) (prints the first). */
static int bf16_bit_mismatches(const char *what, const float *got, const float *want, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float r = (float)bf16_round(want[i]);
        if (memcmp(&got[i], &r, sizeof r) != 0 && bad++ == 0)
            fprintf(stderr, "\n%s: element %zu: fp32 %.9g: bf16 copy %.9g, expected %.9g\n", what, i,
                    (double)want[i], (double)got[i], (double)r);
    }
    return bad;
}

/* adamw_step writes the bf16 copy of a cached weight in the same pass
 * (cpu_kernels_optim.c, cpu_wcache.c refresh): the copy a product uses after
 * the step is bit-identical to the round-to-nearest-even of the new fp32
 * weight (an independent rounding here) and to the copy the driver's own
 * conversion makes of the same values in a fresh buffer. Ties (both ways),
 * tiny and large values come through exactly: with a zero gradient and
 * lr * weight_decay = 0.5 the step halves every weight exactly. The fp32
 * results are checked by adamw_literal / adamw_reference (unchanged). */
static void test_bf16_adamw_fused(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    enum { K = 16, N = 24 };
    const int64_t sw[2] = {K, N};
    ht w = ht_rand(2, sw, -2, 2), g = ht_rand(2, sw, -1, 1), m = ht_rand(2, sw, 0, 0), v = ht_rand(2, sw, 0, 0);
    g_free(bf16_copy_of(&w, K, N));   /* the weight gets its bf16 copy */
    ttml_tensor *outs[3] = {w.t, m.t, v.t};
    for (int t = 1; t <= 3; t++) {   /* ordinary steps: the copy follows the weight */
        ttml_adamw_params ap = {0.05f, 0.9f, 0.99f, 1e-8f, 0.01f, t};
        RUN("adamw_step", &g.t, 1, outs, 3, &ap);
        float *now = ht_read(&w), *got = bf16_copy_of(&w, K, N);
        CU_ASSERT_EQUAL(bf16_bit_mismatches("bf16 copy after an adamw step", got, now, w.n), 0);
        g_free(now);
        g_free(got);
    }

    /* halving step: w = 2 * s -> s, with s holding rounding ties */
    float s[K * N];
    const guint32 bits[8] = {0x3f808000u, 0x3f818000u, 0xbf808000u, 0x3f80ffffu,
                             0x00800000u, 0x7e7fffffu, 0x3f807fffu, 0x4049ffffu};
    for (int i = 0; i < K * N; i++) {
        if (i < 8) memcpy(&s[i], &bits[i], sizeof s[i]);
        else s[i] = urand(-100, 100);
    }
    float two_s[K * N], zero[K * N] = {0};
    for (int i = 0; i < K * N; i++) two_s[i] = 2.0f * s[i];
    GError *err = NULL;
    CU_ASSERT_TRUE(ttml_tensor_write(w.t, two_s, &err) && ttml_tensor_write(g.t, zero, &err) &&
                   ttml_tensor_write(m.t, zero, &err) && ttml_tensor_write(v.t, zero, &err));
    TTML_ASSERT_NO_ERROR(err);
    g_free(bf16_copy_of(&w, K, N));   /* the copy of 2 s */
    ttml_adamw_params half = {0.5f, 0.9f, 0.99f, 1e-8f, 1.0f, 1};
    RUN("adamw_step", &g.t, 1, outs, 3, &half);
    float *now = ht_read(&w), *got = bf16_copy_of(&w, K, N);
    CU_ASSERT_EQUAL(memcmp(now, s, sizeof s), 0);   /* the step halved every weight exactly */
    CU_ASSERT_EQUAL(bf16_bit_mismatches("bf16 copy after a halving adamw step", got, s, w.n), 0);
    ht fresh = ht_from(2, sw, s);   /* converted by the driver's to_bf16 */
    float *conv = bf16_copy_of(&fresh, K, N);
    CU_ASSERT_EQUAL(memcmp(got, conv, sizeof s), 0);
    g_free(now);
    g_free(got);
    g_free(conv);
    ht_free(&fresh);
    ht_free(&w);
    ht_free(&g);
    ht_free(&m);
    ht_free(&v);
}

static void test_matmul_bf16(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    /* never dlclose: libgomp threads; the driver opens the same library */
    const int64_t shapes[4][3] = {{37, 29, 53}, {1, 17, 9}, {64, 96, 128}, {130, 45, 301}};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 3; t++) {   /* NN, NT (forward), TN (dW) */
            const int ta = t == 2, tb = t == 1;
            matmul_bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, 0.0f, 1);
            matmul_bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, 1.0f, 1);
        }
    matmul_bf16_case(21, 13, 40, 0, 1, 0.0f, 2);   /* shared weights folded into M */
    matmul_bf16_case(21, 13, 40, 1, 0, 1.0f, 2);   /* per-product path            */
}

/* ---- sdpa, precision bf16 (oneDNN) ---- */

/* Relative rms error of got against the fp32 kernel's ref (n floats). */
static double rel_rms(const float *got, const float *ref, size_t n)
{
    double d2 = 0, r2 = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - ref[i];
        d2 += d * d;
        r2 += (double)ref[i] * ref[i];
    }
    return sqrt(d2 / (r2 > 0 ? r2 : 1));
}

/* sdpa_fwd and sdpa_bwd with precision bf16 against the same kernels in
 * fp32 (the oracle), not bitwise equal (the bf16 path ran) and within
 * matmul's bf16 tolerance (3e-3 relative rms, test_matmul_bf16) per bf16
 * product on the output's path, as the errors of chained products add up:
 * lse 1 (S = Q K^T), o 2 (S, then P V), dv 2 (S, then P^T dO), dq and dk 3
 * (S and dP = dO V^T make dS, then dS K and dS^T Q). Measured: lse ~2e-4,
 * o and dv 2.9-3.3e-3, dq and dk 3.9-4.2e-3. Shapes: grouped-query heads, a
 * partial last query block, causal with an offset (Skv > Sq), not causal. */
static void sdpa_bf16_case(int64_t B, int64_t H, int64_t G, int64_t Sq, int64_t Skv, int64_t D, int causal)
{
    const int64_t sq[4] = {B, H, Sq, D}, sk[4] = {B, G, Skv, D}, sl[3] = {B, H, Sq};
    ht q = ht_rand(4, sq, -2, 2), k = ht_rand(4, sk, -2, 2), v = ht_rand(4, sk, -1, 1);
    ht dout = ht_rand(4, sq, -1, 1);
    ht res[2][5];   /* [fp32, bf16][o, lse, dq, dk, dv] */
    for (int p = 0; p < 2; p++) {
        ttml_sdpa_params sp = {(float)(1.0 / sqrt((double)D)), causal,
                               p ? TTML_PRECISION_BF16 : TTML_PRECISION_FP32};
        res[p][0] = ht_rand(4, sq, 0, 1);
        res[p][1] = ht_rand(3, sl, 0, 1);
        res[p][2] = ht_rand(4, sq, 0, 1);
        res[p][3] = ht_rand(4, sk, 0, 1);
        res[p][4] = ht_rand(4, sk, 0, 1);
        ttml_tensor *fin[3] = {q.t, k.t, v.t}, *fout[2] = {res[p][0].t, res[p][1].t};
        RUN("sdpa_fwd", fin, 3, fout, 2, &sp);
        ttml_tensor *bin[6] = {q.t, k.t, v.t, res[p][0].t, res[p][1].t, dout.t};
        ttml_tensor *bout[3] = {res[p][2].t, res[p][3].t, res[p][4].t};
        RUN("sdpa_bwd", bin, 6, bout, 3, &sp);
    }
    static const char *names[5] = {"o", "lse", "dq", "dk", "dv"};
    static const int products[5] = {2, 1, 3, 3, 2};
    gboolean any_diff = FALSE;
    for (int i = 0; i < 5; i++) {
        float *g32 = ht_read(&res[0][i]), *g16 = ht_read(&res[1][i]);
        const double rel = rel_rms(g16, g32, res[0][i].n);
        any_diff |= memcmp(g16, g32, res[0][i].n * sizeof(float)) != 0;
        const double tol = 3e-3 * products[i];
        if (!(rel <= tol))
            printf("\nsdpa bf16 B%" G_GINT64_FORMAT " H%" G_GINT64_FORMAT " G%" G_GINT64_FORMAT
                   " Sq%" G_GINT64_FORMAT " Skv%" G_GINT64_FORMAT " D%" G_GINT64_FORMAT
                   " causal %d: %s relative rms error against fp32 %.3g\n",
                   B, H, G, Sq, Skv, D, causal, names[i], rel);
        CU_ASSERT(rel <= tol);
        g_free(g32);
        g_free(g16);
        ht_free(&res[0][i]);
        ht_free(&res[1][i]);
    }
    CU_ASSERT(any_diff);
    ht_free(&q);
    ht_free(&k);
    ht_free(&v);
    ht_free(&dout);
}

static void test_sdpa_bf16(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    sdpa_bf16_case(2, 4, 2, 80, 96, 32, 1);    /* GQA, causal with offset 16, partial block */
    sdpa_bf16_case(1, 3, 3, 70, 70, 64, 0);    /* not causal                               */
    sdpa_bf16_case(1, 2, 1, 130, 130, 64, 1);  /* three blocks, causal                     */
}

/* The per-thread oneDNN state of attention's bf16 products is released when
 * the last cpu device closes (the threads go with it) and made again by the
 * next device's threads: bf16 attention stays right (and sanitizer-clean)
 * across close and reopen, on 2 threads (the main thread keeps its slot
 * index across the release and must take a new slot). */
static void test_sdpa_bf16_reopen(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    const char *old = g_getenv("TTML_CPU_THREADS");
    char *saved = old ? g_strdup(old) : NULL;
    g_setenv("TTML_CPU_THREADS", "2", TRUE);
    for (int i = 0; i < 3; i++) {
        ttml_shutdown();
        CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
        sdpa_bf16_case(1, 4, 2, 130, 130, 64, 1);
    }
    if (saved)
        g_setenv("TTML_CPU_THREADS", saved, TRUE);
    else
        g_unsetenv("TTML_CPU_THREADS");
    g_free(saved);
    ttml_shutdown();
    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
}

/* ---- losses ---- */

static void test_mse(void)
{
    const int64_t shape[2] = {6, 9}, one[1] = {1};
    ht x = ht_rand(2, shape, -1, 1), y = ht_rand(2, shape, -1, 1), g = ht_rand(2, shape, -1, 1);
    ht out = ht_rand(1, one, 0, 1);
    const float dl = 0.75f;
    ht dloss = ht_from(1, one, &dl);
    double s = 0;
    for (size_t i = 0; i < x.n; i++) s += ((double)x.h[i] - y.h[i]) * ((double)x.h[i] - y.h[i]);
    double *ref = g_new(double, x.n);
    for (int red = 0; red < 2; red++) {
        ttml_loss_params p = {(ttml_reduction)red};
        ttml_tensor *in[3] = {x.t, y.t, dloss.t};
        RUN("mse_fwd", in, 2, &out.t, 1, &p);
        double want = red == TTML_REDUCE_MEAN ? s / (double)x.n : s;
        expect_close(red ? "mse_fwd sum" : "mse_fwd mean", &out, &want, 1e-6, 1e-6);
        RUN("mse_bwd", in, 3, &g.t, 1, &p);
        for (size_t i = 0; i < x.n; i++)
            ref[i] = dl * 2.0 * ((double)x.h[i] - y.h[i]) / (red == TTML_REDUCE_MEAN ? (double)x.n : 1.0);
        expect_close(red ? "mse_bwd sum" : "mse_bwd mean", &g, ref, 1e-6, 1e-5);
    }
    /* hand-computed: x = [1, 2], y = [0, 4]: sum = 1 + 4 = 5, mean = 2.5 */
    const int64_t two[1] = {2};
    const float xv[2] = {1, 2}, yv[2] = {0, 4};
    ht hx = ht_from(1, two, xv), hy = ht_from(1, two, yv);
    ttml_loss_params pm = {TTML_REDUCE_MEAN};
    ttml_tensor *hin[2] = {hx.t, hy.t};
    RUN("mse_fwd", hin, 2, &out.t, 1, &pm);
    double want = 2.5;
    expect_close("mse_fwd literal", &out, &want, 0, 0);
    g_free(ref);
    ht_free(&x);
    ht_free(&y);
    ht_free(&g);
    ht_free(&out);
    ht_free(&dloss);
    ht_free(&hx);
    ht_free(&hy);
}

static void test_sum_sq(void)
{
    const int64_t shape[3] = {3, 5, 7}, one[1] = {1};
    ht x = ht_rand(3, shape, -3, 3), out = ht_rand(1, one, 0, 1);
    double s = 0;
    for (size_t i = 0; i < x.n; i++) s += (double)x.h[i] * x.h[i];
    RUN0("sum_sq", &x.t, 1, &out.t, 1);
    expect_close("sum_sq", &out, &s, 1e-6, 1e-6);
    ht_free(&x);
    ht_free(&out);
}

/* ---- optimizers ---- */

static void test_sgd_literal(void)
{
    /* p = [1, -2]; g1 = [0.5, 1], g2 = [-1, 0.25]; lr 0.1, momentum 0.9,
     * dampening 0, weight_decay 0.1:
     * step 1: d = g + 0.1 p = [0.6, 0.8] = buf; p = [0.94, -2.08]
     * step 2: d = [-1 + 0.094, 0.25 - 0.208] = [-0.906, 0.042]
     *         buf = 0.9 [0.6, 0.8] + d = [-0.366, 0.762]; p = [0.9766, -2.1562] */
    const int64_t two[1] = {2};
    const float p0[2] = {1, -2}, g1[2] = {0.5f, 1}, g2[2] = {-1, 0.25f}, z[2] = {0, 0};
    ht p = ht_from(1, two, p0), buf = ht_from(1, two, z), ga = ht_from(1, two, g1), gb = ht_from(1, two, g2);
    ttml_sgd_params sp = {0.1f, 0.9f, 0.0f, 0.1f, 0, 1};
    ttml_tensor *outs[2] = {p.t, buf.t};
    RUN("sgd_step", &ga.t, 1, outs, 2, &sp);
    const double p1[2] = {0.94, -2.08}, b1[2] = {0.6, 0.8};
    expect_close("sgd literal step 1 param", &p, p1, 1e-6, 1e-6);
    expect_close("sgd literal step 1 buf", &buf, b1, 1e-6, 1e-6);
    sp.first_step = 0;
    RUN("sgd_step", &gb.t, 1, outs, 2, &sp);
    const double p2[2] = {0.9766, -2.1562}, b2[2] = {-0.366, 0.762};
    expect_close("sgd literal step 2 param", &p, p2, 1e-6, 1e-6);
    expect_close("sgd literal step 2 buf", &buf, b2, 1e-6, 1e-6);
    ht_free(&p);
    ht_free(&buf);
    ht_free(&ga);
    ht_free(&gb);
}

static void test_sgd_reference(void)
{
    const struct { float lr, momentum, dampening, wd; int nesterov; } cfg[] = {
        {0.1f, 0.0f, 0.0f, 0.0f, 0},   /* plain */
        {0.05f, 0.0f, 0.0f, 0.01f, 0}, /* weight decay, no momentum */
        {0.1f, 0.9f, 0.0f, 0.0f, 0},   /* momentum */
        {0.1f, 0.9f, 0.1f, 0.01f, 0},  /* momentum, dampening, weight decay */
        {0.1f, 0.9f, 0.0f, 0.1f, 1},   /* nesterov, weight decay */
        {0.2f, 0.5f, 0.3f, 0.0f, 1},   /* nesterov with dampening */
    };
    const int64_t shape[1] = {37};
    for (size_t k = 0; k < G_N_ELEMENTS(cfg); k++) {
        ht p = ht_rand(1, shape, -1, 1), buf = ht_rand(1, shape, -1, 1);
        ht g[2] = {ht_rand(1, shape, -1, 1), ht_rand(1, shape, -1, 1)};
        const size_t n = p.n;
        double *rp = g_new(double, n), *rb = g_new(double, n);
        for (size_t i = 0; i < n; i++) rp[i] = p.h[i];
        for (int step = 0; step < 2; step++) {
            for (size_t i = 0; i < n; i++) {
                double d = g[step].h[i] + cfg[k].wd * rp[i];
                if (cfg[k].momentum != 0.0f) {
                    rb[i] = step == 0 ? d : cfg[k].momentum * rb[i] + (1.0 - cfg[k].dampening) * d;
                    d = cfg[k].nesterov ? d + cfg[k].momentum * rb[i] : rb[i];
                }
                rp[i] -= cfg[k].lr * d;
            }
            ttml_sgd_params sp = {cfg[k].lr, cfg[k].momentum, cfg[k].dampening, cfg[k].wd,
                                  cfg[k].nesterov, step == 0};
            ttml_tensor *outs[2] = {p.t, buf.t};
            /* without momentum the buffer slot is absent */
            RUN("sgd_step", &g[step].t, 1, outs, cfg[k].momentum != 0.0f ? 2 : 1, &sp);
        }
        char what[64];
        g_snprintf(what, sizeof what, "sgd config %zu param", k);
        expect_close(what, &p, rp, 1e-6, 1e-5);
        if (cfg[k].momentum != 0.0f) {
            g_snprintf(what, sizeof what, "sgd config %zu momentum", k);
            expect_close(what, &buf, rb, 1e-6, 1e-5);
        }
        g_free(rp);
        g_free(rb);
        ht_free(&p);
        ht_free(&buf);
        ht_free(&g[0]);
        ht_free(&g[1]);
    }
}

static void test_adamw_literal(void)
{
    /* p = [1, -2]; g1 = [0.5, -1], g2 = [0.1, 0.2]; lr 0.1, betas (0.9, 0.99),
     * eps 1e-8, weight_decay 0.01 (PyTorch AdamW):
     * step 1: p *= 0.999; m = 0.1 g1 = [0.05, -0.1]; v = 0.01 g1^2 = [0.0025, 0.01];
     *         mhat = m / 0.1 = [0.5, -1], sqrt(vhat) = sqrt(v / 0.01) = [0.5, 1]:
     *         p = [0.999 - 0.1, -1.998 + 0.1] = [0.899, -1.898]
     * step 2: p *= 0.999 -> [0.898101, -1.896102]; m = 0.9 m + 0.1 g2 = [0.055, -0.07];
     *         v = 0.99 v + 0.01 g2^2 = [0.002575, 0.0103];
     *         mhat = m / 0.19 = [0.2894737, -0.3684211];
     *         sqrt(vhat) = sqrt(v / 0.0199) = [0.3597179, 0.7194359];
     *         p -= 0.1 mhat / sqrt(vhat): p = [0.8176286, -1.8448923]
     * (beta2 0.999 would leave 1 - 0.999f = 0.00099998713, off by 1.3e-5.) */
    const int64_t two[1] = {2};
    const float p0[2] = {1, -2}, g1[2] = {0.5f, -1}, g2[2] = {0.1f, 0.2f}, z[2] = {0, 0};
    ht p = ht_from(1, two, p0), m = ht_from(1, two, z), v = ht_from(1, two, z);
    ht ga = ht_from(1, two, g1), gb = ht_from(1, two, g2);
    ttml_adamw_params ap = {0.1f, 0.9f, 0.99f, 1e-8f, 0.01f, 1};
    ttml_tensor *outs[3] = {p.t, m.t, v.t};
    RUN("adamw_step", &ga.t, 1, outs, 3, &ap);
    const double p1[2] = {0.899, -1.898}, m1[2] = {0.05, -0.1}, v1[2] = {0.0025, 0.01};
    expect_close("adamw step 1 param", &p, p1, 1e-6, 1e-6);
    expect_close("adamw step 1 exp_avg", &m, m1, 1e-7, 1e-6);
    expect_close("adamw step 1 exp_avg_sq", &v, v1, 1e-9, 1e-5);
    ap.step = 2;
    RUN("adamw_step", &gb.t, 1, outs, 3, &ap);
    const double p2[2] = {0.8176286, -1.8448923}, m2[2] = {0.055, -0.07}, v2[2] = {0.002575, 0.0103};
    expect_close("adamw step 2 param", &p, p2, 1e-6, 1e-6);
    expect_close("adamw step 2 exp_avg", &m, m2, 1e-7, 1e-6);
    expect_close("adamw step 2 exp_avg_sq", &v, v2, 1e-9, 1e-5);

    /* step 0 is rejected (1-based) */
    GError *err = NULL;
    ap.step = 0;
    CU_ASSERT_FALSE(launch("adamw_step", &gb.t, 1, outs, 3, &ap, sizeof ap, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "step");
    ht_free(&p);
    ht_free(&m);
    ht_free(&v);
    ht_free(&ga);
    ht_free(&gb);
}

static void test_adamw_reference(void)
{
    const int64_t shape[2] = {5, 13};
    ht p = ht_rand(2, shape, -1, 1), g[2] = {ht_rand(2, shape, -1, 1), ht_rand(2, shape, -1, 1)};
    ht m = ht_rand(2, shape, 0, 0), v = ht_rand(2, shape, 0, 0);
    const double lr = 0.01, b1 = 0.8, b2 = 0.99, eps = 1e-6, wd = 0.1;
    const size_t n = p.n;
    double *rp = g_new(double, n), *rm = g_new0(double, n), *rv = g_new0(double, n);
    for (size_t i = 0; i < n; i++) rp[i] = p.h[i];
    for (int t = 1; t <= 2; t++) {
        for (size_t i = 0; i < n; i++) {
            const double gi = g[t - 1].h[i];
            rp[i] -= lr * wd * rp[i];
            rm[i] = b1 * rm[i] + (1 - b1) * gi;
            rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
            const double mh = rm[i] / (1 - pow(b1, t)), vh = rv[i] / (1 - pow(b2, t));
            rp[i] -= lr * mh / (sqrt(vh) + eps);
        }
        ttml_adamw_params ap = {(float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t};
        ttml_tensor *outs[3] = {p.t, m.t, v.t};
        RUN("adamw_step", &g[t - 1].t, 1, outs, 3, &ap);
    }
    expect_close("adamw ref param", &p, rp, 1e-6, 1e-5);
    expect_close("adamw ref exp_avg", &m, rm, 1e-7, 1e-5);
    expect_close("adamw ref exp_avg_sq", &v, rv, 1e-9, 1e-5);
    g_free(rp);
    g_free(rm);
    g_free(rv);
    ht_free(&p);
    ht_free(&m);
    ht_free(&v);
    ht_free(&g[0]);
    ht_free(&g[1]);
}

/* ---- errors ---- */

static void test_errors(void)
{
    GError *err = NULL;
    const int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s25[2] = {2, 5}, s4[1] = {4}, s6[1] = {6};
    ht a = ht_rand(2, s23, -1, 1), b = ht_rand(2, s45, -1, 1), o = ht_rand(2, s25, -1, 1);
    ttml_tensor *in[2] = {a.t, b.t};

    ttml_matmul_params mp = {0, 0, 1.0f, 0.0f};
    CU_ASSERT_FALSE(launch("matmul", in, 2, &o.t, 1, &mp, sizeof mp, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[4, 5]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3]");

    /* binary: [2, 3] op [4] cannot broadcast */
    ht c = ht_rand(1, s4, -1, 1), oc = ht_rand(2, s23, -1, 1);
    ttml_tensor *in2[2] = {a.t, c.t};
    ttml_binary_params bp = {TTML_BINARY_ADD};
    CU_ASSERT_FALSE(launch("binary", in2, 2, &oc.t, 1, &bp, sizeof bp, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    /* elementwise numel mismatch: relu [2, 3] -> [4] */
    CU_ASSERT_FALSE(launch("relu", &a.t, 1, &c.t, 1, NULL, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    /* reduce_to a shape that is not a broadcast of in: [2, 3] -> [6] */
    ht r = ht_rand(1, s6, -1, 1);
    ttml_reduce_params rp = {1.0f, 0.0f};
    CU_ASSERT_FALSE(launch("reduce_to", &a.t, 1, &r.t, 1, &rp, sizeof rp, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[6]");

    /* optimizer state of the wrong size */
    ttml_adamw_params ap = {0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    ttml_tensor *outs[3] = {a.t, a.t, c.t};
    CU_ASSERT_FALSE(launch("adamw_step", &a.t, 1, outs, 3, &ap, sizeof ap, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    /* params struct too small */
    CU_ASSERT_FALSE(launch("matmul", in, 2, &o.t, 1, &mp, sizeof mp - 4, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "params");
    CU_ASSERT_FALSE(launch("binary", in2, 2, &oc.t, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "params");

    /* too few slots */
    CU_ASSERT_FALSE(launch("binary", in2, 1, &oc.t, 1, &bp, sizeof bp, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, NULL);

    /* f32-only kernel on a bf16 tensor */
    ttml_tensor *h = ttml_tensor_empty(ttml_context_get_device(), 2, s23, TTML_DTYPE_BF16, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(launch("relu", &h, 1, &oc.t, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "bf16");
    ttml_tensor_unref(h);

    /* values untouched by the failed launches */
    double ref[6];
    for (int i = 0; i < 6; i++) ref[i] = oc.h[i];
    expect_close("output untouched after errors", &oc, ref, 0, 0);

    ht_free(&a);
    ht_free(&b);
    ht_free(&o);
    ht_free(&c);
    ht_free(&oc);
    ht_free(&r);
}

/* ---- device ---- */

static void test_device_info(void)
{
#define KERNEL_NAME(name) #name,
    static const char *kernels[] = {TTML_KERNELS_CORE(KERNEL_NAME)};
#undef KERNEL_NAME
    const ttml_device_info *info = ttml_device_get_info(ttml_context_get_device());
    CU_ASSERT_PTR_NOT_NULL_FATAL(info);
    CU_ASSERT_STRING_EQUAL(info->name, "cpu");
    CU_ASSERT_TRUE(info->n_threads >= 1);
    CU_ASSERT_TRUE(info->n_cores >= 1);
    CU_ASSERT_TRUE(info->mem_bytes[TTML_MEM_HOST] > 0);
    CU_ASSERT_TRUE(info->mem_bytes[TTML_MEM_DRAM] > 0);
    CU_ASSERT_TRUE(info->dtypes & (1u << TTML_DTYPE_F32));
    CU_ASSERT_TRUE(info->dtypes & (1u << TTML_DTYPE_BF16));
    CU_ASSERT_TRUE(info->dtypes & (1u << TTML_DTYPE_U32));
    CU_ASSERT_TRUE(info->layouts & (1u << TTML_LAYOUT_ROW_MAJOR));
    const char *core = strstr(info->arch, "OpenBLAS core ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(core);
    core += strlen("OpenBLAS core ");
    CU_ASSERT_TRUE(*core != '\0' && strncmp(core, "unknown", 7) != 0);
#if defined(__x86_64__)
    if (!coretype_preset && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        if (!strstr(info->arch, "SkylakeX")) fprintf(stderr, "\narch: %s\n", info->arch);
        CU_ASSERT_PTR_NOT_NULL(strstr(info->arch, "SkylakeX"));
    }
#endif
    CU_ASSERT_PTR_NOT_NULL(strstr(info->description, "core"));
    CU_ASSERT_PTR_NOT_NULL(strstr(info->description, "OpenBLAS"));
    for (size_t i = 0; i < G_N_ELEMENTS(kernels); i++) {
        if (!ttml_kernel_exists("cpu", kernels[i])) fprintf(stderr, "\nmissing cpu kernel %s\n", kernels[i]);
        CU_ASSERT_TRUE(ttml_kernel_exists("cpu", kernels[i]));
    }
}

static CU_TestInfo tests[] = {
    {"fill", test_fill},
    {"copy", test_copy},
    {"affine_axpby", test_affine_axpby},
    {"relu", test_relu},
    {"binary", test_binary},
    {"reduce_to", test_reduce_to},
    {"div_bwd_b", test_div_bwd_b},
    {"matmul_2d", test_matmul_2d},
    {"matmul_batched", test_matmul_batched},
    {"matmul_split", test_matmul_split},
    {"matmul_bf16", test_matmul_bf16},
    {"sdpa_bf16", test_sdpa_bf16},
    {"sdpa_bf16 after the device reopens", test_sdpa_bf16_reopen},
    {"bf16_weight_cache", test_bf16_weight_cache},
    {"bf16_act_cache", test_bf16_act_cache},
    {"bf16_adamw_fused", test_bf16_adamw_fused},
    {"mse", test_mse},
    {"sum_sq", test_sum_sq},
    {"sgd_literal", test_sgd_literal},
    {"sgd_reference", test_sgd_reference},
    {"adamw_literal", test_adamw_literal},
    {"adamw_reference", test_adamw_reference},
    {"errors", test_errors},
    {"device_info", test_device_info},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    coretype_preset = g_getenv("TTML_BLAS_CORETYPE") != NULL;
    return ttml_test_run("cpu_kernels", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
