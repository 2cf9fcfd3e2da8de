/* ttml-doctor - diagnose a ttml deployment (after the PyTorch TTNN reference's
 * "common issues" and "validation checklist", automated).
 *
 *   ttml-doctor [--plugin-path DIR] [--plugin FILE] [-v] [--json]
 *
 * Checks, each printed as one line "ok: ..." or "PROBLEM: <what> — fix: <how>":
 *   versions      libttml (version, path, build id), plugin ABI, every plugin
 *   search path   the effective plugin path with origins; explicitly requested
 *                 directories (--plugin-path, TTML_PLUGIN_PATH) that do not exist
 *   plugins       every plugin file's status, with a fix per failure kind
 *   dependencies  each .so's NEEDED libraries resolved the way the dynamic
 *                 loader would (already loaded, DT_RPATH, LD_LIBRARY_PATH,
 *                 DT_RUNPATH with $ORIGIN, ld.so.cache, default dirs), from
 *                 the ELF dynamic section (doctor/elf_reader.c) and the loader
 *                 model (doctor/ld_model.c); -v prints every one
 *   libttml       two different libttml copies reachable (LD_LIBRARY_PATH vs
 *                 the tool's own RUNPATH, plugins whose RUNPATH finds another)
 *   LD_LIBRARY_PATH  entries shadowing the install's libttml or a plugin
 *   cpu           hwloc topology, OpenBLAS / OpenMP / ttml thread settings,
 *                 what the cpu driver reports
 *   crash cache   plugins recorded as crashed
 * Exit status: 0 healthy, 1 when a problem was found, 2 on bad usage.
 *
 * Plugins are scanned as with TTML_REGISTRY_FORK=1 (unless that variable is
 * set to something else), so a plugin that crashes in init is diagnosed
 * instead of killing the doctor.
 */
#include <ttml/ttml.h>

#include "common/plugin_options.h"
#include "doctor/doctor_files.h"
#include "doctor/elf_reader.h"
#include "doctor/ld_model.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ttml_tool_plugin_options opt_plugins;
static gboolean opt_verbose, opt_json;

/* Thread and BLAS settings as the user gave them: the cpu driver may set
 * OPENBLAS_CORETYPE itself when it loads, so they are read before ttml_init. */
static const char *const env_vars[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS",
                                       "TTML_CPU_THREADS", "OPENBLAS_CORETYPE", "TTML_BLAS_CORETYPE"};
static char *env_initial[G_N_ELEMENTS(env_vars)];

static const char *env_at_start(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(env_vars); i++)
        if (strcmp(env_vars[i], name) == 0) return env_initial[i];
    return g_getenv(name);
}

static GOptionEntry entries[] = {
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Also print every resolved dependency and detail", NULL},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print the findings as one JSON object", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* ------------------------------------------------------------------------
 * Findings
 * ------------------------------------------------------------------------ */

typedef enum { LEVEL_INFO, LEVEL_OK, LEVEL_PROBLEM } level;

typedef struct {
    level lvl;
    char *check, *what, *fix;
} finding;

static GPtrArray *findings;
static const char *cur_check = "";
static int n_problems;

static void finding_free(gpointer p)
{
    finding *f = p;
    g_free(f->check);
    g_free(f->what);
    g_free(f->fix);
    g_free(f);
}

static void section(const char *name)
{
    cur_check = name;
    if (!opt_json) printf("\n== %s ==\n", name);
}

static void vreport(level lvl, const char *fix, const char *fmt, va_list ap)
{
    finding *f = g_new0(finding, 1);
    f->lvl = lvl;
    f->check = g_strdup(cur_check);
    f->what = g_strdup_vprintf(fmt, ap);
    f->fix = g_strdup(fix);
    g_ptr_array_add(findings, f);
    if (lvl == LEVEL_PROBLEM) n_problems++;
    if (opt_json) return;
    if (lvl == LEVEL_PROBLEM) printf("PROBLEM: %s — fix: %s\n", f->what, f->fix ? f->fix : "see above");
    else if (lvl == LEVEL_OK) printf("ok: %s\n", f->what);
    else if (opt_verbose) printf("  %s\n", f->what);
}

static void ok(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(LEVEL_OK, NULL, fmt, ap);
    va_end(ap);
}

static void info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(LEVEL_INFO, NULL, fmt, ap);
    va_end(ap);
}

/* `fix` is a plain string (build it with g_strdup_printf when it varies). */
static void problem(const char *fix, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void problem(const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(LEVEL_PROBLEM, fix, fmt, ap);
    va_end(ap);
}

static void json_string(GString *out, const char *s)
{
    if (!s) {
        g_string_append(out, "null");
        return;
    }
    ttml_json_append_string(out, s);
}

static void print_json(void)
{
    GString *out = g_string_new("{\"healthy\": ");
    g_string_append_printf(out, "%s, \"problems\": %d, \"findings\": [", n_problems ? "false" : "true", n_problems);
    for (guint i = 0; i < findings->len; i++) {
        const finding *f = g_ptr_array_index(findings, i);
        static const char *const names[] = {"info", "ok", "problem"};
        g_string_append_printf(out, "%s\n  {\"check\": ", i ? "," : "");
        json_string(out, f->check);
        g_string_append_printf(out, ", \"status\": \"%s\", \"what\": ", names[f->lvl]);
        json_string(out, f->what);
        if (f->fix) {
            g_string_append(out, ", \"fix\": ");
            json_string(out, f->fix);
        }
        g_string_append_c(out, '}');
    }
    g_string_append(out, "\n]}\n");
    fputs(out->str, stdout);
    g_string_free(out, TRUE);
}

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static char *self_exe;          /* realpath of this program                          */
static char *running_lib;       /* realpath of the libttml this process runs         */
static gboolean static_build;   /* libttml is linked into the executable             */
static char *install_libdir;    /* where the tool's own RUNPATH finds libttml.so.1   */

static const char *ttml_soname(void)
{
    static char soname[64];
    if (!soname[0]) {
        ttml_elf_info *e = ttml_elf_read(running_lib);
        g_strlcpy(soname, e->soname ? e->soname : "libttml.so.1", sizeof soname);
        ttml_elf_free(e);
    }
    return soname;
}

/* A plugin compiled into libttml / the program (static build): no file of its own. */
static gboolean is_builtin(const ttml_plugin_record *r)
{
    char *p = ttml_doctor_real_path(r->path);
    gboolean b = strcmp(p, running_lib) == 0 || strcmp(p, self_exe) == 0;
    g_free(p);
    return b;
}

static void check_versions(void)
{
    section("versions");
    ok("libttml %s (plugin ABI %d.%d) at %s, build id %s%s", ttml_version_string(), TTML_ABI_MAJOR, TTML_ABI_MINOR,
       running_lib, ttml_build_id(), static_build ? " (static build: linked into this program)" : "");
    info("this program: %s", self_exe);
    const GPtrArray *recs = ttml_registry_records();
    int n_ok = 0;
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_OK) n_ok++;
        if (r->name)
            info("plugin %s %s (%s, ABI %u.%u): %s", r->name, r->version ? r->version : "?",
                 ttml_plugin_kind_name(r->kind), r->abi_major, r->abi_minor, ttml_plugin_status_name(r->status));
    }
    ok("%d plugin file(s) tried, %d loaded", recs->len, n_ok);
}

static gboolean dir_has_plugins(const char *root)
{
    const char *subs[] = {"", "drivers", "plugins"};
    for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
        char *d = g_build_filename(root, subs[i], NULL);
        GDir *dir = g_dir_open(d, 0, NULL);
        g_free(d);
        if (!dir) continue;
        const char *n;
        gboolean found = FALSE;
        while (!found && (n = g_dir_read_name(dir))) found = g_str_has_suffix(n, ".so");
        g_dir_close(dir);
        if (found) return TRUE;
    }
    return FALSE;
}

static void check_explicit_dirs(const char *list, const char *what)
{
    if (!list) return;
    char **parts = g_strsplit(list, ":", -1);
    for (char **p = parts; *p; p++) {
        if (!**p) continue;
        if (!ttml_doctor_is_dir(*p)) {
            char *fix = g_strdup_printf("check the spelling: %s takes existing directories holding plugin .so "
                                        "files (or their drivers/ and plugins/ subdirectories), e.g. PREFIX/lib/ttml; "
                                        "create it or drop it from %s", what, what);
            problem(fix, "%s directory %s does not exist", what, *p);
            g_free(fix);
        } else if (!dir_has_plugins(*p)) {
            char *fix = g_strdup_printf("point %s at the directory that holds the .so files (or at a "
                                        "PREFIX/lib/ttml holding drivers/ and plugins/)", what);
            problem(fix, "%s directory %s holds no plugin (.so) file, in it or in drivers/ or plugins/", what, *p);
            g_free(fix);
        }
    }
    g_strfreev(parts);
}

static void check_search_path(void)
{
    section("plugin search path");
    const GPtrArray *sp = ttml_registry_search_path();
    for (guint i = 0; i < sp->len; i++) {
        const ttml_search_dir *d = g_ptr_array_index(sp, i);
        ok("search %-16s %s%s", ttml_origin_name(d->origin), d->path, d->exists ? "" : " (missing)");
    }
    for (const char *const *p = ttml_tool_plugin_paths(&opt_plugins); *p; p++) check_explicit_dirs(*p, "--plugin-path");
    check_explicit_dirs(secure_getenv("TTML_PLUGIN_PATH"), "TTML_PLUGIN_PATH");
    if (!static_build) {
        char *libdir = g_path_get_dirname(running_lib);
        char *root = g_build_filename(libdir, "ttml", NULL);
        if (!ttml_doctor_is_dir(root)) {
            char *fix = g_strdup_printf("this libttml is not part of a complete install (no ttml/drivers and "
                                        "ttml/plugins beside it): use the libttml of your install (check "
                                        "LD_LIBRARY_PATH) or reinstall with cmake --install BUILD --prefix PREFIX");
            problem(fix, "no plugin directory %s beside the running libttml %s", root, running_lib);
            g_free(fix);
        }
        g_free(root);
        g_free(libdir);
    }
}

static const ttml_plugin_record *find_ok_by_basename(const char *base)
{
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        char *b = g_path_get_basename(r->path);
        gboolean hit = r->status != TTML_PLUGIN_SHADOWED && strcmp(b, base) == 0;
        g_free(b);
        if (hit) return r;
    }
    return NULL;
}

static const char *missing_dep_names(GPtrArray *deps, GString *out)
{
    for (guint i = 0; i < deps->len; i++) {
        const ttml_ld_dep *d = g_ptr_array_index(deps, i);
        if (d->path) continue;
        char *by = g_path_get_basename(d->needed_by);
        g_string_append_printf(out, "%s%s (needed by %s)", out->len ? ", " : "", d->name, by);
        g_free(by);
    }
    return out->str;
}

static void report_dlopen_failed(const ttml_plugin_record *r, const char *label)
{
    ttml_elf_info *e = ttml_elf_read(r->path);
    char *fix = NULL;
    if (e->error) {
        fix = g_strdup_printf("%s is not a loadable ELF shared object (%s): remove it from the plugin directory "
                              "or replace it with the real plugin", r->path, e->error);
    } else if (e->cls != ttml_ld_self_class() || e->machine != ttml_ld_self_machine()) {
        fix = g_strdup_printf("it was built for another architecture (ELF class %d, machine %u; this program: "
                              "class %d, machine %d): rebuild it for this machine", e->cls, e->machine, ttml_ld_self_class(),
                              ttml_ld_self_machine());
    } else {
        GPtrArray *deps = ttml_ld_dep_closure(e);
        GString *missing = g_string_new(NULL);
        missing_dep_names(deps, missing);
        if (missing->len) {
            const ttml_ld_dep *first = NULL;
            for (guint i = 0; i < deps->len && !first; i++)
                if (!((const ttml_ld_dep *)g_ptr_array_index(deps, i))->path) first = g_ptr_array_index(deps, i);
            if (strstr(missing->str, "libmpi"))
                fix = g_strdup_printf("unresolved dependency %s (Open MPI; only the mpi communicator needs it, "
                                      "everything else works without it); searched %s: install Open MPI "
                                      "(apt-get install openmpi-bin libopenmpi-dev), or put the lib/ directory "
                                      "of your Open MPI on LD_LIBRARY_PATH (as for _ttnncpp.so's "
                                      "MPIX_Comm_revoke)", missing->str, first->searched);
            else
                fix = g_strdup_printf("unresolved dependency %s; searched %s: install the package that provides "
                                      "it (ldconfig -p | grep %s) or add the directory holding it to "
                                      "LD_LIBRARY_PATH, or relink the plugin without it", missing->str,
                                      first->searched, first->name);
        } else if (r->message && strstr(r->message, "undefined symbol")) {
            fix = g_strdup("it calls a symbol that neither libttml nor its NEEDED libraries define: it was built "
                           "against another ttml version or forgot to link a library; rebuild it against this "
                           "ttml (pkg-config --cflags --libs ttml) and link every library it uses");
        } else {
            fix = g_strdup_printf("see the loader message; LD_DEBUG=libs,files ttml-inspect %s shows each step",
                                  r->path);
        }
        g_string_free(missing, TRUE);
        g_ptr_array_unref(deps);
    }
    problem(fix, "%s: dlopen failed: %s", label, r->message ? r->message : "?");
    g_free(fix);
    ttml_elf_free(e);
}

/* Names two plugins asked for: the newcomer (the later registration) is the
 * problem, the holder keeps the name. */
static void check_collisions(void)
{
    const GPtrArray *cs = ttml_registry_collisions();
    for (guint i = 0; cs && i < cs->len; i++) {
        const ttml_collision *c = g_ptr_array_index(cs, i);
        char *fix = g_strdup_printf("rename the %s in %s, remove that file from the plugin path, or set "
                                    "TTML_PLUGIN_REPLACE=%s if it is meant to replace the first one",
                                    ttml_feature_kind_name(c->kind), c->newcomer_path, c->name);
        if (c->replaced)
            info("%s replaces %s '%s' of %s (TTML_PLUGIN_REPLACE)", c->newcomer_path,
                 ttml_feature_kind_name(c->kind), c->name, c->holder_path);
        else
            problem(fix, "%s registers %s '%s', a name already taken by %s: that registration was refused",
                    c->newcomer_path, ttml_feature_kind_name(c->kind), c->name, c->holder_path);
        g_free(fix);
    }
}

static void check_plugins(void)
{
    section("plugins");
    const GPtrArray *recs = ttml_registry_records();
    if (recs->len == 0)
        problem("install the drivers and plugins (cmake --install), or point --plugin-path / TTML_PLUGIN_PATH at "
                "PREFIX/lib/ttml", "no plugin file found in the search path");
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        char *label = g_strdup_printf("%s (%s)", r->path, ttml_origin_name(r->origin));
        char *fix = NULL;
        switch (r->status) {
        case TTML_PLUGIN_OK:
            ok("plugin %s %s (%s, ABI %u.%u) loaded from %s", r->name, r->version ? r->version : "?",
               ttml_plugin_kind_name(r->kind), r->abi_major, r->abi_minor, label);
            break;
        case TTML_PLUGIN_DLOPEN_FAILED:
            report_dlopen_failed(r, label);
            break;
        case TTML_PLUGIN_NOT_A_PLUGIN: {
            char *stem = g_path_get_basename(r->path);
            fix = g_strdup_printf("a plugin file libttml_NAME.so (or ttml_NAME.so, NAME.so; '-' becomes '_') must "
                                  "export ttml_plugin_NAME_get_desc and its descriptor name must equal NAME: define "
                                  "it with TTML_PLUGIN_DEFINE(NAME, ...) and name the file after it; if %s is not a "
                                  "ttml plugin, move it out of the plugin directory", stem);
            problem(fix, "%s is not a ttml plugin: %s", label, r->message ? r->message : "?");
            g_free(stem);
            break;
        }
        case TTML_PLUGIN_ABI_MISMATCH:
            if (r->name && r->abi_major == TTML_ABI_MAJOR && r->abi_minor > TTML_ABI_MINOR)
                fix = g_strdup_printf("the plugin was built against a newer ttml (plugin ABI %u.%u) than this one "
                                      "(%d.%d, ttml %s): upgrade ttml, or rebuild the plugin against this install",
                                      r->abi_major, r->abi_minor, TTML_ABI_MAJOR, TTML_ABI_MINOR,
                                      ttml_version_string());
            else if (r->name)
                fix = g_strdup_printf("the plugin was built for plugin ABI %u.x, this ttml %s speaks %d.%d: rebuild "
                                      "it against this ttml (pkg-config --cflags --libs ttml), or use the ttml "
                                      "release it was built for", r->abi_major, ttml_version_string(), TTML_ABI_MAJOR,
                                      TTML_ABI_MINOR);
            else
                fix = g_strdup("its descriptor is malformed: rebuild it with TTML_PLUGIN_DEFINE against this ttml");
            problem(fix, "%s: plugin %s built for ABI %u.%u, ttml provides %d.%d: %s", label,
                    r->name ? r->name : "?", r->abi_major, r->abi_minor, TTML_ABI_MAJOR, TTML_ABI_MINOR,
                    r->message ? r->message : "ABI mismatch");
            break;
        case TTML_PLUGIN_PROBE_ZERO:
            problem("it needs hardware or a CPU feature this machine lacks: run on a machine that has it, or "
                    "remove the file from the plugin path if you do not need it",
                    "%s: plugin %s says it cannot run here (probe() returned 0)", label, r->name ? r->name : "?");
            break;
        case TTML_PLUGIN_INIT_FAILED:
            problem("fix the cause its init reported (the message says what it needs), or remove the file from "
                    "the plugin path", "%s: plugin %s failed to start: %s", label, r->name ? r->name : "?",
                    r->message ? r->message : "?");
            break;
        case TTML_PLUGIN_CRASHED:
            fix = g_strdup_printf("fix or remove the plugin, then rescan with 'ttml-inspect --scan' (or delete "
                                  "%s); until then it is skipped", ttml_registry_cache_path());
            problem(fix, "%s crashed while loading and is skipped: %s", label, r->message ? r->message : "?");
            break;
        case TTML_PLUGIN_SHADOWED: {
            char *base = g_path_get_basename(r->path);
            const ttml_plugin_record *win = find_ok_by_basename(base);
            if (win && ttml_doctor_same_content(win->path, r->path)) {
                ok("%s is an identical copy of %s, which is used", label, win->path);
            } else {
                fix = g_strdup_printf("%s (%s) is the copy used, being earlier in the search path; remove the one "
                                      "you do not want (rm %s) or reorder --plugin-path / TTML_PLUGIN_PATH",
                                      win ? win->path : "the first", win ? ttml_origin_name(win->origin) : "?",
                                      r->path);
                problem(fix, "two different copies of %s: %s wins, %s is ignored", base,
                        win ? win->path : "an earlier file", r->path);
            }
            g_free(base);
            break;
        }
        case TTML_PLUGIN_FILTERED:
            ok("%s filtered out by the caller", label);
            break;
        }
        g_free(fix);
        g_free(label);
    }
    check_collisions();
}

static void list_deps(const char *what, const ttml_elf_info *e, gboolean report_missing)
{
    GPtrArray *deps = ttml_ld_dep_closure(e);
    int missing = 0;
    for (guint i = 0; i < deps->len; i++) {
        const ttml_ld_dep *d = g_ptr_array_index(deps, i);
        if (d->path) {
            info("%s: %s => %s (%s)", what, d->name, d->path, d->how);
            continue;
        }
        missing++;
        if (!report_missing) {
            info("%s: %s => not found", what, d->name);
            continue;
        }
        char *fix = g_strdup_printf("install the package that provides %s (ldconfig -p | grep %s) or add the "
                                    "directory holding it to LD_LIBRARY_PATH; searched %s", d->name, d->name,
                                    d->searched);
        problem(fix, "%s: NEEDED %s (by %s) not found", what, d->name, d->needed_by);
        g_free(fix);
    }
    if (!missing) ok("%s: all %u dependencies resolve", what, deps->len);
    g_ptr_array_unref(deps);
}

static void check_dependencies(void)
{
    section("dependencies");
    ttml_elf_info *lib = ttml_elf_read(running_lib); /* the program itself in a static build */
    if (!lib->error) list_deps(running_lib, lib, TRUE);
    ttml_elf_free(lib);
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_SHADOWED || r->status == TTML_PLUGIN_FILTERED || is_builtin(r)) continue;
        ttml_elf_info *e = ttml_elf_read(r->path);
        if (e->error) info("%s: %s", r->path, e->error);
        /* a failed dlopen already named its missing libraries under "plugins" */
        else list_deps(r->path, e, r->status != TTML_PLUGIN_DLOPEN_FAILED);
        ttml_elf_free(e);
    }
}

static void copy_conflict(const char *other, const char *how, const char *fix)
{
    ttml_elf_info *e = ttml_elf_read(other);
    const char *bid = e->build_id ? e->build_id : "none";
    gboolean same_build = e->build_id && strcmp(e->build_id, ttml_build_id()) == 0;
    problem(fix, "two libttml copies reachable: this process runs %s (build id %s) but %s %s (build id %s%s)",
            running_lib, ttml_build_id(), how, other, bid,
            same_build ? ", the same build copied twice: an update to one will not reach the other"
                       : ", a different build");
    ttml_elf_free(e);
}

static void check_libttml_copies(void)
{
    section("libttml copies");
    if (static_build) {
        /* a plugin that NEEDs the shared libttml would bring a second core
         * (own registries) into this static program */
        const GPtrArray *recs = ttml_registry_records();
        int found = 0;
        for (guint i = 0; i < recs->len; i++) {
            const ttml_plugin_record *r = g_ptr_array_index(recs, i);
            if (r->status == TTML_PLUGIN_SHADOWED || r->status == TTML_PLUGIN_FILTERED || is_builtin(r)) continue;
            ttml_elf_info *e = ttml_elf_read(r->path);
            for (guint j = 0; !e->error && j < e->needed->len; j++) {
                const char *n = g_ptr_array_index(e->needed, j);
                if (!g_str_has_prefix(n, "libttml.so")) continue;
                const char *via;
                char *p = ttml_ld_resolve(e, n, TTML_LD_USE_LOADED | TTML_LD_USE_LD_LIBRARY_PATH, &via);
                problem("in a static build the program exports the ttml API itself: build the plugin without "
                        "linking libttml (leave ttml symbols undefined), or use the shared ttml build with it",
                        "two libttml copies reachable: this static program has libttml linked in, but plugin %s "
                        "needs the shared %s%s%s", r->path, n, p ? ", found at " : " (not found)", p ? p : "");
                g_free(p);
                found++;
            }
            ttml_elf_free(e);
        }
        if (!found) ok("static build: libttml is linked into %s and no plugin needs a shared libttml", self_exe);
        return;
    }
    int found = 0;
    const char *soname = ttml_soname();
    /* the copy this program's own RUNPATH names, ignoring LD_LIBRARY_PATH */
    ttml_elf_info *exe = ttml_elf_read(self_exe);
    const char *via;
    char *own = exe->error ? NULL : ttml_ld_resolve(exe, soname, 0, &via);
    if (own) {
        char *own_real = ttml_doctor_real_path(own);
        g_free(install_libdir);
        install_libdir = g_path_get_dirname(own_real);
        if (strcmp(own_real, running_lib) != 0) {
            const char *llp = secure_getenv("LD_LIBRARY_PATH");
            char *fix = g_strdup_printf("keep one installation: remove the directory of %s from LD_LIBRARY_PATH "
                                        "(now %s) or delete the stale copy, so the tool uses the libttml it was "
                                        "installed with", running_lib, llp ? llp : "unset");
            char *how = g_strdup_printf("this program's own %s finds", via);
            copy_conflict(own_real, how, fix);
            g_free(how);
            g_free(fix);
            found++;
        }
        g_free(own_real);
    }
    g_free(own);
    ttml_elf_free(exe);
    if (!install_libdir) install_libdir = g_path_get_dirname(running_lib);
    /* plugins whose own search (as ldd would do it) finds another libttml */
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_SHADOWED || r->status == TTML_PLUGIN_FILTERED || is_builtin(r)) continue;
        ttml_elf_info *e = ttml_elf_read(r->path);
        gboolean needs = FALSE;
        for (guint j = 0; !e->error && j < e->needed->len; j++)
            needs |= strcmp(g_ptr_array_index(e->needed, j), soname) == 0;
        char *p = needs ? ttml_ld_resolve(e, soname, TTML_LD_USE_LD_LIBRARY_PATH, &via) : NULL;
        char *pr = p ? ttml_doctor_real_path(p) : NULL;
        if (pr && strcmp(pr, running_lib) != 0) {
            char *fix = g_strdup_printf("the plugin belongs to another ttml installation: use the plugins of the "
                                        "install you run (drop %s from --plugin-path / TTML_PLUGIN_PATH) or "
                                        "rebuild and install it next to %s", r->path, running_lib);
            char *how = g_strdup_printf("plugin %s resolves %s through its %s to", r->path, soname, via);
            copy_conflict(pr, how, fix);
            g_free(how);
            g_free(fix);
            found++;
        } else if (needs && !p) {
            info("%s: standalone (as ldd sees it) its %s is not found; inside ttml it uses the loaded copy", r->path,
                 soname);
        }
        g_free(pr);
        g_free(p);
        ttml_elf_free(e);
    }
    /* a system-wide copy is only a note: nothing here uses it */
    const GPtrArray *cached = ttml_ld_cache_paths(soname);
    for (guint i = 0; cached && i < cached->len; i++) {
        char *c = ttml_doctor_real_path(g_ptr_array_index(cached, i));
        if (strcmp(c, running_lib) != 0)
            info("ld.so.cache also knows %s => %s (not used by this process)", soname, c);
        g_free(c);
    }
    if (!found) ok("one libttml: %s (install lib dir %s)", running_lib, install_libdir);
}

static void check_ld_library_path(void)
{
    section("LD_LIBRARY_PATH");
    const char *llp = secure_getenv("LD_LIBRARY_PATH");
    if (!llp || !*llp) {
        ok("LD_LIBRARY_PATH is not set");
        return;
    }
    ok("LD_LIBRARY_PATH=%s", llp);
    const char *soname = ttml_soname();
    char *install_copy = static_build ? NULL : g_build_filename(install_libdir, soname, NULL);
    char **dirs = ttml_ld_expand_dirs(llp, ".");
    gboolean past_install = FALSE;
    int found = 0;
    for (char **d = dirs; *d; d++) {
        if (!ttml_doctor_is_dir(*d)) {
            info("LD_LIBRARY_PATH entry %s does not exist", *d);
            continue;
        }
        if (install_libdir && ttml_doctor_same_file(*d, install_libdir)) {
            past_install = TRUE;
            continue;
        }
        char *lib = g_build_filename(*d, soname, NULL);
        if (!past_install && install_copy && g_file_test(lib, G_FILE_TEST_IS_REGULAR) &&
            !ttml_doctor_same_file(lib, install_copy)) {
            char *fix = g_strdup_printf("remove %s from LD_LIBRARY_PATH (or delete its %s) so the install's %s "
                                        "is used", *d, soname, install_copy);
            problem(fix, "LD_LIBRARY_PATH entry %s shadows the install: its %s%s is found before %s", *d, soname,
                    ttml_doctor_same_content(lib, install_copy) ? " (identical bytes)" : " (a different file)", install_copy);
            g_free(fix);
            found++;
        }
        g_free(lib);
        /* plugin basenames: ttml loads plugins from its plugin path, never
         * through LD_LIBRARY_PATH, so a different copy here is a stale
         * deployment that anything linking the file by name would pick up */
        const GPtrArray *recs = ttml_registry_records();
        for (guint i = 0; i < recs->len; i++) {
            const ttml_plugin_record *r = g_ptr_array_index(recs, i);
            if (r->status == TTML_PLUGIN_SHADOWED || is_builtin(r)) continue;
            char *base = g_path_get_basename(r->path);
            char *cand = g_build_filename(*d, base, NULL);
            if (g_file_test(cand, G_FILE_TEST_IS_REGULAR) && !ttml_doctor_same_content(cand, r->path)) {
                char *fix = g_strdup_printf("ttml finds plugins through the plugin path, not LD_LIBRARY_PATH: "
                                            "delete the stale %s, or if it is the copy you want, load it with "
                                            "--plugin-path %s (or TTML_PLUGIN_PATH)", cand, *d);
                problem(fix, "LD_LIBRARY_PATH entry %s holds a different %s than the plugin ttml loads (%s)", *d,
                        base, r->path);
                g_free(fix);
                found++;
            }
            g_free(cand);
            g_free(base);
        }
    }
    if (!found) ok("no LD_LIBRARY_PATH entry shadows libttml or a plugin");
    g_strfreev(dirs);
    g_free(install_copy);
}

/* A positive integer environment variable, 0 when unset, -1 when malformed. */
static long env_count(const char *name, const char **raw)
{
    const char *v = env_at_start(name);
    *raw = v;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n <= 0) return -1;
    return n;
}

static void check_cpu(void)
{
    section("cpu and threads");
    int cores = 0, pus = 0, packages = 0, numa = 0;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) == 0) {
        if (hwloc_topology_load(topo) == 0) {
            cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
            pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
            packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
            numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        }
        hwloc_topology_destroy(topo);
    }
    if (cores <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        problem("hwloc could not read the topology (is /sys mounted? is HWLOC_XMLFILE or HWLOC_* set?): thread "
                "counts fall back to online CPUs",
                "hwloc found no cores; %ld online CPU(s) per sysconf", n);
        cores = pus = n > 0 ? (int)n : 1;
    } else {
        ok("hwloc topology: %d package(s), %d NUMA node(s), %d physical core(s), %d PU(s)%s", packages, numa, cores,
           pus, pus > cores ? " (SMT on: ttml uses one thread per physical core)" : "");
    }
    for (size_t i = 0; i < 4; i++) { /* the thread counts of env_vars */
        const char *const *vars = env_vars;
        const char *raw;
        long n = env_count(vars[i], &raw);
        if (n == 0) {
            info("%s is not set", vars[i]);
        } else if (n < 0) {
            char *fix = g_strdup_printf("set %s to a positive integer (at most %d, the physical cores) or unset it",
                                        vars[i], cores);
            problem(fix, "%s='%s' is not a positive integer", vars[i], raw);
            g_free(fix);
        } else if (n > cores) {
            char *fix = g_strdup_printf("export %s=%d (or unset it): hyperthreads share the FMA units and "
                                        "oversubscribed threads slow every GEMM down", vars[i], cores);
            problem(fix, "%s=%ld exceeds the %d physical core(s)", vars[i], n, cores);
            g_free(fix);
        } else {
            ok("%s=%ld (<= %d physical cores)", vars[i], n, cores);
        }
    }
    const char *ct = env_at_start("OPENBLAS_CORETYPE"), *tct = env_at_start("TTML_BLAS_CORETYPE");
    ok("OPENBLAS_CORETYPE=%s, TTML_BLAS_CORETYPE=%s (the cpu driver picks the kernel set; TTML_BLAS_CORETYPE "
       "overrides)", ct ? ct : "(unset)", tct ? tct : "(unset)");
    GError *err = NULL;
    ttml_device *dev = ttml_device_open("cpu", &err);
    if (!dev) {
        problem("make sure libttml_cpu.so is in the plugin search path and loads (see the plugins section; "
                "ttml-inspect --rejected)", "cannot open the cpu device: %s", err ? err->message : "?");
        g_clear_error(&err);
        return;
    }
    const ttml_device_info *di = ttml_device_get_info(dev);
    ok("cpu driver: %s, %d thread(s), %d core(s)", di->arch, di->n_threads, di->n_cores);
    info("cpu driver: %s", di->description);
    if (di->n_threads > cores) {
        char *fix = g_strdup_printf("export TTML_CPU_THREADS=%d or unset it (the default is one per physical core)",
                                    cores);
        problem(fix, "the cpu driver runs %d threads on %d physical core(s)", di->n_threads, cores);
        g_free(fix);
    }
}

static void check_crash_cache(void)
{
    section("crash cache");
    const char *path = ttml_registry_cache_path();
    GKeyFile *kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) {
        ok("no crash cache at %s", path);
        g_key_file_free(kf);
        return;
    }
    gsize n = 0;
    char **groups = g_key_file_get_groups(kf, &n);
    int crashed = 0;
    const GPtrArray *recs = ttml_registry_records();
    for (gsize i = 0; i < n; i++) {
        char *status = g_key_file_get_string(kf, groups[i], "status", NULL);
        if (g_strcmp0(status, "crashed") == 0) {
            crashed++;
            gboolean in_path = FALSE;
            for (guint j = 0; j < recs->len && !in_path; j++) {
                const ttml_plugin_record *r = g_ptr_array_index(recs, j);
                in_path = r->status == TTML_PLUGIN_CRASHED && strcmp(r->path, groups[i]) == 0;
            }
            char *reason = g_key_file_get_string(kf, groups[i], "reason", NULL);
            if (in_path)
                info("%s: crashed (%s), reported under plugins", groups[i], reason ? reason : "?");
            else
                ok("%s is recorded as crashed (%s) but is not in the current search path%s", groups[i],
                   reason ? reason : "?", g_file_test(groups[i], G_FILE_TEST_EXISTS) ? "" : " (file gone)");
            g_free(reason);
        }
        g_free(status);
    }
    ok("crash cache %s: %zu entr%s, %d crashed", path, n, n == 1 ? "y" : "ies", crashed);
    g_strfreev(groups);
    g_key_file_free(kf);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    GError *err = NULL;
    GOptionContext *oc = g_option_context_new("- diagnose a ttml installation, its plugins and the environment");
    ttml_tool_plugin_options_add(oc, &opt_plugins);
    g_option_context_add_main_entries(oc, entries, NULL);
    g_option_context_set_description(oc, "Exit status: 0 healthy, 1 a problem was found (one PROBLEM line each, "
                                         "with its fix), 2 bad usage.");
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        fprintf(stderr, "ttml-doctor: %s (see --help)\n", err->message);
        return 2;
    }
    g_option_context_free(oc);
    if (argc > 1) {
        fprintf(stderr, "ttml-doctor: unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    findings = g_ptr_array_new_with_free_func(finding_free);
    for (size_t i = 0; i < G_N_ELEMENTS(env_vars); i++) env_initial[i] = g_strdup(g_getenv(env_vars[i]));
    /* scan new plugin files in a child so a crashing one is diagnosed, not fatal */
    if (!g_getenv("TTML_REGISTRY_FORK")) g_setenv("TTML_REGISTRY_FORK", "1", TRUE);

    ttml_init_options o = {sizeof o, ttml_tool_plugin_paths(&opt_plugins), ttml_tool_plugin_files(&opt_plugins),
                           FALSE, FALSE, FALSE};
    section("init");
    if (!ttml_init(&o, &err)) {
        problem("pass existing plugin files to --plugin", "ttml_init: %s", err->message);
        g_clear_error(&err);
        o.plugin_files = NULL; /* diagnose the rest anyway */
        ttml_shutdown();
        if (!ttml_init(&o, &err)) {
            fprintf(stderr, "ttml-doctor: %s\n", err->message);
            return 1;
        }
    } else {
        ok("libttml initialised");
    }

    self_exe = ttml_doctor_real_path("/proc/self/exe");
    running_lib = ttml_doctor_real_path(ttml_library_path());
    static_build = strcmp(self_exe, running_lib) == 0;
    ttml_ld_model_init();

    check_versions();
    check_search_path();
    check_plugins();
    check_dependencies();
    check_libttml_copies();
    check_ld_library_path();
    check_cpu();
    check_crash_cache();

    if (opt_json) print_json();
    else if (n_problems) printf("\nttml-doctor: %d problem(s) found\n", n_problems);
    else printf("\nttml-doctor: healthy\n");
    int rc = n_problems ? 1 : 0;

    ttml_shutdown();
    g_ptr_array_unref(findings);
    ttml_ld_model_free();
    g_free(self_exe);
    g_free(running_lib);
    g_free(install_libdir);
    ttml_tool_plugin_options_clear(&opt_plugins);
    for (size_t i = 0; i < G_N_ELEMENTS(env_vars); i++) g_free(env_initial[i]);
    return rc;
}
