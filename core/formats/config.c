/* core/formats/config.c - YAML configuration trees, parsed with libyaml's event API.
 *
 * The tree mirrors the document: a mapping keeps its key nodes and value
 * nodes in two parallel arrays (document order), a sequence its items, a
 * scalar its text. Every node remembers the file (a shared GRefString), its
 * 1-based line and column, and a dotted path ("training_config.seed") used in
 * messages.
 *
 * Usage tracking: ttml_config_get() marks the value it returns used and
 * records the key as "known" in the mapping, even when it is absent, so that
 * ttml_config_check_unused() can list what the program understands next to
 * the key it rejects.
 *
 * Aliases (*name) are rejected: configs do not need them and copying them
 * would let a tiny file expand without bound.
 */
#include <ttml/ttml.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX_DEPTH 128

struct ttml_config {
    ttml_config_type type;
    char *file;            /* GRefString, shared by the tree */
    int line, column;      /* 1-based */
    char *path;            /* "" for the root, "a.b", "a.b[2]" */
    gboolean used;
    gboolean plain;        /* scalar written without quotes */
    char *value;           /* scalar text */
    GPtrArray *keys;       /* map: ttml_config* scalar key nodes */
    GPtrArray *items;      /* map: values; seq: items */
    GPtrArray *known;      /* map: char* keys asked for (owned), may be NULL */
    GHashTable *elsewhere; /* map: key -> why it does not apply here (owned), may be NULL */
};

/* ------------------------------------------------------------------ nodes */

static ttml_config *node_new(ttml_config_type type, const char *file, const yaml_mark_t *mark,
                             const char *path)
{
    ttml_config *n = g_new0(ttml_config, 1);
    n->type = type;
    n->file = g_ref_string_acquire((char *)file);
    n->line = (int)mark->line + 1;
    n->column = (int)mark->column + 1;
    n->path = g_strdup(path);
    if (type != TTML_CONFIG_SCALAR) n->items = g_ptr_array_new();
    if (type == TTML_CONFIG_MAP) n->keys = g_ptr_array_new();
    return n;
}

static void node_free(ttml_config *n)
{
    if (!n) return;
    if (n->items) {
        for (guint i = 0; i < n->items->len; i++) node_free(g_ptr_array_index(n->items, i));
        g_ptr_array_free(n->items, TRUE);
    }
    if (n->keys) {
        for (guint i = 0; i < n->keys->len; i++) node_free(g_ptr_array_index(n->keys, i));
        g_ptr_array_free(n->keys, TRUE);
    }
    if (n->known) g_ptr_array_free(n->known, TRUE);
    if (n->elsewhere) g_hash_table_destroy(n->elsewhere);
    g_ref_string_release(n->file);
    g_free(n->path);
    g_free(n->value);
    g_free(n);
}

void ttml_config_free(ttml_config *root) { node_free(root); }

ttml_config_type ttml_config_get_type(const ttml_config *node)
{
    return node ? node->type : TTML_CONFIG_SCALAR;
}
int ttml_config_line(const ttml_config *node) { return node ? node->line : 0; }
int ttml_config_column(const ttml_config *node) { return node ? node->column : 0; }
const char *ttml_config_file(const ttml_config *node) { return node ? node->file : NULL; }

const char *ttml_config_where(const ttml_config *node, char *buf, size_t size)
{
    if (!node)
        g_strlcpy(buf, "<config>", size);
    else
        g_snprintf(buf, size, "%s:%d:%d", node->file, node->line, node->column);
    return buf;
}

/* ---------------------------------------------------------------- parsing */

typedef struct {
    yaml_parser_t parser;
    char *file;            /* GRefString */
    GError **error;
} parse_state;

static void set_parser_error(parse_state *st)
{
    yaml_parser_t *p = &st->parser;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        g_set_error(st->error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: byte %zu: %s (the file must be UTF-8 text)", st->file, p->problem_offset,
                    problem);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR) {
        g_set_error(st->error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: out of memory while parsing",
                    st->file);
        return;
    }
    GString *msg = g_string_new(NULL);
    g_string_append_printf(msg, "%s:%zu:%zu: %s", st->file, p->problem_mark.line + 1,
                           p->problem_mark.column + 1, problem);
    if (p->context) {
        g_string_append_printf(msg, " %s", p->context);
        if (p->context_mark.line != p->problem_mark.line ||
            p->context_mark.column != p->problem_mark.column)
            g_string_append_printf(msg, " (started at line %zu, column %zu)",
                                   p->context_mark.line + 1, p->context_mark.column + 1);
    }
    g_set_error_literal(st->error, TTML_ERROR, TTML_ERROR_CONFIG, msg->str);
    g_string_free(msg, TRUE);
}

static gboolean next_event(parse_state *st, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&st->parser, ev)) {
        set_parser_error(st);
        return FALSE;
    }
    return TRUE;
}

static void set_node_error(parse_state *st, const yaml_mark_t *mark, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void set_node_error(parse_state *st, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(st->error, TTML_ERROR, TTML_ERROR_CONFIG, "%s:%zu:%zu: %s", st->file,
                mark->line + 1, mark->column + 1, what);
    g_free(what);
}

static char *child_path(const char *parent, const char *key)
{
    return parent[0] ? g_strdup_printf("%s.%s", parent, key) : g_strdup(key);
}

static ttml_config *map_lookup(const ttml_config *map, const char *key, guint *index)
{
    if (!map || map->type != TTML_CONFIG_MAP || !key) return NULL;
    for (guint i = 0; i < map->keys->len; i++) {
        const ttml_config *k = g_ptr_array_index(map->keys, i);
        if (strcmp(k->value, key) == 0) {
            if (index) *index = i;
            return g_ptr_array_index(map->items, i);
        }
    }
    return NULL;
}

/* Build the node that starts with `ev` (consumed). NULL on error. */
static ttml_config *parse_node(parse_state *st, yaml_event_t *ev, const char *path, int depth)
{
    if (depth > CONFIG_MAX_DEPTH) {
        set_node_error(st, &ev->start_mark, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        ttml_config *n = node_new(TTML_CONFIG_SCALAR, st->file, &ev->start_mark, path);
        n->value = g_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
                   ev->data.scalar.style == YAML_ANY_SCALAR_STYLE;
        yaml_event_delete(ev);
        return n;
    }
    case YAML_ALIAS_EVENT:
        set_node_error(st, &ev->start_mark,
                       "YAML aliases (*%s) are not supported; write the value out again",
                       (const char *)ev->data.alias.anchor);
        yaml_event_delete(ev);
        return NULL;
    case YAML_SEQUENCE_START_EVENT: {
        ttml_config *n = node_new(TTML_CONFIG_SEQ, st->file, &ev->start_mark, path);
        yaml_event_delete(ev);
        for (;;) {
            yaml_event_t item;
            if (!next_event(st, &item)) break;
            if (item.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&item);
                return n;
            }
            char *ipath = g_strdup_printf("%s[%u]", path, n->items->len);
            ttml_config *c = parse_node(st, &item, ipath, depth + 1);
            g_free(ipath);
            if (!c) break;
            g_ptr_array_add(n->items, c);
        }
        node_free(n);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        ttml_config *n = node_new(TTML_CONFIG_MAP, st->file, &ev->start_mark, path);
        yaml_event_delete(ev);
        for (;;) {
            yaml_event_t kev;
            if (!next_event(st, &kev)) break;
            if (kev.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&kev);
                return n;
            }
            if (kev.type != YAML_SCALAR_EVENT) {
                set_node_error(st, &kev.start_mark,
                               "mapping keys must be scalars (a %s was used as a key)",
                               kev.type == YAML_MAPPING_START_EVENT    ? "mapping"
                               : kev.type == YAML_SEQUENCE_START_EVENT ? "sequence"
                                                                       : "non-scalar");
                yaml_event_delete(&kev);
                break;
            }
            ttml_config *key = parse_node(st, &kev, path, depth + 1);
            if (!key) break;
            ttml_config *prev = map_lookup(n, key->value, NULL);
            if (prev) {
                guint idx = 0;
                map_lookup(n, key->value, &idx);
                const ttml_config *pk = g_ptr_array_index(n->keys, idx);
                g_set_error(st->error, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s:%d:%d: duplicate key '%s' (first given at line %d); remove one "
                            "of them",
                            st->file, key->line, key->column, key->value, pk->line);
                node_free(key);
                break;
            }
            char *vpath = child_path(path, key->value);
            yaml_event_t vev;
            ttml_config *val = NULL;
            if (next_event(st, &vev)) val = parse_node(st, &vev, vpath, depth + 1);
            g_free(vpath);
            if (!val) {
                node_free(key);
                break;
            }
            g_ptr_array_add(n->keys, key);
            g_ptr_array_add(n->items, val);
        }
        node_free(n);
        return NULL;
    }
    default:
        set_node_error(st, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
        yaml_event_delete(ev);
        return NULL;
    }
}

static ttml_config *parse_document(parse_state *st)
{
    ttml_config *root = NULL;
    yaml_event_t ev;
    gboolean in_doc = FALSE, done = FALSE;
    while (!done) {
        if (!next_event(st, &ev)) goto fail;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            yaml_event_delete(&ev);
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) {
                set_node_error(st, &ev.start_mark,
                               "a second YAML document ('---'); a config file holds one");
                yaml_event_delete(&ev);
                goto fail;
            }
            in_doc = TRUE;
            yaml_event_delete(&ev);
            break;
        case YAML_STREAM_END_EVENT:
            done = TRUE;
            if (!root) root = node_new(TTML_CONFIG_MAP, st->file, &ev.start_mark, "");
            yaml_event_delete(&ev);
            break;
        default:
            if (!in_doc || root) {
                set_node_error(st, &ev.start_mark, "unexpected content");
                yaml_event_delete(&ev);
                goto fail;
            }
            root = parse_node(st, &ev, "", 0);
            if (!root) goto fail;
            /* A document that is only "~" or empty counts as an empty mapping. */
            if (root->type == TTML_CONFIG_SCALAR && root->plain &&
                (root->value[0] == '\0' || strcmp(root->value, "~") == 0 ||
                 g_ascii_strcasecmp(root->value, "null") == 0)) {
                ttml_config *empty = node_new(TTML_CONFIG_MAP, st->file,
                                              &(yaml_mark_t){0, (size_t)root->line - 1,
                                                             (size_t)root->column - 1},
                                              "");
                node_free(root);
                root = empty;
            }
            break;
        }
    }
    return root;
fail:
    node_free(root);
    return NULL;
}

static ttml_config *parse_buffer(const char *text, size_t len, const char *name, GError **error)
{
    parse_state st = {.file = g_ref_string_new(name ? name : "<string>"), .error = error};
    if (!yaml_parser_initialize(&st.parser)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: cannot initialise the YAML parser",
                    st.file);
        g_ref_string_release(st.file);
        return NULL;
    }
    yaml_parser_set_input_string(&st.parser, (const unsigned char *)text, len);
    ttml_config *root = parse_document(&st);
    yaml_parser_delete(&st.parser);
    g_ref_string_release(st.file);
    return root;
}

ttml_config *ttml_config_load_string(const char *text, const char *name, GError **error)
{
    g_return_val_if_fail(text != NULL, NULL);
    return parse_buffer(text, strlen(text), name, error);
}

ttml_config *ttml_config_load_file(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot open config file '%s': %s", path,
                    g_strerror(e));
        return NULL;
    }
    GString *buf = g_string_new(NULL);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) g_string_append_len(buf, chunk, (gssize)n);
    if (ferror(f)) {
        int e = errno;
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO, "cannot read config file '%s': %s", path,
                    g_strerror(e));
        fclose(f);
        g_string_free(buf, TRUE);
        return NULL;
    }
    fclose(f);
    ttml_config *root = parse_buffer(buf->str, buf->len, path, error);
    g_string_free(buf, TRUE);
    return root;
}

/* ----------------------------------------------------------------- access */

static void record_known(ttml_config *map, const char *key)
{
    if (!map->known) map->known = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < map->known->len; i++)
        if (strcmp(g_ptr_array_index(map->known, i), key) == 0) return;
    g_ptr_array_add(map->known, g_strdup(key));
}

ttml_config *ttml_config_get(ttml_config *map, const char *key)
{
    if (!map || map->type != TTML_CONFIG_MAP || !key) return NULL;
    record_known(map, key);
    ttml_config *v = map_lookup(map, key, NULL);
    if (v) v->used = TRUE;
    return v;
}

ttml_config *ttml_config_peek(const ttml_config *map, const char *key)
{
    return map_lookup(map, key, NULL);
}

guint ttml_config_seq_len(const ttml_config *seq)
{
    return seq && seq->type == TTML_CONFIG_SEQ ? seq->items->len : 0;
}

ttml_config *ttml_config_seq_nth(ttml_config *seq, guint i)
{
    if (!seq || seq->type != TTML_CONFIG_SEQ || i >= seq->items->len) return NULL;
    ttml_config *c = g_ptr_array_index(seq->items, i);
    c->used = TRUE;
    return c;
}

const char *ttml_config_scalar(const ttml_config *node)
{
    return node && node->type == TTML_CONFIG_SCALAR ? node->value : NULL;
}

gboolean ttml_config_is_null(const ttml_config *node)
{
    return node && node->type == TTML_CONFIG_SCALAR && node->plain &&
           (node->value[0] == '\0' || strcmp(node->value, "~") == 0 ||
            strcmp(node->value, "null") == 0 || strcmp(node->value, "Null") == 0 ||
            strcmp(node->value, "NULL") == 0);
}

/* ---------------------------------------------------------- typed getters */

static gboolean parse_int(const char *s, gint64 *out)
{
    if (!s || !*s) return FALSE;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16;
    else if (p[0] == '0' && p[1] == 'o') base = 8;
    if (!g_ascii_isxdigit(base == 10 ? *p : p[2])) return FALSE;
    /* "_" separators (YAML 1.1) are not accepted: a typo is more likely. */
    errno = 0;
    char *end = NULL;
    gint64 v;
    if (base == 10) {
        v = g_ascii_strtoll(s, &end, 10);
    } else {
        gboolean neg = s[0] == '-';
        guint64 u = g_ascii_strtoull(p + 2, &end, base);
        if (errno == 0 && u > (guint64)G_MAXINT64) errno = ERANGE;
        v = neg ? -(gint64)u : (gint64)u;
    }
    if (errno != 0 || !end || *end != '\0') return FALSE;
    *out = v;
    return TRUE;
}

static gboolean parse_double(const char *s, double *out)
{
    if (!s || !*s) return FALSE;
    if (strcmp(s, ".inf") == 0 || strcmp(s, "+.inf") == 0 || strcmp(s, ".Inf") == 0) {
        *out = INFINITY;
        return TRUE;
    }
    if (strcmp(s, "-.inf") == 0 || strcmp(s, "-.Inf") == 0) {
        *out = -INFINITY;
        return TRUE;
    }
    if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0) {
        *out = NAN;
        return TRUE;
    }
    /* Only decimal notation (no hex floats, no "inf"/"nan" words). */
    for (const char *p = s; *p; p++)
        if (!(g_ascii_isdigit(*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
              *p == '-'))
            return FALSE;
    errno = 0;
    char *end = NULL;
    double v = g_ascii_strtod(s, &end);
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL)) return FALSE;
    if (end == s || *end != '\0') return FALSE;
    *out = v;
    return TRUE;
}

static gboolean parse_bool(const char *s, gboolean *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (g_ascii_strcasecmp(s, yes[i]) == 0) {
            *out = TRUE;
            return TRUE;
        }
    for (int i = 0; no[i]; i++)
        if (g_ascii_strcasecmp(s, no[i]) == 0) {
            *out = FALSE;
            return TRUE;
        }
    return FALSE;
}

static void describe_value(const ttml_config *v, char *buf, size_t size)
{
    if (v->type == TTML_CONFIG_MAP)
        g_strlcpy(buf, "a mapping", size);
    else if (v->type == TTML_CONFIG_SEQ)
        g_strlcpy(buf, "a list", size);
    else if (ttml_config_is_null(v))
        g_strlcpy(buf, "an empty value", size);
    else {
        char *clip = g_strndup(v->value, 60);
        g_snprintf(buf, size, "'%s%s'", clip, strlen(v->value) > 60 ? "..." : "");
        g_free(clip);
    }
}

static void set_type_error(GError **error, const ttml_config *v, const char *key, int index,
                           const char *what)
{
    if (!error || *error) return;   /* keep the first error of a batch */
    char where[512], got[128], name[256];
    describe_value(v, got, sizeof got);
    if (index >= 0)
        g_snprintf(name, sizeof name, "'%s'[%d]", key, index);
    else
        g_snprintf(name, sizeof name, "'%s'", key);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s must be %s, got %s",
                ttml_config_where(v, where, sizeof where), name, what, got);
}

gint64 ttml_config_int(ttml_config *map, const char *key, gint64 def, GError **error)
{
    ttml_config *v = ttml_config_get(map, key);
    if (!v) return def;
    gint64 out;
    if (v->type != TTML_CONFIG_SCALAR || !parse_int(v->value, &out)) {
        set_type_error(error, v, key, -1, "an integer");
        return def;
    }
    return out;
}

double ttml_config_double(ttml_config *map, const char *key, double def, GError **error)
{
    ttml_config *v = ttml_config_get(map, key);
    if (!v) return def;
    double out;
    if (v->type != TTML_CONFIG_SCALAR || !parse_double(v->value, &out)) {
        set_type_error(error, v, key, -1, "a number");
        return def;
    }
    return out;
}

gboolean ttml_config_bool(ttml_config *map, const char *key, gboolean def, GError **error)
{
    ttml_config *v = ttml_config_get(map, key);
    if (!v) return def;
    gboolean out;
    if (v->type != TTML_CONFIG_SCALAR || !parse_bool(v->value, &out)) {
        set_type_error(error, v, key, -1, "true or false");
        return def;
    }
    return out;
}

const char *ttml_config_string(ttml_config *map, const char *key, const char *def, GError **error)
{
    ttml_config *v = ttml_config_get(map, key);
    if (!v) return def;
    if (v->type != TTML_CONFIG_SCALAR || ttml_config_is_null(v)) {
        set_type_error(error, v, key, -1, "a string");
        return def;
    }
    return v->value;
}

static int number_list(ttml_config *map, const char *key, gboolean integers, void **out,
                       GError **error)
{
    *out = NULL;
    ttml_config *v = ttml_config_get(map, key);
    if (!v) return 0;
    if (v->type != TTML_CONFIG_SEQ) {
        set_type_error(error, v, key, -1,
                       integers ? "a list of integers like [1, 2]" : "a list of numbers like [0.5, 2]");
        return -1;
    }
    guint n = v->items->len;
    gint64 *ints = integers ? g_new0(gint64, n ? n : 1) : NULL;
    double *dbls = integers ? NULL : g_new0(double, n ? n : 1);
    for (guint i = 0; i < n; i++) {
        ttml_config *item = ttml_config_seq_nth(v, i);
        gboolean ok = item->type == TTML_CONFIG_SCALAR &&
                      (integers ? parse_int(item->value, &ints[i])
                                : parse_double(item->value, &dbls[i]));
        if (!ok) {
            set_type_error(error, item, key, (int)i, integers ? "an integer" : "a number");
            g_free(ints);
            g_free(dbls);
            return -1;
        }
    }
    *out = integers ? (void *)ints : (void *)dbls;
    return (int)n;
}

int ttml_config_int_list(ttml_config *map, const char *key, gint64 **out, GError **error)
{
    void *p = NULL;
    int n = number_list(map, key, TRUE, &p, error);
    *out = p;
    return n;
}

int ttml_config_double_list(ttml_config *map, const char *key, double **out, GError **error)
{
    void *p = NULL;
    int n = number_list(map, key, FALSE, &p, error);
    *out = p;
    return n;
}

/* --------------------------------------------------------------- overrides */

/* A node at `at`'s place (file, line, column), for a value set by the program. */
static ttml_config *node_like(ttml_config_type type, const ttml_config *at, const char *path)
{
    yaml_mark_t mark = {0};
    mark.line = at->line > 0 ? (size_t)at->line - 1 : 0;
    mark.column = at->column > 0 ? (size_t)at->column - 1 : 0;
    return node_new(type, at->file, &mark, path);
}

/* Put `value` (taken over) under `key` of `map`: it replaces the old value
 * node (taking its place) or becomes a new last entry placed at the mapping. */
static void map_put(ttml_config *map, const char *key, ttml_config *value)
{
    guint i = 0;
    ttml_config *old = map_lookup(map, key, &i);
    if (old) {
        node_free(old);
        g_ptr_array_index(map->items, i) = value;
        return;
    }
    ttml_config *k = node_like(TTML_CONFIG_SCALAR, map, map->path);
    k->value = g_strdup(key);
    k->plain = TRUE;
    g_ptr_array_add(map->keys, k);
    g_ptr_array_add(map->items, value);
}

static gboolean check_override_target(const ttml_config *map, const char *key, GError **error)
{
    if (map && map->type == TTML_CONFIG_MAP && key) return TRUE;
    char where[512];
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                "%s: cannot set '%s': '%s' is not a mapping", ttml_config_where(map, where, sizeof where),
                key ? key : "(null)", map && map->path[0] ? map->path : "the document");
    return FALSE;
}

gboolean ttml_config_set_int(ttml_config *map, const char *key, gint64 value, GError **error)
{
    if (!check_override_target(map, key, error)) return FALSE;
    ttml_config *old = map_lookup(map, key, NULL);
    char *path = child_path(map->path, key);
    ttml_config *n = node_like(TTML_CONFIG_SCALAR, old ? old : map, path);
    g_free(path);
    n->value = g_strdup_printf("%" G_GINT64_FORMAT, value);
    n->plain = TRUE;
    n->used = old ? old->used : FALSE;
    map_put(map, key, n);
    return TRUE;
}

ttml_config *ttml_config_ensure_map(ttml_config *map, const char *key, GError **error)
{
    if (!check_override_target(map, key, error)) return NULL;
    ttml_config *old = map_lookup(map, key, NULL);
    if (old && old->type == TTML_CONFIG_MAP) return old;
    if (old && !ttml_config_is_null(old)) {
        char where[512], got[128];
        describe_value(old, got, sizeof got);
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: '%s' must be a mapping, got %s",
                    ttml_config_where(old, where, sizeof where), key, got);
        return NULL;
    }
    char *path = child_path(map->path, key);
    ttml_config *n = node_like(TTML_CONFIG_MAP, old ? old : map, path);
    g_free(path);
    n->used = old ? old->used : FALSE;
    map_put(map, key, n);
    return n;
}

/* ------------------------------------------------------------ usage marks */

void ttml_config_mark_used(ttml_config *node)
{
    if (!node) return;
    node->used = TRUE;
    if (node->items)
        for (guint i = 0; i < node->items->len; i++)
            ttml_config_mark_used(g_ptr_array_index(node->items, i));
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Levenshtein distance, capped; for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int row[65];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int sub = diag + (g_ascii_tolower(a[i - 1]) != g_ascii_tolower(b[j - 1]));
            int best = MIN(sub, MIN(row[j] + 1, row[j - 1] + 1));
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

void ttml_config_note_elsewhere(ttml_config *map, const char *key, const char *why)
{
    if (!map || map->type != TTML_CONFIG_MAP || !key || !why) return;
    if (!map->elsewhere) map->elsewhere = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_replace(map->elsewhere, g_strdup(key), g_strdup(why));
}

/* The key of map->elsewhere nearest to `key` (distance < 3), or NULL. */
static const char *nearest_elsewhere(const ttml_config *map, const char *key, int *best_d)
{
    const char *best = NULL;
    if (!map->elsewhere) return NULL;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, map->elsewhere);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        int d = edit_distance(k, key);
        if (d < *best_d || (d == *best_d && best && strcmp(k, best) < 0)) {
            *best_d = d;
            best = k;
        }
    }
    return best;
}

static void set_unknown_error(GError **error, const ttml_config *map, const ttml_config *key)
{
    GString *msg = g_string_new(NULL);
    g_string_append_printf(msg, "%s:%d: unknown key '%s' ", key->file, key->line, key->value);
    if (map->path[0])
        g_string_append_printf(msg, "in '%s'", map->path);
    else
        g_string_append(msg, "at the top level");
    int near_d = 3;
    const char *near = nearest_elsewhere(map, key->value, &near_d);
    if (near && near_d == 0) {
        g_string_append_printf(msg, ": %s", (const char *)g_hash_table_lookup(map->elsewhere, near));
        near = NULL;
    }
    if (map->known && map->known->len > 0) {
        GPtrArray *sorted = g_ptr_array_new();
        const char *best = NULL;
        int best_d = near ? near_d : 3;
        for (guint i = 0; i < map->known->len; i++) {
            const char *k = g_ptr_array_index(map->known, i);
            g_ptr_array_add(sorted, (gpointer)k);
            int d = edit_distance(k, key->value);
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        g_ptr_array_sort(sorted, cmp_str);
        if (best)
            g_string_append_printf(msg, "; did you mean '%s'?", best);
        else if (near)
            g_string_append_printf(msg, "; did you mean '%s'? (%s)", near,
                                   (const char *)g_hash_table_lookup(map->elsewhere, near));
        g_string_append(msg, " (known here: ");
        for (guint i = 0; i < sorted->len; i++)
            g_string_append_printf(msg, "%s%s", i ? ", " : "",
                                   (const char *)g_ptr_array_index(sorted, i));
        g_string_append(msg, ")");
        g_ptr_array_free(sorted, TRUE);
    } else {
        g_string_append(msg, " (nothing reads keys here; remove it)");
    }
    g_set_error_literal(error, TTML_ERROR, TTML_ERROR_CONFIG, msg->str);
    g_string_free(msg, TRUE);
}

static gboolean check_unused(const ttml_config *node, GError **error)
{
    if (node->type == TTML_CONFIG_MAP) {
        for (guint i = 0; i < node->items->len; i++) {
            const ttml_config *k = g_ptr_array_index(node->keys, i);
            const ttml_config *v = g_ptr_array_index(node->items, i);
            if (!v->used) {
                set_unknown_error(error, node, k);
                return FALSE;
            }
            if (!check_unused(v, error)) return FALSE;
        }
    } else if (node->type == TTML_CONFIG_SEQ) {
        for (guint i = 0; i < node->items->len; i++)
            if (!check_unused(g_ptr_array_index(node->items, i), error)) return FALSE;
    }
    return TRUE;
}

gboolean ttml_config_check_unused(ttml_config *map, GError **error)
{
    if (!map) return TRUE;
    return check_unused(map, error);
}
