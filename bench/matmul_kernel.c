/* bench/matmul_kernel.c - ttml's "matmul" kernel against the same OpenBLAS
 * calls made in a tight loop (issue 14, item 1), and the kernel with
 * precision bf16 (oneDNN), on the nanogpt training shapes in ttml's own
 * layouts: forward NT (x @ W^T), dX NN (dy @ W), dW TN (dy^T @ x, beta 1).
 *
 * Built and run by bench/run.sh (case matmul_kernel): linked against the
 * build tree's libttml and libopenblas, run with OPENBLAS_CORETYPE=SkylakeX
 * (AVX-512) and OPENBLAS_THREAD_TIMEOUT=14 as ttml-run's driver sets them.
 * Each measurement: 2 warm-up calls, then the median of REPS calls.
 * Prints per shape:
 *   bench case=matmul_kernel shape=MxNxK layout=NT kernel_gflops=... blas_gflops=...
 *         ratio=... bf16_gflops=...
 * ratio = kernel time / BLAS time (target: at most 1.10).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttml/ttml.h>

#include "bench_common.h"

#define REPS 15

typedef struct {
    int64_t M, N, K;
    int ta, tb;
    float beta;
    const char *layout;
} shape;

static double median_kernel(ttml_tensor *a, ttml_tensor *b, ttml_tensor *c, const shape *s, int precision)
{
    ttml_matmul_params p = {s->ta, s->tb, 1.0f, s->beta, precision};
    ttml_tensor *in[2] = {a, b};
    ttml_launch l;
    bench_launch_init(&l, "matmul", in, 2, &c, 1, &p, sizeof p);
    double t[REPS];
    for (int r = -2; r < REPS; r++) {
        GError *err = NULL;
        double t0 = bench_now();
        if (!ttml_kernel_launch(ttml_context_get_device(), &l, &err)) {
            fprintf(stderr, "matmul: %s\n", err->message);
            exit(1);
        }
        if (r >= 0) t[r] = bench_now() - t0;
    }
    return bench_median(t, REPS);
}

static double median_blas(const float *a, const float *b, float *c, const shape *s)
{
    const int M = (int)s->M, N = (int)s->N, K = (int)s->K;
    double t[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, M, N, K,
                    1.0f, a, s->ta ? M : K, b, s->tb ? K : N, s->beta, c, N);
        if (r >= 0) t[r] = bench_now() - t0;
    }
    return bench_median(t, REPS);
}

static ttml_tensor *tensor(int64_t rows, int64_t cols, const float *data)
{
    GError *err = NULL;
    int64_t sh[2] = {rows, cols};
    ttml_tensor *t = ttml_tensor_from_floats(ttml_context_get_device(), 2, sh, data, &err);
    if (!t) {
        fprintf(stderr, "tensor: %s\n", err->message);
        exit(1);
    }
    return t;
}

int main(void)
{
    GError *err = NULL;
    if (!ttml_init(NULL, &err) || !ttml_context_open_device("cpu", &err)) {
        fprintf(stderr, "ttml: %s\n", err->message);
        return 1;
    }
    /* nanogpt: 512 tokens, width 384; qkv 384->1152, proj, fc 384->1536,
     * fc2 1536->384, head 384->96 */
    const int64_t tok = 512, E = 384;
    const int64_t outs[4][2] = {{E, 3 * E}, {E, E}, {E, 4 * E}, {4 * E, E}};
    for (int i = 0; i < 4; i++) {
        const int64_t in = outs[i][0], out = outs[i][1];
        const shape shapes[3] = {
            {tok, out, in, 0, 1, 0.0f, "NT"},    /* y = x @ W^T      */
            {tok, in, out, 0, 0, 0.0f, "NN"},    /* dx = dy @ W      */
            {out, in, tok, 1, 0, 1.0f, "TN"},    /* dW += dy^T @ x   */
        };
        for (int k = 0; k < 3; k++) {
            const shape *s = &shapes[k];
            const int64_t ar = s->ta ? s->K : s->M, ac = s->ta ? s->M : s->K;
            const int64_t br = s->tb ? s->N : s->K, bc = s->tb ? s->K : s->N;
            float *a = malloc(sizeof(float) * (size_t)(ar * ac)), *b = malloc(sizeof(float) * (size_t)(br * bc));
            float *c = calloc((size_t)(s->M * s->N), sizeof(float));
            for (int64_t j = 0; j < ar * ac; j++) a[j] = (float)((j * 7) % 13) * 0.01f;
            for (int64_t j = 0; j < br * bc; j++) b[j] = (float)((j * 5) % 11) * 0.01f;
            ttml_tensor *ta = tensor(ar, ac, a), *tb = tensor(br, bc, b), *tc = tensor(s->M, s->N, c);
            const double flop = 2.0 * (double)s->M * (double)s->N * (double)s->K * 1e-9;
            const double tk = median_kernel(ta, tb, tc, s, TTML_PRECISION_FP32);
            const double tbl = median_blas(a, b, c, s);
            const double t16 = median_kernel(ta, tb, tc, s, TTML_PRECISION_BF16);
            printf("bench case=matmul_kernel shape=%" PRId64 "x%" PRId64 "x%" PRId64 " layout=%s beta=%g "
                   "kernel_gflops=%.1f blas_gflops=%.1f ratio=%.3f bf16_gflops=%.1f\n",
                   s->M, s->N, s->K, s->layout, s->beta, flop / tk, flop / tbl, tk / tbl, flop / t16);
            fflush(stdout);
            ttml_tensor_unref(ta);
            ttml_tensor_unref(tb);
            ttml_tensor_unref(tc);
            free(a);
            free(b);
            free(c);
        }
    }
    ttml_shutdown();
    return 0;
}
