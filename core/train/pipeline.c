/* core/train/pipeline.c - pipeline parallelism set-up (pipeline.h): the
 * pipeline_parallel_config keys, the data-parallel and pipeline groups of the
 * rank layout, and one rank's stage: its blocks, its parameters and the shape
 * of the activations it exchanges. Public headers only. */
#include "pipeline.h"

#include <stdarg.h>
#include <string.h>

static gboolean pp_error(GError **error, ttml_config *node, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean pp_error(GError **error, ttml_config *node, const char *fmt, ...)
{
    char where[256];
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s",
                node ? ttml_config_where(node, where, sizeof where) : "config", msg);
    g_free(msg);
    return FALSE;
}

/* blocks_per_rank: a map {0: n0, 1: n1, ...} (TT-Train) or a list. */
static gboolean read_blocks(ttml_config *pc, ttml_pp_settings *s, GError **error)
{
    ttml_config *bpr = ttml_config_get(pc, "blocks_per_rank");
    if (!bpr || ttml_config_is_null(bpr))
        return pp_error(error, pc, "pipeline_parallel_config needs blocks_per_rank, e.g. {0: 2, 1: 2}");
    GError *e = NULL;
    if (ttml_config_get_type(bpr) == TTML_CONFIG_SEQ) {
        gint64 *v = NULL;
        int n = ttml_config_int_list(pc, "blocks_per_rank", &v, &e);
        for (int i = 0; i < n && i < TTML_PP_MAX_STAGES; i++) s->blocks[i] = v[i];
        g_free(v);
        s->stages = n;
    } else if (ttml_config_get_type(bpr) == TTML_CONFIG_MAP) {
        for (int i = 0; i < TTML_PP_MAX_STAGES && !e; i++) {
            char key[16];
            g_snprintf(key, sizeof key, "%d", i);
            if (!ttml_config_peek(bpr, key)) break;
            s->blocks[i] = ttml_config_int(bpr, key, 0, &e);
            s->stages = i + 1;
        }
        /* keys that are not 0 .. n-1 stay unused and are reported with their line */
        if (!e && !ttml_config_check_unused(bpr, &e)) g_prefix_error(&e, "blocks_per_rank: ranks are 0, 1, ...: ");
    } else {
        return pp_error(error, bpr, "blocks_per_rank must be a mapping {0: n0, 1: n1, ...} or a list");
    }
    if (e) {
        g_propagate_error(error, e);
        return FALSE;
    }
    if (s->stages < 1 || s->stages > TTML_PP_MAX_STAGES)
        return pp_error(error, bpr, "blocks_per_rank must name 1 to %d stages, got %d", TTML_PP_MAX_STAGES,
                        s->stages);
    gint64 sum = 0;
    for (int i = 0; i < s->stages; i++) {
        if (s->blocks[i] < 1)
            return pp_error(error, bpr, "blocks_per_rank: stage %d has %" G_GINT64_FORMAT " blocks; every stage "
                            "needs at least one", i, s->blocks[i]);
        sum += s->blocks[i];
    }
    if (sum != s->num_blocks)
        return pp_error(error, bpr, "blocks_per_rank sums to %" G_GINT64_FORMAT " blocks but num_blocks is %"
                        G_GINT64_FORMAT "; give every block to one stage", sum, s->num_blocks);
    return TRUE;
}

gboolean ttml_pp_settings_read(ttml_config *root, ttml_pp_settings *s, GError **error)
{
    memset(s, 0, sizeof *s);
    s->stages = 1;
    ttml_config *mh = ttml_config_get(root, "multihost_config");
    ttml_config *pc = mh ? ttml_config_get(mh, "pipeline_parallel_config") : NULL;
    if (!pc || ttml_config_is_null(pc)) return TRUE;
    if (ttml_config_get_type(pc) != TTML_CONFIG_MAP)
        return pp_error(error, pc, "pipeline_parallel_config must be a mapping {num_blocks, blocks_per_rank, schedule}");
    GError *e = NULL;
    s->enabled = TRUE;
    s->num_blocks = ttml_config_int(pc, "num_blocks", 0, &e);
    const char *sched = ttml_config_string(pc, "schedule", "1f1b", &e);
    if (e) {
        g_propagate_error(error, e);
        return FALSE;
    }
    if (strcmp(sched, "1f1b") != 0 && strcmp(sched, "gpipe") != 0)
        return pp_error(error, ttml_config_peek(pc, "schedule"),
                        "pipeline_parallel_config.schedule must be 1f1b or gpipe, got '%s'", sched);
    s->gpipe = strcmp(sched, "gpipe") == 0;
    if (s->num_blocks < 1)
        return pp_error(error, pc, "pipeline_parallel_config.num_blocks must be the model's number of blocks (>= 1)");
    return read_blocks(pc, s, error);
}

/* The block index of "blocks.<i>.<...>", or -1. */
static gint64 block_of(const char *name)
{
    if (!g_str_has_prefix(name, "blocks.")) return -1;
    char *end = NULL;
    gint64 i = g_ascii_strtoll(name + 7, &end, 10);
    return end && *end == '.' ? i : -1;
}

/* The stage's parameters: its blocks'; those before the first block (the
 * embeddings) on the first stage, those after the last (final norm, head) on
 * the last. `all` (the model's, taken) is filtered down to them. The model's
 * E is the width of the final norm. */
static gboolean stage_params(ttml_pipeline *pl, GPtrArray *all, GError **error)
{
    gboolean seen_block = FALSE, has_head = FALSE;
    gboolean *keep = g_new0(gboolean, all->len + 1);
    for (guint i = 0; i < all->len; i++) {
        ttml_param *p = g_ptr_array_index(all, i);
        gint64 b = block_of(p->name);
        int stage = b >= 0 ? -1 : seen_block ? pl->stages - 1 : 0;
        if (b >= 0) {
            seen_block = TRUE;
            stage = b >= pl->first && b < pl->end ? pl->stage : -1;
        } else if (seen_block && pl->act_shape[3] == 0) {
            pl->act_shape[3] = p->tensor->numel; /* the final norm's weight [E] */
        }
        has_head |= strcmp(p->name, "head.weight") == 0;
        keep[i] = stage == pl->stage;
    }
    for (guint i = all->len; i-- > 0;)
        if (!keep[i]) g_ptr_array_remove_index(all, i);
    g_free(keep);
    pl->params = all;
    if (!has_head && pl->stages > 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "pipeline parallel: the model ties the head to the embedding (weight_tying), but they run "
                    "on the first and the last stage; set transformer_config.weight_tying: disabled");
        return FALSE;
    }
    return TRUE;
}

ttml_pipeline *ttml_pipeline_new(const ttml_pp_settings *s, ttml_comm *comm, ttml_comm *tp, ttml_module *model,
                                 gint64 batch, gint64 seq_len, GError **error)
{
    if (!model->klass->stage_forward) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "pipeline parallel: model '%s' cannot run as stages (its class has no stage_forward); use "
                    "gpt2, nanogpt or llama", model->klass->type);
        return NULL;
    }
    GPtrArray *all = ttml_module_parameters(model);
    gint64 blocks = 0;
    for (guint i = 0; i < all->len; i++)
        blocks = MAX(blocks, block_of(((ttml_param *)g_ptr_array_index(all, i))->name) + 1);
    if (blocks != s->num_blocks) {
        g_ptr_array_unref(all);
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "pipeline_parallel_config.num_blocks is %" G_GINT64_FORMAT " but the model has %" G_GINT64_FORMAT
                    " blocks (transformer_config.num_blocks); make them equal", s->num_blocks, blocks);
        return NULL;
    }
    ttml_pipeline *pl = g_new0(ttml_pipeline, 1);
    pl->stages = ttml_comm_size(comm);
    pl->stage = ttml_comm_rank(comm);
    pl->gpipe = s->gpipe;
    pl->comm = comm;
    pl->tp = tp;
    pl->model = model;
    for (int i = 0; i < pl->stage; i++) pl->first += s->blocks[i];
    pl->end = pl->first + s->blocks[pl->stage];
    pl->act_shape[0] = batch;
    pl->act_shape[1] = 1;
    pl->act_shape[2] = seq_len;
    if (stage_params(pl, all, error)) return pl;
    ttml_pipeline_free(pl);
    return NULL;
}

void ttml_pipeline_free(ttml_pipeline *pl)
{
    if (!pl) return;
    if (pl->params) g_ptr_array_unref(pl->params);
    g_free(pl);
}
