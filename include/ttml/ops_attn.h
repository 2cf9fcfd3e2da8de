/* ttml/ops_attn.h - attention ops (attention_ops plugin). */
#ifndef TTML_OPS_ATTN_H
#define TTML_OPS_ATTN_H

#include <ttml/ops.h>

G_BEGIN_DECLS

/* [B, 1, S, H*D] -> [B, H, S, D] and back. */
TTML_API ttml_tensor *ttml_split_heads(ttml_tensor *x, int n_heads, GError **error);
TTML_API ttml_tensor *ttml_merge_heads(ttml_tensor *x, GError **error);
/* Rotary position embedding on x [B, H, S, D] (D even), the GPT-NeoX /
 * Llama "rotate half" form: pairs (i, i + D/2) rotated by angle
 * pos * theta^(-2i/D), pos = pos_offset + s. */
TTML_API ttml_tensor *ttml_rope(ttml_tensor *x, float theta, int64_t pos_offset, GError **error);
/* Scaled dot-product attention, fused: q [B, H, Sq, D], k and v
 * [B, G, Skv, D] with H % G == 0 (grouped-query attention: query head h uses
 * kv head h / (H/G)). Scale 1/sqrt(D). When `causal`, query i (0-based)
 * attends keys j <= i + (Skv - Sq), so a query block at the end of a KV cache
 * works. -> [B, H, Sq, D]. Saves only the per-row log-sum-exp for backward:
 * no B x H x S x S tensor is kept. */
TTML_API ttml_tensor *ttml_sdpa(ttml_tensor *q, ttml_tensor *k, ttml_tensor *v, gboolean causal, GError **error);

/* ---- parameter structs of the attention ops (for ttml_op_call; appended
 * for the attention_ops plugin; the typed wrappers above fill them) ----
 * "split_heads": in = {x}; "merge_heads": in = {x}, no params;
 * "rope": in = {x}; "sdpa": in = {q, k, v}. */
typedef struct { int n_heads; } ttml_split_heads_op_params;
typedef struct { float theta; int64_t pos_offset; } ttml_rope_op_params;
typedef struct { int causal; } ttml_sdpa_op_params;

G_END_DECLS

#endif
