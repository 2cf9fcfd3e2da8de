/* plugins/transformer_models/tf_plugin.c - the transformer_models plugin: models
 * gpt2 (alias nanogpt) and llama configured with TT-Train's
 * transformer_config keys (see tf_config.c), plus the block_checkpoint op
 * used by runner_type: memory_efficient. */
#include "tf_internal.h"

static ttml_module *build(ttml_config *cfg, tf_arch arch, const char *name, GError **error)
{
    tf_config c;
    if (!tf_config_parse(cfg, arch, name, &c, error)) return NULL;
    return arch == TF_ARCH_GPT2 ? tf_gpt2_build(&c, error) : tf_llama_build(&c, error);
}

static ttml_module *gpt2_create(ttml_config *cfg, GError **error)
{
    return build(cfg, TF_ARCH_GPT2, "gpt2", error);
}

static ttml_module *nanogpt_create(ttml_config *cfg, GError **error)
{
    return build(cfg, TF_ARCH_GPT2, "nanogpt", error);
}

static ttml_module *llama_create(ttml_config *cfg, GError **error)
{
    return build(cfg, TF_ARCH_LLAMA, "llama", error);
}

static gboolean gpt2_estimate(ttml_config *cfg, ttml_model_size *out, GError **error)
{
    return tf_estimate(cfg, TF_ARCH_GPT2, "gpt2", out, error);
}

static gboolean llama_estimate(ttml_config *cfg, ttml_model_size *out, GError **error)
{
    return tf_estimate(cfg, TF_ARCH_LLAMA, "llama", out, error);
}

#define GPT2_DESCRIPTION                                                                    \
    "GPT-2 / nanoGPT: learned token+position embeddings, pre-LayerNorm blocks (causal "     \
    "multi-head attention with bias, 4x GELU MLP), final LayerNorm, tied or untied head; "  \
    "KV-cache decoding"

static const ttml_model_desc gpt2_desc = {sizeof(ttml_model_desc), "gpt2", GPT2_DESCRIPTION,
                                          gpt2_create, gpt2_estimate};
static const ttml_model_desc nanogpt_desc = {sizeof(ttml_model_desc), "nanogpt",
                                             GPT2_DESCRIPTION " (alias of gpt2)", nanogpt_create, gpt2_estimate};
static const ttml_model_desc llama_desc = {
    sizeof(ttml_model_desc), "llama",
    "Llama: RMSNorm, RoPE, grouped-query attention (num_groups), SwiGLU MLP, optional weight "
    "tying; KV-cache decoding",
    llama_create,
    llama_estimate,
};

static gboolean tf_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    return host->register_op(plugin, &tf_checkpoint_op_desc, error) &&
           host->register_model(plugin, &gpt2_desc, error) &&
           host->register_model(plugin, &nanogpt_desc, error) &&
           host->register_model(plugin, &llama_desc, error);
}

TTML_PLUGIN_DEFINE(transformer_models, TTML_PLUGIN_MODEL, "0.1.0",
                   "Transformer language models: gpt2 / nanogpt and llama (TT-Train's "
                   "transformer_config), gradient checkpointing, KV-cache decoding",
                   "Apache-2.0", NULL, tf_init, NULL)
