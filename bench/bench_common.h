/* bench/bench_common.h - helpers shared by the C bench programs (each one
 * is compiled on its own by bench/run.sh, so they are static inline): a
 * monotonic clock, the median of a run of timings, a kernel launch over
 * whole tensors (as the ops build it), tensors and launches that exit on error. */
#ifndef TTML_BENCH_COMMON_H
#define TTML_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ttml/ttml.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of t[0..n) (sorts t). */
static inline double bench_median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], bench_cmp_double);
    return t[n / 2];
}

/* *l = a launch of `kernel` reading in[0..n_in) and writing out[0..n_out)
 * (whole tensors); params is borrowed. */
static inline void bench_launch_init(ttml_launch *l, const char *kernel, ttml_tensor *const *in, int n_in,
                                     ttml_tensor *const *out, int n_out, const void *params, size_t params_size)
{
    memset(l, 0, sizeof *l);
    l->kernel = kernel;
    l->n_in = n_in;
    l->n_out = n_out;
    for (int i = 0; i < n_in; i++) l->in[i] = ttml_tensor_view(in[i]);
    for (int i = 0; i < n_out; i++) l->out[i] = ttml_tensor_view(out[i]);
    l->params = params;
    l->params_size = params_size;
}

/* A tensor of the context's device holding data (ndim dims); exits on failure. */
static inline ttml_tensor *bench_tensor(int ndim, const int64_t *shape, const float *data)
{
    GError *err = NULL;
    ttml_tensor *t = ttml_tensor_from_floats(ttml_context_get_device(), ndim, shape, data, &err);
    if (!t) {
        fprintf(stderr, "tensor: %s\n", err->message);
        exit(1);
    }
    return t;
}

/* Launch l on the context's device; exits with the error on failure. */
static inline void bench_run(ttml_launch *l)
{
    GError *err = NULL;
    if (!ttml_kernel_launch(ttml_context_get_device(), l, &err)) {
        fprintf(stderr, "%s: %s\n", l->kernel, err->message);
        exit(1);
    }
}

#endif
