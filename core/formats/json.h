/* core/formats/json.h - a small private JSON writer and a strict, bounded parser for
 * exactly what safetensors headers need: objects, arrays, strings (with all
 * escapes, \uXXXX and surrogate pairs) and integers. true/false/null,
 * fractions and exponents are rejected, as are duplicate object keys, raw
 * control characters, invalid UTF-8, \u0000 and nesting deeper than
 * TTML_JSON_MAX_DEPTH. Every error says what was expected and at which byte
 * offset of the input.
 *
 * Not installed: GLib has no JSON and json-glib is not a dependency.
 */
#ifndef TTML_CORE_JSON_H
#define TTML_CORE_JSON_H

#include <glib.h>

#define TTML_JSON_MAX_DEPTH 32

typedef enum {
    TTML_JSON_OBJECT,
    TTML_JSON_ARRAY,
    TTML_JSON_STRING,
    TTML_JSON_INT,
} ttml_json_type;

typedef struct ttml_json ttml_json;
struct ttml_json {
    ttml_json_type type;
    gsize offset;      /* byte offset of the value's first character in the input */
    char *str;         /* STRING: decoded UTF-8, NUL-terminated (owned)           */
    gint64 integer;    /* INT                                                      */
    GPtrArray *keys;   /* OBJECT: char* keys in document order (owned)             */
    GPtrArray *items;  /* OBJECT: values parallel to keys; ARRAY: items (owned)    */
};

/* Parse one JSON value from data[0..len), followed only by whitespace.
 * On failure returns NULL, sets *error_offset (may be NULL) to the byte
 * offset of the fault and an error (domain TTML_ERROR, code
 * TTML_ERROR_INVALID_ARG) whose message says what was wrong ("expected ','
 * or '}', found 'x'"); callers add the offset in their own terms. */
ttml_json *ttml_json_parse(const char *data, gsize len, gsize *error_offset, GError **error);
void ttml_json_free(ttml_json *v);
/* Member `key` of an object, or NULL. */
const ttml_json *ttml_json_get(const ttml_json *obj, const char *key);
/* "object", "array", "string", "integer". */
const char *ttml_json_type_name(ttml_json_type type);

#endif
