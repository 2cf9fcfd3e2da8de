/* core/loader.c - plugin discovery and loading (after GStreamer's registry).
 *
 * Search order, first basename wins: --plugin-path dirs, --plugin files,
 * TTML_PLUGIN_PATH, the ttml/{drivers,plugins} dirs beside libttml (found with
 * dladdr), then the compile-time dir. Every file tried gets a record; a bad
 * plugin is reported, never fatal. Files are dlopened RTLD_NOW | RTLD_LOCAL |
 * RTLD_NODELETE and never closed. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static GPtrArray *loaded_plugins; /* ttml_plugin*, in load order */
static char *library_path;

const char *ttml_plugin_status_name(ttml_plugin_status status)
{
    static const char *const names[] = {"ok", "dlopen failed", "not a plugin", "ABI mismatch",
                                        "probe zero", "init failed", "crashed", "shadowed",
                                        "filtered"};
    return (unsigned)status <= TTML_PLUGIN_FILTERED ? names[status] : "?";
}

const char *ttml_origin_name(ttml_origin origin)
{
    static const char *const names[] = {"--plugin-path", "--plugin", "TTML_PLUGIN_PATH",
                                        "beside libttml", "compile-time"};
    return (unsigned)origin <= TTML_ORIGIN_COMPILED ? names[origin] : "?";
}

const char *ttml_plugin_kind_name(ttml_plugin_kind kind)
{
    switch (kind) {
    case TTML_PLUGIN_DRIVER: return "driver";
    case TTML_PLUGIN_OPS: return "ops";
    case TTML_PLUGIN_MODEL: return "model";
    case TTML_PLUGIN_OPTIMIZER: return "optimizer";
    case TTML_PLUGIN_SCHEDULER: return "scheduler";
    case TTML_PLUGIN_LAYER: return "layer";
    }
    return "?";
}

const char *ttml_plugin_get_name(const ttml_plugin *plugin) { return plugin->name; }
const char *ttml_plugin_get_path(const ttml_plugin *plugin) { return plugin->path; }
const char *ttml_version_string(void) { return TTML_VERSION; }

const char *ttml_library_path(void)
{
    if (!library_path) {
        Dl_info info;
        if (dladdr((void *)&ttml_library_path, &info) && info.dli_fname) {
            char *real = realpath(info.dli_fname, NULL);
            library_path = g_strdup(real ? real : info.dli_fname);
            free(real);
        } else {
            library_path = g_strdup("");
        }
    }
    return library_path;
}

/* "libttml_cpu.so" -> "cpu"; "foo-bar.so" -> "foo_bar". */
char *ttml_plugin_stem(const char *path);
char *ttml_plugin_stem(const char *path)
{
    char *base = g_path_get_basename(path);
    const char *s = base;
    if (g_str_has_prefix(s, "lib")) s += 3;
    if (g_str_has_prefix(s, "ttml_")) s += 5;
    char *stem = g_strdup(s);
    char *dot = strstr(stem, ".so");
    if (dot) *dot = '\0';
    for (char *p = stem; *p; p++)
        if (*p == '-' || *p == '.') *p = '_';
    g_free(base);
    return stem;
}

static ttml_plugin_record *new_record(const char *path, ttml_origin origin)
{
    ttml_plugin_record *r = g_new0(ttml_plugin_record, 1);
    r->path = g_strdup(path);
    r->origin = origin;
    g_ptr_array_add(ttml_registry_records_mut(), r);
    return r;
}

static void reject(ttml_plugin_record *r, ttml_plugin_status status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void reject(ttml_plugin_record *r, ttml_plugin_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->status = status;
    r->message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (status != TTML_PLUGIN_SHADOWED && status != TTML_PLUGIN_FILTERED)
        g_log(TTML_LOG_DOMAIN, G_LOG_LEVEL_INFO, "plugin %s rejected (%s): %s", r->path,
              ttml_plugin_status_name(status), r->message);
}

/* Size of the v1.0 descriptor: everything up to and including init. */
#define DESC_MIN_SIZE (offsetof(ttml_plugin_desc, init) + sizeof(void *))

static void load_file(const char *path, ttml_origin origin, GHashTable *seen)
{
    char *base = g_path_get_basename(path);
    const char *first = g_hash_table_lookup(seen, base);
    ttml_plugin_record *r = new_record(path, origin);
    if (first) {
        reject(r, TTML_PLUGIN_SHADOWED, "shadowed by %s (found earlier in the search path)", first);
        g_free(base);
        return;
    }
    g_hash_table_insert(seen, base, g_strdup(path));

    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
        const char *e = dlerror();
        reject(r, TTML_PLUGIN_DLOPEN_FAILED, "%s", e ? e : "dlopen failed");
        return;
    }
    char *stem = ttml_plugin_stem(path);
    char *symbol = g_strdup_printf("ttml_plugin_%s_get_desc", stem);
    typedef const ttml_plugin_desc *(*entry_fn)(void);
    entry_fn entry;
    *(void **)&entry = dlsym(handle, symbol);
    if (!entry) {
        reject(r, TTML_PLUGIN_NOT_A_PLUGIN,
               "no entry symbol '%s' (a ttml plugin exports ttml_plugin_<name>_get_desc, "
               "with <name> taken from the file name)", symbol);
        goto out;
    }
    const ttml_plugin_desc *d = entry();
    if (!d || d->struct_size < DESC_MIN_SIZE) {
        reject(r, TTML_PLUGIN_ABI_MISMATCH, "descriptor is %s (struct_size %zu < %zu): rebuild the plugin "
               "against this ttml", d ? "too small" : "NULL", d ? d->struct_size : 0, (size_t)DESC_MIN_SIZE);
        goto out;
    }
    r->abi_major = d->abi_major;
    r->abi_minor = d->abi_minor;
    r->kind = d->kind;
    r->name = g_strdup(d->name);
    r->version = g_strdup(d->version);
    r->description = g_strdup(d->description);
    r->license = g_strdup(d->license);
    if (d->abi_major != TTML_ABI_MAJOR) {
        reject(r, TTML_PLUGIN_ABI_MISMATCH,
               "built for plugin ABI %u.%u but this libttml (%s) provides %d.%d: rebuild the plugin "
               "against this ttml", d->abi_major, d->abi_minor, ttml_version_string(), TTML_ABI_MAJOR,
               TTML_ABI_MINOR);
        goto out;
    }
    if (d->abi_minor > TTML_ABI_MINOR) {
        reject(r, TTML_PLUGIN_ABI_MISMATCH,
               "needs plugin ABI %u.%u but this libttml (%s) provides only %d.%d: upgrade ttml or use "
               "a plugin built for this version", d->abi_major, d->abi_minor, ttml_version_string(),
               TTML_ABI_MAJOR, TTML_ABI_MINOR);
        goto out;
    }
    if (!d->name || strcmp(d->name, stem) != 0 || !d->init) {
        reject(r, TTML_PLUGIN_NOT_A_PLUGIN, "descriptor %s (name '%s', file stem '%s')",
               !d->init ? "has no init function" : "name does not match the file name",
               d->name ? d->name : "(null)", stem);
        goto out;
    }
    if (d->probe && d->probe() == 0) {
        reject(r, TTML_PLUGIN_PROBE_ZERO, "probe() reports the plugin unusable on this machine");
        goto out;
    }
    ttml_plugin *p = g_new0(ttml_plugin, 1);
    p->desc = d;
    p->path = g_strdup(path);
    p->name = g_strdup(d->name);
    p->handle = handle;
    GError *err = NULL;
    if (!d->init(p, ttml_registry_host(), &err)) {
        ttml_registry_withdraw(p);
        reject(r, TTML_PLUGIN_INIT_FAILED, "init failed: %s", err ? err->message : "(no message)");
        g_clear_error(&err);
        /* the plugin object stays allocated: features may have pointed at it */
        g_ptr_array_add(loaded_plugins, p);
        goto out;
    }
    p->initialized = TRUE;
    r->status = TTML_PLUGIN_OK;
    r->plugin = p;
    g_ptr_array_add(loaded_plugins, p);
out:
    g_free(symbol);
    g_free(stem);
}

static void add_search_dir(const char *path, ttml_origin origin)
{
    GPtrArray *sp = ttml_registry_search_path_mut();
    for (guint i = 0; i < sp->len; i++) {
        ttml_search_dir *d = g_ptr_array_index(sp, i);
        if (strcmp(d->path, path) == 0) return;
    }
    ttml_search_dir *d = g_new0(ttml_search_dir, 1);
    d->path = g_strdup(path);
    d->origin = origin;
    d->exists = g_file_test(path, G_FILE_TEST_IS_DIR);
    g_ptr_array_add(sp, d);
}

/* A configured root "X" is scanned as X/drivers, X/plugins and X itself, so
 * users may point at an install's lib/ttml or at a flat folder of plugins. */
static void add_root(const char *root, ttml_origin origin)
{
    if (!root || !*root) return;
    char *drivers = g_build_filename(root, "drivers", NULL);
    char *plugins = g_build_filename(root, "plugins", NULL);
    add_search_dir(root, origin);
    add_search_dir(drivers, origin);
    add_search_dir(plugins, origin);
    g_free(drivers);
    g_free(plugins);
}

static void add_path_list(const char *list, ttml_origin origin)
{
    if (!list) return;
    char **parts = g_strsplit(list, ":", -1);
    for (char **p = parts; *p; p++) add_root(*p, origin);
    g_strfreev(parts);
}

static gint str_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void scan_dir(const ttml_search_dir *d, GHashTable *seen)
{
    if (!d->exists) return;
    GDir *dir = g_dir_open(d->path, 0, NULL);
    if (!dir) return;
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    while ((n = g_dir_read_name(dir)))
        if (g_str_has_suffix(n, ".so")) g_ptr_array_add(names, g_strdup(n));
    g_dir_close(dir);
    g_ptr_array_sort(names, str_cmp);
    for (guint i = 0; i < names->len; i++) {
        char *full = g_build_filename(d->path, g_ptr_array_index(names, i), NULL);
        if (g_file_test(full, G_FILE_TEST_IS_REGULAR)) load_file(full, d->origin, seen);
        g_free(full);
    }
    g_ptr_array_unref(names);
}

gboolean ttml_loader_load_all(const ttml_init_options *o, GError **error)
{
    loaded_plugins = g_ptr_array_new();
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    GPtrArray *sp = ttml_registry_search_path_mut();

    if (o && o->plugin_paths)
        for (const char *const *p = o->plugin_paths; *p; p++) add_path_list(*p, TTML_ORIGIN_CMDLINE_PATH);
    guint n_cmdline_dirs = sp->len;
    if (!(o && o->skip_env_path)) add_path_list(secure_getenv("TTML_PLUGIN_PATH"), TTML_ORIGIN_ENV);
    if (!(o && o->skip_default_path)) {
        const char *lib = ttml_library_path();
        if (lib && *lib) {
            char *libdir = g_path_get_dirname(lib);
            char *root = g_build_filename(libdir, TTML_PLUGIN_SUBDIR, NULL);
            add_root(root, TTML_ORIGIN_RELATIVE);
            g_free(root);
            g_free(libdir);
        }
        char *compiled = realpath(TTML_COMPILED_PLUGIN_DIR, NULL);
        add_root(compiled ? compiled : TTML_COMPILED_PLUGIN_DIR, TTML_ORIGIN_COMPILED);
        free(compiled);
    }

    /* --plugin-path dirs, then --plugin files, then the rest of the path. */
    for (guint i = 0; i < n_cmdline_dirs; i++) scan_dir(g_ptr_array_index(sp, i), seen);
    if (o && o->plugin_files) {
        for (const char *const *f = o->plugin_files; *f; f++) {
            if (!g_file_test(*f, G_FILE_TEST_EXISTS)) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                            "--plugin %s: no such file; give the path of a plugin .so", *f);
                g_hash_table_unref(seen);
                return FALSE;
            }
            load_file(*f, TTML_ORIGIN_CMDLINE_FILE, seen);
        }
    }
    for (guint i = n_cmdline_dirs; i < sp->len; i++) scan_dir(g_ptr_array_index(sp, i), seen);
    g_hash_table_unref(seen);
    return TRUE;
}

void ttml_loader_fini_all(void)
{
    if (!loaded_plugins) return;
    for (guint i = loaded_plugins->len; i-- > 0;) {
        ttml_plugin *p = g_ptr_array_index(loaded_plugins, i);
        if (p->initialized && p->desc->fini) p->desc->fini(p);
        g_free(p->path);
        g_free(p->name);
        g_free(p);
    }
    g_clear_pointer(&loaded_plugins, g_ptr_array_unref);
    g_clear_pointer(&library_path, g_free);
}
