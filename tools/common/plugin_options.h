/* tools/common/plugin_options.h - the plugin options every tool takes
 * (--plugin-path DIR[:DIR], --plugin FILE), parsed one way for ttml-run,
 * ttml-inspect and ttml-doctor. */
#ifndef TTML_TOOL_PLUGIN_OPTIONS_H
#define TTML_TOOL_PLUGIN_OPTIONS_H

#include <glib.h>

typedef struct ttml_tool_plugin_options {
    char **path_args; /* each --plugin-path as given (NULL when none)  */
    char **files;     /* each --plugin FILE (NULL when none)           */
    char **paths;     /* path_args split at ':', empty parts dropped   */
} ttml_tool_plugin_options;

/* Add --plugin-path and --plugin to the main group of `ctx`; the parsed
 * values land in `o` (zero it first). */
void ttml_tool_plugin_options_add(GOptionContext *ctx, ttml_tool_plugin_options *o);

/* After parsing: the directories named by every --plugin-path, in order,
 * NULL-terminated (never NULL); owned by `o`. For ttml_init_options and
 * friends' plugin_paths. */
const char *const *ttml_tool_plugin_paths(ttml_tool_plugin_options *o);

/* The --plugin files, NULL-terminated, or NULL when none; owned by `o`. */
const char *const *ttml_tool_plugin_files(const ttml_tool_plugin_options *o);

/* Add `file` to the --plugin files (once; copied). */
void ttml_tool_plugin_options_add_file(ttml_tool_plugin_options *o, const char *file);

/* Free what `o` holds and zero it. */
void ttml_tool_plugin_options_clear(ttml_tool_plugin_options *o);

#endif
