/* core/train/lm_config.c - the model's view of an LM config: the text of the
 * config with training_config.transformer_config.vocab_size set to the
 * vocabulary the trainer chose (the tokenizer's, padded to 32). The config
 * API has no setters, so the value is edited in the text, keeping every
 * other line where it was (errors about transformer_config keys still point
 * at the user's file). libyaml marks give the byte offsets. */
#include "train_internal.h"

#include <string.h>
#include <yaml.h>

typedef struct {
    gboolean found_section;     /* transformer_config key seen under training_config */
    gboolean section_is_map;
    gboolean flow;              /* flow mapping {..}                                 */
    gboolean empty;             /* no entries                                        */
    size_t map_start;           /* byte of '{' (flow)                                */
    size_t first_key_col;       /* column (0-based) of the first key (block)         */
    size_t last_end;            /* end byte of the last entry                        */
    gboolean has_vocab;
    size_t vocab_begin, vocab_end;
    size_t null_begin, null_end;  /* value span when not a mapping (null scalar)     */
} vocab_edit;

static gboolean scan(const char *text, gsize len, const char *name, vocab_edit *e, GError **error)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    memset(e, 0, sizeof *e);
    if (!yaml_parser_initialize(&parser)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED, "%s: cannot initialise the YAML parser", name);
        return FALSE;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    /* A stack of collection frames: for mappings, whether the next scalar is a key,
     * and the key that selected each collection. */
    enum { MAXD = 64 };
    gboolean is_map[MAXD], expect_key[MAXD];
    char *key_of[MAXD];
    char *pending_key = NULL;  /* key of the value about to come (current map) */
    int depth = 0;
    gboolean ok = TRUE, done = FALSE;
    int section_depth = -1;     /* depth of the transformer_config mapping */
    gboolean in_vocab_value = FALSE;
    memset(key_of, 0, sizeof key_of);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s:%zu:%zu: %s", name,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "invalid YAML");
            ok = FALSE;
            break;
        }
        /* Is this event a value position under a key? */
        gboolean value_pos = depth > 0 && is_map[depth - 1] && !expect_key[depth - 1];
        gboolean key_pos = depth > 0 && is_map[depth - 1] && expect_key[depth - 1];
        /* The path: depth 1 = root map; training_config at depth 1, then its map at 2. */
        gboolean at_section_value = value_pos && depth == 2 && key_of[1] &&
                                    strcmp(key_of[1], "training_config") == 0 && pending_key &&
                                    strcmp(pending_key, "transformer_config") == 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = ev.type == YAML_STREAM_END_EVENT || depth == 0;
            break;
        case YAML_SCALAR_EVENT:
            if (key_pos) {
                g_free(pending_key);
                pending_key = g_strdup((const char *)ev.data.scalar.value);
                expect_key[depth - 1] = FALSE;
                if (section_depth == depth) {
                    if (e->empty) e->first_key_col = ev.start_mark.column;
                    e->empty = FALSE;
                    in_vocab_value = strcmp(pending_key, "vocab_size") == 0;
                }
            } else {
                if (at_section_value) {
                    e->found_section = TRUE;
                    e->null_begin = ev.start_mark.index;
                    e->null_end = ev.end_mark.index;
                }
                if (section_depth == depth) {
                    if (in_vocab_value) {
                        e->has_vocab = TRUE;
                        e->vocab_begin = ev.start_mark.index;
                        e->vocab_end = ev.end_mark.index;
                    }
                    e->last_end = ev.end_mark.index;
                    in_vocab_value = FALSE;
                }
                if (value_pos) expect_key[depth - 1] = TRUE;
            }
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (depth >= MAXD) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: nesting deeper than %d levels",
                            name, MAXD);
                ok = FALSE;
                done = TRUE;
                break;
            }
            if (at_section_value && ev.type == YAML_MAPPING_START_EVENT) {
                e->found_section = TRUE;
                e->section_is_map = TRUE;
                e->flow = ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
                e->map_start = ev.start_mark.index;
                e->empty = TRUE;
                section_depth = depth + 1;
            } else if (at_section_value) {
                e->found_section = TRUE;   /* a sequence: the model reports it */
            }
            key_of[depth] = value_pos ? g_strdup(pending_key) : NULL;
            is_map[depth] = ev.type == YAML_MAPPING_START_EVENT;
            expect_key[depth] = TRUE;
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            g_free(key_of[depth]);
            key_of[depth] = NULL;
            if (section_depth == depth + 1) section_depth = -1;
            if (section_depth == depth) {
                e->last_end = ev.end_mark.index;
                in_vocab_value = FALSE;
            }
            if (depth > 0 && is_map[depth - 1]) expect_key[depth - 1] = TRUE;
            break;
        case YAML_ALIAS_EVENT:
            if (value_pos) expect_key[depth - 1] = TRUE;
            else if (key_pos) expect_key[depth - 1] = FALSE;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    for (int i = 0; i < MAXD; i++) g_free(key_of[i]);
    g_free(pending_key);
    yaml_parser_delete(&parser);
    return ok;
}

char *ttml_lm_config_with_vocab(const char *text, gsize len, const char *name, gint64 vocab_size,
                                GError **error)
{
    vocab_edit e;
    if (!scan(text, len, name, &e, error)) return NULL;
    GString *out = g_string_new_len(text, (gssize)len);
    char num[32];
    g_snprintf(num, sizeof num, "%" G_GINT64_FORMAT, vocab_size);
    if (e.has_vocab) {
        g_string_erase(out, (gssize)e.vocab_begin, (gssize)(e.vocab_end - e.vocab_begin));
        g_string_insert(out, (gssize)e.vocab_begin, num);
    } else if (e.section_is_map && e.flow) {
        char *ins = g_strdup_printf("vocab_size: %s%s", num, e.empty ? "" : ", ");
        g_string_insert(out, (gssize)e.map_start + 1, ins);
        g_free(ins);
    } else if (e.section_is_map) {
        /* A block mapping: a new last entry at the first key's indentation. */
        GString *ins = g_string_new("\n");
        for (size_t i = 0; i < e.first_key_col; i++) g_string_append_c(ins, ' ');
        g_string_append_printf(ins, "vocab_size: %s", num);
        g_string_insert(out, (gssize)e.last_end, ins->str);
        g_string_free(ins, TRUE);
    } else if (e.found_section) {
        /* "transformer_config:" with no value (null) or a scalar: the model
         * reports a non-null scalar; a null becomes a flow mapping. */
        GString *val = g_string_new_len(text + e.null_begin, (gssize)(e.null_end - e.null_begin));
        gboolean is_null = val->len == 0 || strcmp(val->str, "~") == 0 || strcmp(val->str, "null") == 0;
        g_string_free(val, TRUE);
        if (is_null) {
            char *ins = g_strdup_printf(" {vocab_size: %s}", num);
            g_string_erase(out, (gssize)e.null_begin, (gssize)(e.null_end - e.null_begin));
            g_string_insert(out, (gssize)e.null_begin, ins);
            g_free(ins);
        }
    } else {
        g_string_free(out, TRUE);
        /* No section: a document holding just what the model needs. */
        return g_strdup_printf("training_config:\n  transformer_config: {vocab_size: %s}\n", num);
    }
    return g_string_free(out, FALSE);
}

ttml_module *ttml_lm_model_create(const char *model_type, const char *text, gsize len,
                                  const char *name, gint64 vocab_size, GError **error)
{
    char *edited = ttml_lm_config_with_vocab(text, len, name, vocab_size, error);
    if (!edited) return NULL;
    ttml_config *root = ttml_config_load_string(edited, name, error);
    g_free(edited);
    if (!root) return NULL;
    ttml_config *train = ttml_config_peek(root, "training_config");
    ttml_config *tcfg = train ? ttml_config_peek(train, "transformer_config") : NULL;
    if (tcfg && ttml_config_is_null(tcfg)) tcfg = NULL;
    ttml_module *m = ttml_model_create(model_type, tcfg, error);
    ttml_config_free(root);
    return m;
}
