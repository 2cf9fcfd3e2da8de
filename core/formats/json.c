/* core/formats/json.c - the private JSON writer and strict parser (see json.h). */
#include "json.h"

#include <ttml/error.h>
#include <ttml/json_string.h>
#include <stdarg.h>
#include <string.h>

typedef struct {
    const char *s;
    gsize len;
    gsize pos;
    gsize err_off;
    GError **error;
} parser;

static void fail(parser *ps, gsize offset, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void fail(parser *ps, gsize offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ps->err_off = offset;
    g_set_error_literal(ps->error, TTML_ERROR, TTML_ERROR_INVALID_ARG, what);
    g_free(what);
}

/* A short description of the byte at pos for messages ("'x'", "byte 0x07", "end of input"). */
static const char *found(const parser *ps, char *buf, gsize size)
{
    if (ps->pos >= ps->len) return "end of input";
    unsigned char c = (unsigned char)ps->s[ps->pos];
    if (c >= 0x21 && c < 0x7f)
        g_snprintf(buf, size, "'%c'", c);
    else
        g_snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(parser *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->s[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

void ttml_json_free(ttml_json *v)
{
    if (!v) return;
    if (v->items) {
        for (guint i = 0; i < v->items->len; i++) ttml_json_free(g_ptr_array_index(v->items, i));
        g_ptr_array_free(v->items, TRUE);
    }
    if (v->keys) g_ptr_array_free(v->keys, TRUE);
    g_free(v->str);
    g_free(v);
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* At the opening quote; returns the decoded string (g_free) or NULL. */
static char *parse_string(parser *ps)
{
    gsize start = ps->pos;
    ps->pos++; /* '"' */
    GString *out = g_string_new(NULL);
    for (;;) {
        if (ps->pos >= ps->len) {
            fail(ps, start, "unterminated string");
            goto error;
        }
        unsigned char c = (unsigned char)ps->s[ps->pos];
        if (c == '"') {
            ps->pos++;
            return g_string_free(out, FALSE);
        }
        if (c < 0x20) {
            fail(ps, ps->pos, "raw control character 0x%02x inside a string (write it as an escape)", c);
            goto error;
        }
        if (c < 0x80 && c != '\\') {
            g_string_append_c(out, (char)c);
            ps->pos++;
            continue;
        }
        if (c >= 0x80) {
            gunichar u = g_utf8_get_char_validated(ps->s + ps->pos, (gssize)(ps->len - ps->pos));
            if (u == (gunichar)-1 || u == (gunichar)-2) {
                fail(ps, ps->pos, "invalid UTF-8 inside a string");
                goto error;
            }
            int n = g_utf8_skip[c];
            g_string_append_len(out, ps->s + ps->pos, n);
            ps->pos += (gsize)n;
            continue;
        }
        /* escape */
        gsize esc = ps->pos;
        if (ps->pos + 1 >= ps->len) {
            fail(ps, esc, "unterminated escape sequence");
            goto error;
        }
        char e = ps->s[ps->pos + 1];
        ps->pos += 2;
        switch (e) {
        case '"': g_string_append_c(out, '"'); continue;
        case '\\': g_string_append_c(out, '\\'); continue;
        case '/': g_string_append_c(out, '/'); continue;
        case 'b': g_string_append_c(out, '\b'); continue;
        case 'f': g_string_append_c(out, '\f'); continue;
        case 'n': g_string_append_c(out, '\n'); continue;
        case 'r': g_string_append_c(out, '\r'); continue;
        case 't': g_string_append_c(out, '\t'); continue;
        case 'u': break;
        default:
            fail(ps, esc, "unknown escape sequence (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
            goto error;
        }
        int cp = ps->pos + 4 <= ps->len ? hex4(ps->s + ps->pos) : -1;
        if (cp < 0) {
            fail(ps, esc, "\\u must be followed by 4 hex digits");
            goto error;
        }
        ps->pos += 4;
        gunichar u = (gunichar)cp;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(ps, esc, "lone low surrogate \\u%04X", (unsigned)cp);
            goto error;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            int lo = ps->pos + 6 <= ps->len && ps->s[ps->pos] == '\\' && ps->s[ps->pos + 1] == 'u'
                         ? hex4(ps->s + ps->pos + 2)
                         : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                fail(ps, esc, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)cp);
                goto error;
            }
            ps->pos += 6;
            u = 0x10000 + (((gunichar)cp - 0xD800) << 10) + ((gunichar)lo - 0xDC00);
        }
        if (u == 0) {
            fail(ps, esc, "\\u0000 (NUL) is not supported in strings");
            goto error;
        }
        char buf[8];
        int n = g_unichar_to_utf8(u, buf);
        g_string_append_len(out, buf, n);
    }
error:
    g_string_free(out, TRUE);
    return NULL;
}

static gboolean parse_int(parser *ps, gint64 *out)
{
    gsize start = ps->pos;
    gboolean neg = FALSE;
    if (ps->s[ps->pos] == '-') {
        neg = TRUE;
        ps->pos++;
    }
    if (ps->pos >= ps->len || ps->s[ps->pos] < '0' || ps->s[ps->pos] > '9') {
        fail(ps, start, "expected a digit after '-'");
        return FALSE;
    }
    if (ps->s[ps->pos] == '0' && ps->pos + 1 < ps->len && ps->s[ps->pos + 1] >= '0' && ps->s[ps->pos + 1] <= '9') {
        fail(ps, start, "leading zeros are not allowed in numbers");
        return FALSE;
    }
    guint64 v = 0;
    while (ps->pos < ps->len && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '9') {
        guint64 d = (guint64)(ps->s[ps->pos] - '0');
        if (v > ((guint64)G_MAXINT64 - d) / 10) {
            fail(ps, start, "integer does not fit in 64 bits");
            return FALSE;
        }
        v = v * 10 + d;
        ps->pos++;
    }
    if (ps->pos < ps->len && (ps->s[ps->pos] == '.' || ps->s[ps->pos] == 'e' || ps->s[ps->pos] == 'E')) {
        fail(ps, start, "only integers are supported (no fractions or exponents)");
        return FALSE;
    }
    *out = neg ? -(gint64)v : (gint64)v;
    return TRUE;
}

static ttml_json *parse_value(parser *ps, int depth);

static ttml_json *parse_container(parser *ps, int depth, gboolean object)
{
    ttml_json *v = g_new0(ttml_json, 1);
    v->type = object ? TTML_JSON_OBJECT : TTML_JSON_ARRAY;
    v->offset = ps->pos;
    v->items = g_ptr_array_new();
    GHashTable *seen = NULL;
    if (object) {
        v->keys = g_ptr_array_new_with_free_func(g_free);
        seen = g_hash_table_new(g_str_hash, g_str_equal);
    }
    char close = object ? '}' : ']';
    char buf[16];
    if (depth >= TTML_JSON_MAX_DEPTH) {
        fail(ps, ps->pos, "nesting deeper than %d levels", TTML_JSON_MAX_DEPTH);
        goto error;
    }
    ps->pos++; /* '{' or '[' */
    skip_ws(ps);
    if (ps->pos < ps->len && ps->s[ps->pos] == close) {
        ps->pos++;
        goto done;
    }
    for (;;) {
        skip_ws(ps);
        if (object) {
            if (ps->pos >= ps->len || ps->s[ps->pos] != '"') {
                fail(ps, ps->pos, "expected a string key, found %s", found(ps, buf, sizeof buf));
                goto error;
            }
            gsize key_off = ps->pos;
            char *key = parse_string(ps);
            if (!key) goto error;
            if (g_hash_table_contains(seen, key)) {
                fail(ps, key_off, "duplicate key \"%s\"", key);
                g_free(key);
                goto error;
            }
            g_ptr_array_add(v->keys, key);
            g_hash_table_add(seen, key);
            skip_ws(ps);
            if (ps->pos >= ps->len || ps->s[ps->pos] != ':') {
                fail(ps, ps->pos, "expected ':' after the key, found %s", found(ps, buf, sizeof buf));
                goto error;
            }
            ps->pos++;
            skip_ws(ps);
        }
        ttml_json *item = parse_value(ps, depth + 1);
        if (!item) goto error;
        g_ptr_array_add(v->items, item);
        skip_ws(ps);
        if (ps->pos < ps->len && ps->s[ps->pos] == ',') {
            ps->pos++;
            continue;
        }
        if (ps->pos < ps->len && ps->s[ps->pos] == close) {
            ps->pos++;
            break;
        }
        fail(ps, ps->pos, "expected ',' or '%c', found %s", close, found(ps, buf, sizeof buf));
        goto error;
    }
done:
    if (seen) g_hash_table_destroy(seen);
    return v;
error:
    if (seen) g_hash_table_destroy(seen);
    ttml_json_free(v);
    return NULL;
}

static ttml_json *parse_value(parser *ps, int depth)
{
    char buf[16];
    if (ps->pos >= ps->len) {
        fail(ps, ps->pos, "expected a value, found end of input");
        return NULL;
    }
    char c = ps->s[ps->pos];
    if (c == '{' || c == '[') return parse_container(ps, depth, c == '{');
    gsize start = ps->pos;
    if (c == '"') {
        char *s = parse_string(ps);
        if (!s) return NULL;
        ttml_json *v = g_new0(ttml_json, 1);
        v->type = TTML_JSON_STRING;
        v->offset = start;
        v->str = s;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        gint64 n;
        if (!parse_int(ps, &n)) return NULL;
        ttml_json *v = g_new0(ttml_json, 1);
        v->type = TTML_JSON_INT;
        v->offset = start;
        v->integer = n;
        return v;
    }
    fail(ps, start, "expected an object, array, string or integer, found %s (true, false, null and "
                    "fractions are not used in safetensors headers)", found(ps, buf, sizeof buf));
    return NULL;
}

ttml_json *ttml_json_parse(const char *data, gsize len, gsize *error_offset, GError **error)
{
    parser ps = {data, len, 0, 0, error};
    char buf[16];
    skip_ws(&ps);
    ttml_json *v = parse_value(&ps, 0);
    if (v) {
        skip_ws(&ps);
        if (ps.pos < ps.len) {
            fail(&ps, ps.pos, "unexpected %s after the end of the value", found(&ps, buf, sizeof buf));
            g_clear_pointer(&v, ttml_json_free);
        }
    }
    if (!v && error_offset) *error_offset = ps.err_off;
    return v;
}

const ttml_json *ttml_json_get(const ttml_json *obj, const char *key)
{
    if (!obj || obj->type != TTML_JSON_OBJECT) return NULL;
    for (guint i = 0; i < obj->keys->len; i++)
        if (strcmp(g_ptr_array_index(obj->keys, i), key) == 0) return g_ptr_array_index(obj->items, i);
    return NULL;
}

const char *ttml_json_type_name(ttml_json_type type)
{
    switch (type) {
    case TTML_JSON_OBJECT: return "object";
    case TTML_JSON_ARRAY: return "array";
    case TTML_JSON_STRING: return "string";
    case TTML_JSON_INT: return "integer";
    }
    return "?";
}

void ttml_json_append_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"': g_string_append(out, "\\\""); break;
        case '\\': g_string_append(out, "\\\\"); break;
        case '\b': g_string_append(out, "\\b"); break;
        case '\f': g_string_append(out, "\\f"); break;
        case '\n': g_string_append(out, "\\n"); break;
        case '\r': g_string_append(out, "\\r"); break;
        case '\t': g_string_append(out, "\\t"); break;
        default:
            if (c < 0x20)
                g_string_append_printf(out, "\\u%04x", c);
            else
                g_string_append_c(out, (char)c);
        }
    }
    g_string_append_c(out, '"');
}
