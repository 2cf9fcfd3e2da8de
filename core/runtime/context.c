/* core/runtime/context.c - process-wide context (TT-Train's AutoContext): plugin
 * registry, default device, graph. The API is not thread-safe: one thread
 * drives training, kernels may use threads internally. */
#include "internal.h"
#include "profile_internal.h"

static gboolean initialized;
static ttml_device *default_device;
static GPtrArray *graph;

void ttml_graph_free_func_init(GPtrArray *g);

GPtrArray *ttml_ctx_graph(void) { return graph; }

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
    graph = g_ptr_array_new();
    ttml_graph_free_func_init(graph);
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
    if (graph) ttml_reset_graph();
    g_clear_pointer(&graph, g_ptr_array_unref);
    default_device = NULL;
    ttml_devices_close_all();
    ttml_memory_free_snapshots();
    ttml_loader_fini_all();
    ttml_registry_clear();
    ttml_set_grad_enabled(TRUE);
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
