/* core/runtime/device.c - open devices through driver vtables (and layers), track
 * memory per kind, and dispatch named kernels with the cpu fallback. */
#include "internal.h"

#include <string.h>

static GPtrArray *devices;      /* ttml_device*, owned */
static ttml_device *cpu_device; /* for fallbacks (one of `devices`) */
/* Held while a device is opened or the list read: rank threads of a mesh
 * open devices (a ttsim chip opens the cpu device on its first launch). */
static GRecMutex devices_lock;

static void device_close(ttml_device *d)
{
    if (d->state) d->iface->close(d->state);
    g_free(d->spec);
    g_free(d->driver_name);
    if (d->fallback_logged) g_hash_table_unref(d->fallback_logged);
    g_free(d);
}

void ttml_devices_close_all(void)
{
    g_rec_mutex_lock(&devices_lock);
    for (guint i = devices ? devices->len : 0; i-- > 0;) device_close(g_ptr_array_index(devices, i));
    g_clear_pointer(&devices, g_ptr_array_unref);
    cpu_device = NULL;
    g_rec_mutex_unlock(&devices_lock);
}

/* spec: "[LAYER:]...DRIVER[:OPTIONS]", e.g. "cpu", "ttsim:n300,dram=64M",
 * "profiler:ttsim:wormhole_b0". A leading component that names a layer wraps
 * the device the rest of the spec opens. */
static ttml_device *device_open_spec(const char *spec, GError **error)
{
    char *name = g_strdup(spec);
    char *colon = strchr(name, ':');
    const char *options = "";
    if (colon) {
        *colon = '\0';
        options = colon + 1;
    }
    const ttml_layer_desc *layer = ttml_registry_find_layer(name);
    if (layer && *options) {
        ttml_device *inner = device_open_spec(options, error);
        if (!inner) {
            g_free(name);
            return NULL;
        }
        /* the layer takes over the inner device: it becomes the outer one */
        ttml_driver_iface wrapped = {0};
        void *state = layer->wrap(inner->iface, inner->state, &wrapped, "", error);
        if (!state) {
            g_prefix_error(error, "layer '%s': ", name);
            g_free(name);
            return NULL;
        }
        inner->layer_iface = wrapped;
        inner->iface = &inner->layer_iface;
        inner->state = state;
        char *outer = g_strdup_printf("%s:%s", name, inner->spec);
        g_free(inner->spec);
        inner->spec = outer;
        g_free(name);
        return inner;
    }
    const ttml_driver_iface *iface = ttml_registry_find_driver(name);
    if (!iface) {
        ttml_set_not_found(error, TTML_FEATURE_DRIVER, "device driver", name);
        g_free(name);
        return NULL;
    }
    ttml_device *d = g_new0(ttml_device, 1);
    d->iface = iface;
    d->info.struct_size = sizeof d->info;
    d->state = iface->open(options, &d->info, error);
    if (!d->state) {
        g_prefix_error(error, "cannot open device '%s': ", spec);
        g_free(d);
        g_free(name);
        return NULL;
    }
    if (!d->info.name[0]) g_strlcpy(d->info.name, spec, sizeof d->info.name);
    d->spec = g_strdup(spec);
    d->driver_name = name;
    d->kernels = ttml_registry_kernel_table(name);
    d->fallback_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!devices) devices = g_ptr_array_new();
    g_ptr_array_add(devices, d);
    if (!cpu_device && strcmp(name, "cpu") == 0) cpu_device = d;
    return d;
}

/* TRUE when one of the leading layer components of `spec` is `layer`. */
static gboolean spec_has_layer(const char *spec, const char *layer)
{
    char **parts = g_strsplit(spec, ":", -1);
    gboolean found = FALSE;
    for (int i = 0; parts[i] && parts[i + 1] && ttml_registry_find_layer(parts[i]); i++)
        if (strcmp(parts[i], layer) == 0) found = TRUE;
    g_strfreev(parts);
    return found;
}

/* TTML_LAYERS=a,b (read with secure_getenv) wraps every device opened in the
 * layers named, the first outermost ("a:b:SPEC"); a layer the spec already
 * names is not applied twice. */
static ttml_device *device_open_env(const char *spec, GError **error)
{
    const char *env = secure_getenv("TTML_LAYERS");
    if (!env || !*env) return device_open_spec(spec, error);
    char **names = g_strsplit(env, ",", -1);
    GString *full = g_string_new(NULL);
    gboolean ok = TRUE;
    for (int i = 0; ok && names[i]; i++) {
        char *n = g_strstrip(names[i]);
        if (!*n) continue;
        if (!ttml_registry_find_layer(n)) {
            ttml_set_not_found(error, TTML_FEATURE_LAYER, "layer (from TTML_LAYERS)", n);
            ok = FALSE;
        } else if (!spec_has_layer(spec, n)) {
            g_string_append_printf(full, "%s:", n);
        }
    }
    g_string_append(full, spec);
    ttml_device *d = ok ? device_open_spec(full->str, error) : NULL;
    g_string_free(full, TRUE);
    g_strfreev(names);
    return d;
}

ttml_device *ttml_device_open(const char *spec, GError **error)
{
    if (!spec || !*spec) spec = "cpu";
    g_rec_mutex_lock(&devices_lock);
    ttml_device *d = device_open_env(spec, error);
    g_rec_mutex_unlock(&devices_lock);
    return d;
}

GPtrArray *ttml_devices_copy(void)
{
    g_rec_mutex_lock(&devices_lock);
    GPtrArray *copy = g_ptr_array_new();
    for (guint i = 0; devices && i < devices->len; i++) g_ptr_array_add(copy, g_ptr_array_index(devices, i));
    g_rec_mutex_unlock(&devices_lock);
    return copy;
}

const ttml_device_info *ttml_device_get_info(const ttml_device *d) { return &d->info; }
const char *ttml_device_driver_name(const ttml_device *d) { return d->driver_name; }
void *ttml_device_get_driver_state(const ttml_device *d) { return d->state; }
guint64 ttml_device_mem_current(const ttml_device *d, ttml_mem_kind k) { return d->mem_current[k]; }
guint64 ttml_device_mem_peak(const ttml_device *d, ttml_mem_kind k) { return d->mem_peak[k]; }

void ttml_device_reset_peak(ttml_device *d)
{
    memcpy(d->mem_peak, d->mem_current, sizeof d->mem_peak);
}

gboolean ttml_device_synchronize(ttml_device *d, GError **error)
{
    return d->iface->synchronize ? d->iface->synchronize(d->state, error) : TRUE;
}

gboolean ttml_device_get_stats(ttml_device *d, ttml_device_stats *out)
{
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    if (d->iface->struct_size < offsetof(ttml_driver_iface, stats) + sizeof(void *) || !d->iface->stats)
        return FALSE;
    return d->iface->stats(d->state, out);
}

gboolean ttml_device_charge_collective(ttml_device *d, ttml_collective_cost *c, GError **error)
{
    if (d->iface->struct_size < offsetof(ttml_driver_iface, charge_collective) + sizeof(void *) ||
        !d->iface->charge_collective) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "device %s: driver '%s' does not model inter-chip links, so collectives cannot be charged "
                    "simulated time (use a ttsim device)", d->spec, d->driver_name);
        return FALSE;
    }
    c->seconds = 0.0;
    return d->iface->charge_collective(d->state, c, error);
}

/* ---- buffers ---- */

/* Counters are atomic: threads of a mesh may share a device (the cpu one). */
static void mem_add(ttml_device *d, ttml_mem_kind kind, size_t size)
{
    guint64 cur = __atomic_add_fetch(&d->mem_current[kind], (guint64)size, __ATOMIC_RELAXED);
    guint64 peak = __atomic_load_n(&d->mem_peak[kind], __ATOMIC_RELAXED);
    while (cur > peak &&
           !__atomic_compare_exchange_n(&d->mem_peak[kind], &peak, cur, TRUE, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static ttml_buffer *buffer_new(ttml_device *d, size_t size, int ndim, const int64_t *shape, ttml_dtype dtype,
                               ttml_mem_kind kind, GError **error)
{
    if ((unsigned)kind >= TTML_MEM_KIND_COUNT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "invalid memory kind %d", (int)kind);
        return NULL;
    }
    ttml_buffer *b = g_new0(ttml_buffer, 1);
    b->device = d;
    b->size = size;
    b->kind = kind;
    b->ref = 1;
    if (ndim > 0 && ndim <= TTML_MAX_DIMS && shape) {
        b->ndim = ndim;
        memcpy(b->shape, shape, (size_t)ndim * sizeof(int64_t));
        b->dtype = dtype;
    }
    if (!d->iface->alloc(d->state, b, error)) {
        /* "device D, op 'matmul' (forward), tensor f32 [4, 384]: <the driver's reason>" */
        char where[256] = "", what[160];
        if (ttml_zone_describe(where + 2, sizeof where - 2)) memcpy(where, ", ", 2);
        if (b->ndim > 0) {
            /* (tensor.c's ttml_shape_str would make the two files call each other) */
            int n = g_snprintf(what, sizeof what, "tensor %s [", ttml_dtype_name(dtype));
            for (int i = 0; i < b->ndim && n < (int)sizeof what; i++)
                n += g_snprintf(what + n, sizeof what - (size_t)n, "%s%" G_GINT64_FORMAT, i ? ", " : "", b->shape[i]);
            if (n < (int)sizeof what - 1) g_strlcat(what, "]", sizeof what);
        } else {
            g_snprintf(what, sizeof what, "a %zu-byte buffer", size);
        }
        g_prefix_error(error, "device %s%s, %s: ", d->spec, where, what);
        g_free(b);
        return NULL;
    }
    mem_add(d, kind, size);
    return b;
}

ttml_buffer *ttml_buffer_new(ttml_device *d, size_t size, ttml_mem_kind kind, GError **error)
{
    return buffer_new(d, size, 0, NULL, TTML_DTYPE_F32, kind, error);
}

ttml_buffer *ttml_buffer_new_shaped(ttml_device *d, int ndim, const int64_t *shape, ttml_dtype dtype,
                                    ttml_mem_kind kind, GError **error)
{
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i] > 0 ? (size_t)shape[i] : 0;
    return buffer_new(d, numel * ttml_dtype_size(dtype), ndim, shape, dtype, kind, error);
}

ttml_buffer *ttml_buffer_ref(ttml_buffer *b)
{
    g_atomic_int_inc(&b->ref);
    return b;
}

void ttml_buffer_unref(ttml_buffer *b)
{
    if (!b || !g_atomic_int_dec_and_test(&b->ref)) return;
    ttml_device *d = b->device;
    d->iface->free(d->state, b);
    __atomic_sub_fetch(&d->mem_current[b->kind], (guint64)b->size, __ATOMIC_RELAXED);
    g_free(b);
}

/* ---- kernels ---- */

static ttml_device *fallback_device(GError **error)
{
    g_rec_mutex_lock(&devices_lock);
    ttml_device *cpu = cpu_device;
    if (!cpu && ttml_device_open("cpu", error)) cpu = cpu_device;
    g_rec_mutex_unlock(&devices_lock);
    return cpu;
}

/* Copy a device view to a new host (cpu) buffer, or back. */
static gboolean view_to_host(ttml_device *cpu, const ttml_view *v, ttml_view *h, GError **error)
{
    size_t numel = 1;
    for (int i = 0; i < v->ndim; i++) numel *= (size_t)v->shape[i];
    *h = *v;
    h->offset = 0;
    h->buf = ttml_buffer_new(cpu, numel * ttml_dtype_size(v->dtype), TTML_MEM_HOST, error);
    if (!h->buf) return FALSE;
    ttml_device *d = v->buf->device;
    ttml_transfer t = {v->buf, v->offset, v->ndim, {0}, v->dtype};
    memcpy(t.shape, v->shape, sizeof t.shape);
    return d->iface->read(d->state, &t, h->buf->data, error);
}

static gboolean host_to_view(const ttml_view *h, const ttml_view *v, GError **error)
{
    ttml_device *d = v->buf->device;
    ttml_transfer t = {v->buf, v->offset, v->ndim, {0}, v->dtype};
    memcpy(t.shape, v->shape, sizeof t.shape);
    return d->iface->write(d->state, &t, h->buf->data, error);
}

static gboolean launch_fallback(ttml_device *d, const ttml_launch *l, GError **error)
{
    ttml_device *cpu = fallback_device(error);
    if (!cpu) return FALSE;
    ttml_kernel_fn fn = g_hash_table_lookup(cpu->kernels, l->kernel);
    if (!fn) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "kernel '%s' is implemented neither by driver '%s' nor by the cpu fallback; "
                    "load the plugin that provides it", l->kernel, d->driver_name);
        return FALSE;
    }
    if (!g_hash_table_contains(d->fallback_logged, l->kernel)) {
        g_hash_table_add(d->fallback_logged, g_strdup(l->kernel));
        g_log(TTML_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
              "driver '%s' has no kernel '%s': running the cpu kernel on host copies (slower)",
              d->driver_name, l->kernel);
    }
    ttml_launch h = *l;
    gboolean ok = TRUE;
    int n_in = 0, n_out = 0;
    for (; ok && n_in < l->n_in; n_in++) ok = view_to_host(cpu, &l->in[n_in], &h.in[n_in], error);
    for (; ok && n_out < l->n_out; n_out++) ok = view_to_host(cpu, &l->out[n_out], &h.out[n_out], error);
    if (ok) ok = cpu->iface->launch(cpu->state, cpu, fn, &h, error);
    for (int i = 0; ok && i < l->n_out; i++) ok = host_to_view(&h.out[i], &l->out[i], error);
    for (int i = 0; i < n_in; i++) if (h.in[i].buf) ttml_buffer_unref(h.in[i].buf);
    for (int i = 0; i < n_out; i++) if (h.out[i].buf) ttml_buffer_unref(h.out[i].buf);
    return ok;
}

gboolean ttml_kernel_launch(ttml_device *d, const ttml_launch *l, GError **error)
{
    ttml_kernel_fn fn = g_hash_table_lookup(d->kernels, l->kernel);
    if (G_LIKELY(fn)) return d->iface->launch(d->state, d, fn, l, error);
    if (strcmp(d->driver_name, "cpu") == 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "no kernel '%s' for driver 'cpu'; load the plugin that provides it", l->kernel);
        return FALSE;
    }
    return launch_fallback(d, l, error);
}
