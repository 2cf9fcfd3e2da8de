/* plugins/transformer_models/tf_llama.c - llama (after TT-Train's Llama): token
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
    tf_model *p;
    ttml_module *m = tf_model_new(cfg, &p);
    p->embed = tf_llama_embed;
    p->tok_emb = tf_embedding_new(cfg->vocab_size, cfg->embedding_dim, 0.02f, cfg->vocab_parallel ? cfg : NULL, error);
    gboolean ok = p->tok_emb != NULL;
    if (ok) ttml_module_add_child(m, "tok_emb", p->tok_emb);
    if (!ok || !tf_model_add_body(m, "norm", TRUE, FALSE, error)) {
        ttml_module_unref(m);
        return NULL;
    }
    return m;
}

ttml_tensor *tf_llama_embed(ttml_module *m, ttml_tensor *ids, int64_t pos G_GNUC_UNUSED,
                            GError **error)
{
    tf_model *p = m->priv;
    return tf_tp_embed_tokens(&p->cfg, ids, tf_leaf_weight(p->tok_emb), error);
}
