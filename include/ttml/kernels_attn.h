/* ttml/kernels_attn.h - names and parameter structs of the attention kernels
 * (used by the attention_ops plugin; the cpu driver implements all of them).
 *
 * Same conventions as ttml/kernels.h: logical row-major f32 views, in[i] /
 * out[i] are ttml_launch slots, outputs are overwritten. Shapes follow
 * TT-Train: activations [B, 1, S, E], per-head tensors [B, H, S, D].
 */
#ifndef TTML_KERNELS_ATTN_H
#define TTML_KERNELS_ATTN_H

#include <ttml/kernels.h>

G_BEGIN_DECLS

/* "heads_split": in[0] x [B, 1, S, H*D] -> out[0] [B, H, S, D] with
 *     out[b, h, s, d] = x[b, 0, s, h*D + d].
 * "heads_merge": the inverse, in[0] [B, H, S, D] -> out[0] [B, 1, S, H*D].
 * H and D are read from the [B, H, S, D] side; the other side must have
 * B*S rows of H*D values. No params. */

/* "rope_fwd" / "rope_bwd": rotary position embedding, "rotate half" form
 * (GPT-NeoX / Llama). in[0] x [..., S, D] (D even, leading dims are
 * batch*heads) -> out[0] of the same shape (out may alias in). With
 * half = D/2, pos = pos_offset + s and angle a = pos * theta^(-2i/D) for
 * i < half (computed in double):
 *   fwd: out[i]        = x[i] cos a - x[i + half] sin a
 *        out[i + half] = x[i + half] cos a + x[i] sin a
 *   bwd: the same with -a (the transpose of the rotation), so it maps the
 *        gradient of the output to the gradient of x.
 * pos_offset must be >= 0. */
typedef struct {
    float theta;          /* base, 10000 for Llama            */
    gint64 pos_offset;    /* position of row s = 0            */
} ttml_rope_params;

/* "sdpa_fwd": fused scaled dot-product attention.
 *   in[0] q [B, H, Sq, D], in[1] k [B, G, Skv, D], in[2] v [B, G, Skv, D],
 *   H % G == 0: query head h reads kv head h / (H/G) (grouped-query).
 *   out[0] o [B, H, Sq, D], out[1] lse [B, H, Sq].
 * Per (b, h): s_ij = scale * q_i . k_j, p_ij = softmax_j(s_ij) over the
 * visible keys, o_i = sum_j p_ij v_j, lse_i = log(sum_j exp(s_ij)) (natural
 * log, visible keys only). `causal`: query i (0-based) sees keys
 * j <= i + (Skv - Sq), which needs Skv >= Sq; otherwise every key is seen.
 * No Sq x Skv matrix outlives the call.
 *
 * "sdpa_bwd": in[0..5] = q, k, v, o, lse (as produced by sdpa_fwd with the
 * same params) and do (gradient of o, shape of o) -> out[0] dq (q's shape),
 * out[1] dk, out[2] dv (k's shape; with grouped-query attention summed over
 * the query heads of each kv head). Outputs are overwritten. p is recomputed
 * from q, k and lse.
 * precision (a tail field: launches whose params_size stops before it mean
 * fp32): TTML_PRECISION_BF16 computes the products q k^T, p v (and those of
 * the backward) with bf16 operands and fp32 accumulation, like "matmul";
 * the softmax, the log-sum-exp and the outputs stay fp32. A kernel without a
 * bf16 path computes in fp32. */
typedef struct {
    float scale;          /* usually 1/sqrt(D)                */
    int causal;           /* nonzero: causal mask with offset */
    int precision;        /* ttml_precision                   */
} ttml_sdpa_params;

G_END_DECLS

#endif
