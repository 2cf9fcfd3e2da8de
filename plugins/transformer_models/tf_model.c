/* plugins/transformer_models/tf_model.c - the language-model module shared by gpt2
 * and llama: ids [B,1,1,S] (or [B,S]) u32 -> embeddings -> blocks -> final
 * norm -> head -> logits [B,1,S,V].
 *
 * The head is a linear layer without bias ("head.weight" [V, E]) or, with
 * weight_tying, x @ tok_emb^T through ttml_matmul(x, weight, FALSE, TRUE) so
 * the head's gradient flows into the embedding table.
 *
 * runner_type memory_efficient: with gradients enabled every block runs
 * through the block_checkpoint op (tf_checkpointing.c), which keeps only the
 * block input and re-computes the block during backward.
 *
 * The input checks and the head shared with cached decoding are tf_io.c's;
 * the embeddings are the arch's (p->embed, set by tf_gpt2.c / tf_llama.c).
 */
#include "tf_internal.h"

static void model_finalize(ttml_module *m)
{
    tf_model *p = m->priv;
    ttml_tensor_unref(p->pos_table);
    g_free(p->blocks);
    g_free(p);
}

static ttml_tensor *model_stage_forward(ttml_module *m, ttml_tensor *in, int64_t first, int64_t end,
                                        gboolean embed, gboolean head, GError **error)
{
    tf_model *p = m->priv;
    if (first < 0 || end < first || end > p->cfg.num_blocks) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: blocks [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") are not within the model's %"
                    G_GINT64_FORMAT " blocks", p->cfg.model_name, first, end, p->cfg.num_blocks);
        return NULL;
    }
    if (embed && tf_check_ids(p, in, 0, error) < 0) return NULL;
    ttml_tensor *x = embed ? p->embed(m, in, 0, error) : ttml_tensor_ref(in);
    gboolean checkpoint = p->cfg.memory_efficient && ttml_grad_enabled();
    for (int64_t i = first; x && i < end; i++) {
        ttml_tensor *y = checkpoint ? tf_block_checkpoint(p->blocks[i], x, error)
                                    : tf_block_run(p->blocks[i], x, NULL, 0, error);
        ttml_tensor_unref(x);
        x = y;
    }
    if (!x || !head) return x;
    ttml_tensor *logits = tf_model_head(m, x, error);
    ttml_tensor_unref(x);
    return logits;
}

static ttml_tensor *model_forward(ttml_module *m, ttml_tensor *ids, GError **error)
{
    tf_model *p = m->priv;
    return model_stage_forward(m, ids, 0, p->cfg.num_blocks, TRUE, TRUE, error);
}

ttml_module *tf_model_new(const tf_config *cfg, tf_model **out)
{
    tf_model *p = g_new0(tf_model, 1);
    p->cfg = *cfg;
    p->blocks = g_new0(ttml_module *, cfg->num_blocks);
    *out = p;
    return ttml_module_new(&tf_model_classes[cfg->arch], p);
}

gboolean tf_model_add_body(ttml_module *m, const char *norm_name, gboolean rms, gboolean bias,
                           GError **error)
{
    tf_model *p = m->priv;
    const tf_config *cfg = &p->cfg;
    gboolean ok = TRUE;
    for (int64_t i = 0; ok && i < cfg->num_blocks; i++) {
        ok = (p->blocks[i] = tf_block_new(cfg, error)) != NULL;
        if (ok) {
            char name[32];
            g_snprintf(name, sizeof name, "blocks.%" G_GINT64_FORMAT, i);
            ttml_module_add_child(m, name, p->blocks[i]);
        }
    }
    if (ok) ok = (p->norm = tf_norm_new(cfg->embedding_dim, rms, bias, cfg->norm_eps, error)) != NULL;
    if (ok) ttml_module_add_child(m, norm_name, p->norm);
    if (ok && !cfg->weight_tying) {
        ok = (p->head = tf_linear_new(cfg, cfg->embedding_dim, cfg->vocab_size, FALSE, 0.02f, TF_COLUMN, error)) != NULL;
        if (ok) ttml_module_add_child(m, "head", p->head);
    }
    return ok;
}

const ttml_module_class tf_model_classes[2] = {
    [TF_ARCH_GPT2] = {.type = "gpt2", .forward = model_forward, .finalize = model_finalize,
                      .cache_new = tf_cache_new, .cache_free = tf_cache_free, .decode = tf_decode,
                      .stage_forward = model_stage_forward},
    [TF_ARCH_LLAMA] = {.type = "llama", .forward = model_forward, .finalize = model_finalize,
                       .cache_new = tf_cache_new, .cache_free = tf_cache_free, .decode = tf_decode,
                       .stage_forward = model_stage_forward},
};
