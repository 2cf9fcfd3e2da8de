/* ttml/registry.h - what the loader found: plugin records, search path and
 * registered features, for ttml-inspect and ttml-doctor. All returned strings
 * and arrays are owned by the core and valid until ttml_shutdown(). */
#ifndef TTML_REGISTRY_H
#define TTML_REGISTRY_H

#include <ttml/plugin.h>

#include <stdio.h>

G_BEGIN_DECLS

typedef enum {
    TTML_PLUGIN_OK = 0,
    TTML_PLUGIN_DLOPEN_FAILED,   /* dlopen failed; message = dlerror()          */
    TTML_PLUGIN_NOT_A_PLUGIN,    /* no ttml_plugin_<name>_get_desc symbol       */
    TTML_PLUGIN_ABI_MISMATCH,    /* major differs, minor newer, or bad struct   */
    TTML_PLUGIN_PROBE_ZERO,      /* probe() said unusable on this machine       */
    TTML_PLUGIN_INIT_FAILED,     /* init() returned an error (its message)      */
    TTML_PLUGIN_CRASHED,         /* crashed while scanned in a child process    */
    TTML_PLUGIN_SHADOWED,        /* same basename found earlier in the path     */
    TTML_PLUGIN_FILTERED,        /* excluded by the caller                      */
} ttml_plugin_status;

TTML_API const char *ttml_plugin_status_name(ttml_plugin_status status);

/* Where a search directory or file came from. */
typedef enum {
    TTML_ORIGIN_CMDLINE_PATH = 0,  /* --plugin-path          */
    TTML_ORIGIN_CMDLINE_FILE,      /* --plugin               */
    TTML_ORIGIN_ENV,               /* TTML_PLUGIN_PATH       */
    TTML_ORIGIN_RELATIVE,          /* beside libttml (dladdr) */
    TTML_ORIGIN_COMPILED,          /* compile-time directory */
    TTML_ORIGIN_BUILTIN,           /* compiled into libttml (static build) */
} ttml_origin;

TTML_API const char *ttml_origin_name(ttml_origin origin);

typedef struct ttml_plugin_record {
    char *path;                       /* file tried                             */
    ttml_origin origin;
    ttml_plugin_status status;
    char *message;                    /* why, for every status but OK           */
    /* From the descriptor when it could be read (else NULL / 0): */
    char *name, *version, *description, *license;
    ttml_plugin_kind kind;
    guint abi_major, abi_minor;
    ttml_plugin *plugin;              /* loaded plugin when status == OK        */
} ttml_plugin_record;

typedef struct ttml_search_dir { char *path; ttml_origin origin; gboolean exists; } ttml_search_dir;

/* Records in the order files were tried. */
TTML_API const GPtrArray *ttml_registry_records(void);
/* The effective search path, in order. */
TTML_API const GPtrArray *ttml_registry_search_path(void);

typedef enum {
    TTML_FEATURE_DRIVER, TTML_FEATURE_KERNEL, TTML_FEATURE_OP, TTML_FEATURE_MODEL,
    TTML_FEATURE_OPTIMIZER, TTML_FEATURE_SCHEDULER, TTML_FEATURE_LAYER,
    TTML_FEATURE_COMM, /* ABI 1.2 */
} ttml_feature_kind;

TTML_API const char *ttml_feature_kind_name(ttml_feature_kind kind);

typedef struct ttml_feature {
    ttml_feature_kind kind;
    char *name;            /* kernels: "driver/kernel"           */
    const char *description;
    ttml_plugin *plugin;   /* provider                           */
} ttml_feature;

/* Every registered feature, sorted by kind then name. */
TTML_API const GPtrArray *ttml_registry_features(void);
/* A registration refused (or, with TTML_PLUGIN_REPLACE=name, allowed to
 * replace) because another plugin already held the name. Rule: the
 * project's own plugins (the directories beside libttml and the compile-time
 * one, and built-ins) register first; a later plugin asking for a taken name
 * has that one registration fail (its init decides whether to go on). */
typedef struct ttml_collision {
    ttml_feature_kind kind;
    char *name;            /* kernels: "driver/kernel"                          */
    char *newcomer_path;   /* the plugin file whose registration was refused    */
    char *holder_path;     /* the plugin file that holds the name               */
    gboolean replaced;     /* TRUE: TTML_PLUGIN_REPLACE named it, the newcomer won */
} ttml_collision;

/* Every collision of this ttml_init, in order (ttml_collision*; core-owned). */
TTML_API const GPtrArray *ttml_registry_collisions(void);
/* Write one warning line per rejected plugin file (reason and fix) and per
 * name collision (both files) to `out`, each starting with `prefix`
 * ("ttml-run: "). Shadowed and filtered files are not problems. Returns the
 * number of lines written. */
TTML_API guint ttml_registry_report_problems(FILE *out, const char *prefix);
/* FALSE, with an error naming the file and its reason, when a file given
 * explicitly (ttml_init_options.plugin_files, --plugin) did not load. */
TTML_API gboolean ttml_registry_check_explicit(GError **error);
/* " Rejected plugin files: a (status: why); b (...)" or "" (g_free): for
 * errors about a name nothing registered. */
TTML_API char *ttml_registry_rejected_summary(void);
/* When the plugin file that would provide `name` (libttml_<name>.so, or a
 * descriptor of that name) was rejected: "the plugin that provides 'cpu'
 * was rejected: FILE (status): why; fix" (g_free); else NULL. */
TTML_API char *ttml_registry_rejected_cause(const char *name);
/* Names of registered features of a kind, sorted, as "a, b, c" (g_free). */
TTML_API char *ttml_registry_list_names(ttml_feature_kind kind);
/* The crash cache: $XDG_CACHE_HOME/ttml/registry.ini (GKeyFile; one group
 * per absolute plugin path with mtime, size, core build id and the scan
 * result). A file not in it is first loaded in a child process, unless
 * TTML_REGISTRY_FORK=0. */
TTML_API const char *ttml_registry_cache_path(void);
/* Hex GNU build id of libttml (or of the executable in a static build). */
TTML_API const char *ttml_build_id(void);
/* The path of libttml itself (dladdr) and its version string. */
TTML_API const char *ttml_library_path(void);
TTML_API const char *ttml_version_string(void);

G_END_DECLS

#endif
