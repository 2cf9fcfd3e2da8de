/* plugins/nn_ops/nn_plugin.c - the nn_ops plugin: entry point, the table of ops
 * it registers (the helpers its files share are in nn_common.c). */
#include "nn_internal.h"

/* ---- the op table ---- */

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD, NULL, NULL}
/* An op with a params struct TYPE, its defaults and named fields (ABI 1.3). */
#define OP_P(NAME, DESCRIPTION, MIN_IN, MAX_IN, TYPE, FORWARD, DEFAULTS, FIELDS) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, sizeof(TYPE), FORWARD, DEFAULTS, FIELDS}
#define FIELD(TYPE, MEMBER, KIND, DESCRIPTION) {#MEMBER, KIND, offsetof(TYPE, MEMBER), DESCRIPTION}
#define END_FIELDS {NULL, 0, 0, NULL}

static const ttml_norm_op_params norm_defaults = {1e-5f};
static const ttml_op_param_field norm_fields[] = {
    FIELD(ttml_norm_op_params, eps, TTML_OP_PARAM_FLOAT, "added to the variance (default 1e-5)"), END_FIELDS};
static const ttml_dropout_op_params dropout_defaults = {0.5f, 1};
static const ttml_op_param_field dropout_fields[] = {
    FIELD(ttml_dropout_op_params, p, TTML_OP_PARAM_FLOAT, "drop probability in [0, 1) (default 0.5)"),
    FIELD(ttml_dropout_op_params, training, TTML_OP_PARAM_BOOL, "false: identity (default true)"),
    END_FIELDS};
static const ttml_op_param_field concat_fields[] = {
    FIELD(ttml_concat_op_params, dim, TTML_OP_PARAM_INT, "dim to concatenate along"), END_FIELDS};
static const ttml_op_param_field narrow_fields[] = {
    FIELD(ttml_narrow_op_params, dim, TTML_OP_PARAM_INT, "dim to slice"),
    FIELD(ttml_narrow_op_params, start, TTML_OP_PARAM_INT64, "first index"),
    FIELD(ttml_narrow_op_params, length, TTML_OP_PARAM_INT64, "number of indices"), END_FIELDS};
static const ttml_cross_entropy_op_params cross_entropy_defaults = {0, TTML_REDUCE_MEAN};
static const ttml_op_param_field cross_entropy_fields[] = {
    FIELD(ttml_cross_entropy_op_params, valid_vocab, TTML_OP_PARAM_INT64,
          "columns counted (<= 0: all, the default)"), END_FIELDS};
static const ttml_nll_op_params nll_defaults = {TTML_REDUCE_MEAN};

static const ttml_op_desc nn_ops[] = {
    OP("embedding", "rows of weight [V, E] gathered by u32 ids -> [B, 1, S, E]", 2, 2, 0,
       nn_embedding_forward),
    OP_P("layernorm", "LayerNorm over the last dim; in = x, gamma[, beta] (ttml_norm_op_params, "
         "default eps 1e-5)", 2, 3, ttml_norm_op_params, nn_layernorm_forward, &norm_defaults, norm_fields),
    OP_P("rmsnorm", "RMSNorm over the last dim; in = x, gamma (ttml_norm_op_params, default eps 1e-5)",
         2, 2, ttml_norm_op_params, nn_rmsnorm_forward, &norm_defaults, norm_fields),
    OP("gelu", "GELU, tanh approximation", 1, 1, 0, nn_gelu_forward),
    OP("silu", "x * sigmoid(x)", 1, 1, 0, nn_silu_forward),
    OP("swiglu", "silu(gate) * up, fused", 2, 2, 0, nn_swiglu_forward),
    OP("softmax", "softmax over the last dim", 1, 1, 0, nn_softmax_forward),
    OP("log_softmax", "log-softmax over the last dim", 1, 1, 0, nn_log_softmax_forward),
    OP_P("dropout", "inverted dropout, mask from the context RNG (ttml_dropout_op_params, default "
         "p 0.5, training)", 1, 1, ttml_dropout_op_params, nn_dropout_forward, &dropout_defaults,
         dropout_fields),
    OP("reshape", "same data, new shape; no copy (ttml_reshape_op_params)", 1, 1,
       sizeof(ttml_reshape_op_params), nn_reshape_forward),
    OP("transpose", "swap the last two dims (materialised)", 1, 1, 0, nn_transpose_forward),
    OP_P("concat", "concatenate along a dim (ttml_concat_op_params, no defaults)", 1, 1024,
         ttml_concat_op_params, nn_concat_forward, NULL, concat_fields),
    OP_P("narrow", "slice [start, start + length) of a dim; ttml_split is n of these "
         "(ttml_narrow_op_params, no defaults)", 1, 1, ttml_narrow_op_params, nn_narrow_forward, NULL,
         narrow_fields),
    OP_P("cross_entropy_loss", "fused log-softmax + NLL over rows, padding columns ignored "
         "(ttml_cross_entropy_op_params, default all columns, mean)", 2, 2, ttml_cross_entropy_op_params,
         nn_cross_entropy_forward, &cross_entropy_defaults, cross_entropy_fields),
    OP_P("nll_loss", "negative log-likelihood of log-probabilities (ttml_nll_op_params, default mean)",
         2, 2, ttml_nll_op_params, nn_nll_forward, &nll_defaults, NULL),
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
