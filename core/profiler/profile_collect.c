/* core/profiler/profile_collect.c - the profiler's collector (ttml/profiler_outputs.h): zone
 * sink, per-name aggregates, capped trace events, memory counters, and the
 * trace / CSV / summary writers. The HTML report is in profile_report.c,
 * ttml_profiler_write_outputs in profile_outputs.c.
 *
 * Hot path (summary mode): a kernel launch or zone costs a direct-mapped
 * cache probe keyed by the name's pointer (checked with strcmp, so a name in a
 * reused buffer is still attributed right), falling back to a string hash on
 * a miss; nothing is allocated once a name has been seen. */
#include "internal.h"
#include "profile_internal.h"

#include <ttml/profile_zones.h>
#include <ttml/profiler_outputs.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CACHE_SLOTS 256

typedef struct prof_section prof_section;

typedef struct prof_entry {
    char *name;
    prof_section *section;
    guint64 calls, total_ns, bytes;
    guint64 step_ns;         /* the part of total_ns inside "step" zones */
    double sim_s;
} prof_entry;

struct prof_section {
    char *name;
    GHashTable *by_name;     /* entry->name -> prof_entry* */
    GPtrArray *entries;      /* owned, in order of first use */
    struct { const char *key; prof_entry *e; } cache[CACHE_SLOTS];
};

typedef struct prof_frame {
    prof_entry *e;
    guint64 start, bytes;
    double sim_s;
} prof_frame;

enum { EV_ZONE = 0, EV_LEAF = 1, EV_MEMORY = 2 };

typedef struct prof_event {
    prof_entry *e;           /* NULL for memory counters */
    guint64 ts, dur;
    guint64 bytes;           /* memory: bytes in use of `kind` */
    double sim_s;
    guint32 type, kind;
} prof_event;

typedef struct prof_series {
    char *name;
    GArray *x, *y;           /* double */
} prof_series;

static struct {
    ttml_profiler_options opts;
    gboolean used;
    int n_open;              /* profiler devices open */
    guint64 t0;              /* trace time origin */
    GPtrArray *sections;     /* prof_section*, owned */
    prof_section *kernel, *transfer, *sync, *step;
    int in_step;             /* "step" zones open */
    struct { const char *key; prof_section *s; } cat_cache[16];
    GArray *stack;           /* prof_frame */
    guint64 root_ns;         /* total of outermost zones */
    GArray *events;          /* prof_event */
    guint64 dropped;
    guint64 mem_cur[TTML_MEM_KIND_COUNT], mem_peak[TTML_MEM_KIND_COUNT];
    char *device;            /* the (first) profiled driver */
    char *device_label;      /* its info name and architecture (layer_describe), or NULL */
    GPtrArray *series;       /* prof_series*, owned */
    GPtrArray *snapshots;    /* ttml_memory_snapshot*, owned copies */
    prof_section *collective; /* collectives charged to simulated devices */
    GThread *owner;          /* the profiled thread (opened the first profiler device) */
} P;

/* Records from threads other than the profiled one (ranks > 0 of a mesh) are
 * dropped: the collector is single-threaded and rank 0 speaks for the run. */
static inline gboolean foreign_thread(void) { return P.owner && P.owner != g_thread_self(); }

static ttml_profile_sink sink;

guint64 ttml_profiler_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

/* ---- sections and entries ---- */

static void entry_free(gpointer p)
{
    prof_entry *e = p;
    g_free(e->name);
    g_free(e);
}

static prof_section *section_new(const char *name)
{
    prof_section *s = g_new0(prof_section, 1);
    s->name = g_strdup(name);
    s->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    s->entries = g_ptr_array_new_with_free_func(entry_free);
    g_ptr_array_add(P.sections, s);
    return s;
}

static void section_free(gpointer p)
{
    prof_section *s = p;
    g_hash_table_unref(s->by_name);
    g_ptr_array_unref(s->entries);
    g_free(s->name);
    g_free(s);
}

static prof_entry *section_entry(prof_section *s, const char *name)
{
    guint slot = (guint)(((guintptr)name >> 3) ^ ((guintptr)name >> 11)) & (CACHE_SLOTS - 1);
    prof_entry *e = s->cache[slot].e;
    if (G_LIKELY(s->cache[slot].key == name && strcmp(e->name, name) == 0)) return e;
    e = g_hash_table_lookup(s->by_name, name);
    if (!e) {
        e = g_new0(prof_entry, 1);
        e->name = g_strdup(name);
        e->section = s;
        g_ptr_array_add(s->entries, e);
        g_hash_table_insert(s->by_name, e->name, e);
    }
    s->cache[slot].key = name;
    s->cache[slot].e = e;
    return e;
}

static prof_section *section_find(const char *name)
{
    for (guint i = 0; i < P.sections->len; i++) {
        prof_section *s = g_ptr_array_index(P.sections, i);
        if (strcmp(s->name, name) == 0) return s;
    }
    return NULL;
}

/* The section of a zone category (pointer cache, then by name). */
static prof_section *category_section(const char *cat)
{
    if (!cat) cat = "zone";
    guint slot = (guint)((guintptr)cat >> 3) & 15;
    prof_section *s = P.cat_cache[slot].s;
    if (G_LIKELY(P.cat_cache[slot].key == cat && strcmp(s->name, cat) == 0)) return s;
    s = section_find(cat);
    if (!s) s = section_new(cat);
    P.cat_cache[slot].key = cat;
    P.cat_cache[slot].s = s;
    return s;
}

/* ---- state ---- */

static void series_free(gpointer p)
{
    prof_series *s = p;
    g_free(s->name);
    g_array_unref(s->x);
    g_array_unref(s->y);
    g_free(s);
}

void ttml_profile_snapshot_free(gpointer p)
{
    ttml_memory_snapshot *s = p;
    if (!s) return;
    g_free(s->name);
    g_free(s->device);
    g_free(s);
}

static void collector_clear(void)
{
    g_clear_pointer(&P.sections, g_ptr_array_unref);
    g_clear_pointer(&P.stack, g_array_unref);
    g_clear_pointer(&P.events, g_array_unref);
    g_clear_pointer(&P.series, g_ptr_array_unref);
    g_clear_pointer(&P.snapshots, g_ptr_array_unref);
    g_clear_pointer(&P.device, g_free);
    g_clear_pointer(&P.device_label, g_free);
    memset(P.cat_cache, 0, sizeof P.cat_cache);
    memset(P.mem_cur, 0, sizeof P.mem_cur);
    memset(P.mem_peak, 0, sizeof P.mem_peak);
    P.root_ns = 0;
    P.dropped = 0;
    P.used = FALSE;
}

static void collector_ensure(void)
{
    if (P.sections) return;
    if (!P.opts.struct_size) P.opts.struct_size = sizeof P.opts;
    P.sections = g_ptr_array_new_with_free_func(section_free);
    P.kernel = section_new("kernel");
    P.transfer = section_new("transfer");
    P.sync = section_new("sync");
    P.step = section_new("step");
    P.collective = section_new("collective");
    P.in_step = 0;
    P.stack = g_array_sized_new(FALSE, FALSE, sizeof(prof_frame), 64);
    P.events = g_array_new(FALSE, FALSE, sizeof(prof_event));
    P.series = g_ptr_array_new_with_free_func(series_free);
    P.snapshots = g_ptr_array_new_with_free_func(ttml_profile_snapshot_free);
    P.t0 = ttml_profiler_now_ns();
}

void ttml_profiler_configure(const ttml_profiler_options *options)
{
    collector_clear();
    memset(&P.opts, 0, sizeof P.opts);
    if (options) memcpy(&P.opts, options, MIN(options->struct_size, sizeof P.opts));
    P.opts.struct_size = sizeof P.opts;
    collector_ensure();
    P.used = P.n_open > 0; /* a profiler device still open keeps reporting */
}

void ttml_profiler_reset(void)
{
    ttml_profiler_options o = P.opts;
    ttml_profiler_configure(&o);
}

gboolean ttml_profiler_used(void) { return P.used; }
gboolean ttml_profiler_active(void) { return P.n_open > 0; }

static guint64 max_events(void)
{
    return P.opts.max_events ? P.opts.max_events : TTML_PROFILER_DEFAULT_MAX_EVENTS;
}

static inline void event_push(prof_entry *e, guint32 type, guint64 ts, guint64 dur, guint64 bytes,
                              double sim_s, guint32 kind)
{
    if (!P.opts.keep_events) return;
    if (P.events->len >= max_events()) {
        P.dropped++;
        return;
    }
    prof_event ev = {e, ts, dur, bytes, sim_s, type, kind};
    g_array_append_val(P.events, ev);
}

/* ---- the zone sink ---- */

static void sink_zone_begin(void *user, const char *name, const char *category)
{
    if (foreign_thread()) return;
    prof_section *s = category_section(category);
    if (s == P.step) P.in_step++;
    prof_frame f = {section_entry(s, name ? name : "?"), ttml_profiler_now_ns(), 0, 0.0};
    g_array_append_val(P.stack, f);
}

static void sink_zone_end(void *user)
{
    if (foreign_thread() || P.stack->len == 0) return; /* opened before the sink was attached */
    guint64 now = ttml_profiler_now_ns();
    prof_frame f = g_array_index(P.stack, prof_frame, P.stack->len - 1);
    g_array_set_size(P.stack, P.stack->len - 1);
    guint64 dur = now - f.start;
    f.e->calls++;
    f.e->total_ns += dur;
    if (P.in_step > 0) f.e->step_ns += dur;
    if (f.e->section == P.step && P.in_step > 0) P.in_step--;
    f.e->bytes += f.bytes;
    f.e->sim_s += f.sim_s;
    if (P.stack->len > 0) {
        prof_frame *parent = &g_array_index(P.stack, prof_frame, P.stack->len - 1);
        parent->bytes += f.bytes;
        parent->sim_s += f.sim_s;
    } else {
        P.root_ns += dur;
    }
    event_push(f.e, EV_ZONE, f.start, dur, f.bytes, f.sim_s, 0);
}

void ttml_profiler_layer_opened(const char *device)
{
    collector_ensure();
    P.used = TRUE;
    if (!P.device) P.device = g_strdup(device ? device : "?");
    if (P.n_open++ == 0) {
        P.owner = g_thread_self();
        g_array_set_size(P.stack, 0);
        P.in_step = 0;
        sink.struct_size = sizeof sink;
        sink.zone_begin = sink_zone_begin;
        sink.zone_end = sink_zone_end;
        sink.user_data = NULL;
        ttml_profile_set_sink(&sink);
    }
}

void ttml_profiler_layer_closed(void)
{
    if (P.n_open <= 0) return;
    if (--P.n_open == 0) {
        P.owner = NULL;
        ttml_profile_set_sink(NULL);
        if (P.stack) g_array_set_size(P.stack, 0);
        P.in_step = 0;
    }
}

/* ---- leaves ---- */

static inline void leaf(prof_entry *e, guint64 start, guint64 dur, guint64 bytes, double sim_s)
{
    e->calls++;
    e->total_ns += dur;
    if (P.in_step > 0) e->step_ns += dur;
    e->bytes += bytes;
    e->sim_s += sim_s;
    if (P.stack->len > 0) {
        prof_frame *top = &g_array_index(P.stack, prof_frame, P.stack->len - 1);
        top->bytes += bytes;
        top->sim_s += sim_s;
    }
    event_push(e, EV_LEAF, start, dur, bytes, sim_s, 0);
}

void ttml_profiler_record_kernel(const char *kernel, guint64 start_ns, guint64 dur_ns, guint64 bytes,
                                 double sim_s)
{
    collector_ensure();
    if (foreign_thread()) return;
    leaf(section_entry(P.kernel, kernel ? kernel : "?"), start_ns, dur_ns, bytes, sim_s);
}

void ttml_profiler_record_collective(const char *name, guint64 start_ns, guint64 dur_ns, guint64 bytes,
                                     double sim_s)
{
    collector_ensure();
    if (foreign_thread()) return;
    leaf(section_entry(P.collective, name ? name : "?"), start_ns, dur_ns, bytes, sim_s);
}

void ttml_profiler_record_transfer(gboolean to_device, guint64 start_ns, guint64 dur_ns, guint64 bytes)
{
    collector_ensure();
    if (foreign_thread()) return;
    leaf(section_entry(P.transfer, to_device ? "write (host to device)" : "read (device to host)"),
         start_ns, dur_ns, bytes, 0.0);
}

void ttml_profiler_record_sync(guint64 start_ns, guint64 dur_ns)
{
    collector_ensure();
    if (foreign_thread()) return;
    leaf(section_entry(P.sync, "synchronize"), start_ns, dur_ns, 0, 0.0);
}

void ttml_profiler_record_memory(ttml_mem_kind kind, guint64 t_ns, gint64 delta_bytes)
{
    collector_ensure();
    if (foreign_thread() || (unsigned)kind >= TTML_MEM_KIND_COUNT) return;
    if (delta_bytes < 0 && (guint64)(-delta_bytes) > P.mem_cur[kind]) P.mem_cur[kind] = 0;
    else P.mem_cur[kind] = (guint64)((gint64)P.mem_cur[kind] + delta_bytes);
    if (P.mem_cur[kind] > P.mem_peak[kind]) P.mem_peak[kind] = P.mem_cur[kind];
    event_push(NULL, EV_MEMORY, t_ns, 0, P.mem_cur[kind], 0.0, (guint32)kind);
}

/* ---- results ---- */

guint64 ttml_profiler_events_kept(void) { return P.events ? P.events->len : 0; }
guint64 ttml_profiler_events_dropped(void) { return P.dropped; }

guint64 ttml_profiler_mem_peak(ttml_mem_kind kind)
{
    return (unsigned)kind < TTML_MEM_KIND_COUNT ? P.mem_peak[kind] : 0;
}

static guint64 section_total(prof_section *s, guint64 *calls)
{
    guint64 t = 0, c = 0;
    for (guint i = 0; s && i < s->entries->len; i++) {
        prof_entry *e = g_ptr_array_index(s->entries, i);
        t += e->total_ns;
        c += e->calls;
    }
    if (calls) *calls = c;
    return t;
}

static guint64 step_ns(guint64 *n_steps)
{
    if (n_steps) *n_steps = 0;
    if (!P.sections) return 0;
    guint64 calls = 0, t = section_total(P.step, &calls);
    if (n_steps) *n_steps = calls;
    if (t) return t;
    t = section_total(section_find("phase"), NULL);
    if (t) return t;
    if (P.root_ns) return P.root_ns;
    return section_total(P.kernel, NULL) + section_total(P.transfer, NULL) + section_total(P.sync, NULL);
}

double ttml_profiler_step_ms(guint64 *n_steps) { return (double)step_ns(n_steps) / 1e6; }

static const char *const section_order[] = {"kernel", "transfer", "sync", "op", "backward",
                                            "module", "phase", "step"};

static int row_cmp(gconstpointer a, gconstpointer b)
{
    const ttml_profile_row *x = a, *y = b;
    return x->total_ms < y->total_ms ? 1 : x->total_ms > y->total_ms ? -1 : strcmp(x->name, y->name);
}

/* Shares: with step zones, of the time spent inside them (work outside the
 * steps, such as validation, counts in total_ms but not in the share). */
static void append_section_rows(GArray *rows, prof_section *s, double step, gboolean have_steps)
{
    guint first = rows->len;
    for (guint i = 0; i < s->entries->len; i++) {
        prof_entry *e = g_ptr_array_index(s->entries, i);
        if (!e->calls) continue;
        ttml_profile_row r = {s->name, e->name, e->calls, (double)e->total_ns / 1e6,
                              (double)e->total_ns / 1e3 / (double)e->calls,
                              step > 0 ? (double)(have_steps ? e->step_ns : e->total_ns) / step : 0.0, e->bytes,
                              e->sim_s * 1e3};
        g_array_append_val(rows, r);
    }
    if (rows->len > first)
        qsort(&g_array_index(rows, ttml_profile_row, first), rows->len - first, sizeof(ttml_profile_row),
              row_cmp);
}

GArray *ttml_profiler_rows(void)
{
    GArray *rows = g_array_new(FALSE, FALSE, sizeof(ttml_profile_row));
    if (!P.sections) return rows;
    double step = (double)step_ns(NULL);
    gboolean have_steps = section_total(P.step, NULL) > 0;
    GPtrArray *done = g_ptr_array_new();
    for (guint i = 0; i < G_N_ELEMENTS(section_order); i++) {
        prof_section *s = section_find(section_order[i]);
        if (!s) continue;
        append_section_rows(rows, s, step, have_steps);
        g_ptr_array_add(done, s);
    }
    for (guint i = 0; i < P.sections->len; i++) {
        prof_section *s = g_ptr_array_index(P.sections, i);
        if (!g_ptr_array_find(done, s, NULL)) append_section_rows(rows, s, step, have_steps);
    }
    g_ptr_array_unref(done);
    return rows;
}

static const char *section_title(const char *section)
{
    if (strcmp(section, "kernel") == 0) return "kernels";
    if (strcmp(section, "transfer") == 0) return "host<->device transfers";
    if (strcmp(section, "sync") == 0) return "synchronize";
    if (strcmp(section, "op") == 0) return "ops (forward)";
    if (strcmp(section, "backward") == 0) return "backward nodes";
    if (strcmp(section, "module") == 0) return "modules (forward)";
    if (strcmp(section, "phase") == 0) return "step phases";
    if (strcmp(section, "step") == 0) return "steps";
    return section;
}

static gboolean any_sim(GArray *rows)
{
    for (guint i = 0; i < rows->len; i++)
        if (g_array_index(rows, ttml_profile_row, i).sim_ms > 0) return TRUE;
    return FALSE;
}

void ttml_profiler_print_summary(FILE *out)
{
    GArray *rows = ttml_profiler_rows();
    guint64 n_steps = 0;
    double step = ttml_profiler_step_ms(&n_steps);
    gboolean sim = any_sim(rows);
    fprintf(out, "\n== ttml profile (%s) ==\n", P.device ? P.device : "no profiler device");
    if (n_steps)
        fprintf(out, "%" G_GUINT64_FORMAT " steps, %.3f ms in steps, %.3f ms per step; shares are of the time in "
                     "steps (work outside them, e.g. validation, is in the totals only)\n",
                n_steps, step, step / (double)n_steps);
    else
        fprintf(out, "%.3f ms profiled; shares are of that time\n", step);
    const char *cur = NULL;
    for (guint i = 0; i < rows->len; i++) {
        ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (!cur || strcmp(cur, r->section) != 0) {
            cur = r->section;
            fprintf(out, "\n%-34s %9s %11s %11s %7s %11s", section_title(cur), "calls", "total ms",
                    "mean us", "step %", "MB moved");
            if (sim) fprintf(out, " %11s", "sim ms");
            fputc('\n', out);
        }
        fprintf(out, "  %-32.32s %9" G_GUINT64_FORMAT " %11.3f %11.2f %6.1f%% %11.3f", r->name, r->calls,
                r->total_ms, r->mean_us, r->share * 100.0, (double)r->bytes / 1e6);
        if (sim) fprintf(out, " %11.3f", r->sim_ms);
        fputc('\n', out);
    }
    fprintf(out, "\nmemory peak (profiled devices): host %.3f MiB, DRAM %.3f MiB, L1 %.3f MiB\n",
            (double)P.mem_peak[TTML_MEM_HOST] / 1048576.0, (double)P.mem_peak[TTML_MEM_DRAM] / 1048576.0,
            (double)P.mem_peak[TTML_MEM_L1] / 1048576.0);
    if (P.opts.keep_events)
        fprintf(out, "trace: %u events kept\n", P.events ? P.events->len : 0u);
    if (P.dropped)
        fprintf(out, "trace: event cap of %" G_GUINT64_FORMAT " reached; %" G_GUINT64_FORMAT
                " later events were dropped (the summary above still counts them)\n",
                max_events(), P.dropped);
    g_array_unref(rows);
}

/* ---- writers ---- */

static FILE *open_out(const char *path, const char *what, GError **error)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f)
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot write the %s to '%s': %s; check the path",
                    what, path ? path : "(null)", g_strerror(path ? errno : EINVAL));
    return f;
}

static gboolean close_out(FILE *f, const char *path, const char *what, GError **error)
{
    gboolean bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = TRUE;
    if (bad)
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "writing the %s to '%s' failed: %s", what, path,
                    g_strerror(errno));
    return !bad;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

gboolean ttml_profiler_write_csv(const char *path, GError **error)
{
    FILE *f = open_out(path, "profile CSV", error);
    if (!f) return FALSE;
    GArray *rows = ttml_profiler_rows();
    fputs("section,name,calls,total_ms,mean_us,step_share,bytes,sim_ms\n", f);
    for (guint i = 0; i < rows->len; i++) {
        ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        csv_field(f, r->section);
        fputc(',', f);
        csv_field(f, r->name);
        fprintf(f, ",%" G_GUINT64_FORMAT ",%.6f,%.3f,%.6f,%" G_GUINT64_FORMAT ",%.6f\n", r->calls, r->total_ms,
                r->mean_us, r->share, r->bytes, r->sim_ms);
    }
    g_array_unref(rows);
    return close_out(f, path, "profile CSV", error);
}

void ttml_profile_json_string(FILE *f, const char *s)
{
    GString *quoted = g_string_sized_new(64);
    ttml_json_append_string(quoted, s);
    fputs(quoted->str, f);
    g_string_free(quoted, TRUE);
}

/* Microseconds since the trace origin (3 decimals: ns resolution). */
static double trace_us(guint64 t) { return t >= P.t0 ? (double)(t - P.t0) / 1e3 : 0.0; }

gboolean ttml_profiler_write_trace(const char *path, GError **error)
{
    FILE *f = open_out(path, "trace", error);
    if (!f) return FALSE;
    collector_ensure();
    int pid = (int)getpid();
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"ttml profiler\",\"device\":");
    ttml_profile_json_string(f, P.device ? P.device : "");
    fprintf(f, ",\"events_dropped\":%" G_GUINT64_FORMAT "%s},\n\"traceEvents\":[\n", P.dropped,
            P.opts.keep_events ? "" : ",\"note\":\"events were not kept (summary-only mode)\"");
    fprintf(f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":1,\"args\":{\"name\":\"ttml\"}},\n"
               "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":1,\"args\":{\"name\":\"host thread\"}},\n"
               "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":2,\"args\":{\"name\":\"collectives\"}}",
            pid, pid, pid);
    guint64 mem[TTML_MEM_KIND_COUNT] = {0};
    for (guint i = 0; i < P.events->len; i++) {
        const prof_event *ev = &g_array_index(P.events, prof_event, i);
        if (ev->type == EV_MEMORY) {
            mem[ev->kind] = ev->bytes;
            fprintf(f, ",\n{\"name\":\"memory bytes\",\"ph\":\"C\",\"ts\":%.3f,\"pid\":%d,\"tid\":1,"
                       "\"args\":{\"host\":%" G_GUINT64_FORMAT ",\"DRAM\":%" G_GUINT64_FORMAT
                       ",\"L1\":%" G_GUINT64_FORMAT "}}",
                    trace_us(ev->ts), pid, mem[TTML_MEM_HOST], mem[TTML_MEM_DRAM], mem[TTML_MEM_L1]);
            continue;
        }
        fputs(",\n{\"name\":", f);
        ttml_profile_json_string(f, ev->e->name);
        fputs(",\"cat\":", f);
        ttml_profile_json_string(f, ev->e->section->name);
        /* collectives (charged to simulated devices) and communicator waits: own track */
        int tid = ev->e->section == P.collective || strcmp(ev->e->section->name, "comm") == 0 ? 2 : 1;
        fprintf(f, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{\"bytes\":%" G_GUINT64_FORMAT,
                trace_us(ev->ts), (double)ev->dur / 1e3, pid, tid, ev->bytes);
        if (ev->sim_s > 0) fprintf(f, ",\"sim_us\":%.3f", ev->sim_s * 1e6);
        fputs("}}", f);
    }
    fputs("\n]}\n", f);
    return close_out(f, path, "trace", error);
}

/* ---- report data ---- */

void ttml_profiler_series_add(const char *name, double x, double y)
{
    collector_ensure();
    if (!name || foreign_thread()) return;
    prof_series *s = NULL;
    for (guint i = 0; i < P.series->len && !s; i++) {
        prof_series *c = g_ptr_array_index(P.series, i);
        if (strcmp(c->name, name) == 0) s = c;
    }
    if (!s) {
        s = g_new0(prof_series, 1);
        s->name = g_strdup(name);
        s->x = g_array_new(FALSE, FALSE, sizeof(double));
        s->y = g_array_new(FALSE, FALSE, sizeof(double));
        g_ptr_array_add(P.series, s);
    }
    g_array_append_val(s->x, x);
    g_array_append_val(s->y, y);
}

void ttml_profiler_keep_memory_snapshots(const GPtrArray *snapshots)
{
    collector_ensure();
    if (foreign_thread()) return;
    g_ptr_array_set_size(P.snapshots, 0);
    for (guint i = 0; snapshots && i < snapshots->len; i++) {
        const ttml_memory_snapshot *s = g_ptr_array_index((GPtrArray *)snapshots, i);
        ttml_memory_snapshot *c = g_new0(ttml_memory_snapshot, 1);
        *c = *s;
        c->name = g_strdup(s->name);
        c->device = g_strdup(s->device);
        g_ptr_array_add(P.snapshots, c);
    }
}

const GPtrArray *ttml_profile_report_snapshots(void)
{
    collector_ensure();
    return P.snapshots;
}

guint ttml_profile_report_n_series(void)
{
    collector_ensure();
    return P.series->len;
}

const char *ttml_profile_report_series(guint i, guint *n, const double **x, const double **y)
{
    prof_series *s = g_ptr_array_index(P.series, i);
    *n = s->x->len;
    *x = (const double *)(void *)s->x->data;
    *y = (const double *)(void *)s->y->data;
    return s->name;
}

void ttml_profiler_layer_describe(const char *name, const char *arch)
{
    collector_ensure();
    /* a mesh's rank threads allocate at once: only the profiled thread names the device */
    if (foreign_thread() || P.device_label || !name || !*name) return;
    P.device_label = arch && *arch ? g_strdup_printf("%s (%s)", name, arch) : g_strdup(name);
}

const char *ttml_profile_report_device(void) { return P.device_label ? P.device_label : P.device; }
