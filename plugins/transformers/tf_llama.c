/* plugins/transformers/tf_llama.c - llama (after TT-Train's Llama): token
 * embedding tok_emb [V,E], blocks with RMSNorm, grouped-query attention with
 * RoPE (theta) and a SwiGLU MLP, final RMSNorm "norm", head [V,E] without
 * bias (or tied to tok_emb). No dropout on the embeddings; dropout_prob
 * (default 0) applies after the attention and MLP outputs.
 *
 * Initialisation: like gpt2 (N(0, 0.02), o and w2 ~ N(0, 0.02/sqrt(2 L)),
 * RMSNorm gamma 1).
 */
#include "tf_internal.h"

ttml_module *tf_llama_build(const tf_config *cfg, GError **error)
{
    const int64_t E = cfg->embedding_dim;
    tf_model *p = g_new0(tf_model, 1);
    p->cfg = *cfg;
    p->blocks = g_new0(ttml_module *, cfg->num_blocks);
    ttml_module *m = ttml_module_new(&tf_model_classes[TF_ARCH_LLAMA], p);

    gboolean ok = (p->tok_emb = tf_embedding_new(cfg->vocab_size, E, 0.02f, error)) != NULL;
    if (ok) ttml_module_add_child(m, "tok_emb", p->tok_emb);
    for (int64_t i = 0; ok && i < cfg->num_blocks; i++) {
        ok = (p->blocks[i] = tf_block_new(cfg, error)) != NULL;
        if (ok) {
            char name[32];
            g_snprintf(name, sizeof name, "blocks.%" G_GINT64_FORMAT, i);
            ttml_module_add_child(m, name, p->blocks[i]);
        }
    }
    if (ok) ok = (p->norm = tf_norm_new(E, TRUE, FALSE, cfg->norm_eps, error)) != NULL;
    if (ok) ttml_module_add_child(m, "norm", p->norm);
    if (ok && !cfg->weight_tying) {
        ok = (p->head = tf_linear_new(E, cfg->vocab_size, FALSE, 0.02f, error)) != NULL;
        if (ok) ttml_module_add_child(m, "head", p->head);
    }
    if (!ok) {
        ttml_module_unref(m);
        return NULL;
    }
    return m;
}

ttml_tensor *tf_llama_embed(ttml_module *m, ttml_tensor *ids, int64_t pos G_GNUC_UNUSED,
                            GError **error)
{
    tf_model *p = m->priv;
    return ttml_embedding(ids, tf_leaf_weight(p->tok_emb), error);
}
