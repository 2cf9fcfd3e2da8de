/* tests/test_nn_ops.c - the nn_ops plugin and the cpu nn kernels: forwards
 * against naive loops in double, backwards against central finite
 * differences, fused kernels against their unfused compositions, dropout
 * determinism and statistics, embedding scatter-add, id range and shape
 * errors.
 *
 * Gradient check (as in test_ops_grad.c): loss = sum(op(inputs) * R) with R
 * a fixed random tensor; each input element is perturbed by +-h and
 * (L+ - L-) / 2h (accumulated in double, forward run with gradients off) is
 * compared with the analytic gradient. u32 ids / targets are passed through
 * the ctx of the op under test, not as perturbed inputs.
 */
#include "test_grad.h"

#include <math.h>
#include <string.h>

/* forward vs the naive reference; gradients vs central differences of step h */
static const ttml_test_tol TOL = {
    .fwd_atol = 1e-5, .fwd_rtol = 1e-4, .h = 1e-2, .atol = 2e-3, .rtol = 2e-2};

/* ---- helpers ---- */

static ttml_tensor *make_ids(int ndim, const int64_t *shape, const guint32 *ids)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_data(NULL, ndim, shape, TTML_DTYPE_U32, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

/* Run y = f(in) and backward of sum(y * R) with R from `r`; grads stay in in[i]->grad. */
static ttml_tensor *forward_backward(ttml_test_fwd_fn f, ttml_tensor **in, int n_in, const void *ctx,
                                     const float *r)
{
    GError *err = NULL;
    for (int i = 0; i < n_in; i++) ttml_tensor_zero_grad(in[i]);
    ttml_tensor *y = f(in, n_in, ctx, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    ttml_test_backward_weighted(y, r);
    return y;
}

/* Take the gradient of t (a new reference) and clear it. */
static ttml_tensor *take_grad(ttml_tensor *t)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->grad);
    ttml_tensor *g = ttml_tensor_ref(t->grad);
    ttml_tensor_zero_grad(t);
    return g;
}

static void rows_of(const ttml_tensor *x, size_t *rows, size_t *f)
{
    *f = (size_t)x->shape[x->ndim - 1];
    *rows = x->numel / *f;
}

static const int64_t S2135[] = {2, 1, 3, 5};
static const int64_t S5[] = {5};

/* ---- layernorm / rmsnorm ---- */

typedef struct { float eps; } norm_ctx;

static ttml_tensor *f_layernorm(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_layernorm(in[0], in[1], n_in > 2 ? in[2] : NULL, ((const norm_ctx *)ctx)->eps, error);
}

static void ref_layernorm(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                          double *out)
{
    size_t rows, f;
    rows_of(in[0], &rows, &f);
    CU_ASSERT_TRUE(ttml_shape_equal(y, in[0]));
    for (size_t r = 0; r < rows; r++) {
        const float *x = v[0] + r * f;
        double mean = 0, var = 0;
        for (size_t j = 0; j < f; j++) mean += x[j];
        mean /= (double)f;
        for (size_t j = 0; j < f; j++) var += (x[j] - mean) * (x[j] - mean);
        var /= (double)f;
        double rstd = 1.0 / sqrt(var + ((const norm_ctx *)ctx)->eps);
        for (size_t j = 0; j < f; j++)
            out[r * f + j] = (x[j] - mean) * rstd * v[1][j] + (n_in > 2 ? v[2][j] : 0.0);
    }
}

static void test_layernorm(void)
{
    norm_ctx c = {1e-5f};
    ttml_tensor *in[3] = {ttml_test_rand_tensor(4, S2135, -2, 2, TRUE), ttml_test_rand_tensor(1, S5, 0.5f, 1.5f, TRUE),
                          ttml_test_rand_tensor(1, S5, -1, 1, TRUE)};
    ttml_test_check_op(&TOL, "layernorm", f_layernorm, ref_layernorm, &c, in, 3);
    ttml_test_check_op(&TOL, "layernorm without beta", f_layernorm, ref_layernorm, &c, in, 2);
    /* a row longer than the kernel's vector lanes, several row blocks, x only */
    static const int64_t big[] = {70, 37};
    ttml_tensor *bx = ttml_test_rand_tensor(2, big, -3, 3, FALSE);
    ttml_tensor *bg = ttml_test_rand_tensor(1, (const int64_t[]){37}, 0.5f, 1.5f, TRUE);
    ttml_tensor *bin[2] = {bx, bg};
    ttml_test_check_op(&TOL, "layernorm [70, 37], dgamma", f_layernorm, ref_layernorm, &c, bin, 2);
    static const int64_t mid[] = {40, 19};
    ttml_tensor *mx = ttml_test_rand_tensor(2, mid, -3, 3, TRUE);
    ttml_tensor *mg = ttml_test_rand_tensor(1, (const int64_t[]){19}, 0.5f, 1.5f, TRUE);
    ttml_tensor *mb = ttml_test_rand_tensor(1, (const int64_t[]){19}, -1, 1, TRUE);
    ttml_tensor *min[3] = {mx, mg, mb};
    ttml_test_check_op(&TOL, "layernorm [40, 19] (two row blocks)", f_layernorm, ref_layernorm, &c, min, 3);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(in[i]);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(min[i]);
    ttml_tensor_unref(bx);
    ttml_tensor_unref(bg);
}

static ttml_tensor *f_rmsnorm(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_rmsnorm(in[0], in[1], ((const norm_ctx *)ctx)->eps, error);
}

static void ref_rmsnorm(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                        double *out)
{
    size_t rows, f;
    rows_of(in[0], &rows, &f);
    for (size_t r = 0; r < rows; r++) {
        const float *x = v[0] + r * f;
        double ms = 0;
        for (size_t j = 0; j < f; j++) ms += (double)x[j] * x[j];
        double rstd = 1.0 / sqrt(ms / (double)f + ((const norm_ctx *)ctx)->eps);
        for (size_t j = 0; j < f; j++) out[r * f + j] = x[j] * rstd * v[1][j];
    }
}

static void test_rmsnorm(void)
{
    norm_ctx c = {1e-6f};
    ttml_tensor *in[2] = {ttml_test_rand_tensor(4, S2135, -2, 2, TRUE), ttml_test_rand_tensor(1, S5, 0.5f, 1.5f, TRUE)};
    ttml_test_check_op(&TOL, "rmsnorm", f_rmsnorm, ref_rmsnorm, &c, in, 2);
    static const int64_t mid[] = {40, 19};
    ttml_tensor *min[2] = {ttml_test_rand_tensor(2, mid, -3, 3, TRUE),
                           ttml_test_rand_tensor(1, (const int64_t[]){19}, 0.5f, 1.5f, TRUE)};
    ttml_test_check_op(&TOL, "rmsnorm [40, 19] (two row blocks)", f_rmsnorm, ref_rmsnorm, &c, min, 2);
    for (int i = 0; i < 2; i++) {
        ttml_tensor_unref(in[i]);
        ttml_tensor_unref(min[i]);
    }
}

/* ---- activations ---- */

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / G_PI) * (x + 0.044715 * x * x * x)));
}

static double silu_ref(double x)
{
    return x / (1.0 + exp(-x));
}

static ttml_tensor *f_gelu(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_gelu(in[0], error);
}

static void ref_gelu(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y, double *out)
{
    for (size_t i = 0; i < y->numel; i++) out[i] = gelu_ref(v[0][i]);
}

static ttml_tensor *f_silu(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_silu(in[0], error);
}

static void ref_silu(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y, double *out)
{
    for (size_t i = 0; i < y->numel; i++) out[i] = silu_ref(v[0][i]);
}

static ttml_tensor *f_swiglu(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_swiglu(in[0], in[1], error);
}

static void ref_swiglu(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                       double *out)
{
    for (size_t i = 0; i < y->numel; i++) out[i] = silu_ref(v[0][i]) * v[1][i];
}

/* The unfused composition silu(gate) * up from the ops API. */
static ttml_tensor *f_swiglu_unfused(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    ttml_tensor *s = ttml_silu(in[0], error);
    if (!s) return NULL;
    ttml_tensor *y = ttml_mul(s, in[1], error);
    ttml_tensor_unref(s);
    return y;
}

static void test_activations(void)
{
    ttml_tensor *x = ttml_test_rand_tensor(4, S2135, -4, 4, TRUE);
    ttml_test_check_op(&TOL, "gelu", f_gelu, ref_gelu, NULL, &x, 1);
    ttml_test_check_op(&TOL, "silu", f_silu, ref_silu, NULL, &x, 1);
    ttml_tensor_unref(x);
    /* extremes: saturation without NaN or overflow, 37 elements (lanes + tail) */
    float ext[37];
    for (int i = 0; i < 37; i++) ext[i] = -90.0f + 5.0f * (float)i;
    ext[0] = -1000.0f;
    ext[36] = 1000.0f;
    ttml_tensor *e = ttml_test_tensor(1, (const int64_t[]){37}, ext, FALSE);
    float *ev = ttml_test_read_floats(e);
    GError *err = NULL;
    for (int k = 0; k < 2; k++) {
        ttml_tensor *y = k == 0 ? ttml_gelu(e, &err) : ttml_silu(e, &err);
        TTML_ASSERT_NO_ERROR(err);
        float *yv = ttml_test_read_floats(y);
        double want[37];
        for (int i = 0; i < 37; i++) want[i] = k == 0 ? gelu_ref(ev[i]) : silu_ref(ev[i]);
        CU_ASSERT_EQUAL(ttml_test_compare(k == 0 ? "gelu extremes" : "silu extremes", yv, want, 37, 1e-5, 1e-5), 0);
        g_free(yv);
        ttml_tensor_unref(y);
    }
    g_free(ev);
    ttml_tensor_unref(e);
}

static void test_swiglu(void)
{
    ttml_tensor *in[2] = {ttml_test_rand_tensor(4, S2135, -4, 4, TRUE), ttml_test_rand_tensor(4, S2135, -2, 2, TRUE)};
    ttml_test_check_op(&TOL, "swiglu", f_swiglu, ref_swiglu, NULL, in, 2);
    /* fused against silu(gate) * up: values and both gradients */
    float r[30];
    ttml_rng_fill_uniform(r, 30, -1, 1);
    ttml_tensor *y1 = forward_backward(f_swiglu, in, 2, NULL, r);
    ttml_tensor *g1 = take_grad(in[0]), *u1 = take_grad(in[1]);
    ttml_tensor *y2 = forward_backward(f_swiglu_unfused, in, 2, NULL, r);
    ttml_tensor *g2 = take_grad(in[0]), *u2 = take_grad(in[1]);
    ttml_test_assert_tensors_close("swiglu vs silu*up: value", y1, y2, 1e-6, 1e-5);
    ttml_test_assert_tensors_close("swiglu vs silu*up: dgate", g1, g2, 1e-6, 1e-5);
    ttml_test_assert_tensors_close("swiglu vs silu*up: dup", u1, u2, 1e-6, 1e-5);
    ttml_tensor *list[] = {y1, g1, u1, y2, g2, u2, in[0], in[1]};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
}

/* ---- softmax / log_softmax ---- */

static ttml_tensor *f_softmax(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_softmax(in[0], error);
}

static ttml_tensor *f_log_softmax(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_log_softmax(in[0], error);
}

/* exp / sum by hand in double (log when ctx is non-NULL). */
static void ref_softmax(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                        double *out)
{
    size_t rows, f;
    rows_of(in[0], &rows, &f);
    for (size_t r = 0; r < rows; r++) {
        const float *x = v[0] + r * f;
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < f; j++) m = MAX(m, (double)x[j]);
        for (size_t j = 0; j < f; j++) s += exp(x[j] - m);
        for (size_t j = 0; j < f; j++) out[r * f + j] = ctx ? x[j] - m - log(s) : exp(x[j] - m) / s;
    }
}

static void test_softmax(void)
{
    static const int log_flag = 1;
    ttml_tensor *x = ttml_test_rand_tensor(4, S2135, -3, 3, TRUE);
    ttml_test_check_op(&TOL, "softmax", f_softmax, ref_softmax, NULL, &x, 1);
    ttml_test_check_op(&TOL, "log_softmax", f_log_softmax, ref_softmax, &log_flag, &x, 1);
    ttml_tensor_unref(x);
    /* rows longer than the vector lanes */
    static const int64_t s337[] = {3, 37};
    x = ttml_test_rand_tensor(2, s337, -5, 5, TRUE);
    ttml_test_check_op(&TOL, "softmax [3, 37]", f_softmax, ref_softmax, NULL, &x, 1);
    ttml_test_check_op(&TOL, "log_softmax [3, 37]", f_log_softmax, ref_softmax, &log_flag, &x, 1);
    ttml_tensor_unref(x);
    /* numerically stable: huge logits give finite, exact results */
    float big[6] = {1000.0f, 1001.0f, 999.0f, -1000.0f, 0.0f, 88.0f};
    x = ttml_test_tensor(2, (const int64_t[]){2, 3}, big, FALSE);
    float *bv = ttml_test_read_floats(x);
    double want[6];
    ttml_tensor *bin[1] = {x};
    ref_softmax(bin, &bv, 1, NULL, x, want);
    GError *err = NULL;
    ttml_tensor *y = ttml_softmax(x, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *yv = ttml_test_read_floats(y);
    CU_ASSERT_EQUAL(ttml_test_compare("softmax of huge logits", yv, want, 6, 1e-6, 1e-5), 0);
    g_free(yv);
    ttml_tensor_unref(y);
    ref_softmax(bin, &bv, 1, &log_flag, x, want);
    y = ttml_log_softmax(x, &err);
    TTML_ASSERT_NO_ERROR(err);
    yv = ttml_test_read_floats(y);
    CU_ASSERT_EQUAL(ttml_test_compare("log_softmax of huge logits", yv, want, 6, 1e-4, 1e-5), 0);
    g_free(yv);
    g_free(bv);
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
}

/* ---- dropout ---- */

static void test_dropout(void)
{
    GError *err = NULL;
    const size_t n = 65536;
    const float p = 0.3f;
    ttml_tensor *x = ttml_tensor_full(NULL, 1, (const int64_t[]){(int64_t)n}, TTML_DTYPE_F32, 1.0f, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_set_requires_grad(x, TRUE);

    /* same seed -> same mask; the next call draws a new one */
    ttml_set_seed(42);
    ttml_rng_state st = ttml_get_rng_state();
    ttml_tensor *y1 = ttml_dropout(x, p, TRUE, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *y3 = ttml_dropout(x, p, TRUE, &err);
    ttml_set_rng_state(st);
    ttml_tensor *y2 = ttml_dropout(x, p, TRUE, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *v1 = ttml_test_read_floats(y1), *v2 = ttml_test_read_floats(y2), *v3 = ttml_test_read_floats(y3);
    CU_ASSERT_EQUAL(memcmp(v1, v2, n * sizeof(float)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(v1, v3, n * sizeof(float)), 0);

    /* values are 0 or 1/(1-p); mean preserved, drop rate about p */
    size_t zeros = 0, bad = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (v1[i] == 0.0f) zeros++;
        else if (fabsf(v1[i] - 1.0f / (1.0f - p)) > 1e-6f) bad++;
        sum += v1[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_TRUE(fabs(sum / (double)n - 1.0) < 0.02);
    CU_ASSERT_TRUE(fabs((double)zeros / (double)n - p) < 0.01);

    /* gradient = mask / (1 - p): with x = 1 that is y itself, times dy */
    float *r = g_new(float, n);
    ttml_rng_fill_uniform(r, n, -1, 1);
    ttml_tensor *rt = ttml_test_tensor(1, x->shape, r, FALSE);
    ttml_tensor *yr = ttml_mul(y1, rt, &err);
    ttml_tensor *loss = ttml_sum(yr, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    float *g = ttml_test_read_floats(x->grad);
    bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(g[i] - v1[i] * r[i]) > 1e-6f) bad++;
    CU_ASSERT_EQUAL(bad, 0);
    g_free(g);
    ttml_tensor_zero_grad(x);
    ttml_reset_graph();

    /* p = 0 and eval mode are the identity and draw nothing from the RNG */
    ttml_rng_state before = ttml_get_rng_state();
    ttml_tensor *id0 = ttml_dropout(x, 0.0f, TRUE, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *id1 = ttml_dropout(x, 0.5f, FALSE, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_rng_state after = ttml_get_rng_state();
    CU_ASSERT_EQUAL(before.counter, after.counter);
    float *i0 = ttml_test_read_floats(id0), *i1 = ttml_test_read_floats(id1), *xv = ttml_test_read_floats(x);
    CU_ASSERT_EQUAL(memcmp(i0, xv, n * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(i1, xv, n * sizeof(float)), 0);
    g_free(i0);
    g_free(i1);
    g_free(xv);

    /* bad p */
    CU_ASSERT_PTR_NULL(ttml_dropout(x, 1.0f, TRUE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "[0, 1)");

    ttml_tensor *list[] = {x, y1, y2, y3, rt, yr, loss, id0, id1};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
    g_free(v1);
    g_free(v2);
    g_free(v3);
    g_free(r);
    ttml_reset_graph();
}

/* ---- reshape / transpose / concat / split ---- */

static ttml_tensor *f_reshape(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_reshape(in[0], 3, (const int64_t[]){3, -1, 2}, error);
}

static void ref_identity(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                         double *out)
{
    for (size_t i = 0; i < y->numel; i++) out[i] = v[0][i];
}

static void test_reshape(void)
{
    GError *err = NULL;
    ttml_tensor *x = ttml_test_rand_tensor(2, (const int64_t[]){2, 6}, -1, 1, TRUE);
    ttml_test_check_op(&TOL, "reshape", f_reshape, ref_identity, NULL, &x, 1);
    ttml_tensor *y = ttml_reshape(x, 3, (const int64_t[]){3, -1, 2}, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(y->ndim, 3);
    CU_ASSERT_EQUAL(y->shape[1], 2);
    CU_ASSERT_PTR_EQUAL(y->buf, x->buf);   /* a view, no copy */
    ttml_tensor_unref(y);
    ttml_reset_graph();
    CU_ASSERT_PTR_NULL(ttml_reshape(x, 2, (const int64_t[]){5, 3}, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 6]");
    ttml_tensor_unref(x);
}

static ttml_tensor *f_transpose(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_transpose(in[0], error);
}

static void ref_transpose(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                          double *out)
{
    const ttml_tensor *x = in[0];
    size_t m = (size_t)x->shape[x->ndim - 2], n = (size_t)x->shape[x->ndim - 1];
    CU_ASSERT_EQUAL(y->shape[y->ndim - 2], (int64_t)n);
    CU_ASSERT_EQUAL(y->shape[y->ndim - 1], (int64_t)m);
    for (size_t b = 0; b < x->numel / (m * n); b++)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) out[b * m * n + j * m + i] = v[0][b * m * n + i * n + j];
}

static void test_transpose(void)
{
    ttml_tensor *x = ttml_test_rand_tensor(4, S2135, -1, 1, TRUE);
    ttml_test_check_op(&TOL, "transpose [2,1,3,5]", f_transpose, ref_transpose, NULL, &x, 1);
    ttml_tensor_unref(x);
    x = ttml_test_rand_tensor(3, (const int64_t[]){2, 35, 33}, -1, 1, TRUE);   /* more than one 32-tile */
    ttml_test_check_op(&TOL, "transpose [2,35,33]", f_transpose, ref_transpose, NULL, &x, 1);
    ttml_tensor_unref(x);
}

typedef struct { int dim; } concat_ctx;

static ttml_tensor *f_concat(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_concat(in, n_in, ((const concat_ctx *)ctx)->dim, error);
}

/* Naive concat along dim (normalised), all inputs of one rank. */
static void ref_concat(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                       double *out)
{
    int dim = ((const concat_ctx *)ctx)->dim;
    if (dim < 0) dim += in[0]->ndim;
    size_t outer = 1, inner = 1;
    for (int d = 0; d < dim; d++) outer *= (size_t)in[0]->shape[d];
    for (int d = dim + 1; d < in[0]->ndim; d++) inner *= (size_t)in[0]->shape[d];
    size_t k = 0;
    for (size_t o = 0; o < outer; o++)
        for (int i = 0; i < n_in; i++) {
            size_t run = (size_t)in[i]->shape[dim] * inner;
            for (size_t j = 0; j < run; j++) out[k++] = v[i][o * run + j];
        }
    CU_ASSERT_EQUAL(k, y->numel);
}

static void test_concat(void)
{
    concat_ctx c1 = {1}, cl = {-1};
    ttml_tensor *in[3] = {ttml_test_rand_tensor(3, (const int64_t[]){2, 1, 3}, -1, 1, TRUE),
                          ttml_test_rand_tensor(3, (const int64_t[]){2, 2, 3}, -1, 1, FALSE),
                          ttml_test_rand_tensor(3, (const int64_t[]){2, 3, 3}, -1, 1, TRUE)};
    ttml_test_check_op(&TOL, "concat dim 1", f_concat, ref_concat, &c1, in, 3);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(in[i]);
    ttml_tensor *in2[2] = {ttml_test_rand_tensor(2, (const int64_t[]){2, 3}, -1, 1, TRUE),
                           ttml_test_rand_tensor(2, (const int64_t[]){2, 1}, -1, 1, TRUE)};
    ttml_test_check_op(&TOL, "concat dim -1", f_concat, ref_concat, &cl, in2, 2);
    for (int i = 0; i < 2; i++) ttml_tensor_unref(in2[i]);

    /* more inputs than a graph node holds: grouped, values and grads exact */
    GError *err = NULL;
    enum { N = 8 };
    ttml_tensor *xs[N];
    for (int i = 0; i < N; i++) {
        float v[2] = {(float)i, (float)(10 * i)};
        xs[i] = ttml_test_tensor(2, (const int64_t[]){2, 1}, v, TRUE);
    }
    ttml_tensor *y = ttml_concat(xs, N, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(y->shape[0], 2);
    CU_ASSERT_EQUAL(y->shape[1], N);
    float *yv = ttml_test_read_floats(y);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(yv[i], (float)i);
        CU_ASSERT_EQUAL(yv[N + i], (float)(10 * i));
    }
    float w[2 * N];
    for (int i = 0; i < 2 * N; i++) w[i] = (float)(i + 1);
    ttml_tensor *wt = ttml_test_tensor(2, y->shape, w, FALSE);
    ttml_tensor *yw = ttml_mul(y, wt, &err);
    ttml_tensor *loss = ttml_sum(yw, &err);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < N; i++) {
        float *g = ttml_test_read_floats(xs[i]->grad);
        CU_ASSERT_EQUAL(g[0], w[i]);
        CU_ASSERT_EQUAL(g[1], w[N + i]);
        g_free(g);
        ttml_tensor_unref(xs[i]);
    }
    g_free(yv);
    ttml_tensor_unref(y);
    ttml_tensor_unref(wt);
    ttml_tensor_unref(yw);
    ttml_tensor_unref(loss);
}

/* split x along dim 1 into {1, 2, 2}, return concat(piece 2, piece 0): piece 1
 * gets no gradient, so its slice of x's gradient must be 0. */
static ttml_tensor *f_split(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    ttml_tensor *p[3];
    if (!ttml_split(in[0], 1, (const int64_t[]){1, 2, 2}, 3, p, error)) return NULL;
    ttml_tensor *cat[2] = {p[2], p[0]};
    ttml_tensor *y = ttml_concat(cat, 2, 1, error);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(p[i]);
    return y;
}

static void ref_split(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                      double *out)
{
    /* x [2, 5, 2]: rows 3..4 then row 0 of dim 1 */
    size_t k = 0;
    for (int b = 0; b < 2; b++) {
        const int rows[3] = {3, 4, 0};
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 2; j++) out[k++] = v[0][b * 10 + rows[r] * 2 + j];
    }
    CU_ASSERT_EQUAL(k, y->numel);
}

static void test_split(void)
{
    GError *err = NULL;
    ttml_tensor *x = ttml_test_rand_tensor(3, (const int64_t[]){2, 5, 2}, -1, 1, TRUE);
    ttml_test_check_op(&TOL, "split + concat", f_split, ref_split, NULL, &x, 1);
    ttml_tensor *p[2] = {NULL, NULL};
    CU_ASSERT_FALSE(ttml_split(x, 1, (const int64_t[]){2, 2}, 2, p, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "sum to 5");
    CU_ASSERT_PTR_NULL(p[0]);
    ttml_tensor_unref(x);
}

/* ---- split backward: one gradient written per group of pieces ---- */

/* x [2, 3, 6] split along the last dim into {2, 1, 3} (or narrowed alone);
 * the loss weights each used piece by a constant, so x's gradient is known
 * exactly: R on the used slices, 0 elsewhere (plus Rx when x is also used
 * directly). All values are sums of at most two floats: exact. */
#define SPLIT_N 36
static float split_r[SPLIT_N], split_rx[SPLIT_N];

static ttml_tensor *split_const(const ttml_tensor *like, int64_t start, int64_t len, const float *r)
{
    GError *err = NULL;
    float v[SPLIT_N];
    size_t k = 0;
    for (int o = 0; o < 6; o++)
        for (int64_t j = 0; j < len; j++) v[k++] = r[o * 6 + start + j];
    ttml_tensor *t = ttml_tensor_from_floats(NULL, like->ndim, like->shape, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    return t;
}

/* loss += sum(piece * R[slice]); takes piece */
static ttml_tensor *split_term(ttml_tensor *loss, ttml_tensor *piece, int64_t start, const float *r)
{
    GError *err = NULL;
    ttml_tensor *c = split_const(piece, start, piece->shape[2], r);
    ttml_tensor *m = ttml_mul(piece, c, &err);
    ttml_tensor *s = m ? ttml_sum(m, &err) : NULL;
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *out = s;
    if (loss) {
        out = ttml_add(loss, s, &err);
        ttml_tensor_unref(s);
        ttml_tensor_unref(loss);
    }
    ttml_tensor_unref(c);
    ttml_tensor_unref(m);
    ttml_tensor_unref(piece);
    return out;
}

static void split_expect(ttml_tensor *x, const gboolean used[6], gboolean with_x, float scale)
{
    float g[SPLIT_N];
    GError *err = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(x->grad);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->grad, g, &err));
    int bad = 0;
    for (int i = 0; i < SPLIT_N; i++) {
        float want = (used[i % 6] ? split_r[i] : 0.0f) + (with_x ? split_rx[i] : 0.0f);
        if (g[i] != want * scale) bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    ttml_tensor_zero_grad(x);
}

static void test_split_backward(void)
{
    GError *err = NULL;
    ttml_rng_fill_uniform(split_r, SPLIT_N, -1, 1);
    ttml_rng_fill_uniform(split_rx, SPLIT_N, -1, 1);
    ttml_tensor *x = ttml_test_rand_tensor(3, (const int64_t[]){2, 3, 6}, -1, 1, TRUE);
    const int64_t sizes[3] = {2, 1, 3}, starts[3] = {0, 2, 3};
    const gboolean all[6] = {1, 1, 1, 1, 1, 1}, no_mid[6] = {1, 1, 0, 1, 1, 1}, mid[6] = {0, 0, 1, 0, 0, 0};
    for (int c = 0; c < 5; c++) {
        /* 0: all pieces; 1: piece 1 unused; 2: x also used directly (recorded
         * first); 3: all pieces, backward twice with retain_graph; 4: piece 1
         * narrowed alone (zeros around it) */
        ttml_tensor *p[3] = {NULL, NULL, NULL}, *loss = NULL;
        if (c == 2) loss = split_term(NULL, ttml_tensor_ref(x), 0, split_rx);
        if (c == 4) {
            ttml_narrow_op_params np = {-1, 2, 1};
            p[1] = ttml_op_call("narrow", &x, 1, &np, sizeof np, &err);
        } else {
            CU_ASSERT_TRUE_FATAL(ttml_split(x, -1, sizes, 3, p, &err));
        }
        TTML_ASSERT_NO_ERROR(err);
        for (int i = 2; i >= 0; i--) {
            if (!p[i]) continue;
            if (c == 1 && i == 1) ttml_tensor_unref(p[i]);
            else loss = split_term(loss, p[i], starts[i], split_r);
        }
        CU_ASSERT_TRUE(ttml_backward(loss, NULL, c == 3, &err));
        if (c == 3) CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(loss);
        split_expect(x, c == 1 ? no_mid : c == 4 ? mid : all, c == 2, c == 3 ? 2.0f : 1.0f);
    }
    /* two pieces handed the same gradient tensor (y = p0 + p1 + p2) */
    ttml_tensor *q[3];
    CU_ASSERT_TRUE_FATAL(ttml_split(x, -1, (const int64_t[]){2, 2, 2}, 3, q, &err));
    ttml_tensor *s01 = ttml_add(q[0], q[1], &err);
    ttml_tensor *y = ttml_add(s01, q[2], &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *loss = split_term(NULL, y, 0, split_r);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    float g[SPLIT_N];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->grad, g, &err));
    int bad = 0;
    for (int i = 0; i < SPLIT_N; i++) bad += g[i] != split_r[(i / 6) * 6 + (i % 6) % 2];
    CU_ASSERT_EQUAL(bad, 0);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(q[i]);
    ttml_tensor_unref(s01);
    ttml_tensor_unref(loss);
    ttml_tensor_unref(x);
}

/* ---- cross entropy / nll ---- */

typedef struct {
    ttml_tensor *targets;
    int64_t valid;
    ttml_reduction reduction;
} loss_ctx;

static ttml_tensor *f_cross_entropy(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    const loss_ctx *c = ctx;
    return ttml_cross_entropy_loss(in[0], c->targets, c->valid, c->reduction, error);
}

static ttml_tensor *f_nll(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    const loss_ctx *c = ctx;
    return ttml_nll_loss(in[0], c->targets, c->reduction, error);
}

/* The unfused composition nll(log_softmax(x)). */
static ttml_tensor *f_ce_unfused(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    const loss_ctx *c = ctx;
    ttml_tensor *lp = ttml_log_softmax(in[0], error);
    if (!lp) return NULL;
    ttml_tensor *y = ttml_nll_loss(lp, c->targets, c->reduction, error);
    ttml_tensor_unref(lp);
    return y;
}

static guint32 *read_ids(const ttml_tensor *t)
{
    GError *err = NULL;
    guint32 *v = g_new(guint32, t->numel);
    CU_ASSERT_TRUE(ttml_tensor_read(t, v, &err));
    TTML_ASSERT_NO_ERROR(err);
    return v;
}

static void ref_cross_entropy(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                              double *out)
{
    const loss_ctx *c = ctx;
    size_t rows, f;
    rows_of(in[0], &rows, &f);
    size_t valid = c->valid > 0 ? (size_t)c->valid : f;
    guint32 *t = read_ids(c->targets);
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *x = v[0] + r * f;
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < valid; j++) m = MAX(m, (double)x[j]);
        for (size_t j = 0; j < valid; j++) s += exp(x[j] - m);
        total += m + log(s) - x[t[r]];
    }
    out[0] = c->reduction == TTML_REDUCE_MEAN ? total / (double)rows : total;
    CU_ASSERT_EQUAL(y->numel, 1);
    g_free(t);
}

static void ref_nll(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y, double *out)
{
    const loss_ctx *c = ctx;
    size_t rows, f;
    rows_of(in[0], &rows, &f);
    guint32 *t = read_ids(c->targets);
    double total = 0;
    for (size_t r = 0; r < rows; r++) total -= v[0][r * f + t[r]];
    out[0] = c->reduction == TTML_REDUCE_MEAN ? total / (double)rows : total;
    g_free(t);
}

static void test_cross_entropy(void)
{
    GError *err = NULL;
    /* logits [2, 1, 3, 8] (vocab 6 padded to 8), targets [2, 1, 1, 3] */
    static const int64_t ls[] = {2, 1, 3, 8}, ts[] = {2, 1, 1, 3};
    const guint32 tv[6] = {0, 5, 2, 3, 1, 5};
    ttml_tensor *t = make_ids(4, ts, tv);
    ttml_tensor *x = ttml_test_rand_tensor(4, ls, -3, 3, TRUE);
    loss_ctx mean = {t, 6, TTML_REDUCE_MEAN}, sum = {t, 6, TTML_REDUCE_SUM};
    ttml_test_check_op(&TOL, "cross_entropy mean, padded", f_cross_entropy, ref_cross_entropy, &mean, &x, 1);
    ttml_test_check_op(&TOL, "cross_entropy sum, padded", f_cross_entropy, ref_cross_entropy, &sum, &x, 1);

    /* padding columns: huge logits there change nothing; their gradient is 0 */
    float *xv = ttml_test_read_floats(x);
    ttml_tensor *l1 = ttml_cross_entropy_loss(x, t, 6, TTML_REDUCE_MEAN, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int r = 0; r < 6; r++) xv[r * 8 + 6] = xv[r * 8 + 7] = 1e30f;
    ttml_tensor *xp = ttml_test_tensor(4, ls, xv, TRUE);
    ttml_tensor *l2 = ttml_cross_entropy_loss(xp, t, 6, TTML_REDUCE_MEAN, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tensor_item(l1, &err), ttml_tensor_item(l2, &err));
    CU_ASSERT_TRUE(isfinite(ttml_tensor_item(l2, &err)));
    CU_ASSERT_TRUE(ttml_backward(l2, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    float *g = ttml_test_read_floats(xp->grad);
    for (int r = 0; r < 6; r++) {
        CU_ASSERT_EQUAL(g[r * 8 + 6], 0.0f);
        CU_ASSERT_EQUAL(g[r * 8 + 7], 0.0f);
    }
    g_free(g);
    ttml_tensor_unref(l1);
    ttml_tensor_unref(l2);
    ttml_tensor_unref(xp);
    ttml_reset_graph();

    /* fused against log_softmax + nll_loss (all columns valid) */
    loss_ctx full = {t, 0, TTML_REDUCE_MEAN};
    float r[1] = {0.7f};
    ttml_tensor *y1 = forward_backward(f_cross_entropy, &x, 1, &full, r);
    ttml_tensor *g1 = take_grad(x);
    ttml_tensor *y2 = forward_backward(f_ce_unfused, &x, 1, &full, r);
    ttml_tensor *g2 = take_grad(x);
    ttml_test_assert_tensors_close("cross_entropy vs log_softmax + nll: loss", y1, y2, 1e-6, 1e-5);
    ttml_test_assert_tensors_close("cross_entropy vs log_softmax + nll: grad", g1, g2, 1e-6, 1e-4);
    ttml_tensor *list[] = {y1, g1, y2, g2};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);

    /* logits that only the loss holds (a model's head): the backward writes
     * dlogits over them in place. The input's gradient through a matmul must
     * equal the one computed while the caller still holds the logits (the
     * copying path), bit for bit. */
    {
        static const int64_t hs[] = {6, 5}, ws[] = {8, 5};
        ttml_tensor *h = ttml_test_rand_tensor(2, hs, -1, 1, TRUE);
        ttml_tensor *w = ttml_test_rand_tensor(2, ws, -1, 1, FALSE);
        ttml_tensor *ids = make_ids(4, ts, tv);
        float *gh[2];
        guint64 extra[2];   /* device memory the backward needed beyond what was in use */
        ttml_device *dev = h->device;
        for (int keep = 0; keep < 2; keep++) {
            ttml_tensor *lg = ttml_matmul(h, w, FALSE, TRUE, &err);   /* [6, 8] */
            TTML_ASSERT_NO_ERROR(err);
            ttml_tensor *l = ttml_cross_entropy_loss(lg, ids, 6, TTML_REDUCE_MEAN, &err);
            TTML_ASSERT_NO_ERROR(err);
            ttml_tensor *held = keep ? lg : NULL;
            if (!keep) ttml_tensor_unref(lg);
            guint64 before = ttml_device_mem_current(dev, TTML_MEM_DRAM);
            ttml_device_reset_peak(dev);
            CU_ASSERT_TRUE(ttml_backward(l, NULL, FALSE, &err));
            TTML_ASSERT_NO_ERROR(err);
            extra[keep] = ttml_device_mem_peak(dev, TTML_MEM_DRAM) - before;
            gh[keep] = ttml_test_read_floats(h->grad);
            ttml_tensor_zero_grad(h);
            ttml_tensor_unref(held);
            ttml_tensor_unref(l);
        }
        for (int i = 0; i < 30; i++) CU_ASSERT_EQUAL(gh[0][i], gh[1][i]);
        /* and the in-place backward really skipped the dlogits tensor */
        CU_ASSERT_TRUE(extra[0] + 6 * 8 * sizeof(float) <= extra[1]);
        g_free(gh[0]);
        g_free(gh[1]);
        ttml_tensor_unref(ids);
        ttml_tensor_unref(w);
        ttml_tensor_unref(h);
    }

    /* a longer vocabulary row (lanes + tail), [B, S] targets */
    static const int64_t l2s[] = {1, 1, 4, 45}, t2s[] = {1, 4};
    const guint32 tv2[4] = {0, 39, 17, 3};
    ttml_tensor *t2 = make_ids(2, t2s, tv2);
    ttml_tensor *x2 = ttml_test_rand_tensor(4, l2s, -4, 4, TRUE);
    loss_ctx c2 = {t2, 40, TTML_REDUCE_MEAN};
    ttml_test_check_op(&TOL, "cross_entropy [1,1,4,45] valid 40", f_cross_entropy, ref_cross_entropy, &c2, &x2, 1);
    ttml_tensor_unref(x2);
    ttml_tensor_unref(t2);

    /* errors: target in the padding, bad valid_vocab, wrong target count */
    const guint32 badv[6] = {0, 1, 2, 3, 7, 5};
    ttml_tensor *bad = make_ids(4, ts, badv);
    CU_ASSERT_PTR_NULL(ttml_cross_entropy_loss(x, bad, 6, TTML_REDUCE_MEAN, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "row 4"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "7");
    CU_ASSERT_PTR_NULL(ttml_cross_entropy_loss(x, t, 9, TTML_REDUCE_MEAN, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "valid_vocab 9");
    ttml_tensor *short_t = make_ids(1, (const int64_t[]){5}, tv);
    CU_ASSERT_PTR_NULL(ttml_cross_entropy_loss(x, short_t, 6, TTML_REDUCE_MEAN, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 1, 3, 8]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[5]");
    CU_ASSERT_PTR_NULL(ttml_cross_entropy_loss(x, x, 6, TTML_REDUCE_MEAN, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "u32");
    ttml_tensor_unref(short_t);
    ttml_tensor_unref(bad);
    g_free(xv);
    ttml_tensor_unref(x);
    ttml_tensor_unref(t);
}

static void test_nll(void)
{
    GError *err = NULL;
    static const int64_t ls[] = {2, 3, 4}, ts[] = {2, 3};
    const guint32 tv[6] = {0, 3, 2, 1, 1, 3};
    ttml_tensor *t = make_ids(2, ts, tv);
    ttml_tensor *x = ttml_test_rand_tensor(3, ls, -3, 0, TRUE);
    loss_ctx mean = {t, 0, TTML_REDUCE_MEAN}, sum = {t, 0, TTML_REDUCE_SUM};
    ttml_test_check_op(&TOL, "nll mean", f_nll, ref_nll, &mean, &x, 1);
    ttml_test_check_op(&TOL, "nll sum", f_nll, ref_nll, &sum, &x, 1);
    const guint32 badv[6] = {0, 3, 2, 4, 1, 3};
    ttml_tensor *bad = make_ids(2, ts, badv);
    CU_ASSERT_PTR_NULL(ttml_nll_loss(x, bad, TTML_REDUCE_MEAN, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "row 3"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "4");
    ttml_tensor_unref(bad);
    ttml_tensor_unref(x);
    ttml_tensor_unref(t);
}

/* ---- embedding ---- */

typedef struct { ttml_tensor *ids; } emb_ctx;

static ttml_tensor *f_embedding(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_embedding(((const emb_ctx *)ctx)->ids, in[0], error);
}

static void ref_embedding(ttml_tensor **in, float **v, int n_in, const void *ctx, const ttml_tensor *y,
                          double *out)
{
    const ttml_tensor *ids = ((const emb_ctx *)ctx)->ids;
    size_t e = (size_t)in[0]->shape[1];
    guint32 *id = read_ids(ids);
    CU_ASSERT_EQUAL(y->ndim, 4);
    CU_ASSERT_EQUAL(y->shape[0], ids->shape[0]);
    CU_ASSERT_EQUAL(y->shape[1], 1);
    CU_ASSERT_EQUAL(y->shape[2], ids->shape[ids->ndim - 1]);
    CU_ASSERT_EQUAL(y->shape[3], (int64_t)e);
    for (size_t n = 0; n < ids->numel; n++)
        for (size_t j = 0; j < e; j++) out[n * e + j] = v[0][id[n] * e + j];
    g_free(id);
}

static void test_embedding(void)
{
    GError *err = NULL;
    static const int64_t ws[] = {5, 3}, is[] = {2, 1, 1, 3};
    const guint32 iv[6] = {4, 0, 2, 2, 2, 1};   /* id 2 repeated: its gradient accumulates */
    ttml_tensor *ids = make_ids(4, is, iv);
    ttml_tensor *w = ttml_test_rand_tensor(2, ws, -1, 1, TRUE);
    emb_ctx c = {ids};
    ttml_test_check_op(&TOL, "embedding", f_embedding, ref_embedding, &c, &w, 1);

    /* scatter-add by hand: dweight[id] = sum of the dy rows with that id */
    float r[18];
    for (int i = 0; i < 18; i++) r[i] = (float)(i + 1);
    ttml_tensor *y = forward_backward(f_embedding, &w, 1, &c, r);
    float *g = ttml_test_read_floats(w->grad);
    double want[15] = {0};
    for (int n = 0; n < 6; n++)
        for (int j = 0; j < 3; j++) want[iv[n] * 3 + j] += r[n * 3 + j];
    CU_ASSERT_EQUAL(ttml_test_compare("embedding scatter-add", g, want, 15, 0, 0), 0);
    CU_ASSERT_EQUAL(g[2 * 3 + 0], 7.0f + 10.0f + 13.0f);   /* rows 2, 3 and 4 of dy */
    CU_ASSERT_EQUAL(g[3 * 3 + 1], 0.0f);                    /* id 3 never used */
    g_free(g);
    ttml_tensor_zero_grad(w);
    ttml_tensor_unref(y);

    /* [B, S] ids too */
    ttml_tensor *ids2 = make_ids(2, (const int64_t[]){3, 2}, iv);
    emb_ctx c2 = {ids2};
    ttml_test_check_op(&TOL, "embedding [B, S] ids", f_embedding, ref_embedding, &c2, &w, 1);

    /* an id out of range: error names the id, its row and the vocabulary size */
    const guint32 badv[6] = {4, 0, 2, 2, 9, 1};
    ttml_tensor *bad = make_ids(4, is, badv);
    CU_ASSERT_PTR_NULL(ttml_embedding(bad, w, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "id 9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "row 4"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "vocabulary size is 5");
    /* f32 ids and a 1-D weight are refused */
    CU_ASSERT_PTR_NULL(ttml_embedding(w, w, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "u32");
    ttml_tensor *w1 = ttml_test_rand_tensor(1, (const int64_t[]){15}, -1, 1, FALSE);
    CU_ASSERT_PTR_NULL(ttml_embedding(ids, w1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[15]");
    ttml_tensor_unref(w1);
    ttml_tensor_unref(bad);
    ttml_tensor_unref(ids2);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(w);
    ttml_reset_graph();
}

/* Embedding backward into an existing gradient (a tied head): the sparse
 * path (4 distinct ids of 40 rows) against the plain composition, bit for
 * bit. The
 * tied use is w * R2 (recorded after the embedding, so its gradient exists
 * when the embedding's backward runs); the composition is each loss's
 * gradient alone, added as the axpby of ttml_tensor_accumulate_grad adds. */
static void test_embedding_tied(void)
{
    GError *err = NULL;
    static const int64_t ws[] = {40, 5}, is[] = {1, 1, 1, 6};
    const guint32 iv[6] = {3, 0, 3, 6, 3, 1};   /* rows 2, 4, 5, 7.. unseen; row 3 three times */
    ttml_tensor *ids = make_ids(4, is, iv);
    ttml_tensor *w = ttml_test_rand_tensor(2, ws, -1, 1, TRUE);
    ttml_tensor *r1 = ttml_test_rand_tensor(4, (const int64_t[]){1, 1, 6, 5}, -1, 1, FALSE);
    ttml_tensor *r2 = ttml_test_rand_tensor(2, ws, -1, 1, FALSE);
    float *g[3];
    for (int pass = 0; pass < 3; pass++) {
        /* 0: embedding alone, 1: tied use alone, 2: both */
        ttml_tensor *loss = NULL;
        if (pass != 1) {
            ttml_tensor *y = ttml_embedding(ids, w, &err);
            ttml_tensor *m = y ? ttml_mul(y, r1, &err) : NULL;
            loss = m ? ttml_sum(m, &err) : NULL;
            ttml_tensor_unref(y);
            ttml_tensor_unref(m);
        }
        if (pass != 0) {
            ttml_tensor *m = ttml_mul(w, r2, &err);
            ttml_tensor *s2 = m ? ttml_sum(m, &err) : NULL;
            ttml_tensor *sum = loss && s2 ? ttml_add(loss, s2, &err) : NULL;
            ttml_tensor_unref(m);
            if (sum) {
                ttml_tensor_unref(loss);
                ttml_tensor_unref(s2);
                loss = sum;
            } else {
                loss = s2;
            }
        }
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
        CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
        TTML_ASSERT_NO_ERROR(err);
        g[pass] = ttml_test_read_floats(w->grad);
        ttml_tensor_zero_grad(w);
        ttml_tensor_unref(loss);
    }
    int bad = 0;
    for (int i = 0; i < 200; i++) bad += g[2][i] != g[0][i] + g[1][i];
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(g[2][2 * 5 + 1], g[1][2 * 5 + 1]);   /* an unseen row: the tied gradient only */
    for (int i = 0; i < 3; i++) g_free(g[i]);
    ttml_tensor *list[] = {ids, w, r1, r2};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
}

/* ---- shape errors name both shapes ---- */

static void test_shape_errors(void)
{
    GError *err = NULL;
    ttml_tensor *a = ttml_test_rand_tensor(2, (const int64_t[]){2, 3}, -1, 1, FALSE);
    ttml_tensor *b = ttml_test_rand_tensor(2, (const int64_t[]){3, 2}, -1, 1, FALSE);
    ttml_tensor *g4 = ttml_test_rand_tensor(1, (const int64_t[]){4}, -1, 1, FALSE);

    CU_ASSERT_PTR_NULL(ttml_swiglu(a, b, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[3, 2]");

    CU_ASSERT_PTR_NULL(ttml_layernorm(a, g4, NULL, 1e-5f, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    CU_ASSERT_PTR_NULL(ttml_rmsnorm(a, g4, 1e-5f, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    ttml_tensor *ab[2] = {a, b};
    CU_ASSERT_PTR_NULL(ttml_concat(ab, 2, 0, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[3, 2]");

    CU_ASSERT_PTR_NULL(ttml_concat(ab, 2, 2, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "dim 2");

    CU_ASSERT_PTR_NULL(ttml_transpose(g4, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4]");

    CU_ASSERT_PTR_NULL(ttml_layernorm(a, g4, NULL, -1.0f, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "eps");

    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_tensor_unref(g4);
}

/* ---- the kernels refuse launches that would read out of bounds ---- */

static void test_kernel_checks(void)
{
    GError *err = NULL;
    ttml_tensor *x = ttml_test_rand_tensor(1, (const int64_t[]){6}, -1, 1, FALSE);
    ttml_tensor *y = ttml_test_rand_tensor(1, (const int64_t[]){4}, -1, 1, FALSE);
    ttml_strided_copy_params p = {2, 3, 3, 1, 2, 0};   /* reads x[1..7): past the end */
    CU_ASSERT_FALSE(ttml_launch_tensors("strided_copy", &x, 1, &y, 1, &p, sizeof p, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "outside");
    ttml_strided_copy_params ok = {2, 2, 3, 1, 2, 0};  /* x[1,2] and x[4,5] -> y */
    CU_ASSERT_TRUE(ttml_launch_tensors("strided_copy", &x, 1, &y, 1, &ok, sizeof ok, &err));
    TTML_ASSERT_NO_ERROR(err);
    float *xv = ttml_test_read_floats(x), *yv = ttml_test_read_floats(y);
    CU_ASSERT_EQUAL(yv[0], xv[1]);
    CU_ASSERT_EQUAL(yv[1], xv[2]);
    CU_ASSERT_EQUAL(yv[2], xv[4]);
    CU_ASSERT_EQUAL(yv[3], xv[5]);
    g_free(xv);
    g_free(yv);

    /* embedding_bwd checks ids too */
    const guint32 iv[2] = {1, 3};
    ttml_tensor *ids = make_ids(1, (const int64_t[]){2}, iv);
    ttml_tensor *dy = ttml_test_rand_tensor(2, (const int64_t[]){2, 2}, -1, 1, FALSE);
    ttml_tensor *dw = ttml_test_rand_tensor(2, (const int64_t[]){3, 2}, -1, 1, FALSE);
    ttml_tensor *in[2] = {ids, dy};
    CU_ASSERT_FALSE(ttml_launch_tensors("embedding_bwd", in, 2, &dw, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "id 3 at row 1");
    ttml_tensor *list[] = {x, y, ids, dy, dw};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
}

static CU_TestInfo tests[] = {
    {"layernorm", test_layernorm},
    {"rmsnorm", test_rmsnorm},
    {"gelu and silu", test_activations},
    {"swiglu (fused vs silu * up)", test_swiglu},
    {"softmax and log_softmax", test_softmax},
    {"dropout", test_dropout},
    {"reshape is a view", test_reshape},
    {"transpose", test_transpose},
    {"concat", test_concat},
    {"split", test_split},
    {"split backward writes one gradient per group", test_split_backward},
    {"cross_entropy_loss", test_cross_entropy},
    {"nll_loss", test_nll},
    {"embedding", test_embedding},
    {"embedding backward into an existing gradient", test_embedding_tied},
    {"shape errors name both shapes", test_shape_errors},
    {"kernel bounds checks", test_kernel_checks},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return ttml_test_run("nn_ops", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
