/* ttml-inspect - what the plugin loader found (after gst-inspect).
 *
 *   ttml-inspect                 every plugin, the search path, every feature
 *   ttml-inspect NAME|FILE.so    one plugin, driver (opens it: device info),
 *                                op, model, optimizer or scheduler
 *   ttml-inspect --rejected      files that failed to load, with reasons
 *   ttml-inspect --exists NAME   exit 0 if a plugin or feature NAME exists
 *   ttml-inspect --scan          load each plugin in a child process first;
 *                                record crashes in the cache (see registry.h)
 */
#include <ttml/ttml.h>

#include "common/plugin_options.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ttml_tool_plugin_options opt_plugins;
static char *opt_exists;
static gboolean opt_rejected, opt_scan;

static GOptionEntry entries[] = {
    {"rejected", 0, 0, G_OPTION_ARG_NONE, &opt_rejected, "List plugin files that failed, with reasons", NULL},
    {"scan", 0, 0, G_OPTION_ARG_NONE, &opt_scan,
     "Load every plugin in a child process first and refresh the crash cache", NULL},
    {"exists", 0, 0, G_OPTION_ARG_STRING, &opt_exists, "Exit 0 if a plugin or feature NAME exists, 1 if not", "NAME"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static void print_overview(void)
{
    printf("ttml %s, plugin ABI %d.%d\nlibttml: %s\n\n", ttml_version_string(), TTML_ABI_MAJOR, TTML_ABI_MINOR,
           ttml_library_path());
    printf("Search path (in order; first basename wins):\n");
    const GPtrArray *sp = ttml_registry_search_path();
    for (guint i = 0; i < sp->len; i++) {
        const ttml_search_dir *d = g_ptr_array_index(sp, i);
        printf("  %-18s %s%s\n", ttml_origin_name(d->origin), d->path, d->exists ? "" : "  (missing)");
    }
    printf("\nPlugins:\n  %-16s %-10s %-8s %-5s %-13s %-16s %s\n", "NAME", "KIND", "VERSION", "ABI", "STATUS",
           "FROM", "PATH");
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        char abi[16] = "-";
        if (r->name) g_snprintf(abi, sizeof abi, "%u.%u", r->abi_major, r->abi_minor);
        printf("  %-16s %-10s %-8s %-5s %-13s %-16s %s\n", r->name ? r->name : "-",
               r->name ? ttml_plugin_kind_name(r->kind) : "-", r->version ? r->version : "-", abi,
               ttml_plugin_status_name(r->status), ttml_origin_name(r->origin), r->path);
    }
    printf("\nFeatures:\n");
    const GPtrArray *fs = ttml_registry_features();
    for (int kind = TTML_FEATURE_DRIVER; kind <= TTML_FEATURE_COMM; kind++) {
        if (kind == TTML_FEATURE_KERNEL) continue;
        char *names = ttml_registry_list_names(kind);
        printf("  %-11s %s\n", ttml_feature_kind_name(kind), names);
        g_free(names);
    }
    /* kernels grouped per driver */
    GString *line = g_string_new(NULL);
    char *cur = NULL;
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (f->kind != TTML_FEATURE_KERNEL) continue;
        const char *slash = strchr(f->name, '/');
        if (!cur || strncmp(cur, f->name, (size_t)(slash - f->name)) != 0 || cur[slash - f->name]) {
            if (cur) printf("  kernels/%s: %s\n", cur, line->str);
            g_free(cur);
            cur = g_strndup(f->name, (gsize)(slash - f->name));
            g_string_truncate(line, 0);
        }
        g_string_append_printf(line, "%s%s", line->len ? ", " : "", slash + 1);
    }
    if (cur) printf("  kernels/%s: %s\n", cur, line->str);
    g_free(cur);
    g_string_free(line, TRUE);
    int rejected = 0;
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        rejected += r->status != TTML_PLUGIN_OK && r->status != TTML_PLUGIN_SHADOWED;
    }
    if (rejected) printf("\n%d plugin file(s) rejected: see ttml-inspect --rejected\n", rejected);
    printf("core build id %s; crash cache %s\n", ttml_build_id(), ttml_registry_cache_path());
}

static int print_rejected(void)
{
    const GPtrArray *recs = ttml_registry_records();
    int n = 0, problems = 0;
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_OK) continue;
        printf("%s: %s: %s\n", r->path, ttml_plugin_status_name(r->status), r->message ? r->message : "");
        /* shadowed / filtered copies are listed but are not failures */
        problems += r->status != TTML_PLUGIN_SHADOWED && r->status != TTML_PLUGIN_FILTERED;
        n++;
    }
    const GPtrArray *cs = ttml_registry_collisions();
    for (guint i = 0; i < cs->len; i++) {
        const ttml_collision *c = g_ptr_array_index(cs, i);
        printf("%s: %s %s '%s' (taken by %s)\n", c->newcomer_path, c->replaced ? "replaces" : "name collision:",
               ttml_feature_kind_name(c->kind), c->name, c->holder_path);
        problems += !c->replaced;
        n++;
    }
    if (!n) printf("no plugin file was rejected\n");
    return problems ? 1 : 0;
}

static const ttml_plugin_record *find_plugin(const char *name)
{
    const GPtrArray *recs = ttml_registry_records();
    char *abs = g_canonicalize_filename(name, NULL); /* records hold absolute paths */
    char *base = g_path_get_basename(name);
    const ttml_plugin_record *hit = NULL;
    for (guint i = 0; i < recs->len && !hit; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        char *rb = g_path_get_basename(r->path);
        if ((r->name && strcmp(r->name, name) == 0 && r->status == TTML_PLUGIN_OK) || strcmp(r->path, abs) == 0 ||
            (g_str_has_suffix(name, ".so") && strcmp(rb, base) == 0))
            hit = r;
        g_free(rb);
    }
    g_free(base);
    g_free(abs);
    return hit;
}

static void print_device(const char *name)
{
    GError *err = NULL;
    ttml_device *d = ttml_device_open(name, &err);
    if (!d) {
        printf("  device: cannot open: %s\n", err->message);
        g_clear_error(&err);
        return;
    }
    const ttml_device_info *info = ttml_device_get_info(d);
    printf("  device:      %s\n  arch:        %s\n  cores:       %d\n  threads:     %d\n", info->name,
           info->arch, info->n_cores, info->n_threads);
    for (int k = 0; k < TTML_MEM_KIND_COUNT; k++)
        if (info->mem_bytes[k])
            printf("  memory %-4s %.1f MiB\n", ttml_mem_kind_name(k), (double)info->mem_bytes[k] / (1 << 20));
    printf("  dtypes:     ");
    for (int t = 0; t < TTML_DTYPE_COUNT; t++)
        if (info->dtypes & (1u << t)) printf(" %s", ttml_dtype_name(t));
    printf("\n");
    if (info->description[0]) printf("  %s\n", info->description);
}

/* An op's parameters: size, whether NULL means defaults, and the fields a
 * config may set by name (ABI 1.3). */
static void print_op_params(const ttml_op_desc *op)
{
    if (!op || !op->params_size) return;
    static const char *const types[] = {"?", "float", "int", "int64", "bool"};
    printf("  parameters:  %zu bytes, %s\n", op->params_size,
           ttml_op_default_params(op) ? "defaults declared (NULL params allowed)" : "no defaults (required)");
    const ttml_op_param_field *fl = ttml_op_param_fields(op);
    for (guint i = 0; fl && fl[i].name; i++)
        printf("    %-12s %-6s %s\n", fl[i].name, (guint)fl[i].type < G_N_ELEMENTS(types) ? types[fl[i].type] : "?",
               fl[i].description ? fl[i].description : "");
}

static int inspect_one(const char *name)
{
    int found = 0;
    const ttml_plugin_record *r = find_plugin(name);
    if (r) {
        found = 1;
        printf("Plugin %s\n  path:        %s\n  from:        %s\n  status:      %s%s%s\n", r->name ? r->name : "-",
               r->path, ttml_origin_name(r->origin), ttml_plugin_status_name(r->status), r->message ? ": " : "",
               r->message ? r->message : "");
        if (r->name)
            printf("  kind:        %s\n  version:     %s\n  ABI:         %u.%u\n  description: %s\n  license:     %s\n",
                   ttml_plugin_kind_name(r->kind), r->version ? r->version : "-", r->abi_major, r->abi_minor,
                   r->description ? r->description : "-", r->license ? r->license : "-");
        if (r->plugin) {
            printf("  provides:\n");
            const GPtrArray *fs = ttml_registry_features();
            for (guint i = 0; i < fs->len; i++) {
                const ttml_feature *f = g_ptr_array_index(fs, i);
                if (f->plugin == r->plugin) printf("    %-10s %s\n", ttml_feature_kind_name(f->kind), f->name);
            }
        }
    }
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (strcmp(f->name, name) != 0) continue;
        found = 1;
        printf("%s%s %s\n  provided by: %s (%s)\n", found > 1 ? "\n" : "", ttml_feature_kind_name(f->kind), f->name,
               f->plugin ? ttml_plugin_get_name(f->plugin) : "?", f->plugin ? ttml_plugin_get_path(f->plugin) : "?");
        if (f->description) printf("  description: %s\n", f->description);
        if (f->kind == TTML_FEATURE_OP) print_op_params(ttml_op_find(f->name));
        if (f->kind == TTML_FEATURE_DRIVER) {
            print_device(name);
            printf("  kernels:    ");
            for (guint j = 0; j < fs->len; j++) {
                const ttml_feature *k = g_ptr_array_index(fs, j);
                if (k->kind == TTML_FEATURE_KERNEL && g_str_has_prefix(k->name, name) && k->name[strlen(name)] == '/')
                    printf(" %s", k->name + strlen(name) + 1);
            }
            printf("\n");
        }
        found++;
    }
    if (!found) {
        char *cause = ttml_registry_rejected_cause(name);
        if (cause) fprintf(stderr, "ttml-inspect: '%s' is unavailable: %s\n", name, cause);
        else fprintf(stderr, "ttml-inspect: no plugin or feature named '%s'; run ttml-inspect to list them\n", name);
        g_free(cause);
        return 1;
    }
    return 0;
}

static gboolean exists(const char *name)
{
    if (find_plugin(name)) return TRUE;
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++)
        if (strcmp(((const ttml_feature *)g_ptr_array_index(fs, i))->name, name) == 0) return TRUE;
    return FALSE;
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    GError *err = NULL;
    GOptionContext *oc = g_option_context_new("[NAME|FILE.so] - list ttml plugins and features");
    ttml_tool_plugin_options_add(oc, &opt_plugins);
    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        fprintf(stderr, "ttml-inspect: %s (see --help)\n", err->message);
        return 2;
    }
    g_option_context_free(oc);
    /* ttml-inspect FILE.so: load that file too, even outside the search path */
    if (argc > 1 && g_str_has_suffix(argv[1], ".so") && g_file_test(argv[1], G_FILE_TEST_IS_REGULAR))
        ttml_tool_plugin_options_add_file(&opt_plugins, argv[1]);
    ttml_init_options o = {sizeof o, ttml_tool_plugin_paths(&opt_plugins), ttml_tool_plugin_files(&opt_plugins),
                           FALSE, FALSE, opt_scan};
    if (!ttml_init(&o, &err)) {
        fprintf(stderr, "ttml-inspect: %s\n", err->message);
        return 1;
    }
    int rc = 0;
    if (opt_exists) rc = exists(opt_exists) ? 0 : 1;
    else if (opt_rejected) rc = print_rejected();
    else if (argc > 1) rc = inspect_one(argv[1]);
    else print_overview();
    ttml_shutdown();
    ttml_tool_plugin_options_clear(&opt_plugins);
    g_free(opt_exists);
    return rc;
}
