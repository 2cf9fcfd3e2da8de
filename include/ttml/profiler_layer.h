/* ttml/profiler_layer.h - the channel between the profiler layer
 * (drivers/profiler) and the collector in libttml. For layer authors only:
 * programs read the results through ttml/profiler_outputs.h and never call
 * these.
 *
 * The layer calls ttml_profiler_layer_opened when it wraps a device and
 * ttml_profiler_layer_closed when that device closes, and reports each timed
 * call with ttml_profiler_record_*. Times are ttml_profiler_now_ns values. No
 * errors: the collector counts what it cannot keep (ttml/profiler_outputs.h).
 * Not thread-safe (one thread drives the device).
 */
#ifndef TTML_PROFILER_LAYER_H
#define TTML_PROFILER_LAYER_H

#include <ttml/driver.h>

G_BEGIN_DECLS

/* Monotonic clock in nanoseconds. */
TTML_API guint64 ttml_profiler_now_ns(void);
/* A profiler device opened / closed (the first attaches the zone sink, the
 * last detaches it). `device` names the wrapped driver. The thread that opens
 * the first one is the profiled thread: zones and records from other threads
 * (the other ranks of a simulated mesh) are ignored. */
TTML_API void ttml_profiler_layer_opened(const char *device);
TTML_API void ttml_profiler_layer_closed(void);
/* The profiled device's name and architecture as its info reports them
 * ("ttsim:wormhole_b0", "Tenstorrent wormhole_b0 (n150, simulated)"), for the
 * report's device label; the first call wins (copied). */
TTML_API void ttml_profiler_layer_describe(const char *name, const char *arch);
/* `kernel` is usually a static string; it is compared, not kept. */
TTML_API void ttml_profiler_record_kernel(const char *kernel, guint64 start_ns, guint64 dur_ns,
                                          guint64 bytes, double sim_s);
TTML_API void ttml_profiler_record_transfer(gboolean to_device, guint64 start_ns, guint64 dur_ns,
                                            guint64 bytes);
TTML_API void ttml_profiler_record_sync(guint64 start_ns, guint64 dur_ns);
/* A collective charged to a simulated device (`name` static, e.g.
 * "all-reduce"), shown on its own "collectives" track of the trace starting
 * at start_ns (host clock) and lasting dur_ns (the layer passes the
 * simulated time). */
TTML_API void ttml_profiler_record_collective(const char *name, guint64 start_ns, guint64 dur_ns, guint64 bytes,
                                              double sim_s);
/* An allocation (delta > 0) or free (delta < 0) of one memory kind on a
 * profiled device; the collector keeps current and peak over all of them. */
TTML_API void ttml_profiler_record_memory(ttml_mem_kind kind, guint64 t_ns, gint64 delta_bytes);

G_END_DECLS

#endif
