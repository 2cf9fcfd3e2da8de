/* core/runtime/internal.h - private state of libttml (never installed). */
#ifndef TTML_CORE_INTERNAL_H
#define TTML_CORE_INTERNAL_H

#include <ttml/ttml.h>

#define TTML_LOG_DOMAIN "ttml"

struct ttml_plugin {
    const ttml_plugin_desc *desc;
    char *path;
    char *name;
    void *handle;
    gboolean initialized;
};

struct ttml_device {
    const ttml_driver_iface *iface;    /* the driver's (or the outer layer's) vtable */
    ttml_driver_iface layer_iface;     /* storage when a layer wraps the driver       */
    void *state;                       /* returned by iface->open                     */
    ttml_device_info info;
    char *spec;
    char *driver_name;                 /* the driver the kernels are looked up for    */
    GHashTable *kernels;               /* kernel name -> ttml_kernel_fn (registry's)  */
    GHashTable *fallback_logged;       /* kernel names already reported               */
    guint64 mem_current[TTML_MEM_KIND_COUNT];
    guint64 mem_peak[TTML_MEM_KIND_COUNT];
};

/* ---- registry (registry.c) ---- */
void ttml_registry_init(void);
void ttml_registry_clear(void);
const ttml_host *ttml_registry_host(void);
/* Withdraw everything `plugin` registered (init failed). */
void ttml_registry_withdraw(ttml_plugin *plugin);
const ttml_driver_iface *ttml_registry_find_driver(const char *name);
const ttml_layer_desc *ttml_registry_find_layer(const char *name);
const ttml_comm_iface *ttml_registry_find_comm(const char *name);
/* The kernel table of `driver` (created on demand; owned by the registry). */
GHashTable *ttml_registry_kernel_table(const char *driver);
/* Not-found error for a feature kind, listing the available names and the
 * rejected plugin files (not_found.c). */
void ttml_set_not_found(GError **error, ttml_feature_kind kind, const char *what, const char *name);

/* ---- op parameters (ops/op_params.c) ---- */
/* At registration: defaults need params_size > 0, every param_fields entry
 * fits the params struct; else TTML_ERROR_PLUGIN naming op and plugin. */
gboolean ttml_op_desc_check_params(const ttml_op_desc *op, const char *plugin, GError **error);

/* ---- built-in plugins (builtin.c; the table is generated) ---- */
typedef const ttml_plugin_desc *(*ttml_builtin_entry_fn)(void);
typedef struct ttml_builtin_plugin { const char *name; ttml_builtin_entry_fn get_desc; } ttml_builtin_plugin;
/* The generated table (builtin_plugins.c), terminated by {NULL, NULL}. */
extern const ttml_builtin_plugin ttml_builtin_plugins[];
/* The plugins compiled into libttml, terminated by {NULL, NULL} (static). */
const ttml_builtin_plugin *ttml_builtin_table(void);

/* ---- loader (loader.c owns the plugin records and the search path) ---- */
gboolean ttml_loader_load_all(const ttml_init_options *options, GError **error);
void ttml_loader_fini_all(void);
/* Free a plugin record and the strings it owns (the records array's free func). */
void ttml_loader_record_free(gpointer p);
/* Descriptor and ABI checks, probe and init of the descriptor `d` that the
 * entry of plugin `stem` returned (handle NULL when built in); fills r.
 * What every plugin file goes through; called directly by the fuzz harness. */
void ttml_loader_load_desc(const ttml_plugin_desc *d, const char *stem, void *handle, ttml_plugin_record *r);

/* ---- devices (device.c) ---- */
void ttml_devices_close_all(void);
/* A copy of the list of open devices (ttml_device*, in order of opening;
 * g_ptr_array_unref it; the devices stay valid until ttml_shutdown). Rank
 * threads of a mesh may open devices meanwhile. */
GPtrArray *ttml_devices_copy(void);

/* ---- zones (profile.c owns the thread's open zones) ---- */
/* Where this thread is, from its open zones: "op 'matmul' (forward)",
 * "backward of op 'matmul'", "op 'add' in the backward of 'mul'" or "step
 * phase 'optimizer'". FALSE (buf untouched) outside any of them. */
gboolean ttml_zone_describe(char *buf, size_t size);

/* ---- autograd (autograd.c owns the step's graph) ---- */
/* Create the empty graph (ttml_init); until then ops record no nodes. */
void ttml_graph_init(void);
/* Free the calling thread's graph, hooks and nodes, re-enable its gradients
 * and stop creating graphs (ttml_shutdown). */
void ttml_graph_fini(void);
/* Free the calling thread's graph, nodes and hooks and re-enable its
 * gradients (ttml_context_thread_end); graphs stay enabled. */
void ttml_graph_thread_end(void);

/* ---- rng (rng.c owns the per-thread generator state) ---- */
/* Reset the calling thread's generator to the default seed. */
void ttml_rng_thread_reset(void);

#endif
