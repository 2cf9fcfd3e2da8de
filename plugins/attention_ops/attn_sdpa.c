/* plugins/attention_ops/attn_sdpa.c - fused scaled dot-product attention with an
 * optional causal mask (with offset, for a query block at the end of a KV
 * cache) and grouped-query attention, from the "sdpa_fwd" / "sdpa_bwd"
 * kernels. The node keeps q, k, v (its inputs), the output and the per-row
 * log-sum-exp [B, H, Sq]: no [B, H, Sq, Skv] tensor outlives the forward. */
#include "attn_internal.h"

#include <math.h>

static gboolean sdpa_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    if (!dy) return TRUE;
    ttml_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    ttml_tensor *o = node->saved[0], *lse = node->saved[1];
    ttml_sdpa_params kp = {(float)(1.0 / sqrt((double)q->shape[3])), (int)node->state.i[0],
                           (int)node->state.i[1]};
    ttml_tensor *dq = ttml_op_output(dy, 4, q->shape, error);
    ttml_tensor *dk = dq ? ttml_op_output(dy, 4, k->shape, error) : NULL;
    ttml_tensor *dv = dk ? ttml_op_output(dy, 4, v->shape, error) : NULL;
    ttml_tensor *kin[6] = {q, k, v, o, lse, dy};
    ttml_tensor *kout[3] = {dq, dk, dv};
    gboolean ok = dv && ttml_launch_tensors("sdpa_bwd", kin, 6, kout, 3, &kp, sizeof kp, error);
    for (int i = 0; i < 3; i++) {
        if (ok && node->in[i]->requires_grad) {
            ok = attn_accumulate(node->in[i], kout[i], error);
        } else {
            ttml_tensor_unref(kout[i]);
        }
    }
    return ok;
}

ttml_tensor *attn_sdpa_forward(ttml_tensor *const *in, int n_in, const void *params,
                               GError **error)
{
    if (!ttml_op_check_inputs("sdpa", in, n_in, 3, 3, 0, error)) return NULL;
    const ttml_sdpa_op_params *p = params;
    const int causal = p && p->causal ? 1 : 0;
    ttml_tensor *q = in[0], *k = in[1], *v = in[2];
    if (!attn_check_4d("sdpa", "q", q, "[B, H, Sq, D]", error) ||
        !attn_check_4d("sdpa", "k", k, "[B, G, Skv, D]", error) ||
        !attn_check_4d("sdpa", "v", v, "[B, G, Skv, D]", error))
        return NULL;
    const char *why = NULL;
    if (k->shape[0] != q->shape[0])
        why = "k's batch differs from q's (q is [B, H, Sq, D], k and v [B, G, Skv, D])";
    else if (k->shape[3] != q->shape[3])
        why = "k's head size D differs from q's (q is [B, H, Sq, D], k and v [B, G, Skv, D])";
    else if (!ttml_shape_equal(k, v))
        why = "k and v must have the same shape [B, G, Skv, D]";
    else if (k->shape[1] < 1 || q->shape[1] % k->shape[1] != 0)
        why = "the query head count H (q dim 1) must be a multiple of the kv head count G "
              "(k dim 1) for grouped-query attention";
    else if (q->shape[3] < 1 || k->shape[2] < 1)
        why = "the head size D and the key count Skv must be at least 1";
    else if (causal && k->shape[2] < q->shape[2])
        why = "causal attention needs Skv >= Sq (query i sees keys j <= i + Skv - Sq); pass "
              "the whole KV cache as k and v";
    if (why) {
        char sq[96], sk[96], sv[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "sdpa: q %s, k %s, v %s: %s",
                    ttml_shape_str(q->ndim, q->shape, sq, sizeof sq),
                    ttml_shape_str(k->ndim, k->shape, sk, sizeof sk),
                    ttml_shape_str(v->ndim, v->shape, sv, sizeof sv), why);
        return NULL;
    }
    const int64_t lse_shape[3] = {q->shape[0], q->shape[1], q->shape[2]};
    ttml_tensor *out = ttml_op_output(q, 4, q->shape, error);
    ttml_tensor *lse = out ? ttml_op_output(q, 3, lse_shape, error) : NULL;
    /* the products follow the matmul precision (bf16 operands, fp32 accumulation) */
    ttml_sdpa_params kp = {(float)(1.0 / sqrt((double)q->shape[3])), causal,
                           (int)ttml_get_matmul_precision()};
    ttml_tensor *kout[2] = {out, lse};
    if (!lse || !ttml_launch_tensors("sdpa_fwd", in, 3, kout, 2, &kp, sizeof kp, error)) {
        ttml_tensor_unref(out);
        ttml_tensor_unref(lse);
        return NULL;
    }
    ttml_node *node = ttml_graph_record("sdpa", out, in, 3, sdpa_backward);
    if (node) {
        node->state.i[0] = causal;
        node->state.i[1] = kp.precision;   /* the backward computes as the forward did */
        ttml_node_save(node, out);
        ttml_node_save(node, lse);
    }
    ttml_tensor_unref(lse);
    return out;
}
