/* test_optim.c - sgd / adamw optimizers and the schedulers against
 * hand-computed values (PyTorch semantics). */
#include "test_util.h"

#include <math.h>
#include <string.h>

#define TOL 1e-6

static const ttml_module_class holder_class = {"holder", NULL, NULL};

/* A parameter list of one 2-element parameter "w" = {a, b}. *out gets a
 * borrowed pointer to the tensor (owned by the list). */
static GPtrArray *one_param(float a, float b, ttml_tensor **out)
{
    GError *err = NULL;
    const float v[2] = {a, b};
    const int64_t shape[1] = {2};
    ttml_tensor *t = ttml_tensor_from_floats(NULL, 1, shape, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_module *m = ttml_module_new(&holder_class, NULL);
    ttml_module_add_param(m, "w", t);
    ttml_tensor_unref(t);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_module_unref(m);
    CU_ASSERT_EQUAL_FATAL(params->len, 1);
    *out = ((ttml_param *)g_ptr_array_index(params, 0))->tensor;
    CU_ASSERT_TRUE(strcmp(((ttml_param *)g_ptr_array_index(params, 0))->name, "w") == 0);
    return params;
}

static void set_grad(ttml_tensor *p, float a, float b)
{
    GError *err = NULL;
    const float v[2] = {a, b};
    const int64_t shape[1] = {2};
    ttml_tensor_zero_grad(p);
    ttml_tensor *g = ttml_tensor_from_floats(p->device, 1, shape, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(p, g, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(g);
}

/* The config parsed from yaml (NULL when yaml is NULL). */
static ttml_config *load_cfg(const char *yaml, const char *file)
{
    GError *err = NULL;
    ttml_config *cfg = NULL;
    if (yaml) {
        cfg = ttml_config_load_string(yaml, file, &err);
        TTML_ASSERT_NO_ERROR(err);
    }
    return cfg;
}

static ttml_optimizer *make_opt(const char *name, const char *yaml, GPtrArray *params, double lr,
                                double wd)
{
    GError *err = NULL;
    ttml_config *cfg = load_cfg(yaml, "optim.yaml");
    ttml_optimizer *opt = ttml_optimizer_create(name, params, cfg, lr, wd, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
    ttml_config_free(cfg);
    return opt;
}

static void expect_values(ttml_tensor *t, double a, double b)
{
    GError *err = NULL;
    float v[2];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, v, &err));
    TTML_ASSERT_NO_ERROR(err);
    if (fabs(v[0] - a) > TOL || fabs(v[1] - b) > TOL)
        fprintf(stderr, "\n  got [%.8f, %.8f], want [%.8f, %.8f]\n", v[0], v[1], a, b);
    CU_ASSERT_DOUBLE_EQUAL(v[0], a, TOL);
    CU_ASSERT_DOUBLE_EQUAL(v[1], b, TOL);
}

static void step_ok(ttml_optimizer *opt)
{
    GError *err = NULL;
    CU_ASSERT_TRUE(ttml_optimizer_step(opt, &err));
    TTML_ASSERT_NO_ERROR(err);
}

/* `name` with the optimizer config `yaml` must fail with a TTML_ERROR_CONFIG
 * naming `needle`. */
static void expect_opt_config_error(const char *name, GPtrArray *params, const char *yaml,
                                    const char *needle)
{
    GError *err = NULL;
    ttml_config *cfg = load_cfg(yaml, "optim.yaml");
    ttml_optimizer *opt = ttml_optimizer_create(name, params, cfg, 0.1, 0.0, &err);
    CU_ASSERT_PTR_NULL(opt);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, needle);
    ttml_optimizer_free(opt);
    ttml_config_free(cfg);
}

/* An optimizer run from p = [1, -2]. */
typedef struct { GPtrArray *params; ttml_tensor *p; ttml_optimizer *opt; } opt_run;

/* `name` (config yaml, lr, wd) from p = [1, -2]: gradient g1, a step, p
 * against want[0..1]; then (gradient g2 unless NULL: the gradient stays
 * otherwise) a second step and p against want[2..3]. Free with run_free. */
static opt_run two_steps(const char *name, const char *yaml, double lr, double wd,
                         const float *g1, const float *g2, const double *want)
{
    opt_run r;
    r.params = one_param(1.0f, -2.0f, &r.p);
    r.opt = make_opt(name, yaml, r.params, lr, wd);
    set_grad(r.p, g1[0], g1[1]);
    step_ok(r.opt);
    expect_values(r.p, want[0], want[1]);
    if (g2) set_grad(r.p, g2[0], g2[1]);
    step_ok(r.opt);
    expect_values(r.p, want[2], want[3]);
    return r;
}

static void run_free(opt_run *r)
{
    ttml_optimizer_free(r->opt);
    g_ptr_array_unref(r->params);
}

/* Runs two SGD steps from p = [1, -2] with the fixed gradient g = [0.5, 1],
 * lr 0.1, and checks p after each. */
static void sgd_two_steps(const char *yaml, double wd, double a1, double b1, double a2, double b2)
{
    static const float g[2] = {0.5f, 1.0f};
    const double want[4] = {a1, b1, a2, b2};
    opt_run r = two_steps("sgd", yaml, 0.1, wd, g, NULL, want);
    run_free(&r);
}

/* p -= 0.1 * g: [1 - 0.05, -2 - 0.1] = [0.95, -2.1], then [0.90, -2.2]. */
static void test_sgd_plain(void)
{
    sgd_two_steps(NULL, 0.0, 0.95, -2.1, 0.90, -2.2);
}

/* momentum 0.9: step 1 buf = g = [0.5, 1], p = [0.95, -2.1];
 * step 2 buf = 0.9*[0.5, 1] + [0.5, 1] = [0.95, 1.9],
 *        p = [0.95 - 0.095, -2.1 - 0.19] = [0.855, -2.29]. */
static void test_sgd_momentum(void)
{
    sgd_two_steps("momentum: 0.9\n", 0.0, 0.95, -2.1, 0.855, -2.29);
}

/* momentum 0.9, dampening 0.5: step 1 buf = g (no dampening on the first
 * step, as PyTorch), p = [0.95, -2.1];
 * step 2 buf = 0.9*[0.5, 1] + 0.5*[0.5, 1] = [0.7, 1.4],
 *        p = [0.95 - 0.07, -2.1 - 0.14] = [0.88, -2.24]. */
static void test_sgd_dampening(void)
{
    sgd_two_steps("momentum: 0.9\ndampening: 0.5\n", 0.0, 0.95, -2.1, 0.88, -2.24);
}

/* nesterov, momentum 0.9: step 1 buf = [0.5, 1], d = g + 0.9*buf = [0.95, 1.9],
 *        p = [1 - 0.095, -2 - 0.19] = [0.905, -2.19];
 * step 2 buf = 0.9*[0.5, 1] + [0.5, 1] = [0.95, 1.9],
 *        d = [0.5 + 0.855, 1 + 1.71] = [1.355, 2.71],
 *        p = [0.905 - 0.1355, -2.19 - 0.271] = [0.7695, -2.461]. */
static void test_sgd_nesterov(void)
{
    sgd_two_steps("momentum: 0.9\nnesterov: true\n", 0.0, 0.905, -2.19, 0.7695, -2.461);
}

/* weight_decay 0.1 (L2, added to the gradient):
 * step 1 d = [0.5 + 0.1*1, 1 + 0.1*(-2)] = [0.6, 0.8], p = [0.94, -2.08];
 * step 2 d = [0.5 + 0.094, 1 - 0.208] = [0.594, 0.792],
 *        p = [0.94 - 0.0594, -2.08 - 0.0792] = [0.8806, -2.1592].
 * Given once as the training config's argument, once in the optimizer's map. */
static void test_sgd_weight_decay(void)
{
    sgd_two_steps(NULL, 0.1, 0.94, -2.08, 0.8806, -2.1592);
    sgd_two_steps("weight_decay: 0.1\n", 0.0, 0.94, -2.08, 0.8806, -2.1592);
}

static void test_sgd_bad_config(void)
{
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    const char *bad[] = {
        "nesterov: true\n",                                  /* momentum 0     */
        "momentum: 0.9\ndampening: 0.1\nnesterov: true\n",   /* dampening != 0 */
        "momentum: -0.5\n",
        "momentum: abc\n",
    };
    const char *needle[] = {"nesterov", "nesterov", "momentum", "momentum"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_opt_config_error("sgd", params, bad[i], needle[i]);
    g_ptr_array_unref(params);
}

/* Momentum buffers are created lazily and exposed as "momentum_buffer";
 * after step 1 with momentum it holds the gradient. */
static void test_sgd_state(void)
{
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    ttml_optimizer *opt = make_opt("sgd", "momentum: 0.9\n", params, 0.1, 0.0);
    set_grad(p, 0.5f, 1.0f);
    step_ok(opt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opt->klass->state);
    const char *names[4];
    ttml_tensor *tensors[4];
    int n = opt->klass->state(opt, 0, names, tensors, 4);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_STRING_EQUAL(names[0], "momentum_buffer");
    expect_values(tensors[0], 0.5, 1.0);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);
}

/* AdamW, lr 0.01, betas (0.9, 0.999), eps 1e-8, p0 = [1, -2],
 * g1 = [0.5, 1], g2 = [-1, 0.5].
 * weight_decay 0:
 *  step 1: m = 0.1*g1 = [0.05, 0.1], v = 0.001*g1^2 = [0.00025, 0.001],
 *          m^ = m/(1-0.9) = g1, v^ = v/(1-0.999) = g1^2, update = g1/|g1| = [1, 1]
 *          p = [1 - 0.01, -2 - 0.01] = [0.99, -2.01]
 *  step 2 (bias corrections 1-0.9^2 = 0.19, 1-0.999^2 = 0.001999):
 *   x0: m = 0.9*0.05 + 0.1*(-1) = -0.055, v = 0.999*0.00025 + 0.001*1 = 0.00124975
 *       m^ = -0.055/0.19 = -0.28947368, v^ = 0.00124975/0.001999 = 0.62518759,
 *       sqrt(v^) = 0.79068805, p = 0.99 + 0.01*0.28947368/0.79068805 = 0.99366104
 *   x1: m = 0.9*0.1 + 0.1*0.5 = 0.14, v = 0.999*0.001 + 0.001*0.25 = 0.001249
 *       m^ = 0.14/0.19 = 0.73684211, v^ = 0.001249/0.001999 = 0.62481241,
 *       sqrt(v^) = 0.79045076, p = -2.01 - 0.01*0.73684211/0.79045076 = -2.01932180
 * weight_decay 0.1 (decoupled: p *= 1 - 0.01*0.1 = 0.999 before the update):
 *  step 1: p = [0.999 - 0.01, -1.998 - 0.01] = [0.989, -2.008]
 *  step 2: p*0.999 = [0.988011, -2.005992]; p = [0.988011 + 0.00366104,
 *          -2.005992 - 0.00932180] = [0.99167204, -2.01531380] */
static void adamw_two_steps(const char *name, double wd, double a1, double b1, double a2,
                            double b2)
{
    static const float g1[2] = {0.5f, 1.0f}, g2[2] = {-1.0f, 0.5f};
    const double want[4] = {a1, b1, a2, b2};
    opt_run r = two_steps(name, NULL, 0.01, wd, g1, g2, want);

    /* The moments after step 2 (see above). */
    const char *names[4];
    ttml_tensor *tensors[4];
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.opt->klass->state);
    int n = r.opt->klass->state(r.opt, 0, names, tensors, 4);
    CU_ASSERT_EQUAL_FATAL(n, 2);
    CU_ASSERT_STRING_EQUAL(names[0], "exp_avg");
    CU_ASSERT_STRING_EQUAL(names[1], "exp_avg_sq");
    expect_values(tensors[0], -0.055, 0.14);
    expect_values(tensors[1], 0.00124975, 0.001249);
    run_free(&r);
}

static void test_adamw(void)
{
    adamw_two_steps("adamw", 0.0, 0.99, -2.01, 0.99366104, -2.01932180);
}

static void test_adamw_weight_decay(void)
{
    adamw_two_steps("adamw", 0.1, 0.989, -2.008, 0.99167204, -2.01531380);
}

static void test_moreh_adamw_alias(void)
{
    adamw_two_steps("moreh_adamw", 0.0, 0.99, -2.01, 0.99366104, -2.01932180);
}

/* Decoupled decay with a zero gradient: m = v = 0 so the Adam update is 0,
 * yet p *= 1 - lr*wd: lr 0.01, wd 0.1 -> [1, -2] * 0.999 = [0.999, -1.998],
 * then * 0.999 again = [0.998001, -1.996002]. */
static void test_adamw_zero_grad_decays(void)
{
    static const float g[2] = {0.0f, 0.0f};
    static const double want[4] = {0.999, -1.998, 0.998001, -1.996002};
    opt_run r = two_steps("adamw", NULL, 0.01, 0.1, g, NULL, want);
    run_free(&r);
}

/* weight_decay not given (TTML_WEIGHT_DECAY_DEFAULT): adamw decays by
 * PyTorch's 0.01, sgd by 0. Zero gradient, lr 0.1:
 * adamw p = [1, -2] * (1 - 0.1*0.01) = [0.999, -1.998]; sgd p unchanged. */
static void test_default_weight_decay(void)
{
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    ttml_optimizer *opt = make_opt("adamw", NULL, params, 0.1, TTML_WEIGHT_DECAY_DEFAULT);
    set_grad(p, 0.0f, 0.0f);
    step_ok(opt);
    expect_values(p, 0.999, -1.998);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);

    params = one_param(1.0f, -2.0f, &p);
    opt = make_opt("sgd", NULL, params, 0.1, TTML_WEIGHT_DECAY_DEFAULT);
    set_grad(p, 0.0f, 0.0f);
    step_ok(opt);
    expect_values(p, 1.0, -2.0);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);
}

/* Betas from the optimizer's map: beta1 0.5, beta2 0.75, lr 0.1, g = [0.5, 1]
 * twice (constant gradient, so m^ = g and v^ = g^2 whatever the step when
 * the bias correction uses the right step): p = [1 - 0.1, -2 - 0.1] = [0.9, -2.1],
 * then [0.8, -2.2]. Without bias correction step 1 would give
 * m = 0.25, v = 0.0625 -> update 1 too, but step 2 m = 0.375, v = 0.109375
 * -> 1.1339, so step 2 checks the per-parameter step count. */
static void test_adamw_config(void)
{
    static const float g[2] = {0.5f, 1.0f};
    static const double want[4] = {0.9, -2.1, 0.8, -2.2};
    opt_run r = two_steps("adamw", "beta1: 0.5\nbeta2: 0.75\nepsilon: 0.0\n", 0.1, 0.0, g, NULL,
                          want);
    run_free(&r);

    const char *bad[] = {"beta1: 1.0\n", "beta2: -0.1\n", "epsilon: -1\n"};
    const char *needle[] = {"beta1", "beta2", "epsilon"};
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_opt_config_error("adamw", params, bad[i], needle[i]);
    g_ptr_array_unref(params);
}

/* Two parameters, only "a" gets a gradient: "b" keeps its exact values and
 * no state; then "b" gets its first gradient at the optimizer's step 2 and
 * its own step count (1) is used for bias correction: update = g/|g| = 1. */
static void test_params_without_grad(void)
{
    GError *err = NULL;
    const int64_t shape[1] = {2};
    const float va[2] = {1.0f, -2.0f}, vb[2] = {3.0f, 4.0f};
    ttml_tensor *ta = ttml_tensor_from_floats(NULL, 1, shape, va, &err);
    ttml_tensor *tb = ttml_tensor_from_floats(NULL, 1, shape, vb, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_module *m = ttml_module_new(&holder_class, NULL);
    ttml_module_add_param(m, "a", ta);
    ttml_module_add_param(m, "b", tb);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_module_unref(m);

    const char *opts[] = {"adamw", "sgd"};
    for (int k = 0; k < 2; k++) {
        const float a0[2] = {1.0f, -2.0f};
        CU_ASSERT_TRUE(ttml_tensor_write(ta, a0, &err));
        CU_ASSERT_TRUE(ttml_tensor_write(tb, vb, &err));
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_zero_grad(ta);
        ttml_tensor_zero_grad(tb);
        ttml_optimizer *opt =
            make_opt(opts[k], k == 1 ? "momentum: 0.9\n" : NULL, params, 0.01, 0.1);
        set_grad(ta, 0.5f, 1.0f);
        step_ok(opt);
        CU_ASSERT_PTR_NULL(tb->grad);
        float got[2];
        CU_ASSERT_TRUE(ttml_tensor_to_floats(tb, got, &err));
        CU_ASSERT_EQUAL(got[0], 3.0f);   /* untouched, even by weight decay */
        CU_ASSERT_EQUAL(got[1], 4.0f);
        if (k == 0) {
            /* a: 0.999*[1, -2] - 0.01 = [0.989, -2.008] */
            expect_values(ta, 0.989, -2.008);
            ttml_tensor_zero_grad(ta);
            set_grad(tb, -2.0f, 0.25f);
            step_ok(opt);
            expect_values(ta, 0.989, -2.008);   /* no grad now */
            /* b: 0.999*[3, 4] - 0.01*sign(g) = [2.997 + 0.01, 3.996 - 0.01] */
            expect_values(tb, 3.007, 3.986);
        } else {
            /* sgd, wd 0.1: d = [0.5 + 0.1, 1 - 0.2] = [0.6, 0.8],
             * p = [1 - 0.006, -2 - 0.008] */
            expect_values(ta, 0.994, -2.008);
        }
        ttml_optimizer_free(opt);
    }
    g_ptr_array_unref(params);
    ttml_tensor_unref(ta);
    ttml_tensor_unref(tb);
}

static void test_zero_grad(void)
{
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    ttml_optimizer *opt = make_opt("sgd", NULL, params, 0.1, 0.0);
    set_grad(p, 0.5f, 1.0f);
    CU_ASSERT_PTR_NOT_NULL(p->grad);
    ttml_optimizer_zero_grad(opt);
    CU_ASSERT_PTR_NULL(p->grad);
    /* A step without gradients changes nothing. */
    step_ok(opt);
    expect_values(p, 1.0, -2.0);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);
}

static void test_unknown_optimizer(void)
{
    ttml_tensor *p;
    GPtrArray *params = one_param(1.0f, -2.0f, &p);
    GError *err = NULL;
    ttml_optimizer *opt = ttml_optimizer_create("rmsprop", params, NULL, 0.1, 0.0, &err);
    CU_ASSERT_PTR_NULL(opt);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "adamw"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "sgd");
    CU_ASSERT_PTR_NOT_NULL(ttml_optimizer_find("moreh_adamw"));
    g_ptr_array_unref(params);
}

/* ---- schedulers ---- */

static ttml_scheduler *make_sched(const char *name, const char *yaml, gint64 total)
{
    GError *err = NULL;
    ttml_config *cfg = load_cfg(yaml, "sched.yaml");
    ttml_scheduler *s = ttml_scheduler_create(name, cfg, total, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    ttml_config_free(cfg);
    return s;
}

#define FACTOR(s, step, want) CU_ASSERT_DOUBLE_EQUAL(ttml_scheduler_factor((s), (step)), (want), 1e-9)

static void test_sched_identity(void)
{
    ttml_scheduler *s = make_sched("identity", NULL, 100);
    FACTOR(s, 0, 1.0);
    FACTOR(s, 50, 1.0);
    FACTOR(s, 99, 1.0);
    ttml_scheduler_free(s);
}

/* warmup_linear, T = 100: W = floor(0.1*100) = 10.
 *   f(0) = 0, f(5) = 0.5, f(10) = 1 (warm-up end),
 *   f(55) = 1 - 0.99*(55-10)/90 = 1 - 0.495 = 0.505,
 *   f(99) = 1 - 0.99*89/90 = 0.021 (last step), f(100) = 0.01.
 * T = 7: W = floor(0.7) = 0 (no warm-up, TT-Train truncates):
 *   f(0) = 1, f(3) = 1 - 0.99*3/7 = 0.57571429, f(6) = 1 - 0.99*6/7 = 0.15142857.
 * T = 7, warmup_fraction 0.25: W = floor(1.75) = 1:
 *   f(0) = 0, f(1) = 1, f(4) = 1 - 0.99*3/6 = 0.505, f(6) = 1 - 0.99*5/6 = 0.175.
 * T = 7, warmup_steps 3, end_factor 0.5: f(1) = 1/3, f(3) = 1,
 *   f(5) = 1 - 0.5*2/4 = 0.75, f(6) = 0.625. */
static void test_sched_warmup_linear(void)
{
    ttml_scheduler *s = make_sched("warmup_linear", NULL, 100);
    FACTOR(s, 0, 0.0);
    FACTOR(s, 5, 0.5);
    FACTOR(s, 9, 0.9);
    FACTOR(s, 10, 1.0);
    FACTOR(s, 55, 0.505);
    FACTOR(s, 99, 0.021);
    FACTOR(s, 100, 0.01);
    ttml_scheduler_free(s);

    s = make_sched("warmup_linear", NULL, 7);
    FACTOR(s, 0, 1.0);
    FACTOR(s, 3, 0.57571428571);
    FACTOR(s, 6, 0.15142857143);
    ttml_scheduler_free(s);

    s = make_sched("warmup_linear", "warmup_fraction: 0.25\n", 7);
    FACTOR(s, 0, 0.0);
    FACTOR(s, 1, 1.0);
    FACTOR(s, 4, 0.505);
    FACTOR(s, 6, 0.175);
    ttml_scheduler_free(s);

    s = make_sched("warmup_linear", "warmup_steps: 3\nend_factor: 0.5\n", 7);
    FACTOR(s, 0, 0.0);
    FACTOR(s, 1, 1.0 / 3.0);
    FACTOR(s, 3, 1.0);
    FACTOR(s, 5, 0.75);
    FACTOR(s, 6, 0.625);
    ttml_scheduler_free(s);
}

/* cosine, T = 100, W = 10, min 0:
 *   f(0) = 0, f(10) = 1, f(55) = (1 + cos(pi/2))/2 = 0.5,
 *   f(99) = (1 + cos(89pi/90))/2 = (1 - cos(pi/90))/2 = 0.00030458649, f(100) = 0.
 * min_factor 0.1: f(55) = 0.1 + 0.9*0.5 = 0.55, f(100) = 0.1.
 * T = 7 (W = 0): f(0) = 1, f(3) = (1 + cos(3pi/7))/2 = 0.61126047,
 *   f(6) = (1 + cos(6pi/7))/2 = 0.04951557. */
static void test_sched_cosine(void)
{
    ttml_scheduler *s = make_sched("cosine", NULL, 100);
    FACTOR(s, 0, 0.0);
    FACTOR(s, 5, 0.5);
    FACTOR(s, 10, 1.0);
    FACTOR(s, 55, 0.5);
    FACTOR(s, 99, 0.00030458649045);
    FACTOR(s, 100, 0.0);
    ttml_scheduler_free(s);

    s = make_sched("cosine", "min_factor: 0.1\n", 100);
    FACTOR(s, 55, 0.55);
    FACTOR(s, 100, 0.1);
    ttml_scheduler_free(s);

    s = make_sched("cosine", NULL, 7);
    FACTOR(s, 0, 1.0);
    FACTOR(s, 3, 0.61126046698);
    FACTOR(s, 6, 0.04951556605);
    ttml_scheduler_free(s);
}

static void test_sched_errors(void)
{
    const char *bad[] = {
        "warmup_steps: 3\nwarmup_fraction: 0.1\n",
        "warmup_steps: 200\n",
        "warmup_fraction: 1.5\n",
        "warmup_steps: -1\n",
    };
    const char *needle[] = {"warmup_fraction", "warmup_steps", "warmup_fraction", "warmup_steps"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        ttml_config *cfg = load_cfg(bad[i], "sched.yaml");
        ttml_scheduler *s = ttml_scheduler_create("warmup_linear", cfg, 100, &err);
        CU_ASSERT_PTR_NULL(s);
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, needle[i]);
        ttml_config_free(cfg);
    }

    GError *err = NULL;
    ttml_scheduler *s = ttml_scheduler_create("step_lr", NULL, 100, &err);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "identity"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "cosine"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "warmup_linear");
}

static double half_factor(const ttml_scheduler *s, gint64 step)
{
    return step < 0 ? 0.0 : *(const double *)s->priv;
}

/* Issue 11 item 4: the public constructor a scheduler plugin calls. */
static void test_sched_new(void)
{
    double *half = g_new(double, 1);
    *half = 0.5;
    ttml_scheduler *s = ttml_scheduler_new(half_factor, half);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_DOUBLE_EQUAL(ttml_scheduler_factor(s, 3), 0.5, 1e-12);
    ttml_scheduler_free(s); /* frees priv */
}

/* Issue 11 item 4: the public kernel-view helpers. */
static void test_view_helpers(void)
{
    float data[6] = {0, 1, 2, 3, 4, 5};
    ttml_buffer buf = {0};
    buf.size = sizeof data;
    buf.data = data;
    ttml_launch l = {.kernel = "probe"};
    ttml_view v = {&buf, sizeof(float), 2, {1, 5}, TTML_DTYPE_F32};
    CU_ASSERT_EQUAL(ttml_view_numel(&v), 5);
    GError *err = NULL;
    float *p = ttml_view_data(&l, &v, "in[0]", TTML_DTYPE_F32, 5, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_EQUAL(p, data + 1);
    CU_ASSERT_PTR_NULL(ttml_view_data(&l, &v, "in[0]", TTML_DTYPE_BF16, 5, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_DTYPE, "kernel 'probe': in[0] is f32");
    v.shape[1] = 6; /* 6 floats from offset 4 bytes do not fit */
    CU_ASSERT_PTR_NULL(ttml_view_data(&l, &v, "out[0]", TTML_DTYPE_F32, 6, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "out[0] has no host buffer");
    CU_ASSERT_PTR_NULL(ttml_view_data(&l, &v, "out[0]", TTML_DTYPE_F32, 5, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "out[0] has 6 elements, expected 5");
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"sgd plain", test_sgd_plain},
        {"sgd momentum", test_sgd_momentum},
        {"sgd dampening", test_sgd_dampening},
        {"sgd nesterov", test_sgd_nesterov},
        {"sgd weight decay", test_sgd_weight_decay},
        {"sgd bad config", test_sgd_bad_config},
        {"sgd state", test_sgd_state},
        {"adamw two steps", test_adamw},
        {"adamw weight decay", test_adamw_weight_decay},
        {"moreh_adamw alias", test_moreh_adamw_alias},
        {"adamw zero grad still decays", test_adamw_zero_grad_decays},
        {"adamw config", test_adamw_config},
        {"default weight decay", test_default_weight_decay},
        {"params without grad", test_params_without_grad},
        {"zero_grad", test_zero_grad},
        {"unknown optimizer", test_unknown_optimizer},
        {"scheduler identity", test_sched_identity},
        {"scheduler warmup_linear", test_sched_warmup_linear},
        {"scheduler cosine", test_sched_cosine},
        {"scheduler errors", test_sched_errors},
        {"scheduler constructor", test_sched_new},
        {"kernel view helpers", test_view_helpers},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("optim", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
