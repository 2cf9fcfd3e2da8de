"""ttml.ops.loss: mse_loss, cross_entropy_loss (fused log-softmax + NLL, u32 targets), nll_loss."""
from .. import _ttml

mse_loss = _ttml.mse_loss
cross_entropy_loss = _ttml.cross_entropy_loss
nll_loss = _ttml.nll_loss
