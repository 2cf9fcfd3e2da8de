/* core/profiler/profile_internal.h - shared between the profiler's collector
 * (profile_collect.c), its HTML report (profile_report.c), the outputs
 * (profile_outputs.c) and the memory tracker (memory_tracker.c). Private
 * to libttml. */
#ifndef TTML_CORE_PROFILE_INTERNAL_H
#define TTML_CORE_PROFILE_INTERNAL_H

#include <ttml/profile_zones.h>
#include <ttml/profiler_outputs.h>
#include <ttml/profiler_layer.h>

/* Free a ttml_memory_snapshot (GDestroyNotify). */
void ttml_profile_snapshot_free(gpointer snapshot);
/* Write `s` as a JSON string literal (quoted, escaped). */
void ttml_profile_json_string(FILE *f, const char *s);

/* Report data kept by the collector. */
const GPtrArray *ttml_profile_report_snapshots(void);
guint ttml_profile_report_n_series(void);
const char *ttml_profile_report_series(guint i, guint *n, const double **x, const double **y);
/* The profiled device for labels: "ttsim:wormhole_b0 (Tenstorrent …)" once
 * described, else the wrapped driver's name; NULL when none was profiled. */
const char *ttml_profile_report_device(void);

/* memory_tracker.c: free the snapshots (ttml_shutdown). */
void ttml_memory_free_snapshots(void);

#endif
