/* drivers/cpu/cpu_threads.c - machine topology (hwloc) and thread count.
 *
 * The driver uses one thread per physical core (hyperthreads share the FMA
 * units, so GEMM gains nothing from them); TTML_CPU_THREADS overrides.
 */
#include "cpu_internal.h"

#include <hwloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ttml_cpu_n_threads = 1;

static guint64 first_cache_size(hwloc_topology_t topo, hwloc_obj_type_t type, int *count)
{
    int n = hwloc_get_nbobjs_by_type(topo, type);
    if (count) *count = n > 0 ? n : 0;
    if (n <= 0) return 0;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, 0);
    return obj && obj->attr ? (guint64)obj->attr->cache.size : 0;
}

static guint64 sysconf_mem(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (guint64)pages * (guint64)page : 0;
}

void ttml_cpu_topology_probe(ttml_cpu_topology *topo)
{
    memset(topo, 0, sizeof *topo);
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) == 0) {
        if (hwloc_topology_load(t) == 0) {
            topo->from_hwloc = TRUE;
            topo->n_packages = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
            topo->n_cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
            topo->n_pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
            topo->l1d_bytes = first_cache_size(t, HWLOC_OBJ_L1CACHE, NULL);
            topo->l2_bytes = first_cache_size(t, HWLOC_OBJ_L2CACHE, NULL);
            topo->l3_bytes = first_cache_size(t, HWLOC_OBJ_L3CACHE, &topo->n_l3);
        }
        hwloc_topology_destroy(t);
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (topo->n_pus <= 0) topo->n_pus = online > 0 ? (int)online : 1;
    if (topo->n_cores <= 0) topo->n_cores = topo->n_pus;
    if (topo->n_packages <= 0) topo->n_packages = 1;
    /* physical RAM from the kernel: hwloc's NUMA figures can be partial in VMs */
    topo->mem_bytes = sysconf_mem();
}

static void append_size(GString *s, const char *label, guint64 bytes)
{
    if (!bytes) return;
    if (bytes % (1024 * 1024) == 0)
        g_string_append_printf(s, ", %s %" G_GUINT64_FORMAT " MiB", label, bytes >> 20);
    else if (bytes >= 1024 * 1024)
        g_string_append_printf(s, ", %s %.2f MiB", label, (double)bytes / (1024.0 * 1024.0));
    else
        g_string_append_printf(s, ", %s %" G_GUINT64_FORMAT " KiB", label, bytes >> 10);
}

void ttml_cpu_topology_summary(const ttml_cpu_topology *topo, char *buf, size_t size)
{
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%d package%s, %d core%s, %d PU%s", topo->n_packages,
                           topo->n_packages == 1 ? "" : "s", topo->n_cores,
                           topo->n_cores == 1 ? "" : "s", topo->n_pus, topo->n_pus == 1 ? "" : "s");
    append_size(s, "L1d", topo->l1d_bytes);
    append_size(s, "L2", topo->l2_bytes);
    if (topo->l3_bytes && topo->n_l3 > 1) {
        append_size(s, "L3", topo->l3_bytes);
        g_string_append_printf(s, " x%d", topo->n_l3);
    } else {
        append_size(s, "L3", topo->l3_bytes);
    }
    if (!topo->from_hwloc) g_string_append(s, " (hwloc unavailable: sysconf)");
    g_strlcpy(buf, s->str, size);
    g_string_free(s, TRUE);
}

int ttml_cpu_threads_choose(const ttml_cpu_topology *topo, gboolean *env_error)
{
    *env_error = FALSE;
    const char *env = g_getenv("TTML_CPU_THREADS");
    if (env && *env) {
        char *end = NULL;
        gint64 v = g_ascii_strtoll(env, &end, 10);
        if (end && *end == '\0' && v >= 1 && v <= 4096) return (int)v;
        *env_error = TRUE;
    }
    return topo->n_cores >= 1 ? topo->n_cores : 1;
}

void ttml_cpu_parallel_for(size_t n, size_t grain, ttml_cpu_range_fn fn, void *ctx)
{
    (void)grain;
    if (n == 0) return;
    fn(ctx, 0, n);
}
