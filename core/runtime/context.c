/* core/runtime/context.c - the context (TT-Train's AutoContext): process-wide
 * plugin registry, loader and open devices; the default device per thread
 * (autograd.c owns the per-thread graph, rng.c the per-thread generator).
 * ttml_init / ttml_shutdown and device opening belong to one thread at a
 * time; rank threads of a mesh each drive their own device and graph. */
#include "internal.h"
#include "profile_internal.h"

static gboolean initialized;
static ttml_device *process_device;             /* atomic: the last device opened by any thread */
static _Thread_local ttml_device *thread_device; /* this thread's own (NULL: process_device)    */
static gint matmul_precision = TTML_PRECISION_FP32; /* atomic */

gboolean ttml_init(const ttml_init_options *options, GError **error)
{
    if (initialized) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_init called twice; call ttml_shutdown first");
        return FALSE;
    }
    if (options && options->struct_size < sizeof(size_t)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttml_init_options.struct_size not set");
        return FALSE;
    }
    ttml_registry_init();
    ttml_graph_init();
    initialized = TRUE;
    if (!ttml_loader_load_all(options, error)) {
        ttml_shutdown();
        return FALSE;
    }
    return TRUE;
}

void ttml_shutdown(void)
{
    if (!initialized) return;
    ttml_graph_fini();
    thread_device = NULL;
    g_atomic_pointer_set(&process_device, NULL);
    g_atomic_int_set(&matmul_precision, TTML_PRECISION_FP32);
    ttml_devices_close_all();
    ttml_memory_free_snapshots();
    ttml_loader_fini_all();
    ttml_registry_clear();
    initialized = FALSE;
}

ttml_device *ttml_context_open_device(const char *spec, GError **error)
{
    if (!initialized) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "call ttml_init before opening a device");
        return NULL;
    }
    ttml_device *d = ttml_device_open(spec, error);
    if (d) {
        thread_device = d;
        g_atomic_pointer_set(&process_device, d);
    }
    return d;
}

void ttml_context_clear_device(void)
{
    g_atomic_pointer_compare_and_exchange(&process_device, thread_device ? thread_device : process_device, NULL);
    thread_device = NULL;
}

ttml_device *ttml_context_get_device(void)
{
    return thread_device ? thread_device : g_atomic_pointer_get(&process_device);
}

void ttml_context_set_thread_device(ttml_device *device) { thread_device = device; }

void ttml_context_thread_end(void)
{
    ttml_graph_thread_end();
    ttml_rng_thread_reset();
    thread_device = NULL;
}

ttml_precision ttml_get_matmul_precision(void) { return (ttml_precision)g_atomic_int_get(&matmul_precision); }

ttml_precision ttml_set_matmul_precision(ttml_precision precision)
{
    gint v = precision == TTML_PRECISION_BF16 ? TTML_PRECISION_BF16 : TTML_PRECISION_FP32;
    gint old;
    do old = g_atomic_int_get(&matmul_precision);
    while (!g_atomic_int_compare_and_exchange(&matmul_precision, old, v));
    return (ttml_precision)old;
}
