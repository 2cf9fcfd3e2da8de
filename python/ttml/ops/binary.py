"""ttml.ops.binary: add, sub, mul, div of two Tensors (NumPy broadcasting) or a Tensor and a number."""
from .. import _ttml

add = _ttml.add
sub = _ttml.sub
mul = _ttml.mul
div = _ttml.div
