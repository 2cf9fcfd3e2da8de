/* core/plugins/not_found.c - the error for a feature name nothing registered:
 * it lists the names that are available (registry.c) and the plugin files
 * that were rejected (loader.c's records), so the user sees why. */
#include "internal.h"

/* " Rejected plugin files: a (status: why); b (...)" or "" (g_free). */
static char *rejected_summary(void)
{
    const GPtrArray *recs = ttml_registry_records();
    GString *s = g_string_new(NULL);
    for (guint i = 0; recs && i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_OK || r->status == TTML_PLUGIN_SHADOWED ||
            r->status == TTML_PLUGIN_FILTERED)
            continue;
        g_string_append_printf(s, "%s%s (%s: %s)", s->len ? "; " : " Rejected plugin files: ", r->path,
                               ttml_plugin_status_name(r->status), r->message ? r->message : "");
    }
    return g_string_free(s, FALSE);
}

void ttml_set_not_found(GError **error, ttml_feature_kind kind, const char *what, const char *name)
{
    char *names = ttml_registry_list_names(kind);
    char *rejected = rejected_summary();
    g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                "unknown %s '%s' (available: %s); check the name, or the plugin path "
                "(ttml-inspect shows what was loaded).%s",
                what, name ? name : "(null)", names, rejected);
    g_free(names);
    g_free(rejected);
}
