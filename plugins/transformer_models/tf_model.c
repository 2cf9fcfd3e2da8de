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
 */
#include "tf_internal.h"

static void model_finalize(ttml_module *m)
{
    tf_model *p = m->priv;
    ttml_tensor_unref(p->pos_table);
    g_free(p->blocks);
    g_free(p);
}

int64_t tf_check_ids(const tf_model *p, const ttml_tensor *ids, int64_t pos, GError **error)
{
    const char *model = p->cfg.model_name;
    char s[96];
    if (!ids) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: no input ids given", model);
        return -1;
    }
    gboolean shape_ok = (ids->ndim == 4 && ids->shape[1] == 1 && ids->shape[2] == 1) || ids->ndim == 2;
    if (ids->dtype != TTML_DTYPE_U32 || !shape_ok) {
        g_set_error(error, TTML_ERROR, ids->dtype != TTML_DTYPE_U32 ? TTML_ERROR_DTYPE : TTML_ERROR_SHAPE,
                    "%s: the input must be token ids, u32 [B, 1, 1, S] or [B, S]; got %s %s", model,
                    ttml_dtype_name(ids->dtype), ttml_shape_str(ids->ndim, ids->shape, s, sizeof s));
        return -1;
    }
    int64_t t = ids->shape[ids->ndim - 1];
    if (pos < 0 || pos + t > p->cfg.max_seq_len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: positions %" G_GINT64_FORMAT " .. %" G_GINT64_FORMAT
                    " exceed max_sequence_length (%" G_GINT64_FORMAT "); use shorter sequences or "
                    "raise max_sequence_length in transformer_config",
                    model, pos, pos + t - 1, p->cfg.max_seq_len);
        return -1;
    }
    return t;
}

ttml_tensor *tf_position_ids(int64_t pos, int64_t n, GError **error)
{
    guint32 *v = g_new(guint32, n);
    for (int64_t i = 0; i < n; i++) v[i] = (guint32)(pos + i);
    const int64_t shape[4] = {1, 1, 1, n};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, v, error);
    g_free(v);
    return t;
}

ttml_tensor *tf_model_head(ttml_module *m, ttml_tensor *x, GError **error)
{
    tf_model *p = m->priv;
    ttml_tensor *h = ttml_module_forward(p->norm, x, error);
    if (!h) return NULL;
    ttml_tensor *logits = p->head ? ttml_linear(h, tf_leaf_weight(p->head), NULL, error)
                                  : ttml_matmul(h, tf_leaf_weight(p->tok_emb), FALSE, TRUE, error);
    ttml_tensor_unref(h);
    return logits;
}

static ttml_tensor *model_forward(ttml_module *m, ttml_tensor *ids, GError **error)
{
    tf_model *p = m->priv;
    if (tf_check_ids(p, ids, 0, error) < 0) return NULL;
    ttml_tensor *x = p->cfg.arch == TF_ARCH_GPT2 ? tf_gpt2_embed(m, ids, 0, error)
                                                 : tf_llama_embed(m, ids, 0, error);
    gboolean checkpoint = p->cfg.memory_efficient && ttml_grad_enabled();
    for (int64_t i = 0; x && i < p->cfg.num_blocks; i++) {
        ttml_tensor *y = checkpoint ? tf_block_checkpoint(p->blocks[i], x, error)
                                    : tf_block_run(p->blocks[i], x, NULL, 0, error);
        ttml_tensor_unref(x);
        x = y;
    }
    if (!x) return NULL;
    ttml_tensor *logits = tf_model_head(m, x, error);
    ttml_tensor_unref(x);
    return logits;
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
        ok = (p->head = tf_linear_new(cfg->embedding_dim, cfg->vocab_size, FALSE, 0.02f, error)) != NULL;
        if (ok) ttml_module_add_child(m, "head", p->head);
    }
    return ok;
}

const ttml_module_class tf_model_classes[2] = {
    [TF_ARCH_GPT2] = {.type = "gpt2", .forward = model_forward, .finalize = model_finalize,
                      .cache_new = tf_cache_new, .cache_free = tf_cache_free, .decode = tf_decode},
    [TF_ARCH_LLAMA] = {.type = "llama", .forward = model_forward, .finalize = model_finalize,
                       .cache_new = tf_cache_new, .cache_free = tf_cache_free, .decode = tf_decode},
};
