/* bench/adamw_kernel.c - the cpu driver's "adamw_step" kernel against a copy
 * of the same bytes (issue 14: the optimizer step as fast as memory allows).
 *
 * AdamW reads p, g, m, v and writes p, m, v: 28 bytes per parameter, plus 2
 * when it also writes the parameter's bf16 copy (precision bf16: the copy
 * is written in the same pass, cpu_kernels_optim.c). The reference moves the
 * same 28 bytes per parameter: the driver's "copy" kernel (both pool threads,
 * like adamw_step) over 3.5 floats per parameter (14 bytes read, 14 written),
 * and libc memcpy on one thread. N = 8 Mi parameters (32 MiB per array), far
 * beyond the caches. Each measurement: 2 warm-up calls, then the median of
 * REPS calls. Built and run by bench/run.sh (case adamw_kernel). Prints:
 *   bench case=adamw_kernel n=... adamw_gbs=... adamw_bf16_gbs=... copy_gbs=... memcpy1_gbs=...
 *         ratio=... ratio_bf16=...
 * GB/s count bytes read + written; ratio = adamw time / copy-kernel time for
 * the same bytes (1.0 = as fast as memory moves them; below 1: faster than
 * the copy), ratio_bf16 the same with the bf16 copy written (30 bytes).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttml/ttml.h>

#include "bench_common.h"

#define REPS 9
#define N_PARAMS (8 * 1024 * 1024)
#define ROWS 2048

static ttml_tensor *tensor(int64_t rows, int64_t cols, float value)
{
    int64_t sh[2] = {rows, cols};
    float *data = malloc(sizeof(float) * (size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; i++) data[i] = value * (float)(1 + i % 7);
    ttml_tensor *t = bench_tensor(2, sh, data);
    free(data);
    return t;
}

/* Median seconds of `kernel` (ins -> outs). */
static double median_launch(const char *kernel, ttml_tensor **in, int n_in, ttml_tensor **out, int n_out,
                            void *params, size_t params_size, gint64 *step)
{
    ttml_launch l;
    bench_launch_init(&l, kernel, in, n_in, out, n_out, params, params_size);
    double t[REPS];
    for (int r = -2; r < REPS; r++) {
        if (step) (*step)++;
        double t0 = bench_now();
        bench_run(&l);
        if (r >= 0) t[r] = bench_now() - t0;
    }
    return bench_median(t, REPS);
}

/* A bf16 product with p as its weight, so p gets a copy in the cpu
 * driver's bf16 weight cache (kept fresh by every adamw_step after it). */
static void give_bf16_copy(ttml_tensor *p)
{
    ttml_tensor *a = tensor(1, ROWS, 0.01f), *c = tensor(1, N_PARAMS / ROWS, 0.0f);
    ttml_matmul_params mp = {0, 0, 1.0f, 0.0f, TTML_PRECISION_BF16};
    ttml_tensor *in[2] = {a, p};
    ttml_launch l;
    bench_launch_init(&l, "matmul", in, 2, &c, 1, &mp, sizeof mp);
    bench_run(&l);
    ttml_tensor_unref(a);
    ttml_tensor_unref(c);
}

int main(void)
{
    GError *err = NULL;
    if (!ttml_init(NULL, &err) || !ttml_context_open_device("cpu", &err)) {
        fprintf(stderr, "ttml: %s\n", err->message);
        return 1;
    }
    const int64_t cols = N_PARAMS / ROWS;
    ttml_tensor *p = tensor(ROWS, cols, 0.1f), *g = tensor(ROWS, cols, 0.01f);
    ttml_tensor *m = tensor(ROWS, cols, 0.0f), *v = tensor(ROWS, cols, 0.0f);
    ttml_adamw_params ap = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, 0};
    ttml_tensor *outs[3] = {p, m, v};
    const double t_adamw = median_launch("adamw_step", &g, 1, outs, 3, &ap, sizeof ap, &ap.step);
    give_bf16_copy(p);
    const double t_bf16 = median_launch("adamw_step", &g, 1, outs, 3, &ap, sizeof ap, &ap.step);

    /* 3.5 floats per parameter, read and written: 28 bytes per parameter */
    ttml_tensor *src = tensor(ROWS * 7 / 2, cols, 1.0f), *dst = tensor(ROWS * 7 / 2, cols, 0.0f);
    const double t_copy = median_launch("copy", &src, 1, &dst, 1, NULL, 0, NULL);
    const size_t half = (size_t)N_PARAMS * 14;
    char *a = malloc(half), *b = malloc(half);
    memset(a, 1, half);
    memset(b, 0, half);
    double t[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = bench_now();
        memcpy(b, a, half);
        __asm__ volatile("" : : "r"(b) : "memory");
        if (r >= 0) t[r] = bench_now() - t0;
    }
    const double t_memcpy = bench_median(t, REPS);

    const double bytes = 28.0 * N_PARAMS * 1e-9;
    printf("bench case=adamw_kernel n=%d adamw_gbs=%.1f adamw_bf16_gbs=%.1f copy_gbs=%.1f memcpy1_gbs=%.1f "
           "ratio=%.3f ratio_bf16=%.3f adamw_ms=%.2f adamw_bf16_ms=%.2f copy_ms=%.2f\n",
           N_PARAMS, bytes / t_adamw, (bytes + 2.0 * N_PARAMS * 1e-9) / t_bf16, bytes / t_copy,
           bytes / t_memcpy, t_adamw / t_copy, t_bf16 / t_copy, t_adamw * 1e3, t_bf16 * 1e3, t_copy * 1e3);
    free(a);
    free(b);
    ttml_tensor_unref(src);
    ttml_tensor_unref(dst);
    ttml_tensor_unref(p);
    ttml_tensor_unref(g);
    ttml_tensor_unref(m);
    ttml_tensor_unref(v);
    ttml_shutdown();
    return 0;
}
