/* plugins/core_ops/ops_plugin.c - the core_ops plugin: entry point and the table
 * of ops it registers. */
#include "ops_internal.h"

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD, NULL, NULL}
/* An op with a params struct TYPE, its defaults and named fields (ABI 1.3). */
#define OP_P(NAME, DESCRIPTION, MIN_IN, MAX_IN, TYPE, FORWARD, DEFAULTS, FIELDS) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, sizeof(TYPE), FORWARD, DEFAULTS, FIELDS}
#define FIELD(TYPE, MEMBER, KIND, DESCRIPTION) {#MEMBER, KIND, offsetof(TYPE, MEMBER), DESCRIPTION}

static const ttml_op_param_field scalar_fields[] = {
    FIELD(ttml_scalar_op_params, value, TTML_OP_PARAM_FLOAT, "the scalar s"), {NULL, 0, 0, NULL}};
static const ttml_matmul_op_params matmul_defaults = {0, 0};
static const ttml_op_param_field matmul_fields[] = {
    FIELD(ttml_matmul_op_params, trans_a, TTML_OP_PARAM_BOOL, "transpose a's last two dims"),
    FIELD(ttml_matmul_op_params, trans_b, TTML_OP_PARAM_BOOL, "transpose b's last two dims"),
    {NULL, 0, 0, NULL}};
static const ttml_leaky_relu_op_params leaky_relu_defaults = {0.01f};
static const ttml_op_param_field leaky_relu_fields[] = {
    FIELD(ttml_leaky_relu_op_params, slope, TTML_OP_PARAM_FLOAT, "slope for x <= 0 (default 0.01)"),
    {NULL, 0, 0, NULL}};
static const ttml_mse_op_params mse_defaults = {TTML_REDUCE_MEAN};

static const ttml_op_desc core_ops[] = {
    OP("add", "a + b with NumPy broadcasting", 2, 2, 0, ops_add_forward),
    OP("sub", "a - b with NumPy broadcasting", 2, 2, 0, ops_sub_forward),
    OP("mul", "a * b (elementwise) with NumPy broadcasting", 2, 2, 0, ops_mul_forward),
    OP("div", "a / b (elementwise) with NumPy broadcasting", 2, 2, 0, ops_div_forward),
    OP_P("add_scalar", "a + s (ttml_scalar_op_params, no defaults)", 1, 1, ttml_scalar_op_params,
         ops_add_scalar_forward, NULL, scalar_fields),
    OP_P("mul_scalar", "a * s (ttml_scalar_op_params, no defaults)", 1, 1, ttml_scalar_op_params,
         ops_mul_scalar_forward, NULL, scalar_fields),
    OP_P("matmul", "batched op(a) @ op(b); b may be shared over the batch (ttml_matmul_op_params, "
         "default no transposes)", 2, 2, ttml_matmul_op_params, ops_matmul_forward, &matmul_defaults,
         matmul_fields),
    OP("linear", "x @ weight^T + bias over all leading dims; weight [out, in], bias [out]", 2, 3,
       0, ops_linear_forward),
    OP("relu", "max(x, 0)", 1, 1, 0, ops_relu_forward),
    OP_P("leaky_relu", "x > 0 ? x : slope * x (ttml_leaky_relu_op_params, default slope 0.01)", 1, 1,
         ttml_leaky_relu_op_params, ops_leaky_relu_forward, &leaky_relu_defaults, leaky_relu_fields),
    OP("sum", "sum of all elements, shape [1]", 1, 1, 0, ops_sum_forward),
    OP("mean", "mean of all elements, shape [1]", 1, 1, 0, ops_mean_forward),
    OP_P("mse_loss", "mean or sum of (pred - target)^2, shape [1] (ttml_mse_op_params, default mean)",
         2, 2, ttml_mse_op_params, ops_mse_loss_forward, &mse_defaults, NULL),
};

static gboolean core_ops_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(core_ops); i++)
        if (!host->register_op(plugin, &core_ops[i], error)) return FALSE;
    return TRUE;
}

TTML_PLUGIN_DEFINE(core_ops, TTML_PLUGIN_OPS, "0.1.0",
                   "Core autograd ops: add, sub, mul, div, add_scalar, mul_scalar, matmul, "
                   "linear, relu, leaky_relu, sum, mean, mse_loss",
                   "MIT", NULL, core_ops_init, NULL)
