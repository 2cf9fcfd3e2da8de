/* core/profiler/profile_report.c - the profiler's HTML report (ttml/profiler_outputs.h): one
 * self-contained page, no scripts, fonts or network, with the run's series
 * (loss curves with the validation points marked, host step time beside the
 * simulated device time on a simulator) as inline SVG line charts laid out
 * over the page width, the profile summary as a bar chart and tables, and
 * the memory snapshots, each labelled with its device. */
#include "internal.h"
#include "profile_internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define CHART_W 640
#define CHART_H 320
#define M_LEFT 70
#define M_RIGHT 20
#define M_TOP 34
#define M_BOTTOM 46
#define MAX_POINTS 2000

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

static void html_text(GString *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '&': g_string_append(out, "&amp;"); break;
        case '"': g_string_append(out, "&quot;"); break;
        default: g_string_append_c(out, *s);
        }
    }
}

/* A short number for axis labels. */
static void fmt_num(char *buf, size_t size, double v)
{
    double a = fabs(v);
    if (a != 0 && (a >= 1e6 || a < 1e-3)) g_snprintf(buf, size, "%.2e", v);
    else if (a >= 100 || v == floor(v)) g_snprintf(buf, size, "%.0f", v);
    else if (a >= 1) g_snprintf(buf, size, "%.2f", v);
    else g_snprintf(buf, size, "%.3f", v);
}

/* A "nice" step for about `n` ticks over `range`. */
static double nice_step(double range, int n)
{
    double raw = range / n, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

typedef struct chart_series {
    const char *name;
    guint n;
    const double *x, *y;
    gboolean markers;          /* every point marked (validation), with its value as a tooltip */
} chart_series;

/* A marked point: a ringed dot with "NAME at step X: Y" as its tooltip. */
static void svg_marker(GString *out, double px, double py, const char *color, const char *name, double x, double y)
{
    g_string_append_printf(out, "<circle class=\"val-marker\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#fff\" "
                                "stroke=\"%s\" stroke-width=\"2.5\"><title>", px, py, color);
    html_text(out, name);
    g_string_append_printf(out, " at step %g: %.4f</title></circle>", x, y);
}

/* An SVG line chart with axes, ticks, labels and a legend. */
static void svg_line_chart(GString *out, const char *title, const char *xlabel, const char *ylabel,
                           const chart_series *series, int n_series)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (guint i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = MIN(x0, x), x1 = MAX(x1, x), y0 = MIN(y0, y), y1 = MAX(y1, y);
        }
    g_string_append_printf(out, "<figure><svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
                                "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
                           CHART_W, CHART_H, CHART_W, CHART_H);
    g_string_append_printf(out, "<text x=\"%d\" y=\"20\" class=\"title\">", CHART_W / 2);
    html_text(out, title);
    g_string_append(out, "</text>\n");
    if (!isfinite(x0)) {
        g_string_append_printf(out, "<text x=\"%d\" y=\"%d\" class=\"title\">no data</text></svg></figure>\n",
                               CHART_W / 2, CHART_H / 2);
        return;
    }
    if (x1 - x0 < 1e-12) x0 -= 1, x1 += 1;
    if (y1 - y0 < 1e-12 * MAX(1.0, fabs(y1))) y0 -= MAX(0.5, fabs(y0) * 0.1), y1 += MAX(0.5, fabs(y1) * 0.1);
    double ystep = nice_step(y1 - y0, 5), xstep = nice_step(x1 - x0, 6);
    y0 = floor(y0 / ystep) * ystep, y1 = ceil(y1 / ystep) * ystep;
    double pw = CHART_W - M_LEFT - M_RIGHT, ph = CHART_H - M_TOP - M_BOTTOM;
#define PX(x) (M_LEFT + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (M_TOP + ph - ((y) - y0) / (y1 - y0) * ph)
    char buf[64];
    /* grid and y ticks */
    for (double v = y0; v <= y1 + ystep * 1e-6; v += ystep) {
        fmt_num(buf, sizeof buf, fabs(v) < ystep * 1e-9 ? 0.0 : v);
        g_string_append_printf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                                    "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                               M_LEFT, PY(v), CHART_W - M_RIGHT, PY(v), M_LEFT - 6, PY(v) + 4, buf);
    }
    for (double v = ceil(x0 / xstep) * xstep; v <= x1 + xstep * 1e-6; v += xstep) {
        fmt_num(buf, sizeof buf, v);
        g_string_append_printf(out, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                                    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                               PX(v), M_TOP + ph, PX(v), M_TOP + ph + 5, PX(v), M_TOP + ph + 18, buf);
    }
    /* axes and their labels */
    g_string_append_printf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\"/>"
                                "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
                           M_LEFT, M_TOP, M_LEFT, M_TOP + ph, M_LEFT, M_TOP + ph, CHART_W - M_RIGHT, M_TOP + ph);
    g_string_append_printf(out, "<text class=\"label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
                           M_LEFT + pw / 2, CHART_H - 8);
    html_text(out, xlabel);
    g_string_append_printf(out, "</text><text class=\"label\" x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
                                "transform=\"rotate(-90 14 %.1f)\">",
                           M_TOP + ph / 2, M_TOP + ph / 2);
    html_text(out, ylabel);
    g_string_append(out, "</text>\n");
    /* the series */
    for (int s = 0; s < n_series; s++) {
        const char *color = palette[s % G_N_ELEMENTS(palette)];
        guint n = series[s].n, stride = n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1;
        g_string_append_printf(out, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                                    "points=\"", color);
        guint drawn = 0;
        for (guint i = 0; i < n; i += stride) {
            if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i])) continue;
            g_string_append_printf(out, "%.1f,%.1f ", PX(series[s].x[i]), PY(series[s].y[i]));
            drawn++;
        }
        g_string_append(out, "\"/>\n");
        for (guint i = 0; i < n && (n <= 60 || series[s].markers); i++) {
            if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i])) continue;
            if (series[s].markers)
                svg_marker(out, PX(series[s].x[i]), PY(series[s].y[i]), color, series[s].name, series[s].x[i],
                           series[s].y[i]);
            else
                g_string_append_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", PX(series[s].x[i]),
                                       PY(series[s].y[i]), color);
        }
        /* legend */
        g_string_append_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"145\" height=\"16\" fill=\"#fff\" "
                                    "fill-opacity=\"0.85\"/>", CHART_W - M_RIGHT - 152, M_TOP + 16 * s);
        g_string_append_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                                    "<text class=\"tick\" x=\"%d\" y=\"%d\">",
                               CHART_W - M_RIGHT - 150, M_TOP + 6 + 16 * s, color, CHART_W - M_RIGHT - 130,
                               M_TOP + 11 + 16 * s);
        html_text(out, series[s].name);
        g_string_append_printf(out, " (%u)</text>\n", drawn);
    }
#undef PX
#undef PY
    g_string_append(out, "</svg></figure>\n");
}

/* Horizontal bars of the top rows of one section (share of the step). */
static void svg_bar_chart(GString *out, const char *title, GArray *rows, const char *section, guint max_bars)
{
    guint n = 0;
    double top = 0;
    for (guint i = 0; i < rows->len && n < max_bars; i++) {
        ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (strcmp(r->section, section) != 0) continue;
        top = MAX(top, r->total_ms);
        n++;
    }
    if (n == 0) return;
    int bar_h = 18, h = M_TOP + (int)n * (bar_h + 4) + 10, label_w = 200, w = CHART_W;
    g_string_append_printf(out, "<figure><svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                                "height=\"%d\" viewBox=\"0 0 %d %d\">\n<text x=\"%d\" y=\"20\" class=\"title\">",
                           w, h, w, h, w / 2);
    html_text(out, title);
    g_string_append(out, "</text>\n");
    guint k = 0;
    for (guint i = 0; i < rows->len && k < n; i++) {
        ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (strcmp(r->section, section) != 0) continue;
        double bw = top > 0 ? r->total_ms / top * (w - label_w - 110) : 0;
        int y = M_TOP + (int)k * (bar_h + 4);
        g_string_append_printf(out, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 6,
                               y + 13);
        html_text(out, r->name);
        g_string_append_printf(out, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                                    "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%.2f ms (%.1f%%)</text>\n",
                               label_w, y, MAX(bw, 1.0), bar_h, palette[0], label_w + bw + 6, y + 13, r->total_ms,
                               r->share * 100);
        k++;
    }
    g_string_append(out, "</svg></figure>\n");
}

static void profile_tables(GString *out, GArray *rows, guint max_rows)
{
    gboolean sim = FALSE;
    for (guint i = 0; i < rows->len; i++) sim |= g_array_index(rows, ttml_profile_row, i).sim_ms > 0;
    const char *cur = NULL;
    guint in_section = 0;
    for (guint i = 0; i < rows->len; i++) {
        ttml_profile_row *r = &g_array_index(rows, ttml_profile_row, i);
        if (!cur || strcmp(cur, r->section) != 0) {
            if (cur) g_string_append(out, "</tbody></table>\n");
            cur = r->section;
            in_section = 0;
            g_string_append(out, "<h3>");
            html_text(out, strcmp(cur, "op") == 0 ? "ops (forward)" : strcmp(cur, "backward") == 0 ? "backward nodes"
                           : strcmp(cur, "module") == 0 ? "modules (forward)" : strcmp(cur, "kernel") == 0 ? "kernels"
                           : strcmp(cur, "phase") == 0 ? "step phases" : strcmp(cur, "step") == 0 ? "steps" : cur);
            g_string_append(out, "</h3>\n<table class=\"profile\"><thead><tr><th>name</th><th>calls</th>"
                                 "<th>total ms</th><th>mean us</th><th>step %</th><th>MB moved</th>");
            if (sim) g_string_append(out, "<th>sim ms</th>");
            g_string_append(out, "</tr></thead><tbody>\n");
        }
        if (in_section++ >= max_rows) continue;
        g_string_append(out, "<tr><td>");
        html_text(out, r->name);
        g_string_append_printf(out, "</td><td>%" G_GUINT64_FORMAT "</td><td>%.3f</td><td>%.2f</td><td>%.1f</td>"
                                    "<td>%.3f</td>",
                               r->calls, r->total_ms, r->mean_us, r->share * 100, (double)r->bytes / 1e6);
        if (sim) g_string_append_printf(out, "<td>%.3f</td>", r->sim_ms);
        g_string_append(out, "</tr>\n");
    }
    if (cur) g_string_append(out, "</tbody></table>\n");
}

static void memory_section(GString *out, const GPtrArray *snaps)
{
    g_string_append(out, "<h2>Memory snapshots</h2>\n");
    if (!snaps || snaps->len == 0) {
        g_string_append(out, "<p>No memory snapshots (run ttml-run with --memory-report).</p>\n");
        return;
    }
    /* bars: current and peak DRAM + host per snapshot */
    guint64 top = 1;
    for (guint i = 0; i < snaps->len; i++) {
        const ttml_memory_snapshot *s = g_ptr_array_index((GPtrArray *)snaps, i);
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) top = MAX(top, s->peak[k]);
    }
    int row_h = 3 * 14 + 12, label_w = 260, w = CHART_W, h = M_TOP + (int)snaps->len * row_h + 10;
    g_string_append_printf(out, "<figure><svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
                                "height=\"%d\" viewBox=\"0 0 %d %d\">\n<text x=\"%d\" y=\"20\" class=\"title\">"
                                "peak bytes per memory kind since the previous snapshot</text>\n",
                           w, h, w, h, w / 2);
    for (guint i = 0; i < snaps->len; i++) {
        const ttml_memory_snapshot *s = g_ptr_array_index((GPtrArray *)snaps, i);
        int y = M_TOP + (int)i * row_h;
        g_string_append_printf(out, "<text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 6,
                               y + 24);
        html_text(out, s->name);
        g_string_append_printf(out, "</text><text class=\"tick device-label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">",
                               label_w - 6, y + 38);
        html_text(out, s->device);
        g_string_append(out, "</text>\n");
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++) {
            double bw = (double)s->peak[k] / (double)top * (w - label_w - 150);
            g_string_append_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"12\" fill=\"%s\"/>"
                                        "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%s %.3f MiB</text>\n",
                                   label_w, y + k * 14, MAX(bw, 1.0), palette[k], label_w + bw + 6, y + k * 14 + 10,
                                   ttml_mem_kind_name((ttml_mem_kind)k), (double)s->peak[k] / 1048576.0);
        }
    }
    g_string_append(out, "</svg></figure>\n<table class=\"memory\"><thead><tr><th>snapshot</th><th>device</th>");
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++)
        g_string_append_printf(out, "<th>%s MiB</th><th>%s peak MiB</th>", ttml_mem_kind_name((ttml_mem_kind)k),
                               ttml_mem_kind_name((ttml_mem_kind)k));
    g_string_append(out, "</tr></thead><tbody>\n");
    for (guint i = 0; i < snaps->len; i++) {
        const ttml_memory_snapshot *s = g_ptr_array_index((GPtrArray *)snaps, i);
        g_string_append(out, "<tr><td>");
        html_text(out, s->name);
        g_string_append(out, "</td><td>");
        html_text(out, s->device);
        g_string_append(out, "</td>");
        for (int k = 0; k < TTML_MEM_KIND_COUNT; k++)
            g_string_append_printf(out, "<td>%.3f</td><td>%.3f</td>", (double)s->current[k] / 1048576.0,
                                   (double)s->peak[k] / 1048576.0);
        g_string_append(out, "</tr>\n");
    }
    g_string_append(out, "</tbody></table>\n");
}

static const char *css =
    "body{font-family:sans-serif;margin:24px;color:#222}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}"
    "svg.chart,svg.bars{width:100%;height:auto}.device{font-size:15px}.device-label{color:#1f4e79}"
    "table{width:100%}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px}"
    "figure{margin:8px 0}svg text{font-family:sans-serif}"
    ".title{font-size:14px;font-weight:bold;text-anchor:middle}.tick{font-size:11px;fill:#333}"
    ".label{font-size:12px;fill:#222}.axis{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}"
    "table{border-collapse:collapse;font-size:12px;margin:6px 0}"
    "th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}thead{background:#f0f0f0}"
    ".note{color:#666;font-size:12px}";

gboolean ttml_profiler_write_report(const char *path, const char *title, GError **error)
{
    if (!path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "no path given for the HTML report");
        return FALSE;
    }
    GString *out = g_string_sized_new(64 * 1024);
    if (!title) title = "ttml run report";
    g_string_append(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    html_text(out, title);
    g_string_append_printf(out, "</title>\n<style>%s</style></head><body>\n<h1>", css);
    html_text(out, title);
    g_string_append(out, "</h1>\n");
    const char *dev = ttml_profile_report_device();
    GDateTime *dt = g_date_time_new_now_local();
    char *now = g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
    g_date_time_unref(dt);
    g_string_append(out, "<p class=\"device\">");
    if (dev) {
        g_string_append(out, "Device: <strong class=\"device-label\">");
        html_text(out, dev);
        g_string_append(out, "</strong>");
    } else {
        g_string_append(out, "No profiler device was used");
    }
    g_string_append(out, "</p>\n<p class=\"note\">written ");
    html_text(out, now);
    g_string_append(out, "</p>\n");
    g_free(now);

    /* training curves: train_loss with the validation points marked, host
     * step time beside simulated device time, every other series alone */
    g_string_append(out, "<h2>Training</h2>\n<div class=\"charts\">\n");
    guint ns = ttml_profile_report_n_series();
    chart_series loss[2], time[2];
    int n_loss = 0, n_time = 0;
    for (guint i = 0; i < ns; i++) {
        chart_series c = {0};
        c.name = ttml_profile_report_series(i, &c.n, &c.x, &c.y);
        c.markers = strcmp(c.name, "val_loss") == 0;
        if ((strcmp(c.name, "train_loss") == 0 || c.markers) && n_loss < 2) loss[n_loss++] = c;
        if ((strcmp(c.name, "step_ms") == 0 || strcmp(c.name, "sim_ms") == 0) && n_time < 2) time[n_time++] = c;
    }
    if (n_loss) svg_line_chart(out, "loss (validation points ringed)", "step", "loss", loss, n_loss);
    for (int i = 0; i < n_time; i++)
        time[i].name = strcmp(time[i].name, "sim_ms") == 0 ? "sim_ms (simulated device)" : "step_ms (host)";
    if (n_time) svg_line_chart(out, n_time > 1 ? "step time: host and simulated device" : "step time", "step",
                               "ms", time, n_time);
    for (guint i = 0; i < ns; i++) {
        chart_series c = {0};
        c.name = ttml_profile_report_series(i, &c.n, &c.x, &c.y);
        if (strcmp(c.name, "train_loss") == 0 || strcmp(c.name, "val_loss") == 0 || strcmp(c.name, "step_ms") == 0 ||
            strcmp(c.name, "sim_ms") == 0)
            continue;
        svg_line_chart(out, c.name, "step", c.name, &c, 1);
    }
    g_string_append(out, "</div>\n");
    if (!ns) g_string_append(out, "<p>No training series were recorded.</p>\n");

    /* profile */
    g_string_append(out, "<h2>Profile");
    if (dev) {
        g_string_append(out, " of <span class=\"device-label\">");
        html_text(out, dev);
        g_string_append(out, "</span>");
    }
    g_string_append(out, "</h2>\n");
    GArray *rows = ttml_profiler_rows();
    guint64 n_steps = 0;
    double step = ttml_profiler_step_ms(&n_steps);
    if (rows->len == 0) {
        g_string_append(out, "<p>No profile (open the device through the profiler layer: "
                             "--device profiler:cpu or TTML_LAYERS=profiler).</p>\n");
    } else {
        if (n_steps)
            g_string_append_printf(out, "<p>%" G_GUINT64_FORMAT " profiled steps, %.3f ms per step. Shares are "
                                        "of the step time.</p>\n", n_steps, step / (double)n_steps);
        svg_bar_chart(out, "kernels: host time", rows, "kernel", 15);
        svg_bar_chart(out, "ops (forward): host time", rows, "op", 15);
        profile_tables(out, rows, 40);
        if (ttml_profiler_events_dropped())
            g_string_append_printf(out, "<p class=\"note\">The trace hit its event cap; %" G_GUINT64_FORMAT
                                        " events were not kept (the tables count them).</p>\n",
                                   ttml_profiler_events_dropped());
    }
    g_array_unref(rows);

    memory_section(out, ttml_profile_report_snapshots());
    g_string_append(out, "</body></html>\n");

    GError *local = NULL;
    gboolean ok = g_file_set_contents(path, out->str, (gssize)out->len, &local);
    if (!ok) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot write the HTML report to '%s': %s; check the path",
                    path, local->message);
        g_clear_error(&local);
    }
    g_string_free(out, TRUE);
    return ok;
}
