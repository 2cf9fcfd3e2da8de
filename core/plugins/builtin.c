/* core/plugins/builtin.c - plugins compiled into libttml (BUILD_SHARED_LIBS=OFF).
 *
 * In a static build cmake/TtmlPlugin.cmake compiles each driver and core
 * plugin into libttml.a and generates builtin_plugins.c: a table of their
 * ttml_plugin_<name>_get_desc entries (empty in a shared build). They are
 * loaded before any directory is scanned, through the same descriptor checks,
 * probe and init as a plugin file (loader.c walks this table), each with a status
 * record whose origin is TTML_ORIGIN_BUILTIN and whose path is the file that
 * holds them (the executable, or the library linking libttml.a). Each claims
 * the basename libttml_<name>.so, so a stray plugin file of the same name on
 * the search path is reported as shadowed instead of registering twice. */
#include "internal.h"

const ttml_builtin_plugin *ttml_builtin_table(void) { return ttml_builtin_plugins; }
