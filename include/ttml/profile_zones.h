/* ttml/profile_zones.h - zones and memory tracking (the profiler's outputs
 * are in ttml/profiler_outputs.h).
 *
 * Zones are named, nested intervals on the host timeline: the core opens one
 * per op forward (category "op"), per backward node ("backward"), per module
 * forward ("module"); the training loop opens one per step phase ("phase":
 * forward, backward, optimizer, data). They cost one branch unless a sink is
 * attached (the profiler layer attaches one). Names must be static strings or
 * outlive the sink's use of them (op and module names are).
 *
 * Memory tracking after TT-Train's MemoryUsageTracker: between
 * begin_capture and end_capture, snapshot(name) records, for every open
 * device that has held memory (a helper device that never did, such as the
 * cpu device a simulator opens, gets no all-zero row), current and peak
 * bytes per memory kind (peaks since the previous snapshot, or since
 * begin_capture).
 */
#ifndef TTML_PROFILE_ZONES_H
#define TTML_PROFILE_ZONES_H

#include <ttml/driver.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef struct ttml_profile_sink {
    size_t struct_size;
    void (*zone_begin)(void *user_data, const char *name, const char *category);
    void (*zone_end)(void *user_data);
    void *user_data;
} ttml_profile_sink;

/* Attach (or with NULL detach) the process-wide sink; the struct is borrowed. */
TTML_API void ttml_profile_set_sink(const ttml_profile_sink *sink);
TTML_API gboolean ttml_profile_active(void);
TTML_API void ttml_zone_begin(const char *name, const char *category);
TTML_API void ttml_zone_end(void);

/* ---- memory tracking ---- */
typedef struct ttml_memory_snapshot {
    char *name;
    char *device;                               /* device spec          */
    guint64 current[TTML_MEM_KIND_COUNT];       /* bytes at the snapshot */
    guint64 peak[TTML_MEM_KIND_COUNT];          /* peak since the previous snapshot */
} ttml_memory_snapshot;

TTML_API void ttml_memory_begin_capture(void);
TTML_API void ttml_memory_snapshot_take(const char *name);
TTML_API void ttml_memory_end_capture(const char *name);
/* Snapshots of the last capture (owned by the core; valid until the next
 * begin_capture or ttml_shutdown). */
TTML_API const GPtrArray *ttml_memory_snapshots(void);
/* A table of the snapshots (current and peak per kind, in B / KiB / MiB / GiB). */
TTML_API void ttml_memory_print_usage(FILE *out);

G_END_DECLS

#endif
