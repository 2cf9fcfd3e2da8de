/* core/train/train.c - ttml_train_run: check the options, load the config and
 * hand it to the loop it describes: a language model (train_lm.c; on a
 * simulated multi-chip mesh, mesh.c runs one per chip) or the regression
 * loop (train_regression.c). Keys and outputs: include/ttml/train.h. */
#include "train_app.h"

#include <string.h>

/* TRUE when the config describes a language model (a transformer_config in
 * training_config or data_config.type: text). */
static gboolean is_lm_config(ttml_config *root)
{
    if (!root || ttml_config_get_type(root) != TTML_CONFIG_MAP) return FALSE;
    ttml_config *train = ttml_config_peek(root, "training_config");
    if (train && ttml_config_get_type(train) == TTML_CONFIG_MAP &&
        ttml_config_peek(train, "transformer_config"))
        return TRUE;
    ttml_config *data = ttml_config_peek(root, "data_config");
    ttml_config *type = data && ttml_config_get_type(data) == TTML_CONFIG_MAP
                            ? ttml_config_peek(data, "type")
                            : NULL;
    return type && ttml_config_get_type(type) == TTML_CONFIG_SCALAR &&
           g_strcmp0(ttml_config_scalar(type), "text") == 0;
}

gboolean ttml_train_check_config(const char *text, const char *name, const ttml_run_options *options,
                                 GError **error)
{
    g_return_val_if_fail(text != NULL, FALSE);
    ttml_run_options opts = {0};
    if (options) memcpy(&opts, options, MIN(options->struct_size, sizeof opts));
    ttml_config *root = ttml_config_load_string(text, name ? name : "config", error);
    if (!root) return FALSE;
    gboolean ok = FALSE;
    if (is_lm_config(root)) {
        ok = ttml_train_lm_check(&opts, root, error);
    } else if (opts.resume || opts.data_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: %s is only supported for language models (a config with "
                    "training_config.transformer_config and data_config.type: text)",
                    ttml_config_file(root), opts.resume ? "--resume" : "--data");
    } else {
        ok = ttml_train_regression_check(root, error);
    }
    ttml_config_free(root);
    return ok;
}

gboolean ttml_train_run(const ttml_run_options *options, GError **error)
{
    g_return_val_if_fail(options != NULL, FALSE);
    /* Callers built against an older, shorter struct: the new tail is 0. */
    ttml_run_options opts = {0};
    if (options->struct_size < G_STRUCT_OFFSET(ttml_run_options, quiet) + sizeof(gboolean) ||
        !options->config_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_train_run: options need struct_size = sizeof(ttml_run_options) and a "
                    "config_path");
        return FALSE;
    }
    memcpy(&opts, options, MIN(options->struct_size, sizeof opts));
    opts.struct_size = sizeof opts;
    const ttml_run_options *o = &opts;

    ttml_config *root = ttml_config_load_file(o->config_path, error);
    if (!root) return FALSE;
    gboolean ok = FALSE;
    if (is_lm_config(root) && ttml_train_mesh_chips(o, root) > 1) {
        ok = ttml_train_mesh_run(o, root, error);
    } else if (is_lm_config(root)) {
        ok = ttml_train_lm_run(o, root, error);
    } else if (o->resume || o->data_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: %s is only supported for language models (a config with "
                    "training_config.transformer_config and data_config.type: text)",
                    o->config_path, o->resume ? "--resume" : "--data");
    } else {
        ok = ttml_train_regression_run(o, root, error);
    }
    ttml_config_free(root);
    return ok;
}
