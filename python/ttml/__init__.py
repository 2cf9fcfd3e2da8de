"""ttml: TT-Train's Python API over the ttml C runtime.

TT-Train's names, backed by libttml through one C extension (ttml._ttml):

    ctx = ttml.autograd.AutoContext.get_instance(); ctx.open_device()
    model = ttml.models.linear_regression.create_linear_regression_model(2, 1)
    opt = ttml.optimizers.SGD(model.parameters(), ttml.optimizers.SGDConfig.make(lr=0.1))
    x = ttml.autograd.Tensor.from_numpy(array)
    loss = ttml.ops.loss.mse_loss(model(x), y, ttml.ops.ReduceType.MEAN)
    loss.backward(False); opt.step(); ctx.reset_graph()

The guide's ttnn names live in ttml.ttnn (`import ttml.ttnn as ttnn`).
"""
import sys as _sys

try:
    from . import _ttml
except ImportError as _e:  # pragma: no cover - exercised by the install test
    raise ImportError(
        "ttml: the C extension ttml._ttml could not be loaded (%s).\n"
        "  This interpreter is %s (Python %d.%d); the extension is built for the interpreter CMake "
        "found (Debian's /usr/bin/python3 by default): run that one, or rebuild with "
        "-DPython3_EXECUTABLE=%s.\n"
        "  'libttml.so.1: cannot open shared object file' means the package was copied away from "
        "its install tree: keep lib/python3/dist-packages/ttml beside lib/libttml.so.1 (the "
        "extension finds it through RUNPATH $ORIGIN/../../..), or set LD_LIBRARY_PATH to the "
        "directory holding libttml.so.1."
        % (_e, _sys.executable, _sys.version_info[0], _sys.version_info[1], _sys.executable)
    ) from _e

from ._ttml import (  # noqa: F401  the error hierarchy, one class per ttml_error_code
    Error, InvalidArgumentError, ShapeError, DTypeError, NotFoundError, PluginError, ABIError,
    ConfigError, IOError, CheckpointError, DeviceError, OutOfMemoryError, UnsupportedError,
    NumericError, GraphError,
)

__version__ = _ttml.version
init = _ttml.init
library_path = _ttml.library_path

from . import autograd, ops, modules, models, optimizers, schedulers, checkpoint, ttnn  # noqa: E402,F401
from .common import data as _data  # noqa: E402,F401
from . import common  # noqa: E402,F401


def registered(kind):
    """Names of registered features: kind is "op", "model", "optimizer", "scheduler", "driver"."""
    return _ttml.registered(kind)


def plugin_records():
    """[(path, status, message)] for every plugin file the loader tried."""
    return _ttml.plugin_records()
