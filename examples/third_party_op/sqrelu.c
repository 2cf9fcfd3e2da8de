/* sqrelu.c - a third-party ttml op plugin: squared ReLU, y = relu(x)^2
 * (So et al., "Primer: Searching for Efficient Transformers", 2021).
 *
 * It shows everything a plugin provides, built only against an installed
 * ttml (see README.md and docs/writing-plugins.md):
 *   - two cpu kernels, "sqrelu_fwd" and "sqrelu_bwd", registered for the
 *     driver "cpu" (a driver without them runs these on host copies);
 *   - the autograd op "sqrelu": its forward launches sqrelu_fwd and records
 *     a graph node whose backward launches sqrelu_bwd, so it is usable from
 *     C (ttml_op_call("sqrelu", ...)) and from a YAML config by name
 *     (mlp's `activation: sqrelu`, see mlp_sqrelu.yaml);
 *   - the entry point ttml_plugin_sqrelu_get_desc (TTML_PLUGIN_DEFINE),
 *     the only exported symbol; the file must be called libttml_sqrelu.so.
 */
#include <ttml/ttml.h>

/* ---- cpu kernels ----
 * "sqrelu_fwd": out[0] = relu(in[0])^2
 * "sqrelu_bwd": out[0] = 2 * relu(in[0]) * in[1]      (in[0] = x, in[1] = dy)
 * All f32, same number of elements. ttml_view_numel / ttml_view_data
 * (ttml/driver.h) give a view's element count and its checked host address
 * (dtype, count and buffer bounds; an error names the kernel and slot). */

static gboolean check_slots(const ttml_launch *l, int n_in, GError **error)
{
    if (l->n_in != n_in || l->n_out != 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu kernel '%s': takes %d input(s) and 1 output, got %d and %d", l->kernel, n_in, l->n_in,
                    l->n_out);
        return FALSE;
    }
    return TRUE;
}

static gboolean cpu_sqrelu_fwd(ttml_device *device, const ttml_launch *l, GError **error)
{
    (void)device;
    if (!check_slots(l, 1, error)) return FALSE;
    size_t n = ttml_view_numel(&l->in[0]);
    const float *x = ttml_view_data(l, &l->in[0], "in[0]", TTML_DTYPE_F32, n, error);
    float *y = x ? ttml_view_data(l, &l->out[0], "out[0]", TTML_DTYPE_F32, n, error) : NULL;
    if (!y) return FALSE;
    for (size_t i = 0; i < n; i++) {
        float r = x[i] > 0.0f ? x[i] : 0.0f;
        y[i] = r * r;
    }
    return TRUE;
}

static gboolean cpu_sqrelu_bwd(ttml_device *device, const ttml_launch *l, GError **error)
{
    (void)device;
    if (!check_slots(l, 2, error)) return FALSE;
    size_t n = ttml_view_numel(&l->in[0]);
    const float *x = ttml_view_data(l, &l->in[0], "in[0]", TTML_DTYPE_F32, n, error);
    const float *dy = x ? ttml_view_data(l, &l->in[1], "in[1]", TTML_DTYPE_F32, n, error) : NULL;
    float *dx = dy ? ttml_view_data(l, &l->out[0], "out[0]", TTML_DTYPE_F32, n, error) : NULL;
    if (!dx) return FALSE;
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? 2.0f * x[i] * dy[i] : 0.0f;
    return TRUE;
}

/* ---- the autograd op ---- */

/* d loss / d x = 2 relu(x) * d loss / d y; node->in[0] is x. */
static gboolean sqrelu_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    ttml_tensor *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    ttml_tensor *dx = ttml_op_output(x, x->ndim, x->shape, error);
    if (!dx) return FALSE;
    ttml_tensor *in[2] = {x, dy};
    gboolean ok = ttml_launch_tensors("sqrelu_bwd", in, 2, &dx, 1, NULL, 0, error) &&
                  ttml_tensor_accumulate_grad(x, dx, error);
    ttml_tensor_unref(dx);   /* accumulate_grad keeps its own reference; never touch dx again */
    return ok;
}

static ttml_tensor *sqrelu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    (void)params;
    /* exactly one input, not NULL, f32 */
    if (!ttml_op_check_inputs("sqrelu", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *x = in[0];
    ttml_tensor *y = ttml_op_output(x, x->ndim, x->shape, error);
    if (!y) return NULL;
    if (!ttml_launch_tensors("sqrelu_fwd", &x, 1, &y, 1, NULL, 0, error)) {
        ttml_tensor_unref(y);
        return NULL;
    }
    /* records nothing when gradients are off or x does not require them */
    ttml_graph_record("sqrelu", y, in, 1, sqrelu_backward);
    return y;
}

/* Designated initializers: fields a later ABI minor adds at the tail (such
 * as 1.3's default_params / param_fields) are zero, with no source change and
 * no -Wmissing-field-initializers warning. */
static const ttml_op_desc sqrelu_op = {
    .struct_size = sizeof(ttml_op_desc),
    .name = "sqrelu",
    .description = "squared ReLU relu(x)^2 (Primer)",
    .min_inputs = 1,
    .max_inputs = 1,
    .params_size = 0,
    .forward = sqrelu_forward,
};

/* ---- the plugin ---- */

static gboolean sqrelu_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_kernel(plugin, "cpu", "sqrelu_fwd", cpu_sqrelu_fwd, error) &&
           host->register_kernel(plugin, "cpu", "sqrelu_bwd", cpu_sqrelu_bwd, error) &&
           host->register_op(plugin, &sqrelu_op, error);
}

TTML_PLUGIN_DEFINE(sqrelu, TTML_PLUGIN_OPS, "1.0.0", "squared ReLU op relu(x)^2 with cpu kernels", "MIT", NULL,
                   sqrelu_init, NULL)
