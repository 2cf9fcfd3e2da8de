/* drivers/cpu/cpu_driver.c - the cpu driver: device vtable and plugin entry.
 *
 * Host memory, row-major only; buffers are 64-byte aligned. init() probes the
 * topology with hwloc, loads OpenBLAS (cpu_blas.c), sets its thread count to
 * the number of physical cores (TTML_CPU_THREADS overrides) and registers the
 * driver and every standard kernel of ttml/kernels.h.
 *
 * Device options ("cpu:threads=N") set the thread count for the process.
 */
#include "cpu_internal.h"

#include <stddef.h>
#include "../common/ttml_kernel_list.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

typedef struct {
    int n_threads;
} cpu_device;

static ttml_cpu_topology cpu_topo;
static ttml_plugin *cpu_plugin;
static const ttml_host *cpu_host;

static void apply_threads(int n)
{
    ttml_cpu_n_threads = n;
    if (ttml_cpu_blas_lib.set_num_threads) ttml_cpu_blas_lib.set_num_threads(n);
}

static gboolean parse_options(const char *options, int *threads, GError **error)
{
    if (!options || !*options) return TRUE;
    gchar **items = g_strsplit(options, ",", -1);
    gboolean ok = TRUE;
    for (int i = 0; ok && items[i]; i++) {
        const char *it = items[i];
        if (!*it) continue;
        if (g_str_has_prefix(it, "threads=")) {
            char *end = NULL;
            gint64 v = g_ascii_strtoll(it + 8, &end, 10);
            if (end && *end == '\0' && end != it + 8 && v >= 1 && v <= 4096) {
                *threads = (int)v;
                continue;
            }
        }
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "cpu driver: bad device option '%s' in 'cpu:%s'; the only option is "
                    "threads=N (N >= 1), e.g. 'cpu:threads=2'",
                    it, options);
        ok = FALSE;
    }
    g_strfreev(items);
    return ok;
}

static void *cpu_open(const char *options, ttml_device_info *info, GError **error)
{
    int threads = ttml_cpu_n_threads;
    if (!parse_options(options, &threads, error)) return NULL;
    apply_threads(threads);

    cpu_device *dev = g_new0(cpu_device, 1);
    dev->n_threads = threads;
    ttml_cpu_threads_open(threads);
    ttml_cpu_pool_open(cpu_topo.mem_bytes);

    struct utsname u;
    const char *machine = uname(&u) == 0 ? u.machine : "unknown";
    if (info->struct_size == 0) info->struct_size = sizeof *info;
    g_strlcpy(info->name, "cpu", sizeof info->name);
    g_snprintf(info->arch, sizeof info->arch, "%s (OpenBLAS core %s)", machine,
               ttml_cpu_blas_corename());
    char topo[256];
    ttml_cpu_topology_summary(&cpu_topo, topo, sizeof topo);
    const char *cfg = ttml_cpu_blas_config();
    char note[160] = "";
    if (ttml_cpu_blas_lib.coretype_set[0] && ttml_cpu_blas_lib.coretype_env[0])
        g_snprintf(note, sizeof note, " (OPENBLAS_CORETYPE=%s set by the driver, overriding %s; "
                   "TTML_BLAS_CORETYPE chooses)", ttml_cpu_blas_lib.coretype_set, ttml_cpu_blas_lib.coretype_env);
    else if (ttml_cpu_blas_lib.coretype_set[0])
        g_snprintf(note, sizeof note, " (OPENBLAS_CORETYPE=%s set by the driver)",
                   ttml_cpu_blas_lib.coretype_set);
    else if (ttml_cpu_blas_lib.coretype_env[0])
        g_snprintf(note, sizeof note, " (OPENBLAS_CORETYPE=%s from the environment)",
                   ttml_cpu_blas_lib.coretype_env);
    g_snprintf(info->description, sizeof info->description, "host CPU: %s; %d thread%s; %s%s%s", topo,
               threads, threads == 1 ? "" : "s", g_str_has_prefix(cfg, "OpenBLAS") ? "" : "OpenBLAS ",
               cfg, note);
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) info->mem_bytes[k] = 0;
    info->mem_bytes[TTML_MEM_HOST] = cpu_topo.mem_bytes;
    info->mem_bytes[TTML_MEM_DRAM] = cpu_topo.mem_bytes;
    if (info->struct_size >= offsetof(ttml_device_info, stored_f32_bytes) + sizeof(double))
        info->stored_f32_bytes = 4.0;
    info->n_cores = cpu_topo.n_cores;
    info->n_threads = threads;
    info->dtypes = (1u << TTML_DTYPE_F32) | (1u << TTML_DTYPE_BF16) | (1u << TTML_DTYPE_U32);
    info->layouts = 1u << TTML_LAYOUT_ROW_MAJOR;
    return dev;
}

static void cpu_close(void *dev)
{
    ttml_cpu_wcache_stats w;
    ttml_cpu_wcache_get_stats(&w);
    if (w.lookups && cpu_host && cpu_host->log)
        cpu_host->log(cpu_plugin, G_LOG_LEVEL_DEBUG,
                      "cpu: bf16 weight cache: %" G_GUINT64_FORMAT " weight products, %" G_GUINT64_FORMAT
                      " conversions (%.1f MiB), %" G_GUINT64_FORMAT " hits (%.1f MiB not converted), "
                      "%" G_GUINT64_FORMAT " conversions reused a stale copy's memory, peak %.1f MiB held "
                      "(with activations: %" G_GUINT64_FORMAT " activation operands, %" G_GUINT64_FORMAT
                      " of them not converted again), %" G_GUINT64_FORMAT " copies (%.1f MiB) written by "
                      "optimizer steps in the same pass",
                      w.lookups, w.conversions, w.converted_bytes / 1048576.0, w.hits,
                      w.saved_bytes / 1048576.0, w.reuses, w.peak_live_bytes / 1048576.0, w.act_lookups,
                      w.act_hits, w.refreshes, w.refreshed_bytes / 1048576.0);
    ttml_cpu_wcache_trim();
    if (ttml_cpu_threads_close() == 0) ttml_cpu_dnnl_st_release();
    ttml_cpu_pool_close();
    g_free(dev);
}

static gboolean cpu_alloc(void *dev, ttml_buffer *buf, GError **error)
{
    if (buf->kind != TTML_MEM_HOST && buf->kind != TTML_MEM_DRAM) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "cpu driver: cannot allocate %s memory (it has host/DRAM only)",
                    ttml_mem_kind_name(buf->kind));
        return FALSE;
    }
    /* size-class caching allocator (cpu_pool.c): 64-byte aligned, reused */
    return ttml_cpu_pool_alloc(buf, error);
}

static void cpu_free(void *dev, ttml_buffer *buf)
{
    ttml_cpu_wcache_release(buf);
    ttml_cpu_pool_free(buf);
}

/* Bytes moved by a transfer, after checking it fits the buffer. */
static gboolean transfer_bytes(const ttml_transfer *t, const char *what, size_t *bytes, GError **error)
{
    if (!t || !t->buf || (unsigned)t->dtype >= TTML_DTYPE_COUNT || t->ndim < 0 ||
        t->ndim > TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cpu driver %s: invalid transfer descriptor",
                    what);
        return FALSE;
    }
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d] > 0 ? (size_t)t->shape[d] : 0;
    size_t b = n * ttml_dtype_size(t->dtype);
    if (t->offset > t->buf->size || b > t->buf->size - t->offset) {
        char s[80];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "cpu driver %s: %s %s (%zu bytes) at offset %zu exceeds the buffer of %zu bytes",
                    what, ttml_dtype_name(t->dtype), ttml_shape_str(t->ndim, t->shape, s, sizeof s),
                    b, t->offset, t->buf->size);
        return FALSE;
    }
    if (b && !t->buf->data) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "cpu driver %s: buffer has no memory", what);
        return FALSE;
    }
    *bytes = b;
    return TRUE;
}

static gboolean cpu_write(void *dev, const ttml_transfer *dst, const void *src, GError **error)
{
    size_t bytes;
    if (!transfer_bytes(dst, "write", &bytes, error)) return FALSE;
    ttml_cpu_wcache_invalidate(dst->buf);
    if (bytes) memcpy((char *)dst->buf->data + dst->offset, src, bytes);
    return TRUE;
}

static gboolean cpu_read(void *dev, const ttml_transfer *src, void *dst, GError **error)
{
    size_t bytes;
    if (!transfer_bytes(src, "read", &bytes, error)) return FALSE;
    if (bytes) memcpy(dst, (const char *)src->buf->data + src->offset, bytes);
    return TRUE;
}

static gboolean cpu_launch(void *dev, ttml_device *device, ttml_kernel_fn fn, const ttml_launch *launch,
                           GError **error)
{
    if (!fn) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "cpu driver: no kernel '%s' is registered for cpu; 'ttml-inspect cpu' lists "
                    "the kernels, or load the plugin that provides it",
                    launch && launch->kernel ? launch->kernel : "?");
        return FALSE;
    }
    const gboolean ok = fn(device, launch, error);
    /* every buffer a kernel may have written loses its bf16 copy, even when
     * the kernel failed part way (cpu_wcache.c) */
    for (int i = 0; i < launch->n_out && i < TTML_LAUNCH_MAX_OUT; i++)
        ttml_cpu_wcache_invalidate(launch->out[i].buf);
    return ok;
}

static gboolean cpu_synchronize(void *dev, GError **error)
{
    return TRUE;
}

static const ttml_driver_iface cpu_iface = {
    .struct_size = sizeof(ttml_driver_iface),
    .name = "cpu",
    .description = "host CPU: OpenBLAS sgemm, hwloc topology, row-major f32/bf16/u32",
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .write = cpu_write,
    .read = cpu_read,
    .launch = cpu_launch,
    .synchronize = cpu_synchronize,
};

static const struct {
    const char *name;
    ttml_kernel_fn fn;
} cpu_kernels[] = {
#define CPU_KERNEL(name) {#name, ttml_cpu_##name},
    TTML_KERNELS_CORE(CPU_KERNEL)
#undef CPU_KERNEL
};

static gboolean cpu_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    if (!host || !host->register_driver || !host->register_kernel) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_ABI,
                    "cpu driver: the host table lacks register_driver/register_kernel");
        return FALSE;
    }
    ttml_cpu_topology_probe(&cpu_topo);
    ttml_cpu_dnnl_set_log(plugin, host);
    cpu_plugin = plugin;
    cpu_host = host;
    gboolean env_bad = FALSE;
    int threads = ttml_cpu_threads_choose(&cpu_topo, &env_bad);
    if (env_bad && host->log)
        host->log(plugin, G_LOG_LEVEL_WARNING,
                  "TTML_CPU_THREADS='%s' is not a positive integer; using %d thread(s) (one per "
                  "physical core)",
                  g_getenv("TTML_CPU_THREADS"), threads);

    if (!ttml_cpu_blas_load(error)) return FALSE;
    apply_threads(threads);

    if (!host->register_driver(plugin, &cpu_iface, error)) return FALSE;
    for (size_t i = 0; i < G_N_ELEMENTS(cpu_kernels); i++)
        if (!host->register_kernel(plugin, "cpu", cpu_kernels[i].name, cpu_kernels[i].fn, error))
            return FALSE;
    if (!ttml_cpu_register_attn_kernels(plugin, host, error)) return FALSE;
    if (!ttml_cpu_register_nn_kernels(plugin, host, error)) return FALSE;
    if (host->log)
        host->log(plugin, G_LOG_LEVEL_DEBUG, "cpu: OpenBLAS core %s, %d thread(s), %d core(s)",
                  ttml_cpu_blas_corename(), threads, cpu_topo.n_cores);
    return TRUE;
}

TTML_PLUGIN_DEFINE(cpu, TTML_PLUGIN_DRIVER, "0.1.0",
                   "Host CPU driver: OpenBLAS matmul, fused optimizer kernels, hwloc topology",
                   "MIT", NULL, cpu_init, NULL)
