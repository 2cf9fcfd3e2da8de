/* tests/plugins/fixture_driver.c - a driver with host memory, an optional
 * memory budget ("fx_hostdrv:budget=BYTES") and NO kernels, so every kernel
 * runs through the core's cpu fallback. */
#include <ttml/ttml.h>

#include <stdlib.h>
#include <string.h>

typedef struct { guint64 budget, used; } fx_dev;

static void *fx_open(const char *options, ttml_device_info *info, GError **error)
{
    fx_dev *d = g_new0(fx_dev, 1);
    if (options && g_str_has_prefix(options, "budget=")) d->budget = g_ascii_strtoull(options + 7, NULL, 10);
    g_strlcpy(info->name, "fx_hostdrv", sizeof info->name);
    g_strlcpy(info->arch, "test fixture", sizeof info->arch);
    info->mem_bytes[TTML_MEM_DRAM] = d->budget;
    info->n_cores = 1;
    info->n_threads = 1;
    info->dtypes = 1u << TTML_DTYPE_F32;
    return d;
}

static void fx_close(void *dev) { g_free(dev); }

static gboolean fx_alloc(void *dev, ttml_buffer *buf, GError **error)
{
    fx_dev *d = dev;
    if (d->budget && d->used + buf->size > d->budget) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "out of memory: request %zu bytes, budget %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                    " in use", buf->size, d->budget, d->used);
        return FALSE;
    }
    buf->data = g_malloc0(buf->size ? buf->size : 1);
    d->used += buf->size;
    return TRUE;
}

static void fx_free(void *dev, ttml_buffer *buf)
{
    ((fx_dev *)dev)->used -= buf->size;
    g_free(buf->data);
}

static size_t nbytes(const ttml_transfer *t)
{
    size_t n = ttml_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

static gboolean fx_write(void *dev, const ttml_transfer *dst, const void *src, GError **error)
{
    memcpy((char *)dst->buf->data + dst->offset, src, nbytes(dst));
    return TRUE;
}

static gboolean fx_read(void *dev, const ttml_transfer *src, void *dst, GError **error)
{
    memcpy(dst, (char *)src->buf->data + src->offset, nbytes(src));
    return TRUE;
}

static gboolean fx_launch(void *dev, ttml_device *device, ttml_kernel_fn fn, const ttml_launch *l, GError **error)
{
    return fn(device, l, error);
}

static const ttml_driver_iface fx_iface = {
    sizeof(ttml_driver_iface), "fx_hostdrv", "test driver without kernels",
    fx_open, fx_close, fx_alloc, fx_free, fx_write, fx_read, fx_launch, NULL,
};

static gboolean fx_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_driver(plugin, &fx_iface, error);
}

TTML_PLUGIN_DEFINE(fx_hostdrv, TTML_PLUGIN_DRIVER, "0.0.1", "fallback test driver", "MIT", NULL, fx_init, NULL)
