/* core/train/lm_model.c - a language model from a config text: the trainer
 * (train_lm.c) and generation (generate.c) build the model from
 * training_config.transformer_config with vocab_size overridden to the
 * padded tokenizer size through the config API (the text is never edited). */
#include "train_app.h"

ttml_module *ttml_lm_model_create(const char *model_type, const char *text, const char *name,
                                  gint64 vocab_size, GError **error)
{
    ttml_config *root = ttml_config_load_string(text, name, error);
    if (!root) return NULL;
    ttml_module *m = NULL;
    ttml_config *train = ttml_config_ensure_map(root, "training_config", error);
    ttml_config *tcfg = train ? ttml_config_ensure_map(train, "transformer_config", error) : NULL;
    if (tcfg && ttml_config_set_int(tcfg, "vocab_size", vocab_size, error))
        m = ttml_model_create(model_type, tcfg, error);
    ttml_config_free(root);
    return m;
}
