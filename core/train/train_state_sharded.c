/* core/train/train_state_sharded.c - the one sharded checkpoint format of
 * every parallel layout (TP, PP, DP x TP, DP x PP, TP x PP): shard files
 * plus an index written last (the commit point); loading any layout into
 * any other (TP n -> TP m, PP n -> PP m, another blocks_per_rank) through
 * the unsharded tensors; consolidation into one ordinary safetensors file.
 * The format is described in train_app.h and the README. Public headers
 * only. */
#include "train_app.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- saving ---- */

/* "name=dim,groups;..." of the sharded parameters of `params`. */
static char *split_string(GPtrArray *params)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < params->len; i++) {
        const ttml_param *p = g_ptr_array_index(params, i);
        const ttml_shard *sh = p->tensor->shard;
        if (sh) g_string_append_printf(s, "%s=%d,%d;", p->name, sh->dim, sh->groups);
    }
    return g_string_free(s, FALSE);
}

/* "name=dim,groups;..." -> a table name -> "dim,groups". */
static GHashTable *parse_split(const char *text)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    char **items = g_strsplit(text ? text : "", ";", -1);
    for (char **it = items; *it; it++) {
        char *eq = strchr(*it, '=');
        if (eq) g_hash_table_insert(t, g_strndup(*it, (gsize)(eq - *it)), g_strdup(eq + 1));
    }
    g_strfreev(items);
    return t;
}

/* The split of a tensor name ("optim.P.S" follows parameter P), or NULL. */
static const char *split_of(GHashTable *split, const char *name)
{
    const char *l = g_hash_table_lookup(split, name);
    if (l || !g_str_has_prefix(name, "optim.")) return l;
    char *p = g_strdup(name + 6), *dot = strrchr(p, '.');
    if (dot) *dot = '\0';
    l = g_hash_table_lookup(split, p);
    g_free(p);
    return l;
}

static char *shard_name(const char *path, gint64 step, const ttml_shard_layout *l, int stage, int tp_rank)
{
    char *base = g_path_get_basename(path);
    if (g_str_has_suffix(base, ".safetensors")) base[strlen(base) - strlen(".safetensors")] = '\0';
    char *name = g_strdup_printf("%s.step%" G_GINT64_FORMAT ".pp%dof%d.tp%dof%d.safetensors", base, step, stage,
                                 l->pp, tp_rank, l->tp);
    g_free(base);
    return name;
}

static char *beside(const char *path, const char *name)
{
    char *dir = g_path_get_dirname(path);
    char *p = g_build_filename(dir, name, NULL);
    g_free(dir);
    return p;
}

gboolean ttml_sharded_save_shard(const char *path, const ttml_shard_layout *l, GPtrArray *params,
                                 ttml_optimizer *opt, const ttml_train_state_info *info, GError **error)
{
    char *name = shard_name(path, info->step, l, l->stage, l->tp_rank);
    char *file = beside(path, name);
    GHashTable *extra = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_hash_table_insert(extra, "shard_stage", g_strdup_printf("%d", l->stage));
    g_hash_table_insert(extra, "shard_tp_rank", g_strdup_printf("%d", l->tp_rank));
    g_hash_table_insert(extra, "shard_split", split_string(params));
    gboolean ok = ttml_train_state_save_list(file, params, opt, info, extra, error);
    if (!ok) g_prefix_error(error, "writing the checkpoint shard '%s': ", file);
    g_hash_table_unref(extra);
    g_free(file);
    g_free(name);
    return ok;
}

/* Append the "tensors" lines of shard file `ck` (stage `stage`, TP rank 0). */
static gboolean table_lines(ttml_checkpoint *ck, const char *file, int stage, int tp, GString *out, GError **error)
{
    GHashTable *split = parse_split(ttml_checkpoint_metadata(ck, "shard_split"));
    const GPtrArray *names = ttml_checkpoint_names(ck);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        int ndim = 0, dim = -1, groups = 1;
        int64_t shape[TTML_CHECKPOINT_MAX_DIMS];
        const char *s = split_of(split, n);
        ok = ttml_checkpoint_tensor_info(ck, n, NULL, &ndim, shape) &&
             (!s || (sscanf(s, "%d,%d", &dim, &groups) == 2 && dim >= 0 && dim < ndim));
        if (!ok) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint shard '%s': bad split '%s' of '%s'",
                        file, s ? s : "", n);
            break;
        }
        if (dim >= 0) shape[dim] *= tp;
        g_string_append_printf(out, "%s %d %d %d ", n, stage, dim, groups);
        for (int k = 0; k < ndim; k++) g_string_append_printf(out, "%s%" G_GINT64_FORMAT, k ? "x" : "", shape[k]);
        g_string_append_c(out, '\n');
    }
    g_hash_table_unref(split);
    return ok;
}

/* Remove shard files of earlier saves of `path` (both namings) not in keep. */
static void remove_stale(const char *path, GPtrArray *keep)
{
    char *dir = g_path_get_dirname(path), *base = g_path_get_basename(path);
    char *legacy = g_strconcat(base, ".step", NULL);
    if (g_str_has_suffix(base, ".safetensors")) base[strlen(base) - strlen(".safetensors")] = '\0';
    char *prefix = g_strconcat(base, ".step", NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        gboolean ours = (g_str_has_prefix(name, prefix) && strstr(name, ".pp") && strstr(name, ".tp")) ||
                        (g_str_has_prefix(name, legacy) && strstr(name, ".tp") && strstr(name, "-of-"));
        if (!ours || !g_str_has_suffix(name, ".safetensors")) continue;
        gboolean kept = FALSE;
        for (guint k = 0; k < keep->len; k++) kept |= strcmp(name, g_ptr_array_index(keep, k)) == 0;
        if (kept) continue;
        char *full = g_build_filename(dir, name, NULL);
        (void)g_unlink(full);
        g_free(full);
    }
    if (d) g_dir_close(d);
    g_free(prefix);
    g_free(legacy);
    g_free(base);
    g_free(dir);
}

/* Tests: TTML_TEST_CHECKPOINT_FAULT=STEP kills the index writer after every
 * shard of STEP is on disk and before the index (a crash between the two). */
static void test_fault(gint64 step)
{
    const char *v = g_getenv("TTML_TEST_CHECKPOINT_FAULT");
    if (v && g_ascii_strtoll(v, NULL, 10) == step) {
        fprintf(stderr, "ttml-run: TTML_TEST_CHECKPOINT_FAULT: killed before the index of step %" G_GINT64_FORMAT
                "\n", step);
        raise(SIGKILL);
    }
}

static GHashTable *index_metadata(const ttml_shard_layout *l, GPtrArray *names, GString *table)
{
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(md, g_strdup("format"), g_strdup(TTML_SHARDED_FORMAT));
    g_hash_table_insert(md, g_strdup("tp"), g_strdup_printf("%d", l->tp));
    g_hash_table_insert(md, g_strdup("dp"), g_strdup_printf("%d", l->dp));
    g_hash_table_insert(md, g_strdup("pp"), g_strdup_printf("%d", l->pp));
    GString *b = g_string_new(NULL);
    for (int s = 0; l->blocks && s < l->pp; s++)
        g_string_append_printf(b, "%s%" G_GINT64_FORMAT, s ? "," : "", l->blocks[s]);
    g_hash_table_insert(md, g_strdup("blocks_per_rank"), g_string_free(b, FALSE));
    for (guint k = 0; k < names->len; k++)
        g_hash_table_insert(md, g_strdup_printf("shard.%u", k), g_strdup(g_ptr_array_index(names, k)));
    g_hash_table_insert(md, g_strdup("tensors"), g_strdup(table->str));
    return md;
}

gboolean ttml_sharded_save_index(const char *path, const ttml_shard_layout *l, const ttml_train_state_info *info,
                                 GError **error)
{
    test_fault(info->step);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GString *table = g_string_new(NULL);
    gboolean ok = TRUE;
    for (int s = 0; s < l->pp; s++)
        for (int r = 0; r < l->tp; r++) {
            char *name = shard_name(path, info->step, l, s, r), *file = beside(path, name);
            g_ptr_array_add(names, name);
            /* every shard must be readable before the index names it */
            ttml_checkpoint *ck = ok ? ttml_checkpoint_open(file, error) : NULL;
            ok = ck && (r != 0 || table_lines(ck, file, s, l->tp, table, error));
            if (ck) ttml_checkpoint_close(ck);
            g_free(file);
        }
    GHashTable *extra = ok ? index_metadata(l, names, table) : NULL;
    GPtrArray *none = g_ptr_array_new();
    ok = ok && ttml_train_state_save_list(path, none, NULL, info, extra, error);
    if (ok) remove_stale(path, names);
    if (!ok) g_prefix_error(error, "writing the checkpoint index '%s' (the previous checkpoint stays the committed "
                            "one): ", path);
    g_ptr_array_unref(none);
    if (extra) g_hash_table_unref(extra);
    g_string_free(table, TRUE);
    g_ptr_array_unref(names);
    return ok;
}

/* ---- reading any layout ---- */

typedef struct {
    int stage, dim, groups;       /* dim -1: replicated (whole in every TP file) */
} entry;

typedef struct {
    ttml_checkpoint *ck;          /* the file opened by the caller (borrowed) */
    const char *path;
    int tp, nfiles;               /* nfiles 0: ck holds whole tensors          */
    ttml_checkpoint **files;      /* stage s, TP rank r: files[s * tp + r]     */
    GHashTable *entries;          /* name -> entry (NULL when nfiles is 0)     */
    GPtrArray *names;             /* every tensor name, in order               */
} source;

static void source_close(source *s)
{
    for (int i = 0; i < s->nfiles; i++)
        if (s->files[i]) ttml_checkpoint_close(s->files[i]);
    g_free(s->files);
    if (s->entries) g_hash_table_unref(s->entries);
    if (s->names) g_ptr_array_unref(s->names);
}

static gboolean open_files(source *s, char **list, int n, GError **error)
{
    char *dir = g_path_get_dirname(s->path);
    s->nfiles = n;
    s->files = g_new0(ttml_checkpoint *, MAX(n, 1));
    gboolean ok = n > 0;
    if (!ok)
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint index '%s' names no shards", s->path);
    for (int i = 0; ok && i < n; i++) {
        char *f = g_build_filename(dir, list[i], NULL);
        ok = (s->files[i] = ttml_checkpoint_open(f, error)) != NULL;
        if (!ok)
            g_prefix_error(error, "checkpoint index '%s' names shard '%s' (a shard removed or moved since; keep "
                           "the index and its shard files together): ", s->path, f);
        g_free(f);
    }
    g_free(dir);
    return ok;
}

static void add_entry(source *s, const char *name, int stage, int dim, int groups)
{
    entry *e = g_new(entry, 1);
    *e = (entry){stage, dim, groups};
    char *key = g_strdup(name);
    g_hash_table_insert(s->entries, key, e);
    g_ptr_array_add(s->names, key);
}

/* The index of the sharded format: shard.<k> and the "tensors" lines. */
static gboolean open_sharded(source *s, GError **error)
{
    gint64 tp = 0, pp = 0;
    if (!ttml_train_state_int(s->ck, s->path, "tp", &tp, error) ||
        !ttml_train_state_int(s->ck, s->path, "pp", &pp, error))
        return FALSE;
    if (tp < 1 || pp < 1 || tp * pp > 4096) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint index '%s': bad layout tp %" G_GINT64_FORMAT
                    " x pp %" G_GINT64_FORMAT, s->path, tp, pp);
        return FALSE;
    }
    s->tp = (int)tp;
    int n = (int)(tp * pp);
    char **list = g_new0(char *, n + 1);
    gboolean ok = TRUE;
    for (int k = 0; ok && k < n; k++) {
        char key[32];
        g_snprintf(key, sizeof key, "shard.%d", k);
        ok = (list[k] = g_strdup(ttml_train_state_string(s->ck, s->path, key, error))) != NULL;
    }
    ok = ok && open_files(s, list, n, error);
    g_strfreev(list);
    const char *table = ok ? ttml_train_state_string(s->ck, s->path, "tensors", error) : NULL;
    char **lines = g_strsplit(table ? table : "", "\n", -1);
    for (char **ln = lines; ok && *ln; ln++) {
        char name[512];
        int stage = 0, dim = 0, groups = 1;
        if (!**ln) continue;
        ok = sscanf(*ln, "%511s %d %d %d", name, &stage, &dim, &groups) == 4 && stage >= 0 && stage < pp &&
             dim >= -1 && dim < TTML_MAX_DIMS && groups >= 1;
        if (ok) add_entry(s, name, stage, dim, groups);
        else g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "checkpoint index '%s': bad 'tensors' line '%s' "
                         "(expected NAME STAGE DIM GROUPS SHAPE)", s->path, *ln);
    }
    g_strfreev(lines);
    return ok && table;
}

/* The earlier tensor-parallel index (tp_shards, tp_layout; still read). */
static gboolean open_legacy_tp(source *s, const char *files, GError **error)
{
    char **list = g_strsplit(files, ",", -1);
    s->tp = (int)g_strv_length(list);
    gboolean ok = open_files(s, list, s->tp, error);
    g_strfreev(list);
    if (!ok) return FALSE;
    GHashTable *split = parse_split(ttml_checkpoint_metadata(s->ck, "tp_layout"));
    const GPtrArray *all = ttml_checkpoint_names(s->files[0]);
    for (guint i = 0; i < all->len; i++) {
        const char *n = g_ptr_array_index(all, i), *l = split_of(split, n);
        int dim = -1, groups = 1;
        if (l && sscanf(l, "%d,%d", &dim, &groups) != 2) dim = -1;
        add_entry(s, n, 0, dim, groups);
    }
    g_hash_table_unref(split);
    return TRUE;
}

static gboolean source_open(ttml_checkpoint *ck, const char *path, source *s, GError **error)
{
    memset(s, 0, sizeof *s);
    s->ck = ck;
    s->path = path;
    s->tp = 1;
    const char *fmt = ttml_checkpoint_metadata(ck, "format");
    const char *legacy = ttml_checkpoint_metadata(ck, "tp_shards");
    if (!(fmt && strcmp(fmt, TTML_SHARDED_FORMAT) == 0) && !legacy) {
        s->names = g_ptr_array_new_with_free_func(g_free);
        const GPtrArray *all = ttml_checkpoint_names(ck);
        for (guint i = 0; i < all->len; i++) g_ptr_array_add(s->names, g_strdup(g_ptr_array_index(all, i)));
        return TRUE;
    }
    s->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    s->names = g_ptr_array_new_with_free_func(g_free);
    return legacy ? open_legacy_tp(s, legacy, error) : open_sharded(s, error);
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

/* Assemble the TP shards e->stage * tp + i of `name` split along e->dim. */
static float *read_split(const source *s, const char *name, const entry *e, int *ndim, int64_t *full,
                         GError **error)
{
    float *out = NULL;
    for (int i = 0; i < s->tp; i++) {
        int nd = 0;
        int64_t local[TTML_MAX_DIMS];
        float *part = read_one(s->files[e->stage * s->tp + i], name, &nd, local, error);
        ttml_shard sh;
        if (part && i == 0) {
            *ndim = nd;
            memcpy(full, local, sizeof local);
            full[e->dim] *= s->tp;
            size_t numel = 1;
            for (int k = 0; k < nd; k++) numel *= (size_t)full[k];
            out = g_new(float, MAX(numel, (size_t)1));
        }
        gboolean ok = part && nd == *ndim && e->dim < nd &&
                      ttml_shard_init(&sh, name, nd, full, e->dim, e->groups, s->tp, i, error);
        if (ok) ttml_shard_copy(&sh, out, part, TRUE);
        g_free(part);
        if (!ok) {
            g_free(out);
            return NULL;
        }
    }
    return out;
}

/* The unsharded tensor `name` (assembled from the shards when sharded). */
static float *read_full(const source *s, const char *name, int *ndim, int64_t *full, GError **error)
{
    if (!s->nfiles) return read_one(s->ck, name, ndim, full, error);
    const entry *e = g_hash_table_lookup(s->entries, name);
    if (!e) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT, "the checkpoint has no tensor '%s'", name);
        return NULL;
    }
    if (e->dim < 0) return read_one(s->files[e->stage * s->tp], name, ndim, full, error);
    return read_split(s, name, e, ndim, full, error);
}

/* Fill dst (its shard `sh` of the tensor, or whole) from `name`. */
static gboolean fill(const source *s, const char *name, ttml_tensor *dst, const ttml_shard *sh, GError **error)
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

static gboolean has_prefix_in(GPtrArray *names, const char *prefix)
{
    for (guint k = 0; k < names->len; k++)
        if (g_str_has_prefix(g_ptr_array_index(names, k), prefix)) return TRUE;
    return FALSE;
}

static gboolean fill_optimizer(const source *s, ttml_optimizer *opt, GError **error)
{
    for (guint i = 0; opt->klass->state && i < opt->params->len; i++) {
        ttml_param *p = g_ptr_array_index(opt->params, i);
        char *prefix = g_strdup_printf("optim.%s.", p->name);
        gboolean any = has_prefix_in(s->names, prefix);
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

/* Every model tensor of the checkpoint must be one of `params` (the whole
 * model's: a 3-block checkpoint never resumes into a 2-block model). */
static gboolean check_exact(const source *s, GPtrArray *params, GError **error)
{
    GHashTable *mine = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < params->len; i++) g_hash_table_add(mine, ((ttml_param *)g_ptr_array_index(params, i))->name);
    const char *first = NULL;
    for (guint i = 0; !first && i < s->names->len; i++) {
        const char *n = g_ptr_array_index(s->names, i);
        if (!g_str_has_prefix(n, "optim.") && !g_hash_table_contains(mine, n)) first = n;
    }
    g_hash_table_destroy(mine);
    if (first)
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "the model does not match the checkpoint: checkpoint '%s' holds '%s', which the model does not "
                    "have: the config describes a smaller or different model (num_blocks, weight_tying, ...); "
                    "resume with the config the checkpoint was written with", s->path, first);
    return first == NULL;
}

gboolean ttml_train_state_restore(ttml_checkpoint *ck, const char *path, GPtrArray *params, ttml_optimizer *opt,
                                  gint64 optimizer_steps, GPtrArray *model_params, GError **error)
{
    source s;
    gboolean ok = source_open(ck, path, &s, error);
    for (guint i = 0; ok && i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        ok = fill(&s, p->name, p->tensor, p->tensor->shard, error);
    }
    if (ok && model_params) ok = check_exact(&s, model_params, error);
    if (ok && opt && optimizer_steps > 0) ok = fill_optimizer(&s, opt, error);
    if (ok && opt) opt->steps = optimizer_steps;
    source_close(&s);
    return ok;
}

gboolean ttml_train_state_is_sharded(ttml_checkpoint *ck)
{
    const char *fmt = ttml_checkpoint_metadata(ck, "format");
    return ttml_checkpoint_metadata(ck, "tp_shards") || (fmt && strcmp(fmt, TTML_SHARDED_FORMAT) == 0);
}

/* ---- consolidation ---- */

static const char *const md_keys[] = {"ttml_version", "step", "optimizer_steps", "rng_seed",
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
    source s;
    if (!source_open(ck, in, &s, error)) {
        source_close(&s);
        return FALSE;
    }
    GPtrArray *list = g_ptr_array_new_with_free_func(param_free);
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < s.names->len; i++) {
        const char *name = g_ptr_array_index(s.names, i);
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
    g_hash_table_insert(md, "format", TTML_TRAIN_STATE_FORMAT);
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
