/* core/plugins/loader.c - plugin discovery and loading (after GStreamer's registry).
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
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <link.h>
#include <elf.h>

static GPtrArray *loaded_plugins; /* ttml_plugin*, in load order */
static GPtrArray *records;        /* ttml_plugin_record*, one per file tried */
static GPtrArray *search_path;    /* ttml_search_dir*                        */
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
                                        "beside libttml", "compile-time", "built-in"};
    return (unsigned)origin <= TTML_ORIGIN_BUILTIN ? names[origin] : "?";
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
    case TTML_PLUGIN_COMM: return "comm";
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

void ttml_loader_record_free(gpointer p)
{
    ttml_plugin_record *r = p;
    g_free(r->path);
    g_free(r->message);
    g_free(r->name);
    g_free(r->version);
    g_free(r->description);
    g_free(r->license);
    g_free(r);
}

static void search_dir_free(gpointer p)
{
    ttml_search_dir *d = p;
    g_free(d->path);
    g_free(d);
}

const GPtrArray *ttml_registry_records(void) { return records; }
const GPtrArray *ttml_registry_search_path(void) { return search_path; }

/* "libttml_cpu.so" -> "cpu"; "foo-bar.so" -> "foo_bar". */
static char *plugin_stem(const char *path)
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
    g_ptr_array_add(records, r);
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

/* Descriptor and ABI checks, probe and init of the descriptor `d` that the
 * entry of plugin `stem` returned (from a file, or built in: builtin.c's table, with
 * handle NULL); fills r (status OK with r->plugin set, or a rejection). */
static void load_desc(const ttml_plugin_desc *d, const char *stem, void *handle, ttml_plugin_record *r)
{
    if (!d || d->struct_size < DESC_MIN_SIZE) {
        reject(r, TTML_PLUGIN_ABI_MISMATCH, "descriptor is %s (struct_size %zu < %zu): rebuild the plugin "
               "against this ttml", d ? "too small" : "NULL", d ? d->struct_size : 0, (size_t)DESC_MIN_SIZE);
        return;
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
        return;
    }
    if (d->abi_minor > TTML_ABI_MINOR) {
        reject(r, TTML_PLUGIN_ABI_MISMATCH,
               "needs plugin ABI %u.%u but this libttml (%s) provides only %d.%d: upgrade ttml or use "
               "a plugin built for this version", d->abi_major, d->abi_minor, ttml_version_string(),
               TTML_ABI_MAJOR, TTML_ABI_MINOR);
        return;
    }
    if (!d->name || strcmp(d->name, stem) != 0 || !d->init) {
        reject(r, TTML_PLUGIN_NOT_A_PLUGIN, "descriptor %s (name '%s', file stem '%s')",
               !d->init ? "has no init function" : "name does not match the file name",
               d->name ? d->name : "(null)", stem);
        return;
    }
    if (d->probe && d->probe() == 0) {
        reject(r, TTML_PLUGIN_PROBE_ZERO, "probe() reports the plugin unusable on this machine");
        return;
    }
    ttml_plugin *p = g_new0(ttml_plugin, 1);
    p->desc = d;
    p->path = g_strdup(r->path);
    p->name = g_strdup(d->name);
    p->handle = handle;
    GError *err = NULL;
    if (!d->init(p, ttml_registry_host(), &err)) {
        ttml_registry_withdraw(p);
        reject(r, TTML_PLUGIN_INIT_FAILED, "%s", err ? err->message : "init() returned FALSE without an error");
        g_clear_error(&err);
        /* the plugin object stays allocated: features may have pointed at it */
        g_ptr_array_add(loaded_plugins, p);
        return;
    }
    p->initialized = TRUE;
    r->status = TTML_PLUGIN_OK;
    r->plugin = p;
    g_ptr_array_add(loaded_plugins, p);
}

void ttml_loader_load_desc(const ttml_plugin_desc *d, const char *stem, void *handle, ttml_plugin_record *r)
{
    load_desc(d, stem, handle, r); /* the entry point of tests/fuzz/fuzz_plugin_desc.c */
}

/* dlopen, entry symbol, then load_desc; fills r. */
static void try_load(const char *path, ttml_plugin_record *r)
{
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!handle) {
        const char *e = dlerror();
        reject(r, TTML_PLUGIN_DLOPEN_FAILED, "%s", e ? e : "dlopen failed");
        return;
    }
    char *stem = plugin_stem(path);
    char *symbol = g_strdup_printf("ttml_plugin_%s_get_desc", stem);
    typedef const ttml_plugin_desc *(*entry_fn)(void);
    entry_fn entry;
    *(void **)&entry = dlsym(handle, symbol);
    if (!entry)
        reject(r, TTML_PLUGIN_NOT_A_PLUGIN,
               "no entry symbol '%s' (a ttml plugin exports ttml_plugin_<name>_get_desc, "
               "with <name> taken from the file name)", symbol);
    else
        load_desc(entry(), stem, handle, r);
    g_free(symbol);
    g_free(stem);
}

/* ---- crash isolation: scan in a child process, remember crashes ---- */

static GKeyFile *cache;
static char *cache_path;
static gboolean cache_dirty;

const char *ttml_registry_cache_path(void)
{
    if (!cache_path) {
        /* read the variable each time: GLib caches g_get_user_cache_dir() for the process */
        const char *xdg = secure_getenv("XDG_CACHE_HOME");
        cache_path = g_build_filename(xdg && g_path_is_absolute(xdg) ? xdg : g_get_user_cache_dir(), "ttml",
                                      "registry.ini", NULL);
    }
    return cache_path;
}

static GKeyFile *cache_get(void)
{
    if (!cache) {
        cache = g_key_file_new();
        g_key_file_load_from_file(cache, ttml_registry_cache_path(), G_KEY_FILE_NONE, NULL);
    }
    return cache;
}

static void cache_save(void)
{
    if (!cache || !cache_dirty) return;
    char *dir = g_path_get_dirname(ttml_registry_cache_path());
    GError *err = NULL;
    if (g_mkdir_with_parents(dir, 0700) != 0 || !g_key_file_save_to_file(cache, ttml_registry_cache_path(), &err))
        g_log(TTML_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "cannot write the plugin cache %s: %s",
              ttml_registry_cache_path(), err ? err->message : g_strerror(errno));
    g_clear_error(&err);
    g_free(dir);
    cache_dirty = FALSE;
}

/* "mtime:size:build-id" of a plugin file as seen by this core. */
static char *cache_key(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    return g_strdup_printf("%lld.%09ld:%lld:%s", (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                           (long long)st.st_size, ttml_build_id());
}

/* Load `path` in a forked child; TRUE when the child died before reporting
 * (a crash in dlopen, a constructor, probe or init). */
static gboolean crashed_in_child(const char *path, char **why)
{
    int fds[2];
    if (pipe(fds) != 0) return FALSE;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return FALSE;
    }
    if (pid == 0) {
        close(fds[0]);
        /* die by the real signal, even under a sanitizer's handlers */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < G_N_ELEMENTS(fatal); i++) signal(fatal[i], SIG_DFL);
        ttml_plugin_record tmp = {0};
        try_load(path, &tmp);
        char done = 1;
        if (write(fds[1], &done, 1) != 1) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    char done = 0;
    ssize_t n;
    do n = read(fds[0], &done, 1); while (n < 0 && errno == EINTR);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (n == 1) return FALSE;
    if (WIFSIGNALED(status))
        *why = g_strdup_printf("killed by signal %d (%s)", WTERMSIG(status), g_strsignal(WTERMSIG(status)));
    else
        *why = g_strdup_printf("exited with status %d before finishing", WEXITSTATUS(status));
    return TRUE;
}

static gboolean fork_mode;
static gboolean force_scan;
static void load_file(ttml_plugin_record *r);

/* Files found and not shadowed, loaded after discovery: the project's own
 * (origin beside libttml / compile-time) first, then the others in search order. */
static GPtrArray *pending; /* ttml_plugin_record* (records owns them) */

/* Record `path` (made absolute) and queue it, or reject it as shadowed. */
static void find_file(const char *path, ttml_origin origin, GHashTable *seen)
{
    char *abs = g_canonicalize_filename(path, NULL);
    char *base = g_path_get_basename(abs);
    const char *first = g_hash_table_lookup(seen, base);
    if (first && strcmp(first, abs) == 0) { /* the same file found twice (--plugin and its dir) */
        g_free(abs);
        g_free(base);
        return;
    }
    ttml_plugin_record *r = new_record(abs, origin);
    g_free(abs);
    if (first) {
        reject(r, TTML_PLUGIN_SHADOWED, "shadowed by %s (found earlier in the search path)", first);
        g_free(base);
        return;
    }
    g_hash_table_insert(seen, base, g_strdup(r->path));
    g_ptr_array_add(pending, r);
}

static gboolean is_project_origin(ttml_origin origin)
{
    return origin == TTML_ORIGIN_RELATIVE || origin == TTML_ORIGIN_COMPILED;
}

/* Load every queued file: the project's plugins register their names first. */
static void load_pending(void)
{
    for (int pass = 0; pass < 2; pass++)
        for (guint i = 0; i < pending->len; i++) {
            ttml_plugin_record *r = g_ptr_array_index(pending, i);
            if (is_project_origin(r->origin) == (pass == 0)) load_file(r);
        }
    g_ptr_array_set_size(pending, 0);
}

/* Crash check (child process, cache) and load of the queued record `r`. */
static void load_file(ttml_plugin_record *r)
{
    const char *path = r->path;
    char *key = (fork_mode || force_scan || g_file_test(ttml_registry_cache_path(), G_FILE_TEST_EXISTS))
                    ? cache_key(path) : NULL;
    if (key) {
        GKeyFile *kf = cache_get();
        char *old_key = g_key_file_get_string(kf, path, "key", NULL);
        char *old_status = g_key_file_get_string(kf, path, "status", NULL);
        gboolean known = old_key && strcmp(old_key, key) == 0;
        if (known && !force_scan && g_strcmp0(old_status, "crashed") == 0) {
            char *why = g_key_file_get_string(kf, path, "reason", NULL);
            reject(r, TTML_PLUGIN_CRASHED,
                   "crashed while loading during an earlier scan (%s) and is skipped; fix or remove it, "
                   "then rescan with 'ttml-inspect --scan' (or delete %s)", why ? why : "?",
                   ttml_registry_cache_path());
            g_free(why);
        } else if ((fork_mode || force_scan) && (!known || force_scan)) {
            char *why = NULL;
            gboolean crashed = crashed_in_child(path, &why);
            g_key_file_set_string(kf, path, "key", key);
            g_key_file_set_string(kf, path, "status", crashed ? "crashed" : "scanned");
            if (crashed) g_key_file_set_string(kf, path, "reason", why);
            else g_key_file_remove_key(kf, path, "reason", NULL);
            cache_dirty = TRUE;
            if (crashed)
                reject(r, TTML_PLUGIN_CRASHED,
                       "crashed while loading in a child process (%s); recorded in %s and skipped from now "
                       "on; fix or remove it, then rescan with 'ttml-inspect --scan'", why,
                       ttml_registry_cache_path());
            g_free(why);
        }
        g_free(old_key);
        g_free(old_status);
        g_free(key);
        if (r->status == TTML_PLUGIN_CRASHED) return;
    }
    try_load(path, r);
}

/* The plugins compiled into libttml (static build), each claiming the
 * basename libttml_<name>.so so that a file of that name is shadowed. */
static void load_builtins(GHashTable *seen)
{
    for (const ttml_builtin_plugin *b = ttml_builtin_table(); b->name; b++) {
        ttml_plugin_record *r = new_record(ttml_library_path(), TTML_ORIGIN_BUILTIN);
        char *base = g_strdup_printf("libttml_%s.so", b->name);
        if (!g_hash_table_contains(seen, base))
            g_hash_table_insert(seen, g_strdup(base),
                                g_strdup_printf("the built-in %s plugin compiled into %s", b->name, r->path));
        g_free(base);
        load_desc(b->get_desc(), b->name, NULL, r);
    }
}

static void add_search_dir(const char *path, ttml_origin origin)
{
    GPtrArray *sp = search_path;
    char *abs = g_canonicalize_filename(path, NULL);
    for (guint i = 0; i < sp->len; i++) {
        ttml_search_dir *d = g_ptr_array_index(sp, i);
        if (strcmp(d->path, abs) == 0) {
            g_free(abs);
            return;
        }
    }
    g_free(abs);
    ttml_search_dir *d = g_new0(ttml_search_dir, 1);
    d->path = g_canonicalize_filename(path, NULL); /* absolute: records and the cache keep it */
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
        if (g_file_test(full, G_FILE_TEST_IS_REGULAR)) find_file(full, d->origin, seen);
        g_free(full);
    }
    g_ptr_array_unref(names);
}

/* The GNU build id of the object holding this function (libttml, or the
 * executable in a static build), from its PT_NOTE segment. */
static char build_id_hex[2 * 64 + 1];

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    Dl_info self;
    if (!dladdr((void *)&ttml_build_id, &self) || (ElfW(Addr))self.dli_fbase != info->dlpi_addr) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const unsigned char *desc = (const unsigned char *)p + sizeof *nh + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(p + sizeof *nh, "GNU", 4) == 0) {
                for (unsigned j = 0; j < nh->n_descsz && j < 64; j++)
                    g_snprintf(build_id_hex + 2 * j, 3, "%02x", desc[j]);
                return 1;
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 0;
}

const char *ttml_build_id(void)
{
    if (!build_id_hex[0] && !dl_iterate_phdr(find_build_id, NULL))
        g_snprintf(build_id_hex, sizeof build_id_hex, "nobuildid-%s", ttml_version_string());
    return build_id_hex;
}

gboolean ttml_loader_load_all(const ttml_init_options *o, GError **error)
{
    loaded_plugins = g_ptr_array_new();
    const char *fork_env = secure_getenv("TTML_REGISTRY_FORK");
    fork_mode = !(fork_env && strcmp(fork_env, "0") == 0); /* on unless TTML_REGISTRY_FORK=0 */
    if (!pending) pending = g_ptr_array_new();
    force_scan = o && o->struct_size > offsetof(ttml_init_options, force_scan) && o->force_scan;
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    records = g_ptr_array_new_with_free_func(ttml_loader_record_free);
    search_path = g_ptr_array_new_with_free_func(search_dir_free);
    GPtrArray *sp = search_path;
    /* plugins compiled in (static build) come first and claim their basenames */
    load_builtins(seen);

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
                g_ptr_array_set_size(pending, 0);
                return FALSE;
            }
            find_file(*f, TTML_ORIGIN_CMDLINE_FILE, seen);
        }
    }
    for (guint i = n_cmdline_dirs; i < sp->len; i++) scan_dir(g_ptr_array_index(sp, i), seen);
    g_hash_table_unref(seen);
    load_pending();
    cache_save();
    return TRUE;
}

void ttml_loader_fini_all(void)
{
    if (!loaded_plugins) return;
    for (guint i = loaded_plugins->len; i-- > 0;) {
        ttml_plugin *p = g_ptr_array_index(loaded_plugins, i);
        /* fini is a v1.1 field: a v1.0 descriptor (struct_size without it) has none */
        gboolean has_fini = p->desc->struct_size >= offsetof(ttml_plugin_desc, fini) + sizeof(void *);
        if (p->initialized && has_fini && p->desc->fini) p->desc->fini(p);
        g_free(p->path);
        g_free(p->name);
        g_free(p);
    }
    g_clear_pointer(&loaded_plugins, g_ptr_array_unref);
    g_clear_pointer(&pending, g_ptr_array_unref);
    g_clear_pointer(&records, g_ptr_array_unref);
    g_clear_pointer(&search_path, g_ptr_array_unref);
    g_clear_pointer(&library_path, g_free);
    g_clear_pointer(&cache, g_key_file_free);
    g_clear_pointer(&cache_path, g_free);
}
