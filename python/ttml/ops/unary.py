"""ttml.ops.unary: relu, gelu (tanh), silu, softmax / log_softmax (last dim), mean, sum (all elements)."""
from .. import _ttml

relu = _ttml.relu
gelu = _ttml.gelu
silu = _ttml.silu
softmax = _ttml.softmax
log_softmax = _ttml.log_softmax
mean = _ttml.mean
sum = _ttml.sum  # noqa: A001
