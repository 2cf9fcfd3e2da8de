/* core/plugins/problems.c - what went wrong while loading plugins, told to the
 * user: one warning line per rejected file (reason and fix) and per name
 * collision, the check that explicit --plugin files loaded, and the summary
 * that "unknown ..." errors append. Reads loader.c's records and registry.c's
 * collisions through the public API. */
#include "internal.h"

#include <string.h>

/* A status the user should hear about (shadowed / filtered files are normal). */
static gboolean is_problem(const ttml_plugin_record *r)
{
    return r->status != TTML_PLUGIN_OK && r->status != TTML_PLUGIN_SHADOWED &&
           r->status != TTML_PLUGIN_FILTERED;
}

/* The fix for a rejected file, when its message does not already say it. */
static const char *status_fix(const ttml_plugin_record *r)
{
    switch (r->status) {
    case TTML_PLUGIN_DLOPEN_FAILED:
        if (r->message && strstr(r->message, "openblas"))
            return "install OpenBLAS (Debian: apt install libopenblas0), or remove the file from the plugin path";
        return "install the library it names (ldd shows what is missing), or remove the file from the plugin path";
    case TTML_PLUGIN_NOT_A_PLUGIN: return "remove the file from the plugin path, or rebuild it with TTML_PLUGIN_DEFINE";
    case TTML_PLUGIN_PROBE_ZERO: return "the plugin cannot work on this machine; remove it to silence this";
    case TTML_PLUGIN_INIT_FAILED: /* a message that says what to install carries its fix */
        return r->message && strstr(r->message, "install") ? NULL
                                                           : "fix what its init reports, or remove the file from the plugin path";
    default: return NULL; /* ABI mismatch and crashed messages carry their fix */
    }
}

guint ttml_registry_report_problems(FILE *out, const char *prefix)
{
    guint n = 0;
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; recs && i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (!is_problem(r)) continue;
        const char *fix = status_fix(r);
        fprintf(out, "%swarning: plugin file %s rejected (%s): %s%s%s\n", prefix ? prefix : "", r->path,
                ttml_plugin_status_name(r->status), r->message ? r->message : "", fix ? "; " : "",
                fix ? fix : "");
        n++;
    }
    const GPtrArray *cs = ttml_registry_collisions();
    for (guint i = 0; cs && i < cs->len; i++) {
        const ttml_collision *c = g_ptr_array_index(cs, i);
        if (c->replaced)
            fprintf(out, "%swarning: %s '%s' of %s replaces the one of %s (TTML_PLUGIN_REPLACE)\n",
                    prefix ? prefix : "", ttml_feature_kind_name(c->kind), c->name, c->newcomer_path,
                    c->holder_path);
        else
            fprintf(out, "%swarning: %s '%s' of %s not registered: the name is taken by %s; rename it in %s, "
                    "or set TTML_PLUGIN_REPLACE=%s to replace the first one\n", prefix ? prefix : "",
                    ttml_feature_kind_name(c->kind), c->name, c->newcomer_path, c->holder_path,
                    c->newcomer_path, c->name);
        n++;
    }
    if (n) fflush(out);
    return n;
}

gboolean ttml_registry_check_explicit(GError **error)
{
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; recs && i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->origin != TTML_ORIGIN_CMDLINE_FILE || r->status == TTML_PLUGIN_OK) continue;
        const char *fix = status_fix(r);
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN, "--plugin %s was not loaded (%s): %s%s%s", r->path,
                    ttml_plugin_status_name(r->status), r->message ? r->message : "", fix ? "; " : "",
                    fix ? fix : "");
        return FALSE;
    }
    return TRUE;
}

char *ttml_registry_rejected_summary(void)
{
    const GPtrArray *recs = ttml_registry_records();
    GString *s = g_string_new(NULL);
    for (guint i = 0; recs && i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (!is_problem(r)) continue;
        g_string_append_printf(s, "%s%s (%s: %s)", s->len ? "; " : " Rejected plugin files: ", r->path,
                               ttml_plugin_status_name(r->status), r->message ? r->message : "");
    }
    return g_string_free(s, FALSE);
}

/* The rejected record of the plugin file that would have provided `name`
 * (file libttml_<name>.so, or a descriptor named `name`), or NULL. */
static const ttml_plugin_record *rejected_provider(const char *name)
{
    const GPtrArray *recs = ttml_registry_records();
    char *file = g_strdup_printf("libttml_%s.so", name);
    const ttml_plugin_record *hit = NULL;
    for (guint i = 0; recs && i < recs->len && !hit; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        char *base = g_path_get_basename(r->path);
        if (is_problem(r) && (strcmp(base, file) == 0 || g_strcmp0(r->name, name) == 0)) hit = r;
        g_free(base);
    }
    g_free(file);
    return hit;
}

char *ttml_registry_rejected_cause(const char *name)
{
    const ttml_plugin_record *r = name ? rejected_provider(name) : NULL;
    if (!r) return NULL;
    const char *fix = status_fix(r);
    return g_strdup_printf("the plugin that provides '%s' was rejected: %s (%s): %s%s%s", name, r->path,
                           ttml_plugin_status_name(r->status), r->message ? r->message : "",
                           fix ? "; " : "", fix ? fix : "");
}
