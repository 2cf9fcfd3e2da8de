/* core/train/pp_checkpoint.c - checkpoints of a pipeline-parallel run
 * (pipeline.h): one shard per stage, then an index, the commit point.
 *
 * A shard is an ordinary ttml training-state file (train_state.c) holding
 * only its stage's parameters and optimizer state, under the unsharded
 * names, plus metadata pp_stage / pp_stages. It is named after the step
 * ("<model_path minus .safetensors>.step<N>.pp<k>of<P>.safetensors", beside
 * model_path), so writing step N never touches the shards the current index
 * names. The index is written at model_path itself, after every shard: a
 * safetensors file without tensors whose metadata says
 *   format      "ttml-sharded-1"
 *   step        the step of the shards
 *   tp, dp, pp  the layout ("1", "<replicas>", "<stages>")
 *   shard.<k>   the file name of stage k's shard (relative to the index)
 *   weight_map  a JSON object: every tensor name -> its shard's file name
 * (the weight_map of Hugging Face's model.safetensors.index.json). Once the
 * new index is in place (written atomically) the previous index's shards are
 * removed. A crash before that leaves the previous index and its shards. */
#include "train_app.h"
#include "pipeline.h"

#include <glib/gstdio.h>
#include <string.h>

char *ttml_pp_shard_name(const char *model_path, gint64 step, int stage, int stages)
{
    char *base = g_path_get_basename(model_path);
    if (g_str_has_suffix(base, ".safetensors")) base[strlen(base) - strlen(".safetensors")] = '\0';
    char *name = g_strdup_printf("%s.step%" G_GINT64_FORMAT ".pp%dof%d.safetensors", base, step, stage, stages);
    g_free(base);
    return name;
}

static char *beside(const char *model_path, const char *name)
{
    char *dir = g_path_get_dirname(model_path);
    char *p = g_build_filename(dir, name, NULL);
    g_free(dir);
    return p;
}

gboolean ttml_pp_shard_save(const char *model_path, int stage, int stages, GPtrArray *params, ttml_optimizer *opt,
                            const ttml_train_state_info *info, GError **error)
{
    char *name = ttml_pp_shard_name(model_path, info->step, stage, stages);
    char *path = beside(model_path, name);
    GHashTable *extra = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_hash_table_insert(extra, "pp_stage", g_strdup_printf("%d", stage));
    g_hash_table_insert(extra, "pp_stages", g_strdup_printf("%d", stages));
    gboolean ok = ttml_train_state_save_list(path, params, opt, info, extra, error);
    g_hash_table_unref(extra);
    g_free(path);
    g_free(name);
    return ok;
}

/* The shard names of the index at `path` (NULL when it is not one). */
static GPtrArray *index_shards(const char *path)
{
    ttml_checkpoint *ck = g_file_test(path, G_FILE_TEST_EXISTS) ? ttml_checkpoint_open(path, NULL) : NULL;
    const char *fmt = ck ? ttml_checkpoint_metadata(ck, "format") : NULL;
    GPtrArray *out = NULL;
    if (fmt && strcmp(fmt, TTML_PP_INDEX_FORMAT) == 0) {
        out = g_ptr_array_new_with_free_func(g_free);
        for (int k = 0;; k++) {
            char key[32];
            g_snprintf(key, sizeof key, "shard.%d", k);
            const char *v = ttml_checkpoint_metadata(ck, key);
            if (!v) break;
            g_ptr_array_add(out, g_strdup(v));
        }
    }
    if (ck) ttml_checkpoint_close(ck);
    return out;
}

/* weight_map: every tensor of every shard -> the shard's name. */
static gboolean weight_map(const char *model_path, GPtrArray *names, GString *map, GError **error)
{
    g_string_append_c(map, '{');
    gboolean first = TRUE;
    for (guint k = 0; k < names->len; k++) {
        char *path = beside(model_path, g_ptr_array_index(names, k));
        ttml_checkpoint *ck = ttml_checkpoint_open(path, error);
        g_free(path);
        if (!ck) return FALSE;
        const GPtrArray *t = ttml_checkpoint_names(ck);
        for (guint i = 0; i < t->len; i++) {
            if (!first) g_string_append_c(map, ',');
            first = FALSE;
            ttml_json_append_string(map, g_ptr_array_index(t, i));
            g_string_append_c(map, ':');
            ttml_json_append_string(map, g_ptr_array_index(names, k));
        }
        ttml_checkpoint_close(ck);
    }
    g_string_append_c(map, '}');
    return TRUE;
}

gboolean ttml_pp_index_save(const char *model_path, gint64 step, int stages, int dp, GError **error)
{
    GPtrArray *old = index_shards(model_path);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(md, g_strdup("format"), g_strdup(TTML_PP_INDEX_FORMAT));
    g_hash_table_insert(md, g_strdup("step"), g_strdup_printf("%" G_GINT64_FORMAT, step));
    g_hash_table_insert(md, g_strdup("tp"), g_strdup("1"));
    g_hash_table_insert(md, g_strdup("dp"), g_strdup_printf("%d", dp));
    g_hash_table_insert(md, g_strdup("pp"), g_strdup_printf("%d", stages));
    for (int k = 0; k < stages; k++) {
        char *name = ttml_pp_shard_name(model_path, step, k, stages);
        g_hash_table_insert(md, g_strdup_printf("shard.%d", k), g_strdup(name));
        g_ptr_array_add(names, name);
    }
    GString *map = g_string_new(NULL);
    GPtrArray *none = g_ptr_array_new();
    gboolean ok = weight_map(model_path, names, map, error);
    if (ok) g_hash_table_insert(md, g_strdup("weight_map"), g_string_free(map, FALSE));
    else g_string_free(map, TRUE);
    ok = ok && ttml_checkpoint_save(model_path, none, md, error);
    for (guint i = 0; ok && old && i < old->len; i++) {
        gboolean kept = FALSE;
        for (guint k = 0; k < names->len; k++) kept |= strcmp(g_ptr_array_index(old, i), g_ptr_array_index(names, k)) == 0;
        char *path = beside(model_path, g_ptr_array_index(old, i));
        if (!kept) g_unlink(path);
        g_free(path);
    }
    if (!ok) g_prefix_error(error, "writing the pipeline checkpoint index '%s': ", model_path);
    g_ptr_array_unref(none);
    g_hash_table_unref(md);
    g_ptr_array_unref(names);
    if (old) g_ptr_array_unref(old);
    return ok;
}

gboolean ttml_pp_is_index(const char *path)
{
    GPtrArray *s = index_shards(path);
    if (s) g_ptr_array_unref(s);
    return s != NULL;
}

char *ttml_pp_index_shard(const char *index_path, int stage, int stages, GError **error)
{
    GPtrArray *s = index_shards(index_path);
    if (!s) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "'%s' is not a pipeline checkpoint index "
                    "(metadata format '%s')", index_path, TTML_PP_INDEX_FORMAT);
        return NULL;
    }
    char *path = NULL;
    if ((int)s->len != stages)
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s' was written by %u pipeline stage(s) but this run has %d; resume with the "
                    "layout it was written with (the same blocks_per_rank), or consolidate it into one file "
                    "first", index_path, s->len, stages);
    else
        path = beside(index_path, g_ptr_array_index(s, stage));
    g_ptr_array_unref(s);
    return path;
}
