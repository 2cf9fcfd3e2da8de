"""ttml.ttnn: the few ttnn names TT-Train's guide uses, so its programs run
with `import ttml.ttnn as ttnn`. (ttml ships no top-level `ttnn`.)"""
import enum

import numpy as _np

from . import _ttml


class Layout(enum.IntEnum):
    """Accepted by Tensor.from_numpy; the device's driver chooses the storage layout."""
    ROW_MAJOR = 0
    TILE = 1


class DataType(enum.IntEnum):
    """Values are ttml_dtype codes."""
    FLOAT32 = 0
    BFLOAT16 = 1
    UINT32 = 2


def argmax(tensor, dim=-1, keepdim=False):
    """Index of the maximum along `dim` (computed on the host; no gradient),
    as a UINT32 tensor. Like ttnn, it reduces one dimension: the result of a
    [1, 1, S, V] tensor has S elements, so .item() on it is an error."""
    values = tensor.to_numpy(DataType.FLOAT32)
    idx = _np.argmax(values, axis=dim)
    if keepdim:
        idx = _np.expand_dims(idx, dim)
    idx = _np.asarray(idx, dtype=_np.uint32)
    if idx.ndim == 0:
        idx = idx.reshape(1)
    return _ttml.Tensor.from_numpy(idx, new_type=DataType.UINT32)


def to_torch(*args, **kwargs):  # pragma: no cover
    raise _ttml.UnsupportedError("ttml.ttnn has no torch conversion: use Tensor.to_numpy()")
