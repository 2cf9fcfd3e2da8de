/* plugins/attention_ops/attn_heads.c - split_heads / merge_heads (permute copies
 * between [B, 1, S, H*D] and [B, H, S, D]) and rope (rotary position
 * embedding; its backward is the rotation by the negative angle). */
#include "attn_internal.h"

#include <math.h>

/* ---- split_heads / merge_heads: each one's backward is the other ---- */

static gboolean split_heads_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    ttml_tensor *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    return attn_accumulate(x, attn_launch_new("heads_merge", dy, 4, x->shape, NULL, 0, error),
                           error);
}

static gboolean merge_heads_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    ttml_tensor *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    return attn_accumulate(x, attn_launch_new("heads_split", dy, 4, x->shape, NULL, 0, error),
                           error);
}

ttml_tensor *attn_split_heads_forward(ttml_tensor *const *in, int n_in, const void *params,
                                      GError **error)
{
    if (!ttml_op_check_inputs("split_heads", in, n_in, 1, 1, 0, error)) return NULL;
    const ttml_split_heads_op_params *p = params;
    ttml_tensor *x = in[0];
    if (!attn_check_4d("split_heads", "x", x, "[B, 1, S, H*D]", error)) return NULL;
    const int64_t E = x->shape[3];
    const int H = p ? p->n_heads : 0;
    if (x->shape[1] != 1 || H < 1 || E % H != 0) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "split_heads: x has shape %s, n_heads %d; x must be [B, 1, S, H*D] with the "
                    "last dim a multiple of n_heads >= 1",
                    ttml_shape_str(x->ndim, x->shape, s, sizeof s), H);
        return NULL;
    }
    const int64_t shape[4] = {x->shape[0], H, x->shape[2], E / H};
    ttml_tensor *out = attn_launch_new("heads_split", x, 4, shape, NULL, 0, error);
    if (out) ttml_graph_record("split_heads", out, in, 1, split_heads_backward);
    return out;
}

ttml_tensor *attn_merge_heads_forward(ttml_tensor *const *in, int n_in,
                                      const void *params G_GNUC_UNUSED, GError **error)
{
    if (!ttml_op_check_inputs("merge_heads", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *x = in[0];
    if (!attn_check_4d("merge_heads", "x", x, "[B, H, S, D]", error)) return NULL;
    const int64_t shape[4] = {x->shape[0], 1, x->shape[2], x->shape[1] * x->shape[3]};
    ttml_tensor *out = attn_launch_new("heads_merge", x, 4, shape, NULL, 0, error);
    if (out) ttml_graph_record("merge_heads", out, in, 1, merge_heads_backward);
    return out;
}

/* ---- rope ---- */

static gboolean rope_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out ? node->out->grad : NULL;
    ttml_tensor *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    ttml_rope_params kp = {(float)node->state.d[0], node->state.i[1]};
    return attn_accumulate(
        x, attn_launch_new("rope_bwd", dy, x->ndim, x->shape, &kp, sizeof kp, error), error);
}

ttml_tensor *attn_rope_forward(ttml_tensor *const *in, int n_in, const void *params,
                               GError **error)
{
    if (!ttml_op_check_inputs("rope", in, n_in, 1, 1, 0, error)) return NULL;
    const ttml_rope_op_params *p = params;
    ttml_tensor *x = in[0];
    if (!attn_check_4d("rope", "x", x, "[B, H, S, D]", error)) return NULL;
    if (x->shape[3] % 2 != 0) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "rope: x has shape %s; the head size D (last dim) must be even (pairs i, "
                    "i + D/2 are rotated)",
                    ttml_shape_str(x->ndim, x->shape, s, sizeof s));
        return NULL;
    }
    if (!p || !(p->theta > 0.0f) || !isfinite(p->theta) || p->pos_offset < 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "rope: theta %g and pos_offset %" G_GINT64_FORMAT " are invalid; theta must "
                    "be a positive finite base (10000 for Llama) and pos_offset >= 0",
                    p ? (double)p->theta : 0.0, p ? (gint64)p->pos_offset : (gint64)0);
        return NULL;
    }
    ttml_rope_params kp = {p->theta, p->pos_offset};
    ttml_tensor *out = attn_launch_new("rope_fwd", x, x->ndim, x->shape, &kp, sizeof kp, error);
    if (!out) return NULL;
    ttml_node *node = ttml_graph_record("rope", out, in, 1, rope_backward);
    if (node) {
        node->state.d[0] = p->theta;
        node->state.i[1] = p->pos_offset;
    }
    return out;
}
