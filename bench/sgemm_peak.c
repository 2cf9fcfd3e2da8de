/* bench/sgemm_peak.c - this machine's measured fp32 GEMM peak through
 * OpenBLAS (the yardstick for the GPT-2 case's "fraction of peak").
 *
 * Built by bench/run.sh: cc -O2 sgemm_peak.c -lopenblas, run with
 * OPENBLAS_CORETYPE=SkylakeX (on AVX-512 CPUs) and OPENBLAS_NUM_THREADS=2.
 * Square row-major C = A B for a few large sizes; prints the best GFLOP/s:
 *   sgemm n=2048 gflops=...      (one line per size)
 *   bench case=sgemm_peak gflops=... threads=N core=NAME
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern char *openblas_get_corename(void);
extern int openblas_get_num_threads(void);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int sizes[] = {1024, 2048, 3072};
    double seconds_per_size = argc > 1 ? atof(argv[1]) : 1.0;
    double best = 0.0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s];
        float *a = aligned_alloc(64, sizeof(float) * (size_t)n * n);
        float *b = aligned_alloc(64, sizeof(float) * (size_t)n * n);
        float *c = aligned_alloc(64, sizeof(float) * (size_t)n * n);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < (size_t)n * n; i++) {
            a[i] = (float)((i * 7) % 13) * 0.01f;
            b[i] = (float)((i * 5) % 11) * 0.01f;
            c[i] = 0.0f;
        }
        /* warm-up, then repeat for about seconds_per_size; best single run */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double size_best = 0.0, t_start = now();
        do {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            double dt = now() - t0;
            double gf = 2.0 * n * (double)n * n / dt * 1e-9;
            if (gf > size_best) size_best = gf;
        } while (now() - t_start < seconds_per_size);
        printf("sgemm n=%d gflops=%.1f\n", n, size_best);
        if (size_best > best) best = size_best;
        free(a);
        free(b);
        free(c);
    }
    printf("bench case=sgemm_peak gflops=%.1f threads=%d core=%s\n", best, openblas_get_num_threads(),
           openblas_get_corename());
    return 0;
}
