/* tests/test_checkpoint.c - the character tokenizer and safetensors checkpoints.
 *
 * Expectations are written by hand: vocabularies, ids, header bytes and data
 * offsets are computed in the comments, not by the code under test. */
#include "test_util.h"

#include <ttml/json_string.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

/* ------------------------------------------------------------ tokenizer */

/* "héllo wörld ✓ 😀 héé": distinct code points sorted:
 * ' ' 0x20, d 0x64, h 0x68, l 0x6c, o 0x6f, r 0x72, w 0x77, é 0xe9,
 * ö 0xf6, ✓ 0x2713, 😀 0x1f600 -> 11 symbols, padded 32. */
static const char *UTF8_TEXT = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80 h\xc3\xa9\xc3\xa9";
static const char *UTF8_VOCAB = " dhlorw\xc3\xa9\xc3\xb6\xe2\x9c\x93\xf0\x9f\x98\x80";

static void test_tokenizer_roundtrip(void)
{
    GError *err = NULL;
    ttml_tokenizer *t = ttml_char_tokenizer_new(UTF8_TEXT, strlen(UTF8_TEXT), &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t), 11);
    CU_ASSERT_EQUAL(ttml_tokenizer_padded_vocab_size(t), 32);

    char *ser = ttml_tokenizer_serialize(t);
    CU_ASSERT_STRING_EQUAL(ser, UTF8_VOCAB);

    /* "héllo ✓😀": h=2 é=7 l=3 l=3 o=4 ' '=0 ✓=9 😀=10 */
    const char *word = "h\xc3\xa9llo \xe2\x9c\x93\xf0\x9f\x98\x80";
    gsize n = 0;
    guint32 *ids = ttml_tokenizer_encode(t, word, strlen(word), &n, &err);
    TTML_ASSERT_NO_ERROR(err);
    const guint32 want[] = {2, 7, 3, 3, 4, 0, 9, 10};
    CU_ASSERT_EQUAL_FATAL(n, G_N_ELEMENTS(want));
    CU_ASSERT_EQUAL(memcmp(ids, want, sizeof want), 0);
    char *back = ttml_tokenizer_decode(t, ids, n);
    CU_ASSERT_STRING_EQUAL(back, word);
    g_free(back);
    g_free(ids);

    /* The whole corpus round-trips; 19 characters in 28 bytes. */
    ids = ttml_tokenizer_encode(t, UTF8_TEXT, strlen(UTF8_TEXT), &n, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(n, 19);
    back = ttml_tokenizer_decode(t, ids, n);
    CU_ASSERT_STRING_EQUAL(back, UTF8_TEXT);
    g_free(back);
    g_free(ids);

    /* Empty text encodes to nothing (non-NULL result, no error). */
    ids = ttml_tokenizer_encode(t, "", 0, &n, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL(ids);
    CU_ASSERT_EQUAL(n, 0);
    g_free(ids);

    /* Decoding unknown ids gives U+FFFD (EF BF BD). */
    const guint32 odd[] = {2, 11, 1000, 0xFFFFFFFFu, 4};
    back = ttml_tokenizer_decode(t, odd, G_N_ELEMENTS(odd));
    CU_ASSERT_STRING_EQUAL(back, "h\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdo");
    g_free(back);
    back = ttml_tokenizer_decode(t, odd, 0);
    CU_ASSERT_STRING_EQUAL(back, "");
    g_free(back);

    /* Serialize -> deserialize gives the same vocabulary and ids. */
    ttml_tokenizer *t2 = ttml_tokenizer_deserialize(ser, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t2), 11);
    CU_ASSERT_EQUAL(ttml_tokenizer_padded_vocab_size(t2), 32);
    ids = ttml_tokenizer_encode(t2, word, strlen(word), &n, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(n, G_N_ELEMENTS(want));
    CU_ASSERT_EQUAL(memcmp(ids, want, sizeof want), 0);
    g_free(ids);
    char *ser2 = ttml_tokenizer_serialize(t2);
    CU_ASSERT_STRING_EQUAL(ser2, ser);
    g_free(ser2);
    ttml_tokenizer_free(t2);
    g_free(ser);
    ttml_tokenizer_free(t);
}

static void test_tokenizer_sizes(void)
{
    GError *err = NULL;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
    struct { gsize len; gint64 v, padded; } cases[] = {{1, 1, 32}, {31, 31, 32}, {32, 32, 32}, {33, 33, 64}};
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        ttml_tokenizer *t = ttml_char_tokenizer_new(alpha, cases[i].len, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t), cases[i].v);
        CU_ASSERT_EQUAL(ttml_tokenizer_padded_vocab_size(t), cases[i].padded);
        ttml_tokenizer_free(t);
    }
    /* Repeats do not count: "aaabbbab" has 2 symbols. */
    ttml_tokenizer *t = ttml_char_tokenizer_new("aaabbbab", 8, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t), 2);
    ttml_tokenizer_free(t);
    /* The length is honoured: only "aaab" is the corpus. */
    t = ttml_char_tokenizer_new("aaabbbcd", 4, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t), 2);
    ttml_tokenizer_free(t);
}

static void test_tokenizer_errors(void)
{
    GError *err = NULL;
    ttml_tokenizer *t = ttml_char_tokenizer_new(UTF8_TEXT, strlen(UTF8_TEXT), &err);
    TTML_ASSERT_NO_ERROR(err);
    gsize n = 99;

    /* ',' at byte 5 of "hollo, world" is unknown. */
    guint32 *ids = ttml_tokenizer_encode(t, "hollo, world", 12, &n, &err);
    CU_ASSERT_PTR_NULL(ids);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "','"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 5");

    /* "wö€": € (U+20AC) starts at byte 3. */
    const char *euro = "w\xc3\xb6\xe2\x82\xac";
    ids = ttml_tokenizer_encode(t, euro, strlen(euro), &n, &err);
    CU_ASSERT_PTR_NULL(ids);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "U+20AC"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 3");

    /* Invalid UTF-8 (0xff at byte 2) in text and corpus. */
    ids = ttml_tokenizer_encode(t, "ho\xff", 3, &n, &err);
    CU_ASSERT_PTR_NULL(ids);
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 2");
    CU_ASSERT_PTR_NULL(ttml_char_tokenizer_new("ab\xc3(", 4, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 2");
    /* A UTF-8 sequence cut by the length. */
    CU_ASSERT_PTR_NULL(ttml_char_tokenizer_new("a\xc3\xa9", 2, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 1");
    /* Empty corpus. */
    CU_ASSERT_PTR_NULL(ttml_char_tokenizer_new("", 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "empty");

    /* Deserialize: duplicates, disorder, bad UTF-8, empty. */
    CU_ASSERT_PTR_NULL(ttml_tokenizer_deserialize("abb", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "duplicate");
    CU_ASSERT_PTR_NULL(ttml_tokenizer_deserialize("acb", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "byte offset 2");
    CU_ASSERT_PTR_NULL(ttml_tokenizer_deserialize("\xc3\xa9" "a", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "out of order");
    CU_ASSERT_PTR_NULL(ttml_tokenizer_deserialize("ab\xc3", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "UTF-8");
    CU_ASSERT_PTR_NULL(ttml_tokenizer_deserialize("", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "empty");
    ttml_tokenizer_free(t);
}

static void test_tokenizer_shakespeare(void)
{
    const char *path = TTML_SOURCE_DIR "/../shared/data/tinyshakespeare.txt";
    char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL)) {
        printf("\n  note: %s not found; skipping the tiny Shakespeare part\n", path);
        return;
    }
    GError *err = NULL;
    ttml_tokenizer *t = ttml_char_tokenizer_new(text, len, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_tokenizer_vocab_size(t), 65);
    CU_ASSERT_EQUAL(ttml_tokenizer_padded_vocab_size(t), 96);
    gint64 t0 = g_get_monotonic_time();
    gsize n = 0;
    guint32 *ids = ttml_tokenizer_encode(t, text, len, &n, &err);
    gint64 t1 = g_get_monotonic_time();
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(n, (gsize)g_utf8_strlen(text, (gssize)len));
    gboolean in_range = TRUE;
    for (gsize i = 0; i < n; i++) in_range &= ids[i] < 65;
    CU_ASSERT(in_range);
    char *back = ttml_tokenizer_decode(t, ids, n);
    CU_ASSERT_EQUAL(strlen(back), len);
    CU_ASSERT_EQUAL(memcmp(back, text, len), 0);
    printf("\n  tiny Shakespeare: %" G_GSIZE_FORMAT " bytes encoded in %.1f ms\n", len, (t1 - t0) / 1000.0);
    g_free(back);
    g_free(ids);
    ttml_tokenizer_free(t);
    g_free(text);
}

/* ------------------------------------------------------------ checkpoints */

static ttml_param *param_new(const char *name, ttml_tensor *t)
{
    ttml_param *p = g_new0(ttml_param, 1);
    p->name = g_strdup(name);
    p->tensor = t;
    return p;
}

static void param_free(gpointer data)
{
    ttml_param *p = data;
    g_free(p->name);
    ttml_tensor_unref(p->tensor);
    g_free(p);
}

static ttml_tensor *make_tensor(int ndim, const int64_t *shape, ttml_dtype dtype, const void *data)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_data(NULL, ndim, shape, dtype, data, &err);
    TTML_ASSERT_NO_ERROR(err);
    return t;
}

/* Test tensors, with hand-computed layout (sorted by name):
 *   b   F32  [5]        20 bytes  [0, 20]
 *   emb BF16 [3,2,2]    24 bytes  [20, 44]
 *   ids U32  [4,1,1,2]  32 bytes  [44, 76]
 *   w   F32  [2,3]      24 bytes  [76, 100]
 *   z   F32  [1]         4 bytes  [100, 104]
 * Added in a scrambled order: the file order must not depend on it. */
static float B_DATA[5] = {0.5f, -1.25f, 3e-8f, 1e30f, -0.0f};
static float W_DATA[6] = {1, 2, 3, -4, 5.5f, -6.75f};
static float Z_DATA[1] = {42.0f};
static guint16 EMB_DATA[12];
static guint32 IDS_DATA[8] = {0, 1, 65, 95, 123456789u, 0xFFFFFFFFu, 7, 0x80000000u};

static GPtrArray *make_params(void)
{
    for (int i = 0; i < 12; i++) EMB_DATA[i] = ttml_f32_to_bf16((float)i * 0.37f - 2.0f);
    GPtrArray *ps = g_ptr_array_new_with_free_func(param_free);
    g_ptr_array_add(ps, param_new("w", make_tensor(2, (int64_t[]){2, 3}, TTML_DTYPE_F32, W_DATA)));
    g_ptr_array_add(ps, param_new("z", make_tensor(1, (int64_t[]){1}, TTML_DTYPE_F32, Z_DATA)));
    g_ptr_array_add(ps, param_new("ids", make_tensor(4, (int64_t[]){4, 1, 1, 2}, TTML_DTYPE_U32, IDS_DATA)));
    g_ptr_array_add(ps, param_new("b", make_tensor(1, (int64_t[]){5}, TTML_DTYPE_F32, B_DATA)));
    g_ptr_array_add(ps, param_new("emb", make_tensor(3, (int64_t[]){3, 2, 2}, TTML_DTYPE_BF16, EMB_DATA)));
    return ps;
}

/* Metadata values needing escapes: quotes, backslash, newline, tab, a control
 * character, non-ASCII (2-, 3- and 4-byte UTF-8). */
static const char *MD_KEYS[] = {"quote", "path", "multi", "unicode", "step", "ctl"};
static const char *MD_VALS[] = {"say \"hi\"", "C:\\dir\\x", "line1\nline2\ttab\r", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80",
                                "42", "bell\x07" "end"};

static GHashTable *make_metadata(gboolean reverse)
{
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    int n = (int)G_N_ELEMENTS(MD_KEYS);
    for (int k = 0; k < n; k++) {
        int i = reverse ? n - 1 - k : k;
        g_hash_table_insert(md, g_strdup(MD_KEYS[i]), g_strdup(MD_VALS[i]));
    }
    return md;
}

static guint8 *read_file(const char *path, gsize *len)
{
    char *data = NULL;
    GError *err = NULL;
    g_file_get_contents(path, &data, len, &err);
    TTML_ASSERT_NO_ERROR(err);
    return (guint8 *)data;
}

/* Plain stdio (no fsync: the fuzz loop writes thousands of files). */
static void write_file(const char *path, const void *data, gsize len)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    CU_ASSERT_EQUAL(fclose(f), 0);
}

static guint64 le64(const guint8 *p)
{
    guint64 v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A safetensors file from a header string and data bytes. */
static void write_st(const char *path, const char *header, const void *data, gsize data_len)
{
    gsize hl = strlen(header);
    guint8 *buf = g_malloc(8 + hl + data_len + 1);
    for (int i = 0; i < 8; i++) buf[i] = (guint8)((guint64)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len) memcpy(buf + 8 + hl, data, data_len);
    write_file(path, buf, 8 + hl + data_len);
    g_free(buf);
}

/* Number of entries in tmp_dir/sub whose name contains ".tmp-". */
static int count_temp_files(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    int n = 0;
    const char *name;
    while ((name = g_dir_read_name(d))) n += strstr(name, ".tmp-") != NULL;
    g_dir_close(d);
    return n;
}

static void check_loaded(ttml_checkpoint *ck, const char *name, int ndim, const int64_t *shape, ttml_dtype dtype,
                         const void *want, gsize bytes)
{
    GError *err = NULL;
    ttml_tensor *dst = ttml_tensor_zeros(NULL, ndim, shape, dtype, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_checkpoint_has(ck, name));
    CU_ASSERT_TRUE(ttml_checkpoint_load_tensor(ck, name, dst, &err));
    TTML_ASSERT_NO_ERROR(err);
    void *got = g_malloc(bytes);
    CU_ASSERT_TRUE(ttml_tensor_read(dst, got, &err));
    TTML_ASSERT_NO_ERROR(err);
    if (memcmp(got, want, bytes) != 0) fprintf(stderr, "\ntensor %s differs after load\n", name);
    CU_ASSERT_EQUAL(memcmp(got, want, bytes), 0);
    g_free(got);
    ttml_tensor_unref(dst);
}

static void test_checkpoint_roundtrip(void)
{
    GError *err = NULL;
    char *path = ttml_test_tmp_path("rt.safetensors");
    GPtrArray *ps = make_params();
    GHashTable *md = make_metadata(FALSE);
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, ps, md, &err));
    TTML_ASSERT_NO_ERROR(err);

    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    const GPtrArray *names = ttml_checkpoint_names(ck);
    const char *order[] = {"b", "emb", "ids", "w", "z"};
    CU_ASSERT_EQUAL_FATAL(names->len, 5);
    for (guint i = 0; i < 5; i++) CU_ASSERT_STRING_EQUAL(g_ptr_array_index(names, i), order[i]);
    for (gsize i = 0; i < G_N_ELEMENTS(MD_KEYS); i++) {
        const char *v = ttml_checkpoint_metadata(ck, MD_KEYS[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v);
        CU_ASSERT_STRING_EQUAL(v, MD_VALS[i]);
    }
    CU_ASSERT_PTR_NULL(ttml_checkpoint_metadata(ck, "absent"));
    CU_ASSERT_FALSE(ttml_checkpoint_has(ck, "absent"));
    CU_ASSERT_FALSE(ttml_checkpoint_has(ck, "__metadata__"));

    check_loaded(ck, "b", 1, (int64_t[]){5}, TTML_DTYPE_F32, B_DATA, sizeof B_DATA);
    check_loaded(ck, "w", 2, (int64_t[]){2, 3}, TTML_DTYPE_F32, W_DATA, sizeof W_DATA);
    check_loaded(ck, "z", 1, (int64_t[]){1}, TTML_DTYPE_F32, Z_DATA, sizeof Z_DATA);
    check_loaded(ck, "emb", 3, (int64_t[]){3, 2, 2}, TTML_DTYPE_BF16, EMB_DATA, sizeof EMB_DATA);
    check_loaded(ck, "ids", 4, (int64_t[]){4, 1, 1, 2}, TTML_DTYPE_U32, IDS_DATA, sizeof IDS_DATA);
    /* Same numel, other shape: refused (issue 11 item 12: a [2,3] tensor never loads into [3,2]). */
    {
        GError *err = NULL;
        ttml_tensor *t32 = ttml_tensor_zeros(NULL, 2, (int64_t[]){3, 2}, TTML_DTYPE_F32, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_FALSE(ttml_checkpoint_load_tensor(ck, "w", t32, &err));
        TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "tensor 'w' is F32 [2, 3] in the file but the destination is F32 [3, 2] (same element count, different shape)");
        ttml_tensor_unref(t32);
        int64_t shape[TTML_CHECKPOINT_MAX_DIMS];
        int ndim = 0;
        ttml_dtype dtype = TTML_DTYPE_U32;
        CU_ASSERT_TRUE(ttml_checkpoint_tensor_info(ck, "w", &dtype, &ndim, shape));
        CU_ASSERT(dtype == TTML_DTYPE_F32 && ndim == 2 && shape[0] == 2 && shape[1] == 3);
        CU_ASSERT_FALSE(ttml_checkpoint_tensor_info(ck, "nope", NULL, NULL, NULL));
    }
    ttml_checkpoint_close(ck);

    /* The bytes: 8-byte LE length, padded header, data at hand-computed offsets. */
    gsize len = 0;
    guint8 *file = read_file(path, &len);
    CU_ASSERT_FATAL(len > 8);
    guint64 hl = le64(file);
    CU_ASSERT_EQUAL(hl % 8, 0);
    CU_ASSERT_EQUAL_FATAL(len, 8 + hl + 104);
    char *header = g_strndup((const char *)file + 8, hl);
    CU_ASSERT_EQUAL(header[0], '{');
    gsize end = hl;
    while (end > 0 && header[end - 1] == ' ') end--;
    CU_ASSERT(hl - end < 8);
    CU_ASSERT_EQUAL(header[end - 1], '}');
    const char *frag[] = {
        "\"b\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}",
        "\"emb\":{\"dtype\":\"BF16\",\"shape\":[3,2,2],\"data_offsets\":[20,44]}",
        "\"ids\":{\"dtype\":\"U32\",\"shape\":[4,1,1,2],\"data_offsets\":[44,76]}",
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[76,100]}",
        "\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[100,104]}",
        "\"quote\":\"say \\\"hi\\\"\"",
        "\"path\":\"C:\\\\dir\\\\x\"",
        "\"multi\":\"line1\\nline2\\ttab\\r\"",
        "\"unicode\":\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\"",
        "\"ctl\":\"bell\\u0007end\"",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(frag); i++) {
        if (!strstr(header, frag[i])) fprintf(stderr, "\nheader lacks %s:\n%s\n", frag[i], header);
        CU_ASSERT_PTR_NOT_NULL(strstr(header, frag[i]));
    }
    /* Tensors appear in name order in the header too. */
    CU_ASSERT(strstr(header, "\"b\":") < strstr(header, "\"emb\":"));
    CU_ASSERT(strstr(header, "\"ids\":") < strstr(header, "\"w\":"));
    const guint8 *data = file + 8 + hl;
    CU_ASSERT_EQUAL(memcmp(data + 0, B_DATA, 20), 0);
    CU_ASSERT_EQUAL(memcmp(data + 20, EMB_DATA, 24), 0);
    CU_ASSERT_EQUAL(memcmp(data + 44, IDS_DATA, 32), 0);
    CU_ASSERT_EQUAL(memcmp(data + 76, W_DATA, 24), 0);
    CU_ASSERT_EQUAL(memcmp(data + 100, Z_DATA, 4), 0);
    /* Little-endian on disk, independent of the host: 0x80000000 is the last id. */
    const guint8 last_id[4] = {0x00, 0x00, 0x00, 0x80};
    CU_ASSERT_EQUAL(memcmp(data + 72, last_id, 4), 0);

    /* Deterministic: same content in another insertion order gives the same bytes. */
    char *path2 = ttml_test_tmp_path("rt2.safetensors");
    GHashTable *md2 = make_metadata(TRUE);
    GPtrArray *ps2 = g_ptr_array_new();
    for (guint i = ps->len; i-- > 0;) g_ptr_array_add(ps2, g_ptr_array_index(ps, i));
    CU_ASSERT_TRUE(ttml_checkpoint_save(path2, ps2, md2, &err));
    TTML_ASSERT_NO_ERROR(err);
    gsize len2 = 0;
    guint8 *file2 = read_file(path2, &len2);
    CU_ASSERT_EQUAL(len2, len);
    CU_ASSERT(len2 == len && memcmp(file, file2, len) == 0);
    g_free(file2);

    /* No tensors, no metadata: "{}" padded to 8 bytes. */
    CU_ASSERT_TRUE(ttml_checkpoint_save(path2, NULL, NULL, &err));
    TTML_ASSERT_NO_ERROR(err);
    file2 = read_file(path2, &len2);
    CU_ASSERT_EQUAL(len2, 16);
    CU_ASSERT(len2 == 16 && memcmp(file2, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    g_free(file2);
    ck = ttml_checkpoint_open(path2, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_checkpoint_names(ck)->len, 0);
    ttml_checkpoint_close(ck);

    g_ptr_array_free(ps2, TRUE);
    g_hash_table_destroy(md2);
    g_free(path2);
    g_free(header);
    g_free(file);
    g_hash_table_destroy(md);
    g_ptr_array_free(ps, TRUE);
    g_free(path);
}

/* One tensor written fully by hand: the whole file must match byte for byte. */
static void test_checkpoint_exact_bytes(void)
{
    GError *err = NULL;
    char *path = ttml_test_tmp_path("tiny.safetensors");
    const float a[2] = {1.0f, -2.0f};
    GPtrArray *ps = g_ptr_array_new_with_free_func(param_free);
    g_ptr_array_add(ps, param_new("a", make_tensor(1, (int64_t[]){2}, TTML_DTYPE_F32, a)));
    GHashTable *md = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(md, "k", "v");
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, ps, md, &err));
    TTML_ASSERT_NO_ERROR(err);

    /* 79 bytes of JSON + 1 space = 80 = 0x50; then 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0. */
    static const char want[] =
        "\x50\x00\x00\x00\x00\x00\x00\x00"
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} "
        "\x00\x00\x80\x3f\x00\x00\x00\xc0";
    gsize want_len = sizeof want - 1;
    CU_ASSERT_EQUAL(want_len, 8 + 80 + 8);
    gsize len = 0;
    guint8 *file = read_file(path, &len);
    CU_ASSERT_EQUAL(len, want_len);
    CU_ASSERT(len == want_len && memcmp(file, want, len) == 0);
    g_free(file);

    /* And a hand-written file (unpadded header, whitespace, escapes) opens. */
    write_st(path,
             "{ \"__metadata__\" : {\"s\": \"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\t\\r\"} ,\n"
             "  \"x\": {\"shape\": [2], \"data_offsets\": [0, 8], \"dtype\": \"F32\"}\t}",
             want + 88, 8);
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(ttml_checkpoint_metadata(ck, "s"), "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/\b\f\t\r");
    check_loaded(ck, "x", 1, (int64_t[]){2}, TTML_DTYPE_F32, a, sizeof a);
    ttml_checkpoint_close(ck);

    g_hash_table_destroy(md);
    g_ptr_array_free(ps, TRUE);
    g_free(path);
}

static void test_checkpoint_atomic(void)
{
    GError *err = NULL;
    char *dir = ttml_test_tmp_path("atomic");
    CU_ASSERT_EQUAL_FATAL(g_mkdir(dir, 0755), 0);
    char *path = g_build_filename(dir, "ck.safetensors", NULL);
    GPtrArray *ps = make_params();

    CU_ASSERT_TRUE(ttml_checkpoint_save(path, ps, NULL, &err));
    TTML_ASSERT_NO_ERROR(err);
    gsize old_len = 0;
    guint8 *old = read_file(path, &old_len);
    /* Overwrite with other content: the new file replaces the old, no temp file is left. */
    GHashTable *md = make_metadata(FALSE);
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, ps, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(count_temp_files(dir), 0);
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(ttml_checkpoint_metadata(ck, "step"), "42");
    ttml_checkpoint_close(ck);
    /* Back to the old content for the failure checks below. */
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, ps, NULL, &err));
    TTML_ASSERT_NO_ERROR(err);

    gsize len = 0;
    guint8 *cur = NULL;
    if (geteuid() != 0) {
        /* Directory not writable: the temp file cannot be created; the old file stays. */
        CU_ASSERT_EQUAL(g_chmod(dir, 0555), 0);
        CU_ASSERT_FALSE(ttml_checkpoint_save(path, ps, md, &err));
        CU_ASSERT_PTR_NOT_NULL(err);
        if (err) CU_ASSERT_PTR_NOT_NULL(strstr(err->message, path));
        TTML_ASSERT_ERROR(err, TTML_ERROR_IO, g_strerror(EACCES));
        CU_ASSERT_EQUAL(g_chmod(dir, 0755), 0);
        cur = read_file(path, &len);
        CU_ASSERT(len == old_len && memcmp(cur, old, len) == 0);
        g_free(cur);
    }
    /* Parent is a regular file (works as root too). */
    char *bad = g_build_filename(path, "x.safetensors", NULL);
    CU_ASSERT_FALSE(ttml_checkpoint_save(bad, ps, md, &err));
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err) CU_ASSERT_PTR_NOT_NULL(strstr(err->message, bad));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, g_strerror(ENOTDIR));
    g_free(bad);

    /* A late failure (rename over a non-empty directory) removes the temp file. */
    char *subdir = g_build_filename(dir, "sub", NULL);
    char *inner = g_build_filename(subdir, "keep", NULL);
    CU_ASSERT_EQUAL(g_mkdir(subdir, 0755), 0);
    write_file(inner, "x", 1);
    CU_ASSERT_FALSE(ttml_checkpoint_save(subdir, ps, md, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "renaming");
    CU_ASSERT_EQUAL(count_temp_files(dir), 0);
    CU_ASSERT_TRUE(g_file_test(inner, G_FILE_TEST_IS_REGULAR));

    /* Invalid arguments (a non-UTF-8 metadata value, duplicate names) keep the old file. */
    g_hash_table_insert(md, g_strdup("bad"), g_strdup("\xff\xfe"));
    CU_ASSERT_FALSE(ttml_checkpoint_save(path, ps, md, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "bad");
    g_hash_table_remove(md, "bad");
    ttml_param *dup = g_ptr_array_index(ps, 0);
    g_ptr_array_add(ps, param_new(dup->name, ttml_tensor_ref(dup->tensor)));
    CU_ASSERT_FALSE(ttml_checkpoint_save(path, ps, md, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "twice");
    g_ptr_array_remove_index(ps, ps->len - 1);
    cur = read_file(path, &len);
    CU_ASSERT(len == old_len && memcmp(cur, old, len) == 0);
    g_free(cur);
    CU_ASSERT_EQUAL(count_temp_files(dir), 0);

    g_unlink(inner);
    g_rmdir(subdir);
    g_unlink(path);
    g_rmdir(dir);
    g_free(inner);
    g_free(subdir);
    g_free(old);
    g_hash_table_destroy(md);
    g_ptr_array_free(ps, TRUE);
    g_free(path);
    g_free(dir);
}

/* Open must fail with TTML_ERROR_CHECKPOINT and a message containing each needle. */
static void expect_corrupt(const char *path, const char *needle1, const char *needle2)
{
    GError *err = NULL;
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    CU_ASSERT_PTR_NULL(ck);
    ttml_checkpoint_close(ck);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    if (!strstr(err->message, path)) fprintf(stderr, "\nmessage lacks the path: %s\n", err->message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, path));
    if (needle2) {
        if (!strstr(err->message, needle2)) fprintf(stderr, "\nmessage lacks '%s': %s\n", needle2, err->message);
        CU_ASSERT_PTR_NOT_NULL(strstr(err->message, needle2));
    }
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, needle1);
}

static void test_checkpoint_corrupt(void)
{
    GError *err = NULL;
    char *good = ttml_test_tmp_path("good.safetensors");
    char *path = ttml_test_tmp_path("bad.safetensors");
    GPtrArray *ps = make_params();
    CU_ASSERT_TRUE(ttml_checkpoint_save(good, ps, NULL, &err));
    TTML_ASSERT_NO_ERROR(err);
    gsize len = 0;
    guint8 *file = read_file(good, &len);
    guint64 hl = le64(file);

    /* Missing file: an I/O error naming it. */
    char *none = ttml_test_tmp_path("none.safetensors");
    CU_ASSERT_PTR_NULL(ttml_checkpoint_open(none, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "none.safetensors");
    g_free(none);

    write_file(path, "", 0);
    expect_corrupt(path, "0 bytes", "empty or truncated");
    write_file(path, file, 5);
    expect_corrupt(path, "5 bytes", NULL);

    /* Header length bigger than the file. */
    guint8 *copy = g_memdup2(file, len);
    guint64 big = len;
    for (int i = 0; i < 8; i++) copy[i] = (guint8)(big >> (8 * i));
    write_file(path, copy, len);
    expect_corrupt(path, "larger than the rest of the file", NULL);
    /* Absurd header length. */
    big = (guint64)1 << 40;
    for (int i = 0; i < 8; i++) copy[i] = (guint8)(big >> (8 * i));
    write_file(path, copy, len);
    expect_corrupt(path, "absurd", NULL);
    g_free(copy);

    /* Truncated data: the last tensor (z, [100, 104]) no longer fits. */
    write_file(path, file, len - 3);
    expect_corrupt(path, "tensor 'z'", "truncated");
    /* Trailing bytes after the data. */
    copy = g_malloc0(len + 4);
    memcpy(copy, file, len);
    write_file(path, copy, len + 4);
    expect_corrupt(path, "trailing", NULL);
    g_free(copy);

    static const guint8 d16[16] = {0};
    /* Garbage JSON: 'n' is header byte 6, file offset 14. */
    write_st(path, "{\"a\": nonsense}", d16, 0);
    expect_corrupt(path, "file offset 14", "JSON");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", d16, 4);
    expect_corrupt(path, "JSON", NULL);
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", d16, 4);
    expect_corrupt(path, "integers", NULL);
    write_st(path, "{\"a\":1,\"a\":2}", d16, 0);
    expect_corrupt(path, "duplicate", NULL);
    write_st(path, "{\"\\ud800x\":1}", d16, 0);
    expect_corrupt(path, "surrogate", NULL);
    write_st(path, "{\"a\":\"x\ny\"}", d16, 0);
    expect_corrupt(path, "control character", NULL);
    write_st(path, "{\"a\xff\":1}", d16, 0);
    expect_corrupt(path, "UTF-8", NULL);
    write_st(path, "[1,2]", d16, 0);
    expect_corrupt(path, "'{'", NULL);
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} trailing", d16, 4);
    expect_corrupt(path, "after the end", NULL);
    /* Nesting far too deep. */
    GString *deep = g_string_new("{\"a\":");
    for (int i = 0; i < 5000; i++) g_string_append_c(deep, '[');
    write_st(path, deep->str, d16, 0);
    expect_corrupt(path, "nesting", NULL);
    g_string_free(deep, TRUE);

    /* Bad dtype. */
    write_st(path, "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "\"F64\"");
    /* Offsets out of range. */
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d16, 4);
    expect_corrupt(path, "tensor 'a'", "past the end");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "begin <= end");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "begin <= end");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[9223372036854775803,9223372036854775807]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "past the end");
    /* Shape and offsets disagree: [3] F32 is 12 bytes, the offsets span 8. */
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "span 8 bytes");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", NULL);
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", d16, 8);
    expect_corrupt(path, "tensor 'a'", "non-negative");
    /* Overlap and gap. */
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d16, 12);
    expect_corrupt(path, "tensor 'b'", "overlaps tensor 'a'");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d16, 12);
    expect_corrupt(path, "gap", "tensor 'b'");
    /* Missing field, unknown field, metadata not a string. */
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", d16, 4);
    expect_corrupt(path, "tensor 'a'", "data_offsets");
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", d16, 4);
    expect_corrupt(path, "tensor 'a'", "\"x\"");
    write_st(path, "{\"__metadata__\":{\"k\":1}}", d16, 0);
    expect_corrupt(path, "key 'k'", "strings");

    /* Load mismatches: the message names the tensor and both shapes. */
    ttml_checkpoint *ck = ttml_checkpoint_open(good, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *dst = ttml_tensor_zeros(NULL, 1, (int64_t[]){4}, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_checkpoint_load_tensor(ck, "w", dst, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[2, 3]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "[4]"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "tensor 'w'");
    ttml_tensor_unref(dst);
    dst = ttml_tensor_zeros(NULL, 2, (int64_t[]){2, 3}, TTML_DTYPE_U32, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_checkpoint_load_tensor(ck, "w", dst, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "U32"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "F32");
    /* Missing name: says so and lists available names. */
    CU_ASSERT_FALSE(ttml_checkpoint_load_tensor(ck, "blocks.0.attn.qkv.weight", dst, &err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, "'emb'"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "no tensor 'blocks.0.attn.qkv.weight'");
    /* The destination is untouched by failed loads. */
    guint32 zeros[6] = {0}, got[6];
    CU_ASSERT_TRUE(ttml_tensor_read(dst, got, &err));
    CU_ASSERT_EQUAL(memcmp(got, zeros, sizeof got), 0);
    ttml_tensor_unref(dst);
    ttml_checkpoint_close(ck);
    (void)hl;

    g_free(file);
    g_ptr_array_free(ps, TRUE);
    g_unlink(path);
    g_unlink(good);
    g_free(path);
    g_free(good);
}

/* Random byte mutations of a valid file's header: open never crashes; it
 * either succeeds (and loading then works or fails cleanly) or reports a
 * checkpoint error. Run under valgrind/ASan to catch out-of-bounds reads. */
static void test_checkpoint_fuzz(void)
{
    GError *err = NULL;
    char *good = ttml_test_tmp_path("fuzz-src.safetensors");
    char *path = ttml_test_tmp_path("fuzz.safetensors");
    GPtrArray *ps = make_params();
    GHashTable *md = make_metadata(FALSE);
    CU_ASSERT_TRUE(ttml_checkpoint_save(good, ps, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    gsize len = 0;
    guint8 *file = read_file(good, &len);
    guint64 hl = le64(file);
    guint8 *copy = g_malloc(len);
    ttml_tensor *dst = ttml_tensor_zeros(NULL, 2, (int64_t[]){2, 3}, TTML_DTYPE_F32, &err);
    TTML_ASSERT_NO_ERROR(err);
    static const char special[] = "{}[]\",:\\u0123456789-eE. \n\x80\xc3\xff";
    GRand *rng = g_rand_new_with_seed(20240611);
    int opened = 0, failed = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(copy, file, len);
        int flips = g_rand_int_range(rng, 1, 4);
        for (int f = 0; f < flips; f++) {
            /* Mostly the JSON, sometimes the length bytes. */
            gsize at = g_rand_int_range(rng, 0, 10) == 0 ? (gsize)g_rand_int_range(rng, 0, 8)
                                                         : 8 + (gsize)g_rand_int_range(rng, 0, (gint32)hl);
            if (g_rand_boolean(rng))
                copy[at] = (guint8)special[g_rand_int_range(rng, 0, (gint32)sizeof special - 1)];
            else
                copy[at] ^= (guint8)(1u << g_rand_int_range(rng, 0, 8));
        }
        gsize cut = g_rand_int_range(rng, 0, 20) == 0 ? (gsize)g_rand_int_range(rng, 0, (gint32)len) : len;
        write_file(path, copy, cut);
        ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
        if (ck) {
            CU_ASSERT_PTR_NULL(err);
            opened++;
            const GPtrArray *names = ttml_checkpoint_names(ck);
            for (guint i = 0; i < names->len; i++) {
                gboolean ok = ttml_checkpoint_load_tensor(ck, g_ptr_array_index(names, i), dst, &err);
                CU_ASSERT(ok == (err == NULL));
                g_clear_error(&err);
            }
            ttml_checkpoint_close(ck);
        } else {
            CU_ASSERT_PTR_NOT_NULL(err);
            if (err) CU_ASSERT(err->domain == TTML_ERROR && err->code == TTML_ERROR_CHECKPOINT);
            failed++;
            g_clear_error(&err);
        }
    }
    printf("\n  fuzz: %d opened, %d rejected\n", opened, failed);
    CU_ASSERT(failed > 1000); /* most mutations of a header must be caught */
    g_rand_free(rng);
    ttml_tensor_unref(dst);
    g_free(copy);
    g_free(file);
    g_hash_table_destroy(md);
    g_ptr_array_free(ps, TRUE);
    g_unlink(path);
    g_unlink(good);
    g_free(path);
    g_free(good);
}

/* ------------------------------------------------------------ JSON strings */

/* ttml_json_append_string: quotes, backslashes and every control character
 * below 0x20 escaped (short forms where JSON has them), 0x7f and UTF-8
 * verbatim, appended after what `out` already holds. */
static void test_json_string_escaper(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"C:\\dir", "\"C:\\\\dir\""},
        {"a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\""},
        {"\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\""},
        {"del\x7f", "\"del\x7f\""},
        {"h\xc3\xa9llo \xe2\x9c\x93", "\"h\xc3\xa9llo \xe2\x9c\x93\""},
        {"/", "\"/\""},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GString *out = g_string_new("x=");
        ttml_json_append_string(out, cases[i].in);
        char *want = g_strconcat("x=", cases[i].want, NULL);
        if (strcmp(out->str, want) != 0) fprintf(stderr, "\ncase %zu: got %s, want %s\n", i, out->str, want);
        CU_ASSERT_STRING_EQUAL(out->str, want);
        g_free(want);
        g_string_free(out, TRUE);
    }
}

/* ------------------------------------------------------------ main */

int main(void)
{
    CU_TestInfo tests[] = {
        {"tokenizer_roundtrip", test_tokenizer_roundtrip},
        {"tokenizer_sizes", test_tokenizer_sizes},
        {"tokenizer_errors", test_tokenizer_errors},
        {"tokenizer_shakespeare", test_tokenizer_shakespeare},
        {"checkpoint_roundtrip", test_checkpoint_roundtrip},
        {"checkpoint_exact_bytes", test_checkpoint_exact_bytes},
        {"checkpoint_atomic", test_checkpoint_atomic},
        {"checkpoint_corrupt", test_checkpoint_corrupt},
        {"checkpoint_fuzz", test_checkpoint_fuzz},
        {"json_string_escaper", test_json_string_escaper},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("checkpoint", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
