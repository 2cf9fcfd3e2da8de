/* core/train/lm_model.c - a language model from a config text: the trainer
 * (train_lm.c) and generation (generate.c) build the model from
 * training_config.transformer_config with vocab_size overridden to the
 * padded tokenizer size through the config API (the text is never edited);
 * the trainer's fit check (train_fit.c) asks for its size the same way. */
#include "train_app.h"

/* The parsed `text` and its transformer_config with vocab_size set; NULL
 * *tcfg on error (the caller frees the returned root). */
static ttml_config *lm_config(const char *text, const char *name, gint64 vocab_size, ttml_config **tcfg,
                              GError **error)
{
    *tcfg = NULL;
    ttml_config *root = ttml_config_load_string(text, name, error);
    if (!root) return NULL;
    ttml_config *train = ttml_config_ensure_map(root, "training_config", error);
    ttml_config *t = train ? ttml_config_ensure_map(train, "transformer_config", error) : NULL;
    if (t && ttml_config_set_int(t, "vocab_size", vocab_size, error)) *tcfg = t;
    return root;
}

ttml_module *ttml_lm_model_create(const char *model_type, const char *text, const char *name,
                                  gint64 vocab_size, GError **error)
{
    ttml_config *tcfg;
    ttml_config *root = lm_config(text, name, vocab_size, &tcfg, error);
    ttml_module *m = tcfg ? ttml_model_create(model_type, tcfg, error) : NULL;
    ttml_config_free(root);
    return m;
}

gboolean ttml_lm_model_estimate(const char *model_type, const char *text, const char *name, gint64 vocab_size,
                                ttml_model_size *out, GError **error)
{
    ttml_config *tcfg;
    ttml_config *root = lm_config(text, name, vocab_size, &tcfg, error);
    gboolean ok = tcfg && ttml_model_estimate(model_type, tcfg, out, error);
    ttml_config_free(root);
    return ok;
}
