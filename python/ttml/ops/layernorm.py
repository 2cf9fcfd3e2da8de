"""ttml.ops.layernorm: layernorm(x, gamma, beta=None, eps=1e-5) over the last dim."""
from .. import _ttml

layernorm = _ttml.layernorm
