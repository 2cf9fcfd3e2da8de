/* core/train/progress.c - training progress on stdout: a live line rewritten
 * with '\r' on a terminal (at most ~5 redraws per second), plain lines every
 * log_interval steps otherwise. */
#include "train_app.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The terminal's width (COLUMNS, else the tty's, else 80). */
static int terminal_columns(void)
{
    const char *env = g_getenv("COLUMNS");
    int cols = env ? atoi(env) : 0;
    struct winsize ws;
    if (cols <= 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) cols = ws.ws_col;
    return cols >= 20 ? cols : 80;
}

void ttml_progress_init(ttml_progress *p, gint64 first_step, gint64 total, gint64 log_interval,
                        double tokens_per_step, gboolean quiet)
{
    memset(p, 0, sizeof *p);
    p->live = !quiet && isatty(STDOUT_FILENO);
    p->quiet = quiet;
    p->first_step = first_step;
    p->total = total;
    p->log_interval = log_interval > 0 ? log_interval : 1;
    p->tokens_per_step = tokens_per_step;
    p->t_start = p->t_window = g_get_monotonic_time();
    p->window_step = first_step;
    p->last_tok_s = NAN;
    p->val_loss = NAN;
}

static void format_duration(char *buf, size_t size, double s)
{
    if (!isfinite(s) || s < 0) {
        g_strlcpy(buf, "?", size);
        return;
    }
    gint64 t = (gint64)(s + 0.5);
    if (t >= 3600)
        g_snprintf(buf, size, "%" G_GINT64_FORMAT "h%02dm", t / 3600, (int)(t % 3600 / 60));
    else if (t >= 60)
        g_snprintf(buf, size, "%dm%02ds", (int)(t / 60), (int)(t % 60));
    else
        g_snprintf(buf, size, "%ds", (int)t);
}

static void clear_live(ttml_progress *p)
{
    if (p->live && p->width > 0) {
        printf("\r%*s\r", p->width, "");
        p->width = 0;
    }
}

void ttml_progress_update(ttml_progress *p, gint64 step, double loss, double lr, double val_loss,
                          double host_ms, double sim_ms)
{
    if (p->quiet) return;
    gint64 now = g_get_monotonic_time();
    if (isfinite(val_loss)) p->val_loss = val_loss;
    gboolean last = step >= p->total;
    gboolean due = p->live ? (now - p->t_drawn >= 200000 || last || isfinite(val_loss))
                           : (step % p->log_interval == 0 || last);
    if (!due && !(!p->live && isfinite(val_loss))) return;

    double window_s = (double)(now - p->t_window) / 1e6;
    if (step > p->window_step && window_s > 0) {
        p->last_tok_s = p->tokens_per_step * (double)(step - p->window_step) / window_s;
        p->t_window = now;
        p->window_step = step;
    }
    double elapsed = (double)(now - p->t_start) / 1e6;
    double per_step = step > p->first_step ? elapsed / (double)(step - p->first_step) : NAN;
    char eta[32], tok[32];
    format_duration(eta, sizeof eta, per_step * (double)(p->total - step));
    if (isfinite(p->last_tok_s))
        g_snprintf(tok, sizeof tok, "%.0f", p->last_tok_s);
    else
        g_strlcpy(tok, "?", sizeof tok);
    char times[80];
    if (isfinite(sim_ms))
        g_snprintf(times, sizeof times, "host %.1f ms | device (sim) %.3f ms", host_ms, sim_ms);
    else
        g_snprintf(times, sizeof times, "%.1f ms/step", host_ms);

    if (p->live) {
        /* Validation gets its own kept line; the live line fits the terminal
         * (short field names, cut to the width minus one column). */
        if (isfinite(val_loss)) {
            clear_live(p);
            printf("step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " val_loss %.4f\n", step, p->total, val_loss);
        }
        char line[256], t[64];
        if (isfinite(sim_ms))
            g_snprintf(t, sizeof t, "%.1fms sim %.3fms", host_ms, sim_ms);
        else
            g_snprintf(t, sizeof t, "%.1fms", host_ms);
        int n = g_snprintf(line, sizeof line,
                           "%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " loss %.4f lr %.1e %s tok/s %s ETA %s",
                           step, p->total, loss, lr, tok, t, eta);
        int cols = terminal_columns() - 1;
        if (n >= (int)sizeof line) n = (int)sizeof line - 1;
        if (n > cols) {
            n = cols;
            line[n] = '\0';
        }
        printf("\r%s", line);
        if (n < p->width) printf("%*s", p->width - n, "");
        p->width = n;
        p->t_drawn = now;
    } else {
        if (step % p->log_interval == 0 || last)
            printf("step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " loss %.4f lr %.3e tok/s %s %s eta %s\n",
                   step, p->total, loss, lr, tok, times, eta);
        if (isfinite(val_loss))
            printf("step %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " val_loss %.4f\n", step, p->total,
                   val_loss);
    }
    fflush(stdout);
}

void ttml_progress_message(ttml_progress *p, const char *fmt, ...)
{
    if (p->quiet) return;
    clear_live(p);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void ttml_progress_finish(ttml_progress *p)
{
    if (p->live && p->width > 0) {
        putchar('\n');
        p->width = 0;
    }
    fflush(stdout);
}
