/* tests/plugins/test_op_params.c - ops with optional parameters (ABI 1.3):
 * NULL params means the op's defaults (core ops and a third-party plugin's
 * op), an op without defaults or with an ABI 1.2-sized descriptor gives an
 * error naming it, and an mlp's `activation: {op: NAME, FIELD: VALUE}` sets
 * a third-party op's parameters by field name. Expectations are computed by
 * hand or with the op's explicit parameters. */
#include "test_util.h"
#include "test_grad.h"

#include <math.h>

#define FX TTML_TEST_BINARY_DIR "/fixtures"

static int init_with_fixture(void)
{
    const char *paths[] = {FX "/params", NULL};
    return ttml_test_init_cpu_paths(paths);
}

static ttml_tensor *vec(const float *v, int64_t n, gboolean grad)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(NULL, 1, &n, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    if (grad) ttml_tensor_set_requires_grad(t, TRUE);
    return t;
}

static void host(ttml_tensor *t, float *out)
{
    GError *err = NULL;
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, out, &err));
    TTML_ASSERT_NO_ERROR(err);
}

enum { N = 5 };
static const float xs[N] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};

/* leaky_relu with NULL params is slope 0.01 (forward and gradient by hand);
 * explicit params still win. */
static void test_leaky_relu_defaults(void)
{
    GError *err = NULL;
    ttml_tensor *x = vec(xs, N, TRUE);
    ttml_tensor *y = ttml_op_call("leaky_relu", &x, 1, NULL, 0, &err);
    TTML_ASSERT_NO_ERROR(err);
    float yv[N], g[N];
    host(y, yv);
    const float want[N] = {-0.02f, -0.005f, 0.0f, 0.5f, 3.0f};
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(yv[i], want[i], 1e-7);
    ttml_tensor *s = ttml_sum(y, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_backward(s, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    host(x->grad, g);
    const float dwant[N] = {0.01f, 0.01f, 0.01f, 1.0f, 1.0f};   /* slope at 0, as PyTorch */
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(g[i], dwant[i], 1e-7);
    ttml_tensor_unref(s);
    ttml_tensor_unref(y);
    ttml_reset_graph();

    y = ttml_leaky_relu(x, 0.1f, &err);
    TTML_ASSERT_NO_ERROR(err);
    host(y, yv);
    CU_ASSERT_DOUBLE_EQUAL(yv[0], -0.2, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(yv[4], 3.0, 1e-6);   /* 0.9 * 3 + 0.1 * 3 in float */
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
    ttml_reset_graph();
}

/* Other core ops with defaults: matmul (no transposes), layernorm (eps
 * 1e-5), mse_loss (mean): NULL params equals the explicit defaults. */
static void test_core_defaults(void)
{
    GError *err = NULL;
    const int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, -1, 0, 2, 0.5f, 0.25f};
    ttml_tensor *ta = ttml_tensor_from_floats(NULL, 2, sa, a, &err);
    ttml_tensor *tb = ttml_tensor_from_floats(NULL, 2, sb, b, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *in[2] = {ta, tb};
    ttml_tensor *d = ttml_op_call("matmul", in, 2, NULL, 0, &err);
    TTML_ASSERT_NO_ERROR(err);
    float dv[4];
    host(d, dv);
    const float mm[4] = {1 + 0 + 1.5f, -1 + 4 + 0.75f, 4 + 0 + 3, -4 + 10 + 1.5f};
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(dv[i], mm[i], 1e-6);
    ttml_tensor_unref(d);

    const float gv[3] = {1, 1, 1};
    const int64_t three = 3;
    ttml_tensor *gamma = ttml_tensor_from_floats(NULL, 1, &three, gv, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *ln_in[2] = {ta, gamma};
    ttml_tensor *l0 = ttml_op_call("layernorm", ln_in, 2, NULL, 0, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *l1 = ttml_layernorm(ta, gamma, NULL, 1e-5f, &err);
    TTML_ASSERT_NO_ERROR(err);
    float v0[6], v1[6];
    host(l0, v0);
    host(l1, v1);
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(v0[i], v1[i]);
    ttml_tensor_unref(l0);
    ttml_tensor_unref(l1);

    ttml_tensor *mse_in[2] = {ta, ta};
    ttml_tensor *z = ttml_op_call("mse_loss", mse_in, 2, NULL, 0, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(z);
    ttml_tensor_unref(gamma);
    ttml_tensor_unref(ta);
    ttml_tensor_unref(tb);
    ttml_reset_graph();
}

/* NULL params for ops without defaults: an error naming the op, no crash
 * (core add_scalar, the plugin's fx_affine_nodef and the ABI 1.2-sized
 * fx_affine_old, whose bytes past its struct_size must not be read). */
static void test_no_defaults_error(void)
{
    GError *err = NULL;
    ttml_tensor *x = vec(xs, N, FALSE);
    static const char *const ops[] = {"add_scalar", "mul_scalar", "concat", "fx_affine_nodef",
                                      "fx_affine_old"};
    for (size_t i = 0; i < G_N_ELEMENTS(ops); i++) {
        ttml_tensor *y = ttml_op_call(ops[i], &x, 1, NULL, 0, &err);
        CU_ASSERT_PTR_NULL(y);
        char *needle = g_strdup_printf("op '%s' needs its", ops[i]);
        TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, needle);
        g_free(needle);
    }
    CU_ASSERT_PTR_NULL(ttml_op_default_params(ttml_op_find("fx_affine_old")));
    CU_ASSERT_PTR_NULL(ttml_op_param_fields(ttml_op_find("fx_affine_old")));
    /* a wrong size is still an error */
    ttml_scalar_op_params p = {1.0f};
    CU_ASSERT_PTR_NULL(ttml_op_call("add_scalar", &x, 1, &p, sizeof p + 4, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "expects a 4-byte parameter struct");
    /* a field table that does not fit its struct was refused at registration */
    CU_ASSERT_PTR_NULL(ttml_op_find("fx_badfield"));
    ttml_tensor_unref(x);
}

/* The third-party op: NULL params = its defaults {2, 0.5}; explicit ones
 * win. */
static void test_plugin_defaults(void)
{
    GError *err = NULL;
    ttml_tensor *x = vec(xs, N, FALSE);
    ttml_tensor *y = ttml_op_call("fx_affine", &x, 1, NULL, 0, &err);
    TTML_ASSERT_NO_ERROR(err);
    float yv[N];
    host(y, yv);
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(yv[i], 2.0f * xs[i] + 0.5f, 1e-6);
    ttml_tensor_unref(y);
    struct { float scale, shift; } p = {-1.0f, 3.0f};
    y = ttml_op_call("fx_affine", &x, 1, &p, sizeof p, &err);
    TTML_ASSERT_NO_ERROR(err);
    host(y, yv);
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(yv[i], 3.0f - xs[i], 1e-6);
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
}

/* y of an mlp [1 -> 2 -> 1] built from `yaml`, for inputs xs. With w0 =
 * (1, -1), b0 = 0, w1 = (1, 1), b1 = 0 set by hand: y = act(x) + act(-x). */
static void mlp_outputs(const char *activation, float *y, GError **err)
{
    char *yaml = g_strdup_printf("input_features: 1\nhidden_features: [2]\noutput_features: 1\n"
                                 "activation: %s\n", activation);
    ttml_module *m = ttml_test_model_from_yaml("mlp", yaml, err);
    g_free(yaml);
    if (!m) return;
    GPtrArray *params = ttml_module_parameters(m);
    const float w0[2] = {1, -1}, w1[2] = {1, 1}, zero[2] = {0, 0};
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        const float *v = strstr(p->name, "bias") ? zero : strstr(p->name, "layers.0") ? w0 : w1;
        CU_ASSERT_TRUE(ttml_tensor_write(p->tensor, v, err));
    }
    g_ptr_array_unref(params);
    const int64_t shape[2] = {N, 1};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 2, shape, xs, err);
    ttml_tensor *out = x ? ttml_module_forward(m, x, err) : NULL;
    if (out) host(out, y);
    ttml_tensor_unref(out);
    ttml_tensor_unref(x);
    ttml_module_unref(m);
    ttml_reset_graph();
}

/* YAML parameters for a third-party activation, by field name: y =
 * act(x) + act(-x) = 2 * shift for fx_affine (scale cancels); unknown names
 * and wrong types are config errors with their line. */
static void test_plugin_yaml_activation(void)
{
    GError *err = NULL;
    float y[N];
    mlp_outputs("{op: fx_affine, scale: 3, shift: 0.25}", y, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(y[i], 0.5, 1e-6);
    mlp_outputs("fx_affine", y, &err);   /* by name: the defaults, shift 0.5 */
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(y[i], 1.0, 1e-6);
    mlp_outputs("{op: fx_affine_nodef, scale: 1, shift: -1}", y, &err);
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < N; i++) CU_ASSERT_DOUBLE_EQUAL(y[i], -2.0, 1e-6);

    static const struct { const char *act, *needle; } bad[] = {
        {"{op: fx_affine, shfit: 1}", "unknown key 'shfit'"},
        {"{op: fx_affine, shfit: 1}", "did you mean 'shift'?"},
        {"{op: fx_affine, scale: big}", "scale"},
        {"{op: fx_affine_nodef, scale: 1}", "not set: shift"},
        {"fx_affine_nodef", "needs parameters and has no defaults"},
        {"{op: fx_affine_old, scale: 1, shift: 1}", "its parameters cannot be set from a config"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        mlp_outputs(bad[i].act, y, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        if (!strstr(err->message, "models.yaml:4"))
            fprintf(stderr, "\n  case %zu has no line: %s\n", i, err->message);
        CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "models.yaml:4"));
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, bad[i].needle);
    }
}

static CU_TestInfo tests[] = {
    {"leaky_relu NULL params = slope 0.01", test_leaky_relu_defaults},
    {"core ops NULL params = defaults", test_core_defaults},
    {"NULL params without defaults is an error", test_no_defaults_error},
    {"third-party op defaults", test_plugin_defaults},
    {"third-party activation parameters from YAML", test_plugin_yaml_activation},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return ttml_test_run("op_params", tests, init_with_fixture, ttml_test_shutdown);
}
