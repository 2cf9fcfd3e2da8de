"""ttml.ops.reshape: reshape (a view), transpose (last two dims), concat, split, swiglu."""
from .. import _ttml

reshape = _ttml.reshape
transpose = _ttml.transpose
concat = _ttml.concat
split = _ttml.split
swiglu = _ttml.swiglu
