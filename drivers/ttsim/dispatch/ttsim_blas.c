/* drivers/ttsim/dispatch/ttsim_blas.c - OpenBLAS for the native kernels' per-core
 * block products (matmul, sdpa).
 *
 * ttsim does not link OpenBLAS: it takes the library the cpu driver loaded
 * (dlopen RTLD_NOLOAD: the same kernels, chosen by the cpu driver's
 * OPENBLAS_CORETYPE policy), else loads libopenblas.so.0 itself. The
 * simulated cores already run on the host threads, so OpenBLAS runs one
 * thread per call inside a grid run (ttsim_blas_single_begin / _end).
 */
#include "ttsim_internal.h"

#include <dlfcn.h>

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static struct {
    gsize once;
    sgemm_fn sgemm;
    set_threads_fn set_threads;
    get_threads_fn get_threads;
} blas;

gboolean ttsim_blas_load(void)
{
    if (g_once_init_enter(&blas.once)) {
        void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
        if (!h) h = dlopen("libopenblas.so.0", RTLD_NOW);
        if (h) {
            *(void **)&blas.sgemm = dlsym(h, "cblas_sgemm");
            *(void **)&blas.set_threads = dlsym(h, "openblas_set_num_threads");
            *(void **)&blas.get_threads = dlsym(h, "openblas_get_num_threads");
        }
        g_once_init_leave(&blas.once, 1);
    }
    return blas.sgemm != NULL;
}

void ttsim_sgemm(int ta, int tb, gint64 m, gint64 n, gint64 k, float alpha, const float *a, gint64 lda,
                 const float *b, gint64 ldb, float beta, float *c, gint64 ldc)
{
    blas.sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m,
               (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

int ttsim_blas_single_begin(void)
{
    int prev = blas.get_threads ? blas.get_threads() : 1;
    if (blas.set_threads) blas.set_threads(1);
    return prev;
}

void ttsim_blas_single_end(int prev)
{
    if (blas.set_threads) blas.set_threads(prev);
}
