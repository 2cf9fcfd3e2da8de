/* tests/plugins/fixture_params.c - a third-party op plugin with optional
 * parameters (ABI 1.3 op descriptor tail), for test_op_params:
 *   fx_affine        y = scale * x + shift; defaults {2, 0.5}; fields
 *                    scale, shift (so `activation: {op: fx_affine, ...}`)
 *   fx_affine_nodef  the same op without defaults (NULL params: an error)
 *   fx_affine_old    an ABI 1.2 descriptor (struct_size ends at forward)
 *                    whose memory past that holds defaults: the core must
 *                    not read them, so NULL params is an error
 *   fx_badfield      a field past the params struct: registration fails,
 *                    the plugin goes on without it */
#include <ttml/ttml.h>

typedef struct { float scale, shift; } fx_affine_params;

static ttml_tensor *fx_affine_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("fx_affine", in, n_in, 1, 1, 0, error)) return NULL;
    const fx_affine_params *p = params;
    ttml_tensor *scaled = ttml_mul_scalar(in[0], p->scale, error);
    if (!scaled) return NULL;
    ttml_tensor *y = ttml_add_scalar(scaled, p->shift, error);
    ttml_tensor_unref(scaled);
    return y;
}

static const fx_affine_params fx_defaults = {2.0f, 0.5f};
static const ttml_op_param_field fx_fields[] = {
    {"scale", TTML_OP_PARAM_FLOAT, offsetof(fx_affine_params, scale), "factor"},
    {"shift", TTML_OP_PARAM_FLOAT, offsetof(fx_affine_params, shift), "offset"},
    {NULL, 0, 0, NULL},
};
static const ttml_op_param_field fx_bad_fields[] = {
    {"beyond", TTML_OP_PARAM_INT64, sizeof(fx_affine_params) - 4, "does not fit"},
    {NULL, 0, 0, NULL},
};

static const ttml_op_desc fx_ops[] = {
    {sizeof(ttml_op_desc), "fx_affine", "scale * x + shift (defaults 2, 0.5)", 1, 1, sizeof(fx_affine_params),
     fx_affine_forward, &fx_defaults, fx_fields},
    {sizeof(ttml_op_desc), "fx_affine_nodef", "scale * x + shift (no defaults)", 1, 1,
     sizeof(fx_affine_params), fx_affine_forward, NULL, fx_fields},
    {offsetof(ttml_op_desc, default_params), "fx_affine_old", "an ABI 1.2 descriptor", 1, 1,
     sizeof(fx_affine_params), fx_affine_forward, &fx_defaults, fx_fields},
};
static const ttml_op_desc fx_bad_op = {
    sizeof(ttml_op_desc), "fx_badfield", "a field table that does not fit", 1, 1, sizeof(fx_affine_params),
    fx_affine_forward, &fx_defaults, fx_bad_fields,
};

static gboolean fx_params_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(fx_ops); i++)
        if (!host->register_op(plugin, &fx_ops[i], error)) return FALSE;
    GError *bad = NULL;
    if (!host->register_op(plugin, &fx_bad_op, &bad)) {
        host->log(plugin, G_LOG_LEVEL_MESSAGE, "fx_badfield refused: %s", bad->message);
        g_clear_error(&bad);
    }
    return TRUE;
}

TTML_PLUGIN_DEFINE(fx_params, TTML_PLUGIN_OPS, "0.0.1", "op-parameter test fixture", "MIT", NULL,
                   fx_params_init, NULL)
