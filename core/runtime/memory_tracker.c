/* core/runtime/memory_tracker.c - memory tracking after TT-Train's
 * MemoryUsageTracker (ttml/profile_zones.h): between begin_capture and
 * end_capture, snapshot(name) records for every open device that has held
 * memory the bytes in use per memory kind and the peak since the previous
 * snapshot.
 *
 * The per-snapshot peak uses the device's own peak counter: begin_capture and
 * each snapshot reset it to the current use; end_capture restores the
 * device's lifetime peak (the maximum of the peak before the capture and
 * every peak seen during it), so ttml_device_mem_peak is right again after a
 * capture. Snapshots outside a capture are ignored. */
#include "internal.h"
#include "profile_internal.h"

#include <string.h>

typedef struct saved_peak {
    const ttml_device *device;
    guint64 peak[TTML_MEM_KIND_COUNT];
} saved_peak;

static gboolean capturing;
static GPtrArray *snapshots;   /* ttml_memory_snapshot*, owned */
static GArray *saved;          /* saved_peak: lifetime peak per device */

static saved_peak *saved_for(const ttml_device *d)
{
    for (guint i = 0; i < saved->len; i++) {
        saved_peak *s = &g_array_index(saved, saved_peak, i);
        if (s->device == d) return s;
    }
    saved_peak z = {d, {0}};
    g_array_append_val(saved, z);
    return &g_array_index(saved, saved_peak, saved->len - 1);
}

/* Fold the device's current peak into its lifetime peak, then restart it. */
static void fold_and_reset(ttml_device *d)
{
    saved_peak *s = saved_for(d);
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++)
        s->peak[k] = MAX(s->peak[k], ttml_device_mem_peak(d, (ttml_mem_kind)k));
    ttml_device_reset_peak(d);
}

/* A device that has never held memory (e.g. the cpu device a simulator opens
 * for its host-side helpers, or profiler:cpu beside profiler:ttsim) would
 * only add all-zero rows: it is left out. */
static gboolean never_used(ttml_device *d)
{
    saved_peak *s = saved_for(d);
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++)
        if (s->peak[k] || ttml_device_mem_peak(d, (ttml_mem_kind)k) || ttml_device_mem_current(d, (ttml_mem_kind)k))
            return FALSE;
    return TRUE;
}

void ttml_memory_free_snapshots(void)
{
    g_clear_pointer(&snapshots, g_ptr_array_unref);
    g_clear_pointer(&saved, g_array_unref);
    capturing = FALSE;
}

void ttml_memory_begin_capture(void)
{
    if (capturing) ttml_memory_end_capture("(restarted)");
    ttml_memory_free_snapshots();
    snapshots = g_ptr_array_new_with_free_func(ttml_profile_snapshot_free);
    saved = g_array_new(FALSE, FALSE, sizeof(saved_peak));
    GPtrArray *devs = ttml_devices_copy();
    for (guint i = 0; i < devs->len; i++) fold_and_reset(g_ptr_array_index(devs, i));
    g_ptr_array_unref(devs);
    capturing = TRUE;
}

void ttml_memory_snapshot_take(const char *name)
{
    if (!capturing) return;
    GPtrArray *devs = ttml_devices_copy();
    for (guint i = 0; i < devs->len; i++) {
        ttml_device *d = g_ptr_array_index(devs, i);
        if (never_used(d)) continue;
        ttml_memory_snapshot *s = g_new0(ttml_memory_snapshot, 1);
        s->name = g_strdup(name ? name : "");
        s->device = g_strdup(d->spec);
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) {
            s->current[k] = ttml_device_mem_current(d, (ttml_mem_kind)k);
            s->peak[k] = ttml_device_mem_peak(d, (ttml_mem_kind)k);
        }
        g_ptr_array_add(snapshots, s);
        fold_and_reset(d);
    }
    g_ptr_array_unref(devs);
}

void ttml_memory_end_capture(const char *name)
{
    if (!capturing) return;
    ttml_memory_snapshot_take(name);
    capturing = FALSE;
    /* Give every device its lifetime peak back. */
    GPtrArray *devs = ttml_devices_copy();
    for (guint i = 0; i < devs->len; i++) {
        ttml_device *d = g_ptr_array_index(devs, i);
        saved_peak *s = saved_for(d);
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) d->mem_peak[k] = MAX(d->mem_peak[k], s->peak[k]);
    }
    g_ptr_array_unref(devs);
}

const GPtrArray *ttml_memory_snapshots(void)
{
    if (!snapshots) snapshots = g_ptr_array_new_with_free_func(ttml_profile_snapshot_free);
    return snapshots;
}

/* "123 B", "4.0 KiB", "1.5 MiB" (IEC units) */
static void size_str(char *buf, size_t size, guint64 b)
{
    if (b < 1024) g_snprintf(buf, size, "%" G_GUINT64_FORMAT " B", b);
    else if (b < 1024 * 1024) g_snprintf(buf, size, "%.1f KiB", (double)b / 1024.0);
    else if (b < (guint64)1024 * 1024 * 1024) g_snprintf(buf, size, "%.1f MiB", (double)b / 1048576.0);
    else g_snprintf(buf, size, "%.2f GiB", (double)b / 1073741824.0);
}

void ttml_memory_print_usage(FILE *out)
{
    const GPtrArray *snaps = ttml_memory_snapshots();
    fprintf(out, "\nMemory usage (peak = highest use since the previous snapshot)\n");
    if (snaps->len == 0) {
        fprintf(out, "  (no snapshots: call ttml_memory_begin_capture and ttml_memory_snapshot_take)\n");
        return;
    }
    int dw = 20;   /* the device column fits the longest spec, whole */
    for (guint i = 0; i < snaps->len; i++)
        dw = MAX(dw, (int)strlen(((const ttml_memory_snapshot *)g_ptr_array_index((GPtrArray *)snaps, i))->device));
    fprintf(out, "  %-20s %-*s %11s %11s %11s %11s %11s %11s\n", "snapshot", dw, "device", "host", "host peak",
            "DRAM", "DRAM peak", "L1", "L1 peak");
    for (guint i = 0; i < snaps->len; i++) {
        const ttml_memory_snapshot *s = g_ptr_array_index((GPtrArray *)snaps, i);
        fprintf(out, "  %-20.20s %-*s", s->name, dw, s->device);
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) {
            char cur[32], peak[32];
            size_str(cur, sizeof cur, s->current[k]);
            size_str(peak, sizeof peak, s->peak[k]);
            fprintf(out, " %11s %11s", cur, peak);
        }
        fputc('\n', out);
    }
}
