/* core/train/train_state.c - the whole training state in one safetensors file:
 * parameters under their names, optimizer state as "optim.<param>.<state>"
 * (from the optimizer class's state() callback) and string metadata (step,
 * optimizer steps, RNG state, scheduler progress, tokenizer, config, ...).
 * Written atomically by ttml_checkpoint_save. */
#include "train_app.h"

#include <math.h>
#include <string.h>

#define MAX_OPT_STATE 8

static void put(GHashTable *md, const char *key, const char *value)
{
    g_hash_table_insert(md, g_strdup(key), g_strdup(value ? value : ""));
}

static void put_int(GHashTable *md, const char *key, gint64 v)
{
    g_hash_table_insert(md, g_strdup(key), g_strdup_printf("%" G_GINT64_FORMAT, v));
}

static void param_free(gpointer p)
{
    ttml_param *tp = p;
    g_free(tp->name);
    ttml_tensor_unref(tp->tensor);
    g_free(tp);
}

static void add_tensor(GPtrArray *list, char *name, ttml_tensor *t)
{
    ttml_param *tp = g_new(ttml_param, 1);
    tp->name = name;
    tp->tensor = ttml_tensor_ref(t);
    g_ptr_array_add(list, tp);
}

gboolean ttml_train_state_save(const char *path, ttml_module *model, ttml_optimizer *opt,
                               const ttml_train_state_info *info, GError **error)
{
    /* model NULL: metadata only (a sharded checkpoint's index) */
    GPtrArray *params = model ? ttml_module_parameters(model) : g_ptr_array_new();
    gboolean ok = ttml_train_state_save_list(path, params, model ? opt : NULL, info, info->extra, error);
    g_ptr_array_unref(params);
    return ok;
}

gboolean ttml_train_state_save_list(const char *path, GPtrArray *params, ttml_optimizer *opt,
                                    const ttml_train_state_info *info, GHashTable *extra, GError **error)
{
    GPtrArray *list = g_ptr_array_new_with_free_func(param_free);
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        add_tensor(list, g_strdup(p->name), p->tensor);
    }
    if (opt && opt->klass->state) {
        for (guint i = 0; i < opt->params->len; i++) {
            ttml_param *p = g_ptr_array_index(opt->params, i);
            /* Parameters never stepped have no state yet; asking would create it. */
            if (!p->tensor->grad) continue;
            const char *names[MAX_OPT_STATE];
            ttml_tensor *tensors[MAX_OPT_STATE];
            int n = opt->klass->state(opt, i, names, tensors, MAX_OPT_STATE);
            for (int k = 0; k < n; k++)
                if (tensors[k])
                    add_tensor(list, g_strdup_printf("optim.%s.%s", p->name, names[k]), tensors[k]);
        }
    }

    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    put(md, "format", TTML_TRAIN_STATE_FORMAT);
    put(md, "ttml_version", ttml_version_string());
    put_int(md, "step", info->step);
    put_int(md, "optimizer_steps", info->optimizer_steps);
    g_hash_table_insert(md, g_strdup("rng_seed"), g_strdup_printf("%" G_GUINT64_FORMAT, info->rng.seed));
    g_hash_table_insert(md, g_strdup("rng_counter"),
                        g_strdup_printf("%" G_GUINT64_FORMAT, info->rng.counter));
    put(md, "model_type", info->model_type);
    put(md, "optimizer_type", info->optimizer_type);
    put(md, "scheduler_type", info->scheduler_type);
    put_int(md, "scheduler_step", info->step);
    put_int(md, "total_steps", info->total_steps);
    put_int(md, "vocab_size", info->vocab_size);
    put_int(md, "max_sequence_length", info->max_seq_len);
    char *tok = ttml_tokenizer_serialize(info->tokenizer);
    put(md, "tokenizer", tok);
    g_free(tok);
    put(md, "config", info->config_text);
    put(md, "config_path", info->config_path);
    put(md, "data_path", info->data_path);
    if (isfinite(info->val_loss)) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(buf, sizeof buf, "%.9g", info->val_loss);
        put(md, "val_loss", buf);
    }
    GHashTableIter it;
    gpointer k, v;
    if (extra) g_hash_table_iter_init(&it, extra);
    while (extra && g_hash_table_iter_next(&it, &k, &v)) put(md, k, v);
    gboolean ok = ttml_checkpoint_save(path, list, md, error);
    if (!ok) g_prefix_error(error, "saving the training state at step %" G_GINT64_FORMAT ": ", info->step);
    g_hash_table_unref(md);
    g_ptr_array_unref(list);
    return ok;
}

ttml_checkpoint *ttml_train_state_open(const char *path, GError **error)
{
    if (path && !g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_IO,
                    "no checkpoint '%s': nothing was ever saved there (a run writes training_config.model_path "
                    "every model_save_interval steps and at its end); to start training fresh, run without "
                    "--resume, otherwise give the path of an existing checkpoint", path);
        return NULL;
    }
    ttml_checkpoint *ck = ttml_checkpoint_open(path, error);
    if (!ck) return NULL;
    const char *fmt = ttml_checkpoint_metadata(ck, "format");
    if (fmt && strcmp(fmt, "ttml-sharded-1") == 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "'%s' is the index of a pipeline checkpoint in the earlier, pre-release format "
                    "'ttml-sharded-1', which this ttml no longer reads (it existed only during development): train "
                    "again to write the current format '%s'", path, TTML_SHARDED_FORMAT);
        ttml_checkpoint_close(ck);
        return NULL;
    }
    if (fmt && strcmp(fmt, TTML_SHARDED_FORMAT) == 0) return ck; /* an index: train_state_sharded.c */
    if (!fmt || strcmp(fmt, TTML_TRAIN_STATE_FORMAT) != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "'%s' is not a ttml training-state checkpoint (metadata 'format' is %s%s%s, "
                    "expected '%s'); use a file written by ttml-run (training_config.model_path)",
                    path, fmt ? "'" : "absent", fmt ? fmt : "", fmt ? "'" : "",
                    TTML_TRAIN_STATE_FORMAT);
        ttml_checkpoint_close(ck);
        return NULL;
    }
    return ck;
}

const char *ttml_train_state_string(ttml_checkpoint *ck, const char *path, const char *key,
                                    GError **error)
{
    const char *v = ttml_checkpoint_metadata(ck, key);
    if (!v)
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s' has no metadata '%s' (written by another program or a "
                    "damaged file)",
                    path, key);
    return v;
}

gboolean ttml_train_state_int(ttml_checkpoint *ck, const char *path, const char *key, gint64 *out,
                              GError **error)
{
    const char *v = ttml_train_state_string(ck, path, key, error);
    if (!v) return FALSE;
    char *end = NULL;
    guint64 u = g_ascii_strtoull(v, &end, 10);
    if (!*v || *end || u > G_MAXINT64) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s': metadata '%s' must be a non-negative integer, got '%s'", path,
                    key, v);
        return FALSE;
    }
    *out = (gint64)u;
    return TRUE;
}

/* Every model tensor of the checkpoint (all but "optim.*") must be a parameter
 * of the model: a 2-block checkpoint never resumes into a 1-block model. */
static gboolean check_no_extra_tensors(ttml_checkpoint *ck, const char *path, GPtrArray *params, GError **error)
{
    GHashTable *names = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < params->len; i++)
        g_hash_table_add(names, ((ttml_param *)g_ptr_array_index(params, i))->name);
    const GPtrArray *all = ttml_checkpoint_names(ck);
    const char *first = NULL;
    guint extra = 0;
    for (guint i = 0; i < all->len; i++) {
        const char *n = g_ptr_array_index(all, i);
        if (g_str_has_prefix(n, "optim.") || g_hash_table_contains(names, n)) continue;
        if (!extra++) first = n;
    }
    g_hash_table_destroy(names);
    if (!extra) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                "the model does not match the checkpoint: checkpoint '%s' holds %u tensor%s the model does not "
                "have (the first is '%s'; the model has %u parameters): the config describes a smaller or "
                "different model (num_blocks, weight_tying, ...); resume with the config the checkpoint was "
                "written with",
                path, extra, extra == 1 ? "" : "s", first, params->len);
    return FALSE;
}

gboolean ttml_train_state_load_params(ttml_checkpoint *ck, const char *path, ttml_module *model,
                                      GError **error)
{
    GPtrArray *params = ttml_module_parameters(model);
    gboolean ok = ttml_train_state_load_list(ck, path, params, TRUE, error);
    g_ptr_array_unref(params);
    return ok;
}

gboolean ttml_train_state_load_list(ttml_checkpoint *ck, const char *path, GPtrArray *params, gboolean exact,
                                    GError **error)
{
    gboolean ok = TRUE;
    for (guint i = 0; i < params->len && ok; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        if (!ttml_checkpoint_load_tensor(ck, p->name, p->tensor, error)) {
            if (error && *error && !strstr((*error)->message, path))
                g_prefix_error(error, "checkpoint '%s': ", path);
            g_prefix_error(error, "the model does not match the checkpoint: ");
            ok = FALSE;
        }
    }
    if (ok && exact) ok = check_no_extra_tensors(ck, path, params, error);
    return ok;
}

gboolean ttml_train_state_load_optimizer(ttml_checkpoint *ck, const char *path, ttml_optimizer *opt,
                                         gint64 optimizer_steps, GError **error)
{
    const GPtrArray *names = ttml_checkpoint_names(ck);
    for (guint k = 0; optimizer_steps == 0 && k < names->len; k++)
        if (g_str_has_prefix(g_ptr_array_index(names, k), "optim.")) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                        "checkpoint '%s': metadata 'optimizer_steps' is 0 but the file holds optimizer state "
                        "('%s'): the metadata is damaged or was edited, and resuming would drop that state; "
                        "use an intact checkpoint",
                        path, (const char *)g_ptr_array_index(names, k));
            return FALSE;
        }
    if (optimizer_steps > 0 && opt->klass->state) {
        for (guint i = 0; i < opt->params->len; i++) {
            ttml_param *p = g_ptr_array_index(opt->params, i);
            /* Only parameters whose state was saved: probe the first name. */
            char *probe = NULL;
            const char *names[MAX_OPT_STATE];
            ttml_tensor *tensors[MAX_OPT_STATE];
            gboolean any = FALSE;
            char *prefix = g_strdup_printf("optim.%s.", p->name);
            const GPtrArray *all = ttml_checkpoint_names(ck);
            for (guint k = 0; k < all->len && !any; k++)
                any = g_str_has_prefix(g_ptr_array_index(all, k), prefix);
            g_free(prefix);
            if (!any) continue;
            int n = opt->klass->state(opt, i, names, tensors, MAX_OPT_STATE);
            for (int k = 0; k < n; k++) {
                if (!tensors[k]) continue;
                probe = g_strdup_printf("optim.%s.%s", p->name, names[k]);
                gboolean ok = ttml_checkpoint_load_tensor(ck, probe, tensors[k], error);
                g_free(probe);
                if (!ok) {
                    if (error && *error && !strstr((*error)->message, path))
                        g_prefix_error(error, "checkpoint '%s': ", path);
                    g_prefix_error(error, "optimizer state: ");
                    return FALSE;
                }
            }
        }
    }
    opt->steps = optimizer_steps;
    return TRUE;
}

/* ---- resuming with another config: architecture keys must match ---- */

/* transformer_config keys that change the computation without changing the
 * tensor shapes (num_heads splits the same weights differently). Keys that
 * change shapes (embedding_dim, num_blocks, ...) are caught by the exact-shape
 * and extra-tensor checks, whose errors name the tensor. */
static const char *const arch_keys[] = {"num_heads", "num_groups", "weight_tying", "positional_embedding_type",
                                        "theta", NULL};
/* training_config keys a resumed run may change; differences are announced. */
static const char *const training_keys[] = {"seed", "batch_size", "gradient_accumulation_steps", "max_steps",
                                            "num_epochs", "learning_rate", "weight_decay", "optimizer_type",
                                            "scheduler_type", "clip_grad_norm_max_norm", "use_clip_grad_norm",
                                            NULL};

static gboolean same_scalar(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return TRUE;
    char *ea = NULL, *eb = NULL;
    double x = g_ascii_strtod(a, &ea), y = g_ascii_strtod(b, &eb);
    return *a && *b && !*ea && !*eb && x == y;
}

static const char *scalar_at(const ttml_config *map, const char *key)
{
    const ttml_config *n = map ? ttml_config_peek(map, key) : NULL;
    return n && ttml_config_get_type(n) == TTML_CONFIG_SCALAR ? ttml_config_scalar(n) : NULL;
}

static gboolean check_arch(const ttml_config *tf_then, ttml_config *tf_now, const char *path, GError **error)
{
    for (const char *const *k = arch_keys; *k; k++) {
        const char *a = scalar_at(tf_then, *k), *b = scalar_at(tf_now, *k);
        if (!a || !b || same_scalar(a, b)) continue;
        char where[256];
        ttml_config_where(ttml_config_peek(tf_now, *k), where, sizeof where);
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "%s: transformer_config.%s is %s but checkpoint '%s' was written with %s: %s: %s; the "
                    "model architecture must match to resume (equal tensor shapes do not make the same model); "
                    "resume with the config stored in the checkpoint (metadata 'config')",
                    where, *k, b, path, *k, a, ttml_config_scalar(ttml_config_peek(tf_now, *k)));
        return FALSE;
    }
    return TRUE;
}

gboolean ttml_train_state_check_config(ttml_checkpoint *ck, const char *path, ttml_config *root, char **changes,
                                       GError **error)
{
    if (changes) *changes = NULL;
    const char *text = ttml_checkpoint_metadata(ck, "config");
    if (!text || !root) return TRUE; /* written before configs were stored: shapes are still checked */
    char *name = g_strdup_printf("%s (its stored config)", path);
    ttml_config *then = ttml_config_load_string(text, name, NULL);
    g_free(name);
    if (!then) return TRUE;
    const ttml_config *train_then = ttml_config_peek(then, "training_config");
    ttml_config *train_now = ttml_config_peek(root, "training_config");
    const ttml_config *tf_then = train_then ? ttml_config_peek(train_then, "transformer_config") : NULL;
    ttml_config *tf_now = train_now ? ttml_config_peek(train_now, "transformer_config") : NULL;
    gboolean ok = !tf_then || !tf_now || check_arch(tf_then, tf_now, path, error);
    GString *diff = g_string_new(NULL);
    for (const char *const *k = training_keys; ok && *k; k++) {
        const char *a = scalar_at(train_then, *k), *b = scalar_at(train_now, *k);
        if (a && b && !same_scalar(a, b))
            g_string_append_printf(diff, "%s%s %s -> %s", diff->len ? ", " : "", *k, a, b);
    }
    if (ok && changes && diff->len) *changes = g_string_free(diff, FALSE);
    else g_string_free(diff, TRUE);
    ttml_config_free(then);
    return ok;
}
