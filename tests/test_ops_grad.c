/* tests/test_ops_grad.c - the core_ops plugin: forward values against naive
 * loops in double, backward against central finite differences, graph
 * bookkeeping and shape errors.
 *
 * Gradient check: loss = sum(op(inputs) * R) with R a fixed random tensor, so
 * every output element matters; each input element is perturbed by +-h and
 * (L+ - L-) / 2h (loss accumulated in double on the host, forward run with
 * gradients disabled) is compared with the analytic gradient.
 */
#include "test_grad.h"

#include <math.h>
#include <string.h>

/* forward vs the naive reference; gradients vs central differences of step h */
static const ttml_test_tol TOL = {
    .fwd_atol = 1e-4, .fwd_rtol = 1e-4, .h = 1e-2, .atol = 2e-3, .rtol = 2e-2};

/* ---- elementwise binary ops with broadcasting ---- */

static ttml_tensor *f_binary(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    switch (*(const ttml_binary_op *)ctx) {
    case TTML_BINARY_ADD: return ttml_add(in[0], in[1], error);
    case TTML_BINARY_SUB: return ttml_sub(in[0], in[1], error);
    case TTML_BINARY_MUL: return ttml_mul(in[0], in[1], error);
    case TTML_BINARY_DIV: return ttml_div(in[0], in[1], error);
    }
    return NULL;
}

static void ref_binary(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                       const ttml_tensor *y,
                       double *out)
{
    /* expected output shape: right-aligned max of the inputs */
    int nd = MAX(in[0]->ndim, in[1]->ndim);
    CU_ASSERT_EQUAL_FATAL(y->ndim, nd);
    for (int k = 1; k <= nd; k++) {
        int64_t da = k <= in[0]->ndim ? in[0]->shape[in[0]->ndim - k] : 1;
        int64_t db = k <= in[1]->ndim ? in[1]->shape[in[1]->ndim - k] : 1;
        CU_ASSERT_EQUAL_FATAL(y->shape[nd - k], MAX(da, db));
    }
    for (size_t i = 0; i < y->numel; i++) {
        double a = vals[0][ttml_test_bcast_index(in[0], y->ndim, y->shape, i)];
        double b = vals[1][ttml_test_bcast_index(in[1], y->ndim, y->shape, i)];
        switch (*(const ttml_binary_op *)ctx) {
        case TTML_BINARY_ADD: out[i] = a + b; break;
        case TTML_BINARY_SUB: out[i] = a - b; break;
        case TTML_BINARY_MUL: out[i] = a * b; break;
        case TTML_BINARY_DIV: out[i] = a / b; break;
        }
    }
}

static void check_binary(ttml_binary_op op, int nda, const int64_t *sa, int ndb, const int64_t *sb,
                         gboolean grad_b)
{
    static const char *names[] = {"add", "sub", "mul", "div"};
    char what[128], s1[64], s2[64];
    g_snprintf(what, sizeof what, "%s %s %s", names[op], ttml_shape_str(nda, sa, s1, sizeof s1),
               ttml_shape_str(ndb, sb, s2, sizeof s2));
    ttml_tensor *in[2];
    in[0] = ttml_test_rand_tensor(nda, sa, -2.0f, 2.0f, TRUE);
    /* divisors in +-[0.5, 2) */
    in[1] = op == TTML_BINARY_DIV ? ttml_test_rand_tensor_nonzero(ndb, sb, 0.5f, 2.0f, grad_b)
                                  : ttml_test_rand_tensor(ndb, sb, -2.0f, 2.0f, grad_b);
    ttml_test_check_op(&TOL, what, f_binary, ref_binary, &op, in, 2);
    ttml_tensor_unref(in[0]);
    ttml_tensor_unref(in[1]);
}

static const int64_t S234[] = {2, 3, 4}, S4[] = {4}, S31[] = {3, 1}, S1[] = {1}, S23[] = {2, 3};
static const int64_t S134[] = {1, 3, 4}, S214[] = {2, 1, 4}, S21[] = {2, 1};

static void check_binary_all(ttml_binary_op op)
{
    check_binary(op, 3, S234, 3, S234, TRUE);     /* same shape         */
    check_binary(op, 3, S234, 1, S4, TRUE);       /* [4]: bias-like     */
    check_binary(op, 3, S234, 2, S31, TRUE);      /* [3, 1]             */
    check_binary(op, 3, S234, 1, S1, TRUE);       /* scalar-like [1]    */
    check_binary(op, 1, S4, 3, S234, TRUE);       /* first broadcasts   */
    check_binary(op, 3, S134, 3, S214, TRUE);     /* both broadcast     */
    check_binary(op, 2, S23, 2, S21, FALSE);      /* b without grad     */
}

static void test_add(void) { check_binary_all(TTML_BINARY_ADD); }
static void test_sub(void) { check_binary_all(TTML_BINARY_SUB); }
static void test_mul(void) { check_binary_all(TTML_BINARY_MUL); }
static void test_div(void) { check_binary_all(TTML_BINARY_DIV); }

/* ---- scalar ops ---- */

typedef struct { gboolean mul; float s; } scalar_ctx;

static ttml_tensor *f_scalar(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    const scalar_ctx *c = ctx;
    return c->mul ? ttml_mul_scalar(in[0], c->s, error) : ttml_add_scalar(in[0], c->s, error);
}

static void ref_scalar(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                       const ttml_tensor *y,
                       double *out)
{
    const scalar_ctx *c = ctx;
    CU_ASSERT_TRUE_FATAL(ttml_shape_equal(in[0], y));
    for (size_t i = 0; i < y->numel; i++)
        out[i] = c->mul ? (double)vals[0][i] * c->s : (double)vals[0][i] + c->s;
}

static void test_scalar_ops(void)
{
    const scalar_ctx cases[] = {{FALSE, 1.5f}, {FALSE, -0.25f}, {TRUE, 2.5f}, {TRUE, -0.75f}};
    for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
        ttml_tensor *x = ttml_test_rand_tensor(3, S234, -2.0f, 2.0f, TRUE);
        ttml_test_check_op(&TOL, cases[k].mul ? "mul_scalar" : "add_scalar", f_scalar, ref_scalar,
                           &cases[k], &x, 1);
        ttml_tensor_unref(x);
    }
}

/* ---- matmul ---- */

typedef struct { int ta, tb; } mm_ctx;

static ttml_tensor *f_matmul(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    const mm_ctx *c = ctx;
    return ttml_matmul(in[0], in[1], c->ta, c->tb, error);
}

static int64_t batch_count(const ttml_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 2; i++) n *= t->shape[i];
    return n;
}

static void ref_matmul(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                       const ttml_tensor *y,
                       double *out)
{
    const mm_ctx *c = ctx;
    const ttml_tensor *a = in[0], *b = in[1];
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    int64_t M = c->ta ? ac : ar, K = c->ta ? ar : ac, N = c->tb ? br : bc;
    int64_t nb = batch_count(a), bb = batch_count(b);
    CU_ASSERT_EQUAL_FATAL(y->ndim, MAX(a->ndim, b->ndim));
    CU_ASSERT_EQUAL_FATAL(y->shape[y->ndim - 2], M);
    CU_ASSERT_EQUAL_FATAL(y->shape[y->ndim - 1], N);
    CU_ASSERT_EQUAL_FATAL((int64_t)y->numel, nb * M * N);
    for (int64_t p = 0; p < nb; p++) {
        const float *A = vals[0] + p * ar * ac;
        const float *B = vals[1] + (bb == 1 ? 0 : p) * br * bc;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    double av = c->ta ? A[k * ac + i] : A[i * ac + k];
                    double bv = c->tb ? B[j * bc + k] : B[k * bc + j];
                    s += av * bv;
                }
                out[(p * M + i) * N + j] = s;
            }
    }
}

static void check_matmul(int ta, int tb, int nda, const int64_t *sa, int ndb, const int64_t *sb)
{
    char what[160], s1[64], s2[64];
    g_snprintf(what, sizeof what, "matmul %s %s ta=%d tb=%d", ttml_shape_str(nda, sa, s1,
               sizeof s1),
               ttml_shape_str(ndb, sb, s2, sizeof s2), ta, tb);
    mm_ctx c = {ta, tb};
    ttml_tensor *in[2] = {ttml_test_rand_tensor(nda, sa, -1.0f, 1.0f, TRUE),
                          ttml_test_rand_tensor(ndb, sb, -1.0f, 1.0f, TRUE)};
    ttml_test_check_op(&TOL, what, f_matmul, ref_matmul, &c, in, 2);
    ttml_tensor_unref(in[0]);
    ttml_tensor_unref(in[1]);
}

static void test_matmul_trans(void)
{
    /* [3, 4] x [4, 5] in every transposed layout */
    check_matmul(0, 0, 2, (const int64_t[]){3, 4}, 2, (const int64_t[]){4, 5});
    check_matmul(1, 0, 2, (const int64_t[]){4, 3}, 2, (const int64_t[]){4, 5});
    check_matmul(0, 1, 2, (const int64_t[]){3, 4}, 2, (const int64_t[]){5, 4});
    check_matmul(1, 1, 2, (const int64_t[]){4, 3}, 2, (const int64_t[]){5, 4});
}

static void test_matmul_batched(void)
{
    /* shared weights: [2, 3, 4] x [4, 5], in every layout */
    check_matmul(0, 0, 3, (const int64_t[]){2, 3, 4}, 2, (const int64_t[]){4, 5});
    check_matmul(0, 1, 3, (const int64_t[]){2, 3, 4}, 2, (const int64_t[]){5, 4});
    check_matmul(1, 0, 3, (const int64_t[]){2, 4, 3}, 2, (const int64_t[]){4, 5});
    check_matmul(1, 1, 3, (const int64_t[]){2, 4, 3}, 2, (const int64_t[]){5, 4});
    /* shared with an explicit batch of 1 */
    check_matmul(0, 0, 3, (const int64_t[]){2, 3, 4}, 3, (const int64_t[]){1, 4, 5});
    /* batched both: [2, 3, 4] x [2, 4, 5] */
    check_matmul(0, 0, 3, (const int64_t[]){2, 3, 4}, 3, (const int64_t[]){2, 4, 5});
    check_matmul(1, 1, 3, (const int64_t[]){2, 4, 3}, 3, (const int64_t[]){2, 5, 4});
    /* 4-D [B, 1, S, F] x [B, 1, F, N] */
    check_matmul(0, 0, 4, (const int64_t[]){2, 1, 3, 4}, 4, (const int64_t[]){2, 1, 4, 2});
}

/* ---- linear ---- */

static ttml_tensor *f_linear(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_linear(in[0], in[1], n_in > 2 ? in[2] : NULL, error);
}

static void ref_linear(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                       const ttml_tensor *y,
                       double *out)
{
    const ttml_tensor *x = in[0], *w = in[1];
    int64_t n_out = w->shape[0], n_inf = w->shape[1], rows = (int64_t)x->numel / n_inf;
    CU_ASSERT_EQUAL_FATAL(y->ndim, x->ndim);
    for (int i = 0; i < x->ndim - 1; i++) CU_ASSERT_EQUAL_FATAL(y->shape[i], x->shape[i]);
    CU_ASSERT_EQUAL_FATAL(y->shape[y->ndim - 1], n_out);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = n_in > 2 ? vals[2][o] : 0.0;
            for (int64_t k = 0; k < n_inf; k++)
                s += (double)vals[0][r * n_inf + k] * vals[1][o * n_inf + k];
            out[r * n_out + o] = s;
        }
}

static void test_linear(void)
{
    const int64_t xs[] = {2, 1, 3, 4}, ws[] = {5, 4}, bs[] = {5};
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        ttml_tensor *in[3] = {ttml_test_rand_tensor(4, xs, -1.0f, 1.0f, TRUE),
                              ttml_test_rand_tensor(2, ws, -1.0f, 1.0f, TRUE),
                              ttml_test_rand_tensor(1, bs, -1.0f, 1.0f, TRUE)};
        ttml_test_check_op(&TOL, with_bias ? "linear with bias" : "linear without bias", f_linear,
                           ref_linear, NULL, in, with_bias ? 3 : 2);
        for (int i = 0; i < 3; i++) ttml_tensor_unref(in[i]);
    }
    /* 2-D input, frozen weight */
    ttml_tensor *in[3] = {ttml_test_rand_tensor(2, (const int64_t[]){3, 4}, -1.0f, 1.0f, TRUE),
                          ttml_test_rand_tensor(2, ws, -1.0f, 1.0f, FALSE),
                          ttml_test_rand_tensor(1, bs, -1.0f, 1.0f, TRUE)};
    ttml_test_check_op(&TOL, "linear 2-D, frozen weight", f_linear, ref_linear, NULL, in, 3);
    for (int i = 0; i < 3; i++) ttml_tensor_unref(in[i]);
}

/* ---- relu, sum, mean ---- */

static ttml_tensor *f_relu(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_relu(in[0], error);
}

static void ref_relu(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                     const ttml_tensor *y,
                     double *out)
{
    CU_ASSERT_TRUE_FATAL(ttml_shape_equal(in[0], y));
    for (size_t i = 0; i < y->numel; i++) out[i] = vals[0][i] > 0.0f ? vals[0][i] : 0.0;
}

static void test_relu(void)
{
    /* |x| >= 0.1 > h */
    ttml_tensor *x = ttml_test_rand_tensor_nonzero(3, S234, 0.1f, 2.0f, TRUE);
    ttml_test_check_op(&TOL, "relu", f_relu, ref_relu, NULL, &x, 1);
    ttml_tensor_unref(x);
}

static ttml_tensor *f_reduce(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return *(const gboolean *)ctx ? ttml_mean(in[0], error) : ttml_sum(in[0], error);
}

static void ref_reduce(ttml_tensor **in, float **vals, int n_in, const void *ctx,
                       const ttml_tensor *y,
                       double *out)
{
    CU_ASSERT_EQUAL_FATAL(y->ndim, 1);
    CU_ASSERT_EQUAL_FATAL(y->shape[0], 1);
    double s = 0.0;
    for (size_t i = 0; i < in[0]->numel; i++) s += vals[0][i];
    out[0] = *(const gboolean *)ctx ? s / (double)in[0]->numel : s;
}

static void test_sum_mean(void)
{
    for (int mean = 0; mean <= 1; mean++) {
        gboolean m = mean;
        ttml_tensor *x = ttml_test_rand_tensor(3, S234, -2.0f, 2.0f, TRUE);
        ttml_test_check_op(&TOL, mean ? "mean" : "sum", f_reduce, ref_reduce, &m, &x, 1);
        ttml_tensor_unref(x);
        x = ttml_test_rand_tensor(4, (const int64_t[]){2, 1, 3, 2}, -2.0f, 2.0f, TRUE);
        ttml_test_check_op(&TOL, mean ? "mean 4-D" : "sum 4-D", f_reduce, ref_reduce, &m, &x, 1);
        ttml_tensor_unref(x);
    }
}

/* ---- mse_loss ---- */

static ttml_tensor *f_mse(ttml_tensor **in, int n_in, const void *ctx, GError **error)
{
    return ttml_mse_loss(in[0], in[1], *(const ttml_reduction *)ctx, error);
}

static void ref_mse(ttml_tensor **in, float **vals, int n_in, const void *ctx, const ttml_tensor *y,
                    double *out)
{
    CU_ASSERT_EQUAL_FATAL(y->numel, 1);
    double s = 0.0;
    for (size_t i = 0; i < in[0]->numel; i++) {
        double d = (double)vals[0][i] - vals[1][i];
        s += d * d;
    }
    out[0] = *(const ttml_reduction *)ctx == TTML_REDUCE_MEAN ? s / (double)in[0]->numel : s;
}

static void test_mse_loss(void)
{
    const ttml_reduction reds[] = {TTML_REDUCE_MEAN, TTML_REDUCE_SUM};
    for (int k = 0; k < 2; k++) {
        for (int target_grad = 0; target_grad <= 1; target_grad++) {
            ttml_tensor *in[2] = {ttml_test_rand_tensor(3, S234, -2.0f, 2.0f, TRUE),
                                  ttml_test_rand_tensor(3, S234, -2.0f, 2.0f, target_grad)};
            ttml_test_check_op(&TOL, reds[k] == TTML_REDUCE_MEAN ? "mse_loss mean" : "mse_loss sum",
                               f_mse, ref_mse, &reds[k], in, 2);
            ttml_tensor_unref(in[0]);
            ttml_tensor_unref(in[1]);
        }
    }
}

/* ---- graph behaviour ---- */

static void test_grad_accumulates_for_reused_input(void)
{
    GError *err = NULL;
    ttml_reset_graph();
    const float xv[] = {-1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f};
    ttml_tensor *x = ttml_test_tensor(2, S23, xv, TRUE);
    ttml_tensor *xx = ttml_mul(x, x, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *y = ttml_add(xx, x, &err);       /* y = x*x + x */
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *loss = ttml_sum(y, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 3);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x->grad);
    float *g = ttml_test_read_floats(x->grad);
    for (int i = 0; i < 6; i++) CU_ASSERT_DOUBLE_EQUAL(g[i], 2.0 * xv[i] + 1.0, 1e-6);
    g_free(g);
    ttml_tensor_unref(loss);
    ttml_tensor_unref(y);
    ttml_tensor_unref(xx);
    ttml_tensor_unref(x);
}

static void test_retain_graph_accumulates(void)
{
    GError *err = NULL;
    ttml_reset_graph();
    const float xv[] = {1.0f, -2.0f, 0.5f, 4.0f}, wv[] = {3.0f, 0.5f, -1.0f, 2.0f};
    ttml_tensor *x = ttml_test_tensor(2, (const int64_t[]){2, 2}, xv, TRUE);
    ttml_tensor *w = ttml_test_tensor(2, (const int64_t[]){2, 2}, wv, TRUE);
    ttml_tensor *y = ttml_mul(x, w, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *loss = ttml_mean(y, &err);      /* dL/dx = w / 4, dL/dw = x / 4 */
    TTML_ASSERT_NO_ERROR(err);
    guint n = ttml_graph_size();
    CU_ASSERT_EQUAL(n, 2);
    for (int pass = 1; pass <= 2; pass++) {
        CU_ASSERT_TRUE(ttml_backward(loss, NULL, TRUE, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(ttml_graph_size(), n);
        float *gx = ttml_test_read_floats(x->grad), *gw = ttml_test_read_floats(w->grad);
        for (int i = 0; i < 4; i++) {
            CU_ASSERT_DOUBLE_EQUAL(gx[i], pass * wv[i] / 4.0, 1e-6);
            CU_ASSERT_DOUBLE_EQUAL(gw[i], pass * xv[i] / 4.0, 1e-6);
        }
        g_free(gx);
        g_free(gw);
    }
    ttml_reset_graph();
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    ttml_tensor_unref(loss);
    ttml_tensor_unref(y);
    ttml_tensor_unref(w);
    ttml_tensor_unref(x);
}

/* Without retain_graph, backward frees each node once it ran: the
 * activations a chain saved are released while the weights' gradients are
 * created, so its memory peak is lower than when the graph is retained, by
 * about the activations of all but the last link; the gradients are the same. */
static void test_backward_frees_nodes(void)
{
    GError *err = NULL;
    enum { K = 6, N = 4096 };
    const int64_t shape[1] = {N};
    ttml_tensor *x = ttml_test_rand_tensor(1, shape, -1, 1, FALSE);
    ttml_tensor *w[K];
    for (int k = 0; k < K; k++) w[k] = ttml_test_rand_tensor(1, shape, 0.5f, 1.5f, TRUE);
    ttml_device *dev = x->device;
    guint64 extra[2];
    float *g0[2];
    for (int retain = 0; retain < 2; retain++) {
        ttml_reset_graph();
        ttml_tensor *h = ttml_tensor_ref(x);
        for (int k = 0; k < K; k++) {      /* h = h * w_k: each link saves h and w_k */
            ttml_tensor *next = ttml_mul(h, w[k], &err);
            TTML_ASSERT_NO_ERROR(err);
            ttml_tensor_unref(h);
            h = next;
        }
        ttml_tensor *loss = ttml_sum(h, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(h);
        guint64 before = ttml_device_mem_current(dev, TTML_MEM_DRAM);
        ttml_device_reset_peak(dev);
        CU_ASSERT_TRUE(ttml_backward(loss, NULL, retain, &err));
        TTML_ASSERT_NO_ERROR(err);
        extra[retain] = ttml_device_mem_peak(dev, TTML_MEM_DRAM) - before;
        g0[retain] = ttml_test_read_floats(w[0]->grad);
        for (int k = 0; k < K; k++) ttml_tensor_zero_grad(w[k]);
        ttml_reset_graph();
        ttml_tensor_unref(loss);
    }
    for (int i = 0; i < N; i++) CU_ASSERT_EQUAL(g0[0][i], g0[1][i]);
    /* the retained graph keeps K - 1 more activations of N floats alive while
     * the K gradients exist */
    CU_ASSERT_TRUE(extra[0] + (K - 2) * N * sizeof(float) <= extra[1]);
    g_free(g0[0]);
    g_free(g0[1]);
    for (int k = 0; k < K; k++) ttml_tensor_unref(w[k]);
    ttml_tensor_unref(x);
}

static void test_no_graph_when_disabled(void)
{
    GError *err = NULL;
    ttml_reset_graph();
    ttml_tensor *x = ttml_test_rand_tensor(2, S23, -1.0f, 1.0f, TRUE);
    ttml_tensor *w = ttml_test_rand_tensor(2, (const int64_t[]){4, 3}, -1.0f, 1.0f, TRUE);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *outs[6];
    outs[0] = ttml_mul(x, x, &err);
    TTML_ASSERT_NO_ERROR(err);
    outs[1] = ttml_linear(x, w, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    outs[2] = ttml_relu(x, &err);
    TTML_ASSERT_NO_ERROR(err);
    outs[3] = ttml_mean(x, &err);
    TTML_ASSERT_NO_ERROR(err);
    outs[4] = ttml_mse_loss(x, x, TTML_REDUCE_SUM, &err);
    TTML_ASSERT_NO_ERROR(err);
    outs[5] = ttml_add_scalar(x, 1.0f, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_set_grad_enabled(prev);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_PTR_NOT_NULL(outs[i]);
        CU_ASSERT_FALSE(outs[i]->requires_grad);
        CU_ASSERT_PTR_NULL(outs[i]->node);
        ttml_tensor_unref(outs[i]);
    }
    /* nor when no input requires grad */
    ttml_tensor *c = ttml_test_rand_tensor(2, S23, -1.0f, 1.0f, FALSE);
    ttml_tensor *cc = ttml_mul(c, c, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    CU_ASSERT_FALSE(cc->requires_grad);
    /* and enabled again: recorded */
    ttml_tensor *xc = ttml_mul(x, c, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 1);
    CU_ASSERT_TRUE(xc->requires_grad);
    CU_ASSERT_PTR_NOT_NULL(xc->node);
    ttml_reset_graph();
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    CU_ASSERT_PTR_NULL(xc->node);
    ttml_tensor_unref(xc);
    ttml_tensor_unref(cc);
    ttml_tensor_unref(c);
    ttml_tensor_unref(w);
    ttml_tensor_unref(x);
}

/* ---- errors ---- */

static void test_shape_errors(void)
{
    GError *err = NULL;
    ttml_reset_graph();
    ttml_tensor *a23 = ttml_test_rand_tensor(2, S23, -1.0f, 1.0f, TRUE);
    ttml_tensor *b4 = ttml_test_rand_tensor(1, S4, -1.0f, 1.0f, TRUE);
    ttml_tensor *m45 = ttml_test_rand_tensor(2, (const int64_t[]){4, 5}, -1.0f, 1.0f, TRUE);
    ttml_tensor *p2 = ttml_test_rand_tensor(1, (const int64_t[]){2}, -1.0f, 1.0f, TRUE);
    ttml_tensor *t3 = ttml_test_rand_tensor(1, (const int64_t[]){3}, -1.0f, 1.0f, FALSE);

    CU_ASSERT_PTR_NULL(ttml_add(a23, b4, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[4]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "add"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3]");

    CU_ASSERT_PTR_NULL(ttml_div(b4, a23, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3]");

    CU_ASSERT_PTR_NULL(ttml_matmul(a23, m45, FALSE, FALSE, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[4, 5]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3]");

    /* batch dims that do not match */
    ttml_tensor *b234 = ttml_test_rand_tensor(3, S234, -1.0f, 1.0f, FALSE);
    ttml_tensor *b345 = ttml_test_rand_tensor(3, (const int64_t[]){3, 4, 5}, -1.0f, 1.0f, FALSE);
    CU_ASSERT_PTR_NULL(ttml_matmul(b234, b345, FALSE, FALSE, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[3, 4, 5]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3, 4]");

    CU_ASSERT_PTR_NULL(ttml_mse_loss(p2, t3, TTML_REDUCE_MEAN, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[3]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2]");

    /* linear: in_features mismatch, bias mismatch */
    CU_ASSERT_PTR_NULL(ttml_linear(a23, m45, NULL, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[4, 5]");
    ttml_tensor *w43 = ttml_test_rand_tensor(2, (const int64_t[]){4, 3}, -1.0f, 1.0f, TRUE);
    CU_ASSERT_PTR_NULL(ttml_linear(a23, w43, t3, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[3]");

    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    ttml_tensor_unref(w43);
    ttml_tensor_unref(b345);
    ttml_tensor_unref(b234);
    ttml_tensor_unref(t3);
    ttml_tensor_unref(p2);
    ttml_tensor_unref(m45);
    ttml_tensor_unref(b4);
    ttml_tensor_unref(a23);
}

static void test_bad_inputs(void)
{
    GError *err = NULL;
    ttml_tensor *x = ttml_test_rand_tensor(2, S23, -1.0f, 1.0f, FALSE);
    /* wrong input counts */
    CU_ASSERT_PTR_NULL(ttml_op_call("add", &x, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "add");
    ttml_tensor *four[4] = {x, x, x, x};
    CU_ASSERT_PTR_NULL(ttml_op_call("linear", four, 4, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "linear");
    /* wrong dtype */
    ttml_tensor *u = ttml_tensor_empty(NULL, 2, S23, TTML_DTYPE_U32, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NULL(ttml_add(x, u, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "u32");
    CU_ASSERT_PTR_NULL(ttml_relu(u, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "f32");
    /* unknown op */
    CU_ASSERT_PTR_NULL(ttml_op_call("no_such_op", &x, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "no_such_op");
    ttml_tensor_unref(u);
    ttml_tensor_unref(x);
}

/* ---- broadcast helper ---- */

static void test_broadcast_shapes(void)
{
    GError *err = NULL;
    ttml_tensor *a = ttml_tensor_empty(NULL, 3, (const int64_t[]){2, 1, 4}, TTML_DTYPE_F32, &err);
    ttml_tensor *b = ttml_tensor_empty(NULL, 2, S31, TTML_DTYPE_F32, &err);
    ttml_tensor *c = ttml_tensor_empty(NULL, 2, S23, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    int nd = 0;
    int64_t shape[TTML_MAX_DIMS] = {0};
    CU_ASSERT_TRUE(ttml_broadcast_shapes("t", a, b, &nd, shape, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(nd, 3);
    CU_ASSERT_EQUAL(shape[0], 2);
    CU_ASSERT_EQUAL(shape[1], 3);
    CU_ASSERT_EQUAL(shape[2], 4);
    CU_ASSERT_FALSE(ttml_broadcast_shapes("myop", a, c, &nd, shape, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "myop"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 1, 4]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "dim -1: 4 vs 3"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3]");
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_tensor_unref(c);
}

static CU_TestInfo tests[] = {
    {"add (broadcasting)", test_add},
    {"sub (broadcasting)", test_sub},
    {"mul (broadcasting)", test_mul},
    {"div (broadcasting)", test_div},
    {"add_scalar / mul_scalar", test_scalar_ops},
    {"matmul transposes", test_matmul_trans},
    {"matmul batched and shared", test_matmul_batched},
    {"linear with and without bias", test_linear},
    {"relu", test_relu},
    {"sum and mean", test_sum_mean},
    {"mse_loss mean and sum", test_mse_loss},
    {"gradient accumulates for a reused input", test_grad_accumulates_for_reused_input},
    {"retain_graph twice doubles gradients", test_retain_graph_accumulates},
    {"backward frees each node as it runs (lower peak)", test_backward_frees_nodes},
    {"no graph when grad is disabled", test_no_graph_when_disabled},
    {"shape errors name both shapes", test_shape_errors},
    {"bad input count and dtype", test_bad_inputs},
    {"broadcast_shapes helper", test_broadcast_shapes},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return ttml_test_run("ops_grad", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
