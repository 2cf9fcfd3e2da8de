/* bench/sdpa_kernel.c - the cpu driver's "sdpa_fwd" + "sdpa_bwd" kernels in
 * fp32 and in precision bf16 (issue 14: attention's products in bf16), on
 * one GPT-2 124M layer of bench case gpt2_124m: q, k, v [2, 12, 256, 64],
 * causal. Each measurement: 2 warm-up pairs, then REPS pairs (forward then
 * backward), fp32 and bf16 interleaved; reported per training step (12
 * layers): the median wall ms and the process CPU ms (both pool threads).
 * Built and run by bench/run.sh (case sdpa_kernel). Prints:
 *   bench case=sdpa_kernel shape=BxHxSxD layers=12 fp32_ms=... bf16_ms=...
 *         fp32_cpu_ms=... bf16_cpu_ms=... ratio=...   (ratio = bf16 / fp32 wall)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ttml/ttml.h>

#include "bench_common.h"

#define REPS 15
#define LAYERS 12

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A tensor of pseudo-random values in [-1, 1]. */
static ttml_tensor *tensor(int ndim, const int64_t *shape, unsigned seed)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    float *data = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) data[i] = (float)((i * 2654435761u + seed) % 2001) / 1000.0f - 1.0f;
    ttml_tensor *t = bench_tensor(ndim, shape, data);
    free(data);
    return t;
}

int main(void)
{
    GError *err = NULL;
    if (!ttml_init(NULL, &err) || !ttml_context_open_device("cpu", &err)) {
        fprintf(stderr, "ttml_init: %s\n", err->message);
        return 1;
    }
    const int64_t B = 2, H = 12, S = 256, D = 64;
    const int64_t sh[4] = {B, H, S, D}, sl[3] = {B, H, S};
    ttml_tensor *q = tensor(4, sh, 1), *k = tensor(4, sh, 2), *v = tensor(4, sh, 3), *dout = tensor(4, sh, 4);
    ttml_tensor *o = tensor(4, sh, 0), *lse = tensor(3, sl, 0);
    ttml_tensor *dq = tensor(4, sh, 0), *dk = tensor(4, sh, 0), *dv = tensor(4, sh, 0);
    ttml_tensor *fin[3] = {q, k, v}, *fout[2] = {o, lse};
    ttml_tensor *bin[6] = {q, k, v, o, lse, dout}, *bout[3] = {dq, dk, dv};
    ttml_sdpa_params p[2] = {{0.125f, 1, TTML_PRECISION_FP32}, {0.125f, 1, TTML_PRECISION_BF16}};
    double wall[2][REPS], cpu[2][REPS];
    for (int r = -2; r < REPS; r++)
        for (int prec = 0; prec < 2; prec++) {
            ttml_launch lf, lb;
            bench_launch_init(&lf, "sdpa_fwd", fin, 3, fout, 2, &p[prec], sizeof p[prec]);
            bench_launch_init(&lb, "sdpa_bwd", bin, 6, bout, 3, &p[prec], sizeof p[prec]);
            const double t0 = bench_now(), c0 = cpu_now();
            bench_run(&lf);
            bench_run(&lb);
            if (r >= 0) {
                wall[prec][r] = bench_now() - t0;
                cpu[prec][r] = cpu_now() - c0;
            }
        }
    const double w32 = bench_median(wall[0], REPS) * LAYERS * 1e3, w16 = bench_median(wall[1], REPS) * LAYERS * 1e3;
    const double c32 = bench_median(cpu[0], REPS) * LAYERS * 1e3, c16 = bench_median(cpu[1], REPS) * LAYERS * 1e3;
    printf("bench case=sdpa_kernel shape=%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
           "x%" G_GINT64_FORMAT " layers=%d fp32_ms=%.2f bf16_ms=%.2f fp32_cpu_ms=%.2f bf16_cpu_ms=%.2f "
           "ratio=%.2f\n",
           B, H, S, D, LAYERS, w32, w16, c32, c16, w16 / w32);
    ttml_tensor *all[9] = {q, k, v, dout, o, lse, dq, dk, dv};
    for (int i = 0; i < 9; i++) ttml_tensor_unref(all[i]);
    ttml_shutdown();
    return 0;
}
