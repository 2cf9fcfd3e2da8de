/* drivers/ttsim/ttsim_plugin.c - the ttsim driver: plugin entry, device
 * vtable, stats, and kernel registration. Buffers in the device's storage
 * format and TILE layout are storage/ttsim_buffer.c's.
 *
 * Tensors keep their logical dtype at the API; on the device an f32 tensor
 * is stored in the storage format (bf16 by default, as TT-Train does; fp32
 * bfp8_b or bfp4_b by option), tilized; bf16 tensors in bf16 tiles; u32 tensors
 * (token ids, targets) exactly, row-major. write() rounds, read() returns
 * the stored (rounded) values.
 *
 * alloc() charges a tensor's padded tiles in its storage format at once: the
 * core passes the shape and dtype with the buffer (ABI 1.1), so a tensor
 * too big for the device fails at allocation. A raw byte buffer (no shape)
 * is charged as f32 values densely tiled; the first write or kernel output
 * that gives it a shape re-charges it for its padded tiles, as does a write
 * in another shape (a view). A buffer reshaped by a view (ttml_tensor_view_as) is re-tilized to
 * the new shape when next written; reads untilize with the shape it was
 * stored in, so the logical row-major order never depends on the view.
 */
#include "ttsim_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* ---- vtable ---- */

static void *ttsim_open(const char *options, ttml_device_info *info, GError **error)
{
    ttsim_config cfg;
    if (!ttsim_config_parse(options, &cfg, error)) return NULL;
    ttsim_device *d = g_new0(ttsim_device, 1);
    d->cfg = cfg;
    g_snprintf(d->name, sizeof d->name, "ttsim:%s", cfg.arch->name);
    ttsim_memory_init(&d->mem, &cfg);
    g_mutex_init(&d->lock);
    d->cpu_fns = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->kstats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    int threads = cfg.threads > 0 ? cfg.threads : (int)g_get_num_processors();
    if (threads > cfg.n_cores) threads = cfg.n_cores;
    if (threads < 1) threads = 1;
    d->hosts = ttsim_hosts_new(threads);
    d->wscratch = g_new0(void *, (size_t)threads * TTSIM_WORKER_SLOTS);
    d->wscratch_cap = g_new0(size_t, (size_t)threads * TTSIM_WORKER_SLOTS);

    const ttsim_arch *a = cfg.arch;
    if (info->struct_size == 0) info->struct_size = sizeof *info;
    g_strlcpy(info->name, d->name, sizeof info->name);
    g_snprintf(info->arch, sizeof info->arch, "Tenstorrent %s (%s, simulated)", a->name, a->board);
    g_snprintf(info->description, sizeof info->description,
               "%d chip%s, %dx%d worker grid%s = %d Tensix cores, %" G_GUINT64_FORMAT
               " KiB L1 per core, %.3g GiB DRAM in %d banks (%" G_GUINT64_FORMAT
               " MiB per bank), %.0f GB/s, %.2f GHz, NoC %d B/cycle; math fidelity %s, storage %s; "
               "peak %.1f TFLOP/s at %s (source: %s); %s, calibrated to tt-metal GEMM_FLOPS.md (docs/ttsim.md)",
               a->n_chips, a->n_chips > 1 ? "s" : "", a->grid_x, a->grid_y, a->n_chips > 1 ? " per chip" : "",
               cfg.n_cores, cfg.l1_bytes / 1024, (double)cfg.dram_bytes / (1024.0 * 1024 * 1024), cfg.n_banks,
               cfg.dram_bytes / (guint64)cfg.n_banks / (1024 * 1024), cfg.dram_bytes_per_s / 1e9,
               cfg.clock_hz / 1e9, cfg.noc_bytes_per_cycle, ttsim_fidelity_name(cfg.fidelity),
               ttsim_format_name(cfg.storage), ttsim_peak_flops(&cfg) / 1e12,
               ttsim_fidelity_name(cfg.fidelity), a->source, ttsim_calib_version());
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) info->mem_bytes[k] = 0;
    info->mem_bytes[TTML_MEM_DRAM] = cfg.dram_bytes;
    info->mem_bytes[TTML_MEM_L1] = cfg.l1_bytes * (guint64)cfg.n_cores;
    info->n_cores = cfg.n_cores;
    info->n_threads = threads;
    info->dtypes = (1u << TTML_DTYPE_F32) | (1u << TTML_DTYPE_BF16) | (1u << TTML_DTYPE_U32);
    info->layouts = (1u << TTML_LAYOUT_ROW_MAJOR) | (1u << TTML_LAYOUT_TILE);
    if (info->struct_size >= offsetof(ttml_device_info, stored_f32_bytes) + sizeof(double))
        info->stored_f32_bytes = (double)ttsim_format_tile_bytes(cfg.storage) / TTSIM_TILE_ELEMS;
    return d;
}

static int kstat_cmp(gconstpointer a, gconstpointer b, gpointer user)
{
    GHashTable *h = user;
    const ttsim_kstat *x = g_hash_table_lookup(h, *(const char *const *)a);
    const ttsim_kstat *y = g_hash_table_lookup(h, *(const char *const *)b);
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

static void print_report(ttsim_device *d)
{
    GString *s = g_string_new(NULL);
    double peak = ttsim_peak_flops(&d->cfg);
    g_string_append_printf(s, "%s: simulated device time %.6f s over %" G_GUINT64_FORMAT
                           " launches, %.3g FLOP, achieved %.3g TFLOP/s of %.3g peak (%.1f%%); %" G_GUINT64_FORMAT
                           " operands re-tiled on the host (a view with another tile geometry)\n",
                           d->name, d->sim_s, d->launches, d->flops,
                           d->sim_s > 0 ? d->flops / d->sim_s / 1e12 : 0.0, peak / 1e12,
                           d->sim_s > 0 ? 100.0 * d->flops / d->sim_s / peak : 0.0, d->relayouts);
    if (d->collectives)
        g_string_append_printf(s, "  of which %.6f s in %" G_GUINT64_FORMAT " collectives over Ethernet (%.0f Gb/s "
                               "per link, %.0f ns per hop)\n", d->comm_s, d->collectives,
                               d->cfg.arch->eth_link_bytes_per_s * 8 / 1e9, d->cfg.arch->eth_hop_latency_s * 1e9);
    ttsim_calib cal;
    ttsim_calib_get(&d->cfg, &cal);
    g_string_append_printf(s, "  %s (calibrated to %s; %s %s %s: %s); achieved / ideal = utilisation, ideal = "
                           "tt-metal's ideal cycles (matmul) or the uncalibrated roofline; overall %.1f%%\n",
                           ttsim_calib_version(), ttsim_calib_source(), cal.arch,
                           ttsim_format_name(d->cfg.storage), ttsim_fidelity_name(d->cfg.fidelity),
                           cal.published ? "fitted to published rows" : "no published rows, derived (docs/ttsim.md)",
                           d->sim_s > 0 ? 100.0 * d->ideal_s / d->sim_s : 0.0);
    g_string_append_printf(s, "  %-20s %10s %10s %14s %7s %12s %7s\n", "kernel", "calls", "native", "sim ms",
                           "time%", "TFLOP/s", "util%");
    GPtrArray *names = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, d->kstats);
    while (g_hash_table_iter_next(&it, &key, NULL)) g_ptr_array_add(names, key);
    g_ptr_array_sort_with_data(names, kstat_cmp, d->kstats);
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        const ttsim_kstat *k = g_hash_table_lookup(d->kstats, n);
        g_string_append_printf(s, "  %-20s %10" G_GUINT64_FORMAT " %10" G_GUINT64_FORMAT " %14.3f %6.1f%% %12.3f %6.1f%%\n",
                               n, k->calls, k->native_calls, k->seconds * 1e3, d->sim_s > 0 ? 100.0 * k->seconds / d->sim_s : 0.0,
                               k->seconds > 0 ? k->flops / k->seconds / 1e12 : 0.0,
                               k->seconds > 0 ? 100.0 * k->ideal_seconds / k->seconds : 0.0);
        if (k->native_calls < k->calls && k->converted_why)
            g_string_append_printf(s, "  %-20s %10s converted on the host, last because of: %s\n", "", "",
                                   k->converted_why);
    }
    g_ptr_array_unref(names);
    g_message("%s", s->str);
    g_string_free(s, TRUE);
}

static void ttsim_close(void *dev)
{
    ttsim_device *d = dev;
    /* after an out-of-memory error the report would only bury the error line */
    if (d->cfg.report && d->launches > 0 && !d->mem.oom) print_report(d);
    int workers = ttsim_hosts_count(d->hosts);
    ttsim_hosts_free(d->hosts);
    for (int i = 0; i < workers * TTSIM_WORKER_SLOTS; i++) g_aligned_free(d->wscratch[i]);
    g_free(d->wscratch);
    g_free(d->wscratch_cap);
    for (int i = 0; i < TTSIM_SCRATCH_SLOTS; i++) g_free(d->scratch[i]);
    for (int i = 0; i < TTML_LAUNCH_MAX_IN; i++) g_free(d->relayout[i]);
    g_free(d->tmp);
    g_hash_table_unref(d->cpu_fns);
    g_hash_table_unref(d->kstats);
    ttsim_memory_clear(&d->mem);
    g_mutex_clear(&d->lock);
    g_free(d);
}

static gboolean ttsim_alloc(void *dev, ttml_buffer *buf, GError **error)
{
    ttsim_device *d = dev;
    ttsim_buf *tb = g_new0(ttsim_buf, 1);
    guint64 pages;
    size_t page_bytes;
    if (buf->ndim > 0 && (unsigned)buf->dtype < TTML_DTYPE_COUNT) {
        /* ABI 1.1: the shape and dtype are known: charge the padded tiles
         * (u32: dense pages) in the format the tensor will be stored in */
        ttsim_shape s;
        ttsim_shape_from(buf->ndim, buf->shape, &s);
        tb->fmt = ttsim_format_for(d, buf->dtype);
        ttsim_charge_of(&s, tb->fmt, &pages, &page_bytes);
    } else {
        /* a raw byte buffer: charged as f32 values densely tiled until the
         * first shaped write */
        tb->fmt = d->cfg.storage;
        pages = ((guint64)((buf->size + 3) / 4) + TTSIM_TILE_ELEMS - 1) / TTSIM_TILE_ELEMS;
        page_bytes = ttsim_format_tile_bytes(tb->fmt);
    }
    g_mutex_lock(&d->lock);
    gboolean ok = ttsim_memory_charge(&d->mem, d->cfg.arch->name, buf->kind, pages, page_bytes, error);
    g_mutex_unlock(&d->lock);
    if (!ok) {
        g_free(tb);
        return FALSE;
    }
    tb->pages = pages;
    tb->page_bytes = page_bytes;
    buf->handle = tb;
    buf->data = NULL;
    buf->layout = TTML_LAYOUT_TILE;
    return TRUE;
}

static void ttsim_free(void *dev, ttml_buffer *buf)
{
    ttsim_device *d = dev;
    ttsim_buf *tb = buf->handle;
    if (!tb) return;
    g_mutex_lock(&d->lock);
    ttsim_memory_release(&d->mem, buf->kind, tb->pages, tb->page_bytes);
    g_mutex_unlock(&d->lock);
    g_free(tb->data);
    g_free(tb->shadow);
    g_free(tb);
    buf->handle = NULL;
}

static gboolean check_transfer(const ttml_transfer *t, const char *what, size_t *numel, GError **error)
{
    if (!t || !t->buf || !t->buf->handle || (unsigned)t->dtype >= TTML_DTYPE_COUNT || t->ndim < 0 ||
        t->ndim > TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttsim %s: invalid transfer descriptor", what);
        return FALSE;
    }
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i] > 0 ? (size_t)t->shape[i] : 0;
    size_t b = n * ttml_dtype_size(t->dtype);
    if (t->offset > t->buf->size || b > t->buf->size - t->offset) {
        char s[80];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "ttsim %s: %s %s (%zu bytes) at offset %zu exceeds the buffer of %zu bytes", what,
                    ttml_dtype_name(t->dtype), ttml_shape_str(t->ndim, t->shape, s, sizeof s), b, t->offset,
                    t->buf->size);
        return FALSE;
    }
    *numel = n;
    return TRUE;
}

static gboolean ttsim_write(void *dev, const ttml_transfer *t, const void *src, GError **error)
{
    ttsim_device *d = dev;
    size_t n;
    if (!check_transfer(t, "write", &n, error)) return FALSE;
    size_t es = ttml_dtype_size(t->dtype), total = t->buf->size / es;
    gboolean ok;
    g_mutex_lock(&d->lock);
    if (t->offset == 0 && n == total) {
        ok = ttsim_buf_encode(d, t->buf, t->dtype, t->ndim, t->shape, src, error);
    } else {
        /* partial: patch the whole logical buffer and store it again */
        ttsim_buf *tb = t->buf->handle;
        void *all = g_malloc(total * es);
        ok = ttsim_buf_decode(d, t->buf, t->dtype, all, total, error);
        memcpy((char *)all + t->offset, src, n * es);
        int64_t flat[2] = {1, (int64_t)total};
        if (ok && tb->shaped && tb->numel == total) {
            int64_t sh[3] = {tb->shape.batch, tb->shape.rows, tb->shape.cols};
            ok = ttsim_buf_encode(d, t->buf, t->dtype, 3, sh, all, error);
        } else if (ok) {
            ok = ttsim_buf_encode(d, t->buf, t->dtype, 2, flat, all, error);
        }
        g_free(all);
    }
    g_mutex_unlock(&d->lock);
    return ok;
}

static gboolean ttsim_read(void *dev, const ttml_transfer *t, void *dst, GError **error)
{
    ttsim_device *d = dev;
    size_t n;
    if (!check_transfer(t, "read", &n, error)) return FALSE;
    size_t es = ttml_dtype_size(t->dtype), total = t->buf->size / es;
    gboolean ok;
    g_mutex_lock(&d->lock);
    if (t->offset == 0 && n == total) {
        ok = ttsim_buf_decode(d, t->buf, t->dtype, dst, n, error);
    } else {
        void *all = g_malloc(total * es);
        ok = ttsim_buf_decode(d, t->buf, t->dtype, all, total, error);
        if (ok) memcpy(dst, (char *)all + t->offset, n * es);
        g_free(all);
    }
    g_mutex_unlock(&d->lock);
    return ok;
}

static gboolean ttsim_launch(void *dev, ttml_device *device, ttml_kernel_fn fn, const ttml_launch *launch,
                             GError **error)
{
    if (!launch || !launch->kernel) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttsim: launch without a kernel name");
        return FALSE;
    }
    /* a kernel another plugin registered for ttsim runs as it is */
    if (fn && fn != ttsim_kernel_run) return fn(device, launch, error);
    return ttsim_execute(dev, device, launch, error);
}

static gboolean ttsim_synchronize(void *dev, GError **error)
{
    return TRUE;
}

static gboolean ttsim_stats(void *dev, ttml_device_stats *out)
{
    ttsim_device *d = dev;
    ttml_device_stats s = {0};
    s.struct_size = sizeof s;
    g_mutex_lock(&d->lock);
    s.launches = d->launches;
    s.sim_time_s = d->sim_s;
    s.sim_last_launch_s = d->sim_last_s;
    s.sim_flops = d->flops;
    s.peak_flops = ttsim_peak_flops(&d->cfg);
    s.sim_comm_s = d->comm_s;
    g_mutex_unlock(&d->lock);
    size_t n = out->struct_size && out->struct_size < sizeof s ? out->struct_size : sizeof s;
    memcpy(out, &s, n);
    out->struct_size = n;
    return TRUE;
}

static const ttml_driver_iface ttsim_iface = {
    .struct_size = sizeof(ttml_driver_iface),
    .name = "ttsim",
    .description = "Tenstorrent Tensix simulator: wormhole_b0 (n150), n300, blackhole (p150); DRAM banks and "
                   "L1 budgets, tile layout, bf16/fp32/bfp8_b/bfp4_b storage, math fidelity, timing model",
    .open = ttsim_open,
    .close = ttsim_close,
    .alloc = ttsim_alloc,
    .free = ttsim_free,
    .write = ttsim_write,
    .read = ttsim_read,
    .launch = ttsim_launch,
    .synchronize = ttsim_synchronize,
    .stats = ttsim_stats,
    .charge_collective = ttsim_charge_collective,
};

static gboolean ttsim_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    if (!host || !host->register_driver || !host->register_kernel) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_ABI,
                    "ttsim driver: the host table lacks register_driver/register_kernel");
        return FALSE;
    }
    if (!host->register_driver(plugin, &ttsim_iface, error)) return FALSE;
    for (int i = 0; ttsim_kernel_names[i]; i++)
        if (!host->register_kernel(plugin, "ttsim", ttsim_kernel_names[i], ttsim_kernel_run, error))
            return FALSE;
    return TRUE;
}

TTML_PLUGIN_DEFINE(ttsim, TTML_PLUGIN_DRIVER, "0.1.0",
                   "Tenstorrent Tensix simulator: architectures, memory budgets, tile layout, storage "
                   "numerics, math fidelity and a timing model",
                   "MIT", NULL, ttsim_init, NULL)
