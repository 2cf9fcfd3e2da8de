/* ttml/profiler_outputs.h - the profiler's outputs: what the profiler layer
 * (drivers/profiler, `--device profiler:cpu`, TTML_LAYERS=profiler) measured,
 * as summary rows, a text summary, CSV, Chrome trace JSON and an HTML report.
 * (Zones and memory snapshots, which any program can use without the
 * profiler, are in ttml/profile_zones.h.)
 *
 * The collector lives in libttml so that the layer (a plugin) and the tools
 * share it without a registry: the layer reports kernel launches, transfers,
 * synchronizes and allocations through a channel of its own
 * (ttml/profiler_layer.h, for layer authors only); while at least one
 * profiler device is open the collector is the process-wide zone sink
 * (ttml/profile_zones.h), so op/backward/module/phase/step zones are recorded
 * too, nested, with kernel launches as leaves inside the current zone.
 *
 * Memory: per-name aggregates (calls, total, bytes, simulated time) are always
 * kept, with no allocation per event once a name was seen. Individual trace
 * events are kept only when options.keep_events is set (ttml-run sets it for
 * --trace), up to options.max_events (default 2,000,000); past the cap events
 * are counted and dropped and the summary says so.
 *
 * Not thread-safe: one thread drives training (kernels may use threads
 * inside a launch). Collected data survives ttml_shutdown (so a tool can write
 * its outputs after ttml_train_run returns) until ttml_profiler_configure or
 * ttml_profiler_reset.
 */
#ifndef TTML_PROFILER_OUTPUTS_H
#define TTML_PROFILER_OUTPUTS_H

#include <ttml/driver.h>
#include <stdio.h>

G_BEGIN_DECLS

#define TTML_PROFILER_DEFAULT_MAX_EVENTS 2000000u

typedef struct ttml_profiler_options {
    size_t struct_size;      /* sizeof(ttml_profiler_options)                     */
    gboolean keep_events;    /* keep individual events for ttml_profiler_write_trace */
    guint64 max_events;      /* cap on kept events; 0 = TTML_PROFILER_DEFAULT_MAX_EVENTS */
} ttml_profiler_options;

/* Drop everything collected and apply `options` (NULL: summary only). */
TTML_API void ttml_profiler_configure(const ttml_profiler_options *options);
/* Drop everything collected (keeps the options). */
TTML_API void ttml_profiler_reset(void);
/* TRUE when a profiler device was opened since the last configure/reset. */
TTML_API gboolean ttml_profiler_used(void);
/* TRUE while a profiler device is open (the collector is the zone sink). */
TTML_API gboolean ttml_profiler_active(void);

/* ---- results ---- */

/* One summary row. Sections: "kernel", "transfer", "sync", "op", "backward",
 * "module", "phase", "step", or another zone category. */
typedef struct ttml_profile_row {
    const char *section;
    const char *name;
    guint64 calls;
    double total_ms;         /* host time, inclusive of nested zones         */
    double mean_us;
    double share;            /* total / step time (0..1; see below)          */
    guint64 bytes;           /* kernels: inputs + outputs; transfers: copied */
    double sim_ms;           /* simulated device time (0: not a simulator)   */
} ttml_profile_row;

/* The rows, sections in the order above, each sorted by total time
 * (descending). The step time the shares refer to is the total of the "step"
 * zones, else of the "phase" zones, else of the outermost zones, else of all
 * kernels and transfers. Strings are owned by the collector (valid until the
 * next configure/reset). Free the array with g_array_unref. */
TTML_API GArray *ttml_profiler_rows(void);
/* The step time the shares refer to, in ms, and how many step zones closed. */
TTML_API double ttml_profiler_step_ms(guint64 *n_steps);
/* Events kept for the trace and events dropped at the cap. */
TTML_API guint64 ttml_profiler_events_kept(void);
TTML_API guint64 ttml_profiler_events_dropped(void);
/* Peak bytes per memory kind seen by the layer (all profiled devices). */
TTML_API guint64 ttml_profiler_mem_peak(ttml_mem_kind kind);

/* The text summary: per kernel and per op (and the other sections) calls,
 * total ms, mean us, share of the step, bytes moved and, for simulators, the
 * simulated device time beside host time; then memory peaks and the event cap
 * when it was hit. */
TTML_API void ttml_profiler_print_summary(FILE *out);
/* The same rows as CSV: section,name,calls,total_ms,mean_us,step_share,bytes,sim_ms */
TTML_API gboolean ttml_profiler_write_csv(const char *path, GError **error);
/* Chrome trace-event JSON (Perfetto, chrome://tracing): "X" complete events
 * (ts/dur in microseconds, cat = zone category, "kernel", "transfer" or
 * "sync"; args carry bytes and simulated time) and "C" counter events with
 * the bytes in use per memory kind. Without keep_events the file holds only
 * metadata and a note. */
TTML_API gboolean ttml_profiler_write_trace(const char *path, GError **error);

/* ---- the HTML report ---- */

/* Append a point to a named series for the report ("train_loss", "val_loss",
 * "step_ms", or any other name: each series becomes a chart; train_loss and
 * val_loss share one). Names are copied. */
TTML_API void ttml_profiler_series_add(const char *series, double x, double y);
/* Copy the memory snapshots into the report data (ttml-run calls it after a
 * capture, since the core's snapshots are freed at ttml_shutdown). */
TTML_API void ttml_profiler_keep_memory_snapshots(const GPtrArray *snapshots);
/* One self-contained HTML page (no scripts, no network): the loss curves,
 * step time, the profile summary and the memory snapshots, drawn as inline
 * SVG. `title` may be NULL. */
TTML_API gboolean ttml_profiler_write_report(const char *path, const char *title, GError **error);

/* What ttml-run does at the end of a run: print the summary to `summary`
 * (NULL: not printed) when a profiler device was used, then write each
 * output whose path is not NULL. Stops at the first failure. */
TTML_API gboolean ttml_profiler_write_outputs(FILE *summary, const char *trace_path, const char *csv_path,
                                              const char *report_path, const char *title, GError **error);

G_END_DECLS

#endif
