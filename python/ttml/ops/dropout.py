"""ttml.ops.dropout: dropout(x, p, training=True), seeded by the context RNG."""
from .. import _ttml

dropout = _ttml.dropout
