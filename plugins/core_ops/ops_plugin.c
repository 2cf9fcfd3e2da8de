/* plugins/core_ops/ops_plugin.c - the core_ops plugin: entry point and the table
 * of ops it registers. */
#include "ops_internal.h"

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD}

static const ttml_op_desc core_ops[] = {
    OP("add", "a + b with NumPy broadcasting", 2, 2, 0, ops_add_forward),
    OP("sub", "a - b with NumPy broadcasting", 2, 2, 0, ops_sub_forward),
    OP("mul", "a * b (elementwise) with NumPy broadcasting", 2, 2, 0, ops_mul_forward),
    OP("div", "a / b (elementwise) with NumPy broadcasting", 2, 2, 0, ops_div_forward),
    OP("add_scalar", "a + s (ttml_scalar_op_params)", 1, 1, sizeof(ttml_scalar_op_params),
       ops_add_scalar_forward),
    OP("mul_scalar", "a * s (ttml_scalar_op_params)", 1, 1, sizeof(ttml_scalar_op_params),
       ops_mul_scalar_forward),
    OP("matmul", "batched op(a) @ op(b); b may be shared over the batch (ttml_matmul_op_params)",
       2, 2, sizeof(ttml_matmul_op_params), ops_matmul_forward),
    OP("linear", "x @ weight^T + bias over all leading dims; weight [out, in], bias [out]", 2, 3,
       0, ops_linear_forward),
    OP("relu", "max(x, 0)", 1, 1, 0, ops_relu_forward),
    OP("sum", "sum of all elements, shape [1]", 1, 1, 0, ops_sum_forward),
    OP("mean", "mean of all elements, shape [1]", 1, 1, 0, ops_mean_forward),
    OP("mse_loss", "mean or sum of (pred - target)^2, shape [1] (ttml_mse_op_params)", 2, 2,
       sizeof(ttml_mse_op_params), ops_mse_loss_forward),
};

static gboolean core_ops_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(core_ops); i++)
        if (!host->register_op(plugin, &core_ops[i], error)) return FALSE;
    return TRUE;
}

TTML_PLUGIN_DEFINE(core_ops, TTML_PLUGIN_OPS, "0.1.0",
                   "Core autograd ops: add, sub, mul, div, add_scalar, mul_scalar, matmul, "
                   "linear, relu, sum, mean, mse_loss",
                   "MIT", NULL, core_ops_init, NULL)
