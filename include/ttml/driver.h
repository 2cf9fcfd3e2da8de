/* ttml/driver.h - the device driver ABI (a vtable per device type, after
 * ggml's backend interface) and named kernels.
 *
 * A driver plugin calls host->register_driver(plugin, &iface) from init().
 * The core opens devices through the vtable, tracks every allocation per
 * memory kind (current and peak bytes), and launches named kernels.
 *
 * Kernels are registered per driver by name ("matmul", "binary", ...; the
 * parameter structs of the standard kernels are in ttml/kernels.h). When the
 * device's driver has no kernel of that name the core runs the "cpu" kernel
 * on host copies of the operands and logs that once: a run never fails for a
 * missing fast path.
 */
#ifndef TTML_DRIVER_H
#define TTML_DRIVER_H

#include <ttml/plugin.h>

G_BEGIN_DECLS

typedef struct ttml_device_info {
    size_t struct_size;
    char name[64];                          /* "cpu", "ttsim:wormhole_b0"   */
    char arch[64];                          /* "x86_64 SkylakeX", ...       */
    char description[512];                  /* free text for ttml-inspect   */
    guint64 mem_bytes[TTML_MEM_KIND_COUNT]; /* capacity per kind, 0 = none  */
    int n_cores;                            /* compute cores used           */
    int n_threads;                          /* host threads the driver uses */
    guint32 dtypes;                         /* bitmask of (1u << ttml_dtype) */
    guint32 layouts;                        /* bitmask of (1u << ttml_layout) */
    /* Added in ABI 1.2 without a version change: a driver writes it only when
     * the core's struct_size covers it. Bytes one f32 element takes in the
     * device's memory (ttsim: 2 with bf16 storage, 4 with fp32, 1.0625 with
     * bfp8_b); 0 = unknown (4 is assumed). Used with mem_bytes to tell
     * whether a model fits before it is allocated. */
    double stored_f32_bytes;
} ttml_device_info;

/* Device memory. The core allocates the struct and fills device/size/kind
 * (and, since ABI 1.1, the shape and dtype the buffer is made for); the
 * driver's alloc() sets `data` (host-addressable drivers such as cpu: the
 * bytes themselves) and may use `handle` for its own bookkeeping. */
struct ttml_buffer {
    ttml_device *device;
    size_t size;
    ttml_mem_kind kind;
    ttml_layout layout;
    void *data;
    void *handle;
    gint ref;            /* core-managed; tensors sharing a buffer each hold one */
    /* ABI 1.1: what the buffer is first allocated for (a hint: views may
     * later see it with another shape of the same size). ndim 0 = unknown
     * (a raw byte buffer); then shape and dtype are unset. */
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    ttml_dtype dtype;
};

/* A tensor as a kernel sees it: contiguous, row-major logical shape. */
typedef struct ttml_view {
    ttml_buffer *buf;
    size_t offset;                     /* bytes from buf->data                 */
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    ttml_dtype dtype;
} ttml_view;

#define TTML_LAUNCH_MAX_IN 8
#define TTML_LAUNCH_MAX_OUT 4

/* One kernel launch: named kernel, inputs, outputs and a parameter struct
 * (borrowed for the duration of the call). */
struct ttml_launch {
    const char *kernel;
    int n_in, n_out;
    ttml_view in[TTML_LAUNCH_MAX_IN];
    ttml_view out[TTML_LAUNCH_MAX_OUT];
    const void *params;
    size_t params_size;
};

/* Elements of a view: the product of its shape (1 when ndim is 0). */
TTML_API size_t ttml_view_numel(const ttml_view *v);
/* For kernels on host memory (cpu): the address of the view's first element
 * after checking that it is `dtype`, has `numel` elements and lies inside a
 * host buffer. NULL with an error naming the kernel and `slot` ("in[0]")
 * otherwise. The pointer is borrowed for the launch. */
TTML_API void *ttml_view_data(const ttml_launch *l, const ttml_view *v, const char *slot, ttml_dtype dtype,
                              size_t numel, GError **error);

/* Host <-> device copies describe the tensor so that the driver can convert
 * layout and storage format (row-major host data in `dtype`). */
typedef struct ttml_transfer {
    ttml_buffer *buf;
    size_t offset;
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    ttml_dtype dtype;
} ttml_transfer;

/* Counters a driver may report (simulators: simulated device time). */
typedef struct ttml_device_stats {
    size_t struct_size;
    guint64 launches;            /* kernel launches so far                        */
    double sim_time_s;           /* simulated device seconds so far (0: not a sim) */
    double sim_last_launch_s;    /* simulated seconds of the last launch           */
    double sim_flops;            /* floating-point operations so far              */
    double peak_flops;           /* the device's peak FLOP/s (0: unknown)          */
    /* Simulated seconds of collectives charged with
     * ttml_device_charge_collective (part of sim_time_s). */
    double sim_comm_s;
} ttml_device_stats;

/* The inter-chip transfer pattern of one collective as this chip sees it,
 * for simulators (a multi-chip mesh charges each chip's device): `steps`
 * sequential steps in each of which the chip sends `bytes_per_step` bytes to
 * its neighbour over `links` Ethernet links used in parallel, e.g. a ring
 * all-reduce of B bytes over n chips is steps = 2(n-1), bytes_per_step = B/n.
 * The driver fills `seconds` with its modelled time (steps x (link latency +
 * bytes_per_step / (links x link bandwidth))) and adds it to its simulated
 * time. */
typedef struct ttml_collective_cost {
    size_t struct_size;
    const char *name;            /* "all-reduce", ... (static; reports)           */
    guint64 bytes;               /* the collective's payload on this chip (reports) */
    int steps;
    double bytes_per_step;
    int links;                   /* >= 1                                           */
    double seconds;              /* out                                            */
} ttml_collective_cost;

/* The driver vtable. `dev` is the driver's own state returned by open().
 * Entries after `synchronize` may be NULL (not supported). */
struct ttml_driver_iface {
    size_t struct_size;
    const char *name;                         /* "cpu", "ttsim", "profiler"   */
    const char *description;
    /* options: the text after "name:" in a device string, or "" */
    void *(*open)(const char *options, ttml_device_info *info, GError **error);
    void (*close)(void *dev);
    gboolean (*alloc)(void *dev, ttml_buffer *buf, GError **error);
    void (*free)(void *dev, ttml_buffer *buf);
    gboolean (*write)(void *dev, const ttml_transfer *dst, const void *src, GError **error);
    gboolean (*read)(void *dev, const ttml_transfer *src, void *dst, GError **error);
    /* Run `fn` (a kernel registered for this driver, or NULL when the core
     * found none) for `launch`. Drivers normally just call fn. */
    gboolean (*launch)(void *dev, ttml_device *device, ttml_kernel_fn fn,
                       const ttml_launch *launch, GError **error);
    gboolean (*synchronize)(void *dev, GError **error);
    /* Optional: fill `out` (its struct_size set by the caller). */
    gboolean (*stats)(void *dev, ttml_device_stats *out);
    /* Optional (simulators): model and charge a collective's transfers,
     * filling c->seconds. */
    gboolean (*charge_collective)(void *dev, ttml_collective_cost *c, GError **error);
};

/* A layer wraps the driver below it (profiler). wrap() fills `out` from a
 * copy of `next`, overriding what it measures; `next_dev` is the state
 * returned by next->open. Returns the layer's own device state. */
struct ttml_layer_desc {
    size_t struct_size;
    const char *name;
    const char *description;
    void *(*wrap)(const ttml_driver_iface *next, void *next_dev, ttml_driver_iface *out,
                  const char *options, GError **error);
};

/* ---- core API used by ops and tools ---- */

/* Open a device by string "NAME[:OPTIONS]" (e.g. "cpu", "ttsim:wormhole_b0").
 * Unknown names fail with TTML_ERROR_NOT_FOUND listing the known drivers.
 * The returned device is owned by the core (closed by ttml_shutdown). */
TTML_API ttml_device *ttml_device_open(const char *spec, GError **error);
TTML_API const ttml_device_info *ttml_device_get_info(const ttml_device *device);
TTML_API const char *ttml_device_driver_name(const ttml_device *device);
/* Current and peak allocated bytes of one memory kind. */
TTML_API guint64 ttml_device_mem_current(const ttml_device *device, ttml_mem_kind kind);
TTML_API guint64 ttml_device_mem_peak(const ttml_device *device, ttml_mem_kind kind);
TTML_API void ttml_device_reset_peak(ttml_device *device);
TTML_API gboolean ttml_device_synchronize(ttml_device *device, GError **error);
/* Driver counters; FALSE (and zeros) when the driver reports none. */
TTML_API gboolean ttml_device_get_stats(ttml_device *device, ttml_device_stats *out);
/* Charge the simulated time of a collective's transfers to a simulated
 * device (see ttml_collective_cost; c->seconds is filled). Errors:
 * TTML_ERROR_UNSUPPORTED when the driver models no inter-chip links (cpu). */
TTML_API gboolean ttml_device_charge_collective(ttml_device *device, ttml_collective_cost *c, GError **error);
/* Driver-private state returned by open() (for kernels of that driver). */
TTML_API void *ttml_device_get_driver_state(const ttml_device *device);

/* Allocate a buffer of `size` bytes (refcount 1). Out-of-memory fails with
 * TTML_ERROR_OOM naming the request, the budget and what is in use. */
TTML_API ttml_buffer *ttml_buffer_new(ttml_device *device, size_t size, ttml_mem_kind kind, GError **error);
/* The same for a tensor of `shape` and `dtype` (size = numel x dtype size):
 * the driver's alloc() sees the shape and dtype (ABI 1.1). */
TTML_API ttml_buffer *ttml_buffer_new_shaped(ttml_device *device, int ndim, const int64_t *shape, ttml_dtype dtype,
                                             ttml_mem_kind kind, GError **error);
TTML_API ttml_buffer *ttml_buffer_ref(ttml_buffer *buf);
TTML_API void ttml_buffer_unref(ttml_buffer *buf);

/* Launch a named kernel on `device` (fallback to cpu, see above). Fails with
 * TTML_ERROR_NOT_FOUND when no driver has the kernel. */
TTML_API gboolean ttml_kernel_launch(ttml_device *device, const ttml_launch *launch, GError **error);
/* TRUE when `driver` has its own kernel called `kernel`. */
TTML_API gboolean ttml_kernel_exists(const char *driver, const char *kernel);
/* The kernel `driver` registered as `kernel`, or NULL (e.g. a simulator
 * driver running the cpu implementation on converted data). */
TTML_API ttml_kernel_fn ttml_kernel_find(const char *driver, const char *kernel);

G_END_DECLS

#endif
