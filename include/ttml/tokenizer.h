/* ttml/tokenizer.h - a character tokenizer (TT-Train's CharTokenizer): the
 * vocabulary is the sorted set of Unicode characters of a corpus; ids are
 * u32. The model's vocabulary is padded up to a multiple of 32 (tile width);
 * padding ids never occur in data. */
#ifndef TTML_TOKENIZER_H
#define TTML_TOKENIZER_H

#include <ttml/types.h>
#include <ttml/error.h>

G_BEGIN_DECLS

typedef struct ttml_tokenizer ttml_tokenizer;

/* From UTF-8 text (invalid UTF-8 is a TTML_ERROR_INVALID_ARG with the byte offset). */
TTML_API ttml_tokenizer *ttml_char_tokenizer_new(const char *text, gsize len, GError **error);
TTML_API void ttml_tokenizer_free(ttml_tokenizer *t);
/* Number of distinct characters. */
TTML_API gint64 ttml_tokenizer_vocab_size(const ttml_tokenizer *t);
/* vocab_size rounded up to a multiple of 32. */
TTML_API gint64 ttml_tokenizer_padded_vocab_size(const ttml_tokenizer *t);
/* Encode; a character outside the vocabulary is an error naming it and its
 * byte offset. Returns a g_malloc'd array of *n_out ids. */
TTML_API guint32 *ttml_tokenizer_encode(const ttml_tokenizer *t, const char *text, gsize len, gsize *n_out,
                                        GError **error);
/* Decode to UTF-8 (g_free); ids outside the vocabulary become U+FFFD. */
TTML_API char *ttml_tokenizer_decode(const ttml_tokenizer *t, const guint32 *ids, gsize n);
/* A string form for checkpoints (the vocabulary as UTF-8, g_free) and back. */
TTML_API char *ttml_tokenizer_serialize(const ttml_tokenizer *t);
TTML_API ttml_tokenizer *ttml_tokenizer_deserialize(const char *s, GError **error);

G_END_DECLS

#endif
