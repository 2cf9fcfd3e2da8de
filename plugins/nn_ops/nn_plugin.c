/* plugins/nn_ops/nn_plugin.c - the nn_ops plugin: entry point, the table of ops
 * it registers (the helpers its files share are in nn_common.c). */
#include "nn_internal.h"

/* ---- the op table ---- */

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD}

static const ttml_op_desc nn_ops[] = {
    OP("embedding", "rows of weight [V, E] gathered by u32 ids -> [B, 1, S, E]", 2, 2, 0,
       nn_embedding_forward),
    OP("layernorm", "LayerNorm over the last dim; in = x, gamma[, beta] (ttml_norm_op_params)", 2, 3,
       sizeof(ttml_norm_op_params), nn_layernorm_forward),
    OP("rmsnorm", "RMSNorm over the last dim; in = x, gamma (ttml_norm_op_params)", 2, 2,
       sizeof(ttml_norm_op_params), nn_rmsnorm_forward),
    OP("gelu", "GELU, tanh approximation", 1, 1, 0, nn_gelu_forward),
    OP("silu", "x * sigmoid(x)", 1, 1, 0, nn_silu_forward),
    OP("swiglu", "silu(gate) * up, fused", 2, 2, 0, nn_swiglu_forward),
    OP("softmax", "softmax over the last dim", 1, 1, 0, nn_softmax_forward),
    OP("log_softmax", "log-softmax over the last dim", 1, 1, 0, nn_log_softmax_forward),
    OP("dropout", "inverted dropout, mask from the context RNG (ttml_dropout_op_params)", 1, 1,
       sizeof(ttml_dropout_op_params), nn_dropout_forward),
    OP("reshape", "same data, new shape; no copy (ttml_reshape_op_params)", 1, 1,
       sizeof(ttml_reshape_op_params), nn_reshape_forward),
    OP("transpose", "swap the last two dims (materialised)", 1, 1, 0, nn_transpose_forward),
    OP("concat", "concatenate along a dim (ttml_concat_op_params)", 1, 1024,
       sizeof(ttml_concat_op_params), nn_concat_forward),
    OP("narrow", "slice [start, start + length) of a dim; ttml_split is n of these "
       "(ttml_narrow_op_params)", 1, 1, sizeof(ttml_narrow_op_params), nn_narrow_forward),
    OP("cross_entropy_loss", "fused log-softmax + NLL over rows, padding columns ignored "
       "(ttml_cross_entropy_op_params)", 2, 2, sizeof(ttml_cross_entropy_op_params),
       nn_cross_entropy_forward),
    OP("nll_loss", "negative log-likelihood of log-probabilities (ttml_nll_op_params)", 2, 2,
       sizeof(ttml_nll_op_params), nn_nll_forward),
};

static gboolean nn_ops_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(nn_ops); i++)
        if (!host->register_op(plugin, &nn_ops[i], error)) return FALSE;
    return TRUE;
}

static void nn_ops_fini(ttml_plugin *plugin G_GNUC_UNUSED) { nn_narrow_fini(); }

TTML_PLUGIN_DEFINE(nn_ops, TTML_PLUGIN_OPS, "0.1.0",
                   "Transformer ops: embedding, layernorm, rmsnorm, gelu, silu, swiglu, softmax, "
                   "log_softmax, dropout, reshape, transpose, concat, narrow (split), "
                   "cross_entropy_loss, nll_loss",
                   "MIT", NULL, nn_ops_init, nn_ops_fini)
