/* plugins/transformer_models/tf_gpt2.c - gpt2 / nanogpt (after nanoGPT and
 * TT-Train's GPT2): token embedding wte [V,E] + position embedding wpe
 * [S,E] (learned, or a fixed sinusoidal table with
 * positional_embedding_type: fixed), dropout, pre-LN blocks, final LayerNorm
 * ln_f, head [V,E] without bias (or tied to wte).
 *
 * Initialisation (nanoGPT / GPT-2): weights and embeddings ~ N(0, 0.02),
 * the residual projections (attn.proj, mlp.proj) ~ N(0, 0.02/sqrt(2 L)),
 * biases 0, LayerNorm gamma 1 and beta 0.
 */
#include "tf_internal.h"

#include <math.h>

/* PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i), w_i = 10000^(-2i/E). */
static ttml_tensor *sinusoidal_table(int64_t rows, int64_t dim, GError **error)
{
    float *v = g_new(float, rows * dim);
    for (int64_t p = 0; p < rows; p++)
        for (int64_t i = 0; i < dim / 2; i++) {
            double w = exp(-log(10000.0) * (double)(2 * i) / (double)dim);
            v[p * dim + 2 * i] = (float)sin((double)p * w);
            v[p * dim + 2 * i + 1] = (float)cos((double)p * w);
        }
    const int64_t shape[2] = {rows, dim};
    ttml_tensor *t = ttml_tensor_from_floats(NULL, 2, shape, v, error);
    g_free(v);
    return t;
}

ttml_module *tf_gpt2_build(const tf_config *cfg, GError **error)
{
    const int64_t E = cfg->embedding_dim;
    tf_model *p;
    ttml_module *m = tf_model_new(cfg, &p);
    p->embed = tf_gpt2_embed;

    gboolean ok = (p->tok_emb = tf_embedding_new(cfg->vocab_size, E, 0.02f, cfg->vocab_parallel ? cfg : NULL, error)) != NULL;
    if (ok) ttml_module_add_child(m, "wte", p->tok_emb);
    if (ok && cfg->fixed_positions) {
        ok = (p->pos_table = sinusoidal_table(cfg->max_seq_len, E, error)) != NULL;
    } else if (ok) {
        ok = (p->pos_emb = tf_embedding_new(cfg->max_seq_len, E, 0.02f, NULL, error)) != NULL;
        if (ok) ttml_module_add_child(m, "wpe", p->pos_emb);
    }
    if (!ok || !tf_model_add_body(m, "ln_f", FALSE, cfg->bias, error)) {
        ttml_module_unref(m);
        return NULL;
    }
    return m;
}

ttml_tensor *tf_gpt2_embed(ttml_module *m, ttml_tensor *ids, int64_t pos, GError **error)
{
    tf_model *p = m->priv;
    int64_t t = ids->shape[ids->ndim - 1];
    ttml_tensor *tok = tf_tp_embed_tokens(&p->cfg, ids, tf_leaf_weight(p->tok_emb), error);
    if (!tok) return NULL;
    ttml_tensor *pos_ids = tf_position_ids(pos, t, error);
    ttml_tensor *pe = pos_ids ? ttml_embedding(pos_ids, p->pos_emb ? tf_leaf_weight(p->pos_emb)
                                                                  : p->pos_table,
                                               error)
                              : NULL;
    ttml_tensor_unref(pos_ids);
    ttml_tensor *x = pe ? ttml_add(tok, pe, error) : NULL;   /* [B,1,T,E] + [1,1,T,E] */
    ttml_tensor_unref(tok);
    ttml_tensor_unref(pe);
    if (!x) return NULL;
    ttml_tensor *d = ttml_dropout(x, p->cfg.dropout_prob, m->training, error);
    ttml_tensor_unref(x);
    return d;
}
