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
 *                     Linear + activation per hidden layer, a final Linear
 *                     without activation; children "layers.0", "layers.1", ...
 *                     so the parameters are layers.0.weight, layers.0.bias, ...
 *                     `activation` names any registered one-input op without
 *                     parameters (relu, gelu, silu, or one from a plugin such
 *                     as examples/third_party_op's sqrelu), checked at create
 *                     time and applied with ttml_op_call.
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

/* m->priv: the activation op's name (g_strdup). */
static ttml_tensor *mlp_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    const char *activation = m->priv;
    guint n = m->children->len;
    ttml_tensor *h = ttml_tensor_ref(x);
    for (guint i = 0; i < n; i++) {
        ttml_tensor *y = ttml_module_forward(g_ptr_array_index(m->children, i), h, error);
        ttml_tensor_unref(h);
        if (!y) return NULL;
        if (i + 1 < n) {
            h = ttml_op_call(activation, &y, 1, NULL, 0, error);
            ttml_tensor_unref(y);
            if (!h) return NULL;
        } else {
            h = y;
        }
    }
    return h;
}

static void mlp_finalize(ttml_module *m)
{
    g_free(m->priv);
}

static const ttml_module_class mlp_class = {"mlp", mlp_forward, mlp_finalize};

/* An op usable as an activation: one input, no parameters. */
static gboolean is_activation(const ttml_op_desc *op)
{
    return op && op->forward && op->min_inputs <= 1 && op->max_inputs >= 1 && op->params_size == 0;
}

/* The optional `activation` key: the name of a registered activation op
 * (g_free), "relu" when absent, NULL (error set) otherwise. */
static char *mlp_activation(ttml_config *cfg, GError **error)
{
    GError *local = NULL;
    const char *name = ttml_config_string(cfg, "activation", "relu", &local);
    if (local) {
        g_propagate_error(error, local);
        return NULL;
    }
    const ttml_op_desc *op = name ? ttml_op_find(name) : NULL;
    if (is_activation(op)) return g_strdup(name);
    GString *known = g_string_new(NULL);
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (f->kind == TTML_FEATURE_OP && is_activation(ttml_op_find(f->name)))
            g_string_append_printf(known, "%s%s", known->len ? ", " : "", f->name);
    }
    char where[256];
    char *rejected = ttml_registry_rejected_summary();
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                "%s: activation '%s' %s; available one-input ops: %s (an op from a plugin needs "
                "that plugin loaded, e.g. with --plugin-path DIR)%s",
                key_where(cfg, "activation", where, sizeof where), name ? name : "",
                op ? "is not a one-input op without parameters" : "is not a registered op",
                known->len ? known->str : "none", rejected);
    g_free(rejected);
    g_string_free(known, TRUE);
    return NULL;
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
    char *activation = mlp_activation(cfg, error);
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
    "(input_features, hidden_features, output_features, activation: relu or any one-input op)",
    mlp_create,
};

static gboolean basic_models_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_model(plugin, &linear_regression_desc, error) &&
           host->register_model(plugin, &mlp_desc, error);
}

TTML_PLUGIN_DEFINE(basic_models, TTML_PLUGIN_MODEL, "0.1.0",
                   "linear_regression and mlp models", "Apache-2.0", NULL, basic_models_init, NULL)
