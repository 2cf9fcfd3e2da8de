/* core/plugins/builtin.c - plugins compiled into libttml (BUILD_SHARED_LIBS=OFF).
 *
 * In a static build cmake/TtmlPlugin.cmake compiles each driver and core
 * plugin into libttml.a and generates builtin_plugins.c: a table of their
 * ttml_plugin_<name>_get_desc entries (empty in a shared build). They are
 * loaded before any directory is scanned, through the same descriptor checks,
 * probe and init as a plugin file (ttml_loader_load_desc), each with a status
 * record whose origin is TTML_ORIGIN_BUILTIN and whose path is the file that
 * holds them (the executable, or the library linking libttml.a). Each claims
 * the basename libttml_<name>.so, so a stray plugin file of the same name on
 * the search path is reported as shadowed instead of registering twice. */
#include "internal.h"

typedef const ttml_plugin_desc *(*ttml_builtin_entry_fn)(void);
typedef struct ttml_builtin_plugin { const char *name; ttml_builtin_entry_fn get_desc; } ttml_builtin_plugin;

/* builtin_plugins.c (generated), terminated by {NULL, NULL}. */
extern const ttml_builtin_plugin ttml_builtin_plugins[];

/* loader.c */
void ttml_loader_load_desc(const ttml_plugin_desc *d, const char *stem, void *handle, ttml_plugin_record *r);

void ttml_builtin_load_all(GHashTable *seen);
void ttml_builtin_load_all(GHashTable *seen)
{
    for (const ttml_builtin_plugin *b = ttml_builtin_plugins; b->name; b++) {
        ttml_plugin_record *r = g_new0(ttml_plugin_record, 1);
        r->path = g_strdup(ttml_library_path());
        r->origin = TTML_ORIGIN_BUILTIN;
        g_ptr_array_add(ttml_registry_records_mut(), r);
        char *base = g_strdup_printf("libttml_%s.so", b->name);
        if (!g_hash_table_contains(seen, base))
            g_hash_table_insert(seen, g_strdup(base),
                                g_strdup_printf("the built-in %s plugin compiled into %s", b->name, r->path));
        g_free(base);
        ttml_loader_load_desc(b->get_desc(), b->name, NULL, r);
    }
}
