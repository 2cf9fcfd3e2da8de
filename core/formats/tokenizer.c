/* core/formats/tokenizer.c - the character tokenizer (TT-Train's CharTokenizer).
 *
 * The vocabulary is the sorted set of distinct Unicode code points of a
 * UTF-8 corpus; id i is the i-th smallest code point. Lookup is a 128-entry
 * table for ASCII plus a hash table (code point -> id + 1) for the rest, so
 * encoding the 1.1 MB tiny Shakespeare is a single cheap pass.
 */
#include <ttml/ttml.h>

#include <stdlib.h>
#include <string.h>

struct ttml_tokenizer {
    gint64 vocab_size;
    gunichar *chars;         /* vocab_size code points, strictly increasing */
    gint32 ascii[128];       /* id or -1                                    */
    GHashTable *others;      /* non-ASCII code point -> id + 1               */
};

static int cmp_unichar(const void *a, const void *b)
{
    gunichar x = *(const gunichar *)a, y = *(const gunichar *)b;
    return x < y ? -1 : x > y;
}

/* Validate UTF-8 (NUL bytes included as invalid); sets an INVALID_ARG error. */
static gboolean check_utf8(const char *text, gsize len, const char *what, GError **error)
{
    const char *end = NULL;
    if (len > (gsize)G_MAXSSIZE) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s is too large (%" G_GSIZE_FORMAT " bytes)",
                    what, len);
        return FALSE;
    }
    if (g_utf8_validate_len(text, len, &end)) return TRUE;
    gsize off = (gsize)(end - text);
    if (text[off] == '\0')
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s contains a NUL byte at byte offset %" G_GSIZE_FORMAT
                    " (text must be UTF-8 without NUL characters)",
                    what, off);
    else
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s is not valid UTF-8 at byte offset %" G_GSIZE_FORMAT " (byte 0x%02x); convert it to UTF-8",
                    what, off, (unsigned char)text[off]);
    return FALSE;
}

/* Takes ownership of `chars` (sorted, distinct, n >= 1). */
static ttml_tokenizer *tokenizer_from_chars(gunichar *chars, gint64 n)
{
    ttml_tokenizer *t = g_new0(ttml_tokenizer, 1);
    t->vocab_size = n;
    t->chars = chars;
    t->others = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (int i = 0; i < 128; i++) t->ascii[i] = -1;
    for (gint64 i = 0; i < n; i++) {
        if (chars[i] < 128)
            t->ascii[chars[i]] = (gint32)i;
        else
            g_hash_table_insert(t->others, GUINT_TO_POINTER(chars[i]), GSIZE_TO_POINTER((gsize)i + 1));
    }
    return t;
}

ttml_tokenizer *ttml_char_tokenizer_new(const char *text, gsize len, GError **error)
{
    if (!text && len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "tokenizer corpus is NULL");
        return NULL;
    }
    if (!check_utf8(text ? text : "", len, "tokenizer corpus", error)) return NULL;
    gboolean seen_ascii[128] = {FALSE};
    GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            seen_ascii[*p++] = TRUE;
            continue;
        }
        gunichar c = g_utf8_get_char((const char *)p);
        g_hash_table_add(seen, GUINT_TO_POINTER(c));
        p += g_utf8_skip[*p];
    }
    gint64 n = g_hash_table_size(seen);
    for (int i = 0; i < 128; i++) n += seen_ascii[i];
    if (n == 0) {
        g_hash_table_destroy(seen);
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "tokenizer corpus is empty: there are no characters to build a vocabulary from");
        return NULL;
    }
    gunichar *chars = g_new(gunichar, n);
    gint64 k = 0;
    for (int i = 0; i < 128; i++)
        if (seen_ascii[i]) chars[k++] = (gunichar)i;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, seen);
    while (g_hash_table_iter_next(&it, &key, NULL)) chars[k++] = GPOINTER_TO_UINT(key);
    g_hash_table_destroy(seen);
    qsort(chars, (size_t)n, sizeof *chars, cmp_unichar);
    return tokenizer_from_chars(chars, n);
}

void ttml_tokenizer_free(ttml_tokenizer *t)
{
    if (!t) return;
    g_hash_table_destroy(t->others);
    g_free(t->chars);
    g_free(t);
}

gint64 ttml_tokenizer_vocab_size(const ttml_tokenizer *t) { return t->vocab_size; }

gint64 ttml_tokenizer_padded_vocab_size(const ttml_tokenizer *t) { return (t->vocab_size + 31) / 32 * 32; }

/* "'x' (U+0078)" or "U+0007" for characters that do not print. */
static void describe_char(gunichar c, char *buf, gsize size)
{
    if (g_unichar_isprint(c)) {
        char u[8];
        u[g_unichar_to_utf8(c, u)] = '\0';
        g_snprintf(buf, size, "'%s' (U+%04X)", u, (unsigned)c);
    } else {
        g_snprintf(buf, size, "U+%04X", (unsigned)c);
    }
}

guint32 *ttml_tokenizer_encode(const ttml_tokenizer *t, const char *text, gsize len, gsize *n_out,
                               GError **error)
{
    if (n_out) *n_out = 0;
    if (!text && len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "text to encode is NULL");
        return NULL;
    }
    if (!check_utf8(text ? text : "", len, "text to encode", error)) return NULL;
    guint32 *ids = len <= G_MAXSIZE / sizeof(guint32) ? g_try_new(guint32, len ? len : 1) : NULL;
    if (!ids) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "text of %" G_GSIZE_FORMAT " bytes: no memory for its token ids (up to %.4g bytes); use a "
                    "smaller corpus or prompt", len, (double)len * sizeof(guint32));
        return NULL;
    }
    gsize n = 0;
    const unsigned char *s = (const unsigned char *)text;
    gsize i = 0;
    while (i < len) {
        unsigned char b = s[i];
        gint64 id;
        gunichar c;
        int step;
        if (b < 0x80) {
            c = b;
            id = t->ascii[b];
            step = 1;
        } else {
            c = g_utf8_get_char((const char *)s + i);
            id = (gint64)GPOINTER_TO_SIZE(g_hash_table_lookup(t->others, GUINT_TO_POINTER(c))) - 1;
            step = g_utf8_skip[b];
        }
        if (id < 0) {
            char what[48];
            describe_char(c, what, sizeof what);
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "character %s at byte offset %" G_GSIZE_FORMAT " is not in the tokenizer's vocabulary of %"
                        G_GINT64_FORMAT " characters; build the vocabulary from a corpus that contains it",
                        what, i, t->vocab_size);
            g_free(ids);
            return NULL;
        }
        ids[n++] = (guint32)id;
        i += (gsize)step;
    }
    if (n < len) ids = g_renew(guint32, ids, n ? n : 1);
    if (n_out) *n_out = n;
    return ids;
}

char *ttml_tokenizer_decode(const ttml_tokenizer *t, const guint32 *ids, gsize n)
{
    char *out = g_malloc(n * 4 + 1);
    char *p = out;
    for (gsize i = 0; i < n; i++) {
        guint32 id = ids[i];
        gunichar c = (gint64)id < t->vocab_size ? t->chars[id] : 0xFFFD;
        if (c < 0x80)
            *p++ = (char)c;
        else
            p += g_unichar_to_utf8(c, p);
    }
    *p = '\0';
    return out;
}

char *ttml_tokenizer_serialize(const ttml_tokenizer *t)
{
    GString *s = g_string_sized_new((gsize)t->vocab_size + 1);
    for (gint64 i = 0; i < t->vocab_size; i++) g_string_append_unichar(s, t->chars[i]);
    return g_string_free(s, FALSE);
}

ttml_tokenizer *ttml_tokenizer_deserialize(const char *s, GError **error)
{
    if (!s) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "serialized tokenizer is NULL");
        return NULL;
    }
    gsize len = strlen(s);
    if (!check_utf8(s, len, "serialized tokenizer vocabulary", error)) return NULL;
    glong n = g_utf8_strlen(s, (gssize)len);
    if (n == 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "serialized tokenizer vocabulary is empty");
        return NULL;
    }
    gunichar *chars = g_new(gunichar, n);
    const char *p = s;
    for (glong i = 0; i < n; i++) {
        chars[i] = g_utf8_get_char(p);
        if (i > 0 && chars[i] <= chars[i - 1]) {
            char a[48], b[48];
            describe_char(chars[i - 1], a, sizeof a);
            describe_char(chars[i], b, sizeof b);
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "serialized tokenizer vocabulary is not strictly increasing at byte offset %" G_GSIZE_FORMAT
                        ": %s follows %s (%s); the vocabulary must list distinct code points in ascending order",
                        (gsize)(p - s), b, a, chars[i] == chars[i - 1] ? "duplicate" : "out of order");
            g_free(chars);
            return NULL;
        }
        p = g_utf8_next_char(p);
    }
    return tokenizer_from_chars(chars, n);
}
