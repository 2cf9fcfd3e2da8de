/* tools/doctor/ld_model.c - the dynamic loader's search, modelled: which
 * file ld.so would pick for a NEEDED name (RPATH, LD_LIBRARY_PATH, RUNPATH,
 * ld.so.cache, default directories; sonames already loaded in this process
 * are reused). Owns the model's state: the ld.so.cache listing, the objects
 * loaded here, the default directories. */
#include "ld_model.h"
#include "doctor_files.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static int self_class, self_machine; /* of this executable */
static GHashTable *ld_cache;         /* soname -> GPtrArray of paths (ldconfig -p order) */
static GHashTable *loaded;           /* soname -> path of an object loaded in this process */
static char **default_dirs;
static char *multiarch;              /* "x86_64-linux-gnu" or NULL */


static void ld_cache_load(void)
{
    ld_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    static const char *const candidates[] = {"/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"};
    char *out = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(candidates) && !out; i++) {
        if (candidates[i][0] == '/' && !g_file_test(candidates[i], G_FILE_TEST_IS_EXECUTABLE)) continue;
        char *argv[] = {(char *)candidates[i], (char *)"-p", NULL};
        int status = 0;
        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                          NULL, &status, NULL))
            out = NULL;
    }
    if (!out) return;
    /* "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1" */
    char **lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *s = *l, *arrow = strstr(s, " => "), *paren = strstr(s, " (");
        if (!arrow || !paren || paren > arrow || (*s != '\t' && *s != ' ')) continue;
        while (*s == '\t' || *s == ' ') s++;
        char *name = g_strndup(s, (gsize)(paren - s));
        GPtrArray *paths = g_hash_table_lookup(ld_cache, name);
        if (!paths) {
            paths = g_ptr_array_new_with_free_func(g_free);
            g_hash_table_insert(ld_cache, g_strdup(name), paths);
        }
        g_ptr_array_add(paths, g_strdup(arrow + 4));
        g_free(name);
    }
    g_strfreev(lines);
    g_free(out);
}

static int add_loaded(struct dl_phdr_info *dl, size_t size, void *data)
{
    const char *name = dl->dlpi_name;
    if (!name || !*name || !g_file_test(name, G_FILE_TEST_IS_REGULAR)) return 0;
    ttml_elf_info *e = ttml_elf_read(name);
    char *so = e->soname ? g_strdup(e->soname) : g_path_get_basename(name);
    if (!g_hash_table_contains(loaded, so)) g_hash_table_insert(loaded, so, ttml_doctor_real_path(name));
    else g_free(so);
    ttml_elf_free(e);
    return 0;
}

void ttml_ld_model_init(void)
{
    char *exe = ttml_doctor_real_path("/proc/self/exe");
    ttml_elf_info *self = ttml_elf_read(exe);
    self_class = self->cls ? self->cls : (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32);
    self_machine = self->machine;
    ttml_elf_free(self);
    g_free(exe);
    ld_cache_load();
    loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    dl_iterate_phdr(add_loaded, NULL);
    /* default directories: the multiarch dirs (where libc lives), then /lib, /usr/lib */
    Dl_info dli;
    GPtrArray *dirs = g_ptr_array_new();
    if (dladdr((void *)&fopen, &dli) && dli.dli_fname) {
        char *libc_dir = g_path_get_dirname(dli.dli_fname);
        char *base = g_path_get_basename(libc_dir);
        if (strstr(base, "-linux-")) multiarch = g_strdup(base);
        g_free(base);
        g_free(libc_dir);
    }
    if (multiarch) {
        g_ptr_array_add(dirs, g_build_filename("/lib", multiarch, NULL));
        g_ptr_array_add(dirs, g_build_filename("/usr/lib", multiarch, NULL));
    }
    if (self_class == ELFCLASS64) {
        g_ptr_array_add(dirs, g_strdup("/lib64"));
        g_ptr_array_add(dirs, g_strdup("/usr/lib64"));
    }
    g_ptr_array_add(dirs, g_strdup("/lib"));
    g_ptr_array_add(dirs, g_strdup("/usr/lib"));
    g_ptr_array_add(dirs, NULL);
    default_dirs = (char **)g_ptr_array_free(dirs, FALSE);
}

/* Split a colon list the way ld.so does, expanding $ORIGIN, $LIB and
 * $PLATFORM; an empty entry in LD_LIBRARY_PATH means the current directory. */
char **ttml_ld_expand_dirs(const char *list, const char *origin)
{
    GPtrArray *out = g_ptr_array_new();
    if (list) {
        char **parts = g_strsplit(list, ":", -1);
        struct utsname u;
        const char *platform = uname(&u) == 0 ? u.machine : "";
        char *lib = multiarch ? g_build_filename("lib", multiarch, NULL) : g_strdup("lib");
        for (char **p = parts; *p; p++) {
            GString *d = g_string_new(NULL);
            for (const char *s = *p; *s;) {
                const char *val = NULL;
                size_t skip = 0;
                if (g_str_has_prefix(s, "$ORIGIN")) val = origin, skip = 7;
                else if (g_str_has_prefix(s, "${ORIGIN}")) val = origin, skip = 9;
                else if (g_str_has_prefix(s, "$LIB")) val = lib, skip = 4;
                else if (g_str_has_prefix(s, "${LIB}")) val = lib, skip = 6;
                else if (g_str_has_prefix(s, "$PLATFORM")) val = platform, skip = 9;
                else if (g_str_has_prefix(s, "${PLATFORM}")) val = platform, skip = 11;
                if (skip) {
                    g_string_append(d, val ? val : "");
                    s += skip;
                } else {
                    g_string_append_c(d, *s++);
                }
            }
            if (d->len == 0) g_string_assign(d, ".");
            g_ptr_array_add(out, g_string_free(d, FALSE));
        }
        g_free(lib);
        g_strfreev(parts);
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static char *search_dirs(char **dirs, const char *name, int cls, int machine)
{
    for (char **d = dirs; d && *d; d++) {
        char *cand = g_build_filename(*d, name, NULL);
        if (g_file_test(cand, G_FILE_TEST_IS_REGULAR) && ttml_elf_compatible(cand, cls, machine)) return cand;
        g_free(cand);
    }
    return NULL;
}


/* Which file the dynamic loader would pick for NEEDED `name` of object `obj`
 * (its RPATH/RUNPATH expanded against its own directory). Returns the path
 * (g_free) or NULL; *via says which step found it. */
char *ttml_ld_resolve(const ttml_elf_info *obj, const char *name, int flags, const char **via)
{
    int cls = obj->cls ? obj->cls : self_class, machine = obj->cls ? obj->machine : self_machine;
    *via = "not found";
    if (strchr(name, '/')) {
        *via = "path in NEEDED";
        return g_file_test(name, G_FILE_TEST_IS_REGULAR) ? g_strdup(name) : NULL;
    }
    if ((flags & TTML_LD_USE_LOADED) && g_hash_table_contains(loaded, name)) {
        *via = "already loaded in this process";
        return g_strdup(g_hash_table_lookup(loaded, name));
    }
    char *origin = g_path_get_dirname(obj->path);
    char *hit = NULL;
    if (obj->rpath && !obj->runpath) {
        char **d = ttml_ld_expand_dirs(obj->rpath, origin);
        if ((hit = search_dirs(d, name, cls, machine))) *via = "RPATH";
        g_strfreev(d);
    }
    const char *llp = secure_getenv("LD_LIBRARY_PATH");
    if (!hit && (flags & TTML_LD_USE_LD_LIBRARY_PATH) && llp && *llp) {
        char **d = ttml_ld_expand_dirs(llp, origin);
        if ((hit = search_dirs(d, name, cls, machine))) *via = "LD_LIBRARY_PATH";
        g_strfreev(d);
    }
    if (!hit && obj->runpath) {
        char **d = ttml_ld_expand_dirs(obj->runpath, origin);
        if ((hit = search_dirs(d, name, cls, machine))) *via = "RUNPATH";
        g_strfreev(d);
    }
    GPtrArray *cached = ld_cache ? g_hash_table_lookup(ld_cache, name) : NULL;
    for (guint i = 0; !hit && cached && i < cached->len; i++) {
        const char *p = g_ptr_array_index(cached, i);
        if (ttml_elf_compatible(p, cls, machine)) {
            hit = g_strdup(p);
            *via = "ld.so.cache";
        }
    }
    if (!hit && (hit = search_dirs(default_dirs, name, cls, machine))) *via = "default directory";
    g_free(origin);
    return hit;
}

/* The places `resolve` looks, for a "not found" message. */
char *ttml_ld_search_description(const ttml_elf_info *obj)
{
    GString *s = g_string_new(NULL);
    if (obj->rpath && !obj->runpath) g_string_append_printf(s, "RPATH %s; ", obj->rpath);
    const char *llp = secure_getenv("LD_LIBRARY_PATH");
    g_string_append_printf(s, "LD_LIBRARY_PATH %s; ", llp && *llp ? llp : "(unset)");
    if (obj->runpath) {
        char *origin = g_path_get_dirname(obj->path);
        char **d = ttml_ld_expand_dirs(obj->runpath, origin);
        char *joined = g_strjoinv(":", d);
        g_string_append_printf(s, "RUNPATH %s (= %s); ", obj->runpath, joined);
        g_free(joined);
        g_strfreev(d);
        g_free(origin);
    } else {
        g_string_append(s, "RUNPATH (none); ");
    }
    g_string_append(s, "ld.so.cache; ");
    for (char **d = default_dirs; *d; d++) g_string_append_printf(s, "%s%s", *d, d[1] ? ":" : "");
    return g_string_free(s, FALSE);
}


static void dep_free(gpointer p)
{
    ttml_ld_dep *d = p;
    g_free(d->name);
    g_free(d->needed_by);
    g_free(d->path);
    g_free(d->searched);
    g_free(d->how);
    g_free(d);
}

/* Every library `root` needs, transitively, as a dlopen in this process
 * would resolve it (sonames already loaded are reused, as ld.so does). */
GPtrArray *ttml_ld_dep_closure(const ttml_elf_info *root)
{
    GPtrArray *deps = g_ptr_array_new_with_free_func(dep_free);
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *queue = g_ptr_array_new_with_free_func((GDestroyNotify)ttml_elf_free);
    for (guint qi = 0; qi <= queue->len && qi < 256; qi++) {
        const ttml_elf_info *obj = qi == 0 ? root : g_ptr_array_index(queue, qi - 1);
        for (guint i = 0; i < obj->needed->len; i++) {
            const char *name = g_ptr_array_index(obj->needed, i);
            if (g_hash_table_contains(seen, name)) continue;
            ttml_ld_dep *d = g_new0(ttml_ld_dep, 1);
            d->name = g_strdup(name);
            d->needed_by = g_strdup(obj->path);
            d->path = ttml_ld_resolve(obj, name, TTML_LD_USE_LOADED | TTML_LD_USE_LD_LIBRARY_PATH, &d->via);
            if (!d->path) d->searched = ttml_ld_search_description(obj);
            if (d->path && strcmp(d->via, "already loaded in this process") == 0) {
                /* say also where a fresh search would find it */
                const char *step;
                char *fresh = ttml_ld_resolve(obj, name, TTML_LD_USE_LD_LIBRARY_PATH, &step);
                char *fr = fresh ? ttml_doctor_real_path(fresh) : NULL;
                if (fr && strcmp(fr, d->path) == 0) d->how = g_strdup_printf("%s, already loaded", step);
                else if (fr) d->how = g_strdup_printf("already loaded; a fresh load would pick %s via %s", fr, step);
                else d->how = g_strdup("already loaded; a fresh load would not find it");
                g_free(fr);
                g_free(fresh);
            } else {
                d->how = g_strdup(d->via);
            }
            g_hash_table_add(seen, d->name);
            g_ptr_array_add(deps, d);
            if (d->path && strcmp(d->via, "already loaded in this process") != 0) {
                ttml_elf_info *e = ttml_elf_read(d->path);
                if (e->error) ttml_elf_free(e);
                else g_ptr_array_add(queue, e);
            }
        }
    }
    g_hash_table_unref(seen);
    g_ptr_array_unref(queue);
    return deps;
}

void ttml_ld_model_free(void)
{
    g_clear_pointer(&ld_cache, g_hash_table_unref);
    g_clear_pointer(&loaded, g_hash_table_unref);
    g_clear_pointer(&default_dirs, g_strfreev);
    g_clear_pointer(&multiarch, g_free);
}

int ttml_ld_self_class(void) { return self_class; }
int ttml_ld_self_machine(void) { return self_machine; }

const GPtrArray *ttml_ld_cache_paths(const char *soname)
{
    return ld_cache ? g_hash_table_lookup(ld_cache, soname) : NULL;
}
