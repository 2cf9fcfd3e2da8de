/* tests/test_grad.c - the shared harness of the op and model suites (see
 * test_grad.h). */
#include "test_grad.h"

#include <math.h>
#include <string.h>

/* ---- tensors ---- */

size_t ttml_test_numel(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

ttml_tensor *ttml_test_tensor(int ndim, const int64_t *shape, const float *data,
                              gboolean requires_grad)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(NULL, ndim, shape, data, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    ttml_tensor_set_requires_grad(t, requires_grad);
    return t;
}

/* Uniform in [lo, hi), each value negated with probability 1/2 when
 * `random_sign` (one extra draw per value). */
static ttml_tensor *rand_tensor(int ndim, const int64_t *shape, float lo, float hi,
                                gboolean random_sign, gboolean requires_grad)
{
    size_t n = ttml_test_numel(ndim, shape);
    float *v = g_new(float, n);
    ttml_rng_fill_uniform(v, n, lo, hi);
    if (random_sign)
        for (size_t i = 0; i < n; i++)
            if (ttml_rng_uniform() < 0.5f) v[i] = -v[i];
    ttml_tensor *t = ttml_test_tensor(ndim, shape, v, requires_grad);
    g_free(v);
    return t;
}

ttml_tensor *ttml_test_rand_tensor(int ndim, const int64_t *shape, float lo, float hi,
                                   gboolean requires_grad)
{
    return rand_tensor(ndim, shape, lo, hi, FALSE, requires_grad);
}

ttml_tensor *ttml_test_rand_tensor_nonzero(int ndim, const int64_t *shape, float min_abs, float hi,
                                           gboolean requires_grad)
{
    return rand_tensor(ndim, shape, min_abs, hi, TRUE, requires_grad);
}

float *ttml_test_read_floats(const ttml_tensor *t)
{
    GError *err = NULL;
    float *v = g_new(float, t->numel);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, v, &err));
    TTML_ASSERT_NO_ERROR(err);
    return v;
}

/* ---- comparisons ---- */

gboolean ttml_test_close(double got, double want, double atol, double rtol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

int ttml_test_compare(const char *what, const float *got, const double *want, size_t n, double atol,
                      double rtol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (!ttml_test_close(got[i], want[i], atol, rtol) && bad++ < 5)
            fprintf(stderr, "\n%s[%zu] = %.7g, expected %.7g", what, i, got[i], want[i]);
    return bad;
}

int ttml_test_compare_f(const char *what, const float *got, const float *want, size_t n,
                        double atol, double rtol)
{
    double *w = g_new(double, n);
    for (size_t i = 0; i < n; i++) w[i] = want[i];
    int bad = ttml_test_compare(what, got, w, n, atol, rtol);
    g_free(w);
    return bad;
}

void ttml_test_assert_tensors_close(const char *what, const ttml_tensor *a, const ttml_tensor *b,
                                    double atol, double rtol)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(a->numel, b->numel);
    float *va = ttml_test_read_floats(a), *vb = ttml_test_read_floats(b);
    CU_ASSERT_EQUAL(ttml_test_compare_f(what, va, vb, a->numel, atol, rtol), 0);
    g_free(va);
    g_free(vb);
}

size_t ttml_test_bcast_index(const ttml_tensor *t, int ndim, const int64_t *shape, size_t flat)
{
    size_t idx = 0, stride = 1;
    for (int k = 1; k <= ndim; k++) {
        int64_t c = (int64_t)(flat % (size_t)shape[ndim - k]);
        flat /= (size_t)shape[ndim - k];
        if (k <= t->ndim) {
            int64_t d = t->shape[t->ndim - k];
            idx += (size_t)(d == 1 ? 0 : c) * stride;
            stride *= (size_t)d;
        }
    }
    return idx;
}

/* ---- gradient checks ---- */

double ttml_test_eval_loss(ttml_test_fwd_fn f, ttml_tensor **in, int n_in, const void *ctx,
                           const float *r)
{
    GError *err = NULL;
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *y = f(in, n_in, ctx, &err);
    ttml_set_grad_enabled(prev);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_PTR_NULL(y->node);
    float *v = ttml_test_read_floats(y);
    double loss = 0.0;
    for (size_t i = 0; i < y->numel; i++) loss += (double)v[i] * (double)r[i];
    g_free(v);
    ttml_tensor_unref(y);
    return loss;
}

void ttml_test_backward_weighted(ttml_tensor *y, const float *r)
{
    GError *err = NULL;
    ttml_tensor *rt = ttml_test_tensor(y->ndim, y->shape, r, FALSE);
    ttml_tensor *yr = ttml_mul(y, rt, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *loss = ttml_sum(yr, &err);
    TTML_ASSERT_NO_ERROR(err);
    /* at least y's node, the mul and the sum */
    CU_ASSERT_TRUE(ttml_graph_size() >= 3);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    ttml_tensor_unref(loss);
    ttml_tensor_unref(yr);
    ttml_tensor_unref(rt);
}

double ttml_test_central_diff(ttml_tensor *x, float *xv, size_t j, double h,
                              double (*loss)(void *user), void *user)
{
    GError *err = NULL;
    float orig = xv[j];
    xv[j] = (float)(orig + h);
    CU_ASSERT_TRUE(ttml_tensor_write(x, xv, &err));
    TTML_ASSERT_NO_ERROR(err);
    double lp = loss(user);
    xv[j] = (float)(orig - h);
    CU_ASSERT_TRUE(ttml_tensor_write(x, xv, &err));
    TTML_ASSERT_NO_ERROR(err);
    double lm = loss(user);
    xv[j] = orig;
    return (lp - lm) / (2.0 * h);
}

typedef struct {
    ttml_test_fwd_fn f;
    ttml_tensor **in;
    int n_in;
    const void *ctx;
    const float *r;
} op_loss;

static double op_loss_eval(void *user)
{
    const op_loss *l = user;
    return ttml_test_eval_loss(l->f, l->in, l->n_in, l->ctx, l->r);
}

/* The forward (against ref when not NULL), backward of sum(y * R) and the
 * finite-difference loop shared by ttml_test_gradcheck and ttml_test_check_op. */
static void check_op_impl(const char *what, ttml_test_fwd_fn f, ttml_test_ref_fn ref,
                          const void *ctx, ttml_tensor **in, int n_in, double fwd_atol,
                          double fwd_rtol, double h, double atol, double rtol)
{
    GError *err = NULL;
    CU_ASSERT_FATAL(n_in > 0 && n_in <= TTML_NODE_MAX_IN);
    ttml_reset_graph();
    for (int i = 0; i < n_in; i++) ttml_tensor_zero_grad(in[i]);

    ttml_tensor *y = f(in, n_in, ctx, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(y->dtype, TTML_DTYPE_F32);
    float *vals[TTML_NODE_MAX_IN] = {0};
    for (int i = 0; i < n_in; i++) vals[i] = ttml_test_read_floats(in[i]);
    char label[200];
    if (ref) {
        double *want = g_new0(double, y->numel);
        ref(in, vals, n_in, ctx, y, want);
        float *got = ttml_test_read_floats(y);
        g_snprintf(label, sizeof label, "%s: forward", what);
        CU_ASSERT_EQUAL(ttml_test_compare(label, got, want, y->numel, fwd_atol, fwd_rtol), 0);
        g_free(got);
        g_free(want);
    }

    /* loss = sum(y * R) */
    float *r = g_new(float, y->numel);
    ttml_rng_fill_uniform(r, y->numel, -1.0f, 1.0f);
    ttml_test_backward_weighted(y, r);
    ttml_tensor_unref(y);

    op_loss l = {f, in, n_in, ctx, r};
    for (int i = 0; i < n_in; i++) {
        ttml_tensor *x = in[i];
        if (!x->requires_grad) {
            CU_ASSERT_PTR_NULL(x->grad);
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(x->grad);
        CU_ASSERT_EQUAL_FATAL(x->grad->numel, x->numel);
        float *g = ttml_test_read_floats(x->grad);
        float *xv = vals[i];
        int bad = 0;
        for (size_t j = 0; j < x->numel; j++) {
            double fd = ttml_test_central_diff(x, xv, j, h, op_loss_eval, &l);
            if (!ttml_test_close(g[j], fd, atol, rtol) && bad++ < 5)
                fprintf(stderr, "\n%s: d/d in%d[%zu] = %.6g, finite difference %.6g", what, i, j,
                        g[j], fd);
        }
        CU_ASSERT_TRUE(ttml_tensor_write(x, xv, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(bad, 0);
        g_free(g);
        ttml_tensor_zero_grad(x);
    }
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    g_free(r);
    for (int i = 0; i < n_in; i++) g_free(vals[i]);
}

void ttml_test_gradcheck(const char *what, ttml_test_fwd_fn f, const void *ctx, ttml_tensor **in,
                         int n_in, double h, double atol, double rtol)
{
    check_op_impl(what, f, NULL, ctx, in, n_in, 0.0, 0.0, h, atol, rtol);
}

void ttml_test_check_op(const ttml_test_tol *tol, const char *what, ttml_test_fwd_fn f,
                        ttml_test_ref_fn ref, const void *ctx, ttml_tensor **in, int n_in)
{
    check_op_impl(what, f, ref, ctx, in, n_in, tol->fwd_atol, tol->fwd_rtol, tol->h, tol->atol,
                  tol->rtol);
}

/* ---- models ---- */

ttml_module *ttml_test_model_from_yaml(const char *name, const char *yaml, GError **err)
{
    ttml_config *cfg = ttml_config_load_string(yaml, "models.yaml", err);
    if (!cfg) return NULL;
    ttml_module *m = ttml_model_create(name, cfg, err);
    ttml_config_free(cfg);
    return m;
}

gsize ttml_test_check_params(ttml_module *m, const ttml_test_param *want, guint n)
{
    GPtrArray *params = ttml_module_parameters(m);
    CU_ASSERT_EQUAL(params->len, n);
    gsize total = 0;
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        total += p->tensor->numel;
        if (i >= n) continue;
        if (strcmp(p->name, want[i].name) != 0)
            fprintf(stderr, "\n  param %u is '%s', want '%s'\n", i, p->name, want[i].name);
        CU_ASSERT_STRING_EQUAL(p->name, want[i].name);
        CU_ASSERT_EQUAL(p->tensor->ndim, want[i].ndim);
        CU_ASSERT_EQUAL(p->tensor->shape[0], want[i].d0);
        if (want[i].ndim == 2) CU_ASSERT_EQUAL(p->tensor->shape[1], want[i].d1);
        CU_ASSERT_TRUE(p->tensor->requires_grad);
    }
    CU_ASSERT_EQUAL(ttml_module_num_params(m), total);
    g_ptr_array_unref(params);
    return total;
}
