/* drivers/cpu/cpu_blas.c - OpenBLAS, loaded at run time.
 *
 * Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels in an
 * ELF constructor, reading OPENBLAS_CORETYPE there and only there. On AVX-512
 * machines it chooses the Haswell kernels (about 100 GFLOP/s on 2 threads
 * here) although its SkylakeX kernels reach about 180. So the driver does not
 * link libopenblas: it sets OPENBLAS_CORETYPE and then dlopens the library.
 *
 * Policy: TTML_BLAS_CORETYPE (ttml's own knob) is used as given; otherwise,
 * on a CPU with AVX-512 (F, BW, VL, DQ) the driver picks SkylakeX even when
 * the environment presets OPENBLAS_CORETYPE to something slower (machine
 * images often export OPENBLAS_CORETYPE=Haswell for other software); the
 * device description says what was overridden. Otherwise OPENBLAS_CORETYPE is
 * left alone. When OpenBLAS was already loaded in the process (a Python
 * program imports NumPy, which links it, before ttml opens the device), its
 * constructor has already chosen from the environment as it was then; the
 * driver then re-runs OpenBLAS's own re-initialisation (what it does after a
 * fork: stop its threads, re-read the environment, choose the kernels again;
 * the threads restart on the next threaded call) when the kernels or the
 * thread timeout differ from what it would have loaded. Without those
 * exported functions (a build without DYNAMIC_ARCH) nothing changes and
 * openblas_get_corename() reports what runs.
 *
 * Threads: OpenBLAS keeps its own threads for large single GEMMs (its
 * threaded GEMM shares the packed panels between threads: about 15% faster
 * on 2 cores than cutting the product into independent single-threaded
 * GEMMs). But by default each OpenBLAS worker spins in sched_yield for 2^28
 * cycles (~0.1 s) after every GEMM, i.e. all the time during training,
 * fighting the driver's pool for the same cores. So unless the environment
 * sets OPENBLAS_THREAD_TIMEOUT, the driver loads OpenBLAS with
 * OPENBLAS_THREAD_TIMEOUT=TTML_OPENBLAS_TIMEOUT (2^14 cycles, a few
 * microseconds: enough for back-to-back GEMMs; the variable is removed again
 * after loading): its workers sleep between GEMMs.
 */
#include "cpu_internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

ttml_cpu_blas ttml_cpu_blas_lib;

#define TTML_OPENBLAS_SONAME "libopenblas.so.0"
#define TTML_OPENBLAS_TIMEOUT "14"

static gboolean cpu_has_avx512_skylakex(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return FALSE;
#endif
}

static void *blas_sym(void *handle, const char *name, GString *missing)
{
    void *p = dlsym(handle, name);
    if (!p) g_string_append_printf(missing, "%s%s", missing->len ? ", " : "", name);
    return p;
}

/* OpenBLAS was loaded before the driver (NumPy): choose its kernels and
 * thread timeout again under the environment the driver has just set. */
static void blas_reinit_loaded(void *handle, const char *pick, gboolean set_timeout)
{
    const char *(*corename)(void) = (const char *(*)(void))dlsym(handle, "openblas_get_corename");
    void (*shutdown)(void) = (void (*)(void))dlsym(handle, "blas_thread_shutdown_");
    void (*read_env)(void) = (void (*)(void))dlsym(handle, "openblas_read_env");
    void (*quit)(void) = (void (*)(void))dlsym(handle, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(handle, "gotoblas_dynamic_init");
    if (!corename || !shutdown || !read_env || !quit || !init) return;
    gboolean other_core = pick && g_ascii_strcasecmp(corename(), pick) != 0;
    if (!other_core && !set_timeout) return;
    shutdown();
    read_env();
    if (other_core) {
        quit();
        init();
    }
}

gboolean ttml_cpu_blas_load(GError **error)
{
    ttml_cpu_blas *b = &ttml_cpu_blas_lib;
    if (b->handle) return TRUE;

    const char *env = g_getenv("OPENBLAS_CORETYPE");
    const char *ours = g_getenv("TTML_BLAS_CORETYPE");
    if (env) g_strlcpy(b->coretype_env, env, sizeof b->coretype_env);
    const char *pick = ours && *ours ? ours : cpu_has_avx512_skylakex() ? "SkylakeX" : NULL;
    if (pick && g_strcmp0(env, pick) != 0) {
        setenv("OPENBLAS_CORETYPE", pick, 1);
        g_strlcpy(b->coretype_set, pick, sizeof b->coretype_set);
    }

    /* read by OpenBLAS's constructor only */
    const gboolean set_timeout = g_getenv("OPENBLAS_THREAD_TIMEOUT") == NULL;
    if (set_timeout) setenv("OPENBLAS_THREAD_TIMEOUT", TTML_OPENBLAS_TIMEOUT, 1);
    void *loaded = dlopen(TTML_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    void *handle = loaded ? loaded : dlopen(TTML_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (loaded) blas_reinit_loaded(loaded, getenv("OPENBLAS_CORETYPE"), set_timeout);
    if (set_timeout) unsetenv("OPENBLAS_THREAD_TIMEOUT");
    if (!handle) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "cpu driver: cannot load OpenBLAS (%s): %s; install it with "
                    "'apt-get install libopenblas0' (Debian/Ubuntu) or put %s on the "
                    "library search path (LD_LIBRARY_PATH)",
                    TTML_OPENBLAS_SONAME, dlerror(), TTML_OPENBLAS_SONAME);
        return FALSE;
    }

    GString *missing = g_string_new(NULL);
    ttml_cpu_blas tmp = {0};
    tmp.handle = handle;
    *(void **)&tmp.sgemm = blas_sym(handle, "cblas_sgemm", missing);
    *(void **)&tmp.set_num_threads = blas_sym(handle, "openblas_set_num_threads", missing);
    *(void **)&tmp.get_num_threads = blas_sym(handle, "openblas_get_num_threads", missing);
    *(void **)&tmp.get_corename = blas_sym(handle, "openblas_get_corename", missing);
    *(void **)&tmp.get_config = blas_sym(handle, "openblas_get_config", missing);
    if (missing->len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "cpu driver: %s lacks %s; it is not OpenBLAS or too old: install "
                    "'libopenblas0' (Debian/Ubuntu) and make sure %s resolves to it",
                    TTML_OPENBLAS_SONAME, missing->str, TTML_OPENBLAS_SONAME);
        g_string_free(missing, TRUE);
        /* never dlclose: OpenBLAS may have started threads */
        return FALSE;
    }
    g_string_free(missing, TRUE);
    g_strlcpy(tmp.coretype_set, b->coretype_set, sizeof tmp.coretype_set);
    g_strlcpy(tmp.coretype_env, b->coretype_env, sizeof tmp.coretype_env);
    *b = tmp;
    return TRUE;
}

const char *ttml_cpu_blas_corename(void)
{
    const ttml_cpu_blas *b = &ttml_cpu_blas_lib;
    const char *name = b->handle && b->get_corename ? b->get_corename() : NULL;
    return name && *name ? name : "unknown";
}

const char *ttml_cpu_blas_config(void)
{
    const ttml_cpu_blas *b = &ttml_cpu_blas_lib;
    const char *cfg = b->handle && b->get_config ? b->get_config() : NULL;
    return cfg && *cfg ? cfg : "unknown";
}
