"""ttml.ops.attention: fused causal scaled-dot-product attention (grouped-query),
head split/merge and rotary position embedding."""
from .. import _ttml

scaled_dot_product_attention = _ttml.scaled_dot_product_attention
split_heads = _ttml.split_heads
merge_heads = _ttml.merge_heads
rope = _ttml.rope
