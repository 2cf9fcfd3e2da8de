/* drivers/profiler/profiler_layer.c - the "profiler" layer: wraps the driver
 * below it and times what it is asked to do.
 *
 * wrap() copies the next driver's vtable whole and overrides launch, write,
 * read, alloc, free, synchronize, close and (when present) charge_collective;
 * everything else (stats, and any
 * entry added to the ABI later) passes through untouched. The device state
 * the core keeps is the NEXT driver's own state (wrap returns next_dev), so
 * passed-through entries and kernels calling ttml_device_get_driver_state see
 * exactly what they would without the layer; the overrides find the layer's
 * bookkeeping from that pointer (a short list: one entry per profiled device).
 *
 * Results are bit-identical with and without the layer: it only measures.
 * Measurements go to the collector in libttml (ttml/profiler_layer.h). */
#include <ttml/ttml.h>
#include <ttml/profiler_layer.h>

#include <string.h>

typedef struct prof_dev {
    ttml_driver_iface next;   /* copy of the wrapped driver's vtable */
    void *next_dev;
    gboolean has_stats;
    gboolean described;       /* the device's info was passed to the collector */
} prof_dev;

static GPtrArray *wrapped;      /* prof_dev*, one per profiled device (under wrapped_lock) */
static GMutex wrapped_lock;     /* rank threads of a mesh open and use devices concurrently */
static _Thread_local prof_dev *last; /* the last one this thread looked up */

static inline prof_dev *find(void *dev)
{
    if (G_LIKELY(last && last->next_dev == dev)) return last;
    g_mutex_lock(&wrapped_lock);
    for (guint i = 0; wrapped && i < wrapped->len; i++) {
        prof_dev *p = g_ptr_array_index(wrapped, i);
        if (p->next_dev == dev) last = p;
    }
    g_mutex_unlock(&wrapped_lock);
    if (last && last->next_dev == dev) return last;
    g_error("profiler layer: unknown device state %p", dev); /* cannot happen */
    return NULL;
}

static inline guint64 view_bytes(const ttml_view *v)
{
    guint64 n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->shape[i] > 0 ? (guint64)v->shape[i] : 0;
    return n * ttml_dtype_size(v->dtype);
}

static inline guint64 transfer_bytes(const ttml_transfer *t)
{
    guint64 n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i] > 0 ? (guint64)t->shape[i] : 0;
    return n * ttml_dtype_size(t->dtype);
}

static gboolean prof_launch(void *dev, ttml_device *device, ttml_kernel_fn fn, const ttml_launch *l,
                            GError **error)
{
    prof_dev *p = find(dev);
    guint64 t0 = ttml_profiler_now_ns();
    gboolean ok = p->next.launch(dev, device, fn, l, error);
    guint64 t1 = ttml_profiler_now_ns();
    double sim = 0.0;
    if (p->has_stats) {
        ttml_device_stats st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        if (p->next.stats(dev, &st)) sim = st.sim_last_launch_s;
    }
    guint64 bytes = 0;
    for (int i = 0; i < l->n_in && i < TTML_LAUNCH_MAX_IN; i++) bytes += view_bytes(&l->in[i]);
    for (int i = 0; i < l->n_out && i < TTML_LAUNCH_MAX_OUT; i++) bytes += view_bytes(&l->out[i]);
    ttml_profiler_record_kernel(l->kernel, t0, t1 - t0, bytes, sim);
    return ok;
}

static gboolean prof_write(void *dev, const ttml_transfer *dst, const void *src, GError **error)
{
    prof_dev *p = find(dev);
    guint64 t0 = ttml_profiler_now_ns();
    gboolean ok = p->next.write(dev, dst, src, error);
    guint64 t1 = ttml_profiler_now_ns();
    ttml_profiler_record_transfer(TRUE, t0, t1 - t0, transfer_bytes(dst));
    return ok;
}

static gboolean prof_read(void *dev, const ttml_transfer *src, void *dst, GError **error)
{
    prof_dev *p = find(dev);
    guint64 t0 = ttml_profiler_now_ns();
    gboolean ok = p->next.read(dev, src, dst, error);
    guint64 t1 = ttml_profiler_now_ns();
    ttml_profiler_record_transfer(FALSE, t0, t1 - t0, transfer_bytes(src));
    return ok;
}

static gboolean prof_alloc(void *dev, ttml_buffer *buf, GError **error)
{
    prof_dev *p = find(dev);
    if (!p->next.alloc(dev, buf, error)) return FALSE;
    if (!p->described && buf->device) {   /* the first allocation names the device for the report */
        const ttml_device_info *info = ttml_device_get_info(buf->device);
        ttml_profiler_layer_describe(info->name, info->arch);
        p->described = TRUE;
    }
    ttml_profiler_record_memory(buf->kind, ttml_profiler_now_ns(), (gint64)buf->size);
    return TRUE;
}

static void prof_free(void *dev, ttml_buffer *buf)
{
    prof_dev *p = find(dev);
    p->next.free(dev, buf);
    ttml_profiler_record_memory(buf->kind, ttml_profiler_now_ns(), -(gint64)buf->size);
}

static gboolean prof_synchronize(void *dev, GError **error)
{
    prof_dev *p = find(dev);
    guint64 t0 = ttml_profiler_now_ns();
    gboolean ok = p->next.synchronize ? p->next.synchronize(dev, error) : TRUE;
    ttml_profiler_record_sync(t0, ttml_profiler_now_ns() - t0);
    return ok;
}

static gboolean prof_charge_collective(void *dev, ttml_collective_cost *c, GError **error)
{
    prof_dev *p = find(dev);
    guint64 t0 = ttml_profiler_now_ns();
    gboolean ok = p->next.charge_collective(dev, c, error);
    /* on the collectives track: from when it was started, for its simulated time */
    if (ok) ttml_profiler_record_collective(c->name ? c->name : "collective", t0, (guint64)(c->seconds * 1e9),
                                            c->bytes, c->seconds);
    return ok;
}

static void prof_close(void *dev)
{
    prof_dev *p = find(dev);
    if (p->next.close) p->next.close(dev);
    g_mutex_lock(&wrapped_lock);
    g_ptr_array_remove(wrapped, p);
    g_mutex_unlock(&wrapped_lock);
    if (last == p) last = NULL;
    g_free(p);
    ttml_profiler_layer_closed();
}

static void *prof_wrap(const ttml_driver_iface *next, void *next_dev, ttml_driver_iface *out,
                       const char *options, GError **error)
{
    if (options && *options) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "the profiler layer takes no options (got '%s'); use --trace / --profile-csv / "
                    "--report with ttml-run instead", options);
        return NULL;
    }
    size_t min_size = offsetof(ttml_driver_iface, synchronize) + sizeof(void *);
    if (!next || next->struct_size < min_size || !next->launch || !next->alloc || !next->free ||
        !next->write || !next->read) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE,
                    "the driver below the profiler layer has an incomplete vtable (struct_size %zu); "
                    "rebuild that driver against this ttml", next ? next->struct_size : (size_t)0);
        return NULL;
    }
    gboolean dup = FALSE;
    g_mutex_lock(&wrapped_lock);
    for (guint i = 0; wrapped && i < wrapped->len; i++)
        dup |= ((prof_dev *)g_ptr_array_index(wrapped, i))->next_dev == next_dev;
    g_mutex_unlock(&wrapped_lock);
    if (dup) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "device '%s' is already profiled; name the profiler layer once "
                    "(in --device or in TTML_LAYERS)", next->name ? next->name : "?");
        return NULL;
    }
    prof_dev *p = g_new0(prof_dev, 1);
    size_t n = MIN(next->struct_size, sizeof p->next);
    memcpy(&p->next, next, n);
    p->next.struct_size = n;
    p->next_dev = next_dev;
    p->has_stats = n >= offsetof(ttml_driver_iface, stats) + sizeof(void *) && p->next.stats;

    /* The outer vtable: the next one, with the measured entries replaced. */
    memcpy(out, next, n);
    out->struct_size = n;
    out->launch = prof_launch;
    out->write = prof_write;
    out->read = prof_read;
    out->alloc = prof_alloc;
    out->free = prof_free;
    out->synchronize = prof_synchronize;
    out->close = prof_close;
    if (n >= offsetof(ttml_driver_iface, charge_collective) + sizeof(void *) && next->charge_collective)
        out->charge_collective = prof_charge_collective;

    g_mutex_lock(&wrapped_lock);
    if (!wrapped) wrapped = g_ptr_array_new();
    g_ptr_array_add(wrapped, p);
    g_mutex_unlock(&wrapped_lock);
    ttml_profiler_layer_opened(next->name);
    return next_dev;
}

static const ttml_layer_desc profiler_layer = {
    .struct_size = sizeof(ttml_layer_desc),
    .name = "profiler",
    .description = "times kernels, transfers, allocations and synchronize of the device below it "
                   "(profiler:cpu, profiler:ttsim, or TTML_LAYERS=profiler); Chrome trace, CSV, "
                   "summary and HTML report through ttml-run --trace/--profile-csv/--report",
    .wrap = prof_wrap,
};

static gboolean profiler_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_layer(plugin, &profiler_layer, error);
}

static void profiler_fini(ttml_plugin *plugin)
{
    g_clear_pointer(&wrapped, g_ptr_array_unref);
    last = NULL;
}

TTML_PLUGIN_DEFINE(profiler, TTML_PLUGIN_LAYER, "0.1.0",
                   "profiler layer: wraps any driver and measures it", "MIT", NULL, profiler_init,
                   profiler_fini)
