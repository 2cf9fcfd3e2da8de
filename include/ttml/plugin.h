/* ttml/plugin.h - the plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 *     const ttml_plugin_desc *ttml_plugin_<NAME>_get_desc(void);
 * where NAME is derived from the file name: "libttml_cpu.so" -> "cpu",
 * "ttml_my_ops.so" -> "my_ops", "foo-bar.so" -> "foo_bar" (a leading "lib"
 * and "ttml_" are dropped, '-' becomes '_'). Use TTML_PLUGIN_DEFINE below and
 * build with -fvisibility=hidden.
 *
 * The core dlopens the file (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE), reads the
 * static descriptor, checks the ABI (major must equal TTML_ABI_MAJOR, minor
 * must not exceed TTML_ABI_MINOR), calls probe() (0 = unusable here) and then
 * init(plugin, host), which registers features through the host table. No
 * plugin code may register anything from an ELF constructor.
 *
 * ABI evolution: within a major version, structs only grow at the tail and
 * carry struct_size; a NULL or missing tail entry means "not supported".
 *   1.0  first version.
 *   1.1  ttml_buffer carries the shape and dtype it is allocated for
 *        (ndim / shape / dtype, set by the core before alloc(); ndim 0 =
 *        unknown), so a driver can charge its real layout at allocation.
 *   1.2  plugin kind TTML_PLUGIN_COMM and host->register_comm (ttml/comm.h),
 *        appended at the tail of ttml_host: check host->struct_size before
 *        calling it (a 1.2 plugin loaded by a 1.1 core sees it missing).
 *   1.3  ttml_op_desc grows default_params (params used when a caller
 *        passes NULL) and param_fields (the params struct's fields by
 *        name, so configs can set them: `activation: {op: leaky_relu,
 *        slope: 0.1}`); see ttml/ops.h. The core reads them only when the
 *        descriptor's struct_size covers them: older op descriptors still
 *        register, their ops have no defaults and no config fields.
 */
#ifndef TTML_PLUGIN_H
#define TTML_PLUGIN_H

#include <ttml/types.h>
#include <ttml/error.h>

G_BEGIN_DECLS

#define TTML_ABI_MAJOR 1
#define TTML_ABI_MINOR 3

typedef enum {
    TTML_PLUGIN_DRIVER = 1,
    TTML_PLUGIN_OPS,
    TTML_PLUGIN_MODEL,
    TTML_PLUGIN_OPTIMIZER,
    TTML_PLUGIN_SCHEDULER,
    TTML_PLUGIN_LAYER,
    TTML_PLUGIN_COMM,            /* ABI 1.2: communicator backends (comm.h) */
} ttml_plugin_kind;

TTML_API const char *ttml_plugin_kind_name(ttml_plugin_kind kind);

typedef struct ttml_host ttml_host;

typedef struct ttml_plugin_desc {
    size_t struct_size;          /* sizeof(ttml_plugin_desc) at build time  */
    guint16 abi_major;           /* TTML_ABI_MAJOR at build time            */
    guint16 abi_minor;           /* TTML_ABI_MINOR at build time            */
    ttml_plugin_kind kind;
    const char *name;            /* unique; equals the file-name stem       */
    const char *version;
    const char *description;
    const char *license;
    /* Optional. Return 0 when the plugin cannot work on this machine. */
    int (*probe)(void);
    /* Register features through `host`. On failure set `error`, return FALSE:
     * everything the plugin registered is withdrawn. */
    gboolean (*init)(ttml_plugin *plugin, const ttml_host *host, GError **error);
    /* Optional, called at ttml_shutdown(). The file is never dlclosed. */
    void (*fini)(ttml_plugin *plugin);
} ttml_plugin_desc;

/* Forward declarations of the feature descriptors (see their headers). */
typedef struct ttml_driver_iface ttml_driver_iface;
typedef struct ttml_layer_desc ttml_layer_desc;
typedef struct ttml_op_desc ttml_op_desc;
typedef struct ttml_model_desc ttml_model_desc;
typedef struct ttml_optimizer_desc ttml_optimizer_desc;
typedef struct ttml_scheduler_desc ttml_scheduler_desc;
typedef struct ttml_comm_iface ttml_comm_iface;
typedef struct ttml_launch ttml_launch;
typedef gboolean (*ttml_kernel_fn)(ttml_device *device, const ttml_launch *launch, GError **error);

/* The table handed to init(). Descriptors passed in must stay valid for the
 * life of the process (use static storage); names are copied. Registering a
 * name that is already registered fails with TTML_ERROR_PLUGIN naming both
 * plugins. */
struct ttml_host {
    size_t struct_size;
    guint16 abi_major, abi_minor;
    gboolean (*register_driver)(ttml_plugin *plugin, const ttml_driver_iface *iface, GError **error);
    /* A kernel for one driver ("cpu", "ttsim", ...); the driver need not be loaded yet. */
    gboolean (*register_kernel)(ttml_plugin *plugin, const char *driver, const char *kernel,
                                ttml_kernel_fn fn, GError **error);
    gboolean (*register_op)(ttml_plugin *plugin, const ttml_op_desc *op, GError **error);
    gboolean (*register_model)(ttml_plugin *plugin, const ttml_model_desc *model, GError **error);
    gboolean (*register_optimizer)(ttml_plugin *plugin, const ttml_optimizer_desc *opt, GError **error);
    gboolean (*register_scheduler)(ttml_plugin *plugin, const ttml_scheduler_desc *sched, GError **error);
    gboolean (*register_layer)(ttml_plugin *plugin, const ttml_layer_desc *layer, GError **error);
    void (*log)(ttml_plugin *plugin, GLogLevelFlags level, const char *format, ...) G_GNUC_PRINTF(3, 4);
    /* ABI 1.2: a communicator backend (comm.h). */
    gboolean (*register_comm)(ttml_plugin *plugin, const ttml_comm_iface *comm, GError **error);
};

#define TTML_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Define the plugin's entry point. Example:
 *   TTML_PLUGIN_DEFINE(my_ops, TTML_PLUGIN_OPS, "0.1.0", "Squared ReLU", "MIT",
 *                      NULL, my_init, NULL)
 */
#define TTML_PLUGIN_DEFINE(NAME, KIND, VERSION, DESCRIPTION, LICENSE, PROBE, INIT, FINI) \
    TTML_PLUGIN_EXPORT const ttml_plugin_desc *ttml_plugin_##NAME##_get_desc(void);        \
    TTML_PLUGIN_EXPORT const ttml_plugin_desc *ttml_plugin_##NAME##_get_desc(void)         \
    {                                                                                     \
        static const ttml_plugin_desc desc = {                                            \
            sizeof(ttml_plugin_desc), TTML_ABI_MAJOR, TTML_ABI_MINOR, KIND, #NAME,        \
            VERSION, DESCRIPTION, LICENSE, PROBE, INIT, FINI};                            \
        return &desc;                                                                     \
    }

/* Accessors for a loaded plugin (valid while the process lives). */
TTML_API const char *ttml_plugin_get_name(const ttml_plugin *plugin);
TTML_API const char *ttml_plugin_get_path(const ttml_plugin *plugin);

G_END_DECLS

#endif
