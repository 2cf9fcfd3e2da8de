"""ttml.ops.linear: linear(x, weight, bias=None) = x @ weight^T + bias."""
from .. import _ttml

linear = _ttml.linear
linear_op = _ttml.linear
