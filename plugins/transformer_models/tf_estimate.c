/* plugins/transformer_models/tf_estimate.c - a model's size from its
 * transformer_config without building it (the model descriptor's estimate
 * hook): the exact parameter count of the module tree in tf_internal.h and
 * an estimate of the activations training keeps for backward per token. */
#include "tf_internal.h"

/* Parameters of one block. */
static guint64 block_params(const tf_config *c)
{
    guint64 E = (guint64)c->embedding_dim, I = (guint64)c->intermediate_dim;
    if (c->arch == TF_ARCH_LLAMA) {
        guint64 KV = (guint64)c->num_groups * (guint64)c->head_dim;
        return 2 * E + 2 * E * E + 2 * E * KV + 3 * E * I;   /* 2 RMSNorms, q o k v, w1 w2 w3 */
    }
    guint64 b = c->bias ? 1 : 0;
    return 2 * (E + b * E) +                 /* ln1, ln2           */
           E * 3 * E + b * 3 * E +           /* attn.qkv           */
           E * E + b * E +                   /* attn.proj          */
           E * I + b * I + I * E + b * E;    /* mlp.fc, mlp.proj   */
}

/* Elements one block keeps for backward per token (normalised inputs, the
 * projections, attention outputs, MLP hidden layers, residuals). */
static guint64 block_activations(const tf_config *c)
{
    guint64 E = (guint64)c->embedding_dim, I = (guint64)c->intermediate_dim;
    if (c->arch == TF_ARCH_LLAMA) return 9 * E + 3 * (guint64)c->num_groups * (guint64)c->head_dim + 4 * I;
    return 11 * E + 2 * I;
}

gboolean tf_estimate(ttml_config *cfg, tf_arch arch, const char *name, ttml_model_size *out, GError **error)
{
    tf_config c;
    if (!tf_config_parse(cfg, arch, name, &c, error)) return FALSE;
    guint64 E = (guint64)c.embedding_dim, V = (guint64)c.vocab_size, L = (guint64)c.num_blocks;
    guint64 p = V * E + L * block_params(&c);                        /* embedding, blocks   */
    if (arch == TF_ARCH_GPT2 && !c.fixed_positions) p += (guint64)c.max_seq_len * E;
    p += arch == TF_ARCH_GPT2 && c.bias ? 2 * E : E;                  /* the final norm      */
    if (!c.weight_tying) p += V * E;                                  /* the head            */
    out->n_params = p;
    /* memory_efficient keeps each block's input and re-computes one block at a time */
    guint64 blocks = c.memory_efficient ? L * E + block_activations(&c) : L * block_activations(&c);
    out->activations_per_token = blocks + 3 * E + 2 * V;              /* embedding, norm, logits */
    return TRUE;
}
