/* core/profiler/profile_outputs.c - the profiler's outputs at the end of a
 * run: the summary, trace and CSV (profile_collect.c) and the HTML report
 * (profile_report.c), each written when its path is given. */
#include "profile_internal.h"

gboolean ttml_profiler_write_outputs(FILE *summary, const char *trace_path, const char *csv_path,
                                     const char *report_path, const char *title, GError **error)
{
    if (summary && ttml_profiler_used()) {
        ttml_profiler_print_summary(summary);
        fflush(summary);
    }
    if (trace_path && !ttml_profiler_write_trace(trace_path, error)) return FALSE;
    if (csv_path && !ttml_profiler_write_csv(csv_path, error)) return FALSE;
    if (report_path && !ttml_profiler_write_report(report_path, title, error)) return FALSE;
    return TRUE;
}
