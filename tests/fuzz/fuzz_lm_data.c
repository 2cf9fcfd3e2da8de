/* tests/fuzz/fuzz_lm_data.c - fuzz target: the text data loader
 * (core/train/lm_data.c). Byte 0 picks the validation fraction and byte 1 the
 * sequence length; the rest is the corpus file. When the splits hold a
 * window, training and validation windows are drawn as the LM loop does and
 * every id must be inside the vocabulary. A second load encodes the corpus
 * with a tokenizer built from its first half (as with a checkpoint's
 * tokenizer), which may refuse unknown characters. */
#include "fuzz.h"
#include "train_app.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    path = g_strdup_printf("%s/ttml-fuzz-lm-data-%d.txt", g_get_tmp_dir(), (int)getpid());
    return 0;
}

static void check_windows(const ttml_text_data *d, int S)
{
    gint64 vocab = ttml_tokenizer_vocab_size(d->tokenizer);
    guint32 *in = g_new(guint32, 2 * (gsize)S), *tg = g_new(guint32, 2 * (gsize)S);
    if (d->n_train > (gsize)S + 1) {
        ttml_text_data_sample(d, 2, S, in, tg);
        for (int i = 0; i < 2 * S; i++)
            if (in[i] >= vocab || tg[i] >= vocab) abort();
    }
    if (d->n_val > (gsize)S + 1) {
        for (gint64 k = 0; k < 3; k++) ttml_text_data_val_window(d, k, 3, S, in, tg);
        for (int i = 0; i < S; i++)
            if (in[i] >= vocab || tg[i] >= vocab) abort();
    }
    g_free(in);
    g_free(tg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    double val_fraction = data[0] / 255.0;
    int S = 1 + data[1] % 64;
    GError *err = NULL;
    if (!g_file_set_contents(path, (const char *)data + 2, (gssize)size - 2, &err)) {
        fprintf(stderr, "fuzz_lm_data: %s\n", err->message);
        abort();
    }
    const char *candidates[] = {"/nonexistent/ttml-fuzz/corpus.txt", path, NULL};
    ttml_text_data *d = ttml_text_data_load(candidates, NULL, NULL, val_fraction, &err);
    g_clear_error(&err);
    if (d) {
        if (d->n != d->n_train + d->n_val) abort();
        check_windows(d, S);
        ttml_text_data_free(d);
    }
    /* encode with the vocabulary of the first half of the corpus */
    ttml_tokenizer *half = ttml_char_tokenizer_new((const char *)data + 2, (size - 2) / 2, &err);
    g_clear_error(&err);
    if (half) {
        d = ttml_text_data_load(candidates, NULL, half, val_fraction, &err);
        g_clear_error(&err);
        if (d) check_windows(d, S);
        ttml_text_data_free(d);
    }
    g_unlink(path);
    return 0;
}
