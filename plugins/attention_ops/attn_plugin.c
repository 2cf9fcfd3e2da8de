/* plugins/attention_ops/attn_plugin.c - the attention_ops plugin: entry point
 * and the table of ops it registers. */
#include "attn_internal.h"

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD}

static const ttml_op_desc attn_ops[] = {
    OP("split_heads", "[B, 1, S, H*D] -> [B, H, S, D] (ttml_split_heads_op_params)", 1, 1,
       sizeof(ttml_split_heads_op_params), attn_split_heads_forward),
    OP("merge_heads", "[B, H, S, D] -> [B, 1, S, H*D]", 1, 1, 0, attn_merge_heads_forward),
    OP("rope", "rotary position embedding on [B, H, S, D], rotate-half pairs "
       "(ttml_rope_op_params)", 1, 1, sizeof(ttml_rope_op_params), attn_rope_forward),
    OP("sdpa", "fused scaled dot-product attention, optional causal mask, grouped-query "
       "(q [B,H,Sq,D], k/v [B,G,Skv,D]; ttml_sdpa_op_params)", 3, 3,
       sizeof(ttml_sdpa_op_params), attn_sdpa_forward),
};

static gboolean attn_ops_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(attn_ops); i++)
        if (!host->register_op(plugin, &attn_ops[i], error)) return FALSE;
    return TRUE;
}

TTML_PLUGIN_DEFINE(attention_ops, TTML_PLUGIN_OPS, "0.1.0",
                   "Attention ops: split_heads, merge_heads, rope, sdpa (fused causal "
                   "scaled dot-product attention with grouped-query attention)",
                   "MIT", NULL, attn_ops_init, NULL)
