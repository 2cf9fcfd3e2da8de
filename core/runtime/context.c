/* core/runtime/context.c - process-wide context (TT-Train's AutoContext): plugin
 * registry and loader, default device (autograd.c owns the graph). The API is not thread-safe: one thread
 * drives training, kernels may use threads internally. */
#include "internal.h"
#include "profile_internal.h"

static gboolean initialized;
static ttml_device *default_device;
static ttml_precision matmul_precision = TTML_PRECISION_FP32;

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
    default_device = NULL;
    matmul_precision = TTML_PRECISION_FP32;
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
    if (d) default_device = d;
    return d;
}

void ttml_context_clear_device(void) { default_device = NULL; }
ttml_device *ttml_context_get_device(void) { return default_device; }

ttml_precision ttml_get_matmul_precision(void) { return matmul_precision; }

ttml_precision ttml_set_matmul_precision(ttml_precision precision)
{
    ttml_precision old = matmul_precision;
    matmul_precision = precision == TTML_PRECISION_BF16 ? TTML_PRECISION_BF16 : TTML_PRECISION_FP32;
    return old;
}
