/* tests/test_core.c - tensors, bf16, RNG, graph bookkeeping and handles, modules, memory
 * tracking, and the cpu kernel fallback through a driver without kernels. */
#include "test_util.h"

#include <math.h>
#include <string.h>

static int init_suite(void)
{
    GError *err = NULL;
    const char *paths[] = {TTML_TEST_BINARY_DIR "/fixtures/drivers", NULL};
    ttml_init_options o = {sizeof o, paths, NULL, TRUE, FALSE};
    if (!ttml_init(&o, &err) || !ttml_context_open_device("cpu", &err)) {
        fprintf(stderr, "init: %s\n", err->message);
        return 1;
    }
    return 0;
}

static void test_tensor_roundtrip(void)
{
    GError *err = NULL;
    int64_t shape[3] = {2, 3, 4};
    float v[24], back[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i * 0.5f - 3.0f;
    ttml_tensor *t = ttml_tensor_from_floats(NULL, 3, shape, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(t->numel, 24);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, back, &err));
    CU_ASSERT_EQUAL(memcmp(v, back, sizeof v), 0);
    ttml_tensor *z = ttml_tensor_full(NULL, 3, shape, TTML_DTYPE_F32, 2.5f, &err);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(z, back, &err));
    for (int i = 0; i < 24; i++) CU_ASSERT_EQUAL(back[i], 2.5f);
    /* clone is a deep copy */
    ttml_tensor *c = ttml_tensor_clone(t, &err);
    CU_ASSERT_PTR_NOT_EQUAL(c->buf, t->buf);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(c, back, &err));
    CU_ASSERT_EQUAL(memcmp(v, back, sizeof v), 0);
    /* a view shares the buffer */
    int64_t flat[2] = {6, 4};
    ttml_tensor *w = ttml_tensor_view_as(t, 2, flat, &err);
    CU_ASSERT_PTR_EQUAL(w->buf, t->buf);
    CU_ASSERT_EQUAL(w->buf->ref, 2);
    int64_t bad[1] = {25};
    CU_ASSERT_PTR_NULL(ttml_tensor_view_as(t, 1, bad, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3, 4]");
    /* a view of a range: elements 10..15 as [2, 3]; writes show in both */
    int64_t two3[2] = {2, 3};
    ttml_tensor *r = ttml_tensor_view_at(t, 10, 2, two3, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_EQUAL(r->buf, t->buf);
    CU_ASSERT_EQUAL(r->numel, 6);
    float rv[6] = {0}, six[6] = {9, 8, 7, 6, 5, 4};
    CU_ASSERT_TRUE(ttml_tensor_to_floats(r, rv, &err));
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(rv[i], v[10 + i]);
    CU_ASSERT_TRUE(ttml_tensor_write(r, six, &err));
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, back, &err));
    for (int i = 0; i < 24; i++) CU_ASSERT_EQUAL(back[i], i >= 10 && i < 16 ? six[i - 10] : v[i]);
    CU_ASSERT_TRUE(ttml_tensor_write(t, v, &err));
    ttml_tensor_unref(r);
    /* the range must end inside the tensor: 19 + 6 > 24 */
    CU_ASSERT_PTR_NULL(ttml_tensor_view_at(t, 19, 2, two3, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "past the end");
    CU_ASSERT_TRUE(isnan(ttml_tensor_item(t, &err)));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "[2, 3, 4]");
    int64_t five[5] = {1, 1, 1, 1, 1};
    CU_ASSERT_PTR_NULL(ttml_tensor_empty(NULL, 5, five, TTML_DTYPE_F32, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "1 to 4 dims");
    ttml_tensor_unref(w);
    ttml_tensor_unref(c);
    ttml_tensor_unref(z);
    ttml_tensor_unref(t);
}

static void test_bf16(void)
{
    /* 7 stored mantissa bits: ulp(1) = 2^-7; halfway cases round to even */
    CU_ASSERT_EQUAL(ttml_bf16_to_f32(ttml_f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
    CU_ASSERT_EQUAL(ttml_bf16_to_f32(ttml_f32_to_bf16(1.0f + 3.0f / 256)), 1.015625f);
    CU_ASSERT_EQUAL(ttml_bf16_to_f32(ttml_f32_to_bf16(1.0f + 1.0f / 256 + 1.0f / 4096)), 1.0078125f);
    CU_ASSERT_EQUAL(ttml_f32_to_bf16(-2.0f), 0xc000);
    CU_ASSERT_TRUE(isnan(ttml_bf16_to_f32(ttml_f32_to_bf16(NAN))));
    CU_ASSERT_TRUE(isinf(ttml_bf16_to_f32(ttml_f32_to_bf16(INFINITY))));
    /* a bf16 tensor stores rounded values and reads them back as f32 */
    GError *err = NULL;
    guint16 raw[2] = {ttml_f32_to_bf16(3.14159f), ttml_f32_to_bf16(-0.5f)};
    int64_t shape[1] = {2};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 1, shape, TTML_DTYPE_BF16, raw, &err);
    TTML_ASSERT_NO_ERROR(err);
    float back[2];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, back, &err));
    CU_ASSERT_EQUAL(back[0], 3.140625f);
    CU_ASSERT_EQUAL(back[1], -0.5f);
    ttml_tensor_unref(t);
}

static void test_rng(void)
{
    float a[1000], b[1000];
    ttml_set_seed(42);
    ttml_rng_fill_uniform(a, 500, 0.0f, 1.0f);
    ttml_rng_state mid = ttml_get_rng_state();
    ttml_rng_fill_uniform(a + 500, 500, 0.0f, 1.0f);
    ttml_set_seed(42);
    ttml_rng_fill_uniform(b, 1000, 0.0f, 1.0f);
    CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
    ttml_set_rng_state(mid);
    ttml_rng_fill_uniform(b, 500, 0.0f, 1.0f);
    CU_ASSERT_EQUAL(memcmp(a + 500, b, 500 * sizeof(float)), 0);
    ttml_set_seed(43);
    ttml_rng_fill_uniform(b, 1000, 0.0f, 1.0f);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof a), 0);
    for (int i = 0; i < 1000; i++) CU_ASSERT_TRUE(a[i] >= 0.0f && a[i] < 1.0f);
    /* normal: sample mean and variance of 200k draws */
    enum { N = 200000 };
    float *z = g_new(float, N);
    ttml_rng_fill_normal(z, N, 1.0f, 2.0f);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) s += z[i];
    double mean = s / N;
    for (int i = 0; i < N; i++) s2 += (z[i] - mean) * (z[i] - mean);
    CU_ASSERT_DOUBLE_EQUAL(mean, 1.0, 0.02);
    CU_ASSERT_DOUBLE_EQUAL(sqrt(s2 / N), 2.0, 0.02);
    g_free(z);
}

static void test_graph_bookkeeping(void)
{
    GError *err = NULL;
    int64_t shape[1] = {3};
    float v[3] = {1, 2, 3};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 1, shape, v, &err);
    ttml_tensor *c = ttml_tensor_from_floats(NULL, 1, shape, v, &err);
    /* no input requires grad: nothing recorded, backward refuses */
    ttml_tensor *y = ttml_mul(x, c, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    CU_ASSERT_FALSE(y->requires_grad);
    CU_ASSERT_FALSE(ttml_backward(y, NULL, FALSE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "does not require grad");
    ttml_tensor_unref(y);
    ttml_tensor_set_requires_grad(x, TRUE);
    /* grad mode off: nothing recorded */
    gboolean prev = ttml_set_grad_enabled(FALSE);
    y = ttml_mul(x, c, &err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    CU_ASSERT_PTR_NULL(y->node);
    ttml_tensor_unref(y);
    ttml_set_grad_enabled(prev);
    /* recorded; backward frees the graph and fills x->grad = c */
    y = ttml_mul(x, c, &err);
    ttml_tensor *s = ttml_sum(y, &err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 2);
    CU_ASSERT_PTR_NOT_NULL(s->node);
    CU_ASSERT_TRUE(ttml_backward(s, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0);
    CU_ASSERT_PTR_NULL(s->node);
    CU_ASSERT_PTR_NULL(y->grad); /* non-leaf results keep no gradient */
    float g[3];
    CU_ASSERT_PTR_NOT_NULL_FATAL(x->grad);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->grad, g, &err));
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(g[i], v[i]);
    /* a second step accumulates into the leaf until zero_grad */
    ttml_tensor_unref(y);
    ttml_tensor_unref(s);
    y = ttml_mul(x, c, &err);
    s = ttml_sum(y, &err);
    CU_ASSERT_TRUE(ttml_backward(s, NULL, FALSE, &err));
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->grad, g, &err));
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(g[i], 2 * v[i]);
    ttml_tensor_zero_grad(x);
    CU_ASSERT_PTR_NULL(x->grad);
    ttml_tensor_unref(y);
    ttml_tensor_unref(s);
    ttml_tensor_unref(x);
    ttml_tensor_unref(c);
}

/* Graph handles (pipeline micro-batches): two graphs alive at once, each
 * recorded apart from the current graph, run in the other order, one from a
 * received gradient; a third dropped; expectations by hand. */
static void test_graph_handles(void)
{
    GError *err = NULL;
    int64_t shape[1] = {3};
    float wv[3] = {1, 2, 3}, xv[3] = {4, 5, 6}, cv[3] = {2, 2, 2}, gv[3] = {1, -1, 0.5f};
    ttml_tensor *w = ttml_tensor_from_floats(NULL, 1, shape, wv, &err);
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 1, shape, xv, &err);
    ttml_tensor *c = ttml_tensor_from_floats(NULL, 1, shape, cv, &err);
    ttml_tensor *g = ttml_tensor_from_floats(NULL, 1, shape, gv, &err);
    ttml_tensor_set_requires_grad(w, TRUE);
    ttml_tensor_set_requires_grad(x, TRUE); /* a received activation */
    ttml_graph *a = ttml_graph_begin();
    ttml_tensor *y = ttml_mul(x, w, &err);
    ttml_graph_end(a);
    ttml_graph *b = ttml_graph_begin();
    ttml_tensor *cw = ttml_mul(w, c, &err);
    ttml_tensor *s = ttml_sum(cw, &err);
    CU_ASSERT_FALSE(ttml_graph_backward(b, s, NULL, &err)); /* still recording */
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "still recording");
    ttml_graph_end(b);
    ttml_graph *dropped = ttml_graph_begin();
    ttml_tensor *z = ttml_mul(w, w, &err);
    ttml_graph_end(dropped);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0); /* nothing went to the current graph */
    CU_ASSERT_EQUAL(ttml_graph_handle_size(a), 1);
    CU_ASSERT_EQUAL(ttml_graph_handle_size(b), 2);
    ttml_graph_free(dropped);
    CU_ASSERT_TRUE(ttml_graph_backward(b, s, NULL, &err));
    CU_ASSERT_TRUE(ttml_graph_backward(a, y, g, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_handle_size(a), 0);
    float wg[3], xg[3];
    CU_ASSERT_PTR_NOT_NULL_FATAL(w->grad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x->grad);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(w->grad, wg, &err));
    CU_ASSERT_TRUE(ttml_tensor_to_floats(x->grad, xg, &err));
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(wg[i], cv[i] + gv[i] * xv[i]); /* d(sum(c w))/dw + g x */
        CU_ASSERT_EQUAL(xg[i], gv[i] * wv[i]);         /* the gradient sent upstream */
    }
    ttml_graph_free(a);
    ttml_graph_free(b);
    ttml_tensor *list[] = {w, x, c, g, y, cw, s, z};
    for (size_t i = 0; i < G_N_ELEMENTS(list); i++) ttml_tensor_unref(list[i]);
}

static ttml_tensor *nested_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    return ttml_module_forward(g_ptr_array_index(m->children, 0), x, error);
}

static const ttml_module_class nested_class = {"nested", nested_forward, NULL};

static void test_module_names(void)
{
    GError *err = NULL;
    ttml_module *inner = ttml_linear_layer_new(3, 2, TRUE, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_module *mid = ttml_module_new(&nested_class, NULL);
    ttml_module_add_child(mid, "proj", inner);
    ttml_module *top = ttml_module_new(&nested_class, NULL);
    ttml_module_add_child(top, "blocks.0", mid);
    GPtrArray *ps = ttml_module_parameters(top);
    CU_ASSERT_EQUAL_FATAL(ps->len, 2);
    ttml_param *w = g_ptr_array_index(ps, 0), *b = g_ptr_array_index(ps, 1);
    CU_ASSERT_STRING_EQUAL(w->name, "blocks.0.proj.weight");
    CU_ASSERT_STRING_EQUAL(b->name, "blocks.0.proj.bias");
    CU_ASSERT_EQUAL(w->tensor->shape[0], 2);
    CU_ASSERT_EQUAL(w->tensor->shape[1], 3);
    CU_ASSERT_TRUE(w->tensor->requires_grad);
    CU_ASSERT_EQUAL(ttml_module_num_params(top), 8);
    /* nn.Linear init bound 1/sqrt(in) */
    float wv[6];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(w->tensor, wv, &err));
    for (int i = 0; i < 6; i++) CU_ASSERT_TRUE(fabsf(wv[i]) <= 1.0f / sqrtf(3.0f));
    /* forward through the nesting equals x W^T + b on the host */
    float xv[3] = {1, -2, 0.5f}, bv[2], yv[2];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(b->tensor, bv, &err));
    int64_t xs[2] = {1, 3};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 2, xs, xv, &err);
    ttml_tensor *y = ttml_module_forward(top, x, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(y, yv, &err));
    for (int o = 0; o < 2; o++) {
        double ref = bv[o];
        for (int i = 0; i < 3; i++) ref += (double)wv[o * 3 + i] * xv[i];
        CU_ASSERT_DOUBLE_EQUAL(yv[o], ref, 1e-5);
    }
    ttml_reset_graph();
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
    g_ptr_array_unref(ps);
    ttml_module_unref(top);
}

static void test_memory_tracking(void)
{
    GError *err = NULL;
    ttml_device *d = ttml_context_get_device();
    guint64 before = ttml_device_mem_current(d, TTML_MEM_DRAM);
    ttml_device_reset_peak(d);
    int64_t shape[2] = {100, 10};
    ttml_tensor *a = ttml_tensor_zeros(NULL, 2, shape, TTML_DTYPE_F32, &err);
    CU_ASSERT_EQUAL(ttml_device_mem_current(d, TTML_MEM_DRAM) - before, 4000);
    ttml_tensor *b = ttml_tensor_zeros(NULL, 2, shape, TTML_DTYPE_BF16, &err);
    CU_ASSERT_EQUAL(ttml_device_mem_current(d, TTML_MEM_DRAM) - before, 6000);
    ttml_tensor_unref(a);
    CU_ASSERT_EQUAL(ttml_device_mem_current(d, TTML_MEM_DRAM) - before, 2000);
    CU_ASSERT_EQUAL(ttml_device_mem_peak(d, TTML_MEM_DRAM) - before, 6000);
    ttml_tensor_unref(b);
    CU_ASSERT_EQUAL(ttml_device_mem_current(d, TTML_MEM_DRAM), before);
}

/* Ops on a driver with no kernels run through the cpu fallback and give the
 * same numbers as on cpu. */
static void test_fallback_matches_cpu(void)
{
    GError *err = NULL;
    ttml_device *cpu = ttml_context_get_device();
    ttml_device *fx = ttml_device_open("fx_hostdrv", &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_kernel_exists("fx_hostdrv", "matmul"));
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {0.5f, -1, 2, 0, 1, 3};
    int64_t as[2] = {2, 3}, bs[2] = {3, 2};
    float res[2][4], grads[2][6];
    ttml_device *devs[2] = {cpu, fx};
    for (int k = 0; k < 2; k++) {
        ttml_tensor *a = ttml_tensor_from_floats(devs[k], 2, as, av, &err);
        ttml_tensor *b = ttml_tensor_from_floats(devs[k], 2, bs, bv, &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_set_requires_grad(a, TRUE);
        ttml_tensor *c = ttml_matmul(a, b, FALSE, FALSE, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_PTR_EQUAL(c->device, devs[k]);
        ttml_tensor *s = ttml_sum(c, &err);
        CU_ASSERT_TRUE(ttml_backward(s, NULL, FALSE, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_TRUE(ttml_tensor_to_floats(c, res[k], &err));
        CU_ASSERT_TRUE(ttml_tensor_to_floats(a->grad, grads[k], &err));
        ttml_tensor_unref(s);
        ttml_tensor_unref(c);
        ttml_tensor_unref(a);
        ttml_tensor_unref(b);
    }
    /* hand-computed: [1 2 3; 4 5 6] @ [0.5 -1; 2 0; 1 3] */
    float want[4] = {7.5f, 8, 18, 14};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(res[0][i], want[i]);
        CU_ASSERT_EQUAL(res[1][i], want[i]);
    }
    CU_ASSERT_EQUAL(memcmp(grads[0], grads[1], sizeof grads[0]), 0);
}

static void test_out_of_memory_is_an_error(void)
{
    GError *err = NULL;
    ttml_device *small = ttml_device_open("fx_hostdrv:budget=1024", &err);
    TTML_ASSERT_NO_ERROR(err);
    int64_t ok_shape[1] = {128}, big_shape[1] = {1000};
    ttml_tensor *a = ttml_tensor_zeros(small, 1, ok_shape, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *b = ttml_tensor_zeros(small, 1, big_shape, TTML_DTYPE_F32, &err);
    CU_ASSERT_PTR_NULL(b);
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "request 4000 bytes, budget 1024 bytes, 512 in use");
    ttml_tensor_unref(a);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"tensor round trip, views, errors", test_tensor_roundtrip},
        {"bf16 rounding", test_bf16},
        {"rng determinism and state", test_rng},
        {"graph bookkeeping", test_graph_bookkeeping},
        {"graph handles", test_graph_handles},
        {"module parameter names", test_module_names},
        {"memory tracking", test_memory_tracking},
        {"cpu fallback matches cpu", test_fallback_matches_cpu},
        {"out of memory is an error", test_out_of_memory_is_an_error},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("core", tests, init_suite, ttml_test_shutdown);
}
