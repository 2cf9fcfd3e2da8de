/* drivers/ttsim/storage/ttsim_buffer.c - a ttsim buffer's image in the device's
 * storage format and TILE layout: charging device memory for it, encoding
 * host values into it and decoding them back, and the f32 shadow kernels
 * read and write without converting (formats: see ttsim_plugin.c). */
#include "ttsim_internal.h"

#include <string.h>

/* The staging buffer for conversions (grows, kept for the device's life). */
static void *stage(ttsim_device *d, size_t bytes)
{
    if (d->tmp_cap < bytes) {
        g_free(d->tmp);
        d->tmp = g_malloc(bytes ? bytes : 1);
        d->tmp_cap = bytes;
    }
    return d->tmp;
}

ttsim_format ttsim_format_for(const ttsim_device *d, ttml_dtype dtype)
{
    if (dtype == TTML_DTYPE_U32) return TTSIM_FMT_U32;
    if (dtype == TTML_DTYPE_BF16) return TTSIM_FMT_BF16;
    return d->cfg.storage;
}

void ttsim_charge_of(const ttsim_shape *s, ttsim_format fmt, guint64 *pages, size_t *page_bytes)
{
    *page_bytes = ttsim_format_tile_bytes(fmt);
    if (fmt == TTSIM_FMT_U32)
        *pages = ((guint64)(s->batch * s->rows * s->cols) * 4 + 4095) / 4096;
    else
        *pages = (guint64)ttsim_shape_tiles(s);
}

double ttsim_view_bytes(const ttsim_device *d, const ttml_view *v)
{
    ttsim_shape s;
    ttsim_shape_from(v->ndim, v->shape, &s);
    return (double)ttsim_shape_bytes(&s, ttsim_format_for(d, v->dtype));
}

/* Re-charge `tb` for (pages, page_bytes); on failure the old charge stays. */
static gboolean recharge(ttsim_device *d, ttml_buffer *buf, ttsim_buf *tb, guint64 pages, size_t page_bytes,
                         GError **error)
{
    if (pages * page_bytes == tb->pages * tb->page_bytes) {
        tb->pages = pages;
        tb->page_bytes = page_bytes;
        return TRUE;
    }
    ttsim_memory_release(&d->mem, buf->kind, tb->pages, tb->page_bytes);
    if (!ttsim_memory_charge(&d->mem, d->cfg.arch->name, buf->kind, pages, page_bytes, error)) {
        GError *ignored = NULL;
        if (!ttsim_memory_charge(&d->mem, d->cfg.arch->name, buf->kind, tb->pages, tb->page_bytes, &ignored))
            g_clear_error(&ignored);
        return FALSE;
    }
    tb->pages = pages;
    tb->page_bytes = page_bytes;
    return TRUE;
}

/* Make room for the image of `s` in fmt and charge it. */
gboolean ttsim_buf_prepare(ttsim_device *d, ttml_buffer *buf, ttsim_format fmt, const ttsim_shape *s,
                              GError **error)
{
    ttsim_buf *tb = buf->handle;
    guint64 pages;
    size_t page_bytes;
    ttsim_charge_of(s, fmt, &pages, &page_bytes);
    if (!recharge(d, buf, tb, pages, page_bytes, error)) return FALSE;
    size_t bytes = ttsim_shape_bytes(s, fmt);
    if (tb->cap < bytes) {
        void *old = tb->data;
        tb->data = g_malloc(bytes);
        /* a u32 image is updated in place by kernels: keep its values */
        if (old && tb->fmt == TTSIM_FMT_U32) memcpy(tb->data, old, tb->cap);
        g_free(old);
        tb->cap = bytes;
    }
    return TRUE;
}

float *ttsim_buf_shadow(ttsim_device *d, ttml_buffer *buf, gboolean fill)
{
    ttsim_buf *tb = buf->handle;
    if (!tb->shadow) tb->shadow = g_malloc(buf->size + 64);
    if (fill && !tb->shadow_valid) {
        ttsim_buf_decode(d, buf, TTML_DTYPE_F32, tb->shadow, buf->size / 4, NULL);
        tb->shadow_valid = TRUE;
    }
    return tb->shadow;
}

gboolean ttsim_buf_commit_f32(ttsim_device *d, ttml_buffer *buf, int ndim, const int64_t *shape, GError **error)
{
    ttsim_buf *tb = buf->handle;
    ttsim_shape s;
    ttsim_shape_from(ndim, shape, &s);
    ttsim_format fmt = d->cfg.storage;
    if (!ttsim_buf_prepare(d, buf, fmt, &s, error)) {
        tb->shadow_valid = FALSE;
        return FALSE;
    }
    ttsim_round_and_tilize(tb->shadow, &s, fmt, tb->data);
    tb->fmt = fmt;
    tb->shape = s;
    tb->numel = (size_t)(s.batch * s.rows * s.cols);
    tb->shaped = TRUE;
    tb->shadow_valid = tb->numel == buf->size / 4;
    return TRUE;
}

gboolean ttsim_buf_commit_u32(ttsim_device *d, ttml_buffer *buf, int ndim, const int64_t *shape, GError **error)
{
    ttsim_buf *tb = buf->handle;
    ttsim_shape s;
    ttsim_shape_from(ndim, shape, &s);
    if (!ttsim_buf_prepare(d, buf, TTSIM_FMT_U32, &s, error)) return FALSE;
    tb->fmt = TTSIM_FMT_U32;
    tb->shape = s;
    tb->numel = (size_t)(s.batch * s.rows * s.cols);
    tb->shaped = TRUE;
    tb->shadow_valid = FALSE;
    return TRUE;
}

gboolean ttsim_buf_encode(ttsim_device *d, ttml_buffer *buf, ttml_dtype dtype, int ndim, const int64_t *shape,
                          const void *src, GError **error)
{
    ttsim_buf *tb = buf->handle;
    ttsim_shape s;
    ttsim_shape_from(ndim, shape, &s);
    size_t numel = (size_t)(s.batch * s.rows * s.cols);
    if (dtype == TTML_DTYPE_F32 && numel * 4 <= buf->size) {
        float *sh = ttsim_buf_shadow(d, buf, FALSE);
        if (sh != src) memcpy(sh, src, numel * 4);
        return ttsim_buf_commit_f32(d, buf, ndim, shape, error);
    }
    ttsim_format fmt = ttsim_format_for(d, dtype);
    if (!ttsim_buf_prepare(d, buf, fmt, &s, error)) return FALSE;
    if (fmt == TTSIM_FMT_U32) {
        memcpy(tb->data, src, numel * 4);
    } else if (dtype == TTML_DTYPE_BF16) {
        float *f = stage(d, numel * sizeof(float));
        const guint16 *h = src;
        for (size_t i = 0; i < numel; i++) f[i] = ttsim_bf16_dec(h[i]);
        ttsim_tilize(f, &s, fmt, tb->data);
    } else {
        ttsim_tilize(src, &s, fmt, tb->data);
    }
    tb->fmt = fmt;
    tb->shape = s;
    tb->numel = numel;
    tb->shaped = TRUE;
    tb->shadow_valid = FALSE;
    return TRUE;
}

gboolean ttsim_buf_decode(ttsim_device *d, ttml_buffer *buf, ttml_dtype dtype, void *dst, size_t numel,
                          GError **error)
{
    ttsim_buf *tb = buf->handle;
    size_t es = ttml_dtype_size(dtype);
    if (!tb->shaped) {            /* never written: zeros */
        memset(dst, 0, numel * es);
        return TRUE;
    }
    size_t n = tb->numel < numel ? tb->numel : numel;
    if (tb->fmt == TTSIM_FMT_U32) {
        memcpy(dst, tb->data, n * 4 < numel * es ? n * 4 : numel * es);
    } else if (dtype == TTML_DTYPE_F32 && tb->numel <= numel) {
        ttsim_untilize(tb->data, &tb->shape, tb->fmt, dst);
    } else {
        float *f = stage(d, tb->numel * sizeof(float));
        ttsim_untilize(tb->data, &tb->shape, tb->fmt, f);
        if (dtype == TTML_DTYPE_BF16) {
            guint16 *h = dst;
            for (size_t i = 0; i < n; i++) h[i] = ttsim_bf16_enc(f[i]);
        } else {
            memcpy(dst, f, n * 4);
        }
    }
    size_t done = tb->fmt == TTSIM_FMT_U32 ? (n * 4 < numel * es ? n * 4 : numel * es) : n * es;
    if (done < numel * es) memset((char *)dst + done, 0, numel * es - done);
    return TRUE;
}
