/* ttml/config.h - YAML configuration trees (parsed with libyaml).
 *
 * A node is a mapping, a sequence or a scalar and remembers its file, line
 * and column. Getters mark keys as used; ttml_config_check_unused() then
 * rejects every unknown key with its line, so plugins that read their own
 * fields get unknown-key checking for free. Nodes are owned by the tree
 * (free the root with ttml_config_free).
 */
#ifndef TTML_CONFIG_H
#define TTML_CONFIG_H

#include <ttml/types.h>
#include <ttml/error.h>

G_BEGIN_DECLS

typedef enum { TTML_CONFIG_MAP, TTML_CONFIG_SEQ, TTML_CONFIG_SCALAR } ttml_config_type;

TTML_API ttml_config *ttml_config_load_file(const char *path, GError **error);
TTML_API ttml_config *ttml_config_load_string(const char *text, const char *name, GError **error);
TTML_API void ttml_config_free(ttml_config *root);

TTML_API ttml_config_type ttml_config_get_type(const ttml_config *node);
TTML_API int ttml_config_line(const ttml_config *node);     /* 1-based */
TTML_API int ttml_config_column(const ttml_config *node);   /* 1-based */
TTML_API const char *ttml_config_file(const ttml_config *node);
/* "file:line:col" into buf. */
TTML_API const char *ttml_config_where(const ttml_config *node, char *buf, size_t size);

/* Mapping lookup (marks the key used). NULL when absent. */
TTML_API ttml_config *ttml_config_get(ttml_config *map, const char *key);
/* Sequence access. */
TTML_API guint ttml_config_seq_len(const ttml_config *seq);
TTML_API ttml_config *ttml_config_seq_nth(ttml_config *seq, guint i);
TTML_API const char *ttml_config_scalar(const ttml_config *node);

/* Typed getters: return `def` when the key is absent; on a value of the
 * wrong type set TTML_ERROR_CONFIG ("file:line:col: key 'x' must be an
 * integer, got 'abc'") and return `def`. Check *error after a batch. */
TTML_API gint64 ttml_config_int(ttml_config *map, const char *key, gint64 def, GError **error);
TTML_API double ttml_config_double(ttml_config *map, const char *key, double def, GError **error);
TTML_API gboolean ttml_config_bool(ttml_config *map, const char *key, gboolean def, GError **error);
TTML_API const char *ttml_config_string(ttml_config *map, const char *key, const char *def, GError **error);
/* A sequence of integers / doubles; returns the count (-1 on error), fills a
 * newly allocated array (g_free). Absent key: 0 and *out = NULL. */
TTML_API int ttml_config_int_list(ttml_config *map, const char *key, gint64 **out, GError **error);
TTML_API int ttml_config_double_list(ttml_config *map, const char *key, double **out, GError **error);
/* Error when `map` has keys no getter asked for (recursively below it). */
TTML_API gboolean ttml_config_check_unused(ttml_config *map, GError **error);
/* Mark every key below `node` used (for sections handled elsewhere). */
TTML_API void ttml_config_mark_used(ttml_config *node);
/* Record that `key` is valid in other configs but not in `map`, and `why`
 * (copied): ttml_config_check_unused then reports the key with `why`, and
 * a near-miss of it with "did you mean 'KEY'? (WHY)". */
TTML_API void ttml_config_note_elsewhere(ttml_config *map, const char *key, const char *why);

/* Mapping lookup that neither marks the key used nor records it as known
 * (to look at a section another component will read). NULL when absent. */
TTML_API ttml_config *ttml_config_peek(const ttml_config *map, const char *key);
/* TRUE for a plain scalar "", "~" or "null" (e.g. "optimizer_config:" with
 * nothing after it). */
TTML_API gboolean ttml_config_is_null(const ttml_config *node);

/* Overrides: values the program sets in the tree, leaving the file as it
 * is (e.g. a model's vocab_size chosen by the tokenizer). A replaced value
 * keeps the file, line and column of the one it replaces, so errors about it
 * still point at the user's file; a new key takes its mapping's position.
 * Neither function marks anything used. Both fail with TTML_ERROR_CONFIG
 * (naming where `map` was written) when `map` is not a mapping. */
/* Set `key` of `map` to the integer `value` (added when absent). */
TTML_API gboolean ttml_config_set_int(ttml_config *map, const char *key, gint64 value, GError **error);
/* The mapping under `key` of `map` (owned by the tree), made an empty
 * mapping when the key is absent or null; NULL with an error when the value
 * is a list or a non-null scalar. */
TTML_API ttml_config *ttml_config_ensure_map(ttml_config *map, const char *key, GError **error);

G_END_DECLS

#endif
