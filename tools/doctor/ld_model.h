/* tools/doctor/ld_model.h - the dynamic loader's search, modelled (see
 * ld_model.c). Call ttml_ld_model_init once before the rest, and
 * ttml_ld_model_free at the end. */
#ifndef TTML_DOCTOR_LD_MODEL_H
#define TTML_DOCTOR_LD_MODEL_H

#include "elf_reader.h"

#include <glib.h>

/* Reads this program's ELF class and machine, `ldconfig -p`, the objects
 * loaded in this process and the default directories. */
void ttml_ld_model_init(void);
void ttml_ld_model_free(void);

/* ELF class and machine of this program. */
int ttml_ld_self_class(void);
int ttml_ld_self_machine(void);
/* The ld.so.cache paths of `soname` (ldconfig -p order), or NULL. */
const GPtrArray *ttml_ld_cache_paths(const char *soname);

/* Split a colon list the way ld.so does, expanding $ORIGIN (to `origin`),
 * $LIB and $PLATFORM; an empty entry means the current directory.
 * NULL-terminated; g_strfreev. */
char **ttml_ld_expand_dirs(const char *list, const char *origin);

enum { TTML_LD_USE_LOADED = 1, TTML_LD_USE_LD_LIBRARY_PATH = 2 };

/* Which file the dynamic loader would pick for NEEDED `name` of object
 * `obj` (its RPATH/RUNPATH expanded against its own directory); `flags`:
 * TTML_LD_USE_*. Returns the path (g_free) or NULL; *via says which step
 * found it (a static string). */
char *ttml_ld_resolve(const ttml_elf_info *obj, const char *name, int flags, const char **via);
/* The places ttml_ld_resolve looks, for a "not found" message; g_free. */
char *ttml_ld_search_description(const ttml_elf_info *obj);

typedef struct {
    char *name, *needed_by, *path, *searched;
    const char *via;
    char *how; /* "RUNPATH, already loaded", ... for printing */
} ttml_ld_dep;

/* Every library `root` needs, transitively, as a dlopen in this process
 * would resolve it: a GPtrArray of ttml_ld_dep (g_ptr_array_unref frees). */
GPtrArray *ttml_ld_dep_closure(const ttml_elf_info *root);

#endif
