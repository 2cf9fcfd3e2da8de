"""ttml.ops.rmsnorm: rmsnorm(x, gamma, eps=1e-5) over the last dim."""
from .. import _ttml

rmsnorm = _ttml.rmsnorm
