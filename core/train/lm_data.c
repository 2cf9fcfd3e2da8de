/* core/train/lm_data.c - a text corpus for language-model training: the first
 * existing candidate file, tokenized once, split into train (head) and
 * validation (tail) tokens, and random windows drawn with the context RNG. */
#include "train_app.h"

#include <errno.h>
#include <string.h>

ttml_text_data *ttml_text_data_load(const char *const *candidates, const char *base_dir,
                                    ttml_tokenizer *tokenizer, double val_fraction, GError **error)
{
    char *found = NULL;
    GString *tried = g_string_new(NULL);
    for (const char *const *c = candidates; c && *c && !found; c++) {
        char *path = g_path_is_absolute(*c) || !base_dir ? g_strdup(*c)
                                                          : g_build_filename(base_dir, *c, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            found = path;
        else {
            g_string_append_printf(tried, "%s'%s'", tried->len ? ", " : "", path);
            g_free(path);
        }
    }
    if (!found) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO,
                    "no text corpus found (tried %s); point data_config.path at a UTF-8 text "
                    "file or pass --data FILE",
                    tried->len ? tried->str : "nothing: data_config.path is empty");
        g_string_free(tried, TRUE);
        ttml_tokenizer_free(tokenizer);
        return NULL;
    }
    char *skipped = tried->len ? g_string_free(tried, FALSE) : (g_string_free(tried, TRUE), NULL);

    char *text = NULL;
    gsize len = 0;
    GError *local = NULL;
    if (!g_file_get_contents(found, &text, &len, &local)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot read the corpus '%s': %s", found,
                    local->message);
        g_error_free(local);
        g_free(found);
        g_free(skipped);
        ttml_tokenizer_free(tokenizer);
        return NULL;
    }
    ttml_text_data *d = g_new0(ttml_text_data, 1);
    d->path = found;
    d->skipped = skipped;
    d->tokenizer = tokenizer ? tokenizer : ttml_char_tokenizer_new(text, len, error);
    if (!d->tokenizer) {
        g_prefix_error(error, "corpus '%s': ", found);
        g_free(text);
        ttml_text_data_free(d);
        return NULL;
    }
    d->ids = ttml_tokenizer_encode(d->tokenizer, text, len, &d->n, error);
    g_free(text);
    if (!d->ids) {
        g_prefix_error(error, "corpus '%s'%s: ", found,
                       tokenizer ? " (encoded with the checkpoint's tokenizer)" : "");
        ttml_text_data_free(d);
        return NULL;
    }
    d->n_val = (gsize)((double)d->n * val_fraction);
    d->n_train = d->n - d->n_val;
    return d;
}

void ttml_text_data_free(ttml_text_data *d)
{
    if (!d) return;
    g_free(d->path);
    g_free(d->skipped);
    ttml_tokenizer_free(d->tokenizer);
    g_free(d->ids);
    g_free(d);
}

void ttml_text_data_sample(const ttml_text_data *d, int B, int S, guint32 *inputs, guint32 *targets)
{
    /* Windows of S + 1 tokens starting at 0 .. n_train - S - 1. */
    guint64 range = (guint64)(d->n_train - (gsize)S);
    for (int b = 0; b < B; b++) {
        gsize off = (gsize)(ttml_rng_u64() % range);
        const guint32 *src = d->ids + off;
        memcpy(inputs + (gsize)b * S, src, (gsize)S * sizeof(guint32));
        memcpy(targets + (gsize)b * S, src + 1, (gsize)S * sizeof(guint32));
    }
}

void ttml_text_data_val_window(const ttml_text_data *d, gint64 k, gint64 K, int S, guint32 *inputs,
                               guint32 *targets)
{
    /* Offsets 0 .. n_val - S - 1 within the validation split, evenly spaced. */
    gsize last = d->n_val - (gsize)S - 1;
    gsize off = K > 1 ? (gsize)((double)last * (double)k / (double)(K - 1)) : 0;
    const guint32 *src = d->ids + d->n_train + off;
    memcpy(inputs, src, (gsize)S * sizeof(guint32));
    memcpy(targets, src + 1, (gsize)S * sizeof(guint32));
}
