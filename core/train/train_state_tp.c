/* core/train/train_state_tp.c - training states of tensor-parallel runs:
 * shard files plus an index written last (the commit point), loading any
 * layout into any other (TP n -> TP m through the unsharded tensors), and
 * consolidation into one ordinary safetensors file. Public headers only. */
#include "train_app.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

/* ---- saving ---- */

/* "name=dim,groups;..." of the sharded parameters. */
static char *layout_string(ttml_module *model)
{
    GPtrArray *params = ttml_module_parameters(model);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < params->len; i++) {
        const ttml_param *p = g_ptr_array_index(params, i);
        const ttml_shard *sh = p->tensor->shard;
        if (sh) g_string_append_printf(s, "%s=%d,%d;", p->name, sh->dim, sh->groups);
    }
    g_ptr_array_unref(params);
    return g_string_free(s, FALSE);
}

static char *shard_path(const char *path, gint64 step, int r, int n)
{
    return g_strdup_printf("%s.step%" G_GINT64_FORMAT ".tp%d-of-%d.safetensors", path, step, r, n);
}

/* Remove shard files of PATH not named in `keep` (earlier saves). */
static void remove_stale(const char *path, const char *keep)
{
    char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path);
    char *prefix = g_strconcat(base, ".step", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        if (!g_str_has_prefix(name, prefix) || !strstr(name, ".tp") || !g_str_has_suffix(name, ".safetensors"))
            continue;
        char *quoted = g_strconcat(",", name, ",", NULL), *list = g_strconcat(",", keep, ",", NULL);
        if (!strstr(list, quoted)) {
            char *full = g_build_filename(dir, name, NULL);
            (void)g_unlink(full);
            g_free(full);
        }
        g_free(quoted);
        g_free(list);
    }
    if (d) g_dir_close(d);
    g_free(prefix);
    g_free(base);
    g_free(dir);
}

gboolean ttml_train_state_save_tp(const char *path, ttml_module *model, ttml_optimizer *opt,
                                  const ttml_train_state_info *info, ttml_comm *tp, GError **error)
{
    int r = ttml_comm_rank(tp), n = ttml_comm_size(tp);
    char *mine = shard_path(path, info->step, r, n);
    gboolean ok = ttml_train_state_save(mine, model, opt, info, error);
    g_free(mine);
    /* every shard is on disk before the index names them */
    GError *local = NULL;
    float flag = ok ? 0.0f : 1.0f;
    if (!ttml_comm_allreduce(tp, &flag, 1, TTML_DTYPE_F32, TTML_COMM_SUM, ok ? error : &local)) ok = FALSE;
    g_clear_error(&local);
    if (ok && flag > 0.0f) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "%g tensor-parallel rank(s) could not write their shard of '%s'; the previous checkpoint "
                    "stays the committed one", (double)flag, path);
        return FALSE;
    }
    if (!ok || r != 0) return ok;
    GString *names = g_string_new(NULL);
    for (int q = 0; q < n; q++) {
        char *p = shard_path(path, info->step, q, n), *b = g_path_get_basename(p);
        g_string_append_printf(names, "%s%s", q ? "," : "", b);
        g_free(b);
        g_free(p);
    }
    ttml_train_state_info idx = *info;
    idx.extra = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(idx.extra, g_strdup("tp_size"), g_strdup_printf("%d", n));
    g_hash_table_insert(idx.extra, g_strdup("tp_shards"), g_strdup(names->str));
    g_hash_table_insert(idx.extra, g_strdup("tp_layout"), layout_string(model));
    ok = ttml_train_state_save(path, NULL, NULL, &idx, error);
    if (ok) remove_stale(path, names->str);
    g_hash_table_unref(idx.extra);
    g_string_free(names, TRUE);
    return ok;
}

/* ---- reading any layout ---- */

typedef struct {
    ttml_checkpoint *ck;          /* the file opened by the caller (borrowed) */
    const char *path;
    int n;                        /* shards (0: ck holds whole tensors)       */
    ttml_checkpoint **shards;
    GHashTable *layout;           /* name -> "dim,groups"                      */
} tp_source;

static void source_close(tp_source *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->shards[i]) ttml_checkpoint_close(s->shards[i]);
    g_free(s->shards);
    if (s->layout) g_hash_table_unref(s->layout);
}

static gboolean source_open(ttml_checkpoint *ck, const char *path, tp_source *s, GError **error)
{
    memset(s, 0, sizeof *s);
    s->ck = ck;
    s->path = path;
    const char *files = ttml_checkpoint_metadata(ck, "tp_shards");
    const char *layout = ttml_checkpoint_metadata(ck, "tp_layout");
    if (!files) return TRUE;
    char **list = g_strsplit(files, ",", -1), *dir = g_path_get_dirname(path);
    s->n = (int)g_strv_length(list);
    s->shards = g_new0(ttml_checkpoint *, MAX(s->n, 1));
    gboolean ok = s->n > 0;
    for (int i = 0; ok && i < s->n; i++) {
        char *f = g_build_filename(dir, list[i], NULL);
        ok = (s->shards[i] = ttml_checkpoint_open(f, error)) != NULL;
        if (!ok) g_prefix_error(error, "checkpoint index '%s' names shard '%s': ", path, f);
        g_free(f);
    }
    s->layout = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    char **items = g_strsplit(layout ? layout : "", ";", -1);
    for (char **it = items; *it; it++) {
        char *eq = strchr(*it, '=');
        if (eq) g_hash_table_insert(s->layout, g_strndup(*it, (gsize)(eq - *it)), g_strdup(eq + 1));
    }
    g_strfreev(items);
    g_strfreev(list);
    g_free(dir);
    if (!ok && !s->n)
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint index '%s' names no shards", path);
    return ok;
}

/* The layout of a tensor name ("optim.P.S" follows parameter P). */
static const char *layout_of(const tp_source *s, const char *name)
{
    const char *l = g_hash_table_lookup(s->layout, name);
    if (l || !g_str_has_prefix(name, "optim.")) return l;
    char *p = g_strdup(name + 6), *dot = strrchr(p, '.');
    if (dot) *dot = '\0';
    l = g_hash_table_lookup(s->layout, p);
    g_free(p);
    return l;
}

/* Tensor `name` of one file as host floats (g_free) and its shape. */
static float *read_one(ttml_checkpoint *ck, const char *name, int *ndim, int64_t *shape, GError **error)
{
    int64_t sh[TTML_CHECKPOINT_MAX_DIMS];
    if (!ttml_checkpoint_tensor_info(ck, name, NULL, ndim, sh) || *ndim > TTML_MAX_DIMS || *ndim < 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "the checkpoint has no tensor '%s' of at most %d "
                    "dimensions", name, TTML_MAX_DIMS);
        return NULL;
    }
    memcpy(shape, sh, (size_t)*ndim * sizeof(int64_t));
    ttml_tensor *t = ttml_tensor_empty(NULL, *ndim, shape, TTML_DTYPE_F32, error);
    float *v = t ? g_new(float, MAX(t->numel, (size_t)1)) : NULL;
    gboolean ok = v && ttml_checkpoint_load_tensor(ck, name, t, error) && ttml_tensor_to_floats(t, v, error);
    ttml_tensor_unref(t);
    if (!ok) g_clear_pointer(&v, g_free);
    return v;
}

/* The unsharded tensor `name` (assembled from the shards when sharded). */
static float *read_full(const tp_source *s, const char *name, int *ndim, int64_t *full, GError **error)
{
    if (!s->n) return read_one(s->ck, name, ndim, full, error);
    const char *l = layout_of(s, name);
    if (!l) return read_one(s->shards[0], name, ndim, full, error); /* replicated */
    int dim = 0, groups = 1;
    if (sscanf(l, "%d,%d", &dim, &groups) != 2 || dim < 0 || dim >= TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint '%s': bad tp_layout entry '%s' of '%s'",
                    s->path, l, name);
        return NULL;
    }
    float *out = NULL;
    for (int i = 0; i < s->n; i++) {
        int nd = 0;
        int64_t local[TTML_MAX_DIMS];
        float *part = read_one(s->shards[i], name, &nd, local, error);
        ttml_shard sh;
        if (part && i == 0) {
            *ndim = nd;
            memcpy(full, local, sizeof local);
            full[dim] *= s->n;
            size_t numel = 1;
            for (int k = 0; k < nd; k++) numel *= (size_t)full[k];
            out = g_new(float, numel);
        }
        gboolean ok = part && nd == *ndim && ttml_shard_init(&sh, name, nd, full, dim, groups, s->n, i, error);
        if (ok) ttml_shard_copy(&sh, out, part, TRUE);
        g_free(part);
        if (!ok) {
            g_free(out);
            return NULL;
        }
    }
    return out;
}

/* Fill dst (this rank's shard `sh` of the tensor, or whole) from `name`. */
static gboolean fill(const tp_source *s, const char *name, ttml_tensor *dst, const ttml_shard *sh, GError **error)
{
    int ndim = 0;
    int64_t full[TTML_MAX_DIMS];
    float *v = read_full(s, name, &ndim, full, error);
    if (!v) {
        g_prefix_error(error, "the model does not match the checkpoint '%s': ", s->path);
        return FALSE;
    }
    const int64_t *want = sh ? sh->full : dst->shape;
    int want_nd = sh ? sh->ndim : dst->ndim;
    gboolean ok = ndim == want_nd && memcmp(full, want, (size_t)ndim * sizeof(int64_t)) == 0;
    if (!ok) {
        char a[96], b[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "the model does not match the checkpoint '%s': '%s' is %s there but %s in the model", s->path,
                    name, ttml_shape_str(ndim, full, a, sizeof a), ttml_shape_str(want_nd, want, b, sizeof b));
    } else if (sh) {
        float *part = g_new(float, MAX(dst->numel, (size_t)1));
        ttml_shard_copy(sh, v, part, FALSE);
        ok = ttml_tensor_write(dst, part, error);
        g_free(part);
    } else {
        ok = ttml_tensor_write(dst, v, error);
    }
    g_free(v);
    return ok;
}

static gboolean has_prefix_in(ttml_checkpoint *ck, const char *prefix)
{
    const GPtrArray *all = ttml_checkpoint_names(ck);
    for (guint k = 0; k < all->len; k++)
        if (g_str_has_prefix(g_ptr_array_index(all, k), prefix)) return TRUE;
    return FALSE;
}

static gboolean fill_optimizer(const tp_source *s, ttml_optimizer *opt, GError **error)
{
    ttml_checkpoint *names = s->n ? s->shards[0] : s->ck;
    for (guint i = 0; opt->klass->state && i < opt->params->len; i++) {
        ttml_param *p = g_ptr_array_index(opt->params, i);
        char *prefix = g_strdup_printf("optim.%s.", p->name);
        gboolean any = has_prefix_in(names, prefix);
        g_free(prefix);
        if (!any) continue;
        const char *sn[8];
        ttml_tensor *st[8];
        int n = opt->klass->state(opt, i, sn, st, 8);
        for (int k = 0; k < n; k++) {
            if (!st[k]) continue;
            char *name = g_strdup_printf("optim.%s.%s", p->name, sn[k]);
            gboolean ok = fill(s, name, st[k], p->tensor->shard, error);
            g_free(name);
            if (!ok) return FALSE;
        }
    }
    return TRUE;
}

gboolean ttml_train_state_restore(ttml_checkpoint *ck, const char *path, ttml_module *model, ttml_optimizer *opt,
                                  gint64 optimizer_steps, GError **error)
{
    tp_source s;
    gboolean ok = source_open(ck, path, &s, error);
    GPtrArray *params = ttml_module_parameters(model);
    for (guint i = 0; ok && i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        ok = fill(&s, p->name, p->tensor, p->tensor->shard, error);
    }
    g_ptr_array_unref(params);
    if (ok && opt && optimizer_steps > 0) ok = fill_optimizer(&s, opt, error);
    if (ok && opt) opt->steps = optimizer_steps;
    source_close(&s);
    return ok;
}

/* ---- consolidation ---- */

static const char *const md_keys[] = {"format", "ttml_version", "step", "optimizer_steps", "rng_seed",
                                      "rng_counter", "model_type", "optimizer_type", "scheduler_type",
                                      "scheduler_step", "total_steps", "vocab_size", "max_sequence_length",
                                      "tokenizer", "config", "config_path", "data_path", "val_loss", NULL};

static void param_free(gpointer p)
{
    ttml_param *tp = p;
    g_free(tp->name);
    ttml_tensor_unref(tp->tensor);
    g_free(tp);
}

static gboolean consolidate(ttml_checkpoint *ck, const char *in, const char *out, GError **error)
{
    tp_source s;
    if (!source_open(ck, in, &s, error)) return FALSE;
    GPtrArray *list = g_ptr_array_new_with_free_func(param_free);
    const GPtrArray *names = ttml_checkpoint_names(s.n ? s.shards[0] : ck);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        int ndim = 0;
        int64_t full[TTML_MAX_DIMS];
        float *v = read_full(&s, name, &ndim, full, error);
        ttml_tensor *t = v ? ttml_tensor_from_floats(NULL, ndim, full, v, error) : NULL;
        g_free(v);
        ok = t != NULL;
        if (ok) {
            ttml_param *p = g_new(ttml_param, 1);
            p->name = g_strdup(name);
            p->tensor = t;
            g_ptr_array_add(list, p);
        }
    }
    GHashTable *md = g_hash_table_new(g_str_hash, g_str_equal);
    for (const char *const *k = md_keys; *k; k++) {
        const char *v = ttml_checkpoint_metadata(ck, *k);
        if (v) g_hash_table_insert(md, (gpointer)*k, (gpointer)v);
    }
    ok = ok && ttml_checkpoint_save(out, list, md, error);
    g_hash_table_unref(md);
    g_ptr_array_unref(list);
    source_close(&s);
    return ok;
}

gboolean ttml_consolidate_run(const char *in, const char *out, GError **error)
{
    if (!ttml_init(NULL, error)) return FALSE;
    ttml_checkpoint *ck = NULL;
    gboolean ok = ttml_context_open_device("cpu", error) && (ck = ttml_train_state_open(in, error)) &&
                  consolidate(ck, in, out, error);
    if (ck) ttml_checkpoint_close(ck);
    ttml_shutdown();
    if (!ok) g_prefix_error(error, "consolidate '%s' -> '%s': ", in, out);
    return ok;
}
