/* core/ops/op_api_attn.c - typed wrappers of the attention ops (ttml/ops_attn.h),
 * registered by the attention_ops plugin: one registry call each. */
#include <ttml/ttml.h>

ttml_tensor *ttml_split_heads(ttml_tensor *x, int n_heads, GError **error)
{
    ttml_split_heads_op_params p = {n_heads};
    return ttml_op_call("split_heads", &x, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_merge_heads(ttml_tensor *x, GError **error)
{
    return ttml_op_call("merge_heads", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_rope(ttml_tensor *x, float theta, int64_t pos_offset, GError **error)
{
    ttml_rope_op_params p = {theta, pos_offset};
    return ttml_op_call("rope", &x, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_sdpa(ttml_tensor *q, ttml_tensor *k, ttml_tensor *v, gboolean causal,
                       GError **error)
{
    ttml_sdpa_op_params p = {causal ? 1 : 0};
    ttml_tensor *in[3] = {q, k, v};
    return ttml_op_call("sdpa", in, 3, &p, sizeof p, error);
}
