/* core/plugins/not_found.c - the error for a feature name nothing registered:
 * it leads with the rejected plugin file that would have provided it (when
 * there is one), lists the names that are available (registry.c) and the
 * plugin files that were rejected (problems.c), so the user sees why. */
#include "internal.h"

void ttml_set_not_found(GError **error, ttml_feature_kind kind, const char *what, const char *name)
{
    char *names = ttml_registry_list_names(kind);
    char *rejected = ttml_registry_rejected_summary();
    char *cause = ttml_registry_rejected_cause(name);
    if (cause)
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND, "%s '%s' is unavailable: %s (available: %s)", what,
                    name, cause, names);
    else
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "unknown %s '%s' (available: %s); check the name, or the plugin path "
                    "(ttml-inspect shows what was loaded).%s",
                    what, name ? name : "(null)", names, rejected);
    g_free(cause);
    g_free(names);
    g_free(rejected);
}
