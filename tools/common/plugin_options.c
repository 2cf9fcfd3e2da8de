/* tools/common/plugin_options.c - --plugin-path / --plugin for every tool. */
#include "plugin_options.h"

#include <string.h>

void ttml_tool_plugin_options_add(GOptionContext *ctx, ttml_tool_plugin_options *o)
{
    const GOptionEntry entries[] = {
        {"plugin-path", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->path_args,
         "Search DIR (a ':'-separated list; repeatable) for plugins first", "DIR[:DIR]"},
        {"plugin", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->files, "Load this plugin file (repeatable)", "FILE"},
        G_OPTION_ENTRY_NULL,
    };
    g_option_context_add_main_entries(ctx, entries, NULL); /* copies the entries */
}

const char *const *ttml_tool_plugin_paths(ttml_tool_plugin_options *o)
{
    if (!o->paths) {
        GPtrArray *out = g_ptr_array_new();
        for (char **e = o->path_args; e && *e; e++) {
            char **parts = g_strsplit(*e, ":", -1);
            for (char **p = parts; *p; p++)
                if (**p) g_ptr_array_add(out, g_strdup(*p));
            g_strfreev(parts);
        }
        g_ptr_array_add(out, NULL);
        o->paths = (char **)g_ptr_array_free(out, FALSE);
    }
    return (const char *const *)o->paths;
}

void ttml_tool_plugin_options_add_file(ttml_tool_plugin_options *o, const char *file)
{
    guint n = o->files ? g_strv_length(o->files) : 0;
    for (guint i = 0; i < n; i++)
        if (strcmp(o->files[i], file) == 0) return;
    o->files = g_renew(char *, o->files, n + 2);
    o->files[n] = g_strdup(file);
    o->files[n + 1] = NULL;
}

const char *const *ttml_tool_plugin_files(const ttml_tool_plugin_options *o)
{
    return (const char *const *)o->files;
}

void ttml_tool_plugin_options_clear(ttml_tool_plugin_options *o)
{
    g_strfreev(o->path_args);
    g_strfreev(o->files);
    g_strfreev(o->paths);
    memset(o, 0, sizeof *o);
}
