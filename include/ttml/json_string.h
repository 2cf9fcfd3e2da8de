/* ttml/json_string.h - the one JSON string escaper, shared by the checkpoint
 * header, the metrics lines, the profiler's trace and ttml-doctor --json. */
#ifndef TTML_JSON_STRING_H
#define TTML_JSON_STRING_H

#include <glib.h>
#include <ttml/api.h>

G_BEGIN_DECLS

/* Append `s` (UTF-8, not NULL) to `out` as a quoted JSON string literal:
 * '"' and '\\' are escaped, every control character below 0x20 is written
 * as \b \f \n \r \t or \u00XX, everything else (0x7f and non-ASCII bytes
 * included, as RFC 8259 allows) verbatim. Cannot fail. */
TTML_API void ttml_json_append_string(GString *out, const char *s);

G_END_DECLS

#endif
