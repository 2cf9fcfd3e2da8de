"""ttml.ops.embedding: embedding(ids u32 [B,1,1,S], weight [V, E]) -> [B, 1, S, E]."""
from .. import _ttml

embedding = _ttml.embedding
embedding_op = _ttml.embedding
