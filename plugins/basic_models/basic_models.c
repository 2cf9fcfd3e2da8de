/* basic_models - the small models: linear_regression and mlp.
 *
 * linear_regression   one nn.Linear layer (child "linear"):
 *                       in_features: 3     (required, > 0)
 *                       out_features: 1    (required, > 0)
 *                     parameters linear.weight [out, in], linear.bias [out].
 *
 * mlp                 TT-Train's MultiLayerPerceptronParameters:
 *                       input_features: 2
 *                       hidden_features: [16, 16]   (may be empty or absent)
 *                       output_features: 1
 *                       activation: relu            (optional, default relu)
 *                       activation: {op: leaky_relu, slope: 0.1}   (op + parameters)
 *                     Linear + activation per hidden layer, a final Linear
 *                     without activation; children "layers.0", "layers.1", ...
 *                     so the parameters are layers.0.weight, layers.0.bias, ...
 *                     `activation` names any registered one-input op without
 *                     parameters or with defaults (relu, gelu, silu,
 *                     leaky_relu, or one from a plugin such as
 *                     examples/third_party_op's sqrelu), or is a mapping of
 *                     `op` and the op's parameters by the field names its
 *                     descriptor lists (ttml_op_params_from_config: unknown
 *                     names get "did you mean", wrong types an error), checked
 *                     at create time and applied with ttml_op_call.
 *
 * Fields are read with the ttml_config getters, which mark them used, so the
 * core rejects unknown keys (with their line) after create() returns.
 */
#include <ttml/ttml.h>

#include <string.h>

/* "file:line:col" of `key` in `cfg` when present, else of `cfg` itself. */
static const char *key_where(ttml_config *cfg, const char *key, char *buf, size_t size)
{
    ttml_config *node = key ? ttml_config_get(cfg, key) : NULL;
    return ttml_config_where(node ? node : cfg, buf, size);
}

/* A required positive integer field; returns -1 (with the error set) when
 * the key is missing, not an integer, or not positive. */
static gint64 require_positive(ttml_config *cfg, const char *model, const char *key, GError **error)
{
    char where[256];
    if (!ttml_config_get(cfg, key)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: '%s' is missing; %s needs it (a positive integer), e.g. '%s: 4' in "
                    "the model's section",
                    key_where(cfg, NULL, where, sizeof where), key, model, key);
        return -1;
    }
    GError *local = NULL;
    gint64 v = ttml_config_int(cfg, key, -1, &local);
    if (local) {
        g_propagate_error(error, local);
        return -1;
    }
    if (v <= 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: '%s' must be a positive integer, got %" G_GINT64_FORMAT,
                    key_where(cfg, key, where, sizeof where), key, v);
        return -1;
    }
    return v;
}

static gboolean require_map(ttml_config *cfg, const char *model, const char *fields, GError **error)
{
    char where[256];
    if (!cfg) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "no model configuration given; %s needs %s", model, fields);
        return FALSE;
    }
    if (ttml_config_get_type(cfg) != TTML_CONFIG_MAP) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: the configuration of %s must be a mapping with %s",
                    ttml_config_where(cfg, where, sizeof where), model, fields);
        return FALSE;
    }
    return TRUE;
}

/* ---- linear_regression ---- */

static ttml_tensor *linear_regression_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    return ttml_module_forward(g_ptr_array_index(m->children, 0), x, error);
}

static const ttml_module_class linear_regression_class = {
    "linear_regression", linear_regression_forward, NULL,
};

static ttml_module *linear_regression_create(ttml_config *cfg, GError **error)
{
    if (!require_map(cfg, "linear_regression", "in_features and out_features", error))
        return NULL;
    gint64 in = require_positive(cfg, "linear_regression", "in_features", error);
    if (in < 0) return NULL;
    gint64 out = require_positive(cfg, "linear_regression", "out_features", error);
    if (out < 0) return NULL;

    ttml_module *linear = ttml_linear_layer_new(in, out, TRUE, error);
    if (!linear) return NULL;
    ttml_module *m = ttml_module_new(&linear_regression_class, NULL);
    ttml_module_add_child(m, "linear", linear);
    return m;
}

/* ---- mlp ---- */

/* m->priv: the activation, an op and its params (NULL: none, or the op's
 * defaults). Owns both strings/buffers. */
typedef struct {
    char *op;
    void *params;
    size_t params_size;
} mlp_activation_t;

static ttml_tensor *mlp_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    const mlp_activation_t *act = m->priv;
    guint n = m->children->len;
    ttml_tensor *h = ttml_tensor_ref(x);
    for (guint i = 0; i < n; i++) {
        ttml_tensor *y = ttml_module_forward(g_ptr_array_index(m->children, i), h, error);
        ttml_tensor_unref(h);
        if (!y) return NULL;
        if (i + 1 < n) {
            h = ttml_op_call(act->op, &y, 1, act->params, act->params ? act->params_size : 0, error);
            ttml_tensor_unref(y);
            if (!h) return NULL;
        } else {
            h = y;
        }
    }
    return h;
}

static void mlp_activation_free(mlp_activation_t *act)
{
    if (!act) return;
    g_free(act->op);
    g_free(act->params);
    g_free(act);
}

static void mlp_finalize(ttml_module *m)
{
    mlp_activation_free(m->priv);
}

static const ttml_module_class mlp_class = {"mlp", mlp_forward, mlp_finalize};

/* An op usable as an activation: one input; by name alone only when it has
 * no parameters or declares defaults (a mapping may set them). */
static gboolean is_activation(const ttml_op_desc *op, gboolean by_name)
{
    return op && op->forward && op->min_inputs <= 1 && op->max_inputs >= 1 &&
           (!by_name || op->params_size == 0 || ttml_op_default_params(op));
}

/* The error for an activation op that is missing or unusable. */
static void activation_error(ttml_config *cfg, const char *name, const ttml_op_desc *op, gboolean by_name,
                             GError **error)
{
    GString *known = g_string_new(NULL);
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (f->kind == TTML_FEATURE_OP && is_activation(ttml_op_find(f->name), TRUE))
            g_string_append_printf(known, "%s%s", known->len ? ", " : "", f->name);
    }
    char where[256];
    char *rejected = ttml_registry_rejected_summary();
    const char *why = !op ? "is not a registered op"
                      : is_activation(op, FALSE) && by_name
                          ? "needs parameters and has no defaults (write `activation: {op: NAME, FIELD: "
                            "VALUE}`)"
                          : "is not a one-input op";
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                "%s: activation '%s' %s; available one-input ops: %s (an op from a plugin needs "
                "that plugin loaded, e.g. with --plugin-path DIR)%s",
                key_where(cfg, "activation", where, sizeof where), name ? name : "", why,
                known->len ? known->str : "none", rejected);
    g_free(rejected);
    g_string_free(known, TRUE);
}

/* The optional `activation` key: an op name (`activation: leaky_relu`,
 * "relu" when absent) or a mapping of the op and its parameters by field
 * name (`activation: {op: leaky_relu, slope: 0.1}`). NULL (error set) when
 * the op is unknown, not one-input, or a parameter is wrong. */
static mlp_activation_t *mlp_activation(ttml_config *cfg, GError **error)
{
    GError *local = NULL;
    ttml_config *node = ttml_config_get(cfg, "activation");
    gboolean by_name = !node || ttml_config_get_type(node) != TTML_CONFIG_MAP;
    const char *name = by_name ? ttml_config_string(cfg, "activation", "relu", &local)
                               : ttml_config_string(node, "op", NULL, &local);
    if (local) {
        g_propagate_error(error, local);
        return NULL;
    }
    if (!name) {
        char where[256];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: the activation mapping needs 'op', the op's name, e.g. "
                    "`activation: {op: leaky_relu, slope: 0.1}`",
                    ttml_config_where(node, where, sizeof where));
        return NULL;
    }
    const ttml_op_desc *op = ttml_op_find(name);
    if (!is_activation(op, by_name)) {
        activation_error(cfg, name, op, by_name, error);
        return NULL;
    }
    mlp_activation_t *act = g_new0(mlp_activation_t, 1);
    act->op = g_strdup(name);
    if (!by_name) {
        act->params = ttml_op_params_from_config(op, node, "op", error);
        if (!act->params) {
            mlp_activation_free(act);
            return NULL;
        }
        act->params_size = op->params_size;
        if (!op->params_size) g_clear_pointer(&act->params, g_free);
    }
    return act;
}

static ttml_module *mlp_create(ttml_config *cfg, GError **error)
{
    const char *fields = "input_features, hidden_features (a list) and output_features";
    if (!require_map(cfg, "mlp", fields, error)) return NULL;
    gint64 in = require_positive(cfg, "mlp", "input_features", error);
    if (in < 0) return NULL;

    gint64 *hidden = NULL;
    int n_hidden = ttml_config_int_list(cfg, "hidden_features", &hidden, error);
    if (n_hidden < 0) return NULL;
    for (int i = 0; i < n_hidden; i++) {
        if (hidden[i] <= 0) {
            char where[256];
            ttml_config *list = ttml_config_get(cfg, "hidden_features");
            ttml_config *item = list ? ttml_config_seq_nth(list, (guint)i) : NULL;
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: hidden_features[%d] must be a positive integer, got %"
                        G_GINT64_FORMAT,
                        ttml_config_where(item ? item : cfg, where, sizeof where), i, hidden[i]);
            g_free(hidden);
            return NULL;
        }
    }
    gint64 out = require_positive(cfg, "mlp", "output_features", error);
    if (out < 0) {
        g_free(hidden);
        return NULL;
    }
    mlp_activation_t *activation = mlp_activation(cfg, error);
    if (!activation) {
        g_free(hidden);
        return NULL;
    }

    ttml_module *m = ttml_module_new(&mlp_class, activation);
    gint64 prev = in;
    for (int i = 0; i <= n_hidden; i++) {
        gint64 next = i < n_hidden ? hidden[i] : out;
        ttml_module *layer = ttml_linear_layer_new(prev, next, TRUE, error);
        if (!layer) {
            g_free(hidden);
            ttml_module_unref(m);
            return NULL;
        }
        char name[32];
        g_snprintf(name, sizeof name, "layers.%d", i);
        ttml_module_add_child(m, name, layer);
        prev = next;
    }
    g_free(hidden);
    return m;
}

/* ---- plugin ---- */

static const ttml_model_desc linear_regression_desc = {
    sizeof(ttml_model_desc), "linear_regression",
    "one linear layer y = x W^T + b (in_features, out_features)", linear_regression_create,
};

static const ttml_model_desc mlp_desc = {
    sizeof(ttml_model_desc), "mlp",
    "multi-layer perceptron: Linear+activation per hidden layer, final Linear "
    "(input_features, hidden_features, output_features, activation: relu or any one-input op, "
    "or {op: NAME, PARAM: VALUE})",
    mlp_create,
};

static gboolean basic_models_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_model(plugin, &linear_regression_desc, error) &&
           host->register_model(plugin, &mlp_desc, error);
}

TTML_PLUGIN_DEFINE(basic_models, TTML_PLUGIN_MODEL, "0.1.0",
                   "linear_regression and mlp models", "Apache-2.0", NULL, basic_models_init, NULL)
