/* core/formats/checkpoint.c - safetensors checkpoints (see ttml/checkpoint.h).
 *
 * File layout (Hugging Face safetensors): 8-byte little-endian header length
 * N, N bytes of JSON, then the data region. We write the header compactly:
 * "__metadata__" first (keys sorted), then the tensors sorted by name, their
 * data in the same order and contiguous, the header padded with spaces to a
 * multiple of 8 bytes; equal inputs give byte-identical files.
 *
 * Reading maps the file and validates the whole header before any tensor is
 * handed out: sizes, JSON, dtypes, shapes against offsets, and that the
 * offsets tile the data region exactly (no gap, no overlap, nothing past the
 * end), as the reference implementation requires.
 */
#include <ttml/ttml.h>
#include "json.h"
#include <ttml/json_string.h>

#ifndef TTML_LOG_DOMAIN
#define TTML_LOG_DOMAIN "ttml" /* the core's log domain (G_MESSAGES_DEBUG=ttml) */
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CK_MAX_DIMS TTML_CHECKPOINT_MAX_DIMS
#define CK_MAX_HEADER ((guint64)100 * 1000 * 1000)

typedef struct {
    char *name;
    ttml_dtype dtype;
    int ndim;
    gint64 shape[CK_MAX_DIMS];
    guint64 numel;
    guint64 begin, end;      /* relative to the data region */
} ck_entry;

struct ttml_checkpoint {
    char *path;
    GMappedFile *map;
    const guint8 *data;      /* the data region */
    guint64 data_len;
    GPtrArray *entries;      /* ck_entry*, file (header) order, owned */
    GPtrArray *names;        /* char* into entries, same order */
    GHashTable *by_name;     /* name -> ck_entry* */
    GHashTable *metadata;    /* char* -> char*, owned */
    gboolean allow_nonfinite; /* load NaN/Inf with a warning instead of an error */
};

static const char *st_dtype_name(ttml_dtype d)
{
    switch (d) {
    case TTML_DTYPE_F32: return "F32";
    case TTML_DTYPE_BF16: return "BF16";
    case TTML_DTYPE_U32: return "U32";
    default: return NULL;
    }
}

static gboolean st_dtype_parse(const char *s, ttml_dtype *out)
{
    for (int d = 0; d < TTML_DTYPE_COUNT; d++)
        if (strcmp(s, st_dtype_name((ttml_dtype)d)) == 0) {
            *out = (ttml_dtype)d;
            return TRUE;
        }
    return FALSE;
}

/* Data are little-endian in the file; swap in place on big-endian hosts. */
static void swap_to_le(void *p, guint64 numel, size_t elsize)
{
#if G_BYTE_ORDER == G_BIG_ENDIAN
    guint8 *b = p;
    for (guint64 i = 0; i < numel; i++, b += elsize)
        for (size_t j = 0; j < elsize / 2; j++) {
            guint8 t = b[j];
            b[j] = b[elsize - 1 - j];
            b[elsize - 1 - j] = t;
        }
#else
    (void)p;
    (void)numel;
    (void)elsize;
#endif
}

/* "[2, 3]" for any number of dims (g_free). */
static char *shape_str(int ndim, const gint64 *shape)
{
    GString *s = g_string_new("[");
    for (int i = 0; i < ndim; i++) g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------ save */

static int cmp_param_name(const void *a, const void *b)
{
    const ttml_param *x = *(ttml_param *const *)a, *y = *(ttml_param *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static gboolean write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return FALSE;
        }
        p += w;
        n -= (size_t)w;
    }
    return TRUE;
}

static void set_io_error(GError **error, const char *path, const char *what, const char *file, int err)
{
    g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot save checkpoint '%s': %s '%s' failed: %s", path, what,
                file, g_strerror(err));
}

/* Header JSON (padded) for `params` (sorted) and sorted metadata keys. */
/* Remove "PATH.tmp-XXXXXX" files that an interrupted save of the same
 * checkpoint left beside it (called after a successful save). */
static void remove_stale_temporaries(const char *path)
{
    char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path);
    char *prefix = g_strconcat(base, ".tmp-", NULL);
    gsize plen = strlen(prefix);
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d));) {
        if (strncmp(name, prefix, plen) != 0 || strlen(name) != plen + 6) continue;
        char *stale = g_build_filename(dir, name, NULL);
        if (g_unlink(stale) == 0)
            g_log(TTML_LOG_DOMAIN, G_LOG_LEVEL_INFO, "removed '%s', left by an interrupted save of '%s'", stale,
                  path);
        g_free(stale);
    }
    if (d) g_dir_close(d);
    g_free(prefix);
    g_free(base);
    g_free(dir);
}

static GString *build_header(ttml_param **params, guint n, GHashTable *metadata, char **mkeys, guint n_mkeys)
{
    GString *h = g_string_new("{");
    gboolean first = TRUE;
    if (n_mkeys > 0) {
        g_string_append(h, "\"__metadata__\":{");
        for (guint i = 0; i < n_mkeys; i++) {
            if (i) g_string_append_c(h, ',');
            ttml_json_append_string(h, mkeys[i]);
            g_string_append_c(h, ':');
            ttml_json_append_string(h, g_hash_table_lookup(metadata, mkeys[i]));
        }
        g_string_append_c(h, '}');
        first = FALSE;
    }
    guint64 offset = 0;
    for (guint i = 0; i < n; i++) {
        const ttml_tensor *t = params[i]->tensor;
        guint64 bytes = (guint64)t->numel * ttml_dtype_size(t->dtype);
        if (!first) g_string_append_c(h, ',');
        first = FALSE;
        ttml_json_append_string(h, params[i]->name);
        g_string_append_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            g_string_append_printf(h, "%s%" G_GINT64_FORMAT, d ? "," : "", (gint64)t->shape[d]);
        g_string_append_printf(h, "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}", offset,
                               offset + bytes);
        offset += bytes;
    }
    g_string_append_c(h, '}');
    while (h->len % 8) g_string_append_c(h, ' ');
    return h;
}

static gboolean check_save_args(const char *path, ttml_param **params, guint n, char **mkeys, guint n_mkeys,
                                GHashTable *metadata, GError **error)
{
    for (guint i = 0; i < n; i++) {
        const ttml_param *p = params[i];
        if (!g_utf8_validate(p->name, -1, NULL) || p->name[0] == '\0' || strcmp(p->name, "__metadata__") == 0) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cannot save checkpoint '%s': tensor name '%s' is not allowed (names must be non-empty "
                        "UTF-8 and not \"__metadata__\")",
                        path, p->name);
            return FALSE;
        }
        if (!st_dtype_name(p->tensor->dtype)) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE, "cannot save checkpoint '%s': tensor '%s' has dtype %d",
                        path, p->name, (int)p->tensor->dtype);
            return FALSE;
        }
    }
    for (guint i = 1; i < n; i++)
        if (strcmp(params[i - 1]->name, params[i]->name) == 0) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cannot save checkpoint '%s': tensor name '%s' appears twice in the tensor list", path,
                        params[i]->name);
            return FALSE;
        }
    for (guint i = 0; i < n_mkeys; i++) {
        const char *v = g_hash_table_lookup(metadata, mkeys[i]);
        if (!g_utf8_validate(mkeys[i], -1, NULL) || !v || !g_utf8_validate(v, -1, NULL)) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cannot save checkpoint '%s': metadata key or value for key '%s' is not a valid UTF-8 "
                        "string",
                        path, g_utf8_validate(mkeys[i], -1, NULL) ? mkeys[i] : "(invalid UTF-8)");
            return FALSE;
        }
    }
    return TRUE;
}

gboolean ttml_checkpoint_save(const char *path, const GPtrArray *tensors, GHashTable *metadata, GError **error)
{
    if (!path || !*path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cannot save checkpoint: empty path");
        return FALSE;
    }
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO,
                    "cannot save checkpoint '%s': it is a directory (renaming the new file over it would fail); give a "
                    "file path such as '%s/model.safetensors'",
                    path, path);
        return FALSE;
    }
    guint n = tensors ? tensors->len : 0;
    ttml_param **params = g_new0(ttml_param *, n + 1);
    for (guint i = 0; i < n; i++) params[i] = g_ptr_array_index(tensors, i);
    guint n_mkeys = metadata ? g_hash_table_size(metadata) : 0;
    char **mkeys = metadata ? (char **)g_hash_table_get_keys_as_array(metadata, NULL) : g_new0(char *, 1);
    gboolean ok = FALSE;
    GString *header = NULL;
    char *tmp = NULL;
    int fd = -1;
    void *buf = NULL;
    gsize buf_size = 0;

    for (guint i = 0; i < n; i++)
        if (!params[i] || !params[i]->name || !params[i]->tensor) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "cannot save checkpoint '%s': entry %u of the tensor list has no name or no tensor", path, i);
            goto out;
        }
    qsort(params, n, sizeof *params, cmp_param_name);
    qsort(mkeys, n_mkeys, sizeof *mkeys, cmp_str);
    if (!check_save_args(path, params, n, mkeys, n_mkeys, metadata, error)) goto out;

    header = build_header(params, n, metadata, mkeys, n_mkeys);
    guint8 len_le[8];
    guint64 hlen = header->len;
    for (int i = 0; i < 8; i++) len_le[i] = (guint8)(hlen >> (8 * i));

    tmp = g_strdup_printf("%s.tmp-XXXXXX", path);
    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO,
                    "cannot save checkpoint '%s': cannot create the temporary file '%s' beside it: %s "
                    "(check that the directory exists and is writable)",
                    path, tmp, g_strerror(e));
        g_clear_pointer(&tmp, g_free); /* nothing to remove */
        goto out;
    }
    if (!write_all(fd, len_le, 8) || !write_all(fd, header->str, header->len)) {
        set_io_error(error, path, "writing", tmp, errno);
        goto out;
    }
    for (guint i = 0; i < n; i++) {
        const ttml_tensor *t = params[i]->tensor;
        size_t elsize = ttml_dtype_size(t->dtype);
        gsize bytes = t->numel * elsize;
        if (bytes == 0) continue;
        if (bytes > buf_size) {
            g_free(buf);
            buf_size = 0;
            if (!(buf = g_try_malloc(bytes))) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                            "cannot save checkpoint '%s': no memory for the %" G_GSIZE_FORMAT
                            "-byte host copy of tensor '%s'", path, bytes, params[i]->name);
                goto out;
            }
            buf_size = bytes;
        }
        if (!ttml_tensor_read(t, buf, error)) {
            g_prefix_error(error, "cannot save checkpoint '%s': reading tensor '%s': ", path, params[i]->name);
            goto out;
        }
        swap_to_le(buf, t->numel, elsize);
        if (!write_all(fd, buf, bytes)) {
            set_io_error(error, path, "writing", tmp, errno);
            goto out;
        }
    }
    if (fsync(fd) != 0) {
        set_io_error(error, path, "fsync of", tmp, errno);
        goto out;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        set_io_error(error, path, "closing", tmp, errno);
        goto out;
    }
    if (g_rename(tmp, path) != 0) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot save checkpoint '%s': renaming '%s' over it failed: %s",
                    path, tmp, g_strerror(e));
        goto out;
    }
    g_clear_pointer(&tmp, g_free); /* renamed: nothing to remove any more */
    ok = TRUE;
    remove_stale_temporaries(path);
    /* Make the rename durable. Some file systems cannot fsync directories (EINVAL). */
    char *dir = g_path_get_dirname(path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)) {
        set_io_error(error, path, "fsync of the directory", dir, errno);
        ok = FALSE;
    }
    if (dfd >= 0) close(dfd);
    g_free(dir);

out:
    if (fd >= 0) close(fd);
    if (tmp) g_unlink(tmp);
    g_free(tmp);
    g_free(buf);
    if (header) g_string_free(header, TRUE);
    g_free(mkeys);
    g_free(params);
    return ok;
}

/* ------------------------------------------------------------------ open */

static void entry_free(gpointer p)
{
    ck_entry *e = p;
    g_free(e->name);
    g_free(e);
}

void ttml_checkpoint_close(ttml_checkpoint *ck)
{
    if (!ck) return;
    if (ck->map) g_mapped_file_unref(ck->map);
    if (ck->by_name) g_hash_table_destroy(ck->by_name);
    if (ck->names) g_ptr_array_free(ck->names, TRUE);
    if (ck->entries) g_ptr_array_free(ck->entries, TRUE);
    if (ck->metadata) g_hash_table_destroy(ck->metadata);
    g_free(ck->path);
    g_free(ck);
}

#define CK_FAIL(...)                                                                                             \
    do {                                                                                                         \
        char *what_ = g_strdup_printf(__VA_ARGS__);                                                              \
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint '%s': %s", ck->path, what_);          \
        g_free(what_);                                                                                           \
        return FALSE;                                                                                            \
    } while (0)

/* File offset of a header JSON value (for messages). */
#define FOFF(v) ((gsize)(v)->offset + 8)

static gboolean parse_metadata(ttml_checkpoint *ck, const ttml_json *v, GError **error)
{
    if (v->type != TTML_JSON_OBJECT)
        CK_FAIL("\"__metadata__\" at file offset %" G_GSIZE_FORMAT " is a JSON %s, expected an object of strings",
                FOFF(v), ttml_json_type_name(v->type));
    for (guint i = 0; i < v->keys->len; i++) {
        const char *key = g_ptr_array_index(v->keys, i);
        const ttml_json *val = g_ptr_array_index(v->items, i);
        if (val->type != TTML_JSON_STRING)
            CK_FAIL("metadata value for key '%s' at file offset %" G_GSIZE_FORMAT
                    " is a JSON %s, but safetensors metadata values must be strings",
                    key, FOFF(val), ttml_json_type_name(val->type));
        g_hash_table_insert(ck->metadata, g_strdup(key), g_strdup(val->str));
    }
    return TRUE;
}

static gboolean parse_entry(ttml_checkpoint *ck, const char *name, const ttml_json *v, ck_entry *e, GError **error)
{
    if (v->type != TTML_JSON_OBJECT)
        CK_FAIL("tensor '%s' at file offset %" G_GSIZE_FORMAT
                " is a JSON %s, expected an object with dtype, shape and data_offsets",
                name, FOFF(v), ttml_json_type_name(v->type));
    for (guint i = 0; i < v->keys->len; i++) {
        const char *k = g_ptr_array_index(v->keys, i);
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            CK_FAIL("tensor '%s' has an unknown field \"%s\" (file offset %" G_GSIZE_FORMAT
                    "); expected dtype, shape and data_offsets",
                    name, k, FOFF((const ttml_json *)g_ptr_array_index(v->items, i)));
    }
    const ttml_json *dt = ttml_json_get(v, "dtype"), *sh = ttml_json_get(v, "shape"),
                    *off = ttml_json_get(v, "data_offsets");
    if (!dt || !sh || !off)
        CK_FAIL("tensor '%s' (file offset %" G_GSIZE_FORMAT ") lacks \"%s\"", name, FOFF(v),
                !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (dt->type != TTML_JSON_STRING)
        CK_FAIL("tensor '%s': dtype at file offset %" G_GSIZE_FORMAT " is a JSON %s, expected a string", name,
                FOFF(dt), ttml_json_type_name(dt->type));
    if (!st_dtype_parse(dt->str, &e->dtype))
        CK_FAIL("tensor '%s' has unknown or unsupported dtype \"%s\" (file offset %" G_GSIZE_FORMAT
                "); ttml reads F32, BF16 and U32",
                name, dt->str, FOFF(dt));
    if (sh->type != TTML_JSON_ARRAY)
        CK_FAIL("tensor '%s': shape at file offset %" G_GSIZE_FORMAT " is a JSON %s, expected an array of integers",
                name, FOFF(sh), ttml_json_type_name(sh->type));
    if (sh->items->len > CK_MAX_DIMS)
        CK_FAIL("tensor '%s' has %u dimensions (file offset %" G_GSIZE_FORMAT "); at most %d are supported", name,
                sh->items->len, FOFF(sh), CK_MAX_DIMS);
    size_t elsize = ttml_dtype_size(e->dtype);
    e->ndim = (int)sh->items->len;
    e->numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        const ttml_json *x = g_ptr_array_index(sh->items, d);
        if (x->type != TTML_JSON_INT || x->integer < 0)
            CK_FAIL("tensor '%s': shape entry %d at file offset %" G_GSIZE_FORMAT
                    " is not a non-negative integer",
                    name, d, FOFF(x));
        e->shape[d] = x->integer;
        guint64 dim = (guint64)x->integer;
        if (dim != 0 && e->numel > G_MAXUINT64 / elsize / dim)
            CK_FAIL("tensor '%s': shape at file offset %" G_GSIZE_FORMAT " is absurdly large", name, FOFF(sh));
        e->numel *= dim;
    }
    if (off->type != TTML_JSON_ARRAY || off->items->len != 2)
        CK_FAIL("tensor '%s': data_offsets at file offset %" G_GSIZE_FORMAT " must be an array [begin, end]", name,
                FOFF(off));
    const ttml_json *b = g_ptr_array_index(off->items, 0), *en = g_ptr_array_index(off->items, 1);
    if (b->type != TTML_JSON_INT || en->type != TTML_JSON_INT || b->integer < 0 || en->integer < b->integer)
        CK_FAIL("tensor '%s': data_offsets at file offset %" G_GSIZE_FORMAT
                " must be two integers 0 <= begin <= end",
                name, FOFF(off));
    e->begin = (guint64)b->integer;
    e->end = (guint64)en->integer;
    guint64 bytes = e->numel * elsize;
    if (e->end - e->begin != bytes) {
        char *s = shape_str(e->ndim, e->shape);
        char *what = g_strdup_printf("tensor '%s' has shape %s and dtype %s (%" G_GUINT64_FORMAT
                                     " bytes) but data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                                     "] span %" G_GUINT64_FORMAT " bytes (file offset %" G_GSIZE_FORMAT ")",
                                     name, s, dt->str, bytes, e->begin, e->end, e->end - e->begin, FOFF(off));
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint '%s': %s", ck->path, what);
        g_free(what);
        g_free(s);
        return FALSE;
    }
    if (e->end > ck->data_len)
        CK_FAIL("tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                "] reach past the end of the data region (%" G_GUINT64_FORMAT
                " bytes): the file is truncated or the offsets are corrupt",
                name, e->begin, e->end, ck->data_len);
    return TRUE;
}

static int cmp_entry_offsets(const void *a, const void *b)
{
    const ck_entry *x = *(ck_entry *const *)a, *y = *(ck_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tensors must tile the data region: sorted by offset, each begins where the previous ends. */
static gboolean check_coverage(ttml_checkpoint *ck, GError **error)
{
    guint n = ck->entries->len;
    ck_entry **sorted = g_new(ck_entry *, n + 1);
    for (guint i = 0; i < n; i++) sorted[i] = g_ptr_array_index(ck->entries, i);
    qsort(sorted, n, sizeof *sorted, cmp_entry_offsets);
    guint64 pos = 0;
    const char *prev = NULL;
    char *what = NULL;
    for (guint i = 0; i < n && !what; i++) {
        ck_entry *e = sorted[i];
        if (e->begin < pos)
            what = g_strdup_printf("tensor '%s' (data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                                   "]) overlaps tensor '%s', which ends at %" G_GUINT64_FORMAT,
                                   e->name, e->begin, e->end, prev, pos);
        else if (e->begin > pos)
            what = g_strdup_printf("bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                                   ") of the data region belong to no tensor (a gap before tensor '%s')",
                                   pos, e->begin, e->name);
        pos = e->end;
        prev = e->name;
    }
    if (!what && pos != ck->data_len)
        what = g_strdup_printf("the data region holds %" G_GUINT64_FORMAT " bytes but the tensors cover only %"
                               G_GUINT64_FORMAT " (trailing bytes after the last tensor)",
                               ck->data_len, pos);
    g_free(sorted);
    if (!what) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint '%s': %s", ck->path, what);
    g_free(what);
    return FALSE;
}

static gboolean parse_file(ttml_checkpoint *ck, GError **error)
{
    gsize size = g_mapped_file_get_length(ck->map);
    const guint8 *bytes = (const guint8 *)g_mapped_file_get_contents(ck->map);
    if (size < 8)
        CK_FAIL("the file is %" G_GSIZE_FORMAT " bytes long, too short for a safetensors file (it starts with an "
                "8-byte header length): empty or truncated",
                size);
    guint64 hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | bytes[i];
    if (hlen > CK_MAX_HEADER)
        CK_FAIL("header length %" G_GUINT64_FORMAT " (bytes 0-7) is absurd (more than 100 MB): not a safetensors "
                "file, or corrupt",
                hlen);
    if (hlen > size - 8)
        CK_FAIL("header length %" G_GUINT64_FORMAT " (bytes 0-7) is larger than the rest of the file (%" G_GSIZE_FORMAT
                " bytes): the file is truncated or not a safetensors file",
                hlen, size - 8);
    const char *hdr = (const char *)bytes + 8;
    if (hlen == 0 || hdr[0] != '{')
        CK_FAIL("the JSON header at file offset 8 does not start with '{': not a safetensors file");
    ck->data = bytes + 8 + hlen;
    ck->data_len = size - 8 - hlen;

    gsize err_off = 0;
    GError *jerr = NULL;
    ttml_json *root = ttml_json_parse(hdr, (gsize)hlen, &err_off, &jerr);
    if (!root) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s': invalid JSON header at file offset %" G_GSIZE_FORMAT " (header byte %" G_GSIZE_FORMAT
                    "): %s",
                    ck->path, err_off + 8, err_off, jerr->message);
        g_error_free(jerr);
        return FALSE;
    }
    gboolean ok = TRUE;
    if (root->type != TTML_JSON_OBJECT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint '%s': the header is a JSON %s, not an object",
                    ck->path, ttml_json_type_name(root->type));
        ok = FALSE;
    }
    for (guint i = 0; ok && i < root->keys->len; i++) {
        const char *key = g_ptr_array_index(root->keys, i);
        const ttml_json *v = g_ptr_array_index(root->items, i);
        if (strcmp(key, "__metadata__") == 0) {
            ok = parse_metadata(ck, v, error);
            continue;
        }
        ck_entry *e = g_new0(ck_entry, 1);
        e->name = g_strdup(key);
        g_ptr_array_add(ck->entries, e);
        ok = parse_entry(ck, key, v, e, error);
        if (ok) {
            g_ptr_array_add(ck->names, e->name);
            g_hash_table_insert(ck->by_name, e->name, e);
        }
    }
    ttml_json_free(root);
    return ok && check_coverage(ck, error);
}

ttml_checkpoint *ttml_checkpoint_open(const char *path, GError **error)
{
    if (!path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cannot open checkpoint: path is NULL");
        return NULL;
    }
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO,
                    "cannot read checkpoint '%s': it is a directory, not a safetensors file; give the file's path "
                    "(training_config.model_path of the run that wrote it)", path);
        return NULL;
    }
    GError *e = NULL;
    GMappedFile *map = g_mapped_file_new(path, FALSE, &e);
    if (!map) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot read checkpoint '%s': %s", path, e->message);
        g_error_free(e);
        return NULL;
    }
    ttml_checkpoint *ck = g_new0(ttml_checkpoint, 1);
    ck->path = g_strdup(path);
    ck->map = map;
    ck->entries = g_ptr_array_new_with_free_func(entry_free);
    ck->names = g_ptr_array_new();
    ck->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    ck->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!parse_file(ck, error)) {
        ttml_checkpoint_close(ck);
        return NULL;
    }
    return ck;
}

const char *ttml_checkpoint_metadata(const ttml_checkpoint *ck, const char *key)
{
    return ck && key ? g_hash_table_lookup(ck->metadata, key) : NULL;
}

const GPtrArray *ttml_checkpoint_names(const ttml_checkpoint *ck) { return ck->names; }

gboolean ttml_checkpoint_has(const ttml_checkpoint *ck, const char *name)
{
    return ck && name && g_hash_table_contains(ck->by_name, name);
}

void ttml_checkpoint_allow_nonfinite(ttml_checkpoint *ck, gboolean allow)
{
    if (ck) ck->allow_nonfinite = allow;
}

/* F32/BF16 data must be finite unless the caller allowed otherwise (then a warning). */
static gboolean check_finite(const ttml_checkpoint *ck, const ck_entry *e, const void *src, GError **error)
{
    if (e->dtype == TTML_DTYPE_U32) return TRUE;
    const guint8 *b = src;
    guint64 bad = 0, first = 0;
    float first_value = 0.0f;
    for (guint64 i = 0; i < e->numel; i++) {
        guint32 bits;
        if (e->dtype == TTML_DTYPE_F32)
            bits = (guint32)b[4 * i] | (guint32)b[4 * i + 1] << 8 | (guint32)b[4 * i + 2] << 16 |
                   (guint32)b[4 * i + 3] << 24;
        else
            bits = ((guint32)b[2 * i] | (guint32)b[2 * i + 1] << 8) << 16;
        if ((bits & 0x7f800000u) != 0x7f800000u) continue; /* exponent all ones: inf or nan */
        if (!bad++) {
            first = i;
            memcpy(&first_value, &bits, sizeof first_value);
        }
    }
    if (!bad) return TRUE;
    char what[256];
    g_snprintf(what, sizeof what,
               "tensor '%s' holds %" G_GUINT64_FORMAT " non-finite value%s (the first, element %" G_GUINT64_FORMAT
               ", is %s)", e->name, bad, bad == 1 ? "" : "s", first, isnan(first_value) ? "nan" : first_value > 0 ? "inf" : "-inf");
    if (ck->allow_nonfinite) {
        g_log(TTML_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "checkpoint '%s': %s; loading it anyway as asked", ck->path, what);
        return TRUE;
    }
    g_set_error(error, TTML_ERROR, TTML_ERROR_NUMERIC,
                "checkpoint '%s': %s: the run that saved it diverged (lower learning_rate, clip gradients); "
                "use an earlier checkpoint, or load it anyway with ttml-run --allow-nonfinite "
                "(ttml_checkpoint_allow_nonfinite)", ck->path, what);
    return FALSE;
}

gboolean ttml_checkpoint_tensor_info(const ttml_checkpoint *ck, const char *name, ttml_dtype *dtype, int *ndim,
                                     int64_t shape[TTML_CHECKPOINT_MAX_DIMS])
{
    const ck_entry *e = ck && name ? g_hash_table_lookup(ck->by_name, name) : NULL;
    if (!e) return FALSE;
    if (dtype) *dtype = e->dtype;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int d = 0; d < e->ndim; d++) shape[d] = e->shape[d];
    return TRUE;
}

gboolean ttml_checkpoint_load_tensor(const ttml_checkpoint *ck, const char *name, ttml_tensor *dst, GError **error)
{
    const ck_entry *e = name ? g_hash_table_lookup(ck->by_name, name) : NULL;
    if (!e) {
        GString *s = g_string_new(NULL);
        guint n = ck->names->len;
        for (guint i = 0; i < n && i < 5; i++)
            g_string_append_printf(s, "%s'%s'", i ? ", " : "", (const char *)g_ptr_array_index(ck->names, i));
        if (n > 5) g_string_append_printf(s, ", ... (%u more)", n - 5);
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s' has no tensor '%s'; it holds %u tensor%s%s%s (was it saved by another model "
                    "or config?)",
                    ck->path, name ? name : "(null)", n, n == 1 ? "" : "s", n ? ": " : "", s->str);
        g_string_free(s, TRUE);
        return FALSE;
    }
    gboolean same_shape = e->ndim == dst->ndim;
    for (int d = 0; same_shape && d < e->ndim; d++) same_shape = e->shape[d] == dst->shape[d];
    if (e->dtype != dst->dtype || !same_shape) {
        char *fs = shape_str(e->ndim, e->shape);
        char ds[96];
        ttml_shape_str(dst->ndim, dst->shape, ds, sizeof ds);
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s': tensor '%s' is %s %s in the file but the destination is %s %s (%s); "
                    "the checkpoint was saved with a different model or config",
                    ck->path, name, st_dtype_name(e->dtype), fs, st_dtype_name(dst->dtype), ds,
                    e->dtype != dst->dtype                 ? "dtypes differ"
                    : e->numel != (guint64)dst->numel ? "element counts differ"
                                                      : "same element count, different shape");
        g_free(fs);
        return FALSE;
    }
    if (e->numel == 0) return TRUE;
    const void *src = ck->data + e->begin;
    if (!check_finite(ck, e, src, error)) return FALSE;
#if G_BYTE_ORDER == G_BIG_ENDIAN
    void *copy = g_memdup2(src, e->end - e->begin);
    swap_to_le(copy, e->numel, ttml_dtype_size(e->dtype));
    gboolean ok = ttml_tensor_write(dst, copy, error);
    g_free(copy);
#else
    gboolean ok = ttml_tensor_write(dst, src, error);
#endif
    if (!ok) g_prefix_error(error, "checkpoint '%s': writing tensor '%s' to its device: ", ck->path, name);
    return ok;
}
