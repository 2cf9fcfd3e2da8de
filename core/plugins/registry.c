/* core/plugins/registry.c - the feature registry and the host table handed to
 * plugins: drivers, kernels (per driver), ops, models, optimizers,
 * schedulers and layers, each remembered with the plugin that provided it. */
#include "internal.h"

#include <ttml/profile_zones.h>

#include <stdarg.h>
#include <string.h>

typedef struct {
    GHashTable *by_kind[TTML_FEATURE_COMM + 1]; /* name -> ttml_feature* (owned) */
    GHashTable *kernel_tables;                   /* driver -> (kernel -> fn)      */
    GPtrArray *features_sorted;                  /* rebuilt on demand             */
    GPtrArray *collisions;                       /* ttml_collision* (owned)       */
    char **replace;                              /* TTML_PLUGIN_REPLACE names     */
} ttml_registry;

static ttml_registry reg;

typedef struct {
    ttml_feature pub;
    const void *desc; /* the descriptor / iface / kernel fn */
} feature_entry;

static void collision_free(gpointer p)
{
    ttml_collision *c = p;
    g_free(c->name);
    g_free(c->newcomer_path);
    g_free(c->holder_path);
    g_free(c);
}

static void feature_free(gpointer p)
{
    feature_entry *f = p;
    g_free(f->pub.name);
    g_free(f);
}

void ttml_registry_init(void)
{
    for (int k = 0; k <= TTML_FEATURE_COMM; k++)
        reg.by_kind[k] = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, feature_free);
    reg.kernel_tables = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify)g_hash_table_unref);
    reg.collisions = g_ptr_array_new_with_free_func(collision_free);
    const char *replace = secure_getenv("TTML_PLUGIN_REPLACE");
    reg.replace = g_strsplit(replace ? replace : "", ",", -1);
}

void ttml_registry_clear(void)
{
    for (int k = 0; k <= TTML_FEATURE_COMM; k++)
        g_clear_pointer(&reg.by_kind[k], g_hash_table_unref);
    g_clear_pointer(&reg.kernel_tables, g_hash_table_unref);
    g_clear_pointer(&reg.features_sorted, g_ptr_array_unref);
    g_clear_pointer(&reg.collisions, g_ptr_array_unref);
    g_clear_pointer(&reg.replace, g_strfreev);
}

const GPtrArray *ttml_registry_collisions(void) { return reg.collisions; }

/* TRUE when TTML_PLUGIN_REPLACE lists `name` (kernels by "driver/kernel"). */
static gboolean replace_allowed(const char *name)
{
    for (char **r = reg.replace; r && *r; r++)
        if (**r && strcmp(g_strstrip(*r), name) == 0) return TRUE;
    return FALSE;
}

/* Remember that `plugin` asked for `name` of `kind`, already held by `holder`. */
static void record_collision(ttml_feature_kind kind, const char *name, const ttml_plugin *plugin,
                             const ttml_plugin *holder, gboolean replaced)
{
    ttml_collision *c = g_new0(ttml_collision, 1);
    c->kind = kind;
    c->name = g_strdup(name);
    c->newcomer_path = g_strdup(plugin ? plugin->path : "?");
    c->holder_path = g_strdup(holder ? holder->path : "?");
    c->replaced = replaced;
    g_ptr_array_add(reg.collisions, c);
}

const char *ttml_feature_kind_name(ttml_feature_kind kind)
{
    static const char *const names[] = {"driver", "kernel", "op", "model",
                                        "optimizer", "scheduler", "layer", "comm"};
    return (unsigned)kind <= TTML_FEATURE_COMM ? names[kind] : "?";
}

GHashTable *ttml_registry_kernel_table(const char *driver)
{
    if (!reg.kernel_tables) return NULL;
    GHashTable *t = g_hash_table_lookup(reg.kernel_tables, driver);
    if (!t) {
        t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert(reg.kernel_tables, g_strdup(driver), t);
    }
    return t;
}

static gboolean add_feature(ttml_plugin *plugin, ttml_feature_kind kind, const char *name,
                            const char *description, const void *desc, GError **error)
{
    if (!name || !*name) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "plugin '%s' registered a %s without a name",
                    plugin ? plugin->name : "?", ttml_feature_kind_name(kind));
        return FALSE;
    }
    feature_entry *old = g_hash_table_lookup(reg.by_kind[kind], name);
    if (old && old->pub.plugin == plugin) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "plugin '%s' registered %s '%s' twice",
                    plugin ? plugin->name : "?", ttml_feature_kind_name(kind), name);
        return FALSE;
    }
    if (old) {
        /* Only this registration fails (the plugin's init decides whether to go on);
         * TTML_PLUGIN_REPLACE=name lets the later plugin take the name deliberately. */
        gboolean replace = replace_allowed(name);
        record_collision(kind, name, plugin, old->pub.plugin, replace);
        if (!replace) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                        "%s '%s' from plugin '%s' (%s) is already registered by plugin '%s' (%s); "
                        "rename it in the newer plugin, remove one of the two files from the plugin "
                        "path, or set TTML_PLUGIN_REPLACE=%s to let the newer one replace it",
                        ttml_feature_kind_name(kind), name, plugin ? plugin->name : "?",
                        plugin ? plugin->path : "?", old->pub.plugin ? old->pub.plugin->name : "?",
                        old->pub.plugin ? old->pub.plugin->path : "?", name);
            return FALSE;
        }
        g_hash_table_remove(reg.by_kind[kind], name);
    }
    feature_entry *f = g_new0(feature_entry, 1);
    f->pub.kind = kind;
    f->pub.name = g_strdup(name);
    f->pub.description = description;
    f->pub.plugin = plugin;
    f->desc = desc;
    g_hash_table_insert(reg.by_kind[kind], f->pub.name, f);
    g_clear_pointer(&reg.features_sorted, g_ptr_array_unref);
    return TRUE;
}

static const void *find_feature(ttml_feature_kind kind, const char *name)
{
    if (!reg.by_kind[kind] || !name) return NULL;
    feature_entry *f = g_hash_table_lookup(reg.by_kind[kind], name);
    return f ? f->desc : NULL;
}

/* ---- host table entries ---- */

#define CHECK_STRUCT(ptr, what, minsize)                                                      \
    do {                                                                                      \
        if (!(ptr) || (ptr)->struct_size < (minsize)) {                                       \
            g_set_error(error, TTML_ERROR, TTML_ERROR_ABI,                                    \
                        "plugin '%s' passed a %s descriptor that is NULL or too small "       \
                        "(struct_size %zu, need >= %zu): rebuild it against this ttml",       \
                        plugin ? plugin->name : "?", what, (ptr) ? (ptr)->struct_size : 0,    \
                        (size_t)(minsize));                                                   \
            return FALSE;                                                                     \
        }                                                                                     \
    } while (0)

static gboolean host_register_driver(ttml_plugin *plugin, const ttml_driver_iface *iface, GError **error)
{
    CHECK_STRUCT(iface, "driver", offsetof(ttml_driver_iface, synchronize) + sizeof(void *));
    if (!iface->open || !iface->close || !iface->alloc || !iface->free || !iface->write ||
        !iface->read || !iface->launch) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "driver '%s' from plugin '%s' lacks a mandatory vtable entry "
                    "(open, close, alloc, free, write, read and launch are required)",
                    iface->name ? iface->name : "?", plugin ? plugin->name : "?");
        return FALSE;
    }
    return add_feature(plugin, TTML_FEATURE_DRIVER, iface->name, iface->description, iface, error);
}

static gboolean host_register_kernel(ttml_plugin *plugin, const char *driver, const char *kernel,
                                     ttml_kernel_fn fn, GError **error)
{
    if (!driver || !kernel || !fn) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "plugin '%s' registered a kernel with a NULL driver, name or function",
                    plugin ? plugin->name : "?");
        return FALSE;
    }
    char *full = g_strdup_printf("%s/%s", driver, kernel);
    gboolean ok = add_feature(plugin, TTML_FEATURE_KERNEL, full, NULL, (const void *)fn, error);
    g_free(full);
    if (ok) g_hash_table_insert(ttml_registry_kernel_table(driver), g_strdup(kernel), (gpointer)fn);
    return ok;
}

static gboolean host_register_op(ttml_plugin *plugin, const ttml_op_desc *op, GError **error)
{
    CHECK_STRUCT(op, "op", offsetof(ttml_op_desc, forward) + sizeof(void *));
    if (!op->forward) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "op '%s' of plugin '%s' has no forward",
                    op->name ? op->name : "?", plugin ? plugin->name : "?");
        return FALSE;
    }
    if (!ttml_op_desc_check_params(op, plugin ? plugin->name : "?", error)) return FALSE;
    return add_feature(plugin, TTML_FEATURE_OP, op->name, op->description, op, error);
}

static gboolean host_register_model(ttml_plugin *plugin, const ttml_model_desc *m, GError **error)
{
    CHECK_STRUCT(m, "model", offsetof(ttml_model_desc, create) + sizeof(void *));
    return add_feature(plugin, TTML_FEATURE_MODEL, m->name, m->description, m, error);
}

static gboolean host_register_optimizer(ttml_plugin *plugin, const ttml_optimizer_desc *o, GError **error)
{
    CHECK_STRUCT(o, "optimizer", offsetof(ttml_optimizer_desc, create) + sizeof(void *));
    return add_feature(plugin, TTML_FEATURE_OPTIMIZER, o->name, o->description, o, error);
}

static gboolean host_register_scheduler(ttml_plugin *plugin, const ttml_scheduler_desc *s, GError **error)
{
    CHECK_STRUCT(s, "scheduler", offsetof(ttml_scheduler_desc, create) + sizeof(void *));
    return add_feature(plugin, TTML_FEATURE_SCHEDULER, s->name, s->description, s, error);
}

static gboolean host_register_layer(ttml_plugin *plugin, const ttml_layer_desc *l, GError **error)
{
    CHECK_STRUCT(l, "layer", offsetof(ttml_layer_desc, wrap) + sizeof(void *));
    return add_feature(plugin, TTML_FEATURE_LAYER, l->name, l->description, l, error);
}

static gboolean host_register_comm(ttml_plugin *plugin, const ttml_comm_iface *c, GError **error)
{
    CHECK_STRUCT(c, "comm", offsetof(ttml_comm_iface, free) + sizeof(void *));
    if (!c->create_world || !c->rank || !c->size || !c->split || !c->ibarrier || !c->iallreduce ||
        !c->iallgather || !c->ireduce_scatter || !c->ibroadcast || !c->isend || !c->irecv || !c->wait ||
        !c->abort || !c->free) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "comm '%s' from plugin '%s' lacks a vtable entry (every entry up to free is required)",
                    c->name ? c->name : "?", plugin ? plugin->name : "?");
        return FALSE;
    }
    return add_feature(plugin, TTML_FEATURE_COMM, c->name, c->description, c, error);
}

static void host_log(ttml_plugin *plugin, GLogLevelFlags level, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_log(TTML_LOG_DOMAIN, level, "[%s] %s", plugin ? plugin->name : "?", msg);
    g_free(msg);
}

static const ttml_host host_table = {
    sizeof(ttml_host), TTML_ABI_MAJOR, TTML_ABI_MINOR,
    host_register_driver, host_register_kernel, host_register_op, host_register_model,
    host_register_optimizer, host_register_scheduler, host_register_layer, host_log,
    host_register_comm,
};

const ttml_host *ttml_registry_host(void) { return &host_table; }

void ttml_registry_withdraw(ttml_plugin *plugin)
{
    for (int k = 0; k <= TTML_FEATURE_COMM; k++) {
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, reg.by_kind[k]);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            feature_entry *f = value;
            if (f->pub.plugin != plugin) continue;
            if (k == TTML_FEATURE_KERNEL) {
                char *slash = strchr(f->pub.name, '/');
                char *drv = g_strndup(f->pub.name, (gsize)(slash - f->pub.name));
                g_hash_table_remove(ttml_registry_kernel_table(drv), slash + 1);
                g_free(drv);
            }
            g_hash_table_iter_remove(&it);
        }
    }
    g_clear_pointer(&reg.features_sorted, g_ptr_array_unref);
}

/* ---- lookups ---- */

const ttml_driver_iface *ttml_registry_find_driver(const char *name)
{
    return find_feature(TTML_FEATURE_DRIVER, name);
}
const ttml_layer_desc *ttml_registry_find_layer(const char *name)
{
    return find_feature(TTML_FEATURE_LAYER, name);
}
const ttml_comm_iface *ttml_registry_find_comm(const char *name)
{
    return find_feature(TTML_FEATURE_COMM, name);
}
const ttml_op_desc *ttml_op_find(const char *name) { return find_feature(TTML_FEATURE_OP, name); }
const ttml_model_desc *ttml_model_find(const char *name) { return find_feature(TTML_FEATURE_MODEL, name); }
const ttml_optimizer_desc *ttml_optimizer_find(const char *name)
{
    return find_feature(TTML_FEATURE_OPTIMIZER, name);
}
const ttml_scheduler_desc *ttml_scheduler_find(const char *name)
{
    return find_feature(TTML_FEATURE_SCHEDULER, name);
}

gboolean ttml_kernel_exists(const char *driver, const char *kernel)
{
    if (!reg.kernel_tables) return FALSE;
    GHashTable *t = g_hash_table_lookup(reg.kernel_tables, driver);
    return t && g_hash_table_contains(t, kernel);
}

ttml_kernel_fn ttml_kernel_find(const char *driver, const char *kernel)
{
    if (!reg.kernel_tables) return NULL;
    GHashTable *t = g_hash_table_lookup(reg.kernel_tables, driver);
    return t ? (ttml_kernel_fn)g_hash_table_lookup(t, kernel) : NULL;
}

static gint feature_cmp(gconstpointer a, gconstpointer b)
{
    const ttml_feature *fa = *(ttml_feature *const *)a, *fb = *(ttml_feature *const *)b;
    if (fa->kind != fb->kind) return (int)fa->kind - (int)fb->kind;
    return strcmp(fa->name, fb->name);
}

const GPtrArray *ttml_registry_features(void)
{
    if (!reg.features_sorted && reg.by_kind[0]) {
        reg.features_sorted = g_ptr_array_new();
        for (int k = 0; k <= TTML_FEATURE_COMM; k++) {
            GHashTableIter it;
            gpointer key, value;
            g_hash_table_iter_init(&it, reg.by_kind[k]);
            while (g_hash_table_iter_next(&it, &key, &value))
                g_ptr_array_add(reg.features_sorted, &((feature_entry *)value)->pub);
        }
        g_ptr_array_sort(reg.features_sorted, feature_cmp);
    }
    return reg.features_sorted;
}

char *ttml_registry_list_names(ttml_feature_kind kind)
{
    GString *s = g_string_new(NULL);
    const GPtrArray *all = ttml_registry_features();
    for (guint i = 0; all && i < all->len; i++) {
        const ttml_feature *f = g_ptr_array_index(all, i);
        if (f->kind != kind) continue;
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", f->name);
    }
    if (!s->len) g_string_append(s, "none");
    return g_string_free(s, FALSE);
}
