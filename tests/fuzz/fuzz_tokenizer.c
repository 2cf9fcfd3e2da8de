/* tests/fuzz/fuzz_tokenizer.c - fuzz target: the character tokenizer
 * (core/formats/tokenizer.c) as a checkpoint hands it over. The input up to
 * the first NUL byte is a serialized vocabulary (checkpoint metadata
 * "tokenizer"); the rest is text to encode with it. The text also builds a
 * tokenizer of its own, for which decode(encode(text)) == text must hold, as
 * must deserialize(serialize(t)) having the same vocabulary. */
#include "fuzz.h"

#include <ttml/ttml.h>
#include <stdlib.h>
#include <string.h>

static void round_trip(const ttml_tokenizer *t, const char *text, gsize len, gboolean must_encode)
{
    GError *err = NULL;
    gsize n = 0;
    guint32 *ids = ttml_tokenizer_encode(t, text, len, &n, &err);
    if (!ids) {
        if (must_encode) abort(); /* every character of the corpus is in its vocabulary */
        g_clear_error(&err);
        return;
    }
    for (gsize i = 0; i < n; i++)
        if ((gint64)ids[i] >= ttml_tokenizer_vocab_size(t)) abort();
    char *back = ttml_tokenizer_decode(t, ids, n);
    if (strlen(back) != len || memcmp(back, text, len) != 0) abort();
    g_free(back);
    g_free(ids);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) { return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bytes = (const char *)data;
    const char *nul = memchr(bytes, '\0', size);
    gsize vlen = nul ? (gsize)(nul - bytes) : size;
    char *vocab = g_strndup(bytes, vlen);
    const char *text = nul ? nul + 1 : "";
    gsize tlen = nul ? size - vlen - 1 : 0;
    GError *err = NULL;

    ttml_tokenizer *t = ttml_tokenizer_deserialize(vocab, &err);
    g_clear_error(&err);
    if (t) {
        if (ttml_tokenizer_padded_vocab_size(t) % 32 || ttml_tokenizer_padded_vocab_size(t) < ttml_tokenizer_vocab_size(t))
            abort();
        char *s = ttml_tokenizer_serialize(t);
        if (strcmp(s, vocab) != 0) abort();
        g_free(s);
        round_trip(t, text, tlen, FALSE);
        guint32 ids[4] = {0, (guint32)ttml_tokenizer_vocab_size(t), G_MAXUINT32, 31};
        g_free(ttml_tokenizer_decode(t, ids, 4));
        ttml_tokenizer_free(t);
    }
    /* the whole input as a corpus */
    ttml_tokenizer *own = ttml_char_tokenizer_new(bytes, size, &err);
    g_clear_error(&err);
    if (own) {
        round_trip(own, bytes, size, TRUE);
        char *s = ttml_tokenizer_serialize(own);
        ttml_tokenizer *again = ttml_tokenizer_deserialize(s, &err);
        /* a corpus holding NUL serializes to a shorter string: then only the prefix must parse */
        if (!again && !memchr(bytes, '\0', size)) abort();
        g_clear_error(&err);
        if (again && !memchr(bytes, '\0', size) && ttml_tokenizer_vocab_size(again) != ttml_tokenizer_vocab_size(own))
            abort();
        ttml_tokenizer_free(again);
        g_free(s);
        ttml_tokenizer_free(own);
    }
    g_free(vocab);
    return 0;
}
